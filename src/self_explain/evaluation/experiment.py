"""``self-explain experiment privileged-access``: does a model explain itself better than other models can?

Each explainer base (the target, same-width and other-width models), control (``<target>+rotated``,
``<target>+shuffled``; see :mod:`self_explain.explainer.controls`) and training size is trained over seeds on
subsamples of the target's explanation dataset and scored on the same test and ood rows. Each (explainer, size,
seed) *cell* writes ``runs/<who>/n<size>-seed<seed>/result.json`` when done, so a rerun skips finished cells; cells
run size by size, every explainer of a seed together, so a stopped run leaves paired cells. Baselines are scored
alongside. Under ``accelerate launch`` every process trains; the main process scores and writes results.
"""

from __future__ import annotations

import json
import logging
import math
import random
import shutil
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

from accelerate import PartialState

from ..core.models import check_model_reference, short_model_name
from ..explainer.config import PROJECTION_CHOICES, ExplainerConfig
from ..explainer.controls import VECTOR_CONTROLS, control_explainer_name
from ..explainer.modeling import load_explainer
from ..explainer.trainer import train_explainer
from ..tasks import ExplainerExamples, get_task, load_split, task_of_dataset
from ..utils.files import write_atomically
from ..utils.progress import progress_bar
from ..utils.significance import EQUIVALENCE_MARGIN
from ..utils.version import __version__, package_commit
from .baselines import (
    SELFIE,
    SELFIE_SCALES,
    SELFIE_VALIDATION_ROWS,
    TRAINING_BASELINES,
    applicable_baselines,
)
from .evaluator import evaluate_split, selfie_scale_on_train, split_examples
from .intervals import GROUP_COLUMN  # what the intervals resample: a row's entity, or the row
from .report import write_report
from .row_scores import row_statistics

logger = logging.getLogger(__name__)

EXPERIMENTS = ("privileged-access",)
RESULT_FILE = "result.json"
# What a cell's result holds; runs of another format are not mixed in one folder (2: per-row scores, seeded rows).
# 3: per-row statistics of the stratified keys, and the revisions of the models and package that made the run.
RESULT_FORMAT = 3


