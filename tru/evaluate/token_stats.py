"""Teacher-forced token statistics of many (prompt, answer) examples in length-sorted batches.

One forward pass per batch yields everything the metrics need: per-token log-probabilities (NLL,
MIA scores), the mean and standard deviation of log p under the model's own next-token
distribution (Min-K%++) and the argmax tokens (extraction strength). The vocabulary-sized
softmax is only taken at answer positions. Candidate answers of one question share their prompt:
it is encoded once and its key/value cache serves every candidate; the groups of several questions
go through the model together.
"""

from __future__ import annotations

import inspect
from collections import defaultdict
from dataclasses import dataclass
from typing import Sequence

import torch

from tru.data.formatting import IGNORE_INDEX, Encoded


@dataclass
class TokenStats:
    log_probs: list[float]
    dist_means: list[float]
    dist_stds: list[float]
    argmax_ids: list[int]
    label_ids: list[int]

    @property
    def nll(self) -> float:
        """Mean per-token negative log-likelihood of the answer."""
        return -sum(self.log_probs) / max(len(self.log_probs), 1)


def _length_sorted_batches(lengths: Sequence[int], batch_size: int) -> list[list[int]]:
    order = sorted(range(len(lengths)), key=lambda i: lengths[i])
    return [order[i : i + batch_size] for i in range(0, len(order), batch_size)]


def _prompt_length(example: Encoded) -> int:
    """Tokens before the first labelled one (the shared question prompt of candidate answers)."""
    return next((i for i, label in enumerate(example.labels) if label != IGNORE_INDEX), len(example.labels))


def _stats_from_rows(logits: torch.Tensor, targets: torch.Tensor) -> tuple:
    """Per-row log p(target), mean and std of log p under the row's distribution, argmax."""
    log_softmax = torch.log_softmax(logits.float(), dim=-1)
    token_lp = log_softmax.gather(-1, targets.unsqueeze(-1)).squeeze(-1)
    probs = log_softmax.exp()
    means = (probs * log_softmax).sum(-1)
    # centred before squaring: E[x^2] - E[x]^2 cancels catastrophically for flat distributions
    stds = (probs * (log_softmax - means.unsqueeze(-1)).pow(2)).sum(-1).sqrt()
    return token_lp, means, stds, logits.argmax(-1)


def _split_rows(stats: tuple, targets: torch.Tensor, counts: list[int]) -> list[TokenStats]:
    columns = [t.tolist() for t in (*stats, targets)]
    out, start = [], 0
    for count in counts:
        lp, means, stds, argmax, labels = (c[start : start + count] for c in columns)
        out.append(TokenStats(lp, means, stds, argmax, labels))
        start += count
    return out


def _decoder_and_head(model):
    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    if hasattr(base, "model") and hasattr(base, "lm_head"):
        return base.model, base.lm_head
    return None, None


