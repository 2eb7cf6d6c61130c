#!/usr/bin/python3
"""Writes a small MNIST-format data set (uncompressed IDX) for quick sdtrain runs:

  tiny_mnist.py OUT_DIR TRAIN_COUNT TEST_COUNT

The first TRAIN_COUNT / TEST_COUNT images of Debian's Fashion-MNIST
(dataset-fashion-mnist), so `--dataset mnist --data OUT_DIR` loads in no time."""
import gzip
import os
import sys

SOURCE = "/usr/share/datasets/fashion-mnist"


def copy_head(split, count, out_dir):
    for kind, header, item in (("images-idx3", 16, 784), ("labels-idx1", 8, 1)):
        with gzip.open(f"{SOURCE}/{split}-{kind}-ubyte.gz") as f:
            blob = f.read(header + count * item)
        if len(blob) != header + count * item:
            sys.exit(f"{SOURCE}/{split}-{kind}-ubyte.gz: fewer than {count} items")
        blob = blob[:4] + count.to_bytes(4, "big") + blob[8:]
        with open(os.path.join(out_dir, f"{split}-{kind}-ubyte"), "wb") as f:
            f.write(blob)


if len(sys.argv) != 4:
    sys.exit(__doc__)
os.makedirs(sys.argv[1], exist_ok=True)
copy_head("train", int(sys.argv[2]), sys.argv[1])
copy_head("t10k", int(sys.argv[3]), sys.argv[1])
