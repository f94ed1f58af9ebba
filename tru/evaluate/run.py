"""`tru eval`: resumable evaluation writing EVAL.json (per-item values) and SUMMARY.json."""

from __future__ import annotations

import json
import math
import time
from pathlib import Path

from tru.config import EvalConfig, config_dict
from tru.data.formatting import ChatFormatter
from tru.data.specs import load_items
from tru.errors import ConfigError, InputError, TruError
from tru.evaluate import muse_wmdp, tofu_suite
from tru.evaluate.qa_blocks import EvalModel
from tru.evaluate.store import MODEL_FINGERPRINT, EvalStore
from tru.fingerprint import model_fingerprint
from tru.io import write_json
from tru.run_lock import RunLock
from tru.processes import is_main_process
from tru.models import ModelSettings, load_model, load_tokenizer, resolve_device, resolve_model_path

IDENTITY_KEYS = ("model", "benchmark", "tofu", "forget_split", "muse", "wmdp", "forget", "retain", "limit",
                 "max_new_tokens", "max_length", "dtype")


def default_out(config: EvalConfig) -> Path:
    if config.out:
        return Path(config.out).expanduser()
    if (Path(config.model).expanduser() / "model").is_dir():
        return Path(config.model).expanduser() / "eval" / config.benchmark
    raise ConfigError("--out is required unless --model is a tru run directory")


def _custom_data(config: EvalConfig) -> dict:
    data = {"forget": load_items(config.forget, config.tofu)}
    if config.retain:
        data["retain"] = load_items(config.retain, config.tofu)
    for role, items in data.items():
        if not all(hasattr(x, "question") for x in items):
            raise ConfigError(f"--{role} must hold QA items (question/answer) for the custom benchmark")
        if config.limit:
            data[role] = items[:config.limit]
    return data


def _load_data(config: EvalConfig):
    if config.benchmark == "tofu":
        return tofu_suite.load_tofu_eval_data(config.tofu, config.forget_split, config.limit or None)
    if config.benchmark == "custom":
        return _custom_data(config)
    if config.benchmark == "muse-news" and not Path(config.muse).expanduser().is_dir():
        raise InputError(config.muse, "MUSE-News folder does not exist")
    for file in filter(None, config.wmdp.split(",")):
        if not Path(file).expanduser().exists():
            raise InputError(file, "WMDP file does not exist")
    return None


class JudgeIncomplete(TruError):
    """Some answers got no verdict because judge requests failed (exit status 1); a rerun asks for them."""

    exit_code = 1


