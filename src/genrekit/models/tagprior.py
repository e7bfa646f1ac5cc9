"""What the pretrained musicnn taggers already know about genres, as a zero-shot prior.

MSD_musicnn learned 50 Last.fm tags from the Million Song Dataset, MTT_musicnn 50
MagnaTagATune tags; several name genres. :data:`GENRE_TAGS` maps each genre to the tags that
name it. The mapping was written down from the tag names alone, before any genre model was
scored with it, and is never fitted: it carries evidence from hundreds of thousands of songs
that 8 training clips per genre cannot.

A genre's zero-shot score is the log-odds that at least one of its tags applies (noisy-OR of
the tags' probabilities). A genre with no tag (reggae: neither tag set names it) gets the
mean score of the genres that have tags: on average neither favoured nor penalised, but
below any tagged genre whose tags fire (on GTZAN's clips, reggae's prior is under the top
genre's by about 2 nats), so training names such genres in a warning. The scores keep the
tags' base rates: a tag as common on Last.fm as rock gives its genre a head start on every
song (docs/default-model.md, "The prior's head start for rock").

Where one genre's tags are all among another's (punk's among rock's, opera's among
classical's), the broader genre leaves them to the narrower one, whose prior would
otherwise never beat it.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin

from genrekit.errors import ParameterError

logger = logging.getLogger(__name__)
_WARNED: set[str] = set()  # warnings given: once each, not once per cross-validation fold


def _warn_once(message: str, *args) -> None:
    """Warn once per run, not once per fit (a fit per cross-validation fold). The check is
    :class:`_Once`, a filter of this module's logger, so that it also holds for the records a
    fold fitted in a worker process logs: they are handled by this process's loggers
    (:mod:`genrekit.runners`), and dropped where this process, or another worker, gave them."""
    logger.warning(message, *args, extra={"genrekit_once": True})


class _Once(logging.Filter):
    """Drops a :func:`_warn_once` record whose message was given before (kept in :data:`_WARNED`)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not getattr(record, "genrekit_once", False):
            return True
        text = record.getMessage()
        if text in _WARNED:
            return False
        _WARNED.add(text)
        return True


logger.addFilter(_Once())

# genre (normalised: lower case, letters and digits only) -> feature columns of its tags
GENRE_TAGS: dict[str, tuple[str, ...]] = {
    "blues": ("msd.tag.blues",),
    "classical": ("mtt.tag.classical", "mtt.tag.opera", "mtt.tag.choral", "mtt.tag.harpsichord"),
    "country": ("msd.tag.country", "mtt.tag.country"),
    "disco": ("msd.tag.dance", "msd.tag.funk", "mtt.tag.dance"),
    "hiphop": ("msd.tag.Hip-Hop",),
    "jazz": ("msd.tag.jazz",),
    "metal": ("msd.tag.metal", "msd.tag.heavy metal", "mtt.tag.metal"),
    "pop": ("msd.tag.pop", "mtt.tag.pop"),
    "reggae": (),
    "rock": ("msd.tag.rock", "msd.tag.classic rock", "msd.tag.hard rock", "msd.tag.alternative rock",
             "msd.tag.indie rock", "msd.tag.Progressive rock", "msd.tag.punk", "mtt.tag.rock"),
    # genres of other taxonomies that the tags name too
    "electronic": ("msd.tag.electronic", "msd.tag.electronica", "msd.tag.electro", "msd.tag.House",
                   "mtt.tag.electronic", "mtt.tag.techno"),
    "dance": ("msd.tag.dance", "msd.tag.House", "mtt.tag.dance"),
    "folk": ("msd.tag.folk",),
    "soul": ("msd.tag.soul",),
    "rnb": ("msd.tag.rnb",),
    "funk": ("msd.tag.funk",),
    "punk": ("msd.tag.punk",),
    "ambient": ("msd.tag.ambient", "mtt.tag.ambient"),
    "indie": ("msd.tag.indie", "msd.tag.indie rock", "msd.tag.indie pop"),
    "alternative": ("msd.tag.alternative", "msd.tag.alternative rock"),
    "experimental": ("msd.tag.experimental",),
    "newage": ("mtt.tag.new age",),
    "opera": ("mtt.tag.opera",),
    "techno": ("mtt.tag.techno",),
    # other spellings of the genres above, and sub-genres the tags name (added 2026-12-04, from
    # the names alone, as the rest)
    "rap": ("msd.tag.Hip-Hop",),
    "hiphoprap": ("msd.tag.Hip-Hop",),
    "rb": ("msd.tag.rnb",),  # "R&B"
    "soulrnb": ("msd.tag.soul", "msd.tag.rnb"),  # FMA's "Soul-RnB"
    "electronica": ("msd.tag.electronica",),
    "house": ("msd.tag.House",),
    "heavymetal": ("msd.tag.heavy metal",),
    "hardrock": ("msd.tag.hard rock",),
    "classicrock": ("msd.tag.classic rock",),
    "alternativerock": ("msd.tag.alternative rock",),
    "indierock": ("msd.tag.indie rock",),
    "indiepop": ("msd.tag.indie pop",),
    "progressiverock": ("msd.tag.Progressive rock",),
    "progrock": ("msd.tag.Progressive rock",),
    "punkrock": ("msd.tag.punk",),
    "easylistening": ("msd.tag.easy listening",),
    "choral": ("mtt.tag.choral", "mtt.tag.choir"),
}
_EPSILON = 1e-6


