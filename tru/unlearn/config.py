"""`tru unlearn`'s settings (``UnlearnConfig``)."""

from __future__ import annotations

from dataclasses import dataclass

from tru.core.errors import ConfigError
from tru.core.settings import check_at_least, flag_name, setting
from tru.data.config import QA_SOURCES, QAColumnFields
from tru.data.specs import check_tofu_source, uses_tofu
from tru.train.config import TrainConfig


@dataclass(kw_only=True)
class UnlearnConfig(QAColumnFields, TrainConfig):
    """`tru unlearn`: remove the forget set's knowledge with TRU or a baseline."""

    method: str = setting("tru", "tru, ga, graddiff, npo, simnpo, idkpo, idkdpo, rmu, wga")
    set: dict = setting({}, "method setting KEY=VALUE (repeatable), e.g. --set alpha=0.2")
    preset: str = setting(
        "",
        "a method's named settings, e.g. --preset paper for TRU as the authors ran it "
        "(--set still overrides; tru methods lists them)",
    )
    forget: str = setting("", f"forget data: a {QA_SOURCES} (e.g. tofu:forget01)")
    retain: str = setting(
        "", "retain data: a file, hf: dataset or tofu:SPLIT (default for tofu:forgetNN: the matching retain split)"
    )
    targets: str = setting("", "reasoning targets: a targets .jsonl, or rtofu:PATH for R-TOFU idkcot traces")
    refusals: str = setting("", 'refusal answers for idkpo/idkdpo and R-TOFU targets: a file of {"answer": ...}')
    tofu: str = setting("locuslab/TOFU", "TOFU source for tofu:SPLIT specs: a local folder or hub id")
    summary_items: int = setting(64, "forget/retain items scored before and after for summary.json (0: skip)")
    max_forget_nll: float = setting(0.0, "divergence guard: stop if the forget NLL passes this (0: off)")
    stop_forget_nll: float = setting(0.0, "early stop once the forget NLL reaches this (0: off)")
    fuse: bool = setting(
        True,
        "one forward pass per step over all streams, packed without padding "
        "(--no-fuse: one padded pass per stream, the reference implementation)",
    )
    group_by_length: bool = setting(
        False, "batch forget items of similar length together (less padding with --no-fuse)"
    )
    validation: str = setting(
        "",
        "held-out forget questions for the scope check: a QA file, hf: dataset or tofu:SPLIT "
        "(default: --validation-share of the forget items, never trained on)",
    )
    validation_share: float = setting(
        0.2,
        "share of the forget items (and of the retain items, at most 32) held "
        "out from training for the scope check (0: none)",
    )
    eval_steps: int = setting(0, "run the scope check every N optimizer steps (0: only at the end)")
    until: str = setting(
        "",
        "stop once the scope check meets these, e.g. complete_refusal>=0.95,answered>=0.95 "
        "(metrics of tru.evaluate.registry); the best state by them is saved",
    )
    validation_new_tokens: int = setting(
        64, "greedy tokens per answer in the scope check, and per model's own answer to an anchor question"
    )
    anchor_checks: int = setting(
        0,
        "general questions never trained on (tru.data.anchors, tuning side) that the scope check asks, "
        "measuring the answers against their reference answers (0: none)",
    )
    logits_chunk: int = setting(
        0,
        "project the final hidden states onto the vocabulary this many loss "
        "positions at a time, again in the backward pass, instead of keeping every "
        "position's logits (less memory, one more head matmul; fused step, unsharded "
        "models; 0: off)",
    )

    def validate(self) -> None:
        super().validate()
        if not self.forget:
            raise ConfigError("--forget is required: a forget file or tofu:SPLIT")
        if uses_tofu(self.forget, self.retain):
            check_tofu_source(self.tofu)
        check_at_least(self, 0, ("summary_items", "logits_chunk"))
        for name in ("max_forget_nll", "stop_forget_nll"):
            if getattr(self, name) < 0:
                raise ConfigError(f"{flag_name(name)} must be 0 (off) or positive, got {getattr(self, name)}")
        if self.logits_chunk and not self.fuse:
            raise ConfigError("--logits-chunk works with the fused step only; drop --no-fuse or --logits-chunk")
        check_at_least(self, 0, ("eval_steps", "anchor_checks"))
        check_at_least(self, 1, ("validation_new_tokens",))
        if not 0 <= self.validation_share < 1:
            raise ConfigError(f"--validation-share must be in [0, 1), got {self.validation_share}")
        if self.until:
            from tru.unlearn.validation import parse_until

            parse_until(self.until)  # a malformed criterion or a rate above 1: an error before anything loads
        from tru.core.processes import world_size

        if (self.eval_steps or self.until or self.anchor_checks) and world_size() > 1:
            raise ConfigError(
                "--eval-steps, --until and --anchor-checks run the scope check in one process; launch one "
                "process, or drop them (the end-of-run scope check is skipped under several processes)"
            )
