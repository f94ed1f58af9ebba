"""What every tru Trainer shares: losses.jsonl and named terms at each log (``LossLogMixin``), a save
without tied copies (``TiedCopiesLeftOutOnSave``), and ``LoggedTrainer``, the plain Trainer of
`tru finetune`. `tru unlearn`'s ``UnlearnTrainer`` (tru/unlearn/trainer.py) builds on the first two."""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

import torch
from transformers import Trainer

from tru.core.files import append_jsonl


class LossLogMixin:
    """Collects named terms per micro-step and writes them, averaged over processes, at each log."""

    loss_log_path: Path | None = None

    def _record_terms(self, values: dict[str, torch.Tensor]) -> None:
        """Named scalars of this micro-step, logged under their full names (``term/...``, ``diag/...``)."""
        if not hasattr(self, "_term_sums"):
            self._term_sums, self._term_counts = defaultdict(float), defaultdict(int)
        for name, value in values.items():
            self._term_sums[name] = self._term_sums[name] + value.detach()  # stays on the device until logged
            self._term_counts[name] += 1

    def log(self, logs: dict, start_time=None) -> None:
        if "loss" in logs and getattr(self, "_term_sums", None):
            names = sorted(self._term_sums)
            means = torch.stack(
                [
                    torch.as_tensor(self._term_sums[n], device=self.args.device).float() / self._term_counts[n]
                    for n in names
                ]
            )
            if self.accelerator.num_processes > 1:
                means = self.accelerator.reduce(means, reduction="mean")
            for name, value in zip(names, means.tolist()):
                logs[name] = value
            self._term_sums.clear()
            self._term_counts.clear()
        if "loss" in logs and self.loss_log_path is not None and self.is_world_process_zero():
            row = {"step": self.state.global_step, "epoch": self.state.epoch, **{k: v for k, v in logs.items()}}
            append_jsonl(self.loss_log_path, row)
        super().log(logs, start_time)


def without_tied_copies(model, state_dict: dict) -> dict:
    """``state_dict`` without the second and further names of a parameter the model shares between
    modules (a tied output layer), where their tensors are equal copies.

    transformers leaves tied names out of a saved file by the tensors' storage; a state dict gathered
    from shards (DeepSpeed) holds separate equal copies, so without this the file carried both (for
    SmolLM2 a second 113 MB embedding), unlike the same run's file under DDP or one process."""
    first, drop = {}, set()
    for name, parameter in model.named_parameters(remove_duplicate=False):
        kept = first.setdefault(id(parameter), name)
        if (
            kept != name
            and name in state_dict
            and kept in state_dict
            and torch.equal(state_dict[name], state_dict[kept])
        ):
            drop.add(name)
    return {k: v for k, v in state_dict.items() if k not in drop}


class TiedCopiesLeftOutOnSave:
    """A Trainer mixin: the state dict the Trainer gathered for saving loses its tied copies
    (``without_tied_copies``)."""

    def _save(self, output_dir=None, state_dict=None):
        if state_dict:
            state_dict = without_tied_copies(self.accelerator.unwrap_model(self.model), state_dict)
        super()._save(output_dir, state_dict=state_dict)


class LoggedTrainer(LossLogMixin, TiedCopiesLeftOutOnSave, Trainer):
    """A plain Trainer (fine-tuning) that also writes losses.jsonl."""

    def __init__(self, *args, loss_log_path: Path | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        self.loss_log_path = loss_log_path
