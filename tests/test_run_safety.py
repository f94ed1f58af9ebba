"""What tru may delete or keep in a run folder: --resume and --overwrite never destroy what they cannot
take over, the divergence guard keeps only checked checkpoints, a run folder has one writer, and a
checkpoint that cannot be read is skipped for the one before it."""

import json
import os
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from tru.cli import main
from tru.core.run_lock import LOCK_NAME

pytestmark = pytest.mark.slow


def finetune_args(data, out, *extra):
    return [
        "finetune",
        "--model",
        "tiny-llama",
        "--data",
        data["retain"],
        "--max-steps",
        "4",
        "--lr",
        "1e-3",
        "--batch-size",
        "4",
        "--max-length",
        "128",
        "--report-to",
        "none",
        "--out",
        str(out),
        *extra,
    ]


def ga_args(data, out, *extra):
    return [
        "unlearn",
        "--method",
        "ga",
        "--model",
        "tiny-llama",
        "--forget",
        data["forget"],
        "--batch-size",
        "4",
        "--max-length",
        "128",
        "--report-to",
        "none",
        "--summary-items",
        "0",
        "--out",
        str(out),
        *extra,
    ]


def snapshot(folder: Path) -> dict:
    """Every file under the folder with its bytes: what a refused command must leave untouched."""
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def one_error_line(capsys) -> str:
    lines = [x for x in capsys.readouterr().err.splitlines() if x.strip()]
    assert len(lines) == 1, lines
    return lines[0]


@pytest.fixture
def finished_run(tmp_path, small_tofu):
    out = tmp_path / "done"
    assert main(finetune_args(small_tofu, out, "--max-steps", "2", "--save-steps", "0")) == 0
    (out / "my-notes.txt").write_text("mine\n")
    return out


def test_resume_refuses_a_folder_that_is_not_a_run(tmp_path, small_tofu, capsys):
    out = tmp_path / "mine"
    out.mkdir()
    (out / "thesis.tex").write_text("years of work\n")
    (out / "data").mkdir()
    (out / "data" / "results.csv").write_text("1,2\n")
    before = snapshot(out)
    assert main(finetune_args(small_tofu, out, "--resume")) == 2
    assert "not a tru run folder" in one_error_line(capsys)
    assert snapshot(out) == before and sorted(os.listdir(out)) == ["data", "thesis.tex"]


def test_resume_refuses_a_folder_without_a_run(tmp_path, small_tofu, capsys):
    assert main(finetune_args(small_tofu, tmp_path / "nowhere", "--resume")) == 2
    assert "does not exist: there is no run to continue" in one_error_line(capsys)
    (tmp_path / "empty").mkdir()
    assert main(finetune_args(small_tofu, tmp_path / "empty", "--resume")) == 2
    assert "is empty: there is no run to continue" in one_error_line(capsys)
    assert not (tmp_path / "nowhere").exists() and not list((tmp_path / "empty").iterdir())


def test_resume_refuses_a_finished_run(finished_run, small_tofu, capsys):
    before = snapshot(finished_run)
    assert main(finetune_args(small_tofu, finished_run, "--max-steps", "2", "--save-steps", "0", "--resume")) == 2
    assert "already finished" in one_error_line(capsys)
    assert snapshot(finished_run) == before


def test_overwrite_refuses_a_folder_that_is_not_a_run(tmp_path, small_tofu, capsys):
    out = tmp_path / "mine"
    out.mkdir()
    (out / "keep.txt").write_text("mine\n")
    assert main(finetune_args(small_tofu, out, "--overwrite")) == 2
    assert "tru deletes only run folders it made" in one_error_line(capsys)
    assert (out / "keep.txt").read_text() == "mine\n"


def test_overwrite_replaces_a_run_after_validating(finished_run, small_tofu, capsys):
    before = snapshot(finished_run)
    assert main(finetune_args(small_tofu, finished_run, "--overwrite", "--max-length", "0")) == 2
    capsys.readouterr()
    assert snapshot(finished_run) == before  # a bad setting deletes nothing
    assert main(finetune_args(small_tofu, finished_run, "--overwrite", "--max-steps", "1", "--save-steps", "0")) == 0
    assert json.loads((finished_run / "summary.json").read_text())["steps"] == 1
    assert (finished_run / "my-notes.txt").read_text() == "mine\n"  # the run's files are replaced, not the user's


def test_output_folder_may_not_hold_an_input(tmp_path, finished_run, small_tofu, capsys):
    model_before = snapshot(finished_run / "model")
    # --out equal to the model the run reads
    assert main(finetune_args(small_tofu, finished_run, "--overwrite", "--model", str(finished_run))) == 2
    assert "holds the input --model" in one_error_line(capsys)
    assert snapshot(finished_run / "model") == model_before
    # a forget file inside the run folder that --overwrite would empty
    forget = finished_run / "forget.jsonl"
    forget.write_text(Path(small_tofu["forget"]).read_text())
    assert main(ga_args({**small_tofu, "forget": str(forget)}, finished_run, "--overwrite", "--max-steps", "1")) == 2
    assert "holds the input --forget" in one_error_line(capsys)
    assert forget.exists() and snapshot(finished_run / "model") == model_before


