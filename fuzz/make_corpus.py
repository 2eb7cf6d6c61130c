#!/usr/bin/python3
"""Writes the seed corpora of the fuzz harnesses into fuzz/corpus/NAME/.

Run from the repository root with Debian's python (python3-numpy, python3-onnx,
python3-scipy, python3-h5py) after `make` (sdexport turns the seed checkpoint into the seed
model):   /usr/bin/python3 fuzz/make_corpus.py

Seeds are small valid files in each format (and a few near-misses), so that the
fuzzers start deep inside the parsers: the input formats of the harnesses are
described at the top of each fuzz/fuzz_NAME.c.
"""
import gzip
import io
import json
import os
import shutil
import struct
import subprocess
import sys
import zlib

import numpy as np
import onnx
from onnx import helper, numpy_helper
import scipy.io

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CORPUS = os.path.join(ROOT, "fuzz", "corpus")


def out_dir(name):
    path = os.path.join(CORPUS, name)
    shutil.rmtree(path, ignore_errors=True)
    os.makedirs(path)
    return path


def write(path, data):
    with open(path, "wb") as f:
        f.write(data)


# ---------------------------------------------------------------- presets
TINY_PRESET = "name tiny\nblock basic\nshortcut A\nstem 4 3 1\nstem-pool none\nstages 1x4 1x8\n"


def presets():
    d = out_dir("preset")
    for name in ("resnet20-cifar", "resnet152-imagenet", "resnet152-svhn"):
        shutil.copy(os.path.join(ROOT, "models", name + ".txt"), d)
    write(os.path.join(d, "tiny.txt"), TINY_PRESET.encode())
    write(os.path.join(d, "bottleneck_projection.txt"),
          b"# a small bottleneck net\nname bp\nblock bottleneck\nshortcut projection\n"
          b"stem 8 7 2\nstem-pool max\nstages 1x2 1x4 1x4\n")
    write(os.path.join(d, "bad_stage.txt"), b"name x\nstem 4 3 1\nstages 2y4\n")


# ---------------------------------------------------------------- checkpoints
def net_tensors(in_c, classes):
    """Tensor names and shapes of TINY_PRESET as common/net.c lays it out."""
    params, state = [], []

    def convbn(prefix, conv, bn, cin, cout, k):
        params.append((f"{prefix}{conv}.weight", [cout, cin, k, k]))
        params.append((f"{prefix}{bn}.weight", [cout]))
        params.append((f"{prefix}{bn}.bias", [cout]))
        state.append((f"{prefix}{bn}.running_mean", [cout]))
        state.append((f"{prefix}{bn}.running_var", [cout]))

    convbn("stem.", "conv", "bn", in_c, 4, 3)
    convbn("blocks.0.", "conv1", "bn1", 4, 4, 3)
    convbn("blocks.0.", "conv2", "bn2", 4, 4, 3)
    convbn("blocks.1.", "conv1", "bn1", 4, 8, 3)
    convbn("blocks.1.", "conv2", "bn2", 8, 8, 3)
    params.append(("fc.weight", [classes, 8]))
    params.append(("fc.bias", [classes]))
    return params + state


def safetensors(tensors, metadata):
    header = {"__metadata__": metadata}
    offset, blobs = 0, []
    for name, array in tensors:
        data = array.astype("<f4").tobytes()
        header[name] = {"dtype": "F32", "shape": list(array.shape),
                        "data_offsets": [offset, offset + len(data)]}
        offset += len(data)
        blobs.append(data)
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)
    return struct.pack("<Q", len(text)) + text + b"".join(blobs)


def checkpoints():
    d = out_dir("checkpoint")
    rng = np.random.default_rng(1)
    in_c, classes = 1, 3
    tensors = []
    for name, shape in net_tensors(in_c, classes):
        value = rng.normal(0, 0.3, shape)
        if name.endswith("running_var"):
            value = np.abs(value) + 0.5
        tensors.append((name, value))
    metadata = {"preset": TINY_PRESET, "preset_name": "tiny", "input_shape": f"{in_c},8,8",
                "classes": str(classes), "survival_probs": "1,0.75", "survival_rule": "linear",
                "p_last": "0.5", "norm_mean": "0.5", "norm_std": "0.25", "dataset": "mnist",
                "epoch": "1"}
    write(os.path.join(d, "tiny.ckpt"), safetensors(tensors, metadata))
    n_params = sum(int(np.prod(a.shape)) for n, a in tensors if "running" not in n)
    momentum = [("optimizer.momentum", rng.normal(0, 0.1, [n_params]))]
    write(os.path.join(d, "tiny_momentum.ckpt"), safetensors(tensors + momentum, metadata))
    plain = dict(metadata)
    del plain["preset"]
    write(os.path.join(d, "no_preset.ckpt"), safetensors(tensors[:3], plain))
    return os.path.join(d, "tiny.ckpt")


