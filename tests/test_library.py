"""Tagging a music library: bad files recorded, SIGKILL-safe resume, genre tags in metadata."""

import json
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import soundfile as sf
from typer.testing import CliRunner

from genrekit import audio
from genrekit.cli.main import EXIT_ERROR, EXIT_OK, EXIT_PARTIAL, EXIT_USAGE, app
from genrekit.datasets import load_gtzan
from genrekit.errors import ParameterError
from genrekit.features import FeatureCache, FeatureSpec
from genrekit.models import save_model
from genrekit.predict.library import read_journal, tag_genres, tag_library
from genrekit.audio.tags import read_genre_tag, write_genre_tag
from genrekit.train import train_model

GENRES = ("classical", "metal", "reggae")
runner = CliRunner()


@pytest.fixture(scope="module")
def model_file(tmp_path_factory, gtzan_mini, feature_cache):
    """fma518 + logreg on clips 2-7 of three genres; the library below holds clips 0 and 1."""
    dataset = load_gtzan(gtzan_mini)
    dataset = dataset.select(t.track_id for t in dataset.tracks if t.label in GENRES and int(t.track_id[-5:]) >= 2)
    model = train_model(dataset, spec=FeatureSpec("fma518"), model="logreg", cache=FeatureCache(feature_cache),
                        progress=False, cv=False).model  # train's k-fold CV is tested in test_interface
    return save_model(model, tmp_path_factory.mktemp("model") / "model.genrekit")


@pytest.fixture
def library(tmp_path, gtzan_mini, bad_files, m4a_clip):
    """Nested folders of good clips (10 s of each GTZAN clip, under its own name and format), plus a
    corrupted file, an empty file, text named .mp3 and an m4a (the whole 30 s clip)."""
    root = tmp_path / "Music"
    good = []
    for genre in GENRES:
        for number in (0, 1):
            source = next((gtzan_mini / genre).glob(f"{genre}.{number:05d}.*"))
            target = root / "Artists" / genre.title() / f"Album {number}" / source.name
            target.parent.mkdir(parents=True, exist_ok=True)
            y, sr = sf.read(source, dtype="float32")
            sf.write(target, y[: 10 * sr], sr)  # 10 s, in the source's format (.au or .wav, 16-bit PCM)
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
    # In this process: a pool of 2 took 8 s to start (each worker loads the model and librosa's kernels), more than
    # the 7 songs take. Workers tagging a library with a bad file: test_remote (tag --jobs 2).
    result = runner.invoke(app, ["tag", str(root), "--model", str(model_file), "--out", str(out), "--jobs", "1"])
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
    assert "3 failed" in result.output and "10 files: 7 with a genre, 3 failed" in result.output

    again = runner.invoke(app, ["tag", str(root), "--model", str(model_file), "--out", str(out), "--jobs", "1"])
    # nothing is predicted twice; the files that failed are tried again (a decoder installed since, a killed worker)
    assert "; 7 done by an earlier run," in " ".join(again.output.split()), again.output
    assert again.exit_code == EXIT_PARTIAL and "3 failed" in again.output, again.output
    inbox = runner.invoke(app, ["tag", str(root / "Inbox"), "--model", str(model_file),
                                "--out", str(tmp_path / "inbox.csv"), "--jobs", "1"])  # no pool to start (see above)
    rerun = runner.invoke(app, ["tag", str(root / "Inbox"), "--model", str(model_file),
                                "--out", str(tmp_path / "inbox.csv"),
                                "--jobs", "1"])
    assert inbox.exit_code == rerun.exit_code == EXIT_ERROR, rerun.output  # every file failed, then and now
    assert pd.read_csv(out).equals(table)
    assert table.model.str.fullmatch(r"model\.genrekit@[0-9a-f]{12}").all()
    other = tmp_path / "other.genrekit"  # another model file: its results are its own
    shutil.copy(model_file, other)
    third = runner.invoke(app, ["tag", str(root), "--model", str(other), "--out", str(out), "--jobs", "1"])
    assert "; 0 done by an earlier run," in third.output and set(pd.read_csv(out).model) == {other.name + table.model[0][-13:]}


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
    assert f"; {finished_before} done by an earlier run," in result.stdout


