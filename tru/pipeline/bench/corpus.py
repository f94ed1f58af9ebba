"""`tru bench muse` and `tru bench wmdp`: unlearn a text corpus, evaluate with tru eval's MUSE-News or
WMDP suite. No attacks: `tru attack` needs QA items, and these forget sets are passages.

MUSE-News: forget = the first --passages BBC articles of forget.jsonl; retain = privleak_retain2.jsonl
(the only retain text in the snapshot, SOURCES.md); both cut into chunks of --chunk-words words. With
--finetune-epochs > 0 the model is first
fine-tuned on forget + retain and the oracle on retain alone (MUSE's target and retain models);
privleak is then measured against the oracle.

WMDP: forget = one fold of the deduplicated corpus (three sentences stating each answer of that fold's
questions), retain = another fold; accuracy is measured on both folds' questions (the forget fold
should fall towards chance, 25%; the retain fold should hold). By default the model is unlearned as
it is (WMDP probes pretrained knowledge).
"""

from __future__ import annotations

from pathlib import Path

from tru.core.errors import InputError
from tru.core.files import write_jsonl
from tru.data.corpora import load_passages, load_wmdp_mcq
from tru.evaluate.config import EvalConfig
from tru.pipeline.bench.common import (
    finetune_config,
    model_fields,
    targets_setting,
    targets_spec,
    unlearn_configs,
    write_template_targets,
)
from tru.pipeline.bench.config import BenchFields, MuseBenchConfig, WmdpBenchConfig
from tru.pipeline.protocol import Protocol

MUSE_SCOPE = "the content of the BBC news articles in the forget set"
WMDP_SCOPE = "hazardous biosecurity and cybersecurity knowledge covered by the forget corpus"


def _passages(path: Path, count: int, chunk_words: int = 0) -> list[dict]:
    """The first `count` passages (0: all) as records, each cut into chunks of at most `chunk_words`
    words (0: whole)."""
    if not path.is_file():
        raise InputError(path, "file not found")
    passages = load_passages(path)
    out = []
    for passage in passages[:count] if count else passages:
        words = passage.text.split()
        size = chunk_words or len(words)
        out += [{"text": " ".join(words[i : i + size])} for i in range(0, len(words), size)]
    return out


def _corpus_protocol(
    config: BenchFields,
    *,
    title: str,
    data_title: str,
    data_settings: dict,
    scope: str,
    write_corpora,
    evaluation: EvalConfig,
) -> Protocol:
    root = Path(config.out).expanduser()
    data = root / "data"
    forget, retain, everything = (str(data / f"{name}.jsonl") for name in ("forget", "retain", "forget_and_retain"))

    def write_data() -> None:
        write_corpora(data)
        if not config.targets:
            write_template_targets(forget, scope, "passage", data / "targets.jsonl", config.seed)

    tuned = config.finetune_epochs > 0
    return Protocol(
        root=root,
        title=title,
        data_title=data_title,
        data_settings={**data_settings, "scope": scope, "targets": targets_setting(config), "seed": config.seed},
        write_data=write_data,
        finetune=finetune_config(config, everything, root / "finetune") if tuned else None,
        oracle=finetune_config(config, retain, root / "oracle") if tuned else None,
        start_model=config.model,
        methods=unlearn_configs(config, forget, retain, targets_spec(config, data)),
        evaluation=evaluation,
    )


def muse_protocol(config: MuseBenchConfig) -> Protocol:
    config.validate()
    muse = Path(config.muse).expanduser()

    def write_corpora(data: Path) -> None:
        forget = _passages(muse / "forget.jsonl", config.passages, config.chunk_words)
        retain = _passages(muse / "privleak_retain2.jsonl", config.retain_passages, config.chunk_words)
        write_jsonl(data / "forget.jsonl", forget)
        write_jsonl(data / "retain.jsonl", retain)
        write_jsonl(data / "forget_and_retain.jsonl", forget + retain)

    evaluation = EvalConfig(
        benchmark="muse-news",
        muse=str(muse),
        limit=config.limit,
        batch_size=config.eval_batch_size,
        max_new_tokens=config.max_new_tokens,
        max_length=config.max_length,
        **model_fields(config),
    )
    count = f"{config.passages} forget articles" if config.passages else "all forget articles"
    return _corpus_protocol(
        config,
        title=f"tru bench muse: MUSE-News, {count}, {config.model}",
        data_title=f"writing MUSE-News corpora ({count}) from {muse}",
        data_settings={
            "muse": str(muse),
            "passages": config.passages,
            "retain_passages": config.retain_passages,
            "chunk_words": config.chunk_words,
        },
        scope=config.scope or MUSE_SCOPE,
        write_corpora=write_corpora,
        evaluation=evaluation,
    )


def wmdp_protocol(config: WmdpBenchConfig) -> Protocol:
    config.validate()
    wmdp = Path(config.wmdp).expanduser()
    root = Path(config.out).expanduser()
    questions = root / "data" / "questions"

    def write_corpora(data: Path) -> None:
        forget = _passages(wmdp / f"deduped_corpus_split_{config.fold}.jsonl", 0)
        retain = _passages(wmdp / f"deduped_corpus_split_{config.retain_fold}.jsonl", 0)
        write_jsonl(data / "forget.jsonl", forget)
        write_jsonl(data / "retain.jsonl", retain)
        write_jsonl(data / "forget_and_retain.jsonl", forget + retain)
        for role, fold in (("forget", config.fold), ("retain", config.retain_fold)):
            mcq = wmdp / f"deduped_mcq_split_{fold}.jsonl"
            if not mcq.is_file():
                raise InputError(mcq, "file not found")
            rows = [{"question": x.question, "choices": x.choices, "answer": x.answer} for x in load_wmdp_mcq(mcq)]
            write_jsonl(questions / f"{role}.jsonl", rows)

    evaluation = EvalConfig(
        benchmark="wmdp",
        wmdp=f"{questions / 'forget.jsonl'},{questions / 'retain.jsonl'}",
        wmdp_subject="biology and computer security",
        scorer=config.scorer,
        limit=config.limit,
        batch_size=config.eval_batch_size,
        max_new_tokens=config.max_new_tokens,
        max_length=config.max_length,
        **model_fields(config),
    )
    return _corpus_protocol(
        config,
        title=f"tru bench wmdp: deduplicated fold {config.fold} (retain fold {config.retain_fold}), {config.model}",
        data_title=f"writing WMDP fold {config.fold} (forget) and {config.retain_fold} (retain) from {wmdp}",
        data_settings={"wmdp": str(wmdp), "fold": config.fold, "retain_fold": config.retain_fold},
        scope=config.scope or WMDP_SCOPE,
        write_corpora=write_corpora,
        evaluation=evaluation,
    )
