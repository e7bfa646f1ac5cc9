"""Training: a dataset in, a held-out-evaluated model file and a run folder out.

Every recipe goes through the same steps (:func:`train`): the dataset's checks and split,
fitting (the one step of its own kind, through :mod:`genrekit.models.recipes`), the
training record (the content hashes of every track fitted on), the metrics kept with the
model, and one run-folder writer (:func:`write_run_folder`).
"""

from __future__ import annotations

import logging
import platform
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

import numpy as np
import pandas as pd

from genrekit import __version__
from genrekit.audio import content_hash
from genrekit.datasets import Dataset, build_feature_table, check_genres, gtzan_filtered_split, train_val_test_split
from genrekit.errors import DatasetError, ParameterError
from genrekit.evaluate import cross_validate, evaluation_metrics, predictions_frame, score_dataset, write_evaluation, write_json
from genrekit.evaluate.report import write_text_atomic
from genrekit.features import FeatureCache, FeatureSpec
from genrekit.models import DEFAULT_MODEL, GenreModel, default_spec, save_model
from genrekit.models.recipes import NetworkRecipe, TableRecipe
from genrekit.predict.disagreements import Disagreement, find_disagreements, write_disagreements

logger = logging.getLogger(__name__)

SPLITS = ("random", "dataset", "gtzan-filtered", "all")
# Datasets up to this many tracks also get k-fold CV in train: a few test tracks make a
# noisy headline (80 clips leave 10 test tracks: one clip is 10 points of accuracy).
SMALL_DATASET = 1000
MODEL_FILE = "model.genrekit"
NETWORK_FILE = "model.safetensors"
# The test metrics a model file keeps (its manifest's ``metrics``); ``cv`` joins them where scored.
SUMMARY_METRICS = ("accuracy", "balanced_accuracy", "top3_accuracy", "f1_macro", "n", "chunk_accuracy")


@dataclass
class TrainResult:
    """The trained model, its held-out metrics and what happened along the way."""

    model: GenreModel | object  # a network (torch.nn.Module) for network presets
    metrics: dict
    splits: dict[str, str]
    failures: dict[str, str] = field(default_factory=dict)
    problems: list = field(default_factory=list)
    out_dir: Path | None = None
    cv: dict | None = None  # k-fold CV over all tracks, for small datasets (see SMALL_DATASET)
    disagreements: list[Disagreement] | None = None  # out-of-fold ones, where CV ran

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
    if split == "all":  # nothing held out: the k-fold CV is the score
        return dataset.with_splits({t.track_id: "train" for t in dataset.tracks}), {}
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
        shared = _artists_across_splits(dataset)
        if shared:  # the user's split is kept, but its scores will flatter the model
            logger.warning("%s: the dataset's own split puts %d artist(s) on two sides (first: %s); test scores "
                           "will be optimistic", dataset.root, len(shared), shared[0])
        return dataset, {"artists_across_splits": shared}
    parts = train_val_test_split([t.label for t in dataset.tracks], dataset.groups, sizes=sizes, seed=seed)
    return dataset.with_splits(dict(zip((t.track_id for t in dataset.tracks), parts))), {}


def _artists_across_splits(dataset: Dataset) -> list[str]:
    """The artists (where the dataset knows them) with tracks in more than one of train/val/test."""
    sides: dict[str, set[str]] = {}
    for track in dataset.tracks:
        if track.artist:
            sides.setdefault(track.artist, set()).add(track.split)
    return sorted(artist for artist, parts in sides.items() if len(parts) > 1)


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
        if options.get("split") == "all":
            raise ParameterError(f"split='all': model {model!r} is a network, which needs validation tracks to stop "
                                 "training; use split='random' (or a classical model, such as musicnn-prior)")
        options = {k: v for k, v in options.items() if k not in EXTRACTION_OPTIONS}
        return train_network_model(dataset, preset=model, **options)
    features, chunk = options.pop("features", None), options.pop("chunk", None)
    if "spec" not in options:
        options["spec"] = FeatureSpec(name=features, chunk_duration=chunk) if features else default_spec(model, chunk)
    return train_model(dataset, model=model, **options)


