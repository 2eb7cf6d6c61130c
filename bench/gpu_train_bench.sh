#!/usr/bin/env bash
# GPU training throughput: sdtrain's CUDA backend vs PyTorch eager, on a machine
# with an NVIDIA GPU. ResNet-110 (by default) on CIFAR-shaped synthetic input,
# batch 128, constant depth (--survival none) vs stochastic depth (linear decay
# to p_L = 0.5). Never part of `make test`.
#
#   make CUDA=1 && bench/gpu_train_bench.sh
#
# Environment:
#   SD_BIN      directory holding sdtrain (default build-cuda/bin)
#   PYTHON      a Python with CUDA PyTorch (default python3)
#   MODEL       sdtrain preset (default resnet110-cifar; a CIFAR ResNet of 16/32/64 widths)
#   BATCH       (default 128)
#   STEPS       timed steps per measurement (default 50)
#   REPEATS     measurements per configuration; the median is reported (default 3)
#   PRECISION   fp32 (TF32 off on both sides, the default) or tf32
#   SKIP_TORCH=1 / SKIP_SDTRAIN=1   run one side only
#   SKIP_EPOCH=1   skip the input-pipeline rows (real epochs from CIFAR-format files)
# sdtrain's side uses `sdtrain --bench-steps N` (synthetic data, prints "images/s: X"),
# eagerly and with --cuda-graphs; PyTorch's side is bench/torch_resnet_bench.py.
# Then the input pipeline: one real epoch of EPOCH_IMAGES images (default 12800)
# read from CIFAR-10 binary files of random pixels (written here), augmented on
# the host, with --prefetch 0 (batches made on the training thread) and
# --prefetch 2 (a loader thread, pinned memory): images/s from log.csv next to
# the --bench-steps figure, where the input costs nothing. The full log goes to
# runs/gpu-bench/bench.log; the table is printed last and saved to runs/gpu-bench/table.txt.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${SD_BIN:-build-cuda/bin}
PYTHON=${PYTHON:-python3}
MODEL=${MODEL:-resnet110-cifar}
BATCH=${BATCH:-128}
STEPS=${STEPS:-50}
REPEATS=${REPEATS:-3}
PRECISION=${PRECISION:-fp32}
DEVICE=${DEVICE:-cuda}  # cpu: a dry run of this script on a machine without a GPU
P_LAST=0.5
out=runs/gpu-bench
mkdir -p "$out"
log=$out/bench.log
: >"$log"

value() { grep -E "^$1:" | tail -n 1 | awk '{print $2}'; }
median() { sort -g | awk '{v[NR] = $1} END { if (NR == 0) print "n/a"; else if (NR % 2) print v[(NR + 1) / 2]; else printf "%.1f\n", (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (a == "n/a" || b == "n/a" || b == 0) print "n/a"; else printf "%.3f", a / b }'; }

preset_file=models/$MODEL.txt
if [ ! -f "$preset_file" ]; then
    echo "gpu_train_bench: no preset $preset_file" >&2
    exit 1
fi
# The PyTorch model is the CIFAR ResNet with stages of widths 16, 32, 64 and an
# equal block count per stage: read that count from the preset, refuse others.
stages=$(awk '$1 == "stages" { $1 = ""; print }' "$preset_file" | xargs)
blocks_per_stage=${stages%%x*}
if ! [[ "$stages" =~ ^([0-9]+)x16\ ([0-9]+)x32\ ([0-9]+)x64$ ]] ||
    [ "${BASH_REMATCH[1]}" != "${BASH_REMATCH[2]}" ] || [ "${BASH_REMATCH[2]}" != "${BASH_REMATCH[3]}" ]; then
    echo "gpu_train_bench: $MODEL has stages '$stages'; the PyTorch peer needs Nx16 Nx32 Nx64" >&2
    exit 1
fi

