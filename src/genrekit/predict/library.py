"""Tagging a music library: every audio file below a folder, in parallel, resumable.

Results go to a JSON-lines journal as each file finishes (one line per file, flushed and
fsynced), so a run killed at any moment loses at most the line being written; a re-run
skips every file already in the journal (same model and analysis options; same resolved path,
size and modification time, or same content with ``use_hash``) and the final table (CSV, JSON lines or Parquet) is rewritten
atomically from the journal, each row found by that key, so any spelling of the library's
path gives the same rows. Links are followed; dangling ones and loops get a row with the reason.
"""

from __future__ import annotations

import errno
import json
import logging
import os
import stat as stat_module
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import MISSING, asdict, dataclass, field, fields
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING

from genrekit._files import (atomic_path, exclusive_lock, from_spreadsheet_cell, long_csv_cells, not_regular_file,
                             path_given, spreadsheet_cell, utf8_shown)
from genrekit._renamed import renamed_keywords
from genrekit.audio import AUDIO_EXTENSIONS, content_hash, decoder_revision, is_audio_path, remote
from genrekit.audio.chunking import SKIP_SECONDS
from genrekit.audio.tags import SEPARATOR, dry_run_refusal, is_placeholder, squashed_genre
from genrekit.errors import DatasetError, GenrekitError, ParameterError, TagError, check_flags, check_whole_number
from genrekit.models.interface import model_file, model_id, seen_in_training
from genrekit.predict.disagreements import (DISAGREEMENT_CONFIDENCE, Disagreement, find_disagreements, genre_matcher,
                                            write_disagreements)
from genrekit.predict.song import (ANALYSIS_REVISION, NOT_MUSIC, SILENT, UNKNOWN, check_min_confidence, decide,
                                   unknown_reason)
from genrekit.untrusted import describe_value

if TYPE_CHECKING:
    from genrekit.audio.tags import TagChange

logger = logging.getLogger(__name__)

TABLE_FORMATS = (".csv", ".jsonl", ".parquet")
# a CSV table's columns of text from outside genrekit (file names, errors naming them, a model's labels,
# its file's name, its style names)
_OUTSIDE_TEXT = ("path", "key", "genre", "error", "tag_error", "model", "styles")
# tag decisions that leave a file untagged against the request: they fail the run (``LibrarySummary.tag_failures``)
_NOT_DONE = ("failed", "would fail", "changed")


@dataclass
class TagRecord:
    """One file of the library: its genres, or the error that stopped it."""

    path: str
    size: int
    mtime_ns: int
    key: str
    duration: float | None = None
    genre: str | None = None
    confidence: float | None = None
    probabilities: dict[str, float] = field(default_factory=dict)
    proportions: dict[str, float] = field(default_factory=dict)
    styles: dict[str, float] | None = None  # the styles present -> probability; None: the model gives none
    music: float | None = None  # the probability that the file is music; None: the model has no detector
    unknown_reason: str | None = None  # where the genre is unknown: "not music", "silent" or "below min confidence"
    n_chunks: int = 0
    model: str = ""
    error: str | None = None
    tag_written: bool = False
    tag_error: str | None = None  # why no tag was written (an error, or the file kept its genre)
    tag_action: str | None = None  # written, would write, kept, unchanged, unknown, failed (tags.TagChange), undone
    tag_old: list[str] | None = None  # the genre field before (None: absent), exactly as read
    tag_new: list[str] | None = None  # the genre field after (or as a dry run would leave it)
    tag: dict | None = None  # the journal's record of a write: fields old/new, size and mtime before and after
    own_genres: list[str] | None = None  # the genres its owner tagged it with (None: none, or genrekit's own)
    own_as_model: list[str] | None = None  # the model's genres those mean (empty: none it knows)
    seen_in_training: bool | None = None  # the model was trained on this file; None: not checked (see tag)


@dataclass
class LibrarySummary:
    """What a :func:`tag_library` run did.

    The counts, genres and failures are the whole table's, rows of earlier runs included, so a
    resumed run says what the library holds, not only what it added; ``n_done_before`` and
    ``tag_actions`` are this run's.

    Attributes
    ----------
    results : Path
        The table written (``.csv``, ``.jsonl`` or ``.parquet``).
    n_files : int
        Rows of the table: every audio file listed below the library, and every link or folder
        that could not be followed or read.
    n_done_before : int
        Listed files an earlier run had journalled (a failure included), so not predicted again.
    n_tagged : int
        Rows with a prediction, ``unknown`` genres included; not the tags written (see
        ``tag_actions``).
    n_failed : int
        Rows with an error.
    genres : dict[str, int]
        Genre -> rows with a prediction of that genre, ``"unknown"`` included.
    failures : dict[str, str]
        Path -> reason, for every row with an error.
    seconds : float
        How long the run took, in seconds.
    tag_actions : dict[str, int]
        This run's tag decisions, counted by ``tag_action`` (``written``, ``would write``,
        ``kept``, ``unchanged``, ``unknown``, ``failed``); empty without ``write_tags``.
    disagreements : list of Disagreement
        Files whose owner's genre the model confidently disagrees with, the most confident first.
    disagreements_path : Path or None
        Where ``disagreements`` are written as CSV: ``<results>.disagreements.csv``.
    unknown : list of str
        Files without a genre of their own whose answer is ``unknown``.
    n_written_before : int
        With ``write_tags``: files whose tags an earlier run wrote with other options, which
        this run leaves as they are (:func:`undo_tags` first to tag them anew).
    n_kept_before : int
        With ``write_tags``: files an earlier run (a dry run too) found with a genre and kept,
        which ``existing="keep"`` keeps again without deciding anew (not in ``tag_actions``).
    tag_failures : dict[str, str]
        This run's tag writes that failed or were refused (``tag_action`` ``failed``, and
        ``changed``: a file changed between its analysis and its write, which genrekit does not
        overwrite); in a dry run those it would refuse (``would fail``) and those it could not
        plan, so a preview fails as the write would. Not for a format genrekit does not tag:
        path -> reason. The file was predicted (its row has no ``error``) and left as it was.
    n_moved : int
        Files whose tags genrekit wrote that this run found moved or renamed (by content with
        ``use_hash``, else by size, mtime and the fields genrekit wrote, their old path gone):
        their journal follows them, so :func:`undo_tags` puts their tags back where they are.
    partial : bool
        Whether any row failed, or any of this run's tag writes.
    """

    results: Path
    n_files: int
    n_done_before: int
    n_tagged: int
    n_failed: int
    genres: dict[str, int]
    failures: dict[str, str]
    seconds: float
    tag_actions: dict[str, int] = field(default_factory=dict)  # this run's tag decisions, counted
    disagreements: list[Disagreement] = field(default_factory=list)  # see disagreements_path
    disagreements_path: Path | None = None
    unknown: list[str] = field(default_factory=list)  # files without a genre of their own whose answer is unknown
    n_written_before: int = 0  # with write_tags: files an earlier run wrote with other options, left as they are
    tag_failures: dict[str, str] = field(default_factory=dict)  # this run's failed tag writes: path -> reason
    n_moved: int = 0  # files genrekit wrote found at a new path, their journal records following them
    n_kept_before: int = 0  # with write_tags: files an earlier run kept with their genre, kept again

    @property
    def partial(self) -> bool:
        return bool(self.failures or self.tag_failures)

    def frame(self):
        """The results table as a DataFrame, one row per file (a file name that is not UTF-8
        with its odd bytes as ``\\xe9`` escapes, as in Parquet)."""
        import pandas as pd

        if self.results.suffix == ".parquet":
            return pd.read_parquet(self.results)
        if self.results.suffix == ".jsonl":
            return pd.read_json(self.results, lines=True)
        frame = pd.read_csv(self.results, encoding_errors="backslashreplace")
        text = [c for c in ("path", "genre") if c in frame.columns]  # a genre "NA" is not a missing value
        frame[text] = pd.read_csv(self.results, usecols=text, dtype=str, keep_default_na=False,
                                  encoding_errors="backslashreplace")[text]
        for column in (c for c in _OUTSIDE_TEXT if c in frame.columns and frame[c].dtype == object):
            frame[column] = frame[column].map(from_spreadsheet_cell)
        return frame


def library_files(root: str | os.PathLike) -> list[Path] | list[str]:
    """Every audio file below ``root`` (any format the audio layer reads), hidden ones left
    out: paths, or URLs for a URL (``s3://bucket/music``, :mod:`genrekit.audio.remote`).
    Links are followed; broken ones are left out (:func:`tag_library` records them;
    :func:`library_listing` gives them)."""
    return library_listing(root)[0]


def library_listing(root: str | os.PathLike) -> tuple[list[Path] | list[str], dict[Path, str]]:
    """:func:`library_files`, and what the walk below ``root`` left out that looked like a song
    or a folder of songs: dangling and looping links, pipes and devices with a song's name,
    folders that cannot be read; each with the reason, as ``tag`` reports them."""
    files, skipped = _listing(root)
    return list(files), skipped


def _listing(root: str | os.PathLike) -> tuple[dict[Path, None] | dict[str, remote.RemoteFile], dict[Path, str]]:
    """:func:`library_files`, each with its size and mtime where the listing gave them (URLs);
    and the links that were not followed, each with the reason."""
    if remote.is_url(root):
        return {f.url: f for f in remote.list_files(root) if is_audio_path(f.url)
                and not any(part.startswith(".") for part in PurePosixPath(f.relative).parts)}, {}
    # Absolute and normalised, not resolved: "lib", "./lib/" and "/abs/lib" list the same paths,
    # and a library reached through a link keeps the paths its user knows it by.
    root = Path(os.path.abspath(root))
    if not root.is_dir():
        raise ParameterError(f"{root}: expected a music library folder, found "
                             f"{'a file (genrekit predict names the genres of songs)' if root.exists() else 'nothing'}")
    found, skipped = [], {}
    _walk(root, {_identity(os.stat(root)): root}, found, skipped)
    # a file reached by a link and by its own name (or by two links) is one song, listed once: a
    # second name would be tagged again, its write finding the file changed by the first
    named = {identity for _, identity, linked in found if not linked}
    files, linked_to = [], set()
    for path, identity, linked in sorted(found):
        if not linked:
            files.append(path)  # hard links are several names of their own: each listed (and refused for writing)
        elif identity not in named and identity not in linked_to:
            linked_to.add(identity)
            files.append(path)
    return dict.fromkeys(sorted(files)), dict(sorted(skipped.items()))


def _identity(stat: os.stat_result) -> tuple[int, int]:
    return stat.st_dev, stat.st_ino


def _may_be_song(name: str) -> bool:
    """An audio file's name, or no extension (a folder's, most likely)."""
    return is_audio_path(name) or not PurePosixPath(name).suffix


