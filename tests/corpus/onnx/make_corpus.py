#!/usr/bin/python3
"""Writes the hand-made part of sdinfer's ONNX regression corpus (this directory).

Each model exercises one error path of the loader or planner (or one valid
corner case). expected.tsv lists, per file, what sdinfer must answer:
  file <TAB> ok|invalid|unsupported <TAB> load|plan <TAB> substring of the message
Files not listed there (e.g. fuzz_*.onnx, inputs that once crashed a build)
only have to be refused or loaded without crashing.

The ok_sem_*.onnx models come with NAME.in.pb (input 0) and NAME.out.pb (output 0
as computed here with numpy): forms the ONNX node tests do not cover (Pad-2's
attribute form, Softmax-11's flattening, MatMul N-D x 2-D, 1-D Conv, BN-9 after a
Conv with constant weights (the folding path), Reshape 0/-1, Concat with a
constant, Gemm as a fully connected layer with transB=0 and alpha/beta).

Run: /usr/bin/python3 tests/corpus/onnx/make_corpus.py   (needs python3-onnx)
"""
import os

import numpy as np
from onnx import TensorProto, helper, numpy_helper

HERE = os.path.dirname(os.path.abspath(__file__))
F = TensorProto.FLOAT
EXPECTED = []


def model(nodes, inputs, outputs, initializers=(), opset=13, ir=8, value_info=()):
    graph = helper.make_graph(nodes, "corpus", inputs, outputs, list(initializers),
                              value_info=list(value_info))
    m = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    m.ir_version = ir
    return m.SerializeToString()


def tensor(name, shape, elem=F):
    return helper.make_tensor_value_info(name, elem, shape)


def weights(name, shape, seed=0):
    return numpy_helper.from_array(
        np.random.default_rng(seed).standard_normal(shape).astype(np.float32), name)


def write(name, data, result, stage, substring):
    with open(os.path.join(HERE, name), "wb") as f:
        f.write(data)
    EXPECTED.append(f"{name}\t{result}\t{stage}\t{substring}")


def conv_relu(conv_attrs=None, opset=13, x_shape=(1, 3, 8, 8), w_shape=(4, 3, 3, 3)):
    conv = helper.make_node("Conv", ["x", "W", "B"], ["c"], name="conv1",
                            **(conv_attrs or {"kernel_shape": [3, 3], "pads": [1, 1, 1, 1]}))
    relu = helper.make_node("Relu", ["c"], ["y"], name="relu1")
    return model([conv, relu], [tensor("x", list(x_shape))], [tensor("y", None)],
                 [weights("W", w_shape), weights("B", [w_shape[0]], 1)], opset=opset)


def save_tensor(array, name):
    with open(os.path.join(HERE, name), "wb") as f:
        f.write(numpy_helper.from_array(np.ascontiguousarray(array, np.float32)).SerializeToString())


