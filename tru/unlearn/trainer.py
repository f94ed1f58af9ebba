"""The Trainer subclass that runs a recipe, and the frozen reference it may need (the loss log and the
save without tied copies come from tru/train/trainer.py, shared with fine-tuning)."""

from __future__ import annotations

import copy
import math
from contextlib import nullcontext
from pathlib import Path

import torch
from transformers import Trainer, TrainerCallback
from transformers.trainer_pt_utils import LengthGroupedSampler

from tru.modeling.context import step_context
from tru.modeling.logits_workspace import LogitsWorkspace
from tru.modeling.models import is_peft_model
from tru.modeling.packed_attention import packed_attention
from tru.train.trainer import LossLogMixin, TiedCopiesLeftOutOnSave
from tru.unlearn import losses
from tru.unlearn.methods import Recipe


class FrozenReference:
    """The model before unlearning: the adapter switched off for LoRA, else a frozen copy."""

    def __init__(self, model):
        self.model = model
        self.uses_adapter_switch = is_peft_model(model)
        if not self.uses_adapter_switch:
            self.model = copy.deepcopy(model).eval()
            for parameter in self.model.parameters():
                parameter.requires_grad_(False)

    def __call__(self, **inputs):
        with torch.no_grad():
            if self.uses_adapter_switch:
                with self.model.disable_adapter():
                    return self.model(**inputs, use_cache=False)
            return self.model(**inputs, use_cache=False)

    def to(self, device):
        if not self.uses_adapter_switch:
            self.model.to(device)
        return self


class EpochSync(TrainerCallback):
    """Tells the dataset which epoch runs, also when a resumed run skips into the middle of one
    (accelerate's skipping data loader does not forward ``set_epoch`` to the dataset)."""

    def __init__(self, dataset):
        self.dataset = dataset

    def on_epoch_begin(self, args, state, control, **kwargs):
        self.dataset.set_epoch(math.floor((state.epoch or 0.0) + 1e-6))
        return control


class UnlearnTrainer(LossLogMixin, TiedCopiesLeftOutOnSave, Trainer):
    """Runs a recipe per step. ``fuse``: batches come packed (StreamCollator(pack=True)) and the model
    uses packed attention while training; ``group_by_length``: forget items of similar length share
    a batch (less padding for separate passes)."""

    def __init__(
        self,
        *args,
        recipe: Recipe,
        reference: FrozenReference | None = None,
        loss_log_path: Path | None = None,
        fuse: bool = False,
        group_by_length: bool = False,
        logits_chunk: int = 0,
        logits_workspace: LogitsWorkspace | None = None,
        **kwargs,
    ):
        super().__init__(*args, **kwargs)
        self.recipe = recipe
        self.reference = reference
        self.loss_log_path = loss_log_path
        self.fuse = fuse
        self.group_by_length = group_by_length
        self.logits_chunk = logits_chunk
        self.logits_workspace = logits_workspace
        if hasattr(self.train_dataset, "set_epoch"):
            self.add_callback(EpochSync(self.train_dataset))
        if reference is not None:
            reference.to(self.args.device)

    def train(self, *args, **kwargs):
        with packed_attention(self.model, self.reference and self.reference.model) if self.fuse else nullcontext():
            return super().train(*args, **kwargs)

    def _get_train_sampler(self, train_dataset=None):
        dataset = train_dataset if train_dataset is not None else self.train_dataset
        if self.group_by_length and hasattr(dataset, "lengths"):
            return LengthGroupedSampler(
                self.args.train_batch_size * self.args.gradient_accumulation_steps, lengths=dataset.lengths()
            )
        return super()._get_train_sampler(train_dataset)

    def _reducer(self):
        world = self.accelerator.num_processes
        if world <= 1:
            return None
        return lambda count: self.accelerator.reduce(count.detach().float(), reduction="sum") / world

    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
        ctx = step_context(
            model,
            inputs,
            reference=self.reference,
            reducer=self._reducer(),
            logits_chunk=self.logits_chunk,
            logits_workspace=self.logits_workspace,
        )
        terms = self.recipe.compute(ctx)
        loss = terms.pop("loss")
        values = {f"term/{name}": value for name, value in terms.items()}
        forget = ctx.cached_log_probs("forget")
        if forget is not None:  # for the divergence guard; no extra forward pass
            values["diag/forget_nll"] = losses.nll_loss(*forget)
        self._record_terms(values)
        return (loss, None) if return_outputs else loss
