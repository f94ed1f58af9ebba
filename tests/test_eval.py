"""tru eval end to end on the tiny model: files written, values consistent, resumable."""

import json
import shutil

import pytest

import tru.metrics as m
from tru.config import EvalConfig
from tru.evaluate import tofu_suite
from tru.evaluate.run import evaluate


@pytest.fixture(scope="module")
def tofu_eval(shared_data, tmp_path_factory):
    out = tmp_path_factory.mktemp("eval") / "tofu"
    config = EvalConfig(
        model="tiny-llama",
        benchmark="tofu",
        tofu=str(shared_data / "tofu"),
        limit=5,
        max_new_tokens=12,
        batch_size=4,
        out=str(out),
    )
    printed = []
    evaluate(config, log=printed.append)
    return config, out, "\n".join(printed)


def test_tofu_eval_writes_per_item_values_and_summary(tofu_eval):
    _, out, printed = tofu_eval
    saved = json.loads((out / "EVAL.json").read_text())
    summary = json.loads((out / "SUMMARY.json").read_text())
    forget = saved["metrics"]["forget"]
    assert len(forget["prob"]) == len(forget["truth_ratio"]) == len(forget["generation"]["fact_leak"]) == 5
    assert len(saved["blocks"]["forget/candidates"]["perturbed_nll"][0]) == 5
    # aggregates are recomputable from the saved per-item values with the public API
    blocks = saved["blocks"]
    ratios = m.truth_ratio(blocks["forget/candidates"]["paraphrased_nll"], blocks["forget/candidates"]["perturbed_nll"])
    assert summary["forget"]["truth_ratio"] == pytest.approx(m.truth_ratio_statistic(ratios, "forget"))
    assert summary["forget"]["prob"] == pytest.approx(float(m.probability(blocks["forget/answer"]["nll"]).mean()))
    components = {
        f"{r}/{n}": summary[r][k]
        for r in ("retain", "real_authors", "world_facts")
        for n, k in (("prob", "prob"), ("rouge", "rougeL_recall"), ("truth_ratio", "truth_ratio"))
    }
    assert summary["model_utility"] == pytest.approx(m.model_utility(components))
    assert set(summary["mia_auc"]) == {"loss", "zlib", "min_k", "min_k_plus_plus"}
    assert summary["offline_judge"]["label"].startswith("offline rule-based proxy")
    # every registered generation metric, with n and an interval that holds its value
    from tru.evaluate.registry import metrics_for

    for group, side, n in (("forget", "forget", 5), ("forget_paraphrase", "forget", 5), ("out_of_scope", "retain", 15)):
        assert set(summary["generation"][group]) == {x.name for x in metrics_for(side)}
        gibberish = summary["generation"][group]["gibberish"]
        assert gibberish["n"] == n and gibberish["low"] <= gibberish["value"] <= gibberish["high"]
        assert gibberish["value"] == pytest.approx(
            sum(
                v
                for split in (
                    {"forget": ["forget"], "forget_paraphrase": ["forget"]}.get(group)
                    or ["retain", "real_authors", "world_facts"]
                )
                for v in saved["metrics"][split][
                    "generation_paraphrase" if group == "forget_paraphrase" else "generation"
                ]["gibberish"]
            )
            / n
        )
    intervals = summary["intervals"]
    assert intervals["forget.prob"]["value"] == pytest.approx(summary["forget"]["prob"])
    assert intervals["forget.truth_ratio"]["value"] == pytest.approx(summary["forget"]["truth_ratio"])
    utility = intervals["model_utility"]
    assert utility["value"] == pytest.approx(summary["model_utility"]) and utility["n"] == 15
    assert utility["low"] <= utility["value"] <= utility["high"]
    # every MIA AUC with its n (forget + holdout items) and interval, recomputable from the stored scores
    forget_mia, holdout_mia = blocks["forget/answer"]["mia"], blocks["holdout/answer"]["mia"]
    for name, auc in summary["mia_auc"].items():
        interval = intervals[f"mia_auc.{name}"]
        assert auc == interval["value"] == m.mia_auc(forget_mia[name], holdout_mia[name])
        assert interval == m.auc_interval(forget_mia[name], holdout_mia[name]).to_dict()
        assert interval["n"] == 10 and interval["low"] <= auc <= interval["high"]
    # no --retain-eval: forget quality says what it needs, in SUMMARY.json and in the printed table
    assert summary["forget_quality"] == {
        "value": None,
        "low": None,
        "high": None,
        "n": 0,
        "missing": tofu_suite.FORGET_QUALITY_NEEDS,
    }
    assert (
        "forget_quality" in printed
        and "n/a (needs --retain-eval: the evaluation folder of the retain model"
        in next(line for line in printed.splitlines() if line.startswith("forget_quality "))
    )


