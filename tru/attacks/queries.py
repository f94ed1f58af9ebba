"""Query attacks: same model, transformed forget questions. "before" is the model on the original
questions, "after" on the attacked ones, "delta" = after - before (per item and averaged)."""

from __future__ import annotations

from tru.attacks.base import AttackContext, compare, generation_metrics
from tru.evaluate.qa_blocks import generation_block

BASELINE_KEY = "baseline/forget/generations"


def baseline_generations(ctx: AttackContext) -> dict:
    return ctx.store.compute(BASELINE_KEY, lambda: generation_block(
        ctx.em, [x.question for x in ctx.data["forget"]]))


class QueryAttack:
    """Subclasses give ``variants(ctx) -> {variant: (queries, info)}`` and may override ``check``."""

    name = ""
    side_effects = "queries"

    def check(self, ctx: AttackContext) -> None:  # raise ConfigError/InputError before anything is written
        pass

    def variants(self, ctx: AttackContext) -> dict[str, tuple[list[str], dict]]:
        raise NotImplementedError

    def run(self, ctx: AttackContext) -> dict:
        items = ctx.data["forget"]
        before = generation_metrics(items, baseline_generations(ctx), "forget")
        result, per_variant = {}, {}
        for variant, (queries, info) in self.variants(ctx).items():
            key = f"{self.name}/{variant}/generations"
            ctx.log(f"  {key}: reused" if ctx.store.has(key) else f"  {key} ...")
            generations = ctx.store.compute(key, lambda q=queries: generation_block(ctx.em, q))
            after = generation_metrics(items, generations, "forget")
            per_variant[variant] = after
            result[variant] = {"queries": queries, **info, "generations": generations["text"],
                               "forget": compare(before, after)}
        self.finish(result, before, per_variant)
        return result

    def finish(self, result: dict, before: dict, per_variant: dict) -> None:
        pass
