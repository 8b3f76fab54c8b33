"""The privileged-access experiment's ``results.md``, rendered from the summary in ``results.json`` alone.

A summary without p-values still renders: its differences are then marked by their interval alone.
"""

from __future__ import annotations

from ..core.models import short_model_name
from ..utils.significance import ALPHA

# How a table shows a metric value that could not be computed (a metric's None, e.g. an F1 with nothing to
# compute it over).
NOT_ESTIMABLE = "not estimable"

# The marks of a paired difference self − X.
DIFFERENT = "*"  # shown different from 0: survives Holm's adjustment within its table
LEVEL = "≈"  # shown level: equivalent within ± the margin (TOST)


def format_metric(value) -> str:
    """A metric value in a Markdown table: three decimals, or "not estimable" for None.

    >>> [format_metric(v) for v in (0.12345, 1, None)]
    ['0.123', '1.000', 'not estimable']
    """
    return NOT_ESTIMABLE if value is None else f"{float(value):.3f}"


def counted(count: int, noun: str, plural: str | None = None) -> str:
    """A count with its noun in the singular or the plural: ``1 seed``, ``2 seeds``."""
    return f"{count} {noun if count == 1 else plural or noun + 's'}"


def with_interval(value: float | None, low: float | None, high: float | None, spec: str = ".3f") -> str:
    """A value and its interval in a Markdown cell or text: the value alone when either bound is missing.

    >>> with_interval(0.4123, 0.38, 0.441), with_interval(0.4123, None, None), with_interval(None, 0.1, 0.2)
    ('0.412 [0.380, 0.441]', '0.412', 'not estimable')
    """
    if value is None:
        return NOT_ESTIMABLE
    text = f"{value:{spec}}"
    if low is not None and high is not None:
        text += f" [{low:{spec}}, {high:{spec}}]"
    return text


def interval_cell(value: float | None, interval: list | None) -> str:
    """A metric of an evaluation report with its interval (``[low, high]``, or None), three decimals."""
    return with_interval(value, *(interval or (None, None)))


def interval_difference_cell(entry: list | None, separator: str = " ") -> str:
    """A paired difference of an evaluation report (difference, low, high) with ``*`` when its interval excludes 0.

    >>> interval_difference_cell([0.2, 0.05, 0.31]), interval_difference_cell([0.02, -0.1, 0.1])
    ('+0.200 [+0.050, +0.310] *', '+0.020 [-0.100, +0.100]')
    >>> interval_difference_cell([0.2, 0.05, 0.31], separator=""), interval_difference_cell(None)
    ('+0.200 [+0.050, +0.310]*', '')
    """
    if not entry:
        return ""
    difference, low, high = entry
    if difference is None:
        return NOT_ESTIMABLE
    excludes_zero = low is not None and high is not None and (low > 0 or high < 0)
    return f"{difference:+.3f} [{low:+.3f}, {high:+.3f}]" + (f"{separator}{DIFFERENT}" if excludes_zero else "")


def _cell(row: dict | None) -> str:
    """A summary row's cell: mean [interval], with how many seeds could estimate it when not all could."""
    if row is None:
        return "–"
    text = with_interval(row["mean"], row["ci_low"], row["ci_high"])
    if row["mean"] is None:
        return text
    if row.get("not_estimable"):  # some seeds had nothing to compute the metric over
        text += f" ({row['n'] - row['not_estimable']} of {counted(row['n'], 'seed')})"
    return text


def explainer_label(row: dict) -> str:
    """A summary row's name in tables, plots: short name, ``(self)``, or ``baseline: <name>`` (SelfIE: its scale)."""
    name = short_model_name(row["who"])
    if row["kind"] == "explainer":
        return f"{name} (self)" if row["self"] else name
    if row["details"].get("scale") is not None:
        return f"baseline: {name} (scale {row['details']['scale']:g})"
    return f"baseline: {name}"


def ordered_who(rows: list[dict]) -> list[str]:
    """The self-explainer, the other explainers and controls in order of appearance, then the baselines."""
    explainers = [r["who"] for r in rows if r["kind"] == "explainer" and r["self"]]
    explainers += [r["who"] for r in rows if r["kind"] == "explainer"]
    baselines = [r["who"] for r in rows if r["kind"] == "baseline"]
    return list(dict.fromkeys([*explainers, *baselines]))


def _largest_size(rows: list[dict]) -> int | None:
    sizes = [r["size"] for r in rows if r["size"] is not None]
    return max(sizes) if sizes else None


