"""scikit-learn estimators over bprop's library (the ``_native`` extension).

Everything about training (settings and their defaults, backends, the cross-check, the
fallback from the GPU path, the training loop) is the library's: settings go through
``bprop::driver::TrainPlan`` as ``bprop train``'s flags do. This module adds
scikit-learn's conventions: input validation with scikit-learn's own functions and
messages, label encoding, the ``tol`` stopping rule, the fitted attributes.
"""

import json
import numbers
import warnings

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils import check_random_state
from sklearn.utils.metaestimators import available_if
from sklearn.utils.multiclass import check_classification_targets, type_of_target, unique_labels
from sklearn.utils.validation import check_is_fitted, column_or_1d, validate_data

from . import _native

# scikit-learn's activation names, and bprop's for the same functions.
_ACTIVATIONS = {
    "identity": "identity",
    "logistic": "sigmoid",
    "sigmoid": "sigmoid",
    "tanh": "tanh",
    "relu": "relu",
}
# bprop's output activations under scikit-learn's names (``out_activation_``).
_OUT_NAMES = {"sigmoid": "logistic", "softmax": "softmax", "identity": "identity"}
_SOLVERS = ("sgd", "adam", "adamw", "irprop-")


def _incremental_solver(est):
    if est.solver not in ("sgd", "adam", "adamw"):
        raise AttributeError(
            "partial_fit is only available for stochastic solvers ('sgd', 'adam', 'adamw'), "
            f"not {est.solver!r}"
        )
    return True


