#!/usr/bin/env bash
# A short real reproduction of the paper's claim on the GPU: ResNet-110 on
# Fashion-MNIST, constant depth vs stochastic depth (linear decay to p_L = 0.5),
# the same epochs, seed and schedule; prints both test errors at the epoch of
# lowest validation error and the ratio of training time per epoch. Never part of
# `make test` (its dry run is: bench/gpu_run.sh with GPU_DRY_RUN=1).
#
# Sizing: TRAIN_LIMIT training images per epoch (default 20000; VAL_SIZE 5000 held
# out; the whole 10000-image test set). EPOCHS, when not given, is chosen so that
# both runs fit BUDGET_S seconds (default 150) at IPS_HINT training images/s (the
# constant-depth figure of the training benchmark on 3x32x32 input, which costs
# more per image than 1x28x28): each run gets 40% of the budget, an epoch costs
# TRAIN_LIMIT / IPS_HINT plus its evaluation (VAL_SIZE + test images at a third
# of that cost), and EPOCHS is clamped to 1..30. Without IPS_HINT: 3 epochs.
# The learning rate 0.1 is divided by 10 at 50% and 75% of the epochs (from 4).
#
# Environment: SD_BIN (default build-cuda/bin), MODEL (default resnet110-cifar),
# DEVICE (cuda; cpu = dry run), DATA (default: sdtrain's, Debian's
# /usr/share/datasets/fashion-mnist), BATCH (128), TEST_LIMIT (0 = all 10000),
# BENCH_WORK (scratch, default runs/gpu-bench). One "summary:" line comes last.
set -uo pipefail
cd "$(dirname "$0")/.."
BIN=${SD_BIN:-build-cuda/bin}
MODEL=${MODEL:-resnet110-cifar}
DEVICE=${DEVICE:-cuda}
BATCH=${BATCH:-128}
TRAIN_LIMIT=${TRAIN_LIMIT:-20000}
VAL_SIZE=${VAL_SIZE:-5000}
TEST_LIMIT=${TEST_LIMIT:-0}
BUDGET_S=${BUDGET_S:-150}
work=${BENCH_WORK:-runs/gpu-bench}/repro
mkdir -p "$work"

test_images=$TEST_LIMIT
[ "$test_images" -gt 0 ] || test_images=10000
if [ -z "${EPOCHS:-}" ]; then
    EPOCHS=$(awk -v budget="$BUDGET_S" -v ips="${IPS_HINT:-}" -v train="$TRAIN_LIMIT" \
        -v evals="$((VAL_SIZE + test_images))" 'BEGIN {
            if (ips == "" || ips == "n/a" || ips + 0 <= 0) { print 3; exit }
            epoch = train / ips + evals / (3 * ips)
            e = int(0.4 * budget / epoch)
            print (e < 1 ? 1 : (e > 30 ? 30 : e)) }')
fi
steps=""
[ "$EPOCHS" -ge 4 ] && steps="--lr-steps $((EPOCHS / 2)),$((EPOCHS * 3 / 4))"
data_args=()
[ -n "${DATA:-}" ] && data_args=(--data "$DATA")
test_args=()
[ "$TEST_LIMIT" -gt 0 ] && test_args=(--test-limit "$TEST_LIMIT")
echo "reproduction: $MODEL on Fashion-MNIST, $EPOCHS epochs of $TRAIN_LIMIT images" \
    "(IPS_HINT ${IPS_HINT:-none}, budget ${BUDGET_S}s), batch $BATCH, device $DEVICE" >&2

declare -A best_line test_error epoch_s
failures=0
for rule in none linear; do
    out=$work/$rule
    rm -rf "$out"
    # shellcheck disable=SC2086
    "$BIN/sdtrain" --dataset fashion-mnist "${data_args[@]}" --model "$MODEL" --device "$DEVICE" \
        --survival "$rule" --p-last 0.5 --epochs "$EPOCHS" $steps --batch-size "$BATCH" \
        --train-limit "$TRAIN_LIMIT" --val-size "$VAL_SIZE" "${test_args[@]}" --seed 1 \
        --out "$out" >"$work/$rule.out" 2>&1
    rc=$?
    cat "$work/$rule.out" >&2
    [ "$rc" -eq 0 ] || { echo "gpu_repro: sdtrain --survival $rule exited with $rc" >&2; failures=$((failures + 1)); }
    best_line[$rule]=$(grep -E '^best validation error' "$work/$rule.out" | tail -n 1)
    test_error[$rule]=$(sed -nE 's/.*: test error ([0-9.]+%)$/\1/p' <<<"${best_line[$rule]}")
    test_error[$rule]=${test_error[$rule]:-n/a}
    # Mean training seconds per epoch from log.csv, leaving out epoch 1 (cuDNN's
    # algorithm search, first-touch allocations) when there are later ones.
    epoch_s[$rule]=$(awk -F, 'NR == 1 { for (i = 1; i <= NF; i++) if ($i == "epoch_seconds") c = i; next }
        c { t[NR - 1] = $c; n = NR - 1 }
        END { if (!n) { print "n/a"; exit } s = 0; k = 0
              for (i = (n > 1 ? 2 : 1); i <= n; i++) { s += t[i]; k++ }
              printf "%.3f", s / k }' "$out/log.csv" 2>/dev/null)
    epoch_s[$rule]=${epoch_s[$rule]:-n/a}
done
ratio=$(awk -v a="${epoch_s[linear]}" -v b="${epoch_s[none]}" 'BEGIN { if (a == "n/a" || b == "n/a" || b + 0 == 0) print "n/a"; else printf "%.3f", a / b }')
echo
echo "Reproduction: $MODEL, Fashion-MNIST, $EPOCHS epochs of $TRAIN_LIMIT images, device $DEVICE"
printf '%-28s %s\n' "constant depth:" "${best_line[none]:-n/a}; ${epoch_s[none]} s/epoch"
printf '%-28s %s\n' "stochastic (linear 0.5):" "${best_line[linear]:-n/a}; ${epoch_s[linear]} s/epoch"
echo "training time per epoch, stochastic / constant: $ratio (the paper: about 0.75)"
echo "summary: $EPOCHS epochs x $TRAIN_LIMIT images: test error at best validation constant" \
    "${test_error[none]} vs stochastic ${test_error[linear]}; epoch time stochastic/constant $ratio"
[ "$failures" -eq 0 ]
