#!/usr/bin/env bash
# Regenerates infer/CONFORMANCE.md: the ONNX backend node tests (Debian's
# libonnx-testdata) sdinfer passes and the ones it skips, with the reason, as
# the conformance test itself reports them. Never edit CONFORMANCE.md by hand.
#
#   infer/make_conformance_md.sh            (builds the test first)
set -eu
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
make --no-print-directory -j2 "$BUILD/tests/test_onnx_conformance" >/dev/null
"$BUILD/tests/test_onnx_conformance" --markdown infer/CONFORMANCE.md \
    --write-passing tests/conformance_passing.txt | tail -n 3
echo "wrote infer/CONFORMANCE.md and tests/conformance_passing.txt"
