#!/usr/bin/python3
"""Compares the tensors (not the metadata) of two safetensors files byte for byte.

Reads the files with a parser written here (8-byte little-endian header length,
JSON header, raw data), independent of the project's C reader. Exit 0 when every
tensor is present in both with the same dtype, shape and bytes; exit 1 with
"... tensors differ ..." (or "different tensor names") on stderr when they are
not; exit 2 on a usage error. A crash (a traceback, exit 1) never prints those
words, so a test that expects a difference checks the message too."""
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
    return {k: (v["dtype"], v["shape"], data[v["data_offsets"][0]:v["data_offsets"][1]])
            for k, v in header.items()}


if len(sys.argv) != 3:
    print("usage: ckpt_tensors_equal.py A.ckpt B.ckpt", file=sys.stderr)
    sys.exit(2)
a, b = read(sys.argv[1]), read(sys.argv[2])
if a.keys() != b.keys():
    print("different tensor names:", sorted(set(a) ^ set(b)), file=sys.stderr)
    sys.exit(1)
diff = [k for k in a if a[k] != b[k]]
if diff:
    print(f"{len(diff)} of {len(a)} tensors differ, e.g. {diff[:3]}", file=sys.stderr)
    sys.exit(1)
print(f"all {len(a)} tensors identical")
