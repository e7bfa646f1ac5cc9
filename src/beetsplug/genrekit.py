"""genrekit for beets: genres from the audio itself, on the command line or on import, in
genrekit's genres or in the library's own.

Enable it in beets' config (``plugins: genrekit``; install with ``pip install 'genrekit[beets]'``)::

    genrekit:
        auto: no              # also run on every import
        model: auto           # auto: the model `beet genrekit --train` made, else genrekit's own;
                              # default: genrekit's own; or a genrekit model file / run folder
        min_confidence: null  # below this top probability a song's genre is unknown: left alone
        count: 1              # genres per song: the top one, then the next at or above min_confidence (0.2 if null)
        styles: no            # add the styles the model finds as further genres
        force: no             # replace genres that genrekit did not set
        source_field: genre_source   # the flexible attribute that says who set the genres
        jobs: 1               # `beet genrekit`'s worker processes (each loads the model once); 1: in
                              # beets' process, as the import stage always predicts
        map: null             # --train: a CSV 'from,to' merging spellings ("Hip Hop,hiphop")
        min_per_genre: 1      # --train: genres with fewer items are left out
        multi_genre: first    # --train: an item with several genres: first (its first) or all

``beet genrekit [QUERY]`` sets the genres of the matching items (``-p/--pretend``: only show
them, ``-f/--force``: also replace genres that genrekit did not set), storing each item as
its prediction comes (an interrupted run keeps what it did; every 30 s it says how many are
done and the time left), and ends with what it did to how many items; an item that failed
is named, and the command then exits with an error. An item whose genres this model already
set with the same ``count``, ``min_confidence`` and ``styles`` is left as it is, so a second
run predicts only what is new. Each item it sets gets ``genre_source: genrekit``
(``source_field``) and genrekit's provenance, ``genrekit_model``, ``genrekit_version``,
``genrekit_confidence`` and ``genrekit_date``; an item with genres and any other source keeps
them unless forced. The genres go into beets' multi-valued ``genres`` field (the items' only:
albums' ``genres`` are left to their owner). Files are written as beets' ``import.write``
setting says, or ``-w/--write`` and ``-W/--nowrite``: only the genres and genrekit's fields, as
``genrekit tag --write-tags`` writes them (an ID3 tag keeps its version, a v2.3 one its genres in
one value joined by '; '; a format genrekit does not tag, such as WMA, through beets' MediaFile), on
a copy beside the song that replaces it once complete and only after the undo record below is
in beets' database; the file's other tags are left as they are, whatever beets' database
holds. A read-only or hard-linked song is left as it is, with a warning, and so is an item
whose file's genres are not beets' (changed in another tagger since beets read them: ``beet
update`` reads them). On import, beets' importer
writes the files of the albums it tags; those imported as they are (``-A``) get their genres
written by the plugin once beets has put them in place. The provenance goes into the files
with the genres, in the fields ``genrekit tag --write-tags`` uses (``TXXX:GENREKIT_MODEL``
…), so genrekit reading the files later (``train --labels-from-tags``) knows these genres are
a model's, not the owner's. An item imported from a file with that provenance counts as set
by genrekit.

Before it first changes an item's genres it records them, with their source, in the item's
``genrekit_undo`` field (JSON, in beets' database); ``beet genrekit --undo [QUERY]`` puts
them back and removes genrekit's fields (from the files too, where files are written: the fields
as the file held them before genrekit's first write, those it lacked removed, a tag it lacked too),
refusing by name an item whose genres were changed since genrekit set them, and, where files
are not written, an item whose file holds the genres genrekit wrote (its record would go
while the file kept them: undo it with ``-w``).

``beet genrekit --train [QUERY]`` learns the library's own genres: the matching items whose
genres their owner set (``source_field`` is not genrekit) are the training songs, labelled
in the owner's taxonomy (``genrekit.datasets.genre_dataset``: spellings merged by ``map`` and
by case, artists kept so that no artist sits on both sides of a fold); the items without
genres are what it will fill in. It fits genrekit's default head for small libraries
(``genrekit.train.train``, ``split="all"``: every tagged item trains, k-fold CV grouped by
artist scores it), prints what it learned per genre and the items whose genre the
cross-validated model confidently disputes (often mis-tags; all of them in
``disagreements.csv``), and keeps the run folder in ``<beets config dir>/genrekit/model/``,
replacing an older one only once the new one is complete. With ``model: auto`` (the
default) ``beet genrekit`` and the ``auto`` import stage then use it.

The model is loaded once (``genrekit.models.load``) and the files predicted with
``genrekit.predict.files.iter_predictions``.
"""

from __future__ import annotations

import json
import os
import shutil
import string
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import confuse
from beets import config as beets_config
from beets import ui
from beets.dbcore import types
from beets.library import Item
from beets.plugins import BeetsPlugin

from genrekit._files import line_shown

SOURCE = "genrekit"
AUTO = "auto"  # the `model` setting: the trained model where there is one, else genrekit's own
MULTI_GENRE = ("first", "all")
# beets item field -> genrekit's provenance item (genrekit.audio.tags.PROVENANCE)
PROVENANCE_FIELDS = {"genrekit_model": "MODEL", "genrekit_version": "VERSION",
                     "genrekit_confidence": "CONFIDENCE", "genrekit_date": "DATE", "genrekit_genres": "GENRES"}
# JSON: the genres, their source and genrekit's provenance fields before genrekit's first
# change to the item, the genres it set last and the settings it set them with
UNDO_FIELD = "genrekit_undo"
# the settings that change which genres a prediction gives an item
GENRE_SETTINGS = ("count", "min_confidence", "styles")
PROGRESS_EVERY_SECONDS = 30.0


def trained_model_dir() -> Path:
    """Where ``beet genrekit --train`` keeps its run folder: ``<beets config dir>/genrekit/model``."""
    return Path(beets_config.config_dir()) / "genrekit" / "model"


def _genre_list(item: Item) -> list[str]:
    """The item's genres, whichever field this beets version has."""
    if "genres" in Item._fields:
        return [g for g in (item.get("genres") or []) if g]
    genre = item.get("genre") or ""
    return [g.strip() for g in genre.split(";") if g.strip()]


def _set_genres(item: Item, genres: list[str]) -> None:
    if "genres" in Item._fields:
        item.genres = list(genres)
    else:  # beets before 2.14: one genre field
        item.genre = "; ".join(genres)


