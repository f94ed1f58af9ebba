"""Imports between the pipeline stages only point down: data < targets < unlearn < evaluate < attacks <
report (docs/architecture.md). Every import counts, those inside functions too."""

import ast
from pathlib import Path

TRU = Path(__file__).resolve().parents[1] / "tru"
STAGES = ("data", "targets", "unlearn", "evaluate", "attacks", "report")
# known upward imports, each with the reason it stays for now; the list only shrinks
ALLOWED = {
    ("unlearn/validation.py", "evaluate"): "the end-of-run scope check measures with the evaluation's metrics; "
    "it moves with the command runners into a layer above both (docs/architecture.md)",
}


def stage_imports():
    """(file relative to tru/, its stage, imported tru module) for every import in a stage folder."""
    for path in sorted(TRU.rglob("*.py")):
        relative = path.relative_to(TRU)
        if len(relative.parts) < 2 or relative.parts[0] not in STAGES:
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names = [node.module]
            elif isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            else:
                continue
            for name in names:
                if name.startswith("tru."):
                    yield relative.as_posix(), relative.parts[0], name


def test_no_stage_imports_a_later_stage():
    upward = []
    for file, stage, module in stage_imports():
        target = module.split(".")[1]
        if target in STAGES and STAGES.index(target) > STAGES.index(stage) and (file, target) not in ALLOWED:
            upward.append(f"{file} imports {module}")
    assert not upward, "imports that run up the pipeline stages: " + "; ".join(upward)


def test_every_allowed_exception_still_exists():
    """An exception that no longer happens is removed from ALLOWED, so the list cannot hide a new one."""
    seen = {(file, module.split(".")[1]) for file, _, module in stage_imports()}
    assert set(ALLOWED) <= seen, f"no longer needed: {sorted(set(ALLOWED) - seen)}"
