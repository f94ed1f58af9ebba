"""Data settings: which columns of the user's QA data hold question and answer (``QAColumnFields``,
shared by every QA-reading command), and `tru data synth` (``SynthConfig``)."""

from __future__ import annotations

from dataclasses import dataclass

from tru.core.errors import ConfigError
from tru.core.settings import check_at_least, check_field_values, check_out_folder, setting
from tru.data.records import ColumnMap

# the data specs every QA-reading command takes
QA_SOURCES = ".jsonl/.json/.csv/.parquet file, hf:OWNER/NAME[:CONFIG][@SPLIT] or tofu:SPLIT"


@dataclass(kw_only=True)
class QAColumnFields:
    """Which columns of the user's QA data (files and hf: datasets) hold the question and the answer."""

    question_field: str = setting(
        "", "column that holds the question in your data (default: question, or prompt, or chat messages)"
    )
    answer_field: str = setting("", "column that holds the answer in your data (default: answer, response or gt)")

    def columns(self) -> ColumnMap:
        return ColumnMap(question=self.question_field, answer=self.answer_field)


@dataclass(kw_only=True)
class SynthConfig:
    """`tru data synth`: write the synthetic fictitious-knowledge benchmark."""

    entities: int = setting(40, "number of fictitious people")
    seed: int = setting(0, "random seed (same seed, same files)")
    out: str = setting("", "output folder")

    def validate(self) -> None:
        check_field_values(self)
        if not self.out:
            raise ConfigError("--out is required")
        check_out_folder(self.out)
        check_at_least(self, 0, ("seed",))
