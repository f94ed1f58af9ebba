"""Cached pipeline stages, for the demo and `tru bench`: a finished stage is reused on a rerun.

A stage's fingerprint hashes its settings and the fingerprints of the stages whose results it reads,
so changing a fine-tuning setting also redoes every evaluation of the models built on it. The record
ROOT/stages/NAME.json is written as "started" before the stage runs and "finished" after; a stage
that was interrupted with an unchanged fingerprint is resumed when it can be (evaluations and attacks
keep their finished blocks); anything else runs from scratch.
"""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from tru.core.errors import ConfigError
from tru.core.files import write_json


@dataclass
class Stage:
    name: str  # unique and file-safe, e.g. "unlearn-tru"
    title: str  # the progress line
    settings: dict  # everything that determines the result (JSON-serialisable)
    output: Path  # exists once the stage has finished
    action: Callable[[bool], object]  # called with resume=True when an interrupted run may continue
    after: tuple[str, ...] = ()  # stages whose results this one reads
    resumable: bool = False  # an interrupted run continues (evaluations, attacks) instead of starting over
    fingerprint: str = field(default="", init=False)


def fingerprint(settings: dict, inputs: list[str]) -> str:
    text = json.dumps({"settings": settings, "inputs": inputs}, sort_keys=True, default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


def _record(path: Path) -> dict:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return {}


def say(text: str) -> None:
    print(text, flush=True)


def run_stages(stages: list[Stage], root: Path, log=say) -> dict[str, dict]:
    """Run (or reuse) every stage in order; returns name -> {"reused": bool, "seconds": float}."""
    by_name: dict[str, Stage] = {}
    for stage in stages:
        if stage.name in by_name:
            raise ConfigError(f"two stages are named '{stage.name}'")
        missing = [n for n in stage.after if n not in by_name]
        if missing:
            raise ConfigError(f"stage '{stage.name}' reads '{missing[0]}', which does not run before it")
        stage.fingerprint = fingerprint(stage.settings, [by_name[n].fingerprint for n in stage.after])
        by_name[stage.name] = stage
    outcome = {}
    for number, stage in enumerate(stages, 1):
        marker = root / "stages" / f"{stage.name}.json"
        saved = _record(marker)
        same = saved.get("fingerprint") == stage.fingerprint
        prefix = f"[{number}/{len(stages)}] {stage.title}"
        if same and saved.get("finished") and stage.output.exists():
            log(f"{prefix}: reused (finished earlier, same settings)")
            outcome[stage.name] = {"reused": True, "seconds": 0.0}
            continue
        interrupted = same and not saved.get("finished")
        resume = interrupted and stage.resumable
        note = " (resuming)" if resume else " (starting over after an interruption)" if interrupted else ""
        log(f"{prefix}{note} ...")
        started = time.time()
        write_json(marker, {"fingerprint": stage.fingerprint, "finished": False, "settings": stage.settings})
        stage.action(resume)
        seconds = round(time.time() - started, 1)
        write_json(
            marker, {"fingerprint": stage.fingerprint, "finished": True, "seconds": seconds, "settings": stage.settings}
        )
        log(f"      done in {seconds:.0f} s")
        outcome[stage.name] = {"reused": False, "seconds": seconds}
    return outcome
