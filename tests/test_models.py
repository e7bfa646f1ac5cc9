import importlib.util
import json
import re
import zipfile

import numpy as np
import pytest
import skops.io as sio

from genrekit.errors import ModelError
from genrekit.features import FeatureSpec
from genrekit.models import MODELS, GenreModel, load_model, make_model, read_manifest, save_model
from genrekit.models.classical import quiet_fit


@pytest.fixture(scope="module")
def blobs():
    rng = np.random.default_rng(0)
    y = np.repeat(np.arange(3), 30)
    X = rng.normal(size=(90, 57))
    for k in range(3):  # each genre raises its own block of columns
        X[y == k, 8 * k : 8 * k + 8] += 3.0
    return X, y


def test_at_least_eleven_classifiers():
    required = {"logreg", "linear-svc", "svc-rbf", "nu-svc", "knn", "decision-tree", "random-forest",
                "extra-trees", "gradient-boosting", "adaboost", "xgboost"}
    assert required <= set(MODELS)


# The ensemble's learners, fewer trees and iterations than the recipe's 500 trees, 300 boosting
# rounds and 2000 MLP epochs: the same types fitted, saved and loaded (the full-size ensemble:
# test_hostile_models.py's test_a_ten_genre_ensemble_passes_the_archive_caps).
SMALL = {"ensemble": {"clf__extra_trees__n_estimators": 20, "clf__boosting__max_iter": 20, "clf__mlp__max_iter": 200}}


@pytest.mark.parametrize("name", list(MODELS))
def test_every_model_fits_saves_and_loads_identically(tmp_path, blobs, name):
    X, y = blobs
    with quiet_fit():
        spec = FeatureSpec("gtzan57")
        pipeline = make_model(name, seed=0, labels=["a", "b", "c"], columns=spec.columns,
                              **SMALL.get(name, {})).fit(X[::2], y[::2])
    model = GenreModel(name, ["a", "b", "c"], spec, pipeline, metrics={"accuracy": 0.5})
    proba = model.predict_proba(X[1::2])
    assert proba.shape == (45, 3) and np.allclose(proba.sum(axis=1), 1)
    assert (proba.argmax(axis=1) == y[1::2]).mean() > 0.7, "separable blobs must be learnt (chance: 0.33)"
    path = save_model(model, tmp_path / "m.genrekit")
    loaded = load_model(path)
    assert loaded.labels == ["a", "b", "c"] and loaded.spec == FeatureSpec("gtzan57") and loaded.name == name
    assert np.array_equal(loaded.predict_proba(X[1::2]), proba)
    manifest = read_manifest(path)
    assert manifest["format"] == "genrekit-model" and manifest["sample_rate"] == 22050
    assert manifest["metrics"] == {"accuracy": 0.5}


def test_save_model_refuses_another_ending_and_what_is_not_a_genre_model(tmp_path, blobs):
    """A .onnx or .safetensors name made a zip that load() then read as that kind ("not an
    ONNX file"); an adapter or a path gave an AttributeError."""
    from genrekit.errors import ParameterError
    from genrekit.models import load

    path = _saved(tmp_path, blobs)
    model = load_model(path)
    for name in ("m.onnx", "m.safetensors", "m"):
        with pytest.raises(ParameterError, match="a classical model file ends in .genrekit"):
            save_model(model, tmp_path / name)
        assert not (tmp_path / name).exists()
    for wrong, said in ((load(path), "found ClassicalClassifier .genrekit.load's adapters"), (str(path), "found str")):
        with pytest.raises(ParameterError, match=f"model: expected a GenreModel .*{said}"):
            save_model(wrong, tmp_path / "copy.genrekit")


def test_model_params_are_validated():
    with pytest.raises(ModelError, match="model 'svm' is unknown"):
        make_model("svm")
    with pytest.raises(ModelError, match="invalid parameters"):
        make_model("logreg", clf__nope=1)


def _saved(tmp_path, blobs):
    X, y = blobs
    pipeline = make_model("logreg").fit(X, y)
    return save_model(GenreModel("logreg", ["a", "b", "c"], FeatureSpec("gtzan57"), pipeline), tmp_path / "m.genrekit")


