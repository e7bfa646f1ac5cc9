"""Cross-validation by track (nested when tuning) and the model comparison table."""

from __future__ import annotations

import inspect
import logging
import tempfile
import time

import numpy as np
from joblib import Parallel, delayed

from genrekit.datasets import Dataset, FeatureTable, kfold_splits
from genrekit.evaluate.metrics import aggregate_tracks, classification_scores
from genrekit.models import make_model, make_search
from genrekit.models.classical import predict_proba, quiet_fit

logger = logging.getLogger(__name__)


def fit_estimator(name: str, X, y, groups, *, search: bool, n_iter: int, inner_splits: int, seed: int,
                  labels: list[str] | None = None, columns: list[str] | None = None):
    """Fit the named model on training rows; with ``search``, tune it by grouped inner CV first.
    ``labels`` and ``columns`` name ``y``'s classes and ``X``'s columns (see ``make_model``);
    a classifier whose ``fit`` takes ``groups`` (to keep its own inner folds grouped) gets them."""
    with quiet_fit():
        if not search:
            model = make_model(name, seed=seed, labels=labels, columns=columns)
            takes_groups = "groups" in inspect.signature(model[-1].fit).parameters
            return model.fit(X, y, **({"clf__groups": groups} if takes_groups else {})), {}
        with tempfile.TemporaryDirectory(prefix="genrekit-search-") as cache:
            searcher = make_search(name, n_iter=n_iter, n_splits=inner_splits, seed=seed, n_jobs=1, memory=cache,
                                   labels=labels, columns=columns)
            takes_groups = "groups" in inspect.signature(searcher.estimator[-1].fit).parameters
            searcher.fit(X, y, groups=groups, **({"clf__groups": groups} if takes_groups else {}))
        return searcher.best_estimator_.set_params(memory=None), dict(searcher.best_params_)


def _fold(table: FeatureTable, name: str, train_tracks, test_tracks, *, search, n_iter, inner_splits, seed, aggregation):
    train = table.rows_of(train_tracks)
    test = table.rows_of(test_tracks)
    started = time.perf_counter()
    estimator, best = fit_estimator(
        name, table.X[train], table.y[train], table.groups[train],
        search=search, n_iter=n_iter, inner_splits=inner_splits, seed=seed, labels=table.labels, columns=table.columns,
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
    track_folds: list[tuple] | None = None,
) -> dict:
    """Stratified K-fold CV over tracks (grouped by artist where known).

    Chunks of a track are always on the same side. With ``search`` the hyperparameters are
    tuned by randomized search inside each training fold (nested CV); the test fold never
    informs the search. Scores are track-level; ``chunk_accuracy`` is per chunk.
    ``track_folds`` (train track ids, test track ids per fold) replaces the stratified
    folds, so that other models (networks) can be scored on exactly the same folds.

    Returns
    -------
    dict with per-fold results under ``folds`` and ``accuracy_mean``, ``accuracy_std``,
    ``f1_macro_mean``, ``f1_macro_std``, ``chunk_accuracy_mean``, ``fit_seconds`` (mean per fold).
    """
    if track_folds is None:
        tracks = table.track_frame()
        ids = tracks["track"].to_numpy()
        folds = kfold_splits(tracks["y"].to_numpy(), tracks["group"].to_numpy(), n_splits=n_splits, seed=seed)
        track_folds = [(ids[train], ids[test]) for train, test in folds]
    n_splits = len(track_folds)
    jobs = [
        delayed(_fold)(
            table, name, np.asarray(train), np.asarray(test),
            search=search, n_iter=n_iter, inner_splits=inner_splits, seed=seed, aggregation=aggregation,
        )
        for train, test in track_folds
    ]
    results = Parallel(n_jobs=n_jobs or -1, prefer="processes")(jobs)
    summary = {"model": name, "n_splits": n_splits, "search": search, "folds": results}
    for key in ("accuracy", "f1_macro", "balanced_accuracy", "chunk_accuracy"):
        values = np.array([r[key] for r in results])
        summary[f"{key}_mean"] = float(values.mean())
        summary[f"{key}_std"] = float(values.std())
    summary["fit_seconds"] = float(np.mean([r["fit_seconds"] for r in results]))
    return summary


