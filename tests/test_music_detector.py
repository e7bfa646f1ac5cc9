"""The music detector: speech, noise and tones get ``unknown`` (not music) by default."""

from __future__ import annotations

import json
from importlib import resources

import numpy as np
import pytest
from typer.testing import CliRunner

from genrekit.cli.main import app
from genrekit.models.music import detector_columns, music_probability, music_threshold

from nonmusic import have_espeak, write_signals


def test_the_detector_file_is_numbers_for_both_taggers_features():
    from genrekit.features.musicnn import column_names

    record = json.loads((resources.files("genrekit") / "data" / "music-detector.json").read_text())
    columns = column_names("MSD_musicnn") + column_names("MTT_musicnn")
    assert record["columns"] == columns and len(record["weights"]) == len(record["mean"]) == 500
    assert 0 < record["threshold"] < 1 and music_threshold() == pytest.approx(1 - record["threshold"])
    assert detector_columns(columns, -20.0) == list(range(500))
    assert detector_columns(column_names("MSD_musicnn"), -20.0) is None  # one tagger: no detector
    at_mean = np.asarray(record["mean"])[None]
    assert music_probability(at_mean, range(500), -20.0)[0] == pytest.approx(1 / (1 + np.exp(record["bias"])))


def test_each_level_gets_the_detector_and_the_styles_fitted_at_it():
    """The taggers' features depend on the audio's level. The default's features (-20 dBFS)
    get the detector and thresholds refitted there; features of audio as recorded (models
    trained before levelling) keep the ones fitted on them, so an old model's answers do not
    change; a level nothing was fitted at gets neither, rather than wrong ones. Every
    detector calls non-music from the same p(music)."""
    from genrekit.features import FeatureSpec
    from genrekit.features.musicnn import LEVEL_DBFS, TAGGERS
    from genrekit.models.interface import _music_columns, _style_columns
    from genrekit.models.music import detectors
    from genrekit.models.styles import STYLE_TAGS, threshold_sets

    assert set(detectors()) == set(threshold_sets()) == {LEVEL_DBFS, None}
    assert len({d["threshold"] for d in detectors().values()}) == 1
    assert not np.allclose(detectors()[None]["mean"], detectors()[LEVEL_DBFS]["mean"])  # two fits, not one copied
    for spec in (FeatureSpec("musicnn", level_dbfs=LEVEL_DBFS), FeatureSpec("musicnn")):
        assert _music_columns(spec, TAGGERS) == list(range(500))
        assert _style_columns(spec, TAGGERS).keys() == STYLE_TAGS.keys()
    other = FeatureSpec("musicnn", level_dbfs=-30.0)
    assert _music_columns(other, TAGGERS) is None and _style_columns(other, TAGGERS) == {}


def test_generated_non_music_is_unknown_by_default_and_says_why(tmp_path):
    """The ``test`` set of tests/nonmusic.py (voices, languages and texts the detector never
    heard, other noise seeds, tone and hum frequencies): every signal is ``unknown`` with the
    reason "not music", without any --min-confidence, and gets no style. Near-silence too:
    heard at the default's level (raised by at most 30 dB), it is hiss, not a quiet song."""
    paths = write_signals(tmp_path / "nonmusic", "test")
    assert len(paths) == (12 if have_espeak() else 8) and any("near-silence" in p.name for p in paths)
    result = CliRunner().invoke(app, ["predict", "--format", "json", *map(str, paths)])
    assert result.exit_code == 0, result.output
    predictions = [json.loads(line) for line in result.stdout.splitlines() if line.startswith("{")]
    assert len(predictions) == len(paths)
    for prediction in predictions:
        assert prediction["genre"] == "unknown" and prediction["unknown_reason"] == "not music", prediction["path"]
        assert prediction["music"] < music_threshold() and prediction["styles"] == {}
        assert sum(prediction["probabilities"].values()) == pytest.approx(1.0)  # still reported
    table = CliRunner().invoke(app, ["predict", str(paths[0])], env={"COLUMNS": "150"})
    assert "unknown (not music):" in table.stdout, table.stdout
    # a model of speech or sound classes may turn the check off: the top genre comes back
    unchecked = CliRunner().invoke(app, ["predict", "--format", "json", "--no-music-check", str(paths[0])])
    named = json.loads(next(line for line in unchecked.stdout.splitlines() if line.startswith("{")))
    assert named["genre"] == named["top"][0]["genre"] != "unknown" and named["music"] is None


def test_music_is_named(gtzan_mini):
    """One clip per genre keeps its genre: the detector does not turn music into unknown
    (immich's 28 tracks, music nobody trained on, are checked in test_styles.py)."""
    from genrekit.predict import predict_files

    clips = sorted(gtzan_mini.glob("*/*.00006.*"))
    assert len(clips) == 10
    predictions, failures = predict_files("default", clips, progress=False)
    assert not failures
    assert all(p.music >= music_threshold() and p.genre != "unknown" for p in predictions), \
        [(p.path, p.music) for p in predictions]
