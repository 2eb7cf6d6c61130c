#!/usr/bin/python3
"""Compares the tensors of two safetensors checkpoints within a relative tolerance:

  ckpt_tensors_close.py A.ckpt B.ckpt TOL

Every tensor must be present in both with the same dtype and shape, and every
element must satisfy |a - b| <= TOL * scale, where scale is the largest |a| of
that tensor (1e-12 at least). Exit 0 printing the worst ratio; exit 1 with
"... tensors differ beyond ..." (or "different tensor names") on stderr when
not; exit 2 on a usage error. Reads the files with its own parser (8-byte
little-endian header length, JSON header, raw little-endian F32 data)."""
import json
import struct
import sys


def read(path):
    with open(path, "rb") as f:
        blob = f.read()
    (n,) = struct.unpack("<Q", blob[:8])
    header = json.loads(blob[8:8 + n])
    header.pop("__metadata__", None)
    data = blob[8 + n:]
    out = {}
    for name, v in header.items():
        if v["dtype"] != "F32":
            sys.exit(f"{path}: tensor {name} has dtype {v['dtype']}, expected F32")
        lo, hi = v["data_offsets"]
        out[name] = (v["shape"], struct.unpack(f"<{(hi - lo) // 4}f", data[lo:hi]))
    return out


if len(sys.argv) != 4:
    print("usage: ckpt_tensors_close.py A.ckpt B.ckpt TOL", file=sys.stderr)
    sys.exit(2)
a, b = read(sys.argv[1]), read(sys.argv[2])
tol = float(sys.argv[3])
if a.keys() != b.keys():
    print("different tensor names:", sorted(set(a) ^ set(b)), file=sys.stderr)
    sys.exit(1)
worst, worst_name, bad = 0.0, "", []
for name in sorted(a):
    (shape_a, va), (shape_b, vb) = a[name], b[name]
    if shape_a != shape_b:
        bad.append(name)
        continue
    scale = max(max((abs(x) for x in va), default=0.0), 1e-12)
    ratio = max((abs(x - y) for x, y in zip(va, vb)), default=0.0) / scale
    if ratio > worst:
        worst, worst_name = ratio, name
    if ratio > tol:
        bad.append(name)
if bad:
    print(f"{len(bad)} of {len(a)} tensors differ beyond {tol} of their scale, e.g. {bad[:3]} "
          f"(worst {worst:.3g} in {worst_name})", file=sys.stderr)
    sys.exit(1)
print(f"all {len(a)} tensors within {tol} of their scale (worst {worst:.3g} in {worst_name})")
