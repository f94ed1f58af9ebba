"""Teacher-forced token statistics of many (prompt, answer) examples in length-sorted batches.

One forward pass per batch yields everything the metrics need: per-token log-probabilities (NLL,
MIA scores), the mean and standard deviation of log p under the model's own next-token
distribution (Min-K%++) and the argmax tokens (extraction strength). The vocabulary-sized
softmax is only taken at answer positions.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import torch

from tru.data.formatting import Encoded
from tru.unlearn.losses import IGNORE_INDEX


@dataclass
class TokenStats:
    log_probs: list[float]
    dist_means: list[float]
    dist_stds: list[float]
    argmax_ids: list[int]
    label_ids: list[int]

    @property
    def nll(self) -> float:
        """Mean per-token negative log-likelihood of the answer."""
        return -sum(self.log_probs) / max(len(self.log_probs), 1)


def _length_sorted_batches(lengths: Sequence[int], batch_size: int) -> list[list[int]]:
    order = sorted(range(len(lengths)), key=lambda i: lengths[i])
    return [order[i:i + batch_size] for i in range(0, len(order), batch_size)]


@torch.no_grad()
def token_stats(model, examples: Sequence[Encoded], pad_token_id: int, *, batch_size: int = 16,
                desc: str = "scoring") -> list[TokenStats]:
    """Statistics of the labelled tokens of each example, in the order given."""
    from tqdm.auto import tqdm

    progress = tqdm(total=len(examples), desc=desc, leave=False, unit="seq")
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    results: list[TokenStats | None] = [None] * len(examples)
    try:
        for batch_indices in _length_sorted_batches([len(e) for e in examples], batch_size):
            width = max(len(examples[i]) for i in batch_indices)
            input_ids = torch.full((len(batch_indices), width), pad_token_id, dtype=torch.long)
            labels = torch.full_like(input_ids, IGNORE_INDEX)
            attention = torch.zeros_like(input_ids)
            for row, index in enumerate(batch_indices):
                n = len(examples[index])
                input_ids[row, :n] = torch.tensor(examples[index].input_ids)
                labels[row, :n] = torch.tensor(examples[index].labels)
                attention[row, :n] = 1
            input_ids, labels, attention = input_ids.to(device), labels.to(device), attention.to(device)
            hidden = model.model(input_ids=input_ids, attention_mask=attention).last_hidden_state \
                if hasattr(model, "model") and hasattr(model, "lm_head") else None
            next_labels = labels[:, 1:]
            positions = next_labels.ne(IGNORE_INDEX)
            if hidden is not None:  # project only the answer positions onto the vocabulary
                logits = model.lm_head(hidden[:, :-1][positions]).float()
            else:
                logits = model(input_ids=input_ids, attention_mask=attention).logits[:, :-1][positions].float()
            log_softmax = torch.log_softmax(logits, dim=-1)
            targets = next_labels[positions]
            token_lp = log_softmax.gather(-1, targets.unsqueeze(-1)).squeeze(-1)
            probs = log_softmax.exp()
            means = (probs * log_softmax).sum(-1)
            stds = ((probs * log_softmax.pow(2)).sum(-1) - means.pow(2)).clamp(min=0).sqrt()
            argmax = logits.argmax(-1)
            counts = positions.sum(-1).tolist()
            start = 0
            for row, index in enumerate(batch_indices):
                end = start + counts[row]
                results[index] = TokenStats(token_lp[start:end].tolist(), means[start:end].tolist(),
                                            stds[start:end].tolist(), argmax[start:end].tolist(),
                                            targets[start:end].tolist())
                start = end
            progress.update(len(batch_indices))
    finally:
        progress.close()
        model.train(was_training)
    return results  # type: ignore[return-value]
