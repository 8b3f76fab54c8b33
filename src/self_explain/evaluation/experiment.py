"""``self-explain experiment privileged-access``: does a model explain itself better than other models can?

For each explainer base (the target itself, models of the same width, models of another width: a
projection is trained for those) and each training size, an explainer is trained on a seeded subsample
of the target's explanation dataset and scored on the same test and ood rows. Each (explainer, size,
seed) is a *cell* whose result is written to ``runs/<who>/n<size>-seed<seed>/result.json`` when it
finishes, so a rerun skips finished cells. Baselines are scored alongside: the untrained target base,
zero-shot and SelfIE once, and nearest neighbour on each training subsample. The summary (mean and 95 %
CI over seeds), its tables and a plot of metric vs. training size are written by
:mod:`self_explain.experiment_report`.

Under ``accelerate launch`` every process trains (TRL's distributed path); the main process scores and
writes results while the others wait.
"""

from __future__ import annotations

import json
import logging
import math
import shutil
from dataclasses import asdict, dataclass, field
from pathlib import Path

from accelerate import PartialState

from ..core.files import write_atomically
from ..core.models import short_model_name
from ..core.progress import progress_bar
from ..explainer.modeling import load_explainer
from ..explainer.config import PROJECTION_CHOICES, ExplainerConfig
from ..explainer.trainer import train_explainer
from ..tasks import ExplainerExamples, get_task, load_split
from .baselines import NEAREST_NEIGHBOR, SELFIE_SCALES, applicable_baselines
from .evaluator import evaluate_split, split_examples

logger = logging.getLogger(__name__)

EXPERIMENTS = ("privileged-access",)
RESULT_FILE = "result.json"


@dataclass
class ExperimentConfig:
    """Options of ``self-explain experiment privileged-access``."""

    task: str = field(metadata={"help": "Task: patching, ablation or features."})
    out: str = field(metadata={"help": "Folder of the experiment: runs/, results.json, results.md, scaling.png."})
    target: str = field(default="toy-target", metadata={"help": "Model whose computations are explained."})
    explainers: list[str] = field(
        default_factory=lambda: ["toy-target", "toy-other", "toy-large"],
        metadata={"help": "Explainer base models (comma-separated): the target itself and others."},
    )
    sizes: list[int] = field(
        default_factory=lambda: [100, 300, 1000, 3000],
        metadata={"help": "Training rows per run (comma-separated); sizes above the train split become 'all rows'."},
    )
    seeds: int = field(default=3, metadata={"help": "Runs per (explainer, size), seeds seed..seed+N-1."})
    dataset: str | None = field(
        default=None, metadata={"help": "Explanation dataset of the target (default: build one in OUT/dataset)."}
    )
    dataset_config: str | None = field(default=None, metadata={"help": "Dataset config (default: the target's name)."})
    splits: list[str] = field(default_factory=lambda: ["test", "ood"], metadata={"help": "Splits scored."})
    eval_rows: int | None = field(default=400, metadata={"help": "Rows scored per split (the same rows for every run)."})
    baselines: list[str] | None = field(
        default=None, metadata={"help": "Baselines (default: all that apply to the task; 'none' for none)."}
    )
    selfie_scales: list[float] = field(default_factory=lambda: list(SELFIE_SCALES), metadata={"help": "SelfIE scales."})
    num_train_epochs: float = field(default=5.0, metadata={"help": "Epochs over each run's training rows..."})
    min_steps: int = field(default=100, metadata={"help": "...but at least this many optimizer steps."})
    learning_rate: float = field(default=3e-3, metadata={"help": "Peak learning rate (the paper: 5e-5 at 8B)."})
    lora_r: int = field(default=32, metadata={"help": "LoRA rank (the paper: 128 for patching)."})
    lora_alpha: int = field(default=64, metadata={"help": "LoRA alpha (the paper: 16)."})
    per_device_train_batch_size: int = field(default=32, metadata={"help": "Batch size per device."})
    projection: str = field(
        default="auto", metadata={"help": "Vector projection of other explainers: auto (other widths), linear, none."}
    )
    activation_checkpointing: bool = field(default=False, metadata={"help": "Recompute activations (large models)."})
    batch_size: int = field(default=32, metadata={"help": "Explanations generated per batch when scoring."})
    max_new_tokens: int | None = field(default=None, metadata={"help": "Longest explanation generated (default: the task's, 48; preferences 128)."})
    keep_explainers: bool = field(default=False, metadata={"help": "Keep each run's trained adapter (default: delete)."})
    seed: int = field(default=0, metadata={"help": "First seed; also the seed of the dataset build and scored rows."})
    trust_remote_code: bool = field(default=False, metadata={"help": "Allow custom model code from the Hub."})

    def __post_init__(self):
        task = get_task(self.task)
        if self.max_new_tokens is None:  # resolved here: experiment.json records it, and a resumed run compares it
            self.max_new_tokens = task.max_new_tokens
        if not self.explainers:
            raise ValueError("--explainers needs at least one model")
        names = [short_model_name(e) for e in self.explainers]
        if len(set(names)) != len(names):  # each explainer's runs live in a folder of its short name
            raise ValueError(f"--explainers {self.explainers} repeat a model name ({names}); give distinct models")
        if not self.sizes or min(self.sizes) < 1:
            raise ValueError(f"--sizes must be positive training row counts, got {self.sizes}")
        if self.seeds < 1:
            raise ValueError(f"--seeds must be at least 1, got {self.seeds}")
        if self.projection not in PROJECTION_CHOICES:
            raise ValueError(f"--projection must be one of {PROJECTION_CHOICES}, got {self.projection!r}")
        if self.baselines == ["none"]:
            self.baselines = []
        elif self.baselines is not None:
            allowed = applicable_baselines(self.task)
            unknown = [b for b in self.baselines if b not in allowed]
            if unknown:
                raise ValueError(f"--baselines {unknown} do not apply to task {self.task!r}; choose from {allowed}")

    @property
    def config_name(self) -> str:
        return self.dataset_config or short_model_name(self.target)


