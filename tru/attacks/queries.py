"""Query attacks: same model, transformed forget questions. "before" is the model on the original
questions, "after" on the attacked ones, "delta" = after - before (per item and averaged)."""

from __future__ import annotations

from tru.attacks.base import AttackContext, compare, generation_metrics
from tru.evaluate.qa_blocks import store_generations

BASELINE_KEY = "baseline/forget/generations"


def baseline_request(ctx: AttackContext) -> dict[str, list[str]]:
    """The unattacked model's answers to the original forget questions (one block every attack shares)."""
    return {BASELINE_KEY: [x.question for x in ctx.data["forget"]]}


class QueryAttack:
    """Subclasses give ``variants(ctx) -> {variant: (queries, info)}`` and may override ``check``."""

    name = ""
    side_effects = "queries"

    def check(self, ctx: AttackContext) -> None:  # raise ConfigError/InputError before anything is written
        pass

    def variants(self, ctx: AttackContext) -> dict[str, tuple[list[str], dict]]:
        raise NotImplementedError

    def generation_requests(self, ctx: AttackContext) -> dict[str, list[str]]:
        """Every generation block this attack needs, baseline included (the runner may generate the
        blocks of several query attacks in one batched run before running them)."""
        return self._requests(ctx, self.variants(ctx))

    def _requests(self, ctx: AttackContext, variants: dict) -> dict[str, list[str]]:
        return {**baseline_request(ctx), **{f"{self.name}/{v}/generations": q for v, (q, _) in variants.items()}}

    def run(self, ctx: AttackContext) -> dict:
        items = ctx.data["forget"]
        variants = self.variants(ctx)
        generated = store_generations(ctx.store, ctx.em, self._requests(ctx, variants), ctx.log)
        before = generation_metrics(items, generated[BASELINE_KEY], "forget")
        result, per_variant = {}, {}
        for variant, (queries, info) in variants.items():
            generations = generated[f"{self.name}/{variant}/generations"]
            after = generation_metrics(items, generations, "forget", queries=queries, lang=self.language(variant))
            per_variant[variant] = after
            result[variant] = {"queries": queries, **info, "generations": generations["text"],
                               "forget": compare(before, after)}
        self.finish(result, before, per_variant)
        return result

    def language(self, variant: str) -> str:
        """The language the variant's queries are asked in (its answers are scored against that
        language's reference)."""
        return "en"

    def finish(self, result: dict, before: dict, per_variant: dict) -> None:
        pass