def _rewrite(path, member, data):
    with zipfile.ZipFile(path) as archive:
        members = {name: archive.read(name) for name in archive.namelist()}
    members[member] = data
    with zipfile.ZipFile(path, "w") as archive:
        for name, content in members.items():
            archive.writestr(name, content)


def test_tampered_payload_is_refused(tmp_path, blobs):
    path = _saved(tmp_path, blobs)
    with zipfile.ZipFile(path) as archive:
        payload = bytearray(archive.read("pipeline.skops"))
    payload[len(payload) // 2] ^= 0xFF
    _rewrite(path, "pipeline.skops", bytes(payload))
    with pytest.raises(ModelError, match="checksum mismatch for pipeline.skops"):
        load_model(path)


def test_foreign_types_are_refused_even_with_matching_checksum(tmp_path, blobs):
    import hashlib
    from collections import OrderedDict

    path = _saved(tmp_path, blobs)
    evil = sio.dumps(OrderedDict(a=1))  # loads fine, but is not a Pipeline
    _rewrite(path, "pipeline.skops", evil)
    manifest = json.loads(zipfile.ZipFile(path).read("genrekit.json"))
    manifest["payload"]["pipeline.skops"] = hashlib.sha256(evil).hexdigest()
    _rewrite(path, "genrekit.json", json.dumps(manifest).encode())
    with pytest.raises(ModelError, match="refuses to load collections.OrderedDict via DictNode"):
        load_model(path)


def test_foreign_files_are_refused(tmp_path, clip):
    with pytest.raises(ModelError, match="not a genrekit model file"):
        load_model(clip)
    other = tmp_path / "other.zip"
    with zipfile.ZipFile(other, "w") as archive:
        archive.writestr("model.pkl", b"\x80\x04")
    with pytest.raises(ModelError, match="genrekit.json missing"):
        load_model(other)
    with pytest.raises(ModelError, match="model file not found"):
        load_model(tmp_path / "absent.genrekit")


def test_wrong_feature_width_is_explained(tmp_path, blobs):
    model = load_model(_saved(tmp_path, blobs))
    with pytest.raises(ModelError, match="expects 57 gtzan57 features per row, got shape"):
        model.predict_proba(np.zeros((2, 10)))


def test_nested_search_caches_the_preprocessing_and_tunes_the_same(tmp_path, blobs, monkeypatch):
    """fit_estimator's search fits the scaling and power transform once per inner fold (cached),
    not once per candidate: the same choice and probabilities as the uncached search, a model
    file without the cache, and no cache left behind."""
    import tempfile
    from pathlib import Path

    from sklearn.preprocessing import PowerTransformer

    from genrekit.evaluate.crossval import fit_estimator
    from genrekit.models import make_search

    X, y = blobs
    groups = np.arange(len(y)) // 2  # pairs of rows as tracks
    before = set(Path(tempfile.gettempdir()).glob("genrekit-search-*"))
    fits = []
    original = PowerTransformer._fit  # what fit and fit_transform both run

    def counted(self, *args, **kwargs):
        fits.append(1)
        return original(self, *args, **kwargs)

    monkeypatch.setattr(PowerTransformer, "_fit", counted)
    cached, best = fit_estimator("logreg", X, y, groups, search=True, n_iter=6, inner_splits=3, seed=1)
    monkeypatch.undo()
    with quiet_fit():
        plain = make_search("logreg", n_iter=6, n_splits=3, seed=1).fit(X, y, groups=groups)
    assert best == plain.best_params_
    assert np.array_equal(cached.predict_proba(X), plain.best_estimator_.predict_proba(X))
    assert len(fits) == 3 + 1, f"{len(fits)} power-transform fits for 6 candidates x 3 folds + refit (uncached: 19)"
    assert cached.memory is None and set(Path(tempfile.gettempdir()).glob("genrekit-search-*")) == before
    path = save_model(GenreModel("logreg", ["a", "b", "c"], FeatureSpec("gtzan57"), cached, params=best), tmp_path / "m.genrekit")
    assert np.array_equal(load_model(path).predict_proba(X), cached.predict_proba(X))


def test_loading_a_model_without_xgboost_does_not_import_it():
    """Issue 21: xgboost is imported only for an XGBoost model (it has no macOS wheels as
    xgboost-cpu), so every other classical model loads and predicts without it; nor is
    PyTorch, and skops only once a model is read, not when genrekit is imported."""
    import subprocess
    import sys

    code = ("import sys; from genrekit.models import default_model_path, load_model, make_model; "
            "imported = 'skops.io' in sys.modules; "
            "load_model(default_model_path(onnx=False)); make_model('logreg'); "
            "print(imported, 'xgboost' in sys.modules, 'torch' in sys.modules, 'skops.io' in sys.modules)")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    # skops (and its window in which torch cannot be imported) waits for the first model read
    assert result.stdout.split() == ["False", "False", "False", "True"], result.stderr


def test_yeo_johnson_gives_power_transformers_lambdas(feature_table):
    """YeoJohnson's own lambda search gives PowerTransformer's lambdas and transform, on the
    published GTZAN table's 57 columns (heavy-tailed variances, negative means) and on
    columns of one sign, constant and tiny-scale."""
    import pandas as pd
    from sklearn.preprocessing import PowerTransformer

    from genrekit.models.gaussianize import YeoJohnson, yeojohnson_lambdas

    table = pd.read_csv(feature_table).select_dtypes("number").drop(columns=["length"]).to_numpy()[:200]
    rng = np.random.default_rng(0)
    extra = np.column_stack([-rng.exponential(size=200), np.zeros(200), rng.random(200) * 1e-4,
                             rng.lognormal(sigma=2, size=200)])
    X = np.hstack([table, extra])
    X[rng.choice(200, 5, replace=False), 3] = np.nan  # a column with gaps is searched on its own
    reference, ours = PowerTransformer().fit(X), YeoJohnson().fit(X)
    np.testing.assert_allclose(ours.lambdas_, reference.lambdas_, rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(ours.transform(X), reference.transform(X), rtol=1e-6, atol=1e-6)
    # every column searched at once steps exactly as SciPy's fminbound on each column alone
    whole = X[:, ~np.isnan(X).any(axis=0)]
    lambdas = yeojohnson_lambdas(whole)
    assert np.array_equal(lambdas, [_fminbound_lambda(column) for column in whole.T])
    assert np.array_equal(yeojohnson_lambdas(whole, block_elements=500), lambdas)  # 2 columns a block
    assert not hasattr(ours, "_lambdas_found")  # nothing of the search stays in the saved model
    with pytest.raises(ValueError, match=r"columns \[3\] hold NaN"):
        yeojohnson_lambdas(X)
    with pytest.raises(ValueError, match="lower bound exceeds the upper bound"):  # as fminbound refuses it
        yeojohnson_lambdas(np.array([[-1e200], [1e200]]))


def _fminbound_lambda(x: np.ndarray) -> float:
    """One column's lambda as genrekit searched it before 2026-12-02: SciPy's
    ``optimize.fminbound`` on a NumPy log-likelihood, with ``yeojohnson_normmax``'s bounds."""
    from scipy import optimize

    def transform(lmbda):
        out, positive = np.empty_like(x), x >= 0
        out[positive] = np.log1p(x[positive]) if abs(lmbda) < np.spacing(1.0) else \
            np.expm1(lmbda * np.log1p(x[positive])) / lmbda
        out[~positive] = -np.log1p(-x[~positive]) if abs(lmbda - 2) <= np.spacing(1.0) else \
            -np.expm1((2 - lmbda) * np.log1p(-x[~positive])) / (2 - lmbda)
        return out

    def negative_log_likelihood(lmbda):
        variance = np.var(transform(lmbda))
        if not np.isfinite(variance) or variance <= 0:
            return np.inf
        return -(-0.5 * len(x) * np.log(variance) + (lmbda - 1) * jacobian)

    if np.all(x == 0):
        return 1.0
    log1p_max_x, log_eps = np.log1p(20 * np.max(np.abs(x))), np.log(np.finfo(np.float64).eps)
    lower = (np.log(np.finfo(np.float64).tiny) - log_eps) / 2 / log1p_max_x
    upper = (np.log(np.finfo(np.float64).max) + log_eps) / 2 / log1p_max_x
    if np.all(x < 0):
        lower, upper = 2 - upper, 2 - lower
    elif np.any(x < 0):
        lower, upper = max(2 - upper, lower), min(2 - lower, upper)
    jacobian = float(np.sum(np.sign(x) * np.log1p(np.abs(x))))
    with np.errstate(over="ignore", invalid="ignore"):
        return float(optimize.fminbound(negative_log_likelihood, lower, upper, xtol=1.48e-08))


def test_a_genre_missing_from_the_fit_gets_a_zero_column():
    """A cross-validation fold whose training part lacks a genre (its tracks share one artist):
    the probabilities still have a column per genre, in the genres' order."""
    from genrekit.models.classical import predict_proba

    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(40, 5)), np.repeat([0, 2], 20)
    X[y == 2] += 2
    for name in ("logreg", "linear-svc"):
        estimator = make_model(name, seed=0).fit(X, y)
        proba = predict_proba(estimator, X, 3)
        assert proba.shape == (40, 3) and np.all(proba[:, 1] == 0) and np.allclose(proba.sum(axis=1), 1)
        assert np.array_equal(proba.argmax(axis=1), estimator.predict(X))


def test_xgboost_fits_a_fold_that_lacks_a_genre_between_others():
    """xgboost takes only genres 0..k-1: a training part without genre 1 of three is fitted on
    renumbered genres, and its probabilities come back under their own genres' columns."""
    pytest.importorskip("xgboost", reason="xgboost is the 'full' extra")
    from genrekit.models.classical import fit_estimator, predict_proba

    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(40, 5)), np.repeat([0, 2], 20)
    X[y == 2] += 3
    groups = np.arange(40)
    for search in (False, True):
        estimator, _ = fit_estimator("xgboost", X, y, groups, search=search, n_iter=2, inner_splits=3, seed=0)
        proba = predict_proba(estimator, X, 3)
        assert proba.shape == (40, 3) and np.all(proba[:, 1] == 0) and np.allclose(proba.sum(axis=1), 1)
        assert (proba.argmax(axis=1) == y).mean() > 0.9
    whole, _ = fit_estimator("xgboost", X, np.repeat([0, 1], 20), groups, search=False, n_iter=0, inner_splits=3,
                             seed=0)
    assert not hasattr(whole, "genre_columns_")  # every genre present: fitted as it is