def headline_table(rows: list[dict], splits: list[str], metrics: tuple[str, ...], target: str) -> list[str]:
    """Markdown table of every explainer and baseline at the largest training size, mean [95 % CI] per cell."""
    largest = _largest_size(rows)
    index = {(r["who"], r["size"], r["split"], r["metric"]): r for r in rows}
    columns = [(s, m) for s in splits for m in metrics]
    lines = ["| explainer | " + " | ".join(f"{s} {m}" for s, m in columns) + " |", "|---|" + "---|" * len(columns)]
    for who in ordered_who(rows):
        cells = [index.get((who, largest, s, m)) or index.get((who, None, s, m)) for s, m in columns]
        first = next((c for c in cells if c is not None), None)
        if first is not None:
            lines.append(f"| {explainer_label(first)} | " + " | ".join(_cell(c) for c in cells) + " |")
    return lines


def metrics_table(rows: list[dict], split: str, metrics: list[str], target: str) -> list[str]:
    """Markdown table of every metric on one split: a row per metric, a column per explainer, control or baseline."""
    largest = _largest_size(rows)
    index = {(r["who"], r["metric"]): r for r in rows if r["split"] == split and r["size"] in (largest, None)}
    first_row: dict[str, dict] = {}
    for (who, _), row in index.items():
        first_row.setdefault(who, row)
    columns = [who for who in ordered_who(rows) if who in first_row]
    lines = [
        "| metric | " + " | ".join(explainer_label(first_row[w]) for w in columns) + " |",
        "|---|" + "---|" * len(columns),
    ]
    for metric in metrics:
        cells = [index.get((who, metric)) for who in columns]
        if any(c is not None for c in cells):
            lines.append(f"| {metric} | " + " | ".join(_cell(c) for c in cells) + " |")
    return lines


def scaling_table(rows: list[dict], split: str, metric: str, target: str) -> list[str]:
    """Markdown table of one metric on one split: a column per training size, a row per explainer or baseline."""
    sizes = sorted({r["size"] for r in rows if r["size"] is not None})
    index = {(r["who"], r["size"]): r for r in rows if r["split"] == split and r["metric"] == metric}
    lines = ["| explainer | " + " | ".join(f"n={s}" for s in sizes) + " |", "|---|" + "---|" * len(sizes)]
    for who in ordered_who(rows):
        cells = [index.get((who, s)) for s in sizes]
        if all(c is None for c in cells) and (who, None) in index:
            cells = [index[(who, None)]] * len(sizes)  # a baseline that does not train: the same at every size
        first = next((c for c in cells if c is not None), None)
        if first is not None:
            lines.append(f"| {explainer_label(first)} | " + " | ".join(_cell(c) for c in cells) + " |")
    return lines


def difference_marks(entry: dict, holm_key: str = "p_holm", alpha: float = ALPHA) -> str:
    """``*`` (Holm-adjusted p ≤ ``alpha``), ``≈`` (TOST p ≤ ``alpha``), both, or none for a paired difference.

    Without p-values (an older summary) a difference is marked ``*`` when its interval excludes 0.
    """
    if "p_value" not in entry:
        return DIFFERENT if entry.get("excludes_zero") else ""
    marks = []
    if entry.get(holm_key) is not None and entry[holm_key] <= alpha:
        marks.append(DIFFERENT)
    if entry.get("p_equivalence") is not None and entry["p_equivalence"] <= alpha:
        marks.append(LEVEL)
    return " ".join(marks)


def difference_cell(entry: dict | None, holm_key: str = "p_holm", alpha: float = ALPHA) -> str:
    """A paired difference self − X: difference [interval] and its marks; "–" without an entry."""
    if entry is None:
        return "–"
    text = with_interval(entry["difference"], entry["ci_low"], entry["ci_high"], "+.3f")
    marks = difference_marks(entry, holm_key, alpha) if entry["difference"] is not None else ""
    return f"{text} {marks}" if marks else text


def _other_labels(differences: list[dict], rows: list[dict]) -> dict[str, str]:
    """Each compared X's table label, as the headline table names it."""
    labels = {}
    for entry in differences:
        if entry["other"] in labels:
            continue
        row = next((r for r in rows if r["who"] == entry["other"] and r["size"] == entry["other_size"]), None)
        labels[entry["other"]] = explainer_label(row) if row is not None else short_model_name(entry["other"])
    return labels


