"""The `tru` command. Flags are generated from the same dataclasses the Python API takes."""

from __future__ import annotations

import argparse
import dataclasses
import errno
import sys
from typing import Callable

from tru.attacks.config import AttackConfig
from tru.bench.config import MuseBenchConfig, TofuBenchConfig, WmdpBenchConfig
from tru.config import (EvalConfig, FinetuneConfig, ReportConfig, SynthConfig, UnlearnConfig, check_field_values,
                        load_yaml_settings)
from tru.errors import ConfigError, TruError
from tru.processes import exit_with_launcher, is_main_process
from tru.serve import ServeConfig
from tru.targets.config import TargetsConfig


def _parse_assignment(text: str) -> tuple[str, str]:
    if "=" not in text:
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE, got '{text}'")
    key, value = text.split("=", 1)
    return key.strip(), value.strip()


def add_config_arguments(parser: argparse.ArgumentParser, config_type: type) -> None:
    parser.add_argument("--config", help="YAML file of settings; flags given here override it")
    for f in dataclasses.fields(config_type):
        flag = "--" + f.name.replace("_", "-")
        help_text = f.metadata.get("help", "")
        if f.type in ("bool", bool):
            parser.add_argument(flag, action=argparse.BooleanOptionalAction, default=argparse.SUPPRESS,
                                help=help_text)
        elif f.type in ("dict", dict):
            parser.add_argument(flag, action="append", type=_parse_assignment, default=argparse.SUPPRESS,
                                metavar=f.metadata.get("metavar", "KEY=VALUE"), help=help_text)
        else:
            kind = {"int": int, "float": float, "str": str}.get(f.type, f.type)
            parser.add_argument(flag, type=kind, default=argparse.SUPPRESS, help=help_text)


def build_config(config_type: type, namespace: argparse.Namespace):
    values = load_yaml_settings(namespace.config, config_type) if getattr(namespace, "config", None) else {}
    for f in dataclasses.fields(config_type):
        if hasattr(namespace, f.name):
            value = getattr(namespace, f.name)
            if f.type in ("dict", dict):
                value = {**values.get(f.name, {}), **dict(value)}
            values[f.name] = value
    try:
        config = config_type(**values)
    except TypeError as exc:
        raise ConfigError(f"invalid settings: {exc}") from None
    check_field_values(config)
    return config


# OSErrors that are the machine's state, not a bug: one line naming the file, exit status 2 like any other
# problem the user fixes (free space, fix permissions, choose another --out). Writes are atomic, so what
# was written before stays whole.
STORAGE_ERRORS = {
    errno.ENOSPC: "no space left on device while writing {path}",
    errno.EDQUOT: "disk quota exceeded while writing {path}",
    errno.EROFS: "read-only file system: cannot write {path}",
    errno.EACCES: "permission denied: {path}",
    errno.EPERM: "operation not permitted: {path}",
    errno.EISDIR: "{path} is a folder; give a file",
    errno.ENOTDIR: "a part of {path} is a file, not a folder",
}
# libraries that write through their own I/O (safetensors, torch.save) report a full disk only in words
STORAGE_TEXTS = {"No space left on device": errno.ENOSPC, "Disk quota exceeded": errno.EDQUOT}


def storage_error_line(exc: BaseException) -> str | None:
    """One line for an exception that is (or was caused by) a full disk or a refused write; else None."""
    seen = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        code = exc.errno if isinstance(exc, OSError) else next(
            (c for text, c in STORAGE_TEXTS.items() if text in str(exc)), None)
        if code in STORAGE_ERRORS:
            path = getattr(exc, "filename", None)
            return STORAGE_ERRORS[code].format(path=path if path else "a file (the path was not reported)")
        exc = exc.__cause__ or exc.__context__
    return None


def _finetune(config: FinetuneConfig) -> None:
    from tru.finetune import finetune

    run_dir = finetune(config)
    if is_main_process():
        print(f"fine-tuned model: {run_dir / 'model'}  (losses: {run_dir / 'losses.jsonl'})")


def _unlearn(config: UnlearnConfig) -> None:
    from tru.unlearn.run import unlearn

    run_dir = unlearn(config)
    if is_main_process():
        print(f"unlearned model: {run_dir / 'model'}  (summary: {run_dir / 'summary.json'})")
        print(scope_check_lines(run_dir))


def scope_check_lines(run_dir) -> str:
    """The end-of-run scope check as the user reads it: the rates, examples, and --until's outcome last."""
    import json

    from tru.unlearn.validation import headline

    summary = json.loads((run_dir / "summary.json").read_text(encoding="utf-8"))
    check_file = run_dir / "scope_check.json"
    if not check_file.exists():
        return f"scope check: none ({summary.get('scope_check_skipped') or 'no held-out questions'})"
    check = json.loads(check_file.read_text(encoding="utf-8"))
    lines = [f"scope check on held-out questions (step {check['step']}): {headline(check)}"]
    for side in ("forget", "retain"):
        for example in check.get(f"{side}_examples", []):
            shown = " ".join(example["answer"].split())[:160] or "(no answer; reasoning: " + " ".join(
                example.get("reasoning", "").split())[:120] + ")"
            lines.append(f"  [{side}] {example['question']} -> {shown}")
    until = summary.get("until")
    if until:
        lines.append(f"--until {until['criteria']}: met at step {until['met_at_step']}" if until["met"] else
                     f"--until {until['criteria']}: NOT met; the best state (step {until['saved_step']}) was saved")
    return "\n".join(lines)


def _eval(config: EvalConfig) -> None:
    from tru.evaluate.run import evaluate

    out = evaluate(config)
    if is_main_process():
        print(f"evaluation: {out / 'SUMMARY.json'} (per-item values: {out / 'EVAL.json'})")


