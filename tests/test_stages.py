"""Cached stages: reuse with the same settings, redo downstream when an upstream setting changes,
resume an interrupted stage."""

import json

import pytest

from tru.core.errors import ConfigError
from tru.pipeline.stages import Stage, run_stages


def _pipeline(root, calls, base_setting=1, fail_in=None):
    def action(name):
        def run(resume):
            calls.append((name, resume))
            if name == fail_in:
                raise RuntimeError("interrupted")
            (root / name).write_text("done")

        return run

    return [
        Stage("base", "base", {"x": base_setting}, root / "base", action("base")),
        Stage("other", "other", {"y": 1}, root / "other", action("other")),
        Stage("child", "child", {"z": 1}, root / "child", action("child"), after=("base",), resumable=True),
    ]


def test_second_run_reuses_everything(tmp_path):
    calls = []
    run_stages(_pipeline(tmp_path, calls), tmp_path, log=lambda _: None)
    assert [c[0] for c in calls] == ["base", "other", "child"]
    outcome = run_stages(_pipeline(tmp_path, calls), tmp_path, log=lambda _: None)
    assert len(calls) == 3 and all(o["reused"] for o in outcome.values())


def test_upstream_change_redoes_its_dependants_only(tmp_path):
    calls = []
    run_stages(_pipeline(tmp_path, calls), tmp_path, log=lambda _: None)
    calls.clear()
    run_stages(_pipeline(tmp_path, calls, base_setting=2), tmp_path, log=lambda _: None)
    assert calls == [("base", False), ("child", False)]


def test_missing_output_is_redone(tmp_path):
    calls = []
    run_stages(_pipeline(tmp_path, calls), tmp_path, log=lambda _: None)
    (tmp_path / "other").unlink()
    calls.clear()
    run_stages(_pipeline(tmp_path, calls), tmp_path, log=lambda _: None)
    assert calls == [("other", False)]


def test_interrupted_stage_resumes(tmp_path):
    calls = []
    with pytest.raises(RuntimeError):
        run_stages(_pipeline(tmp_path, calls, fail_in="child"), tmp_path, log=lambda _: None)
    assert json.loads((tmp_path / "stages" / "child.json").read_text())["finished"] is False
    calls.clear()
    run_stages(_pipeline(tmp_path, calls), tmp_path, log=lambda _: None)
    assert calls == [("child", True)]


def test_interrupted_stage_that_cannot_resume_starts_over(tmp_path):
    calls = []
    with pytest.raises(RuntimeError):
        run_stages(_pipeline(tmp_path, calls, fail_in="other"), tmp_path, log=lambda _: None)
    calls.clear()
    run_stages(_pipeline(tmp_path, calls), tmp_path, log=lambda _: None)
    assert calls == [("other", False), ("child", False)]


def test_bad_stage_order_is_a_config_error(tmp_path):
    stages = _pipeline(tmp_path, [])
    with pytest.raises(ConfigError, match="reads 'base'"):
        run_stages([stages[2], stages[0]], tmp_path, log=lambda _: None)
    with pytest.raises(ConfigError, match="two stages"):
        run_stages([stages[0], stages[0]], tmp_path, log=lambda _: None)


def test_a_changed_method_default_changes_the_unlearning_stage(tmp_path, monkeypatch):
    """A release that changes a method's default recipe must not reuse runs trained with the old one."""
    import dataclasses

    from tru.pipeline.demo import demo_protocol
    from tru.pipeline.protocol import protocol_stages
    from tru.unlearn import methods

    def tru_stage():
        stages = protocol_stages(demo_protocol(tmp_path, "tiny-llama", fast=True))
        return next(s for s in stages if s.name == "unlearn-tru")

    before = tru_stage().settings
    assert before["recipe"] == methods.recipe_settings(methods.build_recipe("tru"))

    @dataclasses.dataclass
    class NewDefault(methods.TRU):
        nll_cap: float = 3.0

    NewDefault.name = "tru"
    monkeypatch.setitem(methods.METHODS, "tru", NewDefault)
    after = tru_stage().settings
    assert after["recipe"]["nll_cap"] == 3.0 and after != before
