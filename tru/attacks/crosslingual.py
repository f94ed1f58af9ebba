"""The cross-lingual attack: the forget questions asked in other languages (default Spanish, Russian).

Queries come from tru.attacks.sources (data fields, --translations file, or a cached endpoint).
ROUGE-L recall is taken against the reference answer in the query's language where the data has one
(``translations.{lang}.answer``) and is absent otherwise, never the English reference against an
answer in another language; fact leakage (tru.evaluate.fact_leak) does not depend on the language.
"""

from __future__ import annotations

from tru.attacks.base import AttackContext
from tru.attacks.queries import QueryAttack
from tru.attacks.sources import QuerySource


class CrossLingual(QueryAttack):
    name = "crosslingual"

    def _source(self, ctx: AttackContext, items: list | None = None, side: str = "forget") -> QuerySource:
        key = f"source/{side}"
        if key not in ctx.prepared:
            ctx.prepared[key] = QuerySource(
                ctx.config, ctx.data["forget"] if items is None else items, ctx.raw.get(side, []), ctx.out, side=side
            )
        return ctx.prepared[key]

    def check(self, ctx: AttackContext) -> None:
        for lang in ctx.config.language_list():
            self._source(ctx).check(lang)

    def language(self, variant: str) -> str:
        return variant  # the variant is the language code

    def variants(self, ctx: AttackContext, items: list, side: str) -> dict:
        source, prefix = self._source(ctx, items, side), self.name if side == "forget" else f"{self.name}/{side}"
        out = {}
        for lang in ctx.config.language_list():
            queries = ctx.store.compute(
                f"{prefix}/{lang}/queries", lambda code=lang: dict(zip(("queries", "origin"), source.queries(code)))
            )
            out[lang] = (queries["queries"], {"origin": queries["origin"]})
        return out
