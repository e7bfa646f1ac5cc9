"""One self-contained HTML page per run folder: what was trained on what, how well it does,
and where it fails. Images and audio excerpts are embedded (data URIs) and a content
security policy forbids every external request, so the page opens offline as it is.
"""

from __future__ import annotations

import base64
import html
import io
import json
import math
import os
import re
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import pandas as pd

from genrekit import __version__
from genrekit.errors import ParameterError, check_whole_number
from genrekit.evaluate.metrics import averaging_note
from genrekit.evaluate.report import PREDICTION_TEXT, near_training_words, training_words, untrained_words
from genrekit._files import from_spreadsheet_cell, path_given, write_text_atomic

CSP = ("default-src 'none'; img-src data:; media-src data:; style-src 'unsafe-inline'; "
       "script-src 'unsafe-inline'")
STYLE = """
body{font:15px/1.45 system-ui,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;color:#222}
h1{font-size:1.6em;margin-bottom:.2em}h2{margin-top:1.8em;border-bottom:1px solid #ddd;padding-bottom:.2em}
table{border-collapse:collapse;margin:.6em 0}td,th{border:1px solid #ddd;padding:.25em .6em;text-align:right}
td:first-child,th:first-child{text-align:left}img{max-width:100%;height:auto}
.verdict{background:#f3f7fb;border-left:5px solid #4c72b0;padding:.6em 1em;margin:1em 0}
.bad{color:#b03030}.muted{color:#666;font-size:.9em}pre{background:#f6f6f6;padding:.6em;overflow:auto;font-size:.85em}
"""
# After loading, the page records how many images decoded, for headless checks.
SCRIPT = """window.addEventListener('load',function(){var i=[].slice.call(document.images);
document.body.dataset.images=i.length;document.body.dataset.imagesLoaded=i.filter(function(x){
return x.complete&&x.naturalWidth>0}).length;});"""


# Characters a page cannot show as text: C0 and C1 controls (tab and line breaks aside) and lone
# surrogates (JSON's "\ud800", or a file name's undecodable bytes), which UTF-8 cannot encode
_UNSHOWABLE = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff]")


def _text(value) -> str:
    """Any value as HTML text: user data (genre names, paths, reasons) never becomes markup, and
    a character a page cannot show is written as its escape (``\\x1b``, ``\\udce9``)."""
    text = _UNSHOWABLE.sub(lambda m: ascii(m.group())[1:-1], str(value))
    return html.escape(text)


def _number(value, spec: str) -> str:
    """A figure of a results file formatted by ``spec``; "–" where the file has none (null:
    a metric with nothing to measure, :func:`genrekit._files.write_json`). A percentage is
    rounded as its fraction is to three places elsewhere (0.9625: 0.963 and 96.3%, not the
    96.2% that 0.9625 * 100 in floating point rounds to)."""
    if value is None or value != value:
        return "–"
    if spec == ".1%":
        value = float(format(value, ".3f"))
    return format(value, spec)


def _interval_words(interval, spec: str) -> str:
    """``95% interval low-high`` of a results file's ``[low, high]``; "" where it has none."""
    return f"95% interval {_number(interval[0], spec)}-{_number(interval[1], spec)}" if interval else ""


# What the report reads from each results file, and in what shape. Anyone can edit a run folder,
# so a file is checked as it is read, and a field of another shape (a number written as text, a
# list for an object, a key missing, a nested object for a count) is refused: a ParameterError
# naming the file, the field, what was expected and what was found. The report is not drawn
# with that figure as "–" instead: genrekit never writes such a field, so the file was changed
# since, and a page with quiet gaps would pass a damaged run off as a sound one (the page is
# what gets shared); the error says what to repair, or that the run is to be made again. A
# null stays "–" (genrekit writes it for a metric with nothing to measure), and so does an
# optional field's null (the report reads it as absent). Keys older runs lack are optional;
# keys the report does not read are left out unchecked. The range of a figure is not
# checked: a finite number is shown as written.

_UNFIT = object()  # what a reader returns for a value of another shape


def _as_number(value):
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return _UNFIT
    try:
        value = float(value)
    except OverflowError:  # an integer of hundreds of digits
        return _UNFIT
    return value if math.isfinite(value) else _UNFIT


_MAX_COUNT = 2 ** 53  # the largest count a float (pandas, JavaScript) holds exactly


def _as_count(value):
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return _UNFIT
    if isinstance(value, float) and not value.is_integer():
        return _UNFIT
    return int(value) if 0 <= value <= _MAX_COUNT else _UNFIT


@dataclass(frozen=True)
class _Leaf:
    """A value: ``expected`` in words; ``read``, the value as the report uses it, or _UNFIT."""
    expected: str
    read: Callable
    nullable: bool = False  # null is a value (a metric with nothing to measure), not an absence


@dataclass(frozen=True)
class _List:
    each: object
    expected: str = "a list"


@dataclass(frozen=True)
class _Object:
    needed: dict = field(default_factory=dict)
    optional: dict = field(default_factory=dict)
    each: object = None  # the shape of every other key's value (keys are genre or model names); None: not read
    expected: str = "an object"


_NUMBER = _Leaf("a finite number or null", _as_number, nullable=True)
_COUNT = _Leaf("a whole number from 0 to 2^53", _as_count)
_TEXT = _Leaf("text", lambda v: v if isinstance(v, str) else _UNFIT)
_FLAG = _Leaf("true or false", lambda v: v if isinstance(v, bool) else _UNFIT)
_SCALAR = _Leaf("text, a number or null", lambda v: v if v is None or isinstance(v, (str, int, float)) else _UNFIT,
               nullable=True)
