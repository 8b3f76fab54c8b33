"""``self-explain demo``: the whole loop on the shipped toy world, in minutes on a laptop CPU, told as it goes.

For each task with a demo: build its dataset on toy-target, explain a few held-out rows through
``pipeline("self-explanation", …)`` with ``verify=True``, and evaluate the shipped explainer against the
baselines. Each task's summary is printed as it finishes and the HTML report rewritten; the log goes to
``demo.log``. The committed experiment results (``results/<task>/``) are linked, not rerun.
"""

from __future__ import annotations

import functools
import json
import logging
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from datasets import load_dataset

from .core.models import short_model_name
from .evaluation.baselines import applicable_baselines
from .evaluation.evaluator import EvaluateConfig, run_evaluation
from .evaluation.explanation_report import EXPERIMENT_FILE, evaluation_section, experiment_section
from .evaluation.html_page import ReportPage, ReportSection, write_page
from .evaluation.results_markdown import format_metric
from .tasks import TASKS, Task, get_task, read_provenance

REPORT_FILE = "report.html"
LOG_FILE = "demo.log"
# Rows of each evaluated split the report shows.
REPORT_ROWS = 300


@dataclass
class DemoConfig:
    """Options of ``self-explain demo``.

    Args:
        output_dir (`str`, *optional*, defaults to `"out/demo"`): Folder of the demo's datasets, evaluations, HTML
            report (``report.html``) and log (``demo.log``).
        target (`str`, *optional*, defaults to `"toy-target"`): Target model (explains itself).
        tasks (`list[str]`, *optional*): Tasks to run, in order (default: every task with a demo, ``demo_tasks()``).
        explain_rows (`int`, *optional*, defaults to 3): Held-out rows explained through the pipeline per task.
        eval_rows (`int`, *optional*, defaults to 300): Rows scored per split.
        results (`str`, *optional*, defaults to `"results"`): Folder of the committed experiment results.
        seed (`int`, *optional*, defaults to 0): Seed of every step.

    Raises:
        ValueError: Naming the option, before any work: no tasks, a task without a demo or named twice, a row count
            below 1, or a negative seed.
        NotADirectoryError: When ``out`` is a file.
    """

    output_dir: str = field(
        default="out/demo",
        metadata={"help": "Folder of the demo's datasets, evaluations, HTML report (report.html) and log (demo.log)."},
    )
    target: str = field(default="toy-target", metadata={"help": "Target model (explains itself)."})
    tasks: list[str] = field(
        default_factory=lambda: demo_tasks(),
        metadata={"help": "Tasks to run, in order (default: every task with a demo)."},
    )
    explain_rows: int = field(default=3, metadata={"help": "Held-out rows explained through the pipeline per task."})
    eval_rows: int = field(default=300, metadata={"help": "Rows scored per split."})
    results: str = field(default="results", metadata={"help": "Folder of the committed experiment results."})
    seed: int = field(default=0, metadata={"help": "Seed of every step."})

    def __post_init__(self):
        from .utils.checks import check_distinct, check_non_negative, check_positive

        if not self.tasks:
            raise ValueError(f"--tasks needs at least one task; choose from {', '.join(demo_tasks())}")
        unknown = [task for task in self.tasks if task not in demo_tasks()]
        if unknown:
            raise ValueError(f"--tasks {unknown}: not a demo task; choose from {', '.join(demo_tasks())}")
        check_distinct("--tasks", self.tasks)
        check_positive("--explain_rows", self.explain_rows)
        check_positive("--eval_rows", self.eval_rows)
        check_non_negative("--seed", self.seed)
        if Path(self.output_dir).exists() and not Path(self.output_dir).is_dir():
            raise NotADirectoryError(
                f"--output_dir {self.output_dir} is a file; give a folder for the demo's datasets and reports"
            )


def demo_tasks() -> list[str]:
    """The registered tasks that have a demo (their ``Task.demo``), in demo order."""
    with_demo = [spec for spec in TASKS.values() if spec.demo is not None]
    return [spec.name for spec in sorted(with_demo, key=lambda spec: (spec.demo.order, spec.name))]


def build_demo_dataset(config: DemoConfig, task: Task, out: Path) -> str:
    """Build the task's demo dataset config on the demo's target in ``out`` (replacing it); returns the folder."""
    options = {
        **task.demo.build_options,
        "target": config.target,
        "output_dir": str(out),
        "seed": config.seed,
        "overwrite": True,
    }
    return task.build(task.config_class(**options))


def explained_target(dataset_folder: Path, config_name: str, default: str) -> str:
    """The model a dataset config explains (its provenance ``target``, for preferences the instilled model)."""
    return (read_provenance(dataset_folder, config_name) or {}).get("target", default)


