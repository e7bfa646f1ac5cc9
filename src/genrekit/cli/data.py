"""``genrekit datasets check``, ``features``, ``explore`` and ``pretrained``: the data and the
features, before any model."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from genrekit.errors import GenrekitError, ParameterError
from genrekit.features.limits import MAX_N_FFT
from genrekit.models import catalogue
from genrekit.cli.common import (
    AddressOption, CacheOption, ChunkOption, EXIT_ERROR, EXIT_OK, EXIT_PARTIAL, EXIT_USAGE, ExtractOption,
    FeaturesOption, GenreMapOption, JobsOption, KindOption, LabelsFromTagsOption, MinPerGenreOption,
    MultiGenreOption, NoCacheOption, OutOption, RunnerOption, SEED, _at_least, _cache, _choice, _fail, _load_dataset,
    _note, _output_folder, _print_taxonomy, _problem_shown, _progress, _report_failures, _results_folder, _runner,
    _refuse_extraction_with_table, _usage_error, app, datasets_app, err_console, out_console, pretrained_app
)


@datasets_app.command("check")
def datasets_check(
    path: Annotated[Path, typer.Argument(metavar="DATASET", help="Dataset folder or CSV manifest.")],
    kind: KindOption = "auto",
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
    out: Annotated[Path | None, typer.Option("--out", "-o", help="Also write check.json here.")] = None,
    labels_from_tags: LabelsFromTagsOption = False,
    genre_map: GenreMapOption = None,
    min_per_genre: MinPerGenreOption = None,
    multi_genre: MultiGenreOption = "first",
) -> None:
    """Counts per genre, durations, unreadable files, duplicates, suspicious labels; with
    tags, the taxonomy of the files' own genre tags."""
    from genrekit.datasets import check_dataset
    from genrekit.evaluate import write_json

    if out is not None:  # before the check, which reads every file
        _output_folder(out, "--out")
    dataset = _load_dataset(path, kind, labels_from_tags=labels_from_tags, genre_map=genre_map,
                            min_per_genre=min_per_genre, multi_genre=multi_genre)
    report = check_dataset(dataset, progress=_progress())
    data = report.to_dict()
    if out is not None:
        write_json(out / "check.json", data)
    if as_json:
        print(json.dumps(data, indent=2))
    else:
        # a folder's dataset is named after it: "library: 33 tracks in library" said it twice
        named = report.dataset not in (report.source, Path(str(report.source)).name)
        table = Table(title=escape(f"{report.dataset}: {report.n_tracks} tracks in {report.source}" if named
                                   else f"{report.source}: {report.n_tracks} tracks"))
        # tracks that cannot be decoded count among the genre's tracks, not its durations: said beside them
        broken = {str(p.path) for p in report.unreadable}
        unreadable = Counter(t.label for t in dataset.tracks if str(t.path) in broken)
        columns = ("genre", "tracks", *(("unreadable",) if unreadable else ()), "min s", "median s", "max s")
        for column in columns:
            table.add_column(column, justify="left" if column == "genre" else "right")
        for label, count in report.counts.items():
            d = report.durations.get(label, {})
            table.add_row(escape(label), str(count), *((str(unreadable[label]),) if unreadable else ()),
                          *(f"{d[k]:.1f}" if k in d else "-" for k in ("min", "median", "max")))
        if report.counts:
            out_console.print(table)
        else:
            out_console.print(f"{report.dataset}: no labelled track in {report.source}", highlight=False, markup=False)
        if dataset.taxonomy is not None:
            _print_taxonomy(dataset.taxonomy)
        sections = [("unreadable files", [f"{p.path}: {p.reason}" for p in report.unreadable]),
                    ("exact duplicates (same audio)", [" = ".join(g) for g in report.duplicates]),
                    ("suspicious", [f"{p.path}: {p.reason}" for p in report.suspicious]),
                    ("layout problems", [f"{p.path}: {p.reason}" for p in report.layout])]
        for title, items in sections:
            if items:
                out_console.print(f"[bold yellow]{title} ({len(items)})[/]")
                for item in items[:PROBLEMS_SHOWN]:  # 300,000 lines buried the other sections (and took 33 s)
                    out_console.print(f"  - {_problem_shown(item)}", highlight=False, markup=False)
                if len(items) > PROBLEMS_SHOWN:
                    where = f"{out / 'check.json'}, or --json" if out is not None else "--json, or --out DIR"
                    out_console.print(f"  ... and {len(items) - PROBLEMS_SHOWN} more ({where} lists them all)",
                                      highlight=False, markup=False)
        out_console.print("[green]no problems found[/]" if report.ok else "[red]problems found[/]")
    raise typer.Exit(EXIT_OK if report.ok else EXIT_ERROR)


# Problems of one kind listed by `datasets check` on the terminal; check.json and --json hold all
PROBLEMS_SHOWN = 20