def _padded(rows: Sequence[Sequence[int]], fill: int, *, left: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
    width = max(len(r) for r in rows)
    values = torch.full((len(rows), width), fill, dtype=torch.long)
    mask = torch.zeros_like(values)
    for i, row in enumerate(rows):
        span = slice(width - len(row), width) if left else slice(0, len(row))
        values[i, span] = torch.tensor(list(row), dtype=torch.long)
        mask[i, span] = 1
    return values, mask


def _score_batch(model, examples: Sequence[Encoded], pad_token_id: int, device) -> list[TokenStats]:
    """One padded teacher-forced pass; the vocabulary projection only at answer positions."""
    input_ids, attention = _padded([e.input_ids for e in examples], pad_token_id)
    labels, _ = _padded([e.labels for e in examples], IGNORE_INDEX)
    input_ids, labels, attention = input_ids.to(device), labels.to(device), attention.to(device)
    next_labels = labels[:, 1:]
    positions = next_labels.ne(IGNORE_INDEX)
    decoder, head = _decoder_and_head(model)
    if decoder is not None:
        hidden = decoder(input_ids=input_ids, attention_mask=attention).last_hidden_state
        logits = head(hidden[:, :-1][positions])
    else:
        logits = model(input_ids=input_ids, attention_mask=attention).logits[:, :-1][positions]
    targets = next_labels[positions]
    return _split_rows(_stats_from_rows(logits, targets), targets, positions.sum(-1).tolist())


def _cache_argument(decoder) -> str:
    """transformers renamed ``past_key_values`` to ``cache``; use whichever this version takes."""
    return "cache" if "cache" in inspect.signature(decoder.forward).parameters else "past_key_values"


def _score_shared_prompts(model, groups: Sequence[tuple[Sequence[int], Sequence[Encoded]]], device) -> list[TokenStats]:
    """Candidate answers grouped by their prompt, several groups per call: the prompts are encoded once
    each (left-padded into one batch), every prompt's key/value cache is repeated for its candidates,
    and only the answers are run, right-padded after the cached prompts. Results in group order."""
    decoder, head = _decoder_and_head(model)
    prompt_ids, prompt_mask = _padded([list(prompt) for prompt, _ in groups], 0, left=True)
    prompt_ids, prompt_mask = prompt_ids.to(device), prompt_mask.to(device)
    prompt_out = decoder(
        input_ids=prompt_ids,
        attention_mask=prompt_mask,
        position_ids=(prompt_mask.cumsum(-1) - 1).clamp(min=0),
        use_cache=True,
    )
    owner = torch.tensor([g for g, (_, members) in enumerate(groups) for _ in members], device=device)
    cache = getattr(prompt_out, "cache", None) or prompt_out.past_key_values
    cache.batch_select_indices(owner)
    examples = [(len(prompt), e) for prompt, members in groups for e in members]
    answer_ids, answer_mask = _padded([e.input_ids[n:] for n, e in examples], 0)
    answer_labels, _ = _padded([e.labels[n:] for n, e in examples], IGNORE_INDEX)
    answer_ids, answer_mask, answer_labels = answer_ids.to(device), answer_mask.to(device), answer_labels.to(device)
    attention = torch.cat([prompt_mask[owner], answer_mask], dim=1)
    lengths = torch.tensor([n for n, _ in examples], device=device)
    positions = lengths[:, None] + torch.arange(answer_ids.shape[1], device=device)
    hidden = decoder(
        input_ids=answer_ids, attention_mask=attention, position_ids=positions, **{_cache_argument(decoder): cache}
    ).last_hidden_state
    # the state predicting answer token t: its prompt's last state for t = 0, else answer state t - 1
    states = torch.cat([prompt_out.last_hidden_state[owner, -1:], hidden[:, :-1]], dim=1)
    labelled = answer_labels.ne(IGNORE_INDEX)
    logits = head(states[labelled])
    targets = answer_labels[labelled]
    return _split_rows(_stats_from_rows(logits, targets), targets, labelled.sum(-1).tolist())


def _group_batches(groups: Sequence[tuple[tuple, list[int]]], batch_size: int) -> list[list[tuple[tuple, list[int]]]]:
    """(prompt, member indices) groups packed into calls of at most ``batch_size`` candidates, in order;
    a larger group is cut into pieces that keep its prompt."""
    pieces = [
        (prompt, members[i : i + batch_size]) for prompt, members in groups for i in range(0, len(members), batch_size)
    ]
    batches: list[list[tuple[tuple, list[int]]]] = []
    for piece in pieces:
        if batches and sum(len(m) for _, m in batches[-1]) + len(piece[1]) <= batch_size:
            batches[-1].append(piece)
        else:
            batches.append([piece])
    return batches


@torch.no_grad()
def token_stats(
    model,
    examples: Sequence[Encoded],
    pad_token_id: int,
    *,
    batch_size: int = 16,
    desc: str = "scoring",
    share_prompts: bool = True,
) -> list[TokenStats]:
    """Statistics of the labelled tokens of each example, in the order given.

    With ``share_prompts``, examples that share their prompt (the candidate answers of one question)
    are scored with the prompt encoded once; the rest go in length-sorted padded batches.
    """
    from tqdm.auto import tqdm

    progress = tqdm(total=len(examples), desc=desc, leave=False, unit="seq")
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    results: list[TokenStats | None] = [None] * len(examples)
    groups: dict[tuple, list[int]] = defaultdict(list)
    for index, example in enumerate(examples):
        groups[tuple(example.input_ids[: _prompt_length(example)])].append(index)
    shared = share_prompts and _decoder_and_head(model)[0] is not None
    singles = (
        [i for members in groups.values() for i in members]
        if not shared
        else [members[0] for members in groups.values() if len(members) == 1]
    )
    try:
        if shared:
            multi = sorted(((p, m) for p, m in groups.items() if len(m) > 1), key=lambda group: len(group[0]))
            for batch in _group_batches(multi, batch_size):
                stats = _score_shared_prompts(model, [(p, [examples[i] for i in m]) for p, m in batch], device)
                for index, value in zip((i for _, m in batch for i in m), stats):
                    results[index] = value
                progress.update(sum(len(m) for _, m in batch))
        for batch in _length_sorted_batches([len(examples[i]) for i in singles], batch_size):
            indices = [singles[b] for b in batch]
            for index, value in zip(indices, _score_batch(model, [examples[i] for i in indices], pad_token_id, device)):
                results[index] = value
            progress.update(len(indices))
    finally:
        progress.close()
        model.train(was_training)
    return results  # type: ignore[return-value]
