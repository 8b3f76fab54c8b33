"""Weight correlation: Pearson r of a model's reported and true attribute weights (Plunkett et al. 2025)."""

from __future__ import annotations

import json
import logging
import math

import datasets
import evaluate
import numpy as np

from self_explain.metrics import checked
from self_explain.utils.stats import mean_confidence_interval, pearson_correlation, pooled_correlation_interval

MAX_BOOTSTRAP_SAMPLES = 1_000_000  # a million resamples already take minutes; more only takes longer

logger = logging.getLogger(__name__)

_DESCRIPTION = """
Scores a model's introspective report of its own preferences. In each example (one decision scenario, e.g. choosing
between condos) the model states, as a JSON object, how heavily it weighs each attribute of the options (weights in
[-100, 100]); the reference is the weights it really uses, measured by a logistic regression on its choices. Reports
the Pearson correlation of reported and true weights pooled over all scenarios, and the mean over scenarios of the
per-scenario correlation, each with a 95 % confidence interval, and how many reports could not be read.
"""

_KWARGS_DESCRIPTION = """
Args:
    predictions (`list` of `str`): the explainer's raw answers. Each should contain a JSON object mapping attribute
        names to reported weights; text around it is allowed (the object starts at the first `{`).
    references (`list` of `str`): the true weights, each a JSON object mapping attribute names to numbers:
        `'{"price": -50, "quality": 40}'`. A reference that is not such an object raises a `ValueError`.
    bootstrap_samples (`int`, defaults to 1000): bootstrap resamples (at most 1,000,000) for the confidence interval of
        `pooled_correlation`.
    seed (`int`, defaults to 0): seed of the bootstrap's random generator.
Returns:
    pooled_correlation (`float` or `None`): Pearson r over the (reported, true) weight pairs of all valid predictions,
        attributes matched by name (0 with fewer than 2 pairs or a constant side).
    pooled_correlation_ci_low, pooled_correlation_ci_high (`float` or `None`): 95 % percentile bootstrap interval of
        `pooled_correlation`, resampling whole scenarios (valid examples) with replacement; the point value when
        fewer than 2 predictions are valid.
    mean_scenario_correlation (`float` or `None`): mean over valid predictions of the Pearson r between the reported
        and true weights of the scenario (0 for a scenario where either side is constant).
    mean_scenario_correlation_ci_low, mean_scenario_correlation_ci_high (`float` or `None`): t-based 95 % confidence
        interval
        of that mean across scenarios (not clipped to [-1, 1]); the mean itself when fewer than 2 are valid.
    valid_fraction (`float`): share of predictions that are valid: a JSON object holding a finite number for every
        attribute of the reference (extra keys are ignored, values are not clipped).
    num_malformed (`float`): number of predictions that are not valid; they are left out of every correlation.
    num_other_attributes (`float`): of those, the predictions whose JSON object gives numbers only for attributes
        that were not asked about (e.g. names remembered from training instead of the question's).
    num_repeated_attributes (`float`): of the malformed predictions, those whose JSON object names an attribute
        more than once (the last value is read, so another attribute goes missing).
    num_examples (`float`): number of predictions.
    When no prediction is valid, every correlation and interval is None ("not estimable": nothing to correlate),
        never 0 with an interval of [0, 0]; the counts are still given.
Examples:
    >>> import evaluate
    >>> from self_explain.metrics import metric_path
    >>> weight_correlation = evaluate.load(metric_path("weight_correlation"))
    >>> references = [
    ...     '{"price": -50, "quality": 40, "distance": 10}',
    ...     '{"rating": 50, "price": -40, "wait": -10}',
    ... ]

    One perfect report (r = 1) and one with every sign flipped (r = -1): both means are 0, and with two scenarios
    the bootstrap draws (1, 1), (-1, -1) or (1, -1) and the t-interval is wide:

    >>> predictions = [
    ...     '{"price": -50, "quality": 40, "distance": 10}',
    ...     '{"rating": -50, "price": 40, "wait": 10}',
    ... ]
    >>> results = weight_correlation.compute(predictions=predictions, references=references)
    >>> print({name: round(value, 3) for name, value in results.items()})  # doctest: +NORMALIZE_WHITESPACE
    {'pooled_correlation': 0.0, 'pooled_correlation_ci_low': -1.0, 'pooled_correlation_ci_high': 1.0,
     'mean_scenario_correlation': 0.0, 'mean_scenario_correlation_ci_low': -12.706,
     'mean_scenario_correlation_ci_high': 12.706, 'valid_fraction': 1.0, 'num_malformed': 0.0,
     'num_other_attributes': 0.0, 'num_repeated_attributes': 0.0,
     'num_examples': 2.0}

    Text around the JSON and extra keys are ignored; a report on a tenth of the scale is still perfect within its
    scenario but not once pooled; an answer without JSON is counted as malformed and left out:

    >>> predictions = [
    ...     'My weights: {"price": -50, "quality": 40, "distance": 10, "color": 0}. Done.',
    ...     '{"rating": 5, "price": -4, "wait": -1}',
    ...     'I mostly cared about the price.',
    ... ]
    >>> references.append('{"price": -90, "brand": 20}')
    >>> results = weight_correlation.compute(predictions=predictions, references=references)
    >>> print({name: round(value, 3) for name, value in results.items()})  # doctest: +NORMALIZE_WHITESPACE
    {'pooled_correlation': 0.774, 'pooled_correlation_ci_low': 0.774, 'pooled_correlation_ci_high': 1.0,
     'mean_scenario_correlation': 1.0, 'mean_scenario_correlation_ci_low': 1.0,
     'mean_scenario_correlation_ci_high': 1.0, 'valid_fraction': 0.667, 'num_malformed': 1.0,
     'num_other_attributes': 0.0, 'num_repeated_attributes': 0.0,
     'num_examples': 3.0}

    With no valid report, the correlations are not estimable (None), not 0; a report that weighs attributes other
    than the ones asked about is counted apart:

    >>> predictions = ["No idea.", '{"size": 30, "view": -10}']
    >>> results = weight_correlation.compute(predictions=predictions, references=references[:2])
    >>> print(results)  # doctest: +NORMALIZE_WHITESPACE
    {'pooled_correlation': None, 'pooled_correlation_ci_low': None, 'pooled_correlation_ci_high': None,
     'mean_scenario_correlation': None, 'mean_scenario_correlation_ci_low': None,
     'mean_scenario_correlation_ci_high': None, 'valid_fraction': 0.0, 'num_malformed': 2.0,
     'num_other_attributes': 1.0, 'num_repeated_attributes': 0.0,
     'num_examples': 2.0}

    The parser on its own:

    >>> parse_weights('Sure! ```json\\n{"price": -50, "quality": "high"}\\n```')
    {'price': -50.0}
    >>> print(parse_weights("[10, -20]"))
    None
"""

