"""Feature tables: one row per track (or per chunk), with the track each row belongs to."""

from __future__ import annotations

import contextlib
import logging
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from genrekit._files import path_given
from genrekit.datasets.core import Dataset
from genrekit.errors import DatasetError, ParameterError, check_flags
from genrekit.features import ExtractionResult, FeatureCache, FeatureSpec, extract_features
from genrekit.features.limits import MAX_FEATURE_VALUE
from genrekit.features.registry import as_feature_spec
from genrekit.untrusted import label_problem

logger = logging.getLogger(__name__)

_GTZAN_CHUNK = re.compile(r"^(?P<track>[a-z]+\.\d{5})\.\d+$")


@dataclass
class FeatureTable:
    """Rows of features with integer genres and the track of each row.

    Attributes
    ----------
    X : np.ndarray [shape=(n_rows, n_features)]
        The features.
    y : np.ndarray [shape=(n_rows,)]
        Indices into ``labels``.
    tracks : np.ndarray [shape=(n_rows,)]
        Track ids (rows of one track are its chunks).
    groups : np.ndarray [shape=(n_rows,)]
        Split groups (artist or track; see :attr:`Dataset.groups`).
    labels : list of str
        The genres ``y`` indexes.
    columns : list of str
        The feature names, one per column of ``X``.
    spec : FeatureSpec, optional
        The features' parameters; None for a table read from a CSV file.
    paths : dict[str, str]
        Track id -> its file (empty for a table read from a CSV file).
    hashes : dict[str, str]
        Track id -> the SHA-256 of its file's bytes (empty for a table read from a CSV file).
    failures : dict[str, str]
        Path -> reason, for the tracks left out.
    """

    X: np.ndarray
    y: np.ndarray
    tracks: np.ndarray
    groups: np.ndarray
    labels: list[str]
    columns: list[str]
    spec: FeatureSpec | None = None
    paths: dict[str, str] = field(default_factory=dict)
    hashes: dict[str, str] = field(default_factory=dict)
    failures: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        # a table built by hand: its mistakes named here, not as scikit-learn's or an IndexError mid-fold
        self.X = np.asarray(self.X, dtype=np.float64) if not isinstance(self.X, np.ndarray) else self.X
        self.y, self.tracks, self.groups = (np.asarray(a) for a in (self.y, self.tracks, self.groups))
        if self.X.ndim != 2 or len(self.columns) != self.X.shape[-1]:
            raise ParameterError(f"X: expected a table of shape (rows, {len(self.columns)} columns), found shape "
                                 f"{self.X.shape}")
        lengths = {"X": len(self.X), "y": len(self.y), "tracks": len(self.tracks), "groups": len(self.groups)}
        if len(set(lengths.values())) > 1:
            raise ParameterError(f"expected one row each in X, y, tracks and groups, found {lengths}")
        if len(self.y) and not (np.issubdtype(self.y.dtype, np.integer) and 0 <= self.y.min()
                                and self.y.max() < len(self.labels)):
            raise ParameterError(f"y: expected indices into labels (0-{len(self.labels) - 1}), found values from "
                                 f"{self.y.min().item()!r} to {self.y.max().item()!r} ({self.y.dtype})")
        if not np.issubdtype(self.X.dtype, np.number) or np.iscomplexobj(self.X):
            raise ParameterError(f"X: expected finite real numbers, found {self.X.dtype}")
        if not np.isfinite(self.X).all():
            raise ParameterError(f"X: expected finite numbers, found {int((~np.isfinite(self.X)).sum())} NaN or "
                                 "infinite value(s)")
        if (huge := int((np.abs(self.X) >= MAX_FEATURE_VALUE).sum())):  # finite, but its square overflows in a fit
            raise ParameterError(f"X: expected features below {MAX_FEATURE_VALUE:g}, found {huge} value(s) as large")

    @property
    def chunked(self) -> bool:
        return len(np.unique(self.tracks)) < len(self.tracks)

    def track_frame(self) -> pd.DataFrame:
        """One row per track: track id, label index, group (in order of first appearance)."""
        frame = pd.DataFrame({"track": self.tracks, "y": self.y, "group": self.groups})
        return frame.drop_duplicates("track").reset_index(drop=True)

    def rows_of(self, track_ids) -> np.ndarray:
        """Row indices of the given tracks' chunks."""
        return np.flatnonzero(np.isin(self.tracks, np.asarray(list(track_ids))))


