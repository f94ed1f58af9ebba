"""``POST /v1/completions``: OpenAI's legacy completions, as lm-evaluation-harness's ``local-completions`` uses them.

For a loglikelihood task lm-eval sends ``{"prompt": [[token ids of context + continuation]], "max_tokens": 1,
"echo": true, "logprobs": 1, "temperature": 0}`` and reads, per choice, ``logprobs.token_logprobs`` and
``logprobs.top_logprobs`` from the context's end on (dropping the last entry, the generated token); for
generation it sends ``prompt``, ``max_tokens``, ``temperature``, ``stop`` and ``seed`` and reads ``text``.

- ``prompt``: a string, a list of strings, a list of token ids or a list of such lists (one choice each,
  in order). A string is tokenized as it stands, without a BOS token, as lm-eval counts its tokens.
- ``max_tokens``: 0 (with ``echo``: score the prompt only) up to the server's limit.
- ``echo``: the choice's text and log-probs start with the prompt's.
- ``logprobs``: an integer 0..5. Each token's log-prob comes from one teacher-forced forward pass over
  prompt and completion (the first token has none: null, as OpenAI gives); ``top_logprobs`` maps the
  text of the ``logprobs`` most likely tokens, and of the chosen one, to their log-probs;
  ``text_offset`` is each token's character offset in the prompt followed by the completion (so
  without ``echo`` the offsets start at the prompt's length, as OpenAI's do).
- ``temperature``, ``top_p``, ``seed``, ``stop``, ``n`` (1) as in chat completions.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass

from tru.llm.fields import (
    ApiError,
    bounded_number,
    flag,
    is_integer,
    json_type,
    max_tokens,
    only_one_choice,
    seed,
    stop_sequences,
    utf8_text,
    wrong_type,
)

MOST_LOGPROBS = 5  # OpenAI's limit for the legacy completions
DECODE_WINDOW = 6  # tokens of context decoded with each token, so that its text (a leading space...) is right
SCORING_ROWS = 512  # positions turned into log-probs at a time: bounds the float32 copy of the logits


@dataclass
class Prompt:
    ids: list[int]
    text: str | None  # as the client sent it, when it sent a string


@dataclass
class CompletionCall:
    """A validated completions request."""

    prompts: list[Prompt]
    max_tokens: int
    echo: bool
    logprobs: int | None
    temperature: float
    top_p: float
    seed: int | None
    stop: list[str]

    def log_messages(self) -> list[dict]:
        """The first prompt as a user message: what the server's hooks (tru.llm.server.ServeHooks) are given."""
        first = self.prompts[0].text
        return [{"role": "user", "content": first}] if first is not None else []


def parse_completion(
    body: dict, chat, *, default_max_tokens: int, max_tokens_limit: int, max_prompts: int
) -> CompletionCall:
    """The request checked field by field (after the caller checked the model and the parameter names)."""
    echo = flag("echo", body.get("echo"))
    most = max_tokens(body, default_max_tokens, max_tokens_limit, lowest=0)
    if most == 0 and not echo:
        raise ApiError(400, "'max_tokens' 0 asks for nothing without 'echo': true", param="max_tokens")
    only_one_choice(body)
    call = CompletionCall(
        prompts=_prompts(body.get("prompt"), chat, max_prompts),
        max_tokens=most,
        echo=echo,
        logprobs=_logprobs(body.get("logprobs")),
        temperature=bounded_number(body, "temperature", 0, 2, 0.0),
        top_p=bounded_number(body, "top_p", 0, 1, 1.0),
        seed=seed(body.get("seed")),
        stop=stop_sequences(body.get("stop")),
    )
    _check_lengths(call, chat)
    return call


def _logprobs(value) -> int | None:
    if value is not None and (not is_integer(value) or not 0 <= value <= MOST_LOGPROBS):
        raise ApiError(
            400, f"'logprobs' must be an integer in [0, {MOST_LOGPROBS}], got {value!r:.40}", param="logprobs"
        )
    return value


def _prompts(value, chat, most: int) -> list[Prompt]:
    """A string, a list of strings, a list of token ids or a list of lists of token ids."""
    if isinstance(value, str):
        return [_string_prompt("prompt", value, chat)]
    if not isinstance(value, list) or not value:
        raise ApiError(
            400,
            f"'prompt' must be a string, a list of strings or a list of token ids, got "
            f"{'an empty list' if value == [] else json_type(value)}",
            param="prompt",
        )
    if all(is_integer(item) for item in value):
        return [_token_prompt("prompt", value, chat)]
    if len(value) > most:
        raise ApiError(400, f"too many prompts: {len(value)} (limit {most})", param="prompt")
    prompts = []
    for index, item in enumerate(value):
        field = f"prompt[{index}]"
        if isinstance(item, str):
            prompts.append(_string_prompt(field, item, chat))
        elif isinstance(item, list):
            prompts.append(_token_prompt(field, item, chat))
        else:
            raise wrong_type(field, "a string or a list of token ids", item)
    return prompts


