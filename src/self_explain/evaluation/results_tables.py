"""The table blocks a page can generate from results files (see :mod:`.results_figures` for the markers).

Each is a caption naming its source, a blank line and a Markdown table; summaries render through
:mod:`.results_markdown`, so a README table and ``results.md`` show the same cells.
"""

from __future__ import annotations

from pathlib import Path

from ..core.models import short_model_name
from .results_figures import (
    Marker,
    ResultsReferenceError,
    evaluation_results,
    is_experiment_summary,
    is_named,
    read_json,
    results_files,
    size_option,
    split_and_metric,
    summary_of,
)
from .results_markdown import (
    NOT_ESTIMABLE,
    difference_cell,
    difference_scaling_table,
    difference_table,
    headline_table,
    interval_cell,
    interval_difference_cell,
    marks_legend,
    scaling_table,
)


def _relative(marker: Marker, path: Path) -> str:
    return path.relative_to(marker.root).as_posix()


def _kept(marker: Marker, summary: dict) -> tuple[list[dict], list[dict]]:
    """The summary's rows and differences without the explainers and baselines ``without=`` names."""
    left_out = marker.listed("without")
    rows = [r for r in summary["rows"] if not any(is_named(r["who"], name) for name in left_out)]
    differences = [d for d in summary["differences"] if not any(is_named(d["other"], name) for name in left_out)]
    return rows, differences


def _one_summary(marker: Marker) -> tuple[dict, str]:
    if len(marker.sources) != 1:
        raise ResultsReferenceError(f"`{marker.text}` needs exactly one experiment summary")
    return summary_of(marker, marker.sources[0]), _relative(marker, marker.sources[0])


def scaling_block(marker: Marker) -> list[str]:
    """One metric on one split by training rows, mean [95 % interval], a row per explainer and baseline."""
    summary, source = _one_summary(marker)
    split, metric = split_and_metric(marker, summary)
    rows, _ = _kept(marker, summary)
    return [
        f"`{metric}` on `{split}` by training rows, mean [95 % interval] (`{source}`):",
        "",
        *scaling_table(rows, split, metric, summary["target"]),
    ]


def difference_scaling_block(marker: Marker) -> list[str]:
    """Paired differences self − X of one metric on one split by training rows."""
    summary, source = _one_summary(marker)
    split, metric = split_and_metric(marker, summary)
    rows, differences = _kept(marker, summary)
    family = [d for d in summary.get("differences") or [] if d["split"] == split and d["metric"] == metric]
    caption = (
        f"self − X, `{metric}` on `{split}` by training rows [95 % interval] (`{source}`); "
        f"{marks_legend(family, summary.get('tests'))}"
    )
    return [caption, "", *difference_scaling_table(differences, rows, split, metric, summary["target"])]


def headline_block(marker: Marker) -> list[str]:
    """Every explainer and baseline at the largest training size, a column per split and metric."""
    summary, source = _one_summary(marker)
    metrics = tuple(marker.listed("metrics") or summary["headline_metrics"])
    rows, _ = _kept(marker, summary)
    size = max(summary["sizes"]) if summary["sizes"] else None
    return [
        f"Training size {size}, mean [95 % interval] (`{source}`):",
        "",
        *headline_table(rows, summary["splits"], metrics, summary["target"]),
    ]


def differences_block(marker: Marker) -> list[str]:
    """Paired differences self − X at one training size (default: the largest), a column per split and metric."""
    summary, source = _one_summary(marker)
    metrics = tuple(marker.listed("metrics") or summary["headline_metrics"])
    rows, differences = _kept(marker, summary)
    size = size_option(marker, summary)
    family = [d for d in summary.get("differences") or [] if d["size"] == size]
    caption = (
        f"self − X at training size {size} [95 % interval] (`{source}`); {marks_legend(family, summary.get('tests'))}"
    )
    return [caption, "", *difference_table(differences, rows, summary["splits"], metrics, summary["target"], size)]


def experiment_summaries(root: Path) -> list[Path]:
    """Every committed experiment summary under ``results/``, in path order."""
    return [path for path in results_files(root) if is_experiment_summary(read_json(path))]


def _seeds_by_size(summary: dict) -> dict[int, int]:
    """Per training size, the most seeds any explainer ran."""
    seeds: dict[tuple, set] = {}
    for run in summary.get("runs") or []:
        if run["kind"] == "explainer" and run["size"] is not None:
            seeds.setdefault((run["size"], run["who"], run.get("control")), set()).add(run["seed"])
    by_size: dict[int, int] = {}
    for (size, _, _), drawn in seeds.items():
        by_size[size] = max(by_size.get(size, 0), len(drawn))
    return by_size


def runs_block(marker: Marker) -> list[str]:
    """What each experiment ran: its training sizes, seeds per size, runs and their summed time."""
    sources = marker.sources or experiment_summaries(marker.root)
    lines = [
        "From each experiment's `results.json`:",
        "",
        "| task | target | sizes (training rows) | seeds per size | timed runs | summed run time |",
        "|---|---|---|---|---|---|",
    ]
    for source in sources:
        summary = summary_of(marker, source)
        seeds = _seeds_by_size(summary)
        provenance = summary.get("provenance") or {}
        hours = f"{provenance['run_seconds'] / 3600:.2f} h" if "run_seconds" in provenance else "–"
        page = marker.link_to(source.with_suffix(".md"))
        lines.append(
            f"| [{summary['task']}]({page}) | {short_model_name(summary['target'])} | "
            + ", ".join(f"{s:,}" for s in summary["sizes"])
            + " | "
            + ", ".join(str(seeds.get(s, "–")) for s in summary["sizes"])
            + f" | {provenance.get('timed_runs', '–')} | {hours} |"
        )
    return lines


