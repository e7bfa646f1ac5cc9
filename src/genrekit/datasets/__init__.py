"""Datasets: GTZAN, FMA, folder-per-genre trees, CSV manifests and libraries labelled by their
own genre tags; checks; leak-free splits."""

from __future__ import annotations

import logging
import os
from dataclasses import replace
from pathlib import Path

from genrekit._files import path_given, utf8_shown
from genrekit.datasets.check import CheckReport, check_dataset, check_genres
from genrekit.datasets.core import Dataset, DatasetProblem, Track
from genrekit.datasets.fma import SUBSETS as FMA_SUBSETS
from genrekit.datasets.fma import is_fma, is_fma_audio_folder, load_fma
from genrekit.datasets.folder import GTZAN_GENRES, READ_AS_FOLDERS, find_gtzan_root, load_folder, load_gtzan
from genrekit.datasets.manifest import load_manifest
from genrekit.datasets.spectrograms import SpectrogramRun, settings_conflict, write_spectrograms
from genrekit.datasets.table import FeatureTable, build_feature_table, feature_frame, read_feature_table, write_feature_table
from genrekit.datasets.tagged import (OwnedSong, TagTaxonomy, genre_dataset, load_tagged, near_duplicates,
                                      read_genre_map)
from genrekit.datasets.splits import (
    fold_grouping, gtzan_filtered_ids, gtzan_filtered_split, gtzan_id_blocks, kfold_splits, train_val_test_split
)
from genrekit.errors import DatasetError

KINDS = ("auto", "gtzan", "folder", "manifest", "fma", "images", "tags")


def as_dataset(dataset: Dataset | str | os.PathLike, parameter: str = "dataset") -> Dataset:
    """``dataset`` itself, or the dataset at that path (:func:`load_dataset`, its kind
    recognised from its layout): the library's functions take either, as they take a model
    or its file. Anything else is a ParameterError naming ``parameter``."""
    if isinstance(dataset, Dataset):
        return dataset
    if isinstance(dataset, (str, os.PathLike)):
        return load_dataset(dataset)
    from genrekit.errors import ParameterError

    raise ParameterError(f"{parameter}: expected a Dataset (genrekit.load_dataset) or the path of one, found "
                         f"{type(dataset).__name__}")


