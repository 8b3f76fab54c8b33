"""The privileged-access experiment's summary: mean and 95 % bootstrap interval per cell, paired differences
self − X with their intervals, markdown tables, a scaling plot.

Intervals come from a seeded bootstrap over seeds × held-out groups (:class:`~self_explain.core.stats.SeedGroupBootstrap`):
each resample draws the seeds with replacement and the scored rows' groups (their entity, else the row) with
replacement, and recomputes each metric from the drawn rows' per-row statistics (:mod:`.row_scores`), so F1 and
pooled correlations are recomputed, not averaged. A paired difference self − X recomputes both members in the same
resamples, on the seeds they share.
"""

from __future__ import annotations

import json
import os
from collections import defaultdict
from pathlib import Path

from ..core.files import write_atomically
from ..core.models import short_model_name
from ..core.stats import BootstrapRun, SeedGroupBootstrap
from ..tasks import get_task
from .row_scores import metric_statistic

# Where a headline metric lives: the plot clips CI bands to it (the tables keep the t-interval as computed).
METRIC_RANGES = {"simulator_correlation": (-1.0, 1.0), "pooled_correlation": (-1.0, 1.0),
                 "mean_scenario_correlation": (-1.0, 1.0)}

# How a table shows a metric value that could not be computed (a metric's None, e.g. an F1 with nothing to
# compute it over).
NOT_ESTIMABLE = "not estimable"

# The bootstrap behind every interval: resamples, and the coverage of the intervals.
BOOTSTRAP_SAMPLES = 2000
LEVEL = 0.95


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


def bootstrap_run(result: dict, split: str) -> BootstrapRun | None:
    """A cell's scored rows on a split as the bootstrap reads them, or None when it kept no per-row scores.

    Args:
        result (`dict`): A cell's result (``runs/*/result.json``).
        split (`str`): The split.

    Returns:
        [`BootstrapRun`] or `None`: The run's seed (None for a cell without seed), each row's group, and its per-row
        statistics.
    """
    per_row = (result["splits"].get(split) or {}).get("per_row")
    if not per_row or not per_row.get("statistics"):
        return None
    return BootstrapRun(result["seed"], [_hashable(g) for g in per_row["group"]], per_row["statistics"])


def _hashable(group):
    return tuple(group) if isinstance(group, list) else group


def _statistic(results: list[dict], split: str, metric: str):
    """How ``metric`` is recomputed from the per-row statistics the cells kept on ``split``; None when it cannot be."""
    modules = {r["splits"][split]["per_row"].get("metric") for r in results}
    if len(modules) != 1:
        return None
    columns = set.intersection(*(set(r["splits"][split]["per_row"]["statistics"]) for r in results))
    return metric_statistic(modules.pop(), metric, columns)


def _bootstrap_over(results: list[dict], split: str, samples: int, seed: int) -> SeedGroupBootstrap:
    seeds = list(dict.fromkeys(r["seed"] for r in results if r["seed"] is not None))
    groups = list(dict.fromkeys(_hashable(g) for r in results for g in r["splits"][split]["per_row"]["group"]))
    return SeedGroupBootstrap(seeds, groups, samples=samples, seed=seed)


def _rounded(value: float | None) -> float | None:
    return None if value is None else round(value, 4)


