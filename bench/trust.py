"""Issue 17: does the default model generalise, is its confidence a probability, and does it
say "unknown" when it should? Every candidate is scored on the same protocols:

- ``random``: stratified 4-fold CV by track on gtzan-mini (folds share artists);
- ``grouped``: 4-fold CV on gtzan-mini with folds grouped by blocks of two adjacent clip ids
  (GTZAN's adjacent ids are often one artist): a stand-in for artist-grouped folds;
- ``mini->dev``: trained on all of gtzan-mini, tested on gtzan-dev (120 clips of classical,
  jazz and rock, mostly other artists). Choices are made on ``grouped``; this is the check.

Features are each clip's musicnn patches (3 s, MSD and MTT networks: embedding and tags per
patch), computed once and cached in bench/out/trust/. Results: bench/results/trust/*.json.

    python bench/trust.py --features      # cache the patch features (a few minutes)
    python bench/trust.py --candidates    # score every candidate on gtzan-mini's protocols and mini->dev
    python bench/trust.py --combined      # grouped CV on gtzan-mini + gtzan-dev (the shipped default's protocol)
    python bench/trust.py --coverage      # "unknown": accuracy against coverage, non-music, other music
    python bench/trust.py --windows       # the timeline's resolution: 30 s segments against ~6 s and 3 s windows
    python bench/trust.py --nonmusic                   # the music detector on generated non-music alone
    python bench/trust.py --nonmusic --recorded --write-detector  # ... and recorded (bench/recorded.py): the shipped one
    python bench/trust.py --patch-heads   # heads trained on 3 s patches or sub-clips instead of clip means
    python bench/trust.py --levels        # the answer against the level of the audio; a level-normalised recipe
    python bench/trust.py --level -20 --fewer-patches   # issue 20: the shipped estimator on fewer patches per 30 s
    python bench/trust.py --level -20 --calibration   # other ways to fit the shipped estimator's temperature
    python bench/trust.py --level -20 --ensembles     # bagged heads and fitted exponents against the shipped head
    python bench/trust.py --table         # the recorded tables, as in docs/benchmarks.md
    python bench/trust.py --level -20 --combined --coverage --nonmusic --recorded --write-detector
        # the same on audio scaled to -20 dBFS RMS first, as the shipped default hears it:
        # results in <name>-rms-20.json; the detector written records its level
    python bench/trust.py --combined --onnx bench/out/tag_throughput/default-int8.onnx
        # the same protocol on the features of an exported default (issue 20: its int8 export,
        # made by bench/tag_throughput.py --precision): results in combined-<file name>.json
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data"
CACHE = ROOT / "bench" / "out" / "trust"
OUT = ROOT / "bench" / "results" / "trust"
SEED = 0
N_FOLDS = 4


# --level: every clip and signal first scaled to this RMS level (dBFS), as genrekit's recipes
# on the ``musicnn`` features hear it (genrekit.audio.normalise_level); None: as recorded.
AT_LEVEL: float | None = None
_AS_RUN = object()


def _result_name(name: str) -> str:
    return name if AT_LEVEL is None else name.replace(".", f"-rms{AT_LEVEL:g}.", 1)


def _write(name: str, record: dict) -> None:
    name = _result_name(name)
    if AT_LEVEL is not None:
        record = {**record, "level_dbfs": AT_LEVEL, "command": f"{record.get('command', '')} --level {AT_LEVEL:g}"}
    OUT.mkdir(parents=True, exist_ok=True)
    temporary = OUT / f".{name}.tmp"
    temporary.write_text(json.dumps(record, indent=1))
    os.replace(temporary, OUT / name)


# An exported default model (--onnx) whose graph computes the patch features instead of PyTorch.
EXPORTED: Path | None = None


def _patch_features(patches: np.ndarray) -> dict[str, np.ndarray]:
    """Each network's embedding and tag probabilities per patch, from PyTorch or from the
    ``features`` output of the exported default (:data:`EXPORTED`), one pooling row per patch."""
    if EXPORTED is None:
        from genrekit.features.musicnn import embed_patches

        out = {}
        for model, prefix in (("MSD_musicnn", "msd"), ("MTT_musicnn", "mtt")):
            out[f"{prefix}_embedding"], out[f"{prefix}_tags"] = embed_patches(patches, model)
        return out
    session, config = _session(EXPORTED)
    rows = session.run([config["features_output"]], {"patches": patches, "pooling": np.eye(len(patches), dtype=np.float32)})[0]
    return {"msd_embedding": rows[:, :200], "msd_tags": rows[:, 200:250], "mtt_embedding": rows[:, 250:450],
            "mtt_tags": rows[:, 450:500]}


@functools.cache
def _session(path: Path):
    """One onnxruntime session per exported file, for the run."""
    from genrekit.models.interface import open_onnx

    return open_onnx(path, 1)


def clip_features(split: str, level=_AS_RUN) -> dict:
    """``{"ids", "labels", "numbers", "msd_embedding", "msd_tags", "mtt_embedding", "mtt_tags"}``
    per clip of ``split`` (gtzan-mini or gtzan-dev); the patch arrays are lists of [n_patches, d].
    ``level``: each clip first scaled to this RMS level (dBFS); default: ``--level``'s."""
    level = AT_LEVEL if level is _AS_RUN else level
    cache = CACHE / (f"{split}.npz" if level is None else f"{split}-rms{level:g}.npz")
    if cache.exists():
        with np.load(cache, allow_pickle=False) as stored:
            return _unpack(dict(stored))
    from rich.progress import track as progress

    from genrekit import audio
    from genrekit.datasets import load_gtzan
    from genrekit.features.musicnn import log_mel_patches

    dataset = load_gtzan(DATA / split)
    arrays: dict[str, list] = {"msd_embedding": [], "msd_tags": [], "mtt_embedding": [], "mtt_tags": []}
    for track in progress(dataset.tracks, description=f"musicnn patches of {split}"):
        y, sr = audio.load(track.path, sr=16000)
        if level is not None:
            y = audio.normalise_level(y, level)
        for key, value in _patch_features(log_mel_patches(y, sr=sr)).items():
            arrays[key].append(value)
    counts = np.array([len(a) for a in arrays["msd_tags"]])
    packed = {key: np.concatenate(value).astype(np.float32) for key, value in arrays.items()}
    packed.update(counts=counts, ids=np.array([t.track_id for t in dataset.tracks]),
                  labels=np.array([t.label for t in dataset.tracks]))
    CACHE.mkdir(parents=True, exist_ok=True)
    temporary = CACHE / f".{cache.stem}.tmp.npz"
    np.savez(temporary, **packed)
    os.replace(temporary, cache)
    return _unpack(packed)


def signal_features(name: str, signals: dict[str, np.ndarray]) -> dict:
    """As :func:`clip_features`, for 16 kHz ``signals`` (non-music), cached under ``name``
    (computed again when the cached signals are not the same ones, by name and length)."""
    name = name if AT_LEVEL is None else f"{name}-rms{AT_LEVEL:g}"
    cache = CACHE / f"{name}.npz"
    if cache.exists():
        with np.load(cache, allow_pickle=False) as stored:
            packed = dict(stored)
        if "lengths" in packed and ([str(i) for i in packed["ids"]] == [f"{n}.0" for n in signals]
                                    and packed["lengths"].tolist() == [len(y) for y in signals.values()]):
            return _unpack(packed)
    from genrekit.audio import normalise_level
    from genrekit.features.musicnn import log_mel_patches

    arrays: dict[str, list] = {"msd_embedding": [], "msd_tags": [], "mtt_embedding": [], "mtt_tags": []}
    for y in signals.values():
        if AT_LEVEL is not None:
            y = normalise_level(y, AT_LEVEL)
        for key, value in _patch_features(log_mel_patches(y, sr=16000)).items():
            arrays[key].append(value)
    packed = {key: np.concatenate(value).astype(np.float32) for key, value in arrays.items()}
    packed.update(counts=np.array([len(a) for a in arrays["msd_tags"]]), ids=np.array([f"{n}.0" for n in signals]),
                  labels=np.array(["none"] * len(signals)), lengths=np.array([len(y) for y in signals.values()]))
    CACHE.mkdir(parents=True, exist_ok=True)
    temporary = CACHE / f".{name}.tmp.npz"
    np.savez(temporary, **packed)
    os.replace(temporary, cache)
    return _unpack(packed)


def immich_signals() -> dict[str, np.ndarray]:
    """The 28 tracks of immich-memories-music (generated music: 13 electronic, 15 acoustic)."""
    import immich_memories_music

    from genrekit import audio

    paths = sorted(Path(immich_memories_music.tracks_dir()).glob("*/*.opus"))
    return {p.stem: audio.load(p, sr=16000)[0] for p in paths}


def nonmusic_signals(which: str) -> dict[str, np.ndarray]:
    sys.path.insert(0, str(ROOT / "tests"))
    from nonmusic import signals

    return signals(which)


def _unpack(packed: dict) -> dict:
    bounds = np.cumsum(np.concatenate([[0], packed["counts"]]))
    out = {key: [packed[key][a:b] for a, b in zip(bounds[:-1], bounds[1:])]
           for key in ("msd_embedding", "msd_tags", "mtt_embedding", "mtt_tags")}
    out["ids"] = [str(i) for i in packed["ids"]]
    out["labels"] = np.array([str(label) for label in packed["labels"]])
    out["numbers"] = np.array([int(str(i).rsplit(".", 1)[-1]) for i in packed["ids"]])
    return out


# --- protocols ------------------------------------------------------------------------------
def pooled(features: dict, networks: tuple[str, ...] = ("msd",)) -> tuple[np.ndarray, list[str]]:
    """Each clip's patches averaged: ``musicnn-msd`` (and ``musicnn-mtt``) as genrekit computes them."""
    from genrekit.features.musicnn import column_names

    blocks, columns = [], []
    for network in networks:
        blocks.append(np.stack([np.concatenate([e.mean(axis=0), t.mean(axis=0)])
                                for e, t in zip(features[f"{network}_embedding"], features[f"{network}_tags"])]))
        columns += column_names(f"{network.upper()}_musicnn")
    return np.concatenate(blocks, axis=1).astype(np.float64), columns


def folds(labels: np.ndarray, numbers: np.ndarray, protocol: str) -> list[tuple[np.ndarray, np.ndarray]]:
    """``random``: stratified 4-fold; ``grouped``: 4-fold with blocks of two adjacent ids kept together."""
    from sklearn.model_selection import StratifiedGroupKFold, StratifiedKFold

    if protocol == "random":
        return list(StratifiedKFold(N_FOLDS, shuffle=True, random_state=SEED).split(labels, labels))
    groups = np.array([f"{label}:{number // 2}" for label, number in zip(labels, numbers)])
    return list(StratifiedGroupKFold(N_FOLDS, shuffle=True, random_state=SEED).split(labels, labels, groups))


