#!/usr/bin/env bash
# Data-parallel sdtrain on a GPU: 2 ranks under mpirun (--oversubscribe) on ONE GPU,
# the reduction sdtrain picks (NCCL, or the host-staged MPI sums when NCCL refuses
# one device twice: the log line says which), against one process with twice the
# batch, after 10 stochastic-depth steps with --sync-bn: every tensor within 1e-4 of
# its scale (as tests/t_dist.sh on the CPU). Also: overlapping the sums with backward
# (--overlap-kb, a second stream with NCCL) gives bit-identical weights (with 2 ranks
# a sum has one order), and --dist-backend mpi (host-staged) is forced once.
# Needs a GPU, an sdtrain built with CUDA=1 and OpenMPI, and mpirun; elsewhere it
# prints a SKIP line. bench/gpu_run.sh runs it as its `dist` phase:
#   SD_BIN (default bin), FMNIST (Fashion-MNIST's gzipped IDX files; default Debian's),
#   PYTHON (default python3).
set -u
cd "$(dirname "$0")/.."
SDTRAIN=${SD_BIN:-bin}/sdtrain
PYTHON=${PYTHON:-python3}
FMNIST=${FMNIST:-/usr/share/datasets/fashion-mnist}
skip() {
    echo "t_nccl_gpu: SKIP ($1)"
    echo "t_nccl_gpu: 0 passed, 0 failed, 1 skipped"
    exit 0
}
command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi -L >/dev/null 2>&1 || skip "no GPU here"
command -v mpirun >/dev/null 2>&1 || skip "no mpirun on this machine: the 2-rank GPU run needs OpenMPI's launcher"
echo "t_nccl_gpu: $(command -v mpirun): $(mpirun --version 2>&1 | head -n 1)"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
passed=0 failed=0
. tests/check.sh
printf 'name tiny\nblock basic\nshortcut A\nstem 4 3 1\nstem-pool none\nstages 2x4 2x8\n' >"$tmp/tiny.txt"
# 640 training images: 10 steps of a global batch of 64.
base=(--dataset fashion-mnist --data "$FMNIST" --model "$tmp/tiny.txt" --device cuda
      --train-limit 656 --val-size 16 --test-limit 32 --seed 3 --lr 0.02 --survival linear
      --p-last 0.5 --augment --prefetch 1 --epochs 1)
mpi2() { mpirun --oversubscribe --allow-run-as-root -np 2 "$SDTRAIN" "$@"; }

check "1 process x batch 64 on the GPU" "$SDTRAIN" "${base[@]}" --batch-size 64 --out "$tmp/one"
check "2 ranks x batch 32 on one GPU, --sync-bn" bash -c \
    "$(declare -f mpi2); SDTRAIN='$SDTRAIN'; mpi2 $(printf '%q ' "${base[@]}") --batch-size 32 --sync-bn --out '$tmp/two' >'$tmp/two.log' 2>&1"
reduction=$(grep -o 'gradient reduction: .*' "$tmp/two.log" | head -n 1)
echo "t_nccl_gpu: 2 ranks: ${reduction:-no reduction line}"
check "the log states the reduction" [ -n "$reduction" ]
check "2 x 32 --sync-bn: every tensor within 1e-4 of its scale of 1 x 64" "$PYTHON" \
    tests/ckpt_tensors_close.py "$tmp/one/last.ckpt" "$tmp/two/last.ckpt" 1e-4
check "overlapped with backward (--overlap-kb 1)" bash -c \
    "$(declare -f mpi2); SDTRAIN='$SDTRAIN'; mpi2 $(printf '%q ' "${base[@]}") --batch-size 32 --sync-bn --overlap-kb 1 --out '$tmp/overlap' >'$tmp/overlap.log' 2>&1"
check "overlap changes nothing: bit-identical weights" "$PYTHON" \
    tests/ckpt_tensors_equal.py "$tmp/two/last.ckpt" "$tmp/overlap/last.ckpt"
check "--dist-backend mpi: host-staged, says so" bash -c \
    "$(declare -f mpi2); SDTRAIN='$SDTRAIN'; mpi2 $(printf '%q ' "${base[@]}") --batch-size 32 --sync-bn --dist-backend mpi --out '$tmp/mpi' 2>&1 | grep -q 'gradient reduction: MPI_Allreduce in host memory (host-staged, --dist-backend mpi)'"
check "host-staged: within 1e-4 of 1 x 64 too" "$PYTHON" \
    tests/ckpt_tensors_close.py "$tmp/one/last.ckpt" "$tmp/mpi/last.ckpt" 1e-4
echo "t_nccl_gpu: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
