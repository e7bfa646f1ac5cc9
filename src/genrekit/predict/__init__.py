"""Prediction: the genres of songs of any length, with genre proportions and a timeline.

- :func:`predict_file` / :func:`predict_files` with any model (see :func:`genrekit.models.load`);
  :func:`predict_audio` for a song in memory
- :class:`Prediction`: top genre, probabilities, proportions, timeline of :class:`Segment`
- :func:`tag_library`: a whole music library, in parallel, resumable, optionally writing tags
"""

from genrekit.audio.chunking import analysed_span, song_chunks
from genrekit.predict.files import predict_audio, predict_file, predict_files
from genrekit.predict.library import LibrarySummary, tag_library
from genrekit.predict.song import Prediction, Segment, plot_prediction

__all__ = [
    "LibrarySummary",
    "Prediction",
    "Segment",
    "analysed_span",
    "plot_prediction",
    "predict_audio",
    "predict_file",
    "predict_files",
    "song_chunks",
    "tag_library",
]
