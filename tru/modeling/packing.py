"""Packing every stream of a step into one unpadded row, so the whole step is one forward pass.

The collator (on the host, before the step) lays the real tokens of every sequence of every stream
end to end, with position ids restarting at each sequence. Sequences that begin with the same tokens
share them: a prefix is laid once, and each later sequence that starts with it continues from that
copy (every chat-formatted sequence starts with the same system prompt; a forget item and its target
or refusal share the question). Causal attention makes a prefix's hidden states depend on the prefix
alone, so the values are those of a pass per sequence, and the shared tokens' contributions to the
parameter gradients are summed as they would be; the row just holds fewer tokens to compute.

A sequence's *path* is the row position of each of its tokens (shared ones first). For each stream
the packing records which row positions carry a loss:

- ``keep``: positions whose *next* token is a label (where a next-token log-probability is needed;
  the vocabulary projection runs only there; a shared position can appear once per sequence),
- ``targets``: those labels,
- ``answer``: positions that are themselves labelled (hidden-state losses such as RMU),
- ``alone``: the stream packed on its own (``input_ids``, ``position_ids``, ``attention``, ``keep``,
  ``answer``) for a frozen reference's pass over that stream only.

``attention`` is the plan that the packed attention (tru.modeling.packed_attention) follows so that
each sequence attends only along its own path: index tensors built here, on the host, so that the
step itself copies nothing to the device. Orders follow the padded tensors row-major, so per-token
values scatter back into [B, T-1] with the stream's label mask.
"""

from __future__ import annotations

from typing import Sequence

import torch

from tru.data.formatting import IGNORE_INDEX

# a bucket's padded attention (rows x width^2) stays within this factor of its sequences' own (length^2 each)
PADDING_BOUND = 1.2


def _length_groups(lengths: list[int]) -> list[list[int]]:
    """Sequence indices, longest first, grouped so that each group padded to its longest member
    stays within PADDING_BOUND times the attention its sequences need. Causal attention costs about
    a length squared, and a right-padded slot is a query at the row's end, the dearest kind: bounding
    padded tokens instead let a short answer ride in a bucket of long reasoning traces (many times its
    own attention) and cost the benchmark's TRU step more attention kernel time than this bound
    (BENCHMARKS.md, throughput section, "after attention buckets bounded by padded attention")."""
    groups, current = [], []
    for i in sorted(range(len(lengths)), key=lambda i: -lengths[i]):
        if current and (len(current) + 1) * lengths[current[0]] ** 2 > PADDING_BOUND * (
            sum(lengths[j] ** 2 for j in current) + lengths[i] ** 2
        ):
            groups.append(current)
            current = []
        current.append(i)
    return groups + [current] if current else groups


def attention_plan(paths: Sequence[Sequence[int]], owned_from: Sequence[int]) -> dict:
    """Index tensors that regroup packed sequences into right-padded attention batches and back.

    ``paths[i]`` lists the row positions of sequence i's tokens; its tokens from ``owned_from[i]`` on
    are its own, the others belong to an earlier sequence that computes them. A sequence with no own
    tokens needs no attention. The buckets' padded slots are numbered end to end. Per bucket:
    ``shapes`` (rows, width) and ``gather``, padded slot -> token (padding reads token 0, whose
    values then reach no real output). Over all buckets: ``first_slot`` token -> its first slot;
    ``repeat_tokens``/``repeat_slots``, the further slots of tokens that appear in more than one row
    (a shared prefix), whose gradients are added; ``token_slot`` token -> its owner's slot, for the
    output; and ``slot_token`` slot -> token (padding and unowned copies -> the zero row past the slots).
    """
    total = 1 + max((p for path in paths for p in path), default=-1)
    attending = [i for i, path in enumerate(paths) if owned_from[i] < len(path)]
    shapes, gathers, repeats = [], [], []
    first_slot, token_slot, slot_token = [None] * total, [0] * total, []
    for group in _length_groups([len(paths[i]) for i in attending]):
        members = [attending[g] for g in group]
        width, offset = len(paths[members[0]]), len(slot_token)
        gather = [0] * (len(members) * width)
        slot_token += [total] * len(gather)
        for row, i in enumerate(members):
            for t, token in enumerate(paths[i]):
                slot = offset + row * width + t
                gather[slot - offset] = token
                if first_slot[token] is None:
                    first_slot[token] = slot
                else:
                    repeats.append((token, slot))
                if t >= owned_from[i]:
                    token_slot[token], slot_token[slot] = slot, token
        shapes.append((len(members), width))
        gathers.append(_indices(gather))
    if None in first_slot:
        raise ValueError(f"row position {first_slot.index(None)} lies on no sequence's path")
    return {
        "shapes": tuple(shapes),
        "gather": gathers,
        "first_slot": _indices(first_slot),
        "repeat_tokens": _indices([token for token, _ in repeats]),
        "repeat_slots": _indices([slot for _, slot in repeats]),
        "token_slot": _indices(token_slot),
        "slot_token": _indices(slot_token),
    }


