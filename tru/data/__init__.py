"""Records, readers and benchmark loaders."""

from tru.data.records import MCQItem, Passage, QAItem, ReasoningTarget
from tru.data.readers import read_records

__all__ = ["MCQItem", "Passage", "QAItem", "ReasoningTarget", "read_records"]
