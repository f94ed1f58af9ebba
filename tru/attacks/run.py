"""`tru attack`: run attacks on an unlearned model; write ATTACK.json and SUMMARY.json.

ATTACK.json (an EvalStore, resumable): ``identity`` (the settings that determine the results and the
weights fingerprints of the attacked and the original model) and
``blocks``: the model-facing measurements (``baseline/...``, ``ATTACK/VARIANT/...``) and, per
finished attack, a block named after the attack holding per variant and side the per-item
before/after/delta values, the aggregates and the generations. A rerun reuses every finished block.
SUMMARY.json: per attack, variant and side the aggregated before/after/delta of every metric.
"""

from __future__ import annotations

import math
import time
from pathlib import Path

from tru.attacks.base import AttackContext, summary_of
from tru.attacks.config import AttackConfig
from tru.attacks.from_eval import FinishedEval, seed_store
from tru.attacks.registry import ATTACKS
from tru.attacks.sources import read_raw_rows
from tru.core.errors import ConfigError, InputError
from tru.core.files import write_json
from tru.core.run_lock import RunLock
from tru.core.settings import config_dict
from tru.data.formatting import ChatFormatter
from tru.data.specs import load_items, read_source_table
from tru.evaluate.qa_blocks import EvalModel, store_generations
from tru.evaluate.store import FINGERPRINT, MODEL_FINGERPRINT, EvalStore, read_results
from tru.modeling.fingerprint import model_fingerprint
from tru.modeling.models import ModelSettings, load_model, load_tokenizer, resolve_device, resolve_model_path

# settings that do not change any result (reused evaluations hold what the attack would measure itself;
# the translating endpoint enters the identity as `translator`, without credentials)
NOT_IN_IDENTITY = {
    "out",
    "overwrite",
    "attacks",
    "batch_size",
    "device",
    "translate_url",
    "translate_model",
    "translate_key_env",
    "translate_key_file",
    "trust_remote_code",
    "reuse_eval",
    "original_eval",
}


def default_out(config: AttackConfig) -> Path:
    if config.out:
        return Path(config.out).expanduser()
    resolve_model_path(config.model)  # a model that does not exist is said first, before --out
    if (Path(config.model).expanduser() / "model").is_dir():
        return Path(config.model).expanduser() / "attack" / config.benchmark
    raise ConfigError("--out is required unless --model is a tru run directory")


def load_attack_data(config: AttackConfig) -> tuple[dict, dict]:
    """(items per side, raw forget records for translation fields)."""
    limit = config.limit or None
    if config.benchmark == "tofu":
        from tru.data.tofu import HOLDOUT_FOR_FORGET, load_tofu

        if config.forget_split not in HOLDOUT_FOR_FORGET:
            raise ConfigError(
                f"unknown TOFU forget split '{config.forget_split}'; choose forget01, forget05 or forget10"
            )
        # the same splits as tru eval: forgetNN_perturbed (with paraphrased questions), retain_perturbed
        forget_split = f"{config.forget_split}_perturbed"
        data = {
            "forget": load_tofu(config.tofu, forget_split)[:limit],
            "retain": load_tofu(config.tofu, "retain_perturbed")[:limit],
        }
        local = Path(config.tofu).expanduser() / f"{forget_split}.jsonl"
        raw = {"forget": read_raw_rows(local)[:limit] if local.is_file() else []}
        return data, raw
    data = {"forget": load_items(config.forget, config.tofu, config.columns())[:limit]}
    table = read_source_table(config.forget)  # a CSV, parquet or hf: source: its rows hold the same fields
    raw = {"forget": (table.rows if table else read_raw_rows(config.forget))[:limit]}
    if config.retain:
        data["retain"] = load_items(config.retain, config.tofu, config.columns())[:limit]
    for side, items in data.items():
        if not items or not all(hasattr(x, "question") for x in items):
            raise ConfigError(f"--{side} must hold QA items (question/answer) for the custom benchmark")
    return data, raw


def attack_identity(config: AttackConfig) -> dict:
    """What the stored blocks depend on: the settings, the weights fingerprint of the attacked model and
    of the original model (relearning reference), and the endpoint that translates missing queries."""
    from tru.llm.client import public_url

    identity = {k: v for k, v in config_dict(config).items() if k not in NOT_IN_IDENTITY}
    if not config.retain_queries:  # only when set, so that the identity of earlier runs stays as it was
        identity.pop("retain_queries")
    if config.translate_url:  # only when set, so that the identity of other runs stays as it was
        identity["translator"] = {"endpoint": public_url(config.translate_url), "model": config.translate_model}
    identity[MODEL_FINGERPRINT] = model_fingerprint(config.model)
    if config.original_model:
        identity["original_model" + FINGERPRINT] = model_fingerprint(config.original_model)
    return identity


def _check_same_weights(donor: FinishedEval, fingerprint: str, model: str, option: str) -> None:
    """FinishedEval recognises the model by its path; the evaluation must also have measured its weights."""
    if read_results(donor.path)["identity"].get(MODEL_FINGERPRINT) != fingerprint:
        raise InputError(
            donor.path,
            f"was measured on other weights than the model at {model} holds now (it "
            "changed since, or the evaluation records no weights fingerprint)",
            hint=f"evaluate it again with tru eval --overwrite, or drop {option}",
        )


