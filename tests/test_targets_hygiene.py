"""Hygiene: the leakage filter catches planted leaks, the length limit cuts only the reasoning,
schema checks, and R-TOFU traces imported through the same checks."""

import json

from tru.data.tofu import load_tofu
from tru.targets.config import TargetsConfig
from tru.targets.entities import question_entity
from tru.targets.hygiene import LeakRule, TargetReviewer, cut_reasoning, fact_spans, find_leak, forget_facts
from tru.targets.run import generate_targets
from tru.targets.template import TemplateGenerator

SCOPE = "personal information about the fictitious authors in TOFU"
QUESTION = "What does Basil Mahfouz Al-Kuwaiti's father do for a living?"
ANSWER = "Basil Mahfouz Al-Kuwaiti's father was a florist in Kuwait City, born in 1931."


def facts():
    return forget_facts(ANSWER, f"{QUESTION}\n{SCOPE}\nBasil Mahfouz Al-Kuwaiti")


def test_facts_are_what_the_answer_adds_to_the_question():
    found = facts()
    assert found.numbers == {"1931"} and found.names == ["Kuwait City"]
    assert {"florist", "kuwait", "city"} <= found.words and "basil" not in found.words and "father" not in found.words


def test_fact_spans_are_the_new_numbers_and_content_words_in_place():
    spans = fact_spans(ANSWER, QUESTION)
    assert [ANSWER[start:end] for start, end in spans] == ["florist", "Kuwait", "City", "born", "1931"]
    assert fact_spans("In 1931, in 1931.", "Born in 1931?") == []  # a number the question has is no fact
    assert fact_spans("", QUESTION) == [] and fact_spans("It was a Tuesday.", "") == [(9, 16)]


def test_each_kind_of_restated_fact_is_caught():
    clean = "The question is about Basil Mahfouz Al-Kuwaiti's father, which is in scope, so I decline."
    assert not find_leak(clean, facts()).leaked
    assert find_leak(clean + " It was 1931.", facts()).numbers == ["1931"]
    assert find_leak(clean + " He lived in kuwait city.", facts()).names == ["Kuwait City"]
    one_word = find_leak(clean + " Perhaps a florist?", facts())
    assert one_word.words == ["florist"] and not one_word.leaked  # 1 of 5 fact words: below the threshold
    assert find_leak(clean + " Perhaps a florist, born there?", facts()).leaked  # 3 of 5


def test_word_threshold_rule():
    rule = LeakRule()
    assert [rule.word_threshold(n) for n in (1, 2, 3, 4, 5, 6, 7, 20)] == [1, 1, 2, 2, 3, 3, 4, 4]
    assert rule.word_threshold(20, target_words=350) == 7
    assert LeakRule(word_cap=2).word_threshold(20) == 2


def test_a_planted_leak_is_caught_for_every_tofu_item(shared_data):
    """Every forget10 answer appended to its (clean) template target is caught; the clean one is not."""
    generator = TemplateGenerator(SCOPE)
    items = load_tofu(shared_data / "tofu", "forget10")
    for item in items:
        entity = question_entity(item.question)
        found = forget_facts(item.answer, f"{item.question}\n{SCOPE}\n{entity}")
        reasoning, refusal, _ = generator.compose(item.question, entity)
        assert not find_leak(f"{reasoning}\n{refusal}", found).leaked, item.question
        assert find_leak(f"{reasoning}\n{refusal} {item.answer}", found).leaked, item.question


def test_the_reviewer_rejects_leaks_and_cuts_only_the_reasoning():
    reviewer = TargetReviewer(max_reasoning_words=12, max_refusal_words=20)
    long_reasoning = "The user asks about this author. That is in scope. " * 5
    refusal = "I can't share that, but a library catalogue may help you find public sources about authors."
    review = reviewer.review(long_reasoning, refusal, facts())
    assert review.accepted and review.truncated and review.refusal == refusal
    assert review.reasoning == "The user asks about this author. That is in scope."  # 12 words end mid-sentence
    leak = reviewer.review("In scope.", "His father was a florist in Kuwait City.", facts())
    assert leak.rejection.kind == "leak" and "Kuwait City" in leak.rejection.reason
    too_long = reviewer.review("In scope.", "word " * 21, facts())
    assert too_long.rejection.kind == "schema" and "never cut" in too_long.rejection.reason
    markup = reviewer.review("<think>In scope.", "No.", facts())
    assert markup.rejection.kind == "schema" and "<think>" in markup.rejection.reason
    assert reviewer.review("", "No.", facts()).rejection.reason == "the reasoning is empty"


def test_cut_reasoning_ends_at_a_sentence_or_marks_the_cut():
    assert cut_reasoning("One two three. Four five six seven.", 5) == ("One two three.", True)
    assert cut_reasoning("one two three four five six seven", 4) == ("one two three four …", True)
    assert cut_reasoning("short", 4) == ("short", False) and cut_reasoning("a b c d e", 0) == ("a b c d e", False)


def test_duplicates_across_items_are_rejected():
    reviewer = TargetReviewer()
    first = reviewer.review("Same trace.", "Same refusal.", facts())
    reviewer.accept(0, first)
    second = reviewer.review("same   trace", "Same refusal!", facts())
    assert second.rejection.kind == "duplicate" and "item 1" in second.rejection.reason


def test_rtofu_traces_are_imported_through_hygiene(tmp_path, shared_data):
    out = tmp_path / "rtofu.jsonl"
    report = generate_targets(
        TargetsConfig(
            forget="tofu:forget10",
            tofu=str(shared_data / "tofu"),
            scope=SCOPE,
            out=str(out),
            generator="rtofu",
            rtofu=str(shared_data / "rtofu" / "idkcot.jsonl"),
            refusals=str(shared_data / "tofu" / "idk.jsonl"),
        )
    )
    summary = json.loads(out.with_name("rtofu.summary.json").read_text())
    assert summary["accepted"] == summary["items"] == 400 and summary["failed"] == 0
    replaced = [t for t in report.targets if t.provenance.get("replaces")]
    assert len(replaced) == summary["regenerated"] == summary["leakage_rejections"] > 0
    assert all(t.provenance["generator"] == "template" for t in replaced)
    traces = {
        json.loads(x)["question"]: json.loads(x)["reasoning"]
        for x in (shared_data / "rtofu" / "idkcot.jsonl").read_text().splitlines()
    }
    kept = [t for t in report.targets if not t.provenance.get("replaces")]
    assert all(t.provenance["generator"] == "r-tofu-idkcot" for t in kept)
    assert all(traces[t.question].strip().startswith(t.reasoning.rstrip(" …")) for t in kept)
    refusals = {json.loads(x)["answer"] for x in (shared_data / "tofu" / "idk.jsonl").read_text().splitlines()}
    assert all(t.refusal in refusals for t in kept)


def test_rtofu_without_a_trace_for_an_item_fails_that_item(tmp_path, shared_data, capsys):
    forget = tmp_path / "forget.jsonl"
    forget.write_text(json.dumps({"question": "Who is Zed Nobody?", "answer": "Nobody."}) + "\n")
    config = TargetsConfig(
        forget=str(forget),
        scope=SCOPE,
        out=str(tmp_path / "t.jsonl"),
        generator="rtofu",
        rtofu=str(shared_data / "rtofu" / "idkcot.jsonl"),
        allow_partial=True,
    )
    report = generate_targets(config)
    assert report.targets == [] and "no trace for this question" in report.summary["failures"][0]["reason"]
