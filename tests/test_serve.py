"""`tru serve` over real HTTP on loopback: the OpenAI protocol, its limits, auth and the testing aids (which
live in tests/serve_aids.py and reach the server through its hooks, never through `tru serve`'s flags)."""

import json
import os
import re
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path

import openai
import pytest

from tru.cli import main
from tru.core.errors import ConfigError
from tru.llm.server import ServeConfig, ServeHooks, start_server

REPO = Path(__file__).resolve().parents[1]


def post(url, body: bytes, token=None, headers=None):
    request = urllib.request.Request(
        url + "/chat/completions",
        data=body,
        method="POST",
        headers={"Content-Type": "application/json", **(headers or {})},
    )
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def chat_body(**extra) -> bytes:
    return json.dumps(
        {"model": "tiny-llama", "messages": [{"role": "user", "content": "Hello"}], "max_tokens": 8, **extra}
    ).encode()


def test_models_and_a_greedy_completion_through_the_openai_client(tru_server):
    server = tru_server()
    client = openai.OpenAI(base_url=server.url, api_key="unused")
    assert [m.id for m in client.models.list().data] == ["tiny-llama"]
    messages = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Name a colour."}]
    first = client.chat.completions.create(model="tiny-llama", messages=messages, max_tokens=12)
    second = client.chat.completions.create(model="tiny-llama", messages=messages, max_tokens=12)
    assert first.choices[0].message.content == second.choices[0].message.content  # greedy is deterministic
    assert first.usage.prompt_tokens > 5 and 1 <= first.usage.completion_tokens <= 12
    assert first.usage.total_tokens == first.usage.prompt_tokens + first.usage.completion_tokens
    assert first.choices[0].finish_reason in ("stop", "length")
    assert server.stats()["chat_requests"] == 2


def test_streaming_gives_the_same_text_as_a_plain_request(tru_server):
    server = tru_server()
    client = openai.OpenAI(base_url=server.url, api_key="unused")
    messages = [{"role": "user", "content": "Count to three."}]
    plain = client.chat.completions.create(model="tiny-llama", messages=messages, max_tokens=10)
    pieces, usage = [], None
    for chunk in client.chat.completions.create(
        model="tiny-llama", messages=messages, max_tokens=10, stream=True, stream_options={"include_usage": True}
    ):
        if chunk.choices and chunk.choices[0].delta.content:
            pieces.append(chunk.choices[0].delta.content)
        usage = chunk.usage or usage
    assert "".join(pieces).strip() == plain.choices[0].message.content.strip()
    assert usage.completion_tokens == plain.usage.completion_tokens


def test_bad_requests_get_400_with_a_reason(tru_server):
    server = tru_server(max_messages=3, max_tokens_limit=50)
    status, body = post(server.url, b'{"messages": [')
    assert status == 400 and "malformed JSON" in body["error"]["message"]
    cases = [
        (chat_body(max_tokens=51), "exceeds this server's limit of 50"),
        (chat_body(max_tokens=0), "positive integer"),
        (json.dumps({"messages": [{"role": "user", "content": "x"}] * 4}).encode(), "too many messages: 4"),
        (json.dumps({"messages": []}).encode(), "non-empty list"),
        (json.dumps({"messages": [{"role": "wizard", "content": "x"}]}).encode(), "needs a role"),
        (chat_body(temperature=5), "'temperature' must be a number"),
        (b"[1, 2]", "must be a JSON object"),
    ]
    for body_bytes, reason in cases:
        status, body = post(server.url, body_bytes)
        assert status == 400 and reason in body["error"]["message"], (reason, body)
    status, body = post(server.url, chat_body(model="gpt-9"))
    assert status == 404 and "gpt-9" in body["error"]["message"]


def test_request_body_size_is_limited(tru_server):
    server = tru_server(max_body_bytes=200)
    status, body = post(server.url, chat_body(messages=[{"role": "user", "content": "x" * 500}]))
    assert status == 413 and "exceeds the limit of 200" in body["error"]["message"]


