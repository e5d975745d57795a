#!/usr/bin/env bash
# Everything the GPU path promises, checked in one command on a machine with one GPU (about 6-8 minutes):
#
#     bash bench/gpu_check.sh              # from the project root, with the virtualenv built (.venv/)
#
#  1. pytest -m cuda: training on the GPU (eager and compiled), a few steps under
#     torch.cuda.set_sync_debug_mode("error") so that any hidden host sync fails, pinned staging equal to the
#     resident set, --deterministic resume bit for bit, and a run moved CPU <-> GPU on --resume
#  2. bench/bench_train.py --device cuda: batch 256 and 1024, with and without --compile, an epoch of
#     162,770 synthetic images each (CelebA's train split): images/s, seconds per epoch, peak memory
#  3. a short real training (the CelebA sample when present, else a generated CelebA-format folder),
#     its checkpoint opened by explorer.load_checkpoint
#  4. torchrun --nproc_per_node=2 on the one GPU (the ranks share it over gloo: NCCL refuses two ranks
#     per device), the DDP path end to end
#
# It ends with one table. Without a CUDA device it is a dry run: every step that needs the GPU says it
# is skipped, and the rest (test collection, the CLI and checkpoint chain, torchrun over gloo) runs on
# the CPU at toy sizes, so the script itself is checked wherever it runs.
#
# Environment: PYTHON (default .venv/bin/python), CELEBA_SAMPLE (default ../shared/celeba-sample),
# GPU_CHECK_DIR (work folder, default a new temporary one; the log of each step is kept there).
set -u -o pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-.venv/bin/python}
[ -x "$PY" ] || PY=python3
W=${GPU_CHECK_DIR:-$(mktemp -d -t gpu_check.XXXXXX)}
mkdir -p "$W"
SAMPLE=${CELEBA_SAMPLE:-../shared/celeba-sample}
ROWS="$W/rows.tsv"
: > "$ROWS"

if "$PY" -c "import torch, sys; sys.exit(0 if torch.cuda.is_available() else 1)" 2>/dev/null; then
    CUDA=1
    DEV=cuda
    echo "gpu_check: $("$PY" -c "import torch; print(torch.cuda.get_device_name(), '| torch', torch.__version__)")"
else
    CUDA=0
    DEV=cpu
    echo "gpu_check: no CUDA device: DRY RUN. The GPU steps are skipped; the rest runs on the CPU at toy sizes."
fi
echo "gpu_check: work folder $W"

row() {  # step, result, seconds, figures
    printf '%s\t%s\t%s\t%s\n' "$1" "$2" "$3" "$4" >> "$ROWS"
}

run_step() {  # name, log file, command...: runs it, records pass/FAIL and its time
    local name=$1 log=$2
    shift 2
    local t0=$SECONDS
    echo "gpu_check: $name ..."
    if "$@" > "$log" 2>&1; then
        STATUS=pass
    else
        STATUS="FAIL (exit $?, see $log)"
        tail -20 "$log"
    fi
    ELAPSED=$((SECONDS - t0))
}

# 1. the CUDA tests ------------------------------------------------------------------------------------
run_step "pytest -m cuda" "$W/pytest_cuda.log" "$PY" -m pytest -q -m cuda tests/train/test_cuda.py -p no:cacheprovider
summary=$(grep -E "passed|skipped|failed|error" "$W/pytest_cuda.log" | tail -1)
if [ "$CUDA" = 1 ]; then
    row "pytest -m cuda (sync debug mode, staging, determinism, CPU<->GPU resume)" "$STATUS" "$ELAPSED" "$summary"
else
    row "pytest -m cuda" "skipped: no CUDA device (collected: $STATUS)" "$ELAPSED" "$summary"
fi

# 2. throughput ------------------------------------------------------------------------------------------
if [ "$CUDA" = 1 ]; then
    run_step "bench_train --device cuda" "$W/bench.log" "$PY" bench/bench_train.py --device cuda \
        --batches 256,1024 --compile both --repeats 1 --json "$W/bench.json"
    row "bench/bench_train.py --device cuda, batch 256 and 1024, compile off/on" "$STATUS" "$ELAPSED" "see below"
else
    run_step "bench_train (CPU, toy size)" "$W/bench.log" "$PY" bench/bench_train.py --images 128 --repeats 1 \
        --reference no --json "$W/bench.json"
    row "bench/bench_train.py --device cuda" "skipped: no CUDA device (CPU toy run: $STATUS)" "$ELAPSED" "see below"
fi

# 3. a short real training -----------------------------------------------------------------------------
if [ -d "$SAMPLE" ]; then
    DATA=$SAMPLE
    what="the CelebA sample"
