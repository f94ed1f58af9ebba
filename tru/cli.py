"""The `tru` command. Flags are generated from the same dataclasses the Python API takes."""

from __future__ import annotations

import argparse
import dataclasses
import difflib
import errno
import sys
import textwrap
from typing import Callable

from tru.config import (
    BOOL_WORDS,
    AttackConfig,
    EvalConfig,
    FinetuneConfig,
    HarnessTasksConfig,
    ModelFields,
    MuseBenchConfig,
    ReportConfig,
    ServeConfig,
    SynthConfig,
    TargetsConfig,
    TofuBenchConfig,
    TrainConfig,
    UnlearnConfig,
    WmdpBenchConfig,
    check_field_values,
    load_yaml_settings,
    type_name,
)
from tru.core.errors import ConfigError, TruError
from tru.core.processes import exit_with_launcher, is_main_process


def _parse_assignment(text: str) -> tuple[str, str]:
    if "=" not in text:
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE, got '{text}'")
    key, value = text.split("=", 1)
    return key.strip(), value.strip()


def _trains(config_type: type) -> bool:
    return issubclass(config_type, TrainConfig)


def _loads_a_model(config_type: type) -> bool:
    return issubclass(config_type, ModelFields)


def _writes_a_folder(config_type: type) -> bool:
    return config_type is not TargetsConfig  # its --out is a file


# Hugging Face Trainer / TRL argument names -> tru's field, on the commands where they mean the same
HF_ALIASES: dict[str, tuple[str, Callable[[type], bool]]] = {
    "learning_rate": ("lr", _trains),
    "num_train_epochs": ("epochs", _trains),
    "per_device_train_batch_size": ("batch_size", _trains),
    "gradient_accumulation_steps": ("grad_accum", _trains),
    "lr_scheduler_type": ("lr_scheduler", _trains),
    "output_dir": ("out", _writes_a_folder),
    "model_name_or_path": ("model", _loads_a_model),
}
# Hugging Face names that are tru's own fields in underscore spelling
HF_SAME_NAMES = (
    "max_steps",
    "weight_decay",
    "seed",
    "logging_steps",
    "save_steps",
    "report_to",
    "max_length",
    "gradient_checkpointing",
)
# Hugging Face names tru has no field for: (the flag to use instead, what to say)
HF_WITHOUT_EQUIVALENT = {
    "warmup_ratio": ("--warmup-steps", "tru counts warm-up in optimizer steps: give --warmup-steps N"),
    "fp16": ("--dtype", "tru loads float32 or bfloat16: give --dtype bfloat16"),
}
# another subcommand's spelling of the same setting: (command's config, field) -> (extra flags, what it means)
SHARED_SPELLINGS: dict[tuple[type, str], tuple[tuple[str, ...], str]] = {
    (TargetsConfig, "max_tokens"): (
        ("--max-new-tokens",),
        "the generation length per reply, as --max-new-tokens is in tru eval and tru attack",
    ),
    (TargetsConfig, "model"): (
        ("--generator-model",),
        "the generator's model, not a model to unlearn (named like --judge-model of tru eval)",
    ),
    (TargetsConfig, "base_url"): (("--generator-url",), "the generator's endpoint, like --judge-url of tru eval"),
    (TargetsConfig, "api_key_env"): (("--generator-key-env",), "like --judge-key-env of tru eval"),
    (TargetsConfig, "api_key_file"): (("--generator-key-file",), "like --judge-key-file of tru eval"),
    (ServeConfig, "default_max_tokens"): (
        (),
        "max_tokens is a request's generation length, what --max-new-tokens sets in tru eval",
    ),
    (ServeConfig, "max_tokens_limit"): ((), "the longest generation length a request may ask for"),
}


def flag_name(name: str) -> str:
    return "--" + name.replace("_", "-")


def _both_spellings(name: str) -> list[str]:
    """--max-new-tokens and --max_new_tokens, from either."""
    name = name.lstrip("-")
    return ["--" + name.replace("_", "-"), "--" + name.replace("-", "_")]


