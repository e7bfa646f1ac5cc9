"""Folder-per-genre trees and GTZAN's own layouts."""

from __future__ import annotations

import os
import re
import stat
from collections import Counter
from pathlib import Path

from genrekit._files import not_regular_file, path_given
from genrekit.audio import audio_header, is_audio_path
from genrekit.datasets.core import Dataset, DatasetProblem, Track, merge_case_spellings
from genrekit.errors import DatasetError
from genrekit.untrusted import label_problem

GTZAN_GENRES = ("blues", "classical", "country", "disco", "hiphop", "jazz", "metal", "pop", "reggae", "rock")
_GTZAN_NAME = re.compile(r"^(?P<genre>[a-z]+)\.(?P<number>\d{5})$")


def _visible(path: Path) -> bool:
    """Not hidden, and not macOS's __MACOSX folder of AppleDouble files (left by its zip archives)."""
    return not path.name.startswith(".") and path.name != "__MACOSX"


def _inside(path: str, folder: str) -> bool:
    return path == folder or path.startswith(folder.rstrip(os.sep) + os.sep)


def _media_files(folder: Path, accept, *, root: Path | None = None,
                 problems: list[DatasetProblem] | None = None) -> list[Path]:
    """The visible files ``accept`` takes below ``folder``, through linked folders too: each
    real folder once (a link back into ``folder`` is no loop), and never a link to ``root``
    (the dataset's folder, default ``folder``), a folder above it, or a folder of ``root``
    outside ``folder`` (another genre's): those would label other genres' songs with this
    one. Each link left out, folder that cannot be listed, and pipe or device named like a
    song is added to ``problems``."""
    top = os.path.realpath(folder)
    base = os.path.realpath(root if root is not None else folder)
    found, visited = [], set()

    def unlisted(error: OSError) -> None:  # a folder of another owner (permission denied): its songs are lost
        if problems is not None:
            reason = error.strerror or type(error).__name__
            problems.append(DatasetProblem(error.filename or str(folder), f"folder cannot be listed ({reason}); the "
                                                                          "songs in it are left out"))

    for directory, subfolders, names in os.walk(folder, followlinks=True, onerror=unlisted):
        real = os.path.realpath(directory)
        escapes = _inside(base, real) and real != top or _inside(real, base) and not _inside(real, top)
        if real in visited or escapes:
            if escapes and problems is not None:
                problems.append(DatasetProblem(directory, f"linked folder left out: it leads to {real}, outside "
                                                          f"{folder} (the dataset's folder, above it, or another "
                                                          "genre's)"))
            subfolders[:] = []
            continue
        visited.add(real)
        subfolders[:] = sorted(name for name in subfolders if _visible(Path(name)))
        for name in names:
            path = Path(directory) / name
            if not _visible(path):
                continue
            if not accept(path):
                if problems is not None and accept is is_audio_path and (not path.suffix or name != name.rstrip()) \
                        and (header := audio_header(path)):  # passed over without a word: a song of the genre
                    problems.append(DatasetProblem(str(path), f"holds audio ({header}), but its name {name!r} has no "
                                                              "audio extension; left out (name it .mp3, .flac...)"))
                continue
            try:
                mode = path.stat().st_mode
            except OSError:
                mode = None
            if mode is not None and stat.S_ISREG(mode):
                found.append(path)
            elif problems is None:
                continue
            elif mode is None and path.is_symlink():  # a moved store, an unmounted drive
                problems.append(DatasetProblem(str(path), f"dangling link to {os.readlink(path)} (or a loop of links); "
                                                          "left out"))
            elif mode is not None and (kind := not_regular_file(mode)):  # a pipe would block its first read
                problems.append(DatasetProblem(str(path), f"not a regular file ({kind}); not read"))
    return sorted(found)


def _linked_genre_problem(item: Path, root: Path, items: list[Path]) -> str | None:
    """Why a genre folder that is a link is left out: it leads to the dataset's folder or above
    it (every song would be this genre too; ``up -> ..`` read folders outside), or into, or
    around, another genre's folder (``bebop -> jazz``: jazz's songs under both genres)."""
    if not item.is_symlink():
        return None
    real, base = os.path.realpath(item), os.path.realpath(root)
    if _inside(base, real):
        return f"genre folder is a link to {real}, the dataset's folder or above it; its songs are left out"
    for other in items:
        mine = os.path.realpath(other)
        if other != item and other.is_dir() and (_inside(real, mine) or _inside(mine, real)):
            return (f"genre folder is a link to {real}, which holds or is held by the folder of genre "
                    f"{other.name!r}: its songs would carry both genres; left out")
    return None


