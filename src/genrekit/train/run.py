"""The steps of training that every recipe shares, and the one run-folder writer.

:func:`run_training` runs the dataset's checks and split (:mod:`genrekit.train.splits`), a
kind's fitting step (:mod:`genrekit.train.classical`, :mod:`genrekit.train.network`), the
training record (the content hashes of every track fitted on), the metrics kept with the
model and :func:`write_run_folder`.
"""

from __future__ import annotations

import json
import logging
import os
import platform
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from genrekit import __version__
from genrekit._files import (path_given, refuse_foreign_results, run_folder_lock, spreadsheet_csv, write_json,
                            write_text_atomic)
from genrekit.audio import audio_hash, content_hash, opening_hash, remote
from genrekit.datasets import Dataset, as_dataset
from genrekit.datasets.core import left_out_and_notes
from genrekit.datasets.splits import check_seed
from genrekit.errors import AudioError, ParameterError
from genrekit.evaluate import write_evaluation
from genrekit.models import GenreModel
from genrekit.models.aggregation import check_aggregation
from genrekit.predict.disagreements import Disagreement, find_disagreements, write_disagreements
from genrekit.train.splits import assign_splits

logger = logging.getLogger(__name__)

# The test metrics a model file keeps (its manifest's ``metrics``); ``cv`` joins them where scored.
#: Held by a training run in its run folder: one run at a time writes there
TRAIN_LOCK = "train.lock"
#: The reports and records a training run writes in its folder (an earlier run's are removed first)
RESULT_FILES = ("report.html", "run.json", "metrics.json", "metrics.md", "confusion_matrix.png", "predictions.csv",
                "cv.json", "disagreements.csv", "splits.csv")
#: A network's own files in its run folder
NETWORK_FILES = ("history.csv", "history.png", "config.json")
SUMMARY_METRICS = ("accuracy", "balanced_accuracy", "top3_accuracy", "f1_macro", "n", "chunk_accuracy")


@dataclass
class TrainResult:
    """The trained model, its held-out metrics and what happened along the way.

    Attributes
    ----------
    model : GenreModel or torch.nn.Module
        The fitted model: a classical :class:`~genrekit.models.GenreModel` (carrying its
        metrics summary and training record), or a network preset's network.
    metrics : dict
        The test tracks' metrics (as :func:`genrekit.evaluate.evaluation_metrics`), with
        ``protocol``: how the test tracks were chosen, in words
        (:func:`~genrekit.train.splits.split_protocol`); empty when there is no test track.
    splits : dict[str, str]
        Track id -> ``train``, ``val`` or ``test``, for every track the split kept; ``failed``
        for one whose file could not be used (named in ``failures``), whatever its side.
    failures : dict[str, str]
        Path -> reason, for every file that could not be used.
    problems : list of dict
        The dataset's layout problems, each a ``path`` and a ``reason``.
    out_dir : Path or None
        The run folder; None when none was written.
    cv : dict or None
        k-fold CV over all tracks (see :func:`~genrekit.train.classical.small_dataset_cv`);
        None where it did not run.
    disagreements : list of Disagreement or None
        The files whose out-of-fold prediction confidently disagrees with their labels
        (:mod:`genrekit.predict.disagreements`); None without the CV's out-of-fold predictions.
    partial : bool
        True when some inputs could not be used (read-only property).
    """

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
        """True when some inputs could not be used (bad files, layout problems that left tracks
        out; not a note such as two spellings of one genre merged)."""
        return bool(self.failures or left_out_and_notes(self.problems)[0])




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
        ``write_extras(folder)`` writes the kind's own files (networks: ``history.csv|png``, ``config.json``).
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


