#!/usr/bin/env bash
# The README's snippets for using an export run as written: the JavaScript one in
# onnxruntime-node and the C++ one, compiled with the command in its first line, in
# OpenCV DNN; both on a --with-preprocessing export of a Fashion-MNIST-shaped network
# (1x28x28, 10 classes). Each one's logits must match sdtrain's own evaluation-mode
# forward on the same image (test_export forward) to 1e-4 of the logit scale.
set -u
cd "$(dirname "$0")/.."
BIN=${SD_BIN:-build/bin}
BUILD=${SD_BUILD:-build}
FIXTURE=$BUILD/tests/test_export
PY=/usr/bin/python3
TOL=1e-4
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
passed=0 failed=0
check_show='max |diff|'  # the margin of every passing comparison, worth seeing on every run
. tests/check.sh
snippet() {  # snippet LANG: the first ```LANG block of README.md
    awk -v fence="\`\`\`$1" '$0 == fence { on = 1; next } on && /^```/ { exit } on' README.md
}
numbers() {  # numbers OUT.f32 < text: every number after the word "logits" (or all) as float32
    "$PY" -c '
import re, sys
import numpy as np
text = sys.stdin.read()
text = text.split("logits", 1)[1] if "logits" in text else text
found = re.findall(r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?", text)
np.array(found, dtype=np.float32).tofile(sys.argv[1])
print(len(found), "numbers")' "$1"
}

cat >"$tmp/preset.txt" <<'P'
name tiny-cifar
block basic
shortcut A
stem 8 3 1
stem-pool none
stages 2x8 2x16 2x32
P
check "fixture" "$FIXTURE" write "$tmp" "$tmp/preset.txt" 1,28,28 10 linear 0.5 2 7
check "sdexport --with-preprocessing" "$BIN/sdexport" "$tmp/model.safetensors" \
    -o "$tmp/model.onnx" --with-preprocessing
# The snippets' images: every pixel 0.5 (JavaScript), every byte 128, i.e. 128/255 (C++).
mkdir -p "$tmp/js" "$tmp/cpp"
"$PY" -c '
import sys
import numpy as np
np.full(28 * 28, 0.5, np.float32).tofile(sys.argv[1])
np.full(28 * 28, np.float32(128) / np.float32(255), np.float32).tofile(sys.argv[2])' \
    "$tmp/js/raw.f32" "$tmp/cpp/raw.f32"
for s in js cpp; do
    check "$s: sdtrain's forward on the snippet's image" "$FIXTURE" forward \
        "$tmp/model.safetensors" "$tmp/$s/raw.f32" 1 "$tmp/$s"
done

# JavaScript: require('onnxruntime-node') resolves through NODE_PATH to tests/node/.
snippet js >"$tmp/js/snippet.js"
check "js: the README has the snippet" grep -q "InferenceSession.create('model.onnx')" \
    "$tmp/js/snippet.js"
cp "$tmp/model.onnx" "$tmp/js/"
check "js: the snippet runs" bash -c "cd '$tmp/js' && NODE_PATH='$PWD/tests/node/node_modules' \
    node snippet.js > run.txt"
check "js: its output" numbers "$tmp/js/got.f32" <"$tmp/js/run.txt"
check "js: logits = sdtrain's" "$PY" tests/export_check.py compare "$tmp/js/got.f32" \
    "$tmp/js/logits.f32" "$TOL"

# C++: compiled with the command in the snippet's first line.
snippet cpp >"$tmp/cpp/classify.cpp"
build=$(sed -n '1s|^// *||p' "$tmp/cpp/classify.cpp")
check "cpp: the first line is a g++ command ($build)" bash -c "case '$build' in 'g++ '*) ;; *) false;; esac"
check "cpp: the snippet compiles" bash -c "cd '$tmp/cpp' && $build"
cp "$tmp/model.onnx" "$tmp/cpp/"
check "cpp: the snippet runs" bash -c "cd '$tmp/cpp' && ./classify model.onnx > run.txt"
check "cpp: its output" numbers "$tmp/cpp/got.f32" <"$tmp/cpp/run.txt"
check "cpp: logits = sdtrain's" "$PY" tests/export_check.py compare "$tmp/cpp/got.f32" \
    "$tmp/cpp/logits.f32" "$TOL"
check "cpp: the class it prints is the argmax" "$PY" -c '
import sys
import numpy as np
printed = int(open(sys.argv[1]).read().split("class", 1)[1].split()[0])
want = int(np.argmax(np.fromfile(sys.argv[2], "<f4")))
print("printed", printed, "want", want)
sys.exit(printed != want)' "$tmp/cpp/run.txt" "$tmp/cpp/logits.f32"

echo "t_readme: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