def block_groups(labels: np.ndarray, numbers: np.ndarray) -> np.ndarray:
    return np.array([f"{label}:{number // 2}" for label, number in zip(labels, numbers)])


def softmax(logits: np.ndarray) -> np.ndarray:
    logits = logits - logits.max(axis=1, keepdims=True)
    e = np.exp(logits)
    return e / e.sum(axis=1, keepdims=True)


def expected_calibration_error(P: np.ndarray, y: np.ndarray, bins: int = 15, weights=None) -> float:
    """Top-label ECE with ``bins`` equal-width confidence bins; ``weights``: each row's weight
    (``1 / its genre's count``: every genre counts the same, as on a library of any genre mix)."""
    confidence, predicted = P.max(axis=1), P.argmax(axis=1)
    weights = np.ones(len(y)) if weights is None else np.asarray(weights, dtype=np.float64)
    weights = weights / weights.sum()
    edges = np.linspace(0, 1, bins + 1)
    error = 0.0
    for low, high in zip(edges[:-1], edges[1:]):
        inside = (confidence > low) & (confidence <= high)
        if inside.any():
            w = weights[inside]
            error += w.sum() * abs(np.average(predicted[inside] == y[inside], weights=w)
                                   - np.average(confidence[inside], weights=w))
    return float(error)


def ece_if_calibrated(P: np.ndarray, observed: float, draws: int = 2000, seed: int = SEED) -> dict:
    """The ECE a perfectly calibrated model with these confidences shows on this many clips
    (consistency resampling, Broecker & Smith 2007): each clip's label drawn from its own row
    of ``P``, ``draws`` times. On a few hundred clips a perfect model's binned ECE is far from
    zero, so ``observed`` is read against this band; ``p_at_least_observed`` is the share of
    draws with an ECE at least as large."""
    rng = np.random.default_rng(seed)
    cumulative = np.cumsum(P / P.sum(axis=1, keepdims=True), axis=1)
    simulated = np.array([expected_calibration_error(P, np.minimum((rng.random((len(P), 1)) > cumulative).sum(axis=1), P.shape[1] - 1))
                          for _ in range(draws)])
    return {"draws": draws, "mean": float(simulated.mean()), "p05": float(np.percentile(simulated, 5)),
            "p95": float(np.percentile(simulated, 95)), "p_at_least_observed": float((simulated >= observed).mean())}


class Candidate:
    """A way to get genre log-probabilities for test clips from training clips."""

    def __init__(self, name: str, networks=("msd",), C: float = 1.0, prior_weight: float = 0.0, head: str = "logreg",
                 prior_networks=None, balanced: bool = False):
        self.name, self.networks, self.C, self.prior_weight, self.head = name, networks, C, prior_weight, head
        self.balanced = balanced
        self.prior_networks = prior_networks or networks

    def log_proba(self, X_train, y_train, X_test, columns, labels, groups_train=None) -> np.ndarray:
        import warnings

        from genrekit.models import make_model
        from genrekit.models.tagprior import tag_columns, zero_shot_logits

        mapping = tag_columns(labels, [c if c.split(".")[0] in self.prior_networks else "-" for c in columns])
        logits = np.zeros((len(X_test), len(labels)))
        if self.head == "library":  # the shipped estimator, its temperature fitted inside each training part
            from genrekit.models.tagprior import TagPriorClassifier

            class TagPriorClassifier(TagPriorClassifier):  # the same, with the transform memoised
                _fit_transform = staticmethod(_fitted_transform)

            model = TagPriorClassifier(labels, columns, C=self.C, prior_weight=self.prior_weight, random_state=SEED)
            return model.fit(X_train, y_train, groups=groups_train).predict_log_proba(X_test)
        if self.head == "offset":  # lost: logistic regression with the prior as a fixed offset
            prior_columns = [c if c.split(".")[0] in self.prior_networks else "-" for c in columns]
            model = PriorOffsetLogisticRegression(labels, prior_columns, C=self.C, prior_weight=self.prior_weight)
            return model.fit(X_train, y_train).predict_log_proba(X_test)
        if self.head == "logreg":
            # the shipped pipeline (scaling, Yeo-Johnson, logistic regression); its two transforms
            # do not depend on C, so they are fitted once per training set and shared
            model = make_model("musicnn-head", clf__C=self.C,
                               clf__class_weight="balanced" if self.balanced else None)
            transform = _fitted_transform(X_train)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                clf = model[-1].fit(transform.transform(X_train), y_train)
            P = np.full((len(X_test), len(labels)), 1e-9)
            P[:, clf.classes_] = clf.predict_proba(transform.transform(X_test))
            logits += np.log(P)
        elif self.head == "zero-shot-logreg":  # a 10-feature logistic regression on the prior's scores
            from sklearn.linear_model import LogisticRegression

            model = LogisticRegression(C=self.C, max_iter=5000).fit(zero_shot_logits(X_train, mapping), y_train)
            logits += model.predict_log_proba(zero_shot_logits(X_test, mapping))
        if self.prior_weight:
            logits += self.prior_weight * zero_shot_logits(X_test, mapping)
        return logits - np.logaddexp.reduce(logits, axis=1, keepdims=True)


class PriorOffsetLogisticRegression:
    """An alternative that lost: logits ``prior_weight * Z + T(X) @ W + b``, ``W`` with an L2
    penalty (``C`` as in scikit-learn), so the clips only correct the zero-shot prior. Its
    learned biases and weights follow gtzan-mini's 8 rock clips and undo the prior's rock."""

    def __init__(self, labels, columns, *, C: float, prior_weight: float):
        self.labels, self.columns, self.C, self.prior_weight = labels, columns, C, prior_weight

    def fit(self, X, y):
        from scipy.optimize import minimize

        from genrekit.models.tagprior import tag_columns, zero_shot_logits

        self.mapping = tag_columns(self.labels, self.columns)
        self.transform = _fitted_transform(X)
        features = self.transform.transform(X)
        offset = self.prior_weight * zero_shot_logits(X, self.mapping)
        d, k = features.shape[1], len(self.labels)
        onehot = np.eye(k)[y]

        def loss(theta):
            W, b = theta[:d * k].reshape(d, k), theta[d * k:]
            logits = features @ W + b + offset
            log_p = logits - np.logaddexp.reduce(logits, axis=1, keepdims=True)
            residual = np.exp(log_p) - onehot
            value = -(onehot * log_p).sum() * self.C + 0.5 * (W ** 2).sum()
            return value, np.concatenate([(self.C * features.T @ residual + W).ravel(), self.C * residual.sum(axis=0)])

        theta = minimize(loss, np.zeros(d * k + k), jac=True, method="L-BFGS-B", options={"maxiter": 2000}).x
        self.W, self.b = theta[:d * k].reshape(d, k), theta[d * k:]
        return self

    def predict_log_proba(self, X):
        from genrekit.models.tagprior import zero_shot_logits

        logits = self.transform.transform(X) @ self.W + self.b + self.prior_weight * zero_shot_logits(X, self.mapping)
        return logits - np.logaddexp.reduce(logits, axis=1, keepdims=True)


_TRANSFORMS: dict = {}


def _fitted_transform(X_train: np.ndarray):
    """make_model's scaling + Yeo-Johnson steps fitted on ``X_train`` (memoised by content)."""
    import hashlib

    from sklearn.pipeline import Pipeline

    from genrekit.models import make_model

    key = hashlib.sha256(np.ascontiguousarray(X_train).tobytes()).hexdigest()
    if key not in _TRANSFORMS:
        _TRANSFORMS[key] = Pipeline(make_model("musicnn-head").steps[:-1]).fit(X_train)
    return _TRANSFORMS[key]


def columns_of(columns: list[str], networks) -> np.ndarray:
    return np.array([c.split(".")[0] in networks for c in columns])


def fit_temperature(log_p: np.ndarray, y: np.ndarray) -> float:
    """The temperature minimising the negative log-likelihood of ``softmax(log_p / T)``."""
    from scipy.optimize import minimize_scalar

    def nll(log_t):
        scaled = log_p / np.exp(log_t)
        scaled = scaled - np.logaddexp.reduce(scaled, axis=1, keepdims=True)
        return -scaled[np.arange(len(y)), y].mean()

    return float(np.exp(minimize_scalar(nll, bounds=(-3, 3), method="bounded").x))


def cross_fitted_calibration(log_p: np.ndarray, y: np.ndarray, splits) -> np.ndarray:
    """Each fold's out-of-fold log-probabilities divided by a temperature fitted on the other
    folds' out-of-fold predictions: no clip's label sets the temperature it is scored with.
    (A temperature from CV nested inside each training part fails here: grouped inner folds
    of gtzan-mini's 8-clip genres hold out a genre's every training clip.)"""
    calibrated = np.zeros_like(log_p)
    for _, test in splits:
        rest = np.setdiff1d(np.arange(len(y)), test)
        scaled = log_p[test] / fit_temperature(log_p[rest], y[rest])
        calibrated[test] = scaled - np.logaddexp.reduce(scaled, axis=1, keepdims=True)
    return calibrated


def out_of_fold(candidate: Candidate, X, y, columns, labels, splits, groups=None) -> np.ndarray:
    keep = columns_of(columns, candidate.networks)
    kept = [c for c, k in zip(columns, keep) if k]
    log_p = np.zeros((len(y), len(labels)))
    for train, test in splits:
        log_p[test] = candidate.log_proba(X[train][:, keep], y[train], X[test][:, keep], kept, labels,
                                          None if groups is None else groups[train])
    return log_p


def scores(log_p: np.ndarray, y: np.ndarray, labels: list[str]) -> dict:
    from sklearn.metrics import balanced_accuracy_score

    predicted = log_p.argmax(axis=1)
    present = sorted(set(y.tolist()))
    return {"accuracy": float((predicted == y).mean()),
            "balanced_accuracy": float(balanced_accuracy_score(y, predicted)),
            "nll": float(-log_p[np.arange(len(y)), y].mean()),
            "ece": expected_calibration_error(np.exp(log_p), y),
            "ece_class_balanced": expected_calibration_error(np.exp(log_p), y, weights=1.0 / np.bincount(y)[y]),
            "recall": {labels[g]: float((predicted[y == g] == g).mean()) for g in present},
            # calibration by genre named: how often, at what mean confidence, how often right
            "by_predicted": {labels[g]: {"named": int((predicted == g).sum()),
                                         "mean_confidence": float(np.exp(log_p.max(axis=1))[predicted == g].mean()),
                                         "precision": float((y[predicted == g] == g).mean())}
                             for g in sorted(set(predicted.tolist()))}}


