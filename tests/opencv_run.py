#!/usr/bin/python3
"""Runs ONNX models in OpenCV DNN (Debian's python3-opencv; its own CPU backend) on raw
float32 input files and writes each model's output as raw float32.

  opencv_run.py MODEL.onnx INPUT.f32 N,C,H,W OUTPUT.f32
  opencv_run.py --jobs FILE      one "MODEL.onnx INPUT.f32 N,C,H,W OUTPUT.f32" per line:
                                 many models, one process
  opencv_run.py --layer NODE MODEL.onnx INPUT.f32 N,C,H,W OUTPUT.f32
                                 the output of the node named NODE instead (OpenCV 4.6
                                 names the node's layer "onnx_node!NODE")

Prints "ok MODEL: shape" per model that ran, "FAIL MODEL: message" per one that did not
(and goes on with the next); exits 1 when any failed.
"""
import sys

import cv2
import numpy as np


def run_one(model, input_path, shape_text, output_path, layer=None):
    dims = [int(d) for d in shape_text.split(",")]
    x = np.fromfile(input_path, dtype="<f4")
    if x.size != int(np.prod(dims)):
        raise ValueError(f"{input_path}: {x.size} floats, shape {shape_text} needs {np.prod(dims)}")
    net = cv2.dnn.readNetFromONNX(model)
    net.setPreferableBackend(cv2.dnn.DNN_BACKEND_OPENCV)
    net.setPreferableTarget(cv2.dnn.DNN_TARGET_CPU)
    net.setInput(np.ascontiguousarray(x.reshape(dims)))
    # OpenCV names a node's layer after the node: "onnx_node!NAME" in 4.6.
    y = net.forward("onnx_node!" + layer) if layer else net.forward()
    np.ascontiguousarray(y, dtype="<f4").tofile(output_path)
    return f"[{','.join(str(d) for d in y.shape)}]"


def main(argv):
    layer = None
    if len(argv) >= 2 and argv[0] == "--layer":
        layer, argv = argv[1], argv[2:]
    if len(argv) == 2 and argv[0] == "--jobs":
        with open(argv[1]) as f:
            jobs = [line.split() for line in f if line.strip()]
    elif len(argv) == 4:
        jobs = [argv]
    else:
        print(__doc__, file=sys.stderr)
        return 2
    cv2.setNumThreads(1)
    failed = 0
    for job in jobs:
        try:
            if len(job) != 4:
                raise ValueError(f"job '{' '.join(job)}' needs 4 fields")
            print(f"ok {job[0]}: {run_one(*job, layer=layer)}")
        except (cv2.error, ValueError, OSError) as e:
            failed += 1
            message = " ".join(str(e).split())
            print(f"FAIL {job[0]}: {message}")
    print(f"OpenCV {cv2.__version__}: {len(jobs) - failed} of {len(jobs)} ran")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
