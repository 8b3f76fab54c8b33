"""How scored metrics are laid out in reports and cards: an overall table, and one row per ground-truth class.

A metric ``<class>_<name>`` is computed over one class's rows; ``has_<class>_f1`` / ``_precision`` / ``_recall``
take that class as the positive one. Splitting them out keeps a metric with many keys (16 for ``causal_match``)
readable.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field

CLASS_DETECTION_METRICS = ("f1", "precision", "recall")  # has_<class>_<m>: the class as the positive one


@dataclass(frozen=True)
class MetricLayout:
    """Metric keys split into the overall table's columns and the class table's."""

    overall: tuple[str, ...]
    classes: tuple[str, ...] = ()
    class_columns: tuple[str, ...] = ()
    class_keys: Mapping[tuple[str, str], str] = field(default_factory=dict)

    def key(self, cls: str, column: str) -> str | None:
        """The metric key of a class's column (``changed_exact_match``), or None."""
        return self.class_keys.get((cls, column))


def class_column(name: str, classes: Iterable[str]) -> tuple[str, str] | None:
    """The (class, column) a metric key belongs to, or None for an overall metric.

    >>> class_column("changed_content_match", ["changed", "unchanged"])
    ('changed', 'content_match')
    >>> class_column("has_unchanged_f1", ["changed", "unchanged"])
    ('unchanged', 'f1')
    >>> class_column("has_changed_macro_f1", ["changed", "unchanged"]) is None
    True
    """
    for cls in sorted(classes, key=len, reverse=True):  # the longest first: a class name may start another's
        if name.startswith(f"{cls}_"):
            return cls, name[len(cls) + 1 :]
        prefix = f"has_{cls}_"
        if name.startswith(prefix) and name[len(prefix) :] in CLASS_DETECTION_METRICS:
            return cls, name[len(prefix) :]
    return None


def metric_layout(names: Iterable[str], classes: Iterable[str] = ()) -> MetricLayout:
    """Split metric keys into the overall table's and the class table's."""
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
    """The ground-truth classes of the entries' ``strata``, in the order first seen."""
    return list(dict.fromkeys(cls for entry in entries for cls in entry.get("strata") or {}))


def markdown_table(headers: Sequence[str], rows: Iterable[Sequence[str]]) -> list[str]:
    """A Markdown table's lines."""
    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    return lines + ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]


def metric_tables(
    entries: Sequence[Mapping],
    layout: MetricLayout,
    lead: Sequence[tuple[str, Callable[[Mapping], str]]],
    cell: Callable[[Mapping, str], str],
    *,
    sizes: bool,
    header: Callable[[str], str] = str,
    missing: str = "",
) -> list[str]:
    """The Markdown lines of the overall table and, when the layout has classes, of the class table."""
    size_headers = ["rows", "entities"] if sizes else []
    leads = [name for name, _ in lead]
    rows = [
        [label(e) for _, label in lead]
        + ([e.get("rows", missing), e.get("groups", missing)] if sizes else [])
        + [cell(e, key) for key in layout.overall]
        for e in entries
    ]
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
    return (
        lines
        + [note + ".", ""]
        + markdown_table(leads + ["class"] + size_headers + [header(c) for c in layout.class_columns], class_rows)
        + [""]
    )


def control_summary(
    entries: Sequence[Mapping],
    metric: str,
    value: Callable[[Mapping, str], str],
    difference: Callable[[Mapping, str], str],
) -> list[str]:
    """One line per split of vector-control entries: ``metric`` under each vectors condition, then true − control."""
    lines = []
    for split in dict.fromkeys(entry["split"] for entry in entries):
        runs = [entry for entry in entries if entry["split"] == split and metric in entry["metrics"]]
        if not runs:
            continue
        values = ", ".join(f"{entry['vectors']} {value(entry, metric)}" for entry in runs)
        differences = ", ".join(
            f"true − {entry['vectors']} {difference(entry, metric)}"
            for entry in runs
            if metric in (entry.get("true_minus_control") or {})
        )
        lines.append(f"{split}: {values}" + (f"; {differences}" if differences else ""))
    return lines
