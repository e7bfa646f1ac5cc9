"""The library API as a notebook uses it (a researcher's review, 2026-12): a common mistake is a
genrekit error naming the parameter, and a cross-validation's result says how it was made."""

import importlib
import logging
import re

import numpy as np
import pytest
import soundfile as sf

import genrekit
from genrekit.datasets import FeatureTable, load_dataset
from genrekit.errors import ParameterError
from genrekit.evaluate import compare_models, cross_validate
from genrekit.features import FeatureSpec


def _table(track_names) -> FeatureTable:
    columns = list(FeatureSpec("gtzan57").columns)
    labels = sorted({name.split(".")[0] for name in track_names})
    y = np.array([labels.index(name.split(".")[0]) for name in track_names])
    tracks = np.array(track_names)
    X = np.random.default_rng(0).normal(size=(len(y), len(columns))) + y[:, None]
    return FeatureTable(X=X, y=y, tracks=tracks, groups=tracks, labels=labels, columns=columns)


def test_cross_validate_records_its_seed_and_grouping_and_names_gtzan_folds_by_track(caplog):
    gtzan = _table([f"{genre}.{i:05d}" for genre in ("jazz", "rock") for i in range(6)])
    with caplog.at_level(logging.WARNING, logger="genrekit"):
        result = cross_validate(gtzan, "logreg", n_splits=3, seed=7, n_jobs=1)
    assert result["seed"] == 7 and result["grouping"] == "by track"
    assert any("GTZAN names no artists" in r.getMessage() for r in caplog.records)
    caplog.clear()
    other = _table([f"{genre}.song{i}" for genre in ("jazz", "rock") for i in range(6)])
    with caplog.at_level(logging.WARNING, logger="genrekit"):
        again = cross_validate(other, "logreg", n_splits=3, seed=7, n_jobs=1)
    assert not caplog.records and again["grouping"] == "by track"
    given = cross_validate(other, "logreg", n_jobs=1, track_folds=[(other.tracks[::2], other.tracks[1::2]),
                                                                     (other.tracks[1::2], other.tracks[::2])])
    assert given["grouping"] == "given" and given["n_splits"] == 2


@pytest.mark.parametrize("options, message", [
    ({"seed": "a"}, "seed='a': expected a whole number from 0 to 2\\*\\*32 - 1"),
    ({"seed": -1}, "seed=-1: expected a whole number"),
    ({"n_jobs": 2.5}, "n_jobs=2.5: expected a whole number of worker processes \\(or None: one per core\\)"),
    ({"n_jobs": True}, "n_jobs=True: expected a whole number"),
    ({"aggregation": "max"}, "aggregation='max': expected 'mean' or 'vote'"),  # (found after every fold was fitted)
])
def test_cross_validate_refuses_a_bad_seed_or_job_count_by_name(options, message, monkeypatch):
    monkeypatch.setattr("genrekit.evaluate.crossval.LocalRunner", lambda *a, **k: pytest.fail("a fold was fitted"))
    with pytest.raises(ParameterError, match=message):
        cross_validate(_table([f"jazz.a{i}" for i in range(4)] + [f"rock.a{i}" for i in range(4)]), "logreg",
                       n_splits=2, **options)


def test_every_batch_function_reads_n_jobs_alike(tmp_path):
    """None, 0 and -1 were one per core in cross_validate and tag_library, refused (None, -1) or
    "this process" (0) in predict_files and evaluate_model (a review, 2026-12-07): one reading
    (genrekit.runners.pool_size) for all, and one refusal."""
    from genrekit import evaluate_model, predict_files

    song = tmp_path / "tone.wav"
    sf.write(song, 0.3 * np.sin(np.arange(16000 * 6) / 5).astype(np.float32), 16000)
    for n_jobs in (None, 0, -1):
        [prediction], failures = predict_files("default", [song], n_jobs=n_jobs, music_check=False, progress=False)
        assert prediction.genre in prediction.probabilities and not failures, n_jobs
    # a runner of its own (Ray's cluster) may run more workers than this machine's pool may
    from genrekit.runners import MAX_JOBS_PER_CORE, LocalRunner, default_jobs

    many = MAX_JOBS_PER_CORE * default_jobs() + 1
    [prediction], failures = predict_files("default", [song], n_jobs=many, runner=LocalRunner(1), progress=False)
    assert not failures
    with pytest.raises(ParameterError, match=f"^{many} worker processes asked for"):
        predict_files("default", [song], n_jobs=many, progress=False)
    for call in (lambda: predict_files("default", [song], n_jobs=2.5),
                 lambda: evaluate_model("default", tmp_path, n_jobs=2.5),
                 lambda: cross_validate(_table([f"jazz.a{i}" for i in range(4)] + [f"rock.a{i}" for i in range(4)]),
                                        "logreg", n_jobs=2.5)):
        with pytest.raises(ParameterError, match=r"^n_jobs=2.5: expected a whole number of worker processes"):
            call()


def test_cross_validate_of_a_dataset_says_it_needs_a_feature_table(gtzan_mini):
    with pytest.raises(ParameterError, match="table: expected a FeatureTable .*build_feature_table.*found Dataset"):
        cross_validate(load_dataset(gtzan_mini), "logreg")


