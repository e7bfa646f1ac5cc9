"""A song streamed as the chunks a model scores: the one chunker that prediction, evaluation
and the scoring of validation and test tracks in training share.

Intros and outros of long songs are skipped; memory stays bounded by one decoding block
and one chunk, whatever the song's length.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator

import numpy as np

from genrekit._renamed import renamed_keywords
from genrekit.audio.io import (
    MAX_SAMPLE, SILENCE_PEAK, TRUNCATION_TOLERANCE, check_sample_rate, check_stop, damaged_sample,
    first_damage, info, is_seconds, seconds_apart, stream,
)
from genrekit.errors import AudioError, ParameterError, SilentAudio
from genrekit.runners import jobs_wanted


# Seconds of intro and outro that prediction and evaluation leave out of a long song by default.
SKIP_SECONDS = 10.0

# The segment a model that describes a whole clip by one feature vector scores (and is
# trained on): the length of the GTZAN and FMA clips such models learn from.
SEGMENT_SECONDS = 30.0

# Intros and outros are skipped only when this much of the song (and three chunks) remains:
# a 30 s excerpt such as a GTZAN clip is analysed whole, by short-window networks too.
MIN_ANALYSED_SECONDS = 30.0
# With max_seconds, the samples (all channels) a file may hold per second allowed: stereo at 48 kHz
SAMPLE_BUDGET_RATE = 2 * 48_000


def kept_after_skipping(chunk_seconds: float) -> float:
    """The seconds a song must keep after its skipped intro and outro for them to be skipped:
    three chunks, and at least :data:`MIN_ANALYSED_SECONDS`."""
    return max(3 * chunk_seconds, MIN_ANALYSED_SECONDS)


def analysed_span(duration: float, *, skip: float, chunk_seconds: float) -> tuple[float, float]:
    """(start, end) in seconds: ``skip`` seconds off each end when the song is long enough to
    keep at least three chunks and :data:`MIN_ANALYSED_SECONDS` after skipping, else the whole file.

    Parameters
    ----------
    duration : float
        The file's length, in seconds.
    skip : float
        Seconds of intro, and of outro, to leave out (0: none).
    chunk_seconds : float
        The length of the chunks the span is cut into, in seconds.

    Returns
    -------
    start, end : float
        The span to analyse, in seconds from the file's start: ``(skip, duration - skip)``
        when ``duration - 2 * skip`` is at least ``3 * chunk_seconds`` and at least
        :data:`MIN_ANALYSED_SECONDS`, else ``(0.0, duration)``.

    Raises
    ------
    ParameterError
        ``skip`` is negative.
    """
    if not skip >= 0:  # NaN too
        raise ParameterError(f"skip={skip} must be >= 0 seconds")
    if duration - 2 * skip >= kept_after_skipping(chunk_seconds):
        return skip, duration - skip
    return 0.0, duration


@renamed_keywords(jobs="n_jobs")
def check_song_reading(*, skip: float = 0.0, hop_seconds: float | None = None, n_jobs: int = 1) -> None:
    """Refuse, before any file is read, settings every file of a batch would fail on: a batch
    told ``skip=-1`` raised once, not once per file as each file's failure.

    Raises
    ------
    ParameterError
        ``skip`` is not a finite number >= 0, ``hop_seconds`` not a positive finite number (or
        None), or ``n_jobs`` not None or a whole number (see :func:`genrekit.runners.jobs_wanted`).
    """
    if not (is_seconds(skip) and skip >= 0):
        raise ParameterError(f"skip={skip!r}: expected a number of seconds >= 0")
    if hop_seconds is not None and not (is_seconds(hop_seconds) and hop_seconds > 0):
        raise ParameterError(f"hop_seconds={hop_seconds!r}: expected a positive number of seconds (or None: chunks "
                             "back to back)")
    jobs_wanted(n_jobs)  # (a local pool's bound is the pool's: a Ray cluster may have more cores)


def _damage_in_file(path: str, native_sr: int, start: float, seconds: float, value: float, sr: int) -> str:
    """Why a file whose resampled, mixed audio holds ``value`` ``seconds`` after ``start`` is
    corrupt, said in the file's own terms: the sample of its own that is damaged, at its own rate
    and place (decoded again as far as just past there), or else what resampling made of it."""
    at = start + seconds
    if reason := damaged_sample(path, offset=start, duration=seconds + 1.0):
        return reason
    return (f"corrupt: a sample reaches {abs(value):.3g} in magnitude once mixed and resampled from the file's "
            f"{native_sr} Hz to {sr} Hz, at about {at:.3f} s into the file, far outside -1..1 (more than "
            f"{MAX_SAMPLE:g}, {20 * np.log10(MAX_SAMPLE):.0f} dB over full scale)")


def _minutes(seconds: float) -> str:
    whole = int(seconds)
    return f"{whole // 60}:{whole % 60:02d} min"


def song_chunks(
    path: str | os.PathLike,
    *,
    sr: int,
    chunk_seconds: float,
    hop_seconds: float | None = None,
    skip: float = SKIP_SECONDS,
    pad: bool = True,
    min_seconds: float = 0.5,
    min_last: float | None = None,
    block_seconds: float = 30.0,
    should_stop: Callable[[], bool] | None = None,
    max_seconds: float | None = None,
) -> Iterator[tuple[float, float, np.ndarray]]:
    """Stream a file's chunks: ``(start, end, samples)``, times in seconds from the file's start.

    Chunks are ``chunk_seconds`` long every ``hop_seconds`` inside :func:`analysed_span`. A
    last piece that adds at least ``min_seconds`` of audio after the last whole chunk is kept
    (the end of a 70 s song is heard; a caller weighs it by its length), or with ``pad`` at
    least half a chunk (a padded piece is as costly as a whole one), as is a file shorter
    than one chunk but at least ``min_seconds`` long: zero-padded to a whole chunk when
    ``pad`` (fixed-size networks), else as it is.
    Memory stays bounded by one decoding block and one chunk.

    Parameters
    ----------
    path : path
        A local audio file.
    sr : int
        The sample rate (Hz) the audio is decoded and resampled to.
    chunk_seconds : float
        The length of a chunk.
    hop_seconds : float, optional
        Seconds between chunks' starts (default: ``chunk_seconds``, back to back).
    skip : float
        Seconds of intro and outro left out of a long enough song (see :func:`analysed_span`).
    pad : bool
        Zero-pad a short last piece to a whole chunk.
    min_seconds : float
        The shortest last piece, or file, that gives a chunk.
    min_last : float, optional
        The shortest last piece after whole chunks, in seconds (at least ``min_seconds``);
        default: ``min_seconds``, or half a chunk with ``pad``. Feature tables keep half a
        segment, as they did before a song's end was heard: their cached rows stay valid.
    block_seconds : float
        Seconds decoded at a time.
    should_stop : callable, optional
        Asked before each decoded block and each chunk; once it answers true the stream ends
        with :class:`AnalysisStopped` (a service's timeout or a client that went away).
    max_seconds : float, optional
        Refuses a file whose header declares more audio than that before anything is decoded
        (a service's bound on the work one upload may ask for; decoding stops at the declared
        length, so a header cannot hide more), or more samples, all channels counted, than
        stereo at 48 kHz would hold in that time (:data:`SAMPLE_BUDGET_RATE`).

    Yields
    ------
    start, end : float
        The chunk's span in seconds from the file's start (a short last piece ends where its
        audio does, padded or not).
    samples : np.ndarray [shape=(round(chunk_seconds * sr),)], float32, mono
        Shorter for a last piece that is not padded. It may be a view into a decoded block: a
        copy keeps it without holding the block in memory.

    Raises
    ------
    AudioError
        naming the file: not audio, corrupt (non-finite or far out of range samples),
        truncated (fewer samples than its header declares), silent, too short to give one
        chunk (less than ``min_seconds``), or longer than ``max_seconds``.
    AnalysisStopped
        when ``should_stop()`` became true.
    ParameterError
        ``sr`` is not a positive whole number of Hz, ``chunk_seconds`` or ``hop_seconds`` is
        not positive or shorter than one sample at ``sr``, or ``skip`` is negative.
    """
    path = os.fspath(path)
    if not chunk_seconds > 0:
        raise ParameterError(f"chunk_seconds={chunk_seconds}: expected a positive number of seconds")
    if hop_seconds is not None and not hop_seconds > 0:
        raise ParameterError(f"hop_seconds={hop_seconds}: expected a positive number of seconds")
    hop_seconds = chunk_seconds if hop_seconds is None else hop_seconds
    check_sample_rate(sr)
    sr = int(sr)  # a model file's 22050.0 is whole
    header = info(path, should_stop=should_stop)
    if max_seconds is not None and header.duration > max_seconds:
        raise AudioError(path, f"too long: {_minutes(header.duration)} of audio, at most {_minutes(max_seconds)} "
                               "analysed here")
    if max_seconds is not None and header.frames * header.channels > max_seconds * SAMPLE_BUDGET_RATE:
        # decoding costs samples, not seconds: a short file of many channels at a high rate costs as much
        raise AudioError(path, f"too much audio: {header.channels} channels at {header.sample_rate} Hz for "
                               f"{_minutes(header.duration)}, more samples than {_minutes(max_seconds)} of stereo "
                               "at 48 kHz, the most analysed here")
    start, end = analysed_span(header.duration, skip=skip, chunk_seconds=chunk_seconds)
    size, hop = int(round(chunk_seconds * sr)), int(round(hop_seconds * sr))
    if size < 1 or hop < 1:  # a hop of 0 samples would yield the same chunk for ever
        raise ParameterError(f"chunk_seconds={chunk_seconds} and hop_seconds={hop_seconds} must each be at least "
                             f"one sample at {sr} Hz ({1 / sr:.2g} s)")
    pending = np.zeros(0, dtype=np.float32)
    consumed = 0  # samples dropped from the front of ``pending`` so far
    owed = 0  # samples of a hop longer than what was pending, to drop from the next blocks
    decoded, peak, emitted = 0, 0.0, 0
    for block in stream(path, sr=sr, block_duration=block_seconds, offset=start, duration=end - start,
                        should_stop=should_stop, mix_check=True):
        check_stop(should_stop, path)
        decoded += len(block)
        # NaN or infinity (a float file's damage: the model would answer NaN), or a sample far out
        # of range (damage too, which a level's gain would hide)
        if (found := first_damage(block)) is not None:
            raise AudioError(path, _damage_in_file(path, header.sample_rate, start, (decoded - len(block) + found[0]) / sr,
                                                   found[1], sr))
        block_peak = float(np.max(np.abs(block))) if len(block) else 0.0
        peak = max(peak, block_peak)
        if owed:
            dropped = min(owed, len(block))
            block, owed, consumed = block[dropped:], owed - dropped, consumed + dropped
        pending = np.concatenate([pending, block]) if pending.size else block
        while pending.shape[0] >= size:
            check_stop(should_stop, path)
            t = start + consumed / sr
            yield t, t + chunk_seconds, pending[:size]
            emitted += 1
            step = min(hop, pending.shape[0])
            pending, consumed, owed = pending[step:], consumed + step, hop - step
    expected = (end - start) * sr
    if decoded < TRUNCATION_TOLERANCE * expected - 0.1 * sr:
        raise AudioError(path, f"truncated: header declares {expected / sr:.2f} s to analyse, "
                               f"only {decoded / sr:.2f} s could be decoded")
    if peak < SILENCE_PEAK:  # channels that cancel to silence were refused as damaged by the stream
        raise SilentAudio(path, f"silent: peak level below {20 * np.log10(SILENCE_PEAK):.0f} dBFS")
    tail = pending.shape[0]
    # Overlapping chunks leave their last overlap in ``pending``: only what follows it is new.
    new = tail if emitted == 0 else tail - max(0, size - hop)
    # a song's end is heard, however short; a network's, padded to a whole chunk, from half a chunk
    last = (size / 2 if pad else 0) if min_last is None else min_last * sr
    enough = tail >= min_seconds * sr if emitted == 0 else new >= max(min_seconds * sr, last)
    if tail and new > 0 and enough:
        t = start + consumed / sr
        piece = np.pad(pending, (0, size - tail)) if pad else pending
        yield t, t + tail / sr, piece
    elif emitted == 0:
        found, least = seconds_apart(tail / sr, min_seconds)
        raise AudioError(path, f"too short: {found} s of audio to analyse, at least {least} s required")
