"""`make demo`: TRU against GradDiff and NPO, end to end on the packaged SmolLM2-135M-Instruct.

1. builds the synthetic fictitious-people benchmark (6 people; one to forget, one held out);
2. fine-tunes the model on it so that it knows the facts, and a retain oracle without the forget person;
3. unlearns the person with TRU, GradDiff and NPO, each from the fine-tuned model with the same budget
   (40 steps, lr 5e-5, 4 items per stream: the CPU-sized budget docs/results.md chose with TRU's lam),
   each holding out a fifth of the forget and retain facts for its end-of-run scope check. TRU runs
   with its defaults: paired template targets, anchors, lam=10 (the authors' 0.1 retain weight lets
   the refusal spill onto retained questions on data this small) and gradient ascent capped per answer
   (six forget items for 40 steps are many epochs; uncapped, the forget answers turn to noise).
   GradDiff and NPO keep their published weights (gamma 1, alpha 1; NPO beta 0.1): the same optimiser
   budget, each method's own loss;
4. evaluates every model on the TOFU suite (forget quality against the oracle, model utility, offline
   judge UQ/RQ, the generation metrics with intervals), attacks the unlearned ones (Spanish/Russian queries,
   paraphrases,
   four jailbreak templates, relearning on half of the forget set, 4-bit quantization), prints a
   comparison table and writes the report. The attacks take the unattacked model's answers from its
   evaluation instead of generating them again.

Every stage is cached under --out (models, evaluations, attacks): a second run reuses them.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from pathlib import Path

from tru.attacks.config import AttackConfig
from tru.core.files import write_jsonl
from tru.data.records import QAItem
from tru.data.synth import synth_benchmark, write_tofu_layout
from tru.evaluate.config import EvalConfig
from tru.pipeline.protocol import Protocol, run_protocol
from tru.pipeline.stages import say
from tru.report.text import render_text
from tru.targets.template import TEMPLATE_VERSION, template_targets
from tru.train.config import FinetuneConfig
from tru.unlearn.config import UnlearnConfig

ENTITIES, SEED = 6, 0
METHODS = ("tru", "graddiff", "npo")
# (steps, fine-tuning epochs, new tokens in evaluations and attacks)
FULL = {"steps": 40, "epochs": 6, "new_tokens": 112}
FAST = {"steps": 2, "epochs": 2, "new_tokens": 16}  # tests: tiny-llama, seconds
# the four built-in jailbreak templates that brought back the most forget content (mean ROUGE-L recall
# over TRU, GradDiff and NPO) when the demo, then with 8 fine-tuning epochs, ran all eight; `tru attack`
# runs all eight by default
JAILBREAKS = ("fictional_story", "prefix_injection", "many_shot_priming", "spelled_entities")


def write_demo_data(folder: Path) -> None:
    """The benchmark in TOFU's layout (folder/tofu) plus TRU's template targets (folder/targets.jsonl)."""
    splits = synth_benchmark(entities=ENTITIES, seed=SEED)
    write_tofu_layout(splits, folder / "tofu")
    forget = [QAItem.from_dict(r) for r in splits["forget"]]
    person = splits["meta"]["people"]["forget"][0]
    targets = template_targets(forget, [person] * len(forget), scope=f"personal information about {person}")
    write_jsonl(folder / "targets.jsonl", [t.to_dict() for t in targets])


def demo_protocol(root: Path, model: str, fast: bool) -> Protocol:
    size = FAST if fast else FULL
    data = root / "data"
    tofu = str(data / "tofu")
    train = dict(
        model=model,
        epochs=size["epochs"],
        lr=2e-4,
        batch_size=8,
        max_length=128,
        lr_scheduler="constant",
        report_to="none",
        save_steps=0,
    )
    unlearn = dict(
        forget=f"{tofu}/forget01.jsonl",
        retain=f"{tofu}/retain99.jsonl",
        max_steps=size["steps"],
        lr=5e-5,
        batch_size=4,
        max_length=256,
        report_to="none",
        summary_items=64,
        save_steps=0,
    )
    methods = {
        "tru": UnlearnConfig(method="tru", targets=str(data / "targets.jsonl"), **unlearn),
        "graddiff": UnlearnConfig(method="graddiff", **unlearn),
        "npo": UnlearnConfig(method="npo", **unlearn),
    }
    # one generation batch holds every query of an evaluation or of the attacks on a model
    passes = dict(tofu=tofu, forget_split="forget01", batch_size=96, max_length=256, max_new_tokens=size["new_tokens"])
    person = synth_benchmark(entities=ENTITIES, seed=SEED)["meta"]["people"]["forget"][0]
    return Protocol(
        root=root,
        title=f"tru demo: forgetting {person} (SmolLM2-135M, synthetic people)"
        if not fast
        else f"tru demo (fast, {model})",
        data_title=f"building the synthetic benchmark ({ENTITIES} people, seed {SEED}; forgetting {person})",
        data_settings={"entities": ENTITIES, "seed": SEED, "targets": f"template:{TEMPLATE_VERSION}"},
        write_data=lambda: write_demo_data(data),
        finetune=FinetuneConfig(data=f"{tofu}/full.jsonl", out=str(root / "finetune"), **train),
        oracle=FinetuneConfig(data=f"{tofu}/retain99.jsonl", out=str(root / "oracle"), **train),
        methods=methods,
        evaluation=EvalConfig(benchmark="tofu", **passes),
        attack=AttackConfig(
            benchmark="tofu",
            attacks="crosslingual,paraphrase,jailbreak,relearn,quantize",
            languages="es,ru",
            quant_bits="4",
            jailbreak_library=",".join(JAILBREAKS),
            **passes,
        ),
    )


def publish_report(report: Path, root: Path) -> None:
    """Copy the report's files next to the demo's folders (runs/demo/report.html, report.md, PNGs)."""
    for file in report.iterdir():
        if file.is_file():
            tmp = root / f".{file.name}.tmp"
            shutil.copyfile(file, tmp)
            tmp.replace(root / file.name)


def run_demo(out: str = "runs/demo", model: str = "smollm2-135m", fast: bool = False) -> Path:
    root = Path(out)
    protocol = demo_protocol(root, model, fast)
    say(f"tru demo: TRU vs {', '.join(METHODS[1:])} on {model}; everything lands in {root}/")
    report = run_protocol(protocol)
    publish_report(report, root)
    data = json.loads((root / "report.json").read_text(encoding="utf-8"))
    say("\n== comparison ==")
    say(render_text(data))
    _print_examples(data)
    reused = sum(s["reused"] for s in protocol.stage_seconds.values())
    say(
        f"\nreport: {root / 'report.html'} (also report.md, report.json and PNGs); "
        f"{reused} of {len(protocol.stage_seconds)} stages reused from an earlier run"
    )
    return root


def _print_examples(data: dict) -> None:
    say("\n== first forget and retain answer of each model ==")
    for method in data["methods"]:
        for side, items in method["examples"].items():
            if items:
                item = items[0]
                say(f"[{method['name']}, {side}] Q: {item.get('question', '')}")
                say(f"    A: {' '.join(item['answer'].split())[:200] or '(empty)'}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tru.pipeline.demo", description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="runs/demo")
    parser.add_argument("--model", default="smollm2-135m")
    parser.add_argument("--fast", action="store_true", help="a few steps and tokens only (for tests)")
    args = parser.parse_args(argv)
    from tru.core.errors import TruError

    try:
        run_demo(args.out, args.model, args.fast)
    except TruError as exc:
        print(f"tru demo: error: {exc}", file=sys.stderr)
        return exc.exit_code
    return 0


if __name__ == "__main__":
    sys.exit(main())
