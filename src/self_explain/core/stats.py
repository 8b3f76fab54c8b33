"""Statistics shared by the package and its evaluate modules: Pearson r, Student's t quantiles, mean intervals."""

from __future__ import annotations

import math


def pearson_correlation(x, y) -> float:
    """Pearson r of two equally long sequences; 0.0 when either is constant (or has < 2 values).

    A constant prediction carries no information about which tokens fire, so it scores like an
    uncorrelated one rather than being undefined.

    >>> pearson_correlation([1, 2, 3], [2, 4, 7])
    0.9933992677987828
    >>> pearson_correlation([1, 1, 1], [2, 4, 7])
    0.0

    Args:
        x (`Sequence[float]` or 1-D array): The first values.
        y (`Sequence[float]` or 1-D array): The second values, as many as ``x``.

    Returns:
        `float`: r in [-1, 1].

    Raises:
        ValueError: When ``x`` and ``y`` differ in length.
    """
    x = [float(v) for v in x]
    y = [float(v) for v in y]
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


# Two-sided 95 % quantiles of Student's t, by degrees of freedom (beyond 30, the normal's 1.96 is close enough).
T_975 = {1: 12.706, 2: 4.303, 3: 3.182, 4: 2.776, 5: 2.571, 6: 2.447, 7: 2.365, 8: 2.306, 9: 2.262, 10: 2.228,
         11: 2.201, 12: 2.179, 13: 2.160, 14: 2.145, 15: 2.131, 16: 2.120, 17: 2.110, 18: 2.101, 19: 2.093,
         20: 2.086, 21: 2.080, 22: 2.074, 23: 2.069, 24: 2.064, 25: 2.060, 26: 2.056, 27: 2.052, 28: 2.048,
         29: 2.045, 30: 2.042}


def t_quantile_975(degrees_of_freedom: int) -> float:
    """The two-sided 95 % quantile of Student's t (1.96 beyond 30 degrees of freedom).

    Args:
        degrees_of_freedom (`int`): At least 1.

    Returns:
        `float`: The quantile.
    """
    if degrees_of_freedom < 1:
        raise ValueError(f"Student's t needs at least 1 degree of freedom, got {degrees_of_freedom}")
    return T_975.get(degrees_of_freedom, 1.96)


def mean_confidence_interval(values) -> tuple[float, float | None, float | None]:
    """The mean and the t-based 95 % confidence interval of the mean; no interval from a single value.

    >>> [round(v, 3) for v in mean_confidence_interval([1.0, 2.0, 3.0])]
    [2.0, -0.484, 4.484]
    >>> mean_confidence_interval([0.25])
    (0.25, None, None)

    Args:
        values (`Sequence[float]`): At least one value.

    Returns:
        `tuple[float, float | None, float | None]`: (mean, low, high); low and high are None for one value.
    """
    values = [float(v) for v in values]
    n = len(values)
    if n == 0:
        raise ValueError("no values to summarise")
    mean = math.fsum(values) / n
    if n == 1:
        return mean, None, None
    sd = math.sqrt(math.fsum((v - mean) ** 2 for v in values) / (n - 1))
    half = t_quantile_975(n - 1) * sd / math.sqrt(n)
    return mean, mean - half, mean + half
