"""Training: a dataset in, a held-out-evaluated model file and a run folder out."""

from __future__ import annotations

import logging
import platform
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from genrekit import __version__
from genrekit.audio import content_hash
from genrekit.datasets import Dataset, build_feature_table, check_genres, gtzan_filtered_split, train_val_test_split
from genrekit.errors import DatasetError, ParameterError
from genrekit.evaluate import (
    cross_validate, evaluation_metrics, fit_estimator, predictions_frame, track_predictions, write_evaluation, write_json,
)
from genrekit.evaluate.report import write_text_atomic
from genrekit.features import FeatureCache, FeatureSpec
from genrekit.models import DEFAULT_MODEL, GenreModel, default_spec, save_model

logger = logging.getLogger(__name__)

SPLITS = ("random", "dataset", "gtzan-filtered")
# Datasets up to this many tracks also get k-fold CV in train: a few test tracks make a
# noisy headline (80 clips leave 10 test tracks: one clip is 10 points of accuracy).
SMALL_DATASET = 1000
MODEL_FILE = "model.genrekit"


@dataclass
class TrainResult:
    """The trained model, its held-out metrics and what happened along the way."""

    model: GenreModel | object  # a network (torch.nn.Module) for train_network_model
    metrics: dict
    splits: dict[str, str]
    failures: dict[str, str] = field(default_factory=dict)
    problems: list = field(default_factory=list)
    out_dir: Path | None = None
    cv: dict | None = None  # k-fold CV over all tracks, for small datasets (see SMALL_DATASET)

    @property
    def partial(self) -> bool:
        """True when some inputs could not be used (bad files, layout problems)."""
        return bool(self.failures or self.problems)


def _check_aggregation(aggregation: str) -> None:
    from genrekit.evaluate import AGGREGATIONS

    if aggregation not in AGGREGATIONS:
        raise ParameterError(f"aggregation={aggregation!r} must be one of {', '.join(AGGREGATIONS)}")


def assign_splits(dataset: Dataset, *, split: str, sizes, seed: int) -> tuple[Dataset, dict]:
    """The dataset with every track's ``split`` set, and notes on how it was made.

    Checks the genres from the track list (no audio is read), so a dataset that cannot be
    trained on is refused before any feature extraction: fewer than two genres, or training
    tracks of one genre; genres with fewer than two tracks are named in a warning.
    """
    dataset, notes = _split(dataset, split=split, sizes=sizes, seed=seed)
    check_genres(dataset, purpose="training")
    fitted = Counter(t.label for t in dataset.tracks if t.split != "test" and t.label is not None)
    if len(fitted) < 2:
        found = f"only one genre ({next(iter(fitted))!r})" if fitted else "no track"
        raise DatasetError(f"{dataset.root}: the training tracks (split={split!r}) hold {found}; training needs at "
                           "least two genres")
    return dataset, notes


def _split(dataset: Dataset, *, split: str, sizes, seed: int) -> tuple[Dataset, dict]:
    if split not in SPLITS:
        raise ParameterError(f"split={split!r} must be one of {', '.join(SPLITS)}")
    if split == "gtzan-filtered":
        dataset, missing = gtzan_filtered_split(dataset)
        return dataset, {"missing_from_filtered_lists": {part: len(ids) for part, ids in missing.items()},
                         "missing_track_ids": missing}
    if split == "dataset":
        unassigned = [t.track_id for t in dataset.tracks if t.split not in ("train", "val", "test")]
        if unassigned:
            raise DatasetError(
                f"{dataset.root}: split='dataset' needs a train/val/test split for every track; "
                f"{len(unassigned)} have none (first: {unassigned[0]})"
            )
        return dataset, {}
    parts = train_val_test_split([t.label for t in dataset.tracks], dataset.groups, sizes=sizes, seed=seed)
    return dataset.with_splits(dict(zip((t.track_id for t in dataset.tracks), parts))), {}


# What only networks use, with the value that means "not asked for".
NETWORK_OPTIONS = {"epochs": 30, "batch_size": None, "device": "cpu", "time_stretch": 0.0, "pitch_shift": 0.0,
                   "augment_copies": 1, "resume": False}
