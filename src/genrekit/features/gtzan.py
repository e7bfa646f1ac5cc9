"""The 57 features of the widely used published GTZAN table (Kaggle ``features_30_sec.csv``).

Mean and variance over frames of chroma, RMS, spectral centroid, bandwidth and roll-off,
zero-crossing rate, the harmonic and percussive waveforms of an HPSS split, 20 MFCCs, and
the tempo. One complex STFT feeds the spectral features, the mel spectrogram (MFCC) and the
harmonic/percussive separation.

The table was computed with librosa < 0.10, whose STFT padded frames by reflection; the
same padding is used here (librosa >= 0.10 pads with zeros), which is what makes the
values match the published ones.
"""

from __future__ import annotations

import librosa
import numpy as np

from genrekit.audio.io import check_signal
from genrekit.features.librosa_kernels import load_librosa_kernels
from genrekit.features.limits import checked_stft

#: Column names of the published table, in its order (without ``filename``, ``length``, ``label``).
COLUMNS: list[str] = [
    *(f"{name}_{stat}" for name in (
        "chroma_stft", "rms", "spectral_centroid", "spectral_bandwidth", "rolloff",
        "zero_crossing_rate", "harmony", "perceptr",
    ) for stat in ("mean", "var")),
    "tempo",
    *(f"mfcc{i}_{stat}" for i in range(1, 21) for stat in ("mean", "var")),
]


PAD_MODE = "reflect"


def gtzan57(*, y: np.ndarray, sr: int, n_fft: int = 2048, hop_length: int = 512) -> np.ndarray:
    """The published GTZAN table's 57 features of one signal.

    Parameters
    ----------
    y : np.ndarray [shape=(n,)] mono audio
    sr : sample rate
    n_fft, hop_length : STFT size and hop in samples (the table's: 2048 and 512)

    Returns
    -------
    x : np.ndarray [shape=(57,)], float64, ordered as :data:`COLUMNS` of this module
        (``FeatureSpec("gtzan57").columns`` names them)
    """
    check_signal(y, sr)
    n_fft, hop_length = checked_stft(n_fft, hop_length)
    load_librosa_kernels()
    D = librosa.stft(y, n_fft=n_fft, hop_length=hop_length, pad_mode=PAD_MODE)
    S = np.abs(D)
    harmonic, percussive = librosa.decompose.hpss(D)
    y_harmonic = librosa.istft(harmonic, hop_length=hop_length, n_fft=n_fft, length=len(y))
    y_percussive = librosa.istft(percussive, hop_length=hop_length, n_fft=n_fft, length=len(y))
    mel_db = librosa.power_to_db(librosa.feature.melspectrogram(S=S**2, sr=sr))
    # The table's tempo is reproduced exactly only from beat_track's own onset envelope
    # (median over mel bands, zero-padded frames); tempo is discrete, and other
    # envelopes flip some clips to another tempo octave.
    onset_envelope = librosa.onset.onset_strength(y=y, sr=sr, hop_length=hop_length, aggregate=np.median)
    tempo, _ = librosa.beat.beat_track(onset_envelope=onset_envelope, sr=sr, hop_length=hop_length)
    frames = {
        "chroma_stft": librosa.feature.chroma_stft(S=S**2, sr=sr),
        "rms": librosa.feature.rms(y=y, frame_length=n_fft, hop_length=hop_length, pad_mode=PAD_MODE),
        "spectral_centroid": librosa.feature.spectral_centroid(S=S, sr=sr),
        "spectral_bandwidth": librosa.feature.spectral_bandwidth(S=S, sr=sr),
        "rolloff": librosa.feature.spectral_rolloff(S=S, sr=sr),
        "zero_crossing_rate": librosa.feature.zero_crossing_rate(y, frame_length=n_fft, hop_length=hop_length),
        "harmony": y_harmonic,
        "perceptr": y_percussive,
    }
    values = []
    for name in ("chroma_stft", "rms", "spectral_centroid", "spectral_bandwidth", "rolloff",
                 "zero_crossing_rate", "harmony", "perceptr"):
        values += [np.mean(frames[name]), np.var(frames[name])]
    values.append(float(np.ravel(tempo)[0]))
    mfcc = librosa.feature.mfcc(S=mel_db, n_mfcc=20)
    for row in mfcc:
        values += [row.mean(), row.var()]
    return np.asarray(values, dtype=np.float64)
