"""Per-row statistics of ``causal_match`` and its metrics recomputed from their totals (a test holds them equal to
the module's ``compute``)."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from ..row_statistics import f1, ratio, ratio_of, sum_of


def causal_match_rows(predictions: list[str], references: list[str]) -> dict[str, list[float]]:
    """Per-row 0/1 statistics of ``causal_match``, as it scores: validity, exact and content match, confusion counts.

    Columns: ``rows``, ``valid``, ``exact``, ``content``, ``tp``, ``fp``, ``fn``, ``tn`` (valid answers, class
    "changed"); ``changed_tp`` … ``unchanged_fn`` for the macro F1 (an invalid answer counts as the wrong class); and
    ``changed_rows``, ``changed_exact``, ``changed_content``, ``changed_valid`` and the same for ``unchanged``.
    """
    from ...tasks.causal_answers import parse_causal_answer
    from .causal_match import normalize_answer

    names = (
        "rows",
        "valid",
        "exact",
        "content",
        "tp",
        "fp",
        "fn",
        "tn",
        "changed_tp",
        "changed_fp",
        "changed_fn",
        "unchanged_tp",
        "unchanged_fp",
        "unchanged_fn",
        *(f"{cls}_{column}" for cls in ("changed", "unchanged") for column in ("rows", "exact", "content", "valid")),
    )
    columns: dict[str, list[float]] = {name: [] for name in names}
    for prediction, reference in zip(predictions, references, strict=True):
        norm_pred, norm_ref = normalize_answer(prediction), normalize_answer(reference)
        pred, ref = parse_causal_answer(norm_pred), parse_causal_answer(norm_ref)
        valid = pred.valid
        said = pred.changed if valid else not ref.changed  # the macro F1 counts an invalid answer as wrong
        row = {
            "rows": 1,
            "valid": valid,
            "exact": valid and norm_pred == norm_ref and pred.changed == ref.changed,
            "content": valid and pred.content.lower() == ref.content.lower(),
            "tp": valid and pred.changed and ref.changed,
            "fp": valid and pred.changed and not ref.changed,
            "fn": valid and not pred.changed and ref.changed,
            "tn": valid and not pred.changed and not ref.changed,
            "changed_tp": said and ref.changed,
            "changed_fp": said and not ref.changed,
            "changed_fn": not said and ref.changed,
            "unchanged_tp": not said and not ref.changed,
            "unchanged_fp": not said and ref.changed,
            "unchanged_fn": said and not ref.changed,
        }
        stratum = "changed" if ref.changed else "unchanged"
        row.update(
            {
                f"{stratum}_rows": True,
                f"{stratum}_exact": row["exact"],
                f"{stratum}_content": row["content"],
                f"{stratum}_valid": valid,
            }
        )
        for name in names:
            columns[name].append(float(bool(row.get(name, False))))
    return columns


def _has_changed_f1(totals: Mapping[str, np.ndarray]) -> np.ndarray:
    value = f1(totals["tp"], totals["fp"], totals["fn"])
    return np.where(totals["valid"] > 0, value, np.nan)  # not estimable without a valid answer


def _has_changed_macro_f1(totals: Mapping[str, np.ndarray]) -> np.ndarray:
    scores, present = [], []
    for cls in ("changed", "unchanged"):
        tp, fp, fn = totals[f"{cls}_tp"], totals[f"{cls}_fp"], totals[f"{cls}_fn"]
        present.append((tp + fp + fn) > 0)  # a class seen in the labels or the predictions
        scores.append(f1(tp, fp, fn))
    count = present[0].astype(float) + present[1]
    total = np.where(present[0], scores[0], 0.0) + np.where(present[1], scores[1], 0.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(count > 0, total / np.where(count > 0, count, 1.0), np.nan)


def _has_unchanged_f1(totals: Mapping[str, np.ndarray]) -> np.ndarray:
    value = f1(totals["tn"], totals["fn"], totals["fp"])  # "unchanged" as the positive class, over valid answers
    return np.where(totals["valid"] > 0, value, np.nan)


CAUSAL_MATCH = {
    "exact_match": ratio("exact", "rows"),
    "content_match": ratio("content", "rows"),
    "has_changed_f1": _has_changed_f1,
    "has_changed_macro_f1": _has_changed_macro_f1,
    "valid_rate": ratio("valid", "rows"),
    **{
        f"{cls}_{metric}": ratio(f"{cls}_{column}", f"{cls}_rows")
        for cls in ("changed", "unchanged")
        for metric, column in (("exact_match", "exact"), ("content_match", "content"), ("valid_rate", "valid"))
    },
    "has_unchanged_f1": _has_unchanged_f1,
    "has_changed_precision": ratio_of(sum_of("tp"), sum_of("tp", "fp")),
    "has_changed_recall": ratio_of(sum_of("tp"), sum_of("tp", "fn")),
    "has_unchanged_precision": ratio_of(sum_of("tn"), sum_of("tn", "fn")),
    "has_unchanged_recall": ratio_of(sum_of("tn"), sum_of("tn", "fp")),
}


ROWS = causal_match_rows
STATISTICS = CAUSAL_MATCH
