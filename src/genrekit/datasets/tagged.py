"""A music library labelled by its owner's own genre tags, wherever its files sit.

Most personal libraries are half tagged. :func:`load_tagged` reads each file's genre and
artist tags (:func:`genrekit.audio.tags.read_song_tags`) and makes the tagged files a
dataset in the owner's taxonomy: spellings merged by a map the owner writes (:func:`read_genre_map`),
genres with too few files left out and named, artists kept so that folds never split one.
The files without a genre are listed (``taxonomy.untagged``): they are the ones to fill in.

Genres that genrekit itself wrote (its provenance fields are set) are a model's answer, not
the owner's, and are never learned from.
"""

from __future__ import annotations

import csv
import difflib
import logging
import os
from collections import Counter, defaultdict
from dataclasses import dataclass, field, replace
from pathlib import Path

from genrekit.audio.tags import genre_key, is_placeholder, squashed_genre
from genrekit.datasets.core import Dataset, DatasetProblem, Track
from genrekit.datasets.folder import _audio_files, _require_dir
from genrekit.errors import DatasetError
from genrekit.untrusted import label_problem

logger = logging.getLogger(__name__)

MULTI = ("first", "all")


def read_genre_map(path: str | os.PathLike) -> dict[str, str]:
    """A genre map: a CSV with the header ``from,to``, one spelling per row (``Hip Hop,hiphop``).

    Parameters
    ----------
    path : path
        The CSV file (UTF-8, a byte-order mark allowed). Blank rows are skipped; the header's
        case and surrounding spaces do not matter.

    Returns
    -------
    dict[str, str]
        ``genre_key(from) -> to``: the spelling as :func:`genrekit.audio.tags.genre_key`
        matches it (case and runs of white space ignored), the genre with its runs of white
        space made one space.

    Raises
    ------
    DatasetError
        Naming the file, and the row where there is one: the file cannot be read, the header
        is missing, a row is not two non-empty cells, or one spelling is mapped to two genres.
    """
    path = Path(path)
    try:
        with open(path, newline="", encoding="utf-8-sig") as handle:
            rows = list(csv.reader(handle))
    except (OSError, UnicodeDecodeError, csv.Error) as exc:  # csv.Error: a cell past the csv module's 128 kB
        raise DatasetError(f"{path}: expected a genre map (CSV with the header from,to), could not read it: {exc}") from exc
    if not rows or [c.strip().lower() for c in rows[0]] != ["from", "to"]:
        found = ",".join(rows[0]) if rows else "an empty file"
        raise DatasetError(f"{path}: expected the header 'from,to', found {found!r}")
    mapping: dict[str, str] = {}
    row_of: dict[str, int] = {}  # a spelling -> the row that maps it
    target_of: dict[str, tuple[str, int]] = {}  # a genre's key -> its spelling, and the row that first gave it
    for number, row in enumerate(rows[1:], start=2):
        if not any(cell.strip() for cell in row):
            continue
        if len(row) != 2 or not row[0].strip() or not row[1].strip():
            raise DatasetError(f"{path}, row {number}: expected two non-empty cells 'from,to', found {row!r}")
        source, target = genre_key(row[0]), " ".join(row[1].split())
        if (why := label_problem(target)) is not None:  # it would be a model's genre, written into songs
            raise DatasetError(f"{path}, row {number}: the genre it maps to is unusable: {why}")
        if mapping.get(source, target) != target:
            raise DatasetError(f"{path}, row {number}: {row[0].strip()!r} is mapped to both "
                               f"{mapping[source]!r} and {target!r}")
        spelled, first = target_of.setdefault(genre_key(target), (target, number))
        if spelled != target:  # "HipHop" and "hiphop" stayed two genres
            raise DatasetError(f"{path}, row {number}: maps to {target!r}, which row {first} spells {spelled!r}: "
                               "spell each genre one way")
        mapping[source], row_of[source] = target, number
    for source, target in mapping.items():  # the map is applied once: a chain or a swap was half of each
        onward = mapping.get(genre_key(target), target)
        if onward != target:
            raise DatasetError(f"{path}, row {row_of[source]}: maps to {target!r}, which row "
                               f"{row_of[genre_key(target)]} maps to {onward!r}; the map is applied once: map each "
                               f"spelling straight to its genre (to {onward!r} here, if that is meant)")
    return mapping


