"""Training-side query augmentation: other wordings of the questions a step trains on.

A refusal learned on the forget questions' exact wording is a surface pattern: the model refuses
those strings, not the subject, and a rephrased, translated or wrapped question gets through, while
a wrapper seen only around forget questions teaches "refuse when wrapped". So each forget question's
reasoning target is also trained behind other wordings of the same question, and each retain
question, with its true answer, behind the same wordings.

Sources of wordings (``Augmentation.sources``):
- ``wrappers``: the training side of tru.data.wrappers (families disjoint from the jailbreak
  attack's library, which stays for evaluation);
- ``data``: the item's own ``training_queries`` (other wordings, possibly in other languages, that
  the data keeps for training; the synthetic benchmark writes one per language). The evaluation
  side of the data (``paraphrased_question``, ``translations``) is never read here.

A drawn example is one of its variants with probability ``share`` (uniform over the variants),
else the original, from the stream's own seeded generator (tru.unlearn.streams).
"""

from __future__ import annotations

from dataclasses import dataclass

from tru.core.errors import ConfigError
from tru.data.records import Passage, QAItem
from tru.data.wrappers import TRAINING_WRAPPERS

SOURCES = ("wrappers", "data")


@dataclass(frozen=True)
class Augmentation:
    sources: tuple[str, ...]
    share: float = 0.5

    @classmethod
    def parse(cls, spec: str, share: float) -> "Augmentation | None":
        """``"wrappers,data"`` (any subset), or ``"none"``/empty for no augmentation."""
        names = tuple(s.strip() for s in spec.split(",") if s.strip() and s.strip() != "none")
        unknown = [n for n in names if n not in SOURCES]
        if unknown:
            raise ConfigError(f"unknown augmentation source '{unknown[0]}'; choose from {', '.join(SOURCES)} or none")
        if not 0.0 <= share <= 1.0:
            raise ConfigError(f"augment_share must be between 0 and 1, got {share}")
        return cls(names, share) if names and share > 0 else None

    def questions(self, item: QAItem | Passage) -> list[str]:
        """Other wordings of a forget question (to pair with its target); none for a passage."""
        return [q for q, _ in self.qa_pairs(item)]

    def qa_pairs(self, item: QAItem | Passage) -> list[tuple[str, str]]:
        """(question, answer) variants of a QA item, answers in the wording's language."""
        if not isinstance(item, QAItem):
            return []
        pairs: list[tuple[str, str]] = []
        if "data" in self.sources:
            pairs += [(q["question"], q["answer"]) for q in item.training_queries or []]
        if "wrappers" in self.sources:
            pairs += [(w.fill(item.question), item.answer) for w in TRAINING_WRAPPERS]
        return pairs
