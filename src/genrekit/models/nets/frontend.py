"""The log-mel front end as a module: waveform in, log-mel spectrogram out.

It lives inside every network, its parameters saved with the model, so training,
prediction and export compute features the same way. It reproduces
:func:`genrekit.features.log_mel` (librosa): centred STFT with a periodic Hann window and
zero (or reflected) padding, power spectrum, Slaney mel filter bank, then dB relative to
each example's peak, floored ``top_db`` below it (or musicnn's ``log10(1 + 10000 x)``).
"""

from __future__ import annotations

import librosa
import torch
from torch import nn

from genrekit.features.spectral import LogMelSpec


# One definition of the log-mel parameters for the numpy and the torch front ends.
FrontEndConfig = LogMelSpec


class LogMelFrontEnd(nn.Module):
    """[shape=(batch, samples)] float waveform -> [shape=(batch, 1, n_mels, frames)] dB."""

    def __init__(self, config: FrontEndConfig | None = None):
        super().__init__()
        self.config = config or FrontEndConfig()
        c = self.config
        mel = librosa.filters.mel(sr=c.sample_rate, n_fft=c.n_fft, n_mels=c.n_mels, fmin=c.fmin, fmax=c.fmax)
        self.register_buffer("mel_basis", torch.from_numpy(mel).float(), persistent=False)
        self.register_buffer("window", torch.hann_window(c.n_fft, periodic=True), persistent=False)

    def n_frames(self, n_samples: int) -> int:
        return 1 + n_samples // self.config.hop_length

    def forward(self, waveform: torch.Tensor) -> torch.Tensor:
        c = self.config
        spectrum = torch.stft(
            waveform, n_fft=c.n_fft, hop_length=c.hop_length, window=self.window,
            center=True, pad_mode=c.pad_mode, return_complex=True,
        )
        power = spectrum.real.square() + spectrum.imag.square()
        mel = torch.matmul(self.mel_basis, power)
        if c.compression == "log10(1+10000x)":
            return torch.log10(1.0 + 10000.0 * mel).unsqueeze(1)
        db = 10.0 * torch.log10(torch.clamp(mel, min=1e-10))
        db = db - db.amax(dim=(-2, -1), keepdim=True)
        if c.top_db is not None:
            db = torch.clamp(db, min=-c.top_db)
        return db.unsqueeze(1)
