#!/usr/bin/env bash
# `make bench`: each comparison runs both sides in this one invocation, on this
# machine, with equal thread counts, and prints a ratio. Never part of `make test`.
#   BENCH_STEPS   timed training steps per measurement (default 10)
#   BENCH_THREADS threads on both sides (default: all cores)
#   BENCH_QUICK=1 ResNet-20 only, fewer steps (a smoke run)
# Full output goes to runs/bench/bench.log; the table is printed last and saved
# to runs/bench/table.txt.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${SD_BIN:-bin}
threads=${BENCH_THREADS:-$(nproc)}
steps=${BENCH_STEPS:-10}
out=runs/bench
mkdir -p "$out"
log=$out/bench.log
: > "$log"
table=()
# A number a program did not print stays "n/a" in the table instead of ending the run.
value() { { grep -E "^$1:" || true; } | tail -n 1 | awk '{print $2}'; }
ratio() {
    awk -v a="$1" -v b="$2" 'BEGIN { if (a == "" || b == "" || b + 0 == 0) print "n/a";
                                     else printf "%.3f", a / b }'
}
row() { table+=("$(printf '%-58s %12s %12s %8s' "$@")"); }

models=("resnet20-cifar 3" "resnet110-cifar 18")
batches=(32 128)
if [ "${BENCH_QUICK:-0}" = 1 ]; then models=("resnet20-cifar 3"); batches=(32); steps=3; fi

echo "== CPU training step (forward + backward + SGD), synthetic 32x32x3, $threads threads" | tee -a "$log"
for m in "${models[@]}"; do
    set -- $m; preset=$1; n=$2
    for b in "${batches[@]}"; do
        sd=$("$BIN/sdtrain" --bench-steps "$steps" --model "$preset" --batch-size "$b" \
             --survival none --threads "$threads" --dataset cifar10 2>&1 | tee -a "$log")
        pt=$(/usr/bin/python3 bench/torch_train_step.py --blocks-per-stage "$n" --batch "$b" \
             --steps "$steps" --threads "$threads" --survival none 2>&1 | tee -a "$log")
        sd_ms=$(value ms/step <<<"$sd"); pt_ms=$(value ms/step <<<"$pt")
        row "train step $preset batch $b (sdtrain vs torch ms)" "$sd_ms" "$pt_ms" \
            "$(ratio "$pt_ms" "$sd_ms")"
    done
done

echo "== stochastic vs constant depth: training time per epoch" | tee -a "$log"
deep=resnet110-cifar; [ "${BENCH_QUICK:-0}" = 1 ] && deep=resnet20-cifar
limit=${BENCH_EPOCH_IMAGES:-1024}
for rule in none linear; do
    rm -rf "$out/epoch-$rule"
    "$BIN/sdtrain" --dataset fashion-mnist --model "$deep" --survival "$rule" --p-last 0.5 \
        --epochs 1 --batch-size 32 --train-limit "$limit" --val-size 1000 --test-limit 32 \
        --threads "$threads" --seed 1 --out "$out/epoch-$rule" 2>&1 | tee -a "$log"
done
col() { tail -n 1 "$1" | cut -d, -f"$(head -1 "$1" | tr ',' '\n' | grep -n -x "$2" | cut -d: -f1)"; }
t_none=$(col "$out/epoch-none/log.csv" epoch_seconds)
t_lin=$(col "$out/epoch-linear/log.csv" epoch_seconds)
row "epoch time $deep linear p_L=0.5 vs none (s, $limit imgs)" "$t_lin" "$t_none" "$(ratio "$t_lin" "$t_none")"

if [ -x "$BIN/sdexport" ] && [ -x "$BIN/sdinfer" ] && [ -f bench/ort_infer.js ]; then
    echo "== CPU inference: sdinfer vs onnxruntime-node on the exported $deep" | tee -a "$log"
    "$BIN/sdexport" "$out/epoch-linear/last.ckpt" -o "$out/model.onnx" 2>&1 | tee -a "$log"
    for b in 1 256; do
        n=$(( b == 1 ? 50 : 3 ))
        sd=$("$BIN/sdinfer" "$out/model.onnx" --dataset fashion-mnist --batch-size "$b" \
             --bench "$n" --device cpu --threads "$threads" 2>&1 | tee -a "$log")
        ort=$(node bench/ort_infer.js "$out/model.onnx" "$b" "$n" "$threads" 2>&1 | tee -a "$log")
        sd_ips=$(value images/s <<<"$sd"); ort_ips=$(value images/s <<<"$ort")
        row "inference $deep batch $b (sdinfer vs ort images/s)" "$sd_ips" "$ort_ips" \
            "$(ratio "$sd_ips" "$ort_ips")"
    done
fi

{
    printf '%-58s %12s %12s %8s\n' "comparison (ratio > 1: ours faster; epoch: ours/constant)" "ours" "peer" "ratio"
    printf '%s\n' "${table[@]}"
} | tee "$out/table.txt"
