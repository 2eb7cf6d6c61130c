#!/usr/bin/python3
"""Checks bench/flops.c against a second, independent count: PyTorch's own operator
calls. A TorchDispatchMode sees every aten operator that a forward pass and a training
step (loss.backward()) really run, and counts the multiply-adds of the products among
them from their tensors' shapes:
  convolution           output elements * in_c/groups * k_h * k_w
  convolution_backward  the same per gradient that its output_mask asks for
  addmm, mm             m * k * n
on bench/torch_train_step.py's CIFAR ResNet (option-A shortcuts, the same gates) and on
a bottleneck ResNet with projection shortcuts written here the way README.md describes
sdtrain's (stride on the 3x3 convolution, a closed block keeps its projection). For each
case the gates are fixed (all open, all closed, a random pattern) and `flops --gates`
must give the same forward and training-step counts; the inference count is the eval
forward. Any other matrix-product operator seen fails the check (it would be uncounted).

usage: flops_check.py [FLOPS_BINARY]   (default build/bench/flops)
Prints one line per check and "flops_check: N passed, M failed"; exit 1 on a failure."""
import os
import random
import subprocess
import sys

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.utils._python_dispatch import TorchDispatchMode

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import torch_train_step  # noqa: E402

aten = torch.ops.aten
PRODUCTS = ("conv", "mm", "matmul", "bmm", "addmm", "linear", "einsum", "baddbmm", "dot")


class MacCounter(TorchDispatchMode):
    def __init__(self):
        super().__init__()
        self.macs = 0
        self.unknown = set()

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        packet = func.overloadpacket
        if packet is aten.convolution:
            w, groups = args[1], args[8]
            self.macs += out.numel() * (w.shape[1] * w.shape[2] * w.shape[3])
            assert groups == 1
        elif packet is aten.convolution_backward:
            dy, w, mask = args[0], args[2], args[10]
            per = dy.numel() * w.shape[1] * w.shape[2] * w.shape[3]
            self.macs += per * (int(mask[0]) + int(mask[1]))
        elif packet is aten.addmm:
            self.macs += args[1].shape[0] * args[1].shape[1] * args[2].shape[1]
        elif packet is aten.mm:
            self.macs += args[0].shape[0] * args[0].shape[1] * args[1].shape[1]
        elif any(p in str(packet) for p in PRODUCTS):
            self.unknown.add(str(packet))
        return out


class Bottleneck(nn.Module):
    """1x1 reduce, 3x3 (with the stride), 1x1 expand (4x); projection shortcut when the
    shape changes; a closed block returns ReLU(projection(x)) or x."""

    def __init__(self, in_c, width, stride):
        super().__init__()
        out_c = 4 * width
        self.convs = nn.ModuleList([nn.Conv2d(in_c, width, 1, bias=False),
                                    nn.Conv2d(width, width, 3, stride, 1, bias=False),
                                    nn.Conv2d(width, out_c, 1, bias=False)])
        self.bns = nn.ModuleList([nn.BatchNorm2d(c) for c in (width, width, out_c)])
        self.projection = None
        if stride != 1 or in_c != out_c:
            self.projection = nn.Sequential(nn.Conv2d(in_c, out_c, 1, stride, bias=False),
                                            nn.BatchNorm2d(out_c))
        self.gate = True

    def forward(self, x):
        s = self.projection(x) if self.projection is not None else x
        if self.training and not self.gate:
            return F.relu(s) if self.projection is not None else s
        h = x
        for i, (conv, bn) in enumerate(zip(self.convs, self.bns)):
            h = bn(conv(h))
            if i < 2:
                h = F.relu(h)
        return F.relu(h + s)


