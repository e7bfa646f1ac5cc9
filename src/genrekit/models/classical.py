"""Classical models: scikit-learn pipelines (scaling + classifier) with their search spaces.

Every model is a :class:`sklearn.pipeline.Pipeline`: a ``StandardScaler``, a Yeo-Johnson
``PowerTransformer`` (:class:`~genrekit.models.gaussianize.YeoJohnson`; handcrafted
statistics such as variances are heavy-tailed; making them near-Gaussian gains 2-3
accuracy points for SVMs and linear models on the GTZAN table) and one classifier, trained on integer-encoded genres (the labels travel with
the model file).
"""

from __future__ import annotations

import contextlib
import inspect
import logging
import tempfile
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import numpy as np
from scipy.stats import loguniform, randint, uniform
from sklearn.exceptions import ConvergenceWarning
from sklearn.ensemble import (
    AdaBoostClassifier,
    ExtraTreesClassifier,
    GradientBoostingClassifier,
    HistGradientBoostingClassifier,
    RandomForestClassifier,
    VotingClassifier,
)
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import RandomizedSearchCV, StratifiedGroupKFold
from sklearn.neighbors import KNeighborsClassifier
from sklearn.neural_network import MLPClassifier
from sklearn.pipeline import Pipeline

from sklearn.preprocessing import StandardScaler
from sklearn.svm import SVC, LinearSVC, NuSVC
from sklearn.tree import DecisionTreeClassifier

from genrekit.errors import ModelError, ParameterError
from genrekit.models.catalogue import DEFAULT_MODEL  # noqa: F401  (genrekit.models.classical.DEFAULT_MODEL, as before)
from genrekit.models.gaussianize import YeoJohnson
from genrekit.models.tagprior import TagPriorClassifier

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class ModelDefinition:
    """A classifier factory, its hyperparameter search space and a one-line description;
    ``features``: the feature set it is made for (None: any; fma518 unless named)."""

    factory: Callable[[int], object]
    search_space: dict
    description: str
    features: str | None = None
    # the classifier scales its own features (it also reads raw columns), so no pipeline steps go first
    own_transform: bool = False


def _svc(seed: int) -> SVC:
    # libsvm's pairwise-coupled Platt probabilities. scikit-learn 1.9 deprecates
    # probability=True for CalibratedClassifierCV, but its one-vs-rest sigmoids lose
    # 7 points of accuracy on the GTZAN table (0.696 vs 0.764); see quiet_fit().
    return SVC(C=3.0, gamma="scale", kernel="rbf", probability=True, random_state=seed)


def _ensemble(seed: int) -> VotingClassifier:
    # Soft vote of five different learners; only scikit-learn types, so the model file
    # stays loadable through skops' allow-list. Chosen on CV fold seeds 1 and 2 of the GTZAN
    # table (seed 0 is the benchmark's): the MLP adds 0.1-0.8 points over four learners,
    # stacking loses 1-2 points.
    return VotingClassifier(
        [
            ("svc", _svc(seed)),
            ("logreg", LogisticRegression(C=0.3, max_iter=5000, random_state=seed)),
            ("extra_trees", ExtraTreesClassifier(n_estimators=500, n_jobs=1, random_state=seed)),
            ("boosting", HistGradientBoostingClassifier(learning_rate=0.05, max_iter=300, max_leaf_nodes=15, random_state=seed)),
            ("mlp", MLPClassifier((256,), alpha=1.0, max_iter=2000, random_state=seed)),
        ],
        voting="soft",
    )


def _xgboost(seed: int):
    try:
        from xgboost import XGBClassifier
    except ImportError as exc:
        raise ModelError("model 'xgboost' needs xgboost (pip install 'genrekit[full]')") from exc
    return XGBClassifier(
        n_estimators=400, learning_rate=0.05, max_depth=4, subsample=0.8, colsample_bytree=0.5,
        tree_method="hist", n_jobs=1, random_state=seed,
    )