CANDIDATES = [
    Candidate("head (old default: logreg C=1, msd)"),
    Candidate("head C=0.1", C=0.1),
    Candidate("head C=0.01", C=0.01),
    Candidate("head msd+mtt", networks=("msd", "mtt")),
    Candidate("zero-shot (tags only, no training)", networks=("msd", "mtt"), head="none", prior_weight=1.0),
    Candidate("logreg on the 10 zero-shot scores", networks=("msd", "mtt"), head="zero-shot-logreg"),
    Candidate("head x prior w=0.5", networks=("msd", "mtt"), prior_weight=0.5),
    Candidate("head x prior w=1", networks=("msd", "mtt"), prior_weight=1.0),
    Candidate("head x prior w=2", networks=("msd", "mtt"), prior_weight=2.0),
    Candidate("head C=0.1 x prior w=1", networks=("msd", "mtt"), C=0.1, prior_weight=1.0),
    Candidate("head x MSD-only prior w=1", networks=("msd",), prior_weight=1.0),
    Candidate("head x MSD-only prior w=2", networks=("msd",), prior_weight=2.0),
    Candidate("prior-offset logreg C=0.01, msd+mtt", networks=("msd", "mtt"), head="offset", C=0.01, prior_weight=1.0),
    Candidate("prior-offset logreg C=0.1, msd+mtt", networks=("msd", "mtt"), head="offset", C=0.1, prior_weight=1.0),
    Candidate("prior-offset logreg C=1, msd+mtt", networks=("msd", "mtt"), head="offset", C=1.0, prior_weight=1.0),
    Candidate("prior-offset logreg C=0.01, msd", networks=("msd",), head="offset", C=0.01, prior_weight=1.0),
    Candidate("prior-offset logreg C=0.1, msd", networks=("msd",), head="offset", C=0.1, prior_weight=1.0),
    Candidate("musicnn-prior (the shipped estimator)", networks=("msd", "mtt"), head="library", prior_weight=1.0),
]


COMBINED = [
    Candidate("head, balanced", balanced=True),
    Candidate("head, balanced, msd+mtt", networks=("msd", "mtt"), balanced=True),
    Candidate("head, balanced x prior w=0.5", networks=("msd", "mtt"), balanced=True, prior_weight=0.5),
    Candidate("head, balanced x prior w=1", networks=("msd", "mtt"), balanced=True, prior_weight=1.0),
    Candidate("head, balanced x prior w=2", networks=("msd", "mtt"), balanced=True, prior_weight=2.0),
    Candidate("zero-shot (tags only, no training)", networks=("msd", "mtt"), head="none", prior_weight=1.0),
    Candidate("head (old default's recipe: msd, C=1, unbalanced)"),
    Candidate("musicnn-prior (the shipped estimator)", networks=("msd", "mtt"), head="library", prior_weight=1.0),
]


class PatchCandidate:
    """The shipped estimator's recipe (scaling + Yeo-Johnson + class-balanced logistic
    regression, C=1, times the zero-shot prior of the clip's mean tags with weight 1) with its
    head trained on more, shorter rows than one mean per clip: each 3 s patch (``patches``;
    a clip is then scored by the mean of its patches' log-probabilities) or the mean of every
    run of ``run`` consecutive patches (``runs``; a clip is scored on its whole mean, as the
    shipped estimator is). Every clip weighs the same in the fit, whatever its row count."""

    def __init__(self, name: str, rows: str, run: int = 3, C: float = 1.0, prior_weight: float = 1.0):
        self.name, self.rows, self.run, self.C, self.prior_weight = name, rows, run, C, prior_weight

    def _rows(self, patches: list[np.ndarray]) -> list[np.ndarray]:
        if self.rows == "patches":
            return patches
        return [np.stack([p[i:i + self.run].mean(axis=0) for i in range(max(1, len(p) - self.run + 1))])
                for p in patches]

    def log_proba(self, patches_train, y_train, patches_test, columns, labels) -> np.ndarray:
        import warnings

        from sklearn.linear_model import LogisticRegression

        from genrekit.models.tagprior import tag_columns, zero_shot_logits

        rows = self._rows(patches_train)
        X = np.concatenate(rows)
        y = np.concatenate([np.full(len(r), label) for r, label in zip(rows, y_train)])
        per_class = np.bincount(y_train, minlength=len(labels))
        weight = np.concatenate([np.full(len(r), len(y_train) / (len(labels) * per_class[label] * len(r)))
                                 for r, label in zip(rows, y_train)])
        transform = _fitted_transform(X)
        head = LogisticRegression(C=self.C, max_iter=5000, random_state=SEED)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            head.fit(transform.transform(X), y, sample_weight=weight * len(y_train) / weight.sum())
        logits = np.zeros((len(patches_test), len(labels)))
        for i, p in enumerate(patches_test):
            test_rows = p if self.rows == "patches" else p.mean(axis=0, keepdims=True)
            P = np.full((len(test_rows), len(labels)), 1e-9)
            P[:, head.classes_] = np.maximum(head.predict_proba(transform.transform(test_rows)), 1e-9)
            logits[i] = np.log(P).mean(axis=0)
        mapping = tag_columns(labels, columns)
        logits += self.prior_weight * zero_shot_logits(np.stack([p.mean(axis=0) for p in patches_test]), mapping)
        return logits - np.logaddexp.reduce(logits, axis=1, keepdims=True)


PATCH_CANDIDATES = [
    PatchCandidate("head on 3 s patches x prior w=1 (log-mean over patches)", "patches"),
    PatchCandidate("head on 9 s sub-clips (runs of 3 patches) x prior w=1", "runs", run=3),
    PatchCandidate("head on 15 s sub-clips (runs of 5 patches) x prior w=1", "runs", run=5),
]


def patch_rows(features: dict) -> list[np.ndarray]:
    """Each clip's patches as rows with the columns of :func:`pooled` on both taggers."""
    return [np.concatenate([me, mt, te, tt], axis=1).astype(np.float64) for me, mt, te, tt in
            zip(features["msd_embedding"], features["msd_tags"], features["mtt_embedding"], features["mtt_tags"])]


def run_patch_heads() -> dict:
    """:data:`PATCH_CANDIDATES` on every protocol: gtzan-mini's random and grouped folds,
    mini->dev, and the 200-clip grouped protocol of the shipped default; each next to the
    shipped estimator's recorded figures. Calibrated scores use the cross-fitted temperature."""
    mini, dev = clip_features("gtzan-mini"), clip_features("gtzan-dev")
    labels = sorted(set(mini["labels"].tolist()))
    columns = pooled(mini, ("msd", "mtt"))[1]
    P_mini, P_dev = patch_rows(mini), patch_rows(dev)
    y_mini = np.array([labels.index(label) for label in mini["labels"]])
    y_dev = np.array([labels.index(label) for label in dev["labels"]])
    _, y_all, _, _, _, combined_splits = combined_protocol()
    P_all = P_mini + P_dev
    rows = []
    for candidate in PATCH_CANDIDATES:
        row = {"candidate": candidate.name}

        def oof(P, y, splits):
            log_p = np.zeros((len(y), len(labels)))
            for train, test in splits:
                log_p[test] = candidate.log_proba([P[i] for i in train], y[train], [P[i] for i in test], columns,
                                                  labels)
            return log_p

        for protocol in ("random", "grouped"):
            splits = folds(mini["labels"], mini["numbers"], protocol)
            log_p = oof(P_mini, y_mini, splits)
            row[protocol] = scores(log_p, y_mini, labels)
            if protocol == "grouped":
                row["grouped_calibrated"] = scores(cross_fitted_calibration(log_p, y_mini, splits), y_mini, labels)
                row["temperature_all"] = fit_temperature(log_p, y_mini)
        log_p = candidate.log_proba(P_mini, y_mini, P_dev, columns, labels)
        row["mini->dev"] = scores(log_p, y_dev, labels)
        scaled = log_p / row["temperature_all"]
        row["mini->dev_calibrated"] = scores(scaled - np.logaddexp.reduce(scaled, axis=1, keepdims=True), y_dev, labels)
        log_p = oof(P_all, y_all, combined_splits)
        row["combined"] = scores(log_p, y_all, labels)
        row["combined_calibrated"] = scores(cross_fitted_calibration(log_p, y_all, combined_splits), y_all, labels)
        rows.append(row)
        c = row["combined"]
        print(_line(row) + f" {c['accuracy']:.3f} | {c['balanced_accuracy']:.3f} | "
              f"{c['ece']:.3f} -> {row['combined_calibrated']['ece']:.3f} |", flush=True)
    record = {"date": time.strftime("%Y-%m-%d"), "machine": platform.processor() or platform.machine(),
              "command": "python bench/trust.py --patch-heads", "rows": rows,
              "rule": "decided before the run: a patch head replaces the shipped head only if it is ahead of the "
                      "shipped estimator in grouped balanced accuracy on gtzan-mini and on gtzan-mini + gtzan-dev, "
                      "and loses no classical or jazz clip of gtzan-dev against it (mini->dev)"}
    _write("patch_heads.json", record)
    return record


LEVEL = -20.0  # dBFS RMS: the normalised candidate's level, fixed before the run (GTZAN's clips sit near it)
GAINS = (-18.0, -12.0, -6.0, 6.0, 12.0)  # dB, applied to the gtzan-dev clips of the level sweep


