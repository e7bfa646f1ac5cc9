"""Whole songs described as a top genre, genre probabilities, genre proportions (shares of
the analysed time) and a timeline, from the chunks :func:`genrekit.audio.chunking.song_chunks`
streams.
"""

from __future__ import annotations

import numbers
import os
from dataclasses import MISSING, asdict, dataclass, field, replace
from dataclasses import fields as dataclass_fields

import numpy as np

from genrekit._files import save_figure
from genrekit.errors import ParameterError
from genrekit.models.aggregation import VOTE_TIE_WEIGHT


# The genre of a song whose top probability is below the caller's minimum confidence.
UNKNOWN = "unknown"
# Why a song is UNKNOWN: it does not sound like music, it is digital silence throughout (no
# chunk had sound to hear), or its top probability is below the caller's minimum
NOT_MUSIC, SILENT, BELOW_MIN_CONFIDENCE = "not music", "silent", "below min confidence"

# How a file's audio becomes its prediction, beyond the model: raised when a change moves what
# a file gets, so a library's earlier results are predicted again (tag's journal keys carry it).
# 1: digital silence is unknown, not a failure; the timeline's windows get their own music check;
# streamed FLACs and chained Oggs are decoded whole.
ANALYSIS_REVISION = 1


def check_min_confidence(min_confidence: float | None) -> float | None:
    """``min_confidence`` as a float (any real number type: numpy's too) if it is None or a
    probability, else ParameterError naming it (a bool too: it would be written as true)."""
    if min_confidence is None:
        return None
    if isinstance(min_confidence, bool) or not isinstance(min_confidence, numbers.Real):
        raise ParameterError(f"min_confidence={min_confidence!r}: expected a probability between 0 and 1, found a "
                             f"{type(min_confidence).__name__}")
    if not 0 <= min_confidence <= 1:
        raise ParameterError(f"min_confidence={min_confidence!r}: expected a probability between 0 and 1")
    return float(min_confidence)


def not_music(music: float | None) -> bool:
    """Whether ``music`` (the probability that the audio is music; None where the model does
    not give it) is below the music detector's threshold (:mod:`genrekit.models.music`)."""
    if music is None:
        return False
    from genrekit.models.music import music_threshold

    return music < music_threshold()


def decide(probabilities: dict[str, float], min_confidence: float | None = None, music: float | None = None, *,
           n_chunks: int = 1) -> str:
    """The top genre of ``probabilities``, or :data:`UNKNOWN` when its probability is below
    ``min_confidence``, the audio is not music (:func:`not_music`) or no chunk had sound
    (``n_chunks`` 0: a silent file, whatever the music check)."""
    if not_music(music) or n_chunks == 0:
        return UNKNOWN
    best = max(probabilities, key=probabilities.__getitem__)
    return UNKNOWN if min_confidence is not None and probabilities[best] < min_confidence else best


def unknown_reason(genre: str, music: float | None, n_chunks: int = 1) -> str | None:
    """Why ``genre`` (as :func:`decide` gave it) is :data:`UNKNOWN`: :data:`SILENT`,
    :data:`NOT_MUSIC` or :data:`BELOW_MIN_CONFIDENCE`; None where it names a genre."""
    if genre != UNKNOWN:
        return None
    return SILENT if n_chunks == 0 else NOT_MUSIC if not_music(music) else BELOW_MIN_CONFIDENCE


@dataclass
class Segment:
    """One analysed chunk of a song: seconds from the file's start, and what it sounds like.

    Attributes
    ----------
    start, end : float
        The step's span in seconds from the file's start, to the millisecond: a chunk, or a
        finer window of a model that gives them.
    genre : str
        The step's top genre, or ``"unknown"`` where the music detector hears no music in it
        (speech, noise or tones between songs; ``music`` below the detector's threshold).
        ``min_confidence`` decides the song's genre, not its steps': a step's top genre is
        less certain than a whole song's, and its ``confidence`` says how much.
    confidence : float
        The top probability of ``probabilities``, whether ``genre`` names its genre or is
        ``"unknown"``.
    probabilities : dict[str, float]
        Genre -> probability in this step, for every genre of the model.
    music : float or None
        The probability that this step is music; None for a model without the detector (or
        with the music check off).
    """

    start: float
    end: float
    genre: str
    confidence: float
    probabilities: dict[str, float]
    music: float | None = None


