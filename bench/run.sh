#!/usr/bin/env bash
# `make bench`: each comparison runs both sides in this one invocation, on this
# machine, with equal thread counts, and prints a ratio. Never part of `make test`.
# Next to each ratio: both sides' achieved GFLOP/s (the convolution and fully
# connected multiply-adds of bench/flops.c, 2 flops each, over the measured time) and
# their fraction of the machine's FMA peak, measured first by bench/fma_peak.c with
# the same thread count. Then the per-convolution table (bench/conv_shapes.sh).
#   BENCH_STEPS   timed training steps per measurement (default 10)
#   BENCH_THREADS threads on both sides (default: all cores)
#   BENCH_QUICK=1 ResNet-20 only, fewer steps (a smoke run)
#   BENCH_CONV=0  leave out the per-convolution table
#   BENCH_EPOCH_IMAGES, BENCH_EPOCH_ROUNDS  the epoch comparison: images per epoch
#                 (default 1024) and rounds of four epochs, A B B A (default 5, median
#                 of the rounds' ratios)
#   BENCH_PAIRS, BENCH_PAIR_STEPS  the same saving inside one process: pairs of windows
#                 (default 9) of this many steps (default 8), the rule's and all blocks open
#   BENCH_INFER_ROUNDS  the inference comparison: alternating runs of sdinfer and
#                 onnxruntime per batch size (default 9, median of their ratios)
# Full output goes to runs/bench/bench.log; the tables are printed last and saved
# to runs/bench/table.txt (and runs/bench/conv/table.txt).
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${SD_BIN:-bin}
BUILD=${SD_BUILD:-build}
threads=${BENCH_THREADS:-$(nproc)}
steps=${BENCH_STEPS:-10}
out=runs/bench
mkdir -p "$out"
log=$out/bench.log
: > "$log"
table=()
rates=()
# A number a program did not print stays "n/a" in the table instead of ending the run.
value() { { grep -E "^$1:" || true; } | tail -n 1 | awk '{print $2}'; }
ratio() {
    awk -v a="$1" -v b="$2" 'BEGIN { if (a == "" || b == "" || b + 0 == 0) print "n/a";
                                     else printf "%.3f", a / b }'
}
row() { table+=("$(printf '%-58s %12s %12s %8s' "$@")"); }
# gflops FLOPS_PER_ITEM ITEMS_PER_SECOND; gflops_ms FLOPS_PER_ITEM MS_PER_ITEM
gflops() {
    awk -v f="$1" -v r="$2" 'BEGIN { if (f == "" || r == "" || f + 0 == 0 || r + 0 == 0) print "n/a";
                                     else printf "%.2f", f * r / 1e9 }'
}
gflops_ms() {
    awk -v f="$1" -v ms="$2" 'BEGIN { if (f == "" || ms == "" || f + 0 == 0 || ms + 0 == 0) print "n/a";
                                      else printf "%.2f", f / ms / 1e6 }'
}
share() {  # percent of the FMA peak; "!" above 100% (Winograd, or a disturbed measurement)
    awk -v g="$1" -v p="$peak" 'BEGIN { if (g == "n/a" || g == "" || p + 0 == 0) print "n/a";
                                        else printf "%.1f%%%s", 100 * g / p, (g > p ? "!" : "") }'
}
rate_row() {  # LABEL OURS_GFLOPS PEER_GFLOPS
    rates+=("$(printf '%-58s %10s %8s %10s %8s' "$1" "$2" "$(share "$2")" "$3" "$(share "$3")")")
}
# flops_of KEY PRESET CxHxW [flops options]: one figure of bench/flops.c, per image.
flops_of() {
    local key=$1 preset=$2 input=$3; shift 3
    { "$BUILD/bench/flops" --model "$preset" --input "$input" "$@" || true; } | tee -a "$log" \
        | value "$key"
}

