"""The fused step (every stream packed in one forward pass, logits only at loss positions) gives the
same loss terms and gradients as one padded pass per stream (--no-fuse), for every method."""

import gc
import sys
import warnings
import weakref
from pathlib import Path

import pytest
import torch
from accelerate.utils import send_to_device
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_leaves

from tru.config import UnlearnConfig
from tru.modeling.context import step_context
from tru.modeling.packing import attention_plan, pack_streams
from tru.unlearn.run import prepare_unlearning

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))
from workload import recipe_terms, step_attention  # noqa: E402  (the step as the bench scripts run it)

CASES = [
    ("ga", {}),
    ("graddiff", {}),
    ("graddiff", {"retain_loss": "kl"}),
    ("npo", {}),
    ("simnpo", {}),
    ("wga", {}),
    ("idkpo", {}),
    ("idkdpo", {}),
    ("rmu", {}),
    ("tru", {}),
    ("tru", {"forget_loss": "npo", "retain_loss": "kl"}),
    ("tru", {"forget_loss": "simnpo"}),
]


def step(setup, batch):
    setup.model.zero_grad(set_to_none=True)
    with step_attention(setup, batch):
        terms = recipe_terms(setup, batch)
        terms["loss"].backward()
    grads = {n: p.grad.detach().clone() for n, p in setup.model.named_parameters() if p.grad is not None}
    return {k: v.detach() for k, v in terms.items()}, grads


def prepared(data, method, overrides, model, max_length=160, dtype=torch.float32, **settings):
    setup = prepare_unlearning(
        UnlearnConfig(
            model=model,
            out="unused",
            method=method,
            set=overrides,
            forget=data["forget"],
            retain=data["retain"],
            targets=data["targets"],
            refusals=data["refusals"],
            max_length=max_length,
            validation_share=0.0,
            **settings,
        )
    )
    setup.model.to(dtype)
    setup.precompute_reference(batch_size=4)
    setup.attach_reference()
    setup.model.train()  # as in training: checkpointing only acts in train mode
    return setup


def assert_same_step(setup, indices, tolerance=1e-10, gradient_tolerance=1e-5):
    """Fused and separate steps agree, for a setup prepared in float64: in float32 the two layouts'
    log-softmax sums over the vocabulary round in different orders, by kernels that differ from CPU to
    CPU, and that noise (summed by NPO over each answer) would hide a real difference. What float64
    leaves is the float32 rounding inside transformers' RMSNorm."""
    assert next(setup.model.parameters()).dtype == torch.float64
    items = [setup.dataset[i] for i in indices]
    separate_terms, separate_grads = step(setup, setup.collator(fuse=False)(items))
    fused_batch = setup.collator(fuse=True)(items)
    fused_terms, fused_grads = step(setup, fused_batch)
    assert set(fused_terms) == set(separate_terms)
    for name in separate_terms:
        # relative above 1: NPO and DPO terms scale summed log-ratios by 2/beta (20)
        expected = float(separate_terms[name])
        assert abs(float(fused_terms[name]) - expected) <= tolerance * max(1.0, abs(expected)), name
    assert set(fused_grads) == set(separate_grads)
    for name, grad in separate_grads.items():
        scale = grad.abs().max().clamp(min=1e-3)
        assert float((fused_grads[name] - grad).abs().max() / scale) < gradient_tolerance, name
    return fused_batch


@pytest.mark.parametrize("method,overrides", CASES, ids=[f"{m}-{'-'.join(o.values()) or 'default'}" for m, o in CASES])
def test_fused_step_equals_separate_passes(small_tofu, method, overrides):
    setup = prepared(small_tofu, method, overrides, "tiny-llama", dtype=torch.float64)
    batch = assert_same_step(setup, [0, 3, 5, 6])
    assert batch["packed"]["input_ids"].shape[0] == 1  # one row, one pass
    real = sum(int(v["attention_mask"].sum()) for k, v in batch.items() if k != "packed")
    assert batch["packed"]["input_ids"].shape[1] < real  # the chat template's system prompt is laid once


@pytest.mark.parametrize("method,overrides", [("tru", {}), ("graddiff", {"retain_loss": "kl"})])
def test_a_fused_step_frees_its_tensors_without_the_garbage_collector(small_tofu, method, overrides):
    # a reference cycle through the autograd graph would keep every step's model outputs until a
    # collection ran (the test suite once grew to 24 GB that way)
    setup = prepared(small_tofu, method, overrides, "tiny-llama")
    batch = setup.collator(fuse=True)([setup.dataset[i] for i in [0, 3, 5, 6]])
    gc.disable()
    try:
        with step_attention(setup, batch):
            context = step_context(setup.model, batch, reference=setup.reference)
            terms = setup.recipe.compute(context)
            terms["loss"].backward()
        freed = weakref.ref(context)
        del context, terms
        assert freed() is None
    finally:
        gc.enable()


