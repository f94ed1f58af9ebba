"""`tru targets`: one reasoning-based unlearning target per forget item, with hygiene and a summary.

Round by round: the generator proposes a target for every pending item; hygiene (schema, length,
leakage, duplicates) accepts it or sends the item back for another attempt, up to ``--max-tries``.
The chat generators keep every reply in an on-disk cache as it arrives, so a rerun after a crash asks
only for what was not finished. The targets file is written atomically at the end; a summary
(items, accepted, regenerated, failed, rejections by kind, tokens) goes next to it in every case.
"""

from __future__ import annotations

import json
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from tru.core.errors import ConfigError, TruError
from tru.core.files import write_json, write_jsonl
from tru.data.records import Passage, QAItem, ReasoningTarget
from tru.data.specs import load_items, load_refusals, load_rtofu_targets
from tru.targets.config import TargetsConfig
from tru.targets.entities import recognise
from tru.targets.hygiene import Grounding, LeakRule, TargetReviewer, forget_facts
from tru.targets.jobs import Failed, TargetJob, Unreadable
from tru.targets.prompts import DEFAULT_FOR_TASK, build_prompt, feedback_note
from tru.targets.template import TemplateGenerator


class TargetsIncomplete(TruError):
    """Some items got no target (exit status 1); the summary lists them."""

    exit_code = 1


@dataclass
class Outcome:
    targets: dict[int, ReasoningTarget] = field(default_factory=dict)
    failures: dict[int, str] = field(default_factory=dict)
    rejections: Counter = field(default_factory=Counter)
    regenerated: int = 0  # items accepted after at least one rejection
    truncated: int = 0


@dataclass
class TargetsReport:
    """What `generate_targets` returns: the targets in forget order, the summary, where they went."""

    targets: list[ReasoningTarget]
    summary: dict
    out: Path | None
    summary_path: Path


def _build_jobs(items, config: TargetsConfig) -> list[TargetJob]:
    scope, jobs = config.scope.strip(), []
    for index, item in enumerate(items):
        if config.task == "qa":
            if not isinstance(item, QAItem):
                raise ConfigError(
                    f"--task qa needs QA items (question, answer); {config.forget} holds passages: use --task passage"
                )
            entity = recognise(item.question, "qa", config.entity)
            facts = forget_facts(item.answer, f"{item.question}\n{scope}\n{entity}")
            jobs.append(
                TargetJob(
                    index, item.question, entity, facts, item.id, grounding=Grounding(item.question, entity, scope)
                )
            )
        else:
            if not isinstance(item, Passage):
                raise ConfigError(
                    f"--task passage needs passages (records with 'text'); {config.forget} holds "
                    "QA items: use --task qa"
                )
            if not item.text.strip():
                raise ConfigError(
                    f"forget item {index + 1} of {config.forget} is an empty passage; "
                    "remove it (there is nothing to unlearn)"
                )
            entity = recognise(item.text, "passage", config.entity)
            jobs.append(TargetJob(index, item.text, entity, forget_facts(item.text, f"{scope}\n{entity}"), item.id))
    return jobs


def make_generator(config: TargetsConfig):
    """The generator the settings ask for (chat generators come with their cache)."""
    if config.generator == "template":
        return TemplateGenerator(config.scope, task=config.task, seed=config.seed)
    if config.generator == "rtofu":
        from tru.targets.generators import ImportedGenerator

        fallback = TemplateGenerator(config.scope, task=config.task, seed=config.seed)
        refusals = load_refusals(config.refusals) if config.refusals else None
        traces = load_rtofu_targets(config.rtofu, refusals or ["(replaced by a template refusal)"], config.seed)
        return ImportedGenerator(traces, config.rtofu, fallback, template_refusals=refusals is None)
    from tru.targets.generators import ChatGenerator

    prompt = build_prompt(config.prompt_set or DEFAULT_FOR_TASK[config.task], config.scope, config.prompt_file)
    params = {"temperature": config.temperature, "max_tokens": config.max_tokens}
    if config.generator == "openai":
        from tru.llm.client import ChatClient

        backend = ChatClient(
            config.base_url,
            config.model,
            api_key_env=config.api_key_env,
            api_key_file=config.api_key_file or None,
            cache_dir=config.cache_path(),
            max_concurrency=config.concurrency,
            max_retries=config.max_retries,
            timeout=config.timeout,
            backoff=config.retry_backoff,
        )
    else:
        from tru.llm.local_chat import LocalChat, LocalChatBackend
        from tru.modeling.fingerprint import model_fingerprint

        params["seed"] = config.seed
        chat = LocalChat(
            config.model, dtype=config.dtype, device=config.device, trust_remote_code=config.trust_remote_code
        )
        backend = LocalChatBackend(chat, cache_dir=config.cache_path())
        backend.model_fingerprint = model_fingerprint(config.model)  # a retrained model gets no old replies
    return ChatGenerator(config.generator, backend, prompt, params)