def test_rerun_reuses_finished_blocks(tofu_eval, shared_data):
    config, out, _ = tofu_eval
    saved = json.loads((out / "EVAL.json").read_text())
    saved["blocks"]["forget/answer"]["nll"] = [0.0] * 5  # a planted value: kept only if not recomputed
    (out / "EVAL.json").write_text(json.dumps(saved))
    evaluate(config, log=lambda *_: None)
    summary = json.loads((out / "SUMMARY.json").read_text())
    assert summary["forget"]["prob"] == pytest.approx(1.0)
    assert "forget/generations" in summary["reused_blocks"]


def test_forget_quality_against_a_retain_evaluation(tofu_eval, tmp_path):
    config, out, _ = tofu_eval
    other = EvalConfig(**{**config.__dict__, "out": str(tmp_path / "again"), "retain_eval": str(out)})
    evaluate(other, log=lambda *_: None)
    summary = json.loads((tmp_path / "again" / "SUMMARY.json").read_text())
    assert summary["forget_quality"] == pytest.approx(1.0)  # the same model: identical truth ratios
    assert summary["forget_quality_n"] == 5


def test_changed_settings_do_not_mix_into_an_old_evaluation(tofu_eval):
    from tru.core.errors import ConfigError

    config, out, _ = tofu_eval
    with pytest.raises(ConfigError, match="other settings"):
        evaluate(EvalConfig(**{**config.__dict__, "limit": 3}), log=lambda *_: None)


def test_wmdp_and_muse_news(shared_data, tmp_path):
    wmdp = evaluate(
        EvalConfig(
            model="tiny-llama",
            benchmark="wmdp",
            wmdp=str(shared_data / "wmdp" / "bio.jsonl"),
            limit=8,
            out=str(tmp_path / "wmdp"),
        ),
        log=lambda *_: None,
    )
    summary = json.loads((wmdp / "SUMMARY.json").read_text())
    block = json.loads((wmdp / "EVAL.json").read_text())["blocks"]["wmdp_bio"]
    assert len(block["choice_log_probs"]) == 8 and len(block["choice_log_probs"][0]) == 4
    assert summary["wmdp_bio_accuracy"] == pytest.approx(
        m.multiple_choice_accuracy(block["choice_log_probs"], block["answer"])
    )
    accuracy = summary["intervals"]["wmdp_bio_accuracy"]
    assert accuracy["n"] == 8 and accuracy["value"] == pytest.approx(summary["wmdp_bio_accuracy"])
    muse = evaluate(
        EvalConfig(
            model="tiny-llama",
            benchmark="muse-news",
            muse=str(shared_data / "muse_news"),
            limit=4,
            max_length=128,
            out=str(tmp_path / "muse"),
        ),
        log=lambda *_: None,
    )
    summary = json.loads((muse / "SUMMARY.json").read_text())
    assert {"knowmem_forget", "knowmem_retain", "verbmem_forget", "min_k_auc"} <= set(summary)
    for key in ("knowmem_forget", "knowmem_retain", "verbmem_forget"):  # every mean with its n and interval
        interval = summary["intervals"][key]
        assert interval["value"] == pytest.approx(summary[key]) and interval["n"] >= 1
        assert interval["low"] <= interval["value"] <= interval["high"]
    blocks = json.loads((muse / "EVAL.json").read_text())["blocks"]
    scores = blocks["privleak_forget"]["min_k"], blocks["privleak_holdout"]["min_k"]
    assert summary["intervals"]["min_k_auc"] == m.auc_interval(*scores).to_dict()
    assert summary["intervals"]["min_k_auc"]["value"] == summary["min_k_auc"] == m.mia_auc(*scores)
    assert summary["intervals"]["min_k_auc"]["n"] == 8
    assert summary["privleak"]["value"] is None and summary["privleak"]["missing"].startswith("needs --retain-eval")
    # against a retain evaluation with per-item scores of the same passages (here: the same model, its
    # blocks reused), privleak has a paired interval: identical scores give exactly 0 in every resample
    again = tmp_path / "muse-again"
    again.mkdir()
    shutil.copy(muse / "EVAL.json", again / "EVAL.json")
    evaluate(
        EvalConfig(
            model="tiny-llama",
            benchmark="muse-news",
            muse=str(shared_data / "muse_news"),
            limit=4,
            max_length=128,
            out=str(again),
            retain_eval=str(muse),
        ),
        log=lambda *_: None,
    )
    summary = json.loads((again / "SUMMARY.json").read_text())
    assert summary["privleak"] == 0.0
    assert summary["intervals"]["privleak"] == {"value": 0.0, "low": 0.0, "high": 0.0, "n": 8}


