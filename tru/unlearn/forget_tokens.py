"""Which tokens of a forget answer the forget term pushes down, one registered rule each.

``answer`` is every answer token and the end token: the authors' setting and every baseline's. ``facts``
keeps only the tokens of what the answer says beyond its question (tru.targets.hygiene.fact_spans: new
numbers and content words), on the hypothesis that the name, the question's own words, function words
and the end token are what the refusal must write, so that gradient ascent on them fights the target.
docs/results.md (round 7) measured the opposite: ``facts`` lowers TRU's refusal, so ``answer`` stays
the default. A passage (corpus data) has no question: every rule labels all of it.
"""

from __future__ import annotations

from typing import Callable

from tru.data.formatting import ChatFormatter, Encoded, encode_item
from tru.data.records import Passage, QAItem
from tru.targets.hygiene import fact_spans

FORGET_TOKENS: dict[str, Callable[[ChatFormatter, QAItem | Passage], Encoded]] = {}


def register_rule(name: str):
    def wrap(rule):
        FORGET_TOKENS[name] = rule
        return rule

    return wrap


@register_rule("answer")
def every_answer_token(formatter: ChatFormatter, item: QAItem | Passage) -> Encoded:
    return encode_item(formatter, item)


@register_rule("facts")
def fact_tokens(formatter: ChatFormatter, item: QAItem | Passage) -> Encoded:
    if not isinstance(item, QAItem):
        return encode_item(formatter, item)
    return formatter.qa_spans(item.question, item.answer, fact_spans(item.answer, item.question))