declare -A sd_ips sd_graph_ips torch_ips expected epoch_ips
# Median images/s of REPEATS runs of `sdtrain --bench-steps` with extra flags.
sdtrain_ips() {
    local rule=$1; shift
    local runs=() result
    for _ in $(seq "$REPEATS"); do
        result=$("$BIN/sdtrain" --bench-steps "$STEPS" --model "$MODEL" --dataset cifar10 \
            --device "$DEVICE" --precision "$PRECISION" --batch-size "$BATCH" \
            --survival "$rule" --p-last "$P_LAST" "$@" 2>&1 | tee -a "$log")
        runs+=("$(value images/s <<<"$result")")
        expected[$rule]=$(grep -oE 'E\[L~\] [0-9.]+ of [0-9]+' <<<"$result" | tail -n 1)
    done
    printf '%s\n' "${runs[@]}" | grep -E '^[0-9.]+$' | median
}
if [ "${SKIP_SDTRAIN:-0}" != 1 ]; then
    if [ ! -x "$BIN/sdtrain" ]; then
        echo "gpu_train_bench: $BIN/sdtrain not found: build with 'make CUDA=1' (or set SD_BIN)" >&2
        exit 1
    fi
    missing=$(ldd "$BIN/sdtrain" 2>/dev/null | grep "not found" || true)
    if [ -n "$missing" ]; then
        echo "gpu_train_bench: sdtrain misses shared libraries (set LD_LIBRARY_PATH):" >&2
        echo "$missing" >&2
        exit 1
    fi
fi

for rule in none linear; do
    if [ "${SKIP_SDTRAIN:-0}" != 1 ]; then
        echo "== sdtrain $MODEL batch $BATCH survival $rule ($PRECISION), $REPEATS x $STEPS steps" | tee -a "$log"
        sd_ips[$rule]=$(sdtrain_ips "$rule")
        echo "== the same with --cuda-graphs" | tee -a "$log"
        sd_graph_ips[$rule]=$(sdtrain_ips "$rule" --cuda-graphs)
    else
        sd_ips[$rule]=n/a
        sd_graph_ips[$rule]=n/a
    fi
    if [ "${SKIP_TORCH:-0}" != 1 ]; then
        echo "== PyTorch eager, same model, survival $rule ($PRECISION)" | tee -a "$log"
        result=$("$PYTHON" bench/torch_resnet_bench.py --blocks-per-stage "$blocks_per_stage" \
            --batch "$BATCH" --steps "$STEPS" --repeats "$REPEATS" --survival "$rule" \
            --p-last "$P_LAST" --precision "$PRECISION" --device "$DEVICE" 2>&1 | tee -a "$log")
        torch_ips[$rule]=$(value images/s <<<"$result")
        torch_ips[$rule]=${torch_ips[$rule]:-n/a}
    else
        torch_ips[$rule]=n/a
    fi
done

# ---- the input pipeline: real epochs from files ---------------------------------------
epoch_ips[0]=n/a
epoch_ips[2]=n/a
if [ "${SKIP_SDTRAIN:-0}" != 1 ] && [ "${SKIP_EPOCH:-0}" != 1 ]; then
    EPOCH_IMAGES=${EPOCH_IMAGES:-12800}
    data=$out/cifar-random
    mkdir -p "$data"
    # Five training files and a test file in the official layout (label byte <
    # 10, then 3072 pixel bytes), random content: the speed does not care.
    "$PYTHON" - "$data" <<'PY'
import os, sys
for name in ["data_batch_%d.bin" % i for i in range(1, 6)] + ["test_batch.bin"]:
    path = os.path.join(sys.argv[1], name)
    if os.path.exists(path):
        continue
    records = bytearray(os.urandom(10000 * 3073))
    for r in range(10000):
        records[r * 3073] %= 10
    with open(path + ".tmp", "wb") as f:
        f.write(records)
    os.replace(path + ".tmp", path)
