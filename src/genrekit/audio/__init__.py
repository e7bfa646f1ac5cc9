"""Audio input: the only stage that touches audio files.

Decoding is done by soundfile (libsndfile: wav, au, aiff, flac, ogg/vorbis, opus, mp3),
resampling by soxr. Everything downstream takes numpy arrays. Files may also be named by
URL (``s3://...``): :mod:`genrekit.audio.remote`. :mod:`genrekit.audio.chunking` streams a
song as the chunks a model scores.
"""

from genrekit.audio.io import (
    AUDIO_EXTENSIONS,
    AudioInfo,
    audio_hash,
    audio_header,
    check_signal,
    content_hash,
    decoder_revision,
    info,
    is_audio_path,
    load,
    mp3_length_undeclared,
    native_blocks,
    opening_hash,
    revision_of,
    stream,
)
from genrekit.audio.level import at_level, normalise_level, rms_dbfs

__all__ = [
    "AUDIO_EXTENSIONS",
    "AudioInfo",
    "at_level",
    "audio_hash",
    "audio_header",
    "check_signal",
    "content_hash",
    "decoder_revision",
    "info",
    "is_audio_path",
    "load",
    "mp3_length_undeclared",
    "native_blocks",
    "normalise_level",
    "opening_hash",
    "revision_of",
    "rms_dbfs",
    "stream",
]
