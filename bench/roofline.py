"""Achieved FLOP/s of a training step against a matmul of the model's own shapes (a roofline fraction).

    python bench/roofline.py                       # fused TRU step on the benchmark workload, and --no-fuse
    python bench/roofline.py --method npo --steps 3 --out runs/bench/roofline.json
    python bench/roofline.py --device cuda --dtype bfloat16 --threads 0 --steps 10 --peak-tflops 989

The ceiling is measured in the same run, around the steps: every linear layer's matmul in forward
and backward form ([tokens, in] x [in, out], and the two gradient products), at the step's own token
count, with the vocabulary projection at the step's loss positions. Useful FLOPs of a step:
6 x (non-embedding linear parameters x tokens run + output-layer parameters x loss positions) plus
causal attention (3 x 2 x n^2 x hidden per layer and sequence). Tokens run: the fused step's packed
row lays a prefix that sequences share once (tru.modeling.packing), so it counts the tokens of its row,
and attention over each token's position + 1 keys, not the work it avoided. The conventional
6 x all parameters x tokens run is reported too. A step is forward, backward and the AdamW update
(torch's fused kernel, as tru's training runs it). Model FLOPs utilisation (MFU) is the useful FLOP/s
over a large square matmul's in the same dtype on the same device (and over --peak-tflops if given).
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch
from workload import (
    add_workload_arguments,
    batches,
    configure_threads,
    machine,
    prepare,
    report,
    synchronize,
    timed,
    to_device,
    train_step,
)

from tru.train.training import adamw


def linear_shapes(model) -> tuple[list[tuple[int, int]], tuple[int, int]]:
    """(in, out) of every linear layer of the decoder, and of the output layer."""
    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    head = base.lm_head
    shapes = [
        (m.in_features, m.out_features)
        for name, m in base.named_modules()
        if isinstance(m, torch.nn.Linear) and m is not head
    ]
    return shapes, (head.in_features, head.out_features)


def batch_counts(batch: dict) -> tuple[int, int, int]:
    """Tokens run through the model, loss positions (next-token labels) and attention pairs
    (query-key products, causal) of a batch. A packed batch runs its row: a prefix that sequences
    share counts once, and each token attends to its position + 1 keys; a padded batch runs every
    sequence's real tokens (its n^2 pairs per sequence, as the separate step's FLOPs are counted)."""
    streams = [v for k, v in batch.items() if k != "packed"]
    positions = sum(int(s["labels"][:, 1:].ne(-100).sum()) for s in streams)
    if "packed" in batch:
        row = batch["packed"]["position_ids"][0]
        return row.numel(), positions, int((2 * row + 1).sum())
    lengths = [int(n) for s in streams for n in s["attention_mask"].sum(-1)]
    return sum(lengths), positions, sum(n * n for n in lengths)


def useful_flops(model, tokens: int, positions: int, attention_pairs: int) -> tuple[float, float]:
    shapes, (h_in, h_out) = linear_shapes(model)
    linear = sum(i * o for i, o in shapes)
    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    hidden, layers = base.config.hidden_size, base.config.num_hidden_layers
    attention = 3 * 2 * hidden * layers * attention_pairs
    useful = 6 * (linear * tokens + h_in * h_out * positions) + attention
    parameters = sum(p.numel() for p in model.parameters())
    return float(useful), float(6 * parameters * tokens)


def model_dtype(model) -> torch.dtype:
    return next(model.parameters()).dtype


def matmul_ceiling(model, tokens: int, positions: int, device: str, repeats: int = 3) -> float:
    """FLOP/s of the step's matmuls run alone, in the model's dtype: forward x @ W and both gradient products."""
    shapes, head = linear_shapes(model)
    dtype = model_dtype(model)
    distinct = {}
    for shape in shapes:
        distinct[shape] = distinct.get(shape, 0) + 1
    work = [(tokens, i, o, count) for (i, o), count in distinct.items()] + [(positions, head[0], head[1], 1)]
    total_flops, total_seconds = 0.0, 0.0
    for rows, i, o, count in work:
        x, w, g = (
            torch.randn(rows, i, device=device, dtype=dtype),
            torch.randn(i, o, device=device, dtype=dtype),
            torch.randn(rows, o, device=device, dtype=dtype),
        )

        def run():
            x @ w  # forward
            g @ w.T  # gradient of the input
            x.T @ g  # gradient of the weight

        run()
        synchronize(device)
        start = time.perf_counter()
        for _ in range(repeats):
            run()
        synchronize(device)
        seconds = (time.perf_counter() - start) / repeats
        total_flops += 3 * 2 * rows * i * o * count
        total_seconds += seconds * count
    return total_flops / total_seconds


def square_matmul_flops(device: str, dtype: torch.dtype, repeats: int = 10) -> float:
    """FLOP/s of a large square matmul (8192 on a GPU, 2048 on a CPU): the machine's practical peak,
    the denominator of model FLOPs utilisation (MFU)."""
    size = 8192 if device.startswith("cuda") else 2048
    a, b = (torch.randn(size, size, device=device, dtype=dtype) for _ in range(2))
    for _ in range(3):
        a @ b
    synchronize(device)
    start = time.perf_counter()
    for _ in range(repeats):
        a @ b
    synchronize(device)
    return 2 * size**3 * repeats / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_workload_arguments(parser)
    parser.add_argument("--method", default="tru")
    parser.add_argument("--steps", type=int, default=3, help="timed steps per variant (after one warm-up)")
    parser.add_argument(
        "--peak-tflops",
        type=float,
        default=0.0,
        help="the device's datasheet peak in the model's dtype (e.g. 989 for an H100/H200 in "
        "bfloat16, dense), for MFU against it too",
    )
    args = parser.parse_args()
    configure_threads(args)
    setup = prepare(args, args.method)
    optimizer = adamw((p for p in setup.model.parameters() if p.requires_grad), lr=1e-5)  # as training runs it
    results = {"machine": machine(), "method": args.method, "dtype": args.dtype, "batch_size": args.batch_size}
    first = batches(setup, args.batch_size, 1, fuse=False)[0]
    tokens, positions, _ = batch_counts(first)
    ceilings = [matmul_ceiling(setup.model, tokens, positions, args.device)]
    for fuse in (True, False):
        plan = batches(setup, args.batch_size, args.steps + 1, fuse=fuse)
        achieved, conventional = [], []
        for step, batch in enumerate(plan):
            seconds, _ = timed(lambda: train_step(setup, to_device(batch, args.device), optimizer), args.device)
            if step == 0:
                continue
            useful, six_n_t = useful_flops(setup.model, *batch_counts(batch))
            achieved.append(useful / seconds)
            conventional.append(six_n_t / seconds)
        ceilings.append(matmul_ceiling(setup.model, tokens, positions, args.device))
        results["fused" if fuse else "separate"] = {
            "useful_gflops_per_s": round(statistics.median(achieved) / 1e9, 1),
            "six_n_t_gflops_per_s": round(statistics.median(conventional) / 1e9, 1),
        }
    ceiling = statistics.mean(ceilings)
    peak = square_matmul_flops(args.device, model_dtype(setup.model))
    results["matmul_ceiling_gflops_per_s"] = round(ceiling / 1e9, 1)
    results["ceiling_samples_gflops_per_s"] = [round(c / 1e9, 1) for c in ceilings]
    results["square_matmul_gflops_per_s"] = round(peak / 1e9, 1)
    for variant in ("fused", "separate"):
        useful = results[variant]["useful_gflops_per_s"] * 1e9
        results[variant]["fraction_of_ceiling"] = round(useful / ceiling, 3)
        results[variant]["mfu_vs_square_matmul"] = round(useful / peak, 3)
        if args.peak_tflops:
            results[variant]["mfu_vs_datasheet"] = round(useful / (args.peak_tflops * 1e12), 3)
    report(args, results)


if __name__ == "__main__":
    main()
