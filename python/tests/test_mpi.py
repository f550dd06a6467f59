"""``fit`` under ``mpirun``: data-parallel training in a package built with the ``mpi``
feature, a clear refusal in one built without it.

The data-parallel tests are marked ``mpi`` and skipped unless the package was built with
the feature (``bprop._native.HAS_MPI``) and Open MPI's ``mpirun`` is on the PATH; the
refusal test runs only in a build without the feature. Every launch is bounded by
``timeout`` (a hang fails the test). ``mpi_fit.py`` is the script each rank runs.
"""

import os
import shutil
import subprocess
import sys

import numpy as np
import pytest

from bprop import _native

SCRIPT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "mpi_fit.py")
BOUND_S = 240

needs_mpirun = pytest.mark.skipif(shutil.which("mpirun") is None, reason="Open MPI's mpirun is not on the PATH")
needs_mpi_build = pytest.mark.skipif(
    not _native.HAS_MPI, reason="the package was built without the `mpi` feature"
)


def launch(tmp_path, ranks, mode, out):
    """Runs mpi_fit.py MODE in one process (ranks=None) or under mpirun -n RANKS."""
    env = dict(os.environ, BPROP_THREADS="1", PYTHONWARNINGS="ignore",
               # Open MPI's shared-memory files in the test's directory, not /dev/shm
               OMPI_MCA_btl_vader_backing_directory=str(tmp_path))
    cmd = [sys.executable, SCRIPT, mode, str(tmp_path / out)]
    if ranks is not None:
        cmd = ["mpirun", "--allow-run-as-root", "--oversubscribe", "-n", str(ranks)] + cmd
        env = {k: v for k, v in env.items() if not k.startswith(("OMPI_COMM_WORLD", "PMI_", "PMIX_"))}
        env["OMPI_MCA_btl_vader_backing_directory"] = str(tmp_path)
    return subprocess.run(["timeout", "-k", "10", str(BOUND_S)] + cmd, cwd=tmp_path, env=env,
                          stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=BOUND_S + 30)


def ok(result):
    assert result.returncode == 0, f"exit {result.returncode}\n{result.stdout}\n{result.stderr}"
    return result


@pytest.fixture(scope="module")
def single(tmp_path_factory):
    """One process's fit: the reference."""
    d = tmp_path_factory.mktemp("single")
    ok(launch(d, None, "fit", "one"))
    return np.load(d / "one0.npz")


@pytest.mark.mpi
@needs_mpirun
@needs_mpi_build
@pytest.mark.parametrize("ranks", [2, 3])
def test_mpirun_fit_is_one_process_fit(tmp_path, single, ranks):
    ok(launch(tmp_path, ranks, "fit", "rank"))
    got = [np.load(tmp_path / f"rank{r}.npz") for r in range(ranks)]
    assert [int(g["size"]) for g in got] == [ranks] * ranks
    assert int(single["size"]) == 1
    keys = [k for k in single.files if k != "size"]
    assert any(k.startswith("clf_w") for k in keys) and any(k.startswith("reg_w") for k in keys)
    for k in keys:
        ref = single[k]
        for r, g in enumerate(got):
            # every rank holds the same model, bit for bit
            np.testing.assert_array_equal(g[k], got[0][k], err_msg=f"{k}: rank {r} differs from rank 0")
        # the single process's, up to the order of the gradient's sums
        scale = float(np.max(np.abs(ref))) if ref.size else 0.0
        np.testing.assert_allclose(got[0][k], ref, rtol=1e-12, atol=1e-12 * scale, err_msg=k)


@pytest.mark.mpi
@needs_mpirun
@needs_mpi_build
def test_mpirun_without_random_state_trains_one_model(tmp_path):
    # each rank draws a seed of its own: rank 0's is used, as its initial parameters are
    ok(launch(tmp_path, 2, "seedless", "rank"))
    a, b = (np.load(tmp_path / f"rank{r}.npz") for r in range(2))
    assert int(a["size"]) == 2
    for k in a.files:
        np.testing.assert_array_equal(a[k], b[k], err_msg=k)


@pytest.mark.mpi
@needs_mpirun
@needs_mpi_build
def test_mpirun_ranks_given_other_data_get_a_typed_error(tmp_path):
    ok(launch(tmp_path, 3, "mismatch", "rank"))
    for r in range(3):
        message = (tmp_path / f"rank{r}.txt").read_text()
        assert message.startswith("BpropError"), message
        assert "rank 1" in message and "training data (X, y) differ" in message, message


def test_one_process_is_rank_0_of_1():
    import bprop

    assert (bprop.mpi_rank(), bprop.mpi_size()) == (0, 1)


@needs_mpirun
@pytest.mark.skipif(_native.HAS_MPI, reason="the package was built with the `mpi` feature")
def test_mpirun_refused_without_the_mpi_feature(tmp_path):
    # N copies that each trained a model of their own would be a silent error
    result = launch(tmp_path, 2, "fit", "rank")
    assert result.returncode != 0
    assert "ValueError" in result.stderr and "built without MPI" in result.stderr, result.stderr
    assert "--features mpi" in result.stderr
    assert not list(tmp_path.glob("rank*.npz"))
