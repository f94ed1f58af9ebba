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
    from tru.finetune import finetune

    run_dir = finetune(FinetuneConfig(model="tiny-llama", out=str(tmp_path / "lora"), data=small_tofu["forget"],
                                      max_steps=3, lr=1e-2, lora_r=4, max_length=128, report_to="tensorboard"))
    assert (run_dir / "model" / "model.safetensors").exists()
    assert not (run_dir / "model" / "adapter_config.json").exists()
    assert list((run_dir / "trainer").rglob("events.out.tfevents*"))
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["lora"] and summary["train_nll_after"] < summary["train_nll_before"]
