"""Bootstrap intervals against cases whose resampling distribution can be enumerated by hand."""

import math

import numpy as np
import pytest

from tru.metrics import Interval, bootstrap_interval, paired_bootstrap_difference


def test_two_values_reach_the_exact_percentiles():
    # values [0, 1]: the 4 equally likely resamples have means 0, .5, .5, 1 (P = 1/4, 1/2, 1/4).
    # The 2.5% and 97.5% quantiles of that distribution are 0 and 1; the 40% and 60% ones are both 0.5.
    wide = bootstrap_interval([0, 1], resamples=20000, level=0.95)
    narrow = bootstrap_interval([0, 1], resamples=20000, level=0.2)
    assert wide == Interval(value=0.5, low=0.0, high=1.0, n=2)
    assert narrow == Interval(value=0.5, low=0.5, high=0.5, n=2)


def test_three_values_reach_the_exact_percentiles():
    # values [0, 1, 2]: the sum of 3 draws is 0..6 with counts 1, 3, 6, 7, 6, 3, 1 out of 27, so the
    # cumulative probabilities are 1/27, 4/27, 10/27, 17/27, 23/27, 26/27, 1. The 10% quantile falls in
    # sum 1 (1/27 < .1 < 4/27) and the 90% one in sum 5 (23/27 < .9 < 26/27): means 1/3 and 5/3.
    interval = bootstrap_interval([0, 1, 2], resamples=20000, level=0.8)
    assert interval.value == 1.0
    assert interval.low == pytest.approx(1 / 3)
    assert interval.high == pytest.approx(5 / 3)
    assert interval.n == 3


def test_constant_and_tiny_inputs():
    assert bootstrap_interval([0.25] * 7) == Interval(0.25, 0.25, 0.25, 7)
    assert bootstrap_interval([3.0]) == Interval(3.0, 3.0, 3.0, 1)
    empty = bootstrap_interval([])
    assert empty.n == 0 and all(math.isnan(x) for x in (empty.value, empty.low, empty.high))


def test_statistic_is_applied_to_the_data_and_the_resamples():
    interval = bootstrap_interval([1, 2, 100], statistic=np.median, resamples=500)
    assert interval.value == 2.0
    assert interval.low == 1.0 and interval.high == 100.0  # each extreme median has probability 7/27


def test_same_seed_same_interval_other_seed_other_interval():
    values = np.random.default_rng(42).normal(size=40)
    first = bootstrap_interval(values, seed=3)
    assert bootstrap_interval(values, seed=3) == first
    other = bootstrap_interval(values, seed=4)
    assert other.value == first.value
    assert (other.low, other.high) != (first.low, first.high)
    assert first.low < first.value < first.high


def test_to_dict():
    assert Interval(0.5, 0.25, 0.75, 4).to_dict() == {"value": 0.5, "low": 0.25, "high": 0.75, "n": 4}


def test_paired_difference_of_identical_arrays_is_exactly_zero():
    values = [0.1, 0.9, 0.4, 0.7, 0.2]
    assert paired_bootstrap_difference(values, values) == Interval(0.0, 0.0, 0.0, 5)


def test_pairing_removes_the_item_to_item_spread():
    # b differs from a by exactly 0.25 on every item while the items themselves vary from 0 to 0.75:
    # the paired difference has no spread, while unpaired intervals of a and b are each wide.
    a = [0.25, 0.5, 0.75, 1.0]
    b = [0.0, 0.25, 0.5, 0.75]
    assert paired_bootstrap_difference(a, b) == Interval(0.25, 0.25, 0.25, 4)
    assert bootstrap_interval(a).high - bootstrap_interval(a).low >= 0.25


def test_paired_difference_is_the_bootstrap_of_the_differences():
    a, b = [1.0, 0.0, 1.0, 1.0, 0.0, 1.0], [0.0, 0.0, 1.0, 0.0, 1.0, 0.0]
    differences = [1.0, 0.0, 0.0, 1.0, -1.0, 1.0]
    assert paired_bootstrap_difference(a, b, seed=7) == bootstrap_interval(differences, seed=7)
    assert paired_bootstrap_difference(a, b).value == pytest.approx(2 / 6)


def test_bad_inputs_raise_with_a_message():
    with pytest.raises(ValueError, match="a has 3 values, b has 2"):
        paired_bootstrap_difference([1, 2, 3], [1, 2])
    with pytest.raises(ValueError, match="1 NaN"):
        bootstrap_interval([1.0, float("nan")])
    with pytest.raises(ValueError, match="flat sequence"):
        bootstrap_interval([[1.0, 2.0]])
    with pytest.raises(ValueError, match="level"):
        bootstrap_interval([1.0, 2.0], level=95)
    with pytest.raises(ValueError, match="resamples"):
        bootstrap_interval([1.0, 2.0], resamples=0)


def test_grouped_bootstrap_resamples_each_group_and_keeps_items_whole():
    from tru.metrics import grouped_bootstrap_interval

    groups = {"a": {"x": [1.0, 1.0, 1.0], "y": [2.0, 2.0, 2.0]}, "b": {"x": [0.0, 4.0]}}

    def statistic(data):
        return float(data["a"]["x"].mean() + data["a"]["y"].mean() + data["b"]["x"].mean())

    interval = grouped_bootstrap_interval(groups, statistic, resamples=2000, seed=1)
    # a is constant, so only b moves: its mean takes 0, 2 or 4 with probabilities 1/4, 1/2, 1/4
    assert interval.value == 5.0 and interval.n == 5
    assert interval.low == 3.0 and interval.high == 7.0
    assert grouped_bootstrap_interval(groups, statistic, resamples=2000, seed=1) == interval
    with pytest.raises(ValueError, match="group a"):
        grouped_bootstrap_interval({"a": {"x": [1.0], "y": [1.0, 2.0]}}, statistic)


