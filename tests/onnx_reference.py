#!/usr/bin/python3
"""A float64 evaluation of an ONNX graph in numpy: the reference that
tests/t_network_accuracy.sh measures sdinfer and onnxruntime against.

Written from the ONNX operator definitions (onnx/docs/Operators.md), not from
sdinfer's or sdtrain's code: every initializer is widened from float32 to float64
exactly and every op is computed in float64, so the result is the exact network
on the stored weights up to float64 rounding (about 1e-16 relative per op).
python3-onnx 1.12 (Debian 12) has no onnx.reference evaluator, hence this one.

Only the ops sdexport writes are implemented, with the attribute values it
writes; anything else (another op, a Conv group, auto_pad, ceil_mode, a Pad
mode other than constant, training-mode BatchNormalization) raises
Unsupported naming the node, so a future export cannot be evaluated wrongly
in silence:
  Conv (2-D, group 1, any pads/strides/dilations), BatchNormalization
  (inference), Relu, Add, Sub, Mul, Div (numpy broadcasting), AveragePool
  (2-D, pads, count_include_pad), GlobalAveragePool, Pad (opset 2 attributes
  and opset 11+ inputs, constant mode, negative pads crop), Flatten, Reshape,
  Identity, Gemm.
"""
import numpy as np
import onnx
from onnx import numpy_helper


class Unsupported(Exception):
    pass


def attributes(node):
    return {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}


def require(node, condition, what):
    if not condition:
        raise Unsupported(f"node '{node.name}' ({node.op_type}): {what}")


def conv2d(node, attrs, x, w, b=None):
    """Y[n,m,i,j] = B[m] + sum_{c,u,v} X_padded[n,c,i*s+u*d, j*s+v*d] W[m,c,u,v]."""
    require(node, x.ndim == 4 and w.ndim == 4, "only 2-D convolutions")
    require(node, attrs.get("group", 1) == 1, "group != 1")
    auto_pad = attrs.get("auto_pad", b"NOTSET")
    require(node, auto_pad in (b"NOTSET", "NOTSET"), f"auto_pad {auto_pad}")
    n, c, h, wd = x.shape
    m, wc, kh, kw = w.shape
    require(node, wc == c, f"weight has {wc} input channels, input {c}")
    require(node, list(attrs.get("kernel_shape", [kh, kw])) == [kh, kw], "kernel_shape != W")
    sh, sw = attrs.get("strides", [1, 1])
    dh, dw = attrs.get("dilations", [1, 1])
    top, left, bottom, right = attrs.get("pads", [0, 0, 0, 0])
    xp = np.pad(x, ((0, 0), (0, 0), (top, bottom), (left, right)))
    oh = (h + top + bottom - ((kh - 1) * dh + 1)) // sh + 1
    ow = (wd + left + right - ((kw - 1) * dw + 1)) // sw + 1
    require(node, oh > 0 and ow > 0, "empty output")
    # im2col: cols[c, u, v, n, i, j] = X_padded[n, c, i*sh + u*dh, j*sw + v*dw]
    cols = np.empty((c, kh, kw, n, oh, ow))
    for u in range(kh):
        for v in range(kw):
            window = xp[:, :, u * dh:u * dh + sh * (oh - 1) + 1:sh,
                        v * dw:v * dw + sw * (ow - 1) + 1:sw]
            cols[:, u, v] = window.transpose(1, 0, 2, 3)
    y = (w.reshape(m, c * kh * kw) @ cols.reshape(c * kh * kw, n * oh * ow))
    y = y.reshape(m, n, oh, ow).transpose(1, 0, 2, 3)
    if b is not None:
        y = y + b.reshape(1, m, 1, 1)
    return np.ascontiguousarray(y)


def batch_norm(node, attrs, x, scale, bias, mean, var):
    """Y = (X - mean) / sqrt(var + epsilon) * scale + B, per channel (axis 1)."""
    require(node, attrs.get("training_mode", 0) == 0, "training_mode")
    require(node, attrs.get("spatial", 1) == 1, "spatial = 0")
    eps = attrs.get("epsilon", 1e-5)
    shape = (1, -1) + (1,) * (x.ndim - 2)
    return ((x - mean.reshape(shape)) / np.sqrt(var.reshape(shape) + eps) * scale.reshape(shape)
            + bias.reshape(shape))


def average_pool(node, attrs, x):
    """Mean over each window; count_include_pad=0 divides by the window's cells inside X."""
    require(node, x.ndim == 4, "only 2-D pooling")
    auto_pad = attrs.get("auto_pad", b"NOTSET")
    require(node, auto_pad in (b"NOTSET", "NOTSET"), f"auto_pad {auto_pad}")
    require(node, attrs.get("ceil_mode", 0) == 0, "ceil_mode")
    kh, kw = attrs["kernel_shape"]
    sh, sw = attrs.get("strides", [1, 1])
    top, left, bottom, right = attrs.get("pads", [0, 0, 0, 0])
    widths = ((0, 0), (0, 0), (top, bottom), (left, right))
    xp = np.pad(x, widths)
    inside = np.pad(np.ones(x.shape[2:]), widths[2:])
    if attrs.get("count_include_pad", 0):
        inside = np.ones_like(inside)
    oh = (x.shape[2] + top + bottom - kh) // sh + 1
    ow = (x.shape[3] + left + right - kw) // sw + 1
    total = np.zeros(x.shape[:2] + (oh, ow))
    count = np.zeros((oh, ow))
    for u in range(kh):
        for v in range(kw):
            total += xp[:, :, u:u + sh * (oh - 1) + 1:sh, v:v + sw * (ow - 1) + 1:sw]
            count += inside[u:u + sh * (oh - 1) + 1:sh, v:v + sw * (ow - 1) + 1:sw]
    return total / count


