#!/usr/bin/python3
"""Checks for tests/t_images.sh, written independently of the C code under test:

  images_check.py meta MODEL.onnx            class_names, eval_crop_fraction, norm_* present
                                             as sdexport must write them for the folder run
  images_check.py names PREDICTIONS.csv N    N rows, each image's class_name is its folder's
  images_check.py ort PREDICTIONS.csv LOGITS.f32 CLASSES
                                             onnxruntime's logits (raw float32, one row per
                                             CSV row) -> softmax: same top-1 class, the
                                             probability within 1e-5
  images_check.py strip IN.ckpt OUT.ckpt     the checkpoint without the folder keys
                                             (class_names, eval_crop_fraction, opt.folder.*),
                                             as a checkpoint written before them looks
Exit 0 when the check holds, 1 with a message when not."""
import csv
import json
import math
import os
import struct
import sys

CLASSES = ["blue sky", "green, leaf", "red"]


def meta(model):
    import onnx
    props = {p.key: p.value for p in onnx.load(model).metadata_props}
    if json.loads(props.get("class_names", "null")) != CLASSES:
        sys.exit(f"class_names {props.get('class_names')!r}, expected {CLASSES}")
    if float(props.get("eval_crop_fraction", "nan")) != 1.0:
        sys.exit(f"eval_crop_fraction {props.get('eval_crop_fraction')!r}, expected 1")
    for key in ("norm_mean", "norm_std"):
        if len(props.get(key, "").split(",")) != 3:
            sys.exit(f"{key} {props.get(key)!r}: expected 3 values")


def rows(path):
    with open(path, newline="") as f:
        reader = csv.reader(f)
        header = next(reader)
        if header != ["path", "class_index", "class_name", "probability"]:
            sys.exit(f"{path}: header {header}")
        return list(reader)


def names(path, count):
    got = rows(path)
    if len(got) != int(count):
        sys.exit(f"{path}: {len(got)} rows, expected {count}")
    for image, index, name, probability in got:
        folder = os.path.basename(os.path.dirname(image))
        if name != folder or CLASSES[int(index)] != name or not 1 / 3 < float(probability) <= 1:
            sys.exit(f"{image}: predicted {index} {name!r} ({probability}), expected {folder!r}")


def ort(path, logits_path, classes):
    classes = int(classes)
    got = rows(path)
    data = open(logits_path, "rb").read()
    logits = struct.unpack(f"<{len(data) // 4}f", data)
    if len(logits) != len(got) * classes:
        sys.exit(f"{logits_path}: {len(logits)} values for {len(got)} rows of {classes}")
    for r, (image, index, _, probability) in enumerate(got):
        row = logits[r * classes:(r + 1) * classes]
        top = max(row)
        exps = [math.exp(v - top) for v in row]
        best = row.index(top)
        p = exps[best] / sum(exps)
        if best != int(index) or abs(p - float(probability)) > 1e-5:
            sys.exit(f"{image}: onnxruntime class {best} p={p:.6f}, sdinfer {index} p={probability}")


def strip(src, dst):
    blob = open(src, "rb").read()
    (n,) = struct.unpack("<Q", blob[:8])
    header = json.loads(blob[8:8 + n])
    metadata = header["__metadata__"]
    for key in list(metadata):
        if key in ("class_names", "eval_crop_fraction") or key.startswith("opt.folder."):
            del metadata[key]
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)  # keep the data 8-byte aligned, as writers do
    with open(dst, "wb") as f:
        f.write(struct.pack("<Q", len(text)) + text + blob[8 + n:])


commands = {"meta": (meta, 1), "names": (names, 2), "ort": (ort, 3), "strip": (strip, 2)}
if len(sys.argv) < 2 or sys.argv[1] not in commands or len(sys.argv) != commands[sys.argv[1]][1] + 2:
    sys.exit(__doc__)
commands[sys.argv[1]][0](*sys.argv[2:])