@dataclass(frozen=True)
class Cell:
    who: str  # an explainer base, or a baseline
    size: int | None  # training rows; None for baselines that do not train
    seed: int | None

    @property
    def folder(self) -> str:
        name = short_model_name(self.who)
        return name if self.size is None else f"{name}/n{self.size}-seed{self.seed}"


def effective_sizes(sizes: list[int], train_rows: int) -> list[int]:
    """The sizes that fit the train split; those above it become one run on all rows."""
    fitting = sorted({s for s in sizes if s < train_rows})
    if any(s >= train_rows for s in sizes):
        fitting.append(train_rows)
    dropped = sorted(s for s in sizes if s > train_rows)
    if dropped:
        logger.warning("the train split has %d rows: sizes %s run on all of them", train_rows, dropped)
    return fitting


def train_steps(config: ExperimentConfig, rows: int) -> int:
    return max(math.ceil(config.num_train_epochs * rows / config.per_device_train_batch_size), config.min_steps)


def ensure_dataset(config: ExperimentConfig, state: PartialState) -> str:
    """The target's explanation dataset: the one given, or one built (once, resumable) with the task's defaults."""
    if config.dataset is not None:
        return config.dataset
    task = get_task(config.task)
    if task.experiment_needs_dataset:
        raise ValueError(f"--dataset is required for the {config.task} task: {task.experiment_needs_dataset}")
    folder = Path(config.out) / "dataset"
    if not (folder / "README.md").is_file():
        task.build(task.config_class(target=config.target, out=str(folder), seed=config.seed,
                                     trust_remote_code=config.trust_remote_code))
    state.wait_for_everyone()
    return str(folder)


