"""Model files to ONNX: networks (``model.safetensors``, fp32 or int8) and classical models.

Classical models (``model.genrekit``) go through skl2onnx: the fitted pipeline (scaling,
power transform, classifier) becomes a graph from a feature row ``(batch, n_features)`` to
probabilities; the feature set and labels travel in the metadata, and genrekit computes
the features (that needs the ``full`` extra). Models skl2onnx cannot convert (XGBoost's
booster, LinearSVC without probabilities) are refused with a message.

Networks have two front ends:

- ``frontend="graph"`` (the default): the log-mel front end is inside the graph. The file
  takes what the PyTorch network takes — waveform windows ``(batch, samples)`` at the
  network's sample rate — and is usable on its own.
- ``frontend="numpy"``: the graph takes the log-mel spectrogram ``(batch, 1, n_mels,
  frames)`` and genrekit's runtime computes it with numpy
  (:class:`genrekit.features.numpy_logmel.NumpyLogMel`). onnxruntime's STFT is slow (most
  of an ``edge-cnn``'s time) and the mel filter bank is half of an int8 ``edge-cnn`` file,
  so this is the one for phones and small servers.

Image networks take spectrogram images ``(batch, 3, 288, 432)`` either way. Every file
returns genre probabilities ``(batch, n_genres)`` with a dynamic batch, and carries the
network's JSON config (labels, preset, front end, window length, how it was quantized) in
its metadata.

``int8=True`` quantizes statically with onnxruntime's tools, calibrated on windows of real
audio: a network's convolutions and dense layers (QDQ, int8 weights per channel; the front
end and recurrent layers stay fp32), or, in a graph on the pretrained musicnn, its timbral
filters and their pooling alone (QOperator, u8 activations, s8 per-channel weights: the
integer GEMM of CPUs with VNNI; without VNNI, u8s8 can saturate).

Every adapter class of :mod:`genrekit.models.interface` has its converter in
:func:`to_onnx`; export asks :func:`genrekit.models.load` for the model, never its kind.
"""

from __future__ import annotations

import contextlib
import functools
import io
import json
import logging
import os
import tempfile
import warnings
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from genrekit._files import atomic_path, path_given, paths_given
from genrekit.errors import ModelError, ParameterError, check_flags
from genrekit.features.musicnn import BOTH as MUSICNN_BOTH
from genrekit.features.musicnn import FEATURE_SETS as MUSICNN_FEATURE_SETS
from genrekit.features.musicnn import patches_recipe, pooling_matrix
from genrekit.models.interface import ONNX_METADATA_KEY as METADATA_KEY
from genrekit.models.interface import (
    NAMED_MODELS,
    ONNX_FORMAT,
    ONNX_FORMAT_VERSION,
    ONNX_SUFFIX,
    ClassicalClassifier,
    GenreClassifier,
    NetworkClassifier,
    OnnxClassicalClassifier,
    OnnxMusicnnClassifier,
    OnnxNetworkClassifier,
    default_model_path,
    load,
    read_onnx_metadata,
)

__all__ = ["export_onnx", "read_onnx_metadata", "to_onnx"]

logger = logging.getLogger(__name__)

OPSET = 18
FRONTENDS = ("graph", "numpy")
QUANTIZED_OPS = ("Conv", "Gemm", "MatMul")


def export_onnx(
    model_path: str | os.PathLike,
    out: str | os.PathLike,
    *,
    frontend: str = "graph",
    int8: bool = False,
    calibration: Sequence[str | os.PathLike] = (),
    max_calibration_windows: int = 512,
    seed: int = 0,
    light: bool = False,
    strip_training: bool = False,
) -> Path:
    """Export a model file to ONNX, written atomically.

    Parameters
    ----------
    model_path : path
        A model file (``.genrekit`` or ``.safetensors``), a run folder of ``genrekit train`` or
        ``"default"`` (genrekit's own model file).
    out : path
        The ``.onnx`` file to write.
    frontend : str
        Networks only: ``graph`` (the log-mel front end in the graph) or ``numpy`` (computed
        by genrekit's runtime).
    int8 : bool
        Quantize to int8: networks, and models on the pretrained musicnn (its timbral filters
        are quantized, the rest stays fp32).
    calibration : sequence of path
        Audio files whose windows (musicnn: patches) calibrate the int8 activations (required
        with ``int8``; use the training tracks or others like them, never test tracks).
    max_calibration_windows : int
        At most this many windows (musicnn: patches) are drawn from ``calibration``.
    seed : int
        Seeds that draw.
    light : bool
        A head on both musicnn taggers only (the default model's kind): MTT_musicnn heard on
        one patch in three, a student distilled from it guessing the rest from MSD_musicnn
        (:class:`~genrekit.features.musicnn.network.StridedTaggers`). The same head, about a
        third less CPU; probabilities move by up to 0.15, styles more often than genres
        (docs/benchmarks.md, issue 20).
    strip_training : bool
        Leave out of the file's training record what names the training tracks: their ids, the
        hashes of their files, audio and openings, and the dataset's folder (about 220 bytes a
        track: 5.5 MB for 25,000 tracks, against 1.2 MB for an int8 edge-cnn; and a path of the
        trainer's machine). Their number, the split and the genres' spellings stay. ``evaluate``
        can then no longer leave the training tracks out, and says so.

    Returns
    -------
    Path
        ``out``.

    Raises
    ------
    ParameterError
        ``frontend`` is unknown; ``int8`` without ``calibration``, on a model on a feature
        table, or with no calibration file that decodes; ``light`` on another kind of model or
        with ``int8``; or ``model_path`` is already an ONNX export.
    ModelError
        The model cannot be loaded (see :func:`genrekit.models.load`) or converted, or (a
        classical pipeline, checked on test rows) its graph gives other probabilities than the model.
    """
    if frontend not in FRONTENDS:
        raise ParameterError(f"frontend={frontend!r}: expected one of {', '.join(FRONTENDS)}")
    check_flags(int8=int8, light=light, strip_training=strip_training)  # "no" is a true string
    model_path, out = path_given(model_path, "model_path"), path_given(out, "out")
    # genrekit knows a model file by its ending; and out=model_path wrote ONNX over the model
    if Path(out).suffix.lower() != ONNX_SUFFIX:
        raise ParameterError(f"out={out}: expected an {ONNX_SUFFIX} file name, found "
                             f"{Path(out).suffix or 'no extension'}")
    if int8 and not calibration:
        raise ParameterError("int8 export needs calibration audio (calibration=, or --calibration on the command line): "
                             "a few dozen real clips, e.g. the training tracks")
    # "default" names genrekit's own model file here (not its export); the door does the rest
    model = load(default_model_path(onnx=False) if os.fspath(model_path) in NAMED_MODELS else model_path)
    if light and int8:
        raise ParameterError("light=True (--light) with int8=True (--int8): the light export is fp32 only")
    if int8 and not quantizable(model):
        raise ParameterError(f"{model.source}: int8 quantization is for networks and models on the "
                             "pretrained musicnn, not for a pipeline on a feature table")
    if int8:  # a str would be read letter by letter
        calibration = list(paths_given(calibration, "calibration"))
    missing = [os.fspath(path) for path in calibration if not os.path.isfile(path)] if int8 else []
    if missing:  # before the fp32 export, which takes a while
        raise ParameterError(f"calibration: {missing[0]} is not a file" + (f" (and {len(missing) - 1} more)"
                                                                          if len(missing) > 1 else ""))
    out = Path(out)
    with atomic_path(out) as target:
        if light:
            to_light_onnx(model, target)
        elif not int8:
            to_onnx(model, target, frontend)
        else:
            with tempfile.TemporaryDirectory(prefix="genrekit-export-") as tmp:
                fp32 = to_onnx(model, Path(tmp) / "fp32.onnx", frontend)
                _quantize(fp32, target, calibration, max_calibration_windows, seed)
        if strip_training:
            _strip_training_record(target)
        _refuse_unloadable(target, out)
    return out