# ---------------------------------------------------------------- ONNX models and tensors
def onnx_models(checkpoint):
    d = out_dir("onnx")
    src = os.path.join(ROOT, "tests", "corpus", "onnx")
    for name in sorted(os.listdir(src)):  # written by tests/corpus/onnx/make_corpus.py
        if name.startswith("ok_") and name.endswith(".onnx"):
            shutil.copy(os.path.join(src, name), d)
    # Tensors in an external file: the harness loads bytes from memory, which have no
    # directory, so the loader refuses it (after checking its external_data entries).
    shutil.copy(os.path.join(ROOT, "tests", "fixtures", "external", "one_file.onnx"),
                os.path.join(d, "external_data.onnx"))
    sdexport = os.path.join(ROOT, "bin", "sdexport")
    for extra, name in (([], "sdexport_tiny.onnx"),
                        (["--keep-bn", "--with-preprocessing"], "sdexport_tiny_bn_pre.onnx")):
        subprocess.run([sdexport, checkpoint, "-o", os.path.join(d, name)] + extra, check=True,
                       stdout=subprocess.DEVNULL)


def onnx_tensors():
    d = out_dir("onnx_tensor")
    src = os.path.join(ROOT, "tests", "corpus", "onnx")
    for name in ("ok_sem_conv1d.in.pb", "ok_sem_matmul_nd_2d.out.pb", "ok_sem_pad2_attributes.in.pb"):
        shutil.copy(os.path.join(src, name), d)
    rng = np.random.default_rng(2)
    raw = numpy_helper.from_array(rng.normal(size=(2, 3, 4)).astype(np.float32), "x")
    write(os.path.join(d, "float_raw.pb"), raw.SerializeToString())
    packed = helper.make_tensor("y", onnx.TensorProto.FLOAT, [2, 2], [1.0, -2.0, 3.5, 0.0])
    write(os.path.join(d, "float_data.pb"), packed.SerializeToString())
    ints = helper.make_tensor("shape", onnx.TensorProto.INT64, [3], [1, -1, 7])
    write(os.path.join(d, "int64_data.pb"), ints.SerializeToString())
    scalar = numpy_helper.from_array(np.array(5, dtype=np.int64), "s")
    write(os.path.join(d, "int64_scalar_raw.pb"), scalar.SerializeToString())
    double = numpy_helper.from_array(np.ones(3, dtype=np.float64), "d")
    write(os.path.join(d, "double_refused.pb"), double.SerializeToString())


# ---------------------------------------------------------------- data sets
def cifar():
    d = out_dir("cifar")
    rng = np.random.default_rng(3)
    for kind, label_bytes, classes in ((0, 1, 10), (1, 2, 100)):
        records = b""
        for r in range(2):
            labels = bytes([r % 20, (r * 37) % classes]) if label_bytes == 2 else bytes([r % 10])
            records += labels + rng.integers(0, 256, 3072, dtype=np.uint8).tobytes()
        write(os.path.join(d, f"cifar{10 if kind == 0 else 100}_2.bin"), bytes([kind]) + records)
    write(os.path.join(d, "cifar10_short.bin"), bytes([0]) + bytes(3000))


def idx():
    d = out_dir("idx")
    rng = np.random.default_rng(4)
    count = 2
    images = struct.pack(">IIII", 0x803, count, 28, 28) + \
        rng.integers(0, 256, count * 784, dtype=np.uint8).tobytes()
    labels = struct.pack(">II", 0x801, count) + bytes([3, 9])
    for flags in range(4):
        img = gzip.compress(images, mtime=0) if flags & 1 else images
        lab = gzip.compress(labels, mtime=0) if flags & 2 else labels
        write(os.path.join(d, f"pair_flags{flags}.bin"),
              bytes([flags]) + struct.pack("<I", len(img)) + img + lab)
    bad = struct.pack(">II", 0x801, 3) + bytes([3, 9, 12])
    write(os.path.join(d, "label_out_of_range.bin"),
          bytes([0]) + struct.pack("<I", len(images)) + images + bad)


def svhn():
    d = out_dir("svhn")
    rng = np.random.default_rng(5)
    for count in (1, 2):
        x = rng.integers(0, 256, (32, 32, 3, count), dtype=np.uint8)
        y = np.array([[10.0], [3.0]][:count])
        for compressed in (False, True):
            buffer = io.BytesIO()
            scipy.io.savemat(buffer, {"X": x, "y": y}, do_compression=compressed)
            write(os.path.join(d, f"scipy_{count}_{'packed' if compressed else 'plain'}.mat"),
                  buffer.getvalue())
    buffer = io.BytesIO()
    scipy.io.savemat(buffer, {"X": np.zeros((32, 32, 3, 1), np.uint8), "y": np.array([[1]], np.uint8),
                              "note": "hello", "cells": np.array([[1, 2]], dtype=object)},
                     do_compression=True)
    write(os.path.join(d, "scipy_extra_variables.mat"), buffer.getvalue())


