"""The fused step's logits workspace (tru.modeling.logits_workspace): same values, memory reused, misuse caught."""

from types import SimpleNamespace

import pytest
import torch
from test_fused_step import prepared, recipe_terms, step, step_attention

from tru.modeling.logits_workspace import LogitsWorkspace


def test_projection_and_its_gradients_equal_a_linear_layer():
    torch.manual_seed(0)
    head = torch.nn.Linear(6, 11, bias=True).double()
    hidden = torch.randn(5, 6, dtype=torch.float64, requires_grad=True)
    workspace = LogitsWorkspace()
    assert torch.autograd.gradcheck(
        lambda h, w, b: workspace.project(h, SimpleNamespace(weight=w, bias=b)).clone(),
        (hidden, head.weight, head.bias),
    )
    assert torch.equal(workspace.project(hidden, head), head(hidden))


def test_the_buffer_grows_to_the_largest_step_and_is_then_reused():
    workspace = LogitsWorkspace()
    like = torch.zeros(1)
    first = workspace.rows(100, 7, like)
    assert first.shape == (100, 7) and workspace.capacity == 128 * 7  # whole granules of rows
    assert workspace.rows(120, 7, like).data_ptr() == first.data_ptr()  # fits: the same memory
    assert workspace.rows(129, 7, like).shape == (129, 7) and workspace.capacity == 256 * 7
    assert workspace.rows(10, 7, like.double()).dtype == torch.float64  # another dtype: a new buffer


@pytest.mark.parametrize(
    "settings,sharded,expected",
    [({}, False, True), ({"fuse": False}, False, False), ({"logits_chunk": 5}, False, False), ({}, True, False)],
)
def test_the_workspace_serves_the_fused_step_with_a_whole_output_layer_only(
    small_tofu, monkeypatch, settings, sharded, expected
):
    if sharded:
        monkeypatch.setenv("ACCELERATE_USE_FSDP", "true")
    setup = prepared(small_tofu, "graddiff", {}, "tiny-llama", **settings)
    assert (setup.logits_workspace is not None) is expected


def test_steps_reuse_the_workspace_and_equal_steps_without_it(small_tofu):
    setup = prepared(small_tofu, "tru", {}, "tiny-llama")
    workspace = setup.logits_workspace
    batches = [
        setup.collator(fuse=True)([setup.dataset[i] for i in indices]) for indices in ([0, 3, 5, 6], [1, 2, 4, 7])
    ]
    with_workspace = [step(setup, batch) for batch in batches]
    address = workspace.rows(1, 1, torch.zeros(1)).data_ptr()
    setup.logits_workspace = None
    without = [step(setup, batch) for batch in batches]
    for (terms, grads), (plain_terms, plain_grads) in zip(with_workspace, without):
        assert {k: float(v) for k, v in terms.items()} == pytest.approx(
            {k: float(v) for k, v in plain_terms.items()}, abs=1e-6
        )
        for name, grad in plain_grads.items():
            assert torch.allclose(grads[name], grad, atol=1e-6, rtol=1e-5), name
    setup.logits_workspace = workspace
    step(setup, batches[0])
    assert workspace.rows(1, 1, torch.zeros(1)).data_ptr() == address  # no new buffer: the same memory each step


def test_a_graph_kept_past_the_next_step_fails_instead_of_reading_its_logits(small_tofu):
    setup = prepared(small_tofu, "tru", {}, "tiny-llama")
    first, second = (setup.collator(fuse=True)([setup.dataset[i] for i in indices]) for indices in ([0, 3], [5, 6]))
    with step_attention(setup, first):
        kept = recipe_terms(setup, first)["loss"]
    with step_attention(setup, second):
        recipe_terms(setup, second)["loss"].backward()
        with pytest.raises(RuntimeError, match="modified inplace"):
            kept.backward()


def test_packed_fine_tuning_loss_is_the_same_with_the_workspace(small_tofu):
    from transformers import AutoModelForCausalLM

    from tru.data.formatting import ChatFormatter, encode_item
    from tru.data.readers import read_records
    from tru.data.records import QAItem
    from tru.modeling.logits_workspace import workspace_for
    from tru.modeling.models import load_tokenizer, resolve_model_path
    from tru.modeling.packed_attention import packed_attention
    from tru.modeling.packed_lm import PackingCollator, packed_lm_loss

    tokenizer = load_tokenizer("tiny-llama")
    model = AutoModelForCausalLM.from_pretrained(resolve_model_path("tiny-llama"), dtype=torch.float32)
    formatter = ChatFormatter(tokenizer, 160)
    batch = PackingCollator(tokenizer.pad_token_id)(
        [
            {"input_ids": e.input_ids, "labels": e.labels}
            for e in (encode_item(formatter, i) for i in read_records(small_tofu["retain"], QAItem)[:6])
        ]
    )
    workspace = workspace_for(model, "cpu")
    assert workspace is not None and workspace_for(model, "meta") is None

    def loss_and_gradients(logits_workspace):
        model.zero_grad(set_to_none=True)
        with packed_attention(model):
            loss = packed_lm_loss(model, batch, logits_workspace=logits_workspace)
            loss.backward()
        return loss.item(), {n: p.grad.clone() for n, p in model.named_parameters()}

    loss, grads = loss_and_gradients(workspace)
    plain_loss, plain_grads = loss_and_gradients(None)
    assert workspace.capacity > 0 and loss == pytest.approx(plain_loss, abs=1e-6)
    for name, grad in plain_grads.items():
        assert torch.allclose(grads[name], grad, atol=1e-6, rtol=1e-5), name


def test_the_shared_weight_takes_the_sparse_embedding_gradient_in_place(small_tofu):
    """The tied embedding's sparse gradient is added into the projection's dense gradient in place
    (head_weight_for_projection), not into a copy of it; the gradient is the same."""
    from torch.profiler import ProfilerActivity, profile

    setup = prepared(small_tofu, "tru", {}, "tiny-llama")
    embedding = setup.model.get_input_embeddings()
    assert embedding.sparse and setup.logits_workspace is not None
    batch = setup.collator(fuse=True)([setup.dataset[i] for i in [0, 3, 5, 6]])
    setup.model.zero_grad(set_to_none=True)
    with step_attention(setup, batch):
        loss = recipe_terms(setup, batch)["loss"]
        with profile(activities=[ProfilerActivity.CPU], record_shapes=True) as backward:
            loss.backward()
    # the sum, made by the autograd engine itself (a tracing mode would hold references and change it)
    sums = [
        e.name
        for e in backward.events()
        if e.name in ("aten::add", "aten::add_")
        and e.cpu_parent is not None
        and e.cpu_parent.name.startswith("autograd::engine::evaluate_function")
        and list(e.input_shapes[0]) == list(embedding.weight.shape)
    ]
    assert sums == ["aten::add_"]
    summed = embedding.weight.grad.clone()
    embedding.sparse = False
    _, dense = step(setup, batch)
    assert torch.allclose(summed, dense["model.embed_tokens.weight"], atol=1e-6, rtol=1e-5)
