"""Styles beyond a model's genres: multi-label tags read from the pretrained musicnn taggers.

A model's genres are one closed list (GTZAN's ten for the default). The taggers under it
learned 100 tags from far more music (the Million Song Dataset's Last.fm tags and
MagnaTagATune's), many of them genres and styles: electronic, house, folk, soul, punk,
opera... :data:`STYLE_TAGS` maps each style to the tags that name it, written from the tag
names alone. A style's probability is the highest of its tags' probabilities, averaged over
the song; it is *present* at or above its threshold.

Thresholds (``data/style-thresholds.json``, made by ``python bench/styles.py --level -20
--thresholds``) come from the taggers alone: for each style, the 99th percentile of its
probability on the GTZAN clips (gtzan-mini and gtzan-dev) of the genres the style rules out
(:data:`EXCLUDED_GENRES`, written before any probability was looked at). A style fires on
about 1 in 100 of those clips pooled, more often on the clips of genres with few of them
(docs/default-model.md). The taggers' probabilities depend on
the level of the audio, so each set of thresholds serves models whose features are at the
level it was fitted at: ``style-thresholds.json`` at -20 dBFS (the default model's) and
``style-thresholds-as-recorded.json`` for features of audio as recorded (models trained
before 2026-12-01, ``musicnn-head``); see :func:`thresholds`.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Sequence
from importlib import resources

import numpy as np

# style -> the feature columns of its tags (musicnn's MSD and MTT tags, see features.musicnn)
STYLE_TAGS: dict[str, tuple[str, ...]] = {
    "electronic": ("msd.tag.electronic", "msd.tag.electronica", "msd.tag.electro", "mtt.tag.electronic"),
    "dance": ("msd.tag.dance", "mtt.tag.dance"),
    "house": ("msd.tag.House",),
    "techno": ("mtt.tag.techno",),
    "ambient": ("msd.tag.ambient", "mtt.tag.ambient"),
    "new age": ("mtt.tag.new age",),
    "chillout": ("msd.tag.chillout", "msd.tag.chill"),
    "folk": ("msd.tag.folk",),
    "acoustic": ("msd.tag.acoustic",),
    "country": ("msd.tag.country", "mtt.tag.country"),
    "blues": ("msd.tag.blues",),
    "jazz": ("msd.tag.jazz",),
    "soul": ("msd.tag.soul",),
    "rnb": ("msd.tag.rnb",),
    "funk": ("msd.tag.funk",),
    "hip-hop": ("msd.tag.Hip-Hop",),
    "pop": ("msd.tag.pop", "mtt.tag.pop"),
    "indie pop": ("msd.tag.indie pop",),
    "rock": ("msd.tag.rock", "mtt.tag.rock"),
    "classic rock": ("msd.tag.classic rock",),
    "hard rock": ("msd.tag.hard rock",),
    "progressive rock": ("msd.tag.Progressive rock",),
    "alternative": ("msd.tag.alternative", "msd.tag.alternative rock"),
    "indie": ("msd.tag.indie", "msd.tag.indie rock"),
    "punk": ("msd.tag.punk",),
    "metal": ("msd.tag.metal", "mtt.tag.metal"),
    "heavy metal": ("msd.tag.heavy metal",),
    "classical": ("mtt.tag.classical",),
    "opera": ("mtt.tag.opera",),
    "choral": ("mtt.tag.choral", "mtt.tag.choir"),
}

_GTZAN = ("blues", "classical", "country", "disco", "hiphop", "jazz", "metal", "pop", "reggae", "rock")
_ELECTRONIC_FREE = ("blues", "classical", "country", "jazz", "metal", "rock")
_CALM_FREE = ("blues", "country", "disco", "hiphop", "metal", "pop", "reggae", "rock")
_ROCK_FREE = ("classical", "disco", "hiphop", "jazz", "reggae")
_NOT_CLASSICAL = tuple(g for g in _GTZAN if g != "classical")
# style -> the GTZAN genres whose clips it rules out: where its threshold's false positives are counted
EXCLUDED_GENRES: dict[str, tuple[str, ...]] = {
    "electronic": _ELECTRONIC_FREE,
    "dance": _ELECTRONIC_FREE,
    "house": (*_ELECTRONIC_FREE, "reggae"),
    "techno": (*_ELECTRONIC_FREE, "reggae"),
    "ambient": _CALM_FREE,
    "new age": _CALM_FREE,
    "chillout": ("country", "metal", "rock"),
    "folk": ("classical", "disco", "hiphop", "metal", "reggae"),
    "acoustic": ("disco", "hiphop", "metal"),
    "country": ("classical", "disco", "hiphop", "jazz", "metal", "reggae"),
    "blues": ("classical", "disco", "hiphop", "metal", "pop", "reggae"),
    "jazz": ("country", "disco", "hiphop", "metal", "pop", "reggae", "rock"),
    "soul": ("classical", "country", "metal", "rock"),
    "rnb": ("classical", "country", "jazz", "metal", "rock"),
    "funk": ("classical", "country", "metal"),
    "hip-hop": _ELECTRONIC_FREE,
    "pop": ("classical", "metal"),
    "indie pop": ("blues", "classical", "country", "disco", "hiphop", "jazz", "metal"),
    "rock": _ROCK_FREE,
    "classic rock": (*_ROCK_FREE, "pop"),
    "hard rock": (*_ROCK_FREE, "blues", "country", "pop"),
    "progressive rock": (*_ROCK_FREE, "country", "pop"),
    "alternative": (*_ROCK_FREE, "blues", "country"),
    "indie": (*_ROCK_FREE, "blues", "country", "metal"),
    "punk": (*_ROCK_FREE, "blues", "country", "pop"),
    "metal": (*_ROCK_FREE, "blues", "country", "pop"),
    "heavy metal": (*_ROCK_FREE, "blues", "country", "pop"),
    "classical": _NOT_CLASSICAL,
    "opera": _NOT_CLASSICAL,
    "choral": _NOT_CLASSICAL,
}
THRESHOLDS_FILE = "style-thresholds.json"  # the default model's level; written by bench/styles.py
THRESHOLD_FILES = (THRESHOLDS_FILE, "style-thresholds-as-recorded.json")


def style_columns(columns: Sequence[str]) -> dict[str, list[int]]:
    """For each style all of whose tags are among ``columns``, the indices of its tags.
    Empty when the columns hold no musicnn tags (a model without styles)."""
    index = {name: i for i, name in enumerate(columns)}
    return {style: [index[t] for t in tags] for style, tags in STYLE_TAGS.items() if all(t in index for t in tags)}


def style_probabilities(rows: np.ndarray, mapping: dict[str, list[int]]) -> np.ndarray:
    """Each style's probability in each feature row: the highest of its tags'.

    Returns
    -------
    np.ndarray [shape=(len(rows), len(mapping))], in ``mapping``'s order
    """
    rows = np.atleast_2d(np.asarray(rows, dtype=np.float64))
    if not mapping:
        return np.zeros((len(rows), 0))
    return np.stack([rows[:, columns].max(axis=1) for columns in mapping.values()], axis=1)


@functools.cache
def threshold_sets() -> dict[float | None, dict[str, float]]:
    """The level (dBFS; None: as recorded) of each shipped set of thresholds -> style -> the
    probability from which it is present."""
    sets = {}
    for name in THRESHOLD_FILES:
        record = json.loads((resources.files("genrekit") / "data" / name).read_text(encoding="utf-8"))
        level = record.get("level_dbfs")
        sets[None if level is None else float(level)] = {style: float(entry["threshold"])
                                                         for style, entry in record["styles"].items()}
    return sets


def thresholds(level_dbfs: float | None) -> dict[str, float] | None:
    """style -> the probability from which it is present, for features of audio at
    ``level_dbfs`` (None: as recorded); None where no thresholds were fitted at that level."""
    return threshold_sets().get(level_dbfs)


def present(probabilities: dict[str, float], limits: dict[str, float]) -> dict[str, float]:
    """The styles at or above their thresholds (``limits``, from :func:`thresholds`), most probable first."""
    kept = {s: p for s, p in probabilities.items() if s in limits and p >= limits[s]}
    return dict(sorted(kept.items(), key=lambda item: -item[1]))