def test_compare_models_refuses_a_name_given_as_a_string():
    with pytest.raises(ParameterError, match="names='logreg': expected a list of model names, such as \\['logreg'\\]"):
        compare_models(_table([f"jazz.a{i}" for i in range(4)] + [f"rock.a{i}" for i in range(4)]), "logreg")


def test_the_stages_are_attributes_of_genrekit_and_trains_options_are_checked(tmp_path):
    import subprocess
    import sys

    code = "import genrekit, sys; f = genrekit.train.train; print(callable(f), 'numpy' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=True).stdout.split() == ["True", "True"]  # the stage itself needs numpy
    quiet = "import genrekit, sys; print('numpy' in sys.modules)"  # importing genrekit alone does not
    assert subprocess.run([sys.executable, "-c", quiet], capture_output=True, text=True, check=True).stdout.strip() == "False"
    with pytest.raises(ParameterError, match="seeed: not an option of train for model 'logreg' .*did you mean 'seed'"):
        genrekit.train.train(tmp_path, model="logreg", seeed=1)  # before any data is read


def test_predict_audio_takes_a_whole_number_rate_given_as_a_float(clip):
    import soundfile as sf

    from genrekit.models import load
    from genrekit.predict import predict_audio

    y, sr = sf.read(clip, dtype="float32", frames=22050 * 5)
    model = load("default")
    assert predict_audio(model, y, float(sr)).probabilities == predict_audio(model, y, sr).probabilities
    with pytest.raises(ParameterError, match="sr=22050.5: expected a positive whole number of Hz"):
        predict_audio(model, y, 22050.5)


def test_predict_audio_says_where_an_array_holds_nan_in_the_array_s_terms():
    from genrekit.errors import AudioError
    from genrekit.models import load
    from genrekit.predict import predict_audio

    y = np.sin(np.arange(22050 * 5) / 9).astype(np.float32) * 0.3
    y[22050 * 2] = np.nan
    with pytest.raises(AudioError) as raised:
        predict_audio(load("default"), y, 22050)
    assert str(raised.value).startswith("<audio>: corrupt: a sample is NaN"), raised.value
    assert "into the audio" in str(raised.value) and "file" not in str(raised.value) and "decoded" not in str(raised.value)


def test_min_confidence_takes_numpy_numbers_and_refuses_a_bool_by_its_type(tmp_path):
    """np.float32(0.5), a probability from an array, was refused as "expected a probability";
    True passed and was written as true in the JSON. The song's hop_seconds=inf raised a bare
    OverflowError from deep in the chunking (predict_files refused it by name)."""
    import soundfile as sf

    from genrekit.predict import predict_file
    from genrekit.predict.song import check_min_confidence

    assert check_min_confidence(np.float32(0.5)) == 0.5 and type(check_min_confidence(np.float32(0.5))) is float
    assert check_min_confidence(np.int64(1)) == 1.0 and check_min_confidence(None) is None
    for wrong in (True, "0.5", 1.5, float("nan")):
        with pytest.raises(ParameterError, match=r"min_confidence=.*expected a probability between 0 and 1"):
            check_min_confidence(wrong)
    song = tmp_path / "a.wav"
    sf.write(song, np.zeros(8000 * 4, np.float32), 8000)
    with pytest.raises(ParameterError, match=r"hop_seconds=inf: expected a positive number of seconds"):
        predict_file("default", song, hop_seconds=float("inf"))


def test_a_second_review_s_mistakes_are_genrekit_errors_before_any_work(gtzan_mini, tmp_path, monkeypatch):
    """The second researcher's review (2026-12-07): a feature set given by name to
    build_feature_table extracted every file, then failed in pandas; seeds, lengths and fold
    counts reached scikit-learn or numpy; positions given as track_folds failed inside a fold; a
    misspelt id selected nothing; fma518 below its lowest rate raised librosa's error."""
    from genrekit.datasets import build_feature_table, kfold_splits, train_val_test_split
    from genrekit.features import FeatureCache, fma518

    dataset = load_dataset(gtzan_mini)
    two = dataset.select(["jazz.00002", "rock.00002", "jazz.00003", "rock.00003"])
    table, _ = build_feature_table(two, "gtzan57", cache=FeatureCache(tmp_path / "cache"), n_jobs=1, progress=False)
    assert table.columns == FeatureSpec("gtzan57").columns and len(set(table.tracks)) == 4
    from genrekit.datasets import table as tables

    monkeypatch.setattr(tables, "extract_features", lambda *a, **k: pytest.fail("extracted before the check"))
    with pytest.raises(ParameterError, match=r"spec=42: expected a FeatureSpec or a feature set's name"):
        build_feature_table(two, 42)
    with pytest.raises(ParameterError, match=r"track_ids: 1 id\(s\) gtzan does not hold \(first: 'jazz.0001'\); its "
                                              r"ids look like 'blues.00000'"):
        dataset.select(["jazz.00001", "jazz.0001"])

    y, groups = np.repeat([0, 1], 6), np.arange(12)
    for call, options, message in [
        (kfold_splits, {"seed": None}, r"seed=None: expected a whole number"),
        (kfold_splits, {"seed": 1.5}, r"seed=1.5: expected a whole number"),
        (kfold_splits, {"n_splits": 2.0}, r"n_splits=2.0: expected a whole number of folds"),
        (train_val_test_split, {"seed": None}, r"seed=None: expected a whole number"),
    ]:
        with pytest.raises(ParameterError, match=message):
            call(y, groups, **options)
    with pytest.raises(ParameterError, match=r"labels \(12\) and groups \(10\) differ in length"):
        kfold_splits(y, groups[:10])

    gtzan = _table([f"{genre}.{i:05d}" for genre in ("jazz", "rock") for i in range(6)])
    positions = kfold_splits(gtzan.y, gtzan.groups, n_splits=3)
    with pytest.raises(ParameterError, match=r"track_folds: fold 1 names \d+ track\(s\) the table does not hold"):
        cross_validate(gtzan, "logreg", track_folds=positions, n_jobs=1)
    with pytest.raises(ParameterError, match=r"sr=8000: fma518 needs at least 12801 Hz"):
        fma518(y=np.full(8000, 0.1, dtype=np.float32), sr=8000)


