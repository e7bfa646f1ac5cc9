"""Prediction: the genres of songs of any length, with genre proportions and a timeline.

- :func:`predict_file` / :func:`predict_files` with a classical model or a network
- :func:`load_predictor`: a model file (``.genrekit`` or ``.safetensors``) ready to predict
- :class:`Prediction`: top genre, probabilities, proportions, timeline of :class:`Segment`
- :func:`tag_library`: a whole music library, in parallel, resumable, optionally writing tags
"""

from genrekit.predict.classifiers import ModelChunks, NetworkChunks, default_model_path, load_predictor
from genrekit.predict.files import evaluate_songs, predict_file, predict_files
from genrekit.predict.library import LibrarySummary, tag_library
from genrekit.predict.song import Prediction, Segment, analysed_span, plot_prediction, song_chunks

__all__ = [
    "LibrarySummary",
    "tag_library",
    "ModelChunks",
    "NetworkChunks",
    "Prediction",
    "Segment",
    "analysed_span",
    "default_model_path",
    "evaluate_songs",
    "load_predictor",
    "plot_prediction",
    "predict_file",
    "predict_files",
    "song_chunks",
]
