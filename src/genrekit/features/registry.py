"""Named feature sets and the parameters that define a feature table."""

from __future__ import annotations

import functools
import hashlib
import json
from collections.abc import Callable
from dataclasses import asdict, dataclass, field

import numpy as np

from genrekit.audio.io import check_signal
from genrekit.audio.level import at_level, is_level
from genrekit.errors import FeatureError, ParameterError
from genrekit.features import fma
from genrekit.features import gtzan
from genrekit.features import musicnn
from genrekit.features.chunks import chunk_signal
from genrekit.features.limits import as_plain_numbers, spec_number_problem

# Bumped whenever a feature function changes its output, so stale cache entries are not reused.
# 2: a whole-clip feature set gives one row per 30 s segment of a long file, cut as prediction
# cuts it (before, one row for the whole file).
FEATURE_VERSION = 2


@functools.cache
def _computing_libraries() -> dict[str, str]:
    """The major.minor versions of the libraries whose changes change features (read from the
    installed packages' metadata, without importing them)."""
    from importlib.metadata import PackageNotFoundError, version

    found = {}
    for name in ("librosa", "soxr"):
        try:
            found[name] = ".".join(version(name).split(".")[:2])
        except PackageNotFoundError:
            found[name] = "none"
    return found


@dataclass(frozen=True)
class _Definition:
    function: Callable[..., np.ndarray]
    columns: list[str]
    description: str
    sample_rate: int = 22050
    fixed_rate: bool = False  # a pretrained network's input rate, not a choice
    lowest_rate: tuple[int, str] | None = None  # the lowest rate it can be computed at, and why


_MUSICNN_TRAINED_ON = {"MSD_musicnn": "Million Song Dataset", "MTT_musicnn": "MagnaTagATune"}


def _fma518_column_names() -> list[str]:
    return [f"{name}.{statistic}.{number}" for name, statistic, number in fma.COLUMNS]


_DEFINITIONS: dict[str, _Definition] = {
    "fma518": _Definition(
        fma.fma518,
        _fma518_column_names(),
        "FMA's 518 librosa statistics (Defferrard et al. 2017)",
        lowest_rate=(fma.LOWEST_RATE, fma.LOWEST_RATE_REASON),
    ),
    "gtzan57": _Definition(
        gtzan.gtzan57,
        list(gtzan.COLUMNS),
        "the 57 features of the published GTZAN table (Kaggle features_30_sec.csv)",
    ),
    **{
        name: _Definition(
            functools.partial(musicnn.pooled_features, model=model),
            musicnn.column_names(model),
            f"pretrained musicnn ({_MUSICNN_TRAINED_ON[model]} tags): 200-d embedding + 50 tag probabilities, mean over 3 s "
            "patches",
            sample_rate=musicnn.SAMPLE_RATE,
            fixed_rate=True,
        )
        for name, model in musicnn.FEATURE_SETS.items()
    },
    musicnn.BOTH: _Definition(
        musicnn.pooled_features_both,
        musicnn.column_names("MSD_musicnn") + musicnn.column_names("MTT_musicnn"),
        "both pretrained musicnn taggers (Million Song Dataset and MagnaTagATune): each one's 200-d embedding + 50 "
        "tag probabilities, mean over 3 s patches",
        sample_rate=musicnn.SAMPLE_RATE,
        fixed_rate=True,
    ),
}

#: Names of the tabular feature sets (one vector per 30 s segment or chunk).
FEATURE_SETS: tuple[str, ...] = tuple(_DEFINITIONS)


