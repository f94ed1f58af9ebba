"""Tables of records: local CSV and parquet files (read with the ``datasets`` library) and hub datasets, turned
into QA items or passages with errors that name the source, the data row and the field."""

from __future__ import annotations

import csv
import io
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from tru.core.errors import InputError
from tru.data.readers import RowError, build_records, read_text_file
from tru.data.records import ColumnMap, Passage, QAItem, holds_passages

TABLE_BUILDERS = {".csv": "csv", ".parquet": "parquet"}  # file suffix -> the datasets builder that reads it


@dataclass
class Table:
    source: str  # a file path or an hf: spec, as errors name it
    columns: list[str]
    rows: list[dict]


def is_table_file(path: str | Path) -> bool:
    return Path(path).suffix.lower() in TABLE_BUILDERS


def root_reason(exc: BaseException) -> str:
    """The first line of the innermost error: datasets wraps a reader's own message (pandas names the line)."""
    seen = {id(exc)}
    while (inner := exc.__cause__ or exc.__context__) is not None and id(inner) not in seen:
        exc = inner
        seen.add(id(exc))
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0]


@contextmanager
def _quiet_progress():
    """No 'Generating train split' bars for a local file: an error must stay one line."""
    import datasets

    was_disabled = datasets.are_progress_bars_disabled()
    datasets.disable_progress_bars()
    try:
        yield
    finally:
        if not was_disabled:
            datasets.enable_progress_bars()


def _csv_header(path: Path) -> list[str]:
    """The column names of a CSV file; text that is not UTF-8 is an error naming the line."""
    text = read_text_file(path, what="CSV file")
    header = next(csv.reader(io.StringIO(text)), [])
    if not any(name.strip() for name in header):
        raise InputError(path, "has no header row", hint="the first line names the columns, e.g. question,answer")
    twice = sorted({name for name in header if header.count(name) > 1})
    if twice:
        raise InputError(path, f"column {twice[0]!r} is named twice in the header", hint="give each column one name")
    return header


def _builder_options(path: Path) -> dict:
    """CSV cells are read as text (an answer '1987' or 'NA' stays that text); an empty cell is a missing value."""
    if TABLE_BUILDERS[path.suffix.lower()] != "csv":
        return {}
    import datasets

    features = datasets.Features({name: datasets.Value("string") for name in _csv_header(path)})
    return {"features": features, "keep_default_na": False, "na_values": [""]}


def read_table(path: str | Path) -> Table:
    """A CSV or parquet file as a table of rows (``datasets.load_dataset`` reads it)."""
    import datasets

    path = Path(path).expanduser()
    builder = TABLE_BUILDERS[path.suffix.lower()]
    if path.is_dir():
        raise InputError(path, f"is a folder, give a .{builder} file")
    if not path.exists():
        raise InputError(path, "file does not exist", hint="check the path")
    options = _builder_options(path)
    try:
        with _quiet_progress():
            rows = datasets.load_dataset(builder, data_files=str(path), split="train", **options)
    except Exception as exc:  # pandas, pyarrow and datasets each raise their own kinds for a damaged file
        raise InputError(path, f"cannot be read as {builder} ({root_reason(exc)})", hint="check the file") from None
    return Table(source=str(path), columns=list(rows.column_names), rows=[dict(row) for row in rows])


def table_records(table: Table, columns: ColumnMap) -> list[QAItem | Passage]:
    """QA items (or passages, for a table with ``text`` and no question) from the rows of a table."""
    for column, flag in columns.missing(table.columns):
        raise InputError(
            table.source,
            f"no such column (named by {flag}); the columns are: {', '.join(table.columns)}",
            field=column,
            hint=f"give {flag} one of them",
        )
    record_type = Passage if holds_passages(table.columns, columns) else QAItem

    def error(row: int, message: str, **where) -> InputError:
        return RowError(table.source, message, row=row, **where)

    prepare = columns.apply if record_type is QAItem else None
    records = build_records(enumerate(table.rows, start=1), record_type, error=error, unit="row", prepare=prepare)
    if not records:
        raise InputError(table.source, "holds no rows", hint="give data with at least one row")
    return records
