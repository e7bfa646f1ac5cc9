"""Exporting models to run elsewhere: ONNX for networks (fp32 or int8; waveform or log-mel
in, probabilities out) and for classical models (feature rows in, probabilities out)."""

from genrekit.export.onnx import export_onnx, read_onnx_metadata

__all__ = ["export_onnx", "read_onnx_metadata"]
