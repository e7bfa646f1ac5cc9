"""``genrekit``: datasets check, features, train, evaluate, compare, predict, tag, explore, report, export.

Exit status: 0 success; 1 error (the message names the file or parameter), or every input
failed; 2 usage error (options are range-checked before any work); 3 partial failure (the
command finished, but some inputs were bad and are listed in its report); for
``datasets check``, 1 when problems are found.
"""

from __future__ import annotations

import csv
import io
import json
import logging
import math
import sys
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Annotated

import typer
from typer.core import TyperGroup
from rich.console import Console
from rich.logging import RichHandler
from rich.markup import escape
from rich.table import Table

from genrekit import __version__
from genrekit.cli.settings import Settings, SettingsError
from genrekit.errors import GenrekitError
from genrekit.models import catalogue

EXIT_OK, EXIT_ERROR, EXIT_USAGE, EXIT_PARTIAL = 0, 1, 2, 3

class _OneErrorHandler(TyperGroup):
    """Every command's genrekit errors end the same way: the message (which names the file or
    parameter) on stderr, exit status 1. Commands let them propagate."""

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except GenrekitError as exc:
            _fail(exc)


app = typer.Typer(help="Music genre recognition: datasets, features, models, evaluation, prediction.", cls=_OneErrorHandler,
                  no_args_is_help=True, add_completion=False, pretty_exceptions_enable=False)
datasets_app = typer.Typer(help="Inspect datasets.", no_args_is_help=True)
app.add_typer(datasets_app, name="datasets")
pretrained_app = typer.Typer(help="The pretrained musicnn networks shipped with genrekit.", no_args_is_help=True)
app.add_typer(pretrained_app, name="pretrained")

out_console = Console(soft_wrap=True)
err_console = Console(stderr=True, soft_wrap=True)



def _number(low: float | None = None, high: float | None = None, *, low_open: bool = False, high_open: bool = False,
            integer: bool = False):
    """A callback refusing a numeric option outside a range (and NaN or infinity) with a usage
    error (exit 2) naming the option and the value. (typer's ``min``/``max`` messages leave the
    value out, cannot say "> 0" and let NaN through.)"""
    show = str if integer else "{:g}".format
    bounds = [f"{'>' if low_open else '>='} {show(low)}" if low is not None else "",
              f"{'<' if high_open else '<='} {show(high)}" if high is not None else ""]
    expected = f"{'an integer' if integer else 'a finite number'} {' and '.join(b for b in bounds if b)}"

    def check(ctx: typer.Context, param: typer.CallbackParam, value: float | None) -> float | None:
        if value is None or ctx.resilient_parsing:
            return value
        bad = (not math.isfinite(value) or (low is not None and (value <= low if low_open else value < low))
               or (high is not None and (value >= high if high_open else value > high)))
        if bad:
            raise typer.BadParameter(f"{show(value)}: expected {expected}", ctx=ctx, param=param)
        return value

    return check


class _UsageError(typer.BadParameter):
    """A usage error (exit 2) whose message is shown as it is: it names the option itself."""

    def format_message(self) -> str:
        return self.message


def _choice(*values: str | int) -> dict:
    """Options of an enumerated value: the choices in ``--help`` (as ``<a|b|c>``) and a usage
    error (exit 2) naming the option, the value and the choices: ``--format 'xml': expected
    table, json, jsonl, csv or timeline``. (A ``Literal`` type would list them too, but its
    message does not say the option as genrekit's other usage errors do.)"""
    expected = ", ".join(map(str, values[:-1])) + (" or " if len(values) > 1 else "") + str(values[-1])

    def check(ctx: typer.Context, param: typer.CallbackParam, value):
        if value is None or ctx.resilient_parsing or value in values:
            return value
        shown = repr(value) if isinstance(value, str) else str(value)
        raise _UsageError(f"{param.opts[0]} {shown}: expected {expected}", ctx=ctx, param=param)

    return {"callback": check, "metavar": f"<{'|'.join(map(str, values))}>"}


# The choices of the enumerated options (the library's own lists, which tests/test_cli_conventions.py
# checks them against, are not imported here: they would bring numpy, pandas or scikit-learn along).
RUNNERS = ("local", "ray")
KINDS = ("auto", "gtzan", "folder", "manifest", "fma", "images", "tags")
SPLITS = ("random", "dataset", "gtzan-filtered", "all")
MULTI_GENRE = ("first", "all")
AGGREGATIONS = ("mean", "vote")
DEVICES = ("cpu", "cuda", "mps")
FEATURE_SETS = tuple(catalogue.FEATURE_SETS)
PREDICT_FORMATS = ("table", "json", "jsonl", "csv", "timeline")
EXISTING = ("keep", "replace", "append")
FRONTENDS = ("graph", "numpy")
LOG_LEVELS = ("critical", "error", "warning", "info", "debug", "trace")  # uvicorn's


def _at_least(low: int, high: int | None = None) -> dict:
    return {"callback": _number(low, high, integer=True)}


POSITIVE = {"callback": _number(0, low_open=True)}
NON_NEGATIVE = {"callback": _number(0)}
SEED = _at_least(0, 2**32 - 1)

OutOption = Annotated[Path, typer.Option("--out", "-o", help="Folder for the results (created if needed).")]
JobsOption = Annotated[int, typer.Option("--jobs", "-j", **_at_least(0), help="Worker processes (0: all cores).")]
RunnerOption = Annotated[str, typer.Option(**_choice(*RUNNERS), help="Where the work runs: local (a process pool) or "
                                           "ray (a Ray cluster).")]
AddressOption = Annotated[str | None, typer.Option(help="--runner ray: auto (this machine's cluster) or "
                                                        "ray://HOST:PORT; default: a local cluster on 127.0.0.1.")]
CacheOption = Annotated[
    Path | None, typer.Option("--cache", help="Feature cache folder (default: $GENREKIT_CACHE, else the config file's "
                              "cache, else ~/.cache/genrekit/features).")
]
NoCacheOption = Annotated[bool, typer.Option("--no-cache", help="Do not read or write the feature cache.")]
KindOption = Annotated[str, typer.Option("--kind", **_choice(*KINDS), help="Dataset kind: auto, gtzan, folder, manifest, "
                                         "fma, images (genre folders of spectrogram PNGs), tags (each file's own genre tag).")]
LabelsFromTagsOption = Annotated[bool, typer.Option("--labels-from-tags", help="Label each audio file below DATASET by its "
                                                    "own genre tag, wherever it sits (same as --kind tags).")]
GenreMapOption = Annotated[Path | None, typer.Option("--map", help="With tags: a CSV 'from,to' merging spellings "
                                                     "(Hip Hop,hiphop); matching ignores case.")]
MinPerGenreOption = Annotated[int, typer.Option("--min-per-genre", **_at_least(1), help="With tags: leave out (and "
                                                "list) genres with fewer files.")]
MultiGenreOption = Annotated[str, typer.Option("--multi-genre", **_choice(*MULTI_GENRE),
                                               help="With tags, a file with several genres: first (its "
                                               "first genre) or all (one example of each: multi-label).")]
FeaturesOption = Annotated[str, typer.Option("--features", "-f", **_choice(*FEATURE_SETS), help="Feature set (see "
                                           "`genrekit models`).")]
ExtractOption = Annotated[
    str, typer.Option("--features", "-f", **_choice(*FEATURE_SETS, "logmel"), help="A feature set (a table; see "
                      "`genrekit models`), or logmel (one .npz spectrogram per track).")
]
DeviceOption = Annotated[str, typer.Option(**_choice(*DEVICES), help="Networks: cpu, or cuda (or mps) when present.")]
AggregationOption = Annotated[
    str | None, typer.Option("--aggregation", **_choice(*AGGREGATIONS),
                             help="Chunks to track: mean (of probabilities) or vote (majority); "
                             "default: the model's own (mean).")
]
MinConfidenceOption = Annotated[
    float | None, typer.Option(callback=_number(0, 1), help="Below this top probability (0-1) the genre is 'unknown' "
                               "(the probabilities are still given); default: $GENREKIT_MIN_CONFIDENCE, else the "
                               "config file's min_confidence, else always the top genre.")
]
MODEL_DEFAULTS = "$GENREKIT_MODEL, else the config file's model (`genrekit config`)"
ModelOption = Annotated[str | None, typer.Option("--model", "-m", help="A model file (.genrekit, .safetensors or .onnx), "
                                                 "a run folder of `genrekit train`, or 'default': genrekit's own "
                                                 f"(docs/default-model.md). Default: {MODEL_DEFAULTS}, else 'default'.")]
