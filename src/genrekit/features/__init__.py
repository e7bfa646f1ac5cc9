"""Features: pure functions from audio arrays to feature arrays, plus caching and batch extraction.

- :func:`log_mel`: log-mel spectrogram
- :func:`fma518`: FMA's 518 statistics; :func:`gtzan57`: the published GTZAN table's 57
- :class:`FeatureSpec`: a named set with its parameters; :func:`extract_features` over files
"""

import importlib

# Loaded on first use, so that genrekit.features.numpy_logmel (the torch-free runtime's front
# end) does not pull librosa in through this package.
_EXPORTS = {
    "FeatureCache": "cache", "default_cache_dir": "cache",
    "chunk_signal": "chunks",
    "ExtractionResult": "extract", "extract_features": "extract",
    "fma518": "fma",
    "gtzan57": "gtzan",
    "FEATURE_SETS": "registry", "FeatureSpec": "registry", "describe_feature_sets": "registry",
    "LogMelSpec": "spectral", "log_mel": "spectral",
}


def __getattr__(name: str):
    if name not in _EXPORTS:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{_EXPORTS[name]}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(list(globals()) + list(_EXPORTS))


__all__ = [
    "FEATURE_SETS",
    "ExtractionResult",
    "FeatureCache",
    "FeatureSpec",
    "LogMelSpec",
    "chunk_signal",
    "default_cache_dir",
    "describe_feature_sets",
    "extract_features",
    "fma518",
    "gtzan57",
    "log_mel",
]