def check_feature_table(table, name: str = "table") -> None:
    """A ParameterError unless ``table`` is a :class:`FeatureTable`; build_feature_table's
    (table, extraction) pair, given whole, is named as such."""
    if not isinstance(table, FeatureTable):
        pair = isinstance(table, tuple) and bool(table) and isinstance(table[0], FeatureTable)
        raise ParameterError(f"{name}: expected a FeatureTable (genrekit.datasets.build_feature_table of a dataset, "
                             f"or read_feature_table of a CSV), found {type(table).__name__}"
                             + (": build_feature_table returns (table, extraction); table, _ = build_feature_table(...)"
                                if pair else ""))


def build_feature_table(
    dataset: Dataset | str | os.PathLike,
    spec: FeatureSpec | str,
    *,
    labels: list[str] | None = None,
    cache: FeatureCache | None = None,
    n_jobs: int | None = None,
    progress: bool = True,
    runner=None,
) -> tuple[FeatureTable, ExtractionResult]:
    """Extract ``spec`` features for every track; tracks that fail are left out and listed.

    Parameters
    ----------
    dataset : Dataset or path
        The tracks, with their genres and split groups.
    spec : FeatureSpec or str
        The feature set and its parameters, or a feature set's name (its defaults).
    labels : list of str, optional
        The genres ``y`` indexes (default: ``dataset.labels``); a track of another genre is
        left out and listed in ``failures``.
    cache, n_jobs, progress, runner
        As :func:`genrekit.features.extract_features`.

    Returns
    -------
    table : FeatureTable
        The rows of the tracks that gave features; its ``failures`` names the others.
    result : ExtractionResult
        The extraction itself, one entry per track (its ``cache_hits``, for instance).

    Raises
    ------
    DatasetError
        No track gave features.
    """
    check_flags(progress=progress)
    from genrekit.datasets import as_dataset

    spec = as_feature_spec(spec)  # before any file is read: a name, as extract_features takes
    dataset = as_dataset(dataset)
    if labels is not None:
        if isinstance(labels, str) or not all(isinstance(label, str) for label in labels):
            raise ParameterError(f"labels={labels!r:.60}: expected a list of genre names, such as {dataset.labels[:3]}")
        labels = list(labels)
        if not set(labels) & set(dataset.labels):  # every track would be left out: said as what it is
            raise ParameterError(f"labels={labels[:5]!r:.80}: none is a genre of {dataset.source} (its genres: "
                                 f"{', '.join(dataset.labels[:10]) or 'none'})")
    labels = labels or list(dataset.labels)
    index = {label: i for i, label in enumerate(labels)}
    result = extract_features([t.path for t in dataset.tracks], spec, cache=cache, n_jobs=n_jobs, progress=progress,
                              runner=runner)
    rows, ys, tracks, groups = [], [], [], []
    paths, hashes = {}, {}
    failures = dict(result.failures)
    for track, group, features, digest in zip(dataset.tracks, dataset.groups, result.features, result.hashes):
        if features is None:
            continue
        if track.label not in index:
            failures[track.path] = f"{track.path}: genre {track.label!r} is not one of the model's genres"
            continue
        rows.append(features)
        ys += [index[track.label]] * len(features)
        tracks += [track.track_id] * len(features)
        groups += [group] * len(features)
        paths[track.track_id] = track.path
        hashes[track.track_id] = digest
    if not rows:
        raise DatasetError(f"{dataset.source}: no track could be turned into {spec.name} features ({len(failures)} failed)")
    table = FeatureTable(
        X=np.concatenate(rows), y=np.asarray(ys), tracks=np.asarray(tracks), groups=np.asarray(groups),
        labels=list(labels), columns=spec.columns, spec=spec, paths=paths, hashes=hashes, failures=failures,
    )
    return table, result


# Held by a ``genrekit features`` run in its output folder while it writes there: two runs into one
# folder mixed one's run.json with the other's table, or one's spectrograms with the other's settings.
FEATURES_LOCK = "features.lock"


@contextlib.contextmanager
def features_lock(out: str | os.PathLike, *, wait: float = 0.0) -> Iterator[None]:
    """A context holding ``out``'s :data:`FEATURES_LOCK` (waiting up to ``wait`` seconds for
    another run's); a ParameterError naming the folder where another run keeps it. Once held,
    the temporary files a killed run left there are removed
    (:func:`genrekit._files.remove_stale_temporaries`)."""
    from genrekit._files import exclusive_lock, remove_stale_temporaries

    with exclusive_lock(Path(out) / FEATURES_LOCK, f"{out}: another `genrekit features` run is writing to this "
                        f"folder (it holds {FEATURES_LOCK}); wait for it to end, or write to another folder",
                        wait=wait):
        remove_stale_temporaries(out, ("features.csv", "run.json"))  # (spectrograms' run.json too)
        yield


