"""One self-contained HTML page per run folder: what was trained on what, how well it does,
and where it fails. Images and audio excerpts are embedded (data URIs) and a content
security policy forbids every external request, so the page opens offline as it is.
"""

from __future__ import annotations

import base64
import html
import io
import json
import os
import time
from pathlib import Path

import numpy as np
import pandas as pd

from genrekit import __version__
from genrekit.errors import ParameterError
from genrekit.evaluate.metrics import averaging_note
from genrekit.evaluate.report import PREDICTION_TEXT, training_words
from genrekit._files import from_spreadsheet_cell, write_text_atomic

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


def _text(value) -> str:
    """Any value as HTML text: user data (genre names, paths, reasons) never becomes markup."""
    return html.escape(str(value))


def _number(value, spec: str) -> str:
    """A figure of a results file formatted by ``spec``; "–" where the file has none (null:
    a metric with nothing to measure, :func:`genrekit._files.write_json`)."""
    return "–" if value is None or value != value else format(value, spec)


def _read_json(path: Path) -> dict | None:
    """A results file of the run folder, None where it is absent."""
    if not path.exists():
        return None
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError, RecursionError) as exc:  # RecursionError: JSON nested past Python's stack
        reason = "nested too deeply" if isinstance(exc, RecursionError) else str(exc)
        raise ParameterError(f"{path}: expected a genrekit results file (JSON), cannot read it ({reason})") from exc


def _image(path: Path, alt: str) -> str:
    data = base64.b64encode(path.read_bytes()).decode()
    return f'<img src="data:image/png;base64,{data}" alt="{html.escape(alt)}">'


def _audio_excerpt(path: str, *, seconds: float = 10.0) -> str:
    """An embedded Ogg Vorbis player of ``seconds`` from the middle of a file, or '' when unreadable."""
    import soundfile as sf

    from genrekit import audio
    from genrekit.errors import GenrekitError

    try:
        duration = audio.info(path).duration
        y, sr = audio.load(path, sr=22050, offset=max(0.0, duration / 2 - seconds / 2), duration=seconds)
    except GenrekitError:
        return ""
    buffer = io.BytesIO()
    sf.write(buffer, y, sr, format="OGG", subtype="VORBIS")
    data = base64.b64encode(buffer.getvalue()).decode()
    return f'<audio controls preload="none" src="data:audio/ogg;base64,{data}"></audio>'


def _table(frame: pd.DataFrame, *, floats: str = ".3f") -> str:
    head = "".join(f"<th>{_text(c)}</th>" for c in frame.columns)
    rows = []
    for _, row in frame.iterrows():
        cells = [_number(v, floats) if v is None or isinstance(v, (float, np.floating)) else _text(v) for v in row]
        rows.append("<tr>" + "".join(f"<td>{c}</td>" for c in cells) + "</tr>")
    return f"<table><tr>{head}</tr>{''.join(rows)}</table>"


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
    scope = ("Track accuracy (training tracks included)" if not held_out
             else "Track accuracy (training tracks may be included: the model does not list them)" if training_unknown
             else "Test-track accuracy" if any(shared) else "Held-out track accuracy")
    parts = [f"<b>{scope} {_number(metrics['accuracy'], '.1%')}</b> on {metrics['n']} tracks "
             f"({_chance_words(_supports(metrics))}); <b>balanced accuracy "
             f"{_number(metrics.get('balanced_accuracy'), '.1%')}</b> (each genre's recall weighs alike), macro F1 "
             f"{_number(metrics['f1_macro'], '.3f')}, top-3 accuracy {_number(metrics.get('top3_accuracy'), '.1%')}."]
    if any(shared):
        parts.append(f"<b>Optimistic:</b> the dataset's own split puts {shared[0]} artist(s) and {shared[1]} song(s) "
                     "with a copy on two sides, so some test tracks share an artist or a recording with training "
                     "tracks.")
    note = averaging_note(metrics)
    if note:
        parts.append(_text(note))
    if "chunk_accuracy" in metrics:
        parts.append(f"Per chunk: {_number(metrics['chunk_accuracy'], '.1%')} (tracks combine their chunks).")
    per_genre = metrics.get("per_genre", {})
    if per_genre:
        present = {g: r for g, r in per_genre.items() if r.get("support", 1) > 0}  # absent genres are not weak
        weakest = sorted(present.items(), key=lambda item: -1 if item[1]["f1"] is None else item[1]["f1"])[:3]
        parts.append("Weakest genres (F1): " + ", ".join(f"{_text(g)} {_number(r['f1'], '.2f')}" for g, r in weakest) + ".")
    matrix = np.array(metrics.get("confusion_matrix", []))
    if matrix.size:
        off = matrix.copy()
        np.fill_diagonal(off, 0)
        if off.max() > 0:
            i, j = np.unravel_index(off.argmax(), off.shape)
            parts.append(f"Most frequent confusion: {_text(labels[i])} taken for {_text(labels[j])} "
                         f"({off[i, j]} track(s)).")
    if metrics["n"] < 30:
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
        frame = pd.DataFrame(per_genre).T.reset_index().rename(columns={"index": "genre"})
        if "n" in frame:
            frame["n"] = frame["n"].astype(int)
        body.append(_table(frame))
    folds = cv.get("fold_accuracy")
    if folds:
        body.append("<p>Accuracy per fold: " + ", ".join(_number(a, ".1%") for a in folds) + ".</p>")
    return body


