#!/usr/bin/python3
"""Helpers for t_network_accuracy.sh (Debian's python3-numpy and python3-onnx only).

  cifar-files DIR RECORDS SEED
      CIFAR-10 binary files (data_batch_1..5.bin, test_batch.bin) of RECORDS seeded
      random records each (a label byte < 10, then 3072 pixel bytes): a 3x32x32
      data set for sdtrain where CIFAR cannot be downloaded; the same files every run.
  input MODEL.onnx DATASET DIR N OUT.pb [MODEL DATASET DIR N OUT ...]
      the first N test images of DATASET (fashion-mnist: IDX files in DIR; cifar10:
      DIR/test_batch.bin) as a float32 [N,C,H,W] tensor (OUT.pb, and the same values
      as raw float32 in OUT.f32 for tests/onnx_run.js), fed as sdinfer feeds them
      for this model: pixel/255 when its metadata says with_preprocessing=1, else
      (pixel/255 - norm_mean[c]) / norm_std[c] from its metadata.
  reference MODEL.onnx X.pb OUT.pb [MODEL X OUT ...]
      output 0 of MODEL on X evaluated in float64 (tests/onnx_reference.py), written
      as a double TensorProto.
  node-tests DIR MODEL.onnx [MODEL.onnx ...]
      tests/onnx_reference.py on every ONNX backend node test in DIR (Debian's
      libonnx-testdata) made only of ops it implements, against the test's expected
      outputs (rtol 1e-4, atol 1e-5); a test using an attribute value or a type it
      refuses is listed as skipped with the reason. Exit 1 when one fails, or when an
      op that the MODELs use has no passing test.
  check FILE
      each line of FILE is one check, run in this one process:
        within LABEL GOT.pb REF.pb TOL     (either may be raw float32, *.f32)
            max |GOT - REF| <= TOL * max(1, max |REF|) (the logit scale) and the
            argmax of every row agrees (unless REF's top two are within 2 * TOL *
            scale: an error inside the tolerance may swap them, counted as a near tie);
        differ LABEL A.pb B.pb
            A and B are not bit-identical (the setting under test changed the
            arithmetic: the run did not silently take another path's results).
      Prints one line per check, "ok KIND LABEL: ..." or "FAIL KIND LABEL: ...", with
      the error measured for `within` ("max |diff| E of scale S = R of the scale,
      argmax A/N"); exit 1 when any failed.
"""
import contextlib
import io
import os
import shlex
import sys

import numpy as np
import onnx
from onnx import numpy_helper

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import onnx_reference  # noqa: E402
from sdinfer_check import read_idx  # noqa: E402

CIFAR_RECORD = 1 + 3 * 32 * 32


def load(path, shape=None):
    """A TensorProto file, or raw float32 (*.f32, tests/onnx_run.js) of the given shape."""
    if not path.endswith(".f32"):
        return numpy_helper.to_array(onnx.load_tensor(path))
    values = np.fromfile(path, dtype=np.float32)
    if shape is None or values.size != int(np.prod(shape)):
        raise ValueError(f"{path}: {values.size} floats, want shape {shape}")
    return values.reshape(shape)


def save(array, path):
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(numpy_helper.from_array(np.ascontiguousarray(array)).SerializeToString())
    os.replace(tmp, path)


def cifar_files(directory, records, seed):
    records, rng = int(records), np.random.default_rng(int(seed))
    os.makedirs(directory, exist_ok=True)
    for name in [f"data_batch_{i}.bin" for i in range(1, 6)] + ["test_batch.bin"]:
        data = rng.integers(0, 256, size=(records, CIFAR_RECORD), dtype=np.uint8)
        data[:, 0] %= 10
        path = os.path.join(directory, name)
        with open(path + ".tmp", "wb") as f:
            f.write(data.tobytes())
        os.replace(path + ".tmp", path)
    return 0


def test_pixels(dataset, directory, n):
    if dataset == "fashion-mnist":
        return read_idx(f"{directory}/t10k-images-idx3-ubyte.gz", 2051)[:n]
    if dataset == "cifar10":
        path = f"{directory}/test_batch.bin"
        raw = np.fromfile(path, dtype=np.uint8)
        if raw.size % CIFAR_RECORD or raw.size // CIFAR_RECORD < n:
            raise ValueError(f"{path}: {raw.size} bytes is not {n} or more CIFAR records")
        return raw.reshape(-1, CIFAR_RECORD)[:n, 1:].reshape(n, 3, 32, 32)
    raise ValueError(f"unknown data set {dataset}")


def make_input(*groups):
    if not groups or len(groups) % 5:
        print("input: MODEL DATASET DIR N OUT groups")
        return 2
    for model_path, dataset, directory, n, out_path in zip(*[iter(groups)] * 5):
        meta = {p.key: p.value for p in onnx.load(model_path).metadata_props}
        pixels = test_pixels(dataset, directory, int(n)).astype(np.float32) / np.float32(255)
        if meta.get("with_preprocessing") == "1":
            x = pixels
        else:
            channels = pixels.shape[1]
            mean = np.array(meta["norm_mean"].split(","), np.float32).reshape(1, channels, 1, 1)
            std = np.array(meta["norm_std"].split(","), np.float32).reshape(1, channels, 1, 1)
            x = (pixels - mean) / std
        save(x.astype(np.float32), out_path)
        x.astype(np.float32).tofile(out_path[:-3] + ".f32")  # for tests/onnx_run.js
        print(f"{out_path}: {x.shape} from {dataset}, with_preprocessing="
              f"{meta.get('with_preprocessing')}")
    return 0


