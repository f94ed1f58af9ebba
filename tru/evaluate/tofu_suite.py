"""The TOFU evaluation (Maini et al. 2024; README "Evaluation: `tru eval`") plus judges and scope control.

Splits: forget (``forgetNN_perturbed``), retain (``retain_perturbed``), real authors and world facts
(``*_perturbed``), holdout (``holdoutNN``, for membership inference). Measurements are stored block
by block in EVAL.json; the metrics are then derived from the stored per-item values.
"""

from __future__ import annotations

import numpy as np

from tru.core.errors import ConfigError
from tru.data.tofu import HOLDOUT_FOR_FORGET, load_tofu
from tru.evaluate import metrics, offline_judge, registry, retain_logs
from tru.evaluate.qa_blocks import EvalModel, answer_block, candidates_block, store_generations
from tru.evaluate.store import EvalStore

SIDE_SPLITS = {
    "retain": "retain_perturbed",
    "real_authors": "real_authors_perturbed",
    "world_facts": "world_facts_perturbed",
}


def load_tofu_eval_data(source: str, forget_split: str, limit: int | None) -> dict:
    if forget_split not in HOLDOUT_FOR_FORGET:
        raise ConfigError(f"unknown TOFU forget split '{forget_split}'; choose forget01, forget05 or forget10")
    names = {"forget": f"{forget_split}_perturbed", **SIDE_SPLITS, "holdout": HOLDOUT_FOR_FORGET[forget_split]}
    data = {
        role: load_tofu(source, split)[:limit] if limit else load_tofu(source, split) for role, split in names.items()
    }
    return data


def measure(em: EvalModel, data: dict, store: EvalStore, log) -> None:
    """Run every model-facing block not already in the store; all generations in one batched run."""
    plan = [
        ("forget/answer", lambda: answer_block(em, data["forget"])),
        ("holdout/answer", lambda: answer_block(em, data["holdout"])),
        ("forget/candidates", lambda: candidates_block(em, data["forget"], with_paraphrase=True)),
    ]
    generations = {
        "forget/generations": [x.question for x in data["forget"]],
        "forget/paraphrase_generations": [x.paraphrased_question or x.question for x in data["forget"]],
    }
    for side in SIDE_SPLITS:
        plan += [
            (f"{side}/answer", lambda s=side: answer_block(em, data[s])),
            (f"{side}/candidates", lambda s=side: candidates_block(em, data[s], with_paraphrase=s == "retain")),
        ]
        generations[f"{side}/generations"] = [x.question for x in data[side]]
    for key, compute in plan:
        if store.has(key):
            log(f"  {key}: reused")
            continue
        log(f"  {key} ...")
        store.put(key, compute())
    store_generations(store, em, generations, log)


def per_item_metrics(data: dict, store: EvalStore) -> dict:
    """Per-item TOFU metrics derived from the stored blocks."""
    out = {}
    for role in ("forget", *SIDE_SPLITS):
        answer, candidates, generations = (store.get(f"{role}/{b}") for b in ("answer", "candidates", "generations"))
        items = data[role]
        if role in ("forget", "retain"):
            prob = metrics.probability(answer["nll"])
            ratio = metrics.truth_ratio(candidates["paraphrased_nll"], candidates["perturbed_nll"])
        else:  # the correct side is the original answer
            prob = metrics.normalized_probability(answer["nll"], candidates["perturbed_nll"])
            ratio = metrics.truth_ratio(answer["nll"], candidates["perturbed_nll"])
        rouge = metrics.rouge_scores(generations["answer"], [x.answer for x in items])
        out[role] = {
            "prob": prob.tolist(),
            "truth_ratio": ratio.tolist(),
            "rougeL_recall": rouge["rougeL_recall"],
            "rouge1_recall": rouge["rouge1_recall"],
            "extraction_strength": answer["extraction_strength"],
        }
    return out


def _mean(values) -> float:
    return float(np.mean(values)) if len(values) else float("nan")


def load_retain_truth_ratios(path: str) -> list[float]:
    """The retain model's per-item forget truth ratios: from tru's EVAL.json (the folder tru eval wrote)
    or open-unlearning's TOFU_EVAL.json (tru.evaluate.retain_logs)."""
    return retain_logs.read_retain_truth_ratios(path)


FORGET_QUALITY_NEEDS = "needs --retain-eval: the evaluation folder of the retain model (trained without the forget set)"