# Keys of a prediction's JSON that are no field of it: derived (``top``, ``unknown_reason``), or
# the service's about the request (``model_id``, ``size_bytes``, ``seconds``).
DERIVED_AND_SERVICE_KEYS = ("top", "unknown_reason", "model_id", "size_bytes", "seconds")


@dataclass
class Prediction:
    """The genres of one file.

    ``probabilities``: mean of the chunk probabilities, each chunk weighed by the share of its
    time that sounds and by its length (overlapping chunks by the part no neighbour claims,
    :func:`counted_spans`) (a song's short last piece counts for its share of a
    whole chunk; a network's padded one as one) (or share of votes, for a model that votes). ``genre`` is its top genre,
    or ``"unknown"`` when ``confidence`` (the top probability) is below ``min_confidence`` or
    when the audio is not music (``music`` below the detector's threshold,
    :mod:`genrekit.models.music`); the probabilities are reported either way. ``n_chunks``
    counts the chunks with some sound: 0 for a file silent throughout, whose genre is
    ``"unknown"`` (``unknown_reason`` ``"silent"``) and whose genres are all equally probable
    (:func:`silent_prediction`).
    Chunks the music detector hears as not music (a spoken intro) do not count for
    ``probabilities`` or ``styles`` where other chunks are music.
    ``timeline``: the steps with their genre (``"unknown"`` where not music), in time order: the
    chunks, or the finer windows of a model that gives them (the default's ~6 s), leaving out
    those mostly silent.
    ``proportions``: each genre's share of the analysed time (the steps it tops, each weighed
    by its share that sounds and its length; overlapping chunks, ``hop_seconds`` shorter than
    a chunk, each count for the time nearer their centre than another's), and, with the
    music detector, ``"unknown"``'s: the steps heard as not music (sums to 1). ``start``/``end``: the
    analysed span, after skipping the intro and the outro. ``styles``: the styles present
    (at or above their thresholds, :mod:`genrekit.models.styles`) -> probability, most
    probable first; None for a model without styles, empty for audio that is not music.
    ``music``: the probability that the audio is music; None for a model without the detector.

    Attributes
    ----------
    path : str
        The file (a URL by its URL).
    genre : str
        The top genre of ``probabilities``, or ``"unknown"``.
    confidence : float
        The top probability of ``probabilities`` (the top share of votes, for a model that
        votes), whether ``genre`` names its genre or is ``"unknown"``.
    probabilities : dict[str, float]
        Genre -> probability for the whole song, for every genre of the model, in the model's order.
    n_chunks : int
        The chunks with some sound (those heard as not music among them).
    proportions : dict[str, float]
        Genre -> share of the analysed time whose top genre it is, for every genre of the
        model, and ``"unknown"`` -> the share heard as not music where ``music`` is given; sums to 1.
    timeline : list of Segment
        Every step, in time order.
    duration : float
        The file's length in seconds (0.0 for a spectrogram image given to an image network).
    start, end : float
        Seconds from the file's start to the start of the first chunk and to the end of the
        last, to the millisecond.
    model : str
        The name of the model that predicted it.
    min_confidence : float or None
        The minimum confidence ``genre`` was decided against (None: the top genre).
    styles : dict[str, float] or None
        The styles present -> probability, most probable first.
    music : float or None
        The probability that the audio is music.
    """

    path: str
    genre: str
    confidence: float
    probabilities: dict[str, float]
    n_chunks: int
    proportions: dict[str, float] = field(default_factory=dict)
    timeline: list[Segment] = field(default_factory=list)
    duration: float = 0.0
    start: float = 0.0
    end: float = 0.0
    model: str = ""
    min_confidence: float | None = None
    styles: dict[str, float] | None = None
    music: float | None = None

    def with_min_confidence(self, min_confidence: float | None) -> Prediction:
        """This prediction with its genre decided against ``min_confidence`` (None: the top genre)."""
        min_confidence = check_min_confidence(min_confidence)
        return replace(self, genre=decide(self.probabilities, min_confidence, self.music, n_chunks=self.n_chunks),
                       min_confidence=min_confidence)

    @property
    def unknown_reason(self) -> str | None:
        """Why the genre is ``"unknown"``: ``"silent"``, ``"not music"`` or ``"below min
        confidence"``; None when named."""
        return unknown_reason(self.genre, self.music, self.n_chunks)

    @property
    def unknown_share(self) -> str:
        """What ``proportions``' ``"unknown"`` share is: ``"silent"`` time for a silent file, else
        time heard as ``"not music"`` (the name tables and plots give it)."""
        return SILENT if self.unknown_reason == SILENT else NOT_MUSIC

    def top(self, k: int = 3) -> list[tuple[str, float]]:
        """The ``k`` most probable genres, (genre, probability), most probable first."""
        if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1:
            raise ParameterError(f"k={k!r}: expected a whole number of genres >= 1")
        return sorted(self.probabilities.items(), key=lambda item: -item[1])[:k]

    def to_dict(self, k: int | None = None, *, timeline: bool = True) -> dict:
        data = asdict(self)
        # k=None means every genre; 0 is refused by top() like any other count below 1
        data["top"] = [{"genre": g, "probability": p}
                       for g, p in self.top(len(self.probabilities) if k is None else k)]
        data["unknown_reason"] = self.unknown_reason
        if not timeline:
            data.pop("timeline")
        return data

    @classmethod
    def from_dict(cls, data: dict) -> Prediction:
        """The inverse of :meth:`to_dict`, which reads the JSON of ``predict --format json`` and
        of the service's answer too: ``top`` and ``unknown_reason`` are derived, and the
        service's ``model_id``, ``size_bytes`` and ``seconds`` are not the song's, so they are
        dropped. A field missing or unknown is a ParameterError naming it."""
        if not isinstance(data, dict):
            raise ParameterError(f"data: expected a prediction's JSON object, found {type(data).__name__}")
        fields = {k: v for k, v in data.items() if k not in DERIVED_AND_SERVICE_KEYS}
        known = {f.name: f for f in dataclass_fields(cls)}
        required = {name for name, f in known.items() if f.default is MISSING and f.default_factory is MISSING}
        unknown, missing = sorted(set(fields) - set(known)), sorted(required - set(fields))
        if unknown or missing:
            raise ParameterError(f"data: expected a prediction's fields ({', '.join(known)}), found "
                                 + "; ".join(([f"unknown {', '.join(map(repr, unknown))}"] if unknown else [])
                                             + ([f"no {', '.join(missing)}"] if missing else [])))
        timeline = fields.get("timeline", [])
        segment_fields = {f.name for f in dataclass_fields(Segment)}
        if not isinstance(timeline, list) or not all(isinstance(s, dict) and set(s) <= segment_fields
                                                      for s in timeline):
            raise ParameterError(f"data: its timeline must be a list of steps with the fields "
                                 f"{', '.join(sorted(segment_fields))}")
        try:
            return cls(**{**fields, "timeline": [Segment(**segment) for segment in timeline]})
        except TypeError as exc:  # a step missing a field
            raise ParameterError(f"data: its timeline: {exc}") from None

    def timeline_frame(self):
        """The timeline as a DataFrame: start, end, genre, confidence, music, p_<genre>..."""
        import pandas as pd

        rows = [{"path": self.path, "start": s.start, "end": s.end, "genre": s.genre, "confidence": s.confidence,
                 "music": s.music, **{f"p_{g}": p for g, p in s.probabilities.items()}} for s in self.timeline]
        return pd.DataFrame(rows)