ChunkOption = Annotated[
    float | None, typer.Option("--chunk", **POSITIVE, help="Seconds per chunk (e.g. 3); default: one vector per track.")
]


# -q/--quiet: stdout has the results, stderr only errors (and the list of inputs that failed);
# no progress bars, notes or warnings, and logging at ERROR. Set by the app's callback.
_quiet = False


def _setup_logging(verbose: bool, quiet: bool = False) -> None:
    logging.basicConfig(
        level=logging.ERROR if quiet else logging.INFO if verbose else logging.WARNING, format="%(message)s",
        handlers=[RichHandler(console=err_console, show_path=False)], force=True,
    )
    logging.captureWarnings(quiet)  # with --quiet, Python's warnings go to logging, below its ERROR level


def _progress() -> bool:
    return not _quiet and err_console.is_terminal


def _note(message: str, **options) -> None:
    """A note or warning on stderr (not a result, not an error): left out with --quiet."""
    if not _quiet:
        err_console.print(message, **options)


def _usage_error(message: str) -> None:
    err_console.print(f"[red]error:[/] {escape(message)}", highlight=False)
    raise typer.Exit(EXIT_USAGE)


def _settings() -> Settings:
    return Settings()


def _setting(key: str, given=None, *, option: str = "", default=None):
    """A setting's value: the option, else $GENREKIT_*, else the config file, else ``default``
    (a bad variable or file: a usage error naming it)."""
    try:
        return _settings().get(key, given, option=option, default=default).value
    except SettingsError as exc:
        _usage_error(str(exc))


def _cache(cache: Path | None, no_cache: bool):
    from genrekit.features import FeatureCache, default_cache_dir

    if no_cache:
        return None
    return FeatureCache(_setting("cache", cache, option="--cache") or default_cache_dir())


def _fail(exc: GenrekitError) -> None:
    err_console.print(f"[bold red]error:[/] {escape(str(exc))}", highlight=False)
    raise typer.Exit(EXIT_ERROR)


def _runner(name: str, jobs: int, address: str | None, *, preload: list[str] | None = None):
    """The runner for --runner/--address (None: the command's own local pool)."""
    from genrekit.runners import get_runner

    if name == "local" and not address:
        return None
    return get_runner(name, jobs=jobs or None, address=address, preload=preload or [])


def _report_failures(failures: dict[str, str], problems: list | None = None) -> bool:
    problems = problems or []
    if not failures and not problems:
        return False
    err_console.print(f"[yellow]{len(failures)} file(s) failed and {len(problems)} dataset problem(s); left out:[/]")
    for reason in failures.values():
        err_console.print(f"  - {escape(reason)}", highlight=False)
    for problem in problems:
        path, reason = (problem["path"], problem["reason"]) if isinstance(problem, dict) else (problem.path, problem.reason)
        err_console.print(f"  - {escape(f'{path}: {reason}')}", highlight=False)
    return True


def _finish(n_done: int, failures: dict[str, str]) -> None:
    """Exit after listing the failures: 0 when nothing failed, 3 when some inputs did,
    1 when every input did (nothing was done)."""
    if not _report_failures(failures):
        raise typer.Exit(EXIT_OK)
    raise typer.Exit(EXIT_PARTIAL if n_done else EXIT_ERROR)


def _load_dataset(path: Path, kind: str, *, labels_from_tags: bool = False, genre_map: Path | None = None,
                  min_per_genre: int = 1, multi_genre: str = "first"):
    from genrekit.datasets import load_dataset, read_genre_map

    if labels_from_tags and kind not in ("auto", "tags"):
        err_console.print(f"[red]error:[/] --labels-from-tags with --kind {kind}: expected one of them (they say the "
                          "same: --kind tags)")
        raise typer.Exit(EXIT_USAGE)
    kind = "tags" if labels_from_tags else kind
    mapping = read_genre_map(genre_map) if genre_map is not None else None
    return load_dataset(path, kind=kind, genre_map=mapping, min_per_genre=min_per_genre, multi=multi_genre)


def _print_taxonomy(taxonomy) -> None:
    """A tag library's genres: files and spellings of each, and what was left aside."""
    table = Table(title="genres in the files' own tags")
    for column in ("genre", "files", "spellings found"):
        table.add_column(column, justify="right" if column == "files" else "left")
    for genre, count in sorted(taxonomy.counts.items(), key=lambda item: -item[1]):
        spellings = taxonomy.spellings.get(genre, {})
        table.add_row(genre, str(count), ", ".join(f"{name} ({n})" for name, n in spellings.items()))
    out_console.print(table)
    notes = [("left out (fewer files than --min-per-genre)",
              [f"{genre}: {n} file(s)" for genre, n in taxonomy.left_out.items()]),
             ("look like spellings of one genre (merge with --map)", [" / ".join(g) for g in taxonomy.near_duplicates])]
    for title, items in notes:
        if items:
            out_console.print(f"[bold yellow]{title} ({len(items)})[/]")
            for item in items:
                out_console.print(f"  - {item}", highlight=False)
    out_console.print(f"{len(taxonomy.untagged)} file(s) without a genre tag (the ones to fill in), "
                      f"{len(taxonomy.by_genrekit)} tagged by genrekit (not learned from), "
                      f"{taxonomy.multi_genre} with several genres", highlight=False)
    if taxonomy.placeholders:
        out_console.print("placeholders ignored (not genres): " + ", ".join(
            f"{name} ({n})" for name, n in taxonomy.placeholders.items()), highlight=False)


def _note_training_files(paths: list[str], model) -> None:
    """Say which files the model was trained on: their predictions say nothing of its accuracy."""
    from genrekit.models import exclude_training

    _, seen = exclude_training(paths, model)
    if seen:
        _note(f"[yellow]note:[/] {len(seen)} of these files were in the model's training data, so their "
                          f"predictions say nothing about its accuracy: {', '.join(Path(p).name for p in seen[:5])}"
                          f"{', …' if len(seen) > 5 else ''}", highlight=False)


def _model(positional: str | None, option: str | None, *, default: str | None) -> str:
    """The model named by MODEL or --model (not both), else $GENREKIT_MODEL, else the config
    file's ``model``, else ``default``."""
    if positional is not None and option is not None:
        _usage_error(f"MODEL {positional} and --model {option}: expected one of them, found both")
    given, name = (positional, "MODEL") if positional is not None else (option, "--model")
    value = _setting("model", given, option=name, default=default)
    if value is None:
        _usage_error("MODEL: expected a model (MODEL, --model, $GENREKIT_MODEL or the config file's model), found none")
    return value


def _read_paths(source: str) -> Iterator[str]:
    """The paths listed in a file (``-``: stdin), one a line, read as they are needed (blank lines
    skipped; nothing else is stripped: a name may begin or end with spaces)."""
    if source == "-":
        stream = sys.stdin
    else:
        try:
            stream = open(source, encoding="utf-8")  # noqa: SIM115 - read lazily, closed below
        except OSError as exc:
            _usage_error(f"--files-from {source}: cannot read the list of files: {exc.strerror or exc}")
    try:
        for line in iter(stream.readline, ""):
            line = line.rstrip("\r\n")
            if line:
                yield line
    finally:
        if stream is not sys.stdin:
            stream.close()


def _input_paths(files: list[str], files_from: str | None) -> Iterator[str]:
    """FILES, where ``-`` stands for the paths read from stdin, then the paths of --files-from."""
    for name in files:
        yield from _read_paths("-") if name == "-" else (name,)
    if files_from is not None:
        yield from _read_paths(files_from)


def _spec(features: str, chunk: float | None):
    from genrekit.features import FeatureSpec

    return FeatureSpec(name=features, chunk_duration=chunk)


def _print_version(value: bool) -> None:
    # Eager: runs while the options are parsed, before click asks for a command.
    if value:
        out_console.print(__version__, highlight=False)
        raise typer.Exit(EXIT_OK)