@dataclass
class Trained:
    """What fitting one kind of recipe hands the steps every kind shares (see :func:`train`).

    Attributes
    ----------
    model : GenreModel or torch.nn.Module
        The fitted model.
    tracks : list[str]
        The track ids fitted on (training and validation tracks that could be read), in
        dataset order.
    metrics : dict
        The test tracks' metrics (as :func:`genrekit.evaluate.evaluation_metrics`); empty
        when there is no test track.
    predictions : pandas.DataFrame or None
        One row per test track (``predictions.csv``).
    failures : dict[str, str]
        Path -> reason, for every file that could not be used.
    file_name : str
        The model file's name in the run folder.
    save : callable
        ``save(path, metrics, training)`` writes the model file, with its metrics summary and
        training record, and returns its path.
    describe : callable, optional
        ``describe(metrics, training)`` gives the model in memory its metrics summary and
        training record (classical models carry them).
    hashes : dict[str, str]
        Content SHA-256 by track id where already known; other fitted tracks are hashed.
    training : dict
        The kind's own fields of the training record (``search``; networks: ``epochs_run``,
        ``config``).
    run : dict
        The kind's own fields of ``run.json`` (``features``, ``best_params``; networks: ``history``).
    cv : dict or None
        k-fold CV over all tracks (``cv.json``; see :func:`small_dataset_cv`).
    write_extras : callable, optional
        ``write_extras(folder)`` writes the kind's own files (networks: ``history.csv|png``).
    """

    model: object
    tracks: list[str]
    metrics: dict
    predictions: pd.DataFrame | None
    failures: dict[str, str]
    file_name: str
    save: Callable[[Path, dict, dict], Path]
    describe: Callable[[dict, dict], None] | None = None
    hashes: dict[str, str] = field(default_factory=dict)
    training: dict = field(default_factory=dict)
    run: dict = field(default_factory=dict)
    cv: dict | None = None
    write_extras: Callable[[Path], None] | None = None


def _train(
    dataset: Dataset, fit: Callable[[Dataset], Trained], *, name: str, split: str, sizes, seed: int, aggregation: str,
    out_dir: str | Path | None,
) -> TrainResult:
    """The steps of training every recipe shares, around ``fit`` (the kind's own step, given
    the dataset with its tracks' splits): checks and split, training record, metrics summary,
    run folder."""
    _check_aggregation(aggregation)
    started = time.time()
    dataset, split_notes = assign_splits(dataset, split=split, sizes=sizes, seed=seed)
    trained = fit(dataset)
    if not trained.metrics and not trained.cv:
        logger.warning("no test tracks: the model is trained but not evaluated")
    summary = {k: trained.metrics[k] for k in SUMMARY_METRICS if k in trained.metrics}
    if trained.cv:
        summary["cv"] = {k: v for k, v in trained.cv.items() if k not in ("fold_accuracy", "out_of_fold")}
    training = training_record(dataset, trained, split=split, seed=seed)
    if trained.describe is not None:
        trained.describe(summary, training)
    result = TrainResult(
        model=trained.model, metrics=trained.metrics, splits={t.track_id: t.split for t in dataset.tracks},
        failures=trained.failures, problems=[{"path": p.path, "reason": p.reason} for p in dataset.problems],
        cv=trained.cv, disagreements=_disagreements(dataset, trained),
    )
    if out_dir is not None:
        run = {
            "command": "train",
            "genrekit_version": __version__,
            "python": platform.python_version(),
            "started": time.strftime("%Y-%m-%dT%H:%M:%S", time.localtime(started)),
            "seconds": round(time.time() - started, 2),
            "dataset": {"name": dataset.name, "root": dataset.root, "n_tracks": len(dataset.tracks),
                        "labels": dataset.labels},
            "model": name,
            **trained.run,
            "split": {"method": split, "sizes": list(sizes), "seed": seed, "tracks_per_genre": {
                part: dict(Counter(t.label for t in dataset.tracks if t.split == part)) for part in ("train", "val", "test")
            }, **split_notes},
            "training": training,
            "failures": result.failures,
            "problems": result.problems,
            "metrics": summary,
        }
        result.out_dir = write_run_folder(Path(out_dir), trained, result, summary=summary, training=training, run=run,
                                          title=f"{name} on {dataset.name} (test tracks)")
    return result


