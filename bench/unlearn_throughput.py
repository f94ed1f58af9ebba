"""Unlearning throughput per method, fused step against --no-fuse, measured in one run.

    python bench/unlearn_throughput.py                         # tru, graddiff, npo; 3 timed steps each
    python bench/unlearn_throughput.py --methods tru --steps 5 --out runs/bench/throughput.json
    python bench/unlearn_throughput.py --methods tru --logits-chunk 256   # + the chunked projection
    python bench/unlearn_throughput.py --methods tru --processes 0        # both in one process, interleaved
    python bench/unlearn_throughput.py --methods tru --unshared           # + fused without shared prefixes
    python bench/unlearn_throughput.py --methods tru --straightforward    # + the authors' kind of step
    python bench/unlearn_throughput.py --methods tru --checkpointing      # + fused with gradient checkpointing

Both variants run full training steps (forward, backward, AdamW update) on the same batches. By
default each variant runs in a process of its own, as `tru unlearn` and `tru unlearn --no-fuse` would,
and the processes alternate (fused, separate, fused, ... for --processes rounds) so that drift in the
machine's load hits both alike; in each process the first step warms up. With --processes 0 both run
in this process, interleaved step by step: quicker, but each variant then runs on memory the other
one's step left behind (glibc's heap), which on the benchmark machine favoured the fused step.
Real tokens are those of the sequences, counted once per sequence even where the fused step's packed
row lays a shared prefix once (tru.modeling.packing): the work asked for, the same in every variant.
Reports seconds per step (mean over all timed steps), real (unpadded) tokens per second, the
speed-up of fused over separate (with processes also from each batch's quickest round: on a shared
machine a step now and then runs half as fast, and the mean takes that in), and the largest
difference of any loss term between the variants on the first batch at the same (initial) weights.
With --straightforward (TRU, a process per variant) it also times the step written the way the
authors' code runs it (bench/straightforward_unlearning.py). With processes, each reports its peak RSS
(its first-batch comparison pass included: bench/peak_memory.py measures the training steps alone).
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics

import torch
from straightforward_unlearning import straightforward_step_for, straightforward_terms
from workload import (
    add_workload_arguments,
    batches,
    configure_threads,
    machine,
    prepare,
    real_tokens,
    recipe_terms,
    report,
    run_child,
    step_attention,
    timed,
    to_device,
    train_step,
)

from tru.train.training import adamw
from tru.unlearn.run import check_chunkable_head


def first_step_terms(setup, batch: dict, variant: str = "") -> dict:
    with torch.no_grad(), step_attention(setup, batch):
        terms = (straightforward_terms if variant == "straightforward" else recipe_terms)(setup, batch)
        return {k: float(v) for k, v in terms.items()}


def variant_chunk(args, variant: str) -> int:
    return args.logits_chunk if variant == "fused_chunked" else 0


def variants(args, method: str) -> list[str]:
    return (
        ["fused", "separate"]
        + (["fused_chunked"] if args.logits_chunk else [])
        + (["fused_unshared"] if args.unshared else [])
        + (["fused_checkpointing"] if args.checkpointing else [])
        + (["straightforward"] if args.straightforward and method == "tru" else [])
    )


def variant_batches(args, setup, variant: str) -> list[dict]:
    return batches(
        setup,
        args.batch_size,
        args.steps + 1,
        fuse=variant not in ("separate", "straightforward"),
        share_prefixes=variant != "fused_unshared",
    )


def timed_step(args, setup, batch: dict, optimizer, label: str, step: int, step_fn=train_step) -> float:
    took, _ = timed(lambda: step_fn(setup, to_device(batch, args.device), optimizer), args.device)
    if step > 0:  # step 0 warms up
        print(f"{label} step {step}: {took:6.2f} s, {real_tokens(batch) / took:7.1f} tokens/s", flush=True)
    return took


def child(args) -> None:
    """One variant of one method in this process: first-batch terms at the initial weights, then steps."""
    method, variant = args.child.split(":")
    setup = prepare(args, method, gradient_checkpointing=variant == "fused_checkpointing")
    setup.logits_chunk = variant_chunk(args, variant)
    if setup.logits_chunk:
        check_chunkable_head(setup.model)
    step_fn = straightforward_step_for(setup) if variant == "straightforward" else train_step
    plan = variant_batches(args, setup, variant)
    terms = first_step_terms(setup, to_device(plan[0], args.device), variant)
    optimizer = adamw((p for p in setup.model.parameters() if p.requires_grad), lr=1e-5)
    seconds = [
        timed_step(args, setup, batch, optimizer, f"{method:9s} {variant:15s}", step, step_fn)
        for step, batch in enumerate(plan)
    ][1:]
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # Linux reports KiB
    print(
        json.dumps(
            {"terms": terms, "seconds": seconds, "tokens": [real_tokens(b) for b in plan[1:]], "peak_rss_bytes": peak}
        )
    )


def in_processes(args, method: str) -> dict:
    runs = {name: [] for name in variants(args, method)}
    for _ in range(args.processes):
        for name in runs:
            printed, result = run_child(__file__, args, f"{method}:{name}", extra=("steps", "logits_chunk"))
            print("\n".join(printed), flush=True)
            runs[name].append(result)
    seconds = {name: [t for run in done_runs for t in run["seconds"]] for name, done_runs in runs.items()}
    first = {name: done_runs[0]["terms"] for name, done_runs in runs.items()}
    rounds = {name: [run["seconds"] for run in done_runs] for name, done_runs in runs.items()}
    peaks = {name: max(run["peak_rss_bytes"] for run in done_runs) for name, done_runs in runs.items()}
    return {
        **summary(seconds, first, runs["fused"][0]["tokens"]),
        **best_of_rounds(rounds),
        "peak_rss_gib": {name: round(peak / 2**30, 3) for name, peak in peaks.items()},
    }


def interleaved(args, method: str) -> dict:
    setup = prepare(args, method)
    if args.logits_chunk:
        check_chunkable_head(setup.model)
    plans = {name: variant_batches(args, setup, name) for name in variants(args, method)}
    first = {}
    for name, plan in plans.items():
        setup.logits_chunk = variant_chunk(args, name)
        first[name] = first_step_terms(setup, to_device(plan[0], args.device))
    # Both variants update the same weights in turn: the work per step does not depend on their values.
    optimizer = adamw((p for p in setup.model.parameters() if p.requires_grad), lr=1e-5)
    seconds = {name: [] for name in plans}
    for step in range(args.steps + 1):
        for name, plan in plans.items():
            setup.logits_chunk = variant_chunk(args, name)
            took = timed_step(args, setup, plan[step], optimizer, f"{method:9s} {name:13s}", step)
            if step > 0:
                seconds[name].append(took)
    return summary(seconds, first, [real_tokens(b) for b in plans["fused"][1:]])


def summary(seconds: dict, first: dict, tokens: list[int]) -> dict:
    # every variant ran the same batches (once per round): mean time per step is total time over
    # the same work, so its ratio is the ratio of tokens per second (a median would compare
    # different batches, whose lengths differ)
    per_step = {name: statistics.mean(values) for name, values in seconds.items()}
    difference = max(abs(first[name][k] - first["separate"][k]) for name in first for k in first[name])
    mean_tokens = statistics.mean(tokens)
    return {
        "seconds_per_step": {k: round(v, 3) for k, v in per_step.items()},
        "timed_steps": {k: len(v) for k, v in seconds.items()},
        "tokens_per_second": {k: round(mean_tokens / v, 1) for k, v in per_step.items()},
        "speedup_fused_over_separate": round(per_step["separate"] / per_step["fused"], 3),
        **{
            f"speedup_{name}_over_separate": round(per_step["separate"] / per_step[name], 3)
            for name in ("fused_chunked", "fused_unshared", "fused_checkpointing")
            if name in per_step
        },
        **(
            {
                "speedup_fused_over_straightforward": round(per_step["straightforward"] / per_step["fused"], 3),
                "speedup_separate_over_straightforward": round(per_step["straightforward"] / per_step["separate"], 3),
            }
            if "straightforward" in per_step
            else {}
        ),
        "max_term_difference_at_equal_weights": difference,
        "mean_real_tokens_per_step": mean_tokens,
        "terms_first_batch": first["fused"],
    }


def best_of_rounds(rounds: dict[str, list[list[float]]]) -> dict:
    """Seconds per step and speed-ups from each batch's quickest round (``rounds``: per variant, the
    seconds of each batch in each round), the time least disturbed by the rest of the machine; summed
    over the batches, so the variants still compare the same work."""
    best = {name: [min(times) for times in zip(*per_round)] for name, per_round in rounds.items()}
    total = {name: sum(values) for name, values in best.items()}
    return {
        "seconds_per_step_best_of_rounds": {k: round(v / len(best[k]), 3) for k, v in total.items()},
        **{
            f"speedup_{name}_over_separate_best_of_rounds": round(total["separate"] / total[name], 3)
            for name in total
            if name != "separate"
        },
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_workload_arguments(parser)
    parser.add_argument("--methods", default="tru,graddiff,npo")
    parser.add_argument("--steps", type=int, default=3, help="timed steps per variant (after one warm-up)")
    parser.add_argument(
        "--logits-chunk",
        type=int,
        default=0,
        help="also time the fused step with its output projection in chunks of this many positions",
    )
    parser.add_argument(
        "--unshared", action="store_true", help="also time the fused step without shared prefixes in its packed row"
    )
    parser.add_argument(
        "--checkpointing",
        action="store_true",
        help="also time the fused step with gradient checkpointing (needs --processes >= 1)",
    )
    parser.add_argument(
        "--straightforward",
        action="store_true",
        help="also time TRU's step written the way the authors' code runs it (needs --processes >= 1)",
    )
    parser.add_argument(
        "--processes",
        type=int,
        default=2,
        help="rounds of one process per variant, alternating (0: both in this process, interleaved)",
    )
    parser.add_argument("--child", default="", help=argparse.SUPPRESS)
    args = parser.parse_args()
    configure_threads(args)
    if args.child:
        return child(args)
    if (args.straightforward or args.checkpointing) and not args.processes:
        parser.error(
            "--straightforward and --checkpointing run a process per variant (each its own model setup); "
            "use --processes 1 or more"
        )
    results = {
        "machine": machine(),
        "workload": {
            "model": args.model,
            "batch_size": args.batch_size,
            "max_length": args.max_length,
            "dtype": args.dtype,
        },
        "mode": f"{args.processes} rounds of one process per variant"
        if args.processes
        else "one process, variants interleaved step by step",
    }
    for method in args.methods.split(","):
        results[method] = in_processes(args, method) if args.processes else interleaved(args, method)
    report(args, results)


if __name__ == "__main__":
    main()
