#!/usr/bin/env python3
"""Writes CIFAR-10 binary files of random pixels into DIR (data_batch_1..5.bin and
test_batch.bin, 10000 records each: a label byte < 10, then 3072 pixel bytes), for
the GPU benchmarks' real epochs and exported models: the speed does not care what
the pictures show. Files already there with the right size are kept.
usage: make_random_cifar.py DIR [RECORDS_PER_FILE]
"""
import os
import sys


def main(argv):
    if len(argv) not in (2, 3):
        print(__doc__, file=sys.stderr)
        return 2
    count = int(argv[2]) if len(argv) == 3 else 10000
    os.makedirs(argv[1], exist_ok=True)
    for name in ["data_batch_%d.bin" % i for i in range(1, 6)] + ["test_batch.bin"]:
        path = os.path.join(argv[1], name)
        if os.path.exists(path) and os.path.getsize(path) == count * 3073:
            continue
        records = bytearray(os.urandom(count * 3073))
        for r in range(count):
            records[r * 3073] %= 10
        with open(path + ".tmp", "wb") as f:
            f.write(records)
        os.replace(path + ".tmp", path)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
