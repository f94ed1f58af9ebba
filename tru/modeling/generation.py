"""Batched greedy generation with a KV cache and left padding."""

from __future__ import annotations

from typing import Sequence

import torch


@torch.no_grad()
def generate_from_ids(
    model,
    tokenizer,
    prompts: Sequence[list[int]],
    *,
    max_new_tokens: int = 64,
    batch_size: int = 8,
    stop_at_newline: bool = False,
    desc: str = "generating",
) -> list[str]:
    """Greedy continuations of token-id prompts (batched by similar length), new text only."""
    from tqdm.auto import tqdm

    progress = tqdm(total=len(prompts), desc=desc, leave=False, unit="seq")
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    answers: list[str | None] = [None] * len(prompts)
    order = sorted(range(len(prompts)), key=lambda i: len(prompts[i]))
    try:
        for start in range(0, len(order), batch_size):
            indices = order[start : start + batch_size]
            width = max(len(prompts[i]) for i in indices)
            input_ids = torch.full((len(indices), width), tokenizer.pad_token_id, dtype=torch.long)
            attention = torch.zeros_like(input_ids)
            for row, index in enumerate(indices):
                prompt = prompts[index]
                input_ids[row, width - len(prompt) :] = torch.tensor(prompt)
                attention[row, width - len(prompt) :] = 1
            output = model.generate(
                input_ids=input_ids.to(device),
                attention_mask=attention.to(device),
                max_new_tokens=max_new_tokens,
                do_sample=False,
                use_cache=True,
                pad_token_id=tokenizer.pad_token_id,
                eos_token_id=tokenizer.eos_token_id,
            )
            for row, index in enumerate(indices):
                text = tokenizer.decode(output[row, width:], skip_special_tokens=False)
                text = text.split(tokenizer.eos_token)[0] if tokenizer.eos_token else text
                answers[index] = (text.split("\n")[0] if stop_at_newline else text).strip()
            progress.update(len(indices))
    finally:
        progress.close()
        model.train(was_training)
    return answers  # type: ignore[return-value]
