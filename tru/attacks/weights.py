"""The unattacked model's measurements that weight attacks compare against (stored once)."""

from __future__ import annotations

from tru.attacks.base import AttackContext, weight_metrics
from tru.attacks.queries import BASELINE_KEY
from tru.evaluate.qa_blocks import answer_block, generation_block


def baseline_measurements(ctx: AttackContext) -> dict:
    measured = {}
    for side, items in ctx.data.items():
        answer = ctx.store.compute(f"baseline/{side}/answer", lambda i=items: answer_block(ctx.em, i))
        gen_key = BASELINE_KEY if side == "forget" else f"baseline/{side}/generations"
        generations = ctx.store.compute(gen_key, lambda i=items: generation_block(ctx.em, [x.question for x in i]))
        measured[side] = {"answer": answer, "generations": generations}
    return measured


def baseline_weight_metrics(ctx: AttackContext) -> dict:
    return {side: weight_metrics(ctx.data[side], m, side) for side, m in baseline_measurements(ctx).items()}
