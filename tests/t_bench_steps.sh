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

# --bench-versus-constant: each repeat a window of the rule's steps and one with every
# block open, side by side. Uniform p_L = 0.01 at batch 16: a step with nearly every
# block closed does a small part of an open one's work (0.035 of its time here), so
# every rule window must be the shorter of its pair, and a mislabelled pair shows.
"$SDTRAIN" --bench-steps 3 --bench-repeats 3 --bench-versus-constant --survival uniform \
    --p-last 0.01 --model resnet20-cifar --dataset fashion-mnist --batch-size 16 --threads 1 \
    >"$tmp/out" 2>&1
rc=$?
[ "$rc" -eq 0 ] && pass || fail "versus constant: exit status $rc, want 0"
for label in "windows (s), survival rule" "windows (s), constant depth" "pair ratios (rule / constant)"; do
    n=$(grep -F "$label:" "$tmp/out" | sed 's/^.*://' | wc -w)
    [ "$n" -eq 3 ] && pass || fail "versus constant: $n values on '$label', want 3"
done
rule=$(grep -F "windows (s), survival rule:" "$tmp/out" | sed 's/^.*://')
open=$(grep -F "windows (s), constant depth:" "$tmp/out" | sed 's/^.*://')
ratios=$(grep -F "pair ratios (rule / constant):" "$tmp/out" | sed 's/^.*://')
awk -v g="$rule" -v o="$open" 'BEGIN { n = split(g, a); split(o, b); if (n != 3) exit 1
    for (i = 1; i <= n; i++) if (!(a[i] + 0 < b[i] + 0)) exit 1 }' &&
    pass || fail "versus constant: a rule window ($rule) not shorter than its pair's ($open)"
# Each pair's ratio is its windows' (printed to 4 digits: 2% slack for ms windows).
awk -v g="$rule" -v o="$open" -v r="$ratios" 'BEGIN { n = split(g, a); split(o, b); split(r, c)
    for (i = 1; i <= n; i++) { want = a[i] / b[i]; d = c[i] - want; if (d < 0) d = -d
        if (d > 0.02 * want + 0.002) exit 1 } }' &&
    pass || fail "versus constant: pair ratios $ratios are not windows $rule / $open"
grep -Eq '^open blocks per step: 0\.[0-9]{2} with the rule, 9\.00 at constant depth, of 9$' "$tmp/out" &&
    pass || fail "versus constant: constant-depth windows must run all 9 blocks, the rule's few"
median=$(sort -g <<<"$(tr ' ' '\n' <<<"$ratios" | grep .)" | sed -n 2p)
printed=$(sed -nE 's|^step time uniform p_L 0.01 / constant depth: ([0-9.]+) \(median of 3 adjacent pairs; E\[L~\] / L = 0\.010\)$|\1|p' "$tmp/out")
awk -v m="$median" -v p="$printed" 'BEGIN { d = m - p; if (p == "" || d > 6e-4 || d < -6e-4) exit 1 }' &&
    pass || fail "versus constant: summary '$printed' is not the median ratio $median (or E[L~]/L is not 0.010)"

# Linear decay to 0.5 over ResNet-20's 9 blocks: E[L~] = sum of 1 - l/9 * 0.5 = 6.5, 0.722 of 9.
"$SDTRAIN" --bench-steps 1 --bench-repeats 1 --bench-versus-constant "${tiny[@]}" >"$tmp/out" 2>&1
grep -Eq '^step time linear p_L 0.5 / constant depth: [0-9]+\.[0-9]{3} \(median of 1 adjacent pairs; E\[L~\] / L = 0\.722\)$' \
    "$tmp/out" && pass || fail "versus constant, linear: summary line"

"$SDTRAIN" --bench-versus-constant "${tiny[@]}" >"$tmp/out" 2>&1
rc=$?
[ "$rc" -eq 2 ] && grep -qx 'sdtrain: --bench-versus-constant times the windows of --bench-steps: give --bench-steps N' \
    "$tmp/out" && pass || fail "--bench-versus-constant without --bench-steps: exit status $rc, want 2 and the message"
"$SDTRAIN" --bench-steps 1 --bench-versus-constant --survival none "${tiny[@]}" >"$tmp/out" 2>&1
rc=$?
[ "$rc" -eq 2 ] && grep -qx 'sdtrain: --bench-versus-constant compares a --survival rule with constant depth: give --survival linear or uniform' \
    "$tmp/out" && pass || fail "--bench-versus-constant --survival none: exit status $rc, want 2 and the message"

echo "t_bench_steps: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