def write_html_report(run_dir: str | os.PathLike, out: str | os.PathLike | None = None, *, n_wrong: int = 5) -> Path:
    """``report.html`` for a run folder of ``train``, ``evaluate``, ``compare`` or ``explore``.

    Shows what is there: configuration, dataset and split sizes, training curves, metrics
    with a plain-words verdict, the k-fold CV (the verdict where nothing was held out),
    confusion matrix, per-genre report, chunk against track accuracy, the most confidently
    wrong tracks with an audio excerpt, the model comparison, exploration plots and
    full-song scores.
    """
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise ParameterError(f"{run_dir}: expected a run folder (the --out of train, evaluate, compare or explore)")
    run = _read_json(run_dir / "run.json") or {}
    metrics = _read_json(run_dir / "metrics.json")
    comparison = _read_json(run_dir / "comparison.json")
    explore_dir = run_dir if (run_dir / "explore.json").exists() else run_dir / "explore"
    exploration = _read_json(explore_dir / "explore.json")
    songs = _read_json(run_dir / "songs.json")
    cv = _read_json(run_dir / "cv.json")
    if not any((run, metrics, comparison, exploration, songs)):
        raise ParameterError(f"{run_dir}: no genrekit results found (run.json, metrics.json, comparison.json, "
                             "explore.json or songs.json)")
    model = run.get("model")
    model_name = model if isinstance(model, str) else next((model[k] for k in ("preset", "model", "name") if isinstance((model or {}).get(k), str)), "")
    command = run.get("command") or ("compare" if comparison else "explore" if exploration else
                                     "evaluate --songs" if songs else "run")
    title = f"genrekit {command}" + (f": {model_name}" if model_name else "")
    body = [f"<h1>{html.escape(title)}</h1>",
            f'<p class="muted">{_text(run_dir.resolve())} · report made {time.strftime("%Y-%m-%d %H:%M")} '
            f"by genrekit {__version__}</p>"]
    if metrics:
        split = run.get("split") if isinstance(run.get("split"), dict) else {}
        shared = (len(split.get("artists_across_splits") or ()), len(split.get("copies_across_splits") or ()))
        body.append(_verdict(metrics, held_out=not run.get("include_train", False), shared=shared,
                             training_unknown=bool(run.get("training_tracks_unknown"))))
    excluded = run.get("excluded_training_tracks")
    if excluded:
        body.append(f"<p>{len(excluded)} track(s) the model was trained on were left out of this evaluation.</p>")
    dataset = run.get("dataset")
    left_out = run.get("failures") or run.get("problems") or run.get("unknown_genre_tracks")
    if dataset or run.get("split") or left_out:
        body.append("<h2>Data</h2>")
        if isinstance(dataset, dict):
            body.append(f"<p>{_text(dataset.get('name'))}: {_text(dataset.get('n_tracks'))} tracks, "
                        f"{len(dataset.get('labels', []))} genres ({_text(dataset.get('root', ''))}).</p>")
        counts = (run.get("split") or {}).get("tracks_per_genre")
        if counts:
            frame = pd.DataFrame(counts).fillna(0).astype(int)
            frame.loc["total"] = frame.sum()
            body.append(f"<p>Split: {_text(run['split'].get('method'))}, "
                        f"seed {_text(run['split'].get('seed'))}; "
                        "tracks (not chunks) are split.</p>" + _table(frame.reset_index().rename(columns={"index": "genre"})))
        bad = {**run.get("failures", {})}
        if left_out:
            items = [f"<li>{_text(reason)}</li>" for reason in bad.values()]
            items += [f"<li>{_text(p['path'])}: {_text(p['reason'])}</li>" for p in run.get("problems", [])]
            items += [f"<li>{_text(path)}: a genre the model does not know</li>"
                      for path in run.get("unknown_genre_tracks", [])]
            body.append(f'<p class="bad">{len(items)} input(s) left out:</p><ul>{"".join(items)}</ul>')
    # Track lists and content hashes are for machines: the page shows the settings.
    config = {k: run[k] for k in ("features", "model", "best_params", "training", "aggregation") if k in run}
    for section in (config.get("model"), config.get("training")):
        if isinstance(section, dict):
            for key in ("track_ids", "content_sha256", "audio_sha256", "opening_sha256", "training"):
                section.pop(key, None)
    if config:
        body.append("<h2>Configuration</h2><pre>" + html.escape(json.dumps(config, indent=1)[:6000]) + "</pre>")
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
        per_genre = pd.DataFrame(metrics.get("per_genre", {})).T.reset_index().rename(columns={"index": "genre"})
        if len(per_genre):
            per_genre["support"] = per_genre["support"].astype(int)
            body.append("<h3>Per genre</h3>" + _table(per_genre))
        if "chunk_accuracy" in metrics:
            body.append("<h3>Chunks and tracks</h3>" + _table(pd.DataFrame({
                "level": ["track", "chunk"], "accuracy": [metrics["accuracy"], metrics["chunk_accuracy"]],
                "macro F1": [metrics["f1_macro"], metrics.get("chunk_f1_macro", float("nan"))],
                "n": [metrics["n"], metrics.get("chunk_n", "")]})))
    predictions = run_dir / "predictions.csv"
    if predictions.exists():
        # genres and ids are text: a genre called "NA" or "null" is not a missing value
        frame = pd.read_csv(predictions, keep_default_na=False, dtype={"track_id": str, "true": str, "predicted": str})
        for column in PREDICTION_TEXT:  # as written, before spreadsheets were kept from running them
            if column in frame.columns:
                frame[column] = frame[column].map(from_spreadsheet_cell)
        wrong = frame[frame["true"] != frame["predicted"]].sort_values("confidence", ascending=False).head(n_wrong)
        body.append(f"<h3>Most confidently wrong tracks ({int((frame['true'] != frame['predicted']).sum())} wrong "
                    f"of {len(frame)})</h3>")
        if len(wrong):
            rows = "".join(
                f"<tr><td>{_text(r.track_id)}</td><td>{_text(r.true)}</td>"
                f"<td>{_text(r.predicted)}</td><td>{r.confidence:.2f}</td>"
                f"<td>{_audio_excerpt(str(r.path)) if isinstance(r.path, str) and r.path else ''}</td></tr>"
                for r in wrong.itertuples())
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
        rows = pd.DataFrame([{"model": name, "accuracy": r["accuracy_mean"], "± sd": r["accuracy_std"],
                              "macro F1": r["f1_macro_mean"], "fit s/fold": r["fit_seconds"]}
                             for name, r in comparison["models"].items()]).sort_values("accuracy", ascending=False)
        body.append(_table(rows))
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
        for name, alt in (("pca", "PCA"), ("tsne", "t-SNE map"), ("kmeans", "k-means clusters against genres"),
                          ("importance", "permutation importance")):
            if (explore_dir / f"{name}.png").exists():
                body.append(_image(explore_dir / f"{name}.png", alt))
    if songs:
        body.append("<h2>Full songs</h2>")
        skip = songs.get("skip")
        skipped = (f"; {_number(skip, 'g')} s of intro and outro left out of long songs" if skip
                   else "; whole songs" if skip == 0 else "")
        body.append(f"<p>{_text(songs['n'])} songs ({_text(training_words({**songs, **run}))}{skipped}): "
                    f"top-1 {_number(songs['top1'], '.3f')}, top-3 {_number(songs['top3'], '.3f')}, proportion score "
                    f"{_number(songs['proportion_score'], '.3f')}.</p>")
        per_genre = pd.DataFrame(songs["per_genre"]).T.reset_index().rename(columns={"index": "genre"})
        per_genre["n"] = per_genre["n"].astype(int)  # a count: the transpose made every column float
        body.append(_table(per_genre))
    page = (f'<!doctype html><html lang="en"><head><meta charset="utf-8">'
            f'<meta http-equiv="Content-Security-Policy" content="{CSP}">'
            f'<meta name="viewport" content="width=device-width,initial-scale=1">'
            f"<title>{html.escape(title)}</title><style>{STYLE}</style><script>{SCRIPT}</script></head>"
            f"<body>{''.join(body)}</body></html>")
    out = Path(out) if out is not None else run_dir / "report.html"
    write_text_atomic(out, page)
    return out