def vote_shares(proba: np.ndarray, weights: np.ndarray | None = None) -> np.ndarray:
    """Each chunk's top genre as one (weighted) vote, as shares of the votes; ties, and the
    genres no chunk voted for, ordered by the mean probability (:data:`VOTE_TIE_WEIGHT`), so
    the winner and a top 3 are not the first genres by name among equals.

    Parameters
    ----------
    proba : np.ndarray [shape=(n_chunks, n_genres)]
    weights : np.ndarray [shape=(n_chunks,)], optional
        Each chunk's weight (default: one each).

    Returns
    -------
    np.ndarray [shape=(n_genres,)], summing to 1
    """
    proba = np.asarray(proba, dtype=np.float64)
    weights = np.ones(len(proba)) if weights is None else np.asarray(weights, dtype=np.float64)
    votes = np.bincount(proba.argmax(axis=1), weights=weights, minlength=proba.shape[1]) / weights.sum()
    shares = votes + VOTE_TIE_WEIGHT * np.average(proba, axis=0, weights=weights)
    return shares / shares.sum()


def by_length(times) -> np.ndarray:
    """Each step's length against the longest's, [shape=(len(times),)]: a song's short last
    chunk (10 s after whole 30 s ones) or window counts for the share of a whole one it spans."""
    lengths = np.array([end - start for start, end in times], dtype=float).reshape(-1)
    longest = lengths.max() if len(lengths) else 0.0
    return lengths / longest if longest > 0 else np.ones(len(lengths))


