"""musicnn (Pons & Serra 2019) in PyTorch: pretrained music-tagging networks as feature sets.

Two models trained on 3 s log-mel patches: ``MTT_musicnn`` (MagnaTagATune's 50 tags) and
``MSD_musicnn`` (the Million Song Dataset's 50 Last.fm tags, genres among them). Their
weights come converted from the ``musicnn`` wheel on PyPI (ISC licence, see
``weights/LICENSE``) and ship inside genrekit; ``genrekit pretrained convert`` redoes the
conversion from the wheel. Neither TensorFlow nor the ``musicnn`` package is needed.

- :func:`log_mel_patches`: the models' input, computed as musicnn computed it
- :func:`load_musicnn`: a model and its tags
- :func:`pooled_features`: a model's 200-dimensional embedding and 50 tag probabilities of
  a signal, averaged over its patches (feature sets ``musicnn-msd`` and ``musicnn-mtt``)
- :func:`patch_features` and :func:`pooling_matrix`: the same per patch, and the averages
  that give a segment's features and its ~6 s windows' (the timeline); both taggers
  together (the ``musicnn`` feature set) run in onnxruntime where it is installed
  (:func:`taggers_session`), in a third to a half less time than PyTorch
"""

from __future__ import annotations

import functools
import json
from importlib import resources

import numpy as np

from genrekit.audio.io import check_signal
from genrekit.audio.level import MAX_GAIN_DB
from genrekit.errors import ModelError, ParameterError
from genrekit.features.numpy_logmel import mel_filterbank, mel_power

SAMPLE_RATE, N_FFT, HOP_LENGTH, N_MELS, PATCH_FRAMES = 16000, 512, 256, 96, 187
EMBEDDING_SIZE = 200
POOLED_SIZE = 1506  # MusiCNN.pooled: the front and mid end's max and mean over time
TAGGERS = ("MSD_musicnn", "MTT_musicnn")
#: Feature set name -> the model whose embedding and tags it is.
FEATURE_SETS = {"musicnn-msd": "MSD_musicnn", "musicnn-mtt": "MTT_musicnn"}
#: The feature set of both models' features side by side (MSD's 250 columns, then MTT's).
BOTH = "musicnn"
#: The RMS level (dBFS) at which genrekit's recipes on ``BOTH`` hear each segment, the
#: default model included: near GTZAN's clips (median -22.5 dBFS), so a louder or quieter
#: recording gets the same answer (see ``FeatureSpec.level_dbfs``).
LEVEL_DBFS = -20.0


def default_level(feature_set: str) -> float | None:
    """The level genrekit computes ``feature_set`` at unless told otherwise: ``LEVEL_DBFS``
    for ``BOTH`` (the default model's features), None (as recorded) for the others, whose
    results were measured that way."""
    return LEVEL_DBFS if feature_set == BOTH else None


def log_mel(y: np.ndarray, *, sr: int = SAMPLE_RATE) -> np.ndarray:
    """musicnn's input representation of a mono signal at 16 kHz.

    librosa's mel power spectrogram as musicnn's training code called it (n_fft 512, hop
    256, 96 Slaney bands, centred frames padded by reflection, the librosa of 2019's
    default), then ``log10(10000 * power + 1)``. The original cast the power to float16
    first, which under numpy 2 overflows to infinity on loud music; this stays in float32.

    Returns
    -------
    np.ndarray [shape=(frames, 96)], float32
    """
    check_signal(y, sr)
    if sr != SAMPLE_RATE:
        raise ParameterError(f"sr={sr}: musicnn's input is at {SAMPLE_RATE} Hz")
    y = np.asarray(y, dtype=np.float32)
    if y.ndim != 1 or len(y) <= N_FFT // 2:
        raise ParameterError(f"y of shape {y.shape}: expected a mono signal longer than {N_FFT // 2} samples")
    # float64 FFT (as librosa's was), whether or not scipy is installed: the runtime and the
    # PyTorch path give the same patches.
    mel = mel_power(y.astype(np.float64), _mel_basis_t(), n_fft=N_FFT, hop_length=HOP_LENGTH, pad_mode="reflect")
    return np.log10(10000.0 * mel + 1.0).astype(np.float32)