def write_feature_table(out: str | os.PathLike, table: FeatureTable, dataset: Dataset, *,
                        cache_hits: int = 0) -> Path:
    """``<out>/features.csv`` (:func:`feature_frame`; :func:`read_feature_table` reads it back)
    and ``<out>/run.json`` (what ran: the feature spec, the dataset, the counts, every track
    that failed and every dataset problem, with the reasons), each written atomically.

    Parameters
    ----------
    out : path
        The output folder (created).
    table : FeatureTable
        As :func:`build_feature_table` gives it (its ``spec`` set).
    dataset : Dataset
        The dataset it was built from.
    cache_hits : int
        Tracks whose features came from the cache.

    Returns
    -------
    Path
        The ``features.csv`` written.

    Raises
    ------
    ParameterError
        Another run held ``out``'s :data:`FEATURES_LOCK` for a minute: the two files are written
        together, never one run's table with another's record.
    """
    from genrekit import __version__
    from genrekit._files import write_json, write_text_atomic

    out = Path(out)
    text = feature_frame(table).to_csv(float_format="%.10e")
    with features_lock(out, wait=60.0):
        path = write_text_atomic(out / "features.csv", text)
        write_json(out / "run.json", {"command": "features", "genrekit_version": __version__,
                                      "features": table.spec.to_dict(), "dataset": dataset.name,
                                      "n_tracks": len(table.paths), "n_rows": int(len(table.y)),
                                      "cache_hits": cache_hits, "failures": table.failures,
                                      "problems": dataset.problem_records()})
    return path


