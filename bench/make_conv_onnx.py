#!/usr/bin/python3
"""Writes one ONNX model per shape of bench/conv_shapes.txt, for onnxruntime's side of
the per-convolution benchmark (bench/ort_conv.js): input "x" [N, in_c, in_h, in_w] with a
dynamic batch N, one Conv (no bias, the weight an initializer), output "y".

usage: make_conv_onnx.py SHAPES_FILE OUT_DIR
Writes OUT_DIR/NAME.onnx for every shape, checked by onnx.checker, and prints their paths
in file order."""
import os
import sys

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import conv_shapes  # noqa: E402

OPSET = 13


def conv_model(shape, rng):
    weight = (0.1 * rng.standard_normal((shape.out_c, shape.in_c, shape.kernel, shape.kernel))
              ).astype(np.float32)
    node = helper.make_node("Conv", ["x", "w"], ["y"], kernel_shape=[shape.kernel] * 2,
                            strides=[shape.stride] * 2, pads=[shape.pad] * 4)
    graph = helper.make_graph(
        [node], shape.name,
        [helper.make_tensor_value_info("x", TensorProto.FLOAT,
                                       ["N", shape.in_c, shape.in_h, shape.in_w])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT,
                                       ["N", shape.out_c, shape.out_h, shape.out_w])],
        [numpy_helper.from_array(weight, "w")])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)],
                              producer_name="sdtrain-bench")
    onnx.checker.check_model(model, full_check=True)
    return model


def main():
    if len(sys.argv) != 3:
        sys.exit("usage: make_conv_onnx.py SHAPES_FILE OUT_DIR")
    try:
        shapes = conv_shapes.read_shapes(sys.argv[1])
    except conv_shapes.ShapeError as e:
        sys.exit(f"make_conv_onnx: {e}")
    os.makedirs(sys.argv[2], exist_ok=True)
    rng = np.random.default_rng(1)
    for shape in shapes:
        path = os.path.join(sys.argv[2], shape.name + ".onnx")
        onnx.save(conv_model(shape, rng), path + ".tmp")
        os.replace(path + ".tmp", path)
        print(path)


if __name__ == "__main__":
    main()