@app.callback()
def _main(
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Log progress details.")] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Only results (stdout) and errors (stderr): no progress "
                                        "bars, notes or warnings.")] = False,
    version: Annotated[bool, typer.Option("--version", help="Print the version and exit.", is_eager=True,
                                          callback=_print_version)] = False,
) -> None:
    global _quiet
    if verbose and quiet:
        _usage_error("-v/--verbose and -q/--quiet: expected one of them, found both")
    _quiet = quiet
    _setup_logging(verbose, quiet)


@datasets_app.command("check")
def datasets_check(
    path: Annotated[Path, typer.Argument(help="Dataset folder or CSV manifest.")],
    kind: KindOption = "auto",
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
    out: Annotated[Path | None, typer.Option("--out", "-o", help="Also write check.json here.")] = None,
    labels_from_tags: LabelsFromTagsOption = False,
    genre_map: GenreMapOption = None,
    min_per_genre: MinPerGenreOption = 1,
    multi_genre: MultiGenreOption = "first",
) -> None:
    """Counts per genre, durations, unreadable files, duplicates, suspicious labels; with
    tags, the taxonomy of the files' own genre tags."""
    from genrekit.datasets import check_dataset
    from genrekit.evaluate import write_json

    dataset = _load_dataset(path, kind, labels_from_tags=labels_from_tags, genre_map=genre_map,
                            min_per_genre=min_per_genre, multi_genre=multi_genre)
    report = check_dataset(dataset, progress=_progress())
    data = report.to_dict()
    if out is not None:
        write_json(out / "check.json", data)
    if as_json:
        print(json.dumps(data, indent=2))
    else:
        table = Table(title=f"{report.dataset}: {report.n_tracks} tracks in {report.root}")
        for column in ("genre", "tracks", "min s", "median s", "max s"):
            table.add_column(column, justify="left" if column == "genre" else "right")
        for label, count in report.counts.items():
            d = report.durations.get(label, {})
            table.add_row(label, str(count), *(f"{d[k]:.1f}" if k in d else "-" for k in ("min", "median", "max")))
        out_console.print(table)
        if dataset.taxonomy is not None:
            _print_taxonomy(dataset.taxonomy)
        sections = [("unreadable files", [f"{p.path}: {p.reason}" for p in report.unreadable]),
                    ("exact duplicates (same audio)", [" = ".join(g) for g in report.duplicates]),
                    ("suspicious", [f"{p.path}: {p.reason}" for p in report.suspicious]),
                    ("layout problems", [f"{p.path}: {p.reason}" for p in report.layout])]
        for title, items in sections:
            if items:
                out_console.print(f"[bold yellow]{title} ({len(items)})[/]")
                for item in items:
                    out_console.print(f"  - {item}", highlight=False)
        out_console.print("[green]no problems found[/]" if report.ok else "[red]problems found[/]")
    raise typer.Exit(EXIT_OK if report.ok else EXIT_ERROR)


@app.command()
def features(
    dataset: Annotated[Path, typer.Argument(help="Dataset folder or CSV manifest.")],
    out: OutOption,
    feature_set: ExtractOption = "fma518",
    chunk: ChunkOption = None,
    n_mels: Annotated[int, typer.Option(**_at_least(1), help="logmel: mel bands.")] = 128,
    hop_length: Annotated[int, typer.Option(**_at_least(1), help="logmel: hop in samples.")] = 512,
    n_fft: Annotated[int, typer.Option(**_at_least(1), help="logmel: FFT size.")] = 2048,
    kind: KindOption = "auto",
    jobs: JobsOption = 0,
    cache: CacheOption = None,
    no_cache: NoCacheOption = False,
    runner: RunnerOption = "local",
    address: AddressOption = None,
) -> None:
    """Extract a feature table (features.csv), or log-mel spectrograms; cached and resumable."""
    from genrekit.datasets import build_feature_table, feature_frame
    from genrekit.evaluate import write_json
    from genrekit.evaluate.report import write_text_atomic

    if feature_set == "logmel":
        _logmel(dataset, out, kind=kind, n_mels=n_mels, hop_length=hop_length, n_fft=n_fft)
    data = _load_dataset(dataset, kind)
    spec = _spec(feature_set, chunk)
    table, result = build_feature_table(data, spec, cache=_cache(cache, no_cache), n_jobs=jobs, progress=_progress(),
                                        runner=_runner(runner, jobs, address, preload=["genrekit.features.extract"]))
    write_text_atomic(out / "features.csv", feature_frame(table).to_csv(float_format="%.10e"))
    problems = [{"path": p.path, "reason": p.reason} for p in data.problems]
    write_json(out / "run.json", {"command": "features", "genrekit_version": __version__, "features": spec.to_dict(),
                                  "dataset": data.name, "n_tracks": len(table.paths), "n_rows": int(len(table.y)),
                                  "cache_hits": result.cache_hits, "failures": table.failures, "problems": problems})
    out_console.print(f"{len(table.paths)} tracks, {len(table.y)} rows x {table.X.shape[1]} {spec.name} features "
                      f"-> {out / 'features.csv'} ({result.cache_hits} from cache)")
    raise typer.Exit(EXIT_PARTIAL if _report_failures(table.failures, problems) else EXIT_OK)


def _logmel(dataset: Path, out: Path, *, kind: str, n_mels: int, hop_length: int, n_fft: int) -> None:
    """One ``logmel/<track_id>.npz`` per track (spectrogram + parameters); existing files are kept."""
    from rich.progress import Progress

    from genrekit import audio
    from genrekit.evaluate import write_json
    from genrekit.features import LogMelSpec

    data = _load_dataset(dataset, kind)
    spec = LogMelSpec(n_mels=n_mels, hop_length=hop_length, n_fft=n_fft)
    folder = out / "logmel"
    failures: dict[str, str] = {}
    with Progress(disable=not _progress()) as bar:
        task = bar.add_task("logmel", total=len(data.tracks))
        for track in data.tracks:
            target = folder / f"{track.track_id}.npz"
            if not target.exists():  # resume: finished spectrograms are not recomputed
                try:
                    y, sr = audio.load(track.path, sr=spec.sample_rate)
                except GenrekitError as exc:
                    failures[track.path] = str(exc)
                else:
                    target.parent.mkdir(parents=True, exist_ok=True)
                    temporary = target.with_name(f".{target.stem}.tmp.npz")
                    spec.save(temporary, spec.compute(y, sr))
                    temporary.replace(target)
            bar.advance(task)
    problems = [{"path": p.path, "reason": p.reason} for p in data.problems]
    write_json(out / "run.json", {"command": "features", "genrekit_version": __version__, "features": "logmel",
                                  "params": json.loads(spec.to_json()), "dataset": data.name,
                                  "n_tracks": len(data.tracks) - len(failures), "failures": failures, "problems": problems})
    out_console.print(f"{len(data.tracks) - len(failures)} log-mel spectrograms -> {folder}")
    raise typer.Exit(EXIT_PARTIAL if _report_failures(failures, problems) else EXIT_OK)


