#!/usr/bin/env bash
# Run on the BUILD machine (no GPU needed): builds the CUDA programs and tests
# (`make CUDA=1`) and gathers them into .gpu/, with the non-CUDA shared
# libraries that a GPU machine's image may lack (OpenBLAS, cJSON, protobuf-c,
# their runtime dependencies), so that the device tool can carry .gpu/ and
# bench/gpu_run.sh can run them there. CUDA's own libraries (cuDNN, cuBLAS,
# cudart) are NOT packed: the GPU machine has them (its CUDA toolkit and
# PyTorch's nvidia-* wheels), and they are far too large to carry.
#
# .gpu/ is added to .git/info/exclude (local to this checkout), so git ignores it.
set -euo pipefail
cd "$(dirname "$0")/.."
make CUDA=1 -j2 tests programs
rm -rf .gpu
mkdir -p .gpu/bin .gpu/tests .gpu/lib
cp build-cuda/bin/* .gpu/bin/
for t in build-cuda/tests/test_*; do
    case "$t" in *.o | *.d) ;; *) cp "$t" .gpu/tests/ ;; esac
done
# Every library the binaries resolve here, except CUDA's and the C/C++ runtime
# (glibc, libstdc++, libgcc_s), which any x86-64 Linux image with a newer
# toolchain provides in a compatible version.
for f in .gpu/bin/* .gpu/tests/*; do ldd "$f"; done |
    awk '$2 == "=>" && $3 ~ /^\// { print $3 }' |
    grep -v -E '/usr/local/cuda|/(libc|libm|libdl|librt|libpthread|libstdc\+\+|libgcc_s)\.so' |
    sort -u | while read -r lib; do cp -L "$lib" .gpu/lib/; done
exclude=$(git rev-parse --git-path info/exclude 2>/dev/null || true)
if [ -n "$exclude" ] && ! grep -qx '/.gpu/' "$exclude" 2>/dev/null; then
    mkdir -p "$(dirname "$exclude")"
    echo '/.gpu/' >>"$exclude"
fi
echo "packed into .gpu/ ($(du -sh .gpu | cut -f1)); libraries: $(ls .gpu/lib | xargs)"
