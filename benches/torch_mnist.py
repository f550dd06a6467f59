#!/usr/bin/env python3
"""PyTorch peer for bprop's MNIST epoch (issue: GPU path vs PyTorch eager on the same GPU).

The same work as `cargo run --release --example accuracy -- mnist --epochs E --batch B
--hidden H --lr 0.1 --backend gpu` runs on bprop: a fully connected network 784-H-...-10,
ReLU hidden layers, softmax cross-entropy (mean over the batch), SGD with momentum 0.9
(PyTorch's rule v <- mu v + g, p <- p - lr v, the same as bprop's), plain eager PyTorch
(no compile, no AMP, no TF32: `torch.backends.cuda.matmul.allow_tf32 = False`, so the
products run in fp32 like bprop's), MNIST's 60 000 training images scaled to [0, 1],
shuffled each epoch, the last partial batch dropped (as bprop does). The data sits on the
device before timing starts. Prints one line per epoch and a summary line:

    torch-mnist hidden=800 batch=128 device=cuda epochs=3 epoch_s_median=... (epochs 2.. only)

Usage: benches/torch_mnist.py --mnist DIR [--hidden 800[,800]] [--batch 128] [--epochs 3]
       [--device cuda|cpu]
"""

import argparse
import gzip
import statistics
import sys
import time
from pathlib import Path

import numpy as np


def read_idx(path: Path) -> np.ndarray:
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rb") as f:
        data = f.read()
    ndim = data[3]
    dims = [int.from_bytes(data[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim)]
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim).reshape(dims)


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--mnist", required=True, type=Path)
    ap.add_argument("--hidden", default="800")
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--lr", type=float, default=0.1)
    ap.add_argument("--device", default="cuda")
    args = ap.parse_args()
    try:
        import torch
    except ImportError:
        print("torch-mnist skipped: torch is not installed")
        return 0
    if args.device == "cuda" and not torch.cuda.is_available():
        print("torch-mnist skipped: no CUDA device")
        return 0
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    dev = torch.device(args.device)
    torch.manual_seed(1)
    x = read_idx(args.mnist / "train-images-idx3-ubyte.gz").reshape(-1, 784)
    y = read_idx(args.mnist / "train-labels-idx1-ubyte.gz")
    x = torch.tensor(x, dtype=torch.float32, device=dev) / 255.0
    y = torch.tensor(y, dtype=torch.int64, device=dev)
    sizes = [784] + [int(h) for h in args.hidden.split(",")] + [10]
    layers = []
    for i in range(len(sizes) - 1):
        layers.append(torch.nn.Linear(sizes[i], sizes[i + 1]))
        if i < len(sizes) - 2:
            layers.append(torch.nn.ReLU())
    model = torch.nn.Sequential(*layers).to(dev)
    opt = torch.optim.SGD(model.parameters(), lr=args.lr, momentum=0.9)
    loss_fn = torch.nn.CrossEntropyLoss()
    n = x.shape[0]
    steps = n // args.batch
    sync = torch.cuda.synchronize if dev.type == "cuda" else (lambda: None)
    times = []
    for epoch in range(args.epochs):
        perm = torch.randperm(n, device=dev)
        sync()
        start = time.perf_counter()
        total = torch.zeros((), device=dev)
        for s in range(steps):
            idx = perm[s * args.batch : (s + 1) * args.batch]
            opt.zero_grad(set_to_none=True)
            loss = loss_fn(model(x[idx]), y[idx])
            loss.backward()
            opt.step()
            total += loss.detach()
        sync()
        t = time.perf_counter() - start
        times.append(t)
        print(f"epoch {epoch + 1}: {t:.3f} s, mean loss {total.item() / steps:.5f}", flush=True)
    later = times[1:] or times
    print(
        f"torch-mnist hidden={args.hidden} batch={args.batch} device={args.device} "
        f"epochs={args.epochs} epoch_s_median={statistics.median(later):.4f} (epochs 2.. only)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
