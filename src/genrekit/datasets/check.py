"""``datasets check``: counts, durations, unreadable files, duplicates, suspicious labels, and a
tag library's taxonomy."""

from __future__ import annotations

import hashlib
import logging
import os
import statistics
from collections import Counter, defaultdict
from dataclasses import asdict, dataclass, field, replace

import numpy as np
from rich.progress import Progress

from genrekit import audio
from genrekit.datasets.core import Dataset, DatasetProblem
from genrekit.datasets.folder import GTZAN_GENRES
from genrekit.datasets.tagged import near_duplicates
from genrekit.errors import AudioError, DatasetError, ParameterError, check_flags
from genrekit.untrusted import label_problem

logger = logging.getLogger(__name__)


@dataclass
class CheckReport:
    """What ``check_dataset`` found. ``ok`` is False when anything needs attention.

    Attributes
    ----------
    dataset : str
        The dataset's name.
    root : str
        Its folder.
    source : str
        What it was read from, as the user named it (:attr:`Dataset.source`): a manifest's
        file, else its folder.
    n_tracks : int
        Its tracks (a file labelled with several genres counts once per genre).
    counts : dict[str, int]
        Genre -> tracks, sorted by genre.
    durations : dict[str, dict[str, float]]
        Genre -> ``min``, ``median``, ``max`` and ``total`` seconds of its decodable tracks.
    unreadable : list of DatasetProblem
        Files that could not be decoded, with the reason.
    duplicates : list of list of str
        Groups of files whose decoded samples (mixed to mono, at 16-bit precision) are the
        same, each group's paths sorted.
    suspicious : list of DatasetProblem
        No labelled track at all (for a library labelled by its tags: every genre under
        ``min_per_genre``), tracks without a genre, silent files, files shorter than half the
        median duration, genres with fewer than 2 tracks or than a quarter of the median per
        genre, genre names that look like spellings of one genre, a GTZAN dataset's genres
        outside GTZAN's ten, and identical audio under different labels.
    layout : list of DatasetProblem
        The loader's ``problems``.
    taxonomy : dict, optional
        For a library labelled by its tags, :class:`TagTaxonomy`'s fields; None otherwise.
    """

    dataset: str
    root: str
    source: str
    n_tracks: int
    counts: dict[str, int]
    durations: dict[str, dict[str, float]]
    unreadable: list[DatasetProblem] = field(default_factory=list)
    duplicates: list[list[str]] = field(default_factory=list)
    suspicious: list[DatasetProblem] = field(default_factory=list)
    layout: list[DatasetProblem] = field(default_factory=list)
    taxonomy: dict | None = None  # a library labelled by its tags: TagTaxonomy's fields

    @property
    def ok(self) -> bool:
        return not (self.unreadable or self.duplicates or self.suspicious or self.layout)

    def to_dict(self) -> dict:
        data = asdict(self)
        data["ok"] = self.ok
        return data


def _refusal(dataset: Dataset, message: str) -> DatasetError:
    """``message``, with the files the dataset left out where it did (a count short by them
    is otherwise a puzzle)."""
    left_out = [p for p in dataset.problems if p.left_out]
    if left_out:
        message += (f" ({len(left_out)} file(s) left out, not counted: first {left_out[0].path}: "
                    f"{left_out[0].reason}; `genrekit datasets check` lists them)")
    return DatasetError(message)


