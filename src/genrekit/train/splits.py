"""Training's split of a dataset into train, validation and test tracks: seeded, by track or
artist (``random``), the dataset's own (``dataset``), the fault-filtered GTZAN lists
(``gtzan-filtered``) or none held out (``all``)."""

from __future__ import annotations

import logging
import os
from collections import Counter

from genrekit.datasets import Dataset, check_genres, gtzan_filtered_split, train_val_test_split
from genrekit.datasets.splits import GTZAN_ID_BLOCK, fold_grouping, gtzan_shares_artists, holdout_shortfalls
from genrekit.datasets.tagged import near_duplicates
from genrekit.errors import DatasetError, ParameterError

logger = logging.getLogger(__name__)

SPLITS = ("random", "dataset", "gtzan-filtered", "all")


def assign_splits(dataset: Dataset | str | os.PathLike, *, split: str = "random", sizes=(0.8, 0.1, 0.1),
                  seed: int = 0) -> tuple[Dataset, dict]:
    """The dataset with every track's ``split`` set, and notes on how it was made.

    Checks the genres from the track list (no audio is read), so a dataset that cannot be
    trained on is refused before any feature extraction: fewer than two genres, or training
    tracks of one genre; genres with fewer than two tracks are named in a warning.

    Parameters
    ----------
    dataset : Dataset or path
        Labelled tracks.
    split : str
        One of :data:`SPLITS`: ``random`` (about ``sizes`` of each genre's tracks, whole
        groups at a time: artist where known, else file), ``dataset`` (the tracks' own),
        ``gtzan-filtered`` (the tracks of GTZAN's fault-filtered lists) or ``all`` (every
        track trained on, none held out).
    sizes : tuple of 3 floats
        Train, validation and test shares, for ``split="random"`` (default 80/10/10%, as ``train``'s).
    seed : int
        Seeds ``split="random"`` (default 0).

    Returns
    -------
    dataset : Dataset
        With every track's ``split`` set: ``dataset`` itself for ``split="dataset"``, else a
        copy; for ``gtzan-filtered``, only the tracks on its lists.
    notes : dict
        ``protocol``: how the split was made, in words (:func:`split_protocol`);
        ``gtzan-filtered``: ``missing_from_filtered_lists`` (part -> count) and
        ``missing_track_ids`` (part -> the listed ids the dataset lacks); ``dataset``:
        ``artists_across_splits`` and ``copies_across_splits`` (artists, and songs with a copy,
        with tracks on two sides, logged in a warning); ``random``: ``uneven_holdouts`` where
        whole artists make a genre's training, validation or test share far from ``sizes``
        (see :func:`genrekit.datasets.splits.holdout_shortfalls`; logged in a warning).

    Raises
    ------
    ParameterError
        ``split`` is unknown, or (``random``) ``sizes`` are not three non-negative shares,
        train above 0, summing to 1.
    DatasetError
        ``dataset``: a track without its own split; ``gtzan-filtered``: no track on the
        lists; or the labelled tracks hold fewer than two genres, the train and validation
        tracks only one, or a genre has no track in train.
    """
    from genrekit.datasets import as_dataset

    dataset = as_dataset(dataset)
    whole = dataset  # the protocol is worded from its split groups (read once, by a random split)
    dataset, notes = _split(dataset, split=split, sizes=sizes, seed=seed)
    check_genres(dataset, purpose="training")
    _warn_of_copies_labelled_apart(dataset)
    variants = near_duplicates(sorted({t.label for t in dataset.tracks if t.label is not None}))
    if variants:  # datasets check names them; a model would learn each as a genre of its own
        logger.warning("%s: genres that look like spellings of one genre, trained as different genres: %s; merge "
                       "them (one spelling in the files or manifest; a tag library: --map FILE)", dataset.source,
                       "; ".join(" / ".join(group) for group in variants))
    fitted = Counter(t.label for t in dataset.tracks if t.split != "test" and t.label is not None)
    if len(fitted) < 2:
        found = f"only one genre ({next(iter(fitted))!r})" if fitted else "no track"
        raise DatasetError(f"{dataset.source}: the training tracks (split={split!r}) hold {found}; training needs at "
                           "least two genres")
    # networks fit on train alone (val tracks choose the epoch), so a genre needs a train track
    trained = {t.label for t in dataset.tracks if t.split == "train"}
    untrained = sorted({t.label for t in dataset.tracks if t.label is not None} - trained)
    if untrained:
        raise DatasetError(f"{dataset.source}: genre(s) {', '.join(map(repr, untrained))} have no training track "
                           f"(split={split!r}: each is in val or test only); the model could never name them")
    protocol = split_protocol(whole, split=split, sizes=sizes, seed=seed)
    if split != "all":  # what it gave, beside what was asked: whole artists move the shares
        parts = Counter(t.split for t in dataset.tracks if t.label is not None)
        total = sum(parts[part] for part in ("train", "val", "test")) or 1
        protocol += (f"; {parts['train']}/{parts['val']}/{parts['test']} tracks ("
                     + "/".join(f"{100 * parts[part] / total:.3g}" for part in ("train", "val", "test")) + "%)")
    return dataset, {"protocol": protocol, **notes}


