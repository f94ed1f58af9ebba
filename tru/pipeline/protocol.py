"""The unlearning protocol that the demo and `tru bench` share, as cached stages.

Fine-tune the model that learns everything and the retain oracle that never sees the forget set;
unlearn with each method from the fine-tuned model; evaluate every model (forget quality against the
oracle's evaluation); attack the unlearned models; write one report. Layout under ROOT:
``data/``, ``finetune/``, ``oracle/``, ``unlearn/METHOD/``, ``evals/NAME/``, ``attacks/METHOD/``,
``report/`` and ``stages/`` (what finished, with which settings; see tru.pipeline.stages).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from tru.attacks.config import AttackConfig
from tru.core.settings import config_dict
from tru.evaluate.config import EvalConfig
from tru.pipeline.stages import Stage, run_stages, say
from tru.report.config import ReportConfig
from tru.train.config import FinetuneConfig
from tru.unlearn.config import UnlearnConfig

FINETUNED = "finetuned"
ORACLE = "retain-oracle"
ORIGINAL = "original"


@dataclass
class Protocol:
    root: Path
    title: str
    data_title: str  # the progress line of the data stage
    data_settings: dict  # what the data files depend on
    write_data: Callable[[], object]  # writes every data file the configs below name
    methods: dict[str, UnlearnConfig]  # name -> settings; model and out are filled in here
    evaluation: EvalConfig  # template; model, out and retain_eval are filled in per model
    finetune: FinetuneConfig | None = None  # None: unlearn `start_model` as it is
    oracle: FinetuneConfig | None = None  # None: no forget quality
    start_model: str = ""
    attack: AttackConfig | None = None  # template for the unlearned models; None: no attacks
    examples: int = 2
    stage_seconds: dict = field(default_factory=dict)


def _settings(config) -> dict:
    """What determines a stage's result: every setting except how the output folder is treated."""
    return {k: v for k, v in config_dict(config).items() if k not in ("overwrite", "resume")}


def _unlearn_settings(config: UnlearnConfig) -> dict:
    """An unlearning run's settings plus its method's resolved recipe: a changed default of the method
    (a new release's recipe) changes the fingerprint, so the run and everything measured on it are redone."""
    from tru.unlearn.methods import build_recipe, recipe_settings

    return {**_settings(config), "recipe": recipe_settings(build_recipe(config.method, config.set, config.preset))}


def _finetune_stage(name: str, title: str, config: FinetuneConfig) -> Stage:
    def action(_resume: bool) -> None:
        from tru.train.finetune import finetune

        finetune(dataclasses.replace(config, overwrite=True, resume=False))

    return Stage(name, title, _settings(config), Path(config.out) / "model", action, after=("data",))


def _eval_stage(name: str, title: str, config: EvalConfig, after: tuple[str, ...]) -> Stage:
    def action(resume: bool) -> None:
        from tru.evaluate.run import evaluate

        evaluate(dataclasses.replace(config, overwrite=not resume), log=_indented)

    return Stage(
        f"eval-{name}",
        title,
        _settings(config),
        Path(config.out) / "SUMMARY.json",
        action,
        after=("data", *after),
        resumable=True,
    )


def _indented(text: str) -> None:
    say("      " + text.replace("\n", "\n      "))


def start_model(p: Protocol) -> str:
    return p.finetune.out if p.finetune else p.start_model


def model_names(p: Protocol) -> list[str]:
    """The report's columns: the model before unlearning, the oracle, then every method."""
    return [FINETUNED if p.finetune else ORIGINAL] + ([ORACLE] if p.oracle else []) + list(p.methods)


