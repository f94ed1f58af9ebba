"""The unattacked model's measurements that weight attacks compare against (stored once)."""

from __future__ import annotations

from tru.attacks.base import AttackContext, weight_metrics
from tru.attacks.queries import BASELINE_KEY
from tru.evaluate.qa_blocks import answer_block, store_generations


def _generation_key(side: str) -> str:
    return BASELINE_KEY if side == "forget" else f"baseline/{side}/generations"


def baseline_generation_requests(ctx: AttackContext) -> dict[str, list[str]]:
    """The unattacked model's answers on every side (the forget block is the query attacks' baseline)."""
    return {_generation_key(side): [x.question for x in items] for side, items in ctx.data.items()}


def baseline_measurements(ctx: AttackContext) -> dict:
    answers = {
        side: ctx.store.compute(f"baseline/{side}/answer", lambda i=items: answer_block(ctx.em, i))
        for side, items in ctx.data.items()
    }
    generated = store_generations(ctx.store, ctx.em, baseline_generation_requests(ctx))
    return {side: {"answer": answers[side], "generations": generated[_generation_key(side)]} for side in ctx.data}


def baseline_weight_metrics(ctx: AttackContext) -> dict:
    return {side: weight_metrics(ctx.data[side], m, side) for side, m in baseline_measurements(ctx).items()}
