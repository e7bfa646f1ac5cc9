"""The taggers' zero-shot prior, the calibrated head on top of it, and its temperature."""

import io
import zipfile

import numpy as np
import pytest

from genrekit.errors import ModelError, ParameterError
from genrekit.models import GenreModel, load_model, make_model, save_model
from genrekit.models.calibration import fit_temperature
from genrekit.models.tagprior import GENRE_TAGS, TagPriorClassifier, normalise_genre, tag_columns, zero_shot_logits


def test_genre_names_are_normalised_before_the_mapping():
    assert normalise_genre("Hip-Hop") == normalise_genre("hip hop") == normalise_genre("HipHop") == "hiphop"
    assert tag_columns(["Hip-Hop", "Rock"], ["msd.tag.Hip-Hop", "msd.tag.rock", "x"]) == [[0], [1]]


def test_zero_shot_scores_are_the_noisy_or_log_odds_and_untagged_genres_get_the_mean():
    X = np.array([[0.5, 0.5, 0.9], [0.1, 0.0, 0.2]])
    Z = zero_shot_logits(X, [[0, 1], [2], []])
    p_any = 1 - 0.5 * 0.5
    assert Z[0, 0] == pytest.approx(np.log(p_any / (1 - p_any)))
    assert Z[0, 1] == pytest.approx(np.log(0.9 / 0.1))
    assert Z[0, 2] == pytest.approx(Z[0, :2].mean())
    assert Z[1, 0] < Z[0, 0] and np.isfinite(Z).all()
    assert not zero_shot_logits(X, [[], []]).any()


def test_every_mapped_tag_is_a_real_musicnn_column():
    from genrekit.features import FeatureSpec

    columns = set(FeatureSpec("musicnn").columns)
    for genre, tags in GENRE_TAGS.items():
        assert genre == normalise_genre(genre)
        assert set(tags) <= columns, (genre, set(tags) - columns)
    assert GENRE_TAGS["reggae"] == ()  # neither tagger names it: the prior stays neutral there


def test_temperature_is_recovered_from_samples():
    rng = np.random.default_rng(0)
    logits = rng.normal(scale=3.0, size=(4000, 5))
    true_t = 2.0
    p = np.exp(logits / true_t)
    p /= p.sum(axis=1, keepdims=True)
    y = np.array([rng.choice(5, p=row) for row in p])
    assert fit_temperature(logits, y) == pytest.approx(true_t, rel=0.1)
    with pytest.raises(ParameterError, match="expected"):
        fit_temperature(logits[:3], y[:2])


def _tagged_data(rng, n_per_genre=12):
    """Three genres; column 0 is noise-only 'embedding', columns 1-2 are tags of genres a and b."""
    labels = ["a", "b", "c"]
    y = np.repeat(np.arange(3), n_per_genre)
    X = rng.uniform(0.0, 0.2, size=(len(y), 3))
    X[:, 0] = rng.normal(size=len(y))
    X[y == 0, 1] = rng.uniform(0.6, 0.9, (y == 0).sum())
    X[y == 1, 2] = rng.uniform(0.6, 0.9, (y == 1).sum())
    return X, y, labels


def test_the_prior_decides_where_the_clips_teach_nothing(monkeypatch):
    """A head trained on uninformative clips leaves the prior's evidence in charge."""
    import genrekit.models.tagprior as tagprior

    monkeypatch.setitem(tagprior.GENRE_TAGS, "a", ("tag.a",))
    monkeypatch.setitem(tagprior.GENRE_TAGS, "b", ("tag.b",))
    rng = np.random.default_rng(1)
    X, y, labels = _tagged_data(rng)
    columns = ["embedding.0", "tag.a", "tag.b"]
    noise = X.copy()
    noise[:, 1:] = rng.uniform(0.0, 0.2, size=(len(y), 2))  # the training clips' tags say nothing
    with_prior = TagPriorClassifier(labels, columns, calibrate=False).fit(noise, y)
    without = TagPriorClassifier(labels, columns, prior_weight=0.0, calibrate=False).fit(noise, y)
    test = np.array([[0.0, 0.95, 0.05], [0.0, 0.05, 0.95]])
    assert list(with_prior.predict(test)) == [0, 1]
    assert with_prior.predict_proba(test)[0, 0] > without.predict_proba(test)[0, 0]


