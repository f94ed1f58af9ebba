"""One writer per run folder: an OS-level lock on ``FOLDER/.tru-lock`` held while a process writes the
folder. The kernel drops it when the process ends, however it ends, so a killed run never leaves a
lock behind; the file itself stays and only records the last holder's pid for the message a second
writer gets."""

from __future__ import annotations

import os
from pathlib import Path

from tru.core.errors import ConfigError

LOCK_NAME = ".tru-lock"


class RunLock:
    """``with RunLock(folder, "tru unlearn"):`` — raises ConfigError naming the holder's pid when taken."""

    def __init__(self, folder: str | Path, command: str):
        self.path = Path(folder).expanduser() / LOCK_NAME
        self.command = command
        self._fd: int | None = None

    def check_free(self) -> None:
        """Raise now if a live process holds the folder (creates nothing): a refusal before a model load."""
        if not self.path.exists():
            return
        fd = os.open(self.path, os.O_RDONLY)
        try:
            self._lock_or_refuse(fd)
        finally:
            os.close(fd)  # drops the lock just taken

    def acquire(self) -> "RunLock":
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o666)
        try:
            self._lock_or_refuse(fd)
        except ConfigError:
            os.close(fd)
            raise
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"pid {os.getpid()} ({self.command})\n".encode(), 0)
        self._fd = fd
        return self

    def _lock_or_refuse(self, fd: int) -> None:
        import fcntl

        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 200, 0).decode("utf-8", "replace").strip() or "another process"
            raise ConfigError(
                f"{self.path.parent} is in use by {holder}; wait for it to end, or choose another --out"
            ) from None

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)  # closing the descriptor drops the lock
            self._fd = None

    def __enter__(self) -> "RunLock":
        return self.acquire()

    def __exit__(self, *exc) -> None:
        self.release()
