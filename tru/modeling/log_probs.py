"""Next-token log-probabilities of a padded batch's labels, and their sum per sequence: what every loss
of tru/unlearn/losses.py, the scoring of tru/modeling/scoring.py and the step context read
(tru/unlearn/losses.py re-exports both, so recipes keep writing ``losses.token_log_probs``)."""

from __future__ import annotations

import torch

from tru.data.formatting import IGNORE_INDEX
from tru.modeling.target_log_probs import widened


def token_log_probs(logits: torch.Tensor, labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-token log-probabilities of the next label and the mask of positions with a label.

    logits: [B, T, V] from the model on input_ids; labels: [B, T] aligned with input_ids.
    Returns (log_probs [B, T-1], mask [B, T-1] as float), float32 (float64 for float64 logits).
    """
    shifted_logits = logits[:, :-1, :].to(widened(logits.dtype))
    shifted_labels = labels[:, 1:]
    mask = shifted_labels.ne(IGNORE_INDEX)
    safe_labels = shifted_labels.masked_fill(~mask, 0)
    log_probs = torch.log_softmax(shifted_logits, dim=-1).gather(-1, safe_labels.unsqueeze(-1)).squeeze(-1)
    return log_probs * mask, mask.float()


def sequence_log_prob(log_probs: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Sequence-summed log-probability of each item and its number of answer tokens."""
    return (log_probs * mask).sum(-1), mask.sum(-1)
