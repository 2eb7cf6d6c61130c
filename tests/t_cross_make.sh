#!/usr/bin/env bash
# The Makefile's cross build (make CROSS=aarch64-linux-gnu-), checked with `make -n` and
# a stand-in compiler that only answers -dumpmachine, so no cross toolchain is needed:
# the build goes to build-aarch64/, with the cross gcc and ar, no -march (x86 flags must
# not leak into it), the portable vector kernels only; CUDA=1 and `make test` are
# refused with their messages. tools/cross_test.sh does the real build and runs it.
set -u
cd "$(dirname "$0")/.." || exit 1
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
# A clean environment: a make that runs this script exports its own command-line
# variables (SAN=1 ...) and MAKEFLAGS to it, and CC, ARCH, CFLAGS... would change the plan.
mk() { env -i PATH="$PATH" make "$@"; }
passed=0 failed=0
. tests/check.sh

cross=$tmp/aarch64-linux-gnu-
cat >"${cross}gcc" <<'GCC'
#!/bin/sh
[ "$1" = -dumpmachine ] && echo aarch64-linux-gnu && exit 0
exit 1
GCC
chmod +x "${cross}gcc"

mk -n -B CROSS="$cross" programs tests >"$tmp/plan" 2>"$tmp/plan.err"
status=$?
check "make -n CROSS=... programs tests succeeds" test "$status" -eq 0
grep -F "${cross}gcc " "$tmp/plan" >"$tmp/compiles"
check "it compiles with the cross gcc" test "$(wc -l <"$tmp/compiles")" -gt 50
check "no -march in the cross build" sh -c "! grep -n -e '-march' '$tmp/compiles'"
check "every compile writes into build-aarch64/" \
    sh -c "! grep -F ' -c ' '$tmp/compiles' | grep -v -E ' -o build-aarch64/[^ ]+\.o$'"
check "the portable kernels, float and double" \
    sh -c "grep -q ' -o build-aarch64/kernels/cpu/simd/conv_direct.portable.o$' '$tmp/compiles' &&
           grep -q ' -o build-aarch64/f64/kernels/cpu/simd/conv_direct.portable.o$' '$tmp/compiles'"
check "no avx2 or avx512 kernels" sh -c "! grep -E 'avx2|avx512' '$tmp/plan'"
check "archives with the cross ar" grep -qF "${cross}ar rcs build-aarch64/libsd.a" "$tmp/plan"
check "the test programs are linked in build-aarch64/tests/" \
    grep -qF -e "-o build-aarch64/tests/test_conv_winograd" "$tmp/plan"

expect_refusal() {  # expect_refusal "what" "message" make-arguments...
    local what=$1 message=$2; shift 2
    mk -n CROSS="$cross" "$@" >"$tmp/refused" 2>&1
    local status=$?
    check "$what: exit 2" test "$status" -eq 2
    check "$what: message" grep -qF "$message" "$tmp/refused"
}
expect_refusal "make test for aarch64" \
    "*** aarch64 programs do not run here: tools/cross_test.sh runs its tests under qemu-user.  Stop." test
expect_refusal "CUDA=1 for aarch64" \
    "*** CUDA=1 builds for this machine's CPU only, not for aarch64.  Stop." CUDA=1 programs

# The native build is unchanged: build/, and on x86-64 the baseline -march.
mk -n -B programs >"$tmp/native" 2>&1
check "a native build goes to build/" grep -qE -e ' -o build/common/[a-z_]+\.o$' "$tmp/native"
if [ "$(uname -m)" = x86_64 ]; then
    check "a native x86-64 build keeps -march=x86-64" grep -qF -e "-march=x86-64 " "$tmp/native"
fi

echo "t_cross_make: $passed passed, $failed failed"
[ "$failed" -eq 0 ] && [ "$passed" -gt 0 ]
