"""The fused step's logits written into memory kept from one step to the next (CPU).

The fused step projects the final hidden states at its loss positions onto the vocabulary: a
[loss positions, vocabulary] float32 tensor, hundreds of megabytes on the benchmark's TRU step,
allocated afresh every step. On a CPU glibc maps a block that large from the kernel and returns it
when freed, so each step the matmul writes memory new to the process (page faults, zeroing, cold
caches): inside the step it ran markedly slower than into this buffer (BENCHMARKS.md, throughput
section, "after the logits workspace"; with transparent huge pages the fresh tensor was hardly
quicker). An accelerator's caching allocator reuses memory already, so this is for the CPU only.
`tru finetune`'s packed step and the relearning attack (tru.modeling.packed_lm) project the same way.

``LogitsWorkspace.project(hidden, head)`` computes ``head(hidden)`` into its buffer, which grows to
the largest step seen and is then reused. The returned logits are a view of that buffer: a later
step overwrites them, so nothing may keep them past their own step's backward pass. Autograd checks
that: the logits are a view of the buffer made inside a custom function, and autograd refuses to use
such a view once its base was written again, so a graph kept from the previous step fails on its
backward pass instead of reading the new step's logits (tests/test_logits_workspace.py).
"""

from __future__ import annotations

import torch
from torch.autograd.function import once_differentiable

from tru.core.processes import sharding_engine

# rows are allocated in multiples of this, so that steps a few positions longer reuse the buffer too
_ROW_GRANULE = 128


class _ProjectInto(torch.autograd.Function):
    """``linear(hidden, weight, bias)`` written into ``workspace``'s memory; the usual linear backward."""

    @staticmethod
    def forward(ctx, hidden, weight, bias, workspace: LogitsWorkspace):
        out = workspace.rows(hidden.shape[0], weight.shape[0], hidden)
        if bias is None:
            torch.mm(hidden, weight.t(), out=out)
        else:
            torch.addmm(bias, hidden, weight.t(), out=out)
        ctx.save_for_backward(hidden, weight)
        ctx.has_bias = bias is not None
        return out

    @staticmethod
    @once_differentiable
    def backward(ctx, grad_out):
        hidden, weight = ctx.saved_tensors
        need_hidden, need_weight, need_bias = ctx.needs_input_grad[:3]
        grad_hidden = grad_out @ weight if need_hidden else None
        grad_weight = grad_out.t() @ hidden if need_weight else None
        grad_bias = grad_out.sum(0) if need_bias and ctx.has_bias else None
        return grad_hidden, grad_weight, grad_bias, None


class _SameWeight(torch.autograd.Function):
    """The weight itself, as a node of the graph made where it is called; the gradient passes unchanged."""

    @staticmethod
    def forward(ctx, weight):
        return weight.view_as(weight)

    @staticmethod
    def backward(ctx, grad):
        return grad


def head_weight_for_projection(head: torch.nn.Linear) -> torch.Tensor:
    """The output layer's weight for ``LogitsWorkspace.project``, taken before the model's forward pass.

    For a weight shared with a sparse input embedding (tru.train.training.sparse_tied_embedding_gradient):
    autograd runs the backward nodes made last first, so the embedding's sparse gradient (the first
    operation of the forward pass) reaches the shared weight after the projection's dense one, and
    autograd adds a sparse gradient to a dense one it already holds out of place: for SmolLM2 a 113 MB
    copy per step (BENCHMARKS.md, throughput section, "after the tied weight's gradient sum went in
    place"). Through a node made before the forward
    pass, the projection's gradient arrives last and the sparse one is added into it in place (it is a
    fresh contiguous tensor). Same values either way."""
    return _SameWeight.apply(head.weight)


class LogitsWorkspace:
    """A buffer for [rows, vocabulary] logits, kept between steps; see the module docstring."""

    def __init__(self):
        self._buffer: torch.Tensor | None = None

    def rows(self, count: int, width: int, like: torch.Tensor) -> torch.Tensor:
        """A [count, width] view of the buffer (grown if needed) with ``like``'s dtype and device."""
        need = count * width
        buffer = self._buffer
        if buffer is None or buffer.numel() < need or buffer.dtype != like.dtype or buffer.device != like.device:
            buffer = self._buffer = None  # the old buffer goes before the new one comes
            rows = -(-count // _ROW_GRANULE) * _ROW_GRANULE
            self._buffer = buffer = like.new_empty(rows * width)
        return buffer[:need].view(count, width)

    def project(self, hidden: torch.Tensor, head: torch.nn.Linear, weight: torch.Tensor | None = None) -> torch.Tensor:
        """``head(hidden)`` for hidden [N, H], into this workspace; ``weight`` in place of ``head.weight``
        (``head_weight_for_projection``)."""
        return _ProjectInto.apply(hidden, head.weight if weight is None else weight, head.bias, self)

    @property
    def capacity(self) -> int:
        """Elements the buffer holds now (0 before the first step)."""
        return 0 if self._buffer is None else self._buffer.numel()


def head_projection_problem(model) -> str:
    """Why the output layer cannot be applied outside the model's forward call ('' when it can): its
    weight must be whole on this process and the logits unscaled."""
    engine = sharding_engine("")
    if engine:
        return f"needs the whole output layer on every process, as DDP keeps it; {engine} shards it"
    model = getattr(model, "module", model)
    head = model.get_output_embeddings()
    config = getattr(model, "config", None)
    scaled = any(
        getattr(config, name, None) not in (None, 1, 1.0) for name in ("final_logit_softcapping", "logit_scale")
    )
    if type(head) is not torch.nn.Linear or scaled:
        return (
            f"needs a plain linear output layer without logit scaling; {type(model).__name__} has "
            f"{type(head).__name__}{' and scales its logits' if scaled else ''}"
        )
    return ""


def workspace_for(model, device) -> LogitsWorkspace | None:
    """A workspace for a packed step of ``model`` on ``device``: on the CPU, where the output layer can
    be applied outside the model's forward call; None otherwise."""
    if torch.device(device).type != "cpu" or head_projection_problem(model):
        return None
    return LogitsWorkspace()
