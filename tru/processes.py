"""Which process this is when a launcher (accelerate, torchrun) starts several."""

from __future__ import annotations

import os


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
