"""Scores of genre predictions: per chunk, per track, per genre."""

from __future__ import annotations

import numbers
import warnings

import numpy as np
from sklearn.metrics import accuracy_score, balanced_accuracy_score, confusion_matrix, precision_recall_fscore_support

from genrekit.errors import ParameterError
from genrekit.models.aggregation import AGGREGATIONS, aggregate_tracks  # noqa: F401  (evaluate's API too)

def top_k_hits(y_true, proba: np.ndarray, k: int) -> np.ndarray:
    """Per row, whether the true genre is among the ``k`` most probable: 1 when fewer than
    ``k`` genres are more probable, 0 when ``k`` or more are or when it has probability 0,
    and between, for a tie across the ``k``-th place, its share of the places left (the
    expected hit of breaking the tie at random). scikit-learn's top-k accuracy breaks ties by
    genre order, so genres late in the alphabet were counted as hits at probability 0."""
    proba = np.asarray(proba, dtype=np.float64)
    true = proba[np.arange(len(proba)), np.asarray(y_true)][:, None]
    above, level = (proba > true).sum(axis=1), (proba == true).sum(axis=1)
    hits = np.clip((k - above) / level, 0.0, 1.0)
    return np.where(true[:, 0] > 0, hits, 0.0)


def classification_scores(y_true, proba: np.ndarray, labels: list[str]) -> dict:
    """Accuracy, balanced and top-3 accuracy, per-genre report and confusion matrices.

    Parameters
    ----------
    y_true : array-like [shape=(n,)] integer genre indices into ``labels``
    proba : np.ndarray [shape=(n, len(labels))]
    labels : genre names

    Returns
    -------
    dict with keys ``accuracy``, ``balanced_accuracy``, ``top3_accuracy``, ``f1_macro``,
    ``per_genre`` (genre -> precision, recall, f1, support; None where undefined: the recall
    of a genre no track holds, the precision of one never predicted), ``macro_avg``, ``weighted_avg``,
    ``confusion_matrix`` (rows: true, columns: predicted), ``confusion_matrix_normalized``
    (rows sum to 1; the row of a genre no scored track holds is zeros), ``labels``, ``n``.
    Averages are scikit-learn's: over the genres in the truth or the predictions (a genre
    predicted but absent from the truth counts, with F1 0), ``zero_division=0``;
    ``balanced_accuracy`` averages recall over the truth's genres alone (scikit-learn's too),
    so where a genre absent from the truth is predicted it is above ``macro_avg``'s recall,
    which counts that genre's 0. Accuracy and the matrices score the
    genre the model names, its most probable (a tie goes to the first genre, as ``predict``
    names it); top-3 shares a tie across its third place (:func:`top_k_hits`).
    """
    y_true = np.asarray(y_true)
    proba = np.asarray(proba)
    k = len(labels)
    if proba.ndim != 2 or proba.shape != (len(y_true), k):
        raise ParameterError(f"proba has shape {proba.shape}, expected ({len(y_true)}, {k})")
    # a genre name, -1 or an index past the genres was scored silently, or failed inside scikit-learn
    if y_true.ndim != 1 or (len(y_true) and (y_true.dtype.kind not in "iu" or y_true.min() < 0 or y_true.max() >= k)):
        found = (f"dtype {y_true.dtype}" if y_true.dtype.kind not in "iu" or y_true.ndim != 1
                 else f"values {y_true.min()}..{y_true.max()}")
        raise ParameterError(f"y_true: expected integer genre indices 0..{k - 1} into labels, found {found}"
                             + (" (genre names: [labels.index(g) for g in y_true])" if y_true.dtype.kind in "UO" else ""))
    if not np.isfinite(proba).all():
        raise ParameterError(f"proba: {int(np.count_nonzero(~np.isfinite(proba)))} non-finite values (NaN or "
                             "infinity); expected probabilities")
    classes = np.arange(k)
    y_pred = proba.argmax(axis=1)
    precision, recall, f1, support = precision_recall_fscore_support(
        y_true, y_pred, labels=classes, zero_division=0
    )
    cm = confusion_matrix(y_true, y_pred, labels=classes)
    with np.errstate(invalid="ignore", divide="ignore"):
        normalized = np.nan_to_num(cm / cm.sum(axis=1, keepdims=True))
    observed = np.union1d(y_true, y_pred)  # scikit-learn's default: genres in the truth or the predictions

    def average(kind: str) -> dict:
        values = precision_recall_fscore_support(y_true, y_pred, labels=observed, average=kind, zero_division=0)
        return {name: float(value) for name, value in zip(("precision", "recall", "f1"), values[:3])}

    with warnings.catch_warnings():  # "y_pred contains classes not in y_true": scored as sklearn scores it
        warnings.simplefilter("ignore", UserWarning)
        balanced = float(balanced_accuracy_score(y_true, y_pred))
    return {
        "n": int(len(y_true)),
        "accuracy": float(accuracy_score(y_true, y_pred)),
        "balanced_accuracy": balanced,
        "top3_accuracy": float(top_k_hits(y_true, proba, 3).mean()),
        "f1_macro": average("macro")["f1"],
        # undefined, not 0: recall of a genre no scored track holds, precision of one never named,
        # F1 of one that is neither held nor named
        "per_genre": {
            label: {"precision": float(p) if named else None, "recall": float(r) if s else None,
                    "f1": float(f) if named or s else None, "support": int(s)}
            for label, p, r, f, s, named in zip(labels, precision, recall, f1, support, cm.sum(axis=0))
        },
        "macro_avg": average("macro"),
        "weighted_avg": average("weighted"),
        "confusion_matrix": cm.tolist(),
        "confusion_matrix_normalized": normalized.round(6).tolist(),
        "labels": list(labels),
    }