def load_dataset(path: str | os.PathLike, *, kind: str = "auto", fma_subset: str | None = None,
                 genre_map: dict[str, str] | None = None, min_per_genre: int = 1, multi: str = "first") -> Dataset:
    """Load a dataset, recognising its kind from its layout when ``kind="auto"``.

    A file is a manifest (CSV); a folder with FMA's ``tracks.csv`` is FMA, and so is one of
    FMA's audio folders beside ``fma_metadata/`` (``fma_medium/``: that subset, its audio
    there; ``fma_full/``: every track, untrimmed); a folder of
    ``<genre>.NNNNN`` clips is GTZAN; a folder-per-genre tree of PNG/JPEG files and no
    audio is ``images`` (spectrogram images for image networks); any other folder is
    read as folder-per-genre audio. ``kind="tags"`` (never guessed) labels every audio file
    below ``path`` with its own genre tag.

    Parameters
    ----------
    path : path
        The dataset's CSV manifest or folder.
    kind : str
        One of :data:`KINDS`: ``auto`` (default), ``gtzan``, ``folder``, ``manifest``, ``fma``,
        ``images`` or ``tags``.
    fma_subset : str, optional
        FMA's subset (``small``, ``medium`` or ``large``); default: as :func:`load_fma` chooses.
        Refused for other kinds.
    genre_map, min_per_genre, multi
        ``kind="tags"`` only: as :func:`load_tagged` (which passes them to :func:`genre_dataset`).

    Returns
    -------
    Dataset
        Its tracks, and in ``problems`` what the loader left out, or noted (``left_out`` False).

    Raises
    ------
    DatasetError
        ``kind`` is unknown; ``genre_map`` is given, or ``min_per_genre`` or ``multi`` is not
        its default, with another kind than ``tags``; ``fma_subset`` is given for another kind; ``path`` does not exist; or the loader
        of its kind cannot read it or finds no usable track.
    """
    if kind != "tags" and (genre_map or min_per_genre != 1 or multi != "first"):
        raise DatasetError(f"genre_map, min_per_genre and multi label a library by its tags; kind={kind!r} "
                           "takes its labels from its layout (use kind='tags')")
    if kind not in KINDS:
        raise DatasetError(f"kind={kind!r} is not a dataset kind; expected one of {', '.join(KINDS)}")
    path = Path(path_given(path))
    if not path.exists():
        raise DatasetError(f"{path}: dataset not found")
    if not (path.is_dir() or path.is_file()):  # /dev/null, a pipe: a manifest read from one would never end
        from genrekit._files import not_regular_file

        raise DatasetError(f"{path}: expected a dataset folder or a CSV manifest, found "
                           f"{not_regular_file(path.stat().st_mode) or 'neither a file nor a folder'}")
    if path.is_dir() and utf8_shown(str(path)) != str(path):  # every track below it would be left out, one by one
        raise DatasetError(f"{utf8_shown(str(path))}: the dataset folder's path is not valid UTF-8; rename the "
                           "folder with the odd bytes (genrekit's tables and reports hold names as UTF-8 text)")
    auto = kind == "auto"
    if auto:
        if path.is_file():
            from genrekit.audio import is_audio_path

            if is_audio_path(path):  # a song given where its library was meant
                raise DatasetError(f"{path}: an audio file, not a dataset; expected a folder of songs (one folder per "
                                   "genre, GTZAN's or FMA's layout) or a CSV manifest with path and label columns")
            kind = "manifest"
        elif is_fma(path):
            kind = "fma"
        elif find_gtzan_root(path) is not None:
            kind = "gtzan"
        elif is_fma_audio_folder(path):  # its folders are numbers, not genres: read as folders, 156 "genres"
            path = path.resolve()  # "." given inside it: its parent is the folder above
            if not is_fma(path.parent):
                raise DatasetError(f"{path}: FMA's audio folder (NNN/NNNNNN.mp3), whose folder names are numbers, not "
                                   "genres; the genres come from fma_metadata/tracks.csv: put fma_metadata/ beside it")
            # fma_medium/ given: that subset, its audio there (fma_full/: every track, untrimmed)
            named = path.name.lower().removeprefix("fma_")
            subset = fma_subset or {"full": "large"}.get(named, named if named in FMA_SUBSETS else None)
            dataset = load_fma(path.parent, subset=subset, audio_dir=path)
            return dataset if named != "full" else replace(dataset, name="fma_full")
        else:
            kind = "images" if _only_images(path) else "folder"
    if fma_subset is not None and kind != "fma":
        raise DatasetError(f"{path}: fma_subset={fma_subset!r} is for FMA, and this dataset is read as {kind!r}")
    if kind == "tags":
        return load_tagged(path, genre_map=genre_map, min_per_genre=min_per_genre, multi=multi)
    if kind == "manifest":
        return load_manifest(path)
    if kind == "fma":
        return load_fma(path, subset=fma_subset)
    if kind == "gtzan":
        dataset = load_gtzan(path)
        others = [p for p in dataset.problems if READ_AS_FOLDERS in p.reason]
        if others and auto:  # a user's own genre or songs beside GTZAN's clips: said, not only listed
            logging.getLogger(__name__).warning(
                "%s: read as GTZAN (most of its files are GTZAN clips); %d folder(s) or file(s) of other names left "
                "out (first: %s; all in the dataset's problems); kind='folder' reads every folder as a genre",
                path, len(others), others[0].path)
        return dataset
    return load_folder(path, media="image" if kind == "images" else "audio")


def _only_images(root: Path) -> bool:
    """Whether ``root``'s genre folders hold images and no audio file does: names only, the first
    audio file ending the look; folders that cannot be read are passed over (their files are the
    loader's to report), not a traceback (``genrekit train /`` met /proc)."""
    import os

    from genrekit.audio import is_audio_path
    from genrekit.features.images import is_image_path

    images = False
    for folder, folders, names in os.walk(root):
        folders[:] = [f for f in folders if not f.startswith(".")]
        names = [n for n in names if not n.startswith(".")]
        if any(map(is_audio_path, names)):
            return False
        # a cover.jpg beside the genre folders is no dataset
        images = images or (Path(folder) != root and any(map(is_image_path, names)))
    return images


__all__ = [
    "GTZAN_GENRES",
    "KINDS",
    "OwnedSong",
    "TagTaxonomy",
    "genre_dataset",
    "load_tagged",
    "near_duplicates",
    "read_genre_map",
    "CheckReport",
    "Dataset",
    "FeatureTable",
    "build_feature_table",
    "feature_frame",
    "read_feature_table",
    "write_feature_table",
    "SpectrogramRun",
    "settings_conflict",
    "write_spectrograms",
    "DatasetProblem",
    "Track",
    "check_dataset",
    "check_genres",
    "find_gtzan_root",
    "gtzan_filtered_ids",
    "gtzan_filtered_split",
    "fold_grouping",
    "gtzan_id_blocks",
    "kfold_splits",
    "load_dataset",
    "load_fma",
    "load_folder",
    "load_gtzan",
    "load_manifest",
    "train_val_test_split",
]
