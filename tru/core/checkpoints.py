"""Resume after a crash, and the divergence guard.

Checkpoints are the Trainer's own (weights, optimizer, scheduler, RNG states, data position). A
checkpoint counts only once the guard has checked it (finite weights; the forget-NLL bound when one
is set), its files have reached the disk (fsync) and ``.complete`` has been written into it; one that
fails the check is removed. So a checkpoint torn by a kill or a power loss, or one taken from a diverged
state, is never resumed from; a complete checkpoint that cannot be read is skipped for the one before.
"""

from __future__ import annotations

import json
import math
import re
import shutil
import zipfile
from pathlib import Path
from typing import Callable

from transformers import TrainerCallback

from tru.core.errors import ConfigError
from tru.core.files import fsync_tree, write_jsonl, write_text_atomically

MARKER = ".complete"
# not compared on --resume: the run's own switches, and how a fine-tuning step runs rather than what it
# computes (packed and padded steps give the same loss; runs from before --pack existed lack it)
RESUME_IGNORED = ("resume", "overwrite", "keep_checkpoints", "pack", "push_to_hub")


def checkpoint_dir(run_dir: Path) -> Path:
    return run_dir / "trainer"


def complete_checkpoints(run_dir: Path) -> list[Path]:
    """Checkpoints with the completion marker, newest first."""
    candidates = []
    for path in checkpoint_dir(run_dir).glob("checkpoint-*"):
        match = re.fullmatch(r"checkpoint-(\d+)", path.name)
        if match and (path / MARKER).exists():
            candidates.append((int(match[1]), path))
    return [path for _, path in sorted(candidates, reverse=True)]


def last_complete_checkpoint(run_dir: Path) -> Path | None:
    found = complete_checkpoints(run_dir)
    return found[0] if found else None


