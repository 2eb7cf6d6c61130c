#!/usr/bin/env bash
# sdexport end to end: every export variant (BN folded or kept, with and without
# preprocessing, every opset sdexport writes, 1 and 3 channels, the CIFAR and the
# bottleneck presets) passes onnx.checker (full_check) and runs unchanged, with the
# logits of the network's own NET_EVAL forward pass (net_forward on the CPU backend)
# on the same batch, in three runtimes: onnxruntime-node (CPU), OpenCV DNN
# (python3-opencv) and sdinfer. Tolerance: 1e-4 of the logit scale, max(1, max |logit|).
#
# Fixtures come from `test_export write` (a randomised network whose BN running
# statistics come from training-mode passes, saved with checkpoint_save, plus a
# batch and its logits). To test another network, add a line to FIXTURES below.
# The runtimes each take the whole list of models in one process (jobs files):
# starting Python with OpenCV takes about a second, and there are over a hundred models.
set -u
cd "$(dirname "$0")/.."
BIN=${SD_BIN:-build/bin}
BUILD=${SD_BUILD:-build}
SDEXPORT=$BIN/sdexport
SDINFER=$BIN/sdinfer
FIXTURE=$BUILD/tests/test_export
PY=/usr/bin/python3
TOL=1e-4
OPSETS="11 12 13 14 15 16 17"
if [ "${SD_TEST_SANITIZED:-0}" = 1 ]; then
    OPSETS="11 13 17"  # the writer's opset branches are at 11, 13 and 17
    echo "sanitizer build: opsets $OPSETS of 11-17 (the full matrix runs in the plain build)"
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
passed=0 failed=0
check_show='max |diff|'  # the margin of every passing comparison, worth seeing on every run
. tests/check.sh
# tally "what" JOBS command...: a batch command that prints "ok ..." / "FAIL ..." per
# job; each line counts as one test, and fewer lines than the JOBS file has is a failure.
# Failed jobs are printed with the lines that follow them.
tally() {
    local what=$1 jobs=$2; shift 2
    "$@" >"$tmp/out" 2>&1
    local rc=$? ok bad want
    ok=$(grep -c '^ok ' "$tmp/out")
    bad=$(grep -c '^FAIL ' "$tmp/out")
    want=$(grep -c . "$jobs")
    passed=$((passed + ok)); failed=$((failed + bad))
    if [ "$rc" -ne 0 ] && [ "$bad" -eq 0 ]; then failed=$((failed + 1)); bad=crashed; fi
    if [ "$bad" != crashed ] && [ $((ok + bad)) -ne "$want" ]; then
        failed=$((failed + 1)); bad="$bad (and $((want - ok - bad)) of $want jobs unreported)"
    fi
    echo "  $what: $ok ok, $bad failed$(awk '/max \|diff\| =/ { if ($4 + 0 > m) m = $4 + 0 }
        END { if (NR && m != "") printf ", largest |diff| %.3g", m }' "$tmp/out")"
    grep -E '^(onnxruntime|OpenCV) [0-9]' "$tmp/out" | sed 's/^/    /'
    if [ "$bad" != 0 ]; then
        echo "FAIL: $what"
        awk '/^FAIL / { show = 1 } /^ok / { show = 0 } show' "$tmp/out" | sed 's/^/    /' | head -n 60
        case "$bad" in crashed|*unreported*) tail -n 20 "$tmp/out" | sed 's/^/    /';; esac
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
cv_run() { "$PY" tests/opencv_run.py "$@"; }

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

# name preset C,H,W classes rule p_last batch (same seed: the networks of one
# preset and input shape share their weights)
FIXTURES=(
    "cifar3         cifar    3,16,16 10 linear  0.5 4"
    "cifar1         cifar    1,28,28 10 linear  0.5 3"
    "bottleneck3    imagenet 3,64,64 7  linear  0.5 2"
    "bottleneck1    imagenet 1,32,32 7  linear  0.5 2"
    "cifar3-uniform cifar    3,16,16 10 uniform 0.8 4"
    "cifar3-none    cifar    3,16,16 10 none    1   4"
)
# The full matrix for the first four; a few variants of the other rules.
FLAG_SETS=("" "--keep-bn" "--with-preprocessing" "--keep-bn --with-preprocessing")
declare -A FIX
for f in "${FIXTURES[@]}"; do
    # shellcheck disable=SC2086
    set -- $f
    FIX[$1]="$*"
    mkdir -p "$tmp/$1"
    check "$1: fixture" "$FIXTURE" write "$tmp/$1" "$tmp/$2.txt" "$3" "$4" "$5" "$6" "$7" 1
done

