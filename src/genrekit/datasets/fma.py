"""The Free Music Archive dataset (Defferrard et al., ISMIR 2017).

Metadata: ``fma_metadata/tracks.csv`` (two header rows: column group, column) and
``fma_metadata/genres.csv``. Audio: ``fma_<size>/NNN/NNNNNN.mp3``. The label is
``track.genre_top``; FMA's own ``set.split`` (training / validation / test) is kept.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import numpy as np
import pandas as pd

from genrekit.datasets.core import Dataset, DatasetProblem, Track, merge_case_spellings
from genrekit.errors import DatasetError
from genrekit.untrusted import label_problem

SUBSETS = ("small", "medium", "large")
_SPLITS = {"training": "train", "validation": "val", "test": "test"}


def _metadata_file(root: Path, name: str) -> Path | None:
    for candidate in (root / "fma_metadata" / name, root / name):
        if candidate.is_file():
            return candidate
    return None


def is_fma(root: str | os.PathLike) -> bool:
    root = Path(root)
    return root.is_dir() and _metadata_file(root, "tracks.csv") is not None


def is_fma_audio_folder(folder: str | os.PathLike) -> bool:
    """Whether ``folder`` is one of FMA's audio folders (``fma_small/``...): its visible
    folders all named by three digits, one of them holding ``NNNNNN.mp3`` files."""
    folders = [p for p in Path(folder).iterdir() if p.is_dir() and not p.name.startswith(".") and p.name != "__MACOSX"]
    return bool(folders) and all(re.fullmatch(r"\d{3}", p.name) for p in folders) and any(
        re.fullmatch(r"\d{6}\.mp3", f.name) for p in folders for f in p.iterdir())


def audio_path(audio_dir: str | os.PathLike, track_id: int) -> Path:
    """``audio_dir/NNN/NNNNNN.mp3``, FMA's layout; ``track_id`` a whole number >= 0 (ValueError)."""
    try:
        number = int(track_id)
    except (OverflowError, ValueError) as exc:  # an infinite or NaN float, text that is not a number
        raise ValueError(f"track id {track_id!r}: expected a whole number >= 0") from exc
    if number < 0 or (isinstance(track_id, float) and number != track_id):
        raise ValueError(f"track id {track_id!r}: expected a whole number >= 0")
    name = f"{number:06d}"
    return Path(audio_dir) / name[:3] / f"{name}.mp3"


