"""Typed command settings. Each command takes one flat dataclass; the CLI flags, YAML files and
the Python API all fill the same fields, so every subcommand is callable with the same settings."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from tru.errors import ConfigError, InputError


def setting(default: Any, help: str, **kwargs) -> Any:
    if isinstance(default, (list, dict)):
        return field(default_factory=lambda: type(default)(default), metadata={"help": help, **kwargs})
    return field(default=default, metadata={"help": help, **kwargs})


@dataclass(kw_only=True)
class ModelFields:
    """Which model a command loads, and how."""

    model: str = setting("smollm2-135m", "model folder, run directory, hub id, or alias (smollm2-135m, tiny-llama)")
    dtype: str = setting("float32", "float32 or bfloat16")
    device: str = setting("auto", "auto, cpu or cuda")
    trust_remote_code: bool = setting(False, "allow model code from the hub (off unless asked)")


@dataclass(kw_only=True)
class TrainConfig(ModelFields):
    """Settings shared by every command that trains a model."""

    out: str = setting("", "run directory to create")
    overwrite: bool = setting(False, "replace an existing run directory")
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
    gradient_checkpointing: bool = setting(False, "trade compute for memory (on a glibc CPU freed activations "
                                                         "also go back to the kernel: TRU_HOST_MEMORY=compact)")
    lora_r: int = setting(0, "LoRA rank; 0 trains all weights")
    lora_alpha: int = setting(16, "LoRA alpha")
    lora_dropout: float = setting(0.0, "LoRA dropout")
    report_to: str = setting("tensorboard", "Trainer loggers, comma separated, or none")
    logging_steps: int = setting(1, "log every N optimizer steps")
    save_steps: int = setting(50, "write a resumable checkpoint every N steps (0: none)")
    keep_checkpoints: bool = setting(False, "keep the checkpoints after a successful run")
    resume: bool = setting(False, "continue the run in --out from its last complete checkpoint")

    def validate(self) -> None:
        if not self.out:
            raise ConfigError("--out is required: the run directory to create")
        positive = {"batch_size": self.batch_size, "grad_accum": self.grad_accum,
                    "max_length": self.max_length, "logging_steps": self.logging_steps}
        for name, value in positive.items():
            if value < 1:
                raise ConfigError(f"--{name.replace('_', '-')} must be at least 1, got {value}")
        if self.resume and self.overwrite:
            raise ConfigError("--resume and --overwrite contradict each other; choose one")
        if self.save_steps < 0:
            raise ConfigError(f"--save-steps must be 0 or positive, got {self.save_steps}")
        if self.lr <= 0:
            raise ConfigError(f"--lr must be positive, got {self.lr}")
        if self.epochs <= 0 and self.max_steps <= 0:
            raise ConfigError("give --epochs > 0 or --max-steps > 0")
        if self.dtype not in ("float32", "bfloat16"):
            raise ConfigError(f"--dtype must be float32 or bfloat16, got '{self.dtype}'")
        if self.lr_scheduler not in ("constant", "linear", "cosine"):
            raise ConfigError(f"--lr-scheduler must be constant, linear or cosine, got '{self.lr_scheduler}'")
        if self.device not in ("auto", "cpu") and not self.device.startswith("cuda"):
            raise ConfigError(f"--device must be auto, cpu or cuda, got '{self.device}'")


@dataclass(kw_only=True)
class FinetuneConfig(TrainConfig):
    """`tru finetune`: teach a base model QA data (the TOFU `full` model or the `retain` oracle)."""

    data: str = setting("", "QA data: a .jsonl/.json file or tofu:SPLIT (e.g. tofu:full)")
    tofu: str = setting("locuslab/TOFU", "TOFU source for tofu:SPLIT specs: a local folder or hub id")
    epochs: float = setting(5.0, "training epochs")
    lr_scheduler: str = setting("linear", "learning-rate schedule: constant, linear, cosine")
    pack: bool = setting(True, "pack each batch into one unpadded row and project onto the vocabulary only "
                               "at answer tokens (--no-pack: a padded batch with logits everywhere, as "
                               "transformers' Trainer runs it)")

    def validate(self) -> None:
        super().validate()
        if not self.data:
            raise ConfigError("--data is required: a QA file or tofu:SPLIT")


@dataclass(kw_only=True)
class UnlearnConfig(TrainConfig):
    """`tru unlearn`: remove the forget set's knowledge with TRU or a baseline."""

    method: str = setting("tru", "tru, ga, graddiff, npo, simnpo, idkpo, idkdpo, rmu, wga")
    set: dict = setting({}, "method setting KEY=VALUE (repeatable), e.g. --set alpha=0.2")
    forget: str = setting("", "forget data: a .jsonl/.json file or tofu:SPLIT (e.g. tofu:forget01)")
    retain: str = setting("", "retain data: a file or tofu:SPLIT (default for tofu:forgetNN: the matching retain split)")
    targets: str = setting("", "reasoning targets: a targets .jsonl, or rtofu:PATH for R-TOFU idkcot traces")
    refusals: str = setting("", "refusal answers for idkpo/idkdpo and R-TOFU targets: a file of {\"answer\": ...}")
    tofu: str = setting("locuslab/TOFU", "TOFU source for tofu:SPLIT specs: a local folder or hub id")
    target_format: str = setting("s1", "reasoning target format: s1 or think-tags")
    summary_items: int = setting(64, "forget/retain items scored before and after for summary.json (0: skip)")
    max_forget_nll: float = setting(0.0, "divergence guard: stop if the forget NLL passes this (0: off)")
    stop_forget_nll: float = setting(0.0, "early stop once the forget NLL reaches this (0: off)")
    fuse: bool = setting(True, "one forward pass per step over all streams, packed without padding "
                               "(--no-fuse: one padded pass per stream, the reference implementation)")
    group_by_length: bool = setting(False, "batch forget items of similar length together (less padding "
                                           "with --no-fuse)")
    logits_chunk: int = setting(0, "project the final hidden states onto the vocabulary this many loss "
                                   "positions at a time, again in the backward pass, instead of keeping every "
                                   "position's logits (less memory, one more head matmul; fused step, unsharded "
                                   "models; 0: off)")

    def validate(self) -> None:
        super().validate()
        if not self.forget:
            raise ConfigError("--forget is required: a forget file or tofu:SPLIT")
        from tru.data.formatting import TARGET_FORMATS

        if self.target_format not in TARGET_FORMATS:
            raise ConfigError(f"unknown target format '{self.target_format}'; choose one of {', '.join(TARGET_FORMATS)}")
        if self.logits_chunk < 0:
            raise ConfigError(f"--logits-chunk must be 0 (off) or a positive number of positions, got {self.logits_chunk}")
        if self.logits_chunk and not self.fuse:
            raise ConfigError("--logits-chunk works with the fused step only; drop --no-fuse or --logits-chunk")