def _undo_record(item: Item) -> dict | None:
    """The item's undo record (:data:`UNDO_FIELD`); None where it has none. Its ``file``: the
    fields genrekit writes as the item's file held them before genrekit's first write to it
    (``fields``: name -> values, None where absent; ``has_tags``: it had a tag block at all),
    None where not known (not written yet, or a record of an older genrekit).

    Raises
    ------
    ValueError
        The field holds something else than genrekit's record.
    """
    stored = item.get(UNDO_FIELD)
    if not stored:
        return None
    try:
        record = json.loads(stored)
        record = {"genres": _texts(record["genres"], "genres"), "source": record["source"],
                  "provenance": _provenance(record.get("provenance")), "set": _texts(record["set"], "set"),
                  "settings": record.get("settings"), "file": _file_fields(record.get("file"))}
    except (ValueError, TypeError, KeyError, AttributeError, RecursionError) as exc:  # Recursion: nested too deep
        raise ValueError(f"its {UNDO_FIELD} field is not genrekit's record ({type(exc).__name__}: {exc})") from exc
    if record["source"] is not None and not isinstance(record["source"], str):
        raise ValueError(f"its {UNDO_FIELD} field is not genrekit's record (source {record['source']!r})")
    return record


def _texts(values, what: str) -> list[str]:
    """``values`` where it is a list of texts (genres), else a TypeError: "Rock" was put back as R; o; c; k."""
    if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
        raise TypeError(f"{what}: expected a list of texts, found {values!r:.80}")
    return values


def _provenance(values) -> dict:
    """An undo record's provenance: beets field -> text, number or null, else a TypeError (an
    object failed in beets' database after the file was put back)."""
    if values is None:
        return {}
    if not isinstance(values, dict) or not all(
            value is None or isinstance(value, str) or (isinstance(value, (int, float)) and not isinstance(value, bool))
            for value in values.values()):
        raise TypeError(f"provenance: expected field -> a text, a number or null, found {values!r:.80}")
    return dict(values)


def _file_fields(kept) -> dict | None:
    """An undo record's ``file`` (see :func:`_undo_record`), checked; raises TypeError where it
    is something else."""
    if kept is None:
        return None
    fields = kept["fields"]
    if not isinstance(fields, dict) or not all(
            value is None or (isinstance(value, list) and all(isinstance(v, str) for v in value))
            for value in fields.values()):
        raise TypeError(f"its file's fields: expected field name -> a list of strings or null, found {fields!r:.80}")
    if not isinstance(kept["has_tags"], bool):  # "no" was read as true
        raise TypeError(f"its file's has_tags: expected true or false, found {kept['has_tags']!r:.40}")
    return {"fields": {str(name): value for name, value in fields.items()}, "has_tags": kept["has_tags"]}


def _changed_since(item: Item) -> bool:
    """The item's genres are no longer the ones genrekit set last (the owner edited them)."""
    try:
        record = _undo_record(item)
    except ValueError:
        return True  # not known to be genrekit's: treated as the owner's
    return record is not None and _genre_list(item) != record["set"]


def _set_by_genrekit(item: Item, source_field: str) -> bool:
    """genrekit set the item's genres, and they are as it set them: its source says so, or (no
    source) it came from a file whose genres genrekit wrote (its provenance field ``MODEL``,
    read by beets on import). Genres edited since genrekit set them are the owner's."""
    from genrekit.audio.tags import split_genres

    source = item.get(source_field)
    wrote = item.get("genrekit_genres")  # the genres a file's genrekit write recorded, where it did
    from_file = bool((item.get("genrekit_model") or "").strip()) and (
        not wrote or [g.casefold() for g in split_genres([wrote])]
        == [g.casefold() for g in split_genres(_genre_list(item))])
    by_genrekit = source == SOURCE or (not source and from_file)
    return by_genrekit and not _changed_since(item)


def _settings_of(item: Item) -> dict | None:
    """The settings genrekit last set the item's genres with (its undo record's); None where unknown."""
    try:
        record = _undo_record(item)
    except ValueError:
        return None
    return record and record["settings"]


def _same_genres(found: list[str], genres: list[str]) -> bool:
    """A file's genre values ``found`` hold ``genres``: an ID3v2.3 tag keeps several in one
    value joined by '; ' (as genrekit writes them, and as beets splits them on reading)."""
    from genrekit.audio.tags import split_genres

    return split_genres(found) == split_genres(genres)


def _file_genres_differ(item: Item, *expected: list[str]) -> list[str] | None:
    """The genres in the item's file where they are none of ``expected`` (the owner changed
    them in another tagger since beets read the file), else None. beets' own sign of a
    changed file, its mtime, is not kept by ``beet update`` (2.14), so the genres themselves
    are compared."""
    from mediafile import MediaFile, UnreadableFileError

    try:
        found = [g for g in (MediaFile(os.fsdecode(item.path)).genres or []) if g]
    except (UnreadableFileError, OSError):  # its prediction or write says why
        return None
    return None if any(_same_genres(found, genres) for genres in expected) else found


def _expected_in_file(item: Item) -> list[list[str]]:
    """The genres the item's file may hold: beets' database's, or those before genrekit's
    change where the file was not written since (beets' write setting was off, or it failed)."""
    try:
        record = _undo_record(item)
    except ValueError:
        record = None
    return [_genre_list(item), *([record["genres"]] if record else [])]


def _file_holds(item: Item) -> bool:
    """The item's file holds the genres and model beets' database has for it (an unreadable
    file counts as holding them: writing it would fail too)."""
    from mediafile import MediaFile, UnreadableFileError

    try:
        song = MediaFile(os.fsdecode(item.path))
    except (UnreadableFileError, OSError):
        return True
    return _same_genres(song.genres or [], _genre_list(item)) and song.genrekit_model == item.get("genrekit_model")