def normalise_genre(name: str) -> str:
    """``"Hip-Hop"``, ``"hip hop"`` and ``"HipHop"`` -> ``"hiphop"``."""
    return re.sub(r"[^a-z0-9]", "", name.lower())


def tag_columns(labels: Sequence[str], columns: Sequence[str]) -> list[list[int]]:
    """For each label, the indices in ``columns`` of its tags (empty where none is there).

    A label whose tags are all among another label's, and fewer, takes them from it: the
    broader genre's noisy-OR would otherwise always be at least the narrower one's (rock's
    eight tags against punk's one)."""
    index = {name: i for i, name in enumerate(columns)}
    mapping = [[index[tag] for tag in GENRE_TAGS.get(normalise_genre(label), ()) if tag in index] for label in labels]
    narrower = [set(tags) for tags in mapping]
    for g, tags in enumerate(narrower):
        taken = set().union(*(others for h, others in enumerate(narrower) if h != g and others and others < tags))
        if tags - taken:  # a genre whose narrower ones cover all its tags keeps them: none would say nothing
            mapping[g] = [c for c in mapping[g] if c not in taken]
    return mapping


def untagged(labels: Sequence[str], mapping: Sequence[Sequence[int]]) -> list[str]:
    """The labels without a tag where others have some: the prior ranks them at the tagged
    genres' mean (see the module's text); none where no label has a tag (the prior is zero)."""
    if not any(mapping):
        return []
    return [label for label, tags in zip(labels, mapping) if not tags]


def zero_shot_logits(X: np.ndarray, mapping: Sequence[Sequence[int]]) -> np.ndarray:
    """Zero-shot genre scores of feature rows.

    Parameters
    ----------
    X : np.ndarray [shape=(n, n_features)], tag probabilities among its columns
    mapping : for each genre, the columns of its tags (:func:`tag_columns`)

    Returns
    -------
    Z : np.ndarray [shape=(n, n_genres)], log-odds; all zero where no genre has a tag
    """
    X = np.asarray(X, dtype=np.float64)
    Z = np.zeros((len(X), len(mapping)))
    mapped = [g for g, columns in enumerate(mapping) if columns]
    if not mapped:
        return Z
    for g in mapped:
        p = np.clip(X[:, list(mapping[g])], _EPSILON, 1 - _EPSILON)
        none_apply = np.exp(np.log1p(-p).sum(axis=1))
        p_any = np.clip(1.0 - none_apply, _EPSILON, 1 - _EPSILON)
        Z[:, g] = np.log(p_any) - np.log1p(-p_any)
    unmapped = [g for g in range(len(mapping)) if not mapping[g]]
    if unmapped:
        Z[:, unmapped] = Z[:, mapped].mean(axis=1, keepdims=True)
    return Z


