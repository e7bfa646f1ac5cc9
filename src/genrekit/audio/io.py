"""Decode, mix down, resample and stream audio files."""

from __future__ import annotations

import hashlib
import logging
import math
import numbers
import os
import re
import stat
import sys
import tempfile
import threading
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext, suppress
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from urllib.parse import urlsplit

import numpy as np
import soundfile as sf
import soxr

from genrekit._files import line_shown, not_regular_file, path_given
from genrekit.audio import remote
from genrekit.errors import AnalysisStopped, AudioError, GenrekitError, ParameterError, SilentAudio, check_flags

logger = logging.getLogger(__name__)

#: Endings libsndfile (soundfile) decodes; it stays the decoder for these.
SOUNDFILE_EXTENSIONS = frozenset(
    {".wav", ".wave", ".au", ".snd", ".aif", ".aiff", ".aifc", ".flac", ".ogg", ".oga", ".opus", ".mp3"}
)
#: Endings decoded through PyAV (FFmpeg): AAC/ALAC in MP4 containers, WMA, and friends.
PYAV_EXTENSIONS = frozenset({".m4a", ".m4b", ".mp4", ".aac", ".alac", ".wma", ".asf", ".webm", ".mka", ".ac3"})
#: File name endings the audio layer decodes (lower case).
AUDIO_EXTENSIONS = SOUNDFILE_EXTENSIONS | PYAV_EXTENSIONS

# A decoded sample beyond this (60 dB over full scale) is damage: no recording goes there,
# and a model that scales segments to one level would quietly turn it into silence.
MAX_SAMPLE = 1000.0
# Peak below which a signal counts as silent (-100 dBFS): digital silence and dither noise.
SILENCE_PEAK = 1e-5
# A decoder may legitimately deliver a little less than the header declares (mp3 padding);
# anything shorter than this fraction of the declared length is a truncated file.
TRUNCATION_TOLERANCE = 0.98


@dataclass(frozen=True)
class AudioInfo:
    """What a file's header says about it.

    Attributes
    ----------
    path : str
        The file as it was named: a local path or a URL.
    sample_rate : int
        The file's own sample rate, in Hz.
    channels : int
        Channels in the file.
    frames : int
        Samples per channel the header declares. For the files PyAV (FFmpeg) decodes (m4a,
        AAC, WMA...) it comes from the container's duration or, for a bare codec stream or a
        container that gives none, from its packets: decoding may give a little more or less.
    format : str
        The container, upper case: libsndfile's name (``WAV``, ``FLAC``, ``OGG``, ``MP3``) or
        FFmpeg's first name for it (``MOV`` for m4a and mp4).
    subtype : str
        The encoding, upper case: libsndfile's subtype (``PCM_16``, ``VORBIS``) or FFmpeg's
        codec name (``AAC``).
    """

    path: str
    sample_rate: int
    channels: int
    frames: int
    format: str
    subtype: str

    @property
    def duration(self) -> float:
        """Duration in seconds, from the header."""
        return self.frames / self.sample_rate if self.sample_rate else 0.0


# What libsndfile's mpg123 writes straight to file descriptor 2 about a bad MP3 ("Note: Illegal
# Audio-MPEG-Header ...", "Warning: Xing stream size off ...", "[src/libmpg123/parse.c:...] error: ...").
_DECODER_LINE = re.compile(r"^(?:(?:Note|Warning|Error): |\[[^\]\s]*\.c:[^\]\s]*\] )")