_ANY = _Leaf("any JSON", lambda v: v, nullable=True)  # shown as JSON, escaped
_INTERVAL = _Leaf("[low, high], two finite numbers, or null",
                  lambda v: v if v is None or (isinstance(v, list) and len(v) == 2
                                               and all(_as_number(x) not in (None, _UNFIT) for x in v)) else _UNFIT,
                  nullable=True)
_ANY_LIST = _List(_ANY)  # counted, not shown

_TRAINING_WORDS = {"include_train": _FLAG, "training_tracks_unknown": _FLAG, "excluded_training_tracks": _ANY_LIST,
                   "n_trained_on": _Leaf("a whole number or null", lambda v: v if v is None else _as_count(v),
                                         nullable=True)}
_RUN = _Object(optional={
    "command": _TEXT, "model": _Leaf("text or an object", lambda v: v if isinstance(v, (str, dict)) else _UNFIT),
    "dataset": _Object(optional={"name": _SCALAR, "n_tracks": _SCALAR, "root": _SCALAR, "source": _SCALAR,
                                 "labels": _ANY_LIST}),
    "split": _Object(optional={"method": _SCALAR, "seed": _SCALAR, "artists_across_splits": _ANY_LIST,
                               "copies_across_splits": _ANY_LIST, "protocol": _TEXT,
                               "uneven_holdouts": _Object(each=_Object(each=_ANY_LIST, expected="an object of part "
                                                                                                "-> [held, asked]"),
                                                          expected="an object of genre -> parts"),
                               "tracks_per_genre": _Object(each=_Object(each=_COUNT, expected="an object of genre -> "
                                                                                              "tracks"),
                                                           expected="an object of split -> genres")}),
    **_TRAINING_WORDS,
    "failures": _Object(each=_TEXT, expected="an object of path -> reason"),
    "problems": _List(_Object(needed={"path": _TEXT, "reason": _TEXT}, optional={"left_out": _FLAG}),
                      expected="a list of objects (path, reason)"),
    "unknown_genre_tracks": _List(_TEXT, expected="a list of paths"),
    **{key: _ANY for key in ("features", "best_params", "training", "aggregation")}})
_METRICS = _Object(
    needed={"labels": _List(_TEXT, expected="a list of genre names"), "n": _COUNT, "accuracy": _NUMBER,
            "f1_macro": _NUMBER},
    optional={"balanced_accuracy": _NUMBER, "top3_accuracy": _NUMBER, "chunk_accuracy": _NUMBER,
              "chunk_f1_macro": _NUMBER, "chunk_n": _COUNT, "protocol": _TEXT, "near_training_clips": _COUNT,
              "accuracy_ci95": _INTERVAL,
              "n_trained_on": _TRAINING_WORDS["n_trained_on"],
              "per_genre": _Object(each=_Object(needed={"f1": _NUMBER, "support": _COUNT},
                                                optional={"precision": _NUMBER, "recall": _NUMBER}),
                                   expected="an object of genre -> scores"),
              "confusion_matrix": _List(_List(_COUNT, expected="a list of counts"),
                                        expected="a list of rows (lists of counts)")})
_COMPARISON = _Object(needed={
    "setup": _Object(optional={"n_splits": _COUNT, "grouping": _TEXT, "source": _TEXT}),
    "models": _Object(each=_Object(needed={k: _NUMBER for k in ("accuracy_mean", "accuracy_std", "f1_macro_mean",
                                                               "fit_seconds")}),
                      expected="an object of model -> scores")},
    optional={"untrained_genres": _Object(each=_List(_TEXT, expected="a list of genres"),
                                          expected="an object of fold -> genres"),
              "left_out": _Object(each=_TEXT, expected="an object of path -> reason"),
              "paired": _Object(each=_Object(needed={"against": _TEXT, "p_value": _NUMBER},
                                             optional={"p_holm": _NUMBER}),
                                expected="an object of model -> paired test"),
              "artists_shared": _TEXT, "copies_across_folds": _ANY_LIST})
_EXPLORATION = _Object(needed={
    "n_rows": _COUNT, "n_features": _COUNT, "pca": _Object(needed={"components_for_90_percent": _COUNT}),
    "kmeans": _Object(needed={"k": _COUNT, "adjusted_rand_index": _NUMBER, "silhouette": _NUMBER})},
    optional={"held_out_caveat": _Leaf("text or null", lambda v: v if isinstance(v, str) else _UNFIT, nullable=True)})
_SONGS = _Object(
    needed={"n": _COUNT, "top1": _NUMBER, "top3": _NUMBER, "proportion_score": _NUMBER,
            "per_genre": _Object(each=_Object(needed={"n": _COUNT}, optional={k: _NUMBER for k in (
                "top1", "top3", "proportion_score")}), expected="an object of genre -> scores")},
    optional={"skip": _NUMBER, "top1_ci95": _INTERVAL, "near_training_clips": _ANY_LIST, **_TRAINING_WORDS})
_CV_SCORES = {**{k: _NUMBER for k in ("accuracy_mean", "accuracy_std", "balanced_accuracy_mean", "f1_macro_mean")},
              "n_splits": _COUNT, "protocol": _TEXT, "fold_accuracy": _List(_NUMBER, expected="a list of numbers")}
