"""bprop: fully connected networks trained by backpropagation on the GPU or the CPU path.

The estimators :class:`MLPClassifier` and :class:`MLPRegressor` follow scikit-learn's
conventions and parameter names (those of :mod:`sklearn.neural_network`), and train
through bprop's library: on a GPU through WGSL compute shaders (``backend="gpu"``), on
bprop's CPU path (``backend="cpu"``), or on the GPU when one opens and the CPU path
otherwise (``backend="auto"``, the default, which also falls back to the CPU path when
the GPU fails mid-run). A fitted estimator's network is a ``.bprop`` model file, the
same as ``bprop train`` writes: :func:`load` reads one, ``estimator.save(path)`` writes
one.

Examples
--------
>>> import numpy as np
>>> import bprop
>>> X = np.array([[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]] * 8)
>>> y = np.array([0, 1, 1, 0] * 8)
>>> clf = bprop.MLPClassifier(hidden_layer_sizes=(8,), activation="tanh",
...                           learning_rate_init=0.05, max_iter=300,
...                           backend="cpu", random_state=0).fit(X, y)
>>> clf.predict([[0.0, 1.0], [1.0, 1.0]]).tolist()
[1, 0]
"""

import atexit

from ._native import BpropError, mpi_finalize
from ._estimators import (
    MLPClassifier,
    MLPRegressor,
    devices,
    explain,
    load,
    mpi_rank,
    mpi_size,
    set_threads,
)

# Under mpirun, MPI (initialised by the first fit) is finalised before the interpreter exits.
atexit.register(mpi_finalize)
del atexit, mpi_finalize

__all__ = [
    "BpropError",
    "MLPClassifier",
    "MLPRegressor",
    "devices",
    "explain",
    "load",
    "mpi_rank",
    "mpi_size",
    "set_threads",
]

__version__ = "0.1.0"
