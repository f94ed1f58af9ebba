"""TOFU (Maini et al. 2024) from a local directory of ``{split}.jsonl`` files or the hub."""

from __future__ import annotations

from pathlib import Path

from tru.core.errors import ConfigError, InputError
from tru.data.readers import read_records
from tru.data.records import FieldError, QAItem

HUB_ID = "locuslab/TOFU"
FORGET_SPLITS = ("forget01", "forget05", "forget10")
RETAIN_FOR_FORGET = {"forget01": "retain99", "forget05": "retain95", "forget10": "retain90"}
HOLDOUT_FOR_FORGET = {"forget01": "holdout01", "forget05": "holdout05", "forget10": "holdout10"}


def _is_local(source: str | Path) -> bool:
    return Path(source).exists() or str(source).startswith((".", "/", "~"))


def load_tofu(source: str | Path, split: str) -> list[QAItem]:
    """Load one TOFU split (e.g. ``forget01``, ``retain_perturbed``) as QA items.

    ``source`` is a directory holding ``{split}.jsonl`` (the layout of shared/data/tofu) or the hub
    id ``locuslab/TOFU`` (needs network access and the ``datasets`` package).
    """
    if _is_local(source):
        directory = Path(source).expanduser()
        if not directory.is_dir():
            raise InputError(
                directory,
                "TOFU directory does not exist",
                hint="pass a folder holding forget01.jsonl, retain99.jsonl, ...",
            )
        path = directory / f"{split}.jsonl"
        if not path.exists():
            known = sorted(p.stem for p in directory.glob("*.jsonl"))
            raise InputError(path, f"no TOFU split '{split}' here", hint=f"available: {', '.join(known)}")
        return read_records(path, QAItem)
    return _load_from_hub(str(source), split)


def _load_from_hub(hub_id: str, split: str) -> list[QAItem]:
    import datasets

    try:
        rows = datasets.load_dataset(hub_id, split, split="train")
    except Exception as exc:  # offline, unknown id, missing config: datasets raises many kinds
        reason = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise ConfigError(
            f"could not load TOFU split '{split}' from the hub id '{hub_id}' ({reason}); check the id "
            "and the network, or give --tofu a local folder"
        ) from None
    items = []
    for index, row in enumerate(rows):
        try:
            items.append(QAItem.from_dict(dict(row)))
        except FieldError as exc:
            raise InputError(f"{hub_id}/{split}", str(exc), line=index + 1, field=exc.field) from None
    return items


def retain_split_for(forget_split: str) -> str:
    if forget_split not in RETAIN_FOR_FORGET:
        raise ConfigError(f"unknown TOFU forget split '{forget_split}'; choose one of {', '.join(FORGET_SPLITS)}")
    return RETAIN_FOR_FORGET[forget_split]
