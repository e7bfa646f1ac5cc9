"""scikit-learn's own estimator checks (``parametrize_with_checks``) on the estimators that
genrekit defines itself: the API contract that lets ``Pipeline``, ``clone``, grid searches
and model files use them (parameters only stored in ``__init__``, validation in ``fit``,
fitted state ending in ``_``, input errors, determinism, pickling)."""

from sklearn.utils.estimator_checks import parametrize_with_checks

from genrekit.models.tagprior import TagPriorClassifier

# Every scikit-learn estimator class in src/genrekit (`grep -rn BaseEstimator src/genrekit`).
# TagPriorClassifier as the checks call a classifier: y holds the classes themselves and no
# column is named (so its prior is zero: the prior's arithmetic is tested in test_tagprior.py).
ESTIMATORS = [TagPriorClassifier(), TagPriorClassifier(calibrate=False)]


@parametrize_with_checks(ESTIMATORS)
def test_scikit_learn_estimator_checks(estimator, check):
    check(estimator)