@app.command()
def features(
    dataset: Annotated[Path, typer.Argument(metavar="DATASET", help="Dataset folder or CSV manifest.")],
    out: OutOption = None,
    feature_set: ExtractOption = "fma518",
    chunk: ChunkOption = None,
    n_mels: Annotated[int, typer.Option(**_at_least(1), help="logmel: mel bands.")] = 128,
    hop_length: Annotated[int, typer.Option(**_at_least(1), help="logmel: hop in samples.")] = 512,
    n_fft: Annotated[int, typer.Option(**_at_least(1, MAX_N_FFT), help="logmel: FFT size.")] = 2048,
    kind: KindOption = "auto",
    jobs: JobsOption = 0,
    cache: CacheOption = None,
    no_cache: NoCacheOption = False,
    runner: RunnerOption = "local",
    address: AddressOption = None,
) -> None:
    """Extract a feature table (features.csv), or log-mel spectrograms; cached and resumable."""
    from genrekit.datasets import build_feature_table, write_feature_table
    from genrekit.features import FeatureSpec, LogMelSpec

    if feature_set == "logmel":
        if chunk is not None:  # a spectrogram is the whole track: networks cut their own windows from it
            _usage_error(f"--chunk {chunk:g}: --features logmel writes each track's whole spectrogram (a network cuts "
                         "its own windows); --chunk is for the table feature sets")
        _logmel(dataset, out, kind=kind, n_mels=n_mels, hop_length=hop_length, n_fft=n_fft)
    unset = LogMelSpec()  # the options' defaults are the spec's
    changed = [f"--{name} {value}" for name, value, default in (
        ("n-mels", n_mels, unset.n_mels), ("hop-length", hop_length, unset.hop_length), ("n-fft", n_fft, unset.n_fft))
        if value != default]
    if changed:
        _usage_error(f"{', '.join(changed)}: these set log-mel spectrograms (--features logmel), not {feature_set}")
    data = _load_dataset(dataset, kind)
    spec = FeatureSpec.at_default_level(feature_set, chunk)
    chosen = _runner(runner, jobs, address, preload=["genrekit.features.extract"])  # a missing extra: before --out
    out = _results_folder(out, "features", dataset)
    table, result = build_feature_table(data, spec, cache=_cache(cache, no_cache), n_jobs=jobs, progress=_progress(),
                                        runner=chosen)
    written = write_feature_table(out, table, data, cache_hits=result.cache_hits)
    out_console.print(f"{len(table.paths)} tracks, {len(table.y)} rows x {table.X.shape[1]} {spec.name} features "
                      f"-> {written} ({result.cache_hits} from cache)", markup=False)
    raise typer.Exit(EXIT_PARTIAL if _report_failures(table.failures, data.problems) else EXIT_OK)


def _logmel(dataset: Path, out: Path | None, *, kind: str, n_mels: int, hop_length: int, n_fft: int) -> None:
    """``features --features logmel``: one ``logmel/<track_id>.npz`` per track."""
    from genrekit.datasets import settings_conflict, write_spectrograms
    from genrekit.features import LogMelSpec

    try:  # before any file is read or written
        spec = LogMelSpec(n_mels=n_mels, hop_length=hop_length, n_fft=n_fft)
    except ParameterError as exc:  # named as the options are
        _usage_error(str(exc).replace("n_mels=", "--n-mels ").replace("hop_length=", "--hop-length ")
                     .replace("n_fft=", "--n-fft "))
    data = _load_dataset(dataset, kind)
    out = _results_folder(out, "features", dataset)
    conflict = settings_conflict(out, spec)
    if conflict:
        _usage_error(f"--out {conflict}")
    run = write_spectrograms(data, out, spec, progress=_progress())
    out_console.print(f"{run.written} log-mel spectrograms -> {run.folder}", markup=False)
    raise typer.Exit(EXIT_PARTIAL if _report_failures(run.failures, data.problems) else EXIT_OK)


