"""The relearning attack: fine-tune the unlearned model on part of the forget set and measure how
much of the held-out rest comes back.

Split (deterministic per seed): the forget item indices are shuffled with ``random.Random(seed)``;
the first ``round(share * n)`` (at least 1, at most n - 1) form the relearn set, the rest the
held-out set; both are reported sorted. The two sets are disjoint and cover the forget set.

Training: a copy of the model (the loaded one is untouched) is trained in process with AdamW
(``relearn_lr``, no weight decay) for ``relearn_steps`` steps on batches of ``relearn_batch_size``
relearn items (answer tokens only, on packed rows with the loss of ``tru finetune``), cycling through
a seeded order.

Report on the held-out forget items: before (the unlearned model) vs after (relearned), and with
``--original-model`` the model before unlearning with the recovered share
``(nll_unlearned - nll_relearned) / (nll_unlearned - nll_original)`` (and the same for ROUGE-L
recall, ``(rouge_relearned - rouge_unlearned) / (rouge_original - rouge_unlearned)``); 1 means all of
the unlearned knowledge of the held-out items is back; None when unlearning changed nothing. With
``--original-eval`` the original model's measurements come from its finished evaluation.
"""

from __future__ import annotations

import copy
import dataclasses
import random

import torch
from accelerate.utils import send_to_device

from tru.attacks.base import AttackContext, compare, subset, weight_eval, weight_metrics
from tru.attacks.weights import baseline_generation_requests, baseline_weight_metrics
from tru.core.errors import ConfigError
from tru.evaluate.registry import value_of
from tru.modeling.logits_workspace import workspace_for
from tru.modeling.packed_attention import packed_attention
from tru.modeling.packed_lm import PackingCollator, packed_lm_loss
from tru.train.training import adamw


def split_forget(n: int, share: float, seed: int) -> tuple[list[int], list[int]]:
    """(relearn indices, held-out indices): disjoint, covering range(n), deterministic per seed."""
    if n < 2:
        raise ConfigError(f"the relearning attack needs at least 2 forget items, got {n}")
    order = list(range(n))
    random.Random(seed).shuffle(order)
    k = min(n - 1, max(1, round(share * n)))
    return sorted(order[:k]), sorted(order[k:])


def relearn_model(model, formatter, items, *, steps: int, lr: float, batch_size: int, seed: int):
    """A fine-tuned copy of ``model``; returns (copy, per-step losses)."""
    torch.manual_seed(seed)
    tuned = copy.deepcopy(model)
    tuned.train()
    device = next(tuned.parameters()).device
    encoded = [formatter.qa(x.question, x.answer) for x in items]
    collate = PackingCollator(formatter.tokenizer.pad_token_id)
    workspace = workspace_for(tuned, device)
    optimizer = adamw((p for p in tuned.parameters() if p.requires_grad), lr=lr)
    rng = random.Random(seed)
    order: list[int] = []
    losses = []
    for _ in range(steps):
        batch_ids = []
        while len(batch_ids) < min(batch_size, len(encoded)):
            if not order:
                order = list(range(len(encoded)))
                rng.shuffle(order)
            batch_ids.append(order.pop())
        batch = send_to_device(
            collate([{"input_ids": encoded[i].input_ids, "labels": encoded[i].labels} for i in batch_ids]), device
        )
        with packed_attention(tuned):
            loss = packed_lm_loss(tuned, batch, logits_workspace=workspace)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
        optimizer.step()
        losses.append(float(loss.detach()))
    tuned.eval()
    del optimizer
    return tuned, losses


RECOVERY_METRICS = ("nll", "rougeL_recall", "fact_leak")


def _recovered(unlearned: float | None, attacked: float | None, original: float | None) -> float | None:
    if None in (unlearned, attacked, original) or abs(original - unlearned) < 1e-4:
        return None
    return (attacked - unlearned) / (original - unlearned)


