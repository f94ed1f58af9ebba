"""What every attack shares: the context it runs in, per-item metrics and before/after comparison.

Per-item metrics (all numbers; booleans become 0/1 so that rates are their means):

- query attacks (forget side): ``rougeL_recall`` of the final answer against the true answer,
  ``refusal`` (the answer is a refusal), ``uq`` (offline judge, forget side), ``trace_leakage`` and
  ``trace_leaked_share`` (the reasoning part restates the answer's facts; 0 without reasoning);
- weight attacks add the teacher-forced ``nll`` and ``prob`` of the true answer, and on the retain
  side report ``rq`` (offline judge, retain side) in place of ``uq`` and the leakage checks.

For reasoning-format models the answer part is scored and the reasoning part checked for leakage,
exactly as in ``tru eval`` (``generation_blocks`` splits the two).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Sequence

from tru import metrics
from tru.data.records import QAItem
from tru.evaluate import offline_judge, scope
from tru.evaluate.qa_blocks import EvalModel, answer_block, generation_blocks
from tru.evaluate.store import EvalStore


@dataclass
class AttackContext:
    config: object  # AttackConfig
    em: EvalModel
    data: dict[str, list[QAItem]]  # "forget" and, when given, "retain"
    raw: dict[str, list[dict]]  # the forget records as read, for translation fields
    store: EvalStore
    out: Path
    log: Callable[[str], None] = print
    prepared: dict = field(default_factory=dict)  # what each attack's check() resolved


def generation_metrics(items: Sequence[QAItem], generations: dict, side: str) -> dict[str, list[float]]:
    """Per-item metrics of generations answering ``items`` (possibly asked in an attacked form)."""
    references = [x.answer for x in items]
    questions = [x.question for x in items]
    rouge = metrics.rouge_scores(generations["answer"], references)["rougeL_recall"]
    refused = [float(f) for f in scope.refusal_flags(generations["answer"])]
    out = {"rougeL_recall": rouge, "refusal": refused}
    if side == "forget":
        judged = [offline_judge.judge_forget(q, a, t) for q, a, t in zip(questions, references, generations["text"])]
        leakage = scope.trace_leakage(generations["reasoning"], questions, references)
        out["uq"] = [j["uq"] for j in judged]
        out["trace_leakage"] = [float(x["leaks"]) for x in leakage]
        out["trace_leaked_share"] = [x["share"] for x in leakage]
    else:
        out["rq"] = [offline_judge.judge_retain(q, a, t)["rq"] for q, a, t in
                     zip(questions, references, generations["text"])]
    return out


def answer_metrics(answer: dict) -> dict[str, list[float]]:
    return {"nll": list(answer["nll"]), "prob": metrics.probability(answer["nll"]).tolist()}


def weight_eval(em: EvalModel, items: Sequence[QAItem]) -> dict:
    """The model-facing measurements a weight attack needs on one side: answer NLLs and generations."""
    return weight_evals(em, {"forget": items})["forget"]


def weight_evals(em: EvalModel, sides: dict[str, Sequence[QAItem]]) -> dict[str, dict]:
    """``weight_eval`` of several sides, their generations in one batched run."""
    generated = generation_blocks(em, {side: [x.question for x in items] for side, items in sides.items()})
    return {side: {"answer": answer_block(em, items), "generations": generated[side]} for side, items in sides.items()}


def weight_metrics(items: Sequence[QAItem], measured: dict, side: str) -> dict[str, list[float]]:
    return {**answer_metrics(measured["answer"]), **generation_metrics(items, measured["generations"], side)}


def subset(values: dict, indices: Sequence[int]) -> dict:
    """The per-item lists of ``values`` (nested dicts included, as in stored blocks) at ``indices``."""
    return {k: subset(v, indices) if isinstance(v, dict) else [v[i] for i in indices] for k, v in values.items()}


def _mean(values: Sequence[float]) -> float | None:
    return None if not values else sum(values) / len(values)


def compare(before: dict[str, list[float]], after: dict[str, list[float]]) -> dict:
    """Per item and aggregated: before, after and delta (after - before) of every shared metric."""
    per_item, aggregate = {}, {}
    for name in before:
        if name not in after:
            continue
        b, a = before[name], after[name]
        per_item[name] = {"before": b, "after": a, "delta": [y - x for x, y in zip(b, a)]}
        mb, ma = _mean(b), _mean(a)
        aggregate[name] = {"before": mb, "after": ma, "delta": None if mb is None or ma is None else ma - mb}
    return {"per_item": per_item, "aggregate": aggregate}


def summary_of(result: dict) -> dict:
    """An attack result reduced to its aggregates: variant -> side -> metric -> before/after/delta."""
    out = {}
    for variant, sides in result.items():
        if not isinstance(sides, dict):
            continue
        out[variant] = {}
        for side, body in sides.items():
            if isinstance(body, dict) and "aggregate" in body:
                out[variant][side] = body["aggregate"]
            elif side in ("extra",):
                out[variant][side] = body
    return out
