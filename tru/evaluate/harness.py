"""WMDP-style question files as lm-evaluation-harness tasks, and the harness as a second WMDP scorer.

lm-evaluation-harness's own wmdp tasks read ``cais/wmdp`` from the hub. ``write_tasks`` writes one task
per local question file instead (``{"question", "choices", "answer"}`` records, as muse_wmdp reads
them), with the prompt, choices and metric of its wmdp tasks and the subject tru's own scorer names, so
that ``lm_eval --include_path FOLDER --tasks tru_wmdp`` scores the same questions. ``harness_blocks``
runs those tasks with ``lm_eval.simple_evaluate`` and returns per question what ``muse_wmdp.mcq_block``
returns (`tru eval --benchmark wmdp --scorer harness`); tests/test_harness.py checks that both give the
same log-likelihoods. Records of the same shape from other multiple-choice sets (MMLU's test files,
with --wmdp-subject) work the same way.

lm-evaluation-harness (``pip install lm-eval``) is imported only when tasks are run.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Sequence

import yaml

from tru.core.errors import ConfigError, InputError
from tru.core.files import write_text_atomically
from tru.data.corpora import load_wmdp_mcq
from tru.evaluate.muse_wmdp import LETTERS, MCQ_PROMPT, mcq_header, wmdp_subject
from tru.evaluate.qa_blocks import EvalModel

INSTALL = "pip install lm-eval"
TASK_PREFIX = "tru_wmdp_"
GROUP = "tru_wmdp"
# lm_eval/tasks/wmdp/_default_template_yaml of lm-evaluation-harness 0.4, less its hub dataset_path
TEMPLATE = {
    "test_split": "test",
    "training_split": None,
    "validation_split": None,
    "num_fewshot": 0,
    "output_type": "multiple_choice",
    "doc_to_text": "{{question.strip()}}\nA. {{choices[0]}}\nB. {{choices[1]}}\nC. {{choices[2]}}\n"
    "D. {{choices[3]}}\nAnswer:",
    "doc_to_choice": list(LETTERS),
    "doc_to_target": "answer",
    "metric_list": [{"metric": "acc", "aggregation": "mean", "higher_is_better": True}],
    "metadata": {"version": 1},
}


def task_name(file: str | Path) -> str:
    """The task of a question file: tru_wmdp_ and the file's name (tru_wmdp_bio for bio.jsonl)."""
    return TASK_PREFIX + re.sub(r"[^A-Za-z0-9_]", "_", Path(file).stem)


def write_tasks(files: Sequence[str | Path], folder: str | Path, subject_default: str = "") -> list[str]:
    """Write one lm-evaluation-harness task YAML per question file into ``folder`` and the group
    ``tru_wmdp`` of them all; returns the task names, in the order of ``files``.

    Each task reads its file by absolute path (``dataset_path: json``) and names the subject tru's
    scorer names (``muse_wmdp.wmdp_subject``: bio, cyber and chem as the harness's wmdp tasks do, other
    files ``subject_default`` or their name). Every file is read first with tru's reader, so that a bad
    one is an InputError naming its line, and must hold four choices per question (the prompt lists A-D).
    """
    tasks: dict[str, Path] = {}
    for file in files:
        path = Path(file).expanduser().resolve()
        for number, item in enumerate(load_wmdp_mcq(path), 1):
            if len(item.choices) != len(LETTERS):
                raise InputError(
                    path,
                    f"question {number} has {len(item.choices)} choices; the WMDP prompt lists four (A-D)",
                    field="choices",
                )
        name = task_name(path)
        if name in tasks:
            raise ConfigError(f"{tasks[name]} and {path} would both be task {name}: rename one of them")
        tasks[name] = path
    folder = Path(folder).expanduser()
    folder.mkdir(parents=True, exist_ok=True)
    for name, path in tasks.items():
        task = {
            "task": name,
            "dataset_path": "json",
            "dataset_kwargs": {"data_files": {"test": str(path)}},
            "description": mcq_header(wmdp_subject(path, subject_default)),
            **TEMPLATE,
        }
        write_text_atomically(folder / f"{name}.yaml", _yaml(task))
    group = {
        "group": GROUP,
        "task": list(tasks),
        "aggregate_metric_list": [{"metric": "acc", "aggregation": "mean", "weight_by_size": True}],
        "metadata": {"version": 1},
    }
    write_text_atomically(folder / f"{GROUP}.yaml", _yaml(group))
    return list(tasks)