def accuracy_interval(right: int, n: int, *, confidence: float = 0.95) -> list[float] | None:
    """The Wilson score interval of an accuracy of ``right`` in ``n``, or None for no tracks.

    It takes the tracks as independent draws: where some share an artist (or an album), the
    accuracy moves more from one set of tracks to another, and the interval is too narrow.
    On 10 tracks, 6 right gives 0.31-0.83: the reason a score on a few held-out tracks settles
    little, and :func:`genrekit.evaluate.cross_validate` scores every track.

    Parameters
    ----------
    right, n : int
        Tracks named right, tracks scored.
    confidence : float
        The interval's coverage, in (0, 1).

    Returns
    -------
    list of float or None
        ``[low, high]``.
    """
    from scipy.stats import binomtest

    if isinstance(confidence, bool) or not isinstance(confidence, numbers.Real) or not 0 < confidence < 1:
        raise ParameterError(f"confidence={confidence!r}: expected a fraction in (0, 1)")
    if not all(isinstance(v, int | np.integer) and not isinstance(v, bool) for v in (right, n)) or not 0 <= right <= n:
        raise ParameterError(f"right={right!r} of n={n!r}: expected whole numbers, 0 <= right <= n")
    if n == 0:
        return None
    interval = binomtest(int(right), int(n)).proportion_ci(confidence_level=confidence, method="wilson")
    return [float(interval.low), float(interval.high)]


def interval_words(interval: list[float] | None, spec: str = ".3f") -> str:
    """``95% interval 0.313-0.832`` for :func:`accuracy_interval`'s ``[low, high]``; "" for None."""
    return f"95% interval {interval[0]:{spec}}-{interval[1]:{spec}}" if interval else ""


def averaging_note(metrics: dict) -> str | None:
    """A sentence on what the macro averages cover where it matters: when genres that none of
    the scored tracks hold were predicted, scikit-learn's macro averages count them (F1 0),
    while balanced accuracy averages recall over the genres present. None otherwise."""
    support = {label: row["support"] for label, row in metrics.get("per_genre", {}).items()}
    named = np.asarray(metrics.get("confusion_matrix") or [[0]]).sum(axis=0)
    absent = [label for (label, n), k in zip(support.items(), named) if n == 0 and k > 0]
    if not absent:
        return None
    present = sum(1 for n in support.values() if n)
    return (f"Macro averages (scikit-learn's) count the {len(absent)} genre(s) predicted but held by none of these "
            f"tracks ({', '.join(absent)}), with F1 0; balanced accuracy averages recall over the {present} "
            "genre(s) the tracks hold.")