def test_few_rows_fit_nearest_neighbours_and_searches_that_fit_them():
    from genrekit.models.classical import fit_estimator, predict_proba

    rng = np.random.default_rng(1)
    X, y = rng.normal(size=(6, 5)), np.array([0, 0, 1, 1, 2, 2])
    X += 3 * y[:, None]
    estimator, _ = fit_estimator("knn", X, y, np.arange(6), search=False, n_iter=0, inner_splits=3, seed=0)
    assert estimator[-1].n_neighbors == 6 and predict_proba(estimator, X, 3).shape == (6, 3)  # 7 asked
    X12, y12 = np.repeat(X, 2, axis=0), np.repeat(y, 2)
    estimator, best = fit_estimator("knn", X12, y12, np.arange(12), search=True, n_iter=5, inner_splits=3, seed=0)
    assert 1 <= best["clf__n_neighbors"] <= 8  # the smallest inner training part: 12 rows less a fold's 4


def test_a_search_takes_the_inner_folds_the_rows_allow_or_keeps_the_defaults_and_says_so(caplog):
    """scikit-learn refused 3 inner folds of a training part whose genres have 2 tracks or
    fewer (a traceback, and the run's model lost): fewer folds are searched; where none
    could train on two genres (xgboost: on every genre), the defaults are kept, said."""
    from genrekit.models.classical import fit_estimator

    rng = np.random.default_rng(2)
    X = rng.normal(size=(10, 5))
    y, groups = np.array([0, 0, 1, 2, 2]), np.arange(5)
    estimator, best = fit_estimator("logreg", X[:5], y, groups, search=True, n_iter=2, inner_splits=3, seed=0)
    assert set(best) == {"clf__C"}  # searched, on 2 inner folds

    with caplog.at_level("WARNING"):
        estimator, best = fit_estimator("logreg", X[:4], np.array([0, 0, 1, 1]), np.array([0, 0, 1, 1]), search=True,
                                        n_iter=2, inner_splits=3, seed=0)
    assert best == {} and estimator[-1].C == 1.0
    assert "no hyperparameter search on these 4 rows" in caplog.text and "each train on two genres" in caplog.text
    if importlib.util.find_spec("xgboost"):  # a genre of one artist: some inner fold would train without it
        caplog.clear()
        with caplog.at_level("WARNING"):
            _, best = fit_estimator("xgboost", X, np.array([0] * 4 + [1] * 2 + [2] * 4),
                                    np.array([0, 1, 2, 3, 4, 4, 5, 6, 7, 8]), search=True, n_iter=2, inner_splits=3,
                                    seed=0)
        assert best == {} and "each train on every genre" in caplog.text


