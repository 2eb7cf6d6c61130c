#!/usr/bin/env bash
# tests/run.sh itself, on small fake test programs: the counted skip form, a
# program that runs no check, one that crashes after printing a clean count, one
# that hangs (killed by the per-program timeout, with its children), the
# closing line "tests: N passed, N failed, N skipped" with run.sh's exit status,
# and the parallel lanes (SD_TEST_JOBS): tests really overlap, every one is
# counted once, a bad lane count is refused.
set -u
cd "$(dirname "$0")/.."
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
passed=0 failed=0
. tests/check.sh
fake() {  # fake NAME BODY: an executable shell script standing in for a test program
    printf '#!/usr/bin/env bash\n%s\n' "$2" >"$tmp/$1"
    chmod +x "$tmp/$1"
}
fake good 'echo "good: 3 passed, 0 failed"'
fake skipping 'echo "skipping: SKIP (no device)"; echo "skipping: 0 passed, 0 failed, 1 skipped"'
fake empty 'echo "empty: 0 passed, 0 failed"'
fake silent 'exit 0'
fake crash 'echo "crash: 5 passed, 0 failed"; kill -SEGV $$'
fake failing 'echo "failing: 2 passed, 1 failed"; exit 1'
# The child sleep must die with it: it writes a file if it outlives the timeout.
# Three tests that each wait (up to 1 s) for all three to have started: they can
# only pass if the runner runs them side by side.
for n in 1 2 3; do
    fake "lane$n" "touch '$tmp/started$n'
for i in \$(seq 10); do [ -e '$tmp/started1' ] && [ -e '$tmp/started2' ] && [ -e '$tmp/started3' ] && break; sleep 0.1; done
if [ -e '$tmp/started1' ] && [ -e '$tmp/started2' ] && [ -e '$tmp/started3' ]; then echo 'lane$n: $n passed, 0 failed'
else echo 'lane$n: 0 passed, 1 failed (the other lanes never started)'; fi"
done
fake hang "(sleep 3; touch '$tmp/orphan') & sleep 30; echo 'hang: 1 passed, 0 failed'"

# runner EXPECTED-STATUS PROGRAMS...: runs tests/run.sh on them, output in $tmp/log
runner() {
    local want=$1; shift
    SD_TEST_TIMEOUT=2 tests/run.sh "$@" >"$tmp/log" 2>&1
    local rc=$?
    cat "$tmp/log"
    [ "$rc" -eq "$want" ] || { echo "run.sh exited $rc, expected $want"; return 1; }
}
has() { grep -qE -- "$1" "$tmp/log" || { echo "missing: $1"; return 1; }; }

check "good + skip: passes, skip counted" bash -c "$(declare -f runner has); tmp='$tmp'
    runner 0 '$tmp/good' '$tmp/skipping' && has '^tests: 3 passed, 0 failed, 1 skipped$' &&
    has 'skipping: SKIP \(no device\)'"
check "a program with 0 passed, 0 failed fails" bash -c "$(declare -f runner has); tmp='$tmp'
    runner 1 '$tmp/good' '$tmp/empty' && has '^tests: 3 passed, 1 failed, 0 skipped$' &&
    has 'empty ran no check'"
check "a program with no count line fails" bash -c "$(declare -f runner has); tmp='$tmp'
    runner 1 '$tmp/silent' && has '^tests: 0 passed, 1 failed, 0 skipped$'"
check "a crash after a clean count fails" bash -c "$(declare -f runner has); tmp='$tmp'
    runner 1 '$tmp/crash' && has '^tests: 5 passed, 1 failed, 0 skipped$' &&
    has 'crash exited with status 139'"
check "reported failures are summed" bash -c "$(declare -f runner has); tmp='$tmp'
    runner 1 '$tmp/failing' '$tmp/good' && has '^tests: 5 passed, 1 failed, 0 skipped$'"
check "a hang is killed by the timeout, named in a message" bash -c "$(declare -f runner has); tmp='$tmp'
    SECONDS=0; runner 1 '$tmp/hang' && has 'TIMEOUT: hang still ran after 2s' &&
    has '^tests: 0 passed, 1 failed, 0 skipped$' && [ \$SECONDS -lt 20 ]"
check "a skip alone is not a passing suite" bash -c "$(declare -f runner has); tmp='$tmp'
    runner 1 '$tmp/skipping' && has '^tests: 0 passed, 0 failed, 1 skipped$'"
check "three lanes run three tests side by side, each counted once" bash -c "$(declare -f runner has); tmp='$tmp'
    SD_TEST_JOBS=3 runner 0 '$tmp/lane1' '$tmp/lane2' '$tmp/lane3' &&
    has '^tests: 6 passed, 0 failed, 0 skipped$' && has '^lane1 ' && has '^lane2 ' && has '^lane3 '"
rm -f "$tmp"/started*
check "one lane does not run them side by side (the check above can fail)" bash -c "$(declare -f runner has); tmp='$tmp'
    SD_TEST_JOBS=1 runner 1 '$tmp/lane1' '$tmp/lane2' '$tmp/lane3' && has 'the other lanes never started'"
check "one lane runs them in order" bash -c "$(declare -f runner has); tmp='$tmp'
    SD_TEST_JOBS=1 runner 1 '$tmp/failing' '$tmp/good' '$tmp/skipping' &&
    has '^tests: 5 passed, 1 failed, 1 skipped$' &&
    [ \"\$(grep -oE '^(failing|good|skipping) ' '$tmp/log' | tr -d ' \n')\" = failinggoodskipping ]"
check "a bad SD_TEST_JOBS is refused with exit 2" bash -c "$(declare -f runner has); tmp='$tmp'
    SD_TEST_JOBS=0 runner 2 '$tmp/good' &&
    has '^tests/run.sh: SD_TEST_JOBS must be a positive integer, not .0.$'"
sleep 2
check "the timeout killed the hanging program's children too" test ! -e "$tmp/orphan"
echo "t_runner: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