def _refuse_unloadable(written: Path, out: Path) -> None:
    """A file genrekit's own loader would refuse is not written: an exporter or quantizer
    newer than genrekit's pinned versions (constraints.txt) may use an operator outside
    :data:`genrekit.untrusted.ONNX_ALLOWED_OPS`."""
    from genrekit.untrusted import onnx_refusals

    refusals = onnx_refusals(written.read_bytes(), str(out))
    if refusals:
        raise ModelError(f"{out}: not written, since genrekit would refuse to load it: {'; '.join(refusals)} "
                         "(is a library newer than genrekit's constraints.txt installed?)")


# x86 features with which onnxruntime's integer GEMM sums u8 x s8 products exactly
EXACT_INT8_FLAGS = ("avx512_vnni", "avx_vnni", "amx_int8")


def cpu_flags(cpuinfo: str | os.PathLike = "/proc/cpuinfo") -> set[str]:
    """The instruction-set flags of this CPU as Linux lists them (``avx2``, ``avx512_vnni``…);
    empty where ``cpuinfo`` cannot be read (not Linux) or has no ``flags`` line (not x86)."""
    try:
        text = Path(cpuinfo).read_text()
    except OSError:
        return set()
    return set(next((line.split(":", 1)[1].split() for line in text.splitlines() if line.startswith("flags")), []))


def sums_int8_exactly(cpuinfo: str | os.PathLike = "/proc/cpuinfo") -> bool:
    """Whether this CPU has VNNI or AMX, with which an int8 export computes what it was
    calibrated for. Without them (AVX2 alone) onnxruntime sums the products in saturating
    16-bit steps, and an int8 file's probabilities move further from fp32's (up to 0.18
    against 0.04 for the default model, docs/benchmarks.md). False where ``cpuinfo`` cannot
    be read (not Linux, or not x86)."""
    return bool(set(EXACT_INT8_FLAGS) & cpu_flags(cpuinfo))


@functools.singledispatch
def to_onnx(model: GenreClassifier, out: Path, frontend: str = "graph") -> Path:
    """``model`` (as :func:`genrekit.models.load` gives it) as an fp32 ONNX file at ``out``.

    One converter per adapter class of :mod:`genrekit.models.interface`: a new model kind
    registers its own (``@to_onnx.register``), and export never asks what kind it holds.
    """
    _require_loaded(model)
    raise ParameterError(f"{model.source}: {type(model).__name__} models have no ONNX converter")


def _require_loaded(model) -> None:
    """A ParameterError where the converters are given a path or name, not a loaded model (an
    adapter of one's own is a model too: it says where it came from)."""
    if isinstance(model, (str, bytes, os.PathLike)) or not hasattr(model, "source"):
        raise ParameterError(f"model={model!r:.60}: expected a loaded model (genrekit.load); export_onnx takes a "
                             "model's file or name")


@functools.singledispatch
def quantizable(model: GenreClassifier) -> bool:
    """Whether ``model``'s export can be quantized to int8: its graph starts at audio
    (log-mel windows or musicnn patches), where the convolutions are. False for a kind that
    does not say (registers no ``@quantizable.register``): refused before any export."""
    return False


@quantizable.register
def _classical_quantizable(model: ClassicalClassifier) -> bool:
    # a pipeline on a feature table has no convolution to quantize; on musicnn features the graph holds musicnn
    return model.model.spec.name == MUSICNN_BOTH or model.model.spec.name in MUSICNN_FEATURE_SETS


@quantizable.register
def _network_quantizable(model: NetworkClassifier) -> bool:
    return True  # its graph starts at log-mel windows, where the convolutions are


@functools.singledispatch
def to_light_onnx(model: GenreClassifier, out: Path) -> Path:
    """``model`` as :func:`export_onnx`'s ``light`` export at ``out``: only a TagPriorClassifier
    on both musicnn taggers (the default model's kind) has one."""
    _require_loaded(model)
    raise ParameterError(f"{model.source}: light=True (--light) is for a TagPriorClassifier on both musicnn taggers "
                         f"(features {MUSICNN_BOTH!r}, as the default model); found a {model.kind} model")


@to_light_onnx.register
def _classical_to_light_onnx(model: ClassicalClassifier, out: Path) -> Path:
    from genrekit.features.musicnn import STUDENT_STRIDE, strided_taggers
    from genrekit.models.tagprior import TagPriorClassifier

    head = type(model.model.estimator.steps[-1][1]).__name__
    if model.model.spec.name != MUSICNN_BOTH or head != TagPriorClassifier.__name__:
        raise ParameterError(f"{model.source}: light=True (--light) is for a TagPriorClassifier on both musicnn "
                             f"taggers (features {MUSICNN_BOTH!r}, as the default model); found a {head} on the "
                             f"{model.model.spec.name!r} features")
    return _export_musicnn_prior(model.model, out, strided_taggers(),
                                 f"MTT_musicnn on one patch in {STUDENT_STRIDE} of each segment, its student on "
                                 "MSD_musicnn's features between (genrekit export --light)", heard_stride=STUDENT_STRIDE)


