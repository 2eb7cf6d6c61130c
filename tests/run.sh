#!/usr/bin/env bash
# Runs every compiled test program in $BUILD/tests and every tests/t_*.sh script
# (or only the programs and scripts named as arguments), then prints one closing
# line "tests: N passed, N failed, N skipped" summed over all of them.
#
# The protocol between a test program and this runner:
#   - the program's LAST line matching "N passed, N failed" or
#     "N passed, N failed, N skipped" is its count (tests/harness.h prints the
#     first form, test_skip_all() the second);
#   - a program that exits non-zero counts at least one failure, whatever it printed
#     (a crash, a signal, a traceback);
#   - a program that runs no check at all (no count line, or 0 passed, 0 failed,
#     0 skipped) counts as one failure: a test that asserts nothing is broken;
#   - a program still running after SD_TEST_TIMEOUT seconds (default 600; 1800 for
#     a sanitiser build, BUILD=build-san...) is killed (with every process it
#     started) and counts as one failure, named in a message.
# SD_TEST_JOBS tests run at a time (default: the number of cores): most of them
# wait on process start-up, Python and Node imports or one thread, so two lanes on
# two cores finish the suite in about half the time. Each test writes to its own
# temporary directory; a test's lines are printed whole when it ends, in the order
# the tests end. SD_TEST_JOBS=1 runs them one by one, in order.
set -u
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
# ASan + UBSan builds run several times slower: they get three times as long.
case $BUILD in *san*) TIMEOUT=${SD_TEST_TIMEOUT:-1800};; *) TIMEOUT=${SD_TEST_TIMEOUT:-600};; esac
# Under the sanitizers the longest end-to-end scripts run a subset of their repetitions
# (the same code paths, fewer opsets / thread counts: what ASan and UBSan look at);
# each says so. The full matrices run in the plain build.
case $BUILD in *san*) export SD_TEST_SANITIZED=1;; esac
export SD_BIN="$PWD/$BUILD/bin" SD_BUILD="$PWD/$BUILD"
# Threads that wait sleep instead of spinning: on a machine whose cores are shared
# (CI runners, a developer's laptop) libgomp's spinning can make a test 20x slower.
export OMP_WAIT_POLICY=${OMP_WAIT_POLICY:-passive}
JOBS=${SD_TEST_JOBS:-$(nproc 2>/dev/null || echo 1)}
[[ $JOBS =~ ^[1-9][0-9]*$ ]] || { echo "tests/run.sh: SD_TEST_JOBS must be a positive integer, not '$JOBS'" >&2; exit 2; }
results=$(mktemp -d)
trap 'rm -rf "$results"' EXIT
total_pass=0 total_fail=0 total_skip=0
count_re='([0-9]+) passed, ([0-9]+) failed(, ([0-9]+) skipped)?'

# Runs one test and writes what it has to say to $results/ID.out and its three
# counts to $results/ID.counts; prints nothing itself (it may run in parallel).
run_one() {
    local id=$1 name=$2; shift 2
    local log="$results/$id.log" out="$results/$id.out"
    local start=$SECONDS
    # timeout signals the whole process group it leads: a script's children die too.
    timeout -k 10 "$TIMEOUT" "$@" >"$log" 2>&1 </dev/null
    local rc=$?
    local line; line=$(grep -E "$count_re" "$log" | tail -n 1)
    local p=0 f=0 s=0 why=""
    if [[ $line =~ $count_re ]]; then
        p=${BASH_REMATCH[1]} f=${BASH_REMATCH[2]} s=${BASH_REMATCH[4]:-0}
    fi
    local took=$((SECONDS - start))
    if [ "$rc" -eq 124 ] || { [ "$rc" -eq 137 ] && [ "$took" -ge "$TIMEOUT" ]; }; then
        why="TIMEOUT: $name still ran after ${TIMEOUT}s (SD_TEST_TIMEOUT) and was killed"
        f=$((f + 1))
    elif [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then
        why="$name exited with status $rc but reported no failure"
        f=1
    elif [ $((p + f + s)) -eq 0 ]; then
        why="$name ran no check (no 'N passed, N failed' count, or all zero)"
        f=1
    fi
    {
        if [ "$f" -ne 0 ]; then
            echo "---- $name (exit $rc) ----"; cat "$log"; echo "----"
            [ -n "$why" ] && echo "$why"
        fi
        if [ "$s" -ne 0 ]; then grep -E '^(SKIP|.*: SKIP)' "$log" | sed "s/^/  /"; fi
        printf '%-40s %4d passed %3d failed %3d skipped  %3ds\n' "$name" "$p" "$f" "$s" "$took"
    } >"$out"
    echo "$p $f $s" >"$results/$id.counts"
    rm -f "$log"
}

# Prints a finished test's lines and adds its counts to the totals.
report() {
    local id=$1 p f s
    cat "$results/$id.out"
    read -r p f s <"$results/$id.counts"
    total_pass=$((total_pass + p)); total_fail=$((total_fail + f)); total_skip=$((total_skip + s))
}

# Starts a test in the background once a lane is free; reports those that ended.
declare -A id_of_pid=() started=()
next_id=0
start_test() {
    while [ "${#id_of_pid[@]}" -ge "$JOBS" ]; do reap_one; done
    local id=$next_id; next_id=$((next_id + 1))
    run_one "$id" "$@" &
    id_of_pid[$!]=$id
}
reap_one() {
    local pid
    wait -n -p pid "${!id_of_pid[@]}"
    report "${id_of_pid[$pid]}"
    unset "id_of_pid[$pid]"
}
run_path() {
    case "$1" in
    *.sh) start_test "$(basename "$1")" bash "$1";;
    *.o|*.d|*.so) ;;
    *) [ -x "$1" ] && [ -f "$1" ] && start_test "$(basename "$1")" "$1";;
    esac
}
if [ $# -gt 0 ]; then
    for t in "$@"; do run_path "$t"; done
else
    # The longest first (measured), then the other scripts, then the programs: a long
    # test started last would leave the other lanes idle at the end.
    longest="tests/t_network_accuracy.sh tests/t_export.sh tests/t_sdtrain.sh
             tests/t_gpu_dry_run.sh tests/t_pipeline.sh"
    for t in $longest tests/t_*.sh "$BUILD"/tests/test_* "$BUILD"/tests/gradcheck_*; do
        case " $(echo $longest) " in *" $t "*) [ -n "${started[$t]:-}" ] && continue;; esac
        started[$t]=1
        [ -f "$t" ] && run_path "$t"
    done
fi
while [ "${#id_of_pid[@]}" -gt 0 ]; do reap_one; done
echo "tests: $total_pass passed, $total_fail failed, $total_skip skipped"
[ "$total_fail" -eq 0 ] && [ "$total_pass" -gt 0 ]
