#!/usr/bin/env bash
# GPU inference: sdinfer on the CUDA backend vs PyTorch eager (same GPU) and
# onnxruntime (the CUDA execution provider when the installed onnxruntime has it,
# else its CPU build on the same machine), ResNet-110 on CIFAR-shaped input, at
# batch 1 and 1024. Never part of `make test` (its dry run is: bench/gpu_run.sh
# with GPU_DRY_RUN=1).
#
# The model is made on the spot: one short sdtrain epoch on CIFAR-format files of
# random pixels, exported by sdexport (the speed does not depend on the weights).
# Before timing, sdinfer's logits on the device are compared with onnxruntime's
# on the same 8 random images (max |a-b| <= 1e-4 (1 + |b|)).
#
# Environment: SD_BIN (default build-cuda/bin), PYTHON (default python3), MODEL
# (default resnet110-cifar), DEVICE (cuda; cpu = dry run), PRECISION (fp32),
# BATCHES (default "1 1024"), RUNS_SMALL / RUNS_LARGE (timed batches at batch 1 /
# at the larger batches: default 200 / 10), ORT_THREADS (default: all cores),
# BENCH_WORK (scratch, default runs/gpu-bench), CIFAR_RECORDS (default 10000; must
# be at least the largest batch), SKIP_TORCH=1 (no PyTorch peer). The table comes last, then one "summary:" line.
set -uo pipefail
cd "$(dirname "$0")/.."
BIN=${SD_BIN:-build-cuda/bin}
PYTHON=${PYTHON:-python3}
MODEL=${MODEL:-resnet110-cifar}
DEVICE=${DEVICE:-cuda}
PRECISION=${PRECISION:-fp32}
BATCHES=${BATCHES:-1 1024}
RUNS_SMALL=${RUNS_SMALL:-200}
RUNS_LARGE=${RUNS_LARGE:-10}
ORT_THREADS=${ORT_THREADS:-$(nproc)}
work=${BENCH_WORK:-runs/gpu-bench}/infer
mkdir -p "$work"

value() { { grep -E "^$1:" || true; } | tail -n 1 | awk '{print $2}'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (a == "n/a" || b == "n/a" || a == "" || b == "" || b + 0 == 0) print "n/a"; else printf "%.3f", a / b }'; }
or_na() { if [ -n "$1" ]; then echo "$1"; else echo n/a; fi; }
failures=0
# run NAME command...: its output to $work/NAME.out and to stderr; 0 on success.
run() {
    local name=$1; shift
    "$@" >"$work/$name.out" 2>&1
    local rc=$?
    cat "$work/$name.out" >&2
    [ "$rc" -eq 0 ] || echo "gpu_infer_bench: $name exited with $rc" >&2
    return "$rc"
}

# onnxruntime: Python's when it imports (the GPU image), else onnxruntime-node.
if "$PYTHON" -c 'import onnxruntime' 2>/dev/null; then
    ort_bench() { "$PYTHON" bench/ort_infer.py bench "$@"; }
    ort_run() { "$PYTHON" bench/ort_infer.py run "$@"; }
elif command -v node >/dev/null && [ -d tests/node/node_modules/onnxruntime-node ]; then
    ort_bench() { node bench/ort_infer.js "$@"; }
    ort_run() { node tests/ort_run_tensor.js "$@"; }
else
    ort_bench() { echo "no onnxruntime (Python or Node.js) here" >&2; return 1; }
    ort_run() { ort_bench; }
fi

# ---- the model ------------------------------------------------------------------------
data=$work/../cifar-random
onnx=$work/model.onnx
rm -rf "$work/run" "$onnx"
"$PYTHON" bench/make_random_cifar.py "$data" "${CIFAR_RECORDS:-10000}" &&
    run train "$BIN/sdtrain" --dataset cifar10 --data "$data" --model "$MODEL" --device "$DEVICE" \
        --precision "$PRECISION" --epochs 1 --train-limit 256 --val-size 128 --test-limit 128 \
        --batch-size 64 --out "$work/run" &&
    run export "$BIN/sdexport" "$work/run/last.ckpt" -o "$onnx" || failures=$((failures + 1))

# ---- parity on the device -------------------------------------------------------------------
parity=n/a
if [ -f "$onnx" ]; then
    "$PYTHON" - "$work/x.pb" <<'PY'
