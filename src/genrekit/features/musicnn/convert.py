"""musicnn's TensorFlow checkpoints -> safetensors for :class:`MusiCNN`.

The ``musicnn`` wheel on PyPI (ISC licence) holds ``musicnn/MTT_musicnn/`` and
``musicnn/MSD_musicnn/``, each a TensorFlow 1 checkpoint. :func:`convert_wheel` reads them
straight from the wheel (a zip file; nothing is installed or imported from it) with
:mod:`genrekit.features.musicnn.checkpoint` and writes one safetensors file per model whose
metadata holds the tags, the input parameters, the wheel's SHA-256 and the SHA-256 of every
source tensor, so a converted file can be checked against the checkpoint it came from.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import tempfile
import zipfile
from pathlib import Path

import numpy as np

from genrekit._files import DAMAGED_FILE_ERRORS, atomic_path
from genrekit.errors import ModelError
from genrekit.features.musicnn import HOP_LENGTH, TAGGERS, N_FFT, N_MELS, PATCH_FRAMES, SAMPLE_RATE
from genrekit.features.musicnn.checkpoint import read_checkpoint

# Tags in the order of the output layer (the musicnn package's configuration.py).
MTT_TAGS = ["guitar", "classical", "slow", "techno", "strings", "drums", "electronic", "rock", "fast", "piano",
            "ambient", "beat", "violin", "vocal", "synth", "female", "indian", "opera", "male", "singing", "vocals",
            "no vocals", "harpsichord", "loud", "quiet", "flute", "woman", "male vocal", "no vocal", "pop", "soft",
            "sitar", "solo", "man", "classic", "choir", "voice", "new age", "dance", "male voice", "female vocal",
            "beats", "harp", "cello", "no voice", "weird", "country", "metal", "female voice", "choral"]
MSD_TAGS = ["rock", "pop", "alternative", "indie", "electronic", "female vocalists", "dance", "00s",
            "alternative rock", "jazz", "beautiful", "metal", "chillout", "male vocalists", "classic rock", "soul",
            "indie rock", "Mellow", "electronica", "80s", "folk", "90s", "chill", "instrumental", "punk", "oldies",
            "blues", "hard rock", "ambient", "acoustic", "experimental", "female vocalist", "guitar", "Hip-Hop", "70s",
            "party", "country", "easy listening", "sexy", "catchy", "funk", "electro", "heavy metal",
            "Progressive rock", "60s", "rnb", "indie pop", "sad", "House", "happy"]
TAGS = {"MTT_musicnn": MTT_TAGS, "MSD_musicnn": MSD_TAGS}
#: The most a tagger's checkpoint folder in the wheel may declare (musicnn's are 10.7 MB).
MAX_CHECKPOINT_BYTES = 64 * 1024 * 1024
#: SHA-256 of musicnn 0.1.0's wheel on PyPI, whose weights genrekit ships (their metadata records it).
MUSICNN_WHEEL_SHA256 = "f38a4890c648c1ddbb141c5d96d2b0a8cfcd36746002d896989f7b88beb65cfa"

# TensorFlow layer (in the order models.py creates them) -> MusiCNN module.
LAYERS = {
    "batch_normalization": "input_norm",
    "conv2d": "timbral.0.conv", "batch_normalization_1": "timbral.0.norm",
    "conv2d_1": "timbral.1.conv", "batch_normalization_2": "timbral.1.norm",
    "conv2d_2": "temporal.0.conv", "batch_normalization_3": "temporal.0.norm",
    "conv2d_3": "temporal.1.conv", "batch_normalization_4": "temporal.1.norm",
    "conv2d_4": "temporal.2.conv", "batch_normalization_5": "temporal.2.norm",
    "conv2d_5": "midend.0", "batch_normalization_6": "midend_norms.0",
    "conv2d_6": "midend.1", "batch_normalization_7": "midend_norms.1",
    "conv2d_7": "midend.2", "batch_normalization_8": "midend_norms.2",
    "batch_normalization_9": "pool_norm",
    "dense": "dense", "batch_normalization_10": "dense_norm",
    "dense_1": "classifier",
}
PARAMETERS = {"gamma": "weight", "beta": "bias", "moving_mean": "running_mean", "moving_variance": "running_var",
              "bias": "bias", "kernel": "weight"}


def to_torch_layout(module: str, tensor: np.ndarray) -> np.ndarray:
    """A TensorFlow kernel in PyTorch's layout (other tensors are unchanged).

    conv2d kernels are (time, frequency, in, out) -> Conv2d's (out, in, time, frequency);
    the mid end's are (time, channels, 1, out) -> Conv1d's (out, channels, time); dense
    kernels are (in, out) -> Linear's (out, in).
    """
    if tensor.ndim == 4 and module.startswith("midend."):
        return np.ascontiguousarray(tensor[:, :, 0, :].transpose(2, 1, 0))
    if tensor.ndim == 4:
        return np.ascontiguousarray(tensor.transpose(3, 2, 0, 1))
    if tensor.ndim == 2:
        return np.ascontiguousarray(tensor.T)
    return tensor


def convert_checkpoint(prefix: str | os.PathLike, *, shown: str | None = None
                       ) -> tuple[dict[str, np.ndarray], dict[str, str]]:
    """A musicnn checkpoint (see :func:`read_checkpoint`) -> (MusiCNN state dict, SHA-256 of
    each source tensor by its TensorFlow name).

    Optimizer slots (``.../Adam``, ``beta*_power``) are dropped. A missing or unexpected
    layer, a tensor of another shape than :class:`MusiCNN`'s or not of floats, a value that
    is not finite or a negative variance raises :class:`ModelError` naming the checkpoint
    (or ``shown``).
    """
    shown = shown or os.fspath(prefix)
    tensors = read_checkpoint(prefix, shown=shown)
    state, checksums = {}, {}
    for name, tensor in tensors.items():
        layer, _, parameter = name.rpartition("/")
        if "Adam" in name or name.startswith("beta"):
            continue
        if layer not in LAYERS or parameter not in PARAMETERS:
            raise ModelError(f"{shown}: tensor {name!r} is not part of musicnn's architecture")
        if not np.issubdtype(tensor.dtype, np.floating):
            raise ModelError(f"{shown}: tensor {name!r} holds {tensor.dtype}; expected floats")
        state[f"{LAYERS[layer]}.{PARAMETERS[parameter]}"] = to_torch_layout(LAYERS[layer], tensor).astype(np.float32)
        checksums[name] = hashlib.sha256(np.ascontiguousarray(tensor).tobytes()).hexdigest()
    expected = 4 * sum(name.startswith("batch") for name in LAYERS) + 2 * sum(not name.startswith("batch")
                                                                                for name in LAYERS)
    if len(state) != expected:
        raise ModelError(f"{shown}: found {len(state)} of musicnn's {expected} tensors")
    problem = state_problem(state)
    if problem:
        raise ModelError(f"{shown}: {problem}")
    return state, checksums


def state_problem(state: dict) -> str | None:
    """What keeps ``state`` (name -> array or tensor) from being :class:`MusiCNN`'s weights, or
    None: names and shapes other than the network's, values that are not float32, a value that
    is not finite (every feature would be NaN), a negative variance (its square root is NaN)."""
    from genrekit.features.musicnn.network import MusiCNN

    with _torch_seed_kept():
        shapes = {name: tuple(value.shape) for name, value in MusiCNN().state_dict().items()
                  if not name.endswith("num_batches_tracked")}
    found = {name: tuple(value.shape) for name, value in state.items()}
    if found != shapes:
        wrong = sorted(set(found) ^ set(shapes)) or sorted(n for n in shapes if found[n] != shapes[n])
        name = wrong[0]
        return (f"{name}: shape {found.get(name, 'missing')}, expected {shapes.get(name, 'no such tensor')} "
                f"({len(wrong)} tensor(s) differ from musicnn's)")
    for name, value in state.items():
        array = np.asarray(value)
        if array.dtype != np.float32:  # int64 loaded, cut to whole numbers; the conversion writes float32
            return f"{name} holds {array.dtype} values, expected float32"
        if not np.isfinite(array).all():
            return f"{name} holds values that are not finite (NaN or infinity)"
        if name.endswith("running_var") and (array < 0).any():
            return f"{name} holds a negative variance"
    return None


def _torch_seed_kept():
    import torch

    return torch.random.fork_rng(devices=[])  # building the network draws random weights: the caller's seed kept


def convert_wheel(wheel: str | os.PathLike, out_dir: str | os.PathLike, models: tuple[str, ...] = TAGGERS, *,
                  expected_sha256: str | None = MUSICNN_WHEEL_SHA256) -> list[Path]:
    """Convert ``models`` from the musicnn wheel file to ``out_dir/<model>.safetensors``.

    Every model is converted and checked (:func:`convert_checkpoint`) before any file is
    written, so a failure leaves ``out_dir`` as it was.

    Parameters
    ----------
    wheel : path
        musicnn's wheel (``pip download --no-deps musicnn==0.1.0``).
    out_dir : path
        The folder for the safetensors files.
    models : tuple of str
        The checkpoints to convert.
    expected_sha256 : str or None
        The wheel's SHA-256: by default musicnn 0.1.0's, whose weights genrekit ships; None
        takes any wheel whose checkpoints are musicnn's network.

    Raises
    ------
    ModelError
        Naming the wheel: not a zip file, another wheel than ``expected_sha256``'s, a
        checkpoint missing, too large or not musicnn's network.
    """
    from safetensors.numpy import save_file

    wheel = Path(wheel)
    try:
        with wheel.open("rb") as handle:
            digest = hashlib.file_digest(handle, "sha256").hexdigest()
        archive = zipfile.ZipFile(wheel)
    except (OSError, zipfile.BadZipFile) as exc:
        raise ModelError(f"{wheel}: expected the musicnn wheel (musicnn-0.1.0-py3-none-any.whl): {exc}") from exc
    if expected_sha256 is not None and digest != expected_sha256:
        archive.close()
        raise ModelError(f"{wheel}: its SHA-256 is {digest}, not musicnn 0.1.0's wheel ({expected_sha256}); "
                         "download it again (pip download --no-deps musicnn==0.1.0), or convert another wheel "
                         "into a folder of its own (--out)")
    converted = {}
    with archive, tempfile.TemporaryDirectory(prefix="genrekit-musicnn-") as tmp:
        for model in models:
            members = [m for m in archive.infolist() if m.filename.startswith(f"musicnn/{model}/")]
            if not any(m.filename.endswith("/.index") for m in members):
                raise ModelError(f"{wheel}: no checkpoint musicnn/{model}/ in the wheel (is it musicnn's?)")
            declared = sum(m.file_size for m in members)
            if declared > MAX_CHECKPOINT_BYTES:  # musicnn's are a few MB: a bomb is refused before it is inflated
                raise ModelError(f"{wheel}: musicnn/{model}/ declares {declared} bytes; expected at most "
                                 f"{MAX_CHECKPOINT_BYTES} (is it musicnn's?)")
            try:
                archive.extractall(tmp, members)
            except DAMAGED_FILE_ERRORS as exc:  # a corrupt or cut download
                raise ModelError(f"{wheel}: musicnn/{model}/ cannot be read from the wheel "
                                 f"({type(exc).__name__}: {exc}); download it again") from exc
            converted[model] = convert_checkpoint(Path(tmp, "musicnn", model), shown=f"{wheel}: musicnn/{model}")
    with contextlib.ExitStack() as renames:  # every file written before any replaces the one it updates
        for model, (state, checksums) in converted.items():
            metadata = {"model": model, "tags": json.dumps(TAGS[model]), "source": wheel.name,
                        "source_sha256": digest, "tensor_sha256": json.dumps(checksums, sort_keys=True),
                        "input": json.dumps(INPUT), "licence": "ISC; Copyright (c) Music Technology Group, Universitat Pompeu Fabra 2019"}
            temporary = renames.enter_context(atomic_path(Path(out_dir) / f"{model}.safetensors"))
            save_file(state, str(temporary), metadata=metadata)
    return [Path(out_dir) / f"{model}.safetensors" for model in converted]


#: The input pipeline the models were trained with (musicnn's configuration.py and extractor.py).
INPUT = {"sample_rate": SAMPLE_RATE, "n_fft": N_FFT, "hop_length": HOP_LENGTH, "n_mels": N_MELS, "patch_frames": PATCH_FRAMES,
         "log": "log10(10000 * mel_power + 1)"}
