"""Load test for `tru serve`: N concurrent clients for D seconds on loopback.

    python bench/serve_load.py                       # starts `tru serve --model tiny-llama` on 127.0.0.1
    python bench/serve_load.py --clients 50 --duration 60 --server-args "--max-pending 8"
    python bench/serve_load.py --url http://127.0.0.1:8000/v1 --pid 12345   # a server already running
    python bench/serve_load.py --server-command "python tests/serve_aids.py" --server-args "--reply-delay 0.2"

Every client loops (at most --max-requests-per-client times, and never past the deadline) sending
chat requests with a small max_tokens, each on a fresh connection. The report gives the count of
each status, latency percentiles, and the server's resident memory (RSS, from /proc/<pid>/status)
over the run. The run passes when there is no 5xx, no status other than 200 and 429, no connection
error, no traceback on the server's stderr, and the RSS grew by at most --max-rss-growth between the
end of the warm-up and the end of the run. Exit status 0 on a pass, 1 on a failure, 2 on bad usage.

--server-command starts another program in place of `tru serve`, one that takes its flags and prints its
first line (tests/serve_aids.py: `tru serve` with the testing aids, such as a slow answer that makes the
queue fill up). It only ever connects to 127.0.0.1.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import random
import re
import shlex
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

REPO = Path(__file__).resolve().parents[1]
HOST = "127.0.0.1"


@dataclass
class Results:
    """What the clients saw; every method is safe to call from many threads."""

    statuses: Counter = field(default_factory=Counter)
    latencies: dict = field(default_factory=dict)  # outcome -> list of seconds
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, outcome: str, seconds: float) -> None:
        with self.lock:
            self.statuses[outcome] += 1
            self.latencies.setdefault(outcome, []).append(seconds)


# -- the server ----------------------------------------------------------------------------------------


def parse_url(url: str) -> tuple[int, str]:
    """(port, base path) of a loopback URL; anything but 127.0.0.1 is refused."""
    parts = urlsplit(url)
    if parts.scheme != "http" or parts.hostname != HOST or parts.port is None:
        raise SystemExit(f"--url must be http://{HOST}:PORT/v1 (this load test only connects to {HOST}), got {url}")
    return parts.port, parts.path.rstrip("/") or "/v1"


def start_server(
    model: str, server_args: list[str], stderr_file, server_command: list[str] | None = None
) -> tuple[subprocess.Popen, str]:
    """`tru serve` (or ``server_command``) on 127.0.0.1 and a free port, in a child process; returns it and its
    base URL."""
    program = server_command or [sys.executable, "-m", "tru.cli", "serve"]
    command = [*program, "--model", model, "--host", HOST, "--port", "0", *server_args]
    env = {k: v for k, v in os.environ.items() if k != "TRU_SERVE_TOKEN"}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
    process = subprocess.Popen(command, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=stderr_file, text=True)
    line = process.stdout.readline()  # "tru serve: model 'x' at http://127.0.0.1:PORT/v1 (...)"
    match = re.search(r"at (http://\S+/v1)", line)
    if not match:
        process.kill()
        stderr_file.seek(0)
        raise SystemExit(f"tru serve did not start: {line.strip()}\n{stderr_file.read()[-2000:]}")
    return process, match.group(1)


def stop_server(process: subprocess.Popen) -> None:
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def rss_mib(pid: int) -> float | None:
    """Resident memory of a process in MiB (Linux /proc), or None when it cannot be read."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except (OSError, ValueError):
        return None
    return None


def sample_rss(pid: int, stop: threading.Event, samples: list, every: float = 0.5) -> None:
    started = time.monotonic()
    while not stop.is_set():
        value = rss_mib(pid)
        if value is not None:
            samples.append((time.monotonic() - started, value))
        stop.wait(every)


# -- the clients -----------------------------------------------------------------------------------------


def chat_request(port: int, path: str, body: bytes, timeout: float) -> str:
    """The status of one chat request as a string, or ``error:<Name>`` when the connection failed."""
    connection = http.client.HTTPConnection(HOST, port, timeout=timeout)
    try:
        connection.request("POST", path + "/chat/completions", body=body, headers={"Content-Type": "application/json"})
        response = connection.getresponse()
        response.read()
        return str(response.status)
    except (OSError, http.client.HTTPException) as exc:
        return f"error:{type(exc).__name__}"
    finally:
        connection.close()


