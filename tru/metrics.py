"""The public home of tru's metric math: ``import tru.metrics as m`` (README, "Evaluation").

The functions live in tru/evaluate/metrics.py, next to the evaluation that uses them; this module
re-exports every one of them, so ``tru.metrics.bootstrap_interval`` and ``tru.evaluate.metrics
.bootstrap_interval`` are the same function. Inside ``tru`` import ``tru.evaluate.metrics``.
"""

from tru.evaluate.metrics import *  # noqa: F403