fixture_shape() {  # fixture_shape FIXTURE: N,C,H,W of its batch
    # shellcheck disable=SC2086
    set -- ${FIX[$1]}
    echo "$7,$3"
}

# Every model goes into the jobs files of the three runtimes, the checker and the
# comparisons. export_variant NAME FIXTURE OPSET FLAGS...
: >"$tmp/checks" ; : >"$tmp/ort.jobs" ; : >"$tmp/cv.jobs" ; : >"$tmp/sd.jobs"
: >"$tmp/compare.ort" ; : >"$tmp/compare.cv" ; : >"$tmp/compare.sd"
export_variant() {
    local name=$1 fixture=$2 opset=$3; shift 3
    # shellcheck disable=SC2086
    set -- ${FIX[$fixture]} "$@"
    local preset=$2 shape=$3 classes=$4 rule=$5 batch=$7; shift 7
    local dir=$tmp/$fixture model=$tmp/$fixture/$name.onnx
    check "$fixture/$name: sdexport --opset $opset $*" "$SDEXPORT" "$dir/model.safetensors" \
        -o "$model" --opset "$opset" "$@"
    local pre=0 keep=0 ops="Conv,Relu,Add,GlobalAveragePool,Flatten,Gemm" no_ops="Mul"
    case "$*" in *--with-preprocessing*) pre=1 ops="$ops,Sub,Div";; *) no_ops="$no_ops,Sub,Div";; esac
    case "$*" in *--keep-bn*) keep=1 ops="$ops,BatchNormalization";; *) no_ops="$no_ops,BatchNormalization";; esac
    case "$preset" in cifar) ops="$ops,AveragePool,Pad";; imagenet) ops="$ops,MaxPool";; esac
    echo "check $model with_preprocessing=$pre keep_bn=$keep survival_rule=$rule classes=$classes" \
        "preset=tiny-$preset ${META_EXTRA:-} --opset $opset --ops $ops --no-ops $no_ops" >>"$tmp/checks"
    # With preprocessing the model gets raw [0,1] pixels, the network normalised ones.
    local input=input
    [ "$pre" = 1 ] && input=input_raw
    echo "$model $dir/$input.f32 $batch,$shape $model.ort.f32" >>"$tmp/ort.jobs"
    echo "$model $dir/$input.f32 $batch,$shape $model.cv.f32" >>"$tmp/cv.jobs"
    echo "$model $dir/$input.pb $model.sd.pb" >>"$tmp/sd.jobs"
    for r in ort cv; do echo "compare $model.$r.f32 $dir/logits.f32 $TOL" >>"$tmp/compare.$r"; done
    echo "compare $model.sd.pb $dir/logits.f32 $TOL" >>"$tmp/compare.sd"
}
for fixture in cifar3 cifar1 bottleneck3 bottleneck1; do
    for opset in $OPSETS; do
        for flags in "${FLAG_SETS[@]}"; do
            tag=$(echo "o$opset $flags" | sed 's/--keep-bn/bn/; s/--with-preprocessing/pre/; s/ \+/-/g; s/-$//')
            # shellcheck disable=SC2086
            export_variant "$tag" "$fixture" "$opset" $flags
        done
    done
done
export_variant o13 cifar3-uniform 13
export_variant o13-bn cifar3-uniform 13 --keep-bn
export_variant o13 cifar3-none 13
export_variant o13-pre cifar3-none 13 --with-preprocessing
export_variant o13-batch4 cifar3 13 --batch 4
export_variant o17-bn-pre-batch4 cifar3 17 --keep-bn --with-preprocessing --batch 4

# ---- a trained network: sdtrain on Fashion-MNIST (a short run), real test images ----
FMNIST=/usr/share/datasets/fashion-mnist
if [ -x "$BIN/sdtrain" ] && [ -f "$FMNIST/t10k-images-idx3-ubyte.gz" ]; then
    t=$tmp/trained
    mkdir -p "$t"
    check "trained: sdtrain (1 epoch, 512 images)" "$BIN/sdtrain" --dataset fashion-mnist \
        --model "$tmp/cifar.txt" --epochs 1 --batch-size 32 --train-limit 512 --val-size 64 \
        --test-limit 64 --threads 2 --out "$t/run"
    "$PY" - "$FMNIST/t10k-images-idx3-ubyte.gz" "$t/input_raw.f32" <<'PYIMG'
