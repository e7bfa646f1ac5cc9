import os
import shutil
from dataclasses import replace
from pathlib import Path
from collections import Counter

import numpy as np
import pandas as pd
import pytest
import soundfile as sf

from genrekit.datasets import (
    check_dataset,
    gtzan_filtered_ids,
    gtzan_filtered_split,
    kfold_splits,
    load_dataset,
    load_fma,
    load_folder,
    load_gtzan,
    load_manifest,
    read_feature_table,
    train_val_test_split,
)
from genrekit.errors import DatasetError, ParameterError


def test_gtzan_layout(gtzan_mini):
    dataset = load_dataset(gtzan_mini.parent)
    assert dataset.name == "gtzan" and len(dataset) == 80 and not dataset.problems
    assert dataset.labels == sorted(dataset.labels) and len(dataset.labels) == 10
    assert Counter(t.label for t in dataset.tracks) == {label: 8 for label in dataset.labels}
    assert dataset.tracks[0].track_id == "blues.00000"


def _mini_copy(gtzan_mini, root, genres=("blues", "jazz", "rock"), per_genre=3):
    for genre in genres:
        (root / genre).mkdir(parents=True)
        for path in sorted((gtzan_mini / genre).iterdir())[:per_genre]:
            shutil.copy(path, root / genre / path.name)
    return root


def test_gtzan_kaggle_layout_and_problems(tmp_path, gtzan_mini, caplog):
    root = _mini_copy(gtzan_mini, tmp_path / "Data" / "genres_original")
    (root / "polka").mkdir()
    shutil.copy(gtzan_mini / "pop" / "pop.00001.wav", root / "polka" / "polka.00000.wav")
    shutil.copy(gtzan_mini / "pop" / "pop.00002.wav", root / "jazz" / "pop.00002.wav")
    dataset = load_dataset(tmp_path)
    assert dataset.name == "gtzan" and len(dataset) == 9
    reasons = {p.path.split("/")[-1]: p.reason for p in dataset.problems}
    assert "unknown genre folder 'polka'" in reasons["polka"] and "--kind folder, or kind='folder'" in reasons["polka"]
    # a user's own genre beside GTZAN's clips is said, not only listed, and reads with kind='folder'
    assert len(load_dataset(root, kind="folder").labels) == 4
    assert "named for genre 'pop' inside folder 'jazz'" in reasons["pop.00002.wav"]
    assert "read as GTZAN (most of its files are GTZAN clips); 1 folder(s) or file(s) of other names" in caplog.text
    (root / "metal").mkdir()  # an empty genre folder: a note, as in a folder dataset (a review, 2026-12-07: unsaid)
    assert {p.reason for p in load_dataset(tmp_path).problems if p.path.endswith("metal")} == {
        "genre folder contains no audio files"}


def test_gtzan_clips_sorted_into_folders_of_other_names_are_a_folder_dataset(tmp_path, gtzan_mini):
    """GTZAN's clips in folders named otherwise (Jazz/, Rock/) are labelled by those folders:
    read as GTZAN (their file names said so), every clip was refused and the command stopped
    with 'no GTZAN clips found'."""
    for folder, genre in (("Jazz", "jazz"), ("Rock", "rock")):
        (tmp_path / folder).mkdir()
        for clip in sorted((gtzan_mini / genre).iterdir())[:3]:
            shutil.copy(clip, tmp_path / folder / clip.name)
    dataset = load_dataset(tmp_path)
    assert dataset.name != "gtzan" and len(dataset) == 6
    assert sorted({t.label for t in dataset.tracks}) == ["Jazz", "Rock"]


def test_folder_per_genre(tmp_path, gtzan_mini):
    root = _mini_copy(gtzan_mini, tmp_path / "lib")
    (root / "jazz" / "live").mkdir()
    shutil.copy(gtzan_mini / "jazz" / "jazz.00005.wav", root / "jazz" / "live" / "set1.wav")
    (root / "jazz" / "cover.jpg").write_bytes(b"\xff\xd8")
    (root / "empty-genre").mkdir()
    shutil.copy(gtzan_mini / "pop" / "pop.00001.wav", root / "loose.wav")
    dataset = load_folder(root)
    assert len(dataset) == 10 and dataset.labels == ["blues", "jazz", "rock"]
    assert any(t.track_id == "jazz/live/set1" for t in dataset.tracks)
    reasons = sorted(p.reason for p in dataset.problems)
    assert reasons == ["audio file outside any genre folder; not labelled", "genre folder contains no audio files"]
    with pytest.raises(DatasetError, match="expected a folder of genre folders"):
        load_folder(root / "loose.wav")
    # the same song in two formats: two tracks, told apart (one id would tie them in splits and exclusion)
    y, sr = sf.read(root / "jazz" / "live" / "set1.wav")
    sf.write(root / "jazz" / "live" / "set1.flac", y, sr)
    ids = sorted(t.track_id for t in load_folder(root).tracks if "live" in t.track_id)
    assert ids == ["jazz/live/set1.flac", "jazz/live/set1.wav"]


def test_manifest(tmp_path, gtzan_mini, monkeypatch):
    shutil.copy(gtzan_mini / "jazz" / "jazz.00001.wav", tmp_path / "a.wav")
    shutil.copy(gtzan_mini / "rock" / "rock.00001.wav", tmp_path / "b.wav")
    shutil.copy(gtzan_mini / "rock" / "rock.00003.wav", tmp_path / "d.wav")
    manifest = tmp_path / "songs.csv"
    manifest.write_text(
        "path,label,artist,split\n"
        "a.wav,jazz,Ann,train\n"
        f"{tmp_path / 'b.wav'},rock,Bob,test\n"
        "missing.wav,rock,Bob,train\n"
        "a.wav,,Ann,train\n"
        "d.wav,rock,Bob,holdout\n"
    )
    dataset = load_manifest(manifest)
    assert [(t.label, t.artist, t.split) for t in dataset.tracks] == [
        ("jazz", "Ann", "train"), ("rock", "Bob", "test"), ("rock", "Bob", None)]  # a split word not known: no split
    reasons = " | ".join(p.reason for p in dataset.problems)
    assert "songs.csv:4 but not found" in reasons and "empty label" in reasons
    assert "split 'holdout' at " + f"{manifest}:6: expected one of train, val, test; kept without a split" in reasons
    assert dataset.groups == ["artist:Ann", "artist:Bob", "artist:Bob"]
    # one file under other spellings, reported by line and left out; durations that are not seconds
    (tmp_path / "sub").mkdir()
    shutil.copy(gtzan_mini / "rock" / "rock.00002.wav", tmp_path / "c.wav")
    again = tmp_path / "again.csv"
    again.write_text("path,label,duration\n"
                     "a.wav,jazz,30\n"
                     "sub/../a.wav,jazz,\n"
                     f"{tmp_path / 'a.wav'},jazz,\n"
                     "b.wav,rock,about 30 s\n"
                     "c.wav,rock,-3\n")
    shutil.copy(tmp_path / "a.wav", tmp_path / "a.flac")
    with again.open("a") as handle:
        handle.write("a.flac,jazz,\n")  # the same song in another format: a track of its own
        handle.write("a.wav,jazz,30\n")  # a row repeated whole: the file listed again, not just its id
    dataset = load_manifest(again)
    # a duration that is no number of seconds is ignored, the track kept (the file's own length is read)
    assert [(t.track_id, t.duration) for t in dataset.tracks] == [("a", 30.0), ("b", None), ("c", None),
                                                                  ("a.flac", None)]
    reasons = [p.reason for p in dataset.problems]
    assert reasons[:2] == ["listed again at " + f"{again}:{line} (first as track 'a')" for line in (3, 4)]
    ignored = "expected a number of seconds > 0, or nothing; ignored (the file's own length is read)"
    assert reasons[2:] == [f"duration 'about 30 s' at {again}:5: {ignored}", f"duration '-3' at {again}:6: {ignored}",
                           f"listed again at {again}:8 (first as track 'a')"]
    assert [p.left_out for p in dataset.problems] == [True, True, False, False, True]
    bad = tmp_path / "bad.csv"
    bad.write_text("file,genre\na.wav,jazz\n")
    with pytest.raises(DatasetError, match=r"bad\.csv: manifest lacks column\(s\) path, label"):
        load_manifest(bad)
    # rows a fuzzer found (a ValueError escaped): a path without a name, a URL without a path
    # and a NUL character are reported, and the other rows load
    odd = tmp_path / "odd.csv"
    odd.write_bytes(b"path,label\n.,rock\n/,jazz\nhttp://,pop\nnul\0.wav,rock\n" + b"x" * 300 + b".wav,rock\n"
                    b"a.wav,jazz\n")  # and a name too long for the file system (OSError)
    dataset = load_manifest(odd)
    assert [t.track_id for t in dataset.tracks] == ["a"]
    reasons = [p.reason for p in dataset.problems]
    assert reasons[-2] == "a NUL character in the path" and reasons[-1].endswith(":6 but not found")
    assert len(reasons) == 5
    # a manifest's URL may not send the user's signed requests to another host or in clear text
    shared = tmp_path / "shared.csv"
    shared.write_text("path,label\ns3://music/a.mp3?endpoint_override=evil.example:9000&scheme=http,rock\n"
                      "s3://music/b.mp3?region=eu-west-1,jazz\n")
    dataset = load_manifest(shared)
    assert [t.track_id for t in dataset.tracks] == ["music/b"]
    assert [p.reason for p in dataset.problems] == [
        "URL option(s) endpoint_override, scheme: a manifest may not send requests elsewhere (set AWS_ENDPOINT_URL, "
        "or give the URL on the command line); allowed: region"]
    # nor name a filesystem whose host is its own choice: an abfs row had pyarrow fetch an Azure token for
    # 127.0.0.1:18443 and connect there, and abort the process (a security review, 2026-12)
    hosts = tmp_path / "hosts.csv"
    hosts.write_text("path,label\nabfs://acct@127.0.0.1:18443/cont/evil.wav,rock\nABFSS://acct@evil.example/c/x.wav,"
                     "rock\nhdfs://evil.example:8020/x.wav,rock\ns3://user@evil.example:9000/b/x.wav,rock\n"
                     "gs://bucket:443/x.wav,rock\ns3://music/c.mp3,jazz\n")
    dataset = load_manifest(hosts)
    assert [t.track_id for t in dataset.tracks] == ["music/c"]
    reasons = [p.reason for p in dataset.problems]
    assert len(reasons) == 5
    assert reasons[0].startswith("an abfs:// URL names its own host, which would be sent your credentials; a manifest "
                                 "may list only file://, gcs://, gs://, s3:// URLs")
    assert reasons[1].startswith("an abfss:// URL") and reasons[2].startswith("an hdfs:// URL")
    assert reasons[3].startswith("'user@evil.example:9000' is no bucket name") and "'bucket:443'" in reasons[4]
    assert "GENREKIT_MANIFEST_SCHEMES=hdfs, for manifests you trust" in reasons[2]
    monkeypatch.setenv("GENREKIT_MANIFEST_SCHEMES", "hdfs")  # one's own cluster, named
    assert [t.track_id for t in load_manifest(hosts).tracks] == ["evil.example:8020/x", "music/c"]
    # a scheme nothing here reads: trusting it would not help (it was suggested, 2026-12-07)
    (tmp_path / "web.csv").write_text("path,label\nhttps://example.com/a.mp3,rock\nftp://example.com/b.mp3,rock\n"
                                      "s3://music/c.mp3,jazz\n")
    monkeypatch.setenv("GENREKIT_MANIFEST_SCHEMES", "https")
    assert [p.reason for p in load_manifest(tmp_path / "web.csv").problems] == [
        f"genrekit reads no {scheme}:// URLs: download the file and list its path (a manifest may list file://, "
        "gcs://, gs://, s3:// URLs, and abfs://, abfss://, hdfs://, viewfs:// ones where GENREKIT_MANIFEST_SCHEMES "
        "names the scheme)" for scheme in ("https", "ftp")]
    # one object under other spellings of its URL: listed again, not a second track on the other side of a split
    (tmp_path / "urls.csv").write_text("path,label\ns3://music/a.mp3,rock\ns3://music/a.mp3?region=eu-west-1,rock\n"
                                       "S3://music/a.mp3,rock\ns3://music/A.mp3,rock\ns3://Music/a.mp3,rock\n")
    dataset = load_manifest(tmp_path / "urls.csv")
    assert [t.path for t in dataset.tracks] == ["s3://music/a.mp3", "s3://music/A.mp3", "s3://Music/a.mp3"]  # keys
    # and buckets keep their case (S3 buckets made before 2018 may have capitals)
    assert [p.reason for p in dataset.problems] == [
        f"listed again at {tmp_path / 'urls.csv'}:{line} (first as track 'music/a')" for line in (3, 4)]
    # a file:// URL of this machine is its file (an audit, 2026-12-06: a track of its own, which a split
    # put on the other side from the same file's row)
    (tmp_path / "local.csv").write_text(f"path,label\na.wav,jazz\nfile://{tmp_path / 'a.wav'},jazz\n"
                                        f"file://localhost{tmp_path / 'c.wav'},rock\n")
    dataset = load_manifest(tmp_path / "local.csv")
    assert [t.track_id for t in dataset.tracks] == ["a", "c"]
    assert [p.reason for p in dataset.problems] == [f"listed again at {tmp_path / 'local.csv'}:3 (first as track 'a')"]
    # a loop of links is a row's problem (pathlib raised a RuntimeError out of the loader)
    (tmp_path / "loop.wav").symlink_to(tmp_path / "loop.wav")
    looped = tmp_path / "looped.csv"
    looped.write_text("path,label\nloop.wav,rock\na.wav,jazz\n")
    dataset = load_manifest(looped)
    assert [t.track_id for t in dataset.tracks] == ["a"]
    assert [p.reason for p in dataset.problems][0].startswith(f"listed at {looped}:2: cannot be resolved")


