"""``genrekit predict`` and ``tag``: the genres of songs and of whole libraries (and ``tag --undo``)."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from genrekit._files import line_shown
from genrekit.errors import ParameterError
from genrekit.cli.common import (
    AddressOption, EXISTING, EXIT_USAGE, JobsOption, MinConfidenceOption, ModelOption, MusicCheckOption, NON_NEGATIVE,
    POSITIVE, PREDICT_FORMATS, RunnerOption, WHOLE, _at_least, _choice, _cut, _file_or_folder, _finish, _input_paths,
    _model, _note, _note_training_files, _output_folder, _progress, _runner, _setting, _usage_error, app, err_console,
    out_console, write_output,
)


# From this many files, predict's table, json and csv (written once all are done) are worth a word on the others.
MANY_FILES = 500


@app.command()
def predict(
    files: Annotated[list[str] | None, typer.Argument(metavar="FILES", help="Audio files (songs of any length) or their URLs (s3://...), "
                                                          "folders (the audio files below them), or PNGs for image "
                                                          "networks; - reads their paths from stdin, one a line.", show_default=False)] = None,
    files_from: Annotated[str | None, typer.Option("--files-from", metavar="FILE", help="Also predict the files "
                                                   "listed in FILE, one path a line (- for stdin).")] = None,
    model_path: ModelOption = None,
    output_format: Annotated[str, typer.Option("--format", **_choice(*PREDICT_FORMATS, metavar="<format>"),
                                               help="table, json (one object "
                                               "per line, with the timeline and the styles, once all are done), jsonl "
                                               "(the same lines, each printed as its file finishes), csv (one row per "
                                               "file) or timeline (csv, one row per window or chunk).")] = "table",
    top: Annotated[int, typer.Option(**_at_least(1), help="How many genres to show per file.")] = 3,
    skip: Annotated[float, typer.Option(**NON_NEGATIVE, help="Seconds of intro and outro left out when the song is long enough.")] = 10.0,
    hop: Annotated[float | None, typer.Option(**POSITIVE, help="Seconds between chunk starts (default: the chunk "
                                              "length, back to back). Shorter overlaps the chunks; the timeline then "
                                              "shows chunks, not a model's ~6 s windows, which would count twice; "
                                              "each overlap counts once, split at its middle between its chunks.")] = None,
    segment: Annotated[float | None, typer.Option(**POSITIVE, help="Classical whole-clip models: seconds per chunk (default 30).")] = None,
    plot: Annotated[Path | None, typer.Option(help="Folder for one PNG per file: timeline and genre proportions.")] = None,
    min_confidence: MinConfidenceOption = None,
    music_check: MusicCheckOption = True,
    jobs: Annotated[int | None, typer.Option("--jobs", "-j", **_at_least(0), help="Files predicted at once, in worker "
                                             "processes (0: all cores; default 1, on Ray every CPU of the "
                                             "cluster).")] = None,
    runner: RunnerOption = "local",
    address: AddressOption = None,
) -> None:
    """Name the genres of songs: top genres, genre proportions and a timeline."""
    from genrekit.predict import formats, predict_files
    from genrekit.runners import default_jobs

    if not files and files_from is None:
        _usage_error("FILES: expected audio files (or - to read their paths from stdin, or --files-from), found none")
    if model_path is None and files:
        _model_given_as_a_song(files[0])
    model_path = _model(None, model_path, default="default")
    min_confidence = _setting("min_confidence", min_confidence, option="--min-confidence")
    runner = _runner(runner, jobs, address)  # on Ray, --jobs left out: every CPU of the cluster
    jobs = 1 if jobs is None else jobs
    paths = _input_paths(files or [], files_from)
    if output_format != "jsonl":  # all the paths first: the outputs are written once all are done
        paths = list(paths)
        if not paths:
            _usage_error(f"FILES: expected audio files, found none in {files_from or 'the list read from stdin'}")
        if len(paths) >= MANY_FILES:  # hours of work shown only at the end, and lost to a Ctrl+C
            _note(f"[yellow]note:[/] {len(paths)} files: {output_format} output comes once all are done, and predict "
                  "keeps nothing between runs; `--format jsonl` prints each as it finishes, and `genrekit tag FOLDER "
                  "--out tags.csv` keeps each and resumes", highlight=False)
    if plot is not None:
        _output_folder(plot, "--plot")
        plot.mkdir(parents=True, exist_ok=True)
    model = _load_with_segment(model_path, segment)
    if hop is not None and hop * model.sample_rate < 1:
        _usage_error(f"--hop {hop!r}: expected at least one sample at the model's {model.sample_rate} Hz "
                     f"({1 / model.sample_rate:.2g} s)")
    if hop is not None and hop > model.chunk_seconds + 1e-9:  # "analysed" gives the span, gaps and all
        _note(f"[yellow]note:[/] --hop {hop:g} is longer than {escape(model.name)}'s {model.chunk_seconds:g} s chunks: "
              f"{hop - model.chunk_seconds:g} s after each chunk is not analysed (the timeline shows the gaps)",
              highlight=False)
    if output_format == "jsonl":  # ends the command
        _predict_jsonl(model, paths, top=top, plot=plot, skip=skip, hop=hop, jobs=jobs,
                       runner=runner, segment=segment, min_confidence=min_confidence,
                       music_check=music_check)
    predictions, failures = predict_files(model, paths, skip=skip, hop_seconds=hop, progress=_progress(),
                                          n_jobs=jobs or default_jobs(), runner=runner,
                                          segment_seconds=segment, min_confidence=min_confidence,
                                          music_check=music_check)
    _note_training_files([p.path for p in predictions], model)
    top = min(top, len(model.labels))
    source = Path(model.source).name if isinstance(model.source, (str, os.PathLike)) else None
    shown = f"{model.name} ({source})" if source and source != model.name else model.name  # which file: ONNX or not
    output = formats.render(output_format, predictions, failures, labels=model.labels, model_name=shown, top=top,
                            order=paths)
    if isinstance(output, str):
        write_output(output, is_json=output_format == "json")
    elif output is not None:
        out_console.print(output)
    if plot is not None:  # after the results are out: a plot that cannot be written loses none of them
        used: set[str] = set()
        for p in predictions:
            _plot(p, plot, used, failures)
    _finish(len(predictions), failures)


def _genres_shown(genres: str | None, limit: int = 200) -> str | None:
    """A file's genres as a line shows them (:func:`_cut`; the results table keeps them whole)."""
    return None if genres is None else _cut(genres, limit)


