"""`tru serve`: an OpenAI-compatible chat server backed by a local model.

Endpoints: ``GET /v1/models``, ``POST /v1/chat/completions`` (streaming with ``"stream": true``),
``GET /v1/stats`` (request counts) and ``GET /health``. It binds 127.0.0.1 unless told otherwise and
will not bind any other address without a bearer token (from ``$TRU_SERVE_TOKEN`` or ``--token-file``,
never a command-line value that would sit in the shell history and the process list); with a token
set, every ``/v1`` request must carry ``Authorization: Bearer <token>``. Malformed requests get 400
with the reason and the field at fault; request bodies, message counts and ``max_tokens`` are bounded.
Every error, the standard library's own included (an unknown path: 404, another method: 405 with
``Allow``), is JSON in the OpenAI shape, and a request refused before its body is read (413, 401,
404, 405) gets its answer even while the client is still sending the body.

Built on the standard library's threading HTTP server: no web framework to install. Requests are
accepted concurrently and the model answers them one at a time. Everything is bounded so that load
cannot exhaust the process:

- at most ``--max-pending`` chat requests wait for or use the model; one more gets 429 at once, with
  an OpenAI-style error body and a ``Retry-After`` header (never a wait in an unbounded queue);
- at most ``--max-connections`` connections are handled at once, one thread each; one more is
  answered 429 by a single refusing thread (which reads the request first, for half a second at most)
  without starting a thread;
- a client has ``--request-timeout`` seconds to send its whole request (a slow-loris client that
  sends half a request, or trickles it, is dropped), and each later socket write has as long.

The ``--canned-reply``, ``--fail-*``, ``--reply-delay`` and ``--log-requests`` options are TESTING AIDS
(see ``tru.serve_testing``).
"""

from __future__ import annotations

import hmac
import io
import ipaddress
import itertools
import json
import math
import os
import queue
import re
import signal
import socket
import sys
import threading
import time
import uuid
from dataclasses import dataclass
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Iterator

from tru.config import ModelFields, setting
from tru.errors import ConfigError, InputError
from tru.serve_testing import CannedReplies, FaultPlan, RequestLog

ROLES = ("system", "developer", "user", "assistant")
ROUTES = {"/health": "GET", "/v1/models": "GET", "/models": "GET", "/v1/stats": "GET", "/stats": "GET",
          "/v1/chat/completions": "POST", "/chat/completions": "POST"}
SEED_RANGE = (-2**63, 2**64 - 1)  # what torch.manual_seed accepts
DISCARD_FACTOR = 4  # a body left unread is discarded up to this many times --max-body-bytes ...
DISCARD_FLOOR = 1 << 20  # ... and at least this many bytes, so that a tiny limit still lets a usual request hear why


