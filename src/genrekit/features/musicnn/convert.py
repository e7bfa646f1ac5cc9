"""musicnn's TensorFlow checkpoints -> safetensors for :class:`MusiCNN`.

The ``musicnn`` wheel on PyPI (ISC licence) holds ``musicnn/MTT_musicnn/`` and
``musicnn/MSD_musicnn/``, each a TensorFlow 1 checkpoint. :func:`convert_wheel` reads them
straight from the wheel (a zip file; nothing is installed or imported from it) with
:mod:`genrekit.features.musicnn.checkpoint` and writes one safetensors file per model whose
metadata holds the tags, the input parameters, the wheel's SHA-256 and the SHA-256 of every
source tensor, so a converted file can be checked against the checkpoint it came from.
"""

from __future__ import annotations

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


def convert_checkpoint(prefix: str | os.PathLike) -> tuple[dict[str, np.ndarray], dict[str, str]]:
    """A musicnn checkpoint (see :func:`read_checkpoint`) -> (MusiCNN state dict, SHA-256 of
    each source tensor by its TensorFlow name).

    Optimizer slots (``.../Adam``, ``beta*_power``) are dropped; a missing or unexpected
    layer raises :class:`ModelError`.
    """
    tensors = read_checkpoint(prefix)
    state, checksums = {}, {}
    for name, tensor in tensors.items():
        layer, _, parameter = name.rpartition("/")
        if "Adam" in name or name.startswith("beta"):
            continue
        if layer not in LAYERS or parameter not in PARAMETERS:
            raise ModelError(f"{prefix}: tensor {name!r} is not part of musicnn's architecture")
        state[f"{LAYERS[layer]}.{PARAMETERS[parameter]}"] = to_torch_layout(LAYERS[layer], tensor).astype(np.float32)
        checksums[name] = hashlib.sha256(np.ascontiguousarray(tensor).tobytes()).hexdigest()
    expected = 4 * sum(name.startswith("batch") for name in LAYERS) + 2 * sum(not name.startswith("batch")
                                                                                for name in LAYERS)
    if len(state) != expected:
        raise ModelError(f"{prefix}: found {len(state)} of musicnn's {expected} tensors")
    return state, checksums


def convert_wheel(wheel: str | os.PathLike, out_dir: str | os.PathLike, models: tuple[str, ...] = TAGGERS) -> list[Path]:
    """Convert ``models`` from the musicnn wheel file to ``out_dir/<model>.safetensors``."""
    from safetensors.numpy import save_file

    wheel = Path(wheel)
    try:
        digest = hashlib.sha256(wheel.read_bytes()).hexdigest()
        archive = zipfile.ZipFile(wheel)
    except (OSError, zipfile.BadZipFile) as exc:
        raise ModelError(f"{wheel}: expected the musicnn wheel (musicnn-0.1.0-py3-none-any.whl): {exc}") from exc
    written = []
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
            state, checksums = convert_checkpoint(Path(tmp, "musicnn", model))
            metadata = {"model": model, "tags": json.dumps(TAGS[model]), "source": wheel.name,
                        "source_sha256": digest, "tensor_sha256": json.dumps(checksums, sort_keys=True),
                        "input": json.dumps(INPUT), "licence": "ISC; Copyright (c) Music Technology Group, Universitat Pompeu Fabra 2019"}
            with atomic_path(Path(out_dir) / f"{model}.safetensors") as temporary:
                save_file(state, str(temporary), metadata=metadata)
            written.append(Path(out_dir) / f"{model}.safetensors")
    return written


#: The input pipeline the models were trained with (musicnn's configuration.py and extractor.py).
INPUT = {"sample_rate": SAMPLE_RATE, "n_fft": N_FFT, "hop_length": HOP_LENGTH, "n_mels": N_MELS, "patch_frames": PATCH_FRAMES,
         "log": "log10(10000 * mel_power + 1)"}
