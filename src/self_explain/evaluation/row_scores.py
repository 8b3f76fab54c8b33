"""Per-row scores of a scored split, and each headline metric recomputed from their totals (for the bootstrap).

A metric such as has-changed F1 or a pooled correlation is not a mean of per-row values, so each row keeps
*additive* statistics instead (counts: valid, true positives, ...; sums: a row's similarity, its weights' sums of
squares, ...) from which the metric is recomputed exactly on any resample of rows
(:class:`~self_explain.core.stats.SeedGroupBootstrap`). The statistics of each ``evaluate`` module are written here,
next to the module's own definition (``self_explain.metrics``), and a test holds them equal to the module's
``compute`` on the same rows. A task's extra scores (its ``extra_scores`` hook, e.g. the features task's simulator
correlation) are means over the rows that have them: each row keeps its own value and whether it has one.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import replace

import numpy as np

from ..core.stats import Statistic
from ..tasks import ExplainerExamples, get_task

# The suffix of an extra score's row-count column: ``<score>`` sums the rows' values, ``<score>:rows`` counts them.
ROWS_SUFFIX = ":rows"


def _sum(*names: str) -> Callable[[Mapping[str, np.ndarray]], np.ndarray]:
    return lambda totals: sum(np.asarray(totals[name], dtype=float) for name in names)


def _ratio_of(numerator, denominator) -> Statistic:
    """A ratio of two functions of the totals, NaN ("not estimable") where the denominator is 0."""
    def statistic(totals: Mapping[str, np.ndarray]) -> np.ndarray:
        num, den = numerator(totals), denominator(totals)
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(den > 0, num / np.where(den > 0, den, 1.0), np.nan)

    return statistic


def _ratio(numerator: str, denominator: str) -> Statistic:
    return _ratio_of(_sum(numerator), _sum(denominator))


def _f1(tp: np.ndarray, fp: np.ndarray, fn: np.ndarray) -> np.ndarray:
    """F1 from confusion counts, 0.0 where there is no true positive."""
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(tp > 0, 2 * tp / np.where(tp > 0, 2 * tp + fp + fn, 1.0), 0.0)


# ----------------------------------------------------------------------------------------------------------------
# causal_match (patching, ablation)
# ----------------------------------------------------------------------------------------------------------------


def causal_match_rows(predictions: list[str], references: list[str]) -> dict[str, list[float]]:
    """Per-row statistics of ``causal_match``: validity, exact and content match, and confusion counts.

    As ``causal_match`` scores them: both sides normalised and parsed; for the valid answers, exact and content match
    and the "changed" class's confusion counts (``tp``, ``fp``, ``fn``); for the macro F1 over all rows, each class's
    counts with an invalid answer counted as the wrong class.

    Args:
        predictions (`list[str]`): The explanations.
        references (`list[str]`): The reference sentences, one per prediction.

    Returns:
        `dict[str, list[float]]`: Columns ``rows``, ``valid``, ``exact``, ``content``, ``tp``, ``fp``, ``fn``, ``tn``;
        ``changed_tp`` … ``unchanged_fn`` for the macro F1; and for the strata by the reference's class,
        ``changed_rows``, ``changed_exact``, ``changed_content``, ``changed_valid`` and the same for ``unchanged``;
        one 0/1 value per row.
    """
    from ..metrics.causal_match.causal_match import normalize_answer
    from ..tasks.causal_answers import parse_causal_answer

    names = ("rows", "valid", "exact", "content", "tp", "fp", "fn", "tn", "changed_tp", "changed_fp", "changed_fn",
             "unchanged_tp", "unchanged_fp", "unchanged_fn", *(f"{cls}_{column}" for cls in ("changed", "unchanged")
                                                               for column in ("rows", "exact", "content", "valid")))
    columns: dict[str, list[float]] = {name: [] for name in names}
    for prediction, reference in zip(predictions, references, strict=True):
        norm_pred, norm_ref = normalize_answer(prediction), normalize_answer(reference)
        pred, ref = parse_causal_answer(norm_pred), parse_causal_answer(norm_ref)
        valid = pred.valid
        said = pred.changed if valid else not ref.changed  # the macro F1 counts an invalid answer as wrong
        row = {
            "rows": 1, "valid": valid,
            "exact": valid and norm_pred == norm_ref and pred.changed == ref.changed,
            "content": valid and pred.content.lower() == ref.content.lower(),
            "tp": valid and pred.changed and ref.changed,
            "fp": valid and pred.changed and not ref.changed,
            "fn": valid and not pred.changed and ref.changed,
            "tn": valid and not pred.changed and not ref.changed,
            "changed_tp": said and ref.changed, "changed_fp": said and not ref.changed,
            "changed_fn": not said and ref.changed,
            "unchanged_tp": not said and not ref.changed, "unchanged_fp": not said and ref.changed,
            "unchanged_fn": said and not ref.changed,
        }
        stratum = "changed" if ref.changed else "unchanged"
        row.update({f"{stratum}_rows": True, f"{stratum}_exact": row["exact"], f"{stratum}_content": row["content"],
                    f"{stratum}_valid": valid})
        for name in names:
            columns[name].append(float(bool(row.get(name, False))))
    return columns


def _has_changed_f1(totals: Mapping[str, np.ndarray]) -> np.ndarray:
    value = _f1(totals["tp"], totals["fp"], totals["fn"])
    return np.where(totals["valid"] > 0, value, np.nan)  # not estimable without a valid answer


def _has_changed_macro_f1(totals: Mapping[str, np.ndarray]) -> np.ndarray:
    scores, present = [], []
    for cls in ("changed", "unchanged"):
        tp, fp, fn = totals[f"{cls}_tp"], totals[f"{cls}_fp"], totals[f"{cls}_fn"]
        present.append((tp + fp + fn) > 0)  # a class seen in the labels or the predictions
        scores.append(_f1(tp, fp, fn))
    count = present[0].astype(float) + present[1]
    total = np.where(present[0], scores[0], 0.0) + np.where(present[1], scores[1], 0.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(count > 0, total / np.where(count > 0, count, 1.0), np.nan)


def _has_unchanged_f1(totals: Mapping[str, np.ndarray]) -> np.ndarray:
    value = _f1(totals["tn"], totals["fn"], totals["fp"])  # "unchanged" as the positive class, over valid answers
    return np.where(totals["valid"] > 0, value, np.nan)


CAUSAL_MATCH = {
    "exact_match": _ratio("exact", "rows"),
    "content_match": _ratio("content", "rows"),
    "has_changed_f1": _has_changed_f1,
    "has_changed_macro_f1": _has_changed_macro_f1,
    "valid_rate": _ratio("valid", "rows"),
    **{f"{cls}_{metric}": _ratio(f"{cls}_{column}", f"{cls}_rows") for cls in ("changed", "unchanged")
       for metric, column in (("exact_match", "exact"), ("content_match", "content"), ("valid_rate", "valid"))},
    "has_unchanged_f1": _has_unchanged_f1,
    "has_changed_precision": _ratio_of(_sum("tp"), _sum("tp", "fp")),
    "has_changed_recall": _ratio_of(_sum("tp"), _sum("tp", "fn")),
    "has_unchanged_precision": _ratio_of(_sum("tn"), _sum("tn", "fn")),
    "has_unchanged_recall": _ratio_of(_sum("tn"), _sum("tn", "fp")),
}


# ----------------------------------------------------------------------------------------------------------------
# description_similarity (features)
# ----------------------------------------------------------------------------------------------------------------


def description_similarity_rows(predictions: list[str], references: list[str]) -> dict[str, list[float]]:
    """Per-row statistics of ``description_similarity``: each row's embedding similarity and exact match.

    Args:
        predictions (`list[str]`): The predicted descriptions.
        references (`list[str]`): The reference descriptions.

    Returns:
        `dict[str, list[float]]`: Columns ``rows`` (1), ``similarity`` (the cosine) and ``exact`` (0/1).
    """
    from ..core.embeddings import paired_similarity
    from ..metrics.description_similarity.description_similarity import normalize_description

    similarities = paired_similarity(predictions, references).tolist()
    exact = [float(normalize_description(p) == normalize_description(r)) for p, r in zip(predictions, references)]
    return {"rows": [1.0] * len(references), "similarity": [float(s) for s in similarities], "exact": exact}


DESCRIPTION_SIMILARITY = {"similarity": _ratio("similarity", "rows"), "exact_match": _ratio("exact", "rows")}


# ----------------------------------------------------------------------------------------------------------------
# weight_correlation (preferences)
# ----------------------------------------------------------------------------------------------------------------


def weight_correlation_rows(predictions: list[str], references: list[str]) -> dict[str, list[float]]:
    """Per-row statistics of ``weight_correlation``: validity, the weight pairs' sums (pooled r) and the row's r.

    Args:
        predictions (`list[str]`): The explainer's answers (after the task's ``metric_input``).
        references (`list[str]`): The true weights as JSON objects.

    Returns:
        `dict[str, list[float]]`: Columns ``rows``, ``valid``, ``pairs``, ``sx``, ``sy``, ``sxx``, ``syy``, ``sxy``
        (sums over the row's (reported, true) pairs; 0 for an invalid row) and ``scenario_r`` (its Pearson r).
    """
    from ..metrics.weight_correlation.weight_correlation import matched_weights, pearson, reference_weights

    names = ("rows", "valid", "pairs", "sx", "sy", "sxx", "syy", "sxy", "scenario_r")
    columns: dict[str, list[float]] = {name: [] for name in names}
    for index, (prediction, reference) in enumerate(zip(predictions, references, strict=True)):
        matched = matched_weights(prediction, reference_weights(reference, index))
        row = dict.fromkeys(names, 0.0)
        row["rows"] = 1.0
        if matched is not None:
            x, y = (np.asarray(side, dtype=float) for side in matched)
            row.update(valid=1.0, pairs=float(x.size), sx=float(x.sum()), sy=float(y.sum()), sxx=float(x @ x),
                       syy=float(y @ y), sxy=float(x @ y), scenario_r=float(pearson(x, y)))
        for name in names:
            columns[name].append(row[name])
    return columns


def _pooled_correlation(totals: Mapping[str, np.ndarray]) -> np.ndarray:
    n = np.asarray(totals["pairs"], dtype=float)
    safe = np.where(n > 0, n, 1.0)
    cxx = totals["sxx"] - totals["sx"] ** 2 / safe
    cyy = totals["syy"] - totals["sy"] ** 2 / safe
    cxy = totals["sxy"] - totals["sx"] * totals["sy"] / safe
    # As core.stats.pearson_correlation: 0 with fewer than 2 pairs or a constant side (up to rounding).
    flat = (n < 2) | (cxx <= 1e-9 * np.maximum(1.0, totals["sxx"])) | (cyy <= 1e-9 * np.maximum(1.0, totals["syy"]))
    with np.errstate(invalid="ignore", divide="ignore"):
        r = np.clip(cxy / np.sqrt(np.where(flat, 1.0, cxx * cyy)), -1.0, 1.0)
    return np.where(totals["valid"] > 0, np.where(flat, 0.0, r), np.nan)


WEIGHT_CORRELATION = {
    "pooled_correlation": _pooled_correlation,
    "mean_scenario_correlation": _ratio("scenario_r", "valid"),
    "valid_fraction": _ratio("valid", "rows"),
}

# Each evaluate module's per-row statistics, and its metrics as functions of their totals.
ROW_STATISTICS: dict[str, Callable[[list[str], list[str]], dict[str, list[float]]]] = {
    "causal_match": causal_match_rows,
    "description_similarity": description_similarity_rows,
    "weight_correlation": weight_correlation_rows,
}
METRIC_STATISTICS: dict[str, dict[str, Statistic]] = {
    "causal_match": CAUSAL_MATCH,
    "description_similarity": DESCRIPTION_SIMILARITY,
    "weight_correlation": WEIGHT_CORRELATION,
}


def _one_row(examples: ExplainerExamples, index: int) -> ExplainerExamples:
    def pick(values):
        return None if values is None else values[index : index + 1]

    return replace(examples, questions=examples.questions[index : index + 1], answers=pick(examples.answers),
                   vectors=pick(examples.vectors), layers=pick(examples.layers), extras=pick(examples.extras))


def extra_score_rows(task_name: str, examples: ExplainerExamples, predictions: list[str], target) -> dict[str, list[float]]:
    """Per-row values of the task's extra scores (its ``extra_scores`` hook on each row alone).

    An extra score is a mean over the rows that have it: ``<score>`` holds each row's value (0 where it has none) and
    ``<score>:rows`` whether it has one.

    Args:
        task_name (`str`): A registered task.
        examples (`ExplainerExamples`): The scored examples.
        predictions (`list[str]`): One prediction per example.
        target (`LoadedModel`): The target, which the hook runs.

    Returns:
        `dict[str, list[float]]`: Two columns per extra score; {} when the task has none or its examples no extras.
    """
    task = get_task(task_name)
    if not task.implements("extra_scores") or examples.extras is None:
        return {}
    per_row = [task.extra_scores(_one_row(examples, i), [prediction], target) for i, prediction in enumerate(predictions)]
    names = sorted({name for scores in per_row for name in scores})
    columns = {}
    for name in names:
        columns[name] = [float(scores[name]) if scores.get(name) is not None else 0.0 for scores in per_row]
        columns[name + ROWS_SUFFIX] = [float(scores.get(name) is not None) for scores in per_row]
    return columns


def row_statistics(task_name: str, examples: ExplainerExamples, predictions: list[str], explainer=None) -> dict:
    """Every per-row statistic the task's headline metrics are recomputed from, for one scored split.

    Args:
        task_name (`str`): A registered task.
        examples (`ExplainerExamples`): The scored examples (their answers are the references).
        predictions (`list[str]`): One prediction per example, as scored.
        explainer (`Explainer`, *optional*): Its target runs the task's extra scores; without it they are left out.

    Returns:
        `dict`: ``metric`` (the evaluate module's name) and ``columns`` (statistic name to one value per row).

    Raises:
        ValueError: When predictions and examples differ in number.
    """
    if len(predictions) != len(examples.questions):
        raise ValueError(f"got {len(predictions)} predictions for {len(examples.questions)} examples")
    task = get_task(task_name)
    metric_inputs = [task.metric_input(p) for p in predictions]
    rows = ROW_STATISTICS.get(task.metric)
    columns = rows(metric_inputs, list(examples.answers)) if rows is not None else {}
    if explainer is not None and task.implements("extra_scores") and examples.extras is not None:
        with explainer.target_runs() as target:
            columns.update(extra_score_rows(task_name, examples, list(predictions), target))
    return {"metric": task.metric, "columns": columns}


def metric_statistic(metric_module: str, name: str, columns) -> Statistic | None:
    """How a headline metric is recomputed from the totals of per-row statistics.

    Args:
        metric_module (`str`): The evaluate module the rows were scored with (e.g. ``causal_match``).
        name (`str`): The metric (a key of the module's output, or an extra score).
        columns (`Iterable[str]`): The statistics the rows have.

    Returns:
        `Callable` or `None`: Totals to values (NaN where not estimable); None when the rows cannot give it.
    """
    columns = set(columns)
    statistic = METRIC_STATISTICS.get(metric_module, {}).get(name)
    if statistic is not None:
        return statistic
    if name in columns and name + ROWS_SUFFIX in columns:  # an extra score: the mean over the rows that have it
        return _ratio(name, name + ROWS_SUFFIX)
    return None
