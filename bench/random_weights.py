"""A random-weight model folder with another folder's architecture, tokenizer and chat template.

    python bench/random_weights.py --like ~/.cache/tru/models/smollm2-135m-instruct --out /tmp/smollm2-random
    python bench/random_weights.py --like /tmp/smollm2-random --shape-only --out .gpu/smollm2-shape

For a machine the weights cannot travel to (the device machine takes 64 MiB per call; SmolLM2-135M's
weights are 517 MiB): --shape-only copies the folder without its weights (config, tokenizer, chat
template, a few MiB); run again there without --shape-only to get a loadable model. Speed and memory
of a training step do not depend on the weights' values; loss values and generations do.
"""

from __future__ import annotations

import argparse
import shutil
from pathlib import Path

WEIGHT_SUFFIXES = (".safetensors", ".bin", ".pt", ".gguf")


def copy_shape(like: Path, out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    for path in like.iterdir():
        if path.is_file() and not path.name.endswith(WEIGHT_SUFFIXES) and path.name != "model.safetensors.index.json":
            shutil.copy2(path, out / path.name)


def write_random_model(like: Path, out: Path, seed: int) -> None:
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer

    config = AutoConfig.from_pretrained(like)
    torch.manual_seed(seed)
    model = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
    copy_shape(like, out)  # generation config, chat template and any other small file first
    model.save_pretrained(out, safe_serialization=True)
    AutoTokenizer.from_pretrained(like).save_pretrained(out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--like", required=True, help="a model folder (config.json, tokenizer)")
    parser.add_argument("--out", required=True)
    parser.add_argument("--shape-only", action="store_true", help="copy the folder without its weights")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    like, out = Path(args.like).expanduser(), Path(args.out)
    if not (like / "config.json").is_file():
        raise SystemExit(f"{like}: no config.json; give a model folder")
    if args.shape_only:
        copy_shape(like, out)
    else:
        write_random_model(like, out, args.seed)
    print(f"wrote {out}: {', '.join(sorted(p.name for p in out.iterdir()))}")


if __name__ == "__main__":
    main()
