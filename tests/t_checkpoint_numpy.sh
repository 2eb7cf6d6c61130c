#!/usr/bin/env bash
# A checkpoint read by a plain JSON + numpy parser written here (standing in for
# PyTorch's safetensors, which is not installed): 8-byte little-endian header
# length, JSON header, numpy.frombuffer on the data. Every tensor must equal the
# network's own buffers (dumped raw by `test_export write`, not via the
# safetensors code), and the file must follow the format's rules.
set -u
cd "$(dirname "$0")/.."
BUILD=${SD_BUILD:-build}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cat >"$tmp/preset.txt" <<'P'
name numpy-check
block bottleneck
shortcut projection
stem 8 3 1
stem-pool none
stages 1x4 1x8
P
if ! "$BUILD/tests/test_export" write "$tmp" "$tmp/preset.txt" 3,8,8 6 linear 0.5 2 5; then
    echo "t_checkpoint_numpy: 0 passed, 1 failed"
    exit 1
fi
/usr/bin/python3 - "$tmp" <<'PY'
import json, struct, sys
import numpy as np

d = sys.argv[1]
passed = failed = 0
def check(ok, what):
    global passed, failed
    if ok:
        passed += 1
    else:
        failed += 1
        print("FAIL:", what)

blob = open(f"{d}/model.safetensors", "rb").read()
(n,) = struct.unpack("<Q", blob[:8])
check(8 + n <= len(blob), "header length within the file")
header = json.loads(blob[8:8 + n].decode("utf-8"))
check(isinstance(header, dict), "header is a JSON object")
check((8 + n) % 8 == 0, "data section 8-byte aligned")
data = blob[8 + n:]
meta = header.pop("__metadata__", {})
check(all(isinstance(v, str) for v in meta.values()), "metadata values are strings")
for key in ["preset", "preset_name", "input_shape", "classes", "survival_rule", "p_last",
            "survival_probs", "norm_mean", "norm_std", "dataset", "epoch"]:
    check(key in meta, f"metadata key {key}")
check(meta.get("input_shape") == "3,8,8" and meta.get("classes") == "6", "input_shape, classes")
probs = [float(x) for x in meta.get("survival_probs", "").split(",")]
check(probs == [1 - 0.25, 1 - 0.5], f"survival_probs by eq. 4 for L=2: {probs}")

def tensor(name):
    info = header[name]
    begin, end = info["data_offsets"]
    check(info["dtype"] == "F32", f"{name} dtype F32")
    return np.frombuffer(data[begin:end], dtype="<f4").reshape(info["shape"])

# Contiguous, non-overlapping, covering the data section.
spans = sorted(tuple(v["data_offsets"]) for v in header.values())
cursor = 0
for begin, end in spans:
    check(begin == cursor and end >= begin, f"span [{begin},{end}) follows {cursor}")
    cursor = end
check(cursor == len(data), "tensors cover the data section")

buffers = {name: np.fromfile(f"{d}/{name}.f32", dtype="<f4") for name in ["params", "bn_state"]}
listed = set()
for line in open(f"{d}/tensors.txt"):
    name, store, offset, count, *dims = line.split()
    offset, count, dims = int(offset), int(count), [int(x) for x in dims]
    listed.add(name)
    if name not in header:
        check(False, f"{name} present")
        continue
    values = tensor(name)
    check(list(values.shape) == dims, f"{name} shape {list(values.shape)} == {dims}")
    want = buffers[store][offset:offset + count].reshape(dims)
    check(np.array_equal(values.view(np.uint32), want.view(np.uint32)), f"{name} bit-identical")
momentum = tensor("optimizer.momentum")
check(np.array_equal(momentum, np.fromfile(f"{d}/momentum.f32", dtype="<f4")), "momentum bit-identical")
check(set(header) == listed | {"optimizer.momentum"}, "no unexpected tensors")
print(f"read {len(header)} tensors, {len(data)} data bytes with numpy")
print(f"t_checkpoint_numpy: {passed} passed, {failed} failed")
sys.exit(1 if failed else 0)
PY
