import doctest
import json
import logging
import math
import re
import sys
from pathlib import Path

import evaluate
import numpy as np
import pytest
from scipy import stats as scipy_stats

from self_explain.metrics import METRICS, metric_path
from self_explain.metrics.weight_correlation import (
    weight_correlation as weight_correlation_module,
)
from self_explain.metrics.weight_correlation.weight_correlation import (
    parse_weights,
    pearson,
)

# Two scenarios whose weights sum to 0 and have the same sum of squares (4200).
A = {"price": -50, "quality": 40, "distance": 10}
B = {"rating": 50, "price": -40, "wait": -10}
C = {"x": 30, "y": -30}  # sum of squares 1800

OUTPUTS = [
    "pooled_correlation",
    "pooled_correlation_ci_low",
    "pooled_correlation_ci_high",
    "mean_scenario_correlation",
    "mean_scenario_correlation_ci_low",
    "mean_scenario_correlation_ci_high",
    "valid_fraction",
    "num_malformed",
    "num_other_attributes",
    "num_repeated_attributes",
    "num_examples",
]


def dumps(weights: dict) -> str:
    return json.dumps(weights)


def scaled(weights: dict, factor: float, offset: float = 0.0) -> dict:
    return {name: factor * value + offset for name, value in weights.items()}


@pytest.fixture(scope="module")
def weight_correlation():
    return evaluate.load(metric_path("weight_correlation"), keep_in_memory=True)


def run_doctests(text: str, globs: dict, name: str) -> doctest.TestResults:
    test = doctest.DocTestParser().get_doctest(text, dict(globs), name, None, 0)
    runner = doctest.DocTestRunner(optionflags=doctest.NORMALIZE_WHITESPACE)
    runner.run(test)
    return runner.summarize(verbose=False)


# --- the evaluate module ------------------------------------------------------------------------------------------


def test_kwargs_description_examples_run(weight_correlation):
    module = sys.modules[type(weight_correlation).__module__]
    results = run_doctests(module._KWARGS_DESCRIPTION, vars(module), "weight_correlation._KWARGS_DESCRIPTION")
    assert results.attempted > 0
    assert results.failed == 0
    assert module._KWARGS_DESCRIPTION in type(weight_correlation).__doc__


def test_module_doctests_run_without_options():
    results = doctest.testmod(weight_correlation_module)
    assert results.attempted > 0
    assert results.failed == 0


def test_metric_card_examples_run():
    card = (Path(metric_path("weight_correlation")) / "README.md").read_text()
    assert card.startswith("---\ntitle: Weight Correlation\n")
    code = "\n\n".join(re.findall(r"```python\n(.*?)```", card, flags=re.DOTALL))
    results = run_doctests(code, {}, "weight_correlation/README.md")
    assert results.attempted > 0
    assert results.failed == 0


def test_is_discovered():
    assert "weight_correlation" in METRICS
    assert (Path(metric_path("weight_correlation")) / "weight_correlation.py").is_file()


def test_loads_from_the_script_path_too():
    metric = evaluate.load(str(Path(metric_path("weight_correlation")) / "weight_correlation.py"), keep_in_memory=True)
    assert metric.name == "weight_correlation"
    assert set(metric.features) == {"predictions", "references"}


def test_outputs_are_floats_in_a_fixed_order(weight_correlation):
    results = weight_correlation.compute(predictions=[dumps(A), dumps(B)], references=[dumps(A), dumps(B)])
    assert list(results) == OUTPUTS
    assert all(type(value) is float for value in results.values())


# --- hand-computed scores -----------------------------------------------------------------------------------------


def test_perfect_reports(weight_correlation):
    results = weight_correlation.compute(predictions=[dumps(A), dumps(B)], references=[dumps(A), dumps(B)])
    assert results == {
        "pooled_correlation": pytest.approx(1.0),
        "pooled_correlation_ci_low": pytest.approx(1.0),
        "pooled_correlation_ci_high": pytest.approx(1.0),
        "mean_scenario_correlation": pytest.approx(1.0),
        "mean_scenario_correlation_ci_low": pytest.approx(1.0),
        "mean_scenario_correlation_ci_high": pytest.approx(1.0),
        "valid_fraction": 1.0,
        "num_malformed": 0.0,
        "num_other_attributes": 0.0,
        "num_repeated_attributes": 0.0,
        "num_examples": 2.0,
    }


def test_negated_reports(weight_correlation):
    results = weight_correlation.compute(
        predictions=[dumps(scaled(A, -1)), dumps(scaled(B, -1))], references=[dumps(A), dumps(B)]
    )
    for name in OUTPUTS[:6]:
        assert results[name] == pytest.approx(-1.0), name


