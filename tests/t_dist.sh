#!/usr/bin/env bash
# Data-parallel sdtrain under mpirun: 2 ranks on this machine (--oversubscribe, one
# OpenMP thread each), a tiny net (4 blocks) on 656 Fashion-MNIST images.
#   - --sync-bn with 2 ranks x batch 32 trains what 1 process x batch 64 trains:
#     after 5 stochastic-depth steps with augmentation every tensor is within 1e-4
#     of its scale; without --sync-bn it is not (so the comparison can fail). (Not
#     more steps: this 4-channel net's trajectory is chaotic enough that after 7-10
#     steps the rounding of one build's sums, e.g. the sanitized -O1 build on an AVX2
#     CPU, grew from 6e-7 to 5e-4 of a BN bias's scale);
#   - the gates are checked equal on all ranks every step; a rank that flips one
#     gate (test hook SDTRAIN_TEST_SKEW_GATES) stops the run with a message;
#   - overlapping the sums with backward (--overlap-kb, small buckets: sums start
#     during backward, the log counts them) gives bit-identical weights;
#   - dropped blocks' gradients are not sent: the bytes per step in the log are
#     below all parameters' bytes with stochastic depth and equal to them with
#     constant depth (the parameter count read from the checkpoint);
#   - kill -9 of one rank ends the run (non-zero status, mpirun's message); a
#     stopped (hung) rank makes the other exit within --dist-timeout;
#   - 2 epochs straight == 1 epoch + --resume (2 ranks): bit-identical weights;
#     resuming on 1 process works and warns.
# Skipped (with a SKIP line) without mpirun or an sdtrain built without OpenMPI.
set -u
cd "$(dirname "$0")/.."
SDTRAIN=${SD_BIN:-bin}/sdtrain
if ! command -v mpirun >/dev/null 2>&1 || ! ldd "$SDTRAIN" 2>/dev/null | grep -q libmpi; then
    echo "SKIP: t_dist: no mpirun, or $SDTRAIN built without OpenMPI (tools/deps.sh installs it)"
    echo "t_dist: 0 passed, 0 failed, 1 skipped"
    exit 0
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
passed=0 failed=0
. tests/check.sh
expect_exit() {  # expect_exit CODE "output substring" command...: exactly that exit and message
    local code=$1 text=$2; shift 2
    "$@" >"$tmp/stdout" 2>&1
    local rc=$?
    tail -n 30 "$tmp/stdout"
    [ "$rc" -eq "$code" ] || { echo "exit $rc, expected $code"; return 1; }
    grep -qF -- "$text" "$tmp/stdout" || { echo "output lacks '$text'"; return 1; }
}
# MPI's own allocations outlive MPI_Finalize: a sanitised build must not call them leaks.
export ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0
export OMP_NUM_THREADS=1
mpi2() { mpirun --oversubscribe --allow-run-as-root -np 2 "$SDTRAIN" "$@"; }

/usr/bin/python3 tests/tiny_mnist.py "$tmp/data" 656 64
printf 'name tiny\nblock basic\nshortcut A\nstem 4 3 1\nstem-pool none\nstages 2x4 2x8\n' >"$tmp/tiny.txt"
# 320 of the 640 training images: 5 steps of a global batch of 64 (runs below that
# name another --train-limit override it).
base=(--dataset mnist --data "$tmp/data" --model "$tmp/tiny.txt" --val-size 16 --test-limit 32
      --seed 3 --threads 1 --lr 0.02 --survival linear --p-last 0.5 --augment --prefetch 1
      --train-limit 320)

check "1 process x batch 64, 5 steps" "$SDTRAIN" "${base[@]}" --epochs 1 --batch-size 64 --out "$tmp/one"
check "2 ranks x batch 32 --sync-bn, gates checked every step" expect_exit 0 \
    "2 ranks x batch 32 = global batch 64; BN statistics over all ranks (--sync-bn)" \
    mpi2 "${base[@]}" --epochs 1 --batch-size 32 --sync-bn --dist-check-every 1 --out "$tmp/sync"
check "--sync-bn: every tensor within 1e-4 of its scale of 1 x 64" /usr/bin/python3 \
    tests/ckpt_tensors_close.py "$tmp/one/last.ckpt" "$tmp/sync/last.ckpt" 1e-4
check "per-rank BN" bash -c "OMP_NUM_THREADS=1 mpirun --oversubscribe --allow-run-as-root -np 2 '$SDTRAIN' ${base[*]} --epochs 1 --batch-size 32 --out '$tmp/local' 2>'$tmp/sd.err'"
check "per-rank BN differs from 1 x 64 beyond 1e-4 (the comparison can fail)" expect_exit 1 \
    "differ beyond 0.0001 of their scale" /usr/bin/python3 tests/ckpt_tensors_close.py \
    "$tmp/one/last.ckpt" "$tmp/local/last.ckpt" 1e-4
check "overlapped with backward, 1 KB buckets: sums started during backward" bash -c \
    "OMP_NUM_THREADS=1 mpirun --oversubscribe --allow-run-as-root -np 2 '$SDTRAIN' ${base[*]} --epochs 1 --batch-size 32 --overlap-kb 1 --out '$tmp/overlap' 2>&1 | grep -E '; [1-9][0-9]* sums started during backward'"
check "overlap changes nothing: weights bit-identical" /usr/bin/python3 \
    tests/ckpt_tensors_equal.py "$tmp/local/last.ckpt" "$tmp/overlap/last.ckpt"
