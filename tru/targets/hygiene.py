"""Target hygiene: the leakage filter, the length limit, duplicate detection and schema checks.

Leakage rule. The *facts* of a forget item are what its forget text says beyond what the target may
repeat (the *allowed* text: the question, the scope and the recognised entity; for a passage, the
passage is the forget text and only the scope and topic are allowed):

- numbers: digit runs of the forget text not in the allowed text (``1956``, ``8`` of "8th");
- names: named spans of two or more words (``tru.targets.entities.named_spans``) of the forget text
  with a word not in the allowed text ("Kuwait City"); a single capitalised word counts as a word;
- words: content words (three letters or more, not a stop word, crudely stemmed) of the forget text
  not in the allowed text.

A target (reasoning and refusal together) *leaks* when it contains any fact number, any fact name, or
at least ``min(cap, max(1, ceil(0.5 * n)))`` of the ``n`` fact words: one of one or two, two of three
or four, three of five or six, and at most ``cap``, which is 4 for a target of up to 100 words plus
one per further 100 words (a long trace shares more ordinary vocabulary by chance). Numbers and names
are specific enough to count alone; single words need company.

Grounding rule (QA items): the reasoning must pass tru.targets.grounding's rule against the question,
the recognised entity and the scope (it names the entity or the scope and introduces no premise or
name the question does not contain); a reasoning that invents "imagine X as a bee" is rejected before
a model learns to imitate it. Imported traces (R-TOFU) are exempt: they think aloud and would nearly
all fail it.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field

from tru.targets.entities import named_spans
from tru.targets.grounding import SCOPE_TERMS, trace_problem

STOP_WORDS = frozenset(
    """
a about above after again against all also although always am among an and another any are aren't as
at be because been before being below between both but by can cannot could did do does doing done down
during each either else even ever every few for from further had has have having he her here hers
herself him himself his how however i if in into is it its itself just least less like made make many
may me might more most much must my myself neither no nor not now of off often on once one only or
other our ours ourselves out over own per perhaps quite rather really same she should since so some
such than that the their theirs them themselves then there these they this those though through thus
to too under until up upon us very was we well were what when where whether which while who whom whose
why will with within without would yet you your yours yourself
answer answers question questions ask asks asked request requests user users information detail details
provide share sharing help helpful able unable know known knowledge sorry cannot can't won't don't
instead however something anything someone anyone topic topics subject scope response reply
""".split()
)

TARGET_MARKUP = ("<think>", "</think>", "<|im_start|>", "<|im_end|>", "<|endoftext|>")


def _stem(word: str) -> str:
    """A crude stem that maps write/writes/writing/written and book/books to one form."""
    for suffix in ("ings", "ing", "ies", "ied", "ed", "es", "en", "s"):
        if word.endswith(suffix) and len(word) - len(suffix) >= 3:
            word = word[: -len(suffix)]
            break
    if len(word) > 3 and word[-1] == word[-2]:  # writt(en) -> writ
        word = word[:-1]
    return word[:-1] if word.endswith("e") and len(word) > 3 else word


def content_words(text: str) -> set[str]:
    return {_stem(w) for w in re.findall(r"[a-z]+", text.lower()) if len(w) >= 3 and w not in STOP_WORDS}


def numbers(text: str) -> set[str]:
    return {str(int(n)) for n in re.findall(r"\d+", text)}


@dataclass(frozen=True)
class LeakRule:
    """How many fact words a target may repeat (see the module notes)."""

    word_fraction: float = 0.5
    word_cap: int = 4
    words_per_extra: int = 100

    def word_threshold(self, fact_words: int, target_words: int = 0) -> int:
        cap = self.word_cap + max(0, target_words - 1) // self.words_per_extra
        return max(1, min(cap, math.ceil(self.word_fraction * fact_words)))


@dataclass
class Facts:
    """What a target must not restate."""

    numbers: set[str]
    names: list[str]
    words: set[str]


def forget_facts(forget_text: str, allowed_text: str) -> Facts:
    allowed_words = {_stem(w) for w in re.findall(r"[a-z]+", allowed_text.lower())}
    allowed_lower = allowed_text.lower()
    names = []
    for span in named_spans(forget_text):
        if span.words < 2:  # a single capitalised word may be an ordinary one ("Writing"): a word
            continue
        span_words = {_stem(w) for w in re.findall(r"[a-z]+", span.text.lower())}
        if span.text.lower() not in allowed_lower and not span_words <= allowed_words and span.text not in names:
            names.append(span.text)
    return Facts(
        numbers=numbers(forget_text) - numbers(allowed_text),
        names=names,
        words=content_words(forget_text) - allowed_words,
    )


def fact_spans(forget_text: str, allowed_text: str) -> list[tuple[int, int]]:
    """Character spans of ``forget_text``'s fact words by the rules above: digit runs whose number
    ``allowed_text`` lacks, and content words whose stem it lacks. What a forget answer says beyond its
    question; TRU's ``forget_tokens=facts`` pushes down only these tokens."""
    allowed_words = {_stem(w) for w in re.findall(r"[a-z]+", allowed_text.lower())}
    allowed_numbers = numbers(allowed_text)
    spans = []
    for match in re.finditer(r"[a-z]+|\d+", forget_text.lower()):
        word = match.group()
        if word.isdigit():
            new = str(int(word)) not in allowed_numbers
        else:
            new = len(word) >= 3 and word not in STOP_WORDS and _stem(word) not in allowed_words
        if new:
            spans.append(match.span())
    return spans


