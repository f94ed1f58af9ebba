"""Reusing what `tru eval` already measured, so that an attack does not generate it a second time.

An attack's baseline (the unattacked model's answers to the original and paraphrased forget
questions, its retain answers and answer scores) is exactly what `tru eval` measures on the same
model with the same data and generation settings; the relearning attack's reference is what it
measures on the model before unlearning. With ``--reuse-eval`` / ``--original-eval`` those blocks
are copied from the evaluations' EVAL.json instead of being computed again:

- a generation block is taken when the evaluation holds a block with the same list of questions;
- an answer block (teacher-forced scores) is taken when the evaluation scored the same side of the
  same data.

The evaluation must have measured the same model with the same data, length and generation settings
(checked; a mismatch is an error rather than a silent recomputation). The model is recognised by its
path: a model retrained into the same folder after its evaluation needs a new evaluation (the
protocol runners redo both). Batch size and device are not part of it: greedy answers do not depend
on them beyond floating-point ties.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Sequence

from tru.core.errors import InputError
from tru.modeling.models import resolve_model_path

# the evaluation settings that fix its data and its measurements; each must equal the attack's
SAME_SETTINGS = (
    "benchmark",
    "tofu",
    "forget_split",
    "forget",
    "retain",
    "limit",
    "max_new_tokens",
    "max_length",
    "dtype",
)


class FinishedEval:
    """The blocks of a finished evaluation of ``model``, checked against the attack's settings."""

    def __init__(self, folder: str, model: str, config, option: str):
        path = Path(folder).expanduser()
        path = path / "EVAL.json" if path.is_dir() or not path.suffix else path
        if not path.is_file():
            raise InputError(path, "no evaluation here", hint=f"run tru eval first, or drop {option}")
        try:
            saved = json.loads(path.read_text(encoding="utf-8"))
        except json.JSONDecodeError as exc:
            raise InputError(path, f"invalid JSON ({exc.msg})", line=exc.lineno) from None
        identity, self.blocks = saved.get("identity", {}), saved.get("blocks", {})
        if "_finished" not in self.blocks:
            raise InputError(path, "the evaluation has not finished", hint=f"rerun tru eval on it, or drop {option}")
        if resolve_model_path(str(identity.get("model", ""))) != resolve_model_path(model):
            raise InputError(
                path,
                f"evaluates {identity.get('model')}, not {model}",
                field="identity.model",
                hint=f"give {option} the evaluation of that model",
            )
        for name in SAME_SETTINGS:
            if identity.get(name) != getattr(config, name):
                raise InputError(
                    path,
                    f"was measured with {name}={identity.get(name)!r}, the attack uses {getattr(config, name)!r}",
                    field=f"identity.{name}",
                    hint=f"evaluate with the attack's settings, or drop {option}",
                )
        self.path = path

    def generations(self, questions: Sequence[str]) -> dict | None:
        """A generation block answering exactly these questions, in this order, or None."""
        for key, block in self.blocks.items():
            if key.endswith("generations") and isinstance(block, dict) and block.get("question") == list(questions):
                return block
        return None

    def answer(self, side: str, questions: Sequence[str]) -> dict | None:
        """The side's answer scores, if the evaluation asked that side exactly these questions (the
        settings check compares data paths; this catches a data file changed since)."""
        block, asked = self.blocks.get(f"{side}/answer"), self.blocks.get(f"{side}/generations")
        if block is None or not isinstance(asked, dict) or asked.get("question") != list(questions):
            return None
        return block if len(block.get("nll", ())) == len(questions) else None


def seed_store(
    store, donor: FinishedEval, requests: dict[str, list[str]], answer_sides: dict[str, list[str]], log
) -> list[str]:
    """Copy into ``store`` the requested generation blocks and the ``baseline/SIDE/answer`` blocks of
    ``answer_sides`` (side -> its questions) that the donor holds; returns the keys copied."""
    copied = []
    for key, questions in requests.items():
        block = None if store.has(key) else donor.generations(questions)
        if block is not None:
            store.put(key, block)
            copied.append(key)
    for side, questions in answer_sides.items():
        key, block = f"baseline/{side}/answer", donor.answer(side, questions)
        if not store.has(key) and block is not None:
            store.put(key, block)
            copied.append(key)
    if copied:
        log(f"  reused from {donor.path}: {', '.join(copied)}")
    return copied