def _string_prompt(field: str, value: str, chat) -> Prompt:
    ids = chat.count_ids(utf8_text(field, value))
    if not ids:
        raise ApiError(400, f"'{field}' is empty", param=field)
    return Prompt(ids=list(ids), text=value)


def _token_prompt(field: str, value: list, chat) -> Prompt:
    vocabulary = chat.model.get_input_embeddings().num_embeddings
    if not value:
        raise ApiError(400, f"'{field}' is empty", param=field)
    for index, token in enumerate(value):
        if not is_integer(token) or not 0 <= token < vocabulary:
            raise ApiError(
                400, f"'{field}[{index}]' must be a token id in [0, {vocabulary}), got {token!r:.40}", param=field
            )
    return Prompt(ids=list(value), text=None)


def _check_lengths(call: CompletionCall, chat) -> None:
    limit = getattr(chat.model.config, "max_position_embeddings", None)
    for index, prompt in enumerate(call.prompts):
        if limit and len(prompt.ids) + call.max_tokens > limit:
            raise ApiError(
                400,
                f"prompt {index} ({len(prompt.ids)} tokens) plus max_tokens ({call.max_tokens}) "
                f"exceeds the model's context of {limit} tokens",
                param="prompt",
            )


# -- answering ---------------------------------------------------------------------------------------------


@dataclass
class Scored:
    """Log-probs of the tokens after the first: ``chosen[j]`` is that of token j + 1, ``top[j]`` its rivals."""

    chosen: list[float]
    top: list[list[tuple[int, float]]]


def answer_completion(chat, call: CompletionCall, name: str) -> dict:
    """The response body: one choice per prompt, answered one after another."""
    choices, prompt_tokens, completion_tokens = [], 0, 0
    for index, prompt in enumerate(call.prompts):
        choice, generated = _choice(chat, call, prompt)
        choices.append({"index": index, **choice})
        prompt_tokens += len(prompt.ids)
        completion_tokens += generated
    return {
        "id": f"cmpl-{uuid.uuid4().hex}",
        "object": "text_completion",
        "created": int(time.time()),
        "model": name,
        "choices": choices,
        "usage": {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens,
        },
    }


def _choice(chat, call: CompletionCall, prompt: Prompt) -> tuple[dict, int]:
    """(choice without its index, tokens generated)."""
    import torch

    with chat._lock, torch.no_grad():
        new, scored = _generate_and_score(chat, call, prompt.ids)
    ended = bool(new) and new[-1] == chat.tokenizer.eos_token_id
    completion = chat.tokenizer.decode(new, skip_special_tokens=True)
    cut = _stop_at(completion, call.stop)
    finish = "stop" if ended or cut is not None or len(new) < call.max_tokens else "length"
    completion = completion if cut is None else completion[:cut]
    prompt_text = prompt.text if prompt.text is not None else chat.tokenizer.decode(prompt.ids)
    choice = {"text": (prompt_text if call.echo else "") + completion, "finish_reason": finish, "logprobs": None}
    if call.logprobs is not None:
        choice["logprobs"] = _logprobs_field(chat.tokenizer, prompt.ids, new, scored, call, len(prompt_text), cut)
    return choice, len(new)


def _generate_and_score(chat, call: CompletionCall, ids: list[int]) -> tuple[list[int], Scored | None]:
    """The generated ids and, if asked for, the log-probs of prompt and completion.

    One greedy token with log-probs (what lm-eval asks for) takes a single forward pass: the one that
    scores the prompt also gives the next token.
    """
    top = call.logprobs or 0
    if call.logprobs is not None and call.max_tokens == 1 and call.temperature == 0:
        scored, best_next = _score(chat, ids, top)
        return [best_next], scored
    new = _generate(chat, call, ids) if call.max_tokens else []
    sequence = ids + new
    if call.logprobs is None:
        return new, None
    if len(sequence) < 2:  # one token: nothing before it to score it by
        return new, Scored([], [])
    scored, _ = _score(chat, sequence[:-1], top, following=sequence[-1])
    return new, scored


