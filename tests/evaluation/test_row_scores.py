"""Per-row scores: the headline metrics recomputed from the totals of per-row statistics equal the evaluate modules'
own values on the same rows, so the bootstrap recomputes exactly the metric the runs report."""

import json
import random

import evaluate
import numpy as np
import pytest

from self_explain.evaluation import row_scores
from self_explain.evaluation.row_scores import (
    METRIC_STATISTICS,
    ROWS_SUFFIX,
    extra_score_rows,
    metric_statistic,
    row_statistics,
)
from self_explain.metrics import metric_path
from self_explain.metrics.causal_match.rows import causal_match_rows
from self_explain.metrics.description_similarity.rows import description_similarity_rows
from self_explain.metrics.weight_correlation.rows import weight_correlation_rows
from self_explain.tasks import ExplainerExamples, Task
from self_explain.utils.stats import BootstrapRun, SeedGroupBootstrap

CHANGED = "The most likely output would change to <<<{}>>>."
UNCHANGED = "The output would remain unchanged from <<<{}>>>."


def totals_of(columns):
    return {name: np.array([sum(values)], dtype=float) for name, values in columns.items()}


def recomputed(module, columns):
    totals = totals_of(columns)
    values = {}
    for name, statistic in METRIC_STATISTICS[module].items():
        value = float(statistic(totals)[0])
        values[name] = None if np.isnan(value) else value
    return values


def assert_same(recomputed_values, computed, tolerance=1e-9):
    for name, value in recomputed_values.items():
        if computed[name] is None:
            assert value is None, name
        else:
            assert value == pytest.approx(computed[name], abs=tolerance), name


def causal_cases(seed: int, count: int):
    rng = random.Random(seed)
    words = ["Paris", "Rome", "rome", "Tokyo", ""]
    references, predictions = [], []
    for _ in range(count):
        references.append(rng.choice([CHANGED, UNCHANGED]).format(rng.choice(words[:4])))
        kind = rng.random()
        if kind < 0.15:
            predictions.append(rng.choice(["I am not sure.", "It would change to Rome.", ""]))
        elif kind < 0.3:
            predictions.append(references[-1].upper() + "  ")
        else:
            predictions.append(rng.choice([CHANGED, UNCHANGED]).format(rng.choice(words)))
    return predictions, references


@pytest.fixture(scope="module")
def causal_match():
    return evaluate.load(metric_path("causal_match"), keep_in_memory=True)


@pytest.mark.parametrize("seed, count", [(0, 1), (1, 2), (2, 7), (3, 40), (4, 40)])
def test_causal_match_from_row_totals_equals_the_metric(causal_match, seed, count):
    predictions, references = causal_cases(seed, count)
    columns = causal_match_rows(predictions, references)
    assert all(len(values) == count for values in columns.values())
    assert_same(
        recomputed("causal_match", columns), causal_match.compute(predictions=predictions, references=references)
    )


def test_causal_match_with_no_valid_answer_is_not_estimable_from_rows_too(causal_match):
    references = [CHANGED.format("Rome"), UNCHANGED.format("Paris")]
    predictions = ["No idea.", "Maybe."]
    values = recomputed("causal_match", causal_match_rows(predictions, references))
    assert values["has_changed_f1"] is None and values["exact_match"] == 0.0 and values["valid_rate"] == 0.0
    assert_same(values, causal_match.compute(predictions=predictions, references=references))


@pytest.fixture(scope="module")
def weight_correlation():
    return evaluate.load(metric_path("weight_correlation"), keep_in_memory=True)


def weight_cases(seed: int, count: int):
    rng = random.Random(seed)
    references, predictions = [], []
    for _index in range(count):
        names = [f"a{j}" for j in range(rng.randint(1, 4))]
        truth = {name: rng.randint(-100, 100) for name in names}
        references.append(json.dumps(truth))
        kind = rng.random()
        if kind < 0.2:
            predictions.append("no JSON here")
        elif kind < 0.3:
            predictions.append(json.dumps({name: 7 for name in names}))  # a constant report
        else:
            predictions.append(
                "Weights: "
                + json.dumps({name: value * rng.uniform(-1, 2) + rng.randint(-9, 9) for name, value in truth.items()})
            )
    return predictions, references


@pytest.mark.parametrize("seed, count", [(0, 1), (1, 3), (2, 12), (3, 30)])
def test_weight_correlation_from_row_totals_equals_the_metric(weight_correlation, seed, count):
    predictions, references = weight_cases(seed, count)
    computed = weight_correlation.compute(predictions=predictions, references=references)
    assert_same(recomputed("weight_correlation", weight_correlation_rows(predictions, references)), computed)


def test_weight_correlation_with_nothing_valid_is_not_estimable_from_rows_too(weight_correlation):
    references = ['{"a": 1, "b": 2}', '{"c": -3, "d": 4}']
    predictions = ["none", "[1, 2]"]
    values = recomputed("weight_correlation", weight_correlation_rows(predictions, references))
    assert values == {"pooled_correlation": None, "mean_scenario_correlation": None, "valid_fraction": 0.0}
    assert_same(values, weight_correlation.compute(predictions=predictions, references=references))


