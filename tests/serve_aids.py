"""Testing aids for `tru serve`: canned replies, injected failures, slow answers and a request log.

They let tests drive a real OpenAI-compatible server over real HTTP while choosing what it answers (a tiny
random model only produces gibberish) and which requests fail, and see the requests that reached it. They
are not part of the product: ``TestingAids`` is a ``tru.llm.server.ServeHooks`` given to the server through
its seam, ``start_server(config, chat=..., hooks=TestingAids(...))`` (the ``tru_server`` fixture of
tests/conftest.py takes the same settings as keywords). Run as a script, this file is ``tru serve`` with the
aids as flags, for a test that needs the server in a process of its own (bench/serve_load.py
``--server-command``):

    python tests/serve_aids.py --model tiny-llama --port 0 --reply-delay 0.2 --max-pending 4

Canned reply file (``canned_reply``): a JSON object, or a list of objects tried in order, each with
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

import argparse
import hashlib
import json
import re
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from tru.core.errors import ConfigError, InputError, TruError
from tru.llm.fields import ApiError
from tru.llm.server import ServeHooks

# the keyword settings of TestingAids, which the tru_server fixture takes beside ServeConfig's
AID_SETTINGS = ("canned_reply", "fail_first", "fail_pattern", "fail_status", "reply_delay", "log_requests")

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
    """Fixed or templated replies in place of the model's, from a JSON file."""

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


class TestingAids(ServeHooks):
    """The server's hooks for tests.

    - ``canned_reply``: a canned reply file (above); chat requests get its replies instead of the model's;
    - ``fail_first`` / ``fail_pattern``: the first N requests, and those whose last user message matches the
      regular expression, fail with ``fail_status`` before the model is asked (chat and completions);
    - ``reply_delay``: seconds each answer waits, holding its place in the server's queue;
    - ``log_requests``: keep each request's number, status and last user message, for ``log()``.
    """

    __test__ = False  # not a test class, whatever pytest makes of its name

    def __init__(
        self,
        canned_reply: str | Path | None = None,
        fail_first: int = 0,
        fail_pattern: str = "",
        fail_status: int = 503,
        reply_delay: float = 0.0,
        log_requests: bool = False,
    ):
        if not 400 <= fail_status <= 599:
            raise ConfigError(f"fail_status must be an HTTP error status (400..599), got {fail_status}")
        if fail_first < 0 or reply_delay < 0:
            raise ConfigError("fail_first and reply_delay must not be negative")
        self.canned = CannedReplies(canned_reply) if canned_reply else None
        self.fail_first, self.fail_status, self.reply_delay = fail_first, fail_status, reply_delay
        self._pattern = re.compile(fail_pattern) if fail_pattern else None
        self.keep = log_requests
        self._entries: list[dict] = []
        self._lock = threading.Lock()

    def before_answer(self, number: int, messages: list[dict]) -> None:
        matched = self._pattern is not None and self._pattern.search(last_user_text(messages))
        if number <= self.fail_first or matched:
            raise ApiError(self.fail_status, f"injected failure for request {number} (testing aid)", "server_error")
        if self.reply_delay:
            time.sleep(self.reply_delay)

    def reply(self, number: int, messages: list[dict]) -> tuple[str, str | None] | None:
        return self.canned.reply(messages, number) if self.canned else None

    def answered(self, number: int, messages: list[dict] | None, status: int) -> None:
        if self.keep:
            with self._lock:
                self._entries.append(
                    {"n": number, "status": status, "user": last_user_text(messages) if messages else None}
                )

    def log(self) -> list[dict]:
        """The requests answered so far, in the order of their numbers: ``{"n", "status", "user"}`` each."""
        if not self.keep:
            raise AssertionError("the request log is kept only with log_requests=True")
        with self._lock:
            return sorted(self._entries, key=lambda e: e["n"])


def main(argv: list[str] | None = None) -> int:
    """`tru serve` with the aids as flags (``--canned-reply``, ``--fail-first``...), until SIGTERM or Ctrl-C."""
    from tru.cli import build_config, build_parser
    from tru.llm.server import ServeConfig, serve

    parser = argparse.ArgumentParser(prog="serve_aids.py", description="tru serve with the testing aids")
    parser.add_argument("--canned-reply", default=None)
    parser.add_argument("--fail-first", type=int, default=0)
    parser.add_argument("--fail-pattern", default="")
    parser.add_argument("--fail-status", type=int, default=503)
    parser.add_argument("--reply-delay", type=float, default=0.0)
    parser.add_argument("--log-requests", action="store_true")
    aids, rest = parser.parse_known_args(argv)
    try:
        config = build_config(ServeConfig, build_parser().parse_args(["serve", *rest]))
        serve(config, hooks=TestingAids(**vars(aids)))
    except TruError as exc:
        print(f"serve_aids.py: error: {exc}", file=sys.stderr)
        return exc.exit_code
    return 0


if __name__ == "__main__":
    sys.exit(main())