def summarize(results: list[dict], splits: list[str], metrics: tuple[str, ...], samples: int = BOOTSTRAP_SAMPLES,
              seed: int = 0) -> list[dict]:
    """One row per (who, training size, split, metric): mean, 95 % bootstrap interval, and the per-seed values.

    The interval resamples seeds and the scored rows' groups (seeds × groups, see
    :class:`~self_explain.core.stats.SeedGroupBootstrap`) and recomputes the metric from the rows' per-row
    statistics. A cell whose results kept no per-row scores gets the mean over seeds and no interval.

    Args:
        results (`list[dict]`): The cells' results (``runs/*/result.json``).
        splits (`list[str]`): The scored splits.
        metrics (`tuple[str, ...]`): The metrics summarised (the task's headline metrics).
        samples (`int`, *optional*, defaults to `BOOTSTRAP_SAMPLES`): Bootstrap resamples.
        seed (`int`, *optional*, defaults to 0): Seed of the bootstrap (the same seed gives the same intervals).

    Returns:
        `list[dict]`: Rows with ``who``, ``size``, ``split``, ``metric``, ``mean``, ``ci_low``, ``ci_high`` (None
        without per-row scores), ``interval`` (``"bootstrap"`` or None), ``n`` (seeds), ``values`` (each seed's
        metric as its run reported it), ``scored_rows`` and ``groups`` (rows and groups scored per run), and the
        cell's ``kind``, ``self``, ``train_rows`` and ``details``. A seed whose value is None (not estimable, e.g.
        an F1 with no valid answer) is left out of the mean and counted in ``not_estimable``; when no seed has a
        value, ``mean`` and the interval are None ("not estimable"), never 0 with [0, 0].
    """
    groups: dict[tuple, list[dict]] = defaultdict(list)
    for result in results:
        for split in splits:
            scored = result["splits"].get(split)
            if scored is None:
                continue
            for metric in metrics:
                if metric in scored["metrics"]:
                    groups[(result["who"], result["size"], split, metric)].append(result)
    rows = []
    for key, cell_results in groups.items():
        who, size, split, metric = key
        values = [reported_value(r, split, metric) for r in cell_results]
        estimable = [v for v in values if v is not None]
        runs = [bootstrap_run(r, split) for r in cell_results]
        statistic = _statistic(cell_results, split, metric) if all(runs) else None
        if statistic is not None:
            bootstrap = _bootstrap_over(cell_results, split, samples, seed)
            mean, low, high = bootstrap.interval(runs, statistic, LEVEL)
            interval = "bootstrap"
        else:
            mean = sum(estimable) / len(estimable) if estimable else None
            low = high = interval = None
        last = cell_results[-1]
        scored = last["splits"][split]
        per_row = scored.get("per_row") or {}
        rows.append({"who": who, "size": size, "split": split, "metric": metric, "mean": _rounded(mean),
                     "ci_low": _rounded(low), "ci_high": _rounded(high), "interval": interval,
                     "n": len(values), "not_estimable": len(values) - len(estimable), "values": values,
                     "scored_rows": scored.get("rows"),
                     "groups": len(set(map(_hashable, per_row["group"]))) if per_row.get("group") else None,
                     "kind": last["kind"], "self": last["self"], "train_rows": last.get("train_rows"),
                     "details": scored.get("details") or {}})
    return rows


def reported_value(result: dict, split: str, metric: str) -> float | None:
    """A run's reported value of a metric on a split; None when not estimable.

    Args:
        result (`dict`): A cell's result.
        split (`str`): The split.
        metric (`str`): The metric.

    Returns:
        `float` or `None`: The value.
    """
    value = result["splits"][split]["metrics"][metric]
    return None if value is None else float(value)


def self_explainer(results: list[dict], target: str) -> str | None:
    """Who explains itself: the trained explainer whose base is the target (``self`` in its results).

    Args:
        results (`list[dict]`): The cells' results.
        target (`str`): The target model.

    Returns:
        `str` or `None`: Its ``who``; None when no such explainer ran.
    """
    selves = list(dict.fromkeys(r["who"] for r in results if r["kind"] == "explainer" and r["self"]))
    if target in selves:
        return target
    return selves[0] if selves else None