else
    DATA="$W/generated"
    "$PY" -c "import sys; sys.path.insert(0, 'tests'); from pathlib import Path; from celeba_fixtures import make_celeba; make_celeba(Path(sys.argv[1]), n=600)" "$DATA"
    what="a generated CelebA-format folder (600 images; no sample at $SAMPLE)"
fi
if [ "$CUDA" = 1 ]; then
    size=(--epochs 2 --batch-size 256 --lr 2e-3 --bundle-max-images 2000)
else
    size=(--epochs 1 --max-train-images 128 --batch-size 32 --bundle-max-images 64 --channels 8,16,32,32 --latent-dim 16)
fi
run_step "short training on $what" "$W/train.log" "$PY" -m train --data-dir "$DATA" --out "$W/real.pt" \
    --cache-dir "$W/cache" --device "$DEV" --no-tsne --no-progress "${size[@]}"
if [ "$STATUS" = pass ]; then
    figures=$("$PY" -c "
import sys
from explorer import load_checkpoint
from explorer.analysis.runlog import epoch_rows
v = load_checkpoint(sys.argv[1])
h = epoch_rows(v.history)[-1]
print(f\"opened by load_checkpoint: {v.summary['device']}, {v.summary['precision']}, {v.summary['epochs']} epochs, \"
      f\"val_mse {h.get('val_mse', float('nan')):.4f}, {h['images_per_s']:,.0f} images/s, bundle {len(v.bundle)}\")
" "$W/real.pt" 2>&1) || STATUS="FAIL (load_checkpoint)"
else
    figures=""
fi
row "python -m train on $what, device $DEV" "$STATUS" "$ELAPSED" "$figures"

# 4. DDP through torchrun, two ranks -------------------------------------------------------------------
if [ "$CUDA" = 1 ]; then
    ddp=(--epochs 1 --max-train-images 2048 --batch-size 512 --bundle-max-images 500)
else
    ddp=(--epochs 1 --max-train-images 128 --batch-size 32 --bundle-max-images 64 --channels 8,16,32,32 --latent-dim 16)
fi
run_step "torchrun, 2 processes" "$W/ddp.log" env OMP_NUM_THREADS=1 "$PY" -m torch.distributed.run --standalone \
    --nproc_per_node=2 -m train --data-dir "$DATA" --out "$W/ddp.pt" --cache-dir "$W/cache" --device "$DEV" \
    --no-tsne --no-progress "${ddp[@]}"
if [ "$STATUS" = pass ]; then
    figures=$("$PY" -c "
import sys
from explorer import load_checkpoint
from explorer.analysis.runlog import epoch_rows
v = load_checkpoint(sys.argv[1])
assert v.summary['processes'] == 2, v.summary['processes']
print(f\"{v.summary['processes']} processes on {v.summary['device']}, global batch {v.summary['batch_size']}, \"
      f\"{epoch_rows(v.history)[-1]['images_per_s']:,.0f} images/s\")
" "$W/ddp.pt" 2>&1) || STATUS="FAIL (checkpoint)"
else
    figures=""
fi
row "torchrun --nproc_per_node=2 -m train, device $DEV" "$STATUS" "$ELAPSED" "$figures"

# the table --------------------------------------------------------------------------------------------
"$PY" - "$ROWS" "$W/bench.json" <<'EOF'
import json, sys
from pathlib import Path
rows = [line.split("\t") for line in Path(sys.argv[1]).read_text().splitlines()]
print("\n| step | result | seconds | figures |\n|---|---|---|---|")
for step, result, seconds, figures in rows:
    print(f"| {step} | {result} | {seconds} | {figures} |")
bench = Path(sys.argv[2])
if bench.is_file():
    data = json.loads(bench.read_text())
    print(f"\n{data['machine']}\n\n| model | device | batch | precision | compile | images/s | epoch of "
          f"{data['images']:,} | peak memory |\n|---|---|---|---|---|---|---|---|")
    for r in data["rows"]:
        print(f"| {r['model']} | {r['device']} | {r['batch']} | {r['precision']} | {'yes' if r['compile'] else 'no'} | "
              f"{r['images_per_s']:,.0f} | {r['epoch_s']:.1f} s | {r['peak_memory']} |")
    if data["rows"] and data["rows"][0]["device"] == "cuda":
        best = max(r["images_per_s"] for r in data["rows"])
        print(f"\ntarget >= 32,000 images/s (an epoch of 162,770 in <= 5 s): best {best:,.0f} images/s, "
              + ("met" if best >= 32_000 else "NOT met"))
EOF
grep -q "FAIL" "$ROWS" && exit 1
exit 0
