"""A chat client for any OpenAI-compatible endpoint, built for batch jobs that must not pay twice.

``ChatClient`` wraps the ``openai`` package and adds what a batch of many calls needs:

- bounded concurrency (``complete_many`` runs at most ``max_concurrency`` calls at once);
- retries with exponential backoff on 429, 5xx, timeouts and dropped connections (other errors,
  such as 400 or 401, fail at once: repeating them cannot help);
- an on-disk cache, one JSON file per answer, written atomically as soon as the answer arrives, so
  a crash loses nothing finished and a rerun makes no call for a request it has seen. The key is a
  hash of the base URL, model, messages and parameters (and, for a local model, its weights
  fingerprint): everything that determines the answer and nothing else (never the API key). Only
  answers are stored: a failed request is asked again by the next run;
- usage accounting (tokens of fresh answers and of cached ones, requests, retries, failures).

A failed request becomes a ``ChatFailure`` in ``complete_many`` (never an empty answer) and a
``ChatError`` in ``complete``. ``CachedChatBackend`` is the shared part; ``tru.llm.local_chat`` reuses it
to put a local transformers model behind the same interface.

Example::

    client = ChatClient("http://127.0.0.1:8000/v1", "judge-model", cache_dir="runs/judge-cache")
    result = client.complete([{"role": "user", "content": "Rate this answer ..."}], temperature=0)
    print(result.text, result.usage, client.usage.as_dict())
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import threading
import time
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable, ClassVar, Sequence
from urllib.parse import urlsplit, urlunsplit

from tru.core.errors import ConfigError, InputError, TruError
from tru.core.files import write_json

Messages = list[dict]


@dataclass(frozen=True)
class ChatRequest:
    """One chat call: the messages and the sampling parameters (temperature, max_tokens, ...)."""

    messages: Messages
    params: dict = field(default_factory=dict)


@dataclass
class ChatResult:
    """An answer. ``reasoning`` is the reasoning channel (``reasoning_content``) when the server has one."""

    text: str
    reasoning: str | None
    usage: dict
    cached: bool
    finish_reason: str | None = None
    created_at: str = ""

    ok: ClassVar[bool] = True


@dataclass
class ChatFailure:
    """A request that got no answer, after the retries its error allows."""

    error: str
    status: int | None = None
    attempts: int = 1

    ok: ClassVar[bool] = False


class ChatError(TruError):
    """A chat request failed for good (``complete``); exit status 1, as the input was not at fault."""

    exit_code = 1

    def __init__(self, failure: ChatFailure):
        self.failure = failure
        super().__init__(f"chat request failed after {failure.attempts} attempt(s): {failure.error}")


class _Retryable(Exception):
    """Raised inside ``_call_once`` for an error worth another try."""

    def __init__(self, message: str, status: int | None = None, wait: float | None = None):
        super().__init__(message)
        self.status = status
        self.wait = wait


class _Permanent(Exception):
    def __init__(self, message: str, status: int | None = None):
        super().__init__(message)
        self.status = status


@dataclass
class Usage:
    """Running totals. Tokens of cached answers are counted apart: they cost nothing this time."""

    requests: int = 0
    attempts: int = 0
    retries: int = 0
    failures: int = 0
    cache_hits: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cached_prompt_tokens: int = 0
    cached_completion_tokens: int = 0

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens

    def as_dict(self) -> dict:
        return {**asdict(self), "total_tokens": self.total_tokens}


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def _canonical(obj) -> str:
    return json.dumps(obj, sort_keys=True, ensure_ascii=False, separators=(",", ":"))


def public_url(url: str) -> str:
    """The URL without user name, password, query or fragment: safe to hash, store and print."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if parts.port:
        host = f"{host}:{parts.port}"
    return urlunsplit((parts.scheme, host, parts.path.rstrip("/"), "", ""))


