#!/usr/bin/env bash
# The GPU run's scripts, tested before they meet a GPU: bench/gpu_run.sh with
# GPU_DRY_RUN=1 runs every phase on the CPU build at tiny sizes and must write the
# same summary it writes on a GPU; a phase that fails, overruns its cap or finds
# no time left must show as such while the others still run; and the training
# benchmark must never turn a failed sdtrain into a figure.
set -u
cd "$(dirname "$0")/.."
if [ "${SD_TEST_SANITIZED:-0}" = 1 ]; then
    # Its subject is the shell scripts; the programs they start have their own tests here.
    echo "t_gpu_dry_run: SKIP (sanitizer build: the GPU scripts are tested in the plain build)"
    echo "t_gpu_dry_run: 0 passed, 0 failed, 1 skipped"
    exit 0
fi
BIN=${SD_BIN:-$PWD/bin}
BUILD=${SD_BUILD:-$PWD/build}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
passed=0 failed=0
expect() {  # expect "what" test-expression...
    local what=$1; shift
    if "$@"; then passed=$((passed + 1)); else
        failed=$((failed + 1)); echo "FAIL: $what"; sed 's/^/    /' "$tmp/err" 2>/dev/null | tail -n 15; fi
}
row() { awk -v p="$2" '$1 == p' "$1/summary.txt"; }
status_of() { row "$1" "$2" | awk '{print $2}'; }
dry() { GPU_DRY_RUN=1 SD_BIN="$BIN" SD_BUILD="$BUILD" GPU_WORK="$tmp/work" "$@"; }

# ---- the whole run --------------------------------------------------------------------
dry bench/gpu_run.sh all "$tmp/all" >"$tmp/out" 2>"$tmp/err"
rc=$?
expect "all phases: exit status $rc, want 0" [ "$rc" -eq 0 ]
expect "summary printed last" bash -c "tail -n 7 '$tmp/out' | awk '{print \$1}' | paste -sd' ' - | grep -qx 'parity onnx_cuda conformance dist train infer repro'"
expect "summary.txt says it is a dry run" grep -q 'DRY RUN on the CPU' "$tmp/all/summary.txt"
for p in parity onnx_cuda dist; do
    expect "$p: skip without a GPU" [ "$(status_of "$tmp/all" $p)" = skip ]
done
for p in conformance train infer repro; do
    expect "$p: pass ($(row "$tmp/all" $p))" [ "$(status_of "$tmp/all" $p)" = pass ]
done
expect "conformance figure is its count line" bash -c "row() { awk -v p=\"\$2\" '\$1 == p' \"\$1/summary.txt\"; }; row '$tmp/all' conformance | grep -Eq '[1-9][0-9]* passed, 0 failed'"
expect "train figure has sdtrain's images/s" grep -Eq '^train .*sdtrain img/s constant [0-9.]+ stochastic [0-9.]+' "$tmp/all/summary.txt"
expect "train figure has the E[L~]/L bound" grep -Eq '^train .*\(bound 0\.667\)' "$tmp/all/summary.txt"
expect "infer: sdinfer's logits matched onnxruntime's" grep -Eq '^infer .*parity pass; b1 img/s sdinfer [0-9.]+' "$tmp/all/summary.txt"
expect "repro: both test errors and the time ratio" grep -Eq '^repro .*constant [0-9.]+% vs stochastic [0-9.]+%; epoch time stochastic/constant [0-9.]+$' "$tmp/all/summary.txt"
files=$(ls "$tmp/all" | paste -sd' ' -)
expect "only the logs and the summary in DIR (<= 8 files for the device tool): $files" \
    [ "$files" = "conformance.log dist.log infer.log onnx_cuda.log parity.log repro.log summary.txt train.log" ]

# ---- a failing phase, an overrun, no time left ----------------------------------------------
GPU_BREAK_PHASE=parity dry bench/gpu_run.sh "parity conformance" "$tmp/broken" >"$tmp/out" 2>"$tmp/err"
rc=$?
expect "broken phase: exit status $rc, want 1" [ "$rc" -eq 1 ]
expect "broken phase shows FAIL with its exit status" bash -c "grep -Eq '^parity +FAIL .*exit 3; broken on purpose' '$tmp/broken/summary.txt'"
expect "the phase after it still ran and passed" [ "$(status_of "$tmp/broken" conformance)" = pass ]

# The phase hangs after its work (GPU_STALL_PHASE): it overruns the cap on any machine.
GPU_STALL_PHASE=train GPU_CAP_train=3 dry bench/gpu_run.sh "train conformance" "$tmp/slow" >"$tmp/out" 2>"$tmp/err"
rc=$?
expect "overrun: exit status $rc, want 1" [ "$rc" -eq 1 ]
expect "overrun shows TIMEOUT after its cap" grep -Eq '^train +TIMEOUT +[0-9]+s +stopped after 3s' "$tmp/slow/summary.txt"
expect "the phase after the overrun still ran" [ "$(status_of "$tmp/slow" conformance)" = pass ]
# (the bracket keeps this pattern from matching the shell that runs pgrep)
expect "no process of the stopped phase is left" bash -c "! pgrep -f '[s]dtrain .*$tmp/work' >/dev/null"
expect "the stalled phase's child was stopped with it" bash -c "! pgrep -f '[s]leep 86399' >/dev/null"

GPU_BUDGET_S=4 dry bench/gpu_run.sh "conformance repro" "$tmp/budget" >"$tmp/out" 2>"$tmp/err"
rc=$?
expect "no time left: exit status $rc, want 1" [ "$rc" -eq 1 ]
expect "no time left: the phases say not-run" bash -c "[ \$(grep -Ec '^(conformance|repro) +not-run +0s +no time left in the 4s budget' '$tmp/budget/summary.txt') -eq 2 ]"

dry bench/gpu_run.sh nonsense "$tmp/x" >"$tmp/out" 2>"$tmp/err"
rc=$?
expect "unknown phase: exit status $rc, want 2" [ "$rc" -eq 2 ]
expect "unknown phase: usage names the phases" grep -q 'phases: parity onnx_cuda conformance dist train infer repro' "$tmp/err"

# ---- a failed sdtrain is never a figure ------------------------------------------------------
# A stand-in sdtrain that prints a huge images/s (what a failed device used to give)
# and exits 1: the table must say n/a and the script must fail.
mkdir -p "$tmp/fake"
printf '#!/bin/sh\necho "images/s: 999999.0"\nexit 1\n' >"$tmp/fake/sdtrain"
chmod +x "$tmp/fake/sdtrain"
SD_BIN="$tmp/fake" DEVICE=cpu SKIP_TORCH=1 SKIP_EPOCH=1 MODEL=resnet20-cifar BENCH_WORK="$tmp/fakework" \
    bash bench/gpu_train_bench.sh >"$tmp/out" 2>"$tmp/err"
rc=$?
expect "failed sdtrain: exit status $rc, want 1" [ "$rc" -eq 1 ]
expect "failed sdtrain: no 999999 in the table" bash -c "! grep -q 999999 '$tmp/out'"
expect "failed sdtrain: the rows say n/a" grep -Eq '^constant depth \(survival none\) +n/a' "$tmp/out"

echo "t_gpu_dry_run: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
