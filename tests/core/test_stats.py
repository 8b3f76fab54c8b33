"""The shared statistics: Pearson r, Student's t quantiles, the mean's t interval."""

import math

import numpy as np
import pytest

from self_explain.core.stats import T_975, pearson_correlation, t_quantile_975
from self_explain.core.stats import mean_confidence_interval as mean_ci


def test_mean_ci_of_three_values_by_hand():
    mean, low, high = mean_ci([1.0, 2.0, 3.0])
    half = 4.303 * 1.0 / math.sqrt(3)  # sd 1, t(0.975, 2 dof) = 4.303
    assert mean == pytest.approx(2.0)
    assert low == pytest.approx(2.0 - half) and high == pytest.approx(2.0 + half)


def test_mean_ci_of_two_values_uses_twelve_point_seven():
    mean, low, high = mean_ci([0.2, 0.4])
    sd = math.sqrt(((0.2 - 0.3) ** 2 + (0.4 - 0.3) ** 2) / 1)
    assert mean == pytest.approx(0.3)
    assert high - mean == pytest.approx(12.706 * sd / math.sqrt(2))
    assert mean - low == pytest.approx(high - mean), "symmetric around the mean"


def test_mean_ci_beyond_thirty_degrees_of_freedom_uses_the_normal_quantile():
    values = [float(i % 2) for i in range(40)]  # mean 0.5, sample sd sqrt(40 * 0.25 / 39)
    mean, low, high = mean_ci(values)
    assert mean == pytest.approx(0.5)
    assert high - mean == pytest.approx(1.96 * math.sqrt(10 / 39) / math.sqrt(40))
    assert mean - low == pytest.approx(high - mean)


def test_mean_ci_of_equal_values_is_a_point():
    assert mean_ci([0.7, 0.7, 0.7]) == pytest.approx((0.7, 0.7, 0.7))


def test_mean_ci_of_one_value_has_no_interval():
    assert mean_ci([0.25]) == (0.25, None, None)


def test_mean_ci_of_nothing_is_an_error():
    with pytest.raises(ValueError, match="no values to summarise"):
        mean_ci([])


def test_t_quantiles_decrease_towards_the_normals():
    quantiles = [T_975[k] for k in sorted(T_975)]
    assert quantiles == sorted(quantiles, reverse=True) and quantiles[-1] > 1.96


def test_t_quantile_refuses_zero_degrees_of_freedom():
    assert t_quantile_975(2) == 4.303 and t_quantile_975(31) == 1.96
    with pytest.raises(ValueError, match="at least 1 degree of freedom, got 0"):
        t_quantile_975(0)


def test_pearson_takes_lists_and_arrays_alike():
    x, y = [1.0, 2.0, 3.0, 5.0], [2.0, 1.0, 4.0, 9.0]
    assert pearson_correlation(np.array(x), np.array(y)) == pytest.approx(pearson_correlation(x, y))
    assert pearson_correlation(x, y) == pytest.approx(float(np.corrcoef(x, y)[0, 1]))
    assert pearson_correlation(np.ones(4), np.array(y)) == 0.0
    with pytest.raises(ValueError, match="sequences of 2 and 3 values"):
        pearson_correlation([1, 2], [1, 2, 3])
