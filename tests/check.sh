# check "what" command...: the one check() of the tests/t_*.sh scripts, sourced after
# their `cd` to the repository root. The script sets tmp (its temporary directory) and
# passed=0 failed=0, and prints its own count line from them.
#
# The command's output goes to $tmp/check.log and stays there until the next check, so
# a script may read what a check printed. A failure prints "FAIL: what" and the last
# SD_TEST_FAIL_LINES lines of that output (default 30: a traceback's end or a program's
# last messages, without burying the other results; raise it to see more).
#
# check_show: a grep pattern, empty by default. A passing command's lines that match it
# are printed as "  what: line": figures worth seeing on every run, such as the measured
# differences of t_export.sh and t_readme.sh.
check_show=${check_show:-}
check() {
    local what=$1; shift
    if "$@" >"$tmp/check.log" 2>&1; then
        passed=$((passed + 1))
        if [ -n "$check_show" ]; then
            grep -e "$check_show" "$tmp/check.log" | while IFS= read -r line; do echo "  $what: $line"; done
        fi
    else
        failed=$((failed + 1)); echo "FAIL: $what"
        sed 's/^/    /' "$tmp/check.log" | tail -n "${SD_TEST_FAIL_LINES:-30}"
    fi
}