@to_onnx.register
def _classical_to_onnx(model: ClassicalClassifier, out: Path, frontend: str = "graph") -> Path:
    if frontend != "graph":  # silently ignored, it would suggest a choice was made
        raise ParameterError(f"frontend={frontend!r} (--frontend): {os.fspath(model.source) or model.name} is a model on "
                             "a feature set, whose export takes what genrekit's runtime computes of the audio (a "
                             "musicnn head: musicnn's log-mel patches; others: the feature rows); only networks have "
                             "a front end to place, so leave --frontend out")
    return _genre_model_to_onnx(model.model, out, os.fspath(model.source) or model.name)


@to_onnx.register
def _network_to_onnx(model: NetworkClassifier, out: Path, frontend: str = "graph") -> Path:
    return _export_fp32(model.net, model.config, out, frontend, model.source)


@to_onnx.register(OnnxClassicalClassifier)
@to_onnx.register(OnnxNetworkClassifier)
@to_light_onnx.register(OnnxClassicalClassifier)
@to_light_onnx.register(OnnxNetworkClassifier)
@quantizable.register(OnnxClassicalClassifier)
@quantizable.register(OnnxNetworkClassifier)
def _export_to_onnx(model, out: Path | None = None, frontend: str = "graph") -> Path:
    raise ParameterError(f"{model.source}: already an ONNX export; export its model file (.genrekit or .safetensors)")


def _genre_model_to_onnx(model, out: str | os.PathLike, model_path: str | os.PathLike) -> Path:
    """A loaded :class:`~genrekit.models.GenreModel`'s pipeline as ONNX at ``out`` (features in,
    probabilities out; on musicnn features, patches in); ``model_path`` names it in errors."""
    classifier = model.estimator.steps[-1][1]
    if model.spec.name == MUSICNN_BOTH:
        return _export_musicnn_prior(model, out)
    if not hasattr(classifier, "predict_proba"):
        raise ModelError(f"{model_path}: {model.name!r} ({type(classifier).__name__}) has no probabilities, only "
                         "decision values genrekit turns into a softmax; it is not exported")
    from skl2onnx import to_onnx as skl2onnx_to_onnx
    from skl2onnx import update_registered_converter
    from skl2onnx.common.data_types import FloatTensorType
    from skl2onnx.operator_converters.power_transformer import convert_powertransformer
    from skl2onnx.shape_calculators.power_transformer import powertransformer_shape_calculator

    from genrekit.models.gaussianize import YeoJohnson

    # a PowerTransformer in all but how its lambdas were found: the same graph
    update_registered_converter(YeoJohnson, "SklearnPowerTransformer", powertransformer_shape_calculator,
                                convert_powertransformer)

    try:
        graph = skl2onnx_to_onnx(model.estimator,
                                 initial_types=[("features", FloatTensorType([None, len(model.spec.columns)]))],
                                 options={id(classifier): {"zipmap": False}}, target_opset={"": OPSET, "ai.onnx.ml": 3})
    except Exception as exc:  # skl2onnx raises many types for what it cannot convert
        reason = str(exc).strip().splitlines()[0][:200]
        raise ModelError(f"{model_path}: skl2onnx cannot convert {model.name!r} ({type(classifier).__name__}): "
                         f"{reason}") from exc
    outputs = [o.name for o in graph.graph.output]
    config = {**model.manifest(), "format": ONNX_FORMAT, "format_version": ONNX_FORMAT_VERSION,
              "input_name": "features",
              "output_name": "probabilities" if "probabilities" in outputs else outputs[-1]}
    _check_same_probabilities(model, graph, config["output_name"], model_path)
    if model.spec.name in MUSICNN_FEATURE_SETS:
        graph = _after_musicnn(graph, MUSICNN_FEATURE_SETS[model.spec.name], config["output_name"])
        config.update(input_name="patches", output_name="probabilities", **POOLED_IO, input_recipe=patches_recipe())
    return _write_onnx(graph, config, out)


def _check_same_probabilities(model, graph, output_name: str, model_path, rows: int = 64,
                              tolerance: float = 1e-3) -> None:
    """Refuse a conversion that does not compute what the model computes (skl2onnx's k-NN
    graph, for one, votes uniformly where the model weighs neighbours by distance): both run
    on ``rows`` feature rows drawn around the pipeline's first scaling (standard normal
    without one), the same float32 values for both."""
    try:
        import onnxruntime as ort
    except ImportError:  # the onnx extra without its runtime (Intel Macs): nothing to run the graph on
        logger.warning("%s: onnxruntime is not installed; the exported graph is not checked against the model",
                       model_path)
        return
    first = model.estimator.steps[0][1]
    width = len(model.spec.columns)
    centre, spread = getattr(first, "mean_", np.zeros(width)), getattr(first, "scale_", np.ones(width))
    X = (centre + spread * np.random.default_rng(0).normal(size=(rows, width))).astype(np.float32)
    expected = model.predict_proba(X.astype(np.float64))
    session = ort.InferenceSession(graph.SerializeToString(), providers=["CPUExecutionProvider"])
    got = session.run([output_name], {"features": X})[0]
    gap = float(np.max(np.abs(got - expected)))
    if gap > tolerance:
        raise ModelError(f"{model_path}: the ONNX graph skl2onnx makes for {model.name!r} "
                         f"({type(model.estimator.steps[-1][1]).__name__}) gives other probabilities than the model "
                         f"(up to {gap:.3f} apart on test rows); it is not exported")