def paired_differences(results: list[dict], splits: list[str], metrics: tuple[str, ...], target: str,
                       samples: int = BOOTSTRAP_SAMPLES, seed: int = 0) -> list[dict]:
    """For each training size of the self-explainer and each other explainer, control or baseline X: self − X.

    X is taken at the same training size (seeded cells, paired seed by seed on the seeds both have) or, for a
    baseline that does not train, as it is (against every seed of self). Both members are recomputed in the same
    bootstrap resamples (seeds × groups), which gives the difference's interval.

    Args:
        results (`list[dict]`): The cells' results.
        splits (`list[str]`): The scored splits.
        metrics (`tuple[str, ...]`): The metrics compared.
        target (`str`): The target model (self is the explainer whose base it is).
        samples (`int`, *optional*, defaults to `BOOTSTRAP_SAMPLES`): Bootstrap resamples.
        seed (`int`, *optional*, defaults to 0): Seed of the bootstrap.

    Returns:
        `list[dict]`: Rows with ``self``, ``other``, ``other_kind``, ``size``, ``other_size`` (None for a baseline
        that does not train), ``split``, ``metric``, ``seeds`` (seeds compared), ``difference``, ``ci_low``,
        ``ci_high`` and ``excludes_zero`` (whether the interval lies above or below 0). ``difference`` and the
        interval are None where either side is not estimable; the interval (and ``excludes_zero``) is None, with
        the difference of the means, where a cell kept no per-row scores.
    """
    me = self_explainer(results, target)
    if me is None:
        return []
    by_cell: dict[tuple, list[dict]] = defaultdict(list)
    for result in results:
        by_cell[(result["who"], result["size"])].append(result)
    others = [w for w in dict.fromkeys(r["who"] for r in results if r["kind"] == "explainer") if w != me]
    others += [w for w in dict.fromkeys(r["who"] for r in results if r["kind"] == "baseline") if w != me]
    sizes = sorted({r["size"] for r in results if r["who"] == me and r["size"] is not None})
    differences = []
    for size in sizes:
        for other in others:
            other_size = size if (other, size) in by_cell else None
            if (other, other_size) not in by_cell:
                continue
            mine, theirs = by_cell[(me, size)], by_cell[(other, other_size)]
            if other_size is not None:  # paired seed by seed
                shared = {r["seed"] for r in mine} & {r["seed"] for r in theirs}
                mine = [r for r in mine if r["seed"] in shared]
                theirs = [r for r in theirs if r["seed"] in shared]
            if not mine or not theirs:
                continue
            for split in splits:
                for metric in metrics:
                    entry = _difference(mine, theirs, split, metric, samples, seed)
                    if entry is not None:
                        differences.append({"self": me, "other": other, "other_kind": theirs[0]["kind"], "size": size,
                                            "other_size": other_size, "split": split, "metric": metric,
                                            "seeds": len({r["seed"] for r in mine}), **entry})
    return differences


def _difference(mine: list[dict], theirs: list[dict], split: str, metric: str, samples: int, seed: int) -> dict | None:
    both = mine + theirs
    if any(split not in r["splits"] or metric not in r["splits"][split]["metrics"] for r in both):
        return None
    runs_a, runs_b = [bootstrap_run(r, split) for r in mine], [bootstrap_run(r, split) for r in theirs]
    statistic = _statistic(both, split, metric) if all(runs_a) and all(runs_b) else None
    if statistic is not None:
        bootstrap = _bootstrap_over(both, split, samples, seed)
        difference, low, high = bootstrap.paired_difference(runs_a, runs_b, statistic, LEVEL)
    else:  # no per-row scores: the difference of the means over seeds, without interval
        means = []
        for cell in (mine, theirs):
            values = [v for v in (reported_value(r, split, metric) for r in cell) if v is not None]
            means.append(sum(values) / len(values) if values else None)
        difference = None if None in means else means[0] - means[1]
        low = high = None
    excludes = None if low is None or high is None else bool(low > 0 or high < 0)
    return {"difference": _rounded(difference), "ci_low": _rounded(low), "ci_high": _rounded(high),
            "excludes_zero": excludes}


