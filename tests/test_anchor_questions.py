"""The hand-written anchors and their reference answers: sizes, form, two disjoint sides, and no evaluation
control among them."""

from __future__ import annotations

import json
import re
import unicodedata
from pathlib import Path

import pytest

from tru.data.anchors import TRAINING_ANCHORS, TUNING_ANCHORS
from tru.data.config import SynthConfig
from tru.data.synth import AWARDS, CITIES, FIRST, LAST, REAL_AUTHORS, TITLES, WORLD_FACTS, synth_benchmark

TOFU = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "tofu"
ALL_ANCHORS = TRAINING_ANCHORS + TUNING_ANCHORS
QUESTIONS = [q for q, _ in ALL_ANCHORS]
ANSWERS = [a for _, a in ALL_ANCHORS]
TEXTS = QUESTIONS + ANSWERS  # what the overlap checks cover

# capitalised words that never start a name ("Which Nigerian author", "The Great Barrier Reef")
COMMON = {"a", "an", "the", "what", "who", "whom", "whose", "which", "where", "when", "why", "how", "in", "on"}
COMMON |= {"at", "of", "for", "from", "to", "by", "with", "and", "or", "is", "was", "were", "did", "does"}
PARTICLES = {"of", "the", "de", "da", "del", "di", "van", "von", "la", "le", "du", "al", "wa"}
QUOTES = "'\"‘’“”"
QUOTED = re.compile(r"(?<!\w)['\"‘“](.+?)['\"’”](?!\w)")


def _fold(text: str) -> str:
    """Lower case, no accents, initials spaced out ("C.S." -> "c s"), no other punctuation."""
    text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode().lower()
    return " ".join(re.sub(r"[^\w\s'-]", " ", text.replace(".", ". ")).split())


def _names(text: str) -> set[tuple[str, ...]]:
    """Runs of two or more capitalised words (joined by particles such as "of", "de"), cut at punctuation,
    quotes and the end of a sentence; a possessive 's is dropped."""
    out: set[tuple[str, ...]] = set()
    run: list[str] = []

    def close() -> None:
        while run and run[-1].lower() in PARTICLES:
            run.pop()
        if sum(word[0].isupper() for word in run) >= 2:
            out.add(tuple(_fold(" ".join(run)).split()))
        run.clear()

    for raw in text.replace(".", ". ").split():
        if raw[0] in QUOTES:
            close()
        word = re.sub(r"['’]s$", "", raw.strip(QUOTES + "()[],;:?!"))
        if word and word[0].isupper() and (run or word.lower() not in COMMON):
            run.append(word)
        elif word and run and word.lower() in PARTICLES:
            run.append(word)
        else:
            close()
        # a comma, a closing quote or a sentence's full stop (not an initial's: "C. S.", "U. S.") ends a name
        if raw[-1] in QUOTES + ",;:?!" or (raw.endswith(".") and len(word.strip(".")) > 2):
            close()
    close()
    return out


def key_phrases(text: str) -> set[tuple[str, ...]]:
    """What a text is about, as token tuples: its quoted titles (without a leading article) and its names."""
    titles = set()
    for title in QUOTED.findall(text):
        words = _fold(title).split()
        titles.add(tuple(words[1:] if len(words) > 1 and words[0] in ("the", "a", "an") else words))
    return titles | _names(text)


def _within(short: tuple[str, ...], long: tuple[str, ...]) -> bool:
    return any(long[i : i + len(short)] == short for i in range(len(long) - len(short) + 1))


def shared_phrases(text: str, others: set[tuple[str, ...]]) -> set[str]:
    """The key phrases of ``text`` that equal, or lie inside or around, one of ``others``."""
    return {
        " ".join(mine) for mine in key_phrases(text) for other in others if _within(mine, other) or _within(other, mine)
    }


def _normal(question: str) -> str:
    return " ".join(re.sub(r"[^\w\s]", " ", question.casefold()).split())