def reference(*triples):
    if not triples or len(triples) % 3:
        print("reference: MODEL X OUT triples")
        return 2
    models = {}
    for model_path, x_path, out_path in zip(*[iter(triples)] * 3):
        if model_path not in models:
            models[model_path] = onnx.load(model_path)
        y = onnx_reference.evaluate(models[model_path], load(x_path).astype(np.float64))
        save(y.astype(np.float64), out_path)
        print(f"{out_path}: {y.shape}, max |logit| {np.abs(y).max():.6g}")
    return 0


def node_tests(directory, *models):
    required_ops = sorted({n.op_type for m in models for n in onnx.load(m).graph.node})
    passed, failed, skipped, covered = 0, 0, 0, set()
    for name in sorted(os.listdir(directory)):
        path = os.path.join(directory, name)
        if not os.path.isfile(os.path.join(path, "model.onnx")):
            continue
        model = onnx.load(os.path.join(path, "model.onnx"))
        ops = {n.op_type for n in model.graph.node}
        if not ops <= set(onnx_reference.OPS):
            continue  # not about the ops this reference implements
        sets = sorted(d for d in os.listdir(path) if d.startswith("test_data_set_"))
        try:
            if not all(i.type.HasField("tensor_type") for i in model.graph.input):
                raise onnx_reference.Unsupported("a graph input is not a tensor")
            problems = []
            for data_set in sets:
                def tensors(prefix, where=os.path.join(path, data_set)):
                    files = sorted((f for f in os.listdir(where) if f.startswith(prefix)),
                                   key=lambda f: int(f[len(prefix):-3]))
                    return [load(os.path.join(where, f)) for f in files]
                want = tensors("output_")[0]
                if want.dtype != np.float32:
                    raise onnx_reference.Unsupported(f"a {want.dtype} output")
                got = onnx_reference.evaluate(model, *tensors("input_"))
                if got.shape != want.shape:
                    problems.append(f"{data_set}: shape {got.shape}, expected {want.shape}")
                elif not np.allclose(got, want, rtol=1e-4, atol=1e-5):
                    problems.append(f"{data_set}: max |diff| {np.abs(got - want).max():.3g}")
        except onnx_reference.Unsupported as e:
            skipped += 1
            print(f"skip {name}: {e}")
            continue
        if problems:
            failed += 1
            print(f"FAIL {name}: {'; '.join(problems)}")
        else:
            passed += 1
            covered |= ops
            print(f"ok {name} ({len(sets)} data sets)")
    missing = [op for op in required_ops if op not in covered]
    print(f"node tests: {passed} passed, {failed} failed, {skipped} skipped; the models' ops "
          f"{', '.join(required_ops)}: without a passing test: {', '.join(missing) or 'none'}")
    return 1 if failed or missing else 0


def within(label, got_path, ref_path, tol):
    if ref_path.endswith(".f32"):  # the shape comes from the other file
        got = load(got_path).astype(np.float64)
        ref = load(ref_path, got.shape).astype(np.float64)
    else:
        ref = load(ref_path).astype(np.float64)
        got = load(got_path, ref.shape).astype(np.float64)
    if got.shape != ref.shape:
        print(f"shape {got.shape}, reference {ref.shape}")
        return 1
    tol = float(tol)
    scale = max(1.0, float(np.abs(ref).max()))
    err = float(np.abs(got - ref).max())
    rows = ref.reshape(ref.shape[0], -1)
    top2 = np.sort(rows, axis=1)[:, -2:]
    near_tie = (top2[:, 1] - top2[:, 0]) <= 2 * tol * scale
    agree = np.argmax(got.reshape(rows.shape), axis=1) == np.argmax(rows, axis=1)
    ties = int(np.sum(near_tie & ~agree))
    print(f"max |diff| {err:.3g} of scale {scale:.4g} = {err / scale:.3g} of the scale "
          f"(tolerance {tol:g}), argmax {int(agree.sum())}/{len(agree)}"
          + (f" ({ties} near ties)" if ties else ""))
    return 0 if err <= tol * scale and bool(np.all(agree | near_tie)) else 1


def differ(label, a_path, b_path):
    a, b = load(a_path), load(b_path)
    same = a.shape == b.shape and np.array_equal(a, b)
    print(f"{'bit-identical' if same else 'not bit-identical'}: {a_path} {b_path}")
    return 1 if same else 0


def check(path):
    kinds = {"within": within, "differ": differ}
    failed = 0
    with open(path) as f:
        lines = [line.strip() for line in f if line.strip()]
    for line in lines:
        words = shlex.split(line)
        out = io.StringIO()
        try:
            with contextlib.redirect_stdout(out):
                rc = kinds[words[0]](*words[1:]) if words[0] in kinds else 2
            text = out.getvalue().strip() or f"unknown check {words[0]!r}"
        except Exception as e:  # a missing or broken file is one failed line
            rc, text = 1, f"{type(e).__name__}: {e}"
        failed += rc != 0
        label = words[1] if len(words) > 1 else ""
        print(f"{'ok' if rc == 0 else 'FAIL'} {words[0]} {label}: {text}")
        if rc != 0:
            print(f"    ({line})")
    print(f"network_accuracy check: {len(lines) - failed} of {len(lines)} held")
    return 1 if failed else 0


def main(argv):
    commands = {"cifar-files": cifar_files, "input": make_input, "reference": reference,
                "node-tests": node_tests, "check": check}
    if len(argv) < 2 or argv[1] not in commands:
        print(__doc__)
        return 2
    return commands[argv[1]](*argv[2:])


if __name__ == "__main__":
    sys.exit(main(sys.argv))
