"""Model cards in saved model folders, adapters that name their real base model, and --push-to-hub
(the hub is always a fake here: nothing touches the network)."""

import json
from pathlib import Path
from types import SimpleNamespace

import pytest
import yaml
from cli_runs import unlearn_args

from tru.core.errors import ConfigError, TruError
from tru.modeling import model_card
from tru.modeling.model_card import (
    base_model_hub_id,
    check_hub_push,
    name_adapter_base,
    push_model_folder,
    read_front_matter,
    render_model_card,
)

SCOPE = {
    "step": 12,
    "forget": {
        "complete_refusal": {"value": 0.875, "low": 0.53, "high": 0.98, "n": 8},
        "refusal": {"value": 1.0, "low": 0.68, "high": 1.0, "n": 8},
        "fact_leak": {"value": 0.0, "low": 0.0, "high": 0.32, "n": 8},
    },
    "retain": {"answered": {"value": 0.9375, "low": 0.72, "high": 0.99, "n": 16}},
}

INFO = {
    "command": "tru unlearn",
    "method": "tru",
    "base_model": "HuggingFaceTB/SmolLM2-135M-Instruct",
    "started_from": "smollm2-135m",
    "adapter": True,
    "license": "apache-2.0",
    "settings": {"method": "tru", "alpha": 0.2, "forget_loss": "ga"},
    "training": {"lr": 5e-05, "max_steps": 20, "lora_r": 8},
    "data": [{"role": "forget set", "spec": "data/forget.jsonl", "items": 40, "note": "32 trained on, 8 held out"}],
    "scope_check": SCOPE,
    "summary": {"method": "tru", "steps": 20, "nll_after": {"forget": 3.25}, "resumed_from": None},
    "tru_version": "9.9.9",
}


def front_matter(text: str) -> dict:
    assert text.startswith("---\n")
    return yaml.safe_load(text[4 : text.index("\n---", 4)])


def test_card_metadata_follows_the_hubs_conventions():
    meta = front_matter(render_model_card(INFO))
    assert meta["base_model"] == "HuggingFaceTB/SmolLM2-135M-Instruct"
    assert meta["library_name"] == "peft" and meta["license"] == "apache-2.0"
    assert {"unlearning", "tru", "lora"} <= set(meta["tags"])
    full = front_matter(render_model_card({**INFO, "adapter": False, "license": None, "method": "npo"}))
    assert full["library_name"] == "transformers" and "license" not in full and "npo" in full["tags"]


def test_card_body_names_base_method_settings_data_version_and_results():
    body = render_model_card(INFO).split("\n---\n", 1)[1]
    assert "[HuggingFaceTB/SmolLM2-135M-Instruct](https://huggingface.co/HuggingFaceTB/SmolLM2-135M-Instruct)" in body
    assert "TRU (Targeted Reasoning Unlearning)" in body
    assert "| `alpha` | 0.2 |" in body and "| `forget_loss` | ga |" in body
    assert "| `lr` | 5e-05 |" in body
    assert "forget set: `data/forget.jsonl`, 40 items (32 trained on, 8 held out)" in body
    assert "tru 9.9.9" in body
    assert "## Scope check (step 12)" in body
    assert "| forget | complete refusal | 0.875 [0.53, 0.98] | 8 |" in body
    assert "| forget | fact leak | 0 [0, 0.32] | 8 |" in body
    assert "| retain | answered | 0.9375 [0.72, 0.99] | 16 |" in body
    assert "| `nll_after.forget` | 3.25 |" in body and "resumed_from" not in body
    assert "AutoPeftModelForCausalLM" in body


def test_card_of_a_local_model_keeps_its_path_out_of_the_metadata(tmp_path):
    card = render_model_card(
        {
            "command": "tru finetune",
            "base_model": None,
            "started_from": str(tmp_path),
            "data": [{"role": "training data", "spec": "tofu:full", "items": 4000, "dataset": "locuslab/TOFU"}],
        }
    )
    meta = front_matter(card)
    assert "base_model" not in meta and "unlearning" not in meta["tags"] and meta["datasets"] == ["locuslab/TOFU"]
    assert f"`{tmp_path}`" in card and "fine-tuned with tru" in card and "## Scope check" not in card