def _owner_genres_in_file(item: Item) -> list[str]:
    """The genres the item's file holds where beets does not read them (a WAV's RIFF INFO, an
    MP3's APEv2 tag), its owner's: `tag` keeps them, and the plugin wrote a genre beside them."""
    from genrekit.audio.tags import TAGGABLE, is_placeholder, read_genre_field, read_song_tags
    from genrekit.errors import GenrekitError

    path = os.fsdecode(item.path)
    if Path(path).suffix.lower() not in TAGGABLE:
        return []
    try:
        if any(genre.strip() for genre in read_genre_field(path, writable=False).genres):
            return []  # in the field beets reads: changed since it read them (the next check's)
        tags = read_song_tags(path)
    except (GenrekitError, ImportError):  # unreadable: its write says why
        return []
    return [] if tags.by_genrekit else [genre for genre in tags.genres if not is_placeholder(genre)]


def _stamp(item: Item) -> tuple[int, int] | None:
    """The item's file's size and modification time (None: it cannot be read)."""
    try:
        status = os.stat(os.fsdecode(item.path))
    except OSError:
        return None
    return status.st_size, status.st_mtime_ns


def _file_has_genrekit(item: Item) -> bool:
    """The item's file holds genrekit's provenance, as a write of genrekit's genres left it, or
    cannot be read (an unmounted drive: it may, and an undo of the database alone would lose the
    record the file's undo needs)."""
    from mediafile import MediaFile, UnreadableFileError

    try:
        return bool((MediaFile(os.fsdecode(item.path)).genrekit_model or "").strip())
    except (UnreadableFileError, OSError):
        return True


@dataclass
class TagOutcome:
    """What :meth:`GenrekitPlugin.tag_items` or :meth:`GenrekitPlugin.undo_items` did."""

    done: dict[str, list[str]] = field(default_factory=dict)  # path -> genres set, or put back
    failed: list[str] = field(default_factory=list)  # paths not predicted, or left with their record
    counts: Counter = field(default_factory=Counter)  # outcome -> items


def _provenance_field(name: str):
    """The media field that keeps genrekit's provenance item ``name`` in a file, where
    ``genrekit tag --write-tags`` keeps it: a ``TXXX`` frame (mp3, wav, aiff), a Vorbis
    comment (flac, ogg, opus) or an MP4 freeform atom."""
    from mediafile import MediaField, MP3DescStorageStyle, MP4StorageStyle, StorageStyle

    from genrekit.audio.tags import provenance_key

    places = {"float_places": 3}  # the confidence, as genrekit writes it
    return MediaField(MP3DescStorageStyle(provenance_key("ID3", name).split(":", 1)[1], **places),
                      MP4StorageStyle(provenance_key("MP4", name), **places),
                      StorageStyle(provenance_key("Vorbis comment", name), **places),
                      out_type=float if name == "CONFIDENCE" else str)


def _tag_values(now, values: dict, version: int | None) -> dict[str, list[str] | None]:
    """The fields of a file (``now``: :func:`genrekit.audio.tags.read_genre_field`'s) that hold
    ``values`` (``genres`` and the :data:`PROVENANCE_FIELDS`, beets' values; empty: removed), as
    ``genrekit tag --write-tags`` writes them: an ID3v2.3 tag's genres (``version`` 3) one value
    joined by '; ', other tags one value per genre (an MP4's numbered ``gnre`` atoms removed: the
    undo puts them back); the confidence with 3 decimals."""
    from genrekit.audio.tags import MP4_GNRE, SEPARATOR, provenance_key

    genres = values["genres"]
    fields = {now.field: None if not genres else [SEPARATOR.join(genres)] if version == 3 else list(genres)}
    if now.gnre is not None:  # mutagen reads them as the genre field, and saving that drops them
        fields[MP4_GNRE] = None
    for field, name in PROVENANCE_FIELDS.items():
        value = values[field]
        if value is None or value == "":
            text = None
        else:
            text = [f"{value:.3f}" if name == "CONFIDENCE" and isinstance(value, (int, float)) else str(value)]
        fields[provenance_key(now.family, name)] = text
    return fields


def _why(exc: Exception, path: str) -> str:
    """Why a file was not written: genrekit's refusal in words (without the file's name, which
    the warning gives), another library's error with its type."""
    from genrekit.errors import GenrekitError

    if isinstance(exc, (GenrekitError, OSError)):
        return str(exc).removeprefix(f"{path}: ")
    return f"{type(exc).__name__}: {exc}"


class _EscapingLog:
    """The plugin's logger, with paths and texts from outside (file names, tags) each one line of
    escapes (``\\n``, ``\\x1b``): beets keeps newlines in texts and passes paths as they are."""

    def __init__(self, log) -> None:
        self._log = log

    def __getattr__(self, name: str):
        return getattr(self._log, name)

    @staticmethod
    def _shown(value):
        if isinstance(value, (str, bytes, os.PathLike, Exception)):
            return line_shown(os.fsdecode(value) if isinstance(value, (bytes, os.PathLike)) else str(value))
        return value

    @staticmethod
    def _as_repr(msg: str) -> tuple[set[int], set[str]]:
        """The positions and names of ``msg``'s ``{!r}`` fields: repr escapes those already, and
        escaping them first doubled each backslash."""
        positions, names, automatic = set(), set(), 0
        try:
            fields = list(string.Formatter().parse(msg))
        except ValueError:  # not a format string: every argument is escaped
            return positions, names
        for _, name, _, conversion in fields:
            if name is None:
                continue
            key = name.split(".")[0].split("[")[0]
            if key == "":
                key, automatic = automatic, automatic + 1
            elif key.isdigit():
                key = int(key)
            if conversion == "r":
                (positions if isinstance(key, int) else names).add(key)
        return positions, names

    def _say(self, level: str, msg: str, args: tuple, kwargs: dict) -> None:
        options = {k: kwargs.pop(k) for k in ("exc_info", "extra", "stack_info", "stacklevel") if k in kwargs}
        positions, names = self._as_repr(msg)
        args = [arg if i in positions else self._shown(arg) for i, arg in enumerate(args)]
        kwargs = {k: v if k in names else self._shown(v) for k, v in kwargs.items()}
        # stacklevel: the record names the plugin's line, not this one
        getattr(self._log, level)(msg, *args, **kwargs, **({"stacklevel": 4} | options))

    def debug(self, msg: str, *args, **kwargs) -> None:
        self._say("debug", msg, args, kwargs)

    def info(self, msg: str, *args, **kwargs) -> None:
        self._say("info", msg, args, kwargs)

    def warning(self, msg: str, *args, **kwargs) -> None:
        self._say("warning", msg, args, kwargs)

    def error(self, msg: str, *args, **kwargs) -> None:
        self._say("error", msg, args, kwargs)