def _warn_of_copies_labelled_apart(dataset: Dataset) -> None:
    """Warn of copies of one song (one split group of files, no artist known) under different
    genres: trained on as both (one file under two labels is a multi-label dataset's, by design)."""
    copies: dict[str, list] = {}
    for track, group in zip(dataset.tracks, dataset.groups):
        if group.startswith("file:") and track.label is not None:
            copies.setdefault(group, []).append(track)

    def labels_by_file(tracks) -> set[frozenset]:  # a multi-genre song's copies each hold all its genres
        files: dict[str, set] = {}
        for track in tracks:
            files.setdefault(track.path, set()).add(track.label)
        return {frozenset(labels) for labels in files.values()}

    apart = [tracks for tracks in copies.values()
             if len({t.path for t in tracks}) > 1 and len(labels_by_file(tracks)) > 1]
    if apart:
        first = apart[0]
        logger.warning("%s: %d song(s) whose copies carry different genres, each trained on under both (first: %s); "
                       "`genrekit datasets check` lists them", dataset.source, len(apart),
                       " = ".join(f"{t.path} ({t.label})" for t in first[:3]))


def _filtered_split_trains_every_genre(dataset: Dataset) -> bool:
    """Whether ``split="gtzan-filtered"`` would give every genre of ``dataset`` a training
    track (a copy holding few of its listed clips, such as gtzan-mini, gets none for some)."""
    try:
        filtered, _ = gtzan_filtered_split(dataset)
    except DatasetError:
        return False
    return {t.label for t in filtered.tracks if t.split == "train"} >= {t.label for t in dataset.tracks}


def _split(dataset: Dataset, *, split: str, sizes, seed: int) -> tuple[Dataset, dict]:
    if split not in SPLITS:
        raise ParameterError(f"split={split!r} must be one of {', '.join(SPLITS)}")
    if split in ("random", "all", "gtzan-filtered"):
        # gtzan-filtered's parts keep artists apart; the k-fold CV over all its tracks does not
        shared = gtzan_shares_artists(dataset, "the k-fold CV train adds on a small dataset, where it runs"
                                      if split == "gtzan-filtered" else
                                      "this split, and the k-fold CV train adds on a small dataset")
        if shared:  # the CV is also given grouped by blocks of adjacent ids (train.classical.small_dataset_cv)
            logger.warning(shared + (" (--split gtzan-filtered is artist-filtered)"
                                     if split != "gtzan-filtered" and _filtered_split_trains_every_genre(dataset)
                                     else "") + "; where the k-fold CV runs, it is also given with folds grouped "
                           f"by blocks of {GTZAN_ID_BLOCK} adjacent ids")
    if split == "all":  # nothing held out: the k-fold CV is the score
        return dataset.with_splits({t.track_id: "train" for t in dataset.tracks}), {}
    if split == "gtzan-filtered":
        dataset, missing = gtzan_filtered_split(dataset)
        return dataset, {"missing_from_filtered_lists": {part: len(ids) for part, ids in missing.items()},
                         "missing_track_ids": missing}
    if split == "dataset":
        unassigned = [t.track_id for t in dataset.tracks if t.split not in ("train", "val", "test")]
        if unassigned:
            raise DatasetError(
                f"{dataset.source}: split='dataset' needs a train/val/test split for every track; "
                f"{len(unassigned)} have none (first: {unassigned[0]}){_split_column_hint(dataset, unassigned)}"
            )
        shared = _groups_across_splits(dataset)
        artists = [g.removeprefix("artist:") for g in shared if g.startswith("artist:")]
        copies = [g.removeprefix("file:") for g in shared if g.startswith("file:")]
        if shared:  # the user's split is kept, but its scores will flatter the model
            logger.warning("%s: the dataset's own split puts %d artist(s) and %d song(s) with copies on two sides "
                           "(first: %s); test scores will be optimistic", dataset.source, len(artists), len(copies),
                           shared[0])
        return dataset, {"artists_across_splits": artists, "copies_across_splits": copies}
    own = Counter(t.split for t in dataset.tracks)
    if own["test"] and sum(own[part] for part in ("train", "val", "test")) == len(dataset.tracks):
        # FMA's, a manifest's split column: published scores use it; a random one cannot be compared with them
        logger.warning("%s: has its own train/val/test split (%d/%d/%d tracks), which this random split ignores; "
                       "--split dataset (split='dataset') uses it", dataset.source, own["train"], own["val"],
                       own["test"])
    labels = [t.label for t in dataset.tracks]
    parts = train_val_test_split(labels, dataset.groups, sizes=sizes, seed=seed)
    uneven = holdout_shortfalls(labels, parts, sizes)
    if uneven:  # an artist (or a song's copies) is never split, so a genre of few of them cannot be cut as asked
        shown = "; ".join(f"{genre}: " + ", ".join(f"{part} {got} (asked {asked})" for part, (got, asked) in by.items())
                          for genre, by in list(uneven.items())[:5])
        kept = ("each artist's tracks, and each song's copies," if any(g.startswith("artist:") for g in dataset.groups)
                else "each song's copies (no artists known)")
        logger.warning("%s: %s kept on one side give %d genre(s) other shares than asked (tracks: %s%s); its scores "
                       "weigh those genres otherwise (run.json: uneven_holdouts)", dataset.source, kept, len(uneven),
                       shown, "; ..." if len(uneven) > 5 else "")
    return dataset.with_splits(dict(zip((t.track_id for t in dataset.tracks), parts))), (
        {"uneven_holdouts": uneven} if uneven else {})