@dataclass
class ExperimentConfig:
    """Options of ``self-explain experiment privileged-access``.

    Args:
        task (`str`): Task: patching, ablation or features.
        output_dir (`str`): Folder of the experiment: ``runs/``, ``results.json``, ``results.md``, ``scaling.png``.
        target (`str`, *optional*, defaults to `"toy-target"`): Model whose computations are explained.
        explainers (`list[str]`, *optional*, defaults to `["toy-target", "toy-twin", "toy-other", "toy-large"]`):
            Explainer base models (comma-separated): the target itself and others.
        controls (`list[str]`, *optional*): Vector controls trained like the self-explainer, on the same subsamples:
            rotated, shuffled (default: both when the task has vectors, none for a text-only task; 'none' for none).
        sizes (`list[int]`, *optional*, defaults to `[100, 300, 1000, 3000]`): Training rows per run
            (comma-separated); sizes above the train split become 'all rows'.
        seeds (`int`, *optional*, defaults to 3): Runs per (explainer, size), seeds seed..seed+N-1.
        seeds_above_300 (`int`, *optional*): Runs per (explainer, size) above 300 rows, the first of ``seeds``
            (default: ``seeds``); the effect is tested at n ≤ 300, where runs vary most.
        explainers_above_300 (`list[str]`, *optional*): The explainers trained above 300 rows (default: all).
        controls_above_300 (`list[str]`, *optional*): The controls trained above 300 rows (default: all; 'none').
        dataset_name (`str`, *optional*): Explanation dataset of the target (default: build one in
            ``OUTPUT_DIR/dataset``).
        dataset_config (`str`, *optional*): Dataset config (default: the target's name).
        splits (`list[str]`, *optional*, defaults to `["test", "ood"]`): Splits scored.
        eval_rows (`int`, *optional*, defaults to 500): Rows scored per split, a seeded choice, the same for every
            run; their groups (the ``entity`` column, else the row) are resampled for the intervals.
        baselines (`list[str]`, *optional*): Baselines (default: all that apply to the task; 'none' for none).
        selfie_scales (`list[float]`, *optional*, defaults to `SELFIE_SCALES`): SelfIE scales.
        selfie_validation_rows (`int`, *optional*, defaults to `SELFIE_VALIDATION_ROWS`): Train-split rows (seeded)
            SelfIE's scale is chosen on; never the scored rows.
        num_train_epochs (`float`, *optional*, defaults to 5.0): Epochs over each run's training rows...
        min_steps (`int`, *optional*, defaults to 100): ...but at least this many optimizer steps.
        learning_rate (`float`, *optional*, defaults to 3e-3): Peak learning rate (the paper: 5e-5 at 8B).
        lora_r (`int`, *optional*, defaults to 32): LoRA rank (the paper: 128 for patching).
        lora_alpha (`int`, *optional*, defaults to 64): LoRA alpha (the paper: 16).
        per_device_train_batch_size (`int`, *optional*, defaults to 32): Batch size per device.
        projection (`str`, *optional*, defaults to `"auto"`): Vector projection of other explainers: auto (other
            widths), linear, none.
        activation_checkpointing (`bool`, *optional*, defaults to `False`): Recompute activations (large models).
        batch_size (`int`, *optional*, defaults to 32): Explanations generated per batch when scoring.
        max_new_tokens (`int`, *optional*): Longest explanation generated (default: the task's); resolved on
            creation, so ``experiment.json`` records it.
        keep_explainers (`bool`, *optional*, defaults to `False`): Keep each run's trained adapter.
        report_only (`bool`, *optional*, defaults to `False`): Train nothing: summarise the runs finished so far.
        equivalence_margin (`float`, *optional*, defaults to 0.05): Margin of the equivalence test (TOST) behind a
            claim that self and X are level: the paired difference self − X must lie within ± this margin.
        seed (`int`, *optional*, defaults to 0): First seed; also the seed of the dataset build and scored rows.
        trust_remote_code (`bool`, *optional*, defaults to `False`): Allow custom model code from the Hub.

    Raises:
        ValueError: Naming the option, before anything is run or recorded, on an empty, repeated, out-of-range or
            unknown value, or baselines or controls that do not apply to the task.
    """

    task: str = field(metadata={"help": "Task: patching, ablation or features."})
    output_dir: str = field(
        metadata={"help": "Folder of the experiment: runs/, results.json, results.md, scaling.png."}
    )
    target: str = field(default="toy-target", metadata={"help": "Model whose computations are explained."})
    explainers: list[str] = field(
        default_factory=lambda: ["toy-target", "toy-twin", "toy-other", "toy-large"],
        metadata={"help": "Explainer base models (comma-separated): the target itself and others."},
    )
    controls: list[str] | None = field(
        default=None,
        metadata={
            "help": "Vector controls trained like the self-explainer: rotated, shuffled (default: both when the "
            "task has vectors; 'none' for none)."
        },
    )
    sizes: list[int] = field(
        default_factory=lambda: [100, 300, 1000, 3000],
        metadata={"help": "Training rows per run (comma-separated); sizes above the train split become 'all rows'."},
    )
    seeds: int = field(default=3, metadata={"help": "Runs per (explainer, size), seeds seed..seed+N-1."})
    seeds_above_300: int | None = field(
        default=None, metadata={"help": "Runs per (explainer, size) at sizes above 300 rows (default: --seeds)."}
    )
    explainers_above_300: list[str] | None = field(
        default=None, metadata={"help": "Explainers trained at sizes above 300 rows (default: all of --explainers)."}
    )
    controls_above_300: list[str] | None = field(
        default=None,
        metadata={"help": "Vector controls trained at sizes above 300 rows (default: all of --controls; 'none')."},
    )
    dataset_name: str | None = field(
        default=None,
        metadata={"help": "Explanation dataset of the target (default: build one in OUTPUT_DIR/dataset)."},
    )
    dataset_config: str | None = field(default=None, metadata={"help": "Dataset config (default: the target's name)."})
    splits: list[str] = field(default_factory=lambda: ["test", "ood"], metadata={"help": "Splits scored."})
    eval_rows: int | None = field(
        default=500, metadata={"help": "Rows scored per split, a seeded choice (the same rows for every run)."}
    )
    baselines: list[str] | None = field(
        default=None, metadata={"help": "Baselines (default: all that apply to the task; 'none' for none)."}
    )
    selfie_scales: list[float] = field(
        default_factory=lambda: list(SELFIE_SCALES), metadata={"help": "SelfIE scales."}
    )
    selfie_validation_rows: int = field(
        default=SELFIE_VALIDATION_ROWS,
        metadata={"help": "Rows of the train split (seeded) SelfIE's scale is chosen on; never the scored rows."},
    )
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
    max_new_tokens: int | None = field(
        default=None, metadata={"help": "Longest explanation generated (default: the task's, 48; preferences 128)."}
    )
    keep_explainers: bool = field(
        default=False, metadata={"help": "Keep each run's trained adapter (default: delete)."}
    )
    report_only: bool = field(
        default=False, metadata={"help": "Train nothing: summarise the runs finished so far (and their baselines)."}
    )
    equivalence_margin: float = field(
        default=EQUIVALENCE_MARGIN,
        metadata={"help": "Margin of the equivalence test (TOST) behind a 'level' claim: self − X within ± this."},
    )
    strata: str | None = field(
        default=None,
        metadata={
            "help": "Also report each split's rows by stratum, as splits <split>[<stratum>]: 'edits' (rows "
            "that read an edited, a gained or no edited fact of the target's fact table)."
        },
    )
    seed: int = field(default=0, metadata={"help": "First seed; also the seed of the dataset build and scored rows."})
    trust_remote_code: bool = field(default=False, metadata={"help": "Allow custom model code from the Hub."})

    def __post_init__(self):
        task = get_task(self.task)
        if self.max_new_tokens is None:  # resolved here: experiment.json records it, and a resumed run compares it
            self.max_new_tokens = task.max_new_tokens
        self._check_numbers()
        if not self.explainers:
            raise ValueError("--explainers needs at least one model")
        if any(not str(e).strip() for e in self.explainers):
            raise ValueError(
                f"--explainers {self.explainers} has an empty name; give model names, e.g. --explainers "
                "toy-target toy-twin"
            )
        names = [short_model_name(e) for e in self.explainers]
        if len(set(names)) != len(names):  # each explainer's runs live in a folder of its short name
            raise ValueError(f"--explainers {self.explainers} repeat a model name ({names}); give distinct models")
        if self.seeds_above_300 is not None and not 1 <= self.seeds_above_300 <= self.seeds:
            raise ValueError(
                f"--seeds_above_300 must be between 1 and --seeds ({self.seeds}), got {self.seeds_above_300}"
            )
        if self.projection not in PROJECTION_CHOICES:
            raise ValueError(f"--projection must be one of {PROJECTION_CHOICES}, got {self.projection!r}")
        if self.baselines == ["none"]:
            self.baselines = []
        elif self.baselines is not None:
            allowed = applicable_baselines(self.task)
            unknown = [b for b in self.baselines if b not in allowed]
            if unknown:
                raise ValueError(f"--baselines {unknown} do not apply to task {self.task!r}; choose from {allowed}")
        if self.controls == ["none"]:
            self.controls = []
        elif self.controls is None:
            self.controls = list(VECTOR_CONTROLS) if task.uses_vectors else []
        else:
            unknown = [c for c in self.controls if c not in VECTOR_CONTROLS]
            if unknown:
                raise ValueError(f"--controls {unknown} unknown; choose from {', '.join(VECTOR_CONTROLS)}")
            if self.controls and not task.uses_vectors:
                raise ValueError(f"--controls {self.controls} do not apply to task {self.task!r}: it has no vectors")
        if not 0 < self.equivalence_margin < 1:  # metrics live in [0, 1] (correlations in [-1, 1])
            raise ValueError(f"--equivalence_margin must be between 0 and 1, got {self.equivalence_margin}")
        if self.strata is not None:
            from .strata import STRATA

            if self.strata not in STRATA:
                raise ValueError(f"--strata {self.strata!r} is not one of {sorted(STRATA)}")
            STRATA[self.strata](self.target, [])  # the target can be stratified so, before any run
        if self.explainers_above_300 is not None:
            unknown = [e for e in self.explainers_above_300 if e not in self.explainers]
            if unknown:
                raise ValueError(f"--explainers_above_300 {unknown} are not among --explainers {self.explainers}")
        if self.controls_above_300 == ["none"]:
            self.controls_above_300 = []
        elif self.controls_above_300 is not None:
            unknown = [c for c in self.controls_above_300 if c not in self.controls]
            if unknown:
                raise ValueError(f"--controls_above_300 {unknown} are not among --controls {self.controls}")

    def _check_numbers(self) -> None:
        """Check every number and list (runs' training options too) before any record, which would lock the folder."""
        from ..utils.checks import check_distinct, check_non_negative, check_positive, check_positive_number

        if not self.sizes or any(isinstance(s, bool) or not isinstance(s, int) or s < 1 for s in self.sizes):
            raise ValueError(f"--sizes must be positive training row counts, got {self.sizes}")
        if isinstance(self.seeds, bool) or not isinstance(self.seeds, int) or self.seeds < 1:
            raise ValueError(f"--seeds must be at least 1, got {self.seeds}")
        check_positive("--eval_rows", self.eval_rows, optional=True)
        if not self.splits:
            raise ValueError("--splits needs at least one split to score (e.g. test)")
        check_distinct("--splits", self.splits)
        if not self.selfie_scales:
            raise ValueError("--selfie_scales needs at least one scale (e.g. 1 5 10)")
        for scale in self.selfie_scales:
            check_positive_number("--selfie_scales", scale)
        check_positive("--selfie_validation_rows", self.selfie_validation_rows)
        check_positive_number("--num_train_epochs", self.num_train_epochs)
        check_non_negative("--min_steps", self.min_steps)
        check_positive_number("--learning_rate", self.learning_rate)
        check_positive("--lora_r", self.lora_r)
        check_positive("--lora_alpha", self.lora_alpha)
        check_positive("--per_device_train_batch_size", self.per_device_train_batch_size)
        check_positive("--batch_size", self.batch_size)
        check_positive("--max_new_tokens", self.max_new_tokens)
        check_non_negative("--seed", self.seed)

    @property
    def config_name(self) -> str:
        return self.dataset_config or short_model_name(self.target)