@pytest.mark.parametrize("suffix", [".mp3", ".flac", ".ogg", ".m4a", ".wav", ".aiff"])
def test_genre_tag_round_trip_keeps_the_audio(tmp_path, clip, m4a_clip, suffix):
    path = tmp_path / f"song{suffix}"
    if suffix == ".m4a":
        shutil.copy(m4a_clip, path)
    else:
        y, sr = sf.read(clip, dtype="float32")
        sf.write(path, y[: 5 * sr], sr)
    before, _ = audio.load(path, sr=None, mono=False)
    path.chmod(0o640)  # the write replaces the file with a copy: it keeps the file's permission bits
    change = write_genre_tag(path, "metal", dry_run=True)
    assert not change.written and read_genre_tag(path) is None
    change = write_genre_tag(path, "metal")
    assert change.written and change.old is None and read_genre_tag(path) == "metal"
    after, _ = audio.load(path, sr=None, mono=False)
    assert np.array_equal(before, after)  # the samples are untouched
    assert path.stat().st_mode & 0o777 == 0o640
    assert not list(tmp_path.glob(".*"))  # no temporary copy left behind


def test_the_genres_to_write_top_n_above_min_confidence_then_styles():
    record = {"genre": "rock", "error": None, "probabilities": {"pop": 0.25, "rock": 0.5, "jazz": 0.05, "metal": 0.2},
              "styles": {"hard rock": 0.7, "Rock": 0.6, "punk": 0.3}}
    assert tag_genres(record) == ["rock"]
    assert tag_genres(record, count=3) == ["rock", "pop", "metal"]
    assert tag_genres(record, count=3, min_confidence=0.21) == ["rock", "pop"]  # metal is below 0.21
    assert tag_genres(record, count=4) == ["rock", "pop", "metal"]  # jazz's 0.05 is under the floor of 0.2
    assert tag_genres(record, count=4, min_confidence=0.01) == ["rock", "pop", "metal", "jazz"]  # as asked
    # styles after the genres, most probable first; a name already written is not repeated (any case)
    assert tag_genres(record, count=2, styles=True) == ["rock", "pop", "hard rock", "punk"]
    hiphop = {"genre": "hiphop", "error": None, "probabilities": {"hiphop": 0.9, "pop": 0.1},
              "styles": {"hip-hop": 0.8, "Hip Hop": 0.5, "techno": 0.3}}
    assert tag_genres(hiphop, styles=True) == ["hiphop", "techno"]  # one spelling, whatever its punctuation
    assert tag_genres(record | {"styles": None}, styles=True) == ["rock"]  # a model without styles
    assert tag_genres(record | {"genre": "unknown"}, count=3, styles=True) == []  # never written
    with pytest.raises(ParameterError, match="count=0"):
        tag_genres(record, count=0)


def test_write_tags_from_the_cli_and_dry_run(tmp_path, gtzan_mini, model_file):
    root = tmp_path / "Music"
    root.mkdir()
    y, sr = audio.load(next((gtzan_mini / "metal").glob("metal.00000.*")), sr=None)
    sf.write(root / "one.flac", y, sr)
    sf.write(root / "two.wav", y, sr)
    sf.write(root / "three.au", y, sr)
    args = ["tag", str(root), "--model", str(model_file), "--write-tags", "--jobs", "1"]
    dry = runner.invoke(app, [*args, "--dry-run", "--out", str(tmp_path / "dry.csv")])
    assert dry.exit_code == EXIT_OK, dry.output
    assert "would set" in dry.output and read_genre_tag(root / "one.flac") is None
    written = runner.invoke(app, [*args, "--out", str(tmp_path / "tags.parquet")])
    assert written.exit_code == EXIT_OK, written.output
    table = pd.read_parquet(tmp_path / "tags.parquet").set_index("path")
    assert read_genre_tag(root / "one.flac") == table.loc[str(root / "one.flac"), "genre"]
    assert bool(table.loc[str(root / "one.flac"), "tag_written"])
    assert read_genre_tag(root / "two.wav") == table.loc[str(root / "two.wav"), "genre"]  # an ID3 chunk
    # a format genrekit does not tag is no failure: the run exits 0, the row says why, naming the file
    assert table.loc[str(root / "three.au"), "tag_action"] == "not taggable"
    assert table.loc[str(root / "three.au"), "tag_error"].startswith(f"{root / 'three.au'}: genre tags are not written to .au")
    assert "1 not taggable" in written.output and "three.au" not in written.stderr
    # Tagging changed the flac; the run recorded it as it is now, so a re-run has nothing to do.
    again = tag_library(root, model_file, tmp_path / "tags.parquet", n_jobs=1, progress=False)
    assert again.n_done_before == 3 and len(again.frame()) == 3


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory, gtzan_mini):
    """gtzan57 + logreg on 5 s of two clips of each of two genres: seconds to train, and
    enough to tag with when what is tested is the bookkeeping, not the genres."""
    root = tmp_path_factory.mktemp("tiny") / "genres"
    for genre in ("classical", "metal"):
        (root / genre).mkdir(parents=True)
        for number in (2, 3):
            y, sr = audio.load(next((gtzan_mini / genre).glob(f"{genre}.{number:05d}.*")), sr=None)
            sf.write(root / genre / f"{genre}.{number:05d}.wav", y[: 5 * sr], sr)
    model = train_model(load_gtzan(root), spec=FeatureSpec("gtzan57"), model="logreg", n_jobs=1, progress=False,
                        cv=False).model
    return save_model(model, root.parent / "tiny.genrekit")


