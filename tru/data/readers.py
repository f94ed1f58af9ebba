"""JSON Lines and JSON-list readers whose errors name the file, the line and the field.

``read_text_file`` and ``json_kind`` live in tru/core/files.py (the settings read files too); they are
imported here, so ``tru.data.readers.read_text_file`` still names them."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Callable, Iterable, Iterator, TypeVar

from tru.core.errors import InputError
from tru.core.files import json_kind, read_text_file
from tru.data.records import FieldError, Record

R = TypeVar("R", bound=Record)
DATA_FILE = ".jsonl/.json file"
MAX_RECORD_BYTES = 4_000_000  # far above any real record (a long news article is ~50 kB)


def read_json_object(path: str | Path, *, hint: str) -> dict:
    """A JSON file that must hold one object (a summary, a results file tru wrote): anything else, or a
    file that cannot be read, is an InputError naming the file with ``hint`` on what to do."""
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise InputError(path, f"invalid JSON ({exc.msg})", line=exc.lineno, hint=hint) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(path, f"cannot be read ({getattr(exc, 'strerror', None) or exc})", hint=hint) from None
    if not isinstance(data, dict):
        raise InputError(path, f"expected the JSON object tru writes, got a JSON {json_kind(data)}", hint=hint)
    return data


def _check_size(path: Path, line: int, size: int) -> None:
    if size > MAX_RECORD_BYTES:
        raise InputError(
            path,
            f"one record spans {size / 1e6:.1f} MB, over the {MAX_RECORD_BYTES / 1e6:.0f} MB limit",
            line=line,
            hint="split the text into passages or check the file is JSON Lines",
        )


def _iter_jsonl(path: Path, text: str) -> Iterator[tuple[int, object]]:
    for number, line in enumerate(text.split("\n"), start=1):
        if not line.strip():
            continue
        _check_size(path, number, len(line))
        try:
            yield number, json.loads(line)
        except json.JSONDecodeError as exc:
            raise InputError(
                path,
                f"invalid JSON ({exc.msg} at column {exc.colno})",
                line=number,
                hint="each line must hold one JSON object",
            ) from None


def _iter_json_list(path: Path, text: str) -> Iterator[tuple[int, object]]:
    """Walk a top-level JSON array item by item so that each item keeps its line number."""
    decoder = json.JSONDecoder()
    pos = text.index("[") + 1

    def skip_ws(i: int) -> int:
        while i < len(text) and text[i] in " \t\r\n":
            i += 1
        return i

    def line_of(i: int) -> int:
        return text.count("\n", 0, i) + 1

    pos = skip_ws(pos)
    if pos < len(text) and text[pos] == "]":
        return
    while True:
        try:
            obj, end = decoder.raw_decode(text, pos)
        except json.JSONDecodeError as exc:
            raise InputError(path, f"invalid JSON ({exc.msg})", line=line_of(exc.pos)) from None
        _check_size(path, line_of(pos), end - pos)
        yield line_of(pos), obj
        pos = skip_ws(end)
        if pos < len(text) and text[pos] == ",":
            pos = skip_ws(pos + 1)
            continue
        if pos < len(text) and text[pos] == "]":
            if skip_ws(pos + 1) != len(text):
                raise InputError(path, "unexpected text after the closing ']'", line=line_of(pos + 1))
            return
        raise InputError(path, "expected ',' or ']' between list items", line=line_of(pos))


class RowError(InputError):
    """Bad data in a row of a table (a CSV or parquet file, a hub dataset): names the 1-based data row, which
    is not a line of the file (a CSV header and quoted line breaks shift lines)."""

    def __init__(self, source: str | Path, message: str, *, row: int, field: str | None = None, hint=None):
        super().__init__(f"{source}, row {row}", message, field=field, hint=hint)
        self.path, self.row = str(source), row


def build_records(
    numbered: Iterable[tuple[int, object]],
    record_type: type[R],
    *,
    error: Callable[..., InputError],
    unit: str = "line",
    prepare: Callable[[object], object] | None = None,
) -> list[R]:
    """Validate (position, raw record) pairs into records; ``error(position, message, field=, hint=)`` builds
    the InputError for a bad field or a duplicate ``id``, and ``prepare`` renames fields first."""
    records: list[R] = []
    seen_ids: dict[str, int] = {}
    for position, obj in numbered:
        try:
            record = record_type.from_dict(prepare(obj) if prepare else obj)  # type: ignore[attr-defined]
        except FieldError as exc:
            raise error(position, str(exc), field=exc.field) from None
        record_id = getattr(record, "id", None)
        if record_id is not None:
            if record_id in seen_ids:
                raise error(
                    position,
                    f"duplicate id {record_id!r} (first on {unit} {seen_ids[record_id]})",
                    field="id",
                    hint="ids must be unique within a file",
                )
            seen_ids[record_id] = position
        records.append(record)
    return records


def read_records(
    path: str | Path,
    record_type: type[R],
    *,
    allow_empty: bool = False,
    prepare: Callable[[object], object] | None = None,
) -> list[R]:
    """Read a JSON Lines file or a JSON list of objects into validated records.

    Raises InputError naming file, line and field for anything malformed, for an empty file
    (unless ``allow_empty``) and for duplicate ``id`` values. ``prepare`` maps each raw record first
    (the user's column names onto the record's fields).
    """
    path = Path(path)
    text = read_text_file(path, what=DATA_FILE)
    stripped = text.lstrip()
    items = _iter_json_list(path, text) if stripped.startswith("[") else _iter_jsonl(path, text)

    def error(line: int, message: str, **where) -> InputError:
        return InputError(path, message, line=line, **where)

    records = build_records(items, record_type, error=error, prepare=prepare)
    if not records and not allow_empty:
        raise InputError(path, "holds no records", hint="give a file with at least one JSON object")
    return records
