"""Evaluating any model on a labelled dataset (through the same chunks as ``predict``), and
comparing models by cross-validation."""

from __future__ import annotations

import contextlib
import json
import logging
import math
import os
import reprlib
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import pandas as pd

from genrekit import __version__
from genrekit._files import (line_shown, path_given, refuse_foreign_results, run_folder_lock, save_figure,
                            spreadsheet_csv, write_json, write_text_atomic)
from genrekit._renamed import renamed_keywords
from genrekit.datasets import Dataset, FeatureTable, Track, as_dataset
from genrekit.datasets.splits import gtzan_clip, gtzan_neighbours
from genrekit.errors import DatasetError, GenrekitError, ParameterError, check_flags, check_options
from genrekit.evaluate.metrics import aggregate_tracks, evaluation_metrics, interval_words, song_scores
from genrekit.evaluate.report import (
    comparison_markdown, markdown_cell, markdown_text, near_training_words, training_words, untrained_words,
    write_evaluation
)
from genrekit.models.aggregation import check_aggregation
from genrekit.models.interface import GenreClassifier, exclude_training, load
from genrekit.predict.disagreements import genre_matcher
from genrekit.predict.files import ModelLike, predict_files
from genrekit.predict.song import Prediction
from genrekit.runners import jobs_wanted, runner_given

logger = logging.getLogger(__name__)


def predictions_frame(table, rows: np.ndarray, proba: np.ndarray, aggregation: str) -> pd.DataFrame:
    """One row per track: path, true and predicted genre, confidence, probabilities.

    Parameters
    ----------
    table : FeatureTable
        The rows scored; its ``tracks``, ``y``, ``labels`` and ``paths`` name them.
    rows : np.ndarray [shape=(n_chunks,)]
        Indices of the table's rows that ``proba`` scores (a test fold's, say).
    proba : np.ndarray [shape=(n_chunks, n_genres)]
        Those rows' probabilities, in the same order, columns in ``table.labels`` order.
    aggregation : str
        ``mean`` or ``vote``: how a track's rows make its probabilities.

    Returns
    -------
    pandas.DataFrame
        As :func:`track_predictions`.

    Raises
    ------
    ParameterError
        ``aggregation`` is neither ``mean`` nor ``vote``.
    """
    return track_predictions(table.tracks[rows], table.y[rows], proba, table.labels,
                             paths=table.paths, aggregation=aggregation)


def track_predictions(
    track_index, y_chunk, proba: np.ndarray, labels: list[str], *, paths: dict | None = None, aggregation: str = "mean",
    track_proba: np.ndarray | None = None,
) -> pd.DataFrame:
    """One row per track from chunk rows: path, true and predicted genre, confidence, probabilities
    (``track_proba``, one row per track in order of first appearance, or the chunks' aggregated).

    Parameters
    ----------
    track_index : array-like [shape=(n_chunks,)]
        The track each row comes from.
    y_chunk : array-like [shape=(n_chunks,)]
        Integer genre indices into ``labels``. A track's rows share one; its last row's is used.
    proba : np.ndarray [shape=(n_chunks, n_genres)]
        Each row's probabilities, columns in ``labels`` order.
    labels : list of str
        The genres, ``n_genres`` of them.
    paths : dict, optional
        Track id -> path (a track without one gets ``""``).
    aggregation : str
        ``mean`` or ``vote``: how a track's rows make its probabilities when ``track_proba``
        is not given.
    track_proba : np.ndarray [shape=(n_tracks, n_genres)], optional
        The tracks' probabilities, replacing the rows' aggregated.

    Returns
    -------
    pandas.DataFrame
        One row per track, in order of first appearance: ``track_id``, ``path``, ``true``,
        ``predicted`` (the top genre, never ``unknown``), ``confidence`` (its probability) and
        ``p_<genre>`` for each of ``labels``.

    Raises
    ------
    ParameterError
        ``aggregation`` is neither ``mean`` nor ``vote`` (checked only without ``track_proba``).
    """
    tracks = np.asarray(list(dict.fromkeys(track_index)))
    if track_proba is None:
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


@renamed_keywords(jobs="n_jobs")
def predict_dataset(
    model: ModelLike,
    dataset: Dataset,
    *,
    include_train: bool = False,
    skip: float = 10.0,
    hop_seconds: float | None = None,
    n_jobs: int = 1,
    runner=None,
    progress: bool = True,
    journal: str | Path | None = None,
) -> tuple[GenreClassifier, list[tuple[Track, Prediction]], dict]:
    """Predict every track of a labelled dataset exactly as ``genrekit predict`` would (the same
    chunks, the same probabilities), leaving out tracks the model cannot be scored on.

    Parameters
    ----------
    model : a model file, run folder, ``"default"`` or model in memory (see :func:`genrekit.models.load`)
    dataset : Dataset
        Labelled tracks.
    include_train : bool
        Also predict tracks whose audio the model was trained on (same content; left out by
        default: scores on training songs say nothing about new songs).
    skip : float
        Seconds of intro and outro left out when the song is long enough (as
        :func:`genrekit.predict.predict_file`).
    hop_seconds : float, optional
        Seconds between chunks' starts (default: back to back).
    n_jobs : int or None
        Worker processes that predict (more than 1: each loads the model from its file; a
        model in memory is run in this process; None, 0 or less: one per core), and threads
        that hash the files to find the training tracks.
    runner : optional
        Where the files are predicted (:mod:`genrekit.runners`), as
        :func:`genrekit.predict.predict_files`.
    progress : bool
        Show a progress bar.
    journal : path, optional
        A JSON-lines file each file's outcome is appended to as it finishes; outcomes an
        earlier run journalled for the same file, model file and options are taken from it, so
        an interrupted evaluation resumes (a model in memory, with no file, is not journalled).

    Returns
    -------
    classifier : GenreClassifier
        The loaded model.
    predicted : list of (Track, Prediction)
        ``(track, prediction)`` per track predicted, in dataset order; each track's label
        spelled as the model spells its genre.
    report : dict
        ``failures`` (path -> reason; a track silent throughout among them), ``problems`` (what the dataset's loader left out:
        path and reason), ``excluded_training_tracks`` (track ids the model was trained on, by
        content: left out unless ``include_train``), ``unknown_genre_tracks`` (paths whose genre
        the model does not know under any spelling, or that have none), and
        ``training_tracks_unknown`` where the model does not list its training tracks (an
        export made with ``--strip-training``), so none could be left out; where held-out
        tracks are GTZAN clips next to clips the model was trained on (within 2 ids, the same
        genre: often the same artist), ``near_training_clips``, their ids, with a warning.

    Raises
    ------
    DatasetError
        No track has a genre the model knows (an empty dataset included).
    ModelError, ParameterError
        As :func:`genrekit.models.load`.
    """
    runner = runner_given(runner, n_jobs)
    check_flags(include_train=include_train, progress=progress)
    classifier = load(model)
    # "Hip-Hop" or "Classical" is the model's "hiphop" or "classical" (and a spelling it learned from tags)
    as_model = genre_matcher(classifier.labels, classifier.genre_spellings)
    named = [(t, as_model(t.label) if t.label is not None else None) for t in dataset.tracks]
    report = {"unknown_genre_tracks": [t.path for t, label in named if label is None],
              "excluded_training_tracks": [], "failures": {},
              "problems": dataset.problem_records()}
    tracks = [t if t.label == label else replace(t, label=label) for t, label in named if label is not None]
    if not tracks:
        found = sorted({t.label for t in dataset.tracks if t.label is not None})
        raise DatasetError(f"{dataset.source}: none of its genres ({', '.join(found) or 'none: no track has one'}) is "
                           f"known to the model ({', '.join(classifier.labels)})")
    if not include_train:
        if not classifier.training_listed:
            report["training_tracks_unknown"] = True  # so no report calls its scores held-out
            logger.warning("%s: its export left out which tracks it was trained on (--strip-training): tracks of "
                           "the dataset it trained on would be scored as if unseen", classifier.source or classifier.name)
        _, seen = exclude_training([t.path for t in tracks], classifier, n_jobs=jobs_wanted(n_jobs))
        seen = set(seen)
        report["excluded_training_tracks"] = [t.track_id for t in tracks if t.path in seen]
        tracks = [t for t in tracks if t.path not in seen]
        unknown_artists = {t.track_id: t.path for t in tracks if t.artist is None}
        near = gtzan_neighbours(unknown_artists, classifier.trained_track_ids)
        if near:  # held out by content, yet likely by an artist it was trained on
            clips = sum(gtzan_clip(path) is not None or gtzan_clip(track) is not None
                        for track, path in unknown_artists.items())
            report["near_training_clips"] = near
            logger.warning("%s: %d of the %d GTZAN clips scored are within 2 ids of a clip of their genre the model "
                           "was trained on (%s): adjacent GTZAN ids are often one artist's, so these scores may "
                           "overstate accuracy on other artists", dataset.source, len(near), clips,
                           ", ".join(near[:4]) + (", ..." if len(near) > 4 else ""))
    if journal is None or not classifier.source:
        predictions, report["failures"] = predict_files(classifier, [t.path for t in tracks], skip=skip,
                                                        hop_seconds=hop_seconds, progress=progress, n_jobs=n_jobs,
                                                        runner=runner)
    else:
        predictions, report["failures"] = _journalled_predictions(classifier, [t.path for t in tracks], Path(journal),
                                                                  skip=skip, hop_seconds=hop_seconds,
                                                                  progress=progress, n_jobs=n_jobs, runner=runner)
    # a track silent throughout is "unknown" with every genre equally probable: nothing to score,
    # so left out as a file that cannot be read is
    report["failures"].update({p.path: f"{p.path}: silent: no sound in the analysed span, nothing to score"
                               for p in predictions if p.n_chunks == 0})
    predictions = [p for p in predictions if p.n_chunks]
    by_path = {p.path: p for p in predictions}
    return classifier, [(t, by_path[t.path]) for t in tracks if t.path in by_path], report


