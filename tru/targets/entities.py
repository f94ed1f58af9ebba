"""What a forget item is about: the entity of a question, the topic of a passage.

Deliberately simple rules, no NLP model:

- Named spans are runs of capitalised words, joined by name particles ("Al-Kuwaiti", "de", "van",
  "of" between capitals) and cut at punctuation; a possessive ('s) is dropped. A common word ("What",
  "The", "His", ...) never starts a span, nor does a sentence-opening "-ing"/"-ly" word ("Using").
- Question entity: the best named span, scored +2 for a possessive ("Raven Marais's works"), +2 after
  a role word ("author Kalkidan Abera", "written by ..."), -2 after a place preposition ("born in
  Kuwait City", and the "Kuwait" after its comma), +1 for two or more words; ties go to the earliest.
  A span that does not score above 0 (a place) is not taken; then a described person is used ("the
  geology author born in Karachi, Pakistan on 06/30/1975"), then a quoted title, then "this subject".
- Passage topic: the most frequent multi-word named span (ties: earliest), else the most frequent
  single one, else a neutral phrase.

``--entity`` overrides all of this for every item.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass

QUESTION_FALLBACK = "this subject"
PASSAGE_FALLBACK = "this subject"

COMMON_CAPITALISED = {
    "a",
    "an",
    "the",
    "what",
    "who",
    "whom",
    "whose",
    "which",
    "where",
    "when",
    "why",
    "how",
    "is",
    "are",
    "was",
    "were",
    "do",
    "does",
    "did",
    "can",
    "could",
    "would",
    "should",
    "will",
    "has",
    "have",
    "had",
    "in",
    "on",
    "at",
    "of",
    "for",
    "from",
    "to",
    "by",
    "with",
    "as",
    "and",
    "or",
    "but",
    "if",
    "his",
    "her",
    "their",
    "its",
    "this",
    "that",
    "these",
    "those",
    "there",
    "it",
    "he",
    "she",
    "they",
    "we",
    "you",
    "i",
    "my",
    "our",
    "your",
    "some",
    "any",
    "all",
    "after",
    "before",
    "during",
    "since",
    "while",
    "although",
    "despite",
    "apart",
    "besides",
    "please",
    "tell",
    "describe",
    "give",
    "name",
    "list",
    "explain",
    "share",
    "yes",
    "no",
    "mr",
    "mrs",
    "ms",
    "dr",
    "according",
    "also",
    "however",
    "then",
    "here",
    "one",
    "not",
}
PARTICLES = {
    "de",
    "da",
    "del",
    "della",
    "di",
    "van",
    "von",
    "der",
    "den",
    "la",
    "le",
    "du",
    "bin",
    "ibn",
    "al",
    "el",
    "y",
    "of",
}
ROLE_WORDS = {
    "author",
    "writer",
    "novelist",
    "poet",
    "by",
    "named",
    "called",
    "artist",
    "journalist",
    "playwright",
    "scientist",
    "about",
    "person",
    "biographer",
}
PLACE_WORDS = {"in", "at", "from", "near", "to", "into", "across", "around"}

_TOKEN = re.compile(r"[A-Za-z][\w'’+.-]*|[,;:!?()\"“”]|\S")
_QUOTED = re.compile(r"[\"“']([^\"“”']{3,80})[\"”']")
_DESCRIBED = re.compile(
    r"\b(?:the|an?)\s+(?:[\w+-]+\s+){0,3}?(?:author|writer|novelist|poet|person|artist|"
    r"scientist|journalist|playwright|individual)\b[^?!.]*",
    re.IGNORECASE,
)


_POSSESSIVE = re.compile(r"(['’]s|s['’])$")


def _clean(word: str) -> str:
    word = re.sub(r"['’]s$", "", word).rstrip("'’")
    return word.rstrip(".-")


def _is_capitalised(word: str) -> bool:
    return word[:1].isupper() and _clean(word).lower() not in COMMON_CAPITALISED


def _sentence_start(tokens: list[str], index: int) -> bool:
    return index == 0 or tokens[index - 1] in (".", "!", "?", '"', "“")


def _starts_span(tokens: list[str], index: int) -> bool:
    """A capitalised word, unless it opens a sentence as an adverb or gerund ("Using", "Recently")."""
    word = tokens[index]
    if not (word[:1].isalpha() and _is_capitalised(word)):
        return False
    return not (_sentence_start(tokens, index) and word.lower().endswith(("ing", "ly")))


@dataclass
class Span:
    text: str
    start: int  # token index
    words: int
    possessive: bool
    before: str  # the word before the span, lower case
    end: int  # token index after the span


def named_spans(text: str) -> list[Span]:
    """Runs of capitalised words (see the module notes), in order of appearance."""
    tokens = _TOKEN.findall(text)
    spans: list[Span] = []
    i = 0
    while i < len(tokens):
        if not _starts_span(tokens, i):
            i += 1
            continue
        start, words = i, [tokens[i]]
        j = i + 1
        while j < len(tokens):
            token = tokens[j]
            if token[:1].isalpha() and _is_capitalised(token) and not _POSSESSIVE.search(words[-1]):
                words.append(token)
                j += 1
            elif token.lower() in PARTICLES and j + 1 < len(tokens) and _is_capitalised(tokens[j + 1]):
                words.append(token)
                j += 1
            else:
                break
        possessive = bool(_POSSESSIVE.search(words[-1]))
        cleaned = [_clean(w) for w in words]
        before = tokens[start - 1].lower() if start > 0 else ""
        previous = spans[-1] if spans else None
        if before == "," and previous is not None and previous.end == start - 1:
            before = previous.before  # "in Cape Town, South Africa": the second part is a place too
        spans.append(Span(" ".join(w for w in cleaned if w), start, len(cleaned), possessive, before, j))
        i = j
    return [s for s in spans if s.text]


def _score(span: Span) -> int:
    return 2 * span.possessive + 2 * (span.before in ROLE_WORDS) - 2 * (span.before in PLACE_WORDS) + (span.words >= 2)


def question_entity(question: str) -> str:
    """The entity a question asks about (see the module notes for the rule)."""
    spans = [s for s in named_spans(question) if _score(s) > 0]
    if spans:
        return max(spans, key=lambda s: (_score(s), -s.start)).text
    described = _DESCRIBED.search(question)
    if described:
        return described.group(0).strip().rstrip(",;:")
    quoted = _QUOTED.search(question)
    return quoted.group(1).strip() if quoted else QUESTION_FALLBACK


def passage_topic(text: str) -> str:
    """The topic phrase of a passage: its most frequent named span."""
    spans = named_spans(text)
    for wanted in (lambda s: s.words >= 2, lambda s: True):
        chosen = [s for s in spans if wanted(s)]
        if chosen:
            counts = Counter(s.text for s in chosen)
            first = {}
            for s in chosen:
                first.setdefault(s.text, s.start)
            return max(counts, key=lambda t: (counts[t], -first[t]))
    return PASSAGE_FALLBACK


def recognise(text: str, task: str, override: str = "") -> str:
    """The entity (task ``qa``) or topic (task ``passage``) to name in a target."""
    if override:
        return override
    return question_entity(text) if task == "qa" else passage_topic(text)