def _mean_cell(rows: list[dict], who: str, size, split: str, metric: str) -> str:
    """The mean of ``who`` (``self``: the self-explainer) in one cell of a summary, ``–`` when it has none."""
    for row in rows:
        named = row["self"] and row["kind"] == "explainer" if who == "self" else is_named(row["who"], who)
        if named and row["size"] == size and row["split"] == split and row["metric"] == metric:
            return NOT_ESTIMABLE if row["mean"] is None else f"{row['mean']:.3f}"
    return "–"


def summary_block(marker: Marker) -> list[str]:
    """One line per experiment: first headline metric at the largest size for self and ``others``; self − ``versus``.

    Defaults: ``others=toy-twin,toy-other,toy-large``, ``versus=toy-other``, ``split=`` each summary's first split.
    """
    sources = marker.sources or experiment_summaries(marker.root)
    others = marker.listed("others") or ["toy-twin", "toy-other", "toy-large"]
    versus = marker.option("versus", "toy-other")
    chosen_split = marker.option("split")
    where = f"on `{chosen_split}`" if chosen_split else "on its first split"
    lines = [
        f"Each experiment's first headline metric {where}, at its largest training size; the paired difference with "
        "its 95 % interval and its marks in the results table (`*`: different from 0, Holm-adjusted; `≈`: level, "
        "TOST); `–`: not in that experiment:",
        "",
        "| task | target | training rows | metric (split) | self | " + " | ".join(others) + f" | self − {versus} |",
        "|---" * (6 + len(others)) + "|",
    ]
    for source in sources:
        summary = summary_of(marker, source)
        split, metric = chosen_split or summary["splits"][0], summary["headline_metrics"][0]
        if split not in summary["splits"]:
            raise ResultsReferenceError(f"`{marker.text}`: {source.name} has no split {split!r}")
        size = max(summary["sizes"]) if summary["sizes"] else None
        entry = next(
            (
                d
                for d in summary["differences"]
                if is_named(d["other"], versus) and d["size"] == size and d["split"] == split and d["metric"] == metric
            ),
            None,
        )
        difference = difference_cell(entry if entry else None)
        cells = [_mean_cell(summary["rows"], who, size, split, metric) for who in ("self", *others)]
        page = marker.link_to(source.with_suffix(".md"))
        lines.append(
            f"| [{summary['task']}]({page}) | {short_model_name(summary['target'])} | {size:,} | "
            f"{metric} ({split}) | " + " | ".join(cells) + f" | {difference} |"
        )
    return lines


def evaluation_block(marker: Marker) -> list[str]:
    """Evaluation reports as one table: a row per report, split and explainer or baseline (``versus``: differences)."""
    reports = [(source, read_json(source), evaluation_results(marker, source)) for source in marker.sources]
    metrics = marker.listed("metrics") or list(reports[0][2][0]["metrics"])
    baselines, versus, splits = marker.listed("baselines"), marker.option("versus"), marker.listed("splits")
    versus_metric = marker.option("versus_metric", metrics[0])
    header = ["explainer", "split", "rows (entities)", *metrics]
    if versus:
        header.append(f"trained − {versus}, {versus_metric}")
    lines = [
        "From "
        + ", ".join(f"`{_relative(marker, source)}`" for source, _, _ in reports)
        + "; mean [95 % bootstrap interval over entities]"
        + ("; `*`: the paired interval excludes 0" if versus else "")
        + ":",
        "",
        "| " + " | ".join(header) + " |",
        "|---" * len(header) + "|",
    ]
    for _, document, results in reports:
        for result in results:
            if (result["baseline"] and baselines and result["baseline"] not in baselines) or (
                splits and result["split"] not in splits
            ):
                continue
            who = f"baseline: {result['baseline']}" if result["baseline"] else f"{document.get('task', '')}, trained"
            cells = [interval_cell(result["metrics"].get(m), (result.get("intervals") or {}).get(m)) for m in metrics]
            if versus:
                paired = next((r for r in results if r["split"] == result["split"] and r["baseline"] == versus), None)
                entry = (paired.get("trained_minus_baseline") or {}).get(versus_metric) if paired else None
                cells.append(interval_difference_cell(entry) if not result["baseline"] else "")
            size = f"{result['rows']} ({result['groups']})" if result.get("groups") else str(result.get("rows", ""))
            lines.append(f"| {who} | {result['split']} | {size} | " + " | ".join(cells) + " |")
    return lines


def include_block(marker: Marker) -> list[str]:
    """A committed Markdown results file's lines, copied whole (its trailing blank lines left out)."""
    if len(marker.sources) != 1 or marker.sources[0].suffix != ".md":
        raise ResultsReferenceError(f"`{marker.text}` needs exactly one Markdown file")
    return marker.sources[0].read_text(encoding="utf-8").rstrip("\n").split("\n")


TABLES = {
    "scaling": scaling_block,
    "difference-scaling": difference_scaling_block,
    "headline": headline_block,
    "differences": differences_block,
    "runs": runs_block,
    "summary": summary_block,
    "evaluation": evaluation_block,
    "include": include_block,
}
