"""`tru targets --generator template`: deterministic per seed, varied across items, both task types."""

import json
import re

import pytest

from tru.cli import main
from tru.data.readers import read_records
from tru.data.records import ReasoningTarget
from tru.targets.config import TargetsConfig
from tru.targets.entities import passage_topic, question_entity
from tru.targets.run import generate_targets
from tru.targets.template import ALTERNATIVE, DECLINE, JUSTIFY, RECOGNISE

SCOPE = "personal information about the fictitious authors in TOFU"


def template_run(tmp_path, shared_data, name="t", **settings):
    settings.setdefault("forget", "tofu:forget05")
    config = TargetsConfig(tofu=str(shared_data / "tofu"), scope=SCOPE, out=str(tmp_path / f"{name}.jsonl"), **settings)
    return generate_targets(config)


def texts(report):
    return [(t.reasoning, t.refusal) for t in report.targets]


def test_deterministic_per_seed(tmp_path, shared_data):
    first = template_run(tmp_path, shared_data, "a")
    again = template_run(tmp_path, shared_data, "b")
    other_seed = template_run(tmp_path, shared_data, "c", seed=1)
    assert texts(first) == texts(again)
    changed = sum(x != y for x, y in zip(texts(first), texts(other_seed)))
    assert changed > 0.9 * len(first.targets)
    written = read_records(tmp_path / "a.jsonl", ReasoningTarget)
    assert [(t.reasoning, t.refusal) for t in written] == texts(first)


def test_varied_across_items_with_at_least_ten_patterns_each(tmp_path, shared_data):
    report = template_run(tmp_path, shared_data)
    assert report.summary["accepted"] == report.summary["items"] == 200
    patterns = [t.provenance["patterns"] for t in report.targets]
    for slot, phrasings in enumerate((RECOGNISE, JUSTIFY, DECLINE, ALTERNATIVE)):
        assert {p[slot] for p in patterns} == set(range(len(phrasings))) and len(phrasings) >= 10
    # with the entity masked, the texts themselves are still many different strings
    reasonings = {t.reasoning.replace(t.provenance["entity"], "E") for t in report.targets}
    refusals = {t.refusal.replace(t.provenance["entity"], "E") for t in report.targets}
    assert len(reasonings) >= 50 and len(refusals) >= 50
    assert len({(t.reasoning, t.refusal) for t in report.targets}) == 200  # duplicates were regenerated


def test_targets_name_entity_and_scope_and_never_restate_the_answer(tmp_path, shared_data):
    report = template_run(tmp_path, shared_data, forget="tofu:forget01")
    items = {
        json.loads(line)["question"]: json.loads(line)["answer"]
        for line in (shared_data / "tofu" / "forget01.jsonl").read_text().splitlines()
    }
    for target in report.targets:
        entity = target.provenance["entity"]
        assert entity in target.reasoning and entity in target.refusal and SCOPE in target.reasoning
        assert target.provenance["generator"] == "template" and target.provenance["prompt_version"]
        assert target.provenance["time"] and target.provenance["seed"] == 0
        answer_only = set(re.findall(r"\d+", items[target.question])) - set(re.findall(r"\d+", target.question))
        assert not answer_only & set(re.findall(r"\d+", target.reasoning + target.refusal))
    assert report.summary["leakage_rejections"] == 0


def test_duplicate_items_get_different_phrasings(tmp_path):
    forget = tmp_path / "forget.jsonl"
    forget.write_text((json.dumps({"question": "Where does Ada Quill live?", "answer": "In Oslo."}) + "\n") * 3)
    report = generate_targets(TargetsConfig(forget=str(forget), scope="Ada Quill", out=str(tmp_path / "t.jsonl")))
    assert len({(t.reasoning, t.refusal) for t in report.targets}) == 3
    assert report.summary["rejections"]["duplicate"] >= 2 and report.summary["regenerated"] == 2


