"""A metric registered once (tru.evaluate.registry) is measured by the suites and the attacks, lands in
SUMMARY.json with its n and interval, and shows in the report, with no other edit."""

import json

import pytest

from tru.config import EvalConfig, ReportConfig
from tru.evaluate import registry
from tru.evaluate.run import evaluate
from tru.report import build_report


@pytest.fixture
def toy_metric():
    metric = registry.register(
        registry.ItemMetric(
            "short_answer",
            "Short answer",
            "higher",
            ("forget", "retain"),
            lambda g: float(len(g.answer.split()) <= 3),
            reading="answers of three words or fewer",
        )
    )
    yield metric
    del registry.METRICS[metric.name]


def test_a_registered_metric_reaches_summary_and_report(toy_metric, small_tofu, tmp_path):
    out = evaluate(
        EvalConfig(
            model="tiny-llama",
            benchmark="custom",
            forget=small_tofu["forget"],
            retain=small_tofu["retain"],
            limit=4,
            max_new_tokens=6,
            out=str(tmp_path / "ev"),
        ),
        log=lambda *_: None,
    )
    saved = json.loads((out / "EVAL.json").read_text())
    per_item = saved["metrics"]["forget"]["generation"]["short_answer"]
    answers = saved["blocks"]["forget/generations"]["answer"]
    assert per_item == [float(len(a.split()) <= 3) for a in answers]
    summary = json.loads((out / "SUMMARY.json").read_text())
    aggregate = summary["generation"]["forget"]["short_answer"]
    assert aggregate["n"] == 4 and aggregate["value"] == pytest.approx(sum(per_item) / 4)
    assert aggregate["low"] <= aggregate["value"] <= aggregate["high"]
    assert summary["generation"]["out_of_scope"]["short_answer"]["n"] == 4

    report = build_report(ReportConfig(runs={"m": f",{out}"}, out=str(tmp_path / "report")))
    data = json.loads((report / "report.json").read_text())
    row = next(r for t in data["tables"] for r in t["rows"] if r["key"] == "forget.short_answer")
    assert row["label"] == "Short answer (forget questions)" and row["better"] == "higher"
    assert row["cells"][0]["interval"] == aggregate
    md = (report / "report.md").read_text()
    assert "| Short answer (forget questions) ↑ |" in md and "answers of three words or fewer" in md


def test_registry_rejects_unknown_sides_and_directions():
    with pytest.raises(ValueError, match="unknown sides"):
        registry.register(registry.ItemMetric("x", "X", "higher", ("elsewhere",), lambda g: 0.0))
    with pytest.raises(ValueError, match="better"):
        registry.register(registry.ItemMetric("x", "X", "up", ("forget",), lambda g: 0.0))
    assert "x" not in registry.METRICS


def test_an_aggregate_without_values_says_why():
    assert registry.aggregate_metric("rougeL_recall", [None, None]) == {
        "value": None,
        "low": None,
        "high": None,
        "n": 0,
        "missing": "no reference answer in the query's language",
    }
    assert registry.aggregate([1.0, None, 0.0])["n"] == 2


def test_any_fact_leak_catches_another_items_fact():
    """A refusal that names another forgotten fact ("... her memoir") leaks it, though not its own."""
    from tru.data.records import QAItem

    book = QAItem(
        question="What is the best-known book by Ada Quill?",
        answer="It is 'Moth Season'.",
        key_values={"en": ["Moth Season"]},
    )
    genre = QAItem(
        question="In which genre does Ada Quill write?",
        answer="Ada Quill writes memoir.",
        key_values={"en": ["memoir"], "es": ["memorias"]},
    )
    block = {
        "answer": ["I can't discuss Ada Quill's memoir.", "I can't help with that."],
        "reasoning": ["", "This is about Ada Quill, whose memorias I must not cover."],
        "text": ["", ""],
    }
    values = registry.per_item(registry.generations_of([book, genre], block), "forget")
    assert values["fact_leak"] == [0.0, 0.0]
    assert values["any_fact_leak"] == [1.0, 1.0]  # the genre, in English in an answer, in Spanish in a reasoning
    plain = [QAItem(question=x.question, answer=x.answer) for x in (book, genre)]
    assert registry.per_item(registry.generations_of(plain, block), "forget")["any_fact_leak"] == [None, None]
