"""A TRU step written the straightforward way: how the authors' code (a fork of open-unlearning on the
HF Trainer) runs one, as a same-machine stand-in for it in the benchmarks.

Per step, one forward pass per stream through the model's own call with ``labels`` (right-padded
batch, attention mask, transformers' SDPA attention, logits at every position and its built-in
token-mean cross-entropy over them), the gradient-ascent term as the forget pass's loss negated, and
a dense gradient for the tied embedding (the model as loaded; tru passes a sparse one). The weights
are the recipe's, the optimizer is tru's (torch's fused AdamW): the comparison is about the step, and
an optimizer slower than ours would only flatter tru.

The terms equal tru's on the same batch and weights (the benchmarks report the largest difference).
Not the authors' code itself, which is not available here: the issue's figures for that code on the
benchmark machine (16-21 s per TRU step, 8 GB peak RSS) are what this stand-in is checked against
(BENCHMARKS.md, 2026-12-05: 16.5-17.0 s, 7.31 GiB).
"""

from __future__ import annotations

import torch

from tru.unlearn.methods import TRU, weighted


def check_straightforward(setup) -> None:
    """Only TRU with its paper defaults (GA forget term, NLL retain term) has a straightforward step here."""
    recipe = setup.recipe
    if not isinstance(recipe, TRU) or (recipe.forget_loss, recipe.retain_loss) != ("ga", "nll"):
        raise SystemExit("the straightforward step is written for TRU with forget_loss=ga and retain_loss=nll only")


def dense_embedding_gradient(model) -> None:
    """The embedding as transformers loads it: a dense gradient over the whole vocabulary."""
    model.get_input_embeddings().sparse = False


def stream_nll(model, padded: dict) -> torch.Tensor:
    """Token-mean NLL of one right-padded stream through the model's own loss."""
    return model(input_ids=padded["input_ids"], attention_mask=padded["attention_mask"], labels=padded["labels"]).loss


def straightforward_terms(setup, batch: dict) -> dict[str, torch.Tensor]:
    """TRU's named terms and ``loss`` on a padded (unfused) batch, three passes through the model."""
    recipe, model = setup.recipe, setup.model
    nll = {stream: stream_nll(model, batch[stream]) for stream in ("target", "forget", "retain")}
    return weighted({
        "target_ce": (recipe.target_weight, nll["target"]),
        "forget_ga": (recipe.alpha, -nll["forget"]),
        "retain_nll": (recipe.alpha * recipe.lam, nll["retain"]),
    })


def straightforward_train_step(setup, batch: dict, optimizer) -> dict:
    """Forward, backward and AdamW update of the straightforward step; returns the detached terms."""
    terms = straightforward_terms(setup, batch)
    terms["loss"].backward()
    optimizer.step()
    optimizer.zero_grad(set_to_none=True)
    return {k: v.detach() for k, v in terms.items()}
