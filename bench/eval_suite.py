"""The TOFU evaluation suite: tru's batched implementation against a straightforward one, in one run.

    python bench/eval_suite.py                                 # forget01, 10 items per split, 48 new tokens
    python bench/eval_suite.py --limit 20 --max-new-tokens 64 --out runs/bench/eval.json
    python bench/eval_suite.py --device cuda --threads 0

Both compute the model-facing measurements of `tru eval --benchmark tofu` on the same items: answer
NLLs (forget, holdout, retain, real authors, world facts), the NLLs of every paraphrased and perturbed
candidate answer, and greedy generations for each question (and each paraphrased forget question).

- tru: length-sorted padded batches, the vocabulary projection only at answer positions, candidates
  of one question scored with the prompt encoded once (its KV cache reused), batched greedy
  generation with a KV cache and left padding (tru.evaluate.tofu_suite.measure);
- straightforward: one forward pass with full logits per answer and per candidate, and generation
  one question at a time (model.generate, KV cache on).

Reports both wall times, the speed-up, and how far apart the results are (largest NLL difference,
share of identical generations).
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import torch
from workload import DEFAULT_DATA, configure_threads, machine, report


@torch.no_grad()
def straightforward_nll(model, example) -> float:
    ids = torch.tensor([example.input_ids], device=model.device)
    labels = torch.tensor([example.labels], device=model.device)
    logits = model(input_ids=ids).logits[0, :-1]
    log_probs = torch.log_softmax(logits.float(), dim=-1)
    next_labels = labels[0, 1:]
    mask = next_labels.ne(-100)
    picked = log_probs[mask].gather(-1, next_labels[mask].unsqueeze(-1)).squeeze(-1)
    return float(-picked.mean())


@torch.no_grad()
def straightforward_generate(model, tokenizer, prompt: list[int], max_new_tokens: int) -> str:
    output = model.generate(
        input_ids=torch.tensor([prompt], device=model.device),
        max_new_tokens=max_new_tokens,
        do_sample=False,
        pad_token_id=tokenizer.pad_token_id,
        eos_token_id=tokenizer.eos_token_id,
    )
    text = tokenizer.decode(output[0, len(prompt) :], skip_special_tokens=False)
    return (text.split(tokenizer.eos_token)[0] if tokenizer.eos_token else text).strip()


def straightforward_suite(model, tokenizer, formatter, data: dict, max_new_tokens: int) -> dict:
    out = {}
    for role, items in data.items():
        out[f"{role}/answer"] = [straightforward_nll(model, formatter.qa(x.question, x.answer)) for x in items]
        if role == "holdout":
            continue
        with_paraphrase = role in ("forget", "retain")
        out[f"{role}/candidates"] = [
            ([straightforward_nll(model, formatter.qa(x.question, x.paraphrased_answer))] if with_paraphrase else [])
            + [straightforward_nll(model, formatter.qa(x.question, a)) for a in x.perturbed_answer or []]
            for x in items
        ]
        questions = [x.question for x in items]
        if role == "forget":
            questions += [x.paraphrased_question or x.question for x in items]
        out[f"{role}/generations"] = [
            straightforward_generate(model, tokenizer, formatter.prompt_ids(q), max_new_tokens) for q in questions
        ]
    return out


def tru_suite(em, data: dict) -> dict:
    from tru.evaluate.store import EvalStore
    from tru.evaluate.tofu_suite import measure

    with tempfile.TemporaryDirectory() as tmp:
        store = EvalStore(Path(tmp) / "EVAL.json", {"bench": True})
        measure(em, data, store, lambda message: None)
        blocks = store.data["blocks"]
    out = {}
    for role in data:
        out[f"{role}/answer"] = blocks[f"{role}/answer"]["nll"]
        if role == "holdout":
            continue
        candidates = blocks[f"{role}/candidates"]
        paraphrased = candidates.get("paraphrased_nll")
        out[f"{role}/candidates"] = [
            ([paraphrased[i]] if paraphrased else []) + perturbed
            for i, perturbed in enumerate(candidates["perturbed_nll"])
        ]
        texts = blocks[f"{role}/generations"]["text"]
        if role == "forget":
            texts = texts + blocks["forget/paraphrase_generations"]["text"]
        out[f"{role}/generations"] = texts
    return out


def compare(ours: dict, reference: dict) -> dict:
    nll_gap, same, total = 0.0, 0, 0
    for key, values in reference.items():
        if key.endswith("/generations"):
            same += sum(a == b for a, b in zip(ours[key], values))
            total += len(values)
        else:
            flat_ref = [v for x in values for v in (x if isinstance(x, list) else [x])]
            flat_ours = [v for x in ours[key] for v in (x if isinstance(x, list) else [x])]
            assert len(flat_ref) == len(flat_ours), key
            nll_gap = max([nll_gap] + [abs(a - b) for a, b in zip(flat_ours, flat_ref)])
    return {"max_nll_difference": nll_gap, "identical_generations": f"{same}/{total}"}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="smollm2-135m")
    parser.add_argument("--data", default=str(DEFAULT_DATA))
    parser.add_argument("--limit", type=int, default=10, help="items per split")
    parser.add_argument("--max-new-tokens", type=int, default=48)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--threads", type=int, default=2, help="CPU threads (0: torch's default)")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--dtype", default="float32")
    parser.add_argument("--out", default="")
    args = parser.parse_args()
    configure_threads(args)
    from tru.data.formatting import ChatFormatter
    from tru.evaluate.qa_blocks import EvalModel
    from tru.evaluate.tofu_suite import load_tofu_eval_data
    from tru.modeling.models import ModelSettings, load_model, load_tokenizer

    tokenizer = load_tokenizer(args.model)
    model = load_model(ModelSettings(name=args.model, dtype=args.dtype)).to(args.device).eval()
    formatter = ChatFormatter(tokenizer, 512)
    data = load_tofu_eval_data(str(Path(args.data) / "tofu"), "forget01", args.limit)
    em = EvalModel(
        model=model,
        tokenizer=tokenizer,
        formatter=formatter,
        batch_size=args.batch_size,
        max_new_tokens=args.max_new_tokens,
    )

    first = data["forget"][0]
    straightforward_nll(model, formatter.qa(first.question, first.answer))  # warm-up (a GPU's first kernels)
    start = time.perf_counter()
    ours = tru_suite(em, data)
    ours_seconds = time.perf_counter() - start
    print(f"tru:             {ours_seconds:7.1f} s", flush=True)
    start = time.perf_counter()
    reference = straightforward_suite(model, tokenizer, formatter, data, args.max_new_tokens)
    reference_seconds = time.perf_counter() - start
    print(f"straightforward: {reference_seconds:7.1f} s", flush=True)
    report(
        args,
        {
            "machine": machine(),
            "dtype": args.dtype,
            "items_per_split": args.limit,
            "max_new_tokens": args.max_new_tokens,
            "seconds": {"tru": round(ours_seconds, 2), "straightforward": round(reference_seconds, 2)},
            "speedup": round(reference_seconds / ours_seconds, 2),
            **compare(ours, reference),
        },
    )


if __name__ == "__main__":
    main()
