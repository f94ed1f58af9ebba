"""Per-step access to forward passes, log-probabilities and normalisers for each stream.

A recipe asks the context for what it needs; each forward pass is run once per step and cached.
"""

from __future__ import annotations

from typing import Callable

import torch

from tru.unlearn import losses

Reducer = Callable[[torch.Tensor], torch.Tensor]


class StepContext:
    def __init__(self, model, batch: dict, *, reference=None, reducer: Reducer | None = None):
        self.model = model
        self.batch = batch
        self.reference = reference
        self.reducer = reducer
        self._outputs: dict[tuple, object] = {}
        self._log_probs: dict[str, tuple[torch.Tensor, torch.Tensor]] = {}

    def inputs(self, stream: str) -> dict:
        data = self.batch[stream]
        return {"input_ids": data["input_ids"], "attention_mask": data["attention_mask"]}

    def labels(self, stream: str) -> torch.Tensor:
        return self.batch[stream]["labels"]

    def outputs(self, stream: str, *, hidden_states: bool = False):
        key = (stream, hidden_states)
        if key not in self._outputs:
            self._outputs[key] = self.model(**self.inputs(stream), output_hidden_states=hidden_states,
                                            use_cache=False)
        return self._outputs[key]

    def reference_outputs(self, stream: str, *, hidden_states: bool = False):
        if self.reference is None:
            raise RuntimeError("this method needs a reference model but none was prepared")
        with torch.no_grad():
            return self.reference(**self.inputs(stream), output_hidden_states=hidden_states)

    def log_probs(self, stream: str) -> tuple[torch.Tensor, torch.Tensor]:
        if stream not in self._log_probs:
            self._log_probs[stream] = losses.token_log_probs(self.outputs(stream).logits, self.labels(stream))
        return self._log_probs[stream]

    def cached_log_probs(self, stream: str) -> tuple[torch.Tensor, torch.Tensor] | None:
        """Log-probabilities already computed this step, or None (never triggers a forward pass)."""
        return self._log_probs.get(stream)

    def sequence(self, stream: str) -> tuple[torch.Tensor, torch.Tensor]:
        return losses.sequence_log_prob(*self.log_probs(stream))

    def reference_sequence(self, stream: str) -> torch.Tensor:
        data = self.batch[stream]
        if "ref_seq_logp" not in data:
            raise RuntimeError(f"reference log-probabilities for stream '{stream}' were not precomputed")
        return data["ref_seq_logp"]

    def normalizer(self, local_count: torch.Tensor) -> torch.Tensor | None:
        return None if self.reducer is None else self.reducer(local_count)

    def token_normalizer(self, stream: str) -> torch.Tensor | None:
        """Global answer-token count of the stream divided by the world size (None on one process)."""
        return self.normalizer(self.labels(stream)[:, 1:].ne(losses.IGNORE_INDEX).sum().float())

    def item_normalizer(self, stream: str) -> torch.Tensor | None:
        return self.normalizer(torch.tensor(float(self.labels(stream).shape[0]),
                                             device=self.labels(stream).device))