def difference_table(
    differences: list[dict],
    rows: list[dict],
    splits: list[str],
    metrics: tuple[str, ...],
    target: str,
    size: int | None = None,
    alpha: float = ALPHA,
) -> list[str]:
    """Markdown table of the differences self − X at one size (default: the largest); marks use ``p_holm``."""
    sizes = sorted({d["size"] for d in differences})
    if size is None:
        size = sizes[-1] if sizes else None
    index = {(d["other"], d["split"], d["metric"]): d for d in differences if d["size"] == size}
    columns = [(s, m) for s in splits for m in metrics]
    lines = ["| self − X | " + " | ".join(f"{s} {m}" for s, m in columns) + " |", "|---|" + "---|" * len(columns)]
    labels = _other_labels(differences, rows)
    for other in dict.fromkeys(d["other"] for d in differences if d["size"] == size):
        cells = [difference_cell(index.get((other, s, m)), "p_holm", alpha) for s, m in columns]
        lines.append(f"| {labels[other]} | " + " | ".join(cells) + " |")
    return lines


def difference_scaling_table(
    differences: list[dict], rows: list[dict], split: str, metric: str, target: str, alpha: float = ALPHA
) -> list[str]:
    """Markdown table of the differences self − X of one metric by training size; marks use ``p_holm_by_size``."""
    chosen = [d for d in differences if d["split"] == split and d["metric"] == metric]
    sizes = sorted({d["size"] for d in chosen})
    index = {(d["other"], d["size"]): d for d in chosen}
    lines = ["| self − X | " + " | ".join(f"n={s}" for s in sizes) + " |", "|---|" + "---|" * len(sizes)]
    labels = _other_labels(differences, rows)
    for other in dict.fromkeys(d["other"] for d in chosen):
        cells = [difference_cell(index.get((other, s)), "p_holm_by_size", alpha) for s in sizes]
        lines.append(f"| {labels[other]} | " + " | ".join(cells) + " |")
    return lines


def marks_legend(family: list[dict], tests: dict | None, full: bool = True) -> str:
    """What a difference table's marks mean: the tests, their level, the family (``full=False``: the family only)."""
    if not tests or not any("p_value" in d for d in family):
        return (
            f"`{DIFFERENT}`: the 95 % interval excludes 0 (not adjusted for multiplicity, and no equivalence "
            "test: no p-values are recorded for these differences)."
        )
    alpha, margin = tests["alpha"], tests["equivalence_margin"]
    tested = counted(sum(d.get("p_value") is not None for d in family), "tested difference")
    if not full:
        return (
            f"`{DIFFERENT}`: Holm-adjusted over this table's {tested}; `{DIFFERENT}` and `{LEVEL}` (within "
            f"±{margin:g}) as defined above."
        )
    return (
        f"`{DIFFERENT}`: shown different from 0 — the two-sided bootstrap p-value, Holm-adjusted over this "
        f"table's {tested}, is at most {alpha:g}. `{LEVEL}`: shown level — equivalent within ±{margin:g} by TOST "
        f"at {alpha:g} (the {100 * (1 - 2 * alpha):g} % interval lies inside ±{margin:g}; each difference on its "
        "own, not adjusted). No mark: neither shown; an interval that includes 0 does not by itself make a "
        f"difference level. Both marks: different from 0, yet within ±{margin:g}. Each table of differences is "
        "its own family of tests."
    )


def run_lines(summary: dict) -> list[str]:
    """The lines of ``results.md`` that say how complete the results are and how they were made."""
    lines = []
    completed = summary.get("completed_runs")
    if completed and completed["finished"] < completed["planned"]:
        lines.append(
            f"**Partial results:** {completed['finished']} of the {completed['planned']} planned explainer "
            "runs have finished; the experiment is resumable and the rest are still to run."
        )
    provenance = summary.get("provenance")
    if provenance:
        machine = provenance["machine"]
        lines.append(
            f"Command: `{provenance['command']}`; machine: {machine['platform']}, "
            f"{machine['cpu_count']} CPUs, {machine['torch_threads']} torch threads, "
            f"torch {machine['torch']}; "
            f"{provenance['run_seconds'] / 3600:.2f} h summed over {provenance['timed_runs']} timed runs."
        )
        revisions = provenance.get("model_revisions")
        if revisions:
            models = "; ".join(f"{name} {', '.join(f'`{r}`' for r in revs)}" for name, revs in revisions.items())
            commits = ", ".join(
                f"`{c[:12]}{'+dirty' if c.endswith('+dirty') else ''}`" for c in provenance["package"]["commits"]
            )
            lines.append(f"Models (weights revisions): {models}. Package commit(s): {commits or 'not recorded'}.")
    return [*lines, ""] if lines else []