def _trained_on(classifier: GenreClassifier, tracks: list[tuple[str, str]], report: dict, *,
                n_jobs: int) -> set[str] | None:
    """Which of the scored ``tracks`` (track id, path) ``classifier`` was trained on, by
    content (:func:`genrekit.models.interface.exclude_training`): their ids, also recorded as
    ``report["included_training_tracks"]`` (in ``tracks`` order); None, and
    ``report["training_tracks_unknown"]``, where the model does not list its training tracks.
    For an evaluation with training tracks included, whose scores must say so."""
    if not classifier.training_listed:
        report["training_tracks_unknown"] = True
        return None
    _, seen = exclude_training([path for _, path in tracks], classifier, n_jobs=jobs_wanted(n_jobs))
    seen = set(seen)
    report["included_training_tracks"] = [track_id for track_id, path in tracks if path in seen]
    return set(report["included_training_tracks"])


def _training_counts(trained: set[str] | None) -> dict:
    """What ``metrics.json`` and ``songs.json`` say of an evaluation with training tracks
    included: ``include_train`` and ``n_trained_on``, how many of the ``n`` scored the model was
    trained on (None where it does not list them)."""
    return {"include_train": True, "n_trained_on": None if trained is None else len(trained)}


def _scored_on(model_name: str, dataset: Dataset) -> str:
    """``<model> on <dataset> (<as given>)`` for a report's title: gtzan-mini and gtzan-dev are
    both named ``gtzan``, so the folder or manifest it was read from is named too."""
    given = f" ({dataset.source})" if dataset.source and dataset.source != dataset.name else ""
    return f"{model_name} on {dataset.name}{given}"


def _prediction_line(record: dict) -> bool:
    """Whether an evaluation journal's line is a whole record: what resuming reads of it."""
    return (isinstance(record.get("path"), str) and isinstance(record.get("options"), dict)
            and isinstance(record.get("prediction"), (dict, type(None))) and "version" in record)


def _is_prediction_of(prediction: Prediction, path: str, labels: list[str]) -> bool:
    """Whether a journalled prediction is one of this model for ``path``: one that named another
    file dropped a track from the scores unsaid, and one of other genres was a KeyError."""
    probabilities = prediction.probabilities
    return (prediction.path == path and isinstance(probabilities, dict) and set(probabilities) == set(labels)
            and all(isinstance(p, (int, float)) and not isinstance(p, bool) and -1e-6 <= p <= 1 + 1e-6  # (rounding)
                    for p in probabilities.values()))


def _journalled_predictions(classifier, paths: list[str], journal: Path, *, skip: float, hop_seconds: float | None,
                            progress: bool, n_jobs: int, runner) -> tuple[list, dict[str, str]]:
    """:func:`genrekit.predict.predict_files`, each file's outcome appended to ``journal`` as
    it finishes (a JSON line, fsynced), and the predictions an earlier run journalled for the
    same file (path, size, modification and change times, inode and how it decodes, read before
    it is analysed),
    model file (its content), options and genrekit version taken from it: an interrupted
    evaluation resumes where it stopped (a file that failed is tried again, as is one that
    changed while it was analysed)."""
    from rich.progress import track

    from genrekit.models.interface import model_id
    from genrekit.predict.files import iter_predictions
    from genrekit.predict.library import append_record, reopen_journal

    options = {"model": model_id(classifier.source), "skip": skip, "hop_seconds": hop_seconds,
               "genrekit_version": __version__}
    done: dict[str, tuple] = {}
    for entry in reopen_journal(journal, _prediction_line):  # torn and damaged lines left out (and kept aside)
        # a file that failed is tried again (a decoder installed since, a worker the system killed)
        if (entry["options"] == options and entry["prediction"] and entry["version"] is not None
                and entry["version"] == _file_version(entry["path"])):
            try:
                prediction = Prediction.from_dict(entry["prediction"])
            except (KeyError, TypeError, ValueError):  # another version's record: predicted again
                continue
            if _is_prediction_of(prediction, entry["path"], classifier.labels):
                done[entry["path"]] = (prediction, None)
    todo = [p for p in paths if p not in done]
    if done:
        logger.warning("%s: %d file(s) taken from an earlier run of the same model and options", journal,
                       len(set(paths) - set(todo)))
    # each file as it was before it was analysed: one replaced meanwhile is not journalled as the new file
    before = {path: _file_version(path) for path in todo}
    with open(journal, "a", encoding="utf-8") as handle:
        outcomes = iter_predictions(classifier, todo, skip=skip, hop_seconds=hop_seconds, n_jobs=n_jobs, runner=runner)
        for path, prediction, error in track(outcomes, total=len(todo), description="predicting",
                                             disable=not progress):
            done[path] = (prediction, error)
            unchanged = before[path] if before[path] == _file_version(path) else None
            append_record(handle, {"path": path, "version": unchanged, "options": options,
                                   "prediction": prediction.to_dict() if prediction else None, "error": error})
    predictions = [done[p][0] for p in paths if done[p][0] is not None]
    return predictions, {p: done[p][1] for p in paths if done[p][1] is not None}


