"""A CI-sized run of bench/serve_load.py: 50 concurrent clients for 8 s against `tru serve` in a child process.

The queue is kept small and each request slow (--max-pending 4, and --reply-delay 0.2 s, a testing aid: the
server is tests/serve_aids.py, `tru serve` with the aids) so that the bound is certainly reached: the run
must see 429s, and nothing but 200 and 429.
"""

import json
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_fifty_clients_get_only_200_or_429_and_memory_stays_flat():
    command = [
        sys.executable,
        str(REPO / "bench" / "serve_load.py"),
        "--clients",
        "50",
        "--duration",
        "8",
        "--server-command",
        shlex.join([sys.executable, str(REPO / "tests" / "serve_aids.py")]),
        "--server-args",
        "--max-pending 4 --reply-delay 0.2",
        "--warmup-fraction",
        "0.25",
        "--max-rss-growth",
        "0.25",
        "--json",
    ]
    result = subprocess.run(command, capture_output=True, text=True, cwd=REPO, timeout=120)
    assert result.stdout.strip(), result.stderr[-2000:]
    report = json.loads(result.stdout.strip().splitlines()[-1])
    statuses = report["statuses"]
    assert not [s for s in statuses if s.startswith("5")], statuses
    assert set(statuses) <= {"200", "429"}, statuses
    assert statuses.get("200", 0) >= 5 and statuses.get("429", 0) >= 50, statuses
    assert report["latency"]["429"]["p50_ms"] < 1000  # turned away at once, not queued
    assert report["server_stats"]["queue"]["max_pending"] == 4
    assert report["server_stats"]["queue"]["rejected_429"] == statuses["429"]
    assert report["server_tracebacks"] == 0
    assert report["rss"]["measured"] and report["rss"]["flat"], report["rss"]
    assert report["passed"] and result.returncode == 0, report["problems"]