def check_genres(dataset: Dataset, *, min_tracks: int = 2, purpose: str = "training",
                 folds: int | None = None) -> dict[str, int]:
    """Check, from the track list alone (no audio is decoded), that ``dataset`` can train and
    test a classifier: call it before any feature extraction.

    Parameters
    ----------
    dataset : Dataset
        The tracks to check; unlabelled tracks are not counted.
    min_tracks : int
        Genres with fewer tracks than this are returned and warned about, not refused.
    purpose : str
        What the dataset is for, as the error message names it (``training``,
        ``cross-validation``).
    folds : int, optional
        The K of a K-fold cross-validation to come (None: not checked).

    Returns
    -------
    thin : dict[str, int]
        Genre -> track count, for the genres with fewer than ``min_tracks`` tracks; they are
        named in a logged warning (a genre needs two tracks to sit on both sides of a split).

    Raises
    ------
    DatasetError
        When the labelled tracks hold fewer than two genres, or fewer split groups (artists,
        else tracks) than ``folds`` for a K-fold cross-validation, or no genre as many tracks.
    """
    counts = Counter(t.label for t in dataset.tracks if t.label is not None)
    problem = next((p for p in map(label_problem, counts) if p), None)
    if problem:  # a model file with it would be refused: its genres are written into songs' tags
        raise DatasetError(f"{dataset.source}: genre {problem}")
    if not counts:
        raise _refusal(dataset, f"{dataset.source}: no labelled track found; {purpose} needs at least two genres")
    if len(counts) == 1:
        (label, count), = counts.items()
        raise _refusal(dataset, f"{dataset.source}: only one genre ({label!r}, {count} tracks); {purpose} needs at least "
                           "two genres")
    # the groups read every local file (copies join one group): only when folds need them
    groups = (set() if folds is None else
              {group for group, track in zip(dataset.groups, dataset.tracks) if track.label is not None})
    if folds is not None and len(groups) < folds:
        artists = any(t.artist for t in dataset.tracks)
        found = (f"{len(groups)} artists or unattributed tracks among {sum(counts.values())} tracks" if artists
                 else f"{len(groups)} tracks")
        raise _refusal(dataset, f"{dataset.source}: folds={folds} needs at least {folds} "
                           f"{'artists or tracks' if artists else 'tracks'} (folds never split one); found {found}")
    if folds is not None and max(counts.values()) < folds:  # stratified folds need one genre to fill them all
        raise _refusal(dataset, f"{dataset.source}: folds={folds} needs a genre of at least {folds} tracks; the largest has "
                           f"{max(counts.values())}")
    thin = {label: count for label, count in sorted(counts.items()) if count < min_tracks}
    trainable = sum(count >= 2 for count in counts.values())
    if folds is not None and trainable < 2:
        # a fold testing the lone track of a genre would train on one genre alone
        raise _refusal(dataset, f"{dataset.source}: {trainable} genre(s) with two "
                                f"tracks or more ({', '.join(f'{label}: {count}' for label, count in sorted(counts.items()))}); "
                                f"{purpose} needs at least two")
    if thin:
        logger.warning("%s: %d genre(s) with fewer than %d tracks: %s; such a genre cannot be both trained on and "
                       "tested", dataset.source, len(thin), min_tracks,
                       ", ".join(f"{label} ({count})" for label, count in thin.items()))
    return thin


def _no_labelled_track(dataset: Dataset) -> str:
    """Why ``dataset`` holds no labelled track, and what was expected: for a library labelled by
    its tags, what its files' tags hold."""
    taxonomy = dataset.taxonomy
    if taxonomy is None:
        return ("no labelled track: expected a genre for each track (its genre folder's name, a manifest's label "
                "column)")
    found = []
    if taxonomy.left_out:
        genres = ", ".join(f"{genre}: {n}" for genre, n in list(taxonomy.left_out.items())[:10])
        more = f" and {len(taxonomy.left_out) - 10} more" if len(taxonomy.left_out) > 10 else ""
        found.append(f"{len(taxonomy.labels_of)} file(s) with genre tags, every genre of them under that "
                     f"({genres}{more})")
    for files, what in ((taxonomy.untagged, "without a genre tag"),
                        (taxonomy.by_genrekit, "whose genres genrekit wrote (never learned from)"),
                        (taxonomy.untaggable, "in formats without tags genrekit reads")):
        if files:
            found.append(f"{len(files)} file(s) {what}")
    if taxonomy.near_duplicates:  # spellings of one genre, each under the threshold alone
        groups = "; ".join(" = ".join(group) for group in taxonomy.near_duplicates[:5])
        found.append(f"spellings that look like one genre, which a genre map (--map) merges: {groups}")
    least = taxonomy.min_per_genre
    return (f"no labelled track: expected audio files with genre tags, at least {least} (--min-per-genre {least}) "
            f"files of a genre; found {'; '.join(found) or 'none'}")


def _scanned(path: str) -> tuple[str, float, float]:
    """(digest, seconds, peak) of a file's decoded samples, mixed to mono at its own rate, a block
    at a time (an hour's FLAC whole took gigabytes). The digest holds the samples at 16-bit
    precision: the same audio in .au and .wav is one duplicate; and its rate: the same samples
    at another rate are other audio (twice as long, an octave lower)."""
    digest, frames, peak, rate = hashlib.sha256(), 0, 0.0, 1
    for block, rate in audio.native_blocks(path):
        digest.update(np.round(block * 32768).astype(np.int32).tobytes())
        frames, peak = frames + block.shape[0], max(peak, float(np.max(np.abs(block))))
    digest.update(f"|{rate}".encode())
    return digest.hexdigest(), frames / rate, peak


