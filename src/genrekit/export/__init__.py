"""Exporting models to run elsewhere: ONNX for networks (waveform in, probabilities out)."""

from genrekit.export.onnx import export_onnx, read_onnx_metadata

__all__ = ["export_onnx", "read_onnx_metadata"]
