#!/usr/bin/env bash
# The GPU run: on a machine with an NVIDIA GPU, with .gpu/ from bench/gpu_pack.sh
# carried along, runs every GPU check and benchmark in phases and brings back one
# log per phase and a summary:
#
#   bench/gpu_run.sh [all|tests|bench|PHASE...] [DIR]     (DIR default runs/gpu)
#
# phases, in order (cap = the longest it may run, in seconds):
#   parity       tests/test_cuda_parity: every op, CUDA vs CPU; training steps;
#                graphs vs eager                                           cap  90
#   onnx_cuda    tests/test_onnx_cuda: sdinfer's plans on CUDA vs PyTorch's logits  45
#   conformance  tests/test_onnx_conformance --device cuda (ONNX node tests)    60
#   dist         tests/t_nccl_gpu.sh: 2 ranks on the GPU (NCCL or host-staged) vs
#                1 process x 2 batch, --sync-bn, 10 steps; overlap; needs mpirun  90
#   train        bench/gpu_train_bench.sh: constant vs stochastic depth, eager vs
#                --cuda-graphs, vs PyTorch eager; real epochs, --prefetch 0 / 2  170
#   infer        bench/gpu_infer_bench.sh: sdinfer on CUDA vs PyTorch eager and
#                onnxruntime, batch 1 and 1024, after a logits check            80
#   repro        bench/gpu_repro.sh: ResNet-110 on Fashion-MNIST, constant vs
#                linear p_L = 0.5, sized from the train phase's images/s       150
# `tests` = the first four, `bench` = the last three. Every phase runs under
# `timeout`, within one overall budget (GPU_BUDGET_S, default 530 s, so the whole
# run fits 9 minutes): a phase gets its cap or what is left after keeping a
# minimum for the phases after it. A phase that fails or times out never stops
# the others. DIR receives PHASE.log for each phase and summary.txt: a header
# (machine, GPU, libraries, the packed commit) and one row per phase (status,
# seconds, its figure or n/a); the summary is printed last. Only those files go
# to DIR (scratch goes to GPU_WORK, default runs/gpu-work), so DIR can be the
# device tool's $OUT (which brings back at most 8 files). Exit status 0 when
# every phase that ran passed (or skipped).
#
# GPU_DRY_RUN=1: the same script on the CPU, at tiny sizes, with the CPU build
# (SD_BIN, default build/bin; SD_BUILD, default build): the CUDA tests report
# their skip, the benchmarks run with --device cpu, and the summary has the same
# rows. tests/t_gpu_dry_run.sh runs it in `make test`. For that test,
# GPU_BREAK_PHASE=NAME makes one phase fail on purpose, GPU_STALL_PHASE=NAME makes one
# phase hang after its work (a child that sleeps until the cap stops it, so an overrun
# does not depend on how fast the machine is) and GPU_CAP_NAME=S overrides a phase's cap.
set -uo pipefail
cd "$(dirname "$0")/.."
root=$PWD
# ---- one phase (run as `gpu_run.sh --phase NAME LIMIT`, under timeout) ----------------------
# Sizes: full on the GPU, tiny in the dry run.
phase_command() {
    local name=$1 limit=$2 common_env=(SD_BIN="$BIN" PYTHON="$PYTHON" DEVICE="$DEVICE" BENCH_WORK="$work")
    # CI has no PyTorch (tools/deps.sh installs it only for `make bench`): the dry
    # run then leaves the peer out; on the GPU machine a missing PyTorch is a failure.
    if [ "$dry" = 1 ] && ! "$PYTHON" -c 'import torch' 2>/dev/null; then
        echo "gpu_run: $PYTHON has no torch: the PyTorch peer is left out of this dry run"
        common_env+=(SKIP_TORCH=1)
    fi
    local train_env infer_env repro_env ips
    if [ "$dry" = 1 ]; then
        # ResNet-8 (one block per stage): the plumbing, not the speed, is under test.
        local tiny=$work/resnet8-cifar.txt
        printf 'name resnet8-cifar\nblock basic\nshortcut A\nstem 16 3 1\nstem-pool none\nstages 1x16 1x32 1x64\n' >"$tiny"
        train_env=(MODEL="$tiny" BATCH=4 STEPS=2 REPEATS=2 EPOCH_IMAGES=32 EPOCH_EVAL=16 CIFAR_RECORDS=64)
        infer_env=(MODEL="$tiny" BATCHES="1 16" RUNS_SMALL=5 RUNS_LARGE=2 CIFAR_RECORDS=64)
        repro_env=(MODEL="$tiny" BATCH=16 TRAIN_LIMIT=64 VAL_SIZE=32 TEST_LIMIT=32 EPOCHS=2)
    else
        train_env=(MODEL=resnet110-cifar BATCH=128 STEPS=30 REPEATS=3 EPOCH_IMAGES=12800)
        infer_env=(MODEL=resnet110-cifar BATCHES="1 1024")
        repro_env=(MODEL=resnet110-cifar BATCH=128 TRAIN_LIMIT=20000 VAL_SIZE=5000)
    fi
    if [ "${GPU_BREAK_PHASE:-}" = "$name" ]; then
        echo "broken on purpose (GPU_BREAK_PHASE)"
        return 3
    fi
    if [ "${GPU_STALL_PHASE:-}" = "$name" ]; then
        phase_work "$name" || return
        echo "stalls on purpose (GPU_STALL_PHASE)"
        sleep 86399  # a child of the phase: the cap's timeout must stop it
        return
    fi
    phase_work "$name"
}

