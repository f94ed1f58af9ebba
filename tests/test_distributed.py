"""Two CPU processes (gloo, launched by accelerate) match one process with the same global batch."""

import json
import socket
import sys
from pathlib import Path

import pytest
import torch
from launched import run_group
from safetensors.torch import load_file

from tru.modeling.models import resolve_model_path

pytestmark = pytest.mark.slow


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def unlearn_cmd(data, out, batch_size):
    return [
        "-m",
        "tru.cli",
        "unlearn",
        "--model",
        "tiny-llama",
        "--method",
        "tru",
        "--out",
        str(out),
        "--forget",
        data["forget"],
        "--retain",
        data["retain"],
        "--targets",
        data["targets"],
        "--refusals",
        data["refusals"],
        "--max-steps",
        "2",
        "--lr",
        "1e-3",
        "--batch-size",
        str(batch_size),
        "--max-length",
        "160",
        "--report-to",
        "none",
        "--summary-items",
        "0",
        "--device",
        "cpu",
        # all 8 forget items train: with a held-out share the 6 left fill a global batch of 4 unevenly,
        # and one process and two would split the last step's items differently
        "--validation-share",
        "0",
    ]


def launch_command(*extra):
    return [
        sys.executable,
        "-m",
        "accelerate.commands.launch",
        *extra,
        "--num_processes",
        "2",
        "--num_machines",
        "1",
        "--mixed_precision",
        "no",
        "--dynamo_backend",
        "no",
        "--main_process_port",
        str(free_port()),
    ]


@pytest.fixture(scope="module")
def one_process(tmp_path_factory, small_tofu) -> Path:
    """The run every multi-process run here is compared with: one process, the same global batch of 4."""
    out = tmp_path_factory.mktemp("one_process") / "run"
    single = run_group([sys.executable, *unlearn_cmd(small_tofu, out, 4)])
    assert single.returncode == 0, single.stderr[-2000:]
    return out


@pytest.mark.parametrize(
    "config,distributed_type", [("fsdp", "FSDP"), ("deepspeed_zero2", "DEEPSPEED"), ("deepspeed_zero3", "DEEPSPEED")]
)
def test_sharded_config_on_two_processes_equals_one(tmp_path, small_tofu, one_process, config, distributed_type):
    """The shipped FSDP and DeepSpeed configs (gloo on CPU here) shard the model and still match one process."""
    path = Path(__file__).resolve().parents[1] / "configs" / "accelerate" / f"{config}.yaml"
    sharded = run_group([*launch_command("--config_file", str(path)), *unlearn_cmd(small_tofu, tmp_path / config, 2)])
    assert sharded.returncode == 0, sharded.stderr[-2000:]
    environment = json.loads((tmp_path / config / "environment.json").read_text())
    assert environment["distributed_type"] == distributed_type and environment["world_size"] == 2
    one = [json.loads(x) for x in (one_process / "losses.jsonl").read_text().splitlines()]
    two = [json.loads(x) for x in (tmp_path / config / "losses.jsonl").read_text().splitlines()]
    for key in ("loss", "term/target_ce", "term/forget_sequence_capped_ga", "term/retain_nll"):
        assert two[0][key] == pytest.approx(one[0][key], abs=1e-5), key
    w1 = load_file(str(one_process / "model" / "model.safetensors"))
    w2 = load_file(str(tmp_path / config / "model" / "model.safetensors"))
    assert set(w1) == set(w2)  # the tied output layer only once, as one process saves it
    assert max((w1[k] - w2[k]).abs().max().item() for k in w1) < 1e-4


