"""The privileged-access experiment's summary: mean and 95 % CI over seeds, markdown tables, a scaling plot."""

from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path

from ..core.files import write_atomically
from ..core.models import short_model_name
from ..core.stats import mean_confidence_interval
from ..tasks import get_task

# Where a headline metric lives: the plot clips CI bands to it (the tables keep the t-interval as computed).
METRIC_RANGES = {"simulator_correlation": (-1.0, 1.0), "pooled_correlation": (-1.0, 1.0),
                 "mean_scenario_correlation": (-1.0, 1.0)}

# How a table shows a metric value that could not be computed (a metric's None, e.g. an F1 with nothing to
# compute it over).
NOT_ESTIMABLE = "not estimable"


def format_metric(value) -> str:
    """A metric value in a Markdown table: three decimals, or "not estimable" for None.

    >>> [format_metric(v) for v in (0.12345, 1, None)]
    ['0.123', '1.000', 'not estimable']

    Args:
        value (`float` or None): The value.

    Returns:
        `str`: The cell.
    """
    return NOT_ESTIMABLE if value is None else f"{float(value):.3f}"


def counted(count: int, noun: str, plural: str | None = None) -> str:
    """A count with its noun in the singular or the plural: ``1 seed``, ``2 seeds``.

    Args:
        count (`int`): how many.
        noun (`str`): the noun in the singular.
        plural (`str`, *optional*): the plural, when it is not ``noun + "s"``.

    Returns:
        `str`: ``"{count} {noun}"`` for a count of 1, else ``"{count} {plural}"``.
    """
    return f"{count} {noun if count == 1 else plural or noun + 's'}"


def summarize(results: list[dict], splits: list[str], metrics: tuple[str, ...]) -> list[dict]:
    """One row per (who, training size, split, metric): mean, CI, and the per-seed values.

    Args:
        results (`list[dict]`): The cells' results (``runs/*/result.json``).
        splits (`list[str]`): The scored splits.
        metrics (`tuple[str, ...]`): The metrics summarised (the task's headline metrics).

    Returns:
        `list[dict]`: Rows with ``who``, ``size``, ``split``, ``metric``, ``mean``, ``ci_low``, ``ci_high`` (None
        for one seed), ``n``, ``values``, and the cell's ``kind``, ``self``, ``train_rows`` and ``details``.
        A seed whose value is None (not estimable, e.g. an F1 with no valid answer) is left out of the mean and
        counted in ``not_estimable``; when no seed has a value, ``mean`` is None too.
    """
    groups: dict[tuple, list[float | None]] = defaultdict(list)
    meta: dict[tuple, dict] = {}
    for result in results:
        for split in splits:
            scored = result["splits"].get(split)
            if scored is None:
                continue
            for metric in metrics:
                if metric not in scored["metrics"]:
                    continue
                key = (result["who"], result["size"], split, metric)
                value = scored["metrics"][metric]
                groups[key].append(None if value is None else float(value))
                meta[key] = {"kind": result["kind"], "self": result["self"], "train_rows": result.get("train_rows"),
                             "details": scored.get("details") or {}}
    rows = []
    for key, values in groups.items():
        who, size, split, metric = key
        estimable = [v for v in values if v is not None]
        mean, low, high = mean_confidence_interval(estimable) if estimable else (None, None, None)
        rows.append({"who": who, "size": size, "split": split, "metric": metric,
                     "mean": None if mean is None else round(mean, 4),
                     "ci_low": None if low is None else round(low, 4), "ci_high": None if high is None else round(high, 4),
                     "n": len(values), "not_estimable": len(values) - len(estimable), "values": values, **meta[key]})
    return rows


def _cell(row: dict | None) -> str:
    if row is None:
        return "–"
    if row["mean"] is None:
        return NOT_ESTIMABLE
    text = f"{row['mean']:.3f}"
    if row["ci_low"] is not None:
        text += f" [{row['ci_low']:.3f}, {row['ci_high']:.3f}]"
    if row.get("not_estimable"):  # some seeds had nothing to compute the metric over
        text += f" ({row['n'] - row['not_estimable']} of {counted(row['n'], 'seed')})"
    return text