class Relearn:
    name = "relearn"
    uses_baseline_answers = True  # baseline_weight_metrics scores the unattacked model's answers
    generation_requests = staticmethod(baseline_generation_requests)

    def check(self, ctx: AttackContext) -> None:
        from tru.modeling.models import resolve_model_path

        split_forget(len(ctx.data["forget"]), ctx.config.relearn_share, ctx.config.seed)
        if ctx.config.original_model:
            resolve_model_path(ctx.config.original_model)

    def run(self, ctx: AttackContext) -> dict:
        c = ctx.config
        items = ctx.data["forget"]
        relearn_ids, heldout_ids = split_forget(len(items), c.relearn_share, c.seed)
        heldout = [items[i] for i in heldout_ids]
        before = subset(baseline_weight_metrics(ctx)["forget"], heldout_ids)

        def train_and_measure() -> dict:
            ctx.log(f"  {self.name}: training on {len(relearn_ids)} forget items for {c.relearn_steps} steps ...")
            tuned, losses = relearn_model(
                ctx.em.model,
                ctx.em.formatter,
                [items[i] for i in relearn_ids],
                steps=c.relearn_steps,
                lr=c.relearn_lr,
                batch_size=c.relearn_batch_size,
                seed=c.seed,
            )
            measured = weight_eval(dataclasses.replace(ctx.em, model=tuned), heldout)
            del tuned
            return {"losses": losses, **measured}

        key = f"{self.name}/heldout_relearned"
        ctx.log(f"  {key}: reused" if ctx.store.has(key) else f"  {key} ...")
        relearned = ctx.store.compute(key, train_and_measure)
        after = weight_metrics(heldout, relearned, "forget")
        result = {
            "relearned": {
                "relearn_items": relearn_ids,
                "heldout_items": heldout_ids,
                "share": c.relearn_share,
                "steps": c.relearn_steps,
                "lr": c.relearn_lr,
                "seed": c.seed,
                "losses": relearned["losses"],
                "forget": {**compare(before, after), "generations": relearned["generations"]["text"]},
            }
        }
        if c.original_model:
            key = f"{self.name}/heldout_original"
            ctx.log(f"  {key}: reused" if ctx.store.has(key) else f"  {key} ...")
            original = ctx.store.compute(key, lambda: self._measure_original(ctx, heldout_ids))
            reference = weight_metrics(heldout, original, "forget")
            cmp = compare(before, reference)
            result["original"] = {
                "model": c.original_model,
                "forget": {**cmp, "generations": original["generations"]["text"]},
            }
            relearned, against_original = result["relearned"]["forget"]["aggregate"], cmp["aggregate"]

            def mean(aggregates: dict, metric: str, when: str) -> float | None:
                return value_of(aggregates[metric][when])

            # unlearned = before relearning; the original model = "after" of the comparison with it
            result["relearned"]["extra"] = {
                **{
                    f"recovered_share_{m}": _recovered(
                        mean(against_original, m, "before"),
                        mean(relearned, m, "after"),
                        mean(against_original, m, "after"),
                    )
                    for m in RECOVERY_METRICS
                },
                **{f"original_{m}": mean(against_original, m, "after") for m in RECOVERY_METRICS},
            }
        return result

    @staticmethod
    def _measure_original(ctx: AttackContext, heldout_ids: list[int]) -> dict:
        from tru.modeling.models import ModelSettings, load_model

        c = ctx.config
        heldout = [ctx.data["forget"][i] for i in heldout_ids]
        evaluation = ctx.prepared.get("original_eval")  # --original-eval: measured there already
        if evaluation is not None:
            questions = [x.question for x in ctx.data["forget"]]
            answer, generations = evaluation.answer("forget", questions), evaluation.generations(questions)
            if answer is not None and generations is not None:
                ctx.log(f"  {Relearn.name}: the original model's measurements from {evaluation.path}")
                return {"answer": subset(answer, heldout_ids), "generations": subset(generations, heldout_ids)}
            ctx.log(
                f"  {Relearn.name}: {evaluation.path} did not ask these forget questions; measuring the original model"
            )
        model = load_model(ModelSettings(name=c.original_model, dtype=c.dtype, trust_remote_code=c.trust_remote_code))
        model.to(next(ctx.em.model.parameters()).device)
        measured = weight_eval(dataclasses.replace(ctx.em, model=model), heldout)
        del model
        return measured
