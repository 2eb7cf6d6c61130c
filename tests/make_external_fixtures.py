#!/usr/bin/python3
"""Writes tests/fixtures/external/: one small conv model saved three ways by onnx's own
writer, and broken variants of the external one, for sdinfer's external data support.

  inline.onnx                 (a) every tensor inside the model
  one_file.onnx + .data       (b) every initializer in one file
  per_tensor/model.onnx + ... (c) one file per initializer, named after the tensor
  constant_too.onnx + .data   (b) with the Constant node's value in the file too
                              (convert_attribute=True; onnxruntime 1.30 refuses this one:
                              its shape inference cannot read an external Constant)
  input.pb                    an input for all of them
  ok_*.onnx                   accepted variants of (b): no offset/length entries, and the
                              optional checksum / onnxruntime "prepacked" keys
  bad_*.onnx                  refused variants of (b), each with one entry broken (the
                              Constant's in constant_too.onnx)
  expected.tsv                file <TAB> ok|invalid|unsupported <TAB> exact message (bad_*)

The model: Conv-Relu-Conv-Add(residual)-Relu-GlobalAveragePool-Reshape (its shape a
Constant node)-Gemm, FLOAT and INT64 tensors. Run from the repository root:
  /usr/bin/python3 tests/make_external_fixtures.py   (needs python3-onnx, python3-numpy)
"""
import os
import shutil

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

DIR = "tests/fixtures/external"  # messages name the files by this path (tests run from the root)
DATA = "one_file.data"


def build_model():
    rng = np.random.default_rng(12)
    w = lambda name, *shape: numpy_helper.from_array(
        rng.standard_normal(shape).astype(np.float32), name)
    initializers = [w("conv1.weight", 4, 3, 3, 3), w("conv1.bias", 4), w("conv2.weight", 4, 4, 3, 3),
                    w("conv2.bias", 4), w("fc.weight", 5, 4), w("fc.bias", 5)]
    shape = numpy_helper.from_array(np.array([1, 4], np.int64), "flat_shape")
    nodes = [
        helper.make_node("Conv", ["x", "conv1.weight", "conv1.bias"], ["c1"], name="conv1",
                         pads=[1, 1, 1, 1]),
        helper.make_node("Relu", ["c1"], ["r1"], name="relu1"),
        helper.make_node("Conv", ["r1", "conv2.weight", "conv2.bias"], ["c2"], name="conv2",
                         pads=[1, 1, 1, 1]),
        helper.make_node("Add", ["c2", "r1"], ["a"], name="add"),
        helper.make_node("Relu", ["a"], ["r2"], name="relu2"),
        helper.make_node("GlobalAveragePool", ["r2"], ["g"], name="pool"),
        helper.make_node("Constant", [], ["s"], name="shape", value=shape),
        helper.make_node("Reshape", ["g", "s"], ["f"], name="flatten"),
        helper.make_node("Gemm", ["f", "fc.weight", "fc.bias"], ["y"], name="fc", transB=1),
    ]
    graph = helper.make_graph(nodes, "external", [helper.make_tensor_value_info(
        "x", TensorProto.FLOAT, [1, 3, 6, 6])], [helper.make_tensor_value_info(
            "y", TensorProto.FLOAT, [1, 5])], initializers)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    return model, rng.standard_normal((1, 3, 6, 6)).astype(np.float32)


def save(model, path, **external):
    copy = onnx.ModelProto()
    copy.CopyFrom(model)  # save_model converts the tensors it externalises in place
    onnx.save_model(copy, path, **external)


def set_entry(tensor, key, value):
    for entry in tensor.external_data:
        if entry.key == key:
            entry.value = value
            return
    tensor.external_data.add(key=key, value=value)


def drop_entry(tensor, key):
    kept = [(e.key, e.value) for e in tensor.external_data if e.key != key]
    del tensor.external_data[:]
    for k, v in kept:
        tensor.external_data.add(key=k, value=v)


def variant(name, edit, tensor_name="conv2.weight", base="one_file.onnx"):
    """base with edit(tensor) applied to one tensor, saved as NAME.onnx."""
    model = onnx.load(os.path.join(DIR, base), load_external_data=False)
    tensors = {t.name: t for t in model.graph.initializer}
    tensors["flat_shape"] = model.graph.node[6].attribute[0].t
    edit(tensors[tensor_name])
    with open(os.path.join(DIR, name + ".onnx"), "wb") as f:
        f.write(model.SerializeToString())