@dataclass
class TagTaxonomy:
    """What a library's genre tags hold.

    Attributes
    ----------
    spellings : dict[str, dict[str, int]]
        Genre -> {spelling as found: files}.
    counts : dict[str, int]
        Genre -> files labelled with it, for the genres kept.
    left_out : dict[str, int]
        Genre -> files, for genres under ``min_per_genre``.
    untagged : list of str
        Files without a genre tag.
    by_genrekit : list of str
        Files whose genres genrekit wrote (not learned from).
    near_duplicates : list of list of str
        Groups of genres that look like spellings of one genre (candidates for the map).
    multi_genre : int
        Files with more than one genre (once mapped and merged).
    placeholders : dict[str, int]
        Values such as ``Unknown`` that say the genre is not known, with how often each was
        found (ignored: a file with nothing else is untagged).
    untaggable : list of str
        Files in formats without tags genrekit reads (``.au``), neither labelled nor listed as
        untagged; filled in by :func:`load_tagged`.
    labels_of : dict[str, list[str]]
        Path -> all its genres, as labels, whatever ``multi`` chose (genres left out included).
    mapped : dict[str, str]
        Spelling as found -> genre, for the spellings the genre map named.
    min_per_genre : int
        The files a genre needed to be kept.
    """

    spellings: dict[str, dict[str, int]] = field(default_factory=dict)
    counts: dict[str, int] = field(default_factory=dict)
    left_out: dict[str, int] = field(default_factory=dict)
    untagged: list[str] = field(default_factory=list)
    by_genrekit: list[str] = field(default_factory=list)
    near_duplicates: list[list[str]] = field(default_factory=list)
    multi_genre: int = 0
    placeholders: dict[str, int] = field(default_factory=dict)  # "Unknown", "<unknown>"...: ignored
    untaggable: list[str] = field(default_factory=list)  # formats without tags genrekit reads (.au)
    labels_of: dict[str, list[str]] = field(default_factory=dict)  # path -> all its genres, as labels
    mapped: dict[str, str] = field(default_factory=dict)
    min_per_genre: int = 1


# difflib's comparison of every pair is quadratic: 2,000 names of one length took 50 s. Past
# this many distinct names only those equal once squashed are grouped.
MAX_FUZZY_GENRES = 1000
# A song's tags rarely hold more than a handful of genres; a file with thousands (a crafted
# one, or a tagger's bug) is read for its first ones.
MAX_GENRES_PER_SONG = 32


def near_duplicates(genres: list[str], *, cutoff: float = 0.85) -> list[list[str]]:
    """Groups of genre names that are likely one genre spelled apart: equal once case, spaces
    and punctuation are dropped (``Hip Hop``, ``hip-hop``), or nearly so (``Electronica`` and
    ``Electronic``; difflib's ratio at least ``cutoff``, among at most
    :data:`MAX_FUZZY_GENRES` names).

    Parameters
    ----------
    genres : list of str
        Distinct genre names.
    cutoff : float
        The least similarity (0 to 1) of two names, once case, spaces and punctuation are
        dropped, that puts them in one group.

    Returns
    -------
    list of list of str
        Groups of two or more names, each sorted, the groups in order of their first name. A
        name is in at most one group: ``a`` like ``b`` and ``b`` like ``c`` makes one group of
        three. A name with no letter or digit joins none.
    """
    squashed = {g: squashed_genre(g) for g in genres}
    parent = {g: g for g in genres}

    def find(g: str) -> str:
        while parent[g] != g:
            g = parent[g]
        return g

    ordered = sorted(genres)
    fuzzy = len(ordered) <= MAX_FUZZY_GENRES
    if not fuzzy:  # equal once squashed: one pass
        logger.warning("%d genre names: only spellings equal once case, spaces and punctuation are dropped are "
                       "grouped as one genre (near spellings are looked for among %d names at most)",
                       len(ordered), MAX_FUZZY_GENRES)
        first: dict[str, str] = {}
        for g in ordered:
            if squashed[g]:
                parent[g] = first.setdefault(squashed[g], g)
    for i, a in enumerate(ordered if fuzzy else ()):
        sa = squashed[a]
        for b in ordered[i + 1:]:
            sb = squashed[b]
            if not (sa and sb):
                continue
            # a ratio >= cutoff needs 2 min(len) / (len + len) >= cutoff: most pairs end here, cheaply
            if sa != sb and 2 * min(len(sa), len(sb)) < cutoff * (len(sa) + len(sb)):
                continue
            matcher = difflib.SequenceMatcher(None, sa, sb)
            if sa == sb or (matcher.quick_ratio() >= cutoff and matcher.ratio() >= cutoff):
                parent[find(b)] = find(a)
    groups: dict[str, list[str]] = defaultdict(list)
    for g in ordered:
        groups[find(g)].append(g)
    return [members for members in groups.values() if len(members) > 1]