def unreadable_reason(checkpoint: Path) -> str | None:
    """Why a complete checkpoint cannot be resumed from (None: it reads). Cheap checks of every file's
    framing: the safetensors header and data length, torch's zip directory, the trainer state's JSON."""
    from safetensors import safe_open

    state = checkpoint / "trainer_state.json"
    try:
        json.loads(state.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        return f"{state.name}: {exc}"
    for path in sorted(checkpoint.rglob("*")):
        try:
            if path.suffix == ".safetensors":
                with safe_open(str(path), framework="pt") as handle:
                    handle.keys()
            elif path.suffix in (".pt", ".pth", ".bin"):
                with zipfile.ZipFile(path) as archive:
                    archive.namelist()
        except Exception as exc:  # safetensors and zipfile raise several kinds for a torn file
            return f"{path.relative_to(checkpoint)}: {exc}"
    return None


def resumable_checkpoint(run_dir: Path, say: Callable[[str], None] = print) -> Path | None:
    """The newest complete checkpoint that reads; each one skipped is reported."""
    for checkpoint in complete_checkpoints(run_dir):
        reason = unreadable_reason(checkpoint)
        if reason is None:
            return checkpoint
        say(f"tru: {checkpoint.name} in {run_dir} cannot be read ({reason}); trying the checkpoint before it")
    return None


def check_resumable(run_dir: Path, config: dict, say: Callable[[str], None] = print) -> Path | None:
    """The checkpoint to resume from (None: start afresh), after checking the settings match."""
    saved_path = run_dir / "config.json"
    if not saved_path.exists():
        return None
    try:
        saved = json.loads(saved_path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ConfigError(
            f"--resume: {saved_path} cannot be read ({exc}); the run cannot be continued, start a new --out"
        ) from None
    if not isinstance(saved, dict):
        raise ConfigError(f"--resume: {saved_path} does not hold a run's settings; start a new --out")
    changed = sorted(k for k, v in config.items() if k not in RESUME_IGNORED and saved.get(k) != v)
    if changed:
        raise ConfigError(
            f"--resume: the settings differ from the run in {run_dir} ({', '.join(changed)}); "
            "resume with the same settings or start a new --out"
        )
    return resumable_checkpoint(run_dir, say)


def checkpoint_step(path: Path) -> int:
    return int(path.name.split("-")[-1])


def trim_loss_log(path: Path, last_step: int) -> None:
    """Drop logged steps after the checkpoint, so the resumed run logs them once."""
    if not path.exists():
        return
    rows = []
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        try:
            row = json.loads(line)
        except json.JSONDecodeError:
            continue  # a line torn by the kill
        if isinstance(row, dict) and row.get("step", 0) <= last_step:
            rows.append(row)
    write_jsonl(path, rows)


def remove_checkpoints(run_dir: Path) -> None:
    for path in checkpoint_dir(run_dir).glob("checkpoint-*"):
        shutil.rmtree(path, ignore_errors=True)


def nonfinite_parameter(model) -> str | None:
    """The name of the first parameter holding a NaN or an infinity (None: all finite)."""
    import torch

    with torch.no_grad():
        for name, parameter in model.named_parameters():
            if parameter.numel() and not bool(torch.isfinite(parameter).all()):
                return name
    return None


def any_process(flag: bool) -> bool:
    """True on every process when ``flag`` is true on any (a verdict on sharded weights must agree)."""
    import torch
    import torch.distributed as dist

    if not (dist.is_available() and dist.is_initialized()) or dist.get_world_size() == 1:
        return flag
    device = "cuda" if dist.get_backend() == "nccl" else "cpu"
    value = torch.tensor([1.0 if flag else 0.0], device=device)
    dist.all_reduce(value)
    return bool(value.item() > 0)


class DivergenceGuard(TrainerCallback):
    """Stops on a non-finite loss or a forget NLL past ``max_forget_nll`` (diverged), and early on a
    forget NLL at or past ``stop_forget_nll`` (target reached).

    It also decides which checkpoints are good: at each save it checks the weights (all finite, and with
    a bound, the forget NLL of the weights themselves, measured by ``forget_nll_probe``: the NLL logged
    at a step was computed before that step's update). A good checkpoint is synced to disk and marked
    complete; a bad one is removed and stops the run.
    """

    def __init__(
        self,
        max_forget_nll: float = 0.0,
        stop_forget_nll: float = 0.0,
        forget_nll_probe: Callable[[object], float] | None = None,
    ):
        self.max_forget_nll = max_forget_nll
        self.stop_forget_nll = stop_forget_nll
        self.forget_nll_probe = forget_nll_probe
        self.diverged: str | None = None
        self.reached: str | None = None
        self.rejected: list[str] = []
        self.passed_step: int | None = None  # the last step whose weights passed the check at a save

    def on_log(self, args, state, control, logs=None, **kwargs):
        logs = logs or {}
        loss = logs.get("loss")
        forget_nll = logs.get("diag/forget_nll")
        if loss is not None and not math.isfinite(loss):
            self.diverged = f"loss became {loss} at step {state.global_step}"
        elif forget_nll is not None and not math.isfinite(forget_nll):
            self.diverged = f"forget NLL became {forget_nll} at step {state.global_step}"
        elif self.max_forget_nll > 0 and forget_nll is not None and forget_nll > self.max_forget_nll:
            self.diverged = (
                f"forget NLL {forget_nll:.3f} passed the bound {self.max_forget_nll} at step {state.global_step}"
            )
        elif self.stop_forget_nll > 0 and forget_nll is not None and forget_nll >= self.stop_forget_nll:
            self.reached = f"forget NLL {forget_nll:.3f} reached {self.stop_forget_nll} at step {state.global_step}"
        if self.diverged or self.reached:
            control.should_training_stop = True
        return control

    def weights_problem(self, model) -> str | None:
        """Why the model's current weights may not be kept (None: they may), agreed by every process."""
        problem = self.diverged
        if problem is None:
            name = nonfinite_parameter(model)
            problem = f"parameter {name} is not finite" if name else None
        if problem is None and self.max_forget_nll > 0 and self.forget_nll_probe is not None:
            nll = self.forget_nll_probe(model)
            if not math.isfinite(nll) or nll > self.max_forget_nll:
                problem = f"the forget NLL of the weights is {nll:.3f}, past the bound {self.max_forget_nll}"
        if any_process(problem is not None):
            return problem or "another process found its weights bad"
        return None

    def on_save(self, args, state, control, model=None, **kwargs):
        path = Path(args.output_dir) / f"checkpoint-{state.global_step}"
        problem = self.weights_problem(model) if model is not None else self.diverged
        if problem is not None:
            self.rejected.append(path.name)
            if self.diverged is None:
                self.diverged = f"{path.name} failed its check: {problem}"
            control.should_training_stop = True
            if state.is_world_process_zero:
                shutil.rmtree(path, ignore_errors=True)
        else:
            self.passed_step = state.global_step
            if state.is_world_process_zero and path.is_dir():
                fsync_tree(path)
                write_text_atomically(path / MARKER, "ok\n")
        return control

    def final_problem(self, model, step: int) -> str | None:
        """``weights_problem`` of the weights training ended with; a save at that very step already
        checked them (the Trainer saves at the last step), so the forget-NLL probe is not run twice."""
        if self.diverged is None and self.passed_step == step:
            return None
        return self.diverged or self.weights_problem(model)