_CITATION = """
@misc{plunkett2025selfinterpretability,
    title={Self-Interpretability: LLMs Can Describe Complex Internal Processes that Drive Their Decisions, and
        Improve with Training},
    author={Dillon Plunkett and Adam Morris and Keerthi Reddy and Jorge Morales},
    year={2025},
    eprint={2505.17120},
    archivePrefix={arXiv},
    primaryClass={cs.CL},
    url={https://arxiv.org/abs/2505.17120},
}
@misc{li2025explain,
    title={Training Language Models to Explain Their Own Computations},
    author={Belinda Z. Li and Zifan Carl Guo and Vincent Huang and Jacob Steinhardt and Jacob Andreas},
    year={2025},
    eprint={2511.08579},
    archivePrefix={arXiv},
    primaryClass={cs.CL},
    url={https://arxiv.org/abs/2511.08579},
}
"""


pearson = pearson_correlation  # the package's one Pearson r (0 when either side is constant)


def _as_weight(value) -> float | None:
    """A JSON value as a finite float, or None (bools, strings, null, lists, objects, NaN, infinities, overflow)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    try:
        weight = float(value)
    except OverflowError:  # an integer too large for a float
        return None
    return weight if math.isfinite(weight) else None


def parse_weights(text: str) -> dict[str, float] | None:
    """The finite numeric entries (as floats) of the JSON object starting at the first `{`; None without one.

    >>> parse_weights('{"price": -80, "quality": 35.5}')
    {'price': -80.0, 'quality': 35.5}
    >>> parse_weights('Weights: {"price": -80, "view": "nice", "pool": true} as asked.')
    {'price': -80.0}
    >>> print(parse_weights("I weighted price most."))
    None
    """
    if not isinstance(text, str):
        return None
    start = text.find("{")
    if start < 0:
        return None
    try:
        obj, _ = json.JSONDecoder().raw_decode(text, start)  # ends at the `}` matching the first `{`
    except ValueError:  # json.JSONDecodeError, or a number too long to convert
        return None
    if not isinstance(obj, dict):
        return None
    weights = {key: _as_weight(value) for key, value in obj.items()}
    return {key: weight for key, weight in weights.items() if weight is not None}


def reference_weights(reference, index: int) -> dict[str, float]:
    """A reference as {attribute: weight}; anything but a non-empty JSON object of finite numbers is a ValueError."""
    expected = 'a JSON object mapping attribute names to finite numbers, e.g. \'{"price": -50, "quality": 40}\''
    if not isinstance(reference, str):
        raise ValueError(f"Example {index}: the reference must be {expected}, not {reference!r}.")
    try:
        obj = json.loads(reference)
    except ValueError as error:
        raise ValueError(f"Example {index}: the reference is not JSON ({error}); expected {expected}.") from None
    if not isinstance(obj, dict) or not obj:
        raise ValueError(f"Example {index}: the reference must be {expected}, not {reference!r}.")
    weights = {}
    for key, value in obj.items():
        weight = _as_weight(value)
        if weight is None:
            raise ValueError(
                f"Example {index}: the reference's weight of {key!r} is {value!r}, not a finite number; "
                f"expected {expected}."
            )
        weights[key] = weight
    return weights


def matched_weights(prediction, true: dict[str, float]) -> tuple[np.ndarray, np.ndarray] | None:
    """Reported and true weights in the reference's attribute order; None without a JSON object or an attribute."""
    reported = parse_weights(prediction)
    if reported is None or any(name not in reported for name in true):
        return None
    return (
        np.array([reported[name] for name in true], dtype=np.float64),
        np.array(list(true.values()), dtype=np.float64),
    )