def test_token_is_checked_when_set(tru_server, monkeypatch):
    monkeypatch.setenv("TEST_TRU_SERVE_TOKEN", "s3cret-token")
    server = tru_server(token_env="TEST_TRU_SERVE_TOKEN")
    assert post(server.url, chat_body())[0] == 401
    status, body = post(server.url, chat_body(), token="wrong")
    assert status == 401 and body["error"]["type"] == "authentication_error"
    assert post(server.url, chat_body(), token="s3cret-token")[0] == 200
    with pytest.raises(openai.AuthenticationError):
        openai.OpenAI(base_url=server.url, api_key="wrong").models.list()
    assert openai.OpenAI(base_url=server.url, api_key="s3cret-token").models.list().data[0].id == "tiny-llama"


def test_refuses_a_public_bind_without_a_token(tiny_chat, tmp_path, monkeypatch):
    monkeypatch.delenv("TRU_SERVE_TOKEN", raising=False)
    with pytest.raises(ConfigError, match="refusing to bind 0.0.0.0 without a bearer token"):
        start_server(ServeConfig(model="tiny-llama", host="0.0.0.0", port=0), chat=tiny_chat)
    token = tmp_path / "token"
    token.write_text("t0ken\n")
    server = start_server(
        ServeConfig(model="tiny-llama", host="0.0.0.0", port=0, token_file=str(token)), chat=tiny_chat
    )
    try:
        assert server.token == "t0ken"
    finally:
        server.stop()
    # the command line says the same in one line, exit status 2, before loading any model
    env = {k: v for k, v in os.environ.items() if k != "TRU_SERVE_TOKEN"}
    result = subprocess.run(
        [sys.executable, "-m", "tru.cli", "serve", "--host", "0.0.0.0", "--model", "tiny-llama"],
        capture_output=True,
        text=True,
        cwd=REPO,
        env={**env, "PYTHONPATH": str(REPO)},
        timeout=60,
    )
    assert result.returncode == 2 and "refusing to bind 0.0.0.0" in result.stderr
    assert "Traceback" not in result.stderr


def test_canned_replies_and_injected_failures_are_testing_aids(tru_server, tmp_path):
    canned = tmp_path / "canned.json"
    canned.write_text(
        json.dumps(
            [
                {"match": "^special", "content": "special reply #{n}", "reasoning_content": "thinking about {user}"},
                {"content_json": {"refusal": "no ({digest})", "echo": "{user}"}},
            ]
        )
    )
    server = tru_server(canned_reply=str(canned), fail_first=1, log_requests=True)
    status, body = post(server.url, chat_body())
    assert status == 503 and "injected failure" in body["error"]["message"]
    status, body = post(server.url, chat_body(messages=[{"role": "user", "content": 'special "quoted" case'}]))
    message = body["choices"][0]["message"]
    assert message == {
        "role": "assistant",
        "content": "special reply #2",
        "reasoning_content": 'thinking about special "quoted" case',
    }
    status, body = post(server.url, chat_body(messages=[{"role": "user", "content": 'say "hi"'}]))
    content = json.loads(body["choices"][0]["message"]["content"])  # still valid JSON with quotes filled in
    assert content["echo"] == 'say "hi"' and re.fullmatch(r"no \([a-p]{8}\)", content["refusal"])
    assert server.stats()["chat_requests"] == 3
    assert [(e["status"], e["user"]) for e in server.hooks.log()] == [
        (503, "Hello"),
        (200, 'special "quoted" case'),
        (200, 'say "hi"'),
    ]


def test_fail_pattern_fails_matching_requests_with_the_chosen_status(tru_server):
    server = tru_server(fail_pattern="doomed", fail_status=500)
    assert post(server.url, chat_body(messages=[{"role": "user", "content": "a doomed request"}]))[0] == 500
    assert post(server.url, chat_body(messages=[{"role": "user", "content": "a fine request"}]))[0] == 200


def test_the_testing_aids_are_not_part_of_tru_serve(tru_server, capsys):
    assert main(["serve", "--help"]) == 0
    text = capsys.readouterr().out
    aids = ("--canned-reply", "--fail-first", "--fail-pattern", "--fail-status", "--reply-delay", "--log-requests")
    for flag in aids:
        assert flag not in text, flag
        assert main(["serve", "--model", "tiny-llama", flag, "1"]) == 2  # refused, never silently taken
        assert flag in capsys.readouterr().err
    assert "TESTING AID" not in text.upper()
    plain = tru_server()
    assert type(plain.hooks) is ServeHooks  # a server nobody gave hooks to answers from the model alone
