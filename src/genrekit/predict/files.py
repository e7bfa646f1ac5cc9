"""Predicting files: the genres of a song from its chunks, for classical and network models."""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import os
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import TYPE_CHECKING, Union

import numpy as np

from genrekit._files import path_given, paths_given
from genrekit._renamed import renamed_keywords
from genrekit.audio.chunking import SKIP_SECONDS, analysed_span, song_chunks
from genrekit.audio.io import SILENCE_PEAK, check_stop, is_audio_path, is_seconds
from genrekit.errors import (AnalysisStopped, AudioError, GenrekitError, ParameterError, SilentAudio, check_flags,
                             check_options, check_whole_number)
from genrekit.models.interface import GenreClassifier, load
from genrekit.predict.song import (
    Prediction, check_min_confidence, heard_as_music, length_weighted, silent_prediction, summarise,
)
from genrekit.runners import jobs_wanted, runner_given

if TYPE_CHECKING:  # the ONNX runtime path must not import scikit-learn
    from genrekit.models import GenreModel

# what load() takes (names only: GenreModel's module imports scikit-learn)
ModelLike = Union["GenreClassifier", "GenreModel", str, "os.PathLike[str]"]


def _is_image_path(path: str) -> bool:
    from genrekit.features.images import is_image_path  # rendering needs librosa: image networks only

    return is_image_path(path)


def _check_song_options(*, batch, max_seconds, should_stop, on_progress) -> None:
    """predict_file's options that would fail mid-song (a callback that is none), or read as
    something else (a negative limit), refused before any work."""
    if batch is not None:
        check_whole_number("batch", batch, of="chunks per batch")
    if max_seconds is not None and not (is_seconds(max_seconds) and max_seconds > 0):
        raise ParameterError(f"max_seconds={max_seconds!r}: expected a positive number of seconds (or None: any "
                             "length)")
    for name, given in (("should_stop", should_stop), ("on_progress", on_progress)):
        if given is not None and not callable(given):
            raise ParameterError(f"{name}={given!r}: expected a function (or None)")


def _checked_batch(*, min_confidence, skip, hop_seconds, n_jobs, music_check, runner) -> tuple:
    """(min_confidence, runner) as a batch of files uses them; a ParameterError, once and before
    any file is read, where a setting would fail every file."""
    from genrekit.audio.chunking import check_song_reading

    min_confidence = check_min_confidence(min_confidence)
    check_song_reading(skip=skip, hop_seconds=hop_seconds, n_jobs=n_jobs)  # once, not as every file's failure
    check_flags(music_check=music_check)
    return min_confidence, runner_given(runner, n_jobs)


