"""The validation split of an unlearning run: held out from training, measured every --eval-steps and at the
end (scope_check.json, printed), --until criteria that stop the run and keep the best state."""

import json

import pytest
from cli_runs import unlearn_args

from tru.cli import main
from tru.core.errors import ConfigError
from tru.unlearn.validation import ValidationSplit, check_until, hold_out, parse_until

pytestmark = pytest.mark.slow


def test_hold_out_is_seeded_disjoint_and_keeps_training_data():
    kept, held = hold_out(list(range(10)), 0.2, seed=0, salt="forget")
    assert len(held) == 2 and sorted(kept + held) == list(range(10))
    assert hold_out(list(range(10)), 0.2, seed=0, salt="forget") == (kept, held)
    assert len(hold_out(list(range(3)), 0.1, seed=0, salt="f")[1]) == 1  # at least one of three
    assert hold_out(list(range(2)), 0.5, seed=0, salt="f")[1] == []  # two items: both train
    assert len(hold_out(list(range(100)), 0.5, seed=0, salt="r", cap=32)[1]) == 32
    assert hold_out(list(range(10)), 0.0, seed=0, salt="f") == (list(range(10)), [])


def test_until_criteria_are_checked_before_training():
    (a, b) = parse_until("complete_refusal>=0.95, answered>=0.9")
    assert (a.metric, a.side, a.op, a.threshold) == ("complete_refusal", "forget", ">=", 0.95)
    assert (b.side, str(b)) == ("retain", "answered>=0.9")
    assert a.met({"forget": {"complete_refusal": {"value": 0.96}}})
    assert not a.met({"forget": {"complete_refusal": {"value": 0.9}}}) and not a.met({})
    for text, message in (
        ("refusal>=1.5", "can never be met"),
        ("speed>=0.5", "unknown metric"),
        ("refusal=0.5", "is not METRIC>=VALUE"),
        (" , ", "empty"),
    ):
        with pytest.raises(ConfigError, match=message):
            parse_until(text)
    with pytest.raises(ConfigError, match="no held-out forget questions"):
        check_until([a], ValidationSplit(forget=[], retain=[1]))


def run(small_tofu, out, *extra):
    return main(
        unlearn_args(
            small_tofu,
            out,
            "--summary-items",
            "0",
            "--validation-new-tokens",
            "8",
            "--validation-share",
            "0.25",
            *extra,
        )
    )


def test_until_met_stops_the_run_and_the_scope_check_is_saved_and_printed(small_tofu, tmp_path, capsys):
    out = tmp_path / "run"
    assert run(small_tofu, out, "--max-steps", "4", "--eval-steps", "1", "--until", "answered>=0") == 0
    printed = capsys.readouterr().out
    summary = json.loads((out / "summary.json").read_text())
    assert summary["steps"] == 1 and summary["until"]["met"] and summary["until"]["met_at_step"] == 1
    check = json.loads((out / "scope_check.json").read_text())
    # a quarter of the 8 forget items and of the 16 retain items, never trained on
    assert check["forget"]["refusal"]["n"] == 2 and check["retain"]["answered"]["n"] == 4
    assert check["step"] == 1 and len(check["forget_examples"]) == 2
    rows = [json.loads(line) for line in (out / "validation.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows] == [1]
    assert "tru: validation at step 1: forget (n=2)" in printed and "(--until met)" in printed
    lines = printed.strip().splitlines()
    assert lines[-1] == "--until answered>=0: met at step 1"
    assert any(line.startswith("scope check on held-out questions (step 1): forget (n=2)") for line in lines)


def test_until_not_met_says_so_last_and_keeps_the_best_state(small_tofu, tmp_path, capsys):
    out = tmp_path / "run"
    assert run(small_tofu, out, "--max-steps", "3", "--eval-steps", "1", "--until", "complete_refusal>=1") == 0
    lines = capsys.readouterr().out.strip().splitlines()
    summary = json.loads((out / "summary.json").read_text())
    assert summary["steps"] == 3 and not summary["until"]["met"] and summary["until"]["saved_step"] in (1, 2, 3)
    assert (
        lines[-1] == f"--until complete_refusal>=1: NOT met; the best state (step {summary['until']['saved_step']}) "
        "was saved"
    )
    assert (out / "model" / "model.safetensors").exists()


def test_end_of_run_scope_check_without_eval_steps(small_tofu, tmp_path, capsys):
    out = tmp_path / "run"
    assert run(small_tofu, out, "--max-steps", "1") == 0
    check = json.loads((out / "scope_check.json").read_text())
    assert check["step"] == 1 and {"forget", "retain", "forget_examples", "retain_examples"} <= set(check)
    assert json.loads((out / "summary.json").read_text())["scope_check"]["forget"]["fact_leak"]["n"] == 2


def test_an_until_that_can_never_be_met_is_refused_before_training(small_tofu, tmp_path, capsys):
    out = tmp_path / "run"
    assert main(unlearn_args(small_tofu, out, "--validation-share", "0", "--until", "refusal>=0.9")) == 2
    assert "no held-out forget questions" in capsys.readouterr().err
    assert not out.exists()
    assert main(unlearn_args(small_tofu, out, "--until", "refusal>=2")) == 2
    assert "can never be met" in capsys.readouterr().err


def test_without_held_out_questions_the_run_says_why(small_tofu, tmp_path, capsys):
    out = tmp_path / "run"
    assert main(unlearn_args(small_tofu, out, "--summary-items", "0", "--validation-share", "0")) == 0
    assert (
        capsys.readouterr()
        .out.strip()
        .splitlines()[-1]
        .startswith("scope check: none (no held-out questions (--validation-share 0")
    )
    assert not (out / "scope_check.json").exists()
