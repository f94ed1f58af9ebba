"""`tru serve`: an OpenAI-compatible server backed by a local model.

Endpoints: ``GET /v1/models``, ``POST /v1/chat/completions`` (streaming with ``"stream": true``),
``POST /v1/completions`` (the legacy completions with ``echo`` and ``logprobs``, enough for
lm-evaluation-harness's ``local-completions`` to score loglikelihood tasks: see
``tru.llm.completions``), ``GET /v1/stats`` (request counts, the queue and the connections) and
``GET /health``. It binds 127.0.0.1 unless told otherwise and will not bind any other address without a
bearer token (from ``$TRU_SERVE_TOKEN`` or ``--token-file``, never a command-line value that would sit in
the shell history and the process list); with a token set, every ``/v1`` request must carry
``Authorization: Bearer <token>``. Malformed requests get 400 with the reason and the field at fault;
request bodies, message and prompt counts and ``max_tokens`` are bounded. Every error, the standard
library's own included (an unknown path: 404, another method: 405 with ``Allow``), is JSON in the OpenAI
shape, and a request refused before its body is read (413, 401, 404, 405) gets its answer even while the
client is still sending the body.

Explainable answers: a reasoning model's output (s1 style ``think ... answer\nAnswer: ...`` or
``<think>...</think>``) is split into the message's ``reasoning_content`` and ``content``; streamed,
the reasoning goes out as ``delta.reasoning_content`` and the answer as ``delta.content``, and the
markers never reach the client (``tru.llm.reasoning``). Plain text has no ``reasoning_content``.

Parameters (``tru.llm.params``): a parameter the server does not implement is a 400 naming it, never
ignored. Null is always accepted (it means "not set").

- chat completions implement ``model``, ``messages``, ``max_tokens``, ``max_completion_tokens``,
  ``temperature``, ``top_p``, ``seed``, ``stop`` (up to 4 sequences, streamed or not), ``n`` (1 only),
  ``stream`` and ``stream_options.include_usage``; they accept, where it asks for nothing,
  ``logprobs: false``, ``top_logprobs: 0``, ``tools``/``functions: []``, ``tool_choice``/``function_call``
  ``"none"`` or ``"auto"``, ``parallel_tool_calls`` (any boolean), ``response_format: {"type": "text"}``,
  ``modalities: ["text"]``, ``store: false``, ``service_tier`` ``"auto"`` or ``"default"``, ``metadata``
  (any object), ``presence_penalty``/``frequency_penalty: 0``, ``logit_bias: {}`` and the identifiers
  ``user``, ``safety_identifier`` and ``prompt_cache_key`` (any string);
- completions implement ``model``, ``prompt``, ``max_tokens``, ``echo``, ``logprobs`` (0..5),
  ``temperature``, ``top_p``, ``seed``, ``stop`` and ``n`` (1 only); they accept ``stream: false``,
  ``best_of: 1``, ``suffix: ""``, ``presence_penalty``/``frequency_penalty: 0``, ``logit_bias: {}`` and
  ``user``.

Built on the standard library's threading HTTP server: no web framework to install. Requests are
accepted concurrently and the model answers them one at a time. Everything is bounded so that load
cannot exhaust the process:

- at most ``--max-pending`` requests (chat or completions) wait for or use the model; one more gets
  429 at once, with an OpenAI-style error body and a ``Retry-After`` header (never a wait in an
  unbounded queue);
- at most ``--max-connections`` connections are handled at once, one thread each; one more is
  answered 429 by a single refusing thread (which reads the request first, for half a second at most)
  without starting a thread;
- a client has ``--request-timeout`` seconds to send its whole request (a slow-loris client that
  sends half a request, or trickles it, is dropped), and each later socket write has as long.

A program that embeds the server steps into each request through ``start_server(config, chat=...,
hooks=...)`` (``ServeHooks``): the tests give canned replies, inject failures, slow the answers and log
the requests that way (tests/serve_aids.py); ``tru serve`` itself has no such options.
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

from tru.core.errors import ConfigError, InputError
from tru.llm.completions import CompletionCall, answer_completion, parse_completion
from tru.llm.fields import (
    ApiError,
    bounded_number,
    flag,
    json_type,
    max_tokens,
    only_one_choice,
    seed,
    stop_sequences,
    utf8_text,
    wrong_type,
)
from tru.llm.params import (
    CHAT_HARMLESS,
    CHAT_IMPLEMENTED,
    COMPLETION_HARMLESS,
    COMPLETION_IMPLEMENTED,
    refuse_unsupported,
)
from tru.llm.reasoning import ReasoningStream, reasoning_message
from tru.llm.serve_config import ServeConfig
from tru.llm.stop import StopCutter

ROLES = ("system", "developer", "user", "assistant")
ROUTES = {
    "/health": "GET",
    "/v1/models": "GET",
    "/models": "GET",
    "/v1/stats": "GET",
    "/stats": "GET",
    "/v1/chat/completions": "POST",
    "/chat/completions": "POST",
    "/v1/completions": "POST",
    "/completions": "POST",
}
COMPLETION_ROUTES = ("/v1/completions", "/completions")
DISCARD_FACTOR = 4  # a body left unread is discarded up to this many times --max-body-bytes ...
DISCARD_FLOOR = 1 << 20  # ... and at least this many bytes, so that a tiny limit still lets a usual request hear why


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
        raise ConfigError(
            f"refusing to bind {config.host} without a bearer token: set "
            f"${config.token_env or 'TRU_SERVE_TOKEN'} or give --token-file (or bind 127.0.0.1)"
        )
    return token


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
    return {
        "prompt_tokens": prompt_tokens,
        "completion_tokens": completion_tokens,
        "total_tokens": prompt_tokens + completion_tokens,
    }


def _content_text(field: str, content) -> str:
    """A message's text: a string, or a list of text parts ``{"type": "text", "text": "..."}``."""
    if isinstance(content, str):
        return utf8_text(field, content)
    if not isinstance(content, list):
        raise wrong_type(field, "a string or a list of text parts", content)
    return "".join(_part_text(f"{field}[{index}]", part) for index, part in enumerate(content))