def hf_aliases(config_type: type) -> dict[str, str]:
    """Hugging Face name -> tru field, for the aliases this command accepts."""
    fields = {f.name for f in dataclasses.fields(config_type)}
    return {hf: name for hf, (name, applies) in HF_ALIASES.items() if name in fields and applies(config_type)}


def alias_flags(config_type: type, name: str) -> list[str]:
    """Every other spelling a field's flag accepts: underscores, Hugging Face names, other commands' names."""
    flags = _both_spellings(name)
    for hf, field_name in hf_aliases(config_type).items():
        if field_name == name:
            flags += _both_spellings(hf)
    for extra in SHARED_SPELLINGS.get((config_type, name), ((), ""))[0]:
        flags += _both_spellings(extra)
    return [flag for flag in dict.fromkeys(flags) if flag != flag_name(name)]


def default_text(f: dataclasses.Field) -> str:
    value = f.default if f.default is not dataclasses.MISSING else f.default_factory()
    if isinstance(value, bool):
        return "on" if value else "off"
    if value == "" or value == {}:
        return "none"
    return str(value)


def field_help(config_type: type, f: dataclasses.Field) -> str:
    """The field's help, what another spelling of it means, and its default (unless the help names it)."""
    help_text = f.metadata.get("help", "")
    extra, meaning = SHARED_SPELLINGS.get((config_type, f.name), ((), ""))
    if meaning:
        help_text += f"; {meaning}" + (f" (also {', '.join(extra)})" if extra else "")
    if "(default" not in help_text:
        help_text += f" (default: {default_text(f)})"
    return help_text.replace("%", "%%")


GIVEN = "_tru_spellings_given"  # namespace attribute: field -> (first spelling of the action, shown, value)


class SettingAction(argparse.Action):
    """Stores a flag's value. A field has several spellings (--lr, --learning_rate): one may repeat the value
    another gave, never contradict it (argparse would keep the last one silently)."""

    def __call__(self, parser, namespace, values, option_string=None):
        self.store(namespace, values, option_string)
        value = getattr(namespace, self.dest)
        shown = option_string if self.nargs == 0 or values is None else f"{option_string} {values}"
        given = vars(namespace).setdefault(GIVEN, {})
        earlier = given.get(self.dest)
        if earlier is not None and earlier[0] != self.option_strings[0] and earlier[2] != value:
            parser.error(f"{earlier[1]} and {shown} disagree; give one of them")
        given[self.dest] = (self.option_strings[0], shown, value)

    def store(self, namespace, values, option_string) -> None:
        setattr(namespace, self.dest, values)


class SwitchAction(SettingAction, argparse.BooleanOptionalAction):
    """--flag / --no-flag."""

    def store(self, namespace, values, option_string) -> None:
        argparse.BooleanOptionalAction.__call__(self, None, namespace, values, option_string)


class BoolWordAction(SettingAction):
    """A hidden spelling of a switch that takes an optional value, as Hugging Face scripts write it:
    --gradient_checkpointing, --gradient_checkpointing true."""

    def store(self, namespace, values, option_string) -> None:
        setattr(namespace, self.dest, True if values is None else values)


class Bf16Action(SettingAction):
    """--bf16 [true|false], Hugging Face's spelling of --dtype bfloat16."""

    def store(self, namespace, values, option_string) -> None:
        setattr(namespace, self.dest, "bfloat16" if values in (None, True) else "float32")


def bool_word(text: str) -> bool:
    if text.strip().lower() not in BOOL_WORDS:
        raise argparse.ArgumentTypeError(f"expected true or false, got '{text}'")
    return BOOL_WORDS[text.strip().lower()]