def explain_rows(task: Task, dataset_folder: str, config_name: str, target: str, count: int) -> list[dict]:
    """Explain evenly spaced held-out rows through the pipeline with ``verify=True``; one dict per row tried.

    Each dict: ``input``, ``explanation``, ``ground_truth``, ``verified`` (None if refused) and ``note``. A row the
    pipeline refuses is reported with its message and the next tried, up to ``3 * count`` rows.
    """
    from transformers import pipeline

    rows = load_dataset(dataset_folder, config_name, split=task.demo.splits[0])
    explain = pipeline("self-explanation", target=target, explainer=task.demo.explainer)
    examples, explained = [], 0
    step = max(1, len(rows) // (3 * count))  # rows spread over the split, not one prompt's neighbours
    for row in rows.select(range(0, min(len(rows), 3 * count * step), step)):
        request = task.demo.pipeline_input(row)
        shown = json.dumps({key: value for key, value in request.items() if key != "texts"})
        try:
            result = explain(request, verify=True)
        except ValueError as error:
            examples.append(
                {
                    "input": shown,
                    "explanation": None,
                    "ground_truth": None,
                    "verified": None,
                    "note": f"not explained: {error}",
                }
            )
            continue
        rest = {k: v for k, v in result.items() if k not in ("explanation", "ground_truth", "verified")}
        examples.append(
            {
                "input": shown,
                "explanation": result["explanation"],
                "ground_truth": result.get("ground_truth"),
                "verified": result.get("verified"),
                "note": json.dumps(rest, default=str) if rest else "",
            }
        )
        explained += 1
        if explained == count:
            break
    return examples


def example_lines(examples: list[dict]) -> list[str]:
    """The terminal's lines about the explained rows: how many held, each explanation, the truth where it did not."""
    judged = [e for e in examples if e["verified"] is not None]
    lines = [f"verified on the target: {sum(e['verified'] for e in judged)} of {len(judged)} explanations held"]
    for example in examples:
        if example["explanation"] is None:
            lines.append(f"  - {example['note']}")
        elif example["verified"]:
            lines.append(f"  ✓ {example['explanation']!r}")
        else:
            lines.append(f"  ✗ {example['explanation']!r}; the target: {example['ground_truth']!r}")
    return lines


def headline_lines(report: dict) -> list[str]:
    """A caption and Markdown table of the first headline metric per split, explainer and baseline, with intervals."""
    results = report["results"]
    reported = {name for r in results for name in r["metrics"]}
    metric = next((m for m in get_task(report["task"]).experiment.headline_metrics if m in reported), min(reported))
    splits = list(dict.fromkeys(r["split"] for r in results))
    cells: dict[str, dict[str, str]] = {}
    for r in results:
        who = f"baseline: {r['baseline']}" if r["baseline"] else "trained explainer"
        value, interval = r["metrics"].get(metric), (r.get("intervals") or {}).get(metric)
        cell = format_metric(value)
        if value is not None and interval and None not in interval:
            cell += f" [{interval[0]:.3f}, {interval[1]:.3f}]"
        cells.setdefault(who, {})[r["split"]] = cell
    lines = [
        f"{metric} on held-out rows (95 % interval over entities):",
        "",
        "| explainer | " + " | ".join(splits) + " |",
        "|---|" + "---|" * len(splits),
    ]
    lines += [
        f"| {who} | " + " | ".join(by_split.get(s, "–") for s in splits) + " |" for who, by_split in cells.items()
    ]
    return lines


def committed_results(config: DemoConfig, task: str) -> list[str]:
    """One line linking the committed experiment results of a task (or saying there are none yet)."""
    folder = Path(config.results) / task
    summary = folder / "results.md"
    if not summary.is_file():
        return [
            (
                f"no committed experiment results in {folder} yet (`make experiment` runs the documented experiment "
                f"of the tasks that have one, experiments/privileged-access/<task>.yaml)"
            )
        ]
    plot = folder / "scaling.png"
    return [f"committed experiment (not rerun by the demo): {summary}" + (f", plot {plot}" if plot.is_file() else "")]


@dataclass
class TaskOutcome:
    """What one task of the demo gave: its terminal lines, its HTML report section and its duration."""

    name: str
    lines: list[str]
    section: ReportSection
    seconds: float


def _minutes(seconds: float) -> str:
    return f"{seconds / 60:.1f} min"


def run_task(config: DemoConfig, task_name: str) -> TaskOutcome:
    """One task of the demo: build, explain a few rows with verification, evaluate against baselines."""
    if task_name not in demo_tasks():
        raise ValueError(f"--tasks {task_name!r} is not a demo task; choose from {', '.join(demo_tasks())}")
    out = Path(config.output_dir)
    config_name = short_model_name(config.target)
    task = get_task(task_name)
    demo = task.demo
    started = time.perf_counter()
    dataset_folder = str(build_demo_dataset(config, task, out / task.dataset_name))
    timings = [f"build {time.perf_counter() - started:.0f} s"]
    target = explained_target(Path(dataset_folder), config_name, config.target)
    summary = demo.summary(dataset_folder, config_name)
    lines = [f"dataset: {dataset_folder} (config {config_name})", "", *summary]
    section = ReportSection(task_name, notes=[f"Dataset {dataset_folder} (config {config_name}) on {config.target}."])
    if demo.explainer is not None:
        explaining = time.perf_counter()
        examples = explain_rows(task, dataset_folder, config_name, target, config.explain_rows)
        lines += ["", f"{demo.explainer} through pipeline('self-explanation', verify=True):", *example_lines(examples)]
        evaluating = time.perf_counter()
        evaluation = out / f"evaluate-{task_name}"
        report = run_evaluation(
            EvaluateConfig(
                explainer=demo.explainer,
                dataset_name=dataset_folder,
                dataset_config=config_name,
                output_dir=str(evaluation),
                split=list(demo.splits),
                baseline=applicable_baselines(task_name),
                max_rows=config.eval_rows,
                seed=config.seed,
                target=target,
            )
        )
        lines += ["", *headline_lines(report), "", f"every metric: {evaluation / 'report.md'}"]
        timings += [f"explain {evaluating - explaining:.0f} s", f"evaluate {time.perf_counter() - evaluating:.0f} s"]
        section = evaluation_section(evaluation, REPORT_ROWS, title=task_name)
        section.notes.insert(
            0,
            f"Dataset {dataset_folder} (config {config_name}) on {config.target}; the shipped "
            f"explainer {demo.explainer} against the baselines on held-out rows.",
        )
        section.examples = examples
    section.preformatted = "\n".join(summary)
    lines += committed_results(config, task_name)
    experiment = Path(config.results) / task_name
    if (experiment / EXPERIMENT_FILE).is_file():
        committed = experiment_section(experiment)
        section.tables += committed.tables
        section.images += committed.images
        section.links += committed.links
    seconds = time.perf_counter() - started
    header = f"== {task_name}: done in {_minutes(seconds)} ({', '.join(timings)}) =="
    return TaskOutcome(task_name, [header, *lines], section, seconds)


def demo_page(config: DemoConfig, outcomes: list[TaskOutcome]) -> ReportPage:
    """The demo's HTML report so far: a section per finished task."""
    pending = [task for task in config.tasks if task not in {o.name for o in outcomes}]
    notes = [
        (
            f"Target {config.target}; the shipped explainers on held-out rows, each row's explanation beside the "
            f"target's ground truth; the committed experiment results from {config.results}/."
        )
    ]
    if pending:
        notes.append(f"Still running: {', '.join(pending)}.")
    return ReportPage(f"self-explain demo on {config.target}", [o.section for o in outcomes], notes)


@contextmanager
def demo_logging(path: Path) -> Iterator[None]:
    """While the demo runs, the package's log goes to ``path`` (INFO and up) and only its warnings to the terminal."""
    package = logging.getLogger("self_explain")
    path.parent.mkdir(parents=True, exist_ok=True)
    to_file = logging.FileHandler(path, encoding="utf-8")
    to_file.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    to_terminal = logging.StreamHandler(sys.stderr)
    to_terminal.setLevel(logging.WARNING)
    to_terminal.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    level, propagate = package.level, package.propagate
    package.setLevel(logging.INFO)
    package.propagate = False
    package.addHandler(to_file)
    package.addHandler(to_terminal)
    try:
        yield
    finally:
        package.removeHandler(to_file)
        package.removeHandler(to_terminal)
        to_file.close()
        package.setLevel(level)
        package.propagate = propagate


def run_demo(config: DemoConfig, echo: Callable[[str], object] | None = None) -> str:
    """Run ``self-explain demo``, echoing each task's summary and rewriting the HTML report as it finishes."""
    echo = echo or functools.partial(print, flush=True)
    started = time.perf_counter()
    out = Path(config.output_dir)
    report, log = out / REPORT_FILE, out / LOG_FILE
    outcomes: list[TaskOutcome] = []
    echo(
        f"self-explain demo on {config.target}: {', '.join(config.tasks)}. Each task's summary follows as it "
        f"finishes; the log is in {log}.\n"
    )
    with demo_logging(log):
        for number, task in enumerate(config.tasks, 1):
            steps = "building its dataset" + (", explaining and evaluating" if get_task(task).demo.explainer else "")
            echo(f"[{number}/{len(config.tasks)}] {task}: {steps} …")
            outcomes.append(run_task(config, task))
            write_page(demo_page(config, outcomes), report)
            echo("\n".join(outcomes[-1].lines) + "\n")
    return "\n".join(
        [
            f"demo finished in {_minutes(time.perf_counter() - started)}",
            f"full report: {report} (open it in a browser: every explained row, the metrics and the plots)",
            f"committed experiment results: {Path(config.results)}/<task>/results.md (not rerun; `make experiment`)",
        ]
    )
