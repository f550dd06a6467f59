"""Shared helpers: small data sets made here (no file outside the checkout is read)."""

import os
import pathlib
import subprocess

import numpy as np
import pytest

REPO = pathlib.Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def bprop_cli():
    """The CLI binary, built by cargo from this checkout (fails, never skips, without cargo)."""
    subprocess.run(
        ["cargo", "build", "--quiet", "--bin", "bprop"],
        cwd=REPO,
        check=True,
    )
    target = pathlib.Path(os.environ.get("CARGO_TARGET_DIR", REPO / "target"))
    exe = target / "debug" / "bprop"
    assert exe.is_file(), f"cargo built no {exe}"
    return str(exe)


@pytest.fixture
def blobs():
    """Three separable classes in 4 dimensions, 150 samples."""
    rng = np.random.RandomState(0)
    centers = np.array([[2, 0, 0, 0], [0, 2, 0, 0], [0, 0, 2, 0]], dtype=float)
    y = np.repeat(np.arange(3), 50)
    X = centers[y] + 0.4 * rng.randn(150, 4)
    return X, y


@pytest.fixture(autouse=True, scope="session")
def _kernel_cache(tmp_path_factory):
    """The GPU kernel tuner's cache in a temporary directory, not the user's ~/.cache."""
    os.environ.setdefault("BPROP_CACHE_DIR", str(tmp_path_factory.mktemp("bprop-cache")))