def run_training(
    dataset: Dataset, fit: Callable[[Dataset], Trained], *, name: str, split: str, sizes, seed: int, aggregation: str,
    out_dir: str | Path | None, cache=None,
) -> TrainResult:
    """The steps of training every recipe shares, around ``fit`` (the kind's own step, given
    the dataset with its tracks' splits): checks and split, training record, metrics summary,
    run folder. ``cache`` (a FeatureCache) remembers the training files' decoded-audio hashes.

    Parameters
    ----------
    dataset : Dataset
        Labelled tracks.
    fit : callable
        ``fit(dataset)``, the kind's own step: given the dataset with every track's split, it
        returns a :class:`Trained` (what it raises passes through).
    name : str
        The model's name, for ``run.json`` and the reports' heading.
    split, sizes, seed
        How the tracks are split (see :func:`~genrekit.train.splits.assign_splits`); ``split``
        and ``seed`` are also kept in the training record.
    aggregation : str
        ``mean`` or ``vote``; only checked here, before anything runs (``fit`` applies its own).
    out_dir : path or None
        The run folder (:func:`write_run_folder`); None writes nothing.
    cache : FeatureCache, optional
        Where the training files' decoded-audio hashes are remembered.

    Returns
    -------
    TrainResult
        ``out_dir`` set where a run folder was written.

    Raises
    ------
    ParameterError
        ``aggregation``, ``split`` or ``sizes`` unknown or out of range; or another training
        run is writing to ``out_dir`` (it holds ``out_dir/train.lock``), or an evaluation
        (``out_dir/evaluate.lock``).
    DatasetError
        The dataset cannot be trained on with this split (see
        :func:`~genrekit.train.splits.assign_splits`).
    AudioError
        A file fitted on, whose content hash ``fit`` did not give, can no longer be read.
    """
    check_aggregation(aggregation)
    check_seed(seed)
    out_dir = None if out_dir is None else path_given(out_dir, "out_dir")
    dataset = as_dataset(dataset)
    from genrekit.models.interface import RUN_FOLDER_FILES

    if out_dir is not None:  # before the split, which reads every file to find copies
        # a folder of the user's own reports (config.json, report.html) lost them to a run's clean-up without a word
        refuse_foreign_results(out_dir, [*RUN_FOLDER_FILES, *RESULT_FILES, *NETWORK_FILES],
                               [TRAIN_LOCK, "evaluate.lock", "run.json", *RUN_FOLDER_FILES, "checkpoint.safetensors"],
                               "training")
        _refuse_evaluation(Path(out_dir))
    dataset, split_notes = assign_splits(dataset, split=split, sizes=sizes, seed=seed)  # refused before the folder is made
    if out_dir is None:
        return _run_training(dataset, split_notes, fit, name=name, split=split, sizes=sizes, seed=seed, out_dir=None,
                             cache=cache)
    # two runs into one folder: the second's model and reports were replaced by the first's after both said done
    with run_folder_lock(out_dir, TRAIN_LOCK, f"{out_dir}: another `genrekit train` is writing to this folder (it "
                                              f"holds {TRAIN_LOCK}); wait for it to finish, or train into another folder",
                         others={"evaluate.lock": f"{out_dir}: a `genrekit evaluate` is writing to this folder (it holds "
                                                  "evaluate.lock); train into another folder"},
                         written=(*RUN_FOLDER_FILES, *RESULT_FILES, *NETWORK_FILES, "checkpoint.safetensors")):
        return _run_training(dataset, split_notes, fit, name=name, split=split, sizes=sizes, seed=seed,
                             out_dir=out_dir, cache=cache)


def _refuse_evaluation(out: Path) -> None:
    """Raise ParameterError where ``out`` holds an evaluation's results (its run.json says
    ``genrekit evaluate``), which a training would replace: an evaluation refuses a training's
    folder so, and a training replaced a finished evaluation with one warning."""
    try:
        command = json.loads((out / "run.json").read_text(encoding="utf-8")).get("command")
    except (OSError, ValueError, AttributeError, RecursionError):  # none there, or not one genrekit wrote
        return
    if isinstance(command, str) and command.startswith("evaluate"):
        raise ParameterError(f"{out}: holds the results of `genrekit {command}` (run.json), which a training would "
                             "replace; train into another folder")


