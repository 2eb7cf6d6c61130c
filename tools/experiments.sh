#!/usr/bin/env bash
# The CPU reproduction experiments behind RESULTS.md, exactly as they were run.
# Fashion-MNIST only (the one real data set reachable on the build machine);
# every run is sequential, 2 threads, niced, so it can share a 2-core machine.
#
#   tools/experiments.sh [exp1|sweep|timing|reference|stages|plots|bench|all]    (default: all)
#
# SD_BIN   directory holding sdtrain (default bin). RESULTS.md was made with a frozen
#          copy of the programs built at one commit (runs/exp/bin), so that other
#          people's rebuilds of bin/ during the hour of runs could not change them
#          (SD_BIN=runs/exp/bin; the bench phase ran with runs/exp/bin-bench, a later
#          commit, see RESULTS.md).
# THREADS  CPU threads for sdtrain (default 2)
# A run whose log.csv already has all its epochs is not run again (so the script can
# be restarted after an interruption); delete runs/exp/NAME to redo one.
# Each finished run's log.csv and console output are copied to results/NAME/.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${SD_BIN:-bin}
THREADS=${THREADS:-2}
RUNS=runs/exp
export OMP_WAIT_POLICY=passive   # libgomp's spinning wastes the cores when they are shared
mkdir -p "$RUNS" results

# Busy CPU seconds of the whole machine so far (all cores; /proc/stat is in 1/100 s).
busy_seconds() {
    awk '$1 == "cpu" { print ($2 + $3 + $4 + $7 + $8 + $9) / 100; exit }' /proc/stat
}

# run NAME EPOCHS ARGS...: one sdtrain run into runs/exp/NAME, copied to results/NAME.
run() {
    local name=$1 epochs=$2; shift 2
    local dir=$RUNS/$name
    if [ -f "$dir/log.csv" ] && [ "$(($(wc -l < "$dir/log.csv") - 1))" -ge "$epochs" ]; then
        echo "== $name: already complete, skipped"
    else
        rm -rf "$dir"
        echo "== $name: $BIN/sdtrain $* --epochs $epochs --out $dir"
        echo "   start $(date -u +%H:%M:%S) load $(cut -d' ' -f1-3 /proc/loadavg)"
        local busy_before; busy_before=$(busy_seconds)
        /usr/bin/time -f "sdtrain cpu seconds %U user %S system, %e wall" -o "$dir.time" \
            nice -n 10 "$BIN/sdtrain" --dataset fashion-mnist --threads "$THREADS" --seed 1 \
            --epochs "$epochs" --out "$dir" "$@" > "$dir.console" 2>&1 \
            || { cat "$dir.console" >&2; echo "== $name: sdtrain failed" >&2; exit 1; }
        local busy_after; busy_after=$(busy_seconds)
        # What the other users' processes took from the 2 cores meanwhile: all busy CPU
        # time on the machine minus sdtrain's own, per second of wall time (in cores).
        awk -v before="$busy_before" -v after="$busy_after" '
            { user = $4; sys = $6; wall = $8 }
            END { printf "%s\nother processes: %.2f cores busy on average during the run\n",
                  $0, (after - before - user - sys) / wall }' "$dir.time" >> "$dir.console"
        rm -f "$dir.time"
        mv "$dir.console" "$dir/console.txt"
        echo "   end   $(date -u +%H:%M:%S) load $(cut -d' ' -f1-3 /proc/loadavg)"
        tail -n 4 "$dir/console.txt"
    fi
    mkdir -p "results/$name"
    cp "$dir/log.csv" "$dir/console.txt" "results/$name/"
}

# Experiment 1 (Tables 1-2, Fig. 3, Fig. 7 in miniature): the deepest net and longest
# schedule that fit the session on 2 shared cores: ResNet-56, 10000 training images,
# 6 epochs, rate 0.1 divided by 10 after epochs 3 and 5 (50% / 75% of the schedule,
# rounded up), batch 128, 5000 validation images, the full 10000-image test set.
exp1() {
    local common=(--model resnet56-cifar --train-limit 10000 --val-size 5000 --batch-size 128
                  --lr 0.1 --lr-steps 3,5 --log-grad-magnitude)
    run r56-none 6 "${common[@]}" --survival none
    run r56-linear-0.5 6 "${common[@]}" --survival linear --p-last 0.5
}

