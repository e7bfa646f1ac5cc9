"""One door to every model. :func:`load` opens any model file, or ``"default"``, and returns a
:class:`GenreClassifier`. predict, evaluate, serve, tag, export and the CLI use that interface
and never ask what kind of model they hold.

Kinds behind the door, one adapter each: a classical model (``.genrekit``: features, then a
scikit-learn/XGBoost pipeline), a network (``.safetensors``), and their ONNX exports
(``.onnx``, run by onnxruntime without PyTorch or scikit-learn). This module imports neither
scikit-learn nor PyTorch itself; an adapter loads what its kind needs.
"""

from __future__ import annotations

import functools
import os
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace
from typing import TYPE_CHECKING, Protocol, runtime_checkable

import numpy as np

from genrekit import __version__
from genrekit._renamed import renamed_keywords
from genrekit.audio.chunking import SEGMENT_SECONDS
from genrekit.features.limits import require_feature_fields
from genrekit.untrusted import (MAX_ONNX_BYTES, describe_value, onnx_refusals, parse_json, require,
                                require_labels, require_training_hashes, training_hashes,
                                training_listed, training_spellings, training_track_ids)

if TYPE_CHECKING:  # the ONNX runtime path must not import scikit-learn
    from genrekit.models.artifact import GenreModel

# The name that stands for genrekit's own model wherever a model file is asked for: its light
# ONNX export where onnxruntime is installed, else its model file.
DEFAULT = "default"
# genrekit's own model file by name: both taggers on every patch (slower; the exact features).
DEFAULT_EXACT = "default-exact"
# Every name that stands for a shipped model -> default_model_path's ``onnx``.
NAMED_MODELS = {DEFAULT: None, DEFAULT_EXACT: False}
# The model file that `genrekit train` writes into its run folder, by kind.
RUN_FOLDER_FILES = ("model.genrekit", "model.safetensors", "model.onnx")


def model_named_by(path: str | os.PathLike) -> str | None:
    """What ``path`` is, where it names a model rather than audio or a dataset: ``a model
    file`` (a model file's suffix), ``a run folder holding a model`` (a folder holding one of
    :data:`RUN_FOLDER_FILES`), ``genrekit's own model`` (a name of :data:`NAMED_MODELS` that no
    file bears), else None. For telling a model given in a song's or a dataset's place."""
    if str(path) in NAMED_MODELS and not os.path.lexists(path):
        return "genrekit's own model"
    path = Path(path)
    if path.suffix.lower() in {Path(name).suffix for name in RUN_FOLDER_FILES}:
        return "a model file"
    try:
        if path.is_dir() and any((path / name).is_file() for name in RUN_FOLDER_FILES):
            return "a run folder holding a model"
    except OSError:  # a name the file system refuses: no model
        return None
    return None


#: The ending of an exported model file: :func:`load` knows a file's kind by its ending
ONNX_SUFFIX = ".onnx"


@dataclass
class ChunkAnalysis:
    """What a model says of chunks of audio (:meth:`GenreClassifier.analyse`).

    Attributes
    ----------
    proba : np.ndarray [shape=(n_chunks, n_genres)], as :meth:`GenreClassifier.predict_proba`
    styles : np.ndarray [shape=(n_chunks, n_styles)], the probability of each of the model's
        ``styles`` (:mod:`genrekit.models.styles`); None for a model without styles
    windows : for each chunk, [shape=(n_windows, n_genres)]: the genre probabilities of its
        consecutive windows of about ``window_seconds`` (a finer timeline than the chunks);
        None where the chunks are the model's finest resolution
    music : np.ndarray [shape=(n_chunks,)], the probability that each chunk is music
        (:mod:`genrekit.models.music`); None for a model without the detector's features
    window_music : for each chunk, [shape=(n_windows,)]: the probability that each of its
        ``windows`` is music; None where ``windows`` or ``music`` is
    """

    proba: np.ndarray
    styles: np.ndarray | None = None
    windows: list[np.ndarray] | None = None
    music: np.ndarray | None = None
    window_music: list[np.ndarray] | None = None


@runtime_checkable
class GenreClassifier(Protocol):
    """What every stage above ``models`` needs from a model, whatever its kind.

    Attributes
    ----------
    name : the model's or preset's name (``musicnn-prior``, ``cnn``, ...)
    kind : ``classical``, ``network``, ``onnx-classical`` or ``onnx-network`` (for display only)
    labels : its genres, in the order of :meth:`predict_proba`'s columns
    sample_rate : the rate (Hz) chunks must be given at
    chunk_seconds : the length of one chunk
    min_seconds : the shortest audio it can score
    pad : whether a short last chunk is zero-padded to ``chunk_seconds`` (networks) or
        used as it is (feature models)
    aggregation : how chunk probabilities make a song's: ``mean`` or ``vote``
    trained_on : SHA-256 of the file of every track it was trained (or validated) on
    trained_on_audio : SHA-256 of those files' decoded audio (:func:`genrekit.audio.audio_hash`),
        which a copy with rewritten tags or a lossless re-encode keeps; empty for models
        trained before it was recorded
    trained_on_opening : SHA-256 of their first 10 s of decoded audio
        (:func:`genrekit.audio.opening_hash`), which a copy cut shorter or longer keeps;
        empty for models trained before 2026-12-02
    metrics : its test metrics, as recorded when it was trained
    takes_images : whether spectrogram image files are its input (image networks)
    styles : the styles it tags beyond its genres (:mod:`genrekit.models.styles`), or empty
    style_thresholds : style -> the probability from which it is present (None without styles)
    window_seconds : the length of the windows of :meth:`analyse`, or None
    learned_chunk_seconds : the chunk length it learned from (and was calibrated on) where a
        ``segment_seconds`` may give it another (models on features); None where its chunk
        length is fixed (networks)
    genre_spellings : a model trained on a library's own tags: genre -> the spellings of the
        owners' tags it was learned from (``hiphop``: ``Hip Hop``, ``hip-hop``); else empty
    source : the file it was loaded from (empty for a model made in memory)
    file_format : ``genrekit``, ``safetensors`` or ``onnx``: the file it was read from, or that
        it is saved as where it was made in memory (a classical model: ``genrekit``)
    trained_track_ids : the ids of the tracks it was trained on, as their dataset named them
        (``blues.00000``); empty where the file does not list them
    training_listed : False where its export left out which tracks it was trained on
        (``--strip-training``), so none can be recognised
    """

    name: str
    kind: str
    labels: list[str]
    sample_rate: int
    chunk_seconds: float
    min_seconds: float
    pad: bool
    aggregation: str
    trained_on: frozenset[str]
    trained_on_audio: frozenset[str]
    trained_on_opening: frozenset[str]
    metrics: dict
    takes_images: bool
    styles: list[str]
    style_thresholds: dict[str, float] | None
    window_seconds: float | None
    learned_chunk_seconds: float | None
    genre_spellings: dict[str, list[str]]
    trained_track_ids: tuple[str, ...]
    training_listed: bool
    source: str | os.PathLike
    file_format: str

    def predict_proba(self, chunks: Sequence[np.ndarray]) -> np.ndarray:
        """Genre probabilities of each chunk of mono audio at ``sample_rate``.

        Parameters
        ----------
        chunks : sequence of np.ndarray [shape=(n_samples,)], n_chunks of them
            Mono float32 audio at ``sample_rate``, ``n_samples = round(chunk_seconds *
            sample_rate)`` (a short last chunk zero-padded where ``pad``, else shorter), as
            :func:`genrekit.audio.chunking.song_chunks` gives them; an np.ndarray
            [shape=(n_chunks, n_samples)] is such a sequence.

        Returns
        -------
        P : np.ndarray [shape=(n_chunks, n_labels)]
            Columns in the order of ``labels``; rows summing to 1.
        """

    def analyse(self, chunks: Sequence[np.ndarray]) -> ChunkAnalysis:
        """:meth:`predict_proba`, with the chunks' style probabilities and window
        probabilities where the model gives them (one pass over the audio)."""

    def predict_image(self, path: str | os.PathLike) -> np.ndarray:
        """[shape=(1, len(labels))] for a spectrogram image file (when ``takes_images``)."""

    def manifest(self) -> dict:
        """The model's description in one schema for every kind (see :func:`describe`)."""


