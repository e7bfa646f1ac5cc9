"""A file's own metadata (ID3, Vorbis comments, MP4): reading its genre and artist tags,
and writing predicted genres into it.

:func:`read_song_tags` reads what the owner filed a song under (its genres and artist), for
learning a library's own taxonomy (:func:`genrekit.datasets.load_tagged`).

A file's genre tag is its user's data. :func:`plan_genre_tag` reads the field the genre
lives in and decides what to do with it (``existing``: keep the user's genres, replace them,
or append ours after them); :func:`apply_tag_change` writes the decision; :func:`write_fields`
sets fields to exact values (or removes them), which is also how an undo puts the old values
back.

Each format keeps several genres by its own convention:

- ID3v2.4 (MP3, and the ``ID3`` chunk of WAV and AIFF): one ``TCON`` frame with several values;
- ID3v2.3: one ``TCON`` frame holding one value, the genres joined by ``separator``
  (v2.3 has no multi-value text frames);
- Vorbis comments (FLAC, Ogg Vorbis, Opus): one ``GENRE`` field per genre;
- MP4: ``©gen`` with several values.

Where genrekit's genres came from goes into fields of its own, never into the genre field
(:data:`PROVENANCE`): ``TXXX:GENREKIT_MODEL`` … frames in ID3, ``GENREKIT_MODEL`` … Vorbis
comments, ``----:org.genrekit:MODEL`` … freeform atoms in MP4. They are written with the
genres, and recorded and undone like them.

Only the tags change: mutagen rewrites the metadata and copies the audio data as it is. Every
edit is made on a copy in the same folder (keeping the file's permission bits), fsynced, and
then renamed onto the file (``os.replace``), so a crash or a SIGKILL at any moment leaves either
the old file or the new one, never a half-written song. An ID3v2 tag is saved in the version it
had (2.3 or 2.4; new tags get 2.4) unless ``id3v2_version`` says otherwise, and an MP3's ID3v1
tag, if any, is left byte for byte as it was.
"""

from __future__ import annotations

import base64
import contextlib
import datetime
import functools
import hashlib
import io
import logging
import os
import re
import shutil
import socket
import stat
import struct
import tempfile
import threading
import time
import unicodedata
import zlib
from collections import Counter
from collections.abc import Collection
from dataclasses import dataclass
from dataclasses import field as dc_field
from dataclasses import replace as dataclass_replace
from pathlib import Path

from genrekit._files import exclusive_lock, fsync_path, not_a_file
from genrekit.errors import GenrekitError, ParameterError, TagConflict, TagError, check_flags
from genrekit.untrusted import label_problem

logger = logging.getLogger(__name__)

ID3_SUFFIXES = frozenset({".mp3", ".wav", ".aif", ".aiff"})
MP4_SUFFIXES = frozenset({".m4a", ".m4b", ".mp4"})
RIFF_SUFFIXES = frozenset({".wav", ".aif", ".aiff"})  # chunked files: a stream's unfilled sizes break a write
TAGGABLE = frozenset({".flac", ".ogg", ".oga", ".opus"}) | MP4_SUFFIXES | ID3_SUFFIXES
EXISTING = ("keep", "replace", "append")
ID3V1_SIZE = 128
SEPARATOR = "; "
# genrekit's own fields: what made the genres (see provenance()), and the genres it wrote, so
# that genres the owner edited since are known to be the owner's (see genres_by_genrekit())
PROVENANCE = ("MODEL", "VERSION", "CONFIDENCE", "DATE", "GENRES")
MP4_FREEFORM = "----:org.genrekit:"
#: The field each tag family keeps its genres in (:attr:`GenreField.field`)
GENRE_FIELDS = {"ID3": "TCON", "MP4": "\xa9gen", "Vorbis comment": "GENRE"}
# an MP4's iTunes genre number, as a field of GenreField.fields: its atoms as stored (base64)
MP4_GNRE = "gnre"


# what players and taggers write where the genre is not known: not a genre
PLACEHOLDERS = frozenset({"unknown", "<unknown>", "unknown genre", "none", "no genre", "genre", "n/a", "na",
                          "undefined", "-", "?", "(none)"})


def genre_key(name: str) -> str:
    """How two spellings of a genre are matched: case and runs of white space ignored."""
    return " ".join(name.split()).casefold()


def squashed_genre(name: str) -> str:
    """A genre spelling without case, spaces, punctuation or the accents of Latin letters:
    ``Hip Hop`` and ``hip-hop`` -> ``hiphop``, ``Métal`` -> ``metal``. Marks on other scripts'
    letters are kept (``ポップ`` is not ``ホッフ``; Cyrillic ``й`` is not ``и``)."""
    kept, latin = [], False
    for ch in unicodedata.normalize("NFKD", name.casefold()):  # also full-width letters and ligatures
        if not unicodedata.combining(ch):
            latin = ch.isascii()
        elif latin:  # an accent of a Latin letter (Vietnamese stacks two)
            continue
        kept.append(ch)
    return "".join(ch for ch in unicodedata.normalize("NFC", "".join(kept)) if ch.isalnum())


def is_placeholder(genre: str) -> bool:
    """Whether a genre value only says that the genre is not known (``Unknown``, ``<unknown>``...)."""
    return genre_key(genre) in PLACEHOLDERS


def require_mutagen(what: str) -> None:
    """Raise a ParameterError naming the extra to install when mutagen (which reads and
    writes every tag format) is missing, as in the torch-free runtime."""
    import importlib.util

    if importlib.util.find_spec("mutagen") is None:
        raise ParameterError(f"{what} reads and writes files' tags with mutagen, which is not installed: "
                             "pip install 'genrekit[full]' (or pip install mutagen)")


# Compressed ID3 frames are inflated by mutagen, each whole, with zlib.decompress: a 540 kB
# MP3 whose frame held 512 MB of zeros took 3 GB in every `tag` run, and many small frames of
# short strings cost as much. One read of a tag may inflate at most this many bytes in all
# (text compresses 3-10x and pictures not at all, so real frames stay far below).
MAX_TAG_INFLATION = 2**20
_inflation = threading.local()


class _BoundedZlib:
    """What mutagen's ID3 frame reader sees as ``zlib``: the same, with what one read of a tag
    may inflate bounded (:data:`MAX_TAG_INFLATION`, counted from :func:`_mutagen`'s call). A
    frame past it is a ``zlib.error``, which mutagen makes a junk frame: dropped from what it
    reads, and found by :func:`_id3_loss` before a write."""

    error = zlib.error

    @staticmethod
    def decompress(data: bytes) -> bytes:
        left = getattr(_inflation, "left", MAX_TAG_INFLATION)
        inflater = zlib.decompressobj()
        inflated = inflater.decompress(data, left + 1)
        if len(inflated) > left:
            _inflation.left = 0
            raise zlib.error(f"compressed frames inflate past {MAX_TAG_INFLATION} bytes in one tag")
        if not inflater.eof:
            raise zlib.error("incomplete or truncated stream")
        _inflation.left = left - len(inflated)
        return inflated


@functools.cache
def _bound_id3_inflation() -> None:
    from mutagen.id3 import _frames

    if getattr(_frames, "zlib", None) not in (zlib, _BoundedZlib):
        raise ImportError("mutagen.id3._frames no longer inflates with zlib as genrekit bounds it "
                          "(see MAX_TAG_INFLATION); install the mutagen of constraints.txt")
    _frames.zlib = _BoundedZlib


def _mutagen():
    """mutagen, its ID3 frames inflated with :class:`_BoundedZlib` and its parsing bounded
    (:func:`_bound_tag_parsing`), with a fresh inflation budget for the read to come: every
    read of tags goes through here (``mutagen.File`` too, which may find an ID3 tag in a file
    of any name)."""
    import mutagen

    _bound_id3_inflation()
    _bound_tag_parsing()
    _inflation.left = MAX_TAG_INFLATION
    return mutagen


# What mutagen may walk in one file's tags, counted in its own readers as it walks them (so the
# count is its own, whatever a crafted header says): the ID3 frames of one tag (its chapters'
# sub-frames too), the chunks of one RIFF/AIFF file, the metadata blocks of one FLAC file. A
# genuine file has tens; 1.6 million empty WAV chunks took mutagen 46 s and 510 MB ...
MAX_TAG_PARTS = 20_000
# ... and the bytes its ID3 reader copies for one tag: it cuts each frame off the front of the
# rest (data = data[10 + size:]), so its work grows with frames x tag size (200,000 empty
# frames in 2 MB took 13 s; a 16 MB tag, minutes). A genuine tag copies tens of MB, a 50 MB
# cover scan behind 50 frames 2.5 GB: 8 GB is a second or two of copying
MAX_ID3_COPY_BYTES = 1 << 33
_parsing = threading.local()


def _too_many(found: int, what: str) -> TagError:
    return TagError(f"its tags hold more than {MAX_TAG_PARTS} {what} (found {found} so far; a genuine file holds "
                    "tens): a crafted or damaged file, its tags not read")


def _id3_frame_costs(id3, data: bytes, frames, *, parts: int, copies: int) -> tuple[int, int]:
    """(frames, bytes copied) of mutagen's ``read_frames(id3, data, frames)``, walked as it
    walks them (its rules: unsynchronisation below v2.4, the frame size's width, a name of NUL
    bytes ends the tag, a header cut short ends it) but by offset, in linear time; the walk
    stops once past ``parts`` frames or ``copies`` bytes (the budget left)."""
    from mutagen.id3 import _tags
    from mutagen.id3._util import unsynch

    if id3.version < _tags.ID3Header._V24 and id3.f_unsynch:
        try:
            data = unsynch.decode(data)
        except ValueError:
            pass
    if id3.version >= _tags.ID3Header._V23:
        width, name_width = 10, 4
        bpi = int if id3.version < _tags.ID3Header._V24 else _tags.determine_bpi(data, frames)
    else:
        width, name_width, bpi = 6, 3, int
    n, copied, at = 0, 0, 0
    while at < len(data):
        header = data[at:at + width]
        if len(header) < width or header[:name_width].strip(b"\x00") == b"":
            break
        at += width + bpi(int.from_bytes(header[4:8] if width == 10 else b"\x00" + header[3:6], "big"))
        n += 1
        copied += max(0, len(data) - at)
        if n > parts or copied > copies:
            break
    return n, copied


