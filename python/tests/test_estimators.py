"""The estimators' behaviour on both paths: fitting, prediction, labels, fitted
attributes in scikit-learn's layout, partial_fit and warm starts, and errors."""

import numpy as np
import pytest
from sklearn.exceptions import NotFittedError

import bprop
from bprop import MLPClassifier, MLPRegressor


def softmax(z):
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def forward(est, X):
    """The network's outputs computed here from coefs_ and intercepts_ (scikit-learn's layout)."""
    a = np.asarray(X, dtype=np.float64)
    for W, b in zip(est.coefs_[:-1], est.intercepts_[:-1]):
        a = np.maximum(a @ W + b, 0.0)
    return a @ est.coefs_[-1] + est.intercepts_[-1]


@pytest.mark.parametrize("backend", ["cpu", "gpu"])
def test_classifier_learns_on_both_paths(blobs, backend):
    X, y = blobs
    clf = MLPClassifier((16,), learning_rate_init=0.01, max_iter=100, backend=backend, random_state=0)
    assert clf.fit(X, y) is clf
    assert clf.score(X, y) > 0.95
    assert ("GPU path" in clf.backend_) == (backend == "gpu")
    assert clf.n_iter_ == len(clf.loss_curve_) >= 1
    assert clf.loss_ == clf.loss_curve_[-1]
    assert clf.best_loss_ == min(clf.loss_curve_)
    p = clf.predict_proba(X)
    np.testing.assert_allclose(p.sum(axis=1), 1.0, rtol=1e-12)
    np.testing.assert_allclose(np.exp(clf.predict_log_proba(X)), p, rtol=1e-12)


def test_gpu_and_cpu_train_the_same_network(blobs):
    X, y = blobs
    kw = dict(hidden_layer_sizes=(8,), learning_rate_init=0.01, max_iter=20, random_state=3, tol=-np.inf)
    cpu = MLPClassifier(backend="cpu", **kw).fit(X, y)
    gpu = MLPClassifier(backend="gpu", **kw).fit(X, y)
    assert "GPU path" in gpu.backend_ and "CPU path" in cpu.backend_
    for a, b in zip(cpu.coefs_, gpu.coefs_):
        np.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(cpu.loss_curve_, gpu.loss_curve_, rtol=1e-9)
    # Prediction on the GPU (backend="gpu") against the CPU path's.
    np.testing.assert_allclose(gpu.predict_proba(X), cpu.predict_proba(X), rtol=1e-9, atol=1e-12)


def test_cross_check_runs_on_the_gpu(blobs):
    X, y = blobs
    clf = MLPClassifier((8,), max_iter=3, backend="gpu", cross_check=4, random_state=0).fit(X, y)
    assert any("cross-check" in n.lower() or "pass" in n.lower() for n in clf.notes_), clf.notes_


