"""Cross-validation by track (nested when tuning) for every model kind: one fold function,
which fits and scores through a recipe (:mod:`genrekit.train.recipes`)."""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Sequence

import numpy as np

from genrekit.datasets import Dataset, FeatureTable, kfold_splits
from genrekit.errors import ParameterError, check_flags
from genrekit.evaluate.metrics import aggregate_tracks, classification_scores
from genrekit.evaluate.report import untrained_words
from genrekit.models.aggregation import check_aggregation
from genrekit.models.classical import fit_estimator  # noqa: F401  (re-exported: callers import it from here)
from genrekit.runners import LocalRunner, pool_size
from genrekit.train.recipes import Recipe, make_recipe

logger = logging.getLogger(__name__)

SCORES = ("accuracy", "f1_macro", "balanced_accuracy", "chunk_accuracy")


def fold(recipe: Recipe, train_tracks: Sequence[str], test_tracks: Sequence[str], *,
         aggregations: Sequence[str] = ("mean",)) -> tuple[dict, object]:
    """Fit ``recipe`` on ``train_tracks`` and score it on ``test_tracks``.

    Parameters
    ----------
    recipe : Recipe
        A model kind's fitting (:class:`~genrekit.train.recipes.TableRecipe` or
        :class:`~genrekit.train.recipes.NetworkRecipe`).
    train_tracks, test_tracks : sequence of str
        Track ids; every chunk of a track is on its track's side.
    aggregations : sequence of str
        Chunks to track: the first gives the track scores; each other one adds
        ``accuracy_<method>`` (``("mean", "vote")``: also ``accuracy_vote``).

    Returns
    -------
    scores : dict
        ``accuracy``, ``f1_macro``, ``balanced_accuracy`` (track level), ``chunk_accuracy``,
        ``fit_seconds``, ``n_train_tracks``, ``n_test_tracks``, ``test_tracks`` and ``test_proba``
        (the tracks' probabilities, one row per track), ``failures`` (path -> reason), and the
        kind's details (``best_params``; networks: ``epochs``, ``seconds_per_epoch``,
        ``n_train_chunks``, ``history``).
    model : object
        The fitted model.
    """
    started = time.perf_counter()
    fitted = recipe.fit(train_tracks)
    fit_seconds = time.perf_counter() - started
    chunks = recipe.chunk_proba(fitted.model, test_tracks)
    y_of = dict(zip(chunks.tracks, chunks.y))
    per_method = {}
    for method in aggregations:
        track_proba, tracks = aggregate_tracks(chunks.proba, chunks.tracks, method=method)
        per_method[method] = (classification_scores(np.array([y_of[t] for t in tracks]), track_proba, recipe.labels),
                              tracks, track_proba)
    track_scores, tracks, track_proba = per_method[aggregations[0]]
    scores = {
        "accuracy": track_scores["accuracy"],
        **{f"accuracy_{method}": per_method[method][0]["accuracy"] for method in aggregations[1:]},
        "f1_macro": track_scores["f1_macro"],
        "balanced_accuracy": track_scores["balanced_accuracy"],
        "chunk_accuracy": classification_scores(chunks.y, chunks.proba, recipe.labels)["accuracy"],
        "fit_seconds": fit_seconds,
        **fitted.details,
        "n_train_tracks": len(fitted.tracks),
        "n_test_tracks": len(tracks),
        "test_tracks": list(map(str, tracks)),
        "test_proba": track_proba.tolist(),
        "failures": {**fitted.failures, **chunks.failures},
    }
    return scores, fitted.model


def out_of_fold_probabilities(folds: Sequence[dict], labels: Sequence[str]) -> dict[str, dict[str, float]]:
    """Track id -> genre -> its probability from the fold that held the track out, from
    cross-validation's per-fold ``test_tracks`` and ``test_proba``. Not rounded: a tied vote's
    tie-break lies in the sixth decimal (:data:`genrekit.models.aggregation.VOTE_TIE_WEIGHT`), and
    the genre these name must be the one the fold's accuracy counted."""
    return {track: {label: float(p) for label, p in zip(labels, proba)}
            for fold in folds for track, proba in zip(fold["test_tracks"], fold["test_proba"])}


