"""`python -m tru.core.bytecode` (run by make install after pip's --no-compile) writes the bytecode of what
tru imports, also where PYTHONDONTWRITEBYTECODE is set."""

import os
import subprocess
import sys


def test_bytecode_is_written_for_tru_and_its_lazy_imports(tmp_path):
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1", "PYTHONPYCACHEPREFIX": str(tmp_path)}
    done = subprocess.run([sys.executable, "-m", "tru.core.bytecode"], capture_output=True, text=True, env=env)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "not installed" not in done.stdout  # every listed library module still exists under that name
    written = {p.name.split(".")[0] + "/" + p.parent.name for p in tmp_path.rglob("*.pyc")}
    for module in ("cli/tru", "finetune/train", "trainer/transformers", "modeling_llama/llama", "pyplot/matplotlib"):
        assert module in written, module
