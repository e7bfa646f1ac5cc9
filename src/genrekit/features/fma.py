"""The 518 handcrafted features of the FMA dataset (Defferrard et al., ISMIR 2017).

Eleven librosa features, each summarised over time by seven statistics, named and ordered
as in FMA's published ``features.csv`` (columns sorted by feature, statistic, number), so
that tools read genrekit's table and FMA's alike. Their values are not FMA's, and the two
tables must not be mixed in one model: FMA computed them at each MP3's own rate (mostly
44.1 kHz), its spectral centroid, bandwidth, roll-off and contrast as if that audio were at
22050 Hz; genrekit computes every feature at the spec's rate (22050 Hz by default), in Hz
that mean what they say.
"""

from __future__ import annotations

import librosa
import numpy as np
from scipy import stats

from genrekit.audio.io import check_signal
from genrekit.errors import ParameterError
from genrekit.features.librosa_kernels import load_librosa_kernels

# The lowest sample rate fma518 can be computed at, and why
LOWEST_RATE = 12801
LOWEST_RATE_REASON = ("its spectral contrast's highest band, of 6 octaves from 200 Hz, starts at 6400 Hz, which must "
                      "be under the Nyquist frequency")

FEATURE_SIZES = {
    "chroma_stft": 12,
    "chroma_cqt": 12,
    "chroma_cens": 12,
    "tonnetz": 6,
    "mfcc": 20,
    "rmse": 1,
    "zcr": 1,
    "spectral_centroid": 1,
    "spectral_bandwidth": 1,
    "spectral_contrast": 7,
    "spectral_rolloff": 1,
}
STATISTICS = ("mean", "std", "skew", "kurtosis", "median", "min", "max")

#: FMA's column triples (feature, statistic, number), in FMA's sorted order.
COLUMNS: list[tuple[str, str, str]] = sorted(
    (name, statistic, f"{i + 1:02d}")
    for name, size in FEATURE_SIZES.items()
    for statistic in STATISTICS
    for i in range(size)
)


def summarize(values: np.ndarray) -> dict[str, np.ndarray]:
    """Seven statistics over time of a feature matrix.

    Parameters
    ----------
    values : np.ndarray [shape=(k, t)]

    Returns
    -------
    dict statistic name -> np.ndarray [shape=(k,)]
    """
    values = np.asarray(values, dtype=np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        # Skewness and kurtosis are undefined for a constant row (a silent stretch of a
        # short chunk); FMA's table has NaN there, genrekit uses 0 so models can train.
        return {
            "mean": values.mean(axis=1),
            "std": values.std(axis=1),
            "skew": np.nan_to_num(stats.skew(values, axis=1), nan=0.0),
            "kurtosis": np.nan_to_num(stats.kurtosis(values, axis=1), nan=0.0),
            "median": np.median(values, axis=1),
            "min": values.min(axis=1),
            "max": values.max(axis=1),
        }


def frame_features(*, y: np.ndarray, sr: int, n_fft: int = 2048, hop_length: int = 512) -> dict[str, np.ndarray]:
    """The eleven frame-level features of FMA, from one CQT and one STFT.

    Returns
    -------
    dict feature name -> np.ndarray [shape=(FEATURE_SIZES[name], t)]
    """
    load_librosa_kernels()
    out: dict[str, np.ndarray] = {}
    out["zcr"] = librosa.feature.zero_crossing_rate(y, frame_length=n_fft, hop_length=hop_length)
    cqt = np.abs(librosa.cqt(y, sr=sr, hop_length=hop_length, bins_per_octave=12, n_bins=7 * 12, tuning=None))
    out["chroma_cqt"] = librosa.feature.chroma_cqt(C=cqt, n_chroma=12, n_octaves=7)
    out["chroma_cens"] = librosa.feature.chroma_cens(C=cqt, n_chroma=12, n_octaves=7)
    # As in FMA's reference code, tonnetz is projected from the CENS chroma.
    out["tonnetz"] = librosa.feature.tonnetz(chroma=out["chroma_cens"])
    stft = np.abs(librosa.stft(y, n_fft=n_fft, hop_length=hop_length))
    out["chroma_stft"] = librosa.feature.chroma_stft(S=stft**2, sr=sr, n_chroma=12)
    out["rmse"] = librosa.feature.rms(S=stft, frame_length=n_fft)
    out["spectral_centroid"] = librosa.feature.spectral_centroid(S=stft, sr=sr)
    out["spectral_bandwidth"] = librosa.feature.spectral_bandwidth(S=stft, sr=sr)
    out["spectral_contrast"] = librosa.feature.spectral_contrast(S=stft, sr=sr, n_bands=6)
    out["spectral_rolloff"] = librosa.feature.spectral_rolloff(S=stft, sr=sr)
    mel = librosa.feature.melspectrogram(S=stft**2, sr=sr)
    out["mfcc"] = librosa.feature.mfcc(S=librosa.power_to_db(mel), n_mfcc=20)
    return out


def fma518(*, y: np.ndarray, sr: int) -> np.ndarray:
    """FMA's 518 features of one signal.

    Parameters
    ----------
    y : np.ndarray [shape=(n,)] mono audio
    sr : sample rate

    Returns
    -------
    x : np.ndarray [shape=(518,)], float64, ordered as :data:`COLUMNS` of this module
        (``FeatureSpec("fma518").columns`` names them)

    Raises
    ------
    ParameterError
        ``y`` is not mono float audio, or ``sr`` is below :data:`LOWEST_RATE`.
    """
    check_signal(y, sr)
    if sr < LOWEST_RATE:
        raise ParameterError(f"sr={sr}: fma518 needs at least {LOWEST_RATE} Hz ({LOWEST_RATE_REASON}); resample first")
    summaries = {name: summarize(values) for name, values in frame_features(y=y, sr=sr).items()}
    return np.array([summaries[name][statistic][int(number) - 1] for name, statistic, number in COLUMNS])
