"""Settings of `tru targets` (flags, YAML presets and the Python API fill the same fields)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from tru.core.errors import ConfigError
from tru.core.settings import setting
from tru.data.config import QAColumnFields

TASKS = ("qa", "passage")
GENERATORS = ("template", "openai", "local", "rtofu")


@dataclass(kw_only=True)
class TargetsConfig(QAColumnFields):
    """`tru targets`: write one reasoning-based unlearning target per forget item."""

    forget: str = setting(
        "",
        "forget data: a .jsonl/.json/.csv/.parquet file (QA items, chat messages or passages with 'text'), "
        "hf:OWNER/NAME[:CONFIG][@SPLIT] or tofu:SPLIT",
    )
    out: str = setting("", "targets file to write (.jsonl); the summary goes next to it as NAME.summary.json")
    overwrite: bool = setting(
        False,
        "replace an existing --out that is not a targets file tru wrote "
        "(a targets file of an earlier run is replaced without it)",
    )
    scope: str = setting("", "what must be unlearned, in words (e.g. 'personal information about the authors in TOFU')")
    task: str = setting("qa", "qa (the user turn is the question) or passage (the user turn is the passage)")
    generator: str = setting(
        "template",
        "template (offline), openai (any OpenAI-compatible endpoint), "
        "local (a transformers model) or rtofu (import R-TOFU traces)",
    )
    entity: str = setting("", "name this entity or topic in every target (default: recognised per item)")
    seed: int = setting(0, "seed of the template phrasing and of local sampling")
    tofu: str = setting("locuslab/TOFU", "TOFU source for tofu:SPLIT specs: a local folder or hub id")
    prompt_set: str = setting(
        "",
        "openai/local prompts: entity-qa, news, books, bio, cyber or custom "
        "(default: entity-qa for qa, news for passage)",
    )
    prompt_file: str = setting("", "custom prompt set: a text describing the forget items and what is in scope")
    base_url: str = setting("", "openai: the endpoint's base URL, e.g. https://api.deepseek.com/v1")
    model: str = setting("", "openai: the model name; local: a model folder, hub id or alias")
    api_key_env: str = setting("OPENAI_API_KEY", "openai: environment variable that holds the API key")
    api_key_file: str = setting("", "openai: file that holds the API key (instead of the environment variable)")
    temperature: float = setting(0.7, "openai/local: sampling temperature (0: greedy)")
    max_tokens: int = setting(2048, "openai/local: most tokens per reply")
    concurrency: int = setting(4, "openai: requests in flight at once")
    max_retries: int = setting(5, "openai: retries of a request on 429, 5xx, timeouts and lost connections")
    retry_backoff: float = setting(1.0, "openai: seconds before the first retry (doubling after each)")
    timeout: float = setting(120.0, "openai: seconds to wait for one reply")
    cache_dir: str = setting("", "openai/local: reply cache (default: NAME.cache next to --out)")
    max_tries: int = setting(3, "attempts per item: a rejected target is regenerated until this many")
    max_reasoning_words: int = setting(
        400, "cut longer reasoning at a sentence end (0: no limit); the refusal is never cut"
    )
    max_refusal_words: int = setting(150, "reject (and regenerate) a longer refusal")
    leak_words: int = setting(
        4,
        "leakage filter: most fact words a short target may share with the forget answer (see tru/targets/hygiene.py)",
    )
    allow_partial: bool = setting(False, "write the targets that succeeded and exit 0 even if some items failed")
    rtofu: str = setting("", "rtofu: the R-TOFU idkcot traces file (e.g. ../shared/data/rtofu/idkcot.jsonl)")
    refusals: str = setting(
        "", 'rtofu: refusals to pair with the traces, a file of {"answer": ...} (default: template refusals)'
    )
    dtype: str = setting("float32", "local: float32 or bfloat16")
    device: str = setting("auto", "local: auto, cpu or cuda")
    trust_remote_code: bool = setting(False, "local: allow model code from the hub (off unless asked)")

    def validate(self) -> None:
        from tru.core.settings import check_field_values, check_out_folder

        check_field_values(self)
        if not self.forget:
            raise ConfigError("--forget is required: a forget file or tofu:SPLIT")
        if not self.out:
            raise ConfigError("--out is required: the targets file to write")
        if Path(self.out).expanduser().is_dir():
            raise ConfigError(f"--out {self.out} is a directory; give a file name such as targets.jsonl")
        check_out_folder(str(Path(self.out).expanduser().parent))
        if self.task not in TASKS:
            raise ConfigError(f"--task must be one of {', '.join(TASKS)}, got '{self.task}'")
        if self.generator not in GENERATORS:
            raise ConfigError(f"--generator must be one of {', '.join(GENERATORS)}, got '{self.generator}'")
        if not self.scope.strip():
            raise ConfigError(
                "--scope is required: say what must be unlearned, e.g. "
                "--scope 'personal information about the authors in TOFU'"
            )
        if self.generator == "openai" and not (self.base_url and self.model):
            raise ConfigError("--generator openai needs --base-url and --model")
        if self.generator == "local" and not self.model:
            raise ConfigError("--generator local needs --model: a model folder, hub id or alias")
        if self.generator == "rtofu":
            if not self.rtofu:
                raise ConfigError("--generator rtofu needs --rtofu: the R-TOFU idkcot traces file")
            if self.task != "qa":
                raise ConfigError("R-TOFU traces are for QA forget sets; use --task qa")
        positive = {
            "max_tries": self.max_tries,
            "concurrency": self.concurrency,
            "max_tokens": self.max_tokens,
            "leak_words": self.leak_words,
        }
        for name, value in positive.items():
            if value < 1:
                raise ConfigError(f"--{name.replace('_', '-')} must be at least 1, got {value}")
        if self.max_retries < 0 or self.retry_backoff < 0 or self.timeout <= 0:
            raise ConfigError("--max-retries and --retry-backoff must be >= 0, --timeout > 0")
        if self.max_reasoning_words < 0 or self.max_refusal_words < 0:
            raise ConfigError("--max-reasoning-words and --max-refusal-words must be >= 0 (0: no limit)")
        if not 0 <= self.temperature <= 2:
            raise ConfigError(f"--temperature must be in [0, 2], got {self.temperature}")

    def summary_path(self) -> Path:
        out = Path(self.out).expanduser()
        return out.with_name(out.stem + ".summary.json")

    def cache_path(self) -> Path:
        out = Path(self.out).expanduser()
        return Path(self.cache_dir).expanduser() if self.cache_dir else out.with_name(out.stem + ".cache")
