"""Batches of encoded examples: each stream padded on its own, and optionally packed into one row."""

from __future__ import annotations

import torch

from tru.data.formatting import IGNORE_INDEX
from tru.modeling.packing import pack_streams


class StreamCollator:
    """Pads each stream of a batch on its own (right padding) and stacks scalar fields; with
    ``pack`` it also lays all streams into one unpadded row for the fused step (tru.modeling.packing),
    where sequences share their common prefixes unless ``share_prefixes`` is off."""

    def __init__(self, pad_token_id: int, *, pack: bool = False, share_prefixes: bool = True):
        self.pad_token_id = pad_token_id
        self.pack = pack
        self.share_prefixes = share_prefixes

    def pad(self, examples: list[dict]) -> dict:
        width = max(len(e["input_ids"]) for e in examples)
        input_ids = torch.full((len(examples), width), self.pad_token_id, dtype=torch.long)
        labels = torch.full((len(examples), width), IGNORE_INDEX, dtype=torch.long)
        attention = torch.zeros((len(examples), width), dtype=torch.long)
        for row, example in enumerate(examples):
            n = len(example["input_ids"])
            input_ids[row, :n] = torch.tensor(example["input_ids"])
            labels[row, :n] = torch.tensor(example["labels"])
            attention[row, :n] = 1
        batch = {"input_ids": input_ids, "labels": labels, "attention_mask": attention}
        for key in examples[0]:
            if key not in batch:
                batch[key] = torch.tensor([e[key] for e in examples], dtype=torch.float32)
        return batch

    def __call__(self, features: list[dict]) -> dict:
        batch = {stream: self.pad([f[stream] for f in features]) for stream in features[0]}
        if self.pack:
            batch["packed"] = pack_streams(batch, list(features[0]), share_prefixes=self.share_prefixes)
        return batch
