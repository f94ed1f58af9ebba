"""The report's content as plain data (written as report.json), shared by the HTML and Markdown views.

It reads top-down: one headline per unlearned model (did it work, at what cost), the tables with each
value's 95% interval and its change against the model before unlearning, the attacks by fact leak, and
what the models said. Numbers show two significant digits; report.json keeps them exact.
"""

from __future__ import annotations

from tru.evaluate.formatting import fmt, fmt_interval, fmt_signed  # noqa: F401 (fmt: for the views)
from tru.report.collect import MethodRow, best_values, contenders, shown_metrics

SECTIONS = {
    "tradeoff": (
        "Forgetting vs. utility",
        "One point per method: forget quality (forget ROUGE-L recall when no method has forget "
        "quality) against model utility. The retain oracle is forget quality's reference and has none.",
    ),
    "judges": (
        "Unlearning / retention quality",
        "UQ on forget questions and RQ on retain questions. The offline judge is a rule-based proxy, "
        "not an LLM judge; LLM-judge bars appear only when the evaluation ran one.",
    ),
    "attacks": (
        "Robustness under attacks",
        "Change of the forget fact-leak rate under each attack (after - before), with its 95% paired "
        "bootstrap interval; a positive bar means the forgotten fact comes back, in any language or "
        "form. A method whose answers are junk leaks nothing and gets no other credit here: read the "
        "coherence rows beside it. The figure shows the jailbreak templates' worst case per item; the "
        "table lists every template.",
    ),
    "losses": ("Training losses", "Total loss and every loss term per step, from losses.jsonl."),
}
# the tables after the headlines: title -> metric keys that belong there (first match wins; the rest go last)
TABLES = (
    (
        "Forgetting (forget questions)",
        lambda key: (
            key.startswith("forget.")
            or key
            in {
                "forget_quality",
                "forget_prob",
                "forget_rougeL",
                "forget_truth_ratio",
                "uq_custom",
                "uq_offline",
                "uq_llm",
                "mia_loss_auc",
                "knowmem_forget",
                "verbmem_forget",
                "privleak",
                "min_k_auc",
                "wmdp_forget",
                "wmdp_bio",
                "wmdp_cyber",
            }
        ),
    ),
    (
        "What it kept (out-of-scope questions)",
        lambda key: (
            key.startswith("out_of_scope.")
            or key
            in {
                "model_utility",
                "retain_prob",
                "retain_rougeL",
                "rq_custom",
                "rq_offline",
                "rq_llm",
                "knowmem_retain",
                "wmdp_retain",
            }
        ),
    ),
    ("Training", lambda key: True),
)
ATTACK_COLUMNS = (
    ("fact_leak", "Fact leak"),
    ("refusal", "Refusal"),
    ("rougeL_recall", "ROUGE-L"),
    ("uq", "UQ"),
    ("retain_answered", "Out-of-scope answered"),
)


def reference_row(rows: list[MethodRow], name: str = "") -> MethodRow | None:
    """The model before unlearning: the row named ``name``, else the first row without a run folder."""
    if name:
        return next((r for r in rows if r.name == name), None)
    return next((r for r in rows if not r.inputs.run_dir), None)


def _change(row: MethodRow, reference: MethodRow | None, key: str) -> float | None:
    if reference is None or row is reference:
        return None
    a, b = row.metrics.get(key), reference.metrics.get(key)
    return None if a is None or b is None else a - b


def _change_interval(row: MethodRow, reference: MethodRow | None, key: str) -> dict | None:
    """The change against the reference with a paired 95% bootstrap interval, where both evaluations
    hold per-item values of the same items (their answers to the same questions, in the same order)."""
    from tru.evaluate.metrics import paired_bootstrap_difference

    if reference is None or row is reference:
        return None
    mine, theirs = row.per_item.get(key), reference.per_item.get(key)
    if not mine or not theirs or len(mine) != len(theirs):
        return None
    pairs = [(a, b) for a, b in zip(mine, theirs) if a is not None and b is not None]
    if not pairs:
        return None
    return paired_bootstrap_difference([a for a, _ in pairs], [b for _, b in pairs]).to_dict()