def _targets(config: TargetsConfig) -> None:
    from tru.targets.run import generate_targets

    generate_targets(config)  # prints its summary line


def _attack(config: AttackConfig) -> None:
    from tru.attacks.run import attack

    out = attack(config)
    print(f"attacks: {out / 'SUMMARY.json'} (per-item values: {out / 'ATTACK.json'})")


def _report(config: ReportConfig) -> None:
    from tru.report import build_report

    out = build_report(config)
    print(f"report: {out / 'report.html'} (also report.md, report.json and PNGs in {out})")


def _serve(config: ServeConfig) -> None:
    from tru.serve import serve

    serve(config)


def _synth(config: SynthConfig) -> None:
    from tru.data.synth import write_synth

    config.validate()
    out = write_synth(config.out, config.entities, config.seed)
    print(f"synthetic benchmark: {out} (forget, retain, holdout, world_facts, full .jsonl; meta.json)")


DATA_COMMANDS: dict[str, tuple[type, Callable, str]] = {
    "synth": (SynthConfig, _synth, "write the synthetic fictitious-knowledge benchmark"),
}


def _bench(name: str) -> Callable:
    def run(config) -> None:
        from tru.bench import run

        getattr(run, f"bench_{name}")(config)

    return run


BENCH_COMMANDS: dict[str, tuple[type, Callable, str]] = {
    "tofu": (TofuBenchConfig, _bench("tofu"), "the TOFU protocol: fine-tune, retain oracle, unlearn with each "
             "method, evaluate, attack, report (cached per stage)"),
    "muse": (MuseBenchConfig, _bench("muse"), "MUSE-News: unlearn BBC articles with each method, measure "
             "knowmem, verbmem and privleak, report (cached per stage)"),
    "wmdp": (WmdpBenchConfig, _bench("wmdp"), "WMDP: unlearn a fold of the deduplicated corpus with each method, "
             "measure multiple-choice accuracy, report (cached per stage)"),
}

COMMANDS: dict[str, tuple[type, Callable, str]] = {
    "finetune": (FinetuneConfig, _finetune, "fine-tune a model on QA data (TOFU full / retain models)"),
    "unlearn": (UnlearnConfig, _unlearn, "unlearn a forget set with TRU or a baseline"),
    "eval": (EvalConfig, _eval, "evaluate a model: TOFU, MUSE-News, WMDP or custom QA"),
    "targets": (TargetsConfig, _targets, "write reasoning-based unlearning targets for a forget set"),
    "attack": (AttackConfig, _attack, "attack an unlearned model (cross-lingual, paraphrase, jailbreak, relearning, "
               "quantization) and measure what comes back"),
    "report": (ReportConfig, _report, "write a readable report (HTML, Markdown, PNGs) over finished runs, "
               "evaluations and attacks"),
    "serve": (ServeConfig, _serve, "serve a local model through an OpenAI-compatible API"),
}


def _methods(_args) -> None:
    from tru.unlearn.methods import METHODS, build_recipe, recipe_settings

    for name in sorted(METHODS):
        settings = recipe_settings(build_recipe(name))
        settings.pop("method")
        shown = ", ".join(f"{k}={v}" for k, v in settings.items()) or "(no settings)"
        print(f"{name:9s} streams={'+'.join(METHODS[name].streams)}  {shown}")
        for preset, values in METHODS[name].presets.items():
            print(f"{'':9s} --preset {preset}: " + ", ".join(f"{k}={v}" for k, v in values.items()))


class OneLineParser(argparse.ArgumentParser):
    """A bad flag value is one line naming the flag, like every other input error (argparse would print the
    whole usage first, dozens of lines for the training commands). Subcommand parsers inherit the class."""

    def error(self, message: str):
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineParser(prog="tru", description="Explainable LLM unlearning (TRU and baselines)")
    sub = parser.add_subparsers(dest="command", required=True)
    for name, (config_type, _, help_text) in COMMANDS.items():
        add_config_arguments(sub.add_parser(name, help=help_text, description=help_text), config_type)
    sub.add_parser("methods", help="list unlearning methods and their default settings")
    data = sub.add_parser("data", help="data tools").add_subparsers(dest="data_command", required=True)
    for name, (config_type, _, help_text) in DATA_COMMANDS.items():
        add_config_arguments(data.add_parser(name, help=help_text, description=help_text), config_type)
    bench = sub.add_parser("bench", help="run a whole benchmark protocol").add_subparsers(dest="bench_command",
                                                                                          required=True)
    for name, (config_type, _, help_text) in BENCH_COMMANDS.items():
        add_config_arguments(bench.add_parser(name, help=help_text, description=help_text), config_type)
    return parser


GROUPS = {"data": (DATA_COMMANDS, "data_command"), "bench": (BENCH_COMMANDS, "bench_command")}


def main(argv: list[str] | None = None) -> int:
    exit_with_launcher()  # a worker whose launcher is killed must not wait for ever
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help, or a flag argparse refused (already printed): the status, in-process too
        return exc.code if isinstance(exc.code, int) else 2
    try:
        if args.command == "methods":
            _methods(args)
            return 0
        if args.command in GROUPS:
            table, attribute = GROUPS[args.command]
            name = getattr(args, attribute)
        else:
            table, name = COMMANDS, args.command
        config_type, run, _ = table[name]
        run(build_config(config_type, args))
    except TruError as exc:
        print(f"tru {args.command}: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print(f"tru {args.command}: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:
        line = storage_error_line(exc)
        if line is None:
            raise
        print(f"tru {args.command}: error: {line}", file=sys.stderr)
        return TruError.exit_code
    return 0


if __name__ == "__main__":
    sys.exit(main())