def test_cross_validate_says_when_a_fold_tests_a_genre_it_never_trained_on(caplog):
    """Every rock track one artist's: the fold that tests them trained on none (accuracy 0 there),
    which cross_validate did without a word."""
    table = _table([f"{genre}.song{i}" for genre in ("jazz", "pop", "rock") for i in range(6)])
    groups = np.array(["rock-artist" if t.startswith("rock") else t for t in table.tracks])
    import dataclasses

    one_artist = dataclasses.replace(table, groups=groups)
    with caplog.at_level(logging.WARNING, logger="genrekit"):
        cross_validate(one_artist, "logreg", n_splits=3, n_jobs=1)
    said = " ".join(r.getMessage() for r in caplog.records)
    assert re.search(r"folds test genres their training part lacks \(fold \d: rock\): those tracks score 0", said), said
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="genrekit"):
        cross_validate(table, "logreg", n_splits=3, n_jobs=1)
    assert "training part lacks" not in " ".join(r.getMessage() for r in caplog.records)


def test_a_misspelt_option_is_named_with_the_function_called_and_its_closest_option():
    """score_dataset(njobs=...) and predict_audio(minconfidence=...) were TypeErrors naming
    predict_dataset() and predict_file(), functions the user never called."""
    from genrekit.evaluate import score_dataset
    from genrekit.predict import predict_audio

    with pytest.raises(ParameterError, match=r"^njobs: not an option of score_dataset; did you mean 'n_jobs'\?"):
        score_dataset("default", "no-such-dataset", njobs=1)
    with pytest.raises(ParameterError, match=r"^minconfidence: not an option of predict_audio; did you mean "
                                              r"'min_confidence'\?"):
        predict_audio("default", np.zeros(100, dtype=np.float32), 22050, minconfidence=0.5)


def test_out_of_fold_probabilities_name_the_genre_a_tied_vote_gave():
    """A tied vote is broken in the sixth decimal; out_of_fold_probabilities rounded there, so
    train's per-genre recall (and compare's out_of_fold.csv and McNemar counts) took the first
    genre where the fold's accuracy had counted the other (a reviewer's case, 2026-12-07)."""
    import pandas as pd

    from genrekit.evaluate import aggregate_tracks, classification_scores
    from genrekit.evaluate.crossval import out_of_fold_probabilities
    from genrekit.train.classical import _per_genre

    labels = ["blues", "rock"]
    chunks = np.array([[0.6, 0.4], [0.1, 0.9], [0.55, 0.45], [0.2, 0.8]])  # each track: one vote each, rock likelier
    track_proba, tracks = aggregate_tracks(chunks, ["t1", "t1", "t2", "t2"], method="vote")
    assert classification_scores([1, 1], track_proba, labels)["accuracy"] == 1.0
    oof = out_of_fold_probabilities([{"test_tracks": list(tracks), "test_proba": track_proba.tolist()}], labels)
    assert all(max(p, key=p.get) == "rock" for p in oof.values()), oof
    scores = _per_genre(pd.DataFrame({"track": ["t1", "t2"], "y": [1, 1]}), labels, oof)
    assert scores["rock"]["recall"] == 1.0 and scores["blues"]["precision"] is None, scores


def test_fit_temperature_refuses_scores_or_labels_it_cannot_fit_on():
    """NaN scores gave a temperature of 0.49 with a RuntimeWarning, and a label of -1 scored the
    last class (numpy's negative index) and gave 20."""
    from genrekit.models.calibration import fit_temperature

    with pytest.raises(ParameterError, match="logits: expected finite scores"):
        fit_temperature([[np.nan, 0.0]], [0])
    with pytest.raises(ParameterError, match="y: expected class indices from 0 to 1, found int64 values from -1"):
        fit_temperature([[1.0, 0.0]], np.array([-1], dtype=np.int64))
    assert 0.05 <= fit_temperature(np.log([[0.9, 0.1], [0.3, 0.7], [0.6, 0.4]]), [0, 1, 1]) <= 20
    # every score right: nothing stops the sharpening, which a small dataset's folds drove to 0.12, and
    # `train` then called clips of their own genre wrong at confidence 1.00 (a review, 2026-12-07)
    assert fit_temperature(np.log([[0.6, 0.4], [0.3, 0.7], [0.55, 0.45]]), [0, 1, 0]) == pytest.approx(1.0, abs=1e-3)


