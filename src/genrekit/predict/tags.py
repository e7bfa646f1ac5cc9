"""Writing the predicted genre into a file's own metadata (ID3, Vorbis comments, MP4).

A file's genre tag is its user's data. :func:`plan_genre_tag` reads the field the genre
lives in (``TCON`` of ID3v2, ``GENRE`` Vorbis comments of FLAC/Ogg/Opus, ``©gen`` of MP4)
and decides what to do with it (``existing``: keep the user's genre, replace it, or append
ours after it); :func:`apply_tag_change` writes the decision; :func:`write_genre_field` sets a
field to exact values (or removes it), which is also how an undo puts the old values back.

Only the tag changes: mutagen rewrites the metadata and copies the audio data as it is. The
edit is made on a copy (fsynced) that then replaces the file, so a crash never leaves a
half-written song. An MP3's ID3v2 tag is saved in the version it had (2.3 or 2.4) and its
ID3v1 tag, if any, is left byte for byte as it was.
"""

from __future__ import annotations

import contextlib
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

from genrekit.errors import GenrekitError, ParameterError

TAGGABLE = frozenset({".mp3", ".flac", ".ogg", ".oga", ".opus", ".m4a", ".m4b", ".mp4"})
EXISTING = ("keep", "replace", "append")
ID3V1_SIZE = 128


class TagConflict(GenrekitError):
    """A file's genre field is not what it was expected to be (it changed since it was read)."""


@dataclass
class GenreField:
    """Where a file keeps its genre, and what it holds.

    ``values`` is the field exactly as mutagen reads it (None: the field is absent; an empty
    list or empty strings are kept as they are); ``genres`` is what players show as the
    file's genres (an ID3 ``(17)`` reference as ``Rock``, an ID3v1 genre when ID3v2 has none).
    """

    format: str  # "ID3v2.3", "ID3v2.4", "Vorbis comment", "MP4"
    field: str  # "TCON", "GENRE", "©gen"
    values: list[str] | None
    genres: list[str]
    has_tags: bool  # the file has a tag block at all (ID3v2, Vorbis comment, MP4 ilst)


@dataclass
class TagChange:
    """The genre tag of one file: before, after, and what was done.

    ``old``/``new`` are the genres as shown ("; "-joined; ``old`` None when the file has
    none); ``action`` is ``write`` (planned), ``written``, ``would write`` (a dry run),
    ``kept`` (the file has a genre and ``existing`` is keep), ``unchanged`` (nothing to
    change) or ``failed``; ``reason`` says why nothing was written; ``old_values`` and
    ``new_values`` are the field ``field`` exactly (None: absent).
    """

    path: str
    old: str | None
    new: str
    written: bool
    error: str | None = None
    action: str = ""
    reason: str | None = None
    format: str | None = None
    field: str | None = None
    old_values: list[str] | None = None
    new_values: list[str] | None = None
    has_tags: bool = True


def _show(values: list[str] | None) -> str | None:
    return "; ".join(values) if values else None


def _id3(path: str, *, exact: bool):
    """The file's ID3 tag: ``exact`` as stored (ID3v2 only, frames untranslated, for writing
    back in the same version), else as players read it (translated, ID3v1 merged in); None
    when there is none."""
    from mutagen.id3 import ID3, ID3NoHeaderError

    try:
        return ID3(path, translate=False, load_v1=False) if exact else ID3(path)
    except ID3NoHeaderError:
        return None