@app.command()
def train(
    dataset: Annotated[Path, typer.Argument(help="Dataset folder or CSV manifest.")],
    out: OutOption,
    model: Annotated[str, typer.Option("--model", "-m", **_choice(*catalogue.CLASSICAL, *catalogue.NETWORKS),
                                       help="Model or network name (see `genrekit models`); default: "
                                       "musicnn-prior, the strongest on small datasets.")] = "musicnn-prior",
    feature_set: Annotated[str | None, typer.Option("--features", "-f", **_choice(*FEATURE_SETS), help="Feature set "
                                                    "(default: the model's own; fma518 for most).")] = None,
    chunk: ChunkOption = None,
    split: Annotated[str | None, typer.Option(**_choice(*SPLITS),
                                              help="random (80/10/10 of each genre, rounded, by track/artist: 8 clips "
                                              "split 6/1/1), dataset (its own), gtzan-filtered, all (nothing held "
                                              "out: scored by the k-fold CV). Default: random; all with tags.")] = None,
    search: Annotated[bool, typer.Option("--search", help="Tune hyperparameters by randomized grouped CV.")] = False,
    cv: Annotated[bool, typer.Option("--cv/--no-cv", help="Classical models on datasets of at most 1000 tracks (any "
                                     "size with --split all): also score by 5-fold CV over all tracks, grouped by "
                                     "artist where known (cv.json).")] = True,
    n_iter: Annotated[int, typer.Option(**_at_least(1), help="Search iterations.")] = 20,
    seed: Annotated[int, typer.Option(**SEED, help="Seed for splits and models.")] = 0,
    epochs: Annotated[int, typer.Option(**_at_least(1), help="Networks: maximum epochs.")] = 30,
    batch_size: Annotated[int | None, typer.Option(**_at_least(1), help="Networks: batch size (default: the preset's).")] = None,
    device: DeviceOption = "cpu",
    resume: Annotated[bool, typer.Option("--resume", help="Networks: continue from OUT/checkpoint.safetensors.")] = False,
    aggregation: AggregationOption = None,
    time_stretch: Annotated[float, typer.Option(callback=_number(0, 1, high_open=True), help="Networks: time-stretch training audio by up to this rate "
                                                "change (0.1: rates 0.9-1.1).")] = 0.0,
    pitch_shift: Annotated[float, typer.Option(callback=_number(0, 12), help="Networks: pitch-shift training audio by up to this many "
                                               "semitones.")] = 0.0,
    augment_copies: Annotated[int, typer.Option(**_at_least(1), help="Networks: altered copies per training track.")] = 1,
    kind: KindOption = "auto",
    labels_from_tags: LabelsFromTagsOption = False,
    genre_map: GenreMapOption = None,
    min_per_genre: MinPerGenreOption = 1,
    multi_genre: MultiGenreOption = "first",
    jobs: JobsOption = 0,
    cache: CacheOption = None,
    no_cache: NoCacheOption = False,
) -> None:
    """Train a model, evaluate it on held-out test tracks, write the model file and reports.

    With --labels-from-tags, a music library is the dataset: each file's own genre tag is its
    label; by default every tagged file is trained on, scored by k-fold CV grouped by the
    artist tag, and disagreements.csv lists the files whose tag the CV model confidently disputes.
    """
    from genrekit.models import model_file
    from genrekit.train import train as train_recipe

    data = _load_dataset(dataset, kind, labels_from_tags=labels_from_tags, genre_map=genre_map,
                         min_per_genre=min_per_genre, multi_genre=multi_genre)
    if data.taxonomy is not None:
        _print_taxonomy(data.taxonomy)
    split = split or ("all" if data.taxonomy is not None else "random")
    result = train_recipe(data, model=model, features=feature_set, chunk=chunk, split=split, seed=seed,
                          search=search, n_iter=n_iter, cv=cv, aggregation=aggregation or "mean",
                          cache=_cache(cache, no_cache), n_jobs=jobs, epochs=epochs, batch_size=batch_size,
                          device=device, time_stretch=time_stretch, pitch_shift=pitch_shift,
                          augment_copies=augment_copies, resume=resume, progress=_progress(), out_dir=out)
    metrics = result.metrics
    if metrics:
        chunk_note = f", chunk accuracy {metrics['chunk_accuracy']:.3f}" if "chunk_accuracy" in metrics else ""
        out_console.print(f"test tracks: {metrics['n']}, accuracy {metrics['accuracy']:.3f}, "
                          f"macro F1 {metrics['f1_macro']:.3f}{chunk_note}")
    if result.cv:
        scores = result.cv
        copies = " (a file with several genres counts once per genre)" if multi_genre == "all" else ""
        out_console.print(f"{scores['protocol']}: accuracy {scores['accuracy_mean']:.3f} ± {scores['accuracy_std']:.3f}, "
                          f"balanced {scores['balanced_accuracy_mean']:.3f} (the steadier figure on a small "
                          f"dataset){copies}")
        if data.taxonomy is not None and scores.get("per_genre"):
            _print_per_genre(scores["per_genre"])
    if result.disagreements:
        out_console.print(f"[yellow]{len(result.disagreements)} file(s) whose label the cross-validated model "
                          f"confidently disputes[/] (often a mis-tag; {out / 'disagreements.csv'}):", highlight=False)
        for item in result.disagreements[:10]:
            out_console.print(f"  - {item.path}: tagged {'; '.join(item.owner_genres)}, model says "
                              f"{item.model_genre} ({item.confidence:.2f})", highlight=False, soft_wrap=True)
    out_console.print(f"model -> {model_file(out)}; reports in {out}")
    raise typer.Exit(EXIT_PARTIAL if _report_failures(result.failures, result.problems) else EXIT_OK)


def _print_per_genre(per_genre: dict[str, dict]) -> None:
    table = Table(title="what it learned, per genre (out-of-fold)")
    for column in ("genre", "files", "recall", "precision"):
        table.add_column(column, justify="left" if column == "genre" else "right")
    cell = lambda v: "-" if v is None else f"{v:.2f}"  # noqa: E731
    for genre, scores in per_genre.items():
        table.add_row(genre, str(scores["n"]), cell(scores["recall"]), cell(scores["precision"]))
    out_console.print(table)


@app.command()
def evaluate(
    first: Annotated[str | None, typer.Argument(metavar="MODEL", help="A model file (.genrekit, .safetensors or .onnx), "
                                         "a run folder of `genrekit train`, or 'default' (genrekit's own); or use "
                                         "--model, and give DATASET only.", show_default=False)] = None,
    second: Annotated[str | None, typer.Argument(metavar="DATASET", help="Labelled dataset folder or CSV manifest.",
                                                 show_default=False)] = None,
    out: OutOption = ...,
    model_option: ModelOption = None,
    include_train: Annotated[bool, typer.Option("--include-train", help="Also score tracks the model was trained on.")] = False,
    aggregation: AggregationOption = None,
    songs: Annotated[bool, typer.Option("--songs", help="Full-song scores: top-1/top-3 hit rates and the proportion "
                                        "score (songs.json|md|csv).")] = False,
    skip: Annotated[float, typer.Option(**NON_NEGATIVE, help="Seconds of intro and outro left out when a song is long "
                                        "enough (as `predict`).")] = 10.0,
    kind: KindOption = "auto",
    jobs: Annotated[int, typer.Option("--jobs", "-j", **_at_least(0), help="Tracks analysed at once, in worker "
                                      "processes (0: all cores).")] = 0,
    cache: Annotated[Path | None, typer.Option("--cache", hidden=True, help="Ignored: evaluate analyses the audio "
                                               "as predict does.")] = None,
    no_cache: Annotated[bool, typer.Option("--no-cache", hidden=True, help="Ignored.")] = False,
) -> None:
    """Score any model on a labelled dataset: metrics.json|md, confusion matrix, predictions.

    Each track is analysed as `genrekit predict` analyses it, so its probabilities are the ones predict gives."""
    from genrekit.evaluate import evaluate_model, evaluate_songs
    from genrekit.runners import default_jobs

    given, dataset = (first, second) if second is not None else (None, first)  # [MODEL] DATASET
    if dataset is None:
        _usage_error("DATASET: expected a labelled dataset folder or CSV manifest, found none")
    model_path = _model(given, model_option, default="default")
    data = _load_dataset(Path(dataset), kind)
    if songs:
        metrics, report = evaluate_songs(model_path, data, skip=skip, include_train=include_train,
                                         jobs=jobs or default_jobs(), progress=_progress(), out_dir=out)
    else:
        metrics, report = evaluate_model(model_path, data, include_train=include_train, aggregation=aggregation,
                                         skip=skip, jobs=jobs or default_jobs(), progress=_progress(), out_dir=out)
    if report["excluded_training_tracks"]:
        _note(f"{len(report['excluded_training_tracks'])} track(s) the model was trained on were left out "
                          "(--include-train to keep them)")
    if not metrics:
        err_console.print("[red]no track left to evaluate[/]")
        raise typer.Exit(EXIT_ERROR)
    if songs:
        out_console.print(f"{metrics['n']} songs: top-1 {metrics['top1']:.3f}, top-3 {metrics['top3']:.3f}, "
                          f"proportion score {metrics['proportion_score']:.3f} -> {out / 'songs.json'}")
    else:
        out_console.print(f"{metrics['n']} tracks: accuracy {metrics['accuracy']:.3f}, balanced "
                          f"{metrics['balanced_accuracy']:.3f}, top-3 {metrics['top3_accuracy']:.3f}, macro F1 "
                          f"{metrics['f1_macro']:.3f} -> {out / 'metrics.json'}")
    if report["unknown_genre_tracks"]:
        _note(f"{len(report['unknown_genre_tracks'])} track(s) of genres the model does not know were "
                          "left out")
    # a song score over the known genres is complete; a metrics table without some genres is not
    partial = _report_failures(report["failures"]) or (report["unknown_genre_tracks"] and not songs)
    raise typer.Exit(EXIT_PARTIAL if partial else EXIT_OK)


