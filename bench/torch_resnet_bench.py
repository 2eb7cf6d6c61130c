#!/usr/bin/env python3
"""PyTorch-eager peer of `sdtrain --device cuda --bench-steps N` on the GPU
(and, with --infer, of `sdinfer --device cuda --bench N`).

The model and its stochastic depth are those of bench/torch_train_step.py (the
CPU peer), imported rather than repeated: the CIFAR ResNet with option-A
shortcuts and Conv-BN-ReLU-Conv-BN blocks, one Bernoulli draw per block per
mini-batch (drawn on the host, so no GPU sync), a closed block costs no work.
What this script adds for the GPU:

  - torch.backends.cudnn.benchmark = True (cuDNN autotuning, as sdtrain's cudnnFind);
  - --precision fp32 turns TF32 OFF for convolutions and matrix products
    (PyTorch's default lets cuDNN use TF32), so it is comparable with
    `sdtrain --precision fp32`; --precision tf32 turns it on for both;
  - every parameter keeps a gradient tensor (zeroed, never set to None), so a
    closed block's parameters still get weight decay and momentum, exactly as
    sdtrain's one fused SGD update over the flat buffer does;
  - warm-up steps (autotuning sees every shape), then R timed windows of S
    steps each; the median window is reported.
  - --infer: evaluation mode under torch.inference_mode() (every block open,
    its branch scaled by p_l), one forward pass of the batch per step: the
    peer of sdinfer's batch throughput.

usage: torch_resnet_bench.py [--blocks-per-stage 18] [--batch 128] [--steps 50]
           [--repeats 3] [--warmup 10] [--survival none|linear|uniform]
           [--p-last 0.5] [--precision fp32|tf32] [--device cuda] [--seed 1] [--infer]
Prints "ms/step: X" and "images/s: Y" (the lines sdtrain prints), plus the
mean number of active blocks per step.
"""
import argparse
import os
import statistics
import sys
import time

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from torch_train_step import ResNet  # noqa: E402  (the shared model definition)


def set_tf32(enabled):
    """Allow or forbid TF32 in cuDNN convolutions and cuBLAS matrix products.
    Newer PyTorch has per-backend fp32_precision settings; older ones the
    allow_tf32 flags. Returns a description of what is now in effect."""
    mode = "tf32" if enabled else "ieee"
    conv = getattr(torch.backends.cudnn, "conv", None)
    if conv is not None and hasattr(conv, "fp32_precision"):
        try:
            torch.backends.cudnn.conv.fp32_precision = mode
            torch.backends.cuda.matmul.fp32_precision = mode
            return (f"cudnn.conv.fp32_precision={torch.backends.cudnn.conv.fp32_precision} "
                    f"cuda.matmul.fp32_precision={torch.backends.cuda.matmul.fp32_precision}")
        except (AttributeError, RuntimeError, ValueError) as e:
            print(f"note: fp32_precision API refused ({e}); using allow_tf32", file=sys.stderr)
    torch.backends.cudnn.allow_tf32 = enabled
    torch.backends.cuda.matmul.allow_tf32 = enabled
    return (f"cudnn.allow_tf32={torch.backends.cudnn.allow_tf32} "
            f"cuda.matmul.allow_tf32={torch.backends.cuda.matmul.allow_tf32}")


def sync_fn(on_gpu):
    return torch.cuda.synchronize if on_gpu else (lambda: None)


