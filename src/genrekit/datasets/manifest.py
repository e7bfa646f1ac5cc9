"""CSV manifests: ``path,label[,artist][,split][,track_id]``."""

from __future__ import annotations

import codecs
import math
import os
import re
from pathlib import Path, PurePath, PurePosixPath
from urllib.parse import urlsplit

import pandas as pd

from genrekit._files import long_csv_cells, not_regular_file, path_given
from genrekit.audio import remote
from genrekit.datasets.core import Dataset, DatasetProblem, Track, merge_case_spellings
from genrekit.errors import DatasetError
from genrekit.untrusted import label_problem, text_problem

REQUIRED = ("path", "label")
OPTIONAL = ("artist", "split", "track_id", "duration")
SPLIT_NAMES = ("train", "val", "test")
#: The words datasets use for their parts (FMA's "training", "validation"), any case
SPLIT_WORDS = {"train": "train", "training": "train", "val": "val", "valid": "val", "validation": "val",
               "dev": "val", "test": "test", "testing": "test"}


def _is_file(path: Path) -> bool:
    """Whether ``path`` is a file; False also for a name the file system refuses (too long)."""
    try:
        return path.is_file()
    except OSError:
        return False


def _without_suffix(path: PurePath) -> str:
    """A row's default track id: its path without the extension (a path without a name, such
    as ``.`` or ``/``, as it is: the row is reported, not loaded)."""
    return str(path.with_suffix("") if path.name else path)


def _folder_spellings(folder: Path) -> tuple[Path, ...]:
    """The manifest's folder as an absolute path, and through its links (where they differ)."""
    return tuple(dict.fromkeys((Path(os.path.abspath(folder)), Path(os.path.realpath(folder)))))


def _inside_folder(written: Path, folders: tuple[Path, ...]) -> PurePath | None:
    """``written`` (an absolute path) relative to the manifest's folder (:func:`_folder_spellings`),
    as written or through its own folder's links; None where it is not under it."""
    path = Path(os.path.normpath(written))
    for base in folders:
        if path.is_relative_to(base):
            return path.relative_to(base)
    linked = Path(os.path.realpath(path.parent), path.name)
    return linked.relative_to(folders[-1]) if linked.is_relative_to(folders[-1]) else None


def _id_ladder(written: Path, folders: tuple[Path, ...]) -> list[tuple[str, str]]:
    """A local row's default track ids, ``(without extension, with it)`` per level, in order of
    preference. A relative path gives one level: itself, as written. An absolute path under the
    manifest's folder (:func:`_folder_spellings`) is made relative to it (the id it would have as
    a relative path); one elsewhere gives its name, then its last folder and name, and so on up
    (never its whole folder where the name alone is unique): ids hold no user's folder, so
    neither do the tables and reports they go into."""
    if written.is_absolute():
        inside = _inside_folder(written, folders)
        if inside is None:
            parts = Path(os.path.normpath(written)).parts[1:]  # without its anchor ("/", "C:\\") and any ..
            levels = [PurePath(*parts[-k:]) for k in range(1, len(parts) + 1)]
            if levels:
                return [(_without_suffix(level), str(level)) for level in levels]
        else:
            written = inside
    return [(_without_suffix(written), str(written))]


def _free_id(ladder: list[tuple[str, str]], seen: set[str], owners: dict[str, str], owner: str | None) -> str:
    """The first id of ``ladder`` (:func:`_id_ladder`) no earlier row took: at each level the
    id without the extension, or with it where the row that took that one lists the same file
    but for its extension (``song.flac`` after ``song.wav``); on the last level, with the
    extension (a repeated id is then reported)."""
    for plain, named in ladder[:-1]:
        if plain not in seen:
            return plain
        if owner is not None and owners.get(plain) == owner and named not in seen:
            return named
    plain, named = ladder[-1]
    return plain if plain not in seen else named