PY
    for depth in 0 2; do
        echo "== sdtrain one epoch of $EPOCH_IMAGES CIFAR-format images, linear, --prefetch $depth" | tee -a "$log"
        rm -rf "$out/epoch-$depth"
        "$BIN/sdtrain" --dataset cifar10 --data "$data" --model "$MODEL" --device "$DEVICE" \
            --precision "$PRECISION" --batch-size "$BATCH" --survival linear --p-last "$P_LAST" \
            --epochs 1 --train-limit "$EPOCH_IMAGES" --val-size 1000 --test-limit 1000 \
            --prefetch "$depth" --out "$out/epoch-$depth" 2>&1 | tail -n 3 | tee -a "$log"
        # log.csv column 7 is images_per_s (the training loop only, no evaluation)
        epoch_ips[$depth]=$(awk -F, 'NR == 2 { print $7 }' "$out/epoch-$depth/log.csv" 2>/dev/null)
        epoch_ips[$depth]=${epoch_ips[$depth]:-n/a}
    done
fi

# A table row: label, a, b, a/b.
row() { printf '%-34s %14s %14s %14s\n' "$1" "$2" "$3" "$(ratio "$2" "$3")"; }

gpu=$(nvidia-smi --query-gpu=name --format=csv,noheader 2>/dev/null | head -n 1 || true)
{
    echo
    echo "GPU training throughput: $MODEL, batch $BATCH, synthetic 3x32x32, $PRECISION, ${gpu:-unknown GPU}"
    echo "median of $REPEATS measurements of $STEPS steps (images/s)"
    printf '%-34s %14s %14s %14s\n' "" "sdtrain" "pytorch" "sdtrain/torch"
    row "constant depth (survival none)" "${sd_ips[none]}" "${torch_ips[none]}"
    row "stochastic (linear, p_L=$P_LAST)" "${sd_ips[linear]}" "${torch_ips[linear]}"
    # Time per image, stochastic over constant (the paper's 0.75; target <= 0.78).
    printf '%-34s %14s %14s\n' "stochastic / constant (time)" \
        "$(ratio "${sd_ips[none]}" "${sd_ips[linear]}")" \
        "$(ratio "${torch_ips[none]}" "${torch_ips[linear]}")"
    echo
    echo "with --cuda-graphs (each open block's forward and backward replayed as one graph)"
    printf '%-34s %14s %14s %14s\n' "" "graphs" "eager" "graphs/eager"
    row "constant depth (survival none)" "${sd_graph_ips[none]}" "${sd_ips[none]}"
    row "stochastic (linear, p_L=$P_LAST)" "${sd_graph_ips[linear]}" "${sd_ips[linear]}"
    printf '%-34s %14s\n' "graphs / PyTorch, constant" \
        "$(ratio "${sd_graph_ips[none]}" "${torch_ips[none]}")"
    printf '%-34s %14s\n' "graphs / PyTorch, stochastic" \
        "$(ratio "${sd_graph_ips[linear]}" "${torch_ips[linear]}")"
    printf '%-34s %14s\n' "graphs: stochastic / constant (time)" \
        "$(ratio "${sd_graph_ips[none]}" "${sd_graph_ips[linear]}")"
    echo
    echo "input pipeline: one real epoch (augmented on the host), linear p_L=$P_LAST"
    printf '%-34s %14s %14s %14s\n' "" "epoch" "synthetic" "epoch/synthetic"
    row "--prefetch 0 (training thread)" "${epoch_ips[0]}" "${sd_ips[linear]}"
    row "--prefetch 2 (loader thread)" "${epoch_ips[2]}" "${sd_ips[linear]}"
    if [ -n "${expected[linear]:-}" ]; then
        # Blocks are most, not all, of the work: L / E[L~] bounds the speed-up from above.
        read -r _ e_active _ n_blocks <<<"${expected[linear]}"
        echo "upper bound from the blocks alone: L / E[L~] = $n_blocks / $e_active = $(ratio "$n_blocks" "$e_active")"
    fi
} | tee "$out/table.txt"
