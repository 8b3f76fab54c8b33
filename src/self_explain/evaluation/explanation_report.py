"""``self-explain report``: one self-contained HTML page to browse explanations, from what the other commands wrote.

The input is an evaluation, a dataset or an experiment folder; each becomes a
:class:`~self_explain.evaluation.html_page.ReportSection` (metrics, plot, rows), rendered by :mod:`.html_page`.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from pathlib import Path

from ..tasks import get_task, task_of_dataset
from ..tasks.build import subsample_indices
from ..utils.checks import check_positive
from .html_page import BrowsedRow, ReportPage, ReportSection, ReportTable, image_data_uri, write_page
from .predictions import read_predictions
from .results_markdown import format_metric, headline_table

logger = logging.getLogger(__name__)

EVALUATION_FILE = "report.json"
EXPERIMENT_FILE = "results.json"
SCALING_PLOT = "scaling.png"
REPORT_FILE = "report.html"


@dataclass
class ReportConfig:
    """Options of ``self-explain report``.

    Args:
        input (`str`): An evaluation folder (``self-explain evaluate``'s, with ``report.json``), a dataset folder
            (``self-explain build``'s) or an experiment folder (``results.json`` and ``scaling.png``).
        output (`str`, *optional*): The HTML file written (default: ``report.html`` in an evaluation or experiment
            folder; ``<folder>-report.html`` beside a dataset folder, which stays as published).
        dataset_config (`str`, *optional*): A dataset folder's config to show (default: every config).
        experiment (`str`, *optional*): An experiment folder whose metrics and scaling plot are added to the page.
        max_rows (`int`, *optional*, defaults to 500): Rows shown per split (a seeded subsample of a larger split).

    Raises:
        ValueError: When ``max_rows`` is not a positive integer.
    """

    input: str = field(
        metadata={
            "help": "An evaluation folder (self-explain evaluate's, with report.json), a dataset "
            "folder (self-explain build's) or an experiment folder (results.json)."
        }
    )
    output: str | None = field(
        default=None,
        metadata={
            "help": "The HTML file written (default: report.html in an evaluation or experiment folder; "
            "<folder>-report.html beside a dataset folder)."
        },
    )
    dataset_config: str | None = field(default=None, metadata={"help": "A dataset's config to show (default: all)."})
    experiment: str | None = field(
        default=None, metadata={"help": "An experiment folder whose metrics and scaling plot are added to the page."}
    )
    max_rows: int = field(default=500, metadata={"help": "Rows shown per split (a seeded subsample of a larger one)."})

    def __post_init__(self):
        check_positive("--max_rows", self.max_rows)


def _cell(value, interval) -> str:
    """A metric and its interval, e.g. ``0.250 [0.144, 0.379]``."""
    if value is None or not interval or None in interval:
        return format_metric(value)
    return f"{format_metric(value)} [{interval[0]:.3f}, {interval[1]:.3f}]"


def _verdict(correct) -> str:
    return "" if correct is None else ("correct" if correct else "wrong")


def evaluation_metrics(report: dict) -> list[ReportTable]:
    """One table per split of the headline metrics (explainer and baselines), then one of every metric."""
    results = report["results"]
    names = list(dict.fromkeys(m for r in results for m in r["metrics"]))
    headline = [m for m in get_task(report["task"]).experiment.headline_metrics if m in names] or names[:3]
    tables = []
    for split in dict.fromkeys(r["split"] for r in results):
        rows = [
            [
                f"baseline: {r['baseline']}" if r["baseline"] else "trained explainer",
                str(r["rows"]),
                *(_cell(r["metrics"].get(m), (r.get("intervals") or {}).get(m)) for m in headline),
            ]
            for r in results
            if r["split"] == split
        ]
        tables.append(
            ReportTable(
                f"{split}: headline metrics, 95 % interval over entities", ["explainer", "rows", *headline], rows
            )
        )
    every = [
        [
            r["split"],
            r["baseline"] or "trained",
            *(_cell(r["metrics"].get(m), (r.get("intervals") or {}).get(m)) for m in names),
        ]
        for r in results
    ]
    tables.append(ReportTable("every metric", ["split", "explainer", *names], every, collapsed=True))
    return tables


def evaluation_section(folder: str | Path, max_rows: int = 500, title: str | None = None) -> ReportSection:
    """An evaluation folder as a report section: its metrics, and the trained explainer's rows of each split."""
    folder = Path(folder)
    report = json.loads((folder / EVALUATION_FILE).read_text(encoding="utf-8"))
    rows = []
    for split in dict.fromkeys(r["split"] for r in report["results"]):
        path = folder / f"predictions-{split}.parquet"
        if not path.is_file():
            logger.warning("%s has no predictions of split %s: its rows are not shown", folder, split)
            continue
        predictions = read_predictions(path)
        for index in subsample_indices(len(predictions), max_rows):
            row = predictions[index]
            rows.append(
                BrowsedRow(
                    split=split,
                    index=row["row"],
                    question=row["question"],
                    reference=row["reference"],
                    prediction=row["prediction"],
                    verdict=_verdict(row["correct"]),
                    score=row["row_score"],
                    view=row["view"],
                )
            )
    notes = [
        (
            f"Task {report['task']}, target {report['target']}, dataset {report['dataset']} "
            f"(config {report['dataset_config']})."
        ),
        f"Command: {report.get('command') or '-'}",
    ]
    return ReportSection(
        title or f"{report['task']}: {report['explainer']}", notes=notes, tables=evaluation_metrics(report), rows=rows
    )


def dataset_sections(folder: str | Path, config: str | None = None, max_rows: int = 500) -> list[ReportSection]:
    """A dataset folder as report sections, one per config: its rows with their ground truth (no explainer)."""
    from datasets import load_dataset

    from ..hub.datasets import read_card_configs

    task = task_of_dataset(str(folder))
    configs = [config] if config else [c["config_name"] for c in read_card_configs(Path(folder) / "README.md")]
    sections = []
    for name in configs:
        rows = []
        for split, data in load_dataset(str(folder), name).items():
            for index in subsample_indices(len(data), max_rows):
                row = data[index]
                view = task.row_view(row)
                rows.append(
                    BrowsedRow(split=split, index=index, question=row["question"], reference=row["answer"], view=view)
                )
        sections.append(
            ReportSection(
                f"{task.name} dataset, config {name}",
                rows=rows,
                notes=[f"{folder}: the ground truth of each row (no explainer)."],
            )
        )
    return sections


def experiment_section(folder: str | Path, title: str | None = None) -> ReportSection:
    """An experiment folder as a report section: headline metrics at the largest size and the scaling plot (if any)."""
    folder = Path(folder)
    summary = json.loads((folder / EXPERIMENT_FILE).read_text(encoding="utf-8"))
    lines = headline_table(summary["rows"], summary["splits"], tuple(summary["headline_metrics"]), summary["target"])
    header, *body = [[cell.strip() for cell in line.strip().strip("|").split("|")] for line in lines]
    table = ReportTable(
        "headline metrics at the largest training size, mean [95 % interval over seeds × entities]", header, body[1:]
    )
    plot = folder / SCALING_PLOT
    images = [(f"{summary['task']}: metric by training rows", image_data_uri(plot))] if plot.is_file() else []
    links = [
        (str(folder / name), (folder / name).resolve().as_uri())
        for name in ("results.md", SCALING_PLOT)
        if (folder / name).is_file()
    ]
    return ReportSection(
        title or f"{summary['experiment']} experiment: {summary['task']}",
        tables=[table],
        images=images,
        links=links,
        notes=[f"Target {summary['target']}; seeds {summary['seeds']}; splits {', '.join(summary['splits'])}."],
    )


def default_output(folder: Path) -> Path:
    """``report.html`` inside an evaluation or experiment folder, ``<folder>-report.html`` beside any other."""
    if (folder / EVALUATION_FILE).is_file() or (folder / EXPERIMENT_FILE).is_file():
        return folder / REPORT_FILE
    return folder.parent / f"{folder.name}-{REPORT_FILE}"


def run_report(config: ReportConfig) -> Path:
    """Run ``self-explain report``: read the input folder, write one self-contained HTML page.

    Args:
        config (`ReportConfig`): The options.

    Returns:
        `Path`: The HTML file written.

    Raises:
        FileNotFoundError: When the input (or the experiment) folder does not exist.
        ValueError: When a folder is none of an evaluation, a dataset or an experiment.
    """
    folder = Path(config.input)
    if not folder.is_dir():
        raise FileNotFoundError(f"--input {config.input}: no such folder")
    if (folder / EVALUATION_FILE).is_file():
        sections = [evaluation_section(folder, config.max_rows)]
    elif (folder / EXPERIMENT_FILE).is_file():
        sections = [experiment_section(folder)]
    elif (folder / "README.md").is_file():
        sections = dataset_sections(folder, config.dataset_config, config.max_rows)
    else:
        raise ValueError(
            f"--input {config.input}: neither an evaluation ({EVALUATION_FILE}), an experiment "
            f"({EXPERIMENT_FILE}) nor a dataset folder (README.md card)"
        )
    if config.experiment:
        if not (Path(config.experiment) / EXPERIMENT_FILE).is_file():
            raise FileNotFoundError(f"--experiment {config.experiment}: no {EXPERIMENT_FILE} there")
        sections.append(experiment_section(config.experiment))
    output = Path(config.output) if config.output else default_output(folder)
    write_page(ReportPage(f"self-explain report: {folder.name}", sections), output)
    logger.info("wrote %s", output)
    return output
