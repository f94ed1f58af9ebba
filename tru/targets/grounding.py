"""Is a reasoning trace grounded in its question? A pure rule shared by target hygiene
(tru.targets.hygiene rejects a target whose reasoning fails it) and by the evaluation of an unlearned
model's reasoning (tru.evaluate.coherence, metric ``trace_grounded``).

The rule (``trace_problem``; ``trace_grounded`` is its boolean), on the reasoning trace, given the
question and the scope terms (phrases that name the unlearning scope: "forget set", "unlearning
scope", "fictitious author"):
1. the trace is not empty;
2. it names the entity or a scope term: the entity is ``entity`` when given, else every named span of
   the question (``tru.targets.entities.named_spans``: runs of capitalised words); the trace names it
   when it contains the whole span or one of its capitalised words of three letters or more, and
   names a scope term when it contains the whole phrase (case-insensitive, whole words);
3. it introduces no premise the question did not contain: none of PREMISE_PATTERNS ("imagine",
   "pretend", "let's say", "suppose", "hypothetically", "what if", "as if", "in a world where", ...)
   occurs in the trace unless it also occurs in the question; and every named span of the trace has
   all its words in the question, the entity, the scope terms or ALWAYS_ALLOWED (language names and
   chat roles). A single capitalised word that opens a sentence ("Since", "Okay") is not taken as a
   name, and of a longer span opening a sentence only the words after the first are judged.

It does not catch a premise introduced without a listed phrase or a capitalised name ("it is a bee
now"), nor a new name written in lower case.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from tru.targets.entities import named_spans

PREMISE_PATTERNS = (
    r"\bimagin(?:e|es|ed|ing)\b",
    r"\bpretend(?:s|ed|ing)?\b",
    r"\blet'?s say\b",
    r"\blet us say\b",
    r"\bsuppos(?:e|ing)\b",
    r"\bhypothetical(?:ly)?\b",
    r"\bwhat if\b",
    r"\bas if\b",
    r"\bin (?:a|an|this) (?:world|story|universe|scenario) where\b",
    r"\brole-?play\b",
    r"\bturn(?:s|ed)? into an?\b",
)
# phrases that name the unlearning scope in a reasoning trace, whatever the run's own scope wording
SCOPE_TERMS = (
    "forget set",
    "unlearning scope",
    "unlearning",
    "scope",
    "fictitious author",
    "fictitious authors",
    "off limits",
)
ALWAYS_ALLOWED = frozenset({"english", "spanish", "russian", "french", "german", "user", "assistant", "ai"})
SENTENCE_OPENERS = frozenset({"", '"', "“", ":", "(", "-"})


def trace_problem(reasoning: str, question: str, scope_terms: Iterable[str] = (), *, entity: str | None = None) -> str:
    """Why ``reasoning`` is not grounded in the question ("" when it is; rules in the module notes)."""
    _check_text(reasoning, "reasoning")
    _check_text(question, "question")
    scope_terms = [t for t in scope_terms if t and t.strip()]
    if not reasoning.strip():
        return "the reasoning is empty"
    entities = [entity] if entity else [span.text for span in named_spans(question)]
    if not (any(_names_entity(reasoning, e) for e in entities) or any(_contains(reasoning, t) for t in scope_terms)):
        wanted = ", ".join(repr(x) for x in [*entities, *scope_terms]) or "nothing: no entity or scope term given"
        return f"the reasoning names neither the entity nor a scope term (looked for {wanted})"
    premise = introduced_premise(reasoning, question)
    if premise:
        return f"the reasoning introduces a premise the question does not contain: {premise!r}"
    allowed = _words_of(" ".join([question, entity or "", *scope_terms])) | ALWAYS_ALLOWED
    stranger = new_name(reasoning, allowed)
    if stranger:
        return f"the reasoning names something the question does not: {stranger!r}"
    return ""


def trace_grounded(
    reasoning: str, question: str, scope_terms: Iterable[str] = (), *, entity: str | None = None
) -> bool:
    return trace_problem(reasoning, question, scope_terms, entity=entity) == ""


def introduced_premise(reasoning: str, question: str) -> str | None:
    """The first PREMISE_PATTERNS phrase in ``reasoning`` that ``question`` does not also contain."""
    for pattern in PREMISE_PATTERNS:
        match = re.search(pattern, reasoning, re.IGNORECASE)
        if match and not re.search(pattern, question, re.IGNORECASE):
            return match.group(0)
    return None


def new_name(reasoning: str, allowed_words: set[str]) -> str | None:
    """The first named span of ``reasoning`` with a word outside ``allowed_words`` (lower case),
    skipping the first word of a span that opens a sentence."""
    for sentence in _sentences(reasoning):
        for span in named_spans(sentence):
            words = span.text.split()
            if span.before in SENTENCE_OPENERS:
                words = words[1:]
            if any(_words_of(w) - allowed_words for w in words):
                return " ".join(words)
    return None


def _sentences(text: str) -> list[str]:
    """Cut after . ! ? … followed by a space, and at line breaks."""
    return [s for s in re.split(r"(?<=[.!?…])\s+|\n+", text) if s.strip()]


def _names_entity(reasoning: str, entity: str) -> bool:
    names = [w for w in re.findall(r"[^\W\d_][\w'’-]*", entity) if w[:1].isupper() and len(w) >= 3]
    return _contains(reasoning, entity) or any(_contains(reasoning, w) for w in names)


def _contains(text: str, phrase: str) -> bool:
    return bool(re.search(r"(?<!\w)" + re.escape(phrase.strip()) + r"(?!\w)", text, re.IGNORECASE))


def _words_of(text: str) -> set[str]:
    return {w.lower() for w in re.findall(r"[^\W\d_]+", text)}


def _check_text(value, name: str) -> None:
    if not isinstance(value, str):
        raise ValueError(f"{name} must be a string, got {type(value).__name__}")