def names_other_attributes(prediction, true: dict[str, float]) -> bool:
    """Whether an answer's JSON object weighs only attributes that were not asked about (none of ``true``'s).

    >>> names_other_attributes('{"size": 30}', {"price": -50.0})
    True
    >>> names_other_attributes('{"price": 30}', {"price": -50.0, "view": 10.0})
    False
    """
    reported = parse_weights(prediction)
    return bool(reported) and not any(name in reported for name in true)


def repeats_a_name(prediction) -> bool:
    """Whether an answer's JSON object (the one `parse_weights` reads) names some attribute more than once.

    >>> repeats_a_name('{"price": 30, "price": -20}')
    True
    >>> repeats_a_name('{"price": 30, "view": {"price": 1}}')
    False
    """
    if not isinstance(prediction, str) or "{" not in prediction:
        return False
    keys_seen: list[list[str]] = []  # the hook runs innermost object first, so the top-level object comes last
    decoder = json.JSONDecoder(object_pairs_hook=lambda pairs: keys_seen.append([k for k, _ in pairs]) or dict(pairs))
    try:
        obj, _ = decoder.raw_decode(prediction, prediction.find("{"))
    except ValueError:
        return False
    return isinstance(obj, dict) and len(set(keys_seen[-1])) < len(keys_seen[-1])


def mean_t_ci(values: list[float]) -> tuple[float, float, float]:
    """Mean and t-based 95 % confidence interval (low, high) of the mean; the interval is the mean for one value."""
    mean, low, high = mean_confidence_interval(values)
    return (mean, mean, mean) if low is None else (mean, low, high)


