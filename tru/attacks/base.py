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

from tru.data.records import QAItem
from tru.evaluate import metrics, registry
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


def generation_metrics(
    items: Sequence[QAItem], generations: dict, side: str, *, queries: Sequence[str] | None = None, lang: str = "en"
) -> dict[str, list[float | None]]:
    """Per-item values of every registered metric of ``side`` (tru.evaluate.registry) on generations
    answering ``items``, asked as ``queries`` in language ``lang`` (the original questions in English
    unless said otherwise)."""
    return registry.per_item(registry.generations_of(items, generations, queries=queries, lang=lang), side)


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


def compare(before: dict[str, list], after: dict[str, list]) -> dict:
    """Per item and aggregated: before, after and delta (after - before) of every shared metric. Each
    aggregate carries n and a 95% bootstrap interval; the delta's is a paired bootstrap over the items
    that have both values (the same items, asked before and after the attack)."""
    per_item, aggregate = {}, {}
    for name in before:
        if name not in after:
            continue
        b, a = before[name], after[name]
        delta = [None if x is None or y is None else y - x for x, y in zip(b, a)]
        per_item[name] = {"before": b, "after": a, "delta": delta}
        pairs = [(x, y) for x, y in zip(b, a) if x is not None and y is not None]
        change = (
            metrics.paired_bootstrap_difference([y for _, y in pairs], [x for x, _ in pairs]).to_dict()
            if pairs
            else registry.aggregate_metric(name, [])
        )
        aggregate[name] = {
            "before": registry.aggregate_metric(name, b),
            "after": registry.aggregate_metric(name, a),
            "delta": change,
        }
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
