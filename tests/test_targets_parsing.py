"""Reading reasoning and refusal out of hand-written replies, and the prompt sets."""

import pytest

from tru.core.errors import ConfigError
from tru.targets.parsing import ReplyFormatError, parse_reply
from tru.targets.prompts import ALL_SETS, PROMPT_VERSION, build_prompt, feedback_note


def test_reasoning_channel_comes_first():
    parsed = parse_reply(
        '{"reasoning": "json trace", "refusal": "I can\'t help with that."}', reasoning_content="  channel trace "
    )
    assert (parsed.reasoning, parsed.refusal, parsed.source) == (
        "channel trace",
        "I can't help with that.",
        "reasoning_content",
    )
    plain = parse_reply("I can't help with that.", reasoning_content="channel trace")
    assert plain.refusal == "I can't help with that." and plain.reasoning == "channel trace"


def test_think_tags_then_json():
    parsed = parse_reply("<think>\nThis is in scope.\n</think>\n\nSorry, I can't share that.")
    assert (parsed.reasoning, parsed.refusal, parsed.source) == (
        "This is in scope.",
        "Sorry, I can't share that.",
        "think-tags",
    )
    with_json = parse_reply('<think>in scope</think>{"refusal": "No, but try a library."}')
    assert with_json.refusal == "No, but try a library." and with_json.source == "think-tags"


def test_structured_json_answer_with_fences_and_chatter():
    reply = 'Here you go:\n```json\n{"reasoning": "The user asks about X.", "refusal": "I cannot say."}\n```'
    parsed = parse_reply(reply)
    assert (parsed.reasoning, parsed.refusal, parsed.source) == ("The user asks about X.", "I cannot say.", "json")


@pytest.mark.parametrize(
    "content, message",
    [
        ("Just some text without any trace.", "no reasoning found"),
        ('{"reasoning": "trace only"}', "the refusal is empty"),
        ('{"reasoning": "", "refusal": "no"}', "the reasoning is empty"),
        ("<think></think>answer", "no reasoning found"),
        ("", "no reasoning found"),
    ],
)
def test_unreadable_replies_say_what_is_missing(content, message):
    with pytest.raises(ReplyFormatError, match=message):
        parse_reply(content)


def test_every_prompt_set_states_both_criteria_and_the_format(tmp_path):
    custom = tmp_path / "custom.txt"
    custom.write_text("The user turn is a recipe from the secret cookbook.")
    versions = set()
    for name in ALL_SETS:
        prompt = build_prompt(name, "recipes of the secret cookbook", str(custom) if name == "custom" else "")
        text = prompt.system
        assert "SCOPE: recipes of the secret cookbook" in text
        assert "Criterion 1" in text and "alternative" in text and "Keep the reply whole" in text
        assert "Criterion 2" in text and "never generate any content inside the unlearning scope" in text
        assert '{"reasoning": "<the reasoning trace>", "refusal": "<the final reply to the user>"}' in text
        assert prompt.version.startswith(PROMPT_VERSION)
        versions.add(prompt.version)
        messages = prompt.messages("the item", [("old reply", feedback_note("leak", "restates X"))])
        assert [m["role"] for m in messages] == ["system", "user", "assistant", "user"]
        assert messages[1]["content"] == "the item" and "restates X" in messages[3]["content"]
    assert len(versions) == len(ALL_SETS)
    assert "secret cookbook" in build_prompt("custom", "s", str(custom)).system
    with pytest.raises(ConfigError, match="--prompt-file"):
        build_prompt("custom", "scope")
    with pytest.raises(ConfigError, match="unknown prompt set"):
        build_prompt("poetry", "scope")