def test_scale_and_offset_invariance(weight_correlation):
    # the same affine map in every scenario: perfect both per scenario and pooled
    results = weight_correlation.compute(
        predictions=[dumps(scaled(A, 0.3, 7)), dumps(scaled(B, 0.3, 7))], references=[dumps(A), dumps(B)]
    )
    assert results["pooled_correlation"] == pytest.approx(1.0)
    assert results["mean_scenario_correlation"] == pytest.approx(1.0)


def test_pooled_and_mean_differ_when_scales_differ_across_scenarios(weight_correlation):
    # scenario B reported on a tenth of the scale: r = 1 within each scenario, but pooled (all means are 0)
    # sum(xy) = 4200 + 420, sum(x^2) = 4200 + 42, sum(y^2) = 8400
    results = weight_correlation.compute(
        predictions=[dumps(A), dumps(scaled(B, 0.1))], references=[dumps(A), dumps(B)]
    )
    assert results["mean_scenario_correlation"] == pytest.approx(1.0)
    assert results["pooled_correlation"] == pytest.approx(4620 / math.sqrt(4242 * 8400))
    # the bootstrap can only draw A twice (r = 1), B twice (r = 1) or one of each (the pooled value)
    assert results["pooled_correlation_ci_low"] == pytest.approx(4620 / math.sqrt(4242 * 8400))
    assert results["pooled_correlation_ci_high"] == pytest.approx(1.0)


def test_mean_t_interval_by_hand(weight_correlation):
    # per-scenario r = 1, -1, 1: mean 1/3, sd = sqrt(4/3), half-width = t(2 df) * sd / sqrt(3) = 4.303 * 2/3
    half = scipy_stats.t.ppf(0.975, 2) * 2 / 3
    results = weight_correlation.compute(
        predictions=[dumps(A), dumps(scaled(B, -1)), dumps(C)], references=[dumps(A), dumps(B), dumps(C)]
    )
    assert results["mean_scenario_correlation"] == pytest.approx(1 / 3)
    assert results["mean_scenario_correlation_ci_low"] == pytest.approx(1 / 3 - half)
    assert results["mean_scenario_correlation_ci_high"] == pytest.approx(1 / 3 + half)
    assert half == pytest.approx(4.303 * 2 / 3, abs=1e-3)
    # pooled: all means 0, sum(xy) = 4200 - 4200 + 1800, sum(x^2) = sum(y^2) = 4200 + 4200 + 1800
    assert results["pooled_correlation"] == pytest.approx(1800 / 10200)


def test_t_quantile_beyond_30_degrees_of_freedom_is_students(weight_correlation):
    # 32 scenarios, r alternating 1 and -1: mean 0, sd = sqrt(32/31), df = 31
    predictions = [dumps(A) if i % 2 == 0 else dumps(scaled(A, -1)) for i in range(32)]
    results = weight_correlation.compute(predictions=predictions, references=[dumps(A)] * 32, bootstrap_samples=10)
    half = scipy_stats.t.ppf(0.975, 31) * math.sqrt(32 / 31) / math.sqrt(32)  # t(31 df) = 2.040, not 1.96
    assert results["mean_scenario_correlation"] == pytest.approx(0.0)
    assert results["mean_scenario_correlation_ci_high"] == pytest.approx(half)
    assert results["mean_scenario_correlation_ci_low"] == pytest.approx(-half)


def test_attributes_are_matched_by_name_and_extra_keys_ignored(weight_correlation):
    prediction = '{"wait": -10, "note": "fine", "rating": 50, "colour": 99, "price": -40}'
    results = weight_correlation.compute(predictions=[prediction], references=[dumps(B)])
    assert results["pooled_correlation"] == pytest.approx(1.0)
    assert results["valid_fraction"] == 1.0


def test_values_are_not_clipped(weight_correlation):
    prediction = dumps({"price": -500, "quality": 400, "distance": 100})
    results = weight_correlation.compute(predictions=[prediction, dumps(B)], references=[dumps(A), dumps(B)])
    assert results["valid_fraction"] == 1.0
    # A reported ten times too large: all means 0, sum(xy) = 42000 + 4200, sum(x^2) = 420000 + 4200
    assert results["pooled_correlation"] == pytest.approx(46200 / math.sqrt(424200 * 8400))


