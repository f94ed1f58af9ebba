import pytest

from tru.core.errors import ConfigError
from tru.data.formatting import ChatFormatter, format_target_text


def labelled_text(tokenizer, encoded):
    return tokenizer.decode([t for t, label in zip(encoded.input_ids, encoded.labels) if label != -100])


def test_qa_labels_only_the_answer_after_the_chat_template(tiny_tokenizer):
    formatter = ChatFormatter(tiny_tokenizer, max_length=128)
    encoded = formatter.qa("Where was Ada born?", "In Paris.")
    prompt = formatter.prompt_ids("Where was Ada born?")
    assert encoded.input_ids[: len(prompt)] == prompt
    assert encoded.labels[: len(prompt)] == [-100] * len(prompt)
    assert all(label != -100 for label in encoded.labels[len(prompt) :])
    assert labelled_text(tiny_tokenizer, encoded) == "In Paris.<|im_end|>"
    assert "<|im_start|>assistant\n" in tiny_tokenizer.decode(prompt)  # the model's own template


def test_qa_spans_labels_only_the_answer_tokens_inside_the_spans(tiny_tokenizer):
    formatter = ChatFormatter(tiny_tokenizer, max_length=128)
    answer = "She was born in Paris in 1931."
    whole = formatter.qa("Where was Ada born?", answer)
    spans = [(answer.index("Paris"), answer.index("Paris") + 5), (answer.index("1931"), answer.index("1931") + 4)]
    encoded = formatter.qa_spans("Where was Ada born?", answer, spans)
    assert encoded.input_ids == whole.input_ids  # the same tokens; only what is labelled differs
    kept = [i for i, label in enumerate(encoded.labels) if label != -100]
    assert all(encoded.labels[i] == whole.labels[i] for i in kept)
    assert "Paris" in labelled_text(tiny_tokenizer, encoded) and "1931" in labelled_text(tiny_tokenizer, encoded)
    assert not any(word in labelled_text(tiny_tokenizer, encoded) for word in ("born", "She", "<|im_end|>"))
    assert formatter.qa_spans("Where was Ada born?", answer, []).labels == [-100] * len(whole)


def test_qa_spans_stays_aligned_when_the_answer_is_cut(tiny_tokenizer):
    question = "Where was Ada born?"
    room = len(ChatFormatter(tiny_tokenizer).prompt_ids(question)) + 4
    formatter = ChatFormatter(tiny_tokenizer, max_length=room)
    answer = "Paris " * 20
    encoded = formatter.qa_spans(question, answer, [(0, len(answer))])
    assert len(encoded) == room
    assert labelled_text(tiny_tokenizer, encoded) == tiny_tokenizer.decode(encoded.input_ids[room - 4 : room - 1])


def test_qa_spans_needs_a_fast_tokenizer(tiny_tokenizer, monkeypatch):
    monkeypatch.setattr(type(tiny_tokenizer), "is_fast", property(lambda self: False))
    with pytest.raises(ConfigError, match="fast tokenizer"):
        ChatFormatter(tiny_tokenizer, max_length=128).qa_spans("Q?", "A.", [(0, 1)])


@pytest.mark.parametrize(
    "fmt, expected",
    [
        ("s1", "<|im_start|>think\nIt is in scope.\n<|im_start|>answer\nAnswer: I can't share that.<|im_end|>"),
        ("think-tags", "<think>It is in scope.</think>I can't share that.<|im_end|>"),
    ],
)
def test_target_formats(tiny_tokenizer, fmt, expected):
    formatter = ChatFormatter(tiny_tokenizer, max_length=256, target_format=fmt)
    encoded = formatter.target("Who is X?", "It is in scope.", "I can't share that.")
    assert labelled_text(tiny_tokenizer, encoded) == expected
    assert format_target_text("It is in scope.", "I can't share that.", fmt) + "<|im_end|>" == expected


def test_truncation_shortens_reasoning_and_keeps_refusal(tiny_tokenizer):
    formatter = ChatFormatter(tiny_tokenizer, max_length=80, target_format="s1")
    reasoning = " ".join(f"step{i}" for i in range(200))
    refusal = "I cannot help with that, but I can suggest public sources."
    encoded = formatter.target("Who is X?", reasoning, refusal)
    text = labelled_text(tiny_tokenizer, encoded)
    assert len(encoded) == 80
    assert text.endswith("Answer: " + refusal + "<|im_end|>")
    assert "step0" in text and "step199" not in text


def test_refusal_that_cannot_fit_is_an_error(tiny_tokenizer):
    formatter = ChatFormatter(tiny_tokenizer, max_length=40)
    with pytest.raises(ConfigError, match="raise --max-length"):
        formatter.target("Who is X?", "r", "a very long refusal " * 20)


def test_unknown_target_format(tiny_tokenizer):
    with pytest.raises(ConfigError, match="unknown target format"):
        ChatFormatter(tiny_tokenizer, target_format="xml")


def test_passages_label_every_token_but_bos(tiny_tokenizer):
    encoded = ChatFormatter(tiny_tokenizer, max_length=16).text("The quick brown fox " * 10)
    assert len(encoded) == 16
    assert encoded.labels[1:] == encoded.input_ids[1:]


def tiny_tru_setup(small_tofu, tmp_path, **settings):
    """A TRU run on tiny-llama and the small TOFU files, prepared up to its dataset (no training)."""
    from tru.unlearn.config import UnlearnConfig
    from tru.unlearn.run import prepare_unlearning

    return prepare_unlearning(
        UnlearnConfig(
            model="tiny-llama",
            out=str(tmp_path / "run"),
            forget=small_tofu["forget"],
            retain=small_tofu["retain"],
            targets=small_tofu["targets"],
            max_length=256,
            **settings,
        )
    )


@pytest.mark.parametrize(
    "preset, settings, opening",
    [
        ("", {}, "<|im_start|>think\n"),
        ("paper", {}, "<|im_start|>think\n"),
        ("", {"target_format": "think-tags"}, "<think>"),
    ],
)
def test_an_unlearning_run_lays_out_its_targets_in_the_recipes_format(small_tofu, tmp_path, preset, settings, opening):
    """TRU's targets are s1 by default and under --preset paper (docs/results.md, the target format rules);
    the method setting target_format switches the layout."""
    setup = tiny_tru_setup(small_tofu, tmp_path, preset=preset, set={"anchors": "0", **settings})
    target = labelled_text(setup.tokenizer, setup.dataset.stream_example("target", 0))
    assert target.startswith(opening) and target.endswith("<|im_end|>")


@pytest.mark.parametrize("rule", ["answer", "facts"])
def test_the_forget_stream_labels_the_tokens_of_its_rule(small_tofu, tmp_path, rule):
    """forget_tokens=facts (tru.unlearn.forget_tokens) leaves the question's words, function words and
    the end token out of the forget stream; answer (the default) labels the whole answer."""
    from tru.data.records import QAItem
    from tru.targets.hygiene import fact_spans

    setup = tiny_tru_setup(small_tofu, tmp_path, set={"anchors": "0", "forget_tokens": rule})
    item = setup.sources.forget[0]
    assert isinstance(item, QAItem)
    labelled = labelled_text(setup.tokenizer, setup.dataset.stream_example("forget", 0))
    if rule == "answer":
        assert labelled == item.answer + "<|im_end|>"
    else:
        facts = [item.answer[start:end].lower() for start, end in fact_spans(item.answer, item.question)]
        assert facts and all(word in labelled.lower() for word in facts)
        assert "<|im_end|>" not in labelled and len(labelled) < len(item.answer)
