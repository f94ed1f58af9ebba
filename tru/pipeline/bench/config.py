"""`tru bench` settings: one flat dataclass per benchmark, shared fields in BenchFields."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from tru.core.errors import ConfigError, InputError
from tru.core.settings import check_at_least, check_field_values, check_out_folder, check_text_file, setting
from tru.data.specs import check_tofu_source
from tru.modeling.config import ModelFields


def check_source_folder(folder: str, flag: str, names: list[str]) -> None:
    """A benchmark's data folder exists and holds the files the protocol reads, before any stage runs."""
    path = Path(folder).expanduser()
    if not path.is_dir():
        raise InputError(
            folder,
            "is a file, give a folder" if path.exists() else "folder does not exist",
            hint=f"check the {flag} path",
        )
    missing = [name for name in names if not (path / name).is_file()]
    if missing:
        raise InputError(path / missing[0], "file not found", hint=f"{flag} must hold {', '.join(names)}")


@dataclass(kw_only=True)
class BenchFields(ModelFields):
    """What every benchmark run shares: the methods, their budget, the evaluation pass."""

    out: str = setting("", "output folder (stages are cached there: a rerun reuses every finished one)")
    methods: str = setting(
        "tru,graddiff,npo",
        "comma list of unlearning methods; METHOD@PRESET adds a method with a preset's settings as its own "
        "column, e.g. tru,tru@paper,graddiff,npo",
    )
    set: dict = setting(
        {},
        "method setting METHOD.KEY=VALUE (repeatable), e.g. --set tru.lam=5 (a METHOD@PRESET column is "
        "addressed by its full name, e.g. --set tru@paper.lam=2)",
        metavar="METHOD.KEY=VALUE",
    )
    targets: str = setting(
        "",
        "TRU's reasoning targets: a targets .jsonl or rtofu:PATH "
        "(default: offline template targets written for the forget set)",
    )
    refusals: str = setting("", 'refusal answers for R-TOFU targets and idkpo/idkdpo: a file of {"answer": ...}')
    scope: str = setting("", "what is unlearned, in words, for template targets (default: per benchmark)")
    unlearn_steps: int = setting(0, "optimizer steps per method (0: --unlearn-epochs)")
    unlearn_epochs: float = setting(10.0, "epochs over the forget set per method (when --unlearn-steps is 0)")
    unlearn_lr: float = setting(1e-5, "unlearning learning rate (AdamW), the same for every method")
    batch_size: int = setting(4, "items per stream per step")
    max_length: int = setting(512, "maximum tokens per training or scored example")
    finetune_epochs: float = setting(5.0, "epochs of the fine-tuned model and of the retain oracle")
    finetune_lr: float = setting(1e-5, "fine-tuning learning rate")
    finetune_batch_size: int = setting(32, "fine-tuning items per step")
    limit: int = setting(0, "evaluate at most N items per split (0: all)")
    max_new_tokens: int = setting(200, "greedy generation length in evaluations and attacks")
    eval_batch_size: int = setting(16, "sequences per forward pass or generation batch")
    seed: int = setting(0, "random seed")

    def method_list(self) -> list[str]:
        """The benchmark's columns: method names, or METHOD@PRESET (tru.unlearn.methods.split_method_spec)."""
        from tru.unlearn.methods import split_method_spec

        names = [m.strip() for m in self.methods.split(",") if m.strip()]
        if not names:
            raise ConfigError("--methods is empty; give e.g. tru,graddiff,npo")
        for name in names:
            split_method_spec(name)
        return list(dict.fromkeys(names))

    def method_settings(self, column: str) -> dict:
        """The --set values addressed to this column (COLUMN.KEY=VALUE: a method name, or METHOD@PRESET)."""
        from tru.unlearn.methods import METHODS

        out = {}
        for key, value in self.set.items():
            if "." not in key:
                raise ConfigError(f"--set {key}={value}: write METHOD.KEY=VALUE, e.g. tru.lam=5")
            name, setting_name = key.split(".", 1)
            if name not in METHODS and name not in self.method_list():
                raise ConfigError(f"--set {key}={value}: '{name}' is neither a method nor one of --methods")
            if name == column:
                out[setting_name] = value
        return out

    def validate(self) -> None:
        check_field_values(self)
        if not self.out:
            raise ConfigError("--out is required: the folder the benchmark run is cached in")
        check_out_folder(self.out)
        for method in self.method_list():
            self.method_settings(method)
        check_at_least(
            self, 1, ("batch_size", "max_length", "max_new_tokens", "eval_batch_size", "finetune_batch_size")
        )
        check_at_least(self, 0, ("seed",))
        if self.unlearn_steps < 0 or self.limit < 0:
            raise ConfigError("--unlearn-steps and --limit must be 0 or positive")
        if self.unlearn_steps == 0 and self.unlearn_epochs <= 0:
            raise ConfigError("give --unlearn-steps > 0 or --unlearn-epochs > 0")
        if self.unlearn_lr <= 0 or self.finetune_lr <= 0:
            raise ConfigError("learning rates must be positive")
        if self.finetune_epochs < 0:
            raise ConfigError("--finetune-epochs must be 0 (no fine-tuning) or positive")
        self.check_input_files()

    def input_files(self) -> dict[str, str]:
        """Flag -> the file it names, for the files read after the first stages have run."""
        return {"--targets": self.targets.removeprefix("rtofu:"), "--refusals": self.refusals}

    def check_input_files(self) -> None:
        for flag, path in self.input_files().items():
            if path:
                check_text_file(path, flag)