def test_resume_of_an_unfinished_run_without_checkpoint_keeps_the_users_files(finished_run, small_tofu):
    (finished_run / "summary.json").unlink()
    shutil.rmtree(finished_run / "model")  # as if killed before the first checkpoint
    assert main(finetune_args(small_tofu, finished_run, "--max-steps", "2", "--save-steps", "0", "--resume")) == 0
    assert (finished_run / "my-notes.txt").read_text() == "mine\n"
    steps = [json.loads(x)["step"] for x in (finished_run / "losses.jsonl").read_text().splitlines()]
    assert steps == [1, 2]


def test_replacing_a_run_clears_every_file_a_run_writes_and_nothing_else(tmp_path):
    from tru.core.rundir import inspect_folder, prepare_run_dir

    run = tmp_path / "run"
    run.mkdir()
    for name in (
        "config.json",
        "environment.json",
        "validation.jsonl",
        "anchors.jsonl",
        "losses.jsonl",
        "my-notes.txt",
    ):
        (run / name).write_text("old\n")
    prepare_run_dir(inspect_folder(run), replace=True)
    assert sorted(p.name for p in run.iterdir()) == [".tru-run", "my-notes.txt"]
    assert (run / "my-notes.txt").read_text() == "old\n"


def assert_checkpoints_all_finite(out: Path):
    for marker in (out / "trainer").glob("checkpoint-*/.complete"):
        weights = load_file(str(marker.parent / "model.safetensors"))
        assert all(torch.isfinite(t).all() for t in weights.values()), marker.parent


def test_guard_never_calls_a_nan_checkpoint_good(tmp_path, small_tofu, capsys):
    out = tmp_path / "inf"
    assert main(ga_args(small_tofu, out, "--lr", "1e38", "--max-steps", "3", "--save-steps", "1")) == 3
    assert "diverged" in capsys.readouterr().err
    assert_checkpoints_all_finite(out)
    record = json.loads((out / "diverged.json").read_text())
    assert record["rejected_checkpoints"]
    assert not (out / "model").exists()
    # resuming the diverged run cannot produce a model: it diverges again from the last good state
    assert main(ga_args(small_tofu, out, "--lr", "1e38", "--max-steps", "3", "--save-steps", "1", "--resume")) == 3
    assert not (out / "model").exists()
    assert_checkpoints_all_finite(out)


def test_guard_keeps_only_checkpoints_within_the_forget_nll_bound(tmp_path, small_tofu, capsys):
    from tru.data.formatting import ChatFormatter, encode_item
    from tru.data.specs import load_items
    from tru.modeling.models import ModelSettings, load_model, load_tokenizer
    from tru.modeling.scoring import mean_nll

    out, bound = tmp_path / "ga", 11.0
    code = main(
        ga_args(
            small_tofu, out, "--lr", "5e-2", "--max-steps", "30", "--save-steps", "1", "--max-forget-nll", str(bound)
        )
    )
    err = capsys.readouterr().err
    assert code == 3 and "last good checkpoint is" in err
    named = Path(err.split("last good checkpoint is ")[1].split(" ")[0])
    tokenizer = load_tokenizer("tiny-llama")
    examples = [encode_item(ChatFormatter(tokenizer, 128), x) for x in load_items(small_tofu["forget"], "")[:16]]
    for checkpoint in [named, *(out / "trainer").glob("checkpoint-*")]:
        model = load_model(ModelSettings(name="tiny-llama"))  # a checkpoint holds weights, not a tokenizer
        model.load_state_dict(load_file(str(checkpoint / "model.safetensors")), strict=False)
        assert mean_nll(model, examples, tokenizer.pad_token_id) <= bound, checkpoint
    rejected = json.loads((out / "diverged.json").read_text())["rejected_checkpoints"]
    assert rejected and all(not (out / "trainer" / name).exists() for name in rejected)


def test_a_second_writer_is_refused_while_the_first_lives(finished_run, small_tofu, capsys):
    (finished_run / "summary.json").unlink()
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys, time; from tru.core.run_lock import RunLock; "
            "RunLock(sys.argv[1], 'tru finetune').acquire(); print('held', flush=True); "
            "time.sleep(120)",
            str(finished_run),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "held"
        args = finetune_args(small_tofu, finished_run, "--max-steps", "2", "--save-steps", "0", "--resume")
        assert main(args) == 2
        assert f"in use by pid {holder.pid} (tru finetune)" in one_error_line(capsys)
        assert not (finished_run / "summary.json").exists()
    finally:
        holder.kill()
        holder.wait()
    assert main(args) == 0  # the lock died with its process
    assert (finished_run / LOCK_NAME).exists()


