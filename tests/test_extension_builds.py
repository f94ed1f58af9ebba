"""A lock left by an interrupted extension build is named before DeepSpeed waits on it."""

import os
import subprocess
import time
from pathlib import Path

import pytest
from launched import end_tree

from tru.core.extension_builds import STALE_AFTER_S, extension_build_root, old_build_locks, warn_about_old_build_locks


def plant_lock(folder: Path, age_s: float) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    lock = folder / "lock"
    lock.touch()
    then = time.time() - age_s
    os.utime(lock, (then, then))
    return lock


def test_old_locks_in_both_layouts_and_fresh_ones_left_out(tmp_path):
    default_layout = plant_lock(tmp_path / "py311_cpu" / "deepspeed_shm_comm", STALE_AFTER_S + 60)
    flat_layout = plant_lock(tmp_path / "fused_adam", 3600)
    plant_lock(tmp_path / "py311_cpu" / "cpu_adam", 5)  # a build running now
    (tmp_path / "py311_cpu" / "built").mkdir()
    assert list(old_build_locks(tmp_path)) == sorted([default_layout, flat_layout])
    assert old_build_locks(tmp_path)[flat_layout] == pytest.approx(3600, abs=60)
    assert old_build_locks(tmp_path / "missing") == {}


def test_warning_names_the_file_and_what_to_do(tmp_path, capsys):
    lock = plant_lock(tmp_path / "deepspeed_shm_comm", 7200)
    assert warn_about_old_build_locks(tmp_path) == [lock]
    err = capsys.readouterr().err
    assert str(lock) in err and "120 min" in err and "'deepspeed_shm_comm'" in err and "delete the file" in err


def test_build_root_follows_torch_extensions_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_EXTENSIONS_DIR", str(tmp_path))
    assert extension_build_root() == tmp_path
    monkeypatch.delenv("TORCH_EXTENSIONS_DIR")
    assert extension_build_root().name == "torch_extensions"


@pytest.mark.slow
def test_deepspeed_run_names_a_stale_lock_before_it_waits(tmp_path, small_tofu):
    """The real thing: the shipped ZeRO-2 config on 2 CPU processes, with the lock an interrupted build
    of DeepSpeed's communication op left. DeepSpeed would wait for ever; the warning comes first."""
    from test_distributed import launch_command, unlearn_cmd

    lock = plant_lock(tmp_path / "extensions" / "deepspeed_shm_comm", 3600)
    config = Path(__file__).resolve().parents[1] / "configs" / "accelerate" / "deepspeed_zero2.yaml"
    log = tmp_path / "stderr.txt"
    with log.open("w") as err:
        process = subprocess.Popen(
            [*launch_command("--config_file", str(config)), *unlearn_cmd(small_tofu, tmp_path / "run", 2)],
            stdout=subprocess.DEVNULL,
            stderr=err,
            start_new_session=True,
            env={**os.environ, "TORCH_EXTENSIONS_DIR": str(tmp_path / "extensions")},
        )
        try:
            deadline = time.time() + 300
            while f"{lock} has been there" not in log.read_text() and process.poll() is None:
                assert time.time() < deadline, log.read_text()[-3000:]
                time.sleep(1)
        finally:
            end_tree(process)
    text = log.read_text()
    assert text.count(f"{lock} has been there 60 min") == 1, text[-3000:]  # the main process only
    assert lock.exists()  # named, never removed: it may belong to a build still running