@dataclass
class Evaluation:
    """A model scored on a labelled dataset (see :func:`score_dataset`).

    Attributes
    ----------
    classifier : GenreClassifier
        The loaded model.
    metrics : dict
        As :func:`evaluation_metrics` (empty when no track remains).
    report : dict
        As :func:`predict_dataset`'s.
    predictions : pandas.DataFrame or None
        One row per track (see :func:`track_predictions`); None when no track remains.
    aggregation : str
        How the chunks made the tracks' scores.
    """

    classifier: GenreClassifier
    metrics: dict
    report: dict
    predictions: pd.DataFrame | None
    aggregation: str


@renamed_keywords(jobs="n_jobs")
def score_dataset(model: ModelLike, dataset: Dataset | str | os.PathLike, *, aggregation: str | None = None,
                  **options) -> Evaluation:
    """Score any model on ``dataset``'s tracks, writing nothing: what :func:`evaluate_model`
    reports, and what ``train`` records for a network's test tracks.

    Parameters
    ----------
    model : a model file, run folder, ``"default"`` or model in memory (see :func:`genrekit.models.load`)
    dataset : Dataset or path
        Labelled tracks, or the path of a dataset (:func:`genrekit.datasets.load_dataset`).
    aggregation : str, optional
        Chunks to track, ``mean`` or ``vote`` (default: the model's own).
    **options
        :func:`predict_dataset`'s: ``include_train``, ``skip``, ``hop_seconds``, ``n_jobs``,
        ``runner``, ``progress``.

    Returns
    -------
    Evaluation
        Its ``metrics`` empty where no track is left, which a warning names the dataset for
        (:func:`evaluate_model` leaves saying it to its caller).
    """
    check_options(options, predict_dataset, "score_dataset", leaving_out=("model", "dataset", "journal"))
    check_aggregation(aggregation, optional=True)  # before every track is predicted
    dataset = as_dataset(dataset)
    scored = _scored(model, dataset, aggregation=aggregation, **options)
    if not scored.metrics:
        logger.warning("no track of %s left to evaluate", dataset.source)
    return scored


def _check_evaluation(*, skip: float = 0.0, hop_seconds: float | None = None, n_jobs: int = 1, runner=None,
                      include_train: bool = False, aggregation: str | None = None) -> None:
    """The options of an evaluation, refused before anything is read, predicted or written (an
    earlier run's results in its folder are replaced once it starts)."""
    from genrekit.audio.chunking import check_song_reading

    check_song_reading(skip=skip, hop_seconds=hop_seconds, n_jobs=n_jobs)  # once, not as every track's failure
    runner_given(runner, n_jobs)
    check_flags(include_train=include_train)
    check_aggregation(aggregation, optional=True)


def _scored(model: ModelLike, dataset: Dataset, *, aggregation: str | None = None, **options) -> Evaluation:
    """:func:`score_dataset`, saying nothing where no track is left."""
    classifier, predicted, report = predict_dataset(model, dataset, **options)
    aggregation = aggregation or classifier.aggregation
    if not predicted:
        return Evaluation(classifier, {}, report, None, aggregation)
    labels = classifier.labels
    index = {label: i for i, label in enumerate(labels)}
    # chunk_* metrics score the timeline's steps (a model's windows where it gives them); the
    # tracks' probabilities are the predictions' own unless another aggregation is asked for
    proba = np.array([[s.probabilities[g] for g in labels] for _, p in predicted for s in p.timeline])
    y = np.array([index[t.label] for t, p in predicted for _ in p.timeline])
    tracks = np.array([t.track_id for t, p in predicted for _ in p.timeline])
    chunked = any(len(p.timeline) > 1 for _, p in predicted)
    track_proba = None
    if aggregation == classifier.aggregation:
        track_proba = np.array([[p.probabilities[g] for g in labels] for _, p in predicted])
    metrics = evaluation_metrics(y, proba, tracks, labels, aggregation=aggregation, chunked=chunked,
                                 track_proba=track_proba)
    if report.get("near_training_clips"):  # the caveat travels with the scores (metrics.json)
        metrics["near_training_clips"] = len(report["near_training_clips"])
    paths = {t.track_id: t.path for t, _ in predicted}
    frame = track_predictions(tracks, y, proba, labels, paths=paths, aggregation=aggregation, track_proba=track_proba)
    return Evaluation(classifier, metrics, report, frame, aggregation)


# What evaluate_model and evaluate_songs write into their folder (besides the journal).
EVALUATION_FILES = ("metrics.json", "metrics.md", "confusion_matrix.png", "predictions.csv", "run.json",
                    "songs.json", "songs.md", "songs.csv")


def _refuse_training_run(out: Path) -> None:
    """Raise ParameterError where ``out`` holds a trained model's run, whose reports an
    evaluation would replace."""
    from genrekit.models.interface import RUN_FOLDER_FILES

    model = next((name for name in RUN_FOLDER_FILES if (out / name).is_file()), None)
    if model is not None:
        raise ParameterError(f"{out}: holds a trained model's run ({model}), whose metrics, predictions and run.json "
                             "an evaluation would replace; write the evaluation to another folder")


def _out_lock(out_dir: str | Path | None):
    """Hold ``out_dir``'s ``evaluate.lock`` while an evaluation writes there: two at once
    appended to one journal and each removed the other's results."""
    if out_dir is None:
        return contextlib.nullcontext()
    _refuse_training_run(Path(out_dir))  # before the lock is made there
    refuse_foreign_results(out_dir, (*EVALUATION_FILES, "report.html"),
                           ("evaluate.lock", "train.lock", "run.json", "predictions.journal.jsonl"), "an evaluation")
    return run_folder_lock(out_dir, "evaluate.lock", f"{out_dir}: another evaluation is writing to this folder (it "
                                                     "holds evaluate.lock); wait for it to finish, or write to another "
                                                     "folder",
                           scratch=("predictions.journal.jsonl",),
                           written=(*EVALUATION_FILES, "report.html", "predictions.journal.jsonl"),
                           others={"train.lock": f"{out_dir}: a `genrekit train` is writing to this folder (it holds "
                                                 "train.lock); evaluate into another folder"})


def _journal_in(out_dir: str | Path | None) -> Path | None:
    """The journal's path in ``out_dir`` (None without one): how a run resumes."""
    return None if out_dir is None else Path(out_dir) / "predictions.journal.jsonl"


def _replace_earlier(out: Path, dataset: Dataset, model_source: str) -> None:
    """Remove an earlier evaluation's results (by tracks or by songs, of any model) and HTML
    report from ``out``, as this run's are about to be written: not before, so a run that scores
    nothing, or stops, leaves them as they were (they were removed as it began, and lost).
    Results of another dataset or model are named in a warning as they go. Called under
    :func:`_out_lock`."""
    try:
        earlier = json.loads((out / "run.json").read_text(encoding="utf-8"))
        source, model = earlier["dataset"]["source"], (earlier.get("model") or {}).get("source")
    except (OSError, ValueError, TypeError, KeyError, AttributeError):  # none there, or not one genrekit wrote
        source = model = None
    if isinstance(source, str) and not _same_source(source, dataset.source):
        logger.warning("%s: replacing the results of an earlier evaluation there, on %s (another dataset); "
                       "evaluate into another folder to keep both", out, line_shown(source))
    elif isinstance(model, str) and model_source and not _same_source(model, os.fspath(model_source)):
        logger.warning("%s: replacing the results of an earlier evaluation there, of %s (another model); "
                       "evaluate into another folder to keep both", out, line_shown(model))
    for name in (*EVALUATION_FILES, "report.html"):
        (out / name).unlink(missing_ok=True)


def _same_source(earlier: str, now: str) -> bool:
    """Whether two datasets' sources (or two model files) name one: as written, or as paths
    (``data/gtzan`` and ``./data/gtzan/``, or a link to it)."""
    if earlier == now:
        return True
    try:
        return os.path.realpath(earlier) == os.path.realpath(now)
    except (OSError, ValueError):  # a name with a NUL byte
        return False