def _export_musicnn_prior(model, out: str | os.PathLike, features=None, approximation: str | None = None,
                          heard_stride: int | None = None) -> Path:
    """A :class:`~genrekit.models.tagprior.TagPriorClassifier` on both musicnn taggers as one
    graph, written atomically: log-mel patches ``(n_patches, 187, 96)`` and a pooling matrix
    ``(m, n_patches)`` in (:func:`~genrekit.features.musicnn.pooling_matrix`: the segment, then
    its windows), the calibrated probabilities ``(m, n_genres)`` and the pooled features
    ``(m, 500)`` (the tags behind styles) out. The head is rebuilt in PyTorch from the fitted
    scaling, Yeo-Johnson transform, logistic regression, prior and temperature (skl2onnx
    has no converter for it), so the runtime needs neither PyTorch nor scikit-learn.

    ``features``: a module from patches to their 500 features in place of both taggers (the
    light export's :func:`~genrekit.features.musicnn.strided_taggers`), with ``approximation``
    saying how it departs from them (kept in the file's config, shown in its manifest's ``details``).
    ``heard_stride``: ``features`` also takes which patches MTT_musicnn hears (a third input,
    ``heard``); the runtime gives it one patch in ``heard_stride``
    (:func:`~genrekit.features.musicnn.hearing_matrix`), and every patch where it needs the
    exact features (:func:`~genrekit.features.musicnn.taggers_session`)."""
    from genrekit.features.musicnn import TAGGERS, load_musicnn
    from genrekit.features.musicnn.network import PatchFeatures
    from genrekit.models.tagprior import TagPriorClassifier

    classifier = model.estimator.steps[-1][1]
    if not isinstance(classifier, TagPriorClassifier):
        raise ModelError(f"{model.name!r}: a model on both taggers' features ({MUSICNN_BOTH!r}) is exported only as "
                         f"musicnn-prior (a TagPriorClassifier), found {type(classifier).__name__}; one on a single "
                         "tagger's features (musicnn-msd, musicnn-mtt) exports through skl2onnx, and this one runs "
                         "from its model file (predict, tag and serve take it)")
    if (features is None) != (approximation is None):
        raise ParameterError("features and approximation: expected both (an approximation of the taggers and what "
                             f"it is) or neither, found features={type(features).__name__}, "
                             f"approximation={approximation!r}")
    prior_head, prior_graph, heard_prior_graph = _prior_modules()
    if features is None:
        features = PatchFeatures([load_musicnn(name)[0] for name in TAGGERS])
    if heard_stride is not None and approximation is None:
        raise ParameterError(f"heard_stride={heard_stride}: only for an approximation of the taggers (features and "
                             "approximation)")
    graph_class = prior_graph if heard_stride is None else heard_prior_graph
    graph_module = graph_class(features.eval(), prior_head(classifier)).eval()
    graph = _patches_to_onnx(graph_module, ["probabilities", "features"], model.name, heard=heard_stride is not None)
    config = {**model.manifest(), "format": ONNX_FORMAT, "format_version": ONNX_FORMAT_VERSION,
              "input_name": "patches", "output_name": "probabilities",
              **POOLED_IO}
    if approximation is not None:
        config["approximation"] = approximation
        if config.get("metrics"):  # the model's own figures are the exact taggers': say so where they are shown
            metrics = config["metrics"]
            config["metrics"] = {**metrics, "evaluation": f"{metrics.get('evaluation', 'not recorded')}; measured with "
                                 "the exact taggers' features, not with this graph's approximation of them "
                                 "(approximation), which was not measured itself"}
    if heard_stride is not None:
        config.update(heard_input="heard", heard_stride=int(heard_stride))
    config["input_recipe"] = patches_recipe(heard=heard_stride is not None)  # for a runtime without genrekit
    config["runtime_recipe"] = song_recipe(model.spec.level_dbfs, model.spec.min_duration)
    return _write_onnx(graph, config, out)


def song_recipe(level_dbfs: float | None, min_seconds: float) -> dict:
    """What genrekit's runtime does around a musicnn-prior graph, from a song's file to its
    genre, styles, music check and timeline, with every number it uses: written into the
    graph's metadata (``runtime_recipe``), so that a runtime without genrekit (a phone's) gives
    genrekit's answers. ``tests/test_musicnn.py`` follows it, with numpy, soxr and onnxruntime
    alone, to genrekit's answers."""
    from genrekit.audio.chunking import SEGMENT_SECONDS, SKIP_SECONDS, kept_after_skipping
    from genrekit.audio.io import SILENCE_PEAK
    from genrekit.audio.level import MAX_GAIN_DB
    from genrekit.features.musicnn import PATCH_SECONDS, TAGGERS, WINDOW_PATCHES, column_names
    from genrekit.models.music import detectors, music_threshold
    from genrekit.models.styles import STYLE_TAGS, thresholds
    from genrekit.predict.files import SILENCE_FRAME_SECONDS, SILENT_DBFS

    columns = [c for tagger in TAGGERS for c in column_names(tagger)]
    index = {name: i for i, name in enumerate(columns)}
    detector, limits = detectors()[level_dbfs], thresholds(level_dbfs) or {}
    order = [detector["columns"].index(name) for name in columns]  # the detector's numbers in the output's order
    skip_from = 2 * SKIP_SECONDS + kept_after_skipping(SEGMENT_SECONDS)
    return {
        "decode": {"channels": "averaged to mono", "resampler": "soxr, quality HQ (another resampler moves "
                   "probabilities by up to 0.05)", "sample_rate": 16000},
        "span": {"skip_seconds": SKIP_SECONDS, "skip_from_seconds": skip_from,
                 "rule": "a song of at least skip_from_seconds loses its first and last skip_seconds; a shorter "
                         "one is heard whole"},
        "segments": {"seconds": SEGMENT_SECONDS, "min_seconds": min_seconds, "silent_peak": SILENCE_PEAK,
                     "rule": "the span is cut into segments of `seconds` from its start, back to back; a last piece "
                             "of at least min_seconds is a shorter segment (less is dropped; a song under min_seconds "
                             "is refused, unless silent); a segment whose peak |sample| is below silent_peak is not "
                             "run, nor one where no frame sounds (see silence) and whose frames with a sample at "
                             "least silent_peak from the frame's mean last less than min_seconds (a resampler's "
                             "ringing, a DC offset's step); a song with no segment run (silent throughout, or its "
                             "sound in a piece too short to be a segment) is unknown, reason silent, every genre "
                             "equally probable, no style, no window"},
        "level": {"level_dbfs": level_dbfs, "max_gain_db": MAX_GAIN_DB,
                  "rule": "each segment (or sound-only audio, below) less its mean (a DC offset), then times one "
                          "gain that makes its RMS level_dbfs, a gain of at most max_gain_db; not clipped after"},
        "silence": {"frame_seconds": SILENCE_FRAME_SECONDS, "dbfs": SILENT_DBFS,
                    "rule": "before the level is set, a segment is cut into frames of frame_seconds (the last "
                            "may be shorter) and a frame sounds where the RMS of the frame less its mean is at "
                            "least `dbfs`; a segment's share is its frames' share that sound, a window's the same "
                            "over its own frames. A segment partly sounding (share above 0, below 1) whose "
                            "sounding frames, end to end, last at least min_seconds is run again on them, levelled "
                            "as one: that run gives its probabilities and features; its windows stay the first "
                            "run's"},
        "song": {"rule": "each segment weighs its share (every segment 1 where no share is above 0) times its "
                         "length over the longest segment's; the song's music score is the weighted mean of its "
                         "segments' (row 0 of `features`, see music); its probabilities and its styles' "
                         "probabilities are the weighted means of its segments' (row 0 of each output), leaving out "
                         "the segments whose own music score is below music.not_music_below where another segment "
                         "with weight is music; its genre is the most probable, or unknown where the song's music "
                         "score is below music.not_music_below (an app may also call it unknown below a confidence "
                         "of its own)"},
        "timeline": {"window_seconds": WINDOW_PATCHES * PATCH_SECONDS,
                     "rule": "each segment's rows 1.. of `probabilities` are its windows in time (the pooling "
                             "input's rows), the last ending where the segment ends; a window whose share is at "
                             "least 0.5 has the music score of its own row of `features` (rows 1..), one less "
                             "sounding its segment's (row 0, of the run on its sound where there is one); a window "
                             "whose music score is below music.not_music_below is unknown; each window weighs its share times its length over "
                             "the longest window's; proportions: each genre's weighted share of the windows it "
                             "tops among those heard as music, and unknown's, the weighted share of the windows "
                             "heard as not music (all of them sum to 1); shown: windows whose share is at least 0.5 "
                             "(where none is, those above 0; where none is, all)"},
        "features_columns": columns,
        "styles": {"rule": "a style's probability in a segment is the highest of its columns in that segment's "
                           "`features` row; the song's is their weighted mean; the style is present at or above its "
                           "threshold (none where the song is not music)",
                   "styles": {style: {"tags": list(STYLE_TAGS[style]),
                                      "columns": [index[t] for t in STYLE_TAGS[style]], "threshold": limit}
                              for style, limit in limits.items()}},
        "music": {"rule": "p(music) = 1 / (1 + exp(sum(((x - mean) / scale) * weights) + bias)) of a segment's "
                          "`features` row x",
                  "mean": detector["mean"][order].tolist(), "scale": detector["scale"][order].tolist(),
                  "weights": detector["weights"][order].tolist(), "bias": detector["bias"],
                  "not_music_below": music_threshold()},
    }


