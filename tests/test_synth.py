"""The synthetic benchmark: deterministic, disjoint, complete, multilingual."""

import json

from tru.cli import main
from tru.data import QAItem, read_records
from tru.data.synth import synth_benchmark


def test_deterministic_per_seed_and_different_across_seeds():
    assert synth_benchmark(12, seed=5) == synth_benchmark(12, seed=5)
    assert synth_benchmark(12, seed=5)["forget"] != synth_benchmark(12, seed=6)["forget"]


def test_splits_are_disjoint_by_person_and_question():
    data = synth_benchmark(30, seed=2)
    people = data["meta"]["people"]
    assert not set(people["forget"]) & set(people["retain"]) and not set(people["holdout"]) & set(people["retain"])
    questions = {split: {r["question"] for r in data[split]} for split in ("forget", "holdout", "retain")}
    assert not questions["forget"] & questions["retain"] and not questions["holdout"] & questions["forget"]
    assert data["meta"]["counts"] == {"forget": 21, "holdout": 21, "retain": 168, "world_facts": 12, "real_authors": 10}


def test_every_item_has_tofu_fields_and_distinct_perturbations():
    for record in synth_benchmark(20, seed=0)["forget"] + synth_benchmark(20, seed=0)["retain"]:
        item = QAItem.from_dict(record)
        assert item.paraphrased_question and item.paraphrased_answer
        assert len(item.perturbed_answer) == 3 and len(set(item.perturbed_answer)) == 3
        assert item.paraphrased_answer not in item.perturbed_answer
        assert set(item.translations) == {"es", "ru"}
        assert item.translations["es"]["question"] != item.question
        assert record["entity"] in item.translations["ru"]["answer"]


def test_cli_writes_readable_files(tmp_path):
    assert main(["data", "synth", "--entities", "10", "--seed", "1", "--out", str(tmp_path / "s")]) == 0
    forget = read_records(tmp_path / "s" / "forget.jsonl", QAItem)
    full = read_records(tmp_path / "s" / "full.jsonl", QAItem)
    assert len(forget) == 7 and {x.question for x in forget} <= {x.question for x in full}
    assert json.loads((tmp_path / "s" / "meta.json").read_text())["seed"] == 1
    first = (tmp_path / "s" / "forget.jsonl").read_bytes()
    main(["data", "synth", "--entities", "10", "--seed", "1", "--out", str(tmp_path / "s2")])
    assert (tmp_path / "s2" / "forget.jsonl").read_bytes() == first
