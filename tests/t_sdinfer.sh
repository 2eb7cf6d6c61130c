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
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
pass=0 fail=0
check() {  # check "what" command...
    local what=$1; shift
    if "$@" >"$TMP/check.log" 2>&1; then pass=$((pass + 1)); else
        fail=$((fail + 1)); echo "FAIL: $what"; sed 's/^/    /' "$TMP/check.log"; fi
}
expect_exit() {  # expect_exit CODE "message substring" command...
    local code=$1 text=$2; shift 2
    "$@" >"$TMP/out.txt" 2>"$TMP/err.txt"
    local rc=$?
    [ "$rc" -eq "$code" ] || { echo "exit $rc, expected $code"; cat "$TMP/err.txt"; return 1; }
    grep -qF -- "$text" "$TMP/err.txt" || { echo "stderr lacks '$text':"; cat "$TMP/err.txt"; return 1; }
}

# ---- logits: PyTorch and onnxruntime --------------------------------------------
for model in tiny_resnet tiny_resnet_fused; do
    check "$model runs" "$SDINFER" "$FIX/$model.onnx" --input-tensor "$FIX/tiny_resnet_input.pb" \
        --output-tensor "$TMP/$model.sd.pb"
    check "$model: sdinfer vs PyTorch" $PY tests/sdinfer_check.py compare "$TMP/$model.sd.pb" \
        "$FIX/tiny_resnet_logits.pb" 1e-4
    check "$model: onnxruntime runs" node tests/ort_run_tensor.js "$FIX/$model.onnx" \
        "$FIX/tiny_resnet_input.pb" "$TMP/$model.ort.pb"
    check "$model: sdinfer vs onnxruntime" $PY tests/sdinfer_check.py compare "$TMP/$model.sd.pb" \
        "$TMP/$model.ort.pb" 1e-4
done
# A CIFAR ResNet written the common PyTorch way: option-A shortcuts as F.pad on a strided
# slice, exported as shape computations (Shape, Gather, ConstantOfShape, Transpose, Cast, ...)
# that sdinfer evaluates when it plans (tests/make_cifar_pad_fixture.py).
for opset in 13 17; do
    model="$FIX/cifar_pad_resnet_op$opset.onnx"
    check "cifar F.pad opset $opset runs" "$SDINFER" "$model" \
        --input-tensor "$FIX/cifar_pad_input.pb" --output-tensor "$TMP/pad$opset.sd.pb"
    check "cifar F.pad opset $opset: sdinfer vs PyTorch" $PY tests/sdinfer_check.py compare \
        "$TMP/pad$opset.sd.pb" "$FIX/cifar_pad_logits.pb" 1e-4
    check "cifar F.pad opset $opset: onnxruntime runs" node tests/ort_run_tensor.js "$model" \
        "$FIX/cifar_pad_input.pb" "$TMP/pad$opset.ort.pb"
    check "cifar F.pad opset $opset: sdinfer vs onnxruntime" $PY tests/sdinfer_check.py compare \
        "$TMP/pad$opset.sd.pb" "$TMP/pad$opset.ort.pb" 1e-4
done
# The shapes it computes follow the batch size the plan is made for.
check "tile cifar batch 7" $PY tests/sdinfer_check.py tile "$FIX/cifar_pad_input.pb" 7 "$TMP/p7.pb"
check "cifar F.pad batch 7 runs" "$SDINFER" "$FIX/cifar_pad_resnet_op13.onnx" \
    --input-tensor "$TMP/p7.pb" --output-tensor "$TMP/p7.sd.pb"
check "cifar F.pad batch 7 onnxruntime" node tests/ort_run_tensor.js \
    "$FIX/cifar_pad_resnet_op13.onnx" "$TMP/p7.pb" "$TMP/p7.ort.pb"
check "cifar F.pad batch 7: sdinfer vs onnxruntime" $PY tests/sdinfer_check.py compare \
    "$TMP/p7.sd.pb" "$TMP/p7.ort.pb" 1e-4

# A batch size the export never saw (dynamic batch axis).
check "tile batch 13" $PY tests/sdinfer_check.py tile "$FIX/tiny_resnet_input.pb" 13 "$TMP/x13.pb"
check "batch 13 runs" "$SDINFER" "$FIX/tiny_resnet.onnx" --input-tensor "$TMP/x13.pb" \
    --output-tensor "$TMP/y13.sd.pb"
