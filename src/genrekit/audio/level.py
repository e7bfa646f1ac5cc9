"""The level of a signal: its RMS in dBFS, and the signal scaled to a set level.

Pretrained taggers such as musicnn take the level as it comes (their log-mel is
``log10(1 + 10000 x)``), so the same song 10 dB louder, as today's masters are against
GTZAN's clips, can get another genre. A model whose features set ``level_dbfs`` hears every
segment at that level (docs/benchmarks.md, "The level of the audio moves the answer").
"""

from __future__ import annotations

import numbers

import numpy as np

from genrekit.errors import ParameterError

#: The most a quiet signal is raised, so that near-silence (hiss, a fade) stays quiet
#: instead of becoming loud noise.
MAX_GAIN_DB = 30.0


def is_level(value) -> bool:
    """Whether ``value`` is an RMS level a signal may be scaled to: a real number (numpy
    scalars included, bools not) from -60 to 0 dBFS (NaN is not)."""
    return (isinstance(value, numbers.Real) and not isinstance(value, (bool, np.bool_))
            and -60.0 <= float(value) <= 0.0)


def rms_dbfs(y: np.ndarray) -> float:
    """The RMS level of ``y`` in dB relative to full scale (a full-scale square wave is 0;
    digital silence about -240).

    Parameters
    ----------
    y : np.ndarray
        Samples of any shape (every channel counts), full scale at 1.

    Returns
    -------
    float
        ``20 * log10(rms + 1e-12)`` in dBFS, computed in float64.

    Raises
    ------
    ParameterError
        ``y`` is empty, or not float samples.
    """
    y = np.asarray(y)
    if y.size == 0:
        raise ParameterError("y is empty: a level needs at least one sample")
    if not np.issubdtype(y.dtype, np.floating):  # int16 PCM read as +76.8 "dBFS"
        raise ParameterError(f"y: expected float samples, full scale at 1, found {y.dtype} (PCM: divide by its full "
                             "scale, 32768 for int16)")
    return float(20 * np.log10(np.sqrt(np.mean(np.square(y, dtype=np.float64))) + 1e-12))


def at_level(y: np.ndarray, level_dbfs: float | None) -> np.ndarray:
    """:func:`normalise_level` of ``y``, or ``y`` as it is where ``level_dbfs`` is None.

    Parameters
    ----------
    y : np.ndarray [shape=(n,)]
        A mono signal.
    level_dbfs : float or None
        The RMS level wanted, in dBFS (-60 to 0); a quiet signal is raised by at most
        :data:`MAX_GAIN_DB` (30 dB). None leaves ``y`` as it is.

    Returns
    -------
    np.ndarray [shape=(n,)]
        float32 when scaled (samples may exceed 1); where ``level_dbfs`` is None, ``y`` itself,
        not a copy, in its own dtype.

    Raises
    ------
    ParameterError
        ``level_dbfs`` is not a level from -60 to 0 dBFS, or ``y`` is empty.
    """
    return y if level_dbfs is None else normalise_level(y, level_dbfs)


def normalise_level(y: np.ndarray, level_dbfs: float, *, max_gain_db: float = MAX_GAIN_DB) -> np.ndarray:
    """``y`` less its mean (a DC offset), scaled by one gain so that its RMS level is
    ``level_dbfs``, raised by at most ``max_gain_db``. An offset is no sound: left in, it would
    count in the level and be raised with the music, and an offset silence would sound.

    Parameters
    ----------
    y : np.ndarray [shape=(n,)], a mono signal
    level_dbfs : the RMS level wanted, in dBFS (-60 to 0)
    max_gain_db : the largest gain applied to a quiet signal; loud signals are always lowered

    Returns
    -------
    np.ndarray [shape=(n,)], float32 (samples may exceed 1: the features take float audio)
    """
    if not is_level(level_dbfs):
        raise ParameterError(f"level_dbfs={level_dbfs!r}: expected a level from -60 to 0 dBFS")
    y = np.asarray(y, dtype=np.float32)
    y = y - np.float32(np.mean(y, dtype=np.float64)) if y.size else y
    gain_db = min(level_dbfs - rms_dbfs(y), max_gain_db)
    return y * np.float32(10 ** (gain_db / 20))