MODELS: dict[str, ModelDefinition] = {
    "logreg": ModelDefinition(
        lambda seed: LogisticRegression(C=1.0, max_iter=5000, random_state=seed),
        {"clf__C": loguniform(1e-3, 1e2)},
        "multinomial logistic regression",
    ),
    "linear-svc": ModelDefinition(
        lambda seed: LinearSVC(C=0.1, max_iter=20000, random_state=seed),
        {"clf__C": loguniform(1e-4, 1e1)},
        "linear support vector classifier",
    ),
    "svc-rbf": ModelDefinition(
        _svc,
        {"clf__C": loguniform(3e-1, 1e2), "clf__gamma": loguniform(1e-3, 1e-1)},
        "support vector classifier, RBF kernel",
    ),
    "nu-svc": ModelDefinition(
        lambda seed: NuSVC(nu=0.3, gamma="scale", probability=True, random_state=seed),
        {"clf__nu": uniform(0.05, 0.45), "clf__gamma": loguniform(1e-3, 1e-1)},
        "nu-support vector classifier, RBF kernel",
    ),
    "knn": ModelDefinition(
        lambda seed: KNeighborsClassifier(n_neighbors=7, weights="distance"),
        {"clf__n_neighbors": randint(1, 30), "clf__weights": ["uniform", "distance"]},
        "k nearest neighbours",
    ),
    "decision-tree": ModelDefinition(
        lambda seed: DecisionTreeClassifier(random_state=seed),
        {"clf__max_depth": randint(3, 30), "clf__min_samples_leaf": randint(1, 20)},
        "decision tree",
    ),
    "random-forest": ModelDefinition(
        lambda seed: RandomForestClassifier(n_estimators=500, n_jobs=1, random_state=seed),
        {"clf__max_features": ["sqrt", "log2", 0.2], "clf__min_samples_leaf": randint(1, 5)},
        "random forest",
    ),
    "extra-trees": ModelDefinition(
        lambda seed: ExtraTreesClassifier(n_estimators=500, n_jobs=1, random_state=seed),
        {"clf__max_features": ["sqrt", "log2", 0.2], "clf__min_samples_leaf": randint(1, 5)},
        "extremely randomised trees",
    ),
    "gradient-boosting": ModelDefinition(
        lambda seed: GradientBoostingClassifier(n_estimators=200, learning_rate=0.1, max_depth=3, random_state=seed),
        {"clf__learning_rate": loguniform(0.02, 0.3), "clf__max_depth": randint(2, 5)},
        "gradient boosting (scikit-learn)",
    ),
    "adaboost": ModelDefinition(
        lambda seed: AdaBoostClassifier(
            DecisionTreeClassifier(max_depth=3, random_state=seed), n_estimators=200, learning_rate=0.5, random_state=seed
        ),
        {"clf__learning_rate": loguniform(0.05, 1.0), "clf__n_estimators": randint(50, 300)},
        "AdaBoost on depth-3 trees",
    ),
    "xgboost": ModelDefinition(
        _xgboost,
        {"clf__max_depth": randint(2, 7), "clf__learning_rate": loguniform(0.02, 0.3),
         "clf__colsample_bytree": uniform(0.3, 0.7)},
        "XGBoost gradient-boosted trees",
    ),
    "ensemble": ModelDefinition(
        _ensemble,
        {"clf__svc__C": loguniform(1.0, 30.0), "clf__logreg__C": loguniform(0.03, 3.0),
         "clf__boosting__learning_rate": loguniform(0.02, 0.2)},
        "soft vote of RBF SVC, logistic regression, extra trees, gradient boosting and an MLP",
    ),
    "musicnn-head": ModelDefinition(
        lambda seed: LogisticRegression(C=1.0, max_iter=5000, random_state=seed),
        {"clf__C": loguniform(1e-3, 1e1)},
        "logistic regression on the pretrained musicnn's embedding and tags averaged over the clip (musicnn-msd)",
        features="musicnn-msd",
    ),
    "musicnn-prior": ModelDefinition(
        lambda seed: TagPriorClassifier(random_state=seed),
        {"clf__C": loguniform(1e-2, 1e1)},
        "calibrated head on both pretrained musicnn taggers, times their zero-shot genre prior "
        "(genrekit's default model; also named 'default')",
        features="musicnn",
        own_transform=True,
    ),
}

def features_made_for(name: str) -> str | None:
    """The feature set a model is made for (``musicnn-head``: musicnn-msd, ``musicnn-prior``:
    musicnn, whose tagger columns it reads); None for a model of any features, or a network."""
    definition = MODELS.get(name)
    return definition.features if definition else None


def classical_problem(name) -> str | None:
    """Why ``name`` names no classical model (one of :data:`MODELS`, which fit on a feature
    table; a network trains from audio), or None."""
    if isinstance(name, str) and name in MODELS:
        return None
    return f"model={name!r:.60}: expected a classical model, which fits on a table: one of {', '.join(MODELS)}"


def lacks_features(name: str, columns) -> str | None:
    """The feature set model ``name`` is made for, where ``columns`` (feature column names)
    lack some of its columns: on them it would be a weaker model under its name (musicnn-prior
    without the taggers' tags is a plain logistic regression); None where they hold them all,
    or the model takes any features."""
    from genrekit.features import FeatureSpec

    made_for = features_made_for(name)
    return made_for if made_for and not set(FeatureSpec(made_for).columns) <= set(columns) else None


