"""Per-row statistics of ``weight_correlation`` and its metrics recomputed from their totals."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from ..row_statistics import ratio


def weight_correlation_rows(predictions: list[str], references: list[str]) -> dict[str, list[float]]:
    """Per-row statistics of ``weight_correlation``: ``rows``, ``valid``, the pairs' sums (pooled r), ``scenario_r``.

    Sums ``pairs``, ``sx``, ``sy``, ``sxx``, ``syy``, ``sxy`` are over the row's (reported, true) pairs; 0 if invalid.
    """
    from .weight_correlation import matched_weights, pearson, reference_weights

    names = ("rows", "valid", "pairs", "sx", "sy", "sxx", "syy", "sxy", "scenario_r")
    columns: dict[str, list[float]] = {name: [] for name in names}
    for index, (prediction, reference) in enumerate(zip(predictions, references, strict=True)):
        matched = matched_weights(prediction, reference_weights(reference, index))
        row = dict.fromkeys(names, 0.0)
        row["rows"] = 1.0
        if matched is not None:
            x, y = (np.asarray(side, dtype=float) for side in matched)
            row.update(
                valid=1.0,
                pairs=float(x.size),
                sx=float(x.sum()),
                sy=float(y.sum()),
                sxx=float(x @ x),
                syy=float(y @ y),
                sxy=float(x @ y),
                scenario_r=float(pearson(x, y)),
            )
        for name in names:
            columns[name].append(row[name])
    return columns


def _pooled_correlation(totals: Mapping[str, np.ndarray]) -> np.ndarray:
    n = np.asarray(totals["pairs"], dtype=float)
    safe = np.where(n > 0, n, 1.0)
    cxx = totals["sxx"] - totals["sx"] ** 2 / safe
    cyy = totals["syy"] - totals["sy"] ** 2 / safe
    cxy = totals["sxy"] - totals["sx"] * totals["sy"] / safe
    # As utils.stats.pearson_correlation: 0 with fewer than 2 pairs or a constant side (up to rounding).
    flat = (n < 2) | (cxx <= 1e-9 * np.maximum(1.0, totals["sxx"])) | (cyy <= 1e-9 * np.maximum(1.0, totals["syy"]))
    with np.errstate(invalid="ignore", divide="ignore"):
        r = np.clip(cxy / np.sqrt(np.where(flat, 1.0, cxx * cyy)), -1.0, 1.0)
    return np.where(totals["valid"] > 0, np.where(flat, 0.0, r), np.nan)


WEIGHT_CORRELATION = {
    "pooled_correlation": _pooled_correlation,
    "mean_scenario_correlation": ratio("scenario_r", "valid"),
    "valid_fraction": ratio("valid", "rows"),
}


ROWS = weight_correlation_rows
STATISTICS = WEIGHT_CORRELATION
