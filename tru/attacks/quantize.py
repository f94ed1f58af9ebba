"""The quantization attack: round-to-nearest weight quantization of a copy of the model.

Scheme (pure torch, CPU or GPU): per-group ASYMMETRIC (min-max affine) round-to-nearest along the
last dimension (the input dimension) of the weight of every ``nn.Linear`` inside the transformer
blocks. Each row is cut into groups of ``group_size`` consecutive weights (the last group may be
shorter); for a group with minimum ``lo`` and maximum ``hi``::

    scale = (hi - lo) / (2**bits - 1);  zero = round(-lo / scale)
    q = clamp(round(w / scale) + zero, 0, 2**bits - 1);  w_hat = (q - zero) * scale

so a group takes at most ``2**bits`` distinct values and ``|w - w_hat| <= scale / 2`` inside the
range. As in common weight-only quantizers (GPTQ, AWQ, bitsandbytes), the output head (``lm_head``)
and the embeddings stay in full precision; biases too. The original model is never changed.
4-bit quantization has been reported to bring back knowledge removed by GA-style unlearning
(Zhang et al., 2024, "Catastrophic Failure of LLM Unlearning via Quantization").
"""

from __future__ import annotations

import copy

import torch

from tru.attacks.base import AttackContext, compare, weight_evals, weight_metrics
from tru.attacks.weights import baseline_generation_requests, baseline_weight_metrics

SKIP_MODULES = ("lm_head",)


@torch.no_grad()
def quantize_tensor(weight: torch.Tensor, bits: int, group_size: int) -> torch.Tensor:
    """The dequantized weight after per-group asymmetric round-to-nearest along the last dimension."""
    if not 2 <= bits <= 8:
        raise ValueError(f"bits must be between 2 and 8, got {bits}")
    original_shape, dtype = weight.shape, weight.dtype
    w = weight.detach().to(torch.float32).reshape(-1, original_shape[-1])
    columns = w.shape[1]
    pad = (-columns) % group_size
    if pad:  # pad the last group with copies of its own first value: no new extremes
        w = torch.cat([w, w[:, -1:].expand(-1, pad)], dim=1)
    groups = w.reshape(w.shape[0], -1, group_size)
    lo = groups.amin(dim=-1, keepdim=True)
    hi = groups.amax(dim=-1, keepdim=True)
    levels = 2**bits - 1
    scale = ((hi - lo) / levels).clamp(min=1e-12)
    zero = torch.round(-lo / scale)
    q = torch.clamp(torch.round(groups / scale) + zero, 0, levels)
    dequant = ((q - zero) * scale).reshape(w.shape[0], -1)[:, :columns]
    return dequant.reshape(original_shape).to(dtype)


@torch.no_grad()
def quantize_model(model, bits: int, group_size: int):
    """A quantized copy of ``model`` (the original is untouched); returns (copy, number of layers)."""
    quantized = copy.deepcopy(model)
    count = 0
    for name, module in quantized.named_modules():
        if isinstance(module, torch.nn.Linear) and not any(name.endswith(s) for s in SKIP_MODULES):
            module.weight.copy_(quantize_tensor(module.weight, bits, group_size))
            count += 1
    return quantized, count


class Quantize:
    name = "quantize"
    uses_baseline_answers = True  # baseline_weight_metrics scores the unattacked model's answers
    generation_requests = staticmethod(baseline_generation_requests)

    def check(self, ctx: AttackContext) -> None:
        ctx.config.bit_list()

    def run(self, ctx: AttackContext) -> dict:
        import dataclasses

        before = baseline_weight_metrics(ctx)
        result = {}
        for bits in ctx.config.bit_list():
            variant = f"int{bits}"
            pending = [s for s in ctx.data if not ctx.store.has(f"{self.name}/{variant}/{s}")]
            if pending:
                ctx.log(f"  {self.name}/{variant}: quantizing (group size {ctx.config.quant_group_size}) ...")
                model, layers = quantize_model(ctx.em.model, bits, ctx.config.quant_group_size)
                ctx.log(
                    f"  {self.name}/{variant}: {layers} linear layers quantized; measuring {', '.join(pending)} ..."
                )
                measured = weight_evals(dataclasses.replace(ctx.em, model=model), {s: ctx.data[s] for s in pending})
                for side, values in measured.items():
                    ctx.store.put(f"{self.name}/{variant}/{side}", values)
                del model, measured
            measured = {side: ctx.store.get(f"{self.name}/{variant}/{side}") for side in ctx.data}
            result[variant] = {"bits": bits, "group_size": ctx.config.quant_group_size, "scheme": "asymmetric RTN"}
            for side, items in ctx.data.items():
                after = weight_metrics(items, measured[side], side)
                result[variant][side] = compare(before[side], after)
                result[variant][side]["generations"] = measured[side]["generations"]["text"]
        return result
