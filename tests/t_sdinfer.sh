#!/usr/bin/env bash
# sdinfer end to end: logits vs PyTorch's saved output and vs onnxruntime (1e-4) (the
# tiny ResNet, and a CIFAR ResNet whose F.pad shortcuts export as shape computations),
# dynamic batch, refusals (exit 2 with node + op + reason for every error file of
# the corpus), precision/device refusals, a Fashion-MNIST evaluation whose
# predictions CSV is checked row by row against onnxruntime on independently
# normalised images, and --bench.
# Needs: $SD_BIN/sdinfer, node (tests/node/node_modules), /usr/bin/python3 with onnx + numpy.
set -u
cd "$(dirname "$0")/.."
SDINFER=${SD_BIN:-build/bin}/sdinfer
PY=/usr/bin/python3
FIX=tests/fixtures
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
passed=0 failed=0
. tests/check.sh
expect_exit() {  # expect_exit CODE "message substring" command...
    local code=$1 text=$2; shift 2
    "$@" >"$tmp/out.txt" 2>"$tmp/err.txt"
    local rc=$?
    [ "$rc" -eq "$code" ] || { echo "exit $rc, expected $code"; cat "$tmp/err.txt"; return 1; }
    grep -qF -- "$text" "$tmp/err.txt" || { echo "stderr lacks '$text':"; cat "$tmp/err.txt"; return 1; }
}

# ---- logits: PyTorch and onnxruntime --------------------------------------------
for model in tiny_resnet tiny_resnet_fused; do
    check "$model runs" "$SDINFER" "$FIX/$model.onnx" --input-tensor "$FIX/tiny_resnet_input.pb" \
        --output-tensor "$tmp/$model.sd.pb"
    check "$model: sdinfer vs PyTorch" $PY tests/sdinfer_check.py compare "$tmp/$model.sd.pb" \
        "$FIX/tiny_resnet_logits.pb" 1e-4
    check "$model: onnxruntime runs" node tests/ort_run_tensor.js "$FIX/$model.onnx" \
        "$FIX/tiny_resnet_input.pb" "$tmp/$model.ort.pb"
    check "$model: sdinfer vs onnxruntime" $PY tests/sdinfer_check.py compare "$tmp/$model.sd.pb" \
        "$tmp/$model.ort.pb" 1e-4
done
# A CIFAR ResNet written the common PyTorch way: option-A shortcuts as F.pad on a strided
# slice, exported as shape computations (Shape, Gather, ConstantOfShape, Transpose, Cast, ...)
# that sdinfer evaluates when it plans (tests/make_cifar_pad_fixture.py).
for opset in 13 17; do
    model="$FIX/cifar_pad_resnet_op$opset.onnx"
    check "cifar F.pad opset $opset runs" "$SDINFER" "$model" \
        --input-tensor "$FIX/cifar_pad_input.pb" --output-tensor "$tmp/pad$opset.sd.pb"
    check "cifar F.pad opset $opset: sdinfer vs PyTorch" $PY tests/sdinfer_check.py compare \
        "$tmp/pad$opset.sd.pb" "$FIX/cifar_pad_logits.pb" 1e-4
    check "cifar F.pad opset $opset: onnxruntime runs" node tests/ort_run_tensor.js "$model" \
        "$FIX/cifar_pad_input.pb" "$tmp/pad$opset.ort.pb"
    check "cifar F.pad opset $opset: sdinfer vs onnxruntime" $PY tests/sdinfer_check.py compare \
        "$tmp/pad$opset.sd.pb" "$tmp/pad$opset.ort.pb" 1e-4
done
# The shapes it computes follow the batch size the plan is made for.
check "tile cifar batch 7" $PY tests/sdinfer_check.py tile "$FIX/cifar_pad_input.pb" 7 "$tmp/p7.pb"
check "cifar F.pad batch 7 runs" "$SDINFER" "$FIX/cifar_pad_resnet_op13.onnx" \
    --input-tensor "$tmp/p7.pb" --output-tensor "$tmp/p7.sd.pb"
check "cifar F.pad batch 7 onnxruntime" node tests/ort_run_tensor.js \
    "$FIX/cifar_pad_resnet_op13.onnx" "$tmp/p7.pb" "$tmp/p7.ort.pb"
check "cifar F.pad batch 7: sdinfer vs onnxruntime" $PY tests/sdinfer_check.py compare \
    "$tmp/p7.sd.pb" "$tmp/p7.ort.pb" 1e-4

# A batch size the export never saw (dynamic batch axis).
check "tile batch 13" $PY tests/sdinfer_check.py tile "$FIX/tiny_resnet_input.pb" 13 "$tmp/x13.pb"
check "batch 13 runs" "$SDINFER" "$FIX/tiny_resnet.onnx" --input-tensor "$tmp/x13.pb" \
    --output-tensor "$tmp/y13.sd.pb"
check "batch 13 onnxruntime" node tests/ort_run_tensor.js "$FIX/tiny_resnet.onnx" "$tmp/x13.pb" \
    "$tmp/y13.ort.pb"
check "batch 13: sdinfer vs onnxruntime" $PY tests/sdinfer_check.py compare "$tmp/y13.sd.pb" \
    "$tmp/y13.ort.pb" 1e-4

# ---- refusals: exit 2 and the message names node, op and reason -------------------
while IFS=$'\t' read -r file result stage message; do
    case "$file" in \#*|"") continue;; esac
    [ "$result" = ok ] && continue
    check "refuses $file" expect_exit 2 "$message" "$SDINFER" "tests/corpus/onnx/$file" \
        --bench 1 --warmup 0