@dataclass(kw_only=True)
class ServeConfig(ModelFields):
    """`tru serve`: talk to a local (for example an unlearned) model from any OpenAI client."""

    host: str = setting("127.0.0.1", "address to bind; anything but loopback needs a token")
    port: int = setting(8000, "port to bind (0: any free port; the address is printed)")
    served_name: str = setting("", "model name clients ask for (default: the --model value)")
    token_env: str = setting("TRU_SERVE_TOKEN", "environment variable holding the bearer token clients must send")
    token_file: str = setting("", "file holding the bearer token (instead of the environment variable)")
    default_max_tokens: int = setting(256, "max_tokens when a request gives none (at most --max-tokens-limit)")
    max_tokens_limit: int = setting(2048, "largest max_tokens a request may ask for")
    max_messages: int = setting(64, "most messages in one request")
    max_body_bytes: int = setting(1_000_000, "largest request body in bytes")
    max_pending: int = setting(8, "most chat requests waiting for or using the model at once; "
                                  "more get 429 with Retry-After")
    max_connections: int = setting(64, "most connections handled at once (one thread each); more get 429")
    request_timeout: float = setting(10.0, "seconds a client has to send its whole request (and the limit "
                                           "on each socket write)")
    canned_reply: str = setting("", "TESTING AID: answer from this JSON file instead of the model "
                                    "(see tru/serve_testing.py)")
    fail_first: int = setting(0, "TESTING AID: fail the first N chat requests with --fail-status")
    fail_pattern: str = setting("", "TESTING AID: fail chat requests whose last user message matches this regex")
    fail_status: int = setting(503, "TESTING AID: HTTP status of injected failures")
    reply_delay: float = setting(0.0, "TESTING AID: seconds to wait before each chat answer")
    log_requests: bool = setting(False, "TESTING AID: keep each chat request's last user message for /v1/stats")

    def validate(self) -> None:
        from tru.config import check_field_values

        check_field_values(self)
        if not 0 <= self.port <= 65535:
            raise ConfigError(f"--port must be in 0..65535, got {self.port}")
        for name in ("default_max_tokens", "max_tokens_limit", "max_messages", "max_body_bytes", "max_pending",
                     "max_connections"):
            if getattr(self, name) < 1:
                raise ConfigError(f"--{name.replace('_', '-')} must be at least 1, got {getattr(self, name)}")
        if not 400 <= self.fail_status <= 599:
            raise ConfigError(f"--fail-status must be an HTTP error status (400..599), got {self.fail_status}")
        if self.fail_first < 0 or self.reply_delay < 0:
            raise ConfigError("--fail-first and --reply-delay must not be negative")
        if self.max_connections < self.max_pending:
            raise ConfigError(f"--max-connections ({self.max_connections}) must be at least --max-pending "
                              f"({self.max_pending})")
        if not self.request_timeout > 0:
            raise ConfigError(f"--request-timeout must be positive, got {self.request_timeout}")


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def resolve_token(config: ServeConfig) -> str | None:
    """The bearer token from --token-file or the --token-env variable; refuses a public bind without one."""
    token = None
    if config.token_file:
        from tru.data.readers import read_text_file

        path = Path(config.token_file).expanduser()
        if not path.exists():
            raise InputError(path, "token file does not exist")
        token = read_text_file(path, what="token file (the token as text)").strip()
        if not token:
            raise InputError(path, "token file is empty")
    elif config.token_env:
        token = os.environ.get(config.token_env) or None
    if token is None and not is_loopback(config.host):
        raise ConfigError(f"refusing to bind {config.host} without a bearer token: set "
                          f"${config.token_env or 'TRU_SERVE_TOKEN'} or give --token-file (or bind 127.0.0.1)")
    return token


class ApiError(Exception):
    """An error answer in the OpenAI format."""

    def __init__(self, status: int, message: str, kind: str = "invalid_request_error", param: str | None = None,
                 headers: dict | None = None):
        super().__init__(message)
        self.status, self.message, self.kind, self.param = status, message, kind, param
        self.headers = headers or {}

    def body(self) -> dict:
        return {"error": {"message": self.message, "type": self.kind, "param": self.param, "code": None}}


@dataclass
class ChatCall:
    """A validated chat request."""

    messages: list[dict]
    max_tokens: int
    temperature: float
    top_p: float
    seed: int | None
    stop: list[str]
    stream: bool
    include_usage: bool


def _usage(prompt_tokens: int, completion_tokens: int) -> dict:
    return {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens}


def _number(body: dict, name: str, low: float, high: float, default: float) -> float:
    value = body.get(name)
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not low <= value <= high:
        raise ApiError(400, f"'{name}' must be a number in [{low:g}, {high:g}], got {value!r}", param=name)
    return float(value)


def _json_type(value) -> str:
    """How a JSON value is named in an error: 'a number', 'a list', ..."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return "a number"
    return {str: "a string", list: "a list", dict: "an object"}.get(type(value), type(value).__name__)


def _wrong_type(field: str, wanted: str, value) -> ApiError:
    return ApiError(400, f"'{field}' must be {wanted}, got {_json_type(value)}", param=field)


def _flag(field: str, value) -> bool:
    if value is not None and not isinstance(value, bool):
        raise _wrong_type(field, "a boolean", value)
    return bool(value)


def _text(field: str, value: str) -> str:
    """The string, if UTF-8 can encode it: JSON allows lone surrogates (\\ud800), which a tokenizer cannot take."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise ApiError(400, f"'{field}' is not valid Unicode (a lone surrogate)", param=field) from None
    return value


def _content_text(field: str, content) -> str:
    """A message's text: a string, or a list of text parts ``{"type": "text", "text": "..."}``."""
    if isinstance(content, str):
        return _text(field, content)
    if not isinstance(content, list):
        raise _wrong_type(field, "a string or a list of text parts", content)
    return "".join(_part_text(f"{field}[{index}]", part) for index, part in enumerate(content))


def _part_text(field: str, part) -> str:
    if not isinstance(part, dict):
        raise _wrong_type(field, 'a text part {"type": "text", "text": "..."}', part)
    if part.get("type") != "text":
        raise ApiError(400, f"'{field}' has type {part.get('type')!r:.40}; only text parts are supported", param=field)
    if not isinstance(part.get("text"), str):
        raise _wrong_type(f"{field}.text", "a string", part.get("text"))
    return _text(f"{field}.text", part["text"])


