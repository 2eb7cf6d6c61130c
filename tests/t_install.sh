#!/usr/bin/env bash
# make install into a staging folder (DESTDIR, PREFIX=/usr), then, from there only:
#   - every file in its place; the three programs answer --version and --help;
#     the man pages are troff pages of their --help;
#   - the installed sdtrain finds the installed presets without --models-dir, from
#     any working directory; $SDTRAIN_MODELS_DIR overrides them;
#   - examples/classify.c builds with nothing but `pkg-config --cflags --libs sdinfer`
#     (and statically with --static) and prints, on Fashion-MNIST test images, the
#     exact logits the installed sdinfer writes for the same tensor, and their argmax;
#   - make uninstall removes every file install wrote.
# Needs: pkg-config, /usr/bin/python3 with onnx + numpy, dataset-fashion-mnist.
set -u
cd "$(dirname "$0")/.."
PY=/usr/bin/python3
BUILD_DIR=$(basename "${SD_BUILD:-build}")
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
STAGE=$tmp/stage
passed=0 failed=0
. tests/check.sh
expect_exit() {  # expect_exit CODE "message substring" command...
    local code=$1 text=$2; shift 2
    "$@" >"$tmp/out.txt" 2>"$tmp/err.txt"
    local rc=$?
    [ "$rc" -eq "$code" ] || { echo "exit $rc, expected $code"; cat "$tmp/err.txt"; return 1; }
    grep -qF -- "$text" "$tmp/err.txt" || { echo "stderr lacks '$text':"; cat "$tmp/err.txt"; return 1; }
}
# The build this run tests (SAN=1: build-san), by a make that inherits nothing from
# the make that may have started this script (its jobserver and variables).
SAN_FLAG=""
case $BUILD_DIR in *-san) SAN_FLAG="SAN=1";; esac
mk() { env -u MAKEFLAGS -u MAKELEVEL -u MFLAGS make --no-print-directory $SAN_FLAG "$@"; }

check "make install" mk install DESTDIR="$STAGE" PREFIX=/usr
U=$STAGE/usr
for f in bin/sdtrain bin/sdexport bin/sdinfer share/sdtrain/models/resnet110-cifar.txt \
         share/man/man1/sdtrain.1 share/man/man1/sdexport.1 share/man/man1/sdinfer.1 \
         include/sdinfer.h lib/libsdinfer.a lib/libsdinfer.so.1.0.0 lib/pkgconfig/sdinfer.pc; do
    check "installed $f" test -s "$U/$f"
done
check "libsdinfer.so -> .so.1.0.0" test "$(readlink "$U/lib/libsdinfer.so")" = libsdinfer.so.1.0.0
check "the .so's soname" sh -c "readelf -d '$U/lib/libsdinfer.so.1.0.0' | grep -q 'SONAME.*libsdinfer.so.1'"
check "the .so exports sdinfer_* only" sh -c \
    "nm -D --defined-only '$U/lib/libsdinfer.so.1.0.0' | awk '{print \$3}' | grep -v '^SDINFER_1\$' | grep -v '^sdinfer_' | { ! grep .; }"
check "the .pc names PREFIX /usr" grep -qx "prefix=/usr" "$U/lib/pkgconfig/sdinfer.pc"
for p in sdtrain sdexport sdinfer; do
    check "$p --version" sh -c "'$U/bin/$p' --version | grep -qx '$p 1.0.0'"
    check "$p --help" sh -c "'$U/bin/$p' --help | grep -q -- '--version'"
    check "$p.1 is a man page of its --help" sh -c \
        "head -n1 '$U/share/man/man1/$p.1' | grep -q '^.TH ${p^^} 1' && grep -q 'the program.s version' '$U/share/man/man1/$p.1'"
done

# ---- presets: the installed ones, from anywhere --------------------------------------
mkdir -p "$tmp/elsewhere" "$tmp/empty"
check "sdtrain --help names the installed presets" sh -c \
    "cd '$tmp/elsewhere' && '$U/bin/sdtrain' --help | grep -qF 'default $U/share/sdtrain/models'"
check "installed sdtrain runs a preset from another folder" sh -c \
    "cd '$tmp/elsewhere' && '$U/bin/sdtrain' --model resnet20-cifar --dataset mnist --bench-steps 1 --batch-size 2 | grep -q 'images/s'"
check "\$SDTRAIN_MODELS_DIR overrides them" sh -c "cd '$tmp/elsewhere' && SDTRAIN_MODELS_DIR='$tmp/empty' \
    '$U/bin/sdtrain' --help | grep -qF 'default $tmp/empty'"

