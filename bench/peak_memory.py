"""Peak memory of unlearning steps per method, each in a fresh process, against GA.

    python bench/peak_memory.py                  # ga, npo, graddiff(+KL), tru (fused, --no-fuse, checkpointing,
                                                 # --logits-chunk 256 with and without checkpointing, and the
                                                 # straightforward step of bench/straightforward_unlearning.py)
    python bench/peak_memory.py --variants ga,npo --steps 2 --out runs/bench/memory.json

A child process loads the model, prepares the method (NPO's reference log-probabilities are
computed once up front; KL retain keeps a frozen reference) and runs --steps full training steps
(forward, backward, AdamW; from the second step on the optimizer state is resident during the
backward pass, so use at least 2). On CPU the peak is the child's maximum resident set size
(getrusage ru_maxrss, the whole process: weights, gradients, optimizer state, activations); on a GPU
it is torch.cuda.max_memory_allocated. Reports each peak and its ratio to GA's.

The checkpointing variants run as `tru unlearn --gradient-checkpointing` does: on a glibc CPU with
TRU_HOST_MEMORY=compact (tru.core.host_memory). `TRU_HOST_MEMORY=glibc python peak_memory.py` keeps glibc's
defaults for every variant.
"""

from __future__ import annotations

import argparse
import json
import resource

import torch
from straightforward_unlearning import straightforward_step_for
from workload import (
    add_workload_arguments,
    batches,
    configure_threads,
    machine,
    prepare,
    report,
    run_child,
    to_device,
    train_step,
)

from tru.core.host_memory import host_memory_in_effect
from tru.train.training import adamw

VARIANTS = {  # method, its settings, fused step, other unlearn settings
    "ga": ("ga", {}, True, {}),
    "npo": ("npo", {}, True, {}),
    "graddiff": ("graddiff", {}, True, {}),  # NPO's streams without its reference term
    "graddiff_kl": ("graddiff", {"retain_loss": "kl"}, True, {}),
    "tru": ("tru", {}, True, {}),
    "tru_no_fuse": ("tru", {}, False, {}),
    "tru_checkpointing": ("tru", {}, True, {"gradient_checkpointing": True}),
    "tru_chunked": ("tru", {}, True, {"logits_chunk": 256}),
    "tru_chunked_checkpointing": ("tru", {}, True, {"logits_chunk": 256, "gradient_checkpointing": True}),
    "tru_straightforward": ("tru", {}, False, {}),  # the step as the authors' code runs it
}


def child(args) -> None:
    configure_threads(args)
    method, overrides, fuse, settings = VARIANTS[args.child]
    setup = prepare(args, method, overrides, **settings)
    step = straightforward_step_for(setup) if args.child == "tru_straightforward" else train_step
    optimizer = adamw((p for p in setup.model.parameters() if p.requires_grad), lr=1e-5)
    if args.device.startswith("cuda"):
        torch.cuda.reset_peak_memory_stats()
    for batch in batches(setup, args.batch_size, args.steps, fuse=fuse):
        step(setup, to_device(batch, args.device), optimizer)
    if args.device.startswith("cuda"):
        peak = torch.cuda.max_memory_allocated()
    else:
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # Linux reports KiB
    print(json.dumps({"peak_bytes": peak, "host_memory": host_memory_in_effect()}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_workload_arguments(parser)
    parser.add_argument("--variants", default=",".join(VARIANTS))
    parser.add_argument("--steps", type=int, default=2)
    parser.add_argument("--child", default="", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        return child(args)
    peaks, modes = {}, {}
    for name in args.variants.split(","):
        if name not in VARIANTS:
            raise SystemExit(f"unknown variant '{name}'; choose from {', '.join(VARIANTS)}")
        measured = run_child(__file__, args, name, extra=("steps",))[1]
        peaks[name], modes[name] = measured["peak_bytes"], measured["host_memory"]
        print(f"{name:26s} peak {peaks[name] / 2**30:6.2f} GiB  (host memory: {modes[name]})", flush=True)
    base = peaks.get("ga")
    results = {
        "machine": machine(),
        "measure": "cuda max_memory_allocated" if args.device.startswith("cuda") else "max RSS of the process",
        "steps": args.steps,
        "peak_gib": {k: round(v / 2**30, 3) for k, v in peaks.items()},
        "host_memory": modes,
    }
    if base:
        results["ratio_to_ga"] = {k: round(v / base, 3) for k, v in peaks.items()}
    report(args, results)


if __name__ == "__main__":
    main()
