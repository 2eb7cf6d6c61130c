#!/usr/bin/python3
"""Checks for exported ONNX models (Debian's python3-onnx and python3-numpy).

  export_check.py check MODEL.onnx [KEY=VALUE ...] [--ops OP,OP,...] [--no-ops OP,...]
      onnx.checker.check_model(full_check=True); every KEY=VALUE must be in the
      model's metadata_props; --ops lists op types that must occur, --no-ops ones
      that must not. Prints the opset, IR version and op counts.
  export_check.py compare GOT.f32 WANT.f32 TOLERANCE [--rows N --cols K]
      max |got - want| over raw float32 files (with --rows, only the first N rows
      of a [*, K] WANT), then "within tolerance" (exit 0) or "ABOVE tolerance"
      (exit 1); sizes that differ or non-finite values exit 3. A test expecting a
      difference checks for "ABOVE tolerance": a traceback also exits 1.
Usage errors exit 2.
"""
import collections
import sys

import numpy as np
import onnx


def check(path, args):
    model = onnx.load(path)
    onnx.checker.check_model(model, full_check=True)
    meta = {p.key: p.value for p in model.metadata_props}
    ops = collections.Counter(n.op_type for n in model.graph.node)
    problems = []
    i = 0
    while i < len(args):
        arg = args[i]
        if arg in ("--ops", "--no-ops"):
            wanted = args[i + 1].split(",")
            for op in wanted:
                if (arg == "--ops") != (ops[op] > 0):
                    problems.append(f"op {op} {'missing' if arg == '--ops' else 'present'}")
            i += 2
            continue
        key, _, value = arg.partition("=")
        if meta.get(key) != value:
            problems.append(f"metadata {key}={meta.get(key)!r}, want {value!r}")
        i += 1
    if model.producer_name != "sdexport":
        problems.append(f"producer_name {model.producer_name!r}")
    opset = model.opset_import[0].version
    print(f"{path}: checker ok, opset {opset}, IR {model.ir_version}, "
          f"{len(model.graph.node)} nodes: " + ", ".join(f"{k} {v}" for k, v in sorted(ops.items())))
    for p in problems:
        print("PROBLEM:", p)
    return 0 if not problems else 1


def compare(got_path, want_path, tolerance, args):
    got = np.fromfile(got_path, dtype="<f4")
    want = np.fromfile(want_path, dtype="<f4")
    if "--rows" in args:
        rows = int(args[args.index("--rows") + 1])
        cols = int(args[args.index("--cols") + 1])
        want = want.reshape(-1, cols)[:rows].ravel()
    if got.size != want.size or got.size == 0:
        print(f"size mismatch: got {got.size} values, want {want.size}")
        return 3
    if not np.all(np.isfinite(got)):
        print("non-finite values in", got_path)
        return 3
    diff = float(np.max(np.abs(got.astype(np.float64) - want.astype(np.float64))))
    scale = float(np.max(np.abs(want)))
    verdict = "within tolerance" if diff <= tolerance else "ABOVE tolerance"
    print(f"max |diff| = {diff:.3g} over {got.size} logits (max |logit| {scale:.3g}, "
          f"tolerance {tolerance:g}): {verdict}")
    return 0 if diff <= tolerance else 1


if __name__ == "__main__":
    if len(sys.argv) >= 3 and sys.argv[1] == "check":
        sys.exit(check(sys.argv[2], sys.argv[3:]))
    if len(sys.argv) >= 5 and sys.argv[1] == "compare":
        sys.exit(compare(sys.argv[2], sys.argv[3], float(sys.argv[4]), sys.argv[5:]))
    print(__doc__)
    sys.exit(2)
