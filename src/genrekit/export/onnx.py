"""Network files (``model.safetensors``) to ONNX, with the log-mel front end inside the graph.

The exported graph takes what the PyTorch network takes — waveform windows ``(batch,
samples)`` at the network's sample rate, or spectrogram images ``(batch, 3, 288, 432)``
for image networks — and returns genre probabilities ``(batch, n_genres)``; the batch is
dynamic. The network file's JSON config (labels, preset, front end, window length) is
stored in the ONNX model's metadata, so an ONNX file is usable on its own.
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path

from genrekit.errors import ModelError

logger = logging.getLogger(__name__)

METADATA_KEY = "genrekit"
OPSET = 18


def export_onnx(model_path: str | os.PathLike, out: str | os.PathLike) -> Path:
    """Export a network file to ONNX (fp32); returns the path written (atomically)."""
    import onnx
    import torch
    from torch import nn

    from genrekit.models.nets.training import load_network

    net, config = load_network(model_path)

    class WithSoftmax(nn.Module):
        def __init__(self, inner: nn.Module):
            super().__init__()
            self.inner = inner

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return torch.softmax(self.inner(x), dim=1)

    if config.get("input_kind") == "image":
        name, example = "image", torch.rand(2, 3, 288, 432)
    else:
        name = "waveform"
        example = torch.randn(2, (config["n_frames"] - 1) * config["frontend"]["hop_length"]) * 0.1
    wrapped = WithSoftmax(net).eval()
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    temporary = out.with_name(f".{out.name}.tmp")
    import contextlib
    import io

    try:
        with contextlib.redirect_stdout(io.StringIO()) as chatter:  # the exporter prints its progress
            program = torch.onnx.export(wrapped, (example,), input_names=[name], output_names=["probabilities"],
                                        dynamic_shapes={"x": {0: torch.export.Dim("batch", min=1)}},
                                        opset_version=OPSET, dynamo=True, verbose=False)
        logger.debug("%s", chatter.getvalue())
        model = program.model_proto
    except Exception as exc:  # the exporter raises many types
        raise ModelError(f"{model_path}: ONNX export of {config['preset']!r} failed: {type(exc).__name__}: {exc}") from exc
    entry = model.metadata_props.add()
    entry.key, entry.value = METADATA_KEY, json.dumps({**config, "input_name": name, "format": "genrekit-onnx"})
    onnx.checker.check_model(model)
    onnx.save(model, str(temporary))
    os.replace(temporary, out)
    return out


def read_onnx_metadata(path: str | os.PathLike) -> dict:
    """The genrekit config stored in an exported ONNX file (reads the file with onnxruntime only)."""
    import onnxruntime as ort

    try:
        session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        value = session.get_modelmeta().custom_metadata_map[METADATA_KEY]
    except Exception as exc:
        raise ModelError(f"{path}: not a genrekit ONNX file ({type(exc).__name__}: {exc})") from exc
    return json.loads(value)