@renamed_keywords(jobs="n_jobs")
def evaluate_model(
    model: ModelLike,
    dataset: Dataset | str | os.PathLike,
    *,
    include_train: bool = False,
    aggregation: str | None = None,
    skip: float = 10.0,
    hop_seconds: float | None = None,
    n_jobs: int = 1,
    runner=None,
    progress: bool = True,
    out_dir: str | Path | None = None,
) -> tuple[dict, dict]:
    """Score any model (see :func:`genrekit.models.load`) on ``dataset``'s tracks.

    Every track is analysed as :func:`genrekit.predict.predict_file` analyses it, so a track's
    probabilities here are the ones ``genrekit predict`` gives (with the model's own
    aggregation). Tracks whose genre the model does not know are left out and listed. The
    ``chunk_*`` metrics score the steps of each prediction's timeline: the chunks, or the
    finer windows of a model that gives them (the default's ~6 s); another ``aggregation``
    than the model's combines those steps. This is :func:`score_dataset`, with the reports
    written.

    Parameters
    ----------
    model : a model file, run folder, ``"default"`` or model in memory
    dataset : Dataset or path
        Labelled tracks, or the path of a dataset (:func:`genrekit.datasets.load_dataset`).
    include_train : bool
        Also score tracks whose audio the model was trained on (same content; left out by
        default: scores on training songs say nothing about new songs). Every result then
        says so: the metrics get ``include_train`` (true) and ``n_trained_on`` (how many of
        the ``n`` tracks scored the model was trained on, by content; None where the model
        does not list its training tracks), the report ``included_training_tracks`` (their
        ids), ``metrics.md`` and ``confusion_matrix.png`` their title (``..., training tracks
        included: 3 of 18 were trained on``) and ``predictions.csv`` a ``trained_on`` column
        (True or False; empty where the model does not list its training tracks). Without it,
        the tracks scored are held out, and these keys and the column are absent, so a model's
        ``metrics.json`` and ``predictions.csv`` are those ``genrekit train`` wrote for its
        test tracks.
    aggregation : str, optional
        Chunks to track, ``mean`` or ``vote`` (default: the model's own).
    skip, hop_seconds, n_jobs, runner, progress
        As :func:`genrekit.predict.predict_files`.
    out_dir : path, optional
        Where to write ``metrics.json|md``, ``confusion_matrix.png``, ``predictions.csv``
        and ``run.json``, and ``predictions.journal.jsonl``, each file's prediction as it
        finishes: an interrupted evaluation run again into the same folder resumes from it.
        ``metrics.md`` and ``confusion_matrix.png`` are titled ``<model> on <dataset>
        (<source>)``: the dataset's name and what it was read from (its ``source``).
        An earlier evaluation's results there are removed first (not the journal); a folder
        holding a trained model's run, or one another evaluation is writing to (it holds the
        folder's ``evaluate.lock``), is refused (ParameterError).

    Returns
    -------
    metrics : as :func:`evaluation_metrics` (empty when no track remains: nothing is logged,
        the caller says so, as for :func:`evaluate_songs`), with ``include_train`` and
        ``n_trained_on`` where training tracks are included: what ``metrics.json`` holds
    report : dict
        As :func:`predict_dataset`'s (its third value): the tracks left out (``unknown_genre_tracks``,
        ``excluded_training_tracks``), ``failures`` and ``problems``. Each track's prediction is
        in ``predictions.csv`` (with ``out_dir``); :func:`score_dataset` returns them (its
        ``predictions``, a DataFrame) without writing anything.
    """
    check_flags(progress=progress)
    _check_evaluation(skip=skip, hop_seconds=hop_seconds, n_jobs=n_jobs, runner=runner, include_train=include_train,
                      aggregation=aggregation)
    out_dir = None if out_dir is None else path_given(out_dir, "out_dir")
    dataset = as_dataset(dataset)
    with _out_lock(out_dir):
        journal = _journal_in(out_dir)
        # no track left: the caller says so, as for evaluate_songs (the CLI in its error line; a warning too said it twice)
        scored = _scored(model, dataset, include_train=include_train, aggregation=aggregation, skip=skip,
                         hop_seconds=hop_seconds, n_jobs=n_jobs, runner=runner, progress=progress, journal=journal)
        if include_train and scored.metrics:
            scored = _marked(scored, n_jobs=n_jobs)
        _write_model_evaluation(scored, dataset, out_dir, skip=skip, include_train=include_train)
    return scored.metrics, scored.report


def _marked(scored: Evaluation, *, n_jobs: int) -> Evaluation:
    """``scored``, an evaluation with training tracks included, saying which of its tracks the
    model was trained on: its metrics with ``include_train`` and ``n_trained_on``
    (:func:`_training_counts`), its report with ``included_training_tracks`` (or
    ``training_tracks_unknown``), and its predictions with a ``trained_on`` column after
    ``confidence`` (true or false; empty where the model does not list its training tracks)."""
    frame = scored.predictions
    trained = _trained_on(scored.classifier, list(zip(frame["track_id"], frame["path"])), scored.report, n_jobs=n_jobs)
    predictions = frame.copy()
    predictions.insert(predictions.columns.get_loc("confidence") + 1, "trained_on",
                       [None] * len(frame) if trained is None else [t in trained for t in frame["track_id"]])
    return replace(scored, metrics={**_training_counts(trained), **scored.metrics}, predictions=predictions)


def _write_model_evaluation(scored: Evaluation, dataset: Dataset, out_dir: str | Path | None, *, skip: float,
                            include_train: bool) -> None:
    if out_dir is not None and scored.metrics:
        classifier = scored.classifier
        title = _scored_on(classifier.name, dataset)
        metrics = scored.metrics
        if include_train or scored.report.get("training_tracks_unknown"):
            # a model that lists no training tracks (exported --strip-training) may score them: said
            # wherever the score is, as --include-train is
            title += f", {training_words({**scored.report, **scored.metrics}, unit='track')}"
            if scored.report.get("training_tracks_unknown"):
                metrics = {**metrics, "training_tracks_unknown": True}
        _replace_earlier(Path(out_dir), dataset, classifier.source)
        write_evaluation(metrics, out_dir, title=title, predictions=scored.predictions)
        write_json(Path(out_dir) / "run.json", {"command": "evaluate", "model": classifier.manifest(),
                                                "dataset": dataset.record(),
                                                "aggregation": scored.aggregation, "skip": skip,
                                                "include_train": include_train, **scored.report})


