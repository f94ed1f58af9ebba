"""`tru bench tofu|muse|wmdp` end to end on tiny-llama (a few authors / passages, 1 step), and the
N-author TOFU subset."""

import json

import pytest
from report_checks import assert_report_matches_summaries

from tru.cli import main
from tru.core.errors import ConfigError
from tru.data.readers import read_records
from tru.data.records import QAItem


def test_tofu_subset_keeps_the_forget_authors(shared_data, tmp_path):
    from tru.data.tofu import load_tofu
    from tru.pipeline.bench.tofu import write_tofu_subset

    counts = write_tofu_subset(str(shared_data / "tofu"), "forget01", 4, tmp_path)
    full = read_records(tmp_path / "full.jsonl", QAItem)
    forget = load_tofu(shared_data / "tofu", "forget01")
    assert counts["full"] == 80 and counts["retain99"] == 40 and counts["forget01"] == 40
    assert [x.question for x in full[40:]] == [x.question for x in forget]
    assert [x.question for x in full[:40]] == [x.question for x in load_tofu(shared_data / "tofu", "full")[:40]]
    retained = {x.question for x in full[:40]}
    perturbed = read_records(tmp_path / "retain_perturbed.jsonl", QAItem)
    assert len(perturbed) == 40 and {x.question for x in perturbed} <= retained


def test_a_preset_is_its_own_column_beside_the_plain_method():
    from tru.pipeline.bench.common import unlearn_configs
    from tru.pipeline.bench.config import BenchFields
    from tru.unlearn.methods import build_recipe

    fields = BenchFields(
        model="tiny-llama", methods="tru,tru@paper,npo", set={"tru@paper.lam": "2", "tru.alpha": "0.3"}
    )
    configs = unlearn_configs(fields, "f.jsonl", "r.jsonl", "t.jsonl")
    assert list(configs) == ["tru", "tru@paper", "npo"]
    plain, paper = configs["tru"], configs["tru@paper"]
    assert (plain.method, plain.preset, plain.set) == ("tru", "", {"alpha": "0.3"})
    assert (paper.method, paper.preset, paper.set, paper.targets) == ("tru", "paper", {"lam": "2"}, "t.jsonl")
    recipe = build_recipe(paper.method, paper.set, paper.preset)
    assert (recipe.lam, recipe.anchors, recipe.target_sampling) == (2.0, 0, "random")  # the preset, then --set
    assert build_recipe(plain.method, plain.set, plain.preset).lam == build_recipe("tru").lam


def test_template_targets_are_redone_when_the_template_changes(monkeypatch):
    """A bench's data stage holds the template's targets: its fingerprint must change with the
    template's version, or a rerun would train on targets an older template wrote."""
    from tru.pipeline.bench.common import targets_setting
    from tru.pipeline.bench.config import BenchFields
    from tru.targets import template

    fields = BenchFields(model="tiny-llama")
    assert targets_setting(fields) == f"template:{template.TEMPLATE_VERSION}"
    monkeypatch.setattr(template, "TEMPLATE_VERSION", "template-next")
    assert targets_setting(fields) == "template:template-next"
    assert targets_setting(BenchFields(model="tiny-llama", targets="mine.jsonl")) == "mine.jsonl"


@pytest.mark.parametrize(
    "extra, message",
    [
        (["--authors", "2"], "leaves no retain author"),
        (["--methods", "tru,nope"], "unknown method 'nope'"),
        (["--methods", "tru,tru@nope"], "method 'tru' has no preset 'nope' (its presets: paper)"),
        (["--methods", "tru,npo@paper"], "method 'npo' has no preset 'paper' (its presets: none)"),
        (["--set", "tru@paper.lam=2"], "'tru@paper' is neither a method nor one of --methods"),
        (["--set", "lam=5"], "METHOD.KEY=VALUE"),
        (["--authors", "201"], "--authors must be between"),
    ],
)
def test_bench_tofu_bad_options_exit_2(shared_data, tmp_path, capsys, extra, message):
    code = main(
        [
            "bench",
            "tofu",
            "--model",
            "tiny-llama",
            "--tofu",
            str(shared_data / "tofu"),
            "--out",
            str(tmp_path / "b"),
            *extra,
        ]
    )
    assert code == 2 and message in capsys.readouterr().err


TINY = [
    "--model",
    "tiny-llama",
    "--unlearn-steps",
    "1",
    "--batch-size",
    "2",
    "--max-length",
    "128",
    "--limit",
    "3",
    "--max-new-tokens",
    "8",
    "--finetune-batch-size",
    "8",
]


