"""Cutting a signal into fixed-length chunks (the ~3 s windows of the literature)."""

from __future__ import annotations

import numpy as np

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
    if chunk_duration <= 0:
        raise ParameterError(f"chunk_duration={chunk_duration} must be > 0 seconds")
    hop_duration = chunk_duration if hop_duration is None else hop_duration
    if hop_duration <= 0:
        raise ParameterError(f"hop_duration={hop_duration} must be > 0 seconds")
    size = int(round(chunk_duration * sr))
    hop = int(round(hop_duration * sr))
    if y.shape[-1] < size:
        return [y], np.zeros(1)
    starts = np.arange(0, y.shape[-1] - size + 1, hop)
    return [y[..., s : s + size] for s in starts], starts / sr
