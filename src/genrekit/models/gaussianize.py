"""scikit-learn's Yeo-Johnson ``PowerTransformer``, its lambdas found for every column at once.

``PowerTransformer`` finds each feature's lambda with ``scipy.stats.yeojohnson``, whose
log-likelihood goes through SciPy's ``nan_policy`` machinery on each of the ~30 calls the
optimiser makes: about 14 ms per feature (SciPy 1.17), so 7 s for musicnn's 500 columns,
most of the time of fitting a head on a small library, and a calibrated head fits it once
per inner and outer fold. :class:`YeoJohnson` runs the same search (SciPy's bounds and
``optimize.fminbound``'s bounded Brent steps, with its tolerance, on the same
log-likelihood) on all columns together, one NumPy step for all of them per iteration: the
same lambdas as ``optimize.fminbound`` column by column, bit for bit (tests/test_models.py),
5-30 times faster on musicnn-sized tables (tens to hundreds of rows, 500 columns; one
calibrated head's fit 3-5 times faster, docs/benchmarks.md). Everything else is
``PowerTransformer``'s.
"""

from __future__ import annotations

import hashlib

import numpy as np
from sklearn.preprocessing import PowerTransformer

# scipy.stats.yeojohnson_normmax's tolerance (it matches optimize.brent's)
_XTOL = 1.48e-08
# optimize.fminbound's defaults
_MAXFUN = 500
_SQRT_EPS = np.sqrt(2.2e-16)
_GOLDEN_MEAN = 0.5 * (3.0 - np.sqrt(5.0))


def _negative_log_likelihoods(lmbdas: np.ndarray, log1p_abs: np.ndarray, positive: np.ndarray,
                              jacobians: np.ndarray) -> np.ndarray:
    """Each row's Yeo-Johnson negative log-likelihood at its own lambda (as
    ``scipy.stats.yeojohnson_llf``); ``log1p_abs`` is ``log1p(|x|)``, one row per column of
    the data."""
    lmbdas = lmbdas[:, None]
    # x >= 0: expm1(l * log1p(x)) / l, or log1p(x) at l = 0;
    # x < 0: -expm1((2 - l) * log1p(-x)) / (2 - l), or -log1p(-x) at l = 2
    power = np.where(positive, lmbdas, 2 - lmbdas)
    degenerate = np.abs(power) < np.spacing(1.0)
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        magnitude = np.where(degenerate, log1p_abs, np.expm1(power * log1p_abs) / np.where(degenerate, 1.0, power))
        variance = np.var(np.where(positive, magnitude, -magnitude), axis=1)
        out = -(-0.5 * log1p_abs.shape[1] * np.log(variance) + (lmbdas[:, 0] - 1) * jacobians)
    return np.where(np.isfinite(variance) & (variance > 0), out, np.inf)


def _bounded_brent(function, lower: np.ndarray, upper: np.ndarray) -> np.ndarray:
    """``optimize.fminbound(function_i, lower_i, upper_i, xtol=_XTOL)`` for every i at once:
    SciPy's bounded Brent method step for step, each row stepping until its own bracket
    is within tolerance. ``function(x, rows)`` gives the objective of ``rows`` at ``x``."""
    a, b = lower.astype(np.float64), upper.astype(np.float64)
    fulc = a + _GOLDEN_MEAN * (b - a)
    nfc, xf = fulc.copy(), fulc.copy()
    rat, e = np.zeros_like(a), np.zeros_like(a)
    fx = function(xf, np.arange(len(a)))
    ffulc, fnfc = fx.copy(), fx.copy()
    num = 1
    while num < _MAXFUN:
        xm = 0.5 * (a + b)
        tol1 = _SQRT_EPS * np.abs(xf) + _XTOL / 3.0
        tol2 = 2.0 * tol1
        rows = np.flatnonzero(np.abs(xf - xm) > (tol2 - 0.5 * (b - a)))
        if not len(rows):
            break
        A, B, XF, FX, NFC, FNFC, FULC, FFULC = (v[rows] for v in (a, b, xf, fx, nfc, fnfc, fulc, ffulc))
        XM, TOL1, TOL2, RAT, E = xm[rows], tol1[rows], tol2[rows], rat[rows], e[rows]
        with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
            # a parabolic step where the last steps allow one
            trial = np.abs(E) > TOL1
            r = (XF - NFC) * (FX - FFULC)
            q = (XF - FULC) * (FX - FNFC)
            p = (XF - FULC) * q - (XF - NFC) * r
            q = 2.0 * (q - r)
            p = np.where(q > 0.0, -p, p)
            q = np.abs(q)
            r = E
            E = np.where(trial, RAT, E)
            parabolic = trial & (np.abs(p) < np.abs(0.5 * q * r)) & (p > q * (A - XF)) & (p < q * (B - XF))
            RAT = np.where(parabolic, (p + 0.0) / np.where(parabolic, q, 1.0), RAT)
            x = XF + RAT
            near_bound = parabolic & (((x - A) < TOL2) | ((B - x) < TOL2))
            RAT = np.where(near_bound, TOL1 * (np.sign(XM - XF) + ((XM - XF) == 0)), RAT)
        # a golden-section step elsewhere
        golden = ~parabolic
        E = np.where(golden, np.where(XF >= XM, A - XF, B - XF), E)
        RAT = np.where(golden, _GOLDEN_MEAN * E, RAT)
        x = XF + (np.sign(RAT) + (RAT == 0)) * np.maximum(np.abs(RAT), TOL1)
        fu = function(x, rows)
        num += 1
        better = fu <= FX
        A2 = np.where(better, np.where(x >= XF, XF, A), np.where(x < XF, x, A))
        B2 = np.where(better, np.where(x >= XF, B, XF), np.where(x < XF, B, x))
        second = ~better & ((fu <= FNFC) | (NFC == XF))
        third = ~better & ~second & ((fu <= FFULC) | (FULC == XF) | (FULC == NFC))
        a[rows], b[rows] = A2, B2
        fulc[rows] = np.where(better | second, NFC, np.where(third, x, FULC))
        ffulc[rows] = np.where(better | second, FNFC, np.where(third, fu, FFULC))
        nfc[rows] = np.where(better, XF, np.where(second, x, NFC))
        fnfc[rows] = np.where(better, FX, np.where(second, fu, FNFC))
        xf[rows] = np.where(better, x, XF)
        fx[rows] = np.where(better, fu, FX)
        rat[rows], e[rows] = RAT, E
    return xf


