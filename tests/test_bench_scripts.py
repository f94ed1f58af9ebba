"""The bench/ scripts run on tiny-llama (a step or two) and report consistent results."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[1] / "bench"


def run_script(name: str, shared_data, tmp_path, *args) -> dict:
    out = tmp_path / f"{name}.json"
    done = subprocess.run([sys.executable, str(BENCH / f"{name}.py"), "--model", "tiny-llama", "--data",
                           str(shared_data), "--out", str(out), *args], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads(out.read_text())


def test_finetune_throughput_compares_equal_losses(shared_data, tmp_path):
    result = run_script("finetune_throughput", shared_data, tmp_path, "--steps", "1", "--batch-size", "4")
    assert result["loss_difference"] < 1e-4
    assert set(result["seconds_per_step"]) == {"packed", "padded"}
    assert 0 < result["label_share_of_real_tokens"] < 1


@pytest.mark.parametrize("processes", ["0", "1"])  # interleaved in one process; a process per variant
def test_unlearn_throughput_compares_equal_terms(shared_data, tmp_path, processes):
    result = run_script("unlearn_throughput", shared_data, tmp_path, "--steps", "1", "--batch-size", "2",
                        "--methods", "tru", "--max-length", "160", "--processes", processes)["tru"]
    assert result["max_term_difference_at_equal_weights"] < 1e-5
    assert set(result["seconds_per_step"]) == {"fused", "separate"} and result["mean_real_tokens_per_step"] > 0
    assert result["timed_steps"] == {"fused": 1, "separate": 1}
    assert set(result["terms_first_batch"]) == {"target_ce", "forget_ga", "retain_nll", "loss"}
