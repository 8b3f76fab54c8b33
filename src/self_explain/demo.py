"""``self-explain demo``: the whole loop on the shipped toy world, in minutes on a laptop CPU.

For each task with a demo: build its dataset on toy-target; explain a few held-out rows through
``pipeline("self-explanation", …)`` with ``verify=True`` (the shipped explainer of the task, the intervention
re-run on the target); evaluate the shipped explainer against the baselines on the held-out rows; then print
the committed results of the documented privileged-access experiment (``results/<task>/results.md``), which
the demo does not rerun (``make experiment`` does).
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path

from datasets import load_dataset

from .core.models import short_model_name
from .evaluation.baselines import applicable_baselines
from .evaluation.evaluator import EvaluateConfig, report_markdown, run_evaluation
from .tasks import TASKS, TaskSpec, get_task, read_provenance


@dataclass
class DemoConfig:
    """Options of ``self-explain demo``.

    Args:
        out (`str`, *optional*, defaults to `"out/demo"`): Folder of the demo's datasets and evaluation reports.
        target (`str`, *optional*, defaults to `"toy-target"`): Target model (explains itself).
        tasks (`list[str]`, *optional*): Tasks to run, in order (default: every task with a demo, ``demo_tasks()``).
        explain_rows (`int`, *optional*, defaults to 3): Held-out rows explained through the pipeline per task.
        eval_rows (`int`, *optional*, defaults to 300): Rows scored per split.
        results (`str`, *optional*, defaults to `"results"`): Folder of the committed experiment results.
        seed (`int`, *optional*, defaults to 0): Seed of every step.

    Raises:
        ValueError: Naming the option, before any work: on no tasks, a task without a demo or named twice,
            ``explain_rows`` or ``eval_rows`` below 1, or a negative seed.
        NotADirectoryError: When ``out`` is a file.
    """

    out: str = field(default="out/demo", metadata={"help": "Folder of the demo's datasets and evaluation reports."})
    target: str = field(default="toy-target", metadata={"help": "Target model (explains itself)."})
    tasks: list[str] = field(
        default_factory=lambda: demo_tasks(), metadata={"help": "Tasks to run, in order (default: every task with a demo)."}
    )
    explain_rows: int = field(default=3, metadata={"help": "Held-out rows explained through the pipeline per task."})
    eval_rows: int = field(default=300, metadata={"help": "Rows scored per split."})
    results: str = field(default="results", metadata={"help": "Folder of the committed experiment results."})
    seed: int = field(default=0, metadata={"help": "Seed of every step."})

    def __post_init__(self):
        from .core.checks import check_distinct, check_non_negative, check_positive

        if not self.tasks:
            raise ValueError(f"--tasks needs at least one task; choose from {', '.join(demo_tasks())}")
        unknown = [task for task in self.tasks if task not in demo_tasks()]
        if unknown:
            raise ValueError(f"--tasks {unknown}: not a demo task; choose from {', '.join(demo_tasks())}")
        check_distinct("--tasks", self.tasks)
        check_positive("--explain_rows", self.explain_rows)
        check_positive("--eval_rows", self.eval_rows)
        check_non_negative("--seed", self.seed)
        if Path(self.out).exists() and not Path(self.out).is_dir():
            raise NotADirectoryError(f"--out {self.out} is a file; give a folder for the demo's datasets and reports")


def demo_tasks() -> list[str]:
    """The registered tasks that have a demo (their ``TaskSpec.demo``), in demo order.

    Returns:
        `list[str]`: The task names.
    """
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


def explain_rows(task: TaskSpec, dataset_folder: str, config_name: str, target: str, count: int) -> list[str]:
    """Explain the first held-out rows through ``pipeline("self-explanation", …)`` with ``verify=True``.

    Rows are taken evenly spaced over the split. A row the pipeline refuses (e.g. a feature that does not fire on
    the texts given to verify it) is reported with the pipeline's message and the next is tried, up to ``3 * count``
    rows.

    Args:
        task (`TaskSpec`): A task whose demo names a shipped explainer and how a row becomes a pipeline input.
        dataset_folder (`str`): The dataset the demo built.
        config_name (`str`): Its config.
        target (`str`): The model explained.
        count (`int`): Rows to explain.

    Returns:
        `list[str]`: Per row: the input's JSON, the explanation and the verification (or the pipeline's refusal).
    """
    from transformers import pipeline

    rows = load_dataset(dataset_folder, config_name, split=task.demo.splits[0])
    explain = pipeline("self-explanation", target=target, explainer=task.demo.explainer)
    lines, explained = [], 0
    step = max(1, len(rows) // (3 * count))  # rows spread over the split, not one prompt's neighbours
    for row in rows.select(range(0, min(len(rows), 3 * count * step), step)):
        request = task.demo.pipeline_input(row)
        shown_request = {key: value for key, value in request.items() if key != "texts"}
        try:
            result = explain(request, verify=True)
        except ValueError as error:
            lines += [f"- input: {json.dumps(shown_request)}", f"  not explained: {error}"]
            continue
        shown = {key: value for key, value in result.items() if key != "explanation"}
        lines += [f"- input: {json.dumps(shown_request)}", f"  explanation: {result['explanation']!r}",
                  f"  verified: {json.dumps(shown, default=str)}"]
        explained += 1
        if explained == count:
            break
    return lines


def committed_results(config: DemoConfig, task: str) -> list[str]:
    """The committed results of the documented experiment for a task, or where they would be.

    Args:
        config (`DemoConfig`): The demo's options (its ``results`` folder).
        task (`str`): The task.

    Returns:
        `list[str]`: The lines of ``results/<task>/results.md`` and the path of its plot, or a line saying there are
        none yet.
    """
    folder = Path(config.results) / task
    summary = folder / "results.md"
    if not summary.is_file():
        return [f"(no committed experiment results in {folder} yet; `make experiment` runs the documented experiment "
                f"of the tasks that have one, experiments/privileged-access/<task>.yaml)"]
    return [*summary.read_text().splitlines(), "", f"scaling plot: {folder / 'scaling.png'}"]


def run_task(config: DemoConfig, task_name: str) -> list[str]:
    """One task of the demo: build, explain a few rows with verification, evaluate against baselines, results.

    Args:
        config (`DemoConfig`): The demo's options.
        task_name (`str`): A task with a demo.

    Returns:
        `list[str]`: The lines reported for the task.

    Raises:
        ValueError: When the task has no demo.
    """
    if task_name not in demo_tasks():
        raise ValueError(f"--tasks {task_name!r} is not a demo task; choose from {', '.join(demo_tasks())}")
    out = Path(config.out)
    config_name = short_model_name(config.target)
    task = get_task(task_name)
    demo = task.demo
    started = time.perf_counter()
    dataset_folder = str(build_demo_dataset(config, task, out / task.dataset_name))
    built = time.perf_counter()
    target = explained_target(Path(dataset_folder), config_name, config.target)
    lines = [f"## {task_name}", "", f"{task_name} dataset for {config.target} in {dataset_folder}", ""]
    lines += demo.summary(dataset_folder, config_name)
    timings = [f"build {built - started:.0f} s"]
    if demo.explainer is not None:
        lines += ["", f"pipeline('self-explanation', explainer={demo.explainer!r}), verify=True:", ""]
        lines += explain_rows(task, dataset_folder, config_name, target, config.explain_rows)
        explained = time.perf_counter()
        report = run_evaluation(EvaluateConfig(
            explainer=demo.explainer, dataset=dataset_folder, config=config_name, out=str(out / f"evaluate-{task_name}"),
            split=list(demo.splits), baseline=applicable_baselines(task_name), max_rows=config.eval_rows,
            seed=config.seed, target=target,
        ))
        lines += ["", f"shipped explainer {demo.explainer} vs. baselines on held-out rows "
                      f"(report in {out / f'evaluate-{task_name}'}):", "", report_markdown(report)]
        timings += [f"explain {explained - built:.0f} s", f"evaluate {time.perf_counter() - explained:.0f} s"]
    lines += ["", f"### committed experiment results ({task_name})", "", *committed_results(config, task_name)]
    lines += ["", "time: " + ", ".join(timings)]
    return lines


def run_demo(config: DemoConfig) -> str:
    """Run ``self-explain demo``: every task in turn.

    Args:
        config (`DemoConfig`): The demo's options.

    Returns:
        `str`: The report, as Markdown text.

    Raises:
        ValueError: When a task has no demo.
    """
    started = time.perf_counter()
    lines: list[str] = []
    for task in config.tasks:
        lines += [*run_task(config, task), ""]
    lines.append(f"demo finished in {(time.perf_counter() - started) / 60:.1f} min")
    return "\n".join(lines)
