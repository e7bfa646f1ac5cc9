"""Tracks and datasets: declared data, validated when loaded."""

from __future__ import annotations

import functools
import os
import unicodedata
from dataclasses import asdict, dataclass, field, replace
from typing import TYPE_CHECKING

import pandas as pd

from genrekit._files import utf8_shown
from genrekit.errors import ParameterError

if TYPE_CHECKING:
    from genrekit.datasets.tagged import TagTaxonomy


#: What taggers and rippers write where the artist is not known, or is many (a compilation's
#: album artist): not an artist, so not one split group across every genre
PLACEHOLDER_ARTISTS = frozenset({
    "various artists", "various", "various artist", "va", "v.a.", "v/a", "unknown artist", "unknown", "[unknown]",
    "<unknown>", "(unknown)", "[unknown artist]", "unknown artists", "artist", "no artist", "n/a", "none", "-",
})


def is_placeholder_artist(name: str) -> bool:
    """Whether ``name`` (any case, spacing or composition) stands for no artist in particular."""
    return " ".join(unicodedata.normalize("NFKC", name).casefold().split()) in PLACEHOLDER_ARTISTS


# genrekit.predict.song.UNKNOWN: never a genre to learn (a test keeps the two the same)
UNKNOWN_GENRE = "unknown"


@dataclass(frozen=True)
class Track:
    """One song (or clip) of a dataset.

    Attributes
    ----------
    track_id : str
        The track's id, unique in the datasets the loaders make: made from the file's path,
        GTZAN's ``<genre>.NNNNN``, FMA's track number or a manifest's ``track_id`` column.
    path : str
        The audio file (or spectrogram image): a local path or a URL.
    label : str or None
        The genre; None: unlabelled (every loader sets one).
    artist : str, optional
        Where known: tracks of one artist never sit on both sides of a split.
    duration : float, optional
        Seconds, where a manifest or FMA's metadata gives it (not read from the file).
    split : str, optional
        ``train``, ``val`` or ``test`` where a manifest, FMA's metadata or
        :func:`gtzan_filtered_split` gives one.
    """

    track_id: str
    path: str
    label: str | None
    artist: str | None = None
    duration: float | None = None
    split: str | None = None


@dataclass(frozen=True)
class DatasetProblem:
    """Something wrong with a dataset that did not stop it from loading.

    Attributes
    ----------
    path : str
        What it is about: a file or folder, a manifest's ``file:line``, or a genre.
    reason : str
        What is wrong, and what was done about it (the track left out, the genre renamed).
    left_out : bool
        Whether something the dataset holds (a file, a folder's files, a manifest's row) was
        left out because of it: the default. False for a note, which keeps every track as it
        was read (two spellings of one genre merged into one, an empty genre folder, a split
        word not known): a run reports it, and is not partial for it.
    """

    path: str
    reason: str
    left_out: bool = True


