"""The command line says what it does (defaults and an example in --help), suggests the flag meant by a typo,
and accepts the Hugging Face / TRL names and other subcommands' names of the same setting. No model is loaded."""

import argparse
import shlex

import pytest

from tru.attacks.config import AttackConfig
from tru.cli import EXAMPLES, build_config, build_parser, main
from tru.config import FinetuneConfig, UnlearnConfig, load_yaml_settings
from tru.core.errors import ConfigError, InputError
from tru.targets.config import TargetsConfig


def help_text(capsys, *command) -> str:
    assert main([*command, "--help"]) == 0
    return capsys.readouterr().out


def error_line(capsys, args) -> tuple[int, str]:
    code = main(args)
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1, err
    return code, err[0]


def subparsers(parser: argparse.ArgumentParser, path=()):
    """(command path, parser) of every leaf subcommand."""
    groups = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    if not groups:
        yield path, parser
    for group in groups:
        for name, sub in group.choices.items():
            yield from subparsers(sub, (*path, name))


def parse(*argv):
    return build_parser().parse_args(list(argv))


# --help ------------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "command, shown",
    [
        (
            "unlearn",
            [
                "--lr LR",
                "(default: 1e-05)",
                "(default: locuslab/TOFU)",
                "(default: off)",
                "(default: none)",
                "(default: on)",
                "(default: tru)",
            ],
        ),
        ("eval", ["(default: forget01)", "(default: 200)", "(default: offline)", "(default: none)"]),
        ("targets", ["(default: 2048)", "(default: template)", "(also --max-new-tokens)", "(also --generator-model)"]),
        ("serve", ["(default: 127.0.0.1)", "(default: 8000)", "(default: 256)", "(default: TRU_SERVE_TOKEN)"]),
    ],
)
def test_help_shows_defaults_and_an_example(capsys, command, shown):
    text = help_text(capsys, command)
    for part in shown:
        assert part in " ".join(text.split()), part
    assert f"example:\n  tru {command} " in text
    assert EXAMPLES[command] in text


def test_unlearn_help_ends_with_the_hugging_face_names(capsys):
    text = " ".join(help_text(capsys, "unlearn").split())
    last = text[text.index("Hugging Face / TRL names accepted:") :]
    for name in (
        "--learning_rate (= --lr)",
        "--output_dir (= --out)",
        "--num_train_epochs (= --epochs)",
        "--gradient_accumulation_steps (= --grad-accum)",
        "--bf16 (= --dtype bfloat16)",
        "--max_steps",
    ):
        assert name in last, name
    assert "--learning_rate" not in text[: text.index("Hugging Face / TRL")]  # aliases are not listed as flags


def test_every_flag_of_every_command_states_its_default():
    for path, parser in subparsers(build_parser()):
        for action in parser._actions:
            if action.help is argparse.SUPPRESS or "--help" in action.option_strings or not action.option_strings:
                continue
            assert "(default" in action.help, (path, action.option_strings)


def test_every_command_has_an_example_that_parses():
    for path, parser in subparsers(build_parser()):
        example = EXAMPLES[" ".join(path)]
        assert parser.epilog.startswith(f"example:\n  {example}")
        args = parse(*shlex.split(example)[1:])
        assert args.command == path[0]


def test_defaults_stay_suppressed_so_a_yaml_file_is_overridden_only_by_given_flags(tmp_path):
    preset = tmp_path / "p.yaml"
    preset.write_text("lr: 0.001\nfuse: false\n")
    config = build_config(UnlearnConfig, parse("unlearn", "--config", str(preset), "--max-steps", "3"))
    assert (config.lr, config.fuse, config.max_steps) == (0.001, False, 3)


