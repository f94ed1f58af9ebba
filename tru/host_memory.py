"""Keeping memory that a CPU training step frees inside the process, for the next step (glibc).

By default glibc maps blocks above a threshold (128 KiB at start, rising towards 32 MiB as such blocks
are freed) straight from the kernel and returns them when freed, and it gives back the free top of
its heap beyond twice that threshold. A training step allocates and frees gigabytes of activations
and gradients, so on the CPU much of every step runs on memory new to the process: each 4 KiB page
faults in and is zeroed by the kernel (on the 2-core benchmark VM several microseconds a page). The
fused TRU benchmark step faulted in 1.08 M, 658 k, 183 k and 27 k pages in its first four steps,
`--no-fuse` 2.0 M down to 418 k. With fixed thresholds that keep freed memory in the heap (a block
up to 1 GiB comes from the heap; its free top is kept up to 2 GiB) both settle after a few steps with
no page faults: measured in BENCHMARKS.md ("freed memory kept in the process").

Opt-in (``TRU_KEEP_FREED_MEMORY=1``), because of what it costs: the process's resident memory no
longer shrinks after its peak, and where a step allocates one large block and frees it, glibc often
places the next one above the freed one (PyTorch's 64-byte aligned requests do not fit the freed
chunk exactly), so the heap holds freed blocks up to the trim threshold: a loop of one 256 MiB tensor
ends at 2.0 GiB resident instead of 0.2 GiB. On the benchmark workload the peaks stayed within 0.2
GiB, but a run whose memory is tight should not find up to 2 GiB more held by default.

Setting any of these thresholds switches glibc's own adjustment off, so setting only one of them
makes it worse (every block above 128 KiB mapped afresh); both are set together, and not at all when
the user set glibc's malloc tunables in the environment.
"""

from __future__ import annotations

import ctypes
import os
import platform

import torch

# mallopt parameters (malloc.h)
M_TRIM_THRESHOLD = -1
M_MMAP_THRESHOLD = -3

MMAP_THRESHOLD = 1 << 30  # blocks up to this size come from the heap
TRIM_THRESHOLD = 2**31 - 1  # the heap's free top is kept up to this size (mallopt takes an int)

USER_SETTINGS = ("MALLOC_MMAP_THRESHOLD_", "MALLOC_TRIM_THRESHOLD_", "MALLOC_TOP_PAD_", "MALLOC_MMAP_MAX_")


def _user_tunes_malloc() -> bool:
    return any(name in os.environ for name in USER_SETTINGS) or "glibc.malloc" in os.environ.get("GLIBC_TUNABLES", "")


def keep_freed_memory(device) -> bool:
    """For training on ``device``: with ``TRU_KEEP_FREED_MEMORY=1``, on a CPU with glibc, keep freed
    memory in the process (see the module docstring). True when the thresholds were set. Accelerators
    have caching allocators."""
    if torch.device(device).type != "cpu" or os.environ.get("TRU_KEEP_FREED_MEMORY", "0") != "1":
        return False
    if platform.system() != "Linux" or platform.libc_ver()[0] != "glibc" or _user_tunes_malloc():
        return False
    libc = ctypes.CDLL(None)
    return bool(libc.mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD) and libc.mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD))
