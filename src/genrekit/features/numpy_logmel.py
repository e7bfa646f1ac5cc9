"""The networks' log-mel front end in numpy alone, for exported models run without PyTorch.

It computes what :class:`genrekit.models.nets.frontend.LogMelFrontEnd` computes (centred
STFT with a periodic Hann window and zero or reflected padding, power spectrum, Slaney mel
filter bank, dB relative to each example's peak floored ``top_db`` below it, or
``log10(1 + 10000 x)``), batch by batch.

Why not ONNX: onnxruntime's STFT operator takes 17 ms of the 20 ms an fp32 ``edge-cnn``
needs per 7.5 s window on one core (this front end: 3-5 ms), and the mel filter bank is
half of an int8 ``edge-cnn`` file. Why not librosa: the torch-free runtime installs numpy,
soundfile, soxr and onnxruntime only; scipy's faster FFT is used where it is installed.
:func:`mel_filterbank` is checked against ``librosa.filters.mel`` in the tests.
"""

from __future__ import annotations

import numpy as np

from genrekit.errors import ParameterError

try:  # scipy's FFT is about 2.4x numpy's on 2048-point frames; the runtime profile has numpy only
    from scipy.fft import rfft
except ImportError:
    from numpy.fft import rfft


#: How mel power becomes the features: dB relative to the loudest bin, floored ``top_db``
#: below it (the literature's), or ``log10(1 + 10000 * power)`` (musicnn's, no reference level).
COMPRESSIONS = ("db", "log10(1+10000x)")
#: How a signal is padded for its centred first and last frames: zeros, or reflected.
PAD_MODES = ("constant", "reflect")


def check_front_end(compression: str, pad_mode: str) -> None:
    if compression not in COMPRESSIONS:
        raise ParameterError(f"compression={compression!r}: expected one of {', '.join(COMPRESSIONS)}")
    if pad_mode not in PAD_MODES:
        raise ParameterError(f"pad_mode={pad_mode!r}: expected one of {', '.join(PAD_MODES)}")


def _hz_to_mel(frequencies: np.ndarray) -> np.ndarray:
    """Slaney's mel scale: linear below 1 kHz, logarithmic above (librosa's default, htk=False)."""
    f_sp, min_log_hz = 200.0 / 3, 1000.0
    min_log_mel, logstep = min_log_hz / f_sp, np.log(6.4) / 27.0
    frequencies = np.asanyarray(frequencies, dtype=np.float64)
    mels = frequencies / f_sp
    log_part = frequencies >= min_log_hz
    mels[log_part] = min_log_mel + np.log(frequencies[log_part] / min_log_hz) / logstep
    return mels


def _mel_to_hz(mels: np.ndarray) -> np.ndarray:
    f_sp, min_log_hz = 200.0 / 3, 1000.0
    min_log_mel, logstep = min_log_hz / f_sp, np.log(6.4) / 27.0
    mels = np.asanyarray(mels, dtype=np.float64)
    frequencies = f_sp * mels
    log_part = mels >= min_log_mel
    frequencies[log_part] = min_log_hz * np.exp(logstep * (mels[log_part] - min_log_mel))
    return frequencies


def mel_filterbank(sample_rate: int, n_fft: int, n_mels: int, fmin: float = 0.0, fmax: float | None = None) -> np.ndarray:
    """[shape=(n_mels, 1 + n_fft // 2)] triangular filters, Slaney area-normalised."""
    fmax = sample_rate / 2 if fmax is None else fmax
    fft_freqs = np.fft.rfftfreq(n_fft, 1.0 / sample_rate)
    mel_freqs = _mel_to_hz(np.linspace(_hz_to_mel(np.array([fmin]))[0], _hz_to_mel(np.array([fmax]))[0], n_mels + 2))
    widths = np.diff(mel_freqs)
    ramps = mel_freqs[:, None] - fft_freqs[None, :]
    lower = -ramps[:-2] / widths[:-1, None]
    upper = ramps[2:] / widths[1:, None]
    weights = np.maximum(0, np.minimum(lower, upper))
    weights *= (2.0 / (mel_freqs[2:] - mel_freqs[:-2]))[:, None]
    return weights.astype(np.float32)


def periodic_hann(n_fft: int) -> np.ndarray:
    return (0.5 - 0.5 * np.cos(2 * np.pi * np.arange(n_fft) / n_fft)).astype(np.float32)