def run_levels() -> dict:
    """How much the level of the audio moves the answer, and whether normalising it costs accuracy.

    1. Sweep: the shipped recipe trained on gtzan-mini predicts every third gtzan-dev clip
       (40, none trained on) played ``GAINS`` louder or quieter, without clipping (float
       audio); accuracy and agreement with its own answer at the clip's level.
    2. The same recipe on features of clips first scaled to ``LEVEL`` dBFS RMS, on every
       protocol: its answers are then the same at any gain, by construction.
    """
    from genrekit import audio
    from genrekit.datasets import load_gtzan
    from genrekit.features.musicnn import log_mel_patches

    shipped = next(c for c in CANDIDATES if c.head == "library")
    mini, dev = clip_features("gtzan-mini", None), clip_features("gtzan-dev", None)
    labels = sorted(set(mini["labels"].tolist()))
    X_mini, columns = pooled(mini, ("msd", "mtt"))
    y_mini = np.array([labels.index(label) for label in mini["labels"]])
    groups = block_groups(mini["labels"], mini["numbers"])
    tracks = load_gtzan(DATA / "gtzan-dev").tracks[::3]
    rows = {0.0: [], **{g: [] for g in GAINS}}
    levels, truth = [], []
    for track in tracks:
        y, sr = audio.load(track.path, sr=16000)
        levels.append(audio.rms_dbfs(y))
        truth.append(labels.index(track.label))
        for gain in rows:
            f = _patch_features(log_mel_patches(y * np.float32(10 ** (gain / 20)), sr=sr))
            rows[gain].append(np.concatenate([f["msd_embedding"].mean(0), f["msd_tags"].mean(0),
                                              f["mtt_embedding"].mean(0), f["mtt_tags"].mean(0)]))
    truth = np.array(truth)
    base = None
    sweep = []
    for gain in sorted(rows):
        predicted = shipped.log_proba(X_mini, y_mini, np.stack(rows[gain]).astype(np.float64), columns, labels,
                                      groups).argmax(axis=1)
        if gain == 0.0:
            base = predicted
        sweep.append({"gain_db": gain, "accuracy": float((predicted == truth).mean()), "predicted": predicted})
    for row in sweep:
        row["same_as_0db"] = float((row.pop("predicted") == base).mean())
        print(f"| {row['gain_db']:+.0f} dB | {row['accuracy']:.3f} | {row['same_as_0db']:.3f} |", flush=True)

    normalised = {}
    mini_n, dev_n = clip_features("gtzan-mini", LEVEL), clip_features("gtzan-dev", LEVEL)
    X_mini_n, _ = pooled(mini_n, ("msd", "mtt"))
    X_dev_n, _ = pooled(dev_n, ("msd", "mtt"))
    y_dev = np.array([labels.index(label) for label in dev["labels"]])
    X_dev, _ = pooled(dev, ("msd", "mtt"))
    for name, (Xm, Xd) in {"as shipped": (X_mini, X_dev), f"normalised to {LEVEL:g} dBFS": (X_mini_n, X_dev_n)}.items():
        row = {}
        for protocol in ("random", "grouped"):
            splits = folds(mini["labels"], mini["numbers"], protocol)
            row[protocol] = scores(out_of_fold(shipped, Xm, y_mini, columns, labels, splits,
                                               groups if protocol == "grouped" else None), y_mini, labels)
        row["mini->dev"] = scores(shipped.log_proba(Xm, y_mini, Xd, columns, labels, groups), y_dev, labels)
        X_all = np.concatenate([Xm, Xd])
        _, y_all, _, _, groups_all, splits_all = combined_protocol()
        row["combined"] = scores(out_of_fold(shipped, X_all, y_all, columns, labels, splits_all, groups_all),
                                 y_all, labels)
        normalised[name] = row
        g, d, c = row["grouped"], row["mini->dev"], row["combined"]
        print(f"| {name} | {row['random']['accuracy']:.3f} | {g['accuracy']:.3f} | {d['accuracy']:.3f} | "
              f"{d['recall']['classical']:.2f} / {d['recall']['jazz']:.2f} / {d['recall']['rock']:.2f} | "
              f"{c['accuracy']:.3f} | {c['balanced_accuracy']:.3f} |", flush=True)
    record = {"date": time.strftime("%Y-%m-%d"), "machine": platform.processor() or platform.machine(),
              "command": "python bench/trust.py --levels", "level_dbfs": LEVEL,
              "dev_clip_rms_dbfs": {"min": min(levels), "median": float(np.median(levels)), "max": max(levels)},
              "sweep": sweep, "protocols": normalised}
    _write("levels.json", record)
    return record


def combined_protocol():
    """gtzan-mini + gtzan-dev pooled on both taggers, with the grouped folds of the shipped
    default's protocol: ``(X, y, columns, labels, groups, splits)``."""
    from sklearn.model_selection import StratifiedGroupKFold

    mini, dev = clip_features("gtzan-mini"), clip_features("gtzan-dev")
    labels = sorted(set(mini["labels"].tolist()))
    X = np.concatenate([pooled(mini, ("msd", "mtt"))[0], pooled(dev, ("msd", "mtt"))[0]])
    columns = pooled(mini, ("msd", "mtt"))[1]
    names = np.concatenate([mini["labels"], dev["labels"]])
    numbers = np.concatenate([mini["numbers"], dev["numbers"]])
    y = np.array([labels.index(label) for label in names])
    groups = np.array([f"{label}:{number // 4}" for label, number in zip(names, numbers)])
    splits = list(StratifiedGroupKFold(N_FOLDS, shuffle=True, random_state=SEED).split(X, y, groups))
    return X, y, columns, labels, groups, splits


def run_combined() -> dict:
    """Grouped 4-fold CV on gtzan-mini + gtzan-dev (blocks of four adjacent ids), class-balanced
    heads: the protocol for a default trained on both, as the shipped one is."""
    X, y, columns, labels, groups, splits = combined_protocol()
    rows = []
    for candidate in COMBINED:
        log_p = out_of_fold(candidate, X, y, columns, labels, splits, groups)
        calibrated = cross_fitted_calibration(log_p, y, splits)
        row = {"candidate": candidate.name, "grouped": scores(log_p, y, labels),
               "grouped_calibrated": scores(calibrated, y, labels), "temperature_all": fit_temperature(log_p, y)}
        for protocol, scored in (("grouped", log_p), ("grouped_calibrated", calibrated)):
            row[protocol]["ece_if_calibrated"] = ece_if_calibrated(np.exp(scored), row[protocol]["ece"])
        rows.append(row)
        g, c = row["grouped"], row["grouped_calibrated"]
        print(_combined_line(row), flush=True)
    record = {"date": time.strftime("%Y-%m-%d"), "machine": platform.processor() or platform.machine(),
              "command": "python bench/trust.py --combined", "protocol": "grouped 4-fold CV on gtzan-mini + gtzan-dev, "
              "groups: blocks of 4 adjacent ids per genre (StratifiedGroupKFold, seed 0). 'grouped': as the candidate "
              "predicts (the shipped estimator with the temperature it fits inside each training part); "
              "'grouped_calibrated': each fold's scores divided by a temperature fitted on the other folds' "
              "out-of-fold predictions", "rows": rows}
    if EXPORTED is not None:
        record.update(command=f"python bench/trust.py --combined --onnx {EXPORTED}",
                      features=f"the features output of {EXPORTED.name}, one pooling row per patch")
    _write("combined.json" if EXPORTED is None else f"combined-{EXPORTED.stem}.json", record)
    return record


class _CalibrationVariant:
    """The shipped estimator with its temperature fitted another way, for run_calibration."""

    REPEATS = 5  # inner CVs pooled by "repeated": fixed before the run

    def __init__(self, kind: str):
        self.kind = kind

    def log_proba(self, X_train, y_train, X_test, labels, columns, groups_train) -> np.ndarray:
        from sklearn.model_selection import StratifiedGroupKFold

        from genrekit.models.tagprior import TagPriorClassifier

        class Estimator(TagPriorClassifier):  # the shipped estimator, its transform memoised
            _fit_transform = staticmethod(_fitted_transform)

        model = Estimator(labels, columns, random_state=SEED).fit(X_train, y_train, groups=groups_train)
        if self.kind == "shipped":
            return model.predict_log_proba(X_test)
        seeds = range(self.REPEATS) if self.kind == "repeated" else (SEED,)
        pooled, scored, heads = [], [], []
        per_genre = max(len(np.unique(groups_train[y_train == g])) for g in np.unique(y_train))
        for seed in seeds:  # the estimator's own inner folds (TagPriorClassifier._out_of_fold), heads kept
            folds = StratifiedGroupKFold(int(min(4, per_genre)), shuffle=True, random_state=seed)
            for train, test in folds.split(X_train, y_train, groups_train):
                head = model._fit_head(X_train[train], y_train[train])
                heads.append(head)
                pooled.append((test, model._logits(X_train[test], *head)))
                scored.append(test[np.isin(y_train[test], y_train[train])])
        logits = np.concatenate([z[np.isin(rows, keep)] for (rows, z), keep in zip(pooled, scored)])
        temperature = fit_temperature(logits, np.concatenate([y_train[keep] for keep in scored]))
        if self.kind == "repeated":  # the head fitted on the whole training part, this temperature
            z = model._logits(X_test, model.transform_, model.head_) / temperature
            return z - np.logaddexp.reduce(z, axis=1, keepdims=True)
        # "ensemble": the inner heads themselves predict, their calibrated probabilities averaged
        # (scikit-learn's CalibratedClassifierCV with ensemble=True); a genre a head never saw
        # gets no probability from it
        members = [model._logits(X_test, *head) / temperature for head in heads]
        members = [z - np.logaddexp.reduce(z, axis=1, keepdims=True) for z in members]
        return np.log(np.mean(np.exp(members), axis=0))


CALIBRATIONS = {
    "shipped: head refitted on the training part, temperature from one inner 4-fold CV": "shipped",
    f"temperature from {_CalibrationVariant.REPEATS} inner CVs pooled (seeds 0-{_CalibrationVariant.REPEATS - 1})": "repeated",
    "ensemble of the inner CV's heads, mean probability (CalibratedClassifierCV ensemble=True)": "ensemble",
}


def run_calibration() -> dict:
    """Other ways to fit the shipped estimator's temperature, on the 200-clip grouped protocol:
    ECE as the estimator predicts, then with a temperature cross-fitted on the other folds."""
    X, y, columns, labels, groups, splits = combined_protocol()
    rows = []
    for name, kind in CALIBRATIONS.items():
        variant = _CalibrationVariant(kind)
        log_p = np.zeros((len(y), len(labels)))
        for train, test in splits:
            log_p[test] = variant.log_proba(X[train], y[train], X[test], labels, columns, groups[train])
        calibrated = cross_fitted_calibration(log_p, y, splits)
        row = {"candidate": name, "grouped": scores(log_p, y, labels), "grouped_calibrated": scores(calibrated, y, labels),
               "temperature_all": fit_temperature(log_p, y)}
        for protocol, scored in (("grouped", log_p), ("grouped_calibrated", calibrated)):
            row[protocol]["ece_if_calibrated"] = ece_if_calibrated(np.exp(scored), row[protocol]["ece"])
        rows.append(row)
        print(_combined_line(row) + f" {row['grouped']['nll']:.3f} |", flush=True)
    record = {"date": time.strftime("%Y-%m-%d"), "machine": platform.processor() or platform.machine(),
              "command": "python bench/trust.py --calibration", "protocol": "as combined.json: grouped 4-fold CV on "
              "gtzan-mini + gtzan-dev, blocks of 4 adjacent ids; 'grouped': as the variant predicts; "
              "'grouped_calibrated': each fold's scores divided by a temperature fitted on the other folds' "
              "out-of-fold predictions", "rows": rows}
    _write("calibration.json", record)
    return record


ENSEMBLE_RULE = (
    "written 2026-12-03 before the run, after one scratch look at the 200-clip grouped protocol (pipelines "
    "bagged on a group bootstrap, B=10, with the single head's temperature: accuracy 0.895, balanced 0.821, "
    "NLL 0.358). A variant replaces the shipped head only if, against the shipped estimator with the same seed: "
    "on the 200-clip grouped protocol its NLL is lower and its balanced accuracy not lower; on gtzan-mini's random "
    "and grouped folds its balanced accuracy is not lower by more than one clip (0.0125); trained on gtzan-mini, "
    "its gtzan-dev accuracy is not lower, its classical and jazz recall not lower and its rock recall at least "
    "0.5; and it passes with seeds 0 and 1 alike. ECE is reported whatever it is.")