def _part_text(field: str, part) -> str:
    if not isinstance(part, dict):
        raise wrong_type(field, 'a text part {"type": "text", "text": "..."}', part)
    if part.get("type") != "text":
        raise ApiError(400, f"'{field}' has type {part.get('type')!r:.40}; only text parts are supported", param=field)
    if not isinstance(part.get("text"), str):
        raise wrong_type(f"{field}.text", "a string", part.get("text"))
    return utf8_text(f"{field}.text", part["text"])


def _message(index: int, message) -> dict:
    """One validated message, ``developer`` read as ``system``, its content as one string."""
    field = f"messages[{index}]"
    if not isinstance(message, dict):
        raise wrong_type(field, "an object with a role and a content", message)
    role = message.get("role")
    if not isinstance(role, str) or role not in ROLES:
        raise ApiError(
            400, f"{field} needs a role among {', '.join(ROLES)}; '{field}.role' is {role!r:.40}", param=f"{field}.role"
        )
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
            return {
                "pending": self.pending,
                "max_pending": self.limit,
                "admitted": self.admitted,
                "rejected_429": self.rejected,
            }


class ServeHooks:
    """Where a program that embeds the server steps into each POST request: ``start_server(config, hooks=...)``.

    ``tru serve`` runs with these defaults, which do nothing; the tests give their own (tests/serve_aids.py:
    canned replies, injected failures, slow answers, a request log). ``number`` is the request's number on
    this server (1-based, every POST counted, as ``chat_requests`` in ``/v1/stats``); ``messages`` are the
    validated messages (of a completions request: its first prompt as one user message). The hooks are
    called from the requests' threads, several at once.
    """

    def before_answer(self, number: int, messages: list[dict]) -> None:
        """Before the model answers a chat or completions request, which holds its place in the queue: raise
        an ``ApiError`` to answer with it instead, or take time."""

    def reply(self, number: int, messages: list[dict]) -> tuple[str, str | None] | None:
        """``(content, reasoning_content)`` to send instead of the model's answer to a chat request, or None
        (the model answers). Without a reasoning_content, the content is split as a model's output is."""
        return None

    def answered(self, number: int, messages: list[dict] | None, status: int) -> None:
        """The status a POST request was answered with; ``messages`` is None when it was not read or parsed."""