def test_a_third_review_s_mistakes_are_genrekit_errors_before_any_work(gtzan_mini, tmp_path, monkeypatch):
    """The third review (2026-12-07): export_onnx(model, model) wrote ONNX over the model file;
    a Dataset, a Track or None where paths go, a runner's name, a search of 0 candidates, a
    fold that tests what it trains on, numpy numbers in specs, and tag_library's options each
    failed inside numpy, scikit-learn or a worker, after the work began, or not at all."""
    import json

    from genrekit.datasets import Dataset, Track
    from genrekit.evaluate import run as evaluation
    from genrekit.export import export_onnx
    from genrekit.features import extract_features
    from genrekit.features.spectral import LogMelSpec
    from genrekit.models import load, model_file
    from genrekit.predict import predict_file, predict_files, tag_library
    from genrekit.train import train_model

    model = tmp_path / "model.genrekit"
    model.write_bytes(b"the user's model")
    for out in (model, tmp_path / "model.txt", tmp_path / "model"):
        with pytest.raises(ParameterError, match=rf"out={re.escape(str(out))}: expected an \.onnx file name"):
            export_onnx(model, out)
    assert model.read_bytes() == b"the user's model"

    song = str(next(gtzan_mini.glob("jazz/*.wav")))
    dataset = Dataset("x", str(gtzan_mini), [Track("a", song, "jazz")])
    for given, found in ((dataset, r"found Dataset \(its files: \[track.path for track in dataset.tracks\]\)"),
                         (dataset.tracks, r"found Track .*\(its file: track.path\)"), ([None], "found NoneType None"),
                         (5, "a sequence of paths, found int")):
        with pytest.raises(ParameterError, match=rf"paths: expected .*{found}"):
            extract_features(given, "gtzan57", progress=False)
        with pytest.raises(ParameterError, match=rf"paths: expected .*{found}"):
            predict_files("default", given, progress=False)
    assert extract_features([song.encode()], "fma518", progress=False, n_jobs=1).paths == [song]  # os.listdir(b".")
    for options, message in (({}, r"path: expected one path, found a list of 1 \(several: predict_files\)"),
                             ({"batch": "4"}, r"batch='4': expected a whole number"),
                             ({"max_seconds": -1}, r"max_seconds=-1: expected a positive number"),
                             ({"should_stop": 5}, r"should_stop=5: expected a function")):
        with pytest.raises(ParameterError, match=message):
            predict_file("default", [song] if not options else song, **options)

    # numpy numbers are numbers: the same spec, written as JSON
    spec = FeatureSpec("gtzan57", chunk_duration=np.float32(3), sample_rate=np.int64(22050))
    assert spec == FeatureSpec("gtzan57", chunk_duration=3.0) and json.dumps(spec.to_dict())
    for options, message in (({"hop_duration": 1.0}, r"hop_duration=1.0 without chunk_duration: a hop between chunks "
                                                      r"needs chunks"),
                             ({"version": "x"}, r"version='x': expected a whole number from 1")):
        with pytest.raises(ParameterError, match=message):
            FeatureSpec("gtzan57", **options)
    mel = LogMelSpec(n_fft=np.int64(2048), sample_rate=22050.0, fmax=np.float32(8000), top_db=np.float32(80))
    assert mel == LogMelSpec(fmax=8000.0) and json.loads(mel.to_json())["fmax"] == 8000.0

    # a runner by its name, as get_runner takes it; anything else before any work
    assert extract_features([song], "fma518", runner="local", n_jobs=1, progress=False).features[0] is not None
    with pytest.raises(ParameterError, match=r"runner=5: expected a runner \(genrekit.runners.get_runner\)"):
        predict_files("default", [song], runner=5, progress=False)

    monkeypatch.setattr(evaluation, "predict_dataset", lambda *a, **k: pytest.fail("predicted before the check"))
    for call in (evaluation.evaluate_model, evaluation.evaluate_songs):  # before the folder is made or emptied
        options = {"aggregation": "median"} if call is evaluation.evaluate_model else {"include_train": "no"}
        with pytest.raises(ParameterError, match=r"aggregation='median': expected 'mean' or 'vote'|include_train="):
            call("default", dataset, out_dir=tmp_path / "evaluated", **options)
        assert not (tmp_path / "evaluated").exists()

    table = _table([f"{genre}.{i:05d}" for genre in ("jazz", "rock") for i in range(6)])
    ids = [str(t) for t in table.tracks]
    for folds, message in (([], "no fold given"), ([(ids, ids[:3])], r"fold 1 tests 3 track\(s\) it also trains on"),
                           ([(ids[3:], [])], r"fold 1 has 9 training and 0 test track\(s\)")):
        with pytest.raises(ParameterError, match=rf"track_folds: {message}"):
            cross_validate(table, "logreg", track_folds=folds, n_jobs=1)
    with pytest.raises(ParameterError, match=r"found tuple: build_feature_table returns \(table, extraction\)"):
        cross_validate((table, None), "logreg")
    with pytest.raises(ParameterError,
                       match=r"n_iter=0: expected a whole number of candidates to try \(search=True\), at least 1"):
        cross_validate(table, "logreg", search=True, n_iter=0, n_jobs=1)
    monkeypatch.setattr("genrekit.datasets.table.extract_features", lambda *a, **k: pytest.fail("extracted"))
    with pytest.raises(ParameterError, match=r"n_iter=2.5: expected a whole number"):
        train_model(gtzan_mini, model="logreg", search=True, n_iter=2.5)

    results = tmp_path / "tags" / "results.csv"
    for options, message in (({"skip": -1}, r"skip=-1: expected a number of seconds >= 0"),
                             ({"segment_seconds": "x"}, r"segment_seconds='x': expected a positive number"),
                             ({"write_tags": True, "separator": None}, r"separator=None: expected a separator"),
                             ({"model_path": load("default")}, r"model_path: expected a model file, run folder or "
                                                               r"'default', found .*; give its file, model.source: ")):
        with pytest.raises(ParameterError, match=message):
            tag_library(gtzan_mini, **{"model_path": "default", **options}, results=results, progress=False)
    with pytest.raises(ParameterError, match=r"use_hash='no': expected True or False"):  # a true string
        tag_library(gtzan_mini, "default", results, use_hash="no", progress=False)
    with pytest.raises(ParameterError, match=r"music_check='no': expected True or False"):
        predict_files("default", [song], music_check="no", progress=False)
    assert not results.parent.exists()  # nothing written: refused before the library was listed
    with pytest.raises(ParameterError, match=r"model: expected a model file.*found NoneType"):
        model_file(None)
    from genrekit.datasets import load_manifest

    for call, message in ((lambda: load_dataset(None), r"^path: expected one path, found NoneType None$"),
                          (lambda: load_manifest([tmp_path]), r"^csv_path: expected one path, found a list of 1$"),
                          (lambda: export_onnx(None, "x.onnx"), r"^model_path: expected one path")):
        with pytest.raises(ParameterError, match=message):
            call()


