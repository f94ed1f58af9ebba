"""The benchmark workload of issue 7, shared by the bench scripts.

SmolLM2-135M-Instruct in float32, TOFU forget01 as the forget set, retain99 as the retain set, the
R-TOFU idkcot traces as reasoning targets, TOFU's idk refusals, 4 items per stream per step, max
length 512: the workload on which the authors' code takes 16-21 s per TRU step on a 2-core CPU.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from contextlib import nullcontext
from pathlib import Path

import torch

from tru.modeling.context import step_context
from tru.modeling.packed_attention import packed_attention

REPO = Path(__file__).resolve().parents[1]
DEFAULT_DATA = Path(os.environ.get("TRU_SHARED_DATA", REPO.parent / "shared" / "data"))


def add_workload_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", default="smollm2-135m")
    parser.add_argument("--data", default=str(DEFAULT_DATA), help="folder with tofu/ and rtofu/")
    parser.add_argument("--batch-size", type=int, default=4, help="items per stream per step")
    parser.add_argument("--max-length", type=int, default=512)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--dtype", default="float32")
    parser.add_argument("--threads", type=int, default=2, help="CPU threads (0: torch's default)")
    parser.add_argument("--out", default="", help="also write the results as JSON here")


WORKLOAD_ARGUMENTS = ("model", "data", "batch_size", "max_length", "device", "dtype", "threads")


def run_child(script: str, args, child: str, extra: tuple[str, ...] = ()) -> tuple[list[str], dict]:
    """Runs ``python script --child CHILD`` with this run's workload arguments (and ``extra`` ones) in a
    fresh process; returns the lines it printed before its last one, and that last line parsed as
    JSON (where a child reports its result)."""
    passthrough = [f"--{name.replace('_', '-')}={getattr(args, name)}" for name in WORKLOAD_ARGUMENTS + extra]
    done = subprocess.run([sys.executable, script, *passthrough, "--child", child], capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"{child} failed:\n{done.stderr[-3000:]}")
    lines = done.stdout.strip().splitlines()
    return lines[:-1], json.loads(lines[-1])


def configure_threads(args) -> None:
    if args.threads > 0:
        torch.set_num_threads(args.threads)


def unlearn_config(args, method: str, overrides: dict | None = None, **settings):
    from tru.config import UnlearnConfig

    data = Path(args.data)
    return UnlearnConfig(
        model=args.model,
        out="unused",
        method=method,
        # TRU's step timed with the GA forget term, the one the straightforward reference writes out
        set={"forget_loss": "ga", **(overrides or {})} if method == "tru" else overrides or {},
        forget="tofu:forget01",
        retain="tofu:retain99",
        tofu=str(data / "tofu"),
        targets=f"rtofu:{data / 'rtofu' / 'idkcot.jsonl'}",
        refusals=str(data / "tofu" / "idk.jsonl"),
        max_length=args.max_length,
        batch_size=args.batch_size,
        device=args.device,
        dtype=args.dtype,
        validation_share=0.0,
        **settings,
    )  # the whole forget set in every step, as before


def prepare(args, method: str, overrides: dict | None = None, **settings):
    """The method's UnlearnSetup on the workload, on the device, with its reference prepared."""
    from tru.unlearn.run import prepare_unlearning

    setup = prepare_unlearning(unlearn_config(args, method, overrides, **settings))
    setup.model.to(args.device)
    setup.precompute_reference(args.batch_size)
    setup.attach_reference()
    if setup.reference is not None:
        setup.reference.to(args.device)
    setup.model.train()
    return setup


def batches(setup, batch_size: int, count: int, fuse: bool, share_prefixes: bool = True) -> list[dict]:
    """The first ``count`` batches of the forget set in order (the same items for every variant)."""
    collate = setup.collator(fuse, share_prefixes)
    size = len(setup.dataset)
    out = []
    for b in range(count):
        indices = [(b * batch_size + i) % size for i in range(batch_size)]
        out.append(collate([setup.dataset[i] for i in indices]))
    return out


def to_device(batch, device):
    if isinstance(batch, torch.Tensor):
        return batch.to(device)
    if isinstance(batch, dict):
        return {k: to_device(v, device) for k, v in batch.items()}
    if isinstance(batch, (list, tuple)):
        return type(batch)(to_device(v, device) for v in batch)
    return batch


def real_tokens(batch: dict) -> int:
    return sum(int(v["attention_mask"].sum()) for k, v in batch.items() if k != "packed")


def synchronize(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def recipe_terms(setup, batch: dict) -> dict:
    """The recipe's named terms (and ``loss``) on one collated batch, built as the Trainer's step builds
    them; a packed batch runs fused. Call backward inside ``step_attention(setup, batch)``."""
    context = step_context(
        setup.model,
        batch,
        reference=setup.reference,
        logits_chunk=setup.logits_chunk,
        logits_workspace=setup.logits_workspace,
    )
    return setup.recipe.compute(context)


def step_attention(setup, batch: dict):
    """Packed attention for the model and the reference during a packed batch's step, as in training."""
    reference = setup.reference and setup.reference.model
    return packed_attention(setup.model, reference) if "packed" in batch else nullcontext()


def train_step(setup, batch: dict, optimizer, step_terms=recipe_terms) -> dict:
    """Forward, backward and AdamW update on one batch; returns the detached terms. ``step_terms(setup,
    batch)``: the recipe's (recipe_terms) or another step's (bench/straightforward_unlearning.py)."""
    with step_attention(setup, batch):
        terms = step_terms(setup, batch)
        terms["loss"].backward()
    optimizer.step()
    optimizer.zero_grad(set_to_none=True)
    return {k: v.detach() for k, v in terms.items()}


def timed(fn, device: str) -> tuple[float, object]:
    synchronize(device)
    start = time.perf_counter()
    result = fn()
    synchronize(device)
    return time.perf_counter() - start, result


def machine() -> dict:
    info = {
        "python": platform.python_version(),
        "torch": torch.__version__,
        "cpu": platform.processor() or platform.machine(),
        "threads": torch.get_num_threads(),
        "cores": os.cpu_count(),
    }
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                info["cpu"] = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    if torch.cuda.is_available():
        info["gpu"] = torch.cuda.get_device_name(0)
    return info


def report(args, results: dict) -> None:
    text = json.dumps(results, indent=2)
    print(text)
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(text + "\n")