class _HostReads(TorchDispatchMode):
    """Records every operation that reads a tensor held by the host (the CPU)."""

    def __init__(self):
        super().__init__()
        self.seen = []

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        self.seen += [
            str(func) for x in tree_leaves((args, kwargs)) if isinstance(x, torch.Tensor) and x.device.type == "cpu"
        ]
        return func(*args, **kwargs)


STEP_VARIANTS = [(m, o, {}) for m, o in CASES] + [
    ("tru", {}, {"logits_chunk": 5}),
    ("rmu", {}, {"gradient_checkpointing": True}),
]


@pytest.mark.parametrize(
    "method,overrides,settings",
    STEP_VARIANTS,
    ids=[f"{m}-{'-'.join(o.values()) or 'default'}-{'-'.join(s) or 'plain'}" for m, o, s in STEP_VARIANTS],
)
def test_fused_step_makes_the_host_wait_for_nothing(small_tofu, method, overrides, settings):
    """On the meta device (shapes without data), standing in for a GPU: an operation whose result
    depends on the data (.item(), boolean indexing, nonzero), which makes the host wait for the
    device, fails there; and no operation of the step may read a tensor on the host (a copy to the
    device inside the step). A recipe may move what it keeps to the device in its first step."""
    setup = prepared(small_tofu, method, overrides, "tiny-llama", **settings)
    setup.model.get_input_embeddings().sparse = False  # as on a GPU (tru.train.training)
    batch = send_to_device(setup.collator(fuse=True)([setup.dataset[i] for i in [0, 3, 5, 6]]), "meta")
    for model in (setup.model, setup.reference and setup.reference.model):
        if model is not None:
            model.to("meta")
    for _ in range(2):
        host = _HostReads()
        with step_attention(setup, batch), host:
            terms = recipe_terms(setup, batch)
            terms["loss"].backward()
    assert terms["loss"].device.type == "meta"
    assert host.seen == []


def test_sparse_embedding_gradient_on_the_cpu_only():
    from transformers import LlamaConfig, LlamaForCausalLM

    from tru.train.training import sparse_tied_embedding_gradient

    config = LlamaConfig(
        vocab_size=32,
        hidden_size=8,
        intermediate_size=16,
        num_hidden_layers=1,
        num_attention_heads=2,
        num_key_value_heads=1,
        tie_word_embeddings=True,
    )
    model = LlamaForCausalLM(config)
    assert not sparse_tied_embedding_gradient(model, "cuda") and not model.get_input_embeddings().sparse
    assert sparse_tied_embedding_gradient(model, "cpu") and model.get_input_embeddings().sparse


@pytest.mark.parametrize("method", ["tru", "rmu"])
def test_fused_step_with_gradient_checkpointing(small_tofu, method):
    """Checkpointed layers recompute the packed attention in the backward pass with the same segments."""
    with warnings.catch_warnings():
        warnings.simplefilter("error", FutureWarning)  # no deprecated checkpointing call
        setup = prepared(small_tofu, method, {}, "tiny-llama", dtype=torch.float64, gradient_checkpointing=True)
    assert setup.model.is_activation_checkpointing
    assert_same_step(setup, [1, 2, 4, 7])


@pytest.mark.parametrize(
    "method,overrides", [("tru", {}), ("npo", {}), ("graddiff", {"retain_loss": "kl"}), ("rmu", {})]
)
@pytest.mark.parametrize("checkpointing", [False, True])
def test_chunked_output_projection_equals_separate_passes(small_tofu, method, overrides, checkpointing):
    """--logits-chunk: log-probs from the final hidden states, projected 5 positions at a time and again
    in the backward pass; KL's full distributions and RMU's hidden states come from the same pass."""
    setup = prepared(
        small_tofu,
        method,
        overrides,
        "tiny-llama",
        dtype=torch.float64,
        logits_chunk=5,
        gradient_checkpointing=checkpointing,
    )
    assert setup.logits_chunk == 5
    assert_same_step(setup, [0, 3, 5, 6])


def test_chunked_output_projection_is_refused_where_it_cannot_work(small_tofu, monkeypatch):
    from tru.core.errors import ConfigError

    with pytest.raises(ConfigError, match="fused step only"):
        prepared(small_tofu, "tru", {}, "tiny-llama", logits_chunk=5, fuse=False)
    monkeypatch.setenv("ACCELERATE_USE_FSDP", "true")
    with pytest.raises(ConfigError, match="FSDP shards it"):
        prepared(small_tofu, "tru", {}, "tiny-llama", logits_chunk=5)


