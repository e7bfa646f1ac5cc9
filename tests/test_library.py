"""Tagging a music library: bad files recorded, SIGKILL-safe resume, genre tags in metadata."""

import json
import shutil
import signal
import subprocess
import sys
import time

import numpy as np
import pandas as pd
import pytest
import soundfile as sf
from typer.testing import CliRunner

from genrekit import audio
from genrekit.cli.main import EXIT_OK, EXIT_PARTIAL, app
from genrekit.datasets import load_gtzan
from genrekit.features import FeatureCache, FeatureSpec
from genrekit.models import save_model
from genrekit.predict.library import read_journal, tag_library
from genrekit.predict.tags import read_genre_tag, write_genre_tag
from genrekit.train import train_model

GENRES = ("classical", "metal", "reggae")
runner = CliRunner()


@pytest.fixture(scope="module")
def model_file(tmp_path_factory, gtzan_mini, feature_cache):
    """fma518 + logreg on clips 2-7 of three genres; the library below holds clips 0 and 1."""
    dataset = load_gtzan(gtzan_mini)
    dataset = dataset.select(t.track_id for t in dataset.tracks if t.label in GENRES and int(t.track_id[-5:]) >= 2)
    model = train_model(dataset, spec=FeatureSpec("fma518"), model="logreg", cache=FeatureCache(feature_cache),
                        progress=False).model
    return save_model(model, tmp_path_factory.mktemp("model") / "model.genrekit")


@pytest.fixture
def library(tmp_path, gtzan_mini, bad_files, m4a_clip):
    """Nested folders of good clips, plus a corrupted file, an empty file, text named .mp3 and an m4a."""
    root = tmp_path / "Music"
    good = []
    for genre in GENRES:
        for number in (0, 1):
            source = next((gtzan_mini / genre).glob(f"{genre}.{number:05d}.*"))
            target = root / "Artists" / genre.title() / f"Album {number}" / source.name
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(source, target)
            good.append(target)
    shutil.copy(m4a_clip, root / "Artists" / "song.m4a")
    good.append(root / "Artists" / "song.m4a")
    bad = {kind: root / "Inbox" / bad_files[kind].name for kind in ("corrupted", "empty", "text_mp3")}
    for kind, target in bad.items():
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(bad_files[kind], target)
    (root / "Inbox" / "cover.jpg").write_bytes(b"\xff\xd8 not audio, and not an audio name")
    return root, good, bad


def test_tag_records_every_good_and_every_bad_file(tmp_path, library, model_file):
    root, good, bad = library
    out = tmp_path / "tags.csv"
    result = runner.invoke(app, ["tag", str(root), "--model", str(model_file), "--out", str(out), "--jobs", "2"])
    assert result.exit_code == EXIT_PARTIAL, result.output
    table = pd.read_csv(out)
    assert sorted(table.path) == sorted(map(str, good + list(bad.values())))  # the .jpg is not a song
    done = table[table.error.isna()]
    assert sorted(done.path) == sorted(map(str, good))
    assert set(done.genre) <= set(GENRES) and np.allclose(done[[f"share_{g}" for g in GENRES]].sum(axis=1), 1.0)
    assert done.loc[done.path == str(good[-1]), "duration"].iloc[0] == pytest.approx(30.0, abs=0.1)  # the m4a
    errors = dict(zip(table.path, table.error))
    assert "empty file" in errors[str(bad["empty"])]
    assert "not audio or corrupt" in errors[str(bad["text_mp3"])] and errors[str(bad["corrupted"])]
    assert "3 failed" in result.output and "7 tagged" in result.output

    again = runner.invoke(app, ["tag", str(root), "--model", str(model_file), "--out", str(out)])
    assert "(10 done by an earlier run)" in again.output  # nothing is predicted twice
    assert pd.read_csv(out).equals(table)
    assert table.model.str.fullmatch(r"model\.genrekit@[0-9a-f]{12}").all()
    other = tmp_path / "other.genrekit"  # another model file: its results are its own
    shutil.copy(model_file, other)
    third = runner.invoke(app, ["tag", str(root), "--model", str(other), "--out", str(out), "--jobs", "2"])
    assert "(0 done by an earlier run)" in third.output and set(pd.read_csv(out).model) == {other.name + table.model[0][-13:]}