class TagPriorClassifier(ClassifierMixin, BaseEstimator):
    """A few-shot genre head times the taggers' zero-shot prior, with a fitted temperature.

    ``log p(genre | x) = (log p_head(genre | x) + prior_weight * Z(x)) / T + const``: ``p_head``
    a class-balanced logistic regression on the features after genrekit's standard scaling
    and Yeo-Johnson transform, ``Z`` the zero-shot scores of the raw tag columns
    (:func:`zero_shot_logits`), ``T`` a temperature fitted on out-of-fold predictions so that
    the confidence is a probability (``calibrate=False`` keeps ``temperature``). A product of
    experts with equal weight (``prior_weight=1``): the head learns what the clips show, and
    the prior keeps what hundreds of thousands of songs taught the taggers, which a head on
    8 clips of one or two artists per genre forgets (bench/trust.py).

    Parameters
    ----------
    labels : the genre of each class index ``0..K-1``, when ``y`` holds indices (as in
        genrekit's pipelines, :func:`~genrekit.models.make_model`); ``columns`` must then name
        every feature column. Empty: ``y`` holds the classes themselves (any labels, as for
        any scikit-learn classifier), and a class's genre is ``str(class)``.
    columns : the name of each feature column (tag columns as in :data:`GENRE_TAGS`). Empty
        (only without ``labels``): no column is known to be a tag, so the prior is zero and
        the classifier is the calibrated head alone.
    C : the head's inverse regularisation strength (scikit-learn's ``LogisticRegression``).
    prior_weight : how much the zero-shot prior counts against the head (0: the head alone).
    class_weight : the head's class weights (``"balanced"``: each genre weighs alike, whatever
        its number of clips; a dict keyed by class; None: each clip alike).
    calibrate : fit the temperature on out-of-fold predictions; False keeps ``temperature``.
    temperature : ``T`` where ``calibrate`` is False (fitted ones are in ``temperature_``).
    max_iter : the head's solver iterations.
    random_state : the seed of the calibration's folds and of the head's solver.
    """

    def __init__(self, labels: Sequence[str] = (), columns: Sequence[str] = (), *, C: float = 1.0,
                 prior_weight: float = 1.0, class_weight: str | dict | None = "balanced", calibrate: bool = True,
                 temperature: float = 1.0, max_iter: int = 5000, random_state: int = 0):
        self.labels = labels
        self.columns = columns
        self.C = C
        self.prior_weight = prior_weight
        self.class_weight = class_weight
        self.calibrate = calibrate
        self.temperature = temperature
        self.max_iter = max_iter
        self.random_state = random_state

    def fit(self, X, y, groups=None) -> TagPriorClassifier:
        """Fit the head on ``X``, then (``calibrate``) the temperature on its out-of-fold
        predictions, in folds grouped by ``groups`` (tracks or artists) where given.

        Parameters
        ----------
        X : array-like [shape=(n, n_features)], finite
        y : array-like [shape=(n,)], class indices ``0..len(labels)-1``, or (without
            ``labels``) the classes themselves; at least two classes
        groups : array-like [shape=(n,)] or None, kept whole in the temperature's folds
        """
        from sklearn.utils.multiclass import check_classification_targets
        from sklearn.utils.validation import validate_data

        X, y = validate_data(self, X, y, dtype=np.float64)
        check_classification_targets(y)
        if len(self.labels):  # y holds class indices, each named by labels
            if len(self.columns) != X.shape[1]:
                raise ParameterError(f"columns: {len(self.columns)} names for {X.shape[1]} feature columns")
            if y.dtype.kind not in "iuf":
                raise ParameterError(f"y holds {y.dtype} values; with labels, y holds class indices 0..{len(self.labels) - 1}")
            codes = y.astype(np.int64)
            if len(codes) and (codes.min() < 0 or codes.max() >= len(self.labels)):
                raise ParameterError(f"y holds class indices up to {codes.max()}, but labels names {len(self.labels)} classes")
            self.classes_, names = np.arange(len(self.labels)), list(self.labels)
        else:  # y holds the classes themselves
            if len(self.columns) not in (0, X.shape[1]):
                raise ParameterError(f"columns: {len(self.columns)} names for {X.shape[1]} feature columns")
            self.classes_, codes = np.unique(y, return_inverse=True)
            names = [str(c) for c in self.classes_]
        present = np.unique(codes)
        if len(present) < 2:
            raise ParameterError(f"y holds one class ({names[present[0]]!r}); a classifier needs at least two")
        self.mapping_ = tag_columns(names, self.columns)
        indices = not len(self.labels) and all(name.lstrip("-").isdigit() for name in names)
        if self.prior_weight and indices and not any(self.mapping_) and any(tag_columns(list(GENRE_TAGS), self.columns)):
            _warn_once("the columns hold the taggers' tags, but no class is named as a genre they know (classes %s): "
                       "the zero-shot prior is off and the calibrated head alone speaks; where y holds class "
                       "indices, give labels= (class i's genre)", ", ".join(names[:5]) + (", ..." if len(names) > 5 else ""))
        without = untagged([names[c] for c in present], [self.mapping_[c] for c in present])
        if without and self.prior_weight:
            them = "it" if len(without) == 1 else "them"
            _warn_once("%s: no tag of the taggers names %s, so the zero-shot prior ranks %s at the mean of the "
                           "tagged genres' scores, below a tagged genre whose tags fire: the head alone speaks for %s "
                           "(the genres the prior knows: docs/default-model.md)", ", ".join(without), them, them, them)
        self.transform_, self.head_ = self._fit_head(X, codes)
        self.n_iter_ = self.head_.n_iter_
        self.temperature_ = float(self.temperature)
        if self.calibrate:
            self.temperature_ = self._fitted_temperature(X, codes, groups, names)
        return self

    def _fitted_temperature(self, X: np.ndarray, codes: np.ndarray, groups, names: list[str]) -> float:
        """The temperature fitted on the out-of-fold logits of the genres that have training
        rows in more than one group (named in a warning where they hold under half the rows);
        where none has, ``temperature`` as given, with a warning (a genre of one artist says
        nothing of how the model does on a new one)."""
        from genrekit.models.calibration import fit_temperature

        try:
            logits, scored = self._out_of_fold(X, codes, groups)
        except ParameterError as exc:
            _warn_once("not calibrated (%s): the temperature stays %g, and the confidence is the head's and the "
                       "prior's as they are", exc, self.temperature)
            return float(self.temperature)
        left = sorted({names[c] for c in np.unique(codes[~scored])})
        if scored.sum() < len(codes) / 2:  # most rows say nothing of new artists: the temperature rests on a few genres
            _warn_once("the temperature is fitted on %d of %d rows: %s %s one artist (or group) each, so no fold "
                           "held out any of %s while training on %s", int(scored.sum()), len(codes), ", ".join(left),
                           "has" if len(left) == 1 else "have", "it" if len(left) == 1 else "them",
                           "it" if len(left) == 1 else "them")
        return fit_temperature(logits[scored], codes[scored])

    def _head_class_weight(self):
        """``class_weight`` for the head, which is fitted on class indices: a dict keyed by
        class is re-keyed by index."""
        if not isinstance(self.class_weight, dict) or len(self.labels):
            return self.class_weight
        index = {c: i for i, c in enumerate(self.classes_.tolist())}
        return {index[c]: weight for c, weight in self.class_weight.items() if c in index}

    def _fit_head(self, X: np.ndarray, y: np.ndarray):
        import warnings

        from sklearn.linear_model import LogisticRegression

        transform = self._fit_transform(X)
        head = LogisticRegression(C=self.C, class_weight=self._head_class_weight(), max_iter=self.max_iter,
                                  random_state=self.random_state)
        with warnings.catch_warnings():  # lbfgs' convergence chatter on tiny data
            warnings.simplefilter("ignore")
            head.fit(transform.transform(X), y)
        return transform, head

    @staticmethod
    def _fit_transform(X: np.ndarray):
        """genrekit's standard scaling and Yeo-Johnson transform, fitted on ``X``."""
        from sklearn.pipeline import Pipeline
        from sklearn.preprocessing import StandardScaler

        from genrekit.models.gaussianize import YeoJohnson

        return Pipeline([("scale", StandardScaler()), ("gaussianize", YeoJohnson())]).fit(X)

    def _logits(self, X: np.ndarray, transform, head) -> np.ndarray:
        P = np.full((len(X), len(self.classes_)), 1e-9)
        P[:, head.classes_] = np.maximum(head.predict_proba(transform.transform(X)), 1e-9)
        return np.log(P) + self.prior_weight * zero_shot_logits(X, self.mapping_)

    def _out_of_fold(self, X: np.ndarray, y: np.ndarray, groups: np.ndarray | None,
                     X_scored: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Out-of-fold logits, and which rows count for the temperature: those whose genre
        the fold's head was trained on (a genre of one or two artists loses them all to a
        grouped fold, and its rows would then say nothing about calibration). ``X_scored``:
        the same rows as other features to score the folds' heads on (default ``X``), for a
        temperature that fits a model fed features other than those it was fitted on."""
        from sklearn.model_selection import StratifiedGroupKFold

        X_scored = X if X_scored is None else X_scored
        groups = np.arange(len(y)) if groups is None else np.asarray(groups)
        # folds are made of groups (tracks, artists), and a track may give several rows
        per_genre = max(len(np.unique(groups[y == genre])) for genre in np.unique(y))
        n_splits = int(min(4, per_genre, len(np.unique(groups))))
        if n_splits < 2:
            raise ParameterError("calibrate=True needs at least 2 training groups (tracks or artists) of some genre")
        logits = np.zeros((len(y), len(self.classes_)))
        scored = np.zeros(len(y), dtype=bool)
        folds = StratifiedGroupKFold(n_splits, shuffle=True, random_state=self.random_state)
        for train, test in folds.split(X, y, groups):
            logits[test] = self._logits(X_scored[test], *self._fit_head(X[train], y[train]))
            scored[test] = np.isin(y[test], y[train])
        if not scored.any():
            raise ParameterError("calibrate=True: no genre has training rows in more than one group")
        return logits, scored

    def _calibrated_logits(self, X) -> np.ndarray:
        from sklearn.utils.validation import check_is_fitted, validate_data

        check_is_fitted(self)
        X = validate_data(self, X, dtype=np.float64, reset=False)
        return self._logits(X, self.transform_, self.head_) / self.temperature_

    def decision_function(self, X) -> np.ndarray:
        """Calibrated logits [shape=(n, n_classes)]; with two classes, as scikit-learn's
        binary classifiers, the second's minus the first's [shape=(n,)]."""
        logits = self._calibrated_logits(X)
        return logits[:, 1] - logits[:, 0] if len(self.classes_) == 2 else logits

    def predict_log_proba(self, X) -> np.ndarray:
        logits = self._calibrated_logits(X)
        return logits - np.logaddexp.reduce(logits, axis=1, keepdims=True)

    def predict_proba(self, X) -> np.ndarray:
        return np.exp(self.predict_log_proba(X))

    def predict(self, X) -> np.ndarray:
        best = self._calibrated_logits(X).argmax(axis=1)
        return self.classes_[best]
