"""Next-token cross-entropy on a packed row: the loss of `tru finetune` and of the relearning attack.

A batch is packed into one unpadded row (the fused unlearning step's packing, shared prefixes laid
once, and its packed attention), and the vocabulary projection runs only where a label is predicted.
The loss is the one transformers computes from ``labels`` (label tokens summed, divided by their
count), so it can stand in for ``model(..., labels=...).loss``.
"""

from __future__ import annotations

import torch

from tru.modeling.collate import StreamCollator
from tru.modeling.context import step_context
from tru.modeling.logits_workspace import LogitsWorkspace
from tru.modeling.packing import pack_streams

STREAM = "train"


class PackingCollator(StreamCollator):
    """The padded batch (whose labels the Trainer counts for the loss normaliser) plus its packed row."""

    def __call__(self, features: list[dict]) -> dict:
        padded = self.pad(features)
        return {"labels": padded["labels"], "packed": pack_streams({STREAM: padded}, [STREAM]), STREAM: padded}


def packed_lm_loss(model, batch: dict, tokens=None, logits_workspace: LogitsWorkspace | None = None) -> torch.Tensor:
    """Summed next-token NLL of a PackingCollator batch's labels over ``tokens`` (default: its own count),
    the logits in ``logits_workspace`` if given (tru.modeling.logits_workspace.workspace_for).
    Run inside ``tru.modeling.packed_attention.packed_attention(model)``."""
    context = step_context(model, {STREAM: batch[STREAM], "packed": batch["packed"]}, logits_workspace=logits_workspace)
    log_probs, mask = context.log_probs(STREAM)
    count = mask.sum() if tokens is None else torch.as_tensor(tokens, device=log_probs.device)
    return -(log_probs * mask).sum() / count.clamp(min=1)