def _files(n: int) -> str:
    return f"{n} file" if n == 1 else f"{n} files"


def _model_given_as_a_song(first: str) -> None:
    """A usage error where predict's first file is a model (as evaluate, export and serve take
    it first): the default model would name its genres, and the model fail as a song."""
    from genrekit.models.interface import model_named_by

    what = model_named_by(first)
    if what is None:
        return
    _usage_error(f"FILES: {first} is {what}, not a song; predict takes its model from --model: "
                 f"genrekit predict --model {first} SONG...")


def _load_with_segment(model_path: str, segment: float | None):
    """The model with ``--segment`` chunks: one too short for it is a usage error (exit 2)
    naming the option, and one other than it learned from is noted."""
    from genrekit.models import load

    try:
        model = load(model_path, segment_seconds=segment)
    except ParameterError as exc:
        if segment is not None and str(exc).startswith("segment_seconds="):  # the model's own limit
            _usage_error(f"--segment {segment:g}: {str(exc).partition(': ')[2]}")
        raise
    _note_segment(model, segment)
    return model


def _note_segment(model, segment: float | None) -> None:
    """A note where --segment gives a model chunks of another length than it learned from:
    its answers, and its calibrated confidence, are then its guesses about unfamiliar inputs."""
    learned = model.learned_chunk_seconds  # None: a network's chunks are its preset's (or unsaid)
    if segment is not None and learned is not None and abs(segment - learned) > 1e-6:
        _note(f"[yellow]note:[/] --segment {segment:g}: {escape(model.name)} learned from {learned:g} s chunks (its "
              "confidence was calibrated on them); its answers on other lengths may differ and be less reliable",
              highlight=False)


