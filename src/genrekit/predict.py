"""Prediction: genres of new songs from a trained model."""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import asdict, dataclass

import numpy as np

from genrekit.evaluate.metrics import aggregate_tracks
from genrekit.features import extract_features
from genrekit.models import GenreModel


@dataclass
class Prediction:
    """The genres of one file: the top genre and the probability of each genre."""

    path: str
    genre: str
    confidence: float
    probabilities: dict[str, float]
    n_chunks: int

    def top(self, k: int = 3) -> list[tuple[str, float]]:
        return sorted(self.probabilities.items(), key=lambda item: -item[1])[:k]

    def to_dict(self, k: int | None = None) -> dict:
        data = asdict(self)
        data["top"] = [{"genre": g, "probability": p} for g, p in self.top(k or len(self.probabilities))]
        return data


def predict_files(
    model: GenreModel,
    paths: Sequence[str | os.PathLike],
    *,
    n_jobs: int | None = None,
    progress: bool = True,
) -> tuple[list[Prediction], dict[str, str]]:
    """Predict every file, going on past files that cannot be decoded.

    Returns
    -------
    predictions : one per good file, in input order
    failures : path -> reason, for the files that failed
    """
    result = extract_features(paths, model.spec, cache=None, n_jobs=n_jobs, progress=progress)
    predictions = [
        _predict_features(model, path, features)
        for path, features in zip(result.paths, result.features)
        if features is not None
    ]
    return predictions, result.failures


def predict_file(model: GenreModel, path: str | os.PathLike) -> Prediction:
    """Predict one file; raises AudioError (naming the file) when it cannot be used."""
    from genrekit import audio

    spec = model.spec
    y, sr = audio.load(path, sr=spec.sample_rate, min_duration=spec.min_duration)
    return _predict_features(model, os.fspath(path), spec.compute(y, sr))


def _predict_features(model: GenreModel, path: str, features: np.ndarray) -> Prediction:
    proba = model.predict_proba(features)
    track_proba, _ = aggregate_tracks(proba, np.zeros(len(proba)), method=model.aggregation)
    best = int(np.argmax(track_proba[0]))
    return Prediction(
        path=path, genre=model.labels[best], confidence=float(track_proba[0, best]),
        probabilities={label: float(p) for label, p in zip(model.labels, track_proba[0])}, n_chunks=len(features),
    )


class NetworkPredictor:
    """Predictions from a network file (``model.safetensors``): windows of the file (or its
    spectrogram images, for image networks) through the network, chunk probabilities
    combined per file by the model's aggregation (``mean``, or majority ``vote``)."""

    def __init__(self, path: str | os.PathLike, *, aggregation: str | None = None):
        from genrekit.models.nets.training import load_network

        self.net, self.config = load_network(path)
        self.labels = self.config["labels"]
        self.name = self.config["preset"]
        self.aggregation = aggregation or self.config.get("aggregation", "mean")

    def chunk_proba(self, path: str | os.PathLike) -> np.ndarray:
        """Genre probabilities of each window of one file, [shape=(n_chunks, n_genres)]."""
        from genrekit.models.nets.inference import chunk_proba

        return chunk_proba(self.net, self.config, path)

    def predict_file(self, path: str | os.PathLike) -> Prediction:
        proba = self.chunk_proba(path)
        track_proba, _ = aggregate_tracks(proba, np.zeros(len(proba)), method=self.aggregation)
        best = int(np.argmax(track_proba[0]))
        return Prediction(path=os.fspath(path), genre=self.labels[best], confidence=float(track_proba[0, best]),
                          probabilities={label: float(p) for label, p in zip(self.labels, track_proba[0])},
                          n_chunks=len(proba))

    def predict_files(self, paths, *, progress: bool = False, **_) -> tuple[list[Prediction], dict[str, str]]:
        """Every file, going on past files that cannot be used (``failures``: path -> reason)."""
        from rich.progress import track as progress_bar

        from genrekit.errors import GenrekitError

        predictions, failures = [], {}
        for path in progress_bar(list(paths), description="predicting", disable=not progress):
            try:
                predictions.append(self.predict_file(path))
            except GenrekitError as exc:
                failures[os.fspath(path)] = str(exc)
        return predictions, failures
