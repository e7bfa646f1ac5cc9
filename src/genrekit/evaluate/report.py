"""Writing results: JSON for scripts, Markdown for people, PNG for eyes. All writes are atomic."""

from __future__ import annotations

import os
import re
from pathlib import Path

import numpy as np

from genrekit._files import (path_given, save_figure, spreadsheet_csv,  # noqa: F401  (write_json: evaluate's API)
                             write_json, write_text_atomic)
from genrekit.errors import ParameterError
from genrekit.evaluate.metrics import averaging_note

# predictions.csv's columns of text from the user's files (ids, paths, genre names): escaped for
# spreadsheets (genrekit._files.spreadsheet_cell); the HTML report reads them back
PREDICTION_TEXT = ("track_id", "path", "true", "predicted")


def training_words(run: dict, *, unit: str = "song") -> str:
    """Whether the scored songs may include the model's training ones, in words, from a run's
    ``include_train``, ``training_tracks_unknown`` and ``excluded_training_tracks``, and, where
    training songs are included, how many of the ``n`` scored were trained on (``n_trained_on``,
    as ``metrics.json`` and ``songs.json`` hold them). ``unit``: ``song`` or ``track``."""
    def count(key: str):
        value = run.get(key)
        return value if isinstance(value, int) and not isinstance(value, bool) else None

    if run.get("include_train"):
        seen, n = count("n_trained_on"), count("n")
        if seen is not None and n is not None:
            return f"training {unit}s included: {seen} of {n} were trained on"
        if run.get("training_tracks_unknown"):
            return f"training {unit}s included: the model does not list which it was trained on"
        return f"training {unit}s included"
    if run.get("training_tracks_unknown"):
        return f"training {unit}s may be included: the model does not list them"
    excluded = len(run.get("excluded_training_tracks") or [])
    return f"{excluded} training {unit}(s) left out" if excluded else f"none of them a training {unit}"


def markdown_text(text) -> str:
    """Text from users' files (a genre, a model or file name) for a Markdown heading or line,
    shown as written: on one line, ``&``, ``<`` and ``>`` as entities (Markdown passes HTML
    through: a genre named ``<img onerror=...>`` ran as HTML where the file was rendered), and
    Markdown's own marks escaped (``![x](https://...)`` fetched an image)."""
    text = re.sub(r"([\\`*_\[\]!])", r"\\\1", str(text))
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace("\r", " ").replace("\n", " ")


def markdown_cell(text) -> str:
    """Text for a Markdown table cell (:func:`markdown_text`): a genre named "R|B" would
    otherwise split its row."""
    return markdown_text(text).replace("|", "\\|")


#: What metrics_markdown and plot_confusion read: classification_scores' keys.
METRICS_KEYS = ("n", "accuracy", "balanced_accuracy", "top3_accuracy", "f1_macro", "labels", "per_genre", "macro_avg",
                "weighted_avg", "confusion_matrix", "confusion_matrix_normalized")


def check_metrics(metrics) -> None:
    """A ParameterError unless ``metrics`` holds what the reports read (a dict made by hand
    failed as a KeyError of one of them, after metrics.json was written)."""
    if isinstance(metrics, dict) and set(METRICS_KEYS) <= set(metrics):
        return
    found = (f"a dict without {', '.join(k for k in METRICS_KEYS if k not in metrics)}" if isinstance(metrics, dict)
             else type(metrics).__name__)
    raise ParameterError(f"metrics: expected the scores of genrekit.evaluate.evaluation_metrics or "
                         f"classification_scores, found {found}")