def _message(index: int, message) -> dict:
    """One validated message, ``developer`` read as ``system``, its content as one string."""
    field = f"messages[{index}]"
    if not isinstance(message, dict):
        raise _wrong_type(field, "an object with a role and a content", message)
    role = message.get("role")
    if not isinstance(role, str) or role not in ROLES:
        raise ApiError(400, f"{field} needs a role among {', '.join(ROLES)}; '{field}.role' is {role!r:.40}",
                       param=f"{field}.role")
    content = _content_text(f"{field}.content", message.get("content"))
    return {"role": "system" if role == "developer" else role, "content": content}


class Admission:
    """The bounded queue: at most ``limit`` chat requests waiting for or using the model.

    ``try_enter`` never blocks: a request that finds the bound reached is turned away (429) at once.
    """

    def __init__(self, limit: int):
        self.limit = limit
        self.pending = 0
        self.admitted = 0
        self.rejected = 0
        self._mean_seconds = 1.0  # running mean of the time one admitted request holds its place
        self._lock = threading.Lock()

    def try_enter(self) -> bool:
        with self._lock:
            if self.pending >= self.limit:
                self.rejected += 1
                return False
            self.pending += 1
            self.admitted += 1
            return True

    def leave(self, seconds: float) -> None:
        with self._lock:
            self.pending -= 1
            self._mean_seconds = 0.8 * self._mean_seconds + 0.2 * seconds

    def retry_after(self) -> int:
        """Whole seconds until a place is likely free: the mean time per request, at least 1, at most 60."""
        with self._lock:
            return max(1, min(60, math.ceil(self._mean_seconds)))

    def snapshot(self) -> dict:
        with self._lock:
            return {"pending": self.pending, "max_pending": self.limit, "admitted": self.admitted,
                    "rejected_429": self.rejected}


