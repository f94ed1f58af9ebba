"""What glibc does with the memory a CPU training step frees (tru.core.host_memory)."""

import json
import os
import subprocess
import sys

import pytest
from cli_runs import unlearn_args
from launched import run_group

from tru.core import host_memory
from tru.core.errors import ConfigError

glibc_only = pytest.mark.skipif(not host_memory.on_glibc(), reason="glibc only")

# Each "step" allocates and touches 6 blocks of 40-60 MiB (activations) and frees them; after 3 steps,
# count the page faults of a fourth.
_KEEP = """
import json, resource, torch
from tru.core.host_memory import configure_host_memory
mode = configure_host_memory("cpu")
def step():
    blocks = [torch.ones((10 + i) << 20) for i in range(6)]
    del blocks
for _ in range(3):
    step()
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
step()
print(json.dumps({"mode": mode, "faults": resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before}))
"""

# After one 8 MiB block has come and gone, glibc's own threshold has risen to 8 MiB, so 20 blocks of
# 6 MiB come from its heap; a small block laid above them keeps the heap's top from being trimmed.
# Resident memory before and after the 20 are freed.
_COMPACT = """
import json, sys, torch
from tru.core.host_memory import configure_host_memory, host_memory_in_effect
mode = configure_host_memory("cpu", gradient_checkpointing=sys.argv[1] == "checkpointing")
def resident():
    return int(open("/proc/self/statm").read().split()[1]) * 4096
big = torch.ones(2 << 20)
del big
blocks = [torch.ones(6 << 18) for _ in range(20)]
pin = torch.ones(1 << 14)
before = resident()
del blocks
print(json.dumps({"mode": mode, "in_effect": host_memory_in_effect(), "returned": before - resident()}))
"""


def _env(mode: str | None) -> dict:
    """This environment without any malloc setting (tests/conftest.py sets glibc for this process), plus ``mode``."""
    env = {k: v for k, v in os.environ.items() if k != host_memory.ENV and not k.startswith("MALLOC_")}
    return env if mode is None else {**env, host_memory.ENV: mode}


def _run(script: str, *args: str, mode: str | None = None) -> dict:
    done = subprocess.run(
        [sys.executable, "-c", script, *args], capture_output=True, text=True, check=True, env=_env(mode)
    )
    return json.loads(done.stdout.strip().splitlines()[-1])


@glibc_only
def test_keep_reuses_freed_memory_without_page_faults():
    default, kept = _run(_KEEP), _run(_KEEP, mode="keep")
    pages = (sum(10 + i for i in range(6)) << 22) // 4096
    assert default["mode"] == "glibc" and default["faults"] > pages // 2  # mapped afresh: every page faults in again
    # now and then glibc places one block above the freed ones (a 60 MiB block: 15,360 pages)
    assert kept["mode"] == "keep" and kept["faults"] < pages // 4


@glibc_only
def test_compact_returns_freed_blocks_and_comes_with_checkpointing():
    blocks = 20 * (6 << 20)
    default = _run(_COMPACT, "plain")
    assert default["mode"] == "glibc" and default["returned"] < blocks // 4  # they stay in the heap
    for run in (_run(_COMPACT, "checkpointing"), _run(_COMPACT, "plain", mode="compact")):
        assert run["mode"] == run["in_effect"] == "compact" and run["returned"] > blocks * 9 // 10
    assert _run(_COMPACT, "checkpointing", mode="glibc")["mode"] == "glibc"


@glibc_only
def test_mode_follows_checkpointing_unless_set(monkeypatch):
    monkeypatch.delenv(host_memory.ENV, raising=False)
    for name in host_memory.USER_SETTINGS:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.delenv("GLIBC_TUNABLES", raising=False)
    assert host_memory.host_memory_mode("cpu") == "glibc"
    assert host_memory.host_memory_mode("cpu", gradient_checkpointing=True) == "compact"
    monkeypatch.setenv(host_memory.ENV, "keep")
    assert host_memory.host_memory_mode("cpu", gradient_checkpointing=True) == "keep"
    monkeypatch.setenv(host_memory.ENV, "glibc")
    assert host_memory.host_memory_mode("cpu", gradient_checkpointing=True) == "glibc"


def test_nothing_set_off_the_cpu_or_where_the_user_tunes_malloc(monkeypatch):
    monkeypatch.setenv(host_memory.ENV, "keep")
    assert host_memory.host_memory_mode("cuda") == "glibc"
    assert host_memory.host_memory_mode("meta", gradient_checkpointing=True) == "glibc"
    monkeypatch.setenv("MALLOC_TRIM_THRESHOLD_", "1000000")
    assert host_memory.host_memory_mode("cpu") == "glibc"
    monkeypatch.delenv("MALLOC_TRIM_THRESHOLD_")
    monkeypatch.setenv("GLIBC_TUNABLES", "glibc.malloc.trim_threshold=1000000")
    assert host_memory.configure_host_memory("cpu") == "glibc"


def test_unknown_mode_names_the_setting_and_the_choices(monkeypatch):
    monkeypatch.setenv(host_memory.ENV, "tight")
    with pytest.raises(ConfigError, match="TRU_HOST_MEMORY='tight'.*glibc, compact, keep"):
        host_memory.host_memory_mode("cuda")


@glibc_only
@pytest.mark.parametrize(
    "checkpointing,mode", [("--gradient-checkpointing", "compact"), ("--no-gradient-checkpointing", "glibc")]
)
def test_an_unlearning_run_sets_and_records_the_mode(tmp_path, small_tofu, checkpointing, mode):
    """`tru unlearn` passes its checkpointing setting on when it loads the model, and the run's
    environment.json says what was in effect."""
    out = tmp_path / "run"
    args = unlearn_args(small_tofu, out, "--batch-size", "2", "--summary-items", "0", "--device", "cpu", checkpointing)
    done = run_group([sys.executable, "-m", "tru.cli", *args], env=_env(None))
    assert done.returncode == 0, done.stderr[-2000:]
    assert json.loads((out / "environment.json").read_text())["host_memory"] == mode