def predict_file(
    model: ModelLike,
    path: str | os.PathLike,
    *,
    skip: float = SKIP_SECONDS,
    hop_seconds: float | None = None,
    batch: int | None = None,
    should_stop: Callable[[], bool] | None = None,
    min_confidence: float | None = None,
    music_check: bool = True,
    max_seconds: float | None = None,
    on_progress: Callable[[float], None] | None = None,
    segment_seconds: float | None = None,
) -> Prediction:
    """The genres of one file of any length, streamed chunk by chunk, so a song of any length
    needs the memory of a 30 s clip. Chunks of digital silence are decoded, not analysed.

    Parameters
    ----------
    model : a classical model, a loaded predictor, a model file's path or ``"default"``
        (see :func:`genrekit.models.load`)
    path : path or URL
        An audio file; for an image network, also a spectrogram image file.
    skip : float
        Seconds of intro and outro left out when the song is long enough (see
        :func:`genrekit.audio.chunking.analysed_span`).
    hop_seconds : float, optional
        Seconds between chunks' starts (default: back to back). Less than the chunk length
        gives overlapping chunks, and the timeline is then the chunks themselves (their finer
        windows would count twice); more leaves the audio between chunks unheard.
    batch : int, optional
        Chunks given to the model at a time (default: as many as make 30 s of audio, see
        :func:`batch_size`).
    should_stop : callable, optional
        Asked between decoded blocks, chunks and batches; once it answers true the analysis
        ends with :class:`genrekit.errors.AnalysisStopped` (how the service stops an analysis
        that ran past its timeout).
    min_confidence : float, optional
        Below this top probability the genre is ``"unknown"`` (the probabilities are still
        given); None: always the top genre.
    music_check : bool
        Where the model gives it (models on both musicnn taggers' features, the default among
        them), audio that the music detector calls non-music is ``"unknown"``; False leaves the
        genre to the probabilities (a model of speech or sound classes).
    max_seconds : float, optional
        A file declaring more audio than this is refused before it is decoded (see
        :func:`genrekit.audio.chunking.song_chunks`).
    on_progress : callable, optional
        Called with the seconds from the file's start analysed so far, after each batch of
        chunks (a progress bar's feed for a long song).
    segment_seconds : float, optional
        Classical whole-clip models given by path or name: seconds per chunk (default 30), as
        :func:`genrekit.models.load` and :func:`predict_files` take it (for a model already
        loaded, a ParameterError: give it to ``load``).

    Returns
    -------
    Prediction

    Raises
    ------
    AudioError
        Naming the file (a URL by its URL): it cannot be read or decoded, is silent, too
        short, longer than ``max_seconds``, or its analysis gives non-finite probabilities.
    AnalysisStopped
        When ``should_stop()`` became true.
    ParameterError
        ``min_confidence`` is not a probability, ``batch`` is below 1, ``skip`` is negative or
        ``hop_seconds`` not positive; or as :func:`genrekit.models.load`.
    ModelError
        As :func:`genrekit.models.load`.
    """
    from genrekit import audio
    from genrekit.audio import remote

    from genrekit.audio.chunking import check_song_reading

    min_confidence = check_min_confidence(min_confidence)
    check_song_reading(skip=skip, hop_seconds=hop_seconds)  # hop_seconds=inf: an OverflowError, chunks in
    path = path_given(path, several="predict_files")
    _check_song_options(batch=batch, max_seconds=max_seconds, should_stop=should_stop, on_progress=on_progress)
    check_flags(music_check=music_check)
    predictor = load(model, segment_seconds=segment_seconds)
    if remote.is_url(path):  # one local copy, decoded as any file, the results named by the URL
        with remote.local_copy(path) as local:
            try:
                prediction = predict_file(predictor, local, skip=skip, hop_seconds=hop_seconds, batch=batch,
                                          should_stop=should_stop, min_confidence=min_confidence,
                                          music_check=music_check, max_seconds=max_seconds,
                                          on_progress=on_progress)
            except AudioError as exc:
                raise AudioError(path, exc.reason) from exc
            except AnalysisStopped as exc:  # named by the URL, not by the temporary copy
                raise AnalysisStopped(path) from exc
        return dataclasses.replace(prediction, path=path)
    if predictor.takes_images and _is_image_path(path):
        return summarise(path, predictor.labels, [(0.0, predictor.chunk_seconds)], predictor.predict_image(path),
                         aggregation=predictor.aggregation, model=predictor.name).with_min_confidence(min_confidence)
    if batch is None:
        batch = batch_size(predictor.chunk_seconds)
    times, analyses, pending, levels = [], [], [], []
    span = None  # the analysed span: from the first chunk's start to the last's end, silent ones included
    window = int(round(predictor.window_seconds * predictor.sample_rate)) if predictor.window_seconds else 0
    chunks = song_chunks(path, sr=predictor.sample_rate, chunk_seconds=predictor.chunk_seconds,
                         hop_seconds=hop_seconds, skip=skip, pad=predictor.pad, min_seconds=predictor.min_seconds,
                         should_stop=should_stop, max_seconds=max_seconds)
    sr = predictor.sample_rate
    for start, end, chunk in _until_silent(chunks):
        span = (start if span is None else span[0], end)
        if not len(chunk) or float(np.max(np.abs(chunk))) < SILENCE_PEAK:
            # Digital silence has no genre and would count for nothing (:func:`_sounding`): the
            # model is not run on it, so hours of it cost their decoding only.
            continue
        level = _sounding(chunk, window, round((end - start) * sr), sr)
        if _sound_seconds(chunk, sr) < MIN_SOUND_SECONDS or (
                not level[0] and _heard_seconds(chunk, sr) < min(predictor.min_seconds, len(chunk) / sr)):
            # Nor on silence whose only sound is a click, or quieter than music and shorter than
            # the model scores (a resampler's ringing before a song's first note, or at the ends
            # of a file of a DC offset alone: heard as the whole chunk, it was "not music", and
            # with the check off classical, at every rate but the model's own).
            continue
        times.append((start, end))
        pending.append(np.array(chunk, copy=True))
        levels.append(level)
        if len(pending) == batch:
            check_stop(should_stop, path)
            analyses.append(_analyse(predictor, pending, levels[-len(pending):]))
            pending = []
            if on_progress is not None:
                on_progress(end)
    if pending:
        analyses.append(_analyse(predictor, pending, levels[-len(pending):]))
    if not analyses:  # digital silence, or its sound in a last piece too short to give a chunk
        duration = audio.info(path, should_stop=should_stop).duration
        # the span analysed, as for music (the chunks read stop where the file is found silent throughout)
        span = analysed_span(duration, skip=skip, chunk_seconds=predictor.chunk_seconds)
        return silent_prediction(path, predictor.labels, duration=duration, span=span, model=predictor.name,
                                 styles=bool(predictor.styles)).with_min_confidence(min_confidence)
    proba = np.concatenate([a.proba for a in analyses])
    if not np.isfinite(proba).all():  # finite samples at extreme levels overflow the front end
        raise AudioError(path, "the analysis gave non-finite probabilities: samples far outside -1..1 (damaged "
                               "float audio?)")
    # Silent stretches (an intro, a fade, the gap before a hidden track) have no genre: a model
    # still names one (often classical), which would dilute the song's. Each chunk and window
    # counts by the share of its time that sounds (:func:`_sounding`): the song's genre, styles
    # and music score, and the proportions; the timeline leaves out windows mostly silent.
    weights = np.array([level[0] for level in levels])
    if not weights.any():  # quiet throughout (above digital silence): every chunk counts
        weights[:] = 1.0
    # and by its length: a short last piece counts for its share (a network's last piece is padded
    # to a whole chunk and counts as one, as its training's scores count it)
    counted = length_weighted(weights, times, not predictor.pad)
    music = chunk_music = None
    if music_check and all(a.music is not None for a in analyses):
        chunk_music = np.concatenate([a.music for a in analyses])
        music = float(np.average(chunk_music, weights=counted))
    styles = None
    if all(a.styles is not None for a in analyses) and predictor.styles:
        rows = np.concatenate([a.styles for a in analyses])
        styles = dict(zip(predictor.styles, map(float, np.average(rows, axis=0,
                                                                  weights=heard_as_music(counted, chunk_music)))))
    return summarise(path, predictor.labels, times, proba, aggregation=predictor.aggregation,
                     duration=audio.info(path, should_stop=should_stop).duration, model=predictor.name, styles=styles,
                     style_thresholds=predictor.style_thresholds, music=music, chunk_music=chunk_music,
                     weights=weights, windows=_windows(times, analyses, predictor.window_seconds, levels,
                                                       music_check),
                     span=span, weigh_length=not predictor.pad,
                     ).with_min_confidence(min_confidence)


