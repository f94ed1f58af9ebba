"""Target log-probabilities in blocks (from logits, or with the chunked output projection) equal
log_softmax + gather in values and gradients."""

import math
from types import SimpleNamespace

import pytest
import torch

from tru.modeling import target_log_probs as module
from tru.modeling.target_log_probs import chunked_target_log_probs, target_log_probs


def _plain(logits, targets):
    wide = logits.to(torch.promote_types(logits.dtype, torch.float32))  # float64 stays float64
    return torch.log_softmax(wide, dim=-1).gather(-1, targets.unsqueeze(-1)).squeeze(-1)


def test_a_hand_computed_row():
    # logits [0, ln 3] -> softmax [1/4, 3/4]; target 1 -> log(3/4); gradient onehot - softmax = [-1/4, 1/4]
    logits = torch.tensor([[0.0, math.log(3.0)]], requires_grad=True)
    got = target_log_probs(logits, torch.tensor([1]))
    assert got.dtype == torch.float32
    assert got.item() == pytest.approx(math.log(0.75), abs=1e-7)
    got.sum().backward()
    assert torch.allclose(logits.grad, torch.tensor([[-0.25, 0.25]]), atol=1e-7)


def test_blocks_fit_the_cache_on_a_cpu_and_are_few_on_an_accelerator():
    vocabulary = 49152  # SmolLM2's
    assert module._block_rows(vocabulary, torch.device("cpu")) == 5  # 1 MiB of float32
    assert module._block_rows(vocabulary, torch.device("cuda", 0)) == 1365  # 1,540 rows: two blocks
    assert module._block_rows(10**9, torch.device("cpu")) == 1  # never zero rows


@pytest.mark.parametrize("rows,block_elements", [(1, 1 << 18), (9, 50), (9, 1), (13, 120)])
def test_from_logits_equals_log_softmax_in_values_and_gradients(monkeypatch, rows, block_elements):
    monkeypatch.setattr(module, "_BLOCK_ELEMENTS", block_elements)  # 50 words: 1, 1, 2 rows per block
    torch.manual_seed(0)
    logits = torch.randn(rows, 50, dtype=torch.float64, requires_grad=True)
    targets = torch.randint(0, 50, (rows,))
    targets[0] = targets[-1]  # a repeated target
    weights = torch.randn(rows, dtype=torch.float64)  # a non-uniform upstream gradient

    expected = _plain(logits, targets)
    (expected * weights).sum().backward()
    reference, logits.grad = logits.grad.clone(), None

    got = target_log_probs(logits, targets)
    assert got.dtype == torch.float64  # float64 logits are not rounded to float32
    assert torch.allclose(got, expected, atol=1e-12)
    (got * weights).sum().backward()
    assert logits.grad.dtype == torch.float64
    assert torch.allclose(logits.grad, reference, atol=1e-12)


@pytest.mark.parametrize("allowed", [True, False])
def test_the_gradient_takes_the_logits_place_only_when_allowed(allowed):
    torch.manual_seed(3)
    leaf = torch.randn(5, 30, requires_grad=True)
    targets = torch.randint(0, 30, (5,))
    _plain(leaf, targets).sum().backward()
    reference, leaf.grad = leaf.grad.clone(), None

    logits = leaf * 1.0  # a non-leaf, as the model's logits are
    before = logits.detach().clone()
    asked = []
    got = target_log_probs(logits, targets, may_overwrite_logits=lambda: asked.append(1) or allowed)
    got.sum().backward()
    assert asked == [1]  # asked once, in the backward pass
    assert torch.allclose(leaf.grad, reference, atol=1e-6)
    assert torch.equal(logits.detach(), before) is not allowed


def test_bfloat16_logits_get_a_bfloat16_gradient_close_to_float32():
    torch.manual_seed(2)
    logits = torch.randn(6, 40).to(torch.bfloat16).requires_grad_()
    targets = torch.randint(0, 40, (6,))
    got = target_log_probs(logits, targets)
    assert got.dtype == torch.float32
    assert torch.allclose(got, _plain(logits.detach(), targets), atol=1e-5)
    got.sum().backward()
    wide = logits.detach().float().requires_grad_()
    _plain(wide, targets).sum().backward()
    assert logits.grad.dtype == torch.bfloat16
    assert torch.allclose(logits.grad.float(), wide.grad, atol=1e-2)


def test_shape_errors_name_the_shapes():
    with pytest.raises(ValueError, match=r"\(2, 3\) and \(3,\)"):
        target_log_probs(torch.zeros(2, 3), torch.zeros(3, dtype=torch.long))


@pytest.mark.parametrize("chunk_rows,bias", [(1, False), (3, True), (7, False), (100, True)])
def test_chunked_projection_equals_the_plain_projection(chunk_rows, bias):
    torch.manual_seed(0)
    head = torch.nn.Linear(16, 50, bias=bias, dtype=torch.float64)
    hidden = torch.randn(7, 16, dtype=torch.float64, requires_grad=True)
    targets = torch.randint(0, 50, (7,))
    weights = torch.randn(7, dtype=torch.float64)

    expected = _plain(head(hidden), targets)
    (expected.double() * weights).sum().backward()
    reference = [hidden.grad.clone(), head.weight.grad.clone()] + ([head.bias.grad.clone()] if bias else [])
    hidden.grad = None
    head.zero_grad()

    got = chunked_target_log_probs(hidden, head, targets, chunk_rows)
    assert got.dtype == torch.float64
    assert torch.allclose(got, expected, atol=1e-12)
    (got * weights).sum().backward()
    grads = [hidden.grad, head.weight.grad] + ([head.bias.grad] if bias else [])
    for g, r in zip(grads, reference):
        assert torch.allclose(g, r, atol=1e-12)


def test_both_forms_pass_autograds_numerical_gradient_check():
    torch.manual_seed(4)
    logits = torch.randn(4, 9, dtype=torch.float64, requires_grad=True)
    hidden = torch.randn(4, 3, dtype=torch.float64, requires_grad=True)
    head = torch.nn.Linear(3, 9, dtype=torch.float64)
    targets = torch.tensor([0, 8, 2, 2])
    assert torch.autograd.gradcheck(lambda x: target_log_probs(x * 1.0, targets), (logits,))
    assert torch.autograd.gradcheck(
        lambda h, w, b: chunked_target_log_probs(h, SimpleNamespace(weight=w, bias=b), targets, 3),
        (hidden, head.weight, head.bias),
    )