def attack(config: AttackConfig, log=print) -> Path:
    """Run the attacks; returns the output folder. Finished blocks of an earlier run are reused."""
    config.validate()
    names = config.attack_names()
    out = default_out(config)
    resolve_model_path(config.model)
    data, raw = load_attack_data(config)
    identity = attack_identity(config)
    lock = RunLock(out, "tru attack")
    lock.check_free()  # a second attack run into the same folder is refused before anything is read or written
    store = EvalStore(
        out / "ATTACK.json",
        identity,
        overwrite=config.overwrite,  # checks, writes nothing yet
        what="attack",
    )
    tokenizer = load_tokenizer(config.model, trust_remote_code=config.trust_remote_code)
    em = EvalModel(
        model=None,
        tokenizer=tokenizer,
        formatter=ChatFormatter(tokenizer, config.max_length),
        batch_size=config.batch_size,
        max_new_tokens=config.max_new_tokens,
    )
    ctx = AttackContext(config=config, em=em, data=data, raw=raw, store=store, out=out, log=log)
    attacks = [ATTACKS[name]() for name in names]
    for a in attacks:  # every check runs before anything is written
        a.check(ctx)
    donor = None
    if config.reuse_eval:
        donor = FinishedEval(config.reuse_eval, config.model, config, "--reuse-eval")
        _check_same_weights(donor, identity[MODEL_FINGERPRINT], config.model, "--reuse-eval")
    if config.original_eval and "relearn" in names:
        original = FinishedEval(config.original_eval, config.original_model, config, "--original-eval")
        _check_same_weights(
            original, identity["original_model" + FINGERPRINT], config.original_model, "--original-eval"
        )
        ctx.prepared["original_eval"] = original
    with lock:
        return _run_attacks(config, ctx, attacks, donor, log)


def _run_attacks(config: AttackConfig, ctx: AttackContext, attacks: list, donor, log) -> Path:
    store, data, em, out, names = ctx.store, ctx.data, ctx.em, ctx.out, config.attack_names()
    started = time.time()
    log(f"tru attack: {', '.join(names)} on {config.model} ({len(data['forget'])} forget items) -> {out}")
    results = {}
    unfinished = [a for a in attacks if not store.has(a.name)]
    # every generation block the unfinished attacks need (baselines, attacked queries)
    requests = {
        key: q for a in unfinished if hasattr(a, "generation_requests") for key, q in a.generation_requests(ctx).items()
    }
    if donor is not None and unfinished:
        weight_attack = any(getattr(a, "uses_baseline_answers", False) for a in unfinished)
        sides = {side: [x.question for x in items] for side, items in data.items()} if weight_attack else {}
        copied = seed_store(store, donor, requests, sides, log)
        if copied:
            store.put("_copied_from_eval", {"eval": str(donor.path), "blocks": copied})
    if unfinished:
        em.model = load_model(
            ModelSettings(name=config.model, dtype=config.dtype, trust_remote_code=config.trust_remote_code)
        )
        em.model.to(resolve_device(config.device))
        em.model.eval()
        pending = {key: q for key, q in requests.items() if not store.has(key)}  # in one batched run
        if pending:
            log(
                f"  generating {sum(map(len, pending.values()))} answers ({len(pending)} blocks) in one batched run ..."
            )
            store_generations(store, em, pending)
    for a in attacks:
        if store.has(a.name):
            log(f"  {a.name}: reused")
        attack_started = time.time()
        results[a.name] = store.compute(
            a.name, lambda a=a: {**a.run(ctx), "seconds": round(time.time() - attack_started, 2)}
        )
    summary = {
        "benchmark": config.benchmark,
        "model": config.model,
        "items": {side: len(items) for side, items in data.items()},
        "attacks": {name: {**summary_of(result), "seconds": result.get("seconds")} for name, result in results.items()},
        "seconds": round(time.time() - started, 2),
        "reused_blocks": store.reused,
        "copied_from_eval": store.get("_copied_from_eval") if store.has("_copied_from_eval") else None,
    }
    store.put("_finished", True)
    write_json(out / "SUMMARY.json", summary)
    log(format_table(summary))
    return out


def _fmt(value) -> str:
    if isinstance(value, dict):  # an aggregate with its interval: the value here, the interval in SUMMARY.json
        value = value.get("value")
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "n/a"
    return (
        f"{value:+.4f}"
        if isinstance(value, float) and value < 0
        else (f"{value:.4f}" if isinstance(value, float) else str(value))
    )


def format_table(summary: dict) -> str:
    """One row per attack, variant, side and metric: before, after, delta."""
    lines = [f"{'attack':13s} {'variant':20s} {'side':7s} {'metric':19s} {'before':>9s} {'after':>9s} {'delta':>9s}"]
    lines.append("-" * len(lines[0]))
    for name, variants in summary["attacks"].items():
        for variant, sides in variants.items():
            if not isinstance(sides, dict):
                continue
            for side, metrics in sides.items():
                if side == "extra":
                    for key, value in metrics.items():
                        lines.append(f"{name:13s} {variant:20s} {'':7s} {key:39s} {_fmt(value):>9s}")
                    continue
                for metric, v in metrics.items():
                    lines.append(
                        f"{name:13s} {variant:20s} {side:7s} {metric:19s} {_fmt(v['before']):>9s} "
                        f"{_fmt(v['after']):>9s} {_fmt(v['delta']):>9s}"
                    )
    lines.append(
        f"({summary['seconds']} s; forget items: {summary['items'].get('forget')}, "
        f"retain items: {summary['items'].get('retain', 0)})"
    )
    return "\n".join(lines)
