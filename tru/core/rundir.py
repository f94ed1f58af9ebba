"""The run directory: resolved config, environment, per-step losses and the final model (saved by
``save_model_atomically``, tru/train/training.py).

A folder is a tru run folder when tru created it (``.tru-run`` inside) or when it has the files every
run of earlier versions wrote (``config.json`` and ``environment.json``). tru deletes nothing but a run
folder that ``--overwrite`` names, and nothing at all of a folder it did not make.
"""

from __future__ import annotations

import platform
import shutil
from dataclasses import dataclass
from pathlib import Path

from tru.core.errors import ConfigError
from tru.core.files import write_json

RUN_MARKER = ".tru-run"
LEGACY_RUN_FILES = ("config.json", "environment.json")
# what a run writes; replacing a run clears these and nothing else
RUN_OUTPUTS = (
    "config.json",
    "environment.json",
    "losses.jsonl",
    "summary.json",
    "reference_logps.json",
    "diverged.json",
    "scope_check.json",
    "validation.jsonl",  # appended to during a run: a restart from step 0 must not continue the old rows
    "anchors.jsonl",
    "trainer",
    "model",
    ".model.partial",  # a final save cut short
)


@dataclass(frozen=True)
class FolderState:
    """What an output folder holds, as far as deleting or resuming it is concerned."""

    path: Path
    exists: bool
    entries: tuple[str, ...]  # names inside, sorted
    is_run: bool
    finished: bool

    @property
    def empty(self) -> bool:
        return not self.entries

    def describe(self) -> str:
        shown = ", ".join(self.entries[:5]) + (", ..." if len(self.entries) > 5 else "")
        return f"{len(self.entries)} entries: {shown}"


def inspect_folder(out: str | Path) -> FolderState:
    path = Path(out).expanduser()
    if path.exists() and not path.is_dir():
        raise ConfigError(f"--out {path} is a file, not a folder; choose a folder for the run")
    entries = tuple(sorted(p.name for p in path.iterdir())) if path.is_dir() else ()
    names = set(entries)
    is_run = RUN_MARKER in names or all(n in names for n in LEGACY_RUN_FILES)
    finished = is_run and "summary.json" in names and (path / "model").is_dir()
    return FolderState(path, path.exists(), entries, is_run, finished)


def check_output_folder(state: FolderState, *, overwrite: bool, resume: bool) -> None:
    """Refuse, before anything is written or deleted, an --out that this run may not take over."""
    if resume and state.empty:
        found = "is empty" if state.exists else "does not exist"
        raise ConfigError(f"--resume: {state.path} {found}: there is no run to continue; drop --resume to start one")
    if state.empty:
        return
    if resume:
        if not state.is_run:
            raise ConfigError(
                f"--resume: {state.path} is not a tru run folder ({state.describe()}); "
                "give the folder of the run to continue, or a new --out"
            )
        if state.finished:
            raise ConfigError(
                f"--resume: the run in {state.path} has already finished (model/ and summary.json "
                "are there); nothing to resume. Use another --out, or --overwrite to train it again"
            )
        return
    if not overwrite:
        raise ConfigError(
            f"run directory {state.path} already exists and is not empty; "
            "choose another --out, or pass --overwrite to replace a tru run (or --resume to continue it)"
        )
    if not state.is_run:
        raise ConfigError(
            f"--overwrite: {state.path} is not a tru run folder ({state.describe()}); tru deletes "
            "only run folders it made. Choose another --out, or empty the folder yourself"
        )


def _within(inner: Path, outer: Path) -> bool:
    return inner == outer or outer in inner.parents


def check_inputs_outside(out: str | Path, inputs: dict[str, str]) -> None:
    """An input (flag -> path) equal to or inside the output folder would be destroyed or overwritten by
    the run; so would an output folder that holds an input. ``tofu:``/``rtofu:`` specs are read by path."""
    out_path = Path(out).expanduser().resolve()
    for flag, spec in inputs.items():
        if not spec:
            continue
        raw = spec.split(":", 1)[1] if spec.startswith(("tofu:", "rtofu:")) else spec
        path = Path(raw).expanduser()
        if not path.exists():
            continue  # a hub id or an alias; or a missing file, which the reader reports
        if _within(path.resolve(), out_path):
            raise ConfigError(
                f"--out {out} holds the input {flag} {spec}; the run would overwrite it. "
                "Choose an --out outside your inputs"
            )


def prepare_run_dir(state: FolderState, *, replace: bool, keep: tuple[str, ...] = ()) -> Path:
    """Make the folder ready for a run that starts at step 0 (checked by ``check_output_folder`` first).

    ``replace`` (``--overwrite``, or an unfinished run resumed with no complete checkpoint) removes what
    a run writes and nothing else. ``keep`` names entries never removed (the run's lock)."""
    path = state.path
    path.mkdir(parents=True, exist_ok=True)
    if state.is_run and replace:
        for name in state.entries:
            if name in keep or name not in RUN_OUTPUTS:
                continue
            target = path / name
            if target.is_dir() and not target.is_symlink():
                shutil.rmtree(target)
            else:
                target.unlink(missing_ok=True)
    write_json(path / RUN_MARKER, {"tool": "tru"})
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


def write_environment(
    path: Path,
    *,
    world_size: int,
    per_device_batch: int,
    grad_accum: int,
    seed: int,
    device: str,
    extra: dict | None = None,
) -> dict:
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
