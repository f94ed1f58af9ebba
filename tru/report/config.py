"""`tru report`'s settings (``ReportConfig``)."""

from __future__ import annotations

from dataclasses import dataclass

from tru.core.errors import ConfigError
from tru.core.settings import check_field_values, check_out_folder, setting


@dataclass(kw_only=True)
class ReportConfig:
    """`tru report`: one readable report (HTML + Markdown + PNGs) over finished runs."""

    runs: dict = setting(
        {},
        "NAME=RUN_DIR,EVAL_DIR[,ATTACK_DIR], repeatable, one per method; "
        "leave RUN_DIR empty for a model without an unlearning run (NAME=,EVAL_DIR)",
        metavar="NAME=RUN_DIR,EVAL_DIR[,ATTACK_DIR]",
    )
    out: str = setting("", "output folder (report.html, report.md, report.json, PNGs)")
    overwrite: bool = setting(False, "replace an earlier report in --out (your other files there stay)")
    examples: int = setting(3, "example answers per method and side (forget, retain)")
    title: str = setting("tru report", "report title")
    reference: str = setting(
        "",
        "the --runs NAME of the model before unlearning, which every change is measured "
        "against (default: the first one without a run folder)",
    )

    def validate(self) -> None:
        check_field_values(self)
        if not self.out:
            raise ConfigError("--out is required")
        check_out_folder(self.out)
        if not self.runs:
            raise ConfigError("give at least one --runs NAME=RUN_DIR,EVAL_DIR[,ATTACK_DIR]")
        if self.examples < 0:
            raise ConfigError("--examples must be >= 0")
        if self.reference and self.reference not in self.runs:
            raise ConfigError(f"--reference {self.reference} is none of the --runs names ({', '.join(self.runs)})")
