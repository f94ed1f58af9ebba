"""Packing every stream of a step into one unpadded row, so the whole step is one forward pass.

The collator (on the host, before the step) lays the real tokens of every sequence of every stream
end to end, with position ids restarting at each sequence, and records for each stream which packed
positions carry a loss:

- ``keep``: positions whose *next* token is a label (where a next-token log-probability is needed;
  the vocabulary projection runs only there),
- ``targets``: the label at ``keep + 1``,
- ``answer``: positions that are themselves labelled (hidden-state losses such as RMU),
- ``span``: the (start, end) of the stream's part of the row (a reference pass covers only that).

``segments`` are the (start, end) bounds of each sequence, read by the packed attention
(tru.unlearn.packed_attention) so that no sequence attends to another and no padding is computed.
Orders follow the padded tensors row-major, so per-token values scatter back into [B, T-1] with the
stream's label mask.
"""

from __future__ import annotations

from typing import Sequence

import torch

from tru.unlearn.losses import IGNORE_INDEX


def pack_streams(batch: dict[str, dict], streams: Sequence[str]) -> dict:
    """The packed row of the given streams of a padded batch (right padding, from StreamCollator)."""
    input_ids, position_ids, segments = [], [], []
    per_stream = {}
    offset = 0
    for stream in streams:
        data = batch[stream]
        lengths = data["attention_mask"].sum(-1).tolist()
        keep, targets, answer = [], [], []
        start = offset
        for row, length in enumerate(lengths):
            ids = data["input_ids"][row, :length]
            labels = data["labels"][row, :length]
            input_ids.append(ids)
            position_ids.append(torch.arange(length))
            segments.append((offset, offset + length))
            labelled = labels.ne(IGNORE_INDEX)
            next_labelled = labelled[1:].nonzero().squeeze(-1)
            keep.append(next_labelled + offset)
            targets.append(labels[1:][next_labelled])
            answer.append(labelled.nonzero().squeeze(-1) + offset)
            offset += length
        per_stream[stream] = {"keep": torch.cat(keep), "targets": torch.cat(targets), "answer": torch.cat(answer),
                              "span": (start, offset)}
    return {
        "input_ids": torch.cat(input_ids).unsqueeze(0),
        "position_ids": torch.cat(position_ids).unsqueeze(0),
        "segments": tuple(segments),
        "streams": per_stream,
    }


def padding_efficiency(batch: dict[str, dict], streams: Sequence[str]) -> float:
    """Real tokens over padded tokens of the separately padded streams (1.0 means no padding)."""
    real = sum(int(batch[s]["attention_mask"].sum()) for s in streams)
    padded = sum(batch[s]["attention_mask"].numel() for s in streams)
    return real / max(padded, 1)
