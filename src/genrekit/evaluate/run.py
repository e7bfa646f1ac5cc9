"""Evaluating a saved model on a dataset, and comparing models by cross-validation."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pandas as pd

from genrekit.datasets import Dataset, FeatureTable, build_feature_table
from genrekit.errors import DatasetError
from genrekit.evaluate.crossval import cross_validate
from genrekit.evaluate.metrics import aggregate_tracks, evaluation_metrics
from genrekit.evaluate.report import comparison_markdown, write_evaluation, write_json, write_text_atomic
from genrekit.features import FeatureCache
from genrekit.models import GenreModel

logger = logging.getLogger(__name__)


def predictions_frame(table, rows: np.ndarray, proba: np.ndarray, aggregation: str) -> pd.DataFrame:
    """One row per track: path, true and predicted genre, confidence, probabilities."""
    return track_predictions(table.tracks[rows], table.y[rows], proba, table.labels,
                             paths=table.paths, aggregation=aggregation)


def track_predictions(
    track_index, y_chunk, proba: np.ndarray, labels: list[str], *, paths: dict | None = None, aggregation: str = "mean",
) -> pd.DataFrame:
    """One row per track from chunk rows: path, true and predicted genre, confidence, probabilities."""
    track_proba, tracks = aggregate_tracks(proba, track_index, method=aggregation)
    y_of = dict(zip(track_index, y_chunk))
    paths = paths or {}
    frame = pd.DataFrame({
        "track_id": tracks,
        "path": [paths.get(t, "") for t in tracks],
        "true": [labels[y_of[t]] for t in tracks],
        "predicted": [labels[i] for i in track_proba.argmax(axis=1)],
        "confidence": track_proba.max(axis=1),
    })
    for i, label in enumerate(labels):
        frame[f"p_{label}"] = track_proba[:, i]
    return frame


def evaluate_model(
    model: GenreModel,
    dataset: Dataset,
    *,
    include_train: bool = False,
    cache: FeatureCache | None = None,
    n_jobs: int | None = None,
    progress: bool = True,
    out_dir: str | Path | None = None,
) -> tuple[dict, dict]:
    """Score ``model`` on ``dataset``'s tracks.

    Tracks whose audio the model was trained on (same content hash) are left out unless
    ``include_train``: scores on training songs say nothing about new songs. Tracks whose
    genre the model does not know are left out and listed.

    Returns
    -------
    metrics : as :func:`evaluation_metrics` (empty when no track remains)
    report : ``failures`` (path -> reason), ``excluded_training_tracks``, ``unknown_genre_tracks``
    """
    known = set(model.labels)
    unknown = [t for t in dataset.tracks if t.label not in known]
    usable = dataset.select(t.track_id for t in dataset.tracks if t.label in known)
    report = {"unknown_genre_tracks": [t.path for t in unknown], "excluded_training_tracks": []}
    if not usable.tracks:
        raise DatasetError(f"{dataset.root}: none of its genres is known to the model ({', '.join(model.labels)})")
    table, _ = build_feature_table(usable, model.spec, labels=model.labels, cache=cache, n_jobs=n_jobs, progress=progress)
    report["failures"] = table.failures
    rows = np.arange(len(table.tracks))
    if not include_train:
        seen = set(model.training.get("content_sha256", []))
        excluded = [t for t, digest in table.hashes.items() if digest in seen]
        report["excluded_training_tracks"] = excluded
        rows = np.flatnonzero(~np.isin(table.tracks, excluded))
    if not len(rows):
        logger.warning("every track of %s was used to train the model; nothing left to evaluate", dataset.root)
        return {}, report
    proba = model.predict_proba(table.X[rows])
    metrics = evaluation_metrics(
        table.y[rows], proba, table.tracks[rows], model.labels, aggregation=model.aggregation, chunked=model.spec.chunked
    )
    if out_dir is not None:
        write_evaluation(metrics, out_dir, title=f"{model.name} on {dataset.name}")
        write_text_atomic(Path(out_dir) / "predictions.csv", predictions_frame(table, rows, proba, model.aggregation).to_csv(index=False))
        write_json(Path(out_dir) / "run.json", {"command": "evaluate", "model": model.manifest(), **report})
    return metrics, report


def evaluate_network(
    path: str | Path,
    dataset: Dataset,
    *,
    include_train: bool = False,
    aggregation: str | None = None,
    progress: bool = True,
    out_dir: str | Path | None = None,
) -> tuple[dict, dict]:
    """:func:`evaluate_model` for a network file (``model.safetensors``).

    Tracks the network was trained or validated on (same content hash) are left out unless
    ``include_train``; chunk probabilities are combined per track by ``aggregation``
    (default: the network's own). Returns ``(metrics, report)`` as :func:`evaluate_model`.
    """
    from rich.progress import track as progress_bar

    from genrekit.audio import content_hash
    from genrekit.errors import GenrekitError
    from genrekit.models.nets.inference import chunk_proba
    from genrekit.models.nets.training import load_network

    net, config = load_network(path)
    labels = config["labels"]
    aggregation = aggregation or config.get("aggregation", "mean")
    index = {label: i for i, label in enumerate(labels)}
    unknown = [t for t in dataset.tracks if t.label not in index]
    report = {"unknown_genre_tracks": [t.path for t in unknown], "excluded_training_tracks": [], "failures": {}}
    usable = [t for t in dataset.tracks if t.label in index]
    if not usable:
        raise DatasetError(f"{dataset.root}: none of its genres is known to the model ({', '.join(labels)})")
    seen = set(config.get("training", {}).get("content_sha256", []))
    probas, ys, tracks, paths = [], [], [], {}
    for track in progress_bar(usable, description="evaluating", disable=not progress):
        try:
            if not include_train and content_hash(track.path) in seen:
                report["excluded_training_tracks"].append(track.track_id)
                continue
            proba = chunk_proba(net, config, track.path)
        except (GenrekitError, OSError) as exc:
            report["failures"][track.path] = str(exc)
            continue
        probas.append(proba)
        ys += [index[track.label]] * len(proba)
        tracks += [track.track_id] * len(proba)
        paths[track.track_id] = track.path
    if not probas:
        logger.warning("no track of %s left to evaluate", dataset.root)
        return {}, report
    proba, y, tracks = np.concatenate(probas), np.array(ys), np.array(tracks)
    metrics = evaluation_metrics(y, proba, tracks, labels, aggregation=aggregation, chunked=True)
    if out_dir is not None:
        write_evaluation(metrics, out_dir, title=f"{config['preset']} on {dataset.name}")
        frame = track_predictions(tracks, y, proba, labels, paths=paths, aggregation=aggregation)
        write_text_atomic(Path(out_dir) / "predictions.csv", frame.to_csv(index=False))
        manifest = {k: config[k] for k in ("preset", "labels", "frontend", "n_frames", "input_kind", "metrics") if k in config}
        write_json(Path(out_dir) / "run.json", {"command": "evaluate", "model": manifest, "aggregation": aggregation, **report})
    return metrics, report


def compare_models(
    table: FeatureTable | None,
    names: list[str],
    *,
    n_splits: int = 5,
    seed: int = 0,
    search: bool = False,
    n_iter: int = 20,
    n_jobs: int | None = None,
    dataset: Dataset | None = None,
    epochs: int = 30,
    device: str = "cpu",
    source: str = "",
    out_dir: str | Path | None = None,
    on_result=None,
) -> list[dict]:
    """Cross-validate each named model on the same folds; write ``comparison.json|md|png``.

    Classical models are fitted on ``table``; network presets are trained from the audio of
    ``dataset`` for ``epochs`` epochs per fold. With a dataset, both use its track folds.
    ``on_result(row)`` is called after each model (for progress display).
    """
    from genrekit.evaluate.crossval import cross_validate_network, dataset_folds
    from genrekit.models import MODELS

    networks = [name for name in names if name not in MODELS]
    if networks and dataset is None:
        raise DatasetError(f"networks ({', '.join(networks)}) are trained from audio: compare them on a dataset, not a table")
    if table is None and len(networks) < len(names):
        raise DatasetError("classical models need a feature table")
    track_folds = dataset_folds(dataset, n_splits=n_splits, seed=seed) if dataset is not None else None
    rows = []
    for name in names:
        if name in MODELS:
            result = cross_validate(table, name, n_splits=n_splits, seed=seed, search=search, n_iter=n_iter,
                                    n_jobs=n_jobs, track_folds=track_folds)
        else:
            result = cross_validate_network(dataset, name, seed=seed, epochs=epochs, device=device, track_folds=track_folds)
            for fold in result["folds"]:
                fold.pop("history")
        row = {key: value for key, value in result.items() if key != "folds"}
        row["fold_accuracy"] = [fold["accuracy"] for fold in result["folds"]]
        row["best_params"] = [fold["best_params"] for fold in result["folds"]]
        rows.append(row)
        if on_result is not None:
            on_result(row)
    if out_dir is not None:
        out = Path(out_dir)
        setup = {"source": source, "n_rows": int(len(table.y)) if table is not None else None,
                 "n_tracks": len(dataset.tracks) if dataset is not None else int(len(np.unique(table.tracks))),
                 "n_features": int(table.X.shape[1]) if table is not None else None,
                 "labels": dataset.labels if dataset is not None else table.labels, "n_splits": n_splits,
                 "network_epochs": epochs if networks else None,
                 "cv": "stratified K-fold by track" + (" (nested randomized search)" if search else ""),
                 "seed": seed, "search_iterations": n_iter if search else 0}
        write_json(out / "comparison.json", {"setup": setup, "models": {row["model"]: row for row in rows}})
        title = f"Model comparison: {n_splits}-fold CV on {source or 'features'}"
        write_text_atomic(out / "comparison.md", comparison_markdown(rows, title=title))
        plot_comparison(rows, out / "comparison.png", title=title)
    return rows


def plot_comparison(rows: list[dict], path: Path, *, title: str) -> Path:
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    ordered = sorted(rows, key=lambda r: r["accuracy_mean"])
    figure, axis = plt.subplots(figsize=(8, 0.45 * len(ordered) + 1.5), constrained_layout=True)
    axis.barh([r["model"] for r in ordered], [r["accuracy_mean"] for r in ordered],
              xerr=[r["accuracy_std"] for r in ordered], color="#4c72b0", capsize=3)
    axis.set_xlabel("track accuracy (mean ± std over folds)")
    axis.set_xlim(0, 1)
    axis.set_title(title, fontsize=10)
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.tmp.png")
    figure.savefig(temporary, dpi=110)
    plt.close(figure)
    temporary.replace(path)
    return path
