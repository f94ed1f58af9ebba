"""The retain model's per-item forget truth ratios for TOFU forget quality (``--retain-eval``).

Two formats are accepted, told apart by their content:

- tru's own evaluation: the folder ``tru eval`` wrote (or its ``EVAL.json``), ratios under
  ``metrics.forget.truth_ratio`` as a list.
- open-unlearning's (github.com/locuslab/open-unlearning) ``TOFU_EVAL.json``, or a folder holding one:
  one entry per metric, ``{"<metric>": {"agg_value": float, "value_by_index": {"<index>": {"score":
  float}}}}``; forget quality reads ``forget_truth_ratio`` (their config key ``retain_logs_path``).

No conversion is needed. open-unlearning's ``truth_ratio`` metric (src/evals/metrics/memorization.py,
read at commit d3d7cf9e) stores per index ``score = wrong_prob / (correct_prob + 1e-10)``, with
``correct_prob = exp(-avg_loss)`` of the paraphrased answer and ``wrong_prob = exp(-mean avg_loss)``
over the perturbed answers (aggregate_to_1D in src/evals/metrics/utils.py averages the losses, i.e. a
geometric mean of the probabilities): the raw R = p_pert / p_para that tru.evaluate.metrics.truth_ratio
computes, neither inverted nor clipped to min(R, 1/R) (that clipping is only in their aggregate,
``agg_value``). Their ks_test (src/evals/metrics/privacy.py) runs ks_2samp on these raw scores, as
tru.evaluate.metrics.forget_quality does; the 1e-10 changes R by a relative 1e-10 at most.
"""

from __future__ import annotations

import json
from pathlib import Path

from tru.core.errors import InputError

TRU_FILE = "EVAL.json"
OPEN_UNLEARNING_FILE = "TOFU_EVAL.json"
OPEN_UNLEARNING_KEY = "forget_truth_ratio"
EXPECTED = (
    f"expected tru's {TRU_FILE} (metrics.forget.truth_ratio) or open-unlearning's {OPEN_UNLEARNING_FILE} "
    f"({OPEN_UNLEARNING_KEY}.value_by_index.<index>.score)"
)
HINT = f"give the folder tru eval wrote for the retain model, or open-unlearning's {OPEN_UNLEARNING_FILE} for it"


def retain_file(path: str | Path) -> Path:
    """The file to read: ``path`` itself, or in a folder its EVAL.json (tru), else its TOFU_EVAL.json."""
    file = Path(path).expanduser()
    if file.is_dir():
        file = next((file / n for n in (TRU_FILE, OPEN_UNLEARNING_FILE) if (file / n).is_file()), file / TRU_FILE)
    if not file.exists():
        raise InputError(
            file,
            "retain model evaluation not found",
            hint=f"run tru eval on the retain model first, or give open-unlearning's {OPEN_UNLEARNING_FILE}",
        )
    return file


def read_retain_truth_ratios(path: str | Path) -> list[float]:
    """The retain model's per-item forget truth ratios R = p_pert / p_para, from either format."""
    file = retain_file(path)
    try:
        saved = json.loads(file.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise InputError(file, f"is not JSON ({exc.msg}); {EXPECTED}", line=exc.lineno, hint=HINT) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(file, f"cannot be read ({getattr(exc, 'strerror', None) or exc})", hint=HINT) from None
    if isinstance(saved, dict) and isinstance(saved.get(OPEN_UNLEARNING_KEY), dict):
        return _open_unlearning_ratios(file, saved[OPEN_UNLEARNING_KEY])
    ratios = _get(saved, "metrics", "forget", "truth_ratio")
    if isinstance(ratios, list) and all(_is_number(r) for r in ratios):
        return [float(r) for r in ratios]
    raise InputError(file, f"holds no forget truth ratios: {EXPECTED}", hint=HINT)


def retain_truth_ratios_for(path: str | Path, n_items: int) -> list[float]:
    """The retain ratios, checked to be as many as the evaluated forget split's items."""
    ratios = read_retain_truth_ratios(path)
    if len(ratios) != n_items:
        raise InputError(
            retain_file(path),
            f"the retain evaluation has {len(ratios)} forget truth ratios, "
            f"the evaluated forget split has {n_items} items",
            hint="evaluate the retain model on the same forget split (and --limit)",
        )
    return ratios


def _open_unlearning_ratios(file: Path, metric: dict) -> list[float]:
    by_index = metric.get("value_by_index")
    if not isinstance(by_index, dict) or not by_index:
        raise InputError(
            file, f"holds no per-item values: {EXPECTED}", field=f"{OPEN_UNLEARNING_KEY}.value_by_index", hint=HINT
        )
    ratios = []
    for index in by_index:  # the order is the file's: the KS test does not depend on it
        score = _get(by_index[index], "score")
        if not _is_number(score):
            raise InputError(
                file,
                f"is not a number (got {json.dumps(score)}); {EXPECTED}",
                field=f"{OPEN_UNLEARNING_KEY}.value_by_index.{index}.score",
                hint=HINT,
            )
        ratios.append(float(score))
    return ratios


def _get(data, *keys):
    for key in keys:
        if not isinstance(data, dict):
            return None
        data = data.get(key)
    return data


def _is_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)
