"""Which request parameters ``tru serve`` takes: a parameter it does not implement is a 400, never ignored.

A client that asks for ``logprobs`` or ``tools`` and gets a 200 would believe it was served; so every
parameter is either implemented, or accepted only at a value that asks for nothing (``tools: null``,
``n: 1``, ``presence_penalty: 0``...), or refused with a 400 that names it.
"""

from __future__ import annotations

import json
from collections.abc import Callable

from tru.llm.fields import ApiError, json_type


def _one_of(*allowed) -> Callable[[object], bool]:
    """Accepts exactly these values (``False`` is not ``0`` here)."""
    return lambda value: any(value == a and type(value) is type(a) for a in allowed)


def _zero(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and value == 0


def _empty(value) -> bool:
    return value == [] or value == {}


def _any(kind: type) -> Callable[[object], bool]:
    return lambda value: isinstance(value, kind)


# implemented by both endpoints: their values are checked where they are used
_SHARED = frozenset({"model", "max_tokens", "temperature", "top_p", "seed", "stop", "n"})
CHAT_IMPLEMENTED = _SHARED | {"messages", "max_completion_tokens", "stream", "stream_options"}
COMPLETION_IMPLEMENTED = _SHARED | {"prompt", "echo", "logprobs"}

# accepted at a value that asks for nothing (null always is: it means "not set"), or, for identifiers
# and labels the server has no use for, at any value of their type
_SHARED_HARMLESS = {
    "user": _any(str),
    "presence_penalty": _zero,
    "frequency_penalty": _zero,
    "logit_bias": _empty,
}
CHAT_HARMLESS = {
    **_SHARED_HARMLESS,
    "logprobs": _one_of(False),
    "top_logprobs": _one_of(0),
    "tools": _empty,
    "tool_choice": _one_of("none", "auto"),
    "functions": _empty,
    "function_call": _one_of("none", "auto"),
    "parallel_tool_calls": _any(bool),  # meaningless without tools, which are refused
    "response_format": lambda value: value == {"type": "text"},
    "modalities": lambda value: value == ["text"],
    "metadata": _any(dict),  # OpenAI keeps it only with "store", which is refused
    "store": _one_of(False),
    "service_tier": _one_of("auto", "default"),
    "safety_identifier": _any(str),
    "prompt_cache_key": _any(str),
}
COMPLETION_HARMLESS = {
    **_SHARED_HARMLESS,
    "stream": _one_of(False),  # a completion is answered whole
    "best_of": _one_of(1),
    "suffix": _one_of(""),
}


def refuse_unsupported(body: dict, implemented: frozenset, harmless: dict) -> None:
    """400 naming the first parameter (in the request's order) that the server does not implement."""
    for name, value in body.items():
        if name in implemented or value is None:
            continue
        check = harmless.get(name)
        if check is None:
            raise ApiError(400, f"parameter '{name:.60}' is not supported by this server", param=name[:60])
        if not check(value):
            raise ApiError(
                400,
                f"parameter '{name}' = {_shown(value)} is not supported by this server (only null "
                "or a value that asks for nothing is accepted)",
                param=name,
            )


def _shown(value) -> str:
    """The value as JSON, cut short."""
    try:
        shown = json.dumps(value, ensure_ascii=False)
    except (RecursionError, ValueError):
        return json_type(value)
    return shown if len(shown) <= 60 else shown[:57] + "..."