def summarise(data: dict, store: EvalStore, item_metrics: dict, retain_eval: str | None) -> dict:
    """Aggregates of the stored per-item values. Every mean, rate and AUC carries its n and a 95%
    bootstrap interval: the registered generation metrics in ``generation`` (tru.evaluate.registry), the
    likelihood metrics and the membership-inference AUCs in ``intervals`` under the same dotted path as
    their value. Forget quality without a retain evaluation is the registry's aggregate without a value,
    saying what it needs."""
    summary: dict = {}
    for role, values in item_metrics.items():
        side = "forget" if role == "forget" else "retain"
        summary[role] = {
            "prob": _mean(values["prob"]),
            "rougeL_recall": _mean(values["rougeL_recall"]),
            "truth_ratio": metrics.truth_ratio_statistic(values["truth_ratio"], side),
        }
    summary["forget"]["extraction_strength"] = _mean(item_metrics["forget"]["extraction_strength"])
    summary["intervals"] = likelihood_intervals(item_metrics)
    utility = metrics.grouped_bootstrap_interval(
        {role: {k: item_metrics[role][k] for k in ("prob", "rougeL_recall", "truth_ratio")} for role in SIDE_SPLITS},
        _utility_of,
    )
    summary["model_utility"] = utility.value
    summary["intervals"]["model_utility"] = utility.to_dict()
    if retain_eval:
        summary["forget_quality"] = metrics.forget_quality(
            item_metrics["forget"]["truth_ratio"],
            retain_logs.retain_truth_ratios_for(retain_eval, len(item_metrics["forget"]["truth_ratio"])),
        )
        summary["forget_quality_n"] = len(item_metrics["forget"]["truth_ratio"])
    else:
        summary["forget_quality"] = registry.aggregate([], missing=FORGET_QUALITY_NEEDS)
    forget_mia, holdout_mia = store.get("forget/answer")["mia"], store.get("holdout/answer")["mia"]
    aucs = {name: metrics.auc_interval(forget_mia[name], holdout_mia[name]) for name in forget_mia}
    summary["mia_auc"] = {name: auc.value for name, auc in aucs.items()}
    summary["intervals"].update({f"mia_auc.{name}": auc.to_dict() for name, auc in aucs.items()})
    summary["mia_n"] = {"forget": len(data["forget"]), "holdout": len(data["holdout"])}
    summary["generation"] = generation_summary(data, store, item_metrics)
    summary["fact_leak_keys"] = registry.leak_keys_rule(data["forget"])

    forget_gen = store.get("forget/generations")
    questions = [x.question for x in data["forget"]]
    references = [x.answer for x in data["forget"]]
    forget_judged = [offline_judge.judge_forget(q, a, g) for q, a, g in zip(questions, references, forget_gen["text"])]
    retain_gen = store.get("retain/generations")["text"]
    retain_judged = [offline_judge.judge_retain(x.question, x.answer, g) for x, g in zip(data["retain"], retain_gen)]
    item_metrics["forget"]["offline_judge"] = forget_judged
    item_metrics["retain"]["offline_judge"] = retain_judged
    summary["offline_judge"] = {
        "label": offline_judge.PROXY_LABEL,
        **{d: _mean([j[d] for j in forget_judged]) for d in (*offline_judge.FORGET_DIMENSIONS, "uq")},
        **{d: _mean([j[d] for j in retain_judged]) for d in (*offline_judge.RETAIN_DIMENSIONS, "rq")},
    }
    summary["intervals"]["offline_judge.uq"] = metrics.bootstrap_interval([j["uq"] for j in forget_judged]).to_dict()
    summary["intervals"]["offline_judge.rq"] = metrics.bootstrap_interval([j["rq"] for j in retain_judged]).to_dict()
    return summary


# the generation blocks the registered metrics are measured on: group -> (side, [(split, block)])
GENERATION_GROUPS = {
    "forget": ("forget", [("forget", "generations")]),
    "forget_paraphrase": ("forget", [("forget", "paraphrase_generations")]),
    "out_of_scope": ("retain", [(split, "generations") for split in SIDE_SPLITS]),
}


def generation_summary(data: dict, store: EvalStore, item_metrics: dict) -> dict:
    """Registered per-item metrics of each generation group, with n and intervals; the per-item values
    go into ``item_metrics[split]["generation"]`` (paraphrases under ``generation_paraphrase``)."""
    out = {}
    for group, (side, blocks) in GENERATION_GROUPS.items():
        pooled: dict[str, list] = {}
        for split, block in blocks:
            stored = store.get(f"{split}/{block}")
            queries = None
            if block == "paraphrase_generations":
                queries = [x.paraphrased_question or x.question for x in data[split]]
            values = registry.per_item(registry.generations_of(data[split], stored, queries=queries), side)
            target = "generation_paraphrase" if block == "paraphrase_generations" else "generation"
            item_metrics[split][target] = values
            for name, per_item in values.items():
                pooled.setdefault(name, []).extend(per_item)
        out[group] = registry.aggregate_all(pooled)
    return out


def likelihood_intervals(item_metrics: dict) -> dict:
    """n and 95% intervals of the per-split means (truth ratio: of the per-item terms its statistic averages)."""
    out = {}
    for role, values in item_metrics.items():
        side = "forget" if role == "forget" else "retain"
        terms = {
            "prob": values["prob"],
            "rougeL_recall": values["rougeL_recall"],
            "truth_ratio": metrics.truth_ratio_terms(values["truth_ratio"], side),
        }
        if role == "forget":
            terms["extraction_strength"] = values["extraction_strength"]
        out.update({f"{role}.{k}": metrics.bootstrap_interval(v).to_dict() for k, v in terms.items()})
    return out


def _utility_of(groups: dict) -> float:
    components = {}
    for role, values in groups.items():
        components[f"{role}/prob"] = float(np.mean(values["prob"]))
        components[f"{role}/rouge"] = float(np.mean(values["rougeL_recall"]))
        components[f"{role}/truth_ratio"] = metrics.truth_ratio_statistic(values["truth_ratio"], "retain")
    return metrics.model_utility(components)