def _add_field(parser: argparse.ArgumentParser, config_type: type, f: dataclasses.Field) -> None:
    """The field's flag (in --help) and its other spellings (hidden; listed at the end of --help)."""
    flag, aliases, kind = flag_name(f.name), alias_flags(config_type, f.name), type_name(f)
    common = {"dest": f.name, "default": argparse.SUPPRESS}
    if kind == "bool":
        parser.add_argument(flag, action=SwitchAction, help=field_help(config_type, f), **common)
        for alias in aliases:
            parser.add_argument(
                alias, action=BoolWordAction, nargs="?", type=bool_word, help=argparse.SUPPRESS, **common
            )
    elif kind == "dict":
        metavar = f.metadata.get("metavar", "KEY=VALUE")
        parser.add_argument(
            flag, action="append", type=_parse_assignment, metavar=metavar, help=field_help(config_type, f), **common
        )
        for alias in aliases:
            parser.add_argument(alias, action="append", type=_parse_assignment, help=argparse.SUPPRESS, **common)
    else:
        value_type = {"int": int, "float": float, "str": str}.get(kind, f.type)
        parser.add_argument(flag, action=SettingAction, type=value_type, help=field_help(config_type, f), **common)
        for alias in aliases:
            parser.add_argument(alias, action=SettingAction, type=value_type, help=argparse.SUPPRESS, **common)


def add_config_arguments(parser: argparse.ArgumentParser, config_type: type) -> None:
    parser.add_argument("--config", help="YAML file of settings; flags given here override it (default: none)")
    fields = dataclasses.fields(config_type)
    for f in fields:
        _add_field(parser, config_type, f)
    if _loads_a_model(config_type) and any(f.name == "dtype" for f in fields):
        parser.add_argument(
            "--bf16",
            action=Bf16Action,
            dest="dtype",
            nargs="?",
            type=bool_word,
            default=argparse.SUPPRESS,
            help=argparse.SUPPRESS,
        )


def aliases_line(config_type: type) -> str:
    """The last line of a command's --help: the Hugging Face names it accepts."""
    fields = [f.name for f in dataclasses.fields(config_type)]
    names = [f"--{hf} (= {flag_name(name)})" for hf, name in hf_aliases(config_type).items()]
    if _loads_a_model(config_type) and "dtype" in fields:
        names.append("--bf16 (= --dtype bfloat16)")
    names += [f"--{name}" for name in HF_SAME_NAMES if name in fields]
    underscored = next((name for name in fields if "_" in name), None)
    line = f"Hugging Face / TRL names accepted: {', '.join(names)}." if names else ""
    if underscored:
        line += f" Every flag also takes its underscore spelling (--{underscored} for {flag_name(underscored)})."
    return textwrap.fill(line.strip(), width=100)


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
        code = (
            exc.errno
            if isinstance(exc, OSError)
            else next((c for text, c in STORAGE_TEXTS.items() if text in str(exc)), None)
        )
        if code in STORAGE_ERRORS:
            path = getattr(exc, "filename", None)
            return STORAGE_ERRORS[code].format(path=path if path else "a file (the path was not reported)")
        exc = exc.__cause__ or exc.__context__
    return None


def _finetune(config: FinetuneConfig) -> None:
    from tru.train.finetune import finetune

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
            shown = (
                " ".join(example["answer"].split())[:160]
                or "(no answer; reasoning: " + " ".join(example.get("reasoning", "").split())[:120] + ")"
            )
            lines.append(f"  [{side}] {example['question']} -> {shown}")
    until = summary.get("until")
    if until:
        lines.append(
            f"--until {until['criteria']}: met at step {until['met_at_step']}"
            if until["met"]
            else f"--until {until['criteria']}: NOT met; the best state (step {until['saved_step']}) was saved"
        )
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
    from tru.llm.server import serve

    serve(config)


def _synth(config: SynthConfig) -> None:
    from tru.data.synth import write_synth

    config.validate()
    out = write_synth(config.out, config.entities, config.seed)
    print(f"synthetic benchmark: {out} (forget, retain, holdout, world_facts, full .jsonl; meta.json)")


