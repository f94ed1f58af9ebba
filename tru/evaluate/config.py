"""Evaluation settings: ``QASourceFields`` (the model, the QA data and the measuring pass, shared with
`tru attack`'s ``AttackConfig``) and `tru eval`'s ``EvalConfig``."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from tru.core.errors import ConfigError, InputError
from tru.core.settings import check_at_least, check_field_values, check_out_folder, check_text_file, setting
from tru.data.config import QAColumnFields
from tru.data.readers import DATA_FILE
from tru.data.specs import check_tofu_source, uses_tofu
from tru.modeling.config import ModelFields


@dataclass(kw_only=True)
class QASourceFields(QAColumnFields, ModelFields):
    """Which QA data a model is measured on (TOFU or custom files), and the measuring pass."""

    model: str = setting("", "model folder, run directory, hub id or alias")
    tofu: str = setting("locuslab/TOFU", "TOFU source: a local folder or hub id")
    forget_split: str = setting("forget01", "TOFU forget split: forget01, forget05, forget10")
    forget: str = setting(
        "",
        "custom benchmark: forget QA file or hf: dataset (with --benchmark tofu, tru unlearn's spelling "
        "tofu:forgetNN may repeat --forget-split, never contradict it)",
    )
    retain: str = setting("", "custom benchmark: retain QA file or hf: dataset")
    limit: int = setting(0, "use at most N items per split (0: all)")
    batch_size: int = setting(16, "sequences per forward pass or generation batch")
    max_new_tokens: int = setting(200, "greedy generation length")
    max_length: int = setting(512, "maximum tokens per scored example")

    def check_source(self) -> None:
        """The checks `tru eval` and `tru attack` share: the model, the data and the measuring pass."""
        check_field_values(self)
        if not self.model:
            raise ConfigError("--model is required")
        check_at_least(self, 1, ("batch_size", "max_new_tokens", "max_length"))
        if self.limit < 0:
            raise ConfigError("--limit must be 0 (all) or positive")
        if self.dtype not in ("float32", "bfloat16"):
            raise ConfigError(f"--dtype must be float32 or bfloat16, got '{self.dtype}'")
        if self.device not in ("auto", "cpu") and not self.device.startswith("cuda"):
            raise ConfigError(f"--device must be auto, cpu or cuda, got '{self.device}'")
        if getattr(self, "benchmark", "") == "tofu" or uses_tofu(self.forget, self.retain):
            check_tofu_source(self.tofu)
        if getattr(self, "out", ""):
            check_out_folder(self.out)


def check_wmdp_scorer(scorer: str) -> None:
    """--scorer is tru or harness, and the harness is installed when asked for (said before the model loads)."""
    if scorer not in ("tru", "harness"):
        raise ConfigError(f"--scorer must be tru or harness, got '{scorer}'")
    if scorer == "harness":
        from tru.evaluate.harness import require_lm_eval

        require_lm_eval()


@dataclass(kw_only=True)
class EvalConfig(QASourceFields):
    """`tru eval`: measure what a model still knows, how it refuses and what it kept."""

    benchmark: str = setting("tofu", "tofu, muse-news, wmdp or custom")
    out: str = setting("", "output folder for EVAL.json and SUMMARY.json (default: RUN/eval/BENCHMARK)")
    overwrite: bool = setting(False, "discard an earlier evaluation in --out instead of resuming it")
    muse: str = setting("", "MUSE-News folder (knowmem_*, verbmem_*, privleak_* files)")
    wmdp: str = setting("", "WMDP question files, comma separated (e.g. bio.jsonl,cyber.jsonl)")
    wmdp_subject: str = setting(
        "", "subject named in the WMDP prompt for files other than bio/cyber/chem (default: the file name)"
    )
    scorer: str = setting(
        "tru",
        "WMDP scorer: tru (its own next-token log-probabilities) or harness (lm-evaluation-harness run on "
        "tasks written for the --wmdp files into OUT/harness_tasks; pip install lm-eval)",
    )
    retain_eval: str = setting(
        "",
        "the retain model's evaluation (forget quality, privleak): the folder tru eval wrote; for TOFU also "
        "open-unlearning's TOFU_EVAL.json (or a folder holding one)",
    )
    judge: str = setting("offline", "offline (rule-based proxy), llm (OpenAI-compatible judge) or both")
    judge_url: str = setting("", "judge endpoint base URL, e.g. http://127.0.0.1:8000/v1")
    judge_model: str = setting("", "judge model name at that endpoint")
    judge_key_env: str = setting("OPENAI_API_KEY", "environment variable holding the judge's API key")
    judge_key_file: str = setting("", "file holding the judge's API key (instead of the environment)")
    judge_concurrency: int = setting(4, "judge requests in flight at once")

    def validate(self) -> None:
        self.check_source()
        if self.judge not in ("offline", "llm", "both"):
            raise ConfigError(f"--judge must be offline, llm or both, got '{self.judge}'")
        if self.judge != "offline" and not (self.judge_url and self.judge_model):
            raise ConfigError(f"--judge {self.judge} needs --judge-url and --judge-model")
        from tru.evaluate.benchmarks import BENCHMARKS

        benchmark = BENCHMARKS.get(self.benchmark)
        if benchmark is None:
            raise ConfigError(f"unknown benchmark '{self.benchmark}'; choose one of {', '.join(BENCHMARKS)}")
        if self.judge != "offline" and not benchmark.qa:
            qa = " or ".join(name for name, b in BENCHMARKS.items() if b.qa)
            raise ConfigError(f"the LLM judge scores QA answers: use it with --benchmark {qa}")
        if benchmark.needs and not getattr(self, benchmark.needs[0]):
            raise ConfigError(f"--benchmark {self.benchmark} needs {benchmark.needs[1]}")
        self.check_scorer()
        self.check_split_options()
        check_at_least(self, 1, ("judge_concurrency",))
        for file in filter(None, self.wmdp.split(",")):
            if Path(file).expanduser().is_dir():
                raise InputError(file, f"is a folder; --wmdp takes question files ({DATA_FILE}), comma separated")
        if self.judge != "offline" and self.judge_key_file:
            check_text_file(self.judge_key_file, "--judge-key-file")

    def check_scorer(self) -> None:
        if self.scorer == "harness" and self.benchmark != "wmdp":
            raise ConfigError("--scorer harness scores WMDP questions: use it with --benchmark wmdp")
        check_wmdp_scorer(self.scorer)

    def check_split_options(self) -> None:
        """--forget and --retain are the custom benchmark's files: another benchmark would evaluate other
        data than they name, so they are refused there. With --benchmark tofu, --forget tofu:forgetNN may
        repeat --forget-split (which picks the split), never contradict it."""
        from tru.data.tofu import FORGET_SPLITS

        if self.benchmark == "custom":
            return
        named = self.forget.split(":", 1)[1] if self.forget.startswith("tofu:") else ""
        repeats_split = self.benchmark == "tofu" and named in FORGET_SPLITS
        if repeats_split and named != self.forget_split:
            raise ConfigError(
                f"--forget {self.forget} and --forget-split {self.forget_split} disagree: "
                f"--benchmark tofu evaluates the split --forget-split names (default forget01); "
                f"give --forget-split {named} and drop --forget"
            )
        reads = "evaluates the TOFU split --forget-split names" if self.benchmark == "tofu" else "would not read it"
        for flag, value in (("--forget", "" if repeats_split else self.forget), ("--retain", self.retain)):
            if value:
                raise ConfigError(
                    f"{flag} is read only by --benchmark custom; --benchmark {self.benchmark} "
                    f"{reads} (drop {flag}, or use --benchmark custom)"
                )


@dataclass(kw_only=True)
class HarnessTasksConfig:
    """`tru data lm-eval-tasks`: lm-evaluation-harness task YAMLs for local WMDP-style question files."""

    wmdp: str = setting("", "question files, comma separated (e.g. bio.jsonl,cyber.jsonl)")
    wmdp_subject: str = setting(
        "", "subject named in the prompt for files other than bio/cyber/chem (default: the file name)"
    )
    out: str = setting("", "folder for the task YAMLs (one per file, tru_wmdp_NAME, and the group tru_wmdp)")

    def validate(self) -> None:
        check_field_values(self)
        for flag, value in (("--wmdp", self.wmdp), ("--out", self.out)):
            if not value:
                raise ConfigError(f"{flag} is required")
        check_out_folder(self.out)
        for file in filter(None, self.wmdp.split(",")):
            if Path(file).expanduser().is_dir():
                raise InputError(file, f"is a folder; --wmdp takes question files ({DATA_FILE}), comma separated")