def test_coefs_are_in_sklearns_layout(blobs):
    X, y = blobs
    clf = MLPClassifier((7, 5), max_iter=5, backend="cpu", random_state=0).fit(X, y)
    assert [W.shape for W in clf.coefs_] == [(4, 7), (7, 5), (5, 3)]
    assert [b.shape for b in clf.intercepts_] == [(7,), (5,), (3,)]
    assert clf.n_layers_ == 4 and clf.n_outputs_ == 3 and clf.out_activation_ == "softmax"
    np.testing.assert_allclose(softmax(forward(clf, X)), clf.predict_proba(X), rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize(
    "labels",
    [
        np.array(["cat", "dog", "eel"]),
        np.array([10, 20, 30]),
        np.array([-1.0, 0.0, 2.0]),
    ],
)
def test_class_labels_of_any_type(blobs, labels):
    X, y = blobs
    clf = MLPClassifier((16,), learning_rate_init=0.01, max_iter=100, backend="cpu", random_state=0)
    clf.fit(X, labels[y])
    np.testing.assert_array_equal(clf.classes_, labels)
    assert clf.predict(X).dtype == labels.dtype
    assert (clf.predict(X) == labels[y]).mean() > 0.95


def test_binary_boolean_labels(blobs):
    X, y = blobs
    target = y == 1
    clf = MLPClassifier((16,), learning_rate_init=0.01, max_iter=100, backend="cpu", random_state=0).fit(X, target)
    np.testing.assert_array_equal(clf.classes_, [False, True])
    assert clf.n_outputs_ == 1 and clf.out_activation_ == "logistic"
    assert clf.predict_proba(X).shape == (150, 2)
    assert clf.predict(X).dtype == bool
    assert clf.score(X, target) > 0.95


def test_multilabel(blobs):
    X, y = blobs
    Y = np.column_stack([y == 0, y != 1, y == 2]).astype(int)
    clf = MLPClassifier((16,), learning_rate_init=0.01, max_iter=150, backend="cpu", random_state=0).fit(X, Y)
    np.testing.assert_array_equal(clf.classes_, [0, 1, 2])
    assert clf.out_activation_ == "logistic"
    pred = clf.predict(X)
    assert pred.shape == Y.shape and pred.dtype == Y.dtype
    assert (pred == Y).mean() > 0.95
    p = clf.predict_proba(X)
    assert p.shape == Y.shape and ((0 <= p) & (p <= 1)).all()


@pytest.mark.parametrize("backend", ["cpu", "gpu"])
def test_regressor_single_and_multi_output(backend):
    rng = np.random.RandomState(1)
    X = rng.uniform(-1, 1, size=(200, 3))
    Y = np.column_stack([X[:, 0] + X[:, 1], X[:, 2] - X[:, 0]])
    reg = MLPRegressor((32,), learning_rate_init=0.01, max_iter=200, backend=backend, random_state=0)
    reg.fit(X, Y[:, 0])
    assert reg.predict(X).shape == (200,) and reg.n_outputs_ == 1
    assert reg.score(X, Y[:, 0]) > 0.9
    reg.fit(X, Y)
    assert reg.predict(X).shape == (200, 2) and reg.n_outputs_ == 2
    assert reg.score(X, Y) > 0.9
    assert reg.out_activation_ == "identity"
    np.testing.assert_allclose(forward(reg, X), reg.predict(X), rtol=1e-10, atol=1e-12)


def test_precision_follows_the_input_and_the_parameter(blobs):
    X, y = blobs
    X32 = X.astype(np.float32)
    clf = MLPClassifier((8,), max_iter=3, backend="cpu", random_state=0).fit(X32, y)
    assert clf._model.precision == "float32" and "f32" in clf.backend_
    clf = MLPClassifier((8,), max_iter=3, backend="cpu", random_state=0).fit(X, y)
    assert clf._model.precision == "float64"
    clf = MLPClassifier((8,), max_iter=3, backend="cpu", precision="float32", random_state=0).fit(X, y)
    assert clf._model.precision == "float32"
    # Integer input is converted.
    clf = MLPClassifier((8,), max_iter=3, backend="cpu", random_state=0).fit((X * 10).astype(int), y)
    assert clf._model.precision == "float64"


def test_same_seed_same_network_and_different_seeds_differ(blobs):
    X, y = blobs
    fit = lambda rs: MLPClassifier((8,), max_iter=5, backend="cpu", random_state=rs).fit(X, y)
    a, b, c = fit(5), fit(5), fit(6)
    np.testing.assert_array_equal(a.coefs_[0], b.coefs_[0])
    assert not np.array_equal(a.coefs_[0], c.coefs_[0])


def test_settings_resolve_as_the_library_does(blobs):
    X, y = blobs
    # irprop- trains on the whole set; sgd with and without momentum; adamw; a schedule;
    # dropout and max-norm.
    for kw in [
        dict(solver="irprop-"),
        dict(solver="sgd", momentum=0.0, learning_rate_init=0.1),
        dict(solver="sgd", momentum=0.9, nesterovs_momentum=False, learning_rate_init=0.05),
        dict(solver="adamw", alpha=0.01, learning_rate_init=0.01),
        dict(learning_rate="cosine", learning_rate_init=0.01),
        dict(dropout=0.1, max_norm=3.0, learning_rate_init=0.01),
    ]:
        clf = MLPClassifier((16,), max_iter=150, backend="cpu", random_state=0, **kw).fit(X, y)
        assert clf.score(X, y) > 0.9, kw


def test_tol_stops_training_and_max_iter_warns(blobs):
    X, y = blobs
    with pytest.warns(Warning, match="Maximum iterations"):
        clf = MLPClassifier((8,), max_iter=5, backend="cpu", random_state=0, tol=-np.inf).fit(X, y)
    assert clf.n_iter_ == 5
    # A tol no epoch can beat: the first epoch sets the best loss, the next
    # n_iter_no_change + 1 fail to beat it (scikit-learn's count).
    clf = MLPClassifier((8,), max_iter=100, tol=1e9, n_iter_no_change=3, backend="cpu", random_state=0).fit(X, y)
    assert clf.n_iter_ == 5


def test_early_stopping_keeps_validation_scores():
    # Labels that are noise: the validation loss soon rises.
    rng = np.random.RandomState(0)
    X, y = rng.randn(200, 4), rng.randint(0, 3, 200)
    clf = MLPClassifier(
        (64,), early_stopping=True, validation_fraction=0.2, n_iter_no_change=2, max_iter=300,
        learning_rate_init=0.05, backend="cpu", random_state=0,
    ).fit(X, y)
    assert clf.best_loss_ is None
    assert len(clf.validation_scores_) == clf.n_iter_ < 300
    assert all(0 <= s <= 1 for s in clf.validation_scores_)
    assert clf.best_validation_score_ == max(clf.validation_scores_)


def test_partial_fit_continues_and_counts_epochs(blobs):
    X, y = blobs
    clf = MLPClassifier((16,), learning_rate_init=0.01, backend="cpu", random_state=0)
    with pytest.raises(ValueError, match="classes"):
        clf.partial_fit(X, y)
    clf.partial_fit(X[:20], y[:20], classes=[0, 1, 2])
    assert clf.n_iter_ == 1 and len(clf.loss_curve_) == 1
    for _ in range(60):
        clf.partial_fit(X, y)
    assert clf.n_iter_ == 61 and len(clf.loss_curve_) == 61
    assert clf.score(X, y) > 0.95
    reg = MLPRegressor((8,), backend="cpu", random_state=0)
    reg.partial_fit(X, X[:, 0])
    reg.partial_fit(X, X[:, 0])
    assert reg.n_iter_ == 2
    with pytest.raises(AttributeError, match="partial_fit"):
        MLPClassifier(solver="irprop-").partial_fit


def test_warm_start_continues_from_the_fitted_network(blobs):
    X, y = blobs
    kw = dict(hidden_layer_sizes=(8,), max_iter=4, tol=-np.inf, backend="cpu", random_state=0)
    once = MLPClassifier(**kw, warm_start=True).fit(X, y)
    first = once.coefs_[0].copy()
    once.fit(X, y)
    assert once.n_iter_ == 8 and len(once.loss_curve_) == 8
    assert not np.array_equal(first, once.coefs_[0])
    # Two warm-started fits of 4 epochs are one run of 8 (bprop resumes bit for bit).
    eight = MLPClassifier(**{**kw, "max_iter": 8}).fit(X, y)
    np.testing.assert_array_equal(once.coefs_[0], eight.coefs_[0])


def test_feature_names_from_a_dataframe(blobs):
    pd = pytest.importorskip("pandas")
    X, y = blobs
    df = pd.DataFrame(X, columns=["a", "b", "c", "d"])
    clf = MLPClassifier((8,), max_iter=3, backend="cpu", random_state=0).fit(df, y)
    np.testing.assert_array_equal(clf.feature_names_in_, ["a", "b", "c", "d"])
    assert clf.n_features_in_ == 4
    with pytest.raises(ValueError, match="feature names"):
        clf.predict(df[["d", "c", "b", "a"]].rename(columns=str.upper))


def test_bad_input_gets_sklearns_errors(blobs):
    X, y = blobs
    clf = MLPClassifier((8,), max_iter=3, backend="cpu", random_state=0)
    with pytest.raises(NotFittedError):
        clf.predict(X)
    bad = X.copy()
    bad[3, 1] = np.nan
    with pytest.raises(ValueError, match="Input X contains NaN"):
        clf.fit(bad, y)
    bad[3, 1] = np.inf
    with pytest.raises(ValueError, match="Input X contains infinity"):
        clf.fit(bad, y)
    with pytest.raises(ValueError, match="2 classes"):
        clf.fit(X, np.zeros(len(y)))
    with pytest.raises(ValueError, match="Found array with dim 3"):
        clf.fit(X.reshape(150, 2, 2), y)
    with pytest.raises(ValueError, match="Unknown label type"):
        clf.fit(X, np.linspace(0, 1, len(y)))
    clf.fit(X, y)
    with pytest.raises(ValueError, match="X has 3 features, but MLPClassifier is expecting 4 features"):
        clf.predict(X[:, :3])
    with pytest.raises(ValueError, match="activation"):
        MLPClassifier(activation="swish").fit(X, y)
    with pytest.raises(ValueError, match="solver"):
        MLPClassifier(solver="lbfgs").fit(X, y)
    with pytest.raises(ValueError, match="learning_rate"):
        MLPClassifier(learning_rate="invscaling").fit(X, y)
    with pytest.raises(ValueError, match="backend"):
        MLPClassifier(backend="tpu").fit(X, y)


def test_devices_and_explain(blobs):
    d = bprop.devices()
    assert d["adapters"], "no GPU adapter found (CI installs lavapipe)"
    assert d["auto"] != "cpu"
    e = bprop.explain()
    assert e["title"].startswith("Backpropagation step by step: the seed's 2-2-1 network")
    X, y = blobs
    clf = MLPClassifier((3,), max_iter=3, backend="cpu", random_state=0).fit(X, y)
    before = clf.coefs_[0].copy()
    e = bprop.explain(clf, X[:2], y[:2], steps=2, learning_rate=0.1, gpu=True)
    assert len(e["steps"]) == 2 and e["gpu"] is not None
    np.testing.assert_array_equal(before, clf.coefs_[0])
    with pytest.raises(ValueError, match="max_weights|--max-weights|weights"):
        bprop.explain(MLPClassifier((100,), max_iter=1, backend="cpu").fit(X, y), X[:1], y[:1])


def test_thread_count_changes_no_result(blobs):
    X, y = blobs
    kw = dict(hidden_layer_sizes=(128,), batch_size=64, max_iter=3, tol=-np.inf, backend="cpu", random_state=0)
    try:
        bprop.set_threads(1)
        one = MLPClassifier(**kw).fit(X, y)
        bprop.set_threads(2)
        two = MLPClassifier(**kw).fit(X, y)
    finally:
        bprop.set_threads(2)
    np.testing.assert_array_equal(one.coefs_[0], two.coefs_[0])
    with pytest.raises(ValueError, match="threads"):
        bprop.set_threads(0)