def _indices(values: list[int]) -> torch.Tensor:
    return torch.tensor(values, dtype=torch.long)


def _common_prefix(a: list[int], b: list[int]) -> int:
    n = 0
    for x, y in zip(a, b):
        if x != y:
            break
        n += 1
    return n


class PackedRow:
    """Sequences laid into one row in order, each continuing from the longest prefix it has in common
    with an earlier one (none with ``share_prefixes`` off): ``ids`` and ``positions`` of the row,
    and per sequence its ``path`` (row position of each token) and ``owned_from`` (its first token
    not shared)."""

    def __init__(self, sequences: list[tuple[list[int], list[int]]], share_prefixes: bool):
        self.sequences = sequences
        self.ids, self.positions, self.paths, self.owned_from = [], [], [], []
        for ids, _ in sequences:
            shared, source = 0, None
            for j, (earlier, _) in enumerate(sequences[: len(self.paths)] if share_prefixes else ()):
                n = _common_prefix(ids, earlier)
                if n > shared:
                    shared, source = n, j
            start = len(self.ids)
            prefix = self.paths[source][:shared] if source is not None else []
            self.paths.append(prefix + list(range(start, start + len(ids) - shared)))
            self.owned_from.append(shared)
            self.ids += ids[shared:]
            self.positions += range(shared, len(ids))

    def loss_positions(self, indices: range) -> dict:
        """``keep``, ``targets`` and ``answer`` of the given sequences, in their order."""
        keep, targets, answer = [], [], []
        for i in indices:
            labels, path = self.sequences[i][1], self.paths[i]
            for t, label in enumerate(labels):
                if label != IGNORE_INDEX:
                    answer.append(path[t])
                    if t > 0:
                        keep.append(path[t - 1])
                        targets.append(label)
        return {"keep": _indices(keep), "targets": _indices(targets), "answer": _indices(answer)}

    def tensors(self) -> dict:
        return {
            "input_ids": _indices(self.ids).unsqueeze(0),
            "position_ids": _indices(self.positions).unsqueeze(0),
            "attention": attention_plan(self.paths, self.owned_from),
        }


def _sequences(data: dict) -> list[tuple[list[int], list[int]]]:
    """(token ids, labels) of each real sequence of a right-padded stream."""
    lengths = data["attention_mask"].sum(-1).tolist()
    return [(data["input_ids"][row, :n].tolist(), data["labels"][row, :n].tolist()) for row, n in enumerate(lengths)]


def pack_streams(batch: dict[str, dict], streams: Sequence[str], *, share_prefixes: bool = True) -> dict:
    """The packed row of the given streams of a padded batch (right padding, from StreamCollator)."""
    per_stream = {stream: _sequences(batch[stream]) for stream in streams}
    row = PackedRow([s for stream in streams for s in per_stream[stream]], share_prefixes)
    tensors = row.tensors()
    packed = {**tensors, "streams": {}}
    first = 0
    for stream, sequences in per_stream.items():
        indices = range(first, first + len(sequences))
        first += len(sequences)
        alone = row if len(per_stream) == 1 else PackedRow(sequences, share_prefixes)
        packed["streams"][stream] = {
            **row.loss_positions(indices),
            "alone": {**(tensors if alone is row else alone.tensors()), **alone.loss_positions(range(len(sequences)))},
        }
    return packed
