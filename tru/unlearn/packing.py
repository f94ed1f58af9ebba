"""Packing every stream of a step into one unpadded row, so the whole step is one forward pass.

The collator (on the host, before the step) lays the real tokens of every sequence of every stream
end to end, with position ids restarting at each sequence, and records for each stream which packed
positions carry a loss:

- ``keep``: positions whose *next* token is a label (where a next-token log-probability is needed;
  the vocabulary projection runs only there),
- ``targets``: the label at ``keep + 1``,
- ``answer``: positions that are themselves labelled (hidden-state losses such as RMU),
- ``span``: the (start, end) of the stream's part of the row, and ``attention`` its own attention
  plan (a reference pass covers only that part).

``attention`` is the plan (from the (start, end) bounds of each sequence) that the packed
attention (tru.unlearn.packed_attention) follows so that no sequence attends to another: index
tensors built here, on the host, so that the step itself copies nothing to the device.
Orders follow the padded tensors row-major, so per-token values scatter back into [B, T-1] with the
stream's label mask.
"""

from __future__ import annotations

from typing import Sequence

import torch

from tru.unlearn.losses import IGNORE_INDEX


PADDING_BOUND = 1.25  # an attention bucket's padded size stays within this factor of its real tokens


def _length_groups(lengths: list[int]) -> list[list[int]]:
    """Sequence indices, longest first, grouped so that each group padded to its longest member
    stays within PADDING_BOUND times its real tokens."""
    groups, current = [], []
    for i in sorted(range(len(lengths)), key=lambda i: -lengths[i]):
        if current and (len(current) + 1) * lengths[current[0]] > PADDING_BOUND * (
                sum(lengths[j] for j in current) + lengths[i]):
            groups.append(current)
            current = []
        current.append(i)
    return groups + [current] if current else groups


def attention_plan(segments: Sequence[tuple[int, int]]) -> dict:
    """Index tensors that regroup packed sequences into right-padded attention batches and back.

    Per bucket: ``shapes`` (rows, width); ``gather`` padded slot -> token (padding reads token 0,
    whose values then reach no real output); ``scatter`` token -> padded slot, or the zero row past
    the bucket for tokens of other buckets. For the output, the buckets' padded results laid end to
    end: ``token_slot`` token -> slot, and ``slot_token`` slot -> token (padding -> the zero row).
    """
    total = segments[-1][1] if segments else 0
    shapes, gathers, scatters, token_slot, slot_token = [], [], [], [0] * total, []
    for group in _length_groups([end - start for start, end in segments]):
        width = segments[group[0]][1] - segments[group[0]][0]
        size, offset = len(group) * width, len(slot_token)
        gather, scatter = [0] * size, [size] * total
        slot_token += [total] * size
        for row, i in enumerate(group):
            for t, token in enumerate(range(*segments[i])):
                slot = row * width + t
                gather[slot], scatter[token] = token, slot
                token_slot[token], slot_token[offset + slot] = offset + slot, token
        shapes.append((len(group), width))
        gathers.append(torch.tensor(gather))
        scatters.append(torch.tensor(scatter))
    return {"shapes": tuple(shapes), "gather": gathers, "scatter": scatters,
            "token_slot": torch.tensor(token_slot), "slot_token": torch.tensor(slot_token)}


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
        local = [(a - start, b - start) for a, b in segments if a >= start]
        per_stream[stream] = {"keep": torch.cat(keep), "targets": torch.cat(targets), "answer": torch.cat(answer),
                              "span": (start, offset), "attention": attention_plan(local)}
    return {
        "input_ids": torch.cat(input_ids).unsqueeze(0),
        "position_ids": torch.cat(position_ids).unsqueeze(0),
        "attention": attention_plan(segments),
        "streams": per_stream,
    }
