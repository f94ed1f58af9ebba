"""Unlearning throughput per method, fused step against --no-fuse, measured in one run.

    python bench/unlearn_throughput.py                         # tru, graddiff, npo; 3 timed steps each
    python bench/unlearn_throughput.py --methods tru --steps 5 --out runs/bench/throughput.json
    python bench/unlearn_throughput.py --methods tru --logits-chunk 256   # + the chunked projection

For each method both variants run full training steps (forward, backward, AdamW update) on the same
batches, timed step by step and interleaved (fused, separate, fused, ...) so that drift in the
machine's load hits both alike; the first step of each is a warm-up. Reports seconds per step (median),
real (unpadded) tokens per second, the speed-up of fused over separate, and the largest difference of
any loss term between the two on the first batch at equal weights.
"""

from __future__ import annotations

import argparse
import statistics

import torch

from tru.training import adamw
from tru.unlearn.run import check_chunkable_head

from workload import (add_workload_arguments, batches, configure_threads, machine, prepare, real_tokens, report,
                      timed, to_device, train_step)


def first_step_terms(setup, batch: dict) -> dict:
    with torch.no_grad(), setup.attention(batch):
        return {k: float(v) for k, v in setup.step_terms(batch).items()}


def measure_method(args, method: str) -> dict:
    setup = prepare(args, method)
    packed = batches(setup, args.batch_size, args.steps + 1, fuse=True)
    variants = {"fused": packed, "separate": batches(setup, args.batch_size, args.steps + 1, fuse=False)}
    chunks = {"fused": 0, "separate": 0}
    if args.logits_chunk:  # the fused step again, its output projection chunked (--logits-chunk)
        check_chunkable_head(setup.model)
        variants["fused_chunked"], chunks["fused_chunked"] = packed, args.logits_chunk
    first = {}
    for name, plan in variants.items():
        setup.logits_chunk = chunks[name]
        first[name] = first_step_terms(setup, to_device(plan[0], args.device))
    difference = max(abs(first[name][k] - first["separate"][k]) for name in first for k in first[name])
    # Both variants update the same weights in turn: the work per step does not depend on their values.
    optimizer = adamw((p for p in setup.model.parameters() if p.requires_grad), lr=1e-5)
    times = {name: [] for name in variants}
    for step in range(args.steps + 1):
        for name, plan in variants.items():
            batch = to_device(plan[step], args.device)
            setup.logits_chunk = chunks[name]
            seconds, _ = timed(lambda: train_step(setup, batch, optimizer), args.device)
            if step > 0:  # step 0 warms up
                times[name].append(seconds)
                print(f"{method:9s} {name:13s} step {step}: {seconds:6.2f} s, "
                      f"{real_tokens(plan[step]) / seconds:7.1f} tokens/s", flush=True)
    per_step = {name: statistics.median(values) for name, values in times.items()}
    mean_tokens = statistics.mean(real_tokens(b) for b in variants["fused"][1:])
    return {
        "seconds_per_step": {k: round(v, 3) for k, v in per_step.items()},
        "tokens_per_second": {k: round(mean_tokens / v, 1) for k, v in per_step.items()},
        "speedup_fused_over_separate": round(per_step["separate"] / per_step["fused"], 3),
        **({"speedup_fused_chunked_over_separate": round(per_step["separate"] / per_step["fused_chunked"], 3)}
           if "fused_chunked" in per_step else {}),
        "max_term_difference_at_equal_weights": difference,
        "mean_real_tokens_per_step": mean_tokens,
        "terms_first_batch": first["fused"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_workload_arguments(parser)
    parser.add_argument("--methods", default="tru,graddiff,npo")
    parser.add_argument("--steps", type=int, default=3, help="timed steps per variant (after one warm-up)")
    parser.add_argument("--logits-chunk", type=int, default=0,
                        help="also time the fused step with its output projection in chunks of this many positions")
    args = parser.parse_args()
    configure_threads(args)
    results = {"machine": machine(), "workload": {"model": args.model, "batch_size": args.batch_size,
                                                  "max_length": args.max_length, "dtype": args.dtype}}
    for method in args.methods.split(","):
        results[method] = measure_method(args, method)
    report(args, results)


if __name__ == "__main__":
    main()