def test_feature_functions_and_hand_built_tables_check_their_numbers_by_name(tmp_path, clip):
    """The third review (2026-12-07), feature functions a researcher calls directly: log_mel
    took n_fft=10**9 (all the memory) and fmin above fmax (zeros); chunk_signal cut a stereo
    array along its channels; a sample rate of 1 Hz was refused as a temporary file's header;
    a hand-built FeatureTable with NaN failed inside scikit-learn; a folder given as cache
    failed as "'str' object has no attribute 'get'"."""
    from genrekit.audio import load
    from genrekit.features import chunk_signal, extract_features, gtzan57, log_mel
    from genrekit.predict import predict_audio, predict_files

    y, sr = load(clip, sr=22050, duration=4.0)
    for options, message in (({"n_fft": 10**9}, r"n_fft=1000000000: at most 65536"),
                             ({"fmin": 5000, "fmax": 1000}, r"fmin=5000, fmax=1000: expected 0 <= fmin < fmax"),
                             ({"top_db": -5}, r"top_db=-5"), ({"n_mels": None}, r"n_mels=None"),
                             ({"sr": "22050"}, r"^sr='22050': expected a positive whole number")):
        with pytest.raises(ParameterError, match=message):
            log_mel(y=y, **{"sr": sr, **options})
    assert log_mel(y=y, sr=sr, n_fft=np.int64(1024), fmax=np.float32(8000)).shape[0] == 128
    stereo = np.stack([y, y], axis=1)
    for signal, options, message in ((stereo, {}, r"y: expected a mono signal as a 1-D array, found shape"),
                                     (y, {"hop_duration": 1e-9}, r"hop_duration=1e-09: less than one sample"),
                                     (y, {"chunk_duration": float("nan")}, r"chunk_duration=nan: expected a positive")):
        with pytest.raises(ParameterError, match=message):
            chunk_signal(signal, sr, **{"chunk_duration": 3.0, **options})
    with pytest.raises(ParameterError, match=r"^hop_length=0: expected whole numbers from 1 up"):
        gtzan57(y=y, sr=sr, hop_length=0)
    for rate, message in ((1, r"sr=1: expected 1000-768000 Hz"), (10**400, r"sr=1000.*: expected a positive whole")):
        with pytest.raises(ParameterError, match=message):
            predict_audio("default", y, rate)
    with pytest.raises(ParameterError, match=r"sr=10000000: expected 1000-768000 Hz"):
        load(clip, sr=10**7)
    assert load(clip, sr=16000.0, duration=1.0)[1] == 16000  # a whole number of Hz, as a float

    table = _table([f"{genre}.{i:05d}" for genre in ("jazz", "rock") for i in range(3)])
    X = table.X.copy()
    X[0, 0] = np.nan
    for changes, message in (({"X": X}, r"X: expected finite numbers, found 1 NaN"),
                             ({"X": table.X + 1j}, r"X: expected finite real numbers, found complex128"),
                             ({"X": table.X * 1e300}, r"X: expected features below 1e\+100, found \d+ value"),
                             ({"y": table.y + 1}, r"y: expected indices into labels \(0-1\), found values from 1 to 2"),
                             ({"tracks": table.tracks[:3]}, r"expected one row each in X, y, tracks and groups"),
                             ({"X": table.X[:, :5]}, r"X: expected a table of shape \(rows, 57 columns\)")):
        with pytest.raises(ParameterError, match=message):
            FeatureTable(**{**{k: getattr(table, k) for k in ("X", "y", "tracks", "groups", "labels", "columns")},
                            **changes})

    from genrekit.datasets import build_feature_table
    from genrekit.evaluate.metrics import accuracy_interval

    songs = load_dataset(clip.parent.parent)
    for labels, message in (("jazz", r"labels='jazz': expected a list of genre names"),
                            (["polka"], r"labels=\['polka'\]: none is a genre of")):
        with pytest.raises(ParameterError, match=message):  # "no track could be turned into features"
            build_feature_table(songs, "fma518", labels=labels, progress=False)
    with pytest.raises(ParameterError, match=r"confidence='x': expected a fraction in \(0, 1\)"):
        accuracy_interval(3, 5, confidence="x")
    from genrekit.audio.level import rms_dbfs
    from genrekit.train import train_model

    with pytest.raises(ParameterError, match=r"y: expected float samples, full scale at 1, found int16"):
        rms_dbfs(np.ones(4, np.int16))  # +76.8 "dBFS"
    (tmp_path / "a-file").write_text("mine")
    with pytest.raises(ParameterError, match=r"a-file: expected a folder for the results of training, found a file"):
        train_model(load_dataset(clip.parent.parent), model="logreg", out_dir=tmp_path / "a-file")  # FileExistsError

    extracted = extract_features([clip], "fma518", cache=tmp_path / "cache", n_jobs=1, progress=False)
    assert extracted.features[0] is not None and any((tmp_path / "cache").rglob("*.npy"))
    with pytest.raises(ParameterError, match=r"cache=42: expected a FeatureCache, a folder for one, or None"):
        extract_features([clip], "fma518", cache=42, progress=False)
    prediction = predict_files("default-exact", [clip], segment_seconds=np.float32(10), n_jobs=1, progress=False)[0][0]
    import json

    json.dumps(prediction.to_dict())  # numpy's float32 was carried into the result
    from genrekit.predict.formats import prediction_record
    from genrekit.predict.song import Prediction

    answer = prediction_record(prediction, model_id="abc", size_bytes=10, seconds=1.0)  # the service's answer
    assert Prediction.from_dict(answer) == prediction  # a TypeError on model_id before
    for data, message in (([answer], r"expected a prediction's JSON object, found list"),
                          ({**answer, "gnere": "x"}, r"found unknown 'gnere'"),
                          ({k: v for k, v in answer.items() if k != "genre"}, r"found no genre"),
                          ({**answer, "timeline": [{"start": 0}]}, r"its timeline: ")):
        with pytest.raises(ParameterError, match=message):
            Prediction.from_dict(data)
    from genrekit.predict import plot_prediction

    song = tmp_path / "song.wav"
    song.write_bytes(b"the user's song")
    with pytest.raises(ParameterError, match=r"song.wav'?: expected a .png file name"):
        plot_prediction(prediction, song)  # it was written over with a PNG
    assert song.read_bytes() == b"the user's song"


