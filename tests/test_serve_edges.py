"""`tru serve` at its edges: refusals that reach a client still sending a large body, nested or wrongly typed
JSON (400 naming the field, never 500) and JSON errors for every method, path and malformed request."""

import http.client
import json
import socket
import threading
import time

import pytest
from polling import wait_until

TOKEN = "s3cret-token"
LIMIT = 4_000_000  # --max-body-bytes for the large bodies: the server discards up to four times as much
# more than the kernel buffers on both ends hold, so a server that closes unread resets the connection every time
LARGE = json.dumps({"messages": [{"role": "user", "content": "x" * 12_000_000}], "max_tokens": 4}).encode()


def exchange(server, method: str, path: str, body: bytes | None = None, headers: dict | None = None):
    """(status, headers, raw body) of one request sent with http.client: a reset connection raises."""
    connection = http.client.HTTPConnection(server.host, server.port, timeout=30)
    try:
        connection.request(method, path, body=body, headers={"Content-Type": "application/json", **(headers or {})})
        response = connection.getresponse()
        return response.status, response.headers, response.read()
    finally:
        connection.close()


def error_of(raw: bytes) -> dict:
    """The OpenAI-shaped error of an answer body."""
    body = json.loads(raw)
    assert set(body) == {"error"} and set(body["error"]) == {"message", "type", "param", "code"}, body
    return body["error"]


def read_all(sock: socket.socket) -> bytes:
    chunks = []
    while chunk := sock.recv(65536):
        chunks.append(chunk)
    return b"".join(chunks)


def split_answer(raw: bytes) -> tuple[int, dict, bytes]:
    """(status, lower-cased headers, body) of a raw HTTP answer."""
    head, _, body = raw.partition(b"\r\n\r\n")
    lines = head.decode("iso-8859-1").split("\r\n")
    headers = {name.strip().lower(): value.strip() for name, value in (line.split(":", 1) for line in lines[1:])}
    return int(lines[0].split()[1]), headers, body


def raw_exchange(server, request: bytes) -> tuple[int, dict, bytes]:
    with socket.create_connection((server.host, server.port), timeout=10) as sock:
        sock.sendall(request)
        return split_answer(read_all(sock))


# -- refusals before the body is read -----------------------------------------------------------------


@pytest.mark.parametrize(
    "settings, method, path, headers, status, kind, says",
    [
        ({}, "POST", "/v1/chat/completions", {}, 413, "invalid_request_error", f"exceeds the limit of {LIMIT}"),
        (
            {"token_env": "TEST_TRU_SERVE_TOKEN"},
            "POST",
            "/v1/chat/completions",
            {"Authorization": "Bearer wrong"},
            401,
            "authentication_error",
            "missing or wrong bearer token",
        ),
        ({}, "POST", "/v1/no/such/route", {}, 404, "not_found_error", "no route /v1/no/such/route"),
        ({}, "PUT", "/v1/chat/completions", {}, 405, "invalid_request_error", "method PUT is not allowed"),
    ],
)
def test_a_refusal_reaches_a_client_still_sending_a_large_body(
    tru_server, monkeypatch, settings, method, path, headers, status, kind, says
):
    monkeypatch.setenv("TEST_TRU_SERVE_TOKEN", TOKEN)
    server = tru_server(max_body_bytes=LIMIT, **settings)
    for _ in range(3):  # each time, not by luck of the socket buffers
        got, answer_headers, raw = exchange(server, method, path, LARGE, headers)  # no broken pipe
        error = error_of(raw)
        assert (got, error["type"]) == (status, kind) and says in error["message"], (got, error)
        assert answer_headers["Content-Type"] == "application/json"
    wait_until(lambda: server.httpd.connection_stats()["open"] == 0)
    if status == 413:  # the server still answers, and the 413s were counted as chat requests
        assert (
            exchange(
                server,
                "POST",
                "/v1/chat/completions",
                json.dumps({"messages": [{"role": "user", "content": "Hello"}], "max_tokens": 4}).encode(),
            )[0]
            == 200
        )
        assert server.stats()["chat_requests"] == 4


