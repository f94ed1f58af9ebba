"""Resume after a crash, and the divergence guard.

Checkpoints are the Trainer's own (weights, optimizer, scheduler, RNG states, data position). A
checkpoint counts only once ``CompleteMarker`` has written ``.complete`` into it, after the Trainer
finished saving, so a checkpoint torn by a kill is never resumed from.
"""

from __future__ import annotations

import json
import math
import re
import shutil
from pathlib import Path

from transformers import TrainerCallback

from tru.errors import ConfigError
from tru.io import write_jsonl

MARKER = ".complete"
# not compared on --resume: the run's own switches, and how a fine-tuning step runs rather than what it
# computes (packed and padded steps give the same loss; runs from before --pack existed lack it)
RESUME_IGNORED = ("resume", "overwrite", "pack")


def checkpoint_dir(run_dir: Path) -> Path:
    return run_dir / "trainer"


def last_complete_checkpoint(run_dir: Path) -> Path | None:
    candidates = []
    for path in checkpoint_dir(run_dir).glob("checkpoint-*"):
        match = re.fullmatch(r"checkpoint-(\d+)", path.name)
        if match and (path / MARKER).exists():
            candidates.append((int(match[1]), path))
    return max(candidates)[1] if candidates else None


def check_resumable(run_dir: Path, config: dict) -> Path | None:
    """The checkpoint to resume from (None: start afresh), after checking the settings match."""
    saved_path = run_dir / "config.json"
    if not saved_path.exists():
        return None
    saved = json.loads(saved_path.read_text(encoding="utf-8"))
    changed = sorted(k for k, v in config.items() if k not in RESUME_IGNORED and saved.get(k) != v)
    if changed:
        raise ConfigError(f"--resume: the settings differ from the run in {run_dir} ({', '.join(changed)}); "
                          "resume with the same settings or start a new --out")
    return last_complete_checkpoint(run_dir)


def checkpoint_step(path: Path) -> int:
    return int(path.name.split("-")[-1])


def trim_loss_log(path: Path, last_step: int) -> None:
    """Drop logged steps after the checkpoint, so the resumed run logs them once."""
    if not path.exists():
        return
    rows = []
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            row = json.loads(line)
        except json.JSONDecodeError:
            continue  # a line torn by the kill
        if row.get("step", 0) <= last_step:
            rows.append(row)
    write_jsonl(path, rows)


def remove_checkpoints(run_dir: Path) -> None:
    for path in checkpoint_dir(run_dir).glob("checkpoint-*"):
        shutil.rmtree(path, ignore_errors=True)


class CompleteMarker(TrainerCallback):
    def on_save(self, args, state, control, **kwargs):
        if state.is_world_process_zero:
            path = Path(args.output_dir) / f"checkpoint-{state.global_step}"
            if path.is_dir():
                (path / MARKER).write_text("ok\n")
        return control


class DivergenceGuard(TrainerCallback):
    """Stops on a non-finite loss or a forget NLL past ``max_forget_nll`` (diverged), and early on a
    forget NLL at or past ``stop_forget_nll`` (target reached)."""

    def __init__(self, max_forget_nll: float = 0.0, stop_forget_nll: float = 0.0):
        self.max_forget_nll = max_forget_nll
        self.stop_forget_nll = stop_forget_nll
        self.diverged: str | None = None
        self.reached: str | None = None

    def on_log(self, args, state, control, logs=None, **kwargs):
        logs = logs or {}
        loss = logs.get("loss")
        forget_nll = logs.get("diag/forget_nll")
        if loss is not None and not math.isfinite(loss):
            self.diverged = f"loss became {loss} at step {state.global_step}"
        elif forget_nll is not None and not math.isfinite(forget_nll):
            self.diverged = f"forget NLL became {forget_nll} at step {state.global_step}"
        elif self.max_forget_nll > 0 and forget_nll is not None and forget_nll > self.max_forget_nll:
            self.diverged = (f"forget NLL {forget_nll:.3f} passed the bound {self.max_forget_nll} "
                             f"at step {state.global_step}")
        elif self.stop_forget_nll > 0 and forget_nll is not None and forget_nll >= self.stop_forget_nll:
            self.reached = f"forget NLL {forget_nll:.3f} reached {self.stop_forget_nll} at step {state.global_step}"
        if self.diverged or self.reached:
            control.should_training_stop = True
        return control