def _groups_across_splits(dataset: Dataset) -> list[str]:
    """The split groups (:attr:`Dataset.groups`: an artist where known, else a song and its
    copies) with tracks in more than one of train/val/test."""
    sides: dict[str, set[str]] = {}
    for track, group in zip(dataset.tracks, dataset.groups):
        sides.setdefault(group, set()).add(track.split)
    return sorted(group for group, parts in sides.items() if len(parts) > 1)


def _split_column_hint(dataset: Dataset, unassigned: list[str]) -> str:
    """For a manifest (:attr:`Dataset.source` its CSV file), what to write in it for
    ``split="dataset"``: a split column, or a split in the rows without one."""
    if dataset.source == dataset.root:  # a folder, GTZAN, FMA: no file of the user's to edit
        return ""
    if len(unassigned) == len(dataset.tracks):
        return f"; add a split column to {dataset.source} with train, val or test in each row"
    return f"; give each row of {dataset.source} a split: train, val or test"


def split_protocol(dataset: Dataset, *, split: str, sizes, seed: int) -> str:
    """How the held-out tracks were chosen, in words, for the printed test score and
    ``metrics.json``'s ``protocol`` (as ``cv.json``'s ``protocol`` words its folds).

    Parameters
    ----------
    dataset : Dataset
        The tracks split (their groups give the grouping of a random split).
    split : str
        One of :data:`SPLITS`.
    sizes : tuple of 3 floats
        The train, validation and test shares of a random split.
    seed : int
        The random split's seed.

    Returns
    -------
    str
        ``"random split by track (no artists known): 80/10/10% of each genre for
        train/val/test, seed 0"`` (``grouped by artist``, ``grouped by artist where known``
        where artists are known), ``"the dataset's own split (m1.csv)"``, ``"GTZAN's
        fault-filtered split (Kereliuk & Sturm)"`` or ``"no split: every track trained on"``.
    """
    if split == "random":
        grouping = fold_grouping(dataset)
        shares = "/".join(f"{100 * s:.3g}" for s in sizes)
        how = f"grouped {grouping}" if grouping != "by track" else "by track (no artists known)"
        return f"random split {how}: {shares}% of each genre for train/val/test, seed {seed}"
    if split == "dataset":
        return f"the dataset's own split ({dataset.source})"
    if split == "gtzan-filtered":
        return "GTZAN's fault-filtered split (Kereliuk & Sturm)"
    return "no split: every track trained on"
