"""Fits small estimators and saves what they learned: run by test_mpi.py, in one process
and under ``mpirun -n N`` (every rank is given the same data and parameters).

Usage: python mpi_fit.py MODE OUT_PREFIX, with MODE one of
  fit        a classifier and a regressor (f64, shuffled, a batch that N does not divide,
             early stopping for the classifier); saves OUT_PREFIX<rank>.npz
  seedless   a regressor with random_state=None; saves OUT_PREFIX<rank>.npz
  mismatch   each rank is given other data; writes the error to OUT_PREFIX<rank>.txt
"""

import sys

import numpy as np

import bprop


def data():
    rng = np.random.RandomState(7)
    X = rng.randn(130, 5)
    y_cls = (X[:, 0] + 0.5 * X[:, 1] > 0).astype(int) + (X[:, 2] > 1).astype(int)
    y_reg = np.column_stack([X @ rng.randn(5), np.sin(X[:, 3])])
    return X, y_cls, y_reg


def main(mode, out):
    rank, size = bprop.mpi_rank(), bprop.mpi_size()
    X, y_cls, y_reg = data()
    common = dict(backend="cpu", precision="float64", batch_size=25, max_iter=15)
    if mode == "fit":
        clf = bprop.MLPClassifier(
            hidden_layer_sizes=(9, 6), early_stopping=True, validation_fraction=0.2,
            n_iter_no_change=4, random_state=3, **common,
        ).fit(X, y_cls)
        reg = bprop.MLPRegressor(
            hidden_layer_sizes=(8,), solver="sgd", learning_rate_init=0.02, momentum=0.9,
            random_state=5, **common,
        ).fit(X, y_reg)
        arrays = {"size": np.array(size), "clf_n_iter": np.array(clf.n_iter_),
                  "clf_loss": np.array(clf.loss_curve_), "reg_loss": np.array(reg.loss_curve_)}
        for name, est in (("clf", clf), ("reg", reg)):
            for i, (w, b) in enumerate(zip(est.coefs_, est.intercepts_)):
                arrays[f"{name}_w{i}"] = w
                arrays[f"{name}_b{i}"] = b
        np.savez(f"{out}{rank}.npz", **arrays)
    elif mode == "seedless":
        reg = bprop.MLPRegressor(hidden_layer_sizes=(6,), random_state=None, **common)
        reg.fit(X, y_reg)
        np.savez(f"{out}{rank}.npz", size=np.array(size), **{f"w{i}": w for i, w in enumerate(reg.coefs_)})
    elif mode == "mismatch":
        try:
            bprop.MLPRegressor(hidden_layer_sizes=(6,), random_state=0, **common).fit(X + rank, y_reg)
            message = "fitted"
        except Exception as e:  # noqa: BLE001 - the test reads which error each rank got
            message = f"{type(e).__name__}: {e}"
        with open(f"{out}{rank}.txt", "w") as f:
            f.write(message)
    else:
        raise SystemExit(f"unknown mode {mode!r}")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
