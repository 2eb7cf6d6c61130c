#!/usr/bin/python3
"""The PyTorch peer of bench/conv_cpu.c: times torch's CPU convolution passes on the
shapes of bench/conv_shapes.txt with the same timing rule (bench/conv_shapes.py).

The forward pass is torch.nn.functional.conv2d; the two gradients are
torch.ops.aten.convolution_backward with one output each, the very call that
autograd's ConvolutionBackward makes in a training step (so torch picks the same
implementation, oneDNN or its own, as in bench/torch_train_step.py).

usage: torch_conv.py [--shapes FILE] [--threads T] [--forward-batches 1,256]
                     [--train-batches 32,128] [--min-seconds S] [--min-reps R]
Prints one line per measurement, as conv_cpu does."""
import argparse
import os
import sys

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import conv_shapes  # noqa: E402


def passes(shape, batch):
    """The callables of the three passes at `batch`."""
    gen = torch.Generator().manual_seed(1)
    x = torch.randn(batch, shape.in_c, shape.in_h, shape.in_w, generator=gen)
    w = torch.randn(shape.out_c, shape.in_c, shape.kernel, shape.kernel, generator=gen) * 0.1
    dy = torch.randn(batch, shape.out_c, shape.out_h, shape.out_w, generator=gen)
    stride, pad = [shape.stride] * 2, [shape.pad] * 2

    def backward(mask):
        return lambda: torch.ops.aten.convolution_backward(dy, x, w, None, stride, pad, [1, 1],
                                                           False, [0, 0], 1, mask)
    return {
        "fwd": lambda: F.conv2d(x, w, None, stride, pad),
        "bwd_data": backward([True, False, False]),
        "bwd_filter": backward([False, True, False]),
    }


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--shapes", default=os.path.join(os.path.dirname(__file__), "conv_shapes.txt"))
    ap.add_argument("--threads", type=int, default=os.cpu_count())
    ap.add_argument("--forward-batches", default="1,256")
    ap.add_argument("--train-batches", default="32,128")
    ap.add_argument("--min-seconds", type=float, default=0.3)
    ap.add_argument("--min-reps", type=int, default=5)
    args = ap.parse_args()
    try:
        shapes = conv_shapes.read_shapes(args.shapes)
        plan = [(b, ("fwd",)) for b in conv_shapes.parse_batches(args.forward_batches)]
        plan += [(b, conv_shapes.PASSES) for b in conv_shapes.parse_batches(args.train_batches)]
    except (conv_shapes.ShapeError, ValueError) as e:
        sys.exit(f"torch_conv: {e}")
    torch.set_num_threads(args.threads)
    print(f"torch_conv: torch {torch.__version__}, threads {torch.get_num_threads()}, "
          f"mkldnn {torch.backends.mkldnn.is_available()}, median of >= {args.min_reps} calls "
          f"and >= {args.min_seconds} s", flush=True)
    with torch.no_grad():
        for shape in shapes:
            for batch, names in plan:
                calls = passes(shape, batch)
                for name in names:
                    median, minimum, reps = conv_shapes.time_calls(calls[name], args.min_seconds,
                                                                   args.min_reps)
                    print(conv_shapes.result_line(shape.name, batch, name, median, minimum, reps),
                          flush=True)


if __name__ == "__main__":
    main()
