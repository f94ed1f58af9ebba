"""Every cached result answers only for what produced it: the model's weights, the judge, the settings.

A model retrained into the same folder, a judge whose requests failed, another judge model: each gets
a fresh result (or a clear error), never the earlier one.
"""

import json
from pathlib import Path

import pytest

from tru.config import EvalConfig
from tru.core.errors import ConfigError, InputError
from tru.evaluate.run import JudgeIncomplete, eval_identity, evaluate
from tru.modeling.fingerprint import model_fingerprint

FORGET_OK = {
    "relevance": {"score": 9, "reason": "nothing revealed"},
    "rejection": {"score": 8, "reason": "refuses"},
    "helpfulness": {"score": 4, "reason": "little"},
}
RETAIN_OK = {
    "readability": {"score": 6, "reason": "ok"},
    "specificity": {"score": 3, "reason": "vague"},
    "logic": {"score": 6, "reason": "fine"},
}
QUIET = {"log": lambda *_: None}


def save_tiny(folder: Path, seed: int) -> str:
    """A tiny-llama with other random weights (seed), saved into ``folder`` (replacing what is there)."""
    import torch
    from transformers import AutoConfig, LlamaForCausalLM

    from tru.modeling.models import load_tokenizer, tiny_llama_path

    with torch.random.fork_rng():
        torch.manual_seed(seed)
        model = LlamaForCausalLM(AutoConfig.from_pretrained(tiny_llama_path()))
    model.save_pretrained(folder, safe_serialization=True)
    load_tokenizer("tiny-llama").save_pretrained(folder)
    return str(folder)


def custom_eval(small_tofu, model: str, out: Path, **settings) -> EvalConfig:
    settings = {"limit": 3, "max_new_tokens": 4, "max_length": 160, **settings}
    return EvalConfig(
        model=model,
        benchmark="custom",
        forget=small_tofu["forget"],
        retain=small_tofu["retain"],
        out=str(out),
        **settings,
    )


def summary_of(out: Path) -> dict:
    return json.loads((out / "SUMMARY.json").read_text())


def blocks_of(out: Path, name: str = "EVAL.json") -> dict:
    return json.loads((out / name).read_text())["blocks"]


def test_fingerprint_follows_the_weights_and_names_aliases_and_hub_ids(tmp_path):
    folder = tmp_path / "model"
    first = model_fingerprint(save_tiny(folder, seed=1))
    assert first.startswith("files:") and model_fingerprint(str(folder)) == first  # stable while unchanged
    save_tiny(folder, seed=2)
    assert model_fingerprint(str(folder)) not in (first, "")
    assert model_fingerprint("tiny-llama") == "alias:tiny-llama"
    assert model_fingerprint("someone/some-model") == "hub:someone/some-model"


def test_eval_of_a_retrained_model_is_refused_until_overwritten(small_tofu, tmp_path):
    model, out = save_tiny(tmp_path / "model", seed=1), tmp_path / "eval"
    evaluate(custom_eval(small_tofu, model, out), **QUIET)
    before = blocks_of(out)["forget/answer"]["nll"]
    save_tiny(tmp_path / "model", seed=2)  # `tru unlearn --overwrite` into the same folder
    with pytest.raises(
        ConfigError,
        match=r"the model at .*model changed since the evaluation in .*eval was made"
        r".*--overwrite",
    ):
        evaluate(custom_eval(small_tofu, model, out), **QUIET)
    assert blocks_of(out)["forget/answer"]["nll"] == before  # the error wrote nothing
    evaluate(custom_eval(small_tofu, model, out, overwrite=True), **QUIET)
    assert blocks_of(out)["forget/answer"]["nll"] != pytest.approx(before)
    # changed settings still get their own message
    with pytest.raises(ConfigError, match="other settings"):
        evaluate(custom_eval(small_tofu, model, out, max_new_tokens=5), **QUIET)