def _fold_worker(recipe: Recipe, aggregations: tuple):
    """A runner's worker: the recipe (its table) handed over once per worker process, then a
    fold's ``(train, test)`` tracks -> its scores."""
    def scores(item: tuple) -> dict:
        train_tracks, test_tracks = item
        return fold(recipe, train_tracks, test_tracks, aggregations=aggregations)[0]
    return scores


def cross_validate_recipe(
    recipe: Recipe,
    track_folds: Sequence[tuple],
    *,
    aggregations: Sequence[str] = ("mean",),
    n_jobs: int | None = 1,
    summary: dict | None = None,
) -> dict:
    """Score ``recipe`` on every fold of ``track_folds`` (train track ids, test track ids).

    Parameters
    ----------
    recipe : Recipe
    track_folds : sequence of (train ids, test ids)
    aggregations : sequence of str
        As :func:`fold`.
    n_jobs : int or None
        Folds fitted at once, in worker processes that end with this one (None: one per
        core; 1: in this process).
    summary : dict, optional
        Fields the caller adds to the summary, after ``model``, ``n_splits`` and ``search``.

    Returns
    -------
    dict
        ``model``, ``n_splits``, the ``summary`` fields, ``folds`` (as :func:`fold`'s scores),
        ``<score>_mean`` and ``<score>_std`` for ``accuracy``, ``accuracy_<method>``,
        ``f1_macro``, ``balanced_accuracy`` and ``chunk_accuracy`` (the folds' standard deviation,
        numpy's ``ddof=0`` as scikit-learn's ``cross_val_score`` examples report it), and
        ``fit_seconds`` (mean per fold).
    """
    for method in aggregations:
        check_aggregation(method)
    items = [(np.asarray(train), np.asarray(test)) for train, test in track_folds]
    results: list = [None] * len(items)
    # genrekit's process pool: its workers end with this process, even when it is killed
    for index, scores in LocalRunner(n_jobs).map(_fold_worker, (recipe, tuple(aggregations)), items):
        results[index] = scores
    result = {"model": recipe.name, "n_splits": len(results), **(summary or {}), "folds": results}
    for key in ("accuracy", *(f"accuracy_{m}" for m in aggregations[1:]), *SCORES[1:]):
        values = np.array([r[key] for r in results])
        result[f"{key}_mean"] = float(values.mean())
        result[f"{key}_std"] = float(values.std())
    result["fit_seconds"] = float(np.mean([r["fit_seconds"] for r in results]))
    return result


