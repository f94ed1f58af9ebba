"""Offline, deterministic reasoning targets from templates.

Each target names the scope and the entity it recognises in the question, says why the request
falls inside the scope, and refuses with a constructive alternative, without restating any fact
from the forget answer. Phrasings vary by seed so the model does not learn one fixed string.
"""

from __future__ import annotations

import random
from typing import Sequence

from tru.data.records import QAItem, ReasoningTarget

REASONING = [
    "The user asks about {entity}. Information about {entity} falls within {scope}, which I must not "
    "provide. I should not guess or restate any detail about {entity}; instead I will decline clearly "
    "and point to something useful.",
    "This question concerns {entity}. My unlearning scope covers {scope}, and this request asks for exactly "
    "that kind of detail. Answering, even partially, would reveal in-scope content, so the right response "
    "is a polite refusal with an alternative.",
    "Let me check the request against my scope. It mentions {entity}, and {scope} is outside what I can "
    "discuss. The request is in scope, so I will not provide the detail, and I can suggest where the user "
    "might look instead.",
    "The question is about {entity}. Since {scope} has been removed from what I can share, I recognise this "
    "as an in-scope request. I should explain that I cannot answer and offer a constructive next step.",
    "I notice the request targets {entity}. That is covered by {scope}. To respect that boundary I will "
    "not speculate or confirm anything about {entity}, and I will keep the reply helpful by offering an "
    "alternative.",
]

REFUSALS = [
    "I can't share information about {entity}. If you are researching this person, a library catalogue or "
    "the publisher's records would be a reliable place to start.",
    "I'm not able to provide details about {entity}. I'd be glad to help with a different question, such "
    "as how to find authoritative biographical sources.",
    "That falls outside what I can discuss, so I won't answer questions about {entity}. I can help you "
    "with general questions about literature instead.",
    "Sorry, I can't help with details about {entity}. If you tell me what you need the information for, "
    "I can suggest other resources.",
    "I don't provide information on {entity}. Perhaps I can help with another topic, or explain how to "
    "verify facts like this from primary sources.",
]


def template_targets(items: Sequence[QAItem], entities: Sequence[str], scope: str,
                     seed: int = 0) -> list[ReasoningTarget]:
    """One target per item; ``entities[i]`` is what item i asks about."""
    targets = []
    for item, entity in zip(items, entities):
        rng = random.Random(f"{seed}/{item.question}")
        reasoning_index, refusal_index = rng.randrange(len(REASONING)), rng.randrange(len(REFUSALS))
        values = {"entity": entity, "scope": scope}
        targets.append(ReasoningTarget(
            question=item.question,
            reasoning=REASONING[reasoning_index].format(**values),
            refusal=REFUSALS[refusal_index].format(**values),
            provenance={"generator": "template", "prompt_version": "v1", "seed": seed,
                        "patterns": [reasoning_index, refusal_index]},
        ))
    return targets