def test_the_classifier_calibrates_and_round_trips_through_the_model_file(tmp_path, monkeypatch):
    import genrekit.models.tagprior as tagprior
    from genrekit.features import FeatureSpec

    monkeypatch.setitem(tagprior.GENRE_TAGS, "a", ("tag.a",))
    rng = np.random.default_rng(2)
    X, y, labels = _tagged_data(rng)
    columns = ["embedding.0", "tag.a", "tag.b"]
    groups = np.repeat(np.arange(len(y) // 2), 2)
    model = make_model("musicnn-prior", labels=labels, columns=columns)
    assert [name for name, _ in model.steps] == ["clf"]  # it scales its own features: it reads raw tags
    model.fit(X, y, clf__groups=groups)
    classifier = model[-1]
    assert 0.05 <= classifier.temperature_ <= 20 and classifier.temperature_ != 1.0
    P = model.predict_proba(X)
    assert np.allclose(P.sum(axis=1), 1) and (P.argmax(axis=1) == model.predict(X)).all()
    # a GenreModel on synthetic columns: the spec is only carried, not recomputed
    spec = FeatureSpec("gtzan57")
    monkeypatch.setattr(type(spec), "columns", property(lambda self: columns))
    path = save_model(GenreModel(name="musicnn-prior", labels=labels, spec=spec, estimator=model), tmp_path / "m.genrekit")
    with zipfile.ZipFile(path) as archive, zipfile.ZipFile(io.BytesIO(archive.read("pipeline.skops"))) as skops:
        assert b"genrekit.models.tagprior" in skops.read("schema.json")
    loaded = load_model(path)
    assert np.array_equal(loaded.predict_proba(X), model.predict_proba(X))


def test_genres_in_y_give_the_same_model_as_class_indices(monkeypatch):
    """Without ``labels``, ``y`` holds the genres themselves, as for any scikit-learn
    classifier (tests/test_estimator_checks.py): the same prior, head, temperature and
    probabilities as on class indices, with a class_weight keyed by genre; predictions are genres."""
    import genrekit.models.tagprior as tagprior

    monkeypatch.setitem(tagprior.GENRE_TAGS, "a", ("tag.a",))
    monkeypatch.setitem(tagprior.GENRE_TAGS, "b", ("tag.b",))
    X, y, labels = _tagged_data(np.random.default_rng(5))
    columns = ["embedding.0", "tag.a", "tag.b"]
    groups = np.repeat(np.arange(len(y) // 2), 2)
    genres = np.array(labels)[y]
    probabilities = []
    for by_index_weight, by_genre_weight in (("balanced", "balanced"), ({0: 5.0, 1: 1.0, 2: 1.0}, {"a": 5.0, "b": 1.0, "c": 1.0})):
        by_index = TagPriorClassifier(labels, columns, class_weight=by_index_weight).fit(X, y, groups)
        by_genre = TagPriorClassifier(columns=columns, class_weight=by_genre_weight).fit(X, genres, groups)
        assert by_genre.mapping_ == by_index.mapping_ == [[1], [2], []]
        assert list(by_genre.classes_) == labels and by_genre.temperature_ == by_index.temperature_ != 1.0
        assert np.array_equal(by_genre.predict_proba(X), by_index.predict_proba(X))
        assert list(by_genre.predict(X)) == [labels[i] for i in by_index.predict(X)]
        assert by_genre.decision_function(X).shape == (len(y), 3)
        probabilities.append(by_genre.predict_proba(X))
    assert np.abs(probabilities[0] - probabilities[1]).max() > 1e-3  # the genre-keyed weights do reach the head
    binary = TagPriorClassifier(columns=columns).fit(X[y < 2], genres[y < 2])
    assert binary.decision_function(X).shape == (len(y),)  # scikit-learn's binary convention: score of the second


def test_bad_inputs_are_named():
    X, y = np.zeros((4, 2)), np.array([0, 1, 0, 1])
    with pytest.raises(ParameterError, match="columns: 1 names for 2 feature columns"):
        TagPriorClassifier(["a", "b"], ["x"]).fit(X, y)
    with pytest.raises(ParameterError, match="labels names 1 classes"):
        TagPriorClassifier(["a"], ["x", "y"]).fit(X, y)
    with pytest.raises(ParameterError, match="columns: 0 names for 2 feature columns"):  # labels need columns
        TagPriorClassifier(["a", "b"]).fit(X, y)
    with pytest.raises(ParameterError, match="with labels, y holds class indices 0..1"):
        TagPriorClassifier(["a", "b"], ["x", "y"]).fit(X, np.array(["a", "b", "a", "b"]))
    with pytest.raises(ParameterError, match="y holds one class \\('rock'\\); a classifier needs at least two"):
        TagPriorClassifier().fit(X, ["rock"] * 4)
    from sklearn.exceptions import NotFittedError

    with pytest.raises(NotFittedError):
        TagPriorClassifier().predict(X)


def test_the_onnx_export_gives_the_model_files_probabilities(tmp_path):
    """Both taggers and the head in one graph: the same probabilities as the model file, here
    for two genres, where scikit-learn keeps one row of weights (the shipped default's ten
    are checked in tests/test_musicnn.py)."""
    labels = ["classical", "rock"]
    pytest.importorskip("onnxruntime", reason="pip install genrekit[onnx]")
    from genrekit.export import export_onnx
    from genrekit.features import FeatureSpec
    from genrekit.models import load

    spec = FeatureSpec("musicnn")
    rng = np.random.default_rng(3)
    X = rng.uniform(0.0, 1.0, size=(24, len(spec.columns)))
    y = np.arange(24) % len(labels)
    pipeline = make_model("musicnn-prior", labels=labels, columns=spec.columns).fit(X, y)
    path = save_model(GenreModel("musicnn-prior", labels, spec, pipeline), tmp_path / "m.genrekit")
    exported = export_onnx(path, tmp_path / "m.onnx")
    t = np.arange(16000 * 7) / 16000
    signal = (0.3 * np.sin(2 * np.pi * 220 * t) * (1 + np.sin(2 * np.pi * 2 * t))).astype(np.float32)
    expected = load(path).predict_proba([signal])
    got = load(exported).predict_proba([signal])
    assert got.shape == (1, len(labels)) and np.allclose(got, expected, atol=1e-4)


@pytest.mark.parametrize("tamper, message", [
    (lambda c: setattr(c, "mapping_", [[10**6], [], []]), "reads a column the features do not have"),
    (lambda c: setattr(c, "mapping_", [[1]]), "does not list every genre"),
    (lambda c: setattr(c, "temperature_", -1.0), "temperature must be a positive number"),
])
def test_a_tampered_prior_is_refused_on_load(tmp_path, monkeypatch, tamper, message):
    """The prior's column indices and temperature come from the file: out-of-range ones are
    refused when the file is read, not met as an IndexError or nonsense at prediction."""
    from genrekit.features import FeatureSpec

    rng = np.random.default_rng(4)
    X, y, labels = _tagged_data(rng)
    spec = FeatureSpec("gtzan57")
    columns = ["embedding.0", "tag.a", "tag.b"]
    monkeypatch.setattr(type(spec), "columns", property(lambda self: columns))
    pipeline = make_model("musicnn-prior", labels=labels, columns=columns).fit(X, y)
    tamper(pipeline[-1])
    path = save_model(GenreModel("musicnn-prior", labels, spec, pipeline), tmp_path / "m.genrekit")
    with pytest.raises(ModelError, match=message):
        load_model(path)


def test_the_temperature_folds_count_groups_not_rows(monkeypatch):
    """A long song gives several rows (one per 30 s segment): three artists with many rows
    each are three groups, so calibration uses three folds instead of asking for four; one
    group per genre is refused by name."""
    import genrekit.models.tagprior as tagprior

    monkeypatch.setitem(tagprior.GENRE_TAGS, "a", ("tag.a",))
    monkeypatch.setitem(tagprior.GENRE_TAGS, "b", ("tag.b",))
    X, y, labels = _tagged_data(np.random.default_rng(7))
    columns = ["embedding.0", "tag.a", "tag.b"]
    artists = np.tile(np.repeat(np.arange(3), 4), 3)  # 12 rows per genre, 4 per artist, 3 artists
    fitted = TagPriorClassifier(labels, columns).fit(X, y, artists)
    assert np.isfinite(fitted.temperature_) and fitted.temperature_ > 0


def test_genres_of_one_artist_are_named_where_the_temperature_cannot_learn_from_them(monkeypatch, caplog):
    """The temperature silently rested on the genres of several artists only (48 rock rows of
    a library whose other genres were one artist each: T 1.3 against 2.0), and a library of
    one artist per genre could not be trained at all (calibrate=True needs 2 groups)."""
    import logging

    import genrekit.models.tagprior as tagprior

    monkeypatch.setitem(tagprior.GENRE_TAGS, "a", ("tag.a",))
    monkeypatch.setitem(tagprior.GENRE_TAGS, "b", ("tag.b",))
    X, y, labels = _tagged_data(np.random.default_rng(7))
    columns = ["embedding.0", "tag.a", "tag.b"]
    artists = np.where(y == 0, np.arange(len(y)) % 4, 10 + y)  # a: four artists; b and c: one each
    tagprior._WARNED.clear()
    with caplog.at_level(logging.WARNING, logger="genrekit.models.tagprior"):
        fitted = TagPriorClassifier(labels, columns).fit(X, y, artists)
    assert "the temperature is fitted on 12 of 36 rows: b, c have one artist (or group) each" in caplog.text
    assert np.isfinite(fitted.temperature_)
    caplog.clear()
    tagprior._WARNED.clear()
    with caplog.at_level(logging.WARNING, logger="genrekit.models.tagprior"):
        alone = TagPriorClassifier(labels, columns, temperature=1.0).fit(X, y, 10 + y)  # one artist per genre
    assert alone.temperature_ == 1.0 and "not calibrated (calibrate=True needs at least 2 training groups" in caplog.text
    assert np.allclose(alone.predict_proba(X).sum(axis=1), 1)


def test_a_narrower_genre_takes_its_tags_from_the_broader_one_and_spellings_are_known():
    """rock's eight tags held punk's one, so rock's noisy-OR was never below punk's: a punk song
    always had rock's prior (on GTZAN's clips by 4 nats on average). Common spellings of the
    genres (Rap, R&B, Heavy Metal, FMA's Soul-RnB) had no tags at all."""
    from genrekit.features import FeatureSpec

    columns = FeatureSpec("musicnn").columns
    name = {i: c for i, c in enumerate(columns)}
    rock, punk, classical, opera = tag_columns(["Rock", "Punk", "Classical", "Opera"], columns)
    assert [name[c] for c in punk] == ["msd.tag.punk"] and "msd.tag.punk" not in {name[c] for c in rock}
    assert len(rock) == len(GENRE_TAGS["rock"]) - 1 and [name[c] for c in opera] == ["mtt.tag.opera"]
    assert "mtt.tag.opera" not in {name[c] for c in classical}
    # GTZAN's ten keep their tags: no one of them holds another's
    gtzan = ["blues", "classical", "country", "disco", "hiphop", "jazz", "metal", "pop", "reggae", "rock"]
    assert tag_columns(gtzan, columns) == [[columns.index(t) for t in GENRE_TAGS[g]] for g in gtzan]
    spelled = {genre: [name[c] for c in tag_columns([genre, "Jazz"], columns)[0]]
               for genre in ("Rap", "R&B", "Heavy Metal", "Soul-RnB", "Hip-Hop/Rap")}
    assert spelled == {"Rap": ["msd.tag.Hip-Hop"], "R&B": ["msd.tag.rnb"], "Heavy Metal": ["msd.tag.heavy metal"],
                       "Soul-RnB": ["msd.tag.soul", "msd.tag.rnb"], "Hip-Hop/Rap": ["msd.tag.Hip-Hop"]}
    soul, rnb = tag_columns(["Soul-RnB", "R&B"], columns)  # both: R&B's tag is left to R&B
    assert [name[c] for c in soul] == ["msd.tag.soul"] and [name[c] for c in rnb] == ["msd.tag.rnb"]
    both, _, _ = tag_columns(["Soul-RnB", "Soul", "R&B"], columns)  # narrower genres covering all its tags
    assert [name[c] for c in both] == ["msd.tag.soul", "msd.tag.rnb"]  # ... leave it them: none would say nothing


def test_a_genre_no_tag_names_is_named_when_the_prior_is_trained(monkeypatch, caplog):
    import logging

    import genrekit.models.tagprior as tagprior

    monkeypatch.setitem(tagprior.GENRE_TAGS, "a", ("tag.a",))
    monkeypatch.setitem(tagprior.GENRE_TAGS, "b", ("tag.b",))
    X, y, labels = _tagged_data(np.random.default_rng(3))
    tagprior._WARNED.clear()
    with caplog.at_level(logging.WARNING, logger="genrekit.models.tagprior"):
        for _ in range(3):  # once, not once per cross-validation fold
            TagPriorClassifier(labels, ["embedding.0", "tag.a", "tag.b"]).fit(X, y)
    assert caplog.text.count("c: no tag of the taggers names it, so the zero-shot prior ranks it at the mean") == 1


def test_the_default_head_is_refused_on_features_without_the_taggers_columns_it_is_made_for():
    """`train -f musicnn-msd` (no --model) trained musicnn-prior without MTT_musicnn's tags in its
    prior and without the music detector, under the default model's name (compare refused it)."""
    from genrekit.models.classical import default_spec

    with pytest.raises(ParameterError, match="--features musicnn-msd: the model musicnn-prior is made for musicnn, "
                                             "whose columns musicnn-msd lacks"):
        default_spec("musicnn-prior", features="musicnn-msd")
    with pytest.raises(ParameterError, match="--features fma518: the model musicnn-prior is made for musicnn"):
        default_spec("musicnn-prior", features="fma518")
    assert default_spec("musicnn-prior").name == default_spec("musicnn-prior", features="musicnn").name == "musicnn"
    assert default_spec("musicnn-head", features="musicnn").name == "musicnn"  # more columns than its own: fine
    assert default_spec("logreg", features="musicnn-msd").name == "musicnn-msd"


def test_tag_columns_with_no_class_named_as_a_genre_say_the_prior_is_off(monkeypatch, caplog):
    """Fitted on class indices without labels (a FeatureTable's y), the prior found no genre and
    was silently off: the calibrated head alone, under the default model's name."""
    import logging

    import genrekit.models.tagprior as tagprior

    monkeypatch.setitem(tagprior.GENRE_TAGS, "a", ("tag.a",))
    monkeypatch.setitem(tagprior.GENRE_TAGS, "b", ("tag.b",))
    X, y, labels = _tagged_data(np.random.default_rng(3))
    columns = ["embedding.0", "tag.a", "tag.b"]
    tagprior._WARNED.clear()
    with caplog.at_level(logging.WARNING, logger="genrekit.models.tagprior"):
        off = TagPriorClassifier(columns=columns, calibrate=False).fit(X, y)
    assert not any(off.mapping_)
    assert "no class is named as a genre they know (classes 0, 1, 2): the zero-shot prior is off" in caplog.text
    caplog.clear()
    tagprior._WARNED.clear()
    with caplog.at_level(logging.WARNING, logger="genrekit.models.tagprior"):
        TagPriorClassifier(labels, columns, calibrate=False).fit(X, y)  # named: the prior is on, nothing said
        TagPriorClassifier(columns=["embedding.0", "x", "y"], calibrate=False).fit(X, y)  # no tag columns at all
        own = np.array(["synthwave", "vaporwave", "chiptune"])[y]  # a library's genres no tag names: meant so
        TagPriorClassifier(columns=columns, calibrate=False).fit(X, own)
    assert "the zero-shot prior is off" not in caplog.text
