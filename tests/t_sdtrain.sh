#!/usr/bin/env bash
# sdtrain end to end on Fashion-MNIST (Debian's dataset-fashion-mnist), tiny runs:
# bad options exit 2, a run writes log.csv and checkpoints, and --resume continues
# bit-identically (3 epochs straight == 1 epoch, then resume for 2).
set -u
cd "$(dirname "$0")/.."
SDTRAIN=${SD_BIN:-bin}/sdtrain
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
passed=0 failed=0
check() {  # check "what" command...
    local what=$1; shift
    if "$@" >"$tmp/out" 2>&1; then passed=$((passed + 1)); else
        failed=$((failed + 1)); echo "FAIL: $what"; sed 's/^/    /' "$tmp/out" | tail -n 20; fi
}
exit_code_is() { local want=$1; shift; "$@"; [ $? -eq "$want" ]; }

check "unknown option exits 2" exit_code_is 2 "$SDTRAIN" --no-such-option
check "bad number exits 2" exit_code_is 2 "$SDTRAIN" --epochs zero
check "bad survival rule exits 2" exit_code_is 2 "$SDTRAIN" --survival sometimes
check "p-last out of range exits 2" exit_code_is 2 "$SDTRAIN" --p-last 1.5
check "--help lists --survival" bash -c "'$SDTRAIN' --help | grep -q -- '--survival'"
check "missing data dir fails cleanly" bash -c "! '$SDTRAIN' --dataset cifar10 --data '$tmp/none' --epochs 1 --out '$tmp/x' 2>'$tmp/err' && grep -q 'none' '$tmp/err'"
check "unknown preset fails cleanly" bash -c "! '$SDTRAIN' --dataset fashion-mnist --model no-such-net --epochs 1 --out '$tmp/x' 2>'$tmp/err' && grep -q 'no-such-net' '$tmp/err'"

common=(--dataset fashion-mnist --model resnet20-cifar --batch-size 32 --train-limit 192
        --val-size 128 --test-limit 64 --lr 0.05 --lr-steps 2 --seed 7 --threads 2)
check "3 epochs straight" "$SDTRAIN" "${common[@]}" --epochs 3 --out "$tmp/straight"
check "1 epoch" "$SDTRAIN" "${common[@]}" --epochs 1 --out "$tmp/resumed"
check "resume for 2 more" "$SDTRAIN" --resume "$tmp/resumed" --epochs 3 --threads 2
check "resumed weights bit-identical" /usr/bin/python3 tests/ckpt_tensors_equal.py \
    "$tmp/straight/last.ckpt" "$tmp/resumed/last.ckpt"
check "log.csv has a header and 3 rows" bash -c "[ \$(wc -l < '$tmp/straight/log.csv') -eq 4 ] && head -1 '$tmp/straight/log.csv' | grep -q val_error"
check "resumed log has 3 rows" bash -c "[ \$(wc -l < '$tmp/resumed/log.csv') -eq 4 ]"
check "best.ckpt written" test -s "$tmp/straight/best.ckpt"
check "no temporary files left" bash -c "! ls '$tmp/straight' | grep -q tmp"
# A corrupt checkpoint is refused with a message naming it.
head -c 100 "$tmp/straight/last.ckpt" > "$tmp/resumed/last.ckpt"
check "truncated checkpoint refused on resume" bash -c "! '$SDTRAIN' --resume '$tmp/resumed' 2>'$tmp/err' && grep -q last.ckpt '$tmp/err'"
echo "t_sdtrain: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
