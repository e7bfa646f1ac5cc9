"""One self-describing model file that loads without executing code from it.

A genrekit model file is a zip archive:

- ``genrekit.json``: format and genrekit versions, labels, feature set and parameters,
  model name and hyperparameters, metrics, the training tracks, and the SHA-256 of every
  payload member;
- the fitted estimator: a scikit-learn pipeline as ``pipeline.skops`` (skops, loaded with
  an explicit allow-list of scikit-learn/numpy/scipy types), or for XGBoost the scaler as
  ``scaler.skops`` plus the booster in XGBoost's own JSON format (``booster.json``).

Nothing is unpickled. The file is read as hostile input (``genrekit.untrusted``): its
archive and JSON are bounded and checked against a schema, and its skops payload may name
only the exact types a genrekit pipeline contains. The checksums detect corruption only;
whoever edits a payload can rewrite them, so the allow-list is what stops a malicious file.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import sys
import threading
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from sklearn.pipeline import Pipeline

from genrekit import __version__
from genrekit._files import atomic_path, path_given
from genrekit.errors import ModelError, ParameterError
from genrekit.features.limits import require_feature_fields
from genrekit.features.registry import FeatureSpec
from genrekit.models.classical import predict_proba
from genrekit.untrusted import (check_booster, check_fitted_arrays, check_skops_payload, describe_value, parse_json,
                                read_archive, require, require_labels, require_training_hashes)

_SKOPS_LOCK = threading.Lock()


@functools.cache
def skops_io():
    """``skops.io``, imported on first use without it importing PyTorch.

    skops lists its trusted types with scikit-learn's ``all_estimators()``, which imports
    every scikit-learn module, ``sklearn.externals.array_api_compat.torch`` included: that
    loads PyTorch (about 400 MB) into any process that reads a classical model. The walk
    skips modules that fail to import, so ``torch`` is made unimportable for its duration:
    at the first model read or write, under a lock, not as a side effect of importing genrekit.
    """
    with _SKOPS_LOCK:
        if "skops.io" in sys.modules or "torch" in sys.modules:
            import skops.io

            return skops.io
        sys.modules["torch"] = None  # `import torch` raises ImportError while this is set
        try:
            import skops.io
        finally:
            del sys.modules["torch"]
        return skops.io


FORMAT = "genrekit-model"
FORMAT_VERSION = 1
MANIFEST = "genrekit.json"
# The two payloads a model file may hold, and so the only members its archive may list.
_PAYLOADS = ({"pipeline.skops"}, {"scaler.skops", "booster.json"})
_MEMBERS = {MANIFEST, *set().union(*_PAYLOADS)}


@dataclass
class GenreModel:
    """A fitted genre classifier with everything needed to use and describe it.

    Attributes
    ----------
    name : str
        The model's name (a key of :data:`genrekit.models.MODELS`, such as ``musicnn-prior``).
    labels : list[str]
        Its genres: genre ``i`` is the estimator's class ``i`` and :meth:`predict_proba`'s
        column ``i``.
    spec : FeatureSpec
        The features it was fitted on, which the rows it is given must be.
    estimator : Pipeline
        The fitted scikit-learn pipeline (see :func:`genrekit.models.make_model`).
    params : dict
        The hyperparameters its search chose; empty without a search.
    metrics : dict
        Its test metrics summary (and ``cv`` where scored), as recorded when it was trained.
    training : dict
        Its training record (:func:`genrekit.train.training_record`): the dataset, split, seed
        and the hashes of the tracks it was fitted on.
    aggregation : str
        How chunk probabilities make a song's: ``mean`` or ``vote``.
    genrekit_version : str
        The genrekit that made it (default: this one); ``unknown`` for a file that does not say.
    """

    name: str
    labels: list[str]
    spec: FeatureSpec
    estimator: Pipeline
    params: dict = field(default_factory=dict)
    metrics: dict = field(default_factory=dict)
    training: dict = field(default_factory=dict)
    aggregation: str = "mean"
    genrekit_version: str = __version__

    def __post_init__(self):
        problem = _model_problem(self.labels, self.estimator)
        if problem:
            raise ParameterError(problem)

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        """Genre probabilities of feature rows.

        Parameters
        ----------
        X : np.ndarray [shape=(n, n_features)]

        Returns
        -------
        P : np.ndarray [shape=(n, len(labels))], rows summing to 1

        Raises
        ------
        ModelError
            ``X`` is not a table with one column per feature of ``spec``.
        """
        X = np.asarray(X, dtype=np.float64)
        if X.ndim != 2 or X.shape[1] != len(self.spec.columns):
            raise ModelError(
                f"model {self.name!r} expects {len(self.spec.columns)} {self.spec.name} features per row, got shape {X.shape}"
            )
        return predict_proba(self.estimator, X, len(self.labels))

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


def _model_problem(labels, estimator) -> str | None:
    """Why ``estimator`` cannot stand behind ``labels`` (genre ``i``, column ``i`` of its
    probabilities), as ``field: expected ..., found ...``; None where it can. A fitted pipeline's
    classes are genre indices (each below ``len(labels)``: a training part that lacked a genre
    gives it no column, and :func:`predict_proba` fills it with 0) or the genre names themselves,
    in ``labels``' order: anything else would give another genre's probability under a name."""
    from sklearn.exceptions import NotFittedError
    from sklearn.utils.validation import check_is_fitted

    if not isinstance(labels, list) or not labels or not all(isinstance(g, str) and g for g in labels):
        return f"labels: expected a list of genre names, found {describe_value(labels)}"
    if len(set(labels)) != len(labels):
        return f"labels: expected each genre once, found {describe_value(labels)}"
    if not isinstance(estimator, Pipeline):
        return f"estimator: expected a fitted scikit-learn Pipeline, found {type(estimator).__name__}"
    try:
        check_is_fitted(estimator)
    except NotFittedError:
        return "estimator: expected a fitted pipeline, found one not fitted (fit it before making a GenreModel)"
    classes = getattr(estimator, "genre_columns_", getattr(estimator, "classes_", None))
    if classes is None:
        return "estimator: expected a classifier with classes_, found none"
    classes = np.asarray(classes)
    if classes.dtype.kind in "iu":
        if len(np.unique(classes)) != len(classes) or classes.min() < 0 or classes.max() >= len(labels):
            return (f"labels: {len(labels)} genres, and the estimator's classes_ are {describe_value(classes.tolist())}; "
                    f"expected genre indices 0-{len(labels) - 1}, each once")
        return None
    if [str(c) for c in classes] != labels:
        return (f"labels: expected the estimator's classes_ in their order, {describe_value([str(c) for c in classes])}, "
                f"found {describe_value(labels)}")
    return None


def _jsonable(value):
    return json.loads(json.dumps(value, default=lambda v: v.item() if hasattr(v, "item") else str(v)))


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def save_model(model: GenreModel, path: str | os.PathLike) -> Path:
    """Write ``model`` to ``path`` atomically (a temporary file renamed into place).

    An XGBoost classifier is saved as ``scaler.skops`` (every pipeline step before it) plus
    its booster's JSON (``booster.json``), any other pipeline as ``pipeline.skops``; ``genrekit.json`` holds
    :meth:`GenreModel.manifest` and the SHA-256 of each payload member.

    Parameters
    ----------
    model : GenreModel
        The fitted model.
    path : path
        The model file to write, ending in ``.genrekit`` (its folder is created if missing).

    Returns
    -------
    Path
        ``path``.

    Raises
    ------
    ParameterError
        ``model`` is not a GenreModel, or ``path`` does not end in ``.genrekit``.
    """
    if not isinstance(model, GenreModel):
        raise ParameterError(f"model: expected a GenreModel (what genrekit.train_model trains, or load_model "
                             f"reads), found {type(model).__name__}"
                             + (" (genrekit.load's adapters are saved as the files they came from)"
                                if hasattr(model, "predict_proba") else ""))
    path = Path(path_given(path))
    if path.suffix.lower() != ".genrekit":  # load() goes by the ending: .onnx or .safetensors would be read as such
        raise ParameterError(f"{path}: a classical model file ends in .genrekit (load() knows a file's kind by its "
                             f"ending), found {path.suffix or 'no ending'!r}")
    clf = model.estimator[-1]
    if type(clf).__module__.split(".")[0] == "xgboost":  # never imports xgboost for other models
        payload = {
            "scaler.skops": skops_io().dumps(Pipeline(model.estimator.steps[:-1])),
            "booster.json": bytes(clf.get_booster().save_raw(raw_format="json")),
        }
    else:
        payload = {"pipeline.skops": skops_io().dumps(model.estimator)}
    for name, data in payload.items():
        if name.endswith(".skops"):  # a file load_model would refuse is not written
            _check_loadable(data, path)
    manifest = model.manifest()
    manifest["payload"] = {name: _sha256(data) for name, data in payload.items()}
    with atomic_path(path) as temporary, zipfile.ZipFile(temporary, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(MANIFEST, json.dumps(manifest, indent=2))
        for name, data in payload.items():
            archive.writestr(name, data)
    return path


def _check_loadable(data: bytes, path: Path) -> None:
    """A ParameterError where :func:`load_model` would refuse the pipeline ``data`` (types outside
    the allow-list of genrekit's own models), said in a writer's terms."""
    try:
        trusted = check_skops_payload(data, str(path))
    except ModelError as exc:
        if "refuses to load " not in str(exc):  # a size, depth or schema limit: said as it is
            raise ParameterError(f"{path}: not written: load_model would refuse it: {str(exc).split(': ', 1)[-1]}") from None
        foreign = str(exc).split("refuses to load ", 1)[-1].split(": not among", 1)[0]
    else:
        foreign = ", ".join(sorted(set(skops_io().get_untrusted_types(data=data)) - set(trusted)))
    if foreign:
        raise ParameterError(f"{path}: not written: its pipeline holds {foreign}, outside the types genrekit's model "
                             "files load (those of genrekit.models.make_model's pipelines), so load_model would "
                             "refuse the file")


def _load_skops(data: bytes, where: str) -> Pipeline:
    trusted = check_skops_payload(data, where)
    sio = skops_io()
    try:  # skops audits every type before it constructs anything: one walk of the tree, not two
        estimator = sio.loads(data, trusted=trusted)
    except sio.exceptions.UntrustedTypesFoundException:
        # names skops finds inside a node's content, such as a numpy bit generator's; the exception
        # keeps them only in its message, so a refused file's tree is walked again to name them
        foreign = ", ".join(sorted(set(sio.get_untrusted_types(data=data)) - set(trusted)))
        raise ModelError(f"{where}: refuses to load {foreign}: not among the types a genrekit model contains") from None
    if not isinstance(estimator, Pipeline):
        raise ModelError(f"{where}: expected a scikit-learn Pipeline, found {type(estimator).__name__}")
    return estimator


def read_manifest(path: str | os.PathLike) -> dict:
    """The JSON description of a model file, checked against its schema, without loading the estimator.

    Parameters
    ----------
    path : path
        A ``.genrekit`` model file.

    Returns
    -------
    dict
        Its ``genrekit.json`` as the file holds it: :meth:`GenreModel.manifest`'s fields (an
        older file may lack the optional ones) and ``payload`` (member name -> SHA-256). The
        payload's checksums are not verified here (:func:`load_model` does that).

    Raises
    ------
    ModelError
        The file is missing, not a zip archive or not a genrekit model file, fails the
        archive's checks (size caps, members it may not hold), is of a newer format, or its
        description fails the schema.
    """
    path = Path(path_given(path))
    return _manifest(_read_members(path), path)


def _read_members(path: Path) -> dict[str, bytes]:
    if not path.is_file():
        raise ModelError(f"{path}: model file not found" + (
            " (this reads a classical .genrekit file; genrekit.load opens any model: 'default', a run folder, "
            ".safetensors or .onnx)" if path.is_dir() or path.suffix.lower() != ".genrekit" else ""))
    return read_archive(str(path), f"{path}", kind="a genrekit model file", required=MANIFEST, allowed=_MEMBERS)


def _manifest(members: dict[str, bytes], path: Path) -> dict:
    where = f"{path}:{MANIFEST}"
    manifest = parse_json(members[MANIFEST], where)
    if not isinstance(manifest, dict):
        raise ModelError(f"{where}: expected a JSON object, found {type(manifest).__name__}")
    if manifest.get("format") != FORMAT:
        raise ModelError(f"{path}: not a genrekit model file (format {describe_value(manifest.get('format'))})")
    version = require(manifest, "format_version", int, where)
    if version > FORMAT_VERSION:
        raise ModelError(
            f"{path}: model format {version} is newer than this genrekit reads ({FORMAT_VERSION}); upgrade genrekit"
        )
    require(manifest, "model", str, where)
    require_labels(manifest, where)
    features = require(manifest, "features", dict, where)
    require(features, "name", str, f"{where}: features")
    require_feature_fields(features, where)
    for key in ("params", "metrics", "training"):
        require(manifest, key, dict, where, optional=True)
    require_training_hashes(manifest, where)
    for key in ("genrekit_version", "kind"):
        require(manifest, key, str, where, optional=True)
    aggregation = require(manifest, "aggregation", str, where, optional=True)
    if aggregation not in (None, "mean", "vote"):
        raise ModelError(f"{where}: field 'aggregation' must be 'mean' or 'vote', found {describe_value(aggregation)}")
    payload = require(manifest, "payload", dict, where)
    if set(payload) not in _PAYLOADS:
        raise ModelError(f"{where}: field 'payload' must list {' or '.join(map(str, map(sorted, _PAYLOADS)))}, "
                         f"found {describe_value(sorted(payload))}")
    for name in payload:
        digest = require(payload, name, str, f"{where}: payload")
        if len(digest) != 64 or any(c not in "0123456789abcdef" for c in digest):
            raise ModelError(f"{where}: payload {name} must have a SHA-256 hex digest, found {describe_value(digest)}")
    return manifest


def load_model(path: str | os.PathLike) -> GenreModel:
    """Read a model file written by :func:`save_model` as untrusted input: bounded archive,
    checked description, verified checksums, and only allow-listed types constructed.

    Parameters
    ----------
    path : path
        A ``.genrekit`` model file.

    Returns
    -------
    GenreModel
        Fields missing from an older file take their defaults (``aggregation`` ``mean``,
        ``genrekit_version`` ``unknown``).

    Raises
    ------
    ModelError
        The file is missing, not a genrekit model file, of a newer format, fails its schema,
        a checksum or the allow-list, needs xgboost that is not installed, or its payload
        cannot be read or does not fit its features and labels.
    """
    path = Path(path_given(path))
    members = _read_members(path)
    manifest = _manifest(members, path)
    payload = {}
    for name, digest in manifest["payload"].items():
        if name not in members:
            raise ModelError(f"{path}: payload member {name} missing")
        if _sha256(members[name]) != digest:
            raise ModelError(f"{path}: checksum mismatch for {name}; the file was modified or is corrupt")
        payload[name] = members[name]

    try:
        if "booster.json" in payload:
            scaler = _load_skops(payload["scaler.skops"], f"{path}:scaler.skops")
            try:
                from xgboost import XGBClassifier
            except ImportError as exc:
                raise ModelError(f"{path}: an XGBoost model; install xgboost to load it "
                                 "(pip install 'genrekit[full]')") from exc
            spec = FeatureSpec.from_dict(manifest["features"])
            check_booster(payload["booster.json"], len(spec.columns), len(manifest["labels"]), f"{path}:booster.json")
            clf = XGBClassifier()
            clf.load_model(bytearray(payload["booster.json"]))
            estimator = Pipeline([*scaler.steps, ("clf", clf)])
        else:
            estimator = _load_skops(payload["pipeline.skops"], f"{path}:pipeline.skops")
        spec = FeatureSpec.from_dict(manifest["features"])
        check_fitted_arrays(estimator, len(spec.columns), len(manifest["labels"]), f"{path}")
    except ModelError:
        raise
    except Exception as exc:
        raise ModelError(f"{path}: model payload cannot be read ({type(exc).__name__}: {exc})") from exc
    try:
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
    except ParameterError as exc:  # its labels do not fit its pipeline: the file's fault, not the caller's
        raise ModelError(f"{path}: {exc}") from exc