def test_tag_survives_sigkill_and_resumes(tmp_path, library, model_file):
    root, good, bad = library
    out = tmp_path / "tags.jsonl"
    journal = tmp_path / "tags.jsonl.journal.jsonl"
    command = [sys.executable, "-m", "genrekit", "tag", str(root), "--model", str(model_file), "--out", str(out),
               "--jobs", "1"]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 120
    while time.time() < deadline and (not journal.exists() or len(journal.read_text().splitlines()) < 2):
        time.sleep(0.05)
    process.send_signal(signal.SIGKILL)
    process.wait()
    finished_before = len(read_journal(journal))
    assert 2 <= finished_before < 10, "the run should have been killed midway"
    assert not out.exists()  # the table is written at the end, never half

    result = subprocess.run(command, capture_output=True, text=True)
    assert result.returncode == EXIT_PARTIAL, result.stderr
    records = [json.loads(line) for line in out.read_text().splitlines()]
    assert sorted(r["path"] for r in records) == sorted(map(str, good + list(bad.values())))  # each once
    assert len(read_journal(journal)) == 10  # done exactly once: finished files were not redone
    assert f"({finished_before} done by an earlier run)" in result.stdout


@pytest.mark.parametrize("suffix", [".mp3", ".flac", ".ogg", ".m4a"])
def test_genre_tag_round_trip_keeps_the_audio(tmp_path, clip, m4a_clip, suffix):
    path = tmp_path / f"song{suffix}"
    if suffix == ".m4a":
        shutil.copy(m4a_clip, path)
    else:
        y, sr = sf.read(clip, dtype="float32")
        sf.write(path, y[: 5 * sr], sr)
    before, _ = audio.load(path, sr=None, mono=False)
    change = write_genre_tag(path, "metal", dry_run=True)
    assert not change.written and read_genre_tag(path) is None
    change = write_genre_tag(path, "metal")
    assert change.written and change.old is None and read_genre_tag(path) == "metal"
    after, _ = audio.load(path, sr=None, mono=False)
    assert np.array_equal(before, after)  # the samples are untouched
    assert not list(tmp_path.glob(".*"))  # no temporary copy left behind


def test_write_tags_from_the_cli_and_dry_run(tmp_path, gtzan_mini, model_file):
    root = tmp_path / "Music"
    root.mkdir()
    y, sr = audio.load(next((gtzan_mini / "metal").glob("metal.00000.*")), sr=None)
    sf.write(root / "one.flac", y, sr)
    sf.write(root / "two.wav", y, sr)
    args = ["tag", str(root), "--model", str(model_file), "--write-tags", "--jobs", "1"]
    dry = runner.invoke(app, [*args, "--dry-run", "--out", str(tmp_path / "dry.csv")])
    assert dry.exit_code == EXIT_OK, dry.output
    assert "would set" in dry.output and read_genre_tag(root / "one.flac") is None
    written = runner.invoke(app, [*args, "--out", str(tmp_path / "tags.parquet")])
    assert written.exit_code == EXIT_OK, written.output
    table = pd.read_parquet(tmp_path / "tags.parquet").set_index("path")
    assert read_genre_tag(root / "one.flac") == table.loc[str(root / "one.flac"), "genre"]
    assert bool(table.loc[str(root / "one.flac"), "tag_written"])
    assert "not written to .wav" in table.loc[str(root / "two.wav"), "tag_error"]
    # Tagging changed the flac; the run recorded it as it is now, so a re-run has nothing to do.
    again = tag_library(root, model_file, tmp_path / "tags.parquet", jobs=1, progress=False)
    assert again.n_done_before == 2 and len(again.frame()) == 2