def test_a_failing_cv_beside_the_model_leaves_the_model(monkeypatch, caplog):
    from genrekit.errors import AnalysisStopped
    from genrekit.train import classical

    def fails(*args, **kwargs):
        raise ValueError("n_splits=3 cannot be greater than the number of members in each class.")

    monkeypatch.setattr(classical, "small_dataset_cv", fails)
    with caplog.at_level("WARNING"):
        assert classical._auxiliary_cv(None, "logreg", seed=0) is None
    assert "the k-fold CV beside the model failed" in caplog.text and "n_splits=3" in caplog.text

    def stopped(*args, **kwargs):
        raise AnalysisStopped("stopped")

    monkeypatch.setattr(classical, "small_dataset_cv", stopped)
    with pytest.raises(AnalysisStopped):  # a run being stopped is not a failed score
        classical._auxiliary_cv(None, "logreg", seed=0)


def test_a_genre_model_whose_labels_do_not_fit_its_estimator_is_refused(blobs, tmp_path):
    """A GenreModel names column i of its estimator's probabilities genre i: labels of another
    length gave an IndexError at the first prediction, string classes in another order gave
    each genre another's probability, and an unfitted pipeline was saved. A pipeline
    load_model would refuse (a type outside the allow-list) is refused before it is written."""
    from sklearn.decomposition import PCA
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import StandardScaler

    from genrekit.errors import ParameterError

    X, y = blobs
    spec, labels = FeatureSpec("gtzan57"), ["jazz", "metal", "rock"]
    fitted = make_model("logreg").fit(X, y)
    assert GenreModel("logreg", labels, spec, fitted).predict_proba(X[:2]).shape == (2, 3)
    named = np.array(labels)[y]
    assert GenreModel("logreg", labels, spec, make_model("logreg").fit(X, named)).labels == labels
    for given, estimator, said in ((labels[:2], fitted, "labels: 2 genres, and the estimator's classes_ are [0, 1, 2]"),
                                   (labels[::-1], make_model("logreg").fit(X, named),
                                    "labels: expected the estimator's classes_ in their order"),
                                   (["jazz", "jazz", "rock"], fitted, "labels: expected each genre once"),
                                   (labels, make_model("logreg"), "estimator: expected a fitted pipeline")):
        with pytest.raises(ParameterError, match=f"^{re.escape(said)}"):
            GenreModel("logreg", given, spec, estimator)
    pca = Pipeline([("scale", StandardScaler()), ("pca", PCA(5)), ("clf", make_model("logreg")[-1])]).fit(X, y)
    with pytest.raises(ParameterError, match=r"pca.genrekit: not written: its pipeline holds sklearn.decomposition._pca.PCA"):
        save_model(GenreModel("mine", labels, spec, pca), tmp_path / "pca.genrekit")
    assert not (tmp_path / "pca.genrekit").exists()
    # a file whose manifest lists other genres than its pipeline has is refused by name
    path = save_model(GenreModel("logreg", labels, spec, fitted), tmp_path / "m.genrekit")
    with zipfile.ZipFile(path) as archive:
        members = {name: archive.read(name) for name in archive.namelist()}
    manifest = json.loads(members["genrekit.json"])
    manifest["labels"] = labels[:2]
    with zipfile.ZipFile(tmp_path / "two.genrekit", "w") as archive:
        for name, data in {**members, "genrekit.json": json.dumps(manifest).encode()}.items():
            archive.writestr(name, data)
    with pytest.raises(ModelError, match=r"two.genrekit: the classifier predicts \(3,\) classes, the description lists 2"):
        load_model(tmp_path / "two.genrekit")