def _until_silent(chunks):
    """``chunks`` as they come, ending where they end or where the file is found silent
    throughout (:class:`genrekit.errors.SilentAudio`: a prediction, not a failure)."""
    try:
        yield from chunks
    except SilentAudio:
        return


# A stretch of audio whose RMS level is below this is silence, not quiet music: -60 dBFS is 40 dB
# under the -20 dBFS of typical music, and a pianissimo passage stays above it.
SILENT_DBFS = -60.0
# The stretches whose levels decide which share of a chunk or window sounds.
SILENCE_FRAME_SECONDS = 0.5
# A chunk whose sound, all told, is shorter than this is silence: a click, or a resampler's
# ringing at the ends of a file of a DC offset alone (10-20 ms); a network's 3 s window of a
# few drum hits holds more.
MIN_SOUND_SECONDS = 0.1


def _heard_seconds(chunk: np.ndarray, sr: int) -> float:
    """Seconds of ``chunk`` in half-second frames that are not digital silence: some sample
    departs from the frame's mean by :data:`SILENCE_PEAK` or more (a DC offset is no sound)."""
    frames = _frames(chunk, sr)
    return sum(len(f) for f in frames if len(f) and float(np.max(np.abs(f - np.mean(f)))) >= SILENCE_PEAK) / sr


