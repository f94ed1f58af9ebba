"""Records, readers and benchmark loaders."""

from tru.data.readers import read_records
from tru.data.records import MCQItem, Passage, QAItem, ReasoningTarget

__all__ = ["MCQItem", "Passage", "QAItem", "ReasoningTarget", "read_records"]