def test_the_overlap_rule_finds_titles_and_names():
    assert key_phrases("Which Nigerian author wrote 'Things Fall Apart'?") == {("things", "fall", "apart")}
    assert ("statue", "of", "liberty") in key_phrases("Which country gifted the Statue of Liberty to the US?")
    assert ("c", "s", "lewis") in key_phrases("The writer of 'The Chronicles of Narnia', C.S. Lewis, was born where?")
    tofu = key_phrases("Who is the writer of 'One Hundred Years of Solitude'?") | key_phrases("Leo Tolstoy")
    assert shared_phrases("In which country was Leo Tolstoy born?", tofu) == {"leo tolstoy"}
    assert shared_phrases("When was 'One Hundred Years of Solitude' published?", tofu)
    assert not shared_phrases("Who wrote 'The Jungle Book'?", tofu)
    # an answer's title and names, a full stop after them included
    answer = "'Treasure Island' was written by Robert Louis Stevenson."
    assert key_phrases(answer) == {("treasure", "island"), ("robert", "louis", "stevenson")}
    assert shared_phrases("Leo Tolstoy wrote 'War and Peace'.", tofu) == {"leo tolstoy"}


def test_sizes_and_no_duplicates_within_or_across_sides():
    assert len(TRAINING_ANCHORS) == 60 and len(TUNING_ANCHORS) == 40
    for side, anchors in (("training", TRAINING_ANCHORS), ("tuning", TUNING_ANCHORS)):
        normal = [_normal(q) for q, _ in anchors]
        assert len(set(normal)) == len(normal), f"duplicate {side} anchors"
    assert not {_normal(q) for q, _ in TRAINING_ANCHORS} & {_normal(q) for q, _ in TUNING_ANCHORS}


def test_every_entry_is_a_question_and_its_answer():
    for anchor in ALL_ANCHORS:
        assert isinstance(anchor, tuple) and len(anchor) == 2, anchor
    for question in QUESTIONS:
        assert isinstance(question, str) and question == question.strip(), question
        assert question.endswith("?") and question.count("?") == 1 and question[0].isupper(), question
        assert "\n" not in question and len(question) <= 150, question


def test_every_answer_is_a_single_sentence():
    for question, answer in ALL_ANCHORS:
        assert isinstance(answer, str) and answer and answer == answer.strip(), question
        assert answer.endswith(".") and "?" not in answer, answer
        assert answer[0].isupper() or answer[0] in QUOTES, answer
        # one sentence: no sentence end inside it (initials such as "J. M." and "L. Frank" are no end)
        assert not re.search(r"\w{2}[.!]\s", answer), answer
        assert "\n" not in answer and len(answer) <= 150, answer
        assert _normal(answer) != _normal(question), answer


def test_the_sides_ask_about_different_titles_and_names():
    tuning = set().union(*(key_phrases(text) for anchor in TUNING_ANCHORS for text in anchor))
    shared = {text: shared_phrases(text, tuning) for anchor in TRAINING_ANCHORS for text in anchor}
    assert not {q: s for q, s in shared.items() if s}


def test_no_overlap_with_the_synthetic_benchmark():
    data = synth_benchmark(SynthConfig().entities)
    questions = {
        _normal(text)
        for split in ("forget", "holdout", "retain", "world_facts", "real_authors")
        for record in data[split]
        for text in (record["question"], record.get("paraphrased_question", ""))
        if text
    }
    assert not {q for q in QUESTIONS if _normal(q) in questions}
    # its real-world controls: no shared title or name between an anchor's question or answer and a control's
    # question, answer or wrong answer
    controls = set().union(
        *(key_phrases(text) for q, a, wrong in WORLD_FACTS + REAL_AUTHORS for text in (q, a, *wrong))
    )
    assert not {t: s for t in TEXTS if (s := shared_phrases(t, controls))}
    # its fictitious people, places, titles and awards are never mentioned
    fictitious = {_fold(x) for x in (*FIRST, *LAST, *CITIES, *TITLES, *AWARDS)}
    for text in TEXTS:
        words = f" {_fold(text)} "
        assert not {x for x in fictitious if f" {x} " in words}, text


def test_no_overlap_with_tofu_real_authors_and_world_facts():
    if not TOFU.is_dir():
        pytest.skip(f"no TOFU data at {TOFU}")
    controls: set[tuple[str, ...]] = set()
    for split in ("real_authors", "world_facts"):
        lines = (TOFU / f"{split}.jsonl").read_text(encoding="utf-8").splitlines()
        records = [json.loads(line) for line in lines if line.strip()]
        assert records, f"empty {split}.jsonl"
        # the question and every answer and option of the record
        controls |= set().union(*(key_phrases(v) for r in records for v in r.values() if isinstance(v, str)))
    assert ("moby-dick",) in controls and ("leo", "tolstoy") in controls  # the rule reads this data
    assert not {t: s for t in TEXTS if (s := shared_phrases(t, controls))}