_CV = _Object(optional={
    **_CV_SCORES, "n_tracks": _COUNT, "by_id_blocks": _Object(optional=_CV_SCORES),
    "per_genre": _Object(each=_Object(optional={"n": _COUNT, "recall": _NUMBER, "precision": _NUMBER}),
                         expected="an object of genre -> scores")})


def _quoted(text, limit: int = 60) -> str:
    """Text from a file for an error message: quoted, cut short, every character a terminal
    could act on escaped."""
    text = str(text)
    return json.dumps(text[:limit]) + ("…" if len(text) > limit else "")


def _found(value) -> str:
    """A value of a results file in words, short: whatever its size or depth."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return json.dumps(value)
    if isinstance(value, (int, float)):
        shown = repr(value)
        return f"the number {shown[:30]}" + ("…" if len(shown) > 30 else "")
    if isinstance(value, str):
        return f"the text {_quoted(value, 40)}"
    if isinstance(value, list):
        return f"a list of {len(value)} item(s)"
    return f"an object of {len(value)} key(s)"


def _checked(path: Path, value, shape, where: str):
    """``value`` as the report uses it (counts as int, figures as float, keys it does not read
    left out), or a ParameterError naming ``path``, the field ``where``, what ``shape``
    expects and what was found."""
    def wrong(found: str):
        return ParameterError(f"{path}: {where + ': ' if where else ''}expected {shape.expected}, found {found}")

    if isinstance(shape, _Leaf):
        read = shape.read(value)
        if read is _UNFIT:
            raise wrong(_found(value))
        return read
    if isinstance(shape, _List):
        if not isinstance(value, list):
            raise wrong(_found(value))
        return [_checked(path, item, shape.each, f"{where}[{i}]") for i, item in enumerate(value)]
    if not isinstance(value, dict):
        raise wrong(_found(value))
    result = {}
    for key, item in value.items():
        own = shape.needed.get(key) or shape.optional.get(key)
        inner = own or shape.each
        if inner is None:
            continue  # not read by the report
        name = (f"{where}.{key}" if where else key) if own else f"{where}[{_quoted(key)}]"
        if item is None and key not in shape.needed and not getattr(inner, "nullable", False):
            continue  # an optional field's null: absent
        result[key] = _checked(path, item, inner, name)
    for key, inner in shape.needed.items():
        if key not in value:
            raise ParameterError(f"{path}: {f'{where}.{key}' if where else key}: missing; expected {inner.expected}")
    return result


_ABSENT = object()


def _read_json(path: Path, shape: _Object) -> dict | None:
    """A results file of the run folder as ``shape`` describes it (see :func:`_checked`), None
    where it is absent."""
    data = _json_file(path)
    return None if data is _ABSENT else _checked(path, data, shape, "")


def _json_file(path: Path) -> object:
    """A results file's JSON as it is, :data:`_ABSENT` where there is none."""
    if not path.exists():
        return _ABSENT
    try:
        if not path.is_file():  # a folder, or a FIFO that would never end
            raise OSError("not a file")
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError, RecursionError) as exc:  # RecursionError: JSON nested past Python's stack
        reason = ("nested too deeply" if isinstance(exc, RecursionError) else
                  (exc.strerror or str(exc)) if isinstance(exc, OSError) else str(exc))
        raise ParameterError(f"{path}: expected a genrekit results file (JSON), cannot read it ({reason})") from exc
    return data


def page_refusal(out: Path) -> str | None:
    """Why a report may not be written to ``out``, or None: a name with another extension than
    .html (or none), or a file there that is not a page (a model, a table: written over, it was lost)."""
    if out.suffix.lower() not in (".html", ".htm", ""):
        return f"expected an .html file name (or a folder), found {out.suffix}"
    try:
        with open(out, "rb") as handle:
            start = handle.read(64).lstrip().lower()
    except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
        return None
    except OSError:
        return None  # the write says why
    if not start.startswith((b"<!doctype html", b"<html")):
        return "a file that is not an HTML page is there; expected a new name (or a report's)"
    return None


def _checked_metrics(path: Path, metrics: dict) -> dict:
    """metrics.json's genres are distinct, and its confusion matrix is a row and a column per
    genre of ``labels``, or empty."""
    labels = metrics["labels"]
    matrix, k = metrics.get("confusion_matrix") or [], len(labels)
    repeated = {label: n for label, n in Counter(labels).items() if n > 1}
    if repeated:  # its verdict said "jazz taken for jazz"
        found = ", ".join(f"{label[:80]!r} {n} times" for label, n in list(repeated.items())[:5])
        raise ParameterError(f"{path}: labels: expected distinct genre names, found {found}")
    if matrix and (len(matrix) != k or any(len(row) != k for row in matrix)):
        shape = f"{len(matrix)} row(s) of {', '.join(sorted({str(len(row)) for row in matrix}))} count(s)"
        raise ParameterError(f"{path}: confusion_matrix: expected {k} rows of {k} counts (one per genre of "
                             f"labels), found {shape}")
    return metrics


_PNG = b"\x89PNG\r\n\x1a\n"


def _image(path: Path, alt: str) -> str:
    """A PNG of the run folder, embedded; a ParameterError where the file is not one (what a
    changed file holds is not put in the page)."""
    try:
        data = path.read_bytes() if path.is_file() else b""
    except OSError as exc:
        raise ParameterError(f"{path}: expected a PNG image, cannot read it ({exc.strerror or exc})") from exc
    if not data.startswith(_PNG):
        raise ParameterError(f"{path}: expected a PNG image, found " + (
            "something else" if data else "an empty file" if path.is_file() else "no file (a folder or a device)"))
    return f'<img src="data:image/png;base64,{base64.b64encode(data).decode()}" alt="{_text(alt)}">'


