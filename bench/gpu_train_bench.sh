#!/usr/bin/env bash
# GPU training throughput: sdtrain's CUDA backend vs PyTorch eager, on a machine
# with an NVIDIA GPU. ResNet-110 (by default) on CIFAR-shaped synthetic input,
# batch 128, constant depth (--survival none) vs stochastic depth (linear decay
# to p_L = 0.5), eager and with --cuda-graphs. Never part of `make test` (but its
# dry run is: bench/gpu_run.sh with GPU_DRY_RUN=1).
#
#   make CUDA=1 && bench/gpu_train_bench.sh
#
# Environment:
#   SD_BIN      directory holding sdtrain (default build-cuda/bin)
#   PYTHON      a Python with CUDA PyTorch (default python3); it runs with the
#               environment this script was given: nothing here sets LD_LIBRARY_PATH
#               (bench/gpu_run.sh gives sdtrain its libraries through a launcher)
#   MODEL       sdtrain preset, a name or a file (default resnet110-cifar; a CIFAR ResNet
#               of 16/32/64 widths)
#   BATCH       (default 128)
#   STEPS       timed steps per window (default 50)
#   REPEATS     timed windows per configuration, in one process; the median is reported (default 3)
#   PRECISION   fp32 (TF32 off on both sides, the default) or tf32
#   DEVICE      cuda (default) or cpu: a dry run of the plumbing on a machine without a GPU
#   BENCH_WORK  scratch directory (default runs/gpu-bench): random CIFAR files, epoch runs
#   SKIP_TORCH=1 / SKIP_SDTRAIN=1   run one side only
#   SKIP_EPOCH=1   skip the input-pipeline rows (real epochs from CIFAR-format files)
#   EPOCH_IMAGES   images in each real epoch (default 12800)
#   EPOCH_EVAL     validation and test images evaluated after it (default 1000 each)
#   CIFAR_RECORDS  records per random CIFAR file (default 10000)
# sdtrain's side is `sdtrain --bench-steps STEPS --bench-repeats REPEATS` (synthetic
# data); with --cuda-graphs sdtrain warms up until 10 steps in a row record
# nothing, so recording stays out of the timed windows. PyTorch's side is
# bench/torch_resnet_bench.py. A run that fails shows as n/a (its output is in
# the log) and the table is still printed. Then the input pipeline: one real epoch
# of EPOCH_IMAGES images read from CIFAR-10 binary files of random pixels,
# augmented on the host, with --prefetch 0 (batches made on the training thread)
# and --prefetch 2 (a loader thread, pinned memory). The table comes last, then
# one "summary:" line (read by bench/gpu_run.sh). Exit status 1 when a run that
# was asked for gave no figure.
set -uo pipefail
cd "$(dirname "$0")/.."
BIN=${SD_BIN:-build-cuda/bin}
PYTHON=${PYTHON:-python3}
MODEL=${MODEL:-resnet110-cifar}
BATCH=${BATCH:-128}
STEPS=${STEPS:-50}
REPEATS=${REPEATS:-3}
PRECISION=${PRECISION:-fp32}
DEVICE=${DEVICE:-cuda}
EPOCH_IMAGES=${EPOCH_IMAGES:-12800}
EPOCH_EVAL=${EPOCH_EVAL:-1000}
work=${BENCH_WORK:-runs/gpu-bench}
P_LAST=0.5
mkdir -p "$work"

value() { { grep -E "^$1:" || true; } | tail -n 1 | awk '{print $2}'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (a == "n/a" || b == "n/a" || a == "" || b == "" || b + 0 == 0) print "n/a"; else printf "%.3f", a / b }'; }
or_na() { if [ -n "$1" ]; then echo "$1"; else echo n/a; fi; }

preset_file=$MODEL  # a preset file, or the name of one in models/
[ -f "$preset_file" ] || preset_file=models/$MODEL.txt
stages=$(awk '$1 == "stages" { $1 = ""; print }' "$preset_file" 2>/dev/null | xargs)
if ! [[ "$stages" =~ ^([0-9]+)x16\ ([0-9]+)x32\ ([0-9]+)x64$ ]] ||
    [ "${BASH_REMATCH[1]}" != "${BASH_REMATCH[2]}" ] || [ "${BASH_REMATCH[2]}" != "${BASH_REMATCH[3]}" ]; then
    # The PyTorch model is the CIFAR ResNet with stages of widths 16, 32, 64 and an
    # equal block count per stage.
    echo "gpu_train_bench: $preset_file: stages '$stages'; the PyTorch peer needs Nx16 Nx32 Nx64" >&2
    exit 1
