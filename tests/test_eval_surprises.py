"""`tru eval` runs what it was asked or refuses: options a benchmark would not read are errors, and a
metric left out says why. No model is loaded here."""

import json

import pytest

from tru.cli import main
from tru.config import EvalConfig
from tru.core.errors import ConfigError
from tru.evaluate import muse_wmdp
from tru.evaluate.benchmarks import BENCHMARKS, read_retain_scores


def _tofu(shared_data, tmp_path, **settings) -> EvalConfig:
    return EvalConfig(
        model="tiny-llama", benchmark="tofu", tofu=str(shared_data / "tofu"), out=str(tmp_path / "eval"), **settings
    )


def test_forget_that_contradicts_forget_split_is_refused_in_one_line(shared_data, tmp_path, capsys):
    out = tmp_path / "eval"
    code = main(
        [
            "eval",
            "--model",
            "tiny-llama",
            "--benchmark",
            "tofu",
            "--tofu",
            str(shared_data / "tofu"),
            "--forget",
            "tofu:forget05",
            "--out",
            str(out),
        ]
    )
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1
    assert "--forget tofu:forget05 and --forget-split forget01 disagree" in err[0]
    assert "give --forget-split forget05" in err[0]
    assert not out.exists()
    with pytest.raises(ConfigError, match="--forget tofu:forget10 and --forget-split forget05 disagree"):
        _tofu(shared_data, tmp_path, forget="tofu:forget10", forget_split="forget05").validate()


def test_forget_that_repeats_forget_split_evaluates_that_split(shared_data, tmp_path):
    config = _tofu(shared_data, tmp_path, forget="tofu:forget05", forget_split="forget05", limit=0)
    config.validate()
    data = BENCHMARKS["tofu"].load(config)
    assert len(data["forget"]) == 200 and len(data["holdout"]) == 200  # forget05: 5% of 4000 items


def test_files_only_the_custom_benchmark_reads_are_refused_elsewhere(shared_data, small_tofu, tmp_path):
    with pytest.raises(
        ConfigError,
        match="--forget is read only by --benchmark custom; --benchmark tofu "
        "evaluates the TOFU split --forget-split names",
    ):
        _tofu(shared_data, tmp_path, forget=small_tofu["forget"]).validate()
    with pytest.raises(ConfigError, match="--retain is read only by --benchmark custom"):
        _tofu(shared_data, tmp_path, retain=small_tofu["retain"]).validate()
    with pytest.raises(
        ConfigError, match="--forget is read only by --benchmark custom; --benchmark muse-news would not read it"
    ):
        EvalConfig(
            model="tiny-llama",
            benchmark="muse-news",
            muse=str(shared_data / "muse_news"),
            forget=small_tofu["forget"],
            out=str(tmp_path / "m"),
        ).validate()
    EvalConfig(
        model="tiny-llama",
        benchmark="custom",
        forget=small_tofu["forget"],
        retain=small_tofu["retain"],
        out=str(tmp_path / "c"),
    ).validate()  # where they belong


def _muse_blocks(forget, holdout):
    f1 = {"rougeL_f1": [0.5, 0.25]}
    return {
        "knowmem_forget": f1,
        "knowmem_retain": f1,
        "verbmem_forget": f1,
        "privleak_forget": {"min_k": forget},
        "privleak_holdout": {"min_k": holdout},
    }


def test_privleak_interval_only_from_the_same_passages(tmp_path):
    forget, holdout = [0.5, 2.0, 1.0], [1.5, 3.0, 0.75]  # AUC 6/9
    store = _muse_blocks(forget, holdout)
    summary = muse_wmdp.muse_summary(store, None)
    assert summary["min_k_auc"] == pytest.approx(6 / 9) and summary["intervals"]["min_k_auc"]["n"] == 6
    assert summary["privleak"]["value"] is None and summary["privleak"]["missing"] == muse_wmdp.PRIVLEAK_NEEDS

    retain = {"min_k_auc": 0.5}
    tied = {"forget": [1.0] * 3, "holdout": [1.0] * 3}  # AUC 1/2 in every resample
    summary = muse_wmdp.muse_summary(store, retain, tied)
    assert summary["privleak"] == pytest.approx((6 / 9 - 0.5) / 0.5 * 100)
    interval = summary["intervals"]["privleak"]
    assert interval["value"] == pytest.approx(summary["privleak"]) and interval["n"] == 6
    assert interval["low"] < interval["value"] < interval["high"] and "missing" not in interval

    fewer = {"forget": [1.0] * 2, "holdout": [1.0] * 3}
    interval = muse_wmdp.muse_summary(store, retain, fewer)["intervals"]["privleak"]
    assert interval["low"] is None and interval["high"] is None and interval["value"] == pytest.approx(100 / 3)
    assert interval["missing"] == (
        "no interval: the retain evaluation scored 2 forget and 3 holdout passages, "
        "this one 3 and 3; the paired interval needs both models' scores of the same "
        "passages"
    )
    interval = muse_wmdp.muse_summary(store, {"min_k_auc": 0.25}, tied)["intervals"]["privleak"]
    assert interval["low"] is None and "do not give the Min-40% AUC of its SUMMARY.json" in interval["missing"]


def test_retain_scores_are_read_from_the_retain_evaluation(tmp_path):
    (tmp_path / "SUMMARY.json").write_text(json.dumps({"min_k_auc": 0.5}))
    scores, why_not = read_retain_scores(str(tmp_path))
    assert scores is None and why_not == f"{tmp_path / 'EVAL.json'} (the retain model's per-item scores) not found"
    (tmp_path / "EVAL.json").write_text(json.dumps({"identity": {}, "blocks": {"privleak_forget": [1]}}))
    scores, why_not = read_retain_scores(str(tmp_path))
    assert scores is None and "holds no per-item Min-40% scores" in why_not
    blocks = _muse_blocks([0.5, 1.0], [2.0, 3.0])
    (tmp_path / "EVAL.json").write_text(json.dumps({"identity": {}, "blocks": blocks}))
    assert read_retain_scores(str(tmp_path)) == ({"forget": [0.5, 1.0], "holdout": [2.0, 3.0]}, "")
    summary = muse_wmdp.muse_summary(blocks, {"min_k_auc": 1.0}, None, "the reason")
    assert summary["intervals"]["privleak"]["missing"] == "no interval: the reason"


def test_a_missing_logger_package_is_refused_before_anything_is_written(tmp_path, monkeypatch, capsys):
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "wandb" else real(name, *a))
    out = tmp_path / "run"
    assert (
        main(
            [
                "finetune",
                "--model",
                "tiny-llama",
                "--data",
                str(tmp_path / "x.jsonl"),
                "--out",
                str(out),
                "--report-to",
                "wandb",
            ]
        )
        == 2
    )
    assert "--report-to wandb needs the wandb package" in capsys.readouterr().err
    assert not out.exists()


@pytest.mark.parametrize("command", ["eval", "attack"])
def test_a_missing_model_is_named_before_the_missing_out(command, capsys):
    assert main([command, "--model", "/no/such/model", "--benchmark", "tofu"]) == 2
    err = capsys.readouterr().err
    assert "/no/such/model: model path does not exist" in err and "--out is required" not in err