def load_yaml_settings(path: str | Path, config_type: type) -> dict:
    """Read a YAML preset; unknown keys are an error that names the key and file."""
    path = Path(path)
    if not path.exists():
        raise InputError(path, "config file does not exist")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as exc:
        line = getattr(getattr(exc, "problem_mark", None), "line", None)
        raise InputError(path, f"invalid YAML ({getattr(exc, 'problem', exc)})",
                         line=None if line is None else line + 1) from None
    if not isinstance(data, dict):
        raise InputError(path, "expected a mapping of setting names to values")
    known = {f.name for f in dataclasses.fields(config_type)}
    for key in data:
        if key.replace("-", "_") not in known:
            raise InputError(path, f"unknown setting '{key}'", field=key,
                             hint=f"known settings: {', '.join(sorted(known))}")
    return {key.replace("-", "_"): value for key, value in data.items()}


def config_dict(config) -> dict:
    return dataclasses.asdict(config)


@dataclass(kw_only=True)
class QASourceFields(ModelFields):
    """Which QA data a model is measured on (TOFU or custom files), and the measuring pass."""

    model: str = setting("", "model folder, run directory, hub id or alias")
    tofu: str = setting("locuslab/TOFU", "TOFU source: a local folder or hub id")
    forget_split: str = setting("forget01", "TOFU forget split: forget01, forget05, forget10")
    forget: str = setting("", "custom benchmark: forget QA file")
    retain: str = setting("", "custom benchmark: retain QA file")
    limit: int = setting(0, "use at most N items per split (0: all)")
    batch_size: int = setting(16, "sequences per forward pass or generation batch")
    max_new_tokens: int = setting(200, "greedy generation length")
    max_length: int = setting(512, "maximum tokens per scored example")