def test_base_model_hub_id_of_aliases_hub_ids_and_local_folders(tmp_path):
    assert base_model_hub_id("smollm2-135m") == "HuggingFaceTB/SmolLM2-135M-Instruct"
    assert base_model_hub_id("tiny-llama") is None
    assert base_model_hub_id("meta-llama/Llama-3.2-1B") == "meta-llama/Llama-3.2-1B"
    plain = tmp_path / "plain"
    plain.mkdir()
    (plain / "config.json").write_text(json.dumps({"model_type": "llama", "_name_or_path": "/home/me/ckpt"}))
    assert base_model_hub_id(str(plain)) is None
    recorded = tmp_path / "recorded"
    recorded.mkdir()
    (recorded / "config.json").write_text(json.dumps({"model_type": "llama", "_name_or_path": "org/base-7b"}))
    assert base_model_hub_id(str(recorded)) == "org/base-7b"
    run = tmp_path / "run"
    (run / "model").mkdir(parents=True)
    (run / "model" / "config.json").write_text(json.dumps({"model_type": "llama"}))
    (run / "model" / "README.md").write_text(render_model_card({**INFO, "adapter": False}))
    assert base_model_hub_id(str(run)) == "HuggingFaceTB/SmolLM2-135M-Instruct"  # tru's own card says so
    assert base_model_hub_id(str(run), inherit=False) is None  # an adapter loads on the local model itself


class FakeTrainer:
    """What save_model_atomically calls: save_model writes what PEFT writes for an adapter."""

    def __init__(self, cache_path: str):
        self.cache_path = cache_path
        self.accelerator = SimpleNamespace(wait_for_everyone=lambda: None)

    def is_world_process_zero(self):
        return True

    def save_model(self, folder):
        Path(folder).mkdir(parents=True)
        (Path(folder) / "adapter_config.json").write_text(
            json.dumps({"base_model_name_or_path": self.cache_path, "r": 8})
        )
        (Path(folder) / "README.md").write_text("---\nbase_model: /root/.cache/tru\n---\n# Model Card for Model ID\n")


def test_atomic_save_replaces_peft_readme_and_names_the_hub_base(tmp_path):
    from tru.train.training import save_model_atomically

    tokenizer = SimpleNamespace(save_pretrained=lambda folder: (Path(folder) / "tokenizer.json").write_text("{}"))
    target = tmp_path / "model"
    card = render_model_card(INFO)
    save_model_atomically(
        FakeTrainer("/root/.cache/tru/models/smollm2-135m-instruct"),
        tokenizer,
        target,
        card=card,
        adapter_base="HuggingFaceTB/SmolLM2-135M-Instruct",
    )
    assert (target / "README.md").read_text() == card
    adapter = json.loads((target / "adapter_config.json").read_text())
    assert adapter == {"base_model_name_or_path": "HuggingFaceTB/SmolLM2-135M-Instruct", "r": 8}
    assert not any(p.name.endswith(".partial") for p in tmp_path.iterdir())
    assert not name_adapter_base(tmp_path, "x/y")  # no adapter in this folder


class FakeHub:
    def __init__(self, whoami_error: Exception | None = None, role: str = "write", upload_error=None):
        self.whoami_error, self.role, self.upload_error = whoami_error, role, upload_error
        self.calls = []

    def whoami(self):
        if self.whoami_error:
            raise self.whoami_error
        return {"name": "me", "auth": {"accessToken": {"role": self.role}}}

    def create_repo(self, repo_id, **kwargs):
        self.calls.append(("create_repo", repo_id, kwargs))
        return f"https://huggingface.co/{repo_id}"

    def upload_folder(self, **kwargs):
        if self.upload_error:
            raise self.upload_error
        files = sorted(p.name for p in Path(kwargs["folder_path"]).iterdir())
        self.calls.append(("upload_folder", kwargs["repo_id"], {**kwargs, "files": files}))


@pytest.mark.parametrize(
    "hub, repo, message",
    [
        (FakeHub(OSError("Cannot reach https://huggingface.co/api/whoami-v2: offline")), "me/x", "offline"),
        (FakeHub(RuntimeError("Token is required, but no token found")), "me/x", "no token found"),
        (FakeHub(role="read"), "me/x", "read-only"),
        (FakeHub(), "me/bad name", "not a hub repo id"),
    ],
)
def test_push_preflight_refuses_in_one_line(hub, repo, message):
    with pytest.raises(ConfigError) as caught:
        check_hub_push(repo, api=hub)
    text = str(caught.value)
    assert "--push-to-hub" in text and message in text and "\n" not in text
    check_hub_push("me/x", api=FakeHub())  # a write token passes