import gzip, sys
import numpy as np
blob = gzip.open(sys.argv[1]).read()
assert int.from_bytes(blob[:4], "big") == 2051, "not an IDX image file"
pixels = np.frombuffer(blob[16:16 + 8 * 28 * 28], dtype=np.uint8)
(pixels.astype(np.float32) / np.float32(255)).tofile(sys.argv[2])
PYIMG
    check "trained: net_forward on 8 test images" "$FIXTURE" forward "$t/run/best.ckpt" \
        "$t/input_raw.f32" 8 "$t"
    cp "$t/run/best.ckpt" "$t/model.safetensors"
    FIX[trained]="trained cifar 1,28,28 10 linear 0.5 8"
    META_EXTRA="dataset=fashion-mnist p_last=0.5"
    for flags in "${FLAG_SETS[@]}"; do
        tag=$(echo "o13 $flags" | sed 's/--keep-bn/bn/; s/--with-preprocessing/pre/; s/ \+/-/g; s/-$//')
        # shellcheck disable=SC2086
        export_variant "$tag" trained 13 $flags
    done
fi

# ---- the runtimes: the checker, onnxruntime, OpenCV DNN, sdinfer ----
for d in "$tmp"/*/; do
    [ -f "$d/input.f32" ] || continue
    shape=$(fixture_shape "$(basename "$d")")
    echo "to-tensor $d/input.f32 $shape $d/input.pb" >>"$tmp/tensors"
    echo "to-tensor $d/input_raw.f32 $shape $d/input_raw.pb" >>"$tmp/tensors"
done
tally "input tensors for sdinfer" "$tmp/tensors" "$PY" tests/export_check.py batch "$tmp/tensors"
tally "onnx.checker full_check, metadata, ops, opset" "$tmp/checks" "$PY" tests/export_check.py batch "$tmp/checks"
tally "onnxruntime-node runs them" "$tmp/ort.jobs" ort_run --jobs "$tmp/ort.jobs"
tally "OpenCV DNN runs them" "$tmp/cv.jobs" cv_run --jobs "$tmp/cv.jobs"
while read -r model input output; do
    if "$SDINFER" "$model" --threads 1 --input-tensor "$input" --output-tensor "$output" \
        >"$tmp/sd.out" 2>&1; then echo "ok $model"; else echo "FAIL $model"; cat "$tmp/sd.out"; fi
done <"$tmp/sd.jobs" >"$tmp/sd.log"
tally "sdinfer runs them" "$tmp/sd.jobs" cat "$tmp/sd.log"
tally "onnxruntime logits = net_forward(NET_EVAL)" "$tmp/compare.ort" "$PY" tests/export_check.py batch "$tmp/compare.ort"
tally "OpenCV DNN logits = net_forward(NET_EVAL)" "$tmp/compare.cv" "$PY" tests/export_check.py batch "$tmp/compare.cv"
tally "sdinfer logits = net_forward(NET_EVAL)" "$tmp/compare.sd" "$PY" tests/export_check.py batch "$tmp/compare.sd"

# ---- the preprocessing itself: the normalised image against the trainer's ----
# (pixel/255 - mean) / std in float: bit-identical in onnxruntime and sdinfer; OpenCV
# multiplies by 1/std (last-bit differences, see the README).
for fixture in cifar3 cifar1; do
    d=$tmp/$fixture
    shape=$(fixture_shape "$fixture")
    check "$fixture: the normalised image as output 0" "$PY" tests/export_check.py expose \
        "$d/o13-pre.onnx" preprocess.div "$d/norm.onnx"
    check "$fixture: onnxruntime normalises" ort_run "$d/norm.onnx" "$d/input_raw.f32" "$shape" "$d/norm.ort.f32"
    check "$fixture: onnxruntime normalises bit-identically" "$PY" tests/export_check.py compare \
        "$d/norm.ort.f32" "$d/input.f32" 0
    check "$fixture: sdinfer normalises" "$SDINFER" "$d/norm.onnx" --threads 1 --input-tensor \
        "$d/input_raw.pb" --output-tensor "$d/norm.sd.pb"
    check "$fixture: sdinfer normalises bit-identically" "$PY" tests/export_check.py compare \
        "$d/norm.sd.pb" "$d/input.f32" 0
    check "$fixture: OpenCV normalises" cv_run --layer preprocess.div "$d/o13-pre.onnx" \
        "$d/input_raw.f32" "$shape" "$d/norm.cv.f32"
    check "$fixture: OpenCV normalises within 1e-6" "$PY" tests/export_check.py compare \
        "$d/norm.cv.f32" "$d/input.f32" 1e-6
done

# ---- older exports ([1,C,1,1] mean/std) still run in sdinfer and onnxruntime ----
d=$tmp/cifar3
check "old-form export" "$PY" tests/export_check.py old-preprocessing "$d/o13-pre.onnx" "$d/old.onnx"
check "old form: sdinfer runs it" "$SDINFER" "$d/old.onnx" --threads 1 --input-tensor \
    "$d/input_raw.pb" --output-tensor "$d/old.sd.pb"
check "old form: sdinfer logits = new form's" "$PY" tests/export_check.py compare "$d/old.sd.pb" \
    "$d/o13-pre.onnx.sd.pb" 0
check "old form: onnxruntime runs it" ort_run "$d/old.onnx" "$d/input_raw.f32" 4,3,16,16 "$d/old.ort.f32"
check "old form: onnxruntime logits = net_forward" "$PY" tests/export_check.py compare \
    "$d/old.ort.f32" "$d/logits.f32" "$TOL"

# A dynamic batch really is dynamic: the first image alone gives the first row.
per_image=$((3 * 16 * 16 * 4))
head -c $per_image "$d/input.f32" >"$d/one.f32"
check "dynamic batch: onnxruntime N=1 run" ort_run "$d/o13.onnx" "$d/one.f32" "1,3,16,16" "$d/ort1.f32"
check "dynamic batch: onnxruntime N=1 row matches" "$PY" tests/export_check.py compare "$d/ort1.f32" \
    "$d/logits.f32" "$TOL" --rows 1 --cols 10
check "dynamic batch: OpenCV N=1 run" cv_run "$d/o13.onnx" "$d/one.f32" "1,3,16,16" "$d/cv1.f32"
check "dynamic batch: OpenCV N=1 row matches" "$PY" tests/export_check.py compare "$d/cv1.f32" \
    "$d/logits.f32" "$TOL" --rows 1 --cols 10
check "fixed batch 4: onnxruntime refuses N=1" expect_exit 1 \
    "FAIL $d/o13-batch4.onnx: Got invalid dimensions for input" \
    ort_run "$d/o13-batch4.onnx" "$d/one.f32" "1,3,16,16" "$d/ort1.f32"

# The comparison can tell test-time rules apart: the fixtures share their weights
# (same seed), so the p_l = 1 model must miss the linear-rule network's logits.
check "p_l matters: rule none != linear network" expect_exit 1 "ABOVE tolerance" \
    "$PY" tests/export_check.py compare "$tmp/cifar3-none/o13.onnx.ort.f32" "$d/logits.f32" 1e-2

# ---- errors: clear message, exit != 0, no output file (an old one stays whole) ----
e=$tmp/errors
mkdir -p "$e"
ck=$d/model.safetensors
check "no -o: usage, exit 2" expect_exit 2 "usage: sdexport CHECKPOINT -o MODEL.onnx" "$SDEXPORT" "$ck"
check "unknown option: exit 2" expect_exit 2 "unknown option --frobnicate" "$SDEXPORT" "$ck" -o "$e/x.onnx" --frobnicate
check "--batch 0: exit 2" expect_exit 2 "--batch: '0' is not an integer from 1 to 1000000" "$SDEXPORT" "$ck" -o "$e/x.onnx" --batch 0
check "--help mentions --keep-bn" bash -c "'$SDEXPORT' --help | grep -q -- --keep-bn"
check "opset 10 refused" expect_exit 1 "opset 10 is not supported: sdexport writes opsets 11 to 17" \
    "$SDEXPORT" "$ck" -o "$e/x.onnx" --opset 10
check "opset 18 refused" expect_exit 1 "opset 18 is not supported: sdexport writes opsets 11 to 17" \
    "$SDEXPORT" "$ck" -o "$e/x.onnx" --opset 18
check "missing checkpoint" expect_exit 1 "$e/none.safetensors: cannot open: No such file or directory" \
    "$SDEXPORT" "$e/none.safetensors" -o "$e/x.onnx"
check "no output file from the refusals" test ! -e "$e/x.onnx"
head -c 300 "$ck" >"$e/truncated.safetensors"
cp "$d/o13.onnx" "$e/old.onnx"
check "truncated checkpoint: refused" expect_exit 1 "$e/truncated.safetensors: " \
    "$SDEXPORT" "$e/truncated.safetensors" -o "$e/old.onnx"
check "truncated checkpoint: old output intact" cmp "$e/old.onnx" "$d/o13.onnx"
check "unwritable output (missing directory)" expect_exit 1 \
    "$e/no/such/dir/x.onnx: cannot create a temporary file next to it: No such file or directory" \
    "$SDEXPORT" "$ck" -o "$e/no/such/dir/x.onnx"
check "output is a directory" expect_exit 1 "$e: cannot replace the file: Is a directory" \
    "$SDEXPORT" "$ck" -o "$e"
check "the directory is still one" test -d "$e"
check "no temporary files left" bash -c "ls '$e/old.onnx' '$d/o13.onnx' && ! ls -a '$e' '$d' | grep -q '\.tmp\.'"
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
