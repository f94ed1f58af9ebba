"""Query attacks: same model, transformed questions. "before" is the model on the original questions,
"after" on the attacked ones, "delta" = after - before (per item and averaged).

The forget side asks whether the attack brings the forgotten facts back. With ``--retain-queries N``
the first N out-of-scope (retain) questions are asked under the same transformations: a wrapper or a
language alone must not make the model refuse what it should answer (the retain side's ``answered``
rate and ROUGE-L). A retain variant whose queries have no source (no translation of a retain
question) is left out with its reason under ``retain_skipped``.
"""

from __future__ import annotations

from tru.attacks.base import AttackContext, compare, generation_metrics, subset
from tru.core.errors import ConfigError
from tru.evaluate.qa_blocks import store_generations

BASELINE_KEY = "baseline/forget/generations"
RETAIN_BASELINE_KEY = "baseline/retain/generations"


def baseline_request(ctx: AttackContext) -> dict[str, list[str]]:
    """The unattacked model's answers to the original questions (blocks every attack shares); the
    retain block holds the whole retain side, as the weight attacks and the evaluation ask it."""
    out = {BASELINE_KEY: [x.question for x in ctx.data["forget"]]}
    if retain_items(ctx):
        out[RETAIN_BASELINE_KEY] = [x.question for x in ctx.data["retain"]]
    return out


def retain_items(ctx: AttackContext) -> list:
    return list(ctx.data.get("retain", [])[: ctx.config.retain_queries])


class QueryAttack:
    """Subclasses give ``variants(ctx, items, side) -> {variant: (queries, info)}`` and may override
    ``check``."""

    name = ""
    side_effects = "queries"

    def check(self, ctx: AttackContext) -> None:  # raise ConfigError/InputError before anything is written
        pass

    def variants(self, ctx: AttackContext, items: list, side: str) -> dict[str, tuple[list[str], dict]]:
        raise NotImplementedError

    def _all_variants(self, ctx: AttackContext) -> tuple[dict[str, dict], dict[str, str]]:
        """side -> variants, and the retain variants left out with their reasons."""
        out, skipped = {"forget": self.variants(ctx, ctx.data["forget"], "forget")}, {}
        retain = retain_items(ctx)
        if retain:
            try:
                out["retain"] = self.variants(ctx, retain, "retain")
            except ConfigError as exc:
                skipped["all"] = str(exc)
        return out, skipped

    def generation_requests(self, ctx: AttackContext) -> dict[str, list[str]]:
        """Every generation block this attack needs, baselines included (the runner may generate the
        blocks of several query attacks in one batched run before running them)."""
        return self._requests(ctx, self._all_variants(ctx)[0])

    def _key(self, variant: str, side: str) -> str:
        return f"{self.name}/{variant}/generations" if side == "forget" else f"{self.name}/{variant}/{side}/generations"

    def _requests(self, ctx: AttackContext, variants: dict[str, dict]) -> dict[str, list[str]]:
        return {
            **baseline_request(ctx),
            **{self._key(v, side): q for side, by_variant in variants.items() for v, (q, _) in by_variant.items()},
        }

    def run(self, ctx: AttackContext) -> dict:
        variants, skipped = self._all_variants(ctx)
        generated = store_generations(ctx.store, ctx.em, self._requests(ctx, variants), ctx.log)
        items = ctx.data["forget"]
        before = generation_metrics(items, generated[BASELINE_KEY], "forget")
        result, per_variant = {}, {}
        for variant, (queries, info) in variants["forget"].items():
            generations = generated[self._key(variant, "forget")]
            after = generation_metrics(items, generations, "forget", queries=queries, lang=self.language(variant))
            per_variant[variant] = after
            result[variant] = {
                "queries": queries,
                **info,
                "generations": generations["text"],
                "forget": compare(before, after),
            }
        if "retain" in variants:
            self._run_retain(ctx, variants["retain"], generated, result)
        if skipped:
            for body in result.values():
                body["retain_skipped"] = skipped["all"]
        self.finish(result, before, per_variant)
        return result

    def _run_retain(self, ctx: AttackContext, variants: dict, generated: dict, result: dict) -> None:
        items = retain_items(ctx)
        baseline = subset(generated[RETAIN_BASELINE_KEY], range(len(items)))
        before = generation_metrics(items, baseline, "retain")
        for variant, (queries, _) in variants.items():
            generations = generated[self._key(variant, "retain")]
            after = generation_metrics(items, generations, "retain", queries=queries, lang=self.language(variant))
            result[variant].update(
                {"retain_queries": queries, "retain_generations": generations["text"], "retain": compare(before, after)}
            )

    def language(self, variant: str) -> str:
        """The language the variant's queries are asked in (its answers are scored against that
        language's reference)."""
        return "en"

    def finish(self, result: dict, before: dict, per_variant: dict) -> None:
        pass
