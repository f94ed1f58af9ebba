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
    from tru.unlearn.config import UnlearnConfig
    from tru.unlearn.run import prepare_unlearning

    config = UnlearnConfig(
        model="tiny-llama",
        out=str(tmp_path / "run"),
        forget=small_tofu["forget"],
        retain=small_tofu["retain"],
        targets=small_tofu["targets"],
        max_length=256,
        preset=preset,
        set={"anchors": "0", **settings},
    )
    setup = prepare_unlearning(config)
    target = labelled_text(setup.tokenizer, setup.dataset.stream_example("target", 0))
    assert target.startswith(opening) and target.endswith("<|im_end|>")
