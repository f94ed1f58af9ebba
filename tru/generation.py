"""Greedy chat generation for showing what a model answers."""

from __future__ import annotations

from typing import Sequence

import torch

from tru.data.formatting import ChatFormatter


@torch.no_grad()
def generate_answers(model, tokenizer, questions: Sequence[str], *, max_new_tokens: int = 64,
                     batch_size: int = 8) -> list[str]:
    """Batched greedy decoding with left padding; returns only the new text."""
    formatter = ChatFormatter(tokenizer, max_length=4096)
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    answers = []
    try:
        for start in range(0, len(questions), batch_size):
            prompts = [formatter.prompt_ids(q) for q in questions[start:start + batch_size]]
            width = max(len(p) for p in prompts)
            input_ids = torch.full((len(prompts), width), tokenizer.pad_token_id, dtype=torch.long)
            attention = torch.zeros_like(input_ids)
            for row, prompt in enumerate(prompts):
                input_ids[row, width - len(prompt):] = torch.tensor(prompt)
                attention[row, width - len(prompt):] = 1
            output = model.generate(input_ids=input_ids.to(device), attention_mask=attention.to(device),
                                    max_new_tokens=max_new_tokens, do_sample=False,
                                    pad_token_id=tokenizer.pad_token_id, eos_token_id=tokenizer.eos_token_id)
            for row in output[:, width:]:
                answers.append(tokenizer.decode(row, skip_special_tokens=False)
                               .split(tokenizer.eos_token)[0].strip())
    finally:
        model.train(was_training)
    return answers
