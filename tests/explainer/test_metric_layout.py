"""The layout of metrics in reports and cards: overall keys, ground-truth classes, the tables."""

import doctest

from self_explain.explainer import metric_layout as module
from self_explain.explainer.metric_layout import classes_of, metric_layout, metric_tables

CAUSAL_MATCH_KEYS = [
    "exact_match",
    "content_match",
    "has_changed_f1",
    "has_changed_macro_f1",
    "valid_rate",
    "changed_exact_match",
    "changed_content_match",
    "changed_valid_rate",
    "unchanged_exact_match",
    "unchanged_content_match",
    "unchanged_valid_rate",
    "has_unchanged_f1",
    "has_changed_precision",
    "has_changed_recall",
    "has_unchanged_precision",
    "has_unchanged_recall",
]


def test_doctests():
    assert doctest.testmod(module).failed == 0


def test_causal_match_keys_split_into_overall_and_per_class():
    layout = metric_layout(CAUSAL_MATCH_KEYS, ["changed", "unchanged"])
    assert layout.overall == ("exact_match", "content_match", "has_changed_macro_f1", "valid_rate")
    assert layout.class_columns == ("exact_match", "content_match", "valid_rate", "f1", "precision", "recall")
    assert layout.key("changed", "f1") == "has_changed_f1"
    assert layout.key("unchanged", "recall") == "has_unchanged_recall"
    assert layout.key("unchanged", "content_match") == "unchanged_content_match"
    every = set(layout.overall) | {layout.key(c, col) for c in layout.classes for col in layout.class_columns}
    assert every == set(CAUSAL_MATCH_KEYS), "every key in one table"


def test_without_classes_every_key_is_overall():
    assert metric_layout(CAUSAL_MATCH_KEYS).overall == tuple(CAUSAL_MATCH_KEYS)
    layout = metric_layout(["similarity", "exact_match"], ["changed"])
    assert layout.overall == ("similarity", "exact_match") and layout.classes == ()


def test_classes_come_from_the_entries_strata_in_order():
    entries = [{"strata": {"unchanged": {}, "changed": {}}}, {}, {"strata": {"changed": {}, "other": {}}}]
    assert classes_of(entries) == ["unchanged", "changed", "other"]


def test_tables_state_each_class_rows_and_entities():
    entries = [
        {
            "name": "a",
            "rows": 10,
            "groups": 4,
            "strata": {"changed": {"rows": 3, "groups": 2}},
            "metrics": {"exact_match": 0.5, "changed_exact_match": 0.25, "has_changed_f1": 0.1},
        }
    ]
    layout = metric_layout(["exact_match", "changed_exact_match", "has_changed_f1"], classes_of(entries))

    def cell(entry, key):
        return f"{entry['metrics'][key]:.2f}"

    lines = metric_tables(entries, layout, [("who", lambda e: e["name"])], cell, sizes=True)
    assert lines[:3] == ["| who | rows | entities | exact_match |", "|---|---|---|---|", "| a | 10 | 4 | 0.50 |"]
    assert "| who | class | rows | entities | exact_match | f1 |" in lines
    assert "| a | changed | 3 | 2 | 0.25 | 0.10 |" in lines
    assert any(
        line.startswith("By ground-truth class: exact_match over the rows of that class; f1 with the class")
        for line in lines
    )
    unsized = metric_tables(entries, layout, [("who", lambda e: e["name"])], cell, sizes=False, header=str.upper)
    assert "| who | EXACT_MATCH |" in unsized and "| a | changed | 0.25 | 0.10 |" in unsized