def _with_interval(value: float | None, low: float | None, high: float | None, spec: str) -> str:
    """A value and its interval, e.g. ``0.412 [0.380, 0.441]``; "not estimable" without a value."""
    if value is None:
        return NOT_ESTIMABLE
    text = f"{value:{spec}}"
    if low is not None:
        text += f" [{low:{spec}}, {high:{spec}}]"
    return text


def _cell(row: dict | None) -> str:
    if row is None:
        return "–"
    text = _with_interval(row["mean"], row["ci_low"], row["ci_high"], ".3f")
    if row["mean"] is None:
        return text
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


def _difference_cell(entry: dict | None) -> str:
    if entry is None:
        return "–"
    text = _with_interval(entry["difference"], entry["ci_low"], entry["ci_high"], "+.3f")
    if entry["excludes_zero"]:
        text += " *"
    return text


def _other_labels(differences: list[dict], rows: list[dict], target: str) -> dict[str, str]:
    """Each compared X's table label, as the headline table names it."""
    labels = {}
    for entry in differences:
        if entry["other"] in labels:
            continue
        row = next((r for r in rows if r["who"] == entry["other"] and r["size"] == entry["other_size"]), None)
        labels[entry["other"]] = _label(row, target) if row is not None else short_model_name(entry["other"])
    return labels


def difference_table(differences: list[dict], rows: list[dict], splits: list[str], metrics: tuple[str, ...],
                     target: str, size: int | None = None) -> list[str]:
    """Paired differences self − X at one training size: a row per X, a column per split and metric.

    Args:
        differences (`list[dict]`): The paired differences (``paired_differences``).
        rows (`list[dict]`): The summary rows (``summarize``), for the labels.
        splits (`list[str]`): The splits, one column group each.
        metrics (`tuple[str, ...]`): The metrics, one column per split.
        target (`str`): The target model.
        size (`int`, *optional*): The self-explainer's training size (default: the largest).

    Returns:
        `list[str]`: The lines of a Markdown table: difference [95 % interval], ``*`` when the interval excludes 0.
    """
    sizes = sorted({d["size"] for d in differences})
    if size is None:
        size = sizes[-1] if sizes else None
    index = {(d["other"], d["split"], d["metric"]): d for d in differences if d["size"] == size}
    columns = [(s, m) for s in splits for m in metrics]
    lines = ["| self − X | " + " | ".join(f"{s} {m}" for s, m in columns) + " |", "|---|" + "---|" * len(columns)]
    labels = _other_labels(differences, rows, target)
    for other in dict.fromkeys(d["other"] for d in differences if d["size"] == size):
        lines.append(f"| {labels[other]} | " + " | ".join(_difference_cell(index.get((other, s, m))) for s, m in columns)
                     + " |")
    return lines


def difference_scaling_table(differences: list[dict], rows: list[dict], split: str, metric: str,
                             target: str) -> list[str]:
    """Paired differences self − X of one metric on one split by training size: a row per X, a column per size.

    Args:
        differences (`list[dict]`): The paired differences (``paired_differences``).
        rows (`list[dict]`): The summary rows (``summarize``), for the labels.
        split (`str`): The split.
        metric (`str`): The metric.
        target (`str`): The target model.

    Returns:
        `list[str]`: The lines of a Markdown table: difference [95 % interval], ``*`` when the interval excludes 0.
    """
    chosen = [d for d in differences if d["split"] == split and d["metric"] == metric]
    sizes = sorted({d["size"] for d in chosen})
    index = {(d["other"], d["size"]): d for d in chosen}
    lines = ["| self − X | " + " | ".join(f"n={s}" for s in sizes) + " |", "|---|" + "---|" * len(sizes)]
    labels = _other_labels(differences, rows, target)
    for other in dict.fromkeys(d["other"] for d in chosen):
        lines.append(f"| {labels[other]} | " + " | ".join(_difference_cell(index.get((other, s))) for s in sizes) + " |")
    return lines


