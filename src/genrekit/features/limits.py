"""The numbers a feature spec may hold, in a module of its own: model files carry them, and
the torch-free runtime checks them without importing the feature sets (librosa)."""

from __future__ import annotations

import math
import numbers

SAMPLE_RATES = (1000, 192_000)  # Hz: what a feature set may ask audio to be resampled to
MAX_SPEC_SECONDS = 600.0  # the longest chunk, hop or minimum a spec may ask for
# The most samples a spec's minimum length may take (a minute at 48 kHz): a model is loaded by
# running it on that much noise, and a file asking for 600 s at 192 kHz took 13 GB to load.
MAX_MIN_SAMPLES = 60 * 48_000
MIN_HOP_SECONDS = 0.05  # a hop of one sample would score an hour-long song 158 million times
MAX_N_FFT = 2**16  # the longest FFT window of a log-mel spec (3 s at 22050 Hz; a billion took all the memory)
# A feature value this large is no feature: finite, but its square overflows (NaN deep inside a fit).
MAX_FEATURE_VALUE = 1e100


def as_plain_numbers(spec, whole: tuple[str, ...] = (), real: tuple[str, ...] = ()) -> None:
    """Set a frozen spec's numbers as Python's own: numpy scalars (``np.int64(2048)``,
    ``np.float32(3)``), and whole floats where a whole number goes (``44100.0``). The checks
    then read them as numbers, and the spec compares, hashes and writes JSON as one given plain
    numbers. Anything else is left for the checks to name."""
    for name in (*whole, *real):
        value = getattr(spec, name)
        if isinstance(value, bool) or not isinstance(value, numbers.Real):
            continue  # the checks name it
        if name in whole:
            if not float(value).is_integer():
                continue  # 1.5 Hz: the checks name it
            plain = int(value)
        else:
            plain = int(value) if isinstance(value, numbers.Integral) else float(value)
        object.__setattr__(spec, name, plain)


def checked_stft(n_fft, hop_length, **sizes) -> tuple[int, int]:
    """An STFT's window and hop in samples, as Python ints: whole numbers from 1 (numpy's too;
    ``sizes``, such as ``n_mels``, too), a window of at most :data:`MAX_N_FFT` (a billion took all
    the memory), a hop no longer than the window. Else a ParameterError naming them."""
    from genrekit.errors import ParameterError

    sizes = {"n_fft": n_fft, "hop_length": hop_length, **sizes}
    odd = {k: v for k, v in sizes.items() if isinstance(v, bool) or not isinstance(v, numbers.Integral) or v < 1}
    if odd:
        raise ParameterError(", ".join(f"{k}={v!r}" for k, v in odd.items()) + ": expected whole numbers from 1 up")
    if n_fft > MAX_N_FFT:  # a window of minutes: gigabytes of FFT, and no time resolution left
        raise ParameterError(f"n_fft={n_fft}: at most {MAX_N_FFT} samples a window ({MAX_N_FFT / 22050:.1f} s "
                             "at 22050 Hz; music's spectrograms take 512-8192)")
    if hop_length > n_fft:  # the audio between windows would never be analysed
        raise ParameterError(f"hop_length={hop_length} is longer than n_fft={n_fft}: the "
                             f"{hop_length - n_fft} samples between windows would never be analysed")
    return int(n_fft), int(hop_length)


def spec_number_problem(sample_rate, chunk_duration, hop_duration, min_duration) -> str | None:
    """What is wrong with a feature spec's numbers, or None: a sample rate from 1 to 192 kHz,
    and finite seconds: chunks of 0.5-600 s (or None), hops of 0.05-600 s (or None),
    a minimum length of 0-600 s and at most :data:`MAX_MIN_SAMPLES`. Model files carry these
    numbers, so they are hostile input: a huge rate or chunk would allocate without bound, a
    NaN would fail every song."""

    def seconds(value) -> bool:
        return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)

    if not (isinstance(sample_rate, int) and not isinstance(sample_rate, bool)
            and SAMPLE_RATES[0] <= sample_rate <= SAMPLE_RATES[1]):
        return f"sample_rate={sample_rate!r} must be a whole number of Hz, {SAMPLE_RATES[0]}-{SAMPLE_RATES[1]}"
    if chunk_duration is not None and not (seconds(chunk_duration) and 0.5 <= chunk_duration <= MAX_SPEC_SECONDS):
        return f"chunk_duration={chunk_duration!r} must be 0.5-{MAX_SPEC_SECONDS:g} seconds or None"
    if hop_duration is not None and not (seconds(hop_duration) and MIN_HOP_SECONDS <= hop_duration <= MAX_SPEC_SECONDS):
        return f"hop_duration={hop_duration!r} must be {MIN_HOP_SECONDS:g}-{MAX_SPEC_SECONDS:g} seconds or None"
    if not (seconds(min_duration) and 0 <= min_duration <= MAX_SPEC_SECONDS):
        return f"min_duration={min_duration!r} must be 0-{MAX_SPEC_SECONDS:g} seconds"
    if min_duration * sample_rate > MAX_MIN_SAMPLES:
        return (f"min_duration={min_duration!r} at sample_rate={sample_rate} is {min_duration * sample_rate:.0f} "
                f"samples; at most {MAX_MIN_SAMPLES} (a minute at 48 kHz) may be the least a model needs")
    return None


def require_feature_fields(features, where: str) -> None:
    """The feature-set parameters of a model description, where given, of the types a
    ``FeatureSpec`` takes (a bool is no number), and the numbers it may hold
    (:func:`spec_number_problem`); a model file's are hostile input."""
    from genrekit.audio.level import is_level
    from genrekit.errors import ModelError
    from genrekit.untrusted import require

    for key, kind in (("sample_rate", int), ("chunk_duration", (int, float)), ("hop_duration", (int, float)),
                      ("min_duration", (int, float)), ("version", int), ("level_dbfs", (int, float))):
        if features.get(key) is not None:
            require(features, key, kind, f"{where}: features")
    if "sample_rate" in features or "chunk_duration" in features:  # a spec's numbers, as FeatureSpec checks them
        problem = spec_number_problem(features.get("sample_rate", 22050), features.get("chunk_duration"),
                                      features.get("hop_duration"), features.get("min_duration", 3.0))
        if problem:
            raise ModelError(f"{where}: features' {problem}")
    level = features.get("level_dbfs")
    if level is not None and not is_level(level):
        raise ModelError(f"{where}: features' level_dbfs must be an RMS level from -60 to 0 dBFS, found {level!r}")