import sys
import numpy as np
from onnx import numpy_helper
x = np.random.default_rng(7).standard_normal((8, 3, 32, 32)).astype(np.float32)
open(sys.argv[1], "wb").write(numpy_helper.from_array(x).SerializeToString())
PY
    if run sdinfer_tensor "$BIN/sdinfer" "$onnx" --device "$DEVICE" --precision "$PRECISION" \
            --input-tensor "$work/x.pb" --output-tensor "$work/y_sdinfer.pb" &&
        run ort_tensor ort_run "$onnx" "$work/x.pb" "$work/y_ort.pb" &&
        run compare "$PYTHON" tests/sdinfer_check.py compare "$work/y_sdinfer.pb" "$work/y_ort.pb" 1e-4; then
        parity=pass
    else
        parity=FAIL
        failures=$((failures + 1))
    fi
fi

# ---- throughput -------------------------------------------------------------------------------
declare -A sd_ips torch_ips ort_ips sd_p99 sd_p50
preset_file=$MODEL  # a preset file, or the name of one in models/
[ -f "$preset_file" ] || preset_file=models/$MODEL.txt
blocks_per_stage=$(awk '$1 == "stages" { split($2, a, "x"); print a[1] }' "$preset_file")
for b in $BATCHES; do
    n=$RUNS_LARGE
    [ "$b" -eq 1 ] && n=$RUNS_SMALL
    sd_ips[$b]=n/a torch_ips[$b]=n/a ort_ips[$b]=n/a sd_p50[$b]=n/a sd_p99[$b]=n/a
    if [ -f "$onnx" ] && run "sdinfer_b$b" "$BIN/sdinfer" "$onnx" --device "$DEVICE" \
            --precision "$PRECISION" --dataset cifar10 --data "$data" --batch-size "$b" --bench "$n"; then
        sd_ips[$b]=$(or_na "$(value images/s <"$work/sdinfer_b$b.out")")
        sd_p50[$b]=$(or_na "$(grep -E '^latency p50 ms:' "$work/sdinfer_b$b.out" | awk '{print $4}')")
        sd_p99[$b]=$(or_na "$(grep -E '^latency p99 ms:' "$work/sdinfer_b$b.out" | awk '{print $4}')")
    fi
    if [ "${SKIP_TORCH:-0}" != 1 ] && run "torch_b$b" "$PYTHON" bench/torch_resnet_bench.py --infer --device "$DEVICE" \
            --precision "$PRECISION" --blocks-per-stage "$blocks_per_stage" --batch "$b" \
            --steps "$n" --repeats 1 --warmup 3; then
        torch_ips[$b]=$(or_na "$(value images/s <"$work/torch_b$b.out")")
    fi
    if [ -f "$onnx" ] && run "ort_b$b" ort_bench "$onnx" "$b" "$n" "$ORT_THREADS"; then
        ort_ips[$b]=$(or_na "$(value images/s <"$work/ort_b$b.out")")
    fi
    [ "${sd_ips[$b]}" != n/a ] && [ "${ort_ips[$b]}" != n/a ] || failures=$((failures + 1))
    [ "${SKIP_TORCH:-0}" = 1 ] || [ "${torch_ips[$b]}" != n/a ] || failures=$((failures + 1))
done

gpu=$(nvidia-smi --query-gpu=name --format=csv,noheader 2>/dev/null | head -n 1)
ort_line=$(head -n 1 "$work/ort_b${BATCHES%% *}.out" 2>/dev/null)
echo
echo "Inference throughput: $MODEL (exported by sdexport), 3x32x32, $PRECISION, device $DEVICE ${gpu:+($gpu)}"
echo "onnxruntime: ${ort_line:-n/a}"
echo "sdinfer logits vs onnxruntime on 8 images (1e-4): $parity"
printf '%-8s %12s %12s %12s %14s %12s %14s\n' batch sdinfer pytorch onnxruntime sdinfer/torch sdinfer/ort "p50/p99 ms"
summary="parity $parity"
for b in $BATCHES; do
    printf '%-8s %12s %12s %12s %14s %12s %14s\n' "$b" "${sd_ips[$b]}" "${torch_ips[$b]}" \
        "${ort_ips[$b]}" "$(ratio "${sd_ips[$b]}" "${torch_ips[$b]}")" \
        "$(ratio "${sd_ips[$b]}" "${ort_ips[$b]}")" "${sd_p50[$b]}/${sd_p99[$b]}"
    summary="$summary; b$b img/s sdinfer ${sd_ips[$b]} torch ${torch_ips[$b]} ort ${ort_ips[$b]}"
done
echo "summary: $summary"
[ "$failures" -eq 0 ] || echo "gpu_infer_bench: $failures steps failed or gave no figure (see above)" >&2
[ "$failures" -eq 0 ]
