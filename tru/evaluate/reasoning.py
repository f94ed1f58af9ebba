"""Split a generation into its reasoning part and its final answer: the evaluation's names for the
split that lives in tru/data/reasoning.py (shared with the server, tru/llm/reasoning.py)."""

from tru.data.reasoning import SplitOutput, split_reasoning

__all__ = ["SplitOutput", "split_reasoning"]