@functools.cache
def _mel_basis_t() -> np.ndarray:
    return np.ascontiguousarray(mel_filterbank(SAMPLE_RATE, N_FFT, N_MELS).T)


def log_mel_patches(y: np.ndarray, *, sr: int = SAMPLE_RATE, hop_frames: int = PATCH_FRAMES) -> np.ndarray:
    """Consecutive 187-frame (3 s) patches of :func:`log_mel`, ``hop_frames`` apart.

    A signal shorter than one patch is repeated to fill it (musicnn's ``repeat-pad``).

    Returns
    -------
    np.ndarray [shape=(n_patches, 187, 96)], float32
    """
    if hop_frames < 1:
        raise ParameterError(f"hop_frames={hop_frames}: expected >= 1")
    spectrogram = log_mel(y, sr=sr)
    if len(spectrogram) < PATCH_FRAMES:
        spectrogram = np.resize(spectrogram, (PATCH_FRAMES, N_MELS))  # repeats whole frames
    starts = range(0, len(spectrogram) - PATCH_FRAMES + 1, hop_frames)
    return np.stack([spectrogram[start:start + PATCH_FRAMES] for start in starts])


def weights_path(model: str):
    if model not in TAGGERS:
        raise ParameterError(f"model={model!r}: expected one of {', '.join(TAGGERS)}")
    return resources.files("genrekit.features.musicnn") / "weights" / f"{model}.safetensors"


def weights_provenance(model: str) -> dict:
    """Where ``model``'s converted weights are and where they came from, read from the
    safetensors header alone (no tensor, no PyTorch).

    Returns
    -------
    dict
        ``path``, ``source`` (the wheel they were converted from), ``source_sha256``,
        ``licence`` and ``tags`` (its 50 tag names).

    Raises
    ------
    ModelError
        The file is missing or unreadable.
    """
    from safetensors import SafetensorError, safe_open

    path = weights_path(model)
    try:
        with resources.as_file(path) as file, safe_open(str(file), framework="np") as handle:
            metadata = handle.metadata() or {}
        tags = json.loads(metadata.get("tags", "[]"))
    except (OSError, ValueError, SafetensorError) as exc:
        raise ModelError(f"{path}: cannot read musicnn's converted weights ({exc}); reinstall genrekit or run "
                         "`genrekit pretrained convert`") from exc
    return {"path": str(path), "source": metadata.get("source"), "source_sha256": metadata.get("source_sha256", ""),
            "licence": metadata.get("licence"), "tags": [str(t) for t in tags] if isinstance(tags, list) else []}


@functools.cache
def load_musicnn(model: str = "MSD_musicnn"):
    """``(network, tags)``: the pretrained :class:`MusiCNN` in eval mode and its 50 tag names.

    Loaded once per process; reads tensors and JSON only. Its front end's silent filters are
    constants (:meth:`MusiCNN.skip_silent_filters`); its weights are not to be changed.
    """
    import torch

    from genrekit.features.musicnn.network import MusiCNN

    path = weights_path(model)
    state, metadata = _read_tensors(path, "musicnn's converted weights",
                                    "reinstall genrekit or run `genrekit pretrained convert`")
    tags = _json_field(metadata, "tags")
    if not (isinstance(tags, list) and len(tags) == 50 and all(isinstance(t, str) for t in tags)):
        raise ModelError(f"{path}: expected 50 tag names in the weights' metadata, found {str(tags)[:200]}")
    from genrekit.features.musicnn.convert import state_problem

    problem = state_problem(state)  # names and shapes, finite values, variances (NaN features otherwise)
    if problem:
        raise ModelError(f"{path}: the converted weights are not musicnn's: {problem}; reinstall genrekit or run "
                         "`genrekit pretrained convert`")
    with torch.random.fork_rng(devices=[]):  # the random initial weights are overwritten: leave the caller's seed be
        network = MusiCNN()
    network.load_state_dict(state, strict=False)  # BatchNorm's num_batches_tracked is not in the checkpoint
    network.skip_silent_filters()  # the front end's dead filters: constants, not convolutions
    return network.eval(), tags