def test_manifests_as_spreadsheets_and_other_systems_write_them(tmp_path, gtzan_mini):
    """A header "Path, Label", cells split by semicolons (a spreadsheet's CSV in many
    languages) or tabs, FMA's split words, a space after a comma, a Windows manifest's
    backslashes: each was refused or dropped its rows."""
    (tmp_path / "music" / "rock").mkdir(parents=True)
    for clip, name in zip(sorted((gtzan_mini / "rock").iterdir()), ("a", "b", "c")):
        shutil.copy(clip, tmp_path / "music" / "rock" / f"{name}.wav")
    expected = [("music/rock/a", "rock", "train"), ("music/rock/b", "rock", "val"), ("music/rock/c", "rock", "test")]
    layouts = {
        "spaced.csv": "Path, Label, Split\nmusic/rock/a.wav, rock, Training\nmusic/rock/b.wav, rock, validation\n"
                      "music/rock/c.wav ,rock,TEST\n",
        "semicolons.csv": "path;label;split\nmusic/rock/a.wav;rock;train\nmusic/rock/b.wav;rock;valid\n"
                          "music/rock/c.wav;rock;testing\n",
        "tabs.tsv": "PATH\tLABEL\tSPLIT\nmusic/rock/a.wav\trock\ttrain\nmusic/rock/b.wav\trock\tdev\n"
                    "music/rock/c.wav\trock\ttest\n",
        "windows.csv": "path,label,split\nmusic\\rock\\a.wav,rock,train\nmusic\\rock\\b.wav,rock,val\n"
                       "music/rock/c.wav,rock,test\n",
    }
    for name, text in layouts.items():
        (tmp_path / name).write_text(text)
        dataset = load_manifest(tmp_path / name)
        found = [(t.track_id.replace("\\", "/"), t.label, t.split) for t in dataset.tracks]
        assert found == expected and not dataset.problems, name
        assert all(Path(t.path).is_file() for t in dataset.tracks)
    shutil.copy(tmp_path / "music" / "rock" / "a.wav", tmp_path / "music" / "rock" / "Song, Pt. 2.wav")
    (tmp_path / "comma.csv").write_text("path;label\nmusic/rock/a.wav;rock\nmusic/rock/Song, Pt. 2.wav;rock\n")
    assert [t.track_id for t in load_manifest(tmp_path / "comma.csv").tracks] == ["music/rock/a", "music/rock/Song, Pt. 2"]
    (tmp_path / "odd.csv").write_text("path,label\nmusic/rock,rock\nC:\\Music\\x.wav,rock\nmusic/rock/a.wav,rock\n")
    reasons = [p.reason for p in load_manifest(tmp_path / "odd.csv").problems]
    assert reasons[0] == f"listed at {tmp_path / 'odd.csv'}:2 is a folder; expected an audio file"
    assert reasons[1].endswith("but not found (its \\ are Windows' separators: a relative path with them was tried "
                               "with / too)")
    # a row's line as the file has it, past blank lines and a quoted cell over lines (one per row was assumed)
    (tmp_path / "lines.csv").write_text('path,label,notes\nmusic/rock/a.wav,rock,"A\nB"\n\n\nmusic/gone.wav,rock,C\n')
    assert [p.reason for p in load_manifest(tmp_path / "lines.csv").problems] == [
        f"listed at {tmp_path / 'lines.csv'}:6 but not found"]
    # UTF-16 without a byte-order mark: its NULs were named as the columns found
    (tmp_path / "u16.csv").write_bytes("path,label\nmusic/rock/a.wav,rock\n".encode("utf-16-be"))
    with pytest.raises(DatasetError, match=r"u16.csv: expected UTF-8 text, found UTF-16 \(NUL bytes"):
        load_manifest(tmp_path / "u16.csv")
    # a track id or an artist is checked as a genre is: an escape sequence, a right-to-left override, 1 MB
    (tmp_path / "text.csv").write_text("path,label,artist,track_id\nmusic/rock/a.wav,rock,\u202eX,\n"
                                       f"music/rock/a.wav,rock,,{'x' * 2000}\nmusic/rock/a.wav,rock,A,a1\n")
    found = load_manifest(tmp_path / "text.csv")
    assert [t.track_id for t in found.tracks] == ["a1"]
    assert [p.reason.split(": ", 1)[0] for p in found.problems] == [f"artist at {tmp_path / 'text.csv'}:2",
                                                                    f"track_id at {tmp_path / 'text.csv'}:3"]
    (tmp_path / "twice.csv").write_text("path,label,Label\nmusic/rock/a.wav,rock,jazz\n")
    with pytest.raises(DatasetError, match=r"twice\.csv: column\(s\) label named twice \(in any case\)"):
        load_manifest(tmp_path / "twice.csv")
    # spelt alike, pandas reads the second as label.1, and it was passed over (2026-12-07)
    (tmp_path / "twice.csv").write_text("path,label,artist,label,label\nmusic/rock/a.wav,rock,x,jazz,pop\n")
    with pytest.raises(DatasetError, match=r"label named twice \(in any case\); expected each once, found "
                                           r"path,label,artist,label,label$"):
        load_manifest(tmp_path / "twice.csv")
    (tmp_path / "songs.json").write_text('[{"path": "music/rock/a.wav", "label": "rock"}]')
    with pytest.raises(DatasetError, match=r"songs\.json: expected a CSV manifest \(path,label\[,artist\]\[,split\]\), "
                                           r"found a JSON file"):
        load_manifest(tmp_path / "songs.json")


def test_damaged_manifests_and_tables_load_or_are_refused(tmp_path, gtzan_mini, feature_table):
    """Seeded random damage to a manifest and to a feature table: each loads (the rows it can
    use, the others reported) or is refused with a DatasetError; never another exception.
    Fuzzing found a ValueError escaping for a path without a name and for a NUL character."""
    from conftest import damaged

    songs = sorted(gtzan_mini.glob("*/*.*"))[:4]
    manifest = "path,label,artist,track_id,split,duration\n" + "".join(
        f"{song},{song.parent.name},Artist {i},t{i},{('train', 'test')[i % 2]},30\n" for i, song in enumerate(songs))
    table = "".join(feature_table.read_text().splitlines(keepends=True)[:6])
    for name, reader, text in (("songs.csv", load_manifest, manifest), ("features.csv", read_feature_table, table)):
        loaded = 0
        for data in damaged(text.encode(), 150, seed=1201):
            (tmp_path / name).write_bytes(data)
            try:
                reader(tmp_path / name)
            except DatasetError:
                continue
            loaded += 1
        # some damage to a manifest is harmless (the rows it can use are loaded, the others reported);
        # a feature table's damage lands in its numbers, and a number column with a bad cell is refused
        # (it was left out without a word before 2026-12-02)
        assert (0 < loaded < 150) if name == "songs.csv" else loaded < 150, name


def _write_fma(root, clip, genres_csv):
    """A tiny FMA copy in FMA's exact formats: tracks.csv with two header rows, NNN/NNNNNN.mp3."""
    columns = pd.MultiIndex.from_tuples([
        ("album", "title"), ("artist", "name"), ("set", "split"), ("set", "subset"),
        ("track", "duration"), ("track", "genre_top"), ("track", "title"),
    ])
    rows = {
        2: ["AWOL", "AWOL", "training", "small", 168, "Hip-Hop", "Food"],
        5: ["AWOL", "AWOL", "validation", "small", 206, "Hip-Hop", "This World"],
        10: ["Constant Hitmaker", "Kurt Vile", "test", "small", 161, "Pop", "Freeway"],
        20: ["Niris", "Nicky Cook", "training", "medium", 311, "Experimental", "Spiritual Level"],
        26: ["Niris", "Nicky Cook", "training", "large", 181, np.nan, "Where is your Love?"],
        30: ["Ghost", "Nobody", "training", "small", 100, "Pop", "Missing audio"],
    }
    tracks = pd.DataFrame.from_dict(rows, orient="index", columns=columns)
    tracks.index.name = "track_id"
    (root / "fma_metadata").mkdir(parents=True)
    tracks.to_csv(root / "fma_metadata" / "tracks.csv")
    shutil.copy(genres_csv, root / "fma_metadata" / "genres.csv")
    import soundfile as sf

    y, sr = sf.read(clip)
    for size in ("small", "medium", "large"):
        for tid in (2, 5, 10, 20, 26):
            path = root / f"fma_{size}" / f"{tid:06d}"[:3] / f"{tid:06d}.mp3"
            path.parent.mkdir(parents=True, exist_ok=True)
            sf.write(path, y[: sr * 4], sr, format="MP3")


def test_fma(tmp_path, clip, fma_genres):
    _write_fma(tmp_path, clip, fma_genres)
    assert (tmp_path / "fma_metadata" / "tracks.csv").read_text().splitlines()[2].startswith("track_id,")
    small = load_dataset(tmp_path)
    assert small.name == "fma_small"
    assert [(t.track_id, t.label, t.split, t.artist) for t in small.tracks] == [
        ("2", "Hip-Hop", "train", "AWOL"), ("5", "Hip-Hop", "val", "AWOL"), ("10", "Pop", "test", "Kurt Vile")]
    assert small.tracks[0].path.endswith("fma_small/000/000002.mp3")
    assert any("track 30" in p.reason and "audio is missing" in p.reason for p in small.problems)
    medium = load_fma(tmp_path, subset="medium")
    assert [t.track_id for t in medium.tracks] == ["2", "5", "10", "20"]
    large = load_fma(tmp_path, subset="large")
    assert any("track 26 has no top genre" in p.reason for p in large.problems)
    assert "26" not in {t.track_id for t in large.tracks}
    with pytest.raises(DatasetError, match="subset='tiny'"):
        load_fma(tmp_path, subset="tiny")
    shutil.rmtree(tmp_path / "fma_small")  # only the medium and large audio: the first present is read
    assert [t.track_id for t in load_dataset(tmp_path).tracks] == ["2", "5", "10", "20"]
    assert [t.track_id for t in load_dataset(tmp_path, fma_subset="medium").tracks] == ["2", "5", "10", "20"]
    with pytest.raises(DatasetError, match=r"fma_subset='small' is for FMA, and this dataset is read as 'manifest'"):
        load_dataset(tmp_path / "fma_metadata" / "tracks.csv", fma_subset="small")
    tracks_csv = tmp_path / "fma_metadata" / "tracks.csv"  # a hostile id: a problem named, no path made of it
    with open(tracks_csv, "a") as handle:
        handle.write("../../etc,x,y,training,small,100,Pop,z\n-4,x,y,training,small,100,Pop,z\n")
    medium = load_fma(tmp_path, subset="medium")
    assert [t.track_id for t in medium.tracks] == ["2", "5", "10", "20"]
    assert {p.reason for p in medium.problems if p.path == str(tracks_csv)} == {
        "track id '../../etc' is not a whole number >= 0; left out", "track id '-4' is not a whole number >= 0; left out"}
    # a repeated id (one file, two labels and splits), a duration that is no number, a root genre without a title
    with open(tracks_csv, "a") as handle:
        handle.write("2,x,y,test,small,100,Pop,again\n")
    lines = tracks_csv.read_text().splitlines()
    tracks_csv.write_text("\n".join(line.replace(",168,", ",abc,") for line in lines) + "\n")
    genres = pd.read_csv(tmp_path / "fma_metadata" / "genres.csv")
    pd.concat([genres, pd.DataFrame([{"genre_id": 9999, "#tracks": 0, "parent": 0, "title": None,
                                      "top_level": 9999}])]).to_csv(tmp_path / "fma_metadata" / "genres.csv", index=False)
    medium = load_fma(tmp_path, subset="medium")
    assert [(t.track_id, t.label, t.split, t.duration) for t in medium.tracks][0] == ("2", "Hip-Hop", "train", None)
    assert "track 2 repeats track 2's file; left out" in {p.reason for p in medium.problems}
    # a review (2026-12-07): an id that made the column floats renamed every track "2.0"; a row cut
    # short, or a subset spelled "Small", was left out unsaid; one damaged row of genres.csv refused
    # every track as "not a top-level genre"
    with open(tracks_csv, "a") as handle:
        handle.write("7.5,x,y,training,small,100,Pop,z\n40,Zed,te\n41,x,y,training,Small,100,Pop,z\n")
    medium = load_fma(tmp_path, subset="medium")
    assert [t.track_id for t in medium.tracks] == ["2", "5", "10", "20"]
    reasons = {p.reason for p in medium.problems}
    assert {"track 40: subset nan is none of small, medium, large (a row cut short, or edited); left out",
            "track 41: subset 'Small' is none of small, medium, large (a row cut short, or edited); left out",
            } <= reasons
    with open(tmp_path / "fma_metadata" / "genres.csv", "a") as handle:
        handle.write("99999,0,root?,Noise,99999\n")
    with pytest.raises(DatasetError, match=r"genres.csv: genre_id 99999's parent is 'root\?'; expected a genre id"):
        load_fma(tmp_path, subset="medium")