class ChatService:
    """Everything but HTTP: validation, answers (model or canned), testing aids, counts."""

    def __init__(self, config: ServeConfig, chat, canned: CannedReplies | None = None):
        self.config = config
        self.chat = chat
        self.canned = canned
        self.name = config.served_name or config.model
        self.faults = FaultPlan(config.fail_first, config.fail_pattern, config.fail_status)
        self.log = RequestLog(keep=config.log_requests)
        self.admission = Admission(config.max_pending)
        self.created = int(time.time())

    def models(self) -> dict:
        return {"object": "list", "data": [{"id": self.name, "object": "model", "created": self.created,
                                             "owned_by": "tru"}]}

    def parse(self, body) -> ChatCall:
        """The request checked field by field: a value of the wrong type or range is a 400 naming the field."""
        config = self.config
        if not isinstance(body, dict):
            raise ApiError(400, f"the request body must be a JSON object, got {_json_type(body)}")
        self._check_model(body.get("model"))
        clean = self._messages(body.get("messages"))
        max_tokens = body.get("max_completion_tokens", body.get("max_tokens"))
        if max_tokens is None:
            max_tokens = min(config.default_max_tokens, config.max_tokens_limit)
        if isinstance(max_tokens, bool) or not isinstance(max_tokens, int) or max_tokens < 1:
            raise ApiError(400, f"'max_tokens' must be a positive integer, got {max_tokens!r}", param="max_tokens")
        if max_tokens > config.max_tokens_limit:
            raise ApiError(400, f"'max_tokens' {max_tokens} exceeds this server's limit of "
                                f"{config.max_tokens_limit}", param="max_tokens")
        n = body.get("n")
        if n is not None and (isinstance(n, bool) or n != 1):
            raise ApiError(400, "only n=1 is supported", param="n")
        options = body.get("stream_options")
        if options is not None and not isinstance(options, dict):
            raise _wrong_type("stream_options", "an object", options)
        return ChatCall(messages=clean, max_tokens=max_tokens,
                        temperature=_number(body, "temperature", 0, 2, 0.0),
                        top_p=_number(body, "top_p", 0, 1, 1.0), seed=self._seed(body.get("seed")),
                        stop=self._stop(body.get("stop")), stream=_flag("stream", body.get("stream")),
                        include_usage=_flag("stream_options.include_usage", (options or {}).get("include_usage")))

    def _check_model(self, model) -> None:
        if model is None:
            return
        if not isinstance(model, str):
            raise _wrong_type("model", "a string", model)
        if model not in (self.name, self.config.model):
            raise ApiError(404, f"model '{model}' does not exist; this server has '{self.name}'",
                           kind="not_found_error", param="model")

    def _messages(self, messages) -> list[dict]:
        if not isinstance(messages, list) or not messages:
            raise ApiError(400, f"'messages' must be a non-empty list, got {_json_type(messages)}", param="messages")
        if len(messages) > self.config.max_messages:
            raise ApiError(400, f"too many messages: {len(messages)} (limit {self.config.max_messages})",
                           param="messages")
        return [_message(index, message) for index, message in enumerate(messages)]

    @staticmethod
    def _stop(stop) -> list[str]:
        if stop is None or stop == "":
            return []
        stop = [stop] if isinstance(stop, str) else stop
        if not isinstance(stop, list) or not all(isinstance(s, str) for s in stop) or len(stop) > 4:
            raise ApiError(400, "'stop' must be a string or a list of at most 4 strings", param="stop")
        return stop

    @staticmethod
    def _seed(seed) -> int | None:
        low, high = SEED_RANGE
        if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int) or not low <= seed <= high):
            raise ApiError(400, f"'seed' must be an integer in [-2**63, 2**64 - 1], got {seed!r:.40}", param="seed")
        return seed

    def check_fault(self, number: int, call: ChatCall) -> None:
        status = self.faults.status_for(number, call.messages)
        if status is not None:
            raise ApiError(status, f"injected failure for request {number} (testing aid)", kind="server_error")

    def _check_length(self, prompt_tokens: int, call: ChatCall) -> None:
        limit = getattr(self.chat.model.config, "max_position_embeddings", None)
        if limit and prompt_tokens + call.max_tokens > limit:
            raise ApiError(400, f"the prompt ({prompt_tokens} tokens) plus max_tokens ({call.max_tokens}) "
                                f"exceeds the model's context of {limit} tokens", param="messages")

    def answer(self, number: int, call: ChatCall) -> tuple[dict, dict, str]:
        """(message, usage, finish_reason) for a non-streaming request."""
        if self.config.reply_delay:
            time.sleep(self.config.reply_delay)
        canned = self.canned.reply(call.messages, number) if self.canned else None
        if canned is not None:
            content, reasoning = canned
            usage = _usage(len(self.chat.prompt_ids(call.messages)), len(self.chat.count_ids(content)))
            message = {"role": "assistant", "content": content}
            if reasoning is not None:
                message["reasoning_content"] = reasoning
            return message, usage, "stop"
        self._check_length(len(self.chat.prompt_ids(call.messages)), call)
        generation = self.chat.generate(call.messages, max_tokens=call.max_tokens, temperature=call.temperature,
                                        top_p=call.top_p, seed=call.seed, stop=call.stop)
        return {"role": "assistant", "content": generation.text}, generation.usage, generation.finish_reason

    def stream(self, number: int, call: ChatCall) -> Iterator[dict]:
        """Chunk deltas: ``{"content": ...}`` pieces, then the finish reason and usage (no stop sequences)."""
        if self.config.reply_delay:
            time.sleep(self.config.reply_delay)
        canned = self.canned.reply(call.messages, number) if self.canned else None
        if canned is not None:
            content, reasoning = canned
            if reasoning is not None:
                yield {"delta": {"reasoning_content": reasoning}}
            yield {"delta": {"content": content}}
            prompt_tokens, completion = len(self.chat.prompt_ids(call.messages)), len(self.chat.count_ids(content))
            finish = "stop"
        else:
            stream = self.chat.stream(call.messages, max_tokens=call.max_tokens, temperature=call.temperature,
                                      top_p=call.top_p, seed=call.seed)
            self._check_length(stream.prompt_tokens, call)
            for piece in stream:
                yield {"delta": {"content": piece}}
            prompt_tokens, completion, finish = stream.prompt_tokens, stream.completion_tokens, stream.finish_reason
        yield {"finish_reason": finish, "usage": _usage(prompt_tokens, completion)}


class _DeadlineReader(io.RawIOBase):
    """Socket reads that share one deadline: the whole request must arrive within ``request_timeout``.

    A per-read timeout alone would let a client that trickles a byte now and then hold its thread for
    ever; here every read may only wait for what is left of the deadline.
    """

    def __init__(self, sock: socket.socket, timeout: float):
        self._sock = sock
        self._timeout = timeout
        self._request_deadline = time.monotonic() + timeout
        self._deadline: float | None = self._request_deadline

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        wait = self._timeout
        if self._deadline is not None:
            wait = self._deadline - time.monotonic()
            if wait <= 0:
                raise TimeoutError(f"the request did not arrive within {self._timeout:g} s")
        self._sock.settimeout(wait)
        return self._sock.recv_into(buffer)

    def request_received(self) -> None:
        """From now on only the per-operation timeout applies (to writes, for instance)."""
        self._deadline = None
        self._sock.settimeout(self._timeout)

    def back_to_the_deadline(self) -> None:
        """Reads must end by the request's deadline again (to discard a body left unread)."""
        self._deadline = self._request_deadline


