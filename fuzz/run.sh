#!/usr/bin/env bash
# Runs the libFuzzer programs one after the other (one process at a time: shared
# cores) and prints one line per harness: executions, coverage, result.
#   fuzz/run.sh BIN_DIR SECONDS NAME...     each NAME for SECONDS (make fuzz FUZZ_SECONDS=N)
#   FUZZ_RUNS=N fuzz/run.sh BIN_DIR 0 NAME...   each NAME for N executions (the campaign)
# Corpora: what a run finds goes to build-fuzz/corpus/NAME/ (git-ignored); the
# committed seeds (fuzz/corpus/NAME/) and regression inputs (fuzz/regressions/NAME/)
# are read, never written. A crash leaves its input in build-fuzz/artifacts/NAME/:
# fix it, then keep the input in fuzz/regressions/NAME/ (with a .expect file).
# Memory: -rss_limit_mb=2048 bounds the process, -malloc_limit_mb=512 any single
# allocation (the harnesses let one input use at most 256 MiB: fuzz/fuzz.h).
set -u
cd "$(dirname "$0")/.."
bin_dir=$1 seconds=$2
shift 2
work=build-fuzz
# The harnesses write each input to a scratch file: keep those in memory when possible.
if [ -z "${TMPDIR:-}" ] && [ -d /dev/shm ] && [ -w /dev/shm ]; then export TMPDIR=/dev/shm; fi
export OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1 OMP_WAIT_POLICY=passive
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
failed=0
for name in "$@"; do
    mkdir -p "$work/corpus/$name" "$work/artifacts/$name" "$work/logs"
    log="$work/logs/$name.log"
    limit=(-max_total_time="$seconds")
    if [ -n "${FUZZ_RUNS:-}" ]; then limit=(-runs="$FUZZ_RUNS"); fi
    dirs=("$work/corpus/$name" "fuzz/corpus/$name")
    [ -d "fuzz/regressions/$name" ] && dirs+=("fuzz/regressions/$name")
    start=$SECONDS
    "$bin_dir/fuzz_$name" "${limit[@]}" -rss_limit_mb=2048 -malloc_limit_mb=512 -timeout=30 \
        -print_final_stats=1 -artifact_prefix="$work/artifacts/$name/" "${dirs[@]}" >"$log" 2>&1
    rc=$?
    # libFuzzer's last status line: "#RUNS DONE cov: EDGES ft: FEATURES corp: ..."
    status=$(grep -E '^#[0-9]+' "$log" | tail -n 1)
    runs=$(sed -nE 's/^stat::number_of_executed_units: *([0-9]+).*/\1/p' "$log" | tail -n 1)
    cov=$(sed -nE 's/.* cov: ([0-9]+) .*/\1/p' <<<"$status")
    ft=$(sed -nE 's/.* ft: ([0-9]+) .*/\1/p' <<<"$status")
    result=ok
    if [ "$rc" -ne 0 ]; then
        result="FAILED (exit $rc, see $log and $work/artifacts/$name/)"
        failed=1
    fi
    printf 'fuzz %-12s %9s runs  cov %5s  ft %6s  %5ds  %s\n' "$name" "${runs:-?}" "${cov:-?}" \
        "${ft:-?}" $((SECONDS - start)) "$result"
done
exit "$failed"