def headline_lines(summary: dict) -> list[str]:
    """The lines of ``results.md`` that name the headline metrics and say why they were chosen."""
    first, *rest = summary["headline_metrics"]
    text = f"**Headline metric:** `{first}`"
    if rest:
        text += " (then " + ", ".join(f"`{m}`" for m in rest) + ")"
    reason = summary.get("headline_reason")
    return [text + (f". {reason}" if reason else "."), ""]


def _interval_text(summary: dict) -> str:
    """How the intervals were made, as the intro says it."""
    bootstrap = summary.get("bootstrap") or {}
    groups = {"entity": "held-out entities", "row": "scored rows (the dataset has no entity column)"}.get(
        bootstrap.get("groups"), "scored rows"
    )
    text = f"95 % interval from a bootstrap over seeds × {groups}"
    if "samples" in bootstrap:
        text += f", {bootstrap['samples']} resamples, seed {bootstrap.get('seed', 0)}"
    return text + "; each metric recomputed on the rows drawn"


def _seeds_text(summary: dict) -> str:
    """Seeds per cell, naming the training sizes that ran fewer (``seeds_above_300``)."""
    seeds_by_size = {}
    for run in summary.get("runs") or []:
        if run.get("kind") == "explainer" and run.get("seed") is not None:
            seeds_by_size.setdefault(run["size"], set()).add(run["seed"])
    fewer = sorted(size for size, seeds in seeds_by_size.items() if len(seeds) < summary["seeds"])
    text = f"{counted(summary['seeds'], 'seed')} per cell"
    if fewer:
        counts = " or ".join(str(n) for n in sorted({len(seeds_by_size[size]) for size in fewer}))
        text += f" ({counts} at {', '.join(f'{size:,}' for size in fewer)} training rows)"
    return text


def report_markdown(summary: dict) -> str:
    """The experiment's ``results.md``: headline and why, headline and difference tables by size, every metric."""
    splits, metrics, target = summary["splits"], tuple(summary["headline_metrics"]), summary["target"]
    differences = summary.get("differences") or []
    tests = summary.get("tests")
    alpha = tests["alpha"] if tests else ALPHA
    lines = [
        f"# Privileged access: task `{summary['task']}`, target `{target}`",
        "",
        f"Dataset `{summary['dataset']}` config `{summary['dataset_config']}`; "
        f"{_seeds_text(summary)}; mean [{_interval_text(summary)}]. Largest training size: "
        f'{max(summary["sizes"])} rows. "{NOT_ESTIMABLE}": '
        "the metric has no valid answer to be computed over.",
        "",
        *run_lines(summary),
        *headline_lines(summary),
        "## Self vs. other explainers vs. baselines (largest training size)",
        "",
        *headline_table(summary["rows"], splits, metrics, target),
    ]
    me = next((d["self"] for d in differences), None)
    if differences:
        largest = max(d["size"] for d in differences)
        lines += [
            "",
            f"## Paired differences self − X (self: {short_model_name(me)}; largest training size)",
            "",
            *difference_table(differences, summary["rows"], splits, metrics, target, alpha=alpha),
            "",
            "self − X [95 % interval], both recomputed in the same resamples (seed by seed for X trained on "
            "the same subsamples). " + marks_legend([d for d in differences if d["size"] == largest], tests),
        ]
    for split in splits:
        for metric in metrics:
            lines += [
                "",
                f"## {metric} on {split} by training rows",
                "",
                *scaling_table(summary["rows"], split, metric, target),
            ]
            family = [d for d in differences if d["split"] == split and d["metric"] == metric]
            if family:
                lines += [
                    "",
                    f"### self − X: {metric} on {split} by training rows",
                    "",
                    *difference_scaling_table(differences, summary["rows"], split, metric, target, alpha=alpha),
                    "",
                    marks_legend(family, tests, full=False),
                ]
    every = summary.get("all_metrics")
    if every and every.get("rows"):
        lines += [
            "",
            f"## Every metric at the largest training size ({every['size']} rows)",
            "",
            "Each metric the scored rows give (every key of the task's metric, and its extra scores), mean "
            "[95 % interval], for every explainer, control and baseline (a baseline that does not train as it "
            "is). A metric of one class of rows is computed over the rows of that class.",
        ]
        for split in splits:
            lines += ["", f"### {split}", "", *metrics_table(every["rows"], split, every["metrics"], target)]
    return "\n".join(lines) + "\n"
