"""Leak-free splits: stratified by genre, grouped by artist (or track when artists are unknown).

Chunks of one song, and songs of one artist where artists are known, never sit on both
sides of a split: every split here works on tracks and groups, and the chunks of a track
follow it.
"""

from __future__ import annotations

import json
import numbers
import os
import re
import warnings
from collections.abc import Sequence
from importlib import resources
from typing import TYPE_CHECKING

import numpy as np
from sklearn.model_selection import StratifiedGroupKFold

from genrekit.datasets.core import Dataset
from genrekit.datasets.folder import GTZAN_GENRES
from genrekit.errors import DatasetError, ParameterError, check_whole_number

if TYPE_CHECKING:
    from genrekit.datasets.table import FeatureTable


def _check_disjoint(groups: np.ndarray, parts: list[np.ndarray]) -> None:
    for i, a in enumerate(parts):
        for b in parts[i + 1 :]:
            shared = set(groups[a]) & set(groups[b])
            if shared:  # a bug, never a user error: refuse to hand out a leaky split
                raise AssertionError(f"split leaks groups across parts: {sorted(shared)[:5]}")


def _groups_by_genre(labels: np.ndarray, groups: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(each group, the genre most of its tracks have, its number of tracks), in one pass over
    the tracks (a loop over groups costs tracks x groups: 18 s for 16,000 tracks)."""
    names, group_of = np.unique(groups, return_inverse=True)
    genres, genre_of = np.unique(labels, return_inverse=True)
    pairs, counts = np.unique(group_of * len(genres) + genre_of, return_counts=True)
    pair_group, pair_genre = pairs // len(genres), pairs % len(genres)
    first = np.lexsort((-counts, pair_group))  # per group: its most frequent genre first (ties: the first genre)
    starts = np.flatnonzero(np.r_[True, np.diff(pair_group[first]) != 0])
    majority = genres[pair_genre[first[starts]]]
    return names, majority, np.bincount(group_of, minlength=len(names))


def _asked(fraction: float, total: int) -> int:
    """Tracks a share of ``total`` holds out, rounded half up: 5 tracks at 10% give 1, not round()'s 0."""
    return int(np.floor(fraction * total + 0.5 + 1e-9))


def _holdout(labels: np.ndarray, groups: np.ndarray, fraction: float, seed: int,
             totals: dict | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Indices (rest, held out): ``fraction`` of each genre's tracks, rounded half up (of
    ``totals[genre]`` tracks where given, else of the genre's tracks here), taken by whole groups.

    A group belongs to the genre most of its tracks have; each genre's groups are shuffled
    and, in that order, each is taken where it brings the genre's held-out count closer to its
    share (so a prolific artist is not held out whole for a share a tenth its size; a group
    that would overshoot by as much as it falls short stays for training, which small
    genres need more: 2 of 5 tracks held out for a share of 1 left 1 of 5 to train on when
    the validation split did the same), always leaving at least one group behind. A genre
    whose share is at least one track but whose every group is too big gets its smallest
    group (the check and the warning of :func:`holdout_shortfalls` say how far that is from
    the share).
    """
    rng = np.random.default_rng(seed)
    names, majority, size = _groups_by_genre(labels, groups)
    held_groups: list[str] = []
    for label in np.unique(labels):
        members = np.flatnonzero(majority == label)
        rng.shuffle(members)
        total = totals[label] if totals is not None else int(size[members].sum())
        target = _asked(fraction, total)
        taken = 0
        for group in members[:-1]:
            if taken >= target:
                break
            if abs(taken + size[group] - target) < target - taken:  # closer to the share (a tie: kept for training)
                held_groups.append(names[group])
                taken += size[group]
        if taken == 0 and target >= 1 and len(members) > 1:  # a genre untested is worse than one tested too much
            held_groups.append(names[min(members, key=lambda g: size[g])])  # another group stays, whichever is left
    held = np.isin(groups, held_groups)
    return np.flatnonzero(~held), np.flatnonzero(held)


def holdout_shortfalls(labels, parts, sizes: tuple[float, float, float]) -> dict[str, dict[str, list[int]]]:
    """The genres whose parts of :func:`train_val_test_split` are far from ``sizes``: whole artists
    kept together can make a genre's share much larger or smaller than asked.

    A genre of ``n`` tracks is asked ``sizes[1]`` and ``sizes[2]`` of them for validation and test,
    rounded half up (:func:`_asked`), and the rest for training. A part whose count differs from
    that is far from it when

    - validation or test holds none where a track was asked;
    - validation or test is off by more than one track and more than a quarter of the count
      asked (3 where 10 were asked, 20 where 4 were);
    - validation or test holds more than double the share asked: over 20% of the genre where
      10% was asked (2 of 6 tracks, where 1 was asked);
    - training holds less than half the share asked: under 40% of the genre where 80% was
      asked (2 of 6 tracks, where 4 were asked).

    A part exactly as rounded is never far (a genre of 5 tracks split 3/1/1 holds 20% for test
    where 10% was asked), and neither is one off by a single track within those shares (2 test
    tracks of 10, where 1 was asked). Where any part of a genre is far, only its far parts are
    named.

    Parameters
    ----------
    labels : array-like [shape=(n,)] genre of each track
    parts : array-like [shape=(n,)] ``train``, ``val`` or ``test`` of each track
    sizes : fractions of train, val and test asked

    Returns
    -------
    dict
        Genre -> part (``train``, ``val``, ``test``) -> [tracks it holds, tracks asked], for
        the far parts; empty when none is.
    """
    labels, parts = np.asarray(labels), np.asarray(parts)
    found: dict[str, dict[str, list[int]]] = {}
    for label in np.unique(labels):
        total = int(np.sum(labels == label))
        asked = {part: _asked(fraction, total) for part, fraction in (("val", sizes[1]), ("test", sizes[2]))}
        asked = {"train": total - asked["val"] - asked["test"], **asked}
        for part, fraction in zip(("train", "val", "test"), sizes):
            got = int(np.sum((labels == label) & (parts == part)))
            if got == asked[part]:
                continue
            if part == "train":
                far = got < fraction * total / 2 - 1e-9
            else:
                far = (got == 0 < asked[part] or abs(got - asked[part]) > max(1, asked[part] // 4)
                       or got > 2 * fraction * total + 1e-9)
            if far:
                found.setdefault(str(label), {})[part] = [got, asked[part]]
    return found


def train_val_test_split(
    labels,
    groups,
    *,
    sizes: tuple[float, float, float] = (0.8, 0.1, 0.1),
    seed: int = 0,
) -> np.ndarray:
    """Assign each track to ``train``, ``val`` or ``test``.

    Parameters
    ----------
    labels : array-like [shape=(n,)] genre of each track
    groups : array-like [shape=(n,)] artist or track of each track; a group is never split
    sizes : fractions of train, val and test (val or test may be 0)
    seed : the split is a pure function of the inputs and the seed

    Returns
    -------
    parts : np.ndarray [shape=(n,)] of ``"train"``, ``"val"``, ``"test"``

    Whole groups can leave a genre's parts far from ``sizes`` (two artists of 4 tracks each:
    half held out for test, none for validation), silently here: :func:`holdout_shortfalls`
    names such genres, and :func:`genrekit.train.assign_splits` (what ``train`` runs) warns of them.
    """
    labels, groups = _labels_and_groups(labels, groups)
    if (not isinstance(sizes, (tuple, list, np.ndarray)) or len(sizes) != 3
            or not all(isinstance(s, numbers.Real) and not isinstance(s, bool) for s in sizes)
            or any(s < 0 for s in sizes) or not np.isclose(sum(sizes), 1.0) or sizes[0] <= 0):
        raise ParameterError(f"sizes={sizes!r:.60} must be three non-negative fractions (train > 0) summing to 1")
    check_seed(seed)
    parts = np.full(len(labels), "train", dtype=object)
    if not len(labels):  # nothing to split (a caller refuses it by what it is for)
        return parts
    remaining = np.arange(len(labels))
    train, val, test = sizes
    if test > 0:
        rest, held = _holdout(labels, groups, test, seed)
        parts[held] = "test"
        remaining = rest
    if val > 0:  # a share of each genre's tracks, as the test's is (not of what the test left)
        totals = dict(zip(*np.unique(labels, return_counts=True)))
        rest, held = _holdout(labels[remaining], groups[remaining], val, seed + 1, totals)
        parts[remaining[held]] = "val"
    _check_disjoint(groups, [np.flatnonzero(parts == p) for p in ("train", "val", "test")])
    return parts.astype(str)


# a GTZAN clip's id, as its folders and the published feature tables name it
_GTZAN_CLIP = re.compile(r"(?P<genre>%s)\.(?P<number>\d{5})(?:\.[A-Za-z0-9]{1,5})?" % "|".join(GTZAN_GENRES))


def gtzan_shares_artists(data: Dataset | FeatureTable, what: str, where: str | None = None) -> str | None:
    """A warning for GTZAN clips split by track (``what``: "these folds"; GTZAN lists no artists), whose
    adjacent clip ids are often one artist's; None for other data. A feature table (named
    ``where``) is taken for GTZAN's when every track id is a GTZAN clip's (``blues.00000``,
    as the published tables name them) and no artist is known; a manifest or folder when every
    file is named as a GTZAN clip and no artist is known."""
    if isinstance(data, Dataset):
        clips = data.tracks and all(_GTZAN_CLIP.fullmatch(os.path.basename(t.path)) for t in data.tracks)
        if data.name != "gtzan" and not (clips and all(t.artist is None for t in data.tracks)):
            return None
        if fold_grouping(data) != "by track":  # a gtzan.csv manifest with artists: its folds keep them apart
            return None
        where = data.source
        how = ("list the clips in a CSV manifest with an 'artist' column" if data.name == "gtzan"
               else "add an 'artist' column")
    elif fold_grouping(data) != "by track" or not all(_GTZAN_CLIP.fullmatch(str(t)) for t in data.tracks):
        return None
    else:
        how = "add a 'group' column to the table"
    return (f"{where}: GTZAN names no artists, and adjacent clip ids are often one artist's, so splitting by "
            f"track ({what}) puts an artist's clips on both sides: the scores overstate accuracy on other artists "
            f"(for folds grouped by blocks of adjacent ids, as docs/benchmarks.md gives them, {how}: "
            "its genre and its clip's number // 2, say, the blocks of two gtzan-mini's grouped folds use)")


def gtzan_clip(name: str) -> tuple[str, int] | None:
    """(genre, number) of a GTZAN clip's file or track name (``jazz.00008.wav``, ``jazz.00008``);
    None for another name."""
    found = _GTZAN_CLIP.fullmatch(os.path.basename(str(name)))
    return (found.group("genre"), int(found.group("number"))) if found else None


# Adjacent GTZAN ids of a genre taken as one artist's where GTZAN names none: blocks of two, as
# gtzan-mini's grouped folds in docs/benchmarks.md. A stand-in, fixed a priori: many of GTZAN's
# artists hold longer runs of ids, so folds so grouped still share some.
GTZAN_ID_BLOCK = 2


def gtzan_id_blocks(tracks: Sequence[str], groups: Sequence[str], *, size: int = GTZAN_ID_BLOCK) -> np.ndarray | None:
    """Fold groups that keep each block of ``size`` adjacent GTZAN ids of a genre together (a
    stand-in for artists, which GTZAN does not name), joined with the tracks' own ``groups``
    (copies of one file's bytes stay together too): one group name per track. None unless every
    track is a GTZAN clip (:func:`gtzan_clip`) and no artist is known (no group ``artist:...``)."""
    check_whole_number("size", size, of="adjacent ids per block")
    if len(tracks) != len(groups):  # zip would cut the longer short
        raise ParameterError(f"tracks ({len(tracks)}) and groups ({len(groups)}) differ in length")
    clips = [gtzan_clip(t) for t in tracks]
    if not clips or any(c is None for c in clips) or any(str(g).startswith("artist:") for g in groups):
        return None
    parent: dict[str, str] = {}

    def root(node: str) -> str:
        while parent.setdefault(node, node) != node:
            parent[node] = node = parent[parent[node]]
        return node

    blocks = [f"block:{genre}:{number // size}" for genre, number in clips]
    for block, group in zip(blocks, groups):  # a block and a group sharing a track are one group
        parent[root(f"group:{group}")] = root(block)
    return np.array([root(block) for block in blocks])


def gtzan_neighbours(scored: dict[str, str], trained: Sequence[str], *, within: int = 2) -> list[str]:
    """The ``scored`` tracks (track id -> path) that are GTZAN clips within ``within`` ids of a
    clip of the same genre among the ``trained`` track ids, or that very clip (a copy its
    content did not match, such as a lossy re-encode): adjacent GTZAN ids are often one
    artist's, so a model scored on them is scored on artists it was trained on (GTZAN names no
    artists). Pairs that GTZAN's fault-filtered split puts in different parts are apart by
    construction (its parts share no artist), and are not counted. Ids in ``scored`` order;
    none where either side holds no GTZAN clip. Give only the tracks whose artist is not known
    (known artists are compared as such)."""
    numbers: dict[str, list[int]] = {}
    for name in trained:
        if (known := gtzan_clip(name)) is not None:
            numbers.setdefault(known[0], []).append(known[1])
    if not numbers:
        return []
    part_of = {track: part for part, tracks in gtzan_filtered_ids().items() for track in tracks}
    near = []
    for track, path in scored.items():
        known = gtzan_clip(path) or gtzan_clip(track)
        if known is None:
            continue
        genre, number = known
        part = part_of.get(f"{genre}.{number:05d}")
        if any(abs(number - n) <= within and not (part and part_of.get(f"{genre}.{n:05d}") not in (None, part))
               for n in numbers.get(genre, ())):
            near.append(track)
    return near


def _labels_and_groups(labels, groups) -> tuple[np.ndarray, np.ndarray]:
    """``labels`` and ``groups`` as arrays of one genre and one group per track; a ParameterError
    for anything else (None, a Dataset, 2-D) or an unlabelled track, which sorting failed on."""
    labels, groups = np.asarray(labels), np.asarray(groups)
    if labels.ndim != 1 or groups.ndim != 1:  # a Dataset given for the labels, None for the groups
        raise ParameterError(f"labels and groups: expected one genre and one group per track (1-D sequences), found "
                             f"shapes {labels.shape} and {groups.shape} (a Dataset's: [t.label for t in "
                             "dataset.tracks] and dataset.groups)")
    if len(labels) != len(groups):
        raise ParameterError(f"labels ({len(labels)}) and groups ({len(groups)}) differ in length")
    if (unlabelled := next((i for i, label in enumerate(labels) if label is None), None)) is not None:
        raise ParameterError(f"labels: expected a genre for every track, found None at position {unlabelled} (an "
                             "unlabelled track: leave it out of the split)")
    return labels, groups


def check_seed(seed) -> None:
    """A ParameterError unless ``seed`` is a whole number from 0 to 2**32 - 1 (numpy's and
    scikit-learn's range; a bool, a float or a string is not one)."""
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or not 0 <= seed < 2**32:
        raise ParameterError(f"seed={seed!r}: expected a whole number from 0 to 2**32 - 1")


def kfold_splits(labels, groups, *, n_splits: int = 5, seed: int = 0) -> list[tuple[np.ndarray, np.ndarray]]:
    """Stratified group K-fold: (train indices, test indices) per fold, groups never split.

    Parameters
    ----------
    labels : array-like [shape=(n,)]
        Genre of each track.
    groups : array-like [shape=(n,)]
        Artist or track of each track; a group is never split.
    n_splits : int
        Folds, at least 2.
    seed : int
        Shuffles scikit-learn's ``StratifiedGroupKFold``: the folds are a pure function of
        the inputs and the seed.

    Returns
    -------
    list of (np.ndarray, np.ndarray)
        ``n_splits`` pairs of (train indices, test indices) into ``labels``; each track is
        tested in exactly one fold.

    Raises
    ------
    ParameterError
        ``n_splits`` is below 2, above the number of distinct groups, or above every genre's
        number of tracks.
    """
    labels, groups = _labels_and_groups(labels, groups)
    check_seed(seed)
    if isinstance(n_splits, bool) or not isinstance(n_splits, (int, np.integer)):
        raise ParameterError(f"n_splits={n_splits!r}: expected a whole number of folds, at least 2")
    if n_splits < 2:
        raise ParameterError(f"n_splits={n_splits} must be >= 2")
    if len(set(groups)) < n_splits:
        raise ParameterError(f"n_splits={n_splits} exceeds the {len(set(groups))} groups available")
    _, per_genre = np.unique(labels, return_counts=True)
    if len(per_genre) and per_genre.max() < n_splits:  # stratified folds need one genre to fill them all
        raise ParameterError(f"n_splits={n_splits}: the largest genre has {per_genre.max()} tracks; expected at most "
                             f"{per_genre.max()} folds")
    splitter = StratifiedGroupKFold(n_splits=n_splits, shuffle=True, random_state=seed)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="The least populated class", category=UserWarning)
        folds = list(splitter.split(np.zeros(len(labels)), labels, groups))
    for train, test in folds:
        _check_disjoint(groups, [train, test])
    return folds