@pytest.fixture
def small_library(tmp_path, gtzan_mini):
    """tmp/base/lib with two 5 s clips."""
    lib = tmp_path / "base" / "lib"
    (lib / "metal").mkdir(parents=True)
    for genre in ("classical", "metal"):
        y, sr = audio.load(next((gtzan_mini / genre).glob(f"{genre}.00000.*")), sr=None)
        sf.write(lib / ("metal" if genre == "metal" else "") / f"{genre}.wav", y[: 5 * sr], sr)
    return lib


def _same_rows(table: pd.DataFrame, first: pd.DataFrame, lib) -> None:
    """Both runs' rows for the same files, whatever path each run listed them under."""
    assert len(table) == len(first) == 2
    assert all(Path(p).is_absolute() for p in table.path)
    assert sorted(str(Path(p).relative_to(lib)) for p in table.path) == ["classical.wav", "metal/metal.wav"]
    columns = ["genre", "confidence", "model", "error"]
    pd.testing.assert_frame_equal(table.sort_values("path")[columns].reset_index(drop=True),
                                  first.sort_values("path")[columns].reset_index(drop=True))


def test_a_rerun_keeps_every_row_whatever_the_spelling_of_the_library(tmp_path, small_library, tiny_model, monkeypatch):
    lib, base = small_library, small_library.parent
    out = tmp_path / "t.csv"
    args = ["--model", str(tiny_model), "--out", str(out), "--jobs", "1"]
    result = runner.invoke(app, ["tag", str(lib), *args])
    assert result.exit_code == EXIT_OK, result.output
    first = pd.read_csv(out)
    (tmp_path / "link").symlink_to(base, target_is_directory=True)
    monkeypatch.chdir(base)
    for spelling in ("lib", "./lib", "lib/", "../base/lib", f"{lib}/", f"{tmp_path}/link/lib", f"{tmp_path}/link/lib/"):
        result = runner.invoke(app, ["tag", spelling, *args])
        assert result.exit_code == EXIT_OK, (spelling, result.output)
        assert "2 files: 2 with a genre, 0 failed; 2 done by an earlier run, 0 now" in result.output, \
            (spelling, result.output)
        table = pd.read_csv(out)
        _same_rows(table, first, lib if "link" not in spelling else tmp_path / "link" / "lib")

    # --hash: the library moved elsewhere is still done, and its rows name the files where they are now.
    out = tmp_path / "h.csv"
    args = ["--model", str(tiny_model), "--out", str(out), "--jobs", "1", "--hash"]
    assert runner.invoke(app, ["tag", "lib", *args]).exit_code == EXIT_OK
    first = pd.read_csv(out)
    moved = tmp_path / "moved"
    lib.rename(moved)
    for spelling in (str(moved), "../moved/", f"{tmp_path}/moved/."):
        result = runner.invoke(app, ["tag", spelling, *args])
        assert result.exit_code == EXIT_OK, (spelling, result.output)
        assert "2 files: 2 with a genre, 0 failed; 2 done by an earlier run, 0 now" in result.output, \
            (spelling, result.output)
        _same_rows(pd.read_csv(out), first, moved)


def test_a_rerun_with_other_analysis_options_predicts_again(tmp_path, small_library, tiny_model):
    out = tmp_path / "t.csv"
    args = ["tag", str(small_library), "--model", str(tiny_model), "--out", str(out), "--jobs", "1"]
    for options, done_before in (([], 0), ([], 2), (["--skip", "0"], 0), (["--skip", "0"], 2),
                                 (["--skip", "0", "--segment", "4"], 0), ([], 2)):
        result = runner.invoke(app, [*args, *options])
        assert result.exit_code == EXIT_OK, result.output
        counts = f"2 files: 2 with a genre, 0 failed; {done_before} done by an earlier run, {2 - done_before} now"
        assert counts in result.output, (options, result.output)
    segmented = [json.loads(line) for line in out.with_name("t.csv.journal.jsonl").read_text().splitlines()][-2:]
    assert all("|skip=0|segment=4|" in row["key"] for row in segmented)
    assert all(row["model"] == segmented[0]["model"] and "|" not in row["model"] for row in segmented)  # the model alone
    result = runner.invoke(app, [*args, "--segment", "2"])  # shorter than the features' 3 s minimum
    assert result.exit_code == EXIT_USAGE and "--segment 2: logreg describes chunks of at least 3 s" in result.output, \
        result.output


