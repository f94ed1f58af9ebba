"""Typed command settings. Each command takes one flat dataclass; the CLI flags, YAML files and
the Python API all fill the same fields, so every subcommand is callable with the same settings."""

from __future__ import annotations

import dataclasses
import difflib
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from tru.data.readers import DATA_FILE, json_kind, read_text_file
from tru.data.records import ColumnMap
from tru.data.specs import check_tofu_source, uses_tofu
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


# the data specs every QA-reading command takes
QA_SOURCES = ".jsonl/.json/.csv/.parquet file, hf:OWNER/NAME[:CONFIG][@SPLIT] or tofu:SPLIT"


@dataclass(kw_only=True)
class QAColumnFields:
    """Which columns of the user's QA data (files and hf: datasets) hold the question and the answer."""

    question_field: str = setting(
        "", "column that holds the question in your data (default: question, or prompt, or chat messages)"
    )
    answer_field: str = setting("", "column that holds the answer in your data (default: answer, response or gt)")

    def columns(self) -> ColumnMap:
        return ColumnMap(question=self.question_field, answer=self.answer_field)


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


@dataclass(kw_only=True)
class UnlearnConfig(QAColumnFields, TrainConfig):
    """`tru unlearn`: remove the forget set's knowledge with TRU or a baseline."""

    method: str = setting("tru", "tru, ga, graddiff, npo, simnpo, idkpo, idkdpo, rmu, wga")
    set: dict = setting({}, "method setting KEY=VALUE (repeatable), e.g. --set alpha=0.2")
    preset: str = setting(
        "",
        "a method's named settings, e.g. --preset paper for TRU as the authors ran it "
        "(--set still overrides; tru methods lists them)",
    )
    forget: str = setting("", f"forget data: a {QA_SOURCES} (e.g. tofu:forget01)")
    retain: str = setting(
        "", "retain data: a file, hf: dataset or tofu:SPLIT (default for tofu:forgetNN: the matching retain split)"
    )
    targets: str = setting("", "reasoning targets: a targets .jsonl, or rtofu:PATH for R-TOFU idkcot traces")
    refusals: str = setting("", 'refusal answers for idkpo/idkdpo and R-TOFU targets: a file of {"answer": ...}')
    tofu: str = setting("locuslab/TOFU", "TOFU source for tofu:SPLIT specs: a local folder or hub id")
    target_format: str = setting("s1", "reasoning target format: s1 or think-tags")
    summary_items: int = setting(64, "forget/retain items scored before and after for summary.json (0: skip)")
    max_forget_nll: float = setting(0.0, "divergence guard: stop if the forget NLL passes this (0: off)")
    stop_forget_nll: float = setting(0.0, "early stop once the forget NLL reaches this (0: off)")
    fuse: bool = setting(
        True,
        "one forward pass per step over all streams, packed without padding "
        "(--no-fuse: one padded pass per stream, the reference implementation)",
    )
    group_by_length: bool = setting(
        False, "batch forget items of similar length together (less padding with --no-fuse)"
    )
    validation: str = setting(
        "",
        "held-out forget questions for the scope check: a QA file, hf: dataset or tofu:SPLIT "
        "(default: --validation-share of the forget items, never trained on)",
    )
    validation_share: float = setting(
        0.2,
        "share of the forget items (and of the retain items, at most 32) held "
        "out from training for the scope check (0: none)",
    )
    eval_steps: int = setting(0, "run the scope check every N optimizer steps (0: only at the end)")
    until: str = setting(
        "",
        "stop once the scope check meets these, e.g. complete_refusal>=0.95,answered>=0.95 "
        "(metrics of tru.evaluate.registry); the best state by them is saved",
    )
    validation_new_tokens: int = setting(64, "greedy tokens per answer in the scope check")
    logits_chunk: int = setting(
        0,
        "project the final hidden states onto the vocabulary this many loss "
        "positions at a time, again in the backward pass, instead of keeping every "
        "position's logits (less memory, one more head matmul; fused step, unsharded "
        "models; 0: off)",
    )

    def validate(self) -> None:
        super().validate()
        if not self.forget:
            raise ConfigError("--forget is required: a forget file or tofu:SPLIT")
        if uses_tofu(self.forget, self.retain):
            check_tofu_source(self.tofu)
        check_at_least(self, 0, ("summary_items", "logits_chunk"))
        for name in ("max_forget_nll", "stop_forget_nll"):
            if getattr(self, name) < 0:
                raise ConfigError(f"{_flag(name)} must be 0 (off) or positive, got {getattr(self, name)}")
        from tru.data.formatting import TARGET_FORMATS

        if self.target_format not in TARGET_FORMATS:
            raise ConfigError(
                f"unknown target format '{self.target_format}'; choose one of {', '.join(TARGET_FORMATS)}"
            )
        if self.logits_chunk and not self.fuse:
            raise ConfigError("--logits-chunk works with the fused step only; drop --no-fuse or --logits-chunk")
        check_at_least(self, 0, ("eval_steps",))
        check_at_least(self, 1, ("validation_new_tokens",))
        if not 0 <= self.validation_share < 1:
            raise ConfigError(f"--validation-share must be in [0, 1), got {self.validation_share}")
        if self.until:
            from tru.unlearn.validation import parse_until

            parse_until(self.until)  # a malformed criterion or a rate above 1: an error before anything loads
        from tru.processes import world_size

        if (self.eval_steps or self.until) and world_size() > 1:
            raise ConfigError(
                "--eval-steps and --until run the scope check in one process; launch one process, "
                "or drop them (the end-of-run scope check is skipped under several processes)"
            )