def pad(node, attrs, x, pads=None, value=None):
    """Constant padding: pads = [begin of each axis..., end of each axis...]; negative crops."""
    mode = attrs.get("mode", b"constant")
    require(node, mode in (b"constant", "constant"), f"mode {mode}")
    if pads is None:  # opset 2: attributes
        pads, value = attrs["pads"], attrs.get("value", 0.0)
    pads = [int(p) for p in np.asarray(pads).reshape(-1)]
    value = np.asarray(0.0 if value is None else value, dtype=np.float64).reshape(-1)
    value = float(value[0]) if value.size else 0.0
    rank = x.ndim
    require(node, len(pads) == 2 * rank, f"{len(pads)} pads for rank {rank}")
    crop = tuple(slice(max(0, -pads[i]), x.shape[i] - max(0, -pads[rank + i])) for i in range(rank))
    grow = [(max(0, pads[i]), max(0, pads[rank + i])) for i in range(rank)]
    return np.pad(x[crop], grow, mode="constant", constant_values=value)


def flatten(node, attrs, x):
    axis = attrs.get("axis", 1)
    axis = axis + x.ndim if axis < 0 else axis
    return x.reshape(int(np.prod(x.shape[:axis])), int(np.prod(x.shape[axis:])))


def reshape(node, attrs, x, shape):
    require(node, attrs.get("allowzero", 0) == 0, "allowzero")
    target = [int(d) for d in shape]
    target = [x.shape[i] if d == 0 else d for i, d in enumerate(target)]
    return x.reshape(target)


def gemm(node, attrs, a, b, c=None):
    """Y = alpha * A' B' + beta * C, A' = A^T if transA, B' = B^T if transB."""
    a = a.T if attrs.get("transA", 0) else a
    b = b.T if attrs.get("transB", 0) else b
    y = attrs.get("alpha", 1.0) * (a @ b)
    return y if c is None else y + attrs.get("beta", 1.0) * c


OPS = {
    "Conv": conv2d,
    "BatchNormalization": batch_norm,
    "Relu": lambda node, attrs, x: np.maximum(x, 0.0),
    "Add": lambda node, attrs, a, b: a + b,
    "Sub": lambda node, attrs, a, b: a - b,
    "Mul": lambda node, attrs, a, b: a * b,
    "Div": lambda node, attrs, a, b: a / b,
    "AveragePool": average_pool,
    "GlobalAveragePool": lambda node, attrs, x: x.mean(axis=tuple(range(2, x.ndim)), keepdims=True),
    "Pad": pad,
    "Flatten": flatten,
    "Reshape": reshape,
    "Identity": lambda node, attrs, x: x,
    "Gemm": gemm,
}
# Inputs that stay integers (shapes, pads); everything else is computed in float64.
INTEGER_INPUTS = {("Pad", 1), ("Reshape", 1)}


def evaluate(model, *inputs):
    """Output 0 of the model's graph for its inputs (those that are not initializers, in
    the graph's order), in float64 (integer inputs stay integers)."""
    graph = model.graph
    values = {t.name: numpy_helper.to_array(t) for t in graph.initializer}
    for key, array in values.items():
        if array.dtype == np.float32:
            values[key] = array.astype(np.float64)  # exact: every float32 is a float64
    names = [i.name for i in graph.input if i.name not in values]
    if len(names) != len(inputs):
        raise Unsupported(f"the graph takes {len(names)} inputs besides initializers, "
                          f"given {len(inputs)}")
    for name, array in zip(names, inputs):
        array = np.asarray(array)
        values[name] = array.astype(np.float64) if array.dtype == np.float32 else array
    for node in graph.node:  # ONNX graphs list nodes in topological order
        if node.domain not in ("", "ai.onnx") or node.op_type not in OPS:
            raise Unsupported(f"node '{node.name}': op {node.domain or 'ai.onnx'}.{node.op_type} "
                              "is not implemented by this reference")
        args = []
        for i, name in enumerate(node.input):
            if name == "":
                args.append(None)
                continue
            if name not in values:
                raise Unsupported(f"node '{node.name}': input '{name}' is not defined before it")
            value = values[name]
            if (node.op_type, i) not in INTEGER_INPUTS and value.dtype != np.float64:
                raise Unsupported(f"node '{node.name}': input '{name}' is {value.dtype}, "
                                  "this reference computes float tensors only")
            args.append(value)
        if len(node.output) != 1:
            raise Unsupported(f"node '{node.name}': {len(node.output)} outputs")
        values[node.output[0]] = OPS[node.op_type](node, attributes(node), *args)
    return values[graph.output[0].name]