def test_dangling_links_and_link_loops_are_recorded(tmp_path, small_library, tiny_model):
    lib = small_library
    (lib / "gone.mp3").symlink_to(tmp_path / "nowhere.mp3")
    (lib / "Old Album").symlink_to(tmp_path / "unmounted" / "Old Album")  # once a folder: no extension
    (lib / "self.flac").symlink_to(lib / "self.flac")
    (lib / "a.wav").symlink_to(lib / "b.wav")
    (lib / "b.wav").symlink_to(lib / "a.wav")
    (lib / "metal" / "up").symlink_to(lib, target_is_directory=True)  # a folder cycle
    (lib / "cover.jpg").symlink_to(tmp_path / "cover.jpg")  # not a song, dangling or not: not listed
    (tmp_path / "elsewhere").mkdir()
    shutil.copy(lib / "classical.wav", tmp_path / "elsewhere" / "song.wav")
    (lib / "Linked Album").symlink_to(tmp_path / "elsewhere", target_is_directory=True)  # followed
    (lib / "Same Album").symlink_to(tmp_path / "elsewhere", target_is_directory=True)  # already walked: not again
    out = tmp_path / "t.csv"
    args = ["tag", str(lib), "--model", str(tiny_model), "--out", str(out), "--jobs", "1"]
    for run in range(2):  # recorded again by a re-run, which has nothing else to do
        result = runner.invoke(app, args)
        assert result.exit_code == EXIT_PARTIAL, result.output
        assert f"9 files: 3 with a genre, 6 failed; {3 * run} done by an earlier run, {9 - 3 * run} now" in result.output
        errors = dict(zip(pd.read_csv(out).path, pd.read_csv(out).error.fillna("")))
        assert sorted(errors) == sorted(str(lib / p) for p in (
            "classical.wav", "metal/metal.wav", "Linked Album/song.wav",
            "gone.mp3", "Old Album", "self.flac", "a.wav", "b.wav", "metal/up"))
        assert not errors[str(lib / "Linked Album" / "song.wav")] and not errors[str(lib / "classical.wav")]
        assert f"dangling symbolic link to {tmp_path / 'nowhere.mp3'}" in errors[str(lib / "gone.mp3")]
        assert "dangling symbolic link" in errors[str(lib / "Old Album")]
        for loop in ("self.flac", "a.wav", "b.wav"):
            assert "symbolic link loop" in errors[str(lib / loop)]
        assert f"symbolic link loop: leads back to {lib}" in errors[str(lib / "metal" / "up")]
        assert "dangling symbolic link" in result.output and "symbolic link loop" in result.output


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="counts processes through Linux's /proc")
def test_tag_workers_die_with_their_parent(tmp_path, gtzan_mini, tiny_model):
    root = tmp_path / "Music"
    root.mkdir()
    for path in sorted(p for genre in GENRES for p in (gtzan_mini / genre).iterdir())[:12]:
        (root / path.name).symlink_to(path)
    from conftest import kill_when

    journal = tmp_path / "t.csv.journal.jsonl"
    command = [sys.executable, "-m", "genrekit", "tag", str(root), "--model", str(tiny_model),
               "--out", str(tmp_path / "t.csv"), "--jobs", "2"]
    with open(tmp_path / "stderr.txt", "wb") as stderr:
        process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=stderr, start_new_session=True)

        def tagging(descendants: dict) -> bool:  # the workers have loaded the model and are tagging
            workers = [pid for pid, (depth, _) in descendants.items() if depth >= 2]
            return len(workers) >= 2 and journal.exists() and journal.read_text().count("\n") >= 1

        left = kill_when(process, tagging)
    assert not left, f"still running 5 s after their parent was killed: {left}; {(tmp_path / 'stderr.txt').read_text()}"


def _styles_cell(text) -> dict[str, float]:
    """A table's ``styles`` cell (``rock:0.79;hard rock:0.47``) as a dict; {} when empty."""
    return {} if pd.isna(text) or text == "" else {s: float(p) for s, p in (i.split(":") for i in text.split(";"))}