fi
blocks_per_stage=${BASH_REMATCH[1]}

declare -A sd_ips sd_graph_ips torch_ips epoch_ips
failures=0  # runs that were asked for and gave no figure

# sdtrain --bench-steps with extra flags; prints the median images/s or nothing.
sdtrain_ips() {
    local rule=$1; shift
    local out="$work/sdtrain-$rule.out"
    "$BIN/sdtrain" --bench-steps "$STEPS" --bench-repeats "$REPEATS" --model "$MODEL" \
        --dataset cifar10 --device "$DEVICE" --precision "$PRECISION" --batch-size "$BATCH" \
        --survival "$rule" --p-last "$P_LAST" "$@" >"$out" 2>&1
    local rc=$?
    cat "$out" >&2
    [ "$rc" -eq 0 ] || echo "gpu_train_bench: sdtrain ($rule $*) exited with $rc" >&2
    [ "$rc" -eq 0 ] && value images/s <"$out"
}

torch_train_ips() {
    local rule=$1 out="$work/torch-$rule.out"
    "$PYTHON" bench/torch_resnet_bench.py --blocks-per-stage "$blocks_per_stage" \
        --batch "$BATCH" --steps "$STEPS" --repeats "$REPEATS" --survival "$rule" \
        --p-last "$P_LAST" --precision "$PRECISION" --device "$DEVICE" >"$out" 2>&1
    local rc=$?
    cat "$out" >&2
    [ "$rc" -eq 0 ] || echo "gpu_train_bench: PyTorch ($rule) exited with $rc" >&2
    [ "$rc" -eq 0 ] && value images/s <"$out"
}

for rule in none linear; do
    sd_ips[$rule]=n/a sd_graph_ips[$rule]=n/a torch_ips[$rule]=n/a
    if [ "${SKIP_SDTRAIN:-0}" != 1 ]; then
        echo "== sdtrain $MODEL batch $BATCH survival $rule ($PRECISION), $REPEATS x $STEPS steps" >&2
        sd_ips[$rule]=$(or_na "$(sdtrain_ips "$rule")")
        echo "== the same with --cuda-graphs" >&2
        sd_graph_ips[$rule]=$(or_na "$(sdtrain_ips "$rule" --cuda-graphs)")
        [ "${sd_ips[$rule]}" != n/a ] && [ "${sd_graph_ips[$rule]}" != n/a ] || failures=$((failures + 1))
    fi
    if [ "${SKIP_TORCH:-0}" != 1 ]; then
        echo "== PyTorch eager, same model, survival $rule ($PRECISION)" >&2
        torch_ips[$rule]=$(or_na "$(torch_train_ips "$rule")")
        [ "${torch_ips[$rule]}" != n/a ] || failures=$((failures + 1))
    fi
done
# "E[L~] x of L" of the linear rule, from sdtrain's first line
expected=$(grep -ohE 'E\[L~\] [0-9.]+ of [0-9]+' "$work/sdtrain-linear.out" 2>/dev/null | tail -n 1)

