"""Predicting files: the genres of a song from its chunks, for classical and network models."""

from __future__ import annotations

import os
from collections.abc import Sequence

import numpy as np

from genrekit.errors import GenrekitError
from genrekit.models import GenreModel
from genrekit.predict.classifiers import ModelChunks, NetworkChunks
from genrekit.predict.song import Prediction, song_chunks, summarise

Predictor = ModelChunks | NetworkChunks


def _as_predictor(model: GenreModel | Predictor) -> Predictor:
    return ModelChunks(model) if isinstance(model, GenreModel) else model


def predict_file(
    model: GenreModel | Predictor,
    path: str | os.PathLike,
    *,
    skip: float = 10.0,
    hop_seconds: float | None = None,
    batch: int = 16,
) -> Prediction:
    """The genres of one file of any length, streamed chunk by chunk.

    ``skip`` seconds of intro and outro are left out when the song is long enough (see
    :func:`genrekit.predict.song.analysed_span`); ``hop_seconds`` < the chunk length gives
    overlapping chunks. Raises AudioError (naming the file) when it cannot be used.
    """
    from genrekit import audio
    from genrekit.features.images import is_image_path

    predictor = _as_predictor(model)
    path = os.fspath(path)
    if is_image_path(path) and isinstance(predictor, NetworkChunks) and predictor.takes_images:
        return summarise(path, predictor.labels, [(0.0, predictor.chunk_seconds)], predictor.predict_image(path),
                         aggregation=predictor.aggregation, model=predictor.name)
    times, probas, pending = [], [], []
    for start, end, chunk in song_chunks(path, sr=predictor.sample_rate, chunk_seconds=predictor.chunk_seconds,
                                         hop_seconds=hop_seconds, skip=skip, pad=predictor.pad,
                                         min_seconds=predictor.min_seconds):
        times.append((start, end))
        pending.append(np.array(chunk, copy=True))
        if len(pending) == batch:
            probas.append(predictor.predict(pending))
            pending = []
    if pending:
        probas.append(predictor.predict(pending))
    if not probas:
        from genrekit.errors import AudioError

        raise AudioError(path, f"too short: less than {predictor.min_seconds:.2f} s of audio to analyse")
    return summarise(path, predictor.labels, times, np.concatenate(probas), aggregation=predictor.aggregation,
                     duration=audio.info(path).duration, model=predictor.name)


def predict_files(
    model: GenreModel | Predictor,
    paths: Sequence[str | os.PathLike],
    *,
    skip: float = 10.0,
    hop_seconds: float | None = None,
    progress: bool = True,
    **_,
) -> tuple[list[Prediction], dict[str, str]]:
    """Predict every file, going on past files that cannot be decoded.

    Returns
    -------
    predictions : one per good file, in input order
    failures : path -> reason, for the files that failed
    """
    from rich.progress import track

    predictor = _as_predictor(model)
    predictions, failures = [], {}
    for path in track(list(paths), description="predicting", disable=not progress):
        try:
            predictions.append(predict_file(predictor, path, skip=skip, hop_seconds=hop_seconds))
        except GenrekitError as exc:
            failures[os.fspath(path)] = str(exc)
    return predictions, failures