def _label(row: dict, target: str) -> str:
    name = short_model_name(row["who"])
    if row["kind"] == "explainer":
        return f"{name} (self)" if row["self"] else name
    if row["details"].get("scale") is not None:
        return f"baseline: {name} (scale {row['details']['scale']:g})"
    return f"baseline: {name}"


def _ordered_who(rows: list[dict]) -> list[str]:
    explainers = [r["who"] for r in rows if r["kind"] == "explainer"]
    baselines = [r["who"] for r in rows if r["kind"] == "baseline"]
    return list(dict.fromkeys([*explainers, *baselines]))


def headline_table(rows: list[dict], splits: list[str], metrics: tuple[str, ...], target: str) -> list[str]:
    """Every explainer and baseline at the largest training size (baselines that do not train: as they are).

    Args:
        rows (`list[dict]`): The summary rows (``summarize``).
        splits (`list[str]`): The splits, one column group each.
        metrics (`tuple[str, ...]`): The metrics, one column per split.
        target (`str`): The target model.

    Returns:
        `list[str]`: The lines of a Markdown table, mean [95 % CI] per cell.
    """
    sizes = [r["size"] for r in rows if r["size"] is not None]
    largest = max(sizes) if sizes else None
    index = {(r["who"], r["size"], r["split"], r["metric"]): r for r in rows}
    columns = [(s, m) for s in splits for m in metrics]
    lines = ["| explainer | " + " | ".join(f"{s} {m}" for s, m in columns) + " |", "|---|" + "---|" * len(columns)]
    for who in _ordered_who(rows):
        cells = [index.get((who, largest, s, m)) or index.get((who, None, s, m)) for s, m in columns]
        first = next((c for c in cells if c is not None), None)
        if first is not None:
            lines.append(f"| {_label(first, target)} | " + " | ".join(_cell(c) for c in cells) + " |")
    return lines


def scaling_table(rows: list[dict], split: str, metric: str, target: str) -> list[str]:
    """One metric on one split by training rows: a column per training size, a row per explainer or baseline.

    Baselines that do not train show the same value at every size.

    Args:
        rows (`list[dict]`): The summary rows (``summarize``).
        split (`str`): The split.
        metric (`str`): The metric.
        target (`str`): The target model.

    Returns:
        `list[str]`: The lines of a Markdown table, mean [95 % CI] per cell.
    """
    sizes = sorted({r["size"] for r in rows if r["size"] is not None})
    index = {(r["who"], r["size"]): r for r in rows if r["split"] == split and r["metric"] == metric}
    lines = ["| explainer | " + " | ".join(f"n={s}" for s in sizes) + " |", "|---|" + "---|" * len(sizes)]
    for who in _ordered_who(rows):
        cells = [index.get((who, s)) for s in sizes]
        if all(c is None for c in cells) and (who, None) in index:
            cells = [index[(who, None)]] * len(sizes)  # a baseline that does not train: the same at every size
        first = next((c for c in cells if c is not None), None)
        if first is not None:
            lines.append(f"| {_label(first, target)} | " + " | ".join(_cell(c) for c in cells) + " |")
    return lines


def report_markdown(summary: dict) -> str:
    """The experiment's ``results.md``: the headline table, then a scaling table per split and metric.

    Args:
        summary (`dict`): The summary ``write_report`` writes to ``results.json``.

    Returns:
        `str`: The Markdown.
    """
    splits, metrics, target = summary["splits"], tuple(summary["headline_metrics"]), summary["target"]
    lines = [
        f"# Privileged access: task `{summary['task']}`, target `{target}`",
        "",
        f"Dataset `{summary['dataset']}` config `{summary['dataset_config']}`; {counted(summary['seeds'], 'seed')} per cell; "
        f"mean [95 % CI over seeds]. Largest training size: {max(summary['sizes'])} rows.",
        "",
        "## Self vs. other explainers vs. baselines (largest training size)",
        "",
        *headline_table(summary["rows"], splits, metrics, target),
    ]
    for split in splits:
        for metric in metrics:
            lines += ["", f"## {metric} on {split} by training rows", "",
                      *scaling_table(summary["rows"], split, metric, target)]
    return "\n".join(lines) + "\n"


