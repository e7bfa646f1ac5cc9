"""The network file (``model.safetensors``): weights as safetensors, genrekit's JSON config in
its metadata. Read as untrusted input: tensors and JSON only, nothing executed, the config
checked field by field against its preset."""

from __future__ import annotations

import copy
import functools
import json
import os
from pathlib import Path

from safetensors.torch import load_file, save_file
from torch import nn

from genrekit import __version__
from genrekit._files import atomic_path
from genrekit.errors import ModelError
from genrekit.models.catalogue import current_preset
from genrekit.models.nets.inference import IMAGE_SECONDS
from genrekit.models.nets.presets import PRESETS, build_network
from genrekit.untrusted import (
    check_safetensors_header, describe_value, parse_json, require, require_labels, require_training_hashes
)


def save_network(path: str | os.PathLike, net: nn.Module, *, preset: str, labels: list[str], metrics: dict | None = None,
                 training: dict | None = None, aggregation: str = "mean") -> Path:
    """Weights as safetensors, with the JSON config (preset, front end, labels, metrics) in its metadata."""
    path = Path(path)
    frontend = net.frontend.config.to_dict() if hasattr(net, "frontend") else None
    config = {"format": "genrekit-network", "format_version": 1, "genrekit_version": __version__, "preset": preset,
              "labels": list(labels), "frontend": frontend, "n_frames": PRESETS[preset].n_frames,
              "input_kind": PRESETS[preset].input_kind,
              "image_seconds": IMAGE_SECONDS if PRESETS[preset].input_kind == "image" else None,
              "aggregation": aggregation, "metrics": metrics or {}, "training": training or {}}
    tensors = {k: v.detach().contiguous() for k, v in copy.deepcopy(net).state_dict().items()}
    with atomic_path(path) as temporary:
        save_file(tensors, str(temporary), metadata={"genrekit": json.dumps(config)})
    return path


def load_network(path: str | os.PathLike) -> tuple[nn.Module, dict]:
    """A network saved by :func:`save_network`, read as untrusted input: tensors and JSON
    only, nothing executed; the JSON config checked field by field against its preset."""
    from safetensors import SafetensorError, safe_open

    path = Path(path)
    if not path.is_file():
        raise ModelError(f"{path}: model file not found")
    try:
        check_safetensors_header(path)
        with safe_open(str(path), framework="pt") as handle:
            metadata = handle.metadata() or {}
    except (SafetensorError, OSError) as exc:
        raise ModelError(f"{path}: not a genrekit network file ({type(exc).__name__}: {exc})") from exc
    if "genrekit" not in metadata:
        raise ModelError(f"{path}: not a genrekit network file (its metadata has no 'genrekit' entry)")
    config = _checked_network_config(parse_json(metadata["genrekit"], f"{path}: metadata 'genrekit'"),
                                     f"{path}: metadata 'genrekit'")
    _check_tensor_shapes(path, config["preset"], len(config["labels"]))  # before building anything of that size
    net = build_network(config["preset"], len(config["labels"]))
    try:
        tensors = load_file(str(path))
        net.load_state_dict(tensors, strict=True)
    except (SafetensorError, OSError) as exc:
        raise ModelError(f"{path}: weights cannot be read ({type(exc).__name__}: {exc})") from exc
    except RuntimeError as exc:
        raise ModelError(f"{path}: weights do not fit preset {config['preset']!r}: {exc}") from exc
    broken = [name for name, tensor in tensors.items() if tensor.is_floating_point() and not tensor.isfinite().all()]
    if broken:
        raise ModelError(f"{path}: weights {', '.join(broken[:3])} hold NaN or infinite values (a corrupt or crafted file)")
    return net.eval(), config