def _plot(prediction, folder: Path, used: set[str], failures: dict[str, str]) -> None:
    """One song's PNG; a write that fails is listed with the failures."""
    from genrekit.predict import plot_prediction

    path = _plot_path(folder, prediction.path, used)
    try:
        plot_prediction(prediction, path)
    except Exception as exc:  # a plot must not end the run: its results are out, or still to come (jsonl)
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else f"{type(exc).__name__}: {exc}"
        failures[f"{prediction.path} (plot)"] = f"{path}: plot not written: {reason}"
        return
    if path.name != f"{Path(prediction.path).stem}.png":  # a numbered (or shortened) name: say whose it is
        _note(f"plot of {escape(prediction.path)}: {escape(str(path))}", highlight=False, soft_wrap=True)


# A plot's file name keeps this much of the song's name: with "-N.png" and the temporary name
# of an atomic write, it stays within the 255 bytes most file systems allow.
PLOT_STEM_BYTES = 180


def _plot_path(folder: Path, song: str, used: set[str]) -> Path:
    """``folder/<song's stem>.png``; songs of the same name (in other folders, or other formats)
    get ``-2``, ``-3``... in the order they come, so no plot of this run replaces another. A
    name taken by a file genrekit did not write (cover art) is passed over likewise, never
    replaced; an earlier run's plot is replaced."""
    from genrekit._files import written_by_genrekit

    stem = Path(song).stem
    raw = stem.encode("utf-8", "surrogateescape")
    if len(raw) > PLOT_STEM_BYTES:  # cut at a character boundary; a name that is not UTF-8 keeps its bytes
        cut = PLOT_STEM_BYTES
        while cut and (raw[cut] & 0xC0) == 0x80:
            cut -= 1
        stem = raw[:cut].decode("utf-8", "surrogateescape")
    name, n = f"{stem}.png", 2
    while name in used or ((folder / name).exists() and not written_by_genrekit(folder / name)):
        name, n = f"{stem}-{n}.png", n + 1
    used.add(name)
    return folder / name


def _predict_jsonl(model, paths: Iterable[str], *, top: int, plot: Path | None, skip: float, hop: float | None,
                   jobs: int, runner, segment: float | None, min_confidence: float | None, music_check: bool) -> None:
    """``predict --format jsonl``: one JSON line per file, printed (and flushed) as it finishes, in
    the order they finish (the order given with --jobs 1); then exit as predict does."""
    from rich.progress import Progress

    from genrekit.predict.files import iter_predictions
    from genrekit.predict.formats import failure_line, json_line
    from genrekit.runners import default_jobs

    done: list[str] = []
    failures: dict[str, str] = {}
    top = min(top, len(model.labels))
    used: set[str] = set()
    # the lines go to stdout: rich would send them through its console, stderr, with stdout on a file
    with Progress(disable=not _progress(), console=err_console, redirect_stdout=sys.stdout.isatty()) as bar:
        task = bar.add_task("predicting", total=None)
        for path, prediction, error in iter_predictions(model, paths, skip=skip, hop_seconds=hop,
                                                        n_jobs=jobs or default_jobs(), runner=runner,
                                                        segment_seconds=segment, min_confidence=min_confidence,
                                                        music_check=music_check):
            if prediction is not None:
                write_output(json_line(prediction, top=top) + "\n", is_json=True)
                done.append(prediction.path)
                if plot is not None:
                    _plot(prediction, plot, used, failures)
            else:
                write_output(failure_line(path, error) + "\n", is_json=True)
                failures[path] = error
            bar.advance(task)
    if not done and not failures:
        _usage_error("FILES: expected audio files, found none in the list read")
    _note_training_files(done, model)
    _finish(len(done), failures)


