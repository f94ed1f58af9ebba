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

    def _source(self, ctx: AttackContext) -> QuerySource:
        if "source" not in ctx.prepared:
            ctx.prepared["source"] = QuerySource(ctx.config, ctx.data["forget"], ctx.raw.get("forget", []), ctx.out)
        return ctx.prepared["source"]

    def check(self, ctx: AttackContext) -> None:
        for lang in ctx.config.language_list():
            self._source(ctx).check(lang)

    def language(self, variant: str) -> str:
        return variant  # the variant is the language code

    def variants(self, ctx: AttackContext) -> dict:
        out = {}
        for lang in ctx.config.language_list():
            queries = ctx.store.compute(f"{self.name}/{lang}/queries", lambda l=lang: dict(zip(
                ("queries", "origin"), self._source(ctx).queries(l))))
            out[lang] = (queries["queries"], {"origin": queries["origin"]})
        return out