def _read_table(csv_path: Path) -> pd.DataFrame:
    """The manifest's cells as text, its column names stripped and in lower case. Cells split
    by commas, or by semicolons (as spreadsheets in many languages save CSV) or tabs where
    the header is split by them (:func:`_separator`)."""
    if csv_path.suffix.lower() in (".json", ".jsonl", ".parquet", ".xlsx", ".xls"):
        raise DatasetError(f"{csv_path}: expected a CSV manifest (path,label[,artist][,split]), found a "
                           f"{csv_path.suffix.lower()[1:].upper()} file")
    try:
        table = pd.read_csv(csv_path, dtype=str, keep_default_na=False, sep=_separator(csv_path))
    except UnicodeDecodeError as exc:  # pandas says neither where (it decodes a chunk) nor what it expected
        raw = csv_path.read_bytes().removeprefix(codecs.BOM_UTF8)  # its positions as the file's, less the BOM
        try:
            raw.decode("utf-8")
            where = ""
        except UnicodeDecodeError as first:
            line = raw[:first.start].count(b"\n") + 1
            where = f" byte {raw[first.start:first.start + 1]!r} at line {line},"
        raise DatasetError(f"{csv_path}: expected UTF-8 text, found{where} not UTF-8 (saved in another encoding, such "
                           "as Latin-1: save the manifest as UTF-8)") from exc
    except pd.errors.ParserError as exc:  # pandas: "Error tokenizing data. C error: Expected 2 fields in line 8, saw 3\n"
        cells = re.search(r"Expected (\d+) fields in line (\d+), saw (\d+)", str(exc))
        if cells is None:
            raise DatasetError(f"{csv_path}: cannot read the manifest as CSV ({str(exc).strip()})") from exc
        expected, line, found = cells.groups()
        raise DatasetError(f"{csv_path}: line {line} has {found} cells, the header {expected} (a cell holding the "
                           "separator needs quotes: \"Song, Part 2.mp3\")") from exc
    except (OSError, pd.errors.EmptyDataError) as exc:
        raise DatasetError(f"{csv_path}: cannot read the manifest as CSV ({exc})") from exc
    if not isinstance(table.index, pd.RangeIndex):  # pandas took the first cells as an index: every row shifted
        raise DatasetError(f"{csv_path}: its rows hold more cells than its header names ({','.join(map(str, table.columns))}); "
                           "expected one cell per column")
    names = [str(column).strip().lower() for column in table.columns]
    # pandas renames a name given twice exactly: "label,label" reads as label, label.1
    unnumbered = [re.sub(r"\.\d+$", "", name) for name in names]
    renamed = [base in names[:i] for i, base in enumerate(unnumbered)]
    given = [base if was else name for name, base, was in zip(names, unnumbered, renamed)]
    repeated = sorted({name for name in given if given.count(name) > 1 and name in REQUIRED + OPTIONAL})
    if repeated:
        header = [re.sub(r"\.\d+$", "", str(column)) if was else str(column)
                  for column, was in zip(table.columns, renamed)]
        raise DatasetError(f"{csv_path}: column(s) {', '.join(repeated)} named twice (in any case); expected each once, "
                           f"found {','.join(header)}")
    table.columns = names
    return table


def _separator(csv_path: Path) -> str:
    """The manifest's cell separator, from its header line: the most frequent of comma,
    semicolon and tab (a comma on a tie or where there is none); a path holding a comma
    further down then stays one cell."""
    try:
        with open(csv_path, encoding="utf-8-sig", errors="replace") as handle:
            header = handle.readline()
    except OSError:
        return ","  # pandas names the file and why
    counts = {separator: header.count(separator) for separator in ",;\t"}
    return max(counts, key=counts.get) if any(counts.values()) else ","


# The longest track id or artist a manifest's cell may give (a path's id is what the path is)
MAX_ID_LENGTH = 1000


