"""Offline, deterministic reasoning targets from templates.

A target is four sentences, each picked from ten phrasings: the reasoning recognises the entity or
topic of the item and then says in one short sentence that the request falls inside the scope and
what to do; the refusal declines, naming the entity as the question does, and offers an alternative.
That gives 100 reasoning and 100 refusal patterns, so the model
does not learn one fixed string. The pick is seeded by (seed, item); asking again (``attempt`` > 0)
takes the next pick of the same seeded sequence. Only the entity and the scope are filled in, so a
template target never restates a fact from the forget answer.
"""

from __future__ import annotations

import random
from datetime import datetime, timezone
from typing import Sequence

from tru.data.records import QAItem, ReasoningTarget
from tru.targets.jobs import Candidate, TargetJob

TEMPLATE_VERSION = "template-3"

# Short, fixed sentences: the reasoning names the entity and the scope and decides, and restates
# nothing of the question, which a small model would otherwise learn to fill with invented content.
RECOGNISE = [
    "This {item} is about {entity}.",
    "The subject of this {item} is {entity}.",
    "This {item} concerns {entity}.",
    "The {item} refers to {entity}.",
    "This is a {item} about {entity}.",
    "The {item} names {entity}.",
    "This {item} points to {entity}.",
    "This {item} asks for details about {entity}.",
    "The {item} is a request about {entity}.",
    "What this {item} needs is information about {entity}.",
]
JUSTIFY = [
    "That is within {scope}, which I do not share, so I will decline.",
    "My unlearning scope covers {scope}, so I will decline and not guess.",
    "This falls inside {scope}; I will not answer or guess, and I will offer something else.",
    "Anything I said would come from {scope}, which I do not provide, so I will decline.",
    "Because the request falls within {scope}, the right reply is a short refusal.",
    "The request is inside {scope}, so I will not confirm, deny or hint at any detail.",
    "It belongs to {scope}, so I will explain that I cannot help with it.",
    "Answering would reveal {scope}, which is off limits, so I will decline politely.",
    "Since {scope} is what I must not cover, I will decline and suggest another topic.",
    "The request is in my unlearning scope ({scope}), so I will refuse and stay helpful.",
]
DECLINE = [
    "I can't share information about {entity}.",
    "I'm not able to provide details about {entity}.",
    "That falls outside what I can discuss, so I won't answer this about {entity}.",
    "Sorry, I can't help with details concerning {entity}.",
    "I don't provide information on {entity}.",
    "I have to decline this request about {entity}.",
    "I'm unable to go into {entity} here.",
    "Requests about {entity} are something I can't answer.",
    "I won't be able to discuss {entity}, and I'd rather not guess.",
    "Unfortunately, {entity} is not something I can talk about.",
]
ALTERNATIVE = [
    "If you are researching this, official records or reputable reference works are a better place to look.",
    "I'd be glad to help with a different question instead.",
    "I can help with related questions that fall outside this area.",
    "If you tell me more about what you are trying to do, I can suggest other ways to approach it.",
    "Perhaps I can help you find authoritative sources or work on another topic.",
    "Feel free to ask me about something else, and I'll do my best to help.",
    "A librarian or a trusted reference service could help, and I'm happy to assist with other questions.",
    "I can, however, explain how to check facts like this against primary sources.",
    "Is there something outside this subject that I can help with?",
    "A reliable public source would serve you better here, and I can help with anything else you need.",
]
ITEM_NOUN = {"qa": "question", "passage": "text"}


class TemplateGenerator:
    """Template targets for QA questions (task ``qa``) or passages (task ``passage``)."""

    name = "template"
    uses_feedback = False
    checks_grounding = True

    def __init__(self, scope: str, *, task: str = "qa", seed: int = 0):
        self.scope = scope.strip()
        self.item = ITEM_NOUN[task]
        self.seed = seed

    @property
    def provenance(self) -> dict:
        return {"generator": self.name, "model": None, "prompt_version": TEMPLATE_VERSION, "seed": self.seed}

    def patterns(self, prompt: str, attempt: int = 0) -> tuple[int, int, int, int]:
        """Indices into RECOGNISE, JUSTIFY, DECLINE, ALTERNATIVE for this item and attempt."""
        rng = random.Random(f"{self.seed}/{prompt}")
        picks = (0, 0, 0, 0)
        for _ in range(attempt + 1):
            picks = tuple(rng.randrange(len(slot)) for slot in (RECOGNISE, JUSTIFY, DECLINE, ALTERNATIVE))
        return picks  # type: ignore[return-value]

    def compose(self, prompt: str, entity: str, attempt: int = 0) -> tuple[str, str, list[int]]:
        r, j, d, a = self.patterns(prompt, attempt)
        values = {"entity": entity, "scope": self.scope, "item": self.item}
        reasoning = f"{RECOGNISE[r]} {JUSTIFY[j]}".format(**values)
        refusal = f"{DECLINE[d]} {ALTERNATIVE[a]}".format(**values)
        return reasoning, refusal, [r, j, d, a]

    def propose(self, jobs: Sequence[TargetJob]) -> list[Candidate]:
        now = datetime.now(timezone.utc).isoformat(timespec="seconds")
        out = []
        for job in jobs:
            reasoning, refusal, patterns = self.compose(job.prompt, job.entity, job.attempt)
            out.append(Candidate(reasoning, refusal, {"patterns": patterns, "time": now}))
        return out

    def usage(self) -> dict:
        return {}


def template_targets(
    items: Sequence[QAItem], entities: Sequence[str], scope: str, seed: int = 0
) -> list[ReasoningTarget]:
    """One target per item; ``entities[i]`` is what item i asks about (no hygiene checks: see ``tru targets``)."""
    generator = TemplateGenerator(scope, task="qa", seed=seed)
    targets = []
    for item, entity in zip(items, entities):
        reasoning, refusal, patterns = generator.compose(item.question, entity)
        targets.append(
            ReasoningTarget(
                question=item.question,
                reasoning=reasoning,
                refusal=refusal,
                provenance={**generator.provenance, "patterns": patterns},
            )
        )
    return targets
