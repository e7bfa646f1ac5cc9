"""Tracks and datasets: declared data, validated when loaded."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace

from typing import TYPE_CHECKING

import pandas as pd

if TYPE_CHECKING:
    from genrekit.datasets.tagged import TagTaxonomy


@dataclass(frozen=True)
class Track:
    """One song (or clip) of a dataset."""

    track_id: str
    path: str
    label: str | None
    artist: str | None = None
    duration: float | None = None
    split: str | None = None


@dataclass(frozen=True)
class DatasetProblem:
    """Something wrong with a dataset that did not stop it from loading."""

    path: str
    reason: str


@dataclass
class Dataset:
    """A labelled collection of tracks plus the problems found while reading it."""

    name: str
    root: str
    tracks: list[Track]
    problems: list[DatasetProblem] = field(default_factory=list)
    taxonomy: TagTaxonomy | None = None  # datasets labelled by their files' own tags

    def __len__(self) -> int:
        return len(self.tracks)

    @property
    def labels(self) -> list[str]:
        """The genres present, sorted (never in file-system order)."""
        return sorted({t.label for t in self.tracks if t.label is not None})

    @property
    def groups(self) -> list[str]:
        """Split groups: the artist where known, else the file, so that no artist (and no file
        labelled twice, as multi-label copies are) spans a split."""
        return [f"artist:{t.artist}" if t.artist else f"file:{t.path}" for t in self.tracks]

    def to_frame(self) -> pd.DataFrame:
        return pd.DataFrame([asdict(t) for t in self.tracks])

    def select(self, track_ids) -> Dataset:
        """The dataset restricted to ``track_ids`` (in this dataset's order)."""
        wanted = set(track_ids)
        return replace(self, tracks=[t for t in self.tracks if t.track_id in wanted])

    def with_splits(self, splits: dict[str, str]) -> Dataset:
        """A copy whose tracks carry ``splits[track_id]`` (tracks not in ``splits`` are dropped)."""
        return replace(
            self, tracks=[replace(t, split=splits[t.track_id]) for t in self.tracks if t.track_id in splits]
        )
