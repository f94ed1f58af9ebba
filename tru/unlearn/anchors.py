"""Out-of-scope anchors: general questions the model keeps answering while it unlearns.

A refusal trained on forget questions that all share a topic ("about an author") spreads to the topic:
the model starts to refuse questions about real authors too, which no retain set of the forget set's
own kind teaches it to answer. Anchors are general questions of that kind (tru.data.anchors); with
TRU's ``anchors=N`` the first N of the training side are drawn in the retain stream (``anchor_share``
of its draws), so the retain term keeps the model answering questions of the forget set's kind that
lie outside its scope. Their answers (``anchor_answers``) are either the reference answers that
tru.data.anchors keeps (``reference``) or the model's own greedy answers before the first step
(``model``: keeps its behaviour, right or wrong).

The tuning side is never trained on: ``tru unlearn --anchor-checks N`` asks the scope check N of those
questions, measured against their reference answers.

The model's own answers depend only on the starting model and the generation settings, so they are
cached under ``$TRU_CACHE/anchors``, keyed by the model's weights fingerprint (tru.modeling.fingerprint):
a second run from the same model does not generate them again.
"""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path
from typing import Sequence

from tru.core.errors import ConfigError
from tru.core.files import write_jsonl
from tru.data.anchors import TRAINING_ANCHORS, TUNING_ANCHORS
from tru.data.formatting import ChatFormatter
from tru.data.records import QAItem
from tru.modeling.generation import generate_from_ids
from tru.modeling.models import cache_dir

SIDES = {"training": TRAINING_ANCHORS, "tuning": TUNING_ANCHORS}
_SENTENCE_END = re.compile(r"[.!?](?=\s|$)")


ANSWER_SOURCES = ("reference", "model")


def reference_items(side: str, count: int) -> list[QAItem]:
    """The first ``count`` anchors of a side with their reference answers; more than the side holds is an error."""
    pairs = SIDES[side]
    if count > len(pairs):
        raise ConfigError(f"{count} {side} anchors asked for; tru.data.anchors holds {len(pairs)}")
    return [QAItem(question=q, answer=a) for q, a in pairs[:count]]


def anchor_questions(side: str, count: int) -> list[str]:
    """The first ``count`` questions of a side."""
    return [x.question for x in reference_items(side, count)]


def complete_sentences(text: str, truncated: bool) -> str:
    """The answer up to its last finished sentence when generation was cut off (a cut answer, followed by
    the end of the turn in training, would teach the model to stop mid-sentence); "" when none finished."""
    text = text.strip()
    if not truncated:
        return text
    ends = list(_SENTENCE_END.finditer(text))
    return text[: ends[-1].end()] if ends else ""


def self_answered(
    model,
    formatter: ChatFormatter,
    questions: Sequence[str],
    *,
    max_new_tokens: int,
    batch_size: int = 16,
) -> list[QAItem]:
    """The questions with the model's own greedy answers; questions it answers with nothing are left out."""
    prompts = [formatter.prompt_ids(q) for q in questions]
    tokenizer = formatter.tokenizer
    texts = generate_from_ids(
        model, tokenizer, prompts, max_new_tokens=max_new_tokens, batch_size=batch_size, desc="answering anchors"
    )
    items = []
    for question, text in zip(questions, texts):
        length = len(tokenizer(text, add_special_tokens=False)["input_ids"])
        answer = complete_sentences(text, truncated=length >= max_new_tokens)
        if answer:
            items.append(QAItem(question=question, answer=answer))
    return items


def cache_path(fingerprint: str, settings: dict, questions: Sequence[str]) -> Path:
    """Where the answers of one model (its weights fingerprint) to ``questions`` under ``settings`` are kept."""
    key = json.dumps({"model": fingerprint, "settings": settings, "questions": list(questions)}, sort_keys=True)
    return cache_dir() / "anchors" / f"{hashlib.sha256(key.encode()).hexdigest()[:32]}.jsonl"


def _read_cached(path: Path, questions: Sequence[str]) -> list[QAItem] | None:
    """The cached answers, or None when the file is missing, unreadable or not about these questions."""
    try:
        rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
        items = [QAItem(question=r["question"], answer=r["answer"]) for r in rows]
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return items if all(x.question in questions for x in items) else None


def cached_self_answered(
    model, formatter: ChatFormatter, questions: Sequence[str], *, fingerprint: str, settings: dict, max_new_tokens: int
) -> list[QAItem]:
    """``self_answered``, read from the cache when this model has answered these questions before."""
    path = cache_path(fingerprint, {**settings, "max_new_tokens": max_new_tokens}, questions)
    cached = _read_cached(path, questions)
    if cached is not None:
        return cached
    items = self_answered(model, formatter, questions, max_new_tokens=max_new_tokens)
    write_jsonl(path, [{"question": x.question, "answer": x.answer} for x in items])
    return items
