#!/usr/bin/env bash
# The per-convolution benchmark's pieces, without judging any timing:
#   - bench/conv_table.py's arithmetic on made-up timings (GFLOP/s, % of peak, ratios,
#     n/a for a missing measurement, the mark above 100% of the peak), worked by hand;
#   - bad shape and result files refused with the file, line and problem;
#   - bench/conv_cpu.c, bench/ort_conv.js (with bench/make_conv_onnx.py) and, where
#     PyTorch is installed, bench/torch_conv.py on a tiny shape: their lines join in
#     conv_table.py.
set -u
cd "$(dirname "$0")/.."
CONV=${SD_BUILD:-build}/bench/conv_cpu
PY=/usr/bin/python3
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
passed=0 failed=0
pass() { passed=$((passed + 1)); }
fail() { failed=$((failed + 1)); echo "FAIL: $1"; sed 's/^/    /' "$tmp/out" | tail -n 20; }
refuse() {
    [ "$rc" -eq "$2" ] && [ "$(tail -n 1 "$tmp/out")" = "$3" ] && pass ||
        fail "$1: want exit $2 and '$3', got exit $rc"
}
# has_row TEXT: the table has a row that reads TEXT with single spaces
has_row() { tr -s ' ' < "$tmp/out" | grep -qxF "$1" && pass || fail "row '$1'"; }

# a: 16*32*32 outputs * 16*9 = 2,359,296 MACs per image; b (stride 2, 16x16 out):
# 32*16*16 * 16*9 = 1,179,648.
cat > "$tmp/shapes.txt" <<'EOF'
# test shapes
a  16 16 32 32 3 1 1
b  16 32 32 32 3 2 1
EOF
cat > "$tmp/ours.txt" <<'EOF'
conv_cpu: a header line is ignored
conv a batch 2 pass fwd median_ms 1.0000 min_ms 0.9000 reps 5 gflops 9.44
conv a batch 2 pass bwd_data median_ms 2.0 min_ms 1.5 reps 5
conv b batch 1 pass fwd median_ms 0.5 min_ms 0.5 reps 3
EOF
printf '%s\n' "conv b batch 1 pass fwd median_ms 0.25 min_ms 0.2 reps 9" \
    "conv a batch 2 pass fwd median_ms 2.0 min_ms 1.0 reps 5" > "$tmp/torch.txt"
printf '%s\n' "conv a batch 2 pass fwd median_ms 0.5 min_ms 0.5 reps 5" > "$tmp/ort.txt"
table() { $PY bench/conv_table.py --shapes "$tmp/shapes.txt" --peak 10 --peak-label "test peak" "$@" >"$tmp/out" 2>&1; rc=$?; }
table --ours "$tmp/ours.txt" --torch "$tmp/torch.txt" --ort "$tmp/ort.txt"
[ "$rc" -eq 0 ] && pass || fail "table: exit $rc"
# a, batch 2: 9,437,184 flops: 1 ms = 9.44 GFLOP/s = 94.4% of 10; torch 2 ms; ort 0.5 ms.
has_row "a 16->16 32x32 2 fwd 9.44 9.44 94.4% 4.72 47.2% 18.87 188.7%! 2.000 0.500"
has_row "a 16->16 32x32 2 bwd_data 9.44 4.72 47.2% n/a n/a n/a n/a n/a n/a"
# b, batch 1: 2,359,296 flops in 0.5 ms (ours) and 0.25 ms (torch).
has_row "b 16->32 32x32 s2 1 fwd 2.36 4.72 47.2% 9.44 94.4% n/a n/a 0.500 n/a"
rows=$(grep -cE '^(a|b) ' "$tmp/out")
[ "$rows" -eq 3 ] && pass || fail "table: $rows rows, want 3"
[ "$(grep -n '^a .* fwd ' "$tmp/out" | cut -d: -f1)" -lt "$(grep -n '^b ' "$tmp/out" | cut -d: -f1)" ] &&
    pass || fail "table: rows in shape-file order"
grep -q '^!: above the measured peak' "$tmp/out" && pass || fail "table: no note for 188.7%!"
grep -q '^per convolution shape: effective GFLOP/s .*%peak: of the test peak' "$tmp/out" && pass || fail "table: header"
table --ours "$tmp/ours.txt"
[ "$rc" -eq 0 ] && ! grep -q '^!:' "$tmp/out" && pass || fail "table without peers: exit $rc or a stray note"

echo "conv a batch x pass fwd median_ms 1 min_ms 1 reps 1" >> "$tmp/ort.txt"
table --ours "$tmp/ours.txt" --ort "$tmp/ort.txt"
refuse "malformed result line" 1 "conv_table: $tmp/ort.txt:2: not a result line: conv a batch x pass fwd median_ms 1 min_ms 1 reps 1"
echo "conv zz batch 1 pass fwd median_ms 1 min_ms 1 reps 1" > "$tmp/ort.txt"
table --ours "$tmp/ours.txt" --ort "$tmp/ort.txt"
refuse "unknown shape" 1 "conv_table: $tmp/ort.txt:1: shape 'zz' is not in the shape file"
echo "conv a batch 1 pass fwd median_ms 0 min_ms 0 reps 1" > "$tmp/ort.txt"
table --ours "$tmp/ours.txt" --ort "$tmp/ort.txt"
refuse "zero time" 1 "conv_table: $tmp/ort.txt:1: not a result line: conv a batch 1 pass fwd median_ms 0 min_ms 0 reps 1"
table --ours "$tmp/missing.txt"
refuse "missing result file" 1 "conv_table: $tmp/missing.txt: cannot read ([Errno 2] No such file or directory: '$tmp/missing.txt')"
$PY bench/conv_table.py --shapes "$tmp/shapes.txt" --peak 0 --peak-label x --ours "$tmp/ours.txt" >"$tmp/out" 2>&1
rc=$?
refuse "peak 0" 1 "conv_table: the peak must be positive, got 0.0"