def cross_validate(
    table: FeatureTable,
    name: str,
    *,
    n_splits: int = 5,
    seed: int = 0,
    search: bool = False,
    n_iter: int = 20,
    inner_splits: int = 3,
    aggregation: str = "mean",
    n_jobs: int | None = None,
    track_folds: list[tuple] | None = None,
) -> dict:
    """Stratified K-fold CV of a classical model over a feature table's tracks (grouped by
    artist where known).

    Chunks of a track are always on the same side. With ``search`` the hyperparameters are
    tuned by randomized search inside each training fold (nested CV); the test fold never
    informs the search. Scores are track-level; ``chunk_accuracy`` is per chunk.

    Parameters
    ----------
    table : FeatureTable
        Every track's feature rows.
    name : str
        A classical model (see :data:`genrekit.models.MODELS`).
    n_splits, seed : int
        Folds, and the seed of the folds, the search and the model.
    search, n_iter, inner_splits
        Nested randomized search: ``n_iter`` candidates over ``inner_splits`` grouped folds
        of each training fold.
    aggregation : str
        Chunks to track: ``mean`` or ``vote``.
    n_jobs : int or None
        Folds fitted at once, in worker processes (None, 0 or less: one per core; 1: in this process).
    track_folds : list of (train ids, test ids), optional
        Replaces the stratified folds (and ``n_splits``), so that other models (networks) can
        be scored on exactly the same folds: track ids, as :func:`table_folds` and
        :func:`dataset_folds` give them (:func:`genrekit.datasets.kfold_splits` gives
        positions; ``table.track_frame()["track"]`` maps them to ids).

    Returns
    -------
    dict
        As :func:`cross_validate_recipe`: per-fold results under ``folds`` and
        ``accuracy_mean``, ``accuracy_std``, ``f1_macro_mean``, ``f1_macro_std``,
        ``chunk_accuracy_mean``, ``fit_seconds`` (mean per fold); and ``search``, ``seed``,
        and ``grouping``: how the folds keep tracks together (:func:`genrekit.datasets.fold_grouping`;
        ``"given"`` with ``track_folds``). Folds of GTZAN clips by track (no artists known)
        are named in a warning: adjacent clip ids are often one artist's; so are folds of its
        own that test a genre they never trained on (every track of the genre one artist's).

    Raises
    ------
    ParameterError
        ``table`` is not a FeatureTable, ``name`` is no model genrekit knows, ``seed`` is not a
        whole number from 0 to 2**32 - 1, ``n_jobs`` is not None or a whole number
        (:func:`genrekit.runners.pool_size`),
        or ``track_folds`` holds no fold, names a track the table does not hold, or has a fold
        whose training or test part is empty or that tests a track it trains on.
    DatasetError
        ``name`` is a network, which trains from audio (see :func:`model_fold`).
    """
    from genrekit.datasets import fold_grouping
    from genrekit.datasets.splits import check_seed, gtzan_shares_artists
    from genrekit.datasets.table import check_feature_table

    check_feature_table(table)
    check_seed(seed)
    pool_size(n_jobs)  # the folds' pool: refused before any fold is fitted
    check_aggregation(aggregation)  # (it was found wrong after every fold was fitted)
    if track_folds is None:
        track_folds = table_folds(table, n_splits=n_splits, seed=seed)
        grouping = fold_grouping(table)
        if shared := gtzan_shares_artists(table, "these folds", "the table"):
            logger.warning("%s", shared)
        genre_of = {str(t): table.labels[y] for t, y in zip(table.tracks, table.y)}
        if untrained := untrained_genres(track_folds, genre_of):
            logger.warning("cross-validation: %s", untrained_words(untrained))
    else:
        track_folds = _check_track_folds(table, track_folds)
        grouping = "given"
    recipe = make_recipe(name, table=table, search=search, n_iter=n_iter, inner_splits=inner_splits, seed=seed)
    return cross_validate_recipe(recipe, track_folds, aggregations=(aggregation,), n_jobs=n_jobs,
                                 summary={**recipe.summary, "seed": int(seed), "grouping": grouping})


def _check_track_folds(table: FeatureTable, track_folds) -> list:
    """``track_folds`` as a list of pairs of lists; a ParameterError naming the fold where it names a track
    ``table`` does not hold (positions given for ids, say), where none is given or a fold's part
    is empty, and where a fold tests a track it trains on."""
    known = set(map(str, table.tracks))
    track_folds = list(track_folds)
    if not track_folds:  # a mean of no scores: NaN, said nowhere
        raise ParameterError("track_folds: no fold given; expected (train ids, test ids) pairs, as table_folds gives")
    checked = []
    for number, fold in enumerate(track_folds, 1):
        try:
            train, test = (list(part) for part in fold)
        except (TypeError, ValueError):
            raise ParameterError(f"track_folds: fold {number} is not a pair of (train ids, test ids)") from None
        checked.append((train, test))
        # numpy's scalars as Python's: np.int64(3) is shown as 3
        strangers = [t.item() if isinstance(t, np.generic) else t for t in (*train, *test) if str(t) not in known]
        if strangers:
            raise ParameterError(f"track_folds: fold {number} names {len(strangers)} track(s) the table does not hold "
                                 f"(first: {', '.join(map(repr, strangers[:3]))}); expected track ids, as "
                                 "table_folds gives them (kfold_splits gives positions)")
        if not len(train) or not len(test):
            raise ParameterError(f"track_folds: fold {number} has {len(train)} training and {len(test)} test "
                                 "track(s); expected some of each")
        # a track scored by a model that trained on it: its score says nothing of other music
        shared = sorted(set(map(str, train)) & set(map(str, test)))
        if shared:
            raise ParameterError(f"track_folds: fold {number} tests {len(shared)} track(s) it also trains on "
                                 f"(first: {', '.join(map(repr, shared[:3]))}); expected test tracks held out")
    return checked