def worst_attack(row: MethodRow) -> tuple[str, dict] | None:
    """The attack variant whose answers leak the fact most often (after the attack), with its values."""
    leaking = [
        (name, d["fact_leak"])
        for name, d in row.attacks.items()
        if name != "jailbreak/worst_case" and d.get("fact_leak", {}).get("after")
    ]
    if not leaking:
        return None
    return max(leaking, key=lambda x: x[1]["after"]["value"])


# corpus benchmarks' measures for the headline, when a row has them: metric key -> what it is called there
CORPUS_HEADLINE = (
    ("knowmem_forget", "KnowMem on forget questions"),
    ("verbmem_forget", "VerbMem on forget passages"),
    ("knowmem_retain", "KnowMem on retain questions"),
    ("privleak", "PrivLeak (0: like the retain model)"),
    ("wmdp_forget", "WMDP accuracy, forget fold"),
    ("wmdp_retain", "WMDP accuracy, retain fold"),
)


def _measured(row: MethodRow, key: str) -> dict | None:
    """A metric's interval, or its bare value where the evaluation kept no interval."""
    if key in row.intervals and row.intervals[key].get("value") is not None:
        return row.intervals[key]
    return {"value": row.metrics[key]} if row.metrics.get(key) is not None else None


def _against(row: MethodRow, reference: MethodRow | None, key: str) -> str:
    change = _change(row, reference, key)
    return f" ({fmt_signed(change)} against {reference.name})" if change is not None else ""


def headline(row: MethodRow, reference: MethodRow | None) -> str:
    """One line: refusal and leakage on forget questions, what it kept, the utility change, the worst attack."""
    parts = []
    refused = row.intervals.get("forget.complete_refusal") or row.intervals.get("forget.refusal")
    if refused:
        parts.append(f"refuses {fmt_interval(refused)} of forget questions completely")
    leak = row.intervals.get("forget.fact_leak")
    if leak:
        parts.append(f"states the forgotten fact in {fmt_interval(leak)}")
    answered = row.intervals.get("out_of_scope.answered")
    if answered:
        parts.append(f"answers {fmt_interval(answered)} of out-of-scope questions")
    utility = _measured(row, "model_utility")
    if utility:
        parts.append(f"model utility {fmt_interval(utility)}{_against(row, reference, 'model_utility')}")
    for key, name in CORPUS_HEADLINE:
        measured = _measured(row, key)
        if measured:
            parts.append(f"{name} {fmt_interval(measured)}{_against(row, reference, key)}")
    worst = worst_attack(row)
    if worst:
        name, values = worst
        parts.append(
            f"worst attack by fact leak: {name}, leaking in {fmt_interval(values['after'])} "
            f"(change {fmt_interval(values['delta'], signed=True)})"
        )
    return f"{row.name}: " + ("; ".join(parts) if parts else "no evaluation to summarise") + "."


def _group_n(rows: list[MethodRow], keys: list[str]) -> str:
    """'n = 40' (or 'n = 40 to 120' when the table's metrics count different items), from the intervals."""
    counts = sorted({r.intervals[k]["n"] for r in rows for k in keys if k in r.intervals and r.intervals[k]["n"]})
    if not counts:
        return ""
    return f"n = {counts[0]}" if len(counts) == 1 else f"n = {counts[0]} to {counts[-1]} items per value"


def _tables(rows: list[MethodRow], reference: MethodRow | None, best: dict, competing: set[str]) -> list[dict]:
    metrics = shown_metrics(rows)
    placed, tables = set(), []
    for title, belongs in TABLES:
        chosen = [m for m in metrics if m[0] not in placed and belongs(m[0])]
        placed |= {m[0] for m in chosen}
        if not chosen:
            continue
        table_rows = []
        for key, label, better, reading in chosen:
            cells = []
            for r in rows:
                value = r.metrics.get(key)
                change = _change(r, reference, key)
                paired = _change_interval(r, reference, key)
                change_text = (
                    fmt_interval(paired, signed=True) if paired else ("" if change is None else fmt_signed(change))
                )
                cells.append(
                    {
                        "method": r.name,
                        "value": value,
                        "interval": r.intervals.get(key),
                        "text": fmt_interval(r.intervals.get(key) or ({"value": value} if value is not None else None)),
                        "change": change,
                        "change_interval": paired,
                        "change_text": change_text,
                        "best": r.name in competing and key in best and value == best[key],
                    }
                )
            table_rows.append({"key": key, "label": label, "better": better, "reading": reading, "cells": cells})
        tables.append({"title": title, "n": _group_n(rows, [m[0] for m in chosen]), "rows": table_rows})
    return tables