printf 'c 4 8 6 6 3 3 3\n' > "$tmp/bad.txt"  # pad 3 with a 3x3 kernel
msg="expected: name in_c out_c in_h in_w kernel stride pad (positive, pad < kernel)"
$PY bench/conv_table.py --shapes "$tmp/bad.txt" --peak 1 --peak-label x --ours "$tmp/ours.txt" >"$tmp/out" 2>&1
rc=$?
refuse "bad shape line (Python)" 1 "conv_table: $tmp/bad.txt:1: $msg"
"$CONV" --shapes "$tmp/bad.txt" >"$tmp/out" 2>&1
rc=$?
refuse "bad shape line (C)" 2 "conv_cpu: $tmp/bad.txt:1: $msg"
printf 'a 4 8 6 6 3 1 1\na 4 8 6 6 3 1 1\n' > "$tmp/twice.txt"
$PY bench/conv_table.py --shapes "$tmp/twice.txt" --peak 1 --peak-label x --ours "$tmp/ours.txt" >"$tmp/out" 2>&1
rc=$?
refuse "shape named twice" 1 "conv_table: $tmp/twice.txt:2: shape 'a' named twice"
"$CONV" --shapes "$tmp/nowhere.txt" >"$tmp/out" 2>&1
rc=$?
refuse "missing shape file (C)" 2 "conv_cpu: $tmp/nowhere.txt: cannot open the shape file"
"$CONV" --shapes "$tmp/shapes.txt" --only zz >"$tmp/out" 2>&1
rc=$?
refuse "--only an unknown shape" 2 "conv_cpu: no shape named 'zz' in $tmp/shapes.txt"
"$CONV" --forward-batches 1,0 >"$tmp/out" 2>&1
rc=$?
refuse "batch 0" 2 "conv_cpu: bad or missing value for --forward-batches"

# The real tools on a tiny shape, one call each: their lines must join.
printf 'tiny 4 8 6 6 3 2 1\n' > "$tmp/tiny.txt"
"$CONV" --shapes "$tmp/tiny.txt" --threads 1 --forward-batches 1 --train-batches 2 \
    --min-seconds 0 --min-reps 1 >"$tmp/ours.txt" 2>"$tmp/out"
rc=$?
[ "$rc" -eq 0 ] && [ "$(grep -c '^conv tiny ' "$tmp/ours.txt")" -eq 4 ] && pass ||
    fail "conv_cpu on a tiny shape: exit $rc, want 4 lines"
models=$($PY bench/make_conv_onnx.py "$tmp/tiny.txt" "$tmp/onnx" 2>"$tmp/out")
[ "$models" = "$tmp/onnx/tiny.onnx" ] && pass || fail "make_conv_onnx: printed '$models'"
node bench/ort_conv.js 1 1,2 0 1 "$tmp/onnx/tiny.onnx" >"$tmp/ort.txt" 2>"$tmp/out"
rc=$?
[ "$rc" -eq 0 ] && [ "$(grep -c '^conv tiny batch [12] pass fwd ' "$tmp/ort.txt")" -eq 2 ] && pass ||
    fail "ort_conv.js: exit $rc, want 2 lines"
torch_args=()
if $PY -c 'import torch' 2>/dev/null; then
    $PY bench/torch_conv.py --shapes "$tmp/tiny.txt" --threads 1 --forward-batches 1 \
        --train-batches 2 --min-seconds 0 --min-reps 1 >"$tmp/torch.txt" 2>"$tmp/out"
    rc=$?
    [ "$rc" -eq 0 ] && [ "$(grep -c '^conv tiny ' "$tmp/torch.txt")" -eq 4 ] && pass ||
        fail "torch_conv.py: exit $rc, want 4 lines"
    torch_args=(--torch "$tmp/torch.txt")
else
    echo "SKIP: torch_conv.py needs PyTorch (tools/deps.sh bench)"
fi
$PY bench/conv_table.py --shapes "$tmp/tiny.txt" --peak 100 --peak-label x --ours "$tmp/ours.txt" \
    "${torch_args[@]}" --ort "$tmp/ort.txt" >"$tmp/out" 2>&1
rc=$?
[ "$rc" -eq 0 ] && [ "$(grep -c '^tiny ' "$tmp/out")" -eq 4 ] && pass || fail "joined table: exit $rc"
# tiny: 8*3*3 outputs * 4*9 = 2,592 MACs per image = 0.01 MFLOP at batch 2.
fwd_rows=$(grep -cE '^tiny +4->8 6x6 s2 +[12] +fwd +0\.01 +[0-9.]+ +[0-9.]+%!? ' "$tmp/out")
[ "$fwd_rows" -eq 2 ] && pass || fail "joined table: want two forward rows with our figures"
# Fields: name, 3 of conv, batch, pass, MFLOP, then GF/s and %peak of ours, torch, ort.
ort_rows=$(awk '$1 == "tiny" && $6 == "fwd" && $12 ~ /^[0-9.]+$/' "$tmp/out" | wc -l)
[ "$ort_rows" -eq 2 ] && pass || fail "joined table: want onnxruntime's two forward figures"

echo "t_conv_bench: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