def mel_power(waveforms: np.ndarray, mel_basis_t: np.ndarray, *, n_fft: int, hop_length: int,
              pad_mode: str = "constant") -> np.ndarray:
    """Mel power spectrogram of centred frames, as librosa frames them: each waveform padded
    by ``n_fft // 2`` on both sides (``pad_mode`` as :func:`numpy.pad`'s: zeros, or
    "reflect"), periodic Hann window, power spectrum, times ``mel_basis_t`` [shape=(1 +
    n_fft // 2, n_mels)]. The FFT runs in the waveforms' precision where scipy is installed
    (numpy's always runs in float64).

    Returns
    -------
    np.ndarray [shape=(..., frames, n_mels)], float32
    """
    half = n_fft // 2
    padded = np.pad(waveforms, [(0, 0)] * (waveforms.ndim - 1) + [(half, half)], mode=pad_mode)
    frames = np.lib.stride_tricks.sliding_window_view(padded, n_fft, axis=-1)[..., ::hop_length, :]
    spectrum = rfft(frames * periodic_hann(n_fft).astype(waveforms.dtype), axis=-1)
    power = (spectrum.real**2 + spectrum.imag**2).astype(np.float32)
    return power @ mel_basis_t


def log_mel_recipe(config: dict, n_frames: int) -> dict:
    """How :class:`NumpyLogMel` makes a network's log-mel input from a window of audio, each
    number as it uses them (``config``: the network's front end, as in its file): written into
    the ONNX metadata (``input_recipe``) of an export without its front end, for a runtime
    without genrekit. ``tests/test_network_export.py`` rebuilds the input from it with librosa."""
    sample_rate, hop = int(config["sample_rate"]), int(config["hop_length"])
    top_db = config.get("top_db")
    if config.get("compression", "db") == "log10(1+10000x)":
        compression = "log10(10000 * mel_power + 1)"
    else:  # relative to each example's own peak: librosa's power_to_db(ref=1.0) is off by up to tens of dB
        compression = ("10 * log10(max(mel_power, 1e-10)), less its maximum over the example's mel bands and frames "
                       "(dB under the example's own peak, librosa's power_to_db(S, ref=np.max, amin=1e-10))"
                       + (f", floored at -{top_db:g}" if top_db is not None else ""))
    return {
        "audio": f"a window of the song: {(n_frames - 1) * hop} samples ((n_frames - 1) * hop_length), mono, at "
                 f"{sample_rate} Hz, float32",
        "log_mel": {"sample_rate": sample_rate, "n_fft": int(config["n_fft"]), "hop_length": hop,
                    "window": "hann, periodic", "center": True, "pad_mode": config.get("pad_mode", "constant"),
                    "power": 2.0, "n_mels": int(config["n_mels"]), "fmin": float(config.get("fmin") or 0.0),
                    "fmax": float(config.get("fmax") or sample_rate / 2), "mel_scale": "slaney",
                    "mel_norm": "slaney", "compression": compression},
        "input": {"shape": ["batch", 1, int(config["n_mels"]), n_frames], "dtype": "float32",
                  "layout": "examples, one channel, mel bands, frames"},
    }


class NumpyLogMel:
    """[shape=(batch, samples)] float waveforms -> [shape=(batch, 1, n_mels, frames)] log-mel.

    ``config``: the network's front-end parameters (``sample_rate``, ``n_fft``,
    ``hop_length``, ``n_mels``, ``fmin``, ``fmax``, ``top_db``, ``pad_mode``,
    ``compression``), as stored in its file; files from before the last two were added
    mean zero padding and dB.
    """

    def __init__(self, config: dict):
        self.n_fft, self.hop_length = int(config["n_fft"]), int(config["hop_length"])
        self.top_db = config.get("top_db")
        self.pad_mode = config.get("pad_mode", "constant")
        self.compression = config.get("compression", "db")
        check_front_end(self.compression, self.pad_mode)
        self.mel_basis = mel_filterbank(int(config["sample_rate"]), self.n_fft, int(config["n_mels"]),
                                        float(config.get("fmin") or 0.0), config.get("fmax"))
        self._mel_basis_t = np.ascontiguousarray(self.mel_basis.T)  # (bins, n_mels): a BLAS product

    def __call__(self, waveforms: np.ndarray) -> np.ndarray:
        waveforms = np.atleast_2d(np.asarray(waveforms, dtype=np.float32))
        mel = mel_power(waveforms, self._mel_basis_t, n_fft=self.n_fft, hop_length=self.hop_length,
                        pad_mode=self.pad_mode).transpose(0, 2, 1)  # (batch, n_mels, frames)
        if self.compression == "log10(1+10000x)":
            return np.log10(1.0 + 10000.0 * mel)[:, None].astype(np.float32)
        db = 10.0 * np.log10(np.maximum(mel, 1e-10))
        db -= db.max(axis=(1, 2), keepdims=True)
        if self.top_db is not None:
            db = np.maximum(db, -float(self.top_db))
        return db[:, None].astype(np.float32)
