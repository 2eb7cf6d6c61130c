#!/usr/bin/env bash
# sdtrain --bench-steps: the figure the bench/ scripts (and the GPU run) read.
# Windows are reported one by one with their median; a step that goes wrong
# (here: a divergent loss, the same check that catches a failed device, whose
# later ops are no-ops that would time as absurdly fast steps) ends the run with
# exit status 1, a message, and no images/s line.
set -u
cd "$(dirname "$0")/.."
SDTRAIN=${SD_BIN:-bin}/sdtrain
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
passed=0 failed=0
pass() { passed=$((passed + 1)); }
fail() { failed=$((failed + 1)); echo "FAIL: $1"; sed 's/^/    /' "$tmp/out" | tail -n 20; }

tiny=(--model resnet20-cifar --dataset fashion-mnist --batch-size 2 --threads 1)

"$SDTRAIN" --bench-steps 2 --bench-repeats 3 "${tiny[@]}" >"$tmp/out" 2>&1
rc=$?
[ "$rc" -eq 0 ] && pass || fail "3 windows: exit status $rc, want 0"
windows=$(sed -n 's/^windows (s)://p' "$tmp/out" | wc -w)
[ "$windows" -eq 3 ] && pass || fail "3 windows: $windows window times printed, want 3"
grep -Eq '^images/s: [0-9]+\.[0-9]$' "$tmp/out" && pass || fail "3 windows: no images/s line"
grep -Eq '^warm-up steps: 2$' "$tmp/out" && pass || fail "warm-up: 2 steps without graphs"

# lr 100 with weight decay 1 multiplies every weight by -99 per step: the loss
# overflows within ~20 steps.
"$SDTRAIN" --bench-steps 30 --lr 100 --weight-decay 1 "${tiny[@]}" >"$tmp/out" 2>&1
rc=$?
[ "$rc" -eq 1 ] && pass || fail "divergence: exit status $rc, want 1"
grep -Eq '^sdtrain: --bench-steps: the loss is -?(nan|inf) during a timed window \(diverged: lower --lr\)$' \
    "$tmp/out" && pass || fail "divergence: the message names the loss and the window"
grep -q '^images/s:' "$tmp/out" && fail "divergence: an images/s figure was printed" || pass

"$SDTRAIN" --bench-steps 2 --bench-repeats 0 "${tiny[@]}" >"$tmp/out" 2>&1
rc=$?
[ "$rc" -eq 2 ] && pass || fail "--bench-repeats 0: exit status $rc, want 2"

echo "t_bench_steps: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