def read_feature_table(path: str | os.PathLike, *, label_column: str = "label") -> FeatureTable:
    """A published feature table (e.g. GTZAN's ``features_30_sec.csv`` or ``features_3_sec.csv``),
    or one ``genrekit features`` wrote (``fma518``'s three header rows included).

    Numeric columns are features; ``filename`` names the track (``blues.00000.3.wav``, a
    chunk of the 3-second table, belongs to track ``blues.00000``); ``length`` is dropped. In
    genrekit's tables ``track`` names each row's track, ``track_id`` the row and ``group`` the
    track's split group (the artist where known); none of them is a feature. A ``group``
    column added to any table groups its rows' tracks in folds (blocks of adjacent GTZAN ids:
    a stand-in for artists).

    Parameters
    ----------
    path : path
        The CSV file.
    label_column : str
        The column holding each row's genre (read as text: a genre ``NA`` is not a missing
        value).

    Returns
    -------
    FeatureTable
        ``labels`` the label column's values, sorted; ``groups`` the ``group`` column where
        the table has one, else the tracks; no
        ``spec``, ``paths`` or ``hashes``.

    Raises
    ------
    DatasetError
        The file cannot be read or parsed as CSV, or has no ``label_column``, a row without
        a genre, no numeric feature column, or missing values in a feature column.
    """
    path = Path(path_given(path))
    try:
        with open(path, encoding="utf-8-sig") as handle:
            fma_header = handle.readline().startswith("feature,")  # fma518 as genrekit writes it: 3 header rows
        # fma518's three header rows, then a row naming the index (track_id)
        options = {"header": [0, 1, 2], "index_col": 0} if fma_header else {}
        frame = pd.read_csv(path, **options)
        if fma_header:  # the index back as the first column, in one step (518 inserts fragment the frame)
            frame = pd.concat([frame.index.to_frame(index=False), frame.reset_index(drop=True)], axis=1)
            # ("chroma_cens", "kurtosis", "01") -> "chroma_cens.kurtosis.01"; the track_id index column first
            flat = [".".join(part for part in c if part and not part.startswith("Unnamed")) for c in frame.columns]
            flat[0] = "track_id"
            frame.columns = flat
        if label_column not in frame.columns:
            if len(frame.columns) == 1 and ";" in str(frame.columns[0]):  # a spreadsheet's export in a ';' locale
                raise DatasetError(f"{path}: expected comma-separated values, found cells separated by ';' (save it "
                                   "as CSV with commas)")
            raise DatasetError(f"{path}: no {label_column!r} column; found {', '.join(map(str, frame.columns[:8]))}...")
        # a "group" column holds the rows' split groups (genrekit's features.csv, or one added to a
        # published table: blocks of adjacent GTZAN ids, a stand-in for artists), never a feature
        own = "group" in frame.columns
        text = [c for c in (label_column, "filename", "track_id", "track", "group" if own else "") if c in frame.columns]
        # genres and names are text, where a genre "NA" or "null" is not a missing value: these
        # columns alone are read again as text, by their place in the file (fma518's header rows
        # skipped), unless pandas took the first column as the index (a header one name short)
        if isinstance(frame.index, pd.MultiIndex) and not fma_header:
            raise DatasetError(f"{path}: the header names {len(frame.columns)} columns and the rows hold "
                               f"{len(frame.columns) + frame.index.nlevels}; expected one name per column")
        if fma_header or isinstance(frame.index, pd.RangeIndex):
            positions = sorted(list(frame.columns).index(c) for c in text)
            header = {"header": None, "skiprows": 4} if fma_header else {}  # three header rows and the index's name
            as_text = pd.read_csv(path, dtype=str, keep_default_na=False, usecols=positions, **header)
            for position, values in zip(positions, as_text.to_numpy().T):
                frame[frame.columns[position]] = values
        else:
            frame[text] = pd.read_csv(path, dtype=str, keep_default_na=False)[text]
    except (OSError, pd.errors.ParserError, UnicodeDecodeError, ValueError, TypeError) as exc:
        raise DatasetError(f"{path}: cannot read the feature table ({exc})") from exc
    if "track" in frame.columns:  # genrekit's features.csv: a row's track (track_id names the row, chunks k too)
        tracks = frame["track"].to_numpy(dtype=str)
    else:
        names = frame["filename"] if "filename" in frame.columns else (
            frame["track_id"] if "track_id" in frame.columns else pd.Series(frame.index))
        names = names.astype(object).fillna("").astype(str)  # a short row's missing name: ""
        nameless = np.flatnonzero(names.str.strip() == "")
        if len(nameless):  # rows of several genres would be one track "": one fold group, "chunks" of one song
            raise DatasetError(f"{path}: {len(nameless)} row(s) without a file name, the first at data row "
                               f"{nameless[0] + 1}; expected a name on every row (it tells a track's rows apart)")
        stems = names.str.replace(r"\.(wav|au|mp3|flac|ogg)$", "", regex=True)
        tracks = np.array([m["track"] if (m := _GTZAN_CHUNK.match(s)) else s for s in stems])
    features = frame.drop(columns=[c for c in ("filename", "length", "track_id", "track", "group" if own else "",
                                               label_column) if c in frame.columns])
    dropped = list(features.columns.difference(features.select_dtypes("number").columns))
    for column in dropped:
        # text columns (an artist, a split) are not features; a numeric column with a bad cell is damage
        numbers = pd.to_numeric(features[column], errors="coerce")
        cells = features[column].astype(object)
        bad = np.flatnonzero(numbers.isna() & cells.notna() & (cells.astype(str).str.strip() != ""))
        if numbers.notna().any() and len(bad):
            raise DatasetError(f"{path}: column {column!r} holds numbers and {len(bad)} cell(s) that are not, the "
                               f"first at data row {bad[0] + 1}: {str(cells.iloc[bad[0]])[:40]!r}; expected a number "
                               "in every cell of a feature column")
    features = features.select_dtypes("number")
    if features.empty:
        raise DatasetError(f"{path}: no numeric feature columns")
    if dropped:  # all text (an artist), or numbers written as text ("120,5", "120 bpm"): said, not dropped unseen
        logger.warning("%s: %d column(s) of text left out of the features: %s", path, len(dropped),
                       ", ".join(repr(str(c)[:40]) for c in dropped[:8]) + (" ..." if len(dropped) > 8 else ""))
    missing = features.isna().to_numpy()
    if missing.any():  # as the infinite values below: how many, and the first by row and column
        bad = features.columns[missing.any(axis=0)].tolist()
        row, column = np.argwhere(missing)[0]
        raise DatasetError(f"{path}: {int(missing.sum())} missing value(s) in column(s) {', '.join(bad[:5])}, the first "
                           f"in column {features.columns[column]!r} at data row {row + 1}; expected a number in every "
                           "feature cell")
    infinite = ~np.isfinite(features.to_numpy(dtype=np.float64))
    if infinite.any():  # a float overflow where the table was made: no model can use it
        row, column = np.argwhere(infinite)[0]
        raise DatasetError(f"{path}: {int(infinite.sum())} infinite value(s), the first in column "
                           f"{features.columns[column]!r} at data row {row + 1}; expected finite numbers")
    huge = np.abs(features.to_numpy(dtype=np.float64)) >= MAX_FEATURE_VALUE
    if huge.any():  # finite, but its square (a variance, a distance) overflows: NaN deep in a model's fit
        row, column = np.argwhere(huge)[0]
        raise DatasetError(f"{path}: {int(huge.sum())} value(s) of {MAX_FEATURE_VALUE:g} or more, the first "
                           f"{float(features.iat[row, column]):g} in column {features.columns[column]!r} at data row "
                           f"{row + 1}; expected feature values (no feature genrekit computes comes near)")
    unlabelled = np.flatnonzero(frame[label_column].astype(str).str.strip() == "")
    if len(unlabelled):  # a short row or an empty cell: no genre to learn from
        raise DatasetError(f"{path}: {len(unlabelled)} row(s) without a {label_column!r} value, the first at data row "
                           f"{unlabelled[0] + 1}; expected a genre on every row")
    genres = frame[label_column].astype(str).str.strip()  # " blues" was an 11th genre beside "blues"
    by_track = pd.DataFrame({"track": tracks, "genre": genres.to_numpy()}).groupby("track", sort=False)["genre"]
    torn = by_track.nunique()
    torn = torn[torn > 1]
    if len(torn):  # a track's rows are its chunks: one genre each
        track = torn.index[0]
        rows = ", ".join(map(str, np.flatnonzero(tracks == track)[:4] + 1))
        given = ", ".join(sorted(by_track.get_group(track).unique()))
        raise DatasetError(f"{path}: {len(torn)} track(s) whose rows give different genres, the first {track!r} "
                           f"(data rows {rows}: {given}); expected one genre per track (rows of one name are chunks "
                           "of one track)")
    labels = sorted(genres.unique())
    named = next(((label, problem) for label in labels if (problem := label_problem(label))), None)
    if named:  # a 10 MB cell would be printed in every warning and report that names genres
        raise DatasetError(f"{path}: the {label_column!r} column holds a genre that is no genre name: {named[1]}")
    index = {label: i for i, label in enumerate(labels)}
    groups = tracks.copy()
    if own:  # a row whose group cell is empty is its track's own group, as in a table without the column
        given = frame["group"].astype(object).fillna("").astype(str)  # (all such rows were one group "")
        groups = np.array([group if group.strip() else track for group, track in zip(given, tracks)])
    return FeatureTable(
        X=features.to_numpy(dtype=np.float64),
        y=genres.map(index).to_numpy(),
        tracks=tracks,
        groups=groups,
        labels=labels,
        columns=list(features.columns),
    )