def _busy_error(what: str, retry_after: int) -> ApiError:
    return ApiError(429, f"server busy: {what}; retry after {retry_after} s", kind="rate_limit_error")


class _Handler(BaseHTTPRequestHandler):
    server_version = "tru-serve"
    default_request_version = "HTTP/1.0"  # not 0.9, whose answers have no status line: even "GARBAGE" gets a 400
    service: ChatService
    token: str | None

    def log_message(self, format, *args):  # one line per request would drown test output
        pass

    # -- plumbing ----------------------------------------------------------------------------------

    def setup(self) -> None:
        super().setup()
        self.rfile.close()  # replaced by a reader with a deadline for the whole request
        self._reader = _DeadlineReader(self.connection, self.service.config.request_timeout)
        self.rfile = io.BufferedReader(self._reader)

    def handle_one_request(self) -> None:
        self.raw_requestline, self.headers = b"", None
        self._answered = self._body_read = False
        super().handle_one_request()
        if self._answered and not self._body_read and self._may_have_body():
            self._discard_body()

    def parse_request(self) -> bool:
        """The standard checks; then any method but GET and POST is refused here (404 or 405, in JSON)."""
        if not super().parse_request():
            return False
        if self.command in ("GET", "POST"):
            return True
        self._send_error(self._route_refusal())  # no route takes another method: 404 or 405
        return False

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        """The standard library's own refusals (a malformed request line, headers too long...) in JSON too."""
        self.close_connection = True
        text = message or HTTPStatus(code).phrase
        self._send_error(ApiError(code, text, "server_error" if code >= 500 else "invalid_request_error"))

    def _send_error(self, error: ApiError) -> None:
        self._send_json(error.status, error.body(), error.headers)

    def _send_json(self, status: int, body: dict, headers: dict | None = None) -> None:
        self._reader.request_received()  # a write may take the per-operation timeout, whatever the deadline
        data = json.dumps(body, ensure_ascii=False).encode("utf-8", "backslashreplace")  # a lone surrogate: \ud800
        self._answered = True
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Connection", "close")
        if status == 401:
            self.send_header("WWW-Authenticate", "Bearer")
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    def _may_have_body(self) -> bool:
        if self.headers is None:  # the request line or headers were refused: what follows is unknown
            return True
        return self.headers.get("Content-Length", "0").strip() != "0" or "Transfer-Encoding" in self.headers

    def _discard_body(self) -> None:
        """After an answer sent with the body unread: read and drop the body, so that the close is clean.

        A socket closed with data unread resets the connection, and a client still sending its body
        would see a broken pipe instead of the answer (and the OpenAI client would retry). The answer
        goes first, so a client that sent ``Expect: 100-continue`` need not send the body at all. The
        reads stop at the request's deadline and at a bound, so a slow or endless client still cannot
        hold the thread; beyond the bound the client gets the reset.
        """
        self.close_connection = True
        try:
            self.connection.shutdown(socket.SHUT_WR)  # the answer is whole: a client that reads it may hang up
        except OSError:
            return
        self._reader.back_to_the_deadline()
        left = self._body_bytes_to_discard()
        try:
            while left > 0 and (chunk := self.rfile.read1(min(left, 1 << 16))):
                left -= len(chunk)
        except (OSError, ValueError):  # the deadline passed (TimeoutError), or the client left
            pass

    def _body_bytes_to_discard(self) -> int:
        bound = max(DISCARD_FACTOR * self.service.config.max_body_bytes, DISCARD_FLOOR)
        length = self.headers.get("Content-Length", "") if self.headers is not None else ""
        return min(int(length), bound) if length.strip().isdecimal() else bound  # unknown length: up to the bound

    def _authorised(self) -> bool:
        if self.token is None:
            return True
        header = self.headers.get("Authorization", "")
        given = header[7:].strip() if header.lower().startswith("bearer ") else ""
        return hmac.compare_digest(given.encode(), self.token.encode())

    def _read_body(self) -> bytes:
        length = self.headers.get("Content-Length")
        if length is None:
            raise ApiError(411, "a Content-Length header is required")
        try:
            size = int(length)
        except ValueError:
            raise ApiError(400, "bad Content-Length header") from None
        if size < 0:
            raise ApiError(400, "bad Content-Length header")
        if size > self.service.config.max_body_bytes:
            raise ApiError(413, f"request body of {size} bytes exceeds the limit of "
                                f"{self.service.config.max_body_bytes}")
        self._body_read = True
        raw = self.rfile.read(size)
        if len(raw) < size:
            raise ApiError(400, f"the request body ended after {len(raw)} of {size} bytes")
        return raw

    @staticmethod
    def _decode_json(raw: bytes):
        try:
            return json.loads(raw.decode("utf-8"))
        except (UnicodeDecodeError, ValueError) as exc:
            raise ApiError(400, f"malformed JSON in the request body: {exc}") from None
        except RecursionError:
            raise ApiError(400, "the request body is nested too deeply") from None

    # -- routes ----------------------------------------------------------------------------------------

    def _path(self) -> str:
        return self.path.split("?", 1)[0].rstrip("/")

    def _route_refusal(self) -> ApiError | None:
        """404 for an unknown path, 405 (with ``Allow``) for a known path asked with another method."""
        path = self._path()
        allowed = ROUTES.get(path)
        if allowed is None:
            return ApiError(404, f"no route {path or '/'}", "not_found_error")
        if allowed != self.command:
            return ApiError(405, f"method {self.command} is not allowed on {path}; use {allowed}",
                            headers={"Allow": allowed})
        return None

    def _refusal(self) -> ApiError | None:
        """Why this request is refused before its body is read: its path, its method or, but for /health, its token."""
        refusal = self._route_refusal()
        if refusal is None and self._path() != "/health" and not self._authorised():
            refusal = ApiError(401, "missing or wrong bearer token", "authentication_error")
        return refusal

    def do_GET(self):
        if (refusal := self._refusal()) is not None:
            return self._send_error(refusal)
        path = self._path()
        if path == "/health":
            return self._send_json(200, {"status": "ok"})
        if path in ("/v1/models", "/models"):
            return self._send_json(200, self.service.models())
        self._send_json(200, {**self.service.log.snapshot(), "queue": self.service.admission.snapshot(),
                              "connections": self.server.connection_stats()})

    def do_POST(self):
        if (refusal := self._refusal()) is not None:
            return self._send_error(refusal)
        service = self.service
        number = service.log.next_number()
        try:
            raw = self._read_body()
        except ApiError as exc:
            service.log.record(number, None, exc.status)
            return self._send_error(exc)
        except TimeoutError:
            return self._request_timed_out(number)
        self._reader.request_received()
        if not service.admission.try_enter():
            return self._reject_busy(number)
        started = time.monotonic()
        try:
            answer = self._chat(number, raw)
        finally:  # the place is free before the answer is written: a slow reader holds no place
            service.admission.leave(time.monotonic() - started)
        if answer is not None:
            self._send_json(*answer)

    def _request_timed_out(self, number: int) -> None:
        """408 (if the client still listens) and close: its thread is free again."""
        self.service.log.record(number, None, 408)
        self.server.count_timeout()
        self.close_connection = True
        try:
            message = f"the request did not arrive within {self.service.config.request_timeout:g} s"
            self._send_json(408, ApiError(408, message).body())
        except OSError:
            pass

    def _reject_busy(self, number: int) -> None:
        admission = self.service.admission
        retry = admission.retry_after()
        self.service.log.record(number, None, 429)
        error = _busy_error(f"{admission.limit} chat requests are already waiting or running", retry)
        self._send_json(429, error.body(), {"Retry-After": str(retry)})

    def _chat(self, number: int, raw: bytes) -> tuple[int, dict] | None:
        """The (status, body) to send, or None once a stream has been sent."""
        service = self.service
        call = None
        try:
            call = service.parse(self._decode_json(raw))
            service.check_fault(number, call)
            if call.stream:
                self._stream(number, call)
                service.log.record(number, call.messages, 200)
                return None
            message, usage, finish = service.answer(number, call)
        except ApiError as exc:
            service.log.record(number, call.messages if call else None, exc.status)
            return exc.status, exc.body()
        except Exception as exc:  # a model failure must not kill the server
            service.log.record(number, call.messages if call else None, 500)
            return 500, ApiError(500, f"generation failed: {exc}", "server_error").body()
        service.log.record(number, call.messages, 200)
        return 200, {
            "id": f"chatcmpl-{uuid.uuid4().hex}", "object": "chat.completion", "created": int(time.time()),
            "model": service.name,
            "choices": [{"index": 0, "message": message, "finish_reason": finish, "logprobs": None}],
            "usage": usage}

    def _stream(self, number: int, call: ChatCall) -> None:
        """Server-sent events; the connection closes at the end (HTTP/1.0)."""
        chunks = self.service.stream(number, call)
        try:
            self._send_events(call, chunks)
        finally:
            chunks.close()  # a client that left: the generation ends while this request holds its place

    def _send_events(self, call: ChatCall, chunks: Iterator[dict]) -> None:
        first = next(chunks)  # errors before any byte is sent still get a proper status
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Cache-Control", "no-cache")
        self.end_headers()
        base = {"id": f"chatcmpl-{uuid.uuid4().hex}", "object": "chat.completion.chunk",
                "created": int(time.time()), "model": self.service.name}

        def send(payload: dict | str) -> None:
            text = payload if isinstance(payload, str) else json.dumps(payload, ensure_ascii=False)
            self.wfile.write(f"data: {text}\n\n".encode("utf-8"))
            self.wfile.flush()

        send({**base, "choices": [{"index": 0, "delta": {"role": "assistant", "content": ""},
                                   "finish_reason": None}]})
        try:
            for chunk in itertools.chain([first], chunks):
                if "delta" in chunk:
                    send({**base, "choices": [{"index": 0, "delta": chunk["delta"], "finish_reason": None}]})
                    continue
                send({**base, "choices": [{"index": 0, "delta": {}, "finish_reason": chunk["finish_reason"]}]})
                if call.include_usage:
                    send({**base, "choices": [], "usage": chunk["usage"]})
        except (BrokenPipeError, ConnectionResetError, TimeoutError):  # the client went away or stopped reading
            self.close_connection = True
            return
        except Exception as exc:  # the status line is gone: report in the stream, as OpenAI does
            send(ApiError(500, f"generation failed: {exc}", "server_error").body())
        send("[DONE]")


