#!/usr/bin/env bash
# `make bench-conv` (and the end of `make bench`): every convolution shape of
# bench/conv_shapes.txt timed in our CPU backend, PyTorch and onnxruntime, in this one
# invocation with equal thread counts; one table of GFLOP/s and fractions of the
# machine's FMA peak (bench/fma_peak.c). Never part of `make test`.
#   BENCH_THREADS       threads for every side (default: all cores)
#   BENCH_CONV_SECONDS  least time per measurement (default 0.3; at least 5 calls)
#   BENCH_QUICK=1       two shapes, small batches, short measurements (a smoke run)
#   BENCH_PEAK_FILE     fma_peak output to reuse (bench/run.sh measures it once)
# Output: runs/bench/conv/{ours,torch,ort,fma_peak}.txt; the table is printed and saved
# to runs/bench/conv/table.txt.
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${SD_BUILD:-build}
threads=${BENCH_THREADS:-$(nproc)}
seconds=${BENCH_CONV_SECONDS:-0.3}
reps=5
forward=1,256
train=32,128
out=runs/bench/conv
mkdir -p "$out"
shapes=bench/conv_shapes.txt
peak_opts=()
if [ "${BENCH_QUICK:-0}" = 1 ]; then
    grep -E '^(c16-32x32|c16to32-s2-32x32) ' "$shapes" > "$out/shapes.txt"
    shapes=$out/shapes.txt
    seconds=0.02; reps=2; forward=1,16; train=8
    peak_opts=(--seconds 0.05 --trials 2)
fi

if [ -n "${BENCH_PEAK_FILE:-}" ] && [ -s "$BENCH_PEAK_FILE" ]; then
    cp "$BENCH_PEAK_FILE" "$out/fma_peak.txt"
else
    "$BUILD/bench/fma_peak" --threads "$threads" "${peak_opts[@]}" | tee "$out/fma_peak.txt"
fi
# The last "fma peak" line is the one for $threads threads.
peak_line=$(grep -E '^fma peak ' "$out/fma_peak.txt" | tail -n 1)
peak=$(awk '{print $5}' <<<"$peak_line")
label=$(sed -E 's/^fma peak ([0-9]+) threads?: ([0-9.]+) GFLOP\/s \((.*)\)$/\1-thread fma peak \2 GFLOP\/s, \3/' <<<"$peak_line")

common=(--forward-batches "$forward" --train-batches "$train" --min-seconds "$seconds" --min-reps "$reps")
echo "== per convolution shape: ours (conv_cpu), $threads threads"
"$BUILD/bench/conv_cpu" --threads "$threads" --shapes "$shapes" "${common[@]}" | tee "$out/ours.txt"
echo "== per convolution shape: PyTorch"
/usr/bin/python3 bench/torch_conv.py --threads "$threads" --shapes "$shapes" "${common[@]}" \
    | tee "$out/torch.txt" || echo "torch_conv failed: its columns show n/a"
echo "== per convolution shape: onnxruntime (forward)"
{
    mapfile -t models < <(/usr/bin/python3 bench/make_conv_onnx.py "$shapes" "$out/onnx")
    node bench/ort_conv.js "$threads" "$forward,$train" "$seconds" "$reps" "${models[@]}"
} | tee "$out/ort.txt" || echo "ort_conv failed: its columns show n/a"

/usr/bin/python3 bench/conv_table.py --shapes "$shapes" --peak "$peak" --peak-label "$label" \
    --ours "$out/ours.txt" --torch "$out/torch.txt" --ort "$out/ort.txt" | tee "$out/table.txt"