def counted_spans(times) -> np.ndarray:
    """The part of each step's span, [shape=(len(times), 2)], that no other step claims: the
    span itself for steps that do not overlap; for overlapping chunks (``hop_seconds`` shorter
    than a chunk), each overlap split at its middle between the two, so that each moment of
    the song counts once (the middle of a song in chunks 15 s apart counted twice as often as
    its ends)."""
    spans = np.array(times, dtype=float).reshape(-1, 2)
    if len(spans) < 2:
        return spans
    order = np.argsort(spans[:, 0], kind="stable")
    starts, ends = spans[order, 0], spans[order, 1]
    # where the next step starts before this one ends, the middle of the overlap; else no bound
    split = np.where(starts[1:] < ends[:-1], (starts[1:] + ends[:-1]) / 2, np.nan)
    own = np.empty_like(spans)
    own[order, 0] = np.fmax(starts, np.concatenate([[np.nan], split]))
    own[order, 1] = np.maximum(own[order, 0], np.fmin(ends, np.concatenate([split, [np.nan]])))
    return own


def unshared(times) -> np.ndarray:
    """The share of each step's span that it counts for, [shape=(len(times),)]: 1 for steps
    that do not overlap, less for overlapping chunks (:func:`counted_spans`)."""
    spans = np.array(times, dtype=float).reshape(-1, 2)
    lengths = spans[:, 1] - spans[:, 0]
    own = counted_spans(spans)
    return np.where(lengths > 0, (own[:, 1] - own[:, 0]) / np.where(lengths > 0, lengths, 1), 1.0)


def length_weighted(weights: np.ndarray, times, weigh_length: bool = True) -> np.ndarray:
    """``weights`` times each step's :func:`by_length` (with ``weigh_length``: a network's
    zero-padded chunk counts as one, as its training scores it) and its :func:`unshared`
    share, or ``weights`` where that leaves none."""
    counted = weights * unshared(times) * (by_length(times) if weigh_length else 1.0)
    return counted if counted.any() else weights


def heard_as_music(weights: np.ndarray, music: np.ndarray | None) -> np.ndarray:
    """``weights`` with the chunks the music detector hears as not music (``music``: each
    chunk's probability of being music; None: no detector) left out, so a spoken intro or a
    stretch of noise does not move a song's genre; ``weights`` as they are where no chunk with
    weight is music (the song is then not music as a whole, or the detector is unsure)."""
    if music is None:
        return weights
    kept = weights * heard_music(music)
    return kept if kept.any() else weights


def heard_music(music) -> np.ndarray:
    """Whether each of ``music`` (probabilities of being music) is music to the detector, [shape=(n,)], bool."""
    return ~np.array([not_music(float(m)) for m in music], dtype=bool).reshape(-1)


def _check_chunk_shapes(path: str, labels, times, proba, **per_chunk) -> None:
    # a model of one's own that gives one row too few failed in numpy's words, or not at all
    proba = np.asarray(proba)
    if proba.ndim != 2 or proba.shape[1] != len(labels) or np.shape(times) != (len(proba), 2):
        raise ParameterError(f"{path}: expected probabilities of shape (chunks, {len(labels)} genres) and one "
                             f"(start, end) per chunk, found shape {proba.shape} and times of shape {np.shape(times)}")
    for name, values in per_chunk.items():
        if values is not None and np.shape(values) != (len(proba),):
            raise ParameterError(f"{path}: {name}: expected one value per chunk ({len(proba)}), found shape "
                                 f"{np.shape(values)}")


