"""`tru finetune`: teach a model QA data, as TOFU does for the `full` model and the `retain` oracle.

By default a batch is packed into one unpadded row (the fused unlearning step's packing and packed
attention) and the vocabulary projection runs only where a label is predicted: on QA data most tokens
are prompt (BENCHMARKS.md, "Fine-tuning step"), and the output layer is a fifth of SmolLM2's
weights. The loss is the one transformers' Trainer computes (label tokens summed over the accumulated
batch on every process, divided by their count; a batch without label tokens gives 0 where the
Trainer's gives NaN); ``--no-pack`` runs the Trainer's own padded step.
"""

from __future__ import annotations

import time
from pathlib import Path

import torch

from tru.core.checkpoints import DivergenceGuard, remove_checkpoints
from tru.core.errors import ConfigError
from tru.core.files import write_json
from tru.data.formatting import ChatFormatter, encode_item
from tru.data.specs import load_items
from tru.modeling.collate import StreamCollator
from tru.modeling.logits_workspace import LogitsWorkspace, workspace_for
from tru.modeling.model_card import check_hub_push, data_entry, push_model_folder, training_card
from tru.modeling.packed_attention import packed_attention
from tru.modeling.packed_lm import PackingCollator, packed_lm_loss
from tru.modeling.scoring import mean_nll
from tru.train.config import FinetuneConfig
from tru.train.trainer import LoggedTrainer
from tru.train.training import (
    check_run_folder,
    load_for_training,
    open_run,
    require_process_per_device,
    save_model_atomically,
    train_with_recovery,
    training_arguments,
)


class EncodedDataset(torch.utils.data.Dataset):
    def __init__(self, encoded):
        self.encoded = encoded

    def __len__(self):
        return len(self.encoded)

    def __getitem__(self, index):
        e = self.encoded[index]
        return {"input_ids": e.input_ids, "labels": e.labels}


class PackedFinetuneTrainer(LoggedTrainer):
    """Next-token cross-entropy on the packed row, with logits only at label positions."""

    def __init__(self, *args, logits_workspace: LogitsWorkspace | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        self.logits_workspace = logits_workspace
        # the loss below is normalised by the Trainer's token count (as the model's own loss is), so
        # the Trainer must count tokens and must not divide by the accumulation steps again
        self.model_accepts_loss_kwargs = True

    def train(self, *args, **kwargs):
        with packed_attention(self.model):
            return super().train(*args, **kwargs)

    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
        loss = packed_lm_loss(model, inputs, num_items_in_batch, self.logits_workspace)
        if num_items_in_batch is not None and self.args.average_tokens_across_devices:
            loss = loss * self.accelerator.num_processes  # the gradient all-reduce averages over processes
        return (loss, None) if return_outputs else loss


def finetune(config: FinetuneConfig) -> Path:
    """Fine-tune on QA items (or passages); returns the run directory."""
    config.validate()
    inputs = {"--model": config.model, "--data": config.data, "--tofu": config.tofu}
    check_run_folder(config, inputs)  # before the model loads
    if config.push_to_hub:
        check_hub_push(config.push_to_hub)
    items = load_items(config.data, config.tofu, config.columns())
    if not items:
        raise ConfigError("the training data is empty")
    tokenizer, model = load_for_training(config)
    formatter = ChatFormatter(tokenizer, config.max_length)
    encoded = [encode_item(formatter, item) for item in items]

    args = training_arguments(config, Path(config.out).expanduser())  # validated before anything is written
    if config.pack:
        require_process_per_device(args, "--no-pack")
    with open_run(config, {"items": len(items)}, inputs, "tru finetune") as (run_dir, checkpoint):
        _train_and_save(config, model, tokenizer, encoded, args, run_dir, checkpoint)
    return run_dir


def _train_and_save(config: FinetuneConfig, model, tokenizer, encoded, args, run_dir: Path, checkpoint) -> None:
    model.to(args.device)
    pad_id = tokenizer.pad_token_id
    probe = encoded[:64]
    before = mean_nll(model, probe, pad_id)
    if config.pack:
        trainer_class, collate = PackedFinetuneTrainer, PackingCollator(pad_id)
        packing = {"logits_workspace": workspace_for(model, args.device)}
    else:
        trainer_class, collate, packing = LoggedTrainer, StreamCollator(pad_id).pad, {}
    trainer = trainer_class(
        model=model,
        args=args,
        train_dataset=EncodedDataset(encoded),
        data_collator=collate,
        loss_log_path=run_dir / "losses.jsonl",
        **packing,
    )
    started = time.time()
    result = train_with_recovery(trainer, run_dir, checkpoint, DivergenceGuard())
    after = mean_nll(model, probe, pad_id)
    if config.lora_r > 0:  # the fine-tuned model is the starting point of later runs: keep it whole
        trainer.model = trainer.model.merge_and_unload()
    summary = {
        "items": len(encoded),
        "steps": result.global_step,
        "train_loss": result.training_loss,
        "seconds": round(time.time() - started, 2),
        "train_nll_before": before,
        "train_nll_after": after,
        "lora": config.lora_r > 0,
        "resumed_from": str(checkpoint) if checkpoint else None,
    }
    main = trainer.is_world_process_zero()
    card = (
        training_card(
            config,
            command="tru finetune",
            summary=summary,
            data=[data_entry("training data", config.data, len(encoded), config.tofu)],
        )
        if main
        else None
    )
    save_model_atomically(trainer, tokenizer, run_dir / "model", card=card)
    if main:
        write_json(run_dir / "summary.json", summary)
        if not config.keep_checkpoints:
            remove_checkpoints(run_dir)
        if config.push_to_hub:
            url = push_model_folder(run_dir / "model", config.push_to_hub, message=f"tru finetune on {config.data}")
            print(f"tru: uploaded {run_dir / 'model'} to {url}")