def test_the_tag_table_holds_the_styles_and_the_files_get_only_the_genre(tmp_path, gtzan_mini):
    """The default model's styles in the CSV (``name:probability;...``) and JSON lines (an
    object) tables, as the journal recorded them; --write-tags writes the genre alone."""
    import mutagen

    root = tmp_path / "Music"
    root.mkdir()
    for genre in ("metal", "jazz"):
        y, sr = audio.load(next((gtzan_mini / genre).glob(f"{genre}.00002.*")), sr=None)
        sf.write(root / f"{genre}.flac", y, sr)
    before = {p.name: dict(mutagen.File(p).tags or {}) for p in root.iterdir()}
    out = tmp_path / "tags.csv"
    result = runner.invoke(app, ["tag", str(root), "--out", str(out), "--write-tags", "--jobs", "1"])
    assert result.exit_code == EXIT_OK, result.output
    journal = {Path(r["path"]).name: r for r in read_journal(tmp_path / "tags.csv.journal.jsonl")}
    table = pd.read_csv(out).set_index("path")
    assert list(table.columns).index("styles") < list(table.columns).index("error")
    for name, record in journal.items():
        assert record["styles"], record  # the default model names the styles of both clips
        cell = _styles_cell(table.loc[str(root / name), "styles"])
        assert list(cell) == list(record["styles"])
        assert cell == pytest.approx(record["styles"], abs=1e-6)
        tags = dict(mutagen.File(root / name).tags)
        own = {k: v for k, v in tags.items() if k.startswith("genrekit_")}  # provenance, in genrekit's fields
        assert sorted(own) == ["genrekit_confidence", "genrekit_date", "genrekit_genres", "genrekit_model",
                               "genrekit_version"]
        assert own["genrekit_model"] == [record["model"]] and own["genrekit_genres"] == [record["genre"]]
        assert {k: v for k, v in tags.items() if k != "genre" and k not in own} == before[name]  # styles: table only
        assert tags["genre"] == [record["genre"]]

    jsonl = tmp_path / "tags.jsonl"
    assert runner.invoke(app, ["tag", str(root), "--out", str(jsonl), "--jobs", "1"]).exit_code == EXIT_OK
    rows = {Path(r["path"]).name: r for r in map(json.loads, jsonl.read_text().splitlines())}
    assert sorted(rows) == sorted(journal)
    for name, row in rows.items():  # the same audio (the tag write left it untouched): the same styles
        assert list(row["styles"]) == list(journal[name]["styles"])
        assert row["styles"] == pytest.approx(journal[name]["styles"], abs=1e-6)


def test_a_table_from_before_styles_resumes(tmp_path, gtzan_mini):
    """A results table and journal written before styles existed: the re-run keeps their rows
    (styles empty: never predicted again) and adds the new file's, styles and all."""
    root = tmp_path / "Music"
    root.mkdir()
    for genre in ("metal", "jazz"):
        shutil.copy(next((gtzan_mini / genre).glob(f"{genre}.00002.*")), root)
    out = tmp_path / "tags.csv"
    journal = tmp_path / "tags.csv.journal.jsonl"
    assert runner.invoke(app, ["tag", str(root), "--out", str(out), "--jobs", "1"]).exit_code == EXIT_OK
    fresh_columns = list(pd.read_csv(out).columns)
    old = [{k: v for k, v in r.items() if k != "styles"} for r in read_journal(journal)]
    journal.write_text("".join(json.dumps(r) + "\n" for r in old))
    pd.read_csv(out).drop(columns="styles").to_csv(out, index=False)  # as an older genrekit wrote it
    old_columns = list(pd.read_csv(out).columns)

    shutil.copy(next((gtzan_mini / "rock").glob("rock.00002.*")), root)
    result = runner.invoke(app, ["tag", str(root), "--out", str(out), "--jobs", "1"])
    assert result.exit_code == EXIT_OK, result.output
    assert "3 files: 3 with a genre, 0 failed; 2 done by an earlier run, 1 now" in result.output
    table = pd.read_csv(out).set_index("path")
    assert [c for c in ["path", *table.columns] if c != "styles"] == old_columns  # the old columns, in order
    assert ["path", *table.columns] == fresh_columns  # styles where a fresh table has them, old rows or not
    assert table.styles.isna().sum() == 2 and _styles_cell(table.loc[str(root / "rock.00002.wav"), "styles"])
    assert table.error.isna().all() and set(table.genre) <= {"metal", "jazz", "rock"}


