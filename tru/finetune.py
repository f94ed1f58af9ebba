"""`tru finetune`: teach a model QA data, as TOFU does for the `full` model and the `retain` oracle."""

from __future__ import annotations

import time
from pathlib import Path

import torch

from tru.config import FinetuneConfig
from tru.data.formatting import ChatFormatter
from tru.data.specs import load_items
from tru.errors import ConfigError
from tru.io import write_json
from tru.rundir import save_model_atomically
from tru.scoring import mean_nll
from tru.checkpoints import remove_checkpoints
from tru.training import load_for_training, start_run, train_with_recovery, training_arguments
from tru.unlearn.streams import StreamCollator, encode_item
from tru.unlearn.trainer import LoggedTrainer


class EncodedDataset(torch.utils.data.Dataset):
    def __init__(self, encoded):
        self.encoded = encoded

    def __len__(self):
        return len(self.encoded)

    def __getitem__(self, index):
        e = self.encoded[index]
        return {"input_ids": e.input_ids, "labels": e.labels}


def finetune(config: FinetuneConfig) -> Path:
    """Fine-tune on QA items (or passages); returns the run directory."""
    config.validate()
    items = load_items(config.data, config.tofu)
    if not items:
        raise ConfigError("the training data is empty")
    tokenizer, model = load_for_training(config)
    formatter = ChatFormatter(tokenizer, config.max_length)
    encoded = [encode_item(formatter, item) for item in items]

    args = training_arguments(config, Path(config.out).expanduser())  # validated before anything is written
    run_dir, checkpoint = start_run(config, {"items": len(items)})
    model.to(args.device)
    pad_id = tokenizer.pad_token_id
    probe = encoded[:64]
    before = mean_nll(model, probe, pad_id)
    collate = StreamCollator(pad_id)
    trainer = LoggedTrainer(model=model, args=args, train_dataset=EncodedDataset(encoded),
                            data_collator=collate.pad, loss_log_path=run_dir / "losses.jsonl")
    started = time.time()
    result = train_with_recovery(trainer, run_dir, checkpoint, config)
    after = mean_nll(model, probe, pad_id)
    if config.lora_r > 0:  # the fine-tuned model is the starting point of later runs: keep it whole
        trainer.model = trainer.model.merge_and_unload()
    save_model_atomically(trainer, tokenizer, run_dir / "model")
    if trainer.is_world_process_zero():
        write_json(run_dir / "summary.json", {
            "items": len(items), "steps": result.global_step, "train_loss": result.training_loss,
            "seconds": round(time.time() - started, 2),
            "train_nll_before": before, "train_nll_after": after, "lora": config.lora_r > 0,
            "resumed_from": str(checkpoint) if checkpoint else None,
        })
        if not config.keep_checkpoints:
            remove_checkpoints(run_dir)
    return run_dir