class _Refuser:
    """One thread that answers connections over the bound: it reads each request, then sends 429.

    Reading first matters: closing a socket with the request unread resets the connection, and the
    client would see a broken pipe instead of the 429. Each connection gets at most ``budget`` seconds;
    at most ``backlog`` wait for this thread, and any more are closed unanswered.
    """

    def __init__(self, limit: int, budget: float = 0.5, backlog: int = 128, most_bytes: int = 1 << 20):
        self.limit, self.budget, self.most_bytes = limit, budget, most_bytes
        self._queue: queue.Queue = queue.Queue(maxsize=backlog)
        self._thread = threading.Thread(target=self._run, name="tru-serve-refuser", daemon=True)
        self._thread.start()

    def refuse(self, sock: socket.socket) -> bool:
        """Queue a connection for its 429; False when the queue is full (the caller closes it)."""
        try:
            self._queue.put_nowait(sock)
            return True
        except queue.Full:
            return False

    def stop(self) -> None:
        try:
            self._queue.put(None, timeout=2)
        except queue.Full:
            return
        self._thread.join(timeout=5)

    def _run(self) -> None:
        while (sock := self._queue.get()) is not None:
            try:
                self._answer(sock)
            except OSError:
                pass
            finally:
                sock.close()

    def _answer(self, sock: socket.socket) -> None:
        deadline = time.monotonic() + self.budget
        _read_request(sock, deadline, self.most_bytes)
        body = json.dumps(_busy_error(f"{self.limit} connections are already open", 1).body()).encode("utf-8")
        head = ("HTTP/1.0 429 Too Many Requests\r\nServer: tru-serve\r\nContent-Type: application/json\r\n"
                f"Content-Length: {len(body)}\r\nRetry-After: 1\r\nConnection: close\r\n\r\n").encode("ascii")
        sock.settimeout(max(0.05, deadline - time.monotonic()))
        sock.sendall(head + body)
        sock.shutdown(socket.SHUT_WR)


