"""The shipped accelerate configs parse, name the engine they promise, and agree with tru's defaults."""

from pathlib import Path

import pytest
from accelerate.commands.config.config_args import load_config_from_file
from accelerate.utils import DistributedType

CONFIGS = Path(__file__).resolve().parents[1] / "configs" / "accelerate"


@pytest.mark.parametrize(
    "name,engine",
    [
        ("ddp", DistributedType.MULTI_GPU),
        ("fsdp", DistributedType.FSDP),
        ("deepspeed_zero2", DistributedType.DEEPSPEED),
        ("deepspeed_zero3", DistributedType.DEEPSPEED),
    ],
)
def test_config_parses_and_names_its_engine(name, engine):
    config = load_config_from_file(str(CONFIGS / f"{name}.yaml"))
    assert config.distributed_type == engine
    text = (CONFIGS / f"{name}.yaml").read_text()
    assert f"--config_file configs/accelerate/{name}.yaml" in text  # its documented command line
    if engine == DistributedType.DEEPSPEED:
        stage = int(name[-1])
        assert config.deepspeed_config["zero_stage"] == stage
        # tru's default --grad-accum is 1; DeepSpeed must be told the same
        assert config.deepspeed_config["gradient_accumulation_steps"] == 1
    if engine == DistributedType.FSDP:
        assert config.fsdp_config["fsdp_version"] == 2
        assert config.fsdp_config["fsdp_state_dict_type"] == "FULL_STATE_DICT"  # one safetensors file per run