def _sound_seconds(chunk: np.ndarray, sr: int) -> float:
    """Seconds of ``chunk``'s samples that depart from its median by :data:`SILENCE_PEAK` or
    more: its sound, all told, whatever its level (a DC offset is no sound)."""
    return float(np.count_nonzero(np.abs(chunk - np.median(chunk)) >= SILENCE_PEAK)) / sr


def _frames(y: np.ndarray, sr: int) -> list[np.ndarray]:
    """``y`` in the half-second frames whose levels say whether it sounds (the last may be shorter)."""
    frame = max(1, int(SILENCE_FRAME_SECONDS * sr))
    return [y[i:i + frame] for i in range(0, len(y), frame)]


def _sounds(frame: np.ndarray) -> bool:
    from genrekit.audio.level import rms_dbfs

    return rms_dbfs(frame - np.mean(frame, dtype=np.float64)) >= SILENT_DBFS


def _sounding(chunk: np.ndarray, window: int, real: int, sr: int) -> list[float]:
    """``[chunk's share, each window's share...]`` of time that sounds: the share of the
    chunk's ``real`` samples (a network's padding left out), and of each window of ``window``
    samples (0: none), in half-second frames at or above :data:`SILENT_DBFS`."""
    def share(y: np.ndarray) -> float:
        return float(np.mean([_sounds(part) for part in _frames(y, sr)]))

    audio_part = chunk[: max(1, min(real, len(chunk)))]
    windows = [share(audio_part[i:i + window]) for i in range(0, len(audio_part), window)] if window else []
    return [share(audio_part), *windows]


def _analyse(predictor: GenreClassifier, chunks: list[np.ndarray], levels: list[list[float]]):
    """``predictor.analyse(chunks)``, where a chunk partly silent (:func:`_sounding`) is judged
    on its sound alone: its genres, styles and music score from its sounding half-second
    frames, put end to end, so that where a song's silence lies (6 s of music then 24 s of
    silence, or the other way round) does not move them, nor does the silence dilute the
    features pooled over the chunk or lower the level it is heard at. Its windows (the
    timeline) stay those of the chunk as it is, in time. A chunk whose sound is shorter than
    the model scores, and a network's chunk (of a fixed length), are judged as they are."""
    analysis = predictor.analyse(chunks)
    sr = predictor.sample_rate
    sound = {}
    for index, (chunk, level) in enumerate(zip(chunks, levels)):
        if 0 < level[0] < 1 and not predictor.pad:
            part = np.concatenate([frame for frame in _frames(chunk, sr) if _sounds(frame)])
            if len(part) >= predictor.min_seconds * sr:
                sound[index] = part
    if not sound:
        return analysis
    judged = predictor.analyse(list(sound.values()))
    rows = list(sound)
    proba = analysis.proba.copy()
    proba[rows] = judged.proba
    fields = {"proba": proba}
    for name in ("styles", "music"):
        value, again = getattr(analysis, name), getattr(judged, name)
        if value is not None and again is not None:
            value = value.copy()
            value[rows] = again
            fields[name] = value
    return dataclasses.replace(analysis, **fields)


# The audio in one batch of chunks. A song's batches are then the size of a 30 s clip's; larger
# ones raise the peak, since the runtimes' buffers grow with the batch.
BATCH_SECONDS = 30.0


