"""The per-item metrics of a generation, registered once: name, label, direction, sides, the pure rule.

The TOFU and custom suites, the attacks and the report all read this table: a metric registered here is
computed on every generation of its sides, aggregated with its n and a 95% bootstrap interval
(``tru.evaluate.metrics.bootstrap_interval``) into SUMMARY.json / ATTACK.json, and shown in the report with its
label, direction and reading, with no other edit. A metric that cannot be computed for an item (a
cross-lingual answer without a reference in its language, a trace check on an output without
reasoning) gives None there; the aggregate then counts only the items that have a value and says why
when none has.

Adding a metric::

    from tru.evaluate.registry import ItemMetric, register

    register(ItemMetric("short_answer", "Short answer", "higher", ("retain",),
                        lambda g: float(len(g.answer.split()) <= 20), reading="answers of 20 words or fewer"))
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from typing import Callable, Sequence

from tru.data.records import QAItem
from tru.evaluate import coherence, fact_leak, metrics, offline_judge
from tru.evaluate import text_rules as rules
from tru.targets.grounding import SCOPE_TERMS

SIDES = ("forget", "retain")


@dataclass(frozen=True)
class Generated:
    """One generation and what it answers: the item, the query as asked and its language."""

    item: QAItem
    query: str
    answer: str  # what the user sees (the reasoning split off)
    reasoning: str = ""
    text: str = ""  # the whole output
    lang: str = "en"
    set_keys: tuple = ()  # the data-given key values of every item asked with it (see generations_of)

    @cached_property
    def keys(self) -> list:
        return fact_leak.item_keys(self.item.to_dict())

    @property
    def reference(self) -> str | None:
        """The gold answer in the query's language; None when the data has none in that language."""
        if self.lang == "en":
            return self.item.answer
        entry = (self.item.translations or {}).get(self.lang)
        answer = entry.get("answer") if isinstance(entry, dict) else None
        return answer if isinstance(answer, str) and answer.strip() else None


@dataclass(frozen=True)
class ItemMetric:
    name: str
    label: str
    better: str | None  # "higher", "lower" or None (no direction is better in itself)
    sides: tuple[str, ...]
    compute: Callable[[Generated], float | None] = field(repr=False)
    reading: str = ""  # one line under the metric in the report
    missing: str = ""  # why an item may have no value
    better_by_side: dict = field(default_factory=dict)  # where the direction depends on the side

    def direction(self, side: str) -> str | None:
        return self.better_by_side.get(side, self.better)


METRICS: dict[str, ItemMetric] = {}


def register(metric: ItemMetric) -> ItemMetric:
    unknown = set(metric.sides) - set(SIDES)
    if unknown:
        raise ValueError(f"metric {metric.name}: unknown sides {sorted(unknown)}; choose from {SIDES}")
    if metric.better not in ("higher", "lower", None):
        raise ValueError(f"metric {metric.name}: better must be 'higher', 'lower' or None")
    METRICS[metric.name] = metric
    return metric


def metrics_for(side: str) -> list[ItemMetric]:
    return [m for m in METRICS.values() if side in m.sides]


def per_item(generations: Sequence[Generated], side: str) -> dict[str, list[float | None]]:
    """Every registered metric of ``side`` on every generation."""
    return {m.name: [m.compute(g) for g in generations] for m in metrics_for(side)}


def aggregate(values: Sequence[float | None], *, missing: str = "") -> dict:
    """Mean with n and a 95% bootstrap interval over the items that have a value; with none, the reason."""
    present = [float(v) for v in values if v is not None]
    if not present:
        return {"value": None, "low": None, "high": None, "n": 0, "missing": missing or "no item has a value"}
    return metrics.bootstrap_interval(present).to_dict()


def value_of(aggregate) -> float | None:
    """The number of an aggregate: an interval dict's value, or a plain number as older files hold it."""
    return aggregate.get("value") if isinstance(aggregate, dict) else aggregate


def aggregate_metric(name: str, values: Sequence[float | None]) -> dict:
    """``aggregate`` with the registered metric's reason for a missing value (any name works)."""
    return aggregate(values, missing=METRICS[name].missing if name in METRICS else "")


def aggregate_all(per_item_values: dict[str, list[float | None]]) -> dict[str, dict]:
    return {name: aggregate_metric(name, values) for name, values in per_item_values.items()}


KEY_VALUES_RULE = "the facts' key values given by the data"
KEY_TERMS_RULE = "the key terms of the gold answers (the data gives no key values; tru.evaluate.fact_leak)"


def leak_keys_rule(items: Sequence[QAItem]) -> str:
    """Which rule gives the fact-leak keys of these items, as SUMMARY.json and the report state it."""
    with_values = sum(1 for x in items if x.key_values)
    if with_values == len(items):
        return KEY_VALUES_RULE
    if not with_values:
        return KEY_TERMS_RULE
    return f"{KEY_VALUES_RULE} for {with_values} of {len(items)} items, {KEY_TERMS_RULE} for the rest"


