#!/usr/bin/env bash
# The whole chain on real Fashion-MNIST test images: sdtrain -> sdexport -> sdinfer.
#  - sdinfer on the export (folded and --keep-bn) gives exactly sdtrain's own test error
#    (same images, same count), and on a --with-preprocessing export (the current form and
#    the older [1,C,1,1] one) the folded export's predictions, normalising as the model's
#    metadata says;
#  - sdinfer's logits on the export match onnxruntime's within 1e-4.
set -u
cd "$(dirname "$0")/.."
BIN=${SD_BIN:-bin}
PY=/usr/bin/python3
FMNIST=/usr/share/datasets/fashion-mnist
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
passed=0 failed=0
. tests/check.sh
N=1000
check "sdtrain: 1 epoch of ResNet-20 with stochastic depth" "$BIN/sdtrain" \
    --dataset fashion-mnist --model resnet20-cifar --epochs 1 --batch-size 64 \
    --train-limit 1024 --val-size 500 --test-limit $N --threads 2 --seed 3 --out "$tmp/run"
# test_error of the (only, hence best) epoch, as a count of wrong images.
wrong_train=$(awk -F, -v n=$N 'NR == 2 { printf "%d", $6 * n + 0.5 }' "$tmp/run/log.csv")
# sdinfer takes the normalisation from the metadata: norm_mean/norm_std for the plain
# exports, pixel/255 into a --with-preprocessing one (the graph's Sub/Div, [C,1,1]
# constants). "old" is a --with-preprocessing export rewritten to the [1,C,1,1] constants
# sdexport wrote before: older exports still evaluate the same. The two preprocessing
# files run on the first M images only (sdinfer is slow under the sanitizers) and must
# give the folded export's predictions there.
M=200
PRE="none: the model normalises pixel/255 itself"
evaluate() {  # evaluate WHAT MODEL WANT_NORMALISATION LIMIT
    local what=$1 model=$2 want=$3 limit=$4
    check "sdinfer $what on the first $limit test images" bash -c \
        "'$BIN/sdinfer' '$model' --dataset fashion-mnist --limit $limit --batch-size 100 \
         --threads 2 --predictions '$tmp/pred.csv' > '$tmp/infer.txt' 2>&1"
    check "sdinfer $what: normalisation from the metadata ($want)" grep -q "normalisation: $want" \
        "$tmp/infer.txt"
}
for flags in "" "--keep-bn"; do
    # shellcheck disable=SC2086
    check "sdexport $flags" "$BIN/sdexport" "$tmp/run/best.ckpt" -o "$tmp/model$flags.onnx" $flags
    evaluate "$flags" "$tmp/model$flags.onnx" "the model's metadata" $N
    wrong_infer=$(sed -nE 's/.*top-1 error [0-9.]+% \(([0-9]+) wrong\).*/\1/p' "$tmp/infer.txt")
    check "sdinfer $flags: same test error as sdtrain ($wrong_train wrong of $N)" \
        test "${wrong_infer:-x}" = "$wrong_train"
    [ -z "$flags" ] && head -n $((M + 1)) "$tmp/pred.csv" >"$tmp/pred_folded.csv"
done
# index,label,prediction identical, probability within 1e-5 (printed with 6 decimals).
same_predictions() {
    awk -F, 'NR == FNR { want[FNR] = $0; next }
        { split(want[FNR], w, ",")
          if ($1 != w[1] || $2 != w[2] || $3 != w[3] || ($4 - w[4]) ^ 2 > 1e-10) {
              print "row " FNR ": " $0 " vs folded " want[FNR]; bad = 1 } }
        END { if (FNR != NR - FNR) { print "row counts differ"; bad = 1 }
              print FNR " rows compared"; exit bad }' "$tmp/pred_folded.csv" "$1"
}
check "sdexport --with-preprocessing" "$BIN/sdexport" "$tmp/run/best.ckpt" -o "$tmp/current.onnx" \
    --with-preprocessing
check "old-form export ([1,C,1,1] mean/std)" "$PY" tests/export_check.py old-preprocessing \
    "$tmp/current.onnx" "$tmp/old.onnx"
for form in current old; do
    evaluate "on the $form form of a --with-preprocessing export" "$tmp/$form.onnx" "$PRE" $M
    check "$form form: the folded export's predictions on $M images" same_predictions "$tmp/pred.csv"
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
