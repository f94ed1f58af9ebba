"""Each loss against values computed by hand with the math module."""

import math

import pytest
import torch

from tru.unlearn import losses

LOG_HALF, LOG_QUARTER = math.log(0.5), math.log(0.25)


def two_token_example():
    # position 0 predicts label 0 from logits [0, 0] -> p = 1/2;
    # position 1 predicts label 1 from logits [ln 3, 0] -> p = 1/4; the last position has no target.
    logits = torch.tensor([[[0.0, 0.0], [math.log(3.0), 0.0], [5.0, -5.0]]])
    labels = torch.tensor([[-100, 0, 1]])
    return logits, labels


def test_token_log_probs_shift_and_mask():
    log_probs, mask = losses.token_log_probs(*two_token_example())
    assert mask.tolist() == [[1.0, 1.0]]
    assert log_probs[0].tolist() == pytest.approx([LOG_HALF, LOG_QUARTER], abs=1e-6)


def test_prompt_positions_carry_no_loss():
    logits, labels = two_token_example()
    labels = torch.tensor([[-100, -100, 1]])
    log_probs, mask = losses.token_log_probs(logits, labels)
    assert mask.tolist() == [[0.0, 1.0]]
    assert log_probs[0, 0].item() == 0.0
    assert losses.nll_loss(log_probs, mask).item() == pytest.approx(-LOG_QUARTER, abs=1e-6)


def test_nll_and_ga_are_token_means_and_opposite():
    log_probs, mask = losses.token_log_probs(*two_token_example())
    expected = -(LOG_HALF + LOG_QUARTER) / 2
    assert losses.nll_loss(log_probs, mask).item() == pytest.approx(expected, abs=1e-6)
    assert losses.ga_loss(log_probs, mask).item() == pytest.approx(-expected, abs=1e-6)


def test_token_mean_pools_tokens_across_items():
    log_probs = torch.tensor([[-1.0, -3.0], [-2.0, 0.0]])
    mask = torch.tensor([[1.0, 1.0], [1.0, 0.0]])
    assert losses.nll_loss(log_probs, mask).item() == pytest.approx(6.0 / 3)
    # a multi-process normaliser replaces the local count
    assert losses.nll_loss(log_probs, mask, normalizer=torch.tensor(4.0)).item() == pytest.approx(6.0 / 4)


def test_sequence_log_prob_sums_answer_tokens():
    seq, n = losses.sequence_log_prob(torch.tensor([[-1.0, -3.0], [-2.0, 0.0]]), torch.tensor([[1.0, 1.0], [1.0, 0.0]]))
    assert seq.tolist() == [-4.0, -2.0] and n.tolist() == [2.0, 1.0]


def test_npo_matches_formula():
    seq, ref, beta = torch.tensor([-2.0, -5.0]), torch.tensor([-1.0, -5.0]), 0.1
    # item 1: log ratio -1 -> -(2/b) log sigmoid(0.1); item 2: ratio 0 -> -(2/b) log sigmoid(0) = 20 ln 2
    item1 = -(2 / beta) * -math.log(1 + math.exp(-0.1))
    item2 = (2 / beta) * math.log(2)
    assert losses.npo_loss(seq, ref, beta=beta).item() == pytest.approx((item1 + item2) / 2, rel=1e-6)


def test_npo_gradient_pushes_log_prob_down():
    seq = torch.tensor([-2.0], requires_grad=True)
    losses.npo_loss(seq, torch.tensor([-2.0]), beta=0.1).backward()
    assert seq.grad.item() > 0  # descending the loss lowers log p


def test_simnpo_matches_formula_with_length_normalisation_and_margin():
    seq, lengths = torch.tensor([-6.0]), torch.tensor([3.0])
    beta, delta = 4.5, 0.5
    z = -(beta / 3) * -6.0 - beta * delta
    expected = -(2 / beta) * -math.log(1 + math.exp(-z))
    assert losses.simnpo_loss(seq, lengths, beta=beta, delta=delta).item() == pytest.approx(expected, rel=1e-6)