def batch_size(chunk_seconds: float) -> int:
    """Chunks of ``chunk_seconds`` per batch: as many as :data:`BATCH_SECONDS` holds, at least one."""
    return max(1, int(BATCH_SECONDS / chunk_seconds + 1e-6))


def _windows(times: list[tuple[float, float]], analyses: list, seconds: float | None, levels: list[list[float]],
             music_check: bool = True):
    """(times, probabilities, share of each that sounds, probability of each that it is music
    or None) of the chunks' windows, in time order (``levels``: :func:`_sounding`'s); None
    without windows, or where chunks overlap (``hop_seconds`` shorter than a chunk: windows
    would count twice). A chunk's last window ends where the chunk does: the less than one
    patch its windows leave (80 ms of a 30 s chunk) is not a gap in the song's timeline. A
    window mostly sounding is judged music or not on its own; one mostly silent takes its
    chunk's verdict, which its sound alone decides (:func:`_analyse`): pooled with its
    silence and the chunk's gain, 2 s of music read as not music."""
    if seconds is None or any(a.windows is None for a in analyses):
        return None
    if any(next_start < end - 1e-6 for (_, end), (next_start, _) in zip(times, times[1:])):
        return None
    judged = music_check and all(a.music is not None for a in analyses)
    own_music = ([m for a in analyses for m in (a.window_music or [None] * len(a.proba))] if judged
                 else [None] * len(times))
    chunk_music = np.concatenate([a.music for a in analyses]) if judged else [None] * len(times)
    steps, rows, shares, music = [], [], [], []
    for (start, end), window_proba, level, own, chunk in zip(times, (w for a in analyses for w in a.windows), levels,
                                                              own_music, chunk_music):
        for k, p in enumerate(window_proba):
            begin = start + k * seconds
            steps.append((begin, end if k == len(window_proba) - 1 else min(end, begin + seconds)))
            rows.append(p)
            shares.append(level[1 + k] if 1 + k < len(level) else level[0])
            music.append(own[k] if own is not None and shares[-1] >= 0.5 else chunk)
    return steps, np.stack(rows), np.array(shares), np.array(music, dtype=float) if judged else None


def make_song_predictor(model_path: str, segment_seconds: float | None, skip: float, hop_seconds: float | None,
                        min_confidence: float | None = None, music_check: bool = True):
    """A runner's worker (see :mod:`genrekit.runners`): the model loaded once; then a path
    -> ``{"prediction": Prediction.to_dict()}`` or ``{"error": reason}``."""
    predictor = load(model_path, segment_seconds=segment_seconds, threads=1)

    def predict(path: str) -> dict:
        try:
            return {"prediction": predict_file(predictor, path, skip=skip, hop_seconds=hop_seconds,
                                               min_confidence=min_confidence, music_check=music_check).to_dict()}
        except GenrekitError as exc:
            return {"error": str(exc)}
        except Exception as exc:  # a decoder crash on one file must not end the batch
            return {"error": f"{path}: unexpected {type(exc).__name__}: {exc}"}

    return predict


def songs_at(path: str | os.PathLike) -> list[str]:
    """``path``, or where it is a local folder, the audio files below it as ``genrekit tag`` lists
    a library (:func:`genrekit.predict.library.library_listing`: any format genrekit decodes,
    sorted, hidden files and folders left out, links followed), with what the walk could not
    follow (a dangling link, a pipe, a folder that cannot be read: each is then a failure that
    says why), each spelt from ``path`` as given (``music/jazz/a.flac``, not its absolute path).
    A folder with none is given as itself: its failure then says why it has no genre. A URL is
    kept as it is, but for one ending in ``/`` or not named as an audio file, which is listed as a
    folder (prefix) where it holds audio files, as ``genrekit tag`` lists it.

    Returns
    -------
    list of str
    """
    from genrekit.audio import remote

    from genrekit.predict.library import library_listing

    path = os.fspath(path)
    if remote.is_url(path):
        if path.split("?")[0].endswith("/") or not is_audio_path(path):  # a song's URL is not asked to list
            with contextlib.suppress(GenrekitError):  # not a folder either: its failure says why, as a file's
                return library_listing(path)[0] or [path]
        return [path]
    if not os.path.isdir(path):
        return [path]

    root = os.path.abspath(path)
    songs, skipped = library_listing(path)  # skipped: the folder itself where it cannot be read
    # a link back to a folder above is no song (the files it leads to are listed by their own path), and
    # given on, it would be listed again from there
    skipped = [entry for entry in skipped if not (os.path.islink(entry) and os.path.isdir(entry))]
    below = [os.path.relpath(song, root) for song in sorted([*songs, *skipped])]
    return [path if relative == os.curdir else os.path.join(path, relative) for relative in below] or [path]


