"""Metric math against values computed by hand."""

import math

import pytest

import tru.metrics as m


def test_truth_ratio_uses_geometric_mean_of_perturbed():
    # item 1: p_para = e^-0.5, p_pert = exp(-(1.0 + 2.0)/2) = e^-1.5 -> R = e^-1
    ratios = m.truth_ratio([0.5, 1.0], [[1.0, 2.0], [1.0, 1.0]])
    assert ratios.tolist() == pytest.approx([math.exp(-1.0), 1.0])
    with pytest.raises(ValueError, match="items x k"):
        m.truth_ratio([0.5], [1.0, 2.0])


def test_truth_ratio_statistics_per_side():
    ratios = [0.5, 2.0, 1.0]
    assert m.truth_ratio_statistic(ratios, "forget") == pytest.approx((0.5 + 0.5 + 1.0) / 3)
    assert m.truth_ratio_statistic(ratios, "retain") == pytest.approx((0.5 + 0.0 + 0.0) / 3)


def test_forget_quality_is_the_ks_p_value():
    same = m.forget_quality([0.1, 0.2, 0.3, 0.4], [0.1, 0.2, 0.3, 0.4])
    apart = m.forget_quality([0.1, 0.11, 0.12, 0.13, 0.14], [0.9, 0.91, 0.92, 0.93, 0.94])
    assert same == pytest.approx(1.0)
    # fully separated samples of 5 and 5: exact two-sided p = 2 / C(10, 5) = 2/252
    assert apart == pytest.approx(2 / 252)


def test_model_utility_is_the_harmonic_mean_of_nine():
    components = {name: 0.5 for name in m.UTILITY_COMPONENTS}
    assert m.model_utility(components) == pytest.approx(0.5)
    components["retain/prob"] = 0.25  # 9 / (8*2 + 4) = 0.45
    assert m.model_utility(components) == pytest.approx(9 / 20)
    components["world_facts/rouge"] = 0.0
    assert m.model_utility(components) == 0.0
    with pytest.raises(ValueError, match="missing: retain/rouge"):
        m.model_utility({k: v for k, v in components.items() if k != "retain/rouge"})


def test_probabilities():
    assert m.probability([0.0, math.log(2)]).tolist() == pytest.approx([1.0, 0.5])
    # p_true 1/2, perturbed 1/4 and 1/4 -> 0.5 / 1.0
    assert m.normalized_probability([math.log(2)], [[math.log(4), math.log(4)]]).tolist() == pytest.approx([0.5])


def test_rouge_recall_and_f1():
    scores = m.rouge_scores(["the cat sat"], ["the cat sat on the mat"])
    assert scores["rougeL_recall"][0] == pytest.approx(3 / 6)
    assert scores["rougeL_f1"][0] == pytest.approx(2 * 1.0 * 0.5 / 1.5)
    assert m.rouge_scores(["running dogs"], ["the dog runs"])["rouge1_recall"][0] == pytest.approx(2 / 3)


def test_extraction_strength():
    assert m.extraction_strength([1, 2, 3, 4], [1, 2, 3, 4]) == 1.0
    assert m.extraction_strength([9, 2, 3, 4], [1, 2, 3, 4]) == pytest.approx(1 - 1 / 4)
    assert m.extraction_strength([1, 2, 3, 9], [1, 2, 3, 4]) == 0.0


def test_mia_scores_and_auc():
    lp = [-0.1, -2.0, -0.5, -4.0, -1.0]
    assert m.loss_score(lp) == pytest.approx(7.6 / 5)
    assert m.min_k_score(lp, k=0.4) == pytest.approx((4.0 + 2.0) / 2)  # ceil(0.4*5) = 2 lowest
    assert m.min_k_plus_plus_score([-1.0, -3.0], means=[-1.0, -1.0], stds=[1.0, 2.0], k=0.5) == pytest.approx(1.0)
    assert m.zlib_score([-2.0], "aaaa") == pytest.approx(2.0 / len(__import__("zlib").compress(b"aaaa")))
    assert m.mia_auc([0.1, 0.2], [0.3, 0.4]) == 1.0  # members have lower loss
    assert m.mia_auc([0.3, 0.4], [0.1, 0.2]) == 0.0
    assert m.privleak(0.75, 0.5) == pytest.approx(50.0)


def test_multiple_choice_accuracy():
    assert m.multiple_choice_accuracy([[0, 1, 0, 0], [5, 1, 0, 0]], [1, 2]) == 0.5