def _portable_groups(tracks: list[str], groups: list[str]) -> list[str]:
    """Split groups without paths: ``artist:NAME`` as it is, any other group (a file's path,
    copies of one file joined) named by its first track, so the same tracks share a group."""
    named: dict[str, str] = {}
    for track, group in zip(tracks, groups):
        named.setdefault(group, group if group.startswith("artist:") else f"track:{track}")
    return [named[group] for group in groups]


def feature_frame(table: FeatureTable) -> pd.DataFrame:
    """The table as a DataFrame: index ``track_id`` (``<track>.<k>`` for chunk k), features,
    ``label``, ``track`` and ``group`` (the split group: ``artist:NAME`` where known, else
    ``track:ID`` after the group's first track, so that copies of one file stay together).

    For ``fma518`` the columns are FMA's (feature, statistics, number) MultiIndex, so the
    CSV written from it reads back with FMA's own ``pd.read_csv(..., header=[0, 1, 2])``.

    Parameters
    ----------
    table : FeatureTable

    Returns
    -------
    pandas.DataFrame [shape=(n_rows, n_features + 3)]
        The rows in the table's order; chunk numbers ``k`` count from 0 within each track, and
        every row carries one when any track has more than one row. Paths and hashes are not
        in it.
    """
    index = list(map(str, table.tracks))
    if table.chunked:
        counts: dict[str, int] = {}
        for i, track in enumerate(index):
            counts[track] = counts.get(track, -1) + 1
            index[i] = f"{track}.{counts[track]}"
    columns = table.columns
    if table.spec is not None and table.spec.name == "fma518":
        columns = pd.MultiIndex.from_tuples([tuple(c.split(".")) for c in columns], names=("feature", "statistics", "number"))
    frame = pd.DataFrame(table.X, index=pd.Index(index, name="track_id"), columns=columns)
    labels = [table.labels[i] for i in table.y]
    tracks = list(map(str, table.tracks))  # each row's track: read_feature_table keeps a track's chunks together
    groups = _portable_groups(tracks, list(map(str, table.groups)))  # folds read back stay grouped
    if isinstance(columns, pd.MultiIndex):
        frame[("label", "", "")] = labels
        frame[("track", "", "")] = tracks
        frame[("group", "", "")] = groups
    else:
        frame["label"] = labels
        frame["track"] = tracks
        frame["group"] = groups
    return frame