@functools.cache
def _bound_tag_parsing() -> None:
    """Bound what mutagen parses (:data:`MAX_TAG_PARTS`, :data:`MAX_ID3_COPY_BYTES`) in its own
    readers: an ID3 tag's frames are counted, and their copying summed, before it reads them;
    a RIFF/AIFF file's chunks (on its root chunk) and a FLAC file's metadata blocks as it
    makes each. Past a bound, a TagError."""
    from mutagen import _iff, flac
    from mutagen.id3 import _tags

    read_frames, chunk_init = getattr(_tags, "read_frames", None), vars(_iff.IffChunk).get("__init__")
    read_block = getattr(flac.FLAC, "_FLAC__read_metadata_block", None)
    if read_frames is None or read_block is None or chunk_init is None:
        raise ImportError("mutagen no longer reads ID3 frames, IFF chunks or FLAC blocks where genrekit bounds them "
                          "(see MAX_TAG_PARTS); install the mutagen of constraints.txt")

    @functools.wraps(read_frames)
    def bounded_frames(id3, data, frames):
        depth = getattr(_parsing, "depth", 0)
        if depth == 0:  # one tag: its chapters' sub-frames are read by nested calls, on its budget
            _parsing.parts, _parsing.copied = MAX_TAG_PARTS, MAX_ID3_COPY_BYTES
        n, copied = _id3_frame_costs(id3, data, frames, parts=_parsing.parts, copies=_parsing.copied)
        _parsing.parts -= n
        _parsing.copied -= copied
        if _parsing.parts < 0:
            raise _too_many(MAX_TAG_PARTS - _parsing.parts, "ID3 frames")
        if _parsing.copied < 0:
            raise TagError(f"its ID3 tag of {len(data)} bytes would take copying more than "
                           f"{MAX_ID3_COPY_BYTES >> 20} MB to read (its first {n} frames alone; a genuine tag, tens): "
                           "a crafted or damaged tag, not read")
        _parsing.depth = depth + 1
        try:
            return read_frames(id3, data, frames)
        finally:
            _parsing.depth = depth

    @functools.wraps(chunk_init)
    def bounded_chunk(self, fileobj, id, data_size, parent_chunk):
        root = self if parent_chunk is None else getattr(parent_chunk, "_genrekit_root", parent_chunk)
        self._genrekit_root = root
        root._genrekit_parts = getattr(root, "_genrekit_parts", 0) + 1
        if root._genrekit_parts > MAX_TAG_PARTS:
            raise _too_many(root._genrekit_parts, "chunks")
        chunk_init(self, fileobj, id, data_size, parent_chunk)

    @functools.wraps(read_block)
    def bounded_block(self, fileobj):
        self._genrekit_blocks = getattr(self, "_genrekit_blocks", 0) + 1
        if self._genrekit_blocks > MAX_TAG_PARTS:
            raise _too_many(self._genrekit_blocks, "metadata blocks")
        return read_block(self, fileobj)

    _tags.read_frames = bounded_frames
    _iff.IffChunk.__init__ = bounded_chunk
    flac.FLAC._FLAC__read_metadata_block = bounded_block


def provenance_key(family: str, name: str) -> str:
    """The field of ``family`` (``ID3``, ``Vorbis comment``, ``MP4``) that holds the provenance
    item ``name`` (one of :data:`PROVENANCE`): ``TXXX:GENREKIT_MODEL``, ``GENREKIT_MODEL`` or
    ``----:org.genrekit:MODEL``."""
    if name not in PROVENANCE:
        raise ParameterError(f"provenance {name!r}: expected one of {', '.join(PROVENANCE)}")
    if family == "ID3":
        return f"TXXX:GENREKIT_{name}"
    if family == "MP4":
        return MP4_FREEFORM + name
    return f"GENREKIT_{name}"


def provenance(model: str, confidence: float | None, *, when: datetime.date | None = None) -> dict[str, str]:
    """genrekit's provenance items for a write: the model's id, genrekit's version, the top
    genre's probability (3 decimals) and the date (UTC, ISO 8601)."""
    from genrekit import __version__

    when = when or datetime.datetime.now(datetime.timezone.utc).date()
    items = {"MODEL": model, "VERSION": __version__, "CONFIDENCE": None, "DATE": when.isoformat()}
    if confidence is not None:
        items["CONFIDENCE"] = f"{confidence:.3f}"
    return {k: v for k, v in items.items() if v is not None}


@dataclass
class GenreField:
    """Where a file keeps its genre, and what it and genrekit's own fields hold.

    ``values`` is the genre field exactly as mutagen reads it (None: the field is absent; an
    empty list or empty strings are kept as they are); ``genres`` is what players show as the
    file's genres (an ID3 ``(17)`` reference as ``Rock``, an ID3v1 genre when ID3v2 has none);
    ``own`` holds genrekit's provenance fields (:data:`PROVENANCE`) exactly, None where absent;
    ``version`` is the ID3v2 tag's minor version (3 or 4; None: no ID3v2 tag or not ID3);
    ``gnre`` an MP4's iTunes ``gnre`` atoms (a numbered genre, which mutagen reads as ``©gen``
    and saves as ``©gen`` text), each as stored, base64 (None: none): a write that replaces
    them records them, so its undo puts the atoms back, not ``©gen`` text.
    """

    format: str  # "ID3v2.3", "ID3v2.4", "Vorbis comment", "MP4"
    field: str  # "TCON", "GENRE", "©gen"
    values: list[str] | None
    genres: list[str]
    has_tags: bool  # the file has a tag block at all (ID3v2, Vorbis comment, MP4 ilst)
    own: dict[str, list[str] | None] = dc_field(default_factory=dict)
    version: int | None = None
    gnre: list[str] | None = None

    @property
    def family(self) -> str:
        """``ID3``, ``Vorbis comment`` or ``MP4``."""
        return "ID3" if self.format.startswith("ID3") else self.format

    @property
    def fields(self) -> dict[str, list[str] | None]:
        """Every field genrekit may touch, name -> exact values (None: absent); an MP4's
        ``gnre`` atoms (:attr:`gnre`) where it has them."""
        return {self.field: self.values, **({MP4_GNRE: self.gnre} if self.gnre is not None else {}), **self.own}

    @property
    def genrekit_model(self) -> str | None:
        """The model genrekit's ``MODEL`` field names (its first value), None where absent."""
        return (self.own.get(provenance_key(self.family, "MODEL")) or [None])[0]


