#!/usr/bin/python3
"""Builds the CIFAR ResNet fixtures written the common PyTorch way (tests/fixtures/).

The network: a CIFAR 6N+2 ResNet with N = 1 and tiny widths (4, 8, 16 channels),
whose stride-2 blocks use the option-A shortcut as most PyTorch CIFAR code writes
it:  F.pad(x[:, :, ::2, ::2], (0, 0, 0, 0, planes // 4, planes // 4)).
torch.onnx exports that F.pad as a chain of shape computations (Shape, Gather,
ConstantOfShape, Concat, Reshape, Slice, Transpose, Cast, ...) that sdinfer
evaluates on the host at plan time. BatchNorm statistics and affine parameters
are random, so folding them is tested too.

Writes (small, committed so `make test` needs no PyTorch):
  cifar_pad_resnet_op13.onnx, cifar_pad_resnet_op17.onnx
                        3x32x32 input, dynamic batch, BN folded as torch exports
                        by default (eval mode)
  cifar_pad_input.pb    a batch of 3 inputs (TensorProto)
  cifar_pad_logits.pb   PyTorch's logits for that batch (TensorProto)

Run with Debian's python3-torch and python3-onnx:  /usr/bin/python3 tests/make_cifar_pad_fixture.py
"""
import io
import os

import numpy as np
import onnx
import torch
import torch.nn as nn
import torch.nn.functional as F
from onnx import numpy_helper

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "fixtures")


class LambdaLayer(nn.Module):
    def __init__(self, fn):
        super().__init__()
        self.fn = fn

    def forward(self, x):
        return self.fn(x)


class BasicBlock(nn.Module):
    def __init__(self, in_planes, planes, stride):
        super().__init__()
        self.conv1 = nn.Conv2d(in_planes, planes, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.shortcut = nn.Sequential()
        if stride != 1 or in_planes != planes:
            self.shortcut = LambdaLayer(lambda x: F.pad(
                x[:, :, ::2, ::2], (0, 0, 0, 0, planes // 4, planes // 4), "constant", 0))

    def forward(self, x):
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return F.relu(out + self.shortcut(x))


class CifarResNet(nn.Module):
    def __init__(self, widths=(4, 8, 16), classes=10):
        super().__init__()
        self.conv1 = nn.Conv2d(3, widths[0], 3, 1, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(widths[0])
        self.layer1 = BasicBlock(widths[0], widths[0], 1)
        self.layer2 = BasicBlock(widths[0], widths[1], 2)
        self.layer3 = BasicBlock(widths[1], widths[2], 2)
        self.linear = nn.Linear(widths[2], classes)

    def forward(self, x):
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.layer3(self.layer2(self.layer1(out)))
        out = F.avg_pool2d(out, int(out.size()[3]))
        out = out.view(out.size(0), -1)
        return self.linear(out)


def randomise_batchnorm(model, gen):
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            c = m.num_features
            m.weight.data = torch.rand(c, generator=gen) + 0.5
            m.bias.data = torch.randn(c, generator=gen) * 0.2
            m.running_mean = torch.randn(c, generator=gen) * 0.2
            m.running_var = torch.rand(c, generator=gen) + 0.5


def export(model, example, opset):
    buffer = io.BytesIO()
    torch.onnx.export(model, example, buffer, opset_version=opset, input_names=["input"],
                      output_names=["logits"],
                      dynamic_axes={"input": {0: "N"}, "logits": {0: "N"}})
    return onnx.load_from_string(buffer.getvalue())


def main():
    gen = torch.Generator().manual_seed(12)
    torch.manual_seed(12)
    model = CifarResNet()
    randomise_batchnorm(model, gen)
    model.eval()
    x = torch.randn(3, 3, 32, 32, generator=gen)
    with torch.no_grad():
        logits = model(x)
    os.makedirs(OUT, exist_ok=True)
    for opset in (13, 17):
        proto = export(model, x[:1], opset)
        onnx.checker.check_model(proto, full_check=True)
        onnx.save(proto, os.path.join(OUT, "cifar_pad_resnet_op%d.onnx" % opset))
    onnx.save_tensor(numpy_helper.from_array(x.numpy(), "input"),
                     os.path.join(OUT, "cifar_pad_input.pb"))
    onnx.save_tensor(numpy_helper.from_array(logits.numpy(), "logits"),
                     os.path.join(OUT, "cifar_pad_logits.pb"))
    print("logits", logits.numpy())


if __name__ == "__main__":
    main()
