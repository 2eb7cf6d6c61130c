#!/usr/bin/env bash
# The folder data set end to end: a tiny ImageFolder tree of PNG and JPEG files
# (tests/image_folder.py, three colour classes, one named "green, leaf"):
# sdtrain --dataset folder -> sdexport -> sdinfer --images names every test image's class
# (CSV checked by Python's csv module); onnxruntime on sdinfer's own preprocessed inputs
# gives the same classes and probabilities; the ONNX metadata carries the class names;
# a resumed run equals an uninterrupted one; a checkpoint without class names (as
# written before them) still exports and classifies; broken files (corrupt, truncated,
# empty, huge declared size, not an image) each get a named error, exact exit status 1,
# the good ones still classified, a JPEG named .png classified with a warning; training
# refuses a broken training image, a test image that breaks at its first evaluation
# (no checkpoint written) and an unknown validation class by name.
# Needs: $SD_BIN/{sdtrain,sdexport,sdinfer}, /usr/bin/python3 with PIL and onnx, node
# (tests/node/node_modules).
set -u
cd "$(dirname "$0")/.."
BIN=${SD_BIN:-build/bin}
PY=/usr/bin/python3
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
passed=0 failed=0
. tests/check.sh
expect_exit() {  # expect_exit CODE command...  (stdout -> out.txt, stderr -> err.txt)
    local code=$1; shift
    "$@" >"$tmp/out.txt" 2>"$tmp/err.txt"
    local rc=$?
    [ "$rc" -eq "$code" ] || { echo "exit $rc, expected $code"; cat "$tmp/err.txt"; return 1; }
}
has() {  # has FILE "exact line"
    grep -qxF -- "$2" "$1" || { echo "$1 lacks the line '$2':"; cat "$1"; return 1; }
}
if ! $PY -c 'import PIL, onnx' 2>/dev/null; then
    echo "SKIP: /usr/bin/python3 lacks PIL or onnx (tools/deps.sh installs them)"
    echo "t_images: 0 passed, 0 failed, 1 skipped"; exit 0
fi
if "$BIN/sdinfer" "$tmp/none.onnx" --images x 2>&1 | grep -q "built with IMAGES=0"; then
    echo "SKIP: this build has no image support (IMAGES=0)"
    echo "t_images: 0 passed, 0 failed, 1 skipped"; exit 0
fi

D=$tmp/folder
$PY tests/image_folder.py folder "$D"
$PY tests/image_folder.py bad "$tmp/bad"
cat >"$tmp/tiny.txt" <<'PRESET'
name resnet8-tiny
block basic
shortcut A
stem 8 3 1
stem-pool none
stages 1x8 1x16 1x32
PRESET
TRAIN=("$BIN/sdtrain" --dataset folder --data "$D" --model "$tmp/tiny.txt" --image-size 16
       --augment-recipe cifar --batch-size 8 --lr 0.05 --lr-steps none --threads 1)

# ---- train, export, classify ----------------------------------------------------
check "sdtrain on the folder" expect_exit 0 "${TRAIN[@]}" --epochs 6 --out "$tmp/run"
check "sdtrain reports the folder" grep -qF "3 classes; train 36, val 12, test 12 images (test/); 1 files without an image name skipped" "$tmp/err.txt"
check "sdexport" expect_exit 0 "$BIN/sdexport" "$tmp/run/last.ckpt" -o "$tmp/m.onnx"
check "ONNX metadata: class names, crop, normalisation" $PY tests/images_check.py meta "$tmp/m.onnx"
check "sdinfer --images on the test folder" expect_exit 0 "$BIN/sdinfer" "$tmp/m.onnx" \
    --images "$D/test" --predictions "$tmp/p.csv" --dump-inputs "$tmp/inputs.f32" --batch-size 5