def _audio_files(folder: Path, **options) -> list[Path]:
    return _media_files(folder, is_audio_path, **options)


def _require_dir(root: str | os.PathLike) -> Path:
    root = Path(path_given(root, "root"))
    if not root.is_dir():
        raise DatasetError(f"{root}: expected a folder of genre folders, found {'a file' if root.exists() else 'nothing'}")
    return root


def load_folder(root: str | os.PathLike, *, name: str | None = None, media: str = "audio") -> Dataset:
    """Every audio file (or, with ``media="image"``, every PNG/JPEG spectrogram image)
    below ``root/<genre>/`` labelled ``<genre>``.

    Track ids are paths relative to ``root`` without the extension (with it where two files
    differ only by their extension). Files directly in ``root`` and empty genre folders are
    reported as problems.

    Parameters
    ----------
    root : path
        The dataset's folder, one folder per genre. Each genre folder is searched recursively,
        through linked folders too, except those leading to another genre's folder, to
        ``root`` or above it (reported as problems). Hidden files and folders are skipped.
    name : str, optional
        The dataset's name (default: the folder's).
    media : {'audio', 'image'}
        Audio files (:func:`genrekit.audio.is_audio_path`), or PNG/JPEG spectrogram images
        for image networks.

    Returns
    -------
    Dataset
        Each track labelled with its genre folder's name; names that differ only in case,
        Unicode composition or surrounding spaces are one genre, spelled as the most of its
        tracks spell it, and each other spelling is reported as a problem.

    Raises
    ------
    DatasetError
        ``media`` is neither, ``root`` is not a folder, or no genre folder holds such a file.
    """
    from genrekit.features.images import is_image_path

    if media not in ("audio", "image"):
        raise DatasetError(f"media={media!r} must be 'audio' or 'image'")
    accept = is_audio_path if media == "audio" else is_image_path
    root = _require_dir(root)
    tracks: list[Track] = []
    problems: list[DatasetProblem] = []
    items = [item for item in sorted(root.iterdir()) if _visible(item)]
    for item in items:
        if item.is_file():
            if accept(item):
                problems.append(DatasetProblem(str(item), f"{media} file outside any genre folder; not labelled"))
            continue
        if refused_label := label_problem(item.name):  # a genre genrekit could not write into tags or a model file
            problems.append(DatasetProblem(str(item), f"genre folder's name: {refused_label}; its songs are left out"))
            continue
        if linked := _linked_genre_problem(item, root, items):
            problems.append(DatasetProblem(str(item), linked))
            continue
        before = len(problems)
        files = _media_files(item, accept, root=root, problems=problems)
        if not files and len(problems) == before:  # else those problems say why
            problems.append(DatasetProblem(str(item), f"genre folder contains no {media} files", left_out=False))
        stems = Counter(path.relative_to(root).with_suffix("") for path in files)
        # song.wav beside song.flac: two tracks, so each keeps its extension in its id; and where
        # that is another's id (song.wav.mp3 beside them), every such file is named by its whole name
        ids = {path: path.relative_to(root) if stems[path.relative_to(root).with_suffix("")] > 1
               else path.relative_to(root).with_suffix("") for path in files}
        taken = Counter(ids.values())
        for path in files:
            track_id = str(path.relative_to(root) if taken[ids[path]] > 1 else ids[path])
            tracks.append(Track(track_id=track_id, path=str(path), label=item.name))
    if not tracks:
        loose = sum(1 for item in root.iterdir() if item.is_file() and accept(item))
        hint = (f"; its {loose} {media} file(s) sit in it directly: give the folder above the genre folders, or "
                "sort the files into one folder per genre" if loose else "")
        raise DatasetError(f"{root}: no {media} files found in genre folders (expected ROOT/<genre>/<file>){hint}")
    tracks, merged = merge_case_spellings(tracks, str(root))
    return Dataset(name=name or root.name, root=str(root), tracks=tracks, problems=problems + merged)


# What a GTZAN copy's folders and files of other names are for, said where they are left out:
# a tree mostly of GTZAN clips is read as GTZAN, so a user's own genre beside them is not
READ_AS_FOLDERS = "left out; to read every folder as a genre and every file in it: --kind folder, or kind='folder'"


