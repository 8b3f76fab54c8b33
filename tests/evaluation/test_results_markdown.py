"""results.md from a summary: the headline and why, the marks of the paired differences and what they mean, every
metric's table, and summaries written before the tests were recorded."""

import json
from pathlib import Path

import pytest

from self_explain.evaluation.results_markdown import (
    difference_marks,
    headline_lines,
    marks_legend,
    metrics_table,
    report_markdown,
)

RESULTS = Path(__file__).parents[2] / "results"
TESTS = {"alpha": 0.05, "equivalence_margin": 0.05}


def entry(**fields):
    base = {
        "self": "toy-target",
        "other": "toy-twin",
        "other_kind": "explainer",
        "size": 100,
        "other_size": 100,
        "split": "test",
        "metric": "exact_match",
        "seeds": 3,
        "difference": 0.01,
        "ci_low": -0.01,
        "ci_high": 0.03,
        "excludes_zero": False,
        "p_value": 0.3,
        "p_holm": 0.6,
        "p_holm_by_size": 0.9,
        "p_equivalence": 0.2,
    }
    return {**base, **fields}


@pytest.mark.parametrize(
    "fields, holm_key, marks",
    [
        ({}, "p_holm", ""),  # neither shown different nor shown level
        ({"p_holm": 0.05}, "p_holm", "*"),  # survives Holm at 5 % (at most alpha)
        ({"p_holm": 0.051}, "p_holm", ""),
        ({"p_value": 0.01, "p_holm": 0.2, "p_holm_by_size": 0.04}, "p_holm", ""),  # raw p alone does not mark
        ({"p_value": 0.01, "p_holm": 0.2, "p_holm_by_size": 0.04}, "p_holm_by_size", "*"),  # its own table's family
        ({"p_equivalence": 0.01}, "p_holm", "≈"),
        ({"p_holm": 0.001, "p_equivalence": 0.01}, "p_holm", "* ≈"),  # different from 0, yet within the margin
        ({"p_value": None, "p_holm": None, "p_holm_by_size": None, "p_equivalence": None}, "p_holm", ""),
    ],
)
def test_difference_marks(fields, holm_key, marks):
    assert difference_marks(entry(**fields), holm_key) == marks


def test_difference_marks_of_a_summary_without_p_values_read_the_interval():
    old = {k: v for k, v in entry().items() if not k.startswith("p_")}
    assert difference_marks({**old, "excludes_zero": True}) == "*"
    assert difference_marks(old) == ""


def test_the_legend_states_the_family_the_level_and_the_margin():
    family = [entry(), entry(other="toy-other"), entry(other="untrained", p_value=None, p_holm=None)]
    legend = marks_legend(family, {"alpha": 0.05, "equivalence_margin": 0.03})
    assert "Holm-adjusted over this table's 2 tested differences, is at most 0.05" in legend
    assert "equivalent within ±0.03 by TOST at 0.05 (the 90 % interval lies inside ±0.03" in legend
    assert "an interval that includes 0 does not by itself make a difference level" in legend
    assert marks_legend(family, TESTS, full=False) == (
        "`*`: Holm-adjusted over this table's 2 tested differences; `*` and `≈` (within ±0.05) as defined above."
    )
    old = marks_legend([{k: v for k, v in e.items() if not k.startswith("p_")} for e in family], None)
    assert old.startswith("`*`: the 95 % interval excludes 0 (not adjusted for multiplicity")


def test_headline_lines_state_the_metric_and_why():
    assert headline_lines({"headline_metrics": ["a", "b"], "headline_reason": "A is where it shows."}) == [
        "**Headline metric:** `a` (then `b`). A is where it shows.",
        "",
    ]
    assert headline_lines({"headline_metrics": ["a"]}) == ["**Headline metric:** `a`.", ""], "an older summary"


def summary_row(who, metric, mean, size=100, kind="explainer", self_=False):
    return {
        "who": who,
        "size": size,
        "split": "test",
        "metric": metric,
        "mean": mean,
        "ci_low": None if mean is None else mean - 0.1,
        "ci_high": None if mean is None else mean + 0.1,
        "n": 1,
        "not_estimable": 0,
        "kind": kind,
        "self": self_,
        "details": {},
    }


def test_metrics_table_has_a_row_per_metric_and_a_column_per_explainer_self_first():
    rows = [
        summary_row("untrained", "exact_match", 0.0, size=None, kind="baseline"),
        summary_row("toy-other", "exact_match", 0.3),
        summary_row("toy-target", "exact_match", 0.5, self_=True),
        summary_row("toy-target", "changed_f1", None, self_=True),
        summary_row("toy-target", "exact_match", 0.2, size=30, self_=True),  # not the largest size
        summary_row("toy-large", "exact_match", 0.2, size=30),
    ]  # not run at the largest size: no column
    lines = metrics_table(rows, "test", ["exact_match", "changed_f1", "absent"], "toy-target")
    assert lines == [
        "| metric | toy-target (self) | toy-other | baseline: untrained |",
        "|---|---|---|---|",
        "| exact_match | 0.500 [0.400, 0.600] | 0.300 [0.200, 0.400] | 0.000 [-0.100, 0.100] |",
        "| changed_f1 | not estimable | – | – |",
    ], "a metric no one has is left out"


def old_summary():
    """A summary as results.json held it before the tests, the headline's reason and every metric were recorded."""
    rows = [summary_row("toy-target", "exact_match", 0.5, self_=True), summary_row("toy-twin", "exact_match", 0.4)]
    difference = {
        k: v
        for k, v in entry(excludes_zero=True, difference=0.1, ci_low=0.02, ci_high=0.2).items()
        if not k.startswith("p_")
    }
    return {
        "experiment": "privileged-access",
        "task": "patching",
        "target": "toy-target",
        "dataset": "d",
        "dataset_config": "toy-target",
        "sizes": [100],
        "seeds": 3,
        "splits": ["test"],
        "headline_metrics": ["exact_match"],
        "rows": rows,
        "differences": [difference],
        "bootstrap": {"samples": 2000, "seed": 0, "groups": "entity"},
    }


def test_an_older_summary_renders_with_the_interval_marks_and_says_so():
    text = report_markdown(old_summary())
    assert "**Headline metric:** `exact_match`." in text
    assert "| toy-twin | +0.100 [+0.020, +0.200] * |" in text
    assert text.count("no p-values are recorded for these differences") == 2, "under both difference tables"
    assert "≈" not in text and "Every metric" not in text


@pytest.mark.parametrize("path", sorted(RESULTS.glob("**/results.json")), ids=lambda p: str(p.relative_to(RESULTS)))
def test_every_committed_summary_renders(path):
    summary = json.loads(path.read_text())
    text = report_markdown(summary)
    assert text.startswith(f"# Privileged access: task `{summary['task']}`, target `{summary['target']}`")
    assert f"**Headline metric:** `{summary['headline_metrics'][0]}`" in text
