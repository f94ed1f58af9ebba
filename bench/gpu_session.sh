#!/usr/bin/env bash
# The benchmarks of issue 7 on a CUDA GPU, in one go, most important first; each part has a time limit
# and a failed part does not stop the rest. Run from the repository root:
#
#   SHAPE=.gpu/smollm2-shape DATA=.gpu/data OUT=runs/gpu bash bench/gpu_session.sh 2>&1 | tee runs/gpu.log
#
# SHAPE: a model folder without weights (bench/random_weights.py --shape-only), where the weights
# cannot travel: the model gets random weights there (speed and memory do not depend on their
# values). MODEL instead: a model folder or alias to use as it is. DATA: a folder with tofu/ and rtofu/.
# DEVICE (default cuda) and STEPS (timed steps per variant, default 20) for a rehearsal on a CPU.
# Prints each part's progress and JSON; writes OUT/results.json (each part's JSON by name) as it goes.
set -u
OUT=${OUT:-runs/gpu}
DATA=$(realpath "${DATA:-../shared/data}")
mkdir -p "$OUT"
OUT=$(realpath "$OUT")
PARTS=$(mktemp -d)
PY=${PYTHON:-python3}
DEVICE=${DEVICE:-cuda}
STEPS=${STEPS:-20}
export PYTHONPATH=$PWD${PYTHONPATH:+:$PYTHONPATH} PYTHONUNBUFFERED=1 TOKENIZERS_PARALLELISM=false

command -v nvidia-smi >/dev/null && nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv
$PY -c "import torch, transformers; print('torch', torch.__version__, 'transformers', transformers.__version__)"
if [ -z "${MODEL:-}" ]; then
  MODEL=/tmp/tru-random-model
  $PY bench/random_weights.py --like "${SHAPE:?give SHAPE or MODEL}" --out "$MODEL" || exit 1
fi
cd bench
COMMON=(--model "$MODEL" --data "$DATA" --device "$DEVICE" --threads 0)

part() {  # part NAME SECONDS SCRIPT ARGS...
  local name=$1 limit=$2
  shift 2
  echo "=== $name ($(date +%T), limit ${limit}s)"
  timeout "$limit" "$PY" "$@" --out "$PARTS/$name.json" >"$PARTS/$name.out" 2>&1
  local rc=$?
  awk '/^[{]$/ {exit} {print}' "$PARTS/$name.out" | tail -n 30  # progress lines or the error, not the JSON
  [ -f "$PARTS/$name.json" ] && cat "$PARTS/$name.json"
  echo "=== $name rc=$rc"
  $PY -c "import json, pathlib, sys; parts = pathlib.Path(sys.argv[1]); json.dump({p.stem: json.loads(p.read_text())
for p in sorted(parts.glob('*.json'))}, open(sys.argv[2], 'w'), indent=1)" "$PARTS" "$OUT/results.json"
}

part throughput_tru 150 unlearn_throughput.py "${COMMON[@]}" --methods tru --steps $STEPS --processes 1 \
  --dtype float32 --straightforward
part throughput_tru_bf16 90 unlearn_throughput.py "${COMMON[@]}" --methods tru --steps $STEPS --processes 1 \
  --dtype bfloat16
part roofline_bf16 60 roofline.py "${COMMON[@]}" --dtype bfloat16 --steps $STEPS --peak-tflops 989
part roofline_bf16_batch32 60 roofline.py "${COMMON[@]}" --dtype bfloat16 --steps $STEPS --batch-size 32 \
  --peak-tflops 989
part memory 120 peak_memory.py "${COMMON[@]}" --variants ga,npo,graddiff_kl,tru,tru_no_fuse,tru_checkpointing,tru_straightforward
part host_syncs 60 host_syncs.py "${COMMON[@]}" --methods tru,graddiff,npo,rmu
part throughput_others 120 unlearn_throughput.py "${COMMON[@]}" --methods graddiff,npo --steps $STEPS --processes 1
part eval 100 eval_suite.py "${COMMON[@]}"