def _is_utf8(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


@dataclass
class Dataset:
    """A labelled collection of tracks plus the problems found while reading it.

    Attributes
    ----------
    name : str
        The dataset's name: its folder's, its manifest file's (without the extension),
        ``gtzan`` or ``fma_<subset>``.
    root : str
        Its folder: for a manifest, the CSV file's folder; for GTZAN, the folder holding the
        genre folders.
    tracks : list of Track
        In the loader's order.
    problems : list of DatasetProblem
        What the loader left out or changed, and why.
    taxonomy : TagTaxonomy, optional
        For a library labelled by its files' own genre tags (:func:`load_tagged`), what those
        tags hold; None for other datasets.
    source : str
        What it was read from, as the user named it, for messages: a manifest's file (its
        ``root`` is the file's folder, ``.`` for one in the working folder); default ``root``.
    """

    name: str
    root: str
    tracks: list[Track]
    problems: list[DatasetProblem] = field(default_factory=list)
    taxonomy: TagTaxonomy | None = None  # datasets labelled by their files' own tags
    source: str = ""

    def __post_init__(self) -> None:
        self.source = self.source or self.root
        # "unknown" is genrekit's answer for a song it cannot name: as a model's genre it would be
        # read as "not music" and never written as a tag. Left out, and said so, in any case and
        # spacing ("Unknown" was kept where more tracks spelled it so than "unknown")
        def unnamed(track: Track) -> bool:
            return isinstance(track.label, str) and track.label.strip().casefold() == UNKNOWN_GENRE

        unnamed_genre = [t for t in self.tracks if unnamed(t)]
        if unnamed_genre:
            self.tracks = [t for t in self.tracks if not unnamed(t)]
            self.problems = [*self.problems, *(
                DatasetProblem(t.path, f"its genre is {t.label!r}, genrekit's answer for a song it cannot name: "
                                       "left out (name its genre to train on it)") for t in unnamed_genre)]
        # A file name that is not UTF-8 (Python keeps its odd bytes as surrogates) cannot go
        # into the tables, CSVs and reports every command writes: left out, and said so.
        unnamed = [t for t in self.tracks if not (_is_utf8(t.path) and _is_utf8(t.track_id))]
        if unnamed:
            self.tracks = [t for t in self.tracks if _is_utf8(t.path) and _is_utf8(t.track_id)]
            why = "genrekit's tables and reports hold names as UTF-8 text"
            # the dataset's own folder misnamed: one problem, not one per file below it
            inside = self.root.rstrip("/") + "/"
            below = [t.path.startswith(inside) and not _is_utf8(self.root) for t in unnamed]
            if any(below):
                self.problems = [*self.problems, DatasetProblem(utf8_shown(self.root), (
                    f"its name is not valid UTF-8: its {sum(below)} track(s) left out (rename the folder; {why})"))]
            self.problems = [*self.problems, *(
                DatasetProblem(utf8_shown(t.path), f"its name is not valid UTF-8: left out (rename the file; {why})")
                for t, is_below in zip(unnamed, below) if not is_below)]

    def __len__(self) -> int:
        return len(self.tracks)

    def record(self) -> dict:
        """What a run record says of the dataset: ``name``, ``root``, ``source`` (the folder
        or manifest it was read from), ``n_tracks`` and ``labels``."""
        return {"name": self.name, "root": self.root, "source": self.source, "n_tracks": len(self.tracks),
                "labels": self.labels}

    def problem_records(self) -> list[dict[str, str | bool]]:
        """The problems as JSON objects (``path``, ``reason``, ``left_out``), as every run record
        lists them (:func:`left_out_and_notes` tells them apart)."""
        return [{"path": p.path, "reason": p.reason, "left_out": p.left_out} for p in self.problems]

    @property
    def labels(self) -> list[str]:
        """The genres present, sorted (never in file-system order)."""
        return sorted({t.label for t in self.tracks if t.label is not None})

    @property
    def groups(self) -> list[str]:
        """Split groups: the artist where known (one group however its name is cased or its
        accents composed: "Café Tacvba", "CAFÉ TACVBA"; "Various Artists", "Unknown Artist" and the
        like are no artist: :data:`PLACEHOLDER_ARTISTS`), else the file, so that no artist (and
        no file labelled twice, as multi-label copies are) spans a split. Tracks whose files hold the
        same bytes (a copy under another name, a link, ``song.wav`` beside ``song (1).wav``),
        or open with the same 10 s of audio (``song.wav`` beside ``song.flac``, a clip beside a
        cut of it: :func:`genrekit.audio.opening_hash`), or, clips under 10 s, hold the same
        audio (:func:`genrekit.audio.audio_hash`), join one group, so no copy of a song is
        tested on while another is trained on."""
        spelling: dict[str, str] = {}  # an artist's name however it is cased or composed -> its first spelling

        def artist(name: str) -> str:
            return "artist:" + spelling.setdefault(unicodedata.normalize("NFC", name).casefold().strip(), name.strip())

        memo_key = tuple((t.path, t.artist) for t in self.tracks)
        memo = self.__dict__.get("_groups_memo")
        if memo is not None and memo[0] == memo_key:  # asked by each step (checks, extraction, folds): made once
            return list(memo[1])
        keys = [artist(t.artist) if t.artist and not is_placeholder_artist(t.artist) else f"file:{t.path}"
                for t in self.tracks]
        parent = {key: key for key in keys}

        def root(key: str) -> str:
            while parent[key] != key:
                parent[key] = key = parent[parent[key]]
            return key

        from concurrent.futures import ThreadPoolExecutor

        from genrekit.runners import default_jobs

        # each file read and its opening decoded in a thread per core (outside the GIL)
        with ThreadPoolExecutor(max_workers=max(1, min(default_jobs(), len(self.tracks)))) as pool:
            contents = list(pool.map(_contents_of, [t.path for t in self.tracks]))
        first_with: dict[str, str] = {}
        for key, found in zip(keys, contents):
            for content in found:
                if content in first_with:
                    parent[root(key)] = root(first_with[content])
                else:
                    first_with[content] = key
        groups = [root(key) for key in keys]
        self.__dict__["_groups_memo"] = (memo_key, groups)
        return list(groups)

    def to_frame(self) -> pd.DataFrame:
        return pd.DataFrame([asdict(t) for t in self.tracks])

    def select(self, track_ids) -> Dataset:
        """The dataset restricted to ``track_ids`` (in this dataset's order); a ParameterError
        naming the ids it does not hold (a misspelt one would have selected nothing, silently)."""
        if isinstance(track_ids, str):  # one id, not its characters
            track_ids = [track_ids]
        wanted = set(track_ids)
        held = {t.track_id for t in self.tracks}
        if strangers := sorted(map(str, wanted - held)):
            like = f"its ids look like {self.tracks[0].track_id!r}" if self.tracks else "it holds no track"
            raise ParameterError(f"track_ids: {len(strangers)} id(s) {self.name} does not hold (first: "
                                 f"{', '.join(repr(s[:80]) for s in strangers[:3])}); {like}")
        return replace(self, tracks=[t for t in self.tracks if t.track_id in wanted])

    def with_splits(self, splits: dict[str, str]) -> Dataset:
        """A copy whose tracks carry ``splits[track_id]`` (tracks not in ``splits`` are dropped)."""
        copy = replace(  # str(): a split drawn by numpy is an np.str_, shown as np.str_('train')
            self, tracks=[replace(t, split=str(splits[t.track_id])) for t in self.tracks if t.track_id in splits]
        )
        if "_groups_memo" in self.__dict__:  # the same files: their groups (content hashes) are not read again
            copy.__dict__["_groups_memo"] = self.__dict__["_groups_memo"]
        return copy


def left_out_and_notes(problems) -> tuple[list, list]:
    """``problems`` (:class:`DatasetProblem` s, or their :meth:`Dataset.problem_records`) parted
    into those that left something out and the notes, each in its order. A record without
    ``left_out`` (a run record written before it was kept, or a command's own) left something out."""
    def left_out(problem) -> bool:
        return problem.get("left_out", True) if isinstance(problem, dict) else problem.left_out

    problems = list(problems or ())
    return [p for p in problems if left_out(p)], [p for p in problems if not left_out(p)]


def _tracks(n: int) -> str:
    return f"{n} track" if n == 1 else f"{n} tracks"


def _differences(a: str, b: str) -> list[str]:
    """How two spellings of one genre differ: "case", "spaces", "Unicode composition"."""
    def composed(text: str) -> str:
        return unicodedata.normalize("NFC", text)

    found = ["case"] if composed(a).strip() != composed(b).strip() else []
    found += ["spaces"] if a != a.strip() or b != b.strip() else []
    if composed(a) != a or composed(b) != b:
        found.append("Unicode composition (an accent written as its own character)")
    return found


def merge_case_spellings(tracks: list[Track], where: str) -> tuple[list[Track], list[DatasetProblem]]:
    """Labels that differ only in case, Unicode composition or surrounding spaces (``Rock`` and
    ``rock``) are one genre: each group takes its spelling with the most tracks (ties: one
    without surrounding spaces, then the first in sorted order), and every other spelling is
    reported as a problem naming what it became.
    ``where``: the dataset's folder or file, for the problems."""
    counts: dict[str, dict[str, int]] = {}
    for track in tracks:
        if track.label is not None:
            # "Café" typed on macOS (decomposed) and on Linux (composed) are one spelling too
            spellings = counts.setdefault(unicodedata.normalize("NFC", track.label.strip()).casefold(), {})
            spellings[track.label] = spellings.get(track.label, 0) + 1
    renamed, problems = {}, []
    for spellings in counts.values():
        if len(spellings) > 1:
            # the most used spelling; on a tie, one without surrounding spaces, then the first in order
            kept = min(spellings, key=lambda spelling: (-spellings[spelling], spelling != spelling.strip(), spelling))
            for spelling in sorted(set(spellings) - {kept}):
                renamed[spelling] = kept
                how = " and ".join(_differences(spelling, kept))
                problems.append(DatasetProblem(where, f"genre {spelling!r} ({_tracks(spellings[spelling])}) differs "
                                                      f"from {kept!r} ({_tracks(spellings[kept])}) only in {how}: "
                                                      f"labelled {kept!r}", left_out=False))
    if not renamed:
        return tracks, problems
    return [replace(t, label=renamed[t.label]) if t.label in renamed else t for t in tracks], problems


def _contents_of(path: str) -> tuple[str, ...]:
    """What a copy of the file shares with it: its content hash and the hash of its first 10 s
    of audio, or of all of a shorter clip's (unless silence), remembered per (path, size, mtime);
    none for a URL or a file that cannot be read or decoded (its analysis reports why)."""
    from genrekit.audio import remote

    if remote.is_url(path):
        return ()
    try:
        stat = os.stat(path)
    except OSError:
        return ()
    return _content_hashes(path, stat.st_size, stat.st_mtime_ns)


@functools.lru_cache(maxsize=1 << 18)
def _content_hashes(path: str, size: int, mtime_ns: int) -> tuple[str, ...]:
    from genrekit.audio import content_hash, is_audio_path, opening_hash
    from genrekit.errors import AudioError

    try:
        content = content_hash(path)
    except AudioError:
        return ()
    if not is_audio_path(path):  # an image network's PNGs hold no audio
        return (content,)
    try:  # a clip under 10 s: all of its audio, in the same decode (not digital silence, which many share)
        opening = opening_hash(path, whole_if_shorter=True)
    except AudioError:
        opening = None
    return (content,) if opening is None else (content, f"opening:{opening}")