def test_two_processes_equal_one(tmp_path, small_tofu, one_process):
    double = run_group([*launch_command("--multi_gpu"), *unlearn_cmd(small_tofu, tmp_path / "two", 2)])
    assert double.returncode == 0, double.stderr[-2000:]

    environment = json.loads((tmp_path / "two" / "environment.json").read_text())
    assert environment["world_size"] == 2 and environment["effective_batch_size"] == 4
    one = [json.loads(x) for x in (one_process / "losses.jsonl").read_text().splitlines()]
    two = [json.loads(x) for x in (tmp_path / "two" / "losses.jsonl").read_text().splitlines()]
    assert len(one) == len(two) == 2
    for key in ("loss", "term/target_ce", "term/forget_sequence_capped_ga", "term/retain_nll", "grad_norm"):
        assert two[0][key] == pytest.approx(one[0][key], abs=1e-5), key
    assert two[1]["loss"] == pytest.approx(one[1]["loss"], abs=1e-4)
    w1 = load_file(str(one_process / "model" / "model.safetensors"))
    w2 = load_file(str(tmp_path / "two" / "model" / "model.safetensors"))
    # a twentieth of the largest change two Adam steps make (2 x lr), as for the sharded configs: Adam divides
    # each gradient by its own running scale, so where a gradient is near zero the float32 order of the
    # all-reduce moves the update by a visible share of lr, by an amount that varies with the loss weights
    assert max((w1[k] - w2[k]).abs().max().item() for k in w1) < 1e-4
    base = load_file(str(Path(resolve_model_path("tiny-llama")) / "model.safetensors"))
    assert not torch.equal(w2["model.norm.weight"], base["model.norm.weight"])  # it did train


def test_packed_finetune_on_two_processes_equals_one(tmp_path, small_tofu):
    """Packed fine-tuning normalises by the token count of the whole global batch, as the Trainer does."""

    def finetune_cmd(out, batch_size):
        return [
            "-m",
            "tru.cli",
            "finetune",
            "--model",
            "tiny-llama",
            "--data",
            small_tofu["retain"],
            "--out",
            str(out),
            "--max-steps",
            "2",
            "--lr",
            "1e-3",
            "--batch-size",
            str(batch_size),
            "--max-length",
            "160",
            "--report-to",
            "none",
            "--save-steps",
            "0",
            "--device",
            "cpu",
        ]

    single = run_group([sys.executable, *finetune_cmd(tmp_path / "one", 4)])
    assert single.returncode == 0, single.stderr[-2000:]
    double = run_group([*launch_command("--multi_gpu"), *finetune_cmd(tmp_path / "two", 2)])
    assert double.returncode == 0, double.stderr[-2000:]
    one = [json.loads(x) for x in (tmp_path / "one" / "losses.jsonl").read_text().splitlines()]
    two = [json.loads(x) for x in (tmp_path / "two" / "losses.jsonl").read_text().splitlines()]
    assert len(one) == len(two) == 2
    for key in ("loss", "grad_norm"):
        assert two[0][key] == pytest.approx(one[0][key], abs=1e-5), key
    w1 = load_file(str(tmp_path / "one" / "model" / "model.safetensors"))
    w2 = load_file(str(tmp_path / "two" / "model" / "model.safetensors"))
    # two Adam steps of lr 1e-3; the Trainer's own padded step (--no-pack) differs by 1.4e-5 here too
    assert max((w1[k] - w2[k]).abs().max().item() for k in w1) < 5e-5


def test_evaluation_under_two_processes_runs_once(tmp_path, small_tofu):
    launch = launch_command("--multi_gpu")
    command = [
        "-m",
        "tru.cli",
        "eval",
        "--model",
        "tiny-llama",
        "--benchmark",
        "custom",
        "--forget",
        small_tofu["forget"],
        "--retain",
        small_tofu["retain"],
        "--limit",
        "2",
        "--max-new-tokens",
        "4",
        "--device",
        "cpu",
        "--out",
        str(tmp_path / "eval"),
    ]
    done = run_group([*launch, *command])
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.count("evaluation: ") == 1  # one process evaluated and reported
    summary = json.loads((tmp_path / "eval" / "SUMMARY.json").read_text())
    assert summary["benchmark"] == "custom"
    blocks = json.loads((tmp_path / "eval" / "EVAL.json").read_text())["blocks"]
    assert len(blocks["forget/answer"]["nll"]) == 2