def read_result(out: Path, cell: Cell) -> dict | None:
    path = out / "runs" / cell.folder / RESULT_FILE
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else None


def write_result(out: Path, cell: Cell, result: dict) -> None:
    path = out / "runs" / cell.folder / RESULT_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    write_atomically(path, lambda tmp: Path(tmp).write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8"))


class ScoredRows:
    """What every run is scored on, read once: each split's rows and their examples (vectors from the target)."""

    def __init__(self, config: ExperimentConfig, dataset: str):
        self.config, self.dataset = config, dataset
        self._examples: dict[str, ExplainerExamples] = {}

    def examples(self, split: str, explainer) -> ExplainerExamples:
        """The split's examples, read through the first explainer asked: every explainer has the same target."""
        if split not in self._examples:
            rows = load_split(self.dataset, self.config.config_name, split, max_rows=self.config.eval_rows,
                              seed=self.config.seed)
            self._examples[split] = split_examples(explainer, self.config.task, rows, self.config.seed)
        return self._examples[split]

    def train_rows(self, size: int, seed: int):
        """The subsample a run of ``size`` rows and ``seed`` trains on (as ``train_explainer`` draws it)."""
        return load_split(self.dataset, self.config.config_name, "train", max_rows=size, seed=seed)


def score_cell(explainer, config: ExperimentConfig, rows: ScoredRows, baseline: str | None = None,
               train_examples=None) -> dict:
    """Metrics of one explainer (or baseline) on every scored split."""
    scores = {}
    for split in config.splits:
        examples = rows.examples(split, explainer)
        result = evaluate_split(
            explainer, config.task, examples, batch_size=config.batch_size, max_new_tokens=config.max_new_tokens,
            baseline=baseline, train_examples=train_examples, selfie_scales=tuple(config.selfie_scales),
        )
        scores[split] = {"metrics": result.metrics, "details": result.details, "rows": len(examples.questions)}
    return scores


def run_training_cell(config: ExperimentConfig, dataset: str, rows: ScoredRows, cell: Cell, state: PartialState) -> dict:
    out = Path(config.out)
    explainer_folder = out / "runs" / cell.folder / "explainer"
    train_explainer(ExplainerConfig(
        dataset=dataset, config=config.config_name, task=config.task, target=config.target,
        explainer_base=None if cell.who == config.target else cell.who, out=str(explainer_folder),
        max_rows=cell.size, seed=cell.seed, num_train_epochs=config.num_train_epochs,
        max_steps=train_steps(config, cell.size), learning_rate=config.learning_rate, lora_r=config.lora_r,
        lora_alpha=config.lora_alpha, per_device_train_batch_size=config.per_device_train_batch_size,
        projection="auto" if cell.who == config.target else config.projection,
        activation_checkpointing=config.activation_checkpointing, overwrite=True, trust_remote_code=config.trust_remote_code,
    ))
    result = None
    if state.is_main_process:
        explainer = load_explainer(str(explainer_folder), config.target, trust_remote_code=config.trust_remote_code)
        metadata = explainer.metadata
        result = {**asdict(cell), "kind": "explainer", "self": cell.who == config.target,
                  "train_rows": metadata["train_rows"], "train_loss": metadata["train_loss"],
                  "train_steps": train_steps(config, cell.size), "splits": score_cell(explainer, config, rows)}
        write_result(out, cell, result)
        if not config.keep_explainers:
            shutil.rmtree(explainer_folder)
    state.wait_for_everyone()
    return result if result is not None else read_result(out, cell)


def untrained_target_explainer(config: ExperimentConfig):
    """The target as its own untrained explainer: its base with the placeholder tokens added, no adapter."""
    from transformers import set_seed

    from ..core.injection import add_placeholder_tokens
    from ..core.models import load_model
    from ..explainer.modeling import Explainer

    set_seed(config.seed)  # the new placeholder embedding rows are drawn at random
    target = load_model(config.target, trust_remote_code=config.trust_remote_code)
    add_placeholder_tokens(target.tokenizer, target.model)
    return Explainer(target.model, target.tokenizer, target, name=config.target)


def run_baseline_cells(config: ExperimentConfig, rows: ScoredRows, baselines: list[str], sizes: list[int],
                       seeds: list[int]) -> list[dict]:
    """Baseline results, computed (on the main process) only for cells not finished before."""
    out = Path(config.out)
    cells = [Cell(b, None, None) for b in baselines if b != NEAREST_NEIGHBOR]
    if NEAREST_NEIGHBOR in baselines:
        cells += [Cell(NEAREST_NEIGHBOR, size, seed) for size in sizes for seed in seeds]
    results, explainer = [], None
    for cell in progress_bar(cells, desc="baselines"):
        result = read_result(out, cell)
        if result is None:
            explainer = explainer or untrained_target_explainer(config)
            train_examples = None
            if cell.who == NEAREST_NEIGHBOR:
                train_examples = split_examples(explainer, config.task, rows.train_rows(cell.size, cell.seed), cell.seed)
            result = {**asdict(cell), "kind": "baseline", "self": False,
                      "train_rows": None if train_examples is None else len(train_examples.questions),
                      "splits": score_cell(explainer, config, rows, baseline=cell.who, train_examples=train_examples)}
            write_result(out, cell, result)
        results.append(result)
    return results


# Settings that change what a finished run means: a rerun in the same folder must keep them.
RESUME_KEYS = ("task", "target", "dataset", "dataset_config", "splits", "eval_rows", "selfie_scales", "num_train_epochs",
               "min_steps", "learning_rate", "lora_r", "lora_alpha", "per_device_train_batch_size", "projection",
               "max_new_tokens", "seed")


def check_resumable(config: ExperimentConfig) -> None:
    """Record the settings in OUT/experiment.json; refuse to mix runs made with other settings."""
    path = Path(config.out) / "experiment.json"
    settings = {key: getattr(config, key) for key in RESUME_KEYS}
    if path.is_file():
        before = json.loads(path.read_text(encoding="utf-8"))
        changed = sorted(k for k in RESUME_KEYS if before.get(k) != json.loads(json.dumps(settings[k])))
        if changed:
            raise ValueError(
                f"--out {config.out!r} holds runs made with other settings ({', '.join(changed)}): use another --out, "
                "or the same settings to resume"
            )
        return
    write_atomically(path, lambda tmp: Path(tmp).write_text(json.dumps(settings, indent=2) + "\n", encoding="utf-8"))


def run_experiment(config: ExperimentConfig) -> dict:
    """Train and score every cell not finished yet, then write the summary, tables and plot."""
    from .report import write_report

    state = PartialState()
    Path(config.out).mkdir(parents=True, exist_ok=True)
    if state.is_main_process:
        check_resumable(config)
    dataset = ensure_dataset(config, state)
    rows = ScoredRows(config, dataset)
    sizes = effective_sizes(config.sizes, len(load_split(dataset, config.config_name, "train")))
    seeds = [config.seed + i for i in range(config.seeds)]
    results = []
    cells = [Cell(who, size, seed) for who in config.explainers for size in sizes for seed in seeds]
    for cell in progress_bar(cells, desc="runs", disable=not state.is_main_process):
        result = read_result(Path(config.out), cell)
        if result is None:
            logger.info("run %s: training on %d rows", cell.folder, cell.size)
            result = run_training_cell(config, dataset, rows, cell, state)
        else:
            logger.info("run %s: finished before, read from its result", cell.folder)
        results.append(result)
    baselines = applicable_baselines(config.task) if config.baselines is None else config.baselines
    if state.is_main_process:
        results += run_baseline_cells(config, rows, baselines, sizes, seeds)
        summary = write_report(config, dataset, results)
    state.wait_for_everyone()
    return summary if state.is_main_process else {}
