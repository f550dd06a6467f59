"""Fitted state as a .bprop model file's bytes: pickling, copies, clones, joblib's
process workers, and model files shared with the CLI in both directions."""

import copy
import csv
import pickle
import subprocess

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

import bprop
from bprop import MLPClassifier, MLPRegressor


@pytest.fixture
def fitted(blobs):
    X, y = blobs
    labels = np.array(["a", "b", "c"])
    return MLPClassifier((8,), max_iter=20, backend="cpu", random_state=0).fit(X, labels[y]), X


def test_pickle_and_deepcopy_keep_the_numbers(fitted):
    clf, X = fitted
    for other in (pickle.loads(pickle.dumps(clf)), copy.deepcopy(clf)):
        np.testing.assert_array_equal(other.predict_proba(X), clf.predict_proba(X))
        np.testing.assert_array_equal(other.classes_, clf.classes_)
        assert other.loss_curve_ == clf.loss_curve_ and other.n_iter_ == clf.n_iter_
    # The network travels as a model file's bytes.
    blob = clf._model.to_bytes()
    assert blob == pickle.loads(pickle.dumps(clf))._model.to_bytes()
    assert bprop._native.Model.from_bytes(blob).sizes == [4, 8, 3]


def test_corrupt_bytes_are_refused(fitted):
    clf, _ = fitted
    blob = bytearray(clf._model.to_bytes())
    blob[-1] ^= 0xFF
    with pytest.raises(bprop.BpropError):
        bprop._native.Model.from_bytes(bytes(blob))
    with pytest.raises(bprop.BpropError):
        bprop._native.Model.from_bytes(b"\x01\x02")


def test_clone_is_unfitted_with_the_same_parameters(fitted):
    clf, _ = fitted
    c = clone(clf)
    assert c.get_params() == clf.get_params()
    assert not hasattr(c, "_model") and not hasattr(c, "classes_")


def test_grid_search_in_process_workers(blobs):
    X, y = blobs
    pipe = make_pipeline(StandardScaler(), MLPClassifier(max_iter=30, backend="cpu", random_state=0))
    search = GridSearchCV(
        pipe,
        {"mlpclassifier__hidden_layer_sizes": [(4,), (16,)], "mlpclassifier__learning_rate_init": [0.001, 0.01]},
        cv=3,
        n_jobs=2,
    )
    search.fit(X, y)
    assert search.best_score_ > 0.9
    assert len(search.cv_results_["params"]) == 4
    assert search.predict(X).shape == (150,)


def test_save_and_load(tmp_path, fitted):
    clf, X = fitted
    path = tmp_path / "m.bprop"
    assert clf.save(path) is clf
    again = bprop.load(path)
    assert isinstance(again, MLPClassifier)
    np.testing.assert_array_equal(again.predict_proba(X), clf.predict_proba(X))
    np.testing.assert_array_equal(again.classes_, clf.classes_)
    np.testing.assert_array_equal(again.predict(X), clf.predict(X))
    assert again.hidden_layer_sizes == (8,) and again.n_features_in_ == 4
    reg = MLPRegressor((4,), max_iter=5, backend="cpu", random_state=0).fit(X, X[:, 0])
    reg.save(tmp_path / "r.bprop")
    back = bprop.load(tmp_path / "r.bprop")
    assert isinstance(back, MLPRegressor)
    np.testing.assert_array_equal(back.predict(X), reg.predict(X))
    with pytest.raises(OSError):
        bprop.load(tmp_path / "missing.bprop")


def write_csv(path, X, y):
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow([f"x{j}" for j in range(X.shape[1])] + ["label"])
        for row, label in zip(X, y):
            w.writerow([repr(float(v)) for v in row] + [label])


def read_predictions(path):
    with open(path) as f:
        rows = list(csv.reader(f))
    return rows[0], [r[0] for r in rows[1:]], np.array([[float(v) for v in r[1:]] for r in rows[1:]])


def test_cli_model_predicts_the_same_in_python(tmp_path, bprop_cli, blobs):
    X, y = blobs
    names = np.array(["red", "green", "blue"])
    data = tmp_path / "train.csv"
    write_csv(data, X, names[y])
    model = tmp_path / "cli.bprop"
    subprocess.run(
        [bprop_cli, "train", str(data), "--epochs", "5", "--layers", "6", "--backend", "cpu", "-o", str(model)],
        check=True, capture_output=True,
    )
    out = tmp_path / "pred.csv"
    subprocess.run([bprop_cli, "predict", str(model), str(data), "-o", str(out)], check=True, capture_output=True)
    header, labels, proba = read_predictions(out)
    clf = bprop.load(model)
    assert isinstance(clf, MLPClassifier)
    assert header[1:] == [f"p_{c}" for c in clf.classes_]
    # The CLI standardized the CSV's columns; the model carries that scaling.
    assert clf._model.has_scaling
    # The CLI trains in f32 and prints each f32 in its shortest form: read back as f32.
    assert clf._model.precision == "float32"
    np.testing.assert_array_equal(clf.predict_proba(X).astype(np.float32), proba.astype(np.float32))
    assert list(clf.predict(X)) == labels


def test_python_model_predicts_the_same_in_the_cli(tmp_path, bprop_cli, blobs):
    X, y = blobs
    names = np.array(["red", "green", "blue"])
    clf = MLPClassifier((6,), max_iter=10, backend="cpu", random_state=0).fit(X, names[y])
    model = tmp_path / "py.bprop"
    clf.save(model)
    data = tmp_path / "test.csv"
    with open(data, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow([f"x{j}" for j in range(4)])
        w.writerows([[repr(float(v)) for v in row] for row in X])
    out = tmp_path / "pred.csv"
    subprocess.run([bprop_cli, "predict", str(model), str(data), "-o", str(out)], check=True, capture_output=True)
    header, labels, proba = read_predictions(out)
    assert header[1:] == [f"p_{c}" for c in clf.classes_]
    np.testing.assert_array_equal(clf.predict_proba(X), proba)
    assert list(clf.predict(X)) == labels
    info = subprocess.run([bprop_cli, "info", str(model)], check=True, capture_output=True, text=True)
    assert "4-6-3" in info.stdout or "6" in info.stdout


def test_cli_and_python_train_the_same_network_from_the_same_settings(tmp_path, bprop_cli, blobs):
    # Both resolve their settings through the library's TrainPlan: the same layers,
    # optimizer, learning rate, batch, epochs and seed give the same weights, bit for bit.
    X, y = blobs
    names = np.array(["blue", "green", "red"])
    data = tmp_path / "train.csv"
    write_csv(data, X, names[y])
    model = tmp_path / "cli.bprop"
    subprocess.run(
        [bprop_cli, "train", str(data), "--layers", "6", "--optimizer", "adam", "--lr", "0.01",
         "--batch-size", "10", "--epochs", "4", "--seed", "3", "--validation", "0", "--scale", "none",
         "--precision", "f64", "--backend", "cpu", "-o", str(model)],
        check=True, capture_output=True,
    )
    cli = bprop.load(model)
    py = MLPClassifier((6,), solver="adam", learning_rate_init=0.01, batch_size=10, max_iter=4,
                       random_state=3, alpha=0.0, tol=-np.inf, backend="cpu").fit(X, names[y])
    np.testing.assert_array_equal(cli.classes_, py.classes_)
    for a, b in zip(cli.coefs_ + cli.intercepts_, py.coefs_ + py.intercepts_):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(cli.loss_curve_, py.loss_curve_)