def test_packing_keeps_only_real_tokens_and_loss_positions(monkeypatch):
    from tru.modeling import packing

    monkeypatch.setattr(packing, "PADDING_BOUND", 1.5)  # so that a bucket holds padding
    pad = 0
    batch = {
        "forget": {
            "input_ids": torch.tensor([[5, 6, 7, 8], [9, 10, pad, pad]]),
            "labels": torch.tensor([[-100, -100, 7, 8], [-100, 10, -100, -100]]),
            "attention_mask": torch.tensor([[1, 1, 1, 1], [1, 1, 0, 0]]),
        },
        "retain": {
            "input_ids": torch.tensor([[11, 12, 13]]),
            "labels": torch.tensor([[-100, 12, 13]]),
            "attention_mask": torch.tensor([[1, 1, 1]]),
        },
    }
    packed = pack_streams(batch, ["forget", "retain"])
    assert packed["input_ids"].tolist() == [[5, 6, 7, 8, 9, 10, 11, 12, 13]]
    assert packed["position_ids"].tolist() == [[0, 1, 2, 3, 0, 1, 0, 1, 2]]
    # lengths 4, 3, 2: 4 and 3 share a bucket (2 x 4^2 = 32 <= 1.5 x (16 + 9)); adding 2 would not (48 > 43.5)
    assert packed["attention"]["shapes"] == ((2, 4), (1, 2))
    # sequence bounds (0, 4), (4, 6), (6, 9): padded slots read tokens 0-3 | 6-8 + padding (-> 9) | 4-5
    assert packed["attention"]["slot_token"].tolist() == [0, 1, 2, 3, 6, 7, 8, 9, 4, 5]
    forget, retain = packed["streams"]["forget"], packed["streams"]["retain"]
    assert forget["keep"].tolist() == [1, 2, 4] and forget["targets"].tolist() == [7, 8, 10]
    assert forget["answer"].tolist() == [2, 3, 5]
    assert retain["keep"].tolist() == [6, 7] and retain["targets"].tolist() == [12, 13]
    alone = retain["alone"]  # the retain stream on its own, for a reference pass
    assert alone["input_ids"].tolist() == [[11, 12, 13]] and alone["attention"]["shapes"] == ((1, 3),)
    assert alone["keep"].tolist() == [0, 1] and alone["answer"].tolist() == [1, 2]


def test_packing_lays_a_shared_prefix_once():
    pad = 0
    batch = {
        "forget": {
            "input_ids": torch.tensor([[5, 6, 7, 8], [5, 6, 9, pad]]),
            "labels": torch.tensor([[-100, -100, 7, 8], [-100, -100, 9, -100]]),
            "attention_mask": torch.tensor([[1, 1, 1, 1], [1, 1, 1, 0]]),
        },
        "retain": {
            "input_ids": torch.tensor([[5, 6, 7]]),
            "labels": torch.tensor([[-100, 6, 7]]),
            "attention_mask": torch.tensor([[1, 1, 1]]),
        },
    }
    packed = pack_streams(batch, ["forget", "retain"])
    # [5 6 7 8] is laid whole; [5 6 9] continues from its first two tokens; [5 6 7] is all shared
    assert packed["input_ids"].tolist() == [[5, 6, 7, 8, 9]]
    assert packed["position_ids"].tolist() == [[0, 1, 2, 3, 2]]
    forget, retain = packed["streams"]["forget"], packed["streams"]["retain"]
    assert forget["keep"].tolist() == [1, 2, 1] and forget["targets"].tolist() == [7, 8, 9]
    assert forget["answer"].tolist() == [2, 3, 4]
    assert retain["keep"].tolist() == [0, 1] and retain["targets"].tolist() == [6, 7]
    assert retain["answer"].tolist() == [1, 2]
    # paths [0 1 2 3] and [0 1 4] in a bucket each (2 x 4^2 > 1.2 x (4^2 + 3^2)); [0 1 2] needs no attention
    plan = packed["attention"]
    assert plan["shapes"] == ((1, 4), (1, 3))
    assert [gather.tolist() for gather in plan["gather"]] == [[0, 1, 2, 3], [0, 1, 4]]  # slots 0-3 | 4-6
    assert plan["first_slot"].tolist() == [0, 1, 2, 3, 6]
    assert plan["repeat_tokens"].tolist() == [0, 1] and plan["repeat_slots"].tolist() == [4, 5]
    assert plan["token_slot"].tolist() == [0, 1, 2, 3, 6]
    assert plan["slot_token"].tolist() == [0, 1, 2, 3, 5, 5, 4]  # unowned copies -> zero row (5)
    assert retain["alone"]["input_ids"].tolist() == [[5, 6, 7]]
    unshared = pack_streams(batch, ["forget", "retain"], share_prefixes=False)
    assert unshared["input_ids"].tolist() == [[5, 6, 7, 8, 5, 6, 9, 5, 6, 7]]
    assert unshared["streams"]["forget"]["keep"].tolist() == [1, 2, 5]
    with pytest.raises(ValueError, match="row position 1 lies on no sequence's path"):
        attention_plan([[0, 2]], [0])