def _run_training(dataset: Dataset, split_notes: dict, fit, *, name: str, split: str, sizes, seed: int,
                  out_dir: str | Path | None, cache) -> TrainResult:
    started = time.time()
    trained = fit(dataset)
    unreadable = [t for t in dataset.tracks if t.label is not None and t.path in trained.failures]
    if unreadable and split != "all" and "protocol" in split_notes:  # the split counted them: they were not used
        used = Counter(t.split for t in dataset.tracks if t.label is not None and t.path not in trained.failures)
        split_notes = {**split_notes, "protocol": f"{split_notes['protocol']}; {len(unreadable)} unreadable, leaving "
                                                  f"{used['train']}/{used['val']}/{used['test']}"}
    if trained.metrics and "protocol" in split_notes:  # how the test tracks were chosen, beside their scores
        trained.metrics = {**trained.metrics, "protocol": split_notes["protocol"]}
    if not trained.metrics and not trained.cv:
        logger.warning("no test tracks: the model is trained but not evaluated")
    elif not trained.metrics and split != "all":  # asked for a test part, given none: too few tracks a genre
        logger.warning("%s: the split left no test track (%s), so the k-fold CV (cv.json) is the only score; "
                       "--split all says so from the start", dataset.source,
                       split_notes.get("protocol", split).rpartition("; ")[2])
    lost = _held_out_lost(dataset, trained.failures)
    if lost:  # the split was made before any file was read: an unreadable one took its place
        logger.warning("%s: unreadable files took held-out places, leaving %s; its scores leave those genres out "
                       "(mend or remove the files and train again)", dataset.source, "; ".join(lost))
    summary = {k: trained.metrics[k] for k in SUMMARY_METRICS if k in trained.metrics}
    # where each track went: a file that could not be used is on no side (splits.csv said
    # train, and run.json counted it, though it was never fitted on)
    splits = {t.track_id: "failed" if t.path in trained.failures else t.split for t in dataset.tracks}
    if trained.cv:
        summary["cv"] = {k: v for k, v in trained.cv.items()
                         if k not in ("fold_accuracy", "out_of_fold", "untrained_tracks")}
    training = training_record(dataset, trained, split=split, seed=seed, cache=cache)
    if trained.describe is not None:
        trained.describe(summary, training)
    result = TrainResult(
        model=trained.model, metrics=trained.metrics, splits=splits,
        failures=trained.failures, problems=dataset.problem_records(),
        cv=trained.cv, disagreements=_disagreements(dataset, trained),
    )
    if out_dir is not None:
        run = {
            "command": "train",
            "genrekit_version": __version__,
            "python": platform.python_version(),
            "started": time.strftime("%Y-%m-%dT%H:%M:%S", time.localtime(started)),
            "seconds": round(time.time() - started, 2),
            "dataset": dataset.record(),
            "model": name,
            **trained.run,
            "split": {"method": split, "sizes": list(sizes), "seed": seed, "tracks_per_genre": {  # those used
                part: dict(Counter(t.label for t in dataset.tracks if splits[t.track_id] == part))
                for part in ("train", "val", "test")
            }, **split_notes},
            "training": training,
            "failures": result.failures,
            "problems": result.problems,
            "metrics": summary,
        }
        result.out_dir = write_run_folder(Path(out_dir), trained, result, summary=summary, training=training, run=run,
                                          title=f"{name} on {dataset.name} ({_read_from(dataset)}test tracks)")
    return result


def _remove_earlier_results(out: Path, trained: Trained, result: TrainResult) -> None:
    """An earlier run's results in the same folder, before this run writes its own: every
    report and record (so a run stopped midway leaves no old report beside its new model, and
    no ``run.json``, which is written last), the other kind's model file and own files (a
    classical model trained where a network was), and its HTML report. Left there, they would
    describe this run's model. A network's training checkpoint stays: it is how training
    resumes; and an ONNX export is the user's (renamed ``earlier-model.onnx``, so that
    ``model.onnx`` is never taken for the export of this run's model)."""
    from genrekit.models.interface import RUN_FOLDER_FILES

    if (out / "run.json").exists():
        logger.warning("%s: holds an earlier run, which this run replaces", out)
    export = out / "model.onnx"
    if export.exists():  # the user's, but shipped under that name it would be taken for this run's model
        kept = next(out / name for n in range(1, 10_000)
                    if not (out / (name := "earlier-model.onnx" if n == 1 else f"earlier-model-{n}.onnx")).exists())
        os.replace(export, kept)
        logger.warning("%s: the ONNX export of the earlier model is now %s; export this run's model with "
                       "`genrekit export %s --out %s`", export, kept.name, out, out)
    others = [name for name in RUN_FOLDER_FILES if name != trained.file_name and name != "model.onnx"]
    stale = [*others, *RESULT_FILES]
    if trained.write_extras is None:  # a network's own files, left by one trained here before
        stale += list(NETWORK_FILES)
    for name in stale:
        (out / name).unlink(missing_ok=True)