def test_a_client_that_expects_100_continue_is_answered_before_it_sends_the_body(tru_server):
    server = tru_server(max_body_bytes=1000)
    started = time.monotonic()
    status, headers, body = raw_exchange(
        server,
        b"POST /v1/chat/completions HTTP/1.1\r\nHost: tru\r\n"
        b"Content-Type: application/json\r\nContent-Length: 50000000\r\n"
        b"Expect: 100-continue\r\n\r\n",
    )
    assert time.monotonic() - started < 2  # answered at once, not after the request's deadline
    assert status == 413 and headers["connection"] == "close"
    assert "request body of 50000000 bytes exceeds the limit of 1000" in error_of(body)["message"]
    wait_until(lambda: server.httpd.connection_stats()["open"] == 0)


def test_a_slow_client_cannot_hold_the_thread_while_its_body_is_discarded(tru_server, monkeypatch):
    monkeypatch.setenv("TEST_TRU_SERVE_TOKEN", TOKEN)
    server = tru_server(token_env="TEST_TRU_SERVE_TOKEN", request_timeout=1.0)
    with socket.create_connection((server.host, server.port), timeout=10) as slow:
        slow.sendall(
            b"POST /v1/chat/completions HTTP/1.1\r\nContent-Type: application/json\r\n"
            b"Content-Length: 500000\r\n\r\n" + b" " * 1000
        )  # no token, then the body stalls
        status, _, body = split_answer(read_all(slow))  # the answer, then the server's end of the stream
        assert status == 401 and error_of(body)["type"] == "authentication_error"
        started = time.monotonic()
        wait_until(lambda: server.httpd.connection_stats()["open"] == 0, timeout=5)  # the slow client is still there
        assert time.monotonic() - started < 2


def test_an_endless_body_is_cut_off_at_the_bound_not_the_deadline(tru_server):
    server = tru_server(max_body_bytes=1000, request_timeout=30)
    started = time.monotonic()
    with socket.create_connection((server.host, server.port), timeout=10) as endless:
        endless.sendall(b"POST /v1/chat/completions HTTP/1.1\r\nContent-Length: 1000000000000\r\n\r\n")
        with pytest.raises(OSError):  # the server stops reading after the bound and closes: a reset
            while time.monotonic() - started < 20:
                endless.sendall(b" " * 65536)
    assert time.monotonic() - started < 10
    wait_until(lambda: server.httpd.connection_stats()["open"] == 0)


# -- nested and wrongly typed JSON ----------------------------------------------------------------------


def chat(server, body: bytes):
    status, _, raw = exchange(server, "POST", "/v1/chat/completions", body)
    return status, error_of(raw) if status != 200 else json.loads(raw)


@pytest.mark.parametrize(
    "body",
    [
        b'{"messages": ' + b"[" * 10_000 + b"]" * 10_000 + b"}",
        b'{"messages": [{"role": "user", "content": ' + b"[" * 10_000 + b"]" * 10_000 + b"}]}",
        b'{"metadata": ' + b'{"a": ' * 10_000 + b"1" + b"}" * 10_000 + b"}",
    ],
)
def test_deeply_nested_json_is_400_not_500(tru_server, body):
    server = tru_server()
    status, error = chat(server, body)
    assert status == 400 and error["message"] == "the request body is nested too deeply", error
    assert (
        chat(server, json.dumps({"messages": [{"role": "user", "content": "Hello"}], "max_tokens": 4}).encode())[0]
        == 200
    )  # the thread that parsed it is fine, and so is the server


def user(content) -> dict:
    return {"messages": [{"role": "user", "content": content}], "max_tokens": 4}


