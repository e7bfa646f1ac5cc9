"""Features: pure functions from audio arrays to feature arrays, plus caching and batch extraction.

- :func:`log_mel`: log-mel spectrogram
- :func:`fma518`: FMA's 518 statistics; :func:`gtzan57`: the published GTZAN table's 57
- :class:`FeatureSpec`: a named set with its parameters; :func:`extract_features` over files
"""

from genrekit.features.cache import FeatureCache, default_cache_dir
from genrekit.features.chunks import chunk_signal
from genrekit.features.extract import ExtractionResult, extract_features
from genrekit.features.fma import fma518
from genrekit.features.gtzan import gtzan57
from genrekit.features.registry import FEATURE_SETS, FeatureSpec, describe_feature_sets
from genrekit.features.spectral import LogMelSpec, log_mel

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
