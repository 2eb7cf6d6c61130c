#!/usr/bin/env bash
# Run ON the GPU machine, with .gpu/ from bench/gpu_pack.sh carried along:
#   bench/gpu_run.sh parity   # the CUDA-vs-CPU parity test (tests/test_cuda_parity.c)
#   bench/gpu_run.sh bench    # bench/gpu_train_bench.sh (sdtrain vs PyTorch, constant vs stochastic)
#   bench/gpu_run.sh tests    # every packed C test (test_cuda_parity among them), last lines only
#   bench/gpu_run.sh all      # parity, then bench (the default)
# It finds cuDNN 9 and cuBLAS / cudart 13 where the image keeps them (the CUDA
# toolkit, PyTorch's nvidia-* wheels) and puts them on LD_LIBRARY_PATH after
# .gpu/lib.
set -euo pipefail
cd "$(dirname "$0")/.."
what=${1:-all}
if [ ! -d .gpu/bin ] || [ ! -d .gpu/tests ]; then
    echo "gpu_run: no .gpu/ here: run bench/gpu_pack.sh on the build machine and carry .gpu" >&2
    exit 1
fi
roots=(/usr/local /opt /usr/lib)
site=$(python3 -c 'import site; print(" ".join(site.getsitepackages()))' 2>/dev/null || true)
# shellcheck disable=SC2206
roots+=($site)
libdirs=$(find "${roots[@]}" \( -name 'libcudnn.so.9' -o -name 'libcublas.so.13' \
    -o -name 'libcublasLt.so.13' -o -name 'libcudart.so.13' \) -printf '%h\n' 2>/dev/null |
    awk '!seen[$0]++' | paste -sd: -)
export LD_LIBRARY_PATH="$PWD/.gpu/lib${libdirs:+:$libdirs}${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
echo "gpu_run: LD_LIBRARY_PATH=$LD_LIBRARY_PATH"
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader 2>/dev/null || true
missing=$(ldd .gpu/tests/test_cuda_parity | grep "not found" || true)
if [ -n "$missing" ]; then
    echo "gpu_run: unresolved libraries:" >&2
    echo "$missing" >&2
    exit 1
fi

run_parity() { .gpu/tests/test_cuda_parity; }
run_tests() {
    local failed=0
    for t in .gpu/tests/test_*; do "$t" | tail -n 1 || failed=1; done
    return $failed
}
run_bench() { SD_BIN=.gpu/bin bench/gpu_train_bench.sh; }

case "$what" in
parity) run_parity ;;
tests) run_tests ;;
bench) run_bench ;;
all)
    status=0
    run_parity || status=1
    run_bench || status=1
    exit $status
    ;;
*)
    echo "usage: bench/gpu_run.sh [parity|tests|bench|all]" >&2
    exit 2
    ;;
esac
