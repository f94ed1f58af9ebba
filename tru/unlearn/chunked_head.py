"""Next-token log-probabilities of given targets without keeping a [rows, vocabulary] logits tensor.

The output projection is applied to ``chunk_rows`` rows at a time; the forward pass keeps only each
row's log-sum-exp, and the backward pass projects each chunk again to form its gradient
``d log p(t) / d logits = onehot(t) - softmax``. Memory for logits drops from rows x vocabulary (300 MB
for 1,540 loss positions of SmolLM2 in float32, plus a gradient of the same size) to one chunk, at the
price of one more projection matmul in the backward pass (the head is a fifth of SmolLM2's weights).

The weight is read outside the model's forward call, so this suits models whose parameters are whole
on every process (one process, DDP), not sharded ones (FSDP, DeepSpeed ZeRO-3).
"""

from __future__ import annotations

import torch


class _ChunkedTargetLogProbs(torch.autograd.Function):
    @staticmethod
    def forward(ctx, hidden, weight, bias, targets, chunk_rows: int):
        log_probs = hidden.new_empty(hidden.shape[0], dtype=torch.float32)
        lse = hidden.new_empty(hidden.shape[0], dtype=torch.float32)
        for start in range(0, hidden.shape[0], chunk_rows):
            rows = slice(start, start + chunk_rows)
            logits = torch.nn.functional.linear(hidden[rows], weight, bias).float()
            lse[rows] = torch.logsumexp(logits, dim=-1)
            log_probs[rows] = logits.gather(-1, targets[rows].unsqueeze(-1)).squeeze(-1) - lse[rows]
        ctx.save_for_backward(hidden, weight, bias, targets, lse)
        ctx.chunk_rows = chunk_rows
        return log_probs

    @staticmethod
    def backward(ctx, grad_output):
        hidden, weight, bias, targets, lse = ctx.saved_tensors
        need_hidden, need_weight, need_bias = ctx.needs_input_grad[:3]
        grad_hidden = torch.zeros_like(hidden) if need_hidden else None
        grad_weight = torch.zeros_like(weight) if need_weight else None
        grad_bias = torch.zeros_like(bias) if need_bias else None
        for start in range(0, hidden.shape[0], ctx.chunk_rows):
            rows = slice(start, start + ctx.chunk_rows)
            logits = torch.nn.functional.linear(hidden[rows], weight, bias).float()
            # d(logit_t - lse)/d logits = onehot(t) - softmax, scaled by the incoming gradient per row
            grad_logits = torch.exp(logits - lse[rows].unsqueeze(-1)).mul_(-grad_output[rows].unsqueeze(-1))
            grad_logits.scatter_add_(-1, targets[rows].unsqueeze(-1), grad_output[rows].unsqueeze(-1).float())
            grad_logits = grad_logits.to(hidden.dtype)
            if need_hidden:
                grad_hidden[rows] = grad_logits @ weight
            if need_weight:
                grad_weight.addmm_(grad_logits.t(), hidden[rows])
            if need_bias:
                grad_bias.add_(grad_logits.sum(0))
        return grad_hidden, grad_weight, grad_bias, None, None


def chunked_target_log_probs(hidden: torch.Tensor, head: torch.nn.Linear, targets: torch.Tensor,
                             chunk_rows: int) -> torch.Tensor:
    """log softmax(head(hidden))[row, targets[row]] for every row of ``hidden`` [N, H], as float32 [N]."""
    if chunk_rows < 1:
        raise ValueError(f"chunk_rows must be positive, got {chunk_rows}")
    return _ChunkedTargetLogProbs.apply(hidden, head.weight, head.bias, targets, chunk_rows)
