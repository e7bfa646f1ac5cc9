"""Training a classical model: its feature table, fitting on the train and validation tracks'
rows, the test rows' scores and, on small datasets, k-fold CV over every track."""

from __future__ import annotations

import logging
import os
import tempfile
from functools import partial
from pathlib import Path

import numpy as np

from genrekit.datasets import Dataset, build_feature_table, fold_grouping, kfold_splits
from genrekit.datasets.splits import GTZAN_ID_BLOCK, gtzan_id_blocks
from genrekit.errors import DatasetError, ParameterError, check_flags
from genrekit.evaluate import cross_validate, score_dataset
from genrekit.evaluate.crossval import out_of_fold_probabilities, table_folds
from genrekit.features import FeatureCache, FeatureSpec
from genrekit.features.registry import as_feature_spec
from genrekit.models import DEFAULT_MODEL, MODELS, GenreModel, default_spec, network_names, save_model
from genrekit.train.recipes import TableRecipe, check_search
from genrekit.runners import default_jobs
from genrekit.train.run import Trained, TrainResult, run_training

logger = logging.getLogger(__name__)

# Datasets up to this many tracks also get k-fold CV in train: a few test tracks make a
# noisy headline (80 clips leave 10 test tracks: one clip is 10 points of accuracy).
SMALL_DATASET = 1000


MODEL_FILE = "model.genrekit"


def train_model(
    dataset: Dataset | str | os.PathLike,
    *,
    spec: FeatureSpec | str | None = None,
    model: str = DEFAULT_MODEL,
    split: str = "random",
    sizes: tuple[float, float, float] = (0.8, 0.1, 0.1),
    seed: int = 0,
    search: bool = False,
    n_iter: int = 20,
    aggregation: str = "mean",
    cache: FeatureCache | None = None,
    n_jobs: int | None = None,
    progress: bool = True,
    out_dir: str | Path | None = None,
    cv: bool = True,
) -> TrainResult:
    """Extract features, fit on the train and validation tracks, score on the test tracks.

    The test tracks (all their chunks) are never seen in fitting or tuning; they are scored as
    ``genrekit evaluate`` scores the saved model (:func:`genrekit.evaluate.score_dataset`: the
    audio cut as ``predict`` cuts it), so both report the same numbers. With ``search``,
    hyperparameters are tuned by grouped K-fold inside the training tracks. The run folder
    (:func:`~genrekit.train.run.write_run_folder`) gets ``model.genrekit``, ``metrics.json|md``,
    ``confusion_matrix.png``, ``predictions.csv`` (test tracks), ``splits.csv`` and ``run.json``.

    With ``cv`` and at most :data:`SMALL_DATASET` tracks, the model is also scored by
    stratified k-fold CV over all the tracks, grouped by artist where the dataset knows
    artists (``result.cv``, ``cv.json``, the model's ``metrics["cv"]``): the held-out split
    alone is too small to say much. With ``split="all"`` nothing is held out, so the CV runs
    whatever the size: it is the only score, and its out-of-fold predictions give
    ``result.disagreements``.

    Parameters
    ----------
    dataset : Dataset or path
        Labelled tracks, or the path of a dataset (:func:`genrekit.datasets.load_dataset`).
    spec : FeatureSpec or str, optional
        The features, or a feature set's name (default: the model's own, see
        :func:`genrekit.models.default_spec`).
    model : str
        A classical model (see :data:`genrekit.models.MODELS`).
    split : str
        ``random`` (``sizes`` of each genre, by track or artist), ``dataset`` (its own),
        ``gtzan-filtered`` or ``all`` (every track trained on; the k-fold CV is the score).
    sizes : tuple of 3 floats
        Train, validation and test shares for ``split="random"``.
    seed : int
        Seeds the split, the search and the model.
    search, n_iter : bool, int
        Randomized search with ``n_iter`` candidates, by grouped 3-fold CV of the training tracks.
    aggregation : str
        Chunks to track: ``mean`` or ``vote``.
    cache, n_jobs, progress
        Feature extraction: the cache, worker processes, progress bars.
    out_dir : path, optional
        The run folder.
    cv : bool
        Also k-fold CV over all tracks on small datasets.

    Returns
    -------
    TrainResult

    Raises
    ------
    ParameterError
        ``split`` or ``aggregation`` unknown.
    DatasetError
        The training tracks hold fewer than two genres.
    """
    if not isinstance(model, str) or model not in MODELS:  # before any feature is extracted (default_spec takes any)
        raise ParameterError(f"model={model!r} is not a classical model; expected one of {', '.join(MODELS)}"
                             + (" (a network: genrekit.train.train trains any model by name)" if model in network_names()
                                else ""))
    spec = default_spec(model) if spec is None else as_feature_spec(spec)  # a name too, checked before any work
    check_search(search, n_iter)
    check_flags(cv=cv, progress=progress)
    fit = partial(_fit_classical, model=model, spec=spec, search=search, n_iter=n_iter,
                  seed=seed, aggregation=aggregation, cache=cache, n_jobs=n_jobs, progress=progress, cv=cv,
                  any_size=split == "all")
    return run_training(dataset, fit, name=model, split=split, sizes=sizes, seed=seed, aggregation=aggregation,
                        out_dir=out_dir, cache=cache)