@dataclass(kw_only=True)
class EvalConfig(QASourceFields):
    """`tru eval`: measure what a model still knows, how it refuses and what it kept."""

    benchmark: str = setting("tofu", "tofu, muse-news, wmdp or custom")
    out: str = setting("", "output folder for EVAL.json and SUMMARY.json (default: RUN/eval/BENCHMARK)")
    overwrite: bool = setting(False, "discard an earlier evaluation in --out instead of resuming it")
    muse: str = setting("", "MUSE-News folder (knowmem_*, verbmem_*, privleak_* files)")
    wmdp: str = setting("", "WMDP question files, comma separated (e.g. bio.jsonl,cyber.jsonl)")
    wmdp_subject: str = setting("", "subject named in the WMDP prompt for files other than bio/cyber/chem "
                                    "(default: the file name)")
    retain_eval: str = setting("", "the retain model's evaluation folder (forget quality, privleak)")
    judge: str = setting("offline", "offline (rule-based proxy), llm (OpenAI-compatible judge) or both")
    judge_url: str = setting("", "judge endpoint base URL, e.g. http://127.0.0.1:8000/v1")
    judge_model: str = setting("", "judge model name at that endpoint")
    judge_key_env: str = setting("OPENAI_API_KEY", "environment variable holding the judge's API key")
    judge_key_file: str = setting("", "file holding the judge's API key (instead of the environment)")
    judge_concurrency: int = setting(4, "judge requests in flight at once")

    def validate(self) -> None:
        if not self.model:
            raise ConfigError("--model is required")
        if self.judge not in ("offline", "llm", "both"):
            raise ConfigError(f"--judge must be offline, llm or both, got '{self.judge}'")
        if self.judge != "offline" and not (self.judge_url and self.judge_model):
            raise ConfigError(f"--judge {self.judge} needs --judge-url and --judge-model")
        if self.judge != "offline" and self.benchmark not in ("tofu", "custom"):
            raise ConfigError("the LLM judge scores QA answers: use it with --benchmark tofu or custom")
        benchmarks = ("tofu", "muse-news", "wmdp", "custom")
        if self.benchmark not in benchmarks:
            raise ConfigError(f"unknown benchmark '{self.benchmark}'; choose one of {', '.join(benchmarks)}")
        needs = {"muse-news": ("muse", "--muse"), "wmdp": ("wmdp", "--wmdp"), "custom": ("forget", "--forget")}
        if self.benchmark in needs and not getattr(self, needs[self.benchmark][0]):
            raise ConfigError(f"--benchmark {self.benchmark} needs {needs[self.benchmark][1]}")
        for name in ("batch_size", "max_new_tokens", "max_length"):
            if getattr(self, name) < 1:
                raise ConfigError(f"--{name.replace('_', '-')} must be at least 1")
        if self.limit < 0:
            raise ConfigError("--limit must be 0 (all) or positive")
        if self.dtype not in ("float32", "bfloat16"):
            raise ConfigError(f"--dtype must be float32 or bfloat16, got '{self.dtype}'")


@dataclass(kw_only=True)
class SynthConfig:
    """`tru data synth`: write the synthetic fictitious-knowledge benchmark."""

    entities: int = setting(40, "number of fictitious people")
    seed: int = setting(0, "random seed (same seed, same files)")
    out: str = setting("", "output folder")

    def validate(self) -> None:
        if not self.out:
            raise ConfigError("--out is required")


@dataclass(kw_only=True)
class ReportConfig:
    """`tru report`: one readable report (HTML + Markdown + PNGs) over finished runs."""

    runs: dict = setting({}, "NAME=RUN_DIR,EVAL_DIR[,ATTACK_DIR], repeatable, one per method; "
                             "leave RUN_DIR empty for a model without an unlearning run (NAME=,EVAL_DIR)",
                        metavar="NAME=RUN_DIR,EVAL_DIR[,ATTACK_DIR]")
    out: str = setting("", "output folder (report.html, report.md, report.json, PNGs)")
    overwrite: bool = setting(False, "replace an existing output folder")
    examples: int = setting(3, "example answers per method and side (forget, retain)")
    title: str = setting("tru report", "report title")

    def validate(self) -> None:
        if not self.out:
            raise ConfigError("--out is required")
        if not self.runs:
            raise ConfigError("give at least one --runs NAME=RUN_DIR,EVAL_DIR[,ATTACK_DIR]")
        if self.examples < 0:
            raise ConfigError("--examples must be >= 0")
