"""Predicting files: the genres of a song from its chunks, for classical and network models."""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

import numpy as np

from genrekit.errors import GenrekitError
from genrekit.predict.classifiers import ModelChunks, NetworkChunks, load_predictor
from genrekit.predict.song import Prediction, check_stop, song_chunks, summarise

if TYPE_CHECKING:  # the ONNX runtime path must not import scikit-learn
    from genrekit.models import GenreModel

Predictor = ModelChunks | NetworkChunks


def _as_predictor(model: GenreModel | Predictor | str | os.PathLike, segment_seconds: float | None = None) -> Predictor:
    if isinstance(model, (str, os.PathLike)):
        return load_predictor(model, segment_seconds=segment_seconds)
    return model if isinstance(model, (ModelChunks, NetworkChunks)) else ModelChunks(model)


def _is_image_path(path: str) -> bool:
    from genrekit.features.images import is_image_path  # rendering needs librosa: image networks only

    return is_image_path(path)


def predict_file(
    model: GenreModel | Predictor | str | os.PathLike,
    path: str | os.PathLike,
    *,
    skip: float = 10.0,
    hop_seconds: float | None = None,
    batch: int = 8,
    should_stop: Callable[[], bool] | None = None,
) -> Prediction:
    """The genres of one file of any length, streamed chunk by chunk.

    ``model``: a classical model, a loaded predictor, or a model file's path.

    ``skip`` seconds of intro and outro are left out when the song is long enough (see
    :func:`genrekit.predict.song.analysed_span`); ``hop_seconds`` < the chunk length gives
    overlapping chunks. Chunks go to the model ``batch`` at a time: the batch, not the
    song's length, sets the memory used. Raises AudioError (naming the file) when it
    cannot be used.

    ``should_stop``, when given, is asked between decoded blocks, chunks and batches; once it
    answers true the analysis ends with :class:`genrekit.errors.AnalysisStopped` (how
    the service stops an analysis that ran past its timeout).
    """
    from genrekit import audio
    from genrekit.audio import remote

    predictor = _as_predictor(model)
    path = os.fspath(path)
    if remote.is_url(path):  # one local copy, decoded as any file, the results named by the URL
        from genrekit.errors import AudioError

        with remote.local_copy(path) as local:
            try:
                prediction = predict_file(predictor, local, skip=skip, hop_seconds=hop_seconds, batch=batch,
                                          should_stop=should_stop)
            except AudioError as exc:
                raise AudioError(path, exc.reason) from exc
        return dataclasses.replace(prediction, path=path)
    if getattr(predictor, "takes_images", False) and _is_image_path(path):
        return summarise(path, predictor.labels, [(0.0, predictor.chunk_seconds)], predictor.predict_image(path),
                         aggregation=predictor.aggregation, model=predictor.name)
    times, probas, pending = [], [], []
    for start, end, chunk in song_chunks(path, sr=predictor.sample_rate, chunk_seconds=predictor.chunk_seconds,
                                         hop_seconds=hop_seconds, skip=skip, pad=predictor.pad,
                                         min_seconds=predictor.min_seconds, should_stop=should_stop):
        times.append((start, end))
        pending.append(np.array(chunk, copy=True))
        if len(pending) == batch:
            check_stop(should_stop, path)
            probas.append(predictor.predict(pending))
            pending = []
    if pending:
        probas.append(predictor.predict(pending))
    if not probas:
        from genrekit.errors import AudioError

        raise AudioError(path, f"too short: less than {predictor.min_seconds:.2f} s of audio to analyse")
    return summarise(path, predictor.labels, times, np.concatenate(probas), aggregation=predictor.aggregation,
                     duration=audio.info(path).duration, model=predictor.name)


def make_song_predictor(model_path: str, segment_seconds: float | None, skip: float, hop_seconds: float | None):
    """A runner's worker (see :mod:`genrekit.runners`): the model loaded once; then a path
    -> ``{"prediction": Prediction.to_dict()}`` or ``{"error": reason}``."""
    predictor = load_predictor(model_path, segment_seconds=segment_seconds, threads=1)

    def predict(path: str) -> dict:
        try:
            return {"prediction": predict_file(predictor, path, skip=skip, hop_seconds=hop_seconds).to_dict()}
        except GenrekitError as exc:
            return {"error": str(exc)}
        except Exception as exc:  # a decoder crash on one file must not end the batch
            return {"error": f"{path}: unexpected {type(exc).__name__}: {exc}"}

    return predict


