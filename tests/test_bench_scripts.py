"""The bench/ scripts run on tiny-llama (a step or two) and report consistent results."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[1] / "bench"


def run_script(name: str, shared_data, tmp_path, *args) -> dict:
    out = tmp_path / f"{name}.json"
    done = subprocess.run(
        [
            sys.executable,
            str(BENCH / f"{name}.py"),
            "--model",
            "tiny-llama",
            "--data",
            str(shared_data),
            "--out",
            str(out),
            *args,
        ],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads(out.read_text())


def test_finetune_throughput_compares_equal_losses(shared_data, tmp_path):
    result = run_script("finetune_throughput", shared_data, tmp_path, "--steps", "1", "--batch-size", "4")
    assert result["loss_difference"] < 1e-4
    assert set(result["seconds_per_step"]) == {"packed", "padded"}
    assert 0 < result["label_share_of_real_tokens"] < 1


@pytest.mark.parametrize("processes", ["0", "1"])  # interleaved in one process; a process per variant
def test_unlearn_throughput_compares_equal_terms(shared_data, tmp_path, processes):
    in_processes = processes == "1"
    extra = ["--straightforward", "--checkpointing"] if in_processes else []  # each needs a process of its own
    result = run_script(
        "unlearn_throughput",
        shared_data,
        tmp_path,
        "--steps",
        "1",
        "--batch-size",
        "2",
        "--methods",
        "tru",
        "--max-length",
        "160",
        "--processes",
        processes,
        "--unshared",
        *extra,
    )["tru"]
    assert result["max_term_difference_at_equal_weights"] < 1e-5
    variants = {"fused", "separate", "fused_unshared"} | (
        {"straightforward", "fused_checkpointing"} if in_processes else set()
    )
    assert set(result["seconds_per_step"]) == variants and result["mean_real_tokens_per_step"] > 0
    assert result["timed_steps"] == dict.fromkeys(variants, 1)
    assert result["speedup_fused_unshared_over_separate"] > 0
    if in_processes:
        assert set(result["seconds_per_step_best_of_rounds"]) == variants
        assert result["speedup_fused_over_straightforward"] > 0
        assert result["speedup_fused_checkpointing_over_separate"] > 0
        assert set(result["peak_rss_gib"]) == variants and min(result["peak_rss_gib"].values()) > 0
    assert set(result["terms_first_batch"]) == {"target_ce", "forget_ga", "retain_nll", "loss"}


def test_peak_memory_reports_each_variant_against_ga(shared_data, tmp_path):
    result = run_script(
        "peak_memory",
        shared_data,
        tmp_path,
        "--variants",
        "ga,npo,tru_straightforward",
        "--steps",
        "1",
        "--batch-size",
        "2",
        "--max-length",
        "160",
    )
    assert set(result["peak_gib"]) == {"ga", "npo", "tru_straightforward"} and min(result["peak_gib"].values()) > 0
    assert result["ratio_to_ga"]["ga"] == 1.0
    assert result["host_memory"] == dict.fromkeys(result["peak_gib"], "glibc")  # tests/conftest.py sets it


def test_roofline_reports_a_fraction_for_both_variants(shared_data, tmp_path):
    result = run_script("roofline", shared_data, tmp_path, "--steps", "1", "--batch-size", "2", "--max-length", "160")
    assert result["matmul_ceiling_gflops_per_s"] > 0
    assert result["square_matmul_gflops_per_s"] > 0 and result["dtype"] == "float32"
    for variant in ("fused", "separate"):
        assert 0 < result[variant]["fraction_of_ceiling"]
        assert 0 < result[variant]["mfu_vs_square_matmul"]


def test_roofline_flop_counts_of_a_shared_prefix():
    import torch

    sys.path.insert(0, str(BENCH))
    from roofline import batch_counts

    from tru.modeling.collate import StreamCollator

    features = [
        {"forget": {"input_ids": [5, 6, 7, 8], "labels": [-100, -100, 7, 8]}},
        {"forget": {"input_ids": [5, 6, 9], "labels": [-100, -100, 9]}},
    ]
    padded = StreamCollator(0)(features)
    packed = StreamCollator(0, pack=True)(features)
    assert batch_counts(padded) == (7, 3, 16 + 9)
    # row [5 6 7 8 9] at positions 0 1 2 3 2: 1 + 3 + 5 + 7 + 5 pairs
    assert batch_counts(packed) == (5, 3, 21)
    assert torch.equal(packed["packed"]["input_ids"], torch.tensor([[5, 6, 7, 8, 9]]))


def test_straightforward_step_has_tru_terms_and_a_dense_embedding_gradient(shared_data):
    import argparse

    import torch

    from tru.train.training import adamw

    sys.path.insert(0, str(BENCH))
    from straightforward_unlearning import straightforward_step_for, straightforward_terms
    from workload import batches, prepare, recipe_terms, step_attention

    args = argparse.Namespace(
        model="tiny-llama", data=str(shared_data), batch_size=2, max_length=160, device="cpu", dtype="float32"
    )
    setup = prepare(args, "tru")
    padded, packed = batches(setup, 2, 1, fuse=False)[0], batches(setup, 2, 1, fuse=True)[0]
    with torch.no_grad(), step_attention(setup, packed):
        ours = recipe_terms(setup, packed)
        plain = straightforward_terms(setup, padded)
    assert ours.keys() == plain.keys()
    assert max(abs(float(ours[k]) - float(plain[k])) for k in ours) < 1e-5
    embedding = setup.model.get_input_embeddings()
    assert embedding.sparse  # tru's one-process training passes a sparse gradient
    train_step = straightforward_step_for(setup)
    assert not embedding.sparse
    before = embedding.weight.detach().clone()
    train_step(setup, padded, adamw(setup.model.parameters(), lr=1e-5))
    assert not torch.equal(before, embedding.weight) and embedding.weight.grad is None
    setup.recipe.forget_loss = "npo"
    with pytest.raises(SystemExit, match="forget_loss=ga"):
        straightforward_step_for(setup)


def test_throughput_best_of_rounds_takes_each_batch_at_its_quickest():
    sys.path.insert(0, str(BENCH))
    from unlearn_throughput import best_of_rounds

    # two batches, two rounds: fused at 2 then 3 s, separate at 4 then 4.5 s
    result = best_of_rounds({"fused": [[2.0, 6.0], [3.0, 3.0]], "separate": [[4.0, 5.0], [9.0, 4.5]]})
    assert result["seconds_per_step_best_of_rounds"] == {"fused": 2.5, "separate": 4.25}
    assert result["speedup_fused_over_separate_best_of_rounds"] == 1.7


def test_eval_suite_matches_the_straightforward_implementation(shared_data, tmp_path):
    result = run_script("eval_suite", shared_data, tmp_path, "--limit", "2", "--max-new-tokens", "4")
    assert result["max_nll_difference"] < 1e-4
    # forget: 2 questions + 2 paraphrased; retain, real authors, world facts: 2 each
    assert result["identical_generations"] == "10/10"
    assert result["seconds"]["tru"] > 0 and result["seconds"]["straightforward"] > 0


def test_random_weights_keep_the_shape_and_tokenizer_not_the_weights(tmp_path):
    import torch
    from safetensors.torch import load_file

    from tru.modeling.models import load_tokenizer, tiny_llama_path

    tiny = tiny_llama_path()
    shape, model = tmp_path / "shape", tmp_path / "model"
    script = str(BENCH / "random_weights.py")
    for args in (
        ["--like", str(tiny), "--shape-only", "--out", str(shape)],
        ["--like", str(shape), "--out", str(model), "--seed", "3"],
    ):
        done = subprocess.run([sys.executable, script, *args], capture_output=True, text=True)
        assert done.returncode == 0, done.stderr[-2000:]
    assert not list(shape.glob("*.safetensors")) and (shape / "tokenizer.json").is_file()
    original, random = load_file(str(tiny / "model.safetensors")), load_file(str(model / "model.safetensors"))
    assert original.keys() == random.keys()
    assert all(original[k].shape == random[k].shape for k in original)
    assert not torch.equal(original["model.layers.0.mlp.up_proj.weight"], random["model.layers.0.mlp.up_proj.weight"])
    assert load_tokenizer(str(model)).get_vocab() == load_tokenizer(str(tiny)).get_vocab()


def test_host_syncs_names_our_frame_and_the_caller():
    import traceback

    sys.path.insert(0, str(BENCH))
    from host_syncs import REPO, origin

    frame = lambda path, line: traceback.FrameSummary(str(path), line, "f")  # noqa: E731
    stack = [
        frame(REPO / "bench" / "host_syncs.py", 1),
        frame(REPO / "tru" / "packed_lm.py", 33),
        frame("/site-packages/torch/functional.py", 7),
        frame("/usr/lib/python3.11/warnings.py", 99),
    ]
    assert origin(stack) == "packed_lm.py:33 -> functional.py:7"
    assert origin(stack[:1]) == "? -> ?"
