"""TESTING AIDS for ``tru serve``: canned replies, injected failures, a request log.

None of this is for production use. It lets tests drive a real OpenAI-compatible server over real
HTTP while choosing what it answers (a tiny random model only produces gibberish) and which requests
fail, and lets them count the requests that reached the server.

Canned reply file (``--canned-reply``): a JSON object, or a list of objects tried in order, each with
- ``content`` (a string) or ``content_json`` (any JSON value, sent serialised as the content),
- ``reasoning_content`` (optional string, sent as the message's reasoning channel; without it, a
  content in a reasoning format, s1 or ``<think>`` tags, is split as a model's output is),
- ``match`` (optional regular expression searched in the last user message; the first entry that
  matches, or has no ``match``, is used).
Strings may hold placeholders: ``{user}`` (the last user message), ``{digest}`` (8 letters a-p from a
hash of all the messages, no digits: the same request gets the same reply, different requests differ)
and ``{n}`` (the server's request number).
"""

from __future__ import annotations

import hashlib
import json
import re
import threading
from dataclasses import dataclass, field
from pathlib import Path

from tru.errors import InputError

_HEX_TO_LETTERS = str.maketrans("0123456789abcdef", "abcdefghijklmnop")


def last_user_text(messages: list[dict]) -> str:
    for message in reversed(messages):
        if message.get("role") == "user":
            return message_text(message)
    return ""


def message_text(message: dict) -> str:
    """A message's text: a string, or the text parts of a list of content parts."""
    content = message.get("content")
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(p.get("text", "") for p in content if isinstance(p, dict) and p.get("type") == "text")
    return ""


@dataclass
class CannedReply:
    content: str
    reasoning_content: str | None = None
    match: re.Pattern | None = None


class CannedReplies:
    """TESTING AID: fixed or templated replies in place of the model's."""

    def __init__(self, path: str | Path):
        path = Path(path).expanduser()
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise InputError(path, "canned reply file does not exist") from None
        except ValueError as exc:
            raise InputError(path, f"invalid JSON ({exc})") from None
        entries = data if isinstance(data, list) else [data]
        self.replies = [self._entry(path, number, entry) for number, entry in enumerate(entries, start=1)]
        if not self.replies:
            raise InputError(path, "holds no replies")

    @staticmethod
    def _entry(path: Path, number: int, entry) -> CannedReply:
        if not isinstance(entry, dict):
            raise InputError(path, f"entry {number}: expected a JSON object")
        if "content_json" in entry:
            content = json.dumps(entry["content_json"], ensure_ascii=False)
        elif isinstance(entry.get("content"), str):
            content = entry["content"]
        else:
            raise InputError(path, f"entry {number}: needs 'content' (a string) or 'content_json'", field="content")
        try:
            match = re.compile(entry["match"]) if entry.get("match") else None
        except re.error as exc:
            raise InputError(path, f"entry {number}: bad regular expression ({exc})", field="match") from None
        reasoning = entry.get("reasoning_content")
        return CannedReply(
            content=content, reasoning_content=reasoning if isinstance(reasoning, str) else None, match=match
        )

    def reply(self, messages: list[dict], number: int) -> tuple[str, str | None] | None:
        """(content, reasoning_content) for a request, or None when no entry applies."""
        user = last_user_text(messages)
        digest = hashlib.sha256(json.dumps(messages, sort_keys=True).encode()).hexdigest()[:8]
        digest = digest.translate(_HEX_TO_LETTERS)  # no digits that a leakage check could take for a number
        values = {"{user}": user, "{digest}": digest, "{n}": str(number)}
        for entry in self.replies:
            if entry.match is None or entry.match.search(user):
                content_values = values
                if entry.content.lstrip().startswith(("{", "[")):  # JSON content stays valid JSON
                    content_values = {k: json.dumps(v, ensure_ascii=False)[1:-1] for k, v in values.items()}
                reasoning = None if entry.reasoning_content is None else _fill(entry.reasoning_content, values)
                return _fill(entry.content, content_values), reasoning
        return None


def _fill(text: str, values: dict) -> str:
    """Replace the placeholders in one pass (a placeholder inside a filled-in value stays as it is)."""
    return re.sub(r"\{(?:user|digest|n)\}", lambda m: values[m.group(0)], text)


@dataclass
class FaultPlan:
    """TESTING AID: which chat requests fail, and with what HTTP status."""

    fail_first: int = 0
    fail_pattern: str = ""
    fail_status: int = 503

    def __post_init__(self):
        self._pattern = re.compile(self.fail_pattern) if self.fail_pattern else None

    def status_for(self, number: int, messages: list[dict]) -> int | None:
        """The injected status for request ``number`` (1-based), or None to answer normally."""
        if number <= self.fail_first:
            return self.fail_status
        if self._pattern is not None and self._pattern.search(last_user_text(messages)):
            return self.fail_status
        return None


@dataclass
class RequestLog:
    """Counts every chat request; with ``keep`` set, also keeps each one's last user message and status."""

    keep: bool = False
    chat_requests: int = 0
    entries: list = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def next_number(self) -> int:
        with self._lock:
            self.chat_requests += 1
            return self.chat_requests

    def record(self, number: int, messages: list[dict] | None, status: int) -> None:
        if self.keep:
            with self._lock:
                self.entries.append(
                    {"n": number, "status": status, "user": last_user_text(messages) if messages else None}
                )

    def snapshot(self) -> dict:
        with self._lock:
            out = {"chat_requests": self.chat_requests}
            if self.keep:
                out["log"] = sorted(self.entries, key=lambda e: e["n"])
            return out
