"""``self-explain demo``: the whole loop on the shipped toy world, small enough for a laptop CPU.

For each task: build its dataset on toy-target, then run the privileged-access experiment on it:
explainers on toy-target itself, on toy-other (same width, another seed) and on toy-large (wider: a
projection is trained), each trained on two sizes of seeded subsamples with two seeds, and scored with
the baselines (untrained, zero-shot, SelfIE, nearest neighbour) on the test and ood splits. It ends with
every task's headline table and the paths of the scaling plots.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

from .core.models import short_model_name
from .evaluation.experiment import ExperimentConfig, run_experiment
from .evaluation.report import counted, headline_table
from .tasks import TASKS, TaskSpec, get_task, read_provenance


@dataclass
class DemoConfig:
    """Options of ``self-explain demo``.

    Args:
        out (`str`, *optional*, defaults to `"out/demo"`): Folder of the demo's datasets and experiments.
        target (`str`, *optional*, defaults to `"toy-target"`): Target model (explains itself).
        explainers (`list[str]`, *optional*, defaults to `["toy-target", "toy-other", "toy-large"]`): Explainer
            bases compared: the target itself and others.
        tasks (`list[str]`, *optional*): Tasks to run, in order (default: every task with a demo, ``demo_tasks()``).
        seeds (`int`, *optional*, defaults to 2): Training runs per (explainer, size).
        min_steps (`int`, *optional*, defaults to 250): Optimizer steps of every run (more when 3 epochs need more).
        eval_rows (`int`, *optional*, defaults to 200): Rows scored per split.
        seed (`int`, *optional*, defaults to 0): Seed of every step.
    """

    out: str = field(default="out/demo", metadata={"help": "Folder of the demo's datasets and experiments."})
    target: str = field(default="toy-target", metadata={"help": "Target model (explains itself)."})
    explainers: list[str] = field(
        default_factory=lambda: ["toy-target", "toy-other", "toy-large"],
        metadata={"help": "Explainer bases compared: the target itself and others."},
    )
    tasks: list[str] = field(
        default_factory=lambda: demo_tasks(), metadata={"help": "Tasks to run, in order (default: every task with a demo)."}
    )
    seeds: int = field(default=2, metadata={"help": "Training runs per (explainer, size)."})
    min_steps: int = field(default=250, metadata={"help": "Optimizer steps of every run (more when 3 epochs need more)."})
    eval_rows: int = field(default=200, metadata={"help": "Rows scored per split."})
    seed: int = field(default=0, metadata={"help": "Seed of every step."})


def demo_tasks() -> list[str]:
    """The registered tasks that have a demo (their ``TaskSpec.demo``), in demo order."""
    with_demo = [spec for spec in TASKS.values() if spec.demo is not None]
    return [spec.name for spec in sorted(with_demo, key=lambda spec: (spec.demo.order, spec.name))]


def build_demo_dataset(config: DemoConfig, task: TaskSpec, out: Path) -> str:
    """The task's dataset for the demo: its config with the demo's build options, on the demo's target.

    Args:
        config (`DemoConfig`): The demo's options (target and seed).
        task (`TaskSpec`): A task with a demo.
        out (`Path`): The dataset folder (an existing config is replaced).

    Returns:
        `str`: The dataset folder built.
    """
    options = {**task.demo.build_options, "target": config.target, "out": str(out), "seed": config.seed, "overwrite": True}
    return task.build(task.config_class(**options))


def explained_target(dataset_folder: Path, config_name: str, default: str) -> str:
    """The model a dataset explains (its provenance ``target``): for preferences, the instilled model.

    Args:
        dataset_folder (`Path`): The dataset folder.
        config_name (`str`): The dataset config.
        default (`str`): Returned when the config has no provenance target.

    Returns:
        `str`: The target model.
    """
    return (read_provenance(dataset_folder, config_name) or {}).get("target", default)


def run_task(config: DemoConfig, task: str) -> tuple[list[str], dict]:
    """One task of the demo: build its dataset on the target, then run the privileged-access experiment on it.

    Args:
        config (`DemoConfig`): The demo's options.
        task (`str`): A task with a demo.

    Returns:
        `tuple[list[str], dict]`: The lines reported for the task (dataset, experiment, headline table, times) and
        the experiment's summary.

    Raises:
        ValueError: When ``task`` has no demo.
    """
    if task not in demo_tasks():
        raise ValueError(f"--tasks {task!r} is not a demo task; choose from {', '.join(demo_tasks())}")
    out = Path(config.out)
    config_name = short_model_name(config.target)
    spec = get_task(task)
    demo = spec.demo
    started = time.perf_counter()
    dataset_folder = build_demo_dataset(config, spec, out / spec.dataset_name)
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
    """The headline table of an experiment's summary: every explainer and baseline at the largest training size.

    Args:
        summary (`dict`): The experiment's summary (``run_experiment``).

    Returns:
        `list[str]`: The lines of a Markdown table.
    """
    return headline_table(summary["rows"], summary["splits"], tuple(summary["headline_metrics"]), summary["target"])


def run_demo(config: DemoConfig) -> str:
    """Run ``self-explain demo``: every task in turn, then every task's headline table and scaling plot path.

    Args:
        config (`DemoConfig`): The demo's options.

    Returns:
        `str`: The report, as Markdown text.

    Raises:
        ValueError: When a task has no demo.
    """
    lines: list[str] = []
    summaries = {}
    for task in config.tasks:
        task_lines, summaries[task] = run_task(config, task)
        lines += [*task_lines, ""]
    sizes = ", ".join(f"{task} {max(s['sizes'])}" for task, s in summaries.items())
    lines += ["# Headline: self vs. other explainers vs. baselines", "",
              f"Mean [95 % CI] over {counted(config.seeds, 'seed')}, at the largest training size ({sizes} rows).", ""]
    for task, summary in summaries.items():
        lines += [f"### {task}", "", *task_headline(summary), "",
                  f"scaling plot: {Path(config.out) / f'experiment-{task}' / 'scaling.png'}", ""]
    return "\n".join(lines)