def checked_chunks(model: GenreClassifier, chunks: Sequence[np.ndarray]) -> list[np.ndarray]:
    """``chunks`` as :meth:`GenreClassifier.predict_proba` takes them, float32, or a
    ParameterError naming the first chunk that is not mono float audio at the model's rate
    and length: a stereo array (soundfile's (n_samples, 2)) read as thousands of 2-sample
    chunks would take all the memory, and integer or non-finite samples the feature code's
    own errors."""
    from genrekit.errors import ParameterError

    if isinstance(chunks, np.ndarray) and chunks.ndim == 0:
        raise ParameterError("chunks: a 0-d array; expected a sequence of 1-D audio arrays")
    if isinstance(chunks, np.ndarray) and chunks.ndim == 1:
        raise ParameterError(f"chunks: a 1-D array of {len(chunks)} samples; expected a sequence of chunks "
                             "(a list of 1-D arrays, or a 2-D array of one chunk per row): [y] for one chunk")
    if isinstance(chunks, (str, bytes, os.PathLike)) or not isinstance(chunks, (Sequence, np.ndarray)):
        raise ParameterError(f"chunks: expected a sequence of 1-D audio arrays, found {type(chunks).__name__} "
                             "(for a file: genrekit.predict_file)")
    if len(chunks) == 0:
        raise ParameterError("chunks: expected at least one chunk of audio, found none")
    sr, longest = model.sample_rate, int(round(model.chunk_seconds * model.sample_rate))
    shortest = int(np.floor(model.min_seconds * sr))
    checked = []
    for i, y in enumerate(chunks):
        found = (f"found {type(y).__name__}" if not isinstance(y, np.ndarray)
                 else f"found shape {y.shape}, dtype {y.dtype}")
        if not isinstance(y, np.ndarray) or y.ndim != 1:
            raise ParameterError(f"chunks[{i}]: expected mono audio as a 1-D array, {found} (stereo from "
                                 "soundfile is (n_samples, channels): y.mean(axis=1))")
        if not np.issubdtype(y.dtype, np.floating):
            from genrekit.audio.io import pcm_hint

            raise ParameterError(f"chunks[{i}]: expected float audio in [-1, 1], {found}" + pcm_hint(y))
        # a whole chunk is always the model's (a feature set's --chunk 1 is under its 3 s minimum);
        # a shorter piece, as song_chunks cuts a song's last, must reach the model's minimum
        if (model.pad and len(y) != longest) or (not model.pad and len(y) < min(shortest, longest)):
            length = (f"{longest} samples" if model.pad else
                      f"at least {min(shortest, longest)} samples ({min(model.min_seconds, model.chunk_seconds):g} s)")
            raise ParameterError(f"chunks[{i}]: expected {length} at {sr} Hz, found {len(y)} "
                                 f"(genrekit.audio.chunking.song_chunks cuts a song for a model)")
        if not np.isfinite(y).all():
            raise ParameterError(f"chunks[{i}]: {int(np.count_nonzero(~np.isfinite(y)))} non-finite samples "
                                 "(NaN or infinity); expected finite audio")
        checked.append(y if y.dtype == np.float32 else y.astype(np.float32))
    return checked


def _checking_chunks(method):
    """``method`` (predict_proba or analyse) with its chunks checked first (:func:`checked_chunks`)."""
    @functools.wraps(method)
    def checked(self, chunks, *args, **kwargs):
        return method(self, checked_chunks(self, chunks), *args, **kwargs)

    checked.checks_chunks = True
    return checked


class Adapter:
    """What the adapters share: the manifest, the refusal of images, and no styles or
    windows unless the kind gives them. Every adapter's ``predict_proba`` and ``analyse``
    check their chunks first (:func:`checked_chunks`), its own ones too."""

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        for name in ("predict_proba", "analyse"):
            method = cls.__dict__.get(name)
            if method is not None and not getattr(method, "checks_chunks", False):
                setattr(cls, name, _checking_chunks(method))

    takes_images = False
    kind = ""
    file_format = ""
    source = ""
    styles: list[str] = []
    style_thresholds: dict[str, float] | None = None
    window_seconds: float | None = None
    learned_chunk_seconds: float | None = None
    genre_spellings: dict[str, list[str]] = {}
    trained_on_audio: frozenset[str] = frozenset()
    trained_on_opening: frozenset[str] = frozenset()
    trained_track_ids: tuple[str, ...] = ()
    training_listed = True

    @_checking_chunks
    def analyse(self, chunks: Sequence[np.ndarray]) -> ChunkAnalysis:
        return ChunkAnalysis(self.predict_proba(chunks))

    def predict_image(self, path: str | os.PathLike) -> np.ndarray:
        from genrekit.errors import ParameterError

        raise ParameterError(f"{path}: {self.name} takes audio, not spectrogram images")

    def manifest(self) -> dict:
        return describe(self, self._details())

    def _details(self) -> dict:
        return {}


def describe(model: GenreClassifier, details: dict | None = None) -> dict:
    """The one manifest schema: ``model``, ``kind``, ``format``, ``labels``, ``sample_rate``,
    ``chunk_seconds``, ``min_seconds``, ``aggregation``, ``metrics``, ``training``
    (``content_sha256``, ``audio_sha256`` and ``opening_sha256``: the training files, their
    decoded audio and its first 10 s),
    ``source`` (the file), ``genrekit_version``
    and the kind's own ``details`` (feature set or network front end).

    Parameters
    ----------
    model : GenreClassifier
        The model described; ``format`` and ``source`` are empty for a model made in memory.
    details : dict, optional
        The kind's own fields (default: none).

    Returns
    -------
    dict
        The manifest; ``training``'s hashes sorted, ``genrekit_version`` this genrekit's.
    """
    return {
        "model": model.name, "kind": model.kind, "format": model.file_format,
        "labels": list(model.labels), "sample_rate": int(model.sample_rate),
        "chunk_seconds": float(model.chunk_seconds), "min_seconds": float(model.min_seconds),
        "aggregation": model.aggregation, "metrics": dict(model.metrics),
        "training": {"content_sha256": sorted(model.trained_on),
                     "audio_sha256": sorted(model.trained_on_audio),
                     "opening_sha256": sorted(model.trained_on_opening)},
        "source": os.fspath(model.source or ""), "genrekit_version": __version__,
        "details": details or {},
    }


@renamed_keywords(jobs="n_jobs")
def exclude_training(paths: Iterable[str], model: GenreClassifier, *, by_audio: bool = True,
                     n_jobs: int = 1) -> tuple[list[str], list[str]]:
    """Split ``paths`` into those ``model`` was not trained on and those it was. By content,
    so renamed, moved or copied training files are recognised too: the file's SHA-256, else
    (``by_audio``, models that record them) its decoded audio's, which a copy with rewritten
    tags or a lossless re-encode keeps, or that of its first 10 s, which a copy cut shorter
    or longer keeps (a model trained on a clip's start, scored on the whole clip); that
    decodes each file not matched by its bytes, in
    ``n_jobs`` threads (decoding and hashing run outside the GIL). URLs are kept (their files
    would be fetched just for this), and so are files that cannot be read: their analysis
    reports why.

    Parameters
    ----------
    paths : iterable of str
        Local files or URLs.
    model : GenreClassifier
        Its ``trained_on``, ``trained_on_audio`` and ``trained_on_opening`` hashes are compared.
    by_audio : bool
        Also compare the decoded audio's hashes (models that record them).
    n_jobs : int
        Threads that hash the files (1: in this thread).

    Returns
    -------
    kept : list of str
        The paths it was not trained on (URLs and unreadable files included), in input order.
    excluded : list of str
        The paths it was trained on, in input order.
    """
    from concurrent.futures import ThreadPoolExecutor

    from genrekit.audio import remote

    paths = list(paths)

    def seen(path: str) -> bool:
        return not remote.is_url(path) and seen_in_training(path, model, by_audio=by_audio)

    if n_jobs > 1 and len(paths) > 1:
        with ThreadPoolExecutor(max_workers=n_jobs) as pool:
            answers = list(pool.map(seen, paths))
    else:
        answers = [seen(path) for path in paths]
    kept = [path for path, answer in zip(paths, answers) if not answer]
    excluded = [path for path, answer in zip(paths, answers) if answer]
    return kept, excluded


def seen_in_training(path: str | os.PathLike, model: GenreClassifier, *, by_audio: bool = True) -> bool:
    """Whether the local file ``path`` is one ``model`` was trained on, by its bytes or
    (``by_audio``) its decoded audio, whole or its first 10 s (see :func:`exclude_training`).

    Parameters
    ----------
    path : path
        A local file.
    model : GenreClassifier
        Its ``trained_on``, ``trained_on_audio`` and ``trained_on_opening`` hashes are compared.
    by_audio : bool
        Where the bytes do not match, compare the decoded audio's hashes (models that record them).

    Returns
    -------
    bool
        False also where the file cannot be read or decoded.
    """
    from genrekit.audio import audio_hash, content_hash, opening_hash
    from genrekit.errors import AudioError

    openings = model.trained_on_opening
    try:
        return bool(model.trained_on and content_hash(path) in model.trained_on
                    or by_audio and model.trained_on_audio and audio_hash(path) in model.trained_on_audio
                    or by_audio and openings and opening_hash(path) in openings)
    except AudioError:
        return False