def test_dpo_matches_formula():
    chosen, rejected = torch.tensor([-1.0]), torch.tensor([-3.0])
    ref_chosen, ref_rejected = torch.tensor([-2.0]), torch.tensor([-2.0])
    beta = 0.1
    margin = (-1.0 + 2.0) - (-3.0 + 2.0)  # = 2
    expected = -(2 / beta) * -math.log(1 + math.exp(-beta * margin))
    got = losses.dpo_loss(chosen, rejected, ref_chosen, ref_rejected, beta=beta).item()
    assert got == pytest.approx(expected, rel=1e-6)


def test_capped_ga_stops_pushing_a_token_past_its_cap():
    # token NLLs 1 and 3 (and a masked 9); cap 2: the second token counts as 2 and gets no gradient
    log_probs = torch.tensor([[-1.0, -3.0, -9.0]], requires_grad=True)
    mask = torch.tensor([[1.0, 1.0, 0.0]])
    loss = losses.capped_ga_loss(log_probs, mask, cap=2.0)
    assert loss.item() == pytest.approx(-(1.0 + 2.0) / 2)
    loss.backward()
    assert log_probs.grad.tolist() == [[pytest.approx(0.5), 0.0, 0.0]]
    # below the cap it is gradient ascent exactly
    assert losses.capped_ga_loss(log_probs, mask, cap=50.0).item() == pytest.approx(
        losses.ga_loss(log_probs, mask).item()
    )


def test_sequence_capped_ga_stops_pushing_an_answer_past_its_cap():
    # answer 1: token NLLs 1 and 3 (mean 2, below the cap 2.5); answer 2: NLLs 4 and 6 (mean 5, past it)
    log_probs = torch.tensor([[-1.0, -3.0], [-4.0, -6.0]], requires_grad=True)
    mask = torch.ones(2, 2)
    loss = losses.sequence_capped_ga_loss(log_probs, mask, cap=2.5)
    assert loss.item() == pytest.approx(-(1.0 + 3.0 + 2 * 2.5) / 4)
    loss.backward()
    assert log_probs.grad.tolist() == [[pytest.approx(0.25), pytest.approx(0.25)], [0.0, 0.0]]
    assert losses.sequence_capped_ga_loss(log_probs, mask, cap=50.0).item() == pytest.approx(
        losses.ga_loss(log_probs, mask).item()
    )


def test_wga_weights_tokens_by_detached_probability():
    log_probs = torch.tensor([[LOG_HALF, LOG_QUARTER]], requires_grad=True)
    mask = torch.ones(1, 2)
    loss = losses.wga_loss(log_probs, mask, beta=1.0)
    assert loss.item() == pytest.approx((0.5 * LOG_HALF + 0.25 * LOG_QUARTER) / 2, rel=1e-6)
    loss.backward()
    assert log_probs.grad.tolist() == [[pytest.approx(0.25), pytest.approx(0.125)]]  # weights / 2, no weight grad


def test_kl_of_reference_to_model():
    # one answer position; model p = (1/2, 1/2), reference q = (3/4, 1/4): KL(q||p) = sum q log(q/p)
    logits = torch.tensor([[0.0, 0.0]])
    ref_logits = torch.tensor([[math.log(3.0), 0.0]])
    expected = 0.75 * math.log(0.75 / 0.5) + 0.25 * math.log(0.25 / 0.5)
    assert losses.kl_loss(logits, ref_logits).item() == pytest.approx(expected, rel=1e-6)
    assert losses.kl_loss(ref_logits, ref_logits).item() == pytest.approx(0.0, abs=1e-7)
    # a normaliser replaces the row count as the denominator of the sum over rows
    two = losses.kl_loss(logits.repeat(2, 1), ref_logits.repeat(2, 1), normalizer=4.0).item()
    assert two == pytest.approx(2 * expected / 4, rel=1e-6)


def test_mse_averages_hidden_then_tokens():
    hidden = torch.tensor([[1.0, 3.0], [10.0, 10.0]])
    target = torch.tensor([[0.0, 0.0], [10.0, 10.0]])
    assert losses.mse_loss(hidden, target).item() == pytest.approx((1 + 9) / 2 / 2)
