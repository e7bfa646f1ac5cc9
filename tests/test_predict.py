"""Whole-song prediction on real clips: schema, proportions, timeline, skipping, formats."""

import csv
import io
import json
import re

import numpy as np
import pytest
import soundfile as sf

from genrekit.datasets import load_gtzan
from genrekit.errors import AudioError, ParameterError
from genrekit.features import FeatureCache, FeatureSpec
from genrekit.models.interface import ClassicalClassifier
from genrekit.predict import analysed_span, predict_file
from genrekit.train import train_model

from conftest import peak_rss_mb

GENRES = ("classical", "metal", "reggae")


def _training_clips(gtzan_mini):
    """Clips 2-7 of each genre; clips 0 and 1 are kept for the songs predicted here."""
    dataset = load_gtzan(gtzan_mini)
    return dataset.select(t.track_id for t in dataset.tracks if t.label in GENRES and int(t.track_id[-5:]) >= 2)


def _clip(gtzan_mini, genre: str, number: int):
    return next((gtzan_mini / genre).glob(f"{genre}.{number:05d}.*"))


def _excerpt(clip, folder, seconds: float = 9.0):
    """The first ``seconds`` of ``clip`` as a WAV file in ``folder`` (named after the clip)."""
    with sf.SoundFile(clip) as handle:
        y, sr = handle.read(int(seconds * handle.samplerate), dtype="float32"), handle.samplerate
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{clip.stem}.wav"
    sf.write(path, y, sr, subtype="PCM_16")
    return path


@pytest.fixture(scope="module")
def model(gtzan_mini, feature_cache):
    dataset = _training_clips(gtzan_mini)
    # cv=False: train's k-fold CV over all tracks (a fit per fold) is tested in test_interface
    result = train_model(dataset, spec=FeatureSpec("fma518", chunk_duration=3.0), model="logreg",
                         cache=FeatureCache(feature_cache), progress=False, cv=False)
    return result.model


@pytest.fixture(scope="module")
def long_song(tmp_path_factory, gtzan_mini):
    """A 'song' of three real clips back to back: metal, classical, metal (stereo, 44.1 kHz)."""
    import soxr

    from genrekit import audio

    parts = [audio.load(_clip(gtzan_mini, genre, number), sr=22050)[0]
             for genre, number in (("metal", 0), ("classical", 1), ("metal", 1))]
    mono = np.concatenate(parts)
    stereo = soxr.resample(np.stack([mono, mono]).T, 22050, 44100)
    path = tmp_path_factory.mktemp("songs") / "medley.wav"
    sf.write(path, stereo, 44100)
    return path, [len(p) / 22050 for p in parts]


def test_analysed_span_skips_intro_and_outro_only_when_long_enough():
    assert analysed_span(200.0, skip=10.0, chunk_seconds=3.0) == (10.0, 190.0)
    assert analysed_span(30.0, skip=10.0, chunk_seconds=30.0) == (0.0, 30.0)  # too short to skip
    assert analysed_span(30.0, skip=0.0, chunk_seconds=3.0) == (0.0, 30.0)
    # a 30 s excerpt is analysed whole by short-window models too; 50 s songs lose their ends
    assert analysed_span(30.0, skip=10.0, chunk_seconds=3.0) == (0.0, 30.0)
    assert analysed_span(49.0, skip=10.0, chunk_seconds=3.0) == (0.0, 49.0)
    assert analysed_span(50.0, skip=10.0, chunk_seconds=3.0) == (10.0, 40.0)


def test_the_chunker_keeps_a_last_piece_and_names_a_file_too_short_for_one(tmp_path):
    from genrekit.audio.chunking import song_chunks

    sr = 8000
    tone = (0.3 * np.sin(2 * np.pi * 440 * np.arange(int(7.6 * sr)) / sr)).astype(np.float32)
    path = tmp_path / "tone.wav"
    sf.write(path, tone, sr)
    pieces = list(song_chunks(path, sr=sr, chunk_seconds=3.0, min_seconds=1.0))
    # two whole chunks, then 1.6 s (at least min_seconds) zero-padded to 3 s
    assert [round(start, 3) for start, _, _ in pieces] == [0.0, 3.0, 6.0]
    assert round(pieces[-1][1], 3) == 7.6 and all(len(chunk) == 3 * sr for _, _, chunk in pieces)
    short = tmp_path / "short.wav"
    sf.write(short, tone[: int(0.8 * sr)], sr)
    with pytest.raises(AudioError, match=r"short\.wav.*too short: 0\.80 s of audio to analyse, at least 1\.00 s required"):
        list(song_chunks(short, sr=sr, chunk_seconds=3.0, min_seconds=1.0))
    assert len(list(song_chunks(short, sr=sr, chunk_seconds=3.0, min_seconds=0.5))) == 1
    # overlapping chunks cover what back-to-back ones do: 2.9 s apart, the last 1.7 s are new audio
    overlapping = list(song_chunks(path, sr=sr, chunk_seconds=3.0, hop_seconds=2.9, min_seconds=1.0))
    assert [round(start, 3) for start, _, _ in overlapping] == [0.0, 2.9, 5.8]
    assert round(overlapping[-1][1], 3) == 7.6
    # a hop of a third of a chunk adds 0.6 s after the last whole one: kept where at least
    # min_seconds, unless it would be padded to a whole chunk (less than half a chunk)
    assert round(list(song_chunks(path, sr=sr, chunk_seconds=3.0, hop_seconds=1.0, pad=False))[-1][1], 3) == 7.6
    assert round(list(song_chunks(path, sr=sr, chunk_seconds=3.0, hop_seconds=1.0, pad=False,
                                  min_seconds=1.0))[-1][1], 3) == 7.0
    assert round(list(song_chunks(path, sr=sr, chunk_seconds=3.0, hop_seconds=1.0))[-1][1], 3) == 7.0