check "batch 13 onnxruntime" node tests/ort_run_tensor.js "$FIX/tiny_resnet.onnx" "$TMP/x13.pb" \
    "$TMP/y13.ort.pb"
check "batch 13: sdinfer vs onnxruntime" $PY tests/sdinfer_check.py compare "$TMP/y13.sd.pb" \
    "$TMP/y13.ort.pb" 1e-4

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
check "missing model file" expect_exit 2 "cannot open" "$SDINFER" "$TMP/none.onnx" --bench 1
# protobuf's limit (2 GiB - 1), checked from the size before anything is read (a sparse file).
truncate -s 2147483648 "$TMP/over_2gib.onnx"
check "a model file over 2 GiB - 1 bytes" expect_exit 2 \
    "sdinfer: $TMP/over_2gib.onnx: file is 2147483648 bytes, more than the limit of 2147483647 bytes" \
    "$SDINFER" "$TMP/over_2gib.onnx" --bench 1
check "nothing to do" expect_exit 2 "no data set" "$SDINFER" "$FIX/tiny_resnet.onnx"
check "wrong input shape" expect_exit 2 "does not take fashion-mnist images" \
    "$SDINFER" "$FIX/tiny_resnet.onnx" --dataset fashion-mnist --limit 10
check "missing data dir" expect_exit 1 "$TMP/nodata" \
    "$SDINFER" "$FIX/fmnist_resnet.onnx" --data "$TMP/nodata"

# ---- Fashion-MNIST evaluation: the CSV against onnxruntime ---------------------------
FMNIST=/usr/share/datasets/fashion-mnist
N=300
check "fmnist eval runs" "$SDINFER" "$FIX/fmnist_resnet.onnx" --limit $N --batch-size 64 \
    --predictions "$TMP/pred.csv"
cp "$TMP/check.log" "$TMP/report.txt"
check "report has throughput and latency" grep -q "images/s.*" "$TMP/report.txt"
check "report has p50/p99" grep -q "p50 .* ms, p99 .* ms" "$TMP/report.txt"
check "report has peak memory" grep -q "activations .* MiB peak" "$TMP/report.txt"
check "reference batch" $PY tests/sdinfer_check.py fmnist-batch $FMNIST $N 0.2860 0.3530 \
    "$TMP/fm.pb" "$TMP/labels.txt"
check "reference logits" node tests/ort_run_tensor.js "$FIX/fmnist_resnet.onnx" "$TMP/fm.pb" \
    "$TMP/fm_logits.pb"
check "predictions CSV vs onnxruntime" $PY tests/sdinfer_check.py check-predictions \
    "$TMP/pred.csv" "$TMP/labels.txt" "$TMP/fm_logits.pb" "$TMP/report.txt"
# Without metadata: a warning and pixel/255, or --mean/--std giving the metadata's result.
check "strip metadata" $PY -c "import onnx, sys; m = onnx.load(sys.argv[1]); \
del m.metadata_props[:]; onnx.save(m, sys.argv[2])" "$FIX/fmnist_resnet.onnx" "$TMP/bare.onnx"
check "no normalisation: warning" expect_exit 0 "warning: the model carries no normalisation" \
    "$SDINFER" "$TMP/bare.onnx" --dataset fashion-mnist --limit 64
check "--mean/--std run" "$SDINFER" "$TMP/bare.onnx" --dataset fashion-mnist --limit $N \
    --batch-size 64 --mean 0.2860 --std 0.3530 --predictions "$TMP/pred_cli.csv"
check "--mean/--std = metadata normalisation" cmp "$TMP/pred.csv" "$TMP/pred_cli.csv"
check "bench on the first batch" "$SDINFER" "$FIX/fmnist_resnet.onnx" --bench 5 --batch-size 32
cp "$TMP/check.log" "$TMP/bench.txt"
check "bench printed" grep -q "bench: 5 batches of 32 (first test batch)" "$TMP/bench.txt"
check "bench key lines" grep -qE "^images/s: [0-9.]+$" "$TMP/bench.txt"
check "bench p99 key line" grep -qE "^latency p99 ms: [0-9.]+$" "$TMP/bench.txt"

check "profile runs" "$SDINFER" "$FIX/tiny_resnet.onnx" --bench 2 --batch-size 8 --profile
cp "$TMP/check.log" "$TMP/profile.txt"
check "profile lists the conv steps with times" grep -q "conv .* ms (" "$TMP/profile.txt"

echo "t_sdinfer: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