@pytest.mark.parametrize(
    "prediction",
    [
        'Sure! Here are my weights: {"rating": 50, "price": -40, "wait": -10}. Let me know if you need more.',
        '```json\n{\n  "rating": 50,\n  "price": -40,\n  "wait": -10\n}\n```',
        '{"rating": 50, "price": -40, "wait": -10} (all on a {-100..100} scale)',
        '{"rating": 50.0, "price": -40, "wait": -1e1, "details": {"why": "}"}}',
    ],
)
def test_text_around_the_json_is_ignored(weight_correlation, prediction):
    results = weight_correlation.compute(predictions=[prediction], references=[dumps(B)])
    assert results["valid_fraction"] == 1.0
    assert results["pooled_correlation"] == pytest.approx(1.0)


def test_constant_report_scores_zero_and_is_logged(weight_correlation, caplog):
    with caplog.at_level(logging.INFO):
        results = weight_correlation.compute(
            predictions=[dumps(A), '{"rating": 0, "price": 0, "wait": 0}'], references=[dumps(A), dumps(B)]
        )
    assert results["mean_scenario_correlation"] == pytest.approx(0.5)
    assert results["valid_fraction"] == 1.0
    assert "1 of 2 valid predictions have a constant side" in caplog.text


def test_single_attribute_scores_zero(weight_correlation):
    results = weight_correlation.compute(predictions=['{"price": -3}'], references=['{"price": -90}'])
    assert results["mean_scenario_correlation"] == 0.0
    assert results["pooled_correlation"] == 0.0
    assert results["valid_fraction"] == 1.0


# --- malformed predictions ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "prediction",
    [
        "I mostly cared about the rating.",  # no JSON
        "",
        "[50, -40, -10]",  # an array
        '"rating: 50"',  # a JSON string
        '{"rating": 50, "price": -40}',  # an attribute missing
        '{"Rating": 50, "price": -40, "wait": -10}',  # names are matched exactly
        '{"rating": "high", "price": -40, "wait": -10}',  # a string value
        '{"rating": "50", "price": -40, "wait": -10}',  # a number written as a string
        '{"rating": true, "price": -40, "wait": -10}',  # a bool value
        '{"rating": null, "price": -40, "wait": -10}',
        '{"rating": [50], "price": -40, "wait": -10}',
        '{"rating": NaN, "price": -40, "wait": -10}',  # json.loads reads NaN, but it is not a finite weight
        '{"rating": Infinity, "price": -40, "wait": -10}',
        '{"rating": 50, "price": -40, "wait": -10',  # truncated
        "{'rating': 50, 'price': -40, 'wait': -10}",  # Python, not JSON
    ],
)
def test_malformed_prediction_is_counted_and_left_out(weight_correlation, prediction):
    results = weight_correlation.compute(predictions=[dumps(A), prediction], references=[dumps(A), dumps(B)])
    assert results["valid_fraction"] == 0.5
    assert results["num_malformed"] == 1.0
    assert results["num_examples"] == 2.0
    # only scenario A is left: perfect, and the intervals collapse to the point value
    for name in OUTPUTS[:6]:
        assert results[name] == pytest.approx(1.0), name


def test_no_valid_prediction_is_not_estimable_and_logs(weight_correlation, caplog):
    with caplog.at_level(logging.INFO):
        results = weight_correlation.compute(predictions=["no idea", "[1, 2]"], references=[dumps(A), dumps(B)])
    assert results == {
        **{name: None for name in OUTPUTS[:6]},  # nothing to correlate: None, never 0 with an interval [0, 0]
        "valid_fraction": 0.0,
        "num_malformed": 2.0,
        "num_other_attributes": 0.0,
        "num_repeated_attributes": 0.0,
        "num_examples": 2.0,
    }
    assert "2 of 2 predictions are malformed" in caplog.text


def test_reports_on_other_attributes_are_counted_apart(weight_correlation, caplog):
    other = dumps({f"other_{name}": value for name, value in A.items()})
    partly = dumps({**{name: value for name, value in list(B.items())[:1]}, "other": 5})
    with caplog.at_level(logging.INFO):
        results = weight_correlation.compute(
            predictions=[other, partly, dumps(C)], references=[dumps(A), dumps(B), dumps(C)]
        )
    assert results["num_malformed"] == 2.0
    assert (
        results["num_other_attributes"] == 1.0
    )  # the partly named report misses attributes; it does not name only others
    assert "1 of them weigh only attributes that were not asked about" in caplog.text


def test_reports_that_repeat_a_name_are_counted_apart(weight_correlation, caplog):
    repeated = '{"price": -50, "price": 40, "distance": 10}'  # "quality" goes missing: malformed
    repeated_but_complete = '{"x": 30, "y": -30, "x": 30}'  # every asked attribute has a number: valid
    nested = '{"rating": 50, "price": -40, "wait": {"wait": 1, "wait": 2}}'  # a repeat inside a value: not counted
    with caplog.at_level(logging.INFO):
        results = weight_correlation.compute(
            predictions=[repeated, nested, repeated_but_complete], references=[dumps(A), dumps(B), dumps(C)]
        )
    assert results["num_malformed"] == 2.0
    assert results["num_repeated_attributes"] == 1.0
    assert "1 name an attribute more than once" in caplog.text