def _read_tensors(path, what: str, remedy: str) -> tuple[dict, dict]:
    """``(tensors, metadata)`` of the safetensors file at ``path`` (tensors and JSON only);
    :class:`ModelError` naming the file and ``what`` it should hold when it cannot be read."""
    from safetensors import SafetensorError, safe_open

    try:
        with resources.as_file(path) as file, safe_open(str(file), framework="pt") as handle:
            metadata = handle.metadata() or {}
            return {name: handle.get_tensor(name) for name in handle.keys()}, metadata
    except (OSError, ValueError, SafetensorError) as exc:
        raise ModelError(f"{path}: cannot read {what} ({exc}); {remedy}") from exc


def _json_field(metadata: dict, key: str):
    """``metadata[key]`` parsed as JSON; None where it is missing or not JSON."""
    try:
        return json.loads(metadata.get(key, "null"))
    except ValueError:
        return None


# The student that guesses MTT_musicnn's features from MSD_musicnn's (``bench/student.py``),
# and how often MTT_musicnn itself is heard where the student stands in (StridedTaggers)
STUDENT = "MTT_student"
STUDENT_STRIDE = 3


@functools.cache
def load_student(path=None):
    """The :class:`~genrekit.features.musicnn.network.TaggerStudent` shipped with genrekit (or
    at ``path``), in eval mode; reads tensors and JSON only.

    Raises
    ------
    ModelError
        The file is missing, unreadable, or not a student of MTT_musicnn on MSD_musicnn.
    """
    from pathlib import Path

    from genrekit.features.musicnn.convert import TAGS
    from genrekit.features.musicnn.network import TaggerStudent

    path = Path(path) if path else resources.files("genrekit.features.musicnn") / "weights" / f"{STUDENT}.safetensors"
    state, metadata = _read_tensors(path, "the student of MTT_musicnn", "reinstall genrekit")
    expected = {"keep", "hidden.weight", "hidden.bias", "out.weight", "out.bias"}
    if set(state) != expected or metadata.get("teacher") != "MTT_musicnn" or metadata.get("reads") != "MSD_musicnn":
        raise ModelError(f"{path}: expected a student of MTT_musicnn reading MSD_musicnn with tensors "
                         f"{sorted(expected)}, found {sorted(state)[:8]} and {str(metadata)[:300]}")
    tags = _json_field(metadata, "tags")
    if tags != list(TAGS["MTT_musicnn"]):
        raise ModelError(f"{path}: the student's tags are not MTT_musicnn's 50 (found {str(tags)[:200]})")
    keep, first, last = state["keep"], state["hidden.weight"], state["out.weight"]
    outputs = EMBEDDING_SIZE + len(tags)
    if not (keep.ndim == 1 and len(keep) and not keep.is_floating_point() and 0 <= int(keep.min())
            and int(keep.max()) < POOLED_SIZE and first.ndim == 2 and first.shape[1] == len(keep)
            and last.shape == (outputs, first.shape[0]) and state["hidden.bias"].shape == (first.shape[0],)
            and state["out.bias"].shape == (outputs,)):
        raise ModelError(f"{path}: the student's shapes do not fit MSD_musicnn's {POOLED_SIZE} pooled values and "
                         f"MTT_musicnn's {outputs} features: keep {tuple(keep.shape)}, hidden "
                         f"{tuple(first.shape)} + {tuple(state['hidden.bias'].shape)}, out {tuple(last.shape)} + "
                         f"{tuple(state['out.bias'].shape)}")
    if not all(bool(value.isfinite().all()) for name, value in state.items() if name != "keep"):
        raise ModelError(f"{path}: the student's weights hold values that are not finite (NaN or infinity)")
    student = TaggerStudent(keep, first.shape[0], outputs)
    student.load_state_dict(state)
    return student.eval()


