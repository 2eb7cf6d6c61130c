#!/usr/bin/env bash
# Installs, from Debian, whatever the build, the tests and the demo need and this
# machine lacks; quick when everything is present. Also installs onnxruntime-node
# (npm) into tests/node/ for the foreign-runtime tests. Idempotent. The exports are
# tested in three runtimes besides sdinfer: onnxruntime-node, OpenCV DNN from Python
# (python3-opencv) and from C++ (libopencv-dnn-dev, the README's snippet).
#   tools/deps.sh          build, tests, demo
#   tools/deps.sh bench    also python3-torch, the benchmarks' peer (~950 MB), and
#                          python3-torchvision (make models-md)
#   tools/deps.sh fuzz     also clang and libFuzzer (make fuzz)
set -eu
cd "$(dirname "$0")/.."

DEBS="build-essential libprotobuf-c-dev protobuf-c-compiler libonnx-dev libopenblas-dev zlib1g-dev
libcjson-dev libmatio-dev dataset-fashion-mnist python3-onnx python3-numpy python3-scipy python3-h5py
libonnx-testdata gnuplot-nox nodejs npm python3-opencv libopencv-dnn-dev pkgconf libopenmpi-dev openmpi-bin
libturbojpeg0-dev libpng-dev python3-pil"
if [ "${1:-}" = bench ]; then DEBS="$DEBS python3-torch python3-torchvision"; fi
if [ "${1:-}" = fuzz ]; then DEBS="$DEBS clang libfuzzer-14-dev"; fi

missing=""
for p in $DEBS; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
# nodejs may come from another repository that bundles npm: accept a working npm.
if command -v npm >/dev/null 2>&1; then missing=$(echo "$missing" | sed 's/ npm\b//; s/ nodejs\b//'); fi

if [ -n "${missing// /}" ]; then
    if [ "$(id -u)" -ne 0 ] || ! command -v apt-get >/dev/null 2>&1; then
        echo "deps: missing Debian packages:$missing" >&2
        echo "deps: install them with: sudo apt-get update && sudo apt-get install -y$missing" >&2
        exit 1
    fi
    echo "deps: installing$missing"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    # shellcheck disable=SC2086
    apt-get install -y -qq $missing >/dev/null
fi

# onnxruntime-node: its postinstall download cannot reach the network here; the npm
# package bundles the CPU library, so skip the script (see ../shared/ENVIRONMENT.md).
if [ ! -f tests/node/node_modules/onnxruntime-node/package.json ]; then
    echo "deps: installing onnxruntime-node into tests/node/"
    (cd tests/node && ONNXRUNTIME_NODE_INSTALL=skip npm install --no-audit --no-fund --silent >/dev/null)
fi
