"""Killed with SIGKILL and resumed, training ends with the weights of an uninterrupted run."""

import json
import os
import signal
import subprocess
import sys
import time

import pytest
from safetensors.torch import load_file

from tru.cli import main

pytestmark = pytest.mark.slow
STEPS, SAVE = 40, 5


def commands(data, kind):
    common = [
        "--model",
        "tiny-llama",
        "--max-steps",
        str(STEPS),
        "--save-steps",
        str(SAVE),
        "--lr",
        "1e-3",
        "--batch-size",
        "2",
        "--max-length",
        "128",
        "--report-to",
        "none",
        "--seed",
        "3",
    ]
    if kind == "finetune":
        return ["finetune", "--data", data["retain"], *common]
    return [
        "unlearn",
        "--method",
        "tru",
        "--forget",
        data["forget"],
        "--retain",
        data["retain"],
        "--targets",
        data["targets"],
        "--refusals",
        data["refusals"],
        "--summary-items",
        "0",
        *common,
    ]


def kill_after_first_checkpoint(args, out):
    process = subprocess.Popen(
        [sys.executable, "-m", "tru.cli", *args, "--out", str(out)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    marker = out / "trainer" / f"checkpoint-{SAVE}" / ".complete"
    deadline = time.time() + 300
    while not marker.exists() and process.poll() is None and time.time() < deadline:
        time.sleep(0.02)
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    return process.returncode


@pytest.mark.parametrize("kind", ["finetune", "unlearn"])
def test_kill_and_resume_matches_uninterrupted(tmp_path, small_tofu, kind):
    args = commands(small_tofu, kind)
    assert main([*args, "--out", str(tmp_path / "straight")]) == 0

    interrupted = tmp_path / "interrupted"
    assert kill_after_first_checkpoint(args, interrupted) == -signal.SIGKILL
    logged = [json.loads(x)["step"] for x in (interrupted / "losses.jsonl").read_text().splitlines() if x.strip()]
    assert max(logged) < STEPS  # it really was cut short
    assert main([*args, "--out", str(interrupted), "--resume"]) == 0

    steps = [json.loads(x)["step"] for x in (interrupted / "losses.jsonl").read_text().splitlines()]
    assert steps == list(range(1, STEPS + 1))
    summary = json.loads((interrupted / "summary.json").read_text())
    assert summary["resumed_from"].endswith("checkpoint-" + str(summary["resumed_from"].split("-")[-1]))
    a = load_file(str(tmp_path / "straight" / "model" / "model.safetensors"))
    b = load_file(str(interrupted / "model" / "model.safetensors"))
    assert max((a[k] - b[k]).abs().max().item() for k in a) <= 1e-6
    assert not list((interrupted / "trainer").glob("checkpoint-*"))  # cleaned after success


def test_resume_refuses_changed_settings(tmp_path, small_tofu, capsys):
    args = commands(small_tofu, "finetune")
    out = tmp_path / "run"
    assert main([*args[:-2], "--seed", "3", "--max-steps", "2", "--out", str(out)]) == 0
    (out / "summary.json").unlink()  # unfinished: a finished run is not resumed at all (tests/test_run_safety.py)
    code = main([*args, "--out", str(out), "--resume", "--lr", "5e-4"])
    assert code == 2 and "settings differ" in capsys.readouterr().err
    # how the step runs is not a setting of the run: a run from before --pack existed resumes
    record = json.loads((out / "config.json").read_text())
    del record["pack"]
    (out / "config.json").write_text(json.dumps(record))
    assert main([*args[:-2], "--seed", "3", "--max-steps", "2", "--out", str(out), "--resume", "--no-pack"]) == 0


def test_divergence_guard_stops_and_writes_no_model(tmp_path, small_tofu, capsys):
    out = tmp_path / "ga"
    code = main(
        [
            "unlearn",
            "--method",
            "ga",
            "--model",
            "tiny-llama",
            "--forget",
            small_tofu["forget"],
            "--max-steps",
            "30",
            "--lr",
            "5e-2",
            "--batch-size",
            "4",
            "--max-length",
            "128",
            "--report-to",
            "none",
            "--summary-items",
            "0",
            "--save-steps",
            "1",
            "--max-forget-nll",
            "12",
            "--out",
            str(out),
        ]
    )
    err = capsys.readouterr().err
    assert code == 3 and "diverged" in err and "last good checkpoint" in err
    assert not (out / "model").exists()
    assert list((out / "trainer").glob("checkpoint-*/.complete"))


def test_early_stop_when_forget_nll_reaches_target(tmp_path, small_tofu):
    out = tmp_path / "ga"
    assert (
        main(
            [
                "unlearn",
                "--method",
                "ga",
                "--model",
                "tiny-llama",
                "--forget",
                small_tofu["forget"],
                "--max-steps",
                "30",
                "--lr",
                "1e-2",
                "--batch-size",
                "4",
                "--max-length",
                "128",
                "--report-to",
                "none",
                "--summary-items",
                "0",
                "--stop-forget-nll",
                "11.5",
                "--out",
                str(out),
            ]
        )
        == 0
    )
    summary = json.loads((out / "summary.json").read_text())
    assert summary["early_stop"] and summary["steps"] < 30
    assert (out / "model" / "model.safetensors").exists()