def default_spec(name: str, chunk: float | None = None, features: str | None = None):
    """The feature spec a model is trained on: ``features``, or when None its own
    (``musicnn-head``: musicnn-msd, one vector per clip), else fma518; at the level genrekit
    computes those features at (:func:`genrekit.features.musicnn.default_level`). ``chunk``
    overrides the chunk length.

    Parameters
    ----------
    name : str
        A model of :data:`MODELS`; a name it lacks is not refused (its own features: fma518).
    chunk : float, optional
        Seconds per chunk, 0.5-600 (None: one feature vector per clip).
    features : str, optional
        A feature set's name, which replaces the model's own.

    Returns
    -------
    FeatureSpec
        At the set's own sample rate.

    Raises
    ------
    FeatureError
        ``features`` is not a feature set.
    ParameterError
        ``chunk`` is out of its range, or ``features`` lacks columns the model is made for
        (``musicnn-prior`` on musicnn-msd alone would lose MTT_musicnn's tags from its prior
        and the music detector, under the default model's name).
    """
    from genrekit.features import FeatureSpec

    made_for = features and lacks_features(name, FeatureSpec(features).columns)
    if made_for:
        raise ParameterError(f"--features {features}: the model {name} is made for {made_for}, whose columns "
                             f"{features} lacks (on {features} it would be a weaker model under {name}'s name); leave "
                             "--features out, or choose another --model")
    return FeatureSpec.at_default_level(features or features_made_for(name) or "fma518", chunk)


def make_model(name: str, *, seed: int = 0, labels: list[str] | None = None, columns: list[str] | None = None,
               **params) -> Pipeline:
    """A fresh pipeline for the named model: standard scaling, a Yeo-Johnson power transform
    and the classifier (or the classifier alone, for one that transforms its own features).

    ``labels`` and ``columns`` (the genres of ``y``'s indices, the feature columns' names)
    go to classifiers that use them (``musicnn-prior`` reads the tag columns of its genres).
    ``params`` set pipeline parameters, e.g. ``clf__C=3.0``.

    Parameters
    ----------
    name : str
        A model of :data:`MODELS`.
    seed : int
        Seeds the classifier (``knn``, which has no randomness, ignores it).
    labels, columns : list[str], optional
        ``y``'s genres and ``X``'s columns' names, for a classifier with such parameters;
        others ignore them.
    **params
        Pipeline parameters, by scikit-learn's ``step__parameter`` names.

    Returns
    -------
    Pipeline
        Unfitted: steps ``scale``, ``gaussianize`` and ``clf``, or ``clf`` alone.

    Raises
    ------
    ModelError
        ``name`` is unknown, ``xgboost`` is asked for without xgboost installed, or a
        parameter of ``params`` is not one the pipeline has.
    """
    if name not in MODELS:
        raise ModelError(f"model {name!r} is unknown; expected one of {', '.join(MODELS)}")
    definition = MODELS[name]
    classifier = definition.factory(seed)
    known = classifier.get_params()
    for key, value in (("labels", labels), ("columns", columns)):
        if key in known and value is not None:
            classifier.set_params(**{key: list(value)})
    steps = [] if definition.own_transform else [("scale", StandardScaler()), ("gaussianize", YeoJohnson())]
    pipeline = Pipeline([*steps, ("clf", classifier)])
    if params:
        try:
            pipeline.set_params(**params)
        except ValueError as exc:
            raise ModelError(f"model {name!r}: invalid parameters {params}: {exc}") from exc
    return pipeline


def predict_proba(estimator: Pipeline, X: np.ndarray, n_labels: int | None = None) -> np.ndarray:
    """Genre probabilities [shape=(n, n_labels)] from a fitted pipeline.

    Margin classifiers without probabilities (LinearSVC) give the softmax of their
    decision values: a monotone score whose arg-max is the predicted genre. A genre the
    estimator never saw (a cross-validation fold whose training part lacks it) gets 0.
    """
    if hasattr(estimator[-1], "predict_proba"):
        proba = estimator.predict_proba(X)
    else:
        scores = estimator.decision_function(X)
        if scores.ndim == 1:  # two classes: one margin, for the second
            scores = np.stack([-scores, scores], axis=1) / 2
        exp = np.exp(scores - scores.max(axis=1, keepdims=True))
        proba = exp / exp.sum(axis=1, keepdims=True)
    # genres of a fit whose labels were renumbered (xgboost: a training part that lacks a genre), else its classes
    classes = getattr(estimator, "genre_columns_", getattr(estimator, "classes_", None))
    if n_labels is None or classes is None or proba.shape[1] == n_labels:
        return proba
    full = np.zeros((len(proba), n_labels))
    full[:, np.asarray(classes, dtype=int)] = proba
    return full


