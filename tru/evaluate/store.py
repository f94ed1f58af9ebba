"""EVAL.json: every metric's per-item values, saved after each block so a rerun skips finished work.

A store's ``identity`` is what every block was computed from: the settings that determine the
results and, under keys ending in ``_fingerprint``, the weights fingerprint of each model measured
(tru.modeling.fingerprint; the model's path is the identity key without the suffix). A rerun reuses the
blocks only when both are unchanged, and says which of the two changed when not.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

from tru.core.errors import ConfigError, InputError
from tru.core.files import write_json
from tru.data.readers import read_json_object

FINGERPRINT = "_fingerprint"
MODEL_FINGERPRINT = "model" + FINGERPRINT


class EvalStore:
    def __init__(self, path: Path, identity: dict, *, overwrite: bool = False, what: str = "evaluation"):
        self.path = path
        self.identity = identity
        self.data: dict[str, Any] = {"identity": identity, "blocks": {}}
        if path.exists() and not overwrite:
            saved = read_results(path)
            check_identity(path, saved["identity"], identity, what)
            self.data = saved
        self.reused = sorted(self.data["blocks"])

    def has(self, key: str) -> bool:
        return key in self.data["blocks"]

    def get(self, key: str) -> Any:
        return self.data["blocks"][key]

    def put(self, key: str, value: Any) -> Any:
        self.data["blocks"][key] = value
        write_json(self.path, self.data)
        return value

    def drop(self, key: str) -> None:
        """Remove the block if there is one; the file is written either way (with any new metrics)."""
        self.data["blocks"].pop(key, None)
        write_json(self.path, self.data)

    def compute(self, key: str, fn: Callable[[], Any]) -> Any:
        """The stored block, or compute, store and return it."""
        return self.get(key) if self.has(key) else self.put(key, fn())


def read_results(path: Path) -> dict:
    """An EVAL.json / ATTACK.json as tru wrote it ({"identity": {...}, "blocks": {...}}), or InputError."""
    hint = "delete it, choose another --out or pass --overwrite"
    saved = read_json_object(path, hint=hint)
    for name in ("identity", "blocks"):
        if not isinstance(saved.get(name), dict):
            raise InputError(path, "is not a results file tru wrote (no object here)", field=name, hint=hint)
    return saved


def check_identity(path: Path, saved: dict, identity: dict, what: str) -> None:
    """ConfigError when ``saved`` was computed with other settings or from other model weights."""

    def settings(ident: dict) -> dict:
        return {k: v for k, v in ident.items() if not k.endswith(FINGERPRINT)}

    if settings(saved) != settings(identity):
        raise ConfigError(f"{path} holds an {what} with other settings; choose another --out or pass --overwrite")
    for key, fingerprint in identity.items():
        if not key.endswith(FINGERPRINT) or saved.get(key) == fingerprint:
            continue
        model = identity.get(key[: -len(FINGERPRINT)], key)
        if key not in saved:
            raise ConfigError(
                f"{path} records no weights fingerprint of the model at {model} (an earlier tru "
                f"wrote it), so it cannot show that the model is unchanged since; pass --overwrite "
                f"to redo the {what}, or choose another --out"
            )
        raise ConfigError(
            f"the model at {model} changed since the {what} in {path.parent} was made; pass "
            f"--overwrite to redo it, or choose another --out"
        )