def test_fmas_audio_folder_is_not_read_as_numbered_genres(tmp_path, clip, fma_genres, monkeypatch):
    """Given fma_small/ itself, the loader read its folders 000, 001... as 156 genres; and no
    command could reach the medium subset where the small one was there too."""
    _write_fma(tmp_path, clip, fma_genres)
    small, medium = load_dataset(tmp_path / "fma_small"), load_dataset(tmp_path / "fma_medium")
    assert (small.name, [t.track_id for t in small.tracks]) == ("fma_small", ["2", "5", "10"])
    assert (medium.name, [t.track_id for t in medium.tracks]) == ("fma_medium", ["2", "5", "10", "20"])
    (tmp_path / "fma_small" / "__MACOSX").mkdir()  # unzipped on a Mac; and "." given from inside the folder
    monkeypatch.chdir(tmp_path / "fma_small")
    assert [t.track_id for t in load_dataset(".").tracks] == ["2", "5", "10"]
    monkeypatch.chdir(tmp_path)
    assert medium.tracks[0].path == str(tmp_path / "fma_medium" / "000" / "000002.mp3")
    (tmp_path / "fma_medium").rename(tmp_path / "fma_full")  # FMA's untrimmed audio: every track
    full = load_dataset(tmp_path / "fma_full")
    assert full.name == "fma_full" and [t.track_id for t in full.tracks] == ["2", "5", "10", "20"]
    assert any("track 26 has no top genre" in p.reason for p in full.problems)
    shutil.rmtree(tmp_path / "fma_small" / "__MACOSX")
    assert len(load_dataset(tmp_path / "fma_small", kind="folder")) == 5  # asked for by name: as asked
    alone = tmp_path / "elsewhere" / "fma_small"
    shutil.copytree(tmp_path / "fma_small", alone)
    with pytest.raises(DatasetError, match=r"fma_small: FMA's audio folder \(NNN/NNNNNN.mp3\), whose folder names "
                                           r"are numbers, not genres; .* put fma_metadata/ beside it"):
        load_dataset(alone)
    for name in ("fma_small", "fma_medium", "fma_large"):  # FMA's untrimmed audio only: named, not "48 problems"
        shutil.rmtree(tmp_path / name, ignore_errors=True)
    with pytest.raises(DatasetError, match=r"no usable FMA small tracks \(\d+ problems\): its audio folder "
                                           r".*fma_small is not there \(found: fma_full; give one of them itself, e\.g\. .*fma_full\)"):
        load_dataset(tmp_path)


def test_appledouble_twins_and_dangling_links_in_a_gtzan_copy(tmp_path, gtzan_mini):
    """A GTZAN copy carried on a Mac's exFAT drive has a ._ twin of every clip: they counted as
    non-GTZAN audio, so one clip deleted made it a folder dataset of one genre, "genres". A link
    to an unmounted drive was dropped without a word."""
    root = _mini_copy(gtzan_mini, tmp_path / "genres")
    for clip in list(root.glob("*/*")):
        (clip.parent / f"._{clip.name}").write_bytes(b"\0\5\26\7" + bytes(80))
    (root / "__MACOSX").mkdir()
    (root / "__MACOSX" / "._jazz").write_bytes(bytes(82))
    min(p for p in (root / "rock").iterdir() if not p.name.startswith(".")).unlink()  # its ._ twin stays
    (root / "jazz" / "jazz.00042.wav").symlink_to(tmp_path / "unmounted" / "jazz.00042.wav")
    dataset = load_dataset(tmp_path)
    assert dataset.name == "gtzan" and len(dataset) == 8 and dataset.tracks[0].track_id == "blues.00000"
    assert [p.reason for p in dataset.problems] == [
        f"dangling link to {tmp_path / 'unmounted' / 'jazz.00042.wav'} (or a loop of links); left out"]
    as_folders = load_dataset(root, kind="folder")
    assert as_folders.labels == ["blues", "jazz", "rock"]  # __MACOSX is no genre
    assert [p.path for p in as_folders.problems] == [str(root / "jazz" / "jazz.00042.wav")]


def test_split_is_stratified_grouped_and_seeded():
    labels = np.repeat(["a", "b", "c", "d"], 25)
    groups = np.array([f"artist{i // 3}" for i in range(100)])
    parts = train_val_test_split(labels, groups, seed=3)
    assert np.array_equal(parts, train_val_test_split(labels, groups, seed=3))
    assert not np.array_equal(parts, train_val_test_split(labels, groups, seed=4))
    assert train_val_test_split([], [], seed=3).shape == (0,)  # nothing to split: an IndexError before
    for a in ("train", "val", "test"):
        for b in ("train", "val", "test"):
            if a < b:
                assert not set(groups[parts == a]) & set(groups[parts == b])
    counts = Counter(parts)
    assert 70 <= counts["train"] <= 90 and 5 <= counts["val"] <= 15 and 5 <= counts["test"] <= 15
    for label in "abcd":
        assert (parts[labels == label] == "test").sum() >= 1
    with pytest.raises(ParameterError, match="sizes="):
        train_val_test_split(labels, groups, sizes=(0.5, 0.1, 0.1))


def test_a_small_genre_split_by_artist_keeps_tracks_to_train_on():
    """5 tracks by three artists (2, 2 and 1): a share of 1 for test and 1 for validation. A
    2-track artist overshoots the share by as much as taking none falls short, and ties went to
    the held-out parts: for 57 of 200 seeds the genre had 1 of its 5 tracks to train on."""
    labels = ["rock"] * 5 + ["jazz"] * 10
    groups = ["a", "a", "b", "b", "c"] + [f"j{i}" for i in range(10)]
    for seed in range(50):
        rock = train_val_test_split(labels, groups, seed=seed)[:5]
        assert (rock == "train").sum() >= 2 and (rock == "test").sum() == 1, (seed, rock)


def test_kfold_by_track(gtzan_mini):
    dataset = load_gtzan(gtzan_mini)
    labels = [t.label for t in dataset.tracks]
    folds = kfold_splits(labels, dataset.groups, n_splits=4, seed=0)
    seen = np.concatenate([test for _, test in folds])
    assert sorted(seen) == list(range(80))
    for train, test in folds:
        assert Counter(np.array(labels)[test]) == {label: 2 for label in dataset.labels}


@pytest.mark.parametrize(("n", "expected"), [(5, (3, 1, 1)), (8, (6, 1, 1)), (15, (11, 2, 2)), (45, (35, 5, 5)),
                                             (100, (80, 10, 10))])
def test_each_genre_holds_out_its_shares_rounded_half_up(n, expected):
    """10% for test and 10% for validation of each genre's tracks, rounded half up, as the
    README says: Python's round() to even gave a genre of 5 tracks no test track, and the
    validation share was taken of what the test left (45 tracks: 36/5/4)."""
    labels = ["g"] * n + ["h"] * 10
    parts = train_val_test_split(labels, [str(i) for i in range(len(labels))], seed=0)[:n]
    assert tuple(int((parts == p).sum()) for p in ("train", "val", "test")) == expected


def test_a_prolific_artist_is_not_held_out_for_a_share_a_tenth_its_size(caplog, monkeypatch):
    """Groups were drawn until the share was reached, so one artist with 20 of a genre's 30
    tracks often went to test whole: 20 test tracks where 3 were asked, 7 left to train on."""
    from genrekit.datasets.splits import holdout_shortfalls

    labels, groups = [], []
    for genre in ("jazz", "rock", "pop"):
        for i in range(30):
            labels.append(genre)
            groups.append(f"artist:{genre} star" if i < 20 else f"artist:{genre} other {i}")
    labels, groups = np.array(labels), np.array(groups)
    for seed in range(8):
        parts = train_val_test_split(labels, groups, seed=seed)
        for genre in ("jazz", "rock", "pop"):
            assert (parts[labels == genre] == "test").sum() == 3 and (parts[labels == genre] == "val").sum() == 3
            assert len(set(parts[groups == f"artist:{genre} star"])) == 1  # still never split
        assert not holdout_shortfalls(labels, parts, (0.8, 0.1, 0.1))
    # big artists are not passed over for one-track groups once the share is reached: 5 artists of 18
    # and 10 one-track groups a genre; the one-track groups were 1.00 of the test tracks (0.10 of the data)
    labels = np.repeat(["jazz", "rock"], 100)
    groups = np.array([f"{g}-artist{i // 18}" if i < 90 else f"{g}-single{i}" for g in ("jazz", "rock") for i in range(100)])
    single = np.char.find(groups.astype(str), "single") >= 0
    shares = [single[train_val_test_split(labels, groups, seed=seed) == "test"].mean() for seed in range(40)]
    assert 0.1 < np.mean(shares) < 0.6 and min(shares) == 0.0
    # two artists of 20 each: 4 asked, and neither fits; one is held out all the same (a genre untested
    # is worse), and that is reported
    labels, groups = np.repeat(["a", "b"], 40), np.array([f"artist{i // 20}" for i in range(80)])
    parts = train_val_test_split(labels, groups, seed=0)
    assert [int((parts == "test").sum()), int((parts == "val").sum())] == [40, 0]
    assert holdout_shortfalls(labels, parts, (0.8, 0.1, 0.1)) == {g: {"val": [0, 4], "test": [20, 4]} for g in "ab"}
    from genrekit.datasets import Dataset, Track
    from genrekit.train.splits import assign_splits

    dataset = Dataset(name="folder", root="/music", tracks=[
        Track(f"t{i}", f"/music/{i}.wav", str(label), artist=f"artist{i // 20}") for i, label in enumerate(labels)])
    with caplog.at_level("WARNING"):
        _, notes = assign_splits(dataset, split="random", sizes=(0.8, 0.1, 0.1), seed=0)
    assert notes["uneven_holdouts"] == {g: {"val": [0, 4], "test": [20, 4]} for g in "ab"}
    assert "/music: each artist's tracks, and each song's copies, kept on one side give 2 genre(s) other shares " \
           "than asked" in caplog.text
    assert "a: val 0 (asked 4), test 20 (asked 4)" in caplog.text
    caplog.clear()
    from genrekit.train import splits

    # without artists only a song's copies are kept together (the files here have none: a shortfall stands in)
    monkeypatch.setattr(splits, "holdout_shortfalls", lambda *args: {"a": {"test": [0, 4]}})
    anonymous = Dataset(name="folder", root="/music", tracks=[replace(t, artist=None) for t in dataset.tracks])
    with caplog.at_level("WARNING"):
        assign_splits(anonymous, split="random", sizes=(0.8, 0.1, 0.1), seed=0)
    assert "each song's copies (no artists known) kept on one side give" in caplog.text  # no artist to blame


def test_training_on_gtzan_says_its_split_shares_artists(gtzan_mini, gtzan_dev, caplog):
    from genrekit.train.splits import assign_splits

    from genrekit.datasets.splits import gtzan_shares_artists

    for split in ("random", "all"):  # --split all: the by-track CV is the only score
        caplog.clear()
        with caplog.at_level("WARNING"):
            assign_splits(load_gtzan(gtzan_mini), split=split, sizes=(0.8, 0.1, 0.1), seed=0)
        assert "GTZAN names no artists, and adjacent clip ids are often one artist's" in caplog.text, split
        # gtzan-filtered gives some of gtzan-mini's genres no training track: not offered as the fix
        assert "gtzan-filtered" not in caplog.text, caplog.text
    # nor for clips whose ids the lists hold for one genre only (an audit, 2026-12-06: offered, as the
    # genres of the filtered tracks were compared with themselves, and following it trained one genre)
    mini = load_gtzan(gtzan_mini)
    dev_clip = next((gtzan_dev / "jazz").glob("jazz.00011.*"))
    mixed = type(mini)(name="m", root="/m", tracks=[replace(t, track_id=f"clips/{t.track_id}") for t in mini.tracks]
                       + [replace(mini.tracks[0], track_id="jazz.00011", path=str(dev_clip), label="jazz")])
    caplog.clear()
    with caplog.at_level("WARNING"):
        assign_splits(mixed, split="random", sizes=(0.8, 0.1, 0.1), seed=0)
    assert "GTZAN names no artists" in caplog.text and "gtzan-filtered" not in caplog.text, caplog.text
    # gtzan-filtered's parts keep artists apart, the k-fold CV over all its tracks (the headline
    # beside 55 test tracks) does not: said, as for the other splits
    caplog.clear()
    with caplog.at_level("WARNING"):
        assign_splits(load_gtzan(gtzan_dev), split="gtzan-filtered", sizes=(0.8, 0.1, 0.1), seed=0)
    assert "splitting by track (the k-fold CV train adds on a small dataset, where it runs) puts an artist's clips" in caplog.text
    # compare's warning, with the fix a dataset takes (a table takes a 'group' column: test_cli)
    assert "a CSV manifest with an 'artist' column" in gtzan_shares_artists(load_gtzan(gtzan_mini), "these folds")
    folder = load_gtzan(gtzan_mini)
    # GTZAN clips listed in a manifest (or a folder of their own) without artists: said too (they were not)
    named = gtzan_shares_artists(type(folder)(name="manifest", root="/m", tracks=folder.tracks), "x")
    assert named.startswith("/m: GTZAN names no artists") and "add an 'artist' column" in named
    assert "number // 2" in named  # // 10 made one group of each of gtzan-mini's genres
    with_artists = [replace(t, artist=f"{t.label}-{int(t.track_id[-5:]) // 2}") for t in folder.tracks]
    assert gtzan_shares_artists(type(folder)(name="manifest", root="/m", tracks=with_artists), "x") is None
    # a manifest named gtzan.csv with the artists the warning asks for: its folds keep them apart (it warned,
    # and compare wrote the warning into its reports; a review, 2026-12-07)
    assert gtzan_shares_artists(type(folder)(name="gtzan", root="/m", tracks=with_artists), "x") is None
    renamed = [replace(t, path=t.path.replace(".000", "-take")) for t in folder.tracks]
    assert gtzan_shares_artists(type(folder)(name="folder", root="/m", tracks=renamed), "x") is None


def test_gtzan_filtered_split(gtzan_mini):
    ids = gtzan_filtered_ids()
    assert {part: len(v) for part, v in ids.items()} == {"train": 443, "val": 197, "test": 290}
    assert not (set(ids["train"]) & set(ids["test"])) and not (set(ids["val"]) & set(ids["test"]))
    assert "blues.00012" in ids["test"] and "jazz.00073" in ids["test"] and "rock.00099" in ids["train"]
    dataset, missing = gtzan_filtered_split(load_gtzan(gtzan_mini))
    assert sum(len(v) for v in missing.values()) == 930 - len(dataset)
    assert {t.track_id: t.split for t in dataset.tracks}["jazz.00000"] == "train"
    assert "blues.00000" not in missing["val"] and "blues.00099" in missing["test"]