def _lm_eval_tasks(config: HarnessTasksConfig) -> None:
    from tru.evaluate.harness import GROUP, write_tasks

    config.validate()
    tasks = write_tasks([f for f in config.wmdp.split(",") if f], config.out, config.wmdp_subject)
    print(f"lm-evaluation-harness tasks: {', '.join(tasks)} (group {GROUP}) in {config.out}")
    print(f"run them: lm_eval --model hf --model_args pretrained=MODEL --include_path {config.out} --tasks {GROUP}")


DATA_COMMANDS: dict[str, tuple[type, Callable, str]] = {
    "synth": (SynthConfig, _synth, "write the synthetic fictitious-knowledge benchmark"),
    "lm-eval-tasks": (
        HarnessTasksConfig,
        _lm_eval_tasks,
        "write lm-evaluation-harness tasks (the prompt of its wmdp tasks) for local WMDP-style question files",
    ),
}


def _bench(name: str) -> Callable:
    def run(config) -> None:
        from tru.pipeline.bench import run

        getattr(run, f"bench_{name}")(config)

    return run


BENCH_COMMANDS: dict[str, tuple[type, Callable, str]] = {
    "tofu": (
        TofuBenchConfig,
        _bench("tofu"),
        "the TOFU protocol: fine-tune, retain oracle, unlearn with each "
        "method, evaluate, attack, report (cached per stage)",
    ),
    "muse": (
        MuseBenchConfig,
        _bench("muse"),
        "MUSE-News: unlearn BBC articles with each method, measure "
        "knowmem, verbmem and privleak, report (cached per stage)",
    ),
    "wmdp": (
        WmdpBenchConfig,
        _bench("wmdp"),
        "WMDP: unlearn a fold of the deduplicated corpus with each method, "
        "measure multiple-choice accuracy, report (cached per stage)",
    ),
}