@renamed_keywords(jobs="n_jobs")
def evaluate_songs(
    model: ModelLike,
    dataset: Dataset | str | os.PathLike,
    *,
    skip: float = 10.0,
    include_train: bool = False,
    n_jobs: int = 1,
    runner=None,
    progress: bool = True,
    out_dir: str | Path | None = None,
) -> tuple[dict, dict]:
    """Full-song evaluation of a labelled set of songs (see :func:`song_scores`): the same
    predictions as :func:`evaluate_model`, scored by top-1/top-3 hit rates and the
    proportion score. With ``out_dir``: ``songs.json``, ``songs.md``, ``songs.csv`` and
    ``run.json`` (as :func:`evaluate_model`'s).

    Parameters
    ----------
    model : a model file, run folder, ``"default"`` or model in memory (see :func:`genrekit.models.load`)
    dataset : Dataset or path
        Labelled songs, or the path of a dataset (:func:`genrekit.datasets.load_dataset`).
    skip : float
        Seconds of intro and outro left out when the song is long enough (as
        :func:`genrekit.predict.predict_file`). Chunks are back to back.
    include_train, n_jobs, runner, progress
        As :func:`predict_dataset`. With ``include_train``, the scores (and ``songs.json``)
        get ``include_train`` and ``n_trained_on``, the report ``included_training_tracks``,
        and ``songs.csv`` a ``trained_on`` column, as :func:`evaluate_model`'s.
    out_dir : path, optional
        Where to write ``songs.json`` (the model's name, ``skip``, the scores and the report),
        ``songs.md`` (titled with the model and the dataset, as :func:`evaluate_model`'s
        ``metrics.md``; the scores, overall and per genre) and ``songs.csv`` (one row per song:
        ``path``, ``true``, ``genre``, ``confidence``, ``trained_on`` (with ``include_train``),
        ``n_chunks`` and ``share_<genre>``;
        ``genre`` is ``unknown`` where the music detector calls the audio non-music), and
        ``predictions.journal.jsonl`` as :func:`evaluate_model` does, so an interrupted run
        resumes. An earlier evaluation's results there are removed first (as
        :func:`evaluate_model` does); none is written when no song is left.

    Returns
    -------
    scores : dict
        As :func:`song_scores` (empty when no song is left), with ``include_train`` and
        ``n_trained_on`` where training songs are included.
    report : dict
        As :func:`predict_dataset`'s.

    Raises
    ------
    DatasetError
        No song has a genre the model knows (an empty dataset included).
    ModelError, ParameterError
        As :func:`genrekit.models.load`.
    """
    check_flags(progress=progress)
    _check_evaluation(skip=skip, n_jobs=n_jobs, runner=runner, include_train=include_train)
    dataset = as_dataset(dataset)
    with _out_lock(out_dir):
        journal = _journal_in(out_dir)
        classifier, predicted, report = predict_dataset(model, dataset, include_train=include_train, skip=skip,
                                                        n_jobs=n_jobs, runner=runner, progress=progress, journal=journal)
        if not predicted:
            return {}, report
        trained = None
        if include_train:
            trained = _trained_on(classifier, [(t.track_id, t.path) for t, _ in predicted], report, n_jobs=n_jobs)
        return _write_song_evaluation(classifier, predicted, report, out_dir, skip=skip, include_train=include_train,
                                      trained=trained, dataset=dataset)


def _write_song_evaluation(classifier, predicted: list, report: dict, out_dir: str | Path | None, *, skip: float,
                           include_train: bool, trained: set[str] | None, dataset: Dataset) -> tuple[dict, dict]:
    """Score ``predicted`` songs and write their reports; with ``include_train``, ``trained``
    (the ids of those the model was trained on, as :func:`_trained_on` gives them) marks the
    scores (:func:`_training_counts`) and songs.csv's ``trained_on`` column."""
    true = [t.label for t, _ in predicted]
    predictions = [p for _, p in predicted]
    scores = song_scores(true, [p.probabilities for p in predictions], [p.proportions for p in predictions])
    if include_train:
        scores = {**_training_counts(trained), **scores}
    if out_dir is not None:
        out = Path(out_dir)
        _replace_earlier(out, dataset, classifier.source)
        write_json(out / "songs.json", {"model": classifier.name, "dataset": dataset.record(), "skip": skip,
                                        **scores, **report})
        write_json(out / "run.json", {"command": "evaluate --songs", "model": classifier.manifest(),
                                      "dataset": dataset.record(), "skip": skip, "include_train": include_train,
                                      **report})
        skipped = f"{skip:g} s of intro and outro left out of long songs" if skip else "whole songs"
        lines = [f"# Full-song evaluation of {markdown_text(_scored_on(classifier.name, dataset))}", "",
                 f"{scores['n']} songs ({training_words({**scores, **report})}; {skipped}): "
                 f"top-1 {scores['top1']:.3f} ({interval_words(scores['top1_ci95'])}), "
                 f"top-3 {scores['top3']:.3f}, "
                 f"proportion score {scores['proportion_score']:.3f}", ""]
        if report.get("near_training_clips"):  # the caveat travels with the scores, as metrics.md's does
            near = near_training_words(len(report["near_training_clips"]), scores["n"], "songs")
            lines += [f"**Optimistic:** {near}", ""]
        lines += ["| genre | songs | top-1 | top-3 | proportion score |", "|---|---|---|---|---|"]
        lines += [f"| {markdown_cell(g)} | {r['n']} | {r['top1']:.3f} | {r['top3']:.3f} | {r['proportion_score']:.3f} |"
                  for g, r in scores["per_genre"].items()]
        write_text_atomic(out / "songs.md", "\n".join(lines) + "\n")
        marks = ([{}] * len(predicted) if not include_train else
                 [{"trained_on": None if trained is None else track.track_id in trained} for track, _ in predicted])
        frame = pd.DataFrame([{"path": p.path, "true": t, "genre": p.genre, "confidence": p.confidence, **mark,
                               "n_chunks": p.n_chunks, **{f"share_{g}": v for g, v in p.proportions.items()}}
                              for p, t, mark in zip(predictions, true, marks)])
        write_text_atomic(out / "songs.csv", spreadsheet_csv(frame, ("path", "true", "genre")))
    return scores, report


def _data_fingerprint(table: FeatureTable | None, dataset: Dataset | None) -> str:
    """SHA-256 of what a comparison fits on: the table's values, labels, tracks and split groups
    (where they are not the tracks), and the dataset's tracks (ids, files, labels and the files'
    stamps), so a comparison resumes only on the same data and folds."""
    import hashlib

    digest = hashlib.sha256()
    if table is not None:
        digest.update(np.ascontiguousarray(table.X, dtype=np.float64).tobytes())
        digest.update(np.asarray(table.y, dtype=np.int64).tobytes())
        digest.update("\n".join(map(str, table.tracks)).encode())
        if list(map(str, table.groups)) != list(map(str, table.tracks)):  # folds grouped otherwise: other folds
            digest.update(("groups\n" + "\n".join(map(str, table.groups))).encode())
    if dataset is not None:  # and each file's stamp: networks read the audio, which may change under its name
        digest.update("\n".join(f"{t.track_id}\t{t.path}\t{t.label}\t{_file_version(t.path)}"
                                for t in dataset.tracks).encode())
    return digest.hexdigest()


def _file_version(path: str) -> list | None:
    """What tells a file's audio from other audio under its name without reading it: its size,
    modification and change times, inode and how it decodes; None for a URL or a file gone."""
    from genrekit.audio import decoder_revision

    try:
        status = os.stat(path)
        # an MP3 without a declared length decodes whole once PyAV is installed: not the same audio
        revision = decoder_revision(path)
    except (OSError, ValueError, GenrekitError):
        return None
    # ctime and inode too: `cp -p` or `rsync -a` can give other audio the old size and mtime, never these
    return [status.st_size, status.st_mtime_ns, status.st_ctime_ns, status.st_ino, revision]


# Setup that only some models' rows depend on (a network's epochs and settings): each row
# keeps its own as ``kind_setup``, and a comparison of other models still shares the rest.
KIND_SETUP_KEYS = ("network_epochs", "network_settings")


def _shared_setup(setup: dict) -> dict:
    """What every row of a comparison depends on: the setup without the data's name as typed
    and without any one kind's settings."""
    return {k: v for k, v in setup.items() if k != "source" and k not in KIND_SETUP_KEYS}


# What a finished row of comparison.json is read for (the CLI's table, comparison.md|png): numbers
_ROW_NUMBERS = ("accuracy_mean", "accuracy_std", "f1_macro_mean", "f1_macro_std", "fit_seconds")


