"""Resolve the data arguments of the commands: file paths, ``tofu:SPLIT``, ``hf:OWNER/NAME`` and ``rtofu:PATH``."""

from __future__ import annotations

import json
import os
import random
from pathlib import Path
from typing import Sequence

from tru.core.errors import ConfigError, InputError
from tru.data.hub import is_hub_spec, load_hub_table
from tru.data.readers import read_records
from tru.data.records import ColumnMap, Passage, QAItem, ReasoningTarget, ReasoningTrace, Refusal, holds_passages
from tru.data.tabular import Table, is_table_file, read_table, table_records
from tru.data.tofu import load_tofu

QA_DATA_FILE = ".jsonl/.json/.csv/.parquet file"


def _first_record_keys(path: Path) -> set[str]:
    """Keys of the first record, to tell QA files from passage files (read_records checks the rest)."""
    if path.is_dir():
        raise InputError(path, f"is a folder, give a {QA_DATA_FILE}")
    if not path.exists():
        raise InputError(path, "file does not exist", hint="check the path")
    with open(path, "rb") as handle:
        for raw in handle:
            line = raw.decode("utf-8", errors="replace").strip()
            if not line or line in ("[", "]"):
                continue
            try:
                obj = json.loads(line.rstrip(","))
            except json.JSONDecodeError:
                break
            return set(obj) if isinstance(obj, dict) else set()
    return set()


def looks_like_path(source: str) -> bool:
    """A local path rather than a hub id (hub ids are written owner/name)."""
    return source.startswith((".", "/", "~")) or source.count("/") > 1 or (os.sep != "/" and os.sep in source)


def check_tofu_source(source: str, flag: str = "--tofu") -> None:
    """A --tofu value that names a local folder must be one; anything else is taken for a hub id."""
    path = Path(source).expanduser()
    if path.exists() and not path.is_dir():
        raise InputError(source, f"is a file; {flag} takes a folder of TOFU's {{split}}.jsonl files or a hub id")
    if not path.exists() and looks_like_path(source):
        raise InputError(
            source,
            "TOFU folder does not exist",
            hint=f"give {flag} a folder holding forget01.jsonl, retain99.jsonl, ... or the hub id locuslab/TOFU",
        )


def uses_tofu(*specs: str) -> bool:
    return any(spec.startswith("tofu:") for spec in specs)


def read_source_table(spec: str) -> Table | None:
    """The rows of a CSV or parquet file or an ``hf:`` dataset; None for the other specs."""
    if is_hub_spec(spec):
        return load_hub_table(spec)
    if is_table_file(spec):
        return read_table(spec)
    return None


def load_items(spec: str, tofu_source: str, columns: ColumnMap = ColumnMap()) -> list[QAItem | Passage]:
    """QA items or passages from ``tofu:SPLIT``, ``hf:OWNER/NAME[:CONFIG][@SPLIT]``, or a JSON Lines, JSON, CSV
    or parquet file (QA when records have a question, or chat ``messages``). ``columns`` names the user's
    question and answer columns; TOFU splits keep their own."""
    if spec.startswith("tofu:"):
        check_tofu_source(tofu_source)
        return load_tofu(tofu_source, spec.split(":", 1)[1])
    table = read_source_table(spec)
    if table is not None:
        return table_records(table, columns)
    path = Path(spec).expanduser()
    if holds_passages(_first_record_keys(path), columns):
        return read_records(path, Passage)
    return read_records(path, QAItem, prepare=columns.apply)


def load_refusals(spec: str) -> list[str]:
    """Refusal answers from a file of ``{"answer": ...}`` records (TOFU's idk.jsonl layout)."""
    return [r.answer for r in read_records(Path(spec).expanduser(), Refusal)]


def load_rtofu_targets(path: str | Path, refusals: Sequence[str], seed: int = 0) -> list[ReasoningTarget]:
    """R-TOFU ``idkcot`` traces as reasoning targets.

    The traces reason towards not knowing the answer; their ``answer`` field is TOFU's true answer and
    is not used. Each target gets a refusal drawn (seeded by the question) from ``refusals``.
    """
    return [
        ReasoningTarget(
            question=row.question,
            reasoning=row.reasoning.strip(),
            refusal=random.Random(f"{seed}/{row.question}").choice(list(refusals)),
            provenance={"generator": "r-tofu-idkcot", "source": str(path)},
        )
        for row in read_records(path, ReasoningTrace)
    ]


def load_targets(spec: str, refusals: Sequence[str], seed: int = 0) -> list[ReasoningTarget]:
    if spec.startswith("rtofu:"):
        return load_rtofu_targets(Path(spec.split(":", 1)[1]).expanduser(), refusals, seed)
    return read_records(Path(spec).expanduser(), ReasoningTarget)


def align_targets(
    targets: Sequence[ReasoningTarget], forget: Sequence[QAItem | Passage], source: str
) -> list[ReasoningTarget]:
    """One target per forget item, in forget order; a forget item without a target is an error."""
    by_question = {}
    for target in targets:
        by_question.setdefault(target.question.strip(), target)
    aligned, missing = [], []
    for index, item in enumerate(forget):
        key = (item.question if isinstance(item, QAItem) else item.text).strip()
        if key in by_question:
            aligned.append(by_question[key])
        else:
            missing.append(index)
    if missing:
        raise ConfigError(
            f"the targets in {source} do not match the forget set: {len(missing)} of {len(forget)} forget "
            f"items have no target (first: item {missing[0] + 1}); build targets for this forget set"
        )
    return aligned


def retain_default(forget_spec: str) -> str:
    """tofu:forget01 -> tofu:retain99, and so on; no default for files."""
    if forget_spec.startswith("tofu:"):
        from tru.data.tofu import retain_split_for

        return "tofu:" + retain_split_for(forget_spec.split(":", 1)[1])
    return ""