@dataclass
class TagChange:
    """The genre tag of one file: before, after, and what was done.

    ``old``/``new`` are the genres as shown ("; "-joined; ``old`` None when the file has
    none); ``action`` is ``write`` (planned), ``written``, ``would write`` (a dry run),
    ``kept`` (the file has a genre and ``existing`` is keep), ``unchanged`` (nothing to
    change), ``not taggable`` (a format genrekit does not tag, such as ``.au``) or ``failed``; ``reason`` says why nothing was written; ``old_values`` and
    ``new_values`` are the genre field ``field`` exactly (None: absent); ``fields`` every
    field the change touches (the genre field and genrekit's own), name -> ``{"old", "new"}``;
    ``id3_version`` ``{"old", "new"}`` when the change converts an ID3v2 tag to another
    version, with ``id3_tag`` the whole tag before it (base64), since a conversion touches
    every frame. ``note`` says what a write leaves that players may show too: with
    ``existing`` replace, a genre in a tag genrekit does not write (a WAV's RIFF ``INFO/IGNR``,
    an MP3's APEv2 ``Genre``), which is then ``old``; for a genre kept, that an earlier
    genrekit run wrote it (not the owner), and how to tag the file anew.
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
    fields: dict[str, dict] = dc_field(default_factory=dict)
    id3_version: dict[str, int] | None = None
    id3_tag: str | None = None
    note: str | None = None


def failure_words(exc: Exception, path: str) -> str:
    """Why reading or writing the tags of ``path`` failed: genrekit's own refusals say it in
    words (less the file's name, which the caller gives); a library's error needs its type."""
    if isinstance(exc, GenrekitError):
        return str(exc).removeprefix(f"{path}: ")
    return f"{type(exc).__name__}: {exc}"


def _show(values: list[str] | None) -> str | None:
    return "; ".join(values) if values else None


def _id3(path: str, *, exact: bool):
    """An MP3's ID3 tag: ``exact`` as stored (ID3v2 only, frames untranslated, for writing
    back in the same version), else as players read it (translated, ID3v1 merged in); None
    when there is none."""
    _mutagen()
    from mutagen.id3 import ID3, ID3NoHeaderError

    try:
        return ID3(path, translate=False, load_v1=False) if exact else ID3(path)
    except ID3NoHeaderError:
        return None


def _load_id3(path: str, suffix: str, *, exact: bool, v1: bool = True):
    """``(tags, container)``: the ID3 tag of an MP3 (container None), or of a WAV or AIFF
    file's ID3 chunk (container: mutagen's WAVE or AIFF, which saves it); tags None when absent.
    ``exact``: as stored (see :func:`_id3`); else translated to v2.4 frames, with an ID3v1
    tag merged in where ``v1``."""
    _mutagen()
    if suffix == ".mp3" and (exact or v1):
        return _id3(path, exact=exact), None
    if suffix == ".mp3":
        from mutagen.id3 import ID3, ID3NoHeaderError

        try:
            return ID3(path, load_v1=False), None
        except ID3NoHeaderError:
            return None, None
    from mutagen.aiff import AIFF
    from mutagen.wave import WAVE

    kind = WAVE if suffix == ".wav" else AIFF
    container = kind(path, translate=False, load_v1=False) if exact else kind(path, load_v1=v1)
    return container.tags, container


def _id3_text(tags, key: str) -> list[str] | None:
    return list(tags[key].text) if tags is not None and key in tags else None


def _freeform(values) -> list[str]:
    return [bytes(v).decode("utf-8", errors="replace") for v in values]


def _mp4_genre_atoms(path: str) -> tuple[int, list[bytes]]:
    """An MP4's genre atoms as stored: how many ``©gen`` (text) atoms its ``ilst`` holds, and
    each ``gnre`` (iTunes' genre number) atom's data, in order. mutagen reads both as ``©gen``."""
    from mutagen.mp4 import Atoms

    with open(path, "rb") as handle:
        atoms = Atoms(handle)
        try:
            ilst = atoms.path(b"moov", b"udta", b"meta", b"ilst")[-1]
        except KeyError:
            return 0, []
        texts, numbers = 0, []
        for atom in ilst.children:
            if atom.name == b"\xa9gen":
                texts += 1
            elif atom.name == b"gnre":
                whole, data = atom.read(handle)
                if not whole:
                    raise TagError(f"{path}: expected a whole 'gnre' atom, found one cut short")
                numbers.append(data)
    return texts, numbers


# A taggable name's format, and the names a file of each format takes. The tag genrekit reads
# and writes follows an ID3 name's (.mp3, .wav, .aiff) and a .flac name's format; under the
# other names mutagen goes by the content, which must then not be an ID3 family's
_NAMED = {".mp3": "MP3", ".flac": "FLAC", ".ogg": "Ogg", ".oga": "Ogg", ".opus": "Ogg", ".wav": "WAV",
          ".aif": "AIFF", ".aiff": "AIFF", **dict.fromkeys(MP4_SUFFIXES, "MP4")}
_NAMES = {"MP3": ".mp3", "FLAC": ".flac", "Ogg": ".ogg, .oga or .opus (as its codec is)", "MP4": ".m4a", "WAV": ".wav",
          "AIFF": ".aiff"}
_ID3_FAMILY = frozenset({"MP3", "WAV", "AIFF"})
# What decoders read past an ID3 tag in front: an MP3 name's content may be these (libsndfile's
# and FFmpeg's names for them)
_TAGGED_AS_MP3 = frozenset({"MP3", "AAC"})


def _content_format(path: str) -> str | None:
    """The format a file's first bytes show (one of ``_NAMES``; an ID3v2 tag in front is
    passed over, as players do), or None where they show none of them."""
    with open(path, "rb") as handle:
        head = handle.read(12)
        tagged = _mp3_tag_size(head)
        if tagged:
            handle.seek(tagged)
            head = handle.read(12)
    if head[:4] == b"fLaC":
        return "FLAC"
    if head[:4] == b"OggS":
        return "Ogg"
    if head[4:8] == b"ftyp":
        return "MP4"
    if head[:4] in (b"RIFF", b"RIFX", b"RF64") and head[8:12] == b"WAVE":
        return "WAV"
    if head[:4] == b"FORM" and head[8:12] in (b"AIFF", b"AIFC"):
        return "AIFF"
    # an MPEG audio frame's sync, with layer bits (00 is ADTS AAC's); after an ID3 tag, only then
    if len(head) >= 2 and head[0] == 0xFF and head[1] & 0xE0 == 0xE0 and head[1] & 0x06:
        return "MP3"
    return None


def _check_regular_file(path: str) -> None:
    """Refuse a path that is no regular file (a pipe with a song's name blocked every read for
    ever), or cannot be looked up, by what it is."""
    try:
        mode = os.stat(path).st_mode
    except OSError as exc:
        raise ParameterError(f"{path}: cannot be read ({exc.strerror or exc})") from exc
    if found := not_a_file(mode):
        raise ParameterError(f"{path}: expected an audio file, found {found}")


def _check_content(path: str, suffix: str, shown: str | None = None, *, for_writing: bool = False) -> None:
    """Refuse a file whose content is another taggable format than its name's ``suffix``
    where that matters: an ID3 or ``.flac`` name, whose format the tag follows (an MP4 named
    ``.mp3`` would get an ID3 tag in front and stop playing), or ID3-family content under an
    Ogg or MP4 name. Content no taggable format shows is refused under a name whose format
    the tag follows (:func:`_check_unknown_content`), else left to mutagen, which says what it
    found."""
    found, named = _content_format(path), _NAMED.get(suffix)
    if found is None and named in _ID3_FAMILY | {"FLAC"}:
        _check_unknown_content(path, suffix, named, shown, for_writing=for_writing)
    if found is None or named is None or found == named:
        return
    if named not in _ID3_FAMILY and named != "FLAC" and found not in _ID3_FAMILY:
        return  # FLAC, Ogg or MP4 under an Ogg or MP4 name: mutagen reads its own tags by the content
    if refusal := _link_refusal(path):  # said of the link, which is what misnames the song
        raise ParameterError(f"{shown or path}: {refusal}")
    raise ParameterError(f"{shown or path}: expected {named} content for its {suffix} name, found {found} (its "
                         "first bytes); the tag genrekit reads and writes follows the name, and written would damage "
                         f"the song: rename it {_NAMES[found]} to tag it")


def _check_unknown_content(path: str, suffix: str, named: str, shown: str | None, *,
                           for_writing: bool = False) -> None:
    """Refuse content of no taggable format under a name whose format the tag follows: a FLAC,
    WAV or AIFF name's content must be that format, and an MP3 name's must not show another
    format's header (an AU file named .mp3 decodes by its content, and an ID3 tag written in
    front of it would stop it playing). An MP3 name's content no header tells is what the
    decoder reads it as: an MP3 (or MPEG audio of another layer) that starts without a frame
    sync (junk before its first frame) is tagged, and so is ADTS AAC, which players read past
    an ID3 tag; an AC-3 stream is not."""
    from genrekit.audio.io import found_instead, info, known_header
    from genrekit.errors import AudioError

    with open(path, "rb") as handle:
        head = handle.read(16)
    what, instead = known_header(head), None
    if named == "MP3" and (head[:3] == b"ID3" or what is None):
        try:  # rare: an MP3's start shows a frame sync, which _content_format knows
            decoded = info(path).format
        except AudioError as exc:
            if not for_writing:  # read: mutagen says what it finds (no tag, most often)
                return
            # a web page saved as .mp3 got an ID3 tag in front of it
            raise ParameterError(f"{shown or path}: expected MP3 content for its {suffix} name, found none the "
                                 f"decoder reads ({exc.reason}); no tag is written to it") from exc
        if decoded in _TAGGED_AS_MP3:
            return
        instead = f", found {decoded} audio (as the decoder reads it)"
    if refusal := _link_refusal(path):
        raise ParameterError(f"{shown or path}: {refusal}")
    known = instead is not None or what is not None
    instead = instead or found_instead(path, suffix) or ", found no format genrekit knows"
    raise ParameterError(f"{shown or path}: expected {named} content for its {suffix} name{instead}; "
                         + ("the tag genrekit reads and writes follows the name, and written would damage the file: "
                            "give it its format's name to tag it" if known else
                            "no tag can be read from it or written to it"))


def read_genre_field(path: str | os.PathLike, *, suffix: str | None = None, writable: bool = True,
                     trust_name: bool = False) -> GenreField:
    """The genre field, and genrekit's own fields, of a taggable file (``TAGGABLE``) as they
    are now; ``suffix``: the format's, when the name has another (a temporary copy).
    ``writable``: refuse a tag genrekit does not rewrite (ID3v2.2); reading alone takes it.
    A file whose content is another format than its name's is refused (ParameterError),
    unless ``trust_name``: the tag its name's format has is read (an undo of a write an
    earlier version made so)."""
    mutagen = _mutagen()

    path = os.fspath(path)
    _check_regular_file(path)
    suffix = (suffix or Path(path).suffix).lower()
    if not trust_name:
        _check_content(path, suffix, for_writing=writable)
    if suffix in ID3_SUFFIXES:
        exact, _ = _load_id3(path, suffix, exact=True)
        shown, _ = _load_id3(path, suffix, exact=False)
        if writable and exact is not None and exact.version[:2] not in ((2, 3), (2, 4)):
            raise ParameterError(f"{path}: expected an ID3v2.3 or v2.4 tag, found ID3v2.{exact.version[1]} "
                                 "(genrekit does not rewrite it; convert the tag first)")
        version, field = (exact.version[1] if exact is not None else None), GENRE_FIELDS["ID3"]
        if exact is not None and field not in exact and _id3_frame_ids(_id3_block(path, suffix))[field]:
            # mutagen drops a frame whose text is not in its declared encoding: read as no genre
            raise ParameterError(f"{path}: expected a readable genre, found a {field} frame whose text is not in "
                                 "its declared encoding (repair the tag with a tagger)")
        genres = list(shown[field].genres) if shown is not None and field in shown else []
        own = {provenance_key("ID3", n): _id3_text(exact, provenance_key("ID3", n)) for n in PROVENANCE}
        return GenreField(f"ID3v2.{version or 4}", field, _id3_text(exact, field), genres, exact is not None,
                          own, version)
    audio = mutagen.File(path)
    if audio is None:
        raise ParameterError(f"{path}: expected a file mutagen can tag, found none it recognises")
    from mutagen.mp4 import MP4

    tags = audio.tags
    if isinstance(audio, MP4):
        field = GENRE_FIELDS["MP4"]
        values = list(tags[field]) if tags is not None and field in tags else None
        own = {}
        for name in PROVENANCE:
            key = provenance_key("MP4", name)
            own[key] = _freeform(tags[key]) if tags is not None and key in tags else None
        # mutagen reads a gnre atom as ©gen: only then can the file have one it read
        gnre = [base64.b64encode(atom).decode("ascii") for atom in _mp4_genre_atoms(path)[1]] if values else []
        return GenreField("MP4", field, values, list(values or []), tags is not None, own, gnre=gnre or None)
    values = tags.get(GENRE_FIELDS["Vorbis comment"]) if tags is not None else None  # Vorbis: any case of GENRE
    own = {}
    for name in PROVENANCE:
        key = provenance_key("Vorbis comment", name)
        found = tags.get(key) if tags is not None else None
        own[key] = None if found is None else list(found)
    return GenreField("Vorbis comment", GENRE_FIELDS["Vorbis comment"], None if values is None else list(values),
                      list(values or []), tags is not None, own)


@dataclass(frozen=True)
class SongTags:
    """What a song's owner filed it under.

    ``genres``: the genres as players show them, in order, a value holding several (``"Rock;
    Pop"``) split apart, blanks dropped (placeholders such as ``Unknown`` are kept: see
    :func:`is_placeholder`); ``artist``: the artist,
    else the album artist (None: neither); ``by_genrekit``: genrekit wrote the genres and the
    owner has not edited them since (:func:`genres_by_genrekit`), so they are a model's answer,
    not the owner's.
    """

    genres: tuple[str, ...]
    artist: str | None
    by_genrekit: bool


_ARTIST_FIELDS = {"ID3": ("TPE1", "TPE2"), "MP4": ("\xa9ART", "aART"), "Vorbis comment": ("artist", "albumartist")}


def read_song_tags(path: str | os.PathLike) -> SongTags:
    """The genres and artist a taggable file (:data:`TAGGABLE`) is filed under (its genres from
    the field genrekit writes, else from the other one players read: a WAV's RIFF INFO, an
    MP3's APEv2).

    Raises
    ------
    ParameterError
        The file's tags cannot be read (named, with what was found).
    """
    mutagen = _mutagen()

    path = os.fspath(path)
    suffix = Path(path).suffix.lower()
    if suffix not in TAGGABLE:
        raise ParameterError(f"{path}: expected a file with genre tags ({', '.join(sorted(TAGGABLE))}), "
                             f"found {suffix or 'no extension'}")
    try:
        field = read_genre_field(path, writable=False)
        if field.family == "ID3":
            tags, _ = _load_id3(path, suffix, exact=False)
            found = [list(tags[key].text) for key in _ARTIST_FIELDS["ID3"] if tags is not None and key in tags]
        else:
            tags = mutagen.File(path).tags
            found = [list(tags[key]) for key in _ARTIST_FIELDS[field.family] if tags is not None and key in tags]
    except ParameterError:
        raise
    except Exception as exc:  # mutagen raises many kinds on damaged tags
        raise ParameterError(f"{path}: expected readable tags, found {type(exc).__name__}: {exc}") from exc
    artist = next((str(v).strip() for values in found for v in values if str(v).strip()), None)
    genres = field.genres
    if not any(g.strip() and not is_placeholder(g) for g in genres or ()):  # one players read from another tag
        elsewhere = _genre_elsewhere(path)
        genres = [elsewhere[1]] if elsewhere else genres
    return SongTags(tuple(dict.fromkeys(split_genres(genres))), artist, genres_by_genrekit(field))


def split_genres(values) -> list[str]:
    """Genre values as single genres: a value holding several (``"Rock; Pop"``) split apart,
    runs of white space made one, blanks dropped."""
    # ";" joins several genres in one value in every format; "/" does not: "Hip-Hop/Rap" and
    # "Singer/Songwriter" are single genres (iTunes', among others)
    # a NUL separates values too (ID3's own separator; some taggers leave it in Vorbis comments)
    return [" ".join(part.split()) for value in values or () for part in re.split("[;\x00]", str(value))
            if part.strip()]


def genres_by_genrekit(field: GenreField) -> bool:
    """Whether the file's genres are genrekit's answer, not its owner's: genrekit's provenance
    (``MODEL``) is there, and its record of the genres it wrote (``GENRES``) still matches the
    genre field. Genres the owner edited since (in a tagger that keeps other fields) are the
    owner's; a file tagged before ``GENRES`` was recorded counts by ``MODEL`` alone."""
    model = field.own.get(provenance_key(field.family, "MODEL"))
    if not (model and any(v.strip() for v in model)):
        return False
    wrote = field.own.get(provenance_key(field.family, "GENRES"))
    if wrote is None:
        return True
    return [g.casefold() for g in split_genres(wrote)] == [g.casefold() for g in split_genres(field.genres)]


# The separators taggers join several genres into one value with (ID3v2.3's '/', players' ';')
_JOINERS = ("/", ";")


def _split(field: GenreField, separator: str) -> set[str]:
    """The genres of ``field`` as compared against ours: each value split at '/', ';' and
    ``separator`` too, as ID3v2.3 tags and many taggers join several genres into one value
    ("Rock; Pop" already holds pop, whatever separator ours are joined with), each as
    :func:`squashed_genre` spells it: "Hip-Hop" and "Hip Hop" already hold hiphop."""
    pieces = list(field.genres)
    for joiner in {*_JOINERS, separator.strip()} - {""}:
        pieces = [part for piece in pieces for part in piece.split(joiner)]
    return {squashed_genre(g) for g in pieces if g.strip()}


def _joined_as(values: list[str], separator: str) -> str:
    """The separator an ID3v2.3 genre value already joins its genres with ('; ' in "Rock; Pop"),
    so that ours appended follow the owner's; ``separator`` where it joins none."""
    text = " ".join(values)
    if separator.strip() and separator.strip() in text:
        return separator
    for joiner in ("; ", " / ", ";", "/"):
        if joiner in text:
            return joiner
    return separator


def _check_version(id3v2_version: int | None) -> None:
    if id3v2_version not in (None, 3, 4):
        raise ParameterError(f"id3v2_version={id3v2_version!r}: expected 3 or 4 (or None: keep the file's)")


def _genre_elsewhere(path: str) -> tuple[str, str] | None:
    """A genre the file holds outside the field genrekit writes, which players also show:
    ``(where, value)``: a WAV's RIFF ``INFO/IGNR``, an MP3's APEv2 ``Genre``; None: none."""
    suffix = Path(path).suffix.lower()
    if suffix == ".wav":
        value = _riff_info(path, b"IGNR")
        return ("RIFF INFO chunk (IGNR)", value) if value and not is_placeholder(value) else None
    if suffix == ".mp3":
        from mutagen.apev2 import APEv2

        try:
            tag = APEv2(path)
        except Exception:  # no APEv2 tag, or one mutagen cannot read (it raises many types): no genre known there
            return None
        value = next((str(v) for k, v in tag.items() if k.casefold() == "genre"), "").strip()
        return ("APEv2 tag", value) if value and not is_placeholder(value) else None
    return None


def _riff_layout_problem(path: str) -> str | None:
    """Why a WAV's or AIFF's chunks are not laid out as the format asks, where a writer cannot
    find them again: sizes a recording written as a stream never filled in (the whole's or a
    chunk's past the file's end, or 0 with audio after it), or a chunk of odd size whose pad
    byte is missing (the next chunk's name sits one byte early), as some encoders write; None
    where the chunks follow one another as they should."""
    length = os.path.getsize(path)
    with open(path, "rb") as handle:
        head = handle.read(12)
        order = {b"RIFF": "little", b"FORM": "big"}.get(head[:4])
        if order is None or len(head) < 12:
            return None
        declared = int.from_bytes(head[4:8], order)
        streamed = "as a recording written as a stream (its sizes never filled in) or a copy cut short leaves it"
        if not 4 <= declared <= length - 8:
            return f"its header gives the file {declared + 8} bytes and it has {length}, {streamed}"
        for _ in range(10_000):
            at = handle.tell()
            header = handle.read(8)
            if len(header) < 8 or at >= 8 + declared:  # what follows the whole is no chunk of it
                return None
            if not all(32 <= b < 127 for b in header[:4]):
                return f"no chunk begins at byte {at}, where the one before it ends, {streamed}"
            size = int.from_bytes(header[4:8], order)
            if at + 8 + size > length:
                return (f"its {header[:4].decode('ascii')!r} chunk at byte {at} gives {size} bytes, past the file's "
                        f"end ({length} bytes), {streamed}")
            if size % 2 and at + 8 + size == length:  # a writer appending a chunk would put it a byte early
                return (f"its {header[:4].decode('ascii')!r} chunk at byte {at} has an odd size ({size}) and no pad "
                        "byte after it at the file's end, as the format asks")
            if size % 2:
                handle.seek(at + 8 + size)
                unpadded = handle.read(5)
                if len(unpadded) >= 4 and all(32 <= b < 127 for b in unpadded[:4]) and \
                        not all(32 <= b < 127 for b in unpadded[1:5]):
                    return (f"its {header[:4].decode('ascii')!r} chunk at byte {at} has an odd size ({size}) and "
                            "no pad byte after it, as the format asks")
            handle.seek(at + 8 + size + size % 2)
    return None


def _riff_info(path: str, key: bytes, limit: int = 2**20) -> str | None:
    """The text of ``key`` in a RIFF file's ``LIST/INFO`` chunk (at most ``limit`` bytes of it read)."""
    with open(path, "rb") as handle:
        if handle.read(12)[8:12] != b"WAVE":
            return None
        while header := handle.read(8):
            if len(header) < 8:
                return None
            name, size = header[:4], struct.unpack("<I", header[4:])[0]
            if name != b"LIST":
                handle.seek(size + size % 2, os.SEEK_CUR)
                continue
            data = handle.read(min(size, limit))
            if data[:4] == b"INFO":
                at = 4
                while at + 8 <= len(data):
                    sub, length = data[at:at + 4], struct.unpack("<I", data[at + 4:at + 8])[0]
                    if sub == key:
                        return data[at + 8:at + 8 + length].split(b"\0")[0].decode("latin-1").strip()
                    at += 8 + length + length % 2
            handle.seek(size + size % 2 - len(data), os.SEEK_CUR)
    return None


def plan_genre_tag(path: str | os.PathLike, genres: str | list[str], *, existing: str = "keep",
                   separator: str = SEPARATOR, id3v2_version: int | None = None,
                   provenance: dict[str, str] | None = None, held: Collection[str] = ()) -> TagChange:
    """What setting the genres ``genres`` would do to the file, without writing.

    Parameters
    ----------
    path : the file (a format of ``TAGGABLE``)
    genres : ours, most probable first (a string: one genre)
    existing : what to do with genres the file already has: ``keep`` them (nothing is
        written), ``replace`` them with ours, or ``append`` ours after them (those not there)
    separator : an ID3v2.3 tag's genres are one value joined by this
    id3v2_version : save an ID3v2 tag as version 3 or 4 (None: the version it has; 4 for a
        new tag); a file already holding our genres in the other version is converted
    provenance : genrekit's own fields to write with the genres (:func:`provenance`)
    held : ours that the file's genres already name in spellings the caller knows (a model
        learned "Rap" for hiphop from a library's tags): ``append`` leaves them out, as it
        leaves out those spelled alike (``Hip-Hop`` for hiphop)

    Returns
    -------
    TagChange
        ``action`` ``write`` with every field to change, or why nothing would be written.
        Formats genrekit does not tag and unreadable tags are reported in ``error``, never
        raised: tagging a library goes on.
    """
    if existing not in EXISTING:
        raise ParameterError(f"existing={existing!r}: expected one of {', '.join(EXISTING)}")
    _check_version(id3v2_version)
    genres = [genres] if isinstance(genres, str) else list(genres)
    if not genres or not all(isinstance(g, str) and g.strip() for g in genres):
        raise ParameterError(f"genres={genres!r:.80}: expected one or more non-empty genre names")
    # what a model may call a genre, written into the owner's files: no control characters, no 10 MB
    if problem := next((p for p in map(label_problem, genres) if p), None):
        raise ParameterError(f"genres: {problem}")
    if not isinstance(separator, str) or not separator.strip() or label_problem(separator.strip()):
        raise ParameterError(f"separator={separator!r:.40}: expected a short separator with a visible character, "
                             "such as '; ' or '/'")
    if provenance is not None and not (isinstance(provenance, dict) and all(
            isinstance(k, str) and isinstance(v, str) for k, v in provenance.items())):
        raise ParameterError(f"provenance={provenance!r:.60}: expected a dict of field name -> text "
                             "(genrekit.audio.tags.provenance makes it)")
    if any(is_placeholder(g) for g in genres):  # a model's label too: 'unknown' is never written
        raise ParameterError(f"genres={genres!r}: {next(g for g in genres if is_placeholder(g))!r} only says the "
                             "genre is not known; genrekit never writes it into a file")
    path = os.fspath(path)
    shown = "; ".join(genres)
    if Path(path).suffix.lower() not in TAGGABLE:
        # not a failure: the format has no tag genrekit writes (a library of .au files is no error)
        return TagChange(path, None, shown, False, action="not taggable",
                         reason=f"{path}: genre tags are not written to {Path(path).suffix or 'extensionless'} files "
                         f"(genrekit tags {', '.join(sorted(TAGGABLE))})")
    try:
        field = read_genre_field(path)
    except Exception as exc:  # mutagen raises many types; the library run must go on
        words = failure_words(exc, path)
        with contextlib.suppress(OSError):
            if Path(path).suffix.lower() in RIFF_SUFFIXES and (layout := _riff_layout_problem(path)):
                words += f": {layout}; re-save the file in an audio editor or with ffmpeg, then tag it"
        return TagChange(path, None, shown, False, f"{path}: genre tag not read ({words})", action="failed")
    old = _show(field.genres)
    change = TagChange(path, old, old or shown, False, format=field.format, field=field.field,
                       old_values=field.values, new_values=field.values, has_tags=field.has_tags)
    # a placeholder ("Unknown") is no genre: it is replaced, never kept or appended to
    has_genre = any(g.strip() and not is_placeholder(g) for g in field.genres)
    if existing == "keep" and has_genre:
        change.action = "kept"
        if genres_by_genrekit(field):  # not the owner's: an earlier run's, with another results table or options
            change.note = (f"an earlier genrekit run wrote it (model {field.genrekit_model or '?'}): `genrekit tag --undo` with that run's "
                           "results table puts the owner's genre back, then tag it again")
            change.reason = f"has genre {old!r}, kept (--existing keep; ours: {shown}); {change.note}"
        else:
            change.reason = (f"has genre {old!r}, kept (--existing keep; ours: {shown}; "
                             "--existing replace or append to change it)")
        return change
    elsewhere = _genre_elsewhere(path) if not has_genre else None
    if elsewhere is not None and existing == "keep":  # players show it: ours beside it would not keep it
        change.action, change.old = "kept", elsewhere[1]
        change.reason = (f"has genre {elsewhere[1]!r} in its {elsewhere[0]}, kept (--existing keep; ours: {shown}; "
                         "--existing replace or append to add ours to its "
                         f"{field.format} tag)")
        return change
    stays = None
    if elsewhere is not None and existing == "replace":  # ours in the tag genrekit writes; the other keeps its own
        change.old = elsewhere[1]
        stays = (f"its {elsewhere[0]} still says {elsewhere[1]!r}: genrekit writes only its {field.format} tag, "
                 "and players may show either")
    elif elsewhere is not None:  # append: the owner's genre from the other tag first, then ours, in the one written
        field, has_genre, change.old = dataclass_replace(field, genres=[elsewhere[1]]), True, elsewhere[1]
    if stays is None and existing == "replace" and Path(path).suffix.lower() == ".mp3":
        v1 = _id3v1_genre(path)  # left byte for byte by every write: players reading it show the owner's
        if v1 and squashed_genre(v1) not in {squashed_genre(g) for g in genres}:
            stays = (f"its ID3v1 tag still says {v1!r}: genrekit leaves an MP3's ID3v1 tag as it was, and players "
                     "that read it may show it")
    theirs = _split(field, separator) if existing == "append" and has_genre else set()
    ours = list(dict.fromkeys(g for g in genres if squashed_genre(g) not in theirs and not (theirs and g in held)))
    if not ours:
        change.action, change.reason = "unchanged", f"has genre {shown!r} already"
        return change
    version = (id3v2_version or field.version or 4) if field.family == "ID3" else None
    kept = list(field.genres)
    if theirs and field.format == "ID3v2.3" and version == 4:  # to v2.4's one value per genre
        joiner = _joined_as(kept, separator).strip() or separator
        kept = [part.strip() for g in kept for part in g.split(joiner) if part.strip()]
    new = [*kept, *ours] if theirs else ours
    if field.family == "ID3":
        if version == 3:  # appended after the owner's genres, joined as theirs are
            new = [(_joined_as(field.genres, separator) if theirs else separator).join(new)]
        change.format = f"ID3v2.{version}"
    converting = field.family == "ID3" and field.has_tags and version != field.version
    if new == field.values and not converting:
        change.action, change.reason = "unchanged", f"has genre {shown!r} already"
        return change
    fields = {field.field: {"old": field.values, "new": new}}
    if field.gnre is not None:  # saving ©gen drops them: recorded, so an undo puts the atoms back
        fields[MP4_GNRE] = {"old": field.gnre, "new": None}
    for name, value in (provenance or {}).items():
        key = provenance_key(field.family, name)
        fields[key] = {"old": field.own.get(key), "new": [value]}
    if provenance:  # the genres as written, one value: an owner's later edit then shows (genres_by_genrekit)
        key = provenance_key(field.family, "GENRES")
        fields[key] = {"old": field.own.get(key), "new": ["; ".join(new)]}
    change.new, change.new_values, change.action = _show(new), new, "write"
    change.fields, change.note = fields, stays
    if converting:
        change.id3_version = {"old": field.version, "new": version}
        change.id3_tag = base64.b64encode(_id3_block(path, Path(path).suffix.lower())).decode("ascii")
    return change


def apply_tag_change(change: TagChange, *, unchanged_since: tuple[int, int] | None = None) -> TagChange:
    """Write a planned change (``action`` ``write``): ``written`` with the fields as read back
    from the file (an ID3v2.3 tag joins several values with '/'), or ``failed`` with ``error``.
    The write is refused (``failed``) when a field is no longer what the plan read, or the
    file's ``(size, mtime_ns)`` are no longer ``unchanged_since`` (those of the audio whose
    genre this is) when its copy is made."""
    if change.action != "write":
        raise ParameterError(f"{change.path}: expected a planned change (action 'write'), found {change.action!r}")
    version = int(change.format[-1]) if (change.format or "").startswith("ID3v2.") else None
    try:
        written = write_fields(change.path, {k: v["new"] for k, v in change.fields.items()},
                               expect={k: v["old"] for k, v in change.fields.items()}, id3v2_version=version,
                               unchanged_since=unchanged_since)
    except Exception as exc:  # mutagen raises many types; the library run must go on
        change.action, change.error = "failed", f"{change.path}: genre tag not written ({failure_words(exc, change.path)})"
        return change
    for key, values in written.items():
        change.fields[key] = change.fields[key] | {"new": values}
    change.new_values = written[change.field]
    change.action, change.written, change.new = "written", True, _show(change.new_values) or ""
    return change


def _id3v1_genre(path: str) -> str | None:
    """The genre an MP3's ID3v1 tag names (its last byte, an index of ID3's genre list), or None."""
    from mutagen.id3 import TCON

    try:
        block = _id3v1_block(path)
    except OSError:
        return None
    return TCON.GENRES[block[127]] if block is not None and block[127] < len(TCON.GENRES) else None


def _id3v1_block(path: str) -> bytes | None:
    """The file's ID3v1 tag (its last 128 bytes when they start with 'TAG'), or None."""
    with open(path, "rb") as handle:
        handle.seek(0, os.SEEK_END)
        if handle.tell() < ID3V1_SIZE:
            return None
        handle.seek(-ID3V1_SIZE, os.SEEK_END)
        block = handle.read(ID3V1_SIZE)
    return block if block.startswith(b"TAG") else None


def _syncsafe(raw: bytes) -> int:
    """An ID3 size: four bytes of seven bits each, the high bit always clear."""
    return sum((b & 0x7F) << (7 * (3 - i)) for i, b in enumerate(raw[:4]))


def _mp3_tag_size(head: bytes) -> int:
    """The size of the ID3v2 tag an MP3 starts with (header, frames, padding, footer); 0: none."""
    if head[:3] != b"ID3" or len(head) < 10:
        return 0
    size = _syncsafe(head[6:10])
    return 10 + size + (10 if head[5] & 0x10 else 0)


def _id3_block(path: str, suffix: str) -> bytes:
    """The ID3v2 tag of ``path`` as stored: an MP3's leading tag, a WAV's ``id3`` chunk, an
    AIFF's ``ID3`` chunk."""
    with open(path, "rb") as handle:
        if suffix == ".mp3":
            size = _mp3_tag_size(handle.read(10))
            handle.seek(0)
            return handle.read(size)
        if suffix == ".wav":
            from mutagen.wave import _WaveFile

            return _WaveFile(handle)["id3"].read()
        from mutagen.aiff import AIFFFile

        return AIFFFile(handle)["ID3"].read()


def id3_tag_sha256(path: str | os.PathLike) -> str | None:
    """The SHA-256 of the ID3v2 tag of ``path`` as stored (every frame, its padding too), or
    None where it has none or is no ID3 file. An undo that puts a whole old tag back compares
    it: a tagger that keeps the file's size and mtime (padding absorbs an edit, "preserve
    timestamps") still changes these bytes."""
    path = os.fspath(path)
    suffix = Path(path).suffix.lower()
    if suffix not in ID3_SUFFIXES:
        return None
    try:
        block = _id3_block(path, suffix)
    except KeyError:  # a WAV or AIFF without an ID3 chunk
        return None
    return hashlib.sha256(block).hexdigest() if block else None


def stored_tag_problem(id3_tag: str, version: int, expected: dict[str, list[str] | None]) -> str | None:
    """Why ``id3_tag`` (base64 of an ID3v2 tag, as a version conversion's journal line keeps
    it) is not the tag that write replaced: not an ID3v2 tag, of another version than
    ``version``, or whose fields (as stored) are not ``expected`` (the journal's old values).
    None where it is. An undo puts the tag back whole: a damaged line would write garbage."""
    _mutagen()
    from mutagen.id3 import ID3

    try:
        block = base64.b64decode(id3_tag, validate=True)
        if len(block) < 10 or block[:3] != b"ID3":
            return "its stored ID3 tag is no ID3v2 tag"
        stored = ID3(io.BytesIO(block), translate=False, load_v1=False)
    except Exception as exc:  # binascii and mutagen raise many types
        return f"its stored ID3 tag cannot be read ({type(exc).__name__})"
    if stored.version[1] != version:
        return f"its stored ID3 tag is v2.{stored.version[1]}, where the write converted a v2.{version} tag"
    found = {name: _id3_text(stored, name) for name in expected}
    if found != expected:
        changed = next(name for name in expected if found[name] != expected[name])
        return (f"its stored ID3 tag holds {changed} {found[changed]!r:.100}, where the journal records "
                f"{expected[changed]!r:.100}")
    return None


def _put_id3_block(path: str, suffix: str, block: bytes) -> None:
    """Put a stored ID3v2 tag (:func:`_id3_block`) back in place of the file's, byte for byte;
    the audio (and an MP3's ID3v1 tag) is left as it is."""
    with open(path, "r+b") as handle:
        if suffix == ".mp3":
            size = _mp3_tag_size(handle.read(10))
            handle.seek(size)
            rest = handle.read()
            handle.seek(0)
            handle.write(block + rest)
            handle.truncate()
            return
        if suffix == ".wav":
            from mutagen.wave import _WaveFile

            container = _WaveFile(handle)
            name = "id3"
        else:
            from mutagen.aiff import AIFFFile

            container = AIFFFile(handle)
            name = "ID3"
        if name not in container:
            container.insert_chunk(name)
        chunk = container[name]
        chunk.resize(len(block))
        chunk.write(block)


def _set_id3(path: str, suffix: str, values: dict[str, list[str] | None], version: int | None,
             remove_empty: bool, block: bytes | None, size_wanted: int | None = None) -> None:
    _mutagen()
    from mutagen.id3 import ID3, TCON, TXXX, ID3v1SaveOptions
    from mutagen.id3 import delete as delete_id3

    if block is not None:  # an undo of a version change: the whole tag as it was
        _put_id3_block(path, suffix, block)
        if not values:
            return
        size_wanted = None
    padding = _padding_to(path, size_wanted)
    tags, container = _load_id3(path, suffix, exact=True)
    had = tags.version[1] if tags is not None else None
    version = version or had or 4
    if tags is not None and had != version:  # convert: v2.4 frames (translated), then v2.3's if asked
        tags, container = _load_id3(path, suffix, exact=False, v1=False)
    if tags is None:
        if container is not None:
            container.add_tags()
            tags = container.tags
        else:
            tags = ID3()
    v1 = _id3v1_block(path) if suffix == ".mp3" else None
    for key, new in values.items():
        if new is None:
            tags.delall(key)
        elif key == "TCON":
            tags.setall("TCON", [TCON(encoding=3, text=list(new))])
        elif key.startswith("TXXX:"):
            tags.delall(key)
            tags.add(TXXX(encoding=3, desc=key[5:], text=list(new)))
        else:
            raise ParameterError(f"expected a TCON or TXXX: field, found {key!r}")
    if version == 3 and had == 4:
        tags.update_to_v23()
    if remove_empty and not tags.keys() and not tags.unknown_frames:
        if suffix == ".mp3":
            delete_id3(path, delete_v1=False)
        else:
            container.tags.delete(path)
        return
    # a v2.3 tag saved as v2.3 keeps its frames' values as they were read (mutagen would join
    # several with "/"); genrekit's own TCON in v2.3 is one value already
    separator = None if had == version == 3 else "/"
    if suffix != ".mp3":
        tags.save(path, v2_version=version, v23_sep=separator, padding=padding)
        return
    tags.save(path, v1=ID3v1SaveOptions.UPDATE, v2_version=version, v23_sep=separator, padding=padding)
    if v1 is not None:  # mutagen rewrites ID3v1 from the ID3v2 frames: put the user's back as it was
        with open(path, "r+b") as handle:
            handle.seek(-ID3V1_SIZE, os.SEEK_END)
            if handle.read(3) != b"TAG":
                raise TagError("expected the ID3v1 tag at the end after saving, found none")
            handle.seek(-ID3V1_SIZE, os.SEEK_END)
            handle.write(v1)


def _padding_to(path: str, size_wanted: int | None):
    """mutagen's padding callback that brings the file at ``path`` (as it is now, before the save)
    to ``size_wanted`` bytes, or as near as padding can (none); None (mutagen's own choice) where
    no size is wanted. An undo so puts a file whose tags a write grew back byte for byte: mutagen
    keeps the padding it added, and an Ogg file's header pages laid out anew."""
    if size_wanted is None:
        return None
    size_now = os.path.getsize(path)
    return lambda info: max(0, info.padding + size_wanted - size_now)


def _drop_empty_flac_padding(path: str, size_wanted: int | None) -> None:
    """Remove the empty PADDING block mutagen always ends a FLAC's metadata with, where the file
    is then ``size_wanted`` bytes: the FLAC had none before genrekit's write (as libsndfile
    writes them)."""
    if size_wanted is None or os.path.getsize(path) != size_wanted + 4:
        return
    with open(path, "r+b") as handle:
        at = _mp3_tag_size(handle.read(10))  # an ID3v2 tag in front, passed over as mutagen does
        handle.seek(at)
        if handle.read(4) != b"fLaC":
            return
        previous, at = None, at + 4
        while True:  # block headers: last-block bit and type, then a 24-bit length
            handle.seek(at)
            header = handle.read(4)
            if len(header) < 4:
                return
            if header[0] & 0x80:
                break
            previous, at = (at, header[0]), at + 4 + int.from_bytes(header[1:4], "big")
        if header[0] & 0x7F != 1 or header[1:4] != b"\0\0\0" or previous is None:
            return
        handle.seek(at + 4)
        if handle.read(2) not in (b"\xff\xf8", b"\xff\xf9"):  # not followed by the first audio frame's sync:
            return  # a block whose length mutagen wrote short (one over 16 MiB), misread as the last
        handle.seek(previous[0])
        handle.write(bytes([previous[1] | 0x80]))  # the block before it becomes the last
        read_at, write_at = at + 4, at
        while True:  # the audio moves 4 bytes forward, a piece at a time
            handle.seek(read_at)
            piece = handle.read(1 << 20)
            if not piece:
                break
            handle.seek(write_at)
            handle.write(piece)
            read_at, write_at = read_at + len(piece), write_at + len(piece)
        handle.truncate(write_at)


def _set_other(path: str, values: dict[str, list[str] | None], remove_empty: bool,
               size_wanted: int | None = None) -> None:
    mutagen = _mutagen()
    from mutagen.flac import FLAC
    from mutagen.mp4 import MP4, AtomDataType, MP4FreeForm

    audio = mutagen.File(path)
    mp4 = isinstance(audio, MP4)
    if audio.tags is None:
        if all(v is None for v in values.values()):
            return
        audio.add_tags()
    numbers = values.get(MP4_GNRE) if mp4 else None
    if numbers is not None:  # an undo: the gnre atoms as stored, which mutagen reads as the ©gen values
        if "\xa9gen" not in values:
            raise TagError("expected the genre field '\xa9gen' to be put back with its 'gnre' atoms, found "
                                f"only {', '.join(values)}")
        if not isinstance(getattr(audio.tags, "_failed_atoms", None), dict):
            raise TagError("mutagen no longer writes back atoms it keeps aside, as genrekit puts 'gnre' atoms "
                                "back; install the mutagen of constraints.txt")
    for key, new in values.items():
        if mp4:
            if key == MP4_GNRE:  # mutagen saves no gnre atom of its own: those it kept aside, as they were
                audio.tags._failed_atoms.pop(key, None)
                if new is not None:
                    audio.tags._failed_atoms[key] = [base64.b64decode(atom) for atom in new]
            elif key == "\xa9gen" and numbers is not None:
                audio.tags.pop(key, None)  # the gnre atoms hold the genre; ©gen text beside them would repeat it
            elif new is None:
                audio.tags.pop(key, None)
            elif key.startswith(MP4_FREEFORM):
                audio.tags[key] = [MP4FreeForm(v.encode("utf-8"), dataformat=AtomDataType.UTF8) for v in new]
            else:
                audio.tags[key] = list(new)
        else:
            _set_vorbis(audio.tags, key, new)
    if remove_empty and not audio.tags.keys() and not getattr(audio.tags, "_failed_atoms", None) and (
            mp4 or isinstance(audio, FLAC)):
        audio.delete()  # the tag block genrekit added, removed again
        return
    audio.save(padding=_padding_to(path, size_wanted))
    if isinstance(audio, FLAC):
        _drop_empty_flac_padding(path, size_wanted)


def _set_vorbis(comments, key: str, values: list[str] | None) -> None:
    """Set a Vorbis comment field (names match in any case) to ``values``, in the place and the
    spelling of its first entry (mutagen would move it to the end in lower case); a new field
    goes at the end, spelled ``key``."""
    entries = list(comments)
    places = [i for i, (name, _) in enumerate(entries) if name.casefold() == key.casefold()]
    spelling = entries[places[0]][0] if places else key
    kept = [entry for entry in entries if entry[0].casefold() != key.casefold()]
    at = places[0] if places else len(kept)
    kept[at:at] = [(spelling, value) for value in values or []]
    comments[:] = kept


_FRAME_ID = re.compile(rb"[A-Z0-9]{4}")


def _id3_frame_ids(block: bytes) -> Counter:
    """How many frames of each id a stored ID3v2.3/2.4 tag (:func:`_id3_block`) holds, read
    from the bytes themselves: also the frames mutagen cannot decode and would drop."""
    if len(block) < 10 or block[:3] != b"ID3" or block[3] not in (3, 4):
        return Counter()
    major, flags = block[3], block[5]
    data = block[10:10 + _syncsafe(block[6:10])]
    if major == 3 and flags & 0x80:  # v2.3 unsynchronises the whole tag
        data = data.replace(b"\xff\x00", b"\xff")
    if flags & 0x40 and len(data) >= 4 and not _FRAME_ID.fullmatch(data[:4]):  # an extended header
        size = data[:4]
        data = data[_syncsafe(size) if major == 4 else 4 + int.from_bytes(size, "big"):]

    def walk(syncsafe: bool) -> tuple[Counter, bool]:
        found, at = Counter(), 0
        while at + 10 <= len(data) and data[at:at + 4].strip(b"\x00"):
            raw = data[at + 4:at + 8]
            size = _syncsafe(raw) if syncsafe else int.from_bytes(raw, "big")
            if size and at + 10 + size > len(data):
                return found, False
            name = data[at:at + 4].decode("latin-1")
            if size and not _blank_text_frame(name, data[at + 10:at + 10 + size]):
                found[name] += 1
            at += 10 + size
        clean = all(_FRAME_ID.fullmatch(name.encode("latin-1")) for name in found)
        return found, clean

    found, clean = walk(major == 4)
    if major == 4 and not clean:  # sizes written as plain integers (an old iTunes bug mutagen also reads)
        plain, plain_clean = walk(False)
        if plain_clean:
            return plain
    return found


def _blank_text_frame(name: str, payload: bytes) -> bool:
    """A text frame (``T...``, ``COMM``) that holds no text: mutagen reads or saves it as
    nothing, and nothing of value is lost with it."""
    if not (name.startswith("T") or name == "COMM"):
        return False
    text = payload[4:] if name == "COMM" else payload[1:]  # past the encoding (and COMM's language)
    if name == "TXXX":  # a description, its terminator, then the value: blank when the value is
        terminator = b"\x00\x00" if payload[:1] in (b"\x01", b"\x02") else b"\x00"  # UTF-16's is two bytes
        text = text.split(terminator, 1)[1] if terminator in text else b""
    for mark in (b"\xff\xfe", b"\xfe\xff", b"\x00"):
        text = text.replace(mark, b"")
    return not text


def _id3_loss(block: bytes, tags) -> list[str]:
    """The frames of a stored tag that mutagen did not load into ``tags`` (undecodable text,
    invalid ids, duplicates it merged): saving ``tags`` would lose or change them."""
    if tags is None:
        return []
    loaded = Counter(frame.FrameID for frame in tags.values())
    loaded.update(bytes(raw[:4]).decode("latin-1") for raw in tags.unknown_frames)
    return [f"{count} {name} frame{'s' if count > 1 else ''}"
            for name, count in sorted((_id3_frame_ids(block) - loaded).items())]


def _vorbis_comment_bytes(path: str) -> bytes | None:
    """The raw Vorbis comment of a FLAC (its VORBIS_COMMENT block) or an Ogg Vorbis or Opus
    file (its comment packet, without the packet's magic); None where there is none."""
    from mutagen.ogg import OggPage

    with open(path, "rb") as handle:
        head = handle.read(10)
        if head[:3] == b"ID3":  # a FLAC may start with an ID3 tag
            handle.seek(_mp3_tag_size(head))
            head = handle.read(4)
        else:
            handle.seek(4)
        if head[:4] == b"fLaC":
            while True:
                header = handle.read(4)
                if len(header) < 4:
                    return None
                length = int.from_bytes(header[1:4], "big")
                if header[0] & 0x7F == 4:
                    return handle.read(length)
                if header[0] & 0x80:
                    return None
                handle.seek(length, os.SEEK_CUR)
        if head[:4] != b"OggS":
            return None
        handle.seek(0)
        pages = [OggPage(handle)]
        begun = len(pages[0].packets)  # packets begun so far: the comment is whole once a third begins
        while begun < 3 and len(pages) < 4096:
            page = OggPage(handle)
            if page.serial == pages[0].serial:
                pages.append(page)
                begun += len(page.packets) - page.continued
        packets = OggPage.to_packets(pages, strict=False)
        if len(packets) < 2:
            return None
        packet = packets[1]
    for magic in (b"\x03vorbis", b"OpusTags"):
        if packet.startswith(magic):
            return packet[len(magic):]
    return None


def _vorbis_loss(raw: bytes) -> list[str]:
    """What of a raw Vorbis comment mutagen cannot write back as it was: text that is not
    UTF-8 (it becomes U+FFFD), entries without a valid name (renamed or dropped), a truncated list."""
    problems: list[str] = []

    def number(at: int) -> int:
        return struct.unpack("<I", raw[at:at + 4])[0] if at + 4 <= len(raw) else -1

    vendor = number(0)
    if vendor < 0 or 4 + vendor > len(raw):
        return ["a truncated comment block"]
    try:
        raw[4:4 + vendor].decode("utf-8")
    except UnicodeDecodeError:
        problems.append("a vendor string that is not UTF-8")
    at = 4 + vendor
    count = number(at)
    at += 4
    for index in range(max(count, 0)):
        length = number(at)
        if length < 0 or at + 4 + length > len(raw):
            return problems + [f"a comment list cut short at entry {index + 1} of {count}"]
        entry = raw[at + 4:at + 4 + length]
        at += 4 + length
        key, equals, _ = entry.partition(b"=")
        if not equals or not key or any(b < 0x20 or b > 0x7D for b in key):
            problems.append(f"entry {index + 1} without a valid field name ({entry[:24]!r})")
            continue
        try:
            entry.decode("utf-8")
        except UnicodeDecodeError:
            problems.append(f"{key.decode('ascii')} holding text that is not UTF-8")
    return problems


def _mp4_loss(path: str) -> list[str]:
    """The genre atoms of an MP4 file mutagen could not read (text that is not UTF-8, an odd
    data type): it keeps them aside and drops them when a ``©gen`` is saved, so genrekit would
    neither see the owner's genre nor be able to put it back. Also ``gnre`` atoms beside a
    ``©gen`` one: mutagen reads them as one ``©gen`` list, which an undo could not split again."""
    from mutagen.mp4 import MP4

    failed = getattr(MP4(path).tags, "_failed_atoms", None) or {}
    problems = [f"an unreadable {key!r} atom" for key in failed if key in ("\xa9gen", "gnre")]
    texts, numbers = _mp4_genre_atoms(path)
    if texts and numbers:  # mutagen reads them as one ©gen: an undo could not put them back apart
        problems.append("a 'gnre' (numbered genre) atom beside a '\xa9gen' one")
    return problems


def _refuse_lossy(path: str, suffix: str, shown: str) -> None:
    """Raise when saving the tag of ``path`` (a copy of ``shown``) through mutagen would lose
    or garble anything in it."""
    if suffix in RIFF_SUFFIXES and (layout := _riff_layout_problem(path)):
        raise TagError(f"{shown}: {layout}; left as it is (re-save the file in an audio editor or with ffmpeg, "
                       "then tag it)")
    if suffix in ID3_SUFFIXES:
        tags, _ = _load_id3(path, suffix, exact=True)
        problems = _id3_loss(_id3_block(path, suffix), tags) if tags is not None else []
    elif suffix in MP4_SUFFIXES:
        problems = _mp4_loss(path)
    else:
        raw = _vorbis_comment_bytes(path)
        problems = _vorbis_loss(raw) if raw is not None else []
    if problems:
        listed = ", ".join(problems[:4]) + (" ..." if len(problems) > 4 else "")
        raise TagError(f"{shown}: its tag holds {listed}, which would be lost or changed if genrekit rewrote "
                            "the tag; left as it is (repair the tag with a tagger first)")


_ENCODING = re.compile(r"encoding=<Encoding\.\w+: \d+>, ")


def _textless(frame) -> bool:
    text = getattr(frame, "text", None)
    return isinstance(text, list) and not any(str(t) for t in text)


def _other_fields(path: str, suffix: str, touched) -> list:
    """Every tag field of the file but ``touched`` (field names as :attr:`GenreField.fields`
    gives them), as mutagen reads them: what a genre write must leave as it was."""
    mutagen = _mutagen()

    skip = {name.casefold() for name in touched} | {"genre"}
    if suffix in ID3_SUFFIXES:
        tags, _ = _load_id3(path, suffix, exact=True)
        if tags is None:
            return []
        # a frame's text encoding may change (v2.3 has no UTF-8: mutagen saves it as UTF-16),
        # its text may not; a frame without text is dropped by mutagen and loses nothing
        return sorted((key, _ENCODING.sub("", repr(frame))) for key, frame in tags.items()
                      if key.casefold() not in skip and not _textless(frame)) + sorted(
            bytes(raw) for raw in tags.unknown_frames)
    tags = mutagen.File(path).tags
    if tags is None:
        return []
    if isinstance(tags, list):  # Vorbis comments: (name, value) pairs, in order
        return [(key, value) for key, value in tags if key.casefold() not in skip]
    return sorted((key, repr(value)) for key, value in tags.items() if key.casefold() not in skip)


def _identity(status: os.stat_result) -> tuple[int, int, int, int]:
    return status.st_ino, status.st_size, status.st_mtime_ns, status.st_ctime_ns


# The copy a write edits, beside the song: ".genrekit-<machine>-<pid>-<random>.tag". A SIGKILL or a
# power cut leaves it behind; a later write in that folder removes it once its writer has gone.
_COPY_PREFIX, _COPY_SUFFIX = ".genrekit-", ".tag"
_COPY_NAME = re.compile(r"\.genrekit-(?:([0-9a-f]{8})-([0-9]{1,10})-)?[a-z0-9_]{8}\.tag(?:-song\.[A-Za-z0-9]{1,8})?")
# seconds after which a copy whose writer cannot be asked counts as left: one from another machine
# or container (its pid means another process here), or from a version that did not name its writer
_UNASKABLE_COPY_AGE = 3600
_swept: set[str] = set()  # the folders this process has removed left copies from (once each: a listing per write is quadratic)


@functools.cache
def _machine() -> str:
    """8 hex digits naming this machine and its pid namespace (a container has its own): a
    copy's pid is asked about only where it names the same process."""
    try:
        namespace = os.stat("/proc/self/ns/pid").st_ino
    except OSError:
        namespace = 0
    try:
        boot = Path("/proc/sys/kernel/random/boot_id").read_text().strip()
    except OSError:
        boot = ""
    return f"{zlib.crc32(f'{socket.gethostname()}|{boot}|{namespace}'.encode()):08x}"


def _new_copy(folder: str, extension: str = "") -> str:
    """An empty file for a write's copy of a song in ``folder``, named after its writer (and
    ending in ``extension``); the copies that killed writes left there are removed first,
    once per folder and process."""
    if folder not in _swept:
        _swept.add(folder)
        remove_stale_copies(folder)
    descriptor, copy = tempfile.mkstemp(prefix=f"{_COPY_PREFIX}{_machine()}-{os.getpid()}-",
                                        suffix=_COPY_SUFFIX + extension, dir=folder)  # any name length
    os.close(descriptor)
    return copy


def remove_stale_copies(folder: str | os.PathLike) -> list[str]:
    """Remove the copies that writes interrupted by a kill left in ``folder`` (hidden
    ``.genrekit-*.tag`` files, each a whole song): those whose writing process no longer runs
    on this machine, and those of another machine or container, or of an older version, an
    hour after they were made. Returns their paths; a copy that cannot be removed is logged."""
    removed = []
    try:
        names = os.listdir(folder)
    except OSError:
        return removed
    for name in names:
        match = _COPY_NAME.fullmatch(name) if name.startswith(_COPY_PREFIX) else None
        if match is None:
            continue
        path = os.path.join(folder, name)
        try:
            status = os.lstat(path)
            if not stat.S_ISREG(status.st_mode) or not _writer_gone(*match.groups(), status):
                continue
            os.remove(path)
        except OSError as exc:
            logger.warning("%s: a copy left by an interrupted tag write could not be removed (%s)", path, exc)
            continue
        logger.info("%s: removed a copy left by an interrupted tag write", path)
        removed.append(path)
    return removed


def _writer_gone(machine: str | None, pid: str | None, status: os.stat_result) -> bool:
    if machine != _machine() or os.name != "posix":  # its pid cannot be asked about here
        return time.time() - status.st_ctime > _UNASKABLE_COPY_AGE
    if int(pid) == os.getpid():
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except (PermissionError, OverflowError):  # another user's live process; a pid past the C int
        return False
    return False


def replace_safely(path: str, edit, *, keep_extension: bool = False,
                   unchanged_since: tuple[int, int] | None = None) -> None:
    """Run ``edit(copy)`` on a copy of ``path`` in its folder (permission bits and owner kept),
    fsync the copy and rename it onto ``path``: the file is either as it was or fully written.
    A link is followed: the song it points to is edited, and the link stays a link. Copies
    that killed writes left in the folder are removed first, once per folder and process
    (:func:`remove_stale_copies`). ``keep_extension``: the copy's name ends in the song's
    extension, for an editor that tells formats by it (beets' MediaFile, through mutagen).

    Refused (nothing changed): a file without write permission (even for root), one with
    other hard links (they would keep the old tags), one whose owner could not be kept (a
    group-writable song of another user would become the tagger's) or whose group could not
    be kept where its mode gives that group other rights than everyone, and one that another
    program changed while the copy was edited (its change would be lost), or, with
    ``unchanged_since`` (size, mtime_ns), since then (the genre to write is another audio's)."""
    name, path = path, os.path.realpath(path)
    with _writing(path, name) as status:
        _replace_locked(name, path, status, edit, keep_extension, unchanged_since)


# Songs share this many lock files (a song's is chosen by a hash of its real path): two songs on
# one file only wait for each other's write, which takes a moment.
SONG_LOCKS = 4096
# Seconds a write waits for another genrekit writer of the same song before it gives up.
SONG_LOCK_WAIT = 120.0


def _song_lock_file(path: str) -> str | None:
    """The lock file for the song at real path ``path``: in a folder of this user's alone
    (``$XDG_RUNTIME_DIR``, else the temporary folder), never beside the song: a flock on the
    song itself fails on NFS (read-only descriptor) and locks its reads on SMB. None where no
    such folder can be had (Windows, a folder of another owner)."""
    if not hasattr(os, "geteuid"):
        return None
    base = os.environ.get("XDG_RUNTIME_DIR") or tempfile.gettempdir()
    folder = os.path.join(base, f"genrekit-{os.geteuid()}-song-locks")
    try:
        os.makedirs(folder, mode=0o700, exist_ok=True)
        status = os.lstat(folder)
    except OSError:
        return None
    if not stat.S_ISDIR(status.st_mode) or status.st_uid != os.geteuid() or status.st_mode & 0o077:
        return None  # made by someone else: not trusted to serialise anything
    bucket = int.from_bytes(hashlib.sha256(os.fsencode(path)).digest()[:4], "big") % SONG_LOCKS
    return os.path.join(folder, f"{bucket:04x}.lock")


def _link_refusal(path: str) -> str | None:
    """Why a link to a song of another format is left as it is (the tags written follow the
    name's format); None where the name and the song agree."""
    real, suffix = os.path.realpath(path), Path(path).suffix.lower()
    if Path(real).suffix.lower() != suffix:
        return f"a link to {real}, which is not a {suffix} file; its tags are left as they are"
    return None


def write_refusal(path: str | os.PathLike, status: os.stat_result | None = None) -> str | None:
    """Why the song at ``path`` is left as it is rather than rewritten (a link to a song of
    another format, read-only, or other hard links that would keep the old tags); None where
    a write may go ahead. ``status``: its ``os.stat`` as read under the song's lock (default:
    read now). A dry run asks it too, so its preview names the files the write would refuse."""
    path = os.fspath(path)
    refusal = _link_refusal(path)
    if refusal:
        return refusal
    status = os.stat(path) if status is None else status
    if not status.st_mode & (stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH):
        return f"read-only (mode {stat.filemode(status.st_mode)}); its tags are left as they are"
    if status.st_nlink > 1:
        return (f"has {status.st_nlink - 1} other hard link(s), which a rewrite of this one would leave with the "
                "tags they have now; left as it is")
    return None


def dry_run_refusal(path: str | os.PathLike) -> str | None:
    """Why a write to ``path`` would be refused, as far as can be told without writing: what
    :func:`write_refusal` says, a tag that rewriting would garble (:func:`_refuse_lossy`), a
    folder where its copy cannot be made, or an owner the copy could not keep. None where the
    write may go ahead: a dry run's preview then names what the real run would refuse."""
    name = os.fspath(path)
    refusal = write_refusal(name)
    if refusal:
        return refusal
    real = os.path.realpath(name)
    folder = os.path.dirname(real)
    if not os.access(folder, os.W_OK | os.X_OK):
        return _unwritable_folder(folder)
    status = os.stat(real)
    # what _replace_locked's chown would give its copy: only root may give a file away, and a
    # member of the file's group keep that group
    root = os.getuid() == 0
    uid = status.st_uid if root else os.getuid()
    gid = status.st_gid if root or status.st_gid in {os.getegid(), *os.getgroups()} else os.getegid()
    if lost := _owner_lost(status, uid, gid):
        return lost
    try:
        _refuse_lossy(real, Path(name).suffix.lower(), name)
    except TagError as exc:
        return str(exc).removeprefix(f"{name}: ")
    except Exception as exc:  # mutagen raises many types (an RF64 WAV's chunks): the write would fail reading them
        return f"its tags cannot be read ({failure_words(exc, name)})"
    return None


def _owner_lost(status: os.stat_result, uid: int, gid: int) -> str | None:
    """Why a rewritten copy owned by user ``uid``, group ``gid`` cannot replace a file of
    ``status``: another owner, or another group where the mode gives the group other rights
    than everyone; None where it can."""
    group_matters = (status.st_mode >> 3) & 0o7 != status.st_mode & 0o7
    if uid != status.st_uid or (gid != status.st_gid and group_matters):
        return (f"owned by user {status.st_uid}, group {status.st_gid}; a rewritten copy would be owned by user "
                f"{uid}, group {gid}; left as it is")
    return None


def _unwritable_folder(folder: str) -> str:
    return (f"its folder {folder} cannot be written, where genrekit makes the copy that replaces the song; "
            "left as it is")


@contextlib.contextmanager
def _writing(path: str, name: str):
    """Hold this machine's lock on the song at real path ``path`` from before its state is read
    until its copy has replaced it, and give that state (``os.stat_result``). Two genrekit
    writers (two tag runs into other tables, a run and beets) took turns between one's check
    and its rename, and both recorded a write; the second now reads the song as the first left
    it. Where no lock can be had, the writes go on as before, unserialised."""
    lock = _song_lock_file(path)
    busy = f"{name}: another genrekit writer of this song held it for over {SONG_LOCK_WAIT:g} s; left as it is"
    with exclusive_lock(Path(lock), busy, wait=SONG_LOCK_WAIT, error=TagConflict) if lock else contextlib.nullcontext():
        yield os.stat(path)


def _replace_locked(name: str, path: str, status: os.stat_result, edit, keep_extension: bool,
                    unchanged_since: tuple[int, int] | None) -> None:
    folder = os.path.dirname(path)
    if unchanged_since is not None and (status.st_size, status.st_mtime_ns) != tuple(unchanged_since):
        raise TagConflict(f"{name}: changed since it was analysed (size or mtime); its tags are left as they are")
    refusal = write_refusal(name, status)
    if refusal:
        raise TagError(f"{name}: {refusal}")
    extension = os.path.splitext(path)[1] if keep_extension else ""
    try:
        temporary = _new_copy(folder, f"-song{extension}" if re.fullmatch(r"\.[A-Za-z0-9]{1,8}", extension) else "")
    except PermissionError as exc:  # named by its hidden copy, the error said nothing of the folder
        raise TagError(f"{name}: {_unwritable_folder(folder)} ({exc.strerror})") from exc
    try:
        shutil.copy2(path, temporary)
        if (status.st_uid, status.st_gid) != (os.getuid(), os.getgid()):
            with contextlib.suppress(OSError):  # only root may give a file away
                os.chown(temporary, status.st_uid, status.st_gid)
            with contextlib.suppress(OSError):  # a member of the file's group may keep at least that
                os.chown(temporary, -1, status.st_gid)
            copy = os.stat(temporary)
            if lost := _owner_lost(status, copy.st_uid, copy.st_gid):
                raise TagError(f"{name}: {lost}")
        edit(temporary)
        fsync_path(temporary)
        if _identity(os.stat(path)) != _identity(status):
            raise TagConflict(f"{name}: changed by another program while its tags were written; left as it is")
        os.replace(temporary, path)
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.remove(temporary)
    fsync_path(folder, folder=True)


def write_fields(path: str | os.PathLike, values: dict[str, list[str] | None], *, expect=None,
                 id3v2_version: int | None = None, remove_empty: bool = False,
                 id3_tag: str | None = None, unchanged_since: tuple[int, int] | None = None,
                 trust_name: bool = False, size_wanted: int | None = None) -> dict[str, list[str] | None]:
    """Set fields of ``path`` to exactly ``values`` (field name -> values; None: remove the
    field), on a copy that is fsynced and then replaces the file; the audio is left as it is.

    Parameters
    ----------
    path : a file of ``TAGGABLE``
    values : field names as :attr:`GenreField.fields` gives them (``TCON``, ``TXXX:…``;
        ``GENRE``, ``GENREKIT_…``; ``©gen``, ``----:org.genrekit:…``)
    expect : field name -> the values the file must hold now (None: absent); otherwise
        :class:`TagConflict` and nothing is written
    id3v2_version : save an ID3v2 tag as version 3 or 4 (None: the version it has, or 4)
    remove_empty : remove an ID3v2 tag or MP4 ``ilst`` left empty (one genrekit added)
    id3_tag : an ID3v2 tag as it was stored (base64, :attr:`TagChange.id3_tag`), put back
        before ``values`` are set: how an undo reverts a version conversion exactly
    unchanged_since : the ``(size, mtime_ns)`` the file must still have when its copy is
        made (the audio a genre was predicted from); otherwise :class:`TagConflict`
    trust_name : write the tag of the name's format even where the content shows another
        (:func:`read_genre_field`; otherwise ParameterError): how an undo puts back a write
        an earlier version made so
    size_wanted : the size in bytes the file is to have, where the tags' padding can give it:
        an undo's, the size before genrekit's first write, so that a file nothing else changed
        comes back byte for byte

    Returns
    -------
    dict
        The fields of ``values`` as read back from the written file.
    """
    _check_version(id3v2_version)
    path = os.fspath(path)
    suffix = Path(path).suffix.lower()
    refusal = _link_refusal(path)  # its format is chosen by the name: the song's own must agree
    if refusal:
        raise TagError(f"{path}: {refusal}")
    if not trust_name:
        _check_content(path, suffix, for_writing=True)
    written: dict = {}

    def edit(temporary: str) -> None:
        field = read_genre_field(temporary, suffix=suffix, trust_name=True)  # its content checked above
        now = field.fields
        for key, wanted in (expect or {}).items():
            if now.get(key) != wanted:
                raise TagConflict(f"{path}: expected {key} {wanted!r}, found {now.get(key)!r} "
                                  "(the file changed since it was read)")
        _refuse_lossy(temporary, suffix, path)
        block = base64.b64decode(id3_tag) if id3_tag is not None else None
        # converting an ID3 tag's version rewrites every frame (its undo puts the whole tag back)
        converting = block is not None or (field.family == "ID3" and field.version is not None
                                           and id3v2_version not in (None, field.version))
        others = _other_fields(temporary, suffix, values)
        try:
            if suffix in ID3_SUFFIXES:
                _set_id3(temporary, suffix, values, id3v2_version, remove_empty, block, size_wanted)
            else:
                _set_other(temporary, values, remove_empty, size_wanted)
        except GenrekitError as exc:  # named by the song, not by its temporary copy
            raise type(exc)(f"{path}: {exc}") from exc
        after = read_genre_field(temporary, suffix=suffix, trust_name=True).fields
        later = _other_fields(temporary, suffix, values)
        if not converting and later != others:
            changed = sorted({str(item[0]) if isinstance(item, tuple) else "a frame mutagen does not know"
                              for item in [*others, *later] if (item in others) != (item in later)}) or ["their order"]
            raise TagError(f"{path}: writing {', '.join(values)} would also change other fields "
                                f"({', '.join(changed[:5])}); left as it is")
        wrong = {key: after.get(key) for key, wanted in values.items() if after.get(key) != wanted}
        if wrong:
            # a WAV's or AIFF's chunk layout was checked before the write (_refuse_lossy)
            raise TagError(f"{path}: wrote {', '.join(f'{k} {values[k]!r}' for k in wrong)} but read back "
                           f"{', '.join(f'{v!r}' for v in wrong.values())}; left as it is")
        written.update({key: after.get(key) for key in values})

    replace_safely(path, edit, unchanged_since=unchanged_since)
    return written


def read_genre_tag(path: str | os.PathLike) -> str | None:
    """The file's genre (the first one), or None."""
    genres = read_genre_field(path, writable=False).genres
    return genres[0] if genres else None


def write_genre_tag(path: str | os.PathLike, genres: str | list[str], *, dry_run: bool = False,
                    existing: str = "keep", separator: str = SEPARATOR, id3v2_version: int | None = None,
                    provenance: dict[str, str] | None = None) -> TagChange:
    """Set the file's genres to ``genres`` as ``existing`` says (:func:`plan_genre_tag`, whose
    parameters these are); ``dry_run`` only reports the change (``action`` ``would write``, or
    ``would fail`` with the ``error`` the write would meet, :func:`dry_run_refusal`)."""
    check_flags(dry_run=dry_run)
    change = plan_genre_tag(path, genres, existing=existing, separator=separator, id3v2_version=id3v2_version,
                            provenance=provenance)
    if change.action != "write":
        return change
    if dry_run:
        refusal = dry_run_refusal(change.path)
        change.action = "would fail" if refusal else "would write"
        change.error = f"{change.path}: genre tag would not be written ({refusal})" if refusal else None
        return change
    return apply_tag_change(change)
