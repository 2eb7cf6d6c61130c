#!/usr/bin/python3
"""Joins the per-convolution timings of our CPU backend (bench/conv_cpu.c), PyTorch
(bench/torch_conv.py) and onnxruntime (bench/ort_conv.js) into one table: for every
shape, batch and pass the achieved GFLOP/s of each (2 * multiply-adds / median time)
and its fraction of the measured FMA peak, and the peers' times over ours. The count
is the direct convolution's, whatever algorithm ran: an effective rate, which an
algorithm that multiplies less (Winograd) can push above the peak.

usage: conv_table.py --shapes FILE --peak GFLOPS --peak-label TEXT --ours FILE
                     [--torch FILE] [--ort FILE]
Result files hold lines "conv NAME batch B pass P median_ms X min_ms Y reps R ..."
(other lines are ignored); a measurement a file lacks shows as n/a."""
import argparse
import os
import re
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import conv_shapes  # noqa: E402

LINE = re.compile(r"^conv (\S+) batch (\d+) pass (\S+) median_ms (\S+) min_ms (\S+) reps (\d+)\b")
PEERS = ("ours", "torch", "ort")


class TableError(Exception):
    pass


def read_results(path, shapes):
    """{(name, batch, pass): median ms} and the keys in file order."""
    results, order = {}, []
    try:
        with open(path, encoding="utf-8") as f:
            lines = f.read().splitlines()
    except (OSError, UnicodeDecodeError) as e:
        raise TableError(f"{path}: cannot read ({e})") from None
    for number, line in enumerate(lines, 1):
        if not line.startswith("conv "):
            continue
        m = LINE.match(line)
        try:
            median = float(m.group(4)) if m else -1.0
        except ValueError:
            median = -1.0
        if not m or m.group(3) not in conv_shapes.PASSES or not median > 0:
            raise TableError(f"{path}:{number}: not a result line: {line}")
        if m.group(1) not in shapes:
            raise TableError(f"{path}:{number}: shape '{m.group(1)}' is not in the shape file")
        key = (m.group(1), int(m.group(2)), m.group(3))
        if key not in results:
            order.append(key)
        results[key] = median
    return results, order


def cell(macs, ms, peak):
    """GFLOP/s and % of peak (with a '!' above 100%), or n/a."""
    if ms is None:
        return "n/a", "n/a"
    gflops = 2.0 * macs / (ms * 1e6)
    share = 100.0 * gflops / peak
    return f"{gflops:.2f}", f"{share:.1f}%" + ("!" if share > 100 else "")


def ratio(peer_ms, our_ms):
    return "n/a" if peer_ms is None or our_ms is None else f"{peer_ms / our_ms:.3f}"


def table(shapes, peak, peak_label, results, order):
    rank = {name: i for i, name in enumerate(shapes)}
    keys = sorted(order, key=lambda k: (rank[k[0]], order.index(k)))
    head = f"{'shape':<18} {'conv':<16} {'batch':>5} {'pass':<10} {'MFLOP':>9}"
    for peer in PEERS:
        head += f" {peer + ' GF/s':>11} {'%peak':>7}"
    head += f" {'vs torch':>8} {'vs ort':>8}"
    lines = [f"per convolution shape: effective GFLOP/s (the direct convolution's 2 * MACs / "
             f"median time); %peak: of the {peak_label}; vs: peer time / our time "
             "(> 1: ours faster)", head]
    for name, batch, pass_name in keys:
        shape = shapes[name]
        macs = shape.macs(batch)
        ms = {p: results[p].get((name, batch, pass_name)) for p in PEERS}
        row = f"{name:<18} {shape.label():<16} {batch:>5} {pass_name:<10} {2e-6 * macs:>9.2f}"
        for peer in PEERS:
            rate, share = cell(macs, ms[peer], peak)
            row += f" {rate:>11} {share:>7}"
        row += f" {ratio(ms['torch'], ms['ours']):>8} {ratio(ms['ort'], ms['ours']):>8}"
        lines.append(row)
    if any("%!" in line for line in lines[2:]):
        lines.append("!: above the measured peak: an algorithm that multiplies less than the "
                     "direct convolution counted here (Winograd), or a disturbed measurement "
                     "(a busy machine)")
    return lines


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--shapes", required=True)
    ap.add_argument("--peak", type=float, required=True, help="GFLOP/s")
    ap.add_argument("--peak-label", required=True)
    for peer in PEERS:
        ap.add_argument(f"--{peer}", required=peer == "ours")
    args = ap.parse_args()
    if not args.peak > 0:
        sys.exit(f"conv_table: the peak must be positive, got {args.peak}")
    try:
        shapes = {s.name: s for s in conv_shapes.read_shapes(args.shapes)}
        results, order = {}, []
        for peer in PEERS:
            path = getattr(args, peer)
            results[peer], keys = read_results(path, shapes) if path else ({}, [])
            order += [k for k in keys if k not in order]
    except (conv_shapes.ShapeError, TableError) as e:
        sys.exit(f"conv_table: {e}")
    print("\n".join(table(shapes, args.peak, args.peak_label, results, order)))


if __name__ == "__main__":
    main()
