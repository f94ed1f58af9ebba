"""Forget terms: the GA-based part of a recipe (the paper's Eq. 3 and the baselines), one registered
entry each.

A term is a small dataclass that owns its parameters and turns a StepContext into one loss on the
forget stream; the math is the pure functions of tru.unlearn.losses. A recipe names its term by
``forget_loss`` and builds it with ``build_term`` from settings of the same names as the term's
fields. Adding a forget loss means adding a term here; every recipe that offers it picks it up.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from typing import ClassVar

import torch

from tru.core.errors import ConfigError
from tru.modeling.context import StepContext
from tru.unlearn import losses

FORGET = "forget"
FORGET_TERMS: dict[str, type["ForgetTerm"]] = {}


def register_term(name: str):
    def wrap(cls):
        cls.name = name
        FORGET_TERMS[name] = cls
        return cls

    return wrap


@dataclass(frozen=True)
class ForgetTerm:
    name: ClassVar[str] = ""

    def compute(self, ctx: StepContext) -> torch.Tensor:
        raise NotImplementedError

    def precomputed_reference(self) -> tuple[str, ...]:
        """Streams whose reference log-probabilities the term reads, computed once before training."""
        return ()

    def needs_reference_model(self) -> bool:
        """Whether the term runs the frozen reference model at every step (reference log-probabilities
        of fixed data come from ``precomputed_reference`` instead)."""
        return False


@register_term("ga")
@dataclass(frozen=True)
class GA(ForgetTerm):
    def compute(self, ctx):
        return losses.ga_loss(*ctx.log_probs(FORGET), normalizer=ctx.token_normalizer(FORGET))


@register_term("capped_ga")
@dataclass(frozen=True)
class CappedGA(ForgetTerm):
    nll_cap: float

    def __post_init__(self):
        if not self.nll_cap > 0:
            raise ConfigError(
                f"forget loss '{self.name}': nll_cap must be above 0 (nats per token), got {self.nll_cap}"
            )

    def compute(self, ctx):
        return losses.capped_ga_loss(*ctx.log_probs(FORGET), cap=self.nll_cap, normalizer=ctx.token_normalizer(FORGET))


@register_term("sequence_capped_ga")
@dataclass(frozen=True)
class SequenceCappedGA(CappedGA):
    def compute(self, ctx):
        return losses.sequence_capped_ga_loss(
            *ctx.log_probs(FORGET), cap=self.nll_cap, normalizer=ctx.token_normalizer(FORGET)
        )


@register_term("wga")
@dataclass(frozen=True)
class WGA(ForgetTerm):
    beta: float

    def compute(self, ctx):
        return losses.wga_loss(*ctx.log_probs(FORGET), beta=self.beta, normalizer=ctx.token_normalizer(FORGET))


@register_term("npo")
@dataclass(frozen=True)
class NPO(ForgetTerm):
    beta: float

    def precomputed_reference(self):
        return (FORGET,)

    def compute(self, ctx):
        seq_logp, _ = ctx.sequence(FORGET)
        return losses.npo_loss(
            seq_logp, ctx.reference_sequence(FORGET), beta=self.beta, normalizer=ctx.item_normalizer(FORGET)
        )


@register_term("simnpo")
@dataclass(frozen=True)
class SimNPO(ForgetTerm):
    beta: float
    delta: float

    def compute(self, ctx):
        seq_logp, lengths = ctx.sequence(FORGET)
        return losses.simnpo_loss(
            seq_logp, lengths, beta=self.beta, delta=self.delta, normalizer=ctx.item_normalizer(FORGET)
        )


def term_parameters(name: str) -> tuple[str, ...]:
    return tuple(f.name for f in dataclasses.fields(_term_class(name)))


def build_term(name: str, settings: Mapping[str, object]) -> ForgetTerm:
    """The forget term ``name`` with each of its parameters taken from the setting of the same name."""
    cls = _term_class(name)
    missing = [p for p in term_parameters(name) if p not in settings]
    if missing:  # a recipe's own omission, not the user's
        raise TypeError(
            f"forget loss '{name}' needs the setting(s) {', '.join(missing)}: give the recipe "
            "fields of these names or map its fields onto them"
        )
    return cls(**{p: settings[p] for p in term_parameters(name)})


def _term_class(name: str) -> type[ForgetTerm]:
    if name not in FORGET_TERMS:
        raise ConfigError(f"unknown forget loss '{name}'; choose one of {', '.join(FORGET_TERMS)}")
    return FORGET_TERMS[name]
