"""The shared statistics: Pearson r, Student's t quantiles, the mean's t interval, the seeds × groups bootstrap."""

import doctest
import math

import numpy as np
import pytest
from scipy import stats as scipy_stats

from self_explain.utils import stats
from self_explain.utils.stats import (
    BootstrapRun,
    SeedGroupBootstrap,
    multinomial_counts,
    pearson_correlation,
    percentile_interval,
    pooled_correlation_interval,
    t_quantile_975,
)
from self_explain.utils.stats import mean_confidence_interval as mean_ci


def test_mean_ci_of_three_values_by_hand():
    mean, low, high = mean_ci([1.0, 2.0, 3.0])
    half = scipy_stats.t.ppf(0.975, 2) * 1.0 / math.sqrt(3)  # sd 1, t(0.975, 2 dof) = 4.303
    assert mean == pytest.approx(2.0)
    assert low == pytest.approx(2.0 - half, rel=1e-12) and high == pytest.approx(2.0 + half, rel=1e-12)


def test_mean_ci_of_two_values_uses_twelve_point_seven():
    mean, low, high = mean_ci([0.2, 0.4])
    sd = math.sqrt(((0.2 - 0.3) ** 2 + (0.4 - 0.3) ** 2) / 1)
    assert mean == pytest.approx(0.3)
    assert high - mean == pytest.approx(12.7062047 * sd / math.sqrt(2))
    assert mean - low == pytest.approx(high - mean), "symmetric around the mean"


def test_mean_ci_beyond_thirty_degrees_of_freedom_still_uses_students_t():
    values = [float(i % 2) for i in range(40)]  # mean 0.5, sample sd sqrt(40 * 0.25 / 39)
    mean, low, high = mean_ci(values)
    assert mean == pytest.approx(0.5)
    assert high - mean == pytest.approx(scipy_stats.t.ppf(0.975, 39) * math.sqrt(10 / 39) / math.sqrt(40), rel=1e-12)
    assert high - mean > 1.96 * math.sqrt(10 / 39) / math.sqrt(40), "wider than the normal's interval"
    assert mean - low == pytest.approx(high - mean)


def test_mean_ci_of_equal_values_is_a_point():
    assert mean_ci([0.7, 0.7, 0.7]) == pytest.approx((0.7, 0.7, 0.7))


def test_mean_ci_of_one_value_has_no_interval():
    assert mean_ci([0.25]) == (0.25, None, None)


def test_mean_ci_of_nothing_is_an_error():
    with pytest.raises(ValueError, match="no values to summarise"):
        mean_ci([])


def test_t_quantiles_decrease_towards_the_normals():
    quantiles = [t_quantile_975(k) for k in range(1, 201)]
    assert quantiles == sorted(quantiles, reverse=True) and quantiles[-1] > scipy_stats.norm.ppf(0.975)


# Two-sided 95 % quantiles of Student's t from a printed table (3 decimals), by degrees of freedom.
PRINTED_T_975 = {
    1: 12.706,
    2: 4.303,
    3: 3.182,
    4: 2.776,
    5: 2.571,
    10: 2.228,
    20: 2.086,
    30: 2.042,
    60: 2.000,
    120: 1.980,
}


@pytest.mark.parametrize("degrees_of_freedom", sorted(PRINTED_T_975))
def test_t_quantiles_are_scipys_and_the_printed_tables(degrees_of_freedom):
    quantile = t_quantile_975(degrees_of_freedom)
    assert quantile == scipy_stats.t.ppf(0.975, degrees_of_freedom)
    assert quantile == pytest.approx(PRINTED_T_975[degrees_of_freedom], abs=5e-4)


def test_t_quantile_refuses_zero_degrees_of_freedom():
    assert t_quantile_975(2) == pytest.approx(4.303, abs=5e-4)
    with pytest.raises(ValueError, match="at least 1 degree of freedom, got 0"):
        t_quantile_975(0)


def test_pearson_takes_lists_and_arrays_alike():
    x, y = [1.0, 2.0, 3.0, 5.0], [2.0, 1.0, 4.0, 9.0]
    assert pearson_correlation(np.array(x), np.array(y)) == pytest.approx(pearson_correlation(x, y))
    assert pearson_correlation(x, y) == pytest.approx(float(np.corrcoef(x, y)[0, 1]))
    assert pearson_correlation(np.ones(4), np.array(y)) == 0.0
    with pytest.raises(ValueError, match="sequences of 2 and 3 values"):
        pearson_correlation([1, 2], [1, 2, 3])