def test_resume_skips_a_torn_checkpoint_for_the_one_before(tmp_path, small_tofu, capsys):
    out = tmp_path / "run"
    assert main(finetune_args(small_tofu, out, "--save-steps", "2", "--keep-checkpoints")) == 0
    shutil.rmtree(out / "model")
    (out / "summary.json").unlink()
    torn = out / "trainer" / "checkpoint-4" / "model.safetensors"
    torn.write_bytes(torn.read_bytes()[: torn.stat().st_size // 2])  # the power went during the write
    capsys.readouterr()
    assert main(finetune_args(small_tofu, out, "--save-steps", "2", "--resume")) == 0
    captured = capsys.readouterr()
    assert "checkpoint-4" in captured.out and "cannot be read" in captured.out
    assert json.loads((out / "summary.json").read_text())["resumed_from"].endswith("checkpoint-2")


def test_checkpoint_files_reach_the_disk_before_the_marker(tmp_path, monkeypatch):
    from types import SimpleNamespace

    import tru.core.files
    from tru.core.checkpoints import MARKER, DivergenceGuard

    checkpoint = tmp_path / "trainer" / "checkpoint-7"
    (checkpoint / "sub").mkdir(parents=True)
    for name in ("model.safetensors", "optimizer.pt", "sub/rng_state.pth"):
        (checkpoint / name).write_bytes(b"x" * 10)
    events = []
    real_fsync = os.fsync

    def recording_fsync(fd):
        events.append(os.readlink(f"/proc/self/fd/{fd}"))
        return real_fsync(fd)

    monkeypatch.setattr(tru.core.files.os, "fsync", recording_fsync)
    args = SimpleNamespace(output_dir=str(tmp_path / "trainer"))
    state = SimpleNamespace(global_step=7, is_world_process_zero=True)
    control = SimpleNamespace(should_training_stop=False)
    DivergenceGuard().on_save(args, state, control, model=torch.nn.Linear(2, 2))
    assert (checkpoint / MARKER).exists()
    synced = [Path(p).name for p in events]
    first_marker = min(i for i, p in enumerate(events) if Path(p).name.startswith(f".{MARKER}"))
    for name in ("model.safetensors", "optimizer.pt", "rng_state.pth"):
        assert name in synced[:first_marker]


def test_files_follow_the_umask(tmp_path):
    from tru.core.files import write_json

    old = os.umask(0o027)
    try:
        write_json(tmp_path / "a.json", {"x": 1})
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "a.json").stat().st_mode) == 0o640


def test_a_run_folder_records_the_users_umask(finished_run):
    mode = stat.S_IMODE((finished_run / "config.json").stat().st_mode)
    assert mode == 0o666 & ~int(open("/proc/self/status").read().split("Umask:")[1].split()[0], 8)


def test_lock_file_is_refused_in_process_too(tmp_path):
    from tru.core.errors import ConfigError
    from tru.core.run_lock import RunLock

    with RunLock(tmp_path, "first"):
        with pytest.raises(ConfigError, match=f"in use by pid {os.getpid()} \\(first\\)"):
            RunLock(tmp_path, "second").acquire()
    with RunLock(tmp_path, "third"):
        pass


def test_an_evaluation_folder_has_one_writer(tmp_path, small_tofu, capsys):
    from tru.core.run_lock import RunLock

    out = tmp_path / "ev"
    args = [
        "eval",
        "--model",
        "tiny-llama",
        "--benchmark",
        "custom",
        "--forget",
        small_tofu["forget"],
        "--limit",
        "2",
        "--max-new-tokens",
        "4",
        "--out",
        str(out),
    ]
    with RunLock(out, "tru eval"):
        assert main(args) == 2
        assert f"in use by pid {os.getpid()} (tru eval)" in one_error_line(capsys)
        assert not (out / "EVAL.json").exists()
    assert main(args) == 0 and (out / "EVAL.json").exists()


def test_data_synth_never_writes_into_a_folder_of_other_files(tmp_path, capsys):
    out = tmp_path / "mine"
    out.mkdir()
    (out / "forget.jsonl").write_text("my own forget set\n")
    assert main(["data", "synth", "--entities", "5", "--out", str(out)]) == 2
    assert "not a folder tru data synth wrote" in one_error_line(capsys)
    assert (out / "forget.jsonl").read_text() == "my own forget set\n"
    fresh = tmp_path / "fresh"
    assert main(["data", "synth", "--entities", "5", "--out", str(fresh)]) == 0
    assert main(["data", "synth", "--entities", "5", "--out", str(fresh)]) == 0  # its own folder: rewritten


def test_the_final_check_reuses_a_save_at_the_same_step(tmp_path):
    from types import SimpleNamespace

    from tru.core.checkpoints import DivergenceGuard

    calls = []
    guard = DivergenceGuard(max_forget_nll=5.0, forget_nll_probe=lambda m: calls.append(1) or 1.0)
    model = torch.nn.Linear(2, 2)
    args, control = SimpleNamespace(output_dir=str(tmp_path)), SimpleNamespace(should_training_stop=False)
    guard.on_save(args, SimpleNamespace(global_step=5, is_world_process_zero=True), control, model=model)
    assert len(calls) == 1 and guard.final_problem(model, 5) is None and len(calls) == 1
    assert guard.final_problem(model, 6) is None and len(calls) == 2  # weights changed since: measured
    guard.forget_nll_probe = lambda m: 9.0
    assert "past the bound" in guard.final_problem(model, 7)
