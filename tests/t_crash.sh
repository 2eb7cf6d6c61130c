#!/usr/bin/env bash
# Crash consistency: sdtrain is killed with SIGKILL at 20 random moments of one
# short run and resumed after each kill (started over with --force while no
# last.ckpt exists yet); the final weights (last.ckpt and best.ckpt) must equal an
# uninterrupted run's bit for bit, and log.csv must hold exactly one row per epoch,
# equal to the uninterrupted run's apart from the time columns.
#
# Where the kills land:
#   - odd kills: tests/fault_shim.c (LD_PRELOAD) kills the process just before its
#     K-th fwrite / fsync / rename (cycling through the three) of a file in the run
#     directory: log.csv, best.ckpt, last.ckpt, their temporary files and the
#     directory's own fsync after a rename. K is random within what one epoch
#     does, so these kills land INSIDE the writes, and the shim announces each
#     one ("fault_shim: SIGKILL before fsync #3 of .../last.ckpt.tmp.123.0");
#   - even kills: an outside `kill -KILL` after a random delay (up to the time of
#     the start-up and 1.5 epochs, measured on the uninterrupted run, or earlier
#     once the session has written two new log rows), anywhere:
#     data loading, training steps, evaluation, writes. A kill that leaves its own
#     temporary file behind (NAME.tmp.PID.N) landed inside a write; the script
#     counts those.
# A kill moves the run on by about one epoch at most (two where an epoch writes
# no best.ckpt), so 20 kills do not finish the 40-epoch run; the last resume does. SD_CRASH_SEED fixes the random
# choices (the outside kills' timing still varies).
set -u
cd "$(dirname "$0")/.."
BIN=${SD_BIN:-build/bin}
BUILD=${SD_BUILD:-build}
SHIM=$PWD/$BUILD/tests/fault_shim.so
PY=/usr/bin/python3
EPOCHS=40 KILLS=20
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
crash=$tmp/crash
passed=0 failed=0
check() {  # check "what" command...
    local what=$1; shift
    if "$@" >"$tmp/out" 2>&1; then passed=$((passed + 1)); else
        failed=$((failed + 1)); echo "FAIL: $what"; sed 's/^/    /' "$tmp/out" | tail -n 20; fi
}
finish() { echo "t_crash: $passed passed, $failed failed"; [ "$failed" -eq 0 ]; exit; }
now_ms() { local us=${EPOCHREALTIME/[.,]/}; echo $((us / 1000)); }
log_rows() {  # rows in the crash run's log.csv (0 without one)
    local lines=()
    [ -f "$crash/log.csv" ] && mapfile -t lines <"$crash/log.csv" 2>/dev/null
    echo $(( ${#lines[@]} > 0 ? ${#lines[@]} - 1 : 0 ))
}

asan=$(ldd "$BIN/sdtrain" 2>/dev/null | awk '/libasan\.so/ { print $3; exit }')
if ldd "$BIN/sdtrain" | grep -q 'libasan\.so' && [ ! -f "$asan" ]; then
    echo "SKIP t_crash: $BIN/sdtrain is an ASan build whose runtime library was not found"
    echo "t_crash: 0 passed, 0 failed, 1 skipped"
    exit 0
fi
PRELOAD=${asan:+$asan:}$SHIM
seed=${SD_CRASH_SEED:-$(( $(date +%s) % 100000 ))}
RANDOM=$seed
echo "t_crash: seed $seed (SD_CRASH_SEED)"

data=$tmp/data
"$PY" tests/tiny_mnist.py "$data" 96 32 || { failed=1; finish; }
cat >"$tmp/tiny.txt" <<'P'
name crash-tiny
block basic
shortcut A
stem 4 3 1
stem-pool none
stages 1x4 1x8
P
train=(--dataset mnist --data "$data" --model "$tmp/tiny.txt" --batch-size 16 --val-size 16
       --lr 0.05 --lr-steps 20 --seed 3 --threads 2 --augment)

# The uninterrupted run, and the write operations of one epoch (a fresh 1-epoch
# run writes log.csv, best.ckpt and last.ckpt once each: the most an epoch does).
LD_PRELOAD="$PRELOAD" SD_FAULT=count SD_FAULT_PATH="$tmp/count" "$BIN/sdtrain" "${train[@]}" \
    --epochs 1 --out "$tmp/count" >"$tmp/count.log" 2>&1
check "one epoch, counting its writes" grep -q 'best validation error' "$tmp/count.log"
t1=$(now_ms)
check "uninterrupted run, $EPOCHS epochs" "$BIN/sdtrain" "${train[@]}" --epochs "$EPOCHS" --out "$tmp/ref"
t2=$(now_ms)
counts=$(grep -o 'fault_shim: count .*' "$tmp/count.log")
declare -A per_epoch
read -r _ _ _ per_epoch[write] _ _ _ per_epoch[fsync] _ _ _ per_epoch[rename] <<<"$counts"
echo "t_crash: one epoch's writes in the run directory: $counts"
[ "${per_epoch[write]:-0}" -gt 0 ] && [ "${per_epoch[fsync]:-0}" -gt 0 ] &&
    [ "${per_epoch[rename]:-0}" -gt 0 ] || { echo "FAIL: no write counts"; failed=$((failed + 1)); finish; }
# log.csv's wall_seconds counts from the first epoch's start: the rest is start-up.
train_ms=$(tail -n 1 "$tmp/ref/log.csv" | awk -F, '{ printf "%d", $10 * 1000 }')
epoch_ms=$((train_ms / EPOCHS))
startup_ms=$((t2 - t1 - train_ms))
[ "$startup_ms" -gt 0 ] || startup_ms=1
window_ms=$((startup_ms + 3 * epoch_ms / 2 + 1))
echo "t_crash: uninterrupted run $((t2 - t1)) ms, start-up $startup_ms ms, $epoch_ms ms per epoch;" \
     "outside kills within $window_ms ms of a start"

kills=0 shim_kills=0 timer_kills=0 timer_in_write=0 attempts=0
ops=(write fsync rename)
while [ "$kills" -lt "$KILLS" ] && [ "$attempts" -lt $((3 * KILLS)) ]; do
    attempts=$((attempts + 1))
    if [ -f "$crash/last.ckpt" ]; then args=(--resume "$crash" --threads 2)
    else args=("${train[@]}" --epochs "$EPOCHS" --out "$crash" --force); fi
    if [ $((kills % 2)) -eq 0 ]; then
        op=${ops[$((kills / 2 % 3))]}
        k=$((1 + RANDOM % per_epoch[$op]))
        # (the braces' redirection also takes bash's own "Killed" notice)
        { LD_PRELOAD="$PRELOAD" SD_FAULT="kill:$op:$k" SD_FAULT_PATH="$crash" \
            "$BIN/sdtrain" "${args[@]}" >"$tmp/session" 2>&1; } 2>/dev/null
        rc=$?
        where=$(grep -o 'fault_shim: SIGKILL before.*' "$tmp/session")
        kind=shim
    else
        delay=$((RANDOM % window_ms))
        rows_before=$(log_rows)
        "$BIN/sdtrain" "${args[@]}" >"$tmp/session" 2>&1 &
        pid=$!
        # The timing measured above may not hold on a busy machine: a session that
        # has written two new log rows before its delay is up is killed at once.
        deadline=$(($(now_ms) + delay))
        while [ "$(now_ms)" -lt "$deadline" ] && [ "$(log_rows)" -lt $((rows_before + 2)) ] &&
              kill -0 "$pid" 2>/dev/null; do sleep 0.002; done
        kill -KILL "$pid" 2>/dev/null
        { wait "$pid"; } 2>/dev/null
        rc=$?
        where="outside kill after $(($(now_ms) - deadline + delay)) ms"
        kind=timer
    fi
    if [ "$rc" -eq 0 ]; then
        echo "FAIL: the run finished after $kills kills (make it longer)"; failed=$((failed + 1)); break
    elif [ "$rc" -ne 137 ]; then
        echo "FAIL: session $attempts ended with status $rc, not by SIGKILL:"; sed 's/^/    /' "$tmp/session"
        failed=$((failed + 1)); break
    fi
    kills=$((kills + 1))
    temps=$(ls "$crash" 2>/dev/null | grep -c '\.tmp\.')
    if [ "$kind" = shim ]; then
        shim_kills=$((shim_kills + 1))
        [ -n "$where" ] || { echo "FAIL: kill $kills: the shim did not announce its kill"; failed=$((failed + 1)); }
    else
        timer_kills=$((timer_kills + 1))
        # Its own temporary file (NAME.tmp.PID.N; older ones may still wait for removal).
        if ls "$crash" 2>/dev/null | grep -q "\.tmp\.$pid\."; then
            timer_in_write=$((timer_in_write + 1))
            where="$where (inside a write)"
        fi
    fi
    echo "kill $kills: ${where#fault_shim: }; log.csv rows: $(log_rows), temporary files: $temps"
done
check "$KILLS kills happened ($shim_kills inside writes by the shim, $timer_kills from outside)" \
    test "$kills" -eq "$KILLS"
echo "t_crash: $timer_in_write of $timer_kills outside kills landed inside a write (left a temporary file)"
check "the last resume finishes the run" "$BIN/sdtrain" --resume "$crash" --threads 2
check "last.ckpt = the uninterrupted run's, bit for bit" "$PY" tests/ckpt_tensors_equal.py \
    "$tmp/ref/last.ckpt" "$crash/last.ckpt"
check "best.ckpt = the uninterrupted run's, bit for bit" "$PY" tests/ckpt_tensors_equal.py \
    "$tmp/ref/best.ckpt" "$crash/best.ckpt"
check "log.csv: exactly one row per epoch, 1..$EPOCHS" bash -c \
    "diff <(seq 1 $EPOCHS) <(tail -n +2 '$crash/log.csv' | cut -d, -f1)"
check "log.csv = the uninterrupted run's but for the time columns" bash -c \
    "diff <(cut -d, -f1-6,8 '$tmp/ref/log.csv') <(cut -d, -f1-6,8 '$crash/log.csv')"
check "no temporary file left" bash -c "ls '$crash/last.ckpt' && ! ls '$crash' | grep '\.tmp\.'"
finish
