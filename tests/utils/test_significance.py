"""Tests read off bootstrap replicates (two-sided p-value, TOST equivalence) and Holm's adjustment."""

import doctest

import numpy as np
import pytest

from self_explain.utils import significance
from self_explain.utils.significance import bootstrap_p_value, equivalence_p_value, holm_adjust
from self_explain.utils.stats import percentile_interval


def test_doctests():
    assert doctest.testmod(significance).failed == 0


# ----------------------------------------------------------------------------------------------------------------
# Holm
# ----------------------------------------------------------------------------------------------------------------


def test_holm_by_hand():
    # Sorted: 0.005 (x4 = 0.02), 0.01 (x3 = 0.03), 0.03 (x2 = 0.06), 0.04 (x1 = 0.04, raised to 0.06: monotone).
    adjusted = holm_adjust([0.01, 0.04, 0.03, 0.005])
    assert adjusted == pytest.approx([0.03, 0.06, 0.06, 0.02])
    assert [p <= 0.05 for p in adjusted] == [True, False, False, True], "the two smallest survive at 5 %"


def test_holm_lets_through_what_bonferroni_would_not():
    # Bonferroni: 0.03, 0.06, 0.09 (one survivor). Holm: 0.03, max(0.03, 0.04), max(0.04, 0.03): all three survive.
    assert holm_adjust([0.01, 0.02, 0.03]) == pytest.approx([0.03, 0.04, 0.04])


def test_holm_caps_at_one_and_keeps_ties_and_order():
    assert holm_adjust([0.5, 0.9, 0.5]) == pytest.approx([1.0, 1.0, 1.0])
    assert holm_adjust([0.02, 0.02]) == pytest.approx([0.04, 0.04])
    assert holm_adjust([0.3]) == [0.3], "a family of one is not adjusted"
    assert holm_adjust([]) == []


def test_holm_leaves_untested_out_of_the_family():
    assert holm_adjust([None, 0.01, None, 0.04]) == pytest.approx([None, 0.02, None, 0.04])
    assert holm_adjust([None]) == [None]


def test_holm_refuses_p_values_outside_zero_one():
    with pytest.raises(ValueError, match=r"p-values must lie in \[0, 1\]"):
        holm_adjust([0.2, 1.5])


# ----------------------------------------------------------------------------------------------------------------
# The bootstrap p-value
# ----------------------------------------------------------------------------------------------------------------


def test_bootstrap_p_value_counts_the_replicates_on_the_far_side_of_zero():
    replicates = np.concatenate([np.full(30, -0.1), np.full(970, 0.2)])  # 3 % at or below 0
    assert bootstrap_p_value(replicates) == pytest.approx(0.06)
    assert bootstrap_p_value(-replicates) == pytest.approx(0.06), "two-sided: the sign does not matter"
    assert bootstrap_p_value(np.concatenate([replicates, [0.0] * 10])) == pytest.approx(2 * 40 / 1010)


def test_bootstrap_p_value_floor_ties_and_missing():
    assert bootstrap_p_value(np.full(1999, 0.3)) == pytest.approx(1 / 2000), "never 0 from 1999 resamples"
    assert bootstrap_p_value(np.zeros(100)) == 1.0, "a difference of 0 in every resample"
    assert bootstrap_p_value([0.1, np.nan, 0.2, -0.3]) == pytest.approx(2 / 3), "NaN resamples left out"
    assert bootstrap_p_value([np.nan, np.nan]) is None and bootstrap_p_value([]) is None


@pytest.mark.parametrize("shift", [0.0, 0.5, 1.0, 1.5, 1.8, 2.2, 2.5, 3.0, -2.5])
def test_bootstrap_p_value_below_five_percent_where_the_95_interval_excludes_zero(shift):
    replicates = np.random.default_rng(7).normal(shift, 1.0, 4000)
    low, high = percentile_interval(replicates, 0.95)
    assert (bootstrap_p_value(replicates) < 0.05) == (low > 0 or high < 0)


# ----------------------------------------------------------------------------------------------------------------
# Equivalence (TOST)
# ----------------------------------------------------------------------------------------------------------------


def test_tost_of_a_difference_level_within_the_margin():
    replicates = np.random.default_rng(0).normal(0.01, 0.01, 2000)  # 90 % interval about [-0.006, 0.026]
    p = equivalence_p_value(replicates, margin=0.05)
    assert p < 0.05 and p == pytest.approx(max(np.mean(replicates <= -0.05), np.mean(replicates >= 0.05), 1 / 2001))
    assert bootstrap_p_value(replicates) > 0.05, "level, and not shown different"


def test_tost_of_a_difference_too_uncertain_to_be_level():
    replicates = np.random.default_rng(1).normal(0.0, 0.05, 2000)  # centred on 0, but ±0.05 is within reach
    assert np.percentile(replicates, 2.5) < 0 < np.percentile(replicates, 97.5), "the interval includes 0"
    p = equivalence_p_value(replicates, margin=0.05)
    assert p == pytest.approx(max(np.mean(replicates <= -0.05), np.mean(replicates >= 0.05)))
    assert 0.1 < p < 0.2, "about 16 % of the resamples beyond each bound: not shown level"


def test_tost_of_a_different_difference():
    replicates = np.random.default_rng(2).normal(0.2, 0.02, 2000)
    assert equivalence_p_value(replicates, margin=0.05) == 1.0
    assert bootstrap_p_value(replicates) == pytest.approx(1 / 2001)


def test_tost_of_a_small_but_certain_difference_is_level_and_different():
    replicates = np.random.default_rng(3).normal(0.02, 0.004, 2000)
    assert equivalence_p_value(replicates, margin=0.05) < 0.05 and bootstrap_p_value(replicates) < 0.05


@pytest.mark.parametrize("centre, spread", [(0.0, 0.02), (0.02, 0.02), (0.03, 0.01), (-0.04, 0.01), (0.0, 0.04)])
def test_tost_at_five_percent_is_the_90_interval_inside_the_margin(centre, spread):
    replicates = np.random.default_rng(4).normal(centre, spread, 4000)
    low, high = percentile_interval(replicates, 0.90)
    assert (equivalence_p_value(replicates, 0.05) < 0.05) == (-0.05 < low and high < 0.05)


def test_tost_floor_missing_and_bad_margin():
    assert equivalence_p_value(np.zeros(399), 0.05) == pytest.approx(1 / 400), "0 everywhere: level"
    assert equivalence_p_value([np.nan], 0.05) is None
    with pytest.raises(ValueError, match="the equivalence margin must be positive, got 0"):
        equivalence_p_value([0.0], 0)
