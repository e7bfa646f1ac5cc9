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
    """Predictions from a network file (``model.safetensors``): windows of the file through
    the network, chunk probabilities averaged per file."""

    def __init__(self, path: str | os.PathLike):
        from genrekit.models.nets.training import load_network

        self.net, self.config = load_network(path)
        self.labels = self.config["labels"]
        self.name = self.config["preset"]

    def predict_file(self, path: str | os.PathLike) -> Prediction:
        import torch

        from genrekit import audio
        from genrekit.features.chunks import frame_windows

        frontend = self.config["frontend"]
        y, _ = audio.load(path, sr=frontend["sample_rate"])
        windows, _, _ = frame_windows(y, n_frames=self.config["n_frames"], hop_length=frontend["hop_length"])
        with torch.no_grad():
            proba = torch.softmax(self.net(torch.from_numpy(windows)), dim=1).numpy()
        mean = proba.mean(axis=0)
        best = int(np.argmax(mean))
        return Prediction(path=os.fspath(path), genre=self.labels[best], confidence=float(mean[best]),
                          probabilities={label: float(p) for label, p in zip(self.labels, mean)}, n_chunks=len(proba))

    def predict_files(self, paths, **_) -> tuple[list[Prediction], dict[str, str]]:
        from genrekit.errors import GenrekitError

        predictions, failures = [], {}
        for path in paths:
            try:
                predictions.append(self.predict_file(path))
            except GenrekitError as exc:
                failures[os.fspath(path)] = str(exc)
        return predictions, failures
