#!/usr/bin/python3
"""Checks for exported ONNX models (Debian's python3-onnx and python3-numpy).

  export_check.py check MODEL.onnx [KEY=VALUE ...] [--ops OP,...] [--no-ops OP,...] [--opset N]
      onnx.checker.check_model(full_check=True); every KEY=VALUE must be in the
      model's metadata_props; --ops lists op types that must occur, --no-ops ones
      that must not; --opset the opset it must import. Prints the opset, IR version
      and op counts.
  export_check.py compare GOT WANT TOLERANCE [--rows N --cols K]
      max |got - want| <= TOLERANCE x the logit scale, max(1, max |want|); GOT and WANT
      are raw float32 files, or TensorProto files when named *.pb. With --rows, only the
      first N rows of a [*, K] WANT. Prints "within tolerance" (exit 0) or "ABOVE
      tolerance" (exit 1); sizes that differ or non-finite values exit 3. A test that
      expects a difference checks for "ABOVE tolerance" (a traceback also exits 1).
      TOLERANCE 0 asks for bit-identical values.
  export_check.py expose MODEL.onnx VALUE OUT.onnx
      a copy of MODEL whose first graph output is the value VALUE (then the others), so
      that a runtime that returns output 0 returns VALUE.
  export_check.py old-preprocessing MODEL.onnx OUT.onnx
      a copy of a --with-preprocessing export whose mean/std constants have the
      [1,C,1,1] shape that sdexport wrote before [C,1,1] (for the "older exports
      still run" tests).
  export_check.py to-tensor IN.f32 N,C,H,W OUT.pb
      a raw float32 file as a TensorProto file of that shape (sdinfer's --input-tensor).
  export_check.py batch FILE
      each line of FILE is one of the commands above without "export_check.py"; all
      run in this one process. Prints "ok LINE" or "FAIL LINE" (then what the command
      printed) per line; exit 1 when any failed.
"""
import collections
import contextlib
import io
import shlex
import sys

import numpy as np
import onnx
from onnx import numpy_helper


def check(path, args):
    model = onnx.load(path)
    onnx.checker.check_model(model, full_check=True)
    meta = {p.key: p.value for p in model.metadata_props}
    ops = collections.Counter(n.op_type for n in model.graph.node)
    problems = []
    opset = model.opset_import[0].version
    i = 0
    while i < len(args):
        arg = args[i]
        if arg == "--opset":
            if opset != int(args[i + 1]) or len(model.opset_import) != 1:
                problems.append(f"opset {opset}, want {args[i + 1]}")
            i += 2
            continue
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
    print(f"{path}: checker ok, opset {opset}, IR {model.ir_version}, "
          f"{len(model.graph.node)} nodes: " + ", ".join(f"{k} {v}" for k, v in sorted(ops.items())))
    for p in problems:
        print("PROBLEM:", p)
    return 0 if not problems else 1


def load_values(path):
    if path.endswith(".pb"):
        return numpy_helper.to_array(onnx.load_tensor(path)).astype(np.float32).ravel()
    return np.fromfile(path, dtype="<f4")


def compare(got_path, want_path, tolerance, args):
    got = load_values(got_path)
    want = load_values(want_path)
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
    allowed = tolerance * max(1.0, scale)
    differing = int(np.count_nonzero(got != want))
    verdict = "within tolerance" if diff <= allowed else "ABOVE tolerance"
    print(f"max |diff| = {diff:.3g} over {got.size} values ({differing} not identical; "
          f"max |want| {scale:.3g}, allowed {tolerance:g} x max(1, {scale:.3g}) = {allowed:.3g}): "
          f"{verdict}")
    return 0 if diff <= allowed else 1


def expose(path, value, out_path):
    model = onnx.load(path)
    first = model.graph.input[0].type.tensor_type
    if value not in {o for n in model.graph.node for o in n.output}:
        print(f"{path}: no node writes {value}")
        return 1
    # The shape of a value that keeps the input's shape (the preprocessing's output).
    dims = [d.dim_param or d.dim_value for d in first.shape.dim]
    output = onnx.helper.make_tensor_value_info(value, first.elem_type, dims)
    model.graph.output.insert(0, output)
    onnx.save(model, out_path)
    return 0


def old_preprocessing(path, out_path):
    model = onnx.load(path)
    changed = 0
    for t in model.graph.initializer:
        if t.name in ("preprocess.mean", "preprocess.std"):
            if len(t.dims) != 3:
                print(f"{path}: {t.name} has dims {list(t.dims)}, want [C,1,1]")
                return 1
            channels = t.dims[0]
            del t.dims[:]
            t.dims.extend([1, channels, 1, 1])
            changed += 1
    if changed != 2:
        print(f"{path}: no preprocess.mean/preprocess.std initializers")
        return 1
    onnx.checker.check_model(model, full_check=True)
    onnx.save(model, out_path)
    return 0


def to_tensor(in_path, shape_text, out_path):
    dims = [int(d) for d in shape_text.split(",")]
    values = np.fromfile(in_path, dtype="<f4").reshape(dims)
    with open(out_path, "wb") as f:
        f.write(numpy_helper.from_array(values.astype(np.float32)).SerializeToString())
    return 0


def command(argv):
    if len(argv) >= 2 and argv[0] == "check":
        return check(argv[1], argv[2:])
    if len(argv) >= 4 and argv[0] == "compare":
        return compare(argv[1], argv[2], float(argv[3]), argv[4:])
    if len(argv) == 4 and argv[0] == "expose":
        return expose(argv[1], argv[2], argv[3])
    if len(argv) == 3 and argv[0] == "old-preprocessing":
        return old_preprocessing(argv[1], argv[2])
    if len(argv) == 4 and argv[0] == "to-tensor":
        return to_tensor(argv[1], argv[2], argv[3])
    if len(argv) == 2 and argv[0] == "batch":
        return batch(argv[1])
    print(__doc__)
    return 2


def batch(path):
    failed = 0
    with open(path) as f:
        lines = [line.strip() for line in f if line.strip()]
    for line in lines:
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            try:
                rc = command(shlex.split(line)) if not line.startswith("batch") else 2
            except Exception as e:  # a broken model is one failed line, not the end
                print(f"{type(e).__name__}: {e}")
                rc = 1
        failed += rc != 0
        print(("ok " if rc == 0 else "FAIL ") + line)
        for text in out.getvalue().splitlines():
            print("   ", text)
    print(f"export_check batch: {len(lines) - failed} of {len(lines)} held")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(command(sys.argv[1:]))
