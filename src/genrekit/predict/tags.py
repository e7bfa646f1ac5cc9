"""Writing the predicted genre into a file's own metadata (ID3, Vorbis comments, FLAC, MP4).

Only the tag changes: mutagen rewrites the metadata and copies the audio data as it is.
The edit is made on a copy that then replaces the file, so a crash never leaves a
half-written song.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from pathlib import Path

TAGGABLE = frozenset({".mp3", ".flac", ".ogg", ".oga", ".opus", ".m4a", ".m4b", ".mp4"})


@dataclass
class TagChange:
    """The genre tag of one file: before, after, and whether it was written."""

    path: str
    old: str | None
    new: str
    written: bool
    error: str | None = None


def _open_tags(path: str):
    import mutagen

    audio = mutagen.File(path, easy=True)
    if audio is None:
        raise ValueError("mutagen does not recognise the file")
    if audio.tags is None:
        audio.add_tags()
    return audio


def read_genre_tag(path: str | os.PathLike) -> str | None:
    """The file's genre tag (the first one), or None."""
    values = _open_tags(os.fspath(path)).tags.get("genre")
    return values[0] if values else None


def write_genre_tag(path: str | os.PathLike, genre: str, *, dry_run: bool = False) -> TagChange:
    """Set the file's genre tag to ``genre``; ``dry_run`` only reports the change.

    Formats without a standard genre tag (wav, au, aiff) and unreadable tags are reported
    in ``error``, never raised: tagging a library goes on.
    """
    path = os.fspath(path)
    if Path(path).suffix.lower() not in TAGGABLE:
        return TagChange(path, None, genre, False, f"genre tags are not written to {Path(path).suffix} files")
    try:
        old = read_genre_tag(path)
        if dry_run or old == genre:
            return TagChange(path, old, genre, False)
        temporary = os.path.join(os.path.dirname(path), f".{os.path.basename(path)}.genrekit-tag")
        shutil.copy2(path, temporary)
        try:
            audio = _open_tags(temporary)
            audio.tags["genre"] = [genre]
            audio.save()
            os.replace(temporary, path)
        finally:
            if os.path.exists(temporary):
                os.remove(temporary)
    except Exception as exc:  # mutagen raises many types; the library run must go on
        return TagChange(path, None, genre, False, f"{path}: genre tag not written ({type(exc).__name__}: {exc})")
    return TagChange(path, old, genre, True)