def test_a_model_without_styles_leaves_them_empty(tmp_path, small_library, tiny_model):
    """gtzan57 features hold no tagger outputs: JSON lines' styles are null, the CSV's empty."""
    for suffix in (".jsonl", ".csv"):
        out = tmp_path / f"t{suffix}"
        result = runner.invoke(app, ["tag", str(small_library), "--model", str(tiny_model), "--out", str(out),
                                     "--jobs", "1"])
        assert result.exit_code == EXIT_OK, result.output
        if suffix == ".jsonl":
            rows = [json.loads(line) for line in out.read_text().splitlines()]
            assert len(rows) == 2 and all("styles" in r and r["styles"] is None for r in rows)
        else:
            table = pd.read_csv(out)
            assert "styles" in table.columns and table.styles.isna().all() and table.error.isna().all()


def test_the_runtime_profile_names_the_extra_for_writing_tags(runtime_cli, tmp_path, clip):
    """Without mutagen (the torch-free runtime), --write-tags and --undo stop before any work
    and name the extra to install, instead of failing every file quietly."""
    import subprocess
    import sys

    shutil.copy(clip, tmp_path / "song.wav")
    for arguments in (["tag", str(tmp_path), "--write-tags", "--out", str(tmp_path / "tags.csv")],
                      ["tag", "--undo", str(tmp_path / "tags.csv")]):
        result = subprocess.run([sys.executable, str(runtime_cli), *arguments], capture_output=True, text=True,
                                timeout=120)
        assert result.returncode != 0, result.stdout
        said = result.stderr + result.stdout
        assert "mutagen" in said and "pip install 'genrekit[full]'" in said, said
    assert not (tmp_path / "tags.csv").exists()


def test_a_damaged_journal_resumes_and_keeps_the_damaged_lines(tmp_path, small_library, tiny_model, caplog):
    """A journal with damaged lines (found by fuzzing: a byte that is not UTF-8 stopped every
    rerun with a UnicodeDecodeError, a record whose field name was hit with a KeyError): the
    rerun predicts again only the files whose records were lost, and every line left out, the
    torn last one too, is kept in <journal>.damaged (once) before the journal is rewritten, as
    it may hold a tag write's old values."""
    out = tmp_path / "tags.csv"
    journal = tmp_path / "tags.csv.journal.jsonl"
    assert tag_library(small_library, tiny_model, out, n_jobs=1, progress=False).n_tagged == 2
    first, second = journal.read_bytes().splitlines(keepends=True)
    record = json.loads(first)
    broken = [first, b"\xa2" + second[1:], b"[1, 2]\n", json.dumps({"path": "x.wav"}).encode() + b"\n",
              first.replace(b'"error"', b'"errkr"'),  # a flipped letter in a field's name
              json.dumps(record | {"tag": {"state": "writing", "before": None}}).encode() + b"\n",  # no fields
              b'{"path": "y']  # torn: a killed run
    journal.write_bytes(b"".join(broken))
    assert len(read_journal(journal)) == 1
    assert caplog.text.count("left out (not a whole record)") == 5 and "incomplete last line" in caplog.text
    summary = tag_library(small_library, tiny_model, out, n_jobs=1, progress=False)
    assert summary.n_tagged == 2 and len(read_journal(journal)) == 2  # the lost file predicted again
    kept = journal.with_name(journal.name + ".damaged").read_bytes().splitlines(keepends=True)
    assert kept == [*broken[1:6], broken[6] + b"\n"]  # as they were, once however often they were read
    assert len(pd.read_csv(out)) == 2


def test_tag_refuses_an_empty_library_and_a_table_of_the_users_own_before_writing_anything(tmp_path, small_library,
                                                                                             tiny_model):
    """A folder with no songs was 'tagged' with exit 0, leaving an empty table, journal and
    lock; a --out naming the user's own CSV (no tag journal beside it) was replaced by the
    results table. Both now stop by name, and nothing is written or replaced."""
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "notes.txt").write_text("no songs here")
    out = tmp_path / "tags.csv"
    result = runner.invoke(app, ["tag", str(tmp_path / "empty"), "--model", str(tiny_model), "--out", str(out)])
    assert result.exit_code == EXIT_ERROR and "empty: no audio files found" in " ".join(result.output.split())
    assert not out.exists() and not list(tmp_path.glob("tags.csv*"))
    contacts = tmp_path / "contacts.csv"
    contacts.write_text("name,phone\nalice,123\n")
    result = runner.invoke(app, ["tag", str(small_library), "--model", str(tiny_model), "--out", str(contacts)])
    message = " ".join(result.output.split())
    assert result.exit_code == EXIT_ERROR and "contacts.csv: exists, and is not a genrekit results table" in message
    assert contacts.read_text() == "name,phone\nalice,123\n"