def test_pearson_is_scipys_where_r_is_defined():
    rng = np.random.default_rng(0)
    for n in (2, 3, 10, 57):
        x, y = rng.normal(size=n), rng.normal(size=n)
        assert pearson_correlation(x, y) == pytest.approx(scipy_stats.pearsonr(x, y).statistic, abs=1e-15)
    ties = np.round(2 * x + y)  # tied values: still scipy's (and numpy's) r
    assert pearson_correlation(x, ties) == pytest.approx(np.corrcoef(x, ties)[0, 1], abs=1e-15)


def test_pooled_interval_is_the_percentiles_of_the_resampled_pooled_r():
    """Groups of unequal sizes: every resample's r is the Pearson r of the pairs of the groups drawn, repeated."""
    rng = np.random.default_rng(1)
    groups = [(rng.normal(size=size), rng.normal(size=size)) for size in (2, 3, 3, 5, 1, 4)]
    groups[1] = (np.ones(3), groups[1][1])  # a constant group: resamples of it alone give r = 0
    draws = np.random.default_rng(7)
    expected = []
    for _ in range(300):
        drawn = draws.integers(0, len(groups), size=len(groups))
        expected.append(
            pearson_correlation(
                np.concatenate([groups[g][0] for g in drawn]), np.concatenate([groups[g][1] for g in drawn])
            )
        )
    low, high = pooled_correlation_interval(groups, samples=300, seed=7)
    assert (low, high) == pytest.approx(tuple(np.percentile(expected, [2.5, 97.5])), abs=1e-12)


# ----------------------------------------------------------------------------------------------------------------
# The seeds × groups bootstrap
# ----------------------------------------------------------------------------------------------------------------


def share(totals):
    """A share (e.g. exact match): hits over rows, NaN over no row."""
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(totals["n"] > 0, totals["hits"] / np.maximum(totals["n"], 1), np.nan)


def f1(totals):
    """F1 of one class from confusion counts; not estimable (NaN) when nothing is valid."""
    tp, fp, fn, valid = totals["tp"], totals["fp"], totals["fn"], totals["valid"]
    with np.errstate(invalid="ignore", divide="ignore"):
        value = np.where(tp > 0, 2 * tp / np.maximum(2 * tp + fp + fn, 1), 0.0)
    return np.where(valid > 0, value, np.nan)


def run(seed, hits, groups=None):
    groups = list(range(len(hits))) if groups is None else groups
    return BootstrapRun(seed, groups, {"n": [1.0] * len(hits), "hits": [float(h) for h in hits]})


def test_the_docstring_examples_hold():
    assert doctest.testmod(stats).failed == 0


def test_multinomial_counts_draw_every_item_as_often_as_there_are_items():
    counts = multinomial_counts(5, 200, np.random.default_rng(1))
    assert counts.shape == (200, 5) and (counts.sum(axis=1) == 5).all() and counts.min() >= 0
    assert abs(counts.mean() - 1.0) < 0.1, "each item drawn once per resample on average"


def test_a_constant_metric_has_a_zero_width_interval():
    bootstrap = SeedGroupBootstrap([0, 1, 2], list(range(8)), samples=300, seed=0)
    runs = [run(seed, [1] * 8) for seed in (0, 1, 2)]
    assert bootstrap.interval(runs, share) == (1.0, 1.0, 1.0)


def test_the_estimate_is_the_mean_over_seeds_of_each_seeds_metric():
    bootstrap = SeedGroupBootstrap([0, 1], list(range(4)), samples=10)
    runs = [run(0, [1, 0, 0, 0]), run(1, [1, 1, 1, 0])]
    assert bootstrap.estimate(runs, share) == pytest.approx((0.25 + 0.75) / 2)


def test_the_interval_covers_the_estimate_and_narrows_with_more_groups():
    rng = np.random.default_rng(3)
    widths = []
    for groups in (40, 640):
        hits = (rng.random(groups) < 0.3).astype(float)
        bootstrap = SeedGroupBootstrap([0], list(range(groups)), samples=500, seed=0)
        value, low, high = bootstrap.interval([run(0, hits)], share)
        assert low <= value <= high
        widths.append(high - low)
    assert widths[1] < widths[0] / 2, "four times the groups: about half the width"
    # With one seed and one row per group, the interval is that of a proportion: about ±1.96·√(p(1−p)/n).
    assert widths[1] == pytest.approx(2 * 1.96 * math.sqrt(0.3 * 0.7 / 640), rel=0.25)