def test_passages_name_their_topic(tmp_path, shared_data):
    lines = (shared_data / "muse_news" / "forget.jsonl").read_text().splitlines()[:6]
    forget = tmp_path / "news.jsonl"
    forget.write_text("\n".join(lines) + "\n")
    out = tmp_path / "news_targets.jsonl"
    code = main(
        [
            "targets",
            "--forget",
            str(forget),
            "--task",
            "passage",
            "--scope",
            "BBC news stories of 2023",
            "--out",
            str(out),
        ]
    )
    assert code == 0
    targets = read_records(out, ReasoningTarget)
    passages = [json.loads(x)["text"] for x in lines]
    assert [t.question for t in targets] == passages
    for target, passage in zip(targets, passages):
        topic = passage_topic(passage)
        assert topic in target.reasoning and topic in target.refusal and "question" not in target.reasoning
    # passages 3 and 6 of this file are the same text: the second gets another phrasing
    assert passages[2] == passages[5] and targets[2].refusal != targets[5].refusal
    assert main(["targets", "--forget", str(forget), "--scope", "x", "--out", str(tmp_path / "qa.jsonl")]) == 2


def test_entity_override_and_recognition():
    assert (
        question_entity("What genre is author Basil Mahfouz Al-Kuwaiti most known for?") == "Basil Mahfouz Al-Kuwaiti"
    )
    assert question_entity("How has Nikolai Abilov's book \"Thieves' Paradise\" been received?") == "Nikolai Abilov"
    assert question_entity("What influence has Cape Town, South Africa had on Raven Marais's works?") == "Raven Marais"
    assert (
        question_entity("What is the full name of the author born in Kuwait City, Kuwait on 08/09/1956?")
        == "the author born in Kuwait City, Kuwait on 08/09/1956"
    )
    assert question_entity("how does this work?") == "this subject"
    assert (
        passage_topic("Using Metasploit is common. Metasploit modules ... The Metasploit Framework.")
        == "Metasploit Framework"
    )


def test_entity_flag_applies_to_every_item(tmp_path, shared_data):
    report = template_run(tmp_path, shared_data, forget="tofu:forget01", entity="this author")
    assert all("this author" in t.reasoning and "this author" in t.refusal for t in report.targets)


@pytest.mark.parametrize(
    "flags, message",
    [
        ([], "--scope is required"),
        (["--scope", "s", "--generator", "openai"], "needs --base-url and --model"),
        (["--scope", "s", "--generator", "rtofu"], "needs --rtofu"),
        (["--scope", "s", "--task", "essay"], "--task must be one of qa, passage"),
        (["--scope", "s", "--max-tries", "0"], "--max-tries must be at least 1"),
    ],
)
def test_bad_settings_are_one_line_errors(tmp_path, capsys, flags, message):
    forget = tmp_path / "f.jsonl"
    forget.write_text('{"question": "q?", "answer": "a"}\n')
    code = main(["targets", "--forget", str(forget), "--out", str(tmp_path / "t.jsonl"), *flags])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and message in err[0]


def test_every_template_reasoning_is_grounded_and_every_refusal_is_one():
    """Hygiene holds template targets to the grounding rule too: no combination may fail it, and the
    evaluation must recognise every refusal the model is taught."""
    from tru.evaluate.text_rules import is_refusal
    from tru.targets.grounding import trace_problem

    question, entity = "Where was Mireille Ibarra born?", "Mireille Ibarra"
    scope = "personal information about Mireille Ibarra"
    for recognise in RECOGNISE:
        for justify in JUSTIFY:
            reasoning = f"{recognise} {justify}".format(entity=entity, scope=scope, item="question")
            assert trace_problem(reasoning, question, [scope], entity=entity) == "", reasoning
            assert len(reasoning.split()) <= 40 and "asks me to" not in reasoning
    for decline in DECLINE:
        for alternative in ALTERNATIVE:
            refusal = f"{decline} {alternative}".format(entity=entity)
            assert is_refusal(refusal), refusal