@pytest.mark.parametrize(
    "body, field, says",
    [
        ({"messages": "Hello"}, "messages", "'messages' must be a non-empty list, got a string"),
        ({"messages": {"role": "user", "content": "Hello"}}, "messages", "got an object"),
        ({"messages": ["Hello"]}, "messages[0]", "'messages[0]' must be an object"),
        ({"messages": [{"role": 5, "content": "Hello"}]}, "messages[0].role", "needs a role"),
        ({"messages": [{"role": ["user"], "content": "Hello"}]}, "messages[0].role", "needs a role"),
        (
            user(5),
            "messages[0].content",
            "'messages[0].content' must be a string or a list of text parts, got a number",
        ),
        (user(None), "messages[0].content", "got null"),
        (user({"type": "text", "text": "Hello"}), "messages[0].content", "got an object"),
        (user([1, 2]), "messages[0].content[0]", "'messages[0].content[0]' must be a text part"),
        (user(["Hello", "there"]), "messages[0].content[0]", "got a string"),
        (user([[[["Hello"]]]]), "messages[0].content[0]", "got a list"),
        (
            user([{"type": "text", "text": "ok"}, {"type": "text", "text": 5}]),
            "messages[0].content[1].text",
            "'messages[0].content[1].text' must be a string, got a number",
        ),
        (user([{"type": "text"}]), "messages[0].content[0].text", "got null"),
        (
            user([{"type": "image_url", "image_url": {"url": "http://x"}}]),
            "messages[0].content[0]",
            "only text parts are supported",
        ),
        (user("\ud800 lone surrogate"), "messages[0].content", "not valid Unicode"),
        ({**user("Hello"), "model": 5}, "model", "'model' must be a string, got a number"),
        ({**user("Hello"), "stream": "yes"}, "stream", "'stream' must be a boolean, got a string"),
        ({**user("Hello"), "stream_options": "usage"}, "stream_options", "'stream_options' must be an object"),
        (
            {**user("Hello"), "stream": True, "stream_options": {"include_usage": 1}},
            "stream_options.include_usage",
            "must be a boolean, got a number",
        ),
        ({**user("Hello"), "seed": 2**70}, "seed", "'seed' must be an integer"),
        ({**user("Hello"), "seed": "7"}, "seed", "'seed' must be an integer"),
        ({**user("Hello"), "stop": [1]}, "stop", "'stop' must be a string or a list"),
        ({**user("Hello"), "stop": {"a": 1}}, "stop", "'stop' must be a string or a list"),
        ({**user("Hello"), "max_tokens": 2.5}, "max_tokens", "'max_tokens' must be a positive integer"),
        ({**user("Hello"), "temperature": "hot"}, "temperature", "'temperature' must be a number"),
        ({**user("Hello"), "n": True}, "n", "only n=1"),
    ],
)
def test_a_wrongly_typed_field_is_400_naming_it(tru_server, body, field, says):
    server = tru_server()
    status, error = chat(server, json.dumps(body).encode())
    assert (status, error["param"], error["type"]) == (400, field, "invalid_request_error"), error
    assert says in error["message"] and field in error["message"], error


def test_an_error_that_quotes_a_lone_surrogate_is_still_json(tru_server):
    server = tru_server()
    status, error = chat(server, json.dumps({**user("Hello"), "model": "gpt-\ud800"}).encode())
    assert (status, error["param"]) == (404, "model") and "gpt-\ud800" in error["message"]


def test_text_parts_and_a_developer_message_are_still_understood(tru_server):
    server = tru_server()
    parts = [{"type": "text", "text": "Hel"}, {"type": "text", "text": "lo"}]
    body = {
        "messages": [{"role": "developer", "content": "Be brief."}, {"role": "user", "content": parts}],
        "max_tokens": 4,
        "stream": False,
        "stream_options": None,
        "stop": None,
        "seed": -1,
        "n": 1,
    }
    status, answer = chat(server, json.dumps(body).encode())
    assert status == 200 and answer["choices"][0]["message"]["role"] == "assistant"


