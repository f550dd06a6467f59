"""Peers for benches/mnist_epoch.sh (run by it, one measurement per call).

  python3 mnist_epoch.py peak          NumPy float32 matrix-product peak: the best GFLOP/s
                                       of 2048x2048x2048 products (sgemm through NumPy's BLAS)
  python3 mnist_epoch.py numpy DIR     one epoch of 784-800-10 (ReLU, softmax cross-entropy),
                                       batch 128, SGD momentum 0.9, float32, on MNIST's 60 000
                                       training images from DIR, written the usual NumPy way
  python3 mnist_epoch.py torch DIR     the same epoch in PyTorch eager on the CPU (autograd,
                                       torch.optim.SGD); exits 3 when torch is not installed

Each prints one line `epoch_s=SECONDS` (or `gflops=G` for peak). The thread count is the
BLAS's (OPENBLAS_NUM_THREADS, OMP_NUM_THREADS; torch.set_num_threads from BPROP_THREADS).
"""
import gzip
import os
import sys
import time

import numpy as np


def mnist(d):
    with gzip.open(os.path.join(d, "train-images-idx3-ubyte.gz")) as f:
        x = np.frombuffer(f.read(), np.uint8, offset=16).reshape(-1, 784).astype(np.float32) / 255.0
    with gzip.open(os.path.join(d, "train-labels-idx1-ubyte.gz")) as f:
        y = np.frombuffer(f.read(), np.uint8, offset=8)
    return x, y


def peak():
    n = 2048
    rng = np.random.default_rng(1)
    a = rng.random((n, n), dtype=np.float32)
    b = rng.random((n, n), dtype=np.float32)
    a @ b
    best = 0.0
    for _ in range(5):
        t = time.perf_counter()
        a @ b
        best = max(best, 2 * n**3 / (time.perf_counter() - t) / 1e9)
    print(f"gflops={best:.2f}")


def glorot(rng, fan_in, fan_out):
    r = np.sqrt(6.0 / (fan_in + fan_out))
    return rng.uniform(-r, r, (fan_in, fan_out)).astype(np.float32)


def numpy_epoch(d):
    x, y = mnist(d)
    rng = np.random.default_rng(1)
    w1, b1 = glorot(rng, 784, 800), np.zeros(800, np.float32)
    w2, b2 = glorot(rng, 800, 10), np.zeros(10, np.float32)
    params = [w1, b1, w2, b2]
    vel = [np.zeros_like(p) for p in params]
    lr, mom, bs = np.float32(0.05), np.float32(0.9), 128
    order = rng.permutation(len(x))
    eye = np.eye(10, dtype=np.float32)
    t = time.perf_counter()
    for s in range(len(x) // bs):
        idx = order[s * bs:(s + 1) * bs]
        a0, t_ = x[idx], eye[y[idx]]
        z1 = a0 @ w1 + b1
        a1 = np.maximum(z1, 0)
        z2 = a1 @ w2 + b2
        z2 -= z2.max(axis=1, keepdims=True)
        p = np.exp(z2)
        p /= p.sum(axis=1, keepdims=True)
        d2 = (p - t_) / bs                     # dL/dz2 for softmax + cross-entropy
        d1 = (d2 @ w2.T) * (z1 > 0)            # dL/dz1 = (d2 W2^T) * relu'(z1)
        grads = [a0.T @ d1, d1.sum(0), a1.T @ d2, d2.sum(0)]
        for p_, v, g in zip(params, vel, grads):
            v *= mom
            v -= lr * g
            p_ += v
    print(f"epoch_s={time.perf_counter() - t:.4f}")


def torch_epoch(d):
    try:
        import torch
    except ImportError:
        sys.exit(3)
    torch.set_num_threads(int(os.environ.get("BPROP_THREADS", "1")))
    x, y = mnist(d)
    x, y = torch.from_numpy(x), torch.from_numpy(y.astype(np.int64))
    torch.manual_seed(1)
    model = torch.nn.Sequential(torch.nn.Linear(784, 800), torch.nn.ReLU(), torch.nn.Linear(800, 10))
    opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    loss_fn = torch.nn.CrossEntropyLoss()
    order = torch.randperm(len(x))
    bs = 128
    t = time.perf_counter()
    for s in range(len(x) // bs):
        idx = order[s * bs:(s + 1) * bs]
        opt.zero_grad()
        loss_fn(model(x[idx]), y[idx]).backward()
        opt.step()
    print(f"epoch_s={time.perf_counter() - t:.4f}")


if __name__ == "__main__":
    what = sys.argv[1]
    if what == "peak":
        peak()
    elif what == "numpy":
        numpy_epoch(sys.argv[2])
    elif what == "torch":
        torch_epoch(sys.argv[2])
    else:
        sys.exit(f"unknown peer {what}")
