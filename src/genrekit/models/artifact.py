"""One self-describing model file that loads without executing code from it.

A genrekit model file is a zip archive:

- ``genrekit.json``: format and genrekit versions, labels, feature set and parameters,
  model name and hyperparameters, metrics, the training tracks, and the SHA-256 of every
  payload member;
- the fitted estimator: a scikit-learn pipeline as ``pipeline.skops`` (skops, loaded with
  an explicit allow-list of scikit-learn/numpy/scipy types), or for XGBoost the scaler as
  ``scaler.skops`` plus the booster in XGBoost's own JSON format (``booster.json``).

Nothing is unpickled. A file that is not such an archive, whose checksums do not match, or
whose skops payload names a type outside the allow-list is refused with a ModelError.
"""

from __future__ import annotations

import hashlib
import json
import os
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from sklearn.pipeline import Pipeline
from xgboost import XGBClassifier

from genrekit import __version__
from genrekit._files import atomic_path
from genrekit.errors import ModelError
from genrekit.features.registry import FeatureSpec
from genrekit.models.classical import predict_proba

def _import_skops_io():
    """``skops.io``, without it importing PyTorch.

    skops lists its trusted types with scikit-learn's ``all_estimators()``, which imports
    every scikit-learn module, ``sklearn.externals.array_api_compat.torch`` included: that
    loads PyTorch (about 400 MB) into any process that reads a classical model. The walk
    skips modules that fail to import, so ``torch`` is made unimportable for its duration.
    """
    import sys

    if "skops.io" in sys.modules or "torch" in sys.modules:
        import skops.io

        return skops.io
    sys.modules["torch"] = None  # `import torch` raises ImportError while this is set
    try:
        import skops.io
    finally:
        del sys.modules["torch"]
    return skops.io


sio = _import_skops_io()

FORMAT = "genrekit-model"
FORMAT_VERSION = 1
MANIFEST = "genrekit.json"
# Module prefixes whose types a skops payload may instantiate.
TRUSTED_MODULES = ("sklearn.", "numpy", "scipy.", "builtins.", "collections.")


@dataclass
class GenreModel:
    """A fitted genre classifier with everything needed to use and describe it."""

    name: str
    labels: list[str]
    spec: FeatureSpec
    estimator: Pipeline
    params: dict = field(default_factory=dict)
    metrics: dict = field(default_factory=dict)
    training: dict = field(default_factory=dict)
    aggregation: str = "mean"
    genrekit_version: str = __version__

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        """Genre probabilities of feature rows.

        Parameters
        ----------
        X : np.ndarray [shape=(n, n_features)]

        Returns
        -------
        P : np.ndarray [shape=(n, len(labels))], rows summing to 1
        """
        X = np.asarray(X, dtype=np.float64)
        if X.ndim != 2 or X.shape[1] != len(self.spec.columns):
            raise ModelError(
                f"model {self.name!r} expects {len(self.spec.columns)} {self.spec.name} features per row, got shape {X.shape}"
            )
        return predict_proba(self.estimator, X)

    def manifest(self) -> dict:
        return {
            "format": FORMAT,
            "format_version": FORMAT_VERSION,
            "genrekit_version": self.genrekit_version,
            "kind": "classical",
            "model": self.name,
            "labels": list(self.labels),
            "sample_rate": self.spec.sample_rate,
            "features": self.spec.to_dict(),
            "params": _jsonable(self.params),
            "aggregation": self.aggregation,
            "metrics": _jsonable(self.metrics),
            "training": _jsonable(self.training),
        }


