"""Running a command and every process it starts (a launcher's workers) under a time limit."""

import os
import signal
import subprocess

import pytest

LAUNCH_TIMEOUT_S = 600  # these runs take under a minute; a hang fails its test instead of the whole CI run


def run_group(command: list[str], timeout_s: float = LAUNCH_TIMEOUT_S, **popen) -> subprocess.CompletedProcess:
    """subprocess.run(capture_output=True, text=True), but on timeout the whole process group is killed
    (subprocess.run kills only the launcher, leaving its workers behind) and the test fails with the output."""
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               start_new_session=True, **popen)
    try:
        out, err = process.communicate(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        out, err = process.communicate()
        pytest.fail(f"{' '.join(command[:6])} ... did not finish in {timeout_s} s; its last output:\n"
                    f"{out[-1000:]}\n{err[-3000:]}")
    return subprocess.CompletedProcess(command, process.returncode, out, err)
