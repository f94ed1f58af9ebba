"""Training settings: ``TrainConfig`` (every command that trains a model) and `tru finetune`'s
``FinetuneConfig``; `tru unlearn`'s ``UnlearnConfig`` builds on ``TrainConfig`` (tru/unlearn/config.py)."""

from __future__ import annotations

from dataclasses import dataclass

from tru.core.errors import ConfigError
from tru.core.settings import check_at_least, check_field_values, check_out_folder, setting
from tru.data.config import QA_SOURCES, QAColumnFields
from tru.data.specs import check_tofu_source, uses_tofu
from tru.modeling.config import ModelFields

# --report-to names (as the Trainer spells them) -> the package each needs
LOGGER_PACKAGES = {
    "tensorboard": "tensorboard",
    "wandb": "wandb",
    "mlflow": "mlflow",
    "comet_ml": "comet_ml",
    "neptune": "neptune",
    "clearml": "clearml",
    "dvclive": "dvclive",
    "trackio": "trackio",
    "swanlab": "swanlab",
    "codecarbon": "codecarbon",
    "azure_ml": "azureml",
    "flyte": "flytekit",
}


def check_loggers(report_to: str) -> None:
    """Every logger --report-to names is installed: checked before anything is written, where the
    Trainer would fail only once the run folder exists."""
    import importlib.util

    names = [n.strip() for n in report_to.split(",") if n.strip() and n.strip() not in ("none", "all")]
    for name in names:
        package = LOGGER_PACKAGES.get(name)
        if package is None:
            known = ", ".join(sorted(LOGGER_PACKAGES))
            raise ConfigError(f"--report-to {name}: unknown logger; choose from none, all, {known}")
        if importlib.util.find_spec(package) is None:
            raise ConfigError(
                f"--report-to {name} needs the {package} package: pip install {package} (or drop it: --report-to none)"
            )


@dataclass(kw_only=True)
class TrainConfig(ModelFields):
    """Settings shared by every command that trains a model."""

    out: str = setting("", "run directory to create")
    overwrite: bool = setting(False, "replace the tru run in --out (its own files only; yours there stay)")
    epochs: float = setting(10.0, "training epochs (over the forget set for unlearning)")
    max_steps: int = setting(-1, "stop after this many optimizer steps (overrides epochs when > 0)")
    lr: float = setting(1e-5, "learning rate (AdamW)")
    weight_decay: float = setting(0.01, "AdamW weight decay")
    warmup_steps: int = setting(0, "linear warm-up steps")
    lr_scheduler: str = setting("constant", "learning-rate schedule: constant, linear, cosine")
    batch_size: int = setting(4, "items per stream per device per step")
    grad_accum: int = setting(1, "gradient accumulation steps")
    max_length: int = setting(512, "maximum tokens per example")
    seed: int = setting(0, "random seed")
    gradient_checkpointing: bool = setting(
        False,
        "trade compute for memory (on a glibc CPU freed activations "
        "also go back to the kernel: TRU_HOST_MEMORY=compact)",
    )
    lora_r: int = setting(0, "LoRA rank; 0 trains all weights")
    lora_alpha: int = setting(16, "LoRA alpha")
    lora_dropout: float = setting(0.0, "LoRA dropout")
    report_to: str = setting("tensorboard", "Trainer loggers, comma separated, or none")
    logging_steps: int = setting(1, "log every N optimizer steps")
    save_steps: int = setting(50, "write a resumable checkpoint every N steps (0: none)")
    keep_checkpoints: bool = setting(False, "keep the checkpoints after a successful run")
    resume: bool = setting(False, "continue the run in --out from its last complete checkpoint")
    push_to_hub: str = setting(
        "",
        "upload the saved model (with its model card) to this Hugging Face hub repo, "
        "owner/name, created if missing; the login is checked before training",
    )

    def validate(self) -> None:
        check_field_values(self)
        if not self.out:
            raise ConfigError("--out is required: the run directory to create")
        check_out_folder(self.out)
        check_at_least(self, 1, ("batch_size", "grad_accum", "max_length", "logging_steps"))
        check_at_least(self, 0, ("save_steps", "warmup_steps", "lora_r", "seed"))
        if self.resume and self.overwrite:
            raise ConfigError("--resume and --overwrite contradict each other; choose one")
        if self.lr <= 0:
            raise ConfigError(f"--lr must be positive, got {self.lr}")
        check_loggers(self.report_to)
        if self.epochs < 0:
            raise ConfigError(f"--epochs must be 0 or positive, got {self.epochs}")
        if self.epochs <= 0 and self.max_steps <= 0:
            raise ConfigError("give --epochs > 0 or --max-steps > 0")
        if self.weight_decay < 0:
            raise ConfigError(f"--weight-decay must be 0 or positive, got {self.weight_decay}")
        if self.lora_alpha < 1:
            raise ConfigError(f"--lora-alpha must be at least 1, got {self.lora_alpha}")
        if not 0 <= self.lora_dropout < 1:
            raise ConfigError(f"--lora-dropout must be in [0, 1), got {self.lora_dropout}")
        if self.dtype not in ("float32", "bfloat16"):
            raise ConfigError(f"--dtype must be float32 or bfloat16, got '{self.dtype}'")
        if self.lr_scheduler not in ("constant", "linear", "cosine"):
            raise ConfigError(f"--lr-scheduler must be constant, linear or cosine, got '{self.lr_scheduler}'")
        if self.device not in ("auto", "cpu") and not self.device.startswith("cuda"):
            raise ConfigError(f"--device must be auto, cpu or cuda, got '{self.device}'")


@dataclass(kw_only=True)
class FinetuneConfig(QAColumnFields, TrainConfig):
    """`tru finetune`: teach a base model QA data (the TOFU `full` model or the `retain` oracle)."""

    data: str = setting("", f"QA data: a {QA_SOURCES} (e.g. tofu:full)")
    tofu: str = setting("locuslab/TOFU", "TOFU source for tofu:SPLIT specs: a local folder or hub id")
    epochs: float = setting(5.0, "training epochs")
    lr_scheduler: str = setting("linear", "learning-rate schedule: constant, linear, cosine")
    pack: bool = setting(
        True,
        "pack each batch into one unpadded row and project onto the vocabulary only "
        "at answer tokens (--no-pack: a padded batch with logits everywhere, as "
        "transformers' Trainer runs it)",
    )

    def validate(self) -> None:
        super().validate()
        if not self.data:
            raise ConfigError("--data is required: a QA file or tofu:SPLIT")
        if uses_tofu(self.data):
            check_tofu_source(self.tofu)