@app.command()
def compare(
    out: OutOption,
    dataset: Annotated[Path | None, typer.Argument(help="Dataset folder or manifest (or use --table).")] = None,
    table_path: Annotated[Path | None, typer.Option("--table", help="A feature table CSV (e.g. features_30_sec.csv).")] = None,
    models: Annotated[str, typer.Option(help="Comma-separated model or network names, or 'all' (classical models).")] = "all",
    folds: Annotated[int, typer.Option(**_at_least(2), help="Cross-validation folds (stratified; grouped by artist where the dataset knows artists, else by track).")] = 5,
    epochs: Annotated[int, typer.Option(**_at_least(1), help="Networks: epochs per fold (all run; the last weights are scored).")] = 30,
    device: DeviceOption = "cpu",
    search: Annotated[bool, typer.Option("--search", help="Nested CV: tune inside each training fold.")] = False,
    n_iter: Annotated[int, typer.Option(**_at_least(1), help="Search iterations per fold.")] = 20,
    seed: Annotated[int, typer.Option(**SEED, help="Seed for folds and models.")] = 0,
    feature_set: FeaturesOption = "fma518",
    chunk: ChunkOption = None,
    kind: KindOption = "auto",
    jobs: JobsOption = 0,
    cache: CacheOption = None,
    no_cache: NoCacheOption = False,
) -> None:
    """Cross-validate many models on the same folds; writes comparison.json|md|png."""
    from genrekit.datasets import build_feature_table, check_genres, read_feature_table
    from genrekit.evaluate import compare_models
    from genrekit.models import MODELS, recipe_names, trains_from_audio

    names = list(MODELS) if models == "all" else [m.strip() for m in models.split(",") if m.strip()]
    unknown = [m for m in names if m not in recipe_names()]
    if unknown or (dataset is None) == (table_path is None):
        err_console.print(f"[red]error:[/] give a dataset or --table (not both); unknown models: {unknown or 'none'}; "
                          f"known: {', '.join(recipe_names())}")
        raise typer.Exit(EXIT_USAGE)
    failures: dict[str, str] = {}
    data = table = None
    if table_path is not None:
        table, source = read_feature_table(table_path), str(table_path)
    else:
        data = _load_dataset(dataset, kind)
        check_genres(data, purpose="cross-validation", folds=folds)  # before any extraction
        source = f"{dataset} ({feature_set}; networks: log-mel)"
        if not all(trains_from_audio(name) for name in names):  # a feature table for the classical ones
            table, _ = build_feature_table(data, _spec(feature_set, chunk), cache=_cache(cache, no_cache),
                                           n_jobs=jobs, progress=_progress())
            failures = table.failures
    view = Table(title=f"{folds}-fold CV by track on {source}" + (", nested search" if search else ""))
    for column in ("model", "accuracy", "macro F1", "fit s/fold"):
        view.add_column(column, justify="left" if column == "model" else "right")

    def show(row):
        _note(f"  {row['model']}: {row['accuracy_mean']:.3f} ± {row['accuracy_std']:.3f}", highlight=False)

    rows = compare_models(table, names, n_splits=folds, seed=seed, search=search, n_iter=n_iter,
                          n_jobs=jobs or None, dataset=data, epochs=epochs, device=device,
                          source=source, out_dir=out, on_result=show)
    for row in sorted(rows, key=lambda r: -r["accuracy_mean"]):
        view.add_row(row["model"], f"{row['accuracy_mean']:.3f} ± {row['accuracy_std']:.3f}",
                     f"{row['f1_macro_mean']:.3f} ± {row['f1_macro_std']:.3f}", f"{row['fit_seconds']:.2f}")
    out_console.print(view)
    out_console.print(f"-> {out / 'comparison.json'}, comparison.md, comparison.png")
    raise typer.Exit(EXIT_PARTIAL if _report_failures(failures) else EXIT_OK)


@app.command()
def predict(
    files: Annotated[list[str] | None, typer.Argument(metavar="FILES", help="Audio files (songs of any length) or their URLs (s3://...), "
                                                          "or PNGs for image networks; - reads their paths from stdin, "
                                                          "one a line.", show_default=False)] = None,
    files_from: Annotated[str | None, typer.Option("--files-from", metavar="FILE", help="Also predict the files "
                                                   "listed in FILE, one path a line (- for stdin).")] = None,
    model_path: ModelOption = None,
    output_format: Annotated[str, typer.Option("--format", **_choice(*PREDICT_FORMATS), help="table, json (one object "
                                               "per line, with the timeline and the styles, once all are done), jsonl "
                                               "(the same lines, each printed as its file finishes), csv (one row per "
                                               "file) or timeline (csv, one row per chunk).")] = "table",
    top: Annotated[int, typer.Option(**_at_least(1), help="How many genres to show per file.")] = 3,
    skip: Annotated[float, typer.Option(**NON_NEGATIVE, help="Seconds of intro and outro left out when the song is long enough.")] = 10.0,
    hop: Annotated[float | None, typer.Option(**POSITIVE, help="Seconds between chunk starts (default: the chunk length).")] = None,
    segment: Annotated[float | None, typer.Option(**POSITIVE, help="Classical whole-clip models: seconds per chunk (default 30).")] = None,
    plot: Annotated[Path | None, typer.Option(help="Folder for one PNG per file: timeline and genre proportions.")] = None,
    min_confidence: MinConfidenceOption = None,
    music_check: Annotated[bool, typer.Option("--music-check/--no-music-check", help="Call audio the music detector "
                                              "hears as speech, noise or tones 'unknown' (models on both musicnn "
                                              "taggers, the default among them).")] = True,
    jobs: Annotated[int, typer.Option("--jobs", "-j", **_at_least(0), help="Files predicted at once, in worker processes "
                                      "(0: all cores).")] = 1,
    runner: RunnerOption = "local",
    address: AddressOption = None,
) -> None:
    """Name the genres of songs: top genres, genre proportions and a timeline."""
    from genrekit.models import load
    from genrekit.predict import plot_prediction, predict_files
    from genrekit.predict.library import styles_text
    from genrekit.predict.song import UNKNOWN
    from genrekit.runners import default_jobs

    if not files and files_from is None:
        _usage_error("FILES: expected audio files (or - to read their paths from stdin, or --files-from), found none")
    model_path = _model(None, model_path, default="default")
    min_confidence = _setting("min_confidence", min_confidence, option="--min-confidence")
    paths = _input_paths(files or [], files_from)
    if output_format != "jsonl":  # all the paths first: the outputs are written once all are done
        paths = list(paths)
    model = load(model_path, segment_seconds=segment)
    if output_format == "jsonl":  # ends the command
        _predict_jsonl(model, paths, top=top, plot=plot, skip=skip, hop=hop, jobs=jobs,
                       runner=_runner(runner, jobs, address), segment=segment, min_confidence=min_confidence,
                       music_check=music_check)
    predictions, failures = predict_files(model, paths, skip=skip, hop_seconds=hop, progress=_progress(),
                                          jobs=jobs or default_jobs(), runner=_runner(runner, jobs, address),
                                          segment_seconds=segment, min_confidence=min_confidence,
                                          music_check=music_check)
    _note_training_files([p.path for p in predictions], model)
    if plot is not None:
        plot.mkdir(parents=True, exist_ok=True)
        for p in predictions:
            plot_prediction(p, plot / f"{Path(p.path).stem}.png")
    labels = model.labels
    top = min(top, len(labels))
    if output_format == "json":
        for prediction in predictions:
            print(json.dumps(prediction.to_dict(top)))
        for path, reason in failures.items():
            print(json.dumps({"path": path, "error": reason}))
    elif output_format in ("csv", "timeline"):
        buffer = io.StringIO()
        writer = csv.writer(buffer)
        if output_format == "csv":
            writer.writerow(["path", "genre", "confidence", "start", "end", "n_chunks",
                             *(f"p_{label}" for label in labels), *(f"share_{label}" for label in labels),
                             "styles", "error"])
            for p in predictions:
                writer.writerow([p.path, p.genre, f"{p.confidence:.6f}", p.start, p.end, p.n_chunks,
                                 *(f"{p.probabilities[l]:.6f}" for l in labels),
                                 *(f"{p.proportions[l]:.6f}" for l in labels), styles_text(p.styles), ""])
            for path, reason in failures.items():
                writer.writerow([path, "", "", "", "", "", *([""] * 2 * len(labels)), "", reason])
        else:
            writer.writerow(["path", "start", "end", "genre", "confidence", *(f"p_{label}" for label in labels)])
            for p in predictions:
                for s in p.timeline:
                    writer.writerow([p.path, s.start, s.end, s.genre, f"{s.confidence:.6f}",
                                     *(f"{s.probabilities[l]:.6f}" for l in labels)])
        sys.stdout.write(buffer.getvalue())
    elif predictions:
        # one line per genre (and style) inside a row: readable in an 80-column terminal
        with_styles = any(p.styles is not None for p in predictions)  # a model without styles: no column
        caption = "styles: tags beyond the genres, at or above their thresholds" if with_styles else None
        view = Table(title=f"genres by {model.name}", caption=caption)
        view.add_column("file", overflow="fold", ratio=3)  # wrapped, never cut: the name is how a row is found
        view.add_column("top genres", overflow="fold", ratio=2)
        if with_styles:
            view.add_column("styles", overflow="fold", ratio=2)
        view.add_column("share of chunks", overflow="fold", ratio=2)
        view.add_column("analysed", justify="right", ratio=1)
        for p in predictions:
            ranked = [f"{g} {prob:.0%}" for g, prob in p.top(top)]
            if p.genre == UNKNOWN:  # below --min-confidence: say so, and show the best guess
                ranked.insert(0, f"unknown ({p.unknown_reason}):")
            shares = [f"{g} {v:.0%}" for g, v in sorted(p.proportions.items(), key=lambda i: -i[1])[:top] if v > 0]
            styles = [_styles_cell(p.styles, top)] if with_styles else []
            view.add_row(Path(p.path).name, "\n".join(ranked), *styles, "\n".join(shares),
                         f"{p.start:.0f}-{p.end:.0f} s\n{len(p.timeline)} chunks")  # the shares' chunks
        out_console.print(view)
    _finish(len(predictions), failures)


