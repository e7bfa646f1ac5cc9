"""Looking at a feature table: PCA, t-SNE, k-means against the genres, and which features a
classical model relies on (permutation importance on held-out tracks).

Everything is seeded; features are standardised first. Results are a dict (JSON-ready) and,
with ``out_dir``, PNG plots and CSV tables.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pandas as pd

from genrekit.datasets import FeatureTable, train_val_test_split
from genrekit.errors import ModelError, ParameterError, check_flags, check_whole_number
from genrekit._files import path_given, save_figure, spreadsheet_cell, spreadsheet_csv, write_json, write_text_atomic
from genrekit.predict.song import genre_colours

logger = logging.getLogger(__name__)


def explore(
    table: FeatureTable,
    *,
    seed: int = 0,
    model: str = "logreg",
    tsne: bool = True,
    n_repeats: int = 5,
    top: int = 20,
    out_dir: str | Path | None = None,
    source: str = "",
) -> dict:
    """PCA, t-SNE and k-means (k = number of genres) of the standardised features, and the
    permutation importance of ``model`` fitted on 75% of the tracks and scored on the rest.

    Returns
    -------
    dict with ``pca`` (``explained_variance_ratio``, ``components_for_90_percent``),
    ``kmeans`` (``k``, ``adjusted_rand_index``, ``normalized_mutual_info``, ``silhouette``,
    ``contingency``: cluster -> genre -> rows; ``silhouette`` None where k-means found one
    cluster), ``importance`` (``model``, ``n_test_tracks``, ``held_out_accuracy``, ``top``:
    feature, mean and std of the accuracy drop over ``n_repeats`` shuffles of the one held-out
    part; empty, with ``not_measured`` saying why, where fewer than 2 tracks of 2 genres are held
    out), ``n_rows``, ``n_features`` (those that vary: ``constant_columns_left_out`` names the
    others, which PCA, t-SNE and k-means leave out), and what was run: ``source`` (as given),
    ``rows_are``, ``held_out_grouping``, ``held_out_caveat`` (GTZAN's shared artists, or None), ``tsne``,
    ``n_repeats``, ``seed``, ``genrekit_version``.

    Raises
    ------
    ParameterError
        Fewer than 4 rows, 2 genres, a genre of 3 tracks, or 2 feature columns that vary; or an
        option of the wrong kind (checked before any work).
    ModelError
        ``model`` is not a classical model (a network does not fit on a table).
    """
    from sklearn.cluster import KMeans
    from sklearn.decomposition import PCA
    from sklearn.metrics import adjusted_rand_score, normalized_mutual_info_score, silhouette_score
    from sklearn.preprocessing import StandardScaler

    out_dir = _check_exploration(table, seed=seed, model=model, tsne=tsne, n_repeats=n_repeats, top=top,
                                 out_dir=out_dir, source=source)
    if len(table.y) < 4 or len(set(table.y)) < 2:
        raise ParameterError(f"explore needs at least 4 rows and 2 genres; the table has {len(table.y)} rows, "
                             f"{len(set(table.y))} genre(s)")
    per_genre = table.track_frame().groupby("y").size()
    if per_genre.max() < 3:  # a quarter of a genre's tracks is held out for the importance: none of 2
        raise ParameterError(f"explore needs a genre with at least 3 tracks (a quarter of each genre's tracks is "
                             f"held out for the permutation importance); the most any genre has is {per_genre.max()}")
    varying = np.ptp(table.X, axis=0) > 0  # a constant column says nothing and has no variance to share
    if varying.sum() < 2:
        raise ParameterError(f"explore needs at least 2 feature columns that vary; the table has {int(varying.sum())} "
                             f"(of {table.X.shape[1]})")
    X = StandardScaler().fit_transform(table.X[:, varying])
    genres = np.array(table.labels)[table.y]
    pca = PCA(random_state=seed).fit(X)
    ratios = pca.explained_variance_ratio_
    pca_2d = pca.transform(X)[:, :2]
    k = len(np.unique(table.y))
    clusters = KMeans(n_clusters=k, n_init=10, random_state=seed).fit_predict(X)
    found = len(np.unique(clusters))  # fewer than k where rows coincide; a silhouette needs two
    from genrekit import __version__
    from genrekit.datasets import fold_grouping

    result = {
        # what was explored, and how: a figure in a paper can be traced back to it
        "command": "explore", "genrekit_version": __version__, "source": source,
        "rows_are": "chunks or segments (several rows a track)" if table.chunked else "tracks (one row each)",
        "held_out_grouping": fold_grouping(table), "tsne": tsne, "n_repeats": n_repeats,
        "n_rows": int(len(X)), "n_features": int(X.shape[1]), "seed": seed,
        "constant_columns_left_out": [c for c, v in zip(table.columns, varying) if not v],
        "pca": {"explained_variance_ratio": ratios.tolist(),
                "components_for_90_percent": int(np.searchsorted(np.cumsum(ratios), 0.9) + 1)},
        "kmeans": {
            "k": k,
            "adjusted_rand_index": float(adjusted_rand_score(table.y, clusters)),
            "normalized_mutual_info": float(normalized_mutual_info_score(table.y, clusters)),
            "silhouette": float(silhouette_score(X, clusters, random_state=seed)) if 1 < found < len(X) else None,
            "contingency": {int(c): {g: int(n) for g, n in row.items() if n}
                            for c, row in pd.crosstab(clusters, genres).iterrows()},
        },
    }
    from genrekit.datasets.splits import gtzan_shares_artists

    # GTZAN clips held out by track: the importance is measured on artists it was fitted on
    if shared := gtzan_shares_artists(table, "the permutation importance's held-out quarter", source):
        logger.warning("%s", shared)
    result["held_out_caveat"] = shared
    tsne_2d = _tsne(X, seed) if tsne else None
    result["importance"] = _importance(table, model=model, seed=seed, n_repeats=n_repeats, top=top)
    if out_dir is not None:
        _write(result, table, genres, pca_2d, tsne_2d, clusters, out_dir)
    return result


def _check_exploration(table, *, seed, model, tsne, n_repeats, top, out_dir, source) -> Path | None:
    """Every option checked before PCA and t-SNE run (a bad ``top`` failed after them);
    ``out_dir`` as a Path."""
    from genrekit.datasets.splits import check_seed
    from genrekit.datasets.table import check_feature_table
    from genrekit.models.classical import classical_problem, lacks_features

    check_feature_table(table)
    check_seed(seed)
    check_flags(tsne=tsne)
    check_whole_number("n_repeats", n_repeats, of="shuffles per feature")
    check_whole_number("top", top, of="features listed")
    if problem := classical_problem(model):
        raise ModelError(problem)
    if made_for := lacks_features(model, table.columns):
        raise ParameterError(f"model={model!r}: made for {made_for} features, which the table lacks")
    if not isinstance(source, str):
        raise ParameterError(f"source={source!r:.60}: expected a str saying where the table came from")
    return None if out_dir is None else Path(path_given(out_dir, "out_dir"))


def _tsne(X: np.ndarray, seed: int) -> np.ndarray:
    from sklearn.manifold import TSNE

    perplexity = float(min(30.0, (len(X) - 1) / 3))
    return TSNE(n_components=2, perplexity=perplexity, init="pca", random_state=seed).fit_transform(X)


def _importance(table: FeatureTable, *, model: str, seed: int, n_repeats: int, top: int) -> dict:
    """Permutation importance on held-out tracks: how much accuracy drops when a feature is shuffled."""
    from sklearn.inspection import permutation_importance

    from genrekit.models.classical import columnwise_split, fit_estimator

    tracks = table.track_frame()
    parts = np.array(train_val_test_split(tracks["y"].to_numpy(), tracks["group"].to_numpy(),
                                          sizes=(0.75, 0.0, 0.25), seed=seed))
    test_tracks = set(tracks["track"].to_numpy()[parts == "test"])
    test = np.isin(table.tracks, list(test_tracks))
    fitted, _ = fit_estimator(model, table.X[~test], table.y[~test], table.groups[~test], search=False, n_iter=0,
                              inner_splits=0, seed=seed, labels=table.labels, columns=table.columns)
    X, estimator = table.X[test], fitted
    split = columnwise_split(fitted)
    if split is not None:  # transform once, not once per feature and repeat (518 x 5 times)
        transform, estimator = split
        X = transform.transform(X)
    held_out = {"model": model, "n_test_tracks": len(test_tracks),
                "held_out_accuracy": float((fitted.predict(table.X[test]) == table.y[test]).mean())}
    if len(test_tracks) < 2 or len(np.unique(table.y[test])) < 2:  # a shuffle could not change a thing
        return {**held_out, "top": [], "not_measured": f"{len(test_tracks)} held-out track(s) of "
                f"{len(np.unique(table.y[test]))} genre(s): too few for shuffling a feature to show anything"}
    drops = permutation_importance(estimator, X, table.y[test], n_repeats=n_repeats, random_state=seed,
                                   scoring="accuracy")
    order = np.argsort(-drops.importances_mean, kind="stable")[:top]
    return {**held_out, "top": [{"feature": table.columns[i], "mean": float(drops.importances_mean[i]),
                                 "std": float(drops.importances_std[i])} for i in order]}


def _write(result: dict, table: FeatureTable, genres: np.ndarray, pca_2d: np.ndarray, tsne_2d: np.ndarray | None,
           clusters: np.ndarray, out: Path) -> None:
    from matplotlib.figure import Figure  # not pyplot: a notebook's backend and figures stay its own

    out.mkdir(parents=True, exist_ok=True)
    # the files that gave no features, in the record as on the terminal (compare's comparison.json keeps them too)
    write_json(out / "explore.json", {**result, **({"left_out": dict(table.failures)} if table.failures else {})})
    coords = pd.DataFrame({"track_id": table.tracks, "genre": genres, "cluster": clusters,
                           "pc1": pca_2d[:, 0], "pc2": pca_2d[:, 1]})
    if tsne_2d is not None:
        coords["tsne1"], coords["tsne2"] = tsne_2d[:, 0], tsne_2d[:, 1]
    write_text_atomic(out / "embedding.csv", spreadsheet_csv(coords, ("track_id", "genre")))
    for name in ([] if tsne_2d is not None else ["tsne.png"]) + ([] if result["importance"]["top"] else
                                                                ["importance.csv", "importance.png"]):
        (out / name).unlink(missing_ok=True)  # an earlier run's, of other data: not this run's to show
    if result["importance"]["top"]:
        write_text_atomic(out / "importance.csv", spreadsheet_csv(pd.DataFrame(result["importance"]["top"]),
                                                                  ("feature",)))
    contingency = pd.crosstab(pd.Series(clusters, name="cluster"), pd.Series(genres, name="genre"))
    write_text_atomic(out / "clusters.csv", contingency.rename(columns=spreadsheet_cell).to_csv())  # genres name its columns
    colours = genre_colours(table.labels)

    def scatter(axis, xy, title, xlabel, ylabel):
        handles, names = [], []
        for genre in table.labels:
            rows = genres == genre
            if rows.any():
                handles.append(axis.scatter(xy[rows, 0], xy[rows, 1], s=14, color=colours[genre], alpha=0.8))
                names.append(genre)
        axis.set(title=title, xlabel=xlabel, ylabel=ylabel)
        return handles, names  # given to legend() as they are: it leaves out labels that start with "_"

    ratios = np.array(result["pca"]["explained_variance_ratio"])
    # the genres beside the map, in columns of at most 20: inside it, many of them hid the points
    columns = -(-len(table.labels) // 20)
    figure = Figure(figsize=(12 + 1.5 * columns, 4.8), layout="constrained")
    left, right = figure.subplots(1, 2)
    shown = min(30, len(ratios))
    left.bar(np.arange(1, shown + 1), ratios[:shown], color="#4c72b0", label="each component")
    left.plot(np.arange(1, shown + 1), np.cumsum(ratios)[:shown], color="#dd8452", marker=".", label="cumulative")
    left.set(title="PCA: explained variance", xlabel="component", ylabel="ratio", ylim=(0, 1))
    left.legend()
    legend = scatter(right, pca_2d, "PCA: first two components", f"PC1 ({ratios[0]:.0%})", f"PC2 ({ratios[1]:.0%})")
    right.legend(*legend, fontsize=7, loc="upper left", bbox_to_anchor=(1.0, 1.0), ncol=columns, frameon=False)
    save_figure(figure, out / "pca.png")
    if tsne_2d is not None:
        figure = Figure(figsize=(7 + 1.5 * columns, 6), layout="constrained")
        axis = figure.subplots()
        legend = scatter(axis, tsne_2d, "t-SNE (2-D) coloured by genre", "t-SNE 1", "t-SNE 2")
        axis.legend(*legend, fontsize=7, loc="upper left", bbox_to_anchor=(1.0, 1.0), ncol=columns, frameon=False)
        save_figure(figure, out / "tsne.png")
    # at least the title's width (3 genres cut it at "silho"), at most 30 inches a side (250 genres took a
    # 12100 x 9200 px figure and 4.6 GB); past 40 genres the counts in the cells are too small to read
    n_rows, n_columns = contingency.shape
    figure = Figure(figsize=(min(30.0, max(4.5, 1.0 + 0.6 * n_columns)), min(30.0, max(2.5, 1.2 + 0.45 * n_rows))),
                    layout="constrained")
    axis = figure.subplots()
    axis.imshow(contingency.to_numpy(), cmap="Blues", aspect="auto")
    small = max(n_rows, n_columns) > 40
    axis.set_xticks(range(n_columns), contingency.columns, rotation=45 if not small else 90, ha="right",
                    fontsize=None if not small else 4)
    axis.set_yticks(range(n_rows), [f"cluster {c}" for c in contingency.index], fontsize=None if not small else 4)
    if not small:
        for (i, j), n in np.ndenumerate(contingency.to_numpy()):
            if n:
                axis.text(j, i, str(n), ha="center", va="center", fontsize=8)
    kmeans = result["kmeans"]
    silhouette = "none" if kmeans["silhouette"] is None else f"{kmeans['silhouette']:.2f}"
    axis.set_title(f"k-means (k={kmeans['k']}) against genres\nARI {kmeans['adjusted_rand_index']:.2f}, "
                   f"silhouette {silhouette}", fontsize=9)
    save_figure(figure, out / "kmeans.png")
    top = result["importance"]["top"][::-1]
    if not top:
        return
    figure = Figure(figsize=(8, 0.3 * len(top) + 1.2), layout="constrained")
    axis = figure.subplots()
    axis.barh([t["feature"] for t in top], [t["mean"] for t in top], xerr=[t["std"] for t in top], color="#55a868")
    axis.set(xlabel="accuracy drop when shuffled (held-out tracks)",
             title=f"permutation importance, {result['importance']['model']} "
                   f"({result['importance']['n_test_tracks']} held-out tracks, accuracy "
                   f"{result['importance']['held_out_accuracy']:.2f})")
    axis.tick_params(axis="y", labelsize=7)
    save_figure(figure, out / "importance.png")


