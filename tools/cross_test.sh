#!/usr/bin/env bash
# The aarch64 check: cross-builds the whole project with Debian's aarch64 gcc into
# build-aarch64/ (`make CROSS=aarch64-linux-gnu-`: only the "portable" vector kernels
# exist there, NEON through GCC's vector types) and runs its C test programs under
# qemu-user, each under `timeout`, CROSS_TEST_JOBS at a time (default: the cores).
# Installs what it needs and this machine lacks (like tools/deps.sh: idempotent, quick
# when everything is present). Prints each program's
# closing line and a summary; exits non-zero when any program fails or none ran.
#   tools/cross_test.sh              install, build, run
#   tools/cross_test.sh --no-run     install and build only
# Not part of `make test` (qemu emulates every instruction: minutes, not seconds); CI
# runs it (.ci/run). The end-to-end scripts (tests/t_*.sh) are not run here: they drive
# the programs through Python and Node peers and would take far longer under qemu.
set -eu
cd "$(dirname "$0")/.."
case "${1:-}" in
    ""|--no-run) ;;
    *) echo "usage: tools/cross_test.sh [--no-run]" >&2; exit 2;;
esac

TRIPLET=aarch64-linux-gnu
BUILD=build-aarch64
TEST_TIMEOUT=${CROSS_TEST_TIMEOUT:-300}  # seconds per program
# The emulated CPU: a real Arm server core (Graviton2, Ampere Altra), so OpenBLAS takes
# its tuned kernels as on such a machine; qemu's default "max" CPU is unknown to
# OpenBLAS, which falls back to its generic ARMv8 kernels. QEMU_CPU=max overrides.
export QEMU_CPU=${QEMU_CPU:-neoverse-n1}

# The two sweeps sample fewer shapes than natively (300 and 40), and the Winograd test
# leaves out its fixed shapes above 4M multiply-adds (the thread splits, tested natively
# with the portable kernels too), so the whole run fits a few minutes under emulation
# (that test alone took 104 s of it). Arguments: [sampled_shapes [seed [max_fixed_macs]]].
declare -A ARGS=([test_conv_direct]="60 1" [test_conv_winograd]="8 3 4000000")
# Built for the CPU too, but they only print SKIP without CUDA.
CUDA_ONLY=" test_cuda_parity test_onnx_cuda "

# ---- dependencies ----
# On this machine: the cross compiler, qemu, protoc-c and the ONNX schema (the generated
# code is the same for every target), the data two tests read (as tools/deps.sh), and
# the MATLAB readers' headers (see SYSLIB below).
HOST_DEBS="gcc-$TRIPLET qemu-user make protobuf-c-compiler libonnx-dev dataset-fashion-mnist
libonnx-testdata libmatio-dev"
# The Arm libraries the build links and the programs load (libc6:arm64 comes with them).
ARM_DEBS="libopenblas-dev:arm64 libprotobuf-c-dev:arm64 libcjson-dev:arm64 zlib1g-dev:arm64
libgomp1:arm64 libmatio11:arm64 libhdf5-103-1:arm64"
# libmatio and Debian's serial libhdf5 (the SVHN MATLAB readers, where the tree has them):
# their arm64 -dev packages cannot sit beside this machine's (libmatio-dev and
# hdf5-helpers are not Multi-Arch: same; apt would remove the amd64 ones). So the build
# takes this machine's headers (the same API types on both 64-bit little-endian targets)
# and links Debian 12's arm64 runtime libraries through links in $SYSLIB.
SYSLIB=$BUILD/syslib

installed() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q "install ok installed"; }

install_missing() {
    local missing="" p
    for p in $HOST_DEBS $ARM_DEBS; do installed "$p" || missing="$missing $p"; done
    local need_arch=0
    dpkg --print-foreign-architectures | grep -qx arm64 || need_arch=1
    if [ -z "${missing// /}" ] && [ "$need_arch" -eq 0 ]; then return 0; fi
    if [ "$(id -u)" -ne 0 ] || ! command -v apt-get >/dev/null 2>&1; then
        echo "cross_test: missing Debian packages:$missing" >&2
        [ "$need_arch" -eq 1 ] && echo "cross_test: first: sudo dpkg --add-architecture arm64" >&2
        echo "cross_test: install them with: sudo apt-get update && sudo apt-get install -y$missing" >&2
        exit 1
    fi
    export DEBIAN_FRONTEND=noninteractive
    if [ "$need_arch" -eq 1 ]; then
        echo "cross_test: dpkg --add-architecture arm64"
        dpkg --add-architecture arm64
    fi
    echo "cross_test: installing$missing"
    # Another apt on a shared machine holds the lock for a while: wait for it.
    apt-get -o DPkg::Lock::Timeout=600 update -qq
    # shellcheck disable=SC2086
    apt-get -o DPkg::Lock::Timeout=600 install -y -qq $missing >/dev/null
}

install_missing

# ---- build: everything, so the whole project is known to compile for aarch64 ----
start=$SECONDS
echo "cross_test: $("$TRIPLET-gcc" --version | head -n 1)"
mkdir -p "$SYSLIB"
ln -sfn "/usr/lib/$TRIPLET/libmatio.so.11" "$SYSLIB/libmatio.so"
ln -sfn "/usr/lib/$TRIPLET/libhdf5_serial.so.103" "$SYSLIB/libhdf5_serial.so"
make --no-print-directory -j"$(nproc 2>/dev/null || echo 2)" CROSS="$TRIPLET-" \
    HDF5_CFLAGS=-I/usr/include/hdf5/serial HDF5_LIBS="-L$PWD/$SYSLIB -lhdf5_serial" \
    programs tests
