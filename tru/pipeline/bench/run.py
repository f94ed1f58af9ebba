"""Run a benchmark's protocol and print its comparison table."""

from __future__ import annotations

import json
from pathlib import Path

from tru.pipeline.protocol import Protocol, run_protocol
from tru.pipeline.stages import say
from tru.report.text import render_text


def run_bench(protocol: Protocol) -> Path:
    """Every stage (cached), then the table; returns the report folder."""
    say(f"{protocol.title}; stages cached in {protocol.root}/stages")
    report = run_protocol(protocol)
    data = json.loads((report / "report.json").read_text(encoding="utf-8"))
    say("\n" + render_text(data))
    reused = sum(s["reused"] for s in protocol.stage_seconds.values())
    say(
        f"\nreport: {report / 'report.html'} (also report.md, report.json and PNGs); "
        f"{reused} of {len(protocol.stage_seconds)} stages reused from an earlier run"
    )
    return report


def bench_tofu(config) -> Path:
    from tru.pipeline.bench.tofu import tofu_protocol

    return run_bench(tofu_protocol(config))


def bench_muse(config) -> Path:
    from tru.pipeline.bench.corpus import muse_protocol

    return run_bench(muse_protocol(config))


def bench_wmdp(config) -> Path:
    from tru.pipeline.bench.corpus import wmdp_protocol

    return run_bench(wmdp_protocol(config))