def test_check_dataset_reports_problems(tmp_path, gtzan_mini, bad_files):
    root = _mini_copy(gtzan_mini, tmp_path / "set", per_genre=4)
    shutil.copy(bad_files["corrupted"], root / "jazz" / "jazz.00054.wav")
    shutil.copy(bad_files["silent"], root / "rock" / "quiet.wav")
    import soundfile as sf

    y, sr = sf.read(gtzan_mini / "blues" / "blues.00000.au")
    sf.write(root / "rock" / "copy-of-blues.wav", y, sr, subtype="PCM_16")  # same audio, other label
    report = check_dataset(load_folder(root), progress=False)
    assert not report.ok
    assert report.counts == {"blues": 4, "jazz": 5, "rock": 6}
    assert [p.path for p in report.unreadable] == [str(root / "jazz" / "jazz.00054.wav")]
    assert report.duplicates == [sorted([str(root / "blues" / "blues.00000.au"), str(root / "rock" / "copy-of-blues.wav")])]
    reasons = " | ".join(f"{p.path}: {p.reason}" for p in report.suspicious)
    assert "quiet.wav: silent audio" in reasons and "different labels" in reasons
    clean = check_dataset(load_folder(_mini_copy(gtzan_mini, tmp_path / "clean")), progress=False)
    assert clean.ok, clean.to_dict()
    # the same samples at another rate are other audio (twice as long, an octave lower): no duplicate
    sf.write(root / "rock" / "slowed-blues.wav", y, sr // 2, subtype="PCM_16")
    again = check_dataset(load_folder(root), progress=False)
    assert not any(str(root / "rock" / "slowed-blues.wav") in group for group in again.duplicates), again.duplicates


def test_check_dataset_counts_unlabelled_tracks_in_no_genre(tmp_path, gtzan_mini):
    """A Dataset built in code may hold tracks without a genre (label None): the check names
    them instead of failing to sort None among the genres."""
    from dataclasses import replace

    dataset = load_folder(_mini_copy(gtzan_mini, tmp_path / "set", per_genre=2))
    tracks = [replace(t, label=None) if i < 2 else t for i, t in enumerate(dataset.tracks)]
    report = check_dataset(replace(dataset, tracks=tracks), progress=False)
    assert None not in report.counts and None not in report.durations
    assert sum(report.counts.values()) == len(tracks) - 2
    assert any("2 track(s) without a genre" in p.reason for p in report.suspicious) and not report.ok
    # what a check finds odd leaves nothing out (they were marked left_out, their tracks counted)
    assert not any(p.left_out for p in report.suspicious)
    # one genre: "no problems found", then train refused it (a review, 2026-12-07)
    jazz = replace(dataset, tracks=[t for t in dataset.tracks if t.label == "jazz"])
    assert [p.reason for p in check_dataset(jazz, progress=False).suspicious] == [
        "only one genre ('jazz'): a model learns to tell genres apart, so training needs at least two"]


def test_check_dataset_goes_on_past_a_url_it_cannot_open(tmp_path, gtzan_mini, monkeypatch):
    """`datasets check` stopped at a manifest's first URL no filesystem here opens (train and
    evaluate go on past it): now that URL is one unreadable track (2026-12-07)."""
    from dataclasses import replace

    from genrekit.datasets import check
    from genrekit.errors import ParameterError

    dataset = load_folder(_mini_copy(gtzan_mini, tmp_path / "set", per_genre=2))
    urls = [replace(dataset.tracks[0], track_id=f"x{i}", path=f"hdfs://h:1/x{i}.wav") for i in range(2)]
    scanned = check._scanned

    def scanning(path):
        if path.startswith("hdfs://"):  # pyarrow's words without a Java runtime
            raise ParameterError(f"{path}: not a URL pyarrow can open (Unable to load libjvm)")
        return scanned(path)

    monkeypatch.setattr(check, "_scanned", scanning)
    report = check_dataset(replace(dataset, tracks=[*urls, *dataset.tracks]), progress=False)
    assert [(p.path, p.reason) for p in report.unreadable] == [
        (f"hdfs://h:1/x{i}.wav", "not a URL pyarrow can open (Unable to load libjvm)") for i in range(2)]
    assert sum(report.counts.values()) == len(dataset.tracks) + 2 and report.durations  # the rest was checked


def _dataset(counts):
    from genrekit.datasets import Dataset, Track

    tracks = [Track(f"{genre}.{i:05d}", f"/music/{genre}/{genre}.{i:05d}.wav", genre)
              for genre, n in counts.items() for i in range(n)]
    return Dataset(name="folder", root="/music", tracks=tracks)


def test_check_genres_refuses_one_genre_and_names_thin_genres(caplog):
    from genrekit.datasets import check_genres

    for counts in ({"jazz": 8}, {}):
        with pytest.raises(DatasetError, match=r"/music: .*(only one genre \('jazz', 8 tracks\)|no labelled track)"):
            check_genres(_dataset(counts), purpose="training")
    with caplog.at_level("WARNING"):
        thin = check_genres(_dataset({"jazz": 8, "rock": 5, "blues": 1, "polka": 1}), purpose="training")
    assert thin == {"blues": 1, "polka": 1}
    assert "/music: 2 genre(s) with fewer than 2 tracks: blues (1), polka (1)" in caplog.text
    caplog.clear()
    assert check_genres(_dataset({"jazz": 2, "rock": 2})) == {} and not caplog.text
    with pytest.raises(DatasetError, match=r"/music: folds=5 .* 4 tracks"):  # K-fold needs K groups
        check_genres(_dataset({"jazz": 2, "rock": 2}), purpose="cross-validation", folds=5)
    assert check_genres(_dataset({"jazz": 5, "rock": 2}), folds=5) == {}
    # five tracks, but stratified folds need a genre to fill five (scikit-learn's traceback, before)
    with pytest.raises(DatasetError, match=r"/music: folds=5 needs a genre of at least 5 tracks; the largest has 3"):
        check_genres(_dataset({"jazz": 3, "rock": 2}), folds=5)
    # a fold testing rock's one track trains on jazz alone (scikit-learn's "at least 2 classes" traceback, before)
    with pytest.raises(DatasetError, match=r"/music: 1 genre\(s\) with two tracks or more \(jazz: 7, rock: 1\); "
                                           r"cross-validation needs at least two"):
        check_genres(_dataset({"jazz": 7, "rock": 1}), purpose="cross-validation", folds=5)
    assert check_genres(_dataset({"jazz": 7, "rock": 2, "blues": 1}), folds=5) == {"blues": 1}


def test_training_refuses_one_genre_before_extraction(monkeypatch):
    from genrekit import train
    from genrekit.train import classical

    def refuse(*args, **kwargs):
        raise AssertionError("features extracted")

    monkeypatch.setattr(classical, "build_feature_table", refuse)
    with pytest.raises(DatasetError, match="only one genre"):
        train.train_model(_dataset({"jazz": 10}), model="logreg", progress=False)
    # split='dataset' whose training tracks hold one genre: refused before extraction too
    from dataclasses import replace

    data = _dataset({"jazz": 4, "rock": 2})
    data = replace(data, tracks=[replace(t, split="train" if t.label == "jazz" else "test") for t in data.tracks])
    with pytest.raises(DatasetError, match=r"training tracks .*only one genre \('jazz'"):
        train.train_model(data, model="logreg", split="dataset", progress=False)


def test_copies_of_a_song_under_other_names_share_a_split_group(tmp_path, gtzan_mini):
    """song.wav and 'song (1).wav' (or a link), song.flac re-encoded from it, and a cut of a
    clip in a folder dataset: one group each, so a split or a fold never trains on one copy
    and tests on the other."""
    import os
    import shutil

    from genrekit.datasets import load_dataset

    for genre in ("jazz", "rock"):
        (tmp_path / genre).mkdir()
        for source in sorted((gtzan_mini / genre).iterdir())[:3]:
            shutil.copy(source, tmp_path / genre / source.name)
    first = sorted((tmp_path / "jazz").iterdir())[0]
    shutil.copy(first, tmp_path / "jazz" / f"{first.stem} (1){first.suffix}")
    os.symlink(first, tmp_path / "jazz" / f"link{first.suffix}")
    # the same audio re-encoded losslessly, and a cut of another clip (its first 12 s): the same opening
    import soundfile as sf

    y, sr = sf.read(first, dtype="int16")
    sf.write(tmp_path / "jazz" / "re-encoded.flac", y, sr)
    second = sorted((tmp_path / "rock").iterdir())[0]
    z, sr2 = sf.read(second, dtype="int16")
    sf.write(tmp_path / "rock" / "cut.wav", z[: 12 * sr2], sr2)
    dataset = load_dataset(tmp_path, kind="folder")
    group_of = {os.path.basename(t.path): g for t, g in zip(dataset.tracks, dataset.groups)}
    assert group_of[first.name] == group_of[f"{first.stem} (1){first.suffix}"] == group_of[f"link{first.suffix}"] \
        == group_of["re-encoded.flac"]
    assert group_of[second.name] == group_of["cut.wav"]
    assert len(set(dataset.groups)) == len(dataset.tracks) - 4  # every other track its own group


def test_lossless_copies_of_clips_under_10_s_share_a_split_group(tmp_path, gtzan_mini):
    """Clips cut to 6 s have no 10 s opening to compare: a FLAC beside its WAV was split from
    it (``datasets check`` called them duplicates, ``train`` split them). Their whole audio
    joins them now; 6 s cut from elsewhere in the same song stays apart."""
    import os

    import soundfile as sf

    from genrekit.datasets import load_dataset
    from genrekit.train.splits import assign_splits

    for genre in ("jazz", "rock"):
        (tmp_path / genre).mkdir()
        for source in sorted((gtzan_mini / genre).iterdir())[:4]:
            y, sr = sf.read(source, dtype="int16")
            sf.write(tmp_path / genre / f"{source.stem}.wav", y[: 6 * sr], sr)
            sf.write(tmp_path / genre / f"{source.stem}_copy.flac", y[: 6 * sr], sr)
            sf.write(tmp_path / genre / f"{source.stem}_later.wav", y[10 * sr: 16 * sr], sr)
    dataset = load_dataset(tmp_path, kind="folder")
    group_of = {os.path.basename(t.path): g for t, g in zip(dataset.tracks, dataset.groups)}
    stems = [name[:-4] for name in group_of if name.endswith(".wav") and not name.endswith("_later.wav")]
    assert len(stems) == 8
    for stem in stems:
        assert group_of[f"{stem}.wav"] == group_of[f"{stem}_copy.flac"] != group_of[f"{stem}_later.wav"]
    assert len(set(dataset.groups)) == 16
    split, _ = assign_splits(dataset, split="random", sizes=(0.5, 0.25, 0.25), seed=0)
    side = {os.path.basename(t.path): t.split for t in split.tracks}
    assert all(side[f"{stem}.wav"] == side[f"{stem}_copy.flac"] for stem in stems)


def test_a_manifest_without_a_usable_row_names_its_first_problems(tmp_path):
    manifest = tmp_path / "songs.csv"
    manifest.write_text("path,label\naudio\\b1.wav,jazz\nmissing.wav,rock\n")
    with pytest.raises(DatasetError, match=r"no usable rows \(2 problems, first: .*b1\.wav.*missing\.wav"):
        load_manifest(manifest)
    from genrekit.datasets.fma import load_genres

    empty = tmp_path / "genres.csv"
    empty.write_bytes(b"")
    with pytest.raises(DatasetError, match=r"genres\.csv: cannot read FMA genres\.csv"):
        load_genres(empty)
    manifest.write_bytes(b"")  # an empty file: pandas' own EmptyDataError must not escape
    with pytest.raises(DatasetError, match=r"songs\.csv: cannot read the manifest as CSV"):
        load_manifest(manifest)
    with pytest.raises(DatasetError, match=r"songs\.csv"):
        load_dataset(manifest)


@pytest.mark.parametrize("features, rows_per_track", [("gtzan57", 3), ("fma518", 1)])
def test_genrekits_own_feature_table_reads_back_with_its_tracks(tmp_path, features, rows_per_track):
    """features.csv as `genrekit features` writes it, read by compare/explore --table: a track's
    chunks stay one track (they were one row each, and split across folds), and so do an
    artist's tracks and a file's copies (their split group, written without the file's path),
    numeric track ids are no feature, and fma518's three header rows are read."""
    from genrekit.datasets import FeatureTable, feature_frame, fold_grouping, read_feature_table
    from genrekit.features import FeatureSpec

    spec = FeatureSpec(features, chunk_duration=3.0 if rows_per_track > 1 else None)
    tracks = np.repeat([f"{n}" for n in (101, 102, 203, 204, 205)], rows_per_track)  # FMA-style numeric ids
    copy = "file:/home/someone/Music/204.mp3"  # 205 holds the same bytes as 204: one group
    groups = np.repeat(["artist:1", "artist:1", "artist:2", copy, copy], rows_per_track)
    table = FeatureTable(X=np.random.default_rng(0).normal(size=(len(tracks), len(spec.columns))),
                         y=np.repeat([0, 0, 1, 1, 1], rows_per_track), tracks=tracks, groups=groups,
                         labels=["NA", "rock"], columns=spec.columns, spec=spec)
    feature_frame(table).to_csv(tmp_path / "features.csv", float_format="%.10e")
    assert "/home/someone" not in (tmp_path / "features.csv").read_text()
    back = read_feature_table(tmp_path / "features.csv")
    assert back.columns == spec.columns and back.X.shape == table.X.shape
    assert np.allclose(back.X, table.X) and list(back.tracks) == list(tracks) and back.labels == ["NA", "rock"]
    expected = np.repeat(["artist:1", "artist:1", "artist:2", "track:204", "track:204"], rows_per_track)
    assert list(back.groups) == list(expected) and fold_grouping(back) == "by artist where known"


def test_a_group_column_in_somebody_elses_table_groups_its_tracks(tmp_path):
    """A "group" column groups a table's tracks in folds, in genrekit's features.csv and in a
    table of somebody else's alike (blocks of adjacent GTZAN ids added to the published table:
    it was read as a feature, silently); it is never a feature."""
    from genrekit.datasets import read_feature_table

    pd.DataFrame({"filename": ["a.wav", "b.wav", "c.wav"], "tempo": [90.0, 120.0, 140.0], "group": [1, 1, 2],
                  "label": ["jazz", "rock", "rock"]}).to_csv(tmp_path / "theirs.csv", index=False)
    table = read_feature_table(tmp_path / "theirs.csv")
    assert table.columns == ["tempo"] and list(table.groups) == ["1", "1", "2"]
    # an empty group cell is its track's own group (every such row was one group "": a review, 2026-12-07)
    pd.DataFrame({"filename": ["a.wav", "b.wav", "c.wav"], "tempo": [90.0, 120.0, 140.0], "group": ["x", "", " "],
                  "label": ["jazz", "rock", "rock"]}).to_csv(tmp_path / "gaps.csv", index=False)
    assert list(read_feature_table(tmp_path / "gaps.csv").groups) == ["x", "b", "c"]
    # a header one name short: pandas takes the first column as the index (the track's name)
    (tmp_path / "indexed.csv").write_text("tempo,x,label\nsongA,90.0,1.0,jazz\nsongB,120.0,2.0,NA\n")
    indexed = read_feature_table(tmp_path / "indexed.csv")
    assert indexed.labels == ["NA", "jazz"] and list(indexed.tracks) == ["songA", "songB"]
    assert indexed.columns == ["tempo", "x"]
    (tmp_path / "short.csv").write_text("filename,tempo,label\na.wav,90.0,NA\nb.wav,120.0\n")  # a row cut short
    with pytest.raises(DatasetError, match=r"short.csv: 1 row\(s\) without a 'label' value, the first at data row 2"):
        read_feature_table(tmp_path / "short.csv")
    # a feature column with one cell that is not a number is damage, not a text column to leave out
    (tmp_path / "typo.csv").write_text("filename,tempo,energy,artist,label\na.wav,90.0,0.5,X,jazz\n"
                                       "b.wav,120.0,abc,Y,rock\nc.wav,140.0,0.7,Z,rock\n")
    with pytest.raises(DatasetError, match=r"typo.csv: column 'energy' holds numbers and 1 cell\(s\) that are not, "
                                           r"the first at data row 2: 'abc'"):
        read_feature_table(tmp_path / "typo.csv")
    (tmp_path / "typo.csv").write_text("filename,tempo,artist,label\na.wav,90.0,X,jazz\nb.wav,120.0,Y,rock\n")
    assert read_feature_table(tmp_path / "typo.csv").columns == ["tempo"]  # a text column is no feature


def test_a_table_that_would_be_read_wrong_without_a_word_is_refused_or_said(tmp_path, caplog):
    """An audit (2026-12-06): a track whose rows gave two genres was read as "chunks" of one
    track with two genres; rows without a name were merged into one track ""; " blues" was an
    11th genre beside "blues"; a column of decimal commas ("120,5") was dropped unseen; a
    table separated by ';' was "no 'label' column" and a 60-name header."""
    import logging

    from genrekit.datasets import read_feature_table

    def table(name, rows, header="filename,tempo,energy,label"):
        (tmp_path / name).write_text(header + "\n" + "\n".join(rows) + "\n")
        return tmp_path / name

    torn = table("torn.csv", ["a.wav,90,0.1,jazz", "b.wav,120,0.2,rock", "a.wav,91,0.1,rock"])
    with pytest.raises(DatasetError, match=r"torn.csv: 1 track\(s\) whose rows give different genres, the first "
                                           r"'a' \(data rows 1, 3: jazz, rock\)"):
        read_feature_table(torn)
    nameless = table("nameless.csv", ["a.wav,90,0.1,jazz", ",120,0.2,rock", ",95,0.3,blues"])
    with pytest.raises(DatasetError, match=r"nameless.csv: 2 row\(s\) without a file name, the first at data row 2"):
        read_feature_table(nameless)
    spaced = read_feature_table(table("spaced.csv", ["a.wav,90,0.1,blues", "b.wav,120,0.2, blues"]))
    assert spaced.labels == ["blues"] and list(spaced.y) == [0, 0]
    with caplog.at_level(logging.WARNING):
        commas = read_feature_table(table("commas.csv", ['a.wav,"90,5",0.1,jazz', 'b.wav,"120,0",0.2,rock']))
    assert commas.columns == ["energy"] and "1 column(s) of text left out of the features: 'tempo'" in caplog.text
    (tmp_path / "semi.csv").write_text("filename;tempo;label\na.wav;90;jazz\nb.wav;120;rock\n")
    with pytest.raises(DatasetError, match=r"semi.csv: expected comma-separated values, found cells separated by ';'"):
        read_feature_table(tmp_path / "semi.csv")


def test_linked_subfolders_are_read_and_a_link_loop_ends(tmp_path, gtzan_mini):
    """A genre folder's subfolder that is a link (an album kept elsewhere) holds that genre's
    songs; a link back to a parent folder is walked once, not forever."""
    root = _mini_copy(gtzan_mini, tmp_path / "lib")
    elsewhere = tmp_path / "albums" / "live"
    elsewhere.mkdir(parents=True)
    shutil.copy(gtzan_mini / "jazz" / "jazz.00005.wav", elsewhere / "set1.wav")
    (root / "jazz" / "live").symlink_to(elsewhere, target_is_directory=True)
    (root / "jazz" / "loop").symlink_to(root / "jazz", target_is_directory=True)
    dataset = load_folder(root)
    jazz = sorted(t.track_id for t in dataset.tracks if t.label == "jazz")
    assert "jazz/live/set1" in jazz and not any(i.startswith("jazz/loop/") for i in jazz)
    assert len(dataset) == 10 and not dataset.problems
    # links that would label other genres' songs with this one: left out, each named
    (root / "jazz" / "everything").symlink_to(root, target_is_directory=True)
    (root / "rock" / "more").symlink_to(root / "blues", target_is_directory=True)
    (root / "rock" / "above").symlink_to(tmp_path, target_is_directory=True)
    dataset = load_folder(root)
    assert len(dataset) == 10 and {t.label for t in dataset.tracks if "blues." in t.track_id} == {"blues"}
    left_out = sorted(p.path.rsplit("/", 1)[-1] for p in dataset.problems)
    assert left_out == ["above", "everything", "more"], dataset.problems
    assert all("linked folder left out" in p.reason for p in dataset.problems)
    # a genre folder that is such a link itself (a review, 2026-12-07): every song read again as
    # "self", songs outside the dataset read as "up", jazz's songs as "bebop" too
    for link in ("everything", "more", "above"):
        (root / ("jazz" if link == "everything" else "rock") / link).unlink()
    (root / "self").symlink_to(root, target_is_directory=True)
    (root / "up").symlink_to(tmp_path, target_is_directory=True)
    (root / "bebop").symlink_to(root / "jazz", target_is_directory=True)
    dataset = load_folder(root)
    assert len(dataset) == 10 and dataset.labels == ["blues", "jazz", "rock"]
    reasons = {p.path.rsplit("/", 1)[-1]: p.reason for p in dataset.problems}
    assert "the dataset's folder or above it" in reasons["self"] and "the dataset's folder or above it" in reasons["up"]
    assert "the folder of genre 'jazz': its songs would carry both genres" in reasons["bebop"]
    # song.wav beside song.flac and song.wav.mp3: three tracks, three ids (two shared one)
    for name in ("song.wav", "song.flac", "song.wav.mp3"):
        shutil.copy(gtzan_mini / "rock" / "rock.00005.wav", root / "rock" / name)
    ids = [t.track_id for t in load_folder(root).tracks if "song" in t.track_id]
    assert sorted(ids) == ["rock/song.flac", "rock/song.wav", "rock/song.wav.mp3"]


def test_genres_spelled_apart_only_by_case_are_one_genre_with_a_problem(tmp_path, gtzan_mini):
    root = _mini_copy(gtzan_mini, tmp_path / "lib")
    (root / "Rock").mkdir()
    shutil.copy(gtzan_mini / "rock" / "rock.00005.wav", root / "Rock" / "extra.wav")
    dataset = load_folder(root)
    assert dataset.labels == ["blues", "jazz", "rock"]
    assert next(t for t in dataset.tracks if t.track_id == "Rock/extra").label == "rock"
    assert [p.reason for p in dataset.problems] == [
        "genre 'Rock' (1 track) differs from 'rock' (3 tracks) only in case: labelled 'rock'"]
    manifest = tmp_path / "songs.csv"
    rows = [f"{t.path},{t.label.upper() if i == 0 else t.label}" for i, t in enumerate(load_folder(root).tracks)]  # Rock/extra, first
    manifest.write_text("path,label\n" + "\n".join(rows) + "\n")
    from_csv = load_manifest(manifest)
    assert from_csv.labels == ["blues", "jazz", "rock"] and [p.reason for p in from_csv.problems] == [
        "genre 'ROCK' (1 track) differs from 'rock' (3 tracks) only in case: labelled 'rock'"]


def test_spellings_merge_across_unicode_composition_and_keep_the_unspaced_one(tmp_path, gtzan_mini):
    from genrekit.datasets.core import Track, merge_case_spellings

    tracks = [Track(f"t{i}", f"/x/{i}.wav", label) for i, label in
              enumerate(["Caf\u00e9", "cafe\u0301", " rock", "Rock", "rock ", None])]
    merged, problems = merge_case_spellings(tracks, "lib")
    assert [t.label for t in merged] == ["Caf\u00e9", "Caf\u00e9", "Rock", "Rock", "Rock", None]
    assert sorted(p.reason for p in problems) == [
        "genre ' rock' (1 track) differs from 'Rock' (1 track) only in case and spaces: labelled 'Rock'",
        "genre 'cafe\u0301' (1 track) differs from 'Caf\u00e9' (1 track) only in case and Unicode composition (an "
        "accent written as its own character): labelled 'Caf\u00e9'",
        "genre 'rock ' (1 track) differs from 'Rock' (1 track) only in case and spaces: labelled 'Rock'"]
    _, problems = merge_case_spellings([Track("a", "/a.wav", "Caf\u00e9"), Track("b", "/b.wav", "Cafe\u0301"),
                                        Track("c", "/c.wav", "Caf\u00e9")], "lib")
    assert [p.reason for p in problems] == [  # the same letters on screen: said how they differ
        "genre 'Cafe\u0301' (1 track) differs from 'Caf\u00e9' (2 tracks) only in Unicode composition (an accent "
        "written as its own character): labelled 'Caf\u00e9'"]


def test_spectrograms_are_written_atomically_resumed_and_not_mixed(tmp_path, gtzan_mini, corrupted_file,
                                                                   monkeypatch, caplog):
    """write_spectrograms: one .npz per track inside the folder whatever the id, a bad file
    listed and passed, a multi-genre file decoded once (a bad one too), a rerun keeps what is
    done, and a folder of other settings is named."""
    import json
    from dataclasses import replace

    from genrekit import audio
    from genrekit.datasets import load_manifest, settings_conflict, write_spectrograms
    from genrekit.features import LogMelSpec

    decoded = []
    load = audio.load
    monkeypatch.setattr(audio, "load", lambda path, **kw: decoded.append(path) or load(path, **kw))

    manifest = tmp_path / "songs.csv"
    manifest.write_text("path,label,track_id\n"
                        f"{gtzan_mini / 'jazz' / 'jazz.00001.wav'},jazz,../../outside\n"
                        f"{corrupted_file},jazz,broken\n")
    dataset = load_manifest(manifest)
    # each file also under a second genre, as a tag library's multi-genre copies (multi="all") are
    good, bad = dataset.tracks
    dataset.tracks = [good, replace(good, label="blues", track_id="copy"), bad, replace(bad, track_id="broken-too")]
    spec = LogMelSpec(n_mels=32)
    out = tmp_path / "out"
    assert settings_conflict(out, spec) is None
    run = write_spectrograms(dataset, out, spec, progress=False)
    written = sorted(p for p in out.rglob("*") if p.is_file() and p.name != "features.lock")
    assert written == [out / "logmel" / "copy.npz", out / "logmel" / "outside.npz", out / "run.json"]
    assert run.written == 2 and list(run.failures) == [str(corrupted_file)]  # two tracks failed, one file
    assert decoded == [good.path, bad.path]  # each file once, for both of its genres
    S, params = LogMelSpec.load(written[1])
    assert S.shape[0] == 32 and params == spec and np.array_equal(LogMelSpec.load(written[0])[0], S)
    record = json.loads((out / "run.json").read_text())
    assert record["n_tracks"] == 2 and record["params"]["n_mels"] == 32 and str(corrupted_file) in record["failures"]
    stamp = written[1].stat().st_mtime_ns
    # a killed run's temporary below the folder is removed, not counted as a track gone from the dataset
    (out / "logmel" / "jazz").mkdir()
    (out / "logmel" / "jazz" / ".jazz.00002.npz.k2j4_x9q.tmp.npz").write_bytes(b"partial")
    import logging

    with caplog.at_level(logging.WARNING):
        write_spectrograms(dataset, out, spec, progress=False)  # resumed: the finished file is kept as it is
    assert written[1].stat().st_mtime_ns == stamp
    assert not any((out / "logmel" / "jazz").iterdir()) and "no longer in the dataset" not in caplog.text
    assert "other settings" in settings_conflict(out, LogMelSpec(n_mels=64))
    # the library asks too, under the folder's lock: two runs of other settings both passed the command's check
    with pytest.raises(ParameterError, match="holds log-mel spectrograms made with other settings"):
        write_spectrograms(dataset, out, LogMelSpec(n_mels=64), progress=False)
    from genrekit.datasets.table import features_lock

    with features_lock(out):  # another run writing there (a lock is per open file: this process's own counts)
        with pytest.raises(ParameterError, match=r"another `genrekit features` run is writing to this folder"):
            write_spectrograms(dataset, out, spec, progress=False)
    assert written[1].stat().st_mtime_ns == stamp
    record_text = (out / "run.json").read_text()
    (out / "run.json").write_text("[" * 100_000)  # damaged past Python's stack: no record, not a crash
    assert "run record (run.json) is missing or damaged" in settings_conflict(out, LogMelSpec(n_mels=64))
    (out / "run.json").write_text(record_text)
    # a run stopped after its first spectrogram has its settings on record: not finished with others
    stopped = tmp_path / "stopped"

    def stop_after_one(path, **kw):
        if decoded:
            raise KeyboardInterrupt
        decoded.append(path)
        return load(path, **kw)

    decoded.clear()
    monkeypatch.setattr(audio, "load", stop_after_one)
    with pytest.raises(KeyboardInterrupt):
        write_spectrograms(dataset, stopped, spec, progress=False)
    assert (stopped / "logmel" / "outside.npz").exists() and not json.loads((stopped / "run.json").read_text())["complete"]
    assert "other settings" in settings_conflict(stopped, LogMelSpec(n_mels=64))
    assert settings_conflict(stopped, spec) is None


def test_a_feature_table_waits_for_another_run_writing_to_its_folder(tmp_path, gtzan_mini):
    """Two `features` runs into one folder could leave one's features.csv with the other's
    run.json: the table and its record are written together, under the folder's lock, which a
    run holding it for its short write is waited for."""
    import json
    import threading

    from genrekit.datasets import load_folder
    from genrekit.datasets.table import FeatureTable, features_lock, write_feature_table
    from genrekit.features import FeatureSpec

    dataset = load_folder(gtzan_mini)
    table = FeatureTable(X=np.array([[0.5, 1.0], [2.0, 3.0]]), y=np.array([0, 1]), tracks=np.array(["a", "b"]),
                         groups=np.array(["a", "b"]), labels=["blues", "jazz"], columns=["f0", "f1"],
                         spec=FeatureSpec.at_default_level("gtzan57", None))
    out = tmp_path / "out"
    entered = threading.Event()
    leave = threading.Event()

    def hold():
        with features_lock(out):
            entered.set()
            leave.wait(10)

    holder = threading.Thread(target=hold)
    holder.start()
    entered.wait(10)
    threading.Timer(1.0, leave.set).start()
    write_feature_table(out, table, dataset)
    holder.join()
    assert leave.is_set()  # it wrote only once the other let go
    assert json.loads((out / "run.json").read_text())["n_rows"] == 2
    assert (out / "features.csv").read_text().count("\n") == 3


def test_a_resumed_spectrogram_run_redoes_tracks_whose_audio_changed(tmp_path, gtzan_mini, monkeypatch):
    """Resuming went by file name only: a dataset of the same ids and other audio (gtzan-mini's
    15-20 s starts, then the full clips) into the same --out kept the old spectrograms."""
    import os

    from genrekit.datasets import load_folder, write_spectrograms
    from genrekit.features import LogMelSpec

    clip = gtzan_mini / "jazz" / "jazz.00001.wav"
    y, sr = sf.read(clip)
    (tmp_path / "songs" / "jazz").mkdir(parents=True)
    (tmp_path / "songs" / "rock").mkdir()
    song, other = tmp_path / "songs" / "jazz" / "a.wav", tmp_path / "songs" / "rock" / "b.wav"
    sf.write(song, y[: 3 * sr], sr)
    sf.write(other, y[: 4 * sr], sr)
    spec, out = LogMelSpec(n_mels=16), tmp_path / "out"
    write_spectrograms(load_folder(tmp_path / "songs"), out, spec, progress=False)
    frames = {name: LogMelSpec.load(out / "logmel" / name / f"{stem}.npz")[0].shape[1]
              for name, stem in (("jazz", "a"), ("rock", "b"))}
    sf.write(song, y[: 6 * sr], sr)  # the same id, other audio
    kept = (out / "logmel" / "rock" / "b.npz").stat().st_mtime_ns
    write_spectrograms(load_folder(tmp_path / "songs"), out, spec, progress=False)
    assert LogMelSpec.load(out / "logmel" / "jazz" / "a.npz")[0].shape[1] > 1.8 * frames["jazz"]
    assert (out / "logmel" / "rock" / "b.npz").stat().st_mtime_ns == kept  # unchanged audio: not redone
    # a resume reads a file again to hash it only where its size or time changed
    from genrekit import audio

    hashed = []
    content_hash = audio.content_hash
    monkeypatch.setattr(audio, "content_hash", lambda path, **kw: hashed.append(path) or content_hash(path, **kw))
    write_spectrograms(load_folder(tmp_path / "songs"), out, spec, progress=False)
    assert hashed == []
    os.utime(other, ns=(1, 1))  # touched, the same audio: hashed, kept
    write_spectrograms(load_folder(tmp_path / "songs"), out, spec, progress=False)
    assert hashed == [str(other)] and (out / "logmel" / "rock" / "b.npz").stat().st_mtime_ns == kept
    monkeypatch.undo()
    # a file written before spectrograms recorded their source is kept; a damaged one is redone
    S, _ = LogMelSpec.load(out / "logmel" / "rock" / "b.npz")
    spec.save(out / "logmel" / "rock" / "b.npz", S[:, :5])
    (out / "logmel" / "jazz" / "a.npz").write_bytes(b"PK\x03\x04 cut short")
    write_spectrograms(load_folder(tmp_path / "songs"), out, spec, progress=False)
    assert LogMelSpec.load(out / "logmel" / "rock" / "b.npz")[0].shape[1] == 5
    assert LogMelSpec.load(out / "logmel" / "jazz" / "a.npz")[0].shape[1] > 1.8 * frames["jazz"]
    # a track whose audio no longer decodes, and one gone from the dataset: their old spectrograms went on being read
    # with the folder (an audit, 2026-12-06)
    song.write_bytes(song.read_bytes()[:200])  # cut short
    (tmp_path / "songs" / "rock" / "c.wav").write_bytes(other.read_bytes())
    write_spectrograms(load_folder(tmp_path / "songs"), out, spec, progress=False)
    other.unlink()
    run = write_spectrograms(load_folder(tmp_path / "songs"), out, spec, progress=False)
    assert str(song) in run.failures and sorted(p.name for p in (out / "logmel").rglob("*.npz")) == ["c.npz"]
    # a file of other mel bands, or a spectrogram of 1 x 5, is made again; a run record cut short
    # with spectrograms beside it is refused, their settings unknown (a review, 2026-12-07: kept, "complete")
    c = out / "logmel" / "rock" / "c.npz"
    LogMelSpec(n_mels=8).save(c, np.zeros((8, 40), np.float32))
    write_spectrograms(load_folder(tmp_path / "songs"), out, spec, progress=False)
    assert LogMelSpec.load(c)[0].shape[0] == 16
    (out / "run.json").write_bytes((out / "run.json").read_bytes()[:100])
    with pytest.raises(ParameterError, match="run record \\(run.json\\) is missing or damaged"):
        write_spectrograms(load_folder(tmp_path / "songs"), out, LogMelSpec(n_mels=64), progress=False)


def test_an_artist_is_one_split_group_however_its_name_is_cased_or_composed(tmp_path, gtzan_mini):
    """Tags spell one artist "Radiohead" and "radiohead", or "Café" with a composed é and with
    e + a combining accent: one group each, so the artist never spans a split."""
    import shutil
    import unicodedata

    clips = sorted((gtzan_mini / "jazz").iterdir())[:5]
    for i, clip in enumerate(clips):
        shutil.copy(clip, tmp_path / f"{i}{clip.suffix}")
    artists = ["Radiohead", "radiohead ", unicodedata.normalize("NFC", "Café Tacvba"),
               unicodedata.normalize("NFD", "CAFÉ TACVBA"), "Other"]
    (tmp_path / "songs.csv").write_text("path,label,artist\n" + "".join(
        f"{i}{clip.suffix},jazz,{artist}\n" for i, (clip, artist) in enumerate(zip(clips, artists))))
    groups = load_manifest(tmp_path / "songs.csv").groups
    assert groups[0] == groups[1] == "artist:Radiohead" and groups[2] == groups[3] != groups[0]
    assert len(set(groups)) == 3


def test_a_placeholder_artist_is_no_artist(tmp_path, gtzan_mini):
    """A compilation's "Various Artists" (the album artist a tag reader falls back to) or a
    ripper's "Unknown Artist" made one split group across every genre: half a dataset in test."""
    import shutil

    clips = sorted((gtzan_mini / "jazz").iterdir())[:5]
    for i, clip in enumerate(clips):
        shutil.copy(clip, tmp_path / f"{i}{clip.suffix}")
    artists = ["Various Artists", "VARIOUS  ARTISTS", "Unknown Artist", "[unknown]", "Various Artists Band"]
    (tmp_path / "songs.csv").write_text("path,label,artist\n" + "".join(
        f"{i}{clip.suffix},jazz,{artist}\n" for i, (clip, artist) in enumerate(zip(clips, artists))))
    dataset = load_manifest(tmp_path / "songs.csv")
    assert dataset.groups[:4] == [f"file:{t.path}" for t in dataset.tracks[:4]]
    assert dataset.groups[4] == "artist:Various Artists Band"  # a real name that starts alike


def test_a_datasets_own_split_with_a_song_copied_across_it_is_recorded(tmp_path, gtzan_mini):
    """split='dataset' keeps the owner's split, but a song whose copy (here a FLAC of it) sits
    on the other side is recorded and warned of, as an artist on two sides is."""
    from genrekit.train.splits import assign_splits

    clips = sorted((gtzan_mini / "jazz").iterdir())[:2] + sorted((gtzan_mini / "rock").iterdir())[:2]
    for clip in clips:
        shutil.copy(clip, tmp_path / clip.name)
    y, sr = sf.read(clips[0], dtype="int16")
    sf.write(tmp_path / "copy.flac", y, sr)
    rows = [(c.name, c.parent.name, "train" if i % 2 else "test") for i, c in enumerate(clips)]
    (tmp_path / "songs.csv").write_text("path,label,split\n" + "".join(f"{p},{g},{s}\n" for p, g, s in rows)
                                        + "copy.flac,jazz,train\n")
    _, notes = assign_splits(load_manifest(tmp_path / "songs.csv"), split="dataset", sizes=(0.8, 0.1, 0.1), seed=0)
    assert notes["artists_across_splits"] == [] and notes["copies_across_splits"] == [str(tmp_path / clips[0].name)]


def test_a_genre_folder_given_for_its_dataset_and_a_stray_cover_are_named_for_what_they_are(tmp_path, gtzan_mini):
    """A genre folder given where the dataset's root was meant said only 'no audio files found
    in genre folders' (with 3 songs right there); a folder of notes and a cover.jpg was read
    as an image dataset ('no image files found')."""
    genre = tmp_path / "rock"
    genre.mkdir()
    for clip in sorted((gtzan_mini / "rock").iterdir())[:3]:
        shutil.copy(clip, genre / clip.name)
    with pytest.raises(DatasetError, match=r"rock: no audio files found in genre folders .*its 3 audio file\(s\) sit "
                                           r"in it directly: give the folder above"):
        load_dataset(genre)
    notes = tmp_path / "notes"
    (notes / "drafts").mkdir(parents=True)
    (notes / "drafts" / "a.txt").write_text("x")
    (notes / "cover.jpg").write_bytes(b"\xff\xd8")
    with pytest.raises(DatasetError, match="no audio files found"):
        load_dataset(notes)


def test_a_file_whose_name_is_not_utf8_is_left_out_and_named(tmp_path, gtzan_mini, feature_cache):
    """An old rip named in Latin-1 (Python keeps its odd bytes as surrogates) crashed train,
    evaluate, features and compare with a UnicodeEncodeError where pandas and the CSVs met
    it. It is left out as a dataset problem, its bytes shown escaped, and the run goes on."""
    import json
    import os

    from typer.testing import CliRunner

    from genrekit.cli.main import app
    from genrekit.datasets import load_dataset

    for genre in ("jazz", "rock"):
        (tmp_path / genre).mkdir()
        for source in sorted((gtzan_mini / genre).iterdir())[:3]:
            shutil.copy(source, tmp_path / genre / source.name)
    latin = os.fsdecode(b"caf\xe9.wav")
    shutil.copy(next((gtzan_mini / "jazz").iterdir()), tmp_path / "jazz" / latin)
    dataset = load_dataset(tmp_path, kind="folder")
    assert len(dataset.tracks) == 6 and all(latin not in t.path for t in dataset.tracks)
    assert [p.path for p in dataset.problems] == [f"{tmp_path}/jazz/caf\\xe9.wav"]
    assert "not valid UTF-8" in dataset.problems[0].reason
    json.dumps(dataset.problem_records(), ensure_ascii=False).encode("utf-8")  # writable as UTF-8
    result = CliRunner().invoke(app, ["train", str(tmp_path), "--model", "logreg", "--features", "gtzan57", "--jobs", "1",
                                      "--cache", str(feature_cache), "--out", str(tmp_path.parent / "run")])
    assert result.exit_code in (0, 3) and "Traceback" not in result.output, result.output
    assert (tmp_path.parent / "run" / "model.genrekit").exists()
    # the dataset folder itself so named: every file was a problem of its own, and train ended in an
    # IndexError of the split (2026-12-07); now one refusal, before a results folder is made
    misnamed = tmp_path.parent / os.fsdecode(b"m\xfasica")
    shutil.copytree(tmp_path, misnamed, ignore=shutil.ignore_patterns(latin))
    with pytest.raises(DatasetError, match=r"m\\xfasica: the dataset folder's path is not valid UTF-8"):
        load_dataset(misnamed)
    for command in ("train", "datasets check", "compare"):
        result = CliRunner().invoke(app, [*command.split(), str(misnamed)])
        assert result.exit_code == 1 and "path is not valid UTF-8" in result.output, result.output
    from genrekit.datasets import Dataset, Track  # one built in code, its root misnamed: one problem for all

    built = Dataset("x", str(misnamed), [Track(f"t{i}", str(misnamed / f"t{i}.wav"), "jazz") for i in range(3)])
    assert [(p.path, p.reason[:43]) for p in built.problems] == [
        (f"{tmp_path.parent}/m\\xfasica", "its name is not valid UTF-8: its 3 track(s)")]


def test_short_clips_of_digital_silence_are_not_copies_of_each_other(tmp_path):
    """Two 5 s files of digital silence in two genres (other bytes: other formats) are not
    one song: many clips share silence, as the 10 s openings' rule already says."""
    import os

    from genrekit.datasets import load_dataset

    for genre, name in (("jazz", "gap.wav"), ("rock", "blank.flac")):
        (tmp_path / genre).mkdir()
        sf.write(tmp_path / genre / name, np.zeros(5 * 22050, np.int16), 22050)
        sf.write(tmp_path / genre / f"tone-{genre}.wav",
                 (0.3 * np.sin(np.arange(5 * 22050) * (0.05 if genre == "jazz" else 0.07))).astype(np.float32), 22050)
    dataset = load_dataset(tmp_path, kind="folder")
    assert len(set(dataset.groups)) == 4, dict(zip((os.path.basename(t.path) for t in dataset.tracks), dataset.groups))


def test_a_manifest_whose_rows_hold_a_cell_too_many_or_a_nul_is_refused_by_name(tmp_path, gtzan_mini):
    """A cell too many in every row made pandas take the first column as an index: each row
    shifted ("rock" read as the path); a NUL in a track id crashed the log-mel writer."""
    song = next(gtzan_mini.glob("jazz/*.wav"))
    (tmp_path / "shifted.csv").write_text(f"path,label\nrock,{song},jazz\n")
    with pytest.raises(DatasetError, match=r"shifted.csv: its rows hold more cells than its header names \(path,label\)"):
        load_manifest(tmp_path / "shifted.csv")
    (tmp_path / "nul.csv").write_text(f"path,label,track_id\n{song},jazz,a\0b\n{song.with_name('jazz.00002.wav')},jazz,c\n")
    loaded = load_manifest(tmp_path / "nul.csv")
    assert [t.track_id for t in loaded.tracks] == ["c"]
    assert [p.reason for p in loaded.problems] == ["a NUL character in the track_id"]


def test_training_names_genres_whose_held_out_tracks_could_not_be_read():
    """The split is made before any file is read: a corrupt file can take a genre's only test
    place, and its scores then leave the genre out without a word."""
    from genrekit.datasets import Dataset, Track
    from genrekit.train.run import _held_out_lost

    tracks = [Track(f"{g}{i}", f"/m/{g}{i}.wav", g, split=part) for g in ("jazz", "rock")
              for i, part in enumerate(("train", "train", "val", "test"))]
    dataset = Dataset(name="folder", root="/m", tracks=tracks)
    assert _held_out_lost(dataset, {"/m/jazz3.wav": "cannot be read"}) == ["jazz: no test track (1 unreadable)"]
    assert _held_out_lost(dataset, {"/m/rock2.wav": "x", "/m/rock0.wav": "x"}) == ["rock: no validation track (1 unreadable)"]
    assert _held_out_lost(dataset, {}) == []


def _noise_songs(folder: Path, names: list[str], *, seconds: float = 3.0, fmt: str | None = None) -> list[Path]:
    """Synthetic songs (seeded noise, each its own) named ``names`` in ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for name in names:
        rng = np.random.default_rng(sum(map(ord, f"{folder.name}/{name}")))
        path = folder / name
        sf.write(path, (0.2 * rng.standard_normal(int(seconds * 22050))).astype(np.float32), 22050, format=fmt)
        paths.append(path)
    return paths


def test_genre_folders_spelled_apart_by_case_are_merged_with_a_note_not_a_partial_run(tmp_path):
    """jazz/ and Jazz/ are one genre (every track kept, the merge said naming both): the note is
    not a track left out, so features and train exit 0 without a "left out" list; an
    unreadable file beside them still makes the run partial, and only it is listed."""
    from typer.testing import CliRunner

    from genrekit.cli.main import EXIT_OK, EXIT_PARTIAL, app
    from genrekit.datasets.core import left_out_and_notes

    root = tmp_path / "songs"
    _noise_songs(root / "jazz", ["a.wav", "b.wav", "c.wav"])
    _noise_songs(root / "Jazz", ["d.wav", "e.wav"])
    _noise_songs(root / "rock", ["f.wav", "g.wav", "h.wav", "i.wav"])
    dataset = load_folder(root)
    assert len(dataset) == 9 and dataset.labels == ["jazz", "rock"]
    left_out, notes = left_out_and_notes(dataset.problem_records())
    assert left_out == [] and [n["reason"] for n in notes] == [
        "genre 'Jazz' (2 tracks) differs from 'jazz' (3 tracks) only in case: labelled 'jazz'"]

    runner, cache = CliRunner(), tmp_path / "cache"
    result = runner.invoke(app, ["features", str(root), "--features", "gtzan57", "--jobs", "1", "--cache", str(cache),
                                 "--out", str(tmp_path / "features")])
    said = " ".join(result.output.split())
    assert result.exit_code == EXIT_OK, result.output
    assert "left out" not in said and "problem(s)" not in said, result.output
    assert "note:" in said and "genre 'Jazz' (2 tracks) differs from 'jazz' (3 tracks)" in said, result.output
    table = read_feature_table(tmp_path / "features" / "features.csv")
    assert len(set(table.tracks)) == 9 and table.labels == ["jazz", "rock"]

    trained = runner.invoke(app, ["train", str(root), "--model", "logreg", "--features", "gtzan57", "--no-cv",
                                  "--jobs", "1", "--cache", str(cache), "--out", str(tmp_path / "run")])
    said = " ".join(trained.output.split())
    assert trained.exit_code == EXIT_OK, trained.output
    assert "left out" not in said and "'Jazz'" in said and "'jazz'" in said, trained.output
    from genrekit.evaluate.html import write_html_report

    page = write_html_report(tmp_path / "run", tmp_path / "run.html").read_text()
    assert "left out:" not in page and "Notes on the data (every track kept)" in page  # the report too

    (root / "rock" / "broken.wav").write_bytes(b"RIFF\x00\x00\x00\x00not a wav file at all" * 10)
    partial = runner.invoke(app, ["features", str(root), "--features", "gtzan57", "--jobs", "1", "--cache", str(cache),
                                  "--out", str(tmp_path / "features-again")])
    said = " ".join(partial.output.split())
    assert partial.exit_code == EXIT_PARTIAL, partial.output
    assert "1 file(s) failed; left out:" in said and "broken.wav" in said, partial.output
    assert "dataset problem" not in said and "note:" in said, partial.output


def test_checking_tags_that_label_no_track_is_a_problem(tmp_path):
    """Tagged files whose every genre is under --min-per-genre, or files without genre tags,
    label no track: `datasets check --labels-from-tags` says so, naming the folder and what
    was expected, and exits 1 (it said "no problems found" and exited 0)."""
    import json

    import mutagen
    from typer.testing import CliRunner

    from genrekit.cli.main import EXIT_ERROR, app

    library = tmp_path / "Music"
    songs = _noise_songs(library, ["one.flac", "two.flac", "three.flac", "four.flac", "plain.flac"], fmt="FLAC")
    for path, genre in zip(songs, ("Jazz", "Jazz", "Rock", "Röck")):  # plain.flac: no genre tag
        tags = mutagen.File(path)
        tags["genre"] = [genre]
        tags.save()

    dataset = load_dataset(library, kind="tags", min_per_genre=5)
    assert len(dataset) == 0 and dataset.taxonomy.left_out == {"Jazz": 2, "Rock": 1, "Röck": 1}
    report = check_dataset(dataset, progress=False)
    assert not report.ok and [p.path for p in report.suspicious] == [str(library)]
    # the number asked for, and spellings that a map would make one genre (a review, 2026-12-07)
    assert report.suspicious[0].reason == (
        "no labelled track: expected audio files with genre tags, at least 5 (--min-per-genre 5) files of "
        "a genre; found 4 file(s) with genre tags, every genre of them under that (Jazz: 2, Rock: 1, Röck: 1); "
        "1 file(s) without a genre tag; spellings that look like one genre, which a genre map (--map) merges: "
        "Rock = Röck")

    runner = CliRunner()
    result = runner.invoke(app, ["datasets", "check", str(library), "--labels-from-tags"])
    said = " ".join(result.output.split())
    assert result.exit_code == EXIT_ERROR, result.output
    assert "no problems found" not in said and "problems found" in said, result.output
    assert f"{library}: no labelled track: expected audio files with genre tags" in said, result.output
    as_json = runner.invoke(app, ["datasets", "check", str(library), "--labels-from-tags", "--json"])
    assert as_json.exit_code == EXIT_ERROR and json.loads(as_json.stdout)["ok"] is False

    untagged = tmp_path / "Untagged"
    _noise_songs(untagged, ["a.flac", "b.flac"], fmt="FLAC")
    refused = runner.invoke(app, ["datasets", "check", str(untagged), "--labels-from-tags"])
    said = " ".join(refused.output.split())
    assert refused.exit_code == EXIT_ERROR and "no problems found" not in said, refused.output
    assert str(untagged) in said and "tagged with genres" in said, refused.output


@pytest.mark.parametrize(("counts", "far"), [
    # 6 tracks by 3 artists of 2: 2/2/2 where 4/1/1 was asked (33% test, 33% train): every part far
    ((2, 2, 2), {"train": [2, 4], "val": [2, 1], "test": [2, 1]}),
    # 9 tracks, 2 test (22%, over double the 10% asked): that part alone is named
    ((6, 1, 2), {"test": [2, 1]}),
    # 40 tracks by 2 artists: none for val, 20 for test (as the prolific-artist test above)
    ((20, 0, 20), {"val": [0, 4], "test": [20, 4]}),
    # 100 tracks: 75/10/15, off by 5 test tracks (over a quarter of the 10 asked)
    ((75, 10, 15), {"test": [15, 10]}),
    # near enough: exactly as rounded (5 tracks: 3/1/1, 20% test), one track off within the
    # shares (10 tracks: 6/2/2, 20% val and test, 60% train), or a quarter of the ask (100: 78/10/12)
    ((3, 1, 1), {}), ((6, 2, 2), {}), ((78, 10, 12), {}), ((6, 1, 1), {}), ((96, 12, 12), {}),
])
def test_a_genre_held_out_far_from_its_shares_is_told_relatively_and_absolutely(counts, far):
    """holdout_shortfalls flagged a part only when off by more than one track, so a genre of 6
    tracks split 2/2/2 (a third for test where a tenth was asked, a third trained on where
    four fifths were) went unreported. Now also a held-out share more than double, or a
    training share under half, of what was asked."""
    from genrekit.datasets.splits import holdout_shortfalls

    parts = np.repeat(["train", "val", "test"], counts)
    labels = ["g"] * len(parts) + ["h"] * 10
    parts = np.concatenate([parts, np.repeat(["train", "val", "test"], (8, 1, 1))])
    assert holdout_shortfalls(labels, parts, (0.8, 0.1, 0.1)) == ({"g": far} if far else {})


def test_gtzan_mini_split_by_default_is_60_10_10_with_no_uneven_holdouts(gtzan_mini, gtzan_dev, caplog):
    """The default split of gtzan-mini (8 clips a genre, no artists) is 6/1/1 a genre whatever
    the seed, and is not called far from its shares; nor is gtzan-dev's 32/4/4."""
    from genrekit.train.splits import assign_splits

    for root, per_genre in ((gtzan_mini, (6, 1, 1)), (gtzan_dev, (32, 4, 4))):
        dataset = load_gtzan(root)
        for seed in range(3):
            caplog.clear()
            with caplog.at_level("WARNING"):
                split, notes = assign_splits(dataset, split="random", sizes=(0.8, 0.1, 0.1), seed=seed)
            assert "uneven_holdouts" not in notes and "other shares than asked" not in caplog.text
            n = len(dataset.labels)
            assert notes["protocol"] == (f"random split by track (no artists known): 80/10/10% of each genre for "
                                         f"train/val/test, seed {seed}; {n * per_genre[0]}/{n * per_genre[1]}/"
                                         f"{n * per_genre[2]} tracks (80/10/10%)" if root == gtzan_dev else
                                         f"random split by track (no artists known): 80/10/10% of each genre for "
                                         f"train/val/test, seed {seed}; 60/10/10 tracks (75/12.5/12.5%)")
            for label in dataset.labels:
                assert tuple(sum(t.label == label and t.split == p for t in split.tracks)
                             for p in ("train", "val", "test")) == per_genre


def test_a_random_split_of_a_dataset_with_its_own_split_says_so(tmp_path, gtzan_mini, caplog):
    """A manifest's split column (FMA's set.split too) was ignored without a word by the default
    random split: scores that cannot be compared with others' on that split (a review, 2026-12-06)."""
    from genrekit.datasets import load_dataset
    from genrekit.train.splits import assign_splits

    rows = ["path,label,split"] + [f"{clip},{genre},{('train', 'train', 'val', 'test')[i % 4]}"
                                   for genre in ("jazz", "rock") for i, clip in
                                   enumerate(sorted((gtzan_mini / genre).iterdir()))]
    (tmp_path / "songs.csv").write_text("\n".join(rows) + "\n")
    dataset = load_dataset(tmp_path / "songs.csv")
    with caplog.at_level("WARNING"):
        assign_splits(dataset, split="random", sizes=(0.8, 0.1, 0.1), seed=0)
    assert "has its own train/val/test split (8/4/4 tracks), which this random split ignores" in caplog.text
    assert "--split dataset" in caplog.text
    caplog.clear()
    with caplog.at_level("WARNING"):
        assign_splits(dataset, split="dataset", sizes=(0.8, 0.1, 0.1), seed=0)
    assert "ignores" not in caplog.text


def test_copies_of_a_song_under_two_genres_are_warned_of_when_training(tmp_path, gtzan_mini, caplog):
    """`datasets check` named a song copied under another genre; `train` trained on it as both,
    silently (a review, 2026-12-06)."""
    import shutil

    from genrekit.datasets import load_dataset
    from genrekit.train.splits import assign_splits

    for genre in ("jazz", "rock"):
        shutil.copytree(gtzan_mini / genre, tmp_path / genre)
    shutil.copy(gtzan_mini / "jazz" / "jazz.00001.wav", tmp_path / "rock" / "my-copy.wav")
    with caplog.at_level("WARNING"):
        assign_splits(load_dataset(tmp_path, kind="folder"), split="random", sizes=(0.8, 0.1, 0.1), seed=0)
    assert "1 song(s) whose copies carry different genres" in caplog.text and "my-copy.wav (rock)" in caplog.text
    assert "look like spellings of one genre" not in caplog.text  # jazz, rock
    (tmp_path / "rock" / "my-copy.wav").unlink()
    caplog.clear()
    with caplog.at_level("WARNING"):
        assign_splits(load_dataset(tmp_path, kind="folder"), split="random", sizes=(0.8, 0.1, 0.1), seed=0)
    assert "carry different genres" not in caplog.text


def test_a_manifests_messages_name_the_manifest_not_its_folder(tmp_path, gtzan_mini, monkeypatch):
    """A manifest's root is its folder ("." beside it, ".." above it): the refusals of training
    and checking named that, where the manifest is what the user named."""
    from genrekit.datasets import check_genres
    from genrekit.train.splits import assign_splits, split_protocol

    clips = sorted((gtzan_mini / "jazz").iterdir())[:4]
    (tmp_path / "one.csv").write_text("path,label\n" + "".join(f"{c},jazz\n" for c in clips))
    (tmp_path / "sub").mkdir()
    monkeypatch.chdir(tmp_path / "sub")
    one = load_manifest(Path("../one.csv"))
    assert one.source == "../one.csv" and one.root == ".."
    with pytest.raises(DatasetError, match=r"^\.\./one\.csv: only one genre \('jazz', 4 tracks\)"):
        check_genres(one)
    with pytest.raises(DatasetError, match=r"^\.\./one\.csv: .*add a split column to \.\./one\.csv"):
        assign_splits(one, split="dataset", sizes=(0.8, 0.1, 0.1), seed=0)
    assert split_protocol(one, split="dataset", sizes=(0.8, 0.1, 0.1), seed=0) == "the dataset's own split (../one.csv)"
    assert split_protocol(one, split="gtzan-filtered", sizes=(0.8, 0.1, 0.1), seed=0) == \
        "GTZAN's fault-filtered split (Kereliuk & Sturm)"
    folder = load_gtzan(gtzan_mini)  # a folder's source is its root, and no manifest is named
    assert folder.source == folder.root
    above = load_gtzan(gtzan_mini.parent)  # named above its genres/ folder: run.json said .../genres
    assert above.source == str(gtzan_mini.parent) and above.root == str(gtzan_mini)
    with pytest.raises(DatasetError) as refused:
        assign_splits(folder, split="dataset", sizes=(0.8, 0.1, 0.1), seed=0)
    assert str(refused.value).startswith(f"{folder.root}: split='dataset'") and "split column" not in str(refused.value)


def test_a_manifest_row_naming_a_pipe_or_a_device_says_what_it_is(tmp_path, gtzan_mini):
    """A FIFO or /dev/zero in a manifest was reported "not found", though it exists."""
    from genrekit.datasets import load_dataset

    os.mkfifo(tmp_path / "pipe.wav")
    clip = gtzan_mini / "jazz" / "jazz.00001.wav"
    (tmp_path / "songs.csv").write_text(f"path,label\npipe.wav,jazz\n/dev/zero,jazz\n{clip},jazz\n{clip.parent / 'jazz.00002.wav'},rock\n")
    dataset = load_dataset(tmp_path / "songs.csv")
    reasons = [p.reason for p in dataset.problems]
    assert any("is not a regular file (a pipe)" in r for r in reasons), reasons
    assert any("is not a regular file (a character device)" in r for r in reasons), reasons
    assert len(dataset.tracks) == 2


def test_pipes_devices_and_folders_that_cannot_be_listed_in_a_folder_dataset_are_named(tmp_path, gtzan_mini,
                                                                                       monkeypatch):
    """An audit (2026-12-06): a pipe or a link to a device named like a song in a genre folder
    was skipped without a word (a manifest row naming one was reported), and so were folders
    that cannot be listed (another owner's): half the clips could go, "no problems found"."""
    root = _mini_copy(gtzan_mini, tmp_path / "genres")
    os.mkfifo(root / "blues" / "blues.00090.wav")
    (root / "jazz" / "jazz.00090.wav").symlink_to("/dev/zero")
    (root / "rock" / "live").mkdir()
    shutil.copy(next((root / "rock").glob("*.wav")), root / "rock" / "live" / "rock.00091.wav")
    listed = os.scandir

    def refusing(path="."):
        if os.fspath(path).endswith(("live", "jazz")):
            raise PermissionError(13, "Permission denied", os.fspath(path))
        return listed(path)

    monkeypatch.setattr(os, "scandir", refusing)
    for kind in ("auto", "folder"):
        dataset = load_dataset(tmp_path if kind == "auto" else root, kind=kind)
        assert "jazz" not in dataset.labels, kind
        assert sorted(p.reason for p in dataset.problems) == sorted([
            "not a regular file (a pipe); not read",
            "folder cannot be listed (Permission denied); the songs in it are left out",
            "folder cannot be listed (Permission denied); the songs in it are left out"]), (kind, dataset.problems)
        assert all(p.left_out for p in dataset.problems)
    monkeypatch.setattr(os, "scandir", listed)
    dataset = load_dataset(root, kind="folder")
    assert "not a regular file (a character device); not read" in [p.reason for p in dataset.problems]


def test_a_label_no_model_could_hold_is_a_rows_problem_not_the_whole_datasets(tmp_path, gtzan_mini):
    """An audit (2026-12-06): `datasets check` passed a label with a tab, or of 201 characters,
    and train then refused the whole dataset naming neither the row nor the line."""
    from genrekit.datasets import load_dataset

    clips = sorted((gtzan_mini / "jazz").iterdir())[:3]
    long = "r" * 201
    (tmp_path / "songs.csv").write_text(f"path,label\n{clips[0]},jazz\n{clips[1]},\"hard\trock\"\n{clips[2]},{long}\n")
    dataset = load_dataset(tmp_path / "songs.csv")
    assert [t.label for t in dataset.tracks] == ["jazz"]
    assert [p.reason for p in dataset.problems] == [
        f"label at {tmp_path / 'songs.csv'}:3: 'hard\\trock' holds the control character '\\t'; left out",
        f"label at {tmp_path / 'songs.csv'}:4: {long[:40]!r}... is 201 characters long (at most 200); left out"]
    root = _mini_copy(gtzan_mini, tmp_path / "folders", genres=("blues", "jazz"), per_genre=2)
    (root / "jazz").rename(root / long)
    dataset = load_dataset(root, kind="folder")
    assert dataset.labels == ["blues"] and [p.reason for p in dataset.problems] == [
        f"genre folder's name: {long[:40]!r}... is 201 characters long (at most 200); its songs are left out"]


def test_a_manifest_saved_as_latin_1_names_the_line_and_the_encoding(tmp_path):
    """pandas said "'utf-8' codec can't decode byte 0xe9 in position 4": no line, no hint."""
    from genrekit.datasets import load_dataset

    (tmp_path / "songs.csv").write_bytes("path,label\nb.wav,rock\nCafé.wav,jazz\n".encode("latin-1"))
    with pytest.raises(DatasetError, match=r"songs.csv: expected UTF-8 text, found byte b'\\xe9' at line 3, not "
                                           r"UTF-8 \(saved in another encoding, such as Latin-1"):
        load_dataset(tmp_path / "songs.csv")
    (tmp_path / "songs.csv").write_bytes(b"\xef\xbb\xbf" + "path,label\nb.wav,rock\nCafé.wav,jazz\n".encode("latin-1"))
    with pytest.raises(DatasetError, match=r"found byte b'\\xe9' at line 3"):  # with a BOM: the same byte and line
        load_dataset(tmp_path / "songs.csv")


def test_genres_spelled_apart_are_warned_of_when_training(tmp_path, gtzan_mini, caplog):
    """`datasets check` named "Hip Hop / Hip-Hop"; train learnt them as two genres, silently."""
    import shutil

    from genrekit.datasets import load_dataset
    from genrekit.train.splits import assign_splits

    for genre, source in (("Hip Hop", "hiphop"), ("Hip-Hop", "hiphop"), ("Jazz", "jazz")):
        (tmp_path / genre).mkdir()
        for clip in sorted((gtzan_mini / source).iterdir())[:4] if genre != "Hip-Hop" else \
                sorted((gtzan_mini / source).iterdir())[4:]:
            shutil.copy(clip, tmp_path / genre / clip.name)
    with caplog.at_level("WARNING"):
        assign_splits(load_dataset(tmp_path, kind="folder"), split="random", sizes=(0.5, 0.25, 0.25), seed=0)
    assert "look like spellings of one genre, trained as different genres: Hip Hop / Hip-Hop" in caplog.text


def test_the_dataset_stages_take_a_dataset_or_its_path(tmp_path):
    """as_dataset says the library's functions take either; these four gave an AttributeError
    ('str' object has no attribute 'tracks') for a path."""
    import soundfile as sf

    from genrekit.datasets import build_feature_table, check_dataset
    from genrekit.evaluate import dataset_folds
    from genrekit.features import FeatureSpec
    from genrekit.train import assign_splits

    rng = np.random.default_rng(0)
    for genre in ("jazz", "rock"):
        (tmp_path / genre).mkdir()
        for i in range(5):
            sf.write(tmp_path / genre / f"{i}.wav", (0.1 * rng.standard_normal(22050 * 4)).astype(np.float32), 22050)
    for given in (tmp_path, str(tmp_path)):
        assert check_dataset(given, progress=False).ok
        assert len(dataset_folds(given, n_splits=2)) == 2
        assert len(assign_splits(given)[0].tracks) == 10
        table, _ = build_feature_table(given, FeatureSpec("gtzan57"), progress=False)
        assert table.X.shape == (10, 57)
    with pytest.raises(ParameterError, match=r"^dataset: expected a Dataset \(genrekit.load_dataset\) or the path of one, found int"):
        check_dataset(3)


def test_a_genre_named_unknown_is_left_out_and_said_so(tmp_path):
    """A folder (or manifest row) of genre "unknown": genrekit's own answer for a song it cannot
    name. A model with it as a genre had its songs drawn and counted as "not music", and never
    tagged; such tracks are left out, and the dataset says why."""
    from genrekit.datasets import load_folder
    from genrekit.datasets.core import UNKNOWN_GENRE
    from genrekit.predict.song import UNKNOWN

    assert UNKNOWN_GENRE == UNKNOWN
    for genre in ("rock", "jazz", "unknown"):
        (tmp_path / genre).mkdir()
        for k in range(2):
            sf.write(tmp_path / genre / f"{genre}{k}.wav", np.zeros(100, dtype=np.float32), 22050)
    dataset = load_folder(tmp_path)
    assert dataset.labels == ["jazz", "rock"] and len(dataset) == 4
    left = [p for p in dataset.problems if "unknown" in p.path]
    assert len(left) == 2 and all(p.left_out and "genrekit's answer for a song it cannot name" in p.reason
                                  for p in left), dataset.problems
    # in any case: "Unknown" was kept where more tracks spelled it so than "unknown" (a review, 2026-12-07)
    (tmp_path / "unknown").rename(tmp_path / "Unknown")
    assert load_folder(tmp_path).labels == ["jazz", "rock"]


def test_a_dataset_path_that_is_neither_file_nor_folder_is_refused_by_what_it_is(tmp_path):
    """/dev/null (and a manifest linked to /dev/zero, which a manifest reader would read forever) ended
    in a NotADirectoryError traceback from the FMA sniffing; a pipe likewise."""
    from genrekit.datasets import load_dataset
    from genrekit.errors import DatasetError

    os.mkfifo(tmp_path / "pipe.csv")
    (tmp_path / "zero.csv").symlink_to("/dev/zero")
    for path, found, kind in (("/dev/null", "a character device", "auto"), (tmp_path / "pipe.csv", "a pipe", "auto"),
                              (tmp_path / "zero.csv", "a character device", "manifest")):
        with pytest.raises(DatasetError, match=f"expected a dataset folder or a CSV manifest, found {found}"):
            load_dataset(path, kind=kind)


def test_a_song_without_an_audio_extension_is_named_not_passed_over(tmp_path, gtzan_mini):
    """A song named without an extension, or with a space after it, was passed over without a
    word (a review, 2026-12-07); a file of text without one is no song, and not named."""
    for genre in ("jazz", "rock"):
        (tmp_path / genre).mkdir()
        shutil.copy(next((gtzan_mini / genre).iterdir()), tmp_path / genre / "a.wav")
    shutil.copy(next((gtzan_mini / "rock").iterdir()), tmp_path / "rock" / "track02")
    shutil.copy(next((gtzan_mini / "rock").iterdir()), tmp_path / "rock" / "track03.wav ")
    (tmp_path / "rock" / "README").write_text("notes")
    dataset = load_folder(tmp_path)
    assert len(dataset) == 2
    assert {Path(p.path).name: p.reason for p in dataset.problems} == {
        name: f"holds audio (a RIFF header), but its name {name!r} has no audio extension; left out (name it .mp3, "
              ".flac...)" for name in ("track02", "track03.wav ")}