# -- every error is JSON --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "method, path, allowed",
    [
        ("PUT", "/v1/chat/completions", "POST"),
        ("DELETE", "/v1/chat/completions", "POST"),
        ("PATCH", "/v1/chat/completions", "POST"),
        ("GET", "/v1/chat/completions", "POST"),
        ("POST", "/v1/models", "GET"),
        ("DELETE", "/v1/models", "GET"),
        ("OPTIONS", "/health", "GET"),
        ("BREW", "/v1/stats", "GET"),
    ],
)
def test_another_method_gets_405_with_allow_in_json(tru_server, method, path, allowed):
    server = tru_server()
    status, headers, raw = exchange(server, method, path, b'{"messages": []}')
    error = error_of(raw)
    assert (status, headers["Allow"], headers["Content-Type"]) == (405, allowed, "application/json")
    assert error["message"] == f"method {method} is not allowed on {path}; use {allowed}"
    assert error["type"] == "invalid_request_error"


def test_head_gets_405_headers_without_a_body(tru_server):
    server = tru_server()
    status, headers, raw = exchange(server, "HEAD", "/health")
    assert (status, headers["Allow"], headers["Content-Type"], raw) == (405, "GET", "application/json", b"")


@pytest.mark.parametrize(
    "method, path", [("GET", "/v1/nothing"), ("PUT", "/v1/nothing"), ("DELETE", "/"), ("GET", "/v2/chat/completions")]
)
def test_an_unknown_path_gets_404_in_json(tru_server, method, path):
    server = tru_server()
    status, headers, raw = exchange(server, method, path)
    error = error_of(raw)
    assert (status, error["type"], headers["Content-Type"]) == (404, "not_found_error", "application/json")
    assert error["message"] == f"no route {path.rstrip('/') or '/'}"


def test_routes_come_before_the_token_and_the_token_is_still_required(tru_server, monkeypatch):
    monkeypatch.setenv("TEST_TRU_SERVE_TOKEN", TOKEN)
    server = tru_server(token_env="TEST_TRU_SERVE_TOKEN")
    assert exchange(server, "GET", "/health")[0] == 200
    assert exchange(server, "DELETE", "/v1/models")[0] == 405
    status, headers, raw = exchange(server, "GET", "/v1/models")
    assert (status, headers["WWW-Authenticate"], error_of(raw)["type"]) == (401, "Bearer", "authentication_error")
    assert exchange(server, "GET", "/v1/models", headers={"Authorization": f"Bearer {TOKEN}"})[0] == 200


@pytest.mark.parametrize(
    "request_bytes, status, says",
    [
        (b"GARBAGE\r\n\r\n", 400, "Bad request"),
        (b"GET /health HTTP/2.0\r\n\r\n", 505, "Invalid HTTP version"),
        (b"GET /health HTTP/1.1\r\nX-Long: " + b"a" * 70_000 + b"\r\n\r\n", 431, "Line too long"),
        (b"POST /v1/chat/completions HTTP/1.1\r\nContent-Length: many\r\n\r\n{}", 400, "bad Content-Length header"),
        (
            b"POST /v1/chat/completions HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n2\r\n{}\r\n0\r\n\r\n",
            411,
            "a Content-Length header is required",
        ),
    ],
)
def test_a_malformed_request_gets_a_json_error(tru_server, request_bytes, status, says):
    server = tru_server()
    got, headers, body = raw_exchange(server, request_bytes)
    assert (got, headers["content-type"]) == (status, "application/json")
    assert says in error_of(body)["message"]


def test_many_refused_large_bodies_at_once_leave_the_server_answering(tru_server):
    server = tru_server(max_body_bytes=LIMIT, max_connections=8, max_pending=2)
    results: list = []

    def send() -> None:
        results.append(exchange(server, "POST", "/v1/chat/completions", LARGE)[0])

    threads = [threading.Thread(target=send) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert results == [413] * 4
    wait_until(lambda: server.httpd.connection_stats()["open"] == 0)
    assert exchange(server, "GET", "/health")[0] == 200