def _predict_jsonl(model, paths: Iterable[str], *, top: int, plot: Path | None, skip: float, hop: float | None,
                   jobs: int, runner, segment: float | None, min_confidence: float | None, music_check: bool) -> None:
    """``predict --format jsonl``: one JSON line per file, printed (and flushed) as it finishes, in
    the order they finish (the order given with --jobs 1); then exit as predict does."""
    from rich.progress import Progress

    from genrekit.predict import plot_prediction
    from genrekit.predict.files import iter_predictions
    from genrekit.runners import default_jobs

    done: list[str] = []
    failures: dict[str, str] = {}
    top = min(top, len(model.labels))
    if plot is not None:
        plot.mkdir(parents=True, exist_ok=True)
    with Progress(disable=not _progress(), console=err_console) as bar:
        task = bar.add_task("predicting", total=None)
        for path, prediction, error in iter_predictions(model, paths, skip=skip, hop_seconds=hop,
                                                        jobs=jobs or default_jobs(), runner=runner,
                                                        segment_seconds=segment, min_confidence=min_confidence,
                                                        music_check=music_check):
            if prediction is not None:
                print(json.dumps(prediction.to_dict(top)), flush=True)
                done.append(prediction.path)
                if plot is not None:
                    plot_prediction(prediction, plot / f"{Path(prediction.path).stem}.png")
            else:
                print(json.dumps({"path": path, "error": error}), flush=True)
                failures[path] = error
            bar.advance(task)
    _note_training_files(done, model)
    _finish(len(done), failures)


def _styles_cell(styles: dict[str, float] | None, top: int) -> str:
    """The ``top`` most probable styles present, one a line, and how many more (json and csv
    give them all); "none" when no style reaches its threshold or the model gives none."""
    if not styles:
        return "none"
    shown = [f"{style} {probability:.0%}" for style, probability in list(styles.items())[:top]]
    more = len(styles) - len(shown)
    return "\n".join(shown + ([f"+{more} more"] if more else []))


@app.command()
def tag(
    library: Annotated[str | None, typer.Argument(help="Music library folder (searched recursively), or its URL "
                                                        "(s3://bucket/music, read through pyarrow).")] = None,
    model_path: ModelOption = None,
    results: Annotated[Path, typer.Option("--out", "-o", help="Results table: .csv, .jsonl or .parquet; "
                                          "re-running with the same file resumes.")] = Path("genrekit-tags.csv"),
    use_hash: Annotated[bool, typer.Option("--hash", help="Recognise files already done by content, not path+size+mtime.")] = False,
    skip: Annotated[float, typer.Option(**NON_NEGATIVE, help="Seconds of intro and outro left out when a song is long enough.")] = 10.0,
    segment: Annotated[float | None, typer.Option(**POSITIVE, help="Classical whole-clip models: seconds per chunk (default 30).")] = None,
    write_tags: Annotated[bool, typer.Option("--write-tags", help="Write the top genres into each file's metadata "
                                             "(with genrekit's provenance fields; undo with --undo).")] = False,
    existing: Annotated[str, typer.Option("--existing", **_choice(*EXISTING),
                                          help="With --write-tags, a genre a file has already: keep it "
                                          "(nothing written), replace it, or append ours after it.")] = "keep",
    dry_run: Annotated[bool, typer.Option("--dry-run", help="With --write-tags: show and record old -> new, write nothing.")] = False,
    genres: Annotated[int, typer.Option("--genres", help="With --write-tags: write up to N genres, the top one and the next "
                                        "most probable at or above --min-confidence.")] = 1,
    styles: Annotated[bool, typer.Option("--styles", help="With --write-tags: add the styles the model found as further "
                                         "genre values.")] = False,
    separator: Annotated[str, typer.Option("--genre-separator", help="With --write-tags: joins the genres of an ID3v2.3 tag "
                                           "(one TCON value).")] = "; ",
    id3v2_version: Annotated[int | None, typer.Option("--id3v2-version", **_choice(3, 4), help="With --write-tags: save ID3v2 tags (mp3, "
                                                      "wav, aiff) as 2.3 or 2.4 (3 or 4); default: each file's "
                                                      "version, 2.4 for a new tag.")] = None,
    undo: Annotated[Path | None, typer.Option("--undo", help="Put back the tags that the --write-tags runs with this "
                                              "results table changed (no LIBRARY); run again to resume.")] = None,
    min_confidence: MinConfidenceOption = None,
    jobs: JobsOption = 0,
    runner: RunnerOption = "local",
    address: AddressOption = None,
) -> None:
    """Tag a whole music library: genres of every audio file, written to a table as they finish."""
    from genrekit.predict.library import tag_library

    if undo is not None:
        if library is not None or write_tags or dry_run:
            err_console.print(f"[red]error:[/] --undo {undo}: expected no LIBRARY, --write-tags or --dry-run with it "
                              "(it undoes the runs recorded beside that results table)")
            raise typer.Exit(EXIT_USAGE)
        _undo_tags(undo)
    if library is None:
        err_console.print("[red]error:[/] LIBRARY: expected a music library folder (or --undo RESULTS), found none")
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
            err_console.print(f"[yellow]tag:[/] {escape(change.error)}", highlight=False)
        elif change.action in ("written", "would write"):
            verb = "would set" if change.action == "would write" else "set"
            out_console.print(f"{change.path}: genre {change.old or '(none)'} -> {change.new} ({verb})", highlight=False)
        elif change.action == "kept":
            out_console.print(f"{change.path}: genre {change.old} kept (--existing keep)", highlight=False)

    summary = tag_library(library, model_path, results, jobs=jobs or None, use_hash=use_hash, skip=skip,
                          segment_seconds=segment, write_tags=write_tags, dry_run=dry_run, existing=existing,
                          progress=_progress(), on_tag_change=show, runner=_runner(runner, jobs, address),
                          min_confidence=min_confidence, genres=genres, styles=styles, separator=separator,
                          id3v2_version=id3v2_version)
    view = Table(title=f"{summary.n_files} files in {library}")
    view.add_column("genre")
    view.add_column("files", justify="right")
    for genre, count in sorted(summary.genres.items(), key=lambda item: -item[1]):
        view.add_row(genre, str(count))
    view.add_row("[red]failed[/]", str(summary.n_failed))
    out_console.print(view)
    out_console.print(f"{summary.n_tagged} tagged ({summary.n_done_before} done by an earlier run), "
                      f"{summary.n_failed} failed, {summary.seconds:.1f} s -> {summary.results}")
    if summary.tag_actions:
        out_console.print("genre tags: " + ", ".join(f"{n} {action}" for action, n in sorted(summary.tag_actions.items())))
    if summary.unknown:
        left = "left untouched" if write_tags else "not named"
        out_console.print(f"[yellow]{len(summary.unknown)} file(s) without a genre tag whose genre is 'unknown' ({left}; "
                          "not music, or below --min-confidence):[/]", highlight=False)
        for path in summary.unknown[:20]:
            out_console.print(f"  - {path}", highlight=False, soft_wrap=True)  # paths unbroken, to copy
        if len(summary.unknown) > 20:
            out_console.print(f"  … and {len(summary.unknown) - 20} more (genre 'unknown' in {summary.results})")
    if summary.disagreements:
        out_console.print(f"[yellow]{len(summary.disagreements)} file(s) whose own genre tag the model confidently "
                          f"disputes[/] (often a mis-tag) -> {summary.disagreements_path}", highlight=False)
        for item in summary.disagreements[:10]:
            seen = " (trained on it)" if item.seen_in_training else ""
            out_console.print(f"  - {item.path}: tagged {'; '.join(item.owner_genres)}, model says {item.model_genre} "
                              f"({item.confidence:.2f}){seen}", highlight=False, soft_wrap=True)
    _finish(summary.n_tagged + summary.n_done_before, summary.failures)


