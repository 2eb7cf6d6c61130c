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
# sdtrain's side uses `sdtrain --bench-steps N` (synthetic data, prints "images/s: X");
# PyTorch's side is bench/torch_resnet_bench.py. The full log goes to
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

declare -A sd_ips torch_ips expected
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
        runs=()
        for _ in $(seq "$REPEATS"); do
            result=$("$BIN/sdtrain" --bench-steps "$STEPS" --model "$MODEL" --dataset cifar10 \
                --device cuda --precision "$PRECISION" --batch-size "$BATCH" \
                --survival "$rule" --p-last "$P_LAST" 2>&1 | tee -a "$log")
            runs+=("$(value images/s <<<"$result")")
            expected[$rule]=$(grep -oE 'E\[L~\] [0-9.]+ of [0-9]+' <<<"$result" | tail -n 1)
        done
        sd_ips[$rule]=$(printf '%s\n' "${runs[@]}" | grep -E '^[0-9.]+$' | median)
    else
        sd_ips[$rule]=n/a
    fi
    if [ "${SKIP_TORCH:-0}" != 1 ]; then
        echo "== PyTorch eager, same model, survival $rule ($PRECISION)" | tee -a "$log"
        result=$("$PYTHON" bench/torch_resnet_bench.py --blocks-per-stage "$blocks_per_stage" \
            --batch "$BATCH" --steps "$STEPS" --repeats "$REPEATS" --survival "$rule" \
            --p-last "$P_LAST" --precision "$PRECISION" 2>&1 | tee -a "$log")
        torch_ips[$rule]=$(value images/s <<<"$result")
        torch_ips[$rule]=${torch_ips[$rule]:-n/a}
    else
        torch_ips[$rule]=n/a
    fi
done

gpu=$(nvidia-smi --query-gpu=name --format=csv,noheader 2>/dev/null | head -n 1 || true)
{
    echo
    echo "GPU training throughput: $MODEL, batch $BATCH, synthetic 3x32x32, $PRECISION, ${gpu:-unknown GPU}"
    echo "median of $REPEATS measurements of $STEPS steps (images/s)"
    printf '%-34s %14s %14s %14s\n' "" "sdtrain" "pytorch" "sdtrain/torch"
    printf '%-34s %14s %14s %14s\n' "constant depth (survival none)" "${sd_ips[none]}" \
        "${torch_ips[none]}" "$(ratio "${sd_ips[none]}" "${torch_ips[none]}")"
    printf '%-34s %14s %14s %14s\n' "stochastic (linear, p_L=$P_LAST)" "${sd_ips[linear]}" \
        "${torch_ips[linear]}" "$(ratio "${sd_ips[linear]}" "${torch_ips[linear]}")"
    printf '%-34s %14s %14s\n' "stochastic / constant" \
        "$(ratio "${sd_ips[linear]}" "${sd_ips[none]}")" \
        "$(ratio "${torch_ips[linear]}" "${torch_ips[none]}")"
    if [ -n "${expected[linear]:-}" ]; then
        # Blocks are most, not all, of the work: L / E[L~] bounds the speed-up from above.
        read -r _ e_active _ n_blocks <<<"${expected[linear]}"
        echo "upper bound from the blocks alone: L / E[L~] = $n_blocks / $e_active = $(ratio "$n_blocks" "$e_active")"
    fi
} | tee "$out/table.txt"
