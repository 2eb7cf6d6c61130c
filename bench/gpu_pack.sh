#!/usr/bin/env bash
# Run on the BUILD machine (no GPU needed): builds the CUDA programs and tests
# (`make CUDA=1`) and packs what bench/gpu_run.sh needs on a GPU machine into
# .gpu/ (git-ignored), small enough for the device
# tool's 64 MiB:
#   .gpu/payload.tar.xz   bin/ (the programs), tests/ (the C test programs),
#                         lib/ (the non-CUDA shared libraries they load that a GPU
#                         image may lack: OpenBLAS (36 MB, 4 MB in xz), cJSON,
#                         protobuf-c, zlib, gfortran, ...), onnx-node/ (the ONNX
#                         backend node tests from libonnx-testdata, for the
#                         conformance test on the device)
#   .gpu/fashion-mnist/   Debian's Fashion-MNIST (already gzipped), for the reproduction
#   .gpu/MANIFEST         the commit, the build date, the file list
# CUDA's own libraries (cuDNN, cuBLAS, cudart) are NOT packed: the GPU machine has
# them (its CUDA toolkit, PyTorch's nvidia-* wheels) and they are far too large.
#   bench/gpu_pack.sh && du -sh .gpu
set -euo pipefail
cd "$(dirname "$0")/.."
make CUDA=1 -j"$(nproc)" tests programs
stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
mkdir -p "$stage/bin" "$stage/tests" "$stage/lib"
cp build-cuda/bin/* "$stage/bin/"
for t in build-cuda/tests/test_* build-cuda/tests/gradcheck_*; do
    case "$t" in *.o | *.d) ;; *) cp "$t" "$stage/tests/" ;; esac
done
# Every library the binaries resolve here, except CUDA's and the C/C++ runtime
# (glibc, libstdc++, libgcc_s), which any x86-64 Linux image with a newer
# toolchain provides in a compatible version.
for f in "$stage"/bin/* "$stage"/tests/*; do ldd "$f"; done |
    awk '$2 == "=>" && $3 ~ /^\// { print $1, $3 }' |
    grep -v -E '/usr/local/cuda|/(libc|libm|libdl|librt|libpthread|libstdc\+\+|libgcc_s)\.so' |
    sort -u | while read -r soname path; do cp -L "$path" "$stage/lib/$soname"; done
testdata=/usr/share/libonnx-testdata/data/node
if [ -d "$testdata" ]; then
    cp -r "$testdata" "$stage/onnx-node"
else
    echo "gpu_pack: $testdata missing (apt-get install libonnx-testdata): no conformance data" >&2
fi
rm -rf .gpu
mkdir -p .gpu/fashion-mnist
tar -C "$stage" -cf - bin tests lib $([ -d "$stage/onnx-node" ] && echo onnx-node) |
    xz -6 -T0 >.gpu/payload.tar.xz
fmnist=/usr/share/datasets/fashion-mnist
if ls "$fmnist"/*-ubyte.gz >/dev/null 2>&1; then
    cp "$fmnist"/*-ubyte.gz .gpu/fashion-mnist/
else
    echo "gpu_pack: $fmnist missing (apt-get install dataset-fashion-mnist): no reproduction data" >&2
fi
{
    echo "commit $(git rev-parse HEAD 2>/dev/null || echo unknown)$(git diff --quiet 2>/dev/null || echo ' (with uncommitted changes)')"
    echo "packed $(date -u '+%Y-%m-%dT%H:%M:%SZ') on $(uname -n)"
    echo "payload sha256 $(sha256sum .gpu/payload.tar.xz | cut -d' ' -f1)"
    tar -tJf .gpu/payload.tar.xz | grep -v '^onnx-node/.' | sort
} >.gpu/MANIFEST
echo "packed into .gpu/ ($(du -sh .gpu | cut -f1)); libraries: $(ls "$stage/lib" | xargs)"