def _ensemble_estimator(kind: str, members: int):
    """The shipped estimator (TagPriorClassifier) with its head made another way, for
    run_ensembles. ``kind``: ``shipped``; ``averaged`` (``members`` logistic regressions on
    class-stratified bootstraps of the rows, one shared transform, coefficients averaged: one
    linear head); ``pipelines`` / ``group-pipelines`` (``members`` whole head pipelines,
    transform included, each on a class-stratified bootstrap of the rows / of the groups,
    their log-probabilities averaged); ``exponents`` (the head and the prior weighted by two
    exponents fitted by likelihood on the inner out-of-fold predictions, for one temperature
    and a prior weight of 1); ``balanced-temperature`` (the temperature fitted with each inner
    out-of-fold row weighted by 1 / its genre's count, as the head's classes are);
    ``max-prior`` (each genre's zero-shot score the log-odds of its likeliest tag instead of
    the noisy-OR of its tags, which counts rock's 8 correlated tags as 8 pieces of evidence)."""
    import warnings

    from sklearn.linear_model import LogisticRegression

    from genrekit.models.tagprior import TagPriorClassifier, zero_shot_logits

    class Members(list):
        n_iter_ = 0

    class Estimator(TagPriorClassifier):
        _fit_transform = staticmethod(_fitted_transform)

        def fit(self, X, y, groups=None):
            rows = np.asarray(X, dtype=np.float64)
            names = np.arange(len(rows)) if groups is None else np.asarray(groups)
            self._group_of = {row.tobytes(): name for row, name in zip(rows, names)}  # bootstrap by group
            super().fit(X, y, groups)
            if kind == "exponents":
                self._fit_exponents(rows, np.asarray(y), groups)
            if kind == "balanced-temperature":
                logits, scored = self._out_of_fold(rows, np.asarray(y), groups)
                genres = np.asarray(y)[scored]
                self.temperature_ = _weighted_temperature(logits[scored], genres, 1.0 / np.bincount(genres)[genres])
            return self

        def _prior(self, X):
            if kind != "max-prior":
                return zero_shot_logits(X, self.mapping_)
            Z = np.zeros((len(X), len(self.mapping_)))  # as zero_shot_logits, the max for the noisy-OR
            mapped = [g for g, columns in enumerate(self.mapping_) if columns]
            for g in mapped:
                p = np.clip(np.asarray(X, dtype=np.float64)[:, self.mapping_[g]].max(axis=1), 1e-6, 1 - 1e-6)
                Z[:, g] = np.log(p) - np.log1p(-p)
            Z[:, [g for g in range(len(self.mapping_)) if g not in mapped]] = Z[:, mapped].mean(axis=1, keepdims=True)
            return Z

        def _bootstraps(self, X, y):
            rng = np.random.default_rng(self.random_state)
            groups = np.array([self._group_of[row.tobytes()] for row in X])
            for _ in range(members):
                if kind == "group-pipelines":
                    picked = [rng.choice(np.unique(groups[y == g]), len(np.unique(groups[y == g]))) for g in np.unique(y)]
                    yield np.concatenate([np.flatnonzero(groups == name) for name in np.concatenate(picked)])
                else:
                    yield np.concatenate([rng.choice(np.flatnonzero(y == g), (y == g).sum()) for g in np.unique(y)])

        def _fit_head(self, X, y):
            if kind in ("shipped", "exponents", "balanced-temperature", "max-prior"):
                return super()._fit_head(X, y)
            heads = Members()
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                if kind == "averaged":
                    transform = self._fit_transform(X)
                    features = transform.transform(X)
                    for rows in self._bootstraps(X, y):
                        heads.append(LogisticRegression(C=self.C, class_weight=self._head_class_weight(),
                                                        max_iter=self.max_iter).fit(features[rows], y[rows]))
                    head = heads[-1]
                    head.coef_ = np.mean([h.coef_ for h in heads], axis=0)
                    head.intercept_ = np.mean([h.intercept_ for h in heads], axis=0)
                    return transform, head
                for rows in self._bootstraps(X, y):
                    heads.append(super()._fit_head(X[rows], y[rows]))
            return None, heads

        def _head_log_proba(self, X, transform, head):
            if transform is not None:
                return super()._logits(X, transform, head) - self.prior_weight * zero_shot_logits(X, self.mapping_)
            return np.mean([self._head_log_proba(X, *member) for member in head], axis=0)

        def _logits(self, X, transform, head):
            exponents = getattr(self, "exponents_", (1.0, self.prior_weight))
            return exponents[0] * self._head_log_proba(X, transform, head) + exponents[1] * self._prior(X)

        def _fit_exponents(self, X, y, groups):
            from scipy.optimize import minimize

            logits, scored = self._out_of_fold(X, y, groups)
            head = logits - self.prior_weight * zero_shot_logits(X, self.mapping_)
            prior = zero_shot_logits(X, self.mapping_)

            def nll(exponents):
                z = exponents[0] * head[scored] + exponents[1] * prior[scored]
                return -(z[np.arange(scored.sum()), y[scored]] - np.logaddexp.reduce(z, axis=1)).mean()

            self.exponents_ = tuple(minimize(nll, [1.0, 1.0], method="L-BFGS-B", bounds=[(0.01, 5.0), (0.0, 5.0)]).x)
            self.temperature_ = 1.0

    return Estimator


ENSEMBLES = {
    "shipped": ("shipped", 1),
    "bagged head, one transform, coefficients averaged, B=10": ("averaged", 10),
    "bagged head, one transform, coefficients averaged, B=25": ("averaged", 25),
    "bagged pipelines, row bootstrap, B=10": ("pipelines", 10),
    "bagged pipelines, row bootstrap, B=25": ("pipelines", 25),
    "bagged pipelines, group bootstrap, B=10": ("group-pipelines", 10),
    "bagged pipelines, group bootstrap, B=25": ("group-pipelines", 25),
    "head and prior exponents fitted on inner out-of-fold predictions": ("exponents", 1),
    "class-balanced temperature": ("balanced-temperature", 1),
    "prior from each genre's likeliest tag (max), not the noisy-OR": ("max-prior", 1),
}


def _weighted_temperature(logits: np.ndarray, y: np.ndarray, weights: np.ndarray) -> float:
    """The temperature minimising the ``weights``-weighted negative log-likelihood."""
    from scipy.optimize import minimize_scalar

    weights = weights / weights.sum()

    def nll(log_t):
        z = logits / np.exp(log_t)
        return float(-(weights * (z[np.arange(len(y)), y] - np.logaddexp.reduce(z, axis=1))).sum())

    return float(np.exp(minimize_scalar(nll, bounds=(np.log(0.05), np.log(20.0)), method="bounded").x))


def run_ensembles(only: str | None = None) -> dict:
    """The shipped estimator against heads bagged or weighted otherwise (ENSEMBLES), on the
    200-clip grouped protocol, gtzan-mini's random and grouped folds and mini->dev, seeds 0
    and 1, judged by ENSEMBLE_RULE."""
    X, y, columns, labels, groups, splits = combined_protocol()
    mini, dev = clip_features("gtzan-mini"), clip_features("gtzan-dev")
    X_mini, mini_columns = pooled(mini, ("msd", "mtt"))
    X_dev = pooled(dev, ("msd", "mtt"))[0]
    y_mini = np.array([labels.index(label) for label in mini["labels"]])
    y_dev = np.array([labels.index(label) for label in dev["labels"]])
    mini_groups = block_groups(mini["labels"], mini["numbers"])

    def out_of_fold_of(estimator, seed, X, y, columns, splits, groups):
        log_p = np.zeros((len(y), len(labels)))
        for train, test in splits:
            model = estimator(labels, columns, random_state=seed)
            log_p[test] = model.fit(X[train], y[train], groups=None if groups is None else groups[train]).predict_log_proba(X[test])
        return log_p

    rows = []
    for name, (kind, members) in ENSEMBLES.items():
        if only and only not in name and kind != "shipped":
            continue
        estimator = _ensemble_estimator(kind, members)
        for seed in (0, 1):
            log_p = out_of_fold_of(estimator, seed, X, y, columns, splits, groups)
            row = {"candidate": name, "seed": seed, "combined": scores(log_p, y, labels)}
            row["combined"]["ece_cross_fitted"] = scores(cross_fitted_calibration(log_p, y, splits), y, labels)["ece"]
            for protocol in ("random", "grouped"):
                mini_splits = folds(mini["labels"], mini["numbers"], protocol)
                log_p = out_of_fold_of(estimator, seed, X_mini, y_mini, mini_columns, mini_splits,
                                       mini_groups if protocol == "grouped" else None)
                row[protocol] = scores(log_p, y_mini, labels)
            model = estimator(labels, mini_columns, random_state=seed).fit(X_mini, y_mini, groups=mini_groups)
            row["mini->dev"] = scores(model.predict_log_proba(X_dev), y_dev, labels)
            rows.append(row)
            print(_ensemble_line(row), flush=True)
    for row in rows:
        reference = next(r for r in rows if r["candidate"] == "shipped" and r["seed"] == row["seed"])
        c, r, d = row["combined"], reference["combined"], row["mini->dev"]
        row["passes"] = bool(
            c["nll"] < r["nll"] and c["balanced_accuracy"] >= r["balanced_accuracy"]
            and all(row[p]["balanced_accuracy"] >= reference[p]["balanced_accuracy"] - 0.0125 for p in ("random", "grouped"))
            and d["accuracy"] >= reference["mini->dev"]["accuracy"] and d["recall"]["rock"] >= 0.5
            and all(d["recall"][g] >= reference["mini->dev"]["recall"][g] for g in ("classical", "jazz")))
    record = {"date": time.strftime("%Y-%m-%d"), "machine": platform.processor() or platform.machine(),
              "command": "python bench/trust.py --ensembles", "rule": ENSEMBLE_RULE, "rows": rows,
              "verdict": {name: all(r["passes"] for r in rows if r["candidate"] == name)
                          for name in ENSEMBLES if name != "shipped" and any(r["candidate"] == name for r in rows)}}
    _write("ensembles.json", record)
    return record


def _ensemble_line(row: dict) -> str:
    c, d = row["combined"], row["mini->dev"]
    return (f"| {row['candidate']} | {row['seed']} | {c['accuracy']:.3f} | {c['balanced_accuracy']:.3f} | "
            f"{c['nll']:.3f} | {c['ece']:.3f} -> {c['ece_cross_fitted']:.3f} | {row['random']['balanced_accuracy']:.3f} | "
            f"{row['grouped']['balanced_accuracy']:.3f} | {d['accuracy']:.3f} | "
            f"{d['recall']['classical']:.2f} / {d['recall']['jazz']:.2f} / {d['recall']['rock']:.2f} |")