@renamed_keywords(jobs="n_jobs")
def iter_predictions(
    model: ModelLike,
    paths: Iterable[str | os.PathLike],
    *,
    skip: float = SKIP_SECONDS,
    hop_seconds: float | None = None,
    n_jobs: int = 1,
    runner=None,
    segment_seconds: float | None = None,
    min_confidence: float | None = None,
    music_check: bool = True,
    on_progress: Callable[[str, float], None] | None = None,
) -> Iterator[tuple[str, Prediction | None, str | None]]:
    """``(path, prediction, None)`` or ``(path, None, reason)`` for each file, as each finishes;
    a folder stands for the audio files below it (:func:`songs_at`).

    One file at a time in this process (``paths`` read only as they are needed: a stream of
    paths works), or, with ``n_jobs`` > 1 or a ``runner`` (:mod:`genrekit.runners`: a local
    process pool or Ray), in workers that each load the model once from its file (a model
    built in memory is run here); they finish in any order. The results are the same either way.
    ``on_progress(path, seconds)``: each file's progress (:func:`predict_file`'s), in this
    process only.
    """
    min_confidence, runner = _checked_batch(min_confidence=min_confidence, skip=skip, hop_seconds=hop_seconds,
                                            n_jobs=n_jobs, music_check=music_check, runner=runner)
    paths = (song for path in paths_given(paths) for song in songs_at(path))  # read as needed: a stream works
    predictor = None if isinstance(model, (str, os.PathLike)) else load(model, segment_seconds=segment_seconds)
    # workers load the model themselves, from its file: a loaded one with the chunks it was loaded with
    source = os.fspath(model) if predictor is None else os.fspath(predictor.source or "")
    if predictor is not None:
        segment_seconds = predictor.chunk_seconds
    if (runner is not None or jobs_wanted(n_jobs) > 1) and source:
        from genrekit.runners import LocalRunner

        runner = runner or LocalRunner(n_jobs)
        listed: list[str] = []  # the paths as the runner reads them: a stream's are read as workers come free

        def read() -> Iterator[str]:
            for path in paths:
                listed.append(os.fspath(path))
                yield listed[-1]

        crashed = lambda path, reason: {"error": f"{path}: {reason}"}  # noqa: E731  (a worker died on it)
        for index, outcome in runner.map(make_song_predictor, (source, segment_seconds, skip, hop_seconds,
                                                               min_confidence, music_check), read(),
                                         on_crash=crashed):
            if "prediction" in outcome:
                yield listed[index], Prediction.from_dict(outcome["prediction"]), None
            else:
                yield listed[index], None, outcome["error"]
        return
    if predictor is None:
        predictor = load(model, segment_seconds=segment_seconds)
    for path in map(os.fspath, paths):
        try:
            feed = None if on_progress is None else functools.partial(on_progress, path)
            yield path, predict_file(predictor, path, skip=skip, hop_seconds=hop_seconds,
                                     min_confidence=min_confidence, music_check=music_check, on_progress=feed), None
        except GenrekitError as exc:
            yield path, None, str(exc)
        except Exception as exc:  # a decoder crash on one file must not end the batch (as in the workers)
            yield path, None, f"{path}: unexpected {type(exc).__name__}: {exc}"


