"""scikit-learn's own estimator checks over both estimators, on both paths.

The CPU-path instances run every check fast; the GPU-path instances (backend="gpu":
lavapipe in CI, which makes them the slowest tests here, about six minutes on two cores)
show that training and prediction on the GPU meet the same conventions. No check is
marked as expected to fail. scikit-learn itself skips three: its array-API checks (two;
bprop takes NumPy arrays) and the classifier's decision_function check (there is none).
"""

from sklearn.utils.estimator_checks import parametrize_with_checks

from bprop import MLPClassifier, MLPRegressor

ESTIMATORS = [
    MLPClassifier(backend="cpu"),
    MLPRegressor(backend="cpu"),
    MLPClassifier(backend="gpu"),
    MLPRegressor(backend="gpu"),
]


@parametrize_with_checks(ESTIMATORS)
def test_sklearn_compatible_estimator(estimator, check):
    check(estimator)