# typos ----------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "args, line",
    [
        (
            ["unlearn", "--learning-rat", "1e-5"],
            "tru unlearn: error: unrecognized argument --learning-rat; did you mean --learning-rate?",
        ),
        (["unlearn", "--forgett", "x"], "tru unlearn: error: unrecognized argument --forgett; did you mean --forget?"),
        (
            ["eval", "--forget-spilt=forget05"],
            "tru eval: error: unrecognized argument --forget-spilt; did you mean --forget-split?",
        ),
        (["unlearn", "--overw"], "tru unlearn: error: unrecognized argument --overw; did you mean --overwrite?"),
        (["unlern", "--lr", "1"], "tru: error: unknown command 'unlern'; did you mean unlearn?"),
        (["bench", "tofuu"], "tru bench: error: unknown command 'tofuu'; did you mean tofu?"),
        (
            ["finetune", "--warmup_ratio", "0.1"],
            (
                "tru finetune: error: unrecognized argument --warmup_ratio; tru counts warm-up in optimizer "
                "steps: give --warmup-steps N"
            ),
        ),
    ],
)
def test_a_typo_gets_the_nearest_name(capsys, args, line):
    code, err = error_line(capsys, args)
    assert code == 2 and err.startswith(line), err


def test_an_unknown_name_without_a_near_one_lists_nothing_wrong(capsys):
    code, err = error_line(capsys, ["unlearn", "--zzzzzz"])
    assert code == 2 and "unrecognized argument --zzzzzz" in err and "did you mean" not in err
    code, err = error_line(capsys, ["qqqqqq"])
    assert code == 2 and "unknown command 'qqqqqq'; choose from finetune, unlearn" in err


def test_a_yaml_key_typo_gets_the_nearest_setting(tmp_path):
    preset = tmp_path / "p.yaml"
    preset.write_text("lr: 0.001\nmetod: ga\n")
    with pytest.raises(InputError, match=r"unknown setting 'metod' \(did you mean 'method'\?\)") as err:
        load_yaml_settings(preset, UnlearnConfig)
    assert err.value.line == 2
    preset.write_text("zzzzzz: 1\n")
    with pytest.raises(InputError, match="known settings: anchor_checks, answer_field, batch_size, "):
        load_yaml_settings(preset, UnlearnConfig)


# Hugging Face / TRL names ----------------------------------------------------------------------------------------

HF_CASES = [
    ("--learning_rate", "2e-5", "lr", 2e-5),
    ("--learning-rate", "2e-5", "lr", 2e-5),
    ("--output_dir", "runs/x", "out", "runs/x"),
    ("--gradient_accumulation_steps", "4", "grad_accum", 4),
    ("--gradient-accumulation-steps", "4", "grad_accum", 4),
    ("--lr_scheduler_type", "cosine", "lr_scheduler", "cosine"),
    ("--num_train_epochs", "3", "epochs", 3.0),
    ("--per_device_train_batch_size", "8", "batch_size", 8),
    ("--max_steps", "7", "max_steps", 7),
    ("--weight_decay", "0.1", "weight_decay", 0.1),
    ("--seed", "3", "seed", 3),
    ("--logging_steps", "5", "logging_steps", 5),
    ("--save_steps", "9", "save_steps", 9),
    ("--report_to", "none", "report_to", "none"),
    ("--model_name_or_path", "tiny-llama", "model", "tiny-llama"),
    ("--max_length", "64", "max_length", 64),
]


@pytest.mark.parametrize("command, config_type", [("unlearn", UnlearnConfig), ("finetune", FinetuneConfig)])
@pytest.mark.parametrize("flag, value, field, expected", HF_CASES, ids=[c[0] for c in HF_CASES])
def test_hugging_face_names_set_tru_fields(command, config_type, flag, value, field, expected):
    config = build_config(config_type, parse(command, flag, value))
    assert getattr(config, field) == expected
    assert type(getattr(config, field)) is type(expected)


@pytest.mark.parametrize("command, config_type", [("unlearn", UnlearnConfig), ("finetune", FinetuneConfig)])
def test_hugging_face_switches(command, config_type):
    assert build_config(config_type, parse(command, "--bf16")).dtype == "bfloat16"
    assert build_config(config_type, parse(command, "--bf16", "false")).dtype == "float32"
    assert build_config(config_type, parse(command, "--gradient_checkpointing")).gradient_checkpointing is True
    assert build_config(config_type, parse(command, "--gradient_checkpointing", "True")).gradient_checkpointing


