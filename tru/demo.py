"""`make demo`: the smallest honest end-to-end run on the packaged SmolLM2-135M-Instruct.

1. builds a small synthetic fictitious-knowledge set (built in, offline) and template reasoning targets;
2. fine-tunes the model on it, so that it knows the facts (cached: a second run reuses it);
3. unlearns one person with TRU (the authors' weights, except a 5x retain weight, lam=5: with only 28
   retain facts the default 0.1 retain weight lets the reasoning format spill onto retained questions);
4. reports forget / retain NLL and the answers before and after, in runs/demo/.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from tru.config import FinetuneConfig, UnlearnConfig, config_dict
from tru.data.records import QAItem
from tru.data.synth import synth_benchmark
from tru.io import write_json, write_jsonl
from tru.targets.template import template_targets


def _cached(run_dir: Path, config) -> bool:
    """A finished run with the same settings can be reused."""
    saved = run_dir / "config.json"
    if not (run_dir / "summary.json").exists() or not saved.exists():
        return False
    recorded = json.loads(saved.read_text())
    return all(recorded.get(k) == v for k, v in config_dict(config).items() if k != "overwrite")


def _answers(model_dir: Path, questions: list[str]) -> list[str]:
    from tru.generation import generate_answers
    from tru.models import ModelSettings, load_model, load_tokenizer

    return generate_answers(load_model(ModelSettings(name=str(model_dir))), load_tokenizer(str(model_dir)),
                            questions, max_new_tokens=60)


def run_demo(out: str = "runs/demo", model: str = "smollm2-135m", fast: bool = False) -> Path:
    from tru.finetune import finetune
    from tru.unlearn.run import unlearn

    root = Path(out)
    data = synth_benchmark(entities=6, seed=0)
    forget = [QAItem.from_dict(r) for r in data["forget"]]
    retain = [QAItem.from_dict(r) for r in data["retain"]]
    names = data["meta"]["people"]["forget"]
    targets = template_targets(forget, [names[0]] * len(forget), scope=f"personal information about {names[0]}")
    data = root / "data"
    write_jsonl(data / "forget.jsonl", [x.to_dict() for x in forget])
    write_jsonl(data / "retain.jsonl", [x.to_dict() for x in retain])
    write_jsonl(data / "all.jsonl", [x.to_dict() for x in forget + retain])
    write_jsonl(data / "targets.jsonl", [x.to_dict() for x in targets])

    print(f"[1/3] fine-tuning {model} on {len(forget) + len(retain)} fictitious facts "
          f"({len(forget)} about {names[0]}, to be forgotten)", flush=True)
    ft_config = FinetuneConfig(model=model, out=str(root / "finetune"), overwrite=True, data=str(data / "all.jsonl"),
                               epochs=2 if fast else 8, lr=2e-4, batch_size=8, max_length=128,
                               lr_scheduler="constant", report_to="none")
    if _cached(root / "finetune", ft_config):
        print("      reusing the cached fine-tuned model", flush=True)
    else:
        finetune(ft_config)

    print(f"[2/3] unlearning {names[0]} with TRU (reasoning targets + GA + retain)", flush=True)
    un_config = UnlearnConfig(model=str(root / "finetune"), out=str(root / "tru"), overwrite=True, method="tru",
                              forget=str(data / "forget.jsonl"), retain=str(data / "retain.jsonl"),
                              targets=str(data / "targets.jsonl"), max_steps=2 if fast else 20, lr=5e-5,
                              batch_size=4, max_length=256, report_to="none", summary_items=64,
                              save_steps=0, set={"target_sampling": "paired", "lam": 5.0})
    if _cached(root / "tru", un_config):
        print("      reusing the cached unlearned model", flush=True)
    else:
        unlearn(un_config)

    print("[3/3] asking both models", flush=True)
    questions = [x.question for x in forget[:2]] + [x.question for x in retain[:2]]
    before = _answers(root / "finetune", questions)
    after = _answers(root / "tru", questions)
    summary = json.loads((root / "tru" / "summary.json").read_text())
    report = {"forgotten": names[0], "nll_before": summary["nll_before"], "nll_after": summary["nll_after"],
              "examples": [{"question": q, "side": "forget" if i < 2 else "retain", "before": b, "after": a}
                           for i, (q, b, a) in enumerate(zip(questions, before, after))]}
    write_json(root / "results.json", report)
    _print_report(report, root)
    return root


def _print_report(report: dict, root: Path) -> None:
    nb, na = report["nll_before"], report["nll_after"]
    print("\n== TRU demo: forgetting", report["forgotten"], "==")
    print(f"{'answer NLL':12s} {'before':>8s} {'after':>8s}")
    for side in ("forget", "retain"):
        print(f"{side:12s} {nb[side]:8.3f} {na[side]:8.3f}")
    for example in report["examples"]:
        print(f"\n[{example['side']}] Q: {example['question']}")
        print(f"  before: {example['before']}")
        print(f"  after:  {example['after']}")
    print(f"\nresults: {root / 'results.json'}; models: {root / 'finetune' / 'model'}, {root / 'tru' / 'model'}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tru.demo", description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="runs/demo")
    parser.add_argument("--model", default="smollm2-135m")
    parser.add_argument("--fast", action="store_true", help="a few steps only (for tests)")
    args = parser.parse_args(argv)
    from tru.errors import TruError

    try:
        run_demo(args.out, args.model, args.fast)
    except TruError as exc:
        print(f"tru demo: error: {exc}", file=sys.stderr)
        return exc.exit_code
    return 0


if __name__ == "__main__":
    sys.exit(main())