def metrics_markdown(metrics: dict, *, title: str = "Evaluation") -> str:
    """A per-genre report and confusion matrix as Markdown tables.

    Parameters
    ----------
    metrics : dict
        As :func:`genrekit.evaluate.evaluation_metrics` (or
        :func:`genrekit.evaluate.classification_scores`). With ``chunk_accuracy`` in it, the
        summary table has a chunk row under the track row; the per-genre report and the
        confusion matrix are the tracks' either way.
    title : str
        The document's heading.

    Returns
    -------
    str
        The Markdown: a summary table (n, accuracy, balanced accuracy, top-3 accuracy, macro
        F1) and the accuracy's interval where ``metrics`` has ``accuracy_ci95``; precision,
        recall, F1 and support per genre with their macro and weighted averages, and the
        confusion matrix in counts (rows: true genre, columns: predicted); after the title,
        how the test tracks were held out where ``metrics`` has a ``protocol``. Ends with a
        newline.
    """
    check_metrics(metrics)
    lines = [f"# {markdown_text(title)}", ""]
    if isinstance(metrics.get("protocol"), str):  # how train held the test tracks out
        lines += [f"Test tracks: {markdown_text(metrics['protocol'])}.", ""]
    if metrics.get("near_training_clips"):  # the caveat that travels with the scores
        lines += [f"**Optimistic:** {near_training_words(metrics['near_training_clips'], metrics['n'])}", ""]
    levels = [("", "track" if "chunk_accuracy" in metrics else "")]
    if "chunk_accuracy" in metrics:
        levels.append(("chunk_", "chunk"))
    lines += ["| level | n | accuracy | balanced accuracy | top-3 accuracy | macro F1 |", "|---|---|---|---|---|---|"]
    for prefix, name in levels:
        lines.append(
            f"| {name or 'track'} | {metrics[prefix + 'n']} | {metrics[prefix + 'accuracy']:.3f} | "
            f"{metrics[prefix + 'balanced_accuracy']:.3f} | {metrics[prefix + 'top3_accuracy']:.3f} | "
            f"{metrics[prefix + 'f1_macro']:.3f} |"
        )
    if metrics.get("accuracy_ci95"):
        low, high = metrics["accuracy_ci95"]
        lines += ["", f"Track accuracy's 95% interval: {low:.3f}-{high:.3f} (Wilson, the {metrics['n']} tracks "
                  "taken as independent; tracks that share an artist or an album make the true interval wider)."]
    lines += ["", "## Per genre" + (" (tracks)" if len(levels) > 1 else ""), "",
              "| genre | precision | recall | F1 | support |", "|---|---|---|---|---|"]
    for label, row in metrics["per_genre"].items():
        cells = " | ".join("–" if row[k] is None else f"{row[k]:.3f}" for k in ("precision", "recall", "f1"))
        lines.append(f"| {markdown_cell(label)} | {cells} | {row['support']} |")
    for name in ("macro_avg", "weighted_avg"):
        row = metrics[name]
        lines.append(f"| *{name.replace('_', ' ')}* | {row['precision']:.3f} | {row['recall']:.3f} | {row['f1']:.3f} | |")
    note = averaging_note(metrics)
    if note:
        lines += ["", markdown_text(note)]
    labels = metrics["labels"]
    lines += ["", "## Confusion matrix (rows: true genre, columns: predicted)", "",
              "| true \\ predicted | " + " | ".join(map(markdown_cell, labels)) + " |", "|---" * (len(labels) + 1) + "|"]
    for label, row in zip(labels, metrics["confusion_matrix"]):
        lines.append(f"| {markdown_cell(label)} | " + " | ".join(str(v) for v in row) + " |")
    return "\n".join(lines) + "\n"


def plot_confusion(metrics: dict, path: str | os.PathLike, *, title: str = "") -> Path:
    """Counts and row-normalised confusion matrices side by side, as a PNG."""
    from matplotlib.figure import Figure  # not pyplot: a notebook's backend and figures stay its own

    labels = metrics["labels"]
    counts = np.asarray(metrics["confusion_matrix"])
    normalized = np.asarray(metrics["confusion_matrix_normalized"])
    # at most 15 inches a panel: 163 genres (FMA's) took a 20383 x 10191 px figure, 4.8 GB and more
    # than two minutes, and image viewers refused it; past 40 genres the cells are too small for counts
    size = min(15.0, max(6.0, 0.55 * len(labels) + 3))
    small = len(labels) > 40
    figure = Figure(figsize=(2 * size, size), layout="constrained")
    axes = figure.subplots(1, 2)
    if title:  # once, over both: a dataset's path and a note on training tracks make it long
        figure.suptitle(title, wrap=True)
    for axis, matrix, name, fmt in ((axes[0], counts, "counts", "d"), (axes[1], normalized, "row-normalised", ".2f")):
        image = axis.imshow(matrix, cmap="Blues", vmin=0, vmax=matrix.max() or 1)
        axis.set_xticks(range(len(labels)), labels, rotation=90 if small else 45, ha="center" if small else "right",
                        fontsize=4 if small else None)
        axis.set_yticks(range(len(labels)), labels, fontsize=4 if small else None)
        axis.set_xlabel("predicted genre")
        axis.set_ylabel("true genre")
        axis.set_title(f"confusion matrix ({name})")
        threshold = matrix.max() / 2 if matrix.max() else 1
        for i, j in [] if small else np.ndindex(matrix.shape):
            if matrix is normalized and not counts[i].any():  # no track of that genre: no share to show, not 0.00
                continue
            axis.text(j, i, format(matrix[i, j], fmt), ha="center", va="center",
                      color="white" if matrix[i, j] > threshold else "black", fontsize=8)
        figure.colorbar(image, ax=axis, shrink=0.7)
    return save_figure(figure, path, dpi=110)