def _generate(chat, call: CompletionCall, ids: list[int]) -> list[int]:
    kwargs = chat._generate_kwargs(ids, call.max_tokens, call.temperature, call.top_p, call.seed)
    output = chat.model.generate(**kwargs)
    return output[0, len(ids) :].tolist()


def _score(chat, ids: list[int], top: int, following: int | None = None) -> tuple[Scored, int]:
    """One forward pass over ``ids``: the log-probs of ids[1:] and of the token that follows them.

    ``following`` is that token, or None for the most likely one (greedy decoding); it is returned too.
    """
    import torch

    logits = chat.model(input_ids=torch.tensor([ids], device=chat.device)).logits[0]
    following = int(logits[-1].argmax()) if following is None else following
    targets = torch.tensor(ids[1:] + [following], device=logits.device)
    chosen, rivals = [], []
    for start in range(0, len(ids), SCORING_ROWS):
        rows = torch.log_softmax(logits[start : start + SCORING_ROWS].float(), dim=-1)
        chosen += rows.gather(1, targets[start : start + SCORING_ROWS, None])[:, 0].tolist()
        if top:
            values, indices = rows.topk(top, dim=-1)
            rivals += [list(zip(i, v)) for i, v in zip(indices.tolist(), values.tolist())]
        else:
            rivals += [[] for _ in range(rows.shape[0])]
    return Scored(chosen, rivals), following


def _stop_at(completion: str, stop: list[str]) -> int | None:
    positions = [completion.find(s) for s in stop if s in completion]
    return min(positions) if positions else None


# -- the logprobs field --------------------------------------------------------------------------------


def _logprobs_field(
    tokenizer,
    prompt: list[int],
    new: list[int],
    scored: Scored,
    call: CompletionCall,
    prompt_length: int,
    cut: int | None,
) -> dict:
    """OpenAI's ``logprobs``: tokens, token_logprobs, top_logprobs and text_offset, in step."""
    sequence = prompt + new
    first = 0 if call.echo else len(prompt)
    texts = token_texts(tokenizer, sequence, first)
    offsets = _offsets(texts, first, len(prompt), prompt_length)
    field = {"tokens": [], "token_logprobs": [], "top_logprobs": [], "text_offset": []}
    for j, piece, offset in zip(range(first, len(sequence)), texts, offsets):
        if j >= len(prompt) and cut is not None and offset - prompt_length >= cut:
            break  # after a stop sequence
        field["tokens"].append(piece)
        field["text_offset"].append(offset)
        if j == 0:  # nothing before the first token: no log-prob, as OpenAI answers
            field["token_logprobs"].append(None)
            field["top_logprobs"].append(None)
            continue
        field["token_logprobs"].append(scored.chosen[j - 1])
        field["top_logprobs"].append(_top(tokenizer, sequence, j, piece, scored.chosen[j - 1], scored.top[j - 1]))
    return field


def _top(
    tokenizer, sequence: list[int], j: int, chosen_text: str, chosen: float, rivals: list[tuple[int, float]]
) -> dict[str, float]:
    """The most likely tokens at position j and the chosen one, by their text (up to logprobs + 1 entries)."""
    context = sequence[max(0, j - DECODE_WINDOW) : j]
    before = tokenizer.decode(context)
    top = {_piece(tokenizer, context, before, token): value for token, value in rivals}
    top.setdefault(chosen_text, chosen)
    return top


def token_texts(tokenizer, ids: list[int], first: int = 0) -> list[str]:
    """The text of each token from ``first`` on, as it reads in place (a word's leading space included)."""
    texts = []
    for j in range(first, len(ids)):
        context = ids[max(0, j - DECODE_WINDOW) : j]
        texts.append(_piece(tokenizer, context, tokenizer.decode(context), ids[j]))
    return texts


def _piece(tokenizer, context: list[int], before: str, token: int) -> str:
    after = tokenizer.decode(context + [token])
    if after.startswith(before):
        return after[len(before) :]
    same = 0  # a character the context left incomplete (part of a UTF-8 sequence) is completed by the token
    while same < min(len(before), len(after)) and before[same] == after[same]:
        same += 1
    return after[same:]


def _offsets(texts: list[str], first: int, prompt_tokens: int, prompt_length: int) -> list[int]:
    """Character offsets of tokens ``first``...: the prompt's from 0, the completion's from the prompt's length."""
    offsets, at = [], 0
    for j, piece in enumerate(texts, start=first):
        if j == prompt_tokens:
            at = prompt_length
        offsets.append(at)
        at += len(piece)
    return offsets