def _finite(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _row_problem(name: str, row, tracks: frozenset = frozenset()) -> str | None:
    """What keeps comparison.json's row ``name`` from being read as a finished model, as
    ``field: expected ..., found ...``; None where nothing does. The fields checked are those
    read from it: ``model`` (its name), :data:`_ROW_NUMBERS` (finite numbers), and, where
    present, ``search``, ``searched_folds``, ``fold_accuracy``, ``best_params``, ``failures``,
    ``kind_setup`` and ``out_of_fold`` (whose tracks, where ``tracks`` are given, are some of them:
    invented ones were carried into out_of_fold.csv)."""
    def found(value) -> str:
        return "nothing" if value is None else reprlib.repr(value)

    if not isinstance(row, dict):
        return f"expected an object, found {found(row)}"
    if row.get("model") != name:
        return f"model: expected {name!r}, found {found(row.get('model'))}"
    for key in _ROW_NUMBERS:
        if not _finite(row.get(key)):
            return f"{key}: expected a finite number, found {found(row.get(key))}"
    checks = (
        ("search", "true or false", lambda v: isinstance(v, bool)),
        ("searched_folds", "a whole number >= 0",
         lambda v: isinstance(v, int) and not isinstance(v, bool) and v >= 0),
        ("fold_accuracy", "a list of finite numbers", lambda v: isinstance(v, list) and all(map(_finite, v))),
        ("best_params", "a list", lambda v: isinstance(v, list)),
        ("failures", "an object of paths and reasons (text)",
         lambda v: isinstance(v, dict) and all(isinstance(r, str) for r in v.values())),
        ("kind_setup", "an object", lambda v: isinstance(v, dict)),
        ("out_of_fold", "an object of tracks and their genres' probabilities",
         lambda v: isinstance(v, dict) and all(isinstance(p, dict) and p and all(map(_finite, p.values()))
                                               for p in v.values())),
    )
    for key, expected, good in checks:
        if key in row and not good(row[key]):
            return f"{key}: expected {expected}, found {found(row[key])}"
    if tracks and (unknown := sorted(set(row.get("out_of_fold") or ()) - tracks)):
        return f"out_of_fold: expected tracks of the data compared, found {found(unknown)}"
    return None


def _finished_rows(out: Path, setup: dict, names: Sequence[str] = (),
                   tracks: frozenset = frozenset()) -> dict[str, dict]:
    """Every model an earlier comparison in ``out`` finished with the same ``setup`` (data,
    folds, seed, search; the data as it was named and each kind's own settings aside): those
    asked for again (``names``) are resumed where their own settings match (``kind_setup``),
    and the others stay in ``comparison.json``. A row that cannot be read as finished (a field
    missing, of another type, a number not finite: see :func:`_row_problem`) is not taken, with
    a warning naming the file and the field: its model is fitted again where asked for, else
    left out. A file that is not JSON (or nested too deep to read) holds no finished model."""
    path = out / "comparison.json"
    try:
        before = json.loads(path.read_text())
    except (OSError, ValueError, RecursionError):
        return {}
    if not isinstance(before, dict) or not isinstance(before.get("setup"), dict) \
            or not isinstance(before.get("models"), dict):
        return {}
    if _shared_setup(before["setup"]) != _shared_setup(setup):
        earlier, now = _shared_setup(before["setup"]), _shared_setup(setup)
        changed = sorted(key for key in set(earlier) | set(now) if earlier.get(key) != now.get(key))
        if before["models"]:  # a rerun with another seed or data silently lost the earlier models
            logger.warning("%s: its %d model(s) (%s) were compared with another setup (%s differ); this comparison "
                           "replaces them (another --out keeps both)", path, len(before["models"]),
                           ", ".join(map(str, list(before["models"])[:5])), ", ".join(changed[:4]))
        return {}
    from genrekit.models.catalogue import current_preset

    rows = {}
    for name, row in before["models"].items():
        if current_preset(name) != name and isinstance(row, dict) and isinstance(row.get("kind_setup"), dict) \
                and "network_epochs" in row["kind_setup"]:  # a network's row under its old name
            name, row = current_preset(name), {**row, "model": current_preset(name)}
        problem = _row_problem(name, row, tracks)
        if problem is None:
            rows[name] = row
        else:
            where = ": " if problem.startswith("expected") else "."  # the row itself, or one of its fields
            logger.warning("%s: models.%s%s%s; that row is not taken as finished: %s", path, name, where, problem,
                           f"{name} is fitted again" if name in names else "it is left out")
    return rows


COMPARISON_FILES = ("comparison.json", "out_of_fold.csv", "comparison.md", "comparison.png")


def _compare_lock(out: Path | None):
    """Hold ``out``'s ``compare.lock`` while a comparison writes there."""
    if out is None:
        return contextlib.nullcontext()
    return run_folder_lock(out, "compare.lock", f"{out}: another comparison is writing to this folder (it holds "
                                                "compare.lock); wait for it to finish, or compare into another folder",
                           written=COMPARISON_FILES)


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
    settings: dict | None = None,
    source: str = "",
    features: str | None = None,
    out_dir: str | Path | None = None,
    on_result=None,
    progress: bool = False,
) -> list[dict]:
    """Cross-validate each named model on the same folds; write ``comparison.json|md|png`` and
    ``out_of_fold.csv``.

    Classical models are fitted on ``table``; network presets are trained from the audio of
    ``dataset``. With a dataset, both use its track folds (else the table's). Every name is
    checked before any model is fitted.

    Parameters
    ----------
    table : FeatureTable or None
        The rows classical models are fitted on.
    names : list of str
        Models of :func:`genrekit.models.recipe_names`.
    n_splits : int
        Folds (stratified, grouped by artist where known).
    seed : int
        Seeds the folds and the models.
    search, n_iter
        A classical model's nested randomized search, and its iterations.
    n_jobs : int, optional
        Folds fitted at once (None: one per core), for recipes that allow it (networks: one at a time).
    dataset : Dataset, optional
        The tracks networks are trained from.
    epochs, device
        A network's epochs per fold and device.
    settings : dict, optional
        A network's other :class:`~genrekit.train.config.TrainConfig` settings (its resolved
        settings are recorded in ``comparison.json``'s ``setup.network_settings``).
    source : str
        What the data is, for the report's title and ``setup``.
    features : str, optional
        The feature set of ``table``, named after ``source`` in titles with the models'
        inputs (:func:`compared_on`); None for a table of its own (``source`` says it all).
    out_dir : path, optional
        Where to write ``comparison.json`` (after each model, so an interrupted comparison
        resumes: the models a ``comparison.json`` of the same setup holds are not fitted again,
        and those it holds that were not asked for now are kept in it),
        ``comparison.md`` and ``comparison.png``.
    on_result : callable, optional
        Called with each model's row as it is done (for progress display).
    progress : bool
        Show each network's training progress, fold by fold (their folds run in this process).

    Returns
    -------
    list of dict
        One row per model, in ``names`` order (a name given twice, or a model under two of its
        names such as ``default`` and ``musicnn-prior``, is one row): as
        :func:`cross_validate_recipe`'s result without ``folds``, plus ``fold_accuracy`` and ``best_params`` (one per fold) and ``out_of_fold``
        (track -> genre -> its probability from the fold that held the track out). With
        ``out_dir``, ``comparison.json`` also holds ``folds`` (each fold's test tracks) and
        ``paired`` (:func:`paired_tests`), and ``out_of_fold.csv`` every track's out-of-fold
        prediction (:func:`out_of_fold_frame`).

    Raises
    ------
    ParameterError
        No name is given, a name is unknown, a setting is out of range, or ``n_splits`` is below 2 or above the
        split groups.
    DatasetError
        A network is named without ``dataset``, or a classical model without ``table``.
    """
    check_flags(progress=progress)
    from genrekit.datasets import fold_grouping
    from genrekit.datasets.splits import gtzan_shares_artists
    from genrekit.evaluate.crossval import (cross_validate_recipe, dataset_folds, out_of_fold_probabilities,
                                           table_folds, untrained_genres)
    from genrekit.models.catalogue import recipe_name
    from genrekit.train.recipes import make_recipe

    if isinstance(names, str):  # read letter by letter, 'logreg' was "model 'l' is unknown"
        raise ParameterError(f"names={names!r}: expected a list of model names, such as [{names!r}]")
    if not names:
        raise ParameterError("names: expected at least one model to compare, found none")
    names = list(dict.fromkeys(recipe_name(name) for name in names))  # 'default' and musicnn-prior are one model
    recipes = [make_recipe(name, table=table, dataset=dataset, search=search, n_iter=n_iter, seed=seed, epochs=epochs,
                           device=device, settings=settings, progress=progress)
               for name in names]  # every name checked before any fitting
    track_folds = (dataset_folds(dataset, n_splits=n_splits, seed=seed) if dataset is not None
                   else table_folds(table, n_splits=n_splits, seed=seed))
    grouping = fold_grouping(dataset if dataset is not None else table)
    genre_of = ({t.track_id: t.label for t in dataset.tracks} if dataset is not None
                else dict(zip(map(str, table.tracks), (table.labels[y] for y in table.y))))
    untrained = untrained_genres(track_folds, genre_of)
    if untrained:  # each model scores 0 on those tracks by construction: said, not left to look like a result
        logger.warning("%s: %s", out_dir or "compare", untrained_words(untrained))
    left_out = dict(table.failures) if table is not None else {}  # tracks that gave no features
    # a dataset's copies are one group (by their bytes); a table's can only be told by their rows
    copies = split_copies(table, track_folds) if dataset is None else []
    if copies:
        logger.warning("%s: %s", out_dir or "compare", _copies_words(copies))
    # GTZAN's clips in folds by track: said in the files, as on the terminal (the command warns of it)
    shared = gtzan_shares_artists(dataset, "these folds") if dataset is not None else gtzan_shares_artists(
        table, "these folds", source or "the table")
    kinds_setup = {key: value for recipe in recipes for key, value in recipe.setup.items()}  # each kind's own
    setup = {"source": source, "n_rows": int(len(table.y)) if table is not None else None,
             "n_tracks": len(dataset.tracks) if dataset is not None else int(len(np.unique(table.tracks))),
             "n_features": int(table.X.shape[1]) if table is not None else None,
             "labels": dataset.labels if dataset is not None else table.labels, "n_splits": n_splits,
             "network_epochs": None, **kinds_setup,
             "cv": f"stratified K-fold {grouping}" + (" (nested randomized search)" if search else ""),
             "grouping": grouping,
             "seed": seed, "search_iterations": n_iter if search else 0,
             "data_sha256": _data_fingerprint(table, dataset), "genrekit_version": __version__}
    setup = json.loads(json.dumps(setup))  # as comparison.json holds it
    out = Path(out_dir) if out_dir is not None else None
    with _compare_lock(out):  # two comparisons into one folder: one's rows were lost, both said done
        done = _finished_rows(out, setup, names, frozenset(genre_of)) if out is not None else {}
        others = {name: r for name, r in done.items() if name not in names}  # finished before, not asked now: kept
        for row in others.values():  # a row of a comparison.json older than ``reads``: a network's kind_setup says
            row.setdefault("reads", "log-mel" if "network_epochs" in row.get("kind_setup", {}) else None)
        # its title's inputs: of every model its files hold (source is no part of the setup compared on resuming)
        setup["source"] = compared_on(source, features,
                                      [r.reads for r in recipes] + [r["reads"] for r in others.values()])
        own_setups = {r.name: json.loads(json.dumps(r.setup)) for r in recipes}  # as comparison.json holds them
        resumed = [r.name for r in recipes
                   if r.name in done and done[r.name].get("kind_setup", {}) == own_setups[r.name]]
        if resumed:
            logger.warning("%s: %d model(s) resumed from the earlier comparison of the same setup, not fitted "
                           "again: %s", out, len(resumed), ", ".join(resumed))
        rows = []
        for recipe in recipes:
            row = done.get(recipe.name) if recipe.name in resumed else None
            if row is None:
                result = cross_validate_recipe(recipe, track_folds, aggregations=recipe.aggregations,
                                               n_jobs=n_jobs if recipe.folds_in_parallel else 1, summary=recipe.summary)
                for fold in result["folds"]:
                    fold.pop("history", None)  # a network's per-epoch curves: in its own runs, not in a comparison
                row = {key: value for key, value in result.items() if key != "folds"}
                row["fold_accuracy"] = [fold["accuracy"] for fold in result["folds"]]
                row["best_params"] = [fold["best_params"] for fold in result["folds"]]
                if row.get("search"):  # a fold with too few tracks or artists for inner folds is fitted untuned
                    row["searched_folds"] = sum(bool(params) for params in row["best_params"])
                # files a fold could not use (a network decodes its tracks itself): path -> reason
                row["failures"] = {path: reason for fold in result["folds"]
                                   for path, reason in fold.get("failures", {}).items()}
                row["kind_setup"] = own_setups[recipe.name]
                row["out_of_fold"] = out_of_fold_probabilities(result["folds"], recipe.labels)
                if getattr(recipe, "resolved", None):  # a network's settings as trained (lr, optimizer...)
                    row["resolved_settings"] = json.loads(json.dumps(recipe.resolved))
            row["reads"] = recipe.reads  # also in a row resumed from a comparison.json older than this key
            rows.append(row)
            if out is not None:  # each model kept as it is done: an interrupted comparison resumes from here
                paired = paired_tests([*rows, *others.values()], genre_of)
                write_json(out / "comparison.json", {"setup": setup,
                                                     "models": {**{r["model"]: r for r in rows}, **others},
                                                     "complete": len(rows) == len(recipes),
                                                     "folds": [list(map(str, test)) for _, test in track_folds],
                                                     **({"paired": paired} if paired else {}),
                                                     **({"untrained_genres": untrained} if untrained else {}),
                                                     **({"left_out": left_out} if left_out else {}),
                                                     **({"copies_across_folds": copies} if copies else {}),
                                                     **({"artists_shared": shared} if shared else {})})
            if on_result is not None:
                on_result(row)
        if out is not None:  # the report and plot show every model comparison.json holds
            every = [*rows, *others.values()]
            write_text_atomic(out / "out_of_fold.csv", spreadsheet_csv(out_of_fold_frame(every, track_folds, genre_of),
                                                                       ("model", "track", "true", "predicted")))
            title = f"Model comparison: {n_splits}-fold CV {grouping} on {setup['source'] or 'features'}"
            note = (f"\nSeed {seed}; ± is the standard deviation over the folds (ddof 0). Macro F1 is scikit-learn's "
                    "per fold: over the genres in the fold's truth or its predictions, so a genre a fold names but does "
                    "not hold counts with F1 0 (likelier with grouped folds).\n")
            note += f"\n{paired_words(paired)}\n" if paired else ""
            note += f"\n**Note:** {untrained_words(untrained)}.\n" if untrained else ""
            note += f"\n**Optimistic:** {markdown_text(shared)}\n" if shared else ""
            note += f"\n**Copies across folds:** {markdown_text(_copies_words(copies))}\n" if copies else ""
            if left_out:  # the files no model saw: in the report, not only on the terminal
                note += (f"\n**Left out:** {len(left_out)} file(s) that gave no features: "
                         + "; ".join(markdown_text(reason) for reason in list(left_out.values())[:20])
                         + ("; ..." if len(left_out) > 20 else "") + "\n")
            write_text_atomic(out / "comparison.md", comparison_markdown(every, title=title) + note)
            plot_comparison(every, out / "comparison.png", title=title)
        return rows


