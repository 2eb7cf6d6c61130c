#!/usr/bin/env bash
# The conformance test's regression guard: a test on the committed list of passing
# node tests that does not pass now is a failure (exit 1, named), and a damaged list
# is refused with the file and the line. (Disabling an op in the loader makes its
# listed tests fail the same way: checked by hand when the guard was written.)
# Needs: $SD_BUILD/tests/test_onnx_conformance, libonnx-testdata.
set -u
cd "$(dirname "$0")/.."
CONFORMANCE=${SD_BUILD:-build}/tests/test_onnx_conformance
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
passed=0 failed=0
. tests/check.sh
expect_exit() {  # expect_exit CODE "stdout+stderr substring" command...
    local code=$1 text=$2; shift 2
    "$@" >"$tmp/out.txt" 2>&1
    local rc=$?
    [ "$rc" -eq "$code" ] || { echo "exit $rc, expected $code"; tail -n 5 "$tmp/out.txt"; return 1; }
    grep -qF -- "$text" "$tmp/out.txt" || { echo "output lacks '$text':"; tail -n 5 "$tmp/out.txt"; return 1; }
}
if [ ! -d /usr/share/libonnx-testdata/data/node ]; then
    echo "t_conformance_guard: SKIP (libonnx-testdata not installed)"
    echo "t_conformance_guard: 0 passed, 0 failed, 1 skipped"; exit 0
fi

# A listed test that is not even a candidate any more (its op left the list, its data gone).
{ cat tests/conformance_passing.txt; echo test_not_a_node_test; } >"$tmp/extra.txt"
check "a listed test that is gone fails the run" expect_exit 1 \
    "REGRESSION test_not_a_node_test: passed before, now no longer a candidate" \
    "$CONFORMANCE" --expect "$tmp/extra.txt"
# A listed test that is skipped now (test_sub_uint8: UINT8 inputs are refused as unsupported).
{ cat tests/conformance_passing.txt; echo test_sub_uint8; } >"$tmp/skipped.txt"
check "a listed test that is skipped fails the run" expect_exit 1 \
    "REGRESSION test_sub_uint8: passed before, now skipped:" \
    "$CONFORMANCE" --expect "$tmp/skipped.txt"
# The list is not rewritten while a listed test regresses.
check "no list written over a regression" expect_exit 1 \
    "not written: 1 listed tests regressed" \
    "$CONFORMANCE" --expect "$tmp/skipped.txt" --write-passing "$tmp/written.txt"
check "  (and no file appeared)" test ! -e "$tmp/written.txt"
printf 'test_add\nnot a test name\n' >"$tmp/bad.txt"
check "a damaged list is refused" expect_exit 1 "$tmp/bad.txt: line 2 is not a test name" \
    "$CONFORMANCE" --expect "$tmp/bad.txt"
check "a missing list is refused" expect_exit 1 "expected list: " \
    "$CONFORMANCE" --expect "$tmp/none.txt"
# The committed list passes, and the list written back equals it (nothing dropped).
check "the committed list passes" expect_exit 0 "listed tests (tests/conformance_passing.txt) pass again, 0 regressed" \
    "$CONFORMANCE" --write-passing "$tmp/written.txt"
check "  every listed test is in the list written back" bash -c \
    "comm -23 <(grep -v '^#' tests/conformance_passing.txt | sort) <(grep -v '^#' '$tmp/written.txt' | sort) | diff - /dev/null"
echo "t_conformance_guard: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
