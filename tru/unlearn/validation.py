"""The validation split of an unlearning run and its scope check.

Held out from training: by default ``--validation-share`` of the forget items (the run never trains on
them, so refusing them shows that the model recognises what is in scope rather than the trained
questions) and the same share of the retain items; ``--validation FILE`` gives the forget side
instead. With ``--anchor-checks N`` a third side, ``outside``, holds N general questions never trained
on, with their reference answers (tru.unlearn.anchors): it shows whether the refusal spread beyond
the forget set's scope, and what the answers kept. The scope check generates answers to every side
and measures them with the registered generation metrics (tru.evaluate.registry): refusal, complete
refusal and fact leak on the forget side, answered on the retain and outside sides, each with n and a
95% interval. It runs every ``--eval-steps`` steps, at the end of every run (``scope_check.json`` in the
run folder, printed), and decides ``--until``: criteria such as ``complete_refusal>=0.95,answered>=0.95``
that stop the run once met; the best state by those criteria is the one saved.
"""

from __future__ import annotations

import operator
import random
import re
from dataclasses import dataclass, field
from typing import Sequence

from tru.core.errors import ConfigError
from tru.evaluate import registry

OPERATORS = {">=": operator.ge, "<=": operator.le, ">": operator.gt, "<": operator.lt}
RETAIN_CAP = 32  # retain items held out at most: enough to see a collapse, few enough to generate often
EXAMPLES = 3


# each side of the scope check and the side whose registered metrics measure it
SIDE_METRICS = {"forget": "forget", "retain": "retain", "outside": "retain"}


@dataclass
class ValidationSplit:
    forget: list
    retain: list
    outside: list = field(default_factory=list)  # self-answered anchor questions (tru.unlearn.anchors)

    @property
    def empty(self) -> bool:
        return not any(getattr(self, side) for side in SIDE_METRICS)


def hold_out(items: Sequence, share: float, seed: int, salt: str, cap: int | None = None) -> tuple[list, list]:
    """(kept, held out): ``share`` of the items (rounded, at least one), chosen by seed; fewer than three
    items are all kept (too few to train on some and validate on others), and one item always trains."""
    if share <= 0 or len(items) < 3:
        return list(items), []
    count = max(1, min(round(share * len(items)), cap if cap is not None else len(items), len(items) - 1))
    chosen = set(random.Random(f"{seed}/{salt}").sample(range(len(items)), count)) if count > 0 else set()
    return ([x for i, x in enumerate(items) if i not in chosen], [x for i, x in enumerate(items) if i in chosen])


@dataclass(frozen=True)
class Criterion:
    metric: str
    side: str
    op: str
    threshold: float

    def met(self, results: dict) -> bool:
        value = registry.value_of(results.get(self.side, {}).get(self.metric))
        return value is not None and OPERATORS[self.op](value, self.threshold)

    def margin(self, results: dict) -> float:
        """How far past the threshold (negative: short of it); the best state maximises the smallest."""
        value = registry.value_of(results.get(self.side, {}).get(self.metric))
        if value is None:
            return float("-inf")
        return value - self.threshold if self.op in (">=", ">") else self.threshold - value

    def __str__(self) -> str:
        return f"{self.metric}{self.op}{self.threshold:g}"


def parse_until(text: str) -> list[Criterion]:
    """``refusal>=0.95,answered>=0.95`` -> criteria; a metric is a registered generation metric, measured on
    the held-out forget questions when it has a forget side, else on the held-out retain questions."""
    criteria = []
    for part in filter(None, (p.strip() for p in text.split(","))):
        match = re.fullmatch(r"([a-z_]+)\s*(>=|<=|>|<)\s*([-+0-9.eE]+)", part)
        if not match:
            raise ConfigError(f"--until: '{part}' is not METRIC>=VALUE (or <=, >, <), e.g. complete_refusal>=0.95")
        name, op, raw = match.groups()
        metric = registry.METRICS.get(name)
        if metric is None:
            raise ConfigError(f"--until: unknown metric '{name}'; choose from {', '.join(sorted(registry.METRICS))}")
        threshold = float(raw)
        rate = name not in ("uq", "rq")
        if rate and not 0 <= threshold <= 1:
            raise ConfigError(f"--until: {name} is a rate between 0 and 1; {threshold:g} can never be met")
        side = "forget" if "forget" in metric.sides else "retain"
        criteria.append(Criterion(name, side, op, threshold))
    if not criteria:
        raise ConfigError("--until is empty; give criteria such as complete_refusal>=0.95,answered>=0.95")
    return criteria