# ---- the example, built with pkg-config only, against the installed sdinfer ------------
export PKG_CONFIG_PATH="" PKG_CONFIG_LIBDIR="$U/lib/pkgconfig" PKG_CONFIG_SYSROOT_DIR="$STAGE"
flags=$(echo $(pkg-config --cflags --libs sdinfer))  # word-split: no trailing blank
check "pkg-config points into the stage" test "$flags" = "-I$U/include -L$U/lib -lsdinfer"
SANITIZE=""
[ -n "$SAN_FLAG" ] && SANITIZE="-fsanitize=address,undefined"  # the library is sanitised too
check "examples/classify.c builds (shared)" cc -std=c11 -Wall -Wextra -Werror $SANITIZE \
    examples/classify.c $flags -o "$tmp/classify"
static_libs=$(pkg-config --static --libs sdinfer | sed 's/-lsdinfer/-l:libsdinfer.a/')
check "examples/classify.c builds (static)" cc -std=c11 -Wall -Wextra -Werror $SANITIZE \
    examples/classify.c $(pkg-config --cflags sdinfer) $static_libs -o "$tmp/classify_static"
check "the static one does not load libsdinfer.so" sh -c "! readelf -d '$tmp/classify_static' | grep -q libsdinfer"

FMNIST=/usr/share/datasets/fashion-mnist
MODEL=tests/fixtures/fmnist_resnet.onnx
N=20
check "reference tensor" $PY tests/sdinfer_check.py fmnist-batch $FMNIST $N 0.2860 0.3530 \
    "$tmp/x.pb" "$tmp/labels.txt"
check "as raw float32" $PY -c "import onnx, numpy as np, onnx.numpy_helper as h, sys
h.to_array(onnx.load_tensor(sys.argv[1])).astype('<f4').tofile(sys.argv[2])" "$tmp/x.pb" "$tmp/x.f32"
check "installed sdinfer writes the logits" "$U/bin/sdinfer" $MODEL --threads 1 \
    --input-tensor "$tmp/x.pb" --output-tensor "$tmp/y.pb"
export LD_LIBRARY_PATH="$U/lib"
check "classify runs" sh -c "'$tmp/classify' $MODEL '$tmp/x.f32' 3 1 > '$tmp/shared.txt'"
check "classify loads the staged libsdinfer" sh -c "ldd '$tmp/classify' | grep -qF '$U/lib/libsdinfer.so.1'"
check "classify (static) runs" sh -c "'$tmp/classify_static' $MODEL '$tmp/x.f32' 3 1 > '$tmp/static.txt'"
check "static and shared print the same" cmp "$tmp/shared.txt" "$tmp/static.txt"
check "classify = sdinfer, bit for bit, and top-1 = argmax" $PY -c "
import sys, numpy as np, onnx, onnx.numpy_helper as h
want = h.to_array(onnx.load_tensor(sys.argv[1])).astype(np.float32)
lines = open(sys.argv[2]).read().splitlines()
rows = [np.array(l.split(':')[1].split(), dtype=np.float32) for l in lines if l.startswith('output ')]
tops = [int(l.split(':')[1].split()[0]) for l in lines if l.startswith('image ')]
assert len(rows) == want.shape[0] == int(sys.argv[3]), (len(rows), want.shape)
got = np.stack(rows)
print('max |classify - sdinfer|:', float(np.abs(got - want).max()))
assert np.array_equal(got, want), 'logits differ'
assert tops == list(want.argmax(axis=1)), (tops, list(want.argmax(axis=1)))
assert '10 classes' in lines[0], lines[0]
" "$tmp/y.pb" "$tmp/shared.txt" $N
check "a short tensor: exit 1 and the API's size message" expect_exit 1 "wrong input or output size" \
    sh -c "head -c 4000 '$tmp/x.f32' > '$tmp/short.f32' && '$tmp/classify' $MODEL '$tmp/short.f32'"
check "a missing model: exit 1 and the file named" expect_exit 1 "$tmp/none.onnx" \
    "$tmp/classify" "$tmp/none.onnx" "$tmp/x.f32"

# ---- uninstall -----------------------------------------------------------------
check "make uninstall" mk uninstall DESTDIR="$STAGE" PREFIX=/usr
check "nothing installed is left" sh -c "test -z \"\$(find '$STAGE' -type f -o -type l)\""

echo "t_install: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
