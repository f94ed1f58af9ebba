"""The forget-term registry (tru.unlearn.terms), what recipes ask of it instead of their names, and
RMU's layers found in any decoder-only model."""

import dataclasses
import math
from dataclasses import dataclass
from typing import ClassVar

import pytest
import torch
from transformers import GPT2Config, GPT2LMHeadModel

from tru.core.errors import ConfigError
from tru.unlearn import losses, terms
from tru.unlearn.methods import METHODS, TRU, ForgetPlusRetain, build_recipe, decoder_layers, recipe_settings


class FixedContext:
    """The reads a forget term makes, on fixed log-probabilities of the forget stream."""

    def __init__(self, log_probs, mask, reference):
        self.lp, self.mask, self.reference = log_probs, mask, reference

    def log_probs(self, stream):
        assert stream == "forget"
        return self.lp * self.mask, self.mask

    def sequence(self, stream):
        return losses.sequence_log_prob(*self.log_probs(stream))

    def reference_sequence(self, stream):
        assert stream == "forget"
        return self.reference

    def token_normalizer(self, stream):
        return None

    def item_normalizer(self, stream):
        return None


def random_context(seed=0):
    generator = torch.Generator().manual_seed(seed)
    log_probs = -4 * torch.rand(4, 6, generator=generator)
    mask = (torch.rand(4, 6, generator=generator) > 0.3).float()
    mask[:, 0] = 1.0
    return FixedContext(log_probs, mask, -10 * torch.rand(4, generator=generator))


# the forget-term switch of tru.unlearn.methods before the registry, kept as the reference
def old_forget_term(ctx, kind, *, beta, delta=0.0, nll_cap=0.0):
    if kind == "ga":
        return losses.ga_loss(*ctx.log_probs("forget"), normalizer=ctx.token_normalizer("forget"))
    if kind == "capped_ga":
        nll = torch.clamp(-ctx.log_probs("forget")[0], max=nll_cap) * ctx.mask
        return -nll.sum() / ctx.mask.sum()
    if kind == "sequence_capped_ga":
        lp, mask = ctx.log_probs("forget")
        per_answer = torch.minimum(-lp.sum(-1), nll_cap * mask.sum(-1))
        return -per_answer.sum() / mask.sum()
    if kind == "wga":
        return losses.wga_loss(*ctx.log_probs("forget"), beta=beta, normalizer=ctx.token_normalizer("forget"))
    seq_logp, lengths = ctx.sequence("forget")
    if kind == "npo":
        return losses.npo_loss(
            seq_logp, ctx.reference_sequence("forget"), beta=beta, normalizer=ctx.item_normalizer("forget")
        )
    if kind == "simnpo":
        return losses.simnpo_loss(seq_logp, lengths, beta=beta, delta=delta, normalizer=ctx.item_normalizer("forget"))
    raise AssertionError(kind)


PARAMETERS = {
    "ga": {},
    "capped_ga": {"nll_cap": 2.5},
    "sequence_capped_ga": {"nll_cap": 1.5},
    "wga": {"beta": 0.7},
    "npo": {"beta": 0.3},
    "simnpo": {"beta": 2.5, "delta": 0.4},
}


@pytest.mark.parametrize("name", sorted(terms.FORGET_TERMS))
def test_each_registered_term_equals_the_old_formula_bit_for_bit(name):
    parameters = PARAMETERS[name]  # a newly registered term needs its reference here
    term = terms.build_term(name, parameters)
    assert type(term) is terms.FORGET_TERMS[name] and term.name == name
    old = old_forget_term(
        random_context(),
        name,
        beta=parameters.get("beta", 0.0),
        delta=parameters.get("delta", 0.0),
        nll_cap=parameters.get("nll_cap", 0.0),
    )
    assert torch.equal(term.compute(random_context()), old)


