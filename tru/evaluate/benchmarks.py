"""The benchmarks `tru eval` runs, one table entry each: what a benchmark needs, how it reads its data,
how it checks --retain-eval, and how it measures and summarises. Adding a benchmark is one entry."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from tru.core.errors import InputError
from tru.data.readers import read_json_object
from tru.evaluate import custom_suite, harness, muse_wmdp, retain_logs, tofu_suite
from tru.evaluate.config import EvalConfig
from tru.evaluate.qa_blocks import EvalModel
from tru.evaluate.store import EvalStore, read_results


@dataclass(frozen=True)
class Benchmark:
    name: str
    load: Callable[[EvalConfig], object]  # the data, read (and checked) before the model loads
    # measure into the store and summarise: (per-item metrics or None, summary)
    run: Callable[[EvalConfig, EvalModel, object, EvalStore, Callable], tuple[dict | None, dict]]
    needs: tuple[str, str] | None = None  # (setting, flag) this benchmark cannot run without
    qa: bool = False  # its answers are QA answers, which the LLM judge can score
    check_retain_eval: Callable[[str], None] | None = None  # reads --retain-eval before anything runs


def _tofu_run(config, em, data, store, log):
    tofu_suite.measure(em, data, store, log)
    item_metrics = tofu_suite.per_item_metrics(data, store)
    return item_metrics, tofu_suite.summarise(data, store, item_metrics, config.retain_eval or None)


def _check_tofu_retain_eval(path: str) -> None:
    folder = Path(path).expanduser()
    try:
        tofu_suite.load_retain_truth_ratios(str(folder))
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(
            folder,
            f"cannot be read ({getattr(exc, 'strerror', None) or exc})",
            hint=retain_logs.HINT,
        ) from None


def read_retain_summary(path: str) -> dict | None:
    """The MUSE retain model's SUMMARY.json (its Min-40% AUC is privleak's reference)."""
    if not path:
        return None
    file = Path(path).expanduser()
    file = file / "SUMMARY.json" if file.is_dir() else file.with_name("SUMMARY.json")
    hint = "run tru eval on the retain model first, and give its output folder"
    if not file.is_file():
        raise InputError(file, "retain model summary not found", hint=hint)
    summary = read_json_object(file, hint=hint)
    if not isinstance(summary.get("min_k_auc"), (int, float)):
        raise InputError(file, "holds no MUSE min_k_auc", field="min_k_auc", hint=hint)
    return summary


def read_retain_scores(path: str) -> tuple[dict | None, str]:
    """The MUSE retain model's per-item Min-40% scores from its EVAL.json (for privleak's paired
    interval), or None and why not: the interval is optional, so a missing or unreadable file is a reason
    written into the summary, not an error."""
    folder = Path(path).expanduser()
    file = folder / "EVAL.json" if folder.is_dir() else folder.with_name("EVAL.json")
    if not file.is_file():
        return None, f"{file} (the retain model's per-item scores) not found"
    try:
        blocks = read_results(file)["blocks"]
    except InputError as exc:
        return None, str(exc)
    scores = {side: _field(blocks.get(f"privleak_{side}"), "min_k") for side in ("forget", "holdout")}
    if not all(isinstance(v, list) and all(_is_number(x) for x in v) for v in scores.values()):
        return None, f"{file} holds no per-item Min-40% scores (blocks privleak_forget, privleak_holdout)"
    return scores, ""


def _field(block, name: str):
    return block.get(name) if isinstance(block, dict) else None


def _is_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and value == value


def _run_plan(plan, store: EvalStore, log) -> None:
    for key, compute in plan:
        log(f"  {key}: reused" if store.has(key) else f"  {key} ...")
        store.compute(key, compute)


def _muse_load(config):
    if not Path(config.muse).expanduser().is_dir():
        raise InputError(config.muse, "MUSE-News folder does not exist")
    return None


def _muse_run(config, em, _data, store, log):
    _run_plan(muse_wmdp.muse_plan(em, Path(config.muse).expanduser(), config.limit or None), store, log)
    retain = read_retain_summary(config.retain_eval)
    scores, why_not = read_retain_scores(config.retain_eval) if retain is not None else (None, "")
    return None, muse_wmdp.muse_summary(store, retain, scores, why_not)


HARNESS_TASKS = "harness_tasks"  # the folder under --out that --scorer harness writes its task YAMLs into


def _wmdp_files(config) -> list[str]:
    return [f for f in config.wmdp.split(",") if f]


def _wmdp_load(config):
    for file in _wmdp_files(config):
        if not Path(file).expanduser().exists():
            raise InputError(file, "WMDP file does not exist")
    return None


def _wmdp_run(config, em, _data, store, log):
    files, limit = _wmdp_files(config), config.limit or None
    for key in (f"wmdp_{Path(file).stem}" for file in files):
        if store.has(key) and store.get(key).get("prompt") != muse_wmdp.MCQ_PROMPT:
            log(f"  {key}: scored with tru's earlier WMDP prompt; scoring it again")
            store.drop(key)
    if config.scorer == "harness":
        plan = harness.harness_plan(em, files, limit, config.wmdp_subject, store.path.parent / HARNESS_TASKS)
    else:
        plan = muse_wmdp.wmdp_plan(em, files, limit, config.wmdp_subject)
    _run_plan(plan, store, log)
    return None, muse_wmdp.wmdp_summary(store)


BENCHMARKS: dict[str, Benchmark] = {
    b.name: b
    for b in (
        Benchmark(
            "tofu",
            lambda c: tofu_suite.load_tofu_eval_data(c.tofu, c.forget_split, c.limit or None),
            _tofu_run,
            qa=True,
            check_retain_eval=_check_tofu_retain_eval,
        ),
        Benchmark(
            "custom", custom_suite.load_data, custom_suite.measure_and_summarise, needs=("forget", "--forget"), qa=True
        ),
        Benchmark(
            "muse-news",
            _muse_load,
            _muse_run,
            needs=("muse", "--muse"),
            check_retain_eval=lambda path: read_retain_summary(path) and None,
        ),
        Benchmark("wmdp", _wmdp_load, _wmdp_run, needs=("wmdp", "--wmdp")),
    )
}
