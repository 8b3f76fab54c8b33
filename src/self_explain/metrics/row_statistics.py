"""Helpers that turn additive per-row totals into a metric, and where each metric declares its own statistics.

Each ``metrics/<m>/rows.py`` declares ``ROWS`` and ``STATISTICS``.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping

import numpy as np

from ..utils.stats import Statistic
from . import _METRICS_DIR, METRICS

RowStatistics = Callable[[list[str], list[str]], dict[str, list[float]]]


def metric_row_statistics(name: str) -> tuple[RowStatistics, dict[str, Statistic]] | None:
    """``(ROWS, STATISTICS)`` of ``metrics/<name>/rows.py``; None when the metric has none."""
    if name not in METRICS or not (_METRICS_DIR / name / "rows.py").is_file():
        return None
    module = importlib.import_module(f"{__package__}.{name}.rows")
    return module.ROWS, module.STATISTICS


def sum_of(*names: str) -> Callable[[Mapping[str, np.ndarray]], np.ndarray]:
    """The sum of the totals of these columns, as a function of the totals."""
    return lambda totals: sum(np.asarray(totals[name], dtype=float) for name in names)


def ratio_of(numerator, denominator) -> Statistic:
    """A ratio of two functions of the totals, NaN ("not estimable") where the denominator is 0."""

    def statistic(totals: Mapping[str, np.ndarray]) -> np.ndarray:
        num, den = numerator(totals), denominator(totals)
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(den > 0, num / np.where(den > 0, den, 1.0), np.nan)

    return statistic


def ratio(numerator: str, denominator: str) -> Statistic:
    """The ratio of two columns' totals, NaN where the denominator is 0."""
    return ratio_of(sum_of(numerator), sum_of(denominator))


def f1(tp: np.ndarray, fp: np.ndarray, fn: np.ndarray) -> np.ndarray:
    """F1 from confusion-count arrays, 0.0 where there is no true positive."""
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(tp > 0, 2 * tp / np.where(tp > 0, 2 * tp + fp + fn, 1.0), 0.0)
