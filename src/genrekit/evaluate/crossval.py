"""Cross-validation by track (nested when tuning) and the model comparison table."""

from __future__ import annotations

import logging
import time

import numpy as np
from joblib import Parallel, delayed

from genrekit.datasets import FeatureTable, kfold_splits
from genrekit.evaluate.metrics import aggregate_tracks, classification_scores
from genrekit.models import make_model, make_search
from genrekit.models.classical import predict_proba, quiet_fit

logger = logging.getLogger(__name__)


def fit_estimator(name: str, X, y, groups, *, search: bool, n_iter: int, inner_splits: int, seed: int):
    """Fit the named model on training rows; with ``search``, tune it by grouped inner CV first."""
    with quiet_fit():
        if not search:
            return make_model(name, seed=seed).fit(X, y), {}
        searcher = make_search(name, n_iter=n_iter, n_splits=inner_splits, seed=seed, n_jobs=1)
        searcher.fit(X, y, groups=groups)
        return searcher.best_estimator_, dict(searcher.best_params_)


def _fold(table: FeatureTable, name: str, train_tracks, test_tracks, *, search, n_iter, inner_splits, seed, aggregation):
    train = table.rows_of(train_tracks)
    test = table.rows_of(test_tracks)
    started = time.perf_counter()
    estimator, best = fit_estimator(
        name, table.X[train], table.y[train], table.groups[train],
        search=search, n_iter=n_iter, inner_splits=inner_splits, seed=seed,
    )
    fit_seconds = time.perf_counter() - started
    proba = predict_proba(estimator, table.X[test])
    track_proba, tracks = aggregate_tracks(proba, table.tracks[test], method=aggregation)
    y_of = dict(zip(table.tracks[test], table.y[test]))
    track_scores = classification_scores(np.array([y_of[t] for t in tracks]), track_proba, table.labels)
    chunk_scores = classification_scores(table.y[test], proba, table.labels)
    return {
        "accuracy": track_scores["accuracy"],
        "f1_macro": track_scores["f1_macro"],
        "balanced_accuracy": track_scores["balanced_accuracy"],
        "chunk_accuracy": chunk_scores["accuracy"],
        "fit_seconds": fit_seconds,
        "best_params": best,
        "n_train_tracks": len(train_tracks),
        "n_test_tracks": len(test_tracks),
        "test_tracks": list(map(str, tracks)),
        "test_proba": track_proba.tolist(),
    }


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
) -> dict:
    """Stratified K-fold CV over tracks (grouped by artist where known).

    Chunks of a track are always on the same side. With ``search`` the hyperparameters are
    tuned by randomized search inside each training fold (nested CV); the test fold never
    informs the search. Scores are track-level; ``chunk_accuracy`` is per chunk.

    Returns
    -------
    dict with per-fold results under ``folds`` and ``accuracy_mean``, ``accuracy_std``,
    ``f1_macro_mean``, ``f1_macro_std``, ``chunk_accuracy_mean``, ``fit_seconds`` (mean per fold).
    """
    tracks = table.track_frame()
    folds = kfold_splits(tracks["y"].to_numpy(), tracks["group"].to_numpy(), n_splits=n_splits, seed=seed)
    jobs = [
        delayed(_fold)(
            table, name, tracks["track"].to_numpy()[train], tracks["track"].to_numpy()[test],
            search=search, n_iter=n_iter, inner_splits=inner_splits, seed=seed, aggregation=aggregation,
        )
        for train, test in folds
    ]
    results = Parallel(n_jobs=n_jobs or -1, prefer="processes")(jobs)
    summary = {"model": name, "n_splits": n_splits, "search": search, "folds": results}
    for key in ("accuracy", "f1_macro", "balanced_accuracy", "chunk_accuracy"):
        values = np.array([r[key] for r in results])
        summary[f"{key}_mean"] = float(values.mean())
        summary[f"{key}_std"] = float(values.std())
    summary["fit_seconds"] = float(np.mean([r["fit_seconds"] for r in results]))
    return summary