class _BaseMLP(BaseEstimator):
    """What the classifier and the regressor share: parameters, fitting, prediction."""

    def __init__(
        self,
        hidden_layer_sizes=(100,),
        activation="relu",
        *,
        solver="adam",
        alpha=0.0001,
        batch_size="auto",
        learning_rate="constant",
        learning_rate_init=0.001,
        max_iter=200,
        shuffle=True,
        random_state=None,
        tol=1e-4,
        verbose=False,
        warm_start=False,
        momentum=0.9,
        nesterovs_momentum=True,
        early_stopping=False,
        validation_fraction=0.1,
        beta_1=0.9,
        beta_2=0.999,
        epsilon=1e-8,
        n_iter_no_change=10,
        backend="auto",
        precision=None,
        dropout=None,
        max_norm=None,
        cross_check=None,
    ):
        self.hidden_layer_sizes = hidden_layer_sizes
        self.activation = activation
        self.solver = solver
        self.alpha = alpha
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.learning_rate_init = learning_rate_init
        self.max_iter = max_iter
        self.shuffle = shuffle
        self.random_state = random_state
        self.tol = tol
        self.verbose = verbose
        self.warm_start = warm_start
        self.momentum = momentum
        self.nesterovs_momentum = nesterovs_momentum
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.beta_1 = beta_1
        self.beta_2 = beta_2
        self.epsilon = epsilon
        self.n_iter_no_change = n_iter_no_change
        self.backend = backend
        self.precision = precision
        self.dropout = dropout
        self.max_norm = max_norm
        self.cross_check = cross_check

    # --- parameters -------------------------------------------------------------------

    def _hidden(self):
        h = self.hidden_layer_sizes
        if isinstance(h, numbers.Integral):
            h = [h]
        try:
            h = [int(v) for v in h]
        except TypeError:
            raise ValueError(f"hidden_layer_sizes must be an int or a sequence of ints, got {h!r}.")
        if any(v <= 0 for v in h):
            raise ValueError(f"hidden_layer_sizes must be > 0, got {list(h)}.")
        return h

    def _check_params(self):
        if self.activation not in _ACTIVATIONS:
            raise ValueError(
                f"activation = {self.activation!r}: expected one of {sorted(_ACTIVATIONS)}."
            )
        if self.solver not in _SOLVERS:
            raise ValueError(
                f"solver = {self.solver!r}: expected one of {list(_SOLVERS)} (bprop has no 'lbfgs')."
            )
        if self.backend not in ("auto", "gpu", "cpu"):
            raise ValueError(f"backend = {self.backend!r}: expected 'auto', 'gpu' or 'cpu'.")
        if self.precision not in (None, "float32", "float64"):
            raise ValueError(f"precision = {self.precision!r}: expected None, 'float32' or 'float64'.")
        if not (isinstance(self.max_iter, numbers.Integral) and self.max_iter >= 1):
            raise ValueError(f"max_iter must be an integer >= 1, got {self.max_iter!r}.")
        if not (isinstance(self.n_iter_no_change, numbers.Integral) and self.n_iter_no_change >= 1):
            raise ValueError(f"n_iter_no_change must be an integer >= 1, got {self.n_iter_no_change!r}.")
        if not (0 < self.validation_fraction < 1):
            raise ValueError(f"validation_fraction must be in (0, 1), got {self.validation_fraction!r}.")
        if self.alpha < 0:
            raise ValueError(f"alpha must be >= 0, got {self.alpha!r}.")
        if self.learning_rate_init <= 0:
            raise ValueError(f"learning_rate_init must be > 0, got {self.learning_rate_init!r}.")
        if self.batch_size != "auto" and not (
            isinstance(self.batch_size, numbers.Integral) and self.batch_size >= 1
        ):
            raise ValueError(f"batch_size must be 'auto' or an integer >= 1, got {self.batch_size!r}.")

    def _seed(self):
        rs = self.random_state
        if isinstance(rs, numbers.Integral) and not isinstance(rs, bool):
            return int(rs) % (2**63)
        return int(check_random_state(rs).randint(np.iinfo(np.int32).max))

    def _dtype(self, X):
        if self.precision is not None:
            return np.dtype(self.precision)
        # As scikit-learn's MLPs: float32 input trains in float32, anything else in float64.
        return [np.float64, np.float32]

    def _predict_backend(self):
        # Prediction runs where asked for explicitly; under "auto" on the CPU path, which
        # reads the caller's array in place (a GPU round trip costs more than it saves for
        # the batch sizes prediction usually sees).
        return "gpu" if self.backend == "gpu" else "cpu"

    # --- validation -------------------------------------------------------------------

    def _validate(self, X, y, reset):
        X, y = validate_data(
            self,
            X,
            y,
            reset=reset,
            multi_output=True,
            dtype=self._dtype(X),
            order="C",
        )
        if y.ndim == 2 and y.shape[1] == 1:
            y = column_or_1d(y, warn=True)
        return X, y

    def _validate_X(self, X):
        check_is_fitted(self, "_model")
        return validate_data(self, X, reset=False, dtype=np.dtype(self._model.precision), order="C")

    # --- fitting ----------------------------------------------------------------------

    def _batch(self, n):
        if self.batch_size == "auto":
            return min(200, n)
        if self.batch_size > n:
            warnings.warn("Got `batch_size` less than 1 or larger than sample size. It is going to be clipped")
        return int(np.clip(self.batch_size, 1, n))

    def _train(self, X, Y, task, output, labels, partial, warm):
        """Runs the library's training on validated X and encoded Y; sets the fitted state."""
        self._check_params()
        curve = list(self.loss_curve_) if warm is not None and hasattr(self, "loss_curve_") else []
        scores = list(getattr(self, "validation_scores_", None) or []) if warm is not None else []
        state = {"best": np.inf, "count": 0, "converged": False}
        early = self.early_stopping and not partial
        y_var = float(np.mean(np.var(Y, axis=0))) if task == "regression" else None
        # Under mpirun only rank 0 prints, as `bprop train` does.
        verbose = self.verbose and (not _native.HAS_MPI or _native.mpi_rank() == 0)

        def on_epoch(epoch, loss, val_loss, val_acc):
            curve.append(loss)
            if val_loss is not None:
                if val_acc is not None and task == "classification":
                    scores.append(val_acc)
                elif y_var:
                    # R² from the validation MSE and the targets' variance.
                    scores.append(1.0 - val_loss / y_var)
            if verbose:
                print(f"Iteration {epoch}, loss = {loss:.8f}")
            if early or partial:
                return False
            # scikit-learn's rule: stop after n_iter_no_change epochs in a row whose loss
            # is not below the best by tol.
            if loss > state["best"] - self.tol:
                state["count"] += 1
            else:
                state["count"] = 0
            state["best"] = min(state["best"], loss)
            if state["count"] > self.n_iter_no_change:
                state["converged"] = True
                if verbose:
                    print(
                        f"Training loss did not improve more than tol={self.tol} for "
                        f"{self.n_iter_no_change} consecutive epochs. Stopping."
                    )
                return True
            return False

        names = getattr(self, "feature_names_in_", None)
        model, report = _native.fit(
            X,
            np.ascontiguousarray(Y, dtype=np.float64),
            task=task,
            hidden_layer_sizes=self._hidden(),
            activation=_ACTIVATIONS[self.activation],
            output=output,
            solver=self.solver,
            alpha=float(self.alpha),
            batch_size=None if self.solver == "irprop-" else self._batch(X.shape[0]),
            learning_rate_init=float(self.learning_rate_init),
            learning_rate=str(self.learning_rate),
            momentum=float(self.momentum),
            nesterovs_momentum=bool(self.nesterovs_momentum),
            beta_1=float(self.beta_1),
            beta_2=float(self.beta_2),
            epsilon=float(self.epsilon),
            max_iter=1 if partial else int(self.max_iter),
            early_stopping=bool(self.early_stopping),
            validation_fraction=float(self.validation_fraction),
            n_iter_no_change=int(self.n_iter_no_change),
            seed=self._seed() if warm is None else 0,
            shuffle=bool(self.shuffle),
            backend=self.backend,
            dropout=None if self.dropout is None else float(self.dropout),
            max_norm=None if self.max_norm is None else float(self.max_norm),
            cross_check=None if self.cross_check is None else int(self.cross_check),
            labels=labels,
            input_names=None if names is None else [str(n) for n in names],
            warm=warm,
            partial=partial,
            callback=on_epoch,
        )
        self._model = model
        self.backend_ = report["backend"]
        self.notes_ = list(report["notes"])
        self.loss_curve_ = curve
        self.loss_ = curve[-1]
        self.n_iter_ = report["epochs"][-1][0] if report["epochs"] else getattr(self, "n_iter_", 0)
        self.t_ = int(report["steps"]) * (X.shape[0] if self.solver == "irprop-" else self._batch(X.shape[0]))
        if early:
            self.validation_scores_ = scores
            self.best_validation_score_ = max(scores) if scores else None
            self.best_loss_ = None
        else:
            self.validation_scores_ = None
            self.best_validation_score_ = None
            self.best_loss_ = min(curve)
        sizes = model.sizes
        self.n_layers_ = len(sizes)
        self.n_outputs_ = sizes[-1]
        self.out_activation_ = _OUT_NAMES.get(model.activations[-1], model.activations[-1])
        if not partial and not early and not state["converged"] and len(report["epochs"]) >= self.max_iter:
            warnings.warn(
                f"Stochastic Optimizer: Maximum iterations ({self.max_iter}) reached and the "
                "optimization hasn't converged yet.",
                ConvergenceWarning,
            )
        return self

    def _warm(self, incremental):
        if (incremental or self.warm_start) and hasattr(self, "_model"):
            return self._model
        return None

    # --- fitted state -----------------------------------------------------------------

    @property
    def coefs_(self):
        """The weights of each layer, (fan_in, fan_out) float64 arrays (copies)."""
        check_is_fitted(self, "_model")
        return self._model.coefs()

    @property
    def intercepts_(self):
        """The biases of each layer, float64 arrays (copies)."""
        check_is_fitted(self, "_model")
        return self._model.intercepts()

    def _outputs(self, X):
        X = self._validate_X(X)
        return np.asarray(self._model.predict(X, self._predict_backend()), dtype=np.float64)

    def save(self, path):
        """Write the fitted network as a ``.bprop`` model file (atomically).

        The file is the one ``bprop train -o`` writes: ``bprop predict``, ``bprop eval``,
        ``bprop info`` and ``bprop export`` read it, and :func:`bprop.load` reads it back.

        Parameters
        ----------
        path : str or path-like
            Where to write.

        Returns
        -------
        self
        """
        check_is_fitted(self, "_model")
        self._model.write(str(path))
        return self

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = False
        return tags


