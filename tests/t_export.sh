#!/usr/bin/env bash
# sdexport end to end: every exported model passes onnx.checker (full_check) and
# runs unchanged in onnxruntime-node (CPU) with the logits of the network's own
# NET_EVAL forward pass (net_forward on the CPU backend) on the same batch.
#
# Fixtures come from `test_export write` (a randomised network whose BN running
# statistics come from training-mode passes, saved with checkpoint_save, plus a
# batch and its logits). To test another network, add a line to CASES below.
set -u
cd "$(dirname "$0")/.."
BIN=${SD_BIN:-build/bin}
BUILD=${SD_BUILD:-build}
SDEXPORT=$BIN/sdexport
FIXTURE=$BUILD/tests/test_export
PY=/usr/bin/python3
TOL=1e-4
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
passed=0 failed=0
check() {  # check "what" command...
    local what=$1; shift
    if "$@" >"$tmp/out" 2>&1; then
        passed=$((passed + 1))
        grep -h "max |diff|" "$tmp/out" | sed "s/^/  $what: /"
    else
        failed=$((failed + 1)); echo "FAIL: $what"; sed 's/^/    /' "$tmp/out" | tail -n 20
    fi
}
expect_exit() {  # expect_exit CODE "output substring" command...: exactly that exit and message
    local code=$1 text=$2; shift 2
    "$@" >"$tmp/expect.out" 2>&1
    local rc=$?
    cat "$tmp/expect.out"
    [ "$rc" -eq "$code" ] || { echo "exit $rc, expected $code"; return 1; }
    grep -qF -- "$text" "$tmp/expect.out" || { echo "output lacks '$text'"; return 1; }
}
ort_run() { (cd tests/node && node ../onnx_run.js "$@"); }

# ---- presets (stage sizes chosen so every option-A halving sees an even size) ----
cat >"$tmp/cifar.txt" <<'P'
name tiny-cifar
block basic
shortcut A
stem 8 3 1
stem-pool none
stages 2x8 2x16 2x32
P
cat >"$tmp/imagenet.txt" <<'P'
name tiny-imagenet
block bottleneck
shortcut projection
stem 8 7 2
stem-pool max
stages 1x4 2x8 1x16
P

# name preset C,H,W classes rule p_last batch | sdexport flags
CASES=(
    "cifar-linear      cifar    3,16,16 10 linear  0.5 4 |"
    "cifar-linear-bn   cifar    3,16,16 10 linear  0.5 4 | --keep-bn"
    "cifar-linear-pre  cifar    3,16,16 10 linear  0.5 4 | --with-preprocessing"
    "cifar-bn-pre      cifar    3,16,16 10 linear  0.5 4 | --keep-bn --with-preprocessing"
    "cifar-uniform     cifar    3,16,16 10 uniform 0.8 4 |"
    "cifar-uniform-bn  cifar    3,16,16 10 uniform 0.8 4 | --keep-bn"
    "cifar-none        cifar    3,16,16 10 none    1   4 |"
    "cifar-opset11     cifar    3,16,16 10 linear  0.5 4 | --opset 11"
    "cifar-opset17-bn  cifar    3,16,16 10 linear  0.5 4 | --opset 17 --keep-bn"
    "cifar-batch4      cifar    3,16,16 10 linear  0.5 4 | --batch 4"
    "fmnist-linear     cifar    1,28,28 10 linear  0.5 3 |"
    "fmnist-pre        cifar    1,28,28 10 linear  0.5 3 | --with-preprocessing"
    "imagenet-linear   imagenet 3,64,64 7  linear  0.5 2 |"
    "imagenet-bn-pre   imagenet 3,64,64 7  linear  0.5 2 | --keep-bn --with-preprocessing"
)

