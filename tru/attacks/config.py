"""`tru attack` settings: one flat dataclass for the CLI, YAML presets and the Python API."""

from __future__ import annotations

from dataclasses import dataclass

from tru.core.errors import ConfigError
from tru.core.settings import check_at_least, check_json_object, check_text_file, eval_file, setting
from tru.evaluate.config import QASourceFields


@dataclass(kw_only=True)
class AttackConfig(QASourceFields):
    """`tru attack`: try to bring unlearned knowledge back, and measure how much comes back."""

    model: str = setting("", "the unlearned model: a model folder, run directory, hub id or alias")
    benchmark: str = setting("tofu", "tofu or custom")
    out: str = setting("", "output folder for ATTACK.json and SUMMARY.json (default: RUN/attack/BENCHMARK)")
    overwrite: bool = setting(False, "discard earlier attack results in --out instead of resuming them")
    attacks: str = setting(
        "all", "comma list of attacks (crosslingual, paraphrase, jailbreak, relearn, quantize) or all"
    )
    languages: str = setting("es,ru", "cross-lingual attack: comma list of language codes")
    translations: str = setting(
        "",
        'translations JSONL file: {"question", "lang", "translation"} per line '
        "(lang 'paraphrase' supplies paraphrases)",
    )
    translate_url: str = setting("", "OpenAI-compatible endpoint that translates/paraphrases missing queries")
    translate_model: str = setting("", "model name at that endpoint")
    translate_key_env: str = setting("OPENAI_API_KEY", "environment variable holding the endpoint's API key")
    translate_key_file: str = setting("", "file holding the endpoint's API key (instead of the environment)")
    jailbreak_templates: str = setting("", "extra jailbreak templates: a JSONL/JSON file of {name, family, template}")
    jailbreak_library: str = setting(
        "all", "built-in jailbreak templates to run: a comma list of names, all, or none (only --jailbreak-templates)"
    )
    retain_queries: int = setting(
        0,
        "also ask the first N out-of-scope (retain) questions under every query "
        "attack, to measure refusals that a wrapper or a language alone causes (0: none)",
    )
    relearn_share: float = setting(0.5, "share of the forget set the relearning attack trains on (0 < share < 1)")
    relearn_steps: int = setting(10, "relearning optimizer steps")
    relearn_lr: float = setting(1e-4, "relearning learning rate (AdamW)")
    relearn_batch_size: int = setting(4, "relearning items per step")
    original_model: str = setting("", "the model before unlearning, for the relearning comparison (optional)")
    reuse_eval: str = setting(
        "",
        "a finished tru eval of --model with the same data and generation settings: "
        "its answers and scores serve as the attacks' baseline instead of being "
        "measured again",
    )
    original_eval: str = setting(
        "", "a finished tru eval of --original-model: the relearning attack's reference measurements are taken from it"
    )
    quant_bits: str = setting("8,4", "quantization attack: comma list of bit widths (2..8)")
    quant_group_size: int = setting(64, "quantization group size along each weight row")
    seed: int = setting(0, "random seed (relearning split and training order)")

    def attack_names(self) -> list[str]:
        from tru.attacks.registry import ATTACKS

        if self.attacks.strip() in ("", "all"):
            return list(ATTACKS)
        names = [a.strip() for a in self.attacks.split(",") if a.strip()]
        unknown = [a for a in names if a not in ATTACKS]
        if unknown:
            raise ConfigError(f"unknown attack '{unknown[0]}'; choose from {', '.join(ATTACKS)} or all")
        return list(dict.fromkeys(names))

    def library_templates(self) -> list:
        """The built-in jailbreak templates --jailbreak-library selects, in library order."""
        from tru.attacks.jailbreak import LIBRARY

        choice = self.jailbreak_library.strip()
        if choice in ("", "all"):
            return list(LIBRARY)
        names = [] if choice == "none" else [x.strip() for x in choice.split(",") if x.strip()]
        known = {t.name for t in LIBRARY}
        unknown = [n for n in names if n not in known]
        if unknown:
            raise ConfigError(
                f"unknown jailbreak template '{unknown[0]}' in --jailbreak-library; choose from "
                f"{', '.join(t.name for t in LIBRARY)}, all or none"
            )
        return [t for t in LIBRARY if t.name in names]

    def language_list(self) -> list[str]:
        return [x.strip() for x in self.languages.split(",") if x.strip()]

    def bit_list(self) -> list[int]:
        try:
            bits = [int(x) for x in self.quant_bits.split(",") if x.strip()]
        except ValueError:
            raise ConfigError(f"--quant-bits must be a comma list of integers, got '{self.quant_bits}'") from None
        if not bits or any(not 2 <= b <= 8 for b in bits):
            raise ConfigError(f"--quant-bits must list bit widths between 2 and 8, got '{self.quant_bits}'")
        return bits

    def validate(self) -> None:
        if not self.model:
            raise ConfigError("--model is required: the unlearned model to attack")
        self.check_source()
        if self.benchmark not in ("tofu", "custom"):
            raise ConfigError(f"unknown benchmark '{self.benchmark}'; tru attack supports tofu and custom")
        if self.benchmark == "custom" and not self.forget:
            raise ConfigError("--benchmark custom needs --forget")
        if self.benchmark == "tofu":
            self.check_tofu_split_options()
        names = self.attack_names()
        if "crosslingual" in names and not self.language_list():
            raise ConfigError("--languages is empty; give e.g. es,ru")
        if bool(self.translate_url) != bool(self.translate_model):
            raise ConfigError("--translate-url and --translate-model go together")
        if not 0 < self.relearn_share < 1:
            raise ConfigError(f"--relearn-share must be between 0 and 1 (exclusive), got {self.relearn_share}")
        check_at_least(self, 1, ("relearn_steps", "relearn_batch_size", "quant_group_size"))
        check_at_least(self, 0, ("seed", "retain_queries"))
        if self.retain_queries and self.benchmark == "custom" and not self.retain:
            raise ConfigError("--retain-queries needs --retain (the out-of-scope questions to ask)")
        if self.original_eval and not self.original_model:
            raise ConfigError("--original-eval needs --original-model (the model it evaluated)")
        if self.relearn_lr <= 0:
            raise ConfigError(f"--relearn-lr must be positive, got {self.relearn_lr}")
        if "quantize" in names:
            self.bit_list()
        if "jailbreak" in names and not self.library_templates() and not self.jailbreak_templates:
            raise ConfigError(
                "--jailbreak-library none leaves no jailbreak template; give --jailbreak-templates "
                "or drop jailbreak from --attacks"
            )
        self.check_input_files(names)

    def check_tofu_split_options(self) -> None:
        """--benchmark tofu attacks the split --forget-split names: --forget tofu:forgetNN may repeat it, never
        contradict it, and the custom benchmark's files would be ignored (as in tru eval)."""
        from tru.data.tofu import FORGET_SPLITS

        named = self.forget.split(":", 1)[1] if self.forget.startswith("tofu:") else ""
        if named in FORGET_SPLITS and named != self.forget_split:
            raise ConfigError(
                f"--forget {self.forget} and --forget-split {self.forget_split} disagree: "
                f"--benchmark tofu attacks the split --forget-split names (default forget01); "
                f"give --forget-split {named} and drop --forget"
            )
        for flag, value in (("--forget", "" if named in FORGET_SPLITS else self.forget), ("--retain", self.retain)):
            if value:
                raise ConfigError(
                    f"{flag} is read only by --benchmark custom; --benchmark tofu attacks the TOFU "
                    f"split --forget-split names (drop {flag}, or use --benchmark custom)"
                )

    def check_input_files(self, names: list[str]) -> None:
        """Files read during the attacks, checked before anything is measured or written."""
        used = {
            "--translate-key-file": bool(self.translate_url),
            "--translations": bool({"crosslingual", "paraphrase"} & set(names)),
            "--jailbreak-templates": "jailbreak" in names,
        }
        for flag, is_used in used.items():
            path = getattr(self, flag[2:].replace("-", "_"))
            if is_used and path:
                check_text_file(path, flag)
        finished = {"--reuse-eval": self.reuse_eval, "--original-eval": "relearn" in names and self.original_eval}
        for flag, folder in finished.items():
            if folder:
                check_json_object(eval_file(folder, "EVAL.json"), flag)