def _expand(ranges: str) -> list[int]:
    numbers: list[int] = []
    for part in ranges.split(","):
        start, _, end = part.partition("-")
        numbers.extend(range(int(start), int(end or start) + 1))
    return numbers


def gtzan_filtered_ids() -> dict[str, list[str]]:
    """GTZAN's fault-filtered split (Kereliuk & Sturm): 443 train, 197 val, 290 test track ids.

    Returns
    -------
    dict[str, list[str]]
        ``train``, ``val`` and ``test`` -> track ids (``blues.00029``), as torchaudio's
        ``filtered_train``, ``filtered_valid`` and ``filtered_test`` list them; read from the
        package's ``data/gtzan_filtered_split.json``.
    """
    text = resources.files("genrekit").joinpath("data/gtzan_filtered_split.json").read_text()
    table = json.loads(text)
    return {
        part: [f"{genre}.{n:05d}" for genre, ranges in table[source].items() for n in _expand(ranges)]
        for part, source in (("train", "train"), ("val", "valid"), ("test", "test"))
    }


def gtzan_filtered_split(dataset: Dataset) -> tuple[Dataset, dict[str, list[str]]]:
    """The dataset restricted to the fault-filtered split, each track carrying its part.

    Parameters
    ----------
    dataset : Dataset
        GTZAN, with track ids ``<genre>.NNNNN`` (as :func:`load_gtzan` gives them).

    Returns
    -------
    dataset : Dataset
        Tracks of the filtered lists present in ``dataset``, with ``split`` set.
    missing : dict[str, list[str]]
        Part -> track ids of the lists that ``dataset`` lacks.

    Raises
    ------
    DatasetError
        ``dataset`` holds no track of the filtered lists.
    """
    ids = gtzan_filtered_ids()
    assignment = {track_id: part for part, members in ids.items() for track_id in members}
    present = {t.track_id for t in dataset.tracks}
    if not present & set(assignment):
        raise DatasetError(f"{dataset.source}: no track of GTZAN's filtered split found (ids like blues.00029 expected)")
    missing = {part: [t for t in members if t not in present] for part, members in ids.items()}
    return dataset.with_splits(assignment), missing


