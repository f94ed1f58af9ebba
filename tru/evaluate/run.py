"""`tru eval`: resumable evaluation writing EVAL.json (per-item values) and SUMMARY.json."""

from __future__ import annotations

import math
import time
from pathlib import Path

from tru.core.errors import ConfigError, TruError
from tru.core.files import write_json
from tru.core.processes import is_main_process
from tru.core.run_lock import RunLock
from tru.core.settings import RECORDED_WHEN_SET, config_dict
from tru.data.formatting import ChatFormatter
from tru.evaluate.benchmarks import BENCHMARKS, Benchmark
from tru.evaluate.config import EvalConfig
from tru.evaluate.qa_blocks import EvalModel
from tru.evaluate.store import MODEL_FINGERPRINT, EvalStore
from tru.modeling.fingerprint import model_fingerprint
from tru.modeling.models import ModelSettings, load_model, load_tokenizer, resolve_device, resolve_model_path

IDENTITY_KEYS = (
    "model",
    "benchmark",
    "tofu",
    "forget_split",
    "muse",
    "wmdp",
    "forget",
    "retain",
    "limit",
    "max_new_tokens",
    "max_length",
    "dtype",
)


def default_out(config: EvalConfig) -> Path:
    if config.out:
        return Path(config.out).expanduser()
    resolve_model_path(config.model)  # a model that does not exist is said first, before --out
    if (Path(config.model).expanduser() / "model").is_dir():
        return Path(config.model).expanduser() / "eval" / config.benchmark
    raise ConfigError("--out is required unless --model is a tru run directory")


class JudgeIncomplete(TruError):
    """Some answers got no verdict because judge requests failed (exit status 1); a rerun asks for them."""

    exit_code = 1


def eval_identity(config: EvalConfig) -> dict:
    """What every block of the evaluation depends on: its settings and the model's weights fingerprint."""
    # the column names and --scorer enter only when set (config_dict leaves them out otherwise), as wmdp_subject
    identity = {k: v for k, v in config_dict(config).items() if k in IDENTITY_KEYS or k in RECORDED_WHEN_SET}
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
    benchmark = BENCHMARKS[config.benchmark]
    out = default_out(config)
    resolve_model_path(config.model)
    data = benchmark.load(config)
    if config.retain_eval and benchmark.check_retain_eval:  # read before anything runs: a bad one costs nothing
        benchmark.check_retain_eval(config.retain_eval)
    if not is_main_process():
        return out
    lock = RunLock(out, "tru eval")
    lock.check_free()  # a second evaluation into the same folder is refused before anything is read or written
    store = EvalStore(out / "EVAL.json", eval_identity(config), overwrite=config.overwrite)
    with lock:
        return _evaluate_into(config, benchmark, out, data, store, log)


def _evaluate_into(config: EvalConfig, benchmark: Benchmark, out: Path, data, store: EvalStore, log) -> Path:

    tokenizer = load_tokenizer(config.model, trust_remote_code=config.trust_remote_code)
    model = load_model(ModelSettings(name=config.model, dtype=config.dtype, trust_remote_code=config.trust_remote_code))
    model.to(resolve_device(config.device))
    em = EvalModel(
        model=model,
        tokenizer=tokenizer,
        formatter=ChatFormatter(tokenizer, config.max_length),
        batch_size=config.batch_size,
        max_new_tokens=config.max_new_tokens,
    )
    started = time.time()
    log(f"tru eval: {config.benchmark} on {config.model} -> {out}")
    item_metrics, summary = benchmark.run(config, em, data, store, log)
    if item_metrics is not None:
        _finish_qa(config, data, store, item_metrics, summary)
    summary = {
        "benchmark": config.benchmark,
        "model": config.model,
        **summary,
        "seconds": round(time.time() - started, 2),
        "reused_blocks": store.reused,
    }
    write_json(out / "SUMMARY.json", summary)
    log(format_summary(summary))
    unanswered = _unanswered(store)
    if unanswered:
        raise JudgeIncomplete(
            f"the LLM judge gave no verdict on {len(unanswered)} answer(s) (first: "
            f"{unanswered[0]}); the verdicts it gave are cached: fix the cause and rerun "
            f"to ask for the rest"
        )
    return out


def _finish_qa(config: EvalConfig, data: dict, store: EvalStore, item_metrics: dict, summary: dict) -> None:
    """The LLM judge (when asked) on QA answers, then the per-item metrics and the finished mark."""
    if config.judge in ("llm", "both"):
        summary["llm_judge"] = _run_llm_judge(config, data, store, item_metrics)
    store.data["metrics"] = item_metrics
    if _unanswered(store):  # not finished: a rerun asks the judge again for what it did not answer
        store.drop("_finished")
    else:
        store.put("_finished", True)


def _run_llm_judge(config: EvalConfig, data: dict, store: EvalStore, item_metrics: dict) -> dict:
    """Judge forget and retain answers. Each side's verdicts are one stored block, labelled with the
    judge that gave them and reused only for that judge; a side where requests failed is not stored (the
    replies that came are in the judge's reply cache, so a rerun asks only for the rest)."""
    from tru.evaluate.llm_judge import LLMJudge, judge_summary
    from tru.llm.client import ChatClient

    client = ChatClient(
        config.judge_url,
        config.judge_model,
        api_key_env=config.judge_key_env,
        api_key_file=config.judge_key_file or None,
        cache_dir=store.path.parent / "judge_cache",
        max_concurrency=config.judge_concurrency,
    )
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


def _fmt(value) -> str:
    if isinstance(value, dict) and "value" in value and "n" in value:  # an aggregate with its interval
        if value["value"] is None:
            return f"n/a ({value.get('missing', 'no value')})"
        return f"{_fmt(value['value'])} [{_fmt(value['low'])}, {_fmt(value['high'])}] n={value['n']}"
    if isinstance(value, float):
        return "n/a" if math.isnan(value) else f"{value:.4g}"
    return "n/a" if value is None else str(value)


def format_summary(summary: dict, prefix: str = "") -> str:
    """An indented key/value table of the summary; an aggregate is one line with its interval and n."""
    lines = []
    for key, value in summary.items():
        if key in ("reused_blocks", "intervals"):
            continue
        if isinstance(value, dict) and not ("value" in value and "n" in value):
            lines.append(f"{prefix}{key}:")
            lines.append(format_summary(value, prefix + "  "))
        else:
            lines.append(f"{prefix}{key:28s} {_fmt(value)}" if prefix else f"{key:30s} {_fmt(value)}")
    return "\n".join(lines)
