"""Per-step access to log-probabilities, logits and hidden states of each stream.

A recipe asks the context (``StepContext``, the interface) for what it needs and never runs the model
itself, so one recipe works with every way of running a step; ``step_context`` picks the one for a batch:

- ``FusedPassContext`` (default): the collator packed every stream into one unpadded row
  (tru.modeling.packing, prefixes that sequences share laid once); one forward pass serves all
  streams, and the vocabulary projection runs only at positions where a loss reads a next-token
  distribution;
- ``ChunkedLogitsContext`` (``logits_chunk``): the fused pass stops at the final hidden states and the
  output projection runs in chunks that are recomputed in the backward pass
  (tru.modeling.target_log_probs): no [rows, vocabulary] logits stay alive between the forward and the
  backward pass;
- ``LogitsWorkspaceContext`` (a ``logits_workspace``, tru.modeling.logits_workspace): the fused pass
  also stops at the final hidden states and the projection writes the logits into memory kept from step
  to step;
- ``SeparatePassesContext`` (``--no-fuse``, the reference): one right-padded forward pass per stream
  with full logits, the way the authors' code runs a step.

All give the same values (tests/test_fused_step.py). Each pass runs at most once per step.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Callable

import torch

from tru.data.formatting import IGNORE_INDEX
from tru.modeling.log_probs import sequence_log_prob, token_log_probs
from tru.modeling.logits_workspace import LogitsWorkspace, head_weight_for_projection
from tru.modeling.packed_attention import no_mask
from tru.modeling.target_log_probs import chunked_target_log_probs, target_log_probs

Reducer = Callable[[torch.Tensor], torch.Tensor]


class _LogitsUse:
    """Whether a recipe read the fused logits themselves this step (``label_logits``), in which case
    their storage must not take their gradient. Its own object, not the context: the autograd graph
    keeps it until the backward pass, and a reference from the graph back to the context (which holds
    the model's outputs, and so the graph) would be a cycle that frees each step's tensors late."""

    def __init__(self):
        self.read = False

    def unread(self) -> bool:
        return not self.read


class StepContext(ABC):
    """What a recipe reads in one step. Each mode's subclass runs its passes on first use and keeps
    their outputs (``_cache``) until the context goes."""

    def __init__(self, model, batch: dict, *, reference=None, reducer: Reducer | None = None):
        self.model = model
        self.batch = batch
        self.reference = reference
        self.reducer = reducer
        self._cache: dict[tuple, object] = {}
        self._log_probs: dict[str, tuple[torch.Tensor, torch.Tensor]] = {}

    # ---- what recipes read ------------------------------------------------------------------

    def labels(self, stream: str) -> torch.Tensor:
        return self.batch[stream]["labels"]

    def loss_mask(self, stream: str) -> torch.Tensor:
        """[B, T-1] True where a next-token log-probability enters a loss."""
        return self.labels(stream)[:, 1:].ne(IGNORE_INDEX)

    def log_probs(self, stream: str) -> tuple[torch.Tensor, torch.Tensor]:
        """(log p of each next label [B, T-1], zero elsewhere; the mask as float)."""
        if stream not in self._log_probs:
            self._log_probs[stream] = self._token_log_probs(stream)
        return self._log_probs[stream]

    def cached_log_probs(self, stream: str) -> tuple[torch.Tensor, torch.Tensor] | None:
        """Log-probabilities already computed this step, or None (never triggers a forward pass)."""
        return self._log_probs.get(stream)

    def sequence(self, stream: str) -> tuple[torch.Tensor, torch.Tensor]:
        return sequence_log_prob(*self.log_probs(stream))

    def reference_sequence(self, stream: str) -> torch.Tensor:
        data = self.batch[stream]
        if "ref_seq_logp" not in data:
            raise RuntimeError(f"reference log-probabilities for stream '{stream}' were not precomputed")
        return data["ref_seq_logp"]

    @abstractmethod
    def label_logits(self, stream: str) -> torch.Tensor:
        """[N, V] logits at the stream's loss positions, row-major over the padded batch."""

    @abstractmethod
    def reference_label_logits(self, stream: str) -> torch.Tensor:
        """The frozen reference's logits at the same positions (its pass covers this stream only)."""

    @abstractmethod
    def answer_hidden(self, stream: str, layer: int) -> torch.Tensor:
        """[M, H] hidden states after ``layer`` (0: embeddings) at the stream's labelled tokens."""

    @abstractmethod
    def reference_answer_hidden(self, stream: str, layer: int) -> torch.Tensor:
        """The frozen reference's hidden states at the same tokens."""

    # ---- normalisers ------------------------------------------------------------------------

    def normalizer(self, local_count: torch.Tensor) -> torch.Tensor | None:
        return None if self.reducer is None else self.reducer(local_count)

    def token_normalizer(self, stream: str) -> torch.Tensor | None:
        """Global answer-token count of the stream divided by the world size (None on one process)."""
        return self.normalizer(self.loss_mask(stream).sum().float())

    def answer_normalizer(self, stream: str) -> torch.Tensor | None:
        """Like token_normalizer, for losses on the labelled tokens themselves (``answer_hidden``)."""
        return self.normalizer(self._answer_mask(stream).sum().float())

    def item_normalizer(self, stream: str) -> torch.Tensor | None:
        labels = self.labels(stream)
        return self.normalizer(labels.new_full((), labels.shape[0], dtype=torch.float32))

    # ---- for the modes ----------------------------------------------------------------------

    @abstractmethod
    def _token_log_probs(self, stream: str) -> tuple[torch.Tensor, torch.Tensor]:
        """What ``log_probs`` returns, computed (it keeps the result for the step)."""

    def _answer_mask(self, stream: str) -> torch.Tensor:
        return self.labels(stream).ne(IGNORE_INDEX)

    def _require_reference(self):
        if self.reference is None:
            raise RuntimeError("this method needs a reference model but none was prepared")
        return self.reference


class SeparatePassesContext(StepContext):
    """One right-padded pass per stream with logits at every position (``--no-fuse``); the reference's
    passes likewise."""

    def _token_log_probs(self, stream: str) -> tuple[torch.Tensor, torch.Tensor]:
        return token_log_probs(self._pass(stream).logits, self.labels(stream))

    def label_logits(self, stream: str) -> torch.Tensor:
        return self._pass(stream).logits[:, :-1][self.loss_mask(stream)]

    def reference_label_logits(self, stream: str) -> torch.Tensor:
        return self._reference_pass(stream, hidden_states=False).logits[:, :-1][self.loss_mask(stream)]

    def answer_hidden(self, stream: str, layer: int) -> torch.Tensor:
        return self._pass(stream, hidden_states=True).hidden_states[layer][self._answer_mask(stream)]

    def reference_answer_hidden(self, stream: str, layer: int) -> torch.Tensor:
        hidden = self._reference_pass(stream, hidden_states=True).hidden_states[layer]
        return hidden[self._answer_mask(stream)]

    def _inputs(self, stream: str) -> dict:
        data = self.batch[stream]
        return {"input_ids": data["input_ids"], "attention_mask": data["attention_mask"]}

    def _pass(self, stream: str, *, hidden_states: bool = False):
        key = ("separate", stream, hidden_states)
        if key not in self._cache:
            self._cache[key] = self.model(**self._inputs(stream), output_hidden_states=hidden_states, use_cache=False)
        return self._cache[key]

    def _reference_pass(self, stream: str, *, hidden_states: bool):
        return self._require_reference()(**self._inputs(stream), output_hidden_states=hidden_states)


class FusedPassContext(StepContext):
    """One pass over the collator's packed row of every stream (``batch["packed"]``), the model's own
    logits at the loss positions only; the reference runs over one stream's own packed row."""

    def __init__(self, model, batch: dict, **kwargs):
        super().__init__(model, batch, **kwargs)
        self.packed = batch["packed"]
        self._logits_use = _LogitsUse()

    def _token_log_probs(self, stream: str) -> tuple[torch.Tensor, torch.Tensor]:
        """The targets' log-probabilities (packed order) scattered to the padded batch's loss positions."""
        targets_log_probs = self._target_log_probs(stream)
        mask = self.loss_mask(stream)
        full = targets_log_probs.new_zeros(mask.shape).masked_scatter(mask, targets_log_probs)
        return full, mask.float()

    def _target_log_probs(self, stream: str) -> torch.Tensor:
        return self._fused_target_log_probs()[stream]

    def label_logits(self, stream: str) -> torch.Tensor:
        return self._fused_rows()[stream]

    def reference_label_logits(self, stream: str) -> torch.Tensor:
        return self._reference_packed(stream, hidden_states=False).logits[0]

    def answer_hidden(self, stream: str, layer: int) -> torch.Tensor:
        positions = self.packed["streams"][stream]["answer"]
        return self._fused(hidden_states=True).hidden_states[layer][0, positions]

    def reference_answer_hidden(self, stream: str, layer: int) -> torch.Tensor:
        positions = self.packed["streams"][stream]["alone"]["answer"]
        return self._reference_packed(stream, hidden_states=True).hidden_states[layer][0, positions]

    def _fused_rows(self) -> dict[str, torch.Tensor]:
        """The fused pass's logits rows split by stream (in packed order). One split, so the backward
        is one concatenation rather than a zero-filled full-size gradient per stream."""
        if "rows" not in self._cache:
            self._logits_use.read = True
            self._cache["rows"] = self._split_by_stream(self._fused_logits())
        return self._cache["rows"]

    def _fused_logits(self) -> torch.Tensor:
        """[N, V] logits at every stream's loss positions (packed order)."""
        return self._fused(hidden_states=False).logits.squeeze(0)

    def _split_by_stream(self, rows: torch.Tensor) -> dict[str, torch.Tensor]:
        """Rows at every stream's loss positions (packed order) as views per stream."""
        streams = self.packed["streams"]
        return dict(zip(streams, rows.split([info["targets"].shape[0] for info in streams.values()])))

    def _fused_target_log_probs(self) -> dict[str, torch.Tensor]:
        """Log-probabilities of every stream's targets from the fused logits, in one call over all
        rows (tru.modeling.target_log_probs), split by stream; the backward pass then writes the
        logits' gradient once instead of per stream and concatenating, into the logits themselves
        unless a recipe also read them (``label_logits``, e.g. for a KL term)."""
        if "target_log_probs" not in self._cache:
            streams = self.packed["streams"]
            targets = torch.cat([info["targets"] for info in streams.values()])
            flat = target_log_probs(self._fused_logits(), targets, may_overwrite_logits=self._logits_use.unread)
            self._cache["target_log_probs"] = self._split_by_stream(flat)
        return self._cache["target_log_probs"]

    def _fused_keep_hidden(self) -> torch.Tensor:
        """[N, H] final (normed) hidden states at every stream's loss positions, in packed order."""
        keep = torch.cat([info["keep"] for info in self.packed["streams"].values()])
        return self._fused(hidden_states=True).hidden_states[-1][0, keep]

    def _head(self) -> torch.nn.Linear:
        """The output layer (checked by tru.modeling.logits_workspace.head_projection_problem); DDP keeps the
        model in .module."""
        return getattr(self.model, "module", self.model).get_output_embeddings()

    def _fused(self, *, hidden_states: bool):
        """One pass over every packed stream. Logits only at loss positions; none when a recipe
        reads hidden states (RMU), whose loss needs no vocabulary projection."""
        key = ("fused", hidden_states)
        if key not in self._cache:
            packed = self.packed
            keep = (
                packed["input_ids"].new_zeros(0)
                if hidden_states
                else torch.cat([info["keep"] for info in packed["streams"].values()])
            )
            self._cache[key] = self.model(
                input_ids=packed["input_ids"],
                position_ids=packed["position_ids"],
                attention_mask=no_mask(packed["input_ids"]),
                attention_plan=packed["attention"],
                logits_to_keep=keep,
                output_hidden_states=hidden_states,
                use_cache=False,
            )
        return self._cache[key]

    def _reference_packed(self, stream: str, *, hidden_states: bool):
        """The reference model over one stream only (packed on its own by the collator)."""
        alone = self.packed["streams"][stream]["alone"]
        keep = alone["keep"].new_zeros(0) if hidden_states else alone["keep"]
        return self._require_reference()(
            input_ids=alone["input_ids"],
            position_ids=alone["position_ids"],
            attention_mask=no_mask(alone["input_ids"]),
            attention_plan=alone["attention"],
            logits_to_keep=keep,
            output_hidden_states=hidden_states,
        )


class ChunkedLogitsContext(FusedPassContext):
    """The fused pass up to the final hidden states; the targets' log-probabilities come from the output
    layer run in chunks of ``logits_chunk`` rows, recomputed in the backward pass."""

    def __init__(self, model, batch: dict, logits_chunk: int, **kwargs):
        super().__init__(model, batch, **kwargs)
        self.logits_chunk = logits_chunk

    def _target_log_probs(self, stream: str) -> torch.Tensor:
        targets = self.packed["streams"][stream]["targets"]
        return chunked_target_log_probs(self._hidden_rows()[stream], self._head(), targets, self.logits_chunk)

    def label_logits(self, stream: str) -> torch.Tensor:
        # a stream that needs whole distributions (KL) is projected as usual
        return self._head()(self._hidden_rows()[stream])

    def _hidden_rows(self) -> dict[str, torch.Tensor]:
        """The final (normed) hidden states at every stream's loss positions, split by stream."""
        if "hidden_rows" not in self._cache:
            self._cache["hidden_rows"] = self._split_by_stream(self._fused_keep_hidden())
        return self._cache["hidden_rows"]


class LogitsWorkspaceContext(FusedPassContext):
    """The fused pass up to the final hidden states; the output layer projects them into the logits
    workspace (memory kept from step to step)."""

    def __init__(self, model, batch: dict, logits_workspace: LogitsWorkspace, **kwargs):
        super().__init__(model, batch, **kwargs)
        self.logits_workspace = logits_workspace

    def _fused_logits(self) -> torch.Tensor:
        if "logits" not in self._cache:
            hidden = self._fused_keep_hidden()
            self._cache["logits"] = self.logits_workspace.project(hidden, self._head(), self._cache["head_weight"])
        return self._cache["logits"]

    def _fused(self, *, hidden_states: bool):
        if hidden_states and ("fused", True) not in self._cache:  # made before the forward pass, on purpose
            self._cache["head_weight"] = head_weight_for_projection(self._head())
        return super()._fused(hidden_states=hidden_states)


def step_context(
    model,
    batch: dict,
    *,
    reference=None,
    reducer: Reducer | None = None,
    logits_chunk: int = 0,
    logits_workspace: LogitsWorkspace | None = None,
) -> StepContext:
    """The context of one collated batch: separate passes for a padded one, the fused pass for a packed
    one (``batch["packed"]``, tru.modeling.collate), projecting in chunks with ``logits_chunk`` and else
    into ``logits_workspace`` if given. A setting the batch's mode has no use for is ignored."""
    common = {"reference": reference, "reducer": reducer}
    if batch.get("packed") is None:
        return SeparatePassesContext(model, batch, **common)
    if logits_chunk:
        return ChunkedLogitsContext(model, batch, logits_chunk, **common)
    if logits_workspace is not None:
        return LogitsWorkspaceContext(model, batch, logits_workspace, **common)
    return FusedPassContext(model, batch, **common)