def _audio_excerpt(path: str, *, seconds: float = 10.0) -> str:
    """An embedded Ogg Vorbis player of ``seconds`` from the middle of a file, or '' when unreadable."""
    import soundfile as sf

    from genrekit import audio
    from genrekit.errors import GenrekitError

    if not os.path.isfile(path):  # a local file only: predictions.csv is anyone's to edit, and audio reads URLs
        return ""
    try:
        duration = audio.info(path).duration
        y, sr = audio.load(path, sr=22050, offset=max(0.0, duration / 2 - seconds / 2), duration=seconds)
    except GenrekitError:
        return ""
    buffer = io.BytesIO()
    sf.write(buffer, y, sr, format="OGG", subtype="VORBIS")
    data = base64.b64encode(buffer.getvalue()).decode()
    return f'<audio controls preload="none" src="data:audio/ogg;base64,{data}"></audio>'


def _p_value(p: float) -> str:
    """A test's p-value as a reader takes it in: 3.86e-33 was shown as 0.000."""
    return "–" if p is None or p != p else "< 0.001" if p < 0.001 else f"{p:.3f}"


def _table(head: list, rows: list[list], *, floats: str = ".3f") -> str:
    """An HTML table: floats (and null: "–") formatted by ``floats``, anything else as text.
    Plain lists, not a DataFrame: pandas' text columns (pyarrow) cannot hold a lone surrogate,
    which a JSON key can."""
    def cell(value) -> str:
        return _number(value, floats) if value is None or isinstance(value, (float, np.floating)) else _text(value)

    body = "".join("<tr>" + "".join(f"<td>{cell(v)}</td>" for v in row) + "</tr>" for row in rows)
    return "<table><tr>" + "".join(f"<th>{_text(c)}</th>" for c in head) + f"</tr>{body}</table>"


def _genre_table(rows: dict[str, dict], columns: tuple[str, ...]) -> str:
    """genre -> row of a results file as a table: a genre column, then ``columns`` (those any
    row has, in that order; a cell a row lacks as "–")."""
    columns = tuple(c for c in columns if any(c in row for row in rows.values()))
    return _table(["genre", *columns], [[genre, *(row.get(c) for c in columns)] for genre, row in rows.items()])


def _supports(metrics: dict) -> list[int]:
    """Tracks of each genre among those scored: the confusion matrix's rows."""
    matrix = np.array(metrics.get("confusion_matrix", []))
    return [int(n) for n in matrix.sum(axis=1)] if matrix.ndim == 2 and matrix.size else []


def _chance_words(supports: list[int]) -> str:
    """What guessing scores on these tracks: one genre in n at random, and, where the genres
    are uneven, always naming the largest (a model that learned nothing can reach it)."""
    present = [n for n in supports if n > 0]
    if not present:
        return "chance: –"
    uniform = f"chance: {1 / len(supports):.0%}"
    if max(present) == min(present) and len(present) == len(supports):
        return uniform
    return f"{uniform}; always naming the largest genre: {max(present) / sum(present):.0%}"


def _verdict(metrics: dict, *, held_out: bool = True, shared: tuple[int, int] = (0, 0),
             training_unknown: bool = False) -> str:
    """Plain words: accuracy against chance, the weakest genres, the most frequent confusion.
    ``held_out``: False where the scored tracks may include training tracks (evaluate
    --include-train). ``shared``: artists, and songs with a copy, that the dataset's own split
    puts on two sides (the scores flatter the model). ``training_unknown``: the model does not
    list its training tracks (an export with --strip-training), so none could be left out."""
    labels = metrics["labels"]
    seen = metrics.get("n_trained_on")
    included = "training tracks included" + (f": {seen} of {metrics['n']} were trained on" if seen is not None else "")
    scope = (f"Track accuracy ({included})" if not held_out
             else "Track accuracy (training tracks may be included: the model does not list them)" if training_unknown
             else "Test-track accuracy" if any(shared) else "Held-out track accuracy")
    interval = _interval_words(metrics.get("accuracy_ci95"), ".1%")
    interval = f"{interval}, the tracks taken as independent; " if interval else ""
    parts = [f"<b>{scope} {_number(metrics['accuracy'], '.1%')}</b> on {metrics['n']} tracks "
             f"({interval}{_chance_words(_supports(metrics))}); <b>balanced accuracy "
             f"{_number(metrics.get('balanced_accuracy'), '.1%')}</b> (each genre's recall weighs alike), macro F1 "
             f"{_number(metrics['f1_macro'], '.3f')}, top-3 accuracy {_number(metrics.get('top3_accuracy'), '.1%')}."]
    if isinstance(metrics.get("protocol"), str):
        parts.append(f"Test tracks: {_text(metrics['protocol'])}.")
    if any(shared):
        parts.append(f"<b>Optimistic:</b> the dataset's own split puts {shared[0]} artist(s) and {shared[1]} song(s) "
                     "with a copy on two sides, so some test tracks share an artist or a recording with training "
                     "tracks.")
    if metrics.get("near_training_clips"):
        parts.append(f"<b>Optimistic:</b> {_text(near_training_words(metrics['near_training_clips'], metrics['n']))}")
    elif held_out and not training_unknown and not any(shared):
        parts.append("Held out by content: a track with a training track's bytes, decoded audio or first 10 s is "
                     "that track, never a test one; a lossy copy or an excerpt of a training song is not recognised.")
    note = averaging_note(metrics)
    if note:
        parts.append(_text(note))
    if "chunk_accuracy" in metrics:
        parts.append(f"Per chunk: {_number(metrics['chunk_accuracy'], '.1%')} (tracks combine their chunks).")
    per_genre = metrics.get("per_genre", {})
    if per_genre:
        # absent genres are not weak, nor are perfect ones
        present = {g: r for g, r in per_genre.items() if r.get("support", 1) > 0 and (r["f1"] is None or r["f1"] < 1)}
        weakest = sorted(present.items(), key=lambda item: -1 if item[1]["f1"] is None else item[1]["f1"])[:3]
        parts.append("Weakest genres (F1): " + ", ".join(f"{_text(g)} {_number(r['f1'], '.2f')}" for g, r in weakest) + "."
                     if weakest else "Every genre scored has F1 1.00.")
    matrix = np.array(metrics.get("confusion_matrix", []))
    if matrix.size:
        off = matrix.copy()
        np.fill_diagonal(off, 0)
        if off.max() > 0:  # every pair at the top: naming the first of a tie would pick one by label order
            pairs = [f"{_text(labels[i])} taken for {_text(labels[j])}" for i, j in np.argwhere(off == off.max())]
            shown = pairs if len(pairs) <= 3 else [*pairs[:3], f"{len(pairs) - 3} more pairs"]
            parts.append(f"Most frequent confusion{'s' if len(pairs) > 1 else ''}: {', '.join(shown)} "
                         f"({off.max()} track(s){' each' if len(pairs) > 1 else ''}).")
    if 0 < metrics["n"] < 30:
        parts.append('<span class="bad">Few test tracks: these numbers are rough (one track is '
                     f'{1 / metrics["n"]:.0%}).</span>')
    return '<div class="verdict">' + " ".join(parts) + "</div>"