def _read_request(sock: socket.socket, deadline: float, most_bytes: int) -> None:
    """Read the headers and the Content-Length body of a request, giving up at the deadline or size."""
    data = b""
    wanted = None
    while len(data) < most_bytes and (wanted is None or len(data) < wanted):
        left = deadline - time.monotonic()
        if left <= 0:
            return
        sock.settimeout(left)
        try:
            chunk = sock.recv(1 << 16)
        except OSError:
            return
        if not chunk:
            return
        data += chunk
        if wanted is None and b"\r\n\r\n" in data:
            end = data.index(b"\r\n\r\n") + 4
            length = re.search(rb"(?im)^content-length:\s*(\d+)\s*$", data[:end])
            wanted = end + (int(length.group(1)) if length else 0)


class _Server(ThreadingHTTPServer):
    """One daemon thread per connection, at most ``max_connections`` of them; the rest get 429 at once."""

    daemon_threads = True
    block_on_close = False  # no list of threads, and stopping never waits for a slow client
    request_queue_size = 128  # the listen backlog: a burst of clients connecting is not dropped
    max_connections = 64

    def server_activate(self) -> None:
        super().server_activate()
        self._slots = threading.BoundedSemaphore(self.max_connections)
        self._counts_lock = threading.Lock()
        self._open = 0
        self._refused = 0
        self._timeouts = 0
        self._refuser = _Refuser(self.max_connections)

    def process_request(self, request, client_address) -> None:
        if not self._slots.acquire(blocking=False):
            self._count(refused=1)
            if not self._refuser.refuse(request):
                self.shutdown_request(request)
            return
        self._count(opened=1)
        try:
            super().process_request(request, client_address)  # starts the connection's thread
        except BaseException:
            self._release_slot()
            raise

    def server_close(self) -> None:
        super().server_close()
        if hasattr(self, "_refuser"):
            self._refuser.stop()

    def process_request_thread(self, request, client_address) -> None:
        try:
            super().process_request_thread(request, client_address)
        finally:
            self._release_slot()

    def _release_slot(self) -> None:
        self._count(opened=-1)
        self._slots.release()

    def _count(self, opened: int = 0, refused: int = 0) -> None:
        with self._counts_lock:
            self._open += opened
            self._refused += refused

    def count_timeout(self) -> None:
        with self._counts_lock:
            self._timeouts += 1

    def connection_stats(self) -> dict:
        with self._counts_lock:
            return {"open": self._open, "max_connections": self.max_connections, "refused_429": self._refused,
                    "timed_out": self._timeouts}

    def handle_error(self, request, client_address) -> None:
        """A client that went away or stopped reading is routine; anything else gets the usual traceback."""
        if isinstance(sys.exc_info()[1], (ConnectionError, TimeoutError)):
            return
        super().handle_error(request, client_address)


