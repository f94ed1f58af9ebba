"""WMDP multiple-choice questions and corpus passages (WMDP, MUSE-News) by path."""

from __future__ import annotations

from pathlib import Path

from tru.data.readers import read_records
from tru.data.records import MCQItem, Passage, QAItem


def load_wmdp_mcq(path: str | Path) -> list[MCQItem]:
    """WMDP questions: ``question``, four ``choices`` and the integer ``answer`` index."""
    return read_records(path, MCQItem)


def load_passages(path: str | Path, *, drop_empty: bool = True) -> list[Passage]:
    """Corpus passages with a ``text`` field (MUSE-News forget, WMDP deduplicated corpus).

    Empty passages (MUSE-News has one) carry no signal for training and are dropped by default.
    """
    passages = read_records(path, Passage)
    return [p for p in passages if p.text.strip()] if drop_empty else passages


def load_muse_knowmem(path: str | Path) -> list[QAItem]:
    """MUSE knowledge-memorisation QA (``question``/``answer``)."""
    return read_records(path, QAItem)
