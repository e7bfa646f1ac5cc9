"""A network's chunk probabilities in batches (its image length, :data:`IMAGE_SECONDS`)."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

IMAGE_SECONDS = 30.0


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
