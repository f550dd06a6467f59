#!/usr/bin/env python3
"""bprop.MLPClassifier beside sklearn.neural_network.MLPClassifier, in the same run.

Same hidden layers, solver (Adam), learning rate, batch size, epochs and float32 inputs
for both; each fit runs exactly EPOCHS epochs (n_iter_no_change = epochs, so neither
stops early). Prints test accuracy and fit wall time of each, and the ratio
scikit-learn / bprop (above 1: bprop is faster). Fits alternate between the two, ROUNDS
times, and medians are reported.

Data: scikit-learn's bundled digits, breast cancer and wine (a seeded 75/25 split,
standardized on the training part), bprop's bundled diabetes (data/diabetes.train and
.test, FANN files), and MNIST 784-800-10 from ../shared/data/mnist (the official split,
pixels / 255) when it is there.

Usage (from the repository root, with bprop installed: pip install ./python):
    python benches/sklearn_peer.py [--backend cpu|gpu|auto] [--rounds N] [--mnist-epochs N]
                                   [--no-mnist] [--threads N]
"""

import argparse
import gzip
import os
import platform
import statistics
import struct
import time
import warnings

import numpy as np
from sklearn.datasets import load_breast_cancer, load_digits, load_wine
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import train_test_split
from sklearn.neural_network import MLPClassifier as SkMLP
from sklearn.preprocessing import StandardScaler

import bprop

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def split_scaled(X, y):
    Xtr, Xte, ytr, yte = train_test_split(X, y, test_size=0.25, random_state=0, stratify=y)
    s = StandardScaler().fit(Xtr)
    return s.transform(Xtr).astype(np.float32), s.transform(Xte).astype(np.float32), ytr, yte


def read_fann(path):
    with open(path) as f:
        n, k_in, k_out = map(int, f.readline().split())
        nums = np.array(f.read().split(), dtype=np.float64)
    rows = nums.reshape(n, k_in + k_out)
    return rows[:, :k_in].astype(np.float32), rows[:, k_in:].argmax(axis=1)


def read_idx(path):
    with gzip.open(path, "rb") as f:
        data = f.read()
    dims = data[3]
    shape = struct.unpack(">" + "I" * dims, data[4 : 4 + 4 * dims])
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * dims).reshape(shape)


def datasets(args):
    out = []
    for name, loader, hidden, epochs in [
        ("digits", load_digits, (64,), 50),
        ("breast cancer", load_breast_cancer, (32,), 50),
        ("wine", load_wine, (32,), 100),
    ]:
        X, y = loader(return_X_y=True)
        out.append((name, *split_scaled(X, y), hidden, epochs, 32))
    Xtr, ytr = read_fann(os.path.join(ROOT, "data", "diabetes.train"))
    Xte, yte = read_fann(os.path.join(ROOT, "data", "diabetes.test"))
    out.append(("diabetes (bundled)", Xtr, Xte, ytr, yte, (32,), 100, 32))
    mnist = os.path.join(ROOT, "..", "shared", "data", "mnist")
    if not args.no_mnist and os.path.isdir(mnist):
        img = lambda f: read_idx(os.path.join(mnist, f)).reshape(-1, 784).astype(np.float32) / 255
        lab = lambda f: read_idx(os.path.join(mnist, f)).astype(np.int64)
        out.append((
            "MNIST 784-800-10",
            img("train-images-idx3-ubyte.gz"), img("t10k-images-idx3-ubyte.gz"),
            lab("train-labels-idx1-ubyte.gz"), lab("t10k-labels-idx1-ubyte.gz"),
            (800,), args.mnist_epochs, 128,
        ))
    return out


def timed_fit(est, X, y):
    t = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        est.fit(X, y)
    return time.perf_counter() - t


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--backend", default="cpu", choices=["cpu", "gpu", "auto"])
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--mnist-epochs", type=int, default=3)
    ap.add_argument("--no-mnist", action="store_true")
    ap.add_argument("--threads", type=int, default=None,
                    help="the CPU path's threads [default: the physical cores]")
    args = ap.parse_args()
    if args.threads is not None:
        bprop.set_threads(args.threads)

    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} logical CPUs; "
          f"bprop backend {args.backend}, threads {args.threads or 'default'}; devices: {bprop.devices()['auto']}")
    head = f"{'data':<20} {'layers':<12} {'epochs':>6} {'batch':>5} | {'sklearn acc':>11} {'bprop acc':>9} | " \
           f"{'sklearn s':>9} {'bprop s':>9} {'ratio':>6}"
    print(head)
    print("-" * len(head))
    for name, Xtr, Xte, ytr, yte, hidden, epochs, batch in datasets(args):
        rounds = 1 if name.startswith("MNIST") else args.rounds
        common = dict(hidden_layer_sizes=hidden, solver="adam", learning_rate_init=0.001,
                      batch_size=batch, max_iter=epochs, n_iter_no_change=epochs, random_state=0)
        times = {"sk": [], "bp": []}
        acc = {}
        used = ""
        for r in range(rounds):
            sk = SkMLP(**common)
            bp = bprop.MLPClassifier(**common, backend=args.backend, precision="float32")
            times["sk"].append(timed_fit(sk, Xtr, ytr))
            times["bp"].append(timed_fit(bp, Xtr, ytr))
            acc = {"sk": sk.score(Xte, yte), "bp": bp.score(Xte, yte)}
            used = bp.backend_
        sk_t, bp_t = statistics.median(times["sk"]), statistics.median(times["bp"])
        layers = "-".join(map(str, [Xtr.shape[1], *hidden, len(np.unique(ytr))]))
        print(f"{name:<20} {layers:<12} {epochs:>6} {batch:>5} | {acc['sk']:>11.4f} {acc['bp']:>9.4f} | "
              f"{sk_t:>9.3f} {bp_t:>9.3f} {sk_t / bp_t:>6.2f}")
    print(f"bprop trained on: {used}")


if __name__ == "__main__":
    main()