def _undo_tags(results: Path) -> None:
    """``tag --undo``: one line per file, then exit 0, 3 (some refused or failed) or 1 (all did)."""
    from genrekit.predict.library import undo_tags

    def show(record) -> None:
        if record.status == "restored":
            old, new = "; ".join(record.old or []) or "(none)", "; ".join(record.new or []) or "(none: removed)"
            out_console.print(f"{record.path}: genre {old} -> {new} (restored)", highlight=False)
        elif record.status in ("already undone", "nothing to undo"):
            out_console.print(f"{record.reason} ({record.status})", highlight=False)

    summary = undo_tags(results, on_file=show)
    out_console.print(f"{summary.n_restored} restored, {len(summary.failures)} refused or failed, "
                      f"{len(summary.files)} files in {results}'s journal; progress -> {summary.progress}; "
                      f"the rows of the files put back updated in {results}")
    _finish(len(summary.files) - len(summary.failures), summary.failures)


@app.command()
def explore(
    out: OutOption,
    dataset: Annotated[Path | None, typer.Argument(help="Dataset folder or manifest (or use --table).")] = None,
    table_path: Annotated[Path | None, typer.Option("--table", help="A feature table CSV (e.g. features_30_sec.csv).")] = None,
    feature_set: FeaturesOption = "fma518",
    chunk: ChunkOption = None,
    model: Annotated[str, typer.Option(**_choice(*catalogue.CLASSICAL), help="Classical model for the permutation "
                                       "importance.")] = "logreg",
    tsne: Annotated[bool, typer.Option("--tsne/--no-tsne", help="Also compute a t-SNE map.")] = True,
    seed: Annotated[int, typer.Option(**SEED, help="Seed for PCA, t-SNE, k-means and the held-out split.")] = 0,
    kind: KindOption = "auto",
    jobs: JobsOption = 0,
    cache: CacheOption = None,
    no_cache: NoCacheOption = False,
) -> None:
    """Look at the data: PCA, t-SNE, k-means against genres, permutation importance (PNG, CSV, JSON)."""
    from genrekit.datasets import build_feature_table, check_genres, read_feature_table
    from genrekit.evaluate.explore import explore as run_explore

    if (dataset is None) == (table_path is None):
        err_console.print("[red]error:[/] give a dataset or --table (not both)")
        raise typer.Exit(EXIT_USAGE)
    failures: dict[str, str] = {}
    if table_path is not None:
        table = read_feature_table(table_path)
    else:
        data = _load_dataset(dataset, kind)
        check_genres(data, purpose="exploring genres")  # before any extraction
        table, _ = build_feature_table(data, _spec(feature_set, chunk),
                                       cache=_cache(cache, no_cache), n_jobs=jobs, progress=_progress())
        failures = table.failures
    result = run_explore(table, seed=seed, model=model, tsne=tsne, out_dir=out)
    kmeans = result["kmeans"]
    out_console.print(f"{result['n_rows']} rows x {result['n_features']} features: "
                      f"{result['pca']['components_for_90_percent']} principal components hold 90% of the variance; "
                      f"k-means ARI {kmeans['adjusted_rand_index']:.3f}, silhouette {kmeans['silhouette']:.3f}; "
                      f"top feature for {model}: {result['importance']['top'][0]['feature']} -> {out}")
    raise typer.Exit(EXIT_PARTIAL if _report_failures(failures) else EXIT_OK)


@app.command()
def report(
    run_dir: Annotated[Path, typer.Argument(help="A run folder (the --out of train, evaluate, compare or explore).")],
    out: Annotated[Path | None, typer.Option("--out", "-o", help="HTML file (default: RUN_DIR/report.html).")] = None,
) -> None:
    """One self-contained HTML page for a run: data, configuration, curves, metrics, failures, plots."""
    from genrekit.evaluate.html import write_html_report

    path = write_html_report(run_dir, out)
    out_console.print(f"report -> {path}")


@app.command()
def export(
    out: Annotated[Path, typer.Option("--out", "-o", help="The ONNX file to write.")],
    model_path: Annotated[str | None, typer.Argument(metavar="MODEL", help="A network (model.safetensors) or a "
                                                     "classical model (model.genrekit); or use --model.",
                                                     show_default=False)] = None,
    model_option: Annotated[str | None, typer.Option("--model", "-m", help="The model, as MODEL. Default: "
                                                     f"{MODEL_DEFAULTS}.")] = None,
    export_format: Annotated[str, typer.Option("--format", **_choice("onnx"), help="onnx: probabilities out, dynamic "
                                               "batch.")] = "onnx",
    frontend: Annotated[str, typer.Option(**_choice(*FRONTENDS), help="graph: waveform in, the log-mel front end inside the file; numpy: "
                                               "log-mel in, computed by genrekit's numpy runtime (smaller, faster).")] = "graph",
    int8: Annotated[bool, typer.Option("--int8", help="Quantize the network to int8 (static, calibrated).")] = False,
    calibration: Annotated[list[Path] | None, typer.Option(
        help="Audio to calibrate int8 with: files or folders (e.g. the training tracks). Repeatable.")] = None,
    max_windows: Annotated[int, typer.Option(**_at_least(1), help="Calibration windows drawn at most.")] = 512,
) -> None:
    """Export a network (fp32 or int8) or a classical model to ONNX; `predict`, `tag` and `serve` run it without PyTorch."""
    from genrekit.export import export_onnx
    from genrekit.predict.library import library_files

    model_path = Path(_model(model_path, model_option, default=None))
    files = [f for path in calibration or [] for f in (library_files(path) if path.is_dir() else [path])]
    path = export_onnx(model_path, out, frontend=frontend, int8=int8, calibration=files,
                       max_calibration_windows=max_windows)
    from genrekit.models import load

    exported = load(path)  # proof that the file loads and runs
    precision = f"int8, calibrated on {len(files)} files" if int8 else "fp32"
    out_console.print(f"ONNX ({exported.name}, {exported.kind}, {precision}) -> {path} "
                      f"({path.stat().st_size / 1e6:.2f} MB)")