def _jsonable(value):
    return json.loads(json.dumps(value, default=lambda v: v.item() if hasattr(v, "item") else str(v)))


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def save_model(model: GenreModel, path: str | os.PathLike) -> Path:
    """Write ``model`` to ``path`` atomically (a temporary file renamed into place)."""
    path = Path(path)
    clf = model.estimator[-1]
    if isinstance(clf, XGBClassifier):
        payload = {
            "scaler.skops": sio.dumps(Pipeline(model.estimator.steps[:-1])),
            "booster.json": bytes(clf.get_booster().save_raw(raw_format="json")),
        }
    else:
        payload = {"pipeline.skops": sio.dumps(model.estimator)}
    manifest = model.manifest()
    manifest["payload"] = {name: _sha256(data) for name, data in payload.items()}
    with atomic_path(path) as temporary, zipfile.ZipFile(temporary, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(MANIFEST, json.dumps(manifest, indent=2))
        for name, data in payload.items():
            archive.writestr(name, data)
    return path


def _load_skops(data: bytes, where: str) -> Pipeline:
    untrusted = sio.get_untrusted_types(data=data)
    foreign = [t for t in untrusted if not t.startswith(TRUSTED_MODULES)]
    if foreign:
        raise ModelError(f"{where}: refuses to load types outside scikit-learn/numpy/scipy: {', '.join(foreign)}")
    estimator = sio.loads(data, trusted=untrusted)
    if not isinstance(estimator, Pipeline):
        raise ModelError(f"{where}: expected a scikit-learn Pipeline, found {type(estimator).__name__}")
    return estimator


def read_manifest(path: str | os.PathLike) -> dict:
    """The JSON description of a model file, without loading the estimator."""
    path = Path(path)
    try:
        with zipfile.ZipFile(path) as archive:
            return _manifest(archive, path)
    except (zipfile.BadZipFile, OSError) as exc:
        raise ModelError(f"{path}: not a genrekit model file ({exc})") from exc


def _manifest(archive: zipfile.ZipFile, path: Path) -> dict:
    try:
        manifest = json.loads(archive.read(MANIFEST))
    except KeyError:
        raise ModelError(f"{path}: not a genrekit model file ({MANIFEST} missing)") from None
    except json.JSONDecodeError as exc:
        raise ModelError(f"{path}: corrupt model description ({exc})") from exc
    if manifest.get("format") != FORMAT:
        raise ModelError(f"{path}: not a genrekit model file (format {manifest.get('format')!r})")
    if manifest.get("format_version", 0) > FORMAT_VERSION:
        raise ModelError(
            f"{path}: model format {manifest['format_version']} is newer than this genrekit reads "
            f"({FORMAT_VERSION}); upgrade genrekit"
        )
    return manifest


def load_model(path: str | os.PathLike) -> GenreModel:
    """Read a model file written by :func:`save_model`, verifying its checksums."""
    path = Path(path)
    if not path.is_file():
        raise ModelError(f"{path}: model file not found")
    try:
        with zipfile.ZipFile(path) as archive:
            manifest = _manifest(archive, path)
            expected = manifest.get("payload", {})
            if not expected:
                raise ModelError(f"{path}: model description lists no payload")
            payload = {}
            for name, digest in expected.items():
                try:
                    data = archive.read(name)
                except KeyError:
                    raise ModelError(f"{path}: payload member {name} missing") from None
                if _sha256(data) != digest:
                    raise ModelError(f"{path}: checksum mismatch for {name}; the file was modified or is corrupt")
                payload[name] = data
    except (zipfile.BadZipFile, OSError) as exc:
        raise ModelError(f"{path}: not a genrekit model file ({exc})") from exc

    try:
        if "booster.json" in payload:
            scaler = _load_skops(payload["scaler.skops"], f"{path}:scaler.skops")
            clf = XGBClassifier()
            clf.load_model(bytearray(payload["booster.json"]))
            estimator = Pipeline([*scaler.steps, ("clf", clf)])
        else:
            estimator = _load_skops(payload["pipeline.skops"], f"{path}:pipeline.skops")
        spec = FeatureSpec.from_dict(manifest["features"])
    except ModelError:
        raise
    except Exception as exc:
        raise ModelError(f"{path}: model payload cannot be read ({type(exc).__name__}: {exc})") from exc
    return GenreModel(
        name=manifest["model"],
        labels=list(manifest["labels"]),
        spec=spec,
        estimator=estimator,
        params=manifest.get("params", {}),
        metrics=manifest.get("metrics", {}),
        training=manifest.get("training", {}),
        aggregation=manifest.get("aggregation", "mean"),
        genrekit_version=manifest.get("genrekit_version", "unknown"),
    )

