"""On-disk feature cache keyed by audio content and feature parameters.

An entry is one ``.npy`` file at ``ROOT/<spec key>/<aa>/<content sha256>.npy``. Writes are
atomic (temporary file, then rename), so an interrupted run leaves only whole entries and
the next run resumes from them. Arrays are loaded with ``allow_pickle=False``.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

import numpy as np

from genrekit._files import atomic_path
from genrekit.features.registry import FeatureSpec

logger = logging.getLogger(__name__)


class FeatureCache:
    """A folder of cached feature arrays."""

    def __init__(self, root: str | os.PathLike):
        self.root = Path(root)

    def path(self, spec: FeatureSpec, content_hash: str) -> Path:
        return self.root / spec.key() / content_hash[:2] / f"{content_hash}.npy"

    def get(self, spec: FeatureSpec, content_hash: str) -> np.ndarray | None:
        """The cached array, or None when absent or unreadable (then it is recomputed)."""
        path = self.path(spec, content_hash)
        if not path.exists():
            return None
        try:
            return np.load(path, allow_pickle=False)
        except (OSError, ValueError) as exc:
            logger.warning("ignoring unreadable cache entry %s: %s", path, exc)
            return None

    def put(self, spec: FeatureSpec, content_hash: str, array: np.ndarray) -> None:
        path = self.path(spec, content_hash)
        with atomic_path(path) as temporary, open(temporary, "wb") as stream:
            np.save(stream, np.asarray(array), allow_pickle=False)


def default_cache_dir() -> Path:
    """``$GENREKIT_CACHE`` or ``~/.cache/genrekit/features``."""
    env = os.environ.get("GENREKIT_CACHE")
    if env:
        return Path(env)
    return Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "genrekit" / "features"