def find_gtzan_root(root: str | os.PathLike) -> Path | None:
    """The folder holding GTZAN's genre folders, if ``root`` is (or contains) a GTZAN copy.

    Recognises ``genres/<genre>/<genre>.NNNNN.(au|wav)`` (the original archive) and the
    Kaggle copy's ``Data/genres_original/<genre>/...``.

    Parameters
    ----------
    root : path
        A GTZAN copy, or the folder above it.

    Returns
    -------
    pathlib.Path or None
        The first of ``root``, ``root/genres``, ``root/genres_original`` and
        ``root/Data/genres_original`` where at least half the audio files one folder down are
        named ``<genre>.NNNNN`` after one of GTZAN's ten genres, in that genre's folder; None
        when there is none.
    """
    root = Path(root)
    for candidate in (root, root / "genres", root / "genres_original", root / "Data" / "genres_original"):
        if not candidate.is_dir():
            continue
        files = [p for p in candidate.glob("*/*") if is_audio_path(p) and _visible(p) and _visible(p.parent)]
        # in its genre's own folder: GTZAN clips sorted into folders of other names (Jazz/, Favourites/)
        # are a folder dataset, labelled by those folders; read as GTZAN, none of them was found
        matches = [p for p in files if (m := _GTZAN_NAME.match(p.stem)) and m["genre"] in GTZAN_GENRES
                   and p.parent.name == m["genre"]]
        if files and len(matches) >= 0.5 * len(files):
            return candidate
    return None


def load_gtzan(root: str | os.PathLike) -> Dataset:
    """GTZAN (Tzanetakis & Cook 2002) in its own layout or the Kaggle copy's.

    Track ids are ``<genre>.<NNNNN>``. Folders that are not GTZAN genres, files whose name
    names another genre than their folder, misnamed files and ids present twice (``.au``
    and ``.wav``) are reported as problems and left out. Artists are not known (GTZAN does
    not publish them), so splits group by track; use the fault-filtered split for artist
    disjointness.

    Parameters
    ----------
    root : path
        A GTZAN copy, or the folder above it (see :func:`find_gtzan_root`).

    Returns
    -------
    Dataset
        Named ``gtzan``, its ``root`` the folder holding the genre folders, its tracks sorted
        by id. Of an id present twice, the first file in path order is kept.

    Raises
    ------
    DatasetError
        ``root`` holds no GTZAN copy, or no clip in it passes the checks.
    """
    found = find_gtzan_root(root)
    if found is None:
        raise DatasetError(
            f"{root}: not a GTZAN copy; expected genres/<genre>/<genre>.NNNNN.(au|wav) "
            "or Data/genres_original/<genre>/..."
        )
    tracks: dict[str, Track] = {}
    problems: list[DatasetProblem] = []
    for folder in sorted(p for p in found.iterdir() if p.is_dir() and _visible(p)):
        if folder.name not in GTZAN_GENRES:
            problems.append(
                DatasetProblem(str(folder), f"unknown genre folder {folder.name!r}; GTZAN's genres are {', '.join(GTZAN_GENRES)} "
                                            f"({READ_AS_FOLDERS})")
            )
            continue
        before = len(problems)
        files = _audio_files(folder, root=found, problems=problems)
        if not files and len(problems) == before:  # said of a folder dataset's; a GTZAN copy's went unsaid
            problems.append(DatasetProblem(str(folder), "genre folder contains no audio files", left_out=False))
        for path in files:
            match = _GTZAN_NAME.match(path.stem)
            if match is None:
                problems.append(DatasetProblem(str(path), f"file name is not <genre>.NNNNN; not a GTZAN clip ({READ_AS_FOLDERS})"))
                continue
            if match["genre"] != folder.name:
                problems.append(
                    DatasetProblem(str(path), f"file named for genre {match['genre']!r} inside folder {folder.name!r}")
                )
                continue
            if path.stem in tracks:
                problems.append(DatasetProblem(str(path), f"clip {path.stem} is present twice; kept {tracks[path.stem].path}"))
                continue
            tracks[path.stem] = Track(track_id=path.stem, path=str(path), label=folder.name)
    for item in sorted(found.iterdir()):
        if item.is_file() and is_audio_path(item):
            problems.append(DatasetProblem(str(item), "audio file outside any genre folder; not labelled"))
    if not tracks:
        raise DatasetError(f"{found}: no GTZAN clips found")
    return Dataset(name="gtzan", root=str(found), tracks=sorted(tracks.values(), key=lambda t: t.track_id), problems=problems,
                   source=os.fspath(root))  # as named: the folder above genres/ where that was given
