#!/usr/bin/env bash
# NCCL's CPU-testable parts (the GPU run itself: tests/t_nccl_gpu.sh):
#   - --dist-backend: a bad value, and nccl without --device cuda, are refused
#     (exit 2, exact messages);
#   - under mpirun (2 ranks): rank 0's NCCL id reaches every rank over MPI, and a
#     refusal or a failed load on one rank makes both fall back together, each with
#     its message (tests/test_nccl_setup.c --ranks, stand-in NCCL functions, and the
#     real ncclGetUniqueId when the CUDA toolkit's libnccl.so.2 is here);
#   - a 2-rank CPU run states its reduction: MPI_Allreduce in host memory.
# The mpirun parts are skipped (with a SKIP line) without mpirun or an OpenMPI build.
set -u
cd "$(dirname "$0")/.."
SDTRAIN=${SD_BIN:-bin}/sdtrain
SETUP=${SD_BUILD:-build}/tests/test_nccl_setup
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
passed=0 failed=0 skipped=0
. tests/check.sh
expect_exit() {  # expect_exit CODE "exact line" command...: that exit status and that line
    local code=$1 text=$2; shift 2
    "$@" >"$tmp/stdout" 2>&1
    local rc=$?
    tail -n 30 "$tmp/stdout"
    [ "$rc" -eq "$code" ] || { echo "exit $rc, expected $code"; return 1; }
    grep -qxF -- "$text" "$tmp/stdout" || { echo "output lacks the line '$text'"; return 1; }
}

check "--dist-backend gloo: exit 2, names the option" expect_exit 2 \
    "sdtrain: bad value 'gloo' for --dist-backend (see --help)" "$SDTRAIN" --dist-backend gloo
check "--dist-backend nccl on the CPU: exit 2, says it needs --device cuda" expect_exit 2 \
    "sdtrain: --dist-backend nccl sums GPU memory: it needs --device cuda (the CPU's gradients are summed with MPI)" \
    "$SDTRAIN" --dist-backend nccl
check "--help lists --dist-backend" bash -c "'$SDTRAIN' --help | grep -q -- '--dist-backend B'"

if ! command -v mpirun >/dev/null 2>&1 || ! ldd "$SDTRAIN" 2>/dev/null | grep -q libmpi; then
    echo "SKIP: t_nccl: no mpirun, or $SDTRAIN built without OpenMPI: the 2-rank checks did not run"
    echo "t_nccl: $passed passed, $failed failed, 1 skipped"
    [ "$failed" -eq 0 ]
    exit
fi
# MPI's own allocations outlive MPI_Finalize: a sanitised build must not call them leaks.
export ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0
export OMP_NUM_THREADS=1
mpi2() { mpirun --oversubscribe --allow-run-as-root -np 2 "$@"; }

mpi2 "$SETUP" --ranks >"$tmp/ranks.log" 2>&1
rc=$?
sed 's/^/    /' "$tmp/ranks.log" | grep -E 'SKIP|FAIL' || true
for r in 0 1; do
    check "id broadcast and fall-back, rank $r: all its checks pass" \
        grep -Eq "^test_nccl_setup rank $r of 2: [1-9][0-9]* passed, 0 failed$" "$tmp/ranks.log"
done
check "the 2 ranks' test exits 0 (it exited $rc)" [ "$rc" -eq 0 ]
if grep -q 'SKIP the real ncclGetUniqueId' "$tmp/ranks.log"; then
    echo "SKIP: t_nccl: the real ncclGetUniqueId's id over MPI (no libnccl.so.2 here)"
    skipped=1
fi

/usr/bin/python3 tests/tiny_mnist.py "$tmp/data" 80 16
printf 'name tiny\nblock basic\nshortcut A\nstem 4 3 1\nstem-pool none\nstages 1x4 1x8\n' >"$tmp/tiny.txt"
check "2 CPU ranks say their reduction: MPI_Allreduce in host memory" expect_exit 0 \
    "sdtrain: gradient reduction: MPI_Allreduce in host memory" \
    mpi2 "$SDTRAIN" --dataset mnist --data "$tmp/data" --model "$tmp/tiny.txt" --val-size 16 \
    --test-limit 16 --epochs 1 --batch-size 16 --threads 1 --prefetch 0 --out "$tmp/run"

echo "t_nccl: $passed passed, $failed failed, $skipped skipped"
[ "$failed" -eq 0 ]