def test_tag_says_why_a_file_is_unknown_and_does_not_count_it_as_named(tmp_path, gtzan_mini):
    """A tone (not music) and a song below --min-confidence: the summary said "3 with a genre"
    counting both unknowns, and the table could not tell the two apart (predict's outputs
    can: ``unknown_reason``)."""
    root = tmp_path / "library"
    root.mkdir()
    shutil.copy(next((gtzan_mini / "metal").iterdir()), root / "song.wav")
    sr = 16000
    sf.write(root / "tone.wav", (0.4 * np.sin(2 * np.pi * 440 * np.arange(20 * sr) / sr)).astype(np.float32), sr)
    out = tmp_path / "tags.csv"
    result = runner.invoke(app, ["tag", str(root), "--out", str(out), "--jobs", "1", "--min-confidence", "1.0"])
    assert result.exit_code == EXIT_OK, result.output
    assert "2 files: 0 with a genre, 2 unknown, 0 failed" in " ".join(result.output.split()), result.output
    reasons = dict(zip(pd.read_csv(out).path, pd.read_csv(out).unknown_reason))
    assert reasons == {str(root / "song.wav"): "below min confidence", str(root / "tone.wav"): "not music"}
    # --no-music-check names the tone's genre, predicted again without the check (as predict's option
    # does: segments heard as not music otherwise leave a song's probabilities)
    again = runner.invoke(app, ["tag", str(root), "--out", str(out), "--jobs", "1", "--no-music-check"])
    assert again.exit_code == EXIT_OK and "0 done by an earlier run, 2 now" in again.output, again.output
    assert pd.read_csv(out)["music"].isna().all() and "share_unknown" not in pd.read_csv(out)
    table = pd.read_csv(out).set_index("path")
    assert table.loc[str(root / "tone.wav"), "genre"] != "unknown" and table["unknown_reason"].isna().all()


def test_a_pipe_named_like_a_song_is_reported_not_silently_left_out(tmp_path):
    import os

    from genrekit.predict.library import _listing

    (tmp_path / "song.wav").write_bytes(b"")
    os.mkfifo(tmp_path / "live.mp3")
    (tmp_path / "linked.mp3").symlink_to(tmp_path / "live.mp3")
    files, skipped = _listing(tmp_path)
    assert list(files) == [tmp_path / "song.wav"]
    assert skipped == {tmp_path / "linked.mp3": f"{tmp_path / 'linked.mp3'}: not a regular file (a pipe), left out",
                       tmp_path / "live.mp3": f"{tmp_path / 'live.mp3'}: not a regular file (a pipe), left out"}


def test_a_journal_line_nested_past_the_parser_is_set_aside_not_a_crash(tmp_path, small_library, tiny_model, caplog):
    """``json.loads("[" * 100000)`` raises RecursionError, not ValueError: such a line in the
    journal crashed `tag` and `tag --undo`, and such a row in a JSON-lines table the undo's
    update of it (a review, 2026-12-05). It is damage, handled as any other."""
    from genrekit.errors import GenrekitError
    from genrekit.predict.library import _update_table, undo_tags

    out = tmp_path / "tags.jsonl"
    journal = tmp_path / "tags.jsonl.journal.jsonl"
    tag_library(small_library, tiny_model, out, n_jobs=1, progress=False)
    deep = b"[" * 100000 + b"\n"
    with open(journal, "ab") as handle:
        handle.write(deep)
    assert len(read_journal(journal)) == 2 and "damaged line 3 left out" in caplog.text
    assert journal.with_name(journal.name + ".damaged").read_bytes() == deep
    with open(journal, "ab") as handle:
        handle.write(deep)
    assert tag_library(small_library, tiny_model, out, n_jobs=1, progress=False).n_done_before == 2
    with open(journal, "ab") as handle:
        handle.write(deep)
    caplog.clear()
    assert undo_tags(out).files == []  # nothing written, nothing to put back; no crash
    assert caplog.text.count("damaged line") == 1, caplog.text  # said once, not by each read of the journal
    with open(out, "ab") as handle:
        handle.write(deep)
    with pytest.raises(GenrekitError, match=r"tags.jsonl: line 3 is not JSON \(maximum recursion depth"):
        _update_table(out, {})


