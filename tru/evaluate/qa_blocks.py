"""The model-facing measurements of a QA split, each stored as one EVAL.json block.

- ``answer``: per item the answer's mean NLL, extraction strength and MIA scores.
- ``candidates``: mean NLLs of the paraphrased answer and of every perturbed answer, all scored in
  one length-sorted batched pass.
- ``generations`` / ``paraphrase_generations``: greedy outputs split into reasoning and answer.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

from tru.data.formatting import ChatFormatter
from tru.data.records import QAItem
from tru.evaluate.reasoning import split_reasoning
from tru.evaluate.token_stats import token_stats
from tru.generation import generate_from_ids
from tru import metrics


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
    stats = token_stats(em.model, [em.formatter.qa(x.question, x.answer) for x in items], em.pad_id,
                        batch_size=em.batch_size)
    return {
        "nll": [s.nll for s in stats],
        "extraction_strength": [metrics.extraction_strength(s.argmax_ids, s.label_ids) for s in stats],
        "mia": {
            "loss": [metrics.loss_score(s.log_probs) for s in stats],
            "zlib": [metrics.zlib_score(s.log_probs, x.answer) for s, x in zip(stats, items)],
            "min_k": [metrics.min_k_score(s.log_probs, em.mia_k) for s in stats],
            "min_k_plus_plus": [metrics.min_k_plus_plus_score(s.log_probs, s.dist_means, s.dist_stds, em.mia_k)
                                for s in stats],
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
    texts = generate_from_ids(em.model, em.tokenizer, [em.formatter.prompt_ids(q) for q in questions],
                              max_new_tokens=em.max_new_tokens, batch_size=em.batch_size)
    parts = [split_reasoning(t) for t in texts]
    return {"question": list(questions), "text": texts, "reasoning": [p.reasoning for p in parts],
            "answer": [p.answer for p in parts], "complete": [p.complete for p in parts]}