def load_genres(path: str | os.PathLike) -> pd.DataFrame:
    """FMA's genre taxonomy: index ``genre_id``; columns ``#tracks, parent, title, top_level``."""
    try:
        genres = pd.read_csv(path, index_col=0)
    except (OSError, pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise DatasetError(f"{path}: cannot read FMA genres.csv ({exc})") from exc
    expected = {"parent", "title", "top_level"}
    if genres.index.name != "genre_id" or not expected <= set(genres.columns):
        raise DatasetError(
            f"{path}: not FMA's genres.csv; expected columns genre_id,#tracks,parent,title,top_level, "
            f"found {genres.index.name},{','.join(genres.columns)}"
        )
    parents = pd.to_numeric(genres["parent"], errors="coerce")
    if parents.isna().any():  # one such row made the column text, and no genre top-level: every track refused
        bad = parents.index[parents.isna()][0]
        raise DatasetError(f"{path}: genre_id {bad}'s parent is {genres.loc[bad, 'parent']!r}; expected a genre id "
                           f"(0 for a top-level genre) on every row ({int(parents.isna().sum())} row(s) without one)")
    return genres.assign(parent=parents)


def top_level_genres(genres: pd.DataFrame) -> list[str]:
    """Titles of the root genres of the taxonomy (FMA's 16 top genres)."""
    return sorted(genres.loc[genres["parent"] == 0, "title"].dropna().astype(str))


def load_tracks(path: str | os.PathLike) -> pd.DataFrame:
    """FMA's tracks.csv with its two-row column header."""
    try:
        tracks = pd.read_csv(path, index_col=0, header=[0, 1], low_memory=False)
    except (OSError, pd.errors.ParserError, ValueError) as exc:
        raise DatasetError(f"{path}: cannot read FMA tracks.csv ({exc})") from exc
    needed = [("set", "subset"), ("set", "split"), ("track", "genre_top")]
    missing = [f"{a}.{b}" for a, b in needed if (a, b) not in tracks.columns]
    if missing:
        raise DatasetError(
            f"{path}: not FMA's tracks.csv; missing column(s) {', '.join(missing)} "
            "(expected two header rows: group, column)"
        )
    return tracks


def load_fma(
    root: str | os.PathLike,
    *,
    subset: str | None = None,
    audio_dir: str | os.PathLike | None = None,
) -> Dataset:
    """Tracks of an FMA subset, labelled with their top genre.

    Parameters
    ----------
    root : folder holding ``fma_metadata/`` (or tracks.csv itself) and ``fma_<subset>/``
    subset : ``small`` (8 genres), ``medium`` (16) or ``large``; each includes the smaller
        (default: the first whose ``fma_<subset>/`` audio folder is there, else ``small``)
    audio_dir : where the mp3 folders are (default ``root/fma_<subset>``)

    Tracks without a top genre, and listed tracks whose audio file is missing, are
    reported as problems, never guessed.
    """
    root = Path(root)
    if subset is None:
        subset = next((s for s in SUBSETS if (root / f"fma_{s}").is_dir()), "small")
    if subset not in SUBSETS:
        raise DatasetError(f"subset={subset!r} is not an FMA subset; expected one of {', '.join(SUBSETS)}")
    tracks_csv = _metadata_file(root, "tracks.csv")
    if tracks_csv is None:
        raise DatasetError(f"{root}: FMA's tracks.csv not found (looked in fma_metadata/ and the folder itself)")
    table = load_tracks(tracks_csv)
    genres_csv = _metadata_file(root, "genres.csv")
    known_top = set(top_level_genres(load_genres(genres_csv))) if genres_csv else None
    audio_dir = Path(audio_dir) if audio_dir is not None else root / f"fma_{subset}"

    level = {name: rank for rank, name in enumerate(SUBSETS)}
    levels = table[("set", "subset")].map(level)
    selected = table[levels.le(level[subset]).fillna(False).astype(bool)]
    artist_column = ("artist", "name") if ("artist", "name") in table.columns else None
    duration_column = ("track", "duration") if ("track", "duration") in table.columns else None

    tracks: list[Track] = []
    # a row cut short, or a subset spelled otherwise ("Small"), was left out without a word
    problems: list[DatasetProblem] = [
        DatasetProblem(str(tracks_csv), f"track {track_id}: subset {value!r} is none of {', '.join(SUBSETS)} "
                                        "(a row cut short, or edited); left out")
        for track_id, value in table.loc[levels.isna(), ("set", "subset")].items()]
    seen: dict[Path, str] = {}  # each file -> the id of the row that gave it
    for track_id, row in selected.iterrows():
        try:
            path = audio_path(audio_dir, track_id)
        except (TypeError, ValueError, OverflowError):  # FMA's ids are whole numbers; this row's is not
            problems.append(DatasetProblem(str(tracks_csv), f"track id {track_id!r} is not a whole number >= 0; left out"))
            continue
        genre = row[("track", "genre_top")]
        if pd.isna(genre) or not str(genre).strip():
            problems.append(DatasetProblem(str(path), f"track {track_id} has no top genre in tracks.csv; left out"))
            continue
        if known_top is not None and genre not in known_top:
            problems.append(DatasetProblem(str(path), f"track {track_id}: genre_top {genre!r} is not a top-level genre of genres.csv"))
            continue
        if refused := label_problem(str(genre)):  # a genre genrekit could not write into tags or a model file
            problems.append(DatasetProblem(str(path), f"track {track_id}: genre_top: {refused}; left out"))
            continue
        if not path.is_file():
            problems.append(DatasetProblem(str(path), f"track {track_id} is listed in the {subset} subset but its audio is missing"))
            continue
        if path in seen:  # one file under two rows (2 and 02; two labels, two splits): the first usable row stands
            problems.append(DatasetProblem(str(path), f"track {track_id} repeats track {seen[path]}'s file; left out"))
            continue
        seen[path] = str(track_id)
        split = _SPLITS.get(str(row[("set", "split")]))
        artist = row[artist_column] if artist_column else None
        duration = pd.to_numeric(row[duration_column], errors="coerce") if duration_column else None
        if duration is not None and not pd.isna(duration) and not (np.isfinite(duration) and duration > 0):
            duration = None  # a damaged duration is not the file's: its audio says how long it is
        tracks.append(
            Track(
                track_id=str(int(track_id)),  # 2, as FMA names it, where one damaged id made the column floats
                path=str(path),
                label=str(genre),
                artist=None if artist is None or pd.isna(artist) else str(artist),
                duration=None if duration is None or pd.isna(duration) else float(duration),
                split=split,
            )
        )
    if not tracks:
        hint = ""
        if not audio_dir.is_dir():  # fma_full/ (untrimmed), or the audio somewhere else
            present = sorted(p.name for p in root.glob("fma_*") if p.is_dir() and p.name != "fma_metadata")
            hint = (f": its audio folder {audio_dir} is not there (found: {', '.join(present) or 'no fma_* folder'}"
                    + ("; give one of them itself, e.g. " + str(root / present[0]) if present else "") + ")")
        raise DatasetError(f"{root}: no usable FMA {subset} tracks ({len(problems)} problems){hint}")
    tracks, merged = merge_case_spellings(tracks, str(tracks_csv))  # " Rock" and "Rock": one genre, as elsewhere
    return Dataset(name=f"fma_{subset}", root=str(root), tracks=tracks, problems=problems + merged)
