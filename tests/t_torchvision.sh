#!/usr/bin/env bash
# sdinfer on one tiny model per torchvision classification family (resnet, wide_resnet,
# resnext, mobilenet v2/v3, efficientnet v1/v2, regnet x/y, shufflenet, densenet,
# squeezenet, mnasnet, vgg, alexnet, googlenet), built from torchvision 0.14's own
# blocks and exported at opsets 13 and 17 (tests/make_torchvision_fixtures.py): logits
# within 1e-4 of PyTorch's (saved with the fixtures), and of onnxruntime's at opset 17.
# Needs: $SD_BIN/sdinfer, node (tests/node/node_modules), /usr/bin/python3 with onnx + numpy.
set -u
cd "$(dirname "$0")/.."
SDINFER=${SD_BIN:-build/bin}/sdinfer
PY=/usr/bin/python3
FIX=tests/fixtures/torchvision
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
passed=0 failed=0
. tests/check.sh
names=$(ls "$FIX"/*_logits.pb | sed 's|.*/||; s|_logits.pb$||')
check "the fixtures are there (17 families)" test "$(echo "$names" | wc -w)" -eq 17
pairs=()
for name in $names; do
    for opset in 13 17; do
        check "$name opset $opset runs" "$SDINFER" "$FIX/${name}_op$opset.onnx" \
            --input-tensor "$FIX/${name}_input.pb" --output-tensor "$tmp/$name.$opset.sd.pb"
        pairs+=("$tmp/$name.$opset.sd.pb" "$FIX/${name}_logits.pb")
    done
    check "$name: onnxruntime runs" node tests/ort_run_tensor.js "$FIX/${name}_op17.onnx" \
        "$FIX/${name}_input.pb" "$tmp/$name.ort.pb"
    pairs+=("$tmp/$name.17.sd.pb" "$tmp/$name.ort.pb")
done
# Every ReLU6 (Clip) of MobileNet v2 runs in the epilogue of the convolution before it,
# the depthwise ones included (plan_fusion.c): as many fused as the graph has Clips.
clips=$($PY -c "import onnx, sys; print(sum(n.op_type == 'Clip' for n in onnx.load(sys.argv[1]).graph.node))" \
    "$FIX/mobilenet_v2_op13.onnx")
"$SDINFER" "$FIX/mobilenet_v2_op13.onnx" --input-tensor "$FIX/mobilenet_v2_input.pb" \
    --output-tensor "$tmp/fused.pb" --verbose >"$tmp/fused.txt" 2>&1
check "mobilenet_v2: its $clips Clips fused into convolutions" grep -q " $clips Clip fused" "$tmp/fused.txt"
check "mobilenet_v2: a depthwise step clamps" grep -qE "conv_grouped .* \+clip\(0,6\)" "$tmp/fused.txt"
# x * f(x) runs as one step: EfficientNet's SiLU (f a Sigmoid) and MobileNetV3's HardSwish
# (f a HardSigmoid with alpha 1/6, beta 1/2: PyTorch's export before opset 14). As many
# as the graph has Muls of a value by its own f (counted here from the graph).
gated_muls() {  # MODEL GATE_OP
    $PY - "$1" "$2" <<'PYEOF'
import sys, onnx
nodes = onnx.load(sys.argv[1]).graph.node
def attr(n, name, default):
    return next((a.f for a in n.attribute if a.name == name), default)
def hard_swish_constants(n):
    return abs(attr(n, "alpha", 0.2) - 1 / 6) < 1e-7 and attr(n, "beta", 0.5) == 0.5
gate_of = {n.output[0]: n.input[0] for n in nodes if n.op_type == sys.argv[2]
           and (n.op_type == "Sigmoid" or hard_swish_constants(n))}
print(sum(n.op_type == "Mul" and len(n.input) == 2 and
          (gate_of.get(n.input[1]) == n.input[0] or gate_of.get(n.input[0]) == n.input[1])
          for n in nodes))
PYEOF
}
# check_gated NAME GATE_OP PHRASE: sdinfer's plan report names every such pair fused.
check_gated() {
    local count
    count=$(gated_muls "$FIX/$1_op13.onnx" "$2")
    "$SDINFER" "$FIX/$1_op13.onnx" --input-tensor "$FIX/$1_input.pb" \
        --output-tensor "$tmp/$1_gated.pb" --verbose >"$tmp/$1_gated.txt" 2>&1
    check "$1: at least one $2+Mul pair in the graph" test "${count:-0}" -gt 0
    check "$1: its $count $2+Mul pairs run as $3" grep -q " $count $2+Mul as $3" "$tmp/$1_gated.txt"
}
check_gated efficientnet_b0 Sigmoid SiLU
check_gated mobilenet_v3_large HardSigmoid HardSwish
# One Python process compares every pair (max |a-b| <= 1e-4 (1 + |b|), same argmax).
check "sdinfer vs PyTorch and onnxruntime (${#pairs[@]} files)" $PY - "${pairs[@]}" <<'PYEOF'
import sys
import numpy as np
import onnx
from onnx import numpy_helper
load = lambda path: numpy_helper.to_array(onnx.load_tensor(path))
bad = 0
for ours, reference in zip(sys.argv[1::2], sys.argv[2::2]):
    a, b = load(ours), load(reference)
    excess = np.abs(a - b) - 1e-4 * (1 + np.abs(b)) if a.shape == b.shape else np.array([np.inf])
    if excess.max() > 0 or a.argmax() != b.argmax():
        bad += 1
        print("%s vs %s: shapes %s %s, max |diff| %.3g" % (ours, reference, a.shape, b.shape,
              float(np.abs(a - b).max()) if a.shape == b.shape else float("inf")))
print("%d pairs, %d differ" % (len(sys.argv[1:]) // 2, bad))
sys.exit(1 if bad else 0)
PYEOF
echo "t_torchvision: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