_PARAMS_DOC = """
    Parameters
    ----------
    hidden_layer_sizes : int or tuple of int, default=(100,)
        Units of each hidden layer, from the input side.
    activation : {"identity", "logistic", "tanh", "relu"}, default="relu"
        The hidden layers' activation ("sigmoid" is accepted for "logistic").
    solver : {"adam", "sgd", "adamw", "irprop-"}, default="adam"
        The update rule. "sgd" uses ``momentum`` (Nesterov's when
        ``nesterovs_momentum``); "adamw" is Adam with ``alpha`` as decoupled weight
        decay; "irprop-" is full-batch iRPROP− (``batch_size`` and
        ``learning_rate_init`` are then ignored). There is no "lbfgs".
    alpha : float, default=0.0001
        L2 penalty, as scikit-learn's: a gradient term ``alpha / batch_size * W``
        (AdamW: the decoupled decay).
    batch_size : int or "auto", default="auto"
        Samples per step; "auto" is ``min(200, n_samples)``. Each epoch runs
        ``n_samples // batch_size`` full batches (scikit-learn also runs the partial last
        one).
    learning_rate : str, default="constant"
        The schedule: "constant", or bprop's "cosine[:MIN_LR]", "step:EPOCHS[:GAMMA]",
        "exponential:GAMMA" (scikit-learn's "invscaling" and "adaptive" are refused).
    learning_rate_init : float, default=0.001
        The base learning rate.
    max_iter : int, default=200
        Epochs (at most).
    shuffle : bool, default=True
        Shuffle the samples each epoch (ChaCha8 seeded from ``random_state``).
    random_state : int, RandomState instance or None, default=None
        Seed of the initial weights, the shuffling, the dropout masks and the validation
        split. The same int gives the same network on the same backend.
    tol : float, default=1e-4
        Without early stopping, training stops once the loss has not improved by ``tol``
        for ``n_iter_no_change`` consecutive epochs (scikit-learn's rule).
    verbose : bool, default=False
        Print each epoch's loss.
    warm_start : bool, default=False
        ``fit`` continues from the fitted network and optimizer state (the settings of
        the first fit are kept: bprop resumes a run as ``bprop train --resume`` does).
    momentum : float, default=0.9
        Momentum of "sgd".
    nesterovs_momentum : bool, default=True
        Nesterov's momentum for "sgd".
    early_stopping : bool, default=False
        Hold out ``validation_fraction`` of the data and stop when its loss has not
        improved for ``n_iter_no_change`` epochs, keeping the best epoch's network
        (bprop's rule: on the validation loss, not the score; ``tol`` is not used).
    validation_fraction : float, default=0.1
        Fraction held out under ``early_stopping``.
    beta_1, beta_2, epsilon : float, default=0.9, 0.999, 1e-8
        Adam's constants.
    n_iter_no_change : int, default=10
        Epochs without improvement before stopping.
    backend : {"auto", "gpu", "cpu"}, default="auto"
        Where to train: "auto" uses a GPU adapter when one opens (a hardware GPU before a
        software one) and continues on the CPU path from the last checkpoint if the GPU
        fails; "gpu" fails without one. Prediction runs on the GPU only under "gpu".
    precision : {None, "float32", "float64"}, default=None
        The arithmetic; None: float32 for float32 ``X``, float64 otherwise (as
        scikit-learn's MLPs keep float32). C-contiguous input of this dtype is read
        without a conversion.
    dropout : float or None, default=None
        Dropout probability on the hidden layers' outputs during training.
    max_norm : float or None, default=None
        Max-norm bound on each neuron's incoming weights.
    cross_check : int or None, default=None
        When training on the GPU, first run this many steps (0: one epoch) on both paths
        from the same state and compare them step by step; a mismatch raises
        :class:`bprop.BpropError`. The report is in ``notes_``.
"""