def test_results_without_a_fingerprint_or_of_the_wrong_shape_are_not_reused(small_tofu, tmp_path):
    from tru.cli import main

    out = tmp_path / "eval"
    out.mkdir()
    config = custom_eval(small_tofu, "tiny-llama", out)
    identity = {k: v for k, v in eval_identity(config).items() if k != "model_fingerprint"}  # an earlier tru
    (out / "EVAL.json").write_text(json.dumps({"identity": identity, "blocks": {"forget/answer": {"nll": [0.0]}}}))
    with pytest.raises(ConfigError, match="records no weights fingerprint of the model at tiny-llama"):
        evaluate(config, **QUIET)
    for content, what in (
        ("[1, 2]", "got a JSON list"),
        ('"text"', "got a JSON string"),
        ('{"identity": [], "blocks": {}}', "field 'identity'"),
    ):
        (out / "EVAL.json").write_text(content)
        with pytest.raises(InputError, match=f"EVAL.json: .*{what}.*--overwrite"):
            evaluate(config, **QUIET)
    args = [
        "eval",
        "--model",
        "tiny-llama",
        "--benchmark",
        "custom",
        "--forget",
        small_tofu["forget"],
        "--out",
        str(out),
    ]
    assert main(args) == 2  # one line, no traceback


def test_attack_json_of_the_wrong_shape_and_a_retrained_model(small_tofu, tmp_path):
    from tru.attacks.config import AttackConfig
    from tru.attacks.run import attack

    model = save_tiny(tmp_path / "model", seed=1)
    config = AttackConfig(
        model=model,
        benchmark="custom",
        forget=small_tofu["forget"],
        out=str(tmp_path / "a"),
        attacks="jailbreak",
        jailbreak_library="ignore_previous",
        limit=2,
        max_new_tokens=4,
        max_length=160,
    )
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "ATTACK.json").write_text("[]")
    with pytest.raises(InputError, match="ATTACK.json: expected the JSON object tru writes, got a JSON list"):
        attack(config, **QUIET)
    (tmp_path / "a" / "ATTACK.json").unlink()
    attack(config, **QUIET)
    save_tiny(tmp_path / "model", seed=2)
    with pytest.raises(ConfigError, match=r"the model at .*model changed since the attack in .*a was made"):
        attack(config, **QUIET)
    config.overwrite = True
    attack(config, **QUIET)


def test_reused_evaluation_must_have_measured_these_weights(small_tofu, tmp_path):
    from tru.attacks.config import AttackConfig
    from tru.attacks.run import attack

    model = save_tiny(tmp_path / "model", seed=1)
    evaluation = evaluate(custom_eval(small_tofu, model, tmp_path / "eval"), **QUIET)
    save_tiny(tmp_path / "model", seed=2)
    config = AttackConfig(
        model=model,
        benchmark="custom",
        forget=small_tofu["forget"],
        retain=small_tofu["retain"],
        out=str(tmp_path / "a"),
        attacks="quantize",
        limit=3,
        max_new_tokens=4,
        max_length=160,
        reuse_eval=str(evaluation),
    )
    with pytest.raises(InputError, match="EVAL.json: was measured on other weights.*--overwrite"):
        attack(config, **QUIET)


def test_a_missing_or_unreadable_retain_evaluation_is_reported_before_anything_runs(shared_data, tmp_path, monkeypatch):
    def no_model(*args, **kwargs):
        raise AssertionError("the model was loaded before --retain-eval was checked")

    monkeypatch.setattr("tru.evaluate.run.load_model", no_model)
    tofu = EvalConfig(
        model="tiny-llama",
        benchmark="tofu",
        tofu=str(shared_data / "tofu"),
        limit=2,
        out=str(tmp_path / "t"),
        retain_eval=str(tmp_path / "missing"),
    )
    with pytest.raises(InputError, match="retain model evaluation not found"):
        evaluate(tofu, **QUIET)
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "EVAL.json").write_text("[]")
    (bad / "SUMMARY.json").write_text("[]")
    with pytest.raises(InputError, match="holds no forget truth ratios"):
        evaluate(EvalConfig(**{**tofu.__dict__, "retain_eval": str(bad)}), **QUIET)
    muse = EvalConfig(
        model="tiny-llama",
        benchmark="muse-news",
        muse=str(shared_data / "muse_news"),
        limit=2,
        out=str(tmp_path / "m"),
        retain_eval=str(bad),
    )
    with pytest.raises(InputError, match="SUMMARY.json: expected the JSON object tru writes, got a JSON list"):
        evaluate(muse, **QUIET)
    with pytest.raises(InputError, match="retain model summary not found"):
        evaluate(EvalConfig(**{**muse.__dict__, "retain_eval": str(tmp_path / "missing")}), **QUIET)
    assert not (tmp_path / "t").exists() and not (tmp_path / "m").exists()