# The graph inputs and outputs of a model on musicnn exported with its segment's windows and tags.
POOLED_IO = {"pooling_input": "pooling", "features_output": "features"}


def _write_onnx(graph, config: dict, out: str | os.PathLike) -> Path:
    """``graph`` with genrekit's ``config`` in its metadata, checked and written atomically to ``out``."""
    import onnx

    _set_metadata(graph, config)
    onnx.checker.check_model(graph)
    out = Path(out)
    with atomic_path(out) as temporary:
        onnx.save(graph, str(temporary))
    return out


def _patches_to_onnx(module, output_names: list[str], what: str, *, heard: bool = False):
    """``module`` (musicnn's log-mel patches ``(n_patches, 187, 96)`` and a pooling matrix
    ``(m, n_patches)`` in, any numbers of patches and rows; with ``heard``, also a matrix
    ``(k, n_patches)`` selecting the patches MTT_musicnn hears) as an ONNX model proto whose outputs are
    ``output_names``."""
    import torch

    from genrekit.features.musicnn import N_MELS, PATCH_FRAMES

    patches, rows = torch.export.Dim("patches", min=1), torch.export.Dim("rows", min=1)
    # with heard: 5 patches, 4 pooling rows, 2 heard rows, three sizes that differ, so the exporter
    # ties no two axes together (the exact graph's example, 3 and 3, is as it was exported before)
    n = 5 if heard else 3
    example = (torch.randn(n, PATCH_FRAMES, N_MELS), torch.from_numpy(pooling_matrix(n)))
    names, shapes = ["patches", "pooling"], {"patches": {0: patches}, "pooling": {0: rows, 1: patches}}
    if heard:
        example += (torch.eye(n)[::3],)
        names.append("heard")
        shapes["heard"] = {0: torch.export.Dim("heard", min=1), 1: patches}
    try:
        with _exporter_quiet():  # "shares the same shape constraints": both inputs' patch axis, as meant
            program = torch.onnx.export(module, example, input_names=names, output_names=output_names,
                                        dynamic_shapes=shapes, opset_version=OPSET, dynamo=True, verbose=False)
        _fold_constants(program)
    except Exception as exc:  # the exporter raises many types
        raise ModelError(f"ONNX export of {what!r} failed: {type(exc).__name__}: {exc}") from exc
    return program.model_proto


def _fold_constants(program) -> None:
    """Fold every constant computation of an exported program into its initializers. The
    exporter folds only up to 8192 elements; musicnn's inference front end flips the sign of
    whole filter banks (54,264 weights), which would otherwise stay a computation that int8
    quantization cannot see."""
    import onnxscript.optimizer

    onnxscript.optimizer.optimize_ir(program.model, input_size_limit=1 << 20, output_size_limit=1 << 22)