def test_every_flag_takes_its_underscore_spelling():
    assert build_config(UnlearnConfig, parse("unlearn", "--validation_new_tokens", "9")).validation_new_tokens == 9
    assert build_config(UnlearnConfig, parse("unlearn", "--trust_remote_code")).trust_remote_code is True
    args = parse("eval", "--max_new_tokens", "12", "--forget_split", "forget05")
    assert (args.max_new_tokens, args.forget_split) == (12, "forget05")


def test_training_names_stay_off_commands_where_they_would_mean_something_else(capsys):
    code, err = error_line(capsys, ["eval", "--per_device_train_batch_size", "8"])
    assert code == 2 and "unrecognized argument --per_device_train_batch_size" in err
    code, err = error_line(capsys, ["targets", "--output_dir", "x"])  # tru targets --out is a file
    assert code == 2 and "unrecognized argument --output_dir" in err


@pytest.mark.parametrize(
    "args, named",
    [
        (["--lr", "1e-5", "--learning_rate", "2e-5"], ["--lr 1e-05", "--learning_rate 2e-05"]),
        (["--learning-rate", "2e-5", "--lr", "1e-5"], ["--learning-rate 2e-05", "--lr 1e-05"]),
        (["--dtype", "float32", "--bf16"], ["--dtype float32", "--bf16"]),
        (
            ["--no-gradient-checkpointing", "--gradient_checkpointing"],
            ["--no-gradient-checkpointing", "--gradient_checkpointing"],
        ),
        (["--max-steps", "3", "--max_steps", "4"], ["--max-steps 3", "--max_steps 4"]),
    ],
)
def test_a_flag_and_its_alias_that_disagree_are_refused(capsys, args, named):
    code, err = error_line(capsys, ["unlearn", *args])
    assert code == 2 and err.startswith("tru unlearn: error: ") and "disagree" in err
    for part in named:
        assert part in err, part


def test_a_flag_and_its_alias_that_agree_are_accepted():
    config = build_config(
        UnlearnConfig, parse("unlearn", "--lr", "1e-5", "--learning_rate", "0.00001", "--bf16", "--dtype", "bfloat16")
    )
    assert config.lr == 1e-5 and config.dtype == "bfloat16"
    assert build_config(UnlearnConfig, parse("unlearn", "--lr", "1", "--lr", "2")).lr == 2  # one flag twice: last


# one vocabulary across subcommands --------------------------------------------------------------------------------


def test_targets_accepts_the_names_other_commands_use():
    args = parse(
        "targets",
        "--max-new-tokens",
        "99",
        "--generator-model",
        "m",
        "--generator-url",
        "http://x/v1",
        "--generator-key-env",
        "KEY",
        "--generator-key-file",
        "k.txt",
    )
    config = build_config(TargetsConfig, args)
    assert (config.max_tokens, config.model, config.base_url) == (99, "m", "http://x/v1")
    assert (config.api_key_env, config.api_key_file) == ("KEY", "k.txt")


def test_attack_forget_must_agree_with_forget_split(capsys, tmp_path):
    base = [
        "attack",
        "--model",
        "tiny-llama",
        "--benchmark",
        "tofu",
        "--tofu",
        str(tmp_path),
        "--out",
        str(tmp_path / "out"),
    ]
    code, err = error_line(capsys, base + ["--forget", "tofu:forget05", "--forget-split", "forget10"])
    assert code == 2 and "--forget tofu:forget05 and --forget-split forget10 disagree" in err
    code, err = error_line(capsys, base + ["--forget", "tofu:forget05"])  # the default split is forget01
    assert code == 2 and "--forget tofu:forget05 and --forget-split forget01 disagree" in err
    code, err = error_line(capsys, base + ["--forget", str(tmp_path / "forget.jsonl")])
    assert code == 2 and "--forget is read only by --benchmark custom" in err
    assert not (tmp_path / "out").exists()


def test_attack_accepts_a_forget_that_repeats_forget_split(tmp_path):
    settings = {
        "model": "tiny-llama",
        "benchmark": "tofu",
        "tofu": str(tmp_path),
        "out": str(tmp_path / "out"),
        "attacks": "paraphrase",
    }
    AttackConfig(**settings, forget="tofu:forget05", forget_split="forget05").validate()
    with pytest.raises(ConfigError, match="--retain is read only by --benchmark custom"):
        AttackConfig(**settings, retain="tofu:retain95").validate()