def _what_they_said(rows: list[MethodRow]) -> list[dict]:
    """Per method: its first forget answer, its worst attack's first answer, its first out-of-scope answer."""
    said = []
    for r in rows:
        answers = []
        if r.examples.get("forget"):
            answers.append({"label": "A forget question", **r.examples["forget"][0]})
        worst = worst_attack(r)
        if worst and r.attack_answers.get(worst[0]):
            answers.append({"label": f"Its worst attack ({worst[0]})", **r.attack_answers[worst[0]][0]})
        if r.examples.get("retain"):
            answers.append({"label": "An out-of-scope question", **r.examples["retain"][0]})
        if answers:
            said.append({"method": r.name, "answers": answers})
    return said


def _attack_rows(rows: list[MethodRow], names: list[str]) -> list[dict]:
    """One row per method and attack variant: each column's rate after the attack and its change."""
    out = []
    for r in rows:
        for name in names:
            measured = r.attacks.get(name)
            if not measured:
                continue
            cells = []
            for key, _ in ATTACK_COLUMNS:
                values = measured.get(key, {})
                cells.append(
                    {
                        "key": key,
                        "after": fmt_interval(values.get("after")),
                        "delta": fmt_interval(values.get("delta"), signed=True),
                        "delta_value": (values.get("delta") or {}).get("value"),
                    }
                )
            out.append({"method": r.name, "attack": name, "cells": cells})
    return out


def build_model(
    rows: list[MethodRow], title: str, figures: dict[str, str], reference: str = "", notes: list[str] | None = None
) -> dict:
    metrics = shown_metrics(rows)
    best = best_values(rows)
    attack_names = sorted({a for r in rows for a in r.attacks})
    competing = {r.name for r in contenders(rows)}
    ref = reference_row(rows, reference)
    unlearned = [r for r in rows if r.inputs.run_dir] or [r for r in rows if r is not ref]
    return {
        "title": title,
        "notes": list(notes or []),
        "reference": ref.name if ref else None,
        "headlines": [headline(r, ref) for r in unlearned],
        "tables": _tables(rows, ref, best, competing),
        "attack_columns": [{"key": k, "label": lab} for k, lab in ATTACK_COLUMNS],
        "attack_rows": _attack_rows(rows, attack_names),
        "said": _what_they_said(rows),
        "metrics": [{"key": k, "label": lab, "better": b, "reading": reading} for k, lab, b, reading in metrics],
        "best": best,
        "methods": [
            {
                "name": r.name,
                "method": r.method,
                "contender": r.name in competing,  # marked best where its value is the best
                "inputs": {
                    "run": str(r.inputs.run_dir or ""),
                    "eval": str(r.inputs.eval_dir or ""),
                    "attack": str(r.inputs.attack_dir or ""),
                },
                "metrics": {k: r.metrics.get(k) for k, _, _, _ in metrics},
                "intervals": {k: r.intervals[k] for k, _, _, _ in metrics if k in r.intervals},
                "attacks": r.attacks,
                "offline_judge_label": r.offline_label,
                "examples": r.examples,
            }
            for r in rows
        ],
        "attack_names": attack_names,
        "figures": figures,
    }


def is_best(model: dict, method: dict, key: str) -> bool:
    value = method["metrics"][key]
    return method["contender"] and value is not None and key in model["best"] and value == model["best"][key]


def arrow(better: str | None) -> str:
    return {"higher": " ↑", "lower": " ↓"}.get(better or "", "")
