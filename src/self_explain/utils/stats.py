"""Statistics of the package and its metrics: SciPy's r, t and χ², a logistic fit, and a seeds × groups bootstrap."""

from __future__ import annotations

import math
from collections.abc import Callable, Hashable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from scipy import stats as scipy_stats


def pearson_correlation(x, y) -> float:
    """Pearson r of two equally long sequences (`scipy.stats.pearsonr`); 0.0 when either is constant or has < 2 values.

    A constant prediction carries no information about which tokens fire, so it scores like an uncorrelated one
    rather than being undefined (SciPy would warn and give NaN).

    >>> round(pearson_correlation([1, 2, 3], [2, 4, 7]), 12)
    0.993399267799
    >>> pearson_correlation([1, 1, 1], [2, 4, 7])
    0.0

    Args:
        x (`Sequence[float]` or 1-D array): The first values.
        y (`Sequence[float]` or 1-D array): The second values, as many as ``x`` (else ValueError).
    """
    x = np.asarray([float(v) for v in x], dtype=np.float64)
    y = np.asarray([float(v) for v in y], dtype=np.float64)
    if len(x) != len(y):
        raise ValueError(f"cannot correlate sequences of {len(x)} and {len(y)} values; expected equal lengths")
    return float(_pearson_rows(x[None], y[None])[0])