_ATTRS_DOC = """
    loss_ : float
        The last epoch's mean training loss.
    best_loss_ : float or None
        The smallest epoch loss (None under early stopping).
    loss_curve_ : list of float
        Each epoch's mean training loss.
    validation_scores_ : list of float or None
        Under early stopping, each epoch's validation score.
    best_validation_score_ : float or None
        The best of ``validation_scores_``.
    t_ : int
        Samples seen in training steps.
    coefs_ : list of ndarray of shape (fan_in, fan_out)
        The weights (float64 copies: writing to them does not change the network).
    intercepts_ : list of ndarray of shape (fan_out,)
        The biases (float64 copies).
    n_features_in_ : int
        Number of features seen during fit.
    feature_names_in_ : ndarray of shape (n_features_in_,)
        Names of features seen during fit, when ``X`` had string column names.
    n_iter_ : int
        Epochs run, over all ``partial_fit`` and warm-started calls.
    n_layers_ : int
        Layers including the input and output layers.
    n_outputs_ : int
        Outputs of the network.
    out_activation_ : str
        The output activation.
    backend_ : str
        The path that finished training (the GPU adapter, or the CPU path).
    notes_ : list of str
        What the user should know: a fallback to the CPU path and its reason, the
        cross-check's report.
"""


class MLPClassifier(ClassifierMixin, _BaseMLP):
    __doc__ = (
        """Multi-layer perceptron classifier trained by bprop (GPU or CPU path).

    A drop-in replacement for :class:`sklearn.neural_network.MLPClassifier`: the same
    parameters where the meaning is the same, plus bprop's ``backend``, ``precision``,
    ``dropout``, ``max_norm`` and ``cross_check``. Several classes train a softmax
    output with cross-entropy, two classes one logistic output with binary
    cross-entropy, multi-label indicator targets one logistic output per label.
"""
        + _PARAMS_DOC
        + """
    Attributes
    ----------
    classes_ : ndarray or list of ndarray
        Class labels.
"""
        + _ATTRS_DOC
        + """
    Notes
    -----
    The GIL is released while training and predicting. Ctrl-C (``KeyboardInterrupt``)
    stops ``fit`` and ``partial_fit`` at the end of the epoch in progress and raises;
    the estimator then keeps the state it had before the call (unfitted, or its earlier
    fit), never a partial one.

    Examples
    --------
    >>> from sklearn.datasets import load_iris
    >>> from bprop import MLPClassifier
    >>> X, y = load_iris(return_X_y=True)
    >>> X = (X - X.mean(axis=0)) / X.std(axis=0)
    >>> clf = MLPClassifier(hidden_layer_sizes=(16,), learning_rate_init=0.01,
    ...                     max_iter=300, backend="cpu", random_state=1).fit(X, y)
    >>> clf.predict(X[:3]).tolist()
    [0, 0, 0]
    >>> clf.predict_proba(X[:1]).shape
    (1, 3)
    >>> clf.score(X, y) > 0.9
    True
    """
    )

    def _encode(self, y, fit_classes):
        """Targets in the network's terms, and (output, labels) for a new network."""
        if fit_classes is not None:
            kind = type_of_target(y, input_name="y")
            self._multilabel = kind == "multilabel-indicator"
            if self._multilabel:
                self.classes_ = np.arange(y.shape[1])
                self._label_dtype = y.dtype
            else:
                self.classes_ = fit_classes
        if self._multilabel:
            return np.asarray(y, dtype=np.float64), "sigmoid:bce", None
        if y.ndim != 1:
            raise ValueError(
                "MLPClassifier supports binary, multiclass and multilabel-indicator targets, "
                f"not {type_of_target(y)!r}."
            )
        classes = self.classes_
        if len(classes) < 2:
            raise ValueError(
                f"MLPClassifier needs samples of at least 2 classes in the data; got 1 class: {classes[0]!r}."
            )
        unseen = np.setdiff1d(np.unique(y), classes)
        if unseen.size:
            raise ValueError(f"y has labels not in classes_ {list(classes)}: {list(unseen)}.")
        index = np.searchsorted(classes, y)
        labels = [str(c) for c in classes]
        if len(classes) == 2:
            return (index == 1).astype(np.float64)[:, None], "sigmoid:bce", labels
        Y = np.zeros((len(y), len(classes)))
        Y[np.arange(len(y)), index] = 1.0
        return Y, "softmax:cross_entropy", labels

    def fit(self, X, y):
        """Fit the network to ``X`` and ``y``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            The inputs.
        y : array-like of shape (n_samples,) or (n_samples, n_labels)
            Class labels (strings, integers, booleans), or a multi-label indicator
            matrix.

        Returns
        -------
        self : MLPClassifier
            The fitted estimator.
        """
        return self._fit(X, y, incremental=False)

    def _fit(self, X, y, incremental, classes=None):
        warm = self._warm(incremental)
        X, y = self._validate(X, y, reset=warm is None)
        check_classification_targets(y)
        if warm is None:
            if incremental:
                new_classes = unique_labels(classes) if classes is not None else unique_labels(y)
            else:
                new_classes = unique_labels(y)
            Y, output, labels = self._encode(y, new_classes)
        else:
            if not self._multilabel and not incremental and not np.array_equal(self.classes_, unique_labels(y)):
                if np.setdiff1d(unique_labels(y), self.classes_).size:
                    raise ValueError(
                        f"warm_start can only be used where `y` has the same classes as in the "
                        f"previous call to fit. Previously got {self.classes_}, `y` has {unique_labels(y)}"
                    )
            Y, output, labels = self._encode(y, None)
        return self._train(X, Y, "classification", output, labels, incremental, warm)

    @available_if(_incremental_solver)
    def partial_fit(self, X, y, classes=None):
        """One epoch over ``X`` and ``y``, continuing from the fitted state.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            The inputs.
        y : array-like of shape (n_samples,) or (n_samples, n_labels)
            The labels.
        classes : array-like of shape (n_classes,), default=None
            Every class of the problem; required on the first call (as scikit-learn's),
            ignored after.

        Returns
        -------
        self : MLPClassifier
            The estimator.
        """
        if not hasattr(self, "_model"):
            if classes is None:
                raise ValueError("classes must be passed on the first call to partial_fit.")
        return self._fit(X, y, incremental=True, classes=classes)

    def predict_proba(self, X):
        """Class probabilities.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            The inputs.

        Returns
        -------
        proba : ndarray of shape (n_samples, n_classes)
            Each class's probability, in the order of ``classes_`` (multi-label: each
            label's).
        """
        out = self._outputs(X)
        act = self._model.activations[-1]
        if self._multilabel or act == "softmax":
            return out
        if out.shape[1] == 1:
            p = out[:, 0]
            if act == "tanh":
                p = (1.0 + p) / 2.0
            p = np.clip(p, 0.0, 1.0)
            return np.column_stack([1.0 - p, p])
        # Several outputs that are not a softmax (a model from `bprop train`): scaled to
        # sum to 1.
        out = np.clip(out, 0.0, None)
        s = out.sum(axis=1, keepdims=True)
        return np.divide(out, s, out=np.full_like(out, 1.0 / out.shape[1]), where=s > 0)

    def predict_log_proba(self, X):
        """Logarithms of the class probabilities.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            The inputs.

        Returns
        -------
        log_proba : ndarray of shape (n_samples, n_classes)
            ``log(predict_proba(X))``.
        """
        with np.errstate(divide="ignore"):
            return np.log(self.predict_proba(X))

    def predict(self, X):
        """Predicted classes: the most probable class (multi-label: each label above 0.5).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            The inputs.

        Returns
        -------
        y : ndarray of shape (n_samples,) or (n_samples, n_labels)
            Labels from ``classes_``.
        """
        p = self.predict_proba(X)
        if self._multilabel:
            return (p > 0.5).astype(self._label_dtype)
        if p.shape[1] == 2 and self._model.sizes[-1] == 1:
            return self.classes_[(p[:, 1] > 0.5).astype(int)]
        return self.classes_[np.argmax(p, axis=1)]

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.classifier_tags.multi_label = True
        return tags