def _disagreements(dataset: Dataset, trained: Trained) -> list[Disagreement] | None:
    """The tracks whose out-of-fold prediction (train's k-fold CV) confidently disagrees with
    their label (:mod:`genrekit.predict.disagreements`); None without CV. A file labelled with
    several genres is one row, owning all of them."""
    out_of_fold = (trained.cv or {}).get("out_of_fold")
    if not out_of_fold:
        return None
    # a song's genres: all of them where the owner gave several (its first labels it with
    # multi="first", but a model naming its second does not dispute the owner)
    labels_of = dataset.taxonomy.labels_of if dataset.taxonomy is not None else {}
    rows: dict[str, dict] = {}
    for track in dataset.tracks:
        if track.track_id in out_of_fold:
            row = rows.setdefault(track.path, {"path": track.path, "owner_genres": list(labels_of.get(track.path, [])),
                                                "probabilities": out_of_fold[track.track_id]})
            if track.label not in row["owner_genres"]:
                row["owner_genres"].append(track.label)
    for row in rows.values():
        row["owner_labels"] = [g for g in row["owner_genres"] if g in row["probabilities"]]
    return find_disagreements(rows.values())


def training_record(dataset: Dataset, trained: Trained, *, split: str, seed: int) -> dict:
    """The training record a model file keeps (its manifest's ``training``).

    Parameters
    ----------
    dataset : Dataset
        The dataset trained on, with its tracks' splits.
    trained : Trained
        The kind's fitting step (its tracks, known hashes and own fields).
    split : str
        How the tracks were split (see :data:`SPLITS`).
    seed : int

    Returns
    -------
    dict
        ``dataset``, ``dataset_root``, ``split``, ``seed``, the kind's own fields, ``n_tracks``,
        ``track_ids`` and ``content_sha256`` (sorted): the tracks fitted on, which evaluation
        and prediction recognise by content (:func:`genrekit.models.exclude_training`).
    """
    path_of = {t.track_id: t.path for t in dataset.tracks}
    taxonomy = dataset.taxonomy
    return {
        "dataset": dataset.name,
        "dataset_root": dataset.root,
        "split": split,
        "seed": seed,
        **trained.training,
        # the owner's spellings of each genre, so that tag can match a file's own genres
        **({"labels_from_tags": {"spellings": {g: sorted(s) for g, s in taxonomy.spellings.items()
                                               if g in taxonomy.counts}}} if taxonomy is not None else {}),
        "n_tracks": len(trained.tracks),
        "track_ids": list(trained.tracks),
        "content_sha256": sorted(trained.hashes.get(t) or content_hash(path_of[t]) for t in trained.tracks),
    }


