"""A network's training examples: the log-mel windows (or spectrogram images) of every track,
grouped by the split part of their track, with the waveform augmentations of training tracks.

Spectrograms are computed once per window by the network's own front end, so training sees
exactly what prediction will. Validation and test tracks are cut as ``evaluate`` and
``predict`` cut them (:func:`genrekit.audio.chunking.song_chunks`), so early stopping and
cross-validation score what a saved model would score. Audio is read through
:mod:`genrekit.audio` only.
"""

from __future__ import annotations

import logging
import os
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn

from genrekit import audio
from genrekit.audio.chunking import SKIP_SECONDS, song_chunks
from genrekit.audio.io import SILENCE_PEAK
from genrekit.errors import AudioError, ModelError
from genrekit.features.chunks import frame_windows
from genrekit.features.librosa_kernels import load_librosa_kernels
from genrekit.models.interface import IMAGE_SAMPLE_RATE, NetworkClassifier
from genrekit.models.nets.inference import IMAGE_SECONDS
from genrekit.models.nets.presets import PRESETS
from genrekit.train.config import TrainConfig

logger = logging.getLogger(__name__)


@dataclass
class ChunkSet:
    """A network's examples from many tracks.

    Attributes
    ----------
    X : torch.Tensor [shape=(n, 1, n_mels, n_frames)]
        Log-mel windows (image presets: [shape=(n, 3, height, width)] spectrogram images).
    y : torch.Tensor [shape=(n,)]
        The genre index of each example.
    track : np.ndarray [shape=(n,)]
        The track id of each example.
    padded_tracks : list of str
        Tracks shorter than one window, zero-padded.
    """

    X: torch.Tensor
    y: torch.Tensor
    track: np.ndarray
    padded_tracks: list[str] = field(default_factory=list)


def image_examples(path: str | os.PathLike, *, seconds: float = IMAGE_SECONDS) -> tuple[np.ndarray, bool]:
    """``(n, 3, 288, 432)`` images of one file: the file itself when it is an image, else
    one rendered image per ``seconds`` of its audio (and whether it was padded)."""
    from genrekit.features.images import audio_images, is_image_path, read_image

    if is_image_path(path):
        return read_image(path)[None], False
    y, sr = audio.load(path, sr=IMAGE_SAMPLE_RATE)
    return audio_images(y, sr, seconds=seconds)