# The phase's own work (the benchmarks and tests above, at the sizes chosen there).
phase_work() {
    local name=$1
    case "$name" in
    parity) "$TESTS/test_cuda_parity" ;;
    onnx_cuda) "$TESTS/test_onnx_cuda" ;;
    conformance) "$TESTS/test_onnx_conformance" --device "$DEVICE" --data "$ONNX_DATA" ;;
    dist) env SD_BIN="$BIN" PYTHON="$PYTHON" FMNIST="${FMNIST:-/usr/share/datasets/fashion-mnist}" \
              bash tests/t_nccl_gpu.sh ;;
    train) env "${common_env[@]}" "${train_env[@]}" bash bench/gpu_train_bench.sh ;;
    infer) env "${common_env[@]}" "${infer_env[@]}" bash bench/gpu_infer_bench.sh ;;
    repro)
        # Sized from the train phase's constant-depth images/s (eager).
        ips=$(grep -oE 'summary: sdtrain img/s constant [0-9.]+' "$dir/train.log" 2>/dev/null | awk '{print $5}')
        env "${common_env[@]}" "${repro_env[@]}" IPS_HINT="$ips" DATA="$FMNIST" \
            BUDGET_S=$((limit - 15)) bash bench/gpu_repro.sh
        ;;
    esac
}
if [ "${1:-}" = --phase ]; then
    phase_command "$2" "$3"
    exit
fi

what=${1:-all}
dir=${2:-runs/gpu}
mkdir -p "$dir" && dir=$(cd "$dir" && pwd)
work=${GPU_WORK:-runs/gpu-work}
mkdir -p "$work" && work=$(cd "$work" && pwd)
budget=${GPU_BUDGET_S:-530}
dry=${GPU_DRY_RUN:-0}
summary=$dir/summary.txt

phases=(parity onnx_cuda conformance dist train infer repro)
declare -A cap=([parity]=90 [onnx_cuda]=45 [conformance]=60 [dist]=90 [train]=170 [infer]=80 [repro]=150)
declare -A floor_s=([parity]=30 [onnx_cuda]=15 [conformance]=20 [dist]=30 [train]=60 [infer]=40 [repro]=60)
case "$what" in
all) selected=("${phases[@]}") ;;
tests) selected=(parity onnx_cuda conformance dist) ;;
bench) selected=(train infer repro) ;;
*)
    selected=()
    for p in $what; do
        if [ -z "${cap[$p]:-}" ]; then
            echo "usage: bench/gpu_run.sh [all|tests|bench|'PHASE ...'] [DIR]; phases: ${phases[*]}" >&2
            exit 2
        fi
        selected+=("$p")
    done
    ;;
esac

# ---- where the programs, the libraries and the data come from ---------------------------
header=()
note() { header+=("$*"); echo "gpu_run: $*" >&2; }