run_case() {
    local spec=${1%%|*} flags=${1#*|}
    # shellcheck disable=SC2086
    set -- $spec
    local name=$1 preset=$2 shape=$3 classes=$4 rule=$5 p_last=$6 batch=$7
    local dir="$tmp/$name"
    mkdir -p "$dir"
    check "$name: fixture" "$FIXTURE" write "$dir" "$tmp/$preset.txt" "$shape" "$classes" \
        "$rule" "$p_last" "$batch" 1
    # shellcheck disable=SC2086
    check "$name: sdexport$flags" "$SDEXPORT" "$dir/model.safetensors" -o "$dir/model.onnx" $flags
    local pre=0 ops="Conv,Relu,Add,GlobalAveragePool,Flatten,Gemm" no_ops="Mul"
    case "$flags" in *--with-preprocessing*) pre=1 ops="$ops,Sub,Div";; esac
    case "$flags" in *--keep-bn*) ops="$ops,BatchNormalization";; *) no_ops="$no_ops,BatchNormalization";; esac
    check "$name: onnx.checker full_check + metadata" "$PY" tests/export_check.py check \
        "$dir/model.onnx" "with_preprocessing=$pre" "survival_rule=$rule" "classes=$classes" \
        "preset=tiny-$preset" --ops "$ops" --no-ops "$no_ops"
    # With preprocessing the model gets raw [0,1] pixels, the network normalised ones.
    local input="$dir/input.f32"
    [ "$pre" = 1 ] && input="$dir/input_raw.f32"
    check "$name: onnxruntime-node runs it" ort_run "$dir/model.onnx" "$input" "$batch,$shape" "$dir/ort.f32"
    check "$name: ORT logits = net_forward(NET_EVAL)" "$PY" tests/export_check.py compare \
        "$dir/ort.f32" "$dir/logits.f32" "$TOL"
}

for c in "${CASES[@]}"; do run_case "$c"; done

# A dynamic batch really is dynamic: the first image alone gives the first row.
d=$tmp/cifar-linear
per_image=$((3 * 16 * 16 * 4))
head -c $per_image "$d/input.f32" >"$d/one.f32"
check "dynamic batch: N=1 run" ort_run "$d/model.onnx" "$d/one.f32" "1,3,16,16" "$d/ort1.f32"
check "dynamic batch: N=1 row matches" "$PY" tests/export_check.py compare "$d/ort1.f32" \
    "$d/logits.f32" "$TOL" --rows 1 --cols 10
check "fixed batch 4 refuses N=1" expect_exit 1 \
    "onnx_run.js: onnxruntime refused: Got invalid dimensions for input" \
    ort_run "$tmp/cifar-batch4/model.onnx" "$d/one.f32" "1,3,16,16" "$d/ort1.f32"

# The comparison can tell test-time rules apart: the fixtures share their weights
# (same seed), so the p_l = 1 model must miss the linear-rule network's logits.
check "p_l matters: rule none != linear network" expect_exit 1 "ABOVE tolerance" \
    "$PY" tests/export_check.py compare "$tmp/cifar-none/ort.f32" "$d/logits.f32" 1e-2

# ---- a trained network: sdtrain on Fashion-MNIST (a short run), real test images ----
FMNIST=/usr/share/datasets/fashion-mnist
if [ -x "$BIN/sdtrain" ] && [ -f "$FMNIST/t10k-images-idx3-ubyte.gz" ]; then
    t=$tmp/trained
    mkdir -p "$t"
    check "trained: sdtrain (1 epoch, 512 images)" "$BIN/sdtrain" --dataset fashion-mnist \
        --model "$tmp/cifar.txt" --epochs 1 --batch-size 32 --train-limit 512 --val-size 64 \
        --test-limit 64 --threads 2 --out "$t/run"
    "$PY" - "$FMNIST/t10k-images-idx3-ubyte.gz" "$t/raw.f32" <<'PYIMG'
import gzip, sys
import numpy as np
blob = gzip.open(sys.argv[1]).read()
assert int.from_bytes(blob[:4], "big") == 2051, "not an IDX image file"
pixels = np.frombuffer(blob[16:16 + 8 * 28 * 28], dtype=np.uint8)
(pixels.astype(np.float32) / np.float32(255)).tofile(sys.argv[2])
PYIMG
    check "trained: net_forward on 8 test images" "$FIXTURE" forward "$t/run/best.ckpt" \
        "$t/raw.f32" 8 "$t"
    for flags in "" "--keep-bn" "--with-preprocessing" "--keep-bn --with-preprocessing"; do
        # shellcheck disable=SC2086
        check "trained: sdexport $flags" "$SDEXPORT" "$t/run/best.ckpt" -o "$t/model.onnx" $flags
        pre=0 input=$t/input.f32
        case "$flags" in *--with-preprocessing*) pre=1 input=$t/raw.f32;; esac
        check "trained $flags: checker + metadata" "$PY" tests/export_check.py check \
            "$t/model.onnx" dataset=fashion-mnist survival_rule=linear p_last=0.5 \
            "with_preprocessing=$pre"
        check "trained $flags: ORT runs it" ort_run "$t/model.onnx" "$input" 8,1,28,28 "$t/ort.f32"
        check "trained $flags: ORT logits = net_forward" "$PY" tests/export_check.py compare \
            "$t/ort.f32" "$t/logits.f32" "$TOL"
    done