@contextlib.contextmanager
def quiet_fit() -> Iterator[None]:
    """Silence the three expected warnings of fitting these models on small tables.

    The SVC ``probability`` deprecation (kept on purpose, see ``_svc``), solver
    convergence notices and inner folds more than a genre's tracks; every other warning
    still shows.
    """
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="The `probability` parameter was deprecated", category=FutureWarning)
        warnings.filterwarnings("ignore", category=ConvergenceWarning)
        # inner folds where a genre has fewer tracks than folds: those parts lack it, as a CV fold may
        warnings.filterwarnings("ignore", message="The least populated class", category=UserWarning)
        yield


def make_search(
    name: str,
    *,
    n_iter: int = 20,
    n_splits: int = 3,
    seed: int = 0,
    n_jobs: int | None = None,
    memory: str | None = None,
    labels: list[str] | None = None,
    columns: list[str] | None = None,
) -> RandomizedSearchCV:
    """Randomized hyperparameter search with stratified K-fold, as an estimator.

    Fit it on training data only; used inside an outer cross-validation it makes nested
    CV, whose test folds never inform the search. Pass ``groups`` to ``fit`` so the inner
    folds stay grouped by track (chunks of one track never straddle an inner fold).
    ``memory``: a folder where the pipeline caches its fitted scaling and power transform
    (``Pipeline(memory=...)``), so that they are fitted once per inner fold rather than once
    per candidate (the search tunes the classifier alone; fitting them is most of the time).

    Parameters
    ----------
    name : str
        A model of :data:`MODELS`; its ``search_space`` is searched.
    n_iter : int
        Candidates drawn from the search space.
    n_splits : int
        Inner folds (:class:`~sklearn.model_selection.StratifiedGroupKFold`, shuffled).
    seed : int
        Seeds the model, the folds and the draw of candidates.
    n_jobs : int, optional
        The search's parallel jobs (scikit-learn's meaning of None).
    memory : str, optional
        The cache folder (None: no cache).
    labels, columns : list[str], optional
        As :func:`make_model`.

    Returns
    -------
    RandomizedSearchCV
        Unfitted; it scores candidates by accuracy, raises the first error a fit meets, and
        refits the best one on all the rows given to ``fit``. Its folds need ``groups``: without
        them all rows make one group, which scikit-learn cannot split into ``n_splits`` folds.

    Raises
    ------
    ModelError
        ``name`` is unknown, or ``xgboost`` is asked for without xgboost installed.
    """
    return RandomizedSearchCV(
        make_model(name, seed=seed, labels=labels, columns=columns).set_params(memory=memory),
        MODELS[name].search_space,
        n_iter=n_iter,
        cv=StratifiedGroupKFold(n_splits=n_splits, shuffle=True, random_state=seed),
        scoring="accuracy",
        random_state=seed,
        n_jobs=n_jobs,
        refit=True,
        error_score="raise",
    )


def columnwise_split(pipeline: Pipeline) -> tuple[Pipeline, object] | None:
    """``(transform, classifier)`` where every step before ``pipeline``'s classifier
    transforms each column on its own (scaling, Yeo-Johnson), so shuffling a column before
    them equals shuffling it after (permutation importance then transforms once); else None."""
    from sklearn.preprocessing import PowerTransformer, StandardScaler

    steps = pipeline.steps[:-1]
    if not steps or not all(isinstance(step, (StandardScaler, PowerTransformer)) for _, step in steps):
        return None
    return pipeline[:-1], pipeline[-1]