def _walk(folder: Path, ancestors: dict[tuple[int, int], Path], files: list[tuple[Path, tuple[int, int], bool]],
          skipped: dict[Path, str], visited: set[tuple[int, int]] | None = None) -> None:
    """Audio files below ``folder`` into ``files`` (see :func:`_add_song`); links followed, and
    the ones that cannot be (dangling, looping, leading back to a folder above) into ``skipped``
    with the reason, where their name or their target's is an audio file's or a folder's: a
    broken ``cover.jpg`` is no song. A folder reached a second time (through another link) is
    not walked again."""
    visited = set() if visited is None else visited
    try:
        identity = _identity(folder.stat())
        entries = sorted(os.scandir(folder), key=lambda e: e.name)
    except OSError as exc:
        skipped[folder] = f"{folder}: folder cannot be read ({exc.strerror})"
        return
    if identity in visited:
        return
    visited.add(identity)
    for entry in entries:
        if entry.name.startswith("."):
            continue
        path = folder / entry.name
        try:
            if not entry.is_symlink():
                if entry.is_dir(follow_symlinks=False):
                    own = _identity(entry.stat(follow_symlinks=False))
                    _walk(path, ancestors | {own: path}, files, skipped, visited)
                elif is_audio_path(path):
                    _add_song(path, entry.stat(follow_symlinks=False), files, skipped, linked=False)
                continue
            target = os.readlink(path)
        except OSError as exc:  # changed or removed while the walk went past it
            skipped[path] = f"{path}: cannot be read ({exc.strerror})"
            continue
        try:
            stat = os.stat(path)
        except OSError as exc:
            if _may_be_song(entry.name) or _may_be_song(target):
                if exc.errno == errno.ELOOP:
                    skipped[path] = f"{path}: symbolic link loop (to {target}, which never reaches a file)"
                elif exc.errno in (errno.ENOENT, errno.ENOTDIR):
                    skipped[path] = f"{path}: dangling symbolic link to {target} (no such file or folder)"
                else:
                    skipped[path] = f"{path}: symbolic link to {target} cannot be followed ({exc.strerror})"
            continue
        if stat_module.S_ISDIR(stat.st_mode):
            if _identity(stat) in ancestors:
                skipped[path] = (f"{path}: symbolic link loop: leads back to {ancestors[_identity(stat)]}, "
                                 "a folder it is in")
            else:
                _walk(path, ancestors | {_identity(stat): path}, files, skipped, visited)
        elif is_audio_path(path):
            _add_song(path, stat, files, skipped, linked=True)


def _add_song(path: Path, status: os.stat_result, files: list[tuple[Path, tuple[int, int], bool]],
              skipped: dict[Path, str], *, linked: bool) -> None:
    """A file with a song's name joins ``files`` (its path, device and inode, and whether the
    path is a link); a pipe or device with one is named in ``skipped``."""
    if kind := not_regular_file(status.st_mode):
        skipped[path] = f"{path}: not a regular file ({kind}), left out"
    elif stat_module.S_ISREG(status.st_mode):
        files.append((path, _identity(status), linked))


def _key(path: Path | str, use_hash: bool, model_id: str,
         listed: remote.RemoteFile | None = None) -> tuple[str, int, int]:
    """What identifies a finished file: the model, and the file's content or its path (URL), size and mtime
    (a URL's from its listing when given, not asked for again)."""
    if remote.is_url(path):
        stat = listed or remote.stat(path)
        file_key = f"sha256:{content_hash(path)}" if use_hash else f"{path}|{stat.size}|{stat.mtime_ns}"
        return f"{model_id}|{file_key}", stat.size, stat.mtime_ns
    stat = path.stat()
    file_key = f"sha256:{content_hash(path)}" if use_hash else f"{path.resolve()}|{stat.st_size}|{stat.st_mtime_ns}"
    # how it decodes, where that changed (an MP3 without a declared length, once PyAV is installed): its
    # prediction from the earlier decode is not the file's (other files' keys are as they were)
    revision = decoder_revision(path)
    return f"{model_id}|{file_key}" + (f"|{revision}" if revision else ""), stat.st_size, stat.st_mtime_ns


_OPTION_TOKENS = ("|skip=", "|segment=", "|no-music-check", "|analysis=")


def _options_key(skip: float, segment_seconds: float | None, music_check: bool = True) -> str:
    """The analysis options that change a prediction, for the journal key: the music check too,
    since segments heard as not music leave a song's probabilities; and the analysis's revision,
    so files predicted before a change to it are predicted again."""
    return (f"|skip={skip:g}" if skip != SKIP_SECONDS else "") + (
        f"|segment={segment_seconds:g}" if segment_seconds is not None else "") + (
        "" if music_check else "|no-music-check") + f"|analysis={ANALYSIS_REVISION}"


def _stat_or_none(value) -> bool:
    return value is None or (isinstance(value, dict) and _whole_number(value.get("size"))
                             and _whole_number(value.get("mtime_ns")))


def _whole_number(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _path_text(value) -> bool:
    return isinstance(value, str) and "\x00" not in value  # no file system takes a NUL


def _texts_or_none(value) -> bool:
    return value is None or (isinstance(value, list) and all(isinstance(v, str) for v in value))


def _number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _scores_or_none(value) -> bool:
    return value is None or (isinstance(value, dict) and all(isinstance(k, str) and _number(v)
                                                             for k, v in value.items()))


# What a journal record's prediction holds, by type, where present (older records lack some)
_PREDICTION_TYPES = {"model": lambda v: isinstance(v, str), "genre": lambda v: v is None or isinstance(v, str),
                     "confidence": lambda v: v is None or _number(v),
                     "probabilities": lambda v: isinstance(v, dict) and _scores_or_none(v),
                     "styles": _scores_or_none, "own_genres": _texts_or_none, "own_as_model": _texts_or_none,
                     "tag_action": lambda v: v is None or isinstance(v, str)}


def tag_line(record: dict) -> bool:
    """Whether a tag journal's line is a whole record: what resuming and undoing read of it,
    each of its type (a line edited by hand to hold a list where a text goes, a NUL in a path or
    a tag that is no text is damaged: kept aside, never acted on)."""
    if not (_path_text(record.get("path")) and isinstance(record.get("key"), str) and "error" in record):
        return False
    if not all(check(record[name]) for name, check in _PREDICTION_TYPES.items() if name in record):
        return False
    tag = record.get("tag")
    if tag is None:
        return True
    if not isinstance(tag, dict) or not isinstance(tag.get("state"), str):
        return False
    if tag["state"] == "moved":
        return _path_text(tag.get("from"))
    if tag["state"] not in ("writing", "written", "failed"):
        return True
    fields, version = tag.get("fields"), tag.get("id3_version")
    return (isinstance(fields, dict) and all(isinstance(v, dict) and {"old", "new"} <= v.keys() for v in fields.values())
            and isinstance(tag.get("format"), str) and isinstance(tag.get("has_tags"), bool)
            and isinstance(tag.get("before"), dict) and _stat_or_none(tag["before"]) and _stat_or_none(tag.get("after"))
            and (version is None or (isinstance(version, dict) and all(
                _whole_number(version.get(side)) for side in ("old", "new"))))
            and all(tag.get(name) is None or isinstance(tag[name], str) for name in ("id3_tag", "id3_sha256")))


def undo_line(record: dict) -> bool:
    """Whether an undo's progress line is a whole record."""
    return (isinstance(record.get("path"), str) and isinstance(record.get("write"), dict)
            and isinstance(record.get("state"), str) and isinstance(record.get("written_at", ""), str))


def read_journal(path: str | os.PathLike, whole: Callable[[dict], bool] = tag_line) -> list[dict]:
    """The records of a journal: JSON objects, one per line, each ``whole`` (:func:`tag_line`,
    :func:`undo_line`).

    A torn last line (a killed run: no newline) is left out. Any line that is not a whole record
    (damage: bytes that are not UTF-8 or not JSON, a record missing what is read of it) is left
    out too, with a warning, and copied to ``<journal>.damaged`` first (a torn line as well): the
    journal is rewritten without it, and a line may hold the only record of a write's old values.

    Raises
    ------
    ParameterError
        The journal exists but cannot be read, or a damaged line cannot be kept.
    """
    path = Path(path)
    try:
        lines = path.read_bytes().splitlines(keepends=True)
    except FileNotFoundError:
        return []
    except OSError as exc:
        raise ParameterError(f"{path}: cannot read the journal ({exc.strerror or exc})") from exc
    records, damaged = [], []
    for number, line in enumerate(lines, start=1):
        try:
            record = json.loads(line)
        except (ValueError, RecursionError):  # not JSON, not UTF-8, or nested past what Python's parser takes
            record = None
        if isinstance(record, dict) and whole(record):
            records.append(record)
        elif number == len(lines) and not line.endswith(b"\n"):
            logger.warning("%s: an incomplete last line (an interrupted run) left out", path)
            damaged.append(line + b"\n")
        elif line.strip():
            logger.warning("%s: damaged line %d left out (not a whole record)", path, number)
            damaged.append(line)
    if damaged:
        kept = path.with_name(path.name + ".damaged")
        try:
            try:
                known = set(kept.read_bytes().splitlines(keepends=True))
            except FileNotFoundError:
                known = set()
            with open(kept, "ab") as handle:  # appended: what an earlier read kept stays, once
                handle.writelines(line for line in dict.fromkeys(damaged) if line not in known)
                handle.flush()
                os.fsync(handle.fileno())
        except OSError as exc:
            raise ParameterError(f"{kept}: cannot keep the journal's damaged lines ({exc.strerror or exc}); "
                                 f"nothing was changed") from exc
        logger.warning("%s: the lines left out are kept in %s", path, kept)
    return records


def reopen_journal(path: str | os.PathLike, whole: Callable[[dict], bool] = tag_line) -> list[dict]:
    """:func:`read_journal`'s records, the journal rewritten with them alone (atomically), so
    a line appended next starts on a line of its own, never after a torn one."""
    path = Path(path)
    records = read_journal(path, whole)
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path, durable=True) as temporary:
        temporary.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    return records


def make_tagger(model_path: str, segment_seconds: float | None, skip: float, music_check: bool = True):
    """A runner's worker (see :mod:`genrekit.runners`): the model loaded once; then a
    ``[path, key, size, mtime_ns, model id]`` item -> its :class:`TagRecord` as a dict."""
    from genrekit.models import load
    from genrekit.predict.files import make_song_predictor

    model = load(model_path, segment_seconds=segment_seconds, threads=1)
    predict = make_song_predictor(model, segment_seconds, skip, None, music_check=music_check)
    match = genre_matcher(model.labels, model.genre_spellings)

    def tag(item: list) -> dict:
        path, key, size, mtime_ns, model_name = item
        record = TagRecord(path=path, size=size, mtime_ns=mtime_ns, key=key, model=model_name)
        record.own_genres = _own_genres(path)
        if record.own_genres is not None:
            record.own_as_model = list(dict.fromkeys(m for m in map(match, record.own_genres) if m))
        outcome = predict(path)
        if "error" in outcome:
            record.error = outcome["error"]
        else:
            p = outcome["prediction"]
            record.duration, record.genre, record.confidence = p["duration"], p["genre"], p["confidence"]
            record.probabilities, record.proportions, record.n_chunks = p["probabilities"], p["proportions"], p["n_chunks"]
            record.styles, record.music = p.get("styles"), p.get("music")
            top = max(record.probabilities, key=record.probabilities.get) if record.probabilities else None
            if record.own_as_model and top not in record.own_as_model and model.trained_on:
                # a possible disagreement: say whether the model learned this file's tag (a read of
                # the whole file, so only here; unreadable since it was predicted: not known to be seen)
                record.seen_in_training = seen_in_training(path, model)
        return asdict(record)

    return tag


def _crashed_tag(item: list, reason: str) -> dict:
    """The record of a ``make_tagger`` item whose analysis ended its worker process."""
    path, key, size, mtime_ns, model_name = item
    return asdict(TagRecord(path=path, size=size, mtime_ns=mtime_ns, key=key, model=model_name,
                            error=f"{path}: {reason}"))


