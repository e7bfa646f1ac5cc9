"""``genrekit train``, ``evaluate``, ``compare``, ``report``, ``export`` and ``models``: making,
scoring and shipping models."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from genrekit._files import line_shown
from genrekit.errors import OtherKindOption
from genrekit.models import catalogue
from genrekit.cli.common import (
    AggregationOption, CacheOption, ChunkOption, DeviceOption, EpochsOption, network_options, NETWORK_OPTIONS, EXIT_ERROR, EXIT_OK, EXIT_PARTIAL,
    FEATURE_SETS, FRONTENDS, FeaturesOption, GenreMapOption, JobsOption, KindOption, LabelsFromTagsOption,
    MODEL_DEFAULTS, MinPerGenreOption, ModelOption, MultiGenreOption, NON_NEGATIVE, NoCacheOption, OutOption, SEED,
    SPLITS, _at_least, _cache, _choice, _file_or_folder, _load_dataset, _model, _note, _output_folder, _print_taxonomy,
    _progress, _refuse_extraction_with_table, _report_failures, _results_folder, _usage_error, app, err_console, listed,
    out_console
)


@app.command()
@network_options(preset="model")
def train(
    ctx: typer.Context,
    dataset: Annotated[Path, typer.Argument(metavar="DATASET", help="Dataset folder or CSV manifest.")],
    out: OutOption = None,
    model: Annotated[str, typer.Option("--model", "-m", **_choice(*catalogue.CLASSICAL, *catalogue.NETWORKS, "default",
                                                                   metavar="<name>"),
                                       help="Model or network name, one of `genrekit models`; default: "
                                       f"{catalogue.DEFAULT_MODEL} (also named 'default'), the strongest on small "
                                       "datasets.")] = catalogue.DEFAULT_MODEL,
    feature_set: Annotated[str | None, typer.Option("--features", "-f", **_choice(*FEATURE_SETS, metavar="<set>"),
                                                    help=f"Feature set: {listed(FEATURE_SETS)} (default: the model's "
                                                    "own; fma518 for most).")] = None,
    chunk: ChunkOption = None,
    split: Annotated[str | None, typer.Option(**_choice(*SPLITS, metavar="<split>"),
                                              help="random (80/10/10 of each genre, rounded, by track/artist: 8 clips "
                                              "split 6/1/1), dataset (its own), gtzan-filtered, all (nothing held "
                                              "out: scored by the k-fold CV). Default: random; all with tags.")] = None,
    search: Annotated[bool, typer.Option("--search", help="Tune hyperparameters by randomized grouped CV.")] = False,
    cv: Annotated[bool, typer.Option("--cv/--no-cv", help="Classical models on datasets of at most 1000 tracks (any "
                                     "size with --split all): also score by 5-fold CV over all tracks, grouped by "
                                     "artist where known (cv.json).")] = True,
    n_iter: Annotated[int, typer.Option(**_at_least(1), help="Search iterations.")] = 20,
    seed: Annotated[int, typer.Option(**SEED, help="Seed for splits and models.")] = 0,
    epochs: EpochsOption = 30,
    device: DeviceOption = "cpu",
    resume: Annotated[bool, typer.Option("--resume", help="Networks: continue from OUT/checkpoint.safetensors.")] = False,
    aggregation: AggregationOption = None,
    kind: KindOption = "auto",
    labels_from_tags: LabelsFromTagsOption = False,
    genre_map: GenreMapOption = None,
    min_per_genre: MinPerGenreOption = None,
    multi_genre: MultiGenreOption = "first",
    jobs: JobsOption = 0,
    cache: CacheOption = None,
    no_cache: NoCacheOption = False,
    settings: dict | None = None,
) -> None:
    """Train a model, evaluate it on held-out test tracks, write the model file and reports.

    With --labels-from-tags, a music library is the dataset: each file's own genre tag is its
    label; by default every tagged file is trained on, scored by k-fold CV grouped by the
    artist tag, and disagreements.csv lists the files whose tag the CV model confidently disputes.

    A network's training settings are options, or come from --config FILE (TOML or JSON); the
    run folder's config.json records them resolved, and --config reads it back.
    """
    from genrekit.models import model_file
    from genrekit.train import train as train_recipe

    if resume and out is None:  # a new numbered folder holds no checkpoint to continue from
        _usage_error("--resume: continues the run whose folder --out names; give --out DIR")
    data = _load_dataset(dataset, kind, labels_from_tags=labels_from_tags, genre_map=genre_map,
                         min_per_genre=min_per_genre, multi_genre=multi_genre)
    if data.taxonomy is not None:
        _print_taxonomy(data.taxonomy)
    else:  # what it will learn: a folder's sub-folders are genres too, which a user may not have meant
        from collections import Counter

        counts = Counter(track.label for track in data.tracks)
        shown = ", ".join(f"{genre} {n}" for genre, n in sorted(counts.items())[:12])
        more = f" and {len(counts) - 12} more" if len(counts) > 12 else ""
        _note(f"{len(data.tracks)} tracks in {len(counts)} genres: {escape(line_shown(shown))}{more}", highlight=False)
    out = _results_folder(out, "train", dataset)  # after the dataset is read, before any work
    try:
        result = train_recipe(data, model=model, features=feature_set, chunk=chunk, split=split, search=search,
                              n_iter=n_iter, cv=cv, aggregation=aggregation or "mean", cache=_cache(cache, no_cache),
                              n_jobs=jobs, **settings, resume=resume, progress=_progress(), out_dir=out)
    except OtherKindOption as exc:  # an option of another kind of model ("lr: only for networks"): a usage error
        if any(_from_config(ctx, name) for name in exc.options):  # a --config file's key: said as its key
            raise
        options = ", ".join("--" + name.replace("_", "-") for name in exc.options)
        asked = model if model == exc.model else f"{model} ({exc.model})"  # 'default': the recipe it names
        _usage_error(f"{options}: only for {exc.kind}, and --model {asked} is not one{exc.note}")
    metrics = result.metrics
    if metrics:
        chunk_note = f", chunk accuracy {metrics['chunk_accuracy']:.3f}" if "chunk_accuracy" in metrics else ""
        protocol = f" ({metrics['protocol']})" if metrics.get("protocol") else ""  # how they were held out
        out_console.print(f"test tracks: {metrics['n']}, accuracy {metrics['accuracy']:.3f}{_interval(metrics)}, "
                          f"macro F1 {metrics['f1_macro']:.3f}{chunk_note}{protocol}", markup=False)
        _averaging_note(metrics)
    if result.cv:
        scores = result.cv
        copies = " (a file with several genres counts once per genre)" if multi_genre == "all" else ""
        out_console.print(f"{scores['protocol']}: accuracy {scores['accuracy_mean']:.3f} ± {scores['accuracy_std']:.3f}, "
                          f"balanced {scores['balanced_accuracy_mean']:.3f} (the steadier figure on a small "
                          f"dataset){copies}")
        if blocks := scores.get("by_id_blocks"):  # GTZAN's clips: folds by track share artists, these fewer
            out_console.print(f"{blocks['protocol']}: accuracy {blocks['accuracy_mean']:.3f} ± "
                              f"{blocks['accuracy_std']:.3f}, balanced {blocks['balanced_accuracy_mean']:.3f} (folds "
                              "that share fewer artists)")
        if data.taxonomy is not None and scores.get("per_genre"):
            _print_per_genre(scores["per_genre"])
    if result.disagreements:
        out_console.print(f"[yellow]{len(result.disagreements)} file(s) whose label the cross-validated model "
                          f"confidently disputes[/] (often a mis-tag; {escape(str(out / 'disagreements.csv'))}):",
                          highlight=False)
        for item in result.disagreements[:10]:
            # one line each: a newline in a name or a tag forged another
            # "labelled": a genre folder or a manifest's label column, as much as a tag
            out_console.print(f"  - {line_shown(item.path)}: labelled {line_shown('; '.join(item.owner_genres))}, "
                              f"model says {item.model_genre} ({item.confidence:.2f})", highlight=False, soft_wrap=True,
                              markup=False)
    out_console.print(f"model -> {model_file(out)}; reports in {out}", markup=False)
    raise typer.Exit(EXIT_PARTIAL if _report_failures(result.failures, result.problems) else EXIT_OK)


def _from_config(ctx: typer.Context, name: str) -> bool:
    """Whether setting ``name`` came from elsewhere than the command line (a --config file)."""
    try:
        source = ctx.get_parameter_source(name)
    except (KeyError, TypeError):
        return True
    return getattr(source, "name", None) != "COMMANDLINE"  # click's enum, or the one typer carries


def _print_per_genre(per_genre: dict[str, dict]) -> None:
    table = Table(title="what it learned, per genre (out-of-fold)")
    for column in ("genre", "files", "recall", "precision"):
        table.add_column(column, justify="left" if column == "genre" else "right")
    cell = lambda v: "-" if v is None else f"{v:.2f}"  # noqa: E731
    for genre, scores in per_genre.items():
        table.add_row(escape(genre), str(scores["n"]), cell(scores["recall"]), cell(scores["precision"]))
    out_console.print(table)


@app.command()
def evaluate(
    first: Annotated[str | None, typer.Argument(metavar="MODEL", help="A model file (.genrekit, .safetensors or .onnx), "
                                         "a run folder of `genrekit train`, or 'default' / 'default-exact' (genrekit's own); or use "
                                         "--model, and give DATASET only.", show_default=False)] = None,
    second: Annotated[str | None, typer.Argument(metavar="DATASET", help="Labelled dataset folder or CSV manifest.",
                                                 show_default=False)] = None,
    out: OutOption = None,
    model_option: ModelOption = None,
    include_train: Annotated[bool, typer.Option("--include-train", help="Also score tracks the model was trained on; "
                                                "every output then says how many of them it was (predictions.csv: a "
                                                "trained_on column).")] = False,
    aggregation: AggregationOption = None,
    songs: Annotated[bool, typer.Option("--songs", help="Full-song scores instead of track metrics: top-1/top-3 hit "
                                        "rates and the proportion score (songs.json|md|csv, run.json).")] = False,
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
    from genrekit.evaluate.report import training_words
    from genrekit.models.interface import model_named_by
    from genrekit.runners import default_jobs

    given, dataset = (first, second) if second is not None else (None, first)  # [MODEL] DATASET
    if dataset is None:
        _usage_error("DATASET: expected a labelled dataset folder or CSV manifest, found none")
    lone = Path(dataset)
    a_model = model_named_by(dataset) is not None or (lone / "run.json").is_file()  # a run's folder
    if second is None and a_model:  # a model where both were meant
        _usage_error(f"MODEL {dataset} given, DATASET missing: expected `genrekit evaluate MODEL DATASET` (or DATASET "
                     "alone, for the default model)")
    model_path = _model(given, model_option, default="default")
    if songs and aggregation is not None:
        _usage_error(f"--aggregation {aggregation}: a track-level setting; --songs scores each song's own probabilities "
                     "and proportions")
    data = _load_dataset(Path(dataset), kind)
    out = _results_folder(out, "evaluate", Path(dataset))  # after the dataset is read: an --out in it is no genre
    if songs:
        metrics, report = evaluate_songs(model_path, data, skip=skip, include_train=include_train,
                                         n_jobs=jobs or default_jobs(), progress=_progress(), out_dir=out)
    else:
        metrics, report = evaluate_model(model_path, data, include_train=include_train, aggregation=aggregation,
                                         skip=skip, n_jobs=jobs or default_jobs(), progress=_progress(), out_dir=out)
    if report["excluded_training_tracks"]:
        _note(f"{len(report['excluded_training_tracks'])} track(s) the model was trained on were left out "
                          "(--include-train to keep them)")
    if report["unknown_genre_tracks"]:
        _note(f"{len(report['unknown_genre_tracks'])} track(s) of genres the model does not know were "
                          "left out")
    if not metrics:
        _report_failures(report["failures"], report["problems"])
        err_console.print(f"[red]no track of {escape(dataset)} left to evaluate[/]", highlight=False)
        raise typer.Exit(EXIT_ERROR)
    # scores with training tracks in them say so on the line that gives them
    seen = f" ({training_words({**report, **metrics}, unit='song' if songs else 'track')})" if include_train else ""
    if songs:
        out_console.print(f"{metrics['n']} songs: top-1 {metrics['top1']:.3f}{_interval(metrics, 'top1_ci95')}, "
                          f"top-3 {metrics['top3']:.3f}, "
                          f"proportion score {metrics['proportion_score']:.3f}{seen} -> {out / 'songs.json'}",
                          markup=False)
    else:
        out_console.print(f"{metrics['n']} {'track' if metrics['n'] == 1 else 'tracks'}: accuracy "
                          f"{metrics['accuracy']:.3f}{_interval(metrics)}, balanced "
                          f"{metrics['balanced_accuracy']:.3f}, top-3 {metrics['top3_accuracy']:.3f}, macro F1 "
                          f"{metrics['f1_macro']:.3f}{seen} -> {out / 'metrics.json'}", markup=False)
        _averaging_note(metrics)
    # a song score over the known genres is complete; a metrics table without some genres is not
    left_out = set(report["unknown_genre_tracks"])
    by_genre = Counter(t.label for t in data.tracks if t.path in left_out)
    unknown = [] if songs else [{"path": f"{dataset} ({genre})", "reason": f"{n} track(s) of a genre the model does "
                                 "not know"} for genre, n in sorted(by_genre.items())]
    partial = _report_failures(report["failures"], report["problems"] + unknown)
    raise typer.Exit(EXIT_PARTIAL if partial else EXIT_OK)


def _interval(metrics: dict, key: str = "accuracy_ci95") -> str:
    """`` (95% interval 0.31-0.83)``: what the accuracy on these few or many tracks settles."""
    from genrekit.evaluate.metrics import interval_words

    words = interval_words(metrics.get(key), ".2f")
    return f" ({words})" if words else ""


def _averaging_note(metrics: dict) -> None:
    """Why a macro F1 is far under the accuracy, where it is: genres named that no track holds."""
    from genrekit.evaluate.metrics import averaging_note

    note = averaging_note(metrics)
    if note:
        out_console.print(note, markup=False)


@app.command()
@network_options(leave_out=("patience",))
def compare(
    ctx: typer.Context,
    out: OutOption = None,
    dataset: Annotated[Path | None, typer.Argument(metavar="DATASET",
                                                   help="Dataset folder or manifest (or use --table).")] = None,
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
    settings: dict | None = None,
) -> None:
    """Cross-validate many models on the same folds; writes comparison.json|md|png and out_of_fold.csv (paired tests).

    Networks train with the settings of the options or --config FILE (no validation tracks:
    every epoch runs, so --patience does not apply); comparison.json records them."""
    from genrekit.datasets import check_genres, fold_grouping, read_feature_table
    from genrekit.errors import DatasetError
    from genrekit.evaluate import compare_models
    from genrekit.evaluate.run import compared_on
    from genrekit.features import FeatureSpec
    from genrekit.models import MODELS, features_made_for, recipe_name, recipe_names
    from genrekit.models.classical import lacks_features
    from genrekit.train.recipes import table_for

    names = list(MODELS) if models == "all" else list(dict.fromkeys(recipe_name(m.strip()) for m in models.split(",")
                                                                    if m.strip()))
    unknown = [m for m in names if m not in recipe_names()]
    if (dataset is None) == (table_path is None):
        _usage_error("DATASET or --table: expected one of them, found " + ("both" if dataset is not None else "neither"))
    if table_path is not None:
        _refuse_extraction_with_table(ctx)
    if unknown or not names:
        _usage_error(f"--models {models!r}: expected model names from {', '.join(recipe_names())} (or 'all'), found "
                     + (f"unknown {', '.join(unknown)}" if unknown else "none"))
    if not any(name in catalogue.NETWORKS for name in names):  # a network's setting would be ignored without a word
        given = [name for name in (*NETWORK_OPTIONS, "epochs", "device") if not _from_config(ctx, name)]
        if given:
            _usage_error(f"{', '.join('--' + name.replace('_', '-') for name in given)}: only for networks, and "
                         f"--models {models} holds none")
    failures: dict[str, str] = {}
    data = table = None

    def made_for_others(columns: list[str]) -> list[str]:
        """The models made for a feature set these columns lack (musicnn-prior without the
        taggers' columns is a plain logistic regression under the default model's name)."""
        return [n for n in names if lacks_features(n, columns)]

    def leave_out(others: list[str], features: str) -> None:
        nonlocal names
        if not others:
            return
        made = ", ".join(f"{n} on {features_made_for(n)}" for n in others)
        wanted = features_made_for(others[0])
        if models != "all":
            _usage_error(f"--models: {made} features, which {features} lacks (compare them with --features {wanted}"
                         + (f" on the dataset, or a table of {wanted} features)" if table_path is not None else ")"))
        names = [n for n in names if n not in others]
        _note(f"left out: {made} features, which {escape(features)} lacks (--features NAME compares them)",
              highlight=False)

    if table_path is not None:
        table, source, features = read_feature_table(table_path), str(table_path), None
        leave_out(made_for_others(table.columns), str(table_path))
        tracks = {genre: len(set(table.tracks[table.y == i])) for i, genre in enumerate(table.labels)}
        thin = [genre for genre, n in tracks.items() if n < 2]
        if len(tracks) - len(thin) < 2:  # every fold's training part would hold one genre
            raise DatasetError(f"{table_path}: {len(tracks) - len(thin)} genre(s) with two tracks or more "
                               f"({', '.join(tracks)}: {', '.join(map(str, tracks.values()))} tracks); "
                               "cross-validation needs at least two")
        if max(tracks.values()) < folds:  # stratified folds need one genre to fill them all
            _usage_error(f"--folds {folds}: the largest genre of {table_path} has {max(tracks.values())} tracks; "
                         f"expected at most {max(tracks.values())} folds")
        n_groups = len(set(table.groups))
        if n_groups < folds:  # folds never split a group (a 'group' column's artist, or a track)
            _usage_error(f"--folds {folds}: {table_path} has {n_groups} groups (its 'group' column), which folds never "
                         f"split; expected at most {n_groups} folds")
        if thin:  # one track cannot be both trained on and tested: its genre drags the macro F1 down
            _note(f"[yellow]warning:[/] genres with one track, which cannot be both trained on and tested: "
                  f"{escape(', '.join(thin))}", highlight=False)
        from genrekit.datasets.splits import gtzan_shares_artists

        shared = gtzan_shares_artists(table, "these folds", str(table_path))
        if shared:  # the published 1000-clip table: where GTZAN's artist runs inflate scores most
            _note(f"[yellow]warning:[/] {escape(shared)}", highlight=False)
        out = _results_folder(out, "compare", table_path)
    else:
        leave_out(made_for_others(FeatureSpec(feature_set).columns), feature_set)
        data = _load_dataset(dataset, kind)
        check_genres(data, purpose="cross-validation", folds=folds)  # before any extraction
        from genrekit.datasets.splits import gtzan_shares_artists

        shared = gtzan_shares_artists(data, "these folds")
        if shared:
            _note(f"[yellow]warning:[/] {escape(shared)}", highlight=False)
        source, features = str(dataset), feature_set
        out = _results_folder(out, "compare", dataset)
        table = table_for(names, data, FeatureSpec.at_default_level(feature_set, chunk), cache=_cache(cache, no_cache),
                          n_jobs=jobs, progress=_progress())
        failures = table.failures if table is not None else {}
    grouping = fold_grouping(data if data is not None else table)

    def show(row):
        _note(f"  {row['model']}: {row['accuracy_mean']:.3f} ± {row['accuracy_std']:.3f}", highlight=False)

    settings = dict(settings)
    seed = settings.pop("seed")
    rows = compare_models(table, names, n_splits=folds, seed=seed, search=search, n_iter=n_iter,
                          n_jobs=jobs or None, dataset=data, epochs=settings.pop("epochs"),
                          device=settings.pop("device"), settings=settings, source=source, features=features,
                          out_dir=out, on_result=show, progress=_progress())
    shown = compared_on(source, features, [row.get("reads") for row in rows])
    view = Table(title=escape(f"{folds}-fold CV {grouping} on {shown}" + (", nested search" if search else "")))
    for column in ("model", "accuracy", "macro F1", "fit s/fold"):
        view.add_column(column, justify="left" if column == "model" else "right")
    for row in sorted(rows, key=lambda r: -r["accuracy_mean"]):
        view.add_row(escape(row["model"]), f"{row['accuracy_mean']:.3f} ± {row['accuracy_std']:.3f}",
                     f"{row['f1_macro_mean']:.3f} ± {row['f1_macro_std']:.3f}", f"{row['fit_seconds']:.2f}")
    out_console.print(view)
    for row in rows:
        if row.get("search") and row.get("searched_folds", folds) < folds:
            out_console.print(f"{row['model']}: searched in {row['searched_folds']} of {folds} folds; the others' "
                              "genres were too few tracks or artists for inner folds, so they were fitted untuned", markup=False)
    import json

    kept = [name for name in json.loads((out / "comparison.json").read_text()).get("models", {}) if name not in names]
    out_console.print(f"-> {out / 'comparison.json'}, comparison.md, comparison.png, out_of_fold.csv", markup=False)
    if kept:  # the files hold every model compared on this setup, the table those asked now
        _note(f"those files also hold {len(kept)} model(s) an earlier comparison of the same setup fitted: "
              f"{escape(', '.join(kept))}", highlight=False)
    for row in rows:  # files the folds could not use (a network decodes its tracks itself)
        failures = {**failures, **row.get("failures", {})}
    raise typer.Exit(EXIT_PARTIAL if _report_failures(failures, data.problems if data is not None else None)
                     else EXIT_OK)


@app.command()
def report(
    run_dir: Annotated[Path, typer.Argument(metavar="RUN_DIR",
                                            help="A run folder (the --out of train, evaluate, compare or explore).")],
    out: Annotated[Path | None, typer.Option("--out", "-o", **_file_or_folder("report.html"),
                                             help="HTML file, or a folder to write report.html into (one "
                                             "ending in / is made if needed; default: RUN_DIR/report.html).")] = None,
) -> None:
    """One self-contained HTML page for a run: data, configuration, curves, metrics, failures, plots."""
    from genrekit.evaluate.html import page_refusal, write_html_report

    if out is not None and (refused := page_refusal(out)):  # a run's model.genrekit was overwritten
        _usage_error(f"--out {out}: {refused}")
    if out is not None:
        _output_folder(out.parent, "--out")
    path = write_html_report(run_dir, out)
    out_console.print(f"report -> {path}", markup=False)


@app.command()
def export(
    out: Annotated[Path, typer.Option("--out", "-o", **_file_or_folder("model.onnx"), help="The ONNX file to "
                                      "write (.onnx), or a folder to write model.onnx into (one ending in / is "
                                      "made if needed).")],
    model_path: Annotated[str | None, typer.Argument(metavar="MODEL", help="A network (model.safetensors), a "
                                                     "classical model (model.genrekit) or 'default' (genrekit's "
                                                     "own model file); or use --model.",
                                                     show_default=False)] = None,
    model_option: Annotated[str | None, typer.Option("--model", "-m", help="The model, as MODEL. Default: "
                                                     f"{MODEL_DEFAULTS}.")] = None,
    export_format: Annotated[str, typer.Option("--format", **_choice("onnx"), help="onnx: probabilities out, dynamic "
                                               "batch.")] = "onnx",
    frontend: Annotated[str, typer.Option(**_choice(*FRONTENDS), help="Networks: graph: waveform in, the log-mel front end inside the file; "
                                               "numpy: log-mel in, computed by genrekit's numpy runtime (smaller, "
                                               "faster). A classical model's file (the default's too) always takes what "
                                               "the runtime computes: musicnn's log-mel patches, or feature rows.")] = "graph",
    int8: Annotated[bool, typer.Option("--int8", help="Quantize the network to int8 (static, calibrated).")] = False,
    calibration: Annotated[list[Path] | None, typer.Option(
        help="Audio to calibrate int8 with: files or folders (e.g. the training tracks). Repeatable.")] = None,
    max_windows: Annotated[int, typer.Option(**_at_least(1), help="Calibration windows drawn at most.")] = 512,
    light: Annotated[bool, typer.Option("--light", help="For a head on both musicnn taggers, such as the default model: "
                                        "MTT_musicnn heard on one patch in three, a student guessing the others; "
                                        "about a third less CPU, probabilities within about 0.15. The shipped "
                                        "ONNX default is this export of the default.")] = False,
    strip_training: Annotated[bool, typer.Option("--strip-training", help="Leave out the training tracks' ids and "
                                                 "hashes and the dataset's folder (about 220 bytes a track; a path "
                                                 "of this machine): for a phone or a model shared; evaluate can then "
                                                 "no longer leave the training tracks out.")] = False,
) -> None:
    """Export a network (fp32 or int8) or a classical model to ONNX; `predict`, `tag` and `serve` run it without PyTorch."""
    from genrekit.export import export_onnx
    from genrekit.models.interface import ONNX_SUFFIX
    from genrekit.predict.library import library_files

    if out.suffix.lower() != ONNX_SUFFIX:  # genrekit knows a model file by its ending: any other would not load
        _usage_error(f"--out {out}: expected an {ONNX_SUFFIX} file name, found {out.suffix or 'no extension'}")
    _output_folder(out.parent, "--out")  # before the model is loaded (or, for the default, built)
    model_path = Path(_model(model_path, model_option, default=None))
    files = [f for path in calibration or [] for f in (library_files(path) if path.is_dir() else [path])]
    if calibration and not int8:
        _usage_error("--calibration: calibrates --int8 quantization, which was not asked for (add --int8)")
    if int8 and light:  # first: no --calibration would make it work
        _usage_error("--light with --int8: the light export is fp32 only")
    if int8 and not calibration:
        _usage_error("--int8: needs --calibration DIR, audio to calibrate with (a few dozen real clips, e.g. the "
                     "training tracks)")
    for given in calibration or []:  # named now, not after the fp32 export (or as if no --calibration were given)
        if not given.exists():
            _usage_error(f"--calibration {given}: no such file or folder")
        if given.is_dir() and not library_files(given):
            _usage_error(f"--calibration {given}: a folder without audio files; expected clips such as the training "
                         "tracks")
    path = export_onnx(model_path, out, frontend=frontend, int8=int8, calibration=files,
                       max_calibration_windows=max_windows, light=light, strip_training=strip_training)
    from genrekit.models import load

    exported = load(path)  # proof that the file loads and runs
    calibrated = (getattr(exported, "config", None) or {}).get("calibration", {}).get("files", len(files))
    precision = f"int8, calibrated on {calibrated} of {len(files)} files" if int8 else "fp32, light" if light else "fp32"
    out_console.print(f"ONNX ({exported.name}, {exported.kind}, {precision}) -> {path} "
                      f"({path.stat().st_size / 1e6:.2f} MB)", markup=False)
    if int8 and calibrated < len(files):  # written, but not from all it was given: partial, as train's left-out files
        err_console.print(f"[yellow]{len(files) - calibrated} of {len(files)} calibration file(s) could not be used "
                          "(each named in a warning above; unreadable, silent or too short) and were left out[/]",
                          highlight=False)
        raise typer.Exit(EXIT_PARTIAL)


@app.command("models")
def list_models() -> None:
    """List the model names and feature sets (instantly: no model library is imported)."""
    import importlib.util

    from rich.table import Table

    view = Table(box=None, pad_edge=False)  # the descriptions wrap at the terminal's width, names never do
    for column in ("kind", "name"):
        view.add_column(column, no_wrap=True)
    view.add_column("what it is", ratio=1)
    for name, description in catalogue.CLASSICAL.items():
        default = name == catalogue.DEFAULT_MODEL and "default" not in description
        view.add_row("model", name, description + (" (default)" if default else ""))
    torch = importlib.util.find_spec("torch") is not None  # found, not imported
    for name, description in (catalogue.NETWORKS.items() if torch else []):
        view.add_row("network", name, description)
    for name, description in catalogue.FEATURE_SETS.items():
        view.add_row("features", name, description)
    out_console.print(view, highlight=False)
    if not torch:
        out_console.print("networks: install genrekit\\[deep] (PyTorch) for the network presets")
