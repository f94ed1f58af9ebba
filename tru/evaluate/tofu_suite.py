"""The TOFU evaluation (Maini et al. 2024, DESIGN.md section 4) plus judges and scope control.

Splits: forget (``forgetNN_perturbed``), retain (``retain_perturbed``), real authors and world facts
(``*_perturbed``), holdout (``holdoutNN``, for membership inference). Measurements are stored block
by block in EVAL.json; the metrics are then derived from the stored per-item values.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from tru import metrics
from tru.data.tofu import HOLDOUT_FOR_FORGET, load_tofu
from tru.errors import ConfigError, InputError
from tru.evaluate import offline_judge, scope
from tru.evaluate.qa_blocks import EvalModel, answer_block, candidates_block, store_generations
from tru.evaluate.store import EvalStore

SIDE_SPLITS = {"retain": "retain_perturbed", "real_authors": "real_authors_perturbed",
               "world_facts": "world_facts_perturbed"}


def load_tofu_eval_data(source: str, forget_split: str, limit: int | None) -> dict:
    if forget_split not in HOLDOUT_FOR_FORGET:
        raise ConfigError(f"unknown TOFU forget split '{forget_split}'; choose forget01, forget05 or forget10")
    names = {"forget": f"{forget_split}_perturbed", **SIDE_SPLITS, "holdout": HOLDOUT_FOR_FORGET[forget_split]}
    data = {role: load_tofu(source, split)[:limit] if limit else load_tofu(source, split)
            for role, split in names.items()}
    return data


def measure(em: EvalModel, data: dict, store: EvalStore, log) -> None:
    """Run every model-facing block not already in the store; all generations in one batched run."""
    plan = [("forget/answer", lambda: answer_block(em, data["forget"])),
            ("holdout/answer", lambda: answer_block(em, data["holdout"])),
            ("forget/candidates", lambda: candidates_block(em, data["forget"], with_paraphrase=True))]
    generations = {"forget/generations": [x.question for x in data["forget"]],
                   "forget/paraphrase_generations": [x.paraphrased_question or x.question for x in data["forget"]]}
    for side in SIDE_SPLITS:
        plan += [(f"{side}/answer", lambda s=side: answer_block(em, data[s])),
                 (f"{side}/candidates", lambda s=side: candidates_block(em, data[s], with_paraphrase=s == "retain"))]
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
        out[role] = {"prob": prob.tolist(), "truth_ratio": ratio.tolist(),
                     "rougeL_recall": rouge["rougeL_recall"], "rouge1_recall": rouge["rouge1_recall"],
                     "extraction_strength": answer["extraction_strength"]}
    return out


def _mean(values) -> float:
    return float(np.mean(values)) if len(values) else float("nan")


def load_retain_truth_ratios(path: str) -> list[float]:
    """The retain model's per-item forget truth ratios from its EVAL.json."""
    file = Path(path)
    if file.is_dir():
        file = file / "EVAL.json"
    if not file.exists():
        raise InputError(file, "retain model evaluation not found", hint="run tru eval on the retain model first")
    try:
        saved = json.loads(file.read_text(encoding="utf-8"))
        return saved["metrics"]["forget"]["truth_ratio"]
    except (json.JSONDecodeError, KeyError, TypeError):
        raise InputError(file, "holds no forget truth ratios", field="metrics.forget.truth_ratio",
                         hint="give the EVAL.json that tru eval wrote for the retain model") from None


def summarise(data: dict, store: EvalStore, item_metrics: dict, retain_eval: str | None) -> dict:
    summary: dict = {}
    for role, values in item_metrics.items():
        side = "forget" if role == "forget" else "retain"
        summary[role] = {"prob": _mean(values["prob"]), "rougeL_recall": _mean(values["rougeL_recall"]),
                         "truth_ratio": metrics.truth_ratio_statistic(values["truth_ratio"], side)}
    summary["forget"]["extraction_strength"] = _mean(item_metrics["forget"]["extraction_strength"])
    summary["model_utility"] = metrics.model_utility({
        f"{role}/{name}": summary[role][key] for role in SIDE_SPLITS
        for name, key in (("prob", "prob"), ("rouge", "rougeL_recall"), ("truth_ratio", "truth_ratio"))})
    if retain_eval:
        summary["forget_quality"] = metrics.forget_quality(item_metrics["forget"]["truth_ratio"],
                                                           load_retain_truth_ratios(retain_eval))
    forget_mia, holdout_mia = store.get("forget/answer")["mia"], store.get("holdout/answer")["mia"]
    summary["mia_auc"] = {name: metrics.mia_auc(forget_mia[name], holdout_mia[name]) for name in forget_mia}

    forget_gen, para_gen = store.get("forget/generations"), store.get("forget/paraphrase_generations")
    questions = [x.question for x in data["forget"]]
    references = [x.answer for x in data["forget"]]
    leakage = scope.trace_leakage(forget_gen["reasoning"], questions, references)
    out_of_scope = [a for side in SIDE_SPLITS for a in store.get(f"{side}/generations")["answer"]]
    summary["scope"] = scope.scope_summary(forget_gen["answer"] + para_gen["answer"], out_of_scope, leakage,
                                           [bool(r) for r in forget_gen["reasoning"]])
    item_metrics["forget"]["trace_leakage"] = leakage

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
    return summary