# Experiment 2 (Fig. 8 left in miniature): p_L sweep on ResNet-20, linear and uniform;
# p_L = 1.0 is the constant-depth network for both rules, so it is run once.
sweep() {
    local common=(--model resnet20-cifar --train-limit 10000 --val-size 5000 --batch-size 128
                  --lr 0.1 --lr-steps 2,3)
    run r20-none 4 "${common[@]}" --survival none
    for p in 0.2 0.5 0.8; do
        run "r20-linear-$p" 4 "${common[@]}" --survival linear --p-last "$p"
        run "r20-uniform-$p" 4 "${common[@]}" --survival uniform --p-last "$p"
    done
}

# Training-time ratio with less noise from the shared cores: short runs of the same
# ResNet-56, constant and stochastic depth alternating (A B A B), so that a change
# in the other users' load hits both rules alike. Small evaluation sets: only the
# training seconds (log.csv epoch_seconds) are used from these runs.
timing() {
    local common=(--model resnet56-cifar --train-limit 2560 --val-size 500 --test-limit 500
                  --batch-size 128 --lr 0.1 --lr-steps 3,5)
    for rep in 1 2; do
        run "time-r56-none-$rep" 1 "${common[@]}" --survival none
        run "time-r56-linear-0.5-$rep" 1 "${common[@]}" --survival linear --p-last 0.5
    done
}

# An independent check of what the same ResNet-20 and schedule reach: PyTorch
# (Debian's python3-torch), constant depth, same sizes and hyper-parameters as r20-none.
reference() {
    nice -n 10 /usr/bin/python3 results/torch_reference.py --blocks-per-stage 3 --epochs 4 \
        --lr-steps 2,3 --train-limit 10000 --val-size 5000 --survival none --threads "$THREADS" \
        --csv results/torch-r20-none.csv | tee results/torch-r20-none.txt
}

# Where a ResNet-56 training step spends its time, stage by stage (to explain the
# time ratio): --bench-steps on presets with 1 block per stage, and with 9 blocks in
# one stage; 8 blocks of that stage cost (stageN - base). Synthetic 28x28x1 batches.
stages() {
    : > results/stage-cost.txt
    for rep in 1 2; do
        for v in base stage1 stage2 stage3; do
            nice -n 10 "$BIN/sdtrain" --bench-steps 5 --model "results/presets/r56-$v.txt" \
                --dataset fashion-mnist --batch-size 128 --threads "$THREADS" --survival none \
                | tee -a results/stage-cost.txt
        done
    done
}

plots() {
    COLUMN=grad_magnitude PLOT_OUT=results/fig7 tools/plot.sh results/r56-none results/r56-linear-0.5
    PLOT_OUT=results/fig3 tools/plot.sh results/r56-none results/r56-linear-0.5
    PLOT_OUT=results/fig8-linear tools/plot.sh results/r20-none results/r20-linear-0.2 \
        results/r20-linear-0.5 results/r20-linear-0.8
    PLOT_OUT=results/fig8-uniform tools/plot.sh results/r20-none results/r20-uniform-0.2 \
        results/r20-uniform-0.5 results/r20-uniform-0.8
}

bench() {
    # `make bench` (it also rebuilds bin/); SD_BIN makes bench/run.sh time the same binaries.
    SD_BIN=$BIN BENCH_THREADS=$THREADS BENCH_STEPS=${BENCH_STEPS:-5} nice -n 10 \
        make --no-print-directory bench
    cp runs/bench/table.txt results/bench-table.txt
}

case ${1:-all} in
    exp1) exp1 ;;
    sweep) sweep ;;
    timing) timing ;;
    reference) reference ;;
    stages) stages ;;
    plots) plots ;;
    bench) bench ;;
    all) exp1; sweep; timing; reference; stages; plots; bench ;;
    *) echo "usage: tools/experiments.sh [exp1|sweep|timing|reference|stages|plots|bench|all]" >&2; exit 2 ;;
esac
