"""A local chat model through transformers: the model behind ``tru serve`` and the ``local`` generator.

``LocalChat`` renders messages with the model's chat template and decodes greedily (temperature 0)
or by sampling, one request at a time (a lock guards the model). ``LocalChatBackend`` puts it behind
the same interface, cache and usage accounting as ``tru.llm.client.ChatClient``, without HTTP.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Iterator, Sequence

from tru.core.errors import ConfigError
from tru.llm.client import CachedChatBackend, ChatFailure, ChatRequest, ChatResult


@dataclass
class Generation:
    text: str
    prompt_tokens: int
    completion_tokens: int
    finish_reason: str  # "stop" or "length"

    @property
    def usage(self) -> dict:
        return {
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": self.completion_tokens,
            "total_tokens": self.prompt_tokens + self.completion_tokens,
        }


def _cut_at_stop(text: str, stop: Sequence[str]) -> tuple[str, bool]:
    positions = [text.find(s) for s in stop if s and s in text]
    return (text[: min(positions)], True) if positions else (text, False)


class LocalChat:
    """A causal LM and its tokenizer, answering chat messages."""

    def __init__(self, model: str, *, dtype: str = "float32", device: str = "auto", trust_remote_code: bool = False):
        from tru.modeling.models import ModelSettings, load_model, load_tokenizer, resolve_device

        self.name = model
        self.tokenizer = load_tokenizer(model, trust_remote_code=trust_remote_code)
        self.model = load_model(ModelSettings(name=model, dtype=dtype, trust_remote_code=trust_remote_code))
        self.device = resolve_device(device)
        self.model.to(self.device).eval()
        self._lock = threading.Lock()

    def prompt_ids(self, messages: Sequence[dict]) -> list[int]:
        """The chat template with the assistant's generation prompt; plain "role: text" lines without one."""
        if getattr(self.tokenizer, "chat_template", None):
            ids = self.tokenizer.apply_chat_template(list(messages), add_generation_prompt=True, tokenize=True)
            return list(ids["input_ids"] if hasattr(ids, "keys") else ids)
        text = "".join(f"{m['role']}: {m['content']}\n" for m in messages) + "assistant: "
        return self.count_ids(text)

    def count_ids(self, text: str) -> list[int]:
        return self.tokenizer(text, add_special_tokens=False)["input_ids"]

    def _generate_kwargs(
        self, prompt: list[int], max_tokens: int, temperature: float, top_p: float, seed: int | None
    ) -> dict:
        import torch

        if seed is not None:
            torch.manual_seed(seed)
        sampling = temperature > 0
        kwargs = dict(
            input_ids=torch.tensor([prompt], device=self.device),
            attention_mask=torch.ones(1, len(prompt), dtype=torch.long, device=self.device),
            max_new_tokens=max_tokens,
            do_sample=sampling,
            pad_token_id=self.tokenizer.pad_token_id,
            eos_token_id=self.tokenizer.eos_token_id,
        )
        if sampling:
            kwargs.update(temperature=temperature, top_p=top_p)
        else:  # silence the model's own sampling defaults
            kwargs.update(temperature=None, top_p=None, top_k=None)
        return kwargs

    def generate(
        self,
        messages: Sequence[dict],
        *,
        max_tokens: int = 256,
        temperature: float = 0.0,
        top_p: float = 1.0,
        seed: int | None = None,
        stop: Sequence[str] = (),
    ) -> Generation:
        """One answer. Temperature 0 is greedy decoding (deterministic)."""
        import torch

        prompt = self.prompt_ids(messages)
        with self._lock, torch.no_grad():
            output = self.model.generate(**self._generate_kwargs(prompt, max_tokens, temperature, top_p, seed))
        new = output[0, len(prompt) :].tolist()
        ended = bool(new) and new[-1] == self.tokenizer.eos_token_id
        text = self.tokenizer.decode(new, skip_special_tokens=True)
        text, stopped = _cut_at_stop(text, stop)
        finish = "stop" if ended or stopped or len(new) < max_tokens else "length"
        return Generation(text=text, prompt_tokens=len(prompt), completion_tokens=len(new), finish_reason=finish)

    def stream(
        self,
        messages: Sequence[dict],
        *,
        max_tokens: int = 256,
        temperature: float = 0.0,
        top_p: float = 1.0,
        seed: int | None = None,
    ) -> "Stream":
        """Text pieces as the model produces them; the model is held until the last piece."""
        return Stream(self, self.prompt_ids(messages), max_tokens, temperature, top_p, seed)


class Stream:
    """Iterate for text pieces; afterwards ``prompt_tokens``, ``completion_tokens`` and ``finish_reason``."""

    def __init__(
        self, chat: LocalChat, prompt: list[int], max_tokens: int, temperature: float, top_p: float, seed: int | None
    ):
        self.chat = chat
        self.prompt_tokens = len(prompt)
        self.completion_tokens = 0
        self.max_tokens = max_tokens
        self._kwargs = chat._generate_kwargs(prompt, max_tokens, temperature, top_p, seed)

    @property
    def finish_reason(self) -> str:
        return "length" if self.completion_tokens >= self.max_tokens else "stop"

    def __iter__(self) -> Iterator[str]:
        from transformers import TextIteratorStreamer

        outer = self

        class CountingStreamer(TextIteratorStreamer):
            def put(self, value):
                if not self.next_tokens_are_prompt:
                    outer.completion_tokens += value.numel()
                super().put(value)

        streamer = CountingStreamer(self.chat.tokenizer, skip_prompt=True, skip_special_tokens=True)
        with self.chat._lock:
            worker = threading.Thread(target=self._generate, args=(streamer,), daemon=True)
            worker.start()
            try:
                for piece in streamer:
                    if piece:
                        yield piece
            finally:
                worker.join()

    def _generate(self, streamer) -> None:
        import torch

        with torch.no_grad():
            self.chat.model.generate(**self._kwargs, streamer=streamer)


class LocalChatBackend(CachedChatBackend):
    """``ChatClient``'s interface over a ``LocalChat``: same results, cache and usage, one call at a time.

    Parameters understood: ``max_tokens``, ``temperature``, ``top_p``, ``seed``, ``stop``.
    """

    def __init__(self, chat: LocalChat, *, cache_dir: str | Path | None = None, default_params: dict | None = None):
        super().__init__(cache_dir=cache_dir, max_concurrency=1, default_params=default_params)
        self.chat = chat
        self.endpoint = "local"
        self.model = str(chat.name)

    def _call(self, request: ChatRequest) -> ChatResult | ChatFailure:
        params = dict(request.params)
        unknown = set(params) - {"max_tokens", "temperature", "top_p", "seed", "stop"}
        if unknown:
            raise ConfigError(f"the local model does not take parameter(s): {', '.join(sorted(unknown))}")
        stop = params.pop("stop", None) or ()
        self._count_attempt(retry=False)
        try:
            generation = self.chat.generate(request.messages, stop=[stop] if isinstance(stop, str) else stop, **params)
        except (RuntimeError, ValueError) as exc:  # e.g. out of memory, a prompt longer than the model takes
            return ChatFailure(f"local generation failed: {exc}")
        return ChatResult(
            text=generation.text,
            reasoning=None,
            usage=generation.usage,
            cached=False,
            finish_reason=generation.finish_reason,
            created_at=datetime.now(timezone.utc).isoformat(timespec="seconds"),
        )