check "sdinfer counts" has "$tmp/out.txt" "images: 12 classified, 0 failed"
check "sdinfer scores images by folder" has "$tmp/out.txt" "labelled by their folder's name: 12 images, top-1 error 0.00% (0 wrong), top-5 error 0.00% (0)"
check "sdinfer prints names" grep -qE '^.*/test/green, leaf/00.png: green, leaf \(1\) ' "$tmp/out.txt"
check "every test image named by its folder's class" $PY tests/images_check.py names "$tmp/p.csv" 12
check "sdinfer --dataset folder --data DIR" expect_exit 0 "$BIN/sdinfer" "$tmp/m.onnx" \
    --dataset folder --data "$D" --predictions "$tmp/pf.csv" --batch-size 5
check "--dataset folder evaluates DIR/test" has "$tmp/out.txt" "folder: $D/test"
check "--dataset folder: the same predictions as --images DIR/test" cmp "$tmp/p.csv" "$tmp/pf.csv"
check "--images with several paths after the model" expect_exit 0 "$BIN/sdinfer" "$tmp/m.onnx" \
    --top-k 1 --images "$D/test/red/00.png" "$D/test/red/01.jpg"
check "two paths, two images" has "$tmp/out.txt" "images: 2 classified, 0 failed"
check "--dataset folder without test/ or val/" expect_exit 2 "$BIN/sdinfer" "$tmp/m.onnx" \
    --dataset folder --data "$tmp"
check "--dataset folder: message" has "$tmp/err.txt" "sdinfer: $tmp: neither $tmp/test nor $tmp/val is a folder"
check "onnxruntime runs on sdinfer's inputs" node tests/onnx_run.js "$tmp/m.onnx" \
    "$tmp/inputs.f32" 12,3,16,16 "$tmp/ort.f32"
check "onnxruntime agrees (class, probability 1e-5)" $PY tests/images_check.py ort "$tmp/p.csv" \
    "$tmp/ort.f32" 3

# ---- resume: 2 + 1 epochs equal 3 (the imagenet recipe: random-resized crops, nothing
# cached, so every epoch decodes again; given normalisation) ------------------------
NORM=(--norm-mean 0.5,0.25,0.125 --norm-std 0.25,0.5,1)
check "3 epochs" expect_exit 0 "${TRAIN[@]}" --epochs 3 --out "$tmp/r3" --cache-mb 0 \
    --augment-recipe imagenet "${NORM[@]}"
check "imagenet recipe reported" grep -qF "imagenet recipe, 16x16, evaluation crop 0.875" "$tmp/err.txt"
check "given normalisation saved" grep -qaF '"norm_mean":"0.5,0.25,0.125","norm_std":"0.25,0.5,1"' "$tmp/r3/last.ckpt"
check "2 epochs" expect_exit 0 "${TRAIN[@]}" --epochs 2 --out "$tmp/r21" --cache-mb 0 \
    --augment-recipe imagenet "${NORM[@]}"
check "resumed to 3" expect_exit 0 "$BIN/sdtrain" --resume "$tmp/r21" --epochs 3
check "resumed run equals the uninterrupted one" $PY tests/ckpt_tensors_equal.py \
    "$tmp/r3/last.ckpt" "$tmp/r21/last.ckpt"
check "3 epochs, cached, no loader thread" expect_exit 0 "${TRAIN[@]}" --epochs 3 \
    --out "$tmp/r3c" --prefetch 0 --augment-recipe imagenet "${NORM[@]}"
check "the cache and the loader thread change nothing" $PY tests/ckpt_tensors_equal.py \
    "$tmp/r3/last.ckpt" "$tmp/r3c/last.ckpt"

# ---- a checkpoint without the folder keys (written before them) -----------------
$PY tests/images_check.py strip "$tmp/run/last.ckpt" "$tmp/old.ckpt"
check "old checkpoint exports" expect_exit 0 "$BIN/sdexport" "$tmp/old.ckpt" -o "$tmp/old.onnx"
check "old export classifies with class numbers" expect_exit 0 "$BIN/sdinfer" "$tmp/old.onnx" \
    --images "$D/test/red/00.png" --top-k 1
check "old export: 'class 2' for red" grep -qxE '.*/red/00.png: class 2 \(2\) [0-9.]+' "$tmp/out.txt"

