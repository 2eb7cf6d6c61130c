#!/usr/bin/env bash
# Data-parallel sdtrain on this machine's CPU: images/s of one process against two
# ranks under mpirun, with the same cores and the same global batch ("ranks"), the
# gradient bytes each rank gives to the all-reduce per step, stochastic depth
# (linear, p_L = 0.5) against constant depth ("bytes"), and 2 ranks x 1 thread with
# the sums overlapped with backward (--overlap-kb) against after it ("overlap").
# Never part of `make test`.
#   bench/dist_bench.sh [all|ranks|bytes|overlap ...]     (default all)
#
# On one machine two ranks share its cores and memory: this shows the cost of the
# exchange and of splitting the batch, not a speed-up (that needs a second machine).
#   DIST_MODEL    preset (default resnet20-cifar)
#   DIST_BATCH    global batch (default 128; each of 2 ranks takes half)
#   DIST_IMAGES   training images per epoch (default 4096)
#   DIST_REPEATS  alternating runs of each side (default 3; the median is printed)
#   DIST_BYTES_MODELS  presets whose bytes per step are counted (default
#                 "resnet20-cifar resnet110-cifar")
#   DIST_OVERLAP_MODELS  presets of the overlap comparison (default
#                 "resnet20-cifar resnet110-cifar"), each with DIST_IMAGES / 4 images
#   DIST_OVERLAP_KB  bucket size of the overlapped side (default 256)
# Fashion-MNIST from Debian (dataset-fashion-mnist). Logs in runs/bench-dist/.
set -euo pipefail
cd "$(dirname "$0")/.."
SDTRAIN=${SD_BIN:-bin}/sdtrain
model=${DIST_MODEL:-resnet20-cifar}
batch=${DIST_BATCH:-128}
images=${DIST_IMAGES:-4096}
repeats=${DIST_REPEATS:-3}
bytes_models=${DIST_BYTES_MODELS:-resnet20-cifar resnet110-cifar}
overlap_models=${DIST_OVERLAP_MODELS:-resnet20-cifar resnet110-cifar}
overlap_kb=${DIST_OVERLAP_KB:-256}
parts=" ${*:-all} "
wants() { [[ $parts == *" all "* || $parts == *" $1 "* ]]; }
cores=$(nproc)
out=runs/bench-dist
mkdir -p "$out"
if ! command -v mpirun >/dev/null || ! ldd "$SDTRAIN" | grep -q libmpi; then
    echo "dist_bench: needs mpirun and an sdtrain built with OpenMPI (tools/deps.sh)" >&2
    exit 1
fi
# Waiting threads sleep on both sides (as tests/run.sh): spinning would favour the side
# with fewer threads per process on a busy machine.
export OMP_WAIT_POLICY=${OMP_WAIT_POLICY:-passive}
mpi() { OMP_NUM_THREADS=$1 mpirun --oversubscribe --allow-run-as-root -np "$2" "$SDTRAIN" "${@:3}"; }
common=(--dataset fashion-mnist --model "$model" --epochs 1 --train-limit "$images" --val-size 0
        --test-limit 1 --seed 1 --force)
ips() { awk -F, 'NR == 2 { print $7 }' "$1/log.csv"; }  # images/s (global) of epoch 1
median() { sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }

echo "machine: $(lscpu | sed -n 's/^Model name: *//p'), $cores cores; load before: $(cut -d' ' -f1-3 /proc/loadavg)"
if wants ranks; then
one=() two=() single=()
for r in $(seq "$repeats"); do  # alternating, so drifts of the machine hit both sides
    "$SDTRAIN" "${common[@]}" --batch-size "$batch" --threads "$cores" --out "$out/one" \
        >"$out/one.$r.log" 2>&1
    one+=("$(ips "$out/one")")
    "$SDTRAIN" "${common[@]}" --batch-size "$batch" --threads 1 --out "$out/single" \
        >"$out/single.$r.log" 2>&1
    single+=("$(ips "$out/single")")
    mpi $((cores / 2 > 0 ? cores / 2 : 1)) 2 "${common[@]}" --batch-size $((batch / 2)) \
        --threads $((cores / 2 > 0 ? cores / 2 : 1)) --out "$out/two" >"$out/two.$r.log" 2>&1
    two+=("$(ips "$out/two")")
done
m1=$(printf '%s\n' "${one[@]}" | median)
m2=$(printf '%s\n' "${two[@]}" | median)
m0=$(printf '%s\n' "${single[@]}" | median)
printf '%s, global batch %d, %d images, %d runs each (images/s: %s | %s | %s); load after: %s\n' \
    "$model" "$batch" "$images" "$repeats" "${one[*]}" "${single[*]}" "${two[*]}" \
    "$(cut -d' ' -f1-3 /proc/loadavg)"
printf '  1 process x %d threads:         %10.1f images/s\n' "$cores" "$m1"
printf '  1 process x 1 thread:           %10.1f images/s\n' "$m0"
printf '  2 ranks x %d thread(s) (mpirun): %10.1f images/s  (%.2fx)\n' $((cores / 2)) "$m2" \
    "$(awk -v a="$m2" -v b="$m1" 'BEGIN { print a / b }')"
fi

if wants bytes; then
echo "gradient bytes per rank per step (2 ranks, $((images / 4)) images):"
for m in $bytes_models; do
    for rule in none linear; do
        mpi 1 2 --dataset fashion-mnist --model "$m" --epochs 1 --train-limit $((images / 4)) \
            --val-size 0 --test-limit 1 --batch-size 32 --threads 1 --survival "$rule" \
            --force --out "$out/bytes-$m-$rule" >"$out/bytes-$m-$rule.log" 2>&1
        line=$(grep -o 'gradient all-reduce.*' "$out/bytes-$m-$rule.log" | head -n 1)
        printf '  %-18s %-7s %s\n' "$m" "$rule" "$line"
    done
done
fi

# Overlap: the same 2 ranks x 1 thread and global batch, sums after backward (0) against
# sums started during backward in buckets of overlap_kb (alternating runs, median).
if wants overlap; then
echo "overlap: 2 ranks x 1 thread, global batch $batch, $((images / 4)) images, --overlap-kb 0 vs $overlap_kb; load before: $(cut -d' ' -f1-3 /proc/loadavg)"
for m in $overlap_models; do
    after=() during=()
    for r in $(seq "$repeats"); do
        for kb in 0 "$overlap_kb"; do
            mpi 1 2 --dataset fashion-mnist --model "$m" --epochs 1 --train-limit $((images / 4)) \
                --val-size 0 --test-limit 1 --seed 1 --force --batch-size $((batch / 2)) --threads 1 \
                --overlap-kb "$kb" --out "$out/overlap-$m-$kb" >"$out/overlap-$m-$kb.$r.log" 2>&1
            if [ "$kb" = 0 ]; then after+=("$(ips "$out/overlap-$m-$kb")"); else during+=("$(ips "$out/overlap-$m-$kb")"); fi
        done
    done
    ma=$(printf '%s\n' "${after[@]}" | median)
    md=$(printf '%s\n' "${during[@]}" | median)
    sums=$(grep -o '[0-9]* sums started during backward' "$out/overlap-$m-$overlap_kb.$repeats.log" | head -n 1)
    printf '  %-16s after backward %8.1f images/s | overlapped %8.1f images/s | ratio %.3f  (runs: %s | %s; %s)\n' \
        "$m" "$ma" "$md" "$(awk -v a="$md" -v b="$ma" 'BEGIN { print a / b }')" "${after[*]}" "${during[*]}" "$sums"
done
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)"
fi