def _yaml(data: dict) -> str:
    return yaml.safe_dump(data, sort_keys=False, allow_unicode=True, width=float("inf"))


def require_lm_eval():
    """The lm_eval module, or a ConfigError saying how to install it."""
    try:
        import lm_eval
    except ImportError:
        raise ConfigError(f"--scorer harness runs lm-evaluation-harness, which is not installed: {INSTALL}") from None
    return lm_eval


def scorer_label() -> str:
    """What EVAL.json and SUMMARY.json record as the harness scorer: its name and version."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return f"lm-evaluation-harness {version('lm_eval')}"
    except PackageNotFoundError:
        return "lm-evaluation-harness"


def harness_blocks(
    model,
    folder: str | Path,
    tasks: Sequence[str],
    *,
    tokenizer=None,
    batch_size: int = 16,
    max_length: int | None = None,
    limit: int | None = None,
    dtype: str = "float32",
    device: str = "cpu",
) -> dict[str, dict]:
    """Run ``tasks`` (written by ``write_tasks`` into ``folder``) with ``lm_eval.simple_evaluate`` and
    return per task the block ``muse_wmdp.mcq_block`` returns: per question the log-likelihood of each
    choice (``filtered_resps``), the answer index and whether the harness counted it correct (``acc``),
    in file order (``doc_id``).

    ``model``: a model folder, run directory or alias (lm-eval's ``hf`` model loads it with ``dtype`` on
    ``device``), or a model already loaded, with its ``tokenizer`` (wrapped in lm-eval's HFLM).
    ``max_length``: the harness reads the last ``max_length`` tokens of a longer prompt (None: the
    model's context length). ``limit``: the first N questions of each file.
    """
    lm_eval = require_lm_eval()
    from lm_eval.tasks import TaskManager

    if isinstance(model, (str, Path)):
        from tru.modeling.models import resolve_model_path

        arguments = {"pretrained": resolve_model_path(str(model)), "dtype": dtype, "device": device}
        lm, model_args = "hf", {**arguments, **({"max_length": max_length} if max_length else {})}
    else:
        from lm_eval.models.huggingface import HFLM

        lm, model_args = HFLM(pretrained=model, tokenizer=tokenizer, batch_size=batch_size, max_length=max_length), None
    results = lm_eval.simple_evaluate(
        model=lm,
        model_args=model_args,
        tasks=list(tasks),
        task_manager=TaskManager(include_path=str(Path(folder).expanduser()), include_defaults=False),
        batch_size=batch_size,
        limit=limit,
        log_samples=True,
        bootstrap_iters=0,
    )
    label = scorer_label()
    blocks = {}
    for task in tasks:
        samples = sorted(results["samples"][task], key=lambda s: s["doc_id"])
        blocks[task] = {
            "choice_log_probs": [[float(resp[0]) for resp in s["filtered_resps"]] for s in samples],
            "answer": [int(s["doc"]["answer"]) for s in samples],
            "correct": [int(s["acc"]) for s in samples],
            "scorer": label,
            "prompt": MCQ_PROMPT,
        }
        if tokenizer is not None and max_length:
            contexts = [s["arguments"][0][0] for s in samples]
            blocks[task]["prompts_cut"] = sum(len(ids) > max_length for ids in tokenizer(contexts)["input_ids"])
    return blocks


def harness_plan(em: EvalModel, files: Sequence[str], limit: int | None, subject_default: str, folder: Path) -> list:
    """`tru eval --scorer harness`: the tasks of ``files`` written into ``folder``, and per file the
    block the harness scores on the model ``em`` holds, keyed as ``muse_wmdp.wmdp_plan`` keys them."""
    tasks = write_tasks(files, folder, subject_default)
    max_length = em.formatter.max_length
    return [
        (
            f"wmdp_{Path(file).stem}",
            lambda t=task: harness_blocks(
                em.model,
                folder,
                [t],
                tokenizer=em.tokenizer,
                batch_size=em.batch_size,
                max_length=max_length,
                limit=limit,
            )[t],
        )
        for file, task in zip(files, tasks)
    ]
