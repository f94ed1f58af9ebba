"""What glibc does with the memory a CPU training step frees: return it, keep it, or its own defaults.

By default glibc maps blocks above a threshold (128 KiB at start, rising towards 32 MiB as such blocks
are freed) straight from the kernel and returns them when freed, and it gives back the free top of
its heap beyond twice that threshold. Below the threshold, blocks come from the heap, and a freed
block stays there until something else fits into it. A training step allocates and frees gigabytes
of activations and gradients, which either way costs something:

- memory the kernel hands out afresh faults in 4 KiB pages, each zeroed: the fused TRU benchmark step
  faults in a large number of pages in each of its first steps, fewer as glibc's threshold rises;
- once the threshold has risen, the activations come from the heap, where blocks that live through
  the step (layer inputs kept for the backward pass, gradients) are laid among ones freed at once, so
  the heap holds freed space the size of a step's transients: with gradient checkpointing the TRU
  benchmark step's resident memory peaks well above its live tensors.

The ``TRU_HOST_MEMORY`` modes (set before the run; unset: ``compact`` with gradient checkpointing,
``glibc`` without):

- ``glibc``: glibc's defaults.
- ``compact``: every block of 4 MiB or more is mapped on its own and returned when freed (a fixed
  mmap threshold; the heap keeps glibc's default trim threshold). The activations then stop holding
  heap space once freed: TRU with checkpointing peaks lower on the benchmark, for somewhat slower
  steps (their activations fault in again; BENCHMARKS.md, "Peak memory per method", latest entry).
  Gradient checkpointing is the setting for memory over speed, so it comes with it.
- ``keep``: blocks up to 1 GiB come from the heap and its free top is kept up to 2 GiB, so after a
  few steps a step faults in no pages (both steps quicker, ``--no-fuse`` the more; BENCHMARKS.md,
  throughput section, "freed memory kept in the process"). Resident memory then no longer shrinks
  after its peak, and where a step allocates one large block and frees it, glibc often places the next
  one above the freed one (PyTorch's 64-byte aligned requests do not fit the freed chunk exactly): a
  loop of one large tensor allocated and freed ends with several times its size resident, up to the
  trim threshold. So only when asked.

Setting any threshold switches glibc's own adjustment of both thresholds off. Nothing is set off the CPU
(accelerators have caching allocators), off glibc, or where the user set glibc's malloc tunables in
the environment: theirs win.
"""

from __future__ import annotations

import ctypes
import os
import platform

import torch

from tru.core.errors import ConfigError

ENV = "TRU_HOST_MEMORY"
MODES = ("glibc", "compact", "keep")

# mallopt parameters (malloc.h)
M_TRIM_THRESHOLD = -1
M_MMAP_THRESHOLD = -3

# (mallopt parameter, value) per mode that sets something
SETTINGS = {
    "compact": ((M_MMAP_THRESHOLD, 4 << 20),),  # blocks of 4 MiB or more are mapped on their own
    "keep": (
        (M_MMAP_THRESHOLD, 1 << 30),  # blocks up to 1 GiB come from the heap
        (M_TRIM_THRESHOLD, 2**31 - 1),
    ),  # its free top is kept up to 2 GiB (mallopt takes an int)
}

_in_effect = "glibc"  # what configure_host_memory set in this process

USER_SETTINGS = ("MALLOC_MMAP_THRESHOLD_", "MALLOC_TRIM_THRESHOLD_", "MALLOC_TOP_PAD_", "MALLOC_MMAP_MAX_")


def _user_tunes_malloc() -> bool:
    return any(name in os.environ for name in USER_SETTINGS) or "glibc.malloc" in os.environ.get("GLIBC_TUNABLES", "")


def on_glibc() -> bool:
    return platform.system() == "Linux" and platform.libc_ver()[0] == "glibc"


def host_memory_mode(device, *, gradient_checkpointing: bool = False) -> str:
    """The mode for training on ``device`` (see the module docstring); ``glibc`` wherever tru sets nothing."""
    asked = os.environ.get(ENV, "")
    if asked and asked not in MODES:
        raise ConfigError(
            f"{ENV}={asked!r} is not a mode; use one of {', '.join(MODES)} (or leave it unset: "
            "compact with gradient checkpointing, glibc without)"
        )
    if torch.device(device).type != "cpu" or not on_glibc() or _user_tunes_malloc():
        return "glibc"
    return asked or ("compact" if gradient_checkpointing else "glibc")


def configure_host_memory(device, *, gradient_checkpointing: bool = False) -> str:
    """Sets glibc's thresholds for training on ``device`` as ``host_memory_mode`` chooses; returns the
    mode now in effect (an earlier call's, where this one sets nothing)."""
    global _in_effect
    mode = host_memory_mode(device, gradient_checkpointing=gradient_checkpointing)
    if mode in SETTINGS:
        libc = ctypes.CDLL(None)
        if all(libc.mallopt(parameter, value) for parameter, value in SETTINGS[mode]):
            _in_effect = mode
    return _in_effect


def host_memory_in_effect() -> str:
    """The mode ``configure_host_memory`` last set in this process (``glibc`` before: a set mode stays
    for the process's life, since glibc cannot switch its own adjustment back on)."""
    return _in_effect