def test_the_service_refuses_hosts_and_limits_it_cannot_use_before_loading_the_model(monkeypatch):
    """A later review (2026-12-07): allowed_hosts="example.com" answered to the hosts "e", "x"...
    and refused example.com; [] refused localhost too; "http://example.com" became the host
    "http"; a dict of limits failed inside dataclasses.asdict."""
    import genrekit.server.app as service

    monkeypatch.setattr(service, "load", lambda *a, **k: pytest.fail("the model was loaded before the check"))
    for options, message in (({"allowed_hosts": "example.com"}, r"allowed_hosts='example.com': expected a list"),
                             ({"allowed_hosts": []}, r"allowed_hosts=\[\]: no request would be answered"),
                             ({"allowed_hosts": ["http://example.com"]}, r"allowed_hosts 'http://example.com': "
                                                                         r"expected a host name"),
                             ({"allowed_hosts": [127]}, r"allowed_hosts 127: expected a host name"),
                             ({"limits": {"workers": 1}}, r"limits=\{'workers': 1\}: expected a ServiceLimits")):
        with pytest.raises(ParameterError, match=message):
            service.create_app("default", **options)


def test_split_helpers_signals_exports_and_undo_name_what_they_were_given(tmp_path, clip):
    """A later review (2026-12-07): fold_grouping of a path, kfold_splits of a Dataset, a block
    of 0 ids (ZeroDivisionError), int16's scale given as floats (other features, or NaN), a
    converter given a path, and undo's on_file that was no function (after a file was put back)."""
    from genrekit.datasets import fold_grouping, gtzan_id_blocks, kfold_splits
    from genrekit.export.onnx import to_light_onnx, to_onnx
    from genrekit.features import log_mel
    from genrekit.predict.library import undo_tags

    songs = load_dataset(clip.parent.parent)
    for call, message in ((lambda: fold_grouping(str(clip.parent.parent)), r"data: expected a Dataset or a Feature"),
                          (lambda: kfold_splits(songs, songs.groups), r"labels and groups: expected one genre"),
                          (lambda: gtzan_id_blocks(["blues.00000"], ["g"], size=0), r"size=0: expected a whole"),
                          (lambda: gtzan_id_blocks(["blues.00000", "jazz.00001"], ["g"]), r"tracks \(2\) and groups"),
                          (lambda: log_mel(y=np.full(22050, 20000.0, np.float32), sr=22050),
                           r"y: a sample reaches 2e\+04, far outside -1..1"),
                          (lambda: to_onnx("default", tmp_path / "x.onnx"), r"model='default': expected a loaded "),
                          (lambda: to_light_onnx("default", tmp_path / "x.onnx"), r"expected a loaded model"),
                          (lambda: undo_tags(tmp_path / "tags.csv", on_file=1), r"on_file=1: expected a function")):
        with pytest.raises(ParameterError, match=message):
            call()