class MLPRegressor(RegressorMixin, _BaseMLP):
    __doc__ = (
        """Multi-layer perceptron regressor trained by bprop (GPU or CPU path).

    A drop-in replacement for :class:`sklearn.neural_network.MLPRegressor`: identity
    outputs, the mean squared error loss (bprop's ``mse``: the mean over outputs of the
    squared errors; scikit-learn reports half of it), one output per target column.
"""
        + _PARAMS_DOC
        + """
    Attributes
    ----------
"""
        + _ATTRS_DOC
        + """
    Notes
    -----
    The GIL is released while training and predicting. Ctrl-C (``KeyboardInterrupt``)
    stops ``fit`` and ``partial_fit`` at the end of the epoch in progress and raises;
    the estimator then keeps the state it had before the call.

    Examples
    --------
    >>> import numpy as np
    >>> from bprop import MLPRegressor
    >>> rng = np.random.RandomState(0)
    >>> X = rng.uniform(-1, 1, size=(200, 2))
    >>> y = X[:, 0] - 2 * X[:, 1]
    >>> reg = MLPRegressor(hidden_layer_sizes=(32,), learning_rate_init=0.01,
    ...                    max_iter=300, backend="cpu", random_state=0).fit(X, y)
    >>> reg.predict(X[:4]).shape
    (4,)
    >>> reg.score(X, y) > 0.95
    True
    """
    )

    def fit(self, X, y):
        """Fit the network to ``X`` and ``y``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            The inputs.
        y : array-like of shape (n_samples,) or (n_samples, n_outputs)
            The targets.

        Returns
        -------
        self : MLPRegressor
            The fitted estimator.
        """
        return self._fit(X, y, incremental=False)

    def _fit(self, X, y, incremental):
        warm = self._warm(incremental)
        X, y = self._validate(X, y, reset=warm is None)
        y = np.asarray(y, dtype=np.float64)
        Y = y[:, None] if y.ndim == 1 else y
        return self._train(X, Y, "regression", "identity:mse", None, incremental, warm)

    @available_if(_incremental_solver)
    def partial_fit(self, X, y):
        """One epoch over ``X`` and ``y``, continuing from the fitted state.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            The inputs.
        y : array-like of shape (n_samples,) or (n_samples, n_outputs)
            The targets.

        Returns
        -------
        self : MLPRegressor
            The estimator.
        """
        return self._fit(X, y, incremental=True)

    def predict(self, X):
        """Predicted values.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            The inputs.

        Returns
        -------
        y : ndarray of shape (n_samples,) or (n_samples, n_outputs)
            The network's outputs.
        """
        out = self._outputs(X)
        return out.ravel() if out.shape[1] == 1 else out

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.multi_output = True
        return tags