@dataclass(frozen=True)
class Cell:
    """One run of the experiment: an explainer base, control (``<target>+rotated``) or baseline, a size and a seed."""

    who: str  # an explainer base, a control, or a baseline
    size: int | None  # training rows; None for baselines that do not train
    seed: int | None
    control: str | None = None

    @property
    def folder(self) -> str:
        name = short_model_name(self.who)
        return name if self.size is None else f"{name}/n{self.size}-seed{self.seed}"


def effective_sizes(sizes: list[int], train_rows: int) -> list[int]:
    """The distinct sizes below the train split's rows, sorted, then one run on all rows if any size reached it."""
    fitting = sorted({s for s in sizes if s < train_rows})
    if any(s >= train_rows for s in sizes):
        fitting.append(train_rows)
    dropped = sorted(s for s in sizes if s > train_rows)
    if dropped:
        logger.warning("the train split has %d rows: sizes %s run on all of them", train_rows, dropped)
    return fitting


def seeds_of_size(config: ExperimentConfig, size: int) -> list[int]:
    """The seeds run at a training size: ``seeds`` of them, or ``seeds_above_300`` above 300 rows."""
    count = config.seeds if size <= 300 or config.seeds_above_300 is None else config.seeds_above_300
    return [config.seed + i for i in range(count)]


