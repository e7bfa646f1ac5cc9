"""scikit-learn's own estimator checks (``parametrize_with_checks``) on the estimators that
genrekit defines itself: the API contract that lets ``Pipeline``, ``clone``, grid searches
and model files use them (parameters only stored in ``__init__``, validation in ``fit``,
fitted state ending in ``_``, input errors, determinism, pickling)."""

from sklearn.utils.estimator_checks import parametrize_with_checks

from genrekit.models.gaussianize import YeoJohnson
from genrekit.models.tagprior import TagPriorClassifier

# Every scikit-learn estimator class in src/genrekit: the ones built on BaseEstimator and the
# subclasses of scikit-learn's own (`grep -rn "^class .*(" src/genrekit`; a test below holds the list).
# TagPriorClassifier as the checks call a classifier: y holds the classes themselves and no
# column is named (so its prior is zero: the prior's arithmetic is tested in test_tagprior.py).
ESTIMATORS = [TagPriorClassifier(), TagPriorClassifier(calibrate=False), YeoJohnson()]


@parametrize_with_checks(ESTIMATORS)
def test_scikit_learn_estimator_checks(estimator, check):
    check(estimator)


def test_every_estimator_class_of_genrekit_is_checked():
    """A new estimator class (on BaseEstimator, or a subclass of one of scikit-learn's) is
    found by its base classes, so it cannot be left out of the checks above unnoticed."""
    import importlib
    import inspect
    import pkgutil

    from sklearn.base import BaseEstimator

    import genrekit.models

    found = set()
    for module in pkgutil.iter_modules(genrekit.models.__path__, "genrekit.models."):
        if module.name == "genrekit.models.nets":  # PyTorch modules, not estimators; importing it loads torch (.ci/run)
            continue
        for _, cls in inspect.getmembers(importlib.import_module(module.name), inspect.isclass):
            if issubclass(cls, BaseEstimator) and cls.__module__.startswith("genrekit."):
                found.add(cls)
    assert found == {type(e) for e in ESTIMATORS}