def _copies_words(copies: list) -> str:
    """What a comparison's tracks of identical feature rows on both sides of a fold mean, in words."""
    return (f"{len(copies)} pair(s) of tracks with identical feature rows (copies of one recording: "
            f"{', '.join(' = '.join(map(str, pair)) for pair in copies[:3])}{' ...' if len(copies) > 3 else ''}) "
            "are on both sides of a fold, which flatters every model alike (a 'group' column joining them keeps "
            "them together).")


def out_of_fold_frame(rows: list[dict], track_folds, genre_of: dict) -> pd.DataFrame:
    """Every model's out-of-fold prediction of every track it scored, one row per model and
    track: ``model``, ``fold`` (from 1), ``track``, ``true``, ``predicted`` (the most probable
    genre), ``correct`` and ``p_<genre>``; what ``out_of_fold.csv`` holds, for paired tests of
    one's own. Rows of a comparison written before 2026-12-06 (no ``out_of_fold``) add none."""
    fold_of = {str(track): number for number, (_, test) in enumerate(track_folds, 1) for track in test}
    records = []
    for row in rows:
        for track, probabilities in (row.get("out_of_fold") or {}).items():
            predicted = max(probabilities, key=probabilities.get)
            records.append({"model": row["model"], "fold": fold_of.get(track), "track": track,
                            "true": genre_of.get(track), "predicted": predicted,
                            "correct": predicted == genre_of.get(track),
                            **{f"p_{genre}": p for genre, p in probabilities.items()}})
    return pd.DataFrame.from_records(records, columns=None if records else
                                     ["model", "fold", "track", "true", "predicted", "correct"])


