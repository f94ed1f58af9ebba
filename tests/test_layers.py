"""Imports inside ``tru`` only point down the layers (docs/architecture.md):

    core < data < modeling < llm < train < targets < unlearn < evaluate < attacks < report < pipeline

Every import counts, those inside functions too. A module of a layer folder may import its own layer
and the layers below it, and the package root (``tru``, for ``__version__``). The top-level modules sit
above every layer: ``tru/cli.py`` (the command), ``tru/config.py`` (re-exports every command's settings
from its layer) and ``tru/metrics.py`` (re-exports ``tru.evaluate.metrics``, the public
``import tru.metrics``). They may import any layer, and no layer imports them: inside ``tru`` a setting
is imported from its own module (``tru.unlearn.config``, ``tru.core.settings``, ...) and the metric math
from ``tru.evaluate.metrics``. A new top-level module fails the test until it is placed here.
"""

import ast
from pathlib import Path

TRU = Path(__file__).resolve().parents[1] / "tru"
LAYERS = (
    "core",
    "data",
    "modeling",
    "llm",
    "train",
    "targets",
    "unlearn",
    "evaluate",
    "attacks",
    "report",
    "pipeline",
)
TOP = ("cli", "config", "metrics")  # above every layer; "tru" itself (the package root) is below all
# known upward imports, each with the reason it stays for now; the list only shrinks
ALLOWED = {
    ("unlearn/validation.py", "evaluate"): "the end-of-run scope check measures with the evaluation's metrics; "
    "it moves with the command runners into a layer above both (docs/architecture.md)",
}


def level(part: str) -> int:
    """Where a top-level name of ``tru`` sits: -1 the package root, a layer's index, or above them all."""
    if part in LAYERS:
        return LAYERS.index(part)
    assert part in TOP, f"tru/{part} is neither a layer folder nor a known top-level module: place it in test_layers"
    return len(LAYERS)


def imports():
    """(file relative to tru/, its layer or top-level name, imported tru module) for every import."""
    for path in sorted(TRU.rglob("*.py")):
        relative = path.relative_to(TRU)
        if relative.as_posix() == "__init__.py":
            continue
        home = relative.parts[0] if len(relative.parts) > 1 else relative.stem
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names = [node.module]
            elif isinstance(node, ast.ImportFrom) and node.level:
                raise AssertionError(f"tru/{relative}: relative import; spell it tru.LAYER.MODULE")
            elif isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            else:
                continue
            for name in names:
                if name == "tru" or name.startswith("tru."):
                    yield relative.as_posix(), home, name


def target_of(module: str) -> str:
    """The top-level name of ``tru`` an import reaches ("tru" for the package root)."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "tru"


def test_every_top_level_module_is_placed():
    names = {p.stem for p in TRU.glob("*.py")} - {"__init__"}
    folders = {p.name for p in TRU.iterdir() if p.is_dir() and (p / "__init__.py").exists()}
    assert names <= set(TOP), f"top-level modules not placed in the layers: {sorted(names - set(TOP))}"
    assert folders == set(LAYERS), f"layer folders differ from LAYERS: {sorted(folders ^ set(LAYERS))}"


def test_no_layer_imports_a_higher_one():
    upward = []
    for file, home, module in imports():
        target = target_of(module)
        if target == "tru":
            continue
        if level(target) > level(home) and (file, target) not in ALLOWED:
            upward.append(f"{file} imports {module}")
        elif home in TOP and target in TOP and target != home and home != "cli":
            upward.append(f"{file} imports {module} (the top-level modules re-export layers, not each other)")
    assert not upward, "imports that run up the layers: " + "; ".join(upward)


def test_every_allowed_exception_still_exists():
    """An exception that no longer happens is removed from ALLOWED, so the list cannot hide a new one."""
    seen = {(file, target_of(module)) for file, _, module in imports()}
    assert set(ALLOWED) <= seen, f"no longer needed: {sorted(set(ALLOWED) - seen)}"
