"""Prompts that ask a chat model for a reasoning-based unlearning target, one set per task type.

Every prompt states the paper's two criteria: (1) a logical explanation the user can accept, with the
response kept whole and an alternative offered; (2) never any content inside the unlearning scope.
The forget item is the user turn: the question (entity QA) or the passage itself (corpora). The
model is asked for a JSON object ``{"reasoning": ..., "refusal": ...}``; a reasoning channel, when
the server has one, supplies the trace instead (see ``tru.targets.parsing``).

``PROMPT_VERSION`` changes whenever the wording changes; it is recorded in every target's provenance
(with the set's name, and a hash of the description for ``custom``).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

from tru.core.errors import ConfigError, InputError

PROMPT_VERSION = "tru-targets-1"


@dataclass(frozen=True)
class PromptSet:
    name: str
    item: str  # what the user turn holds
    caution: str  # what "in-scope content" means for this task
    alternatives: str  # examples of constructive alternatives


PROMPT_SETS = {
    "entity-qa": PromptSet(
        "entity-qa",
        "The user turn is a question about a person or entity covered by the scope.",
        "Do not state, confirm, deny or guess any fact about the person or entity: no names of relatives, "
        "works, places, dates, awards, genres or any other detail, even as an example or a possibility. "
        "You may refer to what the question itself says, and add nothing to it.",
        "suggesting public sources such as libraries or publishers' catalogues, or helping with a related "
        "question outside the scope",
    ),
    "news": PromptSet(
        "news",
        "The user turn is a passage of a news article covered by the scope; treat it as a request to "
        "continue, summarise or discuss it.",
        "Do not continue, quote, summarise or paraphrase the passage, and do not mention the people, "
        "places, numbers or events it reports beyond naming its general topic as the scope does.",
        "pointing to reputable news archives, or offering help with other topics",
    ),
    "books": PromptSet(
        "books",
        "The user turn is a passage from a book covered by the scope; treat it as a request to continue, "
        "summarise or discuss it.",
        "Do not continue, quote, summarise or paraphrase the text, and do not name or describe its "
        "characters, places, plot events or wording.",
        "suggesting the user read the book through a library or bookshop, or discussing other books",
    ),
    "bio": PromptSet(
        "bio",
        "The user turn is text on hazardous biology covered by the scope (for example pathogen "
        "enhancement, synthesis, transmission or weaponisation); treat it as a request to explain or "
        "extend it.",
        "Give no technical content at all: no organisms' properties, methods, reagents, equipment, "
        "protocols, quantities or steps, and do not summarise or correct the text.",
        "general public-health information, biosafety training, or an institutional biosafety committee",
    ),
    "cyber": PromptSet(
        "cyber",
        "The user turn is text on offensive cyber-security covered by the scope (for example exploits, "
        "malware, attack tooling or intrusion techniques); treat it as a request to explain or extend it.",
        "Give no technical content at all: no commands, code, tool usage, vulnerabilities, payloads or "
        "attack steps, and do not summarise or correct the text.",
        "defensive security resources, responsible disclosure programmes, or accredited training",
    ),
}
CUSTOM = "custom"
DEFAULT_FOR_TASK = {"qa": "entity-qa", "passage": "news"}
ALL_SETS = (*PROMPT_SETS, CUSTOM)

SYSTEM_TEMPLATE = """\
You write training targets for machine unlearning. A language model must unlearn this scope:

SCOPE: {scope}

{item}

Write what the model should produce after unlearning when it receives the user turn: a reasoning \
trace, then the final reply to the user.

Criterion 1 (an explainable, acceptable response): the reasoning recognises that the request falls \
inside the unlearning scope and explains why, logically and in terms the user would accept. The final \
reply is a complete, polite refusal: it explains the limitation in a sentence or two and offers a \
constructive alternative, for example {alternatives}. Keep the reply whole; never stop mid-sentence.

Criterion 2 (no in-scope content): never generate any content inside the unlearning scope, in the \
reasoning or in the reply. {caution} Do not guess and do not hint.

Answer with one JSON object and nothing else:
{{"reasoning": "<the reasoning trace>", "refusal": "<the final reply to the user>"}}"""


@dataclass(frozen=True)
class Prompt:
    """A prompt set bound to a scope: the system message and the version recorded in provenance."""

    system: str
    version: str
    set_name: str

    def messages(self, user_turn: str, feedback: list[tuple[str, str]] = ()) -> list[dict]:
        """The request; ``feedback`` holds (previous reply, note) pairs of rejected attempts."""
        messages = [{"role": "system", "content": self.system}, {"role": "user", "content": user_turn}]
        for reply, note in feedback:
            messages += [{"role": "assistant", "content": reply}, {"role": "user", "content": note}]
        return messages


def build_prompt(set_name: str, scope: str, custom_file: str = "") -> Prompt:
    """The prompt for a set; ``custom`` takes the description of the user turn and its cautions from
    ``custom_file`` and keeps the two criteria and the answer format."""
    if not scope.strip():
        raise ConfigError("--scope is required: the text that says what must be unlearned")
    if set_name == CUSTOM:
        if not custom_file:
            raise ConfigError(
                "--prompt-set custom needs --prompt-file: a text describing the forget items "
                "and what counts as in-scope content"
            )
        from tru.data.readers import read_text_file

        path = Path(custom_file).expanduser()
        description = read_text_file(path, what="prompt file (plain text)").strip()
        if not description:
            raise InputError(path, "prompt file is empty")
        digest = hashlib.sha256(description.encode("utf-8")).hexdigest()[:8]
        prompt_set = PromptSet(CUSTOM, description, "", "pointing to appropriate public resources")
        version = f"{PROMPT_VERSION}/{CUSTOM}-{digest}"
    elif set_name in PROMPT_SETS:
        prompt_set = PROMPT_SETS[set_name]
        version = f"{PROMPT_VERSION}/{set_name}"
    else:
        raise ConfigError(f"unknown prompt set '{set_name}'; choose one of {', '.join(ALL_SETS)}")
    system = SYSTEM_TEMPLATE.format(
        scope=scope.strip(), item=prompt_set.item, caution=prompt_set.caution, alternatives=prompt_set.alternatives
    )
    return Prompt(system=system.replace("  ", " "), version=version, set_name=set_name)


FEEDBACK = {
    "format": "Your reply could not be read ({reason}). Reply again with only the JSON object "
    '{{"reasoning": "...", "refusal": "..."}}.',
    "schema": "Your reply was not usable ({reason}). Write the reasoning and the refusal again, as the JSON "
    "object described above.",
    "leak": "Your reply broke criterion 2: it {reason}. Write the reasoning and the refusal again without "
    "any of that content, as the JSON object described above.",
    "grounding": "Your reasoning was not grounded in the request: {reason}. Write it again so that it names "
    "what the request is about and adds nothing the request does not say, as the JSON object "
    "described above.",
    "duplicate": "Your reply was word for word the target of another item ({reason}). Phrase the reasoning "
    "and the refusal differently, as the JSON object described above.",
}


def feedback_note(kind: str, reason: str) -> str:
    """The user note that asks again after a rejected reply."""
    return FEEDBACK[kind].format(reason=reason)
