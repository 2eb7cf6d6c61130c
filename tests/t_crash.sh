#!/usr/bin/env bash
# Crash consistency: sdtrain is killed with SIGKILL at 20 random moments of one
# short run and resumed after each kill (started over with --force while no
# last.ckpt exists yet); the final weights (last.ckpt and best.ckpt) must equal an
# uninterrupted run's bit for bit, and log.csv must hold exactly one row per epoch,
# equal to the uninterrupted run's apart from the time columns.
#
# Kill i (0-based) lands during or right after epoch i * (EPOCHS - 4) / 20, so the
# kills spread over the whole run (resumes from early and late epochs, across the
# learning-rate step, from a fresh start with no checkpoint yet). Within that:
#   - even kills: tests/fault_shim.c (LD_PRELOAD) kills the process just before
#     its K-th fwrite / fsync / rename (cycling through the three) of a file in the
#     run directory, counted from the moment the target epoch's log row is in
#     place: log.csv, best.ckpt, last.ckpt, their temporary files and the
#     directory's own fsync after a rename. K is random within what one epoch
#     does, so these kills land INSIDE the writes, and the shim announces each
#     one ("fault_shim: SIGKILL before fsync #3 of .../last.ckpt.tmp.123.0");
#   - odd kills: an outside `kill -KILL` at a random delay of up to 1.5 epochs
#     (measured on the uninterrupted run; plus the start-up when the target epoch
#     is the session's first) after the target epoch's log row appears, or at once
#     when the session writes two more rows first (a busy machine): anywhere in
#     data loading, training steps, evaluation and writes. A kill that leaves its
#     own temporary file (NAME.tmp.PID.N) landed inside a write; the script
#     counts those. A session that would finish before the outside kill (a fast
#     machine, resumed near the end) is killed by the shim before its last epoch's
#     writes instead (a "backstop" kill, counted with the shim's).
# SD_CRASH_SEED fixes the random choices (the outside kills' timing still varies).
set -u
cd "$(dirname "$0")/.."
BIN=${SD_BIN:-build/bin}
BUILD=${SD_BUILD:-build}
case $BUILD in /*) ;; *) BUILD=$PWD/$BUILD;; esac  # LD_PRELOAD needs a path from anywhere
SHIM=$BUILD/tests/fault_shim.so
PY=/usr/bin/python3
EPOCHS=24 KILLS=20
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
crash=$tmp/crash
passed=0 failed=0
. tests/check.sh
finish() { echo "t_crash: $passed passed, $failed failed"; [ "$failed" -eq 0 ]; exit; }
now_ms() { local us=${EPOCHREALTIME/[.,]/}; echo $((us / 1000)); }
ckpt_epoch() {  # the epoch last.ckpt holds (0 without one), read by a parser of our own
    [ -f "$crash/last.ckpt" ] || { echo 0; return; }
    "$PY" -c 'import json, struct, sys
b = open(sys.argv[1], "rb").read()
print(json.loads(b[8:8 + struct.unpack("<Q", b[:8])[0]])["__metadata__"]["epoch"])' "$crash/last.ckpt"
}
log_rows() {  # rows in the crash run's log.csv (0 without one)
    local lines=()
    [ -f "$crash/log.csv" ] && mapfile -t lines <"$crash/log.csv" 2>/dev/null
    echo $(( ${#lines[@]} > 0 ? ${#lines[@]} - 1 : 0 ))
}

[ -f "$SHIM" ] || { echo "FAIL: $SHIM is not built (make tests)"; failed=1; finish; }
asan=$(ldd "$BIN/sdtrain" 2>/dev/null | awk '/libasan\.so/ { print $3; exit }')
if ldd "$BIN/sdtrain" | grep -q 'libasan\.so' && [ ! -f "$asan" ]; then
    echo "t_crash: SKIP ($BIN/sdtrain is an ASan build whose runtime library was not found)"
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
       --lr 0.05 --lr-steps 12 --seed 3 --threads 2 --augment)

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
echo "t_crash: uninterrupted run $((t2 - t1)) ms, start-up $startup_ms ms, $epoch_ms ms per epoch"

kills=0 shim_kills=0 timer_kills=0 timer_in_write=0
ops=(write fsync rename)
for ((i = 0; i < KILLS; i++)); do
    # Kill i lands during or right after epoch `target`: the kills spread over the run.
    target=$((i * (EPOCHS - 4) / KILLS))
    done_epochs=$(ckpt_epoch)
    if [ -f "$crash/last.ckpt" ]; then args=(--resume "$crash" --threads 2) resumed=1
    else args=("${train[@]}" --epochs "$EPOCHS" --out "$crash" --force) resumed=0; fi
    if [ $((i % 2)) -eq 0 ]; then
        op=${ops[$((i / 2 % 3))]}
        k=$((1 + RANDOM % per_epoch[$op]))
        # Count from the moment epoch target's log row is in place: the session's
        # log.csv renames are its resume cut back (if resumed), then one per epoch.
        arm=0
        [ "$target" -gt "$done_epochs" ] && arm=$((target - done_epochs + resumed))
        # (the braces' redirection also takes bash's own "Killed" notice)
        { LD_PRELOAD="$PRELOAD" SD_FAULT="kill:$op:$k" SD_FAULT_ARM="$arm:log.csv" \
            SD_FAULT_PATH="$crash" "$BIN/sdtrain" "${args[@]}" >"$tmp/session" 2>&1; } 2>/dev/null
        rc=$?
        where=$(grep -o 'fault_shim: SIGKILL before.*' "$tmp/session")
        kind=shim
    else
        rows_before=$(log_rows)
        # Backstop: on a fast, quiet machine a session resumed near the end can write
        # its last rows and exit between two polls below. The shim kills it before the
        # first write after its next-to-last epoch's row instead; such a kill counts as
        # the shim's (it says so), never as a finished session.
        backstop=$((EPOCHS - 1 - done_epochs + resumed))
        [ "$backstop" -ge 1 ] || backstop=1
        LD_PRELOAD="$PRELOAD" SD_FAULT="kill:rename:1" SD_FAULT_ARM="$backstop:log.csv" \
            SD_FAULT_PATH="$crash" "$BIN/sdtrain" "${args[@]}" >"$tmp/session" 2>&1 &
        pid=$!
        window=$((3 * epoch_ms / 2 + 1))
        if [ "$rows_before" -ge "$target" ]; then
            window=$((window + startup_ms))  # from the start: start-up included
        else
            while [ "$(log_rows)" -lt "$target" ] && kill -0 "$pid" 2>/dev/null; do sleep 0.005; done
        fi
        # The timing measured above may not hold on a busy (or faster) machine: a
        # session that writes two more log rows before its delay is up, or reaches the
        # run's last epoch (it could end before the kill), is killed at once.
        delay=$((RANDOM % window))
        start=$(now_ms) rows_start=$(log_rows)
        while [ "$(now_ms)" -lt $((start + delay)) ] && [ "$(log_rows)" -lt $((rows_start + 2)) ] &&
              [ "$(log_rows)" -lt $((EPOCHS - 1)) ] && kill -0 "$pid" 2>/dev/null; do sleep 0.002; done
        kill -KILL "$pid" 2>/dev/null
        { wait "$pid"; } 2>/dev/null
        rc=$?
        where="outside kill $(($(now_ms) - start)) ms after log row $rows_start"
        kind=timer
        if grep -q 'fault_shim: SIGKILL before' "$tmp/session"; then
            where="backstop $(grep -o 'fault_shim: SIGKILL before.*' "$tmp/session")"
            kind=shim
        fi
    fi
    if [ "$rc" -ne 137 ]; then
        echo "FAIL: kill $((i + 1)): the session ended with status $rc, not by SIGKILL:"
        sed 's/^/    /' "$tmp/session" | tail -n 20
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
    echo "kill $kills (from epoch $done_epochs): ${where#fault_shim: }; log.csv rows: $(log_rows), temporary files: $temps"
done
check "$KILLS kills happened ($shim_kills inside writes by the shim, $timer_kills from outside)" \
    test "$kills" -eq "$KILLS"
echo "t_crash: $timer_in_write of $timer_kills outside kills landed inside a write (left a temporary file)"
check "the last resume finishes the run" "$BIN/sdtrain" --resume "$crash" --threads 2
check "the kills reached late epochs" test "$done_epochs" -ge $((EPOCHS / 2))
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
