"""Out-of-scope anchors: general questions answered by the model before unlearning, added to TRU's retain
stream (``--set anchors=N``) or asked by the scope check (``--anchor-checks N``)."""

import json

import pytest
from cli_runs import unlearn_args

from tru.cli import main
from tru.core.errors import ConfigError
from tru.data.anchors import TRAINING_ANCHORS, TUNING_ANCHORS
from tru.unlearn import anchors
from tru.unlearn.methods import build_recipe


def test_a_cut_answer_keeps_its_finished_sentences_only():
    assert (
        anchors.complete_sentences("Robert Louis Stevenson. He also wrote Bil", truncated=True)
        == "Robert Louis Stevenson."
    )
    assert anchors.complete_sentences("It is 3.5 km long, and", truncated=True) == ""  # "3.5" ends no sentence
    assert anchors.complete_sentences("Paris", truncated=True) == ""
    assert anchors.complete_sentences(" Paris ", truncated=False) == "Paris"
    assert anchors.complete_sentences("Yes! It is. Then", truncated=True) == "Yes! It is."


def test_questions_come_from_their_side_and_a_side_cannot_be_overdrawn():
    assert anchors.anchor_questions("training", 3) == list(TRAINING_ANCHORS[:3])
    assert anchors.anchor_questions("tuning", 2) == list(TUNING_ANCHORS[:2])
    with pytest.raises(ConfigError, match=f"holds {len(TUNING_ANCHORS)}"):
        anchors.anchor_questions("tuning", len(TUNING_ANCHORS) + 1)


class _Tokenizer:
    """Whitespace tokens: enough for self_answered's length check."""

    def __call__(self, text, add_special_tokens=False):
        return {"input_ids": text.split()}


class _Formatter:
    tokenizer = _Tokenizer()

    def prompt_ids(self, question):
        return [len(question)]


def test_self_answered_pairs_questions_with_the_models_answers_and_drops_empty_ones(monkeypatch):
    replies = iter(["Robert Louis Stevenson.", "one two three four", "It is Paris. And then the"])
    monkeypatch.setattr(
        anchors, "generate_from_ids", lambda model, tok, prompts, **kw: [next(replies) for _ in prompts]
    )
    items = anchors.self_answered(None, _Formatter(), ["Q1?", "Q2?", "Q3?"], max_new_tokens=4)
    # Q2's answer ran to the token limit with no finished sentence: left out; Q3's is cut back to one
    assert [(x.question, x.answer) for x in items] == [("Q1?", "Robert Louis Stevenson."), ("Q3?", "It is Paris.")]


def test_tru_takes_an_anchor_count_and_refuses_a_negative_one():
    assert build_recipe("tru").anchor_count() == 0
    assert build_recipe("tru", {"anchors": "5"}).anchor_count() == 5
    assert build_recipe("graddiff").anchor_count() == 0
    with pytest.raises(ConfigError, match="anchors must be 0"):
        build_recipe("tru", {"anchors": "-1"})


@pytest.mark.slow
def test_a_run_with_anchors_trains_and_checks_them_and_says_so(small_tofu, tmp_path, monkeypatch):
    from tru.unlearn import run as run_module

    # the tiny random model's answers are noise: give every anchor a fixed answer to follow them through
    def canned(model, formatter, questions, *, max_new_tokens):
        return [anchors.QAItem(question=q, answer="An answer.") for q in questions]

    monkeypatch.setattr(run_module, "self_answered", canned)
    out = tmp_path / "run"
    args = unlearn_args(small_tofu, out, "--summary-items", "0", "--validation-new-tokens", "8")
    assert main([*args, "--set", "anchors=3", "--anchor-checks", "2"]) == 0
    summary = json.loads((out / "summary.json").read_text())
    assert summary["anchors"] == {"training": 3, "tuning": 2}
    rows = [json.loads(line) for line in (out / "anchors.jsonl").read_text().splitlines()]
    assert [(r["side"], r["question"]) for r in rows] == [
        *(("training", q) for q in TRAINING_ANCHORS[:3]),
        *(("tuning", q) for q in TUNING_ANCHORS[:2]),
    ]
    check = json.loads((out / "scope_check.json").read_text())
    assert check["outside"]["answered"]["n"] == 2 and summary["scope_check"]["outside"]["answered"]["n"] == 2
    card = (out / "model" / "README.md").read_text()
    assert "out-of-scope anchors" in card


@pytest.mark.slow
def test_the_retain_stream_holds_the_training_anchors_after_the_retain_data(small_tofu, tmp_path, monkeypatch):
    from tru.unlearn import run as run_module
    from tru.unlearn.config import UnlearnConfig

    monkeypatch.setattr(
        run_module,
        "self_answered",
        lambda model, formatter, questions, *, max_new_tokens: [
            anchors.QAItem(question=q, answer="An answer.") for q in questions
        ],
    )
    config = UnlearnConfig(
        model="tiny-llama",
        out=str(tmp_path / "run"),
        forget=small_tofu["forget"],
        retain=small_tofu["retain"],
        targets=small_tofu["targets"],
        refusals=small_tofu["refusals"],
        max_length=128,
        set={"anchors": "4"},
    )
    setup = run_module.prepare_unlearning(config)
    retain = setup.sources.retain
    assert [x.question for x in retain[-4:]] == list(TRAINING_ANCHORS[:4])
    assert not any(x.question in TRAINING_ANCHORS for x in retain[:-4])
    assert setup.validation.outside == [] and setup.anchors["training"] == retain[-4:]


def test_anchor_checks_must_not_be_negative(small_tofu, tmp_path, capsys):
    assert main(unlearn_args(small_tofu, tmp_path / "run", "--anchor-checks", "-1")) != 0
    assert "--anchor-checks" in capsys.readouterr().err