def summarise(path: str, labels: list[str], times: list[tuple[float, float]], proba: np.ndarray, *,
              aggregation: str = "mean", duration: float = 0.0, model: str = "",
              styles: dict[str, float] | None = None, style_thresholds: dict[str, float] | None = None,
              windows: tuple | None = None, music: float | None = None, chunk_music: np.ndarray | None = None,
              weights: np.ndarray | None = None, span: tuple[float, float] | None = None,
              weigh_length: bool = True) -> Prediction:
    """A :class:`Prediction` from the chunk probabilities of one file, [shape=(n_chunks, n_genres)].

    ``styles``: the song's probability of each style; those at or above their
    ``style_thresholds`` (the model's, see :func:`genrekit.models.styles.thresholds`) are kept.
    ``windows``: (times, probabilities[, weights[, music]]) of finer windows than the chunks;
    when given, they make the timeline and the proportions, and the chunks still make
    ``probabilities``. ``chunk_music``: each chunk's probability of being music: chunks heard
    as not music do not count for ``probabilities`` (:func:`heard_as_music`), and steps heard
    as not music (by the windows' ``music`` where ``windows`` are given, which none may be;
    else by ``chunk_music``) are ``"unknown"`` in the timeline and the proportions. ``weights``: how much each chunk counts (the share of its time that
    sounds; default: all alike), times its length against the longest chunk's
    (:func:`by_length`; not with ``weigh_length`` False: a network's zero-padded chunk counts as
    one, as its training scores it); windows' weights likewise, and the timeline leaves out the
    windows (or chunks) under half sounding (where none is at least half, those without sound). ``music``: the probability that
    the audio is music; below the detector's threshold the genre is unknown and no style is given.
    ``span``: (start, end) of the analysed span when it reaches past ``times`` (chunks of
    digital silence left out; default: from the first of ``times`` to the last).
    """
    if not len(proba):
        raise ParameterError(f"{path}: no chunk to summarise")
    _check_chunk_shapes(path, labels, times, proba, weights=weights, chunk_music=chunk_music)
    weights = np.ones(len(proba)) if weights is None or not np.any(weights) else np.asarray(weights, dtype=float)
    # a short last piece counts for its length; chunks heard as not music, not at all
    counted = heard_as_music(length_weighted(weights, times, weigh_length), chunk_music)
    track = np.average(proba, axis=0, weights=counted)
    if windows is not None and len(windows[1]):
        steps, step_proba = windows[0], windows[1]
        step_weights = np.asarray(windows[2], dtype=float) if len(windows) > 2 else np.ones(len(step_proba))
        step_music = windows[3] if len(windows) > 3 else None
        _check_chunk_shapes(f"{path} (windows)", labels, steps, step_proba, weights=step_weights, music=step_music)
    else:
        steps, step_proba, step_weights, step_music = times, proba, weights, chunk_music
    if not step_weights.any():
        step_weights = np.ones(len(step_proba))
    winners = step_proba.argmax(axis=1)
    heard = (np.ones(len(step_proba), dtype=bool) if step_music is None
             else heard_music(step_music))
    step_counted = length_weighted(step_weights, steps, weigh_length)
    shares = np.bincount(winners[heard], weights=step_counted[heard], minlength=len(labels)) / step_counted.sum()
    proportions = {g: float(v) for g, v in zip(labels, shares)}
    if step_music is not None:  # the time heard as not music (a label of that name shares it)
        proportions[UNKNOWN] = proportions.get(UNKNOWN, 0.0) + float(step_counted[~heard].sum() / step_counted.sum())
    if aggregation == "vote":
        track = vote_shares(proba, counted)
    best = int(np.argmax(track))
    # the steps mostly sounding; where none is, those with any sound (2 s of music in 20 s of
    # silence); where none has (quiet throughout, above digital silence), all
    shown = next(keep for keep in (step_weights >= 0.5, step_weights > 0, np.ones(len(step_proba), dtype=bool))
                 if keep.any())
    timeline = [Segment(round(s, 3), round(e, 3), labels[int(w)] if music_here else UNKNOWN, float(p[w]),
                        {g: float(v) for g, v in zip(labels, p)},
                        None if step_music is None else round(float(step_music[i]), 6))
                for i, ((s, e), w, p, keep, music_here) in enumerate(zip(steps, winners, step_proba, shown, heard))
                if keep]
    if styles is not None:
        from genrekit.models.styles import present

        kept = present(styles, style_thresholds or {})
        styles = {} if not_music(music) else {s: round(p, 6) for s, p in kept.items()}
    return Prediction(
        path=path, genre=UNKNOWN if not_music(music) else labels[best], confidence=float(track[best]),
        probabilities={g: float(v) for g, v in zip(labels, track)}, n_chunks=int(np.count_nonzero(weights)),
        proportions=proportions, timeline=timeline, duration=round(duration, 3),
        start=round((span or times[0])[0], 3), end=round((span or times[-1])[1], 3), model=model, styles=styles,
        music=None if music is None else round(float(music), 6),
    )