def client_loop(number: int, port: int, path: str, deadline: float, args, results: Results) -> None:
    """Requests until the deadline or --max-requests-per-client, whichever comes first."""
    rng = random.Random(number)
    for index in range(args.max_requests_per_client):
        if time.monotonic() >= deadline:
            return
        body = json.dumps(
            {
                "messages": [{"role": "user", "content": f"Client {number}, request {index}: name a colour."}],
                "max_tokens": args.max_tokens,
            }
        ).encode()
        started = time.monotonic()
        outcome = chat_request(port, path, body, args.request_timeout)
        results.add(outcome, time.monotonic() - started)
        if outcome == "429" and args.pause_after_429 > 0:
            time.sleep(rng.uniform(0, args.pause_after_429))


def run_clients(port: int, path: str, args) -> Results:
    results = Results()
    deadline = time.monotonic() + args.duration
    threads = [
        threading.Thread(target=client_loop, args=(n, port, path, deadline, args, results), daemon=True)
        for n in range(args.clients)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=args.duration + args.request_timeout + 30)
    return results


# -- the report ------------------------------------------------------------------------------------------


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q / 100 * (len(ordered) - 1))))]


def latency_summary(values: list[float]) -> dict:
    return {
        "count": len(values),
        **{f"p{q}_ms": round(1000 * percentile(values, q), 1) for q in (50, 90, 99)},
        "max_ms": round(1000 * max(values), 1),
    }


def rss_summary(samples: list, warmup: float, max_growth: float) -> dict:
    """RSS before the load, at the end of the warm-up, at the end and at its peak; growth after warm-up."""
    if not samples:
        return {"measured": False}
    after = [value for t, value in samples if t >= warmup] or [samples[-1][1]]
    reference, end = after[0], samples[-1][1]
    growth = (end - reference) / reference
    return {
        "measured": True,
        "start_mib": round(samples[0][1], 1),
        "after_warmup_mib": round(reference, 1),
        "end_mib": round(end, 1),
        "peak_mib": round(max(v for _, v in samples), 1),
        "growth_after_warmup": round(growth, 4),
        "max_growth": max_growth,
        "flat": growth <= max_growth,
    }


def verdict(report: dict) -> list[str]:
    """The reasons the run failed (none: it passed)."""
    problems = []
    statuses = report["statuses"]
    server_errors = sum(n for s, n in statuses.items() if s.isdigit() and int(s) >= 500)
    if server_errors:
        problems.append(f"{server_errors} responses were 5xx")
    unexpected = {s: n for s, n in statuses.items() if s not in ("200", "429")}
    if unexpected:
        problems.append(f"statuses other than 200 and 429: {unexpected}")
    if not statuses.get("200"):
        problems.append("no request succeeded")
    if report["rss"].get("measured") and not report["rss"]["flat"]:
        problems.append(
            f"server RSS grew by {report['rss']['growth_after_warmup']:.1%} after warm-up "
            f"(limit {report['rss']['max_growth']:.0%})"
        )
    if report.get("server_tracebacks"):
        problems.append(f"{report['server_tracebacks']} tracebacks on the server's stderr")
    return problems


def build_report(
    args, results: Results, samples: list, elapsed: float, stats: dict | None, tracebacks: int | None
) -> dict:
    statuses = dict(sorted(results.statuses.items()))
    report = {
        "clients": args.clients,
        "duration_s": args.duration,
        "elapsed_s": round(elapsed, 1),
        "max_tokens": args.max_tokens,
        "requests": sum(statuses.values()),
        "requests_per_s": round(sum(statuses.values()) / elapsed, 1),
        "statuses": statuses,
        "latency": {s: latency_summary(v) for s, v in sorted(results.latencies.items())},
        "rss": rss_summary(samples, args.duration * args.warmup_fraction, args.max_rss_growth),
        "server_stats": stats,
        "server_tracebacks": tracebacks,
    }
    report["problems"] = verdict(report)
    report["passed"] = not report["problems"]
    return report