def load(path):
    """Read a ``.bprop`` model file (from ``bprop train -o`` or ``save``) as a fitted estimator.

    Parameters
    ----------
    path : str or path-like
        The model file.

    Returns
    -------
    estimator : MLPClassifier or MLPRegressor
        A classifier when the model was trained for classification, else a regressor,
        fitted: ``predict`` gives the numbers ``bprop predict`` gives (the model's input
        scaling, if any, is applied). Class labels that are all integers become an
        integer ``classes_``; others stay strings.

    Examples
    --------
    >>> import os, tempfile
    >>> from sklearn.datasets import load_iris
    >>> import bprop
    >>> X, y = load_iris(return_X_y=True)
    >>> clf = bprop.MLPClassifier((8,), max_iter=20, backend="cpu", random_state=0).fit(X, y)
    >>> path = os.path.join(tempfile.mkdtemp(), "iris.bprop")
    >>> _ = clf.save(path)
    >>> again = bprop.load(path)
    >>> bool((again.predict_proba(X) == clf.predict_proba(X)).all())
    True
    """
    model = _native.Model.read(str(path))
    return _from_model(model)


def _from_model(model):
    meta = json.loads(model.meta_json)
    schema = meta.get("schema") or {}
    sizes = model.sizes
    acts = model.activations
    hidden_act = {v: k for k, v in _ACTIVATIONS.items() if k != "sigmoid"}.get(acts[0], "relu") if len(acts) > 1 else "relu"
    params = dict(
        hidden_layer_sizes=tuple(sizes[1:-1]),
        activation=hidden_act,
        precision=model.precision,
    )
    if schema.get("task") == "classification":
        est = MLPClassifier(**params)
        labels = schema.get("labels")
        k = sizes[-1]
        n_classes = 2 if k == 1 else k
        if labels is None or len(labels) != n_classes:
            labels = [str(i) for i in range(n_classes)]
        try:
            classes = np.array([int(v) for v in labels])
        except ValueError:
            classes = np.array(labels, dtype=object)
        est.classes_ = classes
        est._multilabel = False
    else:
        est = MLPRegressor(**params)
    est._model = model
    est.n_features_in_ = sizes[0]
    names = schema.get("input_names")
    if names is not None and len(names) == sizes[0]:
        est.feature_names_in_ = np.array(names, dtype=object)
    history = meta.get("history") or []
    est.loss_curve_ = [h["train_loss"] for h in history]
    est.loss_ = est.loss_curve_[-1] if history else None
    est.best_loss_ = min(est.loss_curve_) if history else None
    est.validation_scores_ = None
    est.best_validation_score_ = None
    est.n_iter_ = (meta.get("training") or {}).get("epochs_done", len(history))
    est.n_layers_ = len(sizes)
    est.n_outputs_ = sizes[-1]
    est.out_activation_ = _OUT_NAMES.get(acts[-1], acts[-1])
    est.backend_ = (meta.get("training") or {}).get("backend", "")
    est.notes_ = []
    return est


