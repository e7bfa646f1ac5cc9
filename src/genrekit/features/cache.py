"""On-disk feature cache keyed by audio content and feature parameters.

An entry is one ``.npy`` file at ``ROOT/<spec key>/<aa>/<content sha256>.npy`` (with the
decoder's revision before ``.npy`` where :func:`genrekit.audio.decoder_revision` names one, so
an entry computed from a decode since mended is not reused). Writes are
atomic (temporary file, then rename), so an interrupted run leaves only whole entries and
the next run resumes from them. Arrays are loaded with ``allow_pickle=False``.

Files named by URL are not read just to hash them: ``ROOT/urls/`` remembers the content
hash of each (URL, size, modification time) whose features were computed.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
from pathlib import Path, PurePosixPath
from urllib.parse import urlsplit

import numpy as np

from genrekit._files import DAMAGED_FILE_ERRORS, atomic_path
from genrekit.audio.remote import RemoteFile
from genrekit.features.registry import FeatureSpec

logger = logging.getLogger(__name__)

_SHA256 = re.compile(r"[0-9a-f]{64}")  # a remembered hash; anything else is damage (a path: read from elsewhere)


class FeatureCache:
    """A folder of cached feature arrays.

    Parameters
    ----------
    root : path
        The cache's folder (e.g. :func:`default_cache_dir`). Nothing is created or checked
        here: folders are made as entries are written.

    Attributes
    ----------
    root : pathlib.Path
        ``root`` as a path.
    """

    def __init__(self, root: str | os.PathLike):
        self.root = Path(root)

    def path(self, spec: FeatureSpec, content_hash: str, decoder: str = "") -> Path:
        return self.root / spec.key() / content_hash[:2] / _entry_name(content_hash, decoder, ".npy")

    def get(self, spec: FeatureSpec, content_hash: str, decoder: str = "") -> np.ndarray | None:
        """The cached array, or None when absent or unreadable (then it is recomputed)."""
        path = self.path(spec, content_hash, decoder)
        if not path.exists():
            return None
        try:
            # mapped first: a damaged header declaring more than the file holds is refused, not allocated
            return np.array(np.load(path, mmap_mode="r", allow_pickle=False))
        except DAMAGED_FILE_ERRORS as exc:  # an empty file (a crash before it was written), a damaged header
            logger.warning("ignoring unreadable cache entry %s: %s", path, exc)
            return None

    def put(self, spec: FeatureSpec, content_hash: str, array: np.ndarray, decoder: str = "") -> None:
        path = self.path(spec, content_hash, decoder)
        with atomic_path(path) as temporary, open(temporary, "wb") as stream:
            np.save(stream, np.asarray(array), allow_pickle=False)

    def audio_hash(self, path: str, content_hash: str) -> str:
        """:func:`genrekit.audio.audio_hash` of ``path``, whose file content hash is
        ``content_hash``: remembered under ``ROOT/audio-sha256/``, so a file is decoded for
        it once."""
        from genrekit.audio import audio_hash, decoder_revision

        entry = self.root / "audio-sha256" / content_hash[:2] / _entry_name(content_hash, decoder_revision(path), ".txt")
        try:
            remembered = entry.read_text(encoding="ascii").strip()
        except OSError:
            remembered = ""
        if _SHA256.fullmatch(remembered):
            return remembered
        value = audio_hash(path)
        try:
            with atomic_path(entry) as temporary:
                temporary.write_text(value, encoding="ascii")
        except OSError as exc:  # a read-only or full cache: computed again next time
            logger.warning("%s: not remembered in the cache: %s", entry, exc)
        return value

    def _url_entry(self, remote_file: RemoteFile) -> Path:
        key = hashlib.sha256(f"{remote_file.url}|{remote_file.size}|{remote_file.mtime_ns}".encode()).hexdigest()
        return self.root / "urls" / key[:2] / f"{key}.txt"

    def content_of(self, remote_file: RemoteFile) -> tuple[str, str] | None:
        """(content hash, decoder revision now) for this version of a URL's file, or None
        where nothing usable is remembered."""
        from genrekit.audio import revision_of

        try:
            remembered = self._url_entry(remote_file).read_text(encoding="ascii").split()
        except OSError:
            return None
        if not remembered or not _SHA256.fullmatch(remembered[0]):  # a damaged entry (a path: read from elsewhere)
            return None
        if len(remembered) == 2:  # the content hash, and whether it is an MP3 without a declared length
            return remembered[0], revision_of(remembered[1] == "mp3-nolength")
        if len(remembered) == 1 and PurePosixPath(urlsplit(remote_file.url).path).suffix.lower() != ".mp3":
            return remembered[0], ""  # remembered before decoders had revisions, which only MP3s have
        return None

    def remember(self, remote_file: RemoteFile, content_hash: str, length_undeclared: bool = False) -> None:
        """Remember a URL's version's content hash and whether it is an MP3 without a declared
        length (:func:`genrekit.audio.mp3_length_undeclared`): its revision follows the
        decoders installed when it is looked up, not those of when it was computed."""
        with atomic_path(self._url_entry(remote_file)) as temporary:
            temporary.write_text(f"{content_hash} {'mp3-nolength' if length_undeclared else '-'}", encoding="ascii")


def _entry_name(content_hash: str, decoder: str, suffix: str) -> str:
    return f"{content_hash}.{decoder}{suffix}" if decoder else f"{content_hash}{suffix}"


def default_cache_dir() -> Path:
    """``$GENREKIT_CACHE`` or ``~/.cache/genrekit/features``.

    Returns
    -------
    pathlib.Path
        ``$GENREKIT_CACHE`` (``~`` expanded) where it is set and not empty; else
        ``$XDG_CACHE_HOME/genrekit/features`` where ``XDG_CACHE_HOME`` is an absolute path;
        else ``~/.cache/genrekit/features``. The folder is not created.
    """
    env = os.environ.get("GENREKIT_CACHE")
    if env:
        return Path(env).expanduser()
    base = os.environ.get("XDG_CACHE_HOME", "")
    if not os.path.isabs(base):  # unset, empty or relative: the XDG spec says to ignore it
        base = str(Path.home() / ".cache")
    return Path(base) / "genrekit" / "features"
