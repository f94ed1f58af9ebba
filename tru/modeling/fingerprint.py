"""A model's weights fingerprint: what a cached result says it was computed from.

Evaluation blocks (EVAL.json), attack blocks (ATTACK.json) and a local model's cached replies
(``tru targets --generator local``) carry the fingerprint of the model that produced them, so that a
model retrained into the same folder (``tru unlearn --overwrite``) never gets an earlier model's
results. ``model_fingerprint`` is the one definition; see its docstring.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from tru.core.errors import InputError, TruError
from tru.modeling.models import ALIASES, resolve_model_path

EDGE_BYTES = 64 * 1024
# what from_pretrained reads from a model folder: weights, adapters, configs, tokenizer, chat template
MODEL_FILE_SUFFIXES = (".safetensors", ".bin", ".pt", ".pth", ".json", ".jinja", ".model", ".txt", ".tiktoken")


def model_fingerprint(model: str) -> str:
    """The fingerprint of the model a command loads (``--model``: folder, run directory, alias or hub id).

    - a local model folder: ``files:`` and the SHA-256 of, for every model file directly in it
      (``MODEL_FILE_SUFFIXES``: weights, adapter files, config.json, tokenizer files), its name, size,
      mtime_ns and a SHA-256 of its first and last 64 KiB. Hashing whole weights would read gigabytes
      on every command; a rewritten file changes its mtime (and usually its size), and the edges hold
      the safetensors header and the first and last tensors, which retraining changes even where a
      copy kept the mtime. An adapter folder adds its base model's fingerprint.
    - an alias (``tiny-llama``, ``smollm2-135m``): ``alias:NAME``; their folders are built
      deterministically.
    - a hub id: ``hub:ID``. tru loads a hub model at its default revision and has no setting to pin
      another, so the id is all that names it (the cache's revision is unknown before the first load).
    """
    return _fingerprint(model, seen=set())


def _fingerprint(model: str, seen: set[str]) -> str:
    if model in ALIASES:
        return f"alias:{model}"
    path = resolve_model_path(model)
    folder = Path(path)
    if not folder.is_dir():
        return f"hub:{path}"
    seen.add(str(folder.resolve()))
    entries = [_file_entry(file) for file in _model_files(folder)]
    base = _adapter_base(folder)
    if base is not None:
        entries.append({"base_model": _base_fingerprint(base, seen)})
    return "files:" + hashlib.sha256(json.dumps(entries, sort_keys=True).encode("utf-8")).hexdigest()


def _model_files(folder: Path) -> list[Path]:
    return sorted(
        f for f in folder.iterdir() if f.is_file() and not f.name.startswith(".") and f.suffix in MODEL_FILE_SUFFIXES
    )


def _file_entry(file: Path) -> dict:
    digest = hashlib.sha256()
    try:
        stat = file.stat()
        with file.open("rb") as handle:
            digest.update(handle.read(EDGE_BYTES))
            if stat.st_size > 2 * EDGE_BYTES:
                handle.seek(-EDGE_BYTES, 2)
            digest.update(handle.read(EDGE_BYTES))
    except OSError as exc:
        raise InputError(file, f"model file cannot be read ({exc.strerror or exc})") from None
    return {"name": file.name, "size": stat.st_size, "mtime_ns": stat.st_mtime_ns, "edges": digest.hexdigest()}


def _adapter_base(folder: Path) -> str | None:
    """The base model a PEFT adapter folder names, if it is one."""
    try:
        config = json.loads((folder / "adapter_config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    base = config.get("base_model_name_or_path") if isinstance(config, dict) else None
    return base if isinstance(base, str) and base else None


def _base_fingerprint(base: str, seen: set[str]) -> str:
    if str(Path(base).expanduser().resolve()) in seen:
        return "self"
    try:
        return _fingerprint(base, seen)
    except TruError:  # a base that cannot be found here: its name is all there is to go by
        return f"unresolved:{base}"