def run_jobs(jobs: list[TargetJob], generator, reviewer: TargetReviewer, max_tries: int) -> Outcome:
    """Propose, review and retry until every item has a target or has failed."""
    outcome = Outcome()
    base = generator.provenance
    pending = list(jobs)
    while pending:
        retry = []
        for job, proposal in zip(pending, generator.propose(pending)):
            if isinstance(proposal, Failed):
                outcome.failures[job.index] = proposal.reason
                continue
            if isinstance(proposal, Unreadable):
                kind, reason = "format", proposal.reason
            else:
                grounding = job.grounding if generator.checks_grounding else None
                review = reviewer.review(proposal.reasoning, proposal.refusal, job.facts, grounding)
                if review.accepted:
                    reviewer.accept(job.index, review)
                    outcome.targets[job.index] = _target(job, review, {**base, **proposal.provenance})
                    outcome.regenerated += job.attempt > 0
                    outcome.truncated += review.truncated
                    continue
                kind, reason = review.rejection.kind, review.rejection.reason
            outcome.rejections[kind] += 1
            job.attempt += 1
            if job.attempt >= max_tries:
                outcome.failures[job.index] = f"rejected {job.attempt} time(s); last: {kind}: {reason}"
                continue
            if generator.uses_feedback:
                job.feedback.append((job.last_reply, feedback_note(kind, reason)))
            retry.append(job)
        pending = retry
    return outcome


def _target(job: TargetJob, review, provenance: dict) -> ReasoningTarget:
    provenance = {**provenance, "attempts": job.attempt + 1, "entity": job.entity}
    if review.truncated:
        provenance["truncated"] = True
    return ReasoningTarget(
        question=job.prompt, reasoning=review.reasoning, refusal=review.refusal, provenance=provenance, id=job.item_id
    )


def _summary(config: TargetsConfig, jobs, outcome: Outcome, generator, seconds: float) -> dict:
    usage = generator.usage()
    base = generator.provenance
    failures = [
        {"item": i + 1, "id": jobs[i].item_id, "question": _excerpt(jobs[i].prompt), "reason": reason}
        for i, reason in sorted(outcome.failures.items())
    ]
    return {
        "items": len(jobs),
        "accepted": len(outcome.targets),
        "regenerated": outcome.regenerated,
        "failed": len(failures),
        "leakage_rejections": outcome.rejections["leak"],
        "rejections": {k: outcome.rejections[k] for k in ("leak", "grounding", "duplicate", "format", "schema")},
        "truncated": outcome.truncated,
        "tokens": {
            "used": usage.get("total_tokens", 0),
            "prompt": usage.get("prompt_tokens", 0),
            "completion": usage.get("completion_tokens", 0),
            "from_cache": usage.get("cached_prompt_tokens", 0) + usage.get("cached_completion_tokens", 0),
        },
        "requests": {k: usage[k] for k in ("requests", "attempts", "retries", "failures", "cache_hits") if k in usage},
        "generator": config.generator,
        "model": base.get("model"),
        "prompt_version": base.get("prompt_version"),
        "task": config.task,
        "scope": config.scope,
        "forget": config.forget,
        "seconds": round(seconds, 2),
        "out": config.out if not failures or config.allow_partial else None,
        "failures": failures,
    }


