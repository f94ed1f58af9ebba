"""tru: explainable LLM unlearning with Targeted Reasoning Unlearning and its baselines."""

__version__ = "0.1.0"
