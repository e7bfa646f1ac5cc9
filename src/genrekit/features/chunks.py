"""Cutting a signal into fixed-length chunks (the ~3 s windows of the literature)."""

from __future__ import annotations

import numpy as np

from genrekit.audio.io import check_sample_rate, is_seconds
from genrekit.errors import ParameterError


def chunk_signal(
    y: np.ndarray,
    sr: int,
    *,
    chunk_duration: float,
    hop_duration: float | None = None,
) -> tuple[list[np.ndarray], np.ndarray]:
    """Cut a mono signal into windows of ``chunk_duration`` seconds.

    Only whole windows are kept (a partial tail would bias handcrafted statistics); a
    signal shorter than one window gives a single chunk, the whole signal.

    Parameters
    ----------
    y : np.ndarray [shape=(n,)]
    sr : sample rate
    chunk_duration : window length in seconds
    hop_duration : seconds between window starts (default: ``chunk_duration``, no overlap)

    Returns
    -------
    chunks : list of np.ndarray [shape=(round(chunk_duration * sr),)], views into ``y``
    starts : np.ndarray [shape=(len(chunks),)], start time of each chunk in seconds
    """
    check_sample_rate(sr)
    if not isinstance(y, np.ndarray) or y.ndim != 1:  # a stereo (n, 2) array was cut along its channels
        found = f"shape {y.shape}" if isinstance(y, np.ndarray) else type(y).__name__
        raise ParameterError(f"y: expected a mono signal as a 1-D array, found {found} (mix channels down first)")
    hop_duration = chunk_duration if hop_duration is None else hop_duration
    for name, seconds in (("chunk_duration", chunk_duration), ("hop_duration", hop_duration)):
        if not (is_seconds(seconds) and seconds > 0):
            raise ParameterError(f"{name}={seconds!r}: expected a positive number of seconds")
    size = max(1, int(round(chunk_duration * sr)))
    hop = int(round(hop_duration * sr))
    if hop < 1:  # a hop of no sample would never move on
        raise ParameterError(f"hop_duration={hop_duration!r}: less than one sample at {sr} Hz")
    if y.shape[-1] < size:
        return [y], np.zeros(1)
    starts = np.arange(0, y.shape[-1] - size + 1, hop)
    return [y[..., s : s + size] for s in starts], starts / sr


def frame_windows(
    y: np.ndarray,
    *,
    n_frames: int = 128,
    hop_length: int = 512,
    overlap: float = 0.0,
) -> tuple[np.ndarray, np.ndarray, bool]:
    """Cut a signal into windows that give exactly ``n_frames`` STFT frames each (centred STFT).

    A window spans ``(n_frames - 1) * hop_length`` samples (128 frames at hop 512 and
    22050 Hz: 2.95 s). A signal shorter than one window is zero-padded to one window, and
    ``padded`` says so; otherwise only whole windows are kept.

    Parameters
    ----------
    y : np.ndarray [shape=(n,)]
    n_frames : frames per window
    hop_length : STFT hop in samples
    overlap : fraction of a window shared by consecutive windows, in [0, 1)

    Returns
    -------
    windows : np.ndarray [shape=(n_windows, (n_frames - 1) * hop_length)]
    starts : np.ndarray [shape=(n_windows,)] first sample of each window
    padded : True when ``y`` was shorter than one window
    """
    if n_frames < 2 or hop_length <= 0:
        raise ParameterError(f"n_frames={n_frames} must be >= 2 and hop_length={hop_length} > 0")
    if not 0 <= overlap < 1:
        raise ParameterError(f"overlap={overlap} must be in [0, 1)")
    size = (n_frames - 1) * hop_length
    if y.shape[-1] < size:
        window = np.zeros(size, dtype=y.dtype)
        window[: y.shape[-1]] = y
        return window[np.newaxis], np.zeros(1, dtype=int), True
    step = max(1, int(round(size * (1 - overlap))))
    starts = np.arange(0, y.shape[-1] - size + 1, step)
    return np.stack([y[s : s + size] for s in starts]), starts, False