def run_windows() -> dict:
    """The timeline's resolution on the shipped default's protocol (grouped 4-fold CV on
    gtzan-mini + gtzan-dev): the shipped estimator, fitted on each fold's pooled 30 s clips,
    scores every test clip whole (its genre), and its windows of 2 patches (~6 s: the
    timeline) and of 1 patch (3 s). Window accuracy counts each window against its clip's
    genre, so it is a lower bound where a clip changes style."""
    from genrekit.features.musicnn import pooling_matrix
    from genrekit.models.tagprior import TagPriorClassifier

    mini, dev = clip_features("gtzan-mini"), clip_features("gtzan-dev")
    X, y, columns, labels, groups, splits = combined_protocol()
    # per patch, in genrekit's column order: MSD embedding, MSD tags, MTT embedding, MTT tags
    patches = [np.concatenate(parts, axis=1) for parts in zip(
        mini["msd_embedding"] + dev["msd_embedding"], mini["msd_tags"] + dev["msd_tags"],
        mini["mtt_embedding"] + dev["mtt_embedding"], mini["mtt_tags"] + dev["mtt_tags"])]
    assert np.allclose(np.stack([p.mean(axis=0) for p in patches]), X, atol=1e-5)
    hits: dict[str, list] = {"30 s clip (pooled)": [], "~6 s windows (2 patches)": [], "3 s windows (1 patch)": [],
                             "clip by majority of ~6 s windows": []}
    for train, test in splits:
        model = TagPriorClassifier(labels, columns, random_state=SEED).fit(X[train], y[train], groups[train])
        for i in test:
            hits["30 s clip (pooled)"].append(model.predict(X[i:i + 1])[0] == y[i])
            for name, size in (("~6 s windows (2 patches)", 2), ("3 s windows (1 patch)", 1)):
                rows = (pooling_matrix(len(patches[i]), size)[1:] @ patches[i]).astype(np.float64)
                predicted = model.predict(rows)
                hits[name] += list(predicted == y[i])
                if size == 2:
                    hits["clip by majority of ~6 s windows"].append(np.bincount(predicted).argmax() == y[i])
    rows = [{"resolution": name, "n": len(h), "accuracy": float(np.mean(h))} for name, h in hits.items()]
    for row in rows:
        print(f"| {row['resolution']} | {row['n']} | {row['accuracy']:.3f} |")
    record = {"date": time.strftime("%Y-%m-%d"), "machine": platform.processor() or platform.machine(),
              "command": "python bench/trust.py --windows", "protocol": "grouped 4-fold CV on gtzan-mini + gtzan-dev "
              "(blocks of 4 adjacent ids), the shipped estimator (musicnn-prior) fitted on each fold's pooled clips",
              "rows": rows}
    _write("windows.json", record)
    return record


def detector_file() -> Path:
    """Where the detector at ``--level`` goes: the default model's level or audio as recorded."""
    from genrekit.features.musicnn import LEVEL_DBFS
    from genrekit.models.music import DETECTOR_FILES

    if AT_LEVEL not in (LEVEL_DBFS, None):
        sys.exit(f"--level {AT_LEVEL:g}: genrekit ships detectors at {LEVEL_DBFS:g} dBFS and as recorded only")
    return ROOT / "src" / "genrekit" / "data" / DETECTOR_FILES[0 if AT_LEVEL == LEVEL_DBFS else 1]


DETECTOR_CS = (0.01, 0.1, 1.0)
DETECTOR_THRESHOLDS = (0.5, 0.8, 0.95)  # on p(non-music)
MUSIC_FLAG_COST = 3  # a song called unknown costs more than a podcast given a genre (fixed before measuring)


def _detector(C: float):
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    return make_pipeline(StandardScaler(), LogisticRegression(C=C, class_weight="balanced", max_iter=5000))


def recorded_signals(which: str) -> dict[str, np.ndarray]:
    sys.path.insert(0, str(ROOT / "bench"))
    from recorded import signals

    return signals(which)


def _caught(names: list[str], p: np.ndarray, threshold: float) -> str:
    """``"caught/all"`` of a recorded set, speech and sound effects apart."""
    parts = []
    for kind in ("speech", "sfx"):
        mask = np.array([n.startswith(kind) for n in names])
        if mask.any():
            parts.append(f"{kind} {int((p[mask] >= threshold).sum())}/{int(mask.sum())}")
    return ", ".join(parts)


def run_nonmusic(write: bool = False, recorded: bool = False) -> dict:
    """genrekit's music detector: a class-balanced logistic regression on the taggers' pooled
    features (``musicnn``, 500 columns), music = the 200 GTZAN clips, non-music = the
    generated ``train`` set of tests/nonmusic.py (46 signals: speech in 12 voices, alone, in
    noise, over hum and two at once; noises, tones, beeps, clicks, sweeps), and with
    ``recorded`` the recorded ``train`` set of bench/recorded.py too (KLettres' spoken
    letters in 22 languages, Minetest's sound effects).

    - Choice of C and of the threshold on p(non-music): the ``dev`` non-music missed (11
      generated signals, never trained on; with ``recorded``, Warzone 2100's voice lines and
      sound effects too) plus 3 x the GTZAN clips flagged out of fold (grouped 4-fold CV,
      blocks of 4 adjacent ids): a song called unknown costs more than a podcast named.
    - Checks, never used for a choice: the ``test`` non-music (12 generated signals), the
      recorded ``test`` set (J. F. Kennedy's speech, CMU ARCTIC sentences, Wesnoth's sounds),
      immich-memories-music (28 tracks of other music) and Extreme Tux Racer's 10 pieces of
      game music. Without ``recorded``, the recorded ``dev`` set is a check too.
    - ``write``: the chosen C fitted on everything it may train on (with ``recorded``, the
      recorded dev set too), to ``src/genrekit/data/music-detector.json`` (numbers only:
      scaling, weights, bias).

    The recorded sets are fetched with or without ``recorded`` (they are the checks too):
    apt-get, npm and pip must reach their registries the first time."""
    sys.path.insert(0, str(ROOT / "tests"))
    from nonmusic import training_signals

    X_music, y_genre, columns, labels, groups, splits = combined_protocol()
    both = lambda f: pooled(f, ("msd", "mtt"))[0]  # noqa: E731
    train = signal_features("nonmusic-train", training_signals())
    dev = signal_features("nonmusic-dev", nonmusic_signals("dev"))
    test = signal_features("nonmusic-test", nonmusic_signals("test"))
    other = signal_features("immich", immich_signals())
    recorded_sets = {which: signal_features(f"recorded-{which}", recorded_signals(which))
                     for which in ("train", "dev", "test", "music")}
    X_noise = both(train)
    X_dev = both(dev)
    if recorded:
        X_noise = np.concatenate([X_noise, both(recorded_sets["train"])])
        X_dev = np.concatenate([X_dev, both(recorded_sets["dev"])])
    rows = []
    for C in DETECTOR_CS:
        p_oof = np.zeros(len(X_music))
        for fold_train, fold_test in splits:
            X = np.concatenate([X_music[fold_train], X_noise])
            y = np.r_[np.zeros(len(fold_train)), np.ones(len(X_noise))]
            p_oof[fold_test] = _detector(C).fit(X, y).predict_proba(X_music[fold_test])[:, 1]
        model = _detector(C).fit(np.concatenate([X_music, X_noise]), np.r_[np.zeros(len(X_music)), np.ones(len(X_noise))])
        p_dev, p_test, p_other = (model.predict_proba(X)[:, 1] for X in (X_dev, both(test), both(other)))
        p_recorded = {which: model.predict_proba(both(f))[:, 1] for which, f in recorded_sets.items()}
        for threshold in DETECTOR_THRESHOLDS:
            flagged, caught = p_oof >= threshold, p_dev >= threshold
            rows.append({"C": C, "threshold": threshold,
                         "gtzan_flagged_out_of_fold": f"{int(flagged.sum())}/{len(flagged)}",
                         "dev_nonmusic_caught": f"{int(caught.sum())}/{len(caught)}",
                         "selection_cost": int(MUSIC_FLAG_COST * flagged.sum() + (~caught).sum()),
                         "test_nonmusic_caught": f"{int((p_test >= threshold).sum())}/{len(p_test)}",
                         "test_missed": [i for i, p in zip(test["ids"], p_test) if p < threshold],
                         "immich_flagged": f"{int((p_other >= threshold).sum())}/{len(p_other)}",
                         "recorded_train_caught": _caught(recorded_sets["train"]["ids"], p_recorded["train"], threshold),
                         "recorded_dev_caught": _caught(recorded_sets["dev"]["ids"], p_recorded["dev"], threshold),
                         "recorded_test_caught": _caught(recorded_sets["test"]["ids"], p_recorded["test"], threshold),
                         "recorded_test_missed": [i for i, p in zip(recorded_sets["test"]["ids"], p_recorded["test"])
                                                  if p < threshold],
                         "recorded_music_flagged": f"{int((p_recorded['music'] >= threshold).sum())}/"
                                                   f"{len(p_recorded['music'])}"})
            r = rows[-1]
            print(f"| {C} | {threshold} | {r['gtzan_flagged_out_of_fold']} | {r['dev_nonmusic_caught']} | "
                  f"{r['selection_cost']} | {r['test_nonmusic_caught']} | {r['immich_flagged']} | "
                  f"{r['recorded_train_caught']} | {r['recorded_dev_caught']} | {r['recorded_test_caught']} | "
                  f"{r['recorded_music_flagged']} |", flush=True)
    # fewest costed errors; ties: the most regularised, then the highest threshold (fewest songs called unknown)
    chosen = min(rows, key=lambda r: (r["selection_cost"], r["C"], -r["threshold"]))
    command = "python bench/trust.py --nonmusic" + (" --recorded" if recorded else "")
    record = {"date": time.strftime("%Y-%m-%d"), "machine": platform.processor() or platform.machine(),
              "command": command, "protocol": run_nonmusic.__doc__, "rows": rows,
              "chosen": {"C": chosen["C"], "threshold": chosen["threshold"]}}
    _write("nonmusic-recorded.json" if recorded else "nonmusic.json", record)
    if write:
        from genrekit.models.music import write_detector

        X_fit = np.concatenate([X_noise, X_dev[len(dev["ids"]):]]) if recorded else X_noise  # recorded dev too
        model = _detector(chosen["C"]).fit(np.concatenate([X_music, X_fit]),
                                           np.r_[np.zeros(len(X_music)), np.ones(len(X_fit))])
        scaler, regression = model[0], model[1]
        non_music = f"{len(train['ids'])} generated signals (tests/nonmusic.py, 'train')"
        if recorded:
            non_music += (f" and {len(X_fit) - len(train['ids'])} recorded ones (bench/recorded.py, 'train' and 'dev':"
                          " KLettres, Minetest, Warzone 2100)")
        write_detector(detector_file(), columns=columns, mean=scaler.mean_, scale=scaler.scale_,
                       weights=regression.coef_[0], bias=float(regression.intercept_[0]),
                       threshold=chosen["threshold"], level_dbfs=AT_LEVEL,
                       provenance={"command": command + " --write-detector"
                                   + ("" if AT_LEVEL is None else f" --level {AT_LEVEL:g}"), "C": chosen["C"],
                                   "music": f"{len(X_music)} GTZAN clips (gtzan-mini + gtzan-dev)",
                                   "non_music": non_music, "date": time.strftime("%Y-%m-%d")})
        threshold = chosen["threshold"]
        shipped = {  # the written fit (train and, with ``recorded``, dev too) on the checks
            "test_nonmusic_caught": f"{int((model.predict_proba(both(test))[:, 1] >= threshold).sum())}/{len(test['ids'])}",
            "immich_flagged": f"{int((model.predict_proba(both(other))[:, 1] >= threshold).sum())}/{len(other['ids'])}",
            "recorded_test_caught": _caught(recorded_sets["test"]["ids"],
                                            model.predict_proba(both(recorded_sets["test"]))[:, 1], threshold),
            "recorded_music_flagged": [i for i, p in zip(recorded_sets["music"]["ids"],
                                                         model.predict_proba(both(recorded_sets["music"]))[:, 1])
                                       if p >= threshold]}
        print(f"-> {detector_file()} (C = {chosen['C']}, non-music from p = {threshold}); as written: {shipped}")
        record["written"] = shipped
        _write("nonmusic-recorded.json" if recorded else "nonmusic.json", record)
    return record


