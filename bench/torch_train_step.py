#!/usr/bin/python3
"""The PyTorch peer of `sdtrain --bench-steps`: the same CIFAR ResNet (option-A
shortcuts, Conv-BN-ReLU-Conv-BN blocks), the same per-mini-batch stochastic depth
(one Bernoulli draw per block; a closed block is its shortcut, no work), the same
SGD (Nesterov momentum 0.9, weight decay 1e-4), on synthetic data.

usage: torch_train_step.py --blocks-per-stage N --batch B --steps S --threads T
                           [--survival none|linear|uniform] [--p-last P] [--device cpu|cuda]
                           [--versus-constant R]
Prints "ms/step: X" and "images/s: Y". With --versus-constant R (as sdtrain's
--bench-versus-constant): R pairs of windows of S steps, one of the rule and one
with every block open side by side (the rule first in even pairs), and the median
of the pairs' time ratios."""
import argparse
import statistics
import time

import torch
import torch.nn as nn
import torch.nn.functional as F


class Block(nn.Module):
    def __init__(self, in_c, out_c, stride, survival_prob):
        super().__init__()
        self.conv1 = nn.Conv2d(in_c, out_c, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(out_c)
        self.conv2 = nn.Conv2d(out_c, out_c, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(out_c)
        self.extra_channels = out_c - in_c
        self.stride = stride
        self.survival_prob = survival_prob
        self.gate = True

    def shortcut(self, x):
        if self.stride != 1:
            x = F.avg_pool2d(x, 2, 2)
        if self.extra_channels:
            x = F.pad(x, (0, 0, 0, 0, 0, self.extra_channels))
        return x

    def forward(self, x):
        s = self.shortcut(x)
        if self.training and not self.gate:
            return s
        f = self.bn2(self.conv2(F.relu(self.bn1(self.conv1(x)))))
        if not self.training:
            f = f * self.survival_prob
        return F.relu(f + s)


class ResNet(nn.Module):
    def __init__(self, n, in_c, classes, rule, p_last):
        super().__init__()
        self.conv = nn.Conv2d(in_c, 16, 3, 1, 1, bias=False)
        self.bn = nn.BatchNorm2d(16)
        total = 3 * n
        blocks, c = [], 16
        for stage, width in enumerate((16, 32, 64)):
            for i in range(n):
                l = len(blocks) + 1
                p = {"none": 1.0, "uniform": p_last, "linear": 1 - l / total * (1 - p_last)}[rule]
                blocks.append(Block(c, width, 2 if stage > 0 and i == 0 else 1, p))
                c = width
        self.blocks = nn.ModuleList(blocks)
        self.fc = nn.Linear(64, classes)

    def forward(self, x):
        x = F.relu(self.bn(self.conv(x)))
        for b in self.blocks:
            x = b(x)
        return self.fc(torch.flatten(F.adaptive_avg_pool2d(x, 1), 1))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--blocks-per-stage", type=int, default=18)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--steps", type=int, default=10)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--survival", default="none")
    ap.add_argument("--p-last", type=float, default=0.5)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--size", type=int, default=32)
    ap.add_argument("--channels", type=int, default=3)
    ap.add_argument("--versus-constant", type=int, default=0, metavar="R")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(1)
    if args.device == "cuda":
        torch.backends.cudnn.benchmark = True
    dev = torch.device(args.device)
    model = ResNet(args.blocks_per_stage, args.channels, 10, args.survival, args.p_last).to(dev)
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9, weight_decay=1e-4,
                          nesterov=True)
    x = torch.randn(args.batch, args.channels, args.size, args.size, device=dev)
    y = torch.randint(0, 10, (args.batch,), device=dev)
    gen = torch.Generator().manual_seed(2)

    def step(every_block_open=False):
        for b in model.blocks:
            b.gate = every_block_open or bool(torch.rand(1, generator=gen).item() < b.survival_prob)
        opt.zero_grad(set_to_none=True)
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        opt.step()

    def window(every_block_open=False):
        if args.device == "cuda":
            torch.cuda.synchronize()
        start = time.perf_counter()
        for _ in range(args.steps):
            step(every_block_open)
        if args.device == "cuda":
            torch.cuda.synchronize()
        return time.perf_counter() - start

    model.train()
    for _ in range(2):
        step()
    print(f"torch {torch.__version__} blocks/stage {args.blocks_per_stage} batch {args.batch} "
          f"threads {args.threads} survival {args.survival}")
    if args.versus_constant > 0:
        for _ in range(2):  # blocks the rule's warm-up left closed run once untimed
            step(True)
        gated, open_, ratios = [], [], []
        for r in range(args.versus_constant):
            first = window(r % 2 == 1)
            second = window(r % 2 == 0)
            g, o = (second, first) if r % 2 else (first, second)
            gated.append(g)
            open_.append(o)
            ratios.append(g / o)
        print("pair ratios (rule / constant): " + " ".join(f"{x:.4f}" for x in ratios))
        seconds = statistics.median(gated)
        print(f"ms/step: {1000 * seconds / args.steps:.3f}")
        print(f"images/s: {args.steps * args.batch / seconds:.1f}")
        print(f"constant depth ms/step: {1000 * statistics.median(open_) / args.steps:.3f}")
        print(f"step time {args.survival} p_L {args.p_last:g} / constant depth: "
              f"{statistics.median(ratios):.3f} (median of {len(ratios)} adjacent pairs)")
        return
    seconds = window()
    print(f"ms/step: {1000 * seconds / args.steps:.3f}")
    print(f"images/s: {args.steps * args.batch / seconds:.1f}")


if __name__ == "__main__":
    main()