def set_threads(n):
    """Set the number of threads of bprop's CPU path (default: the physical cores).

    The count changes speed only, never a result: every thread count gives the same
    bits. On a machine shared with other busy processes one thread can be faster for
    small networks, whose products are split between threads that then wait for a core.

    Parameters
    ----------
    n : int
        Threads, at least 1.

    Examples
    --------
    >>> import bprop
    >>> bprop.set_threads(1)
    >>> bprop.set_threads(2)
    """
    _native.set_threads(int(n))


def mpi_rank():
    """This process's rank among the processes ``mpirun`` started, 0-based.

    In a package built with the ``mpi`` feature and started by ``mpirun -n N``, ``fit``
    trains one model on the N processes together (data-parallel, as ``mpirun -n N bprop
    train`` does); this is the rank, e.g. to print or save on rank 0 only. It is 0
    outside ``mpirun``. Under ``mpirun`` the first call initialises MPI.

    Returns
    -------
    int

    Raises
    ------
    ValueError
        Under a multi-process ``mpirun``, in a package built without the ``mpi`` feature
        (which would train one model per process).

    Examples
    --------
    >>> import bprop
    >>> bprop.mpi_rank(), bprop.mpi_size()   # one process, outside mpirun
    (0, 1)
    """
    return _native.mpi_rank()