# What only classical models use. ``cache`` and ``n_jobs`` (feature extraction) are not
# refused for networks, which extract nothing ahead.
CLASSICAL_OPTIONS = {"features": None, "chunk": None, "search": False, "n_iter": 20, "cv": True}
EXTRACTION_OPTIONS = ("cache", "n_jobs")


def train(dataset: Dataset, *, model: str = DEFAULT_MODEL, **options) -> TrainResult:
    """Train the recipe ``model`` (see :func:`genrekit.models.recipe_names`): a classical
    model on features (:func:`train_model`) or a network from audio (:func:`train_network_model`).

    ``options`` are those functions' keyword arguments; classical models also take
    ``features`` (a feature set's name; default: the model's own) and ``chunk`` (seconds).
    An option of the other kind, set to anything but its default, is refused with a
    ParameterError naming it, so a setting is never silently ignored."""
    from genrekit.models import trains_from_audio

    network = trains_from_audio(model)
    foreign = NETWORK_OPTIONS if not network else CLASSICAL_OPTIONS
    ignored = [name for name, default in foreign.items() if name in options and options[name] != default]
    if ignored:
        kind = "networks" if not network else "classical models"
        raise ParameterError(f"{', '.join(ignored)}: only for {kind}, and model {model!r} is not one")
    options = {k: v for k, v in options.items() if k not in foreign}
    if network:
        options = {k: v for k, v in options.items() if k not in EXTRACTION_OPTIONS}
        return train_network_model(dataset, preset=model, **options)
    features, chunk = options.pop("features", None), options.pop("chunk", None)
    if "spec" not in options:
        options["spec"] = FeatureSpec(name=features, chunk_duration=chunk) if features else default_spec(model, chunk)
    return train_model(dataset, model=model, **options)