def test_push_uploads_the_folder_and_says_how_to_retry(tmp_path):
    (tmp_path / "README.md").write_text("card")
    hub = FakeHub()
    assert push_model_folder(tmp_path, "me/x", message="m", api=hub) == "https://huggingface.co/me/x"
    (_, repo, created), (_, _, uploaded) = hub.calls
    assert repo == "me/x" and created["exist_ok"] is True
    assert uploaded["folder_path"] == str(tmp_path) and uploaded["files"] == ["README.md"]
    with pytest.raises(TruError, match=f"hf upload me/x {tmp_path}"):
        push_model_folder(tmp_path, "me/x", message="m", api=FakeHub(upload_error=OSError("503")))


@pytest.mark.parametrize("command", ["unlearn", "finetune"])
def test_push_to_hub_offline_fails_before_anything_loads(tmp_path, small_tofu, monkeypatch, capsys, command):
    import tru.train.finetune
    import tru.unlearn.run
    from tru.cli import main

    monkeypatch.setattr(model_card, "hub_api", lambda: FakeHub(OSError("offline")))

    def must_not_run(*_args, **_kwargs):
        raise AssertionError("the model loaded before the hub login was checked")

    monkeypatch.setattr(tru.unlearn.run, "prepare_unlearning", must_not_run)
    monkeypatch.setattr(tru.train.finetune, "load_items", must_not_run)
    out = tmp_path / "run"
    args = (
        unlearn_args(small_tofu, out, "--method", "tru", "--push-to-hub", "me/x")
        if command == "unlearn"
        else [
            "finetune",
            "--model",
            "tiny-llama",
            "--out",
            str(out),
            "--data",
            small_tofu["forget"],
            "--push-to-hub",
            "me/x",
        ]
    )
    assert main(args) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--push-to-hub me/x" in err[0] and "offline" in err[0]
    assert not out.exists()


def test_lora_unlearning_writes_card_names_hub_base_loads_offline_and_pushes(tmp_path, small_tofu, monkeypatch):
    """tiny-llama stands in for an alias with a hub id: the adapter names the id, and still loads from the
    local alias folder (nothing is downloaded)."""
    import tru.modeling.models
    from tru.config import UnlearnConfig
    from tru.modeling.models import ModelSettings, load_model
    from tru.unlearn.run import unlearn

    monkeypatch.setitem(tru.modeling.models.ALIAS_HUB_IDS, "tiny-llama", "someone/tiny-llama")
    hub = FakeHub()
    monkeypatch.setattr(model_card, "hub_api", lambda: hub)
    run_dir = unlearn(
        UnlearnConfig(
            model="tiny-llama",
            out=str(tmp_path / "run"),
            method="tru",
            forget=small_tofu["forget"],
            retain=small_tofu["retain"],
            targets=small_tofu["targets"],
            refusals=small_tofu["refusals"],
            max_steps=2,
            lr=1e-2,
            batch_size=4,
            max_length=160,
            report_to="none",
            summary_items=4,
            lora_r=4,
            push_to_hub="me/unlearned",
        )
    )
    folder = run_dir / "model"
    adapter = json.loads((folder / "adapter_config.json").read_text())
    assert adapter["base_model_name_or_path"] == "someone/tiny-llama"
    card = (folder / "README.md").read_text()
    meta = read_front_matter(folder / "README.md")
    assert meta["base_model"] == "someone/tiny-llama" and meta["library_name"] == "peft"
    assert {"unlearning", "tru"} <= set(meta["tags"])
    assert f"forget set: `{small_tofu['forget']}`, 8 items (6 trained on, 2 held out for the scope check)" in card
    scope = json.loads((run_dir / "scope_check.json").read_text())
    assert f"## Scope check (step {scope['step']})" in card and "| retain | answered |" in card
    assert "`alpha`" in card and '"me/unlearned"' in card
    assert load_model(ModelSettings(name=str(run_dir))) is not None  # offline: the local alias is the base
    (_, repo, _), (_, _, uploaded) = hub.calls
    assert repo == "me/unlearned" and uploaded["folder_path"] == str(folder)
    assert {"README.md", "adapter_config.json", "adapter_model.safetensors"} <= set(uploaded["files"])


def test_finetuned_model_has_a_card(tiny_finetuned):
    folder = Path(tiny_finetuned) / "model"
    meta = read_front_matter(folder / "README.md")
    assert meta["library_name"] == "transformers" and "base_model" not in meta  # tiny-llama has no hub id
    card = (folder / "README.md").read_text()
    config = json.loads((Path(tiny_finetuned) / "config.json").read_text())
    summary = json.loads((Path(tiny_finetuned) / "summary.json").read_text())
    assert f"training data: `{config['data']}`, {summary['items']} items" in card
    assert "fine-tuned with tru" in card and "## Scope check" not in card
