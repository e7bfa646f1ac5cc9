"""Is it music? A detector on the pretrained musicnn taggers' features, so that speech,
noise and tones get ``unknown`` instead of a genre.

A class-balanced logistic regression on the ``musicnn`` features (both taggers' embeddings
and tags, 500 columns), trained on 200 GTZAN clips against 46 generated non-music signals
(speech in 12 voices, alone, in noise, over hum and two at once; noises, tones, beeps,
clicks, sweeps) and 105 recorded ones (spoken letters in 22 languages, game voice lines,
sound effects: bench/recorded.py), its regularisation and threshold chosen by a cost fixed
before measuring (``python bench/trust.py --nonmusic --recorded --write-detector``; results
in docs/benchmarks.md). It ships as numbers in
``data/music-detector.json`` and runs in numpy: the runtime needs nothing more.

The taggers' features depend on the level of the audio, so each detector serves models
whose features are at the level it was fitted at: ``music-detector.json`` at -20 dBFS (the
default model's) and ``music-detector-as-recorded.json`` for audio as recorded (models
trained before 2026-12-01). Both call audio non-music below the same p(music).
"""

from __future__ import annotations

import functools
import json
import os
from collections.abc import Sequence
from importlib import resources
from pathlib import Path

import numpy as np

from genrekit._files import atomic_path

DETECTOR_FILE = "music-detector.json"  # the default model's level; written by bench/trust.py
DETECTOR_FILES = (DETECTOR_FILE, "music-detector-as-recorded.json")


@functools.cache
def detectors() -> dict[float | None, dict]:
    """The level (dBFS; None: as recorded) of each shipped detector -> the detector."""
    found = {}
    for name in DETECTOR_FILES:
        record = json.loads((resources.files("genrekit") / "data" / name).read_text(encoding="utf-8"))
        arrays = {key: np.asarray(record[key], dtype=np.float64) for key in ("mean", "scale", "weights")}
        level = record.get("level_dbfs")
        found[None if level is None else float(level)] = {
            "columns": list(record["columns"]), "bias": float(record["bias"]), "threshold": float(record["threshold"]),
            **arrays}
    return found


def music_threshold() -> float:
    """Below this probability of being music, a song's genre is unknown (the detectors' chosen
    threshold on p(non-music), as p(music); the same for every detector, tested)."""
    return 1.0 - next(iter(detectors().values()))["threshold"]  # DETECTOR_FILE's


def detector_columns(columns: Sequence[str], level_dbfs: float | None) -> list[int] | None:
    """The indices in ``columns`` of the inputs of the detector for features at ``level_dbfs``,
    or None when there is no such detector or some inputs are missing (features without both
    taggers)."""
    detector = detectors().get(level_dbfs)
    if detector is None:
        return None
    index = {name: i for i, name in enumerate(columns)}
    wanted = detector["columns"]
    return [index[c] for c in wanted] if all(c in index for c in wanted) else None


def music_probability(rows: np.ndarray, indices: Sequence[int], level_dbfs: float | None) -> np.ndarray:
    """The probability that each feature row (pooled ``musicnn`` features of audio at
    ``level_dbfs``) is music.

    Returns
    -------
    np.ndarray [shape=(len(rows),)]
    """
    detector = detectors()[level_dbfs]
    X = (np.atleast_2d(np.asarray(rows, dtype=np.float64))[:, list(indices)] - detector["mean"]) / detector["scale"]
    non_music = X @ detector["weights"] + detector["bias"]
    return 1.0 / (1.0 + np.exp(np.clip(non_music, -500, 500)))


def write_detector(path: str | os.PathLike, *, columns: Sequence[str], mean: np.ndarray, scale: np.ndarray,
                   weights: np.ndarray, bias: float, threshold: float, level_dbfs: float | None,
                   provenance: dict) -> None:
    """Write a detector (standard scaling, then logistic regression for *non-music*) as JSON, atomically."""
    record = {"columns": list(columns), "mean": np.asarray(mean).tolist(), "scale": np.asarray(scale).tolist(),
              "weights": np.asarray(weights).tolist(), "bias": float(bias), "threshold": float(threshold),
              "level_dbfs": level_dbfs, "provenance": provenance}
    with atomic_path(path) as temporary:
        Path(temporary).write_text(json.dumps(record) + "\n", encoding="utf-8")
