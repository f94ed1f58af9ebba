import json
from pathlib import Path


def test_finetune_teaches_the_data(tiny_finetuned):
    run_dir = Path(tiny_finetuned)
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["train_nll_after"] < summary["train_nll_before"] - 3.0
    rows = [json.loads(x) for x in (run_dir / "losses.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows] == list(range(1, summary["steps"] + 1))
    assert (run_dir / "model" / "model.safetensors").exists()
    assert (run_dir / "model" / "tokenizer_config.json").exists()
    assert list((run_dir / "trainer").rglob("events.out.tfevents*")) == []  # report_to none


def test_lora_finetune_saves_a_merged_model(tmp_path, small_tofu):
    from tru.config import FinetuneConfig
    from tru.train.finetune import finetune

    run_dir = finetune(
        FinetuneConfig(
            model="tiny-llama",
            out=str(tmp_path / "lora"),
            data=small_tofu["forget"],
            max_steps=3,
            lr=1e-2,
            lora_r=4,
            max_length=128,
            report_to="tensorboard",
        )
    )
    assert (run_dir / "model" / "model.safetensors").exists()
    assert not (run_dir / "model" / "adapter_config.json").exists()
    assert list((run_dir / "trainer").rglob("events.out.tfevents*"))
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["lora"] and summary["train_nll_after"] < summary["train_nll_before"]


def _losses(run_dir):
    return [json.loads(x)["loss"] for x in (Path(run_dir) / "losses.jsonl").read_text().splitlines()]


def test_packed_step_equals_the_trainers_padded_loss_and_gradients(small_tofu):
    import torch
    from transformers import AutoModelForCausalLM

    from tru.data.formatting import ChatFormatter, encode_item
    from tru.data.readers import read_records
    from tru.data.records import QAItem
    from tru.modeling.models import load_tokenizer, resolve_model_path
    from tru.modeling.packed_attention import packed_attention
    from tru.modeling.packed_lm import STREAM, PackingCollator, packed_lm_loss

    torch.manual_seed(0)
    tokenizer = load_tokenizer("tiny-llama")
    model = AutoModelForCausalLM.from_pretrained(resolve_model_path("tiny-llama"), dtype=torch.float32)
    formatter = ChatFormatter(tokenizer, 160)
    items = read_records(small_tofu["retain"], QAItem)[:6]
    batch = PackingCollator(tokenizer.pad_token_id)(
        [{"input_ids": e.input_ids, "labels": e.labels} for e in (encode_item(formatter, i) for i in items)]
    )
    padded = batch[STREAM]
    assert len({int(n) for n in padded["attention_mask"].sum(-1)}) > 1  # the batch really has padding

    def gradients(loss):
        model.zero_grad(set_to_none=True)
        loss.backward()
        return {n: p.grad.clone() for n, p in model.named_parameters()}

    reference = model(**padded).loss  # transformers' own causal-LM loss on the padded batch
    reference_grads = gradients(reference)
    with packed_attention(model):
        packed = packed_lm_loss(model, batch)
        packed_grads = gradients(packed)
    assert abs(packed.item() - reference.item()) <= 1e-5
    for name, grad in reference_grads.items():
        scale = grad.abs().max().clamp(min=1e-3)
        assert float((packed_grads[name] - grad).abs().max() / scale) < 1e-3, name


def test_packed_finetune_logs_the_losses_of_the_padded_trainer(tmp_path, small_tofu):
    """Two runs from the same start, with gradient accumulation: every logged loss agrees."""
    from tru.config import FinetuneConfig
    from tru.train.finetune import finetune

    common = dict(
        model="tiny-llama",
        data=small_tofu["retain"],
        max_steps=4,
        lr=3e-3,
        batch_size=3,
        grad_accum=2,
        max_length=160,
        report_to="none",
        save_steps=0,
    )
    packed = finetune(FinetuneConfig(out=str(tmp_path / "packed"), **common))
    padded = finetune(FinetuneConfig(out=str(tmp_path / "padded"), pack=False, **common))
    a, b = _losses(packed), _losses(padded)
    assert len(a) == len(b) == 4
    assert max(abs(x - y) for x, y in zip(a, b)) < 1e-3, (a, b)
    assert a[-1] < a[0]


def test_packed_steps_refuse_dataparallel():
    """One process over several GPUs would split the packed row: refused with what to do instead."""
    from types import SimpleNamespace

    import pytest

    from tru.core.errors import ConfigError
    from tru.train.training import require_process_per_device

    require_process_per_device(SimpleNamespace(n_gpu=1), "--no-pack")
    with pytest.raises(ConfigError, match="accelerate launch.*--no-pack"):
        require_process_per_device(SimpleNamespace(n_gpu=2), "--no-pack")
