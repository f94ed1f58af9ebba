"""Split a generation into its reasoning part and its final answer (both target formats of
tru/data/formatting.py). The evaluation (tru/evaluate/reasoning.py re-exports it) and the server
(tru/llm/reasoning.py) split the same way."""

from __future__ import annotations

import re
from dataclasses import dataclass


@dataclass
class SplitOutput:
    reasoning: str
    answer: str
    has_reasoning: bool
    complete: bool  # False when a reasoning part opened but no answer followed (cut off)


_S1 = re.compile(
    r"^\s*(?:<\|im_start\|>)?think\s*\n(?P<reasoning>.*?)(?:<\|im_start\|>)?answer\s*\n\s*(?:Answer:\s*)?(?P<answer>.*)$",
    re.DOTALL,
)
_S1_OPEN = re.compile(r"^\s*(?:<\|im_start\|>)?think\s*\n(?P<reasoning>.*)$", re.DOTALL)
_TAGS = re.compile(r"^\s*<think>(?P<reasoning>.*?)</think>(?P<answer>.*)$", re.DOTALL)
_TAGS_OPEN = re.compile(r"^\s*<think>(?P<reasoning>.*)$", re.DOTALL)


def split_reasoning(text: str) -> SplitOutput:
    """Recognises ``s1`` (``think\\n...<|im_start|>answer\\nAnswer: ...``) and ``<think>...</think>``."""
    for closed, opened in ((_S1, _S1_OPEN), (_TAGS, _TAGS_OPEN)):
        match = closed.match(text)
        if match:
            return SplitOutput(match["reasoning"].strip(), match["answer"].strip(), True, True)
        match = opened.match(text)
        if match:
            return SplitOutput(match["reasoning"].strip(), "", True, False)
    return SplitOutput("", text.strip(), False, True)
