"""Byte-compile what tru uses, once, at install time (`make install` runs ``python -m tru.core.bytecode``).

pip byte-compiles every file of every package it installs; for transformers (thousands of model files
of which tru imports a few dozen), torch, scipy and the rest that is about half of a fresh install's
time. `make install` installs with ``--no-compile`` instead and then imports, with bytecode writing
switched on, every tru module and the library modules tru loads lazily, so exactly the modules that
runs need are compiled. A module left out is still compiled when first imported, as usual.
"""

from __future__ import annotations

import importlib
import pkgutil
import sys
import time

# imported inside functions by tru (lazily), so importing tru's modules alone would not reach them
LAZY_MODULES = (
    "transformers.trainer",
    "transformers.training_args",
    "transformers.models.llama.modeling_llama",
    "transformers.generation.utils",
    "transformers.integrations.sdpa_attention",
    "accelerate",
    "accelerate.commands.launch",
    "peft",
    "datasets",
    "openai",
    "scipy.stats",
    "sklearn.metrics",
    "rouge_score.rouge_scorer",
    "matplotlib.pyplot",
    "safetensors.torch",
    "gguf",
    "pytest",
)


def modules() -> list[str]:
    import tru

    names = [info.name for info in pkgutil.walk_packages(tru.__path__, "tru.") if info.name != __name__]
    return names + list(LAZY_MODULES)


def main() -> int:
    sys.dont_write_bytecode = False  # PYTHONDONTWRITEBYTECODE may be set; this run exists to write it
    started, missing = time.time(), []
    for name in modules():
        try:
            importlib.import_module(name)
        except ImportError:  # an optional library (pytest outside the test extra, ...)
            missing.append(name)
    note = f"; not installed: {', '.join(missing)}" if missing else ""
    print(f"tru: byte-compiled the modules tru uses in {time.time() - started:.0f} s{note}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