# Columns searched together: 2 MB per float64 work array, about 10 of them, however many
# samples and columns the table has (a 20000 x 100 float32 table's fit peaked at 34 MB, 26 MB
# searched column by column, 134 MB in one block); columns are independent, so blocks change
# no lambda.
BLOCK_ELEMENTS = 1 << 18


def yeojohnson_lambdas(X: np.ndarray, *, block_elements: int = BLOCK_ELEMENTS) -> np.ndarray:
    """The maximum-likelihood Yeo-Johnson lambda of each column of ``X`` (no NaN), as
    ``scipy.stats.yeojohnson_normmax`` of each: the same bounds (the widest that keep the
    transformed variance finite) and the same bounded search, on blocks of columns of about
    ``block_elements`` values at a time."""
    X = np.asarray(X)
    if X.ndim != 2:
        raise ValueError(f"yeojohnson_lambdas expects a 2-D array (samples x columns); got shape {X.shape}")
    if np.isnan(X).any():
        raise ValueError(f"yeojohnson_lambdas: columns {np.flatnonzero(np.isnan(X).any(axis=0))[:5].tolist()} hold NaN; "
                         "search a column's finite values alone")
    dtype = X.dtype if np.issubdtype(X.dtype, np.floating) else np.float64
    step = max(1, block_elements // max(1, X.shape[0]))
    return np.concatenate([_block_lambdas(X[:, start:start + step], dtype) for start in range(0, X.shape[1], step)]
                          or [np.ones(0)])


def _block_lambdas(X: np.ndarray, dtype) -> np.ndarray:
    columns = np.ascontiguousarray(X.T, dtype=np.float64)
    lambdas = np.ones(len(columns))
    search = np.flatnonzero(~np.all(columns == 0, axis=1))  # an all-zero column keeps lambda 1
    if not len(search):
        return lambdas
    columns = columns[search]
    log1p_max_x = np.log1p(20 * np.max(np.abs(columns), axis=1))
    log_eps = np.log(np.finfo(dtype).eps)
    lower = (np.log(np.finfo(dtype).tiny) - log_eps) / 2 / log1p_max_x
    upper = (np.log(np.finfo(dtype).max) + log_eps) / 2 / log1p_max_x
    negative, mixed = np.all(columns < 0, axis=1), np.any(columns < 0, axis=1)
    lower, upper = (np.where(negative, 2 - upper, np.where(mixed, np.maximum(2 - upper, lower), lower)),
                    np.where(negative, 2 - lower, np.where(mixed, np.minimum(2 - lower, upper), upper)))
    if np.any(lower > upper):  # as optimize.fminbound refuses it (values so large no lambda keeps them finite)
        raise ValueError("The lower bound exceeds the upper bound: a column's values are too large for a Yeo-Johnson "
                         f"transform (largest magnitude {float(np.max(np.abs(columns))):.3g}); scale it first")
    positive = columns >= 0
    log1p_abs = np.log1p(np.abs(columns))
    jacobians = np.sum(np.sign(columns) * log1p_abs, axis=1)

    def objective(x, rows):
        return _negative_log_likelihoods(x, log1p_abs[rows], positive[rows], jacobians[rows])

    lambdas[search] = _bounded_brent(objective, lower, upper)
    return lambdas


def yeojohnson_lambda(x: np.ndarray) -> float:
    """The maximum-likelihood Yeo-Johnson lambda of one sample (see :func:`yeojohnson_lambdas`)."""
    return float(yeojohnson_lambdas(np.asarray(x).reshape(-1, 1))[0])


def _column_key(x: np.ndarray) -> tuple[str, int, bytes]:
    return x.dtype.str, len(x), hashlib.blake2b(np.ascontiguousarray(x).tobytes(), digest_size=16).digest()


class YeoJohnson(PowerTransformer):
    """``PowerTransformer(method="yeo-johnson")`` with a faster lambda search (see the module)."""

    def _fit(self, X, y=None, force_transform=False):
        # PowerTransformer asks for one column's lambda at a time; find them all at once
        # first and answer its questions from them, matched by the column's values.
        if self.method != "yeo-johnson":  # set_params(method="box-cox"): PowerTransformer's own search
            return super()._fit(X, y, force_transform)
        checked = self._check_input(X, in_fit=True, check_positive=True)
        whole = ~np.isnan(checked).any(axis=0)
        found = yeojohnson_lambdas(checked[:, whole]) if whole.any() else ()
        self._lambdas_found = {_column_key(column): lmbda for column, lmbda in zip(checked[:, whole].T, found)}
        try:
            return super()._fit(X, y, force_transform)
        finally:
            del self._lambdas_found

    def _yeo_johnson_optimize(self, x):
        x = x[~np.isnan(x)]
        found = getattr(self, "_lambdas_found", {}).get(_column_key(x))
        return found if found is not None else yeojohnson_lambda(x)
