"""Running a command and every process it starts (a launcher's workers) under a time limit, and finding
and ending what the test run started."""

import functools
import os
import subprocess
import time

import psutil
import pytest

LAUNCH_TIMEOUT_S = 600  # these runs take under a minute; a hang fails its test instead of the whole CI run
SESSION_MARKER = "TRU_TEST_SESSION"  # tests/conftest.py sets it for the run; every process started inherits it
END_TIMEOUT_S = 10


def run_group(command: list[str], timeout_s: float = LAUNCH_TIMEOUT_S, **popen) -> subprocess.CompletedProcess:
    """subprocess.run(capture_output=True, text=True), but on timeout (or any interruption) the launcher and
    everything it started are killed (subprocess.run kills only the launcher, leaving its workers behind) and
    the test fails with the output."""
    process = subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True, **popen
    )
    try:
        out, err = process.communicate(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        end_tree(process)
        out, err = process.communicate()
        pytest.fail(
            f"{' '.join(command[:6])} ... did not finish in {timeout_s} s; its last output:\n"
            f"{out[-1000:]}\n{err[-3000:]}"
        )
    except BaseException:  # a pytest-timeout, a Ctrl-C
        end_tree(process)
        raise
    return subprocess.CompletedProcess(command, process.returncode, out, err)


def end_tree(process: subprocess.Popen) -> None:
    """SIGKILL ``process`` and everything it started. torch's launcher starts its workers in sessions of
    their own, outside its process group, so they are found as its descendants while it still lives (once
    it is gone they belong to init); it is stopped first, so that it starts no more in between."""
    if process.poll() is None:  # not reaped yet, so its pid is still its own
        try:
            launcher = psutil.Process(process.pid)
            launcher.suspend()
            end_processes([launcher, *launcher.children(recursive=True)])
        except psutil.NoSuchProcess:
            pass
    process.wait()


def started_by_session(session: str, exclude: set[int]) -> list[psutil.Process]:
    """The running processes whose environment carries ``session`` as SESSION_MARKER, whoever their
    parent now is (children, grandchildren, workers in sessions of their own, orphans), less ``exclude``."""
    found = []
    for process in psutil.process_iter():
        if process.pid in exclude:
            continue
        try:
            if process.environ().get(SESSION_MARKER) == session:
                found.append(process)
        except psutil.Error:  # gone, a zombie (nothing left to end), or another user's
            continue
    return found


def is_running(process: psutil.Process) -> bool:
    """Alive and not a zombie: an orphan that died stays a zombie until init reaps it, holding nothing."""
    try:
        return process.status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def end_processes(processes: list[psutil.Process], timeout_s: float = END_TIMEOUT_S) -> list[psutil.Process]:
    """SIGKILL ``processes`` (psutil checks each is still the process it found, not a reused pid) and wait
    until they are gone; returns those that would not go."""
    for process in processes:
        try:
            process.kill()
        except psutil.NoSuchProcess:
            pass
    deadline = time.monotonic() + timeout_s
    while any(map(is_running, processes)) and time.monotonic() < deadline:
        time.sleep(0.01)
    return [p for p in processes if is_running(p)]


def describe(process: psutil.Process) -> str:
    try:
        return f"pid {process.pid}: {' '.join(process.cmdline())[:300]}"
    except psutil.Error:
        return f"pid {process.pid} (gone)"


@functools.cache
def own_lineage() -> set[int]:
    """This process and its ancestors, which may carry an outer run's marker."""
    return {os.getpid(), *(p.pid for p in psutil.Process().parents())}
