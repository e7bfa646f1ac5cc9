"""The library API as a notebook uses it (a researcher's review, 2026-12): a common mistake is a
genrekit error naming the parameter, and a cross-validation's result says how it was made."""

import logging

import numpy as np
import pytest

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
    ({"n_jobs": 0}, "n_jobs=0: expected None or -1 \\(one worker per core, as scikit-learn's -1\\)"),
    ({"n_jobs": -5}, "n_jobs=-5: expected None"),
])
def test_cross_validate_refuses_a_bad_seed_or_job_count_by_name(options, message):
    with pytest.raises(ParameterError, match=message):
        cross_validate(_table([f"jazz.a{i}" for i in range(4)] + [f"rock.a{i}" for i in range(4)]), "logreg",
                       n_splits=2, **options)


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
