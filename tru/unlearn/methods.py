"""Unlearning methods as recipes over the pure loss functions (DESIGN.md sections 1 and 3).

A recipe is a dataclass of hyper-parameters (defaults: the published TOFU settings) that names
the streams it reads and turns a StepContext into named loss terms plus their weighted ``loss``.
Adding a method means adding a recipe here and registering it; nothing else changes.
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass
from typing import ClassVar

import torch

from tru.errors import ConfigError
from tru.unlearn import losses
from tru.unlearn.augment import Augmentation
from tru.unlearn.context import StepContext

METHODS: dict[str, type["Recipe"]] = {}


def register(name: str):
    def wrap(cls):
        cls.name = name
        METHODS[name] = cls
        return cls
    return wrap


@dataclass
class Recipe:
    name: ClassVar[str] = ""
    streams: ClassVar[tuple[str, ...]] = ()
    choices: ClassVar[dict[str, tuple[str, ...]]] = {}
    # named sets of settings (--preset NAME), e.g. the published ones where the defaults differ
    presets: ClassVar[dict[str, dict[str, object]]] = {}

    def required_streams(self) -> tuple[str, ...]:
        return self.streams

    def precomputed_reference(self) -> tuple[str, ...]:
        """Streams whose reference log-probabilities depend only on fixed data: computed once."""
        return ()

    def needs_reference_model(self) -> bool:
        return False

    def fixed_refusals(self) -> bool:
        """Whether each forget item keeps one refusal for the whole run (needed to precompute)."""
        return False

    def prepare_model(self, model) -> None:
        """Hook to freeze parameters or attach state before the optimizer is built."""

    def lora_target_modules(self, model) -> list[str] | None:
        return None

    def augmentation(self) -> Augmentation | None:
        """Other wordings of the target and retain questions to train on (tru.unlearn.augment)."""
        return None

    def compute(self, ctx: StepContext) -> dict[str, torch.Tensor]:
        raise NotImplementedError

    def validate(self) -> None:
        for key, allowed in self.choices.items():
            if getattr(self, key) not in allowed:
                raise ConfigError(f"method '{self.name}': {key} must be one of {', '.join(allowed)}, "
                                  f"got '{getattr(self, key)}'")


# ---- shared terms -------------------------------------------------------------------------

def nll_term(ctx: StepContext, stream: str) -> torch.Tensor:
    return losses.nll_loss(*ctx.log_probs(stream), normalizer=ctx.token_normalizer(stream))


def retain_term(ctx: StepContext, kind: str) -> torch.Tensor:
    if kind == "nll":
        return nll_term(ctx, "retain")
    return losses.kl_loss(ctx.label_logits("retain"), ctx.reference_label_logits("retain"),
                          normalizer=ctx.token_normalizer("retain"))


def forget_term(ctx: StepContext, kind: str, *, beta: float, delta: float = 0.0) -> torch.Tensor:
    if kind == "ga":
        return losses.ga_loss(*ctx.log_probs("forget"), normalizer=ctx.token_normalizer("forget"))
    if kind == "wga":
        return losses.wga_loss(*ctx.log_probs("forget"), beta=beta, normalizer=ctx.token_normalizer("forget"))
    seq_logp, lengths = ctx.sequence("forget")
    if kind == "npo":
        return losses.npo_loss(seq_logp, ctx.reference_sequence("forget"), beta=beta,
                               normalizer=ctx.item_normalizer("forget"))
    if kind == "simnpo":
        return losses.simnpo_loss(seq_logp, lengths, beta=beta, delta=delta,
                                  normalizer=ctx.item_normalizer("forget"))
    raise ConfigError(f"unknown forget loss '{kind}'")


def weighted(terms: dict[str, tuple[float, torch.Tensor]]) -> dict[str, torch.Tensor]:
    """Named terms plus their weighted sum under ``loss``."""
    out = {name: value for name, (_, value) in terms.items()}
    out["loss"] = sum(weight * value for weight, value in terms.values())
    return out


@dataclass
class RetainMixin:
    """gamma * forget term + alpha * retain term, the GradDiff family."""

    gamma: float = 1.0
    alpha: float = 1.0
    retain_loss: str = "nll"

    def needs_reference_model(self) -> bool:
        return self.retain_loss == "kl"


@dataclass
class ForgetPlusRetain(RetainMixin, Recipe):
    """gamma * (a GA-based forget term of kind ``forget_kind``) + alpha * retain term."""

    forget_kind: ClassVar[str] = "ga"
    streams: ClassVar = ("forget", "retain")
    choices: ClassVar = {"retain_loss": ("nll", "kl")}

    def forget_params(self) -> dict:
        return {"beta": 0.0}

    def compute(self, ctx):
        return weighted({
            f"forget_{self.forget_kind}": (self.gamma, forget_term(ctx, self.forget_kind, **self.forget_params())),
            f"retain_{self.retain_loss}": (self.alpha, retain_term(ctx, self.retain_loss))})


# ---- methods ------------------------------------------------------------------------------

@register("ga")
@dataclass
class GA(Recipe):
    streams: ClassVar = ("forget",)

    def compute(self, ctx):
        return weighted({"forget_ga": (1.0, forget_term(ctx, "ga", beta=0.0))})


@register("graddiff")
@dataclass
class GradDiff(ForgetPlusRetain):
    forget_kind: ClassVar[str] = "ga"


@register("npo")
@dataclass
class NPO(ForgetPlusRetain):
    beta: float = 0.1
    forget_kind: ClassVar[str] = "npo"

    def precomputed_reference(self):
        return ("forget",)

    def forget_params(self):
        return {"beta": self.beta}


@register("simnpo")
@dataclass
class SimNPO(ForgetPlusRetain):
    beta: float = 4.5
    delta: float = 0.0
    gamma: float = 0.125
    forget_kind: ClassVar[str] = "simnpo"

    def forget_params(self):
        return {"beta": self.beta, "delta": self.delta}


@register("wga")
@dataclass
class WGA(ForgetPlusRetain):
    beta: float = 1.0
    forget_kind: ClassVar[str] = "wga"

    def forget_params(self):
        return {"beta": self.beta}


@register("idkpo")
@dataclass
class IdkPO(RetainMixin, Recipe):
    """Cross-entropy on (forget question, refusal) plus the retain term (the paper's "PO")."""

    streams: ClassVar = ("idk", "retain")
    choices: ClassVar = {"retain_loss": ("nll", "kl")}

    def compute(self, ctx):
        return weighted({"idk_nll": (self.gamma, nll_term(ctx, "idk")),
                         f"retain_{self.retain_loss}": (self.alpha, retain_term(ctx, self.retain_loss))})


@register("idkdpo")
@dataclass
class IdkDPO(RetainMixin, Recipe):
    """DPO with the refusal preferred and the true answer rejected; references precomputed."""

    beta: float = 0.1
    streams: ClassVar = ("idk", "forget", "retain")
    choices: ClassVar = {"retain_loss": ("nll", "kl")}

    def precomputed_reference(self):
        return ("idk", "forget")

    def fixed_refusals(self):
        return True

    def compute(self, ctx):
        chosen, _ = ctx.sequence("idk")
        rejected, _ = ctx.sequence("forget")
        dpo = losses.dpo_loss(chosen, rejected, ctx.reference_sequence("idk"), ctx.reference_sequence("forget"),
                              beta=self.beta, normalizer=ctx.item_normalizer("forget"))
        return weighted({"forget_dpo": (self.gamma, dpo),
                         f"retain_{self.retain_loss}": (self.alpha, retain_term(ctx, self.retain_loss))})


@register("rmu")
@dataclass
class RMU(Recipe):
    """Representation misdirection at one layer; only the MLPs of a few layers up to it train.

    ``layer = -1`` picks min(7, number of layers - 2), the published layer 7 where the model is deep
    enough; ``trainable_layers`` counts layers ending at ``layer`` (published: 5, 6, 7).
    """

    layer: int = -1
    trainable_layers: int = 3
    steering_coeff: float = 2.0
    gamma: float = 1.0
    alpha: float = 1.0
    seed: int = 0
    streams: ClassVar = ("forget", "retain")

    def needs_reference_model(self):
        return True

    def _layer(self, model) -> int:
        count = _base_config(model).num_hidden_layers
        layer = min(7, max(count - 2, 0)) if self.layer < 0 else self.layer
        if layer >= count:
            raise ConfigError(f"method 'rmu': layer {layer} does not exist; the model has {count} layers")
        return layer

    def _trainable_pattern(self, model) -> str:
        layer = self._layer(model)
        layers = range(max(0, layer - self.trainable_layers + 1), layer + 1)
        return r"layers\.(" + "|".join(str(i) for i in layers) + r")\.mlp\.down_proj"

    def prepare_model(self, model) -> None:
        pattern = re.compile(self._trainable_pattern(model))
        self._resolved_layer = self._layer(model)
        hidden = _base_config(model).hidden_size
        generator = torch.Generator().manual_seed(self.seed)
        direction = torch.rand(hidden, generator=generator)
        self._control = (direction / direction.norm()) * self.steering_coeff
        peft = hasattr(model, "peft_config")
        for name, parameter in model.named_parameters():
            if peft:
                continue  # peft already limits training to the adapters on the chosen modules
            parameter.requires_grad_(bool(pattern.search(name)))

    def lora_target_modules(self, model):
        layer = self._layer(model)
        return [f"model.layers.{i}.mlp.down_proj"
                for i in range(max(0, layer - self.trainable_layers + 1), layer + 1)]

    def compute(self, ctx):
        layer = self._resolved_layer + 1  # hidden_states[0] is the embedding output
        forget_hidden = ctx.answer_hidden("forget", layer)
        if (self._control.device, self._control.dtype) != (forget_hidden.device, forget_hidden.dtype):
            self._control = self._control.to(forget_hidden.device, forget_hidden.dtype)  # once, not every step
        control = self._control.expand_as(forget_hidden)
        retain_hidden = ctx.answer_hidden("retain", layer)
        retain_reference = ctx.reference_answer_hidden("retain", layer)
        forget_norm, retain_norm = ctx.answer_normalizer("forget"), ctx.answer_normalizer("retain")
        return weighted({
            "forget_rmu": (self.gamma, losses.mse_loss(forget_hidden, control, forget_norm)),
            "retain_rmu": (self.alpha, losses.mse_loss(retain_hidden, retain_reference, retain_norm)),
        })


@register("tru")
@dataclass
class TRU(Recipe):
    """Targeted Reasoning Unlearning: target CE + alpha * (forget GA-based term + lam * retain).

    Defaults: each forget item's own target beside it (paired) and a five-fold retain weight, the
    recipe measured best on a small model (docs/results.md). ``--preset paper`` gives the authors'
    settings: weights 1.0 (target), 0.1 (forget), 0.1 (retain), the target drawn at random.
    """

    target_weight: float = 1.0
    alpha: float = 0.1
    lam: float = 5.0
    forget_loss: str = "ga"
    retain_loss: str = "nll"
    target_sampling: str = "paired"
    beta: float = 0.1
    simnpo_beta: float = 4.5
    delta: float = 0.0
    augment: str = "none"
    augment_share: float = 0.5
    streams: ClassVar = ("target", "forget", "retain")
    choices: ClassVar = {"forget_loss": ("ga", "npo", "simnpo"), "retain_loss": ("nll", "kl"),
                         "target_sampling": ("random", "paired")}
    presets: ClassVar = {"paper": {"target_weight": 1.0, "alpha": 0.1, "lam": 1.0, "forget_loss": "ga",
                                   "retain_loss": "nll", "target_sampling": "random", "augment": "none"}}

    def precomputed_reference(self):
        return ("forget",) if self.forget_loss == "npo" else ()

    def augmentation(self) -> Augmentation | None:
        return Augmentation.parse(self.augment, self.augment_share)

    def validate(self) -> None:
        super().validate()
        self.augmentation()

    def needs_reference_model(self):
        return self.retain_loss == "kl"

    def compute(self, ctx):
        beta = self.simnpo_beta if self.forget_loss == "simnpo" else self.beta
        return weighted({
            "target_ce": (self.target_weight, nll_term(ctx, "target")),
            f"forget_{self.forget_loss}": (self.alpha, forget_term(ctx, self.forget_loss, beta=beta, delta=self.delta)),
            f"retain_{self.retain_loss}": (self.alpha * self.lam, retain_term(ctx, self.retain_loss)),
        })


def _base_config(model):
    return model.get_base_model().config if hasattr(model, "get_base_model") else model.config


def _convert(raw: str, default):
    if isinstance(default, bool):
        if raw.lower() in ("1", "true", "yes", "on"):
            return True
        if raw.lower() in ("0", "false", "no", "off"):
            return False
        raise ValueError("expected true or false")
    return type(default)(raw)


def build_recipe(method: str, overrides: dict[str, object] | None = None, preset: str = "") -> Recipe:
    """Instantiate a method with a preset's settings, then hyper-parameter overrides (strings are
    converted by field type)."""
    if method not in METHODS:
        raise ConfigError(f"unknown method '{method}'; choose one of {', '.join(sorted(METHODS))}")
    cls = METHODS[method]
    if preset and preset not in cls.presets:
        offered = ", ".join(cls.presets) or "none"
        raise ConfigError(f"method '{method}' has no preset '{preset}' (its presets: {offered})")
    known = {f.name: f.default for f in dataclasses.fields(cls)}
    values = dict(cls.presets.get(preset, {}))
    for key, raw in (overrides or {}).items():
        if key not in known:
            raise ConfigError(f"method '{method}' has no setting '{key}'; its settings: {', '.join(known)}")
        try:
            values[key] = _convert(raw, known[key]) if isinstance(raw, str) else raw
        except ValueError as exc:
            raise ConfigError(f"method '{method}': {key}={raw!r} is not valid ({exc})") from None
    recipe = cls(**values)
    recipe.validate()
    return recipe


def recipe_settings(recipe: Recipe) -> dict:
    return {"method": recipe.name, **dataclasses.asdict(recipe)}