def _own_genres(path: str) -> list[str] | None:
    """The genres a local file's owner tagged it with; None when it has none, its format has
    no tags genrekit reads, they cannot be read (or mutagen is not installed), or genrekit
    wrote them."""
    from genrekit.audio.tags import TAGGABLE, is_placeholder, read_song_tags

    if remote.is_url(path) or Path(path).suffix.lower() not in TAGGABLE:
        return None
    try:
        tags = read_song_tags(path)
    except GenrekitError:
        return None  # the prediction reports an unreadable file; its tags are only context
    except ImportError:
        return None  # the torch-free runtime has no mutagen: files' own tags are not read
    genres = [g for g in tags.genres if not is_placeholder(g)]
    return genres if genres and not tags.by_genrekit else None


def _decide(record: dict, min_confidence: float | None, music_check: bool = True) -> dict:
    """``record`` with its genre decided against ``min_confidence`` (from its probabilities)
    and, with ``music_check``, its music score, and why it is ``unknown`` where it is."""
    if record.get("error") is None and record.get("probabilities"):
        music = record.get("music") if music_check else None
        n_chunks = record.get("n_chunks", 1)  # 0: silent throughout, unknown whatever the options
        record["genre"] = decide(record["probabilities"], min_confidence, music, n_chunks=n_chunks)
        record["unknown_reason"] = unknown_reason(record["genre"], music, n_chunks)  # as predict's outputs say it
    return record


def styles_text(styles: dict[str, float] | None) -> str:
    """Styles as one table cell: ``"rock:0.236581;pop:0.206908"``, most probable first
    (style names hold no ``:`` or ``;``); ``""`` for none, or for a model without styles."""
    return ";".join(f"{style}:{probability:.6f}" for style, probability in (styles or {}).items())


def _complete(record: dict) -> dict:
    """``record`` with every :class:`TagRecord` field, in its order: a row journalled before a
    field existed (the ``styles`` of an older run) gets the field's default, so old and new
    rows make one table with the columns where a fresh run puts them."""
    defaults = {f.name: f.default_factory() if f.default_factory is not MISSING
                else None if f.default is MISSING else f.default for f in fields(TagRecord)}
    return defaults | record


def _utf8_row(row: dict) -> dict:
    """A row Parquet can hold: text from a file name that is not UTF-8 (kept by Python as
    surrogates) written with its odd bytes as ``\\xe9`` escapes, as Parquet's text is UTF-8 only."""
    return {k: utf8_shown(v) if isinstance(v, str) else v for k, v in row.items()}


def write_table(records: list[dict], path: str | os.PathLike) -> Path:
    """The library table, one row per file: CSV/Parquet with ``p_<genre>`` and
    ``share_<genre>`` columns and the styles as text (:func:`styles_text`), or JSON lines as
    recorded (``styles`` an object, null for a model without styles or a row of a run that
    predates them). Written atomically. CSV and JSON lines need the standard library only
    (the torch-free runtime); Parquet, pyarrow."""
    import csv

    path = Path(path)
    records = [_complete(r) for r in records]
    with atomic_path(path) as temporary:
        if path.suffix == ".jsonl":  # a version change's whole old ID3 tag stays in the journal
            lean = [r | {"tag": {k: v for k, v in r["tag"].items() if k != "id3_tag"}} if r.get("tag") else r
                    for r in records]
            temporary.write_text("".join(json.dumps(r) + "\n" for r in lean), encoding="utf-8")
        else:
            labels = sorted({g for r in records for g in r["probabilities"]})
            # the proportions' genres, and unknown (the time heard as not music) where the model has the detector
            shared = labels + sorted({g for r in records for g in r["proportions"]} - set(labels))
            # the journal's write record stays in the journal; CSV gets the genre lists as JSON
            listed = (lambda v: v if v is None else json.dumps(v)) if path.suffix == ".csv" else (lambda v: v)
            # styles as text; null (empty in CSV) where the model gives none or the row predates them
            cell = {"tag_old": listed, "tag_new": listed, "own_genres": listed, "own_as_model": listed,
                    "styles": lambda v: v if v is None else styles_text(v)}
            rows = [{k: cell[k](v) if k in cell else v for k, v in r.items()
                     if k not in ("probabilities", "proportions", "tag")}
                    | {f"p_{g}": r["probabilities"].get(g) for g in labels}
                    | {f"share_{g}": r["proportions"].get(g) for g in shared} for r in records]
            if path.suffix == ".parquet":
                try:
                    import pyarrow as pa
                    import pyarrow.parquet as pq
                except ImportError as exc:
                    raise ParameterError(f"{path}: Parquet needs pyarrow (pip install pyarrow); "
                                         "or write .csv or .jsonl") from exc
                pq.write_table(pa.Table.from_pylist([_utf8_row(row) for row in rows]), temporary)
            else:
                columns = list(dict.fromkeys(k for row in rows for k in row))
                rows = [row | {k: spreadsheet_cell(row[k]) for k in _OUTSIDE_TEXT if k in row} for row in rows]
                # a file name that is not UTF-8 is kept as its bytes, as the journal keeps it
                with open(temporary, "w", newline="", encoding="utf-8", errors="surrogateescape") as handle:
                    writer = csv.DictWriter(handle, fieldnames=columns)
                    writer.writeheader()
                    writer.writerows(rows)
    return path


def _results_lock(results: Path):
    """Hold ``<results>.lock`` for a whole tag or undo run: two runs on one results table
    would each rewrite the journal under the other's open handle, and the lines the other
    appends after that (the old values of its writes) would be lost."""
    lock = results.with_name(results.name + ".lock")
    return exclusive_lock(lock, f"{results}: another `genrekit tag` or `tag --undo` run is using this results table "
                                f"(it holds {lock.name}); wait for it to finish, or write another table")


def append_record(handle, record: dict) -> None:
    """One journal line, on disk before this returns.

    Written past ``handle``'s buffer, so a failed write (a full disk) leaves nothing buffered
    for the close to fail on again; raises the OSError with the journal's name in it."""
    data = (json.dumps(record) + "\n").encode("utf-8")  # ASCII: json escapes the rest
    handle.flush()
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(handle.fileno(), view):]
        os.fsync(handle.fileno())
    except OSError as exc:
        raise OSError(exc.errno, exc.strerror, str(handle.name)) from exc


def _stat(path: str) -> dict[str, int]:
    stat = os.stat(path)
    return {"size": stat.st_size, "mtime_ns": stat.st_mtime_ns}


def _id3_sha256(path: str) -> str | None:
    """The hash of the ID3v2 tag as genrekit's write left it (:func:`tags.id3_tag_sha256`), or
    None (no ID3 file, or it cannot be read now)."""
    from genrekit.audio import tags

    try:
        return tags.id3_tag_sha256(path)
    except Exception:  # mutagen raises many types; an undo of a version conversion then refuses the file
        return None


def _same_id3_tag(path: str, entry: dict) -> bool:
    """Whether ``path``'s ID3v2 tag is, byte for byte, the one ``entry``'s write left. A tagger
    can keep a file's size and mtime (its padding absorbs an edit, "preserve timestamps"), so
    a stat alone does not say. Journals before 2026-12-04 hold no hash: True."""
    return "id3_sha256" not in entry or _id3_sha256(path) == entry["id3_sha256"]


#: The least probability of a genre written after the top one where no --min-confidence is
#: given: one chance in five, decided a priori (a 0.7% guess was written into owners' files).
FURTHER_GENRE_FLOOR = 0.2


def tag_genres(record: dict, *, count: int = 1, min_confidence: float | None = None,
               styles: bool = False) -> list[str]:
    """The genres to write into a predicted file's tags, most probable first.

    Parameters
    ----------
    record : a :class:`TagRecord` as a dict, its ``genre`` decided (:func:`_decide`)
    count : at most this many genres: the top one, then the next most probable at or above
        ``min_confidence`` (:data:`FURTHER_GENRE_FLOOR`, when it is None)
    min_confidence : see above
    styles : add the styles the model found present (``record["styles"]``), most probable
        first, after the genres (a name already there is not repeated)

    Returns
    -------
    list of str
        Empty for a file whose genre is ``unknown`` or whose prediction failed.
    """
    if count < 1:
        raise ParameterError(f"count={count}: expected at least 1 genre to write")
    genre = record.get("genre")
    if record.get("error") or genre is None or is_placeholder(genre):
        return []
    probabilities = record.get("probabilities") or {}
    ranked = sorted((g for g in probabilities if g != genre), key=lambda g: -probabilities[g])
    floor = FURTHER_GENRE_FLOOR if min_confidence is None else min_confidence
    chosen = [genre, *[g for g in ranked if probabilities[g] >= floor]][:count]
    if styles:
        chosen += list(record.get("styles") or {})
    seen, unique = set(), []
    for name in chosen:  # the style "hip-hop" is the genre "hiphop": one of them
        key = squashed_genre(name)
        if key not in seen and not is_placeholder(name):  # a label 'Unknown' says nothing either
            seen.add(key)
            unique.append(name)
    return unique


@dataclass
class TagOptions:
    """How :func:`tag_library` writes a file's tags (its parameters of the same names)."""

    existing: str = "keep"
    genres: int = 1
    styles: bool = False
    separator: str = SEPARATOR
    id3v2_version: int | None = None
    dry_run: bool = False
    min_confidence: float | None = None


def _written_with(options: TagOptions) -> dict:
    """The options that shape a tag write, as its journal records them: a re-run with others
    says which files it leaves as an earlier run wrote them."""
    return {"existing": options.existing, "genres": options.genres, "styles": options.styles,
            "separator": options.separator, "id3v2_version": options.id3v2_version,
            "min_confidence": options.min_confidence}


def _set_tag(record: dict, handle, options: TagOptions, rekey) -> "TagChange | None":
    """Decide and write the genre tag of one predicted file as ``options`` say, recording it in
    ``record``; a write is journalled (path, old and new values of every field it touches) before
    it is made, and the record keyed again as the file is after it (``rekey(path)``: key, size,
    mtime_ns). None where no genre is to be written (unknown)."""
    from genrekit.audio.tags import TagChange, apply_tag_change, plan_genre_tag, provenance

    record["tag"] = None  # an earlier run's write record stays on that run's journal line
    genres = tag_genres(record, count=options.genres, min_confidence=options.min_confidence, styles=options.styles)
    if not genres:  # unknown, or a model whose label is a placeholder ('Unknown'): nothing to write
        record["tag_action"], record["tag_written"] = "unknown", False
        record["tag_old"] = record["tag_new"] = None
        reason = (f"the model's label {record['genre']!r} says no genre" if record["genre"] != UNKNOWN
                  else record["unknown_reason"] if record.get("unknown_reason") in (NOT_MUSIC, SILENT)
                  else f"confidence {record['confidence']:.2f} < {options.min_confidence}")
        record["tag_error"] = f"genre unknown ({reason}): its tags are left as they are"
        return None
    try:
        now = _stat(record["path"])
    except OSError as exc:
        now = {"error": exc.strerror or str(exc)}
    if now != {"size": record["size"], "mtime_ns": record["mtime_ns"]}:  # its genre is the old audio's
        record["tag_action"], record["tag_written"] = "changed", False
        record["tag_old"] = record["tag_new"] = None
        record["tag_error"] = (f"{record['path']}: changed since it was analysed ({now.get('error') or 'size or mtime'});"
                               " its tags are left as they are, and the next run analyses it again")
        return TagChange(record["path"], None, "; ".join(genres), False, record["tag_error"], action="changed")
    change = plan_genre_tag(record["path"], genres, existing=options.existing, separator=options.separator,
                            id3v2_version=options.id3v2_version,
                            provenance=provenance(record["model"], record.get("confidence")),
                            held=record.get("own_as_model") or ())  # the owner's genres, as the model spells them
    if change.action == "write" and options.dry_run:
        refusal = dry_run_refusal(record["path"])  # as the write would find it
        change.action = "would fail" if refusal else "would write"
        change.error = f"{record['path']}: genre tag would not be written ({refusal})" if refusal else None
    elif change.action == "write":
        record["tag"] = {"state": "writing", "format": change.format, "has_tags": change.has_tags,
                         "fields": change.fields, "id3_version": change.id3_version, "id3_tag": change.id3_tag,
                         "before": now, "after": None, "options": _written_with(options)}
        record["tag_action"], record["tag_old"], record["tag_new"] = "writing", change.old_values, change.new_values
        append_record(handle, record)  # the old values are on disk before the file changes
        change = apply_tag_change(change, unchanged_since=(record["size"], record["mtime_ns"]))
        if change.written:
            record["key"], record["size"], record["mtime_ns"] = rekey(record["path"])
            # the old ID3 tag of a version conversion stays on the writing line alone (it may hold cover art)
            record["tag"] = {k: v for k, v in record["tag"].items() if k != "id3_tag"} | {
                "state": "written", "after": _stat(record["path"]), "fields": change.fields,
                "id3_sha256": _id3_sha256(record["path"])}
        else:
            record["tag"] = record["tag"] | {"state": "failed"}
    record["tag_action"], record["tag_written"] = change.action, change.written
    record["tag_old"] = change.old_values
    # the field after: as it was where the write failed (or would), not the genres it was refused
    record["tag_new"] = change.old_values if change.action in ("failed", "would fail") else change.new_values
    record["tag_error"] = change.error or change.reason
    return change


