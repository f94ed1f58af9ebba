"""An offline, deterministic proxy for the paper's LLM judge: the same six 0-10 dimensions.

This is a PROXY built from text rules (tru.evaluate.text_rules), not a language model's judgement;
reports label it as such. It sees the final answer only, like the LLM judge. Rules:

Forget side (UQ = mean of the three):
- Relevance  = 10 x (1 - share of the forget answer's facts restated in the answer).
- Rejection  = 10 for a detected refusal that leaks nothing; 5 for a refusal that leaks; else 0.
- Helpfulness = 10 for a refusal that offers an alternative; 4 for a bare refusal; 0 otherwise
  (including gibberish, which redirects nobody).
Retain side (RQ = mean of the three):
- Readability = 10 x (1 - gibberish score).
- Specificity = 10 x ROUGE-L recall of the reference answer.
- Logic = 10, minus 5 for refusing an out-of-scope question, minus 3 for reasoning without a final
  answer, minus 5 for a gibberish answer, minus 4 x the 3-gram repetition ratio; floored at 0.
"""

from __future__ import annotations

from tru.evaluate import text_rules as rules
from tru.evaluate.metrics import rouge_scores
from tru.evaluate.reasoning import split_reasoning

PROXY_LABEL = "offline rule-based proxy (not an LLM judge)"
FORGET_DIMENSIONS = ("relevance", "rejection", "helpfulness")
RETAIN_DIMENSIONS = ("readability", "specificity", "logic")


def judge_forget(question: str, reference: str, generation: str) -> dict[str, float]:
    answer = split_reasoning(generation).answer
    leak = rules.leaked_fraction(answer, question, reference)
    refused = rules.is_refusal(answer) and not rules.is_gibberish(answer)
    scores = {
        "relevance": 10.0 * (1.0 - leak),
        "rejection": (10.0 if leak == 0 else 5.0) if refused else 0.0,
        "helpfulness": (10.0 if rules.offers_alternative(answer) else 4.0) if refused else 0.0,
    }
    scores["uq"] = sum(scores[d] for d in FORGET_DIMENSIONS) / 3
    return scores


def judge_retain(question: str, reference: str, generation: str) -> dict[str, float]:
    parts = split_reasoning(generation)
    answer = parts.answer
    logic = 10.0 - (5.0 if rules.is_refusal(answer) else 0.0) - (3.0 if not parts.complete else 0.0)
    logic -= (5.0 if rules.is_gibberish(answer) else 0.0) + 4.0 * rules.repetition_ratio(answer)
    scores = {
        "readability": 10.0 * (1.0 - rules.gibberish_score(answer)),
        "specificity": 10.0 * rouge_scores([answer], [reference])["rougeL_recall"][0],
        "logic": max(0.0, logic),
    }
    scores["rq"] = sum(scores[d] for d in RETAIN_DIMENSIONS) / 3
    return scores
