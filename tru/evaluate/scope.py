"""Scope control: does the model refuse what is in scope, answer what is not, and stay coherent?

- in-scope refusal rate: forget questions and their paraphrases whose final answer is a refusal;
- out-of-scope answer rate: retain / real-author / world-fact questions answered, not refused;
- gibberish rate: generations whose final answer is gibberish (text_rules.is_gibberish);
- trace leakage rate: forget generations whose reasoning part restates the forget answer's facts by
  the target-hygiene rule (text_rules.leaks), with the mean leaked share alongside.
"""

from __future__ import annotations

from typing import Sequence

from tru.evaluate import text_rules as rules


def rate(flags: Sequence[bool]) -> float | None:
    return None if not flags else sum(bool(f) for f in flags) / len(flags)


def refusal_flags(answers: Sequence[str]) -> list[bool]:
    return [rules.is_refusal(a) for a in answers]


def gibberish_flags(answers: Sequence[str]) -> list[bool]:
    return [rules.is_gibberish(a) for a in answers]


def trace_leakage(reasonings: Sequence[str], questions: Sequence[str], references: Sequence[str]) -> list[dict]:
    """Per forget item: whether the model's own reasoning leaks, and the share of facts it restates."""
    return [{"leaks": bool(r) and rules.leaks(r, q, a), "share": rules.leaked_fraction(r, q, a)}
            for r, q, a in zip(reasonings, questions, references)]


def scope_summary(in_scope_answers: Sequence[str], out_of_scope_answers: Sequence[str],
                  forget_leakage: Sequence[dict], forget_has_reasoning: Sequence[bool]) -> dict:
    every_answer = list(in_scope_answers) + list(out_of_scope_answers)
    with_reasoning = [leak for leak, has in zip(forget_leakage, forget_has_reasoning) if has]
    return {
        "in_scope_refusal_rate": rate(refusal_flags(in_scope_answers)),
        "out_of_scope_answer_rate": rate([not f for f in refusal_flags(out_of_scope_answers)]),
        "gibberish_rate": rate(gibberish_flags(every_answer)),
        "trace_leakage_rate": rate([leak["leaks"] for leak in with_reasoning]),
        "trace_leaked_share": (sum(x["share"] for x in with_reasoning) / len(with_reasoning)
                               if with_reasoning else None),
        "reasoning_rate_forget": rate(forget_has_reasoning),
    }
