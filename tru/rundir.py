"""The run directory: resolved config, environment, per-step losses and the final model."""

from __future__ import annotations

import platform
import shutil
from pathlib import Path

from tru.errors import ConfigError
from tru.io import write_json


def prepare_run_dir(out: str, overwrite: bool) -> Path:
    """Refuse to mix a new run into an existing one unless asked to replace it."""
    path = Path(out).expanduser()
    if path.exists() and any(path.iterdir()):
        if not overwrite:
            raise ConfigError(f"run directory {path} already exists and is not empty; "
                              "choose another --out or pass --overwrite")
        shutil.rmtree(path)
    path.mkdir(parents=True, exist_ok=True)
    return path


def library_versions() -> dict:
    import importlib.metadata as metadata

    versions = {"python": platform.python_version()}
    for name in ("torch", "transformers", "accelerate", "peft", "datasets", "safetensors", "tru-unlearning"):
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    return versions


def write_environment(path: Path, *, world_size: int, per_device_batch: int, grad_accum: int,
                      seed: int, device: str, extra: dict | None = None) -> dict:
    record = {
        "versions": library_versions(),
        "world_size": world_size,
        "per_device_batch_size": per_device_batch,
        "gradient_accumulation_steps": grad_accum,
        "effective_batch_size": world_size * per_device_batch * grad_accum,
        "seed": seed,
        "device": device,
        "platform": platform.platform(),
        **(extra or {}),
    }
    write_json(path / "environment.json", record)
    return record


def save_model_atomically(trainer, tokenizer, target: Path) -> None:
    """Save weights (safetensors, or the LoRA adapter) and tokenizer, then rename into place.

    Every process takes part (DeepSpeed and FSDP gather weights for the save); the main one writes.
    """
    tmp = target.with_name(f".{target.name}.partial")
    main = trainer.is_world_process_zero()
    if main and tmp.exists():
        shutil.rmtree(tmp)
    trainer.accelerator.wait_for_everyone()
    trainer.save_model(str(tmp))
    if main:
        tokenizer.save_pretrained(tmp)
        if target.exists():
            shutil.rmtree(target)
        tmp.rename(target)
    trainer.accelerator.wait_for_everyone()
