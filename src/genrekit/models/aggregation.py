"""How a track's chunk probabilities make the track's: their ``mean``, or a majority ``vote``.

Below the stages that use it (network training chooses its epoch by it, evaluation and
prediction score by it), so that each imports it from here.
"""

from __future__ import annotations

import numpy as np

from genrekit.errors import ParameterError

# Under vote aggregation, genres with as many votes (and those without any) are ordered by
# the chunks' mean probability, added at this weight: below any difference of votes (a
# share of a vote in a million chunks), so it orders ties and nothing else.
VOTE_TIE_WEIGHT = 1e-6

AGGREGATIONS = ("mean", "vote")



def check_aggregation(aggregation, *, optional: bool = False) -> None:
    """A ParameterError unless ``aggregation`` is one of :data:`AGGREGATIONS` (or, ``optional``,
    None: the model's own)."""
    if aggregation not in AGGREGATIONS and not (optional and aggregation is None):
        raise ParameterError(f"aggregation={aggregation!r}: expected {' or '.join(map(repr, AGGREGATIONS))}"
                             + (" (or None: the model's own)" if optional else ""))


def aggregate_tracks(proba: np.ndarray, track_index, *, method: str = "mean") -> tuple[np.ndarray, np.ndarray]:
    """Combine chunk probabilities into one distribution per track.

    Parameters
    ----------
    proba : np.ndarray [shape=(n_chunks, n_genres)]
    track_index : array-like [shape=(n_chunks,)] the track each chunk comes from
    method : ``mean`` of probabilities, or majority ``vote`` (share of chunks per genre, ties
        ordered by the mean probability, as :func:`genrekit.predict.song.vote_shares` orders them)

    Returns
    -------
    track_proba : np.ndarray [shape=(n_tracks, n_genres)]
    tracks : np.ndarray [shape=(n_tracks,)] track of each row, in order of first appearance
    """
    check_aggregation(method)
    proba = np.asarray(proba, dtype=np.float64)
    track_index = np.asarray(track_index)
    if proba.ndim != 2 or track_index.shape != (len(proba),):
        raise ParameterError(f"proba of shape {proba.shape} and track_index of shape {track_index.shape}: expected "
                             "a table (chunks, genres) and one track per chunk")
    _, first, inverse = np.unique(track_index, return_index=True, return_inverse=True)
    order = np.argsort(first)
    rank = np.empty_like(order)
    rank[order] = np.arange(len(order))
    rows = rank[inverse]
    tracks = track_index[np.sort(first)]
    sums = np.zeros((len(order), proba.shape[1]))
    np.add.at(sums, rows, proba)
    means = sums / sums.sum(axis=1, keepdims=True)
    if method == "mean":
        return means, tracks
    votes = np.zeros_like(sums)  # as vote_shares, for every track at once
    np.add.at(votes, (rows, proba.argmax(axis=1)), 1.0)
    shares = votes / votes.sum(axis=1, keepdims=True) + VOTE_TIE_WEIGHT * means
    return shares / shares.sum(axis=1, keepdims=True), tracks