def _held_out_lost(dataset: Dataset, failures: dict[str, str]) -> list[str]:
    """Genres left with no readable validation or test track where they had some: "jazz: no
    test track (1 unreadable)"."""
    lost = []
    for part in ("val", "test"):
        held = Counter(t.label for t in dataset.tracks if t.split == part)
        failed = Counter(t.label for t in dataset.tracks if t.split == part and t.path in failures)
        lost += [f"{genre}: no {'validation' if part == 'val' else 'test'} track ({failed[genre]} unreadable)"
                 for genre, n in sorted(held.items()) if failed[genre] == n]
    return lost


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
    # a track whose fold never learned its genre cannot be told from a mis-tag: no row
    untrained = set(trained.cv.get("untrained_tracks") or ())
    rows: dict[str, dict] = {}
    for track in dataset.tracks:
        if track.track_id in out_of_fold and track.track_id not in untrained:
            row = rows.setdefault(track.path, {"path": track.path, "owner_genres": list(labels_of.get(track.path, [])),
                                                "probabilities": out_of_fold[track.track_id]})
            if track.label not in row["owner_genres"]:
                row["owner_genres"].append(track.label)
    for row in rows.values():
        row["owner_labels"] = [g for g in row["owner_genres"] if g in row["probabilities"]]
    return find_disagreements(rows.values())


def training_record(dataset: Dataset, trained: Trained, *, split: str, seed: int, cache=None) -> dict:
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
        ``track_ids``, ``content_sha256``, ``audio_sha256`` and ``opening_sha256`` (sorted): the
        tracks fitted on, which evaluation and prediction recognise by content
        (:func:`genrekit.models.exclude_training`), by their files' bytes or, after a tag write or
        a lossless re-encode, by their decoded audio, or, cut shorter or longer, by its first 10 s.
    """
    path_of = {t.track_id: t.path for t in dataset.tracks}

    def hashed(track: str) -> str | None:
        try:
            return trained.hashes.get(track) or content_hash(path_of[track])
        except AudioError as exc:  # gone since it was fitted on: the model is kept, the file not recognised later
            logger.warning("%s: not recorded for recognising it later: %s", path_of[track], exc.reason)
            return None

    content = {t: h for t in trained.tracks if (h := hashed(t)) is not None}
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
        "content_sha256": sorted(content.values()),
        **_audio_hashes({path_of[t]: content[t] for t in content}, cache),
    }


def _audio_hashes(content_of: dict[str, str], cache) -> dict[str, list[str]]:
    """``audio_sha256`` and ``opening_sha256``: the decoded-audio hash of each local file (path
    -> its content hash), remembered in ``cache`` where given, and that of its first 10 s
    (where it has 10 s that are not silence), sorted; computed in a thread per core (decoding
    and hashing run outside the GIL). URLs are left out (their files would be fetched again
    just for this)."""
    from concurrent.futures import ThreadPoolExecutor

    from genrekit.features.images import is_image_path
    from genrekit.runners import default_jobs

    def one(item: tuple[str, str]) -> tuple[str | None, str | None]:
        path, content = item
        try:
            return (cache.audio_hash(path, content) if cache is not None else audio_hash(path)), opening_hash(path)
        except AudioError as exc:  # gone or changed since it was fitted on: recognised by its bytes only
            logger.warning("%s: its decoded audio is not recorded for recognising it later: %s", path, exc.reason)
            return None, None

    local = [(path, content) for path, content in content_of.items()
             if not (remote.is_url(path) or is_image_path(path))]  # an image network's files hold no audio
    with ThreadPoolExecutor(max_workers=max(1, min(default_jobs(), len(local)))) as pool:
        found = list(pool.map(one, local))
    return {key: sorted({values[i] for values in found if values[i] is not None})
            for i, key in enumerate(("audio_sha256", "opening_sha256"))}


def _read_from(dataset: Dataset) -> str:
    """The folder or manifest a dataset was read from, for a title beside its name (gtzan-mini
    and gtzan-dev are both ``gtzan``), as evaluate's name it: ``<source>, ``; "" where the name says it."""
    return f"{dataset.source}, " if dataset.source and dataset.source != dataset.name else ""


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
        ``cv.json`` where scored, ``splits.csv`` (``result.splits``: each track's side, or
        ``failed``), ``run.json`` and the kind's own files (networks: ``history.csv|png`` and
        ``config.json``, beside the ``checkpoint.safetensors`` of training).
    """
    out.mkdir(parents=True, exist_ok=True)
    _remove_earlier_results(out, trained, result)
    trained.save(out / trained.file_name, summary, training)
    if trained.write_extras is not None:
        trained.write_extras(out)
    if trained.metrics:
        write_evaluation(trained.metrics, out, title=title, predictions=trained.predictions)
    if trained.cv:
        write_json(out / "cv.json", trained.cv)
    if result.disagreements is not None:
        write_disagreements(result.disagreements, out / "disagreements.csv")
    write_text_atomic(out / "splits.csv", spreadsheet_csv(pd.DataFrame(
        {"track_id": list(result.splits), "split": list(result.splits.values())}), ("track_id",)))
    write_json(out / "run.json", run)
    return out