def silent_prediction(path: str, labels: list[str], *, duration: float, span: tuple[float, float], model: str = "",
                      styles: bool = False) -> Prediction:
    """The :class:`Prediction` of a file with no sound in its analysed span (digital silence
    throughout, or sound only in a last piece too short for a chunk): ``unknown``, reason
    ``"silent"``, whatever the minimum confidence or the music check. No chunk was heard, so
    every genre is equally probable (the ``confidence`` says so: 1 / the genres), the whole
    span is ``"unknown"``'s in the proportions, the timeline is empty, no style is present
    (``styles``: the model gives styles; else None) and ``music`` is None (nothing was heard).
    """
    share = 1.0 / len(labels)
    return Prediction(path=path, genre=UNKNOWN, confidence=share, probabilities=dict.fromkeys(labels, share),
                      n_chunks=0, proportions={**dict.fromkeys(labels, 0.0), UNKNOWN: 1.0}, timeline=[],
                      duration=round(duration, 3), start=round(span[0], 3), end=round(span[1], 3), model=model,
                      styles={} if styles else None)


# The web page's palette too (server/static/app.js): Tableau's ten without its grey, which is
# "not music"'s, then two dark ones; past it, hues a golden angle apart
PALETTE = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#bcbd22",
           "#17becf", "#393b79", "#637939", "#843c39")


def genre_colours(labels: list[str]) -> dict[str, tuple[float, float, float, float]]:
    """A distinct colour per genre, in ``labels``' order, none of them grey (a step heard as
    not music is grey): :data:`PALETTE`, the web page's, then, for a tag library's many
    genres, hues a golden angle (137.5 degrees) apart, as the page gives them.

    Parameters
    ----------
    labels : list of str
        The genres.

    Returns
    -------
    dict
        Genre -> RGBA.
    """
    import colorsys

    from matplotlib.colors import to_rgba

    colours = {}
    for i, genre in enumerate(labels):
        if i < len(PALETTE):
            colours[genre] = to_rgba(PALETTE[i])
        else:  # hsl(hue, 70%, 40%), as the page's
            colours[genre] = (*colorsys.hls_to_rgb(((i - len(PALETTE)) * 137.508 + 20) % 360 / 360, 0.40, 0.70), 1.0)
    return colours


# How a step heard as not music is drawn: grey, never one of the genres' colours
UNKNOWN_COLOUR = (0.62, 0.62, 0.62, 1.0)