echo "== FMA peak, $threads threads" | tee -a "$log"
peak_opts=(); [ "${BENCH_QUICK:-0}" = 1 ] && peak_opts=(--seconds 0.05 --trials 2)
"$BUILD/bench/fma_peak" --threads "$threads" "${peak_opts[@]}" | tee "$out/fma_peak.txt" | tee -a "$log"
peak_line=$(grep -E '^fma peak ' "$out/fma_peak.txt" | tail -n 1)  # the $threads-thread one
peak=$(awk '{print $5}' <<<"$peak_line")

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
        step_flops=$(flops_of train_step_flops "$preset" 3x32x32 --survival none \
                     | awk -v b="$b" '{printf "%.3f", $1 * b}')
        rate_row "train step $preset batch $b (sdtrain, torch)" \
            "$(gflops_ms "$step_flops" "$sd_ms")" "$(gflops_ms "$step_flops" "$pt_ms")"
    done
done

echo "== stochastic vs constant depth: training time per epoch" | tee -a "$log"
deep=resnet110-cifar blocks=18
[ "${BENCH_QUICK:-0}" = 1 ] && deep=resnet20-cifar blocks=3
limit=${BENCH_EPOCH_IMAGES:-1024}
rounds=${BENCH_EPOCH_ROUNDS:-5}; [ "${BENCH_QUICK:-0}" = 1 ] && rounds=1
col() { tail -n 1 "$1" | cut -d, -f"$(head -1 "$1" | tr ',' '\n' | grep -n -x "$2" | cut -d: -f1)"; }
# A round runs four epochs back to back, A B B A (none linear linear none in odd rounds,
# linear none none linear in even ones); a rule's time in the round is the mean of its
# two epochs, and the row's ratio is the median over the rounds of each round's
# linear / none. On a shared machine the speed drifts within seconds: three rounds of
# one epoch per rule (2048 images) gave ratios of 0.558 to 1.083 in one run of this
# script (session 13), with the in-process ratio below at 0.71 to 0.73. The A B B A
# order cancels a drift that is linear over the round, and five rounds of half the
# images take about as long as three of the whole. Its seconds are each rule's median
# over the rounds; every epoch and every round's ratio go to the log.
# The peer: PyTorch's training step on the same network with the same gate rule
# (bench/torch_train_step.py: a closed block is its shortcut, no work), as many steps
# as the epoch has mini-batches, on synthetic 28x28x1 data, once per rule per round
# after the round's epochs (none first in odd rounds).
torch_steps=$(( limit / 32 > 0 ? limit / 32 : 1 ))
declare -A seconds_of torch_ms_of best_seconds best_dir
for round in $(seq "$rounds"); do
    order="none linear"; [ $((round % 2)) = 0 ] && order="linear none"
    first=${order% *} second=${order#* }
    declare -A epoch_sum=()
    for rule in $first $second $second $first; do
        epoch=$(( ${epoch_sum[$rule,n]:-0} + 1 ))
        dir=$out/epoch-$rule-$round-$epoch
        rm -rf "$dir"
        "$BIN/sdtrain" --dataset fashion-mnist --model "$deep" --survival "$rule" --p-last 0.5 \
            --epochs 1 --batch-size 32 --train-limit "$limit" --val-size 200 --test-limit 32 \
            --threads "$threads" --seed 1 --out "$dir" 2>&1 | tee -a "$log"
        seconds=$(col "$dir/log.csv" epoch_seconds)
        echo "epoch round $round, $rule epoch $epoch: $seconds s" | tee -a "$log"
        epoch_sum[$rule,n]=$epoch
        epoch_sum[$rule,s]=$(awk -v a="${epoch_sum[$rule,s]:-0}" -v b="$seconds" 'BEGIN { print a + b }')
        if [ -z "${best_seconds[$rule]:-}" ] ||
           awk -v a="$seconds" -v b="${best_seconds[$rule]}" 'BEGIN { exit !(a < b) }'; then
            best_seconds[$rule]=$seconds
            best_dir[$rule]=$dir  # the fastest epoch's log gives the rate row below
        fi
    done
    for rule in $order; do
        seconds_of[$rule,$round]=$(awk -v s="${epoch_sum[$rule,s]}" 'BEGIN { printf "%.3f", s / 2 }')
    done
    for rule in $order; do
        pt=$(/usr/bin/python3 bench/torch_train_step.py --blocks-per-stage "$blocks" --batch 32 \
             --steps "$torch_steps" --threads "$threads" --survival "$rule" --p-last 0.5 \
             --size 28 --channels 1 2>&1 | tee -a "$log")
        torch_ms_of[$rule,$round]=$(value ms/step <<<"$pt")
    done
    echo "epoch round $round: linear ${seconds_of[linear,$round]} s, none ${seconds_of[none,$round]} s" \
         "(means of two epochs), ratio $(ratio "${seconds_of[linear,$round]}" "${seconds_of[none,$round]}");" \
         "torch linear ${torch_ms_of[linear,$round]} ms, none ${torch_ms_of[none,$round]} ms" | tee -a "$log"
done
median() { tr ' ' '\n' | { grep -v '^n/a$' || true; } | { grep . || true; } | sort -g |
           awk '{ v[NR] = $1 } END { if (NR == 0) print "n/a";
                 else if (NR % 2) print v[(NR + 1) / 2]; else printf "%.3f", (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
# median_of ARRAY SIDE ROUNDS: the median over rounds 1..ROUNDS of ARRAY[SIDE,round];
# paired_ratio ARRAY A B ROUNDS: the median over the rounds of ARRAY[A,round] / ARRAY[B,round].
median_of() {
    local -n values=$1
    for r in $(seq "$3"); do printf '%s ' "${values[$2,$r]:-}"; done | median
}
paired_ratio() {
    local -n values=$1
    for r in $(seq "$4"); do printf '%s ' "$(ratio "${values[$2,$r]:-}" "${values[$3,$r]:-}")"; done | median
}
row "epoch time $deep linear p_L=0.5 vs none (s, $limit imgs, median of $rounds ABBA rounds)" \
    "$(median_of seconds_of linear "$rounds")" "$(median_of seconds_of none "$rounds")" \
    "$(paired_ratio seconds_of linear none "$rounds")"
row "torch step $deep linear p_L=0.5 vs none (ms, median of $rounds rounds)" \
    "$(median_of torch_ms_of linear "$rounds")" "$(median_of torch_ms_of none "$rounds")" \
    "$(paired_ratio torch_ms_of linear none "$rounds")"

# The same saving measured inside one process on each side, where the machine's drift
# cannot fake it: `pairs` pairs of windows of `pair_steps` training steps, one with the
# rule's gates and one with every block open, side by side (sdtrain
# --bench-versus-constant, torch_train_step.py --versus-constant), the median of the
# pairs' ratios. The expected ratio of the blocks' work is E[L~] / L (0.745 here).
pairs=${BENCH_PAIRS:-9} pair_steps=${BENCH_PAIR_STEPS:-8}
[ "${BENCH_QUICK:-0}" = 1 ] && pairs=3 pair_steps=3
echo "== stochastic vs constant depth: adjacent windows in one process ($pairs pairs)" | tee -a "$log"
step_ratio() { { grep -E '/ constant depth: ' || true; } | tail -n 1 | sed -E 's/.*constant depth: ([0-9.]+).*/\1/'; }
sd_pairs=$("$BIN/sdtrain" --dataset fashion-mnist --model "$deep" --survival linear --p-last 0.5 \
           --batch-size 32 --threads "$threads" --bench-steps "$pair_steps" --bench-repeats "$pairs" \
           --bench-versus-constant 2>&1 | tee -a "$log")
pt_pairs=$(/usr/bin/python3 bench/torch_train_step.py --blocks-per-stage "$blocks" --batch 32 \
           --steps "$pair_steps" --threads "$threads" --survival linear --p-last 0.5 --size 28 \
           --channels 1 --versus-constant "$pairs" 2>&1 | tee -a "$log")
row "train step $deep b32 linear p_L=0.5 / all open, one process" \
    "$(step_ratio <<<"$sd_pairs")" "$(step_ratio <<<"$pt_pairs")" "-"
# The linear run's count is the expectation over the gates (bench/flops.c).
rate_row "epoch $deep linear p_L=0.5, none (expected flops)" \
    "$(gflops "$(flops_of train_step_flops "$deep" 1x28x28 --survival linear --p-last 0.5)" \
              "$(col "${best_dir[linear]}/log.csv" images_per_s)")" \
    "$(gflops "$(flops_of train_step_flops "$deep" 1x28x28 --survival none)" \
              "$(col "${best_dir[none]}/log.csv" images_per_s)")"

if [ -x "$BIN/sdexport" ] && [ -x "$BIN/sdinfer" ] && [ -f bench/ort_infer.js ]; then
    echo "== CPU inference: sdinfer vs onnxruntime-node on the exported $deep" | tee -a "$log"
    "$BIN/sdexport" "${best_dir[linear]}/last.ckpt" -o "$out/model.onnx" 2>&1 | tee -a "$log"
    # Both sides alternate, `infer_rounds` times each (sdinfer first in odd rounds), and
    # the ratio is the median of the rounds' own ratios, as for the epochs: a single pair
    # of runs put the two in different phases of a shared machine (on a 2-core VM the
    # same sdinfer binary gave 186.8 to 298.2 images/s at batch 1 within minutes), so it
    # measured the machine more than the programs. The rates shown are each side's median.
    # Nine rounds: a run takes a few seconds, and the median of three rounds' ratios
    # moved by a third between runs of this script (1.08 to 1.38 at batch 1), that of
    # five still by a fifth (1.26 to 1.57 in session 13); two series of fourteen
    # back-to-back pairs of 400 images in session 14 ranged over 1.06 to 2.17.
    infer_rounds=${BENCH_INFER_ROUNDS:-9}; [ "${BENCH_QUICK:-0}" = 1 ] && infer_rounds=1
    declare -A ips_of
    for b in 1 256; do
        # Batch 1: 500 images (about a second): 50 were too few for a steady rate.
        n=$(( b == 1 ? 500 : 3 ))
        for round in $(seq "$infer_rounds"); do
            sides="sd ort"; [ $((round % 2)) = 0 ] && sides="ort sd"
            for side in $sides; do
                if [ "$side" = sd ]; then
                    result=$("$BIN/sdinfer" "$out/model.onnx" --dataset fashion-mnist --batch-size "$b" \
                             --bench "$n" --device cpu --threads "$threads" 2>&1 | tee -a "$log")
                else
                    result=$(node bench/ort_infer.js "$out/model.onnx" "$b" "$n" "$threads" 2>&1 | tee -a "$log")
                fi
                ips_of[$side,$round]=$(value images/s <<<"$result")
            done
            echo "inference batch $b round $round: sdinfer ${ips_of[sd,$round]}, onnxruntime" \
                 "${ips_of[ort,$round]} images/s" | tee -a "$log"
        done
        sd_ips=$(median_of ips_of sd "$infer_rounds")
        ort_ips=$(median_of ips_of ort "$infer_rounds")
        row "inference $deep batch $b (sdinfer vs ort images/s, median of $infer_rounds)" \
            "$sd_ips" "$ort_ips" "$(paired_ratio ips_of sd ort "$infer_rounds")"
        image_flops=$(flops_of inference_forward_flops "$deep" 1x28x28)
        rate_row "inference $deep batch $b (sdinfer, ort)" \
            "$(gflops "$image_flops" "$sd_ips")" "$(gflops "$image_flops" "$ort_ips")"
    done
fi

{
    printf '%-58s %12s %12s %8s\n' "comparison (ratio > 1: ours faster; epoch, torch step: stochastic/constant)" "ours" "peer" "ratio"
    printf '%s\n' "${table[@]}"
    echo
    echo "effective GFLOP/s: 2 * the direct convolutions' + fully connected multiply-adds (bench/flops.c) / time;"
    echo "%peak: of the $peak_line (bench/fma_peak.c)"
    printf '%-58s %10s %8s %10s %8s\n' "same rows (ours, peer)" "ours GF/s" "%peak" "peer GF/s" "%peak"
    printf '%s\n' "${rates[@]}"
    if printf '%s\n' "${rates[@]}" | grep -q '%!'; then
        echo "!: above the measured peak: an algorithm that multiplies less than the direct convolution counted here (Winograd), or a disturbed measurement (a busy machine)"
    fi
} | tee "$out/table.txt"

if [ "${BENCH_CONV:-1}" != 0 ]; then
    echo
    BENCH_PEAK_FILE=$out/fma_peak.txt bench/conv_shapes.sh 2>&1 | tee -a "$log"
fi