@app.command()
def tag(
    library: Annotated[str | None, typer.Argument(metavar="LIBRARY", help="Music library folder (searched "
                                                  "recursively), or its URL (s3://bucket/music, read through "
                                                  "pyarrow).")] = None,
    model_path: ModelOption = None,
    results: Annotated[Path, typer.Option("--out", "-o", **_file_or_folder("genrekit-tags.csv"), help="Results "
                                          "table: .csv, .jsonl or .parquet, or a folder to write genrekit-tags.csv "
                                          "into (one ending in / is made if needed); re-running with the same file "
                                          "resumes.")] = Path("genrekit-tags.csv"),
    use_hash: Annotated[bool, typer.Option("--hash", help="Recognise files already done by content, not path+size+mtime.")] = False,
    skip: Annotated[float, typer.Option(**NON_NEGATIVE, help="Seconds of intro and outro left out when a song is long enough.")] = 10.0,
    segment: Annotated[float | None, typer.Option(**POSITIVE, help="Classical whole-clip models: seconds per chunk (default 30).")] = None,
    write_tags: Annotated[bool, typer.Option("--write-tags", help="Write the top genres into each file's metadata "
                                             "(with genrekit's provenance fields; undo with --undo).")] = False,
    existing: Annotated[str, typer.Option("--existing", **_choice(*EXISTING),
                                          help="With --write-tags, a genre a file has already: keep it "
                                          "(nothing written), replace it, or append ours after it.")] = "keep",
    dry_run: Annotated[bool, typer.Option("--dry-run", help="With --write-tags: show and record old -> new, write "
                                          "nothing; exit as the write would (3 when some would fail).")] = False,
    genres: Annotated[int, typer.Option("--genres", **WHOLE, help="With --write-tags: write up to N genres, the top one and the next "
                                        "most probable at or above --min-confidence (0.2 without it).")] = 1,
    styles: Annotated[bool, typer.Option("--styles", help="With --write-tags: add the styles the model found as further "
                                         "genre values.")] = False,
    separator: Annotated[str, typer.Option("--genre-separator", help="With --write-tags: joins the genres of an ID3v2.3 tag "
                                           "(one TCON value).")] = "; ",
    id3v2_version: Annotated[int | None, typer.Option("--id3v2-version", **_choice(3, 4), help="With --write-tags: save ID3v2 tags (mp3, "
                                                      "wav, aiff) as 2.3 or 2.4 (3 or 4); default: each file's "
                                                      "version, 2.4 for a new tag.")] = None,
    undo: Annotated[Path | None, typer.Option("--undo", **_file_or_folder("genrekit-tags.csv"), help="Put back the "
                                              "tags that the --write-tags runs with this results table (or a "
                                              "folder's genrekit-tags.csv) changed (no LIBRARY); run again to "
                                              "resume.")] = None,
    min_confidence: MinConfidenceOption = None,
    music_check: MusicCheckOption = True,
    jobs: JobsOption = 0,
    runner: RunnerOption = "local",
    address: AddressOption = None,
) -> None:
    """Tag a whole music library: genres of every audio file, written to a table as they finish."""
    from genrekit.predict.library import TABLE_FORMATS, tag_library

    if undo is not None:
        if library is not None or write_tags or dry_run:
            err_console.print(f"[red]error:[/] --undo {undo}: expected no LIBRARY, --write-tags or --dry-run with it "
                              "(it undoes the runs recorded beside that results table)")
            raise typer.Exit(EXIT_USAGE)
        _undo_tags(undo)
    if library is None:
        err_console.print("[red]error:[/] LIBRARY: expected a music library folder (or --undo RESULTS), found none")
        raise typer.Exit(EXIT_USAGE)
    if results.suffix not in TABLE_FORMATS:
        err_console.print(f"[red]error:[/] --out {escape(str(results))}: expected a results table named "
                          f"{', '.join(TABLE_FORMATS)}, found {escape(results.suffix or 'no extension')}")
        raise typer.Exit(EXIT_USAGE)
    _output_folder(results.parent, "--out")  # before any song is analysed
    if not write_tags:  # options that shape tag writes: silently ignored, they would suggest a write was previewed
        given = [option for option, on in (("--existing", existing != "keep"), ("--dry-run", dry_run),
                                           ("--genres", genres != 1), ("--styles", styles),
                                           ("--genre-separator", separator != "; "),
                                           ("--id3v2-version", id3v2_version is not None)) if on]
        if given:
            err_console.print(f"[red]error:[/] {', '.join(given)}: only with --write-tags (they shape the tags "
                              "written; add --write-tags, with --dry-run to preview)")
            raise typer.Exit(EXIT_USAGE)
    if genres < 1:
        err_console.print(f"[red]error:[/] --genres {genres}: expected a whole number of genres to write, at least 1")
        raise typer.Exit(EXIT_USAGE)
    if not separator.strip():
        err_console.print(f"[red]error:[/] --genre-separator {separator!r}: expected a separator with a visible "
                          "character, such as '; ' or '/'")
        raise typer.Exit(EXIT_USAGE)
    model_path = _model(None, model_path, default="default")
    min_confidence = _setting("min_confidence", min_confidence, option="--min-confidence")

    def show(change) -> None:
        if change.error:
            err_console.print(f"[yellow]tag:[/] {escape(line_shown(change.error))}", highlight=False)
        elif change.action in ("written", "would write"):
            verb = "would set" if change.action == "would write" else "set"
            note = f"; {change.note}" if change.note else ""  # a genre another tag keeps (--existing replace)
            out_console.print(line_shown(f"{change.path}: genre {_genres_shown(change.old) or '(none)'} -> "
                                         f"{_genres_shown(change.new)}")
                              + f" ({verb}{line_shown(note)})", highlight=False, markup=False)
        elif change.action == "kept":  # note: the genre an earlier genrekit run wrote, and how to tag it anew
            note = f"; {change.note}" if change.note else ""
            out_console.print(line_shown(f"{change.path}: genre {_genres_shown(change.old)}")
                              + f" kept (--existing keep{line_shown(note)})",
                              highlight=False, markup=False)

    if segment is not None:  # checked, and noted, before any work: the workers load the model themselves
        _load_with_segment(model_path, segment)
    summary = tag_library(library, model_path, results, n_jobs=jobs or None, use_hash=use_hash, skip=skip,
                          segment_seconds=segment, write_tags=write_tags, dry_run=dry_run, existing=existing,
                          progress=_progress(), on_tag_change=show, runner=_runner(runner, jobs, address),
                          min_confidence=min_confidence, genres=genres, styles=styles, separator=separator,
                          id3v2_version=id3v2_version, music_check=music_check)
    view = Table(title=escape(f"{_files(summary.n_files)} in {library}"))
    view.add_column("genre")
    view.add_column("files", justify="right")
    for genre, count in sorted(summary.genres.items(), key=lambda item: -item[1]):
        view.add_row(escape(genre), str(count))
    view.add_row("[red]failed[/] (not analysed)", str(summary.n_failed))
    out_console.print(view)
    # the whole table's counts, so a resumed run says what the library holds; then what this run added
    n_unknown = summary.genres.get("unknown", 0)  # predicted, but named no genre: not "with a genre"
    unknown_part = f"{n_unknown} unknown, " if n_unknown else ""
    out_console.print(f"{_files(summary.n_files)}: {summary.n_tagged - n_unknown} with a genre, {unknown_part}"
                      f"{summary.n_failed} failed; "
                      f"{summary.n_done_before} done by an earlier run, {summary.n_files - summary.n_done_before} "
                      f"now; {summary.seconds:.1f} s -> {summary.results}", markup=False)
    if summary.tag_actions:
        # the files left untagged against the request (refused, failed, changed since their
        # analysis) fail the run; a dry run's preview fails as its write would
        undone = (f"; {len(summary.tag_failures)} file(s) left untagged fail the "
                  f"{'preview, as they would the write' if dry_run else 'run'} (each said above, 'tag: ...')"
                  if summary.tag_failures else "")
        counts = ", ".join(f"{n} {action}" for action, n in sorted(summary.tag_actions.items()))
        out_console.print(f"genre tags: {counts}{undone}")
    if write_tags and summary.n_kept_before:  # decided by an earlier run (a dry run too): not this run's count
        out_console.print(f"{_files(summary.n_kept_before)} kept the genre they had, as an earlier run decided "
                          "(--existing keep)", markup=False)
    if summary.n_moved:  # notes, not results: -q leaves them out
        _note(f"{summary.n_moved} file(s) whose tags genrekit wrote were found moved or renamed; "
              f"{summary.results}'s journal follows them (tag --undo finds them there)", markup=False, highlight=False)
    if summary.n_written_before:
        _note(f"{summary.n_written_before} file(s) whose tags an earlier run wrote with other options are left as it "
              f"wrote them; to tag them with these: genrekit tag --undo {summary.results}, then this command again",
              markup=False, highlight=False)
    if summary.unknown:
        left = "their tags left untouched" if write_tags else "no genre named"
        out_console.print(f"[yellow]{len(summary.unknown)} file(s) with no genre tag of their own whose genre is "
                          f"'unknown' ({left}; not music, or below --min-confidence):[/]", highlight=False)
        for path in summary.unknown[:20]:
            out_console.print(f"  - {line_shown(path)}", highlight=False, soft_wrap=True, markup=False)  # unbroken, to copy
        if len(summary.unknown) > 20:
            out_console.print(f"  … and {len(summary.unknown) - 20} more (genre 'unknown' in {summary.results})",
                              markup=False)
    if summary.disagreements:
        out_console.print(f"[yellow]{len(summary.disagreements)} file(s) whose own genre tag the model confidently "
                          f"disputes[/] (often a mis-tag) -> {escape(str(summary.disagreements_path))}", highlight=False)
        for item in summary.disagreements[:10]:
            seen = " (trained on it)" if item.seen_in_training else ""
            out_console.print(f"  - {line_shown(item.path)}: tagged {line_shown('; '.join(item.owner_genres))}, model says "
                              f"{item.model_genre} ({item.confidence:.2f}){seen}", highlight=False, soft_wrap=True,
                              markup=False)
    # n_tagged: every file of the table with a genre, earlier runs too; a failed or refused tag write
    # (read-only, a full disk, a file changed since its analysis; in a dry run, one that would be)
    # fails its file as a failed prediction does: exit 3, or 1 when no file is left. Each was said
    # as it happened (show): not listed again.
    _finish(summary.n_tagged - len(summary.tag_failures), summary.failures, said=summary.tag_failures)