# ---- broken files: named errors, the rest classified ----------------------------
B=$tmp/bad
check "bad files: exit 1" expect_exit 1 "$BIN/sdinfer" "$tmp/m.onnx" --images "$B" \
    --predictions "$tmp/bad.csv"
cp "$tmp/err.txt" "$tmp/bad_err.txt"; cp "$tmp/out.txt" "$tmp/bad_out.txt"
check "bad: counts" has "$tmp/bad_out.txt" "images: 3 classified, 6 failed"
check "bad: corrupt" grep -qxF "sdinfer: $B/corrupt.jpg: not a readable JPEG (Unsupported marker type 0x39)" "$tmp/bad_err.txt"
check "bad: empty" has "$tmp/bad_err.txt" "sdinfer: $B/empty.png: empty file"
check "bad: huge" has "$tmp/bad_err.txt" "sdinfer: $B/huge.png: PNG declares 100000x100000 pixels, over the limit (16384 per side, 67108864 pixels)"
check "bad: not an image" has "$tmp/bad_err.txt" "sdinfer: $B/notes.txt: not a JPEG or PNG file (its first bytes are neither signature)"
check "bad: truncated JPEG" grep -qE "^sdinfer: $B/truncated.jpg: (damaged|not a readable) JPEG \(" "$tmp/bad_err.txt"
check "bad: truncated PNG" grep -qE "^sdinfer: $B/truncated.png: damaged PNG \(" "$tmp/bad_err.txt"
check "bad: JPEG named .png warned" has "$tmp/bad_err.txt" "sdinfer: warning: $B/jpeg_named.png: the file is a JPEG, whatever its name says; decoded as JPEG"
check "bad: JPEG named .png classified" grep -qE "^$B/jpeg_named.png: blue sky \(0\) " "$tmp/bad_out.txt"
check "bad: CSV holds the 3 good images" test "$(wc -l <"$tmp/bad.csv")" -eq 4
check "no model: exit 2" expect_exit 2 "$BIN/sdinfer" "$tmp/none.onnx" --images "$B"

# ---- training refuses broken data and options by name ---------------------------
check "--norm-mean alone: exit 2" expect_exit 2 "${TRAIN[@]}" --norm-mean 0.5,0.5,0.5 --out "$tmp/rn"
check "--norm-mean alone: message" has "$tmp/err.txt" "sdtrain: --norm-mean and --norm-std go together (three values each)"
check "unknown recipe: exit 2" expect_exit 2 "${TRAIN[@]}" --augment-recipe autoaugment --out "$tmp/rn"
check "unknown recipe: message" has "$tmp/err.txt" "sdtrain: bad value 'autoaugment' for --augment-recipe (see --help)"
cp -r "$D" "$tmp/broken"
cp "$B/truncated.png" "$tmp/broken/train/red/zz.png"
check "broken training image: exit 1" expect_exit 1 "${TRAIN[@]}" --data "$tmp/broken" \
    --epochs 1 --out "$tmp/rb"
check "broken training image named" grep -qE "^sdtrain: $tmp/broken/train/red/zz.png: damaged PNG" "$tmp/err.txt"
rm "$tmp/broken/train/red/zz.png"
cp "$B/truncated.png" "$tmp/broken/test/red/zz.png"  # first decoded by the first evaluation
check "broken test image: exit 1" expect_exit 1 "${TRAIN[@]}" --data "$tmp/broken" \
    --epochs 1 --out "$tmp/rt"
check "broken test image named, nothing written" grep -qE "^sdtrain: epoch 1: an image could not be decoded: $tmp/broken/test/red/zz.png: damaged PNG .*nothing of this epoch was written" "$tmp/err.txt"
check "no checkpoint after the failed epoch" test ! -e "$tmp/rt/last.ckpt"
rm "$tmp/broken/test/red/zz.png"; mkdir "$tmp/broken/val/purple"
check "unknown validation class: exit 1" expect_exit 1 "${TRAIN[@]}" --data "$tmp/broken" \
    --epochs 1 --out "$tmp/rc"
check "unknown validation class named" has "$tmp/err.txt" "sdtrain: $tmp/broken/val/purple: class 'purple' is not a class folder of the first split"

echo "t_images: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
