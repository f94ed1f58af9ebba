"""`tru serve` under pressure: the bounded queue (429 + Retry-After), the connection bound and slow clients."""

import json
import socket
import threading
import time
import urllib.error
import urllib.request

import pytest
from polling import wait_until

from tru.core.errors import ConfigError
from tru.llm.server import ServeConfig

BODY = json.dumps({"model": "tiny-llama", "messages": [{"role": "user", "content": "Hello"}], "max_tokens": 4}).encode()


def post(url: str, body: bytes = BODY, timeout: float = 30):
    """(status, headers, parsed JSON body) of one chat request."""
    request = urllib.request.Request(
        url + "/chat/completions", data=body, method="POST", headers={"Content-Type": "application/json"}
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, response.headers, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, exc.headers, json.loads(exc.read())


def post_in_background(url: str, results: list) -> threading.Thread:
    thread = threading.Thread(target=lambda: results.append(post(url)), daemon=True)
    thread.start()
    return thread


def open_socket(server) -> socket.socket:
    sock = socket.create_connection((server.host, server.port), timeout=10)
    return sock


def read_all(sock: socket.socket) -> bytes:
    chunks = []
    while chunk := sock.recv(65536):
        chunks.append(chunk)
    return b"".join(chunks)


def test_a_full_queue_answers_429_at_once_with_retry_after(tru_server):
    server = tru_server(max_pending=2, reply_delay=1.5)
    results: list = []
    running = [post_in_background(server.url, results) for _ in range(2)]
    wait_until(lambda: server.stats()["queue"]["pending"] == 2)
    started = time.monotonic()
    status, headers, body = post(server.url)
    assert time.monotonic() - started < 1.0  # turned away at once, not queued behind the two
    assert status == 429
    assert int(headers["Retry-After"]) >= 1
    assert body["error"]["type"] == "rate_limit_error"
    assert "2 chat requests are already waiting or running" in body["error"]["message"]
    for thread in running:
        thread.join(timeout=30)
    assert sorted(r[0] for r in results) == [200, 200]
    assert post(server.url)[0] == 200  # places free again once the requests are answered
    queue = server.stats()["queue"]
    assert queue == {"pending": 0, "max_pending": 2, "admitted": 3, "rejected_429": 1}


def test_connections_over_the_bound_get_429_without_a_thread(tru_server):
    server = tru_server(max_connections=2, max_pending=2, request_timeout=1.5)
    idle = [open_socket(server) for _ in range(2)]  # two clients that connect and send nothing
    wait_until(lambda: server.httpd.connection_stats()["open"] == 2)
    threads_before = threading.active_count()
    status, headers, body = post(server.url)
    assert status == 429 and headers["Retry-After"] == "1"
    assert "2 connections are already open" in body["error"]["message"]
    # the request is read before the answer, so even a large body gets its 429, not a reset connection
    large = json.dumps({"messages": [{"role": "user", "content": "x" * 50_000}], "max_tokens": 4}).encode()
    assert [post(server.url, large)[0] for _ in range(20)] == [429] * 20
    assert threading.active_count() == threads_before
    # the idle clients are dropped after --request-timeout, and the server answers again
    for sock in idle:
        assert read_all(sock) == b""
        sock.close()
    wait_until(lambda: server.httpd.connection_stats()["open"] == 0)
    assert post(server.url)[0] == 200
    stats = server.stats()["connections"]
    assert stats["refused_429"] == 21 and stats["max_connections"] == 2


def test_half_a_request_times_out_without_blocking_other_clients(tru_server):
    server = tru_server(request_timeout=1.0)
    slow = open_socket(server)
    slow.sendall(b"POST /v1/chat/completions HTTP/1.1\r\nContent-Type: application/json\r\n")  # no end of headers
    assert post(server.url, timeout=5)[0] == 200  # others are answered meanwhile
    started = time.monotonic()
    assert read_all(slow) == b""  # dropped, no answer
    assert time.monotonic() - started < 3
    slow.close()


def test_a_trickling_client_is_dropped_at_the_deadline(tru_server):
    """Each byte arrives within the per-read timeout, but the whole request must arrive within the deadline."""
    server = tru_server(request_timeout=1.0)
    slow = open_socket(server)
    started = time.monotonic()
    request = b"POST /v1/chat/completions HTTP/1.1\r\nX-Padding: " + b"a" * 100
    try:
        for byte in request:
            slow.sendall(bytes([byte]))
            time.sleep(0.1)
    except OSError:  # the server closed the connection: what this test wants
        pass
    assert read_all(slow) == b""
    assert time.monotonic() - started < 4
    slow.close()


def test_a_body_that_never_arrives_gets_408(tru_server):
    server = tru_server(request_timeout=1.0)
    slow = open_socket(server)
    slow.sendall(
        b"POST /v1/chat/completions HTTP/1.1\r\nContent-Type: application/json\r\n"
        b'Content-Length: 100\r\n\r\n{"messages":'
    )
    answer = read_all(slow).decode()
    slow.close()
    assert answer.startswith("HTTP/1.0 408")
    assert "did not arrive within 1 s" in answer
    assert server.stats()["connections"]["timed_out"] == 1


def test_limits_still_give_clear_4xx_while_the_queue_is_busy(tru_server):
    server = tru_server(max_pending=1, reply_delay=1.0, max_body_bytes=300, max_messages=2, max_tokens_limit=8)
    results: list = []
    running = post_in_background(server.url, results)
    wait_until(lambda: server.stats()["queue"]["pending"] == 1)
    # the body limit is checked before the queue: an oversized request gets 413, not 429
    status, _, body = post(server.url, json.dumps({"messages": [{"role": "user", "content": "x" * 400}]}).encode())
    assert status == 413 and "exceeds the limit of 300" in body["error"]["message"]
    running.join(timeout=30)
    assert results[0][0] == 200
    status, _, body = post(server.url, json.dumps({"messages": [{"role": "user", "content": "x"}] * 3}).encode())
    assert status == 400 and "too many messages: 3 (limit 2)" in body["error"]["message"]
    status, _, body = post(
        server.url, json.dumps({"messages": [{"role": "user", "content": "x"}], "max_tokens": 9}).encode()
    )
    assert status == 400 and "exceeds this server's limit of 8" in body["error"]["message"]


@pytest.mark.parametrize(
    "settings, message",
    [
        ({"max_pending": 0}, "--max-pending must be at least 1"),
        ({"max_pending": 10, "max_connections": 4}, "--max-connections (4) must be at least --max-pending (10)"),
        ({"request_timeout": 0}, "--request-timeout must be positive"),
    ],
)
def test_bounds_are_validated(settings, message):
    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace(")", r"\)")):
        ServeConfig(model="tiny-llama", **settings).validate()