@dataclass(frozen=True)
class OwnedSong:
    """A song as its owner filed it.

    Attributes
    ----------
    path : str
        The song's file.
    genres : tuple of str
        Its genres, in order (empty: untagged).
    artist : str or None
        None: unknown.
    by_genrekit : bool
        genrekit set the genres (a model's answer, never learned from).
    """

    path: str
    genres: tuple[str, ...]
    artist: str | None = None
    by_genrekit: bool = False


def load_tagged(root: str | os.PathLike, *, genre_map: dict[str, str] | None = None, min_per_genre: int = 1,
                multi: str = "first", name: str | None = None) -> Dataset:
    """Every audio file below ``root`` labelled with its own genre tag (:func:`genre_dataset`
    of the files' tags, read with :func:`genrekit.audio.tags.read_song_tags`).

    Parameters
    ----------
    root : path
        The library folder, searched recursively; folder names mean nothing.
    genre_map, min_per_genre, multi :
        As :func:`genre_dataset`.
    name : str, optional
        The dataset's name (default: the folder's).

    Returns
    -------
    Dataset
        As :func:`genre_dataset`; files whose tags cannot be read, or whose format has none
        that genrekit reads, are problems; files in formats without such tags (``.au``) are
        listed in ``taxonomy.untaggable``.

    Raises
    ------
    DatasetError
        ``root`` is not a folder, an option is invalid, or no file has a genre tag.
    """
    from genrekit.audio.tags import TAGGABLE, read_song_tags
    from genrekit.errors import GenrekitError

    root = _require_dir(root)
    songs, problems, untaggable = [], [], []
    for path in _audio_files(root, problems=problems):
        if path.suffix.lower() not in TAGGABLE:
            untaggable.append(str(path))  # no tags genrekit reads or writes: neither labelled nor filled in
            continue
        try:
            tags = read_song_tags(path)
        except GenrekitError as exc:  # its tags cannot be read: named once, as every problem is
            problems.append(DatasetProblem(str(path), str(exc).removeprefix(f"{path}: ")))
            continue
        songs.append(OwnedSong(str(path), tags.genres, tags.artist, tags.by_genrekit))
    dataset = genre_dataset(songs, root=root, genre_map=genre_map, min_per_genre=min_per_genre, multi=multi,
                            name=name or root.name)
    dataset.problems[:0] = problems
    dataset.taxonomy.untaggable = untaggable
    return dataset


