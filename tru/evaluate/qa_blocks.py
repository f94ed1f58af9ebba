"""The model-facing measurements of a QA split, each stored as one EVAL.json block.

- ``answer``: per item the answer's mean NLL, extraction strength and MIA scores.
- ``candidates``: mean NLLs of the paraphrased answer and of every perturbed answer, all scored in
  one length-sorted batched pass.
- ``generations`` / ``paraphrase_generations``: greedy outputs split into reasoning and answer.

Several generation blocks are produced by one batched generation run (``store_generations``): a
block of a few questions alone leaves most of a batch empty, and on a CPU a decoding step's cost grows
far more slowly than its number of rows (BENCHMARKS.md, "Figures behind the code's comments").
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Mapping, Sequence

from tru.data.formatting import ChatFormatter
from tru.data.records import QAItem
from tru.evaluate import metrics
from tru.evaluate.reasoning import split_reasoning
from tru.evaluate.token_stats import token_stats
from tru.modeling.generation import generate_from_ids


@dataclass
class EvalModel:
    model: object
    tokenizer: object
    formatter: ChatFormatter
    batch_size: int = 16
    max_new_tokens: int = 200
    mia_k: float = 0.4

    @property
    def pad_id(self) -> int:
        return self.tokenizer.pad_token_id


def answer_block(em: EvalModel, items: Sequence[QAItem]) -> dict:
    stats = token_stats(
        em.model, [em.formatter.qa(x.question, x.answer) for x in items], em.pad_id, batch_size=em.batch_size
    )
    return {
        "nll": [s.nll for s in stats],
        "extraction_strength": [metrics.extraction_strength(s.argmax_ids, s.label_ids) for s in stats],
        "mia": {
            "loss": [metrics.loss_score(s.log_probs) for s in stats],
            "zlib": [metrics.zlib_score(s.log_probs, x.answer) for s, x in zip(stats, items)],
            "min_k": [metrics.min_k_score(s.log_probs, em.mia_k) for s in stats],
            "min_k_plus_plus": [
                metrics.min_k_plus_plus_score(s.log_probs, s.dist_means, s.dist_stds, em.mia_k) for s in stats
            ],
        },
    }


def candidates_block(em: EvalModel, items: Sequence[QAItem], *, with_paraphrase: bool) -> dict:
    """NLLs of every candidate answer of every item, flattened into one batched scoring pass."""
    examples, owners = [], []
    for index, item in enumerate(items):
        if with_paraphrase:
            examples.append(em.formatter.qa(item.question, item.paraphrased_answer))
            owners.append((index, "para"))
        for answer in item.perturbed_answer or []:
            examples.append(em.formatter.qa(item.question, answer))
            owners.append((index, "pert"))
    stats = token_stats(em.model, examples, em.pad_id, batch_size=em.batch_size)
    paraphrased: list[float | None] = [None] * len(items)
    perturbed: list[list[float]] = [[] for _ in items]
    for (index, kind), s in zip(owners, stats):
        if kind == "para":
            paraphrased[index] = s.nll
        else:
            perturbed[index].append(s.nll)
    block = {"perturbed_nll": perturbed}
    if with_paraphrase:
        block["paraphrased_nll"] = paraphrased
    return block


def generation_block(em: EvalModel, questions: Sequence[str]) -> dict:
    """Greedy generations split into reasoning and answer; the questions are kept so that a report can
    show what was asked."""
    return generation_blocks(em, {"": questions})[""]


def generation_blocks(em: EvalModel, requests: Mapping[str, Sequence[str]]) -> dict[str, dict]:
    """``generation_block`` for every key of ``requests``, all questions generated in one batched run."""
    flat = [q for questions in requests.values() for q in questions]
    texts = generate_from_ids(
        em.model,
        em.tokenizer,
        [em.formatter.prompt_ids(q) for q in flat],
        max_new_tokens=em.max_new_tokens,
        batch_size=em.batch_size,
    )
    blocks, start = {}, 0
    for key, questions in requests.items():
        parts = [split_reasoning(t) for t in texts[start : start + len(questions)]]
        blocks[key] = {
            "question": list(questions),
            "text": texts[start : start + len(questions)],
            "reasoning": [p.reasoning for p in parts],
            "answer": [p.answer for p in parts],
            "complete": [p.complete for p in parts],
        }
        start += len(questions)
    return blocks


def store_generations(
    store, em: EvalModel, requests: Mapping[str, Sequence[str]], log: Callable[[str], None] | None = None
) -> dict[str, dict]:
    """The generation blocks ``requests`` names, from ``store`` (an EvalStore) where finished; the rest are
    generated together in one run and stored block by block."""
    pending = {key: questions for key, questions in requests.items() if not store.has(key)}
    if log is not None:
        for key in requests:
            log(f"  {key} ..." if key in pending else f"  {key}: reused")
    if pending:
        for key, block in generation_blocks(em, pending).items():
            store.put(key, block)
    return {key: store.get(key) for key in requests}
