"""Confidence that means a probability: temperature scaling (Guo et al., ICML 2017)."""

from __future__ import annotations

import numpy as np

from genrekit.errors import ParameterError


def fit_temperature(logits: np.ndarray, y: np.ndarray) -> float:
    """The temperature ``T`` minimising the negative log-likelihood of ``softmax(logits / T)``.

    Parameters
    ----------
    logits : np.ndarray [shape=(n, n_classes)], out-of-fold scores (log-probabilities or logits)
    y : np.ndarray [shape=(n,)], class indices

    Returns
    -------
    T : float in [0.05, 20]; above 1 softens over-confident scores. Not below 1 where every
        score ranks its class first: the likelihood then rises without end as ``T`` falls,
        whatever the model is worth (a small dataset's folds fitted 0.12, and the model called
        songs of their own genre wrong at confidence 1.00)
    """
    from scipy.optimize import minimize_scalar

    logits, y = np.asarray(logits, dtype=np.float64), np.asarray(y)
    if logits.ndim != 2 or len(logits) != len(y) or not len(y):
        raise ParameterError(f"logits of shape {logits.shape} and y of shape {y.shape}: expected (n, k) and (n,), n > 0")
    if not np.isfinite(logits).all():
        raise ParameterError("logits: expected finite scores, found NaN or infinity")
    if not np.issubdtype(y.dtype, np.integer) or y.min() < 0 or y.max() >= logits.shape[1]:
        raise ParameterError(f"y: expected class indices from 0 to {logits.shape[1] - 1}, found {y.dtype} values "
                             f"from {y.min()} to {y.max()}")

    def nll(log_t: float) -> float:
        scaled = logits / np.exp(log_t)
        return float(-(scaled[np.arange(len(y)), y] - np.logaddexp.reduce(scaled, axis=1)).mean())

    lowest = np.log(0.05) if (logits.argmax(axis=1) != y).any() else 0.0  # log T: sharpening needs a wrong score
    return float(np.exp(minimize_scalar(nll, bounds=(lowest, np.log(20.0)), method="bounded").x))