def test_auc_interval_of_separated_tied_and_empty_sets():
    from tru.metrics import auc_interval

    assert auc_interval([0.1, 0.2, 0.3], [0.5, 0.9]) == Interval(1.0, 1.0, 1.0, 5)  # every resample separates
    assert auc_interval([0.5, 0.9], [0.1, 0.2, 0.3]) == Interval(0.0, 0.0, 0.0, 5)
    assert auc_interval([1.0, 1.0], [1.0, 1.0]) == Interval(0.5, 0.5, 0.5, 4)  # ties count one half
    empty = auc_interval([], [0.3, 0.4])
    assert empty.n == 2 and all(math.isnan(x) for x in (empty.value, empty.low, empty.high))


def test_auc_interval_reaches_the_exact_percentiles():
    from tru.metrics import auc_interval

    # negatives [0, 2], positives [1, 3]: every positive beats a 0, only 3 beats a 2, so AUC = 3/4.
    # With k the number of 2s among the 2 negatives drawn and m the number of 3s among the 2 positives
    # (each 0, 1, 2 with P = 1/4, 1/2, 1/4, the classes drawn separately), AUC = ((2 - k) * 2 + k * m) / 4:
    # P(0) = 1/16, P(1/2) = 4/16, P(3/4) = 4/16, P(1) = 7/16, cumulative 1/16, 5/16, 9/16, 1.
    # The 2.5% and 97.5% quantiles are 0 and 1; the 25% one falls in 1/2, the 75% one in 1.
    wide = auc_interval([0.0, 2.0], [1.0, 3.0], resamples=20000)
    half = auc_interval([0.0, 2.0], [1.0, 3.0], resamples=20000, level=0.5)
    assert wide == Interval(0.75, 0.0, 1.0, 4)
    assert half == Interval(0.75, 0.5, 1.0, 4)


def test_auc_interval_is_seeded_and_its_value_is_sklearns_auc():
    from sklearn.metrics import roc_auc_score

    from tru.metrics import auc_interval, mia_auc

    rng = np.random.default_rng(5)
    neg, pos = rng.normal(size=30), rng.normal(0.5, size=25)
    first = auc_interval(neg, pos, seed=3)
    assert auc_interval(neg, pos, seed=3) == first
    other = auc_interval(neg, pos, seed=4)
    assert other.value == first.value == mia_auc(neg, pos)
    assert (other.low, other.high) != (first.low, first.high)
    assert first.low < first.value < first.high and first.n == 55
    assert first.value == pytest.approx(roc_auc_score([0] * 30 + [1] * 25, np.concatenate([neg, pos])))
    with pytest.raises(ValueError, match="scores_pos contains 1 NaN"):
        auc_interval([0.1], [0.2, float("nan")])


def test_rank_auc_equals_roc_auc_score_with_ties_and_per_row():
    from sklearn.metrics import roc_auc_score

    from tru.metrics import rank_auc

    rng = np.random.default_rng(0)
    neg, pos = rng.integers(0, 4, size=(6, 9)).astype(float), rng.integers(1, 5, size=(6, 7)).astype(float)
    expected = [roc_auc_score([0] * 9 + [1] * 7, np.concatenate([a, b])) for a, b in zip(neg, pos)]
    assert rank_auc(neg, pos).tolist() == pytest.approx(expected)
    assert rank_auc(neg[0], pos[0]) == pytest.approx(expected[0])


def test_privleak_interval_pairs_the_two_models_items():
    from tru.metrics import auc_interval, privleak_interval

    neg, pos = [0.0, 2.0, 0.5, 2.5], [1.0, 3.0, 1.5, 0.25]
    # the same scores for both models: privleak is exactly 0 in every paired resample
    assert privleak_interval(neg, pos, neg, pos) == Interval(0.0, 0.0, 0.0, 8)
    # retain scores all tied: its AUC is 1/2 in every resample, so privleak = 200 * AUC - 100 of the
    # model's AUC, whose resamples are auc_interval's (same seed, same indices)
    tied = [1.0] * 4
    model = auc_interval([0.0, 2.0], [1.0, 3.0], resamples=20000, level=0.5)
    leak = privleak_interval([0.0, 2.0], [1.0, 3.0], tied[:2], tied[:2], resamples=20000, level=0.5)
    assert leak == Interval(50.0, 0.0, 100.0, 4)
    assert (leak.low, leak.high) == (200 * model.low - 100, 200 * model.high - 100)
    # a retain model whose AUC is 0 leaves privleak undefined
    undefined = privleak_interval([0.0, 2.0], [1.0, 3.0], [1.0, 1.0], [0.0, 0.0])
    assert undefined.n == 4 and all(math.isnan(x) for x in (undefined.value, undefined.low, undefined.high))
    with pytest.raises(ValueError, match="model_pos has 4 values, retain_pos has 3"):
        privleak_interval(neg, pos, neg, pos[:3])
