"""Target generators that ask a chat model (over HTTP or locally), or import existing traces.

Every generator has ``name``, ``provenance`` (what goes into every target it makes), ``uses_feedback``
(whether a rejected item is asked again with a note) and ``propose(jobs)``, which returns one
``Candidate``, ``Unreadable`` or ``Failed`` per job, in order.
"""

from __future__ import annotations

import sys
from typing import Sequence

from tru.data.records import ReasoningTarget
from tru.llm.client import CachedChatBackend, ChatRequest
from tru.targets.jobs import Candidate, Failed, TargetJob, Unreadable
from tru.targets.parsing import ReplyFormatError, parse_reply
from tru.targets.prompts import Prompt
from tru.targets.template import TemplateGenerator


class ChatGenerator:
    """Targets from a chat model: one request per item, the item as the user turn (see prompts.py)."""

    uses_feedback = True
    checks_grounding = True  # the prompt asks for a reasoning grounded in the request (hygiene holds it to that)

    def __init__(self, name: str, backend: CachedChatBackend, prompt: Prompt, params: dict):
        self.name = name
        self.backend = backend
        self.prompt = prompt
        self.params = params

    @property
    def provenance(self) -> dict:
        return {
            "generator": self.name,
            "model": self.backend.model,
            "endpoint": self.backend.endpoint,
            "prompt_version": self.prompt.version,
            "prompt_set": self.prompt.set_name,
            "params": self.params,
        }

    def propose(self, jobs: Sequence[TargetJob]) -> list[Candidate | Unreadable | Failed]:
        requests = [ChatRequest(self.prompt.messages(job.prompt, job.feedback), self.params) for job in jobs]
        done = [0]

        def progress(_index, _result) -> None:
            done[0] += 1
            if done[0] % 25 == 0 or done[0] == len(requests):
                print(f"tru targets: {done[0]}/{len(requests)} replies", file=sys.stderr, flush=True)

        out = []
        for job, result in zip(jobs, self.backend.complete_many(requests, on_done=progress)):
            if not result.ok:
                out.append(Failed(f"request failed after {result.attempts} attempt(s): {result.error}"))
                continue
            job.last_reply = result.text
            try:
                parsed = parse_reply(result.text, result.reasoning)
            except ReplyFormatError as exc:
                out.append(Unreadable(str(exc)))
                continue
            out.append(
                Candidate(
                    parsed.reasoning,
                    parsed.refusal,
                    {
                        "time": result.created_at,
                        "usage": result.usage,
                        "reasoning_source": parsed.source,
                        "finish_reason": result.finish_reason,
                    },
                )
            )
        return out

    def usage(self) -> dict:
        return self.backend.usage.as_dict()


class ImportedGenerator:
    """Existing traces (R-TOFU ``idkcot``) matched to forget items by question.

    A trace that hygiene rejects cannot be asked again; when ``fallback`` is given, the next attempts
    come from it (a template target, recorded as replacing the trace), else the item fails. A forget
    item without a trace fails: the traces were made for another forget set. R-TOFU traces carry no
    refusal: it comes from a refusals file, or with ``template_refusals`` from the template generator.
    """

    name = "rtofu"
    uses_feedback = False
    # R-TOFU's traces think aloud ("Hmm, let's see ... suppose ...") and name what the data's own
    # wording does not; held to the grounding rule nearly all would be replaced by templates
    checks_grounding = False

    def __init__(
        self,
        targets: Sequence[ReasoningTarget],
        source: str,
        fallback: TemplateGenerator | None,
        *,
        template_refusals: bool = False,
    ):
        self.by_question: dict[str, ReasoningTarget] = {}
        for target in targets:
            self.by_question.setdefault(target.question.strip(), target)
        self.source = source
        self.fallback = fallback
        if template_refusals and fallback is None:
            raise ValueError("template refusals need a template fallback")
        self.template_refusals = template_refusals

    @property
    def provenance(self) -> dict:
        return {"generator": self.name, "model": None, "prompt_version": None, "source": self.source}

    def propose(self, jobs: Sequence[TargetJob]) -> list[Candidate | Failed]:
        out: list[Candidate | Failed] = []
        for job in jobs:
            target = self.by_question.get(job.prompt.strip())
            if target is None:
                out.append(Failed(f"no trace for this question in {self.source}"))
            elif job.attempt == 0:
                provenance = dict(target.provenance)
                refusal = target.refusal
                if self.template_refusals:  # one that names the entity and offers an alternative
                    refusal = self.fallback.compose(job.prompt, job.entity)[1]
                    provenance["refusal"] = self.fallback.provenance["prompt_version"]
                out.append(Candidate(target.reasoning, refusal, provenance))
            elif self.fallback is not None:
                retry = TargetJob(job.index, job.prompt, job.entity, job.facts, attempt=job.attempt - 1)
                candidate = self.fallback.propose([retry])[0]
                candidate.provenance = {
                    **self.fallback.provenance,
                    **candidate.provenance,
                    "replaces": "an R-TOFU trace rejected by hygiene",
                }
                out.append(candidate)
            else:
                out.append(Failed("the R-TOFU trace was rejected and there is no fallback"))
        return out

    def usage(self) -> dict:
        return {}