THRESHOLDS = (0.0, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9)
SHIPPED = next(c for c in COMBINED if c.name.startswith("musicnn-prior"))


#: Every patch, every 2nd ... 5th: 10, 5, 4, 3 and 2 of a 30 s segment's ten 3 s patches, as
#: ``log_mel_patches(hop_frames=stride * 187)`` would cut them.
STRIDES = (1, 2, 3, 4, 5)


def _strided(features: dict, stride: int) -> dict:
    keys = ("msd_embedding", "msd_tags", "mtt_embedding", "mtt_tags")
    return {**features, **{key: [patches[::stride] for patches in features[key]] for key in keys}}


def run_fewer_patches() -> dict:
    """Issue 20, "fewer patches per segment, with the accuracy cost measured": the shipped
    estimator trained and scored on the mean of every ``stride``-th 3 s patch of each clip
    instead of every patch. Per stride: the 200-clip grouped CV of the shipped default's
    protocol; the estimator fitted on all 200 clips (as shipped), against the same fitted on
    every patch (stride 1, the reference), on gtzan-mini and on immich-memories-music (music
    nobody trained on): the same top genre, and the largest probability difference; and the
    CPU per 30 s this would take, projected from bench/results/tag_throughput/precision-pooled-first.json
    (the decode + log-mel floor, plus the network's share in proportion to the patches; the
    run of 2026-11-30 that this result was first projected from, before silent filters were
    skipped).
    Run at the shipped default's level (``--level -20``)."""
    if AT_LEVEL != LEVEL:
        sys.exit(f"--fewer-patches scores the shipped default, which hears audio at {LEVEL:g} dBFS: add --level {LEVEL:g}")
    mini, dev = clip_features("gtzan-mini"), clip_features("gtzan-dev")
    immich = signal_features("immich", immich_signals())
    _, y, columns, labels, groups, splits = combined_protocol()
    keep = columns_of(columns, SHIPPED.networks)
    kept = [c for c, k in zip(columns, keep) if k]
    precision = json.loads((ROOT / "bench" / "results" / "tag_throughput" / "precision-pooled-first.json").read_text())
    floor = precision["floor_cpu_s_per_30s"]
    measured = {row["model"]: row["cpu_s_per_30s_model_loaded"] for row in precision["rows"]}
    fp32 = measured["fp32, as shipped (pooled first)"]
    int8 = measured["int8 timbral filters (genrekit export --int8)"]
    full_patches = np.mean([len(p) for p in mini["msd_tags"] + dev["msd_tags"]])
    rows, reference = [], None
    for stride in STRIDES:
        X = np.concatenate([pooled(_strided(mini, stride), ("msd", "mtt"))[0],
                            pooled(_strided(dev, stride), ("msd", "mtt"))[0]])
        log_p = out_of_fold(SHIPPED, X, y, columns, labels, splits, groups)
        others = np.concatenate([pooled(_strided(mini, stride), ("msd", "mtt"))[0],
                                 pooled(_strided(immich, stride), ("msd", "mtt"))[0]])
        answers = SHIPPED.log_proba(X[:, keep], y, others[:, keep], kept, labels, groups)
        top, P = answers.argmax(axis=1), np.exp(answers)
        reference = reference or (top, P)
        n_mini = len(mini["ids"])
        patches = np.mean([len(p[::stride]) for p in mini["msd_tags"] + dev["msd_tags"]])
        share = patches / full_patches
        rows.append({"stride": stride, "patches_per_clip": float(patches),
                     "patches_per_30s": int(np.ceil(10 / stride)),
                     "grouped": scores(log_p, y, labels),
                     "same_top_genre": {"gtzan-mini": f"{int((top[:n_mini] == reference[0][:n_mini]).sum())}/{n_mini}",
                                        "immich": f"{int((top[n_mini:] == reference[0][n_mini:]).sum())}/{len(top) - n_mini}",
                                        "share": float((top == reference[0]).mean())},
                     "max_probability_difference": float(np.abs(P - reference[1]).max()),
                     "projected_cpu_s_per_30s": {"fp32": floor + (fp32 - floor) * share,
                                                 "int8": floor + (int8 - floor) * share}})
        r = rows[-1]
        print(f"| every {stride} ({r['patches_per_30s']} per 30 s) | {r['grouped']['accuracy']:.3f} | "
              f"{r['grouped']['balanced_accuracy']:.3f} | {r['grouped']['ece']:.3f} | "
              f"{r['same_top_genre']['gtzan-mini']}, {r['same_top_genre']['immich']} | "
              f"{r['max_probability_difference']:.3f} | {r['projected_cpu_s_per_30s']['fp32']:.2f} / "
              f"{r['projected_cpu_s_per_30s']['int8']:.2f} |", flush=True)
    record = {"date": time.strftime("%Y-%m-%d"), "machine": platform.processor() or platform.machine(),
              "command": "python bench/trust.py --fewer-patches",
              "protocol": "the shipped estimator (musicnn-prior) on the mean of every stride-th 3 s patch of each clip; "
                          "'grouped': 4-fold CV on gtzan-mini + gtzan-dev, groups of 4 adjacent ids (as --combined); "
                          "'same_top_genre': fitted on all 200 clips, against the same fitted and scored on every "
                          "patch (stride 1), on gtzan-mini (trained on) and immich-memories-music (never trained on); "
                          "a track longer than 30 s is one clip here (its patches strided from its start)",
              "projection": "CPU-s per 30 s = the decode + log-mel floor + the network's share in proportion to the "
                            f"patches, from {precision['command']} ({precision['date']}): floor {floor:.3f}, "
                            f"fp32 {fp32:.3f}, int8 {int8:.3f}; not measured here",
              "rule": "decided before the run: a stride replaces every patch only if it keeps the same top genre on "
                      ">= 98% of gtzan-mini + immich and grouped accuracy within 1 point (issue 20's Done when)",
              "rows": rows}
    _write("fewer_patches.json", record)
    return record


def run_coverage() -> dict:
    """What a minimum confidence buys: on the shipped estimator's grouped out-of-fold
    predictions (gtzan-mini + gtzan-dev), the share of clips still named (coverage) and the
    accuracy among them, per threshold; and, for the estimator fitted on all 200 clips, the
    share of generated non-music (tests/nonmusic.py, dev and test) and of other music
    (immich-memories-music, never trained on) that each threshold turns into "unknown".

    Also the alternative that lost: an out-of-distribution score (Mahalanobis distance of
    the standardised pooled features, Ledoit-Wolf covariance), thresholded at the 97th
    percentile of the music's out-of-fold scores."""
    from sklearn.covariance import LedoitWolf
    from sklearn.preprocessing import StandardScaler

    X, y, columns, labels, groups, splits = combined_protocol()
    log_p = out_of_fold(SHIPPED, X, y, columns, labels, splits, groups)
    confidence, correct = np.exp(log_p).max(axis=1), log_p.argmax(axis=1) == y
    others = {"nonmusic-dev": signal_features("nonmusic-dev", nonmusic_signals("dev")),
              "nonmusic-test": signal_features("nonmusic-test", nonmusic_signals("test"))}
    try:
        others["immich (other music)"] = signal_features("immich", immich_signals())
    except ImportError:
        print("immich-memories-music is not installed: other music left out")
    keep = columns_of(columns, SHIPPED.networks)
    other_confidence = {}
    for name, features in others.items():
        X_other = pooled(features, ("msd", "mtt"))[0]
        log_p = SHIPPED.log_proba(X[:, keep], y, X_other[:, keep], [c for c, k in zip(columns, keep) if k], labels, groups)
        other_confidence[name] = {i: float(p) for i, p in zip(features["ids"], np.exp(log_p).max(axis=1))}
    rows = []
    for threshold in THRESHOLDS:
        named = confidence >= threshold
        row = {"min_confidence": threshold, "coverage": float(named.mean()),
               "accuracy_of_named": float(correct[named].mean()) if named.any() else None,
               "right_and_named": float((correct & named).mean())}
        for name, values in other_confidence.items():
            row[f"unknown: {name}"] = float(np.mean([v < threshold for v in values.values()]))
        rows.append(row)
        print(" | ".join(f"{k} {v:.2f}" if isinstance(v, float) else f"{k} {v}" for k, v in row.items()))

    # the alternative that lost: distance from the training music
    def distance(train, test):
        scaler = StandardScaler().fit(X[train])
        covariance = LedoitWolf().fit(scaler.transform(X[train]))
        return lambda Z: np.sqrt(covariance.mahalanobis(scaler.transform(Z)))
    music_oof = np.zeros(len(y))
    for train, test in splits:
        music_oof[test] = distance(train, test)(X[test])
    cut = float(np.quantile(music_oof, 0.97))
    score = distance(np.arange(len(y)), None)
    ood = {"threshold": cut, "music_out_of_fold_flagged": float(np.mean(music_oof > cut))}
    for name, features in others.items():
        ood[f"flagged: {name}"] = float(np.mean(score(pooled(features, ("msd", "mtt"))[0]) > cut))
    print("Mahalanobis distance from the training music:", ood)
    record = {"date": time.strftime("%Y-%m-%d"), "machine": platform.processor() or platform.machine(),
              "command": "python bench/trust.py --coverage",
              "protocol": "grouped 4-fold CV on gtzan-mini + gtzan-dev (as --combined) for coverage and accuracy; "
                          "the estimator fitted on all 200 clips for the non-music and other-music rows",
              "candidate": SHIPPED.name, "rows": rows, "confidence_of_others": other_confidence,
              "out_of_distribution_alternative": ood}
    _write("coverage.json", record)
    _plot_coverage(rows, OUT / _result_name("coverage.png"))
    return record


