"""Chat formatting and label masking: loss only on answer (or target) tokens.

Questions go through the model's own chat template; the answer follows the generation prompt and
ends with the end-of-turn token, which is labelled too so that the model learns to stop. Corpus
passages are plain text with every token labelled.
"""

from __future__ import annotations

from dataclasses import dataclass

from tru.core.errors import ConfigError
from tru.data.records import Passage, QAItem

# the label of a token no loss reads (the prompt), as torch's cross-entropy and the Trainer spell it
IGNORE_INDEX = -100
TARGET_FORMATS = ("s1", "think-tags")


@dataclass
class Encoded:
    input_ids: list[int]
    labels: list[int]

    def __len__(self) -> int:
        return len(self.input_ids)


def render_target(reasoning: str, refusal: str, target_format: str) -> tuple[str, str, str]:
    """Split a reasoning target into (text before the reasoning, text between, text after).

    ``s1``: ``<|im_start|>think\\n{reasoning}\\n<|im_start|>answer\\nAnswer: {refusal}`` (authors' code);
    ``think-tags``: ``<think>{reasoning}</think>{refusal}``.
    """
    if target_format == "s1":
        return "<|im_start|>think\n", "\n<|im_start|>answer\nAnswer: ", refusal
    if target_format == "think-tags":
        return "<think>", "</think>", refusal
    raise ConfigError(f"unknown target format '{target_format}'; choose one of {', '.join(TARGET_FORMATS)}")


def format_target_text(reasoning: str, refusal: str, target_format: str) -> str:
    head, middle, tail = render_target(reasoning, refusal, target_format)
    return f"{head}{reasoning}{middle}{tail}"


class ChatFormatter:
    """Turns records into token ids and labels for one tokenizer and length limit."""

    def __init__(self, tokenizer, max_length: int = 512, target_format: str = "s1"):
        if max_length < 8:
            raise ConfigError(f"max_length must be at least 8, got {max_length}")
        render_target("", "", target_format)  # validates the name early
        self.tokenizer = tokenizer
        self.max_length = max_length
        self.target_format = target_format
        self.end_ids = [tokenizer.eos_token_id] if tokenizer.eos_token_id is not None else []

    def _ids(self, text: str) -> list[int]:
        return self.tokenizer(text, add_special_tokens=False)["input_ids"]

    def prompt_ids(self, question: str) -> list[int]:
        """Token ids of the chat prompt up to and including the assistant's generation prompt."""
        if getattr(self.tokenizer, "chat_template", None):
            ids = self.tokenizer.apply_chat_template(
                [{"role": "user", "content": question}], add_generation_prompt=True, tokenize=True
            )
            if isinstance(ids, dict) or hasattr(ids, "keys"):
                ids = ids["input_ids"]
            return list(ids)
        return self._ids(f"Question: {question}\nAnswer: ")

    def _join(self, prompt: list[int], answer: list[int]) -> Encoded:
        return Encoded(input_ids=prompt + answer, labels=[IGNORE_INDEX] * len(prompt) + answer)

    def qa(self, question: str, answer: str) -> Encoded:
        """A question and its answer; an over-long answer is cut at its end."""
        prompt = self.prompt_ids(question)
        room = self.max_length - len(prompt) - len(self.end_ids)
        if room < 1:
            raise ConfigError(
                f"max_length {self.max_length} leaves no room for an answer after a "
                f"{len(prompt)}-token prompt; raise --max-length"
            )
        return self._join(prompt, self._ids(answer)[:room] + self.end_ids)

    def qa_spans(self, question: str, answer: str, spans: list[tuple[int, int]]) -> Encoded:
        """``qa`` with only the answer tokens that overlap one of ``spans`` (character offsets into
        ``answer``) labelled; the end token is left unlabelled too. Needs a fast tokenizer (offsets)."""
        encoded = self.qa(question, answer)
        if not getattr(self.tokenizer, "is_fast", False):
            raise ConfigError("labelling parts of an answer needs a fast tokenizer (character offsets)")
        offsets = self.tokenizer(answer, add_special_tokens=False, return_offsets_mapping=True)["offset_mapping"]
        start = next((i for i, label in enumerate(encoded.labels) if label != IGNORE_INDEX), len(encoded))
        kept = len(encoded) - start - len(self.end_ids)  # answer tokens left after a cut
        labels = list(encoded.labels)
        for position in range(start, len(labels)):
            index = position - start  # the end token(s) follow the kept answer tokens
            inside = index < kept and any(offsets[index][0] < end and begin < offsets[index][1] for begin, end in spans)
            if not inside:
                labels[position] = IGNORE_INDEX
        return Encoded(input_ids=encoded.input_ids, labels=labels)

    def target(self, question: str, reasoning: str, refusal: str) -> Encoded:
        """A reasoning target; shortens the reasoning first and never drops the refusal."""
        prompt = self.prompt_ids(question)
        head, middle, tail = (self._ids(t) for t in render_target(reasoning, refusal, self.target_format))
        reasoning_ids = self._ids(reasoning)
        fixed = len(prompt) + len(head) + len(middle) + len(tail) + len(self.end_ids)
        room = self.max_length - fixed
        if room < 0:
            raise ConfigError(
                f"max_length {self.max_length} cannot hold the prompt and the refusal ({fixed} tokens "
                f"without any reasoning); raise --max-length"
            )
        answer = head + reasoning_ids[:room] + middle + tail + self.end_ids
        return self._join(prompt, answer)

    def text(self, text: str) -> Encoded:
        """A corpus passage: plain text, every token labelled, cut at max_length."""
        bos = [self.tokenizer.bos_token_id] if self.tokenizer.bos_token_id is not None else []
        ids = (bos + self._ids(text))[: self.max_length]
        labels = list(ids)
        if bos:
            labels[0] = IGNORE_INDEX
        return Encoded(input_ids=ids, labels=labels)


def encode_item(formatter: ChatFormatter, item: QAItem | Passage) -> Encoded:
    """A QA item as its chat-formatted question and answer, a passage as plain text."""
    if isinstance(item, QAItem):
        return formatter.qa(item.question, item.answer)
    return formatter.text(item.text)
