"""Which process this is when a launcher (accelerate, torchrun) starts several, and its exit when the
launcher is gone."""

from __future__ import annotations

import os
import signal
import sys
import threading
import time


def process_rank() -> int:
    return int(os.environ.get("RANK", "0"))


def world_size() -> int:
    return int(os.environ.get("WORLD_SIZE", "1"))


def is_main_process() -> bool:
    return process_rank() == 0


def sharding_engine(default: str) -> str:
    """FSDP or DEEPSPEED when `accelerate launch` asked for one (the Trainer's accelerator reads the
    same variables), else ``default`` (the launcher's plain distributed type)."""
    for variable, name in (("ACCELERATE_USE_FSDP", "FSDP"), ("ACCELERATE_USE_DEEPSPEED", "DEEPSPEED")):
        if os.environ.get(variable, "false").lower() == "true":
            return name
    return default


LAUNCHER_CHECK_INTERVAL_S = 1.0
PR_SET_PDEATHSIG = 1  # linux/prctl.h
_leaving = threading.Lock()
_armed = False


def under_launcher() -> bool:
    """accelerate launch and torchrun give every worker its rank; a plain run has none."""
    return "LOCAL_RANK" in os.environ or "RANK" in os.environ


def exit_with_launcher() -> None:
    """Under a launcher, make this worker exit when the launcher that started it is gone.

    torch's launcher (behind accelerate launch and torchrun) starts every worker in a session of its
    own, so killing the launcher or its process group (an OOM kill, a lost terminal, kill -9) leaves the
    workers waiting for ever on their peers or on a lock, holding memory and the GPU. On Linux the
    kernel signals the worker as its parent dies; everywhere, a daemon thread also checks the parent's
    pid every second, since a signal handler runs only between bytecodes of the main thread, which a
    blocking C call can hold off. Idempotent; does nothing outside a launcher.
    """
    global _armed
    if _armed or not under_launcher():
        return
    _armed = True
    launcher = os.getppid()
    _signal_on_parent_death(launcher)
    _leave_if_orphaned(launcher)  # it died before the signal was asked for
    threading.Thread(target=_watch_parent, args=(launcher,), name="tru-launcher-watch", daemon=True).start()


def _signal_on_parent_death(launcher: int) -> None:
    """Ask the kernel for a signal when the parent dies (Linux). It comes when the parent *thread*
    dies, not only the process, so the handler checks the parent pid before leaving. A real-time
    signal, which nothing else sends, keeps the handler off signals meant for others (SLURM's SIGUSR1/2)."""
    if not sys.platform.startswith("linux"):
        return
    import ctypes

    parent_death = signal.SIGRTMAX
    try:
        signal.signal(parent_death, lambda *_: _leave_if_orphaned(launcher))
    except ValueError:  # not the main thread, which alone may set handlers; the watchdog still works
        return
    ctypes.CDLL(None).prctl(PR_SET_PDEATHSIG, ctypes.c_ulong(parent_death))


def _watch_parent(launcher: int) -> None:
    while True:
        time.sleep(LAUNCHER_CHECK_INTERVAL_S)
        _leave_if_orphaned(launcher)


def _leave_if_orphaned(launcher: int) -> None:
    """Exit now, with one line on stderr, if the parent is no longer ``launcher``. Only os calls: it
    runs in a signal handler or the watchdog thread, with the main thread anywhere."""
    if os.getppid() == launcher or not _leaving.acquire(blocking=False):
        return
    os.write(2, f"tru: the launcher (pid {launcher}) is gone; this worker exits\n".encode())
    if os.getpgrp() == os.getpid():  # a group of its own (torch's launcher): take what it started along
        os.killpg(0, signal.SIGKILL)
    os._exit(1)
