"""What passes between the target generators and the runner: one job per forget item, its outcomes."""

from __future__ import annotations

from dataclasses import dataclass, field

from tru.targets.hygiene import Facts, Grounding


@dataclass
class TargetJob:
    """One forget item on its way to a target.

    ``prompt`` is the user turn (the question, or the passage itself) and becomes the target's
    ``question``; ``facts`` is what the target must not restate. ``attempt`` counts rejected tries;
    ``feedback`` holds (previous reply, note) pairs that a chat generator sends back when it asks again.
    ``grounding`` (QA items) is what the reasoning must be grounded in.
    """

    index: int
    prompt: str
    entity: str
    facts: Facts
    item_id: str | None = None
    attempt: int = 0
    last_reply: str = ""
    feedback: list[tuple[str, str]] = field(default_factory=list)
    grounding: Grounding | None = None


@dataclass
class Candidate:
    """A proposed target, before hygiene."""

    reasoning: str
    refusal: str
    provenance: dict = field(default_factory=dict)


@dataclass
class Unreadable:
    """A reply that holds no reasoning and refusal (worth asking again)."""

    reason: str


@dataclass
class Failed:
    """No target can come for this item from this generator (a failed request, a missing trace)."""

    reason: str