class _AudioProgress:
    """predict_files' bar: seconds of audio analysed out of the files' total (their headers'
    lengths; a file whose header cannot be read, or a URL, counts for nothing until it is
    done), with files done beside it; in files where no length is known."""

    def __init__(self, paths: list[str], *, enabled: bool):
        from genrekit.audio import info, remote

        self.enabled, self.n_files, self.done_files = enabled, len(paths), 0
        self.length: dict[str, float] = {}
        self.reached: dict[str, float] = {}
        if enabled:
            for path in paths:
                try:
                    self.length[path] = 0.0 if remote.is_url(path) else info(path).duration
                except GenrekitError:
                    self.length[path] = 0.0
        self.total = sum(self.length.values())

    def __enter__(self) -> _AudioProgress:
        from rich.console import Console
        from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

        # on stderr: stdout may carry the results (--format json)
        self.progress = Progress(TextColumn("predicting"), BarColumn(), TextColumn("{task.description}"),
                                 TimeRemainingColumn(), console=Console(stderr=True), disable=not self.enabled)
        self.progress.__enter__()
        self.task = self.progress.add_task(self._description(), total=self.total or self.n_files)
        return self

    def __exit__(self, *exc) -> None:
        self.progress.__exit__(*exc)

    def _description(self) -> str:
        return f"{self.done_files}/{self.n_files} files"

    def advance_to(self, path: str, seconds: float) -> None:
        """``path`` is analysed up to ``seconds`` from its start."""
        if not self.total:
            return
        seconds = min(seconds, self.length.get(path, 0.0))
        step = seconds - self.reached.get(path, 0.0)
        if step > 0:
            self.reached[path] = seconds
            self.progress.advance(self.task, step)

    def finished(self, path: str) -> None:
        self.done_files += 1
        if self.total:
            self.advance_to(path, self.length.get(path, 0.0))
        else:
            self.progress.advance(self.task, 1)
        self.progress.update(self.task, description=self._description())


def predict_audio(model: ModelLike, y: np.ndarray, sr: int, *, name: str = "<audio>", **options) -> Prediction:
    """The genres of a song held in memory: :func:`predict_file`'s analysis (its chunks,
    silence, music check, styles, timeline), the same answer as for the song in a file. The
    audio goes through a temporary float WAV file, which the analysis streams as any file
    (so it needs that much free disk: 23 MB a minute of 48 kHz stereo).

    Parameters
    ----------
    model : as :func:`predict_file`'s
    y : np.ndarray [shape=(n,), (n, channels) or (channels, n)]
        Float audio in [-1, 1], at any rate: several channels in soundfile's layout or in
        librosa's (``genrekit.audio.load(..., mono=False)``'s), the longer axis being time.
    sr : int
        Its sample rate, Hz; the model's own rate is reached as a file's is.
    name : str
        What the prediction's ``path`` and any error call it.
    **options
        :func:`predict_file`'s (``skip``, ``min_confidence``, ...).

    Returns
    -------
    Prediction

    Raises
    ------
    ParameterError
        ``y`` is not float audio of one or more channels, or ``sr`` not a positive whole number.
    AudioError
        As for a file (silent, too short), naming ``name``; a sample NaN, infinite or far
        outside -1..1, with where ``y`` holds it.
    """
    import tempfile

    import soundfile as sf

    check_options(options, predict_file, "predict_audio", leaving_out=("model", "path"))

    if not isinstance(y, np.ndarray) or y.ndim not in (1, 2) or not np.issubdtype(y.dtype, np.floating):
        found = (f"shape {y.shape}, dtype {y.dtype}" if isinstance(y, np.ndarray) else type(y).__name__)
        from genrekit.audio.io import pcm_hint

        raise ParameterError(f"y: expected float audio of shape (n,), (n, channels) or (channels, n), found {found}"
                             + pcm_hint(y))
    from genrekit.audio.io import checked_audio_rate

    # 22050.0 is one (librosa's rates are floats at times); 22050.5 is not, nor is 1 Hz (named
    # here, not as the temporary file's header)
    sr = checked_audio_rate(sr)
    if y.size == 0:
        raise ParameterError(f"y of shape {y.shape}: no audio")
    if y.ndim == 2 and y.shape[1] > y.shape[0]:  # librosa's (channels, n), as genrekit.audio.load gives it
        y = y.T
    from genrekit.audio.io import damage_reason, first_damage

    if (found := first_damage(y)) is not None:  # said in the array's terms, not the temporary file's
        raise AudioError(name, damage_reason(found[1], found[0], sr, array="y"))
    with tempfile.TemporaryDirectory(prefix="genrekit-audio-") as folder:
        path = os.path.join(folder, "audio.wav")
        sf.write(path, np.ascontiguousarray(y, dtype=np.float32), int(sr), subtype="FLOAT")
        try:
            prediction = predict_file(model, path, **options)
        except AudioError as exc:  # said of the caller's name, not of the temporary file
            raise AudioError(name, exc.reason.replace(path, name)) from None
        except AnalysisStopped:
            raise AnalysisStopped(name) from None
        except GenrekitError as exc:
            raise type(exc)(str(exc).replace(path, name)) from None
    return dataclasses.replace(prediction, path=name)


