#!/usr/bin/env bash
# sdinfer on ONNX models whose tensors live in external data files
# (tests/fixtures/external/, written by onnx's own writer: tests/make_external_fixtures.py):
# the one-file, one-file-per-tensor and external-Constant forms give the inline model's
# logits bit for bit, whatever the working directory; they are within 1e-4 of
# onnxruntime's; every broken variant exits 2 with its exact message (expected.tsv); a
# data file that is a FIFO is refused without hanging; a model declaring more external
# bytes than the host has is refused before anything is read.
# Needs: $SD_BIN/sdinfer, node (tests/node/node_modules), /usr/bin/python3 with onnx + numpy.
set -u
cd "$(dirname "$0")/.."
ROOT=$PWD
SDINFER=${SD_BIN:-$ROOT/build/bin}/sdinfer
PY=/usr/bin/python3
FIX=tests/fixtures/external
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
passed=0 failed=0
. tests/check.sh
refuses() {  # refuses "exact message" command...: exit status 2 and stderr exactly the message
    local text=$1; shift
    timeout 20 "$@" >"$tmp/out.txt" 2>"$tmp/err.txt"
    local rc=$?
    [ "$rc" -eq 2 ] || { echo "exit $rc, expected 2"; cat "$tmp/err.txt"; return 1; }
    [ "$(cat "$tmp/err.txt")" = "sdinfer: $text" ] ||
        { echo "stderr is:"; cat "$tmp/err.txt"; echo "expected: sdinfer: $text"; return 1; }
}
run() {  # run MODEL OUTPUT: sdinfer on the fixtures' input
    "$SDINFER" "$1" --input-tensor "$ROOT/$FIX/input.pb" --output-tensor "$2"
}

# ---- the external forms against the inline model, bit for bit ----------------------
check "inline runs" run "$FIX/inline.onnx" "$tmp/inline.pb"
for form in one_file per_tensor/model constant_too ok_no_offset_length ok_checksum_prepacked; do
    out="$tmp/${form//\//_}.pb"
    check "$form runs" run "$FIX/$form.onnx" "$out"
    check "$form = inline, bit for bit" cmp "$tmp/inline.pb" "$out"
done
# Locations are relative to the model file's directory, not to the working directory.
mkdir -p "$tmp/elsewhere/copy"
cp "$FIX/one_file.onnx" "$FIX/one_file.data" "$tmp/elsewhere/copy/"
check "a copy elsewhere runs" bash -c "cd / && '$SDINFER' '$tmp/elsewhere/copy/one_file.onnx' \
    --input-tensor '$ROOT/$FIX/input.pb' --output-tensor '$tmp/copy.pb'"
check "a copy elsewhere = inline" cmp "$tmp/inline.pb" "$tmp/copy.pb"
check "from the model's directory" bash -c "cd '$FIX/per_tensor' && '$SDINFER' model.onnx \
    --input-tensor '$ROOT/$FIX/input.pb' --output-tensor '$tmp/here.pb'"
check "from the model's directory = inline" cmp "$tmp/inline.pb" "$tmp/here.pb"

# ---- onnxruntime reads the same files ------------------------------------------------
for form in one_file per_tensor/model; do
    ort="$tmp/${form//\//_}.ort.pb"
    check "$form: onnxruntime runs" node tests/ort_run_tensor.js "$FIX/$form.onnx" \
        "$FIX/input.pb" "$ort"
    check "$form: sdinfer vs onnxruntime" $PY tests/sdinfer_check.py compare \
        "$tmp/${form//\//_}.pb" "$ort" 1e-4
done

# ---- refusals: exit 2, the exact message --------------------------------------------
rows=0
while IFS=$'\t' read -r file result message; do
    case "$file" in \#*|"") continue;; esac
    rows=$((rows + 1))
    check "refuses $file ($result)" refuses "$message" "$SDINFER" "$FIX/$file" --bench 1 --warmup 0
done < "$FIX/expected.tsv"
check "expected.tsv lists the refusals ($rows)" test "$rows" -ge 19
# A FIFO where the data file should be: open() must not wait for a writer.
mkdir -p "$tmp/fifo"
cp "$FIX/one_file.onnx" "$tmp/fifo/"
mkfifo "$tmp/fifo/one_file.data"
check "a FIFO data file is refused" refuses \
    "$tmp/fifo/one_file.onnx: initializer 'conv1.weight': external data file $tmp/fifo/one_file.data: not a regular file" \
    "$SDINFER" "$tmp/fifo/one_file.onnx" --bench 1 --warmup 0
# 4096 tensors of 2^30 int64 each (32 TiB, no data file at all): refused against the
# host's memory (what sysconf says, as sdinfer asks it) before any file is opened.
check "write the 32 TiB model" $PY - "$tmp/huge.onnx" <<'PYEOF'
import sys
from onnx import TensorProto, helper
tensors = []
for i in range(4096):
    t = TensorProto(name=f"t{i}", data_type=TensorProto.INT64, dims=[1 << 30],
                    data_location=TensorProto.EXTERNAL)
    t.external_data.add(key="location", value="huge.data")
    tensors.append(t)
graph = helper.make_graph([helper.make_node("Relu", ["x"], ["y"])], "huge",
                          [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1])], tensors)
model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
open(sys.argv[1], "wb").write(model.SerializeToString())
PYEOF
host=$(( $(getconf _PHYS_PAGES) * $(getconf PAGESIZE) ))
check "more external bytes than the host's memory" refuses \
    "$tmp/huge.onnx: its 4096 external tensors hold 35184372088832 bytes, more than the limit of $host bytes (the host's memory)" \
    "$SDINFER" "$tmp/huge.onnx" --bench 1 --warmup 0

echo "t_external_data: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