def fit_estimator(name: str, X: np.ndarray, y: np.ndarray, groups: np.ndarray, *, search: bool, n_iter: int,
                  inner_splits: int, seed: int, labels: list[str] | None = None,
                  columns: list[str] | None = None) -> tuple[Pipeline, dict]:
    """Fit the named model on training rows; with ``search``, tune it by grouped inner CV first.

    Parameters
    ----------
    name : str
        A model of :data:`MODELS`.
    X : np.ndarray [shape=(n, n_features)]
    y : np.ndarray [shape=(n,)]
        Genre indices.
    groups : np.ndarray [shape=(n,)]
        Each row's group (its track or artist): inner folds never split one.
    search, n_iter, inner_splits, seed
        Randomized search with ``n_iter`` candidates over ``inner_splits`` grouped folds
        (see :func:`make_search`), fewer where the tracks or artists are too few for each
        fold to train on two genres (xgboost: on every genre); none below two folds (a
        warning, and the default settings); ``seed`` also seeds the model.
    labels, columns : list[str], optional
        ``y``'s genres and ``X``'s columns (see :func:`make_model`).

    Returns
    -------
    estimator : Pipeline
        Fitted (a classifier whose ``fit`` takes ``groups`` gets them, to keep its own
        inner folds grouped). Rows lacking a genre (a cross-validation fold's) are fitted as
        they are; xgboost, which takes only consecutive genres, on renumbered ones, the
        genres kept in ``genre_columns_`` for :func:`predict_proba`. A nearest-neighbour
        model asks no more neighbours than there are rows.
    best_params : dict
        The search's best parameters; empty without ``search``.
    """
    present = np.unique(y)
    renumbered = _needs_consecutive_labels(name) and not np.array_equal(present, np.arange(len(present)))
    if renumbered:  # xgboost takes genres 0..k-1 only: a training part without a genre is renumbered
        y = np.searchsorted(present, y)
    folds = _inner_folds(X, y, groups, inner_splits, seed, every_genre=_needs_consecutive_labels(name)) if search else []
    splits = len(folds)
    if search and splits < 2:
        logger.warning("%s: no hyperparameter search on these %d rows: too few tracks or artists for inner folds that "
                       "each train on %s; its default settings are used", name, len(y),
                       "every genre" if _needs_consecutive_labels(name) else "two genres")
    with quiet_fit():
        if splits < 2:
            model = make_model(name, seed=seed, labels=labels, columns=columns)
            _fit_neighbours(model, len(y))
            takes_groups = "groups" in inspect.signature(model[-1].fit).parameters
            fitted, best = model.fit(X, y, **({"clf__groups": groups} if takes_groups else {})), {}
        else:
            with tempfile.TemporaryDirectory(prefix="genrekit-search-") as cache:
                searcher = make_search(name, n_iter=n_iter, n_splits=splits, seed=seed, n_jobs=1, memory=cache,
                                       labels=labels, columns=columns)
                smallest = min(len(train) for train, _ in folds)  # the folds the search draws
                searcher.param_distributions = _within_rows(searcher.param_distributions, smallest)
                takes_groups = "groups" in inspect.signature(searcher.estimator[-1].fit).parameters
                searcher.fit(X, y, groups=groups, **({"clf__groups": groups} if takes_groups else {}))
            fitted, best = searcher.best_estimator_.set_params(memory=None), dict(searcher.best_params_)
    if renumbered:
        fitted.genre_columns_ = present  # predict_proba puts each column back under its genre
    return fitted, best


def _needs_consecutive_labels(name: str) -> bool:
    """Whether the model's classifier takes only genres numbered 0..k-1 (xgboost)."""
    return name == "xgboost"


def _inner_folds(X: np.ndarray, y: np.ndarray, groups: np.ndarray, asked: int, seed: int, *,
                 every_genre: bool) -> list:
    """The most inner folds, up to ``asked``, that scikit-learn can draw (as :func:`make_search`
    draws them) and whose training parts each hold two genres, or every genre of ``y`` where
    the model needs them all (``every_genre``), as (train, test) index pairs; none where not
    even two folds do."""
    needed = len(np.unique(y)) if every_genre else 2
    for splits in range(min(asked, len(np.unique(groups))), 1, -1):
        try:
            with warnings.catch_warnings():
                warnings.filterwarnings("ignore", message="The least populated class", category=UserWarning)
                folds = list(StratifiedGroupKFold(n_splits=splits, shuffle=True, random_state=seed).split(X, y, groups))
        except ValueError:  # more folds than any genre has tracks
            continue
        if all(len(np.unique(y[train])) >= needed for train, _ in folds):
            return folds
    return []


def _fit_neighbours(model: Pipeline, n_rows: int) -> None:
    """A nearest-neighbour classifier asks no more neighbours than there are rows to fit."""
    neighbours = model[-1].get_params().get("n_neighbors")
    if isinstance(neighbours, int) and neighbours > n_rows:
        model.set_params(clf__n_neighbors=n_rows)


def _within_rows(space: dict, n_rows: int) -> dict:
    """``space`` with its number of neighbours drawn no higher than ``n_rows`` (the smallest
    inner training part): a candidate asking more cannot be fitted."""
    neighbours = space.get("clf__n_neighbors")
    if neighbours is None or not hasattr(neighbours, "support"):
        return space
    low, high = neighbours.support()
    return {**space, "clf__n_neighbors": randint(int(low), int(min(high, n_rows)) + 1)}
