#!/usr/bin/env bash
# Full disks and failing devices: tests/fault_shim.c (LD_PRELOAD) makes the writes
# of one file fail with ENOSPC at fwrite, EIO at fsync or EIO at rename, in
#   - sdtrain's last.ckpt and log.csv,
#   - sdexport's ONNX file,
#   - sdinfer's --predictions CSV.
# Each time the program must exit 1 with a message naming the file and the error,
# and leave the previous file byte for byte as it was, with no temporary file.
# Afterwards the run resumes without the shim and ends with the weights and log of
# an uninterrupted run. An ASan build gets its runtime preloaded ahead of the shim
# (ASan insists on coming first); where that runtime cannot be found the whole
# script reports one counted skip.
set -u
cd "$(dirname "$0")/.."
BIN=${SD_BIN:-build/bin}
BUILD=${SD_BUILD:-build}
case $BUILD in /*) ;; *) BUILD=$PWD/$BUILD;; esac  # LD_PRELOAD needs a path from anywhere
SHIM=$BUILD/tests/fault_shim.so
PY=/usr/bin/python3
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
passed=0 failed=0
. tests/check.sh
expect_exit() {  # expect_exit CODE "stderr substring" command...: exactly that exit and message
    local code=$1 text=$2; shift 2
    "$@" >"$tmp/stdout" 2>"$tmp/stderr"
    local rc=$?
    cat "$tmp/stderr"
    [ "$rc" -eq "$code" ] || { echo "exit $rc, expected $code"; return 1; }
    grep -qF -- "$text" "$tmp/stderr" || { echo "stderr lacks '$text'"; return 1; }
}

# The LD_PRELOAD list for a program: the shim, after the ASan runtime it links.
preload_for() {
    local asan
    asan=$(ldd "$1" 2>/dev/null | awk '/libasan\.so/ { print $3; exit }')
    if ldd "$1" 2>/dev/null | grep -q 'libasan\.so' && [ ! -f "$asan" ]; then return 1; fi
    echo "${asan:+$asan:}$SHIM"
}
if [ ! -f "$SHIM" ]; then
    echo "FAIL: $SHIM is not built (make tests)"; echo "t_write_failures: 0 passed, 1 failed"; exit 1
fi
for p in sdtrain sdexport sdinfer; do
    if ! preload_for "$BIN/$p" >/dev/null; then
        echo "t_write_failures: SKIP ($BIN/$p is an ASan build whose runtime library was not found)"
        echo "t_write_failures: 0 passed, 0 failed, 1 skipped"
        exit 0
    fi
done
# faulty FAULT PATH-PART program args...: runs the program with the shim failing writes.
faulty() {
    local fault=$1 part=$2 program=$3; shift 3
    LD_PRELOAD=$(preload_for "$program") SD_FAULT=$fault SD_FAULT_PATH=$part "$program" "$@"
}
# expect_write_failure FAULT FILE "error text" program args...: exit 1, the shim's
# announcement and the program's message naming FILE; FILE unchanged, no temporary.
expect_write_failure() {
    local fault=$1 file=$2 text=$3; shift 3
    cp "$file" "$tmp/before"
    expect_exit 1 "$file: $text" faulty "$fault" "$(basename "$file")" "$@" || return 1
    grep -q "^fault_shim: ${fault%%:*} of " "$tmp/stderr" || { echo "the shim did not act"; return 1; }
    cmp "$file" "$tmp/before" || { echo "$file changed"; return 1; }
    if ls "$(dirname "$file")" | grep -q '\.tmp\.'; then echo "temporary file left"; return 1; fi
}

data=$tmp/data
"$PY" tests/tiny_mnist.py "$data" 96 32 || { echo "t_write_failures: 0 passed, 1 failed"; exit 1; }
cat >"$tmp/tiny.txt" <<'P'
name writes-tiny
block basic
shortcut A
stem 4 3 1
stem-pool none
stages 1x4 1x8
P
train=(--dataset mnist --data "$data" --model "$tmp/tiny.txt" --batch-size 16 --val-size 16
       --lr 0.05 --lr-steps none --seed 3 --threads 2)
run=$tmp/run
check "sdtrain: 1 epoch" "$BIN/sdtrain" "${train[@]}" --epochs 1 --out "$run"
check "sdtrain: last.ckpt ENOSPC" expect_write_failure write:ENOSPC "$run/last.ckpt" \
    "write failed: No space left on device (previous file left unchanged)" \
    "$BIN/sdtrain" --resume "$run" --epochs 2 --threads 2
check "sdtrain: last.ckpt fsync EIO" expect_write_failure fsync:EIO "$run/last.ckpt" \
    "write failed: Input/output error (previous file left unchanged)" \
    "$BIN/sdtrain" --resume "$run" --epochs 2 --threads 2
check "sdtrain: last.ckpt rename EIO" expect_write_failure rename:EIO "$run/last.ckpt" \
    "cannot replace the file: Input/output error (previous file left unchanged)" \
    "$BIN/sdtrain" --resume "$run" --epochs 2 --threads 2
check "sdtrain: log.csv ENOSPC" expect_write_failure write:ENOSPC "$run/log.csv" \
    "write failed: No space left on device (previous file left unchanged)" \
    "$BIN/sdtrain" --resume "$run" --epochs 2 --threads 2
check "sdtrain: after the failures the run resumes" "$BIN/sdtrain" --resume "$run" --epochs 2 --threads 2
check "sdtrain: 2 epochs straight" "$BIN/sdtrain" "${train[@]}" --epochs 2 --out "$tmp/straight"
check "sdtrain: weights = an uninterrupted run's" "$PY" tests/ckpt_tensors_equal.py \
    "$tmp/straight/last.ckpt" "$run/last.ckpt"
check "sdtrain: log = an uninterrupted run's (one row per epoch)" bash -c \
    "diff <(cut -d, -f1-6,8 '$tmp/straight/log.csv') <(cut -d, -f1-6,8 '$run/log.csv')"

onnx=$tmp/model.onnx
check "sdexport: export" "$BIN/sdexport" "$run/best.ckpt" -o "$onnx"
for fault in "write:ENOSPC|write failed: No space left on device" \
             "fsync:EIO|write failed: Input/output error" \
             "rename:EIO|cannot replace the file: Input/output error"; do
    check "sdexport: ${fault%%|*}" expect_write_failure "${fault%%|*}" "$onnx" \
        "${fault#*|} (previous file left unchanged)" "$BIN/sdexport" "$run/last.ckpt" -o "$onnx" --keep-bn
done

preds=$tmp/preds.csv
infer=("$onnx" --dataset mnist --data "$data" --batch-size 8 --predictions "$preds")
check "sdinfer: predictions" "$BIN/sdinfer" "${infer[@]}"
check "sdinfer: 33 lines" bash -c "[ \$(wc -l < '$preds') -eq 33 ]"
for fault in "write:ENOSPC|write failed: No space left on device" \
             "fsync:EIO|write failed: Input/output error" \
             "rename:EIO|cannot replace the file: Input/output error"; do
    check "sdinfer: ${fault%%|*}" expect_write_failure "${fault%%|*}" "$preds" \
        "${fault#*|} (previous file left unchanged)" "$BIN/sdinfer" "${infer[@]}" --limit 16
done
echo "t_write_failures: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