def _plot_coverage(rows: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axis = plt.subplots(figsize=(6, 4), constrained_layout=True)
    axis.plot([r["coverage"] for r in rows], [r["accuracy_of_named"] for r in rows], "o-", color="#4c72b0")
    for r in rows:
        axis.annotate(f"{r['min_confidence']:.1f}", (r["coverage"], r["accuracy_of_named"]), textcoords="offset points",
                      xytext=(4, -10), fontsize=8)
    axis.set(xlabel="coverage (share of clips named)", ylabel="accuracy of the named clips",
             title="--min-confidence: grouped CV, gtzan-mini + gtzan-dev", xlim=(0, 1.02))
    figure.savefig(path, dpi=110)
    plt.close(figure)


def run_candidates(only: str | None = None) -> dict:
    mini, dev = clip_features("gtzan-mini"), clip_features("gtzan-dev")
    labels = sorted(set(mini["labels"].tolist()))
    X_mini, columns = pooled(mini, ("msd", "mtt"))
    X_dev, _ = pooled(dev, ("msd", "mtt"))
    y_mini = np.array([labels.index(label) for label in mini["labels"]])
    y_dev = np.array([labels.index(label) for label in dev["labels"]])
    rows = []
    previous = json.loads((OUT / "candidates.json").read_text())["rows"] if (OUT / "candidates.json").exists() else []
    for candidate in CANDIDATES:
        if only and only not in candidate.name:
            kept = [row for row in previous if row["candidate"] == candidate.name]
            rows += kept
            continue
        row = {"candidate": candidate.name}
        for protocol in ("random", "grouped"):
            splits = folds(mini["labels"], mini["numbers"], protocol)
            groups = block_groups(mini["labels"], mini["numbers"]) if protocol == "grouped" else None
            log_p = out_of_fold(candidate, X_mini, y_mini, columns, labels, splits, groups)
            row[protocol] = scores(log_p, y_mini, labels)
            if protocol == "grouped":
                calibrated = cross_fitted_calibration(log_p, y_mini, splits)
                row["grouped_calibrated"] = scores(calibrated, y_mini, labels)
                row["temperature_all"] = fit_temperature(log_p, y_mini)
        keep = columns_of(columns, candidate.networks)
        kept = [c for c, k in zip(columns, keep) if k]
        log_p = candidate.log_proba(X_mini[:, keep], y_mini, X_dev[:, keep], kept, labels,
                                    block_groups(mini["labels"], mini["numbers"]))
        row["mini->dev"] = scores(log_p, y_dev, labels)
        row["mini->dev_calibrated"] = scores(log_p / row["temperature_all"] - np.logaddexp.reduce(
            log_p / row["temperature_all"], axis=1, keepdims=True), y_dev, labels)
        rows.append(row)
        print(_line(row), flush=True)
    record = {"date": time.strftime("%Y-%m-%d"), "machine": platform.processor() or platform.machine(),
              "command": "python bench/trust.py --candidates", "rows": rows}
    _write("candidates.json", record)
    return record


def _line(row: dict) -> str:
    r, g, d = row["random"], row["grouped"], row["mini->dev"]
    return (f"| {row['candidate']} | {r['accuracy']:.3f} | {g['accuracy']:.3f} | {g['balanced_accuracy']:.3f} | "
            f"{g['ece']:.3f} -> {row['grouped_calibrated']['ece']:.3f} | {d['accuracy']:.3f} | "
            f"{d['recall']['classical']:.2f} / {d['recall']['jazz']:.2f} / {d['recall']['rock']:.2f} | "
            f"{d['ece']:.3f} -> {row['mini->dev_calibrated']['ece']:.3f} |")


def print_tables() -> None:
    """The recorded results as the Markdown tables of docs/benchmarks.md."""
    candidates = json.loads((OUT / "candidates.json").read_text())
    print(f"gtzan-mini protocols ({candidates['date']}, {candidates['command']}):\n")
    print("| candidate | random acc | grouped acc | grouped bal. acc | grouped ECE (raw -> calibrated) | "
          "mini->dev acc | dev recall classical / jazz / rock | dev ECE (raw -> calibrated) |")
    print("|---|---|---|---|---|---|---|---|")
    for row in candidates["rows"]:
        print(_line(row))
    combined = json.loads((OUT / _result_name("combined.json")).read_text())
    print(f"\ngtzan-mini + gtzan-dev ({combined['date']}, {combined['command']}): {combined['protocol']}\n")
    print("| candidate | accuracy | balanced accuracy | recall classical / jazz / rock | ECE (raw -> calibrated) "
          "| temperature | ECE a calibrated model shows here: mean (5-95%), raw -> calibrated |")
    print("|---|---|---|---|---|---|---|")
    for row in combined["rows"]:
        print(_combined_line(row))


def _combined_line(row: dict) -> str:
    g, c = row["grouped"], row["grouped_calibrated"]

    def band(scores: dict) -> str:
        b = scores.get("ece_if_calibrated")
        return "-" if b is None else f"{b['mean']:.3f} ({b['p05']:.3f}-{b['p95']:.3f})"

    return (f"| {row['candidate']} | {g['accuracy']:.3f} | {g['balanced_accuracy']:.3f} | "
            f"{g['recall']['classical']:.2f} / {g['recall']['jazz']:.2f} / {g['recall']['rock']:.2f} | "
            f"{g['ece']:.3f} -> {c['ece']:.3f} | {row['temperature_all']:.2f} | {band(g)} -> {band(c)} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--features", action="store_true", help="cache the musicnn patch features")
    parser.add_argument("--candidates", action="store_true", help="score every candidate on every protocol")
    parser.add_argument("--combined", action="store_true", help="grouped CV on gtzan-mini + gtzan-dev")
    parser.add_argument("--coverage", action="store_true", help="accuracy against coverage of --min-confidence")
    parser.add_argument("--nonmusic", action="store_true", help="music / non-music detectors")
    parser.add_argument("--write-detector", action="store_true", help="with --nonmusic: write the chosen detector")
    parser.add_argument("--recorded", action="store_true", help="with --nonmusic: train and choose on recorded "
                        "non-music too (bench/recorded.py)")
    parser.add_argument("--calibration", action="store_true", help="other ways to fit the shipped estimator's "
                        "temperature (200-clip grouped protocol)")
    parser.add_argument("--ensembles", action="store_true", help="the shipped head against bagged heads and "
                        "fitted exponents, every protocol, seeds 0 and 1")
    parser.add_argument("--windows", action="store_true", help="accuracy of 30 s clips against ~6 s and 3 s windows")
    parser.add_argument("--patch-heads", action="store_true", help="heads trained on patches or sub-clips")
    parser.add_argument("--levels", action="store_true", help="the answer against the audio's level; normalised")
    parser.add_argument("--fewer-patches", action="store_true", help="issue 20: the shipped estimator on fewer patches "
                        "per 30 s (with --level -20)")
    parser.add_argument("--table", action="store_true", help="print the recorded results as Markdown tables")
    parser.add_argument("--only", help="score only the candidates whose name contains this text")
    parser.add_argument("--onnx", type=Path, help="with --combined: the features of this exported default model")
    parser.add_argument("--level", type=float, help="scale every clip and signal to this RMS level (dBFS) first")
    args = parser.parse_args()
    if args.level is not None:
        global AT_LEVEL
        AT_LEVEL = args.level
    if args.onnx:
        global CACHE, EXPORTED
        EXPORTED, CACHE = args.onnx, CACHE / f"onnx-{args.onnx.stem}"
    if not (DATA / "gtzan-mini").is_dir() or not (DATA / "gtzan-dev").is_dir():
        sys.exit(f"{DATA}: gtzan-mini and gtzan-dev are needed (see ../shared/data/README.md)")
    if args.features:
        import torch

        torch.set_num_threads(1)
        for split in ("gtzan-mini", "gtzan-dev"):
            clip_features(split)
        signal_features("nonmusic-dev", nonmusic_signals("dev"))
        signal_features("nonmusic-test", nonmusic_signals("test"))
        signal_features("immich", immich_signals())
    if args.candidates:
        print("| candidate | random acc | grouped acc | grouped bal. acc | grouped ECE (raw -> calibrated) | "
              "mini->dev acc | dev recall classical / jazz / rock | dev ECE (raw -> calibrated) |")
        print("|---|---|---|---|---|---|---|---|")
        run_candidates(args.only)
    if args.levels:
        run_levels()
    if args.patch_heads:
        print("| candidate | random acc | grouped acc | grouped bal. acc | grouped ECE (raw -> calibrated) | "
              "mini->dev acc | dev recall classical / jazz / rock | dev ECE (raw -> calibrated) | "
              "200-clip grouped acc | bal. acc | ECE (raw -> calibrated) |")
        print("|---|---|---|---|---|---|---|---|---|---|---|")
        run_patch_heads()
    if args.fewer_patches:
        print("| patches | grouped acc | bal. acc | ECE | same top genre: gtzan-mini, immich | max prob. diff | "
              "projected CPU-s per 30 s, fp32 / int8 |\n|---|---|---|---|---|---|---|")
        run_fewer_patches()
    if args.table:
        print_tables()
    if args.coverage:
        run_coverage()
    if args.nonmusic:
        print("| C | threshold | GTZAN flagged (out of fold) | dev non-music caught | selection cost | "
              "test non-music caught | immich flagged | recorded train caught | recorded dev caught | "
              "recorded test caught | recorded music flagged |\n|---|---|---|---|---|---|---|---|---|---|---|")
        run_nonmusic(args.write_detector, args.recorded)
    if args.windows:
        print("| resolution | scored | accuracy |\n|---|---|---|")
        run_windows()
    if args.calibration:
        print("| variant | accuracy | balanced accuracy | recall classical / jazz / rock | ECE (raw -> calibrated) "
              "| temperature | ECE a calibrated model shows here: mean (5-95%), raw -> calibrated | NLL |")
        print("|---|---|---|---|---|---|---|---|")
        run_calibration()
    if args.ensembles:
        print("| variant | seed | 200-clip grouped acc | bal. acc | NLL | ECE (raw -> cross-fitted) | gtzan-mini random "
              "bal. acc | grouped bal. acc | mini->dev acc | dev recall classical / jazz / rock |")
        print("|---|---|---|---|---|---|---|---|---|---|")
        run_ensembles(args.only)
    if args.combined:
        print("| candidate | accuracy | balanced accuracy | recall classical / jazz / rock | ECE (raw -> calibrated) "
              "| temperature | ECE a calibrated model shows here: mean (5-95%), raw -> calibrated |")
        print("|---|---|---|---|---|---|---|")
        run_combined()


if __name__ == "__main__":
    main()