def _prior_modules():
    """The PyTorch twins of TagPriorClassifier's steps (defined on first use: PyTorch is optional)."""
    import torch
    from torch import nn

    class PriorHead(nn.Module):
        """Raw features ``(1, n_features)`` -> calibrated probabilities ``(1, n_genres)``,
        step for step as :meth:`TagPriorClassifier.predict_proba`."""

        def __init__(self, classifier):
            super().__init__()
            scaler, power = classifier.transform_[0], classifier.transform_[1]
            as_tensor = lambda a: torch.as_tensor(np.asarray(a, dtype=np.float64), dtype=torch.float32)  # noqa: E731
            self.register_buffer("mean", as_tensor(scaler.mean_))
            self.register_buffer("scale", as_tensor(scaler.scale_))
            lambdas = np.asarray(power.lambdas_, dtype=np.float64)
            self.register_buffer("lambdas", as_tensor(lambdas))
            # sklearn's branches: log1p where lambda (or 2 - lambda) is ~0, powers elsewhere
            self.register_buffer("log_pos", torch.as_tensor(np.abs(lambdas) < np.spacing(1.0)))
            self.register_buffer("log_neg", torch.as_tensor(np.abs(lambdas - 2) < np.spacing(1.0)))
            safe = np.where(np.abs(lambdas) < np.spacing(1.0), 1.0, lambdas)
            safe_neg = np.where(np.abs(lambdas - 2) < np.spacing(1.0), 1.0, 2 - lambdas)
            self.register_buffer("safe", as_tensor(safe))
            self.register_buffer("safe_neg", as_tensor(safe_neg))
            inner = power._scaler
            self.register_buffer("power_mean", as_tensor(inner.mean_))
            self.register_buffer("power_scale", as_tensor(inner.scale_))
            head = classifier.head_
            n_genres = len(classifier.labels)
            weights, bias = np.zeros((n_genres, len(lambdas))), np.full(n_genres, -1e4)
            coef, intercept = head.coef_, head.intercept_
            if len(head.classes_) == 2 and len(coef) == 1:  # binary: sigmoid(w x + b) = softmax of (0, w x + b)
                coef, intercept = np.vstack([np.zeros_like(coef), coef]), np.concatenate([[0.0], intercept])
            weights[head.classes_], bias[head.classes_] = coef, intercept  # absent genres: p ~ 0
            self.register_buffer("weights", as_tensor(weights))
            self.register_buffer("bias", as_tensor(bias))
            mapping = classifier.mapping_
            mapped = [g for g, cols in enumerate(mapping) if cols]
            membership = np.zeros((len(lambdas), n_genres))  # column -> genre, to sum log(1 - p) per genre
            for g, cols in enumerate(mapping):
                membership[list(cols), g] = 1.0
            self.register_buffer("membership", as_tensor(membership))
            self.register_buffer("is_mapped", torch.as_tensor(np.isin(np.arange(n_genres), mapped)))
            self.n_mapped = len(mapped)
            self.prior_weight = float(classifier.prior_weight)
            self.temperature = float(classifier.temperature_)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            z = (x - self.mean) / self.scale
            # expm1(lambda * log1p(x)) / lambda, as scipy computes it: exact for lambda near 0 too
            pos = torch.where(self.log_pos, torch.log1p(z.clamp(min=0)),
                              torch.expm1(self.safe * torch.log1p(z.clamp(min=0))) / self.safe)
            neg = torch.where(self.log_neg, -torch.log1p((-z).clamp(min=0)),
                              -torch.expm1(self.safe_neg * torch.log1p((-z).clamp(min=0))) / self.safe_neg)
            z = torch.where(z >= 0, pos, neg)
            z = (z - self.power_mean) / self.power_scale
            log_p = torch.log_softmax(z @ self.weights.T + self.bias, dim=1).exp().clamp(min=1e-9).log()
            if self.n_mapped:
                eps = 1e-6
                tags = x.clamp(eps, 1 - eps)
                log_none = torch.log1p(-tags) @ self.membership
                p_any = (-torch.expm1(log_none)).clamp(eps, 1 - eps)
                prior = torch.log(p_any) - torch.log1p(-p_any)
                mean_mapped = (prior * self.is_mapped).sum(dim=1, keepdim=True) / self.n_mapped
                prior = torch.where(self.is_mapped, prior, mean_mapped)
                log_p = log_p + self.prior_weight * prior
            return torch.softmax(log_p / self.temperature, dim=1)

    class PriorGraph(nn.Module):
        """(patches, pooling) -> both taggers' pooled features -> (:class:`PriorHead`'s
        probabilities, the features)."""

        def __init__(self, features, head):
            super().__init__()
            self.features, self.head = features, head

        def forward(self, patches: torch.Tensor, pooling: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
            features = self.features(patches, pooling)
            return self.head(features), features

    class HeardPriorGraph(PriorGraph):
        """:class:`PriorGraph` on light features, which also take which patches MTT_musicnn
        hears."""

        def forward(self, patches: torch.Tensor, pooling: torch.Tensor,
                    heard: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
            features = self.features(patches, pooling, heard)
            return self.head(features), features

    return PriorHead, PriorGraph, HeardPriorGraph


def _after_musicnn(head, musicnn_model: str, output_name: str):
    """``head`` (feature rows in) fed by the pretrained musicnn: one graph from a signal's
    log-mel patches ``(n_patches, 187, 96)`` and a pooling matrix ``(m, n_patches)`` to the
    probabilities ``(m, n_genres)`` (``head``'s ``output_name``, named ``probabilities`` as
    every export's; the head's other outputs, such as skl2onnx's label, left out) and the
    pooled features ``(m, 250)``, so the runtime needs neither PyTorch nor scikit-learn, only
    numpy for the patches."""
    import onnx.compose

    from genrekit.features.musicnn import load_musicnn
    from genrekit.features.musicnn.network import PatchFeatures

    network, _ = load_musicnn(musicnn_model)
    features = _patches_to_onnx(PatchFeatures([network]).eval(), ["features"], musicnn_model)
    head = onnx.compose.add_prefix(head, "head.")
    features.ir_version = head.ir_version = max(features.ir_version, head.ir_version)
    prefixed = f"head.{output_name}"
    merged = onnx.compose.merge_models(features, head, io_map=[("features", "head.features")],
                                       outputs=[prefixed, "features"])
    for node in merged.graph.node:
        for i, name in enumerate(node.output):
            if name == prefixed:
                node.output[i] = "probabilities"
    for value in [*merged.graph.output, *merged.graph.value_info]:
        if value.name == prefixed:
            value.name = "probabilities"
    versions: dict[str, int] = {}  # merge_models lists a domain once per input model; tools expect it once
    for opset in merged.opset_import:
        versions[opset.domain] = max(versions.get(opset.domain, 0), opset.version)
    del merged.opset_import[:]
    merged.opset_import.extend(onnx.helper.make_opsetid(domain, version) for domain, version in versions.items())
    return merged


@contextlib.contextmanager
def _exporter_quiet():
    """PyTorch's exporter prints its progress, and warns and logs what it works around (no
    torchvision, a GRU's weights, a deprecated check): PyTorch's business, shown with -v
    (genrekit's debug log) only."""
    loggers = [logging.getLogger(name) for name in ("torch.onnx", "torch.export", "torch._dynamo", "torch.fx",
                                                   "torch._export")]
    levels = [each.level for each in loggers]
    for each in loggers:
        each.setLevel(logging.ERROR)
    try:
        with contextlib.redirect_stdout(io.StringIO()) as chatter, warnings.catch_warnings(record=True) as warned:
            warnings.simplefilter("always")
            yield
    finally:
        for each, level in zip(loggers, levels):
            each.setLevel(level)
    logger.debug("%s", chatter.getvalue())
    for warning in warned:
        logger.debug("exporter: %s", warning.message)


def _export_fp32(net, config: dict, out: Path, frontend: str, model_path: str | os.PathLike) -> Path:
    """A loaded network (``net``, its file's ``config``) as an fp32 graph at ``out``, softmax
    included; ``model_path`` names it in errors."""
    import onnx
    import torch
    from torch import nn

    class WithSoftmax(nn.Module):
        def __init__(self, inner: nn.Module):
            super().__init__()
            self.inner = inner

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return torch.softmax(self.inner(x), dim=1)

    graph_frontend = True
    if config.get("input_kind") == "image" and frontend != "graph":  # silently ignored, it would suggest a choice
        raise ParameterError(f"frontend={frontend!r} (--frontend): {os.fspath(model_path)} is an image network, whose "
                             "graph takes spectrogram images; it has no log-mel front end to leave out")
    if config.get("input_kind") == "image":
        name, example, inner = "image", torch.rand(2, 3, 288, 432), net
    elif frontend == "graph":
        name, inner = "waveform", net
        example = torch.randn(2, (config["n_frames"] - 1) * config["frontend"]["hop_length"]) * 0.1
    else:
        name, inner, graph_frontend = "log_mel", net.body, False
        example = net.frontend(torch.randn(2, (config["n_frames"] - 1) * config["frontend"]["hop_length"]) * 0.1)
    try:
        with _exporter_quiet():
            program = torch.onnx.export(WithSoftmax(inner).eval(), (example,), input_names=[name],
                                        output_names=["probabilities"],
                                        dynamic_shapes={"x": {0: torch.export.Dim("batch", min=1)}},
                                        opset_version=OPSET, dynamo=True, verbose=False)
        _fold_constants(program)
        model = program.model_proto
    except Exception as exc:  # the exporter raises many types
        raise ModelError(f"{model_path}: ONNX export of {config['preset']!r} failed: {type(exc).__name__}: {exc}") from exc
    recipe = {}
    if name == "log_mel":  # what the graph no longer computes, said for a runtime without genrekit
        from genrekit.features.numpy_logmel import log_mel_recipe

        recipe = {"input_recipe": log_mel_recipe(config["frontend"], int(config["n_frames"]))}
    _set_metadata(model, {**config, "input_name": name, "frontend_in_graph": graph_frontend,
                          "format": ONNX_FORMAT, "format_version": ONNX_FORMAT_VERSION, "precision": "fp32",
                          **recipe})
    onnx.checker.check_model(model)
    onnx.save(model, str(out))
    return out


#: What a stripped training record leaves out (export_onnx's ``strip_training``)
TRAINING_IDENTITIES = ("track_ids", "content_sha256", "audio_sha256", "opening_sha256", "dataset_root")


def _strip_training_record(path: Path) -> None:
    import onnx

    model = onnx.load(str(path))
    config = json.loads(next(p.value for p in model.metadata_props if p.key == METADATA_KEY))
    training = {k: v for k, v in (config.get("training") or {}).items() if k not in TRAINING_IDENTITIES}
    config["training"] = {**training, "stripped": "training track ids and hashes, and the dataset's folder, left "
                                                  "out at export: evaluate cannot leave the training tracks out"}
    _set_metadata(model, config)
    onnx.save(model, str(path))


def _set_metadata(model, config: dict) -> None:
    for entry in list(model.metadata_props):
        if entry.key == METADATA_KEY:
            model.metadata_props.remove(entry)
    entry = model.metadata_props.add()
    entry.key, entry.value = METADATA_KEY, json.dumps(config)
    _drop_exporter_records(model.graph)


#: The prefix of the records the exporters keep with each node and value (``pkg.torch.onnx.stack_trace``...)
EXPORTER_RECORDS = "pkg."


def _drop_exporter_records(graph) -> None:
    """Remove the records PyTorch's exporter and onnxscript keep with each node and value of
    ``graph`` (and its subgraphs): stack traces naming the exporting machine's files (200 kB of
    them in a musicnn export), of no use to a runtime. ``namespace``, which quantizing reads
    (:func:`network_nodes`), names modules only and stays."""
    values = [*graph.input, *graph.output, *graph.value_info, *graph.initializer]
    for item in [*graph.node, *values]:
        for entry in list(item.metadata_props):
            if entry.key.startswith(EXPORTER_RECORDS):
                item.metadata_props.remove(entry)
    for node in graph.node:
        for attribute in node.attribute:
            for subgraph in [attribute.g, *attribute.graphs] if attribute.HasField("g") else attribute.graphs:
                _drop_exporter_records(subgraph)


def network_nodes(model) -> list[str]:
    """Names of the convolution and dense nodes of the network proper (not its front end,
    told apart by the module path the exporter records with each node; not a classical
    head after musicnn, whose nodes are named ``head.*``)."""
    names = []
    for node in model.graph.node:
        scope = next((p.value for p in node.metadata_props if p.key == "namespace"), "")
        if node.op_type in QUANTIZED_OPS and ".frontend:" not in scope and not node.name.startswith("head."):
            names.append(node.name)
    return names


def musicnn_wide_filters(model) -> list[str]:
    """Names of musicnn's timbral convolutions (one input channel, 7 frames by several bands)
    and of the max pools that follow them: four fifths of the default model's arithmetic."""
    weights = {tensor.name: list(tensor.dims) for tensor in model.graph.initializer}
    readers: dict[str, list] = {}
    for node in model.graph.node:
        for name in node.input:
            readers.setdefault(name, []).append(node)
    names = []
    for node in model.graph.node:
        shape = weights.get(node.input[1], []) if node.op_type == "Conv" and len(node.input) > 1 else []
        if len(shape) == 4 and shape[1] == 1 and shape[2] == 7 and shape[3] > 1:
            names.append(node.name)
            names += [reader.name for reader in readers.get(node.output[0], []) if reader.op_type == "MaxPool"]
    return names


@functools.singledispatch
def calibration_examples(predictor: GenreClassifier, chunks: list[np.ndarray]) -> list[np.ndarray]:
    """The inputs ``predictor``'s fp32 ONNX graph gets for a song's ``chunks`` (as
    :func:`~genrekit.audio.chunking.song_chunks` gives them, padded where ``predictor.pad``):
    one array per batch the graph runs. One per ONNX adapter class that can be quantized."""
    raise ParameterError(f"{predictor.source}: {type(predictor).__name__} files have no int8 calibration")


@calibration_examples.register
def _network_calibration(predictor: OnnxNetworkClassifier, chunks: list[np.ndarray]) -> list[np.ndarray]:
    return [predictor.examples(chunks)]  # its log-mel windows, pooled later 16 at a time


@calibration_examples.register
def _musicnn_calibration(predictor: OnnxMusicnnClassifier, chunks: list[np.ndarray]) -> list[np.ndarray]:
    from genrekit.audio.level import at_level
    from genrekit.features.musicnn import log_mel_patches

    level = getattr(predictor.spec, "level_dbfs", None)  # each segment at the level the model hears
    return [log_mel_patches(at_level(chunk, level), sr=predictor.sample_rate) for chunk in chunks]


def calibration_batches(fp32_path: str | os.PathLike, files: Sequence[str | os.PathLike], *,
                        max_windows: int = 512, seed: int = 0) -> tuple[list[np.ndarray], int]:
    """The graph's inputs for ``files``, as prediction makes them (no intro skipped), in
    batches: a network's windows 16 at a time; a musicnn model's patches one segment at a
    time (:func:`calibration_examples`). At most ``max_windows`` windows or patches, drawn
    with ``seed``; files that cannot be decoded are left out with a warning. Returns the
    batches and how many files were decoded."""
    from genrekit.audio.chunking import song_chunks
    from genrekit.errors import GenrekitError

    predictor = load(fp32_path)
    segments, decoded = [], 0  # the graph's inputs, song after song
    for path in files:
        try:
            chunks = [np.array(c) for _, _, c in song_chunks(path, sr=predictor.sample_rate, skip=0.0,
                                                             chunk_seconds=predictor.chunk_seconds, pad=predictor.pad,
                                                             min_seconds=predictor.min_seconds)]
        except GenrekitError as exc:
            logger.warning("calibration: %s", exc)
            continue
        segments += calibration_examples(predictor, chunks)
        decoded += 1
    if not segments:
        raise ParameterError(f"no calibration audio could be decoded from {len(files)} file(s)")
    return calibration_draw(predictor, segments, max_windows, np.random.default_rng(seed)), decoded


@functools.singledispatch
def calibration_draw(predictor: GenreClassifier, examples: list[np.ndarray], max_windows: int,
                     rng: np.random.Generator) -> list[np.ndarray]:
    """At most ``max_windows`` of ``examples``' rows in batches: whole examples (a musicnn
    model's segments, which its graph pools), in a random order, while they fit."""
    order, batches, total = rng.permutation(len(examples)), [], 0
    for index in order:
        if total + len(examples[index]) > max_windows and batches:
            break
        batches.append(examples[index])
        total += len(examples[index])
    return batches


@calibration_draw.register
def _network_draw(predictor: OnnxNetworkClassifier, examples: list[np.ndarray], max_windows: int,
                  rng: np.random.Generator) -> list[np.ndarray]:
    windows = np.concatenate(examples)  # a network's windows stand alone: drawn one by one, run 16 at a time
    if len(windows) > max_windows:
        windows = windows[np.sort(rng.choice(len(windows), max_windows, replace=False))]
    return np.array_split(windows, max(1, len(windows) // 16))


def _quantize(fp32: Path, out: Path, calibration: Sequence, max_windows: int, seed: int) -> Path:
    import onnx
    from onnxruntime.quantization import (
        CalibrationDataReader,
        CalibrationMethod,
        QuantFormat,
        QuantType,
        quantize_static,
    )

    model = onnx.load(str(fp32))
    config = json.loads(next(p.value for p in model.metadata_props if p.key == METADATA_KEY))
    batches, decoded = calibration_batches(fp32, calibration, max_windows=max_windows, seed=seed)

    class Batches(CalibrationDataReader):
        def __init__(self):
            self.batches = iter(batches)

        def get_next(self):
            batch = next(self.batches, None)
            if batch is None:
                return None
            feeds = {config["input_name"]: batch}
            if config.get("pooling_input"):  # the segment and its windows, as prediction pools them
                feeds[config["pooling_input"]] = pooling_matrix(len(batch))
            return feeds

    wide_filters = musicnn_wide_filters(model) if config["input_name"] == "patches" else []
    if config["input_name"] == "patches" and not wide_filters:
        raise ModelError(f"{fp32}: a musicnn graph without its timbral filters as constant convolutions; "
                         "int8 would quantize nothing that pays")
    root = logging.getLogger()
    level = root.level
    root.setLevel(max(level, logging.ERROR))  # the quantizer logs advice on the root logger
    if wide_filters:
        # musicnn: only the timbral filters and their max over frequency, as QOperator u8s8,
        # which onnxruntime runs through its VNNI/AMX integer GEMM. Quantizing every layer
        # (QDQ, s8 activations) was slower than fp32 here: the narrow temporal filters have
        # no fast integer kernel (docs/benchmarks.md, issue 20).
        scheme = dict(quant_format=QuantFormat.QOperator, activation_type=QuantType.QUInt8,
                      nodes_to_quantize=wide_filters)
        described = "QOperator u8s8, per-channel weights, musicnn's timbral filters and their pooling only"
    else:
        scheme = dict(quant_format=QuantFormat.QDQ, activation_type=QuantType.QInt8,
                      nodes_to_quantize=network_nodes(model),
                      extra_options={"WeightSymmetric": True, "ActivationSymmetric": False})
        described = "QDQ, per-channel weights"
    try:
        quantize_static(str(fp32), str(out), Batches(), per_channel=True, weight_type=QuantType.QInt8,
                        calibrate_method=CalibrationMethod.MinMax, **scheme)
    finally:
        root.setLevel(level)
    quantized = onnx.load(str(out))
    _set_metadata(quantized, {**config, "precision": "int8", "calibration": {
        "files": decoded, "windows": sum(len(b) for b in batches), "method": "minmax",
        "format": described}})
    onnx.save(quantized, str(out))
    return out