def test_custom_benchmark_and_bad_options(small_tofu, tmp_path):
    from tru.core.errors import ConfigError

    out = evaluate(
        EvalConfig(
            model="tiny-llama",
            benchmark="custom",
            forget=small_tofu["forget"],
            retain=small_tofu["retain"],
            limit=3,
            max_new_tokens=8,
            out=str(tmp_path / "c"),
        ),
        log=lambda *_: None,
    )
    summary = json.loads((out / "SUMMARY.json").read_text())
    assert {"forget", "retain", "generation", "intervals"} <= set(summary) and "uq" in summary["forget"]
    assert summary["generation"]["out_of_scope"]["answered"]["n"] == 3  # the retain split, limited to 3
    assert summary["generation"]["forget"]["fact_leak"]["n"] == 3
    with pytest.raises(ConfigError, match="needs --wmdp"):
        evaluate(EvalConfig(model="tiny-llama", benchmark="wmdp", out=str(tmp_path / "x")))
    with pytest.raises(ConfigError, match="unknown benchmark"):
        evaluate(EvalConfig(model="tiny-llama", benchmark="mmlu", out=str(tmp_path / "x")))


def test_generation_blocks_share_one_run_and_store_only_what_is_missing(
    tiny_finetuned, small_tofu, tmp_path, monkeypatch
):
    """Blocks generated together equal blocks generated one by one; finished blocks are not regenerated."""
    from tru.data.formatting import ChatFormatter
    from tru.data.readers import read_records
    from tru.data.records import QAItem
    from tru.evaluate import qa_blocks
    from tru.evaluate.store import EvalStore
    from tru.modeling.models import ModelSettings, load_model, load_tokenizer

    tokenizer = load_tokenizer(tiny_finetuned)
    em = qa_blocks.EvalModel(
        model=load_model(ModelSettings(name=tiny_finetuned)),
        tokenizer=tokenizer,
        formatter=ChatFormatter(tokenizer, 160),
        batch_size=64,
        max_new_tokens=12,
    )
    forget = [x.question for x in read_records(small_tofu["forget"], QAItem)]
    retain = [x.question for x in read_records(small_tofu["retain"], QAItem)]
    requests = {"forget/generations": forget, "retain/generations": retain[:5], "empty/generations": []}
    together = qa_blocks.generation_blocks(em, requests)
    for key, questions in requests.items():
        alone = qa_blocks.generation_block(em, questions)
        assert together[key] == alone, key
        assert together[key]["question"] == questions

    store = EvalStore(tmp_path / "EVAL.json", {"x": 1})
    store.put("forget/generations", {"text": ["kept"]})
    asked = []
    real = qa_blocks.generate_from_ids
    monkeypatch.setattr(
        qa_blocks,
        "generate_from_ids",
        lambda model, tok, prompts, **kw: asked.append(len(prompts)) or real(model, tok, prompts, **kw),
    )
    logged = []
    blocks = qa_blocks.store_generations(store, em, requests, logged.append)
    assert asked == [5]  # one run, for the missing non-empty block only
    assert blocks["forget/generations"] == {"text": ["kept"]}
    assert blocks["retain/generations"] == together["retain/generations"]
    assert (
        json.loads((tmp_path / "EVAL.json").read_text())["blocks"]["retain/generations"]
        == together["retain/generations"]
    )
    assert "  forget/generations: reused" in logged