def read_genre_field(path: str | os.PathLike, *, suffix: str | None = None) -> GenreField:
    """The genre field of a taggable file (``TAGGABLE``) as it is now; ``suffix``: the
    format's, when the name has another (a temporary copy)."""
    import mutagen

    path = os.fspath(path)
    if (suffix or Path(path).suffix).lower() == ".mp3":
        exact, shown = _id3(path, exact=True), _id3(path, exact=False)
        if exact is not None and exact.version[:2] not in ((2, 3), (2, 4)):
            raise ParameterError(f"{path}: expected an ID3v2.3 or v2.4 tag, found ID3v2.{exact.version[1]} "
                                 "(genrekit does not rewrite it; convert the tag first)")
        version = exact.version[1] if exact is not None else 4
        values = list(exact["TCON"].text) if exact is not None and "TCON" in exact else None
        genres = list(shown["TCON"].genres) if shown is not None and "TCON" in shown else []
        return GenreField(f"ID3v2.{version}", "TCON", values, genres, exact is not None)
    audio = mutagen.File(path)
    if audio is None:
        raise ParameterError(f"{path}: expected a file mutagen can tag, found none it recognises")
    from mutagen.mp4 import MP4

    if isinstance(audio, MP4):
        values = list(audio.tags["\xa9gen"]) if audio.tags is not None and "\xa9gen" in audio.tags else None
        return GenreField("MP4", "\xa9gen", values, list(values or []), audio.tags is not None)
    values = audio.tags.get("genre") if audio.tags is not None else None  # Vorbis: any case of GENRE
    return GenreField("Vorbis comment", "GENRE", None if values is None else list(values), list(values or []),
                      audio.tags is not None)


def _split(field: GenreField) -> set[str]:
    """The genres of ``field`` as compared against ours (ID3v2.3 joins values with '/')."""
    genres = field.genres
    if field.format == "ID3v2.3":
        genres = [part for g in genres for part in g.split("/")]
    return {g.strip().casefold() for g in genres}


def plan_genre_tag(path: str | os.PathLike, genre: str, *, existing: str = "keep") -> TagChange:
    """What setting the genre ``genre`` would do to the file, without writing.

    ``existing``: what to do with a genre the file already has: ``keep`` it (nothing is
    written), ``replace`` it with ours, or ``append`` ours after it (unless it is there).
    Formats without a standard genre tag (wav, au, aiff) and unreadable tags are reported
    in ``error``, never raised: tagging a library goes on.
    """
    if existing not in EXISTING:
        raise ParameterError(f"existing={existing!r}: expected one of {', '.join(EXISTING)}")
    path = os.fspath(path)
    if Path(path).suffix.lower() not in TAGGABLE:
        return TagChange(path, None, genre, False, f"genre tags are not written to {Path(path).suffix} files",
                         action="failed")
    try:
        field = read_genre_field(path)
    except Exception as exc:  # mutagen raises many types; the library run must go on
        return TagChange(path, None, genre, False, f"{path}: genre tag not read ({type(exc).__name__}: {exc})",
                         action="failed")
    old = _show(field.genres)
    change = TagChange(path, old, old or genre, False, format=field.format, field=field.field,
                       old_values=field.values, new_values=field.values, has_tags=field.has_tags)
    has_genre = any(g.strip() for g in field.genres)
    if existing == "keep" and has_genre:
        change.action = "kept"
        change.reason = (f"has genre {old!r}, kept (--existing keep; ours: {genre}; "
                         "--existing replace or append to change it)")
        return change
    if existing == "append" and has_genre:
        if genre.strip().casefold() in _split(field):
            change.action, change.reason = "unchanged", f"has genre {genre!r} already"
            return change
        new = [*field.genres, genre]
    else:
        new = [genre]
    if new == field.values:
        change.action, change.reason = "unchanged", f"has genre {genre!r} already"
        return change
    change.new, change.new_values, change.action = _show(new), new, "write"
    return change


def apply_tag_change(change: TagChange) -> TagChange:
    """Write a planned change (``action`` ``write``): ``written`` with the field as read back
    from the file (an ID3v2.3 tag joins several values with '/'), or ``failed`` with ``error``.
    The write is refused (``failed``) when the field is no longer what the plan read."""
    if change.action != "write":
        raise ParameterError(f"{change.path}: expected a planned change (action 'write'), found {change.action!r}")
    try:
        change.new_values = write_genre_field(change.path, change.new_values, expect=change.old_values)
    except Exception as exc:  # mutagen raises many types; the library run must go on
        change.action, change.error = "failed", f"{change.path}: genre tag not written ({type(exc).__name__}: {exc})"
        return change
    change.action, change.written, change.new = "written", True, _show(change.new_values) or ""
    return change


_UNSET = object()


def _fsync(path: str, *, folder: bool = False) -> None:
    descriptor = os.open(path, os.O_RDONLY | (os.O_DIRECTORY if folder else 0))
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


