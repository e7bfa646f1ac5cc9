"""A network's training examples: the log-mel windows (or spectrogram images) of every track,
grouped by the split part of their track, with the waveform augmentations of training tracks.

Spectrograms are computed once per window by the network's own front end, so training sees
exactly what prediction will. Audio is read through :mod:`genrekit.audio` only.
"""

from __future__ import annotations

import logging
import zlib
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn

from genrekit import audio
from genrekit.errors import AudioError, ModelError
from genrekit.features.chunks import frame_windows
from genrekit.features.librosa_kernels import load_librosa_kernels
from genrekit.models.nets.inference import IMAGE_SECONDS, image_examples
from genrekit.models.nets.presets import PRESETS
from genrekit.train.config import TrainConfig

logger = logging.getLogger(__name__)


@dataclass
class ChunkSet:
    """Log-mel windows of many tracks: ``X`` (n, 1, n_mels, n_frames), ``y`` (n,), ``track`` (n,)."""

    X: torch.Tensor
    y: torch.Tensor
    track: np.ndarray
    padded_tracks: list[str] = field(default_factory=list)


def augmented_waveforms(
    y: np.ndarray, sr: int, track_id: str, *, time_stretch: float, pitch_shift: float, copies: int, seed: int,
) -> list[np.ndarray]:
    """``copies`` versions of ``y``, each time-stretched by a rate drawn from
    ``[1 - time_stretch, 1 + time_stretch]`` and pitch-shifted by a number of semitones drawn
    from ``[-pitch_shift, pitch_shift]``; the draws depend only on (seed, track, copy)."""
    import librosa

    load_librosa_kernels()
    versions = []
    for copy_index in range(copies):
        rng = np.random.default_rng([seed, zlib.crc32(track_id.encode()), copy_index])
        rate, steps = rng.uniform(1 - time_stretch, 1 + time_stretch), rng.uniform(-pitch_shift, pitch_shift)
        version = librosa.effects.time_stretch(y, rate=rate) if time_stretch else y
        if pitch_shift:
            version = librosa.effects.pitch_shift(version, sr=sr, n_steps=steps)
        versions.append(version.astype(np.float32))
    return versions


def spectrogram_windows(
    net: nn.Module, paths: Sequence[str], labels: Sequence[int], track_ids: Sequence[str], *, n_frames: int,
    overlap: float, failures: dict[str, str], batch: int = 64, augment: dict | None = None,
) -> ChunkSet:
    """Windows of each file through ``net.frontend``; files that fail go to ``failures``.

    ``augment`` (keyword arguments of :func:`augmented_waveforms`) adds the windows of
    time-stretched and pitch-shifted copies of each file, under the same track.
    """
    config = net.frontend.config
    spectra, ys, tracks, padded = [], [], [], []
    for path, label, track_id in zip(paths, labels, track_ids):
        try:
            y, _ = audio.load(path, sr=config.sample_rate)
        except AudioError as exc:
            failures[path] = str(exc)
            continue
        versions = [y]
        if augment:
            versions += augmented_waveforms(y, config.sample_rate, track_id, **augment)
        for version in versions:
            windows, _, was_padded = frame_windows(version, n_frames=n_frames, hop_length=config.hop_length, overlap=overlap)
            if was_padded and version is y:
                padded.append(track_id)
            with torch.no_grad():
                for start in range(0, len(windows), batch):
                    spectra.append(net.frontend(torch.from_numpy(windows[start : start + batch])))
            ys += [label] * len(windows)
            tracks += [track_id] * len(windows)
    if padded:
        logger.warning("%d track(s) shorter than one window were zero-padded: %s", len(padded), ", ".join(padded[:5]))
    if not spectra:
        raise ModelError("no track could be decoded for training")
    return ChunkSet(torch.cat(spectra), torch.tensor(ys), np.asarray(tracks), padded)


def split_chunks(
    net: nn.Module,
    tracks: Sequence,
    labels: list[str],
    parts: dict[str, str],
    *,
    n_frames: int,
    overlap: float = 0.5,
    augment: dict | None = None,
) -> tuple[dict[str, ChunkSet], dict[str, str]]:
    """Windows of every track, grouped by the split part of their track.

    Tracks, not chunks, are split: every window of a track lands in its track's part.
    Training windows overlap by ``overlap`` (more, shifted examples) and get the
    waveform ``augment``ations; others do neither.
    """
    index = {label: i for i, label in enumerate(labels)}
    failures: dict[str, str] = {}
    sets = {}
    for part in ("train", "val", "test"):
        members = [t for t in tracks if parts.get(t.track_id) == part]
        if members:
            sets[part] = spectrogram_windows(
                net, [t.path for t in members], [index[t.label] for t in members], [t.track_id for t in members],
                n_frames=n_frames, overlap=overlap if part == "train" else 0.0, failures=failures,
                augment=augment if part == "train" else None,
            )
    return sets, failures


def image_chunks(
    tracks: Sequence, labels: list[str], parts: dict[str, str], *, seconds: float = IMAGE_SECONDS,
) -> tuple[dict[str, ChunkSet], dict[str, str]]:
    """Spectrogram images of every track, grouped by the split part of their track."""
    from genrekit.errors import FeatureError

    index = {label: i for i, label in enumerate(labels)}
    failures: dict[str, str] = {}
    sets = {}
    for part in ("train", "val", "test"):
        images, ys, ids, padded = [], [], [], []
        for track in (t for t in tracks if parts.get(t.track_id) == part):
            try:
                examples, was_padded = image_examples(track.path, seconds=seconds)
            except (AudioError, FeatureError) as exc:
                failures[track.path] = str(exc)
                continue
            images.append(torch.from_numpy(examples))
            ys += [index[track.label]] * len(examples)
            ids += [track.track_id] * len(examples)
            if was_padded:
                padded.append(track.track_id)
        if images:
            sets[part] = ChunkSet(torch.cat(images), torch.tensor(ys), np.asarray(ids), padded)
    return sets, failures


def network_chunks(
    net: nn.Module, preset: str, tracks: Sequence, labels: list[str], parts: dict[str, str], *, config: TrainConfig,
) -> tuple[dict[str, ChunkSet], dict[str, str]]:
    """The examples of every part for ``preset``: log-mel windows of ``n_frames`` frames,
    or spectrogram images for image presets."""
    if PRESETS[preset].input_kind == "image":
        return image_chunks(tracks, labels, parts)
    augment = None
    if config.time_stretch or config.pitch_shift:
        augment = {"time_stretch": config.time_stretch, "pitch_shift": config.pitch_shift,
                   "copies": config.augment_copies, "seed": config.seed}
    return split_chunks(net, tracks, labels, parts, n_frames=PRESETS[preset].n_frames, overlap=config.overlap,
                        augment=augment)