def explainers_of_size(config: ExperimentConfig, size: int) -> list[tuple[str, str | None]]:
    """``(who, control)`` pairs trained at a size: each explainer base with None, then each control."""
    large = size > 300
    bases = config.explainers_above_300 if large and config.explainers_above_300 is not None else config.explainers
    controls = config.controls_above_300 if large and config.controls_above_300 is not None else config.controls
    return [(who, None) for who in bases] + [(control_explainer_name(config.target, c), c) for c in controls]


def train_steps(config: ExperimentConfig, rows: int) -> int:
    """Optimizer steps of a run: ``num_train_epochs`` over its rows, but at least ``min_steps``."""
    return max(math.ceil(config.num_train_epochs * rows / config.per_device_train_batch_size), config.min_steps)


def ensure_dataset(config: ExperimentConfig, state: PartialState) -> str:
    """The target's explanation dataset: the one given, or one built (once, resumable); ValueError if none can be."""
    if config.dataset_name is not None:
        return config.dataset_name
    task = get_task(config.task)
    if task.experiment.needs_dataset:
        raise ValueError(f"--dataset_name is required for the {config.task} task: {task.experiment.needs_dataset}")
    folder = Path(config.output_dir) / "dataset"
    if not (folder / "README.md").is_file():
        task.build(
            task.config_class(
                target=config.target,
                output_dir=str(folder),
                seed=config.seed,
                trust_remote_code=config.trust_remote_code,
            )
        )
    state.wait_for_everyone()
    return str(folder)


def check_scored_splits(config: ExperimentConfig, dataset: str) -> None:
    """Refuse a config or scored split a local dataset lacks, a dataset without a train split, or another task's.

    A Hub dataset's splits are checked by ``load_split`` when the runs read them.
    """
    from ..tasks.registry import check_dataset_config
    from ..utils.checks import check_dataset_reference

    check_dataset_reference("--dataset_name", dataset)
    check_dataset_config(dataset, config.config_name, "--dataset_config")
    if Path(dataset).is_dir():
        try:
            built_by = task_of_dataset(dataset)
        except ValueError:  # a card without the builder's marker: the task's columns are checked when read
            built_by = None
        if built_by is not None and built_by.name != config.task:
            raise ValueError(
                f"--task {config.task!r}: dataset {dataset} was built for the {built_by.name!r} task; "
                f"pass --task {built_by.name}, or a dataset of the {config.task!r} task"
            )
    names = _split_names(dataset, config.config_name)
    if names is None:
        return
    missing = [split for split in config.splits if split not in names]
    if missing:
        raise ValueError(
            f"--splits {missing}: dataset {dataset} config {config.config_name!r} has no such split; "
            f"it has {', '.join(names)}"
        )
    if "train" not in names:
        raise ValueError(
            f"dataset {dataset} config {config.config_name!r} has no train split to train the runs on; "
            f"it has {', '.join(names)}"
        )


def _split_names(dataset: str, config_name: str) -> list[str] | None:
    """The split names of a local dataset folder's config (None when they cannot be read from its card)."""
    from ..hub.datasets import read_card_configs

    readme = Path(dataset) / "README.md"
    if readme.is_file():
        try:
            entries = read_card_configs(readme)
        except Exception:  # an unreadable card: load_dataset says what is wrong with it
            return None
        entry = next((e for e in entries if e.get("config_name") == config_name), None)
        files = entry.get("data_files") if entry else None
        if isinstance(files, list) and all(isinstance(f, dict) and "split" in f for f in files):
            return [f["split"] for f in files]
    return None  # a Hub dataset: load_split names a missing split (its card is not fetched before the runs)


def read_result(out: Path, cell: Cell) -> dict | None:
    """A finished cell's result, from ``runs/<cell folder>/result.json``; None when the cell has not finished."""
    path = out / "runs" / cell.folder / RESULT_FILE
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else None


