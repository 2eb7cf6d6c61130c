#!/usr/bin/python3
"""Builds the PyTorch-exported fixtures sdinfer's tests use (tests/fixtures/).

A tiny ResNet: conv-bn-relu stem, 3x3 max pool, three basic blocks (identity
shortcut; stride 2 with a 1x1 projection conv + BN; stride 2 with the option-A
shortcut: strided slicing, then zero channels concatenated on both sides),
global average pool, flatten, linear.

Option A is written as a Concat with zero channels (x[:, :k] * 0) rather than
F.pad: torch 1.13 exports F.pad at opset 13 as a chain of int64 shape ops
(ConstantOfShape, Transpose, Cast, ...) computing the pads vector, which
sdinfer does not evaluate (see infer/README.md). BatchNorm statistics and affine parameters are random so
folding them is actually tested.

Writes (all small; committed so the tests need no PyTorch):
  tiny_resnet.onnx         3x16x16 input, opset 13, dynamic batch, BN kept as nodes
                           (training=PRESERVE export of an eval-mode model)
  tiny_resnet_fused.onnx   the same network as torch exports it by default (BN fused)
  tiny_resnet_input.pb     a batch of 4 inputs (TensorProto)
  tiny_resnet_logits.pb    PyTorch's logits for that batch (TensorProto)
  fmnist_resnet.onnx       1x28x28 input, 10 classes, with sdexport-style metadata
                           (dataset, classes, norm_mean, norm_std, with_preprocessing=0)

Run with Debian's python3-torch and python3-onnx:  /usr/bin/python3 tools/make_torch_fixture.py
"""
import io
import os
import sys

import numpy as np
import onnx
import torch
import torch.nn as nn
import torch.nn.functional as F
from onnx import numpy_helper

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "fixtures")


class BasicBlock(nn.Module):
    def __init__(self, cin, cout, stride, shortcut):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.shortcut = shortcut
        self.extra = cout - cin
        if shortcut == "projection":
            self.proj = nn.Conv2d(cin, cout, 1, stride, bias=False)
            self.proj_bn = nn.BatchNorm2d(cout)

    def forward(self, x):
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        if self.shortcut == "projection":
            short = self.proj_bn(self.proj(x))
        elif self.shortcut == "option_a":
            # He et al.'s option A: subsample by 2, zero-pad the new channels.
            short = x[:, :, ::2, ::2]
            low, high = self.extra // 2, self.extra - self.extra // 2
            short = torch.cat([short[:, :low] * 0, short, short[:, :high] * 0], dim=1)
        else:
            short = x
        return F.relu(out + short)


class TinyResNet(nn.Module):
    def __init__(self, in_channels, classes):
        super().__init__()
        self.stem = nn.Conv2d(in_channels, 8, 3, 1, 1, bias=False)
        self.stem_bn = nn.BatchNorm2d(8)
        self.pool = nn.MaxPool2d(3, 2, 1)
        self.block1 = BasicBlock(8, 8, 1, "identity")
        self.block2 = BasicBlock(8, 16, 2, "projection")
        self.block3 = BasicBlock(16, 32, 2, "option_a")
        self.gap = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(32, classes)

    def forward(self, x):
        x = self.pool(F.relu(self.stem_bn(self.stem(x))))
        x = self.block3(self.block2(self.block1(x)))
        return self.fc(torch.flatten(self.gap(x), 1))


def randomize_batchnorm(model, generator):
    for module in model.modules():
        if isinstance(module, nn.BatchNorm2d):
            n = module.num_features
            module.weight.data = torch.rand(n, generator=generator) + 0.5
            module.bias.data = 0.1 * torch.randn(n, generator=generator)
            module.running_mean = 0.1 * torch.randn(n, generator=generator)
            module.running_var = torch.rand(n, generator=generator) + 0.5


def export(model, example, path, keep_batchnorm):
    buffer = io.BytesIO()
    kwargs = {}
    if keep_batchnorm:
        # PRESERVE exports the eval-mode model without torch's conv-bn fusion.
        kwargs = {"training": torch.onnx.TrainingMode.PRESERVE, "do_constant_folding": False}
    torch.onnx.export(model, example, buffer, opset_version=13, input_names=["input"],
                      output_names=["logits"],
                      dynamic_axes={"input": {0: "batch"}, "logits": {0: "batch"}}, **kwargs)
    proto = onnx.load_from_string(buffer.getvalue())
    onnx.checker.check_model(proto)
    return proto


def save_model(proto, name):
    path = os.path.join(OUT, name)
    onnx.save(proto, path)
    ops = sorted({node.op_type for node in proto.graph.node})
    print(f"wrote {path} ({os.path.getsize(path)} bytes; ops {', '.join(ops)})")


def save_tensor(array, name):
    path = os.path.join(OUT, name)
    with open(path, "wb") as f:
        f.write(numpy_helper.from_array(np.ascontiguousarray(array, dtype=np.float32)).SerializeToString())
    print(f"wrote {path} {array.shape}")


def main():
    os.makedirs(OUT, exist_ok=True)
    generator = torch.Generator().manual_seed(20161)
    torch.manual_seed(20161)

    model = TinyResNet(3, 10)
    randomize_batchnorm(model, generator)
    model.eval()
    batch = torch.randn(4, 3, 16, 16, generator=generator)
    with torch.no_grad():
        logits = model(batch)
    save_model(export(model, batch, None, keep_batchnorm=True), "tiny_resnet.onnx")
    save_model(export(model, batch, None, keep_batchnorm=False), "tiny_resnet_fused.onnx")
    save_tensor(batch.numpy(), "tiny_resnet_input.pb")
    save_tensor(logits.numpy(), "tiny_resnet_logits.pb")

    fmnist = TinyResNet(1, 10)
    randomize_batchnorm(fmnist, generator)
    fmnist.eval()
    proto = export(fmnist, torch.randn(2, 1, 28, 28, generator=generator), None, keep_batchnorm=True)
    metadata = {"producer": "sdexport", "dataset": "fashion-mnist", "classes": "10",
                "norm_mean": "0.2860", "norm_std": "0.3530", "with_preprocessing": "0"}
    for key, value in metadata.items():
        entry = proto.metadata_props.add()
        entry.key, entry.value = key, value
    save_model(proto, "fmnist_resnet.onnx")
    return 0


if __name__ == "__main__":
    sys.exit(main())