def untrained_genres(track_folds, genre_of: dict) -> dict[str, list[str]]:
    """Fold number (from 1) -> the genres its test part holds and its training part lacks
    (every artist of the genre in that test part): no model can name them there."""
    found = {}
    for number, (train, test) in enumerate(track_folds, 1):
        trained = {genre_of[str(t)] for t in train}
        missing = sorted({genre_of[str(t)] for t in test} - trained)
        if missing:
            found[str(number)] = missing
    return found


def table_folds(table: FeatureTable, *, n_splits: int = 5, seed: int = 0) -> list[tuple[np.ndarray, np.ndarray]]:
    """Stratified K-fold over a feature table's tracks (grouped by artist where known):
    (train track ids, test track ids) per fold."""
    tracks = table.track_frame()
    ids = tracks["track"].to_numpy()
    folds = kfold_splits(tracks["y"].to_numpy(), tracks["group"].to_numpy(), n_splits=n_splits, seed=seed)
    return [(ids[train], ids[test]) for train, test in folds]


def dataset_folds(dataset: Dataset | str | os.PathLike, *, n_splits: int = 5, seed: int = 0) -> list[tuple[list[str], list[str]]]:
    """Stratified K-fold over a dataset's tracks (grouped by artist where known):
    (train track ids, test track ids) per fold.

    A group (:attr:`~genrekit.datasets.Dataset.groups`: the artist where known, else the
    file, with copies of one file's bytes joined) is never on both sides of a fold. Finding
    the copies hashes every readable local file.

    Parameters
    ----------
    dataset : Dataset or path
        Labelled tracks.
    n_splits : int
        Folds; each track is in the test side of exactly one.
    seed : int
        Seeds the shuffle: the same dataset and seed give the same folds.

    Returns
    -------
    list of (list of str, list of str)
        ``n_splits`` pairs of train track ids and test track ids, each in dataset order.

    Raises
    ------
    ParameterError
        ``n_splits`` is below 2 or above the number of groups.
    """
    from genrekit.datasets import as_dataset

    dataset = as_dataset(dataset)
    ids = np.array([t.track_id for t in dataset.tracks])
    folds = kfold_splits([t.label for t in dataset.tracks], dataset.groups, n_splits=n_splits, seed=seed)
    return [(ids[train].tolist(), ids[test].tolist()) for train, test in folds]


def model_fold(
    name: str, train_tracks: Sequence[str], test_tracks: Sequence[str], *, dataset: Dataset | None = None,
    table: FeatureTable | None = None, epochs: int = 30, seed: int = 0, device: str = "cpu", progress: bool = False,
) -> tuple[dict, object]:
    """Fit model ``name`` (any kind) on ``train_tracks`` and score it on ``test_tracks``, with
    its kind's aggregations (networks: the mean and the vote of the chunks). A classical model
    is fitted with its default hyperparameters (:func:`cross_validate` can search them).

    A network trains for all ``epochs`` on every training track, with no validation split,
    and keeps its last weights, so no test track chooses an epoch.

    Parameters
    ----------
    name : str
        A model of :func:`genrekit.models.recipe_names`.
    train_tracks, test_tracks : sequence of str
        Track ids.
    dataset : Dataset, optional
        The tracks a network trains from.
    table : FeatureTable, optional
        The rows a classical model is fitted on.
    epochs, seed : int
    device : str
        ``cpu``, or ``cuda`` when present.
    progress : bool
        Show progress bars.

    Returns
    -------
    scores : dict
        As :func:`fold`'s (networks add ``accuracy_vote``, ``seconds_per_epoch``, ``epochs``,
        ``n_train_chunks`` and ``history``).
    model : object
        The fitted model.
    """
    check_flags(progress=progress)
    recipe = make_recipe(name, table=table, dataset=dataset, epochs=epochs, seed=seed, device=device, progress=progress)
    return fold(recipe, train_tracks, test_tracks, aggregations=recipe.aggregations)