@pytest.mark.parametrize("options, named", [({"existing": "replace"}, "existing"), ({"dry_run": True}, "dry_run"),
                                            ({"genres": 2, "styles": True}, "genres, styles")])
def test_tag_options_that_shape_writes_are_refused_without_writing(small_library, tiny_model, tmp_path, options,
                                                                   named):
    """The CLI refused --existing or --dry-run without --write-tags; tag_library ignored them,
    as if a write had been previewed (a code review, 2026-12)."""
    from genrekit.errors import ParameterError

    with pytest.raises(ParameterError, match=f"^{named}: only with write_tags=True"):
        tag_library(small_library, tiny_model, tmp_path / "tags.csv", n_jobs=1, progress=False, **options)
    assert not (tmp_path / "tags.csv").exists()


def test_a_rerun_predicts_again_a_file_that_now_decodes_otherwise_and_uses_the_cpus_it_may(tmp_path, small_library,
                                                                                          tiny_model, monkeypatch):
    """A review (2026-12-06): an MP3 without a declared length decodes whole once PyAV is
    installed (libsndfile stopped where its size suggested): a table made before kept the cut
    decode's genre, as the feature cache did not. The decoder's revision is now part of a
    file's key. The option marker of --no-music-check survives a key rebuilt after a move or
    an undo; and tag's default --jobs is the CPUs this process may use (a cpuset's), not the
    machine's, as predict's is."""
    from genrekit import runners
    from genrekit.predict import library
    from genrekit.predict.library import _analysis_prefix

    out = tmp_path / "tags.csv"
    assert tag_library(small_library, tiny_model, out, n_jobs=1, progress=False).n_done_before == 0
    assert tag_library(small_library, tiny_model, out, n_jobs=1, progress=False).n_done_before == 2
    monkeypatch.setattr(library, "decoder_revision", lambda path: "mp3-whole")
    assert tag_library(small_library, tiny_model, out, n_jobs=1, progress=False).n_done_before == 0
    assert all(key.endswith("|mp3-whole") for key in pd.read_csv(out)["key"])
    assert _analysis_prefix({"model": "m", "key": "m|skip=5|no-music-check|analysis=1|/a.mp3|1|2"}) == (
        "m|skip=5|no-music-check|analysis=1", "|/a.mp3|1|2")
    # a change to the analysis (silence became unknown, not a failure): the files are predicted again
    monkeypatch.setattr(library, "ANALYSIS_REVISION", library.ANALYSIS_REVISION + 1)
    assert tag_library(small_library, tiny_model, out, n_jobs=1, progress=False).n_done_before == 0
    assert tag_library(small_library, tiny_model, out, n_jobs=1, progress=False).n_done_before == 2
    assert all(f"|analysis={library.ANALYSIS_REVISION}|" in key for key in pd.read_csv(out)["key"])

    made = []
    monkeypatch.setattr(runners, "default_jobs", lambda: 1)
    monkeypatch.setattr(runners.LocalRunner, "__init__", lambda self, n_jobs, **kw: made.append(n_jobs) or
                        setattr(self, "n_jobs", n_jobs) or setattr(self, "preload", None) or setattr(self, "owner", None))
    monkeypatch.setattr(runners.LocalRunner, "map", lambda self, *a, **kw: iter(()))
    tag_library(small_library, tiny_model, tmp_path / "other.csv", progress=False)
    assert made == [1]


def test_a_second_library_tagged_into_one_table_is_said_not_silent(tmp_path, small_library, tiny_model, caplog):
    """The table lists the library tagged now: a first library's rows went without a word when a
    second was tagged with the same --out (a review, 2026-12-07). Said; their records stay in
    the journal."""
    import logging

    from genrekit.predict.library import tag_library

    other = tmp_path / "other"
    other.mkdir()
    shutil.copy(small_library / "classical.wav", other / "song.wav")
    out = tmp_path / "tags.csv"
    tag_library(small_library, tiny_model, out, n_jobs=1, progress=False)
    with caplog.at_level(logging.WARNING, logger="genrekit"):
        tag_library(other, tiny_model, out, n_jobs=1, progress=False)
    assert list(pd.read_csv(out).path) == [str(other / "song.wav")]
    assert f"its journal holds 2 file(s) outside {other}" in caplog.text
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="genrekit"):  # its own library again: nothing to say
        tag_library(other, tiny_model, tmp_path / "own.csv", n_jobs=1, progress=False)
    assert "outside" not in caplog.text