def test_direct_compute_counts_non_strings_as_malformed(weight_correlation):
    results = weight_correlation._compute(predictions=[None, dumps(A)], references=[dumps(A), dumps(A)])
    assert results["num_malformed"] == 1.0


# --- the bootstrap ------------------------------------------------------------------------------------------------


def random_scenarios(seed: int, count: int = 12, attributes: int = 4) -> tuple[list[str], list[str]]:
    rng = np.random.default_rng(seed)
    predictions, references = [], []
    for scenario in range(count):
        true = rng.uniform(-100, 100, size=attributes)
        reported = np.clip(0.6 * true + rng.normal(scale=40, size=attributes), -100, 100)
        names = [f"s{scenario}_attribute{i}" for i in range(attributes)]
        references.append(dumps(dict(zip(names, true.tolist()))))
        predictions.append(dumps(dict(zip(names, reported.tolist()))))
    return predictions, references


def test_interval_contains_the_point_and_is_repeatable(weight_correlation):
    predictions, references = random_scenarios(0)
    first = weight_correlation.compute(predictions=predictions, references=references)
    again = weight_correlation.compute(predictions=predictions, references=references, seed=0)
    other = weight_correlation.compute(predictions=predictions, references=references, seed=1)
    assert first == again
    for name in ("pooled_correlation", "mean_scenario_correlation"):
        assert first[f"{name}_ci_low"] < first[name] < first[f"{name}_ci_high"]
    assert (other["pooled_correlation_ci_low"], other["pooled_correlation_ci_high"]) != (
        first["pooled_correlation_ci_low"],
        first["pooled_correlation_ci_high"],
    )
    # the seed only moves the bootstrap interval
    for name in ("pooled_correlation", *OUTPUTS[3:]):
        assert other[name] == first[name]


def test_point_values_match_numpy(weight_correlation):
    predictions, references = random_scenarios(2, count=5)
    results = weight_correlation.compute(predictions=predictions, references=references, bootstrap_samples=20)
    reported = [list(json.loads(p).values()) for p in predictions]
    true = [list(json.loads(r).values()) for r in references]
    per_scenario = [np.corrcoef(x, y)[0, 1] for x, y in zip(reported, true)]
    pooled = np.corrcoef(np.concatenate(reported), np.concatenate(true))[0, 1]
    assert results["mean_scenario_correlation"] == pytest.approx(np.mean(per_scenario), abs=1e-9)
    assert results["pooled_correlation"] == pytest.approx(pooled, abs=1e-9)


def test_bootstrap_resamples_whole_scenarios(weight_correlation):
    # perfect + sign-flipped: resampled scenarios give r in {-1, 0, 1}; resampled single weights would not
    results = weight_correlation.compute(predictions=[dumps(A), dumps(scaled(B, -1))], references=[dumps(A), dumps(B)])
    assert results["pooled_correlation"] == pytest.approx(0.0, abs=1e-12)
    assert results["pooled_correlation_ci_low"] == pytest.approx(-1.0)
    assert results["pooled_correlation_ci_high"] == pytest.approx(1.0)


def test_bootstrap_matches_a_direct_resampling_of_scenarios(weight_correlation):
    predictions, references = random_scenarios(3, count=6, attributes=3)
    results = weight_correlation.compute(predictions=predictions, references=references, bootstrap_samples=200, seed=7)
    reported = [np.array(list(json.loads(p).values())) for p in predictions]
    true = [np.array(list(json.loads(r).values())) for r in references]
    rng = np.random.default_rng(7)
    values = []
    for _ in range(200):
        drawn = rng.integers(0, 6, size=6)
        pooled_reported = np.concatenate([reported[i] for i in drawn])
        pooled_true = np.concatenate([true[i] for i in drawn])
        values.append(np.corrcoef(pooled_reported, pooled_true)[0, 1])
    low, high = np.percentile(values, [2.5, 97.5])
    assert results["pooled_correlation_ci_low"] == pytest.approx(low, abs=1e-9)
    assert results["pooled_correlation_ci_high"] == pytest.approx(high, abs=1e-9)