def run_lines(summary: dict) -> list[str]:
    """The lines of ``results.md`` that say how complete the results are and how they were made.

    Args:
        summary (`dict`): The summary ``write_report`` writes to ``results.json``.

    Returns:
        `list[str]`: The lines (none for a summary without the fields).
    """
    lines = []
    completed = summary.get("completed_runs")
    if completed and completed["finished"] < completed["planned"]:
        lines.append(f"**Partial results:** {completed['finished']} of the {completed['planned']} planned explainer "
                     "runs have finished; the experiment is resumable and the rest are still to run.")
    provenance = summary.get("provenance")
    if provenance:
        machine = provenance["machine"]
        lines.append(f"Command: `{provenance['command']}`; machine: {machine['platform']}, {machine['cpu_count']} CPUs, "
                     f"{machine['torch_threads']} torch threads, torch {machine['torch']}; "
                     f"{provenance['run_seconds'] / 3600:.2f} h summed over {provenance['timed_runs']} timed runs.")
    return [*lines, ""] if lines else []


def report_markdown(summary: dict) -> str:
    """The experiment's ``results.md``: the headline and paired-difference tables, then both by training size.

    Args:
        summary (`dict`): The summary ``write_report`` writes to ``results.json``.

    Returns:
        `str`: The Markdown.
    """
    splits, metrics, target = summary["splits"], tuple(summary["headline_metrics"]), summary["target"]
    bootstrap = summary.get("bootstrap") or {}
    differences = summary.get("differences") or []
    groups = {"entity": "held-out entities", "row": "scored rows (the dataset has no entity column)"}.get(
        bootstrap.get("groups"), "scored rows")
    interval = (f"95 % interval from a bootstrap over seeds × {groups}, {bootstrap.get('samples', BOOTSTRAP_SAMPLES)} "
                f"resamples, seed {bootstrap.get('seed', 0)}; each metric recomputed on the rows drawn")
    lines = [
        f"# Privileged access: task `{summary['task']}`, target `{target}`",
        "",
        f"Dataset `{summary['dataset']}` config `{summary['dataset_config']}`; {counted(summary['seeds'], 'seed')} per cell; "
        f"mean [{interval}]. Largest training size: {max(summary['sizes'])} rows. \"{NOT_ESTIMABLE}\": the metric "
        "has no valid answer to be computed over.",
        "",
        *run_lines(summary),
        "## Self vs. other explainers vs. baselines (largest training size)",
        "",
        *headline_table(summary["rows"], splits, metrics, target),
    ]
    me = next((d["self"] for d in differences), None)
    if differences:
        lines += ["", f"## Paired differences self − X (self: {short_model_name(me)}; largest training size)", "",
                  f"self − X [95 % interval], both recomputed in the same resamples (seed by seed for X trained on "
                  "the same subsamples); `*`: the interval excludes 0.", "",
                  *difference_table(differences, summary["rows"], splits, metrics, target)]
    for split in splits:
        for metric in metrics:
            lines += ["", f"## {metric} on {split} by training rows", "",
                      *scaling_table(summary["rows"], split, metric, target)]
            if any(d["split"] == split and d["metric"] == metric for d in differences):
                lines += ["", f"### self − X: {metric} on {split} by training rows", "",
                          *difference_scaling_table(differences, summary["rows"], split, metric, target)]
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
    legend = {}  # every panel's curves, by label: a panel may be empty (a metric not estimable anywhere)
    for ax in axes.flat:
        for handle, label in zip(*ax.get_legend_handles_labels()):
            legend.setdefault(label, handle)
    if legend:
        figure.legend(list(legend.values()), list(legend), loc="lower center", ncol=min(4, len(legend)), fontsize=8,
                      frameon=False)
    figure.tight_layout(rect=(0, 0.1 if len(splits) == 1 else 0.07, 1, 1))
    write_atomically(path, lambda tmp: figure.savefig(tmp, format="png", dpi=110))
    plt.close(figure)


