"""Freed memory kept in the process on the CPU (tru.host_memory)."""

import json
import os
import platform
import subprocess
import sys

import pytest

from tru import host_memory

# a "step" allocates and touches 6 blocks of 40-60 MiB (activations) and frees them; after 3 steps,
# count the page faults of a fourth
_STEPS = """
import json, resource, sys, torch
from tru.host_memory import keep_freed_memory
kept = keep_freed_memory("cpu") if sys.argv[1] == "keep" else False
def step():
    blocks = [torch.ones((10 + i) << 20) for i in range(6)]
    del blocks
for _ in range(3):
    step()
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
step()
print(json.dumps({"kept": kept, "faults": resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before}))
"""


def _step_faults(mode: str) -> dict:
    env = {**os.environ, "TRU_KEEP_FREED_MEMORY": "1"}
    done = subprocess.run([sys.executable, "-c", _STEPS, mode], capture_output=True, text=True, check=True, env=env)
    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.mark.skipif(platform.system() != "Linux" or platform.libc_ver()[0] != "glibc", reason="glibc only")
def test_freed_memory_is_reused_without_page_faults():
    default, kept = _step_faults("default"), _step_faults("keep")
    pages = (sum(10 + i for i in range(6)) << 22) // 4096
    assert not default["kept"] and default["faults"] > pages // 2  # mapped afresh: every page faults in again
    # now and then glibc places one block above the freed ones (a 60 MiB block: 15,360 pages)
    assert kept["kept"] and kept["faults"] < pages // 4


def test_left_alone_unless_asked_and_off_the_cpu(monkeypatch):
    monkeypatch.delenv("TRU_KEEP_FREED_MEMORY", raising=False)
    assert not host_memory.keep_freed_memory("cpu")
    monkeypatch.setenv("TRU_KEEP_FREED_MEMORY", "0")
    assert not host_memory.keep_freed_memory("cpu")
    monkeypatch.setenv("TRU_KEEP_FREED_MEMORY", "1")
    assert not host_memory.keep_freed_memory("cuda")
    assert not host_memory.keep_freed_memory("meta")


def test_user_malloc_settings_win(monkeypatch):
    monkeypatch.setenv("TRU_KEEP_FREED_MEMORY", "1")
    monkeypatch.setenv("MALLOC_TRIM_THRESHOLD_", "1000000")
    assert not host_memory.keep_freed_memory("cpu")
    monkeypatch.delenv("MALLOC_TRIM_THRESHOLD_")
    monkeypatch.setenv("GLIBC_TUNABLES", "glibc.malloc.trim_threshold=1000000")
    assert not host_memory.keep_freed_memory("cpu")
