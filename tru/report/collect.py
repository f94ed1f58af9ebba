"""Gather one row per method from an unlearning run, an evaluation folder and an attack folder.

Values are copied unchanged from the JSON files: the report shows (rounded) and report.json keeps
(exact) the numbers in SUMMARY.json / summary.json."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tru.core.errors import ConfigError, InputError
from tru.data.readers import json_kind, read_text_file

# (key, label, source, path in the source, better, reading) for the benchmark-level metrics; source "eval" =
# SUMMARY.json of `tru eval`, "run" = summary.json of `tru unlearn`. The per-generation metrics come from
# the registry (registry_metrics below) and are not typed here.
METRICS: list[tuple[str, str, str, tuple[str, ...], str | None, str]] = [
    (
        "forget_quality",
        "Forget quality",
        "eval",
        ("forget_quality",),
        "higher",
        "KS-test p-value of forget truth ratios against the retain oracle's: near 1 = indistinguishable from a model "
        "that never saw the forget set; with few items it takes few distinct values",
    ),
    (
        "model_utility",
        "Model utility",
        "eval",
        ("model_utility",),
        "higher",
        "harmonic mean of probability, ROUGE-L and truth ratio on retain, real authors and world facts",
    ),
    ("forget_prob", "Forget prob", "eval", ("forget", "prob"), "lower", ""),
    ("forget_rougeL", "Forget ROUGE-L", "eval", ("forget", "rougeL_recall"), "lower", ""),
    (
        "forget_truth_ratio",
        "Forget truth ratio",
        "eval",
        ("forget", "truth_ratio"),
        None,
        "mean of min(R, 1/R), R = p(perturbed) / p(paraphrased): 1 = no preference for the true answer",
    ),
    ("retain_prob", "Retain prob", "eval", ("retain", "prob"), "higher", ""),
    ("retain_rougeL", "Retain ROUGE-L", "eval", ("retain", "rougeL_recall"), "higher", ""),
    ("uq_custom", "UQ", "eval", ("forget", "uq"), "higher", ""),
    ("rq_custom", "RQ", "eval", ("retain", "rq"), "higher", ""),
    ("uq_offline", "UQ (offline proxy)", "eval", ("offline_judge", "uq"), "higher", ""),
    ("rq_offline", "RQ (offline proxy)", "eval", ("offline_judge", "rq"), "higher", ""),
    ("uq_llm", "UQ (LLM judge)", "eval", ("llm_judge", "forget", "uq"), "higher", ""),
    ("rq_llm", "RQ (LLM judge)", "eval", ("llm_judge", "retain", "rq"), "higher", ""),
    (
        "mia_loss_auc",
        "MIA AUC (loss)",
        "eval",
        ("mia_auc", "loss"),
        None,
        "forget vs held-out items by loss: 0.5 = like unseen data (the oracle's level); near 0 = the forget set now "
        "looks less familiar than unseen data (over-forgetting), near 1 = still memorised",
    ),
    ("knowmem_forget", "KnowMem forget", "eval", ("knowmem_forget",), "lower", ""),
    ("knowmem_retain", "KnowMem retain", "eval", ("knowmem_retain",), "higher", ""),
    ("verbmem_forget", "VerbMem forget", "eval", ("verbmem_forget",), "lower", ""),
    (
        "privleak",
        "PrivLeak (0 = like the oracle)",
        "eval",
        ("privleak",),
        None,
        "relative Min-40% AUC gap to the retain oracle, in percent: 0 = like the oracle, negative = over-forgetting",
    ),
    ("min_k_auc", "Min-40% AUC", "eval", ("min_k_auc",), None, ""),
    ("wmdp_forget", "WMDP accuracy, forget fold", "eval", ("wmdp_forget_accuracy",), "lower", ""),
    ("wmdp_retain", "WMDP accuracy, retain fold", "eval", ("wmdp_retain_accuracy",), "higher", ""),
    ("wmdp_bio", "WMDP-bio accuracy", "eval", ("wmdp_bio_accuracy",), "lower", ""),
    ("wmdp_cyber", "WMDP-cyber accuracy", "eval", ("wmdp_cyber_accuracy",), "lower", ""),
    ("nll_after_forget", "Forget NLL after", "run", ("nll_after", "forget"), None, ""),
    ("nll_after_retain", "Retain NLL after", "run", ("nll_after", "retain"), None, ""),
    ("steps", "Steps", "run", ("steps",), None, ""),
]
# generation groups of SUMMARY.json's "generation" section shown in the report, and their side
GENERATION_GROUPS = (("forget", "forget", "forget questions"), ("out_of_scope", "retain", "out-of-scope questions"))


def registry_metrics() -> list[tuple[str, str, str, tuple[str, ...], str | None, str]]:
    """One row per registered generation metric and group (tru.evaluate.registry): a metric registered
    there appears here, in SUMMARY.json and in the report without another edit."""
    from tru.evaluate.registry import metrics_for

    return [
        (
            f"{group}.{m.name}",
            f"{m.label} ({words})",
            "eval",
            ("generation", group, m.name),
            m.direction(side),
            m.reading,
        )
        for group, side, words in GENERATION_GROUPS
        for m in metrics_for(side)
    ]


def all_metrics() -> list[tuple[str, str, str, tuple[str, ...], str | None, str]]:
    return registry_metrics() + METRICS


# what the attack table and figure read per variant (forget side); the figure plots the first
ATTACK_METRICS = ("fact_leak", "refusal", "rougeL_recall", "uq")
# out-of-scope questions under the same attack (tru attack --retain-queries): read as "retain_<metric>"
ATTACK_RETAIN_METRICS = ("answered",)


@dataclass
class MethodInput:
    name: str
    run_dir: Path | None
    eval_dir: Path | None
    attack_dir: Path | None = None


@dataclass
class MethodRow:
    name: str
    method: str
    inputs: MethodInput
    metrics: dict[str, float | None] = field(default_factory=dict)
    intervals: dict[str, dict] = field(default_factory=dict)  # metric key -> {value, low, high, n}
    # "attack/variant" -> metric -> {"after": interval, "delta": interval}
    attacks: dict[str, dict[str, dict]] = field(default_factory=dict)
    attack_answers: dict[str, list[dict[str, str]]] = field(default_factory=dict)  # "attack/variant" -> answers
    losses: dict[str, tuple[list[int], list[float]]] = field(default_factory=dict)
    examples: dict[str, list[dict[str, str]]] = field(default_factory=dict)  # side -> [{question, reasoning, answer}]
    offline_label: str = ""
    limit: int = 0  # the evaluation's --limit (0: every item)
    leak_keys: str = ""  # how the evaluation found the facts whose leakage it measured
    per_item: dict[str, list] = field(default_factory=dict)  # registry metric key -> per-item values (EVAL.json)


def parse_runs(runs: dict[str, str]) -> list[MethodInput]:
    """{"tru": "RUN_DIR,EVAL_DIR[,ATTACK_DIR]"} -> inputs; empty parts mean "not given"."""
    inputs = []
    for name, spec in runs.items():
        if not name:
            raise ConfigError(f"--runs '={spec}': the method name is empty")
        parts = [p.strip() for p in str(spec).split(",")]
        if len(parts) > 3:
            raise ConfigError(f"--runs {name}={spec}: expected RUN_DIR,EVAL_DIR[,ATTACK_DIR]")
        parts += [""] * (3 - len(parts))
        run, ev, att = (Path(p) if p else None for p in parts)
        if run is None and ev is None:
            raise ConfigError(f"--runs {name}={spec}: give a run folder, an evaluation folder or both")
        inputs.append(MethodInput(name, run, ev, att))
    return inputs


def _read_text(path: Path) -> str:
    if not path.is_file():
        raise InputError(path, "file not found")
    return read_text_file(path)


def read_json(path: Path) -> dict:
    """A JSON object the commands wrote (summary, evaluation, settings)."""
    try:
        data = json.loads(_read_text(path))
    except json.JSONDecodeError as exc:
        raise InputError(path, f"not valid JSON ({exc.msg})", line=exc.lineno) from None
    if not isinstance(data, dict):
        raise InputError(
            path, f"expected a JSON object, got a JSON {json_kind(data)}", hint="give the folder the tru command wrote"
        )
    return data


def _folder(path: Path, what: str) -> Path:
    if not path.is_dir():
        raise InputError(path, f"{what} folder not found")
    return path


def _dig(data: Any, path: tuple[str, ...]) -> Any:
    for key in path:
        if not isinstance(data, dict) or key not in data:
            return None
        data = data[key]
    return data


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return None if isinstance(value, float) and not math.isfinite(value) else value


def read_losses(path: Path) -> dict[str, tuple[list[int], list[float]]]:
    """loss and every term/<name> against step; a torn last line (crashed run) is skipped."""
    curves: dict[str, tuple[list[int], list[float]]] = {}
    lines = _read_text(path).splitlines()
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError:
            if number == len(lines):
                break
            raise InputError(path, "not valid JSON", line=number) from None
        if not isinstance(row, dict):
            raise InputError(path, f"expected a JSON object, got a JSON {json_kind(row)}", line=number)
        step = row.get("step")
        if not isinstance(step, int):
            continue
        for key, value in row.items():
            if (key == "loss" or key.startswith("term/")) and _number(value) is not None:
                name = key.removeprefix("term/")
                steps, values = curves.setdefault(name, ([], []))
                steps.append(step)
                values.append(float(value))
    return curves


# variants that measure a reference rather than an attack: the relearning attack's "original" is the
# model before unlearning on the held-out items (its recovered share lives in the "relearned" variant)
REFERENCE_VARIANTS = {("relearn", "original")}


def _interval(value: Any) -> dict | None:
    """An aggregate {value, low, high, n} (as SUMMARY.json writes them), or a bare number as older files hold."""
    if isinstance(value, dict) and "value" in value:
        return value if _number(value.get("value")) is not None else None
    number = _number(value)
    return None if number is None else {"value": number, "low": None, "high": None, "n": None}


def read_attacks(summary: dict, path: Path) -> dict[str, dict[str, dict]]:
    attacks = summary.get("attacks")
    if not isinstance(attacks, dict):
        raise InputError(path, "no 'attacks' block", field="attacks")
    rows: dict[str, dict[str, dict]] = {}
    for attack, variants in attacks.items():
        if not isinstance(variants, dict):
            continue
        for variant, sides in variants.items():
            if (attack, variant) in REFERENCE_VARIANTS:
                continue
            forget = sides.get("forget") if isinstance(sides, dict) else None
            if not isinstance(forget, dict):
                continue
            measured = _attack_measures(forget, ATTACK_METRICS)
            retain = sides.get("retain")
            if isinstance(retain, dict):
                measured.update({f"retain_{m}": v for m, v in _attack_measures(retain, ATTACK_RETAIN_METRICS).items()})
            if measured:
                rows[f"{attack}/{variant}"] = measured
    return rows


def _attack_measures(side: dict, names: tuple[str, ...]) -> dict[str, dict]:
    measured = {}
    for m in names:
        body = side.get(m)
        delta = _interval(body.get("delta")) if isinstance(body, dict) else None
        if delta is not None:
            measured[m] = {
                "delta": delta,
                "after": _interval(body.get("after")),
                "before": _interval(body.get("before")),
            }
    return measured


# the EVAL.json splits whose per-item generation metrics make up each group of SUMMARY.json, in order
GROUP_SPLITS = {"forget": ("forget",), "out_of_scope": ("retain", "real_authors", "world_facts")}


def read_generation_items(evaluation: dict) -> dict[str, list]:
    """Per-item values of the registered generation metrics, pooled per group as the summary pools them,
    so that two models evaluated on the same items can be compared item by item (a paired interval)."""
    metrics = evaluation.get("metrics") if isinstance(evaluation, dict) else None
    out: dict[str, list] = {}
    if not isinstance(metrics, dict):
        return out
    for group, splits in GROUP_SPLITS.items():
        for split in splits:
            values = _dig(metrics, (split, "generation"))
            if not isinstance(values, dict):
                continue
            for name, per_item in values.items():
                if isinstance(per_item, list):
                    out.setdefault(f"{group}.{name}", []).extend(per_item)
    return out


def read_attack_answers(attack_json: dict, count: int) -> dict[str, list[dict[str, str]]]:
    """The first answers of every attack variant (query, answer), from ATTACK.json."""
    blocks = attack_json.get("blocks", {}) if isinstance(attack_json, dict) else {}
    out = {}
    for attack, variants in blocks.items() if isinstance(blocks, dict) else ():
        if attack.startswith("_") or not isinstance(variants, dict):
            continue
        for variant, body in variants.items():
            if not isinstance(body, dict):
                continue
            texts = body.get("generations")
            if not isinstance(texts, list):
                forget = body.get("forget")
                texts = forget.get("generations") if isinstance(forget, dict) else None
            if isinstance(texts, dict):
                texts = texts.get("text")
            if not isinstance(texts, list):
                continue
            queries = body.get("queries") if isinstance(body.get("queries"), list) else [""] * len(texts)
            out[f"{attack}/{variant}"] = [
                {"question": str(q or ""), "answer": str(a or "")} for q, a in list(zip(queries, texts))[:count]
            ]
    return out


def read_examples(eval_json: dict, count: int) -> dict[str, list[dict[str, str]]]:
    blocks = eval_json.get("blocks", eval_json) if isinstance(eval_json, dict) else {}
    out: dict[str, list[dict[str, str]]] = {}
    for side in ("forget", "retain"):
        gen = blocks.get(f"{side}/generations") if isinstance(blocks, dict) else None
        if not isinstance(gen, dict):
            continue
        answers = gen.get("answer") or gen.get("text") or []
        reasoning = gen.get("reasoning") or [""] * len(answers)
        questions = gen.get("question") or [""] * len(answers)  # evaluations before questions were kept
        out[side] = [
            {"question": str(q or ""), "reasoning": str(r or ""), "answer": str(a or "")}
            for q, r, a in list(zip(questions, reasoning, answers))[:count]
        ]
    return out


def collect_method(spec: MethodInput, examples: int = 3) -> MethodRow:
    sources: dict[str, dict] = {"eval": {}, "run": {}}
    row = MethodRow(spec.name, spec.name, spec)
    if spec.run_dir is not None:
        run = _folder(spec.run_dir, "run")
        config = read_json(run / "config.json")
        sources["run"] = read_json(run / "summary.json")
        row.method = str(_dig(config, ("recipe", "method")) or sources["run"].get("method") or spec.name)
        row.losses = read_losses(run / "losses.jsonl")
    if spec.eval_dir is not None:
        ev = _folder(spec.eval_dir, "evaluation")
        sources["eval"] = read_json(ev / "SUMMARY.json")
        evaluation = read_json(ev / "EVAL.json")
        row.examples = read_examples(evaluation, examples) if examples else {}
        limit = _dig(evaluation, ("identity", "limit"))
        row.limit = limit if isinstance(limit, int) and not isinstance(limit, bool) else 0
        row.per_item = read_generation_items(evaluation)
        row.leak_keys = str(sources["eval"].get("fact_leak_keys") or "")
        row.offline_label = str(_dig(sources["eval"], ("offline_judge", "label")) or "")
    if spec.attack_dir is not None:
        att = _folder(spec.attack_dir, "attack")
        row.attacks = read_attacks(read_json(att / "SUMMARY.json"), att / "SUMMARY.json")
        if examples and (att / "ATTACK.json").is_file():
            row.attack_answers = read_attack_answers(read_json(att / "ATTACK.json"), max(examples, 1))
    for key, _, source, path, _, _ in all_metrics():
        found = _interval(_dig(sources[source], path))
        if found is not None and found["n"] is None:  # a bare number: its interval, when written, is beside it
            found = (
                _interval(_dig(sources[source], ("intervals", ".".join(path))))
                or _interval(_dig(sources[source], (*path[:-1], "intervals", path[-1])))
                or found
            )
        row.metrics[key] = None if found is None else found["value"]
        if found is not None and found["n"] is not None:
            row.intervals[key] = found
    return row


def collect(inputs: list[MethodInput], examples: int = 3) -> list[MethodRow]:
    return [collect_method(spec, examples) for spec in inputs]


def shown_metrics(rows: list[MethodRow]) -> list[tuple[str, str, str | None, str]]:
    """(key, label, better, reading) for the metrics at least one method has."""
    return [
        (key, label, better, reading)
        for key, label, _, _, better, reading in all_metrics()
        if any(r.metrics.get(key) is not None for r in rows)
    ]


def contenders(rows: list[MethodRow]) -> list[MethodRow]:
    """The rows that compete for "best": the unlearned models (rows with a run directory), or every row
    when fewer than two have one. The model before unlearning and the retain oracle are references."""
    unlearned = [r for r in rows if r.inputs.run_dir]
    return unlearned if len(unlearned) >= 2 else rows


def best_values(rows: list[MethodRow]) -> dict[str, float]:
    """metric key -> best value among the contenders (only for metrics with a direction and >= 2
    distinct values)."""
    best = {}
    for key, _, better, _ in shown_metrics(rows):
        values = [r.metrics[key] for r in contenders(rows) if r.metrics.get(key) is not None]
        if better and len(values) >= 2 and min(values) != max(values):  # a tie everywhere marks nothing
            best[key] = max(values) if better == "higher" else min(values)
    return best
