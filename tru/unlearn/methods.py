"""Unlearning methods as recipes over the pure loss functions (the paper's Eq. 2-4; the baselines as
README "Methods and their settings" defines them).

A recipe is a dataclass of hyper-parameters (defaults: the published TOFU settings) that names
the streams it reads and turns a StepContext into named loss terms plus their weighted ``loss``.
Adding a method means adding a recipe here and registering it; nothing else changes. The GA-based
forget losses are terms of their own (tru.unlearn.terms) that recipes build from their settings.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import ClassVar, NamedTuple

import torch

from tru.core.errors import ConfigError
from tru.data.anchors import TRAINING_ANCHORS
from tru.data.formatting import TARGET_FORMATS
from tru.modeling.context import StepContext
from tru.unlearn import losses, terms
from tru.unlearn.anchors import ANSWER_SOURCES
from tru.unlearn.augment import Augmentation
from tru.unlearn.forget_tokens import FORGET_TOKENS

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

    def target_sampling_mode(self) -> str:
        """How a target item is drawn beside each forget item: at random (the authors') or paired."""
        return "random"

    def fixed_refusals(self) -> bool:
        """Whether each forget item keeps one refusal for the whole run (needed to precompute)."""
        return False

    def prepare_model(self, model) -> None:
        """Hook to freeze parameters or attach state before the optimizer is built."""

    def lora_target_modules(self, model) -> list[str] | None:
        return None

    def reasoning_format(self) -> str:
        """How reasoning targets are laid out in training (tru.data.formatting.TARGET_FORMATS); only recipes
        with a target stream render them."""
        return "s1"

    def forget_token_rule(self) -> str:
        """Which forget-answer tokens the forget term pushes down (tru.unlearn.forget_tokens)."""
        return "answer"

    def augmentation(self) -> Augmentation | None:
        """Other wordings of the target and retain questions to train on (tru.unlearn.augment)."""
        return None

    def anchoring(self) -> Anchoring:
        """Out-of-scope anchors for the retain stream (tru.unlearn.anchors); none by default."""
        return Anchoring()

    def compute(self, ctx: StepContext) -> dict[str, torch.Tensor]:
        raise NotImplementedError

    def validate(self) -> None:
        for key, allowed in self.choices.items():
            if getattr(self, key) not in allowed:
                raise ConfigError(
                    f"method '{self.name}': {key} must be one of {', '.join(allowed)}, got '{getattr(self, key)}'"
                )


class Anchoring(NamedTuple):
    """How many out-of-scope anchors a recipe draws in its retain stream, with which share of the retain
    draws, and whose answers (tru.unlearn.anchors)."""

    count: int = 0
    share: float = 0.0
    answers: str = "reference"


# ---- shared terms -------------------------------------------------------------------------


def nll_term(ctx: StepContext, stream: str) -> torch.Tensor:
    return losses.nll_loss(*ctx.log_probs(stream), normalizer=ctx.token_normalizer(stream))


def retain_term(ctx: StepContext, kind: str) -> torch.Tensor:
    if kind == "nll":
        return nll_term(ctx, "retain")
    return losses.kl_loss(
        ctx.label_logits("retain"), ctx.reference_label_logits("retain"), normalizer=ctx.token_normalizer("retain")
    )


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
class WithForgetTerm(Recipe):
    """A recipe around one forget term (tru.unlearn.terms) named by ``forget_loss``; the term's
    parameters are the recipe's fields of the same names."""

    forget_loss: ClassVar[str] = "ga"

    def forget_term(self) -> terms.ForgetTerm:
        return terms.build_term(self.forget_loss, dataclasses.asdict(self))

    def precomputed_reference(self):
        return self.forget_term().precomputed_reference()

    def needs_reference_model(self):
        return self.forget_term().needs_reference_model()


@dataclass
class ForgetPlusRetain(RetainMixin, WithForgetTerm):
    """gamma * forget term + alpha * retain term."""

    streams: ClassVar = ("forget", "retain")
    choices: ClassVar = {"retain_loss": ("nll", "kl")}

    def needs_reference_model(self):
        return RetainMixin.needs_reference_model(self) or WithForgetTerm.needs_reference_model(self)

    def compute(self, ctx):
        return weighted(
            {
                f"forget_{self.forget_loss}": (self.gamma, self.forget_term().compute(ctx)),
                f"retain_{self.retain_loss}": (self.alpha, retain_term(ctx, self.retain_loss)),
            }
        )


# ---- methods ------------------------------------------------------------------------------


@register("ga")
@dataclass
class GA(WithForgetTerm):
    forget_loss: ClassVar[str] = "ga"
    streams: ClassVar = ("forget",)

    def compute(self, ctx):
        return weighted({f"forget_{self.forget_loss}": (1.0, self.forget_term().compute(ctx))})


@register("graddiff")
@dataclass
class GradDiff(ForgetPlusRetain):
    forget_loss: ClassVar[str] = "ga"


@register("npo")
@dataclass
class NPO(ForgetPlusRetain):
    beta: float = 0.1
    forget_loss: ClassVar[str] = "npo"


@register("simnpo")
@dataclass
class SimNPO(ForgetPlusRetain):
    beta: float = 4.5
    delta: float = 0.0
    gamma: float = 0.125
    forget_loss: ClassVar[str] = "simnpo"


@register("wga")
@dataclass
class WGA(ForgetPlusRetain):
    beta: float = 1.0
    forget_loss: ClassVar[str] = "wga"


@register("idkpo")
@dataclass
class IdkPO(RetainMixin, Recipe):
    """Cross-entropy on (forget question, refusal) plus the retain term (the paper's "PO")."""

    streams: ClassVar = ("idk", "retain")
    choices: ClassVar = {"retain_loss": ("nll", "kl")}

    def compute(self, ctx):
        return weighted(
            {
                "idk_nll": (self.gamma, nll_term(ctx, "idk")),
                f"retain_{self.retain_loss}": (self.alpha, retain_term(ctx, self.retain_loss)),
            }
        )


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
        dpo = losses.dpo_loss(
            chosen,
            rejected,
            ctx.reference_sequence("idk"),
            ctx.reference_sequence("forget"),
            beta=self.beta,
            normalizer=ctx.item_normalizer("forget"),
        )
        return weighted(
            {
                "forget_dpo": (self.gamma, dpo),
                f"retain_{self.retain_loss}": (self.alpha, retain_term(ctx, self.retain_loss)),
            }
        )


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

    def trainable_modules(self, model) -> dict[str, torch.nn.Module]:
        """The MLP output projections that train, by their path in the (base) model."""
        path, layers = decoder_layers(model)
        layer = self._layer(model)
        out = {}
        for i in range(max(0, layer - self.trainable_layers + 1), layer + 1):
            name = mlp_output_name(model, layers[i])
            out[f"{path}.{i}.{name}"] = layers[i].get_submodule(name)
        return out

    def prepare_model(self, model) -> None:
        self._resolved_layer = self._layer(model)
        hidden = _base_config(model).hidden_size
        generator = torch.Generator().manual_seed(self.seed)
        direction = torch.rand(hidden, generator=generator)
        self._control = (direction / direction.norm()) * self.steering_coeff
        if hasattr(model, "peft_config"):
            return  # peft already limits training to the adapters on the chosen modules
        trainable = {id(p) for module in self.trainable_modules(model).values() for p in module.parameters()}
        for parameter in model.parameters():
            parameter.requires_grad_(id(parameter) in trainable)

    def lora_target_modules(self, model):
        return list(self.trainable_modules(model))

    def hidden_state_index(self) -> int:
        """Where the steered layer's output sits in a model's ``hidden_states`` (0: the embeddings)."""
        return self._resolved_layer + 1

    def compute(self, ctx):
        layer = self.hidden_state_index()
        forget_hidden = ctx.answer_hidden("forget", layer)
        if (self._control.device, self._control.dtype) != (forget_hidden.device, forget_hidden.dtype):
            self._control = self._control.to(forget_hidden.device, forget_hidden.dtype)  # once, not every step
        control = self._control.expand_as(forget_hidden)
        retain_hidden = ctx.answer_hidden("retain", layer)
        retain_reference = ctx.reference_answer_hidden("retain", layer)
        forget_norm, retain_norm = ctx.answer_normalizer("forget"), ctx.answer_normalizer("retain")
        return weighted(
            {
                "forget_rmu": (self.gamma, losses.mse_loss(forget_hidden, control, forget_norm)),
                "retain_rmu": (self.alpha, losses.mse_loss(retain_hidden, retain_reference, retain_norm)),
            }
        )


@register("tru")
@dataclass
class TRU(Recipe):
    """Targeted Reasoning Unlearning: target CE + alpha * (forget GA-based term + lam * retain).

    Defaults: each forget item's own target beside it (paired), a ten-fold retain weight, the 60
    training-side anchors with their reference answers in half of the retain draws (tru.unlearn.anchors),
    and gradient ascent that stops on an answer once its mean NLL per token reaches ``nll_cap``
    (``sequence_capped_ga``; uncapped, a forget set of a few items trained for many epochs collapses):
    the recipe the decision rules in docs/results.md chose on a small model. ``--preset paper`` gives the
    authors' settings: weights 1.0 (target), 0.1 (forget), 0.1 (retain), the target drawn at random, no
    anchors. Both lay targets out in the authors' ``s1`` format; ``target_format=think-tags`` is the
    alternative that the tune side preferred and the evaluation side rejected (docs/results.md).

    The forget term is the registered term ``forget_loss`` (tru.unlearn.terms). Its parameters come
    from TRU's own settings ``beta``, ``simnpo_beta``, ``delta`` and ``nll_cap``, which run configs already set;
    ``term_fields`` is the one place that says which setting feeds which parameter.
    """

    target_weight: float = 1.0
    alpha: float = 0.1
    lam: float = 10.0
    forget_loss: str = "sequence_capped_ga"  # docs/results.md round 13: plain GA collapses a small forget set
    retain_loss: str = "nll"
    target_sampling: str = "paired"
    beta: float = 0.1
    simnpo_beta: float = 4.5
    delta: float = 0.0
    nll_cap: float = 5.0  # capped_ga, sequence_capped_ga: NLL per token past which the push stops
    augment: str = "none"
    augment_share: float = 0.5
    anchors: int = len(TRAINING_ANCHORS)  # tru.unlearn.anchors: the whole training side of tru.data.anchors
    anchor_share: float = 0.5  # the share of retain draws that are an anchor (docs/results.md: the anchors rule)
    anchor_answers: str = "reference"  # reference (tru.data.anchors' true answers) or model (its own, before training)
    target_format: str = "s1"  # tru.data.formatting.TARGET_FORMATS (docs/results.md: the target format rules)
    forget_tokens: str = "answer"  # tru.unlearn.forget_tokens: every answer token, or only its new facts
    streams: ClassVar = ("target", "forget", "retain")
    # forget loss -> {term parameter: TRU setting}. NPO's and SimNPO's beta live on scales far apart
    # (published 0.1 and 4.5), so each has a setting of its own.
    term_fields: ClassVar[dict[str, dict[str, str]]] = {
        "ga": {},
        "capped_ga": {"nll_cap": "nll_cap"},
        "sequence_capped_ga": {"nll_cap": "nll_cap"},
        "npo": {"beta": "beta"},
        "simnpo": {"beta": "simnpo_beta", "delta": "delta"},
    }
    choices: ClassVar = {
        "forget_loss": tuple(term_fields),
        "retain_loss": ("nll", "kl"),
        "target_sampling": ("random", "paired"),
        "anchor_answers": ANSWER_SOURCES,
        "target_format": TARGET_FORMATS,
        "forget_tokens": tuple(FORGET_TOKENS),
    }
    presets: ClassVar = {
        "paper": {
            "target_weight": 1.0,
            "alpha": 0.1,
            "lam": 1.0,
            "forget_loss": "ga",
            "retain_loss": "nll",
            "target_sampling": "random",
            "augment": "none",
            "anchors": 0,
            "anchor_share": 0.0,
            "target_format": "s1",
            "forget_tokens": "answer",
        }
    }

    def forget_term(self) -> terms.ForgetTerm:
        fields = self.term_fields.get(self.forget_loss, {})
        return terms.build_term(self.forget_loss, {param: getattr(self, field) for param, field in fields.items()})

    def precomputed_reference(self):
        return self.forget_term().precomputed_reference()

    def target_sampling_mode(self) -> str:
        return self.target_sampling

    def reasoning_format(self) -> str:
        return self.target_format

    def forget_token_rule(self) -> str:
        return self.forget_tokens

    def augmentation(self) -> Augmentation | None:
        return Augmentation.parse(self.augment, self.augment_share)

    def anchoring(self) -> Anchoring:
        if not (self.anchors and self.anchor_share):
            return Anchoring()
        return Anchoring(self.anchors, self.anchor_share, self.anchor_answers)

    def validate(self) -> None:
        super().validate()
        self.forget_term()  # the term checks its own parameters (e.g. nll_cap above 0) before anything loads
        self.augmentation()
        if not 0 <= self.anchors <= len(TRAINING_ANCHORS):
            raise ConfigError(
                f"method 'tru': anchors must be 0 (none) to {len(TRAINING_ANCHORS)} (tru.data.anchors' training "
                f"side), got {self.anchors}"
            )
        if not 0.0 <= self.anchor_share < 1.0:
            raise ConfigError(f"method 'tru': anchor_share must be in [0, 1), got {self.anchor_share}")

    def needs_reference_model(self):
        return self.retain_loss == "kl" or self.forget_term().needs_reference_model()

    def compute(self, ctx):
        return weighted(
            {
                "target_ce": (self.target_weight, nll_term(ctx, "target")),
                f"forget_{self.forget_loss}": (self.alpha, self.forget_term().compute(ctx)),
                f"retain_{self.retain_loss}": (self.alpha * self.lam, retain_term(ctx, self.retain_loss)),
            }
        )


def _base_model(model):
    return model.get_base_model() if hasattr(model, "get_base_model") else model


def _base_config(model):
    return _base_model(model).config


# the MLP's output projection inside a decoder layer: Llama, Mistral, Qwen; GPT-2; Phi; GPT-NeoX, Falcon
MLP_OUTPUT_NAMES = ("mlp.down_proj", "mlp.c_proj", "mlp.fc2", "mlp.dense_4h_to_h")


def decoder_layers(model) -> tuple[str, torch.nn.ModuleList]:
    """The decoder layers of a decoder-only transformers model and their path: the first ModuleList
    with as many entries as the config has hidden layers."""
    base = _base_model(model)
    count = base.config.num_hidden_layers
    for path, module in base.named_modules():
        if isinstance(module, torch.nn.ModuleList) and len(module) == count:
            return path, module
    raise ConfigError(
        f"{type(base).__name__} has no list of {count} decoder layers (config.num_hidden_layers); "
        "representation methods (rmu) need a decoder-only model that keeps its layers in one "
        "ModuleList: choose another method or model"
    )


def mlp_output_name(model, layer: torch.nn.Module) -> str:
    for name in MLP_OUTPUT_NAMES:
        try:
            layer.get_submodule(name)
        except AttributeError:
            continue
        return name
    raise ConfigError(
        f"{type(_base_model(model)).__name__}'s decoder layers have no MLP output projection by a "
        f"known name ({', '.join(MLP_OUTPUT_NAMES)}), which rmu trains: choose another method "
        "or model, or add the name to tru.unlearn.methods.MLP_OUTPUT_NAMES"
    )


def _convert(raw: str, default):
    if isinstance(default, bool):
        if raw.lower() in ("1", "true", "yes", "on"):
            return True
        if raw.lower() in ("0", "false", "no", "off"):
            return False
        raise ValueError("expected true or false")
    return type(default)(raw)


def split_method_spec(spec: str) -> tuple[str, str]:
    """``METHOD@PRESET`` (e.g. ``tru@paper``, a benchmark column beside plain ``tru``) as (method, preset);
    a bare method name has no preset. Both are checked against the registry."""
    method, _, preset = spec.partition("@")
    _method_class(method, f" in '{spec}'")
    if "@" in spec:
        _check_preset(method, preset)
    return method, preset


def _method_class(method: str, where: str = "") -> type[Recipe]:
    if method not in METHODS:
        raise ConfigError(f"unknown method '{method}'{where}; choose one of {', '.join(sorted(METHODS))}")
    return METHODS[method]


def _check_preset(method: str, preset: str) -> None:
    if preset not in METHODS[method].presets:
        offered = ", ".join(METHODS[method].presets) or "none"
        raise ConfigError(f"method '{method}' has no preset '{preset}' (its presets: {offered})")


def build_recipe(method: str, overrides: dict[str, object] | None = None, preset: str = "") -> Recipe:
    """Instantiate a method with a preset's settings, then hyper-parameter overrides (strings are
    converted by field type)."""
    cls = _method_class(method)
    if preset:
        _check_preset(method, preset)
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
