"""Fine-tuning step: packed (logits only at answer tokens) against transformers' padded step, in one run.

    python bench/finetune_throughput.py                      # TOFU retain99 QA, 8 items per step, 6 timed steps
    python bench/finetune_throughput.py --batch-size 32 --steps 4 --out runs/bench/finetune.json

`tru finetune` (and so the fine-tuned model and the retain oracle of `tru bench tofu` and the demo) packs
each batch into one unpadded row and projects onto the vocabulary only where a label is predicted; the
reference is the padded batch through the model's own forward and loss, as transformers' Trainer runs
it (`tru finetune --no-pack`). Both run full steps (forward, backward, AdamW update) on the same
batches, timed step by step and interleaved so that drift in the machine's load hits both alike; the
first step of each is a warm-up. Reports seconds per step (median), the share of label tokens, the
speed-up, and the loss difference on the first batch at equal weights.
"""

from __future__ import annotations

import argparse
import copy
import statistics
from pathlib import Path

import torch
from workload import add_workload_arguments, configure_threads, machine, report, timed, to_device

from tru.data.formatting import ChatFormatter, encode_item
from tru.data.tofu import load_tofu
from tru.modeling.logits_workspace import workspace_for
from tru.modeling.models import ModelSettings, load_model, load_tokenizer
from tru.modeling.packed_attention import packed_attention
from tru.modeling.packed_lm import STREAM, PackingCollator, packed_lm_loss
from tru.train.training import adamw


def padded_loss(model, batch: dict) -> torch.Tensor:
    padded = batch[STREAM]
    return model(
        input_ids=padded["input_ids"], attention_mask=padded["attention_mask"], labels=padded["labels"], use_cache=False
    ).loss


def packed_loss(model, batch: dict, workspace=None) -> torch.Tensor:
    with packed_attention(model):
        return packed_lm_loss(model, batch, logits_workspace=workspace)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_workload_arguments(parser)
    parser.set_defaults(batch_size=8, max_length=256)
    parser.add_argument("--steps", type=int, default=6, help="timed steps per variant (after one warm-up)")
    args = parser.parse_args()
    configure_threads(args)

    tokenizer = load_tokenizer(args.model)
    formatter = ChatFormatter(tokenizer, args.max_length)
    items = load_tofu(str(Path(args.data) / "tofu"), "retain99")[: args.batch_size * (args.steps + 1)]
    encoded = [encode_item(formatter, item) for item in items]
    collate = PackingCollator(tokenizer.pad_token_id)
    batches = [
        to_device(
            collate(
                [
                    {"input_ids": e.input_ids, "labels": e.labels}
                    for e in encoded[b * args.batch_size : (b + 1) * args.batch_size]
                ]
            ),
            args.device,
        )
        for b in range(args.steps + 1)
    ]
    base = load_model(ModelSettings(name=args.model, dtype=args.dtype))
    base.to(args.device).train()
    models = {"packed": base, "padded": copy.deepcopy(base)}
    workspace = workspace_for(base, args.device)  # as `tru finetune` runs: the logits workspace on the CPU
    losses = {"packed": lambda model, batch: packed_loss(model, batch, workspace), "padded": padded_loss}
    with torch.no_grad():
        first = {name: float(losses[name](model, batches[0])) for name, model in models.items()}
    optimizers = {name: adamw(model.parameters(), lr=1e-5) for name, model in models.items()}

    def step(name: str, batch: dict) -> None:
        losses[name](models[name], batch).backward()
        optimizers[name].step()
        optimizers[name].zero_grad(set_to_none=True)

    seconds = {name: [] for name in models}
    for batch in batches:
        for name in models:
            seconds[name].append(timed(lambda: step(name, batch), args.device)[0])
    per_step = {name: statistics.median(s[1:]) for name, s in seconds.items()}
    real = sum(int(b[STREAM]["attention_mask"].sum()) for b in batches[1:])
    labelled = sum(int(b[STREAM]["labels"][:, 1:].ne(-100).sum()) for b in batches[1:])
    padded_tokens = sum(b[STREAM]["input_ids"].numel() for b in batches[1:])
    report(
        args,
        {
            "machine": machine(),
            "workload": {
                "data": "TOFU retain99",
                "items_per_step": args.batch_size,
                "max_length": args.max_length,
                "timed_steps": args.steps,
            },
            "seconds_per_step": {k: round(v, 3) for k, v in per_step.items()},
            "speedup_packed_over_padded": round(per_step["padded"] / per_step["packed"], 3),
            "label_share_of_real_tokens": round(labelled / real, 3),
            "padding_share_of_padded_batch": round(1 - real / padded_tokens, 3),
            "first_batch_loss": first,
            "loss_difference": abs(first["packed"] - first["padded"]),
        },
    )


if __name__ == "__main__":
    main()