class GenrekitPlugin(BeetsPlugin):
    """``beet genrekit``, and the ``auto`` import stage."""

    item_types = {"genrekit_confidence": types.NullFloat(3)}  # shown with 3 decimals, like the files' field

    def __init__(self) -> None:
        super().__init__("genrekit")
        self._log = _EscapingLog(self._log)
        self.config.add({"auto": False, "model": AUTO, "min_confidence": None, "count": 1, "styles": False,
                         "force": False, "source_field": "genre_source", "jobs": 1, "map": None,
                         "min_per_genre": 1, "multi_genre": "first"})
        self._classifier = None
        self._identities: dict[tuple, str] = {}
        self._to_write: dict[int, list[Item]] = {}  # import task -> items whose files the stage's genres go into
        from mediafile import MediaFile

        registered = set(MediaFile.fields())  # a second plugin instance in one process (beets as a library)
        for field, name in PROVENANCE_FIELDS.items():
            if field not in registered:
                self.add_media_field(field, _provenance_field(name))
        try:
            auto = self.config["auto"].get(bool)
        except confuse.ConfigError as exc:  # a traceback on every beet command, and no `beet genrekit`
            self._log.error("{}: the import stage is off (auto: yes or no)", exc)
            auto = False
        if auto:
            self.import_stages = [self.imported]
            self.register_listener("import_task_files", self._write_imported)

    def _settings(self) -> dict:
        """The config, checked: a bad value names its key, what was expected and what was found."""
        from genrekit.errors import ParameterError

        count = self.config["count"].get()
        if not isinstance(count, int) or isinstance(count, bool) or count < 1:
            raise ParameterError(f"genrekit.count: expected a whole number of genres, at least 1; found {count!r}")
        min_confidence = self.config["min_confidence"].get()
        if min_confidence is not None and (isinstance(min_confidence, bool) or not (  # yes is no probability
                isinstance(min_confidence, (int, float)) and 0 <= min_confidence <= 1)):
            raise ParameterError(f"genrekit.min_confidence: expected a probability between 0 and 1 (or null); "
                                 f"found {min_confidence!r}")
        jobs = self.config["jobs"].get()
        if not isinstance(jobs, int) or isinstance(jobs, bool) or jobs < 1:
            raise ParameterError(f"genrekit.jobs: expected a whole number of processes, at least 1; found {jobs!r}")
        from genrekit.runners import MAX_JOBS_PER_CORE, default_jobs

        if jobs > (most := MAX_JOBS_PER_CORE * default_jobs()):  # named here, not as the library's n_jobs
            raise ParameterError(f"genrekit.jobs: at most {most} worker processes on this machine ({MAX_JOBS_PER_CORE} "
                                 f"for each of its {default_jobs()} cores); found {jobs}")
        source_field = self.config["source_field"].as_str()
        if not source_field.isidentifier():
            raise ParameterError(f"genrekit.source_field: expected a field name (letters, digits, _); "
                                 f"found {source_field!r}")
        if source_field in Item._fields or source_field in (UNDO_FIELD, *PROVENANCE_FIELDS):
            # `year` became 0000 and could not be put back; `title` became "genrekit" on every item
            raise ParameterError(f"genrekit.source_field: expected a field of its own, such as genre_source; found "
                                 f"{source_field!r}, one of beets' (or genrekit's) own fields")
        model = self.config["model"].get()
        if not isinstance(model, str) or not model.strip():
            raise ParameterError(f"genrekit.model: expected {AUTO!r}, 'default' or a model file; found {model!r}")
        genre_map = self.config["map"].get()
        if genre_map is not None and (not isinstance(genre_map, str) or not genre_map.strip()):
            raise ParameterError(f"genrekit.map: expected the path of a CSV 'from,to' (or null); found {genre_map!r}")
        min_per_genre = self.config["min_per_genre"].get()
        if not isinstance(min_per_genre, int) or isinstance(min_per_genre, bool) or min_per_genre < 1:
            raise ParameterError(f"genrekit.min_per_genre: expected a whole number of items, at least 1; "
                                 f"found {min_per_genre!r}")
        multi_genre = self.config["multi_genre"].get()
        if multi_genre not in MULTI_GENRE:
            raise ParameterError(f"genrekit.multi_genre: expected one of {', '.join(MULTI_GENRE)}; "
                                 f"found {multi_genre!r}")
        return {"count": count, "min_confidence": min_confidence, "styles": self.config["styles"].get(bool),
                "jobs": jobs, "source_field": source_field, "min_per_genre": min_per_genre, "multi_genre": multi_genre,
                # a relative path is relative to beets' config file, as beets' own paths are
                "map": self.config["map"].as_filename() if genre_map else None}

    def _model(self) -> str:
        """The model to use: the configured one, or with ``model: auto`` the one ``--train`` made
        (where there is one) else genrekit's own."""
        model = self.config["model"].as_str()
        if model != AUTO:
            return model
        trained = trained_model_dir()
        return str(trained) if trained.is_dir() else "default"

    def _identity(self, model: str) -> str:
        """The model file's ``NAME@HASH``, hashed once while the file stays as it is."""
        from genrekit.models.interface import model_file, model_id

        path = model_file(model)
        stat = path.stat()
        key = (str(path), stat.st_mtime_ns, stat.st_size)
        if key not in self._identities:
            self._identities[key] = model_id(path)
        return self._identities[key]

    @property
    def classifier(self):
        """The model to use (:meth:`_model`), loaded on first use and kept for every later item."""
        if self._classifier is None:
            from genrekit.models import load

            self._classifier = load(self._model())
        return self._classifier

    def commands(self) -> list[ui.Subcommand]:
        command = ui.Subcommand("genrekit", help="set genres from the audio with genrekit")
        command.parser.add_option("-p", "--pretend", action="store_true", default=False,
                                  help="show the genres it would set, change nothing")
        command.parser.add_option("-f", "--force", action="store_true", default=None,
                                  help="also replace genres that genrekit did not set")
        command.parser.add_option("-w", "--write", action="store_true", default=None,
                                  help="write the genres into the files (default: beets' import.write)")
        command.parser.add_option("-W", "--nowrite", action="store_false", dest="write",
                                  help="change beets' database only, not the files")
        command.parser.add_option("-t", "--train", action="store_true", default=False,
                                  help="learn the library's own genres from the items whose genres their owner set; "
                                       "`beet genrekit` then uses that model")
        command.parser.add_option("-u", "--undo", action="store_true", default=False,
                                  help="put back the genres the items had before genrekit changed them")

        def run(lib, opts, args) -> None:
            from genrekit.errors import GenrekitError

            if opts.train and (opts.pretend or opts.force or opts.undo):
                raise ui.UserError("genrekit: --train learns from the items' genres and changes none; "
                                   "--pretend, --force and --undo are for setting genres")
            if opts.undo and opts.force:
                raise ui.UserError("genrekit: --undo puts back the genres genrekit replaced; --force is for setting them")
            force = self.config["force"].get(bool) if opts.force is None else opts.force
            write = ui.should_write(opts.write)
            try:
                if opts.train:
                    self.train(list(lib.items(args)), query=" ".join(args))
                    return
                if opts.undo:
                    undone = self.undo_items(list(lib.items(args)), pretend=opts.pretend, write=write)
                    failed = undone.failed
                    left = sum(n for what, n in undone.counts.items() if what.startswith("left"))
                    if left and not failed and not opts.pretend:  # some still hold genrekit's genres: as `tag --undo`
                        raise ui.UserError(f"genrekit: {left} item(s) not undone (named above: their genres changed "
                                           "since genrekit set them, or their record is not genrekit's)")
                else:
                    failed = self.tag_items(list(lib.items(args)), pretend=opts.pretend, force=force, write=write,
                                            show_progress=True).failed
            except GenrekitError as exc:  # a bad config value or model file: beets shows it as one line
                raise ui.UserError(str(exc)) from exc
            if failed:  # a script sees it; the items are named above
                raise ui.UserError(f"genrekit: {len(failed)} item(s) failed: {', '.join(failed[:3])}"
                                   f"{' ...' if len(failed) > 3 else ''}")

        command.func = run
        return [command]

    def imported(self, session, task) -> None:
        """The import stage (``auto``): the items are stored, in beets' process (a worker pool
        per import task would load the model again for each). Where beets' ``import.write`` is
        on, beets' importer writes the files of the tasks it applies metadata to; those
        imported as they are get their genres written here, once beets has put the files in
        place (``import_task_files``)."""
        from beets.importer import Action

        write = ui.should_write() and not (task.apply or task.choice_flag == Action.RETAG)
        outcome = self.tag_items(list(task.imported_items()), pretend=False, force=self.config["force"].get(bool),
                                 write=False, in_process=True)
        if write and outcome.done:
            self._to_write[id(task)] = [item for item in task.imported_items() if str(item.filepath) in outcome.done]

    def _write_imported(self, session, task) -> None:
        """The files of an as-is import task whose genres the import stage set, written once
        beets copied or moved them into the library."""
        for item in self._to_write.pop(id(task), []):
            if self._write(item):
                item.store()

    def tag_items(self, items: list[Item], *, pretend: bool = False, force: bool = False, write: bool = False,
                  in_process: bool = False, show_progress: bool = False) -> TagOutcome:
        """Predict and set the genres of ``items``, each stored (and its file written) as its
        prediction comes: an interrupted run keeps what it did. An item whose genres this model
        set with these settings is left as it is (nothing to predict again).

        Parameters
        ----------
        items : beets items
        pretend : log what would be set, change nothing
        force : replace genres whose ``source_field`` is not genrekit (a user's, another plugin's)
        write : also write the files' genre tags (beets' ``import.write``, or ``-w``), else only
            store the items in beets' database; an item whose file's genres are not the
            database's (changed in another tagger since beets read them) is left as it is
        in_process : predict in beets' process whatever ``jobs`` says (the import stage)
        show_progress : log how many items are done, and the time left, every 30 s

        Returns
        -------
        TagOutcome
            ``done``: path -> the genres set (or that would be); ``failed``: the paths not
            predicted; ``counts``: what happened to the items, by outcome.
        """
        from genrekit.models.interface import model_file
        from genrekit.predict.files import iter_predictions

        settings = self._settings()
        source_field = settings["source_field"]
        chosen = {name: settings[name] for name in GENRE_SETTINGS}
        model = self._model()
        identity = self._identity(model)
        outcome = TagOutcome()
        todo: dict[str, list[Item]] = {}
        stamps: dict[str, tuple[int, int] | None] = {}  # each file as it was analysed
        for item in items:
            if _genre_list(item) and not _set_by_genrekit(item, source_field) and not force:
                setter = "its user, since genrekit set them" if _changed_since(item) else (
                    item.get(source_field) or "its user")
                self._log.info("{}: keeps its genres {} (set by {}; --force to replace them)", item.filepath,
                               "; ".join(_genre_list(item)), setter)
                outcome.counts["kept (owner's)"] += 1
            elif write and not force and not _genre_list(item) and (theirs := _owner_genres_in_file(item)):
                self._log.info("{}: keeps its genres {} (in its file, where beets does not read them; --force to "
                               "replace them)", item.filepath, "; ".join(theirs))
                outcome.counts["kept (owner's, in the file)"] += 1
            elif _set_by_genrekit(item, source_field) and item.get("genrekit_model") == identity and \
                    _settings_of(item) == chosen:
                if write and not pretend and not _file_holds(item):  # its write failed, or files were not written
                    if self._write(item):
                        item.store()
                        outcome.counts["set before, now written to the file"] += 1
                    else:
                        outcome.failed.append(str(item.filepath))
                else:
                    outcome.counts["set before by this model"] += 1
            elif write and not pretend and (found := _file_genres_differ(item, *_expected_in_file(item))) is not None:
                self._log.warning("{}: left as it is: its file's genres ({}) are not beets' ({}), changed since beets "
                                  "read it (`beet update` reads them)", item.filepath, "; ".join(found) or "none",
                                  "; ".join(_genre_list(item)) or "none")
                outcome.counts["left (file's genres changed since beets read it)"] += 1
            else:
                todo.setdefault(str(item.filepath), []).append(item)
                stamps.setdefault(str(item.filepath), _stamp(item))
        if outcome.counts["set before by this model"]:
            self._log.info("{} item(s) whose genres this model set with these settings: left as they are",
                           outcome.counts["set before by this model"])
        if todo:
            self._log.info("model: {}", "genrekit's own (default)" if model == "default" else model_file(model))
            predictor = self.classifier if in_process or settings["jobs"] == 1 else model_file(model)
            started = last_shown = time.monotonic()
            predictions = iter_predictions(predictor, list(todo), n_jobs=1 if in_process else settings["jobs"],
                                           min_confidence=settings["min_confidence"])
            for n_done, (path, prediction, error) in enumerate(predictions, start=1):
                for item in todo[path]:
                    if error is not None:
                        self._log.warning("{}: not predicted: {}", path, error)
                        outcome.failed.append(path)
                        continue
                    if not pretend and _stamp(item) != stamps[path]:  # its genre is the old audio's, and another
                        self._log.warning("{}: left as it is: the file changed while it was analysed (the next run "
                                          "analyses it again)", path)  # tagger's genre would be written over
                        outcome.counts["left (changed while analysed)"] += 1
                        continue
                    self._set(item, prediction, identity=identity, settings=settings, pretend=pretend, write=write,
                              outcome=outcome)
                now = time.monotonic()
                if show_progress and now - last_shown >= PROGRESS_EVERY_SECONDS and n_done < len(todo):
                    last_shown, left = now, (now - started) / n_done * (len(todo) - n_done)
                    minutes, seconds = divmod(round(left), 60)
                    self._log.info("{}/{} item(s) predicted, about {}:{:02d}:{:02d} left", n_done, len(todo),
                                   minutes // 60, minutes % 60, seconds)
        if show_progress:
            self._summary(items, outcome)
        return outcome

    def _set(self, item: Item, prediction, *, identity: str, settings: dict, pretend: bool, write: bool,
             outcome: TagOutcome) -> None:
        """Set one item's genres from its prediction: the undo record stored first, then the file."""
        from genrekit.audio.tags import provenance
        from genrekit.predict.library import tag_genres

        path = str(item.filepath)
        source_field = settings["source_field"]
        genres = tag_genres({"genre": prediction.genre, "probabilities": prediction.probabilities,
                             "styles": prediction.styles, "error": None},
                            count=settings["count"], min_confidence=settings["min_confidence"],
                            styles=settings["styles"])
        if not genres:
            self._log.info("{}: genre unknown ({}); left as it is", path, prediction.unknown_reason)
            outcome.counts["unknown (left)"] += 1
            return
        old = "; ".join(_genre_list(item)) or "(none)"
        self._log.info("{}: genres {} -> {}{}", path, old, "; ".join(genres), " (pretend)" if pretend else "")
        outcome.done[path] = genres
        outcome.counts["would be set" if pretend else "set"] += 1
        if pretend:
            return
        # the values to put back: those before genrekit's first change, unless the owner
        # changed the genres since (then theirs, now replaced)
        changed = _changed_since(item)
        record = None if changed else _undo_record(item)
        if record is None:  # genres edited since genrekit set them are the owner's, without its marks
            source = item.get(source_field) or None
            record = {"genres": _genre_list(item), "source": None if changed and source == SOURCE else source,
                      "provenance": {field: None if changed else item.get(field) for field in PROVENANCE_FIELDS}}
        chosen = {name: settings[name] for name in GENRE_SETTINGS}
        item[UNDO_FIELD] = json.dumps({**record, "set": genres, "settings": chosen}, ensure_ascii=False)
        _set_genres(item, genres)
        item[source_field] = SOURCE
        confidence = round(float(prediction.confidence), 3)
        written = provenance(identity, confidence) | {"GENRES": "; ".join(genres)}
        for field, name in PROVENANCE_FIELDS.items():  # the confidence a number in beets, 3 decimals in files
            item[field] = confidence if name == "CONFIDENCE" else written[name]
        item.store()  # the undo record is in beets' database before the file changes
        if write:
            if self._write(item):
                item.store()  # the file's new mtime, as beets' own try_sync keeps it
            else:
                outcome.failed.append(path)

    def _write(self, item: Item) -> bool:
        """Write ``item``'s genres and genrekit's fields (none: removed) into its file, and
        nothing else, as ``genrekit tag --write-tags`` does (:func:`genrekit.audio.tags.write_fields`):
        an ID3 tag keeps its version (a new one gets beets' ``id3v23`` choice) and every other
        frame, whatever beets' database holds. Before genrekit's first write to the file, those
        fields as the file holds them go into the item's undo record, stored first, for the undo
        to put back exactly (:meth:`_put_back`). Made on a copy beside the song that replaces it
        once complete (owner, mode and links kept). A read-only or hard-linked file, or one
        another program changes meanwhile, is left as it is, with a warning; returns whether
        the file holds the fields."""
        def fields(now, values: dict) -> tuple[dict, dict]:
            self._keep_file_fields(item, now)
            version = None
            if now.family == "ID3" and now.version is None:  # a new ID3v2 tag: in the version beets writes
                version = 3 if beets_config["id3v23"].get(bool) else 4
            return _tag_values(now, values, version or now.version), {"version": version}

        return self._write_file_fields(item, fields, then="beets' database has the change")

    def _put_back(self, item: Item, record: dict) -> bool:
        """Write the fields genrekit wrote into ``item``'s file back as they were before its first
        write (``record``'s ``file``): those that were absent removed, and a tag block genrekit
        added too. Where the record does not know them (an older genrekit's record), the item's
        genres and provenance as now put back in it, those it lacks removed. Returns whether
        the file holds them."""
        def fields(now, values: dict) -> tuple[dict, dict]:
            kept = record["file"]
            if kept is not None and set(now.fields) <= set(kept["fields"]):  # (gnre atoms: gone since, or never there)
                return kept["fields"], {"remove_empty": not kept["has_tags"]}
            return _tag_values(now, values, now.version), {}

        # (the undo's caller loads the item again: its database values and record stay for another try)
        return self._write_file_fields(item, fields, then="the item is left as it was, its undo record kept")

    def _write_file_fields(self, item: Item, fields: Callable[[object, dict], tuple[dict, dict]], *,
                           then: str) -> bool:
        """Write into ``item``'s file the fields ``fields(now, values)`` gives (with the keyword
        arguments of :meth:`_write_fields`) from the file's fields as they are (``now``) and the
        item's genres and provenance (``values``); through MediaFile where genrekit's tag writer
        does not handle the format. Returns whether the file holds them."""
        from genrekit.audio.tags import TAGGABLE

        values = {"genres": _genre_list(item), **{field: item.get(field) for field in PROVENANCE_FIELDS}}
        if Path(os.fsdecode(item.path)).suffix.lower() not in TAGGABLE:
            return self._write_mediafile(item, values, then=then)
        now = self._read_fields(item, then=then)
        if now is None:
            return False
        written, options = fields(now, values)
        return self._write_fields(item, now, written, then=then, **options)

    def _read_fields(self, item: Item, *, then: str):
        """The genre field and genrekit's fields of ``item``'s file
        (:func:`genrekit.audio.tags.read_genre_field`); None, with a warning, where they cannot be read."""
        from genrekit.audio.tags import read_genre_field

        try:
            return read_genre_field(os.fsdecode(item.path))
        except Exception as exc:  # mutagen raises many types
            self._log.warning("{}: file not written ({}); {}", item.filepath, _why(exc, os.fsdecode(item.path)), then)
            return None

    def _keep_file_fields(self, item: Item, now) -> None:
        """Keep the fields genrekit writes, as the file holds them now (``now``), in the item's
        undo record (stored) where it has none yet and the file holds the genres and model the
        record keeps: genrekit has not written it since the record was made."""
        from genrekit.audio.tags import provenance_key

        try:
            record = _undo_record(item)
        except ValueError:
            return
        if record is None or record["file"] is not None:
            return
        model = (now.own.get(provenance_key(now.family, "MODEL")) or [None])[0]
        if not _same_genres(now.genres, record["genres"]) or model != (record["provenance"].get("genrekit_model")
                                                                         or None):
            return  # genrekit's earlier write (a record an older genrekit made), or another tagger's: not known
        record["file"] = {"fields": now.fields, "has_tags": now.has_tags}
        item[UNDO_FIELD] = json.dumps(record, ensure_ascii=False)
        item.store()  # in beets' database before the file changes

    def _write_fields(self, item: Item, now, values: dict, *, then: str, remove_empty: bool = False,
                      version: int | None = None) -> bool:
        """Set the fields of ``item``'s file to ``values`` where they are not so already
        (``now``: the file's, as read; changed since: left as it is, with a warning)."""
        from genrekit.audio.tags import write_fields

        path = os.fsdecode(item.path)
        found = {key: now.fields.get(key) for key in values}
        if found == values and not (remove_empty and now.has_tags):
            return True
        try:
            write_fields(path, values, expect=found, id3v2_version=version, remove_empty=remove_empty)
        except Exception as exc:  # mutagen raises many types; beets goes on with the next item
            self._log.warning("{}: file not written ({}); {}", item.filepath, _why(exc, path), then)
            return False
        item.mtime = item.current_mtime()
        return True

    def _write_mediafile(self, item: Item, values: dict, *, then: str) -> bool:
        """A format genrekit's tag writer does not know (beets' others, e.g. WMA): ``values``
        (beets field -> value) written through beets' MediaFile, an empty one removed, on a
        copy that replaces the file (:func:`genrekit.audio.tags.replace_safely`)."""
        from mediafile import MediaFile, UnreadableFileError

        from genrekit.audio.tags import replace_safely
        from genrekit.errors import GenrekitError

        def edit(copy: str) -> None:
            song = MediaFile(copy, id3v23=beets_config["id3v23"].get(bool))
            for name, value in values.items():
                if value is None or value in ("", []):
                    delattr(song, name)
                else:
                    setattr(song, name, value)
            song.save()

        try:
            replace_safely(os.fsdecode(item.path), edit, keep_extension=True)
        except (UnreadableFileError, GenrekitError, OSError) as exc:
            self._log.warning("{}: file not written ({}); {}", item.filepath, exc, then)
            return False
        item.mtime = item.current_mtime()
        return True

    def undo_items(self, items: list[Item], *, pretend: bool = False, write: bool = False) -> TagOutcome:
        """Put back the genres (and their source) that ``items`` had before genrekit first
        changed them, and remove genrekit's fields; an item whose genres are no longer the ones
        genrekit set is left as it is, with a warning that names it. Without ``write``, an item
        whose file holds the genres genrekit wrote is left too (its record would be gone with
        the file unchanged): undo it with ``-w``.

        Returns
        -------
        TagOutcome
            ``done``: path -> the genres put back (or that would be); ``failed``: the paths
            left with their record.
        """
        source_field = self._settings()["source_field"]
        outcome = TagOutcome()
        for item in items:
            try:
                record = _undo_record(item)
            except ValueError as exc:
                self._log.warning("{}: not undone: {}", item.filepath, exc)
                outcome.counts[f"left (no genrekit record in {UNDO_FIELD})"] += 1
                continue
            if record is None:
                continue
            old, source, set_ = record["genres"], record["source"], record["set"]
            if _genre_list(item) != set_:
                self._log.warning("{}: not undone: its genres were changed since genrekit set them ({} -> {})",
                                  item.filepath, "; ".join(set_) or "(none)", "; ".join(_genre_list(item)) or "(none)")
                outcome.counts["left (changed since genrekit set them)"] += 1
                continue
            if not write and _file_has_genrekit(item):
                self._log.warning("{}: not undone: its file holds the genres genrekit wrote (or cannot be read now), "
                                  "and files are not written (beets' import.write is off, or -W): undo with -w to put "
                                  "the file back too",
                                  item.filepath)
                outcome.failed.append(str(item.filepath))
                continue
            if write and not pretend and (found := _file_genres_differ(item, set_, old)) is not None:
                self._log.warning("{}: not undone: its file's genres ({}) are not those genrekit set ({}), changed "
                                  "since", item.filepath, "; ".join(found) or "none", "; ".join(set_) or "none")
                outcome.counts["left (file's genres changed since genrekit set them)"] += 1
                continue
            self._log.info("{}: genres {} -> {}{}", item.filepath, "; ".join(set_) or "(none)",
                           "; ".join(old) or "(none)", " (pretend)" if pretend else "")
            if pretend:
                outcome.done[str(item.filepath)] = old
                outcome.counts["would be put back"] += 1
                continue
            _set_genres(item, old)
            before = {field: record["provenance"].get(field) for field in PROVENANCE_FIELDS}
            for field in (UNDO_FIELD, *[f for f, value in before.items() if value is None],
                          *([] if source else [source_field])):
                if field in item:
                    del item[field]
            for field, value in before.items():
                if value is not None:  # provenance the item had before (genres genrekit set earlier)
                    item[field] = value
            if source:
                item[source_field] = source
            # the file first: its undo record stays in the database until the file is put back
            if write and not self._put_back(item, record):
                item.load()  # the database's values, the undo record with them, for another try
                outcome.failed.append(str(item.filepath))
                continue
            outcome.done[str(item.filepath)] = old
            outcome.counts["put back"] += 1
            item.store()  # the file's new mtime kept, as beets' own try_sync does
        self._summary(items, outcome)
        return outcome

    def _summary(self, items: list[Item], outcome: TagOutcome) -> None:
        """One line: what happened to how many items."""
        if items:
            parts = [f"{n} {what}" for what, n in outcome.counts.items() if n]
            self._log.info("{} item(s): {}{}", len(items), ", ".join(parts) or "nothing to do",
                           f", {len(outcome.failed)} failed" if outcome.failed else "")

    def train(self, items: list[Item], *, query: str = "") -> Path:
        """Learn the library's own genres from ``items`` and keep the model in
        :func:`trained_model_dir`.

        The items whose genres their owner set (``source_field`` is not genrekit) are the
        training songs, with ``artist`` (else ``albumartist``) as their artist; the items
        without genres are listed as untagged. The run folder is written beside the old one
        and swapped in only once complete, so a failed run leaves the old model as it was.

        Returns
        -------
        Path
            The run folder (:func:`trained_model_dir`).

        Raises
        ------
        GenrekitError
            A bad setting or genre map, no genre with two items, or training failed.
        """
        from genrekit.datasets import OwnedSong, genre_dataset, read_genre_map
        from genrekit.errors import DatasetError
        from genrekit.features import FeatureCache, default_cache_dir
        from genrekit.train import train

        settings = self._settings()
        songs = [OwnedSong(str(item.filepath), tuple(_genre_list(item)), item.get("artist") or
                           item.get("albumartist") or None, _set_by_genrekit(item, settings["source_field"]))
                 for item in items]
        if not songs:
            raise DatasetError(f"genrekit --train: no item matches {query!r}" if query else
                               "genrekit --train: the library has no items")
        try:  # track ids are paths relative to the items' common folder
            root = os.path.commonpath([os.path.dirname(song.path) for song in songs])
        except ValueError:  # on two drives
            root = Path(songs[0].path).anchor
        genre_map = read_genre_map(settings["map"]) if settings["map"] else None
        dataset = genre_dataset(songs, root=root, name=f"beets library{f' ({query})' if query else ''}",
                                genre_map=genre_map, min_per_genre=settings["min_per_genre"],
                                multi=settings["multi_genre"])
        taxonomy = dataset.taxonomy
        ui.print_(f"learning from {len(dataset.tracks)} item(s) tagged by their owner; "
                  f"{len(taxonomy.untagged)} without genres (what `beet genrekit` fills in), "
                  f"{len(taxonomy.by_genrekit)} tagged by genrekit (not learned from)")
        for genre, count in sorted(taxonomy.counts.items(), key=lambda entry: (-entry[1], entry[0])):
            spellings = ", ".join(f"{name} ({n})" for name, n in taxonomy.spellings.get(genre, {}).items())
            ui.print_(f"  {genre}: {count} item(s), spelled {spellings}")
        for genre, count in taxonomy.left_out.items():
            ui.print_(f"  left out: {genre} ({count} item(s), fewer than min_per_genre={settings['min_per_genre']})")
        for group in taxonomy.near_duplicates:
            ui.print_(f"  look like one genre (merge them with a map): {' / '.join(group)}")

        final = trained_model_dir()
        final.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=".model-new-", dir=final.parent))
        try:
            result = train(dataset, split="all", out_dir=staging, cache=FeatureCache(default_cache_dir()),
                           n_jobs=settings["jobs"], progress=False)
            _swap_in(staging, final)
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
        for path, reason in result.failures.items():
            self._log.warning("{}: not learned from: {}", path, reason)
        if result.cv:
            scores = result.cv
            ui.print_(f"{scores['protocol']}: accuracy {scores['accuracy_mean']:.3f} ± {scores['accuracy_std']:.3f}, "
                      f"balanced {scores['balanced_accuracy_mean']:.3f}")
            ui.print_("what it learned, per genre (out-of-fold): genre, items, recall, precision")
            cell = lambda v: "-" if v is None else f"{v:.2f}"  # noqa: E731
            for genre, row in (scores.get("per_genre") or {}).items():
                ui.print_(f"  {genre}: {row['n']}, {cell(row['recall'])}, {cell(row['precision'])}")
        else:
            ui.print_("not scored: cross-validation needs at least two items of every genre")
        disputed = result.disagreements or []
        if disputed:
            ui.print_(f"{len(disputed)} item(s) whose genre the cross-validated model confidently disputes "
                      f"(often a mis-tag; all in {final / 'disagreements.csv'}):")
            for item in disputed[:10]:
                ui.print_(f"  - {item.path}: tagged {'; '.join(item.owner_genres)}, model says {item.model_genre} "
                          f"({item.confidence:.2f})")
        ui.print_(f"model -> {final}; `beet genrekit` uses it where the model setting is {AUTO!r}")
        if self.config["model"].as_str() != AUTO:
            self._log.warning("the model setting is {!r}: `beet genrekit` uses that, not the trained model, "
                              "until it is set to {!r}", self.config["model"].as_str(), AUTO)
        self._classifier = None  # a later tag_items in this process loads the new model
        return final


def _swap_in(staging: Path, final: Path) -> None:
    """Put the complete run folder ``staging`` at ``final``, replacing an older one: the old one
    is moved aside first (the new one is never half written at ``final``), put back if the
    move fails, and deleted after."""
    old = None
    if final.exists():
        old = Path(tempfile.mkdtemp(prefix=".model-old-", dir=final.parent))
        os.rmdir(old)
        os.replace(final, old)
    try:
        os.replace(staging, final)
    except OSError:
        if old is not None:
            os.replace(old, final)
        raise
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)
