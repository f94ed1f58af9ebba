"""Typed command settings: the public place to import every command's settings from.

Each command takes one flat dataclass; the CLI flags, YAML files and the Python API all fill the same
fields, so every subcommand is callable with the same settings. Each dataclass lives next to its stage
and this module re-exports them all (``from tru.config import UnlearnConfig`` keeps working):

- tru/core/settings.py: the shared machinery (``setting``, YAML presets, field checks, ``config_dict``);
- tru/modeling/config.py: ``ModelFields``; tru/data/config.py: ``QAColumnFields``, ``SynthConfig``;
- tru/train/config.py: ``TrainConfig``, ``FinetuneConfig``; tru/unlearn/config.py: ``UnlearnConfig``;
- tru/targets/config.py: ``TargetsConfig``; tru/llm/serve_config.py: ``ServeConfig``;
- tru/evaluate/config.py: ``QASourceFields``, ``EvalConfig``, ``HarnessTasksConfig``;
  tru/attacks/config.py: ``AttackConfig``;
- tru/report/config.py: ``ReportConfig``; tru/pipeline/bench/config.py: the `tru bench` settings.

It sits above every layer (tests/test_layers.py): modules inside ``tru`` import a setting from its own
module, never from here; the CLI, the tests and users import from here.
"""

from tru.attacks.config import AttackConfig
from tru.core.settings import (
    BOOL_WORDS,
    FIELD_CHECKS,
    RECORDED_WHEN_SET,
    YAML_CONVERTERS,
    check_at_least,
    check_field_values,
    check_json_object,
    check_out_folder,
    check_text_file,
    config_dict,
    eval_file,
    flag_name,
    load_yaml_settings,
    setting,
    type_name,
)
from tru.data.config import QA_SOURCES, QAColumnFields, SynthConfig
from tru.evaluate.config import EvalConfig, HarnessTasksConfig, QASourceFields
from tru.llm.serve_config import ServeConfig
from tru.modeling.config import ModelFields
from tru.pipeline.bench.config import BenchFields, MuseBenchConfig, TofuBenchConfig, WmdpBenchConfig
from tru.report.config import ReportConfig
from tru.targets.config import TargetsConfig
from tru.train.config import LOGGER_PACKAGES, FinetuneConfig, TrainConfig, check_loggers
from tru.unlearn.config import UnlearnConfig

__all__ = [
    "AttackConfig",
    "BOOL_WORDS",
    "BenchFields",
    "EvalConfig",
    "FIELD_CHECKS",
    "FinetuneConfig",
    "HarnessTasksConfig",
    "LOGGER_PACKAGES",
    "ModelFields",
    "MuseBenchConfig",
    "QAColumnFields",
    "QASourceFields",
    "QA_SOURCES",
    "RECORDED_WHEN_SET",
    "ReportConfig",
    "ServeConfig",
    "SynthConfig",
    "TargetsConfig",
    "TofuBenchConfig",
    "TrainConfig",
    "UnlearnConfig",
    "WmdpBenchConfig",
    "YAML_CONVERTERS",
    "check_at_least",
    "check_field_values",
    "check_json_object",
    "check_loggers",
    "check_out_folder",
    "check_text_file",
    "config_dict",
    "eval_file",
    "flag_name",
    "load_yaml_settings",
    "setting",
    "type_name",
]
