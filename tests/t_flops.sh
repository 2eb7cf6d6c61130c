#!/usr/bin/env bash
# bench/flops.c, the multiply-add counts behind make bench's GFLOP/s: figures counted
# by hand (the ResNet-20 count in bench/flops.c's header; a small bottleneck net with
# projection shortcuts below), the stochastic-depth expectation, bad input; then, where
# PyTorch is installed, bench/flops_check.py: the same counts from PyTorch's own
# operator calls in a real training step.
set -u
cd "$(dirname "$0")/.."
FLOPS=${SD_BUILD:-build}/bench/flops
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
passed=0 failed=0
pass() { passed=$((passed + 1)); }
fail() { failed=$((failed + 1)); echo "FAIL: $1"; sed 's/^/    /' "$tmp/out" | tail -n 20; }
run() { "$FLOPS" "$@" >"$tmp/out" 2>&1; rc=$?; }
# expect NAME KEY VALUE: the last run printed "KEY: VALUE" and exited 0
expect() {
    [ "$rc" -eq 0 ] && grep -qx "$2: $3" "$tmp/out" && pass || fail "$1: want $2: $3 (exit $rc)"
}
# refuse NAME STATUS MESSAGE: the last run exited STATUS and printed exactly MESSAGE first
refuse() {
    [ "$rc" -eq "$2" ] && [ "$(head -n 1 "$tmp/out")" = "$3" ] && pass ||
        fail "$1: want exit $2 and '$3', got exit $rc"
}

# ResNet-20 on CIFAR, counted by hand (bench/flops.c's header).
run --model resnet20-cifar
expect "resnet20 3x32x32" inference_forward_macs 40551040
expect "resnet20 3x32x32" train_forward_macs 40551040
expect "resnet20 3x32x32: no stem data gradient" train_backward_data_macs 40108672
expect "resnet20 3x32x32" train_step_macs 121210752
expect "resnet20 3x32x32" train_step_flops 242421504
# Linear decay p_L = 0.5: sum p_l = 6.5; sum p_l branch_l = 29,032,448.
run --model resnet20-cifar --survival linear --p-last 0.5
expect "resnet20 linear" train_forward_macs 29475456
expect "resnet20 linear" train_step_macs 87984000
expect "resnet20 linear: inference keeps every block" inference_forward_macs 40551040
grep -q "expected active blocks 6.5 of 9$" "$tmp/out" && pass || fail "resnet20 linear: E[active] 6.5"
# Uniform p = 0.25: the fixed part + 0.25 * (40551040 - 443008) per pass.
run --model resnet20-cifar --survival uniform --p-last 0.25
expect "resnet20 uniform 0.25" train_forward_macs 10470016
# Fashion-MNIST input: stem 1->16 at 28x28 = 112,896; the stages at 28, 14, 7:
# 10,838,016 + 9,934,848 + 9,934,848; fc 640.
run --model resnet20-cifar --input 1x28x28
expect "resnet20 1x28x28" inference_forward_macs 30821248
# Every gate closed: only the stem and fc run (3 * 443,008 - 442,368).
run --model resnet20-cifar --gates 000000000
expect "resnet20 closed" train_step_macs 886656

# Bottleneck blocks with projection shortcuts (stride on the 3x3), by hand, 3x8x8:
#   stem 3->8 3x3: 8*64*27 = 13,824
#   block 0 (8 -> 4 -> 16): 1x1 8*4*64 = 2,048; 3x3 4*4*9*64 = 9,216; 1x1 4*16*64 = 4,096;
#     projection 1x1 8->16: 8,192
#   block 1 (16 -> 8 -> 32, stride 2): 1x1 16*8*64 = 8,192; 3x3/2 8*8*9*16 = 9,216;
#     1x1 8*32*16 = 4,096; projection 1x1/2 16->32: 16*32*16 = 8,192
#   fc 32*10 = 320: inference 67,392; all closed: 30,528 forward (projections run), step
#   3 * 30,528 - 13,824 = 77,760.
cat > "$tmp/tiny.txt" <<'EOF'
name tiny-bottleneck
block bottleneck
shortcut projection
stem 8 3 1
stem-pool none
stages 1x4 1x8
EOF
run --model "$tmp/tiny.txt" --input 3x8x8
expect "bottleneck" inference_forward_macs 67392
expect "bottleneck" train_step_macs 188352
run --model "$tmp/tiny.txt" --input 3x8x8 --gates 00
expect "bottleneck closed: projections still run" train_forward_macs 30528
expect "bottleneck closed" train_step_macs 77760
run --model "$tmp/tiny.txt" --input 3x8x8 --gates 01
expect "bottleneck block 1 open" train_forward_macs 52032

# Bad input: a message that names the problem, a non-zero status, no figures.
run --model nope
refuse "unknown preset" 1 "flops: unknown preset 'nope' (no file models/nope.txt; presets are in models/)"
run --model resnet20-cifar --input 3x30x30
refuse "odd map under option A" 1 "flops: network: block 6 halves a 15x15 map, but the option-A shortcut needs even sizes (choose an input size that stays even, e.g. 32 or 28)"
run --model resnet20-cifar --gates 0101
refuse "gates of the wrong length" 2 "flops: --gates needs one 0 or 1 per block: 9 for resnet20-cifar, got '0101'"
run --model resnet20-cifar --gates 01010101x
refuse "gates not 0/1" 2 "flops: --gates needs one 0 or 1 per block: 9 for resnet20-cifar, got '01010101x'"
run --model resnet20-cifar --survival sometimes
refuse "unknown rule" 2 "flops: unknown survival rule 'sometimes' (none, linear, uniform)"
run --model resnet20-cifar --input 3x32
refuse "bad input shape" 2 "flops: bad or missing value for --input"
run --model resnet20-cifar --p-last 0
refuse "p_L out of range" 2 "flops: bad or missing value for --p-last"
run --input 3x32x32
refuse "no model" 2 "flops: --model NAME|PATH is required"
grep -q "_macs:" "$tmp/out" && fail "no model: figures printed" || pass

if /usr/bin/python3 -c 'import torch' 2>/dev/null; then
    /usr/bin/python3 bench/flops_check.py "$FLOPS" >"$tmp/out" 2>&1
    rc=$?
    line=$(grep -E '^flops_check: [0-9]+ passed, 0 failed$' "$tmp/out")
    [ "$rc" -eq 0 ] && [ -n "$line" ] && pass || fail "flops_check.py (PyTorch's operator calls): exit $rc"
else
    echo "SKIP: flops_check.py needs PyTorch (tools/deps.sh bench)"
fi

echo "t_flops: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