def _finished_write(writing: dict | None, key: str, size: int, mtime_ns: int, analysed_as: str) -> dict | None:
    """The line a run killed between a tag write and its journal line did not write: ``writing``
    (the file's last line, its write begun, predicted with this model and these options)
    completed, keyed and stamped as the file is now, where the file now holds that write's
    fields and is no longer as it was before it; None otherwise. Without it the file was
    analysed again and its genre "kept" as an earlier run's, and its undo could not put its
    size back."""
    if writing is None or not writing["key"].startswith(analysed_as + "|"):
        return None
    tag = writing["tag"]
    # a version conversion's undo puts the stored tag back whole, where the file's tag is the one
    # genrekit left: as found now, it may hold another tagger's edits since (analysed again instead)
    if tag.get("id3_tag") is not None or tag.get("before") == {"size": size, "mtime_ns": mtime_ns} \
            or not _holds_write(writing["path"], tag):
        return None
    return writing | {"key": key, "size": size, "mtime_ns": mtime_ns, "tag_action": "written", "tag_written": True,
                      "tag_error": None, "tag": {k: v for k, v in tag.items() if k != "id3_tag"} | {
                          "state": "written", "after": {"size": size, "mtime_ns": mtime_ns},
                          "id3_sha256": _id3_sha256(writing["path"])}}


def _not_the_models(records: list[dict], model_path: str) -> list[dict]:
    """The ``records`` (an earlier run's, read from the journal) whose genres or styles are not
    the model's, or whose probabilities are not ones: a line edited by hand, to be predicted
    again rather than written into a song's tags."""
    from genrekit.models import load

    model = load(model_path, threads=1)
    labels, styles = set(model.labels), set(model.styles)

    def probability(value) -> bool:
        return _number(value) and 0.0 <= value <= 1.0

    return [r for r in records
            if set(r.get("probabilities") or {}) != labels or not all(map(probability, r["probabilities"].values()))
            or not set(r.get("styles") or {}) <= styles or not all(map(probability, (r.get("styles") or {}).values()))]


def _decide_tag_again(record: dict, existing: str) -> bool:
    """Whether a file predicted by an earlier run gets its tag decided again: not when it was
    written (or had our genre already), nor when it kept its genre and still would."""
    action = record.get("tag_action")
    return action not in ("written", "unchanged") and not (action == "kept" and existing == "keep")


def _analysis_prefix(record: dict) -> tuple[str, str]:
    """A journal record's key in two: the model and the analysis options the file was predicted
    with (``<model>|skip=5``), and what identifies the file (``|sha256:…``, or ``|<path>|<size>|<mtime>``)."""
    prefix = record.get("model") or ""
    rest = record["key"][len(prefix):] if record["key"].startswith(prefix) else ""
    while rest.startswith(_OPTION_TOKENS) and "|" in rest[1:]:  # the analysis options, kept
        token = rest[: rest.index("|", 1)]
        prefix, rest = prefix + token, rest[len(token):]
    return prefix, rest


def _holds_write(path: str, entry: dict) -> bool:
    """Whether the fields of the file at ``path`` hold what the tag write ``entry`` left: the
    genres and genrekit's own fields (its model, confidence and date among them)."""
    from genrekit.audio import tags

    try:
        now = tags.read_genre_field(path, trust_name=True)
    except Exception:  # mutagen raises many types (or is not installed): not known to be that file
        return False
    return all(now.fields.get(name) == values["new"] for name, values in entry["fields"].items())


class _Moves:
    """The files whose tags genrekit wrote, by the real path they were written at, so that a run
    finding one at another path (moved or renamed; its old path gone) records it there."""

    def __init__(self, records: list[dict]):
        self.records = list(records)  # as the journal holds them before this run
        self.claimed: set[str] = set()  # old paths followed by this run (a copy of the content is no move)
        self._writes: dict[str, list[dict]] | None = None
        self._gone: dict[tuple[int, int], list[str]] | None = None

    @property
    def writes(self) -> dict[str, list[dict]]:
        """:func:`_tag_writes` of the journal (read once, when a run first needs it)."""
        if self._writes is None:
            self._writes = _tag_writes(self.records)
        return self._writes

    def _gone_by_stat(self) -> dict[tuple[int, int], list[str]]:
        """(size, mtime_ns) after genrekit's last write -> the real paths, gone now, it wrote them at."""
        if self._gone is None:
            self._gone = {}
            for real, entries in self.writes.items():
                last = entries[-1] if entries else None
                if last and last["state"] == "written" and last["after"] and not os.path.exists(last["path"]):
                    self._gone.setdefault((last["after"]["size"], last["after"]["mtime_ns"]), []).append(real)
        return self._gone

    def record_here(self, path: str, record: dict | None, file_key: str, size: int, mtime_ns: int) -> dict | None:
        """A journal record saying the file at ``path`` is one genrekit wrote at another path,
        now gone: ``record``'s (the journal's record of its key: the same content with --hash),
        else one whose last write left this size, mtime and these fields. Keyed with the model
        and options it was predicted with and ``file_key`` (how this run identifies the file); its
        ``tag`` ``{"state": "moved", "from": the old path}``, which :func:`_tag_writes` follows.
        None: no such file."""
        if record is not None and record["path"] == path:  # the common case: a file done before, where it was
            return None
        real, old = os.path.realpath(path), None
        if record is not None:
            found = os.path.realpath(record["path"])
            if (found != real and found not in self.claimed and self.writes.get(found)
                    and not os.path.exists(record["path"])):
                old = found
        else:
            old = next((found for found in self._gone_by_stat().get((size, mtime_ns), ())
                        if found != real and found not in self.claimed and _holds_write(path, self.writes[found][-1])),
                       None)
        if old is None:
            return None
        self.claimed.add(old)
        base = record if record is not None else next(r for r in reversed(self.records)
                                                      if os.path.realpath(r["path"]) == old)
        tag = base.get("tag") or {}
        return base | {"path": path, "key": _analysis_prefix(base)[0] + file_key, "size": size, "mtime_ns": mtime_ns,
                       "tag": {"state": "moved", "from": base["path"]}
                       | ({"options": tag["options"]} if "options" in tag else {})}


# A row's tag outcome before any is decided for its file
_NO_TAG_OUTCOME = {"tag_written": False, "tag_error": None, "tag_action": None, "tag_old": None, "tag_new": None,
                   "tag": None}


def _warn_of_other_libraries(records: list[dict], root, results: Path) -> None:
    """Say where the table's journal holds files outside ``root`` (another library tagged with
    this table before): the table lists ``root``'s files only, and their rows went without a word."""
    if remote.is_url(root):
        return
    base = os.path.realpath(root)
    elsewhere = {real for r in records if not remote.is_url(r["path"]) and not r["key"].startswith("unreadable:")
                 and os.path.commonpath([base, real := os.path.realpath(r["path"])]) != base}
    if elsewhere:
        logger.warning("%s: its journal holds %d file(s) outside %s (another library tagged with this table, or "
                       "files moved out): the table lists %s's files only; their records stay in the journal (tag "
                       "--undo still puts their tags back). Tag each library into its own table to keep both tables",
                       results, len(elsewhere), root, root)


def _same_file(path: str) -> str:
    """``path`` as every spelling of a local file gives it (a URL as written)."""
    return path if remote.is_url(path) else os.path.realpath(path)


