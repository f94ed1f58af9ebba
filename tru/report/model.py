"""The report's content as plain data (written as report.json), shared by the HTML and Markdown views."""

from __future__ import annotations

from tru.report.collect import MethodRow, best_values, contenders, shown_metrics

SECTIONS = {
    "tradeoff": ("Forgetting vs. utility",
                 "One point per method: forget quality (forget ROUGE-L recall when no method has forget "
                 "quality) against model utility. The retain oracle is forget quality's reference and has none."),
    "judges": ("Unlearning / retention quality",
               "UQ on forget questions and RQ on retain questions. The offline judge is a rule-based proxy, "
               "not an LLM judge; LLM-judge bars appear only when the evaluation ran one."),
    "attacks": ("Robustness under attacks",
                "Change of forget ROUGE-L recall under each attack (after - before); a positive bar means "
                "forgotten knowledge comes back. The figure shows the jailbreak templates' worst case per item; "
                "the table lists every template."),
    "losses": ("Training losses", "Total loss and every loss term per step, from losses.jsonl."),
}


def fmt(value) -> str:
    if value is None:
        return "–"
    if isinstance(value, int):
        return str(value)
    return f"{value:.4f}"


def build_model(rows: list[MethodRow], title: str, figures: dict[str, str]) -> dict:
    metrics = shown_metrics(rows)
    best = best_values(rows)
    attack_names = sorted({a for r in rows for a in r.attacks})
    competing = {r.name for r in contenders(rows)}
    return {
        "title": title,
        "metrics": [{"key": k, "label": lab, "better": b} for k, lab, b in metrics],
        "best": best,
        "methods": [{
            "name": r.name,
            "method": r.method,
            "contender": r.name in competing,  # marked best where its value is the best
            "inputs": {"run": str(r.inputs.run_dir or ""), "eval": str(r.inputs.eval_dir or ""),
                       "attack": str(r.inputs.attack_dir or "")},
            "metrics": {k: r.metrics.get(k) for k, _, _ in metrics},
            "attacks": r.attacks,
            "offline_judge_label": r.offline_label,
            "examples": r.examples,
        } for r in rows],
        "attack_names": attack_names,
        "figures": figures,
    }


def is_best(model: dict, method: dict, key: str) -> bool:
    value = method["metrics"][key]
    return method["contender"] and value is not None and key in model["best"] and value == model["best"][key]


def arrow(better: str | None) -> str:
    return {"higher": " ↑", "lower": " ↓"}.get(better or "", "")