def test_terms_against_hand_computed_values():
    # log p per token: item 1 (-1, -3), item 2 (-2; second token masked)
    ctx = FixedContext(
        torch.tensor([[-1.0, -3.0], [-2.0, -9.0]]),
        torch.tensor([[1.0, 1.0], [1.0, 0.0]]),
        reference=torch.tensor([-3.0, -2.0]),
    )
    assert terms.GA().compute(ctx).item() == pytest.approx(-(1 + 3 + 2) / 3)
    assert terms.CappedGA(nll_cap=2.0).compute(ctx).item() == pytest.approx(-(1 + 2 + 2) / 3)
    # both answers' mean NLL (2) passes the cap 1.5: each counts as its tokens at 1.5
    assert terms.SequenceCappedGA(nll_cap=1.5).compute(ctx).item() == pytest.approx(-(2 * 1.5 + 1.5) / 3)
    assert terms.SequenceCappedGA(nll_cap=2.5).compute(ctx).item() == pytest.approx(-(1 + 3 + 2) / 3)
    # NPO, beta 0.1, sequence log p (-4, -2) against the reference (-3, -2): log ratios -1 and 0
    item1 = -(2 / 0.1) * -math.log(1 + math.exp(-0.1))
    item2 = (2 / 0.1) * math.log(2)
    assert terms.NPO(beta=0.1).compute(ctx).item() == pytest.approx((item1 + item2) / 2, rel=1e-6)
    # SimNPO, beta 1, delta 0.5: per item -(2/b) log sigmoid(-(b/|y|) log p - b delta)
    z1, z2 = -(1 / 2) * -4.0 - 0.5, -(1 / 1) * -2.0 - 0.5
    expected = sum(-2 * -math.log(1 + math.exp(-z)) for z in (z1, z2)) / 2
    assert terms.SimNPO(beta=1.0, delta=0.5).compute(ctx).item() == pytest.approx(expected, rel=1e-6)
    # WGA, beta 1: sum of p_t * log p_t over the tokens, over their count
    expected = (math.exp(-1) * -1 + math.exp(-3) * -3 + math.exp(-2) * -2) / 3
    assert terms.WGA(beta=1.0).compute(ctx).item() == pytest.approx(expected, rel=1e-6)


def test_only_npo_reads_precomputed_reference_log_probs():
    built = {name: terms.build_term(name, PARAMETERS[name]) for name in terms.FORGET_TERMS}
    assert {name: t.precomputed_reference() for name, t in built.items()} == {
        "ga": (),
        "capped_ga": (),
        "sequence_capped_ga": (),
        "wga": (),
        "npo": ("forget",),
        "simnpo": (),
    }
    assert not any(t.needs_reference_model() for t in built.values())


def test_build_term_errors():
    with pytest.raises(ConfigError, match="nll_cap must be above 0"):
        terms.build_term("capped_ga", {"nll_cap": 0.0})
    with pytest.raises(ConfigError, match="'sequence_capped_ga': nll_cap must be above 0"):
        build_recipe("tru", {"nll_cap": "0"}).validate()  # TRU's default term, checked with the recipe
    with pytest.raises(
        ConfigError, match="unknown forget loss 'kl'; choose one of ga, capped_ga, sequence_capped_ga, wga, npo, simnpo"
    ):
        terms.build_term("kl", {})
    with pytest.raises(TypeError, match="'simnpo' needs the setting\\(s\\) delta"):
        terms.build_term("simnpo", {"beta": 1.0})
    assert terms.build_term("npo", {"beta": 0.2, "gamma": 3.0}) == terms.NPO(beta=0.2)  # other settings ignored


@pytest.mark.parametrize(
    "method, overrides, expected",
    [
        ("ga", {}, terms.GA()),
        ("graddiff", {}, terms.GA()),
        ("npo", {}, terms.NPO(beta=0.1)),
        ("npo", {"beta": "0.3"}, terms.NPO(beta=0.3)),
        ("simnpo", {}, terms.SimNPO(beta=4.5, delta=0.0)),
        ("simnpo", {"beta": "0.5", "delta": "0.2"}, terms.SimNPO(beta=0.5, delta=0.2)),
        ("wga", {"beta": "2"}, terms.WGA(beta=2.0)),
        ("tru", {}, terms.SequenceCappedGA(nll_cap=5.0)),
        ("tru", {"forget_loss": "ga"}, terms.GA()),
        ("tru", {"forget_loss": "capped_ga", "nll_cap": "3"}, terms.CappedGA(nll_cap=3.0)),
        ("tru", {"forget_loss": "npo", "beta": "0.2", "simnpo_beta": "9"}, terms.NPO(beta=0.2)),
        (
            "tru",
            {"forget_loss": "simnpo", "simnpo_beta": "2.0", "delta": "0.3", "beta": "9"},
            terms.SimNPO(beta=2.0, delta=0.3),
        ),
    ],
)
def test_recipes_build_their_term_from_their_settings(method, overrides, expected):
    recipe = build_recipe(method, overrides)
    assert recipe.forget_term() == expected
    assert recipe.precomputed_reference() == expected.precomputed_reference()
    ctx = random_context(1)
    named = recipe.compute(_WithRetain(ctx)) if "retain" in recipe.streams else recipe.compute(ctx)
    old = old_forget_term(
        random_context(1),
        expected.name,
        beta=getattr(expected, "beta", 0.0),
        delta=getattr(expected, "delta", 0.0),
        nll_cap=getattr(expected, "nll_cap", 0.0),
    )
    assert torch.equal(named[f"forget_{expected.name}"], old)