def write_evaluation(metrics: dict, out_dir: str | os.PathLike, *, title: str = "Evaluation",
                     predictions=None) -> dict[str, Path]:
    """Write an evaluation's reports.

    Parameters
    ----------
    metrics : dict
        As :func:`genrekit.evaluate.evaluation_metrics`.
    out_dir : path
        The folder (made when missing).
    title : str
        The heading of ``metrics.md`` and ``confusion_matrix.png``.
    predictions : pandas.DataFrame, optional
        One row per track (see :func:`genrekit.evaluate.track_predictions`): also
        ``predictions.csv``, its local paths made absolute (a report run from another folder
        found no file at a relative one, and embedded no excerpt, or another file's).

    Returns
    -------
    dict[str, Path]
        ``metrics.json``, ``metrics.md``, ``confusion_matrix.png`` and, with ``predictions``,
        ``predictions.csv``: file name -> path.
    """
    check_metrics(metrics)
    out_dir = Path(path_given(out_dir, "out_dir"))
    written = {
        "metrics.json": write_json(out_dir / "metrics.json", metrics),
        "metrics.md": write_text_atomic(out_dir / "metrics.md", metrics_markdown(metrics, title=title)),
        "confusion_matrix.png": plot_confusion(metrics, out_dir / "confusion_matrix.png", title=title),
    }
    if predictions is not None:
        if "path" in predictions:
            from genrekit.audio.remote import is_url

            predictions = predictions.assign(path=[p if not isinstance(p, str) or not p or is_url(p)
                                                   else os.path.abspath(p) for p in predictions["path"]])
        written["predictions.csv"] = write_text_atomic(out_dir / "predictions.csv", spreadsheet_csv(
            predictions, PREDICTION_TEXT))
    return written


def _search_cell(row: dict) -> str:
    """How a comparison row's folds were tuned: ``nested``, in some of its folds only (a fold
    whose genres are too few tracks or artists for inner folds is fitted untuned), or ``none``."""
    if not row.get("search"):
        return "none"
    searched, folds = row.get("searched_folds"), len(row.get("fold_accuracy") or ())
    if searched is None or searched == folds:  # rows written before 2026-12-04 do not say
        return "nested"
    return f"nested in {searched} of {folds} folds" if searched else "none (too few tracks or artists for inner folds)"


def untrained_words(untrained: dict[str, list[str]]) -> str:
    """The genres folds test and do not train on (fold -> genres, as
    :func:`genrekit.evaluate.crossval.untrained_genres` finds them), in a sentence for the log and
    the reports."""
    said = "; ".join(f"fold {fold}: {', '.join(genres)}" for fold, genres in untrained.items())
    return (f"folds test genres their training part lacks ({said}): those tracks score 0 by construction in every "
            "model's accuracy (their genre's tracks are too few artists or groups to share between folds; fewer "
            "folds, or finer groups, let each fold learn every genre)")


def near_training_words(n_near: int, n: int, what: str = "tracks") -> str:
    """The caveat of scores on GTZAN clips next to ones the model was trained on."""
    return (f"{n_near} of the {n} {what} are GTZAN clips within 2 ids of a clip of their genre the model was trained "
            "on: adjacent ids are often one artist's, so these scores may overstate accuracy on other artists.")


def comparison_markdown(rows: list[dict], *, title: str) -> str:
    """Cross-validated models side by side as a Markdown table, the most accurate first.

    Parameters
    ----------
    rows : list of dict
        One per model, as :func:`genrekit.evaluate.compare_models` returns them: ``model``,
        ``accuracy_mean``, ``accuracy_std``, ``f1_macro_mean``, ``f1_macro_std``,
        ``fit_seconds`` (mean per fold) and ``search`` (true: nested randomized search).
    title : str
        The document's heading.

    Returns
    -------
    str
        The Markdown, rows sorted by ``accuracy_mean``, highest first. Ends with a newline.
    """
    lines = [f"# {markdown_text(title)}", "",
             "| model | accuracy (mean ± std) | macro F1 (mean ± std) | fit seconds / fold | search |",
             "|---|---|---|---|---|"]
    for row in sorted(rows, key=lambda r: -r["accuracy_mean"]):
        lines.append(
            f"| {markdown_cell(row['model'])} | {row['accuracy_mean']:.3f} ± {row['accuracy_std']:.3f} | "
            f"{row['f1_macro_mean']:.3f} ± {row['f1_macro_std']:.3f} | {row['fit_seconds']:.2f} | "
            f"{_search_cell(row)} |"
        )
    return "\n".join(lines) + "\n"
