"""Where a model confidently disagrees with the genre a file's owner gave it.

A file filed under jazz that a calibrated model calls rock with probability 0.9 is often a
mis-tag, and always worth a look. The owner's genres are matched to the model's genres by
the spellings the model learned them from (``Hip Hop`` -> ``hiphop``), else by name with
case, spaces and punctuation ignored. A file whose genres the model does not know at all is
not a disagreement: the model has nothing to say about it.

Judged on out-of-fold predictions (a model that never saw the file's tag, as training's
cross-validation gives) this finds mis-tags; judged by a model trained on the file, it finds
only the mis-tags the model refused to learn, which is why the reports say which it is.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass

from genrekit._files import atomic_path, spreadsheet_cell
from genrekit.audio.tags import squashed_genre
from genrekit.errors import ParameterError

# A disagreement is reported when the model's top genre, not the owner's, has at least this
# probability (more likely than everything else together) and is at least DISAGREEMENT_ODDS
# times as probable as the owner's genre. The odds matter where genres are few: between two
# genres every error has p >= 0.5, and 0.53 against 0.47 is a coin toss, not a dispute.
DISAGREEMENT_CONFIDENCE = 0.5
DISAGREEMENT_ODDS = 4.0


@dataclass
class Disagreement:
    """One file whose owner's genres do not hold the model's confident top genre."""

    path: str
    owner_genres: list[str]
    model_genre: str
    confidence: float
    owner_probability: float  # the model's probability of the owner's (most probable) genre
    seen_in_training: bool  # the model was trained on this file (and its tag)


def genre_matcher(labels: Iterable[str], spellings: Mapping[str, Iterable[str]] | None = None):
    """A function: an owner's genre spelling -> the model's genre it means, or None."""
    index = {}
    for label in labels:
        index.setdefault(squashed_genre(label), label)
    for label, names in (spellings or {}).items():
        for name in names:
            index.setdefault(squashed_genre(name), label)
    index.pop("", None)  # "-" or "?" must not match a genre spelled in punctuation alone
    return lambda spelling: index.get(squashed_genre(spelling))


def find_disagreements(rows: Iterable[dict], labels: Iterable[str] = (), *,
                       spellings: Mapping[str, Iterable[str]] | None = None,
                       min_confidence: float = DISAGREEMENT_CONFIDENCE) -> list[Disagreement]:
    """The rows whose model confidently disagrees with the owner.

    Parameters
    ----------
    rows : dicts with ``path``, ``owner_genres`` (list of str; empty or None: untagged),
        ``probabilities`` (genre -> probability) and optionally ``seen_in_training`` and
        ``owner_labels`` (the model's genres the owner's mean, where already matched)
    labels : the model's genres, for matching rows without ``owner_labels``
    spellings : the model's genre -> the owner's spellings it was learned from
    min_confidence : the top genre's probability needed to call it a disagreement (it must
        also be :data:`DISAGREEMENT_ODDS` times the owner's genre's)

    Returns
    -------
    list of Disagreement, the most confident first
    """
    if not 0 <= min_confidence <= 1:
        raise ParameterError(f"min_confidence={min_confidence!r}: expected a probability between 0 and 1")
    match = genre_matcher(labels, spellings)
    found = []
    for row in rows:
        owner = [g for g in row.get("owner_genres") or [] if g]
        probabilities = row.get("probabilities") or {}
        known = set(row["owner_labels"]) if row.get("owner_labels") is not None else {match(g) for g in owner} - {None}
        if not known or not probabilities:
            continue
        top = max(probabilities, key=probabilities.get)
        owner_probability = float(max(probabilities.get(g, 0.0) for g in known))
        if top in known or probabilities[top] < min_confidence or probabilities[top] < DISAGREEMENT_ODDS * owner_probability:
            continue
        found.append(Disagreement(path=row["path"], owner_genres=owner, model_genre=top,
                                  confidence=float(probabilities[top]), owner_probability=owner_probability,
                                  seen_in_training=bool(row.get("seen_in_training", False))))
    return sorted(found, key=lambda d: (-d.confidence, d.path))


def write_disagreements(disagreements: list[Disagreement], path: str | os.PathLike) -> None:
    """``disagreements.csv``: path, owner's genres ("; "-joined), the model's genre, its
    confidence, the model's probability of the owner's genre, seen in training. Atomic."""
    import csv

    columns = list(Disagreement.__dataclass_fields__)
    with atomic_path(path) as temporary, open(temporary, "w", newline="", encoding="utf-8", errors="surrogateescape") as handle:
        writer = csv.DictWriter(handle, fieldnames=columns)
        writer.writeheader()
        for item in disagreements:
            row = asdict(item)
            row["owner_genres"] = spreadsheet_cell("; ".join(item.owner_genres))  # the song's own tags: anyone's text
            row["path"], row["model_genre"] = spreadsheet_cell(item.path), spreadsheet_cell(item.model_genre)
            row["confidence"], row["owner_probability"] = round(item.confidence, 4), round(item.owner_probability, 4)
            writer.writerow(row)