def fold_grouping(data: Dataset | FeatureTable) -> str:
    """How :func:`kfold_splits` keeps a dataset's (or a feature table's) tracks together, in words.

    Parameters
    ----------
    data : Dataset or FeatureTable
        The tracks, with their split groups (:attr:`Dataset.groups`, a table's ``groups``).

    Returns
    -------
    str
        ``"by artist"`` when every track's artist is known, ``"by artist where known"`` when
        some are, ``"by the table's groups"`` for a table whose ``group`` column holds groups
        of its own (neither artists nor tracks) that join tracks, else ``"by track"`` (copies
        of one file joined, as always).
    """
    if isinstance(data, Dataset):
        groups = data.groups
    elif not hasattr(data, "track_frame"):  # a FeatureTable (whose module imports this one)
        raise ParameterError(f"data: expected a Dataset or a FeatureTable, found {type(data).__name__} "
                             "(load_dataset reads a path)")
    else:
        frame = data.track_frame()
        groups = frame["group"]
        # a table's own groups (a column added to a published table: blocks of adjacent ids):
        # neither artists nor genrekit's track:ID, and some holding several tracks
        own = [not (str(g).startswith(("artist:", "track:", "file:")) or str(g) == str(t))
               for g, t in zip(groups, frame["track"])]
        if any(own) and len(set(map(str, groups))) < len(groups):
            return "by the table's groups"
    known = [str(g).startswith("artist:") for g in groups]
    return "by artist" if known and all(known) else "by artist where known" if any(known) else "by track"
