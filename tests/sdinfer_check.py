#!/usr/bin/python3
"""Independent checks for t_sdinfer.sh (numpy + python3-onnx only; no sdinfer code).

  compare A.pb B.pb TOL              max |a-b| <= TOL (1 + |b|) elementwise, same shape
  tile IN.pb N OUT.pb                a batch of N taken cyclically from IN's images
  fmnist-batch DIR N MEAN STD OUT.pb LABELS.txt
                                     the first N Fashion-MNIST test images, normalised
                                     (pixel/255 - MEAN) / STD, and their labels
  check-predictions CSV LABELS.txt LOGITS.pb REPORT.txt
                                     sdinfer's --predictions rows against the labels and
                                     the reference logits (argmax, softmax probability), and
                                     the printed top-1 error against the rows
Exit 0 when the check holds; prints what it compared.
"""
import gzip
import re
import struct
import sys

import numpy as np
import onnx
from onnx import numpy_helper


def load(path):
    return numpy_helper.to_array(onnx.load_tensor(path))


def save(array, path):
    with open(path, "wb") as f:
        f.write(numpy_helper.from_array(np.ascontiguousarray(array, np.float32)).SerializeToString())


def compare(a_path, b_path, tol):
    a, b = load(a_path), load(b_path)
    if a.shape != b.shape:
        print(f"shape {a.shape} != {b.shape}")
        return 1
    excess = np.abs(a - b) - float(tol) * (1 + np.abs(b))
    print(f"max |a-b| = {np.abs(a - b).max():.3g} over {a.size} values (tol {tol})")
    return 0 if np.all(excess <= 0) else 1


def tile(in_path, n, out_path):
    x = load(in_path)
    save(x[np.arange(int(n)) % x.shape[0]], out_path)
    return 0


def read_idx(path, magic):
    with gzip.open(path, "rb") as f:
        data = f.read()
    if struct.unpack(">I", data[:4])[0] != magic:
        raise ValueError(f"{path}: bad magic")
    if magic == 2051:
        count, rows, cols = struct.unpack(">III", data[4:16])
        return np.frombuffer(data, np.uint8, count * rows * cols, 16).reshape(count, 1, rows, cols)
    count = struct.unpack(">I", data[4:8])[0]
    return np.frombuffer(data, np.uint8, count, 8)


def fmnist_batch(directory, n, mean, std, out_path, labels_path):
    n = int(n)
    images = read_idx(f"{directory}/t10k-images-idx3-ubyte.gz", 2051)[:n]
    labels = read_idx(f"{directory}/t10k-labels-idx1-ubyte.gz", 2049)[:n]
    save((images.astype(np.float32) / 255 - float(mean)) / float(std), out_path)
    np.savetxt(labels_path, labels, fmt="%d")
    return 0


def check_predictions(csv_path, labels_path, logits_path, report_path):
    labels = np.loadtxt(labels_path, dtype=np.int64)
    logits = load(logits_path).astype(np.float64)
    probabilities = np.exp(logits - logits.max(1, keepdims=True))
    probabilities /= probabilities.sum(1, keepdims=True)
    with open(csv_path) as f:
        lines = f.read().splitlines()
    if lines[0] != "index,label,prediction,probability":
        print(f"bad header {lines[0]!r}")
        return 1
    rows = [tuple(line.split(",")) for line in lines[1:]]
    if len(rows) != len(labels):
        print(f"{len(rows)} rows for {len(labels)} images")
        return 1
    failures = 0
    for i, (index, label, prediction, probability) in enumerate(rows):
        top2 = np.sort(probabilities[i])[-2:]
        near_tie = top2[1] - top2[0] < 1e-4  # either class is a right answer then
        ok = (int(index) == i and int(label) == labels[i] and
              (int(prediction) == int(np.argmax(logits[i])) or near_tie) and
              abs(float(probability) - probabilities[i].max()) <= 1e-4)
        failures += not ok
        if not ok and failures <= 5:
            print(f"row {i}: {index},{label},{prediction},{probability}; reference label "
                  f"{labels[i]}, argmax {np.argmax(logits[i])}, p {probabilities[i].max():.6f}")
    wrong = sum(int(r[1]) != int(r[2]) for r in rows)
    with open(report_path) as f:
        report = f.read()
    match = re.search(r"top-1 error ([0-9.]+)% \((\d+) wrong\)", report)
    printed_ok = match is not None and int(match.group(2)) == wrong and \
        abs(float(match.group(1)) - 100.0 * wrong / len(rows)) < 0.006
    print(f"{len(rows)} rows, {failures} disagree with the reference; {wrong} wrong, report "
          f"says {match.group(0) if match else 'nothing'}")
    return 0 if failures == 0 and printed_ok else 1


def main(argv):
    commands = {"compare": compare, "tile": tile, "fmnist-batch": fmnist_batch,
                "check-predictions": check_predictions}
    if len(argv) < 2 or argv[1] not in commands:
        print(__doc__)
        return 2
    return commands[argv[1]](*argv[2:])


if __name__ == "__main__":
    sys.exit(main(sys.argv))