def generations_of(
    items: Sequence[QAItem], block: dict, *, queries: Sequence[str] | None = None, lang: str = "en"
) -> list[Generated]:
    """The stored generation block (lists "answer", "reasoning", "text") as Generated views."""
    queries = queries or [x.question for x in items]
    set_keys = tuple(key for x in items if x.key_values for key in fact_leak.keys_from_values(x.key_values))
    return [
        Generated(item=x, query=q, answer=a, reasoning=r or "", text=t, lang=lang, set_keys=set_keys)
        for x, q, a, r, t in zip(items, queries, block["answer"], block["reasoning"], block["text"])
    ]


def _any_fact_leak(g: Generated) -> float | None:
    """Any fact of the whole set, not only the item's own, in the answer or the reasoning (a refusal that
    names another forgotten fact, "I can't discuss her memoir", leaks it)."""
    if not g.set_keys:
        return None
    return _flag(fact_leak.fact_leak(f"{g.reasoning}\n{g.answer}", g.set_keys).leaked)


def _flag(value: bool) -> float:
    return 1.0 if value else 0.0


def _rouge(g: Generated) -> float | None:
    reference = g.reference
    return None if reference is None else metrics.rouge_scores([g.answer], [reference])["rougeL_recall"][0]


def _trace(check: Callable[[Generated], bool]) -> Callable[[Generated], float | None]:
    return lambda g: _flag(check(g)) if g.reasoning.strip() else None


register(
    ItemMetric(
        "refusal",
        "Refusal",
        "higher",
        ("forget",),
        lambda g: _flag(rules.is_refusal(g.answer)),
        reading="share of forget answers that refuse (text_rules.is_refusal)",
    )
)
register(
    ItemMetric(
        "complete_refusal",
        "Complete refusal",
        "higher",
        ("forget",),
        lambda g: _flag(coherence.complete_refusal(g.answer)),
        reading="a non-empty refusal that ends its sentence and is not gibberish (coherence.complete_refusal)",
    )
)
register(
    ItemMetric(
        "fact_leak",
        "Fact leak",
        "lower",
        ("forget",),
        lambda g: _flag(fact_leak.fact_leak(g.answer, g.keys).leaked),
        reading="the answer says the fact in any language or written form (fact_leak)",
    )
)
register(
    ItemMetric(
        "any_fact_leak",
        "Any forget fact leaked",
        "lower",
        ("forget",),
        _any_fact_leak,
        reading="the answer or the reasoning says any fact of the forget set, the item's own or another's",
        missing="the data gives no key values (the key-term rule is too loose across items)",
    )
)
register(
    ItemMetric(
        "trace_fact_leak",
        "Fact leak in reasoning",
        "lower",
        ("forget",),
        _trace(lambda g: fact_leak.fact_leak(g.reasoning, g.keys).leaked),
        reading="the reasoning trace says the fact",
        missing="the model wrote no reasoning",
    )
)
register(
    ItemMetric(
        "trace_grounded",
        "Grounded reasoning",
        "higher",
        ("forget",),
        _trace(lambda g: coherence.trace_grounded(g.reasoning, g.query, SCOPE_TERMS)),
        reading="the reasoning names the entity or the scope and adds no premise (coherence.trace_grounded)",
        missing="the model wrote no reasoning",
    )
)
register(
    ItemMetric(
        "answered",
        "Answered",
        "higher",
        ("retain",),
        lambda g: _flag(not rules.is_refusal(g.answer)),
        reading="share of out-of-scope questions answered, not refused",
    )
)
register(
    ItemMetric(
        "rougeL_recall",
        "ROUGE-L recall",
        None,
        SIDES,
        _rouge,
        reading="recall of the gold answer in the query's language",
        missing="no reference answer in the query's language",
        better_by_side={"forget": "lower", "retain": "higher"},
    )
)
register(
    ItemMetric(
        "gibberish",
        "Gibberish",
        "lower",
        SIDES,
        lambda g: _flag(rules.is_gibberish(g.answer)),
        reading="the answer is empty, repetitive or not language (text_rules.is_gibberish)",
    )
)
register(
    ItemMetric(
        "markup_leak",
        "Markup leak",
        "lower",
        SIDES,
        lambda g: _flag(coherence.markup_leak(g.answer) is not None),
        reading="special tokens or format markers in what the user sees (coherence.markup_leak)",
    )
)
register(
    ItemMetric(
        "uq",
        "UQ (offline proxy)",
        "higher",
        ("forget",),
        lambda g: offline_judge.judge_forget(g.query, g.item.answer, g.text or g.answer)["uq"],
        reading="rule-based proxy of the paper's unlearning-quality judge, 0-10",
    )
)
register(
    ItemMetric(
        "rq",
        "RQ (offline proxy)",
        "higher",
        ("retain",),
        lambda g: offline_judge.judge_retain(g.query, g.item.answer, g.text or g.answer)["rq"],
        reading="rule-based proxy of the paper's retention-quality judge, 0-10",
    )
)
