"""Next-token log-probabilities of given targets, log softmax(logits)[row, target], computed in blocks of rows.

Two forms, with the same backward formula ``d log p(t) / d logits = onehot(t) - softmax``:

- ``target_log_probs(logits, targets)``: from logits the model already produced. The composite
  ``gather - logsumexp`` (or ``log_softmax`` + ``gather``) makes about ten passes over the
  [rows, vocabulary] tensor with as many fresh tensors of that size; on a CPU those passes, not the
  arithmetic, were a large part of a fused TRU step (BENCHMARKS.md, throughput section, "What changed
  on 2026-12-01"). Here the forward pass keeps one log-sum-exp per row and the backward pass writes
  the gradient block by block, each block small enough to stay in the CPU's cache: one read of the
  logits forward, one read and one write backward. When the caller says nothing else reads the logits afterwards
  (``may_overwrite_logits``, asked in the backward pass), the gradient is written into the logits' own
  storage: no second [rows, vocabulary] tensor at the peak of the step, and no fresh memory to fault in
  (on the CPU, writing a logits-sized tensor's new pages took longer than computing the gradient).
- ``chunked_target_log_probs(hidden, head, targets, chunk_rows)`` (``--logits-chunk``): the output
  projection too is applied ``chunk_rows`` rows at a time, and applied again in the backward pass, so
  no [rows, vocabulary] tensor lives between the passes, at the price of one more projection matmul
  (the head is a fifth of SmolLM2's weights). The weight is read outside the model's forward call, so
  this suits models whose parameters are whole on every process (one process, DDP), not sharded ones
  (FSDP, DeepSpeed ZeRO-3).

Both compute and return float32 for float32 and narrower logits (bfloat16 logits are widened one block at
a time) and float64 for float64 ones (tests/test_fused_step.py checks the fused step in float64, where
no vocabulary-wide float32 sum blurs the comparison).
"""

from __future__ import annotations

from typing import Callable

import torch
from torch.autograd.function import once_differentiable

# On a CPU, about 1 MiB of float32 per block: the block and its temporaries stay in a core's L2 cache.
_BLOCK_ELEMENTS = 1 << 18
# On an accelerator each block costs a handful of kernel launches (about 300 blocks for SmolLM2's
# 1,540 x 49,152 logits at the CPU's size, some 2,000 launches a step); 256 MiB of float32 per block
# makes that two blocks, at the price of a block's temporaries (its float32 copy, its exponentials):
# about 0.5 GiB at most.
_DEVICE_BLOCK_ELEMENTS = 1 << 26


