"""Files: atomic, durable writes, and input text read with errors that name the file.

Writes: a crash or a power loss never leaves a half-written file for a later step.

Files are created with the permissions the user's umask gives (0666 less the umask), as ``open`` would:
a temporary file from ``tempfile`` is private (0600), which would lock collaborators on shared storage
out of every result.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any, Iterable

from tru.core.errors import InputError


def current_umask() -> int:
    """The process's umask, read without changing it where Linux shows it (os.umask sets it too)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def fsync_directory(path: str | Path) -> None:
    """Make a rename or a new entry in ``path`` durable (a no-op where directories cannot be opened)."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def fsync_tree(root: str | Path) -> None:
    """fsync every file under ``root``, then every folder: its content is on disk before a marker says so."""
    root = Path(root)
    folders = [root]
    for path in sorted(root.rglob("*")):
        if path.is_symlink():
            continue
        if path.is_dir():
            folders.append(path)
        elif path.is_file():
            with open(path, "rb") as handle:
                os.fsync(handle.fileno())
    for folder in reversed(folders):
        fsync_directory(folder)


def _atomic_write_text(path: str | Path, text: str) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        os.fchmod(fd, 0o666 & ~current_umask())
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
        fsync_directory(path.parent)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_text_atomically(path: str | Path, text: str) -> None:
    _atomic_write_text(path, text)


def write_json(path: str | Path, data: Any) -> None:
    _atomic_write_text(path, json.dumps(data, indent=2, ensure_ascii=False, default=str) + "\n")


def write_jsonl(path: str | Path, rows: Iterable[Any]) -> None:
    _atomic_write_text(path, "".join(json.dumps(r, ensure_ascii=False, default=str) + "\n" for r in rows))


def append_jsonl(path: str | Path, row: Any) -> None:
    """Append one line; a log that grows step by step (a torn last line is tolerated by readers)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a", encoding="utf-8") as handle:
        handle.write(json.dumps(row, ensure_ascii=False, default=str) + "\n")


JSON_KINDS = {list: "list", str: "string", int: "number", float: "number", bool: "boolean", type(None): "null"}


def json_kind(value: object) -> str:
    """How JSON names a parsed value's type, for errors about a file holding the wrong kind."""
    return JSON_KINDS.get(type(value), "object")


def _decode(path: Path, raw: bytes) -> str:
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise InputError(
            path, f"byte {exc.start} is not valid UTF-8", line=line, hint="save the file as UTF-8"
        ) from None


def read_text_file(path: str | Path, *, what: str = "text file", hint: str = "check the path") -> str:
    """The UTF-8 text of an input file; a missing file, a folder, an unreadable file or bytes that are not
    UTF-8 are an InputError naming the file (and the line of the first bad byte)."""
    path = Path(path).expanduser()
    if path.is_dir():
        raise InputError(path, f"is a folder, give a {what}")
    if not path.exists():
        raise InputError(path, "file does not exist", hint=hint)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise InputError(path, f"cannot be read ({exc.strerror or exc})") from None
    return _decode(path, raw)