class RequestCount:
    """The number of POST requests (chat and completions) the server has received; each gets the next number."""

    def __init__(self):
        self.count = 0
        self._lock = threading.Lock()

    def next_number(self) -> int:
        with self._lock:
            self.count += 1
            return self.count


class ChatService:
    """Everything but HTTP: validation, answers (the model's, or the hooks'), counts."""

    def __init__(self, config: ServeConfig, chat, hooks: ServeHooks | None = None):
        self.config = config
        self.chat = chat
        self.hooks = hooks if hooks is not None else ServeHooks()
        self.name = config.served_name or config.model
        self.requests = RequestCount()
        self.admission = Admission(config.max_pending)
        self.created = int(time.time())

    def models(self) -> dict:
        return {
            "object": "list",
            "data": [{"id": self.name, "object": "model", "created": self.created, "owned_by": "tru"}],
        }

    def parse(self, body) -> ChatCall:
        """The request checked field by field: a value of the wrong type or range is a 400 naming the field."""
        config = self.config
        self._check_body(body, CHAT_IMPLEMENTED, CHAT_HARMLESS)
        clean = self._messages(body.get("messages"))
        most = max_tokens(body, config.default_max_tokens, config.max_tokens_limit)
        only_one_choice(body)
        options = body.get("stream_options")
        if options is not None and not isinstance(options, dict):
            raise wrong_type("stream_options", "an object", options)
        return ChatCall(
            messages=clean,
            max_tokens=most,
            temperature=bounded_number(body, "temperature", 0, 2, 0.0),
            top_p=bounded_number(body, "top_p", 0, 1, 1.0),
            seed=seed(body.get("seed")),
            stop=stop_sequences(body.get("stop")),
            stream=flag("stream", body.get("stream")),
            include_usage=flag("stream_options.include_usage", (options or {}).get("include_usage")),
        )

    def parse_completion(self, body) -> CompletionCall:
        config = self.config
        self._check_body(body, COMPLETION_IMPLEMENTED, COMPLETION_HARMLESS)
        return parse_completion(
            body,
            self.chat,
            default_max_tokens=config.default_max_tokens,
            max_tokens_limit=config.max_tokens_limit,
            max_prompts=config.max_prompts,
        )

    def _check_body(self, body, implemented: frozenset, harmless: dict) -> None:
        if not isinstance(body, dict):
            raise ApiError(400, f"the request body must be a JSON object, got {json_type(body)}")
        self._check_model(body.get("model"))
        refuse_unsupported(body, implemented, harmless)

    def _check_model(self, model) -> None:
        if model is None:
            return
        if not isinstance(model, str):
            raise wrong_type("model", "a string", model)
        if model not in (self.name, self.config.model):
            raise ApiError(
                404,
                f"model '{model}' does not exist; this server has '{self.name}'",
                kind="not_found_error",
                param="model",
            )

    def _messages(self, messages) -> list[dict]:
        if not isinstance(messages, list) or not messages:
            raise ApiError(400, f"'messages' must be a non-empty list, got {json_type(messages)}", param="messages")
        if len(messages) > self.config.max_messages:
            raise ApiError(
                400, f"too many messages: {len(messages)} (limit {self.config.max_messages})", param="messages"
            )
        return [_message(index, message) for index, message in enumerate(messages)]

    def _check_length(self, prompt_tokens: int, call: ChatCall) -> None:
        limit = getattr(self.chat.model.config, "max_position_embeddings", None)
        if limit and prompt_tokens + call.max_tokens > limit:
            raise ApiError(
                400,
                f"the prompt ({prompt_tokens} tokens) plus max_tokens ({call.max_tokens}) "
                f"exceeds the model's context of {limit} tokens",
                param="messages",
            )

    def answer(self, number: int, call: ChatCall) -> tuple[dict, dict, str]:
        """(message, usage, finish_reason) for a non-streaming request; a reasoning part goes to reasoning_content."""
        given = self.hooks.reply(number, call.messages)
        if given is not None:
            content, reasoning = given
            usage = _usage(len(self.chat.prompt_ids(call.messages)), len(self.chat.count_ids(content)))
            return _given_message(content, reasoning), usage, "stop"
        self._check_length(len(self.chat.prompt_ids(call.messages)), call)
        generation = self.chat.generate(
            call.messages,
            max_tokens=call.max_tokens,
            temperature=call.temperature,
            top_p=call.top_p,
            seed=call.seed,
            stop=call.stop,
        )
        return reasoning_message(generation.text), generation.usage, generation.finish_reason

    def stream(self, number: int, call: ChatCall) -> Iterator[dict]:
        """Deltas (``{"reasoning_content": ...}`` pieces, then ``{"content": ...}``), then finish reason and usage."""
        given = self.hooks.reply(number, call.messages)
        if given is not None:
            content, reasoning = given
            message = _given_message(content, reasoning)
            if "reasoning_content" in message:
                yield {"delta": {"reasoning_content": message["reasoning_content"]}}
            yield {"delta": {"content": message["content"]}}
            prompt_tokens, completion = len(self.chat.prompt_ids(call.messages)), len(self.chat.count_ids(content))
            finish = "stop"
        else:
            stream = self.chat.stream(
                call.messages,
                max_tokens=call.max_tokens,
                temperature=call.temperature,
                top_p=call.top_p,
                seed=call.seed,
            )
            self._check_length(stream.prompt_tokens, call)
            cutter, splitter = StopCutter(call.stop), ReasoningStream()
            for piece in stream:  # after a stop sequence the generation still runs to its end, as without a stream
                yield from ({"delta": delta} for delta in splitter.feed(cutter.feed(piece)))
            yield from ({"delta": delta} for delta in splitter.feed(cutter.finish()) + splitter.finish())
            prompt_tokens, completion = stream.prompt_tokens, stream.completion_tokens
            finish = "stop" if cutter.stopped else stream.finish_reason
        yield {"finish_reason": finish, "usage": _usage(prompt_tokens, completion)}

    def complete(self, number: int, call: CompletionCall) -> dict:
        """The body of a ``/v1/completions`` answer."""
        return answer_completion(self.chat, call, self.name)