check "rank 0 alone wrote the run: one log with one row" bash -c \
    "[ \$(wc -l < '$tmp/sync/log.csv') -eq 2 ]"

# Bytes per step: every parameter's 4 bytes, counted here from the checkpoint.
param_bytes=$(/usr/bin/python3 -c '
import json, struct, sys
blob = open(sys.argv[1], "rb").read()
(n,) = struct.unpack("<Q", blob[:8])
h = json.loads(blob[8:8 + n]); h.pop("__metadata__", None)
print(sum((v["data_offsets"][1] - v["data_offsets"][0]) for k, v in h.items()
          if not k.startswith("optimizer.") and not k.endswith(("running_mean", "running_var"))))
' "$tmp/sync/last.ckpt")
sent() {  # the bytes per step the log line of run $1 reports
    grep -o 'gradient all-reduce [0-9]* bytes/step' "$tmp/$1.err" | head -1 | grep -o '[0-9]*'
}
all_open() { grep -o 'every block open: [0-9]* bytes/step' "$tmp/$1.err" | head -1 | grep -o '[0-9]*'; }
check "constant depth run" bash -c "OMP_NUM_THREADS=1 mpirun --oversubscribe --allow-run-as-root -np 2 '$SDTRAIN' ${base[*]} --survival none --epochs 1 --batch-size 32 --train-limit 128 --out '$tmp/constant' 2>'$tmp/constant.err'"
check "all parameters = $param_bytes bytes, as the log says" bash -c \
    "[ '$(all_open sd 2>/dev/null)' = '$param_bytes' ] && [ '$(all_open constant 2>/dev/null)' = '$param_bytes' ]"
check "constant depth sends every parameter each step" bash -c "[ '$(sent constant)' = '$param_bytes' ]"
check "stochastic depth sends less ($(sent sd) of $param_bytes bytes/step)" bash -c \
    "[ -n '$(sent sd)' ] && [ '$(sent sd)' -lt '$param_bytes' ]"

check "a rank that draws another gate stops the run: exit 1, says so" expect_exit 1 \
    "the ranks drew different gates by step 3 (checked every 1 steps)" \
    env SDTRAIN_TEST_SKEW_GATES=3 mpirun --oversubscribe --allow-run-as-root -np 2 "$SDTRAIN" \
    "${base[@]}" --epochs 1 --batch-size 32 --dist-check-every 1 --out "$tmp/skew"
check "the stopped run wrote no checkpoint" test ! -e "$tmp/skew/last.ckpt"

# Failures: a long run, one of its ranks killed (-9) or stopped (SIGSTOP) once training.
long=("${base[@]}" --epochs 1000 --batch-size 16 --train-limit 128)
fail_rank() {  # fail_rank SIGNAL OUT: runs, signals one rank, prints mpirun's output + status
    local sig=$1 out=$2
    mpirun --oversubscribe --allow-run-as-root -np 2 "$SDTRAIN" "${long[@]}" --dist-timeout 2 \
        --out "$out" >"$out.log" 2>&1 &
    local launcher=$! waited=0
    until [ -s "$out/last.ckpt" ] || [ $waited -ge 200 ]; do sleep 0.1; waited=$((waited + 1)); done
    local victim; victim=$(pgrep -P "$launcher" | tail -n 1)
    kill "-$sig" "$victim"
    local start=$SECONDS
    wait "$launcher"
    local rc=$?
    cat "$out.log"
    echo "status $rc after $((SECONDS - start)) s"
    kill -9 "$victim" 2>/dev/null  # a stopped rank mpirun did not end (it should have)
    return 0
}
fail_rank 9 "$tmp/killed" >"$tmp/killed.txt" 2>&1
check "kill -9 of a rank: mpirun exits 137 naming it" bash -c \
    "grep -q 'status 137' '$tmp/killed.txt' && grep -q 'exited on signal 9 (Killed)' '$tmp/killed.txt'"
check "after the kill: last.ckpt is whole (tensors readable)" /usr/bin/python3 \
    tests/ckpt_tensors_equal.py "$tmp/killed/last.ckpt" "$tmp/killed/last.ckpt"
fail_rank STOP "$tmp/hung" >"$tmp/hung.txt" 2>&1
check "a hung rank: the other stops within --dist-timeout, exit 1, says why" bash -c \
    "grep -q 'status 1 after' '$tmp/hung.txt' && grep -q 'for the other ranks (one died or hangs); stopping the run (--dist-timeout)' '$tmp/hung.txt'"
check "a hung rank: the run ended within 30 s" bash -c \
    "[ \$(grep -o 'after [0-9]* s' '$tmp/hung.txt' | grep -o '[0-9]*') -le 30 ]"

# Resume on the same number of ranks: bit for bit.
small=("${base[@]}" --batch-size 16 --train-limit 128)
check "2 epochs straight" mpi2 "${small[@]}" --epochs 2 --out "$tmp/straight"
check "1 epoch" mpi2 "${small[@]}" --epochs 1 --out "$tmp/resumed"
check "resume for 1 more" mpi2 --resume "$tmp/resumed" --epochs 2 --threads 1
check "resumed on 2 ranks: weights bit-identical" /usr/bin/python3 tests/ckpt_tensors_equal.py \
    "$tmp/straight/last.ckpt" "$tmp/resumed/last.ckpt"
check "resumed on 1 process: works, warns" expect_exit 0 \
    "was trained on 2 rank(s), this session runs 1: the global batch changes from 32 to 16" \
    "$SDTRAIN" --resume "$tmp/resumed" --epochs 3 --threads 1
echo "t_dist: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
