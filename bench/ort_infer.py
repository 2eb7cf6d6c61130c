#!/usr/bin/env python3
"""onnxruntime (Python) as the peer and the reference of sdinfer on the GPU machine,
whose image has the onnxruntime wheel but no Node.js (bench/ort_infer.js and
tests/ort_run_tensor.js are the same tools for onnxruntime-node).

  ort_infer.py bench MODEL.onnx BATCH N THREADS   time N runs of one batch of random input
  ort_infer.py run MODEL.onnx IN.pb OUT.pb        run once on a TensorProto, write output 0

bench prints "providers: ...", "images/s: X", "latency p50 ms: Y", "latency p99 ms: Z".
The CUDA execution provider is used when this onnxruntime has it (the GPU image's
wheel is the CPU build; the first line says which ran).
"""
import sys
import time

import numpy as np
import onnx
import onnxruntime as ort
from onnx import numpy_helper


def session(model, threads):
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    available = ort.get_available_providers()
    wanted = [p for p in ("CUDAExecutionProvider", "CPUExecutionProvider") if p in available]
    return ort.InferenceSession(model, options, providers=wanted)


def bench(model, batch, runs, threads):
    s = session(model, threads)
    inp = s.get_inputs()[0]
    dims = [batch] + [int(d) for d in inp.shape[1:]]
    x = np.random.default_rng(1).standard_normal(dims).astype(np.float32)
    for _ in range(3):
        s.run(None, {inp.name: x})
    latencies = []
    start = time.perf_counter()
    for _ in range(runs):
        t0 = time.perf_counter()
        s.run(None, {inp.name: x})
        latencies.append(time.perf_counter() - t0)
    seconds = time.perf_counter() - start
    latencies.sort()
    print(f"onnxruntime {ort.__version__}; providers: {' '.join(s.get_providers())}; "
          f"batch {batch}, {threads} threads")
    print(f"images/s: {runs * batch / seconds:.1f}")
    print(f"latency p50 ms: {1000 * latencies[len(latencies) // 2]:.3f}")
    print(f"latency p99 ms: {1000 * latencies[min(runs - 1, int(0.99 * runs))]:.3f}")


def run_once(model, in_path, out_path):
    s = session(model, 0)
    x = numpy_helper.to_array(onnx.load_tensor(in_path))
    y = s.run(None, {s.get_inputs()[0].name: x})[0]
    with open(out_path, "wb") as f:
        f.write(numpy_helper.from_array(np.ascontiguousarray(y)).SerializeToString())
    print(f"onnxruntime {ort.__version__} ({' '.join(s.get_providers())}): {out_path} {y.shape}")


def main(argv):
    if len(argv) == 6 and argv[1] == "bench":
        bench(argv[2], int(argv[3]), int(argv[4]), int(argv[5]))
    elif len(argv) == 5 and argv[1] == "run":
        run_once(argv[2], argv[3], argv[4])
    else:
        print(__doc__, file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