COMMANDS: dict[str, tuple[type, Callable, str]] = {
    "finetune": (FinetuneConfig, _finetune, "fine-tune a model on QA data (TOFU full / retain models)"),
    "unlearn": (UnlearnConfig, _unlearn, "unlearn a forget set with TRU or a baseline"),
    "eval": (EvalConfig, _eval, "evaluate a model: TOFU, MUSE-News, WMDP or custom QA"),
    "targets": (TargetsConfig, _targets, "write reasoning-based unlearning targets for a forget set"),
    "attack": (
        AttackConfig,
        _attack,
        "attack an unlearned model (cross-lingual, paraphrase, jailbreak, relearning, "
        "quantization) and measure what comes back",
    ),
    "report": (
        ReportConfig,
        _report,
        "write a readable report (HTML, Markdown, PNGs) over finished runs, evaluations and attacks",
    ),
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


EXAMPLES = {
    "finetune": "tru finetune --model smollm2-135m --data tofu:full --tofu ../shared/data/tofu --out runs/full",
    "unlearn": "tru unlearn --model runs/full --method tru --forget tofu:forget01 --tofu ../shared/data/tofu "
    "--out runs/tru-forget01",
    "eval": "tru eval --model runs/tru-forget01 --benchmark tofu --tofu ../shared/data/tofu --forget-split forget01 "
    "--retain-eval runs/retain99/eval/tofu",
    "targets": "tru targets --forget tofu:forget01 --tofu ../shared/data/tofu "
    "--scope 'personal information about the fictitious authors in TOFU' --out runs/targets.jsonl",
    "attack": "tru attack --model runs/tru-forget01 --benchmark tofu --tofu ../shared/data/tofu "
    "--forget-split forget01 --attacks paraphrase,quantize --original-model runs/full",
    "report": "tru report --runs base=,runs/full/eval/tofu "
    "--runs tru=runs/tru-forget01,runs/tru-forget01/eval/tofu --out runs/report",
    "serve": "tru serve --model runs/tru-forget01 --port 8000",
    "methods": "tru methods",
    "data synth": "tru data synth --entities 40 --seed 0 --out runs/synth",
    "data lm-eval-tasks": "tru data lm-eval-tasks --wmdp ../shared/data/wmdp/bio.jsonl,../shared/data/wmdp/cyber.jsonl "
    "--out runs/lm-eval-tasks",
    "bench tofu": "tru bench tofu --model smollm2-135m --tofu ../shared/data/tofu --forget-split forget01 "
    "--authors 4 --unlearn-steps 40 --out runs/bench-tofu",
    "bench muse": "tru bench muse --muse ../shared/data/muse_news --passages 50 --finetune-epochs 2 "
    "--out runs/bench-muse",
    "bench wmdp": "tru bench wmdp --wmdp ../shared/data/wmdp --fold 0 --retain-fold 1 --out runs/bench-wmdp",
}


def epilog(command: str, config_type: type | None = None) -> str:
    text = f"example:\n  {EXAMPLES[command]}"
    return text + "\n\n" + aliases_line(config_type) if config_type is not None else text


class OneLineParser(argparse.ArgumentParser):
    """A bad flag value is one line naming the flag, like every other input error (argparse would print the
    whole usage first, dozens of lines for the training commands). Subcommand parsers inherit the class.
    Abbreviated flags are refused: a prefix that names a flag today may name another one tomorrow."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("allow_abbrev", False)
        super().__init__(*args, **kwargs)

    def error(self, message: str):
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")

    def parse_known_args(self, args=None, namespace=None):
        namespace, extras = super().parse_known_args(args, namespace)
        if extras:  # the parser of the subcommand that was given, so the line names it and suggests its flags
            self.error(self.unrecognized(extras))
        return namespace, extras

    def unrecognized(self, extras: list[str]) -> str:
        given = next((arg for arg in extras if arg.startswith("-")), extras[0]).split("=", 1)[0]
        line = f"unrecognized argument {given}"
        if not given.startswith("-"):
            return line
        instead, what_to_do = HF_WITHOUT_EQUIVALENT.get(given.lstrip("-").replace("-", "_"), (None, ""))
        if instead in self._option_string_actions:
            return f"{line}; {what_to_do}"
        match = difflib.get_close_matches(given, [s for s in self._option_string_actions if s.startswith("--")], n=1)
        return f"{line}; did you mean {match[0]}?" if match else line

    def _check_value(self, action, value):
        """An unknown subcommand gets the nearest one (argparse suggests only from Python 3.14 on)."""
        if action.choices is None or value in action.choices:
            return
        what = "command" if not action.option_strings else f"value for {action.option_strings[0]}"
        match = difflib.get_close_matches(value, list(action.choices), n=1)
        hint = f"did you mean {match[0]}?" if match else f"choose from {', '.join(action.choices)}"
        raise argparse.ArgumentError(None, f"unknown {what} '{value}'; {hint}")


def _add_command(sub, name: str, config_type: type, help_text: str, path: str) -> None:
    parser = sub.add_parser(
        name,
        help=help_text,
        description=help_text,
        epilog=epilog(path, config_type),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_config_arguments(parser, config_type)


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineParser(prog="tru", description="Explainable LLM unlearning (TRU and baselines)")
    sub = parser.add_subparsers(dest="command", required=True)
    for name, (config_type, _, help_text) in COMMANDS.items():
        _add_command(sub, name, config_type, help_text, name)
    sub.add_parser(
        "methods",
        help="list unlearning methods and their default settings",
        epilog=epilog("methods"),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    data = sub.add_parser("data", help="data tools").add_subparsers(dest="data_command", required=True)
    for name, (config_type, _, help_text) in DATA_COMMANDS.items():
        _add_command(data, name, config_type, help_text, f"data {name}")
    bench = sub.add_parser("bench", help="run a whole benchmark protocol").add_subparsers(
        dest="bench_command", required=True
    )
    for name, (config_type, _, help_text) in BENCH_COMMANDS.items():
        _add_command(bench, name, config_type, help_text, f"bench {name}")
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