def plot_scaling(summary: dict, path: Path) -> None:
    """Metric vs. training rows (log x) per explainer with 95 % CI bands; baselines as dashed lines.

    Baselines that do not train are dotted horizontal lines; one panel per split and headline metric.

    Args:
        summary (`dict`): The experiment's summary.
        path (`Path`): The PNG file written.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    splits, metrics = summary["splits"], summary["headline_metrics"]
    figure, axes = plt.subplots(len(splits), len(metrics), figsize=(5 * len(metrics), 3.6 * len(splits)),
                                squeeze=False)
    rows = summary["rows"]
    sizes = sorted({r["size"] for r in rows if r["size"] is not None})
    for i, split in enumerate(splits):
        for j, metric in enumerate(metrics):
            ax = axes[i][j]
            for who in _ordered_who(rows):
                curve = sorted((r for r in rows if r["who"] == who and r["split"] == split and r["metric"] == metric
                                and r["mean"] is not None),  # not estimable: nothing to draw
                               key=lambda r: -1 if r["size"] is None else r["size"])
                if not curve:
                    continue
                label = _label(curve[0], summary["target"])
                if curve[0]["size"] is None:  # untrained, zero-shot, SelfIE: no training data
                    ax.axhline(curve[0]["mean"], linestyle=":", linewidth=1.2, label=label, color=f"C{len(ax.lines)}")
                    continue
                x = [r["size"] for r in curve]
                style = "--" if curve[0]["kind"] == "baseline" else "-"
                (line,) = ax.plot(x, [r["mean"] for r in curve], style, marker="o", label=label)
                if all(r["ci_low"] is not None for r in curve):
                    low, high = METRIC_RANGES.get(metric, (0.0, 1.0))
                    ax.fill_between(x, [max(r["ci_low"], low) for r in curve], [min(r["ci_high"], high) for r in curve],
                                    color=line.get_color(), alpha=0.15)
            low, high = METRIC_RANGES.get(metric, (0.0, 1.0))
            bottom, top = ax.get_ylim()  # at least the metric's whole range: flat curves are not blown up
            ax.set_ylim(min(bottom, low - 0.05 * (high - low)), max(top, high + 0.05 * (high - low)))
            ax.set_xscale("log")
            if sizes:
                ax.set_xticks(sizes, [str(s) for s in sizes])
            ax.set_xlabel("training rows")
            ax.set_ylabel(metric)
            ax.set_title(f"{summary['task']}: {metric} on {split}")
            ax.grid(alpha=0.3)
    handles, labels = axes[0][0].get_legend_handles_labels()
    figure.legend(handles, labels, loc="lower center", ncol=min(4, len(labels)), fontsize=8, frameon=False)
    figure.tight_layout(rect=(0, 0.1 if len(splits) == 1 else 0.07, 1, 1))
    write_atomically(path, lambda tmp: figure.savefig(tmp, format="png", dpi=110))
    plt.close(figure)


def write_report(config, dataset: str, results: list[dict]) -> dict:
    """Write results.json (every run and the summary), results.md and scaling.png in the experiment's folder.

    Args:
        config (`ExperimentConfig`): The experiment.
        dataset (`str`): The explanation dataset used.
        results (`list[dict]`): Every cell's result.

    Returns:
        `dict`: The summary written to ``results.json``.
    """
    out = Path(config.out)
    metrics = get_task(config.task).headline_metrics
    summary = {
        "experiment": "privileged-access",
        "task": config.task,
        "target": config.target,
        "explainers": list(config.explainers),
        "dataset": dataset,
        "dataset_config": config.config_name,
        "sizes": sorted({r["size"] for r in results if r["kind"] == "explainer"}),
        "seeds": config.seeds,
        "splits": list(config.splits),
        "headline_metrics": list(metrics),
        "rows": summarize(results, config.splits, metrics),
        "runs": results,
    }
    write_atomically(out / "results.json", lambda tmp: Path(tmp).write_text(json.dumps(summary, indent=2) + "\n"))
    write_atomically(out / "results.md", lambda tmp: Path(tmp).write_text(report_markdown(summary)))
    plot_scaling(summary, out / "scaling.png")
    return summary
