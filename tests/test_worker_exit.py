"""A worker whose launcher is killed exits on its own, with one line saying why (tru.core.processes)."""

import os
import signal
import subprocess
import sys
import threading
import time

import psutil
import pytest
from launched import end_processes, end_tree, is_running

from tru.core import processes

GONE_WITHIN_S = 5

# torch's launcher in miniature: two workers in sessions of their own, with their ranks
LAUNCHER = """
import os, subprocess, sys
for rank in range(2):
    ranks = {"RANK": str(rank), "LOCAL_RANK": str(rank)}
    subprocess.Popen([sys.executable, "-c", sys.argv[1]], env={**os.environ, **ranks}, start_new_session=True)
os.wait(); os.wait()
"""
WORKER = """
import os, time
from tru.core import processes
if {watchdog_only}:
    processes._signal_on_parent_death = lambda launcher: None  # as where the OS has no parent-death signal
processes.exit_with_launcher()
os.write(1, b"armed\\n")  # one write: the two workers share the pipe
time.sleep(600)  # waiting for ever, as on a stale lock or a peer that never comes
"""


def workers_of(launcher: subprocess.Popen, count: int, command_part: str, deadline_s: float) -> list[psutil.Process]:
    deadline = time.monotonic() + deadline_s
    while time.monotonic() < deadline and launcher.poll() is None:
        try:
            workers = [p for p in psutil.Process(launcher.pid).children() if command_part in " ".join(p.cmdline())]
        except psutil.NoSuchProcess:  # one that ended as it was listed
            continue
        if len(workers) == count:
            return workers
        time.sleep(0.2)
    pytest.fail(f"the launcher did not start {count} workers in {deadline_s} s")


def kill_launcher(launcher: subprocess.Popen, workers: list[psutil.Process]) -> list[psutil.Process]:
    """SIGKILL the launcher alone, as the OOM killer would; the workers still running GONE_WITHIN_S later."""
    os.kill(launcher.pid, signal.SIGKILL)
    launcher.wait()
    killed = time.monotonic()
    while any(map(is_running, workers)) and time.monotonic() - killed < GONE_WITHIN_S:
        time.sleep(0.01)
    return [w for w in workers if is_running(w)]


@pytest.mark.parametrize("watchdog_only", [False, True], ids=["parent-death-signal", "watchdog"])
def test_workers_exit_when_their_launcher_is_killed(tmp_path, watchdog_only):
    log = tmp_path / "stderr.txt"
    command = [sys.executable, "-c", LAUNCHER, WORKER.format(watchdog_only=watchdog_only)]
    with log.open("w") as err, subprocess.Popen(command, stdout=subprocess.PIPE, stderr=err, text=True) as launcher:
        workers = []
        try:
            assert launcher.stdout.readline() == launcher.stdout.readline() == "armed\n", log.read_text()
            workers = workers_of(launcher, 2, "exit_with_launcher", 10)
            survivors = kill_launcher(launcher, workers)
        finally:
            end_tree(launcher)
            end_processes(workers)  # those that outlived it, if any
    assert not survivors, f"{len(survivors)} workers still running {GONE_WITHIN_S} s after their launcher was killed"
    assert log.read_text().count(f"tru: the launcher (pid {launcher.pid}) is gone; this worker exits\n") == 2


def test_nothing_is_armed_outside_a_launcher(monkeypatch):
    monkeypatch.delenv("RANK", raising=False)
    monkeypatch.delenv("LOCAL_RANK", raising=False)
    processes.exit_with_launcher()
    assert not processes._armed
    assert "tru-launcher-watch" not in {t.name for t in threading.enumerate()}


@pytest.mark.slow
def test_accelerate_workers_exit_when_the_launcher_is_killed_mid_run(tmp_path, small_tofu):
    """The real thing: `accelerate launch` of a 2-process `tru unlearn`, its launcher SIGKILLed mid-training."""
    from test_distributed import launch_command, unlearn_cmd

    command = [*launch_command("--multi_gpu"), *unlearn_cmd(small_tofu, tmp_path / "run", 2)]
    command[command.index("--max-steps") + 1] = "100000"
    log = tmp_path / "stderr.txt"
    with log.open("w") as err:
        launcher = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=err, start_new_session=True)
        workers = []
        try:
            workers = workers_of(launcher, 2, "tru.cli", 120)
            losses = tmp_path / "run" / "losses.jsonl"
            deadline = time.monotonic() + 300
            while not (losses.exists() and losses.read_text()) and launcher.poll() is None:  # both are training
                assert time.monotonic() < deadline, log.read_text()[-3000:]
                time.sleep(0.5)
            assert launcher.poll() is None, log.read_text()[-3000:]
            survivors = kill_launcher(launcher, workers)
        finally:
            end_tree(launcher)
            end_processes(workers)  # those that outlived it, if any
    text = log.read_text()
    assert not survivors, f"{len(survivors)} workers still running {GONE_WITHIN_S} s after their launcher was killed"
    assert text.count(f"tru: the launcher (pid {launcher.pid}) is gone; this worker exits\n") == 2, text[-3000:]