def _cv_section(cv: dict, *, headline: bool) -> list[str]:
    """The k-fold CV of a run (``cv.json``): its protocol, accuracy and spread, per-genre recall
    and precision. ``headline``: the run has no held-out test (``--split all``), so this is its
    verdict, in plain words."""
    per_genre = cv.get("per_genre", {})
    supports = [int(row.get("n") or 0) for row in per_genre.values()]
    parts = [f"<b>{'Cross-validated' if headline else 'CV'} accuracy {_number(cv.get('accuracy_mean'), '.1%')}"
             f" ± {_number(cv.get('accuracy_std'), '.1%')}</b> over {_text(cv.get('n_splits'))} folds of "
             f"{_text(cv.get('n_tracks'))} tracks"
             + (f" ({_chance_words(supports)})" if supports else "")
             + f"; <b>balanced accuracy {_number(cv.get('balanced_accuracy_mean'), '.1%')}</b>, macro F1 "
             f"{_number(cv.get('f1_macro_mean'), '.3f')}. Protocol: {_text(cv.get('protocol'))}."]
    if per_genre:
        weakest = sorted(per_genre.items(), key=lambda item: item[1].get("recall") or 0.0)[:3]
        parts.append("Lowest recall: " + ", ".join(f"{_text(g)} {_number(r.get('recall'), '.2f')}"
                                                   for g, r in weakest) + ".")
    body = ["<h2>Cross-validation</h2>", '<div class="verdict">' + " ".join(parts) + "</div>"]
    if per_genre:
        body.append(_genre_table(per_genre, ("n", "recall", "precision")))
    folds = cv.get("fold_accuracy")
    if folds:
        body.append("<p>Accuracy per fold: " + ", ".join(_number(a, ".1%") for a in folds) + ".</p>")
    blocks = cv.get("by_id_blocks")
    if blocks:  # GTZAN clips: folds by track share artists, these fewer
        body.append(f"<p><b>Grouped by adjacent ids: accuracy {_number(blocks.get('accuracy_mean'), '.1%')} ± "
                    f"{_number(blocks.get('accuracy_std'), '.1%')}, balanced accuracy "
                    f"{_number(blocks.get('balanced_accuracy_mean'), '.1%')}</b> over {_text(blocks.get('n_splits'))} "
                    f"folds that share fewer artists. Protocol: {_text(blocks.get('protocol'))}.</p>")
    return body


