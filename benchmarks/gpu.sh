#!/usr/bin/env bash
# One command for a CUDA machine (< 8 minutes, nothing installed or downloaded): the paper-recipe rehearsal,
# training throughput with bf16 + compile under DDP and FSDP2 (one process each), and generation latency of
# `full` at 512 px (bf16, batch 1 and 16), and the training memory of lite-64 and full-64 at real size (peak at the
# recipe's micro-batch, the largest micro-batch that fits). Prints each figure and writes OUT/performance-table.md for
# docs/performance.md.
#
#   bash benchmarks/gpu.sh [--out DIR] [--recipe lite-64]
#   bash benchmarks/gpu.sh --dry-run      # (or --cpu) the same steps, CI-sized, on the CPU
set -euo pipefail

MODE=gpu
OUT=runs/gpu-bench
RECIPE=lite-64
while [ $# -gt 0 ]; do
  case "$1" in
    --dry-run|--cpu) MODE=cpu ;;
    --out) OUT="$2"; shift ;;
    --recipe) RECIPE="$2"; shift ;;
    -h|--help) sed -n 2,8p "$0"; exit 0 ;;
    *) echo "gpu.sh: unknown argument $1 (expected --dry-run, --cpu, --out DIR, --recipe NAME)" >&2; exit 2 ;;
  esac
  shift
done

HERE="$(cd "$(dirname "$0")/.." && pwd)"
export PYTHONPATH="$HERE${PYTHONPATH:+:$PYTHONPATH}"
# Nothing from the internet: pip, Hugging Face and timm stay offline.
export PIP_NO_INDEX=1 HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1
PY="${PYTHON:-python}"
mkdir -p "$OUT"
OUT="$(cd "$OUT" && pwd)"
RESULTS="$OUT/results.jsonl"
: > "$RESULTS"
WEIGHTS="$OUT/random-weights"

if [ "$MODE" = gpu ]; then
  "$PY" -c "import torch, sys; sys.exit(0 if torch.cuda.is_available() else 1)" \
    || { echo "gpu.sh: no CUDA device visible; use --dry-run for the CPU form" >&2; exit 2; }
  ACCEL=gpu; PREC=bf16-mixed; COMPILE=true
  TRAIN_RECIPE="$RECIPE"; TRAIN_ARGS=(--batches 12 --warmup 3); LAT_ARGS=(--preset full --resolution 512 --batch 1 16)
else
  # CPU: tiny sizes; compile off (inductor needs minutes on a CPU, see docs/performance.md)
  export OMP_NUM_THREADS="${OMP_NUM_THREADS:-1}"
  ACCEL=cpu; PREC=bf16-mixed; COMPILE=false
  TRAIN_RECIPE=tiny-cpu; TRAIN_ARGS=(--batches 2 --warmup 1 --batch-size 4)
  LAT_ARGS=(--preset tiny --resolution 32 --batch 1 2 --iters 2 --warmup 1 --device cpu)
fi

echo "== 1. paper-recipe rehearsal ($RECIPE: fit -> resume -> export -> generate, $PREC)"
if "$PY" -c "import importlib.util, sys; sys.exit(importlib.util.find_spec('stylegan_t.cli.rehearse') is None)"; then
  REH_ARGS=("$RECIPE" --weights-dir "$WEIGHTS" --work-dir "$OUT/rehearsal" --accelerator "$ACCEL" --precision "$PREC")
  [ "$MODE" = cpu ] && REH_ARGS+=(--small)
  start=$(date +%s)
  "$PY" -m stylegan_t.cli.main rehearse "${REH_ARGS[@]}"
  echo "rehearsal: $(( $(date +%s) - start )) s"
  # the throughput runs use the rehearsal's random weight files, as a user's run uses real ones
  export STYLEGAN_T_WEIGHTS="$WEIGHTS"
else
  echo "rehearsal: SKIPPED - this checkout has no 'stylegan-t rehearse'"
  if [ "$MODE" = gpu ]; then
    echo "gpu.sh: without the rehearsal there are no weight files for $RECIPE; throughput runs the generator-only path" >&2
    TRAIN_RECIPE=tiny-cpu
  fi
fi

echo "== 2. training throughput ($TRAIN_RECIPE, $PREC, compile=$COMPILE, one process per strategy)"
for STRATEGY in ddp fsdp; do
  "$PY" "$HERE/benchmarks/train_throughput.py" "$TRAIN_RECIPE" "${TRAIN_ARGS[@]}" \
    --work-dir "$OUT/throughput-$STRATEGY" --label "$TRAIN_RECIPE $STRATEGY" --json "$RESULTS" \
    "trainer.accelerator=$ACCEL" "trainer.strategy=$STRATEGY" "trainer.precision=$PREC" "run.compile=$COMPILE"
done

echo "== 3. generation latency (bf16)"
"$PY" "$HERE/benchmarks/generate_latency.py" "${LAT_ARGS[@]}" --precision bf16 --json "$RESULTS"

echo "== 4. training memory at real size (random weights): peak at the recipe's micro-batch, largest that fits"
if [ "$MODE" = gpu ]; then
  "$PY" "$HERE/benchmarks/train_memory.py" lite-64 full-64 --max 512 --json "$RESULTS"
else
  "$PY" "$HERE/benchmarks/train_memory.py" tiny-cpu --device cpu --max 8 --json "$RESULTS"
fi

"$PY" - "$RESULTS" "$OUT/performance-table.md" "$MODE" <<'EOF'
import json, platform, sys
import torch
rows = [json.loads(line) for line in open(sys.argv[1])]
where = torch.cuda.get_device_name(0) if sys.argv[3] == "gpu" else f"CPU ({platform.processor() or 'cpu'}), dry run: tiny sizes"
out = [f"Measured by `bash benchmarks/gpu.sh` on {where}, torch {torch.__version__}.", "",
       "| training run | precision | compile | batch | images/s | s/kimg | peak MiB |", "|---|---|---|---|---|---|---|"]
out += [f"| {r['label']} | {r['precision']} | {r['compile']} | {r['batch']} | {r['images_per_s']:.2f} | {r['s_per_kimg']:.1f} | "
        f"{r['peak_mib']:.0f} |" for r in rows if "s_per_kimg" in r]
out += ["", "| generation | batch | precision | latency ms | images/s | peak MiB |", "|---|---|---|---|---|---|"]
out += [f"| {r['preset']} {r['resolution']} px | {r['batch']} | {r['precision']} | {r['latency_ms']:.1f} | "
        f"{r['images_per_s']:.2f} | {r['peak_mib']:.0f} |" for r in rows if "latency_ms" in r]
out += ["", "| training memory (one iteration, bf16) | micro-batch | peak MiB | largest micro-batch that fits |", "|---|---|---|---|"]
out += [f"| {r['recipe']} | {r['micro_batch']} | {'n/a' if r['peak_mib'] is None or r['peak_mib'] != r['peak_mib'] else round(r['peak_mib'])} | "
        f"{r['largest_micro_batch']}{'+' if r['capped'] else ''} |" for r in rows if "largest_micro_batch" in r]
open(sys.argv[2], "w").write("\n".join(out) + "\n")
print("\n".join(out))
EOF
echo "table written to $OUT/performance-table.md"