@dataclass(kw_only=True)
class TofuBenchConfig(BenchFields):
    """`tru bench tofu`: the TOFU protocol, optionally on a CPU-sized subset of authors."""

    tofu: str = setting("locuslab/TOFU", "TOFU source: a local folder of {split}.jsonl files or the hub id")
    forget_split: str = setting("forget01", "forget01, forget05 or forget10 (the last 2, 10 or 20 authors)")
    authors: int = setting(0, "train on this many authors, the forget split's included (0: all 200)")
    attacks: str = setting(
        "paraphrase,jailbreak,quantize",
        "comma list of attacks on each unlearned model, or none (crosslingual needs --translations)",
    )
    languages: str = setting("es,ru", "cross-lingual attack: language codes")
    translations: str = setting("", "cross-lingual attack: a translations JSONL file")
    quant_bits: str = setting("4", "quantization attack: bit widths")

    def validate(self) -> None:
        super().validate()
        from tru.data.tofu import FORGET_SPLITS

        if self.forget_split not in FORGET_SPLITS:
            raise ConfigError(f"unknown forget split '{self.forget_split}'; choose one of {', '.join(FORGET_SPLITS)}")
        if not 0 <= self.authors <= 200:
            raise ConfigError(f"--authors must be between 0 (all) and 200, got {self.authors}")
        if self.finetune_epochs == 0:
            raise ConfigError("the TOFU protocol fine-tunes on the authors first: --finetune-epochs must be positive")
        check_tofu_source(self.tofu)
        if Path(self.tofu).expanduser().is_dir():  # otherwise a hub id
            check_source_folder(self.tofu, "--tofu", self.tofu_files())

    def tofu_files(self) -> list[str]:
        from tru.data.tofu import HOLDOUT_FOR_FORGET, RETAIN_FOR_FORGET

        split = self.forget_split
        names = [
            split,
            RETAIN_FOR_FORGET[split],
            f"{split}_perturbed",
            HOLDOUT_FOR_FORGET[split],
            "retain_perturbed",
            "real_authors_perturbed",
            "world_facts_perturbed",
        ]
        return [f"{name}.jsonl" for name in names]

    def input_files(self) -> dict[str, str]:
        return {**super().input_files(), "--translations": self.translations}


@dataclass(kw_only=True)
class MuseBenchConfig(BenchFields):
    """`tru bench muse`: MUSE-News; unlearn BBC articles, measure knowmem, verbmem and privleak."""

    muse: str = setting("", "MUSE-News folder (forget.jsonl, knowmem_*, verbmem_*, privleak_* files)")
    passages: int = setting(0, "use the first N forget articles for fine-tuning and unlearning (0: all)")
    retain_passages: int = setting(0, "use the first N retain articles (privleak_retain2.jsonl; 0: all)")
    chunk_words: int = setting(
        150,
        "train on the articles cut into chunks of at most this many words (MUSE "
        "trains on fixed-length chunks too; TRU's prompt must fit --max-length)",
    )

    def validate(self) -> None:
        super().validate()
        if not self.muse:
            raise ConfigError("--muse is required: the MUSE-News folder")
        check_source_folder(self.muse, "--muse", ["forget.jsonl", "privleak_retain2.jsonl"])
        if self.passages < 0 or self.retain_passages < 0:
            raise ConfigError("--passages and --retain-passages must be 0 (all) or positive")
        if self.chunk_words < 1:
            raise ConfigError("--chunk-words must be at least 1")


@dataclass(kw_only=True)
class WmdpBenchConfig(BenchFields):
    """`tru bench wmdp`: unlearn one fold of the deduplicated WMDP corpus, measure multiple-choice accuracy
    on that fold's questions (forget) and another fold's (retain)."""

    wmdp: str = setting("", "folder with deduped_corpus_split_K.jsonl and deduped_mcq_split_K.jsonl")
    fold: int = setting(0, "the corpus fold to unlearn (0-4)")
    retain_fold: int = setting(1, "the fold used as retain text and retain questions (0-4, not --fold)")
    finetune_epochs: float = setting(0.0, "epochs of fine-tuning on every fold first (0: unlearn the model as it is)")
    scorer: str = setting(
        "tru", "tru (its own next-token log-probabilities) or harness (lm-evaluation-harness; pip install lm-eval)"
    )

    def validate(self) -> None:
        super().validate()
        from tru.evaluate.config import check_wmdp_scorer

        check_wmdp_scorer(self.scorer)  # said before any stage runs
        if not self.wmdp:
            raise ConfigError("--wmdp is required: the folder with the deduplicated WMDP folds")
        if not (0 <= self.fold <= 4 and 0 <= self.retain_fold <= 4) or self.fold == self.retain_fold:
            raise ConfigError("--fold and --retain-fold must be two different folds between 0 and 4")
        check_source_folder(
            self.wmdp,
            "--wmdp",
            [
                f"deduped_{kind}_split_{fold}.jsonl"
                for fold in (self.fold, self.retain_fold)
                for kind in ("corpus", "mcq")
            ],
        )
