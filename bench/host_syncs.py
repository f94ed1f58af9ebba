"""Host-device synchronisations inside an unlearning step, per method (needs a CUDA device).

    python bench/host_syncs.py --device cuda --threads 0 --methods tru,graddiff,npo,rmu

Each method's batch is moved to the device first and one step warms up; then one full training step
(forward, backward, AdamW update) runs under torch.cuda.set_sync_debug_mode("warn"), which warns at
every operation that makes the host wait for the device (.item(), a shape that depends on data such
as boolean indexing, a copy to the host). Reports per method how many there were and where each was
asked for: the innermost frame in tru/ or bench/, and the frame that called into torch.
"""

from __future__ import annotations

import argparse
import collections
import traceback
import warnings
from pathlib import Path

import torch
from workload import (
    REPO,
    add_workload_arguments,
    batches,
    configure_threads,
    machine,
    prepare,
    report,
    to_device,
    train_step,
)

from tru.train.training import adamw


def origin(stack: list[traceback.FrameSummary]) -> str:
    """``ours -> caller``: the innermost frame of this repository, and the innermost frame at all
    (the Python line that called into torch), leaving out the warnings machinery and this script."""
    frames = [f for f in stack if Path(f.filename).name not in ("warnings.py", "host_syncs.py")]
    ours = [f for f in frames if f.filename.startswith(str(REPO))]
    where = lambda f: f"{Path(f.filename).name}:{f.lineno}"  # noqa: E731
    return f"{where(ours[-1]) if ours else '?'} -> {where(frames[-1]) if frames else '?'}"


def syncs_in_step(setup, batch: dict, optimizer) -> collections.Counter:
    found = collections.Counter()
    shown = warnings.showwarning

    def record(message, category, filename, lineno, file=None, line=None):
        if "synchroniz" in str(message):
            found[origin(traceback.extract_stack()[:-1])] += 1
        else:
            shown(message, category, filename, lineno, file, line)

    torch.cuda.synchronize()
    with warnings.catch_warnings():  # restores the filters and the hook on exit
        warnings.simplefilter("always")
        warnings.showwarning = record
        torch.cuda.set_sync_debug_mode("warn")
        try:
            train_step(setup, batch, optimizer)
        finally:
            torch.cuda.set_sync_debug_mode("default")
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_workload_arguments(parser)
    parser.add_argument("--methods", default="tru,graddiff,npo,rmu")
    args = parser.parse_args()
    if not args.device.startswith("cuda") or not torch.cuda.is_available():
        raise SystemExit("host_syncs.py needs a CUDA device (--device cuda): torch's sync debug mode is CUDA's")
    configure_threads(args)
    results = {"machine": machine(), "dtype": args.dtype}
    for method in args.methods.split(","):
        setup = prepare(args, method)
        optimizer = adamw((p for p in setup.model.parameters() if p.requires_grad), lr=1e-5)
        warm, timed = (to_device(b, args.device) for b in batches(setup, args.batch_size, 2, fuse=True))
        train_step(setup, warm, optimizer)
        found = syncs_in_step(setup, timed, optimizer)
        results[method] = {"syncs": sum(found.values()), "where": dict(found.most_common())}
        print(f"{method:9s} {sum(found.values())} host-device synchronisations in a step", flush=True)
        del setup, optimizer
        torch.cuda.empty_cache()
    report(args, results)


if __name__ == "__main__":
    main()