def test_explore_to_dict_summarise_reports_and_empty_paths_are_checked_before_any_work(monkeypatch, tmp_path):
    """A fourth review (2026-12-07): explore's options failed after PCA and t-SNE had run, in
    scikit-learn's words (``top=0`` not at all); ``to_dict(k=0)`` listed every genre where
    ``top(0)`` is refused; summarise took probabilities of the wrong shape; the report writers
    took a hand-made dict or ``n_wrong`` unchecked; and ``""`` was the working folder to the
    library, as it had been on the command line."""
    from genrekit import _files
    from genrekit.datasets import load_dataset
    from genrekit.errors import ModelError
    explore_module = importlib.import_module("genrekit.evaluate.explore")
    from genrekit.predict import Prediction, predict_files
    from genrekit.predict.song import summarise

    table = _table([f"{genre}.{i:05d}" for genre in ("jazz", "rock") for i in range(6)])
    monkeypatch.setattr(explore_module, "_tsne", lambda *a: pytest.fail("t-SNE ran before the options were checked"))
    for options, error, message in [
        ({"top": 0}, ParameterError, "top=0: expected a whole number of features listed, at least 1"),
        ({"n_repeats": "5"}, ParameterError, "n_repeats='5': expected a whole number of shuffles"),
        ({"seed": -1}, ParameterError, "seed=-1"),
        ({"tsne": "no"}, ParameterError, "tsne='no': expected True or False"),
        ({"model": "cnn"}, ModelError, "model='cnn': expected a classical model"),
        ({"model": "musicnn-prior"}, ParameterError, "made for musicnn features, which the table lacks"),
        ({"source": 3}, ParameterError, "source=3"),
        ({"out_dir": ""}, ParameterError, "out_dir='': expected a path, found an empty string"),
    ]:
        with pytest.raises(error, match=re.escape(message)):
            explore_module.explore(table, **options)
    with pytest.raises(ParameterError, match="table: expected a FeatureTable"):
        explore_module.explore("features.csv")

    prediction = Prediction(path="a.wav", genre="rock", confidence=0.9, probabilities={"rock": 0.9, "jazz": 0.1},
                            proportions={"rock": 1.0}, timeline=[], start=0.0, end=30.0, n_chunks=1)
    assert [t["genre"] for t in prediction.to_dict()["top"]] == ["rock", "jazz"]
    assert [t["genre"] for t in prediction.to_dict(1)["top"]] == ["rock"]
    with pytest.raises(ParameterError, match="k=0: expected a whole number of genres >= 1"):
        prediction.to_dict(0)

    proba = np.array([[0.9, 0.1], [0.2, 0.8]])
    with pytest.raises(ParameterError, match=re.escape("a.wav: expected probabilities of shape (chunks, 3 genres)")):
        summarise("a.wav", ["jazz", "rock", "pop"], [(0, 3), (3, 6)], proba)
    with pytest.raises(ParameterError, match=re.escape("found shape (2, 2) and times of shape (1, 2)")):
        summarise("a.wav", ["jazz", "rock"], [(0, 3)], proba)
    with pytest.raises(ParameterError, match=re.escape("weights: expected one value per chunk (2), found shape (3,)")):
        summarise("a.wav", ["jazz", "rock"], [(0, 3), (3, 6)], proba, weights=np.ones(3))
    assert summarise("a.wav", ["jazz", "rock"], [(0, 3), (3, 6)], proba).genre in ("jazz", "rock")

    from genrekit.evaluate import metrics_markdown, write_evaluation
    from genrekit.evaluate.html import write_html_report

    for metrics in ({"accuracy": 0.5}, None):
        for write in (metrics_markdown, lambda m: write_evaluation(m, tmp_path / "evaluation")):
            with pytest.raises(ParameterError, match="metrics: expected the scores of genrekit.evaluate"):
                write(metrics)
    assert not (tmp_path / "evaluation").exists()  # metrics.json was written before the KeyError
    for n_wrong in (-1, "5", True):
        with pytest.raises(ParameterError, match="n_wrong=.*: expected a whole number of confidently wrong"):
            write_html_report(tmp_path, n_wrong=n_wrong)

    for call in (lambda: load_dataset(""), lambda: predict_files("default", [""]), lambda: _files.path_given(b"")):
        with pytest.raises(ParameterError, match="expected a path, found an empty string"):
            call()