def train_model(
    dataset: Dataset,
    *,
    spec: FeatureSpec | None = None,
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

    The test tracks (all their chunks) are never seen in fitting or tuning. With ``search``,
    hyperparameters are tuned by grouped K-fold inside the training tracks. The run folder
    gets ``model.genrekit``, ``metrics.json|md``, ``confusion_matrix.png``,
    ``predictions.csv`` (test tracks), ``splits.csv`` and ``run.json``.

    With ``cv`` and at most :data:`SMALL_DATASET` tracks, the model is also scored by
    stratified k-fold CV over all the tracks, grouped by artist where the dataset knows
    artists (``result.cv``, ``cv.json``, the model's ``metrics["cv"]``): the held-out split
    alone is too small to say much.
    """
    _check_aggregation(aggregation)
    spec = spec or default_spec(model)
    started = time.time()
    dataset, split_notes = assign_splits(dataset, split=split, sizes=sizes, seed=seed)
    table, _ = build_feature_table(dataset, spec, cache=cache, n_jobs=n_jobs, progress=progress)
    splits = {t.track_id: t.split for t in dataset.tracks}
    part = np.array([splits[t] for t in table.tracks])
    fit_rows = np.flatnonzero(part != "test")
    test_rows = np.flatnonzero(part == "test")
    if len(np.unique(table.y[fit_rows])) < 2:
        raise DatasetError(f"{dataset.root}: the training tracks cover fewer than two genres")

    estimator, best_params = fit_estimator(
        model, table.X[fit_rows], table.y[fit_rows], table.groups[fit_rows],
        search=search, n_iter=n_iter, inner_splits=3, seed=seed, labels=table.labels, columns=table.columns,
    )
    fitted = GenreModel(
        name=model, labels=table.labels, spec=spec, estimator=estimator,
        params=best_params or {}, aggregation=aggregation,
    )
    metrics: dict = {}
    predictions = None
    if len(test_rows):
        proba = fitted.predict_proba(table.X[test_rows])
        metrics = evaluation_metrics(
            table.y[test_rows], proba, table.tracks[test_rows], table.labels,
            aggregation=aggregation, chunked=spec.chunked,
        )
        predictions = predictions_frame(table, test_rows, proba, aggregation)
    else:
        logger.warning("no test tracks: the model is trained but not evaluated")

    fit_tracks = list(dict.fromkeys(table.tracks[fit_rows]))
    fitted.metrics = {k: metrics[k] for k in ("accuracy", "balanced_accuracy", "top3_accuracy", "f1_macro", "n") if k in metrics}
    if "chunk_accuracy" in metrics:
        fitted.metrics["chunk_accuracy"] = metrics["chunk_accuracy"]
    cv_scores = small_dataset_cv(table, model, seed=seed, aggregation=aggregation, n_jobs=n_jobs) if cv else None
    if cv_scores:
        fitted.metrics["cv"] = {k: v for k, v in cv_scores.items() if k != "fold_accuracy"}
    fitted.training = {
        "dataset": dataset.name,
        "dataset_root": dataset.root,
        "split": split,
        "seed": seed,
        "search": search,
        "n_tracks": len(fit_tracks),
        "track_ids": fit_tracks,
        "content_sha256": sorted(table.hashes[t] for t in fit_tracks),
    }
    result = TrainResult(
        model=fitted, metrics=metrics, splits=splits, failures=table.failures,
        problems=[{"path": p.path, "reason": p.reason} for p in dataset.problems], cv=cv_scores,
    )
    if out_dir is not None:
        out = Path(out_dir)
        save_model(fitted, out / MODEL_FILE)
        if metrics:
            write_evaluation(metrics, out, title=f"{model} on {dataset.name} (test tracks)")
            write_text_atomic(out / "predictions.csv", predictions.to_csv(index=False))
        if cv_scores:
            write_json(out / "cv.json", cv_scores)
        write_text_atomic(out / "splits.csv", pd.DataFrame(
            {"track_id": list(splits), "split": list(splits.values())}).to_csv(index=False))
        counts = {p: dict(Counter(t.label for t in dataset.tracks if t.split == p)) for p in ("train", "val", "test")}
        write_json(out / "run.json", {
            "command": "train",
            "genrekit_version": __version__,
            "python": platform.python_version(),
            "started": time.strftime("%Y-%m-%dT%H:%M:%S", time.localtime(started)),
            "seconds": round(time.time() - started, 2),
            "dataset": {"name": dataset.name, "root": dataset.root, "n_tracks": len(dataset.tracks),
                        "labels": dataset.labels},
            "features": spec.to_dict(),
            "model": model,
            "best_params": best_params,
            "split": {"method": split, "sizes": list(sizes), "seed": seed, "tracks_per_genre": counts, **split_notes},
            "failures": result.failures,
            "problems": result.problems,
            "metrics": fitted.metrics,
        })
        result.out_dir = out
    return result


def small_dataset_cv(table, model: str, *, seed: int = 0, aggregation: str = "mean",
                     n_jobs: int | None = None) -> dict | None:
    """Stratified k-fold CV of ``model`` over all of ``table``'s tracks, grouped by artist where
    known (k = 5, or the smallest genre's track count when lower), for tables of at most
    :data:`SMALL_DATASET` tracks; None for larger tables or a genre with fewer than 2 tracks."""
    tracks = table.track_frame()
    smallest = int(tracks.groupby("y").size().min())
    if len(tracks) > SMALL_DATASET or smallest < 2:
        return None
    n_splits = min(5, smallest)
    result = cross_validate(table, model, n_splits=n_splits, seed=seed, aggregation=aggregation, n_jobs=n_jobs)
    grouped = tracks["group"].nunique() < len(tracks)
    return {"protocol": f"stratified {n_splits}-fold CV over all {len(tracks)} tracks, "
                        + ("grouped by artist where known" if grouped else "by track (no artists known)"),
            "n_splits": n_splits, "n_tracks": len(tracks),
            **{k: round(float(result[k]), 4) for k in ("accuracy_mean", "accuracy_std", "balanced_accuracy_mean",
                                                       "f1_macro_mean") if k in result},
            "fold_accuracy": [round(float(f["accuracy"]), 4) for f in result["folds"]]}


def train_network_model(
    dataset: Dataset,
    *,
    preset: str = "default",
    split: str = "random",
    sizes: tuple[float, float, float] = (0.8, 0.1, 0.1),
    seed: int = 0,
    epochs: int = 30,
    batch_size: int | None = None,
    device: str = "cpu",
    aggregation: str = "mean",
    time_stretch: float = 0.0,
    pitch_shift: float = 0.0,
    augment_copies: int = 1,
    resume: bool = False,
    progress: bool = True,
    out_dir: str | Path | None = None,
) -> TrainResult:
    """Train a network preset on log-mel chunks; early stopping on the validation tracks,
    scores on the test tracks (chunk level, and track level by ``aggregation`` of the chunk
    probabilities: ``mean`` or majority ``vote``). ``time_stretch`` (max rate change) and
    ``pitch_shift`` (max semitones) add ``augment_copies`` altered copies of each training
    track. Writes ``model.safetensors``,
    ``history.csv|png``, ``checkpoint.safetensors`` (``resume`` continues from it) and the
    reports of :func:`train_model`.
    """
    import torch

    from genrekit.models.nets import PRESETS, build_network
    from genrekit.models.nets.artifact import save_network
    from genrekit.models.nets.training import (
        TrainConfig, network_chunks, predict_chunks, train_network, write_history,
    )

    if preset not in PRESETS:
        raise ParameterError(f"network {preset!r} is unknown; expected one of {', '.join(PRESETS)}")
    _check_aggregation(aggregation)
    started = time.time()
    dataset, split_notes = assign_splits(dataset, split=split, sizes=sizes, seed=seed)
    labels = dataset.labels
    splits = {t.track_id: t.split for t in dataset.tracks}
    config = TrainConfig(preset=preset, epochs=epochs, batch_size=batch_size, seed=seed, device=device,
                         time_stretch=time_stretch, pitch_shift=pitch_shift, augment_copies=augment_copies)
    config.resolved()  # bad settings fail before any audio is read
    torch.manual_seed(seed)
    net = build_network(preset, len(labels), labels=labels)
    sets, failures = network_chunks(net, preset, dataset.tracks, labels, splits, config=config.resolved())
    if "train" not in sets or "val" not in sets:
        raise DatasetError(f"{dataset.root}: training needs train and validation tracks; got {sorted(sets)}")
    net, history = train_network(sets["train"], sets["val"], len(labels), config, net=net,
                                 out_dir=out_dir, resume=resume, progress=progress)
    metrics: dict = {}
    if "test" in sets:
        test = sets["test"]
        proba = predict_chunks(net.body if hasattr(net, "body") else net, test.X)
        metrics = evaluation_metrics(test.y.numpy(), proba, test.track, labels, chunked=True, aggregation=aggregation)
        predictions = track_predictions(test.track, test.y.numpy(), proba, labels, aggregation=aggregation,
                                        paths={t.track_id: t.path for t in dataset.tracks})
    training = {"dataset": dataset.name, "split": split, "seed": seed, "epochs_run": len(history),
                "track_ids": sorted(t for t, p in splits.items() if p != "test"),
                "content_sha256": sorted(content_hash(t.path) for t in dataset.tracks
                                         if splits[t.track_id] != "test" and t.path not in failures),
                "config": {k: v for k, v in config.resolved().__dict__.items()}}
    summary = {k: metrics[k] for k in ("accuracy", "chunk_accuracy", "f1_macro", "n") if k in metrics}
    result = TrainResult(model=net, metrics=metrics, splits=splits, failures=failures,
                         problems=[{"path": p.path, "reason": p.reason} for p in dataset.problems])
    if out_dir is not None:
        out = Path(out_dir)
        save_network(out / "model.safetensors", net, preset=preset, labels=labels, metrics=summary, training=training,
                     aggregation=aggregation)
        write_history(history, out)
        if metrics:
            write_evaluation(metrics, out, title=f"{preset} on {dataset.name} (test tracks)")
            write_text_atomic(out / "predictions.csv", predictions.to_csv(index=False))
        write_text_atomic(out / "splits.csv", pd.DataFrame(
            {"track_id": list(splits), "split": list(splits.values())}).to_csv(index=False))
        write_json(out / "run.json", {
            "command": "train", "genrekit_version": __version__, "model": preset,
            "dataset": {"name": dataset.name, "root": dataset.root, "n_tracks": len(dataset.tracks), "labels": labels},
            "seconds": round(time.time() - started, 2), "training": training, "history": history,
            "split": {"method": split, "sizes": list(sizes), "seed": seed, **split_notes,
                      "tracks_per_genre": {p: dict(Counter(t.label for t in dataset.tracks if splits[t.track_id] == p))
                                           for p in ("train", "val", "test")}},
            "failures": failures, "problems": result.problems, "metrics": summary,
        })
        result.out_dir = out
    return result
