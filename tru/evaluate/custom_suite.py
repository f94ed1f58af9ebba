"""The custom QA benchmark: your own forget (and retain) QA files, measured like TOFU's generation side.

Likelihood and ROUGE-L of each split, the offline judge, and the registered generation metrics
(tru.evaluate.registry) of the forget answers and of the retain (out-of-scope) answers; every mean with
its n and 95% interval. Items without ``key_values`` get the key-term rule of tru.evaluate.fact_leak.
"""

from __future__ import annotations

from tru.core.errors import ConfigError
from tru.data.specs import load_items
from tru.evaluate import metrics, offline_judge, registry
from tru.evaluate.config import EvalConfig
from tru.evaluate.qa_blocks import EvalModel, answer_block, store_generations
from tru.evaluate.store import EvalStore


def load_data(config: EvalConfig) -> dict:
    data = {"forget": load_items(config.forget, config.tofu, config.columns())}
    if config.retain:
        data["retain"] = load_items(config.retain, config.tofu, config.columns())
    for role, items in data.items():
        if not all(hasattr(x, "question") for x in items):
            raise ConfigError(f"--{role} must hold QA items (question/answer) for the custom benchmark")
        if config.limit:
            data[role] = items[: config.limit]
    return data


def measure_and_summarise(config: EvalConfig, em: EvalModel, data: dict, store: EvalStore, log) -> tuple[dict, dict]:
    item_metrics, summary, intervals, groups = {}, {}, {}, {}
    answers = {
        role: store.compute(f"{role}/answer", lambda i=items: answer_block(em, i)) for role, items in data.items()
    }
    generated = store_generations(
        store, em, {f"{role}/generations": [x.question for x in items] for role, items in data.items()}, log
    )
    for role, items in data.items():
        answer, generations = answers[role], generated[f"{role}/generations"]
        rouge = metrics.rouge_scores(generations["answer"], [x.answer for x in items])
        judge, score = (offline_judge.judge_forget, "uq") if role == "forget" else (offline_judge.judge_retain, "rq")
        judged = [judge(x.question, x.answer, g) for x, g in zip(items, generations["text"])]
        side = "forget" if role == "forget" else "retain"
        item_metrics[role] = {
            "prob": metrics.probability(answer["nll"]).tolist(),
            "rougeL_recall": rouge["rougeL_recall"],
            "offline_judge": judged,
            "generation": registry.per_item(registry.generations_of(items, generations), side),
        }
        means = {
            "prob": item_metrics[role]["prob"],
            "rougeL_recall": rouge["rougeL_recall"],
            score: [j[score] for j in judged],
        }
        summary[role] = {k: sum(v) / len(v) for k, v in means.items()}
        intervals.update({f"{role}.{k}": metrics.bootstrap_interval(v).to_dict() for k, v in means.items()})
        groups["forget" if role == "forget" else "out_of_scope"] = registry.aggregate_all(
            item_metrics[role]["generation"]
        )
    summary["intervals"] = intervals
    summary["generation"] = groups
    summary["fact_leak_keys"] = registry.leak_keys_rule(data["forget"])
    return item_metrics, summary