@pytest.mark.parametrize("hop_seconds", [1.0, 4.0, 45.0, 70.0])
def test_chunks_start_where_their_samples_are_for_any_hop(tmp_path, hop_seconds):
    """Hops shorter than a chunk, longer than one, and longer than a decoding block (30 s):
    each chunk's samples are the file's at the chunk's start time, and no chunk starts past the end."""
    from genrekit.audio.chunking import song_chunks

    sr = 1000
    y = (0.5 * np.sin(np.arange(200 * sr) * 0.01) * np.linspace(0.2, 1, 200 * sr)).astype(np.float32)
    path = tmp_path / "ramp.wav"
    sf.write(path, y, sr, subtype="FLOAT")
    pieces = list(song_chunks(path, sr=sr, chunk_seconds=3.0, hop_seconds=hop_seconds, skip=0.0, pad=False))
    starts = [start for start, _, _ in pieces]
    assert np.allclose(np.diff(starts), hop_seconds)
    assert starts[-1] <= 200 - 1.5 and len(pieces) == int((200 - 3) // hop_seconds) + 1
    for start, end, chunk in pieces:
        first = int(round(start * sr))
        np.testing.assert_array_equal(chunk, y[first : first + len(chunk)])


def test_zero_and_negative_lengths_are_refused_by_name(tmp_path):
    from genrekit import audio
    from genrekit.audio.chunking import song_chunks

    path = tmp_path / "tone.wav"
    sf.write(path, np.sin(np.arange(8000 * 5) * 0.1).astype(np.float32), 8000)
    with pytest.raises(ParameterError, match=r"^hop_seconds=0: expected a positive number of seconds"):
        list(song_chunks(path, sr=8000, chunk_seconds=3.0, hop_seconds=0))
    with pytest.raises(ParameterError, match=r"^offset=-5: expected a finite number of seconds >= 0"):
        next(audio.stream(path, sr=8000, offset=-5))
    # NaN, infinity and strings failed in numpy's int(); a block of 0 samples streamed empty blocks for ever
    for options, said in (({"offset": float("nan")}, r"^offset=nan: expected a finite number"),
                          ({"duration": float("inf")}, r"^duration=inf: expected a finite number of seconds > 0"),
                          ({"offset": "1"}, r"^offset='1': expected"), ({"duration": 0}, r"^duration=0: expected")):
        with pytest.raises(ParameterError, match=said):
            audio.load(path, sr=8000, **options)
    with pytest.raises(ParameterError, match=r"^block_duration=1e-05: expected at least one sample at 8000 Hz"):
        next(audio.stream(path, sr=8000, block_duration=1e-5))
    with pytest.raises(ParameterError, match=r"^sr=True: expected a positive whole number of Hz"):
        audio.load(path, sr=True)
    for sr in (0, -8000, 8000.5, float("nan"), True, "8000"):
        with pytest.raises(ParameterError, match=r"sr=.*: expected a positive whole number of Hz"):
            list(song_chunks(path, sr=sr, chunk_seconds=3.0))
    assert len(list(song_chunks(path, sr=8000.0, chunk_seconds=3.0))) == 2  # a model file's 8000.0 is whole


def test_a_batch_refuses_one_path_and_settings_every_file_would_fail_on(tmp_path):
    """A str is a sequence of its characters: predict_files and extract_features took each for a
    file not found. skip=-1 or n_jobs=-3 came back as every file's failure, not as the caller's error."""
    from genrekit.evaluate import evaluate_model
    from genrekit.features import extract_features
    from genrekit.predict import predict_files

    path = tmp_path / "tone.wav"
    sf.write(path, np.sin(np.arange(8000 * 5) * 0.1).astype(np.float32), 8000)
    for call in (lambda: predict_files("default", str(path), progress=False),
                 lambda: predict_files("default", path, progress=False),
                 lambda: extract_features(str(path), FeatureSpec("gtzan57"), n_jobs=1, progress=False)):
        with pytest.raises(ParameterError, match=r"^paths: expected a sequence of paths, found one path \('.*tone.wav'\)"):
            call()
    for options, said in (({"skip": -1}, "skip=-1: expected a number of seconds >= 0"),
                          ({"skip": float("nan")}, "skip=nan: expected"),
                          ({"hop_seconds": float("inf")}, "hop_seconds=inf: expected a positive number of seconds"),
                          ({"n_jobs": 1.5}, "n_jobs=1.5: expected a whole number of worker processes")):
        with pytest.raises(ParameterError, match=f"^{re.escape(said)}"):
            predict_files("default", [path], progress=False, **options)
        with pytest.raises(ParameterError, match=f"^{re.escape(said)}"):
            evaluate_model("default", tmp_path, progress=False, **options)  # before the dataset is read


def test_one_file_and_a_feature_name_take_what_their_batches_take(gtzan_mini):
    """predict_files took segment_seconds and train took a feature set's name; predict_file and
    extract_features raised TypeError and AttributeError for them."""
    from genrekit.features import extract_features

    path = _clip(gtzan_mini, "jazz", 3)
    assert predict_file("default", path, segment_seconds=10).n_chunks == 3
    assert extract_features([path], "gtzan57", n_jobs=1, progress=False).features[0].shape == (1, 57)


def test_prediction_schema_proportions_and_timeline(model, long_song):
    path, lengths = long_song
    prediction = predict_file(model, path)
    total = sum(lengths)
    assert prediction.duration == pytest.approx(total, abs=0.05)
    assert prediction.start == 10.0 and prediction.end <= total - 10.0 + 1e-6
    assert sum(prediction.proportions.values()) == pytest.approx(1.0)
    assert sum(prediction.probabilities.values()) == pytest.approx(1.0)
    assert set(prediction.proportions) == set(GENRES) and prediction.n_chunks == len(prediction.timeline)
    starts = [s.start for s in prediction.timeline]
    ends = [s.end for s in prediction.timeline]
    assert starts[0] == 10.0 and np.allclose(np.array(starts[1:]), np.array(ends[:-1]))  # back to back, no gap
    assert ends[-1] > total - 10.0 - 3.0  # covers the analysed span to within one chunk
    # The middle third is a classical clip, the rest metal: the timeline follows the music.
    first, second = lengths[0], lengths[0] + lengths[1]
    middle = [s.genre for s in prediction.timeline if first + 3 < s.start and s.end < second - 3]
    outer = [s.genre for s in prediction.timeline if s.end < first - 3 or s.start > second + 3]
    assert middle.count("classical") > 0.7 * len(middle) and outer.count("metal") > 0.7 * len(outer)
    data = prediction.to_dict(3)
    assert {"path", "genre", "confidence", "probabilities", "proportions", "timeline", "top", "start", "end",
            "n_chunks", "duration", "model"} <= set(data)
    # music: null for a model without the music detector (this one, on fma518 features)
    assert set(data["timeline"][0]) == {"start", "end", "genre", "confidence", "probabilities", "music"}
    assert data["timeline"][0]["music"] is None and data["music"] is None
    assert list(prediction.timeline_frame().columns[:5]) == ["path", "start", "end", "genre", "confidence"]


def test_stereo_44k_and_mono_22k_give_the_same_answer(model, tmp_path, gtzan_mini):
    import soxr

    from genrekit import audio

    y, sr = audio.load(_clip(gtzan_mini, "reggae", 1), sr=22050)
    sf.write(tmp_path / "mono.wav", y, sr)
    sf.write(tmp_path / "stereo.flac", soxr.resample(np.stack([y, y]).T, sr, 44100), 44100)
    mono, stereo = predict_file(model, tmp_path / "mono.wav"), predict_file(model, tmp_path / "stereo.flac")
    assert mono.n_chunks == stereo.n_chunks and mono.genre == stereo.genre
    # Resampling to 44.1 kHz and back low-passes near Nyquist, which moves some fma518 statistics.
    assert np.allclose(list(mono.probabilities.values()), list(stereo.probabilities.values()), atol=0.2)


def test_whole_clip_model_reads_30_second_segments(gtzan_mini, feature_cache, long_song):
    model = train_model(_training_clips(gtzan_mini), spec=FeatureSpec("fma518"), model="logreg", cache=FeatureCache(feature_cache),
                        progress=False, cv=False).model
    predictor = ClassicalClassifier(model)
    assert predictor.chunk_seconds == 30.0
    prediction = predict_file(predictor, long_song[0])
    # 75.4 s is too short to skip 10 s at each end and keep three 30 s segments: the whole
    # song is read, as two 30 s segments and the 15.4 s left (at least half a segment).
    assert prediction.start == 0.0 and [s.start for s in prediction.timeline] == [0.0, 30.0, 60.0]
    assert prediction.timeline[-1].end == pytest.approx(sum(long_song[1]), abs=0.01)
    short = predict_file(predictor, _clip(gtzan_mini, "metal", 0), skip=0)
    assert short.n_chunks == 1


def test_bad_songs_name_the_file(model, bad_files):
    for kind in ("truncated_mp3", "text_mp3", "empty"):
        with pytest.raises(AudioError, match=str(bad_files[kind].name)):
            predict_file(model, bad_files[kind])


def test_a_silent_file_is_unknown_not_a_failure(model, bad_files, tmp_path, gtzan_mini):
    """A file of digital silence was a failure (exit 3 from predict, an error row in tag's
    table, 422 from the service): silence is the extreme of the non-music issue 17 asks to be
    "unknown". It is now unknown, reason "silent", whatever --min-confidence or the music
    check (a model without the detector too), every genre equally probable, no timeline and no
    style; tag writes nothing to it, evaluate leaves it out as a track it cannot score, and a
    stereo file whose channels cancel is still refused as damaged."""
    import shutil

    import mutagen
    from fastapi.testclient import TestClient
    from typer.testing import CliRunner

    from genrekit.cli.main import EXIT_OK, app
    from genrekit.models import save_model
    from genrekit.server import create_app

    silent = predict_file(model, bad_files["silent"])
    assert (silent.genre, silent.unknown_reason, silent.n_chunks, silent.timeline) == ("unknown", "silent", 0, [])
    assert list(silent.probabilities.values()) == pytest.approx([1 / len(model.labels)] * len(model.labels))
    assert silent.music is None and silent.confidence == pytest.approx(1 / len(model.labels))
    assert silent.proportions["unknown"] == 1 and silent.start == 0 and 8 < silent.end <= silent.duration == 10
    assert silent.with_min_confidence(0).genre == "unknown"  # not even a forced guess
    # its start and end: the span analysed, as for music (an audit, 2026-12-06: 125 s of silence said 10-100 s,
    # where the chunks read stopped)
    sf.write(tmp_path / "long.wav", np.zeros(125 * 8000, np.float32), 8000)
    long = predict_file(model, tmp_path / "long.wav")
    assert (long.unknown_reason, long.start, long.end, long.duration) == ("silent", 10.0, 115.0, 125.0)
    # sound only in a last piece too short to be a chunk: nothing was heard either
    sr = 22050
    tail = np.concatenate([np.zeros(12 * sr, np.float32), 0.2 * np.ones(sr // 10, np.float32)])
    sf.write(tmp_path / "tail.wav", tail, sr)
    assert predict_file(model, tmp_path / "tail.wav", skip=0).unknown_reason == "silent"
    # nor in a chunk whose only sound is a resampler's ringing before that last piece (at another rate than the
    # model's), or the step of a DC offset: they were heard, as "not music" (an audit, 2026-12-06)
    burst = 0.3 * np.random.default_rng(1).standard_normal(2 * 44100).astype(np.float32)
    sf.write(tmp_path / "ringing.wav", np.concatenate([np.zeros(30 * 44100, np.float32), burst]), 44100)
    sf.write(tmp_path / "dc.wav", np.full(12 * 44100, 0.3, np.float32), 44100)
    for name in ("ringing.wav", "dc.wav"):
        assert predict_file(model, tmp_path / name, skip=0).unknown_reason == "silent", name
    antiphase = np.random.default_rng(0).normal(scale=0.2, size=sr * 5).astype(np.float32)
    sf.write(tmp_path / "antiphase.wav", np.stack([antiphase, -antiphase], axis=1), sr, subtype="FLOAT")
    with pytest.raises(AudioError, match="antiphase.wav: silent when its channels are mixed to mono"):
        predict_file(model, tmp_path / "antiphase.wav")
    late = np.concatenate([np.zeros(70 * 8000, np.float32), np.tile(antiphase[: 5 * 8000], 6)])  # 60 s were read
    sf.write(tmp_path / "late.wav", np.stack([late, -late], axis=1), 8000, subtype="FLOAT")
    with pytest.raises(AudioError, match="late.wav: silent when its channels are mixed to mono"):
        predict_file(model, tmp_path / "late.wav")

    model_path = save_model(model, tmp_path / "model.genrekit")
    runner = CliRunner()
    for options in ([], ["--no-music-check", "--min-confidence", "0"]):
        result = runner.invoke(app, ["predict", str(bad_files["silent"]), "--model", str(model_path), "--format",
                                     "json", *options])
        assert result.exit_code == EXIT_OK, result.output
        answer = json.loads(result.stdout)
        assert answer["genre"] == "unknown" and answer["unknown_reason"] == "silent" and "error" not in answer
        # the threshold it was decided with, as any file's (it said null, a review of 2026-12-06)
        assert answer["min_confidence"] == (0.0 if options else None), answer
    # and a row in the timeline, which lists every file given (it had none: a script pairing rows lost it)
    rows = list(csv.DictReader(io.StringIO(runner.invoke(app, ["predict", str(bad_files["silent"]), str(gtzan_mini
                / "jazz" / "jazz.00002.wav"), "--model", str(model_path), "--format", "timeline"]).stdout)))
    assert rows[0]["path"] == str(bad_files["silent"]) and rows[0]["genre"] == "unknown" and rows[0]["error"] == ""
    assert (float(rows[0]["start"]), float(rows[0]["end"])) == (silent.start, silent.end)
    assert sum(row["path"] == str(bad_files["silent"]) for row in rows) == 1 and len(rows) > 2
    table = runner.invoke(app, ["predict", str(bad_files["silent"]), "--model", str(model_path)])
    assert table.exit_code == EXIT_OK and "unknown (silent)" in table.stdout and "silent 100%" in table.stdout
    assert not re.search(rf"\b({'|'.join(model.labels)}) \d+%", table.stdout), table.stdout  # no best guess
    row = next(csv.DictReader(io.StringIO(runner.invoke(app, ["predict", str(bad_files["silent"]), "--model",
                                                              str(model_path), "--format", "csv"]).stdout)))
    assert (row["genre"], row["unknown_reason"], row["n_chunks"], row["error"]) == ("unknown", "silent", "0", "")

    library = tmp_path / "library"
    library.mkdir()
    song = library / "silence.flac"
    sf.write(song, np.zeros(10 * sr, np.float32), sr)
    tags = mutagen.File(song)
    tags["genre"] = "Ambient"
    tags.save()
    out = tmp_path / "tags.jsonl"
    result = runner.invoke(app, ["tag", str(library), "--model", str(model_path), "--out", str(out), "--write-tags",
                                 "--jobs", "1", "--no-music-check"])
    assert result.exit_code == EXIT_OK, result.output
    record = json.loads(out.read_text().splitlines()[0])
    assert (record["genre"], record["unknown_reason"], record["error"]) == ("unknown", "silent", None)
    assert not record["tag_written"] and "genre unknown (silent)" in record["tag_error"]
    assert mutagen.File(song)["genre"] == ["Ambient"]

    with TestClient(create_app(model_path), base_url="http://localhost") as client:
        with open(bad_files["silent"], "rb") as handle:
            response = client.post("/v1/predict", files={"file": ("quiet.wav", handle, "audio/wav")})
        assert response.status_code == 200 and response.json()["unknown_reason"] == "silent", response.text

    from genrekit.datasets import load_folder
    from genrekit.evaluate.run import predict_dataset

    for genre in ("metal", "reggae"):
        (tmp_path / "data" / genre).mkdir(parents=True)
        shutil.copy(_clip(gtzan_mini, genre, 5), tmp_path / "data" / genre)
    sf.write(tmp_path / "data" / "metal" / "gap.wav", np.zeros(10 * sr, np.float32), sr)
    _, predicted, report = predict_dataset(model, load_folder(tmp_path / "data"), progress=False, include_train=True)
    assert len(predicted) == 2 and "silent: no sound in the analysed span" in report["failures"][
        str(tmp_path / "data" / "metal" / "gap.wav")]


def test_predict_cli_formats_and_plot(model, tmp_path, long_song):
    from typer.testing import CliRunner

    from genrekit.cli.main import EXIT_OK, app
    from genrekit.models import save_model

    save_model(model, tmp_path / "model.genrekit")
    # two 5 s songs of the same name (in a/ and b/); a/song.wav serves the checks that need no long song
    for folder in ("a", "b"):
        (tmp_path / folder).mkdir()
        sf.write(tmp_path / folder / "song.wav", np.sin(np.arange(5 * 22050) * 0.05) * 0.3, 22050)
    runner = CliRunner()
    args = ["predict", "--model", str(tmp_path / "model.genrekit"), str(long_song[0])]
    short = ["predict", "--model", str(tmp_path / "model.genrekit"), str(tmp_path / "a" / "song.wav")]
    result = runner.invoke(app, [*args, "--format", "timeline", "--plot", str(tmp_path / "plots")])
    assert result.exit_code == EXIT_OK, result.output
    rows = result.stdout.splitlines()
    assert rows[0].startswith("path,start,end,genre,confidence,music,p_classical") and rows[0].endswith(",error")
    assert rows[1].split(",")[5] == ""  # music: empty for a model without the detector
    assert len(rows) == 1 + 18  # 75.4 s - 2 x 10 s skipped = 55.4 s: 18 chunks of 3 s
    (tmp_path / "junk.wav").write_bytes(b"not audio")
    failed = runner.invoke(app, [*short, str(tmp_path / "junk.wav"), "--format", "timeline"])
    last = next(csv.reader([failed.stdout.splitlines()[-1]]))  # the failure is in the output, not only on stderr
    assert failed.exit_code != EXIT_OK and last[0] == str(tmp_path / "junk.wav") and "junk.wav" in last[-1]
    assert (tmp_path / "plots" / "medley.png").stat().st_size > 10_000
    line = json.loads(runner.invoke(app, [*args, "--format", "json", "--skip", "0"]).stdout.splitlines()[0])
    assert line["start"] == 0.0 and sum(line["proportions"].values()) == pytest.approx(1.0)
    assert "styles" in line and line["styles"] is None  # a model on fma518 features gives no styles
    rows = runner.invoke(app, [*short, "--format", "csv"]).stdout.splitlines()
    # no unknown share, styles, music, reason or error: a model without the music detector
    assert rows[0].endswith(",share_unknown,styles,music,unknown_reason,error") and rows[1].endswith(",,,,,")
    table = runner.invoke(app, short)
    assert table.exit_code == EXIT_OK and "share of time" in table.stdout
    assert "styles" not in table.stdout  # no column for a model without styles

    # songs of the same name from two folders: one plot each, neither replaced
    for output_format in ("json", "jsonl"):
        plots = tmp_path / f"plots-{output_format}"
        result = runner.invoke(app, ["predict", "--model", str(tmp_path / "model.genrekit"), str(tmp_path / "a" / "song.wav"),
                                     str(tmp_path / "b" / "song.wav"), "--format", output_format, "--plot", str(plots)])
        assert result.exit_code == EXIT_OK, result.output
        assert sorted(p.name for p in plots.iterdir()) == ["song-2.png", "song.png"]
        said = " ".join(result.stderr.split())  # which song the numbered plot is of
        assert any(f"plot of {tmp_path / f}/song.wav: {plots / 'song-2.png'}" in said for f in "ab"), result.stderr
    # and the table tells them apart by their folders
    both = runner.invoke(app, ["predict", "--model", str(tmp_path / "model.genrekit"), str(tmp_path / "a" / "song.wav"),
                               str(tmp_path / "b" / "song.wav")], env={"COLUMNS": "100"})
    assert "a/song.wav" in both.stdout and "b/song.wav" in both.stdout, both.stdout


def test_song_scores_follow_the_literature():
    from genrekit.evaluate import accuracy_interval, song_scores

    genres = ["blues", "jazz", "rock", "pop"]
    probabilities = [dict(zip(genres, p)) for p in ([0.1, 0.6, 0.2, 0.1], [0.5, 0.05, 0.3, 0.15], [0.1, 0.1, 0.2, 0.6])]
    proportions = [dict(zip(genres, p)) for p in ([0.1, 0.7, 0.2, 0.0], [0.6, 0.0, 0.3, 0.1], [0.05, 0.05, 0.2, 0.7])]
    scores = song_scores(["jazz", "jazz", "rock"], probabilities, proportions)
    assert scores["top1"] == pytest.approx(1 / 3) and scores["top3"] == pytest.approx(2 / 3)
    assert scores["top1_ci95"] == accuracy_interval(1, 3)  # one song of three right
    # jazz: 0.7 (in its top 3) and 0 (jazz has no share in song 2) -> 0.35; rock: 0.2 -> mean 0.275.
    assert scores["per_genre"]["jazz"]["proportion_score"] == pytest.approx(0.35)
    assert scores["proportion_score"] == pytest.approx(0.275)
    # the time heard as not music takes no place in the top 3 (rock's 0.2 stays counted)
    shares = {"rock": 0.2, "pop": 0.26, "jazz": 0.24, "blues": 0.0, "unknown": 0.3}
    assert song_scores(["rock"], [probabilities[2]], [shares])["proportion_score"] == pytest.approx(0.2)


def test_full_song_evaluation_from_the_cli(model, tmp_path, gtzan_mini):
    from typer.testing import CliRunner

    from genrekit.cli.main import EXIT_OK, app
    from genrekit.models import save_model

    save_model(model, tmp_path / "model.genrekit")
    # --jobs 1: in this process (parallel prediction: test_parallel_batch_prediction_equals_the_sequential_one)
    result = CliRunner().invoke(app, ["evaluate", str(tmp_path / "model.genrekit"), str(gtzan_mini), "--songs",
                                      "--out", str(tmp_path / "songs"), "--jobs", "1"])
    assert result.exit_code == EXIT_OK, result.output
    scores = json.loads((tmp_path / "songs" / "songs.json").read_text())
    # The model was fitted on 15 of clips 2-7 (its own split kept 3 as test tracks): those are left out.
    assert sorted(scores["excluded_training_tracks"]) == sorted(model.training["track_ids"])
    assert scores["n"] == 24 - len(model.training["track_ids"])
    assert set(scores["per_genre"]) == set(GENRES)  # only genres the model knows
    assert len(scores["unknown_genre_tracks"]) == 56
    assert 0 <= scores["proportion_score"] <= scores["top3"] <= 1
    assert (tmp_path / "songs" / "songs.md").read_text().count("\n| ") == 4
    run = json.loads((tmp_path / "songs" / "run.json").read_text())  # what ran, as every command records it
    assert run["command"] == "evaluate --songs" and run["model"]["model"] == model.name


def test_classical_model_exported_to_onnx_predicts_the_same(model, gtzan_mini, feature_cache, tmp_path):
    """skl2onnx: the pipeline as ONNX, genrekit's features in; the same probabilities."""
    pytest.importorskip("skl2onnx", reason="ONNX export is the 'onnx' extra")
    from genrekit.errors import ModelError
    from genrekit.export import export_onnx
    from genrekit.models import save_model
    from genrekit.models import load

    path = save_model(model, tmp_path / "logreg.genrekit")
    exported = export_onnx(path, tmp_path / "logreg.onnx")
    onnx_predictor = load(exported)
    assert onnx_predictor.kind == "onnx-classical" and onnx_predictor.labels == model.labels
    clip = _clip(gtzan_mini, "reggae", 0)
    expected, got = predict_file(model, clip), predict_file(onnx_predictor, clip)
    assert got.genre == expected.genre and got.n_chunks == expected.n_chunks
    assert np.allclose([got.probabilities[g] for g in GENRES], [expected.probabilities[g] for g in GENRES], atol=1e-4)
    with pytest.raises(ParameterError, match="int8 quantization is for networks"):  # before converting or decoding
        export_onnx(path, tmp_path / "int8.onnx", int8=True, calibration=[tmp_path / "never-read.wav"])
    assert not (tmp_path / "int8.onnx").exists()
    svc = train_model(_training_clips(gtzan_mini), spec=FeatureSpec("fma518", chunk_duration=3.0), model="linear-svc",
                      cache=FeatureCache(feature_cache), progress=False, cv=False).model
    with pytest.raises(ModelError, match="no probabilities"):
        export_onnx(save_model(svc, tmp_path / "svc.genrekit"), tmp_path / "svc.onnx")
    assert not (tmp_path / "svc.onnx").exists()


def test_parallel_batch_prediction_equals_the_sequential_one(model, gtzan_mini, tmp_path):
    from genrekit.models import save_model
    from genrekit.predict import predict_files

    path = save_model(model, tmp_path / "logreg.genrekit")
    # 9 s of each clip: three 3 s chunks each, and a timeline to compare
    files = [_excerpt(_clip(gtzan_mini, genre, 0), tmp_path / "excerpts") for genre in GENRES]
    files.append(tmp_path / "missing.wav")
    sequential, failed = predict_files(path, files, progress=False)
    parallel, failed_too = predict_files(path, files, n_jobs=2, progress=False)
    assert len(parallel) == len(sequential) == 3
    # workers use one BLAS thread: the float32 features' sums may round otherwise (1.8e-9 in these
    # probabilities, 2026-12-02), far under float32's own 6e-8
    for a, b in zip(parallel, sequential):
        assert (a.path, a.genre, a.n_chunks, a.proportions) == (b.path, b.genre, b.n_chunks, b.proportions)
        assert np.allclose(list(a.probabilities.values()), list(b.probabilities.values()), rtol=0, atol=1e-7)
        assert [s.genre for s in a.timeline] == [s.genre for s in b.timeline]
    assert list(failed) == list(failed_too) == [str(tmp_path / "missing.wav")]

    # A model loaded with its own chunk length keeps it in workers, which load it again from its file.
    from genrekit.models import load
    from genrekit.runners import LocalRunner

    loaded = load(path, segment_seconds=10.0)
    song = [_clip(gtzan_mini, GENRES[0], 0)]  # a real 30 s clip: three 10 s chunks
    here, _ = predict_files(loaded, song, progress=False)
    workers, _ = predict_files(loaded, song, runner=LocalRunner(1), progress=False)
    assert [p.n_chunks for p in here] == [p.n_chunks for p in workers] == [3]
    with pytest.raises(ParameterError, match=r"segment_seconds=5\.0: .* already loaded with 10 s chunks"):
        predict_files(loaded, song, segment_seconds=5.0, progress=False)
    for bad in (0, -5.0, float("nan")):
        with pytest.raises(ParameterError, match=r"segment_seconds=.*expected a positive number of seconds"):
            load(path, segment_seconds=bad)


def test_a_half_hour_song_peaks_within_a_quarter_of_a_clip_for_a_classical_model(model, songs_for_memory, tmp_path):
    """Streaming (issue 20) for a classical model on librosa features (fma518, 3 s chunks): the
    whole half hour is decoded and streamed, but only one chunk every 5 minutes is described,
    since describing all of it takes minutes (bench/song_memory.py does, for an hour: 1.00x)."""
    from genrekit.models import save_model

    path = str(save_model(model, tmp_path / "logreg.genrekit"))
    clip, song = songs_for_memory
    short, long = peak_rss_mb(path, str(clip)), peak_rss_mb(path, str(song), hop_seconds=300.0)
    # measured 2026-11-30 for an hour: 376 and 379 MB, 1.01x (a whole-file read of half an hour adds 159 MB)
    assert long <= 1.25 * short, f"a half-hour song peaked at {long:.0f} MB, a 30 s clip at {short:.0f} MB"


def test_below_min_confidence_the_genre_is_unknown_and_the_probabilities_stay(model, gtzan_mini):
    clip = _clip(gtzan_mini, "reggae", 0)
    sure = predict_file(model, clip)
    assert sure.genre != "unknown" and sure.min_confidence is None
    doubtful = predict_file(model, clip, min_confidence=min(1.0, sure.confidence + 1e-6))
    assert doubtful.genre == "unknown" and doubtful.probabilities == sure.probabilities
    assert doubtful.confidence == sure.confidence and doubtful.top(1) == sure.top(1)
    assert predict_file(model, clip, min_confidence=sure.confidence).genre == sure.genre  # at the threshold: kept
    for bad in (-0.1, 1.5, float("nan")):
        with pytest.raises(ParameterError, match="min_confidence"):
            predict_file(model, clip, min_confidence=bad)


def test_min_confidence_in_predict_tag_and_the_service(model, gtzan_mini, tmp_path):
    """`predict --min-confidence`, `tag --min-confidence --write-tags` (unknown is never
    written: the file keeps its tags) and the service's default and query parameter."""
    import mutagen
    from fastapi.testclient import TestClient
    from typer.testing import CliRunner

    from genrekit.cli.main import EXIT_OK, EXIT_USAGE, app
    from genrekit.models import save_model
    from genrekit.server import ServiceLimits, create_app

    model_path = save_model(model, tmp_path / "model.genrekit")
    clip = _excerpt(_clip(gtzan_mini, "classical", 0), tmp_path / "excerpt")  # 9 s: what is decided is the point
    runner = CliRunner()
    result = runner.invoke(app, ["predict", str(clip), "--model", str(model_path), "--min-confidence", "1",
                                 "--format", "json"])
    assert result.exit_code == EXIT_OK, result.output
    answer = json.loads(result.stdout)
    assert answer["genre"] == "unknown" and answer["min_confidence"] == 1 and answer["top"][0]["probability"] < 1
    result = runner.invoke(app, ["predict", str(clip), "--model", str(model_path), "--min-confidence", "1"])
    assert result.exit_code == EXIT_OK and "unknown" in result.stdout, result.output
    result = runner.invoke(app, ["predict", str(clip), "--model", str(model_path), "--min-confidence", "1",
                                 "--format", "csv"])
    row = next(csv.DictReader(io.StringIO(result.stdout)))
    assert row["genre"] == "unknown" and row["unknown_reason"] == answer["unknown_reason"] != "" and row["error"] == ""
    result = runner.invoke(app, ["predict", str(clip), "--model", str(model_path), "--min-confidence", "2"])
    assert result.exit_code == EXIT_USAGE and "--min-confidence" in result.output

    library = tmp_path / "library"
    library.mkdir()
    song = library / "song.flac"
    sf.write(song, *sf.read(clip))
    tags = mutagen.File(song)
    tags["genre"] = "Chamber music"
    tags.save()
    result = runner.invoke(app, ["tag", str(library), "--model", str(model_path), "--out", str(tmp_path / "tags.jsonl"),
                                 "--write-tags", "--min-confidence", "1", "--jobs", "1"])
    assert result.exit_code == EXIT_OK, result.output
    row = json.loads((tmp_path / "tags.jsonl").read_text().splitlines()[0])
    assert row["genre"] == "unknown" and not row["tag_written"] and "left as they are" in row["tag_error"]
    assert mutagen.File(song)["genre"] == ["Chamber music"]
    # a re-run without the threshold decides every row again, the ones done before included
    result = runner.invoke(app, ["tag", str(library), "--model", str(model_path), "--out", str(tmp_path / "tags.jsonl"),
                                 "--jobs", "1"])
    assert json.loads((tmp_path / "tags.jsonl").read_text().splitlines()[0])["genre"] != "unknown"

    with TestClient(create_app(model_path, ServiceLimits(min_confidence=1.0)), base_url="http://localhost") as client:
        def ask(query=""):
            with open(clip, "rb") as handle:
                return client.post(f"/v1/predict{query}", files={"file": (clip.name, handle, "audio/wav")})

        assert ask().json()["genre"] == "unknown"
        assert ask("?min_confidence=0").json()["genre"] == answer["top"][0]["genre"]
        rejected = ask("?min_confidence=1.5")
        assert rejected.status_code == 422 and "min_confidence" in rejected.json()["detail"]


def test_batches_hold_30_s_of_audio_and_an_empty_batch_is_refused(clip):
    from genrekit.predict.files import batch_size

    assert [batch_size(s) for s in (2.97, 3.0, 7.5, 30.0, 45.0)] == [10, 10, 4, 1, 1]
    with pytest.raises(ParameterError, match=r"batch=0: expected a whole number of chunks per batch, at least 1"):
        predict_file("default", clip, batch=0)


def test_every_genre_of_a_large_library_gets_its_own_colour():
    """Plots of a tag library with more genres than tab20 has colours (it repeats its last past 20)."""
    from genrekit.predict.song import UNKNOWN_COLOUR, genre_colours

    for n in (2, 10, 11, 20, 21, 45):
        colours = genre_colours([f"genre {i}" for i in range(n)])
        assert len(colours) == n and len(set(colours.values())) == n, n
        # none grey, as "not music" is (tab10's grey was pop's, the default's 8th genre)
        assert all(max(c[:3]) - min(c[:3]) > 0.15 for c in colours.values()), n
        assert UNKNOWN_COLOUR not in colours.values()


def test_silent_stretches_do_not_vote_on_the_genre(gtzan_mini, tmp_path):
    """A song with 40 s of digital silence after it, or 30 s of near-silence (-80 dBFS noise)
    before it, gets the genre, confidence and proportions of the music alone: the silent
    stretches have no windows in the timeline, and chunks count by the share of their time
    that sounds. (The silence was named classical, and pulled a rock song's confidence from
    0.97 to 0.59.) A song quiet throughout is still analysed whole."""
    from genrekit.models import default_model_path, load

    model = load(default_model_path(onnx=True))
    y, sr = sf.read(_clip(gtzan_mini, "rock", 0), dtype="float32")
    noise = np.random.default_rng(0).normal(scale=1e-4, size=30 * sr).astype(np.float32)
    songs = {"alone": y, "silent tail": np.concatenate([y, np.zeros(40 * sr, np.float32)]),
             "quiet intro": np.concatenate([noise, y])}
    answers = {}
    for name, samples in songs.items():
        sf.write(tmp_path / f"{name}.wav", samples, sr)
        answers[name] = predict_file(model, tmp_path / f"{name}.wav")
    alone = answers["alone"]
    for name in ("silent tail", "quiet intro"):
        answer = answers[name]
        assert answer.genre == alone.genre and abs(answer.confidence - alone.confidence) < 0.02, (name, answer)
        assert answer.proportions[alone.genre] > 0.95, (name, answer.proportions)
    assert all(s.start < 31 for s in answers["silent tail"].timeline)  # none in the silence after 30 s
    assert all(s.start >= 29 for s in answers["quiet intro"].timeline)  # none in the first 30 s
    assert answers["quiet intro"].start == 0 and answers["silent tail"].end == pytest.approx(70, abs=0.05)  # the song's
    quiet = tmp_path / "quiet.wav"
    sf.write(quiet, noise, sr)  # nothing above -60 dBFS: every chunk counts, as before
    assert predict_file(model, quiet, music_check=False).n_chunks == 1


def test_a_chunk_partly_silent_is_judged_on_its_sound_wherever_the_silence_lies(gtzan_mini, tmp_path):
    """6 s of a rock clip then 24 s of silence was 'not music' (music 0.16), and the same audio
    with the silence first was rock (music 0.20, rock 0.91): the chunk's features were pooled
    over its silent patches too, and its level heard with the silence in it. A partly silent
    chunk is now judged on its sounding half-seconds alone: both orders, and the 6 s alone, get
    the same genres, styles and music score; the timeline still shows where the music is, and
    a chunk with less sound than the model scores (2 s of 20) is judged as it is."""
    from genrekit.models import default_model_path, load

    model = load(default_model_path(onnx=True))
    y, sr = sf.read(_clip(gtzan_mini, "rock", 0), dtype="float32")
    music, silence = y[: 6 * sr], np.zeros(24 * sr, np.float32)
    songs = {"alone": music, "music first": np.concatenate([music, silence]),
             "silence first": np.concatenate([silence, music])}
    answers = {}
    for name, samples in songs.items():
        sf.write(tmp_path / f"{name}.wav", samples, sr)
        answers[name] = predict_file(model, tmp_path / f"{name}.wav", skip=0)
    alone = answers["alone"]
    assert alone.genre != "unknown", alone
    for name in ("music first", "silence first"):
        answer = answers[name]
        assert answer.genre == alone.genre and answer.music == pytest.approx(alone.music, abs=0.02), (name, answer)
        assert max(abs(answer.probabilities[g] - p) for g, p in alone.probabilities.items()) < 0.02, (name, answer)
        assert answer.styles.keys() == alone.styles.keys(), (name, answer.styles, alone.styles)
    assert [s.start for s in answers["music first"].timeline] == [0.0]
    assert all(s.start >= 23.9 for s in answers["silence first"].timeline)
    # 2 s of music in 20 s of silence: too little to judge alone; the timeline keeps its one window
    sf.write(tmp_path / "blip.wav", np.concatenate([y[: 2 * sr], np.zeros(18 * sr, np.float32)]), sr)
    blip = predict_file(model, tmp_path / "blip.wav", skip=0)
    assert [s.start for s in blip.timeline] == [0.0], blip.timeline


def test_a_dc_offset_alone_is_silent_at_every_sample_rate(tmp_path):
    """A file of a constant level (a DC offset; an 8-bit file whose silence was written as 0x00)
    was classical at 22.05 and 44.1 kHz and silent at 16 kHz, the model's rate: resampling rings
    for a few milliseconds at the file's two ends, and that was heard as sound (a review,
    2026-12-07). A click of a few milliseconds in silence is no sound to judge either."""
    from genrekit.models import default_model_path, load

    model = load(default_model_path(onnx=True))
    for rate, level, subtype in ((22050, 0.5, "PCM_16"), (44100, 0.3, "FLOAT"), (11025, -1.0, "PCM_U8"),
                                 (16000, 0.5, "PCM_16"), (48000, -0.25, "PCM_24")):
        path = tmp_path / f"dc-{rate}.wav"
        sf.write(path, np.full(30 * rate, level, np.float32), rate, subtype=subtype)
        for music_check in (True, False):
            answer = predict_file(model, path, music_check=music_check)
            assert (answer.genre, answer.unknown_reason) == ("unknown", "silent"), (rate, music_check, answer)
    click = np.zeros(20 * 16000, np.float32)
    click[8000:8080] = np.random.default_rng(0).uniform(-0.5, 0.5, 80)  # 5 ms
    sf.write(tmp_path / "click.wav", click, 16000)
    assert predict_file(model, tmp_path / "click.wav", skip=0, music_check=False).unknown_reason == "silent"


def test_the_model_is_not_run_on_digital_silence(tmp_path, monkeypatch):
    """Ten minutes of digital silence around 30 s of sound: the model sees only the chunks that
    hold sound (an hour of silence took 14 s of model time, and ten hours over two minutes,
    to end as "silent"), and the analysed span still runs from the first chunk to the last. A
    file whose only sound lies in a last piece too short for a chunk is called silent."""
    from genrekit.models import default_model_path, load

    model = load(default_model_path(onnx=True))
    seen = []
    analyse = model.analyse
    monkeypatch.setattr(model, "analyse", lambda chunks: seen.extend(chunks) or analyse(chunks))
    sr = 16000
    sound = np.random.default_rng(1).uniform(-0.3, 0.3, 30 * sr).astype(np.float32)
    silence = np.zeros(300 * sr, np.float32)
    sf.write(tmp_path / "padded.wav", np.concatenate([silence, sound, silence]), sr)
    answer = predict_file(model, tmp_path / "padded.wav", skip=0)
    assert 0 < len(seen) * model.chunk_seconds <= 30 + 2 * model.chunk_seconds
    assert all(np.max(np.abs(chunk)) > 0.1 for chunk in seen)
    assert answer.start == 0 and answer.end > 629
    tail = int(model.min_seconds * sr) - 10  # less than the model scores: no chunk of its own
    sf.write(tmp_path / "tail.wav", np.concatenate([np.zeros(int(3 * model.chunk_seconds * sr), np.float32),
                                                     sound[:tail]]), sr)
    assert predict_file(model, tmp_path / "tail.wav", skip=0).unknown_reason == "silent"


def test_a_long_song_reports_its_progress_in_seconds(tmp_path):
    """A 10-minute file showed "0/1" until it was done: predict_file now reports the seconds
    analysed after each batch, and predict_files' bar counts seconds of audio, each file's
    length from its header, ending at the total."""
    from genrekit.models import default_model_path, load
    from genrekit.predict.files import _AudioProgress

    sr = 16000
    song = np.random.default_rng(2).uniform(-0.2, 0.2, 200 * sr).astype(np.float32)
    sf.write(tmp_path / "long.wav", song, sr)
    reached = []
    predict_file(load(default_model_path(onnx=True)), tmp_path / "long.wav", skip=0, batch=1, on_progress=reached.append)
    assert reached == sorted(reached) and len(reached) == 7 and reached[-1] == pytest.approx(200.0, abs=0.01)
    (tmp_path / "broken.wav").write_bytes(b"RIFF")
    with _AudioProgress([str(tmp_path / "long.wav"), str(tmp_path / "broken.wav")], enabled=True) as bar:
        assert bar.total == pytest.approx(200.0)
        bar.advance_to(str(tmp_path / "long.wav"), 90.0)
        bar.advance_to(str(tmp_path / "long.wav"), 60.0)  # never backwards
        assert bar.progress.tasks[0].completed == pytest.approx(90.0)
        bar.finished(str(tmp_path / "long.wav"))
        bar.finished(str(tmp_path / "broken.wav"))
        assert bar.progress.tasks[0].completed == pytest.approx(200.0) and bar.done_files == 2


def test_workers_read_a_stream_of_paths_as_they_come_free(gtzan_mini):
    """With --jobs, every path was read before the first song was predicted, so `find ... |
    genrekit predict - --format jsonl --jobs 4` printed nothing until find had finished. The
    pool now reads paths two per worker ahead of the songs in analysis."""
    from genrekit.models import default_model_path
    from genrekit.predict.files import iter_predictions

    clips = sorted(gtzan_mini.glob("*/*.00001.*"))[:6]
    read = []

    def stream():
        for clip in clips:
            read.append(clip)
            yield clip

    outcomes = iter_predictions(str(default_model_path(onnx=True)), stream(), n_jobs=2)
    first = next(outcomes)
    assert len(read) <= 4 and first[2] is None, (len(read), first)  # two per worker, not all six
    rest = list(outcomes)
    assert sorted(p for p, _, _ in [first, *rest]) == sorted(map(str, clips)) and all(e is None for _, _, e in rest)


def test_results_come_while_a_slow_producer_is_still_looking(gtzan_mini):
    """The pool read the next path in the thread that collects results, so a producer slower
    than the songs (paths piped in as they are found) held back songs already analysed until
    it gave the next path. Paths are now read in a thread of their own."""
    import threading

    from genrekit.models import default_model_path
    from genrekit.predict.files import iter_predictions

    clips = sorted(gtzan_mini.glob("*/*.00001.*"))[:3]
    gate, gave_up = threading.Event(), []

    def stream():
        yield clips[0]
        yield clips[1]
        gave_up.append(not gate.wait(60))  # the third path comes only after the first two songs' results
        yield clips[2]

    outcomes = iter_predictions(str(default_model_path(onnx=True)), stream(), n_jobs=2)
    first_two = [next(outcomes), next(outcomes)]
    gate.set()
    rest = list(outcomes)
    assert gave_up == [False], "the first results waited for the producer's next path"
    assert sorted(p for p, _, _ in first_two) == sorted(map(str, clips[:2]))
    assert [p for p, _, _ in rest] == [str(clips[2])] and all(e is None for _, _, e in first_two + rest)


def test_a_songs_short_last_piece_is_heard_and_counts_for_its_length(gtzan_mini, tmp_path):
    """A 70 s song was analysed from 0 to 60 s: a last piece under half a chunk (15 s) was left
    out, so its end was never heard and the timeline stopped 10 s short. It is analysed now, and
    counts for its length: 10 s of metal after 60 s of jazz moves the song's probabilities by a
    seventh of what a whole chunk of metal would (one third of a chunk against three)."""
    from genrekit.models import default_model_path, load

    model = load(default_model_path(onnx=True))
    jazz, sr = sf.read(_clip(gtzan_mini, "jazz", 4), dtype="float32")
    metal, metal_sr = sf.read(_clip(gtzan_mini, "metal", 1), dtype="float32")
    assert metal_sr == sr
    song = np.concatenate([jazz[: 30 * sr], jazz[: 30 * sr], metal[: 10 * sr]])
    sf.write(tmp_path / "song.wav", song, sr)
    answer = predict_file(model, tmp_path / "song.wav", skip=0)
    assert answer.end == pytest.approx(70, abs=0.05) and answer.timeline[-1].end == pytest.approx(70, abs=0.05)
    assert answer.timeline[-1].genre == "metal" and answer.genre == "jazz", answer.timeline
    metal_alone = predict_file(model, _excerpt(_clip(gtzan_mini, "metal", 1), tmp_path / "metal", 10.0), skip=0)
    jazz_alone = predict_file(model, _excerpt(_clip(gtzan_mini, "jazz", 4), tmp_path / "jazz", 30.0), skip=0)
    for genre, p in answer.probabilities.items():  # jazz's two chunks weigh 1 each, metal's third of one 1/3
        expected = (2 * jazz_alone.probabilities[genre] + metal_alone.probabilities[genre] / 3) / (2 + 1 / 3)
        assert p == pytest.approx(expected, abs=0.01), genre


def test_a_song_in_memory_gets_the_files_answer(gtzan_mini):
    """predict_audio: the analysis of predict_file (chunks, music check, styles, timeline) for an
    array, stereo as soundfile lays it out or as librosa and genrekit.audio.load(mono=False) do
    (refused before); what is not float audio is refused by name, and a file's errors name the
    caller's name, not a temporary file."""
    from genrekit.errors import AudioError, ParameterError
    from genrekit.predict import predict_audio

    path = _clip(gtzan_mini, "reggae", 1)
    y, sr = sf.read(path, dtype="float32")
    from_file = predict_file("default", path)
    in_memory = predict_audio("default", np.stack([y, y], axis=1), sr, name="mine")
    assert in_memory.path == "mine" and in_memory.genre == from_file.genre
    assert in_memory.styles == from_file.styles and len(in_memory.timeline) == len(from_file.timeline)
    np.testing.assert_allclose(list(in_memory.probabilities.values()), list(from_file.probabilities.values()), atol=1e-4)
    with pytest.raises(ParameterError, match=r"y: expected float audio .* dtype int16"):
        predict_audio("default", (y * 32767).astype(np.int16), sr)
    channels_first = predict_audio("default", np.stack([y, y]), sr, name="mine")
    assert channels_first.probabilities == pytest.approx(in_memory.probabilities, abs=1e-6)
    quiet = predict_audio("default", np.zeros(5 * sr, dtype=np.float32), sr, name="quiet")
    assert (quiet.path, quiet.genre, quiet.unknown_reason) == ("quiet", "unknown", "silent")


def test_overlapping_chunks_count_each_moment_once():
    """``--hop 15`` with 30 s chunks: the middle of a song lay in two chunks and its ends in
    one, so the middle counted twice in the song's genre and its proportions (a song of 30 s
    classical, metal, jazz came out metal 49%, shares 0.6 metal). Each overlap now counts once,
    split at its middle between its two chunks, in the genre, the proportions and the plot's bars."""
    from genrekit.predict.song import counted_spans, summarise, unshared

    labels = ["a", "b"]
    times = [(0.0, 30.0), (15.0, 45.0), (30.0, 60.0), (45.0, 75.0), (60.0, 90.0)]
    proba = np.array([[1.0, 0.0], [0.0, 1.0], [0.0, 1.0], [0.0, 1.0], [1.0, 0.0]])
    song = summarise("song", labels, times, proba)
    # a holds [0, 22.5] and [67.5, 90]: half the song (it was 2 chunks of 5)
    assert song.proportions == pytest.approx({"a": 0.5, "b": 0.5})
    assert song.probabilities == pytest.approx({"a": 0.5, "b": 0.5})
    np.testing.assert_allclose(counted_spans(times), [[0, 22.5], [22.5, 37.5], [37.5, 52.5], [52.5, 67.5], [67.5, 90]])
    # back-to-back steps and a short last piece count whole, as before
    np.testing.assert_allclose(unshared([(0, 30), (30, 60), (60, 70)]), [1, 1, 1])
    assert summarise("song", labels, times[::2], proba[::2]).proportions == pytest.approx({"a": 2 / 3, "b": 1 / 3})