def check_dataset(dataset: Dataset | str | os.PathLike, *, progress: bool = True) -> CheckReport:
    """Decode every track and report what is wrong with the dataset.

    A file labelled with several genres (multi-label copies) is decoded once. Files that
    cannot be decoded are ``unreadable``; files holding the same decoded samples are
    ``duplicates``. ``suspicious`` lists a dataset without any labelled track (its folder,
    and what was expected) or of one genre, tracks without a genre, silent files, files shorter than half the
    median duration, genres with fewer than 2 tracks or than a quarter of the median per genre,
    genre names that look like spellings of one genre, a GTZAN dataset's genres outside
    GTZAN's ten, and identical audio under different labels. ``layout`` is the loader's
    ``problems``.

    Parameters
    ----------
    dataset : Dataset or path
        The tracks to check.
    progress : bool
        Show a progress bar.

    Returns
    -------
    CheckReport
        Counts per genre, durations per genre (``min``, ``median``, ``max``, ``total`` seconds)
        and the problems found; its ``ok`` is False when ``unreadable``, ``duplicates``,
        ``suspicious`` or ``layout`` is not empty.
    """
    check_flags(progress=progress)
    from genrekit.datasets import as_dataset

    dataset = as_dataset(dataset)
    digests: dict[str, list[str]] = defaultdict(list)
    durations: dict[str, list[float]] = defaultdict(list)
    unreadable: list[DatasetProblem] = []
    suspicious: list[DatasetProblem] = []
    readable = []
    # a file labelled with several genres (multi-label copies) is decoded once
    files = list({track.path: track for track in dataset.tracks}.values())
    with Progress(disable=not progress) as bar:
        task = bar.add_task("checking", total=len(files))
        for track in files:
            try:
                digest, duration, peak = _scanned(track.path)
            except AudioError as exc:
                unreadable.append(DatasetProblem(track.path, exc.reason))
            except ParameterError as exc:  # a URL no filesystem here opens: this file's, not the check's end
                unreadable.append(DatasetProblem(track.path, str(exc).removeprefix(f"{track.path}: ")))
            else:
                digests[digest].append(track.path)
                readable.append((track, duration))
                if peak < audio.io.SILENCE_PEAK:
                    suspicious.append(DatasetProblem(track.path, "silent audio"))
            bar.advance(task)

    # every genre of a multi-genre file counts its duration (a file is decoded once, above);
    # an unlabelled track (label None, as a Dataset built in code may hold) counts in no genre
    seconds = {track.path: duration for track, duration in readable}
    for track in dataset.tracks:
        if track.path in seconds and track.label is not None:
            durations[track.label].append(seconds[track.path])
    all_durations = [d for _, d in readable]
    if all_durations:
        median = statistics.median(all_durations)
        for track, duration in readable:
            if duration < 0.5 * median:
                suspicious.append(
                    DatasetProblem(track.path, f"unusually short: {duration:.1f} s, dataset median {median:.1f} s")
                )

    counts = Counter(t.label for t in dataset.tracks if t.label is not None)
    if not counts:  # nothing to learn from or score: said first
        suspicious.append(DatasetProblem(dataset.source, _no_labelled_track(dataset)))
    elif len(counts) == 1:  # "no problems found", then train refused it
        suspicious.append(DatasetProblem(dataset.source, f"only one genre ({next(iter(counts))!r}): a model learns to "
                                         "tell genres apart, so training needs at least two"))
    unlabelled = [t.path for t in dataset.tracks if t.label is None]
    if unlabelled:
        suspicious.append(DatasetProblem(unlabelled[0] if len(unlabelled) == 1 else f"{unlabelled[0]} and "
                                         f"{len(unlabelled) - 1} more", f"{len(unlabelled)} track(s) without a genre: "
                                         "evaluation leaves them out; training needs a genre for every track"))
    if counts:
        typical = statistics.median(counts.values())
        for label, count in sorted(counts.items()):
            if count < max(2, 0.25 * typical):
                suspicious.append(DatasetProblem(label, f"genre has only {count} track(s), median per genre {typical:g}"))
    for variants in near_duplicates(sorted(counts)):
        suspicious.append(DatasetProblem(" / ".join(variants), "genres that look like spellings of one genre; "
                                         "merge them (a tag library: --map FILE with rows from,to)"))
    if dataset.name == "gtzan":
        for label in counts:
            if label not in GTZAN_GENRES:
                suspicious.append(DatasetProblem(label, "not one of GTZAN's ten genres"))

    duplicate_groups = [sorted(paths) for paths in digests.values() if len(paths) > 1]
    for paths in duplicate_groups:
        labels = {t.label for t in dataset.tracks if t.path in paths and t.label is not None}
        if len(labels) > 1 and len(paths) > 1:
            suspicious.append(DatasetProblem(" = ".join(paths), f"the same audio carries different labels: {sorted(labels)}"))
    # what a check finds odd is kept as it was read: a note, not a track left out
    suspicious = [replace(problem, left_out=False) for problem in suspicious]

    summary = {
        label: {
            "min": float(min(values)),
            "median": float(statistics.median(values)),
            "max": float(max(values)),
            "total": float(sum(values)),
        }
        for label, values in sorted(durations.items())
    }
    return CheckReport(
        dataset=dataset.name,
        root=dataset.root,
        source=dataset.source,
        n_tracks=len(dataset.tracks),
        counts=dict(sorted(counts.items())),
        durations=summary,
        unreadable=unreadable,
        duplicates=sorted(duplicate_groups),
        suspicious=suspicious,
        layout=list(dataset.problems),
        taxonomy=asdict(dataset.taxonomy) if dataset.taxonomy is not None else None,
    )