def _row_lines(csv_path: Path, rows: int) -> list[int]:
    """The line each of the manifest's ``rows`` data rows starts at, counted as the csv module
    reads the file: a blank line or a quoted cell over several lines moved every later row's
    line in the problems; one per row after the header where the reading disagrees with pandas'."""
    import csv

    lines, start = [], 1
    try:
        with open(csv_path, newline="", encoding="utf-8-sig") as handle, long_csv_cells():
            reader = csv.reader(handle, delimiter=_separator(csv_path))
            for row in reader:
                if any(cell.strip() for cell in row):
                    lines.append(start)
                start = reader.line_num + 1
    except (OSError, UnicodeDecodeError, csv.Error):
        return list(range(2, rows + 2))
    return lines[1:] if len(lines) == rows + 1 else list(range(2, rows + 2))


def _local_path(cell: str, csv_path: Path) -> Path:
    """A row's local file: as the cell spells it, relative to the CSV's folder, else without the
    spaces around it, else with a Windows manifest's backslashes as slashes (where that one exists)."""
    spellings = [cell, cell.strip()] + ([cell.strip().replace("\\", "/")] if os.sep == "/" and "\\" in cell else [])
    paths = [path if path.is_absolute() else csv_path.parent / path for path in map(Path, dict.fromkeys(spellings))]
    return next((path for path in paths if _is_file(path)), paths[0])


def _file_url_path(cell: str) -> str | None:
    """The local path a ``file://`` URL of this machine names (``file:///music/a%20b.mp3``:
    ``/music/a b.mp3``), read as a path is, so that it and a row spelling its path are one file
    (two tracks of one recording could otherwise land in train and test); None for other cells."""
    from urllib.request import url2pathname

    parts = urlsplit(cell.strip())
    if parts.scheme.lower() != "file" or parts.netloc.lower() not in ("", "localhost") or parts.query:
        return None
    return url2pathname(parts.path)


def _not_found(path: Path, cell: str, where: str) -> str:
    try:
        folder = path.is_dir()
    except OSError:  # a name the file system refuses (too long)
        folder = False
    if folder:
        return f"listed at {where} is a folder; expected an audio file"
    try:
        kind = not_regular_file(os.stat(path).st_mode)
    except OSError:
        kind = None
    if kind:  # a pipe would block the first read of it, a device never end
        return f"listed at {where} is not a regular file ({kind}); expected an audio file"
    hint = ""
    if os.sep == "/" and "\\" in cell:
        hint = " (its \\ are Windows' separators: a relative path with them was tried with / too)"
    return f"listed at {where} but not found{hint}"


