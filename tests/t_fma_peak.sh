#!/usr/bin/env bash
# bench/fma_peak.c, the peak make bench divides by: every kernel this CPU can run must
# compute bit for bit what a scalar loop of the same arithmetic computes (so it does
# the multiply-adds it counts), the output has the lines bench/run.sh reads, and bad
# options are refused. No figure is judged: timings are never tested.
set -u
cd "$(dirname "$0")/.."
PEAK=${SD_BUILD:-build}/bench/fma_peak
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
passed=0 failed=0
pass() { passed=$((passed + 1)); }
fail() { failed=$((failed + 1)); echo "FAIL: $1"; sed 's/^/    /' "$tmp/out" | tail -n 20; }
run() { "$PEAK" "$@" >"$tmp/out" 2>&1; rc=$?; }
refuse() {
    [ "$rc" -eq "$2" ] && [ "$(head -n 1 "$tmp/out")" = "$3" ] && pass ||
        fail "$1: want exit $2 and '$3', got exit $rc"
}

run --check
[ "$rc" -eq 0 ] && pass || fail "--check: exit $rc"
ok=$(grep -cE '^check [a-z0-9]+: ok \([0-9]+ chains x [0-9]+ lanes, (fused multiply-add|multiply then add)\)$' "$tmp/out")
[ "$ok" -ge 1 ] && pass || fail "--check: no kernel checked"
grep -q 'FAILED' "$tmp/out" && fail "--check: a kernel differs from the reference" || pass
if grep -qw avx512f /proc/cpuinfo 2>/dev/null; then
    grep -q '^check avx512: ok' "$tmp/out" && pass || fail "--check: this CPU has AVX-512F"
fi

# A very short run: the line format only (the figure is whatever a busy machine gives).
run --threads 2 --seconds 0.001 --trials 1
[ "$rc" -eq 0 ] && pass || fail "short run: exit $rc"
isa='(avx512|avx2|sse2, multiply \+ add|portable)'
grep -qE "^fma peak 1 thread: [0-9]+\.[0-9] GFLOP/s \($isa\)$" "$tmp/out" && pass ||
    fail "short run: no 1-thread line"
grep -qE "^fma peak 2 threads: [0-9]+\.[0-9] GFLOP/s \($isa\)$" "$tmp/out" && pass ||
    fail "short run: no 2-thread line"
[ "$(grep -c '^fma peak' "$tmp/out")" -eq 2 ] && pass || fail "short run: want two peak lines"
run --threads 1 --seconds 0.001 --trials 1
[ "$(grep -c '^fma peak' "$tmp/out")" -eq 1 ] && pass || fail "one thread: want one peak line"

run --isa bogus
case $(uname -m) in
    x86_64|i?86) want="fma_peak: unknown --isa 'bogus' (auto, avx512, avx2, sse2)" ;;
    *) want="fma_peak: unknown --isa 'bogus' (auto, portable)" ;;
esac
refuse "--isa bogus" 2 "$want"
run --threads 0
refuse "--threads 0" 2 "fma_peak: bad value '0' for --threads"
run --seconds -1
refuse "--seconds -1" 2 "fma_peak: bad value '-1' for --seconds"
run --trials
refuse "--trials without a value" 2 "fma_peak: unknown option or missing value: --trials"

echo "t_fma_peak: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