@evaluate.utils.file_utils.add_start_docstrings(_DESCRIPTION, _KWARGS_DESCRIPTION)
class WeightCorrelation(checked.InputCheckedMetric):
    def _info(self):
        return evaluate.MetricInfo(
            description=_DESCRIPTION,
            citation=_CITATION,
            inputs_description=_KWARGS_DESCRIPTION,
            features=datasets.Features(
                {"predictions": datasets.Value("string"), "references": datasets.Value("string")}
            ),
            homepage="https://arxiv.org/abs/2505.17120",
            reference_urls=["https://arxiv.org/abs/2505.17120", "https://arxiv.org/abs/2511.08579"],
        )

    def _compute(self, predictions, references, bootstrap_samples: int = 1000, seed: int = 0):
        if len(predictions) != len(references):
            raise ValueError(f"Got {len(predictions)} predictions but {len(references)} references.")
        if not references:
            raise ValueError("weight_correlation needs at least one prediction and reference.")
        if isinstance(bootstrap_samples, bool) or not isinstance(bootstrap_samples, int) or bootstrap_samples < 1:
            raise ValueError(f"bootstrap_samples must be a positive integer, not {bootstrap_samples!r}.")
        if bootstrap_samples > MAX_BOOTSTRAP_SAMPLES:
            raise ValueError(
                f"bootstrap_samples {bootstrap_samples:,} is above {MAX_BOOTSTRAP_SAMPLES:,}: an "
                "interval gains nothing from more resamples; give at most that (1000 is the default)."
            )
        if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
            raise ValueError(f"seed must be a non-negative integer, not {seed!r}.")
        truths = [reference_weights(ref, index) for index, ref in enumerate(references)]
        matched = [matched_weights(pred, true) for pred, true in zip(predictions, truths)]
        valid = [pair for pair in matched if pair is not None]
        count, malformed = len(references), len(references) - len(valid)
        other = sum(names_other_attributes(pred, true) for pred, true in zip(predictions, truths))
        repeated = sum(repeats_a_name(pred) for pred, pair in zip(predictions, matched) if pair is None)
        if malformed:
            logger.info(
                "%d of %d predictions are malformed (not a JSON object with a number for every attribute) "
                "and are left out; %d of them weigh only attributes that were not asked about, %d name an "
                "attribute more than once",
                malformed,
                count,
                other,
                repeated,
            )
        counts = {
            "valid_fraction": len(valid) / count,
            "num_malformed": float(malformed),
            "num_other_attributes": float(other),
            "num_repeated_attributes": float(repeated),
            "num_examples": float(count),
        }
        if not valid:  # not estimable: nothing to correlate (as causal_match's has_changed_f1)
            return {
                "pooled_correlation": None,
                "pooled_correlation_ci_low": None,
                "pooled_correlation_ci_high": None,
                "mean_scenario_correlation": None,
                "mean_scenario_correlation_ci_low": None,
                "mean_scenario_correlation_ci_high": None,
                **counts,
            }
        constant = sum(np.ptp(reported) == 0 or np.ptp(true) == 0 for reported, true in valid)
        if constant:
            logger.info("%d of %d valid predictions have a constant side and score r = 0", constant, len(valid))
        pooled = pearson(np.concatenate([rep for rep, _ in valid]), np.concatenate([tru for _, tru in valid]))
        if len(valid) < 2:
            pooled_low = pooled_high = pooled
        else:
            pooled_low, pooled_high = pooled_correlation_interval(valid, bootstrap_samples, seed)
        mean, mean_low, mean_high = mean_t_ci([pearson(reported, true) for reported, true in valid])
        return {
            "pooled_correlation": pooled,
            "pooled_correlation_ci_low": pooled_low,
            "pooled_correlation_ci_high": pooled_high,
            "mean_scenario_correlation": mean,
            "mean_scenario_correlation_ci_low": mean_low,
            "mean_scenario_correlation_ci_high": mean_high,
            **counts,
        }
