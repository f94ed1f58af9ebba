"""Bad input gets one clear line and exit status 2, and leaves no run directory behind."""

import json
import subprocess
import sys

import pytest
from cli_runs import unlearn_args

from tru.cli import main


def run_cli(capsys, args):
    code = main(args)
    err = [line for line in capsys.readouterr().err.strip().splitlines() if "error" in line.lower()]
    return code, err


def test_bad_forget_file_names_file_line_and_field(tmp_path, small_tofu, capsys):
    bad = tmp_path / "forget.jsonl"
    bad.write_text('{"question": "a", "answer": "b"}\n{"question": "c", "answer": 7}\n')
    out = tmp_path / "run"
    code, err = run_cli(capsys, unlearn_args({**small_tofu, "forget": str(bad)}, out))
    assert code == 2 and len(err) == 1
    assert f"{bad}:2" in err[0] and "field 'answer'" in err[0]
    assert not out.exists()


@pytest.mark.parametrize(
    "extra, message",
    [
        (["--method", "forgetall"], "unknown method 'forgetall'"),
        (["--set", "bogus=1"], "has no setting 'bogus'"),
        (["--set", "forget_loss=kl"], "forget_loss must be one of"),
        (["--model", "/no/such/model"], "model path does not exist"),
        (["--set", "target_format=xml"], "target_format must be one of"),
        (["--batch-size", "0"], "--batch-size must be at least 1"),
    ],
)
def test_bad_options(tmp_path, small_tofu, capsys, extra, message):
    out = tmp_path / "run"
    code, err = run_cli(capsys, unlearn_args(small_tofu, out, *extra))
    assert code == 2 and len(err) == 1 and message in err[0]
    assert not out.exists()


def test_targets_that_do_not_match_the_forget_set(tmp_path, small_tofu, capsys):
    targets = tmp_path / "targets.jsonl"
    targets.write_text(json.dumps({"question": "Someone else?", "reasoning": "r", "refusal": "s"}) + "\n")
    out = tmp_path / "run"
    code, err = run_cli(capsys, unlearn_args({**small_tofu, "targets": str(targets)}, out))
    assert code == 2 and "do not match the forget set" in err[0]
    assert not out.exists()


def test_existing_run_directory_needs_overwrite(tmp_path, small_tofu, capsys):
    out = tmp_path / "run"
    out.mkdir()
    (out / "keep.txt").write_text("x")
    code, err = run_cli(capsys, unlearn_args(small_tofu, out))
    assert code == 2 and "--overwrite" in err[0]
    assert (out / "keep.txt").exists()


def test_yaml_config_and_flag_precedence(tmp_path, small_tofu, capsys):
    preset = tmp_path / "preset.yaml"
    preset.write_text("method: ga\nlr: 0.001\nmax_steps: 2\nsummary_items: 0\n")
    out = tmp_path / "run"
    assert main(unlearn_args(small_tofu, out, "--config", str(preset), "--max-steps", "1")) == 0
    config = json.loads((out / "config.json").read_text())
    assert config["method"] == "ga" and config["lr"] == 0.001 and config["max_steps"] == 1
    bad = tmp_path / "bad.yaml"
    bad.write_text("metod: ga\n")
    code, err = run_cli(capsys, unlearn_args(small_tofu, tmp_path / "run2", "--config", str(bad)))
    assert code == 2 and "unknown setting 'metod'" in err[0]


def test_entry_point_prints_no_traceback(tmp_path):
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "tru.cli",
            "unlearn",
            "--out",
            str(tmp_path / "r"),
            "--forget",
            str(tmp_path / "missing.jsonl"),
            "--model",
            "tiny-llama",
        ],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 2
    assert "Traceback" not in result.stderr and "missing.jsonl" in result.stderr
    assert not (tmp_path / "r").exists()


@pytest.mark.parametrize(
    "extra, message",
    [
        (["--model", "smollm3"], "unknown model alias 'smollm3'"),
        (["--resume", "--overwrite"], "contradict"),
        (["--save-steps", "-1"], "--save-steps must be 0 or positive"),
    ],
)
def test_more_bad_options(tmp_path, small_tofu, capsys, extra, message):
    out = tmp_path / "run"
    code, err = run_cli(capsys, unlearn_args(small_tofu, out, *extra))
    assert code == 2 and len(err) == 1 and message in err[0]
    assert not out.exists()


@pytest.mark.parametrize(
    "content, message",
    [
        (b"", "holds no records"),
        (b"\n  \n", "holds no records"),
        (b'{"question": "q", "answer": "' + b"x" * 5_000_000 + b'"}\n', "over the 4 MB limit"),
        (b'{"question": "q", "answer": "a", "id": 1}\n{"question": "r", "answer": "b", "id": 1}\n', "duplicate id"),
        (b'{"question": "caf\xe9", "answer": "a"}\n', "not valid UTF-8"),
    ],
)
def test_bad_forget_files(tmp_path, small_tofu, capsys, content, message):
    bad = tmp_path / "forget.jsonl"
    bad.write_bytes(content)
    out = tmp_path / "run"
    code, err = run_cli(capsys, unlearn_args({**small_tofu, "forget": str(bad)}, out))
    assert code == 2 and len(err) == 1 and message in err[0] and str(bad) in err[0]
    assert not out.exists()


def test_eval_unknown_benchmark_and_missing_inputs_exit_2(tmp_path, capsys):
    out = tmp_path / "eval"
    code, err = run_cli(capsys, ["eval", "--model", "tiny-llama", "--benchmark", "mmlu", "--out", str(out)])
    assert code == 2 and "unknown benchmark 'mmlu'" in err[0]
    code, err = run_cli(
        capsys,
        [
            "eval",
            "--model",
            "tiny-llama",
            "--benchmark",
            "wmdp",
            "--out",
            str(out),
            "--wmdp",
            str(tmp_path / "nope.jsonl"),
        ],
    )
    assert code == 2 and "nope.jsonl" in err[0] and "does not exist" in err[0]
    assert not out.exists()