def load_manifest(csv_path: str | os.PathLike) -> Dataset:
    """Tracks listed in a CSV file; relative paths are relative to the CSV's folder; a path
    may also be a URL (``s3://bucket/song.mp3``, :mod:`genrekit.audio.remote`).

    Column names are matched in any case and with spaces around them; cells may be split by
    commas, or by semicolons or tabs throughout. A path is tried as written, then without
    spaces around it, then (a relative path from Windows) with ``/`` for a backslash.

    Missing files, empty labels and repeated track ids are reported as problems and those
    rows left out, as are track ids and artists over :data:`MAX_ID_LENGTH` characters or
    holding a control character or an invisible mark (genres are checked so too). A
    ``split`` cell is ``train``, ``val`` or ``test`` in any case (also
    ``training``, ``valid``, ``validation``, ``dev``, ``testing``); another word is reported
    and the row kept without a split of its own (``split="dataset"`` then refuses it). (URLs
    are not checked here, which would be a request per row: a missing object fails when it is
    read, named. A URL's options other than ``region`` are refused: a manifest from elsewhere
    must not send requests signed with the user's credentials to its own host,
    ``endpoint_override``.)

    Parameters
    ----------
    csv_path : path
        The CSV file, with the columns ``path`` and ``label``, and optionally ``artist``,
        ``split`` (``train``, ``val`` or ``test``), ``track_id`` and ``duration`` (seconds);
        every cell is read as text.

    Returns
    -------
    Dataset
        Named after the CSV file (without its extension), its ``root`` the CSV's folder, its
        ``source`` the CSV file as given. A track's id is its ``track_id`` cell, else its path
        as the row gives it without the extension (of a URL: host and path), with the extension
        where an earlier row took that id for another file. An absolute path gives no folder
        of the user's to the id (ids go into feature tables and reports): under the CSV's
        folder, the id is the path relative to it (as the row would spell it relative);
        elsewhere, the file's name without the extension, or, where an earlier row took that
        for another file, the name with its last folder (``Album 2/01 Intro``), and so on up
        (a file beside one of the same name but extension: with the extension). Rows listing
        a file already listed are problems too; a duration that is not a number of seconds > 0
        is a problem that keeps the track (the cell is ignored: the file's length is read). Labels that differ only in case or Unicode composition are one genre (each other
        spelling a problem).

    Raises
    ------
    DatasetError
        The file cannot be read as CSV, lacks the ``path`` or ``label`` column, or has no
        usable row.
    """
    csv_path = Path(path_given(csv_path, "csv_path"))
    table = _read_table(csv_path)
    missing = [c for c in REQUIRED if c not in table.columns]
    if missing and any("\0" in str(column) for column in table.columns):  # NULs between the letters: "\0p\0a\0t\0h"
        raise DatasetError(f"{csv_path}: expected UTF-8 text, found UTF-16 (NUL bytes between the header's letters): "
                           "save the manifest as UTF-8")
    if missing:
        # a feature table (features.csv) given as a dataset: its many columns said nothing of that
        table_hint = ("; it looks like a feature table: give it with --table (read_feature_table)"
                      if "path" in missing and len(table.columns) > 10 else "")
        columns = ",".join(map(str, table.columns[:12])) + (f",... ({len(table.columns)} columns)"
                                                             if len(table.columns) > 12 else "")
        raise DatasetError(f"{csv_path}: manifest lacks column(s) {', '.join(missing)}; "
                           f"expected path,label[,artist][,split], found {columns}{table_hint}")
    tracks: list[Track] = []
    problems: list[DatasetProblem] = []
    seen: set[str] = set()
    owners: dict[str, str] = {}  # each local row's track id -> its file as written, without the extension
    folders = _folder_spellings(csv_path.parent)  # an absolute path under it: an id relative to it
    files: dict[str | Path, str] = {}  # each listed file -> its track id
    for line, row in zip(_row_lines(csv_path, len(table)), table.to_dict("records")):
        where = f"{csv_path}:{line}"
        nul = next((column for column in ("path", "track_id", "label", "artist") if "\0" in row.get(column, "")), None)
        if nul:  # no file system takes it (resolving the path, or naming an output file, raises)
            problems.append(DatasetProblem(where, f"a NUL character in the {nul}"))
            continue
        if (local := _file_url_path(row["path"])) is not None:  # this machine's file: one with its path's row
            row["path"] = local
        url = remote.is_url(row["path"].strip())
        if url:
            path = row["path"].strip()
            parts = urlsplit(path)
            located = PurePosixPath(parts.netloc + parts.path)
            ladder, owner = [(_without_suffix(located), str(located))], None
        else:
            path = _local_path(row["path"], csv_path)
            written = Path(row["path"].strip())
            ladder, owner = _id_ladder(written, folders), _without_suffix(written)
        default_id = ladder[0][0]
        label = row["label"].strip()
        split_word = row.get("split", "").strip()
        split = SPLIT_WORDS.get(split_word.lower()) if split_word else None
        try:
            # one file however the row spells its path (a URL: its scheme in any case, an HTTP host too, its
            # region option; a bucket's or a user's name as written: old S3 buckets and HDFS users have capitals)
            if url:
                host = parts.netloc.lower() if parts.scheme.lower() in ("http", "https") else parts.netloc
                same_file = f"{parts.scheme.lower()}://{host}{parts.path}"
            else:
                same_file = path.resolve()
        except (RuntimeError, OSError) as exc:  # a loop of links (Python 3.11 raises RuntimeError)
            problems.append(DatasetProblem(str(path), f"listed at {where}: cannot be resolved ({exc})"))
            continue
        if default_id in seen and same_file not in files:  # another file took it: song.wav before song.flac
            default_id = _free_id(ladder, seen, owners, owner)
        track_id = row.get("track_id", "").strip() or default_id
        duration = row.get("duration", "").strip()
        try:
            seconds = float(duration) if duration else None
        except ValueError:
            seconds = -1.0
        if not row["path"].strip():
            problems.append(DatasetProblem(where, "empty path"))
        elif url and not PurePosixPath(parts.path).name:
            problems.append(DatasetProblem(where, f"{path!r} names no file (expected scheme://bucket/path/song.mp3)"))
        elif url and (refused := remote.url_refused_in_files(path)):
            problems.append(DatasetProblem(where, refused))
        elif not url and not _is_file(path):
            problems.append(DatasetProblem(str(path), _not_found(path, row["path"], where)))
        elif not label:
            problems.append(DatasetProblem(str(path), f"empty label at {where}"))
        elif refused_label := label_problem(label):  # a genre genrekit could not write into tags or a model file
            problems.append(DatasetProblem(str(path), f"label at {where}: {refused_label}; left out"))
        elif refused_text := next((f"{column} at {where}: {problem}" for column in ("track_id", "artist") if (
                problem := text_problem(row.get(column, "").strip(), max_length=MAX_ID_LENGTH))), None):
            # ids and artists go into tables, file names and reports: a 1 MB cell, an escape sequence or a
            # right-to-left override no more than in a genre
            problems.append(DatasetProblem(str(path), f"{refused_text}; left out"))
        elif same_file in files:  # the file itself first: a repeated row repeats its id too
            problems.append(DatasetProblem(str(path), f"listed again at {where} (first as track {files[same_file]!r})"))
        elif track_id in seen:
            problems.append(DatasetProblem(str(path), f"track id {track_id!r} repeated at {where}"))
        else:
            if seconds is not None and not (math.isfinite(seconds) and seconds > 0):  # the file says how long it is
                problems.append(DatasetProblem(str(path), f"duration {duration!r} at {where}: expected a number of "
                                                          "seconds > 0, or nothing; ignored (the file's own length is "
                                                          "read)", left_out=False))
                seconds = None
            if split_word and split is None:  # used, as any row without a split (split="dataset" refuses it)
                problems.append(DatasetProblem(str(path), f"split {split_word!r} at {where}: expected one of "
                                                          f"{', '.join(SPLIT_NAMES)}; kept without a split of its own",
                                                          left_out=False))
            seen.add(track_id)
            files[same_file] = track_id
            if owner is not None:
                owners[track_id] = owner
            tracks.append(
                Track(
                    track_id=track_id,
                    path=str(path),
                    label=label,
                    artist=row.get("artist", "").strip() or None,
                    duration=seconds,
                    split=split,
                )
            )
    if not tracks and table.empty:
        raise DatasetError(f"{csv_path}: holds a header ({','.join(map(str, table.columns))}) and no rows; expected a "
                           "row per song: path,label")
    if not tracks:
        shown = "; ".join(f"{problem.path}: {problem.reason}" for problem in problems[:3])
        raise DatasetError(f"{csv_path}: no usable rows ({len(problems)} problems"
                           + (f", first: {shown}" if shown else "") + ")")
    tracks, merged = merge_case_spellings(tracks, str(csv_path))
    return Dataset(name=csv_path.stem, root=str(csv_path.parent), tracks=tracks, problems=problems + merged,
                   source=str(csv_path))