def test_the_same_seed_gives_the_same_interval_and_another_seed_another():
    hits = [1, 0, 1, 1, 0, 0, 1, 0, 1, 1]
    runs = [run(0, hits), run(1, hits[::-1])]
    first = SeedGroupBootstrap([0, 1], list(range(10)), samples=200, seed=7).interval(runs, share)
    again = SeedGroupBootstrap([0, 1], list(range(10)), samples=200, seed=7).interval(runs, share)
    other = SeedGroupBootstrap([0, 1], list(range(10)), samples=200, seed=8).interval(runs, share)
    assert first == again and first != other


def test_groups_are_drawn_whole():
    # Two groups of five rows: all hits or all misses. A resample draws each group 0, 1 or 2 times, so the share
    # can only be 0, 0.5 or 1; drawing rows instead would give other values.
    hits, groups = [1] * 5 + [0] * 5, ["a"] * 5 + ["b"] * 5
    bootstrap = SeedGroupBootstrap([0], ["a", "b"], samples=400, seed=0)
    values = set(np.round(bootstrap.replicates([run(0, hits, groups)], share), 6))
    assert values == {0.0, 0.5, 1.0}


def test_seeds_are_drawn_with_replacement():
    # Every row of seed 0 hits, none of seed 1: only the seed draw varies, giving 0, 0.5 or 1.
    bootstrap = SeedGroupBootstrap([0, 1], list(range(6)), samples=400, seed=0)
    values = bootstrap.replicates([run(0, [1] * 6), run(1, [0] * 6)], share)
    assert set(np.round(values, 6)) == {0.0, 0.5, 1.0}
    assert bootstrap.interval([run(0, [1] * 6), run(1, [0] * 6)], share) == (0.5, 0.0, 1.0)


def test_a_known_paired_difference_is_covered_and_exact_when_the_rows_shift_together():
    rng = np.random.default_rng(0)
    groups = list(range(300))
    base = (rng.random(300) < 0.4).astype(float)
    better = base.copy()
    better[:60] = 1.0  # 60 more hits of 300 wherever base missed
    shift = (better.sum() - base.sum()) / 300
    bootstrap = SeedGroupBootstrap([0], groups, samples=500, seed=1)
    difference, low, high = bootstrap.paired_difference([run(0, better)], [run(0, base)], share)
    assert difference == pytest.approx(shift)
    assert low <= shift <= high and low > 0, "the pair shares its resamples: the interval excludes 0"

    # An explainer against itself: a difference of exactly 0 in every resample.
    assert bootstrap.paired_difference([run(0, base)], [run(0, base)], share) == (0.0, 0.0, 0.0)


def test_unpaired_noise_does_not_hide_a_paired_difference():
    # Each group's rows are hard or easy for both members alike: paired, the difference is constant.
    groups = [g for g in range(50) for _ in range(4)]
    easy = np.repeat(np.arange(50) % 2, 4).astype(float)
    a = BootstrapRun(0, groups, {"n": [1.0] * 200, "hits": list(easy)})
    b = BootstrapRun(0, groups, {"n": [1.0] * 200, "hits": list(easy * 0.5)})
    bootstrap = SeedGroupBootstrap([0], list(range(50)), samples=300, seed=0)
    _, low_a, high_a = bootstrap.interval([a], share)
    difference, low, high = bootstrap.paired_difference([a], [b], share)
    assert high_a - low_a > 0.1 and high - low < high_a - low_a
    assert low > 0 and difference == pytest.approx(0.25)


def test_metrics_that_are_not_means_are_recomputed_from_totals():
    # Two groups: one of true positives, one of false positives. Resampled: F1 = 2tp / (2tp + fp).
    groups = ["tp", "fp"]
    columns = {"tp": [1.0, 0.0], "fp": [0.0, 1.0], "fn": [0.0, 0.0], "valid": [1.0, 1.0]}
    bootstrap = SeedGroupBootstrap([0], groups, samples=400, seed=0)
    runs = [BootstrapRun(0, groups, columns)]
    assert bootstrap.estimate(runs, f1) == pytest.approx(2 / 3)
    assert set(np.round(bootstrap.replicates(runs, f1), 6)) == {0.0, round(2 / 3, 6), 1.0}


