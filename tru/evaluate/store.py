"""EVAL.json: every metric's per-item values, saved after each block so a rerun skips finished work."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Callable

from tru.errors import ConfigError, InputError
from tru.io import write_json


class EvalStore:
    def __init__(self, path: Path, identity: dict, *, overwrite: bool = False):
        self.path = path
        self.identity = identity
        self.data: dict[str, Any] = {"identity": identity, "blocks": {}}
        if path.exists() and not overwrite:
            try:
                saved = json.loads(path.read_text(encoding="utf-8"))
            except json.JSONDecodeError as exc:
                raise InputError(path, f"invalid JSON ({exc.msg}); delete it or pass --overwrite",
                                 line=exc.lineno) from None
            if saved.get("identity") != identity:
                raise ConfigError(f"{path} holds an evaluation with other settings; choose another --out "
                                  "or pass --overwrite")
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

    def compute(self, key: str, fn: Callable[[], Any]) -> Any:
        """The stored block, or compute, store and return it."""
        return self.get(key) if self.has(key) else self.put(key, fn())