def group_kind(results: list[dict]) -> str | None:
    """What the bootstrap resampled as groups: ``"entity"`` when the scored rows carry entities, else ``"row"``.

    Args:
        results (`list[dict]`): The cells' results.

    Returns:
        `str` or `None`: ``"entity"``, ``"row"`` (each row its own group), or None when no cell kept per-row scores.
    """
    kinds = set()
    for result in results:
        for scored in result["splits"].values():
            per_row = scored.get("per_row")
            if per_row and per_row.get("group") is not None:
                kinds.add("row" if list(per_row["group"]) == list(per_row.get("index", [])) else "entity")
    return "entity" if "entity" in kinds else ("row" if kinds else None)


def without_per_row(result: dict) -> dict:
    """A cell's result without its per-row scores (they stay in ``runs/*/result.json``; results.json stays small).

    Args:
        result (`dict`): A cell's result.

    Returns:
        `dict`: A copy whose splits keep ``metrics``, ``details`` and ``rows`` only.
    """
    splits = {split: {k: v for k, v in scored.items() if k != "per_row"} for split, scored in result["splits"].items()}
    return {**result, "splits": splits}


def run_provenance(results: list[dict]) -> dict:
    """How the results were made: the command, the machine, and the compute the runs took.

    A resumed experiment spans several sittings, so the time is the sum of the runs' own times (training and
    scoring, as each run measured it) rather than one wall-clock interval.

    Args:
        results (`list[dict]`): Every cell's result.

    Returns:
        `dict`: ``command``, ``machine`` (platform, processor count, torch threads, torch and transformers
        versions), ``run_seconds`` (summed over runs that recorded their time) and ``timed_runs``.
    """
    import platform
    import sys

    import torch
    import transformers

    timed = [r["seconds"] for r in results if "seconds" in r]
    return {
        "command": " ".join(["self-explain", *sys.argv[1:]]) if sys.argv[0].endswith("self-explain") else " ".join(sys.argv),
        "machine": {"platform": platform.platform(), "processor": platform.processor() or platform.machine(),
                    "cpu_count": os.cpu_count(), "torch_threads": torch.get_num_threads(),
                    "torch": torch.__version__, "transformers": transformers.__version__},
        "run_seconds": round(sum(timed), 1),
        "timed_runs": len(timed),
    }


def write_report(config, dataset: str, results: list[dict], planned_runs: int | None = None) -> dict:
    """Write results.json (every run and the summary), results.md and scaling.png in the experiment's folder.

    Args:
        config (`ExperimentConfig`): The experiment.
        dataset (`str`): The explanation dataset used.
        results (`list[dict]`): Every cell's result.
        planned_runs (`int`, *optional*): How many explainer and control runs the experiment plans (recorded with
            how many of them ``results`` holds; default: as many as it holds).

    Returns:
        `dict`: The summary written to ``results.json``.
    """
    out = Path(config.out)
    finished_runs = sum(r["kind"] == "explainer" for r in results)
    metrics = get_task(config.task).headline_metrics
    seed = getattr(config, "seed", 0)
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
        "bootstrap": {"samples": BOOTSTRAP_SAMPLES, "seed": seed, "level": LEVEL, "groups": group_kind(results),
                      "resampled": "seeds and groups with replacement, crossed (one draw of groups for every seed)"},
        "rows": summarize(results, config.splits, metrics, BOOTSTRAP_SAMPLES, seed),
        "differences": paired_differences(results, config.splits, metrics, config.target, BOOTSTRAP_SAMPLES, seed),
        "runs": [without_per_row(r) for r in results],
        "provenance": run_provenance(results),
        "completed_runs": {"finished": finished_runs, "planned": finished_runs if planned_runs is None else planned_runs},
    }
    write_atomically(out / "results.json", lambda tmp: Path(tmp).write_text(json.dumps(summary, indent=2) + "\n"))
    write_atomically(out / "results.md", lambda tmp: Path(tmp).write_text(report_markdown(summary)))
    plot_scaling(summary, out / "scaling.png")
    return summary
