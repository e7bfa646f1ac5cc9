"""How predictions are written out: one module for the command line and the HTTP service.

``genrekit predict --format`` takes :data:`FORMATS`; the service answers with
:func:`prediction_record` (the JSON object of ``json`` and ``jsonl``, with what the service
adds). :func:`render` gives every format but ``jsonl`` (which the command line streams line
by line). A new format is a function here, its name in :data:`FORMATS` and its entry in
:func:`render`.
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import PurePath
from typing import TYPE_CHECKING, Any

from genrekit._files import line_shown, spreadsheet_cell, utf8_shown
from genrekit.errors import ParameterError

if TYPE_CHECKING:
    from rich.table import Table

    from genrekit.predict.song import Prediction

#: table (rich, for a terminal), json (one object a line, once all are done), jsonl (the same
#: lines as each file finishes), csv (one row a file), timeline (csv, one row a chunk).
FORMATS = ("table", "json", "jsonl", "csv", "timeline")


def render(output_format: str, predictions: Sequence[Prediction], failures: Mapping[str, str], *,
           labels: Sequence[str], model_name: str, top: int, order: Sequence[str] | None = None) -> str | Table | None:
    """All the predictions (and failures) of a run in ``output_format``.

    Parameters
    ----------
    output_format : str
        One of :data:`FORMATS` but ``jsonl``.
    predictions : sequence of Prediction
    failures : mapping of str to str
        File -> why it could not be analysed (``json`` and the csv formats list them; the
        table leaves them to the caller's report).
    labels : sequence of str
        The model's genres, in the order of the csv formats' ``p_<genre>`` columns.
    model_name : str
        The table's title.
    top : int
        Genres shown per file (``table``, ``json``).
    order : sequence of str, optional
        The paths as they were given: ``json`` and the csv formats list the files, failed or
        not, in this order (scripts pair the rows with their own list). Default: the
        predictions, then the failures.

    Returns
    -------
    str, rich Table or None
        Text ending in a newline; the ``table`` as a rich renderable (None without predictions).
    """
    if output_format == "json":
        return "".join(line + "\n" for line in json_lines(predictions, failures, top=top, order=order))
    if output_format == "csv":
        return csv_text(predictions, failures, labels, order=order)
    if output_format == "timeline":
        return timeline_csv_text(predictions, failures, labels, order=order)
    if output_format == "table":
        return prediction_table(predictions, model_name=model_name, top=top) if predictions else None
    raise ParameterError(f"output_format={output_format!r}: expected one of {', '.join(f for f in FORMATS if f != 'jsonl')}")


def prediction_record(prediction: Prediction, top: int | None = None, **extra: Any) -> dict:
    """The JSON object of one prediction (``json``, ``jsonl`` and the service's answer).

    Parameters
    ----------
    prediction : Prediction
    top : int, optional
        How many genres its ``top`` lists (default: all).
    **extra
        Fields set after the prediction's own (the service: ``path`` as the client named the
        file, ``model_id``, ``size_bytes``, ``seconds``).

    Returns
    -------
    dict
        :meth:`~genrekit.predict.song.Prediction.to_dict`'s fields, then ``extra``'s.
    """
    record = prediction.to_dict(top)
    record.update(extra)
    return record


def failure_record(path: str, reason: str) -> dict:
    """The JSON object of a file that could not be analysed: ``{"path": ..., "error": ...}``."""
    return {"path": path, "error": reason}


def in_order(predictions: Iterable[Prediction], failures: Mapping[str, str],
             order: Sequence[str] | None = None) -> Iterator[tuple[str, Prediction | None, str | None]]:
    """``(path, prediction, None)`` and ``(path, None, reason)``: in ``order`` (the paths as
    given), else the predictions, then the failures; files that ``order`` does not name
    (spelt otherwise) come last, never left out."""
    predictions = list(predictions)
    given = list(dict.fromkeys(order or ()))
    by_path = {p.path: p for p in predictions}
    for path in given:
        if path in by_path:
            yield path, by_path[path], None
        elif path in failures:
            yield path, None, failures[path]
    named = set(given)
    yield from ((p.path, p, None) for p in predictions if p.path not in named)
    yield from ((path, None, reason) for path, reason in failures.items() if path not in named)


def json_lines(predictions: Iterable[Prediction], failures: Mapping[str, str], *, top: int,
               order: Sequence[str] | None = None) -> Iterable[str]:
    """``json``: one line per file (without the newline), in :func:`in_order`'s order."""
    for path, prediction, reason in in_order(predictions, failures, order):
        yield json_line(prediction, top=top) if prediction is not None else failure_line(path, reason)


def json_line(prediction: Prediction, *, top: int) -> str:
    """One line of ``json`` and ``jsonl`` (without the newline), UTF-8 text as the service
    answers (``日本.mp3`` as written, not ``\\u65e5\\u672c``). A file name that is not UTF-8
    keeps its odd bytes as ``\\udce9`` escapes, which Python's json reads back into the name
    that opens the file (``os.fsencode``); the csv formats, for spreadsheets, show them as ``\\xe9``."""
    return _json_text(prediction_record(prediction, top))


def failure_line(path: str, reason: str) -> str:
    """A failure's line of ``json`` and ``jsonl`` (without the newline)."""
    return _json_text(failure_record(path, reason))


# Kept as escapes: a lone surrogate (a byte of a file name that is not UTF-8, as Python decodes
# it), which UTF-8 cannot write; DEL and the C1 controls, which a terminal may obey; the line and
# paragraph separators, at which str.splitlines() would cut a line
_ESCAPED = re.compile("[\x7f-\x9f\u2028\u2029\ud800-\udfff]")


def _json_text(record: dict) -> str:
    """``record`` as JSON text in UTF-8's characters, those of ``_ESCAPED`` as ``\\uXXXX``."""
    return _ESCAPED.sub(lambda found: f"\\u{ord(found.group()):04x}", json.dumps(record, ensure_ascii=False))


def _cell(text: str) -> str:
    """A CSV cell naming a file: as a spreadsheet shows text, odd bytes of its name as escapes
    (a CSV of raw bytes that are not UTF-8 is refused by pandas and spreadsheets)."""
    return spreadsheet_cell(utf8_shown(text))


def csv_text(predictions: Sequence[Prediction], failures: Mapping[str, str], labels: Sequence[str], *,
             order: Sequence[str] | None = None) -> str:
    """``csv``: a header, then one row per file in :func:`in_order`'s order (a failure with its
    ``error``); a genre ``unknown`` has its ``unknown_reason`` (``not music``, ``silent``,
    ``below min confidence``). ``share_unknown`` and ``music`` are empty for a model without the music
    detector (and with the check off).

    Parameters
    ----------
    predictions : sequence of Prediction
    failures : mapping
        Path -> reason.
    labels : sequence of str
        The model's genres, in its order: the ``p_<genre>`` and ``share_<genre>`` columns.
    order : sequence of str, optional
        The paths as given (:func:`in_order`).

    Returns
    -------
    str
        The CSV text, ``\\r\\n`` line ends (Python's csv).
    """
    from genrekit.predict.library import styles_text

    buffer = io.StringIO()
    writer = csv.writer(buffer)
    from genrekit.predict.song import UNKNOWN

    shares = [*labels, *([UNKNOWN] if UNKNOWN not in labels else [])]  # unknown: the time heard as not music
    writer.writerow(["path", "genre", "confidence", "start", "end", "n_chunks",
                     *(f"p_{label}" for label in labels), *(f"share_{label}" for label in shares),
                     "styles", "music", "unknown_reason", "error"])
    for path, p, reason in in_order(predictions, failures, order):
        if p is None:
            writer.writerow([_cell(path), "", "", "", "", "", *([""] * (len(labels) + len(shares))), "", "", "",
                             _cell(reason)])
            continue
        writer.writerow([_cell(p.path), spreadsheet_cell(p.genre), f"{p.confidence:.6f}", p.start, p.end,
                         p.n_chunks,
                         *(f"{p.probabilities[label]:.6f}" for label in labels),
                         *(_number(p.proportions.get(label)) for label in shares),
                         spreadsheet_cell(styles_text(p.styles)),  # a model file's style names: anyone's text
                         _number(p.music), p.unknown_reason or "", ""])
    return buffer.getvalue()


def _number(value: float | None) -> str:
    """A probability or share as CSV gives it: 6 decimals; empty where there is none (no music detector)."""
    return "" if value is None else f"{value:.6f}"


def timeline_csv_text(predictions: Sequence[Prediction], failures: Mapping[str, str],
                      labels: Sequence[str], *, order: Sequence[str] | None = None) -> str:
    """``timeline``: a header, then one row per step of every file (``path``, ``start``, ``end``,
    ``genre`` (``unknown`` where not music), ``confidence``, ``music``, ``p_<genre>``...,
    ``error``), one row for a file with no step (silent: its analysed span, ``unknown``), and
    one row for a file that could not be analysed, with its ``error``; files in
    :func:`in_order`'s order (as :func:`csv_text`)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(["path", "start", "end", "genre", "confidence", "music", *(f"p_{label}" for label in labels),
                     "error"])
    for path, p, reason in in_order(predictions, failures, order):
        if p is None:
            writer.writerow([_cell(path), "", "", "", "", "", *([""] * len(labels)), _cell(reason)])
            continue
        for s in p.timeline or [p]:  # a silent file has no step: its one row, the analysed span's (unknown)
            writer.writerow([_cell(p.path), s.start, s.end, spreadsheet_cell(s.genre), f"{s.confidence:.6f}",
                             _number(s.music), *(f"{s.probabilities[label]:.6f}" for label in labels), ""])
    return buffer.getvalue()


def prediction_table(predictions: Sequence[Prediction], *, model_name: str, top: int) -> Table:
    """``table``: one row per file, one line per genre (and style) inside a row, readable in
    an 80-column terminal.

    Parameters
    ----------
    predictions : sequence of Prediction
    model_name : str
        The title's model.
    top : int
        Genres (and styles, and shares) shown per file.

    Returns
    -------
    rich.table.Table
    """
    from rich.markup import escape
    from rich.table import Table

    from genrekit.predict.song import BELOW_MIN_CONFIDENCE, SILENT, UNKNOWN

    with_styles = any(p.styles is not None for p in predictions)  # a model without styles: no column
    caption = "styles: the taggers' own tags, each at or above its threshold" if with_styles else None
    if any(p.unknown_reason == BELOW_MIN_CONFIDENCE for p in predictions):
        below = "unknown (< P): the top genre's probability is below --min-confidence P"
        caption = f"{caption}; {below}" if caption else below
    view = Table(title=f"genres by {escape(model_name)}", caption=caption)
    view.add_column("file", overflow="fold", ratio=3)  # wrapped, never cut: the name is how a row is found
    view.add_column("top genres", overflow="fold", ratio=2)
    if with_styles:
        view.add_column("styles", overflow="fold", ratio=2)
    view.add_column("share of time", overflow="fold", ratio=2)
    view.add_column("analysed", justify="right", ratio=1)
    for p, name in zip(predictions, short_names([p.path for p in predictions])):
        # file names and genre names are the user's: never read as markup (a "[live]" would vanish)
        ranked = [f"{escape(g)} {_percent(prob)}" for g, prob in p.top(top)]
        if p.unknown_reason == SILENT:  # nothing heard: no best guess to show
            ranked = [f"unknown ({SILENT})"]
        elif p.genre == UNKNOWN:  # not music, or below --min-confidence: say so (briefly), and show the best guess
            below = p.unknown_reason == BELOW_MIN_CONFIDENCE
            # the threshold as given (its shortest exact form): :g rounded 0.80774409 below a confidence above it
            ranked.insert(0, f"unknown (< {float(p.min_confidence)!r}):" if below else f"unknown ({p.unknown_reason}):")
        shares = [f"{p.unknown_share if g == UNKNOWN else escape(g)} {_percent(v)}"
                  for g, v in sorted(p.proportions.items(), key=lambda i: -i[1])[:top] if v > 0]
        styles = [_styles_cell(p.styles, top)] if with_styles else []
        view.add_row(escape(line_shown(name)), "\n".join(ranked), *styles, "\n".join(shares),
                     f"{_seconds(p.start)}-{_seconds(p.end)} s\n{_parts(p)}")
    return view


def _percent(value: float) -> str:
    """A probability or share as the table shows it: whole percents, with ``<1%`` and ``>99%``
    where rounding would say 0% of a genre that has some, or 100% beside others that have some."""
    value, shown = float(value), f"{float(value):.0%}"
    if value > 0 and shown == "0%":
        return "<1%"
    if value < 1 and shown == "100%":
        return ">99%"
    return shown


def short_names(paths: Sequence[str]) -> list[str]:
    """Each path's shortest ending that no other path of ``paths`` ends with: its file name,
    or as many folders before it as it takes (``live/01 Intro.mp3`` beside ``studio/01 Intro.mp3``)."""
    parts = [PurePath(path).parts or (path,) for path in paths]
    depth = [1] * len(paths)
    while True:
        shown = [str(PurePath(*p[-d:])) for p, d in zip(parts, depth)]
        counts = Counter(shown)
        clashing = [i for i, name in enumerate(shown) if counts[name] > 1 and depth[i] < len(parts[i])]
        if not clashing:
            return shown
        for i in clashing:
            depth[i] += 1


def _seconds(value: float) -> str:
    """Seconds as the table shows them: whole from 10 s up, else to a tenth (a 3.5 s file is
    not "0-4 s")."""
    return f"{value:.0f}" if value >= 10 or float(value).is_integer() else f"{value:.1f}"


def _parts(p: Prediction) -> str:
    """What the shares count: the chunks, or the finer windows of the timeline where the model gives them."""
    if len(p.timeline) <= p.n_chunks:  # silent steps leave the timeline: fewer steps than chunks means chunks
        return f"{len(p.timeline)} chunk{'s' if len(p.timeline) != 1 else ''}"
    return f"{len(p.timeline)} windows"


def _styles_cell(styles: dict[str, float] | None, top: int) -> str:
    """The ``top`` most probable styles present, one a line, and how many more (json and csv
    give them all); "none" when no style reaches its threshold or the model gives none."""
    if not styles:
        return "none"
    from rich.markup import escape

    shown = [f"{escape(style)} {_percent(probability)}" for style, probability in list(styles.items())[:top]]
    more = len(styles) - len(shown)
    return "\n".join(shown + ([f"+{more} more"] if more else []))