def main():
    model, x = build_model()
    shutil.rmtree(DIR, ignore_errors=True)
    os.makedirs(os.path.join(DIR, "per_tensor"))
    save(model, os.path.join(DIR, "inline.onnx"))
    everything = dict(save_as_external_data=True, size_threshold=0)
    save(model, os.path.join(DIR, "one_file.onnx"), all_tensors_to_one_file=True,
         location=DATA, **everything)
    save(model, os.path.join(DIR, "per_tensor", "model.onnx"), all_tensors_to_one_file=False,
         **everything)
    save(model, os.path.join(DIR, "constant_too.onnx"), all_tensors_to_one_file=True,
         location="constant_too.data", convert_attribute=True, **everything)
    onnx.save_tensor(numpy_helper.from_array(x), os.path.join(DIR, "input.pb"))

    first = onnx.load(os.path.join(DIR, "one_file.onnx"), load_external_data=False)
    at = {e.key: e.value for e in first.graph.initializer[0].external_data}
    assert at["offset"] == "0", at  # conv1.weight comes first: "no offset" reads the same bytes
    variant("ok_no_offset_length", lambda t: (drop_entry(t, "offset"), drop_entry(t, "length")),
            "conv1.weight")
    variant("ok_checksum_prepacked", lambda t: (set_entry(t, "checksum", "0" * 40),
                                                set_entry(t, "prepacked_1", "x|0;16;0")))

    data_size = os.path.getsize(os.path.join(DIR, DATA))
    w2 = "initializer 'conv2.weight': "
    cases = [  # name, edit of conv2.weight (576 bytes), result, message after the tensor
        ("bad_no_location", lambda t: drop_entry(t, "location"), "invalid",
         w2 + "external data has no 'location'"),
        ("bad_empty_location", lambda t: set_entry(t, "location", ""), "invalid",
         w2 + "external data 'location' is empty"),
        ("bad_absolute_location", lambda t: set_entry(t, "location", "/" + DATA), "invalid",
         w2 + "external data location '/one_file.data' is an absolute path (it must be "
         "relative to the model's directory)"),
        ("bad_dotdot_location", lambda t: set_entry(t, "location", "../external/" + DATA),
         "invalid", w2 + "external data location '../external/one_file.data' leaves the "
         "model's directory (a '..' component)"),
        ("bad_inner_dotdot", lambda t: set_entry(t, "location", "per_tensor/../" + DATA),
         "invalid", w2 + "external data location 'per_tensor/../one_file.data' leaves the "
         "model's directory (a '..' component)"),
        ("bad_missing_file", lambda t: set_entry(t, "location", "no_such.data"), "invalid",
         w2 + f"external data file {DIR}/no_such.data: cannot open: No such file or directory"),
        ("bad_directory", lambda t: set_entry(t, "location", "per_tensor"), "invalid",
         w2 + f"external data file {DIR}/per_tensor: not a regular file"),
        ("bad_offset_text", lambda t: set_entry(t, "offset", "12a"), "invalid",
         w2 + "external data offset '12a' is not a decimal number of bytes below 2^63"),
        ("bad_offset_negative", lambda t: set_entry(t, "offset", "-4"), "invalid",
         w2 + "external data offset '-4' is not a decimal number of bytes below 2^63"),
        ("bad_offset_overflow", lambda t: set_entry(t, "offset", str(1 << 63)), "invalid",
         w2 + "external data offset '9223372036854775808' is not a decimal number of bytes "
         "below 2^63"),
        ("bad_length_empty", lambda t: set_entry(t, "length", ""), "invalid",
         w2 + "external data length '' is not a decimal number of bytes below 2^63"),
        ("bad_length_mismatch", lambda t: set_entry(t, "length", "572"), "invalid",
         w2 + "external data length 572 differs from the 576 bytes its dims and type need"),
        ("bad_past_end", lambda t: set_entry(t, "offset", str(data_size - 8)), "invalid",
         w2 + f"external data file {DIR}/{DATA}: has {data_size} bytes, fewer than offset "
         f"{data_size - 8} + length 576"),
        ("bad_unknown_key", lambda t: set_entry(t, "compression", "zlib"), "unsupported",
         w2 + "unknown external data key 'compression' (known: location, offset, length, "
         "checksum)"),
        ("bad_duplicate_key", lambda t: t.external_data.add(key="offset", value="0"), "invalid",
         w2 + "external data key 'offset' appears twice"),
        ("bad_raw_and_external", lambda t: setattr(t, "raw_data", b"\0" * 576), "invalid",
         w2 + "has external data and data inside the model (raw_data)"),
        ("bad_not_external", lambda t: setattr(t, "data_location", TensorProto.DEFAULT),
         "invalid", w2 + "has external_data entries, but its data_location is not EXTERNAL"),
        ("bad_entry_without_value", lambda t: t.external_data.add(key="checksum"), "invalid",
         w2 + "external data entry #3 has no value"),
        ("bad_string_type", lambda t: setattr(t, "data_type", TensorProto.STRING),
         "unsupported", w2 + "external data of element type 8 is not supported"),
        ("bad_huge_dims", lambda t: (t.ClearField("dims"), t.dims.extend([1 << 31])), "invalid",
         w2 + "invalid or too large dims [2147483648]"),
    ]
    rows = []
    for name, edit, result, message in cases:
        variant(name, edit)
        rows.append(f"{name}.onnx\t{result}\t{DIR}/{name}.onnx: {message}")
    variant("bad_constant_missing_file", lambda t: set_entry(t, "location", "gone.data"),
            "flat_shape", "constant_too.onnx")
    rows.append(f"bad_constant_missing_file.onnx\tinvalid\t{DIR}/bad_constant_missing_file.onnx: "
                f"node 'shape' (Constant) attribute 'value': external data file {DIR}/gone.data: "
                "cannot open: No such file or directory")
    with open(os.path.join(DIR, "expected.tsv"), "w") as f:
        f.write("# file\tresult\texact message (written by tests/make_external_fixtures.py)\n")
        f.write("\n".join(rows) + "\n")


if __name__ == "__main__":
    main()
