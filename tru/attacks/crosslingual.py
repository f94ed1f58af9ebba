"""The cross-lingual attack: the forget questions asked in other languages (default Spanish, Russian).

Queries come from tru.attacks.sources (data fields, --translations file, or a cached endpoint).
ROUGE-L recall is taken against the English reference answer, so an answer given in the other
language scores low on ROUGE even when it is right; the fact-based UQ and leakage checks count
names and numbers, which survive translation better.
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

    def variants(self, ctx: AttackContext) -> dict:
        out = {}
        for lang in ctx.config.language_list():
            queries = ctx.store.compute(f"{self.name}/{lang}/queries", lambda l=lang: dict(zip(
                ("queries", "origin"), self._source(ctx).queries(l))))
            out[lang] = (queries["queries"], {"origin": queries["origin"]})
        return out
