import json

import pytest

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


def test_fast_demo_runs_end_to_end(tmp_path):
    from tru.demo import run_demo

    root = run_demo(str(tmp_path / "demo"), model="tiny-llama", fast=True)
    results = json.loads((root / "results.json").read_text())
    assert len(results["examples"]) == 4 and set(results["nll_after"]) == {"forget", "retain"}
    # a second run reuses the cached models
    mtime = (root / "finetune" / "model" / "model.safetensors").stat().st_mtime
    run_demo(str(tmp_path / "demo"), model="tiny-llama", fast=True)
    assert (root / "finetune" / "model" / "model.safetensors").stat().st_mtime == mtime
