"""ChatClient against `tru serve` over real HTTP: retries, failures, cache, concurrency, usage."""

import json
import time

import pytest

from tru.core.errors import InputError
from tru.llm.client import ChatClient, ChatError, ChatRequest, ResponseCache, public_url

MESSAGES = [{"role": "user", "content": "Rate this answer."}]


@pytest.fixture
def canned(tmp_path):
    path = tmp_path / "canned.json"
    path.write_text(json.dumps({"content": "reply to {user} ({digest})", "reasoning_content": "because"}))
    return str(path)


def client_for(server, tmp_path=None, **kwargs):
    kwargs.setdefault("backoff", 0.01)
    return ChatClient(server.url, "tiny-llama", api_key_env="", cache_dir=tmp_path and tmp_path / "cache", **kwargs)


@pytest.mark.parametrize("status", [429, 500, 503])
def test_transient_errors_are_retried_until_an_answer(tru_server, canned, status):
    server = tru_server(canned_reply=canned, fail_first=2, fail_status=status)
    client = client_for(server, max_retries=3)
    result = client.complete(MESSAGES)
    assert result.text.startswith("reply to Rate this answer.") and result.reasoning == "because"
    assert client.usage.attempts == 3 and client.usage.retries == 2 and client.usage.requests == 1
    assert server.stats()["chat_requests"] == 3


def test_errors_that_repeat_are_not_retried_and_give_up_is_reported(tru_server, canned):
    server = tru_server(canned_reply=canned, fail_pattern="doomed", fail_status=400)
    client = client_for(server, max_retries=3)
    result = client.complete_many([[{"role": "user", "content": "doomed"}]])[0]
    assert not result.ok and result.status == 400 and result.attempts == 1 and "HTTP 400" in result.error
    assert server.stats()["chat_requests"] == 1
    server = tru_server(canned_reply=canned, fail_pattern="doomed", fail_status=503)
    client = client_for(server, max_retries=2)
    with pytest.raises(ChatError, match="after 3 attempt"):
        client.complete([{"role": "user", "content": "doomed"}])
    assert server.stats()["chat_requests"] == 3 and client.usage.failures == 1


def test_timeouts_are_retried(tru_server, canned):
    server = tru_server(canned_reply=canned, reply_delay=1.0)
    client = client_for(server, max_retries=1, timeout=0.2)
    result = client.complete_many([MESSAGES])[0]
    assert not result.ok and "timed out" in result.error and result.attempts == 2


def test_cache_answers_a_repeated_request_without_a_call_and_ignores_the_key(tru_server, canned, tmp_path, monkeypatch):
    server = tru_server(canned_reply=canned)
    monkeypatch.setenv("KEY_A", "sk-first-key")
    monkeypatch.setenv("KEY_B", "sk-second-key")
    first = ChatClient(server.url, "tiny-llama", api_key_env="KEY_A", cache_dir=tmp_path / "cache")
    fresh = first.complete(MESSAGES, temperature=0)
    assert not fresh.cached and fresh.usage["total_tokens"] > 0
    second = ChatClient(server.url + "/", "tiny-llama", api_key_env="KEY_B", cache_dir=tmp_path / "cache")
    again = second.complete(MESSAGES, temperature=0)
    assert again.cached and again.text == fresh.text and again.reasoning == fresh.reasoning
    assert second.usage.cache_hits == 1 and second.usage.total_tokens == 0
    assert second.usage.cached_prompt_tokens == fresh.usage["prompt_tokens"]
    other = second.complete(MESSAGES, temperature=0.5)  # other parameters: another answer
    assert not other.cached
    assert server.stats()["chat_requests"] == 2
    files = list((tmp_path / "cache").rglob("*.json"))
    assert len(files) == 2
    text = "".join(f.read_text() for f in files)
    assert "sk-first-key" not in text and "sk-second-key" not in text


def test_concurrency_is_bounded_and_results_keep_their_order(tru_server, tmp_path):
    canned = tmp_path / "echo.json"
    canned.write_text(json.dumps({"content": "{user}"}))
    server = tru_server(canned_reply=str(canned), reply_delay=0.3)
    client = client_for(server, max_concurrency=2)
    requests = [ChatRequest([{"role": "user", "content": f"item {i}"}]) for i in range(4)]
    started = time.monotonic()
    results = client.complete_many(requests)
    elapsed = time.monotonic() - started
    assert [r.text for r in results] == [f"item {i}" for i in range(4)]
    assert elapsed >= 0.6  # two waves of two: four at once would take 0.3 s


def test_api_key_file_and_missing_file(tru_server, canned, tmp_path, monkeypatch):
    monkeypatch.setenv("TEST_SERVE_TOKEN", "from-file-key")
    server = tru_server(canned_reply=canned, token_env="TEST_SERVE_TOKEN")
    key_file = tmp_path / "key"
    key_file.write_text("from-file-key\n")
    assert ChatClient(server.url, "tiny-llama", api_key_env="", api_key_file=key_file).complete(MESSAGES).text
    failure = ChatClient(server.url, "tiny-llama", api_key_env="").complete_many([MESSAGES])[0]
    assert failure.status == 401 and "check the API key" in failure.error
    with pytest.raises(InputError, match="API key file does not exist"):
        ChatClient(server.url, "tiny-llama", api_key_file=tmp_path / "nope")


def test_cache_key_and_public_url():
    key = ResponseCache.key("http://h/v1", "m", MESSAGES, {"temperature": 0})
    assert key == ResponseCache.key("http://h/v1", "m", MESSAGES, {"temperature": 0})
    assert key != ResponseCache.key("http://h/v1", "m", MESSAGES, {"temperature": 1})
    assert key != ResponseCache.key("http://h/v1", "other", MESSAGES, {"temperature": 0})
    assert public_url("https://user:pw@api.example.com:8443/v1/?key=abc") == "https://api.example.com:8443/v1"


def test_local_backend_caches_like_the_client(tiny_chat, tmp_path, monkeypatch):
    from tru.llm.local_chat import LocalChatBackend

    calls = []
    original = tiny_chat.generate
    monkeypatch.setattr(tiny_chat, "generate", lambda *a, **k: calls.append(1) or original(*a, **k))
    backend = LocalChatBackend(tiny_chat, cache_dir=tmp_path / "cache")
    first = backend.complete(MESSAGES, max_tokens=5)
    again = LocalChatBackend(tiny_chat, cache_dir=tmp_path / "cache").complete(MESSAGES, max_tokens=5)
    assert len(calls) == 1 and again.cached and again.text == first.text
    assert first.usage["completion_tokens"] <= 5