class ClassicalClassifier(Adapter):
    """A classical model (``model.genrekit``): its features of each chunk, then its classifier.

    Chunks are the model's own chunk length, or ``segment_seconds`` (default 30 s, the
    length of the GTZAN and FMA clips such models are trained on) for models that describe
    a whole clip by one feature vector. A short last chunk is used as it is.
    """

    pad = False
    kind = "classical"
    file_format = "genrekit"

    def __init__(self, model: GenreModel, *, segment_seconds: float | None = None, source: str | os.PathLike = ""):
        self.model = model
        self.source = source
        self._configure(model.manifest(), model.spec, segment_seconds)

    def _configure(self, manifest: dict, spec, segment_seconds: float | None) -> None:
        self.spec = spec
        self.name = manifest["model"]
        self.labels = list(manifest["labels"])
        self.aggregation = manifest.get("aggregation", "mean")
        self.sample_rate = spec.sample_rate
        self.learned_chunk_seconds = spec.chunk_duration or SEGMENT_SECONDS
        self.chunk_seconds = segment_seconds if segment_seconds is not None else self.learned_chunk_seconds
        self.min_seconds = spec.min_duration
        shortest = min(self.min_seconds, spec.chunk_duration or self.min_seconds)  # what it was trained on
        if segment_seconds is not None and segment_seconds < shortest:
            from genrekit.errors import ParameterError

            raise ParameterError(f"segment_seconds={segment_seconds:g}: {self.name} describes chunks of at least "
                                 f"{shortest:g} s of audio")
        self.trained_on, self.trained_on_audio, self.trained_on_opening = training_hashes(manifest)
        self.trained_track_ids, self.training_listed = training_track_ids(manifest), training_listed(manifest)
        self.genre_spellings = training_spellings(manifest, os.fspath(self.source) or self.name)
        self.metrics = dict(manifest.get("metrics", {}))
        self._patch_models = _musicnn_models(spec)
        self._level = getattr(spec, "level_dbfs", None)
        self._style_columns = _style_columns(spec, self._patch_models)
        self.styles = list(self._style_columns)
        self.style_thresholds = _style_thresholds(self._level) if self.styles else None
        self._music_columns = _music_columns(spec, self._patch_models)
        if self._patch_models and spec.chunk_duration is None:
            from genrekit.features.musicnn import PATCH_SECONDS, WINDOW_PATCHES

            self.window_seconds = WINDOW_PATCHES * PATCH_SECONDS

    def predict_proba(self, chunks: Sequence[np.ndarray]) -> np.ndarray:
        """[shape=(len(chunks), n_genres)]: a chunk's feature rows' probabilities, averaged."""
        return np.stack([self._proba(self.spec.compute(y, self.sample_rate)).mean(axis=0) for y in chunks])

    def analyse(self, chunks: Sequence[np.ndarray]) -> ChunkAnalysis:
        """Models on musicnn features of whole segments compute each patch's features once
        and pool them over the segment and over its windows; others, :meth:`predict_proba`
        (with the styles of their feature rows where those hold musicnn's tags)."""
        if self.window_seconds is None:
            rows = [self.spec.compute(y, self.sample_rate) for y in chunks]
            proba = np.stack([self._proba(r).mean(axis=0) for r in rows])
            pooled = np.stack([r.mean(axis=0) for r in rows])
            return ChunkAnalysis(proba, self._styles(pooled), music=self._music(pooled))
        from genrekit.features.musicnn import patch_features, pooling_matrix

        proba, features, windows, window_music = [], [], [], []
        for y in chunks:
            patches = patch_features(y=_levelled(self.spec, y), sr=self.sample_rate, models=self._patch_models)
            rows, p = self._pooled_proba(patches, pooling_matrix(len(patches)))
            proba.append(p[0])
            windows.append(p[1:])
            features.append(rows[0])
            window_music.append(self._music(rows[1:]))
        features = np.stack(features)
        music = self._music(features)
        return ChunkAnalysis(np.stack(proba), self._styles(features), windows, music,
                             None if music is None else window_music)

    def _pooled_proba(self, patches: np.ndarray, pooling: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        rows = (pooling.astype(np.float64) @ patches.astype(np.float64))
        return rows, self._proba(rows)

    def _styles(self, rows: np.ndarray) -> np.ndarray | None:
        if not self._style_columns:
            return None
        from genrekit.models.styles import style_probabilities

        return style_probabilities(rows, self._style_columns)

    def _music(self, rows: np.ndarray) -> np.ndarray | None:
        if self._music_columns is None:
            return None
        from genrekit.models.music import music_probability

        return music_probability(rows, self._music_columns, self._level)

    def _proba(self, features: np.ndarray) -> np.ndarray:
        return self.model.predict_proba(features)

    def _details(self) -> dict:
        return {"features": dict(vars(self.spec)) if isinstance(self.spec, SimpleNamespace) else self.spec.to_dict()}


class OnnxClassicalClassifier(ClassicalClassifier):
    """A classical model exported to ONNX (see :mod:`genrekit.export`): genrekit computes
    its features, onnxruntime runs its pipeline."""

    kind = "onnx-classical"
    file_format = "onnx"

    def __init__(self, path: str | os.PathLike, *, segment_seconds: float | None = None, threads: int = 0,
                 opened: tuple | None = None):
        self.source = path
        self.session, self.config = opened or open_onnx(path, threads)  # its feature set checked there
        from genrekit.errors import GenrekitError, ModelError

        try:
            spec = self._feature_spec(self.config["features"])
        except (GenrekitError, TypeError, ValueError) as exc:  # a feature set this genrekit does not know
            raise ModelError(f"{path}: metadata 'genrekit': its feature set cannot be used: {exc}") from exc
        self._configure(self.config, spec, segment_seconds)

    @staticmethod
    def _feature_spec(features: dict):
        from genrekit.features import FeatureSpec

        return FeatureSpec.from_dict(features)

    def _proba(self, features: np.ndarray) -> np.ndarray:
        return _graph_proba(self, run_onnx(self, [self.config["output_name"]],
                                           {self.config["input_name"]: np.asarray(features, dtype=np.float32)})[0])


class OnnxMusicnnClassifier(OnnxClassicalClassifier):
    """A head on the pretrained musicnn exported with the network (see :mod:`genrekit.export`):
    numpy computes musicnn's log-mel patches, onnxruntime the network and the head; neither
    PyTorch, scikit-learn nor librosa is needed. The model file's probabilities, and (files
    that take a pooling matrix) its styles and windows too; a light graph (``genrekit export
    --light``, the shipped default) approximates MTT_musicnn's features (its
    ``heard_stride``), so those come close rather than equal."""

    def __init__(self, path: str | os.PathLike, **options):
        super().__init__(path, **options)
        if not self.config.get("pooling_input"):  # exported before windows and styles: the segment alone
            self.styles, self._style_columns, self.window_seconds, self._music_columns = [], {}, None, None
            self.style_thresholds = None
        #: A light graph's MTT_musicnn hears one patch in this many (its file's; 1: every
        #: patch, the exact features of the model file, slower).
        self.heard_stride = self.config.get("heard_stride", 1)
        if self.config.get("heard_input"):  # tested at load on patches it hears and patches its student fills in
            self.self_test_seconds = SELF_TEST_SECONDS * (self.heard_stride + 1)

    def _details(self) -> dict:
        details = super()._details()
        if isinstance(self.config.get("approximation"), str):  # genrekit export --light: not the exact features
            details["approximation"] = self.config["approximation"][:500]
        return details

    @staticmethod
    def _feature_spec(features: dict):
        # the parameters, without the registry (which imports librosa); unset ones as FeatureSpec's defaults
        return SimpleNamespace(**{"chunk_duration": None, "hop_duration": None, "level_dbfs": None, **features})

    def predict_proba(self, chunks: Sequence[np.ndarray]) -> np.ndarray:
        """As :meth:`ClassicalClassifier.predict_proba`: the probabilities of each feature row, averaged."""
        return self.analyse(chunks).proba

    def analyse(self, chunks: Sequence[np.ndarray]) -> ChunkAnalysis:
        """As :meth:`ClassicalClassifier.analyse`, with the patches pooled in the graph."""
        from genrekit.features.chunks import chunk_signal
        from genrekit.features.musicnn import log_mel_patches, pooling_matrix

        spec, proba, features, windows, window_features = self.spec, [], [], [], []
        for y in chunks:
            if self.window_seconds is None:  # a chunked feature set, or a file without the pooling input
                pieces = [y] if spec.chunk_duration is None else chunk_signal(
                    y, spec.sample_rate, chunk_duration=spec.chunk_duration, hop_duration=spec.hop_duration)[0]
                outputs = [self._run(log_mel_patches(_levelled(spec, piece), sr=spec.sample_rate)) for piece in pieces]
                proba.append(np.mean([p[0] for p, _ in outputs], axis=0))
                if self.config.get("pooling_input"):
                    features.append(np.mean([f[0] for _, f in outputs], axis=0))
                continue
            patches = log_mel_patches(_levelled(spec, y), sr=spec.sample_rate)
            p, f = self._run(patches, pooling_matrix(len(patches)))
            proba.append(p[0])
            windows.append(p[1:])
            features.append(f[0])
            window_features.append(f[1:])
        features = np.stack(features) if features else None
        music = None if features is None else self._music(features)
        windowed = self.window_seconds is not None
        return ChunkAnalysis(np.stack(proba), None if features is None else self._styles(features),
                             windows if windowed else None, music,
                             [self._music(f) for f in window_features] if windowed and music is not None else None)

    def _run(self, patches: np.ndarray, pooling: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray | None]:
        """(probabilities, pooled features or None) of the pooling's rows (default: all patches)."""
        feeds = {self.config["input_name"]: patches}
        if not self.config.get("pooling_input"):
            return _graph_proba(self, run_onnx(self, [self.config["output_name"]], feeds)[0]), None
        from genrekit.features.musicnn import pooling_matrix

        feeds[self.config["pooling_input"]] = pooling_matrix(len(patches))[:1] if pooling is None else pooling
        if self.config.get("heard_input"):  # a light graph: MTT_musicnn on one patch in heard_stride
            from genrekit.features.musicnn import hearing_matrix

            feeds[self.config["heard_input"]] = hearing_matrix(len(patches), self.heard_stride)
        p, f = run_onnx(self, [self.config["output_name"], self.config["features_output"]], feeds)
        p = _graph_proba(self, p)
        return p, f


def _levelled(spec, y: np.ndarray) -> np.ndarray:
    """``y`` at the level the features ``spec`` describes hear it (as it is where none is set)."""
    from genrekit.audio.level import at_level

    return at_level(y, getattr(spec, "level_dbfs", None))


def _style_thresholds(level_dbfs: float | None) -> dict[str, float] | None:
    from genrekit.models.styles import thresholds

    return thresholds(level_dbfs)


def _musicnn_models(spec) -> tuple[str, ...]:
    """The musicnn networks whose per-patch features ``spec`` pools, or () for other features."""
    from genrekit.features.musicnn import BOTH, FEATURE_SETS, TAGGERS

    return TAGGERS if spec.name == BOTH else (FEATURE_SETS[spec.name],) if spec.name in FEATURE_SETS else ()


def _music_columns(spec, musicnn_models: tuple[str, ...]) -> list[int] | None:
    """The music detector's inputs in ``spec``'s feature rows, or None (it needs both taggers,
    and a detector fitted at the features' level)."""
    if not musicnn_models:
        return None
    from genrekit.features.musicnn import column_names
    from genrekit.models.music import detector_columns

    return detector_columns([c for model in musicnn_models for c in column_names(model)],
                            getattr(spec, "level_dbfs", None))


def _style_columns(spec, musicnn_models: tuple[str, ...]) -> dict[str, list[int]]:
    """For each style, its tags' columns in ``spec``'s feature rows (empty without musicnn tags,
    or without thresholds fitted at the features' level)."""
    if not musicnn_models:
        return {}
    from genrekit.features.musicnn import column_names
    from genrekit.models.styles import style_columns

    if _style_thresholds(getattr(spec, "level_dbfs", None)) is None:
        return {}
    return style_columns([c for model in musicnn_models for c in column_names(model)])


# Image networks render their spectrograms from audio at this rate (GTZAN's images).
IMAGE_SAMPLE_RATE = 22050


class NetworkClassifier(Adapter):
    """A network file (``model.safetensors``): its windows (about 3 s) or, for image
    networks, one spectrogram image per 30 s."""

    pad = True
    min_seconds = 0.5
    kind = "network"
    file_format = "safetensors"

    def __init__(self, path: str | os.PathLike):
        from genrekit.models.nets.artifact import load_network

        self.source = path
        self.net, self.config = load_network(path)
        self._configure()

    def _configure(self) -> None:
        from genrekit.models.catalogue import current_preset

        if current_preset(self.config["preset"]) != self.config["preset"]:  # an export saved before a rename
            self.config = {**self.config, "preset": current_preset(self.config["preset"])}
        self.name = self.config["preset"]
        self.labels = self.config["labels"]
        self.aggregation = self.config.get("aggregation", "mean")
        self.trained_on, self.trained_on_audio, self.trained_on_opening = training_hashes(self.config)
        self.trained_track_ids, self.training_listed = training_track_ids(self.config), training_listed(self.config)
        self.metrics = dict(self.config.get("metrics", {}))
        self.takes_images = self.config.get("input_kind") == "image"
        if self.takes_images:
            self.sample_rate, self.chunk_seconds = IMAGE_SAMPLE_RATE, float(self.config["image_seconds"])
        else:
            frontend = self.config["frontend"]
            self.sample_rate = frontend["sample_rate"]
            self.chunk_seconds = (self.config["n_frames"] - 1) * frontend["hop_length"] / self.sample_rate

    def predict_proba(self, chunks: Sequence[np.ndarray]) -> np.ndarray:
        """[shape=(len(chunks), n_genres)] for chunks of ``chunk_seconds`` of audio."""
        return self._proba(self.examples(chunks))

    def examples(self, chunks: Sequence[np.ndarray]) -> np.ndarray:
        """The network's input for chunks of ``chunk_seconds`` of audio: waveforms, or
        spectrogram images for image networks."""
        if self.takes_images:
            from genrekit.features.images import audio_images

            return np.concatenate([audio_images(y, self.sample_rate, seconds=self.chunk_seconds)[0] for y in chunks])
        return np.stack(chunks)

    def predict_image(self, path: str | os.PathLike) -> np.ndarray:
        """[shape=(1, n_genres)] for a spectrogram image file (image networks)."""
        if not self.takes_images:
            return super().predict_image(path)
        from genrekit.features.images import read_image

        return self._proba(read_image(path)[None])

    def _proba(self, examples: np.ndarray) -> np.ndarray:
        import torch

        self.net.eval()
        with torch.no_grad():  # checked as a graph's: a weight's overflow on music is the model's, not the audio's
            return _graph_proba(self, torch.softmax(self.net(torch.from_numpy(examples)), dim=1).numpy())

    def _details(self) -> dict:
        keys = ("preset", "input_kind", "frontend", "n_frames", "image_seconds", "frontend_in_graph")
        return {key: self.config[key] for key in keys if key in self.config}


class OnnxNetworkClassifier(NetworkClassifier):
    """An exported network (``.onnx``, see :mod:`genrekit.export`) run by onnxruntime:
    the same chunks and results as the network file, without PyTorch. Files exported
    without their front end get their log-mel spectrograms from numpy."""

    kind = "onnx-network"
    file_format = "onnx"

    def __init__(self, path: str | os.PathLike, *, threads: int = 0, opened: tuple | None = None):
        self.source = path
        self.session, self.config = opened or open_onnx(path, threads)
        self._configure()
        self.frontend = None
        if not self.config.get("frontend_in_graph", True):
            from genrekit.errors import ModelError, ParameterError
            from genrekit.features.numpy_logmel import NumpyLogMel

            try:
                self.frontend = NumpyLogMel(self.config["frontend"])
            except ParameterError as exc:  # the file's setting, not the caller's
                raise ModelError(f"{path}: metadata 'genrekit': frontend: {exc}") from exc

    def examples(self, chunks: Sequence[np.ndarray]) -> np.ndarray:
        """The graph's input: as the network's, or log-mel spectrograms when the file's
        front end is genrekit's numpy one."""
        examples = super().examples(chunks)
        return examples if self.frontend is None else self.frontend(examples)

    def _proba(self, examples: np.ndarray) -> np.ndarray:
        return _graph_proba(self, run_onnx(self, None, {self.config["input_name"]: examples.astype(np.float32,
                                                                                                  copy=False)})[0])


# The longest one onnxruntime run may take. Each run is one segment of a song (or a batch of
# feature rows); genrekit's own exports take well under a second for that on a laptop's core,
# a large network a few seconds. A run past this is a file that chose its own amount of work (a
# Scan over a 10**12-row input of no size): it is stopped, and the self-test at load refuses
# such a file. onnxruntime looks at the stop between operators only, so one long operator
# (a huge convolution) runs to its end; the command line ends the process on Ctrl+C or SIGTERM
# even then (genrekit.cli.common.STOP_GRACE_SECONDS).
ONNX_RUN_SECONDS = 300.0


def run_onnx(model: GenreClassifier, outputs: list[str] | None, feeds: dict) -> list:
    """``model.session.run(outputs, feeds)``, stopped after :data:`ONNX_RUN_SECONDS`; a run
    that needs more than :data:`ONNX_ARENA_MAX_BYTES` fails with a ModelError that says so."""
    import onnxruntime as ort

    from genrekit.errors import ModelError

    options = ort.RunOptions()
    limit = ONNX_RUN_SECONDS
    timer = threading.Timer(limit, setattr, (options, "terminate", True))
    timer.daemon = True
    timer.start()
    try:
        return model.session.run(outputs, feeds, options)
    except Exception as exc:
        if options.terminate:
            raise ModelError(f"{model.source}: one onnxruntime run took over {limit:g} s and was stopped (a very "
                             "long --segment on a slow machine, or a graph that chooses its own amount of work: a "
                             "corrupt or crafted file)") from exc
        if "bfc_arena" in str(exc):  # the arena's refusal past max_mem
            raise ModelError(f"{model.source}: one onnxruntime run needed more than the "
                             f"{ONNX_ARENA_MAX_BYTES / 2**30:g} GiB that genrekit lets onnxruntime hold in a process "
                             "(ONNX_ARENA_MAX_BYTES): a shorter --segment or fewer --threads need less, and a "
                             "file whose graph asks for that much on a few seconds of audio is crafted") from exc
        from onnxruntime.capi.onnxruntime_pybind11_state import InvalidArgument

        if isinstance(exc, InvalidArgument):  # what was fed (a caller's chunk of another length), not the file
            raise
        # genrekit feeds what the file's checked metadata names: a graph that fails on it is damaged
        raise ModelError(f"{model.source}: onnxruntime could not run the graph ({type(exc).__name__}: "
                         f"{str(exc)[:300]}; a corrupt or crafted file?)") from exc
    finally:
        timer.cancel()


def _graph_proba(model, proba: np.ndarray) -> np.ndarray:
    """A network's or an ONNX graph's probabilities, if they have a column per genre of the
    file's labels (a graph whose width is only known at run time is checked at each run) and
    are probabilities: numbers (a damaged weight can pass the load's self-test on a few seconds
    and overflow on a song), none negative, each row summing to 1 (a graph can give probabilities
    for the self-test's one chunk and anything for a song's several)."""
    from genrekit.errors import ModelError

    if proba.ndim != 2 or proba.shape[1] != len(model.labels):
        raise ModelError(f"{model.source}: the graph gave probabilities of shape {proba.shape} for "
                         f"{len(model.labels)} genres (a corrupt or crafted file)")
    if not np.isfinite(proba).all():
        raise ModelError(f"{model.source}: the graph gave {int(np.sum(~np.isfinite(proba)))} non-finite "
                         f"probabilities of {proba.size} (non-finite or overflowing weights? a corrupt or crafted file)")
    sums = proba.sum(axis=1)
    if len(proba) and (proba.min() < -1e-6 or np.abs(sums - 1.0).max() > 1e-3):  # as the self-test asks
        raise ModelError(f"{model.source}: the graph gave values that are not probabilities (from "
                         f"{float(proba.min()):.3g} to {float(proba.max()):.3g}, rows summing to "
                         f"{float(sums.min()):.3g}..{float(sums.max()):.3g}; a corrupt or crafted file)")
    return proba


# The metadata entry of an exported file that holds its genrekit config (JSON).
ONNX_METADATA_KEY = "genrekit"
# What that config says it is, and the version of its fields (written by the export, whatever
# the version of the .genrekit or .safetensors file exported).
ONNX_FORMAT = "genrekit-onnx"
ONNX_FORMAT_VERSION = 1


# The most onnxruntime's CPU arena may hold in one process, for all its sessions and runs
# together. genrekit's own exports peak at 180-500 MB per process on a 30 s segment (by hand,
# 2026-12-02); a file whose graph asks for more (a ConstantOfShape or Expand to a huge shape)
# gets an error instead of taking the machine's memory. Kernels' own scratch memory is outside
# the arena.
ONNX_ARENA_MAX_BYTES = 4 << 30


@functools.cache
def _register_cpu_arena() -> None:
    import onnxruntime as ort

    memory = ort.OrtMemoryInfo("Cpu", ort.OrtAllocatorType.ORT_ARENA_ALLOCATOR, 0, ort.OrtMemType.DEFAULT)
    ort.create_and_register_allocator(memory, ort.OrtArenaCfg({"arena_extend_strategy": 1,  # kSameAsRequested
                                                               "max_mem": ONNX_ARENA_MAX_BYTES}))


def open_onnx(path: str | os.PathLike, threads: int = 0) -> tuple:
    """An exported file's onnxruntime session (``threads``: its intra-op threads, 0 = its
    default) and the genrekit config stored in the file's metadata."""
    import onnxruntime as ort

    from genrekit.errors import ModelError

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    # fatal only: onnxruntime's errors and warnings on a crafted file reached stderr as kilobytes of
    # coloured C++ log before genrekit's own message, which says what matters (its exception's text)
    options.log_severity_level = 4
    # onnxruntime's memory patterns made the CPU arena grow to about twice a run's needs from
    # the second run on (the default model: 667 MB after one 30 s segment, 1257 MB after any
    # longer song); without them the peak stays at one run's (693 MB), at the same speed (2026-11-30,
    # when the default still convolved every filter)
    options.enable_mem_pattern = False
    # One CPU arena for the process's sessions, grown by what a run asks for: the default arena
    # grows in doubling steps, from the second run on (edge-cnn: 126 -> 143 MB, an hour-long song
    # 1.41x a 30 s clip's peak where issue 20 allows 1.25x); the default model runs as fast.
    _register_cpu_arena()
    options.add_session_config_entry("session.use_env_allocators", "1")
    try:
        with open(path, "rb") as handle:
            size = os.fstat(handle.fileno()).st_size
            if size > MAX_ONNX_BYTES:  # before reading it (a crafted or sparse file of any size)
                raise ModelError(f"{path}: {size} bytes; an ONNX model file genrekit loads takes at most "
                                 f"{MAX_ONNX_BYTES} (its exports take a few MB)")
            data = handle.read(MAX_ONNX_BYTES + 1)
    except OSError as exc:
        raise ModelError(f"{path}: cannot be read ({exc})") from exc
    if len(data) > MAX_ONNX_BYTES:  # grown since its size was read
        raise ModelError(f"{path}: more than {MAX_ONNX_BYTES} bytes; an ONNX model file genrekit loads takes at most "
                         f"{MAX_ONNX_BYTES}")
    refusals = onnx_refusals(data, str(path))
    if refusals:
        raise ModelError(f"{path}: {'; '.join(refusals)} (a corrupt or crafted file, or one made by another tool "
                         "or an older genrekit: export it again from its .genrekit or .safetensors file; see "
                         "genrekit.untrusted.onnx_refusals)")
    # onnxruntime would read a file with "ORTM" at bytes 4-8 as its own format, not the protobuf checked above
    options.add_session_config_entry("session.load_model_format", "ONNX")
    try:
        # Constant folding computes the graph's constant parts while the session is built,
        # before any check, outside the arena and the run timer: 260 kB of Concat and Add on one
        # initializer took 3.4 GB there. Unfolded, they run in the arena, under the timer, at
        # each run; genrekit's exports are folded when written (the default runs as fast).
        session = ort.InferenceSession(data, options, providers=["CPUExecutionProvider"],
                                       disabled_optimizers=["ConstantFolding"])
    except Exception as exc:  # onnxruntime raises its own types for unreadable files
        raise ModelError(f"{path}: not an ONNX file onnxruntime can load ({type(exc).__name__}: {exc})") from exc
    try:
        metadata = session.get_modelmeta().custom_metadata_map
        if ONNX_METADATA_KEY not in metadata:
            raise ModelError(f"{path}: an ONNX file without genrekit's metadata (no {ONNX_METADATA_KEY!r} entry)")
        config = _checked_onnx_config(parse_json(metadata[ONNX_METADATA_KEY], f"{path}: metadata 'genrekit'"),
                                      f"{path}: metadata 'genrekit'")
        _check_graph(session, config, f"{path}: metadata 'genrekit'")
    except UnicodeDecodeError as exc:  # onnxruntime decodes the file's strings (metadata, names) as UTF-8
        raise ModelError(f"{path}: text in the file is not UTF-8 ({exc}); a corrupt or crafted file") from exc
    return session, config


def _check_graph(session, config: dict, where: str) -> None:
    """The metadata must describe the graph it rides with: its input and output names, and as
    many labels as the probability output has columns (a tampered file fails here, not mid-song)."""
    from genrekit.errors import GenrekitError, ModelError

    inputs = {i.name: i.shape for i in session.get_inputs()}
    outputs = {o.name: o.shape for o in session.get_outputs()}
    if not inputs or not outputs:
        raise ModelError(f"{where}: a graph with {len(inputs)} input(s) and {len(outputs)} output(s); expected "
                         "audio or features in and probabilities out")
    for key, names in (("input_name", inputs), ("pooling_input", inputs), ("heard_input", inputs),
                       ("output_name", outputs), ("features_output", outputs)):
        if config.get(key) and config[key] not in names:
            raise ModelError(f"{where}: {key} {config[key]!r} is not in the graph, which has {', '.join(names)}")
    output = outputs.get(config.get("output_name")) or next(iter(outputs.values()))
    width = output[-1] if output else None
    if isinstance(width, int) and width != len(config["labels"]):
        raise ModelError(f"{where}: {len(config['labels'])} labels for a graph that gives {width} probabilities")
    types = {o.name: o.type for o in session.get_outputs()} | {i.name: i.type for i in session.get_inputs()}
    name = config.get("output_name") or session.get_outputs()[0].name
    if types[name] != "tensor(float)" or len(output or ()) != 2:
        raise ModelError(f"{where}: the probabilities {name!r} must be a float32 table (files, genres), found "
                         f"{types[name]} of shape {output}")
    for key, expected in (("input_name", "tensor(float)"), ("pooling_input", "tensor(float)"),
                          ("heard_input", "tensor(float)")):
        if config.get(key) and types[config[key]] != expected:
            raise ModelError(f"{where}: the graph input {config[key]!r} must be {expected[7:-1]}, found "
                             f"{types[config[key]]}")
    unfed = set(inputs) - {config.get(key) for key in ("input_name", "pooling_input", "heard_input")}
    if unfed:  # an input the runtime would not give: the first run would fail mid-song
        raise ModelError(f"{where}: the graph takes {', '.join(sorted(unfed))}, which the metadata does not name")
    # how many chunks, patches and segments a song gives is the song's: an axis fixed to the load's
    # self-test (4 patches) passed it, then failed every real song with onnxruntime's words, naming the song
    for key, axes in (("input_name", 1), ("pooling_input", 2), ("heard_input", 2)):
        shape = list(inputs.get(config.get(key)) or [])
        if any(isinstance(size, int) for size in shape[:axes]):
            raise ModelError(f"{where}: the graph input {config[key]!r} has shape {shape}; expected its first "
                             f"{'axis' if axes == 1 else 'two axes'} free (a song's own number of chunks, patches "
                             "or segments)")
    if config.get("kind") == "classical" and config["input_name"] == "features":  # feature rows in
        from genrekit.features import FeatureSpec

        try:
            spec = FeatureSpec.from_dict(config["features"])
        except GenrekitError as exc:  # a name or a number the registry refuses: the file's fault, named
            raise ModelError(f"{where}: its feature set cannot be used: {exc}") from exc
        width = (inputs["features"] or [None])[-1]
        if isinstance(width, int) and width != len(spec.columns):
            raise ModelError(f"{where}: {spec.name} gives {len(spec.columns)} features, the graph takes {width}")
    if config.get("kind") != "classical" and config.get("input_kind") != "image":
        _check_network_input(inputs[config["input_name"]], config, where)


def _check_network_input(shape, config: dict, where: str) -> None:
    """An exported network's input size, as its graph fixes it, must be what its front end
    makes of a window: a file whose metadata asked for more (a 100 000-frame window at
    192 kHz) took gigabytes before the self-test refused it."""
    from genrekit.errors import ModelError

    frontend, frames = config.get("frontend") or {}, config.get("n_frames")
    if not isinstance(frames, int) or not isinstance(frontend.get("hop_length"), int):
        return  # _configure refuses them by name
    if config.get("frontend_in_graph", True):
        expected, what = [(frames - 1) * frontend["hop_length"]], "samples a window (n_frames - 1) * hop_length"
    else:
        expected, what = [frontend.get("n_mels"), frames], "log-mel bands and frames (n_mels, n_frames)"
    given = list(shape or [])[-len(expected):]
    if len(given) == len(expected) and any(isinstance(g, int) and g != e for g, e in zip(given, expected)):
        raise ModelError(f"{where}: its front end makes {expected} {what}, the graph takes {given}")


def _checked_onnx_config(config, where: str) -> dict:
    """An exported file's genrekit config if its fields have the types the adapters read."""
    from genrekit.errors import ModelError
    from genrekit.models.aggregation import AGGREGATIONS

    if not isinstance(config, dict):
        raise ModelError(f"{where}: expected a JSON object, found {type(config).__name__}")
    # written by a later genrekit, a file's fields may mean what this one cannot know
    if config.get("format", ONNX_FORMAT) != ONNX_FORMAT:
        raise ModelError(f"{where}: field 'format' must be {ONNX_FORMAT!r}, found {describe_value(config['format'])}")
    version = require(config, "format_version", int, where, optional=True)
    if version is not None and version > ONNX_FORMAT_VERSION:
        raise ModelError(f"{where}: ONNX format {describe_value(version)} is newer than this genrekit reads "
                         f"({ONNX_FORMAT_VERSION}); upgrade genrekit")
    if version is not None and version < 1:
        raise ModelError(f"{where}: field 'format_version' must be 1 or more, found {describe_value(version)}")
    require_labels(config, where)
    require(config, "input_name", str, where)
    require(config, "output_name", str, where, optional=config.get("kind") != "classical")
    require_training_hashes(config, where)
    for key in ("model", "preset", "kind", "aggregation", "pooling_input", "features_output", "heard_input"):
        require(config, key, str, where, optional=True)
    if config.get("aggregation") not in (None, *AGGREGATIONS):  # another was reported, and the mean used
        raise ModelError(f"{where}: field 'aggregation' must be {' or '.join(map(repr, AGGREGATIONS))}, found "
                         f"{describe_value(config['aggregation'])}")
    if config.get("pooling_input") and not config.get("features_output"):
        raise ModelError(f"{where}: field 'pooling_input' needs 'features_output' (the graph's pooled features)")
    fed = [(key, config[key]) for key in ("input_name", "pooling_input", "heard_input") if config.get(key)]
    for i, (key, name) in enumerate(fed):  # one graph input fed two arrays would take whichever came last
        for other, other_name in fed[i + 1:]:
            if name == other_name:
                raise ModelError(f"{where}: fields {key!r} and {other!r} name the same graph input {name!r}; "
                                 "expected a different input for each")
    if "heard_stride" in config and not config.get("heard_input"):
        raise ModelError(f"{where}: field 'heard_stride' without 'heard_input' (only a light graph hears some "
                         "patches); found heard_stride but no heard_input")
    if config.get("heard_input"):  # a light graph: which patches MTT_musicnn hears is the runtime's input
        if not config.get("pooling_input"):
            raise ModelError(f"{where}: field 'heard_input' needs 'pooling_input' (a segment's patches per call)")
        stride = require(config, "heard_stride", int, where)
        if isinstance(stride, bool) or not 1 <= stride <= 64:
            raise ModelError(f"{where}: field 'heard_stride' must be a whole number 1-64 (one patch heard in so "
                             f"many), found {describe_value(stride)}")
    for key in ("features", "frontend", "metrics", "training"):
        if config.get(key) is not None:
            require(config, key, dict, where)
    features = config.get("features") or {}
    require_feature_fields(features, where)
    if config.get("kind") not in (None, "classical"):
        raise ModelError(f"{where}: field 'kind' must be 'classical' or absent (a network), found "
                         f"{describe_value(config['kind'])}")
    if config.get("kind") is None:
        _check_onnx_network(config, where)
    if config.get("kind") == "classical":
        require(features, "name", str, f"{where}: features")
        for key in ("sample_rate", "min_duration"):
            if key not in features:
                raise ModelError(f"{where}: field 'features' must give the {key} of a classical model")
        if not 1000 <= features["sample_rate"] <= 192_000:
            raise ModelError(f"{where}: features' sample_rate must be 1000-192000 Hz, found {features['sample_rate']}")
        if features.get("chunk_duration") is not None and features["chunk_duration"] < 0.5:
            raise ModelError(f"{where}: features' chunk_duration must be >= 0.5 s, found {features['chunk_duration']}")
    return config


# The values of one window's STFT frames, or of the mel filters, a network's front end may make:
# the presets' take at most ~3M (1366 frames of 2048 samples); 2**24 floats are 64 MB.
MAX_FRONTEND_VALUES = 2**24


def _check_onnx_network(config: dict, where: str) -> None:
    """An exported network's config: a preset, and the input geometry its adapter sizes buffers
    by (front end, frames, image length) as numbers in range, so a file cannot ask for a
    division by zero or a window of a billion samples (PyTorch, which knows the presets'
    own values, is not needed to read the file)."""
    import math

    from genrekit.errors import ModelError

    def bounded(mapping, key, kind, low, high, context, optional=False):
        value = require(mapping, key, kind, context, optional=optional)
        if value is not None and not (math.isfinite(value) and low <= value <= high):
            raise ModelError(f"{context}: field {key!r} must be {low}-{high}, found {describe_value(value)}")
        return value

    require(config, "preset", str, where)
    require(config, "frontend_in_graph", bool, where, optional=True)
    kind = require(config, "input_kind", str, where, optional=True)
    if kind not in (None, "waveform", "image"):
        raise ModelError(f"{where}: field 'input_kind' must be 'waveform' or 'image', found {describe_value(kind)}")
    if kind == "image":
        bounded(config, "image_seconds", (int, float), 0.5, 600, where)
        return
    frontend = require(config, "frontend", dict, where)
    context = f"{where}: frontend"
    rate = bounded(frontend, "sample_rate", int, 1000, 192_000, context)
    hop = bounded(frontend, "hop_length", int, 1, 65_536, context)
    frames = bounded(config, "n_frames", int, 2, 100_000, where)
    if (frames - 1) * hop / rate > 600:
        raise ModelError(f"{where}: windows of {frames} frames of {hop} samples at {rate} Hz are over 600 s")
    in_graph = config.get("frontend_in_graph", True)
    n_fft = bounded(frontend, "n_fft", int, 16, 65_536, context, optional=in_graph)
    n_mels = bounded(frontend, "n_mels", int, 1, 1024, context, optional=in_graph)
    # each number in range, the arrays they make together need not be: a window's frames of
    # n_fft samples (a 463-byte file asked for 24 GiB), and the mel filters (n_mels x n_fft / 2)
    if n_fft is not None and frames * max(n_fft, hop) > MAX_FRONTEND_VALUES:
        raise ModelError(f"{where}: windows of {frames} frames of {max(n_fft, hop)} samples are "
                         f"{frames * max(n_fft, hop)} values, more than the {MAX_FRONTEND_VALUES} a front end may take")
    if n_fft is not None and n_mels is not None and n_mels * (n_fft // 2 + 1) > MAX_FRONTEND_VALUES:
        raise ModelError(f"{where}: {n_mels} mel bands over {n_fft // 2 + 1} frequencies are more filter values "
                         f"than the {MAX_FRONTEND_VALUES} a front end may take")
    for key in ("fmin", "fmax", "top_db"):  # None: no limit (fmax: half the rate; top_db: no floor)
        if frontend.get(key) is not None:
            bounded(frontend, key, (int, float), 0, 192_000, context)


def read_onnx_metadata(path: str | os.PathLike) -> dict:
    """The genrekit config stored in an exported ONNX file (reads it with onnxruntime only).

    Parameters
    ----------
    path : path
        An ``.onnx`` file exported by genrekit (see :mod:`genrekit.export`).

    Returns
    -------
    dict
        The JSON of the file's ``genrekit`` metadata entry, once checked against its schema
        and against the graph it rides with (input and output names, one label per column).

    Raises
    ------
    ModelError
        The file cannot be read, is not an ONNX file genrekit and onnxruntime can load, uses
        an operator genrekit's exports never use (such as ``Loop``, whose iteration count the
        file chooses) or tensors stored outside the file (:func:`genrekit.untrusted.onnx_refusals`),
        has no ``genrekit`` entry, or its
        config fails the schema or does not describe its graph.
    """
    return open_onnx(path, 1)[1]


def default_model_path(*, onnx: bool | None = None) -> Path:
    """genrekit's own model, shipped in the package: a genre head on the pretrained musicnn,
    trained on GTZAN's 10 genres (gtzan-mini and gtzan-dev; model card: docs/default-model.md).

    ``onnx``: its ONNX export (the light graph: a third less CPU, probabilities close to the
    model file's, run without PyTorch or scikit-learn) or the model file; None: the export
    where onnxruntime is installed.

    Parameters
    ----------
    onnx : bool, optional
        True: ``default-model.onnx``; False: ``default-model.genrekit``; None: the ``.onnx``
        one where onnxruntime can be imported, else the ``.genrekit`` one.

    Returns
    -------
    Path
        The file in the installed package's ``data`` folder.

    Raises
    ------
    ModelError
        The file asked for is missing from this installation (there is no fall-back to the
        other one).
    """
    import importlib.util
    from importlib import resources

    from genrekit.errors import ModelError

    if onnx is None:
        onnx = importlib.util.find_spec("onnxruntime") is not None
    path = Path(str(resources.files("genrekit") / "data" / f"default-model.{'onnx' if onnx else 'genrekit'}"))
    if not path.is_file():
        raise ModelError(f"{path}: genrekit's default model is missing from this installation; "
                         "reinstall genrekit, or name a model with --model")
    return path


def checked_segment_seconds(segment_seconds) -> float | None:
    """``segment_seconds`` as a float (numpy's too: results carry it as JSON), or None; a
    ParameterError for anything but a positive number of seconds."""
    from genrekit.audio.io import is_seconds

    if segment_seconds is None:
        return None
    if not (is_seconds(segment_seconds) and segment_seconds > 0):
        from genrekit.errors import ParameterError

        raise ParameterError(f"segment_seconds={segment_seconds!r}: expected a positive number of seconds per chunk "
                             "(or None: the model's own)")
    return float(segment_seconds)


def model_file(model: str | os.PathLike = DEFAULT, *, parameter: str = "model") -> Path:
    """The model file that ``model`` names: itself, genrekit's own for ``"default"`` (its
    model file for ``"default-exact"``), or the model file inside a run folder of ``genrekit
    train``. Raises ModelError when there is none.

    Parameters
    ----------
    model : str or path
        A model file, a run folder, ``"default"`` or ``"default-exact"`` (:func:`default_model_path`).
    parameter : str
        What its errors call ``model`` (a caller's parameter).

    Returns
    -------
    Path
        The file; for a folder, the first of ``model.genrekit``, ``model.safetensors`` and
        ``model.onnx`` that it holds. Only its existence is checked, not its content.

    Raises
    ------
    ModelError
        No such file, a folder that holds none of those files, or (``"default"``) the
        default model missing from this installation.
    ParameterError
        ``model`` is no path or name: a loaded model (its file is ``model.source``), None.
    """
    if not isinstance(model, (str, os.PathLike)):
        from genrekit.errors import ParameterError

        source = getattr(model, "source", None)
        raise ParameterError(f"{parameter}: expected a model file, run folder or {DEFAULT!r}, found "
                             f"{type(model).__name__}"
                             + (f"; give its file, model.source: {os.fspath(source)!r}" if source else ""))
    name = os.fspath(model)
    path = default_model_path(onnx=NAMED_MODELS[name]) if name in NAMED_MODELS else Path(model)
    try:
        if path.is_dir():
            path = next((path / name for name in RUN_FOLDER_FILES if (path / name).is_file()), path)
        found = path.is_file()
    except OSError as exc:  # a name too long for the file system, a folder without permission
        from genrekit.errors import ModelError

        raise ModelError(f"{name[:200]}{'…' if len(name) > 200 else ''}: cannot be looked up as a model file "
                         f"({exc.strerror or exc})") from exc
    if not found:
        from genrekit.errors import ModelError

        what = ("a folder holding no model file" if path.is_dir()
                else "a link that leads to no file (dangling, or a loop)" if path.is_symlink() and not path.exists()
                else "not a regular file (a pipe or a device), never opened" if os.path.lexists(path)
                else "model file not found")
        raise ModelError(f"{path}: {what} (expected a .genrekit, .safetensors or .onnx file, a run folder holding "
                         f"{' or '.join(RUN_FOLDER_FILES)}, or {DEFAULT!r} / {DEFAULT_EXACT!r} for genrekit's own)")
    from genrekit.audio import is_audio_path

    if is_audio_path(path):  # a song where the model goes: "not a zip archive" said nothing of it
        from genrekit.errors import ModelError

        raise ModelError(f"{path}: an audio file where a model goes (expected a .genrekit, .safetensors or .onnx file, "
                         f"a run folder, or {DEFAULT!r}): the model comes first, or after --model; the songs after it")
    return path


def file_kind(model: str | os.PathLike) -> str:
    """What kind of model file ``model`` names (see :func:`model_file`), without loading it:
    ``classical`` (``.genrekit``), ``network`` (``.safetensors``) or ``onnx`` (an export).

    Parameters
    ----------
    model : str or path
        A model file, a run folder, or ``"default"``.

    Returns
    -------
    str
        By the file's suffix alone (any case): ``network``, ``onnx``, or ``classical`` for
        every other suffix, as :func:`load` reads such a file.

    Raises
    ------
    ModelError
        ``model`` names no model file (see :func:`model_file`).
    """
    return {".safetensors": "network", ".onnx": "onnx"}.get(model_file(model).suffix.lower(), "classical")


def model_id(model: str | os.PathLike) -> str:
    """A model file's identity: its name and the start of its content's SHA-256.

    Parameters
    ----------
    model : str or path
        A model file, a run folder, or ``"default"`` (see :func:`model_file`).

    Returns
    -------
    str
        ``NAME@HASH``: the file's name and the first 12 hex digits of its SHA-256
        (``model.genrekit@0123456789ab``); bytes of the name that are not UTF-8 as ``\\xff``
        (so it can be written as JSON, a table cell or a tag).

    Raises
    ------
    ModelError
        ``model`` names no model file (see :func:`model_file`).
    AudioError
        The file exists but cannot be read (from :func:`genrekit.audio.content_hash`).
    """
    from genrekit.audio import content_hash

    from genrekit._files import utf8_shown

    path = model_file(model)
    return f"{utf8_shown(path.name)}@{content_hash(path)[:12]}"


def load(model: str | os.PathLike | GenreClassifier | GenreModel = DEFAULT, *, segment_seconds: float | None = None,
         threads: int = 0) -> GenreClassifier:
    """Any model, ready to predict: the one place that tells model kinds apart.

    Parameters
    ----------
    model : a model file (``.genrekit``, ``.safetensors`` or an exported ``.onnx``),
        ``"default"`` for genrekit's own (:func:`default_model_path`), a classical
        :class:`~genrekit.models.GenreModel` in memory, or a :class:`GenreClassifier`
        (returned as it is)
    segment_seconds : float, optional
        Classical whole-clip models: seconds per chunk (default 30).
    threads : int
        onnxruntime's intra-op threads for ``.onnx`` files (0: its default).

    Returns
    -------
    GenreClassifier
        The adapter of the model's kind; one loaded from a file has passed :func:`self_tested`.

    Raises
    ------
    ModelError
        The file is missing, unreadable, not a genrekit model, tampered with, or gives no
        probabilities for a few seconds of noise.
    ParameterError
        ``segment_seconds`` is not a positive number of seconds, is shorter than the audio a
        classical model describes (its chunks or its minimum, the shorter), or differs from
        the chunks of a classical model that is already loaded; or ``model`` is an object with
        ``predict_proba`` that lacks the rest of :class:`GenreClassifier`.
    """
    segment_seconds = checked_segment_seconds(segment_seconds)
    if isinstance(model, GenreClassifier):
        if isinstance(model, ClassicalClassifier) and segment_seconds not in (None, model.chunk_seconds):
            from genrekit.errors import ParameterError

            raise ParameterError(f"segment_seconds={segment_seconds}: {model.name} is already loaded with "
                                 f"{model.chunk_seconds:g} s chunks; give segment_seconds to load() with its file")
        return model
    if hasattr(model, "predict_proba") and not hasattr(model, "estimator"):  # an adapter of its own, incomplete
        from genrekit.errors import ParameterError

        missing = [name for name in (*GenreClassifier.__annotations__, "predict_proba", "analyse", "predict_image",
                                     "manifest") if not hasattr(model, name)]
        raise ParameterError(f"{type(model).__name__} is not a GenreClassifier: it lacks {', '.join(missing)} "
                             "(subclass genrekit.models.interface.Adapter)")
    if not isinstance(model, (str, os.PathLike)):  # a classical model in memory
        if not (hasattr(model, "estimator") and hasattr(model, "manifest")):
            from genrekit.errors import ParameterError

            raise ParameterError(f"model={str(model)[:80]!r}: expected a model file's path, 'default', 'default-exact', a trained "
                                 f"GenreModel or a GenreClassifier; found {type(model).__name__}")
        return ClassicalClassifier(model, segment_seconds=segment_seconds)
    path = model_file(model)
    suffix = path.suffix.lower()
    if suffix == ".safetensors":
        return self_tested(_own_chunks(NetworkClassifier(path), segment_seconds))
    if suffix == ".onnx":
        opened = open_onnx(path, threads)  # one session: it tells the kind of file and then runs it
        if opened[1].get("kind") == "classical" and opened[1].get("input_name") == "patches":
            return self_tested(OnnxMusicnnClassifier(path, segment_seconds=segment_seconds, threads=threads,
                                                     opened=opened))
        if opened[1].get("kind") == "classical":
            return self_tested(OnnxClassicalClassifier(path, segment_seconds=segment_seconds, threads=threads,
                                                       opened=opened))
        return self_tested(_own_chunks(OnnxNetworkClassifier(path, threads=threads, opened=opened), segment_seconds))
    from genrekit.models.artifact import load_model

    return self_tested(ClassicalClassifier(load_model(path), segment_seconds=segment_seconds, source=path))


def _own_chunks(network: GenreClassifier, segment_seconds: float | None) -> GenreClassifier:
    """``network``, where ``segment_seconds`` is None or its own chunk length: a network hears
    the windows it was built for, and another length was ignored without a word."""
    if segment_seconds is not None and abs(segment_seconds - network.chunk_seconds) > 1e-6:
        from genrekit.errors import ParameterError

        raise ParameterError(f"segment_seconds={segment_seconds:g}: {network.name} is a network, which hears its own "
                             f"{network.chunk_seconds:g} s windows and takes no other chunk length (leave it out)")
    return network


# At most (unless the model asks for more: a light graph): one musicnn patch, one network
# window; a classical model's minimum.
SELF_TEST_SECONDS = 3.0


def self_tested(model: GenreClassifier) -> GenreClassifier:
    """``model``, once a few seconds of quiet noise gave one row of finite probabilities per
    genre that sums to 1. A file with NaN weights, or whose graph gives another number of
    columns than it has labels, is refused here by name, instead of failing every song with
    a message that blames the audio (or giving a genre without a column, silently)."""
    from genrekit.errors import GenrekitError, ModelError, ParameterError

    where = os.fspath(model.source or model.name)
    longest = getattr(model, "self_test_seconds", SELF_TEST_SECONDS)  # a light graph needs more than one patch
    seconds = model.chunk_seconds if model.pad else max(model.min_seconds, min(model.chunk_seconds, longest))
    noise = np.random.default_rng(0).standard_normal(int(round(seconds * model.sample_rate))).astype(np.float32)
    try:
        proba = np.asarray(model.predict_proba([0.03 * noise]))
    except ParameterError as exc:  # genrekit's own noise at the model's rate: the model's settings are refused
        raise ModelError(f"{where}: the model's settings are refused: {exc}") from exc
    except GenrekitError:
        raise
    except Exception as exc:  # onnxruntime, PyTorch and scikit-learn raise their own types
        raise ModelError(f"{where}: the model fails on {seconds:g} s of noise ({type(exc).__name__}: {exc})") from exc
    if proba.shape != (1, len(model.labels)):
        raise ModelError(f"{where}: the model gives probabilities of shape {proba.shape} for one chunk, expected "
                         f"(1, {len(model.labels)}): one per genre it lists")
    if not np.all(np.isfinite(proba)) or np.any(proba < -1e-6) or abs(float(proba.sum()) - 1.0) > 1e-3:
        raise ModelError(f"{where}: the model gives {np.round(proba[0], 4).tolist()} for noise, not probabilities "
                         "(non-finite weights? a corrupt or crafted file)")
    return model