class _StderrHold:
    """Points file descriptor 2 at a private file while any thread is decoding, and on the last
    one's way out points it back and sorts what arrived: decoder lines go to the log (debug),
    anything else (another thread's output) is written to the real stderr unchanged.

    Counted rather than locked per decode, so threads still decode in parallel; fd 2 is
    process-wide, hence one shared redirection."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._users = 0
        self._saved: int | None = None
        self._capture: int | None = None
        self._read = 0  # how far the capture has been passed on

    def enter(self) -> None:
        with self._lock:
            self._users += 1
            if self._users > 1:
                return
            try:
                if self._capture is None:
                    created, name = tempfile.mkstemp(prefix="genrekit-decoder-", suffix=".log")
                    os.close(created)
                    # every write lands at the end, whatever offset a reader left
                    handle = os.open(name, os.O_RDWR | os.O_APPEND)
                    try:
                        os.unlink(name)  # anonymous: removed with the process (fails on Windows: no capture)
                    except OSError:
                        os.close(handle)
                        raise
                    self._capture = handle
                _flush_stderr()
                saved = os.dup(2)
            except OSError:  # no fd 2 to redirect (closed), or no temporary folder: leave fd 2 alone
                return
            try:
                os.dup2(self._capture, 2)
            except OSError:
                os.close(saved)
                return
            self._saved = saved

    def leave(self) -> None:
        with self._lock:
            self._users -= 1
            if self._saved is None:
                return
            _flush_stderr()
            if self._users:
                # others still decode: pass on the whole lines that arrived so far, so that a
                # busy service's own messages are not held back
                pieces, real = self._drain(final=False), self._saved
            else:
                os.dup2(self._saved, 2)
                os.close(self._saved)
                self._saved = None
                pieces, real = self._drain(final=True), 2
            for captured in pieces:  # a piece at a time: the decoders' lines dropped, the rest passed on
                passed = _sort_decoder_lines(captured)
                if passed:
                    try:
                        os.write(real, passed)
                    except OSError:  # stderr closed or a broken pipe: nothing to tell it
                        pass

    def _drain(self, final: bool) -> Iterator[bytes]:
        """What arrived since the last drain, in pieces of whole lines of at most
        :data:`MAX_CAPTURED_BYTES` (a file can make a decoder print without end: one warning
        per empty ID3 tag, 500 MB): only whole lines while fd 2 still points at the capture (a
        writer may be mid-line), everything once it no longer does. The file is emptied only
        when nobody can write to it, so no line is lost or split."""
        size = os.fstat(self._capture).st_size
        at, carry = self._read, b""
        while at < size:
            data = carry + os.pread(self._capture, min(MAX_CAPTURED_BYTES, size - at), at)
            at += len(data) - len(carry)
            cut = data.rfind(b"\n") + 1 or (len(data) if len(data) >= MAX_CAPTURED_BYTES else 0)  # one long line
            carry = data[cut:]
            if cut:
                yield data[:cut]
        if final:
            if carry:
                yield carry
            os.ftruncate(self._capture, 0)
            self._read = 0
        else:
            self._read = at - len(carry)  # the start of a line still being written


#: The most of the decoders' captured output read at once
MAX_CAPTURED_BYTES = 1 << 20


def _sort_decoder_lines(captured: bytes) -> bytes:
    """Decoder lines to the log (debug); the rest, unchanged, to pass on to stderr."""
    passed = []
    for line in captured.decode("utf-8", "replace").splitlines(keepends=True):
        if _DECODER_LINE.match(line):
            logger.debug("decoder: %s", line.rstrip())
        else:
            passed.append(line)
    return "".join(passed).encode("utf-8", "replace")


def _flush_stderr() -> None:
    try:
        sys.stderr.flush()
    except (AttributeError, OSError, ValueError):
        pass


_stderr_hold = _StderrHold()


@contextmanager
def decoder_messages_logged() -> Iterator[None]:
    """Keep what the C decoders print on file descriptor 2 (libsndfile's mpg123: "Illegal
    Audio-MPEG-Header", "Trying to resync") off the user's stderr and log it at debug level
    instead; genrekit's own AudioError still names the file. Thread-safe and re-entrant."""
    _stderr_hold.enter()
    try:
        yield
    finally:
        _stderr_hold.leave()


def _quiet(handle) -> AbstractContextManager:
    """:func:`decoder_messages_logged` while reading an MP3 (libsndfile decodes it with mpg123,
    which prints); other formats are read with fd 2 left alone."""
    mp3 = isinstance(handle, sf.SoundFile) and handle.format in ("MP3", "MPEG")
    return decoder_messages_logged() if mp3 else nullcontext()


def _suffix(path: str | os.PathLike) -> str:
    """The file name's ending, lower case (of a URL's path: its query is not part of it)."""
    return PurePosixPath(urlsplit(path).path).suffix.lower() if remote.is_url(path) else Path(path).suffix.lower()


def is_audio_path(path: str | os.PathLike) -> bool:
    """True when the file name ends with an extension the audio layer decodes.

    Parameters
    ----------
    path : path or URL
        Only the name is looked at (of a URL, its path, not its query); the file need not exist.

    Returns
    -------
    bool
        Whether its ending, in any case, is one of :data:`AUDIO_EXTENSIONS`.
    """
    return _suffix(path) in AUDIO_EXTENSIONS


def content_hash(path: str | os.PathLike, *, chunk_size: int = 1 << 20) -> str:
    """SHA-256 of a file's bytes (a local path or a URL), hex encoded; identifies audio
    content for caching.

    Parameters
    ----------
    path : path or URL
        The file; nothing is decoded.
    chunk_size : int
        Bytes read at a time from a local file (a URL's file is read 1 MiB at a time). The
        hash does not depend on it.

    Returns
    -------
    str
        64 hex digits.

    Raises
    ------
    AudioError
        Naming the file: it cannot be read (missing, a folder, not permitted).
    ParameterError
        ``path`` is a URL and pyarrow is not installed or cannot open it.
    """
    if remote.is_url(path):
        return remote.content_hash(path)
    digest = hashlib.sha256()
    try:
        with open(path, "rb") as handle:
            while block := handle.read(chunk_size):
                digest.update(block)
    except OSError as exc:
        raise AudioError(path, f"cannot be read: {exc.strerror or exc}") from exc
    return digest.hexdigest()


def audio_hash(path: str | os.PathLike, *, block_frames: int = 1 << 18) -> str:
    """SHA-256 of a file's decoded audio (its sample rate, channel count and float32
    samples), hex encoded. Unlike :func:`content_hash`, it stays the same when only the tags
    were rewritten or the file was re-encoded losslessly (wav to flac); a lossy re-encode
    changes it.

    Parameters
    ----------
    path : path or URL
        The audio file (a URL's file is copied to a temporary file first).
    block_frames : int
        Frames decoded at a time, so memory stays bounded by one block. The hash does not
        depend on it.

    Returns
    -------
    str
        64 hex digits.

    Raises
    ------
    AudioError
        The file is missing, empty, not audio, or cannot be decoded (named, with the decoder's
        reason).
    ParameterError
        ``path`` is a URL and pyarrow is not installed or cannot open it.
    """
    path = os.fspath(path)
    with _open(path) as reader:
        digest = hashlib.sha256(f"{reader.samplerate}:{reader.channels}:".encode())
        # the same bytes, in bounded reads
        for block in _pieces(reader, path, max(1, min(block_frames, READ_SAMPLES // reader.channels))):
            digest.update(np.ascontiguousarray(block).tobytes())
    return digest.hexdigest()


# The opening a cut copy of a song shares with it (gtzan-mini's 15-20 s starts of GTZAN clips)
OPENING_SECONDS = 10.0


def opening_hash(path: str | os.PathLike, *, seconds: float = OPENING_SECONDS,
                 whole_if_shorter: bool = False) -> str | None:
    """SHA-256 of the first ``seconds`` of a file's decoded audio (its sample rate, channel
    count and float32 samples), hex encoded: the same for a song and a copy cut shorter (or
    re-encoded losslessly, its tags rewritten), where :func:`audio_hash` of the whole differs.
    With ``whole_if_shorter``, a file shorter than ``seconds`` gets the hash of all its audio
    (the same for its lossless copies; never equal to a longer file's opening).

    Returns
    -------
    str or None
        None where those seconds are digital silence (which many songs share), or where the
        file is shorter than ``seconds`` (unless ``whole_if_shorter``).

    Raises
    ------
    AudioError
        As :func:`audio_hash`.
    """
    path = os.fspath(path)
    with _open(path) as reader:
        frames = int(round(seconds * reader.samplerate))
        digest = hashlib.sha256(f"{reader.samplerate}:{reader.channels}:{frames}:".encode())
        read, sounding = 0, False
        # the same bytes as one read, in bounded reads
        for block in _pieces(reader, path, max(1, READ_SAMPLES // reader.channels), frames=frames):
            digest.update(np.ascontiguousarray(block).tobytes())
            read, sounding = read + block.shape[0], sounding or bool(block.any())
    return digest.hexdigest() if sounding and (read == frames or whole_if_shorter) else None


# Bare codec streams without an index, whose length FFmpeg guesses from the first packets'
# bit rate (a raw AAC file with a quiet intro was "2289 s" for 150 s): their packets are counted.
_RAW_STREAMS = frozenset({"aac", "ac3", "eac3", "dts", "amr", "amrnb", "amrwb"})


def check_stop(should_stop: Callable[[], bool] | None, path: str | os.PathLike) -> None:
    """Raise :class:`AnalysisStopped` for ``path`` when ``should_stop()`` is true."""
    if should_stop is not None and should_stop():
        raise AnalysisStopped(path)


# Packets demuxed between two questions to ``should_stop`` while a raw stream's length is
# counted: a crafted 50 MB ADTS file holds millions of 8-byte packets (tens of seconds).
PACKETS_PER_STOP_CHECK = 20_000


# The only FFmpeg demuxers a file may open: the containers of PYAV_EXTENSIONS and the formats
# libsndfile hands over (MP3, WAV). FFmpeg otherwise probes a file's content for any of its
# demuxers, among them playlists (concat, HLS) that open other files or URLs on their own.
_DEMUXERS = "mov,matroska,asf,aac,ac3,eac3,dts,amr,amrnb,amrwb,mp3,wav,w64,caf,ogg,flac,aiff"


class _PyAVReader:
    """The part of ``soundfile.SoundFile``'s interface the audio layer uses, over PyAV:
    ``samplerate``, ``channels``, ``frames`` (from the container's duration), ``format``,
    ``subtype``, ``seek`` and ``read`` of float32 ``(frames, channels)`` blocks."""

    def __init__(self, path: str, should_stop: Callable[[], bool] | None = None, count_packets: bool = False):
        try:
            import av
        except ImportError as exc:  # the torch-free runtime installs libsndfile's formats only
            raise AudioError(path, f"decoding {Path(path).suffix} files needs PyAV: pip install 'genrekit[full]' "
                                   "(or av)") from exc

        self._av = av
        self.path = path
        self._should_stop = should_stop
        try:
            self._container = av.open(path, options={"format_whitelist": _DEMUXERS})
        except PermissionError as exc:  # PyAV's too: it subclasses the built-in one
            raise AudioError(path, "cannot be read: permission denied") from exc
        except (av.FFmpegError, OSError, UnicodeDecodeError) as exc:
            if cut := _mp4_cut_short(path):
                raise AudioError(path, f"truncated: {cut} (decoder says: {_decoder_said(exc, path)})") from exc
            raise AudioError(path, f"not audio or corrupt (decoder says: {_decoder_said(exc, path)})"
                                   f"{found_instead(path)}") from exc
        if not self._container.streams.audio:
            self._container.close()
            raise AudioError(path, "contains no audio stream")
        self._stream = self._container.streams.audio[0]
        context = self._stream.codec_context
        if context is None:  # FFmpeg does not know the codec
            self._container.close()
            raise AudioError(path, "unsupported audio codec: FFmpeg cannot decode its audio stream")
        if context.name == "alac" and len(context.extradata or b"") >= 16:  # its setup sizes FFmpeg's buffers
            frame_length = int.from_bytes(context.extradata[12:16], "big")
            if frame_length > MAX_PACKET_FRAMES:
                self._container.close()
                raise AudioError(path, f"an ALAC setup of {frame_length} samples a packet; audio formats' packets "
                                       f"hold at most {MAX_PACKET_FRAMES} (a crafted or damaged file)")
        self.samplerate = int(context.sample_rate or 0)
        self.channels = int(context.layout.nb_channels or 1)
        self.format = self._container.format.name.split(",")[0].upper()
        if count_packets or self.format.lower() in _RAW_STREAMS:
            seconds = self._packet_seconds(path)
        elif self._stream.duration is not None and self._stream.time_base is not None:
            seconds = float(self._stream.duration * self._stream.time_base)
        elif self._container.duration:
            seconds = self._container.duration / 1_000_000
        else:  # no length in the container (a browser's MediaRecorder WebM): its packets say it
            seconds = self._packet_seconds(path)
        self.frames = int(round(seconds * self.samplerate))
        self.subtype = context.name.upper()
        self._resampler = av.AudioResampler(format="flt", layout=context.layout, rate=self.samplerate)
        self._decoded = self._container.decode(self._stream)
        self._blocks: list[np.ndarray] = []  # decoded and not yet read, joined only when read
        self._buffered = 0
        self._done = False

    def _packet_seconds(self, path: str) -> float:
        """The stream's length from its packets (demuxed, not decoded); the container is then
        opened again at its start."""
        total, first, end = 0, None, 0
        try:
            for count, packet in enumerate(self._container.demux(self._stream)):
                if count % PACKETS_PER_STOP_CHECK == 0:
                    check_stop(self._should_stop, path)
                total += packet.duration or 0
                if packet.pts is not None:  # WebM blocks often carry no duration: their time stamps do
                    first = packet.pts if first is None else min(first, packet.pts)
                    end = max(end, packet.pts + (packet.duration or 0))
            seconds = float(max(total, end - (first or 0)) * self._stream.time_base)
            check_stop(self._should_stop, path)  # before opening it again: a raw stream is probed again
            self._container.close()
            self._container = self._av.open(path, options={"format_whitelist": _DEMUXERS})
        except (self._av.FFmpegError, OSError) as exc:
            self._container.close()
            raise AudioError(path, f"corrupt: its packets cannot be read ({_decoder_said(exc, path)})") from exc
        except AnalysisStopped:
            self._container.close()
            raise
        self._stream = self._container.streams.audio[0]
        return seconds

    def _decode_more(self) -> bool:
        """Decode the next packet's samples into the buffer; False at the end of the stream."""
        if self._done:
            return False
        try:
            frame = next(self._decoded)
        except StopIteration:
            frame, self._done = None, True
        except self._av.FFmpegError as exc:
            raise AudioError(self.path, f"corrupt: decoding failed ({_decoder_said(exc, self.path)})") from exc
        if frame is not None and frame.samples > MAX_PACKET_FRAMES:  # before genrekit copies it, as floats
            raise AudioError(self.path, f"a packet decodes to {frame.samples} samples per channel; audio formats' "
                                        f"packets hold at most {MAX_PACKET_FRAMES} (a crafted or damaged file)")
        try:
            resampled = self._resampler.resample(frame)
        except ValueError as exc:  # PyAV: "Frame does not match AudioResampler setup"
            raise AudioError(self.path, f"corrupt: the stream changes its sample rate or channels mid-way ({exc})") from exc
        for b in resampled:
            self._blocks.append(b.to_ndarray().reshape(-1, self.channels))
            self._buffered += self._blocks[-1].shape[0]
        return True

    def read(self, frames: int = -1, dtype: str = "float32", always_2d: bool = True) -> np.ndarray:
        while (frames < 0 or self._buffered < frames) and self._decode_more():
            pass
        buffer = np.concatenate(self._blocks) if self._blocks else np.zeros((0, self.channels), dtype=np.float32)
        count = buffer.shape[0] if frames < 0 else min(frames, buffer.shape[0])
        block, rest = buffer[:count], buffer[count:]
        self._blocks, self._buffered = ([rest] if rest.shape[0] else []), rest.shape[0]
        return block.astype(dtype, copy=False)

    def seek(self, frame: int) -> None:
        """Only forward from the start (what ``load``/``stream`` need): decode and drop."""
        while frame > 0:
            dropped = self.read(min(frame, 1 << 20))
            if not dropped.shape[0]:
                break
            frame -= dropped.shape[0]

    def close(self) -> None:
        self._container.close()

    def __enter__(self) -> _PyAVReader:
        return self

    def __exit__(self, *_) -> None:
        self.close()


def _open(path: str | os.PathLike, should_stop: Callable[[], bool] | None = None) -> sf.SoundFile | _PyAVReader:
    """Open a file (a local path or a URL) for decoding, turning every failure into an
    AudioError naming it.

    libsndfile decodes the formats it knows; PyAV (FFmpeg) the others (m4a/AAC, ALAC, WMA).
    A URL's file is copied to a temporary file first (:mod:`genrekit.audio.remote`).
    ``should_stop``: asked while a stream without a declared length is measured.
    """
    path = os.fspath(path)
    if remote.is_url(path):
        if remote.stat(path).size == 0:
            raise AudioError(path, "empty file (0 bytes)")
        with remote.local_copy(path) as local:
            try:
                return _open_local(local, _suffix(path), should_stop)
            except AudioError as exc:
                raise AudioError(path, exc.reason) from exc.__cause__
    return _open_local(path, _suffix(path), should_stop)


def _checked_pyav(path: str, should_stop: Callable[[], bool] | None, count_packets: bool = False) -> _PyAVReader:
    handle = _PyAVReader(path, should_stop, count_packets=count_packets)
    if handle.samplerate <= 0:
        handle.close()
        raise AudioError(path, "contains no audio samples")
    _check_rate_and_channels(handle, path)
    return handle


# MPEG audio frame header: 11 sync bits, version (not 01), layer III (01), a bit rate index
# other than 1111, a sample rate index other than 11
def _is_layer3_header(head: bytes) -> bool:
    return (len(head) >= 4 and head[0] == 0xFF and head[1] & 0xE0 == 0xE0 and (head[1] >> 3) & 3 != 1
            and (head[1] >> 1) & 3 == 1 and head[2] >> 4 != 15 and (head[2] >> 2) & 3 != 3)


def _mp3_declares_length(path: str) -> bool:
    """Whether an MP3's first frame is a Xing, Info (LAME) or VBRI header that counts its
    frames. False also where no layer III frame is found near the start: its length is then
    counted from its packets too."""
    try:
        with open(path, "rb") as handle:
            position = 0
            while (tag := handle.read(10))[:3] == b"ID3" and len(tag) == 10:  # ID3v2 tags, maybe several
                size = (tag[6] & 0x7F) << 21 | (tag[7] & 0x7F) << 14 | (tag[8] & 0x7F) << 7 | (tag[9] & 0x7F)
                position += 10 + size + (10 if tag[5] & 0x10 else 0)
                handle.seek(position)
            handle.seek(position)
            head = handle.read(1 << 16)
    except OSError:
        return False
    start = next((i for i in range(len(head) - 3) if head[i] == 0xFF and _is_layer3_header(head[i:i + 4])), None)
    if start is None:
        return False
    mpeg1, mono = (head[start + 1] >> 3) & 3 == 3, head[start + 3] >> 6 == 3
    side_info = (17 if mono else 32) if mpeg1 else (9 if mono else 17)
    xing = start + 4 + side_info
    if head[xing:xing + 4] in (b"Xing", b"Info"):
        return len(head) >= xing + 8 and bool(head[xing + 7] & 1)  # its flags: the frame count is there
    return head[start + 36:start + 40] == b"VBRI"


def decoder_revision(path: str | os.PathLike) -> str:
    """How this file's decoding changed since features were first cached, for cache keys.

    ``"mp3-whole"`` for an MP3 without a Xing/Info/VBRI header that PyAV now decodes whole
    (since 2026-12-04; libsndfile used to stop where a guess from its size put the end), so
    features and audio hashes cached from the earlier, cut decode are not reused; ``""`` for
    every other file, whose cached entries stay valid. ``"ogg-chained-whole"`` for an Ogg file
    of streams joined end to end, decoded whole since 2026-12-06 (one serial number throughout,
    libsndfile read its first stream alone). Reads at most the file's first 64 KiB past its ID3
    tags, or an Ogg file's page headers (of a URL: nothing, ``""``; see :func:`revision_of`).
    """
    if (_suffix(path) in (".ogg", ".oga", ".opus") and not remote.is_url(os.fspath(path)) and _pyav_installed()
            and _ogg_chained(os.fspath(path))):
        return "ogg-chained-whole"
    return revision_of(mp3_length_undeclared(path))


def mp3_length_undeclared(path: str | os.PathLike) -> bool:
    """Whether ``path`` is a local MP3 whose first frame declares no length (no Xing, Info or
    VBRI header): what :func:`decoder_revision` depends on, besides PyAV being installed."""
    return (_suffix(path) == ".mp3" and not remote.is_url(os.fspath(path))
            and not _mp3_declares_length(os.fspath(path)))


def revision_of(length_undeclared: bool) -> str:
    """:func:`decoder_revision` of a file whose :func:`mp3_length_undeclared` is known (a URL's,
    remembered from its copy), with the decoders installed now."""
    return "mp3-whole" if length_undeclared and _pyav_installed() else ""


def _unreadable(path: str, exc: OSError) -> AudioError:
    return AudioError(path, f"cannot be read: {(exc.strerror or str(exc)).lower()}")


def _decoder_said(exc: BaseException, path: str) -> str:
    """A decoder's reason, without what PyAV adds to FFmpeg's: the error number and the file's
    name (``[Errno 1094995529] Invalid data found when processing input: 'x.m4a'``), on one line."""
    said = getattr(exc, "strerror", None)
    if not isinstance(said, str) or not said.strip():
        said = str(exc)
        said = re.sub(r"^\[Errno -?\d+\]\s*", "", said)
        for name in {getattr(exc, "filename", None), path}:
            if isinstance(name, str) and name:
                said = said.replace(f": {name!r}", "").replace(repr(name), "")
    return line_shown(said.strip().rstrip(".")) or type(exc).__name__


# The headers a file with each ending starts with (an ID3 tag may come first), and what they are called
_EXPECTED_HEADERS = {
    ".wav": ((b"RIFF", b"RIFX", b"RF64"), "RIFF/WAVE"), ".wave": ((b"RIFF", b"RIFX", b"RF64"), "RIFF/WAVE"),
    ".aif": ((b"FORM",), "FORM/AIFF"), ".aiff": ((b"FORM",), "FORM/AIFF"), ".aifc": ((b"FORM",), "FORM/AIFF"),
    ".au": ((b".snd",), ".snd (Sun/NeXT AU)"), ".snd": ((b".snd",), ".snd (Sun/NeXT AU)"),
    ".flac": ((b"fLaC",), "fLaC (FLAC)"),
    ".ogg": ((b"OggS",), "OggS (Ogg)"), ".oga": ((b"OggS",), "OggS (Ogg)"), ".opus": ((b"OggS",), "OggS (Ogg)"),
}
# What a file's first bytes say it is: (where, bytes, what)
# The first bytes of the containers libsndfile cannot read, which FFmpeg decodes: (where,
# bytes, what). A file is decoded by what it holds where its name says nothing or says
# otherwise (an upload sent as application/octet-stream, a song misnamed .mp3).
_PYAV_HEADERS = (
    (4, b"ftyp", "an MP4 header (m4a, mp4)"), (0, b"\x1aE\xdf\xa3", "a Matroska/WebM header"),
    (0, b"0&\xb2u\x8ef\xcf\x11", "an ASF header (WMA)"),
)
_AUDIO_HEADERS = (
    (0, b"ID3", "an ID3 tag (an MP3's start)"), (0, b"fLaC", "a FLAC header"), (0, b"OggS", "an Ogg page"),
    (0, b"RIFF", "a RIFF header"), (0, b"FORM", "an IFF header (AIFF)"), (0, b".snd", "an AU header"),
    (0, b"riff.\x91\xcf\x11", "a Wave64 header (w64)"), (0, b"caff", "a CAF header"), (0, b"#!AMR", "an AMR header"),
    *_PYAV_HEADERS,
)
_KNOWN_HEADERS = (
    *_AUDIO_HEADERS, (0, b"PK\x03\x04", "a ZIP archive"),
    (0, b"%PDF", "a PDF document"), (0, b"\x89PNG", "a PNG image"), (0, b"\xff\xd8\xff", "a JPEG image"),
    (0, b"GIF8", "a GIF image"), (0, b"\x1f\x8b", "gzip-compressed data"), (0, b"\x7fELF", "a program (ELF)"),
)


def _bytes_shown(data: bytes) -> str:
    """Bytes as printable text in quotes: ASCII as it is, the rest as ``\\xNN`` escapes."""
    return '"' + "".join(chr(b) if 0x20 <= b < 0x7F and b not in b'"\\' else f"\\x{b:02x}" for b in data) + '"'


def _text_start(head: bytes) -> str | None:
    """The first line of ``head`` when it is text (UTF-8, printable), shortened; else None."""
    body = head.removeprefix(b"\xef\xbb\xbf")
    for cut in range(4):  # the read may end inside a character
        try:
            text = body[:len(body) - cut].decode("utf-8")
            break
        except UnicodeDecodeError:
            continue
    else:
        return None
    odd = sum(not (c.isprintable() or c in "\t\n\r\f") for c in text)
    if not text.strip() or "\0" in text or odd > len(text) // 20:  # a few escape codes: still text
        return None
    line = next(part.strip() for part in text.splitlines() if part.strip())
    return line_shown(line if len(line) <= 40 else line[:40] + "...")


def _raw_samples_order(head: bytes) -> str | None:
    """``"little-endian"`` or ``"big-endian"`` where ``head`` reads as 16-bit audio samples in
    that order: a sound's samples change little from one to the next (their steps are a fraction
    of their spread, where in compressed or random bytes they are larger than it); else None."""
    if len(head) < 1024:
        return None
    for order, dtype in (("little-endian", "<i2"), ("big-endian", ">i2")):
        x = np.frombuffer(head[:len(head) // 2 * 2], dtype=dtype).astype(np.float64)
        spread = float(np.mean(np.abs(x - x.mean())))
        if spread > 0 and float(np.mean(np.abs(np.diff(x)))) < 0.5 * spread:
            return order
    return None


def audio_header(path: str | os.PathLike) -> str | None:
    """What a file's first bytes show it is where they show audio (``"a FLAC header"``), read
    whatever its name; None for anything else, or a file that cannot be read."""
    head = _head(os.fspath(path))
    return next((name for at, magic, name in _AUDIO_HEADERS if head[at:at + len(magic)] == magic), None)


def known_header(head: bytes) -> str | None:
    """What a file's first bytes ``head`` show it is (``"an AU header"``, ``"a PDF document"``),
    where they show a format of :data:`_KNOWN_HEADERS`; else None."""
    return next((name for at, magic, name in _KNOWN_HEADERS if head[at:at + len(magic)] == magic), None)


def found_instead(path: str, suffix: str | None = None) -> str:
    """What a file a decoder refused starts with, where its first bytes tell (``": found text,
    not audio ..."``, ``": no RIFF/WAVE header (found bytes ...)"``); ``""`` where they do not."""
    try:
        with open(path, "rb") as handle:
            head = handle.read(4096)
    except OSError:
        return ""
    suffix = _suffix(path) if suffix is None else suffix
    text, telling = _text_start(head[:256]), True  # telling: more than the bytes themselves
    if text is not None:
        found = f'found text, not audio, beginning "{text}"'
    elif not head:
        found = "found an empty file"
    elif head.count(0) == len(head):
        found = "found only zero bytes"
    else:
        what = known_header(head)
        order = None if what else _raw_samples_order(head)
        found = f"found bytes {_bytes_shown(head[:8])}" + (
            f": {what}" if what else
            f", which look like raw 16-bit {order} samples: headerless PCM" if order else "")
        telling = bool(what or order)
    expected = _EXPECTED_HEADERS.get(suffix)
    if expected is not None:
        starts, name = expected
        if name == "RIFF/WAVE" and head[:4] in starts and head[8:12] != b"WAVE":
            return f": a RIFF file of type {_bytes_shown(head[8:12])}, expected WAVE"
        if not head.startswith(starts) and not (suffix == ".flac" and head.startswith(b"ID3")):
            return f": no {name} header ({found})"
        return ""  # its header is there: the damage is further in, as the decoder says
    return f": {found}" if telling else ""


def _mp4_cut_short(path: str) -> str | None:
    """Where an MP4 file (m4a) was cut: its top-level box that runs past the end of the file,
    or None (not an MP4 file, or its boxes all end within it)."""
    import struct

    try:
        with open(path, "rb") as handle:
            size = os.fstat(handle.fileno()).st_size
            position = 0
            for _ in range(10_000):
                handle.seek(position)
                header = handle.read(16)
                if len(header) < 8:
                    return None
                length, kind = struct.unpack(">I", header[:4])[0], header[4:8]
                if position == 0 and kind != b"ftyp":
                    return None
                if length == 1 and len(header) == 16:
                    length = struct.unpack(">Q", header[8:16])[0]
                if length == 0:  # to the end of the file
                    return None
                if length < 8:
                    return None  # damage, not a cut: the decoder says what
                if position + length > size:
                    return (f"its {_bytes_shown(kind)} box (at byte {position}) declares {length} bytes, only "
                            f"{size - position} present")
                position += length
                if position == size:
                    return None
    except OSError:
        return None
    return None


def _pyav_installed() -> bool:
    import importlib.util

    return importlib.util.find_spec("av") is not None


def _check_regular_file(path: str) -> None:
    """Refuse what is not a regular file with a reason naming what it is (its link followed)."""
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError as exc:
        try:  # worded as the library walk words it
            reason = f"dangling symbolic link to {os.readlink(path)} (no such file or folder)"
        except OSError:
            reason = "file not found"
        raise AudioError(path, reason) from exc
    except OSError as exc:
        raise _unreadable(path, exc) from exc
    if stat.S_ISDIR(mode):
        raise AudioError(path, _folder_refusal(path))
    if kind := not_regular_file(mode):
        # a pipe's bytes cannot be read twice (header, then samples); a device never ends
        raise AudioError(path, f"not a regular file ({kind}): save the audio to a file first")


def _folder_refusal(path: str) -> str:
    """Why a folder given as a song has no genre: that it cannot be read, that it holds audio
    files (``genrekit predict`` and ``tag`` take the folder for them), or that none below it
    has a name genrekit reads as audio (the first such file stops the look)."""
    try:
        os.scandir(path).close()
    except OSError as exc:
        return f"is a folder that cannot be read ({exc.strerror or exc})"
    for _, folders, names in os.walk(path):
        folders[:] = [f for f in folders if not f.startswith(".")]
        if any(is_audio_path(name) for name in names if not name.startswith(".")):
            return ("is a folder, expected an audio file (`genrekit predict` and `genrekit tag` take a folder for the "
                    "audio files below it, as genrekit.predict.predict_files does)")
    return (f"is a folder with no audio file below it (none whose name ends in "
            f"{', '.join(sorted(AUDIO_EXTENSIONS))}; hidden files and folders are left out)")


class _SoundFileReader(sf.SoundFile):
    """libsndfile's reader of ``path``, opened by its name, or through a Python file object
    where a macOS "._name" AppleDouble file lies beside it: given the name, libsndfile opens
    that as the song's resource fork and fails ("bad resource fork") on an MP3 without an ID3
    tag. (By name otherwise: through a file object, libsndfile no longer falls back on the
    name's ``.mp3`` for an MP3 that starts with padding or junk.) ``length_known`` is False for
    an MP3 whose length libsndfile could only guess from its size."""

    def __init__(self, path: str):
        try:
            self._source = open(path, "rb")  # also says "permission denied" where libsndfile says "System error"
        except OSError as exc:
            raise _unreadable(path, exc) from exc
        try:
            if os.path.exists(os.path.join(os.path.dirname(path), "._" + os.path.basename(path))):
                super().__init__(self._source)
            else:
                self._source.close()
                super().__init__(os.fsencode(path))  # bytes: a name that is not UTF-8 opens too
        except BaseException:
            self._source.close()
            raise
        self.length_known = True

    def close(self) -> None:
        try:
            super().close()
        finally:
            if (source := self.__dict__.get("_source")) is not None:  # unset where opening it failed
                source.close()


def _head(path: str) -> bytes:
    try:
        with open(path, "rb") as handle:
            return handle.read(16)
    except OSError:
        return b""


def _pyav_container(head: bytes) -> bool:
    """Whether a file starting with ``head`` is an MP4, Matroska/WebM or ASF file, or a raw
    ADTS AAC or AC-3 stream, which FFmpeg decodes (and libsndfile does not)."""
    raw_stream = head[:2] == b"\x0bw" or (len(head) >= 2 and head[0] == 0xFF and head[1] & 0xF6 == 0xF0)
    return (raw_stream or any(head[at:at + len(magic)] == magic for at, magic, _ in _PYAV_HEADERS)) and _pyav_installed()


# Headers of the formats libsndfile reads: content that starts so is decoded by libsndfile
# whatever its name says (an AU upload declared audio/aac got FFmpeg, which refused it).
_SNDFILE_HEADERS = (b"fLaC", b"OggS", b"RIFF", b"FORM", b".snd")


# ID3v2 tags one after another at a file's start: a genuine MP3 has one, rarely two (a tagger
# that prepended its own); 4.9 million empty ones made mpg123 print 500 MB of warnings (50 s, 2 GB)
MAX_STACKED_ID3 = 16


def _check_stacked_id3(path: str, head: bytes) -> None:
    """Refuse a file that starts with more than :data:`MAX_STACKED_ID3` ID3v2 tags in a row."""
    if not head.startswith(b"ID3"):
        return
    with open(path, "rb") as handle:
        position = 0
        for _ in range(MAX_STACKED_ID3 + 1):
            handle.seek(position)
            tag = handle.read(10)
            if tag[:3] != b"ID3" or len(tag) < 10:
                return
            size = (tag[6] & 0x7F) << 21 | (tag[7] & 0x7F) << 14 | (tag[8] & 0x7F) << 7 | (tag[9] & 0x7F)
            position += 10 + size + (10 if tag[5] & 0x10 else 0)
    raise AudioError(path, f"starts with more than {MAX_STACKED_ID3} ID3v2 tags one after another (a genuine MP3 "
                           "has one or two: a crafted or damaged file)")


def _open_local(path: str, suffix: str, should_stop: Callable[[], bool] | None = None) -> sf.SoundFile | _PyAVReader:
    _check_regular_file(path)
    if os.path.getsize(path) == 0:
        raise AudioError(path, "empty file (0 bytes)")
    head = _head(path)
    _check_stacked_id3(path, head)
    if (suffix in PYAV_EXTENSIONS and not head.startswith(_SNDFILE_HEADERS)) or _pyav_container(head):
        return _checked_pyav(path, should_stop)
    try:
        with decoder_messages_logged():
            handle = _SoundFileReader(path)
    except (sf.LibsndfileError, RuntimeError, TypeError) as exc:
        detail = getattr(exc, "error_string", "") or (str(exc).rsplit(": ", 1)[-1] if ": " in str(exc) else "")
        detail = detail.strip().rstrip(".") or "format not recognised"
        if detail.startswith("File does not exist"):  # libsndfile's words for an MP3 it cannot parse
            detail = f"no {suffix.lstrip('.') or 'audio'} stream found"
        if suffix == ".mp3":  # libsndfile gives up on some MP3s FFmpeg reads (junk before the first frame)
            with suppress(AudioError):
                return _checked_pyav(path, should_stop, count_packets=True)
        if suffix in PYAV_EXTENSIONS and _pyav_installed():  # a RIFF of AC-3 named .ac3: FFmpeg's, as its name said
            with suppress(AudioError):
                return _checked_pyav(path, should_stop)
        raise AudioError(path, f"not audio or corrupt (decoder says: {line_shown(detail)})"
                               f"{found_instead(path, suffix)}") from exc
    if handle.format == "MP3" and not _mp3_declares_length(path):
        # libsndfile guesses such an MP3's length from its size and stops reading there: a VBR
        # song lost its last minute, a CBR one with a large cover art was "truncated"
        if _pyav_installed():
            handle.close()
            return _checked_pyav(path, should_stop, count_packets=True)
        logger.warning("%s: an MP3 without a Xing/Info/VBRI header: its length is a guess from its size, and "
                       "libsndfile may stop short of its end; pip install 'genrekit[full]' (PyAV) decodes it "
                       "whole", path)
        handle.length_known = False
    if handle.frames >= _SNDFILE_LENGTH_UNKNOWN or (handle.format == "OGG" and _ogg_chained(path)):
        # libsndfile's "length unknown": a FLAC whose encoder streamed it (its header's count 0),
        # a chained Ogg (streams joined end to end: a radio dump); taken for a length, a good file
        # was "truncated" after 4e14 s of its header (or, one serial number throughout, read as its
        # first stream alone). FFmpeg decodes such files to their end.
        file_format = handle.format
        handle.close()
        if not _pyav_installed():
            raise AudioError(path, f"its {file_format} header leaves its length unknown (a streamed or chained file): "
                                   "decoding it needs PyAV, pip install 'genrekit[full]'")
        return _checked_pyav(path, should_stop, count_packets=True)
    if handle.frames == 0 and handle.format in ("WAV", "WAVEX") and _wav_data_size_unset(path):
        # a recording never finalised (its writer could not seek back): FFmpeg reads to the end
        handle.close()
        if not _pyav_installed():
            raise AudioError(path, "a WAV whose header leaves its length 0 (never finalised): decoding it needs PyAV, "
                                   "pip install 'genrekit[full]'")
        return _checked_pyav(path, should_stop, count_packets=True)
    if handle.frames == 0 or handle.samplerate <= 0:
        handle.close()
        raise AudioError(path, "contains no audio samples")
    _check_rate_and_channels(handle, path)
    _check_sndfile_format(handle, path)
    declared = _declared_frames(path, handle.format, handle.frames)
    if declared and handle.frames < TRUNCATION_TOLERANCE * declared - 0.1 * handle.samplerate:
        # libsndfile reads a cut WAV, AU or AIFF file as a shorter whole one
        seconds, present = declared / handle.samplerate, handle.frames / handle.samplerate
        handle.close()
        raise AudioError(path, f"truncated: header declares {seconds:.2f} s, only {present:.2f} s present")
    if handle.format == "OGG" and (cut := _ogg_cut_short(path)):
        present = handle.frames / handle.samplerate
        handle.close()
        raise AudioError(path, f"truncated: {cut}; only {present:.2f} s present")
    return handle


# libsndfile's frame count for a stream whose length it does not know (SF_COUNT_MAX, 2**63 - 1);
# no file holds 2**62 frames
_SNDFILE_LENGTH_UNKNOWN = 2**62

# A data size from here up is a streaming writer's "unknown" (SoX writes 0x7ffff000 to a pipe)
_UNKNOWN_SIZE = 0x7F000000


def _file_head(path: str) -> tuple[int, bytes] | None:
    """(the file's size, its first 64 KiB), where a header is looked for; None if unreadable."""
    try:
        with open(path, "rb") as handle:
            return os.fstat(handle.fileno()).st_size, handle.read(1 << 16)
    except OSError:
        return None


# The chunks a WAV's header may hold before its data (fmt, LIST, bext, iXML, a cover's id3...)
MAX_WAV_CHUNKS = 1000


def _wav_data_chunk(path: str) -> tuple[int, int, bytes] | None:
    """(where a WAV's samples start, the size its data chunk declares, the 8 bytes there), from
    the chunk headers before it, wherever they reach (a broadcast WAV's metadata or a cover can
    take more than 64 KiB); None: not a RIFF WAVE, no data chunk, or unreadable."""
    import struct

    try:
        with open(path, "rb") as handle:
            size_on_disk = os.fstat(handle.fileno()).st_size
            riff = handle.read(12)
            if riff[:4] != b"RIFF" or riff[8:12] != b"WAVE":
                return None
            position = 12
            for _ in range(MAX_WAV_CHUNKS):
                if position + 8 > size_on_disk:
                    return None
                handle.seek(position)
                header = handle.read(8)
                chunk, size = header[:4], struct.unpack("<I", header[4:8])[0]
                if chunk == b"data":
                    return position + 8, size, handle.read(8)
                position += 8 + size + (size & 1)
    except OSError:
        return None
    return None


def _wav_data_size_unset(path: str) -> bool:
    """Whether a WAV's data chunk declares 0 bytes with bytes after it (a streamed or
    interrupted recording's header, never filled in)."""
    found = _file_head(path)
    data = _wav_data_chunk(path) if found else None
    if data is None or data[1] != 0 or found[0] <= data[0]:
        return False
    # an empty data chunk followed by another chunk (LIST, id3) is empty, not unfinished
    following = data[2]
    return not (len(following) == 8 and re.fullmatch(rb"[A-Za-z0-9 ]{4}", following[:4])
                and int.from_bytes(following[4:], "little") <= found[0] - data[0] - 8)


def _declared_frames(path: str, file_format: str, frames: int) -> int | None:
    """The frames a WAV or AU header declares, from how far its data chunk's declared size
    reaches past the bytes the file holds (``frames``: what libsndfile found in them); for
    AIFF, its COMM count. None: another format, a size left unknown (a streamed file's 0 or
    a placeholder), or a header this reader does not follow (RF64)."""
    import struct

    found = _file_head(path)
    if found is None:
        return None
    size_on_disk, head = found

    def scaled(data_start: int, declared_bytes: int) -> int | None:
        present = size_on_disk - data_start
        if declared_bytes in (0,) or declared_bytes >= _UNKNOWN_SIZE or present <= 0:
            return None
        return frames if declared_bytes <= present else int(frames * declared_bytes / present)

    if file_format == "AU" and head[:4] == b".snd" and len(head) >= 12:
        offset, size = struct.unpack(">II", head[4:12])
        return scaled(offset, size)
    if file_format in ("WAV", "WAVEX"):
        data = _wav_data_chunk(path)
        return scaled(*data[:2]) if data else None
    if file_format in ("AIFF", "AIFC") and head[:4] == b"FORM" and head[8:12] in (b"AIFF", b"AIFC"):
        position = 12
        while position + 8 <= len(head):
            chunk, size = head[position:position + 4], struct.unpack(">I", head[position + 4:position + 8])[0]
            if chunk == b"COMM" and position + 14 <= len(head):
                return struct.unpack(">I", head[position + 10:position + 14])[0] or None
            position += 8 + size + (size & 1)
    return None


# An Ogg page: "OggS", version 0, header type (0x04: the last page of its logical stream),
# granule position, serial, sequence number, CRC, segment count, then the segment table
_OGG_HEADER = 27
_OGG_EOS = 0x04
# The largest page there is (255 segments of 255 bytes): the last whole page and the start of
# a cut one lie within twice this of the end
_OGG_MAX_PAGE = _OGG_HEADER + 255 + 255 * 255
_BIT_REVERSED = bytes(int(f"{i:08b}"[::-1], 2) for i in range(256))


def _ogg_crc(page: bytes) -> int:
    """An Ogg page's checksum (CRC-32, polynomial 0x04C11DB7, not reflected, its CRC field as
    zeros), computed by zlib's reflected CRC-32 over the bit-reversed bytes."""
    import zlib

    page = (page[:22] + b"\0\0\0\0" + page[26:]).translate(_BIT_REVERSED)
    return int(f"{~zlib.crc32(page, 0xFFFFFFFF) & 0xFFFFFFFF:032b}"[::-1], 2)


def _ogg_page_length(data: bytes, at: int) -> int | None:
    """The length of the page at ``at``, from its header (which may run past ``data``'s end:
    then the length is that of what is there, plus one); None where no page's header starts
    there (no capture pattern, or a version other than 0)."""
    if data[at:at + 5] != b"OggS\0":
        return None
    if at + _OGG_HEADER > len(data):
        return len(data) - at + 1
    segments = data[at + 26]
    table = data[at + _OGG_HEADER:at + _OGG_HEADER + segments]
    return _OGG_HEADER + segments + sum(table) if len(table) == segments else len(data) - at + 1


_OGG_BOS = 0x02


def _ogg_chained(path: str) -> bool:
    """Whether an Ogg file holds a stream that begins after another's pages (streams joined end
    to end: a radio dump, ``cat a.ogg b.ogg``), whose length libsndfile takes from one of them
    only (the first's, where both have one serial number). Walks the pages' headers; False
    where they do not follow each other (damage: left to the decoder)."""
    try:
        with open(path, "rb") as handle:
            size, at, after_start = os.fstat(handle.fileno()).st_size, 0, False
            while at + _OGG_HEADER <= size:
                handle.seek(at)
                header = handle.read(_OGG_HEADER + 255)
                segments = header[26] if len(header) > 26 else 0
                table = header[_OGG_HEADER:_OGG_HEADER + segments]
                if header[:5] != b"OggS\0" or len(table) < segments:
                    return False
                if header[5] & _OGG_BOS and after_start:
                    return True
                after_start = after_start or not header[5] & _OGG_BOS  # several streams begin together
                at += _OGG_HEADER + segments + sum(table)
    except OSError:
        return False
    return False


def _ogg_cut_short(path: str) -> str | None:
    """Why an Ogg file (Vorbis, Opus) is a cut copy, or None. libsndfile takes the last page it
    finds for the end, so a file cut part-way reads as a shorter whole song: it is told by its
    last page, which is cut off (the file ends inside it), or does not close the stream (a
    complete stream's last page carries the end-of-stream flag) and is followed by zero bytes
    (a download cut short). Reads the last 128 KiB; None also where they hold no page that
    checks out, where other bytes follow the last page (an appended tag), or where the last
    page merely lacks the flag (a stream recorded without being closed plays as it is).
    """
    try:
        with open(path, "rb") as handle:
            size = os.fstat(handle.fileno()).st_size
            start = max(0, size - 2 * _OGG_MAX_PAGE)
            handle.seek(start)
            tail = handle.read()
    except OSError:
        return None
    # the first page in the window whose checksum holds anchors the walk (a capture pattern can
    # occur inside a packet's bytes); from it each page must follow the one before
    at = tail.find(b"OggS")
    while at >= 0:
        length = _ogg_page_length(tail, at)
        if length is not None and at + length <= len(tail) and (
                _ogg_crc(tail[at:at + length]) == int.from_bytes(tail[at + 22:at + 26], "little")):
            break
        at = tail.find(b"OggS", at + 1)
    if at < 0:
        return None
    while True:
        length = _ogg_page_length(tail, at)
        if at + length > len(tail):
            header_whole = at + _OGG_HEADER <= len(tail) and at + _OGG_HEADER + tail[at + 26] <= len(tail)
            present = f"declaring {length} bytes, {len(tail) - at} present" if header_whole else \
                f"{len(tail) - at} bytes of its header present"
            return (f"the file ends inside an Ogg page (at byte {start + at}, {present}), expected complete pages "
                    "up to one that closes the stream")
        after = at + length
        rest = tail[after:after + 5]
        if 0 < len(rest) < 5 and b"OggS\0".startswith(rest):  # cut inside the next page's capture pattern
            return (f"the file ends inside an Ogg page (at byte {start + after}, {len(rest)} bytes of its header "
                    "present), expected complete pages up to one that closes the stream")
        if rest.startswith(b"OggS\0"):
            at = after
            continue
        if tail[at + 5] & _OGG_EOS:
            return None
        if rest and not tail[after:].strip(b"\0"):  # zeros where the rest should be: a download cut short
            return (f"its last Ogg page (at byte {start + at}) does not close the stream (no end-of-stream flag; "
                    f"{len(tail) - after} zero bytes follow it), expected the last page of a complete stream")
        # no flag alone is no proof: a file cut at a page's end, or a stream recorded without
        # being closed (an internet radio dump), which plays as it is; decoded as it is
        return None


# Below this a header's sample rate is damage, not audio: a 40 kB WAV declaring 1 Hz would be
# analysed as 5.5 hours of audio.
MIN_NATIVE_RATE = 1000


# Above these a header is damage or an attack, not a song: a few kilobytes of Vorbis declaring
# 255 channels of silence took 5.8 GB to decode. 768 kHz is the highest rate recorders write
# (DXD is 352.8 kHz); 64 channels hold 7th-order ambisonics.
MAX_NATIVE_RATE = 768_000
MAX_CHANNELS = 64
# Samples (all channels) decoded in one read: bounds memory whatever the rate and channels (16 MB)
READ_SAMPLES = 1 << 22
# The most samples per channel one packet of any codec decodes to (FLAC's largest block is
# 65,535, ALAC's usual 4,096; PCM packets of a second or so): an ALAC setup of 4096 x 4096 made
# one 7 kB packet 16.7 million samples a channel, 2 GB once converted and copied
MAX_PACKET_FRAMES = 1 << 20
# Frames :func:`load` decodes in one read (3 s at 22 kHz): a failure part-way is placed that closely
READ_PIECE_FRAMES = 1 << 16
# Samples a whole-file read reserves from the header's length before any decodes (128 MB of
# float32: ten minutes of 48 kHz stereo); a longer file grows past it as it decodes
PREALLOCATED_SAMPLES = 1 << 25
# ... or this many a byte of the file: PCM holds 0.25-1 sample a byte, lossless codecs a few,
# lossy ones tens (32 kbps Opus: ~24 a byte at 48 kHz stereo); digital silence packs more, and
# is reserved as it decodes
SAMPLES_PER_BYTE = 128
# The containers and codecs of the extensions genrekit claims (libsndfile also opens a dozen
# others by their content, whatever the file's name: a W64/GSM 6.10 file named .wav decoded
# past its end for ever, an SDS file printed errors onto stdout, into `predict --format json`)
SNDFILE_FORMATS = frozenset({"WAV", "WAVEX", "RF64", "W64", "AIFF", "AU", "FLAC", "OGG", "MP3"})
# bytes per sample of the codecs whose size is fixed (ADPCM: 4 bits), and the compressed ones
_SAMPLE_BYTES = {"PCM_S8": 1, "PCM_U8": 1, "ULAW": 1, "ALAW": 1, "PCM_16": 2, "PCM_24": 3, "PCM_32": 4,
                 "FLOAT": 4, "DOUBLE": 8, "IMA_ADPCM": 0.5, "MS_ADPCM": 0.5}
SNDFILE_SUBTYPES = frozenset(_SAMPLE_BYTES) | {"VORBIS", "OPUS", "MPEG_LAYER_I", "MPEG_LAYER_II", "MPEG_LAYER_III"}


def _check_rate_and_channels(handle, path: str) -> None:
    """Refuse a header whose sample rate or channels no song has (closing ``handle``)."""
    problem = None
    if handle.samplerate < MIN_NATIVE_RATE:
        problem = f"its header declares {handle.samplerate} Hz, expected at least {MIN_NATIVE_RATE} Hz"
    elif handle.samplerate > MAX_NATIVE_RATE:
        problem = f"its header declares {handle.samplerate} Hz, expected at most {MAX_NATIVE_RATE} Hz"
    elif not 1 <= handle.channels <= MAX_CHANNELS:
        problem = f"its header declares {handle.channels} channels, expected 1 to {MAX_CHANNELS}"
    if problem:
        handle.close()
        raise AudioError(path, f"not audio or corrupt: {problem}")


def _check_sndfile_format(handle, path: str) -> None:
    """Refuse what libsndfile opens beyond the formats of :data:`SOUNDFILE_EXTENSIONS`, and a
    fixed-size codec declaring more samples than the file's bytes can hold (closing ``handle``)."""
    kind = f"{handle.format}/{handle.subtype}"
    if handle.format not in SNDFILE_FORMATS or handle.subtype not in SNDFILE_SUBTYPES:
        handle.close()
        # what FFmpeg decodes is told only where PyAV is installed to decode it
        also = ", or through FFmpeg M4A/AAC/ALAC, WMA, WebM/MKA or AC-3" if _pyav_installed() else ""
        raise AudioError(path, f"not a supported audio file: {kind} (expected WAV, AIFF, AU, FLAC, Ogg Vorbis or "
                               f"Opus, or MP3{also}, whatever its name)")
    size = _SAMPLE_BYTES.get(handle.subtype)
    if handle.format not in ("FLAC", "OGG", "MP3") and size is not None:
        try:
            file_bytes = os.path.getsize(path)
        except OSError:
            return
        if handle.frames * handle.channels > file_bytes / size + 1024:
            handle.close()
            raise AudioError(path, f"corrupt: its header declares {handle.frames * handle.channels} {kind} samples, "
                                   f"more than its {file_bytes} bytes can hold")


def info(path: str | os.PathLike, *, should_stop: Callable[[], bool] | None = None) -> AudioInfo:
    """Read a file's header: sample rate, channels, frames, format.

    Parameters
    ----------
    path : path or URL
        The audio file. Its samples are not decoded, but a URL's file is copied whole to a
        temporary file first.
    should_stop : callable, optional
        Asked while the length of a stream that does not declare it (raw AAC or AC-3, a
        browser's WebM) is counted from its packets; once true, :class:`AnalysisStopped`.

    Returns
    -------
    AudioInfo
        With ``path`` as given (a URL stays a URL).

    Raises
    ------
    AudioError
        When the file is missing, empty, or not a decodable audio file (also when its header
        declares a sample rate below 1000 Hz).
    ParameterError
        ``path`` is a URL and pyarrow is not installed or cannot open it.
    """
    with _open(path, should_stop) as handle:
        return AudioInfo(
            path=os.fspath(path),
            sample_rate=int(handle.samplerate),
            channels=int(handle.channels),
            frames=int(handle.frames),
            format=str(handle.format),
            subtype=str(handle.subtype),
        )


def seconds_apart(found: float, least: float) -> tuple[str, str]:
    """``found`` and ``least`` seconds written with as many decimals (2 to 6) as they need to
    differ: a file one sample short of 3 s is "2.99995 s", not "3.00 s, at least 3.00 s"."""
    for digits in range(2, 7):
        shown = f"{found:.{digits}f}", f"{least:.{digits}f}"
        if shown[0] != shown[1]:
            return shown
    return shown


def check_sample_rate(sr) -> None:
    """A ParameterError unless ``sr`` is a positive whole number of Hz (a model file's 22050.0
    is one; True, NaN and "22050" are not)."""
    try:
        whole = not isinstance(sr, bool) and isinstance(sr, numbers.Real) and math.isfinite(sr) and sr >= 1 \
            and sr == int(sr)
    except OverflowError:  # 10**400: no float holds it
        whole = False
    if not whole:
        raise ParameterError(f"sr={sr!r:.40}: expected a positive whole number of Hz")


def is_seconds(value) -> bool:
    """Whether ``value`` is a finite number (of seconds): not a bool, NaN, infinity or a string."""
    return (not isinstance(value, (bool, np.bool_)) and isinstance(value, numbers.Real)
            and bool(np.isfinite(value)))


def check_signal(y, sr, *, name: str = "y") -> None:
    """Refuse what a feature function cannot take as one signal, naming ``name`` or ``sr``, what
    was expected and what was found: anything but a 1-D float array of finite samples (a
    stereo array was read as 128 mel bands by 2 frames, or asked 45 GB of memory; int16 samples
    gave features 32768 times too loud), and a sample rate that is not a positive whole number of Hz.

    Raises
    ------
    ParameterError
        As above.
    """
    check_sample_rate(sr)
    if not isinstance(y, np.ndarray):
        raise ParameterError(f"{name}: expected a numpy array of audio samples, found {type(y).__name__} "
                             "(np.asarray(samples, dtype=np.float32))")
    found = f"found shape {y.shape}, dtype {y.dtype}"
    if y.ndim != 1:
        raise ParameterError(f"{name}: expected mono audio as a 1-D array, {found} (mix channels down first: "
                             "y.mean(axis=1) for soundfile's (n, channels), y.mean(axis=0) for librosa's (channels, n))")
    if not np.issubdtype(y.dtype, np.floating):
        raise ParameterError(f"{name}: expected float audio in [-1, 1], {found}" + pcm_hint(y))
    if y.size == 0:
        raise ParameterError(f"{name}: expected audio, found no samples")
    if not np.isfinite(y).all():
        raise ParameterError(f"{name}: {int(np.count_nonzero(~np.isfinite(y)))} non-finite samples (NaN or infinity); "
                             "expected finite audio")
    peak = float(np.max(np.abs(y)))
    if peak > MAX_SAMPLE:  # int16's scale as floats gave other features; 1e17 gave NaN ones
        raise ParameterError(f"{name}: a sample reaches {peak:.3g}, far outside -1..1 (more than {MAX_SAMPLE:g}); "
                             "expected float audio with full scale at 1 (PCM as floats: divide by its full scale, "
                             "32768 for 16-bit)")


def pcm_hint(samples) -> str:
    """`` (integer PCM: divide by ...)`` where ``samples`` is an integer array, else empty (a
    complex or object array is no PCM)."""
    if not isinstance(samples, np.ndarray) or samples.dtype.kind not in "iu":
        return ""
    half = 2 ** (8 * samples.dtype.itemsize - 1)
    if np.issubdtype(samples.dtype, np.unsignedinteger):
        return f" (unsigned PCM: (y - {half}) / {half} for {samples.dtype})"
    return f" (integer PCM: divide by its full scale, {half} for {samples.dtype})"


def checked_audio_rate(sr) -> int | None:
    """``sr`` as an int (22050.0 and numpy's integers are whole numbers of Hz), or None; a
    ParameterError for anything but a whole number of Hz from :data:`MIN_NATIVE_RATE` to
    :data:`MAX_NATIVE_RATE` (10 MHz asked a 30 s clip for 300 million samples)."""
    if sr is None:
        return None
    check_sample_rate(sr)
    if not MIN_NATIVE_RATE <= sr <= MAX_NATIVE_RATE:
        raise ParameterError(f"sr={sr!r:.40}: expected {MIN_NATIVE_RATE}-{MAX_NATIVE_RATE} Hz")
    return int(sr)


def _check_seconds(name: str, value, *, positive: bool = False) -> None:
    """A ParameterError unless ``value`` is a finite number of seconds, >= 0 (``positive``: > 0):
    NaN, infinity or a string failed later in numpy's int() or round()."""
    if value is None:
        return
    if not is_seconds(value) or value < 0 or (positive and value == 0):
        raise ParameterError(f"{name}={value!r}: expected a finite number of seconds {'> 0' if positive else '>= 0'}")


def _to_mono(block: np.ndarray) -> np.ndarray:
    """[shape=(n, channels)] -> [shape=(n,)] by averaging channels."""
    return block.mean(axis=1, dtype=np.float32) if block.shape[1] > 1 else block[:, 0]


# A mono mix this many dB under its channels' mean power is channels that cancel (one inverted: a
# wiring or phase fault), not a recording. Music's channels add up; uncorrelated ones, or one channel
# alone, mix to 3 dB under; 12 dB under takes a correlation below -0.87 over the whole file. A lossy
# copy of inverted channels mixes to about 17 dB under, and was analysed as the music it had lost.
CANCELLED_MIX_DB = 12.0


class MixLevel:
    """The power of a file's mono mix against its channels', and their peaks, added up block by block."""

    def __init__(self) -> None:
        self.mix = self.channels = self.peak = self.channel_peak = 0.0

    def add(self, block: np.ndarray, mono: np.ndarray) -> None:
        """``block`` [shape=(n, channels)] as decoded, and ``mono``, its mix (:func:`_to_mono`)."""
        if block.ndim == 2 and block.shape[1] > 1 and block.size:
            flat = block.reshape(-1).astype(np.float64)
            self.channels += float(flat @ flat) / block.shape[1]
            mixed = mono.astype(np.float64)
            self.mix += float(mixed @ mixed)
            self.peak = max(self.peak, float(np.max(np.abs(mono))))
            self.channel_peak = max(self.channel_peak, float(np.max(np.abs(flat))))

    def cancelled(self) -> str | None:
        """Why the mix is no hearing of the channels (they cancel, exactly or nearly), or None: a
        mix of channels that are themselves silent is silence, said by the caller."""
        if self.peak < SILENCE_PEAK:
            if self.channel_peak < SILENCE_PEAK:
                return None
            return ("silent when its channels are mixed to mono, as genrekit hears songs: they cancel (one is the "
                    "other inverted, a wiring or phase fault); expected channels that add up")
        if self.mix >= self.channels * 10 ** (-CANCELLED_MIX_DB / 10):
            return None
        return (f"its channels cancel when mixed to mono, as genrekit hears songs: the mix is "
                f"{10 * np.log10(self.channels / self.mix):.0f} dB under them "
                "(one channel is the other inverted, a wiring or phase fault); expected channels that add up")


def first_damage(block: np.ndarray) -> tuple[int, float] | None:
    """(frame, value) of the first sample of ``block`` [shape=(n,) or (n, channels)] that is NaN,
    infinite or beyond :data:`MAX_SAMPLE` in magnitude; None where there is none."""
    if not block.size:
        return None
    low, high = float(np.min(block)), float(np.max(block))  # NaN if any is: no copy of the block
    if -MAX_SAMPLE <= low and high <= MAX_SAMPLE:
        return None
    flat = block.reshape(-1)
    where = int(np.argmax(~(np.abs(flat) <= MAX_SAMPLE)))
    return where // (block.shape[1] if block.ndim == 2 else 1), float(flat[where])


def damage_reason(value: float, frame: int, sample_rate: int, *, array: str | None = None) -> str:
    """Why a decoded sample ``value`` makes a file corrupt, placed in the file's own terms: its
    ``frame`` (from the file's start) at its ``sample_rate``; or, where the samples are an
    ``array`` handed over (``"y"``), in that array's terms."""
    if array is None:
        sample, where = "a decoded sample", f"at {frame / sample_rate:.3f} s into the file (its sample {frame} at " \
                                            f"{sample_rate} Hz)"
    else:
        sample, where = "a sample", f"at {frame / sample_rate:.3f} s into the audio ({array}'s sample {frame})"
    if not np.isfinite(value):
        return f"corrupt: {sample} is NaN or infinite ({value:g}), {where}"
    return (f"corrupt: {sample} reaches {abs(value):.3g} in magnitude, far outside -1..1 (more than "
            f"{MAX_SAMPLE:g}, {20 * np.log10(MAX_SAMPLE):.0f} dB over full scale), {where}")


def damaged_sample(path: str | os.PathLike, *, offset: float = 0.0, duration: float | None = None) -> str | None:
    """:func:`damage_reason` for the first NaN, infinite or far out of range sample of a file's
    own samples (every channel, at its own rate, before any mix or resampling) from ``offset``
    seconds for ``duration`` seconds (None: to the end), or None where there is none or the file
    cannot be read. For a caller that found damage in resampled audio, to say where the file holds it."""
    try:
        with _open(path) as reader:
            rate = int(reader.samplerate)
            position = int(round(offset * rate))
            if position:
                with _quiet(reader):
                    reader.seek(min(position, reader.frames))
            for block in _pieces(reader, path, max(1, READ_SAMPLES // max(1, reader.channels)), start=position,
                                 frames=None if duration is None else int(round(duration * rate))):
                if (found := first_damage(block)) is not None:
                    return damage_reason(found[1], position + found[0], rate)
                position += len(block)
    except (GenrekitError, sf.LibsndfileError, RuntimeError, OSError, MemoryError):
        return None
    return None


def _check_signal(path: str, y: np.ndarray, sr: int, *, min_duration: float, allow_silent: bool,
                  native_sr: int, offset: float = 0.0) -> None:
    duration = y.shape[-1] / sr
    if y.shape[-1] == 0:
        raise AudioError(path, "contains no audio samples")
    if duration < min_duration:
        found, least = seconds_apart(duration, min_duration)
        raise AudioError(path, f"too short: {found} s, at least {least} s required")
    # the file's own samples were checked before resampling: this is what resampling made of them
    found = first_damage(y.T)
    if found is not None:
        at = offset + found[0] / sr
        raise AudioError(path, f"corrupt: a sample reaches {abs(found[1]):.3g} in magnitude once resampled from the "
                               f"file's {native_sr} Hz to {sr} Hz, at about {at:.3f} s into the file, far outside "
                               f"-1..1 (more than {MAX_SAMPLE:g}, {20 * np.log10(MAX_SAMPLE):.0f} dB over full scale)")
    peak = float(np.max(np.abs(y)))
    if not allow_silent:
        if peak < SILENCE_PEAK:
            level = "-inf" if peak == 0 else f"{20 * np.log10(peak):.0f}"
            raise SilentAudio(path, f"silent: peak level {level} dBFS over {duration:.2f} s")


def _decoding_failed(path: str, handle, position: int, exc: BaseException) -> AudioError:
    """A decode that failed part-way, named with where it failed and the length the header
    declares: a copy cut short (a FLAC "lost sync") is told by the two, damage by the decoder."""
    rate, known = handle.samplerate, getattr(handle, "length_known", True)
    declared = f"{handle.frames / rate:.2f} s"
    where = (f" after {position / rate:.2f} s of the {declared} its header declares" if known and position > 0
             else f" (its header declares {declared})" if known else "")
    reason = str(exc).removeprefix("Error : ").rstrip(".") or type(exc).__name__
    return AudioError(path, f"corrupt or truncated: decoding failed{where}: {reason}; if it was copied or "
                            "downloaded, copy it again")


def _pieces(handle, path: str, piece: int, *, start: int = 0, frames: int | None = None) -> Iterator[np.ndarray]:
    """``handle``'s frames from where it stands (``start`` frames into the file, for messages), at
    most ``frames`` of them (None: to the end), read ``piece`` frames at a time, so that memory
    stays bounded and a decode failing part-way is an AudioError saying where."""
    read = 0
    while frames is None or read < frames:
        size = piece if frames is None else min(piece, frames - read)
        try:
            with _quiet(handle):
                block = handle.read(frames=size, dtype="float32", always_2d=True)
        except (sf.LibsndfileError, RuntimeError, MemoryError) as exc:
            raise _decoding_failed(path, handle, start + read, exc) from exc
        read += block.shape[0]
        if block.shape[0]:
            yield block
        if block.shape[0] < size:
            return


def _read_blocks(handle, path: str, wanted: int, start: int) -> np.ndarray:
    """``wanted`` frames (-1: to the end) from ``handle``'s position ``start``, read a bounded
    piece at a time so that a failure part-way says where it happened."""
    piece = max(1, min(READ_PIECE_FRAMES, READ_SAMPLES // max(1, handle.channels)))
    expected = max(0, handle.frames - start if wanted < 0 else min(wanted, handle.frames - start))
    if wanted < 0:  # room for what a decoder may give past a length FFmpeg estimated
        expected += expected // 50 + piece
    # filled in place (no second copy) up to what the header says, but no more than can be trusted
    # before a sample decodes: a 2 s FLAC declaring 2**36 samples asked for 261 GiB at once. The
    # bound grows with the file's bytes (music packs no more samples a byte; silence, which can, grows
    # as it decodes), so a long song's reservation stays whole
    try:
        trusted = max(PREALLOCATED_SAMPLES, SAMPLES_PER_BYTE * os.path.getsize(path))
    except OSError:  # a URL (its local copy is the handle's): the fixed bound
        trusted = PREALLOCATED_SAMPLES
    expected = min(expected, trusted // max(1, handle.channels))
    try:
        out = np.empty((expected, handle.channels), dtype=np.float32)
    except MemoryError as exc:
        raise AudioError(path, f"too long to decode into memory ({handle.frames} frames declared)") from exc
    beyond, total = [], 0  # what a decoder gives past the header's length
    for block in _pieces(handle, path, piece, start=start, frames=None if wanted < 0 else wanted):
        fits = min(block.shape[0], max(0, expected - total))
        out[total:total + fits] = block[:fits]
        if fits < block.shape[0]:
            beyond.append(block[fits:])
        total += block.shape[0]
    if not beyond:
        return out[:total]
    try:
        return np.concatenate([out, *beyond])
    except MemoryError as exc:  # an honest hour of 8 channels at 192 kHz: named, not a traceback
        raise AudioError(path, f"too long to decode into memory ({total} frames of {handle.channels} channels)") from exc


def _cut_short(decoded: int, expected: int, rate: int) -> bool:
    """Fewer frames decoded than a header declares, beyond what decoders' rounding explains."""
    return decoded < TRUNCATION_TOLERANCE * expected - 0.1 * rate


def native_blocks(path: str | os.PathLike, *, block_frames: int = READ_PIECE_FRAMES
                  ) -> Iterator[tuple[np.ndarray, int]]:
    """Yield a whole file's audio, mixed to mono at its own rate, one bounded block at a time,
    refused as :func:`load` refuses it (decoded samples NaN, infinite or far outside -1..1; fewer
    seconds than the header declares; no samples at all), so memory stays bounded by a block
    where ``load(path, sr=None)`` of an hour's FLAC took gigabytes. Silence is not refused.

    Yields
    ------
    block : np.ndarray [shape=(n,)], float32
        At most ``block_frames`` frames; joined, the samples ``load(path, sr=None,
        allow_silent=True)`` returns.
    sample_rate : int
        The file's own.

    Raises
    ------
    AudioError
        As :func:`load`'s, after the blocks decoded before the problem (a caller keeping a
        running result drops it).
    """
    path = os.fspath(path)
    with _open(path) as handle:
        rate = int(handle.samplerate)
        piece = max(1, min(block_frames, READ_SAMPLES // max(1, handle.channels)))
        decoded = 0
        for block in _pieces(handle, path, piece):
            if (found := first_damage(block)) is not None:
                raise AudioError(path, damage_reason(found[1], decoded + found[0], rate))
            decoded += block.shape[0]
            yield _to_mono(block), rate
        declared, length_known = handle.frames, getattr(handle, "length_known", True)
    if not decoded:
        raise AudioError(path, "contains no audio samples")
    if length_known and _cut_short(decoded, declared, rate):
        raise AudioError(path, f"truncated: header declares {declared / rate:.2f} s, only {decoded / rate:.2f} s "
                               "could be decoded")


def load(
    path: str | os.PathLike,
    *,
    sr: int | None = 22050,
    mono: bool = True,
    offset: float = 0.0,
    duration: float | None = None,
    min_duration: float = 0.0,
    allow_silent: bool = False,
) -> tuple[np.ndarray, int]:
    """Decode an audio file into float32 samples in [-1, 1].

    Parameters
    ----------
    path : path of the file
    sr : target sample rate; None keeps the file's own
    mono : mix channels down to one
    offset : start reading this many seconds in
    duration : read at most this many seconds (None: to the end)
    min_duration : raise when fewer seconds than this are decoded
    allow_silent : accept files whose peak is below -100 dBFS

    Returns
    -------
    y : np.ndarray [shape=(n,) when mono, else (channels, n)]
    sr : the sample rate of ``y``

    Raises
    ------
    AudioError
        Naming the file and the reason: not audio or corrupt, empty, truncated, silent,
        or shorter than ``min_duration``.
    """
    sr = checked_audio_rate(sr)
    check_flags(mono=mono, allow_silent=allow_silent)
    _check_seconds("offset", offset)
    _check_seconds("duration", duration, positive=True)
    path = path_given(path)
    with _open(path) as handle:
        native_sr = int(handle.samplerate)
        start = int(round(offset * native_sr))
        if start and start >= handle.frames:
            raise AudioError(path, f"offset {offset:.2f} s is past the end ({handle.frames / native_sr:.2f} s)")
        wanted = -1 if duration is None else int(round(duration * native_sr))
        try:
            with _quiet(handle):
                if start:
                    handle.seek(start)
        except (sf.LibsndfileError, RuntimeError) as exc:
            raise AudioError(path, f"corrupt: decoding failed ({exc})") from exc
        block = _read_blocks(handle, path, wanted, start)
        expected = handle.frames - start if duration is None else min(wanted, handle.frames - start)
        length_known = getattr(handle, "length_known", True)
    if length_known and _cut_short(block.shape[0], expected, native_sr):
        raise AudioError(
            path,
            f"truncated: header declares {expected / native_sr:.2f} s from the offset, "
            f"only {block.shape[0] / native_sr:.2f} s could be decoded",
        )
    if (found := first_damage(block)) is not None:  # the file's own samples, in its own terms
        raise AudioError(path, damage_reason(found[1], start + found[0], native_sr))
    try:
        y = _to_mono(block) if mono else np.ascontiguousarray(block.T)
        if mono:
            level = MixLevel()
            level.add(block, y)
            if cancelled := level.cancelled():  # a damaged mix, not silence (nor music): said as such
                raise AudioError(path, cancelled)
        if sr is not None and sr != native_sr:
            y = soxr.resample(y.T, native_sr, sr, quality="HQ").T.astype(np.float32, copy=False)
    except MemoryError as exc:  # a long file whole (stream() reads one block at a time)
        raise AudioError(path, f"too long to decode into memory ({block.shape[0] / native_sr:.0f} s of "
                               f"{block.shape[1]} channels at {native_sr} Hz)") from exc
    out_sr = sr or native_sr
    _check_signal(path, y, out_sr, min_duration=min_duration, allow_silent=allow_silent, native_sr=native_sr,
                  offset=start / native_sr)
    return np.ascontiguousarray(y), out_sr


def stream(
    path: str | os.PathLike,
    *,
    sr: int = 22050,
    block_duration: float = 30.0,
    offset: float = 0.0,
    duration: float | None = None,
    should_stop: Callable[[], bool] | None = None,
    mix_check: bool = False,
) -> Iterator[np.ndarray]:
    """Yield consecutive mono blocks of a file, decoded and resampled piece by piece.

    Memory stays bounded by one block whatever the file's length, so a 2-hour file
    can be processed without loading it whole. Blocks are ``block_duration`` seconds
    at ``sr`` (the last one may be shorter). Unlike :func:`load`, it does not refuse silent or
    truncated audio, or samples far outside -1..1: it yields what decodes. Being a generator,
    it checks its parameters and opens the file only when the first block is asked for.

    Parameters
    ----------
    path : path or URL
        The audio file.
    sr : int
        The blocks' sample rate, in Hz.
    block_duration : float
        Seconds per block.
    offset : float
        Start this many seconds in (at or past the end: no block).
    duration : float, optional
        Read at most this many seconds (None: to the end).
    should_stop : callable, optional
        As :func:`info`'s, while the file is opened.
    mix_check : bool
        Once every block is yielded, raise AudioError where the mix is more than
        :data:`CANCELLED_MIX_DB` under the channels read, or silent where they are not (they
        cancel: a phase fault); channels silent throughout are left to the caller.

    Yields
    ------
    block : np.ndarray [shape=(round(block_duration * sr),)], float32
        The channels averaged into one; the last block may be shorter.

    Raises
    ------
    ParameterError
        ``sr`` is not a positive integer, ``block_duration`` is not positive, ``offset`` or
        ``duration`` is negative, or ``path`` is a URL that pyarrow is missing for or cannot open.
    AudioError
        Naming the file: it is missing, empty, not audio or corrupt, or seeking or decoding fails
        part-way (the blocks already yielded stand).
    """
    sr = checked_audio_rate(sr)
    check_flags(mix_check=mix_check)
    _check_seconds("block_duration", block_duration, positive=True)
    _check_seconds("offset", offset)
    _check_seconds("duration", duration)
    path = os.fspath(path)
    out_block = int(round(block_duration * sr))
    if out_block < 1:  # blocks of 0 samples: an endless stream of empty blocks
        raise ParameterError(f"block_duration={block_duration!r}: expected at least one sample at {sr} Hz "
                             f"({1 / sr:.2g} s)")
    with _open(path, should_stop) as handle:
        native_sr = int(handle.samplerate)
        start = int(round(offset * native_sr))
        if start:
            try:
                with _quiet(handle):
                    handle.seek(min(start, handle.frames))
            except (sf.LibsndfileError, RuntimeError) as exc:  # a file shorter than its header says
                raise AudioError(path, f"corrupt: cannot seek to {offset:.2f} s ({exc})") from exc
        remaining = None if duration is None else int(round(duration * native_sr))
        resampler = soxr.ResampleStream(native_sr, sr, 1, dtype="float32") if native_sr != sr else None
        pending = np.zeros(0, dtype=np.float32)
        # at most READ_SAMPLES a read, whatever the rate and channels: blocks are assembled after the mix
        read_size = max(1, min(int(round(block_duration * native_sr)), READ_SAMPLES // max(1, handle.channels)))
        pieces = _pieces(handle, path, read_size, start=start, frames=remaining)
        level = MixLevel() if mix_check else None
        while True:
            raw = next(pieces, None)
            mono = _to_mono(raw) if raw is not None else np.zeros(0, dtype=np.float32)
            if level is not None and raw is not None:
                level.add(raw, mono)
            if resampler is not None:  # an empty last chunk flushes what the resampler holds
                mono = resampler.resample_chunk(mono, last=raw is None)
            pending = np.concatenate([pending, mono]) if pending.size else mono
            while pending.shape[0] >= out_block:
                yield np.ascontiguousarray(pending[:out_block])
                pending = pending[out_block:]
            if raw is None:
                break
        if pending.shape[0]:
            yield np.ascontiguousarray(pending)
        if level is not None and (cancelled := level.cancelled()):
            raise AudioError(path, cancelled)