def protocol_stages(p: Protocol) -> list[Stage]:
    root = p.root
    stages = [Stage("data", p.data_title, p.data_settings, root / "data", lambda _resume: p.write_data())]
    start_after: tuple[str, ...] = ()
    if p.finetune:
        title = f"fine-tuning {p.finetune.model} on everything, forget set included ({p.finetune.epochs:g} epochs)"
        stages.append(_finetune_stage("finetune", title, p.finetune))
        start_after = ("finetune",)
    oracle_eval, oracle_after = "", ()
    if p.oracle:
        title = f"fine-tuning the retain oracle on everything but the forget set ({p.oracle.epochs:g} epochs)"
        stages.append(_finetune_stage("oracle", title, p.oracle))
        oracle_eval = str(root / "evals" / ORACLE)
        stages.append(
            _eval_stage(
                ORACLE,
                "evaluating the retain oracle",
                dataclasses.replace(p.evaluation, model=p.oracle.out, out=oracle_eval),
                ("oracle",),
            )
        )
        oracle_after = (f"eval-{ORACLE}",)
    evaluation = dataclasses.replace(p.evaluation, retain_eval=oracle_eval)
    before = model_names(p)[0]
    stages.append(
        _eval_stage(
            before,
            f"evaluating the model before unlearning ({before})",
            dataclasses.replace(evaluation, model=start_model(p), out=str(root / "evals" / before)),
            start_after + oracle_after,
        )
    )
    for name, config in p.methods.items():
        run = dataclasses.replace(config, model=start_model(p), out=str(root / "unlearn" / name))
        stages.append(
            Stage(
                f"unlearn-{name}",
                f"unlearning with {name} ({_steps(run)}, lr {run.lr:g})",
                _unlearn_settings(run),
                Path(run.out) / "model",
                _unlearn_action(run),
                after=("data", *start_after),
            )
        )
        stages.append(
            _eval_stage(
                name,
                f"evaluating {name}",
                dataclasses.replace(evaluation, model=run.out, out=str(root / "evals" / name)),
                (f"unlearn-{name}", *oracle_after),
            )
        )
        if p.attack:
            attack = dataclasses.replace(p.attack, model=run.out, out=str(root / "attacks" / name))
            after = ("data", f"unlearn-{name}", *start_after)
            reuse = _measures_alike(evaluation, attack)  # then the evaluations hold the attacks' baselines
            if reuse:
                attack = dataclasses.replace(attack, reuse_eval=str(root / "evals" / name))
                after += (f"eval-{name}",)
            if p.finetune and "relearn" in attack.attack_names():
                attack = dataclasses.replace(attack, original_model=p.finetune.out)
                if reuse:
                    attack = dataclasses.replace(attack, original_eval=str(root / "evals" / before))
                    after += (f"eval-{before}",)
            stages.append(
                Stage(
                    f"attack-{name}",
                    f"attacking {name} ({attack.attacks})",
                    _settings(attack),
                    Path(attack.out) / "SUMMARY.json",
                    _attack_action(attack),
                    after=after,
                    resumable=True,
                )
            )
    report = ReportConfig(
        runs=report_runs(p), out=str(root / "report"), overwrite=True, title=p.title, examples=p.examples
    )
    stages.append(
        Stage(
            "report",
            "writing the report (HTML, Markdown, PNGs)",
            _settings(report),
            root / "report" / "report.html",
            _report_action(report),
            after=tuple(s.name for s in stages if s.name.startswith(("eval-", "attack-"))),
        )
    )
    return stages


def _measures_alike(evaluation: EvalConfig, attack: AttackConfig) -> bool:
    from tru.attacks.from_eval import SAME_SETTINGS

    return all(getattr(evaluation, name) == getattr(attack, name) for name in SAME_SETTINGS)


def _steps(config: UnlearnConfig) -> str:
    return f"{config.max_steps} steps" if config.max_steps > 0 else f"{config.epochs:g} epochs"


def _unlearn_action(config: UnlearnConfig):
    def action(_resume: bool) -> None:
        from tru.unlearn.run import unlearn

        unlearn(dataclasses.replace(config, overwrite=True, resume=False))

    return action


def _attack_action(config: AttackConfig):
    def action(resume: bool) -> None:
        from tru.attacks.run import attack

        attack(dataclasses.replace(config, overwrite=not resume), log=_indented)

    return action


def _report_action(config: ReportConfig):
    def action(_resume: bool) -> None:
        from tru.report import build_report

        build_report(config)

    return action


def report_runs(p: Protocol) -> dict[str, str]:
    """--runs of `tru report`: NAME=RUN_DIR,EVAL_DIR[,ATTACK_DIR]."""
    evals = p.root / "evals"
    runs = {name: f",{evals / name}" for name in model_names(p)[: 2 if p.oracle else 1]}
    for name in p.methods:
        attack = f",{p.root / 'attacks' / name}" if p.attack else ""
        runs[name] = f"{p.root / 'unlearn' / name},{evals / name}{attack}"
    return runs


def run_protocol(p: Protocol) -> Path:
    """Run or reuse every stage; returns the report folder."""
    p.stage_seconds = run_stages(protocol_stages(p), p.root)
    return p.root / "report"
