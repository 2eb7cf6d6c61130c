"""The per-convolution benchmark's shared pieces for its Python parts
(bench/torch_conv.py, bench/make_conv_onnx.py, bench/conv_table.py): the shape file
(bench/conv_shapes.txt, the same format bench/conv_cpu.c reads), the multiply-add count
of a convolution, the timing rule all three peers use, and the result line they print:

    conv NAME batch B pass fwd|bwd_data|bwd_filter median_ms X min_ms Y reps R
"""
import re
import time

PASSES = ("fwd", "bwd_data", "bwd_filter")
NAME = re.compile(r"^[A-Za-z0-9_-]{1,31}$")


class ShapeError(Exception):
    pass


class Shape:
    def __init__(self, name, in_c, out_c, in_h, in_w, kernel, stride, pad):
        self.name, self.in_c, self.out_c = name, in_c, out_c
        self.in_h, self.in_w, self.kernel, self.stride, self.pad = in_h, in_w, kernel, stride, pad
        self.out_h = (in_h + 2 * pad - kernel) // stride + 1
        self.out_w = (in_w + 2 * pad - kernel) // stride + 1

    def macs(self, batch):
        """Multiply-adds of one pass at `batch`: the forward pass, the data gradient and
        the filter gradient are products of the same size (padding zeros included)."""
        return batch * self.out_c * self.out_h * self.out_w * self.in_c * self.kernel ** 2

    def label(self):
        stride = f" s{self.stride}" if self.stride != 1 else ""
        return f"{self.in_c}->{self.out_c} {self.in_h}x{self.in_w}{stride}"


def read_shapes(path):
    """Shapes in file order; ShapeError naming the file and line on anything odd."""
    shapes = []
    try:
        with open(path, encoding="utf-8") as f:
            lines = f.read().splitlines()
    except (OSError, UnicodeDecodeError) as e:
        raise ShapeError(f"{path}: cannot read the shape file ({e})") from None
    for number, line in enumerate(lines, 1):
        words = line.split("#", 1)[0].split()
        if not words:
            continue
        try:
            if len(words) != 8 or not NAME.match(words[0]):
                raise ValueError
            in_c, out_c, h, w, k, s, p = (int(x) for x in words[1:])
            if not (1 <= in_c <= 4096 and 1 <= out_c <= 4096 and 1 <= h <= 4096 and 1 <= w <= 4096
                    and 1 <= k <= 15 and 1 <= s <= 8 and 0 <= p < k and h + 2 * p >= k
                    and w + 2 * p >= k):
                raise ValueError
        except ValueError:
            raise ShapeError(f"{path}:{number}: expected: name in_c out_c in_h in_w kernel stride "
                             "pad (positive, pad < kernel)") from None
        if any(x.name == words[0] for x in shapes):
            raise ShapeError(f"{path}:{number}: shape '{words[0]}' named twice")
        shapes.append(Shape(words[0], in_c, out_c, h, w, k, s, p))
    if not shapes:
        raise ShapeError(f"{path}: no shapes")
    return shapes


def parse_batches(text):
    batches = [int(x) for x in text.split(",")]
    if not batches or any(b < 1 or b > 65536 for b in batches):
        raise ValueError(f"bad batch list '{text}'")
    return batches


def time_calls(call, min_seconds, min_reps, max_reps=100000):
    """Two warm-up calls, then calls until both min_seconds have passed and min_reps were
    made; returns (median, minimum, count) in milliseconds."""
    call()
    call()
    times = []
    start = time.perf_counter()
    while len(times) < max_reps and (len(times) < min_reps
                                     or time.perf_counter() - start < min_seconds):
        t0 = time.perf_counter()
        call()
        times.append(1e3 * (time.perf_counter() - t0))
    times.sort()
    n = len(times)
    median = times[n // 2] if n % 2 else 0.5 * (times[n // 2 - 1] + times[n // 2])
    return median, times[0], n


def result_line(name, batch, pass_name, median, minimum, reps):
    return (f"conv {name} batch {batch} pass {pass_name} median_ms {median:.4f} "
            f"min_ms {minimum:.4f} reps {reps}")
