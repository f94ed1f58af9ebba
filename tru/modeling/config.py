"""``ModelFields``: the settings of every command that loads a model (tru/modeling/models.py loads it)."""

from __future__ import annotations

from dataclasses import dataclass

from tru.core.settings import setting


@dataclass(kw_only=True)
class ModelFields:
    """Which model a command loads, and how."""

    model: str = setting("smollm2-135m", "model folder, run directory, hub id, or alias (smollm2-135m, tiny-llama)")
    dtype: str = setting("float32", "float32 or bfloat16")
    device: str = setting("auto", "auto, cpu or cuda")
    trust_remote_code: bool = setting(False, "allow model code from the hub (off unless asked)")
