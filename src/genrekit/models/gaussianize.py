"""scikit-learn's Yeo-Johnson ``PowerTransformer``, its lambdas found without SciPy's per-call overhead.

``PowerTransformer`` finds each feature's lambda with ``scipy.stats.yeojohnson``, whose
log-likelihood goes through SciPy's ``nan_policy`` machinery on each of the ~20 calls the
optimiser makes: about 14 ms per feature (SciPy 1.17), so 7 s for musicnn's 500 columns,
most of the time of fitting a head on a small library. :class:`YeoJohnson` runs the same
search (SciPy's bounds and ``optimize.fminbound`` with its tolerance, on the same
log-likelihood) with a plain NumPy objective: the same lambdas to the optimiser's tolerance
(tests/test_models.py), about 20 times faster. Everything else is ``PowerTransformer``'s.
"""

from __future__ import annotations

import numpy as np
from scipy import optimize
from sklearn.preprocessing import PowerTransformer

# scipy.stats.yeojohnson_normmax's tolerance (it matches optimize.brent's)
_XTOL = 1.48e-08


def _transform(x: np.ndarray, lmbda: float) -> np.ndarray:
    """The Yeo-Johnson transform of ``x`` (as scipy.stats.yeojohnson with a given lambda)."""
    out = np.empty_like(x)
    positive = x >= 0
    if abs(lmbda) < np.spacing(1.0):
        out[positive] = np.log1p(x[positive])
    else:
        out[positive] = np.expm1(lmbda * np.log1p(x[positive])) / lmbda
    if abs(lmbda - 2) > np.spacing(1.0):
        out[~positive] = -np.expm1((2 - lmbda) * np.log1p(-x[~positive])) / (2 - lmbda)
    else:
        out[~positive] = -np.log1p(-x[~positive])
    return out


def _negative_log_likelihood(lmbda: float, x: np.ndarray, jacobian: float) -> float:
    variance = np.var(_transform(x, lmbda))
    if not np.isfinite(variance) or variance <= 0:
        return np.inf
    return -(-0.5 * len(x) * np.log(variance) + (lmbda - 1) * jacobian)


def yeojohnson_lambda(x: np.ndarray) -> float:
    """The maximum-likelihood Yeo-Johnson lambda of a sample, as
    ``scipy.stats.yeojohnson_normmax(x)``: the same bounds (the widest that keep the
    transformed variance finite) and the same bounded search."""
    x = np.asarray(x)
    dtype = x.dtype if np.issubdtype(x.dtype, np.floating) else np.float64
    x = x.astype(np.float64, copy=False)
    if np.all(x == 0):
        return 1.0
    log1p_max_x = np.log1p(20 * np.max(np.abs(x)))
    log_eps = np.log(np.finfo(dtype).eps)
    lower = (np.log(np.finfo(dtype).tiny) - log_eps) / 2 / log1p_max_x
    upper = (np.log(np.finfo(dtype).max) + log_eps) / 2 / log1p_max_x
    if np.all(x < 0):
        lower, upper = 2 - upper, 2 - lower
    elif np.any(x < 0):
        lower, upper = max(2 - upper, lower), min(2 - lower, upper)
    jacobian = float(np.sum(np.sign(x) * np.log1p(np.abs(x))))
    with np.errstate(over="ignore", invalid="ignore"):
        return float(optimize.fminbound(_negative_log_likelihood, lower, upper, args=(x, jacobian), xtol=_XTOL))


class YeoJohnson(PowerTransformer):
    """``PowerTransformer(method="yeo-johnson")`` with a faster lambda search (see the module)."""

    def _yeo_johnson_optimize(self, x):
        return yeojohnson_lambda(x[~np.isnan(x)])