# Unpacks .gpu/payload.tar.xz into .gpu/unpacked (once per payload).
unpack_payload() {
    local payload=.gpu/payload.tar.xz stamp=.gpu/unpacked/.payload-sha256 sum
    if [ ! -f "$payload" ]; then
        echo "gpu_run: no $payload here: run bench/gpu_pack.sh on the build machine and carry .gpu" >&2
        return 1
    fi
    sum=$(sha256sum "$payload" | cut -d' ' -f1)
    [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$sum" ] && return 0
    rm -rf .gpu/unpacked && mkdir -p .gpu/unpacked
    if command -v xz >/dev/null; then
        tar -C .gpu/unpacked -xJf "$payload" || return 1
    else  # Python's tarfile reads xz through its lzma module
        python3 -c 'import sys, tarfile; tarfile.open(sys.argv[1]).extractall(sys.argv[2])' \
            "$payload" .gpu/unpacked || return 1
    fi
    echo "$sum" >"$stamp"
}

# The folders holding cuDNN 9, cuBLAS 13 and the CUDA 13 runtime: PyTorch's nvidia
# wheels (in every existing site-packages folder), the CUDA toolkit, the system.
find_cuda_libs() {
    local roots=() d
    while read -r d; do [ -d "$d" ] && roots+=("$d"); done < <(
        python3 -c 'import site, sys
for p in site.getsitepackages() + [site.getusersitepackages()] + sys.path: print(p)' 2>/dev/null)
    for d in /usr/local/cuda /usr/local/cuda-13* /usr/local/nvidia /usr/lib/x86_64-linux-gnu /opt; do
        [ -d "$d" ] && roots+=("$d")
    done
    local lib found dirs=""
    for lib in libcudnn.so.9 libcublas.so.13 libcublasLt.so.13 libcudart.so.13 libnccl.so.2; do
        found=$(find -L "${roots[@]}" -maxdepth 6 -name "$lib" 2>/dev/null | head -n 1)
        if [ -n "$found" ]; then
            dirs="$dirs:$(dirname "$found")"
            note "$lib: $(readlink -f "$found")"
        else
            note "$lib: NOT FOUND"
        fi
    done
    tr ':' '\n' <<<"$dirs" | awk 'NF && !seen[$0]++' | paste -sd: -
}

# Launchers that give our binaries their libraries and nothing else theirs (PyTorch
# keeps the environment the machine gave it).
make_launchers() {
    local libs=$1 kind f
    for kind in bin tests; do
        mkdir -p ".gpu/unpacked/launch/$kind"
        for f in .gpu/unpacked/"$kind"/*; do
            printf '#!/bin/sh\nLD_LIBRARY_PATH="%s${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}" exec "%s" "$@"\n' \
                "$libs" "$root/$f" >".gpu/unpacked/launch/$kind/$(basename "$f")"
            chmod +x ".gpu/unpacked/launch/$kind/$(basename "$f")"
        done
    done
}

if [ "$dry" = 1 ]; then
    BIN=$(cd "${SD_BIN:-build/bin}" && pwd) || exit 2
    TESTS=$(cd "${SD_BUILD:-build}/tests" && pwd) || exit 2
    DEVICE=cpu
    PYTHON=${PYTHON:-/usr/bin/python3}
    ONNX_DATA=/usr/share/libonnx-testdata/data/node
    FMNIST=""  # sdtrain's default: Debian's package
    note "dry run on the CPU: $BIN, $TESTS"
else
    DEVICE=cuda
    PYTHON=${PYTHON:-python3}
    if unpack_payload; then
        [ -f .gpu/MANIFEST ] && note "packed: $(head -n 2 .gpu/MANIFEST | paste -sd';' -)"
        libs="$root/.gpu/unpacked/lib:$(find_cuda_libs)"
        make_launchers "$libs"
        BIN=$root/.gpu/unpacked/launch/bin
        TESTS=$root/.gpu/unpacked/launch/tests
        missing=$(LD_LIBRARY_PATH="$libs" ldd .gpu/unpacked/bin/sdtrain 2>&1 | grep "not found" | awk '{print $1}' | xargs)
        [ -z "$missing" ] || note "sdtrain misses: $missing"
    else
        BIN=/nonexistent TESTS=/nonexistent
    fi
    ONNX_DATA=$root/.gpu/unpacked/onnx-node
    FMNIST=$root/.gpu/fashion-mnist
    note "$(nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader 2>/dev/null | head -n 1 || echo 'nvidia-smi: no answer')"
fi
export BIN TESTS DEVICE PYTHON ONNX_DATA FMNIST work dir dry
note "host: $(uname -n), $(nproc) cores, $(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)"

declare -A status seconds figure

# The figure of a finished phase: a benchmark's "summary:" line, a test program's
# SKIP line when it ran nothing, else its count line; else the log's last line (what
# a failure said last).
phase_figure() {
    local log=$1 line
    line=$(grep -E '^summary: ' "$log" | tail -n 1)
    [ -n "$line" ] && { echo "${line#summary: }"; return; }
    line=$(grep -E '^[^ ]+: SKIP' "$log" | tail -n 1)  # a test program that ran nothing
    grep -qE '[1-9][0-9]* passed' "$log" && line=""
    [ -n "$line" ] || line=$(grep -E '[0-9]+ passed, [0-9]+ failed' "$log" | tail -n 1)
    [ -n "$line" ] || line=$(grep -v '^[[:space:]]*$' "$log" | tail -n 1 | cut -c1-200)
    echo "${line:-n/a}"
}

run_phase() {
    local name=$1 index=$2 reserve=0 p available limit rc begin
    for p in "${selected[@]:$((index + 1))}"; do reserve=$((reserve + floor_s[$p])); done
    available=$((budget - (SECONDS - run_start) - reserve))
    limit=${cap[$name]}
    [ -n "$(printenv "GPU_CAP_$name")" ] && limit=$(printenv "GPU_CAP_$name")
    [ "$available" -lt "$limit" ] && limit=$available
    local log=$dir/$name.log
    if [ "$available" -lt 5 ]; then
        status[$name]=not-run seconds[$name]=0 figure[$name]="no time left in the ${budget}s budget"
        echo "no time left in the ${budget}s budget" >"$log"
        return
    fi
    echo "== phase $name (at most ${limit}s)" >&2
    begin=$SECONDS
    timeout -k 5 "$limit" "$root/bench/gpu_run.sh" --phase "$name" "$limit" >"$log" 2>&1
    rc=$?
    seconds[$name]=$((SECONDS - begin))
    figure[$name]=$(phase_figure "$log")
    case "$rc" in
    0) status[$name]=pass
       if grep -qE '^[^ ]+: SKIP' "$log" && ! grep -qE '[1-9][0-9]* passed' "$log"; then
           # A CUDA test skips without a device: expected in the dry run, a failure on the GPU.
           status[$name]=skip
           [ "$dry" = 1 ] || status[$name]=FAIL
       fi ;;
    124 | 137) status[$name]=TIMEOUT figure[$name]="stopped after ${limit}s; ${figure[$name]}" ;;
    *) status[$name]=FAIL figure[$name]="exit $rc; ${figure[$name]}" ;;
    esac
    tail -n 3 "$log" | sed "s/^/  $name: /" >&2
}

run_start=$SECONDS
for i in "${!selected[@]}"; do run_phase "${selected[$i]}" "$i"; done

# ---- the summary ----------------------------------------------------------------------------
{
    echo "GPU run $(date -u '+%Y-%m-%dT%H:%M:%SZ'), budget ${budget}s, used $((SECONDS - run_start))s${dry:+$([ "$dry" = 1 ] && echo ' (DRY RUN on the CPU: no GPU figures)')}"
    printf '  %s\n' "${header[@]}"
    printf '%-12s %-8s %6s  %s\n' phase status seconds figure
    for p in "${selected[@]}"; do
        printf '%-12s %-8s %6s  %s\n' "$p" "${status[$p]}" "${seconds[$p]}s" "${figure[$p]}"
    done
} >"$summary"
echo >&2
cat "$summary"
for p in "${selected[@]}"; do
    case "${status[$p]}" in pass | skip) ;; *) exit 1 ;; esac
done
exit 0