def _given_message(content: str, reasoning: str | None) -> dict:
    """A reply the hooks gave: its own reasoning_content, or else its content split as a model's output."""
    if reasoning is None:
        return reasoning_message(content)
    return {"role": "assistant", "content": content, "reasoning_content": reasoning}


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
            raise ApiError(
                413, f"request body of {size} bytes exceeds the limit of {self.service.config.max_body_bytes}"
            )
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
            return ApiError(
                405, f"method {self.command} is not allowed on {path}; use {allowed}", headers={"Allow": allowed}
            )
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
        self._send_json(
            200,
            {
                "chat_requests": self.service.requests.count,
                "queue": self.service.admission.snapshot(),
                "connections": self.server.connection_stats(),
            },
        )

    def do_POST(self):
        if (refusal := self._refusal()) is not None:
            return self._send_error(refusal)
        service = self.service
        number = service.requests.next_number()
        try:
            raw = self._read_body()
        except ApiError as exc:
            service.hooks.answered(number, None, exc.status)
            return self._send_error(exc)
        except TimeoutError:
            return self._request_timed_out(number)
        self._reader.request_received()
        if not service.admission.try_enter():
            return self._reject_busy(number)
        started = time.monotonic()
        try:
            answer = self._completion(number, raw) if self._path() in COMPLETION_ROUTES else self._chat(number, raw)
        finally:  # the place is free before the answer is written: a slow reader holds no place
            service.admission.leave(time.monotonic() - started)
        if answer is not None:
            self._send_json(*answer)

    def _request_timed_out(self, number: int) -> None:
        """408 (if the client still listens) and close: its thread is free again."""
        self.service.hooks.answered(number, None, 408)
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
        self.service.hooks.answered(number, None, 429)
        error = _busy_error(f"{admission.limit} chat requests are already waiting or running", retry)
        self._send_json(429, error.body(), {"Retry-After": str(retry)})

    def _chat(self, number: int, raw: bytes) -> tuple[int, dict] | None:
        """The (status, body) to send, or None once a stream has been sent."""
        service = self.service
        call = None
        try:
            call = service.parse(self._decode_json(raw))
            service.hooks.before_answer(number, call.messages)
            if call.stream:
                self._stream(number, call)
                service.hooks.answered(number, call.messages, 200)
                return None
            message, usage, finish = service.answer(number, call)
        except Exception as exc:
            return self._failed(number, call.messages if call else None, exc)
        service.hooks.answered(number, call.messages, 200)
        return 200, {
            "id": f"chatcmpl-{uuid.uuid4().hex}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": service.name,
            "choices": [{"index": 0, "message": message, "finish_reason": finish, "logprobs": None}],
            "usage": usage,
        }

    def _completion(self, number: int, raw: bytes) -> tuple[int, dict]:
        """The (status, body) of a ``/v1/completions`` request."""
        service = self.service
        call = None
        try:
            call = service.parse_completion(self._decode_json(raw))
            service.hooks.before_answer(number, call.log_messages())
            body = service.complete(number, call)
        except Exception as exc:
            return self._failed(number, call.log_messages() if call else None, exc)
        service.hooks.answered(number, call.log_messages(), 200)
        return 200, body

    def _failed(self, number: int, messages: list[dict] | None, exc: Exception) -> tuple[int, dict]:
        """The error answer of a request that failed, logged; a model failure must not kill the server."""
        error = exc if isinstance(exc, ApiError) else ApiError(500, f"generation failed: {exc}", "server_error")
        self.service.hooks.answered(number, messages, error.status)
        return error.status, error.body()

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
        base = {
            "id": f"chatcmpl-{uuid.uuid4().hex}",
            "object": "chat.completion.chunk",
            "created": int(time.time()),
            "model": self.service.name,
        }

        def send(payload: dict | str) -> None:
            text = payload if isinstance(payload, str) else json.dumps(payload, ensure_ascii=False)
            self.wfile.write(f"data: {text}\n\n".encode("utf-8"))
            self.wfile.flush()

        send({**base, "choices": [{"index": 0, "delta": {"role": "assistant", "content": ""}, "finish_reason": None}]})
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
        head = (
            "HTTP/1.0 429 Too Many Requests\r\nServer: tru-serve\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\nRetry-After: 1\r\nConnection: close\r\n\r\n"
        ).encode("ascii")
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
            return {
                "open": self._open,
                "max_connections": self.max_connections,
                "refused_429": self._refused,
                "timed_out": self._timeouts,
            }

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
        self.hooks = service.hooks  # those it was started with (the defaults: none)
        self.token = token
        host, port = httpd.server_address[:2]
        self.host = host
        self.port = port
        shown = f"[{host}]" if ":" in host else host
        self.url = f"http://{shown}:{port}/v1"
        self._thread = threading.Thread(
            target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, name="tru-serve", daemon=True
        )
        self._thread.start()

    def stats(self) -> dict:
        """``GET /v1/stats`` over HTTP: the request count, the queue and the connections."""
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