@dataclass(frozen=True)
class FeatureSpec:
    """Everything that determines a feature table: the set, the sample rate and the chunking.

    Parameters
    ----------
    name : str
        A feature set of :data:`FEATURE_SETS` (default ``fma518``).
    sample_rate : int, optional
        Hz the audio is resampled to, 1000-192000; None: the set's own (22050 Hz; 16000 for
        musicnn, whose sets take no other).
    chunk_duration : float, optional
        None summarises the signal given to :meth:`compute` into one vector (extraction gives
        it a file's 30 s segments, cut as prediction cuts a song: one row per segment); a
        number (0.5-600 s) cuts the track into windows of that many seconds and gives one
        vector per window, as in the 3-second variants of the literature.
    hop_duration : float, optional
        Seconds between windows' starts, 0.05-600 (None: ``chunk_duration``, no overlap).
    min_duration : float
        Shortest audio, in seconds (0-600), that extraction accepts from a file and that a
        model on these features scores (default 3).
    version : int
        :data:`FEATURE_VERSION` of the feature functions, which keys the cache.
    level_dbfs : float, optional
        Each signal given to :meth:`compute` (a segment of a song), or each of its chunks, is
        first scaled to this RMS level, -60 to 0 dBFS (see
        :func:`genrekit.audio.level.normalise_level`), so that the features do not depend on
        how loud the recording is; None takes the level as it comes.

    Raises
    ------
    FeatureError
        ``name`` is not a feature set.
    ParameterError
        A number is out of its range, or a musicnn set is asked for at another rate.
    """

    name: str = "fma518"
    sample_rate: int | None = None  # None: the set's own (22050 Hz; 16000 for musicnn)
    chunk_duration: float | None = None
    hop_duration: float | None = None
    min_duration: float = 3.0
    version: int = field(default=FEATURE_VERSION)
    level_dbfs: float | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or self.name not in _DEFINITIONS:
            raise FeatureError(f"feature set {self.name!r} is unknown; expected one of {', '.join(FEATURE_SETS)}")
        definition = _DEFINITIONS[self.name]
        if self.sample_rate is None:
            object.__setattr__(self, "sample_rate", definition.sample_rate)
        # 44100.0, numpy numbers: the same rate and lengths, the same cache key
        as_plain_numbers(self, whole=("sample_rate",), real=("chunk_duration", "hop_duration", "min_duration"))
        if definition.fixed_rate and self.sample_rate != definition.sample_rate:
            raise ParameterError(f"sample_rate={self.sample_rate}: {self.name} is a pretrained network whose input is "
                                 f"at {definition.sample_rate} Hz")
        problem = spec_number_problem(self.sample_rate, self.chunk_duration, self.hop_duration, self.min_duration)
        if problem is None and self.hop_duration is not None and self.chunk_duration is None:
            problem = (f"hop_duration={self.hop_duration!r} without chunk_duration: a hop between chunks needs "
                       "chunks (without them a clip gives one vector, and the hop was ignored)")
        if problem is None and (isinstance(self.version, bool) or not isinstance(self.version, int)
                                or self.version < 1):
            problem = f"version={self.version!r}: expected a whole number from 1 (genrekit's feature versions)"
        lowest = definition.lowest_rate
        if problem is None and lowest is not None and self.sample_rate < lowest[0]:
            problem = f"sample_rate={self.sample_rate}: {self.name} needs at least {lowest[0]} Hz ({lowest[1]})"
        if problem:
            raise ParameterError(problem)
        if self.level_dbfs is not None and not is_level(self.level_dbfs):
            raise ParameterError(f"level_dbfs={self.level_dbfs!r}: expected an RMS level from -60 to 0 dBFS, or None")
        if self.level_dbfs is not None:  # numpy scalars as plain floats: the same cache key
            object.__setattr__(self, "level_dbfs", float(self.level_dbfs))

    @property
    def columns(self) -> list[str]:
        """Column names of the feature vector."""
        return list(_DEFINITIONS[self.name].columns)

    @property
    def chunked(self) -> bool:
        return self.chunk_duration is not None

    def to_dict(self) -> dict:
        """The parameters; ``level_dbfs`` only where set, so that a spec without a level reads
        as specs made before the field existed (model files, manifests)."""
        data = asdict(self)
        if data["level_dbfs"] is None:
            del data["level_dbfs"]
        return data

    @classmethod
    def at_default_level(cls, name: str, chunk_duration: float | None = None) -> FeatureSpec:
        """The spec genrekit trains and extracts ``name`` with: at the level it computes that
        set at (:func:`genrekit.features.musicnn.default_level`: -20 dBFS for the default
        model's features, as recorded for the others)."""
        from genrekit.features.musicnn import default_level

        return cls(name, chunk_duration=chunk_duration, level_dbfs=default_level(name))

    @classmethod
    def from_dict(cls, data: dict) -> FeatureSpec:
        known = {key: data[key] for key in cls.__dataclass_fields__ if key in data}
        return cls(**known)

    def key(self) -> str:
        """Stable identifier of these parameters and of the libraries that compute them (librosa's
        and soxr's major.minor: librosa 0.10 moved MFCC means by up to 5%), used to key the cache."""
        text = json.dumps({**self.to_dict(), "libraries": _computing_libraries()}, sort_keys=True)
        return f"{self.name}-{hashlib.sha256(text.encode()).hexdigest()[:16]}"

    def compute(self, y: np.ndarray, sr: int) -> np.ndarray:
        """Features of one mono signal already at ``self.sample_rate``.

        Returns
        -------
        X : np.ndarray [shape=(n_chunks, n_features)], float64; one row when not chunked
        """
        check_signal(y, sr)
        if sr != self.sample_rate:
            raise ParameterError(f"signal at {sr} Hz given to feature spec expecting {self.sample_rate} Hz")
        function = _DEFINITIONS[self.name].function
        if self.chunk_duration is None:
            return function(y=at_level(y, self.level_dbfs), sr=sr)[np.newaxis, :]
        # each chunk at the level, as prediction hears it (one chunk at a time)
        chunks, _ = chunk_signal(y, sr, chunk_duration=self.chunk_duration, hop_duration=self.hop_duration)
        return np.stack([function(y=at_level(chunk, self.level_dbfs), sr=sr) for chunk in chunks])


def describe_feature_sets() -> dict[str, str]:
    """Name -> one-line description of each tabular feature set.

    Returns
    -------
    dict[str, str]
        One entry per name of :data:`FEATURE_SETS`, in that order.
    """
    return {name: definition.description for name, definition in _DEFINITIONS.items()}


def as_feature_spec(spec, parameter: str = "spec") -> FeatureSpec:
    """``spec`` as a :class:`FeatureSpec`: itself, or the spec of a feature set's name with its
    defaults; a ParameterError naming ``parameter`` for anything else (before any file is read)."""
    if isinstance(spec, FeatureSpec):
        return spec
    if isinstance(spec, str):
        return FeatureSpec(spec)
    raise ParameterError(f"{parameter}={repr(spec)[:80]}: expected a FeatureSpec or a feature set's name "
                         f"({', '.join(FEATURE_SETS)}), found type {type(spec).__name__}")


__all__ = ["FEATURE_SETS", "FEATURE_VERSION", "FeatureSpec", "as_feature_spec", "describe_feature_sets"]