def mpi_size():
    """The number of processes that train together: ``mpirun``'s N, else 1.

    As :func:`mpi_rank`: 1 outside ``mpirun``, and raises the same ``ValueError`` in a
    package built without the ``mpi`` feature under a multi-process ``mpirun``.

    Returns
    -------
    int
    """
    return _native.mpi_size()


def devices():
    """The GPU adapters wgpu finds, as ``bprop devices`` lists them.

    Adapters come from the backends ``WGPU_BACKEND`` names (all by default);
    ``WGPU_ADAPTER_NAME`` restricts ``auto``'s choice to names containing it.

    Returns
    -------
    devices : dict
        ``adapters``: a list of dicts (``name``, ``backend``, ``device_type``, ``driver``,
        ``compute``, ``f64``, ``f16``, ``subgroups``, ``timestamps``, ``software`` and
        the limits); ``auto``: the adapter ``backend="auto"`` trains on, or ``"cpu"``;
        ``auto_reason``: why not a GPU, when ``auto`` is ``"cpu"``.

    Examples
    --------
    >>> import bprop
    >>> d = bprop.devices()
    >>> sorted(d)
    ['adapters', 'auto', 'auto_reason']
    """
    return _native.devices()


def explain(estimator=None, X=None, y=None, *, steps=1, learning_rate=None, layer=None,
            neurons=None, max_weights=64, gpu=False):
    """One step (or a few) of backpropagation with every number, as ``bprop explain --format json``.

    Without arguments it explains the seed's 2-2-1 network on its sample. With a fitted
    estimator and a batch ``X``, ``y`` it explains plain gradient descent from the
    estimator's network on that batch (the estimator is not changed).

    Parameters
    ----------
    estimator : MLPClassifier or MLPRegressor, optional
        A fitted estimator.
    X : array-like of shape (n_samples, n_features), optional
        The batch's inputs.
    y : array-like, optional
        The batch's targets, as the estimator's ``fit`` takes them (class labels for a
        classifier).
    steps : int, default=1
        Steps to explain (at most 100).
    learning_rate : float, optional
        Learning rate of the steps [default: the seed's, 1].
    layer : int, optional
        Show only this layer, numbered from 1 (layer 1 reads the inputs).
    neurons : tuple of (int, int), optional
        Show only neurons ``start`` to ``end`` (end excluded) of the shown layers.
    max_weights : int, default=64
        The most weights shown; a larger view raises ``ValueError`` naming the ways to
        restrict it.
    gpu : bool, default=False
        Also trace the steps on the GPU path and show its values beside the CPU path's.

    Returns
    -------
    explanation : dict
        The JSON document of ``bprop explain --format json``: the network, each step's
        forward pass, loss, deltas, gradients beside their finite differences, and the
        update.

    Examples
    --------
    >>> import bprop
    >>> e = bprop.explain()
    >>> e["title"]
    "Backpropagation step by step: the seed's 2-2-1 network"
    >>> len(e["steps"])
    1
    """
    model = Xd = Yd = None
    if estimator is not None:
        check_is_fitted(estimator, "_model")
        if X is None or y is None:
            raise ValueError("explain: give X and y with an estimator.")
        Xd = validate_data(estimator, X, reset=False, dtype=np.float64, order="C")
        y = np.asarray(y)
        if isinstance(estimator, MLPClassifier):
            Yd, _, _ = estimator._encode(y, None)
        else:
            Yd = y[:, None] if y.ndim == 1 else y
        Yd = np.ascontiguousarray(Yd, dtype=np.float64)
        model = estimator._model
    elif X is not None or y is not None:
        raise ValueError("explain: X and y need a fitted estimator.")
    text = _native.explain_json(
        model, Xd, Yd, int(steps),
        None if learning_rate is None else float(learning_rate),
        layer, None if neurons is None else (int(neurons[0]), int(neurons[1])),
        int(max_weights), bool(gpu),
    )
    return json.loads(text)