def start_server(config: ServeConfig, chat=None, hooks: ServeHooks | None = None) -> RunningServer:
    """Validate, load the model (unless a ``LocalChat`` is given) and serve in a background thread.

    ``chat`` and ``hooks`` are the seam for programs that embed the server (the tests): a model already
    loaded, and ``ServeHooks`` that step into each request.
    """
    config.validate()
    token = resolve_token(config)
    if chat is None:
        from tru.llm.local_chat import LocalChat

        chat = LocalChat(
            config.model, dtype=config.dtype, device=config.device, trust_remote_code=config.trust_remote_code
        )
    service = ChatService(config, chat, hooks)
    handler = type("Handler", (_Handler,), {"service": service, "token": token})
    server_class = type("Server", (_Server,), {"max_connections": config.max_connections})
    if ":" in config.host:
        server_class = type("Server6", (server_class,), {"address_family": socket.AF_INET6})
    try:
        httpd = server_class((config.host, config.port), handler)
    except OSError as exc:
        raise ConfigError(f"cannot bind {config.host}:{config.port}: {exc.strerror or exc}") from None
    return RunningServer(httpd, service, token)


def serve(config: ServeConfig, chat=None, hooks: ServeHooks | None = None) -> None:
    """Serve until Ctrl-C or SIGTERM (``chat`` and ``hooks`` as for ``start_server``)."""
    server = start_server(config, chat, hooks)
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
