#!/usr/bin/env bash
# The whole chain on real Fashion-MNIST test images: sdtrain -> sdexport -> sdinfer.
#  - sdinfer on the export gives exactly sdtrain's own test error (same images, same count);
#  - sdinfer's logits on the export match onnxruntime's within 1e-4.
set -u
cd "$(dirname "$0")/.."
BIN=${SD_BIN:-bin}
PY=/usr/bin/python3
FMNIST=/usr/share/datasets/fashion-mnist
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
passed=0 failed=0
check() {
    local what=$1; shift
    if "$@" >"$tmp/out" 2>&1; then passed=$((passed + 1)); else
        failed=$((failed + 1)); echo "FAIL: $what"; sed 's/^/    /' "$tmp/out" | tail -n 20; fi
}
N=1000
check "sdtrain: 1 epoch of ResNet-20 with stochastic depth" "$BIN/sdtrain" \
    --dataset fashion-mnist --model resnet20-cifar --epochs 1 --batch-size 64 \
    --train-limit 1024 --val-size 500 --test-limit $N --threads 2 --seed 3 --out "$tmp/run"
# test_error of the (only, hence best) epoch, as a count of wrong images.
wrong_train=$(awk -F, -v n=$N 'NR == 2 { printf "%d", $6 * n + 0.5 }' "$tmp/run/log.csv")
for flags in "" "--keep-bn"; do
    # shellcheck disable=SC2086
    check "sdexport $flags" "$BIN/sdexport" "$tmp/run/best.ckpt" -o "$tmp/model.onnx" $flags
    check "sdinfer $flags on the same $N test images" bash -c \
        "'$BIN/sdinfer' '$tmp/model.onnx' --dataset fashion-mnist --limit $N --batch-size 100 \
         --threads 2 > '$tmp/infer.txt' 2>&1"
    wrong_infer=$(sed -nE 's/.*top-1 error [0-9.]+% \(([0-9]+) wrong\).*/\1/p' "$tmp/infer.txt")
    check "sdinfer $flags: same test error as sdtrain ($wrong_train wrong of $N)" \
        test "${wrong_infer:-x}" = "$wrong_train"
done
# Logits on a normalised batch: sdinfer vs onnxruntime on the same exported file.
read -r mean std < <("$PY" -c "import onnx,sys; m={p.key:p.value for p in onnx.load(sys.argv[1]).metadata_props}; print(m['norm_mean'], m['norm_std'])" "$tmp/model.onnx")
check "normalised batch of 64" "$PY" tests/sdinfer_check.py fmnist-batch "$FMNIST" 64 "$mean" "$std" \
    "$tmp/x.pb" "$tmp/labels.txt"
check "sdinfer logits" "$BIN/sdinfer" "$tmp/model.onnx" --input-tensor "$tmp/x.pb" \
    --output-tensor "$tmp/sd.pb"
check "onnxruntime logits" node tests/ort_run_tensor.js "$tmp/model.onnx" "$tmp/x.pb" "$tmp/ort.pb"
check "sdinfer vs onnxruntime within 1e-4" "$PY" tests/sdinfer_check.py compare "$tmp/sd.pb" \
    "$tmp/ort.pb" 1e-4
echo "t_pipeline: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
