"""Intervals of one evaluation: bootstrap over entities, paired differences trained − baseline."""

import doctest

import pytest

from self_explain.evaluation import intervals
from self_explain.evaluation.intervals import row_groups, split_intervals, stratum_sizes
from self_explain.metrics.causal_match.rows import causal_match_rows

CHANGED = "The most likely output would change to <<<{}>>>."
SAME = "The output would remain unchanged from <<<{}>>>."


def statistics(predictions, references):
    return {"metric": "causal_match", "columns": causal_match_rows(predictions, references)}


def test_rows_are_grouped_by_entity_else_each_row_alone():
    assert row_groups(["entity", "answer"], ["Paris", "Rome", "Paris", ""], 4) == ["Paris", "Rome", "Paris", "row 3"]
    assert row_groups(["answer"], None, 3) == [0, 1, 2]


def test_a_perfect_explainer_against_a_wrong_baseline_on_many_entities():
    references = [CHANGED.format(f"w{i}") if i % 2 else SAME.format(f"w{i}") for i in range(40)]
    wrong = [SAME.format("x")] * 40
    found = split_intervals(
        {None: statistics(references, references), "majority": statistics(wrong, references)},
        {None: {"exact_match": 1.0, "no_such_metric": 0.0}, "majority": {"exact_match": 0.0}},
        groups=[f"e{i // 2}" for i in range(40)],
        samples=500,
    )
    assert found[None]["groups"] == 20 and found[None]["intervals"]["exact_match"] == [1.0, 1.0]
    assert "no_such_metric" not in found[None]["intervals"]  # no per-row statistic gives it
    assert found["majority"]["intervals"]["exact_match"] == [0.0, 0.0]
    assert found["majority"]["trained_minus_baseline"]["exact_match"] == [1.0, 1.0, 1.0]
    assert "trained_minus_baseline" not in found[None]


def test_an_interval_widens_with_fewer_entities_and_is_seeded():
    references = [SAME.format(f"w{i}") for i in range(40)]
    half_right = [r if i % 2 else SAME.format("x") for i, r in enumerate(references)]
    runs = {None: statistics(half_right, references)}
    metrics = {None: {"exact_match": 0.5}}
    many = split_intervals(runs, metrics, groups=list(range(40)), samples=500)[None]["intervals"]["exact_match"]
    # two entities, each all right or all wrong: resamples give 0, 0.5 or 1
    few = split_intervals(runs, metrics, groups=[i % 2 for i in range(40)], samples=500)[None]["intervals"][
        "exact_match"
    ]
    assert few[0] <= many[0] <= 0.5 <= many[1] <= few[1] and few[1] - few[0] > many[1] - many[0]
    assert split_intervals(runs, metrics, list(range(40)), samples=500, seed=3) == split_intervals(
        runs, metrics, list(range(40)), samples=500, seed=3
    )
    assert many == pytest.approx([0.35, 0.65], abs=0.06)


def test_no_scored_rows_give_no_intervals():
    found = split_intervals({None: statistics([], [])}, {None: {"exact_match": None}}, groups=[])
    assert found == {None: {"groups": 0, "intervals": {}, "strata": {}}}


def test_doctests():
    assert doctest.testmod(intervals).failed == 0


def test_strata_count_each_class_rows_and_entities_and_other_runs_get_the_difference_key():
    references = [CHANGED.format(f"w{i}") if i < 6 else SAME.format(f"w{i}") for i in range(10)]
    columns = causal_match_rows(references, references)
    groups = ["a", "a", "b", "c", "c", "c", "d", "d", "e", "e"]
    assert stratum_sizes(columns, groups) == {
        "changed": {"rows": 6, "groups": 3},
        "unchanged": {"rows": 4, "groups": 2},
    }
    assert stratum_sizes({"rows": [1.0], "similarity": [0.5]}, ["a"]) == {}, "a metric without classes"
    found = split_intervals(
        {None: statistics(references, references), "zero": statistics(references, references)},
        {None: {"exact_match": 1.0}, "zero": {"exact_match": 1.0}},
        groups,
        samples=50,
        difference_key="true_minus_control",
    )
    assert found["zero"]["true_minus_control"]["exact_match"] == [0.0, 0.0, 0.0]
    assert "trained_minus_baseline" not in found["zero"] and found["zero"]["strata"] == found[None]["strata"]
