"""Statistics shared by tasks (the evaluate modules keep their own: they load standalone)."""

from __future__ import annotations

import math


def pearson_correlation(x: list[float], y: list[float]) -> float:
    """Pearson r of two equally long sequences; 0.0 when either is constant (or has < 2 values).

    A constant prediction carries no information about which tokens fire, so it scores like an
    uncorrelated one rather than being undefined.

    >>> pearson_correlation([1, 2, 3], [2, 4, 7])
    0.9933992677987828
    >>> pearson_correlation([1, 1, 1], [2, 4, 7])
    0.0
    """
    if len(x) != len(y):
        raise ValueError(f"cannot correlate sequences of {len(x)} and {len(y)} values; expected equal lengths")
    n = len(x)
    if n < 2:
        return 0.0
    mean_x, mean_y = math.fsum(x) / n, math.fsum(y) / n
    dx = [a - mean_x for a in x]
    dy = [b - mean_y for b in y]
    sxx, syy = math.fsum(a * a for a in dx), math.fsum(b * b for b in dy)
    # Relative tolerance: values equal up to rounding count as constant.
    if sxx <= 1e-24 * max(1.0, math.fsum(a * a for a in x)) or syy <= 1e-24 * max(1.0, math.fsum(b * b for b in y)):
        return 0.0
    r = math.fsum(a * b for a, b in zip(dx, dy)) / math.sqrt(sxx * syy)
    return max(-1.0, min(1.0, r))