def softmax(x, axis):
    e = np.exp(x - x.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


def conv2d(x, w, b, pads):
    """Naive NCHW convolution, stride 1, symmetric pads (pad_h, pad_w)."""
    n, c, h, wd = x.shape
    m, _, kh, kw = w.shape
    xp = np.pad(x, ((0, 0), (0, 0), (pads[0], pads[0]), (pads[1], pads[1])))
    oh, ow = xp.shape[2] - kh + 1, xp.shape[3] - kw + 1
    y = np.zeros((n, m, oh, ow), np.float64)
    for i in range(oh):
        for j in range(ow):
            patch = xp[:, :, i:i + kh, j:j + kw].reshape(n, -1)
            y[:, :, i, j] = patch @ w.reshape(m, -1).T
    return y + b.reshape(1, m, 1, 1)


def semantic_case(name, nodes, x, y, initializers=(), opset=13, dynamic_batch=False):
    shape = (["N"] if dynamic_batch else []) + list(x.shape[1 if dynamic_batch else 0:])
    data = model(nodes, [tensor("x", shape)], [tensor("y", None)], initializers, opset=opset)
    write(name + ".onnx", data, "ok", "plan", "")
    save_tensor(x, name + ".in.pb")
    save_tensor(y, name + ".out.pb")


def semantics():
    rng = np.random.default_rng(7)
    x = rng.standard_normal((1, 2, 3, 3)).astype(np.float32)
    pad = helper.make_node("Pad", ["x"], ["y"], name="pad2", pads=[0, 1, 2, 0, 0, 0, 1, 1],
                           value=1.5)
    semantic_case("ok_sem_pad2_attributes", [pad], x,
                  np.pad(x, ((0, 0), (1, 0), (2, 1), (0, 1)), constant_values=1.5), opset=10)

    x = rng.standard_normal((2, 3, 2)).astype(np.float32)
    sm = helper.make_node("Softmax", ["x"], ["y"], name="softmax11", axis=1)
    semantic_case("ok_sem_softmax11_flatten", [sm], x,
                  softmax(x.reshape(2, 6), 1).reshape(2, 3, 2), opset=11)

    x = rng.standard_normal((2, 3, 4)).astype(np.float32)
    w = rng.standard_normal((4, 5)).astype(np.float32)
    mm = helper.make_node("MatMul", ["x", "W"], ["y"], name="matmul")
    semantic_case("ok_sem_matmul_nd_2d", [mm], x, x.astype(np.float64) @ w,
                  [numpy_helper.from_array(w, "W")])

    x = rng.standard_normal((2, 3, 9)).astype(np.float32)
    w = rng.standard_normal((4, 3, 3)).astype(np.float32)
    b = rng.standard_normal(4).astype(np.float32)
    conv = helper.make_node("Conv", ["x", "W", "B"], ["y"], name="conv1d", pads=[1, 1])
    y = conv2d(x[:, :, None, :].astype(np.float64), w[:, :, None, :], b, (0, 1))[:, :, 0, :]
    semantic_case("ok_sem_conv1d", [conv], x, y,
                  [numpy_helper.from_array(w, "W"), numpy_helper.from_array(b, "B")])

    x = rng.standard_normal((2, 3, 5, 5)).astype(np.float32)
    w = rng.standard_normal((4, 3, 3, 3)).astype(np.float32)
    gamma, beta = rng.uniform(0.5, 1.5, 4).astype(np.float32), rng.standard_normal(4).astype(np.float32)
    mean, var = rng.standard_normal(4).astype(np.float32), rng.uniform(0.5, 2, 4).astype(np.float32)
    conv = helper.make_node("Conv", ["x", "W"], ["c"], name="conv", pads=[1, 1, 1, 1])
    bn = helper.make_node("BatchNormalization", ["c", "g", "b", "m", "v"], ["n"], name="bn",
                          epsilon=1e-3)
    relu = helper.make_node("Relu", ["n"], ["y"], name="relu")
    c = conv2d(x.astype(np.float64), w, np.zeros(4), (1, 1))
    shape4 = (1, 4, 1, 1)
    y = np.maximum((c - mean.reshape(shape4)) / np.sqrt(var.reshape(shape4) + 1e-3) *
                   gamma.reshape(shape4) + beta.reshape(shape4), 0)
    semantic_case("ok_sem_conv_bn9_relu", [conv, bn, relu], x, y,
                  [numpy_helper.from_array(a, n) for a, n in
                   ((w, "W"), (gamma, "g"), (beta, "b"), (mean, "m"), (var, "v"))], opset=9)

    x = rng.standard_normal((2, 3, 4)).astype(np.float32)
    shape = numpy_helper.from_array(np.array([0, -1, 2], np.int64), "shape")
    extra = rng.standard_normal((2, 1, 2)).astype(np.float32)
    reshape = helper.make_node("Reshape", ["x", "shape"], ["r"], name="reshape")
    concat = helper.make_node("Concat", ["r", "extra"], ["y"], name="concat", axis=1)
    semantic_case("ok_sem_reshape_concat_constant", [reshape, concat], x,
                  np.concatenate([x.reshape(2, 6, 2), extra], axis=1),
                  [shape, numpy_helper.from_array(extra, "extra")])

    x = rng.standard_normal((3, 6)).astype(np.float32)
    w = rng.standard_normal((6, 4)).astype(np.float32)
    c = rng.standard_normal((1, 4)).astype(np.float32)
    gemm = helper.make_node("Gemm", ["x", "W", "C"], ["y"], name="fc", alpha=0.5, beta=2.0)
    semantic_case("ok_sem_gemm_fc_transb0", [gemm], x, 0.5 * (x.astype(np.float64) @ w) + 2.0 * c,
                  [numpy_helper.from_array(w, "W"), numpy_helper.from_array(c, "C")])


def ints(name, values):
    return numpy_helper.from_array(np.array(values, np.int64), name)


def host_evaluated():
    """Shape computations and constant subgraphs sdinfer evaluates when it plans."""
    rng = np.random.default_rng(11)
    # The reshape exporters write for x.view(x.size(0), -1): Shape -> Gather -> Unsqueeze ->
    # Concat; here the second dim is Size / dim 0 (integer Div) instead of -1.
    x = rng.standard_normal((2, 3, 4)).astype(np.float32)
    nodes = [helper.make_node("Shape", ["x"], ["shape"], name="shape"),
             helper.make_node("Gather", ["shape", "zero"], ["n"], name="gather", axis=0),
             helper.make_node("Size", ["x"], ["size"], name="size"),
             helper.make_node("Div", ["size", "n"], ["rest"], name="div"),
             helper.make_node("Unsqueeze", ["n", "axes0"], ["n1"], name="unsqueeze_n"),
             helper.make_node("Unsqueeze", ["rest", "axes0"], ["rest1"], name="unsqueeze_rest"),
             helper.make_node("Concat", ["n1", "rest1"], ["target"], name="concat", axis=0),
             helper.make_node("Reshape", ["x", "target"], ["y"], name="reshape")]
    semantic_case("ok_sem_shape_chain_reshape", nodes, x, x.reshape(2, 12),
                  [ints("zero", 0), ints("axes0", [0])])

    # A constant subgraph over int64, bool and float: Range, Equal, Where, Cast, Slice with a
    # negative step, Mul, Expand, Transpose, Unsqueeze/Squeeze, ConstantOfShape, then one Add.
    x = rng.standard_normal((2, 4, 3)).astype(np.float32)
    f32 = lambda name, v: numpy_helper.from_array(np.array(v, np.float32), name)
    nodes = [helper.make_node("Range", ["r0", "r4", "r1"], ["r"], name="range"),
             helper.make_node("Equal", ["r", "two"], ["is_two"], name="equal"),
             helper.make_node("Where", ["is_two", "ten", "one"], ["w"], name="where"),
             helper.make_node("Cast", ["r"], ["rf"], name="cast", to=TensorProto.FLOAT),
             helper.make_node("Slice", ["rf", "s_start", "s_end", "s_axes", "s_step"], ["rev"],
                              name="slice"),
             helper.make_node("Mul", ["w", "rev"], ["m"], name="mul"),
             helper.make_node("Expand", ["m", "shape34"], ["ex"], name="expand"),
             helper.make_node("Transpose", ["ex"], ["t"], name="transpose", perm=[1, 0]),
             helper.make_node("Unsqueeze", ["t", "axes0"], ["t1"], name="unsqueeze"),
             helper.make_node("Squeeze", ["t1", "axes0"], ["q"], name="squeeze"),
             helper.make_node("ConstantOfShape", ["shape43"], ["half"], name="fill",
                              value=numpy_helper.from_array(np.array([0.5], np.float32))),
             helper.make_node("Add", ["q", "half"], ["q2"], name="add_const"),
             helper.make_node("Add", ["x", "q2"], ["y"], name="add")]
    r = np.arange(0, 4, 1)
    m = np.where(r == 2, 10.0, 1.0) * r.astype(np.float32)[::-1]
    q = np.broadcast_to(m, (3, 4)).T + 0.5
    semantic_case("ok_sem_constant_subgraph", nodes, x, x + q,
                  [ints("r0", 0), ints("r4", 4), ints("r1", 1), ints("two", [2]),
                   f32("ten", 10), f32("one", 1), ints("s_start", [-1]), ints("s_end", [-5]),
                   ints("s_axes", [0]), ints("s_step", [-1]), ints("shape34", [3, 4]),
                   ints("axes0", [0]), ints("shape43", [4, 3])])


def conv2d_general(x, w, b, stride, pads, dilation, groups):
    """Naive NCHW convolution with groups and dilation; pads (top, left, bottom, right)."""
    n, c, h, wd = x.shape
    m, cg, kh, kw = w.shape
    xp = np.pad(x, ((0, 0), (0, 0), (pads[0], pads[2]), (pads[1], pads[3])))
    oh = (xp.shape[2] - (kh - 1) * dilation[0] - 1) // stride[0] + 1
    ow = (xp.shape[3] - (kw - 1) * dilation[1] - 1) // stride[1] + 1
    y = np.zeros((n, m, oh, ow), np.float64)
    per_group = m // groups
    for oc in range(m):
        g = oc // per_group
        for i in range(oh):
            for j in range(ow):
                patch = xp[:, g * cg:(g + 1) * cg,
                           i * stride[0]:i * stride[0] + (kh - 1) * dilation[0] + 1:dilation[0],
                           j * stride[1]:j * stride[1] + (kw - 1) * dilation[1] + 1:dilation[1]]
                y[:, oc, i, j] = (patch * w[oc]).reshape(n, -1).sum(axis=1) + b[oc]
    return y


def cnn_ops():
    """Grouped, depthwise and dilated convolutions (there is no such ONNX node test), and
    Softmax-13 over an axis that has later axes (a strided softmax)."""
    rng = np.random.default_rng(13)
    x = rng.standard_normal((2, 3, 4)).astype(np.float32)
    softmax13 = helper.make_node("Softmax", ["x"], ["y"], name="softmax1", axis=1)
    semantic_case("ok_sem_softmax13_inner_axis", [softmax13], x, softmax(x.astype(np.float64), 1))
    x = rng.standard_normal((1, 2, 4, 5)).astype(np.float32)
    for mode in ("reflect", "edge"):
        pad = helper.make_node("Pad", ["x", "pads"], ["y"], name="pad_" + mode, mode=mode)
        semantic_case("ok_sem_pad_" + mode, [pad], x,
                      np.pad(x, ((0, 0), (1, 0), (3, 2), (1, 4)), mode=mode),
                      [ints("pads", [0, 1, 3, 1, 0, 0, 2, 4])])
    x = rng.standard_normal((2, 4, 9, 8)).astype(np.float32)
    cases = [("ok_sem_conv_depthwise_dilated", 4, (1, 1), (2, 2), (2, 2, 2, 2), 4),
             ("ok_sem_conv_grouped_strided", 6, (2, 2), (1, 2), (1, 0, 1, 2), 2)]
    for name, out_c, stride, dilation, pads, groups in cases:
        w = rng.standard_normal((out_c, 4 // groups, 3, 3)).astype(np.float32)
        b = rng.standard_normal(out_c).astype(np.float32)
        conv = helper.make_node("Conv", ["x", "W", "B"], ["c"], name="conv", group=groups,
                                strides=list(stride), dilations=list(dilation), pads=list(pads))
        relu = helper.make_node("Relu", ["c"], ["y"], name="relu")
        y = np.maximum(conv2d_general(x.astype(np.float64), w, b, stride, pads, dilation, groups), 0)
        semantic_case(name, [conv, relu], x, y,
                      [numpy_helper.from_array(w, "W"), numpy_helper.from_array(b, "B")])


def batch_cases():
    """ok_sem_batch_*: a dynamic batch of 3, for sdinfer's lanes (infer/batch_lanes.h), which
    run chunks of the batch apart: one model whose every step is per-sample, and models
    that mix the samples (the lanes must not run them; numpy's answer shows it)."""
    rng = np.random.default_rng(11)
    x = rng.standard_normal((3, 4)).astype(np.float32)
    scale = rng.standard_normal((1, 4)).astype(np.float32)
    shift = rng.standard_normal(4).astype(np.float32)
    w = rng.standard_normal((5, 4)).astype(np.float32)
    nodes = [helper.make_node("Mul", ["x", "scale"], ["m"], name="mul"),
             helper.make_node("Add", ["m", "shift"], ["a"], name="add"),
             helper.make_node("Gemm", ["a", "W"], ["g"], name="fc", transB=1),
             helper.make_node("Softmax", ["g"], ["y"], name="softmax", axis=1)]
    semantic_case("ok_sem_batch_per_sample", nodes, x,
                  softmax((x.astype(np.float64) * scale + shift) @ w.T, 1),
                  [numpy_helper.from_array(scale, "scale"), numpy_helper.from_array(shift, "shift"),
                   numpy_helper.from_array(w, "W")], dynamic_batch=True)
    semantic_case("ok_sem_batch_softmax_axis0",
                  [helper.make_node("Softmax", ["x"], ["y"], name="softmax0", axis=0)], x,
                  softmax(x.astype(np.float64), 0), dynamic_batch=True)
    nodes = [helper.make_node("Reshape", ["x", "flat"], ["f"], name="merge"),
             helper.make_node("Softmax", ["f"], ["s"], name="softmax_all", axis=1),
             helper.make_node("Reshape", ["s", "rows"], ["y"], name="split")]
    semantic_case("ok_sem_batch_reshape_merge", nodes, x,
                  softmax(x.astype(np.float64).reshape(1, 12), 1).reshape(3, 4),
                  [numpy_helper.from_array(np.array([1, -1], np.int64), "flat"),
                   numpy_helper.from_array(np.array([-1, 4], np.int64), "rows")],
                  dynamic_batch=True)
    nodes = [helper.make_node("Transpose", ["x"], ["t"], name="transpose", perm=[1, 0]),
             helper.make_node("Softmax", ["t"], ["s"], name="softmax_samples", axis=1),
             helper.make_node("Transpose", ["s"], ["y"], name="transpose_back", perm=[1, 0])]
    semantic_case("ok_sem_batch_transpose", nodes, x, softmax(x.astype(np.float64), 0),
                  dynamic_batch=True)
    nodes = [helper.make_node("Unsqueeze", ["x", "axis2"], ["u"], name="unsqueeze"),
             helper.make_node("Relu", ["u"], ["r"], name="relu"),
             helper.make_node("Squeeze", ["r", "axis2"], ["y"], name="squeeze")]
    semantic_case("ok_sem_batch_unsqueeze_squeeze", nodes, x, np.maximum(x, 0),
                  [numpy_helper.from_array(np.array([2], np.int64), "axis2")], dynamic_batch=True)
    nodes = [helper.make_node("Relu", ["x"], ["r"], name="relu"),
             helper.make_node("Concat", ["x", "r"], ["y"], name="concat_batch", axis=0)]
    semantic_case("ok_sem_batch_concat_axis0", nodes, x, np.concatenate([x, np.maximum(x, 0)]),
                  dynamic_batch=True)
    squeeze = helper.make_node("Squeeze", ["x", "axis1"], ["y"], name="squeeze1")
    write("err_squeeze_runtime_size.onnx",
          model([squeeze], [tensor("x", [2, 3])], [tensor("y", None)],
                [numpy_helper.from_array(np.array([1], np.int64), "axis1")]),
          "invalid", "plan", "node 'squeeze1' (Squeeze): axis 1 has size 3, not 1")


def split_cases():
    """Split: every output is consumed (put back together in another order, one through a
    Relu, so a wrong part, order or size shows in output 0), and its refusals."""
    rng = np.random.default_rng(17)
    x = rng.standard_normal((2, 6, 3)).astype(np.float32)
    nodes = [helper.make_node("Split", ["x", "sizes"], ["a", "b", "c"], name="split1", axis=1),
             helper.make_node("Relu", ["b"], ["rb"], name="relu1"),
             helper.make_node("Concat", ["c", "a", "rb"], ["y"], name="concat1", axis=1)]
    y = np.concatenate([x[:, 4:6], x[:, 0:1], np.maximum(x[:, 1:4], 0)], axis=1)
    semantic_case("ok_sem_split13_sizes_input", nodes, x, y, [ints("sizes", [1, 3, 2])])

    x = rng.standard_normal((2, 3, 5)).astype(np.float32)
    nodes = [helper.make_node("Split", ["x"], ["a", "b"], name="split1", axis=-1, split=[2, 3]),
             helper.make_node("Concat", ["b", "a"], ["y"], name="concat1", axis=-1)]
    semantic_case("ok_sem_split11_attribute", nodes, x,
                  np.concatenate([x[..., 2:], x[..., :2]], axis=-1), opset=11)

    x = rng.standard_normal((4, 2, 3)).astype(np.float32)
    nodes = [helper.make_node("Split", ["x"], ["a", "b"], name="split1"),
             helper.make_node("Sub", ["a", "b"], ["y"], name="sub1")]
    semantic_case("ok_sem_split13_equal_parts", nodes, x, x[:2] - x[2:])

    def split_model(inputs, outputs, initializers=(), opset=13, x_shape=(1, 5), **attrs):
        node = helper.make_node("Split", inputs, outputs, name="split1", **attrs)
        return model([node], [tensor(name, list(x_shape) if name == "x" else [len(outputs)],
                                     F if name == "x" else TensorProto.INT64)
                              for name in inputs if name not in [i.name for i in initializers]],
                     [tensor(o, None) for o in outputs], initializers, opset=opset)
    write("err_split_sizes_sum.onnx",
          split_model(["x", "sizes"], ["a", "b"], [ints("sizes", [2, 2])], axis=1),
          "invalid", "plan", "node 'split1' (Split): the split sizes add up to 4, axis 1 has 5")
    write("err_split_unequal.onnx", split_model(["x"], ["a", "b"], axis=1),
          "invalid", "plan", "node 'split1' (Split): axis 1 (5) does not split into 2 equal parts")
    write("err_split_count.onnx", split_model(["x"], ["a", "b"], opset=11, axis=1, split=[1, 2, 2]),
          "invalid", "plan", "node 'split1' (Split): split has 3 entries for 2 outputs")
    write("err_split_attribute_13.onnx", split_model(["x"], ["a", "b"], axis=1, split=[2, 3]),
          "invalid", "load", "node 'split1' (Split): Split-13 takes split as an input, not an attribute")
    write("err_split_too_many_outputs.onnx",
          split_model(["x"], [f"o{k}" for k in range(33)], x_shape=(1, 33), axis=1),
          "unsupported", "load", "node 'split1' (Split): 33 outputs; at most 32 are supported")
    write("err_split_runtime_sizes.onnx", split_model(["x", "sizes"], ["a", "b"], axis=1),
          "unsupported", "plan", "graph input 'sizes' feeds a shape/pads/bounds input, which must "
          "be a constant (an initializer)")


def main():
    valid = conv_relu()
    write("ok_conv_relu.onnx", valid, "ok", "plan", "")
    write("err_not_protobuf.onnx", b"this is not an ONNX model\n" * 4, "invalid", "load",
          "not a valid ONNX model")
    write("err_empty.onnx", b"", "invalid", "load", "no ir_version")
    write("err_truncated.onnx", valid[: len(valid) // 2], "invalid", "load",
          "not a valid ONNX model")

    relu = helper.make_node("Relu", ["missing"], ["y"], name="relu1")
    write("err_undefined_input.onnx", model([relu], [tensor("x", [1, 4])], [tensor("y", None)]),
          "invalid", "load", "node 'relu1' (Relu): input 'missing' is not defined")

    lrn = helper.make_node("LRN", ["x"], ["y"], name="lrn1", size=3)
    write("err_unsupported_op.onnx", model([lrn], [tensor("x", [1, 3, 4, 4])], [tensor("y", None)]),
          "unsupported", "load", "node 'lrn1' (LRN): op 'LRN' is not supported")
    lrn = helper.make_node("LRN", ["x"], ["y"], size=3)
    write("err_unsupported_op_unnamed.onnx",
          model([lrn], [tensor("x", [1, 3, 4, 4])], [tensor("y", None)]),
          "unsupported", "load", "node '#0' (LRN): op 'LRN' is not supported")

    w = TensorProto(name="W", data_type=F, dims=[4, 3, 3, 3], raw_data=b"\0" * 100)
    conv = helper.make_node("Conv", ["x", "W"], ["y"], name="conv1")
    write("err_init_raw_size.onnx", model([conv], [tensor("x", [1, 3, 8, 8])], [tensor("y", None)], [w]),
          "invalid", "load", "initializer 'W': raw_data has 100 bytes, the dims need 108 x 4 = 432")
    w = TensorProto(name="W", data_type=F, dims=[4, 3, 3, 3], float_data=[0.5] * 107)
    write("err_init_float_count.onnx", model([conv], [tensor("x", [1, 3, 8, 8])], [tensor("y", None)], [w]),
          "invalid", "load", "initializer 'W': float_data has 107 values, the dims need 108")
    shape = TensorProto(name="shape", data_type=TensorProto.INT64, dims=[2], int64_data=[1])
    reshape = helper.make_node("Reshape", ["x", "shape"], ["y"], name="reshape1")
    write("err_init_int64_count.onnx",
          model([reshape], [tensor("x", [2, 3])], [tensor("y", None)], [shape]),
          "invalid", "load", "initializer 'shape': int64_data has 1 values, the dims need 2")
    huge = TensorProto(name="W", data_type=F, dims=[1 << 40, 1 << 40])
    write("err_init_huge_dims.onnx", model([conv], [tensor("x", [1, 3, 8, 8])], [tensor("y", None)], [huge]),
          "invalid", "load", "initializer 'W': invalid or too large dims")
    negative = TensorProto(name="W", data_type=F, dims=[-4, 3])
    write("err_init_negative_dim.onnx",
          model([conv], [tensor("x", [1, 3, 8, 8])], [tensor("y", None)], [negative]),
          "invalid", "load", "initializer 'W': invalid or too large dims")
    external = weights("W", [4, 3, 3, 3])
    external.data_location = TensorProto.EXTERNAL
    entry = external.external_data.add()
    entry.key, entry.value = "location", "weights.bin"
    external.ClearField("raw_data")
    write("err_init_external.onnx",
          model([conv], [tensor("x", [1, 3, 8, 8])], [tensor("y", None)], [external]),
          "invalid", "load", "weights.bin: cannot open: No such file or directory")
    double = numpy_helper.from_array(np.zeros([4, 3, 3, 3]), "W")
    write("err_init_double.onnx", model([conv], [tensor("x", [1, 3, 8, 8])], [tensor("y", None)], [double]),
          "unsupported", "load", "element type DOUBLE (11) is not supported")

    write("err_conv_group.onnx", conv_relu({"group": 3}, w_shape=(3, 2, 3, 3)), "invalid", "plan",
          "node 'conv1' (Conv): weight expects 6 input channels, input has 3")
    write("err_conv_dilation.onnx", conv_relu({"dilations": [0, 2]}), "invalid", "load",
          "node 'conv1' (Conv): dilations entry 0 is out of range")
    write("err_conv_attr_type.onnx", conv_relu({"strides": 2.0}), "invalid", "load",
          "node 'conv1' (Conv): attribute 'strides' should be INTS, is FLOAT")
    write("err_conv_3d.onnx", conv_relu({"kernel_shape": [3, 3, 3]}, x_shape=(1, 3, 4, 8, 8),
                                        w_shape=(4, 3, 3, 3, 3)),
          "unsupported", "load", "node 'conv1' (Conv): attribute 'kernel_shape' has 3 entries")
    write("err_conv_channels.onnx", conv_relu(w_shape=(4, 2, 3, 3)), "invalid", "plan",
          "node 'conv1' (Conv): weight expects 2 input channels, input has 3")
    write("err_opset_18.onnx", conv_relu(opset=18), "unsupported", "load",
          "opset 18 is newer than the newest supported (17)")
    relu = helper.make_node("Relu", ["x"], ["y"], name="relu1")
    write("err_relu_opset_5.onnx", model([relu], [tensor("x", [1, 4])], [tensor("y", None)], opset=5),
          "unsupported", "load", "node 'relu1' (Relu): Relu-1 (opset 5) is not supported")

    a = helper.make_node("Relu", ["b_out"], ["a_out"], name="relu_a")
    b = helper.make_node("Relu", ["a_out"], ["b_out"], name="relu_b")
    write("err_cycle.onnx", model([a, b], [tensor("x", [1, 4])], [tensor("a_out", None)]),
          "invalid", "load", "the graph has a cycle")
    a = helper.make_node("Relu", ["x"], ["y"], name="relu_a")
    b = helper.make_node("Relu", ["x"], ["y"], name="relu_b")
    write("err_duplicate_output.onnx", model([a, b], [tensor("x", [1, 4])], [tensor("y", None)]),
          "invalid", "load", "node 'relu_b' (Relu): output 'y' is already defined elsewhere")
    relu = helper.make_node("Relu", ["x"], ["y"], name="relu1")
    write("err_output_never_computed.onnx",
          model([relu], [tensor("x", [1, 4])], [tensor("nowhere", None)]),
          "invalid", "load", "graph output 'nowhere' is never computed")
    custom = helper.make_node("Relu", ["x"], ["y"], name="relu1", domain="com.microsoft")
    write("err_foreign_domain.onnx", model([custom], [tensor("x", [1, 4])], [tensor("y", None)]),
          "unsupported", "load", "node 'relu1' (Relu): ops of domain 'com.microsoft' are not supported")
    conv = helper.make_node("Conv", ["x", ""], ["y"], name="conv1")
    write("err_required_input_empty.onnx",
          model([conv], [tensor("x", [1, 3, 8, 8])], [tensor("y", None)]),
          "invalid", "load", "node 'conv1' (Conv): required input #1 is empty")
    pad = helper.make_node("Pad", ["x", "pads"], ["y"], name="pad1", mode="reflect")
    pads = numpy_helper.from_array(np.array([0, 0, 1, 1, 0, 0, 1, 1], np.int64), "pads")
    write("err_pad_wrap.onnx",
          model([helper.make_node("Pad", ["x", "pads"], ["y"], name="pad1", mode="wrap")],
                [tensor("x", [1, 3, 4, 4])], [tensor("y", None)], [pads]),
          "unsupported", "load", "node 'pad1' (Pad): mode 'wrap' is not supported (constant, reflect, edge)")
    bn = helper.make_node("BatchNormalization", ["x", "s", "b", "m", "v"], ["y"], name="bn1",
                          training_mode=1)
    params = [weights(n, [3], i) for i, n in enumerate("sbmv")]
    write("err_batchnorm_training.onnx",
          model([bn], [tensor("x", [2, 3, 4, 4])], [tensor("y", None)], params, opset=15),
          "unsupported", "load", "node 'bn1' (BatchNormalization): training_mode=1 is not supported")
    pool = helper.make_node("MaxPool", ["x"], ["y", "idx"], name="pool1", kernel_shape=[2, 2])
    write("err_maxpool_indices.onnx",
          model([pool], [tensor("x", [1, 3, 4, 4])], [tensor("y", None), tensor("idx", None)]),
          "unsupported", "load", "node 'pool1' (MaxPool): output #1 ('idx') is not supported")

    # Planner errors: shapes and constants.
    # Shape computations on values only known when the model runs are refused by node.
    cast = helper.make_node("Cast", ["x"], ["xi"], name="cast1", to=TensorProto.INT64)
    reshape = helper.make_node("Reshape", ["x", "xi"], ["y"], name="reshape1")
    write("err_data_dependent_shape.onnx",
          model([cast, reshape], [tensor("x", [2])], [tensor("y", None)]),
          "unsupported", "plan", "node 'cast1' (Cast): input 'x' is only known when the model runs")
    gather = helper.make_node("Gather", ["x", "i"], ["y"], name="gather1", axis=1)
    write("err_gather_runtime.onnx",
          model([gather], [tensor("x", [2, 3])], [tensor("y", None)], [ints("i", [0])]),
          "unsupported", "plan", "node 'gather1' (Gather): input 'x' is only known when the model runs")
    fill = helper.make_node("ConstantOfShape", ["dims"], ["zeros"], name="fill1")
    add = helper.make_node("Add", ["x", "zeros"], ["y"], name="add1")
    write("err_folded_too_large.onnx",
          model([fill, add], [tensor("x", [1])], [tensor("y", None)], [ints("dims", [1 << 20, 64])]),
          "unsupported", "plan",
          "node 'fill1' (ConstantOfShape): the computed tensor would have more than 33554432 elements")
    index = helper.make_node("Gather", ["c", "i"], ["g"], name="gather2", axis=0)
    add = helper.make_node("Add", ["x", "g"], ["y"], name="add1")
    write("err_gather_index_range.onnx",
          model([index, add], [tensor("x", [2])], [tensor("y", None)],
                [numpy_helper.from_array(np.zeros((3, 2), np.float32), "c"), ints("i", [3])]),
          "invalid", "plan", "node 'gather2' (Gather): index 3 is out of range [-3, 3)")
    relu = helper.make_node("Relu", ["x"], ["y"], name="relu1")
    write("err_declared_output_shape.onnx",
          model([relu], [tensor("x", [1, 4])], [tensor("y", [1, 5])]),
          "invalid", "plan", "node 'relu1' (Relu): output 'y' has shape [1, 4], but the model declares")
    write("err_symbolic_spatial.onnx",
          model([relu], [tensor("x", ["N", 3, "H", "W"])], [tensor("y", None)]),
          "unsupported", "plan", "graph input 'x' has a symbolic dimension on axis 2")
    write("err_uint8_input.onnx",
          model([relu], [tensor("x", [1, 4], TensorProto.UINT8)], [tensor("y", None)]),
          "unsupported", "plan", "graph input 'x' has element type 2")
    reshape = helper.make_node("Reshape", ["x", "shape"], ["y"], name="reshape1")
    write("err_reshape_shape_not_constant.onnx",
          model([reshape], [tensor("x", [2, 3]), tensor("shape", [2], TensorProto.INT64)],
                [tensor("y", None)]),
          "unsupported", "plan", "graph input 'shape' feeds a shape/pads/bounds input")
    shape = numpy_helper.from_array(np.array([4], np.int64), "shape")
    write("err_reshape_count.onnx", model([reshape], [tensor("x", [2, 3])], [tensor("y", None)], [shape]),
          "invalid", "plan", "node 'reshape1' (Reshape): cannot reshape 6 elements into 4")
    pool = helper.make_node("MaxPool", ["x"], ["y"], name="pool1", kernel_shape=[5, 5])
    write("err_pool_window_too_large.onnx",
          model([pool], [tensor("x", [1, 1, 3, 3])], [tensor("y", None)]),
          "invalid", "plan", "node 'pool1' (MaxPool): the window (5) is larger than the padded input (3)")
    gemm = helper.make_node("Gemm", ["x", "W"], ["y"], name="fc1", transB=1)
    write("err_gemm_inner.onnx",
          model([gemm], [tensor("x", [2, 6])], [tensor("y", None)], [weights("W", [4, 5])]),
          "invalid", "plan", "node 'fc1' (Gemm): inner dimensions differ (6 vs 5)")
    add = helper.make_node("Add", ["x", "b"], ["y"], name="add1")
    write("err_broadcast.onnx",
          model([add], [tensor("x", [2, 3])], [tensor("y", None)], [weights("b", [4])]),
          "invalid", "plan", "node 'add1' (Add): shapes [2, 3] and [4] do not broadcast")
    slice_ = helper.make_node("Slice", ["x", "s", "e"], ["y"], name="slice1")
    bounds = [numpy_helper.from_array(np.array([3], np.int64), "s"),
              numpy_helper.from_array(np.array([1], np.int64), "e")]
    write("err_slice_empty.onnx",
          model([slice_], [tensor("x", [4, 2])], [tensor("y", None)], bounds),
          "unsupported", "plan", "node 'slice1' (Slice): the output would be empty")

    # Valid corner cases.
    conv = helper.make_node("Conv", ["x", "W"], ["c"], name="conv1", pads=[1, 1, 1, 1])
    relu = helper.make_node("Relu", ["c"], ["y"], name="relu1")
    write("ok_unsorted_nodes.onnx",
          model([relu, conv], [tensor("x", [1, 3, 4, 4])], [tensor("y", None)], [weights("W", [2, 3, 3, 3])]),
          "ok", "plan", "")
    graph = helper.make_graph([conv, relu], "ir3", [tensor("x", [1, 3, 4, 4]), tensor("W", [2, 3, 3, 3])],
                              [tensor("y", None)], [weights("W", [2, 3, 3, 3])])
    old = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 7)])
    old.ir_version = 3
    write("ok_ir3_initializer_inputs.onnx", old.SerializeToString(), "ok", "plan", "")
    write("ok_dynamic_batch.onnx",
          model([relu, conv], [tensor("x", ["batch", 3, 4, 4])], [tensor("y", ["batch", 2, 4, 4])],
                [weights("W", [2, 3, 3, 3])]),
          "ok", "plan", "")

    semantics()
    host_evaluated()
    cnn_ops()
    split_cases()
    batch_cases()

    with open(os.path.join(HERE, "expected.tsv"), "w") as f:
        f.write("# file\tresult\tstage\tmessage substring (written by make_corpus.py)\n")
        f.write("\n".join(EXPECTED) + "\n")
    print(f"wrote {len(EXPECTED)} corpus files and expected.tsv")


if __name__ == "__main__":
    main()
