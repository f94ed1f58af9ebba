"""Read a reasoning trace and a refusal out of a chat reply.

In order: the reasoning channel (``reasoning_content``) when the server returns one; else a
``<think>...</think>`` block in the text; else the JSON object ``{"reasoning": ..., "refusal": ...}``
the prompts ask for. The refusal is the JSON ``refusal`` field when the visible text holds that
object, else the visible text itself (outside any think block).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

_THINK = re.compile(r"<think>(.*?)(?:</think>|$)", re.DOTALL | re.IGNORECASE)
_FENCE = re.compile(r"^```(?:json)?\s*|\s*```$", re.IGNORECASE)


class ReplyFormatError(ValueError):
    """The reply holds no readable reasoning and refusal; the message says what is missing."""


@dataclass
class ParsedReply:
    reasoning: str
    refusal: str
    source: str  # reasoning_content, think-tags or json


def find_json_object(text: str) -> dict | None:
    """The first JSON object in ``text`` that has a ``refusal`` or ``reasoning`` key (code fences allowed)."""
    stripped = _FENCE.sub("", text.strip())
    decoder = json.JSONDecoder()
    for match in re.finditer(r"\{", stripped):
        try:
            obj, _ = decoder.raw_decode(stripped, match.start())
        except ValueError:
            continue
        if isinstance(obj, dict) and ("refusal" in obj or "reasoning" in obj):
            return obj
    return None


def _string_field(obj: dict | None, name: str) -> str:
    value = obj.get(name) if obj else None
    return value.strip() if isinstance(value, str) else ""


def split_think(text: str) -> tuple[str, str]:
    """(text inside the first think block, the text outside it)."""
    match = _THINK.search(text)
    if not match:
        return "", text.strip()
    return match.group(1).strip(), (text[: match.start()] + text[match.end() :]).strip()


def parse_reply(content: str | None, reasoning_content: str | None = None) -> ParsedReply:
    """Reasoning and refusal of one reply; raises ``ReplyFormatError`` naming what is missing."""
    content = content or ""
    think, visible = split_think(content)
    obj = find_json_object(visible)
    refusal = _string_field(obj, "refusal") or ("" if obj else visible)
    if reasoning_content and reasoning_content.strip():
        reasoning, source = reasoning_content.strip(), "reasoning_content"
    elif think:
        reasoning, source = think, "think-tags"
    else:
        reasoning, source = _string_field(obj, "reasoning"), "json"
        if obj is None:
            raise ReplyFormatError(
                "no reasoning found: the reply has no reasoning channel, no <think> block "
                'and no JSON object with "reasoning" and "refusal"'
            )
    if not reasoning:
        raise ReplyFormatError("the reasoning is empty")
    if not refusal:
        raise ReplyFormatError('the refusal is empty (give it as the JSON "refusal" field)')
    return ParsedReply(reasoning=reasoning, refusal=refusal, source=source)