class ResponseCache:
    """One JSON file per answer under ``directory/<2 hex>/<key>.json``, each written atomically."""

    def __init__(self, directory: str | Path):
        self.directory = Path(directory).expanduser()

    @staticmethod
    def key(endpoint: str, model: str, messages: Messages, params: dict, fingerprint: str = "") -> str:
        """SHA-256 of everything that determines the answer (and nothing secret). ``fingerprint`` is the
        weights fingerprint of a local model (tru.modeling.fingerprint); without one the key is as it always was."""
        identity = {"endpoint": endpoint, "model": model, "messages": messages, "params": params}
        if fingerprint:
            identity["fingerprint"] = fingerprint
        return hashlib.sha256(_canonical(identity).encode("utf-8")).hexdigest()

    def path(self, key: str) -> Path:
        return self.directory / key[:2] / f"{key}.json"

    def get(self, key: str) -> dict | None:
        """The stored record, or None (a missing or unreadable file is a miss, never an error)."""
        try:
            record = json.loads(self.path(key).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        return record if isinstance(record, dict) and isinstance(record.get("response"), dict) else None

    def put(self, key: str, record: dict) -> None:
        write_json(self.path(key), record)


def resolve_api_key(api_key_env: str = "OPENAI_API_KEY", api_key_file: str | Path | None = None) -> str | None:
    """The API key from a key file (when given) or an environment variable; None when neither has one."""
    if api_key_file:
        from tru.data.readers import read_text_file

        path = Path(api_key_file).expanduser()
        if not path.exists():
            raise InputError(path, "API key file does not exist")
        key = read_text_file(path, what="API key file (the key as text)").strip()
        if not key:
            raise InputError(path, "API key file is empty")
        return key
    if api_key_env:
        return os.environ.get(api_key_env) or None
    return None


class CachedChatBackend:
    """Cache, concurrency and usage accounting around ``_call(request) -> ChatResult | ChatFailure``.

    Subclasses set ``endpoint`` and ``model`` (both part of the cache key) and implement ``_call``.
    A backend over a local model sets ``model_fingerprint`` too (tru.modeling.fingerprint.model_fingerprint), so
    that a model retrained in the same folder never gets the replies of the one before.
    """

    endpoint: str = ""
    model: str = ""
    model_fingerprint: str = ""

    def __init__(
        self, *, cache_dir: str | Path | None = None, max_concurrency: int = 4, default_params: dict | None = None
    ):
        if max_concurrency < 1:
            raise ConfigError(f"max_concurrency must be at least 1, got {max_concurrency}")
        self.cache = ResponseCache(cache_dir) if cache_dir else None
        self.max_concurrency = max_concurrency
        self.default_params = dict(default_params or {})
        self.usage = Usage()
        self._lock = threading.Lock()

    # -- public interface ------------------------------------------------------------------------

    def complete(self, messages: Messages, **params) -> ChatResult:
        """One answer; raises ``ChatError`` when the request fails for good."""
        result = self.complete_many([ChatRequest(messages, params)])[0]
        if not result.ok:
            raise ChatError(result)
        return result

    def complete_many(
        self,
        requests: Sequence[ChatRequest | Messages],
        on_done: Callable[[int, ChatResult | ChatFailure], None] | None = None,
        **params,
    ) -> list[ChatResult | ChatFailure]:
        """Answers in request order. Cached answers come first at no cost; the rest run at most
        ``max_concurrency`` at a time. ``params`` are defaults under each request's own parameters.
        ``on_done(index, result)`` is called in the calling thread as each request finishes."""
        prepared = [self._prepare(r, params) for r in requests]
        results: list[ChatResult | ChatFailure | None] = [None] * len(prepared)
        pending = []
        for index, request in enumerate(prepared):
            hit = self._from_cache(request)
            if hit is None:
                pending.append(index)
                continue
            results[index] = hit
            if on_done:
                on_done(index, hit)
        if pending:
            with ThreadPoolExecutor(max_workers=min(self.max_concurrency, len(pending))) as pool:
                futures = {pool.submit(self._answer, prepared[i]): i for i in pending}
                try:
                    for future in as_completed(futures):
                        index = futures[future]
                        results[index] = future.result()
                        if on_done:
                            on_done(index, results[index])
                except BaseException:
                    for future in futures:
                        future.cancel()
                    raise
        return results  # type: ignore[return-value]

    def cache_key(self, request: ChatRequest) -> str:
        return ResponseCache.key(self.endpoint, self.model, request.messages, request.params, self.model_fingerprint)

    # -- shared machinery ------------------------------------------------------------------------

    def _prepare(self, request: ChatRequest | Messages, params: dict) -> ChatRequest:
        if not isinstance(request, ChatRequest):
            request = ChatRequest(list(request))
        merged = {**self.default_params, **params, **request.params}
        if merged.get("stream"):
            raise ConfigError("streaming is not supported by the batch client; leave 'stream' unset")
        return ChatRequest(request.messages, {k: v for k, v in merged.items() if v is not None})

    def _from_cache(self, request: ChatRequest) -> ChatResult | None:
        if self.cache is None:
            return None
        record = self.cache.get(self.cache_key(request))
        if record is None:
            return None
        response = record["response"]
        usage = dict(response.get("usage") or {})
        with self._lock:
            self.usage.cache_hits += 1
            self.usage.cached_prompt_tokens += int(usage.get("prompt_tokens") or 0)
            self.usage.cached_completion_tokens += int(usage.get("completion_tokens") or 0)
        return ChatResult(
            text=response.get("text") or "",
            reasoning=response.get("reasoning"),
            usage=usage,
            cached=True,
            finish_reason=response.get("finish_reason"),
            created_at=record.get("created_at", ""),
        )

    def _answer(self, request: ChatRequest) -> ChatResult | ChatFailure:
        result = self._call(request)
        with self._lock:
            if result.ok:
                self.usage.requests += 1
                self.usage.prompt_tokens += int(result.usage.get("prompt_tokens") or 0)
                self.usage.completion_tokens += int(result.usage.get("completion_tokens") or 0)
            else:
                self.usage.failures += 1
        if result.ok and self.cache is not None:
            self.cache.put(
                self.cache_key(request),
                {
                    "created_at": result.created_at,
                    "request": {
                        "endpoint": self.endpoint,
                        "model": self.model,
                        "messages": request.messages,
                        "params": request.params,
                        **self._fingerprint_field(),
                    },
                    "response": {
                        "text": result.text,
                        "reasoning": result.reasoning,
                        "usage": result.usage,
                        "finish_reason": result.finish_reason,
                    },
                },
            )
        return result

    def _fingerprint_field(self) -> dict:
        return {"fingerprint": self.model_fingerprint} if self.model_fingerprint else {}

    def _count_attempt(self, retry: bool) -> None:
        with self._lock:
            self.usage.attempts += 1
            self.usage.retries += int(retry)

    def _call(self, request: ChatRequest) -> ChatResult | ChatFailure:  # pragma: no cover - abstract
        raise NotImplementedError


class ChatClient(CachedChatBackend):
    """An OpenAI-compatible chat endpoint with retries, bounded concurrency, a cache and usage totals.

    The API key comes from ``api_key_file`` when given, else from the environment variable named by
    ``api_key_env``; it is sent in the Authorization header and stored nowhere. Without any key a
    placeholder is sent, which servers that need no key (such as ``tru serve`` on loopback) accept.
    """

    def __init__(
        self,
        base_url: str,
        model: str,
        *,
        api_key_env: str = "OPENAI_API_KEY",
        api_key_file: str | Path | None = None,
        cache_dir: str | Path | None = None,
        max_concurrency: int = 4,
        max_retries: int = 5,
        timeout: float = 60.0,
        backoff: float = 0.5,
        max_backoff: float = 30.0,
        default_params: dict | None = None,
    ):
        super().__init__(cache_dir=cache_dir, max_concurrency=max_concurrency, default_params=default_params)
        if not base_url:
            raise ConfigError("the chat endpoint needs a base URL, e.g. http://127.0.0.1:8000/v1")
        if not model:
            raise ConfigError("the chat endpoint needs a model name")
        if max_retries < 0 or timeout <= 0 or backoff < 0:
            raise ConfigError("max_retries and backoff must be >= 0 and timeout > 0")
        import openai

        self.endpoint = public_url(base_url)
        self.model = model
        self.max_retries = max_retries
        self.timeout = timeout
        self.backoff = backoff
        self.max_backoff = max_backoff
        self._openai = openai
        self._client = openai.OpenAI(
            base_url=base_url,
            api_key=resolve_api_key(api_key_env, api_key_file) or "no-key",
            timeout=timeout,
            max_retries=0,
        )

    def close(self) -> None:
        self._client.close()

    def __enter__(self) -> "ChatClient":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def _call(self, request: ChatRequest) -> ChatResult | ChatFailure:
        for attempt in range(self.max_retries + 1):
            self._count_attempt(retry=attempt > 0)
            try:
                return self._call_once(request)
            except _Permanent as exc:
                return ChatFailure(str(exc), exc.status, attempt + 1)
            except _Retryable as exc:
                if attempt == self.max_retries:
                    return ChatFailure(str(exc), exc.status, attempt + 1)
                time.sleep(self._wait(attempt, exc.wait))
        raise AssertionError("unreachable")

    def _wait(self, attempt: int, server_hint: float | None) -> float:
        """Exponential backoff with a little jitter; a server's Retry-After wins when it is sane."""
        if server_hint is not None and 0 <= server_hint <= self.max_backoff:
            return server_hint
        return min(self.max_backoff, self.backoff * 2**attempt) * (1 + 0.1 * random.random())

    def _call_once(self, request: ChatRequest) -> ChatResult:
        errors = self._openai
        try:
            response = self._client.chat.completions.create(
                model=self.model, messages=request.messages, **request.params
            )
        except errors.APITimeoutError:
            raise _Retryable(f"timed out after {self.timeout:g}s") from None
        except errors.APIConnectionError as exc:
            raise _Retryable(f"connection failed ({exc.__cause__ or exc})") from None
        except errors.APIStatusError as exc:
            message = f"HTTP {exc.status_code}: {_error_text(exc)}"
            if exc.status_code == 429 or exc.status_code >= 500 or exc.status_code == 408:
                raise _Retryable(message, exc.status_code, _retry_after(exc)) from None
            if exc.status_code in (401, 403):
                message += " (check the API key: the environment variable or key file)"
            raise _Permanent(message, exc.status_code) from None
        except errors.APIError as exc:  # e.g. a reply that is not valid JSON
            raise _Permanent(f"bad response from the server ({exc})") from None
        if not getattr(response, "choices", None):
            raise _Permanent("the response has no choices")
        choice = response.choices[0]
        message = choice.message
        reasoning = getattr(message, "reasoning_content", None) or getattr(message, "reasoning", None)
        usage = response.usage
        return ChatResult(
            text=message.content or "",
            reasoning=reasoning if isinstance(reasoning, str) and reasoning.strip() else None,
            usage={
                "prompt_tokens": getattr(usage, "prompt_tokens", 0) or 0,
                "completion_tokens": getattr(usage, "completion_tokens", 0) or 0,
                "total_tokens": getattr(usage, "total_tokens", 0) or 0,
            },
            cached=False,
            finish_reason=choice.finish_reason,
            created_at=_now(),
        )


def _error_text(exc) -> str:
    body = getattr(exc, "body", None)
    if isinstance(body, dict):
        inner = body.get("error", body)
        if isinstance(inner, dict) and inner.get("message"):
            return str(inner["message"])
        if isinstance(inner, str):
            return inner
    return str(getattr(exc, "message", exc))


def _retry_after(exc) -> float | None:
    response = getattr(exc, "response", None)
    value = response.headers.get("retry-after") if response is not None else None
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None
