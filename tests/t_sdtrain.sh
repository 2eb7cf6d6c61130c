#!/usr/bin/env bash
# sdtrain end to end on Fashion-MNIST (Debian's dataset-fashion-mnist), tiny runs:
# bad options exit 2, a run writes log.csv and checkpoints, and --resume continues
# bit-identically (3 epochs straight == 1 epoch, then resume for 2) with the log
# cut back to the checkpoint's epoch, a used --out is refused unless --resume or
# --force, and the loader thread (--prefetch) leaves the results bit for bit as
# they were.
set -u
cd "$(dirname "$0")/.."
SDTRAIN=${SD_BIN:-bin}/sdtrain
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

check "unknown option exits 2" expect_exit 2 "unknown option or missing value: --no-such-option" "$SDTRAIN" --no-such-option
check "bad number exits 2" expect_exit 2 "bad value 'zero' for --epochs" "$SDTRAIN" --epochs zero
check "bad survival rule exits 2" expect_exit 2 "bad value 'sometimes' for --survival" "$SDTRAIN" --survival sometimes
check "p-last out of range exits 2" expect_exit 2 "bad value '1.5' for --p-last" "$SDTRAIN" --p-last 1.5
check "--help lists --survival" bash -c "'$SDTRAIN' --help | grep -q -- '--survival'"
check "missing data dir fails cleanly" expect_exit 1 "$tmp/none/data_batch_1.bin: cannot open" \
    "$SDTRAIN" --dataset cifar10 --data "$tmp/none" --epochs 1 --out "$tmp/x"
check "unknown preset fails cleanly" expect_exit 1 "unknown preset 'no-such-net'" \
    "$SDTRAIN" --dataset fashion-mnist --model no-such-net --epochs 1 --out "$tmp/x"
check "a failed setup creates no run directory" test ! -e "$tmp/x"

common=(--dataset fashion-mnist --model resnet20-cifar --batch-size 32 --train-limit 192
        --val-size 128 --test-limit 64 --lr 0.05 --lr-steps 2 --seed 7 --threads 2)
check "3 epochs straight" "$SDTRAIN" "${common[@]}" --epochs 3 --out "$tmp/straight"
check "1 epoch" "$SDTRAIN" "${common[@]}" --epochs 1 --out "$tmp/resumed"
# What a crash between epoch 2's log row and its checkpoint leaves (plus a stray
# temporary file of a killed checkpoint write): the resume cuts the log back to
# last.ckpt's epoch 1 and writes epoch 2 once.
sed -n 2p "$tmp/resumed/log.csv" | sed 's/^1,/2,/' >>"$tmp/resumed/log.csv"
echo partial >"$tmp/resumed/last.ckpt.tmp.12345.0"
check "resume for 2 more" expect_exit 0 "removed 1 temporary file(s)" \
    "$SDTRAIN" --resume "$tmp/resumed" --epochs 3 --threads 2
check "resumed weights bit-identical" /usr/bin/python3 tests/ckpt_tensors_equal.py \
    "$tmp/straight/last.ckpt" "$tmp/resumed/last.ckpt"
check "log.csv has a header and 3 rows" bash -c "[ \$(wc -l < '$tmp/straight/log.csv') -eq 4 ] && head -1 '$tmp/straight/log.csv' | grep -q val_error"
check "resumed log has 3 rows" bash -c "[ \$(wc -l < '$tmp/resumed/log.csv') -eq 4 ]"
check "resumed log = straight log (one row per epoch, 1..3)" bash -c \
    "diff <(cut -d, -f1-6,8 '$tmp/straight/log.csv') <(cut -d, -f1-6,8 '$tmp/resumed/log.csv')"
check "no temporary file left after the resume" bash -c "ls '$tmp/resumed/last.ckpt' && ! ls '$tmp/resumed' | grep -q tmp"
# A fresh run into a used --out is refused; --force starts over; --resume + --force is
# refused. On a small data set and net (tests/tiny_mnist.py): only the directory matters.
/usr/bin/python3 tests/tiny_mnist.py "$tmp/tiny" 48 16
printf 'name tiny\nblock basic\nshortcut A\nstem 4 3 1\nstem-pool none\nstages 1x4 1x8\n' >"$tmp/tiny.txt"
tiny=(--dataset mnist --data "$tmp/tiny" --model "$tmp/tiny.txt" --batch-size 16 --val-size 16
      --threads 2 --epochs 2)