def time_inference(model, args, dev, sync, precision_note):
    """Median of R windows of S evaluation-mode forward passes of one batch."""
    model.eval()
    x = torch.randn(args.batch, 3, 32, 32, device=dev)
    windows, latencies = [], []
    with torch.inference_mode():
        for _ in range(args.warmup):
            model(x)
        sync()
        for _ in range(args.repeats):
            start = time.perf_counter()
            for _ in range(args.steps):
                t0 = time.perf_counter()
                model(x)
                sync()  # each batch's result is ready: a latency, as sdinfer's
                latencies.append(time.perf_counter() - t0)
            windows.append(time.perf_counter() - start)
    seconds = statistics.median(windows)
    latencies.sort()
    name = torch.cuda.get_device_name(dev) if dev.type == "cuda" else "cpu"
    print(f"torch {torch.__version__} on {name}; inference, batch {args.batch}; {precision_note}")
    print(f"windows (s): {' '.join(f'{w:.4f}' for w in windows)}")
    print(f"latency p50 ms: {1000 * latencies[len(latencies) // 2]:.3f}")
    print(f"latency p99 ms: {1000 * latencies[min(len(latencies) - 1, int(0.99 * len(latencies)))]:.3f}")
    print(f"images/s: {args.steps * args.batch / seconds:.1f}")
    return 0


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--blocks-per-stage", type=int, default=18)  # 18: ResNet-110
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--steps", type=int, default=50)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--warmup", type=int, default=10)
    ap.add_argument("--survival", default="none", choices=["none", "linear", "uniform"])
    ap.add_argument("--p-last", type=float, default=0.5)
    ap.add_argument("--precision", default="fp32", choices=["fp32", "tf32"])
    ap.add_argument("--device", default="cuda")
    ap.add_argument("--classes", type=int, default=10)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--infer", action="store_true", help="time evaluation-mode forward passes")
    args = ap.parse_args()
    if args.steps < 1 or args.repeats < 1 or args.warmup < 0 or args.batch < 1:
        ap.error("--steps, --repeats and --batch must be >= 1, --warmup >= 0")

    dev = torch.device(args.device)
    on_gpu = dev.type == "cuda"
    if on_gpu and not torch.cuda.is_available():
        print("torch_resnet_bench: CUDA is not available to this PyTorch", file=sys.stderr)
        return 1
    precision_note = "cpu"
    if on_gpu:
        torch.backends.cudnn.benchmark = True
        precision_note = set_tf32(args.precision == "tf32")
    torch.manual_seed(args.seed)

    model = ResNet(args.blocks_per_stage, 3, args.classes, args.survival, args.p_last).to(dev)
    if args.infer:
        return time_inference(model, args, dev, sync_fn(on_gpu), precision_note)
    model.train()
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9, weight_decay=1e-4,
                          nesterov=True)
    for p in model.parameters():
        p.grad = torch.zeros_like(p)
    x = torch.randn(args.batch, 3, 32, 32, device=dev)
    y = torch.randint(0, args.classes, (args.batch,), device=dev)
    gate_gen = torch.Generator().manual_seed(args.seed + 1)
    active_total = 0

    sync = sync_fn(on_gpu)

    def step():
        nonlocal active_total
        for b in model.blocks:
            b.gate = bool(torch.rand(1, generator=gate_gen).item() < b.survival_prob)
            active_total += b.gate
        opt.zero_grad(set_to_none=False)
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        opt.step()

    for _ in range(args.warmup):
        step()
    sync()
    active_total = 0
    windows = []
    for _ in range(args.repeats):
        start = time.perf_counter()
        for _ in range(args.steps):
            step()
        sync()
        windows.append(time.perf_counter() - start)
    seconds = statistics.median(windows)
    name = torch.cuda.get_device_name(dev) if on_gpu else "cpu"
    n_blocks = len(model.blocks)
    expected = sum(b.survival_prob for b in model.blocks)
    print(f"torch {torch.__version__} on {name}; cudnn {torch.backends.cudnn.version()}; "
          f"{precision_note}")
    print(f"blocks {n_blocks} batch {args.batch} survival {args.survival} p_L {args.p_last}: "
          f"E[L~] {expected:.2f}, mean active {active_total / (args.steps * args.repeats):.2f}")
    print(f"windows (s): {' '.join(f'{w:.4f}' for w in windows)}")
    print(f"ms/step: {1000 * seconds / args.steps:.3f}")
    print(f"images/s: {args.steps * args.batch / seconds:.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