def _fit_classical(dataset: Dataset, *, model: str, spec: FeatureSpec, search: bool, n_iter: int, seed: int,
                   aggregation: str, cache, n_jobs, progress: bool, cv: bool, any_size: bool = False) -> Trained:
    """A classical model's step of :func:`~genrekit.train.run.run_training`: the feature table, fitting on the train and
    validation tracks' rows, and the test rows' scores."""
    table, _ = build_feature_table(dataset, spec, cache=cache, n_jobs=n_jobs, progress=progress)
    part = {t.track_id: t.split for t in dataset.tracks}
    fit_tracks = [t for t in dict.fromkeys(table.tracks) if part[t] != "test"]
    test_rows = np.flatnonzero(np.array([part[t] for t in table.tracks]) == "test")
    trained_on = set(np.unique(table.y[table.rows_of(fit_tracks)]).tolist())
    if len(trained_on) < 2:
        raise DatasetError(f"{dataset.source}: the training tracks cover fewer than two genres")
    untrained = [label for y, label in enumerate(table.labels) if y not in trained_on]
    if untrained:  # every training file of the genre failed: the model would list a genre it cannot name
        failed = [table.failures[t.path] for t in dataset.tracks
                  if t.label in untrained and t.path in table.failures and part[t.track_id] != "test"]
        first = f"; first: {failed[0]}" if failed else ""
        raise DatasetError(f"{dataset.source}: genre(s) {', '.join(untrained)} have no training track that could be read "
                           f"({len(failed)} failed{first}); the model could never name them: mend or remove their "
                           "files (the features of the others are cached)")
    fitted = TableRecipe(model, table, search=search, n_iter=n_iter, inner_splits=3, seed=seed).fit(fit_tracks)
    best_params = fitted.details["best_params"]
    genre_model = GenreModel(name=model, labels=table.labels, spec=spec, estimator=fitted.model,
                             params=best_params or {}, aggregation=aggregation)
    metrics, predictions, failures = {}, None, dict(table.failures)
    if len(test_rows):  # scored as `genrekit evaluate` scores the saved model: the same chunks, the same numbers
        test_ids = list(dict.fromkeys(table.tracks[test_rows]))
        # worker processes each load the model: worth it from a few tracks each
        jobs = min(n_jobs or default_jobs(), max(1, len(test_ids) // 4))
        with tempfile.TemporaryDirectory(prefix="genrekit-train-") as folder:
            scored = score_dataset(save_model(genre_model, Path(folder) / MODEL_FILE), dataset.select(test_ids),
                                   include_train=True, aggregation=aggregation, n_jobs=jobs, progress=progress)
        metrics, predictions = scored.metrics, scored.predictions
        failures.update(scored.report["failures"])

    def describe(summary: dict, training: dict) -> None:
        genre_model.metrics, genre_model.training = summary, training

    return Trained(
        model=genre_model, tracks=fitted.tracks, metrics=metrics, predictions=predictions, failures=failures,
        file_name=MODEL_FILE, save=lambda path, *_: save_model(genre_model, path), describe=describe,
        hashes=table.hashes, run={"features": spec.to_dict(), "best_params": best_params},
        # asked, and (where asked) whether it ran: too few tracks or artists for inner folds fit the defaults
        training={"search": search, **({"searched": bool(best_params)} if search else {})},
        cv=_auxiliary_cv(table, model, seed=seed, aggregation=aggregation, n_jobs=n_jobs, any_size=any_size,
                         search=search, n_iter=n_iter) if cv else None,
    )


def _auxiliary_cv(table, model: str, **options) -> dict | None:
    """:func:`small_dataset_cv` after the model is fitted: where it fails, the fitted model is
    kept and saved, and the failure said (a score beside the model is not worth the model)."""
    from genrekit.errors import AnalysisStopped

    try:
        return small_dataset_cv(table, model, **options)
    except AnalysisStopped:  # a run being stopped stops here too
        raise
    except Exception as exc:  # noqa: BLE001 - any failure of the extra score; the model stands
        logger.warning("the k-fold CV beside the model failed, so none is reported (%s: %s); the model itself is "
                       "fitted and saved", type(exc).__name__, exc)
        logger.debug("the k-fold CV's failure", exc_info=exc)
        return None


def small_dataset_cv(table, model: str, *, seed: int = 0, aggregation: str = "mean",
                     n_jobs: int | None = None, any_size: bool = False, search: bool = False,
                     n_iter: int = 20) -> dict | None:
    """Stratified k-fold CV of ``model`` over all of ``table``'s tracks, grouped by artist where
    known (k = 5, or the smallest genre's track count when lower), for tables of at most
    :data:`SMALL_DATASET` tracks (any number with ``any_size``: ``split="all"`` holds nothing
    out, so the CV is its only score); None for larger tables or a genre with fewer than 2 tracks.

    Parameters
    ----------
    table : FeatureTable
        Every track's feature rows, with each track's group (artist, else file).
    model : str
        A classical model (see :data:`genrekit.models.MODELS`).
    seed : int
        Seeds the folds and the model.
    aggregation : str
        Chunks to track: ``mean`` or ``vote``.
    n_jobs : int, optional
        Folds fitted at once, in worker processes (None: one per core).
    any_size : bool
        Run whatever the number of tracks.
    search, n_iter : bool, int
        The training's randomized search, nested in each training fold (3 inner folds), so
        the CV scores the model as it is trained (without it, the untuned configuration was
        scored and reported beside the tuned model).

    Returns
    -------
    dict or None
        ``protocol`` (in words), ``n_splits``, ``n_tracks``, ``accuracy_mean``, ``accuracy_std``,
        ``balanced_accuracy_mean``, ``f1_macro_mean``, ``fold_accuracy`` (one per fold),
        ``per_genre`` (genre -> ``n``, ``recall`` and ``precision``, None where undefined),
        ``out_of_fold`` (track id -> genre -> its probability from the fold that held the track
        out) and ``untrained_tracks`` (those whose fold never trained on their genre: a genre of
        too few artists to share between folds; a warning names the genres); for GTZAN clips,
        whose artists are not named, ``by_id_blocks``: the same CV with folds grouped by blocks
        of adjacent ids (``protocol``, ``n_splits``, the scores and ``fold_accuracy``; absent
        where the blocks are too few). ``n_splits`` is also no more than the number of groups.
        None, besides the cases above, when every track is in one group; a warning is logged
        for that and for a genre of one track.

    Raises
    ------
    ParameterError
        ``model`` is unknown (this and the two below only where the CV runs).
    DatasetError
        ``model`` is a network, which trains from audio, not from a table.
    ModelError
        ``model`` is ``xgboost`` and xgboost is not installed.
    """
    tracks = table.track_frame()
    smallest = int(tracks.groupby("y").size().min())
    if len(tracks) > SMALL_DATASET and not any_size:
        return None
    if smallest < 2:
        counts = tracks.groupby("y").size()
        thin = [table.labels[y] for y, n in counts.items() if n < 2]
        logger.warning("no k-fold CV: genre(s) %s have a single track, which cannot be both trained on and tested "
                       "(leave them out of the dataset; a library labelled by its tags: --min-per-genre 2)", ", ".join(thin))
        return None
    n_groups = int(tracks["group"].nunique())
    if n_groups < 2:
        logger.warning("no k-fold CV: every track is by one artist, so no fold could be tested on another")
        return None
    n_splits = min(5, smallest, n_groups)  # grouped folds: no more folds than artists

    def scored(track_folds) -> dict:  # the folds given: train has said already where GTZAN's by track share artists
        return cross_validate(table, model, seed=seed, aggregation=aggregation, search=search, n_iter=n_iter,
                              n_jobs=n_jobs if n_jobs and n_jobs > 0 else None, inner_splits=3, track_folds=track_folds)

    result = scored(table_folds(table, n_splits=n_splits, seed=seed))
    out_of_fold = out_of_fold_probabilities(result["folds"], table.labels)
    untrained = _untrained_tracks(tracks, result["folds"])
    if untrained:
        thin = sorted({table.labels[y] for y in tracks.set_index("track").loc[untrained, "y"]})
        logger.warning("k-fold CV: genre(s) %s are held out whole by the fold that tests them (their tracks are too "
                       "few artists to share between folds), so those %d track(s) are scored by a model that never "
                       "learned their genre (recall 0 there by construction) and are not called mis-tags",
                       ", ".join(thin), len(untrained))
    grouping = fold_grouping(table)
    scores = {"protocol": f"stratified {n_splits}-fold CV over all {len(tracks)} tracks, "
                          + (f"grouped {grouping}" if grouping != "by track" else "by track (no artists known)")
                          + _search_words(search, n_iter, result["folds"]),
              "n_splits": n_splits, "n_tracks": len(tracks), **_scores(result),
              "per_genre": _per_genre(tracks, table.labels, out_of_fold),
              "out_of_fold": out_of_fold, "untrained_tracks": untrained}
    folds = _id_block_folds(tracks, seed) if grouping == "by track" else None
    if folds:  # GTZAN's clips, whose artists are not named: the CV again, blocks of adjacent ids kept together
        again = scored(folds)
        scores["by_id_blocks"] = {
            "protocol": f"stratified {len(folds)}-fold CV over all {len(tracks)} tracks, grouped by blocks of "
                        f"{GTZAN_ID_BLOCK} adjacent GTZAN ids (a stand-in for artists, which GTZAN does not name)"
                        + _search_words(search, n_iter, again["folds"]),
            "n_splits": len(folds), **_scores(again)}
    return scores


def _scores(result: dict) -> dict:
    """A CV's summary scores (of :func:`cross_validate`), rounded, and each fold's accuracy."""
    return {**{k: round(float(result[k]), 4) for k in ("accuracy_mean", "accuracy_std", "balanced_accuracy_mean",
                                                       "f1_macro_mean") if k in result},
            "fold_accuracy": [round(float(f["accuracy"]), 4) for f in result["folds"]]}


def _id_block_folds(tracks, seed: int) -> list[tuple[np.ndarray, np.ndarray]] | None:
    """(train ids, test ids) of folds that keep blocks of adjacent GTZAN ids together
    (:func:`~genrekit.datasets.splits.gtzan_id_blocks`), so that an artist's neighbouring clips
    are less often on both sides, as docs/benchmarks.md's grouped protocol has them; None for
    tracks that are not GTZAN clips of unknown artists, or blocks too few for two folds."""
    blocks = gtzan_id_blocks(tracks["track"].astype(str).tolist(), tracks["group"].astype(str).tolist())
    if blocks is None:
        return None
    per_genre = tracks.assign(block=blocks).groupby("y")["block"].nunique()
    n_splits = min(5, int(tracks.groupby("y").size().min()), len(set(blocks)))
    if n_splits < 2 or per_genre.min() < 2:  # a genre in one block would be tested untrained
        return None
    ids = tracks["track"].to_numpy()
    return [(ids[train], ids[test]) for train, test in kfold_splits(tracks["y"].to_numpy(), blocks,
                                                                     n_splits=n_splits, seed=seed)]


def _search_words(search: bool, n_iter: int, folds: list[dict]) -> str:
    """The CV protocol's words for its nested search: in every training fold, or in those
    whose genres were enough artists for inner folds (the others fitted untuned)."""
    if not search:
        return ""
    searched = sum(bool(fold.get("best_params")) for fold in folds)
    if not searched:
        return ", no randomized search (too few tracks or artists in each training fold for inner folds)"
    where = "each training fold" if searched == len(folds) else f"{searched} of the {len(folds)} training folds"
    return f", a {n_iter}-candidate randomized search nested in {where}"


def _untrained_tracks(tracks, folds: list[dict]) -> list[str]:
    """The tracks whose genre the fold that tested them never trained on (every other track of
    the genre in that fold's test part too: one artist, grouped)."""
    genre = dict(zip(tracks["track"].astype(str), tracks["y"]))
    untrained = []
    for fold in folds:
        tested = set(fold["test_tracks"])
        trained = {y for track, y in genre.items() if track not in tested}
        untrained += [t for t in fold["test_tracks"] if genre[t] not in trained]
    return untrained


def _per_genre(tracks, labels: list[str], out_of_fold: dict[str, dict[str, float]]) -> dict[str, dict]:
    """Out-of-fold tracks, recall and precision of each genre (scikit-learn's, through
    :func:`~genrekit.evaluate.metrics.classification_scores`, which gives None where they are
    undefined: recall of a genre with no track, precision of one never named)."""
    from genrekit.evaluate.metrics import classification_scores

    scored = [(y, out_of_fold[t]) for t, y in zip(tracks["track"], tracks["y"]) if t in out_of_fold]
    y_true = np.array([y for y, _ in scored])
    proba = np.array([[p[label] for label in labels] for _, p in scored])
    scores = classification_scores(y_true, proba, labels)
    return {label: {"n": each["support"], **{k: None if each[k] is None else round(each[k], 4)
                                             for k in ("recall", "precision")}}
            for label, each in scores["per_genre"].items()}