def evaluation_metrics(
    y_chunk,
    proba_chunk: np.ndarray,
    track_index,
    labels: list[str],
    *,
    aggregation: str = "mean",
    chunked: bool,
    track_proba: np.ndarray | None = None,
) -> dict:
    """The metrics of ``evaluate``: track-level at the top; ``track_*`` and ``chunk_*`` when chunked.

    ``y_chunk`` and ``proba_chunk`` have one row per chunk (one per track when not chunked).
    ``track_proba``: the tracks' probabilities as the model gives them, one row per track in
    order of first appearance (default: the chunks' aggregated with ``aggregation``).

    Parameters
    ----------
    y_chunk : array-like [shape=(n_chunks,)]
        Integer genre indices into ``labels``. A track's genre is its first row's.
    proba_chunk : np.ndarray [shape=(n_chunks, n_genres)]
        Each row's genre probabilities, columns in ``labels`` order.
    track_index : array-like [shape=(n_chunks,)]
        The track each row comes from.
    labels : list of str
        The genres, ``n_genres`` of them.
    aggregation : str
        ``mean`` or ``vote``: how the rows make a track's probabilities when ``track_proba``
        is not given. Recorded as ``aggregation`` when ``chunked``.
    chunked : bool
        The rows are chunks, several per track: also score them (``chunk_*``).
    track_proba : np.ndarray [shape=(n_tracks, n_genres)], optional
        The tracks' probabilities, replacing the rows' aggregated.

    Returns
    -------
    dict
        The tracks' :func:`classification_scores`, with ``accuracy_ci95`` (the accuracy's
        95% interval, :func:`accuracy_interval`), ``level`` (``"track"``) and
        ``aggregation`` (None when not ``chunked``). When ``chunked``, also every track score
        again as ``track_<key>`` (``track_labels`` too) and the rows' scores as ``chunk_<key>``
        (all but ``labels``).

    Raises
    ------
    ParameterError
        ``aggregation`` is neither ``mean`` nor ``vote`` (checked only without ``track_proba``);
        or the tracks' probabilities (or, when ``chunked``, ``proba_chunk``) do not have one
        row per track (chunk) and one column per label.
    """
    tracks = np.asarray(list(dict.fromkeys(track_index)))
    if track_proba is None:
        track_proba, tracks = aggregate_tracks(proba_chunk, track_index, method=aggregation)
    y_chunk = np.asarray(y_chunk)
    first = {t: y for t, y in zip(np.asarray(track_index)[::-1], y_chunk[::-1])}
    y_track = np.array([first[t] for t in tracks])
    metrics = classification_scores(y_track, track_proba, labels)
    # the tracks' accuracy only: a track's chunks are not independent draws
    metrics["accuracy_ci95"] = accuracy_interval(int(np.trace(metrics["confusion_matrix"])), metrics["n"])
    metrics["level"] = "track"
    metrics["aggregation"] = aggregation if chunked else None
    if chunked:
        chunk = classification_scores(y_chunk, proba_chunk, labels)
        for key, value in list(metrics.items()):
            if key in chunk:
                metrics[f"track_{key}"] = value
        for key, value in chunk.items():
            if key != "labels":
                metrics[f"chunk_{key}"] = value
    return metrics


def song_scores(true: list[str], probabilities: list[dict[str, float]], proportions: list[dict[str, float]]) -> dict:
    """Full-song scores: top-1 and top-3 hit rates of the song probabilities, and the
    proportion score of the full-song literature.

    Proportion score: per song, the true genre's share of the analysed time when that genre is among
    the song's three largest shares, else 0; averaged per genre, then over genres.

    Parameters
    ----------
    true : list of str
        Each song's true genre.
    probabilities : list of dict[str, float]
        Each song's genre -> probability (:attr:`genrekit.predict.Prediction.probabilities`).
    proportions : list of dict[str, float]
        Each song's genre -> share of its analysed time
        (:attr:`genrekit.predict.Prediction.proportions`).

    Returns
    -------
    dict
        ``n`` (songs), ``top1`` (share of songs whose most probable genre is the true one),
        ``top1_ci95`` (its 95% interval, :func:`accuracy_interval`), ``top3`` (share whose
        three most probable genres hold it), ``proportion_score``
        (averaged over genres), and ``per_genre`` (genre -> ``n``, ``top1``, ``top3``,
        ``proportion_score`` of its songs; genres in sorted order).

    Raises
    ------
    ParameterError
        ``true``, ``probabilities`` and ``proportions`` differ in length, or are empty.
    """
    if not (len(true) == len(probabilities) == len(proportions)) or not true:
        raise ParameterError(f"song_scores needs as many labels as predictions, and at least one; got "
                             f"{len(true)}, {len(probabilities)}, {len(proportions)}")
    rows = []
    for label, proba, shares in zip(true, probabilities, proportions):
        ranked = sorted(proba, key=lambda g: -proba[g])
        # the model's genres only: the time heard as not music ("unknown") takes no place among them
        top_shares = sorted((g for g in shares if g in proba), key=lambda g: -shares[g])[:3]
        genres = list(proba)
        in_top3 = label in proba and float(top_k_hits([genres.index(label)], [[proba[g] for g in genres]], 3)[0])
        rows.append({"genre": label, "top1": ranked[0] == label, "top3": in_top3,
                     "proportion": shares.get(label, 0.0) if label in top_shares else 0.0})
    per_genre = {}
    for genre in sorted({r["genre"] for r in rows}):
        mine = [r for r in rows if r["genre"] == genre]
        per_genre[genre] = {"n": len(mine), "top1": float(np.mean([r["top1"] for r in mine])),
                            "top3": float(np.mean([r["top3"] for r in mine])),
                            "proportion_score": float(np.mean([r["proportion"] for r in mine]))}
    return {"n": len(rows), "top1": float(np.mean([r["top1"] for r in rows])),
            "top1_ci95": accuracy_interval(sum(bool(r["top1"]) for r in rows), len(rows)),
            "top3": float(np.mean([r["top3"] for r in rows])),
            "proportion_score": float(np.mean([g["proportion_score"] for g in per_genre.values()])),
            "per_genre": per_genre}
