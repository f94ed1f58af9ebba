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
    assert anchors.anchor_questions("training", 3) == [q for q, _ in TRAINING_ANCHORS[:3]]
    assert [(x.question, x.answer) for x in anchors.reference_items("tuning", 2)] == list(TUNING_ANCHORS[:2])
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


def test_tru_takes_anchors_their_share_of_the_retain_draws_and_whose_answers():
    assert build_recipe("tru").anchoring() == (len(TRAINING_ANCHORS), 0.5, "reference")  # the default
    assert build_recipe("tru", preset="paper").anchoring() == (0, 0.0, "reference")
    settings = {"anchors": "5", "anchor_share": "0.25", "anchor_answers": "reference"}
    assert build_recipe("tru", settings).anchoring() == (5, 0.25, "reference")
    assert build_recipe("tru", {"anchor_share": "0"}).anchoring().count == 0  # never drawn: none answered
    assert build_recipe("graddiff").anchoring().count == 0
    for count in ("-1", str(len(TRAINING_ANCHORS) + 1)):
        with pytest.raises(ConfigError, match="anchors must be 0"):
            build_recipe("tru", {"anchors": count})
    with pytest.raises(ConfigError, match="anchor_share must be in"):
        build_recipe("tru", {"anchor_share": "1"})
    with pytest.raises(ConfigError, match="anchor_answers must be one of reference, model"):
        build_recipe("tru", {"anchor_answers": "gold"})


def _canned(model, formatter, questions, **settings):
    """The tiny random model's answers are noise: a fixed answer for every anchor, to follow them through."""
    return [anchors.QAItem(question=q, answer="An answer.") for q in questions]


def test_answers_are_cached_per_model_and_settings(tmp_path, monkeypatch):
    monkeypatch.setenv("TRU_CACHE", str(tmp_path))
    calls = []

    def generate(model, tok, prompts, **kw):
        calls.append(len(prompts))
        return ["Robert Louis Stevenson." for _ in prompts]

    monkeypatch.setattr(anchors, "generate_from_ids", generate)
    ask = dict(fingerprint="files:abc", settings={"dtype": "float32"}, max_new_tokens=16)
    first = anchors.cached_self_answered(None, _Formatter(), ["Q1?", "Q2?"], **ask)
    again = anchors.cached_self_answered(None, _Formatter(), ["Q1?", "Q2?"], **ask)
    assert first == again and calls == [2]  # the second call read the cache
    anchors.cached_self_answered(None, _Formatter(), ["Q1?", "Q2?"], **{**ask, "fingerprint": "files:other"})
    anchors.cached_self_answered(None, _Formatter(), ["Q1?", "Q2?"], **{**ask, "max_new_tokens": 8})
    assert calls == [2, 2, 2]  # another model, another length: generated again
    path = anchors.cache_path("files:abc", {"dtype": "float32", "max_new_tokens": 16}, ["Q1?", "Q2?"])
    path.write_text("{torn", encoding="utf-8")
    assert anchors.cached_self_answered(None, _Formatter(), ["Q1?", "Q2?"], **ask) == first and calls[-1] == 2
    assert len(calls) == 4  # a damaged cache file is answered again, not trusted


@pytest.mark.slow
def test_a_run_with_anchors_trains_and_checks_them_and_says_so(small_tofu, tmp_path, monkeypatch):
    from tru.unlearn import run as run_module

    monkeypatch.setattr(run_module, "cached_self_answered", _canned)
    out = tmp_path / "run"
    args = unlearn_args(small_tofu, out, "--summary-items", "0", "--validation-new-tokens", "8")
    assert main([*args, "--set", "anchors=3", "--set", "anchor_answers=model", "--anchor-checks", "2"]) == 0
    summary = json.loads((out / "summary.json").read_text())
    assert summary["anchors"] == {"training": 3, "tuning": 2}
    rows = [json.loads(line) for line in (out / "anchors.jsonl").read_text().splitlines()]
    assert [(r["side"], r["question"], r["answer"]) for r in rows] == [
        *(("training", q, "An answer.") for q, _ in TRAINING_ANCHORS[:3]),
        *(("tuning", q, a) for q, a in TUNING_ANCHORS[:2]),  # the tuning side: always the reference answers
    ]
    check = json.loads((out / "scope_check.json").read_text())
    assert check["outside"]["answered"]["n"] == 2 and summary["scope_check"]["outside"]["answered"]["n"] == 2
    card = (out / "model" / "README.md").read_text()
    assert "out-of-scope anchors" in card


@pytest.mark.slow
def test_anchors_take_their_share_of_the_retain_draws_and_the_retain_data_keeps_the_rest(
    small_tofu, tmp_path, monkeypatch
):
    from tru.unlearn import run as run_module
    from tru.unlearn.config import UnlearnConfig

    monkeypatch.setattr(run_module, "cached_self_answered", _canned)
    settings = dict(
        model="tiny-llama",
        out=str(tmp_path / "run"),
        forget=small_tofu["forget"],
        retain=small_tofu["retain"],
        targets=small_tofu["targets"],
        refusals=small_tofu["refusals"],
        max_length=128,
    )
    own = {"anchors": "4", "anchor_share": "0.5", "anchor_answers": "model"}
    setup = run_module.prepare_unlearning(UnlearnConfig(**settings, set=own))
    assert [x.question for x in setup.sources.anchors] == [q for q, _ in TRAINING_ANCHORS[:4]]
    assert not any(x.question in dict(TRAINING_ANCHORS) for x in setup.sources.retain)
    assert setup.validation.outside == [] and setup.anchors["training"] == list(setup.sources.anchors)
    dataset = setup.dataset
    anchor_ids = {tuple(setup.formatter.qa(q, "An answer.").input_ids) for q, _ in TRAINING_ANCHORS[:4]}
    draws = []
    for epoch in range(50):
        dataset.set_epoch(epoch)
        draws += [tuple(dataset.stream_example("retain", i).input_ids) for i in range(len(dataset))]
    share = sum(d in anchor_ids for d in draws) / len(draws)
    assert 0.42 < share < 0.58  # about half of the seeded draws (binomial sd 0.02 over 300 draws)
    plain = run_module.prepare_unlearning(UnlearnConfig(**settings, set={"anchors": "0"}))
    assert list(plain.sources.anchors) == [] and plain.dataset.anchor_share == 0.0
    monkeypatch.setattr(run_module, "cached_self_answered", None)  # reference answers generate nothing
    referenced = run_module.prepare_unlearning(UnlearnConfig(**settings, set={"anchor_answers": "reference"}))
    assert [(x.question, x.answer) for x in referenced.sources.anchors] == list(TRAINING_ANCHORS)


def test_anchor_checks_must_not_be_negative(small_tofu, tmp_path, capsys):
    assert main(unlearn_args(small_tofu, tmp_path / "run", "--anchor-checks", "-1")) != 0
    assert "--anchor-checks" in capsys.readouterr().err