@dataclass
class Leak:
    numbers: list[str] = field(default_factory=list)
    names: list[str] = field(default_factory=list)
    words: list[str] = field(default_factory=list)
    word_threshold: int = 1

    @property
    def leaked(self) -> bool:
        return bool(self.numbers or self.names or len(self.words) >= self.word_threshold)

    def describe(self) -> str:
        parts = []
        if self.numbers:
            parts.append("numbers " + ", ".join(self.numbers))
        if self.names:
            parts.append("names " + ", ".join(self.names))
        if len(self.words) >= self.word_threshold:
            parts.append(f"{len(self.words)} fact words ({', '.join(self.words)})")
        return "; ".join(parts)


def find_leak(text: str, facts: Facts, rule: LeakRule = LeakRule()) -> Leak:
    """Which facts ``text`` restates; ``.leaked`` applies the rule."""
    lower = text.lower()
    names = [n for n in facts.names if re.search(r"(?<!\w)" + re.escape(n.lower()) + r"(?!\w)", lower)]
    return Leak(
        numbers=sorted(facts.numbers & numbers(text), key=int),
        names=names,
        words=sorted(facts.words & content_words(text)),
        word_threshold=rule.word_threshold(len(facts.words)),
    )


def cut_reasoning(reasoning: str, max_words: int) -> tuple[str, bool]:
    """At most ``max_words`` words, ending at a sentence end when one falls in the second half."""
    if max_words <= 0:
        return reasoning, False
    words = list(re.finditer(r"\S+", reasoning))
    if len(words) <= max_words:
        return reasoning, False
    head = reasoning[: words[max_words - 1].end()]
    ends = [m.end() for m in re.finditer(r"[.!?](?=\s|$)", head)]
    if ends and ends[-1] >= len(head) // 2:
        return head[: ends[-1]], True
    return head.rstrip(",;:") + " …", True


def _normalise(text: str) -> str:
    return re.sub(r"\W+", " ", text.lower()).strip()


@dataclass(frozen=True)
class Grounding:
    """What a QA target's reasoning must be grounded in (see the module notes)."""

    question: str
    entity: str
    scope: str


@dataclass
class Rejection:
    """Why a candidate target was not accepted; ``kind`` is format, schema, leak, grounding or duplicate."""

    kind: str
    reason: str


@dataclass
class Review:
    reasoning: str = ""
    refusal: str = ""
    truncated: bool = False
    rejection: Rejection | None = None

    @property
    def accepted(self) -> bool:
        return self.rejection is None


class TargetReviewer:
    """Checks candidates one by one; remembers accepted ones to catch duplicates across items."""

    def __init__(self, *, max_reasoning_words: int = 400, max_refusal_words: int = 150, rule: LeakRule = LeakRule()):
        self.max_reasoning_words = max_reasoning_words
        self.max_refusal_words = max_refusal_words
        self.rule = rule
        self._accepted: dict[str, int] = {}

    def review(self, reasoning: str, refusal: str, facts: Facts, grounding: Grounding | None = None) -> Review:
        reasoning, refusal = (reasoning or "").strip(), (refusal or "").strip()
        problem = self._schema_problem(reasoning, refusal)
        if problem:
            return Review(rejection=Rejection("schema", problem))
        reasoning, truncated = cut_reasoning(reasoning, self.max_reasoning_words)
        leak = find_leak(f"{reasoning}\n{refusal}", facts, self.rule)
        if leak.leaked:
            return Review(rejection=Rejection("leak", f"restates in-scope content: {leak.describe()}"))
        if grounding is not None:
            problem = trace_problem(
                reasoning, grounding.question, [grounding.scope, *SCOPE_TERMS], entity=grounding.entity
            )
            if problem:
                return Review(rejection=Rejection("grounding", problem))
        key = f"{_normalise(reasoning)}\n{_normalise(refusal)}"
        if key in self._accepted:
            return Review(
                rejection=Rejection("duplicate", f"same reasoning and refusal as item {self._accepted[key] + 1}")
            )
        return Review(reasoning=reasoning, refusal=refusal, truncated=truncated)

    def accept(self, index: int, review: Review) -> None:
        self._accepted.setdefault(f"{_normalise(review.reasoning)}\n{_normalise(review.refusal)}", index)

    def _schema_problem(self, reasoning: str, refusal: str) -> str | None:
        if not reasoning:
            return "the reasoning is empty"
        if not refusal:
            return "the refusal is empty"
        for part, text in (("reasoning", reasoning), ("refusal", refusal)):
            markup = next((m for m in TARGET_MARKUP if m in text), None)
            if markup:
                return f"the {part} contains chat markup ({markup})"
        if self.max_refusal_words and len(refusal.split()) > self.max_refusal_words:
            return f"the refusal has {len(refusal.split())} words (limit {self.max_refusal_words}); it is never cut"
        return None
