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

from functools import partial

import torch
from workload import train_step

from tru.unlearn.methods import TRU, weighted


def stream_nll(model, padded: dict) -> torch.Tensor:
    """Token-mean NLL of one right-padded stream through the model's own loss."""
    return model(input_ids=padded["input_ids"], attention_mask=padded["attention_mask"], labels=padded["labels"]).loss


def straightforward_terms(setup, batch: dict) -> dict[str, torch.Tensor]:
    """TRU's named terms and ``loss`` on a padded (unfused) batch, three passes through the model."""
    recipe, model = setup.recipe, setup.model
    nll = {stream: stream_nll(model, batch[stream]) for stream in ("target", "forget", "retain")}
    return weighted(
        {
            "target_ce": (recipe.target_weight, nll["target"]),
            "forget_ga": (recipe.alpha, -nll["forget"]),
            "retain_nll": (recipe.alpha * recipe.lam, nll["retain"]),
        }
    )


def straightforward_step_for(setup):
    """Readies ``setup`` for the straightforward step and returns its train-step function (called as
    workload.train_step is). Only TRU with its paper defaults (GA forget term, NLL retain term) has one
    here. The embedding goes back to how transformers loads it: a dense gradient over the vocabulary."""
    recipe = setup.recipe
    if not isinstance(recipe, TRU) or (recipe.forget_loss, recipe.retain_loss) != ("ga", "nll"):
        raise SystemExit("the straightforward step is written for TRU with forget_loss=ga and retain_loss=nll only")
    setup.model.get_input_embeddings().sparse = False
    return partial(train_step, step_terms=straightforward_terms)