def dataset_folds(dataset: Dataset, *, n_splits: int = 5, seed: int = 0) -> list[tuple[list[str], list[str]]]:
    """Stratified K-fold over a dataset's tracks (grouped by artist where known):
    (train track ids, test track ids) per fold."""
    ids = np.array([t.track_id for t in dataset.tracks])
    folds = kfold_splits([t.label for t in dataset.tracks], dataset.groups, n_splits=n_splits, seed=seed)
    return [(ids[train].tolist(), ids[test].tolist()) for train, test in folds]


def network_fold(
    dataset: Dataset, preset: str, train_tracks, test_tracks, *, epochs: int = 30, seed: int = 0,
    device: str = "cpu", progress: bool = False,
) -> tuple[dict, object]:
    """Train a network preset on every training track for ``epochs`` epochs and score the test tracks.

    There is no validation split: all epochs run and the last weights are kept, so no
    test track chooses an epoch. Returns the fold's scores (as :func:`cross_validate`'s
    folds, plus ``accuracy_vote``, ``seconds_per_epoch``, ``history``) and the network.
    """
    import torch

    from genrekit.models.nets import build_network
    from genrekit.models.nets.training import TrainConfig, network_chunks, predict_chunks, train_network

    parts = {**{t: "train" for t in train_tracks}, **{t: "test" for t in test_tracks}}
    config = TrainConfig(preset=preset, epochs=epochs, seed=seed, device=device)
    torch.manual_seed(seed)
    net = build_network(preset, len(dataset.labels), labels=dataset.labels)
    started = time.perf_counter()
    sets, failures = network_chunks(net, preset, dataset.tracks, dataset.labels, parts, config=config.resolved())
    net, history = train_network(sets["train"], None, len(dataset.labels), config, net=net, progress=progress)
    fit_seconds = time.perf_counter() - started
    test = sets["test"]
    proba = predict_chunks(net.body if hasattr(net, "body") else net, test.X.to(device))
    y = test.y.numpy()
    scores = {}
    for method in ("mean", "vote"):
        track_proba, tracks = aggregate_tracks(proba, test.track, method=method)
        y_of = dict(zip(test.track, y))
        scores[method] = (classification_scores(np.array([y_of[t] for t in tracks]), track_proba, dataset.labels),
                          tracks, track_proba)
    track_scores, tracks, track_proba = scores["mean"]
    result = {
        "accuracy": track_scores["accuracy"],
        "accuracy_vote": scores["vote"][0]["accuracy"],
        "f1_macro": track_scores["f1_macro"],
        "balanced_accuracy": track_scores["balanced_accuracy"],
        "chunk_accuracy": classification_scores(y, proba, dataset.labels)["accuracy"],
        "fit_seconds": fit_seconds,
        "seconds_per_epoch": float(np.mean([h["train_seconds"] for h in history])),
        "epochs": len(history),
        "n_train_chunks": len(sets["train"].y),
        "best_params": {},
        "n_train_tracks": len(set(sets["train"].track)),
        "n_test_tracks": len(tracks),
        "test_tracks": list(map(str, tracks)),
        "test_proba": track_proba.tolist(),
        "failures": failures,
        "history": history,
    }
    return result, net


def cross_validate_network(
    dataset: Dataset,
    preset: str,
    *,
    n_splits: int = 5,
    seed: int = 0,
    epochs: int = 30,
    device: str = "cpu",
    track_folds: list[tuple] | None = None,
    progress: bool = False,
) -> dict:
    """:func:`cross_validate` for a network preset, trained from audio on each fold
    (see :func:`network_fold`); the same summary keys, plus ``accuracy_vote_mean``."""
    track_folds = track_folds or dataset_folds(dataset, n_splits=n_splits, seed=seed)
    results = [network_fold(dataset, preset, train, test, epochs=epochs, seed=seed, device=device, progress=progress)[0]
               for train, test in track_folds]
    summary = {"model": preset, "n_splits": len(track_folds), "search": False, "epochs": epochs, "folds": results}
    for key in ("accuracy", "accuracy_vote", "f1_macro", "balanced_accuracy", "chunk_accuracy"):
        values = np.array([r[key] for r in results])
        summary[f"{key}_mean"] = float(values.mean())
        summary[f"{key}_std"] = float(values.std())
    summary["fit_seconds"] = float(np.mean([r["fit_seconds"] for r in results]))
    return summary