def _id3v1_block(path: str) -> bytes | None:
    """The file's ID3v1 tag (its last 128 bytes when they start with 'TAG'), or None."""
    with open(path, "rb") as handle:
        handle.seek(0, os.SEEK_END)
        if handle.tell() < ID3V1_SIZE:
            return None
        handle.seek(-ID3V1_SIZE, os.SEEK_END)
        block = handle.read(ID3V1_SIZE)
    return block if block.startswith(b"TAG") else None


def _set_id3(path: str, values: list[str] | None, remove_empty: bool) -> None:
    from mutagen.id3 import ID3, TCON, ID3v1SaveOptions
    from mutagen.id3 import delete as delete_id3

    tags = _id3(path, exact=True)
    version = tags.version[1] if tags is not None else 4
    tags = tags if tags is not None else ID3()
    v1 = _id3v1_block(path)
    if values is None:
        tags.delall("TCON")
    else:
        tags.setall("TCON", [TCON(encoding=3, text=list(values))])
    if remove_empty and not tags.keys() and not tags.unknown_frames:
        delete_id3(path, delete_v1=False)
        return
    tags.save(path, v1=ID3v1SaveOptions.UPDATE, v2_version=version)
    if v1 is not None:  # mutagen rewrites ID3v1 from the ID3v2 frames: put the user's back as it was
        with open(path, "r+b") as handle:
            handle.seek(-ID3V1_SIZE, os.SEEK_END)
            if handle.read(3) != b"TAG":
                raise GenrekitError(f"{path}: expected the ID3v1 tag at the end after saving, found none")
            handle.seek(-ID3V1_SIZE, os.SEEK_END)
            handle.write(v1)


def _set_other(path: str, values: list[str] | None, remove_empty: bool) -> None:
    import mutagen
    from mutagen.mp4 import MP4

    audio = mutagen.File(path)
    key = "\xa9gen" if isinstance(audio, MP4) else "genre"
    if audio.tags is None:
        if values is None:
            return
        audio.add_tags()
    if values is None:
        if key in audio.tags:
            del audio.tags[key]
    else:
        audio.tags[key] = list(values)
    if remove_empty and isinstance(audio, MP4) and not audio.tags.keys():
        audio.delete()
        return
    audio.save()


def write_genre_field(path: str | os.PathLike, values: list[str] | None, *, expect=_UNSET,
                      remove_empty: bool = False) -> list[str] | None:
    """Set the genre field of ``path`` to exactly ``values`` (None: remove the field), on a
    copy that is fsynced and then replaces the file; the audio data is left as it is.

    expect : the field's values the file must hold now (None: absent); otherwise
        :class:`TagConflict` and nothing is written
    remove_empty : remove an ID3v2 tag or MP4 ``ilst`` left empty (one genrekit added)

    Returns the field as read back from the written file.
    """
    path = os.fspath(path)
    temporary = os.path.join(os.path.dirname(path), f".{os.path.basename(path)}.genrekit-tag")
    shutil.copy2(path, temporary)
    try:
        suffix = Path(path).suffix
        field = read_genre_field(temporary, suffix=suffix)
        if expect is not _UNSET and field.values != expect:
            raise TagConflict(f"{path}: expected {field.field} {expect!r}, found {field.values!r} "
                              "(the file changed since it was read)")
        if field.format.startswith("ID3"):
            _set_id3(temporary, values, remove_empty)
        else:
            _set_other(temporary, values, remove_empty)
        written = read_genre_field(temporary, suffix=suffix).values
        _fsync(temporary)
        os.replace(temporary, path)
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.remove(temporary)
    with contextlib.suppress(OSError):  # not every file system can sync a folder
        _fsync(os.path.dirname(os.path.abspath(path)), folder=True)
    return written


def read_genre_tag(path: str | os.PathLike) -> str | None:
    """The file's genre (the first one), or None."""
    genres = read_genre_field(path).genres
    return genres[0] if genres else None


def write_genre_tag(path: str | os.PathLike, genre: str, *, dry_run: bool = False,
                    existing: str = "keep") -> TagChange:
    """Set the file's genre to ``genre`` as ``existing`` says (:func:`plan_genre_tag`);
    ``dry_run`` only reports the change (``action`` ``would write``)."""
    change = plan_genre_tag(path, genre, existing=existing)
    if change.action != "write":
        return change
    if dry_run:
        change.action = "would write"
        return change
    return apply_tag_change(change)
