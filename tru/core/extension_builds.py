"""Lock files that a killed build of a just-in-time C++ extension leaves behind.

torch builds such extensions (DeepSpeed its shared-memory communication op on a CPU, its fused
optimizers on a GPU) into a cache that every run of the user shares, guarded by a ``lock`` file
that the build deletes when it ends; a process that finds the lock waits for it to go. A build
killed in between (an interrupted run, a machine restart) leaves the lock, and from then on every
DeepSpeed run waits on it silently, for ever. Nothing can tell a stale lock from a slow build, so
tru names old locks before training instead of removing them.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

STALE_AFTER_S = 300  # DeepSpeed's CPU op builds in about 30 s on 2 cores; its CUDA ops take minutes


def extension_build_root() -> Path:
    """Where torch builds extensions: TORCH_EXTENSIONS_DIR, else its per-user cache."""
    from torch.utils.cpp_extension import get_default_build_root

    return Path(os.environ.get("TORCH_EXTENSIONS_DIR") or get_default_build_root())


def old_build_locks(root: Path, older_than_s: float = STALE_AFTER_S) -> dict[Path, float]:
    """Build locks under ``root`` (one folder per extension, under a python/accelerator folder in
    torch's default cache) last touched more than ``older_than_s`` seconds ago, with their ages in
    seconds. A lock that goes while they are listed (its build ended) is not one."""
    now, ages = time.time(), {}
    for lock in sorted([*root.glob("*/lock"), *root.glob("*/*/lock")]):
        try:
            age = now - lock.stat().st_mtime
        except FileNotFoundError:
            continue
        if age > older_than_s:
            ages[lock] = age
    return ages


def warn_about_old_build_locks(root: Path | None = None) -> list[Path]:
    """Print a warning naming each old lock and what to do; returns them."""
    locks = old_build_locks(extension_build_root() if root is None else root)
    for lock, age in locks.items():
        print(
            f"tru: warning: {lock} has been there {age / 60:.0f} min: a build of the extension "
            f"'{lock.parent.name}' was interrupted, or is still running elsewhere. DeepSpeed waits until the "
            f"file is gone; if no other process is building it, delete the file.",
            file=sys.stderr,
            flush=True,
        )
    return list(locks)