def genre_dataset(songs: list[OwnedSong], *, root: str | os.PathLike, name: str, genre_map: dict[str, str] | None = None,
                  min_per_genre: int = 1, multi: str = "first") -> Dataset:
    """A dataset in the owner's taxonomy, from what each song was filed under (its files' tags,
    or a library database such as beets').

    Parameters
    ----------
    songs : list of OwnedSong
        Every song; the untagged and genrekit-tagged ones are listed in the taxonomy, not trained on.
    root : path
        The library's folder: track ids are paths relative to it (absolute where outside).
    name : str
        The dataset's name.
    genre_map : dict, optional
        :func:`read_genre_map`'s ``genre_key(spelling) -> genre``. A spelling not in it is
        merged case-insensitively with its other spellings and with the map's genres: the
        map's name, else the most frequent spelling (a tie: the first found) names the genre.
    min_per_genre : int
        Genres with fewer songs are left out (``taxonomy.left_out``: the user's choice, not a problem).
    multi : str
        A song with several genres: ``first`` labels it with its first; ``all`` makes it one
        example of each (multi-label by copies: a softmax head trained on copies spreads
        its probability over the song's genres); its copies share a split group
        (:attr:`Dataset.groups`), so a song never sits on both sides of a fold.

    Returns
    -------
    Dataset
        Tracks with ``label`` the genre and ``artist`` the artist; ``taxonomy`` a :class:`TagTaxonomy`.

    Raises
    ------
    DatasetError
        ``multi`` or ``min_per_genre`` is invalid, or no song has a genre of its owner's.
    """
    if multi not in MULTI:
        raise DatasetError(f"multi={multi!r}: expected one of {', '.join(MULTI)}")
    if not isinstance(min_per_genre, int) or isinstance(min_per_genre, bool) or min_per_genre < 1:
        raise DatasetError(f"min_per_genre={min_per_genre!r}: expected a whole number of files, at least 1")
    root = Path(root)
    genre_map = genre_map or {}
    taxonomy = TagTaxonomy(min_per_genre=min_per_genre)
    problems: list[DatasetProblem] = []
    placeholders: Counter = Counter(g for song in songs if not song.by_genrekit for g in song.genres
                                    if is_placeholder(g))
    taxonomy.placeholders = dict(sorted(placeholders.items()))
    for song in songs:
        if len(song.genres) > MAX_GENRES_PER_SONG:
            problems.append(DatasetProblem(song.path, f"{len(song.genres)} genres in its tags; the first "
                                                      f"{MAX_GENRES_PER_SONG} are read", left_out=False))
    songs = [replace(song, genres=tuple(g for g in song.genres[:MAX_GENRES_PER_SONG] if not is_placeholder(g)))
             for song in songs]
    # a genre no model may have (a control character, 300 characters): that file's problem, named,
    # not the whole library's refusal; a map may still name what it stands for
    unusable, usable = set(), []  # songs left with no genre: a problem, not untagged
    for song in songs:
        bad = {g: why for g in song.genres if genre_key(g) not in genre_map and (why := label_problem(g))}
        if bad and not song.by_genrekit:
            kept = len(bad) < len(song.genres)
            why = next(iter(bad.values()))
            problems.append(DatasetProblem(song.path, f"its genre tag is unusable as a genre: {why}; "
                                                      + ("that genre is left out" if kept else "left out"),
                                           left_out=not kept))
            unusable.update([] if kept else [song.path])
        usable.append(replace(song, genres=tuple(g for g in song.genres if g not in bad)))
    songs = usable
    found = [song for song in songs if song.genres and not song.by_genrekit]
    taxonomy.untagged = [song.path for song in songs
                         if not song.genres and not song.by_genrekit and song.path not in unusable]
    taxonomy.by_genrekit = [song.path for song in songs if song.by_genrekit]
    if not found:
        raise DatasetError(f"{root}: no song has a genre of its owner's; expected some songs tagged with genres "
                           f"({len(taxonomy.untagged)} untagged, {len(taxonomy.by_genrekit)} tagged by genrekit)")
    spellings: dict[str, Counter] = defaultdict(Counter)  # genre_key -> spellings as found
    for song in found:
        for genre in song.genres:
            spellings[genre_key(genre)][genre] += 1
    targets = {genre_key(target): target for target in genre_map.values()}

    def label_of(spelling: str) -> str:
        key = genre_key(spelling)
        if key in genre_map:
            return genre_map[key]
        if key in targets:  # "Classical" joins the map's "classical"
            return targets[key]
        return max(spellings[key], key=spellings[key].get)  # the most frequent; a tie: the first found

    labelled = []
    for song in found:
        labels = list(dict.fromkeys(label_of(g) for g in song.genres))
        taxonomy.multi_genre += len(labels) > 1
        taxonomy.labels_of[song.path] = labels
        labelled.append((song, labels if multi == "all" else labels[:1]))
        for g in song.genres:
            label = label_of(g)
            taxonomy.spellings.setdefault(label, Counter())[g] += 1
            if genre_key(g) in genre_map:
                taxonomy.mapped[g] = label
    counts = Counter(label for _, labels in labelled for label in labels)
    taxonomy.left_out = {g: n for g, n in sorted(counts.items()) if n < min_per_genre}
    taxonomy.counts = {g: n for g, n in sorted(counts.items()) if n >= min_per_genre}
    taxonomy.spellings = {g: dict(sorted(s.items())) for g, s in sorted(taxonomy.spellings.items())}
    taxonomy.near_duplicates = near_duplicates(sorted(counts))
    tracks = []
    for song, labels in labelled:
        kept = [label for label in labels if label in taxonomy.counts]
        if not kept and multi != "all":  # its first genre too rare to learn: its first genre that is learned
            kept = [label for label in taxonomy.labels_of[song.path] if label in taxonomy.counts][:1]
        path = Path(song.path)
        relative = path.relative_to(root).as_posix() if path.is_relative_to(root) else path.as_posix()
        for label in kept:
            track_id = relative if len(kept) == 1 else f"{relative}#{label}"
            tracks.append(Track(track_id=track_id, path=song.path, label=label, artist=song.artist))
    taxonomy.counts = dict(sorted(Counter(track.label for track in tracks).items()))  # those songs counted too
    return Dataset(name=name, root=str(root), tracks=tracks, problems=problems, taxonomy=taxonomy)
