"""``self-explain demo``: the whole loop on the shipped toy world, small enough for a laptop CPU.

For each task: build its dataset on toy-target, then run the privileged-access experiment on it:
explainers on toy-target itself, on toy-other (same width, another seed) and on toy-large (wider: a
projection is trained), each trained on two sizes of seeded subsamples with two seeds, and scored with
the baselines (untrained, zero-shot, SelfIE, nearest neighbour) on the test and ood splits. It ends with
every task's headline table and the paths of the scaling plots.
"""

from __future__ import annotations

import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from datasets import load_dataset

from .core.models import short_model_name
from .evaluation.experiment import ExperimentConfig, run_experiment
from .evaluation.report import headline_table
from .tasks import read_provenance
from .tasks.ablation.builder import build_ablation_dataset
from .tasks.ablation.config import AblationConfig
from .tasks.features.builder import build_features_dataset
from .tasks.features.config import FeaturesConfig
from .tasks.patching.builder import build_patching_dataset
from .tasks.patching.config import PatchingConfig
from .tasks.preferences.builder import build_preferences_dataset
from .tasks.preferences.config import PreferencesConfig


@dataclass
class DemoConfig:
    out: str = field(default="out/demo", metadata={"help": "Folder of the demo's datasets and experiments."})
    target: str = field(default="toy-target", metadata={"help": "Target model (explains itself)."})
    explainers: list[str] = field(
        default_factory=lambda: ["toy-target", "toy-other", "toy-large"],
        metadata={"help": "Explainer bases compared: the target itself and others."},
    )
    tasks: list[str] = field(default_factory=lambda: list(DEMO_TASKS), metadata={"help": "Tasks to run, in order."})
    num_prompts: int = field(default=1000, metadata={"help": "Prompt pairs of the patching dataset."})
    num_examples: int = field(default=3000, metadata={"help": "Hint questions of the ablation dataset."})
    num_texts: int = field(default=2000, metadata={"help": "Toy-world texts the SAE features' exemplars come from."})
    num_scenarios: int = field(default=120, metadata={"help": "Decision scenarios of the preferences dataset."})
    seeds: int = field(default=2, metadata={"help": "Training runs per (explainer, size)."})
    min_steps: int = field(default=250, metadata={"help": "Optimizer steps of every run (more when 3 epochs need more)."})
    eval_rows: int = field(default=200, metadata={"help": "Rows scored per split."})
    seed: int = field(default=0, metadata={"help": "Seed of every step."})


def patching_summary(folder: Path, config_name: str) -> list[str]:
    dataset = load_dataset(str(folder), config_name)
    lines = ["split  rows  changed"]
    for split, rows in dataset.items():
        lines.append(f"{split:<6} {len(rows):>5}  {sum(rows['is_different']) / len(rows):.1%}")
    train = dataset["train"]
    by_cell: dict[tuple[str, int], list[bool]] = defaultdict(list)
    for token_type, layer, changed in zip(train["token_type"], train["layer"], train["is_different"]):
        by_cell[(token_type, layer)].append(changed)
    layers = sorted({layer for _, layer in by_cell})
    lines += ["", "share of train patches that change the output, by token and first patched layer:"]
    lines.append("token    " + "  ".join(f"L{layer:<4}" for layer in layers))
    for token_type in ("subject", "suffix", "last"):
        cells = [by_cell.get((token_type, layer)) for layer in layers]
        if any(cells):
            lines.append(f"{token_type:<8} " + "  ".join(f"{sum(c) / len(c):5.0%}" if c else "    -" for c in cells))
    return lines




def ablation_summary(folder: Path, config_name: str) -> list[str]:
    dataset = load_dataset(str(folder), config_name)
    lines = ["split  rows  changed"]
    for split, rows in dataset.items():
        lines.append(f"{split:<6} {len(rows):>5}  {sum(rows['is_different']) / len(rows):.1%}")
    by_giver: dict[str, list[bool]] = defaultdict(list)
    for giver, changed in zip(dataset["train"]["hint_giver"], dataset["train"]["is_different"]):
        by_giver[giver].append(changed)
    lines += ["", "share of train hints whose removal changes the answer, by who gives the hint:"]
    lines += [f"{giver:<10} {sum(c) / len(c):5.0%}" for giver, c in sorted(by_giver.items())]
    return lines


def features_summary(folder: Path, config_name: str) -> list[str]:
    dataset = load_dataset(str(folder), config_name)
    lines = ["split  rows  mean simulator score"]
    for split, rows in dataset.items():
        lines.append(f"{split:<6} {len(rows):>5}  {sum(rows['score']) / len(rows):.3f}")
    counts: dict[str, int] = defaultdict(int)
    for description in dataset["train"]["description"]:
        counts[description] += 1
    lines += ["", "train features by description:"]
    lines += [f"{description:<24} {n}" for description, n in sorted(counts.items(), key=lambda kv: -kv[1])]
    return lines


