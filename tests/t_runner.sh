#!/usr/bin/env bash
# tests/run.sh itself, on small fake test programs: the counted skip form, a
# program that runs no check, one that crashes after printing a clean count, one
# that hangs (killed by the per-program timeout, with its children), and the
# closing line "tests: N passed, N failed, N skipped" with run.sh's exit status.
set -u
cd "$(dirname "$0")/.."
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
passed=0 failed=0
check() {  # check "what" command...
    local what=$1; shift
    if "$@" >"$tmp/out" 2>&1; then passed=$((passed + 1)); else
        failed=$((failed + 1)); echo "FAIL: $what"; sed 's/^/    /' "$tmp/out" | tail -n 20; fi
}
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
sleep 2
check "the timeout killed the hanging program's children too" test ! -e "$tmp/orphan"
echo "t_runner: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