def _check_tensor_shapes(path: Path, preset: str, n_labels: int) -> None:
    """The file's tensors must be the preset's, by name, shape and dtype, for ``n_labels``
    genres: read from the file's header, so that a file listing a million labels is refused
    before a network of that size is built."""
    from safetensors import safe_open

    expected = _preset_shapes(preset, n_labels)
    with safe_open(str(path), framework="pt") as handle:
        found = {name: (tuple(handle.get_slice(name).get_shape()), handle.get_slice(name).get_dtype())
                 for name in handle.keys()}
    if found != expected:
        wrong = sorted(set(found) ^ set(expected)) or sorted(k for k in found if found[k] != expected[k])
        name = wrong[0]
        raise ModelError(f"{path}: weights do not fit preset {preset!r} with {n_labels} genres: tensor {name!r} "
                         f"is {found.get(name, 'missing')}, expected {expected.get(name, 'none')}")


def _preset_shapes(preset: str, n_labels: int) -> dict[str, tuple[tuple[int, ...], str]]:
    """Name -> (shape, safetensors dtype) of a preset's tensors for ``n_labels`` genres: the
    shapes of networks for 2 and 3 genres, extended linearly along the genre dimension."""
    two, three = _built_shapes(preset, 2), _built_shapes(preset, 3)
    return {name: (tuple(a + (n_labels - 2) * (b - a) for a, b in zip(two[name][0], three[name][0])), two[name][1])
            for name in two}


@functools.cache
def _built_shapes(preset: str, n_labels: int) -> dict[str, tuple[tuple[int, ...], str]]:
    dtypes = {"torch.float32": "F32", "torch.int64": "I64", "torch.float64": "F64", "torch.int32": "I32",
              "torch.bool": "BOOL", "torch.float16": "F16", "torch.bfloat16": "BF16"}
    return {name: (tuple(tensor.shape), dtypes[str(tensor.dtype)])
            for name, tensor in build_network(preset, n_labels).state_dict().items()}


def _checked_network_config(config, where: str) -> dict:
    """``config`` if it describes a network genrekit can build, else a ModelError naming the
    field. The input geometry (front end, frames, image length) must be the preset's own: it
    sizes every buffer, so a file cannot choose it."""
    if not isinstance(config, dict):
        raise ModelError(f"{where}: expected a JSON object, found {type(config).__name__}")
    if config.get("format") != "genrekit-network":
        raise ModelError(f"{where}: not a genrekit network file (format {describe_value(config.get('format'))})")
    version = require(config, "format_version", int, where)
    if version > 1:
        raise ModelError(f"{where}: network format {version} is newer than this genrekit reads (1); upgrade genrekit")
    preset = current_preset(require(config, "preset", str, where))
    config = {**config, "preset": preset}  # a file saved under a preset's old name reads as its new name
    if preset not in PRESETS:
        raise ModelError(f"{where}: field 'preset' must be one of {', '.join(PRESETS)}, found {describe_value(preset)}")
    require_labels(config, where)
    for key in ("metrics", "training"):
        require(config, key, dict, where, optional=True)
    require_training_hashes(config, where)
    aggregation = require(config, "aggregation", str, where, optional=True)
    if aggregation not in (None, "mean", "vote"):
        raise ModelError(f"{where}: field 'aggregation' must be 'mean' or 'vote', found {describe_value(aggregation)}")
    definition = PRESETS[preset]
    expected = {"n_frames": definition.n_frames, "input_kind": definition.input_kind,
                "image_seconds": IMAGE_SECONDS if definition.input_kind == "image" else None,
                "frontend": _preset_frontend(preset)}
    for key, value in expected.items():
        if config.get(key) != value:
            raise ModelError(f"{where}: field {key!r} must be {describe_value(value)} for preset {preset!r}, "
                             f"found {describe_value(config.get(key))}")
    return config


@functools.cache
def _preset_frontend(preset: str) -> dict | None:
    net = build_network(preset, 2)
    # as save_network wrote it: through JSON, so tuples compare as lists
    return json.loads(json.dumps(net.frontend.config.to_dict())) if hasattr(net, "frontend") else None
