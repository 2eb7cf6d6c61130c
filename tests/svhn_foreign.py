#!/usr/bin/python3
"""Writes SVHN-style MATLAB files with writers other than the project's own, for
tests/test_svhn_foreign.c:

  DIR/train_32x32.mat   scipy.io.savemat, level 5, uncompressed   (5 images)
  DIR/test_32x32.mat    scipy.io.savemat, level 5, compressed     (4 images, y as uint8)
  DIR/extra_32x32.mat   h5py, MATLAB v7.3 layout (HDF5 with a 512-byte MAT header
                        user block, MATLAB_class attributes, dims reversed)  (3 images)
  DIR/SPLIT.expected    what the loader must return: per image 3072 pixel bytes in
                        channel, row, column order, then one label byte (10 -> 0)
  DIR/bad/NAME/test_32x32.mat   files the loader must refuse (see BAD below)

Usage: /usr/bin/python3 tests/svhn_foreign.py DIR   (python3-scipy, python3-h5py)
"""
import io
import os
import sys

import h5py
import numpy as np
import scipy.io


def images(count, seed):
    return np.random.default_rng(seed).integers(0, 256, (32, 32, 3, count), dtype=np.uint8)


def labels(count):
    return (np.arange(count) * 3 + 1) % 10 + 1  # 1..10, 10 meaning digit 0


def expected(x, y):
    chw = x.transpose(3, 2, 0, 1)  # X(row, col, ch, n) -> n, ch, row, col
    out = b""
    for n in range(x.shape[3]):
        out += chw[n].tobytes() + bytes([int(y[n]) % 10])
    return out


def matlab_class(dataset, name):
    # MATLAB writes MATLAB_class as a fixed-length, NUL-terminated ASCII string.
    tid = h5py.h5t.C_S1.copy()
    tid.set_size(len(name))
    tid.set_strpad(h5py.h5t.STR_NULLTERM)
    attr = h5py.h5a.create(dataset.id, b"MATLAB_class", tid, h5py.h5s.create(h5py.h5s.SCALAR))
    attr.write(np.array(name.encode(), dtype="S%d" % len(name)), mtype=tid)


def write_v73(path, variables):
    """variables: name -> (array, MATLAB class), or name -> (shape, MATLAB class) for a
    dataset that is declared but never written (HDF5 then stores no data for it)."""
    with h5py.File(path, "w", userblock_size=512) as f:
        for name, (array, matlab_name) in variables.items():
            if isinstance(array, tuple):
                dataset = f.create_dataset(name, shape=array[::-1], dtype=np.uint8,
                                           chunks=True, compression="gzip")
            else:
                dataset = f.create_dataset(name, data=array.transpose(), compression="gzip")
            matlab_class(dataset, matlab_name)
    header = b"MATLAB 7.3 MAT-file, written by tests/svhn_foreign.py with h5py".ljust(116, b" ")
    with open(path, "r+b") as f:
        f.write(header + bytes(8) + b"\x00\x02" + b"IM")  # version 0x0200, little-endian


def savemat(path, variables, compressed):
    scipy.io.savemat(path, variables, do_compression=compressed)


def main(out):
    os.makedirs(out, exist_ok=True)
    x, y = images(5, 1), labels(5)
    savemat(os.path.join(out, "train_32x32.mat"), {"X": x, "y": y.reshape(5, 1).astype(float)},
            False)
    open(os.path.join(out, "train.expected"), "wb").write(expected(x, y))
    x, y = images(4, 2), labels(4)
    savemat(os.path.join(out, "test_32x32.mat"),
            {"X": x, "y": y.reshape(4, 1).astype(np.uint8), "__note": "written by scipy"}, True)
    open(os.path.join(out, "test.expected"), "wb").write(expected(x, y))
    x, y = images(3, 3), labels(3)
    write_v73(os.path.join(out, "extra_32x32.mat"),
              {"X": (x, "uint8"), "y": (y.reshape(3, 1).astype(float), "double")})
    open(os.path.join(out, "extra.expected"), "wb").write(expected(x, y))

    # Files to refuse, each with the phrase its message must hold (bad/NAME/phrase).
    x, y = images(2, 4), labels(2).reshape(2, 1).astype(float)
    bad = {
        "x_int16": ("uint8", lambda p: savemat(p, {"X": x.astype(np.int16), "y": y}, True)),
        "label_11": ("out of range", lambda p: savemat(p, {"X": x, "y": y + 10}, False)),
        "no_y": ("no variable named 'y'", lambda p: savemat(p, {"X": x}, True)),
        "v73_x_double": ("uint8", lambda p: write_v73(p, {"X": (x.astype(float), "double"),
                                                           "y": (y, "double")})),
        "v73_no_y": ("no variable named 'y'", lambda p: write_v73(p, {"X": (x, "uint8")})),
        # X declared and never written: libhdf5 would answer with its fill value (zeros).
        "v73_x_unwritten": ("does not store all of its values",
                            lambda p: write_v73(p, {"X": ((32, 32, 3, 2), "uint8"), "y": (y, "double")})),
        # X declared and never written: libhdf5 would answer with its fill value (zeros).
        "v73_x_unwritten": ("does not store all of its values",
                            lambda p: write_v73(p, {"X": ((32, 32, 3, 2), "uint8"), "y": (y, "double")})),
        # 9 million images declared (27.6 GB) in a file of a few KiB: refused unread.
        "v73_huge_x": ("more than the", lambda p: write_v73(p, {"X": ((32, 32, 3, 9000000), "uint8"),
                                                                 "y": (y, "double")})),
    }
    for name, (phrase, write) in bad.items():
        d = os.path.join(out, "bad", name)
        os.makedirs(d, exist_ok=True)
        write(os.path.join(d, "test_32x32.mat"))
        open(os.path.join(d, "phrase"), "w").write(phrase)
    # Cut files: a compressed level-5 file at 60% and a v7.3 file at half.
    for name, source in (("cut_packed", "test_32x32.mat"), ("cut_v73", "extra_32x32.mat")):
        data = open(os.path.join(out, source), "rb").read()
        d = os.path.join(out, "bad", name)
        os.makedirs(d, exist_ok=True)
        cut = len(data) * 6 // 10 if name == "cut_packed" else len(data) // 2
        open(os.path.join(d, "test_32x32.mat"), "wb").write(data[:cut])
        open(os.path.join(d, "phrase"), "w").write("")


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