def strided_taggers():
    """Both taggers' features with MTT_musicnn heard on the patches its ``heard`` input names
    and the student between (:class:`~genrekit.features.musicnn.network.StridedTaggers`), in
    eval mode."""
    from genrekit.features.musicnn.network import StridedTaggers

    return StridedTaggers(load_musicnn("MSD_musicnn")[0], load_musicnn("MTT_musicnn")[0], load_student()).eval()


def hearing_matrix(n_patches: int, stride: int = STUDENT_STRIDE) -> np.ndarray:
    """Which of a segment's ``n_patches`` MTT_musicnn hears in a light graph
    (:func:`strided_taggers`): one in ``stride``, from the first; 1 hears them all (the exact
    features).

    Returns
    -------
    np.ndarray [shape=(ceil(n_patches / stride), n_patches)], float32
        One row per heard patch, 1 at its place and 0 elsewhere.
    """
    for name, value in (("n_patches", n_patches), ("stride", stride)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
            raise ParameterError(f"{name}={value!r}: expected a whole number >= 1")
    heard = np.arange(0, n_patches, stride)
    matrix = np.zeros((len(heard), n_patches), dtype=np.float32)  # not an n x n identity sliced: long --segment
    matrix[np.arange(len(heard)), heard] = 1.0
    return matrix


def embed_patches(patches: np.ndarray, model: str = "MSD_musicnn", *, batch_size: int = 32) -> tuple[np.ndarray, np.ndarray]:
    """``patches`` [shape=(n, frames, 96)] -> (embeddings [shape=(n, 200)], tag probabilities [shape=(n, 50)])."""
    import torch

    network, _ = load_musicnn(model)
    embeddings, probabilities = [], []
    with torch.inference_mode():
        for start in range(0, len(patches), batch_size):
            embedding, logits = network.embed(torch.from_numpy(np.ascontiguousarray(patches[start:start + batch_size])))
            embeddings.append(embedding.numpy())
            probabilities.append(torch.sigmoid(logits).numpy())
    return np.concatenate(embeddings), np.concatenate(probabilities)


def patch_features(*, y: np.ndarray, sr: int = SAMPLE_RATE, models: tuple[str, ...] = TAGGERS) -> np.ndarray:
    """Each 3 s patch's embedding (200) and tag probabilities (50), per model in ``models``,
    side by side; from one set of patches. Both taggers (``TAGGERS``) run in onnxruntime
    where it is installed (:func:`taggers_session`), in PyTorch elsewhere.

    Returns
    -------
    np.ndarray [shape=(n_patches, 250 * len(models))], float32 (the networks' precision)
    """
    patches = log_mel_patches(y, sr=sr)
    if tuple(models) == TAGGERS and len(patches) and taggers_session() is not None:
        return taggers_in_onnxruntime(patches)
    return taggers_in_pytorch(patches, models)


def taggers_in_pytorch(patches: np.ndarray, models: tuple[str, ...] = TAGGERS) -> np.ndarray:
    """``patches`` [shape=(n, frames, 96)] -> each model's embedding and tag probabilities side
    by side [shape=(n, 250 * len(models))], in PyTorch (:func:`embed_patches`)."""
    return np.concatenate([np.concatenate(embed_patches(patches, model), axis=1) for model in models], axis=1)


# The shipped default model's graph: both taggers on log-mel patches, then its head; its
# "features" output is each row of its "pooling" input times the patches' features.
TAGGERS_GRAPH = ("data", "default-model.onnx")


@functools.cache
def taggers_session():
    """An onnxruntime session that computes both taggers' features, or None (PyTorch then
    computes them) where onnxruntime is not installed or the graph is not what is expected:
    the shipped default model's graph, asked for its ``features`` output with every patch
    heard (its head and the light graph's student run too, a small share). onnxruntime
    computes the networks in a third to a half less CPU time than PyTorch (0.14 against 0.21
    CPU-s per 30 s on an AVX-512 Xeon, 0.19 against 0.35 on an AVX2 EPYC; both taggers, one
    thread: ``bench/tag_throughput.py --taggers``); the features agree with PyTorch's within
    1e-5 (tags) and 1e-4 (embeddings) (tests/test_musicnn.py). One intra-op thread in a
    runner's worker process (one worker per core), onnxruntime's default elsewhere."""
    import logging

    try:
        import onnxruntime as ort
    except ImportError:
        return None
    from genrekit.runners import in_worker

    options = ort.SessionOptions()
    if in_worker():
        options.intra_op_num_threads = options.inter_op_num_threads = 1
    # without memory patterns the arena stays at one run's needs (genrekit.models.interface.open_onnx)
    options.enable_mem_pattern = False
    try:
        with resources.as_file(resources.files("genrekit").joinpath(*TAGGERS_GRAPH)) as path:
            session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        config = json.loads(session.get_modelmeta().custom_metadata_map["genrekit"])
        inputs = {i.name: i.shape for i in session.get_inputs()}
        outputs = {o.name: o.shape for o in session.get_outputs()}
        # a light graph (the shipped one) computes the exact features when it hears every patch
        light = config.get("heard_input") == "heard"
        expected = (config.get("features", {}).get("name") == BOTH and config.get("pooling_input") == "pooling"
                    and ("approximation" not in config or light)
                    and config.get("features_output") == "features"
                    and set(inputs) == {"patches", "pooling"} | ({"heard"} if light else set())
                    and inputs["patches"][1:] == [PATCH_FRAMES, N_MELS] and outputs.get("features", [None])[-1] == 500)
    except Exception as exc:  # a damaged install: PyTorch still computes the same features
        logging.getLogger(__name__).warning("musicnn's taggers run in PyTorch: %s cannot be used (%s: %s)",
                                            "/".join(TAGGERS_GRAPH), type(exc).__name__, exc)
        return None
    if not expected:
        logging.getLogger(__name__).warning("musicnn's taggers run in PyTorch: %s is not a graph of both taggers "
                                            "on log-mel patches", "/".join(TAGGERS_GRAPH))
        return None
    return session


def taggers_in_onnxruntime(patches: np.ndarray, *, batch_size: int = 32) -> np.ndarray:
    """``patches`` [shape=(n, frames, 96)] -> both taggers' features [shape=(n, 500)], as
    :func:`patch_features` computes them, in onnxruntime (:func:`taggers_session`)."""
    session = taggers_session()
    rows = []
    for start in range(0, len(patches), batch_size):
        batch = np.ascontiguousarray(patches[start:start + batch_size], dtype=np.float32)
        # an identity pooling gives each patch's own row; 0 x NaN is NaN, so a batch with a
        # non-finite patch goes one patch at a time, as PyTorch keeps it to its own row
        pieces = [batch] if np.isfinite(batch).all() else [batch[i:i + 1] for i in range(len(batch))]
        rows += [session.run(["features"], _exact_feeds(session, p))[0] for p in pieces]
    return np.concatenate(rows)


def _exact_feeds(session, patches: np.ndarray) -> dict:
    """The feeds that make :func:`taggers_session`'s graph give each patch's own exact
    features: an identity pooling, and (a light graph) every patch heard."""
    feeds = {"patches": patches, "pooling": np.eye(len(patches), dtype=np.float32)}
    if any(i.name == "heard" for i in session.get_inputs()):
        feeds["heard"] = hearing_matrix(len(patches), 1)
    return feeds


def pooled_features(*, y: np.ndarray, sr: int = SAMPLE_RATE, model: str = "MSD_musicnn") -> np.ndarray:
    """``model``'s embedding (200) and tag probabilities (50), averaged over the 3 s patches.

    Returns
    -------
    np.ndarray [shape=(250,)]
    """
    return patch_features(y=y, sr=sr, models=(model,)).mean(axis=0).astype(np.float64)


def pooled_features_both(*, y: np.ndarray, sr: int = SAMPLE_RATE) -> np.ndarray:
    """:func:`pooled_features` of MSD_musicnn then MTT_musicnn, from one set of patches.

    Returns
    -------
    np.ndarray [shape=(500,)]
    """
    return patch_features(y=y, sr=sr).mean(axis=0).astype(np.float64)


# Patches per window of a segment's timeline: 2 patches, about 6 s.
WINDOW_PATCHES = 2
PATCH_SECONDS = PATCH_FRAMES * HOP_LENGTH / SAMPLE_RATE


def pooling_matrix(n_patches: int, window_patches: int = WINDOW_PATCHES) -> np.ndarray:
    """Rows that average patch features: the first over all ``n_patches`` (the segment's
    features), then one per window of ``window_patches`` consecutive patches (a last window
    may be shorter).

    Returns
    -------
    np.ndarray [shape=(1 + n_windows, n_patches)], float32, rows summing to 1
    """
    for name, value in (("n_patches", n_patches), ("window_patches", window_patches)):
        if value < 1:
            raise ParameterError(f"{name}={value}: expected a whole number >= 1")
    starts = range(0, n_patches, window_patches)
    pooling = np.zeros((1 + len(starts), n_patches), dtype=np.float32)
    pooling[0] = 1.0 / n_patches
    for row, start in enumerate(starts, 1):
        stop = min(start + window_patches, n_patches)
        pooling[row, start:stop] = 1.0 / (stop - start)
    return pooling


def patches_recipe(*, heard: bool = False) -> dict:
    """How the inputs of a graph on musicnn's patches are made from audio, each number as
    :func:`log_mel_patches`, :func:`pooling_matrix` and :func:`hearing_matrix` use it: written
    into such a graph's ONNX metadata (``input_recipe``) for those who run it without genrekit
    (on a phone). ``tests/test_musicnn.py`` rebuilds the patches from it with librosa.
    ``heard``: the graph also takes which patches MTT_musicnn hears (a light graph)."""
    recipe = {
        "audio": f"one segment at a time (genrekit's models: 30 s), mono, at {SAMPLE_RATE} Hz, float32; where the "
                 "file's features set a level (features.level_dbfs), first less its mean and times one gain to that "
                 f"RMS level, at most +{MAX_GAIN_DB:g} dB, not clipped (samples may exceed 1): runtime_recipe, where the file has "
                 "one, says how a song becomes segments",
        "log_mel": {"sample_rate": SAMPLE_RATE, "n_fft": N_FFT, "hop_length": HOP_LENGTH, "window": "hann, periodic",
                    "center": True, "pad_mode": "reflect", "power": 2.0, "n_mels": N_MELS, "fmin": 0.0,
                    "fmax": SAMPLE_RATE / 2, "mel_scale": "slaney", "mel_norm": "slaney",
                    "compression": "log10(10000 * mel_power + 1)"},
        "patches": {"shape": ["n_patches", PATCH_FRAMES, N_MELS], "dtype": "float32", "frames": PATCH_FRAMES,
                    "hop_frames": PATCH_FRAMES, "layout": "frames, then mel bands",
                    "ends": "frames after the last whole patch are dropped; a segment shorter than one patch is "
                            "repeated, whole frames, to fill it"},
        "pooling": {"shape": ["1 + n_windows", "n_patches"], "dtype": "float32",
                    "rows": f"row 0 averages every patch (the segment); then one row per {WINDOW_PATCHES} consecutive "
                            "patches (the timeline's windows; the last may hold fewer), each row's weights equal and "
                            "summing to 1"},
    }
    if heard:
        recipe["heard"] = {"shape": ["ceil(n_patches / heard_stride)", "n_patches"], "dtype": "float32",
                           "rows": "row i is 1 at patch i * heard_stride and 0 elsewhere: the patches MTT_musicnn "
                                   "hears"}
    return recipe


def column_names(model: str) -> list[str]:
    from genrekit.features.musicnn.convert import TAGS

    prefix = model.split("_")[0].lower()
    return [f"{prefix}.embedding.{i:03d}" for i in range(EMBEDDING_SIZE)] + [f"{prefix}.tag.{t}" for t in TAGS[model]]