def predict_files(
    model: GenreModel | Predictor | str | os.PathLike,
    paths: Sequence[str | os.PathLike],
    *,
    skip: float = 10.0,
    hop_seconds: float | None = None,
    progress: bool = True,
    jobs: int = 1,
    runner=None,
    segment_seconds: float | None = None,
) -> tuple[list[Prediction], dict[str, str]]:
    """Predict every file, going on past files that cannot be decoded.

    ``jobs`` > 1 or a ``runner`` (:mod:`genrekit.runners`: a local process pool or Ray)
    predicts files in parallel, each worker loading the model once; that needs ``model`` as
    a model file's path. The results are the same either way.

    Returns
    -------
    predictions : one per good file, in input order
    failures : path -> reason, for the files that failed
    """
    from rich.progress import track

    paths = [os.fspath(p) for p in paths]
    if (jobs > 1 or runner is not None) and isinstance(model, (str, os.PathLike)) and len(paths) > 1:
        from genrekit.runners import LocalRunner

        runner = runner or LocalRunner(min(jobs, len(paths)))
        outcomes: dict[int, dict] = {}
        results = runner.map(make_song_predictor, (os.fspath(model), segment_seconds, skip, hop_seconds), paths)
        for index, outcome in track(results, total=len(paths), description="predicting", disable=not progress):
            outcomes[index] = outcome
        predictions = [Prediction.from_dict(outcomes[i]["prediction"]) for i in range(len(paths))
                       if "prediction" in outcomes[i]]
        failures = {paths[i]: outcomes[i]["error"] for i in range(len(paths)) if "error" in outcomes[i]}
        return predictions, failures
    predictor = _as_predictor(model, segment_seconds)
    predictions, failures = [], {}
    for path in track(paths, description="predicting", disable=not progress):
        try:
            predictions.append(predict_file(predictor, path, skip=skip, hop_seconds=hop_seconds))
        except GenrekitError as exc:
            failures[path] = str(exc)
    return predictions, failures


def evaluate_songs(
    model: GenreModel | Predictor,
    dataset,
    *,
    skip: float = 10.0,
    include_train: bool = False,
    progress: bool = True,
    out_dir: str | os.PathLike | None = None,
) -> tuple[dict, dict]:
    """Full-song evaluation of a labelled set of songs (see :func:`genrekit.evaluate.song_scores`).

    Songs the model was trained on (same content) are left out unless ``include_train``.
    With ``out_dir``: ``songs.json``, ``songs.md`` and ``songs.csv`` (one row per song).

    Returns
    -------
    scores : as :func:`genrekit.evaluate.song_scores` (empty when no song is left)
    report : ``failures`` (path -> reason), ``excluded_training_tracks``, ``unknown_genre_tracks``
    """
    from pathlib import Path

    import pandas as pd

    from genrekit.audio import content_hash
    from genrekit.evaluate import song_scores, write_json
    from genrekit.evaluate.report import write_text_atomic

    predictor = _as_predictor(model)
    known = set(predictor.labels)
    report = {"unknown_genre_tracks": [t.path for t in dataset.tracks if t.label not in known],
              "excluded_training_tracks": [], "failures": {}}
    songs = [t for t in dataset.tracks if t.label in known]
    if not include_train and predictor.trained_on:
        report["excluded_training_tracks"] = [t.track_id for t in songs if content_hash(t.path) in predictor.trained_on]
        songs = [t for t in songs if t.track_id not in set(report["excluded_training_tracks"])]
    predictions, report["failures"] = predict_files(predictor, [t.path for t in songs], skip=skip, progress=progress)
    label_of = {t.path: t.label for t in songs}
    if not predictions:
        return {}, report
    true = [label_of[p.path] for p in predictions]
    scores = song_scores(true, [p.probabilities for p in predictions], [p.proportions for p in predictions])
    if out_dir is not None:
        out = Path(out_dir)
        write_json(out / "songs.json", {"model": predictor.name, "skip": skip, **scores, **report})
        lines = [f"# Full-song evaluation of {predictor.name}", "",
                 f"{scores['n']} songs: top-1 {scores['top1']:.3f}, top-3 {scores['top3']:.3f}, "
                 f"proportion score {scores['proportion_score']:.3f}", "",
                 "| genre | songs | top-1 | top-3 | proportion score |", "|---|---|---|---|---|"]
        lines += [f"| {g} | {r['n']} | {r['top1']:.3f} | {r['top3']:.3f} | {r['proportion_score']:.3f} |"
                  for g, r in scores["per_genre"].items()]
        write_text_atomic(out / "songs.md", "\n".join(lines) + "\n")
        frame = pd.DataFrame([{"path": p.path, "true": t, "genre": p.genre, "confidence": p.confidence,
                               "n_chunks": p.n_chunks, **{f"share_{g}": v for g, v in p.proportions.items()}}
                              for p, t in zip(predictions, true)])
        write_text_atomic(out / "songs.csv", frame.to_csv(index=False))
    return scores, report