def plot_prediction(prediction: Prediction, path: str | os.PathLike) -> str:
    """A PNG: the genre of each step over time (bar height: confidence; grey and hatched
    where not music, as high as the detector is sure of it) above the genre proportions of
    the whole song.

    The title names the file, its genre and confidence (an unknown song's reason and best
    guess), and the model; the time axis shows the whole file, the skipped intro and outro
    shaded. Overlapping chunks (``hop_seconds`` shorter than a chunk) are drawn over the time
    each counts for. The PNG is written atomically, so a reader never sees half of it.

    Parameters
    ----------
    prediction : Prediction
        The song, with its ``timeline`` and ``proportions``.
    path : path
        The PNG to write, a ``.png`` name (its folder is made when missing; a file there is
        replaced: a song's name was written over with a PNG).

    Returns
    -------
    str
        ``path``.
    """
    if os.path.splitext(os.fspath(path))[1].lower() != ".png":
        from genrekit.errors import ParameterError

        raise ParameterError(f"path={os.fspath(path)!r}: expected a .png file name (the plot replaces the file there)")
    from matplotlib.figure import Figure  # not pyplot: a notebook's backend and figures stay its own
    from matplotlib.patches import Patch

    labels = list(prediction.probabilities)
    colours = {**genre_colours(labels), UNKNOWN: UNKNOWN_COLOUR}
    figure = Figure(figsize=(10, 5.5), layout="constrained")
    timeline, shares = figure.subplots(2, 1, height_ratios=(2, 1.3))
    # an overlapping chunk over the time it counts for, not over its neighbours' bars
    spans = counted_spans([(s.start, s.end) for s in prediction.timeline])
    for segment, (start, end) in zip(prediction.timeline, spans):
        # a step heard as not music stands as high as the detector is sure of it
        unheard = segment.genre == UNKNOWN and segment.music is not None
        timeline.bar(start, 1 - segment.music if unheard else segment.confidence, width=end - start, align="edge",
                     color=colours[segment.genre], edgecolor="white", linewidth=0.3, hatch="//" if unheard else None)
    skipped = [(left, right) for left, right in ((0.0, prediction.start), (prediction.end, prediction.duration))
               if prediction.duration > 0 and right - left > 0.05]
    for left, right in skipped:  # the whole file, what was not analysed (the intro and outro skipped) shaded
        timeline.axvspan(left, right, color="0.92", zorder=0)
    # a name that is not UTF-8 (surrogates) shown with replacement characters: matplotlib refuses it
    name = os.path.basename(prediction.path).encode("utf-8", "surrogateescape").decode("utf-8", "replace")
    best, best_p = prediction.top(1)[0]
    verdict = (f"unknown ({SILENT}: nothing to hear)" if prediction.unknown_reason == SILENT
               else f"unknown ({prediction.unknown_reason}; best guess {best} {best_p:.0%})" if prediction.genre == UNKNOWN
               else f"{prediction.genre} ({prediction.confidence:.0%})")
    if max(prediction.duration, prediction.end) > 120:  # minutes and seconds: "1140" s reads as a count
        from matplotlib.ticker import FuncFormatter, MultipleLocator

        timeline.xaxis.set_major_locator(MultipleLocator(60 if prediction.duration <= 900 else 300))
        timeline.xaxis.set_major_formatter(FuncFormatter(lambda x, _: f"{int(x // 60)}:{int(x % 60):02d}"))
    timeline.set(xlabel="time (m:ss)" if max(prediction.duration, prediction.end) > 120 else "time (s)",
                 ylabel="confidence", ylim=(0, 1),
                 xlim=(0.0, max(prediction.duration, prediction.end)) if prediction.duration > 0 else
                 (prediction.start, prediction.end),
                 title=f"{name}: {verdict}, by {prediction.model}")
    seen = dict.fromkeys(s.genre for s in prediction.timeline)
    timeline.legend(handles=[Patch(facecolor=colours[g], label=NOT_MUSIC if g == UNKNOWN else g,
                                   hatch="//" if g == UNKNOWN else None) for g in seen]
                    + ([Patch(color="0.92", label="not analysed")] if skipped else []),
                    loc="upper left", bbox_to_anchor=(1.0, 1.0), fontsize=8, frameon=False)
    ordered = sorted(prediction.proportions.items(), key=lambda item: item[1])
    bars = shares.barh([prediction.unknown_share if g == UNKNOWN else g for g, _ in ordered], [v for _, v in ordered],
                       color=[colours[g] for g, _ in ordered])
    shares.bar_label(bars, labels=[f"{v:.0%}" if v > 0 else "" for _, v in ordered], padding=2, fontsize=8)
    shares.set(xlabel="share of the analysed time", xlim=(0, 1.08), xticks=np.linspace(0, 1, 6))
    return os.fspath(save_figure(figure, path))

