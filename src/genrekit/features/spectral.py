"""Spectrogram front ends shared by the feature sets."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass

import librosa
import numpy as np

from genrekit._files import DAMAGED_FILE_ERRORS
from genrekit.audio.io import check_sample_rate, check_signal
from genrekit.errors import FeatureError, ParameterError
from genrekit.features.librosa_kernels import load_librosa_kernels
from genrekit.features.limits import as_plain_numbers, checked_stft
from genrekit.features.numpy_logmel import check_front_end


def log_mel(
    *,
    y: np.ndarray | None = None,
    sr: int = 22050,
    S: np.ndarray | None = None,
    n_fft: int = 2048,
    hop_length: int = 512,
    n_mels: int = 128,
    fmin: float = 0.0,
    fmax: float | None = None,
    top_db: float | None = 80.0,
    pad_mode: str = "constant",
    compression: str = "db",
) -> np.ndarray:
    """Log-scaled mel spectrogram: dB relative to the loudest bin, or ``compression``.

    Parameters
    ----------
    y : np.ndarray [shape=(n,)] audio, or None when ``S`` is given
    sr : sample rate of ``y``
    S : np.ndarray [shape=(1 + n_fft // 2, t)] precomputed magnitude STFT, or None
    n_fft, hop_length : STFT size and hop in samples
    n_mels, fmin, fmax : mel filter bank
    top_db : floor the result this many dB below the peak (None: no floor)
    pad_mode : how the signal is padded for the centred first and last frames ("constant":
        zeros, "reflect")
    compression : "db", or "log10(1+10000x)" (musicnn's); ``top_db`` applies to "db" only

    Returns
    -------
    M : np.ndarray [shape=(n_mels, t)], float32
    """
    if (y is None) == (S is None):
        raise ParameterError("log_mel needs exactly one of y (audio) or S (magnitude STFT)")
    check_sample_rate(sr)  # named as this function names it
    # each number checked as a spec's (n_fft=10**9 took all the memory; fmin above fmax gave zeros)
    spec = LogMelSpec(sample_rate=sr, n_fft=n_fft, hop_length=hop_length, n_mels=n_mels, fmin=fmin, fmax=fmax,
                      top_db=top_db, pad_mode=pad_mode, compression=compression)
    sr, n_fft, hop_length, n_mels = spec.sample_rate, spec.n_fft, spec.hop_length, spec.n_mels
    fmin, fmax, top_db = spec.fmin, spec.fmax, spec.top_db
    if y is not None:
        check_signal(y, sr)
    elif not (isinstance(S, np.ndarray) and S.ndim == 2 and S.shape[0] == 1 + n_fft // 2):
        found = f"shape {S.shape}" if isinstance(S, np.ndarray) else type(S).__name__
        raise ParameterError(f"S: expected a magnitude STFT of shape (1 + n_fft // 2, t) = ({1 + n_fft // 2}, t) for "
                             f"n_fft={n_fft}, found {found}")
    load_librosa_kernels()
    if S is None:
        S = np.abs(librosa.stft(y, n_fft=n_fft, hop_length=hop_length, pad_mode=pad_mode))
    mel = librosa.feature.melspectrogram(S=S**2, sr=sr, n_fft=n_fft, n_mels=n_mels, fmin=fmin, fmax=fmax)
    if compression == "log10(1+10000x)":
        return np.log10(1.0 + 10000.0 * mel).astype(np.float32)
    return librosa.power_to_db(mel, ref=np.max, top_db=top_db).astype(np.float32)


@dataclass(frozen=True)
class LogMelSpec:
    """Parameters of a log-mel spectrogram, stored beside every spectrogram computed with them.

    Parameters
    ----------
    sample_rate : int
        Hz the signal must be at: :meth:`compute` refuses another rate.
    n_fft, hop_length : int
        STFT size and hop, in samples.
    n_mels : int
        Mel bands.
    fmin : float
        Lowest frequency of the mel filter bank, in Hz.
    fmax : float, optional
        Highest frequency of the mel filter bank, in Hz (None: ``sample_rate / 2``).
    top_db : float, optional
        Floor the result this many dB below the peak (None: no floor); ``compression="db"``
        only.
    pad_mode : {'constant', 'reflect'}
        How the signal is padded for the centred first and last frames: zeros, or reflected.
    compression : {'db', 'log10(1+10000x)'}
        dB relative to the loudest bin, or musicnn's ``log10(1 + 10000 x)`` of the mel power.

    Raises
    ------
    ParameterError
        ``pad_mode`` or ``compression`` is not one of these; a size is not a whole number
        from 1 up; ``n_fft`` exceeds :data:`MAX_N_FFT`; ``hop_length`` exceeds ``n_fft`` (audio left out between windows); or
        ``n_mels`` exceeds the FFT's ``n_fft // 2 + 1`` frequency bins; ``sample_rate`` is not a
        whole number of Hz from 1 up; the band ``fmin``-``fmax`` is not inside 0 to half the
        sample rate; ``top_db`` is not a positive number (or None).
    """

    sample_rate: int = 22050
    n_fft: int = 2048
    hop_length: int = 512
    n_mels: int = 128
    fmin: float = 0.0
    fmax: float | None = None
    top_db: float | None = 80.0
    pad_mode: str = "constant"
    compression: str = "db"

    def __post_init__(self):
        check_front_end(self.compression, self.pad_mode)
        as_plain_numbers(self, whole=("sample_rate", "n_fft", "hop_length", "n_mels"), real=("fmin", "fmax", "top_db"))
        checked_stft(self.n_fft, self.hop_length, n_mels=self.n_mels)
        if self.n_mels > self.n_fft // 2 + 1:
            raise ParameterError(f"n_mels={self.n_mels} with n_fft={self.n_fft}: more mel bands than the "
                                 f"{self.n_fft // 2 + 1} frequency bins an FFT of that size gives")
        rate = self.sample_rate
        if isinstance(rate, bool) or not isinstance(rate, int) or rate < 1:
            raise ParameterError(f"sample_rate={rate!r}: expected a positive whole number of Hz")
        # mel bands outside 0..Nyquist are empty: all-zero features, with librosa's warning alone
        top = rate / 2 if self.fmax is None else self.fmax
        if not (isinstance(self.fmin, (int, float)) and 0 <= self.fmin < top <= rate / 2):
            raise ParameterError(f"fmin={self.fmin!r}, fmax={self.fmax!r}: expected 0 <= fmin < fmax <= "
                                 f"sample_rate / 2 = {rate / 2:g} Hz")
        if self.top_db is not None and not (isinstance(self.top_db, (int, float)) and self.top_db > 0):
            raise ParameterError(f"top_db={self.top_db!r}: expected a positive number of dB below the peak, or None")

    def compute(self, y: np.ndarray, sr: int) -> np.ndarray:
        """np.ndarray [shape=(n_mels, 1 + len(y) // hop_length)], float32 (dB, or ``compression``)."""
        if sr != self.sample_rate:
            raise ParameterError(f"signal at {sr} Hz given to a log-mel spec expecting {self.sample_rate} Hz")
        params = asdict(self)
        del params["sample_rate"]
        return log_mel(y=y, sr=sr, **params)

    def to_dict(self) -> dict:
        return asdict(self)

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)

    def save(self, path, M: np.ndarray, *, source: str = "") -> None:
        """``.npz`` with the spectrogram ``S``, these parameters as JSON (no pickle) and, where
        given, ``source``: what identifies the audio it came from (a resumed run compares it)."""
        extra = {"source": np.array(source)} if source else {}
        np.savez_compressed(path, S=M.astype(np.float32), params=np.array(self.to_json()), **extra)

    @classmethod
    def load(cls, path) -> tuple[np.ndarray, "LogMelSpec"]:
        """A spectrogram file of :meth:`save`: ``(S, spec)``.

        Raises
        ------
        FeatureError
            The file is missing, damaged, or not one :meth:`save` wrote (named, with why).
        """
        try:
            with np.load(path, allow_pickle=False) as data:
                S, params = data["S"], json.loads(str(data["params"]))
            if not isinstance(params, dict):
                raise ValueError(f"params are {type(params).__name__}, expected an object")
            spec = cls(**params)
        except ParameterError as exc:  # settings genrekit took before 2026-12-04 (a hop past the window...)
            raise FeatureError(f"{path}: made with settings genrekit no longer takes ({exc}); compute the "
                               "spectrograms again with others") from exc
        except (*DAMAGED_FILE_ERRORS, KeyError, TypeError) as exc:  # a cut, damaged or foreign file
            raise FeatureError(f"{path}: not a log-mel spectrogram file genrekit wrote ({type(exc).__name__}: "
                               f"{exc})") from exc
        if S.ndim != 2 or S.shape[0] != spec.n_mels or not np.issubdtype(S.dtype, np.floating):
            raise FeatureError(f"{path}: expected a float ({spec.n_mels}, frames) spectrogram, found {S.dtype} "
                               f"{S.shape}")
        return S, spec