def _pearson_rows(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """`pearson_correlation` of each row of two (m, n) arrays, in one `scipy.stats.pearsonr` call."""
    r = np.zeros(x.shape[0])
    if x.shape[1] < 2:
        return r
    defined = ~(_constant_rows(x) | _constant_rows(y))
    if defined.any():
        r[defined] = scipy_stats.pearsonr(x[defined], y[defined], axis=1).statistic
    return r


def _constant_rows(values: np.ndarray) -> np.ndarray:
    """Rows whose values are equal up to rounding (a relative tolerance), where r is undefined."""
    deviations = values - values.mean(axis=1, keepdims=True)
    return (deviations**2).sum(axis=1) <= 1e-24 * np.maximum(1.0, (values**2).sum(axis=1))


def t_quantile_975(degrees_of_freedom: int) -> float:
    """The two-sided 95 % quantile of Student's t (`scipy.stats.t.ppf` at 0.975), for at least 1 degree of freedom.

    >>> round(t_quantile_975(1), 3), round(t_quantile_975(30), 3)
    (12.706, 2.042)
    """
    if degrees_of_freedom < 1:
        raise ValueError(f"Student's t needs at least 1 degree of freedom, got {degrees_of_freedom}")
    return float(scipy_stats.t.ppf(0.975, degrees_of_freedom))


def pooled_correlation_interval(
    groups: Sequence[tuple[np.ndarray, np.ndarray]], samples: int = 1000, seed: int = 0
) -> tuple[float, float]:
    """95 % percentile bootstrap interval of the Pearson r of pairs pooled over groups, resampling whole groups."""
    x = np.concatenate([np.asarray(gx, dtype=np.float64) for gx, _ in groups])
    y = np.concatenate([np.asarray(gy, dtype=np.float64) for _, gy in groups])
    sizes = np.array([len(gx) for gx, _ in groups])
    owner = np.repeat(np.arange(len(groups)), sizes)
    rng = np.random.default_rng(seed)
    counts = np.stack(
        [np.bincount(rng.integers(0, len(groups), size=len(groups)), minlength=len(groups)) for _ in range(samples)]
    )
    lengths = counts @ sizes
    values = np.empty(samples)
    for length in np.unique(lengths):  # resamples of one length are correlated in one call
        rows = np.flatnonzero(lengths == length)
        repeats = counts[rows][:, owner]  # each pair is repeated as often as its group was drawn
        values[rows] = _pearson_rows(
            np.stack([np.repeat(x, r) for r in repeats]), np.stack([np.repeat(y, r) for r in repeats])
        )
    low, high = np.percentile(values, [2.5, 97.5])
    return float(low), float(high)


def fit_logistic(
    differences: np.ndarray, targets: np.ndarray, l2: float = 0.1, iterations: int = 100
) -> tuple[np.ndarray, float]:
    """Coefficients β and intercept b of P(A) = σ(b + Σ βᵢ dᵢ) fitted by Newton's method to soft or 0/1 targets.

    ``differences`` is (n, k). A small L2 penalty on β (not on b) keeps the fit finite when the choices are perfectly
    separable, as a decisive model's are; the rescaled weights only keep the coefficients' direction.
    """
    # Not statsmodels: sm.Logit has no L2 penalty (it diverges on the separable choices of a decisive model), and
    # GLM.fit_regularized's ridge is a BFGS fit (1e-4 from this optimum) without the covariance the Wald test needs.
    n, k = differences.shape
    design = np.hstack([np.ones((n, 1)), differences])
    penalty = np.diag([0.0] + [l2] * k)
    theta = np.zeros(k + 1)
    for _ in range(iterations):
        predicted = 1 / (1 + np.exp(-np.clip(design @ theta, -30, 30)))
        gradient = design.T @ (predicted - targets) + penalty @ theta
        hessian = design.T @ (design * (predicted * (1 - predicted))[:, None]) + penalty + 1e-9 * np.eye(k + 1)
        step = np.linalg.solve(hessian, gradient)
        theta -= step
        if np.abs(step).max() < 1e-10:
            break
    return theta[1:], float(theta[0])


def chi_square_survival(statistic: float, degrees_of_freedom: int) -> float:
    """P(χ² ≥ ``statistic``) (a negative one counts as 0) with ``degrees_of_freedom`` ≥ 1 (`scipy.stats.chi2.sf`).

    >>> round(chi_square_survival(3.841, 1), 3), round(chi_square_survival(11.070, 5), 3)
    (0.05, 0.05)
    """
    if degrees_of_freedom < 1:
        raise ValueError(f"the chi-square distribution needs at least 1 degree of freedom, got {degrees_of_freedom}")
    return float(scipy_stats.chi2.sf(max(0.0, float(statistic)), degrees_of_freedom))


def mean_confidence_interval(values) -> tuple[float, float | None, float | None]:
    """(mean, low, high): the t-based 95 % confidence interval of the mean; no interval from a single value.

    >>> [round(v, 3) for v in mean_confidence_interval([1.0, 2.0, 3.0])]
    [2.0, -0.484, 4.484]
    >>> mean_confidence_interval([0.25])
    (0.25, None, None)
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


# ----------------------------------------------------------------------------------------------------------------
# The bootstrap over seeds × groups
# ----------------------------------------------------------------------------------------------------------------

# A statistic maps column totals (each an array over resamples) to its value per resample, NaN where it cannot be
# computed (e.g. an F1 over no valid answer).
Statistic = Callable[[Mapping[str, np.ndarray]], np.ndarray]


@dataclass(frozen=True)
class BootstrapRun:
    """One run's scored rows, as the bootstrap reads them: its seed, each row's group and per-row statistics.

    A metric is recomputed from the column *totals* of the rows drawn, so per-row statistics must be additive (counts,
    sums), not the metric of one row. Groups are drawn, not rows; runs of one seed are drawn together, and a run with
    seed None (e.g. an untrained baseline) is in every resample, once.
    """

    seed: Hashable | None
    groups: Sequence[Hashable]
    columns: Mapping[str, Sequence[float]]


def multinomial_counts(size: int, samples: int, rng: np.random.Generator) -> np.ndarray:
    """(samples, size) counts: how often each of ``size`` items is drawn in each resample of ``size`` draws.

    >>> counts = multinomial_counts(4, 3, np.random.default_rng(0))
    >>> counts.shape, counts.sum(axis=1).tolist()
    ((3, 4), [4, 4, 4])
    """
    return rng.multinomial(size, np.full(size, 1.0 / size), size=samples)


class SeedGroupBootstrap:
    """A seeded bootstrap over seeds × groups, drawn once so that every run compared through it is resampled alike.

    Seeds and groups (e.g. held-out entities) are drawn with replacement and *crossed*: one draw of groups serves
    every seed (the groups' sampling error does not shrink with more seeds). A resample's value is the mean, over its
    drawn seeds, of each run's metric recomputed from its rows' totals weighted by group counts (runs where it cannot
    be computed left out). Two explainers through one bootstrap are *paired*, for the difference's interval.

    Args:
        seeds (`Sequence[Hashable]`): The seeds resampled (distinct); a run with another seed is refused.
        groups (`Sequence[Hashable]`): The groups resampled (distinct, at least one); a row of another one is refused.
        samples (`int`, *optional*, defaults to 1000): Resamples.
        seed (`int`, *optional*, defaults to 0): Seed of the random generator: the same seed gives the same resamples.
    """

    def __init__(self, seeds: Sequence[Hashable], groups: Sequence[Hashable], samples: int = 1000, seed: int = 0):
        seeds, groups = list(seeds), list(groups)
        if len(set(seeds)) != len(seeds) or len(set(groups)) != len(groups):
            raise ValueError("the bootstrap's seeds and groups must be distinct")
        if not groups:
            raise ValueError("the bootstrap needs at least one group")
        if samples < 1:
            raise ValueError(f"the bootstrap needs at least one resample, got {samples}")
        self.samples = samples
        self.seed_index = {s: i for i, s in enumerate(seeds)}
        self.group_index = {g: i for i, g in enumerate(groups)}
        rng = np.random.default_rng(seed)
        self.group_counts = multinomial_counts(len(groups), samples, rng).astype(float)
        self.seed_counts = (
            multinomial_counts(len(seeds), samples, rng).astype(float) if seeds else np.zeros((samples, 0))
        )

    def _group_totals(self, run: BootstrapRun) -> tuple[list[str], np.ndarray]:
        names = sorted(run.columns)
        try:
            index = np.array([self.group_index[g] for g in run.groups], dtype=int)
        except KeyError as error:
            raise ValueError(f"a row's group {error.args[0]!r} is not one of the bootstrap's groups") from None
        values = np.zeros((len(run.groups), len(names)))
        for j, name in enumerate(names):
            column = np.asarray(run.columns[name], dtype=float)
            if column.shape != (len(run.groups),):
                raise ValueError(f"column {name!r} has {column.size} values for {len(run.groups)} rows")
            values[:, j] = column
        totals = np.zeros((len(self.group_index), len(names)))
        np.add.at(totals, index, values)
        return names, totals

    def _combine(
        self, runs: Sequence[BootstrapRun], statistic: Statistic, group_weights: np.ndarray, seed_weights: np.ndarray
    ) -> np.ndarray:
        if not runs:
            raise ValueError("no runs to compute a statistic over")
        numerator = np.zeros(group_weights.shape[0])
        denominator = np.zeros(group_weights.shape[0])
        for run in runs:
            names, per_group = self._group_totals(run)
            totals = group_weights @ per_group
            value = np.asarray(statistic({name: totals[:, j] for j, name in enumerate(names)}), dtype=float)
            if run.seed is None:
                weight = np.ones(group_weights.shape[0])
            elif run.seed in self.seed_index:
                weight = seed_weights[:, self.seed_index[run.seed]]
            else:
                raise ValueError(f"run seed {run.seed!r} is not one of the bootstrap's seeds")
            finite = np.isfinite(value)
            numerator += np.where(finite, value, 0.0) * weight
            denominator += np.where(finite, weight, 0.0)
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(denominator > 0, numerator / np.where(denominator > 0, denominator, 1.0), np.nan)

    def estimate(self, runs: Sequence[BootstrapRun], statistic: Statistic) -> float | None:
        """The statistic on the rows as they are: the mean of the runs' values where computable; None when none is.

        Args:
            runs (`Sequence[BootstrapRun]`): The runs (one per seed, or one without seed).
            statistic (`Callable`): Column totals (arrays) to values (an array; NaN: cannot be computed).
        """
        ones = np.ones((1, len(self.group_index)))
        value = float(self._combine(runs, statistic, ones, np.ones((1, len(self.seed_index))))[0])
        return value if math.isfinite(value) else None

    def replicates(self, runs: Sequence[BootstrapRun], statistic: Statistic) -> np.ndarray:
        """The statistic in every resample, (samples,); NaN where no drawn run can compute it.

        Args:
            runs (`Sequence[BootstrapRun]`): The runs (one per seed, or one without seed).
            statistic (`Callable`): Column totals (arrays) to values (an array; NaN: cannot be computed).
        """
        return self._combine(runs, statistic, self.group_counts, self.seed_counts)

    def interval(
        self, runs: Sequence[BootstrapRun], statistic: Statistic, level: float = 0.95
    ) -> tuple[float | None, float | None, float | None]:
        """(value, low, high): the statistic and its percentile bootstrap interval; all None when not estimable.

        Args:
            runs (`Sequence[BootstrapRun]`): The runs.
            statistic (`Callable`): Column totals (arrays) to values (an array; NaN: cannot be computed).
            level (`float`, *optional*, defaults to 0.95): Coverage of the interval.
        """
        value = self.estimate(runs, statistic)
        if value is None:
            return None, None, None
        return (value, *percentile_interval(self.replicates(runs, statistic), level))

    def paired_difference(
        self, runs_a: Sequence[BootstrapRun], runs_b: Sequence[BootstrapRun], statistic: Statistic, level: float = 0.95
    ) -> tuple[float | None, float | None, float | None]:
        """(a − b, low, high), both sides recomputed in the same resamples; all None when either is not estimable.

        Args:
            runs_a (`Sequence[BootstrapRun]`): The runs of the first member (e.g. the self-explainer).
            runs_b (`Sequence[BootstrapRun]`): The runs of the second member, scored on the same groups.
            statistic (`Callable`): Column totals (arrays) to values (an array; NaN: cannot be computed).
            level (`float`, *optional*, defaults to 0.95): Coverage of the interval.
        """
        a, b = self.estimate(runs_a, statistic), self.estimate(runs_b, statistic)
        if a is None or b is None:
            return None, None, None
        return (a - b, *percentile_interval(self.paired_replicates(runs_a, runs_b, statistic), level))

    def paired_replicates(
        self, runs_a: Sequence[BootstrapRun], runs_b: Sequence[BootstrapRun], statistic: Statistic
    ) -> np.ndarray:
        """a − b in every resample, (samples,); NaN where either side cannot be computed (also for ``significance``).

        Args:
            runs_a (`Sequence[BootstrapRun]`): The runs of the first member.
            runs_b (`Sequence[BootstrapRun]`): The runs of the second member, scored on the same groups.
            statistic (`Callable`): Column totals (arrays) to values (an array; NaN: cannot be computed).
        """
        return self.replicates(runs_a, statistic) - self.replicates(runs_b, statistic)


def percentile_interval(replicates, level: float = 0.95) -> tuple[float | None, float | None]:
    """(low, high) of bootstrap replicates, NaN resamples left out; (None, None) when none has a value.

    >>> percentile_interval([0.5] * 10)
    (0.5, 0.5)
    >>> percentile_interval([float("nan")])
    (None, None)
    """
    if not 0.0 < level < 1.0:
        raise ValueError(f"the interval's level must be in (0, 1), got {level}")
    values = np.asarray(replicates, dtype=float)
    values = values[np.isfinite(values)]
    if values.size == 0:
        return None, None
    tail = 50.0 * (1.0 - level)
    low, high = np.percentile(values, [tail, 100.0 - tail])
    return float(low), float(high)
