"""What the benchmarks share: the per-method unlearning settings and TRU's default targets."""

from __future__ import annotations

from pathlib import Path

from tru.pipeline.bench.config import BenchFields
from tru.train.config import FinetuneConfig
from tru.unlearn.config import UnlearnConfig


def model_fields(config: BenchFields) -> dict:
    return dict(
        model=config.model, dtype=config.dtype, device=config.device, trust_remote_code=config.trust_remote_code
    )


def finetune_config(config: BenchFields, data: str, out: Path) -> FinetuneConfig:
    return FinetuneConfig(
        data=data,
        out=str(out),
        epochs=config.finetune_epochs,
        lr=config.finetune_lr,
        batch_size=config.finetune_batch_size,
        max_length=config.max_length,
        seed=config.seed,
        report_to="none",
        save_steps=0,
        **model_fields(config),
    )


def unlearn_configs(config: BenchFields, forget: str, retain: str, targets: str) -> dict[str, UnlearnConfig]:
    """One UnlearnConfig per method with the same budget (steps or epochs, lr, batch); each method keeps
    its published loss weights unless --set METHOD.KEY=VALUE says otherwise."""
    from tru.unlearn.methods import METHODS, split_method_spec

    budget = dict(
        max_steps=config.unlearn_steps if config.unlearn_steps > 0 else -1,
        epochs=config.unlearn_epochs,
        lr=config.unlearn_lr,
        batch_size=config.batch_size,
        max_length=config.max_length,
        seed=config.seed,
        report_to="none",
        save_steps=0,
        **model_fields(config),
    )
    out = {}
    for column in config.method_list():
        method, preset = split_method_spec(column)
        extra = {"targets": targets} if "target" in METHODS[method].streams else {}
        out[column] = UnlearnConfig(
            method=method,
            preset=preset,
            forget=forget,
            retain=retain,
            refusals=config.refusals,
            set=config.method_settings(column),
            **extra,
            **budget,
        )
    return out


def targets_setting(config: BenchFields) -> str:
    """What the data stage's targets depend on: the user's file, or the template's version (a new
    template must not reuse targets that an older one wrote)."""
    from tru.targets.template import TEMPLATE_VERSION

    return config.targets or f"template:{TEMPLATE_VERSION}"


def write_template_targets(forget: str, scope: str, task: str, out: Path, seed: int) -> None:
    """Offline template targets for every forget item (tru targets --generator template)."""
    from tru.targets.config import TargetsConfig
    from tru.targets.run import generate_targets

    generate_targets(
        TargetsConfig(forget=forget, out=str(out), scope=scope, task=task, generator="template", seed=seed)
    )


def targets_spec(config: BenchFields, data: Path) -> str:
    """The targets TRU trains on: the user's, or the template targets the data stage writes."""
    return config.targets or str(data / "targets.jsonl")
