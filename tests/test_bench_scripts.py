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
                        "--methods", "tru", "--max-length", "160", "--processes", processes, "--unshared")["tru"]
    assert result["max_term_difference_at_equal_weights"] < 1e-5
    variants = {"fused", "separate", "fused_unshared"}
    assert set(result["seconds_per_step"]) == variants and result["mean_real_tokens_per_step"] > 0
    assert result["timed_steps"] == dict.fromkeys(variants, 1)
    assert result["speedup_fused_unshared_over_separate"] > 0
    if processes == "1":
        assert set(result["seconds_per_step_best_of_rounds"]) == variants
    assert set(result["terms_first_batch"]) == {"target_ce", "forget_ga", "retain_nll", "loss"}


def test_peak_memory_reports_each_variant_against_ga(shared_data, tmp_path):
    result = run_script("peak_memory", shared_data, tmp_path, "--variants", "ga,npo", "--steps", "1",
                        "--batch-size", "2", "--max-length", "160")
    assert set(result["peak_gib"]) == {"ga", "npo"} and min(result["peak_gib"].values()) > 0
    assert result["ratio_to_ga"]["ga"] == 1.0


def test_roofline_reports_a_fraction_for_both_variants(shared_data, tmp_path):
    result = run_script("roofline", shared_data, tmp_path, "--steps", "1", "--batch-size", "2", "--max-length", "160")
    assert result["matmul_ceiling_gflops_per_s"] > 0
    for variant in ("fused", "separate"):
        assert 0 < result[variant]["fraction_of_ceiling"]


def test_roofline_flop_counts_of_a_shared_prefix():
    import torch

    sys.path.insert(0, str(BENCH))
    from roofline import batch_counts

    from tru.unlearn.streams import StreamCollator

    features = [{"forget": {"input_ids": [5, 6, 7, 8], "labels": [-100, -100, 7, 8]}},
                {"forget": {"input_ids": [5, 6, 9], "labels": [-100, -100, 9]}}]
    padded = StreamCollator(0)(features)
    packed = StreamCollator(0, pack=True)(features)
    assert batch_counts(padded) == (7, 3, 16 + 9)
    # row [5 6 7 8 9] at positions 0 1 2 3 2: 1 + 3 + 5 + 7 + 5 pairs
    assert batch_counts(packed) == (5, 3, 21)
    assert torch.equal(packed["packed"]["input_ids"], torch.tensor([[5, 6, 7, 8, 9]]))


def test_throughput_best_of_rounds_takes_each_batch_at_its_quickest():
    sys.path.insert(0, str(BENCH))
    from unlearn_throughput import best_of_rounds

    # two batches, two rounds: fused at 2 then 3 s, separate at 4 then 4.5 s
    result = best_of_rounds({"fused": [[2.0, 6.0], [3.0, 3.0]], "separate": [[4.0, 5.0], [9.0, 4.5]]})
    assert result["seconds_per_step_best_of_rounds"] == {"fused": 2.5, "separate": 4.25}
    assert result["speedup_fused_over_separate_best_of_rounds"] == 1.7
