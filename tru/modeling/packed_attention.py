"""An attention implementation for packed rows: causal attention within each sequence only.

Registered with transformers' AttentionInterface as ``tru_packed``. A forward call that passes an
``attention_plan`` (built with the packed row by tru.modeling.packing, on the host) attends within
each packed sequence (and the prefix it shares with others) only. Any other call (padded batches
with a mask, generation with a cache) is handed to transformers' own SDPA path unchanged, so the
model behaves as before outside the fused step.
"""

from __future__ import annotations

from contextlib import contextmanager

import torch
import torch.nn.functional as F
from transformers import AttentionInterface
from transformers.integrations.sdpa_attention import repeat_kv, sdpa_attention_forward
from transformers.masking_utils import AttentionMaskInterface, sdpa_mask

NAME = "tru_packed"


class _Gather(torch.autograd.Function):
    """``x.index_select(0, index)`` for each forward index, with a backward that gathers too: the
    outputs' gradients laid end to end with one zero row past them, and ``backward_index`` takes each
    row of x from its first place there (or the zero row). index_select's own backward is a
    scatter-add into a zeroed copy of x per output (slow on CPU, and then summed over the outputs);
    this is one copy and one gather whatever the number of outputs. Rows that reach the outputs more
    than once (a shared prefix) add their further places' gradients, ``repeat_rows`` <-
    ``repeat_places``: a handful of rows, not the whole output."""

    @staticmethod
    def forward(ctx, x, backward_index, repeat_rows, repeat_places, *forward_indices):
        ctx.save_for_backward(backward_index, repeat_rows, repeat_places)
        return tuple(x.index_select(0, index) for index in forward_indices)

    @staticmethod
    def backward(ctx, *grads):
        backward_index, repeat_rows, repeat_places = ctx.saved_tensors
        laid = torch.cat([*grads, grads[0].new_zeros(1, *grads[0].shape[1:])])
        grad_x = laid.index_select(0, backward_index)
        if repeat_rows is not None and repeat_rows.numel():
            grad_x.index_add_(0, repeat_rows, laid.index_select(0, repeat_places))
        return (grad_x, None, None, None) + (None,) * len(grads)


def _attend(query, key, value, dropout: float, scaling, groups: int):
    # grouped-query attention without copying keys where the kernel allows it
    native_gqa = groups > 1 and query.device.type == "cpu"
    if groups > 1 and not native_gqa:
        key, value = repeat_kv(key, groups), repeat_kv(value, groups)
    return F.scaled_dot_product_attention(
        query, key, value, dropout_p=dropout, scale=scaling, is_causal=True, enable_gqa=native_gqa
    )


def packed_attention_forward(
    module,
    query,
    key,
    value,
    attention_mask,
    dropout: float = 0.0,
    scaling: float | None = None,
    attention_plan=None,
    **kwargs,
):
    """Causal attention along each packed sequence's path, following the collator's ``attention_plan``
    (tru.modeling.packing.attention_plan): sequences (with any prefix they share with another one)
    regrouped by length into a few right-padded batches, one kernel call each (a call per sequence
    costs far more on CPU). Right padding never changes a causal result for the real tokens."""
    if attention_plan is None:
        return sdpa_attention_forward(
            module, query, key, value, attention_mask, dropout=dropout, scaling=scaling, **kwargs
        )
    groups = getattr(module, "num_key_value_groups", 1)
    plan = attention_plan
    # squeeze, not [0]: the backward of a select fills a zero tensor of the whole input first
    tokens = [x.squeeze(0).transpose(0, 1) for x in (query, key, value)]  # [tokens, heads, dim]
    gathered = [
        _Gather.apply(x, plan["first_slot"], plan["repeat_tokens"], plan["repeat_slots"], *plan["gather"])
        for x in tokens
    ]  # per tensor, its buckets' slots
    outputs = []
    for b, (rows, width) in enumerate(plan["shapes"]):
        q, k, v = (slots[b].view(rows, width, *slots[b].shape[1:]).transpose(1, 2) for slots in gathered)
        out = _attend(q, k, v, dropout, scaling, groups)  # [rows, heads, width, dim]
        outputs.append(out.transpose(1, 2).reshape(rows * width, out.shape[1], out.shape[3]))
    flat = torch.cat(outputs) if len(outputs) > 1 else outputs[0]
    (result,) = _Gather.apply(flat, plan["slot_token"], None, None, plan["token_slot"])
    return result.unsqueeze(0), None


def no_mask(like: torch.Tensor) -> torch.Tensor:
    """The ``attention_mask`` of a packed call: an empty 4D tensor, which transformers' mask builder
    hands on untouched. With None instead it looks for packed sequences in the position ids
    (``find_packed_sequence_indices``), whose ``.all()`` copies a flag from the device to the host at
    every forward call, a synchronisation inside the step. The packed attention ignores the mask (its
    plan bounds attention); any other attention would fail on an empty mask rather than attend across
    sequences."""
    return like.new_empty((1, 1, 0, 0), dtype=torch.bool)


def packed_mask(*args, attention_mask=None, **kwargs):
    """No mask for packed rows (their attention plan bounds attention); transformers' SDPA mask otherwise."""
    if attention_mask is None:
        return None
    return sdpa_mask(*args, attention_mask=attention_mask, **kwargs)


AttentionInterface.register(NAME, packed_attention_forward)
AttentionMaskInterface.register(NAME, packed_mask)


def _configs(model):
    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    return [
        module.config
        for module in base.modules()
        if hasattr(module, "config") and hasattr(module.config, "_attn_implementation")
    ]


@contextmanager
def packed_attention(*models):
    """Switch the models (the trained one and its frozen reference, if any) to packed attention
    while training, then restore them, so a saved config names the original implementation."""
    configs = {id(c): c for model in models if model is not None for c in _configs(model)}.values()
    previous = [(config, config._attn_implementation) for config in configs]
    try:
        for config, _ in previous:
            config._attn_implementation = NAME
        yield
    finally:
        for config, name in previous:
            config._attn_implementation = name
