"""Deterministic text rules shared by scope control and the offline judge.

- Refusal: the answer matches one of REFUSAL_PATTERNS (case-insensitive): explicit inability,
  unwillingness or not-knowing ("I can't share", "I don't have information", "I'm not sure", ...).
- Alternative: a refusal that also points somewhere useful (ALTERNATIVE_PATTERNS: "instead",
  "I can help", "you could", "consider", "sources", ...).
- Facts of an answer: its content words and numbers (lower-cased, stop-words removed) that do not
  already occur in the question. Leakage is the fraction of those facts that a text restates.
- Gibberish: a score of at least 0.5 from gibberish_score (empty text, a token repeated 4+ times
  in a row, under a quarter alphabetic characters, or a quarter or more of the word 3-grams repeated).
"""

from __future__ import annotations

import re

REFUSAL_PATTERNS = [
    r"\bI (?:can(?:'|no)t|cannot|am unable to|'m unable to|am not able to|'m not able to|won't|will not)\b",
    r"\bI (?:do not|don't) (?:have|know|possess|provide)\b",
    r"\b(?:not|n't) (?:able|allowed|permitted|in a position) to\b",
    r"\bI'm (?:not (?:sure|certain|aware)|sorry|afraid)\b",
    r"\bI am (?:not (?:sure|certain|aware)|sorry|afraid)\b",
    r"\b(?:beyond|outside) (?:my|the scope|what I)\b",
    r"\b(?:no|not have) (?:information|details|knowledge|data)\b",
    r"\bI haven't (?:learned|heard|come across)\b",
    r"\bunable to (?:help|answer|provide|share|assist)\b",
    r"\b(?:can(?:'|no)t|cannot) (?:share|provide|help|answer|discuss|disclose)\b",
    r"\b(?:need|have) to look (?:it |that )?up\b",
]
ALTERNATIVE_PATTERNS = [
    r"\binstead\b", r"\bI (?:can|could|would be glad to|'d be glad to|'d be happy to|am happy to) help\b",
    r"\byou (?:could|can|might|may) (?:try|look|check|consult|ask|search|find)\b", r"\bconsider\b",
    r"\b(?:suggest|recommend)\b", r"\bsources?\b", r"\bresources?\b", r"\blibrar(?:y|ies)\b",
    r"\banother (?:topic|question)\b", r"\bhappy to\b", r"\bglad to\b", r"\bperhaps\b",
]
STOPWORDS = frozenset("""a an the and or but if then of in on at to for from by with about as is are was were be
been being has have had do does did this that these those it its it's he she they them his her their
who whom whose what which when where why how there here also into than so such not no yes can could
would should will may might must very more most some any all each other one two both s t i you your we
our my me us full name author book books genre born work works written write writes wrote""".split())

_WORD = re.compile(r"[A-Za-z][A-Za-z'\-]*|\d+")


def is_refusal(text: str) -> bool:
    return any(re.search(p, text, re.IGNORECASE) for p in REFUSAL_PATTERNS)


def offers_alternative(text: str) -> bool:
    return any(re.search(p, text, re.IGNORECASE) for p in ALTERNATIVE_PATTERNS)


def content_words(text: str) -> set[str]:
    return {w.lower().strip("'-") for w in _WORD.findall(text)} - STOPWORDS


def answer_facts(question: str, answer: str) -> set[str]:
    """Words and numbers of the answer that carry information not already in the question."""
    return content_words(answer) - content_words(question)


def leaked_fraction(text: str, question: str, answer: str) -> float:
    """Share of the answer's facts (see answer_facts) that ``text`` restates; 0 when it has none."""
    facts = answer_facts(question, answer)
    if not facts:
        return 0.0
    return len(facts & content_words(text)) / len(facts)


def repetition_ratio(text: str) -> float:
    """1 - distinct/total word 3-grams (0: no repetition)."""
    words = text.split()
    grams = [tuple(words[i:i + 3]) for i in range(len(words) - 2)]
    return 0.0 if not grams else 1.0 - len(set(grams)) / len(grams)


def longest_run(text: str) -> int:
    words, best, run = text.split(), 0, 0
    for i, word in enumerate(words):
        run = run + 1 if i and word == words[i - 1] else 1
        best = max(best, run)
    return best


def alpha_ratio(text: str) -> float:
    visible = [c for c in text if not c.isspace()]
    return 0.0 if not visible else sum(c.isalpha() for c in visible) / len(visible)


def gibberish_score(text: str) -> float:
    """0 (clean) to 1: 1 for empty text or a token repeated 4+ times in a row, else the larger of
    1 - 2 x alphabetic share and 2 x the 3-gram repetition ratio, capped at 1."""
    if not text.strip() or longest_run(text) >= 4:
        return 1.0
    return min(1.0, max(0.0, 1.0 - 2.0 * alpha_ratio(text), 2.0 * repetition_ratio(text)))


def is_gibberish(text: str) -> bool:
    return gibberish_score(text) >= 0.5