class _WithRetain:
    """A FixedContext that also serves the retain and target streams (for whole recipes)."""

    def __init__(self, ctx):
        self.ctx = ctx

    def __getattr__(self, attribute):
        read = getattr(self.ctx, attribute)
        return lambda stream: read("forget")


def test_user_facing_settings_are_unchanged():
    """`tru methods`, --set and config.json read these; existing run configs set them."""
    assert list(recipe_settings(build_recipe("tru"))) == [
        "method",
        "target_weight",
        "alpha",
        "lam",
        "forget_loss",
        "retain_loss",
        "target_sampling",
        "beta",
        "simnpo_beta",
        "delta",
        "nll_cap",
        "augment",
        "augment_share",
        "anchors",
        "anchor_share",
        "anchor_answers",
        "target_format",
        "forget_tokens",
    ]
    assert recipe_settings(build_recipe("npo")) == {
        "method": "npo",
        "gamma": 1.0,
        "alpha": 1.0,
        "retain_loss": "nll",
        "beta": 0.1,
    }
    assert recipe_settings(build_recipe("simnpo")) == {
        "method": "simnpo",
        "gamma": 0.125,
        "alpha": 1.0,
        "retain_loss": "nll",
        "beta": 4.5,
        "delta": 0.0,
    }
    assert recipe_settings(build_recipe("wga"))["beta"] == 1.0
    assert recipe_settings(build_recipe("ga")) == {"method": "ga"}
    with pytest.raises(
        ConfigError, match="forget_loss must be one of ga, capped_ga, sequence_capped_ga, npo, simnpo, got 'wga'"
    ):
        build_recipe("tru", {"forget_loss": "wga"})


def test_tru_maps_every_term_parameter_onto_one_of_its_settings():
    settings = {f.name for f in dataclasses.fields(TRU)}
    for name, fields in TRU.term_fields.items():
        assert set(fields) == set(terms.term_parameters(name)), name
        assert set(fields.values()) <= settings, name


def test_reference_needs_follow_the_term_and_the_retain_loss():
    assert build_recipe("tru", {"forget_loss": "npo"}).precomputed_reference() == ("forget",)
    assert build_recipe("tru", {"forget_loss": "simnpo"}).precomputed_reference() == ()
    assert not build_recipe("tru", {"forget_loss": "npo"}).needs_reference_model()
    assert build_recipe("tru", {"retain_loss": "kl"}).needs_reference_model()
    assert build_recipe("npo", {"retain_loss": "kl"}).needs_reference_model()
    assert not build_recipe("npo").needs_reference_model()


# ---- stream needs asked of the recipe, never of its name --------------------------------------


def test_target_sampling_is_a_recipe_answer():
    assert build_recipe("tru").target_sampling_mode() == "paired"
    assert build_recipe("tru", preset="paper").target_sampling_mode() == "random"
    assert build_recipe("tru", {"target_sampling": "random"}).target_sampling_mode() == "random"
    assert all(build_recipe(name).target_sampling_mode() == "random" for name in METHODS if name != "tru")


def test_benchmarks_give_targets_to_every_method_with_a_target_stream(monkeypatch):
    from tru.pipeline.bench.common import unlearn_configs
    from tru.pipeline.bench.config import BenchFields

    @dataclass
    class TargetedGradDiff(ForgetPlusRetain):
        streams: ClassVar = ("target", "forget", "retain")

    monkeypatch.setitem(METHODS, "targeted", TargetedGradDiff)  # registered for this test only
    configs = unlearn_configs(
        BenchFields(model="tiny-llama", methods="tru,npo,targeted,ga"), "f.jsonl", "r.jsonl", "t.jsonl"
    )
    assert {name: c.targets for name, c in configs.items()} == {
        "tru": "t.jsonl",
        "npo": "",
        "targeted": "t.jsonl",
        "ga": "",
    }


# ---- RMU's layers from the model ---------------------------------------------------------------