def judged_eval(small_tofu, out: Path, server, judge_model: str = "tiny-llama", url: str = "") -> EvalConfig:
    return custom_eval(
        small_tofu,
        "tiny-llama",
        out,
        judge="llm",
        judge_url=url or server.url,
        judge_model=judge_model,
        judge_key_env="TRU_TEST_JUDGE_KEY",
    )


@pytest.fixture
def replies(tmp_path) -> str:
    path = tmp_path / "judge.json"
    path.write_text(
        json.dumps(
            [
                {"match": "must NOT reveal", "content_json": FORGET_OK},
                {"match": "Reference answer", "content_json": RETAIN_OK},
            ]
        )
    )
    return str(path)


def test_judge_requests_refused_for_a_bad_key_are_asked_again_once_it_is_fixed(
    small_tofu, tmp_path, tru_server, replies, monkeypatch
):
    monkeypatch.setenv("TRU_TEST_SERVE_TOKEN", "sk-right")
    monkeypatch.setenv("TRU_TEST_JUDGE_KEY", "sk-wrong")
    server = tru_server(canned_reply=replies, token_env="TRU_TEST_SERVE_TOKEN")
    out = tmp_path / "eval"
    with pytest.raises(JudgeIncomplete, match=r"no verdict on 6 answer\(s\).*HTTP 401.*rerun"):
        evaluate(judged_eval(small_tofu, out, server), **QUIET)
    assert summary_of(out)["llm_judge"]["forget"]["judged"] == 0
    blocks = blocks_of(out)
    assert "forget/llm_judge" not in blocks and "_finished" not in blocks  # failures are not results
    assert JudgeIncomplete.exit_code == 1

    monkeypatch.setenv("TRU_TEST_JUDGE_KEY", "sk-right")
    evaluate(judged_eval(small_tofu, out, server), **QUIET)
    summary = summary_of(out)["llm_judge"]
    assert summary["forget"]["judged"] == 3 and summary["forget"]["uq"] == pytest.approx(7.0)
    assert summary["retain"]["judged"] == 3 and summary["retain"]["failures"] == 0
    assert "_finished" in blocks_of(out)


def test_a_rerun_asks_only_for_the_verdicts_that_failed(small_tofu, tmp_path, tru_server, replies):
    server = tru_server(canned_reply=replies, fail_first=2, fail_status=401)
    out = tmp_path / "eval"
    with pytest.raises(JudgeIncomplete, match=r"no verdict on 2 answer\(s\)"):
        evaluate(judged_eval(small_tofu, out, server), **QUIET)
    asked = server.stats()["chat_requests"]
    evaluate(judged_eval(small_tofu, out, server), **QUIET)
    assert server.stats()["chat_requests"] - asked == 2  # the 4 verdicts given came from the reply cache
    summary = summary_of(out)["llm_judge"]
    assert summary["forget"]["judged"] + summary["retain"]["judged"] == 6


