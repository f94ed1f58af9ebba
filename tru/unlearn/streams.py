"""The multi-stream dataset: one forget item per index plus the other streams (batched by
StreamCollator, tru/modeling/collate.py).

Each index is a forget item. A retain item, a reasoning target and an "I don't know" refusal are
attached to it, drawn from a generator seeded by (seed, epoch, index): the same on every process
and every rerun, different across epochs. Targets can instead be paired with their forget item.
With an augmentation (tru.unlearn.augment), a drawn target or retain example is sometimes one of its
other wordings, from the same seeded generator. With anchors (tru.unlearn.anchors), a retain draw is,
with probability ``anchor_share``, an anchor question with its answer instead; the retain
items keep the rest of the draws, however many anchors there are.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Sequence

import torch

from tru.core.errors import ConfigError
from tru.data.formatting import ChatFormatter, Encoded, encode_item
from tru.data.records import Passage, QAItem, ReasoningTarget
from tru.unlearn.augment import Augmentation
from tru.unlearn.forget_tokens import FORGET_TOKENS

DEFAULT_REFUSALS = (
    "I'm not able to help with that.",
    "I don't have information on that topic.",
    "That's not something I can answer.",
)


def _item_prompt(item: QAItem | Passage) -> str:
    return item.question if isinstance(item, QAItem) else item.text


@dataclass
class StreamSources:
    """Raw records for every stream a recipe may ask for."""

    forget: Sequence[QAItem | Passage]
    retain: Sequence[QAItem | Passage] = ()
    targets: Sequence[ReasoningTarget] = ()
    refusals: Sequence[str] = field(default_factory=lambda: list(DEFAULT_REFUSALS))
    anchors: Sequence[QAItem] = ()  # self-answered out-of-scope questions (tru.unlearn.anchors)


class UnlearnDataset(torch.utils.data.Dataset):
    def __init__(
        self,
        sources: StreamSources,
        formatter: ChatFormatter,
        streams: Sequence[str],
        *,
        seed: int = 0,
        target_sampling: str = "random",
        fixed_refusals: bool = False,
        augmentation: Augmentation | None = None,
        anchor_share: float = 0.0,
        forget_tokens: str = "answer",
    ):
        if not sources.forget:
            raise ConfigError("the forget set is empty; give at least one forget item")
        if forget_tokens not in FORGET_TOKENS:
            raise ConfigError(f"unknown forget_tokens '{forget_tokens}'; choose one of {', '.join(FORGET_TOKENS)}")
        if target_sampling not in ("random", "paired"):
            raise ConfigError(f"unknown target sampling '{target_sampling}'; choose random or paired")
        needs = {"retain": sources.retain, "target": sources.targets, "idk": sources.refusals}
        for stream in streams:
            if stream in needs and not needs[stream]:
                raise ConfigError(
                    f"this method needs a non-empty '{stream}' stream; "
                    + {"retain": "give --retain", "target": "give --targets", "idk": "give --refusals"}[stream]
                )
        if target_sampling == "paired" and "target" in streams and len(sources.targets) != len(sources.forget):
            raise ConfigError("paired target sampling needs exactly one target per forget item")
        self.sources = sources
        self.formatter = formatter
        self.streams = tuple(streams)
        self.seed = seed
        self.epoch = 0
        self.target_sampling = target_sampling
        self.fixed_refusals = fixed_refusals
        self.reference: dict[str, list[float]] = {}
        self._forget = [FORGET_TOKENS[forget_tokens](formatter, item) for item in sources.forget]
        self._retain = [encode_item(formatter, item) for item in sources.retain] if "retain" in streams else []
        self._targets = (
            [formatter.target(t.question, t.reasoning, t.refusal) for t in sources.targets]
            if "target" in streams
            else []
        )
        self.augmentation = augmentation
        self._anchors = [encode_item(formatter, item) for item in sources.anchors] if "retain" in streams else []
        self.anchor_share = anchor_share if self._anchors else 0.0
        self._variants: dict[tuple[str, int], list[Encoded]] = {}  # encoded on first draw

    def _variant_encodings(self, stream: str, index: int) -> list[Encoded]:
        """The other wordings of target ``index`` (its forget item's, with the same reasoning and
        refusal) or of retain item ``index`` (with its answer)."""
        key = (stream, index)
        if key not in self._variants:
            aug = self.augmentation
            if stream == "target":
                target = self.sources.targets[index]
                self._variants[key] = [
                    self.formatter.target(q, target.reasoning, target.refusal)
                    for q in aug.questions(self.sources.forget[index])
                ]
            else:
                self._variants[key] = [self.formatter.qa(q, a) for q, a in aug.qa_pairs(self.sources.retain[index])]
        return self._variants[key]

    def _maybe_variant(self, stream: str, index: int, original: Encoded, rng: random.Random) -> Encoded:
        if self.augmentation is None:
            return original
        variants = self._variant_encodings(stream, index)
        if variants and rng.random() < self.augmentation.share:
            return variants[rng.randrange(len(variants))]
        return original

    def __len__(self) -> int:
        return len(self._forget)

    def lengths(self) -> list[int]:
        """Tokens of each forget item, for length-grouped batching."""
        return [len(encoded) for encoded in self._forget]

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def _rng(self, index: int, *, per_epoch: bool = True) -> random.Random:
        return random.Random(f"{self.seed}/{self.epoch if per_epoch else 0}/{index}")

    def refusal_for(self, index: int) -> Encoded:
        rng = self._rng(index, per_epoch=not self.fixed_refusals)
        refusal = rng.choice(list(self.sources.refusals))
        return self.formatter.qa(_item_prompt(self.sources.forget[index]), refusal)

    def stream_example(self, stream: str, index: int) -> Encoded:
        rng = self._rng(index)
        if stream == "forget":
            return self._forget[index]
        if stream == "retain":
            if self.anchor_share and rng.random() < self.anchor_share:
                return self._anchors[rng.randrange(len(self._anchors))]
            pick = rng.randrange(len(self._retain))
            return self._maybe_variant("retain", pick, self._retain[pick], rng)
        if stream == "target":
            if self.target_sampling == "paired":
                pick = index
            else:
                rng.random()  # keep the target draw independent of the retain draw
                pick = rng.randrange(len(self._targets))
            return self._maybe_variant("target", pick, self._targets[pick], rng)
        if stream == "idk":
            return self.refusal_for(index)
        raise ConfigError(f"unknown stream '{stream}'")

    def __getitem__(self, index: int) -> dict:
        out = {}
        for stream in self.streams:
            encoded = self.stream_example(stream, index)
            entry = {"input_ids": encoded.input_ids, "labels": encoded.labels}
            if stream in self.reference:
                entry["ref_seq_logp"] = self.reference[stream][index]
            out[stream] = entry
        return out