fi

# ---- errors: clear message, exit != 0, no output file (an old one stays whole) ----
e=$tmp/errors
mkdir -p "$e"
ck=$d/model.safetensors
check "no -o: usage, exit 2" expect_exit 2 "usage: sdexport CHECKPOINT -o MODEL.onnx" "$SDEXPORT" "$ck"
check "unknown option: exit 2" expect_exit 2 "unknown option --frobnicate" "$SDEXPORT" "$ck" -o "$e/x.onnx" --frobnicate
check "--batch 0: exit 2" expect_exit 2 "--batch must be at least 1" "$SDEXPORT" "$ck" -o "$e/x.onnx" --batch 0
check "--help mentions --keep-bn" bash -c "'$SDEXPORT' --help | grep -q -- --keep-bn"
check "opset 10 refused" expect_exit 1 "opset 10 is not supported: sdexport writes opsets 11 to 17" \
    "$SDEXPORT" "$ck" -o "$e/x.onnx" --opset 10
check "opset 18 refused" expect_exit 1 "opset 18 is not supported: sdexport writes opsets 11 to 17" \
    "$SDEXPORT" "$ck" -o "$e/x.onnx" --opset 18
check "missing checkpoint" expect_exit 1 "$e/none.safetensors: cannot open: No such file or directory" \
    "$SDEXPORT" "$e/none.safetensors" -o "$e/x.onnx"
check "no output file from the refusals" test ! -e "$e/x.onnx"
head -c 300 "$ck" >"$e/truncated.safetensors"
cp "$d/model.onnx" "$e/old.onnx"
check "truncated checkpoint: refused" expect_exit 1 "$e/truncated.safetensors: " \
    "$SDEXPORT" "$e/truncated.safetensors" -o "$e/old.onnx"
check "truncated checkpoint: old output intact" cmp "$e/old.onnx" "$d/model.onnx"
check "unwritable output (missing directory)" expect_exit 1 \
    "$e/no/such/dir/x.onnx: cannot create a temporary file next to it: No such file or directory" \
    "$SDEXPORT" "$ck" -o "$e/no/such/dir/x.onnx"
check "output is a directory" expect_exit 1 "$e: cannot replace the file: Is a directory" \
    "$SDEXPORT" "$ck" -o "$e"
check "the directory is still one" test -d "$e"
check "no temporary files left" bash -c "ls '$e/old.onnx' '$d/model.onnx' && ! ls -a '$e' '$d' | grep -q '\.tmp\.'"
# Checkpoints whose metadata or tensors do not describe a known network.
edit_checkpoint() {  # edit_checkpoint IN OUT PYTHON-STATEMENT (h = header dict)
    "$PY" - "$1" "$2" "$3" <<'PYEDIT'
import json, struct, sys
src, dst, stmt = sys.argv[1:]
blob = open(src, "rb").read()
(n,) = struct.unpack("<Q", blob[:8])
h = json.loads(blob[8:8 + n])
exec(stmt)
text = json.dumps(h).encode()
open(dst, "wb").write(struct.pack("<Q", len(text)) + text + blob[8 + n:])
PYEDIT
}
edit_checkpoint "$ck" "$e/badpreset.safetensors" 'h["__metadata__"]["preset"] = "name x\nblock hexagonal\n"'
check "unknown preset in checkpoint" expect_exit 1 "badpreset.safetensors:2: cannot understand 'block'" \
    "$SDEXPORT" "$e/badpreset.safetensors" -o "$e/x.onnx"
edit_checkpoint "$ck" "$e/shape.safetensors" 'h["blocks.0.conv1.weight"]["shape"] = [4, 16, 3, 3]'
check "incompatible tensor shape" expect_exit 1 "blocks.0.conv1.weight has shape [4, 16, 3, 3]" \
    "$SDEXPORT" "$e/shape.safetensors" -o "$e/x.onnx"
edit_checkpoint "$ck" "$e/nopre.safetensors" 'del h["__metadata__"]["norm_mean"]'
check "--with-preprocessing without norm_mean" expect_exit 1 "norm_mean" \
    "$SDEXPORT" "$e/nopre.safetensors" -o "$e/x.onnx" --with-preprocessing
check "no output file from the checkpoint refusals" test ! -e "$e/x.onnx"

echo "t_export: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