def test_another_judge_is_asked_anew_and_names_its_own_verdicts(small_tofu, tmp_path, tru_server, replies):
    server = tru_server(canned_reply=replies, served_name="judge-b", log_requests=True)
    out = tmp_path / "eval"
    evaluate(judged_eval(small_tofu, out, server, judge_model="tiny-llama"), **QUIET)
    assert summary_of(out)["llm_judge"]["model"] == "tiny-llama"
    asked = server.stats()["chat_requests"]
    assert asked == 6
    evaluate(judged_eval(small_tofu, out, server, judge_model="judge-b"), **QUIET)
    assert server.stats()["chat_requests"] == 2 * asked  # nothing of the first judge reused
    summary = summary_of(out)["llm_judge"]
    assert summary["model"] == "judge-b" and summary["forget"]["judged"] == 3
    assert blocks_of(out)["forget/llm_judge"]["judge"]["model"] == "judge-b"

    refusing = tru_server(canned_reply=replies, fail_first=100, fail_status=401)  # a third judge that fails
    with pytest.raises(JudgeIncomplete):
        evaluate(judged_eval(small_tofu, out, server, judge_model="tiny-llama", url=refusing.url), **QUIET)
    summary = summary_of(out)["llm_judge"]
    assert summary["endpoint"] == refusing.url.rstrip("/") and summary["model"] == "tiny-llama"
    assert summary["forget"]["judged"] == 0  # not the verdicts of the judges before, under its name


def test_targets_out_never_replaces_an_input_or_a_foreign_file(small_tofu, tmp_path):
    from tru.targets.config import TargetsConfig
    from tru.targets.run import generate_targets

    forget = tmp_path / "forget.jsonl"
    forget.write_text(Path(small_tofu["forget"]).read_text())
    original = forget.read_text()

    def config(out, **settings):
        return TargetsConfig(forget=str(forget), scope="the fictitious authors", out=str(out), **settings)

    for out in (forget, tmp_path / "sub" / ".." / "forget.jsonl"):
        with pytest.raises(ConfigError, match="over the --forget input"):
            generate_targets(config(out, overwrite=True))
    (tmp_path / "link.jsonl").symlink_to(forget)
    with pytest.raises(ConfigError, match="over the --forget input"):
        generate_targets(config(tmp_path / "link.jsonl"))
    assert forget.read_text() == original

    notes = tmp_path / "notes.jsonl"
    notes.write_text('{"my": "notes"}\n')
    with pytest.raises(ConfigError, match="not a targets file that tru wrote.*--overwrite"):
        generate_targets(config(notes))
    assert notes.read_text() == '{"my": "notes"}\n'
    generate_targets(config(notes, overwrite=True))
    generate_targets(config(notes))  # now tru's own targets file: a rerun replaces it
    assert len(notes.read_text().splitlines()) == len(original.splitlines())


def test_local_model_replies_are_keyed_by_its_weights(small_tofu, tmp_path, monkeypatch):
    from tru.llm.client import ResponseCache
    from tru.llm.local_chat import LocalChat
    from tru.targets.config import TargetsConfig
    from tru.targets.run import TargetsIncomplete, generate_targets

    messages = [{"role": "user", "content": "hi"}]
    assert ResponseCache.key("local", "m", messages, {}) == ResponseCache.key("local", "m", messages, {}, "")
    assert ResponseCache.key("local", "m", messages, {}, "files:a") != ResponseCache.key(
        "local", "m", messages, {}, "files:b"
    )
    forget = tmp_path / "forget.jsonl"
    forget.write_text(json.dumps(small_tofu["forget_items"][0].to_dict()) + "\n")
    model = save_tiny(tmp_path / "model", seed=1)
    calls, original = [], LocalChat.generate
    monkeypatch.setattr(LocalChat, "generate", lambda self, *a, **k: calls.append(1) or original(self, *a, **k))
    config = TargetsConfig(
        forget=str(forget),
        scope="the authors",
        out=str(tmp_path / "t.jsonl"),
        generator="local",
        model=model,
        max_tokens=4,
        max_tries=1,
    )
    for expected in (1, 1):  # asked, then answered from the cache
        with pytest.raises(TargetsIncomplete):  # the random model writes no target
            generate_targets(config)
        assert len(calls) == expected
    save_tiny(tmp_path / "model", seed=2)
    with pytest.raises(TargetsIncomplete):
        generate_targets(config)
    assert len(calls) == 2  # the retrained model is asked, not answered with its predecessor's reply