# YAML 1.1 reads these words, unquoted, as booleans; quoted they mean the same, never Python truthiness
BOOL_WORDS = {"true": True, "yes": True, "on": True, "false": False, "no": False, "off": False}


def type_name(f: dataclasses.Field) -> str:
    """A field's type as written ('int', 'float', ...), whether or not annotations are postponed."""
    return f.type if isinstance(f.type, str) else getattr(f.type, "__name__", str(f.type))


def _as_int(value: Any) -> int:
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    number = value
    if isinstance(value, str):
        try:
            return int(value.strip())
        except ValueError:
            try:
                number = float(value)  # "1e3"
            except ValueError:
                pass
    if isinstance(number, float) and number.is_integer():
        return int(number)
    raise ValueError(f"expected a whole number, got {value!r}")


def _as_float(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise ValueError(f"expected a number, got {value!r}")
    try:
        number = float(value)  # "1e-3": YAML 1.1 reads exponents without a dot as text
    except ValueError:
        raise ValueError(f"expected a number, got {value!r}") from None
    if not math.isfinite(number):
        raise ValueError(f"expected a finite number, got {value!r}")
    return number


def _as_bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in BOOL_WORDS:
        return BOOL_WORDS[value.strip().lower()]
    raise ValueError(f"expected true or false, got {value!r}")


def _as_str(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    if value is None:
        raise ValueError("has no value; give one or remove the line")
    if isinstance(value, bool):
        raise ValueError(
            f"expected text, got {value!r} (quote it: YAML reads an unquoted yes, no, on, off, "
            "true or false as true or false)"
        )
    raise ValueError(f"expected text, got {value!r} (quote it)")


def _scalar_text(value: Any) -> str:
    """A KEY=VALUE value as the command line would give it."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (str, int, float)):
        return str(value)
    raise ValueError(f"expected a single value, got {value!r}")


def _as_dict(value: Any) -> dict:
    if not isinstance(value, dict):
        raise ValueError(f"expected a mapping of KEY: VALUE, got {value!r}")
    out = {}
    for key, item in value.items():
        try:
            out[str(key)] = _scalar_text(item)
        except ValueError as exc:
            raise ValueError(f"{key}: {exc}") from None
    return out


YAML_CONVERTERS = {"int": _as_int, "float": _as_float, "bool": _as_bool, "str": _as_str, "dict": _as_dict}


def _read_yaml_mapping(path: Path) -> list[tuple[str, Any, int]]:
    """(key, value, 1-based line of the value) for each top-level entry of a YAML file."""
    text = read_text_file(path, what="YAML file", hint="check the --config path")
    loader = yaml.SafeLoader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return []
        if not isinstance(node, yaml.MappingNode):
            raise InputError(path, "expected a mapping of setting names to values", line=node.start_mark.line + 1)
        return [
            (
                str(loader.construct_object(key, deep=True)),
                loader.construct_object(value, deep=True),
                value.start_mark.line + 1,
            )
            for key, value in node.value
        ]
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        raise InputError(
            path, f"invalid YAML ({getattr(exc, 'problem', None) or exc})", line=None if mark is None else mark.line + 1
        ) from None
    finally:
        loader.dispose()


def _nearest_setting(name: str, fields: dict) -> str:
    match = difflib.get_close_matches(name, list(fields), n=1)
    return f"did you mean '{match[0]}'?" if match else f"known settings: {', '.join(sorted(fields))}"


def load_yaml_settings(path: str | Path, config_type: type) -> dict:
    """Read a YAML preset and convert each value to its setting's type.

    Unknown or repeated keys and values of the wrong type are an InputError naming the file, the line and
    the key. Numbers may be quoted ("1e-3", "3"); an int setting takes no fraction; a bool setting takes
    true/false (or yes/no/on/off, quoted or not), never another value's truthiness."""
    path = Path(path).expanduser()
    fields = {f.name: type_name(f) for f in dataclasses.fields(config_type)}
    values: dict[str, Any] = {}
    lines: dict[str, int] = {}
    for key, value, line in _read_yaml_mapping(path):
        name = key.replace("-", "_")
        if name not in fields:
            raise InputError(
                path, f"unknown setting '{key}'", line=line, field=key, hint=_nearest_setting(name, fields)
            )
        if name in lines:
            raise InputError(path, f"given twice (first on line {lines[name]})", line=line, field=key)
        convert = YAML_CONVERTERS.get(fields[name])
        try:
            values[name] = convert(value) if convert else value
        except ValueError as exc:
            raise InputError(path, str(exc), line=line, field=key) from None
        lines[name] = line
    return values


def _flag(name: str) -> str:
    return "--" + name.replace("_", "-")


# what each field type must hold (bool is an int in Python, so it is ruled out for numbers)
FIELD_CHECKS = {
    "int": ("a whole number", lambda v: isinstance(v, int) and not isinstance(v, bool)),
    "float": (
        "a finite number",
        lambda v: isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v),
    ),
    "bool": ("true or false", lambda v: isinstance(v, bool)),
    "str": ("text", lambda v: isinstance(v, str)),
    "dict": ("a mapping of KEY=VALUE", lambda v: isinstance(v, dict)),
}


def check_field_values(config) -> None:
    """Every setting holds a value of its type, and every float setting is finite: nan passes every
    range check (nan <= 0 is false), and a string or a truthy 'no' from the Python API would too."""
    for f in dataclasses.fields(config):
        what, ok = FIELD_CHECKS.get(type_name(f), (None, None))
        value = getattr(config, f.name)
        if ok is not None and not ok(value):
            raise ConfigError(f"{_flag(f.name)} must be {what}, got {value!r}")


def check_at_least(config, minimum: int, names: tuple[str, ...]) -> None:
    for name in names:
        value = getattr(config, name)
        if value < minimum:
            wanted = "0 or positive" if minimum == 0 else f"at least {minimum}"
            raise ConfigError(f"{_flag(name)} must be {wanted}, got {value}")


def check_out_folder(out: str, flag: str = "--out") -> None:
    """The folder a command writes must not be (or lie under) an existing file."""
    path = Path(out).expanduser()
    for part in (path, *path.parents):
        if part.exists():
            if not part.is_dir():
                where = "is a file" if part == path else f"lies under {part}, which is a file"
                raise ConfigError(f"{flag} {out} {where}; give a folder path")
            return


def check_text_file(path: str, flag: str) -> None:
    """A small input file (an API key, a translations table) exists and is UTF-8 text."""
    read_text_file(path, what=f"file for {flag}", hint=f"check the {flag} path")


def check_json_object(path: str | Path, flag: str) -> None:
    """An earlier result a command reads (an evaluation's EVAL.json or SUMMARY.json) is a JSON object."""
    try:
        data = json.loads(read_text_file(path, what=f"JSON file for {flag}", hint=f"check the {flag} path"))
    except json.JSONDecodeError as exc:
        raise InputError(path, f"invalid JSON ({exc.msg})", line=exc.lineno, hint=f"check the {flag} path") from None
    if not isinstance(data, dict):
        raise InputError(path, f"expected a JSON object, got a JSON {json_kind(data)}", hint=f"check the {flag} path")


def eval_file(folder: str, name: str) -> Path:
    """The file of an earlier evaluation that a flag names by its folder (or directly)."""
    path = Path(folder).expanduser()
    return path / name if path.is_dir() or not path.suffix else path


# settings recorded only when set, so that runs and evaluations made before they existed still resume
RECORDED_WHEN_SET = ("question_field", "answer_field")


def config_dict(config) -> dict:
    return {k: v for k, v in dataclasses.asdict(config).items() if v or k not in RECORDED_WHEN_SET}


@dataclass(kw_only=True)
class QASourceFields(QAColumnFields, ModelFields):
    """Which QA data a model is measured on (TOFU or custom files), and the measuring pass."""

    model: str = setting("", "model folder, run directory, hub id or alias")
    tofu: str = setting("locuslab/TOFU", "TOFU source: a local folder or hub id")
    forget_split: str = setting("forget01", "TOFU forget split: forget01, forget05, forget10")
    forget: str = setting(
        "",
        "custom benchmark: forget QA file or hf: dataset (with --benchmark tofu, tru unlearn's spelling "
        "tofu:forgetNN may repeat --forget-split, never contradict it)",
    )
    retain: str = setting("", "custom benchmark: retain QA file or hf: dataset")
    limit: int = setting(0, "use at most N items per split (0: all)")
    batch_size: int = setting(16, "sequences per forward pass or generation batch")
    max_new_tokens: int = setting(200, "greedy generation length")
    max_length: int = setting(512, "maximum tokens per scored example")

    def check_source(self) -> None:
        """The checks `tru eval` and `tru attack` share: the model, the data and the measuring pass."""
        check_field_values(self)
        if not self.model:
            raise ConfigError("--model is required")
        check_at_least(self, 1, ("batch_size", "max_new_tokens", "max_length"))
        if self.limit < 0:
            raise ConfigError("--limit must be 0 (all) or positive")
        if self.dtype not in ("float32", "bfloat16"):
            raise ConfigError(f"--dtype must be float32 or bfloat16, got '{self.dtype}'")
        if self.device not in ("auto", "cpu") and not self.device.startswith("cuda"):
            raise ConfigError(f"--device must be auto, cpu or cuda, got '{self.device}'")
        if getattr(self, "benchmark", "") == "tofu" or uses_tofu(self.forget, self.retain):
            check_tofu_source(self.tofu)
        if getattr(self, "out", ""):
            check_out_folder(self.out)


@dataclass(kw_only=True)
class EvalConfig(QASourceFields):
    """`tru eval`: measure what a model still knows, how it refuses and what it kept."""

    benchmark: str = setting("tofu", "tofu, muse-news, wmdp or custom")
    out: str = setting("", "output folder for EVAL.json and SUMMARY.json (default: RUN/eval/BENCHMARK)")
    overwrite: bool = setting(False, "discard an earlier evaluation in --out instead of resuming it")
    muse: str = setting("", "MUSE-News folder (knowmem_*, verbmem_*, privleak_* files)")
    wmdp: str = setting("", "WMDP question files, comma separated (e.g. bio.jsonl,cyber.jsonl)")
    wmdp_subject: str = setting(
        "", "subject named in the WMDP prompt for files other than bio/cyber/chem (default: the file name)"
    )
    retain_eval: str = setting(
        "",
        "the retain model's evaluation (forget quality, privleak): the folder tru eval wrote; for TOFU also "
        "open-unlearning's TOFU_EVAL.json (or a folder holding one)",
    )
    judge: str = setting("offline", "offline (rule-based proxy), llm (OpenAI-compatible judge) or both")
    judge_url: str = setting("", "judge endpoint base URL, e.g. http://127.0.0.1:8000/v1")
    judge_model: str = setting("", "judge model name at that endpoint")
    judge_key_env: str = setting("OPENAI_API_KEY", "environment variable holding the judge's API key")
    judge_key_file: str = setting("", "file holding the judge's API key (instead of the environment)")
    judge_concurrency: int = setting(4, "judge requests in flight at once")

    def validate(self) -> None:
        self.check_source()
        if self.judge not in ("offline", "llm", "both"):
            raise ConfigError(f"--judge must be offline, llm or both, got '{self.judge}'")
        if self.judge != "offline" and not (self.judge_url and self.judge_model):
            raise ConfigError(f"--judge {self.judge} needs --judge-url and --judge-model")
        from tru.evaluate.benchmarks import BENCHMARKS

        benchmark = BENCHMARKS.get(self.benchmark)
        if benchmark is None:
            raise ConfigError(f"unknown benchmark '{self.benchmark}'; choose one of {', '.join(BENCHMARKS)}")
        if self.judge != "offline" and not benchmark.qa:
            qa = " or ".join(name for name, b in BENCHMARKS.items() if b.qa)
            raise ConfigError(f"the LLM judge scores QA answers: use it with --benchmark {qa}")
        if benchmark.needs and not getattr(self, benchmark.needs[0]):
            raise ConfigError(f"--benchmark {self.benchmark} needs {benchmark.needs[1]}")
        self.check_split_options()
        check_at_least(self, 1, ("judge_concurrency",))
        for file in filter(None, self.wmdp.split(",")):
            if Path(file).expanduser().is_dir():
                raise InputError(file, f"is a folder; --wmdp takes question files ({DATA_FILE}), comma separated")
        if self.judge != "offline" and self.judge_key_file:
            check_text_file(self.judge_key_file, "--judge-key-file")

    def check_split_options(self) -> None:
        """--forget and --retain are the custom benchmark's files: another benchmark would evaluate other
        data than they name, so they are refused there. With --benchmark tofu, --forget tofu:forgetNN may
        repeat --forget-split (which picks the split), never contradict it."""
        from tru.data.tofu import FORGET_SPLITS

        if self.benchmark == "custom":
            return
        named = self.forget.split(":", 1)[1] if self.forget.startswith("tofu:") else ""
        repeats_split = self.benchmark == "tofu" and named in FORGET_SPLITS
        if repeats_split and named != self.forget_split:
            raise ConfigError(
                f"--forget {self.forget} and --forget-split {self.forget_split} disagree: "
                f"--benchmark tofu evaluates the split --forget-split names (default forget01); "
                f"give --forget-split {named} and drop --forget"
            )
        reads = "evaluates the TOFU split --forget-split names" if self.benchmark == "tofu" else "would not read it"
        for flag, value in (("--forget", "" if repeats_split else self.forget), ("--retain", self.retain)):
            if value:
                raise ConfigError(
                    f"{flag} is read only by --benchmark custom; --benchmark {self.benchmark} "
                    f"{reads} (drop {flag}, or use --benchmark custom)"
                )


@dataclass(kw_only=True)
class SynthConfig:
    """`tru data synth`: write the synthetic fictitious-knowledge benchmark."""

    entities: int = setting(40, "number of fictitious people")
    seed: int = setting(0, "random seed (same seed, same files)")
    out: str = setting("", "output folder")

    def validate(self) -> None:
        check_field_values(self)
        if not self.out:
            raise ConfigError("--out is required")
        check_out_folder(self.out)
        check_at_least(self, 0, ("seed",))


@dataclass(kw_only=True)
class ReportConfig:
    """`tru report`: one readable report (HTML + Markdown + PNGs) over finished runs."""

    runs: dict = setting(
        {},
        "NAME=RUN_DIR,EVAL_DIR[,ATTACK_DIR], repeatable, one per method; "
        "leave RUN_DIR empty for a model without an unlearning run (NAME=,EVAL_DIR)",
        metavar="NAME=RUN_DIR,EVAL_DIR[,ATTACK_DIR]",
    )
    out: str = setting("", "output folder (report.html, report.md, report.json, PNGs)")
    overwrite: bool = setting(False, "replace an existing output folder")
    examples: int = setting(3, "example answers per method and side (forget, retain)")
    title: str = setting("tru report", "report title")
    reference: str = setting(
        "",
        "the --runs NAME of the model before unlearning, which every change is measured "
        "against (default: the first one without a run folder)",
    )

    def validate(self) -> None:
        check_field_values(self)
        if not self.out:
            raise ConfigError("--out is required")
        check_out_folder(self.out)
        if not self.runs:
            raise ConfigError("give at least one --runs NAME=RUN_DIR,EVAL_DIR[,ATTACK_DIR]")
        if self.examples < 0:
            raise ConfigError("--examples must be >= 0")
        if self.reference and self.reference not in self.runs:
            raise ConfigError(f"--reference {self.reference} is none of the --runs names ({', '.join(self.runs)})")
