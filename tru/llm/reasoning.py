"""A reasoning model's output as ``reasoning_content`` and ``content``, whole or streamed.

The split is ``tru.data.reasoning.split_reasoning``'s, the evaluation's too: s1 style
(``think\\n...<|im_start|>answer\\nAnswer: ...``) and ``<think>...</think>`` tags; plain text has no
reasoning and is sent as it is. A stream is split the same way: each piece is added to the text so far,
the text is split again, and only what no later piece can change is sent. Held back until decided: the
start of the text while it may still become an opening marker, the end of the reasoning while it may be
the start of the closing marker, an answer that may still be the ``Answer:`` label, and whitespace the
split strips. So the markers never reach the client, even one split across two pieces, and the streamed
deltas add up to exactly what the whole answer holds.
"""

from __future__ import annotations

import re

from tru.data.reasoning import split_reasoning

S1_CLOSINGS = ("<|im_start|>answer", "answer")  # then whitespace and a newline
TAGS_CLOSINGS = ("</think>",)
ANSWER_LABEL = "Answer:"
_OPENING_SO_FAR = re.compile(r"(?:<\|im_start\|>)?think[^\S\n]*")  # the s1 opening before its newline
_OPENINGS = ("<|im_start|>think", "think", "<think>")


def reasoning_message(text: str) -> dict:
    """The assistant message of a whole generation: ``reasoning_content`` only where there is reasoning."""
    split = split_reasoning(text)
    if not split.has_reasoning:
        return {"role": "assistant", "content": text}
    return {"role": "assistant", "content": split.answer, "reasoning_content": split.reasoning}


def may_still_open(text: str) -> bool:
    """Whether more text could still make this the start of a reasoning part."""
    start = text.lstrip()
    return any(opening.startswith(start) for opening in _OPENINGS) or bool(_OPENING_SO_FAR.fullmatch(start))


def _marker_start_length(text: str, markers: tuple[str, ...]) -> int:
    """Length of the longest end of ``text`` that is the start of (or all of) one of the markers."""
    longest = 0
    for marker in markers:
        for size in range(min(len(marker), len(text)), longest, -1):
            if text.endswith(marker[:size]):
                longest = size
                break
    return longest


class ReasoningStream:
    """Feed text pieces in order; get deltas ``{"reasoning_content": ...}`` and ``{"content": ...}``."""

    def __init__(self):
        self._text = ""
        self._plain = False
        self._sent_reasoning = ""
        self._sent_answer = ""

    def feed(self, piece: str) -> list[dict]:
        if self._plain:
            return [{"content": piece}] if piece else []
        self._text += piece
        return self._deltas(final=False)

    def finish(self) -> list[dict]:
        """What was held back, once the generation has ended."""
        return [] if self._plain else self._deltas(final=True)

    def _deltas(self, final: bool) -> list[dict]:
        split = split_reasoning(self._text)
        if not split.has_reasoning:
            if not final and may_still_open(self._text):
                return []
            self._plain = True
            return [{"content": self._text}] if self._text else []
        tags = self._text.lstrip().startswith("<think>")
        reasoning = split.reasoning
        if not (split.complete or final):
            closings = TAGS_CLOSINGS if tags else S1_CLOSINGS
            reasoning = reasoning[: len(reasoning) - _marker_start_length(reasoning, closings)].rstrip()
        answer = split.answer
        if not final and not tags and ANSWER_LABEL.startswith(answer):
            answer = ""  # may still be the label the split drops
        return self._new("reasoning_content", reasoning) + self._new("content", answer)

    def _new(self, channel: str, settled: str) -> list[dict]:
        sent = self._sent_reasoning if channel == "reasoning_content" else self._sent_answer
        if len(settled) <= len(sent) or not settled.startswith(sent):
            return []
        if channel == "reasoning_content":
            self._sent_reasoning = settled
        else:
            self._sent_answer = settled
        return [{channel: settled[len(sent) :]}]