@renamed_keywords(jobs="n_jobs")
def tag_library(
    root: str | os.PathLike,
    model_path: str | os.PathLike,
    results: str | os.PathLike,
    *,
    n_jobs: int | None = None,
    use_hash: bool = False,
    skip: float = SKIP_SECONDS,
    segment_seconds: float | None = None,
    write_tags: bool = False,
    dry_run: bool = False,
    existing: str = "keep",
    progress: bool = True,
    on_tag_change=None,
    runner=None,
    min_confidence: float | None = None,
    genres: int = 1,
    styles: bool = False,
    separator: str = SEPARATOR,
    id3v2_version: int | None = None,
    music_check: bool = True,
) -> LibrarySummary:
    """Predict the genres of every audio file below ``root`` and record them in ``results``.

    Parameters
    ----------
    root : the library: a folder, or a URL (see :func:`library_files`)
    model_path : a model file, a run folder of ``genrekit train`` or ``"default"``
        (:func:`genrekit.models.interface.model_file`)
    results : the table to write (``.csv``, ``.jsonl`` or ``.parquet``); its journal
        ``<results>.journal.jsonl`` beside it is what makes runs resumable, and what
        :func:`undo_tags` undoes the run's tag writes from
    n_jobs : worker processes (None: all cores)
    skip : seconds of intro and outro left out (as :func:`genrekit.predict.predict_file`)
    segment_seconds : classical whole-clip models: seconds per chunk (see :func:`genrekit.models.load`);
        like ``skip``, part of what makes a file done
    use_hash : recognise files already done by content (SHA-256) instead of path + size + mtime;
        either way, only results of the same model file count as done
    write_tags : write the top genres into each successfully predicted file's metadata (never
        ``unknown``: such a file's tags are left as they are), with genrekit's provenance
        fields (:mod:`genrekit.audio.tags`). Before each write the journal records the path
        and the old and new values of every field it touches; after it, the file's size and mtime.
        Files predicted by an earlier run whose tag was not written then (kept, a dry run,
        no ``write_tags``) are decided again, without predicting them again.
    existing : a genre the file has already: ``keep`` it (nothing is written; the row says
        why), ``replace`` it with ours, or ``append`` ours after it (unless it is there)
    min_confidence : below this top probability a file's genre is ``unknown``; applied to
        every row of the table, those of earlier runs included
    music_check : a file the music detector hears as speech, noise or tones is ``unknown``;
        False names a genre anyway (a spoken-word library you want genred), predicting again
        (as another ``skip`` does: with the check, segments heard as not music leave a song's
        probabilities)
    dry_run : with ``write_tags``, record and report the changes (``on_tag_change``, the
        table's ``tag_old``/``tag_new``) without writing; the files the write would refuse are
        in ``tag_failures`` as that write's would be
    genres : with ``write_tags``, write up to this many genres: the top one, then the next
        most probable at or above ``min_confidence``, else 0.2 (:func:`tag_genres`)
    styles : with ``write_tags``, add the styles the model found present as further genres
    separator : an ID3v2.3 tag's genres are one ``TCON`` value joined by this
    id3v2_version : save ID3v2 tags (MP3, WAV, AIFF) as version 3 or 4; None: the version a
        file's tag has (4 for a new tag)
    on_tag_change : called with :class:`genrekit.audio.tags.TagChange` for each file
    progress : show a progress bar
    runner : where the files are predicted (:mod:`genrekit.runners`; default: a local
        process pool of ``n_jobs``); the journal and table are the same whichever runs it

    Returns
    -------
    LibrarySummary
        Counts, genres and failures of the whole table (earlier runs' rows included), this
        run's tag actions, and the files whose owner's genre the model disagrees with (also
        written to ``<results>.disagreements.csv``).

    Raises
    ------
    ParameterError
        An option is out of range, ``results`` is not a ``.csv``, ``.jsonl`` or ``.parquet``
        file, ``root`` is not a folder (or a URL that can be listed), ``write_tags`` is asked
        for a URL or without mutagen installed.
    ModelError
        ``model_path`` names no model file.
    """
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    from genrekit.audio.chunking import check_song_reading
    from genrekit.audio.tags import EXISTING
    from genrekit.models.interface import checked_segment_seconds
    from genrekit.runners import pool_size, runner_given

    min_confidence = check_min_confidence(min_confidence)
    check_song_reading(skip=skip)  # once, not as every file's failure
    segment_seconds = checked_segment_seconds(segment_seconds)
    check_flags(use_hash=use_hash, write_tags=write_tags, dry_run=dry_run, styles=styles, music_check=music_check,
                progress=progress)
    runner = runner_given(runner, n_jobs)
    if runner is None:  # refused before the library is listed (the pool is as large as what is left to do)
        pool_size(n_jobs)
    if write_tags:
        from genrekit.audio.tags import require_mutagen

        require_mutagen("--write-tags")
    if existing not in EXISTING:
        raise ParameterError(f"existing={existing!r}: expected one of {', '.join(EXISTING)}")
    check_whole_number("genres", genres, of="genres to write")
    genres = int(genres)  # np.int64(2) as 2: the journal records it as JSON
    if id3v2_version not in (None, 3, 4):
        raise ParameterError(f"id3v2_version={id3v2_version!r}: expected 3 or 4 (or None: keep each file's)")
    if not isinstance(separator, str) or not separator.strip():
        raise ParameterError(f"separator={separator!r}: expected a separator with a visible character, "
                             "such as '; ' or '/'")
    if not write_tags:  # options that shape tag writes: ignored, they would suggest a write was previewed
        given = [name for name, on in (("existing", existing != "keep"), ("dry_run", dry_run), ("genres", genres != 1),
                                       ("styles", styles), ("separator", separator != SEPARATOR),
                                       ("id3v2_version", id3v2_version is not None)) if on]
        if given:
            raise ParameterError(f"{', '.join(given)}: only with write_tags=True (they shape the tags written; "
                                 "with dry_run=True to preview)")
    options = TagOptions(existing=existing, genres=genres, styles=styles, separator=separator,
                         id3v2_version=id3v2_version, dry_run=dry_run, min_confidence=min_confidence)

    started = time.perf_counter()
    root, results = path_given(root, "root"), Path(path_given(results, "results"))
    if results.suffix not in TABLE_FORMATS:
        raise ParameterError(f"results={results}: expected a {', '.join(TABLE_FORMATS)} file")
    # its file, not a model loaded: the workers load it, and its id marks a song done
    model_path = os.fspath(model_file(model_path, parameter="model_path"))
    if write_tags and remote.is_url(root):
        raise ParameterError(f"{root}: --write-tags rewrites files in place, which genrekit does on local files only")
    identity = model_id(model_path)
    # A rerun with other analysis options, or after a change to the analysis, predicts again.
    analysed_as = identity + _options_key(skip, segment_seconds, music_check)
    listing, skipped = _listing(root)
    files = list(listing)
    if not files and not skipped:
        raise DatasetError(f"{root}: no audio files found (expected a folder holding songs: "
                           f"{', '.join(sorted(AUDIO_EXTENSIONS))})")
    journal = results.with_name(results.name + ".journal.jsonl")
    if results.is_dir():
        raise ParameterError(f"{results}: is a folder; expected the name of a results table to write")
    if results.exists() and not journal.exists():
        # the table is rewritten whole each run: one that no tag run wrote (its journal is
        # missing) may be the user's own file of that name
        raise ParameterError(f"{results}: exists, and is not a genrekit results table (no {journal.name} beside "
                             "it); choose another --out, or remove it")
    with _results_lock(results):
        records = reopen_journal(journal)
        latest = {r["key"]: r for r in records}
        # A file whose tag write was journalled but never finished is not done: its key is the
        # one it had before the write, so if the write did not happen it is tagged again. Nor is
        # one whose analysis failed: tried again (a decoder installed since, a worker the system
        # killed, an object store that did not answer), as evaluate does.
        done = {key for key, r in latest.items()
                if (r.get("tag") or {}).get("state") != "writing" and r.get("error") is None}
        # with --hash, copies of one content share a key: each file's own record, by its real path
        own_before = {(r["key"], _same_file(r["path"])): r for r in records} if use_hash else {}
        # Each file's row is found by its key, never by its path: the path changes with the
        # spelling of the library and with a move (--hash), the key does not.
        current: dict[str, tuple[str, int, int]] = {}
        todo, retag, failures_before, written_before, kept_before = [], [], 0, 0, 0
        moves, moved, completed = _Moves(records), [], []
        last_of_path = {r["path"]: r for r in records}  # a write begun, its end unjournalled: a run killed between
        begun = {path: r for path, r in last_of_path.items() if (r.get("tag") or {}).get("state") == "writing"}
        for path in files:
            try:
                key, size, mtime_ns = _key(path, use_hash, analysed_as, listing[path])
            except (OSError, GenrekitError) as exc:
                key, size, mtime_ns = f"unreadable:{path}", 0, 0
                records.append(asdict(TagRecord(path=str(path), size=size, mtime_ns=mtime_ns, key=key,
                                                error=f"{path}: cannot be read ({exc})")))
                failures_before += 1
            else:
                # (with --hash, copies share a key: done is each copy's own record)
                own_done = key in done and (not use_hash or (key, _same_file(str(path))) in own_before)
                finished = None if own_done else _finished_write(begun.get(str(path)), key, size, mtime_ns,
                                                                 analysed_as)
                if finished is not None:  # its own write, not another tagger's genre to keep
                    completed.append(finished)
                    records.append(finished)
                    latest[key] = finished
                    done.add(key)
                    if use_hash:
                        own_before[key, _same_file(str(path))] = finished
                # a file genrekit wrote, moved or renamed since: its journal follows it (undo finds it there)
                # its own record where the journal has one: a copy of its content gone since is no move
                known = None if key not in done else (
                    (use_hash and own_before.get((key, _same_file(str(path))))) or latest.get(key))
                here = None if remote.is_url(path) else moves.record_here(str(path), known, key[len(analysed_as):],
                                                                          size, mtime_ns)
                if here is not None:
                    moved.append(here)
                    records.append(here)
                    if here["key"] == key:  # predicted with this model and these options: done
                        latest[key] = here
                        done.add(key)
                # its own record (copies share a key with --hash), as found where it was moved to
                mine = here if here is not None and here["key"] == key else known or latest.get(key)
                if key not in done:
                    todo.append([str(path), key, size, mtime_ns, identity])
                elif write_tags and mine["error"] is None and _decide_tag_again(mine, existing):
                    retag.append(mine | {"path": str(path), "size": size, "mtime_ns": mtime_ns})
                elif write_tags and mine.get("tag_action") == "written" and (
                        (mine.get("tag") or {}).get("options") not in (None, _written_with(options))):
                    written_before += 1  # written with other options (records before 2026-12-04 do not say)
                elif write_tags and mine["error"] is None and mine.get("tag_action") == "kept":
                    kept_before += 1  # the owner's genre, kept as an earlier run (a dry run too) decided
            current[str(path)] = key, size, mtime_ns
        if retag:  # a journal is a file in the user's folder: what it says the model found is checked first
            todo += [[r["path"], r["key"], r["size"], r["mtime_ns"], identity]
                     for r in _not_the_models(retag, model_path)]
            predicted_again = {item[0] for item in todo}
            retag = [r for r in retag if r["path"] not in predicted_again]
        n_before = len(files) - len(todo) - failures_before
        columns = (TextColumn("tagging"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn())
        if runner is None and todo:
            from genrekit.runners import LocalRunner

            # the CPUs this process may use (a cpuset's or a scheduler's), not the machine's
            runner = LocalRunner(min(pool_size(n_jobs), max(1, len(todo))))
        actions: Counter = Counter()
        tag_failures: dict[str, str] = {}

        def rekey(path: str) -> tuple[str, int, int]:
            return _key(Path(path), use_hash, analysed_as)

        def finish(record: dict) -> None:
            _decide(record, min_confidence, music_check)
            change = None
            if write_tags and record["error"] is None:
                change = _set_tag(record, handle, options, rekey)
                actions[record["tag_action"]] += 1
                # not done as asked, in a dry run as in the write it previews (a format genrekit
                # does not tag is 'not taggable': no failure)
                if record["tag_action"] in _NOT_DONE:
                    tag_failures[record["path"]] = record["tag_error"]
                if record["tag_written"]:  # the file changed: key it as it is now, so a re-run skips it
                    current[record["path"]] = record["key"], record["size"], record["mtime_ns"]
            append_record(handle, record)  # journalled before anyone is told: a failing callback loses no record
            records.append(record)
            if change is not None and on_tag_change is not None:
                on_tag_change(change)

        with open(journal, "a", encoding="utf-8") as handle, Progress(*columns, disable=not progress) as bar:
            task = bar.add_task("tagging", total=len(files), completed=n_before)
            for record in completed + moved:  # first: a run killed later still knows what it wrote and where it went
                append_record(handle, record)
            for record in retag:  # predicted before; only the tag is decided now
                finish(dict(record))
            if todo:
                for _, record in runner.map(make_tagger, (model_path, segment_seconds, skip, music_check), todo,
                                            on_crash=_crashed_tag):
                    finish(record)
                    bar.advance(task)
        latest = {r["key"]: r for r in records}
        # copies of one content share a key (--hash), not a tag outcome: each file's own record first
        own = {(r["key"], _same_file(r["path"])): r for r in records} if use_hash else {}
        rows = {}
        for path, (key, size, mtime_ns) in current.items():
            if key in latest:  # under the path, size and mtime it has now
                record = own.get((key, _same_file(path))) if use_hash else latest[key]
                if record is None:  # a copy's record: its prediction is this file's, its tag outcome is not
                    record = latest[key] | _NO_TAG_OUTCOME
                rows[path] = record | {"path": path, "size": size, "mtime_ns": mtime_ns}
        for path, reason in skipped.items():  # listed again by each run, so never in the journal
            rows[str(path)] = asdict(TagRecord(path=str(path), size=0, mtime_ns=0, key=f"skipped:{path}", error=reason))
        # every row with every field (rows of older runs lack the newer ones)
        table = [_complete(_decide(rows[path], min_confidence, music_check)) for path in sorted(rows)]
        _warn_of_other_libraries(records, root, results)
        write_table(table, results)
        failures = {r["path"]: r["error"] for r in table if r["error"]}
        genres = Counter(r["genre"] for r in table if not r["error"])
        disagreements = find_disagreements(
            [{"path": r["path"], "owner_genres": r["own_genres"], "owner_labels": r["own_as_model"],
              "probabilities": r["probabilities"], "seen_in_training": r["seen_in_training"]}
             for r in table if r["own_genres"] and not r["error"]],
            min_confidence=max(DISAGREEMENT_CONFIDENCE, min_confidence or 0.0))
        disagreements_path = results.with_name(results.name + ".disagreements.csv")
        write_disagreements(disagreements, disagreements_path)
        return LibrarySummary(results=results, n_files=len(table), n_done_before=n_before,
                              n_tagged=len(table) - len(failures), n_failed=len(failures), genres=dict(genres),
                              failures=failures, seconds=time.perf_counter() - started, tag_actions=dict(actions),
                              n_written_before=written_before, tag_failures=tag_failures, n_moved=len(moved),
                              n_kept_before=kept_before,
                              disagreements=disagreements, disagreements_path=disagreements_path,
                              unknown=[r["path"] for r in table
                                       if not r["error"] and r["genre"] == UNKNOWN and not r["own_genres"]])


@dataclass
class UndoRecord:
    """What :func:`undo_tags` did to one file: ``status`` is ``restored``, ``already undone``
    (by an earlier undo), ``nothing to undo`` (its write never happened), ``refused`` (its genre
    fields changed since genrekit wrote them, or a version conversion cannot be put back) or
    ``failed``; ``reason`` says why for all but restored (for restored, where the undo stopped
    at the owner's genre).
    ``old`` is the genre field the undo found (ours), ``new`` the one it put back (None: removed);
    genrekit's own fields are put back (removed) with it."""

    path: str
    status: str
    reason: str | None = None
    field: str | None = None
    old: list[str] | None = None
    new: list[str] | None = None
    after: dict[str, int] | None = None  # the file's size and mtime after the undo (restored ones)
    write: dict | None = None  # the write undone: the file's size and mtime before and after it
    fields: dict[str, dict] | None = None  # every field put back: name -> {"old": ours, "new": restored}


@dataclass
class UndoSummary:
    """What an :func:`undo_tags` run did, file by file."""

    results: Path
    progress: Path  # the undo's own journal, ``<results>.undo.jsonl``: what makes it resumable
    files: list[UndoRecord]
    seconds: float

    @property
    def n_restored(self) -> int:
        return sum(r.status == "restored" for r in self.files)

    @property
    def failures(self) -> dict[str, str]:
        """path -> reason, for every file refused or failed."""
        return {r.path: r.reason for r in self.files if r.status in ("refused", "failed")}


def _tag_writes(records: list[dict]) -> dict[str, list[dict]]:
    """Every tag write a journal records, per file (by its real path) in the order made: the
    ``writing`` line (made before the write) completed by its ``written`` line, or left alone
    by a run killed in between; failed writes (nothing changed) are left out. A file found
    moved (a ``moved`` line, :class:`_Moves`) takes its writes along: each then has the path the
    file is at now, and ``written_at``, the one it was written at."""
    writes: dict[str, list[dict]] = {}
    last_line: dict[str, dict] = {}  # per file, the tag of its last line
    for number, record in enumerate(records):
        tag = record.get("tag")
        if isinstance(tag, dict) and tag.get("state") == "moved":
            _relocate(writes, tag["from"], record["path"])
            continue
        if not tag or tag.get("state") not in ("writing", "written", "failed"):
            continue
        real = os.path.realpath(record["path"])
        if last_line.get(real) == tag:  # one line twice (copied by hand): one write, not the owner's edit between
            continue
        last_line[real] = tag
        entries = writes.setdefault(real, [])
        entry = tag | {"path": record["path"], "line": number, "duration": record.get("duration")}
        if (tag["state"] != "writing" and entries and entries[-1]["state"] == "writing"
                and entries[-1]["before"] == tag["before"]):
            entries[-1] = entries[-1] | entry | {"path": entries[-1]["path"]}  # the writing line's id3_tag kept
        else:
            entries.append(entry)
    return {path: [e for e in entries if e["state"] != "failed"] for path, entries in writes.items()}


def _relocate(writes: dict[str, list[dict]], old: str, new: str) -> None:
    """Move the writes recorded at ``old`` (:func:`_tag_writes`) to the file's new path ``new``,
    in the order they were made among any recorded there."""
    source, target = os.path.realpath(old), os.path.realpath(new)
    if source == target or not writes.get(source):
        return
    moving = [entry | {"path": new, "written_at": _written_at(entry)} for entry in writes.pop(source)]
    writes[target] = sorted(writes.get(target, []) + moving, key=lambda entry: entry.get("line", 0))


def _written_at(entry: dict) -> str:
    """The path a write was made at (the file may have moved since): how an undo's progress lines find it."""
    return entry.get("written_at", entry["path"])


def _table_locations(results: Path) -> list[tuple[str, str, int, int]]:
    """``(path, key, size, mtime_ns)`` of each row of a results table; [] where it cannot be
    read (an undo goes on without it: it only says where moved files went)."""
    import csv

    rows: list = []
    try:
        if results.suffix == ".jsonl":
            for line in results.read_text(encoding="utf-8", errors="surrogateescape").splitlines():
                try:
                    rows.append(json.loads(line))
                except (ValueError, RecursionError):
                    continue
        elif results.suffix == ".csv":
            with open(results, newline="", encoding="utf-8", errors="surrogateescape") as handle, long_csv_cells():
                rows = [{k: from_spreadsheet_cell(v) if k in ("path", "key") and isinstance(v, str) else v
                         for k, v in row.items()} for row in csv.DictReader(handle)]
        elif results.suffix == ".parquet":
            import pyarrow.parquet as pq

            rows = pq.read_table(results, columns=["path", "key", "size", "mtime_ns"]).to_pylist()
    except Exception as exc:  # csv, pyarrow and the file system raise many types
        logger.warning("%s: not read for the new paths of moved files (%s: %s)", results, type(exc).__name__, exc)
        return []
    found = []
    for row in rows:
        try:
            found.append((row["path"], row["key"], int(row["size"]), int(row["mtime_ns"])))
        except (TypeError, KeyError, ValueError, OverflowError):  # an infinite size is no row of ours
            continue
    return [row for row in found if _path_text(row[0]) and isinstance(row[1], str)]


def _moves_in_table(results: Path, writes: dict[str, list[dict]], records: list[dict]) -> dict[str, str]:
    """Follow files genrekit wrote whose path is gone to the path their row of the results table
    has now (a run before moves were journalled, or one that could not recognise the file): the
    row keyed as the file's record was after the write (its content, with --hash), or with
    the size and mtime the write left, whose file holds the fields genrekit wrote. A file is
    followed only where exactly one row is such, and only within the library (the folder that
    holds every file of the journal): a row edited to name a copy elsewhere is no move of it.
    Returns new real path -> old real path."""
    gone = {real: entries[-1] for real, entries in writes.items()
            if entries and entries[-1]["state"] == "written" and entries[-1]["after"]
            and not os.path.exists(entries[-1]["path"])}
    if not gone:
        return {}
    rows = _table_locations(results)
    keys: dict[str, set[str]] = {}
    for record in records:
        keys.setdefault(os.path.realpath(record["path"]), set()).add(record["key"])
    library = os.path.commonpath([os.path.dirname(real) for real in keys])
    followed = {}
    for old, last in gone.items():
        after = (last["after"]["size"], last["after"]["mtime_ns"])
        candidates = {os.path.realpath(path): path for path, key, size, mtime_ns in rows
                      if key in keys.get(old, ()) or (size, mtime_ns) == after}
        candidates = {real: path for real, path in candidates.items()
                      if real != old and real not in writes and os.path.commonpath([library, real]) == library
                      and os.path.exists(path) and _holds_write(path, last)}
        if len(candidates) == 1:
            [(real, path)] = candidates.items()
            _relocate(writes, last["path"], path)
            followed[real] = old
    return followed


def _without_outcome(words: str) -> str:
    """A refusal's reason without its own "left as it is", which the undo's line says once."""
    for outcome in ("; its tags are left as they are", "; left as it is"):
        words = words.removesuffix(outcome)
    return words


def _foreign_write(entry: dict) -> str | None:
    """Why a journalled write is not one genrekit made (every write of genrekit's sets the
    file's genre field and its own ``MODEL`` field): a line edited by hand, or not of a tag
    run, would have an undo write into a file genrekit never touched. None for genrekit's."""
    from genrekit.audio.tags import GENRE_FIELDS, MP4_GNRE, PROVENANCE, provenance_key

    form = entry.get("format")
    family = "ID3" if isinstance(form, str) and form.startswith("ID3v2.") else form
    if family not in GENRE_FIELDS:
        return f"its journal line names no tag format genrekit writes ({form!r})"
    fields, model = entry["fields"], provenance_key(family, "MODEL")
    ours = {GENRE_FIELDS[family], *(provenance_key(family, name) for name in PROVENANCE),
            *([MP4_GNRE] if family == "MP4" else [])}
    for name, change in fields.items():  # an undo writes every "old" value: each must be one genrekit could record
        if name not in ours:
            return f"its journal line records a field genrekit never writes in a {family} tag ({name[:100]!r})"
        for side in ("old", "new"):
            values = change[side]
            if values is not None and not (isinstance(values, list) and all(isinstance(v, str) for v in values)):
                return (f"its journal line records {name}'s {side} values as {repr(values)[:100]}, where genrekit "
                        "records a list of texts (or null): edited by hand, or damaged")
    for name, whole in ((GENRE_FIELDS[family], any), (model, all)):  # an owner's blank genre stays after append
        new = (fields.get(name) or {}).get("new")
        if not (isinstance(new, list) and all(isinstance(v, str) for v in new) and whole(v.strip() for v in new)
                and new):
            return (f"its journal line does not record genrekit writing {name} (every write of genrekit's sets the "
                    "genre and its own model field): not a write of genrekit's, or edited by hand")
    return None


def _chain(entries: list[dict]) -> list[dict]:
    """The last write to a file and the writes before it that it followed directly (each made
    on the file as the one before left it), oldest first."""
    chain = [entries[-1]]
    for entry in reversed(entries[:-1]):
        if entry["state"] != "written" or entry["after"] != chain[0]["before"]:
            break
        chain.insert(0, entry)
    return chain


def _undo_plan(chain: list[dict]) -> tuple[dict, dict, dict, str | None]:
    """What undoing ``chain`` writes: ``(ours, target, values, id3_tag)``: every field's value
    as the last write left it and as it was before the first; the fields to set (all of them,
    or, where a write converted the ID3v2 version, those the writes before it touched); and
    that write's stored tag, put back whole first (None: no conversion)."""
    ours, target = {}, {}
    for entry in chain:
        for name, values in entry["fields"].items():
            target.setdefault(name, values["old"])
            ours[name] = values["new"]
    converted = next((i for i, e in enumerate(chain) if e.get("id3_version")), None)
    if converted is None:
        return ours, target, target, None
    before = {name for entry in chain[:converted] for name in entry["fields"]}
    # a write that converted the version without its stored tag (its journal line was damaged)
    # gives no tag to put back: "", which _undo_chain refuses by name
    return ours, target, {n: v for n, v in target.items() if n in before}, chain[converted].get("id3_tag") or ""


def _undo_file(entries: list[dict], handle, earlier: dict) -> UndoRecord:
    """Put back the fields of one file as they were before genrekit's first write to it: each
    chain of writes (:func:`_chain`) undone in turn, the newest first, journalling the undo in
    ``handle``. A chain is undone where the file holds what genrekit wrote: the fields are
    compared, not the file's size or mtime, so a player that saved a play count, or another
    tagger's edit of other fields, does not stop it. Where another genre replaced an older
    chain's before a newer chain was written, the undo stops at that genre: it is the owner's.
    A chain that converted the ID3 version puts the whole old tag back, so it is undone only
    where nothing else changed the file since."""
    path = entries[-1]["path"]
    undone: UndoRecord | None = None  # the chains put back so far, merged
    afters = []  # the file as each chain's undo left it (this run's or an earlier one's)
    newest = True
    while entries:
        last = entries[-1]
        undoing = earlier.get(_progress_key(_written_at(last), _write_of(last)))  # an earlier undo of it: it was made
        if last["after"] is None and undoing is None and _never_made(last):
            entries = entries[:-1]
            continue
        chain = _chain(entries)
        outcome, overridden = _undo_chain(chain, path, handle, earlier, newest)
        entries = entries[:len(entries) - len(chain)]
        if outcome.status not in ("restored", "already undone"):
            if undone is not None and overridden:
                afters.append(outcome.after)
                undone.reason = (f"{path}: another genre replaced an earlier write of genrekit's before its later "
                                 "one; that genre, the owner's, is what was put back")
                break
            if undone is not None:
                outcome.reason = f"{outcome.reason} (the later writes were put back)"
            return outcome
        afters.append(outcome.after)
        if undone is None:
            undone = outcome
        else:  # an earlier chain: its old values are the ones put back now
            undone.new, undone.write = outcome.new, outcome.write
            undone.fields = (undone.fields or {}) | {n: {"old": undone.fields.get(n, v)["old"], "new": v["new"]}
                                                     for n, v in (outcome.fields or {}).items()}
            if outcome.status == "restored":
                undone.status, undone.after = "restored", outcome.after
        newest = False
    if undone is None:
        return UndoRecord(path, "nothing to undo", f"{path}: its tag write was interrupted before it was made", None)
    try:
        now = _stat(path)
    except OSError:
        now = None
    if now in afters:  # the undo that left the file as it is now, whichever chain's it was
        undone.after = now
    if undone.status == "restored" and undone.field is not None:
        from genrekit.audio import tags

        undone.new = tags.read_genre_field(path, trust_name=True).fields.get(undone.field)
    return undone


def _write_of(entry: dict) -> dict:
    """The write ``entry`` (the last of a chain) as an undo's progress lines record it."""
    return {"before": entry["before"], "after": entry["after"]}


def _progress_key(path: str, write: dict) -> tuple[str, str]:
    """How the undo's progress lines of one write (:func:`_write_of`) are found."""
    return os.path.realpath(path), json.dumps(write, sort_keys=True)


def _never_made(entry: dict) -> bool:
    """Whether a write journalled by a run killed before it recorded the write's end was never
    made: the file holds the write's old values, not its new ones."""
    from genrekit.audio import tags

    try:
        now = tags.read_genre_field(entry["path"], trust_name=True)
    except Exception:  # mutagen raises many types; the undo of its chain reports the file
        return False
    current = {n: now.fields.get(n) for n in entry["fields"]}
    version = entry.get("id3_version") or {}
    return (current == {n: v["old"] for n, v in entry["fields"].items()}
            and current != {n: v["new"] for n, v in entry["fields"].items()}
            and now.version == version.get("old", now.version))


def _refused(handle, line: dict, reason: str, old, new, *, overridden: bool) -> tuple[UndoRecord, bool]:
    """An undo's refusal of a chain, journalled: its record (the genre field found ``old``, to be
    ``new``), and whether the file's genre fields hold another's values than genrekit wrote."""
    append_record(handle, line | {"state": "refused", "reason": reason})
    return UndoRecord(line["path"], "refused", reason, line["field"], old, new), overridden


#: The most padding an undo adds to give a file back its size before genrekit's write (mutagen
#: trims a padding over 10 KiB + 1% of the file, so the write may have removed that much; a
#: journal edited to say more would have padded a song to any size).
MAX_PADDING_RESTORED = 1 << 20


def _undo_chain(chain: list[dict], path: str, handle, earlier: dict, newest: bool) -> tuple[UndoRecord, bool]:
    """Undo one chain of writes to ``path`` (see :func:`_undo_file`): its record, and whether
    it was refused because the file's genre fields hold another's values than genrekit wrote."""
    from genrekit.audio import tags

    last = chain[-1]
    ours, target, values, id3_tag = _undo_plan(chain)
    name = next(iter(chain[0]["fields"]))  # the genre field
    write = _write_of(last)
    line = {"path": path, "write": write, "field": name, "old": ours[name], "new": target[name],
            "fields": {n: {"old": ours[n], "new": target[n]} for n in target}}
    if _written_at(last) != path:  # moved since: its progress lines are found by the path it was written at
        line["written_at"] = _written_at(last)
    previous = earlier.get(_progress_key(_written_at(last), write))
    if id3_tag == "":
        reason = (f"{path}: a write converted its ID3v2 version, and the journal line holding the tag as it was "
                  "is damaged (see the journal's .damaged copy); left as it is")
        return _refused(handle, line, reason, ours[name], target[name], overridden=False)
    if previous is not None and previous["state"] == "restored":
        return UndoRecord(path, "already undone", f"{path}: its tags were put back by an earlier --undo", name,
                          ours[name], target[name], previous.get("after"), write, line["fields"]), False
    converting = next((entry for entry in chain if entry.get("id3_version")), None)
    stored_problem = converting and id3_tag and tags.stored_tag_problem(
        id3_tag, converting["id3_version"]["old"], {n: v["old"] for n, v in converting["fields"].items()})
    if stored_problem:
        reason = (f"{path}: a write converted its ID3v2 version, and {stored_problem}: damaged or edited; left as "
                  "it is")
        return _refused(handle, line, reason, ours[name], target[name], overridden=False)
    if not os.path.exists(path):
        reason = (f"{path}: missing (genrekit wrote its tags, and it was moved, renamed or deleted since); nothing "
                  "put back. A file moved within the library: `genrekit tag LIBRARY` with this results table as "
                  "--out (no --write-tags needed) records where it went, and --undo then puts its tags back there")
        return _refused(handle, line, reason, ours[name], target[name], overridden=False)
    try:
        now = tags.read_genre_field(path, trust_name=True)
    except Exception as exc:  # gone, or no longer a taggable file
        reason = f"{path}: genre tag not read ({_without_outcome(tags.failure_words(exc, path))}); left as it is"
        return _refused(handle, line, reason, ours[name], target[name], overridden=False)
    found = {n: now.fields.get(n) for n in target}
    if previous is not None and previous["state"] == "restoring" and found == target:
        stat = _stat(path)
        append_record(handle, line | {"state": "restored", "after": stat, "resumed": True})
        return UndoRecord(path, "restored", None, name, ours[name], target[name], stat, write, line["fields"]), False
    if found[name] != ours[name] and not newest and id3_tag is None:
        return _own_fields_only(path, handle, line, ours, target, found, name), True
    if found != ours:
        reason = _refusal_of_changed(path, name, ours, found, now)
        return _refused(handle, line, reason, now.fields.get(name), target[name], overridden=True)
    if changed := _length_changed(path, last.get("duration")):
        reason = (f"{path}: {changed}; left as it is (to undo genrekit's write alone, set its genre back by hand to "
                  f"{'; '.join(target[name] or []) or 'none'})")
        return _refused(handle, line, reason, now.fields.get(name), target[name], overridden=False)
    if id3_tag is not None and (not newest or last["after"] is None or _stat(path) != last["after"]
                                or not _same_id3_tag(path, last)):
        reason = (f"{path}: genrekit converted its ID3 tag's version, and undoing that puts the whole old tag "
                  "back, but the file changed since (another field or its audio: putting the old tag back would "
                  "undo that change too); its tags are left as they are. To undo genrekit's alone, set its genre "
                  f"back by hand to {'; '.join(target[name] or []) or 'none'} (the old tag, whole, is kept in the "
                  "journal's line of that write, its id3_tag)")
        return _refused(handle, line, reason, now.fields.get(name), target[name], overridden=False)
    append_record(handle, line | {"state": "restoring"})  # before the write: an interrupted undo resumes
    # a file nothing changed since genrekit's last write gets its size back too: its bytes, as they were
    untouched = newest and last["after"] is not None and _stat(path) == last["after"]
    size_wanted = chain[0]["before"]["size"] if untouched else None
    if size_wanted is not None and size_wanted - last["after"]["size"] > MAX_PADDING_RESTORED + size_wanted // 100:
        logger.warning("%s: not padded back to the %d bytes its journal says it had (it has %d: no tag write of "
                       "genrekit's changes a file by so much)", path, size_wanted, last["after"]["size"])
        size_wanted = None
    try:
        tags.write_fields(path, values, expect=ours, remove_empty=not chain[0]["has_tags"], id3_tag=id3_tag,
                          trust_name=True, size_wanted=size_wanted)
    except tags.TagConflict as exc:  # changed between the read above and the write
        return _refused(handle, line, str(exc), ours[name], target[name], overridden=False)
    except Exception as exc:  # mutagen raises many types; the undo goes on with the next file
        reason = f"{path}: genre tag not put back ({_without_outcome(tags.failure_words(exc, path))}); left as it is"
        append_record(handle, line | {"state": "failed", "reason": reason})
        return UndoRecord(path, "failed", reason, name, ours[name], target[name]), False
    stat = _stat(path)
    append_record(handle, line | {"state": "restored", "after": stat})
    return UndoRecord(path, "restored", None, name, ours[name], target[name], stat, write, line["fields"]), False


def _length_changed(path: str, duration) -> str | None:
    """Why the audio at ``path`` is not what genrekit tagged there, ``duration`` seconds long (its
    record's; None: a journal from before it was kept): another song put at its name, which holds
    the same fields where one run tagged both alike (it got the first one's old genre), or the
    song cut or re-encoded since. None where its length agrees, or is not known for sure: an MP3
    that declares none, whose length a run without PyAV guessed from its size."""
    from genrekit.audio import info, mp3_length_undeclared
    from genrekit.audio.io import is_seconds

    if not is_seconds(duration):
        return None
    try:
        if mp3_length_undeclared(path):
            return None
        now = info(path).duration
    except Exception:  # a header that cannot be read: the tag write reports the file
        return None
    if abs(now - duration) <= max(1.0, 0.01 * duration):  # decoders differ by a frame or two
        return None
    return (f"its audio is {now:.1f} s long, where the song genrekit tagged at this name was {duration:.1f} s: "
            "another song was put there since, or the song was cut or re-encoded")


def _refusal_of_changed(path: str, name: str, ours: dict, found: dict, now) -> str:
    """Why a file whose fields no longer hold what genrekit wrote is left as it is: its genre
    changed (by its owner, or by a later genrekit run of another results table), or only
    genrekit's own fields did (another tagger edited or removed them)."""
    from genrekit.audio import tags

    if found[name] == ours[name]:
        changed = ", ".join(n for n in found if found[n] != ours[n])
        return (f"{path}: its {name} {found[name]!r} is still what genrekit wrote, but genrekit's own {changed} "
                "changed since it was tagged (another tagger edited or removed them), so nothing proves the genre is "
                "still genrekit's; left as it is")
    if tags.genres_by_genrekit(now):
        return (f"{path}: expected {name} {ours[name]!r} (written by genrekit), found {found[name]!r}, which a later "
                f"genrekit run wrote (model {now.genrekit_model or '?'}), not with this results table: undo that run's table first, then "
                "this one; left as it is")
    return (f"{path}: expected {name} {ours[name]!r} (written by genrekit), found {found[name]!r}: the file's tags "
            "changed since it was tagged; left as it is")


def _own_fields_only(path: str, handle, line: dict, ours: dict, target: dict, found: dict, name: str) -> UndoRecord:
    """An older chain whose genre the owner replaced before genrekit's later write: the genre
    stays the owner's; genrekit's own fields of that chain that still hold what it wrote are
    removed (put back). A refused record (the chain is not undone), with ``after`` where the
    file was written."""
    from genrekit.audio import tags

    reason = f"{path}: the owner's genre {found[name]!r} replaced genrekit's {ours[name]!r}; kept"
    # genrekit's own fields; an MP4's gnre atoms are the genre, which stays the owner's
    mine = {n: target[n] for n in target if n not in (name, tags.MP4_GNRE) and found[n] == ours[n]}
    if not mine:
        return UndoRecord(path, "refused", reason, name, found[name], found[name])
    append_record(handle, line | {"state": "restoring", "fields_only": sorted(mine)})
    try:
        tags.write_fields(path, mine, expect={n: ours[n] for n in mine}, trust_name=True)
    except Exception as exc:  # mutagen raises many types; the genre is the owner's either way
        reason = f"{reason}; genrekit's own fields not removed ({tags.failure_words(exc, path)})"
        append_record(handle, line | {"state": "failed", "reason": reason})
        return UndoRecord(path, "refused", reason, name, found[name], found[name])
    stat = _stat(path)
    append_record(handle, line | {"state": "owner's genre kept", "after": stat})
    return UndoRecord(path, "refused", reason, name, found[name], found[name], stat)


def undo_tags(results: str | os.PathLike, *, on_file=None) -> UndoSummary:
    """Put back the genre tags that ``genrekit tag --write-tags`` runs with this ``results``
    table changed, exactly as they were (a field that was absent is removed again), file by file.

    Every write of every run is undone, the newest first, where the file still holds the values
    genrekit wrote (:func:`_undo_file`); a file whose genre fields someone changed since is
    refused, with the reason. Each file put back gets its row of the results
    table updated (``tag_action`` ``undone``, ``tag_old`` the genres the undo found, ``tag_new``
    those it put back, ``key``/``size``/``mtime_ns`` as the file is now), and a record in the
    run's journal, so a later ``genrekit tag`` run with this table neither predicts it again nor
    takes its tags for genrekit's (with ``--write-tags`` its tags are decided again). The undo journals its own progress in
    ``<results>.undo.jsonl``, each file before and after its write, so an interrupted undo is
    resumed by running it again, and a file already put back is not touched again. A file
    moved or renamed since its write is undone where it is now: where a later ``genrekit tag``
    run found it (its journal's ``moved`` line), else where its row of the results table
    says (:func:`_moves_in_table`); one found nowhere is refused as missing.
    on_file : called with each file's :class:`UndoRecord` as it is done
    """
    from genrekit.audio import tags

    tags.require_mutagen("tag --undo")
    if on_file is not None and not callable(on_file):  # it failed after the first file was put back
        raise ParameterError(f"on_file={on_file!r:.40}: expected a function (or None)")
    started = time.perf_counter()
    results = Path(path_given(results, "results"))
    journal = results.with_name(results.name + ".journal.jsonl")
    if not journal.exists():
        raise ParameterError(f"{results}: expected the results of a `genrekit tag --write-tags` run, with its "
                             f"journal {journal.name} beside it; found "
                             + ("no journal" if results.exists() else "neither (no such file)"))
    with _results_lock(results):  # a tag run appending to the journal is done first
        records = reopen_journal(journal)  # damaged lines kept aside and said once, not again by _record_undo
        writes = _tag_writes(records)
        moved_from = _moves_in_table(results, writes, records)  # journals from before moves were recorded
        progress = results.with_name(results.name + ".undo.jsonl")
        lines = read_journal(progress, undo_line)
        with atomic_path(progress, durable=True) as temporary:  # without a torn last line, before appending to it
            temporary.write_text("".join(json.dumps(r) + "\n" for r in lines), encoding="utf-8")
        earlier = {_progress_key(r.get("written_at", r["path"]), r["write"]): r for r in lines}
        files, swept = [], set()
        with open(progress, "a", encoding="utf-8") as handle:
            for real in sorted(writes):
                if not writes[real]:
                    continue
                foreign = next((why for entry in writes[real] if (why := _foreign_write(entry))), None)
                if foreign is not None:  # nothing of that file's is trusted
                    path = writes[real][-1]["path"]
                    outcome = UndoRecord(path, "refused", f"{path}: {foreign}; left as it is")
                else:
                    # a killed run's copy of a song, which no later write there removed: beside the file itself
                    for folder in {os.path.dirname(real), os.path.dirname(writes[real][-1]["path"])} - swept:
                        swept.add(folder)
                        tags.remove_stale_copies(folder)
                    outcome = _undo_file(writes[real], handle, earlier)
                files.append(outcome)
                if on_file is not None:
                    on_file(outcome)
        _record_undo(results, journal, [f for f in files if f.status in ("restored", "already undone") and f.after],
                     moved_from)
        return UndoSummary(results=results, progress=progress, files=files, seconds=time.perf_counter() - started)


def _undone_record(record: dict, undone: UndoRecord) -> dict:
    """A file's journal record after an undo: keyed as the file is now (its key's kind, path or
    content, kept), its tag columns saying what the undo did."""
    prefix, rest = _analysis_prefix(record)  # the model and analysis options the file was predicted with, kept
    key, size, mtime_ns = _key(Path(undone.path), rest.startswith("|sha256:"), prefix)
    fields = undone.fields or {}
    return record | {
        "key": key, "size": size, "mtime_ns": mtime_ns, "tag_action": "undone", "tag_written": False,
        "tag_old": undone.old, "tag_new": undone.new, "tag_error": None,
        "tag": {"state": "undone", "fields": fields, "before": (undone.write or {}).get("after"),
                "after": undone.after}}


def _record_undo(results: Path, journal: Path, undone: list[UndoRecord],
                 moved_from: dict[str, str] | None = None) -> None:
    """Record what an undo put back: in the tag journal (each file keyed again as it is now, so a
    re-run neither predicts it again nor takes its tags for ours) and in the results table's rows
    (``key``, ``size``, ``mtime_ns`` and the ``tag_*`` columns), rewritten atomically.
    ``moved_from``: new real path -> old, for files the undo followed by the table
    (:func:`_moves_in_table`), whose journal record is the old path's."""
    if not undone:
        return
    records, latest = reopen_journal(journal), {}
    for record in records:
        latest[os.path.realpath(record["path"])] = record
    changed = {}
    with open(journal, "a", encoding="utf-8") as handle:
        for outcome in undone:
            real = os.path.realpath(outcome.path)
            record = latest.get(real)
            if record is None and real in (moved_from or {}) and moved_from[real] in latest:
                record = latest[moved_from[real]] | {"path": outcome.path}
            try:
                now = _stat(outcome.path)
            except OSError:  # deleted or moved since: nothing to record for it
                continue
            if record is None or now != outcome.after:
                continue  # changed again since the undo: its row is the next run's to record
            tag = record.get("tag") or {}
            if not (tag.get("state") == "undone" and tag.get("after") == outcome.after):
                record = _undone_record(record, outcome)
                append_record(handle, record)
            changed[real] = record
    if changed and results.exists():
        _update_table(results, changed)


def _update_table(results: Path, records: dict[str, dict]) -> None:
    """Put ``records`` (real path -> journal record) into the rows of the results table that
    hold those files, cell for cell, leaving every other row and column as it is. A table that
    cannot be read back (edited by hand, damaged) is left as it is: a TagError names it,
    the line and what was found."""
    import csv

    unread = (f"; the tags were put back and {results.name}'s journal records it, but the table's rows were "
              "not updated (it is left as it is)")
    columns = ("key", "size", "mtime_ns", "tag_written", "tag_error", "tag_action", "tag_old", "tag_new")
    if results.suffix == ".jsonl":
        rows = []
        for number, line in enumerate(results.read_text(encoding="utf-8", errors="surrogateescape").splitlines(), 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except (ValueError, RecursionError) as exc:  # a row nested past what Python's parser takes too
                raise TagError(f"{results}: line {number} is not JSON ({exc}){unread}") from exc
            if not isinstance(row, dict) or not _path_text(row.get("path")):
                raise TagError(f"{results}: line {number} is not a row with a 'path' (found "
                                    f"{describe_value(row)}){unread}")
            rows.append(row)
        for row in rows:
            record = records.get(os.path.realpath(row["path"]))
            if record is not None:
                row.update({c: record.get(c) for c in columns})
                row["tag"] = {k: v for k, v in record["tag"].items() if k != "id3_tag"}
        with atomic_path(results) as temporary:
            temporary.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    elif results.suffix == ".csv":
        try:
            with open(results, newline="", encoding="utf-8", errors="surrogateescape") as handle, long_csv_cells():
                reader = csv.DictReader(handle)
                header, rows = reader.fieldnames, list(reader)
        except csv.Error as exc:
            raise TagError(f"{results}: not a CSV table ({exc}){unread}") from exc
        if not header or "path" not in header:
            raise TagError(f"{results}: expected a 'path' column, found {describe_value(header)}{unread}")
        # DictReader puts a short row's missing cells as None values, a long row's extra ones under None
        short = next((n for n, row in enumerate(rows, 2) if None in row or None in row.values()), None)
        if short is not None:
            raise TagError(f"{results}: line {short} does not have the header's {len(header)} cells{unread}")
        text = {"tag_old": lambda v: "" if v is None else json.dumps(v),
                "tag_new": lambda v: "" if v is None else json.dumps(v)}
        for row in rows:
            record = records.get(os.path.realpath(from_spreadsheet_cell(row["path"])))
            if record is not None:
                row.update({c: text.get(c, lambda v: "" if v is None else str(v))(record.get(c))
                            for c in columns if c in row})
                row.update({c: spreadsheet_cell(row[c]) for c in ("key", "tag_error") if c in row})
        with atomic_path(results) as temporary:
            with open(temporary, "w", newline="", encoding="utf-8", errors="surrogateescape") as handle:
                writer = csv.DictWriter(handle, fieldnames=header)
                writer.writeheader()
                writer.writerows(rows)
    else:
        import pyarrow as pa
        import pyarrow.parquet as pq

        try:
            rows = pq.read_table(results).to_pylist()
        except (pa.ArrowException, OSError) as exc:
            raise TagError(f"{results}: not a Parquet table ({exc}){unread}") from exc
        if any(not _path_text(row.get("path")) for row in rows):
            raise TagError(f"{results}: expected a 'path' column of text without NUL characters{unread}")
        records = {_utf8_row({"path": real})["path"]: record for real, record in records.items()}
        shown = [_utf8_row({"path": os.path.realpath(row["path"])})["path"] for row in rows]
        alike = Counter(shown)
        for row, path in zip(rows, shown):
            record = records.get(path)
            if record is None:
                continue
            if alike[path] > 1:  # a name that is not UTF-8 and one spelled with its escapes look alike here:
                before = (record.get("tag") or {}).get("before") or {}  # the row the write left is the file's
                if (row.get("size"), row.get("mtime_ns")) != (before.get("size"), before.get("mtime_ns")):
                    continue
            row.update(_utf8_row({c: record.get(c) for c in columns if c in row}))
        with atomic_path(results) as temporary:
            pq.write_table(pa.Table.from_pylist(rows), temporary)