def test_nothing_valid_is_not_estimable_never_zero():
    runs = [BootstrapRun(s, [0, 1], {"tp": [0, 0], "fp": [0, 0], "fn": [0, 0], "valid": [0, 0]}) for s in (0, 1)]
    bootstrap = SeedGroupBootstrap([0, 1], [0, 1], samples=50)
    assert bootstrap.interval(runs, f1) == (None, None, None)
    valid = BootstrapRun(0, [0, 1], {"tp": [1, 1], "fp": [0, 0], "fn": [0, 0], "valid": [1, 1]})
    assert bootstrap.interval([valid], f1) == (1.0, 1.0, 1.0)
    assert bootstrap.paired_difference(runs, [valid], f1) == (None, None, None)


def test_seeds_where_the_metric_cannot_be_computed_are_left_out():
    valid = BootstrapRun(0, [0, 1], {"tp": [1, 0], "fp": [0, 0], "fn": [0, 1], "valid": [1, 1]})
    invalid = BootstrapRun(1, [0, 1], {"tp": [0, 0], "fp": [0, 0], "fn": [0, 0], "valid": [0, 0]})
    bootstrap = SeedGroupBootstrap([0, 1], [0, 1], samples=200, seed=0)
    assert bootstrap.estimate([valid, invalid], f1) == pytest.approx(2 / 3)
    values = bootstrap.replicates([valid, invalid], f1)
    assert np.isnan(values).any(), "resamples drawing only seed 1 have no value"
    low, high = percentile_interval(values)
    assert 0.0 <= low <= high <= 1.0


def test_a_run_without_seed_is_in_every_resample():
    bootstrap = SeedGroupBootstrap([], list(range(5)), samples=100, seed=0)
    assert bootstrap.interval([run(None, [1, 1, 1, 1, 1])], share) == (1.0, 1.0, 1.0)
    seeded = SeedGroupBootstrap([0, 1], list(range(5)), samples=100, seed=0)
    difference, low, high = seeded.paired_difference([run(0, [1] * 5), run(1, [1] * 5)], [run(None, [0] * 5)], share)
    assert (difference, low, high) == (1.0, 1.0, 1.0)


def test_the_bootstrap_refuses_unknown_seeds_groups_and_bad_settings():
    bootstrap = SeedGroupBootstrap([0], ["a"], samples=5)
    with pytest.raises(ValueError, match="group 'b' is not one of the bootstrap's groups"):
        bootstrap.estimate([run(0, [1], ["b"])], share)
    with pytest.raises(ValueError, match="run seed 3 is not one of the bootstrap's seeds"):
        bootstrap.estimate([run(3, [1], ["a"])], share)
    with pytest.raises(ValueError, match="column 'hits' has 2 values for 1 rows"):
        bootstrap.estimate([BootstrapRun(0, ["a"], {"n": [1.0], "hits": [1.0, 0.0]})], share)
    with pytest.raises(ValueError, match="distinct"):
        SeedGroupBootstrap([0, 0], ["a"])
    with pytest.raises(ValueError, match="at least one group"):
        SeedGroupBootstrap([0], [])
    with pytest.raises(ValueError, match="at least one resample"):
        SeedGroupBootstrap([0], ["a"], samples=0)
    with pytest.raises(ValueError, match=r"level must be in \(0, 1\)"):
        percentile_interval([0.1, 0.2], level=95)


@pytest.mark.parametrize("degrees_of_freedom", [1, 2, 3, 4, 5, 6, 7, 10])
def test_chi_square_survival_matches_scipy(degrees_of_freedom):
    for statistic in (0.0, 0.3, 1.0, 3.84, 11.07, 25.0, 80.0):
        assert stats.chi_square_survival(statistic, degrees_of_freedom) == pytest.approx(
            scipy_stats.chi2.sf(statistic, degrees_of_freedom), rel=1e-9, abs=1e-15
        )


def test_chi_square_survival_known_values_and_bad_input():
    assert stats.chi_square_survival(0.0, 3) == 1.0
    assert stats.chi_square_survival(2.0, 2) == pytest.approx(math.exp(-1.0))  # 2 degrees of freedom: e^(-x/2)
    with pytest.raises(ValueError, match="at least 1 degree of freedom, got 0"):
        stats.chi_square_survival(1.0, 0)
