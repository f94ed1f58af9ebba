"""The chunked output projection equals the plain one in values and gradients."""

import pytest
import torch

from tru.unlearn.chunked_head import chunked_target_log_probs


def _plain(hidden, head, targets):
    return torch.log_softmax(head(hidden).float(), dim=-1).gather(-1, targets.unsqueeze(-1)).squeeze(-1)


@pytest.mark.parametrize("chunk_rows,bias", [(1, False), (3, True), (7, False), (100, True)])
def test_values_and_gradients_equal_the_plain_projection(chunk_rows, bias):
    torch.manual_seed(0)
    head = torch.nn.Linear(16, 50, bias=bias, dtype=torch.float64)
    hidden = torch.randn(7, 16, dtype=torch.float64, requires_grad=True)
    targets = torch.randint(0, 50, (7,))
    weights = torch.randn(7, dtype=torch.float64)  # a non-uniform upstream gradient

    expected = _plain(hidden, head, targets)
    (expected.double() * weights).sum().backward()
    reference = [hidden.grad.clone(), head.weight.grad.clone()] + ([head.bias.grad.clone()] if bias else [])
    hidden.grad = None
    head.zero_grad()

    got = chunked_target_log_probs(hidden, head, targets, chunk_rows)
    assert got.dtype == torch.float32
    assert torch.allclose(got.double(), expected.double(), atol=1e-6)
    (got.double() * weights).sum().backward()
    grads = [hidden.grad, head.weight.grad] + ([head.bias.grad] if bias else [])
    for g, r in zip(grads, reference):
        assert torch.allclose(g, r, atol=1e-6)


def test_a_frozen_head_gets_no_gradient():
    torch.manual_seed(1)
    head = torch.nn.Linear(5, 11).requires_grad_(False)
    hidden = torch.randn(4, 5, requires_grad=True)
    targets = torch.tensor([0, 10, 3, 3])
    chunked_target_log_probs(hidden, head, targets, 2).sum().backward()
    assert hidden.grad is not None and head.weight.grad is None


def test_bad_chunk_size():
    with pytest.raises(ValueError, match="chunk_rows"):
        chunked_target_log_probs(torch.zeros(2, 3), torch.nn.Linear(3, 4), torch.zeros(2, dtype=torch.long), 0)