def test_description_similarity_from_row_totals_equals_the_metric():
    metric = evaluate.load(metric_path("description_similarity"), keep_in_memory=True)
    predictions = ["Country names", "names of countries", "punctuation", "colours"]
    references = ["country  names", "country names", "country names", "colors"]
    columns = description_similarity_rows(predictions, references)
    assert columns["exact"] == [1.0, 0.0, 0.0, 0.0]
    assert_same(
        recomputed("description_similarity", columns),
        metric.compute(predictions=predictions, references=references),
        tolerance=1e-6,
    )  # float32 means


def fake_task(**hooks):
    """A causal_match task whose hooks are ``hooks`` (the base class's elsewhere)."""

    class FakeTask(Task):
        name, metric = "fake", "causal_match"

    for hook, function in hooks.items():
        setattr(FakeTask, hook, staticmethod(function))
    return FakeTask()


def test_row_statistics_apply_the_tasks_metric_input(monkeypatch):
    monkeypatch.setattr(row_scores, "get_task", lambda name: fake_task(metric_input=lambda p: p.split("|")[-1]))
    examples = ExplainerExamples(questions=["q1", "q2"], answers=[CHANGED.format("Rome"), UNCHANGED.format("Paris")])
    scored = row_statistics("fake", examples, ["noise|" + CHANGED.format("Rome"), "noise|" + CHANGED.format("Paris")])
    assert scored["metric"] == "causal_match"
    assert scored["columns"]["exact"] == [1.0, 0.0] and scored["columns"]["content"] == [1.0, 1.0]
    with pytest.raises(ValueError, match="got 1 predictions for 2 examples"):
        row_statistics("fake", examples, ["x"])


class FakeExplainer:
    def target_runs(self):
        from contextlib import nullcontext

        return nullcontext("the target")


def mean_hook(examples, predictions, target):
    """Like the features task's: the mean over rows that have exemplars of a per-row score."""
    assert target == "the target"
    scores = [len(p) / 10 for p, extra in zip(predictions, examples.extras) if extra["exemplars"]]
    return {"simulator_correlation": sum(scores) / len(scores)} if scores else {}


def test_extra_scores_are_kept_per_row_and_their_mean_is_the_hooks(monkeypatch):
    monkeypatch.setattr(row_scores, "get_task", lambda name: fake_task(extra_scores=mean_hook))
    extras = [{"exemplars": [1]}, {"exemplars": []}, {"exemplars": [2]}, {"exemplars": [3]}]
    examples = ExplainerExamples(questions=["q"] * 4, answers=[CHANGED.format("a")] * 4, extras=extras)
    predictions = ["abc", "abcdefgh", "a", "abcdef"]
    columns = extra_score_rows("fake", examples, predictions, "the target")
    assert columns == {
        "simulator_correlation": [0.3, 0.0, 0.1, 0.6],
        "simulator_correlation" + ROWS_SUFFIX: [1, 0, 1, 1],
    }
    statistic = metric_statistic("causal_match", "simulator_correlation", columns)
    assert float(statistic(totals_of(columns))[0]) == pytest.approx(
        mean_hook(examples, predictions, "the target")["simulator_correlation"]
    )
    scored = row_statistics("fake", examples, predictions, FakeExplainer())
    assert scored["columns"]["simulator_correlation"] == [0.3, 0.0, 0.1, 0.6] and "exact" in scored["columns"]
    assert "simulator_correlation" not in row_statistics("fake", examples, predictions)["columns"], "no explainer"


def test_metric_statistic_is_none_for_what_the_rows_cannot_give():
    assert metric_statistic("causal_match", "exact_match", []) is METRIC_STATISTICS["causal_match"]["exact_match"]
    assert metric_statistic("causal_match", "pooled_correlation", ["rows"]) is None
    assert metric_statistic("unknown_module", "similarity", ["similarity"]) is None


def test_the_bootstrap_of_per_row_f1_recomputes_it_on_each_resample(causal_match):
    predictions, references = causal_cases(5, 60)
    columns = causal_match_rows(predictions, references)
    bootstrap = SeedGroupBootstrap([0], list(range(60)), samples=50, seed=0)
    run = BootstrapRun(0, list(range(60)), columns)
    statistic = METRIC_STATISTICS["causal_match"]["has_changed_f1"]
    value, low, high = bootstrap.interval([run], statistic)
    assert value == pytest.approx(
        causal_match.compute(predictions=predictions, references=references)["has_changed_f1"]
    )
    assert low <= value <= high
    # One resample, by hand: the metric on the rows drawn (each as often as drawn) is the replicate.
    counts = bootstrap.group_counts[0].astype(int)
    drawn = [i for i in range(60) for _ in range(counts[i])]
    by_hand = causal_match.compute(
        predictions=[predictions[i] for i in drawn], references=[references[i] for i in drawn]
    )["has_changed_f1"]
    assert bootstrap.replicates([run], statistic)[0] == pytest.approx(by_hand)