@pytest.mark.slow
def test_bench_tofu_end_to_end_and_cached(shared_data, tmp_path, capsys):
    out = tmp_path / "tofu"
    args = [
        "bench",
        "tofu",
        *TINY,
        "--tofu",
        str(shared_data / "tofu"),
        "--authors",
        "3",
        "--finetune-epochs",
        "1",
        "--methods",
        "tru,tru@paper,graddiff",
        "--attacks",
        "paraphrase,quantize",
        "--set",
        "tru.lam=5",
        "--out",
        str(out),
    ]
    assert main(args) == 0
    first = capsys.readouterr().out
    data = assert_report_matches_summaries(out / "report")
    assert [m["name"] for m in data["methods"]] == ["finetuned", "retain-oracle", "tru", "tru@paper", "graddiff"]
    assert json.loads((out / "unlearn" / "tru" / "config.json").read_text())["recipe"]["lam"] == 5.0
    paper = json.loads((out / "unlearn" / "tru@paper" / "config.json").read_text())["recipe"]
    assert (paper["lam"], paper["target_sampling"], paper["anchors"]) == (1.0, "random", 0)  # not tru.lam=5
    assert len(read_records(out / "data" / "tofu" / "full.jsonl", QAItem)) == 60
    tru = next(m for m in data["methods"] if m["name"] == "tru")
    assert tru["metrics"]["forget_quality"] is not None and "paraphrase/paraphrase" in tru["attacks"]
    assert "finetuned" in first and "0 of 15 stages reused" in first
    model = out / "unlearn" / "graddiff" / "model" / "model.safetensors"
    mtime = model.stat().st_mtime_ns
    assert main(args) == 0
    assert "15 of 15 stages reused" in capsys.readouterr().out and model.stat().st_mtime_ns == mtime
    # a changed unlearning budget redoes the methods, their evaluations, attacks and the report only
    assert main([*args[:-2], "--unlearn-steps", "2", "--out", str(out)]) == 0
    assert "5 of 15 stages reused" in capsys.readouterr().out  # data, finetune, oracle and their evaluations


@pytest.mark.slow
def test_bench_muse_and_wmdp_end_to_end(shared_data, tmp_path, capsys):
    muse = [
        "bench",
        "muse",
        *TINY,
        "--muse",
        str(shared_data / "muse_news"),
        "--passages",
        "2",
        "--chunk-words",
        "40",
        "--max-length",
        "256",
        "--retain-passages",
        "2",
        "--finetune-epochs",
        "1",
        "--methods",
        "tru,npo",
        "--out",
        str(tmp_path / "muse"),
    ]
    assert main(muse) == 0
    data = assert_report_matches_summaries(tmp_path / "muse" / "report")
    assert [m["name"] for m in data["methods"]] == ["finetuned", "retain-oracle", "tru", "npo"]
    assert {"knowmem_forget", "verbmem_forget", "privleak"} <= {m["key"] for m in data["metrics"]}
    wmdp = [
        "bench",
        "wmdp",
        *TINY,
        "--wmdp",
        str(shared_data / "wmdp"),
        "--fold",
        "2",
        "--retain-fold",
        "3",
        "--methods",
        "graddiff",
        "--out",
        str(tmp_path / "wmdp"),
    ]
    assert main(wmdp) == 0
    data = assert_report_matches_summaries(tmp_path / "wmdp" / "report")
    assert [m["name"] for m in data["methods"]] == ["original", "graddiff"]
    assert {"wmdp_forget", "wmdp_retain"} <= {m["key"] for m in data["metrics"]}
    capsys.readouterr()


def test_bench_wmdp_passes_its_scorer_to_the_evaluation(shared_data, tmp_path):
    from tru.pipeline.bench.config import WmdpBenchConfig
    from tru.pipeline.bench.corpus import wmdp_protocol

    settings = dict(model="tiny-llama", wmdp=str(shared_data / "wmdp"), out=str(tmp_path / "wmdp"))
    assert wmdp_protocol(WmdpBenchConfig(**settings)).evaluation.scorer == "tru"
    pytest.importorskip("lm_eval")
    assert wmdp_protocol(WmdpBenchConfig(**settings, scorer="harness")).evaluation.scorer == "harness"
    with pytest.raises(ConfigError, match="--scorer must be tru or harness"):
        WmdpBenchConfig(**settings, scorer="lm-eval").validate()