def _read_retain_summary(path: str) -> dict | None:
    if not path:
        return None
    file = Path(path).expanduser()
    file = file / "SUMMARY.json" if file.is_dir() else file.with_name("SUMMARY.json")
    hint = "run tru eval on the retain model first, and give its output folder"
    if not file.is_file():
        raise InputError(file, "retain model summary not found", hint=hint)
    try:
        summary = json.loads(file.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise InputError(file, f"invalid JSON ({exc.msg})", line=exc.lineno, hint=hint) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(file, f"cannot be read ({getattr(exc, 'strerror', None) or exc})", hint=hint) from None
    if not isinstance(summary, dict) or not isinstance(summary.get("min_k_auc"), (int, float)):
        raise InputError(file, "holds no MUSE min_k_auc", field="min_k_auc", hint=hint)
    return summary


def _check_retain_eval(config: EvalConfig) -> None:
    """Read the retain model's evaluation before anything runs, so a bad --retain-eval costs nothing."""
    if not config.retain_eval:
        return
    if config.benchmark == "tofu":
        path = Path(config.retain_eval).expanduser()
        try:
            tofu_suite.load_retain_truth_ratios(str(path))
        except (OSError, UnicodeDecodeError) as exc:
            raise InputError(path, f"cannot be read ({getattr(exc, 'strerror', None) or exc})",
                             hint="give the folder tru eval wrote for the retain model") from None
    elif config.benchmark == "muse-news":
        _read_retain_summary(config.retain_eval)


def eval_identity(config: EvalConfig) -> dict:
    """What every block of the evaluation depends on: its settings and the model's weights fingerprint."""
    identity = {k: v for k, v in config_dict(config).items() if k in IDENTITY_KEYS}
    if config.wmdp_subject:  # only when set, so that earlier evaluations keep their identity
        identity["wmdp_subject"] = config.wmdp_subject
    identity[MODEL_FINGERPRINT] = model_fingerprint(config.model)
    return identity


def evaluate(config: EvalConfig, log=print) -> Path:
    """Evaluate a model; returns the output folder. Finished blocks of an earlier run are reused.

    Started as several processes (accelerate launch, torchrun), only the first evaluates: the others
    check the settings and return, so nothing is computed or written twice.
    """
    config.validate()
    out = default_out(config)
    resolve_model_path(config.model)
    data = _load_data(config)
    _check_retain_eval(config)
    if not is_main_process():
        return out
    lock = RunLock(out, "tru eval")
    lock.check_free()  # a second evaluation into the same folder is refused before anything is read or written
    store = EvalStore(out / "EVAL.json", eval_identity(config), overwrite=config.overwrite)
    with lock:
        return _evaluate_into(config, out, data, store, log)


def _evaluate_into(config: EvalConfig, out: Path, data, store: EvalStore, log) -> Path:

    tokenizer = load_tokenizer(config.model, trust_remote_code=config.trust_remote_code)
    model = load_model(ModelSettings(name=config.model, dtype=config.dtype, trust_remote_code=config.trust_remote_code))
    model.to(resolve_device(config.device))
    em = EvalModel(model=model, tokenizer=tokenizer, formatter=ChatFormatter(tokenizer, config.max_length),
                   batch_size=config.batch_size, max_new_tokens=config.max_new_tokens)
    started = time.time()
    log(f"tru eval: {config.benchmark} on {config.model} -> {out}")
    if config.benchmark in ("tofu", "custom"):
        summary = _evaluate_qa(config, em, data, store, log)
    else:
        plan = (muse_wmdp.muse_plan(em, Path(config.muse).expanduser(), config.limit or None)
                if config.benchmark == "muse-news"
                else muse_wmdp.wmdp_plan(em, [f for f in config.wmdp.split(",") if f], config.limit or None,
                                         config.wmdp_subject))
        for key, compute in plan:
            log(f"  {key}: reused" if store.has(key) else f"  {key} ...")
            store.compute(key, compute)
        summary = (muse_wmdp.muse_summary(store, _read_retain_summary(config.retain_eval))
                   if config.benchmark == "muse-news" else muse_wmdp.wmdp_summary(store))
    summary = {"benchmark": config.benchmark, "model": config.model, **summary,
               "seconds": round(time.time() - started, 2), "reused_blocks": store.reused}
    write_json(out / "SUMMARY.json", summary)
    log(format_summary(summary))
    unanswered = _unanswered(store)
    if unanswered:
        raise JudgeIncomplete(f"the LLM judge gave no verdict on {len(unanswered)} answer(s) (first: "
                              f"{unanswered[0]}); the verdicts it gave are cached: fix the cause and rerun "
                              f"to ask for the rest")
    return out


def _evaluate_qa(config: EvalConfig, em: EvalModel, data: dict, store: EvalStore, log) -> dict:
    if config.benchmark == "tofu":
        tofu_suite.measure(em, data, store, log)
        item_metrics = tofu_suite.per_item_metrics(data, store)
        summary = tofu_suite.summarise(data, store, item_metrics, config.retain_eval or None)
    else:
        item_metrics, summary = custom_suite(em, data, store, log)
    if config.judge in ("llm", "both"):
        summary["llm_judge"] = _run_llm_judge(config, data, store, item_metrics)
    store.data["metrics"] = item_metrics
    if _unanswered(store):  # not finished: a rerun asks the judge again for what it did not answer
        store.drop("_finished")
    else:
        store.put("_finished", True)
    return summary


def _run_llm_judge(config: EvalConfig, data: dict, store: EvalStore, item_metrics: dict) -> dict:
    """Judge forget and retain answers. Each side's verdicts are one stored block, labelled with the
    judge that gave them and reused only for that judge; a side where requests failed is not stored (the
    replies that came are in the judge's reply cache, so a rerun asks only for the rest)."""
    from tru.evaluate.llm_judge import LLMJudge, judge_summary
    from tru.llm_client import ChatClient

    client = ChatClient(config.judge_url, config.judge_model, api_key_env=config.judge_key_env,
                        api_key_file=config.judge_key_file or None, cache_dir=store.path.parent / "judge_cache",
                        max_concurrency=config.judge_concurrency)
    judge = LLMJudge(client)
    report = {"label": "LLM judge", **judge.identity}
    with client:
        for side in ("forget", "retain"):
            if side not in data:
                continue
            answers = store.get(f"{side}/generations")["answer"]
            rows = [(x.question, x.answer, a) for x, a in zip(data[side], answers)]
            judged = _judge_side(store, judge, side, rows)
            item_metrics[side]["llm_judge"] = judged
            report[side] = judge_summary(judged, side)
        report["usage"] = client.usage.as_dict()
    return report


def _judge_side(store: EvalStore, judge, side: str, rows: list) -> list[dict]:
    """The side's verdicts: stored ones when this judge gave them all, else asked (cached replies are free)."""
    from tru.evaluate.llm_judge import unanswered

    key = f"{side}/llm_judge"
    stored = store.get(key) if store.has(key) else None
    if isinstance(stored, dict) and stored.get("judge") == judge.identity:
        return stored["verdicts"]
    verdicts = judge.judge_many(side, rows)
    if not unanswered(verdicts):
        store.put(key, {"judge": judge.identity, "verdicts": verdicts})
    return verdicts


def _unanswered(store: EvalStore) -> list[str]:
    """The errors of the judge requests that failed in this run (none without an LLM judge)."""
    from tru.evaluate.llm_judge import unanswered

    metrics = store.data.get("metrics", {})
    return [v["failure"] for side in metrics.values() for v in unanswered(side.get("llm_judge", []))]


def custom_suite(em: EvalModel, data: dict, store: EvalStore, log):
    from tru.evaluate import offline_judge, scope
    from tru.evaluate.qa_blocks import answer_block, store_generations
    from tru import metrics

    item_metrics, summary = {}, {}
    answers = {role: store.compute(f"{role}/answer", lambda i=items: answer_block(em, i)) for role, items in data.items()}
    generated = store_generations(store, em, {f"{role}/generations": [x.question for x in items]
                                              for role, items in data.items()})
    for role, items in data.items():
        answer, generations = answers[role], generated[f"{role}/generations"]
        rouge = metrics.rouge_scores(generations["answer"], [x.answer for x in items])
        judge = offline_judge.judge_forget if role == "forget" else offline_judge.judge_retain
        judged = [judge(x.question, x.answer, g) for x, g in zip(items, generations["text"])]
        item_metrics[role] = {"prob": metrics.probability(answer["nll"]).tolist(),
                              "rougeL_recall": rouge["rougeL_recall"], "offline_judge": judged}
        summary[role] = {"prob": sum(item_metrics[role]["prob"]) / len(items),
                         "rougeL_recall": sum(rouge["rougeL_recall"]) / len(items),
                         ("uq" if role == "forget" else "rq"): sum(j["uq" if role == "forget" else "rq"]
                                                                   for j in judged) / len(items)}
    forget_gen = store.get("forget/generations")
    leakage = scope.trace_leakage(forget_gen["reasoning"], [x.question for x in data["forget"]],
                                  [x.answer for x in data["forget"]])
    retain_answers = store.get("retain/generations")["answer"] if "retain" in data else []
    summary["scope"] = scope.scope_summary(forget_gen["answer"], retain_answers, leakage,
                                           [bool(r) for r in forget_gen["reasoning"]])
    return item_metrics, summary


def _fmt(value) -> str:
    if isinstance(value, float):
        return "n/a" if math.isnan(value) else f"{value:.4g}"
    return "n/a" if value is None else str(value)


def format_summary(summary: dict, prefix: str = "") -> str:
    """An indented key/value table of the summary."""
    lines = []
    for key, value in summary.items():
        if key in ("reused_blocks",):
            continue
        if isinstance(value, dict):
            lines.append(f"{prefix}{key}:")
            lines.append(format_summary(value, prefix + "  "))
        else:
            lines.append(f"{prefix}{key:28s} {_fmt(value)}" if prefix else f"{key:30s} {_fmt(value)}")
    return "\n".join(lines)