# ---- the input pipeline: real epochs from files ---------------------------------------
epoch_ips[0]=n/a epoch_ips[2]=n/a
if [ "${SKIP_SDTRAIN:-0}" != 1 ] && [ "${SKIP_EPOCH:-0}" != 1 ]; then
    data=$work/cifar-random
    "$PYTHON" bench/make_random_cifar.py "$data" "${CIFAR_RECORDS:-10000}" || echo "gpu_train_bench: no CIFAR files" >&2
    for depth in 0 2; do
        echo "== sdtrain one epoch of $EPOCH_IMAGES CIFAR-format images, linear, --prefetch $depth" >&2
        rm -rf "$work/epoch-$depth"
        "$BIN/sdtrain" --dataset cifar10 --data "$data" --model "$MODEL" --device "$DEVICE" \
            --precision "$PRECISION" --batch-size "$BATCH" --survival linear --p-last "$P_LAST" \
            --epochs 1 --train-limit "$EPOCH_IMAGES" --val-size "$EPOCH_EVAL" --test-limit "$EPOCH_EVAL" \
            --prefetch "$depth" --out "$work/epoch-$depth" 2>&1 | tail -n 3 >&2
        # log.csv's images_per_s: the training loop only, no evaluation
        epoch_ips[$depth]=$(or_na "$(awk -F, 'NR == 1 { for (i = 1; i <= NF; i++) if ($i == "images_per_s") c = i }
                                          NR == 2 && c { print $c }' "$work/epoch-$depth/log.csv" 2>/dev/null)")
        [ "${epoch_ips[$depth]}" != n/a ] || failures=$((failures + 1))
    done
fi

row() { printf '%-36s %14s %14s %14s\n' "$1" "$2" "$3" "$(ratio "$2" "$3")"; }
gpu=$(nvidia-smi --query-gpu=name --format=csv,noheader 2>/dev/null | head -n 1)
echo
echo "GPU training throughput: $MODEL, batch $BATCH, synthetic 3x32x32, $PRECISION, device $DEVICE ${gpu:+($gpu)}"
echo "median of $REPEATS windows of $STEPS steps (images/s)"
printf '%-36s %14s %14s %14s\n' "" "sdtrain" "pytorch" "sdtrain/torch"
row "constant depth (survival none)" "${sd_ips[none]}" "${torch_ips[none]}"
row "stochastic (linear, p_L=$P_LAST)" "${sd_ips[linear]}" "${torch_ips[linear]}"
# Time per image, stochastic over constant (the paper's 0.75; target <= 0.78).
printf '%-36s %14s %14s\n' "stochastic / constant (time)" \
    "$(ratio "${sd_ips[none]}" "${sd_ips[linear]}")" "$(ratio "${torch_ips[none]}" "${torch_ips[linear]}")"
echo
echo "with --cuda-graphs (each open block's forward and backward replayed as one graph)"
printf '%-36s %14s %14s %14s\n' "" "graphs" "eager" "graphs/eager"
row "constant depth (survival none)" "${sd_graph_ips[none]}" "${sd_ips[none]}"
row "stochastic (linear, p_L=$P_LAST)" "${sd_graph_ips[linear]}" "${sd_ips[linear]}"
row "graphs vs PyTorch, constant" "${sd_graph_ips[none]}" "${torch_ips[none]}"
row "graphs vs PyTorch, stochastic" "${sd_graph_ips[linear]}" "${torch_ips[linear]}"
printf '%-36s %14s\n' "graphs: stochastic / constant (time)" \
    "$(ratio "${sd_graph_ips[none]}" "${sd_graph_ips[linear]}")"
echo
echo "input pipeline: one real epoch (augmented on the host), linear p_L=$P_LAST"
printf '%-36s %14s %14s %14s\n' "" "epoch" "synthetic" "epoch/synthetic"
row "--prefetch 0 (training thread)" "${epoch_ips[0]}" "${sd_ips[linear]}"
row "--prefetch 2 (loader thread)" "${epoch_ips[2]}" "${sd_ips[linear]}"
bound=n/a
if [ -n "$expected" ]; then
    # Blocks are most, not all, of the work: E[L~] / L bounds the time ratio from below.
    read -r _ e_active _ n_blocks <<<"$expected"
    bound=$(ratio "$e_active" "$n_blocks")
    echo "lower bound of stochastic / constant time from the blocks alone: E[L~] / L = $e_active / $n_blocks = $bound"
fi
echo "summary: sdtrain img/s constant ${sd_ips[none]} stochastic ${sd_ips[linear]}" \
    "(torch ${torch_ips[none]} / ${torch_ips[linear]}); stochastic/constant time" \
    "$(ratio "${sd_ips[none]}" "${sd_ips[linear]}") (bound $bound); graphs/eager" \
    "$(ratio "${sd_graph_ips[none]}" "${sd_ips[none]}") / $(ratio "${sd_graph_ips[linear]}" "${sd_ips[linear]}");" \
    "epoch --prefetch 0/2 ${epoch_ips[0]} / ${epoch_ips[2]}"
[ "$failures" -eq 0 ] || echo "gpu_train_bench: $failures runs gave no figure (see above)" >&2
[ "$failures" -eq 0 ]