class RunningServer:
    """A server answering in a background thread; ``url`` is the OpenAI base URL (ending in /v1)."""

    def __init__(self, httpd: _Server, service: ChatService, token: str | None):
        self.httpd = httpd
        self.service = service
        self.token = token
        host, port = httpd.server_address[:2]
        self.host = host
        self.port = port
        shown = f"[{host}]" if ":" in host else host
        self.url = f"http://{shown}:{port}/v1"
        self._thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05},
                                        name="tru-serve", daemon=True)
        self._thread.start()

    def stats(self) -> dict:
        """``GET /v1/stats`` over HTTP (the request counts; the log with --log-requests)."""
        import urllib.request

        request = urllib.request.Request(self.url + "/stats")
        if self.token:
            request.add_header("Authorization", f"Bearer {self.token}")
        with urllib.request.urlopen(request, timeout=10) as response:
            return json.loads(response.read().decode("utf-8"))

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self._thread.join(timeout=10)

    def __enter__(self) -> "RunningServer":
        return self

    def __exit__(self, *exc) -> None:
        self.stop()


def start_server(config: ServeConfig, chat=None) -> RunningServer:
    """Validate, load the model (unless a ``LocalChat`` is given) and serve in a background thread."""
    config.validate()
    token = resolve_token(config)
    canned = CannedReplies(config.canned_reply) if config.canned_reply else None
    if chat is None:
        from tru.local_chat import LocalChat

        chat = LocalChat(config.model, dtype=config.dtype, device=config.device,
                         trust_remote_code=config.trust_remote_code)
    service = ChatService(config, chat, canned)
    handler = type("Handler", (_Handler,), {"service": service, "token": token})
    server_class = type("Server", (_Server,), {"max_connections": config.max_connections})
    if ":" in config.host:
        server_class = type("Server6", (server_class,), {"address_family": socket.AF_INET6})
    try:
        httpd = server_class((config.host, config.port), handler)
    except OSError as exc:
        raise ConfigError(f"cannot bind {config.host}:{config.port}: {exc.strerror or exc}") from None
    return RunningServer(httpd, service, token)


def serve(config: ServeConfig) -> None:
    """Serve until Ctrl-C or SIGTERM."""
    server = start_server(config)
    auth = "bearer token required" if server.token else "no token: loopback only"
    print(f"tru serve: model '{server.service.name}' at {server.url} ({auth}); Ctrl-C stops", flush=True)
    stopped = threading.Event()
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, lambda *_: stopped.set())
    try:
        while not stopped.wait(0.5):
            pass
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()
        print("tru serve: stopped", flush=True)
