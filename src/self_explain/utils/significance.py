"""Tests read off bootstrap replicates of a difference, and Holm's adjustment of a family of p-values.

The experiment compares the self-explainer with every other explainer, control and baseline X through the paired
bootstrap of :class:`~self_explain.utils.stats.SeedGroupBootstrap`: each resample gives one value of the difference
self − X. The same replicates that give its percentile interval give

- a two-sided p-value for "the difference is 0" (:func:`bootstrap_p_value`): twice the smaller share of replicates on
  either side of 0, so that ``p < 0.05`` where the 95 % percentile interval excludes 0;
- the p-value of the two one-sided tests (TOST) of equivalence within a margin δ (:func:`equivalence_p_value`): the
  larger share of replicates at or beyond −δ and +δ, so that ``p < 0.05`` where the 90 % percentile interval lies
  inside (−δ, +δ).

A table of such differences is a family of tests: :func:`holm_adjust` gives Holm's step-down adjusted p-values,
which keep the chance of any false "different" in the family at most α.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

# The level of the experiment's tests: a difference is shown different (or shown level) at 5 %.
ALPHA = 0.05
# The default margin δ of the equivalence test behind a "level" claim (the experiment's --equivalence_margin).
EQUIVALENCE_MARGIN = 0.05


def _finite(replicates) -> np.ndarray:
    """The replicates as a float array, without the resamples where the statistic could not be computed (NaN)."""
    values = np.asarray(replicates, dtype=float).ravel()
    return values[np.isfinite(values)]


def bootstrap_p_value(replicates) -> float | None:
    """Two-sided bootstrap p-value of "the difference is 0", from the difference's bootstrap replicates.

    ``p = min(1, 2 · min(share ≤ 0, share ≥ 0))`` over the resamples where the difference could be computed, and at
    least ``1 / (resamples + 1)``: a bootstrap of B resamples cannot tell a p-value below that from 0. A difference of
    0 in every resample gives 1.

    >>> bootstrap_p_value([0.1, 0.2, 0.3, -0.1])
    0.5
    >>> bootstrap_p_value([0.1] * 99)
    0.01
    >>> bootstrap_p_value([0.0, 0.0]), bootstrap_p_value([float("nan")])
    (1.0, None)

    Args:
        replicates (`Sequence[float]` or 1-D array): The difference in each resample (NaN: not computable there).

    Returns:
        `float` or `None`: The p-value in [1 / (B + 1), 1], B the resamples with a value; None when none has one.
    """
    values = _finite(replicates)
    if values.size == 0:
        return None
    below, above = np.mean(values <= 0), np.mean(values >= 0)
    return float(max(1.0 / (values.size + 1), min(1.0, 2.0 * min(below, above))))


def equivalence_p_value(replicates, margin: float) -> float | None:
    """p-value of the two one-sided tests (TOST) that the difference lies within ± ``margin``.

    The null hypothesis is "the difference is at most −δ or at least +δ". Each one-sided test's p-value is the share
    of replicates on the far side of its bound (share ≤ −δ, share ≥ +δ), at least ``1 / (resamples + 1)``; TOST's
    p-value is the larger of the two. Below α, the difference is shown *equivalent* within ±δ ("level"); this is the
    case where the (1 − 2α) percentile interval lies inside (−δ, +δ). An interval that merely includes 0 shows no
    such thing.

    >>> equivalence_p_value([0.0, 0.01, -0.02, 0.03], margin=0.05)
    0.2
    >>> equivalence_p_value([0.0, 0.01, -0.02, 0.06], margin=0.05)
    0.25

    Args:
        replicates (`Sequence[float]` or 1-D array): The difference in each resample (NaN: not computable there).
        margin (`float`): The equivalence margin δ (> 0), on the metric's own scale.

    Returns:
        `float` or `None`: The p-value in [1 / (B + 1), 1]; None when no resample has a value.

    Raises:
        ValueError: When the margin is not positive.
    """
    if not margin > 0:
        raise ValueError(f"the equivalence margin must be positive, got {margin}")
    values = _finite(replicates)
    if values.size == 0:
        return None
    floor = 1.0 / (values.size + 1)
    return float(max(floor, np.mean(values <= -margin), np.mean(values >= margin)))


def holm_adjust(p_values: Sequence[float | None]) -> list[float | None]:
    """Holm's step-down adjusted p-values of a family of tests; a test without p-value (None) is not in the family.

    With the m p-values sorted, p₍₁₎ ≤ … ≤ p₍ₘ₎, the k-th is adjusted to ``max over j ≤ k of min(1, (m − j + 1)
    p₍ⱼ₎)``.
    A test *survives* at level α when its adjusted p-value is at most α: Holm's procedure rejects exactly those, and
    the chance of rejecting any true null hypothesis in the family is at most α, whatever their dependence.

    >>> holm_adjust([0.01, 0.04, 0.03, 0.005])
    [0.03, 0.06, 0.06, 0.02]
    >>> holm_adjust([0.2, None, 0.01])
    [0.2, None, 0.02]

    Args:
        p_values (`Sequence[float | None]`): The family's raw p-values, each in [0, 1], or None.

    Returns:
        `list[float | None]`: The adjusted p-values, in the order given; None where none was given.

    Raises:
        ValueError: On a p-value outside [0, 1].
    """
    tested = [(p, i) for i, p in enumerate(p_values) if p is not None]
    if any(not 0.0 <= p <= 1.0 for p, _ in tested):
        raise ValueError(f"p-values must lie in [0, 1], got {[p for p, _ in tested]}")
    adjusted: list[float | None] = [None] * len(p_values)
    running = 0.0
    for rank, (p, i) in enumerate(sorted(tested)):
        running = max(running, min(1.0, (len(tested) - rank) * p))
        adjusted[i] = running
    return adjusted