check "a small run to reuse" "$SDTRAIN" "${tiny[@]}" --out "$tmp/used"
cp -r "$tmp/used" "$tmp/used-before"
check "fresh run into a used --out: exit 2, says what to do" expect_exit 2 \
    "$tmp/used already holds a run (log.csv, last.ckpt, best.ckpt): continue it with --resume $tmp/used, or start over with --force" \
    "$SDTRAIN" "${tiny[@]}" --out "$tmp/used"
check "the refused run changed nothing" diff -r "$tmp/used-before" "$tmp/used"
check "--resume with --force: exit 2" expect_exit 2 "give one of them" \
    "$SDTRAIN" --resume "$tmp/used" --force
check "--help says what --force removes" bash -c "'$SDTRAIN' --help | grep -A1 -- '--force' | grep -q 'log.csv, last.ckpt and best.ckpt'"
echo keep >"$tmp/used/notes.txt"
check "--force starts over (1 epoch, another seed)" "$SDTRAIN" "${tiny[@]}" --seed 8 --epochs 1 \
    --out "$tmp/used" --force
check "--force: the log holds the new run's one row" bash -c "[ \$(wc -l < '$tmp/used/log.csv') -eq 2 ]"
check "--force: new weights" expect_exit 1 "tensors differ" /usr/bin/python3 tests/ckpt_tensors_equal.py \
    "$tmp/used-before/last.ckpt" "$tmp/used/last.ckpt"
check "--force keeps other files" test -f "$tmp/used/notes.txt"
mkdir -p "$tmp/killed-early" && cp "$tmp/straight/log.csv" "$tmp/killed-early/"
check "--resume without last.ckpt: exit 1, suggests --force" expect_exit 1 \
    "last.ckpt: no checkpoint to resume from; start the run over with --out $tmp/killed-early --force" \
    "$SDTRAIN" --resume "$tmp/killed-early"
check "best.ckpt written" test -s "$tmp/straight/best.ckpt"
check "no temporary files left" bash -c "ls '$tmp/straight/last.ckpt' && ! ls '$tmp/straight' | grep -q tmp"
# The loader thread changes nothing but the timing: with augmentation (drawn on
# that thread), --prefetch 0 (no thread) and --prefetch 5 give the same weights
# and the same log apart from the time columns; a resume may change --prefetch.
check "prefetch 0, augmented" "$SDTRAIN" "${common[@]}" --augment --epochs 2 --prefetch 0 --out "$tmp/pf0"
check "prefetch 5, augmented" "$SDTRAIN" "${common[@]}" --augment --epochs 2 --prefetch 5 --out "$tmp/pf5"
check "prefetch 1, then resume with prefetch 3" bash -c "'$SDTRAIN' ${common[*]} --augment --epochs 1 --prefetch 1 --out '$tmp/pf1' && '$SDTRAIN' --resume '$tmp/pf1' --epochs 2 --threads 2 --prefetch 3"
check "prefetch 0 and 5: weights bit-identical" /usr/bin/python3 tests/ckpt_tensors_equal.py \
    "$tmp/pf0/last.ckpt" "$tmp/pf5/last.ckpt"
check "prefetch 0 and resumed 1/3: weights bit-identical" /usr/bin/python3 tests/ckpt_tensors_equal.py \
    "$tmp/pf0/last.ckpt" "$tmp/pf1/last.ckpt"
check "prefetch 0 and 5: same log" bash -c "diff <(cut -d, -f1-6,8 '$tmp/pf0/log.csv') <(cut -d, -f1-6,8 '$tmp/pf5/log.csv')"
check "prefetch 0 and resumed 1/3: same log" bash -c "diff <(cut -d, -f1-6,8 '$tmp/pf0/log.csv') <(cut -d, -f1-6,8 '$tmp/pf1/log.csv')"
check "prefetch 0, not augmented" "$SDTRAIN" "${common[@]}" --no-augment --epochs 2 --prefetch 0 --out "$tmp/plain"
check "augmentation changes the weights (the comparisons above can fail)" expect_exit 1 \
    "tensors differ" /usr/bin/python3 tests/ckpt_tensors_equal.py "$tmp/pf0/last.ckpt" "$tmp/plain/last.ckpt"
check "bad --prefetch exits 2" expect_exit 2 "bad value '99' for --prefetch" "$SDTRAIN" --prefetch 99
# A corrupt checkpoint is refused with a message naming it.
head -c 100 "$tmp/straight/last.ckpt" > "$tmp/resumed/last.ckpt"
check "truncated checkpoint refused on resume" expect_exit 1 "$tmp/resumed/last.ckpt" \
    "$SDTRAIN" --resume "$tmp/resumed"
echo "t_sdtrain: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