def tiny_gpt2():
    torch.manual_seed(0)
    return GPT2LMHeadModel(
        GPT2Config(n_layer=3, n_embd=32, n_head=2, vocab_size=100, bos_token_id=0, eos_token_id=0)
    ).eval()


def tiny_llama():
    from tru.modeling.models import ModelSettings, load_model

    return load_model(ModelSettings(name="tiny-llama")).eval()


def trained(model) -> set[str]:
    return {name for name, p in model.named_parameters() if p.requires_grad}


class RecordingContext:
    """Hands RMU random hidden states and records which hidden-state index it asks for."""

    def __init__(self, hidden):
        self.hidden, self.read = hidden, set()

    def answer_hidden(self, stream, layer):
        self.read.add(layer)
        return torch.randn(5, self.hidden)

    reference_answer_hidden = answer_hidden

    def answer_normalizer(self, stream):
        return None


@pytest.mark.parametrize(
    "load, settings, trains, lora, layer",
    [
        # two layers: the default layer is 0, the only one trained
        (tiny_llama, {}, {"model.layers.0.mlp.down_proj.weight"}, ["model.layers.0.mlp.down_proj"], 0),
        (
            tiny_llama,
            {"layer": "1", "trainable_layers": "2"},
            {"model.layers.0.mlp.down_proj.weight", "model.layers.1.mlp.down_proj.weight"},
            ["model.layers.0.mlp.down_proj", "model.layers.1.mlp.down_proj"],
            1,
        ),
        # three layers: the default layer is 1, trained with the one before it
        (
            tiny_gpt2,
            {},
            {f"transformer.h.{i}.mlp.c_proj.{p}" for i in (0, 1) for p in ("weight", "bias")},
            ["transformer.h.0.mlp.c_proj", "transformer.h.1.mlp.c_proj"],
            1,
        ),
        (
            tiny_gpt2,
            {"layer": "2", "trainable_layers": "1"},
            {"transformer.h.2.mlp.c_proj.weight", "transformer.h.2.mlp.c_proj.bias"},
            ["transformer.h.2.mlp.c_proj"],
            2,
        ),
    ],
    ids=["llama-default", "llama-layer1", "gpt2-default", "gpt2-layer2"],
)
def test_rmu_trains_the_mlp_outputs_and_reads_the_layer_of_any_decoder(load, settings, trains, lora, layer):
    model = load()
    recipe = build_recipe("rmu", settings)
    assert recipe.lora_target_modules(model) == lora
    recipe.prepare_model(model)
    assert trained(model) == trains
    context = RecordingContext(model.config.hidden_size)
    recipe.compute(context)
    assert context.read == {recipe.hidden_state_index()}
    # the index RMU reads is the steered decoder layer's output in the model's hidden_states
    outputs = []
    handle = decoder_layers(model)[1][layer].register_forward_hook(
        lambda module, args, output: outputs.append(output[0] if isinstance(output, tuple) else output)
    )
    with torch.no_grad():
        hidden_states = model(input_ids=torch.tensor([[1, 5, 7, 9]]), output_hidden_states=True).hidden_states
    handle.remove()
    if layer < model.config.num_hidden_layers - 1:  # the last entry has the final norm applied
        assert torch.equal(hidden_states[recipe.hidden_state_index()], outputs[0])


def test_rmu_under_lora_leaves_training_to_the_adapters_of_its_layers():
    from tru.modeling.models import LoraSettings, apply_lora

    model = tiny_gpt2()
    recipe = build_recipe("rmu")
    model = apply_lora(model, LoraSettings(r=2, alpha=4, dropout=0.0), target_modules=recipe.lora_target_modules(model))
    recipe.prepare_model(model)
    assert recipe.hidden_state_index() == 2
    names = trained(model)
    assert names and all("lora_" in n and ".mlp.c_proj." in n for n in names)
    assert {n.split(".mlp")[0] for n in names} == {f"base_model.model.transformer.h.{i}" for i in (0, 1)}


def test_rmu_names_the_model_class_when_it_cannot_find_its_layers():
    model = tiny_gpt2()
    for block in model.transformer.h:
        block.mlp = torch.nn.Identity()
    with pytest.raises(ConfigError, match="GPT2LMHeadModel's decoder layers have no MLP output projection"):
        build_recipe("rmu").prepare_model(model)
    model = tiny_gpt2()
    model.config.n_layer = 5
    with pytest.raises(ConfigError, match="GPT2LMHeadModel has no list of 5 decoder layers"):
        build_recipe("rmu").lora_target_modules(model)