class BottleneckNet(nn.Module):
    """models/resnet152-imagenet.txt: 7x7/2 stem, 3x3/2 max pool, stages 3x64 8x128
    36x256 3x512."""

    def __init__(self, in_c, classes, stages=((3, 64), (8, 128), (36, 256), (3, 512))):
        super().__init__()
        self.conv = nn.Conv2d(in_c, 64, 7, 2, 3, bias=False)
        self.bn = nn.BatchNorm2d(64)
        blocks, c = [], 64
        for s, (n, width) in enumerate(stages):
            for i in range(n):
                blocks.append(Bottleneck(c, width, 2 if s > 0 and i == 0 else 1))
                c = 4 * width
        self.blocks = nn.ModuleList(blocks)
        self.fc = nn.Linear(c, classes)

    def forward(self, x):
        x = F.max_pool2d(F.relu(self.bn(self.conv(x))), 3, 2, 1)
        for b in self.blocks:
            x = b(x)
        return self.fc(torch.flatten(F.adaptive_avg_pool2d(x, 1), 1))


def torch_counts(model, gates, batch, in_shape, classes):
    """Per image: training forward, training step, inference forward MACs."""
    for b, g in zip(model.blocks, gates):
        b.gate = g == "1"
    x = torch.randn(batch, *in_shape)
    y = torch.randint(0, classes, (batch,))
    model.train()
    with MacCounter() as counter:
        loss = F.cross_entropy(model(x), y)
        forward = counter.macs
        loss.backward()
        step = counter.macs
    model.eval()
    with torch.no_grad(), MacCounter() as infer:
        model(x)
    unknown = counter.unknown | infer.unknown
    return forward / batch, step / batch, infer.macs / batch, unknown


def our_counts(flops_bin, preset, gates, in_shape, classes):
    out = subprocess.run([flops_bin, "--model", preset, "--input", "x".join(map(str, in_shape)),
                          "--classes", str(classes), "--gates", gates],
                         capture_output=True, text=True, check=True).stdout
    values = dict(line.split(": ", 1) for line in out.splitlines() if line.count(": ") == 1)
    return (float(values["train_forward_macs"]), float(values["train_step_macs"]),
            float(values["inference_forward_macs"]))


def main():
    flops_bin = sys.argv[1] if len(sys.argv) > 1 else "build/bench/flops"
    torch.manual_seed(1)
    rng = random.Random(1)
    torch.set_num_threads(1)
    cases = [  # preset, torch model, input shape, classes, batch
        ("resnet20-cifar", torch_train_step.ResNet(3, 3, 10, "none", 0.5), (3, 32, 32), 10, 2),
        ("resnet20-cifar", torch_train_step.ResNet(3, 1, 10, "none", 0.5), (1, 28, 28), 10, 2),
        ("resnet110-cifar", torch_train_step.ResNet(18, 3, 10, "none", 0.5), (3, 32, 32), 10, 2),
        ("resnet152-imagenet", BottleneckNet(3, 100), (3, 64, 64), 100, 2),
    ]
    passed = failed = 0
    for preset, model, in_shape, classes, batch in cases:
        n = len(model.blocks)
        patterns = ["1" * n, "0" * n, "".join(rng.choice("01") for _ in range(n))]
        for gates in patterns:
            theirs = torch_counts(model, gates, batch, in_shape, classes)
            ours = our_counts(flops_bin, preset, gates, in_shape, classes)
            ok = tuple(theirs[:3]) == ours and not theirs[3]
            passed, failed = passed + ok, failed + (not ok)
            print(f"{'ok  ' if ok else 'FAIL'} {preset} {'x'.join(map(str, in_shape))} gates {gates}: "
                  f"forward {ours[0]:.0f} / torch {theirs[0]:.0f}, step {ours[1]:.0f} / torch "
                  f"{theirs[1]:.0f}, inference {ours[2]:.0f} / torch {theirs[2]:.0f}"
                  + (f", uncounted products {sorted(theirs[3])}" if theirs[3] else ""), flush=True)
    print(f"flops_check: {passed} passed, {failed} failed")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