def _excerpt(text: str, limit: int = 80) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _input_files(config: TargetsConfig) -> dict[str, str]:
    """The files the run reads, by option."""
    files = {
        "--forget": "" if config.forget.startswith("tofu:") else config.forget,
        "--rtofu": config.rtofu,
        "--refusals": config.refusals,
        "--prompt-file": config.prompt_file,
        "--api-key-file": config.api_key_file,
    }
    return {option: value for option, value in files.items() if value}


def _same_file(a: Path, b: Path) -> bool:
    """Whether two paths name one file (through links too)."""
    try:
        if a.exists() and b.exists():
            return a.samefile(b)
    except OSError:
        pass
    return a.resolve() == b.resolve()


def _written_by_tru(path: Path) -> bool:
    """Whether ``path`` is a targets file that tru wrote (every record has a generator in its
    provenance), or empty: replacing it loses nothing that a run cannot write again."""
    try:
        with path.open(encoding="utf-8") as handle:
            for line in handle:
                if not line.strip():
                    continue
                record = json.loads(line)
                provenance = record.get("provenance") if isinstance(record, dict) else None
                if not (
                    isinstance(provenance, dict)
                    and provenance.get("generator")
                    and all(isinstance(record.get(k), str) for k in ("question", "reasoning", "refusal"))
                ):
                    return False
    except (OSError, ValueError):
        return False
    return True


def check_outputs(config: TargetsConfig) -> None:
    """Refuse, before anything runs, to write over an input, or over a file tru did not write."""
    out = Path(config.out).expanduser()
    for written in (out, config.summary_path()):
        for option, value in _input_files(config).items():
            if _same_file(written, Path(value).expanduser()):
                raise ConfigError(
                    f"--out {config.out} would write {written} over the {option} input {value}; choose another --out"
                )
    if out.exists() and not config.overwrite and not _written_by_tru(out):
        raise ConfigError(
            f"--out {out} exists and is not a targets file that tru wrote; choose another --out "
            "or pass --overwrite to replace it"
        )


def generate_targets(config: TargetsConfig) -> TargetsReport:
    """Write the targets file and its summary; raises ``TargetsIncomplete`` (after writing the summary)
    when items failed and ``allow_partial`` is off, and then writes no targets file."""
    config.validate()
    check_outputs(config)
    started = time.time()
    items = load_items(config.forget, config.tofu, config.columns())
    if not items:
        raise ConfigError("the forget set is empty")
    jobs = _build_jobs(items, config)
    generator = make_generator(config)
    reviewer = TargetReviewer(
        max_reasoning_words=config.max_reasoning_words,
        max_refusal_words=config.max_refusal_words,
        rule=LeakRule(word_cap=config.leak_words),
    )
    try:
        outcome = run_jobs(jobs, generator, reviewer, config.max_tries)
    finally:
        close = getattr(getattr(generator, "backend", None), "close", None)
        if close:
            close()
    targets = [outcome.targets[i] for i in sorted(outcome.targets)]
    summary = _summary(config, jobs, outcome, generator, time.time() - started)
    write_json(config.summary_path(), summary)
    complete = not outcome.failures
    out = Path(config.out).expanduser() if complete or config.allow_partial else None
    if out is not None:
        write_jsonl(out, [t.to_dict() for t in targets])
    print(_summary_line(summary, config), file=sys.stderr if out is None else sys.stdout, flush=True)
    if not complete and not config.allow_partial:
        first = summary["failures"][0]
        raise TargetsIncomplete(
            f"{summary['failed']} of {summary['items']} items failed (item {first['item']}: "
            f'"{first["question"]}": {first["reason"]}); no targets file written, details in '
            f"{config.summary_path()}; rerun to retry them (finished replies are cached) or pass --allow-partial"
        )
    return TargetsReport(targets, summary, out, config.summary_path())


def _summary_line(summary: dict, config: TargetsConfig) -> str:
    tokens = summary["tokens"]
    where = f" -> {config.out}" if summary["out"] else ""
    return (
        f"tru targets: {summary['items']} items, {summary['accepted']} accepted "
        f"({summary['regenerated']} regenerated), {summary['failed']} failed, "
        f"{summary['leakage_rejections']} leakage rejections, {tokens['used']} tokens used "
        f"({tokens['from_cache']} from cache){where}; summary: {config.summary_path()}"
    )