echo "cross_test: built $BUILD/ in $((SECONDS - start))s"
[ "${1:-}" = --no-run ] && exit 0

# ---- run ----
# -L /: the Arm programs load ld-linux-aarch64.so.1 and libc.so.6 from one package,
# Debian's libc6:arm64 (installed with the Arm libraries above). With the cross
# toolchain's copy of the loader (-L /usr/aarch64-linux-gnu, libc6-arm64-cross, another
# glibc build) the loader still finds libc6:arm64's libc.so.6, and that mixed pair
# hangs in the first pthread_create (seen here: 2.36-8cross1 with 2.36-9+deb12u14).
QEMU=(qemu-aarch64 -L /)
echo "cross_test: $(qemu-aarch64 --version | head -n 1), CPU $QEMU_CPU"
# This machine's OpenBLAS core type (an x86 name) means nothing to the Arm OpenBLAS.
unset OPENBLAS_CORETYPE
export OMP_WAIT_POLICY=${OMP_WAIT_POLICY:-passive}  # as tests/run.sh

programs_passed=0 programs_failed=0 programs_skipped=0 checks_passed=0 checks_failed=0
logs=$(mktemp -d)
trap 'rm -rf "$logs"' EXIT
# The test programs to run, in order.
programs=()
for t in "$BUILD"/tests/test_* "$BUILD"/tests/gradcheck_*; do
    name=$(basename "$t")
    case "$name" in *.o|*.d) continue;; esac
    if [ ! -f "$t" ] || [ ! -x "$t" ]; then continue; fi
    case "$CUDA_ONLY" in *" $name "*) continue;; esac
    programs+=("$t")
done
# One program under qemu: its output to $logs/NAME.log, its exit status and seconds to
# $logs/NAME.rc. CROSS_TEST_JOBS run at a time (default: the cores; each program is
# mostly one emulated thread), then the results are read in order.
run_one() {
    local t=$1 name t0 rc=0
    name=$(basename "$t")
    # shellcheck disable=SC2086
    set -- ${ARGS[$name]:-}
    t0=$SECONDS
    timeout "$TEST_TIMEOUT" "${QEMU[@]}" "$t" "$@" >"$logs/$name.log" 2>&1 || rc=$?
    echo "$rc $((SECONDS - t0))" >"$logs/$name.rc"
}
jobs_max=${CROSS_TEST_JOBS:-$(nproc)}
run_start=$SECONDS
for t in "${programs[@]}"; do
    while [ "$(jobs -rp | wc -l)" -ge "$jobs_max" ]; do wait -n || true; done
    run_one "$t" &
done
wait
for t in "${programs[@]}"; do
    name=$(basename "$t")
    # shellcheck disable=SC2086
    set -- ${ARGS[$name]:-}
    log=$logs/$name.log
    read -r rc seconds <"$logs/$name.rc" || { rc=1; seconds=0; }
    line=$(grep -E '[0-9]+ passed, [0-9]+ failed' "$log" | tail -n 1 || true)
    p=$(sed -nE 's/(.*[^0-9])?([0-9]+) passed, ([0-9]+) failed.*/\2/p' <<<"$line")
    f=$(sed -nE 's/(.*[^0-9])?([0-9]+) passed, ([0-9]+) failed.*/\3/p' <<<"$line")
    # The counted skip form (tests/harness.h test_skip_all): a program whose subject
    # this build leaves out (IMAGES=0 here) says so and counts as skipped, as in tests/run.sh.
    s=$(sed -nE 's/.* passed, [0-9]+ failed, ([0-9]+) skipped.*/\1/p' <<<"$line")
    p=${p:-0} f=${f:-0} s=${s:-0}
    checks_passed=$((checks_passed + p)) checks_failed=$((checks_failed + f))
    if [ "$rc" -eq 0 ] && [ "$f" -eq 0 ] && [ "$p" -gt 0 ]; then
        programs_passed=$((programs_passed + 1))
    elif [ "$rc" -eq 0 ] && [ "$f" -eq 0 ] && [ "$p" -eq 0 ] && [ "$s" -gt 0 ]; then
        programs_skipped=$((programs_skipped + 1))
        grep -E 'SKIP' "$log" | sed 's/^/  /'
    else
        programs_failed=$((programs_failed + 1))
        if [ "$rc" -eq 124 ]; then line="TIMEOUT after ${TEST_TIMEOUT}s${line:+; $line}"; fi
        echo "---- $name $* (exit $rc): last lines ----"
        tail -n 20 "$log"
        echo "----"
    fi
    printf '%-22s %-6s %4ds  %s\n' "$name" "$*" "$seconds" "${line:-exit $rc, no closing line}"
done
echo "cross_test: aarch64 under qemu ($QEMU_CPU): $programs_passed programs passed," \
     "$programs_failed failed, $programs_skipped skipped; checks: $checks_passed passed, $checks_failed failed;" \
     "run $((SECONDS - run_start))s, total $((SECONDS - start))s"
[ "$programs_failed" -eq 0 ] && [ "$programs_passed" -gt 0 ]