def preferences_summary(folder: Path, config_name: str) -> list[str]:
    dataset = load_dataset(str(folder), config_name)
    provenance = read_provenance(folder, config_name)
    quality = provenance["instilling_correlation"]
    lines = ["split   rows  scenarios", *(f"{split:<7} {len(rows):>4}  {len(set(rows['scenario_id'])):>4}"
                                      for split, rows in dataset.items())]
    lines += [
        "",
        f"instilled model (the target explained): {provenance['target']}",
        "instilling: r of measured vs. intended weights, pooled {pooled_r:.3f}, mean per scenario {mean_scenario_r:.3f}"
        .format(**quality["instilled"]),
        "control, the base model before instilling: pooled {pooled_r:.3f}, mean per scenario {mean_scenario_r:.3f}"
        .format(**quality["base_before_instilling"]),
        f"measured choices the intended weights agree with: {provenance['mean_intended_agreement']:.1%}; "
        f"that the logistic fit reproduces: {provenance['mean_fit_agreement']:.1%}",
    ]
    return lines


@dataclass(frozen=True)
class DemoTask:
    build: Callable  # build(config: DemoConfig, out: Path) -> dataset folder
    summary: Callable  # summary(folder, config_name) -> lines
    sizes: tuple[int, ...]  # training rows of the experiment's runs (above the train split: all of it)
    splits: tuple[str, ...] = ("test", "ood")  # splits the experiment scores
    max_explainers: int | None = None  # the first N of the demo's explainers (the target itself first); None: all


DEMO_TASKS: dict[str, DemoTask] = {
    "patching": DemoTask(
        build=lambda c, out: build_patching_dataset(
            PatchingConfig(target=c.target, out=str(out), num_prompts=c.num_prompts, seed=c.seed, overwrite=True)
        ),
        summary=patching_summary,
        sizes=(100, 1000),
    ),
    "ablation": DemoTask(
        build=lambda c, out: build_ablation_dataset(
            AblationConfig(target=c.target, out=str(out), num_examples=c.num_examples, seed=c.seed, overwrite=True)
        ),
        summary=ablation_summary,
        sizes=(100, 1000),
    ),
    "features": DemoTask(
        build=lambda c, out: build_features_dataset(
            FeaturesConfig(target=c.target, out=str(out), num_texts=c.num_texts, seed=c.seed, overwrite=True)
        ),
        summary=features_summary,
        sizes=(30, 1000),  # about 140 training features in all
    ),
    "preferences": DemoTask(
        build=lambda c, out: build_preferences_dataset(
            PreferencesConfig(target=c.target, out=str(out), num_scenarios=c.num_scenarios, seed=c.seed, overwrite=True)
        ),
        summary=preferences_summary,
        sizes=(1000,),  # all 120 training rows (40 scenarios)
        splits=("test", "native"),
        max_explainers=2,  # self and toy-other: toy-large adds 20 min and the toy scores are 0 everywhere (README)
    ),
}


def explained_target(dataset_folder: Path, config_name: str, default: str) -> str:
    """The model a dataset explains (its provenance ``target``): for preferences, the instilled model."""
    return (read_provenance(dataset_folder, config_name) or {}).get("target", default)


def run_task(config: DemoConfig, task: str) -> tuple[list[str], dict]:
    if task not in DEMO_TASKS:
        raise ValueError(f"--tasks {task!r} is not a demo task; choose from {', '.join(DEMO_TASKS)}")
    out = Path(config.out)
    config_name = short_model_name(config.target)
    demo = DEMO_TASKS[task]
    started = time.perf_counter()
    dataset_folder = demo.build(config, out / f"self-explain-{task}")
    built = time.perf_counter()
    target = explained_target(Path(dataset_folder), config_name, config.target)
    explainers = [target if e == config.target else e for e in config.explainers]  # the self-explainer
    explainers = explainers[: demo.max_explainers]
    summary = run_experiment(ExperimentConfig(
        task=task, out=str(out / f"experiment-{task}"), target=target, explainers=explainers, splits=list(demo.splits),
        sizes=list(demo.sizes), seeds=config.seeds, dataset=str(dataset_folder), dataset_config=config_name,
        eval_rows=config.eval_rows, num_train_epochs=3.0, min_steps=config.min_steps, keep_explainers=True,
        seed=config.seed,
    ))
    finished = time.perf_counter()
    lines = [f"## {task}", "", f"{task} dataset for {config.target} in {dataset_folder}", ""]
    lines += demo.summary(dataset_folder, config_name)
    lines += ["", f"privileged-access experiment in {out / f'experiment-{task}'} (results.md, scaling.png)", ""]
    lines += task_headline(summary)
    lines += ["", f"time: build {built - started:.0f} s, experiment {finished - built:.0f} s"]
    return lines, summary


def task_headline(summary: dict) -> list[str]:
    return headline_table(summary["rows"], summary["splits"], tuple(summary["headline_metrics"]), summary["target"])


def run_demo(config: DemoConfig) -> str:
    lines: list[str] = []
    summaries = {}
    for task in config.tasks:
        task_lines, summaries[task] = run_task(config, task)
        lines += [*task_lines, ""]
    sizes = ", ".join(f"{task} {max(s['sizes'])}" for task, s in summaries.items())
    lines += ["# Headline: self vs. other explainers vs. baselines", "",
              f"Mean [95 % CI] over {config.seeds} seeds, at the largest training size ({sizes} rows).", ""]
    for task, summary in summaries.items():
        lines += [f"### {task}", "", *task_headline(summary), "",
                  f"scaling plot: {Path(config.out) / f'experiment-{task}' / 'scaling.png'}", ""]
    return "\n".join(lines)