def test_attention_buckets_bound_padded_attention_not_padded_tokens():
    from tru.modeling.packing import _length_groups

    # 397, 381, 380, 338 (TRU's traces): 4 x 397^2 = 630,436 <= 1.2 x 561,414; adding 117 would be 788,045 >
    # 690,124 (a bound on padded tokens, 1.25, let it in: 5 x 397 = 1,985 <= 1.25 x 1,613); 117 and 104 share
    # (27,378 <= 29,406); 98 would not join them (41,067 > 40,931), nor 62 join 98 (19,208 > 16,138)
    assert _length_groups([98, 380, 397, 117, 62, 338, 104, 381]) == [[2, 7, 1, 5], [3, 6], [0], [4]]


@pytest.mark.slow
@pytest.mark.parametrize(
    "method,overrides,chunk",
    [
        ("tru", {"lam": 1.0}, 0),
        ("graddiff", {"retain_loss": "kl"}, 0),
        ("npo", {}, 0),  # sums token log-probs per answer and scales their difference to the reference by 2/beta
        ("tru", {"lam": 1.0}, 256),
    ],
)
def test_fused_step_equals_separate_passes_on_smollm2(small_tofu, method, overrides, chunk):
    """The same on the real model's 30 layers and 49,152-token vocabulary."""
    setup = prepared(
        small_tofu, method, overrides, "smollm2-135m", max_length=512, logits_chunk=chunk, dtype=torch.float64
    )
    assert_same_step(setup, [0, 1, 2, 3])


@pytest.mark.parametrize("padding_bound", [1.0, 1.25, 10.0])
@pytest.mark.parametrize("share_prefixes", [False, True])
def test_packed_attention_equals_attention_per_sequence(monkeypatch, padding_bound, share_prefixes):
    """Values and gradients, whether every sequence gets its own bucket (1.0) or all share one (10.0),
    with and without shared prefixes (some within a bucket, one sequence wholly a prefix of another)."""
    from types import SimpleNamespace

    from tru.modeling import packed_attention, packing

    monkeypatch.setattr(packing, "PADDING_BOUND", padding_bound)
    sequences = [
        [1, 2, 3, 4, 5, 6, 7],
        [1, 2, 3, 9],
        [1, 2, 3, 4, 5, 6, 7, 8, 8],
        [1, 2],
        [4, 4, 4, 4],
        [1, 2, 3, 9, 9, 5, 5, 5],
        [6],
    ]
    row = packing.PackedRow([(ids, ids) for ids in sequences], share_prefixes)
    assert len(row.ids) == (19 if share_prefixes else sum(map(len, sequences)))
    start = len(row.ids)
    generator = torch.Generator().manual_seed(0)
    query = torch.randn(1, start, 4, 8, generator=generator).transpose(1, 2).requires_grad_()
    key, value = (torch.randn(1, start, 2, 8, generator=generator).transpose(1, 2).requires_grad_() for _ in range(2))
    weights = torch.randn(1, start, 4, 8, generator=generator)
    packed, _ = packed_attention.packed_attention_forward(
        SimpleNamespace(num_key_value_groups=2),
        query,
        key,
        value,
        None,
        scaling=0.3,
        attention_plan=row.tensors()["attention"],
    )
    packed_grads = torch.autograd.grad((packed * weights).sum(), (query, key, value))
    # each row position's output is its sequence's own causal attention along the path
    expected = [None] * start
    for path in row.paths:
        out = torch.nn.functional.scaled_dot_product_attention(
            query[:, :, path],
            key[:, :, path].repeat_interleave(2, 1),
            value[:, :, path].repeat_interleave(2, 1),
            is_causal=True,
            scale=0.3,
        )
        for t, position in enumerate(path):
            expected[position] = out[0, :, t]
    expected = torch.stack(expected).unsqueeze(0)
    expected_grads = torch.autograd.grad((expected * weights).sum(), (query, key, value))
    assert torch.allclose(packed, expected, atol=1e-6)
    for got, want in zip(packed_grads, expected_grads):
        assert torch.allclose(got, want, atol=1e-5)
