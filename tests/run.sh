#!/usr/bin/env bash
# Runs every compiled test program in $BUILD/tests and every tests/t_*.sh script,
# then prints one closing line "N passed, N failed" summed over all of them.
# A program that exits non-zero without a summary line counts as one failure.
set -u
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
export SD_BIN="$PWD/$BUILD/bin" SD_BUILD="$PWD/$BUILD"
# Threads that wait sleep instead of spinning: on a machine whose cores are shared
# (CI runners, a developer's laptop) libgomp's spinning can make a test 20x slower.
export OMP_WAIT_POLICY=${OMP_WAIT_POLICY:-passive}
total_pass=0 total_fail=0
run_one() {
    local name=$1; shift
    local log; log=$(mktemp)
    local start=$SECONDS
    "$@" >"$log" 2>&1
    local rc=$?
    local line; line=$(grep -E '[0-9]+ passed, [0-9]+ failed' "$log" | tail -n 1)
    local p f
    p=$(sed -nE 's/(.*[^0-9])?([0-9]+) passed, ([0-9]+) failed.*/\2/p' <<<"$line")
    f=$(sed -nE 's/(.*[^0-9])?([0-9]+) passed, ([0-9]+) failed.*/\3/p' <<<"$line")
    p=${p:-0}; f=${f:-0}
    if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then f=1; fi
    if [ "$f" -ne 0 ]; then
        echo "---- $name (exit $rc) ----"; cat "$log"; echo "----"
    fi
    printf '%-40s %4d passed %3d failed  %3ds\n' "$name" "$p" "$f" $((SECONDS - start))
    total_pass=$((total_pass + p)); total_fail=$((total_fail + f))
    rm -f "$log"
}
for t in "$BUILD"/tests/test_* "$BUILD"/tests/gradcheck_*; do
    [ -x "$t" ] && [ -f "$t" ] && case "$t" in *.o|*.d) ;; *) run_one "$(basename "$t")" "$t";; esac
done
for s in tests/t_*.sh; do
    [ -f "$s" ] && run_one "$(basename "$s")" bash "$s"
done
echo "tests: $total_pass passed, $total_fail failed"
[ "$total_fail" -eq 0 ] && [ "$total_pass" -gt 0 ]