def augmented_waveforms(
    y: np.ndarray, sr: int, track_id: str, *, time_stretch: float, pitch_shift: float, copies: int, seed: int,
) -> list[np.ndarray]:
    """``copies`` altered versions of a waveform; the draws depend only on (seed, track, copy).

    Parameters
    ----------
    y : np.ndarray [shape=(n,)]
        The waveform.
    sr : int
        Its sample rate.
    track_id : str
        Its track (part of what seeds the draws).
    time_stretch : float
        Each copy is time-stretched by a rate drawn from ``[1 - time_stretch, 1 + time_stretch]``.
    pitch_shift : float
        ... and pitch-shifted by semitones drawn from ``[-pitch_shift, pitch_shift]``.
    copies, seed : int

    Returns
    -------
    list of np.ndarray [shape=(m,)], float32
        The copies (their length changes with the rate).
    """
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

    Parameters
    ----------
    net : torch.nn.Module
        A network with a log-mel ``frontend``.
    paths, labels, track_ids : sequences of the same length
        Each file, its genre index and its track id.
    n_frames : int
        Frames per window.
    overlap : float
        Overlap of consecutive windows, in [0, 1).
    failures : dict
        Path -> reason, filled with the files that cannot be decoded.
    batch : int
        Windows through the front end at once.
    augment : dict, optional
        Keyword arguments of :func:`augmented_waveforms`: adds the windows of altered copies
        of each file, under the same track.

    Returns
    -------
    ChunkSet
        ``X`` [shape=(n, 1, n_mels, n_frames)].

    Raises
    ------
    ModelError
        No file can be decoded.
    """
    config = net.frontend.config

    def cut(path: str, track_id: str) -> tuple[np.ndarray, bool]:
        y, _ = audio.load(path, sr=config.sample_rate)
        versions = [y] + (augmented_waveforms(y, config.sample_rate, track_id, **augment) if augment else [])
        framed = [frame_windows(v, n_frames=n_frames, hop_length=config.hop_length, overlap=overlap) for v in versions]
        return _sounding(np.concatenate([windows for windows, _, _ in framed]), path), framed[0][2]

    return _through_frontend(net, paths, labels, track_ids, cut=cut, failures=failures, batch=batch)


def scored_chunks(path: str, *, sr: int, seconds: float) -> tuple[list[np.ndarray], bool]:
    """A file's chunks as a network file's predictions cut them: :func:`genrekit.audio.chunking.song_chunks`
    with :class:`~genrekit.models.interface.NetworkClassifier`'s padding and minimum length (a
    long song's intro and outro skipped, back-to-back chunks, a last partial chunk of at least
    half a chunk kept and zero-padded), and whether the file was shorter than one chunk.

    Raises
    ------
    AudioError
        naming the file: not audio, truncated, silent, or too short to analyse.
    """
    pieces = list(song_chunks(path, sr=sr, chunk_seconds=seconds, skip=SKIP_SECONDS, pad=NetworkClassifier.pad,
                              min_seconds=NetworkClassifier.min_seconds))
    padded = len(pieces) == 1 and pieces[0][1] - pieces[0][0] < seconds - 0.5 / sr
    return [np.array(chunk, dtype=np.float32) for _, _, chunk in pieces], padded


def scored_windows(
    net: nn.Module, paths: Sequence[str], labels: Sequence[int], track_ids: Sequence[str], *, n_frames: int,
    failures: dict[str, str], batch: int = 64,
) -> ChunkSet:
    """Each file's windows as ``evaluate`` and ``predict`` cut them (:func:`scored_chunks`),
    through ``net.frontend``: the examples that validation and test tracks are scored on.

    Parameters and result as :func:`spectrogram_windows` (no overlap, no augmentation).
    """
    config = net.frontend.config
    seconds = (n_frames - 1) * config.hop_length / config.sample_rate

    def cut(path: str, track_id: str) -> tuple[np.ndarray, bool]:
        chunks, was_padded = scored_chunks(path, sr=config.sample_rate, seconds=seconds)
        return _sounding(np.stack(chunks), path), was_padded

    return _through_frontend(net, paths, labels, track_ids, cut=cut, failures=failures, batch=batch)


def _sounding(windows: np.ndarray, path: str) -> np.ndarray:
    """``windows`` [shape=(n, samples)] without those of digital silence, which ``predict`` never
    analyses: the front end's dB against each window's own peak would make one 0 dB in every
    bin, the loudest a window can look, labelled with the track's genre. An AudioError naming
    ``path`` where no window sounds."""
    keep = np.abs(windows).max(axis=1) >= SILENCE_PEAK
    if not keep.any():
        raise AudioError(path, "digital silence in every window: nothing to learn from or score")
    return windows[keep]


def _through_frontend(
    net: nn.Module, paths: Sequence[str], labels: Sequence[int], track_ids: Sequence[str], *,
    cut: Callable[[str, str], tuple[np.ndarray, bool]], failures: dict[str, str], batch: int,
) -> ChunkSet:
    """Each file's waveform windows, ``cut(path, track_id) -> (windows, was_padded)``, through
    ``net.frontend`` ``batch`` at a time; files whose cut raises :class:`AudioError` go to ``failures``."""
    spectra, ys, tracks, padded = [], [], [], []
    for path, label, track_id in zip(paths, labels, track_ids):
        try:
            windows, was_padded = cut(path, track_id)
        except AudioError as exc:
            failures[path] = str(exc)
            continue
        if was_padded:
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
    waveform ``augment``ations; validation and test windows are cut as ``evaluate`` cuts
    them (:func:`scored_windows`).

    Parameters
    ----------
    net : torch.nn.Module
        A network with a log-mel ``frontend``.
    tracks : sequence of Track
        Their ``path``, ``label`` and ``track_id``.
    labels : list of str
        The genres, in the network's order.
    parts : dict
        Track id -> ``train``, ``val`` or ``test``; other tracks are left out.
    n_frames : int
    overlap : float
    augment : dict, optional
        As :func:`spectrogram_windows`.

    Returns
    -------
    sets : dict
        Part -> :class:`ChunkSet`, for the parts with a track.
    failures : dict
        Path -> reason.
    """
    index = {label: i for i, label in enumerate(labels)}
    failures: dict[str, str] = {}
    sets = {}
    for part in ("train", "val", "test"):
        members = [t for t in tracks if parts.get(t.track_id) == part]
        if not members:
            continue
        files = [t.path for t in members], [index[t.label] for t in members], [t.track_id for t in members]
        if part == "train":
            sets[part] = spectrogram_windows(net, *files, n_frames=n_frames, overlap=overlap, failures=failures,
                                             augment=augment)
        else:
            sets[part] = scored_windows(net, *files, n_frames=n_frames, failures=failures)
    return sets, failures


def image_chunks(
    tracks: Sequence, labels: list[str], parts: dict[str, str], *, seconds: float = IMAGE_SECONDS,
) -> tuple[dict[str, ChunkSet], dict[str, str]]:
    """Spectrogram images of every track, grouped by the split part of their track; the audio
    of validation and test tracks is cut as ``evaluate`` cuts it (:func:`scored_chunks`).

    Returns
    -------
    sets : dict
        Part -> :class:`ChunkSet` with ``X`` [shape=(n, 3, height, width)].
    failures : dict
        Path -> reason.
    """
    from genrekit.errors import FeatureError
    from genrekit.features.images import audio_images, is_image_path

    index = {label: i for i, label in enumerate(labels)}
    failures: dict[str, str] = {}
    sets = {}
    for part in ("train", "val", "test"):
        images, ys, ids, padded = [], [], [], []
        for track in (t for t in tracks if parts.get(t.track_id) == part):
            try:
                if part == "train" or is_image_path(track.path):
                    examples, was_padded = image_examples(track.path, seconds=seconds)
                else:
                    chunks, was_padded = scored_chunks(track.path, sr=IMAGE_SAMPLE_RATE, seconds=seconds)
                    examples = np.concatenate([audio_images(c, IMAGE_SAMPLE_RATE, seconds=seconds)[0] for c in chunks])
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
    """The examples of every part for ``preset``: log-mel windows of ``n_frames`` frames
    (:func:`split_chunks`, with ``config``'s overlap and augmentation), or spectrogram images
    for image presets (:func:`image_chunks`)."""
    if PRESETS[preset].input_kind == "image":
        return image_chunks(tracks, labels, parts)
    augment = None
    if config.time_stretch or config.pitch_shift:
        augment = {"time_stretch": config.time_stretch, "pitch_shift": config.pitch_shift,
                   "copies": config.augment_copies, "seed": config.seed}
    return split_chunks(net, tracks, labels, parts, n_frames=PRESETS[preset].n_frames, overlap=config.overlap,
                        augment=augment)
