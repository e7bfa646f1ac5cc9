"""A network's image inputs for one file, and its chunk probabilities in batches."""

from __future__ import annotations

import os

import numpy as np
import torch
from torch import nn

from genrekit import audio
from genrekit.models.interface import IMAGE_SAMPLE_RATE

IMAGE_SECONDS = 30.0


def image_examples(path: str | os.PathLike, *, seconds: float = IMAGE_SECONDS) -> tuple[np.ndarray, bool]:
    """``(n, 3, 288, 432)`` images of one file: the file itself when it is an image, else
    one rendered image per ``seconds`` of its audio (and whether it was padded)."""
    from genrekit.features.images import audio_images, is_image_path, read_image

    if is_image_path(path):
        return read_image(path)[None], False
    y, sr = audio.load(path, sr=IMAGE_SAMPLE_RATE)
    return audio_images(y, sr, seconds=seconds)


def in_batches(function, X: torch.Tensor, batch: int, advance=lambda n: None) -> torch.Tensor:
    """``function`` on ``batch`` rows of ``X`` at a time without gradients, results on the CPU
    (a whole set at once would hold every layer's activations for every chunk)."""
    parts = []
    with torch.no_grad():
        for start in range(0, len(X), batch):
            parts.append(function(X[start : start + batch]).cpu())
            advance(len(parts[-1]))
    return torch.cat(parts)


def predict_chunks(body: nn.Module, X: torch.Tensor, *, batch: int = 16) -> np.ndarray:
    """Genre probabilities per chunk, [shape=(n, n_classes)]."""
    body.eval()
    return in_batches(lambda x: torch.softmax(body(x), dim=1), X, batch).numpy()