def write_result(out: Path, cell: Cell, result: dict) -> None:
    """Write a cell's result to ``runs/<cell folder>/result.json`` (atomically), marking it finished."""
    path = out / "runs" / cell.folder / RESULT_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    write_atomically(path, lambda tmp: Path(tmp).write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8"))


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


@dataclass
class ModelSteps:
    """What a run does with data and models, each replaceable: a test passes its own instead of patching the module.

    Args:
        load_split (`Callable`, *optional*, defaults to `load_split`): Reads a split of the explanation dataset,
            ``(dataset, config_name, split, max_rows=, seed=) -> datasets.Dataset``.
        split_examples (`Callable`, *optional*, defaults to `split_examples`): Rows as an explainer's examples,
            ``(explainer, task, rows, seed) -> ExplainerExamples``.
        evaluate_split (`Callable`, *optional*, defaults to `evaluate_split`): Scores an explainer or a baseline on
            examples, ``(explainer, task, examples, **options) -> BaselineResult``.
        choose_selfie_scale (`Callable`, *optional*, defaults to `selfie_scale_on_train`): SelfIE's scale, chosen on
            the validation slice, ``(explainer, task, validation, scales, **options) -> dict``.
        train_explainer (`Callable[[ExplainerConfig], object]`, *optional*, defaults to `train_explainer`): Trains
            and saves a run's explainer.
        load_explainer (`Callable`, *optional*, defaults to `load_explainer`): Loads a trained explainer,
            ``(folder, target, trust_remote_code=) -> Explainer``.
        untrained_explainer (`Callable`, *optional*, defaults to `untrained_target_explainer`): The target as its
            own untrained explainer, for the baselines, ``(config) -> Explainer``.
    """

    load_split: Callable[..., object] = load_split
    split_examples: Callable[..., ExplainerExamples] = split_examples
    evaluate_split: Callable[..., object] = evaluate_split
    choose_selfie_scale: Callable[..., dict] = selfie_scale_on_train
    train_explainer: Callable[[ExplainerConfig], object] = train_explainer
    load_explainer: Callable[..., object] = load_explainer
    untrained_explainer: Callable[[ExperimentConfig], object] = untrained_target_explainer


class ScoredRows:
    """What every run is scored on, read once: each split's rows and their examples (vectors from the target)."""

    def __init__(self, config: ExperimentConfig, dataset: str, models: ModelSteps | None = None):
        self.config, self.dataset = config, dataset
        self.models = models or ModelSteps()
        self._examples: dict[str, ExplainerExamples] = {}
        self._rows: dict[str, tuple] = {}

    def rows(self, split: str):
        """The split's scored rows, their indices and groups (``entity``, else index): the same for every run."""
        if split not in self._rows:
            rows = self.models.load_split(self.dataset, self.config.config_name, split)
            index = scored_row_indices(len(rows), self.config.eval_rows, self.config.seed)
            rows = rows.select(index)
            groups = list(rows[GROUP_COLUMN]) if GROUP_COLUMN in rows.column_names else list(index)
            self._rows[split] = (rows, index, groups)
        return self._rows[split]

    def examples(self, split: str, explainer) -> ExplainerExamples:
        """The split's examples (cached), read through the first explainer asked (all have the same target)."""
        if split not in self._examples:
            rows, _, _ = self.rows(split)
            self._examples[split] = self.models.split_examples(explainer, self.config.task, rows, self.config.seed)
        return self._examples[split]

    def train_rows(self, size: int, seed: int):
        """The subsample a run of ``size`` rows and ``seed`` trains on (as ``train_explainer`` draws it)."""
        return self.models.load_split(self.dataset, self.config.config_name, "train", max_rows=size, seed=seed)

    def validation_examples(self, explainer) -> ExplainerExamples:
        """The validation slice SelfIE's scale is chosen on: seeded rows of the train split, never a scored split."""
        rows = self.models.load_split(
            self.dataset,
            self.config.config_name,
            "train",
            max_rows=self.config.selfie_validation_rows,
            seed=self.config.seed,
        )
        return self.models.split_examples(explainer, self.config.task, rows, self.config.seed)


def scored_row_indices(total: int, eval_rows: int | None, seed: int) -> list[int]:
    """Which rows of a split are scored: a seeded choice of ``eval_rows``, ascending; all when it has fewer."""
    if eval_rows is None or eval_rows >= total:
        return list(range(total))
    return sorted(random.Random(seed).sample(range(total), eval_rows))


def score_cell(
    explainer,
    config: ExperimentConfig,
    rows: ScoredRows,
    baseline: str | None = None,
    train_examples=None,
    selfie_choice=None,
) -> dict:
    """Per split: ``metrics``, ``details``, ``rows`` and ``per_row`` (index, group, prediction, metric, statistics).

    The per-row ``statistics`` (see :mod:`.row_scores`) are what the bootstrap recomputes the metrics from.
    """
    scores = {}
    for split in config.splits:
        examples = rows.examples(split, explainer)
        result = rows.models.evaluate_split(
            explainer,
            config.task,
            examples,
            batch_size=config.batch_size,
            max_new_tokens=config.max_new_tokens,
            baseline=baseline,
            train_examples=train_examples,
            selfie_choice=selfie_choice,
            selfie_scales=tuple(config.selfie_scales),
        )
        _, index, groups = rows.rows(split)
        statistics = row_statistics(config.task, examples, result.predictions, explainer)
        scores[split] = {
            "metrics": result.metrics,
            "details": result.details,
            "rows": len(examples.questions),
            "per_row": {
                "index": index,
                "group": groups,
                "prediction": result.predictions,
                "metric": statistics["metric"],
                "statistics": statistics["columns"],
            },
        }
    return scores


def run_training_cell(
    config: ExperimentConfig, dataset: str, rows: ScoredRows, cell: Cell, state: PartialState
) -> dict:
    """Train a cell's explainer (every process), score it and write its result (main process); returns the result.

    A control cell trains the target's own base under its vector control (which scoring applies again).
    """
    out = Path(config.output_dir)
    explainer_folder = out / "runs" / cell.folder / "explainer"
    on_target = cell.control is not None or cell.who == config.target  # the target's own base
    started = time.perf_counter()
    rows.models.train_explainer(
        ExplainerConfig(
            dataset_name=dataset,
            dataset_config=config.config_name,
            task=config.task,
            target=config.target,
            explainer_base=None if on_target else cell.who,
            output_dir=str(explainer_folder),
            vector_control=cell.control,
            max_rows=cell.size,
            seed=cell.seed,
            num_train_epochs=config.num_train_epochs,
            max_steps=train_steps(config, cell.size),
            learning_rate=config.learning_rate,
            lora_r=config.lora_r,
            lora_alpha=config.lora_alpha,
            per_device_train_batch_size=config.per_device_train_batch_size,
            projection="auto" if on_target else config.projection,
            activation_checkpointing=config.activation_checkpointing,
            overwrite=True,
            trust_remote_code=config.trust_remote_code,
        )
    )
    result = None
    if state.is_main_process:
        explainer = rows.models.load_explainer(
            str(explainer_folder), config.target, trust_remote_code=config.trust_remote_code
        )
        metadata = explainer.metadata
        result = {
            **asdict(cell),
            "kind": "explainer",
            "self": cell.who == config.target and cell.control is None,
            "train_rows": metadata["train_rows"],
            "train_loss": metadata["train_loss"],
            "train_steps": train_steps(config, cell.size),
            **run_revisions(metadata["target_revision"], metadata["explainer_base_revision"]),
            "splits": score_cell(explainer, config, rows),
        }
        result["seconds"] = round(time.perf_counter() - started, 1)  # training and scoring, on this machine
        write_result(out, cell, result)
        if not config.keep_explainers:
            shutil.rmtree(explainer_folder)
    state.wait_for_everyone()
    return result if result is not None else read_result(out, cell)


def run_revisions(target_revision: str, explainer_base_revision: str) -> dict:
    """What made a run: ``target_revision``, ``explainer_base_revision``, ``package_version``, ``package_commit``."""
    return {
        "target_revision": target_revision,
        "explainer_base_revision": explainer_base_revision,
        "package_version": __version__,
        "package_commit": package_commit(),
    }


def run_baseline_cells(
    config: ExperimentConfig, rows: ScoredRows, baselines: list[str], sizes: list[int], seeds: dict[int, list[int]]
) -> list[dict]:
    """Baseline results (main process) for unfinished cells; ``nearest-neighbor``/``majority`` per size and seed."""
    out = Path(config.output_dir)
    cells = [Cell(b, None, None) for b in baselines if b not in TRAINING_BASELINES]
    cells += [
        Cell(b, size, seed) for b in baselines if b in TRAINING_BASELINES for size in sizes for seed in seeds[size]
    ]
    results, explainer, subsamples = [], None, {}
    for cell in progress_bar(cells, desc="baselines"):
        result = read_result(out, cell)
        if result is None:
            explainer = explainer or rows.models.untrained_explainer(config)
            train_examples = selfie_choice = None
            if cell.who in TRAINING_BASELINES:  # the subsample the explainers of this size and seed train on
                if (cell.size, cell.seed) not in subsamples:
                    subsamples[cell.size, cell.seed] = rows.models.split_examples(
                        explainer, config.task, rows.train_rows(cell.size, cell.seed), cell.seed
                    )
                train_examples = subsamples[cell.size, cell.seed]
            if cell.who == SELFIE:  # its scale chosen once, on the train split's validation slice
                validation = rows.validation_examples(explainer) if len(config.selfie_scales) > 1 else None
                selfie_choice = rows.models.choose_selfie_scale(
                    explainer,
                    config.task,
                    validation,
                    tuple(config.selfie_scales),
                    batch_size=config.batch_size,
                    max_new_tokens=config.max_new_tokens,
                )
            result = {
                **asdict(cell),
                "kind": "baseline",
                "self": False,
                "train_rows": None if train_examples is None else len(train_examples.questions),
                **run_revisions(explainer.target.revision, explainer.target.revision),
                "splits": score_cell(
                    explainer,
                    config,
                    rows,
                    baseline=cell.who,
                    train_examples=train_examples,
                    selfie_choice=selfie_choice,
                ),
            }
            write_result(out, cell, result)
        results.append(result)
    return results


# Settings that change what a finished run means: a rerun in the same folder must keep them. experiment.json records
# them under these keys ("dataset": the option's name before TRL's --dataset_name, so older folders still resume).
RESUME_KEYS = (
    "task",
    "target",
    "dataset",
    "dataset_config",
    "splits",
    "eval_rows",
    "selfie_scales",
    "selfie_validation_rows",
    "num_train_epochs",
    "min_steps",
    "learning_rate",
    "lora_r",
    "lora_alpha",
    "per_device_train_batch_size",
    "projection",
    "max_new_tokens",
    "seed",
)


def _resume_settings(config: ExperimentConfig) -> dict:
    """The settings experiment.json records, under its keys."""
    fields = {"dataset": "dataset_name"}
    return {**{key: getattr(config, fields.get(key, key)) for key in RESUME_KEYS}, "result_format": RESULT_FORMAT}


def _refuse_other_settings(config: ExperimentConfig) -> bool:
    """Refuse an OUTPUT_DIR whose experiment.json records other settings; returns whether it has one at all."""
    path = Path(config.output_dir) / "experiment.json"
    if not path.is_file():
        return False
    settings = _resume_settings(config)
    try:
        before = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise ValueError(
            f"--output_dir {config.output_dir!r}: {path} is damaged ({error}); restore it, or use another --output_dir"
        ) from None
    if not isinstance(before, dict):
        raise ValueError(
            f"--output_dir {config.output_dir!r}: {path} is damaged (a JSON {type(before).__name__}, "
            "not an object of settings); restore it, or use another --output_dir"
        )
    changed = sorted(k for k in settings if before.get(k) != json.loads(json.dumps(settings[k])))
    if changed:
        raise ValueError(
            f"--output_dir {config.output_dir!r} holds runs made with other settings ({', '.join(changed)}): use "
            "another --output_dir, "
            "or the same settings to resume"
        )
    return True


def _drop_unused_record(config: ExperimentConfig) -> None:
    """Remove an experiment.json no run or dataset used, so a failed start does not lock the folder."""
    out = Path(config.output_dir)
    record = out / "experiment.json"
    if record.is_file() and all(path == record for path in out.iterdir()):
        logger.info("%s records settings no run used (its start failed): replacing it", record)
        record.unlink()


def check_resumable(config: ExperimentConfig) -> None:
    """Record the settings in OUTPUT_DIR/experiment.json; ValueError when it records other settings."""
    if _refuse_other_settings(config):
        return
    path = Path(config.output_dir) / "experiment.json"
    settings = _resume_settings(config)
    write_atomically(path, lambda tmp: Path(tmp).write_text(json.dumps(settings, indent=2) + "\n", encoding="utf-8"))


def _stratified(config: ExperimentConfig, rows: ScoredRows, results: list[dict]) -> tuple[list[dict], list[str]]:
    """The results with each scored split's strata (``--strata``) added as splits, and the splits to report."""
    from .strata import STRATA, stratified

    stratum_of_index = {}
    for split in config.splits:
        split_rows, index, _ = rows.rows(split)
        stratum_of_index[split] = dict(zip(index, STRATA[config.strata](config.target, split_rows)))
    return stratified(results, config.splits, stratum_of_index)


def train_row_count(config: ExperimentConfig, dataset: str) -> int:
    """How many rows the train split of the experiment's dataset config holds (the most a run can train on)."""
    return len(load_split(dataset, config.config_name, "train"))


@dataclass
class ExperimentSteps:
    """The steps :func:`run_experiment` takes, each replaceable (a test passes its own instead of patching the module).

    Args:
        prepare_dataset (`Callable[[ExperimentConfig, PartialState], str]`, *optional*, defaults to `ensure_dataset`):
            The explanation dataset the runs use (built when the experiment names none).
        check_resumable (`Callable[[ExperimentConfig], None]`, *optional*, defaults to `check_resumable`): Refuses
            an ``OUTPUT_DIR`` holding runs made with other settings, and records these.
        scored_rows (`Callable[[ExperimentConfig, str], ScoredRows]`, *optional*, defaults to `ScoredRows`): What
            every run is scored on.
        train_rows (`Callable[[ExperimentConfig, str], int]`, *optional*, defaults to `train_row_count`): The train
            split's size, which caps the training sizes.
        read_result (`Callable[[Path, Cell], dict | None]`, *optional*, defaults to `read_result`): A cell's
            result when it finished before.
        run_training_cell (`Callable`, *optional*, defaults to `run_training_cell`): Trains and scores one cell:
            ``(config, dataset, rows, cell, state) -> dict``.
        run_baseline_cells (`Callable`, *optional*, defaults to `run_baseline_cells`): The baselines' results:
            ``(config, rows, baselines, sizes, seeds) -> list[dict]``.
        write_report (`Callable[..., dict]`, *optional*, defaults to `report.write_report`): Writes the summary
            (called with ``config, dataset, results, planned_runs=, splits=``) and returns it.
    """

    prepare_dataset: Callable[[ExperimentConfig, PartialState], str] = ensure_dataset
    check_resumable: Callable[[ExperimentConfig], None] = check_resumable
    scored_rows: Callable[[ExperimentConfig, str], ScoredRows] = ScoredRows
    train_rows: Callable[[ExperimentConfig, str], int] = train_row_count
    read_result: Callable[[Path, Cell], dict | None] = read_result
    run_training_cell: Callable[..., dict] = run_training_cell
    run_baseline_cells: Callable[..., list[dict]] = run_baseline_cells
    write_report: Callable[..., dict] = write_report


def run_experiment(config: ExperimentConfig, steps: ExperimentSteps | None = None) -> dict:
    """Train and score every cell not finished yet, then write the summary, tables and plot.

    Args:
        config (`ExperimentConfig`): The experiment.
        steps (`ExperimentSteps`, *optional*): The steps taken (default: the real ones).

    Returns:
        `dict`: The summary (see ``summary_statistics.summarize``) on the main process; an empty dict on the others.

    Raises:
        ValueError: Before anything is run or recorded: on other settings in ``OUTPUT_DIR``, a missing dataset
            config or split, no dataset, no finished run with ``report_only``, or an unknown model.
        NotADirectoryError: When ``OUTPUT_DIR`` is a file.
    """
    state = PartialState()
    try:
        return _run_experiment(config, state, steps or ExperimentSteps())
    except Exception:  # a start that failed before any run leaves no record (Ctrl-C keeps it, as a kill does)
        if state.is_main_process and Path(config.output_dir).is_dir():
            _drop_unused_record(config)
        raise


def _run_experiment(config: ExperimentConfig, state: PartialState, steps: ExperimentSteps) -> dict:
    out = Path(config.output_dir)
    if out.exists() and not out.is_dir():
        raise NotADirectoryError(f"--output_dir {out} is a file; give a folder for the experiment's runs and results")
    if config.report_only and not (out / "runs").is_dir():
        raise ValueError(
            f"--report_only: --output_dir {config.output_dir} holds no runs yet; run the experiment "
            "without --report_only first"
        )
    for option, name in [("--target", config.target), *(("--explainers", e) for e in config.explainers)]:
        try:  # a typo is said before anything is written (the target is a setting the folder records)
            check_model_reference(name)
        except ValueError as error:
            raise ValueError(f"{option}: {error}") from None
    if config.dataset_name is not None:  # a bad dataset, config or split is said before anything is written
        check_scored_splits(config, config.dataset_name)
    if state.is_main_process:
        _drop_unused_record(config)
        _refuse_other_settings(config)  # before a dataset is built for it
    out.mkdir(parents=True, exist_ok=True)
    dataset = steps.prepare_dataset(config, state)
    if config.dataset_name is None:
        check_scored_splits(config, dataset)
    if state.is_main_process:
        steps.check_resumable(config)
    rows = steps.scored_rows(config, dataset)
    sizes = effective_sizes(config.sizes, steps.train_rows(config, dataset))
    seeds = {size: seeds_of_size(config, size) for size in sizes}
    results = []
    # Size by size, each seed's explainers and controls together: a run stopped part-way has paired cells.
    cells = [
        Cell(who, size, seed, control)
        for size in sizes
        for seed in seeds[size]
        for who, control in explainers_of_size(config, size)
    ]
    for cell in progress_bar(cells, desc="runs", disable=not state.is_main_process):
        result = steps.read_result(Path(config.output_dir), cell)
        if result is None and config.report_only:
            continue
        if result is None:
            logger.info("run %s: training on %d rows", cell.folder, cell.size)
            result = steps.run_training_cell(config, dataset, rows, cell, state)
        else:
            logger.info("run %s: finished before, read from its result", cell.folder)
        results.append(result)
    baselines = applicable_baselines(config.task) if config.baselines is None else config.baselines
    planned = len(cells)
    if config.report_only and not results:
        raise ValueError(
            f"--report_only: no run in --output_dir {config.output_dir} has finished yet; run the "
            "experiment without --report_only first"
        )
    if config.report_only:  # baselines only where explainer runs finished
        finished = {(r["size"], r["seed"]) for r in results}
        sizes = [size for size in sizes if any(s == size for s, _ in finished)]
        seeds = {size: [seed for seed in seeds[size] if (size, seed) in finished] for size in sizes}
    if state.is_main_process:
        results += steps.run_baseline_cells(config, rows, baselines, sizes, seeds)
        splits = list(config.splits)
        if config.strata is not None:
            results, splits = _stratified(config, rows, results)
        summary = steps.write_report(config, dataset, results, planned_runs=planned, splits=splits)
    state.wait_for_everyone()
    return summary if state.is_main_process else {}
