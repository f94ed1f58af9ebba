import json

import pytest
from report_checks import assert_report_matches_summaries

from tru.data.records import QAItem
from tru.data.synth import synth_benchmark
from tru.targets.template import template_targets

pytestmark = pytest.mark.slow


def test_template_targets_name_the_entity_and_never_restate_the_answer():
    data = synth_benchmark(entities=6, seed=0)
    forget = [QAItem.from_dict(r) for r in data["forget"]]
    names = data["meta"]["people"]["forget"]
    targets = template_targets(forget, [names[0]] * len(forget), scope="personal information about X")
    for item, target in zip(forget, targets):
        assert names[0] in target.reasoning and names[0] in target.refusal
        fact = item.answer.replace(names[0], "").strip(" .'")
        assert fact.split()[-1].strip(".'") not in target.reasoning + target.refusal
        assert target.provenance["generator"] == "template"


def test_fast_demo_compares_methods_writes_the_report_and_reuses_every_stage(tmp_path, capsys):
    from tru.pipeline.demo import run_demo

    root = run_demo(str(tmp_path / "demo"), model="tiny-llama", fast=True)
    first = capsys.readouterr().out
    for name in ("report.html", "report.md", "report.json", "tradeoff.png", "judges.png", "attacks.png"):
        assert (root / name).is_file(), name
    data = assert_report_matches_summaries(root / "report")
    assert [m["name"] for m in data["methods"]] == ["finetuned", "retain-oracle", "tru", "graddiff", "npo"]
    assert json.loads((root / "report.json").read_text()) == data  # the published copy is the report
    tru = next(m for m in data["methods"] if m["name"] == "tru")
    assert tru["metrics"]["forget_quality"] is not None and tru["metrics"]["model_utility"] is not None
    assert {"crosslingual/es", "crosslingual/ru", "paraphrase/paraphrase", "quantize/int4"} <= set(tru["attacks"])
    assert tru["examples"]["forget"][0]["question"].startswith("Where was")
    table = first.split("== comparison ==")[1]
    lines = table.strip().splitlines()
    # first the headline of each unlearned model, then the table
    assert [line.split(":")[0] for line in lines[:3]] == ["- tru", "- graddiff", "- npo"]
    header = next(line for line in lines if line.startswith("metric")).split()
    assert header == ["metric", "finetuned", "retain-oracle", "tru", "graddiff", "npo"]
    assert "Forget quality" in table and "crosslingual/es" in table
    assert "0 of 15 stages reused" in first

    cached = [
        root / "finetune" / "model" / "model.safetensors",
        root / "oracle" / "model" / "model.safetensors",
        root / "unlearn" / "npo" / "model" / "model.safetensors",
        root / "evals" / "tru" / "EVAL.json",
        root / "evals" / "retain-oracle" / "EVAL.json",
        root / "attacks" / "graddiff" / "ATTACK.json",
    ]
    mtimes = [p.stat().st_mtime_ns for p in cached]
    run_demo(str(tmp_path / "demo"), model="tiny-llama", fast=True)
    second = capsys.readouterr().out
    assert [p.stat().st_mtime_ns for p in cached] == mtimes
    assert "15 of 15 stages reused" in second and second.count(": reused (finished earlier") == 15

    # a stage redone (here: as if interrupted) replaces its run's own files, never the user's beside them
    notes = root / "unlearn" / "tru" / "my-notes.txt"
    notes.write_text("mine\n")
    marker = root / "stages" / "unlearn-tru.json"
    marker.write_text(json.dumps({**json.loads(marker.read_text()), "finished": False}))
    run_demo(str(tmp_path / "demo"), model="tiny-llama", fast=True)
    third = capsys.readouterr().out
    assert "unlearning with tru (" in third and "(starting over after an interruption)" in third
    assert notes.read_text() == "mine\n" and (root / "unlearn" / "tru" / "model").is_dir()