def write_run_folder(out: Path, trained: Trained, result: TrainResult, *, summary: dict, training: dict, run: dict,
                     title: str) -> Path:
    """The run folder of every recipe.

    Parameters
    ----------
    out : Path
        The folder (made when missing).
    trained : Trained
        The kind's fitting step: its model file, test reports, CV and own files.
    result : TrainResult
        The splits.
    summary, training : dict
        What the model file keeps: its metrics summary and training record.
    run : dict
        ``run.json``.
    title : str
        The reports' heading.

    Returns
    -------
    Path
        ``out``, holding the model file (``model.genrekit`` or ``model.safetensors``), with
        test tracks ``metrics.json|md``, ``confusion_matrix.png`` and ``predictions.csv``,
        ``cv.json`` where scored, ``splits.csv``, ``run.json`` and the kind's own files
        (networks: ``history.csv|png``, beside the ``checkpoint.safetensors`` of training).
    """
    out.mkdir(parents=True, exist_ok=True)
    trained.save(out / trained.file_name, summary, training)
    if trained.write_extras is not None:
        trained.write_extras(out)
    if trained.metrics:
        write_evaluation(trained.metrics, out, title=title, predictions=trained.predictions)
    if trained.cv:
        write_json(out / "cv.json", trained.cv)
    if result.disagreements is not None:
        write_disagreements(result.disagreements, out / "disagreements.csv")
    write_text_atomic(out / "splits.csv", pd.DataFrame(
        {"track_id": list(result.splits), "split": list(result.splits.values())}).to_csv(index=False))
    write_json(out / "run.json", run)
    return out


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
    (:func:`write_run_folder`) gets ``model.genrekit``, ``metrics.json|md``,
    ``confusion_matrix.png``, ``predictions.csv`` (test tracks), ``splits.csv`` and ``run.json``.

    With ``cv`` and at most :data:`SMALL_DATASET` tracks, the model is also scored by
    stratified k-fold CV over all the tracks, grouped by artist where the dataset knows
    artists (``result.cv``, ``cv.json``, the model's ``metrics["cv"]``): the held-out split
    alone is too small to say much. With ``split="all"`` nothing is held out, so the CV runs
    whatever the size: it is the only score, and its out-of-fold predictions give
    ``result.disagreements``.

    Parameters
    ----------
    dataset : Dataset
        Labelled tracks.
    spec : FeatureSpec, optional
        The features (default: the model's own, see :func:`genrekit.models.default_spec`).
    model : str
        A classical model (see :data:`genrekit.models.MODELS`).
    split : str
        ``random`` (``sizes`` of each genre, by track or artist), ``dataset`` (its own) or
        ``gtzan-filtered``.
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
    fit = partial(_fit_classical, model=model, spec=spec or default_spec(model), search=search, n_iter=n_iter,
                  seed=seed, aggregation=aggregation, cache=cache, n_jobs=n_jobs, progress=progress, cv=cv,
                  any_size=split == "all")
    return _train(dataset, fit, name=model, split=split, sizes=sizes, seed=seed, aggregation=aggregation,
                  out_dir=out_dir)


def _fit_classical(dataset: Dataset, *, model: str, spec: FeatureSpec, search: bool, n_iter: int, seed: int,
                   aggregation: str, cache, n_jobs, progress: bool, cv: bool, any_size: bool = False) -> Trained:
    """A classical model's step of :func:`_train`: the feature table, fitting on the train and
    validation tracks' rows, and the test rows' scores."""
    table, _ = build_feature_table(dataset, spec, cache=cache, n_jobs=n_jobs, progress=progress)
    part = {t.track_id: t.split for t in dataset.tracks}
    fit_tracks = [t for t in dict.fromkeys(table.tracks) if part[t] != "test"]
    test_rows = np.flatnonzero(np.array([part[t] for t in table.tracks]) == "test")
    if len(np.unique(table.y[table.rows_of(fit_tracks)])) < 2:
        raise DatasetError(f"{dataset.root}: the training tracks cover fewer than two genres")
    fitted = TableRecipe(model, table, search=search, n_iter=n_iter, inner_splits=3, seed=seed).fit(fit_tracks)
    best_params = fitted.details["best_params"]
    genre_model = GenreModel(name=model, labels=table.labels, spec=spec, estimator=fitted.model,
                             params=best_params or {}, aggregation=aggregation)
    metrics, predictions = {}, None
    if len(test_rows):
        proba = genre_model.predict_proba(table.X[test_rows])
        metrics = evaluation_metrics(table.y[test_rows], proba, table.tracks[test_rows], table.labels,
                                     aggregation=aggregation, chunked=spec.chunked)
        predictions = predictions_frame(table, test_rows, proba, aggregation)

    def describe(summary: dict, training: dict) -> None:
        genre_model.metrics, genre_model.training = summary, training

    return Trained(
        model=genre_model, tracks=fitted.tracks, metrics=metrics, predictions=predictions, failures=table.failures,
        file_name=MODEL_FILE, save=lambda path, *_: save_model(genre_model, path), describe=describe,
        hashes=table.hashes, training={"search": search}, run={"features": spec.to_dict(), "best_params": best_params},
        cv=small_dataset_cv(table, model, seed=seed, aggregation=aggregation, n_jobs=n_jobs,
                            any_size=any_size) if cv else None,
    )


def small_dataset_cv(table, model: str, *, seed: int = 0, aggregation: str = "mean",
                     n_jobs: int | None = None, any_size: bool = False) -> dict | None:
    """Stratified k-fold CV of ``model`` over all of ``table``'s tracks, grouped by artist where
    known (k = 5, or the smallest genre's track count when lower), for tables of at most
    :data:`SMALL_DATASET` tracks (any number with ``any_size``: ``split="all"`` holds nothing
    out, so the CV is its only score); None for larger tables or a genre with fewer than 2 tracks."""
    tracks = table.track_frame()
    smallest = int(tracks.groupby("y").size().min())
    if len(tracks) > SMALL_DATASET and not any_size:
        return None
    if smallest < 2:
        counts = tracks.groupby("y").size()
        thin = [table.labels[y] for y, n in counts.items() if n < 2]
        logger.warning("no k-fold CV: genre(s) %s have a single track, which cannot be both trained on and tested "
                       "(leave them out: --min-per-genre 2 or more)", ", ".join(thin))
        return None
    n_splits = min(5, smallest)
    result = cross_validate(table, model, n_splits=n_splits, seed=seed, aggregation=aggregation, n_jobs=n_jobs)
    grouped = tracks["group"].nunique() < len(tracks)
    out_of_fold = {track: {label: round(float(p), 6) for label, p in zip(table.labels, proba)}
                   for fold in result["folds"] for track, proba in zip(fold["test_tracks"], fold["test_proba"])}
    return {"protocol": f"stratified {n_splits}-fold CV over all {len(tracks)} tracks, "
                        + ("grouped by artist where known" if grouped else "by track (no artists known)"),
            "n_splits": n_splits, "n_tracks": len(tracks),
            **{k: round(float(result[k]), 4) for k in ("accuracy_mean", "accuracy_std", "balanced_accuracy_mean",
                                                       "f1_macro_mean") if k in result},
            "fold_accuracy": [round(float(f["accuracy"]), 4) for f in result["folds"]],
            "per_genre": _per_genre(tracks, table.labels, out_of_fold),
            "out_of_fold": out_of_fold}


def _per_genre(tracks, labels: list[str], out_of_fold: dict[str, dict[str, float]]) -> dict[str, dict]:
    """Out-of-fold tracks, recall and precision of each genre (scikit-learn's, through
    :func:`~genrekit.evaluate.metrics.classification_scores`); None where undefined: recall
    of a genre with no track, precision of one never named."""
    from genrekit.evaluate.metrics import classification_scores

    scored = [(y, out_of_fold[t]) for t, y in zip(tracks["track"], tracks["y"]) if t in out_of_fold]
    y_true = np.array([y for y, _ in scored])
    proba = np.array([[p[label] for label in labels] for _, p in scored])
    scores = classification_scores(y_true, proba, labels)
    named = np.asarray(scores["confusion_matrix"]).sum(axis=0)
    return {label: {"n": each["support"], "recall": round(each["recall"], 4) if each["support"] else None,
                    "precision": round(each["precision"], 4) if named[i] else None}
            for i, (label, each) in enumerate(scores["per_genre"].items())}


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
    """Train a network preset on log-mel chunks; early stopping on the validation tracks.

    The test tracks are scored as ``genrekit evaluate`` scores them (:func:`genrekit.evaluate.score_dataset`
    on the model file: the chunks of ``predict``, track probabilities by the model's
    ``aggregation``, ``mean`` or majority ``vote``), so the test accuracy printed by
    ``genrekit train`` is the one ``genrekit evaluate`` gives on the same tracks.
    ``time_stretch`` (max rate change) and ``pitch_shift`` (max semitones) add
    ``augment_copies`` altered copies of each training track. The run folder
    (:func:`write_run_folder`) gets ``model.safetensors``, ``history.csv|png``,
    ``checkpoint.safetensors`` (``resume`` continues from it) and the reports of
    :func:`train_model`.

    Parameters
    ----------
    dataset : Dataset
        Labelled tracks.
    preset : str
        A network preset (see :data:`genrekit.models.nets.PRESETS`).
    split, sizes, seed
        As :func:`train_model`; ``seed`` also seeds the weights and every epoch.
    epochs, batch_size : int
        Most epochs (early stopping may end sooner); batch size (default: the preset's).
    device : str
        ``cpu``, or ``cuda`` when present.
    aggregation : str
        The model's chunks to track: ``mean`` or ``vote``.
    time_stretch, pitch_shift : float
        Augmentation of the training tracks.
    augment_copies : int
        Altered copies per training track.
    resume : bool
        Continue from ``out_dir/checkpoint.safetensors``.
    progress : bool
        Show progress bars.
    out_dir : path, optional
        The run folder.

    Returns
    -------
    TrainResult
        ``model`` is the network (``torch.nn.Module``).

    Raises
    ------
    ParameterError
        An unknown ``preset`` or a setting out of range, before any audio is read.
    DatasetError
        No training or no validation track can be read.
    """
    from genrekit.models.nets.training import TrainConfig

    config = TrainConfig(preset=preset, epochs=epochs, batch_size=batch_size, seed=seed, device=device,
                         time_stretch=time_stretch, pitch_shift=pitch_shift, augment_copies=augment_copies)
    NetworkRecipe.check(preset, config)
    fit = partial(_fit_network, preset=preset, config=config, aggregation=aggregation, resume=resume,
                  progress=progress, out_dir=out_dir)
    return _train(dataset, fit, name=preset, split=split, sizes=sizes, seed=seed, aggregation=aggregation,
                  out_dir=out_dir)


def _fit_network(dataset: Dataset, *, preset: str, config, aggregation: str, resume: bool, progress: bool,
                 out_dir: str | Path | None) -> Trained:
    """A network's step of :func:`_train`: training on the train tracks, early-stopped on the
    validation tracks, then its model file scored on the test tracks as ``evaluate`` scores it."""
    from genrekit.models.nets.artifact import save_network
    from genrekit.models.nets.training import write_history

    recipe = NetworkRecipe(preset, dataset, config, progress=progress, out_dir=out_dir, resume=resume)
    ids = {part: [t.track_id for t in dataset.tracks if t.split == part] for part in ("train", "val", "test")}
    fitted = recipe.fit(ids["train"], ids["val"])
    net, history = fitted.model, fitted.details["history"]

    def save(path: Path, metrics: dict | None = None, training: dict | None = None) -> Path:
        return save_network(path, net, preset=preset, labels=recipe.labels, metrics=metrics, training=training,
                            aggregation=aggregation)

    failures, metrics, predictions = dict(fitted.failures), {}, None
    if ids["test"]:
        with tempfile.TemporaryDirectory(prefix="genrekit-train-") as folder:
            scored = score_dataset(save(Path(folder) / NETWORK_FILE), dataset.select(ids["test"]), include_train=True,
                                   aggregation=aggregation, jobs=1, progress=progress)
        metrics, predictions = scored.metrics, scored.predictions
        failures.update(scored.report["failures"])
    return Trained(
        model=net, tracks=fitted.tracks, metrics=metrics, predictions=predictions, failures=failures,
        file_name=NETWORK_FILE, save=save,
        training={"epochs_run": len(history), "config": dict(config.resolved().__dict__)},
        run={"history": history}, write_extras=lambda folder: write_history(history, folder),
    )