def svhn_v73():
    d = out_dir("svhn_v73")
    sys.path.insert(0, os.path.join(ROOT, "tests"))
    from svhn_foreign import write_v73  # h5py in MATLAB's v7.3 layout
    rng = np.random.default_rng(6)
    x = rng.integers(0, 256, (32, 32, 3, 2), dtype=np.uint8)
    write_v73(os.path.join(d, "h5py_v73_2.mat"), {"X": (x, "uint8"), "y": (np.array([[4.0], [10.0]]), "double")})
    write_v73(os.path.join(d, "h5py_v73_no_y.mat"), {"X": (x, "uint8")})
    write_v73(os.path.join(d, "h5py_v73_x_double.mat"), {"X": (x.astype(float), "double"),
                                                        "y": (np.array([[4.0], [10.0]]), "double")})


def image():
    """fuzz_image: one byte (bit 0: named .png) + the file: PNG (RGB, grey, RGBA, palette,
    16-bit) and JPEG (baseline, grey, progressive), a JPEG named .png, and near-misses."""
    from PIL import Image
    d = out_dir("image")
    rng = np.random.default_rng(7)
    pixels = rng.integers(0, 256, (5, 7, 3), dtype=np.uint8)
    rgb = Image.fromarray(pixels, "RGB")
    variants = {"rgb.png": (rgb, "PNG", {}), "grey.png": (rgb.convert("L"), "PNG", {}),
                "rgba.png": (rgb.convert("RGBA"), "PNG", {}),
                "palette.png": (rgb.convert("P"), "PNG", {}),
                "grey16.png": (Image.fromarray(pixels[:, :, 0].astype(np.uint16) * 257), "PNG", {}),
                "rgb.jpg": (rgb, "JPEG", {"quality": 90}),
                "grey.jpg": (rgb.convert("L"), "JPEG", {}),
                "progressive.jpg": (rgb, "JPEG", {"progressive": True})}
    files = {}
    for name, (image, fmt, options) in variants.items():
        buffer = io.BytesIO()
        image.save(buffer, fmt, **options)
        files[name] = buffer.getvalue()
        write(os.path.join(d, name), bytes([1 if name.endswith(".png") else 0]) + files[name])
    write(os.path.join(d, "jpeg_named_png.bin"), bytes([1]) + files["rgb.jpg"])
    write(os.path.join(d, "truncated.jpg"), bytes([0]) + files["rgb.jpg"][:-30])
    write(os.path.join(d, "not_image.bin"), bytes([0]) + b"GIF89a not supported")
    ihdr = struct.pack(">IIBBBBB", 100000, 100000, 8, 2, 0, 0, 0)
    chunk = lambda kind, data: (struct.pack(">I", len(data)) + kind + data
                                + struct.pack(">I", zlib.crc32(kind + data)))
    write(os.path.join(d, "huge.png"), bytes([1]) + b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr)
          + chunk(b"IDAT", zlib.compress(b"\0" * 64)) + chunk(b"IEND", b""))


# What tests/test_fuzz_replay checks for each seed: "accept", or a phrase the refusal
# message must hold. Seeds not listed here must only not crash.
EXPECT = {
    "preset": {"bad_stage.txt": "cannot understand 'stages'"},
    "checkpoint": {"no_preset.ckpt": "metadata key 'preset' is missing"},
    "onnx": {"external_data.onnx": "a model loaded from memory has no directory"},
    "onnx_tensor": {"double_refused.pb": "DOUBLE"},
    "cifar": {"cifar10_short.bin": "size not a multiple of the record size"},
    "image": {"truncated.jpg": "damaged JPEG", "not_image.bin": "not a JPEG or PNG file",
              "huge.png": "PNG declares 100000x100000 pixels, over the limit"},
    "idx": {"label_out_of_range.bin": "label 12 of image 2 is out of range"},
    "svhn_v73": {"h5py_v73_no_y.mat": "no variable named 'y' (MATLAB v7.3 file)",
                 "h5py_v73_x_double.mat": "expected real uint8"},
}


def write_expectations():
    for name in sorted(os.listdir(CORPUS)):
        d = os.path.join(CORPUS, name)
        for seed in sorted(os.listdir(d)):
            if seed.endswith(".expect"):
                continue
            expect = EXPECT.get(name, {}).get(seed, "accept")
            write(os.path.join(d, seed + ".expect"), (expect + "\n").encode())


def main():
    os.makedirs(CORPUS, exist_ok=True)
    presets()
    checkpoint = checkpoints()
    onnx_models(checkpoint)
    onnx_tensors()
    cifar()
    idx()
    svhn()
    svhn_v73()
    image()
    write_expectations()
    for name in sorted(os.listdir(CORPUS)):
        files = [f for f in os.listdir(os.path.join(CORPUS, name)) if not f.endswith(".expect")]
        size = sum(os.path.getsize(os.path.join(CORPUS, name, f)) for f in files)
        print(f"{name:12s} {len(files):3d} files, {size:7d} bytes")


if __name__ == "__main__":
    sys.exit(main())