def _read_predictions(path: Path) -> pd.DataFrame:
    """predictions.csv as the report reads it: ``true``, ``predicted`` and ``confidence`` (a
    number from 0 to 1) in every row, ``track_id`` and ``path`` where the file has them, text as
    it was before spreadsheets were kept from running it; a ParameterError naming the file, the
    column and the row where it is not that (refused as a JSON results file of another shape
    is: see the comment above :data:`_UNFIT`)."""
    try:
        if not path.is_file():
            raise OSError("not a file")
        # every cell as text: a genre called "NA" or "null" is not a missing value
        frame = pd.read_csv(path, dtype=str, keep_default_na=False, encoding="utf-8")
    except (OSError, ValueError) as exc:  # ValueError: pandas' ParserError and EmptyDataError, UnicodeDecodeError
        reason = (exc.strerror or str(exc)) if isinstance(exc, OSError) else str(exc)
        raise ParameterError(f"{path}: expected genrekit's predictions (CSV), cannot read it ({reason})") from exc
    lacking = [c for c in ("true", "predicted", "confidence") if c not in frame.columns]
    if lacking:
        found = ", ".join(_quoted(c, 30) for c in frame.columns[:12]) + (", …" if len(frame.columns) > 12 else "")
        raise ParameterError(f"{path}: expected the columns true, predicted and confidence; {', '.join(lacking)} "
                             f"missing (found {found or 'none'})")
    confidence = pd.to_numeric(frame["confidence"], errors="coerce")
    bad = np.flatnonzero(~confidence.between(0.0, 1.0).to_numpy())  # NaN (not a number) is not between
    if len(bad):
        raise ParameterError(f"{path}: confidence in data row {bad[0] + 1}: expected a number from 0 to 1, found "
                             f"{_quoted(frame['confidence'].iloc[bad[0]], 40)}")
    frame["confidence"] = confidence.astype(float)
    for column in PREDICTION_TEXT:  # as written, before spreadsheets were kept from running them
        if column in frame.columns:
            frame[column] = frame[column].map(from_spreadsheet_cell)
    return frame