def test_flags_given_as_strings_are_refused_where_no_is_read_as_yes(tmp_path, clip, gtzan_mini):
    """``"no"`` is a true string: ``resume="no"`` resumed a run, ``strip_training="no"``
    stripped the export's training fingerprints, ``search="no"`` searched, ``mono="no"``
    mixed down. Each is refused before any work."""
    from genrekit import audio
    from genrekit.audio.tags import write_genre_tag
    from genrekit.export import export_onnx
    from genrekit.train import train_model, train_network_model

    calls = {
        "mono": lambda: audio.load(clip, mono="no"),
        "allow_silent": lambda: audio.load(clip, allow_silent="yes"),
        "mix_check": lambda: next(audio.stream(clip, mix_check="no")),
        "strip_training": lambda: export_onnx("default", tmp_path / "m.onnx", strip_training="no"),
        "light": lambda: export_onnx("default", tmp_path / "m.onnx", light=1),
        "search": lambda: train_model(gtzan_mini, model="logreg", search="no", out_dir=tmp_path / "run"),
        "cv": lambda: train_model(gtzan_mini, model="logreg", cv="no", out_dir=tmp_path / "run"),
        "resume": lambda: train_network_model(gtzan_mini, preset="cnn4", resume="no",
                                              out_dir=tmp_path / "run"),
        "dry_run": lambda: write_genre_tag(tmp_path / "song.flac", "jazz", dry_run="no"),
    }
    for name, call in calls.items():
        with pytest.raises(ParameterError, match=f"{name}=.*: expected True or False"):
            call()
    assert not list(tmp_path.iterdir())


@pytest.mark.parametrize("call, message", [
    (lambda split: split(["a", "b"], [1, 2], sizes=("0.8", "0.1", "0.1")),
     r"sizes=\('0.8', '0.1', '0.1'\) must be three"),
    (lambda split: split(["a", "b"], [1, 2], sizes=0.8), r"sizes=0.8 must be three non-negative fractions"),
    (lambda split: split(["a", "b"], [1, 2], sizes=(0.8, 0.2, None)), r"sizes=\(0.8, 0.2, None\) must be three"),
    (lambda split: split(["a", None], [1, 2]), r"labels: expected a genre for every track, found None at position 1"),
    (lambda split: split(["a", "b"], None), r"labels and groups: expected one genre and one group per track"),
])
def test_a_split_s_arguments_are_named_not_failed_on(call, message):
    """A review of the loaders (2026-12-07): sizes as text or one number, an unlabelled track
    and groups of None were TypeErrors of Python's."""
    from genrekit.datasets import train_val_test_split

    with pytest.raises(ParameterError, match=message):
        call(train_val_test_split)
    assert list(train_val_test_split(["a"] * 5 + ["b"] * 5, list(range(10)), sizes=np.array([0.6, 0.2, 0.2]))).count(
        "test") == 2


def test_paths_and_progress_flags_of_the_wrong_kind_are_named(tmp_path, gtzan_mini):
    """load_audio(42), load_model(42), tag_library(42, ...) and out_dir=42 were bare TypeErrors;
    progress="no" showed a bar (a review, 2026-12-07): each named, before any work."""
    from genrekit.predict.library import tag_library

    for call, said in ((lambda: genrekit.load_audio(42), "path: expected one path, found int 42"),
                       (lambda: genrekit.load_audio(None), "path: expected one path, found NoneType"),
                       (lambda: genrekit.load_model(42), "path: expected one path, found int 42"),
                       (lambda: tag_library(42, "default", tmp_path / "t.csv"), "root: expected one path"),
                       (lambda: tag_library(tmp_path, "default", 42), "results: expected one path"),
                       (lambda: genrekit.train_model(gtzan_mini, model="logreg", out_dir=42), "out_dir: expected one"),
                       (lambda: genrekit.evaluate_model("default", gtzan_mini, out_dir=42), "out_dir: expected one"),
                       (lambda: genrekit.check_dataset(gtzan_mini, progress="x"), "progress='x': expected True or"),
                       (lambda: genrekit.predict_files("default", [], progress="no"), "progress='no': expected True"),
                       (lambda: genrekit.extract_features([], FeatureSpec("gtzan57"), progress="no"), "progress='no'"),
                       (lambda: tag_library(tmp_path, "default", tmp_path / "t.csv", progress=1), "progress=1")):
        with pytest.raises(ParameterError, match=f"^{re.escape(said)}"):
            call()
    assert not list(tmp_path.iterdir())