done < tests/corpus/onnx/expected.tsv
check "fixed batch vs --batch-size" expect_exit 2 "fixed batch size of 1" \
    "$SDINFER" tests/corpus/onnx/ok_conv_relu.onnx --bench 1 --batch-size 3
check "cpu refuses fp16" expect_exit 2 "does not offer precision 'fp16'" \
    "$SDINFER" "$FIX/tiny_resnet.onnx" --bench 1 --precision fp16
check "SDINFER_CHUNK that is not a number" expect_exit 2 \
    "sdinfer: SDINFER_CHUNK='abc': expected a number of images >= 0 (0: no lanes)" \
    env SDINFER_CHUNK=abc "$SDINFER" "$FIX/tiny_resnet.onnx" --bench 1 --batch-size 8
check "batch 8 on 2 threads runs as lanes" bash -c "'$SDINFER' '$FIX/tiny_resnet.onnx' --bench 1 \
    --warmup 0 --batch-size 8 --threads 2 | grep -q '^batch: 2 lanes x 4 images (each: '"
check "SDINFER_CHUNK=0: one plan" bash -c "SDINFER_CHUNK=0 '$SDINFER' '$FIX/tiny_resnet.onnx' \
    --bench 1 --warmup 0 --batch-size 8 --threads 2 | grep -qx 'batch: one plan (SDINFER_CHUNK=0)'"
check "unknown option" expect_exit 2 "unknown option --frobnicate" \
    "$SDINFER" "$FIX/tiny_resnet.onnx" --frobnicate 3
check "missing model file" expect_exit 2 "cannot open" "$SDINFER" "$tmp/none.onnx" --bench 1
# protobuf's limit (2 GiB - 1), checked from the size before anything is read (a sparse file).
truncate -s 2147483648 "$tmp/over_2gib.onnx"
check "a model file over 2 GiB - 1 bytes" expect_exit 2 \
    "sdinfer: $tmp/over_2gib.onnx: file is 2147483648 bytes, more than the limit of 2147483647 bytes" \
    "$SDINFER" "$tmp/over_2gib.onnx" --bench 1
check "nothing to do" expect_exit 2 "no data set" "$SDINFER" "$FIX/tiny_resnet.onnx"
check "wrong input shape" expect_exit 2 "does not take fashion-mnist images" \
    "$SDINFER" "$FIX/tiny_resnet.onnx" --dataset fashion-mnist --limit 10
check "missing data dir" expect_exit 1 "$tmp/nodata" \
    "$SDINFER" "$FIX/fmnist_resnet.onnx" --data "$tmp/nodata"

# ---- Fashion-MNIST evaluation: the CSV against onnxruntime ---------------------------
FMNIST=/usr/share/datasets/fashion-mnist
N=300
check "fmnist eval runs" "$SDINFER" "$FIX/fmnist_resnet.onnx" --limit $N --batch-size 64 \
    --predictions "$tmp/pred.csv"
cp "$tmp/check.log" "$tmp/report.txt"
check "report has throughput and latency" grep -q "images/s.*" "$tmp/report.txt"
check "report has p50/p99" grep -q "p50 .* ms, p99 .* ms" "$tmp/report.txt"
check "report has peak memory" grep -q "activations .* MiB peak" "$tmp/report.txt"
check "reference batch" $PY tests/sdinfer_check.py fmnist-batch $FMNIST $N 0.2860 0.3530 \
    "$tmp/fm.pb" "$tmp/labels.txt"
check "reference logits" node tests/ort_run_tensor.js "$FIX/fmnist_resnet.onnx" "$tmp/fm.pb" \
    "$tmp/fm_logits.pb"
check "predictions CSV vs onnxruntime" $PY tests/sdinfer_check.py check-predictions \
    "$tmp/pred.csv" "$tmp/labels.txt" "$tmp/fm_logits.pb" "$tmp/report.txt"
# Without metadata: a warning and pixel/255, or --mean/--std giving the metadata's result.
check "strip metadata" $PY -c "import onnx, sys; m = onnx.load(sys.argv[1]); \
del m.metadata_props[:]; onnx.save(m, sys.argv[2])" "$FIX/fmnist_resnet.onnx" "$tmp/bare.onnx"
check "no normalisation: warning" expect_exit 0 "warning: the model carries no normalisation" \
    "$SDINFER" "$tmp/bare.onnx" --dataset fashion-mnist --limit 64
check "--mean/--std run" "$SDINFER" "$tmp/bare.onnx" --dataset fashion-mnist --limit $N \
    --batch-size 64 --mean 0.2860 --std 0.3530 --predictions "$tmp/pred_cli.csv"
check "--mean/--std = metadata normalisation" cmp "$tmp/pred.csv" "$tmp/pred_cli.csv"
check "bench on the first batch" "$SDINFER" "$FIX/fmnist_resnet.onnx" --bench 5 --batch-size 32
cp "$tmp/check.log" "$tmp/bench.txt"
check "bench printed" grep -q "bench: 5 batches of 32 (first test batch)" "$tmp/bench.txt"
check "bench key lines" grep -qE "^images/s: [0-9.]+$" "$tmp/bench.txt"
check "bench p99 key line" grep -qE "^latency p99 ms: [0-9.]+$" "$tmp/bench.txt"

check "profile runs" "$SDINFER" "$FIX/tiny_resnet.onnx" --bench 2 --batch-size 8 --profile
cp "$tmp/check.log" "$tmp/profile.txt"
check "profile lists the conv steps with times" grep -q "conv .* ms (" "$tmp/profile.txt"

echo "t_sdinfer: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
