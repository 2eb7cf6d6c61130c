#!/usr/bin/python3
"""An independent reference for the Fashion-MNIST runs in RESULTS.md: the same CIFAR
ResNet (bench/torch_train_step.py's PyTorch model: option-A shortcuts, Conv-BN-ReLU-
Conv-BN blocks, per-mini-batch stochastic depth) trained by PyTorch with the settings
of sdtrain's runs: He-normal convolutions, SGD 0.1 with Nesterov momentum 0.9 and
weight decay 1e-4, batch 128 (whole batches only), the rate divided by 10 after the
given epochs, a random 5000-image validation split, a random subset of the remaining
training images, per-channel mean/std of the training part, no augmentation.
It is not bit-identical to sdtrain (other random split, initial weights and batch
order); it says what test error the same network and schedule reach in PyTorch.

usage: results/torch_reference.py [--blocks-per-stage 3] [--epochs 4] [--lr-steps 2,3]
           [--train-limit 10000] [--survival none] [--p-last 0.5] [--threads 2]
Prints one line per epoch and writes --csv (log.csv's columns where they apply)."""
import argparse
import gzip
import math
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
import sys
import os

sys.dont_write_bytecode = True  # leave no __pycache__ in bench/
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "bench"))
from torch_train_step import ResNet  # noqa: E402

DATA = "/usr/share/datasets/fashion-mnist"


def read_idx(name, header):
    with gzip.open(f"{DATA}/{name}.gz", "rb") as f:
        raw = f.read()
    return np.frombuffer(raw, dtype=np.uint8, offset=header)


def load(split):
    images = read_idx(f"{split}-images-idx3-ubyte", 16).reshape(-1, 1, 28, 28)
    labels = read_idx(f"{split}-labels-idx1-ubyte", 8).astype(np.int64)
    assert len(images) == len(labels)
    return images, labels


def evaluate(model, images, labels, batch=500):
    model.eval()
    errors = 0
    with torch.no_grad():
        for i in range(0, len(images), batch):
            logits = model(images[i:i + batch])
            errors += (logits.argmax(1) != labels[i:i + batch]).sum().item()
    return errors / len(images)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--blocks-per-stage", type=int, default=3)
    ap.add_argument("--epochs", type=int, default=4)
    ap.add_argument("--lr-steps", default="2,3")
    ap.add_argument("--train-limit", type=int, default=10000)
    ap.add_argument("--val-size", type=int, default=5000)
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--survival", default="none")
    ap.add_argument("--p-last", type=float, default=0.5)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--csv", default="")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    rng = np.random.default_rng(args.seed)
    lr_steps = [int(s) for s in args.lr_steps.split(",") if s]

    train_images, train_labels = load("train")
    test_images, test_labels = load("t10k")
    order = rng.permutation(len(train_images))
    val_idx = order[:args.val_size]
    train_idx = order[args.val_size:args.val_size + args.train_limit]
    pixels = train_images[train_idx].astype(np.float64) / 255.0
    mean, std = pixels.mean(), pixels.std(ddof=1)

    def tensor(images):
        return torch.from_numpy(((images.astype(np.float32) / 255.0 - mean) / std)
                                .astype(np.float32))

    x_train, y_train = tensor(train_images[train_idx]), torch.from_numpy(train_labels[train_idx])
    x_val, y_val = tensor(train_images[val_idx]), torch.from_numpy(train_labels[val_idx])
    x_test, y_test = tensor(test_images), torch.from_numpy(test_labels)

    model = ResNet(args.blocks_per_stage, 1, 10, args.survival, args.p_last)
    for m in model.modules():  # He-normal, as the Torch code of the paper (and sdtrain)
        if isinstance(m, nn.Conv2d):
            fan_in = m.in_channels * m.kernel_size[0] * m.kernel_size[1]
            nn.init.normal_(m.weight, 0.0, math.sqrt(2.0 / fan_in))
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9, weight_decay=1e-4,
                          nesterov=True)
    gate_gen = torch.Generator().manual_seed(args.seed + 1)
    rows = []
    start = time.perf_counter()
    for epoch in range(1, args.epochs + 1):
        lr = 0.1 / 10 ** sum(epoch > s for s in lr_steps)
        for group in opt.param_groups:
            group["lr"] = lr
        model.train()
        perm = torch.randperm(len(x_train))
        n_batches = len(x_train) // args.batch
        loss_sum, errors, epoch_start = 0.0, 0, time.perf_counter()
        for b in range(n_batches):
            idx = perm[b * args.batch:(b + 1) * args.batch]
            for block in model.blocks:
                block.gate = bool(torch.rand(1, generator=gate_gen).item() < block.survival_prob)
            for p in model.parameters():  # closed blocks still get decay and momentum
                p.grad = torch.zeros_like(p) if p.grad is None else p.grad.zero_()
            logits = model(x_train[idx])
            loss = F.cross_entropy(logits, y_train[idx])
            loss.backward()
            opt.step()
            loss_sum += loss.item()
            errors += (logits.argmax(1) != y_train[idx]).sum().item()
        train_seconds = time.perf_counter() - epoch_start
        val_error = evaluate(model, x_val, y_val)
        test_error = evaluate(model, x_test, y_test)
        row = (epoch, lr, loss_sum / n_batches, errors / (n_batches * args.batch), val_error,
               test_error, train_seconds, time.perf_counter() - start)
        rows.append(row)
        print("epoch %d lr %g loss %.4f train %.2f%% val %.2f%% test %.2f%% train %.1fs" %
              (row[0], row[1], row[2], 100 * row[3], 100 * row[4], 100 * row[5], row[6]),
              flush=True)
    best = min(rows, key=lambda r: r[4])
    print("best validation error %.2f%% at epoch %d: test error %.2f%%" %
          (100 * best[4], best[0], 100 * best[5]))
    if args.csv:
        with open(args.csv, "w") as f:
            f.write("epoch,lr,loss,train_error,val_error,test_error,epoch_seconds,wall_seconds\n")
            for r in rows:
                f.write("%d,%g,%.6f,%.6f,%.6f,%.6f,%.3f,%.3f\n" % r)


if __name__ == "__main__":
    main()