@app.command()
def explore(
    ctx: typer.Context,
    out: OutOption = None,
    dataset: Annotated[Path | None, typer.Argument(metavar="DATASET",
                                                   help="Dataset folder or manifest (or use --table).")] = None,
    table_path: Annotated[Path | None, typer.Option("--table", help="A feature table CSV (e.g. features_30_sec.csv).")] = None,
    feature_set: FeaturesOption = "fma518",
    chunk: ChunkOption = None,
    model: Annotated[str, typer.Option(**_choice(*catalogue.CLASSICAL, metavar="<name>"),
                                       help="Classical model for the permutation importance, one of `genrekit "
                                       "models`' classical ones.")] = "logreg",
    tsne: Annotated[bool, typer.Option("--tsne/--no-tsne", help="Also compute a t-SNE map.")] = True,
    seed: Annotated[int, typer.Option(**SEED, help="Seed for PCA, t-SNE, k-means and the held-out split.")] = 0,
    kind: KindOption = "auto",
    jobs: JobsOption = 0,
    cache: CacheOption = None,
    no_cache: NoCacheOption = False,
) -> None:
    """Look at the data: PCA, t-SNE, k-means against genres, permutation importance (PNG, CSV, JSON)."""
    from genrekit.datasets import build_feature_table, check_genres, read_feature_table
    from genrekit.features import FeatureSpec
    from genrekit.evaluate.explore import explore as run_explore

    if (dataset is None) == (table_path is None):
        err_console.print("[red]error:[/] give a dataset or --table (not both)")
        raise typer.Exit(EXIT_USAGE)
    if table_path is not None:
        _refuse_extraction_with_table(ctx)
    failures: dict[str, str] = {}
    problems: list = []  # the dataset's files it left out (dangling links, unreadable folders)
    from genrekit.models.classical import lacks_features

    # musicnn-prior reads its taggers' columns: elsewhere it is not itself
    if table_path is not None:
        table = read_feature_table(table_path)
        if made_for := lacks_features(model, table.columns):
            _usage_error(f"--model {model}: made for {made_for} features, which {table_path} lacks")
        out = _results_folder(out, "explore", table_path)
    else:
        if made_for := lacks_features(model, FeatureSpec(feature_set).columns):
            _usage_error(f"--model {model}: made for {made_for} features, not {feature_set} (--features {made_for})")
        data = _load_dataset(dataset, kind)
        problems = data.problems
        check_genres(data, purpose="exploring genres")  # before any extraction
        out = _results_folder(out, "explore", dataset)
        table, _ = build_feature_table(data, FeatureSpec.at_default_level(feature_set, chunk),
                                       cache=_cache(cache, no_cache), n_jobs=jobs, progress=_progress())
        failures = table.failures
    source = str(table_path) if table_path is not None else f"{dataset} ({feature_set}" + (
        f", {chunk:g} s chunks)" if chunk else ")")
    result = run_explore(table, seed=seed, model=model, tsne=tsne, out_dir=out, source=source)
    kmeans, importance = result["kmeans"], result["importance"]
    silhouette = "none (one cluster)" if kmeans["silhouette"] is None else f"{kmeans['silhouette']:.3f}"
    if not importance["top"]:
        ranked = f"no permutation importance ({importance['not_measured']})"
    elif importance["top"][0]["mean"] <= 0:
        ranked = f"no feature's shuffling lowered {model}'s held-out accuracy ({importance['n_test_tracks']} tracks)"
    else:
        ranked = (f"top feature for {model}: {importance['top'][0]['feature']} "
                  f"({importance['n_test_tracks']} held-out tracks)")
    if result["constant_columns_left_out"]:
        _note(f"{len(result['constant_columns_left_out'])} constant feature column(s) left out of PCA, t-SNE and "
              f"k-means (first: {escape(result['constant_columns_left_out'][0])})", highlight=False)
    out_console.print(f"{result['n_rows']} rows x {result['n_features']} features: "
                      f"{result['pca']['components_for_90_percent']} principal components hold 90% of the variance; "
                      f"k-means ARI {kmeans['adjusted_rand_index']:.3f}, silhouette {silhouette}; {ranked} -> {out}",
                      markup=False)
    raise typer.Exit(EXIT_PARTIAL if _report_failures(failures, problems) else EXIT_OK)


@pretrained_app.command("list")
def pretrained_list() -> None:
    """The pretrained networks: where their weights are, where they came from, their tags."""
    from genrekit.features.musicnn import TAGGERS, weights_provenance

    for model in TAGGERS:
        try:
            about = weights_provenance(model)
        except GenrekitError as exc:
            out_console.print(f"{model}: [red]weights missing[/] ({escape(str(exc))})")
            continue
        tags = about["tags"]
        out_console.print(f"[bold]{model}[/] {escape(about['path'])}\n  from {escape(str(about['source']))} (sha256 "
                          f"{escape(about['source_sha256'][:16])}…), {escape(str(about['licence']))}\n"
                          f"  {len(tags)} tags: {escape(', '.join(tags[:12]))}, …", highlight=False)


@pretrained_app.command("convert")
def pretrained_convert(
    wheel: Annotated[Path, typer.Argument(metavar="WHEEL",
                                          help="musicnn's wheel: pip download --no-deps musicnn==0.1.0")],
    out: Annotated[Path | None, typer.Option("--out", "-o", help="Folder for the safetensors files "
                                             "(default: genrekit's own, replacing the shipped weights: only from "
                                             "musicnn 0.1.0's wheel, checked by its SHA-256).")] = None,
) -> None:
    """Convert musicnn's TensorFlow checkpoints from its wheel to safetensors (no TensorFlow needed).

    Every tensor is checked (musicnn's names and shapes, finite values) before any file is written."""
    from genrekit.features.musicnn import weights_path
    from genrekit.features.musicnn.convert import MUSICNN_WHEEL_SHA256, convert_wheel

    shipped = Path(str(weights_path("MSD_musicnn"))).parent
    folder = out or shipped
    # another wheel's weights go only into a folder of their own, never over the shipped ones
    own = folder.resolve() == shipped.resolve()
    try:
        written = convert_wheel(wheel, folder, expected_sha256=MUSICNN_WHEEL_SHA256 if own else None)
    except OSError as exc:
        _fail(GenrekitError(f"{folder}: cannot write the converted weights: {exc.strerror or exc}"))
    for path in written:
        out_console.print(f"wrote {path}")
