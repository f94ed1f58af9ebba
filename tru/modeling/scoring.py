"""Teacher-forced scoring of encoded examples: sequence log-probabilities in batches."""

from __future__ import annotations

from typing import Sequence

import torch

from tru.data.formatting import Encoded
from tru.modeling.collate import StreamCollator
from tru.modeling.log_probs import sequence_log_prob, token_log_probs


@torch.no_grad()
def score_sequences(
    model, examples: Sequence[Encoded], pad_token_id: int, *, batch_size: int = 8, reference_call=None
) -> tuple[list[float], list[int]]:
    """Sequence-summed log-probability of the labelled tokens of each example, and their count.

    ``reference_call`` replaces ``model(...)`` (e.g. a LoRA model with its adapter disabled).
    """
    call = reference_call or model
    was_training = getattr(model, "training", False)
    model.eval()
    device = next(model.parameters()).device
    collate = StreamCollator(pad_token_id)
    totals: list[float] = []
    counts: list[int] = []
    try:
        for start in range(0, len(examples), batch_size):
            chunk = [{"input_ids": e.input_ids, "labels": e.labels} for e in examples[start : start + batch_size]]
            batch = {k: v.to(device) for k, v in collate.pad(chunk).items()}
            logits = call(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"], use_cache=False).logits
            seq, n = sequence_log_prob(*token_log_probs(logits, batch["labels"]))
            totals.extend(seq.tolist())
            counts.extend(int(x) for x in n.tolist())
    finally:
        model.train(was_training)
    return totals, counts


def mean_nll(model, examples: Sequence[Encoded], pad_token_id: int, *, batch_size: int = 8) -> float:
    """Average over examples of the per-token NLL of each example's labelled tokens."""
    totals, counts = score_sequences(model, examples, pad_token_id, batch_size=batch_size)
    per_item = [-t / max(c, 1) for t, c in zip(totals, counts)]
    return sum(per_item) / max(len(per_item), 1)
