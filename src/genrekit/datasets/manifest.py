"""CSV manifests: ``path,label[,artist][,split][,track_id]``."""

from __future__ import annotations

import math
import os
from pathlib import Path, PurePath, PurePosixPath
from urllib.parse import urlsplit

import pandas as pd

from genrekit.audio import remote
from genrekit.datasets.core import Dataset, DatasetProblem, Track, merge_case_spellings
from genrekit.errors import DatasetError

REQUIRED = ("path", "label")
OPTIONAL = ("artist", "split", "track_id", "duration")
SPLIT_NAMES = ("train", "val", "test")


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


def load_manifest(csv_path: str | os.PathLike) -> Dataset:
    """Tracks listed in a CSV file; relative paths are relative to the CSV's folder; a path
    may also be a URL (``s3://bucket/song.mp3``, :mod:`genrekit.audio.remote`).

    Missing files, empty labels, unknown split names and repeated track ids are reported
    as problems and those rows left out. (URLs are not checked here, which would be a
    request per row: a missing object fails when it is read, named. A URL's options other
    than ``region`` are refused: a manifest from elsewhere must not send requests signed
    with the user's credentials to its own host, ``endpoint_override``.)

    Parameters
    ----------
    csv_path : path
        The CSV file, with the columns ``path`` and ``label``, and optionally ``artist``,
        ``split`` (``train``, ``val`` or ``test``), ``track_id`` and ``duration`` (seconds);
        every cell is read as text.

    Returns
    -------
    Dataset
        Named after the CSV file (without its extension), its ``root`` the CSV's folder. A
        track's id is its ``track_id`` cell, else its path as the row gives it without the
        extension (of a URL: host and path), with the extension where an earlier row took
        that id for another file. Rows listing a file already listed, or a duration that is
        not a number of seconds > 0, are problems too. Labels that differ only in case or
        Unicode composition are one genre (each other spelling a problem).

    Raises
    ------
    DatasetError
        The file cannot be read as CSV, lacks the ``path`` or ``label`` column, or has no
        usable row.
    """
    csv_path = Path(csv_path)
    try:
        table = pd.read_csv(csv_path, dtype=str, keep_default_na=False)
    except (OSError, pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise DatasetError(f"{csv_path}: cannot read the manifest as CSV ({exc})") from exc
    if not isinstance(table.index, pd.RangeIndex):  # pandas took the first cells as an index: every row shifted
        raise DatasetError(f"{csv_path}: its rows hold more cells than its header names ({','.join(map(str, table.columns))}); "
                           "expected one cell per column")
    missing = [c for c in REQUIRED if c not in table.columns]
    if missing:
        raise DatasetError(
            f"{csv_path}: manifest lacks column(s) {', '.join(missing)}; "
            f"expected path,label[,artist][,split], found {','.join(map(str, table.columns))}"
        )
    tracks: list[Track] = []
    problems: list[DatasetProblem] = []
    seen: set[str] = set()
    files: dict[str | Path, str] = {}  # each listed file -> its track id
    for line, row in enumerate(table.to_dict("records"), start=2):
        where = f"{csv_path}:{line}"
        nul = next((column for column in ("path", "track_id", "label", "artist") if "\0" in row.get(column, "")), None)
        if nul:  # no file system takes it (resolving the path, or naming an output file, raises)
            problems.append(DatasetProblem(where, f"a NUL character in the {nul}"))
            continue
        url = remote.is_url(row["path"].strip())
        if url:
            path = row["path"].strip()
            parts = urlsplit(path)
            default_id = _without_suffix(PurePosixPath(parts.netloc + parts.path))
        else:
            path = Path(row["path"])
            path = path if path.is_absolute() else csv_path.parent / path
            default_id = _without_suffix(Path(row["path"]))
        label = row["label"].strip()
        split = row.get("split", "").strip() or None
        try:
            same_file = path if url else path.resolve()  # one file however the row spells its path
        except (RuntimeError, OSError) as exc:  # a loop of links (Python 3.11 raises RuntimeError)
            problems.append(DatasetProblem(str(path), f"listed at {where}: cannot be resolved ({exc})"))
            continue
        if default_id in seen and same_file not in files:  # song.flac after song.wav: its own id, with extension
            default_id = str(PurePosixPath(parts.netloc + parts.path) if url else Path(row["path"]))
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
        elif url and (refused := remote.options_refused_in_files(path)):
            problems.append(DatasetProblem(where, f"URL option(s) {', '.join(refused)}: a manifest may not send "
                                                  "requests elsewhere (set AWS_ENDPOINT_URL, or give the URL on the "
                                                  f"command line); allowed: {', '.join(sorted(remote.FILE_URL_OPTIONS))}"))
        elif not url and not _is_file(path):
            problems.append(DatasetProblem(str(path), f"listed at {where} but not found"))
        elif not label:
            problems.append(DatasetProblem(str(path), f"empty label at {where}"))
        elif split is not None and split not in SPLIT_NAMES:
            problems.append(DatasetProblem(str(path), f"split {split!r} at {where}; expected one of {', '.join(SPLIT_NAMES)}"))
        elif same_file in files:  # the file itself first: a repeated row repeats its id too
            problems.append(DatasetProblem(str(path), f"listed again at {where} (first as track {files[same_file]!r})"))
        elif track_id in seen:
            problems.append(DatasetProblem(str(path), f"track id {track_id!r} repeated at {where}"))
        elif seconds is not None and not (math.isfinite(seconds) and seconds > 0):
            problems.append(DatasetProblem(str(path), f"duration {duration!r} at {where}: expected a number of "
                                                      "seconds > 0, or nothing"))
        else:
            seen.add(track_id)
            files[same_file] = track_id
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
    if not tracks:
        shown = "; ".join(f"{problem.path}: {problem.reason}" for problem in problems[:3])
        raise DatasetError(f"{csv_path}: no usable rows ({len(problems)} problems"
                           + (f", first: {shown}" if shown else "") + ")")
    tracks, merged = merge_case_spellings(tracks, str(csv_path))
    return Dataset(name=csv_path.stem, root=str(csv_path.parent), tracks=tracks, problems=problems + merged)
