"""How scored metrics are laid out in reports and cards: the overall metrics, and those of each ground-truth class.

A metric ``<class>_<name>`` (``changed_content_match``) is computed over the rows of one ground-truth class only, and
``has_<class>_f1`` / ``_precision`` / ``_recall`` take that class as the positive one over the valid answers. A run
scored by such a metric records each class's rows and entities (its ``strata``). Reports and cards show the overall
metrics in one table and the classes' in another, one row per class, so that a metric with many keys (16 for
``causal_match``) stays readable.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field

CLASS_DETECTION_METRICS = ("f1", "precision", "recall")  # has_<class>_<m>: the class as the positive one


@dataclass(frozen=True)
class MetricLayout:
    """Metric keys split into the overall table's columns and the class table's.

    Args:
        overall (`tuple[str, ...]`): The keys of the overall table, in order.
        classes (`tuple[str, ...]`): The ground-truth classes, in order.
        class_columns (`tuple[str, ...]`): The class table's columns (``exact_match``, ``f1``, ...), in order.
        class_keys (`Mapping[tuple[str, str], str]`): (class, column) to the metric key.
    """

    overall: tuple[str, ...]
    classes: tuple[str, ...] = ()
    class_columns: tuple[str, ...] = ()
    class_keys: Mapping[tuple[str, str], str] = field(default_factory=dict)

    def key(self, cls: str, column: str) -> str | None:
        """The metric key of a class's column, or None when the class has no such metric.

        Args:
            cls (`str`): A class.
            column (`str`): A column of the class table.

        Returns:
            `str` or `None`: The key (``changed_exact_match``).
        """
        return self.class_keys.get((cls, column))


def class_column(name: str, classes: Iterable[str]) -> tuple[str, str] | None:
    """The (class, column) a metric key belongs to, or None for an overall metric.

    >>> class_column("changed_content_match", ["changed", "unchanged"])
    ('changed', 'content_match')
    >>> class_column("has_unchanged_f1", ["changed", "unchanged"])
    ('unchanged', 'f1')
    >>> class_column("has_changed_macro_f1", ["changed", "unchanged"]) is None
    True

    Args:
        name (`str`): A metric key.
        classes (`Iterable[str]`): The ground-truth classes.

    Returns:
        `tuple[str, str]` or `None`: The class and the column of the class table.
    """
    for cls in sorted(classes, key=len, reverse=True):  # the longest first: a class name may start another's
        if name.startswith(f"{cls}_"):
            return cls, name[len(cls) + 1 :]
        prefix = f"has_{cls}_"
        if name.startswith(prefix) and name[len(prefix) :] in CLASS_DETECTION_METRICS:
            return cls, name[len(prefix) :]
    return None


def metric_layout(names: Iterable[str], classes: Iterable[str] = ()) -> MetricLayout:
    """Split metric keys into the overall table's and the class table's.

    Args:
        names (`Iterable[str]`): The metric keys, in the order wanted for the overall table.
        classes (`Iterable[str]`, *optional*): The ground-truth classes the runs were scored by (none: every key is
            overall).

    Returns:
        [`MetricLayout`]: The overall keys in the order given; the class columns with the per-row ones first (in the
        overall table's order of the same metric, then as given), then F1, precision and recall.
    """
    classes = tuple(dict.fromkeys(classes))
    overall, columns, keys = [], [], {}
    for name in dict.fromkeys(names):
        found = class_column(name, classes)
        if found is None:
            overall.append(name)
            continue
        keys[found] = name
        if found[1] not in columns:
            columns.append(found[1])
    def order(column: str) -> tuple:  # as the overall table orders the same metric, then as first seen; F1... last
        if column in CLASS_DETECTION_METRICS:
            return 2, CLASS_DETECTION_METRICS.index(column)
        return (0, overall.index(column)) if column in overall else (1, seen.index(column))

    seen = list(columns)
    columns.sort(key=order)
    return MetricLayout(tuple(overall), classes if keys else (), tuple(columns), keys)


def classes_of(entries: Iterable[Mapping]) -> list[str]:
    """The ground-truth classes the entries were scored by (their ``strata``), in the order first seen.

    Args:
        entries (`Iterable[Mapping]`): Scored runs (report results or card entries).

    Returns:
        `list[str]`: The classes; empty when no entry has strata.
    """
    return list(dict.fromkeys(cls for entry in entries for cls in entry.get("strata") or {}))


def markdown_table(headers: Sequence[str], rows: Iterable[Sequence[str]]) -> list[str]:
    """A Markdown table's lines.

    Args:
        headers (`Sequence[str]`): The header cells.
        rows (`Iterable[Sequence[str]]`): The rows' cells, as many as the headers.

    Returns:
        `list[str]`: The header, the rule and one line per row.
    """
    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    return lines + ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]


def metric_tables(
    entries: Sequence[Mapping], layout: MetricLayout, lead: Sequence[tuple[str, Callable[[Mapping], str]]],
    cell: Callable[[Mapping, str], str], *, sizes: bool, header: Callable[[str], str] = str, missing: str = "",
) -> list[str]:
    """The Markdown lines of the overall table of ``entries`` and, when the layout has classes, of the class table.

    Args:
        entries (`Sequence[Mapping]`): Scored runs: ``rows``, ``groups`` and ``strata`` (each class's ``rows`` and
            ``groups``) are read for the size columns.
        layout ([`MetricLayout`]): The columns (`metric_layout`).
        lead (`Sequence[tuple]`): The first columns: (header, entry to cell).
        cell (`Callable`): (entry, metric key) to the cell.
        sizes (`bool`): Add the columns ``rows`` and ``entities`` (of the class, in the class table).
        header (`Callable[[str], str]`, *optional*, defaults to `str`): A metric key's or class column's header.
        missing (`str`, *optional*, defaults to `""`): A size cell the entry does not give.

    Returns:
        `list[str]`: The tables, each followed by a blank line; a class table is preceded by a line saying what its
        columns are over. A class row is left out for an entry with neither that class's rows nor its metrics.
    """
    size_headers = ["rows", "entities"] if sizes else []
    leads = [name for name, _ in lead]
    rows = [[label(e) for _, label in lead] + ([e.get("rows", missing), e.get("groups", missing)] if sizes else [])
            + [cell(e, key) for key in layout.overall] for e in entries]
    lines = markdown_table(leads + size_headers + [header(key) for key in layout.overall], rows) + [""]
    if not layout.classes:
        return lines
    class_rows = []
    for entry in entries:
        for cls in layout.classes:
            keys = [layout.key(cls, column) for column in layout.class_columns]
            cells = [cell(entry, key) if key else "" for key in keys]
            stratum = (entry.get("strata") or {}).get(cls)
            if stratum is None and not any(cells):
                continue
            stratum = stratum or {}
            class_sizes = [stratum.get("rows", missing), stratum.get("groups", missing)] if sizes else []
            class_rows.append([label(entry) for _, label in lead] + [cls] + class_sizes + cells)
    per_row = [header(c) for c in layout.class_columns if c not in CLASS_DETECTION_METRICS]
    detection = [header(c) for c in layout.class_columns if c in CLASS_DETECTION_METRICS]
    note = "By ground-truth class: " + (", ".join(per_row) + " over the rows of that class" if per_row else "")
    if detection:
        note += ("; " if per_row else "") + ", ".join(detection)
        note += " with the class as the positive one, over the valid answers"
    return lines + [note + ".", ""] + markdown_table(
        leads + ["class"] + size_headers + [header(c) for c in layout.class_columns], class_rows) + [""]


def control_summary(entries: Sequence[Mapping], metric: str, value: Callable[[Mapping, str], str],
                    difference: Callable[[Mapping, str], str]) -> list[str]:
    """One line per split of vector-control entries: ``metric`` under each vectors condition, then true − control.

    Args:
        entries (`Sequence[Mapping]`): Entries with ``split``, ``vectors``, ``metrics`` and, for a control,
            ``true_minus_control``.
        metric (`str`): The metric summarised (a task's headline).
        value (`Callable`): (entry, metric) to the value's cell.
        difference (`Callable`): (entry, metric) to the paired difference's cell.

    Returns:
        `list[str]`: ``"test: true 0.315 [...], shuffled ...; true − shuffled +0.175 [...]*, ..."``; empty when no entry
        has the metric.
    """
    lines = []
    for split in dict.fromkeys(entry["split"] for entry in entries):
        runs = [entry for entry in entries if entry["split"] == split and metric in entry["metrics"]]
        if not runs:
            continue
        values = ", ".join(f"{entry['vectors']} {value(entry, metric)}" for entry in runs)
        differences = ", ".join(f"true − {entry['vectors']} {difference(entry, metric)}" for entry in runs
                                if metric in (entry.get("true_minus_control") or {}))
        lines.append(f"{split}: {values}" + (f"; {differences}" if differences else ""))
    return lines