def test_one_valid_scenario_collapses_both_intervals(weight_correlation):
    prediction = '{"price": -60, "quality": 10, "distance": 30}'
    results = weight_correlation.compute(predictions=[prediction], references=[dumps(A)])
    assert results["pooled_correlation"] == pytest.approx(np.corrcoef([-60, 10, 30], [-50, 40, 10])[0, 1])
    for name in ("pooled_correlation", "mean_scenario_correlation"):
        assert results[f"{name}_ci_low"] == results[name] == results[f"{name}_ci_high"]


@pytest.mark.parametrize("samples", [0, -5, 2.5, True])
def test_bootstrap_samples_must_be_a_positive_integer(weight_correlation, samples):
    with pytest.raises(ValueError, match="bootstrap_samples must be a positive integer"):
        weight_correlation._compute(predictions=[dumps(A)], references=[dumps(A)], bootstrap_samples=samples)


# --- bad inputs ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("reference", "message"),
    [
        ("price: -50", r"Example 1: the reference is not JSON .*expected a JSON object mapping attribute names"),
        ("[-50, 40]", r"Example 1: the reference must be a JSON object mapping attribute names to finite numbers"),
        ('"price"', r"Example 1: the reference must be a JSON object"),
        ("{}", r"Example 1: the reference must be a JSON object"),
        ('{"price": "low"}', r"Example 1: the reference's weight of 'price' is 'low', not a finite number"),
        ('{"price": true}', r"Example 1: the reference's weight of 'price' is True, not a finite number"),
        ('{"price": NaN}', r"Example 1: the reference's weight of 'price' is nan, not a finite number"),
        ('Here: {"price": -50}', r"Example 1: the reference is not JSON"),  # references are not parsed leniently
    ],
)
def test_malformed_reference_names_the_example(weight_correlation, reference, message):
    with pytest.raises(ValueError, match=message):
        weight_correlation.compute(predictions=[dumps(A), dumps(A)], references=[dumps(A), reference])


def test_non_string_reference_in_direct_compute(weight_correlation):
    with pytest.raises(ValueError, match=r"Example 0: the reference must be a JSON object"):
        weight_correlation._compute(predictions=[dumps(A)], references=[A])


def test_length_mismatch(weight_correlation):
    with pytest.raises(ValueError, match="number of predictions"):
        weight_correlation.compute(predictions=[dumps(A)], references=[dumps(A), dumps(B)])
    with pytest.raises(ValueError, match="1 predictions but 2 references"):
        weight_correlation._compute(predictions=[dumps(A)], references=[dumps(A), dumps(B)])


def test_empty_inputs(weight_correlation):
    with pytest.raises(ValueError, match="at least one"):
        weight_correlation._compute(predictions=[], references=[])


# --- the parser ---------------------------------------------------------------------------------------------------


def test_parser_is_importable_from_the_package():
    from self_explain.metrics.weight_correlation.weight_correlation import (
        parse_weights as imported,
    )

    assert imported is parse_weights
    assert imported('{"a": 1}') == {"a": 1.0}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('{"price": -80, "quality": 35.5}', {"price": -80.0, "quality": 35.5}),
        ('Answer:\n```json\n{"price": -80}\n```', {"price": -80.0}),
        ('{"price": -80} and then {"quality": 10}', {"price": -80.0}),  # the first object only
        ('{"price": -80, "view": "nice", "pool": true, "gym": null, "x": NaN, "y": [1]}', {"price": -80.0}),
        ('{"price": 1e400}', {}),  # overflows to infinity
        ('{"price": ' + "9" * 400 + "}", {}),  # an integer too large for a float
        ("{}", {}),
        ("[1, 2]", None),
        ("no JSON", None),
        ('{"price": -80', None),
        ("{not json}", None),
        ('[{"price": -80}]', {"price": -80.0}),  # the object from the first `{`, even inside an array
    ],
)
def test_parse_weights(text, expected):
    assert parse_weights(text) == expected


def test_parse_weights_returns_floats():
    weights = parse_weights('{"a": 3, "b": -2.5}')
    assert all(type(value) is float for value in weights.values())


def test_parse_weights_of_a_non_string_is_none():
    assert parse_weights(None) is None
    assert parse_weights(42) is None


@pytest.mark.parametrize(
    ("x", "y", "expected"),
    [
        ([1.0, 2.0, 3.0], [2.0, 4.0, 6.0], 1.0),
        ([1.0, 2.0, 3.0], [3.0, 2.0, 1.0], -1.0),
        ([1.0, 1.0, 1.0], [1.0, 2.0, 3.0], 0.0),
        ([1.0], [2.0], 0.0),
    ],
)
def test_pearson(x, y, expected):
    assert pearson(np.array(x), np.array(y)) == pytest.approx(expected)