def _undo_tags(results: Path) -> None:
    """``tag --undo``: one line per file, then exit 0, 3 (some refused or failed) or 1 (all did)."""
    from genrekit.predict.library import undo_tags

    resized = []  # restored in value, not byte for byte (an MP4 that had no padding keeps mutagen's free atom)

    def show(record) -> None:
        if record.status == "restored":
            old = _genres_shown("; ".join(record.old or [])) or "(none)"
            new = _genres_shown("; ".join(record.new or [])) or "(none: removed)"
            before, after = ((record.write or {}).get("before") or {}).get("size"), (record.after or {}).get("size")
            apart = isinstance(before, int) and isinstance(after, int) and before != after
            if apart:
                resized.append(record.path)
            out_console.print(line_shown(f"{record.path}: genre {old} -> {new}") + " (restored" + (
                f"; its values, not its bytes: {after - before:+d} bytes from before genrekit's write)" if apart
                else ")"), highlight=False, markup=False)
        elif record.status in ("already undone", "nothing to undo"):
            out_console.print(f"{line_shown(record.reason)} ({record.status})", highlight=False, markup=False)

    summary = undo_tags(results, on_file=show)
    table = ("" if not summary.n_restored else f"; the rows of the files put back updated in {results}"
             if results.exists() else f"; no results table at {results} to update (its journal keeps the record)")
    out_console.print(f"{summary.n_restored} restored"
                      + (f" ({len(resized)} in value, not byte for byte: README, Genre tags)" if resized else "")
                      + f", {len(summary.failures)} refused or failed, "
                      f"{_files(len(summary.files))} in {results}'s journal; progress -> {summary.progress}{table}",
                      markup=False)
    _finish(len(summary.files) - len(summary.failures), summary.failures)
