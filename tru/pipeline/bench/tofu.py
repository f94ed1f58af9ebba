"""`tru bench tofu`: the TOFU protocol (Maini et al. 2024) on all 200 authors or a CPU-sized subset.

TOFU holds 200 fictitious authors with 20 QA each; forget01 / forget05 / forget10 are the last 2 / 10 /
20 authors. ``--authors N`` keeps the forget split's authors and the first N - k others, and writes
that subset in TOFU's layout (OUT/data/tofu): ``full`` (the fine-tuning set), ``retainNN`` (the
oracle's), the forget split, its holdout, ``retain_perturbed`` restricted to the kept authors, and the
real-author and world-fact controls unchanged. Evaluation and attacks then read that folder.
"""

from __future__ import annotations

from pathlib import Path

from tru.attacks.config import AttackConfig
from tru.core.errors import ConfigError
from tru.core.files import write_jsonl
from tru.data.tofu import HOLDOUT_FOR_FORGET, RETAIN_FOR_FORGET, load_tofu
from tru.evaluate.config import EvalConfig
from tru.pipeline.bench.common import (
    finetune_config,
    model_fields,
    targets_setting,
    targets_spec,
    unlearn_configs,
    write_template_targets,
)
from tru.pipeline.bench.config import TofuBenchConfig
from tru.pipeline.protocol import Protocol

ITEMS_PER_AUTHOR = 20
SCOPE = "personal information about the fictitious authors of the forget set"


def write_tofu_subset(source: str, forget_split: str, authors: int, folder: Path) -> dict:
    """The N-author subset in TOFU's layout; returns the item counts written."""
    forget = load_tofu(source, forget_split)
    retain_all = load_tofu(source, RETAIN_FOR_FORGET[forget_split])
    forget_authors = len(forget) // ITEMS_PER_AUTHOR
    if authors and authors <= forget_authors:
        raise ConfigError(
            f"--authors {authors} leaves no retain author: {forget_split} alone has "
            f"{forget_authors} authors; give more than {forget_authors}"
        )
    retain = retain_all[: (authors - forget_authors) * ITEMS_PER_AUTHOR] if authors else retain_all
    kept = {x.question.strip() for x in retain}
    retain_perturbed = [x for x in load_tofu(source, "retain_perturbed") if x.question.strip() in kept]
    files = {
        "full": retain + forget,
        RETAIN_FOR_FORGET[forget_split]: retain,
        forget_split: forget,
        f"{forget_split}_perturbed": load_tofu(source, f"{forget_split}_perturbed"),
        HOLDOUT_FOR_FORGET[forget_split]: load_tofu(source, HOLDOUT_FOR_FORGET[forget_split]),
        "retain_perturbed": retain_perturbed,
        "real_authors_perturbed": load_tofu(source, "real_authors_perturbed"),
        "world_facts_perturbed": load_tofu(source, "world_facts_perturbed"),
    }
    for name, items in files.items():
        write_jsonl(folder / f"{name}.jsonl", [x.to_dict() for x in items])
    return {name: len(items) for name, items in files.items()}


def tofu_protocol(config: TofuBenchConfig) -> Protocol:
    config.validate()
    root = Path(config.out).expanduser()
    data = root / "data"
    tofu = data / "tofu"
    split = config.forget_split
    forget, retain = str(tofu / f"{split}.jsonl"), str(tofu / f"{RETAIN_FOR_FORGET[split]}.jsonl")
    scope = config.scope or SCOPE

    def write_data() -> None:
        write_tofu_subset(config.tofu, split, config.authors, tofu)
        if not config.targets:
            write_template_targets(forget, scope, "qa", data / "targets.jsonl", config.seed)

    passes = dict(
        tofu=str(tofu),
        forget_split=split,
        limit=config.limit,
        batch_size=config.eval_batch_size,
        max_new_tokens=config.max_new_tokens,
        max_length=config.max_length,
        **model_fields(config),
    )
    attacks = [a.strip() for a in config.attacks.split(",") if a.strip() and a.strip() != "none"]
    who = f"{config.authors} authors" if config.authors else "all 200 authors"
    return Protocol(
        root=root,
        title=f"tru bench tofu: {split}, {who}, {config.model}",
        data_title=f"writing TOFU {split} on {who} from {config.tofu}",
        data_settings={
            "tofu": config.tofu,
            "forget_split": split,
            "authors": config.authors,
            "targets": targets_setting(config),
            "scope": scope,
            "seed": config.seed,
        },
        write_data=write_data,
        finetune=finetune_config(config, str(tofu / "full.jsonl"), root / "finetune"),
        oracle=finetune_config(config, retain, root / "oracle"),
        methods=unlearn_configs(config, forget, retain, targets_spec(config, data)),
        evaluation=EvalConfig(benchmark="tofu", **passes),
        attack=AttackConfig(
            benchmark="tofu",
            attacks=",".join(attacks),
            languages=config.languages,
            translations=config.translations,
            quant_bits=config.quant_bits,
            seed=config.seed,
            **passes,
        )
        if attacks
        else None,
    )