def check_until(criteria: list[Criterion], split: ValidationSplit) -> None:
    """A criterion on a side without validation items can never be met: an error before training."""
    for c in criteria:
        if not getattr(split, c.side):
            raise ConfigError(
                f"--until {c}: there are no held-out {c.side} questions to measure it on; raise "
                "--validation-share above 0 or give --validation"
            )


def scope_check(model, tokenizer, formatter, split: ValidationSplit, *, max_new_tokens: int, batch_size: int) -> dict:
    """Generate answers to the validation questions and measure them (registered metrics, with intervals)."""
    from tru.evaluate.qa_blocks import EvalModel, generation_blocks

    em = EvalModel(
        model=model, tokenizer=tokenizer, formatter=formatter, batch_size=batch_size, max_new_tokens=max_new_tokens
    )
    sides = {side: getattr(split, side) for side in SIDE_METRICS if getattr(split, side)}
    blocks = generation_blocks(em, {side: [x.question for x in items] for side, items in sides.items()})
    result = {}
    for side, items in sides.items():
        per_item = registry.per_item(registry.generations_of(items, blocks[side]), SIDE_METRICS[side])
        result[side] = registry.aggregate_all(per_item)
        result[f"{side}_examples"] = [
            {"question": x.question, "reasoning": r, "answer": a}
            for x, r, a in list(zip(items, blocks[side]["reasoning"], blocks[side]["answer"]))[:EXAMPLES]
        ]
    return result


def headline(result: dict) -> str:
    """'forget: complete refusal 0.88 [0.62, 1.0] (n=8), fact leak 0 ...; retain: answered 1.0 ... (n=16)'."""
    from tru.evaluate.formatting import fmt_interval

    shown = {"forget": ("complete_refusal", "refusal", "fact_leak"), "retain": ("answered",), "outside": ("answered",)}
    parts = []
    for side, names in shown.items():
        if side not in result:
            continue
        values = [
            f"{name.replace('_', ' ')} {fmt_interval(result[side][name])}" for name in names if name in result[side]
        ]
        n = next((result[side][name]["n"] for name in names if name in result[side]), 0)
        parts.append(f"{side} (n={n}): " + ", ".join(values))
    return "; ".join(parts)


class ScopeMonitor:
    """Every ``eval_steps`` steps: the scope check, one progress line, a row of ``validation.jsonl``; keeps
    the trainable weights of the best state by ``criteria`` and stops the run once they are all met.
    A TrainerCallback (made one in ``callback()`` so that this module imports without transformers)."""

    def __init__(self, measure, eval_steps: int, criteria: list[Criterion], log_path, say=print):
        self.measure, self.eval_steps, self.criteria = measure, eval_steps, criteria
        self.log_path, self.say = log_path, say
        self.best_score, self.best_step, self.best_state, self.best_result = float("-inf"), None, None, None
        self.met_at: int | None = None
        self.last: tuple[int, dict] | None = None

    def score(self, result: dict) -> float:
        return min(c.margin(result) for c in self.criteria) if self.criteria else 0.0

    def check(self, model, step: int) -> bool:
        """Measure now; True when every criterion is met."""
        from tru.core.files import append_jsonl

        was_training = model.training
        model.eval()
        try:
            result = self.measure(model)
        finally:
            model.train(was_training)
        self.last = (step, result)
        append_jsonl(self.log_path, {"step": step, **{side: result[side] for side in SIDE_METRICS if side in result}})
        met = bool(self.criteria) and all(c.met(result) for c in self.criteria)
        self.say(f"tru: validation at step {step}: {headline(result)}" + (" (--until met)" if met else ""))
        if self.criteria and self.score(result) > self.best_score:
            self.best_score, self.best_step, self.best_result = self.score(result), step, result
            self.best_state = {
                n: p.detach().to("cpu", copy=True) for n, p in model.named_parameters() if p.requires_grad
            }
        if met and self.met_at is None:
            self.met_at = step
        return met

    def restore_best(self, model) -> int | None:
        """Put the best state's weights back (None: the last state is the one to keep)."""
        import torch

        if self.best_state is None or self.last is None or self.best_step == self.last[0]:
            return None
        with torch.no_grad():
            for name, parameter in model.named_parameters():
                if name in self.best_state:
                    parameter.copy_(self.best_state[name].to(parameter.device))
        return self.best_step

    def callback(self):
        from transformers import TrainerCallback

        monitor = self

        class _Callback(TrainerCallback):
            def on_step_end(self, args, state, control, model=None, **kwargs):
                if monitor.eval_steps and state.global_step % monitor.eval_steps == 0 and model is not None:
                    if monitor.check(model, state.global_step):
                        control.should_training_stop = True
                return control

        return _Callback()