def print_report(report: dict) -> None:
    print(
        f"{report['clients']} clients for {report['duration_s']} s: {report['requests']} requests "
        f"({report['requests_per_s']}/s), max_tokens {report['max_tokens']}"
    )
    print("statuses: " + ", ".join(f"{s}: {n}" for s, n in report["statuses"].items()))
    for status, summary in report["latency"].items():
        print(
            f"latency {status}: p50 {summary['p50_ms']} ms, p90 {summary['p90_ms']} ms, "
            f"p99 {summary['p99_ms']} ms, max {summary['max_ms']} ms"
        )
    rss = report["rss"]
    if rss.get("measured"):
        print(
            f"server RSS: {rss['start_mib']} MiB before load, {rss['after_warmup_mib']} MiB after warm-up, "
            f"{rss['end_mib']} MiB at the end (peak {rss['peak_mib']} MiB; growth after warm-up "
            f"{rss['growth_after_warmup']:+.1%}, limit {rss['max_growth']:.0%})"
        )
    else:
        print("server RSS: not measured (give --pid with --url)")
    if report["server_stats"]:
        print(f"server stats: {json.dumps(report['server_stats'])}")
    print("PASS" if report["passed"] else "FAIL: " + "; ".join(report["problems"]))


def fetch_stats(port: int, path: str) -> dict | None:
    connection = http.client.HTTPConnection(HOST, port, timeout=10)
    try:
        connection.request("GET", path + "/stats")
        response = connection.getresponse()
        data = json.loads(response.read())
        return {k: data[k] for k in ("chat_requests", "queue", "connections") if k in data}
    except (OSError, ValueError, http.client.HTTPException):
        return None
    finally:
        connection.close()


def count_tracebacks(stderr_file) -> int:
    stderr_file.flush()
    stderr_file.seek(0)
    return stderr_file.read().count("Traceback")


# -- main --------------------------------------------------------------------------------------------------


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--url", help=f"base URL of a running server (http://{HOST}:PORT/v1); default: start one")
    parser.add_argument("--pid", type=int, help="process id of the server at --url, for its RSS")
    parser.add_argument("--model", default="tiny-llama", help="model of the server this script starts")
    parser.add_argument("--server-args", default="", help='more `tru serve` flags, e.g. "--max-pending 4"')
    parser.add_argument(
        "--server-command",
        default="",
        help='the command that starts the server in place of `tru serve`, e.g. "python tests/serve_aids.py"',
    )
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--duration", type=float, default=60.0, help="seconds of load")
    parser.add_argument("--max-tokens", type=int, default=8)
    parser.add_argument("--max-requests-per-client", type=int, default=100_000)
    parser.add_argument("--request-timeout", type=float, default=60.0, help="client-side timeout per request")
    parser.add_argument(
        "--pause-after-429",
        type=float,
        default=0.05,
        help="a client waits a random time up to this many seconds after a 429",
    )
    parser.add_argument(
        "--warmup-fraction",
        type=float,
        default=0.2,
        help="RSS growth is measured from this fraction of the run to its end",
    )
    parser.add_argument("--max-rss-growth", type=float, default=0.10)
    parser.add_argument("--json", action="store_true", help="print the report as one JSON object")
    args = parser.parse_args(argv)
    if args.clients < 1 or args.duration <= 0 or args.max_tokens < 1 or args.max_requests_per_client < 1:
        parser.error("--clients, --duration, --max-tokens and --max-requests-per-client must be positive")
    return args


def main(argv=None) -> int:
    args = parse_args(argv)
    process = None
    with tempfile.TemporaryFile("w+") as stderr_file:
        if args.url:
            port, path = parse_url(args.url)
            pid = args.pid
        else:
            command = shlex.split(args.server_command) or None
            process, url = start_server(args.model, shlex.split(args.server_args), stderr_file, command)
            port, path = parse_url(url)
            pid = process.pid
        stop, samples = threading.Event(), []
        sampler = None
        if pid:
            sampler = threading.Thread(target=sample_rss, args=(pid, stop, samples), daemon=True)
            sampler.start()
        try:
            started = time.monotonic()
            results = run_clients(port, path, args)
            elapsed = time.monotonic() - started
            stats = fetch_stats(port, path)
        finally:
            stop.set()
            if sampler:
                sampler.join()
            if process:
                stop_server(process)
        tracebacks = count_tracebacks(stderr_file) if process else None
    report = build_report(args, results, samples, elapsed, stats, tracebacks)
    if args.json:
        print(json.dumps(report))
    else:
        print_report(report)
    return 0 if report["passed"] else 1


if __name__ == "__main__":
    sys.exit(main())
