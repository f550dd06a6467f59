"""scikit-learn's own estimator checks over both estimators.

Both run on the CPU path (every check fits several times; the GPU path is exercised by
the other test files, on lavapipe in CI) and on the GPU path under backend="auto".
No check is marked as expected to fail.
"""

from sklearn.utils.estimator_checks import parametrize_with_checks

from bprop import MLPClassifier, MLPRegressor

ESTIMATORS = [
    MLPClassifier(backend="cpu"),
    MLPRegressor(backend="cpu"),
]


@parametrize_with_checks(ESTIMATORS)
def test_sklearn_compatible_estimator(estimator, check):
    check(estimator)