@renamed_keywords(jobs="n_jobs")
def predict_files(
    model: ModelLike,
    paths: Sequence[str | os.PathLike],
    *,
    skip: float = SKIP_SECONDS,
    hop_seconds: float | None = None,
    progress: bool = True,
    n_jobs: int = 1,
    runner=None,
    segment_seconds: float | None = None,
    min_confidence: float | None = None,
    music_check: bool = True,
) -> tuple[list[Prediction], dict[str, str]]:
    """Predict every file, going on past files that cannot be decoded (:func:`iter_predictions`).

    Parameters
    ----------
    model : a classical model, a loaded predictor, a model file's path or ``"default"``
        (see :func:`genrekit.models.load`)
    paths : sequence of path or URL
        The files; a folder stands for the audio files below it (:func:`songs_at`), and a path
        given twice is predicted once.
    skip, hop_seconds, min_confidence, music_check
        As :func:`predict_file`.
    progress : bool
        Show a progress bar: in seconds of audio where the files' headers give their lengths
        (a long song moves it as it is analysed), else in files.
    n_jobs : int or None
        Worker processes (more than 1: each loads the model from its file; None, 0 or less:
        one per core; 1: this process).
    runner : optional
        Where the files are predicted (:mod:`genrekit.runners`; default: a local process pool
        of ``n_jobs`` when ``n_jobs`` > 1, else this process).
    segment_seconds : float, optional
        Classical whole-clip models: seconds per chunk (see :func:`genrekit.models.load`).

    Returns
    -------
    predictions : list of Prediction
        One per good file, in input order.
    failures : dict
        Path -> reason, for the files that failed.

    Raises
    ------
    ParameterError, ModelError
        ``min_confidence`` is not a probability, or the model cannot be loaded (as
        :func:`genrekit.models.load`).
    """
    check_flags(progress=progress)
    # before the folders are listed (iter_predictions checks them again: it is public too)
    _checked_batch(min_confidence=min_confidence, skip=skip, hop_seconds=hop_seconds, n_jobs=n_jobs,
                   music_check=music_check, runner=runner)
    paths = list(dict.fromkeys(song for path in paths_given(paths) for song in songs_at(path)))
    outcomes = {}
    with _AudioProgress(paths, enabled=progress) as bar:
        for path, prediction, error in iter_predictions(
                model, paths, skip=skip, hop_seconds=hop_seconds, n_jobs=n_jobs, runner=runner,
                segment_seconds=segment_seconds, min_confidence=min_confidence, music_check=music_check,
                on_progress=bar.advance_to):
            outcomes[path] = (prediction, error)
            bar.finished(path)
    predictions = [outcomes[p][0] for p in paths if outcomes[p][0] is not None]
    failures = {p: outcomes[p][1] for p in paths if outcomes[p][1] is not None}
    return predictions, failures
