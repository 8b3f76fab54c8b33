"""Tests read off the paired bootstrap replicates of a difference self − X
(:class:`~self_explain.utils.stats.SeedGroupBootstrap`), and Holm's adjustment of a family of p-values.

The p-values match the percentile intervals of the same replicates: :func:`bootstrap_p_value` < 0.05 where the 95 %
interval excludes 0; :func:`equivalence_p_value` (TOST within ±δ) < 0.05 where the 90 % interval lies inside
(−δ, +δ). :func:`holm_adjust` keeps the chance of any false "different" in a table at most α.
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

    ``p = min(1, 2 · min(share ≤ 0, share ≥ 0))`` over the B resamples with a value, and at least ``1 / (B + 1)``: a
    bootstrap cannot tell a p-value below that from 0. None when no resample has a value.

    >>> bootstrap_p_value([0.1, 0.2, 0.3, -0.1])
    0.5
    >>> bootstrap_p_value([0.1] * 99)
    0.01
    >>> bootstrap_p_value([0.0, 0.0]), bootstrap_p_value([float("nan")])
    (1.0, None)

    Args:
        replicates (`Sequence[float]` or 1-D array): The difference in each resample (NaN: not computable there).
    """
    values = _finite(replicates)
    if values.size == 0:
        return None
    below, above = np.mean(values <= 0), np.mean(values >= 0)
    return float(max(1.0 / (values.size + 1), min(1.0, 2.0 * min(below, above))))


def equivalence_p_value(replicates, margin: float) -> float | None:
    """p-value of the two one-sided tests (TOST) that the difference lies within ± ``margin``.

    Null hypothesis: "the difference is at most −δ or at least +δ". Each one-sided p-value is the share of replicates
    on the far side of its bound, at least ``1 / (B + 1)``; TOST's is the larger. Below α the difference is shown
    *equivalent* ("level"); an interval that merely includes 0 shows no such thing. None when no resample has a value.

    >>> equivalence_p_value([0.0, 0.01, -0.02, 0.03], margin=0.05)
    0.2
    >>> equivalence_p_value([0.0, 0.01, -0.02, 0.06], margin=0.05)
    0.25

    Args:
        replicates (`Sequence[float]` or 1-D array): The difference in each resample (NaN: not computable there).
        margin (`float`): The equivalence margin δ (> 0, else ValueError), on the metric's own scale.
    """
    if not margin > 0:
        raise ValueError(f"the equivalence margin must be positive, got {margin}")
    values = _finite(replicates)
    if values.size == 0:
        return None
    floor = 1.0 / (values.size + 1)
    return float(max(floor, np.mean(values <= -margin), np.mean(values >= margin)))


def holm_adjust(p_values: Sequence[float | None]) -> list[float | None]:
    """Holm's step-down adjusted p-values, in the order given; a None (no test) stays None, outside the family.

    With p₍₁₎ ≤ … ≤ p₍ₘ₎, the k-th becomes ``max over j ≤ k of min(1, (m − j + 1) p₍ⱼ₎)``. Rejecting those at most α
    keeps the chance of rejecting any true null in the family at most α, whatever their dependence.

    >>> holm_adjust([0.01, 0.04, 0.03, 0.005])
    [0.03, 0.06, 0.06, 0.02]
    >>> holm_adjust([0.2, None, 0.01])
    [0.2, None, 0.02]

    Args:
        p_values (`Sequence[float | None]`): The family's raw p-values, each in [0, 1] (else ValueError), or None.
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