def _block_rows(vocabulary: int, device: torch.device) -> int:
    elements = _BLOCK_ELEMENTS if device.type == "cpu" else _DEVICE_BLOCK_ELEMENTS
    return max(1, elements // max(vocabulary, 1))


def widened(dtype: torch.dtype) -> torch.dtype:
    """The dtype log-probabilities are computed in: float32, or float64 for float64 logits."""
    return torch.promote_types(dtype, torch.float32)


def _gather_minus_lse(logits: torch.Tensor, targets: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(log p of each row's target, each row's log-sum-exp), both widened, for one block of logits."""
    logits = logits.to(widened(logits.dtype))
    lse = torch.logsumexp(logits, dim=-1)
    return logits.gather(-1, targets.unsqueeze(-1)).squeeze(-1) - lse, lse


def _logits_gradient(
    logits: torch.Tensor, lse: torch.Tensor, targets: torch.Tensor, grad_output: torch.Tensor
) -> torch.Tensor:
    """d(sum_i g_i * log softmax(logits_i)[t_i]) / d logits = g_i * (onehot(t_i) - softmax(logits_i)), widened."""
    grad = torch.exp(logits.to(lse.dtype) - lse.unsqueeze(-1)).mul_(-grad_output.unsqueeze(-1))
    return grad.scatter_add_(-1, targets.unsqueeze(-1), grad_output.unsqueeze(-1).to(grad.dtype))


class _TargetLogProbs(torch.autograd.Function):
    @staticmethod
    def forward(ctx, logits, targets, block_rows: int, may_overwrite_logits):
        log_probs = logits.new_empty(logits.shape[0], dtype=widened(logits.dtype))
        lse = torch.empty_like(log_probs)
        for start in range(0, logits.shape[0], block_rows):
            rows = slice(start, start + block_rows)
            log_probs[rows], lse[rows] = _gather_minus_lse(logits[rows], targets[rows])
        ctx.save_for_backward(logits, targets, lse)
        ctx.block_rows = block_rows
        ctx.may_overwrite_logits = may_overwrite_logits
        return log_probs

    @staticmethod
    @once_differentiable
    def backward(ctx, grad_output):
        logits, targets, lse = ctx.saved_tensors
        # each block is read before it is written, so the gradient may take the logits' place
        overwrite = ctx.may_overwrite_logits is not None and ctx.may_overwrite_logits()
        grad_logits = logits if overwrite else torch.empty_like(logits)
        for start in range(0, logits.shape[0], ctx.block_rows):
            rows = slice(start, start + ctx.block_rows)
            grad_logits[rows] = _logits_gradient(logits[rows], lse[rows], targets[rows], grad_output[rows])
        return grad_logits, None, None, None


class _ChunkedTargetLogProbs(torch.autograd.Function):
    @staticmethod
    def forward(ctx, hidden, weight, bias, targets, chunk_rows: int):
        log_probs = hidden.new_empty(hidden.shape[0], dtype=widened(hidden.dtype))
        lse = torch.empty_like(log_probs)
        for start in range(0, hidden.shape[0], chunk_rows):
            rows = slice(start, start + chunk_rows)
            logits = torch.nn.functional.linear(hidden[rows], weight, bias)
            log_probs[rows], lse[rows] = _gather_minus_lse(logits, targets[rows])
        ctx.save_for_backward(hidden, weight, bias, targets, lse)
        ctx.chunk_rows = chunk_rows
        return log_probs

    @staticmethod
    @once_differentiable
    def backward(ctx, grad_output):
        hidden, weight, bias, targets, lse = ctx.saved_tensors
        need_hidden, need_weight, need_bias = ctx.needs_input_grad[:3]
        grad_hidden = torch.zeros_like(hidden) if need_hidden else None
        grad_weight = torch.zeros_like(weight) if need_weight else None
        grad_bias = torch.zeros_like(bias) if need_bias else None
        for start in range(0, hidden.shape[0], ctx.chunk_rows):
            rows = slice(start, start + ctx.chunk_rows)
            logits = torch.nn.functional.linear(hidden[rows], weight, bias)
            grad_logits = _logits_gradient(logits, lse[rows], targets[rows], grad_output[rows]).to(hidden.dtype)
            if need_hidden:
                grad_hidden[rows] = grad_logits @ weight
            if need_weight:
                grad_weight.addmm_(grad_logits.t(), hidden[rows])
            if need_bias:
                grad_bias.add_(grad_logits.sum(0))
        return grad_hidden, grad_weight, grad_bias, None, None


def target_log_probs(
    logits: torch.Tensor, targets: torch.Tensor, *, may_overwrite_logits: Callable[[], bool] | None = None
) -> torch.Tensor:
    """log softmax(logits)[row, targets[row]] for every row of ``logits`` [N, V], widened [N].

    ``may_overwrite_logits`` is called once in the backward pass; if it returns True the logits'
    storage receives their gradient, so it must return True only when nothing reads these logits (or
    a view of them) after that point, as a value or as a tensor saved for another backward step.
    """
    if logits.dim() != 2 or targets.shape != logits.shape[:1]:
        raise ValueError(
            f"expected logits [N, V] and targets [N], got {tuple(logits.shape)} and {tuple(targets.shape)}"
        )
    block_rows = _block_rows(logits.shape[-1], logits.device)
    return _TargetLogProbs.apply(logits, targets, block_rows, may_overwrite_logits)


def chunked_target_log_probs(
    hidden: torch.Tensor, head: torch.nn.Linear, targets: torch.Tensor, chunk_rows: int
) -> torch.Tensor:
    """log softmax(head(hidden))[row, targets[row]] for every row of ``hidden`` [N, H], widened [N]."""
    if chunk_rows < 1:
        raise ValueError(f"chunk_rows must be positive, got {chunk_rows}")
    return _ChunkedTargetLogProbs.apply(hidden, head.weight, head.bias, targets, chunk_rows)