def write_html_report(run_dir: str | os.PathLike, out: str | os.PathLike | None = None, *, n_wrong: int = 5) -> Path:
    """``report.html`` for a run folder of ``train``, ``evaluate``, ``compare`` or ``explore``.

    Shows what is there: configuration, dataset and split sizes, training curves, metrics
    with a plain-words verdict, the k-fold CV (the verdict where nothing was held out),
    confusion matrix, per-genre report, chunk against track accuracy, the most confidently
    wrong tracks with an audio excerpt, the model comparison, exploration plots and
    full-song scores.

    A ParameterError where ``run_dir`` holds no results, or where a results file cannot be
    read or a field the page shows has another shape than genrekit writes: the message names
    the file, the field, what was expected and what was found (see the comment above
    :data:`_UNFIT`).
    """
    check_whole_number("n_wrong", n_wrong, least=0, of="confidently wrong tracks shown")
    run_dir = Path(path_given(run_dir, "run_dir"))
    if not run_dir.is_dir():
        raise ParameterError(f"{run_dir}: expected a run folder (the --out of train, evaluate, compare or explore)")
    if out is not None and (refused := page_refusal(Path(out))):  # a run's model.genrekit was overwritten
        raise ParameterError(f"out={os.fspath(out)!r}: {refused}")
    run = _json_file(run_dir / "run.json")
    if isinstance(run, dict) and run.get("command") == "features":  # its other fields are a feature table's
        raise ParameterError(f"{run_dir}: the run of `genrekit features` (a feature table); a report shows the runs "
                             "of train, evaluate, compare and explore")
    run = {} if run is _ABSENT else _checked(run_dir / "run.json", run, _RUN, "") or {}
    metrics = _read_json(run_dir / "metrics.json", _METRICS)
    if metrics is not None:
        metrics = _checked_metrics(run_dir / "metrics.json", metrics)
    comparison = _read_json(run_dir / "comparison.json", _COMPARISON)
    explore_dir = run_dir if (run_dir / "explore.json").exists() else run_dir / "explore"
    exploration = _read_json(explore_dir / "explore.json", _EXPLORATION)
    songs = _read_json(run_dir / "songs.json", _SONGS)
    cv = _read_json(run_dir / "cv.json", _CV)
    if not any((run, metrics, comparison, exploration, songs)):
        raise ParameterError(f"{run_dir}: no genrekit results found (run.json, metrics.json, comparison.json, "
                             "explore.json or songs.json)")
    model = run.get("model")
    model_name = model if isinstance(model, str) else next(
        (model[k] for k in ("preset", "model", "name") if isinstance((model or {}).get(k), str)), "")
    command = run.get("command") or ("compare" if comparison else "explore" if exploration else
                                     "evaluate --songs" if songs else "run")
    title = f"genrekit {command}" + (f": {model_name}" if model_name else "")
    data = run.get("dataset") or {}
    if command.startswith("evaluate") and data.get("name"):  # what it was scored on, as metrics.md's title says
        given = data.get("source") if data.get("source") not in (None, "", data["name"]) else None
        title += f" on {data['name']}" + (f" ({given})" if given else "")
    body = [f"<h1>{_text(title)}</h1>",
            f'<p class="muted">{_text(run_dir.resolve())} · report made {time.strftime("%Y-%m-%d %H:%M")} '
            f"by genrekit {__version__}</p>"]
    if metrics:
        split = run.get("split") or {}
        shared = (len(split.get("artists_across_splits") or ()), len(split.get("copies_across_splits") or ()))
        body.append(_verdict(metrics, held_out=not run.get("include_train", False), shared=shared,
                             training_unknown=bool(run.get("training_tracks_unknown"))))
    excluded = run.get("excluded_training_tracks")
    if excluded:
        body.append(f"<p>{len(excluded)} track(s) the model was trained on were left out of this evaluation.</p>")
    dataset = run.get("dataset")
    # a problem that left nothing out (two spellings of one genre merged) is a note
    problems = [p for p in run.get("problems", []) if p.get("left_out", True) is not False]
    notes = [p for p in run.get("problems", []) if p.get("left_out", True) is False]
    left_out = run.get("failures") or problems or run.get("unknown_genre_tracks")
    if dataset or run.get("split") or left_out or notes:
        body.append("<h2>Data</h2>")
        if dataset:
            body.append(f"<p>{_text(dataset.get('name'))}: {_text(dataset.get('n_tracks'))} tracks, "
                        f"{len(dataset.get('labels', []))} genres "
                        f"({_text(dataset.get('source') or dataset.get('root', ''))}).</p>")
        counts = (run.get("split") or {}).get("tracks_per_genre")
        if counts:
            genres = list(dict.fromkeys(genre for split in counts.values() for genre in split))
            rows = [[genre, *(split.get(genre, 0) for split in counts.values())] for genre in genres]
            rows.append(["total", *(sum(split.values()) for split in counts.values())])
            if run["split"].get("method") == "all":  # nothing held out: the k-fold CV is the score
                trained = counts.get("train", {})
                rows = [*([genre, trained.get(genre, 0)] for genre in genres), ["total", sum(trained.values())]]
                body.append("<p>Split: none; the model was trained on every track (--split all), and its k-fold "
                            "CV is its only score.</p>" + _table(["genre", "train"], rows))
            else:
                said = run["split"].get("protocol")  # how, and how far from the sizes asked, in the run's words
                body.append(f"<p>Split: {_text(said) if said else _text(run['split'].get('method'))}"
                            f"{'' if said else ', seed ' + _text(run['split'].get('seed'))}; "
                            "tracks (not chunks) are split.</p>" + _table(["genre", *counts], rows))
                uneven = run["split"].get("uneven_holdouts") or {}
                if uneven:  # whole artists kept together left these genres' parts far from the shares asked
                    body.append('<p class="bad">Held out far from the shares asked (whole artists kept together): '
                                + "; ".join(f"{_text(genre)}: " + ", ".join(
                                    f"{_text(part)} {_text(counts[0])} (asked {_text(counts[1])})"
                                    for part, counts in parts.items() if isinstance(counts, list) and len(counts) == 2)
                                    for genre, parts in uneven.items()) + ".</p>")
        bad = run.get("failures") or {}
        if left_out:
            items = [f"<li>{_text(reason)}</li>" for reason in bad.values()]
            items += [f"<li>{_text(p['path'])}: {_text(p['reason'])}</li>" for p in problems]
            items += [f"<li>{_text(path)}: a genre the model does not know</li>"
                      for path in run.get("unknown_genre_tracks", [])]
            body.append(f'<p class="bad">{len(items)} input(s) left out:</p><ul>{"".join(items)}</ul>')
        if notes:
            body.append("<p>Notes on the data (every track kept):</p><ul>"
                        + "".join(f"<li>{_text(p['path'])}: {_text(p['reason'])}</li>" for p in notes) + "</ul>")
    # Track lists and content hashes are for machines: the page shows the settings.
    config = {k: run[k] for k in ("features", "model", "best_params", "training", "aggregation") if k in run}
    for section in (config.get("model"), config.get("training")):
        if isinstance(section, dict):
            for key in ("track_ids", "content_sha256", "audio_sha256", "opening_sha256", "training"):
                section.pop(key, None)
    if config:
        # for reproducing the run, not for reading first: folded
        body.append("<h2>Configuration</h2><details><summary>the settings as recorded (JSON)</summary><pre>"
                    + html.escape(json.dumps(config, indent=1)[:6000]) + "</pre></details>")
    if cv and not metrics:  # --split all: the CV is the run's only score, so it comes first
        body[2:2] = _cv_section(cv, headline=True)
    elif cv:
        body += _cv_section(cv, headline=False)
    if (run_dir / "history.png").exists():
        body += ["<h2>Training curves</h2>", _image(run_dir / "history.png", "loss and accuracy per epoch")]
    if metrics:
        body.append("<h2>Where it fails</h2>")
        if (run_dir / "confusion_matrix.png").exists():
            body.append(_image(run_dir / "confusion_matrix.png", "confusion matrix"))
        if metrics.get("per_genre"):
            body.append("<h3>Per genre</h3>" + _genre_table(metrics["per_genre"],
                                                            ("precision", "recall", "f1", "support")))
        if "chunk_accuracy" in metrics:
            body.append("<h3>Chunks and tracks</h3>" + _table(["level", "accuracy", "macro F1", "n"], [
                ["track", metrics["accuracy"], metrics["f1_macro"], metrics["n"]],
                ["chunk", metrics["chunk_accuracy"], metrics.get("chunk_f1_macro"), metrics.get("chunk_n", "")]]))
    predictions = run_dir / "predictions.csv"
    if predictions.exists():
        frame = _read_predictions(predictions)
        wrong = frame[frame["true"] != frame["predicted"]].sort_values("confidence", ascending=False,
                                                                        kind="stable").head(n_wrong)
        body.append(f"<h3>Most confidently wrong tracks ({int((frame['true'] != frame['predicted']).sum())} wrong "
                    f"of {len(frame)})</h3>")
        if len(wrong):
            rows = "".join(
                f"<tr><td>{_text(r.get('track_id', ''))}</td><td>{_text(r['true'])}</td>"
                f"<td>{_text(r['predicted'])}</td><td>{r['confidence']:.2f}</td>"
                f"<td>{_audio_excerpt(r['path']) if r.get('path') else ''}</td></tr>"
                for r in wrong.to_dict("records"))
            body.append("<table><tr><th>track</th><th>genre</th><th>predicted</th><th>confidence</th>"
                        f"<th>listen (10 s)</th></tr>{rows}</table>")
        else:
            body.append("<p>None: every test track is right.</p>")
    if comparison:
        body.append("<h2>Model comparison</h2>")
        setup = comparison["setup"]
        grouping = f" {setup['grouping']}" if setup.get("grouping") else ""  # older runs do not say
        body.append(f"<p>{_text(setup.get('n_splits'))}-fold CV{_text(grouping)} "
                    f"on {_text(setup.get('source'))}.</p>")
        untrained = comparison.get("untrained_genres")
        if untrained:
            body.append(f'<p class="bad">{_text(untrained_words(untrained))}.</p>')
        if comparison.get("artists_shared"):  # GTZAN's clips in folds by track
            body.append(f'<p class="bad">Optimistic: {_text(comparison["artists_shared"])}</p>')
        if comparison.get("copies_across_folds"):
            copies = comparison["copies_across_folds"]
            body.append(f'<p class="bad">{len(copies)} pair(s) of tracks with identical feature rows (copies of one '
                        "recording) are on both sides of a fold, which flatters every model alike.</p>")
        left_out = comparison.get("left_out") or {}
        if left_out:
            body.append(f'<p class="bad">{len(left_out)} file(s) left out, no features:</p><ul>'
                        + "".join(f"<li>{_text(reason)}</li>" for reason in left_out.values()) + "</ul>")
        models = sorted(comparison["models"].items(),  # the most accurate first; a model without a figure last
                        key=lambda item: -math.inf if item[1]["accuracy_mean"] is None else item[1]["accuracy_mean"],
                        reverse=True)
        paired = comparison.get("paired") or {}
        against = {test["against"] for test in paired.values()}
        columns = ["model", "accuracy", "± sd", "macro F1", "fit s/fold"]
        # Holm's adjustment for the several tests against one best model (a comparison.json before 2026-12-07: none)
        holm = all("p_holm" in test for test in paired.values())
        p_column = f"p vs {next(iter(against))} (McNemar{', Holm' if holm else ''})" if len(against) == 1 else None
        body.append(_table(columns + ([p_column] if p_column else []),
                           [[name, r["accuracy_mean"], r["accuracy_std"], r["f1_macro_mean"], r["fit_seconds"]]
                            + ([_p_value(paired[name]["p_holm" if holm else "p_value"]) if name in paired else ""]
                               if p_column else [])
                            for name, r in models]))
        if (run_dir / "comparison.png").exists():
            body.append(_image(run_dir / "comparison.png", "model comparison"))
    if exploration:
        kmeans = exploration["kmeans"]
        body.append("<h2>The data, seen</h2>")
        counts = [_text(v) for v in (exploration["n_rows"], exploration["n_features"],
                                                 exploration["pca"]["components_for_90_percent"], kmeans["k"])]
        body.append(f"<p>{counts[0]} rows × {counts[1]} standardised features. "
                    f"{counts[2]} principal components hold 90% of the variance. "
                    f"k-means with k = {counts[3]}: adjusted Rand index {_number(kmeans['adjusted_rand_index'], '.3f')}, "
                    f"silhouette {_number(kmeans['silhouette'], '.3f')}.</p>")
        if exploration.get("held_out_caveat"):  # the permutation importance's held-out clips share artists
            body.append(f"<p><b>Optimistic:</b> {_text(exploration['held_out_caveat'])}</p>")
        for name, alt in (("pca", "PCA"), ("tsne", "t-SNE map"), ("kmeans", "k-means clusters against genres"),
                          ("importance", "permutation importance")):
            if (explore_dir / f"{name}.png").exists():
                body.append(_image(explore_dir / f"{name}.png", alt))
    if songs:
        body.append("<h2>Full songs</h2>")
        skip = songs.get("skip")
        skipped = (f"; {_number(skip, 'g')} s of intro and outro left out of long songs" if skip
                   else "; whole songs" if skip == 0 else "")
        top1_interval = _interval_words(songs.get("top1_ci95"), ".3f")
        top1_interval = f" ({top1_interval})" if top1_interval else ""
        body.append(f"<p>{_text(songs['n'])} songs ({_text(training_words({**songs, **run}))}{skipped}): "
                    f"top-1 {_number(songs['top1'], '.3f')}{top1_interval}, top-3 "
                    f"{_number(songs['top3'], '.3f')}, proportion score "
                    f"{_number(songs['proportion_score'], '.3f')}.</p>")
        body.append("<p>Top-1: the song's most probable genre is its own. Top-3: its own genre is among its three "
                    "most probable. Proportion score: the share of the song's analysed time whose genre is its "
                    "own, where that genre is among its three largest shares (else 0); averaged over each genre's "
                    "songs, then over the genres.</p>")
        if songs.get("near_training_clips"):  # ids of GTZAN clips next to training ones (songs.json)
            body.append(f'<p class="bad"><b>Optimistic:</b> '
                        f'{_text(near_training_words(len(songs["near_training_clips"]), songs["n"], "songs"))}</p>')
        body.append(_genre_table(songs["per_genre"], ("n", "top1", "top3", "proportion_score")))
    page = (f'<!doctype html><html lang="en"><head><meta charset="utf-8">'
            f'<meta http-equiv="Content-Security-Policy" content="{CSP}">'
            f'<meta name="viewport" content="width=device-width,initial-scale=1">'
            f"<title>{_text(title)}</title><style>{STYLE}</style><script>{SCRIPT}</script></head>"
            f"<body>{''.join(body)}</body></html>")
    out = Path(out) if out is not None else run_dir / "report.html"
    write_text_atomic(out, page)
    return out