def paired_tests(rows: list[dict], genre_of: dict) -> dict[str, dict]:
    """Each model against the most accurate one (by ``accuracy_mean``), on the tracks both
    predicted out of fold: McNemar's exact test (a two-sided binomial test of the tracks only
    one of the two gets right). Model -> ``against`` (the best), ``n`` (tracks), ``only_best``,
    ``only_this`` (tracks only that model gets right), ``p_value`` and ``p_holm`` (Holm's
    adjustment over the models tested, since each is one of several tests against the same best;
    both to 3 significant digits).
    Empty where the best model's row holds no out-of-fold predictions (a comparison.json of a
    genrekit before 2026-12-06), or no other row does."""
    from scipy.stats import binomtest

    if not rows:
        return {}
    best = max(rows, key=lambda row: row["accuracy_mean"])
    held = [row for row in rows if row.get("out_of_fold")]
    if not best.get("out_of_fold") or len(held) < 2:
        return {}

    def right(row: dict, track: str) -> bool:
        probabilities = row["out_of_fold"][track]
        return max(probabilities, key=probabilities.get) == genre_of.get(track)

    tests = {}
    for row in held:
        if row is best:
            continue
        shared = [t for t in best["out_of_fold"] if t in row["out_of_fold"]]
        only_best = sum(right(best, t) and not right(row, t) for t in shared)
        only_this = sum(right(row, t) and not right(best, t) for t in shared)
        p_value = binomtest(min(only_best, only_this), only_best + only_this, 0.5).pvalue if only_best + only_this else 1.0
        tests[row["model"]] = {"against": best["model"], "n": len(shared), "only_best": only_best,
                               "only_this": only_this, "p_value": float(p_value)}
    # Holm's step-down: the k-th smallest of m p-values times (m - k + 1), never below a smaller one's
    order = sorted(tests, key=lambda name: tests[name]["p_value"])
    adjusted = 0.0
    for k, name in enumerate(order):
        adjusted = max(adjusted, min(1.0, (len(order) - k) * tests[name]["p_value"]))
        tests[name]["p_holm"] = float(f"{adjusted:.3g}")
    for test in tests.values():
        test["p_value"] = float(f"{test['p_value']:.3g}")
    return tests


def paired_words(paired: dict[str, dict]) -> str:
    """:func:`paired_tests` as a Markdown paragraph for ``comparison.md``."""
    best = next(iter(paired.values()))["against"]
    said = "; ".join(f"{markdown_text(name)}: {t['only_best']} vs {t['only_this']} of {t['n']} tracks, "
                     f"p = {t['p_value']:.3g}" + (f" (Holm {t['p_holm']:.3g})" if "p_holm" in t else "")
                     for name, t in paired.items())
    return (f"**Paired against {markdown_text(best)}** (McNemar's exact test on the out-of-fold predictions: the "
            f"tracks only {markdown_text(best)} gets right vs those only the other model gets right; a small p says "
            f"the difference is more than the folds' luck; Holm's p allows for the {len(paired)} test(s) made against "
            f"one best model; each track's predictions are in out_of_fold.csv): {said}.")


def split_copies(table: FeatureTable, track_folds) -> list[list[str]]:
    """Pairs of ``table``'s tracks whose feature rows are identical (copies of one recording,
    as 14 pairs of the published GTZAN table are) that a fold puts on both sides."""
    rows: dict[bytes, list[str]] = {}
    order = np.argsort(table.tracks, kind="stable")
    tracks, X = np.asarray(table.tracks)[order], np.ascontiguousarray(np.asarray(table.X)[order])
    starts = np.flatnonzero(np.r_[True, tracks[1:] != tracks[:-1]])
    for begin, end in zip(starts, np.r_[starts[1:], len(tracks)]):
        rows.setdefault(X[begin:end].tobytes(), []).append(str(tracks[begin]))
    same = [names for names in rows.values() if len(names) > 1]
    pairs = []
    for train, test in track_folds:
        tested = set(map(str, test))
        trained = set(map(str, train))
        for names in same:
            pairs += [[a, b] for a in names for b in names if a < b and ((a in tested and b in trained)
                                                                          or (b in tested and a in trained))]
    return sorted(map(list, {tuple(pair) for pair in pairs}))


def compared_on(source: str, features: str | None, reads: list[str | None]) -> str:
    """What a comparison's models read, for its titles: ``source`` (the data as named) and
    the inputs of the models compared: ``features`` (the table's feature set, None for a
    table of the user's own) for a model whose ``reads`` is None, else what it computes from
    the audio itself (a recipe's ``reads``), such as ``gtzan (fma518; networks: log-mel)``."""
    own = sorted({r for r in reads if r is not None})
    inputs = ([features] if features is not None and None in reads else []) + ([f"networks: {', '.join(own)}"] if own else [])
    return f"{source} ({'; '.join(inputs)})" if inputs else source


def plot_comparison(rows: list[dict], path: Path, *, title: str) -> Path:
    from matplotlib.figure import Figure  # not pyplot: a notebook's backend and figures stay its own

    ordered = sorted(rows, key=lambda r: r["accuracy_mean"])
    figure = Figure(figsize=(8, 0.45 * len(ordered) + 1.5), layout="constrained")
    axis = figure.subplots()
    axis.barh([r["model"] for r in ordered], [r["accuracy_mean"] for r in ordered],
              xerr=[r["accuracy_std"] for r in ordered], color="#4c72b0", capsize=3)
    axis.set_xlabel("track accuracy (mean ± std over folds)")
    axis.set_xlim(0, 1)
    axis.set_title(title, fontsize=10)
    return save_figure(figure, path, dpi=110)
