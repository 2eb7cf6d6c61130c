#!/usr/bin/env bash
# The main job, on Fashion-MNIST from Debian's dataset-fashion-mnist, on the CPU:
# train a ResNet-20 with stochastic depth (linear decay to p_L = 0.5) on a short
# schedule, export the best checkpoint to ONNX, and evaluate the export with sdinfer.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${SD_BIN:-bin}
OUT=${DEMO_OUT:-runs/demo}
rm -rf "$OUT"
mkdir -p "$OUT"

echo "== 1. train: sdtrain (ResNet-20, stochastic depth, 5 short epochs on 20000 images)"
"$BIN/sdtrain" --dataset fashion-mnist --model resnet20-cifar --survival linear --p-last 0.5 \
    --epochs 5 --batch-size 64 --lr 0.1 --lr-steps 3,4 --train-limit 20000 --val-size 2000 \
    --seed 1 --out "$OUT"

if [ -x "$BIN/sdexport" ]; then
    echo "== 2. export: sdexport best.ckpt -> model.onnx (p_l folded into the weights)"
    "$BIN/sdexport" "$OUT/best.ckpt" -o "$OUT/model.onnx"
fi
if [ -x "$BIN/sdinfer" ] && [ -f "$OUT/model.onnx" ]; then
    echo "== 3. evaluate the export: sdinfer on the Fashion-MNIST test set"
    "$BIN/sdinfer" "$OUT/model.onnx" --dataset fashion-mnist --batch-size 256
fi
echo "== done: everything is in $OUT (log.csv, best.ckpt, last.ckpt, model.onnx)"