@app.command()
def serve(
    ctx: typer.Context,
    model_path: Annotated[str | None, typer.Argument(metavar="MODEL", help="A model file (.genrekit, .safetensors or "
                                                     ".onnx), a run folder, or 'default': genrekit's own; or use "
                                                     "--model.", show_default=False)] = None,
    model_option: ModelOption = None,
    host: Annotated[str, typer.Option(help="Address to listen on; keep 127.0.0.1 unless a proxy fronts it.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(**_at_least(1, 65535), help="Port to listen on.")] = 8000,
    max_upload_mb: Annotated[float, typer.Option(**POSITIVE, help="Largest upload accepted; larger ones get 413.")] = 50.0,
    timeout: Annotated[float, typer.Option(**POSITIVE, help="Seconds a song may take once uploaded (waiting "
                                                 "for a worker, then the analysis); longer gets 504.")] = 120.0,
    threads: Annotated[int, typer.Option(**_at_least(1), help="Songs analysed at once (worker threads).")] = 2,
    workers: Annotated[int | None, typer.Option(**_at_least(1), hidden=True, help="Deprecated: --threads.")] = None,
    queue: Annotated[int, typer.Option(**_at_least(0), help="Requests that may wait for a worker; more get 503.")] = 32,
    upload_seconds: Annotated[float, typer.Option(**POSITIVE, help="Seconds an upload may take to arrive; "
                                                  "longer gets 408.")] = 300.0,
    min_upload_rate: Annotated[float, typer.Option(**NON_NEGATIVE, help="Bytes/s an upload must average after "
                                                   "--upload-grace-seconds, else 408 (0: no minimum).")] = 10_000.0,
    upload_grace_seconds: Annotated[float, typer.Option(**NON_NEGATIVE, help="Seconds before the minimum upload "
                                                        "rate applies.")] = 10.0,
    receiving: Annotated[int, typer.Option(**_at_least(1), help="Uploads received at once; more get 503.")] = 64,
    min_confidence: MinConfidenceOption = None,
    log_level: Annotated[str | None, typer.Option(**_choice(*LOG_LEVELS), help="uvicorn's log level (default: "
                                                  "warning; error with --quiet).")] = None,
) -> None:
    """Serve the model over HTTP: POST /v1/predict, GET /v1/model, /healthz, a web page at /, docs at /docs.

    An upload holds no worker or queue place until it has fully arrived; --timeout counts from then."""
    from genrekit.server import ServiceLimits
    from genrekit.server import serve as run_service

    if workers is not None:  # the old name of --threads
        threads_given = getattr(ctx.get_parameter_source("threads"), "name", "DEFAULT") != "DEFAULT"
        if threads_given and threads != workers:
            _usage_error(f"--workers {workers} and --threads {threads}: expected --threads only (--workers is its old "
                         "name)")
        _note(f"[yellow]warning:[/] --workers is deprecated: use --threads {workers}", highlight=False)
        threads = workers
    model_path = _model(model_path, model_option, default="default")
    min_confidence = _setting("min_confidence", min_confidence, option="--min-confidence")
    limits = ServiceLimits(max_upload_mb=max_upload_mb, timeout_seconds=timeout, workers=threads, queue=queue,
                           upload_seconds=upload_seconds, min_upload_rate=min_upload_rate,
                           upload_grace_seconds=upload_grace_seconds, receiving=receiving,
                           min_confidence=min_confidence)
    _note(f"genrekit service for {model_path} model on http://{host}:{port}/ (Ctrl+C stops it)")
    run_service(model_path, host=host, port=port, limits=limits,
                log_level=log_level or ("error" if _quiet else "warning"))


@app.command("models")
def list_models() -> None:
    """List the model names and feature sets (instantly: no model library is imported)."""
    import importlib.util

    for name, description in catalogue.CLASSICAL.items():
        out_console.print(f"{name:18s} {description}{'  (default)' if name == catalogue.DEFAULT_MODEL else ''}")
    if importlib.util.find_spec("torch") is None:  # found, not imported
        out_console.print("networks: install genrekit\\[deep] (PyTorch) for the network presets")
    else:
        for name, description in catalogue.NETWORKS.items():
            out_console.print(f"network {name:10s} {description}")
    for name, description in catalogue.FEATURE_SETS.items():
        out_console.print(f"features {name:9s} {description}")


@app.command("config")
def show_config() -> None:
    """The effective settings (model, min_confidence, cache) and where each came from: an option's
    environment variable, the config file, or the default.

    The config file is ./genrekit.toml, else $XDG_CONFIG_HOME/genrekit/config.toml
    (~/.config/genrekit/config.toml): TOML with the keys model, min_confidence and cache (paths
    relative to the file's folder). Command-line options win over the variables
    ($GENREKIT_MODEL, $GENREKIT_MIN_CONFIDENCE, $GENREKIT_CACHE), which win over the file."""
    from genrekit.cli.settings import config_paths
    from genrekit.features import default_cache_dir

    settings = _settings()
    try:
        path = settings.file
        values = {"model": settings.get("model", default="default"),
                  "min_confidence": settings.get("min_confidence"),
                  "cache": settings.get("cache", default=str(default_cache_dir()))}
    except SettingsError as exc:
        _usage_error(str(exc))
    searched = " or ".join(str(p) for p in config_paths())
    out_console.print(f"# config file: {path}" if path else f"# config file: none ({searched} not found)",
                      highlight=False)
    for key, setting in values.items():
        value, source = json.dumps(setting.value), setting.source
        if setting.value is None:
            value, source = "none", f"{source} (always the top genre)"
        out_console.print(f"{key} = {value}  # {source}", highlight=False, soft_wrap=True)


@pretrained_app.command("list")
def pretrained_list() -> None:
    """The pretrained networks: where their weights are, where they came from, their tags."""
    import json

    from safetensors import safe_open

    from genrekit.features.musicnn import MODELS, weights_path

    for model in MODELS:
        path = weights_path(model)
        try:
            with safe_open(str(path), framework="np") as handle:
                metadata = handle.metadata() or {}
        except OSError as exc:
            out_console.print(f"{model}: [red]weights missing[/] at {path} ({exc}); run `genrekit pretrained convert`")
            continue
        tags = json.loads(metadata.get("tags", "[]"))
        out_console.print(f"[bold]{model}[/] {path}\n  from {metadata.get('source')} (sha256 "
                          f"{metadata.get('source_sha256', '')[:16]}…), {metadata.get('licence')}\n"
                          f"  {len(tags)} tags: {', '.join(tags[:12])}, …", highlight=False)


@pretrained_app.command("convert")
def pretrained_convert(
    wheel: Annotated[Path, typer.Argument(help="musicnn's wheel: pip download --no-deps musicnn==0.1.0")],
    out: Annotated[Path | None, typer.Option("--out", "-o", help="Folder for the safetensors files "
                                             "(default: genrekit's own, replacing the shipped weights).")] = None,
) -> None:
    """Convert musicnn's TensorFlow checkpoints from its wheel to safetensors (no TensorFlow needed)."""
    from genrekit.features.musicnn import weights_path
    from genrekit.features.musicnn.convert import convert_wheel

    folder = out or Path(str(weights_path("MSD_musicnn"))).parent
    try:
        written = convert_wheel(wheel, folder)
    except OSError as exc:
        _fail(GenrekitError(f"{folder}: cannot write the converted weights: {exc.strerror or exc}"))
    for path in written:
        out_console.print(f"wrote {path}")


# Which extra brings each optional top-level module, for the message when one is missing.
EXTRA_OF_MODULE = {
    **dict.fromkeys(("librosa", "numba", "scipy", "sklearn", "pandas", "pyarrow", "matplotlib", "xgboost", "skops",
                     "av", "mutagen", "threadpoolctl"), "full"),
    **dict.fromkeys(("torch", "safetensors"), "deep"),
    **dict.fromkeys(("onnx", "onnxscript", "onnxruntime"), "onnx"),
    **dict.fromkeys(("fastapi", "uvicorn", "python_multipart", "fastapi_offline"), "serve"),
    "ray": "ray",
}


def main() -> None:
    try:
        app()
    except ModuleNotFoundError as exc:  # an extra not installed: say which
        module = (exc.name or "").split(".")[0]
        if module not in EXTRA_OF_MODULE:
            raise
        command = next((a for a in sys.argv[1:] if not a.startswith("-")), "this command")
        err_console.print(f"[red]error:[/] genrekit {command} needs {module!r}, which this installation lacks: "
                          f"pip install 'genrekit\\[{EXTRA_OF_MODULE[module]}]'")
        sys.exit(EXIT_ERROR)
