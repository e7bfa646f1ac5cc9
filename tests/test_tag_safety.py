"""A library's own genre tags are its user's data: keep by default, replace or append on
request, every write journalled before it is made, undone exactly, the audio never touched.

Real files made from a gtzan-mini clip in every format genrekit tags (mp3 with ID3v2.3 and
v2.4, flac, ogg, opus, m4a, and wav and aiff with an ID3 chunk), tagged through the command
line with a model trained in seconds.
"""

import csv
import datetime
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import mutagen
import numpy as np
import pytest
import soundfile as sf
import soxr
from mutagen.aiff import AIFF
from mutagen.id3 import ID3, TCON, TIT2
from mutagen.wave import WAVE
from typer.testing import CliRunner

import genrekit
from genrekit import audio
from genrekit.cli.main import EXIT_ERROR, EXIT_OK, EXIT_PARTIAL, EXIT_USAGE, app
from genrekit.datasets import load_gtzan
from genrekit.features import FeatureSpec
from genrekit.models import save_model
from genrekit.audio import tags as tags_module
from genrekit.predict.library import read_journal, undo_tags
from genrekit.audio.tags import plan_genre_tag, read_genre_field, read_song_tags, write_genre_tag
from genrekit.train import train_model

from conftest import write_m4a

runner = CliRunner()
SECONDS = 5
# name -> (the genre field the file starts with, None: absent)
FILES = {
    "tagged-id3v23.mp3": ["My Genre"], "bare-id3v23.mp3": None,  # bare: an ID3v2.3 tag with a title only
    "tagged-id3v24.mp3": ["My Genre"], "bare-notag.mp3": None,  # no ID3 tag at all
    "tagged.flac": ["My Genre"], "bare.flac": None,
    "tagged.ogg": ["My Genre"], "bare.ogg": None,
    "tagged.opus": ["My Genre"], "bare.opus": None,
    "tagged.m4a": ["My Genre"], "bare.m4a": None,
    "tagged.wav": ["My Genre"], "bare.wav": None,  # bare: no ID3 chunk
    "tagged.aiff": ["My Genre"], "bare.aiff": None,
}
N = len(FILES)
ID3_CHUNK = {".wav": WAVE, ".aiff": AIFF}  # formats whose ID3 tag is a chunk


@pytest.fixture(scope="module")
def small_model(tmp_path_factory, gtzan_mini):
    """gtzan57 + logreg on 5 s of two clips of each of two genres: trained in seconds."""
    root = tmp_path_factory.mktemp("small") / "genres"
    for genre in ("classical", "metal"):
        (root / genre).mkdir(parents=True)
        for number in (2, 3):
            y, sr = audio.load(next((gtzan_mini / genre).glob(f"{genre}.{number:05d}.*")), sr=None)
            sf.write(root / genre / f"{genre}.{number:05d}.wav", y[: SECONDS * sr], sr)
    model = train_model(load_gtzan(root), spec=FeatureSpec("gtzan57"), model="logreg", n_jobs=1, progress=False).model
    return save_model(model, root.parent / "small.genrekit")


@pytest.fixture(scope="module")
def originals(tmp_path_factory, clip):
    """Every file of FILES, made once from the clip: 5 s, with a title and its genre field."""
    root = tmp_path_factory.mktemp("originals")
    y, sr = sf.read(clip, dtype="float32")
    y = y[: SECONDS * sr]
    for name, genre in FILES.items():
        path = root / name
        if path.suffix == ".m4a":
            write_m4a(path, np.stack([y, 0.5 * y]), sr)
        elif path.suffix == ".opus":
            sf.write(path, soxr.resample(y, sr, 48000), 48000, format="OGG", subtype="OPUS")  # Opus: 48 kHz
        else:
            sf.write(path, y, sr, format={".mp3": "MP3", ".aiff": "AIFF"}.get(path.suffix))
        if path.suffix in ID3_CHUNK:
            if genre is not None:  # the bare ones have no ID3 chunk
                song = ID3_CHUNK[path.suffix](path)
                song.add_tags()
                song.tags.add(TIT2(encoding=3, text=["A title"]))
                song.tags.add(TCON(encoding=3, text=genre))
                song.save()
        elif path.suffix == ".mp3":
            if "notag" in name:
                continue
            tag = ID3()
            tag.add(TIT2(encoding=3, text=["A title"]))
            if genre is not None:
                tag.add(TCON(encoding=3, text=genre))
            tag.save(path, v2_version=3 if "v23" in name else 4)
        else:
            song = mutagen.File(path)
            if song.tags is None:
                song.add_tags()
            song.tags["\xa9nam" if path.suffix == ".m4a" else "title"] = ["A title"]
            if genre is not None:
                song.tags["\xa9gen" if path.suffix == ".m4a" else "genre"] = genre
            song.save()
    return root


@pytest.fixture
def library(tmp_path, originals):
    root = tmp_path / "Music"
    shutil.copytree(originals, root)
    return root


def exact_id3(path):
    """The file's ID3v2 tag as stored (frames untranslated), None when it has none."""
    if path.suffix in ID3_CHUNK:
        return ID3_CHUNK[path.suffix](path, translate=False, load_v1=False).tags
    try:
        return ID3(path, translate=False, load_v1=False)
    except mutagen.id3.ID3NoHeaderError:
        return None


def genre_field(path):
    """The genre field exactly as mutagen reads it (None: absent)."""
    if path.suffix == ".mp3" or path.suffix in ID3_CHUNK:
        tag = exact_id3(path)
        return list(tag["TCON"].text) if tag is not None and "TCON" in tag else None
    song = mutagen.File(path)
    key = "\xa9gen" if path.suffix == ".m4a" else "genre"
    return list(song.tags[key]) if song.tags is not None and key in song.tags else None


def all_tags(path):
    """Every tag of the file, as mutagen reads it: the whole metadata must come back as it was."""
    if path.suffix == ".mp3" or path.suffix in ID3_CHUNK:
        tag = exact_id3(path)
        return None if tag is None else (tag.version, sorted((key, repr(frame)) for key, frame in tag.items()))
    song = mutagen.File(path)
    if song.tags is None:
        return None
    items = song.tags.items() if path.suffix == ".m4a" else song.tags.as_dict().items()
    return sorted((key, repr(value)) for key, value in items)


def _mp3_frames(data: bytes) -> bytes:
    """An MP3's bytes outside its ID3v2 tag (at the start) and ID3v1 tag (the last 128 bytes)."""
    if data[:3] == b"ID3":
        size = 10 + sum((data[6 + i] & 0x7F) << (7 * (3 - i)) for i in range(4)) + (10 if data[5] & 0x10 else 0)
        data = data[size:]
    return data[:-128] if data[-128:-125] == b"TAG" else data


def _flac_frames(data: bytes) -> bytes:
    """A FLAC's bytes after its metadata blocks (the audio frames)."""
    offset, last = 4, False
    while not last:
        last = bool(data[offset] & 0x80)
        offset += 4 + int.from_bytes(data[offset + 1:offset + 4], "big")
    return data[offset:]


def _mp4_media(data: bytes) -> bytes:
    """An MP4's ``mdat`` atom (the encoded audio), wherever the tag rewrite moved it."""
    offset = 0
    while offset < len(data):
        size, kind = int.from_bytes(data[offset:offset + 4], "big"), data[offset + 4:offset + 8]
        if size == 1:
            size = int.from_bytes(data[offset + 8:offset + 16], "big")
        if kind == b"mdat":
            return data[offset + 8:offset + size]
        offset += size
    raise AssertionError("no mdat atom")


def _chunks(data: bytes, order: str) -> dict[bytes, bytes]:
    """The chunks of a RIFF (WAV, little endian) or FORM (AIFF, big endian) file: id -> data."""
    chunks, offset = {}, 12
    while offset + 8 <= len(data):
        kind, size = data[offset:offset + 4], int.from_bytes(data[offset + 4:offset + 8], order)
        chunks[kind] = data[offset + 8:offset + 8 + size]
        offset += 8 + size + size % 2
    return chunks


def _sound_chunks(data: bytes, suffix: str) -> bytes:
    """A WAV's ``fmt `` and ``data`` chunks, an AIFF's ``COMM`` and ``SSND``: the audio and its format."""
    chunks = _chunks(data, "little" if suffix == ".wav" else "big")
    names = (b"fmt ", b"data") if suffix == ".wav" else (b"COMM", b"SSND")
    assert all(name in chunks for name in names), sorted(chunks)
    return b"".join(chunks[name] for name in names)


def audio_of(path):
    """What must never change: the decoded samples, and the encoded audio bytes outside the tags."""
    data = path.read_bytes()
    if path.suffix == ".m4a":  # soundfile does not read MP4: its encoded audio, and PyAV's decoding of it
        return _mp4_media(data), audio.load(path, sr=None, mono=False)[0]
    samples = sf.read(path, dtype="float32")[0]
    if path.suffix in ID3_CHUNK:
        return _sound_chunks(data, path.suffix), samples
    raw = {".mp3": _mp3_frames, ".flac": _flac_frames}.get(path.suffix, lambda d: b"")(data)
    return raw, samples


def snapshot(root, names=FILES):
    return {name: (genre_field(root / name), all_tags(root / name), audio_of(root / name)) for name in names}


def assert_same_audio(before, after):
    for name in before:
        raw_before, samples_before = before[name][2]
        raw_after, samples_after = after[name][2]
        assert raw_before == raw_after, name
        assert np.array_equal(samples_before, samples_after), name


def tag(root, model, out, *options):
    result = runner.invoke(app, ["tag", str(root), "--model", str(model), "--out", str(out), "--write-tags",
                                 "--jobs", "1", *options])
    assert result.exit_code == EXIT_OK, result.output
    return result


def own_fields(path):
    """genrekit's provenance fields as mutagen reads them: ID3 ``TXXX:GENREKIT_*`` frames,
    ``GENREKIT_*`` Vorbis comments, MP4 ``----:org.genrekit:*`` atoms; name -> values."""
    if path.suffix == ".mp3" or path.suffix in ID3_CHUNK:
        tag = exact_id3(path)
        return {frame.desc[len("GENREKIT_"):]: list(frame.text) for frame in (tag.getall("TXXX") if tag else [])
                if frame.desc.startswith("GENREKIT_")}
    song = mutagen.File(path)
    if path.suffix == ".m4a":
        prefix = "----:org.genrekit:"
        return {key[len(prefix):]: [bytes(v).decode() for v in values] for key, values in (song.tags or {}).items()
                if key.startswith(prefix)}
    return {key[len("genrekit_"):].upper(): values for key, values in song.tags.as_dict().items()
            if key.startswith("genrekit_")}


def today():
    return datetime.datetime.now(datetime.timezone.utc).date().isoformat()


def genres_of(out):
    return {json.loads(line)["path"].rsplit("/", 1)[1]: json.loads(line) for line in out.read_text().splitlines()}


def test_keep_is_the_default_replace_sets_ours_and_undo_puts_back_every_tag(tmp_path, library, small_model):
    before = snapshot(library)
    original_bytes = {name: (library / name).read_bytes() for name in FILES}
    out = tmp_path / "tags.jsonl"
    result = tag(library, small_model, out)
    rows = genres_of(out)
    for name, genre in FILES.items():
        ours = rows[name]["genre"]
        assert ours in ("classical", "metal")
        if genre is None:  # a file without a genre gets ours
            assert genre_field(library / name) == [ours] and rows[name]["tag_action"] == "written", name
            assert rows[name]["tag_old"] is None and rows[name]["tag_new"] == [ours]
            assert own_fields(library / name) == {  # provenance in genrekit's own fields, never in GENRE
                "MODEL": [rows[name]["model"]], "VERSION": [genrekit.__version__],
                "CONFIDENCE": [f"{rows[name]['confidence']:.3f}"], "DATE": [today()], "GENRES": [ours]}, name
        else:  # keep: exactly what the user had, nothing written, and the row says why
            assert all_tags(library / name) == before[name][1], name
            assert rows[name]["tag_action"] == "kept" and not rows[name]["tag_written"], name
            assert "My Genre" in rows[name]["tag_error"] and "--existing keep" in rows[name]["tag_error"]
    assert ID3(library / "bare-id3v23.mp3").version == (2, 3, 0)  # saved in the version it had
    assert f"{library / 'tagged.flac'}: genre My Genre kept" in result.output
    assert_same_audio(before, snapshot(library))

    # The journal: each write's old and new values on disk before the write, its result after.
    lines = read_journal(tmp_path / "tags.jsonl.journal.jsonl")
    for name, genre in FILES.items():
        mine = [r for r in lines if r["path"] == str(library / name) and r.get("tag")]
        if genre is not None:
            assert not mine
            continue
        assert [r["tag"]["state"] for r in mine] == ["writing", "written"], name
        field, *own = mine[0]["tag"]["fields"]  # the genre field, then genrekit's own
        assert mine[0]["tag"]["fields"][field] == {"old": None, "new": [rows[name]["genre"]]}
        assert len(own) == 5 and all(mine[0]["tag"]["fields"][key]["old"] is None for key in own), name
        stat = (library / name).stat()
        assert mine[1]["tag"]["after"] == {"size": stat.st_size, "mtime_ns": stat.st_mtime_ns}

    result = tag(library, small_model, out, "--existing", "replace")
    assert f"; {N} done by an earlier run," in result.output  # the tag is decided again, nothing predicted again
    for name, genre in FILES.items():
        assert genre_field(library / name) == [rows[name]["genre"]], name
    assert f"{library / 'tagged.ogg'}: genre My Genre -> {rows['tagged.ogg']['genre']} (set)" in result.output
    assert ID3(library / "tagged-id3v23.mp3").version == (2, 3, 0)
    assert_same_audio(before, snapshot(library))

    undone = runner.invoke(app, ["tag", "--undo", str(out)])
    assert undone.exit_code == EXIT_OK, undone.output
    assert f"{N} restored" in undone.output
    after = snapshot(library)
    for name in FILES:  # every tag as it was, a genre that was absent absent again
        assert after[name][:2] == before[name][:2], name
    assert_same_audio(before, after)
    assert {name for name in FILES if (library / name).read_bytes() != original_bytes[name]} == set()
    again = runner.invoke(app, ["tag", "--undo", str(out)])
    assert again.exit_code == EXIT_OK and "0 restored" in again.output and "already undone" in again.output
    assert snapshot(library).keys() == after.keys() and all(snapshot(library)[n][:2] == after[n][:2] for n in FILES)
    undone_rows = genres_of(out)  # the table says what the undo did, and where each file is now
    for name, genre in FILES.items():
        row = undone_rows[name]
        assert row["tag_action"] == "undone" and not row["tag_written"] and row["tag_error"] is None, name
        assert row["tag_old"] == [rows[name]["genre"]] and row["tag_new"] == genre, name
        assert row["genre"] == rows[name]["genre"] and row["size"] == (library / name).stat().st_size, name
    result = runner.invoke(app, ["tag", str(library), "--model", str(small_model), "--out", str(out), "--jobs", "1"])
    assert result.exit_code == EXIT_OK and f"{N} files: {N} with a genre, 0 failed; {N} done by an earlier run, 0 now" in result.output, result.output
    assert genres_of(out) == undone_rows  # nothing predicted again, and the undo's rows kept


def test_undo_gives_back_the_bytes_of_songs_written_without_padding(tmp_path, clip, small_model):
    """libsndfile writes FLAC without a padding block and Ogg pages of its own layout: after a
    write and its undo, a FLAC kept the 1.8 KB of padding mutagen added and an Ogg file's pages
    were laid out anew, 95% of its bytes different (a new user's review, 2026-12). A file nothing
    else changed comes back byte for byte; one changed since gets its values back."""
    y, sr = sf.read(clip, dtype="float32")
    root = tmp_path / "Music"
    root.mkdir()
    sf.write(root / "song.flac", y, sr)
    sf.write(root / "song.ogg", y, sr)
    sf.write(root / "song.opus", soxr.resample(y, sr, 48000), 48000, format="OGG", subtype="OPUS")
    sf.write(root / "edited.flac", y, sr)
    before = {path.name: path.read_bytes() for path in root.iterdir()}
    out = tmp_path / "tags.csv"
    tag(root, small_model, out)
    assert all((root / name).read_bytes() != data for name, data in before.items())
    edited = mutagen.File(root / "edited.flac")
    edited["TITLE"] = "set by a player"
    edited.save()
    undone = runner.invoke(app, ["tag", "--undo", str(out)])
    assert undone.exit_code == EXIT_OK and "4 restored" in undone.output, undone.output
    for name in ("song.flac", "song.ogg", "song.opus"):
        assert (root / name).read_bytes() == before[name], name
    # the one a player changed since comes back in value, and the undo says so (it said "restored" alone,
    # and a user's cmp found the file changed; a review, 2026-12-07)
    said = " ".join(undone.output.split())
    assert "4 restored (1 in value, not byte for byte: README, Genre tags)" in said, undone.output
    assert [line for line in undone.output.splitlines() if "its values, not its bytes" in line] == [
        line for line in undone.output.splitlines() if line.startswith(str(root / "edited.flac"))], undone.output
    assert mutagen.File(root / "edited.flac").tags.as_dict() == {"title": ["set by a player"]}
    assert sf.read(root / "edited.flac", dtype="float32")[0].tobytes() == sf.read(clip, dtype="float32")[0].tobytes()


def test_a_write_after_a_dry_run_counts_the_files_the_dry_run_kept(tmp_path, library, small_model):
    """`--dry-run` said "8 kept, 8 would write"; the write after it "8 written" alone, as if the
    files with a genre had been forgotten (a new user's review, 2026-12): they are kept as the dry
    run decided, and the write says so."""
    out = tmp_path / "tags.csv"
    dry = tag(library, small_model, out, "--dry-run")
    n_kept = sum(genre is not None for genre in FILES.values())
    assert f"genre tags: {n_kept} kept, {N - n_kept} would write" in dry.output, dry.output
    assert "as an earlier run decided" not in dry.output
    written = tag(library, small_model, out)
    assert f"genre tags: {N - n_kept} written\n" in written.output
    assert f"{n_kept} files kept the genre they had, as an earlier run decided (--existing keep)" in written.output


def test_dry_run_shows_old_to_new_append_adds_ours_and_undo_refuses_a_changed_file(tmp_path, library, small_model,
                                                                                    monkeypatch):
    before, files = snapshot(library), {name: (library / name).read_bytes() for name in FILES}
    out = tmp_path / "tags.jsonl"
    dry = tag(library, small_model, out, "--existing", "append", "--dry-run")
    rows = genres_of(out)
    assert {name: (library / name).read_bytes() for name in FILES} == files  # nothing written
    ours = rows["tagged.flac"]["genre"]
    assert f"{library / 'tagged.flac'}: genre My Genre -> My Genre; {ours} (would set)" in dry.output
    assert rows["tagged.flac"]["tag_action"] == "would write"
    assert rows["tagged.flac"]["tag_old"] == ["My Genre"] and rows["tagged.flac"]["tag_new"] == ["My Genre", ours]
    assert rows["bare.opus"]["tag_old"] is None and rows["bare.opus"]["tag_new"] == [rows["bare.opus"]["genre"]]

    tag(library, small_model, out, "--existing", "append")
    for name, genre in FILES.items():
        ours = rows[name]["genre"]
        expected = [ours] if genre is None else [f"My Genre; {ours}"] if "v23" in name else ["My Genre", ours]
        assert genre_field(library / name) == expected, name
    # another --existing after a write leaves what was written (an undo first tags anew), and says so
    written = tag(library, small_model, out, "--existing", "replace")
    assert f"{N} file(s) whose tags an earlier run wrote with other options are left as it wrote them" in \
        " ".join(written.output.split())
    assert f"genrekit tag --undo {out}" in " ".join(written.output.split())
    assert "earlier run wrote" not in tag(library, small_model, out, "--existing", "append").output  # as it was
    assert genre_field(library / "tagged.flac") == ["My Genre", rows["tagged.flac"]["genre"]]
    for name in FILES:  # ours is there already: no duplicate, nothing written
        assert write_genre_tag(library / name, rows[name]["genre"], existing="append").action == "unchanged", name

    # The user edits one file's genre after the run, another's title; then an undo is killed after its third write.
    changed, retitled = library / "tagged.opus", library / "tagged.flac"
    song = mutagen.File(changed)
    song.tags["title"] = ["My own title"]
    song.tags["genre"] = ["My Genre", "Mine again"]
    song.save()
    song = mutagen.File(retitled)
    song.tags["title"] = ["Another title"]
    song.save()
    real_write, calls = tags_module.write_fields, []

    def killed_after_three(*args, **kwargs):
        result = real_write(*args, **kwargs)
        calls.append(args[0])
        if len(calls) == 3:
            raise KeyboardInterrupt
        return result

    monkeypatch.setattr(tags_module, "write_fields", killed_after_three)
    with pytest.raises(KeyboardInterrupt):
        undo_tags(out)
    monkeypatch.setattr(tags_module, "write_fields", real_write)
    progress = [json.loads(line) for line in (tmp_path / "tags.jsonl.undo.jsonl").read_text().splitlines()]
    assert [p["state"] for p in progress if p["path"] == calls[-1]] == ["restoring"]  # written, not yet recorded

    undone = runner.invoke(app, ["tag", "--undo", str(out)])
    assert undone.exit_code == EXIT_PARTIAL, undone.output
    assert f"{changed}: expected GENRE" in undone.output and "tags changed since it was tagged" in undone.output
    assert undone.output.count("already undone") == 2 and f"{N - 3} restored, 1 refused" in undone.output
    after = snapshot(library)
    for name in FILES:
        if library / name not in (changed, retitled):
            assert after[name][:2] == before[name][:2], name
    assert genre_field(changed) == ["My Genre", "Mine again"]  # left as the user left it
    assert mutagen.File(changed)["title"] == ["My own title"]
    # another field edited since, or a new mtime, does not stop an undo: genrekit's fields are put back alone
    assert genre_field(retitled) == ["My Genre"] and mutagen.File(retitled)["title"] == ["Another title"]
    assert_same_audio(before, after)


def test_what_is_written_and_where_is_checked_before_any_file_is_opened(tmp_path, originals):
    """A later review (2026-12-07): a pipe named song.flac blocked every tag read for ever; a web
    page saved as .mp3 got an ID3 tag in front of it; genres with control characters or of 10 MB,
    and separators or provenance of other types, reached the file or failed inside mutagen."""
    import os

    from genrekit.audio.tags import read_genre_tag
    from genrekit.errors import ParameterError

    os.mkfifo(tmp_path / "pipe.flac")
    with pytest.raises(ParameterError, match=r"pipe.flac: expected an audio file, found a pipe"):
        read_genre_tag(tmp_path / "pipe.flac")
    assert write_genre_tag(tmp_path / "pipe.flac", "rock").action == "failed"  # a library goes on past it
    page = tmp_path / "page.mp3"
    page.write_text("<html><body>404 not found</body></html>\n")
    change = write_genre_tag(page, "rock", existing="replace")
    assert change.action == "failed" and "found none the decoder reads" in change.error, change
    assert page.read_text() == "<html><body>404 not found</body></html>\n"
    song = tmp_path / "song.flac"
    shutil.copy(originals / "tagged.flac", song)
    before = song.read_bytes()
    for options, message in (({"genres": "ro\x07ck"}, r"genres: 'ro\\x07ck' holds the control character"),
                             ({"genres": "x" * 300}, r"genres: 'xxx.* is 300 characters long"),
                             ({"separator": 5}, r"separator=5: expected a short separator"),
                             ({"separator": ""}, r"separator='': expected a short separator"),
                             ({"provenance": [("MODEL", "x")]}, r"provenance=\[.*: expected a dict")):
        with pytest.raises(ParameterError, match=message):
            write_genre_tag(song, **{"genres": "rock", "existing": "replace", **options})
    assert song.read_bytes() == before


def test_append_while_converting_id3v23_to_v24_splits_the_joined_genres(tmp_path, originals):
    path = tmp_path / "joined.mp3"
    shutil.copy(originals / "tagged-id3v23.mp3", path)
    write_genre_tag(path, ["jazz", "blues"], existing="replace", id3v2_version=3)  # one TCON value "jazz; blues"
    assert list(exact_id3(path)["TCON"].text) == ["jazz; blues"]
    change = write_genre_tag(path, ["rock", "jazz"], existing="append", id3v2_version=4)
    assert exact_id3(path).version == (2, 4, 0) and change.action == "written"
    assert list(exact_id3(path)["TCON"].text) == ["jazz", "blues", "rock"]  # ours after theirs, jazz not twice
    write_genre_tag(path, ["metal"], existing="append", id3v2_version=3)  # back to v2.3: one value again
    assert list(exact_id3(path)["TCON"].text) == ["jazz; blues; rock; metal"]


def test_append_with_another_separator_follows_the_owners_and_adds_no_genre_twice(tmp_path, originals):
    """A v2.3 value "Rock; Pop" appended with --genre-separator / became "Rock; Pop/jazz/pop":
    two separators in one value, and pop twice (the owner's value was split at '/' alone).
    Theirs are split at '/', ';' and ours; ours follow the separator their value uses."""
    path = tmp_path / "joined.mp3"
    shutil.copy(originals / "tagged-id3v23.mp3", path)
    write_genre_tag(path, ["Rock", "Pop"], existing="replace", id3v2_version=3, separator="; ")
    change = write_genre_tag(path, ["jazz", "pop", "rock"], existing="append", id3v2_version=3, separator="/")
    assert change.action == "written" and list(exact_id3(path)["TCON"].text) == ["Rock; Pop; jazz"]
    flac = tmp_path / "joined.flac"  # a Vorbis comment holding two genres in one value: the same
    shutil.copy(originals / "tagged.flac", flac)
    write_genre_tag(flac, ["Rock/Pop"], existing="replace")
    assert write_genre_tag(flac, ["pop"], existing="append").action == "unchanged"


@pytest.mark.parametrize("theirs", [["Hip-Hop"], ["Hip Hop"], ["HIPHOP"], ["Hip-Hop/Rap"]])
def test_append_adds_no_genre_the_file_has_in_another_spelling(tmp_path, originals, theirs):
    """`--existing append` made "Hip-Hop" into "Hip-Hop; hiphop" and an ID3v2.3 "Hip-Hop/Rap"
    into "Hip-Hop/Rap/hiphop" (only case was ignored), while the same rows' own_as_model said
    the file already held hiphop (a library owner's review, 2026-12)."""
    flac = tmp_path / "spelled.flac"
    shutil.copy(originals / "tagged.flac", flac)
    write_genre_tag(flac, theirs, existing="replace")
    assert write_genre_tag(flac, ["hiphop"], existing="append").action == "unchanged"
    change = write_genre_tag(flac, ["hiphop", "r&b"], existing="append")
    assert change.action == "written" and list(read_genre_field(flac).genres) == [*theirs, "r&b"]
    mp3 = tmp_path / "spelled.mp3"
    shutil.copy(originals / "tagged-id3v23.mp3", mp3)
    write_genre_tag(mp3, ["/".join(theirs)], existing="replace", id3v2_version=3)
    assert write_genre_tag(mp3, ["hiphop"], existing="append", id3v2_version=3).action == "unchanged"


def test_append_adds_no_genre_the_file_has_in_a_spelling_the_model_learned(tmp_path, originals):
    """A model trained on a library's tags learned "Rap" for hiphop: its row's own_as_model said
    the file held hiphop, and append wrote "Rap; hiphop" (a code review, 2026-12)."""
    flac = tmp_path / "rap.flac"
    shutil.copy(originals / "tagged.flac", flac)
    write_genre_tag(flac, ["Rap"], existing="replace")
    assert plan_genre_tag(flac, ["hiphop"], existing="append", held=["hiphop"]).action == "unchanged"
    assert plan_genre_tag(flac, ["hiphop"], existing="append").action == "write"  # no spelling known: appended
    assert plan_genre_tag(flac, ["hiphop"], existing="replace", held=["hiphop"]).new_values == ["hiphop"]


@pytest.mark.parametrize("options, named", [
    (["--existing", "replace"], "--existing"), (["--dry-run"], "--dry-run"), (["--genres", "2"], "--genres"),
    (["--styles", "--id3v2-version", "3"], "--styles, --id3v2-version"), (["--genre-separator", "/"],
                                                                          "--genre-separator")])
def test_tag_refuses_write_options_without_write_tags_and_a_table_it_cannot_write(tmp_path, library, small_model,
                                                                                  options, named):
    """Options that shape tag writes, given without --write-tags, stop the run by name (they
    were ignored: a --dry-run then looked like a preview that found nothing to change), and
    --out must name a table genrekit writes. Nothing is analysed and nothing is written."""
    out = tmp_path / "tags.csv"
    result = runner.invoke(app, ["tag", str(library), "--model", str(small_model), "--out", str(out), *options])
    message = " ".join(result.output.split())
    assert result.exit_code == EXIT_USAGE and f"{named}: only with --write-tags" in message, result.output
    assert not out.exists()
    result = runner.invoke(app, ["tag", str(library), "--model", str(small_model), "--out", str(tmp_path / "t.txt")])
    message = " ".join(result.output.split())
    assert result.exit_code == EXIT_USAGE and "--out" in message and "t.txt: expected a results table named .csv, " \
        ".jsonl, .parquet, found .txt" in message, result.output


def test_tag_refuses_bad_options_by_name(tmp_path, library, small_model):
    result = runner.invoke(app, ["tag", str(library), "--model", str(small_model), "--existing", "merge"])
    assert result.exit_code == EXIT_USAGE and "--existing 'merge'" in result.output
    for option, value, expected in (("--genres", "0", "at least 1"), ("--id3v2-version", "2", "expected 3"),
                                    ("--genre-separator", " ", "visible character")):
        result = runner.invoke(app, ["tag", str(library), "--model", str(small_model), "--write-tags", option, value])
        assert result.exit_code == EXIT_USAGE and option in result.output and expected in result.output, result.output
    result = runner.invoke(app, ["tag", "--undo", str(tmp_path / "none.csv")])
    assert result.exit_code == 1 and "none.csv" in result.output and "journal" in result.output
    result = runner.invoke(app, ["tag", str(library), "--undo", str(tmp_path / "none.csv")])
    assert result.exit_code == EXIT_USAGE and "--undo" in result.output


def _ranked(row):
    return sorted(row["probabilities"], key=lambda g: -row["probabilities"][g])


def _vorbis_genres(path):
    """The GENRE comments of a FLAC/Ogg/Opus file, one entry per comment as stored."""
    return [value for key, value in mutagen.File(path).tags if key.upper() == "GENRE"]


def test_two_genres_each_format_by_its_convention_read_back_by_a_second_reader(tmp_path, library, small_model):
    from tinytag import TinyTag

    before = snapshot(library)
    out = tmp_path / "replace.jsonl"
    tag(library, small_model, out, "--existing", "replace", "--genres", "2", "--min-confidence", "0")
    rows = genres_of(out)
    for name in FILES:
        two = _ranked(rows[name])  # the small model knows two genres: both are written (no floor: 0)
        assert len(two) == 2 and two[0] == rows[name]["genre"], name
        expected = ["; ".join(two)] if "v23" in name else two  # ID3v2.3: one TCON value, joined
        assert genre_field(library / name) == expected and rows[name]["tag_new"] == expected, name
        if name.endswith((".flac", ".ogg", ".opus")):
            assert _vorbis_genres(library / name) == two, name  # two GENRE comments
        if name.endswith(".mp3"):  # another reader sees the same genres
            assert TinyTag.get(library / name).as_dict()["genre"] == expected, name
    assert ID3(library / "tagged-id3v24.mp3").version == (2, 4, 0) and ID3(library / "bare-notag.mp3").version == (2, 4, 0)
    assert_same_audio(before, snapshot(library))
    undone = runner.invoke(app, ["tag", "--undo", str(out)])
    assert undone.exit_code == EXIT_OK and f"{N} restored" in undone.output, undone.output
    assert all(snapshot(library)[name][:2] == before[name][:2] for name in FILES)

    # Append two genres, every ID3 tag saved as v2.3 (converted where it was v2.4): one joined value.
    out = tmp_path / "append.jsonl"
    result = tag(library, small_model, out, "--existing", "append", "--genres", "2", "--min-confidence", "0", "--id3v2-version", "3",
                 "--genre-separator", " / ")
    rows = genres_of(out)
    converted = [r for r in read_journal(tmp_path / "append.jsonl.journal.jsonl") if (r.get("tag") or {}).get("id3_tag")]
    assert converted and {r["tag"]["state"] for r in converted} == {"writing"}  # each old tag journalled once
    for name, genre in FILES.items():
        two = _ranked(rows[name])
        values = [*(genre or []), *two]
        if name.endswith((".mp3", ".wav", ".aiff")):
            assert genre_field(library / name) == [" / ".join(values)], name
            assert exact_id3(library / name).version == (2, 3, 0), name
        else:
            assert genre_field(library / name) == values, name
        if name.endswith(".mp3"):
            assert TinyTag.get(library / name).as_dict()["genre"] == [" / ".join(values)], name
    assert f"{library / 'tagged-id3v24.mp3'}: genre My Genre -> My Genre / {' / '.join(two)} (set)" in result.output
    assert_same_audio(before, snapshot(library))
    undone = runner.invoke(app, ["tag", "--undo", str(out)])
    assert undone.exit_code == EXIT_OK and f"{N} restored" in undone.output, undone.output
    after = snapshot(library)
    for name in FILES:  # the v2.4 tags are v2.4 again, every frame as it was
        assert after[name][:2] == before[name][:2], name
    assert_same_audio(before, after)


def test_an_undo_whose_version_conversion_lost_its_journal_line_refuses_that_file_by_name(tmp_path, originals,
                                                                                         small_model):
    """A write that converted an ID3v2.4 tag to v2.3 keeps the old tag in its "writing" journal
    line. With that line damaged on disk, undo cannot put the v2.4 tag back exactly: it
    refuses that file by name and puts the other files back (a KeyError stopped the whole
    undo before 2026-12-02)."""
    library = tmp_path / "lib"
    library.mkdir()
    shutil.copy(originals / "tagged-id3v24.mp3", library / "song.mp3")
    shutil.copy(originals / "tagged.flac", library / "other.flac")
    before = (library / "other.flac").read_bytes()
    out = tmp_path / "tags.jsonl"
    tag(library, small_model, out, "--existing", "append", "--id3v2-version", "3")
    journal = tmp_path / "tags.jsonl.journal.jsonl"
    lines = journal.read_text().splitlines(keepends=True)
    converting = [bool((json.loads(line).get("tag") or {}).get("id3_tag")) for line in lines]
    assert sum(converting) == 1
    journal.write_text("".join("{damaged by the disk\n" if hit else line for line, hit in zip(lines, converting)))
    undone = runner.invoke(app, ["tag", "--undo", str(out)])
    assert undone.exit_code == EXIT_PARTIAL, undone.output
    message = " ".join(undone.output.split())
    assert "song.mp3: a write converted its ID3v2 version, and the journal line holding the tag as it was is " \
           "damaged" in message, message
    assert (library / "other.flac").read_bytes() == before
    assert exact_id3(library / "song.mp3").version == (2, 3, 0)  # left as genrekit's write made it


def test_an_undo_of_a_version_conversion_keeps_an_edit_that_kept_the_files_size_and_mtime(tmp_path, originals,
                                                                                           small_model):
    """Undoing an ID3v2.4 -> v2.3 conversion puts the whole old tag back, so it is made only
    where nothing changed the tag since. A tagger that edits another frame inside the tag's
    padding and keeps timestamps leaves size and mtime as genrekit left them: the tag's bytes
    (hashed in the journal) show the edit, the file is refused by name, and the owner's title
    stays (it was wiped before 2026-12-04)."""
    library = tmp_path / "lib"
    library.mkdir()
    song = library / "song.mp3"
    shutil.copy(originals / "tagged-id3v24.mp3", song)
    out = tmp_path / "tags.jsonl"
    tag(library, small_model, out, "--existing", "append", "--id3v2-version", "3")
    assert exact_id3(song).version == (2, 3, 0)
    written = os.stat(song)
    owners = ID3(song)
    owners["TIT2"] = TIT2(encoding=3, text=["B title"])  # as long as "A title": the padding absorbs it
    owners.save(song, v2_version=3)
    os.utime(song, ns=(written.st_atime_ns, written.st_mtime_ns))  # "preserve timestamps"
    assert (os.stat(song).st_size, os.stat(song).st_mtime_ns) == (written.st_size, written.st_mtime_ns)
    undone = runner.invoke(app, ["tag", "--undo", str(out)])
    assert undone.exit_code == 1, undone.output  # its only file refused
    message = " ".join(undone.output.split())
    assert "song.mp3: genrekit converted its ID3 tag's version" in message and "changed since" in message, message
    assert "set its genre back by hand to" in message and "id3_tag" in message  # a way forward
    assert list(exact_id3(song)["TIT2"].text) == ["B title"] and exact_id3(song).version == (2, 3, 0)


@pytest.mark.parametrize("suffix, damage, why", [
    (".jsonl", "{the disk ate this\n", r"line 3 is not JSON"),
    (".jsonl", "[1, 2]\n", r"line 3 is not a row with a 'path' \(found \[1, 2\]\)"),
    (".csv", "a,b\n", r"line 4 does not have the header's \d+ cells")])
def test_an_undo_whose_results_table_was_damaged_names_its_line_and_puts_the_tags_back(tmp_path, originals,
                                                                                      small_model, suffix, damage,
                                                                                      why):
    """The results table an undo updates may have been edited by hand or damaged since: the
    tags are put back, the journal records it, and the table is left as it is, with a message
    naming it and the line (a JSONDecodeError or KeyError traceback before 2026-12-04)."""
    library = tmp_path / "lib"
    library.mkdir()
    for name in ("tagged.flac", "tagged-id3v24.mp3"):
        shutil.copy(originals / name, library / name)
    before = {name: genre_field(library / name) for name in ("tagged.flac", "tagged-id3v24.mp3")}
    out = tmp_path / f"tags{suffix}"
    tag(library, small_model, out, "--existing", "replace")
    with open(out, "a", encoding="utf-8") as handle:
        handle.write(damage)
    damaged_table = out.read_bytes()
    undone = runner.invoke(app, ["tag", "--undo", str(out)])
    assert undone.exit_code == 1, undone.output
    message = " ".join(undone.output.split())
    assert re.search(f"{re.escape(out.name)}: {why}", message), message
    assert "the tags were put back" in message and "Traceback" not in undone.output
    assert {name: genre_field(library / name) for name in before} == before
    assert out.read_bytes() == damaged_table


def test_copies_that_killed_writes_left_are_removed_by_the_next_write_in_their_folder(tmp_path, originals,
                                                                                     monkeypatch):
    """A SIGKILL between a write's copy and its rename leaves a hidden copy of the whole song. A
    later run's first write in that folder removes those whose writer has gone, and only those:
    not a live writer's (this process, pid 1), not a look-alike that is a link or has another
    name, not one from another machine or container or an older version younger than an hour."""
    here = tags_module._machine()
    copy = tags_module._new_copy(str(tmp_path))  # the name a write's copy gets: the pattern the sweep knows
    assert tags_module._COPY_NAME.fullmatch(Path(copy).name).groups() == (here, str(os.getpid())), copy
    os.remove(copy)

    root = tmp_path / "Music"
    root.mkdir()
    song = shutil.copy(originals / "bare.flac", root / "song.flac")
    ended = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    gone = int(ended.stdout)
    elsewhere = "00000000" if here != "00000000" else "11111111"
    dead = f".genrekit-{here}-{gone}-abc_1234.tag"
    old_kinds = {".genrekit-unnamed0.tag", f".genrekit-{elsewhere}-{gone}-frgn0000.tag"}
    kept = {f".genrekit-{here}-{os.getpid()}-live0000.tag", f".genrekit-{here}-1-init0000.tag", *old_kinds,
            ".genrekit-probe-x1y2z3w4", f"{dead}.keep", f".genrekit-{here}-{'١٢'}-abcdefgh.tag"}
    dead_song = f".genrekit-{here}-{gone}-abc_5678.tag-song.flac"  # a copy named for beets' MediaFile
    kept.add(f".genrekit-{here}-{gone}-abc_9012.tag.flac")  # not a name genrekit gives
    for name in (dead, dead_song, *kept):
        shutil.copy(song, root / name)
    link = root / f".genrekit-{here}-{gone}-alink000.tag"
    link.symlink_to(song)

    monkeypatch.setattr(tags_module, "_swept", set())
    change = write_genre_tag(song, "Jazz")
    assert change.action == "written", change
    remaining = {p.name for p in root.iterdir()}
    assert dead not in remaining and dead_song not in remaining, "the dead writer's copies were left"
    assert remaining == {"song.flac", link.name} | kept, remaining
    assert link.is_symlink() and (root / "song.flac").is_file()

    monkeypatch.setattr(tags_module, "_UNASKABLE_COPY_AGE", -1)  # as if an hour had passed
    assert {Path(p).name for p in tags_module.remove_stale_copies(root)} == old_kinds


def test_a_sigkill_during_write_tags_leaves_no_half_written_file_and_the_rerun_finishes(tmp_path, originals,
                                                                                     small_model):
    """20 files (every format, some twice); ``genrekit tag --write-tags`` killed with SIGKILL
    once the journal holds a few writes: each file is as it was or fully tagged, never between;
    the re-run finishes the rest, and --undo puts every file back."""
    root = tmp_path / "Music"
    shutil.copytree(originals, root)
    extra = ["tagged.flac", "bare-id3v23.mp3", "tagged.m4a", "bare.wav"]
    for name in extra:
        shutil.copy(originals / name, root / f"copy-{name}")
    names = [*FILES, *(f"copy-{name}" for name in extra)]
    assert len(names) == 20
    before = snapshot(root, names)
    out = tmp_path / "tags.jsonl"
    journal = tmp_path / "tags.jsonl.journal.jsonl"
    command = [sys.executable, "-m", "genrekit", "tag", str(root), "--model", str(small_model), "--out", str(out),
               "--write-tags", "--existing", "replace", "--genres", "2", "--min-confidence", "0", "--jobs", "1"]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    writes = lambda: [r for r in read_journal(journal) if (r.get("tag") or {}).get("state") == "written"]  # noqa: E731
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and process.poll() is None and len(writes()) < 4:
        time.sleep(0.01)
    process.send_signal(signal.SIGKILL)
    _, stderr = process.communicate()
    done = len(writes())
    assert process.returncode == -signal.SIGKILL, stderr.decode()
    assert 4 <= done < 20, f"the run should have been killed midway, after {done} writes"

    planned = {}  # what each file journalled before its write: the genre field it was to get
    for record in read_journal(journal):
        if (record.get("tag") or {}).get("state") == "writing":
            field = next(iter(record["tag"]["fields"]))
            planned[record["path"].rsplit("/", 1)[1]] = record["tag"]["fields"][field]["new"]
    killed = snapshot(root, names)
    assert_same_audio(before, killed)  # every file decodes to the same samples, from the same audio bytes
    untouched = tagged = 0
    for name in names:
        if killed[name][1] == before[name][1]:
            untouched += 1
        else:  # fully written: the genres it was to get, and genrekit's fields with them
            assert killed[name][0] == planned[name], name
            assert set(own_fields(root / name)) == {"MODEL", "VERSION", "CONFIDENCE", "DATE", "GENRES"}, name
            tagged += 1
    assert tagged >= done and untouched >= 20 - len(planned)

    result = runner.invoke(app, command[3:])  # the re-run in-process: the same arguments, after "-m genrekit"
    assert result.exit_code == EXIT_OK, result.output
    rows = genres_of(out)
    assert sorted(rows) == sorted(names)
    for name in names:
        two = _ranked(rows[name])
        assert genre_field(root / name) == (["; ".join(two)] if "v23" in name else two), name
    assert not list(root.rglob(".*")), "a temporary copy was left behind"
    assert_same_audio(before, snapshot(root, names))

    undone = runner.invoke(app, ["tag", "--undo", str(out)])
    assert undone.exit_code == EXIT_OK and "20 restored" in undone.output, undone.output
    after = snapshot(root, names)
    for name in names:
        assert after[name][:2] == before[name][:2], name
    assert_same_audio(before, after)


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_undo_updates_the_results_table(tmp_path, originals, small_model, suffix):
    import pandas as pd

    root = tmp_path / "Music"
    root.mkdir()
    names = ["tagged-id3v24.mp3", "bare.flac", "bare.wav"]
    for name in names:
        shutil.copy(originals / name, root / name)
    out = tmp_path / f"tags{suffix}"
    tag(root, small_model, out, "--existing", "replace")
    read = pd.read_csv if suffix == ".csv" else pd.read_parquet
    written = read(out).set_index("path")
    listed = (lambda v: None if pd.isna(v) else json.loads(v)) if suffix == ".csv" else (
        lambda v: None if v is None else list(v))
    assert written.tag_action.tolist() == ["written"] * 3
    undone = runner.invoke(app, ["tag", "--undo", str(out)])
    assert undone.exit_code == EXIT_OK and "3 restored" in undone.output, undone.output
    table = read(out).set_index("path")
    assert list(table.columns) == list(written.columns) and list(table.index) == list(written.index)
    for name in names:
        row, path = table.loc[str(root / name)], root / name
        assert row.tag_action == "undone" and not row.tag_written, name
        assert listed(row.tag_old) == [written.loc[str(path), "genre"]], name
        assert listed(row.tag_new) == FILES[name], name  # what the file had: ["My Genre"], or no genre
        assert row["size"] == path.stat().st_size and row.mtime_ns == path.stat().st_mtime_ns, name
        assert genre_field(path) == FILES[name] and not own_fields(path), name
    same = ["genre", "confidence", "model", "error", "p_classical", "p_metal"]
    pd.testing.assert_frame_equal(table[same], written[same])  # the rest of the table as it was


def test_an_undo_of_a_genre_of_200k_characters_updates_its_table_and_prints_it_cut(tmp_path, originals, small_model):
    """An audit (2026-12-06): the undo read the CSV table at the csv module's 131072-character
    cell limit, so a song whose genre tag was longer (a tag gone wrong) left its table stale
    for good (exit 1, every rerun the same), and its line printed the whole genre."""
    import csv

    import pandas as pd

    path = _one_file(tmp_path, originals, "tagged.flac")
    song = mutagen.File(path)
    song.tags["genre"] = ["y" * 200_000]
    song.save()
    out = tmp_path / "tags.csv"
    tag(path.parent, small_model, out, "--existing", "replace")
    undone = runner.invoke(app, ["tag", "--undo", str(out)])
    assert undone.exit_code == EXIT_OK and "1 restored" in undone.output, undone.output[-500:]
    assert max(map(len, undone.output.splitlines())) < 1000 and "(200000 characters)" in undone.output
    assert pd.read_csv(out).tag_action.tolist() == ["undone"]
    assert genre_field(path) == ["y" * 200_000]
    assert csv.field_size_limit() == 131072  # the csv module's limit, as it was


def test_names_that_look_like_markup_are_printed_as_they_are_and_every_write_is_journalled(tmp_path, originals,
                                                                                          small_model):
    """Rich reads "[...]" as markup: a file named "[bold red]loud" lost its brackets, and a
    folder whose path holds "[/b]" crashed ``tag`` after the write, before its journal line."""
    root = tmp_path / "My [/b] Music"
    names = {"Mix [/b] Vol 1/Best of [2019] [live].flac": "tagged.flac", "[bold red]loud.wav": "tagged.wav"}
    for name, source in names.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(originals / source, root / name)
    out = tmp_path / "tags.jsonl"
    result = tag(root, small_model, out, "--existing", "replace")
    for name in names:
        assert f"{root / name}: genre My Genre -> " in result.output, result.output
        assert genre_field(root / name) != ["My Genre"]
    journal = read_journal(out.with_name(out.name + ".journal.jsonl"))
    assert {r["path"] for r in journal if r["tag"] and r["tag"]["state"] == "written"} == {str(root / n) for n in names}
    undone = runner.invoke(app, ["tag", "--undo", str(out)])
    assert undone.exit_code == EXIT_OK, undone.output
    assert all(genre_field(root / name) == ["My Genre"] for name in names)
    shown = runner.invoke(app, ["predict", "--model", str(small_model), *(str(root / n) for n in names)],
                          env={"COLUMNS": "200"})
    assert shown.exit_code == EXIT_OK, shown.output
    assert "Best of [2019] [live].flac" in shown.output and "[bold red]loud.wav" in shown.output

    # whatever a caller's on_tag_change does, each write is journalled before it is told
    from genrekit.predict.library import tag_library

    def fails(change):
        raise RuntimeError("a caller's display broke")

    with pytest.raises(RuntimeError):
        tag_library(root, small_model, tmp_path / "again.jsonl", n_jobs=1, write_tags=True, existing="replace",
                    progress=False, on_tag_change=fails)
    journal = read_journal(tmp_path / "again.jsonl.journal.jsonl")
    assert [r["tag"]["state"] for r in journal if r["tag"]][-1] == "written"


# --- what a tag write must leave as it was (found by a review of real taggers' files) ---

def _one_file(tmp_path, originals, name, new_name=None):
    root = tmp_path / "Music"
    root.mkdir(exist_ok=True)
    shutil.copy(originals / name, root / (new_name or name))
    return root / (new_name or name)


@pytest.mark.parametrize("name", ["tagged-id3v24.mp3", "tagged.wav", "tagged.flac"])
def test_a_tag_mutagen_would_garble_is_refused_and_left_byte_for_byte(tmp_path, originals, name):
    """A title declared UTF-8 but holding Latin-1 (a common tagger bug): mutagen drops such an
    ID3 frame and turns such a Vorbis comment into U+FFFD, so saving would lose the title."""
    path = _one_file(tmp_path, originals, name)
    data = path.read_bytes()
    assert data.count(b"A title") == 1
    path.write_bytes(data.replace(b"A title", b"A titl\xe9"))
    before = path.read_bytes()
    change = write_genre_tag(path, "metal", existing="replace")
    assert change.action == "failed" and "would be lost or changed" in change.error, change
    assert ("TIT2" if name.endswith((".mp3", ".wav")) else "title") in change.error.lower().replace("tit2", "TIT2")
    assert path.read_bytes() == before
    assert sorted(p.name for p in path.parent.iterdir()) == [name]  # no temporary copy left


def test_a_genre_frame_mutagen_cannot_decode_is_named_not_read_as_no_genre(tmp_path, originals):
    """mutagen drops an ID3 frame whose text is not in its declared encoding: a TCON holding
    Latin-1 where it says UTF-8 was read as no genre at all (the writer refused it; the reader
    was silent), so a library's own genre went missing from training without a word."""
    from genrekit.datasets import load_tagged

    path = _one_file(tmp_path, originals, "tagged-id3v24.mp3")
    path.write_bytes(path.read_bytes().replace(b"My Genre", b"My Genr\xe9"))
    message = "expected a readable genre, found a TCON frame whose text is not in its declared encoding"
    for read in (read_song_tags, read_genre_field):
        with pytest.raises(genrekit.errors.ParameterError, match=re.escape(f"{path}: {message}")):
            read(path)
    shutil.copy(originals / "tagged-id3v24.mp3", path.parent / "fine.mp3")
    dataset = load_tagged(path.parent)
    assert [t.path for t in dataset.tracks] == [str(path.parent / "fine.mp3")]
    assert any(message in str(problem) for problem in dataset.problems), dataset.problems


def test_a_vorbis_entry_without_a_name_is_refused(tmp_path, originals):
    path = _one_file(tmp_path, originals, "tagged.flac")
    data = path.read_bytes()
    path.write_bytes(data.replace(b"title=A title", b"titleXA title").replace(b"TITLE=A title", b"TITLEXA title"))
    before = path.read_bytes()
    change = write_genre_tag(path, "metal", existing="replace")
    assert change.action == "failed" and "without a valid field name" in change.error
    assert path.read_bytes() == before


def test_id3v23_multi_values_and_other_frames_stay_as_they_were(tmp_path, originals, small_model):
    """mutagen joins several values of a v2.3 frame with "/" on save: an artist list the user
    had became one artist, and an undo could not put back two genres."""
    from mutagen.id3 import TPE1

    path = _one_file(tmp_path, originals, "tagged-id3v23.mp3")
    tag_ = ID3(path)
    tag_.add(TPE1(encoding=0, text=["Artist A", "Artist B"]))
    tag_.setall("TCON", [TCON(encoding=0, text=["Rock", "Pop"])])
    tag_.save(path, v2_version=3, v23_sep=None)  # NUL-separated values, as several taggers write v2.3
    before = all_tags(path)
    out = tmp_path / "tags.jsonl"
    tag(path.parent, small_model, out, "--existing", "replace")
    assert list(exact_id3(path)["TPE1"].text) == ["Artist A", "Artist B"]
    assert exact_id3(path).version == (2, 3, 0) and len(genre_field(path)) == 1
    assert [f.status for f in undo_tags(out).files] == ["restored"]
    assert genre_field(path) == ["Rock", "Pop"]
    assert [(k, v) for k, v in all_tags(path)[1] if k != "TCON"] == [(k, v) for k, v in before[1] if k != "TCON"]


def test_a_vorbis_genre_keeps_its_spelling_and_place(tmp_path, originals):
    from mutagen.flac import FLAC

    path = _one_file(tmp_path, originals, "bare.flac")
    song = FLAC(path)
    song.tags.clear()
    song.tags.extend([("TITLE", "T"), ("Genre", "Rock"), ("ARTIST", "A")])
    song.save()
    change = write_genre_tag(path, ["metal", "pop"], existing="replace")
    assert change.action == "written", change
    entries = [(k, v) for k, v in FLAC(path).tags if not k.upper().startswith("GENREKIT_")]
    assert entries == [("TITLE", "T"), ("Genre", "metal"), ("Genre", "pop"), ("ARTIST", "A")]


def test_a_song_behind_a_link_is_tagged_where_it_lives_and_the_link_stays(tmp_path, originals, small_model):
    store = tmp_path / "store"
    store.mkdir()
    shutil.copy(originals / "bare.flac", store / "song.flac")
    library = tmp_path / "Music"
    library.mkdir()
    (library / "song.flac").symlink_to(store / "song.flac")
    out = tmp_path / "tags.jsonl"
    tag(library, small_model, out)
    assert (library / "song.flac").is_symlink() and genre_field(store / "song.flac") is not None
    assert [f.status for f in undo_tags(out).files] == ["restored"]
    assert (library / "song.flac").is_symlink() and genre_field(store / "song.flac") is None


def test_a_flac_without_comments_gets_none_back_after_undo(tmp_path, originals, small_model):
    from mutagen.flac import FLAC

    path = _one_file(tmp_path, originals, "bare.flac")
    song = FLAC(path)
    song.delete()
    assert FLAC(path).tags is None
    out = tmp_path / "tags.jsonl"
    tag(path.parent, small_model, out)
    assert FLAC(path).tags is not None
    assert [f.status for f in undo_tags(out).files] == ["restored"]
    assert FLAC(path).tags is None


def test_any_file_name_can_be_tagged_and_tabled(tmp_path, originals, small_model):
    """A 250-byte name (the temporary copy's name once overflowed), and a name that is not
    UTF-8 (old rips): the table keeps its bytes, in CSV and in Parquet."""
    import pandas as pd

    long_name = "ж" * 120 + ".flac"  # 245 bytes
    path = _one_file(tmp_path, originals, "bare.flac", long_name)
    latin = os.fsdecode(b"caf\xe9.flac")
    shutil.copy(originals / "bare.flac", path.parent / latin)
    for suffix in (".csv", ".parquet"):
        out = tmp_path / f"tags{suffix}"
        result = tag(path.parent, small_model, out, "--existing", "replace")
        assert "2 with a genre" in result.output and "0 failed" in result.output, result.output
        table = pd.read_csv(out, encoding_errors="backslashreplace") if suffix == ".csv" else pd.read_parquet(out)
        assert set(table.tag_action) <= {"written", "unchanged"} and len(table) == 2
        assert f"{path.parent}/caf\\xe9.flac" in set(table.path), table.path  # its bytes, escaped
    assert genre_field(path) is not None and genre_field(path.parent / latin) is not None
    with open(tmp_path / "tags.csv", encoding="utf-8", errors="surrogateescape") as handle:
        assert str(path.parent / latin) in handle.read()  # CSV keeps the name's own bytes
    # the undo updates either table (the Parquet run found the genres written, and wrote none)
    assert [f.status for f in undo_tags(tmp_path / "tags.csv").files] == ["restored"] * 2
    tag(path.parent, small_model, tmp_path / "tags.parquet", "--existing", "replace")
    assert [f.status for f in undo_tags(tmp_path / "tags.parquet").files] == ["restored"] * 2
    assert set(pd.read_parquet(tmp_path / "tags.parquet").tag_action) == {"undone"}
    assert sorted(os.listdir(path.parent)) == sorted([long_name, latin])


def test_a_parquet_undo_updates_the_row_of_the_file_it_put_back(tmp_path, originals, small_model):
    """An audit (2026-12-06): in Parquet a name that is not UTF-8 (caf\xe9) and one spelled with
    those escapes look alike; an undo of one marked both rows undone, with its size and mtime.
    The row the write left is the undone file's."""
    import pandas as pd

    root = tmp_path / "Music"
    root.mkdir()
    latin, spelled = os.fsdecode(b"caf\xe9.flac"), "caf\\xe9.flac"
    shutil.copy(originals / "bare.flac", root / latin)  # no genre: written
    shutil.copy(originals / "tagged.flac", root / spelled)  # the owner's genre: kept
    out = tmp_path / "tags.parquet"
    tag(root, small_model, out)
    assert sorted(pd.read_parquet(out).tag_action) == ["kept", "written"]
    assert [f.status for f in undo_tags(out).files] == ["restored"]
    after = pd.read_parquet(out)
    assert sorted(after.tag_action) == ["kept", "undone"], after[["path", "tag_action"]]
    kept = after[after.tag_action == "kept"].iloc[0]
    assert (kept["size"], kept["mtime_ns"]) == ((root / spelled).stat().st_size, (root / spelled).stat().st_mtime_ns)


@pytest.mark.skipif(os.geteuid() != 0, reason="only root can give a file to another user")
def test_a_file_keeps_its_owner_when_root_tags_it(tmp_path, originals):
    path = _one_file(tmp_path, originals, "bare.flac")
    os.chown(path, 1234, 1234)
    path.chmod(0o640)
    assert write_genre_tag(path, "metal").action == "written"
    status = path.stat()
    assert (status.st_uid, status.st_gid, status.st_mode & 0o777) == (1234, 1234, 0o640)


@pytest.mark.parametrize("name", ["bare-id3v23.mp3", "bare.flac", "bare.m4a"])
def test_genres_the_owner_edited_after_genrekit_are_the_owners(tmp_path, originals, name):
    """A tagger that keeps other fields leaves genrekit's provenance beside the owner's new
    genre: those genres must count as the owner's (learned from by --labels-from-tags, never
    overwritten as genrekit's), which genrekit knows by the genres it recorded writing."""
    from genrekit.audio.tags import provenance, read_song_tags, write_fields

    path = _one_file(tmp_path, originals, name)
    change = write_genre_tag(path, ["metal", "rock"], provenance=provenance("m", 0.9))
    assert change.action == "written" and read_song_tags(path).by_genrekit
    field = tags_module.read_genre_field(path)
    write_fields(path, {field.field: ["Post-Rock"]})
    tags = read_song_tags(path)
    assert tags.genres == ("Post-Rock",) and not tags.by_genrekit
    write_fields(path, {field.field: field.values})  # back to what genrekit wrote
    assert read_song_tags(path).by_genrekit


def test_blank_frames_and_v23_utf8_frames_do_not_block_a_write(tmp_path, originals):
    """Taggers leave blank frames (mutagen drops them on saving: nothing is lost) and UTF-8
    frames in v2.3 tags (saved as UTF-16, the same text): neither may stop a genre write."""
    from mutagen.id3 import COMM, TPE1, TPE2, TXXX

    for version in (3, 4):
        path = _one_file(tmp_path, originals, "tagged-id3v23.mp3", f"v{version}.mp3")
        tag_ = ID3()
        tag_.add(TIT2(encoding=3, text=["Café"]))  # UTF-8, which v2.3 does not have
        tag_.add(TPE1(encoding=3, text=["Björk"]))
        tag_.add(TPE2(encoding=0, text=[""]))
        tag_.add(COMM(encoding=0, lang="eng", desc="", text=[""]))
        tag_.add(TXXX(encoding=0, desc="CATALOGNUMBER", text=[""]))
        tag_.save(path, v2_version=version, v23_sep=None)
        change = write_genre_tag(path, "metal", existing="replace")
        assert change.action == "written", (version, change.error)
        after = exact_id3(path)
        assert list(after["TIT2"].text) == ["Café"] and list(after["TPE1"].text) == ["Björk"]


def _journalled_write(results, path, genre, existing="replace"):
    """One tag write as `tag --write-tags` makes it: journalled in ``results``' journal first."""
    from genrekit.predict import library as library_module

    journal = results.with_name(results.name + ".journal.jsonl")
    stat = os.stat(path)

    def rekey(p):
        now = os.stat(p)
        return f"m|{p}|{now.st_size}|{now.st_mtime_ns}", now.st_size, now.st_mtime_ns

    record = {"path": str(path), "key": rekey(path)[0], "size": stat.st_size, "mtime_ns": stat.st_mtime_ns,
              "model": "m", "genre": genre, "confidence": 0.9, "probabilities": {genre: 0.9, "jazz": 0.1},
              "music": None, "error": None, "styles": None, "duration": audio.info(path).duration}
    with open(journal, "a", encoding="utf-8") as handle:
        change = library_module._set_tag(record, handle, library_module.TagOptions(existing=existing), rekey)
        library_module.append_record(handle, record)
    return record, change


def test_undo_puts_back_every_write_even_when_another_program_edited_the_file_between(tmp_path, library):
    song, results = library / "tagged.flac", tmp_path / "tags.csv"
    _journalled_write(results, song, "rock")
    edited = mutagen.File(song)
    edited.tags["replaygain_track_gain"] = ["-6.1 dB"]  # another program, between two of genrekit's writes
    edited.save()
    _journalled_write(results, song, "blues")
    assert genre_field(song) == ["blues"]
    undone = undo_tags(results)
    assert [(f.status, f.old, f.new) for f in undone.files] == [("restored", ["blues"], ["My Genre"])]
    assert genre_field(song) == ["My Genre"] and own_fields(song) == {}  # the first write's too, not only the last
    assert mutagen.File(song)["replaygain_track_gain"] == ["-6.1 dB"]  # the other program's field stays
    assert [f.status for f in undo_tags(results).files] == ["already undone"]


def test_one_run_at_a_time_on_a_results_table(tmp_path, library, small_model):
    from genrekit.errors import ParameterError
    from genrekit.predict.library import _results_lock, tag_library

    results = tmp_path / "tags.csv"
    _journalled_write(results, library / "tagged.flac", "rock")
    with _results_lock(results):  # another run holds the table: its journal must not be rewritten under it
        with pytest.raises(ParameterError, match="another `genrekit tag` or `tag --undo` run is using"):
            tag_library(library, small_model, results, n_jobs=1, progress=False)
        with pytest.raises(ParameterError, match="tags.csv.lock"):
            undo_tags(results)
    assert genre_field(library / "tagged.flac") == ["rock"]
    assert [f.status for f in undo_tags(results).files] == ["restored"]  # free again


def test_an_unreadable_mp4_genre_atom_is_never_overwritten(tmp_path, originals):
    song = tmp_path / "latin1.m4a"
    shutil.copy(originals / "tagged.m4a", song)
    tagged = mutagen.File(song)
    tagged.tags["\xa9gen"] = ["Chanson francaise"]
    tagged.save()
    data = song.read_bytes().replace(b"Chanson francaise", b"Chanson fran\xe7aise")  # Latin-1: not UTF-8
    song.write_bytes(data)
    for existing in ("keep", "replace"):  # mutagen sets it aside unread, and would drop it on saving a genre
        change = write_genre_tag(song, "rock", existing=existing)
        assert change.action == "failed" and "unreadable '\xa9gen' atom" in change.error, change
        assert song.read_bytes() == data


def test_a_placeholder_is_never_written_whatever_the_model_calls_it(tmp_path, library):
    from genrekit.errors import ParameterError
    from genrekit.predict.library import tag_genres

    probabilities = {"rock": 0.5, "Unknown": 0.25, "jazz": 0.25}
    assert tag_genres({"genre": "rock", "probabilities": probabilities}, count=3) == ["rock", "jazz"]
    assert tag_genres({"genre": "Unknown", "probabilities": {"Unknown": 0.7, "rock": 0.3}}) == []
    with pytest.raises(ParameterError, match="never writes it"):
        write_genre_tag(library / "bare.flac", ["rock", "<unknown>"])
    record, change = _journalled_write(tmp_path / "tags.csv", library / "tagged.flac", "Unknown")
    assert change is None and record["tag_action"] == "unknown" and "says no genre" in record["tag_error"]
    assert genre_field(library / "tagged.flac") == ["My Genre"]


def test_a_file_changed_since_it_was_analysed_is_not_given_the_old_audio_s_genre(tmp_path, library, monkeypatch):
    from genrekit.predict import library as library_module

    song = library / "tagged.flac"
    stat = os.stat(song)
    edited = mutagen.File(song)
    edited.tags["title"] = ["Re-recorded"]
    edited.save()
    os.utime(song, ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))
    record = {"path": str(song), "key": "old", "size": stat.st_size, "mtime_ns": stat.st_mtime_ns, "model": "m",
              "genre": "rock", "confidence": 0.9, "probabilities": {"rock": 0.9}, "music": None, "error": None}
    with open(tmp_path / "journal.jsonl", "a") as handle:
        change = library_module._set_tag(record, handle, library_module.TagOptions(existing="replace"), None)
    assert change.action == "changed" and not change.written and change.error == record["tag_error"]
    assert record["tag_action"] == "changed" and "changed since it was analysed" in record["tag_error"]
    assert record["key"] == "old" and genre_field(song) == ["My Genre"]


def test_a_file_saved_between_the_check_and_the_write_is_not_given_the_old_audio_s_genre(tmp_path, library,
                                                                                          monkeypatch):
    """The analysed size and mtime were compared before the write was journalled, and the
    copy's own baseline taken after: a song saved in between (new audio) got the old audio's
    genre (a review, 2026-12-04). The copy is now made only of the file as it was analysed."""
    from genrekit.predict import library as library_module

    song = library / "bare.flac"
    stat = os.stat(song)
    record = {"path": str(song), "key": "old", "size": stat.st_size, "mtime_ns": stat.st_mtime_ns, "model": "m",
              "genre": "rock", "confidence": 0.9, "probabilities": {"rock": 0.9}, "music": None, "error": None}
    journal = library_module.append_record

    def journal_then_another_program_saves(handle, rec):
        journal(handle, rec)
        if (rec.get("tag") or {}).get("state") == "writing":
            sf.write(song, np.zeros(22050 * 7, dtype="float32"), 22050, format="FLAC")

    monkeypatch.setattr(library_module, "append_record", journal_then_another_program_saves)
    with open(tmp_path / "journal.jsonl", "a") as handle:
        library_module._set_tag(record, handle, library_module.TagOptions(existing="replace"),
                                lambda path: ("new", 0, 0))
    assert record["tag_action"] == "failed" and "changed since it was analysed" in record["tag_error"], record
    assert genre_field(song) is None and sf.info(song).duration == pytest.approx(7.0)


def test_files_a_rewrite_would_harm_are_left_as_they_are(tmp_path, library, monkeypatch):
    linked = library / "tagged.flac"
    os.link(linked, tmp_path / "same-song.flac")  # replacing the file would leave the other name the old tags
    readonly = library / "tagged.ogg"
    readonly.chmod(0o444)
    (library / "other.mp3").symlink_to(library / "bare.flac")  # named as an MP3, a FLAC file in truth
    before = {p: p.read_bytes() for p in (linked, readonly, library / "bare.flac")}
    for path, message in ((linked, "other hard link"), (readonly, "read-only"),
                          (library / "other.mp3", "which is not a .mp3 file")):
        change = write_genre_tag(path, "rock", existing="replace")
        assert change.action == "failed" and message in change.error, (path, change)
    assert change.error.count(str(library / "other.mp3")) == 1 and "GenrekitError" not in change.error
    assert {p: p.read_bytes() for p in before} == before
    from genrekit.predict import library as library_module

    for path, message in ((linked, "other hard link"), (readonly, "read-only")):  # a dry run's preview says so too
        status = os.stat(path)
        record = {"path": str(path), "key": "k", "size": status.st_size, "mtime_ns": status.st_mtime_ns, "model": "m",
                  "genre": "rock", "confidence": 0.9, "probabilities": {"rock": 0.9}, "music": None, "error": None}
        with open(tmp_path / "journal.jsonl", "a") as handle:
            library_module._set_tag(record, handle, library_module.TagOptions(existing="replace", dry_run=True),
                                    lambda p: ("k", 0, 0))
        assert record["tag_action"] == "would fail" and message in record["tag_error"], record
        assert "would not be written" in record["tag_error"]
    # the link's song is not even read as the name's format (its FLAC tags are not an MP3's)
    status = os.stat(library / "other.mp3")
    record = {"path": str(library / "other.mp3"), "key": "k", "size": status.st_size, "mtime_ns": status.st_mtime_ns,
              "model": "m", "genre": "rock", "confidence": 0.9, "probabilities": {"rock": 0.9}, "music": None,
              "error": None}
    with open(tmp_path / "journal.jsonl", "a") as handle:
        library_module._set_tag(record, handle, library_module.TagOptions(existing="replace", dry_run=True),
                                lambda p: ("k", 0, 0))
    assert record["tag_action"] == "failed" and "genre tag not read" in record["tag_error"], record
    assert "which is not a .mp3 file" in record["tag_error"]
    assert {p: p.read_bytes() for p in before} == before

    song = library / "tagged.opus"  # another program saves the song while genrekit edits its copy
    real_set = tags_module._set_other

    def meanwhile(temporary, values, remove_empty, size_wanted=None):
        real_set(temporary, values, remove_empty, size_wanted)
        edited = mutagen.File(song)
        edited.tags["title"] = ["Saved by a player"]
        edited.save()

    monkeypatch.setattr(tags_module, "_set_other", meanwhile)
    change = write_genre_tag(song, "rock", existing="replace")
    assert change.action == "failed" and "changed by another program" in change.error
    assert genre_field(song) == ["My Genre"] and mutagen.File(song)["title"] == ["Saved by a player"]


def test_undo_stops_at_a_genre_the_owner_set_between_two_runs_and_counts_it_restored(tmp_path, library):
    song, results = library / "tagged.flac", tmp_path / "tags.csv"
    _journalled_write(results, song, "rock")
    edited = mutagen.File(song)
    edited.tags["genre"] = ["Users Own"]  # the owner's genre replaces genrekit's first
    edited.save()
    _journalled_write(results, song, "blues")
    [undone] = undo_tags(results).files
    assert (undone.status, undone.old, undone.new) == ("restored", ["blues"], ["Users Own"]) and not undo_tags(
        results).failures
    assert genre_field(song) == ["Users Own"] and own_fields(song) == {}


def test_an_undo_killed_before_recording_is_recorded_when_run_again(tmp_path, library, monkeypatch):
    from genrekit.predict import library as library_module

    song, results = library / "tagged.flac", tmp_path / "tags.csv"
    _journalled_write(results, song, "rock")
    edited = mutagen.File(song)
    edited.tags["replaygain_track_gain"] = ["-6.1 dB"]
    edited.save()
    _journalled_write(results, song, "blues")
    real_record = library_module._record_undo

    def killed(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(library_module, "_record_undo", killed)
    with pytest.raises(KeyboardInterrupt):
        undo_tags(results)  # both writes put back, the journal not yet told
    monkeypatch.setattr(library_module, "_record_undo", real_record)
    [again] = undo_tags(results).files
    assert again.status == "already undone" and again.after == {"size": song.stat().st_size,
                                                                "mtime_ns": song.stat().st_mtime_ns}
    assert read_journal(results.with_name("tags.csv.journal.jsonl"))[-1]["tag"]["state"] == "undone"
    assert genre_field(song) == ["My Genre"]


def test_a_write_a_killed_run_never_recorded_is_undone_once_then_already_undone(tmp_path, library):
    from genrekit.predict import library as library_module

    song, results = library / "tagged.flac", tmp_path / "tags.csv"
    stat = os.stat(song)
    record = {"path": str(song), "key": "k", "size": stat.st_size, "mtime_ns": stat.st_mtime_ns, "model": "m",
              "genre": "rock", "confidence": 0.9, "probabilities": {"rock": 0.9}, "music": None, "error": None}

    def killed(path):  # the run dies after the write, before journalling its end
        raise KeyboardInterrupt

    with open(results.with_name("tags.csv.journal.jsonl"), "a") as handle, pytest.raises(KeyboardInterrupt):
        library_module._set_tag(record, handle, library_module.TagOptions(existing="replace"), killed)
    assert genre_field(song) == ["rock"]
    assert [f.status for f in undo_tags(results).files] == ["restored"] and genre_field(song) == ["My Genre"]
    assert [f.status for f in undo_tags(results).files] == ["already undone"]  # not "nothing to undo"


def test_keep_sees_a_genre_players_read_outside_the_field_genrekit_writes(tmp_path, clip):
    from mutagen.apev2 import APEv2

    y, sr = sf.read(clip, dtype="float32")
    wav, mp3 = tmp_path / "info.wav", tmp_path / "ape.mp3"
    with sf.SoundFile(wav, "w", sr, 1) as song:  # libsndfile writes it as RIFF LIST/INFO IGNR
        song.genre = "Jazz"
        song.write(y[: 2 * sr])
    sf.write(mp3, y[: 2 * sr], sr, format="MP3")
    ape = APEv2()
    ape["Genre"] = "Blues"
    ape.save(mp3)
    for path, where, genre in ((wav, "RIFF INFO chunk (IGNR)", "Jazz"), (mp3, "APEv2 tag", "Blues")):
        before = path.read_bytes()
        change = write_genre_tag(path, "rock", existing="keep")
        assert change.action == "kept" and f"has genre {genre!r} in its {where}" in change.reason, change
        assert change.old == genre  # shown as the genre kept (it showed None)
        assert read_song_tags(path).genres == (genre,)  # the owner's genre, for the results table and datasets
        assert path.read_bytes() == before
        # append: the owner's genre first, then ours, in the tag written (ours alone lost theirs from view)
        appended = plan_genre_tag(path, "rock", existing="append")
        assert appended.action == "write" and appended.new_values == [genre, "rock"] and appended.old == genre
        assert appended.old_values is None  # an undo removes the field it added, leaving the owner's tag as it was
        assert write_genre_tag(path, "rock", existing="replace").action == "written"  # asked for: ours beside it


def test_a_compressed_id3_frame_that_inflates_without_bound_is_dropped_not_inflated(tmp_path, originals):
    """mutagen inflates a compressed ID3 frame whole: a 540 kB MP3 whose PRIV frame held 512 MB
    of zeros took 3 GB in every `tag` run, written or not (a review, 2026-12-04). One read of
    a tag inflates at most 1 MiB: this frame (256 MB from 250 kB) is dropped by the reader, the
    genre is read, and a write that would lose the frame is refused, in a child process whose
    peak memory is read."""
    import subprocess
    import sys
    import zlib

    from genrekit.audio.tags import _mp3_tag_size

    def syncsafe(n: int) -> bytes:
        return bytes([(n >> 21) & 0x7F, (n >> 14) & 0x7F, (n >> 7) & 0x7F, n & 0x7F])

    packer, zeros = zlib.compressobj(9), bytes(2**20)
    inflated = b"owner\x00" + zeros
    packed = packer.compress(inflated) + b"".join(packer.compress(zeros) for _ in range(255)) + packer.flush()
    payload = syncsafe(len(inflated) + 255 * len(zeros)) + packed
    frames = (b"PRIV" + syncsafe(len(payload)) + b"\x00\x09" + payload  # compressed, with its data length
              + b"TCON" + syncsafe(5) + b"\x00\x00" + b"\x03Rock")
    original = (originals / "bare-notag.mp3").read_bytes()
    song = tmp_path / "bomb.mp3"
    song.write_bytes(b"ID3\x04\x00\x00" + syncsafe(len(frames)) + frames + original[_mp3_tag_size(original[:10]):])
    assert song.stat().st_size < 2**20
    before = song.read_bytes()
    script = ("import re, sys\n"
              "from genrekit.audio.tags import read_song_tags, write_genre_tag\n"
              "print(read_song_tags(sys.argv[1]).genres)\n"
              "change = write_genre_tag(sys.argv[1], 'jazz', existing='replace')\n"
              "print(change.action, change.error)\n"
              "print(int(re.search(r'VmHWM:\\s+(\\d+)', open('/proc/self/status').read()).group(1)) // 1024)\n")
    result = subprocess.run([sys.executable, "-c", script, str(song)], capture_output=True, text=True, timeout=120)
    genres, change, peak_mb = result.stdout.strip().split("\n")
    assert genres == "('Rock',)" and change.startswith("failed") and "1 PRIV frame" in change, result.stdout + result.stderr
    assert int(peak_mb) < 300, peak_mb
    assert song.read_bytes() == before
    # many small frames of short strings: 64 KiB each (the first bound's allowance per frame)
    # made a 42 kB MP3 take 590 MB; one read of a tag now inflates 1 MiB in all
    text = b"\x00d\x00" + b"ab\x00" * 21_000
    packed = zlib.compress(text, 9)
    small = b"".join(b"TXXX" + syncsafe(4 + len(packed)) + b"\x00\x09" + syncsafe(len(text)) + packed
                     for _ in range(400)) + b"TCON" + syncsafe(5) + b"\x00\x00" + b"\x03Rock"
    song.write_bytes(b"ID3\x04\x00\x00" + syncsafe(len(small)) + small + original[_mp3_tag_size(original[:10]):])
    assert song.stat().st_size < 100_000
    result = subprocess.run([sys.executable, "-c", script, str(song)], capture_output=True, text=True, timeout=120)
    genres, change, peak_mb = result.stdout.strip().split("\n")
    assert genres == "('Rock',)" and change.startswith("failed"), result.stdout + result.stderr
    assert int(peak_mb) < 300, peak_mb


def test_sigterm_stops_write_tags_as_ctrl_c_does(tmp_path, originals, small_model):
    """SIGTERM (``kill``, a service manager) ended the run as SIGKILL would: no clean-up, a
    hidden copy of a song left beside it. Now it is an orderly stop: exit 143, its message, and
    nothing left behind."""
    root = tmp_path / "Music"
    for copy in range(6):  # enough songs that the run is still going when the signal comes, under load too
        shutil.copytree(originals, root / f"disc {copy}")
    out = tmp_path / "tags.csv"
    journal = tmp_path / "tags.csv.journal.jsonl"
    command = [sys.executable, "-m", "genrekit", "tag", str(root), "--model", str(small_model), "--out", str(out),
               "--write-tags", "--existing", "replace", "--jobs", "1"]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                               preexec_fn=lambda: signal.signal(signal.SIGTERM, signal.SIG_DFL))  # whatever the runner ignores
    writes = lambda: [r for r in read_journal(journal) if (r.get("tag") or {}).get("state") == "written"]  # noqa: E731
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and process.poll() is None and len(writes()) < 2:
        time.sleep(0.01)
    process.send_signal(signal.SIGTERM)
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == 128 + signal.SIGTERM, stderr
    assert "interrupted (SIGTERM)" in stderr and "Traceback" not in stderr, stderr
    assert not list(root.rglob(".*")), "a temporary copy was left behind"
    assert 2 <= len(writes()) < 6 * len(FILES)


def test_a_full_disk_under_the_journal_ends_the_run_with_one_line_and_no_unrecorded_write(tmp_path, originals,
                                                                                         small_model, monkeypatch):
    """A journal line that could not be written ended ``tag --write-tags`` with a traceback (and
    ``--undo`` likewise). Now one line names the journal; no tag is written without its record."""
    import errno

    path = _one_file(tmp_path, originals, "tagged.flac")
    before = path.read_bytes()
    real_write = os.write

    def write(fd, data):
        if os.readlink(f"/proc/self/fd/{fd}").endswith(".journal.jsonl"):
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_write(fd, data)

    monkeypatch.setattr(os, "write", write)
    result = runner.invoke(app, ["tag", str(path.parent), "--model", str(small_model), "--out", str(tmp_path / "t.csv"),
                                 "--write-tags", "--existing", "replace", "--jobs", "1"])
    assert result.exit_code == EXIT_ERROR, result.output
    assert "t.csv.journal.jsonl: no space left on the disk" in " ".join(result.output.split()), result.output
    assert "Traceback" not in result.output and result.exception is None or isinstance(result.exception, SystemExit)
    assert path.read_bytes() == before


def test_two_writers_of_one_song_take_turns_and_the_second_finds_it_replaced(tmp_path, originals, monkeypatch):
    """Two tag runs into different tables (or a run and beets) each checked the song, then each
    replaced it: both recorded a write, and one's old values were the other's. A song's writes
    now take turns on a lock of this machine (not on the song: NFS and SMB lock otherwise),
    and the second finds the song changed since it was analysed."""
    import threading

    monkeypatch.setenv("XDG_RUNTIME_DIR", str(tmp_path / "run"))
    (tmp_path / "run").mkdir(mode=0o700)
    path = _one_file(tmp_path, originals, "bare.flac")
    analysed = (path.stat().st_size, path.stat().st_mtime_ns)  # what both runs analysed
    editing, overlap, outcomes = threading.Event(), [], {}

    def slow_edit(copy):
        editing.set()
        time.sleep(1.0)  # the other writer starts meanwhile
        with open(copy, "ab") as handle:
            handle.write(b"\0" * 16)

    def quick_edit(copy):
        overlap.append(editing.is_set() and "first" not in outcomes)

    def write(name, edit):
        try:
            tags_module.replace_safely(str(path), edit, unchanged_since=analysed)
            outcomes[name] = "written"
        except tags_module.TagConflict as exc:
            outcomes[name] = str(exc)

    first = threading.Thread(target=write, args=("first", slow_edit))
    first.start()
    assert editing.wait(30)
    second = threading.Thread(target=write, args=("second", quick_edit))
    second.start()
    first.join()
    second.join()
    assert outcomes["first"] == "written"
    assert overlap == [] and "changed since it was analysed" in outcomes["second"], (overlap, outcomes)
    assert [p.name for p in (tmp_path / "run").iterdir()] == ["genrekit-%d-song-locks" % os.geteuid()]

    # a lock folder open to others is not trusted; the write goes on without it
    shared = tmp_path / "shared"
    (shared / f"genrekit-{os.geteuid()}-song-locks").mkdir(parents=True, mode=0o777)
    (shared / f"genrekit-{os.geteuid()}-song-locks").chmod(0o777)
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(shared))
    assert tags_module._song_lock_file(str(path)) is None
    tags_module.replace_safely(str(path), lambda copy: None)


def _small_library(tmp_path, originals, names=("tagged.flac", "bare-notag.mp3", "tagged.m4a")):
    root = tmp_path / "Music"
    root.mkdir(parents=True)
    for name in names:
        shutil.copy(originals / name, root / name)
    return root, {name: (genre_field(root / name), all_tags(root / name)) for name in names}


@pytest.mark.parametrize("by_hash", [True, False], ids=["hash", "path"])
def test_undo_follows_a_file_moved_or_renamed_after_its_tags_were_written(tmp_path, originals, small_model, by_hash):
    """A file renamed, and one moved to another folder, after `tag --write-tags`: the next run
    found them (by content with --hash, as "done by an earlier run"; by path it analysed them
    again and said "kept"), its table named their new paths, but the undo looked for them at the
    old ones ("genre tag not read (MutagenError: No such file)", exit 3) and they kept
    genrekit's genre for good (a review, 2026-12-05). The journal now follows them."""
    root, before = _small_library(tmp_path, originals)
    out = tmp_path / "tags.jsonl"
    hashing = ["--hash"] if by_hash else []
    tag(root, small_model, out, "--existing", "replace", *hashing)
    (root / "tagged.flac").rename(root / "renamed.flac")
    (root / "moved").mkdir()
    (root / "bare-notag.mp3").rename(root / "moved" / "bare-notag.mp3")
    again = tag(root, small_model, out, "--existing", "replace", *hashing)
    assert "2 file(s) whose tags genrekit wrote were found moved" in again.output, again.output
    assert "3 done by an earlier run" in again.output  # not analysed again, with or without --hash
    rows = genres_of(out)
    assert {name: rows[name]["tag_action"] for name in rows} == {"renamed.flac": "written", "bare-notag.mp3": "written",
                                                                  "tagged.m4a": "written"}
    assert rows["bare-notag.mp3"]["path"] == str(root / "moved" / "bare-notag.mp3")
    now = {"tagged.flac": root / "renamed.flac", "bare-notag.mp3": root / "moved" / "bare-notag.mp3",
           "tagged.m4a": root / "tagged.m4a"}

    undone = runner.invoke(app, ["tag", "--undo", str(out)])
    assert undone.exit_code == EXIT_OK and "3 restored" in undone.output, undone.output
    for name, path in now.items():
        assert (genre_field(path), all_tags(path)) == before[name], name
        assert own_fields(path) == {}, name
    rows = genres_of(out)
    assert {rows[name]["tag_action"] for name in rows} == {"undone"}
    assert [f.status for f in undo_tags(out).files] == ["already undone"] * 3  # not refused at their new paths
    third = tag(root, small_model, out, "--existing", "replace", *hashing)  # tagged anew where they are
    assert "3 done by an earlier run" in third.output and "3 written" in third.output, third.output
    assert [f.status for f in undo_tags(out).files] == ["restored"] * 3
    for name, path in now.items():
        assert (genre_field(path), all_tags(path)) == before[name], name


@pytest.mark.parametrize("by_hash", [True, False], ids=["hash", "path"])
def test_an_undo_follows_a_moved_file_to_the_path_its_table_row_has(tmp_path, originals, small_model, by_hash):
    """A journal written before moves were followed (or a run that could not tell the file was
    the one genrekit wrote) has no record of the move, but the table names the new path: the
    undo puts the tags back there, and records it in the journal and the table."""
    root, before = _small_library(tmp_path, originals, ("tagged.flac", "tagged-id3v24.mp3"))
    out = tmp_path / "tags.csv"
    hashing = ["--hash"] if by_hash else []
    tag(root, small_model, out, "--existing", "replace", *hashing)
    (root / "tagged.flac").rename(root / "renamed.flac")
    tag(root, small_model, out, "--existing", "replace", *hashing)
    journal = tmp_path / "tags.csv.journal.jsonl"
    lines = [line for line in journal.read_text().splitlines()
             if (json.loads(line).get("tag") or {}).get("state") != "moved"]  # as an older genrekit left it
    journal.write_text("".join(line + "\n" for line in lines))
    undone = runner.invoke(app, ["tag", "--undo", str(out)])
    assert undone.exit_code == EXIT_OK and "2 restored" in undone.output, undone.output
    path = root / "renamed.flac"
    assert (genre_field(path), all_tags(path)) == before["tagged.flac"] and own_fields(path) == {}
    import pandas as pd

    row = pd.read_csv(out).set_index("path").loc[str(path)]
    assert row.tag_action == "undone" and row["mtime_ns"] == path.stat().st_mtime_ns
    assert any(r["path"] == str(path) and r["tag"]["state"] == "undone" for r in read_journal(journal)[-2:])


def test_an_undo_never_follows_a_row_edited_into_the_table_to_a_file_outside_the_library(tmp_path, originals,
                                                                                         small_model):
    """An audit (2026-12-06): a table row's path edited to a copy outside the library, its key
    left as it was, had the undo rewrite that copy, which genrekit never wrote. The rows that
    say where a file went are the journal's, which a tag run wrote."""
    import hashlib

    root, _ = _small_library(tmp_path, originals, ("tagged.flac", "tagged-id3v24.mp3"))
    out = tmp_path / "tags.csv"
    tag(root, small_model, out, "--existing", "replace")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    shutil.copy(root / "tagged.flac", elsewhere / "copy.flac")  # holds genrekit's fields, as a copy would
    (root / "tagged.flac").unlink()
    text = out.read_text()
    assert text.count(f"{root / 'tagged.flac'},") == 1  # its path's cell
    out.write_text(text.replace(f"{root / 'tagged.flac'},", f"{root}/../elsewhere/copy.flac,"))
    copy_bytes = hashlib.sha256((elsewhere / "copy.flac").read_bytes()).hexdigest()
    undone = runner.invoke(app, ["tag", "--undo", str(out)])
    message = " ".join(undone.output.split())
    assert undone.exit_code == EXIT_PARTIAL and f"{root / 'tagged.flac'}: missing" in message, undone.output
    assert hashlib.sha256((elsewhere / "copy.flac").read_bytes()).hexdigest() == copy_bytes


def test_an_undo_says_a_file_genrekit_wrote_is_missing(tmp_path, originals, small_model):
    root, before = _small_library(tmp_path, originals, ("tagged.flac", "tagged-id3v24.mp3"))
    out = tmp_path / "tags.csv"
    tag(root, small_model, out, "--existing", "replace")
    (root / "tagged.flac").unlink()
    undone = runner.invoke(app, ["tag", "--undo", str(out)])
    assert undone.exit_code == EXIT_PARTIAL, undone.output
    message = " ".join(undone.output.split())
    assert f"{root / 'tagged.flac'}: missing (genrekit wrote its tags, and it was moved, renamed or deleted" in message
    assert "MutagenError" not in message and "1 restored" in message
    assert genre_field(root / "tagged-id3v24.mp3") == before["tagged-id3v24.mp3"][0]


def test_failed_tag_writes_fail_the_run(tmp_path, originals, small_model):
    """A write that failed (a read-only file; a full disk fails the same way) printed
    "genre tags: 1 failed" and exited 0. It is a failed input: exit 3, or 1 when no file is left."""
    root, before = _small_library(tmp_path, originals, ("tagged.flac", "bare.ogg"))
    (root / "tagged.flac").chmod(0o444)
    out = tmp_path / "tags.csv"
    args = ["tag", str(root), "--model", str(small_model), "--out", str(out), "--write-tags", "--jobs", "1",
            "--existing", "replace"]
    result = runner.invoke(app, args)
    assert result.exit_code == EXIT_PARTIAL, result.output
    assert "1 failed" in result.output and "1 written" in result.output
    said = " ".join(result.output.split())
    # said once, as it happened, and not listed again with the files that failed to be analysed
    assert said.count("read-only") == 1 and "file(s) failed" not in said and "tag: " in said, said
    assert (genre_field(root / "tagged.flac"), all_tags(root / "tagged.flac")) == before["tagged.flac"]

    root2, _ = _small_library(tmp_path / "all", originals, ("tagged.flac", "bare.ogg"))
    for path in root2.iterdir():
        path.chmod(0o444)
    result = runner.invoke(app, [*args[:1], str(root2), *args[2:4], "--out", str(tmp_path / "all.csv"), *args[6:]])
    assert result.exit_code == EXIT_ERROR, result.output
    assert "2 failed" in result.output
    dry = runner.invoke(app, [*args[:1], str(root2), *args[2:4], "--out", str(tmp_path / "dry.csv"), *args[6:],
                              "--dry-run"])
    # a preview writes nothing, and fails as the write would (see the test below)
    assert dry.exit_code == EXIT_ERROR and "2 would fail" in dry.output, dry.output


def test_a_dry_run_exits_as_the_write_would(tmp_path, originals, small_model):
    """`--dry-run` printed "genre tags: 1 would fail" and exited 0 where the write would exit
    3: a script using the preview as a pre-flight check could not tell. It now exits 3 (1 when
    every write would fail), lists them with the failures and says so in its summary line."""
    root, before = _small_library(tmp_path, originals, ("tagged.flac", "bare.ogg"))
    sf.write(root / "three.au", *sf.read(originals / "bare.flac"))  # a format genrekit does not tag
    (root / "tagged.flac").chmod(0o444)
    args = ["tag", str(root), "--model", str(small_model), "--write-tags", "--jobs", "1", "--existing", "replace"]
    dry = runner.invoke(app, [*args, "--out", str(tmp_path / "dry.csv"), "--dry-run"])
    assert dry.exit_code == EXIT_PARTIAL, dry.output
    message = " ".join(dry.output.split())
    assert "1 would fail" in message and "1 would write" in message, message
    assert "1 file(s) left untagged fail the preview, as they would the write (each said above, 'tag: ...')" in message
    assert message.count(f"tag: {root / 'tagged.flac'}: genre tag would not be written (read-only") == 1, message
    assert "three.au" not in message  # a format genrekit does not tag is no failure, in a preview as in a write
    assert (genre_field(root / "tagged.flac"), all_tags(root / "tagged.flac")) == before["tagged.flac"]
    assert genre_field(root / "bare.ogg") is None  # nothing written

    real = runner.invoke(app, [*args, "--out", str(tmp_path / "tags.csv")])
    assert real.exit_code == dry.exit_code, real.output  # the preview told what the write did
    assert "1 file(s) left untagged fail the run" in " ".join(real.output.split()), real.output

    (root / "tagged.flac").chmod(0o644)  # nothing left to refuse: the preview passes
    clean = runner.invoke(app, [*args, "--out", str(tmp_path / "dry-clean.csv"), "--dry-run"])
    assert clean.exit_code == EXIT_OK and "1 would write" in clean.output, clean.output
    assert "left untagged" not in clean.output and "file(s) failed" not in clean.output, clean.output


def test_a_file_changed_between_its_analysis_and_its_write_fails_the_run(tmp_path, originals, small_model,
                                                                          monkeypatch):
    """A file another tagger saved after genrekit analysed it and before its write is left as
    it is ("changed"), rightly, but the run exited 0 as if every file had been tagged (a write
    finding it changed a moment later failed with exit 3). The request was not done for it:
    it is said ("tag: ...") and the run exits 3 (in a dry run too); the next run
    analyses it again and tags it."""
    from genrekit.predict import library as library_module

    root, before = _small_library(tmp_path, originals, ("tagged.flac", "bare.ogg"))
    song = root / "tagged.flac"
    real_set_tag = library_module._set_tag

    def another_tagger_saves_it_first(record, handle, options, rekey):
        if record["path"] == str(song):
            edited = mutagen.File(song)
            edited.tags["title"] = ["Retitled meanwhile"]
            edited.save()  # in the FLAC's padding: the same size, a new mtime (a second on, whatever the clock)
            os.utime(song, ns=(record["mtime_ns"] + 10**9,) * 2)
        return real_set_tag(record, handle, options, rekey)

    monkeypatch.setattr(library_module, "_set_tag", another_tagger_saves_it_first)
    args = ["tag", str(root), "--model", str(small_model), "--write-tags", "--jobs", "1", "--existing", "replace"]
    for options in (["--dry-run"], []):
        result = runner.invoke(app, [*args, "--out", str(tmp_path / f"tags{len(options)}.csv"), *options])
        assert result.exit_code == EXIT_PARTIAL, result.output
        message = " ".join(result.output.split())
        assert "1 changed" in message and "1 file(s) left untagged fail the" in message, message
        assert message.count(f"tag: {song}: changed since it was analysed") == 1, message  # said once
        assert genre_field(song) == ["My Genre"] and mutagen.File(song)["title"] == ["Retitled meanwhile"]
    assert genre_field(root / "bare.ogg") is not None  # the other file was tagged

    monkeypatch.setattr(library_module, "_set_tag", real_set_tag)
    again = runner.invoke(app, [*args, "--out", str(tmp_path / "tags0.csv")])
    assert again.exit_code == EXIT_OK and "1 written" in again.output, again.output  # analysed again, tagged
    assert genre_field(song) != ["My Genre"] and mutagen.File(song)["title"] == ["Retitled meanwhile"]


def _gnre_m4a(tmp_path, originals, genre_number=9):
    """tagged.m4a with its genre as iTunes' numbered ``gnre`` atom (9: Jazz), as stored."""
    song = tmp_path / "itunes.m4a"
    shutil.copy(originals / "tagged.m4a", song)
    tagged = mutagen.File(song)
    tagged.tags["\xa9gen"] = ["ab"]  # a text atom the size of a gnre atom, then replaced byte for byte
    tagged.save()
    text = b"\xa9gen\x00\x00\x00\x12data\x00\x00\x00\x01\x00\x00\x00\x00ab"
    data = song.read_bytes()
    assert data.count(text) == 1
    song.write_bytes(data.replace(text, b"gnre\x00\x00\x00\x12data" + bytes(8) + genre_number.to_bytes(2, "big")))
    return song


def _genre_atoms(path):
    from mutagen.mp4 import Atoms

    with open(path, "rb") as handle:
        ilst = Atoms(handle).path(b"moov", b"udta", b"meta", b"ilst")[-1]
        return sorted((atom.name, atom.read(handle)[1]) for atom in ilst.children)


def test_an_itunes_numbered_genre_is_put_back_as_it_was(tmp_path, originals):
    """mutagen reads an m4a's ``gnre`` atom (a genre number) as ``©gen`` and saves ``©gen``
    text: an undo put ``©gen ['Jazz']`` back in place of the atom (a review, 2026-12-05)."""
    song = _gnre_m4a(tmp_path, originals)
    atoms = _genre_atoms(song)
    assert genre_field(song) == ["Jazz"] and b"gnre" in dict(atoms)
    assert write_genre_tag(song, "rock").action == "kept"  # Jazz is the owner's genre
    results = tmp_path / "tags.csv"
    _, change = _journalled_write(results, song, "rock")
    assert change.action == "written" and genre_field(song) == ["rock"] and b"gnre" not in dict(_genre_atoms(song))
    [undone] = undo_tags(results).files
    assert (undone.status, undone.old, undone.new) == ("restored", ["rock"], ["Jazz"])
    assert _genre_atoms(song) == atoms  # the gnre atom as it was, no ©gen text, every other atom as it was


def test_a_numbered_genre_beside_a_text_genre_is_refused(tmp_path, originals):
    """mutagen reads a ``gnre`` and a ``©gen`` atom as one ``©gen`` list, which an undo could
    not put back apart: such a file is left as it is."""
    song = tmp_path / "both.m4a"
    shutil.copy(originals / "tagged.m4a", song)
    tagged = mutagen.File(song)
    tagged.tags["\xa9gen"] = ["ab"]
    tagged.tags["\xa9nam"] = ["cd"]
    tagged.save()
    data = song.read_bytes()
    text, title = (b"%s\x00\x00\x00\x12data\x00\x00\x00\x01\x00\x00\x00\x00%s" % pair
                   for pair in ((b"\xa9gen", b"ab"), (b"\xa9nam", b"cd")))
    assert data.count(text) == 1 and data.count(title) == 1
    data = data.replace(text, b"gnre\x00\x00\x00\x12data" + bytes(8) + (9).to_bytes(2, "big"))
    song.write_bytes(data.replace(title, b"\xa9gen" + title[4:]))  # the title atom renamed: a text genre "cd"
    assert sorted(genre_field(song)) == ["Jazz", "cd"]
    before = song.read_bytes()
    change = write_genre_tag(song, "rock", existing="replace")
    assert change.action == "failed" and "'gnre' (numbered genre) atom beside a '\xa9gen' one" in change.error, change
    assert song.read_bytes() == before


def test_replace_says_a_genre_outside_the_tag_genrekit_writes_stays(tmp_path, clip):
    """--existing replace on a WAV whose RIFF INFO says IGNR=Baroque printed "genre (none) ->
    classical (set)", and the file held two genres: the INFO one is now shown as the old genre,
    and the change says it stays there."""
    from mutagen.apev2 import APEv2

    y, sr = sf.read(clip, dtype="float32")
    wav, mp3 = tmp_path / "info.wav", tmp_path / "ape.mp3"
    with sf.SoundFile(wav, "w", sr, 1) as song:
        song.genre = "Baroque"
        song.write(y[: 2 * sr])
    sf.write(mp3, y[: 2 * sr], sr, format="MP3")
    ape = APEv2()
    ape["Genre"] = "Blues"
    ape.save(mp3)
    for path, where, genre in ((wav, "RIFF INFO chunk (IGNR)", "Baroque"), (mp3, "APEv2 tag", "Blues")):
        change = write_genre_tag(path, "classical", existing="replace")
        assert change.action == "written" and change.old == genre, change
        assert change.note == f"its {where} still says {genre!r}: genrekit writes only its ID3v2.4 tag, " \
                              "and players may show either"
        assert change.old_values is None and genre_field(path) == ["classical"]  # undo removes the field it added


@pytest.mark.parametrize("source, name, named, found", [
    ("tagged.m4a", "song.mp3", "MP3", "MP4"), ("tagged.flac", "song.mp3", "MP3", "FLAC"),
    ("tagged.wav", "song.mp3", "MP3", "WAV"), ("tagged.ogg", "song.mp3", "MP3", "Ogg"),
    ("tagged-id3v24.mp3", "song.flac", "FLAC", "MP3"), ("tagged-id3v24.mp3", "song.m4a", "MP4", "MP3"),
    ("tagged.aiff", "song.wav", "WAV", "AIFF"), ("tagged.opus", "song.flac", "FLAC", "Ogg"),
])
def test_a_song_whose_content_is_another_format_than_its_name_is_refused_by_name(tmp_path, originals, source, name,
                                                                                named, found):
    """The tag genrekit reads and writes follows the name: an MP4 named .mp3 given an ID3 tag in
    front no longer plays, and a FLAC read as an MP3 shows none of its owner's genres (so keep
    would write over them). Refused, file untouched, before and after a dry run."""
    song = tmp_path / name
    shutil.copy(originals / source, song)
    before = song.read_bytes()
    planned = plan_genre_tag(song, "rock", existing="keep")
    assert planned.action == "failed" and f"expected {named} content" in planned.error, planned
    assert f"found {found}" in planned.error and planned.error.count(str(song)) == 1
    assert "ParameterError" not in planned.error and "rename it" in planned.error
    change = write_genre_tag(song, "rock", existing="replace")
    assert change.action == "failed" and f"expected {named} content" in change.error, change
    with pytest.raises(genrekit.GenrekitError, match=f"expected {named} content"):
        tags_module.write_fields(song, {"GENRE": ["rock"]})
    assert song.read_bytes() == before


@pytest.mark.parametrize("container, name, found", [
    ("AU", "song.mp3", "an AU header"), ("W64", "song.mp3", "a Wave64 header"), ("CAF", "song.mp3", "a CAF header"),
    ("AU", "song.flac", "no fLaC (FLAC) header"), ("AU", "song.wav", "no RIFF/WAVE header"),
    ("W64", "song.aiff", "no FORM/AIFF header"),
])
def test_a_song_of_an_untaggable_format_under_a_taggable_name_is_refused(tmp_path, clip, container, name, found):
    """An AU file named .mp3 decodes by its content, and `tag --write-tags` put an ID3 tag in
    front of its .snd header: no player or decoder read it after (a new user's review,
    2026-12). A FLAC name's AU gave mutagen's "FLACNoHeaderError". Both are refused by name."""
    y, sr = sf.read(clip, dtype="float32", frames=2 * 22050)
    song = tmp_path / name
    sf.write(song, y, sr, format=container, subtype="PCM_16")
    before = song.read_bytes()
    for change in (plan_genre_tag(song, "rock", existing="keep"), write_genre_tag(song, "rock", existing="replace")):
        assert change.action == "failed", change
        assert f"{song}: genre tag not read (expected" in change.error and found in change.error, change.error
        assert "Error" not in change.error and change.error.count(str(song)) == 1
    with pytest.raises(genrekit.GenrekitError, match="written would damage the file"):
        tags_module.write_fields(song, {"GENRE": ["rock"]})
    assert song.read_bytes() == before


@pytest.mark.parametrize("container, codec, tagged", [("ac3", "ac3", False), ("adts", "aac", True),
                                                      ("mp2", "mp2", True)])
def test_an_mp3_name_is_tagged_only_over_audio_decoders_read_past_an_id3_tag(tmp_path, clip, container, codec,
                                                                              tagged):
    """An AC-3 stream named .mp3 (no header of its own to tell it) got an ID3 tag in front, and
    genrekit (FFmpeg) could no longer decode it (a security review, 2026-12). What the decoder
    reads an MP3 name's unknown content as decides: MPEG audio and ADTS AAC are tagged, and
    still decode; AC-3 is refused, untouched."""
    from conftest import write_encoded

    y, sr = sf.read(clip, dtype="float32", frames=3 * 22050)
    song = write_encoded(tmp_path / "song.mp3", soxr.resample(y, sr, 44100)[None, :].astype(np.float32), 44100,
                         container, codec)
    before, samples = song.read_bytes(), len(audio.load(song, sr=None)[0])
    change = write_genre_tag(song, "rock", existing="replace")
    if tagged:
        assert change.action == "written", change
        assert len(audio.load(song, sr=None)[0]) == samples
    else:
        assert change.action == "failed" and f"found {container.upper()} audio (as the decoder reads it)" in change.error
        assert song.read_bytes() == before


def test_the_content_check_passes_every_format_under_its_own_names(tmp_path, originals):
    """Each format is seen as the one its names say, an ID3 tag in front of a FLAC passed over
    as players do; bytes no format shows are left to mutagen (no refusal) when read."""
    from genrekit.errors import ParameterError

    expected = {".mp3": "MP3", ".flac": "FLAC", ".ogg": "Ogg", ".opus": "Ogg", ".m4a": "MP4", ".wav": "WAV",
                ".aiff": "AIFF"}
    for name in FILES:
        assert tags_module._content_format(str(originals / name)) == expected[Path(name).suffix], name
    tag = ID3()
    tag.add(TIT2(encoding=3, text=["in front"]))
    prefixed = tmp_path / "prefixed.flac"
    tag.save(prefixed, v2_version=4)
    with open(prefixed, "ab") as handle:
        handle.write((originals / "bare.flac").read_bytes())
    assert tags_module._content_format(str(prefixed)) == "FLAC"
    unknown = tmp_path / "odd.mp3"
    unknown.write_bytes(b"\x00" * 64)
    assert tags_module._content_format(str(unknown)) is None
    tags_module._check_content(str(unknown), ".mp3")  # read: no refusal, mutagen says what it finds
    # written: an ID3 tag went in front of what no decoder reads (a web page saved as .mp3), 2026-12-07
    with pytest.raises(ParameterError, match=r"odd.mp3: expected MP3 content for its .mp3 name, found none the "
                                             r"decoder reads .*; no tag is written to it"):
        tags_module._check_content(str(unknown), ".mp3", for_writing=True)
    adts = tmp_path / "song.m4a"
    adts.write_bytes(b"\xff\xf1\x50\x80" + b"\x00" * 60)  # ADTS AAC's sync has no MPEG layer bits
    assert tags_module._content_format(str(adts)) is None
    tag.save(unknown, v2_version=4)  # an ID3 tag, then no frame: not known to be an MP3
    assert tags_module._content_format(str(unknown)) is None
    # under an Ogg or MP4 name mutagen reads tags by the content: a FLAC named .ogg was tagged right, and still is
    misnamed = tmp_path / "flac.ogg"
    shutil.copy(originals / "tagged.flac", misnamed)
    assert plan_genre_tag(misnamed, "rock", existing="keep").action == "kept"
    assert write_genre_tag(misnamed, "rock", existing="replace").action == "written"
    assert mutagen.File(misnamed)["genre"] == ["rock"] and sf.info(misnamed).format == "FLAC"


def test_an_undo_from_a_hand_edited_journal_never_writes_a_file_genrekit_did_not_tag(tmp_path, library):
    """A journal line whose write genrekit never made (its path pointed at another file, its
    values emptied, or genrekit's model field dropped) is refused by name; that file is left
    byte for byte, and the other files' writes are still undone."""
    results = tmp_path / "tags.csv"
    _journalled_write(results, library / "tagged.flac", "rock")
    _journalled_write(results, library / "bare.ogg", "rock")
    victim = tmp_path / "elsewhere" / "victim.flac"
    victim.parent.mkdir()
    shutil.copy(library / "bare.flac", victim)
    victim_before = victim.read_bytes()
    journal = results.with_name(results.name + ".journal.jsonl")
    lines = [json.loads(line) for line in journal.read_text().splitlines()]
    for line in lines:
        if line["path"] == str(library / "tagged.flac"):
            line["path"] = str(victim)
            line["tag"]["fields"] = {"GENRE": {"old": ["Injected"], "new": None},
                                     "GENREKIT_MODEL": {"old": ["evil"], "new": None}}
    journal.write_text("".join(json.dumps(line) + "\n" for line in lines))
    undone = {Path(f.path).name: f for f in undo_tags(results).files}
    assert undone["victim.flac"].status == "refused", undone
    assert "not a write of genrekit's" in undone["victim.flac"].reason and "GENRE" in undone["victim.flac"].reason
    assert victim.read_bytes() == victim_before
    assert undone["bare.ogg"].status == "restored" and genre_field(library / "bare.ogg") is None

    # a line whose write keeps its values but not genrekit's model field: refused too
    results = tmp_path / "more.csv"
    _journalled_write(results, library / "bare.flac", "jazz")
    journal = results.with_name(results.name + ".journal.jsonl")
    lines = [json.loads(line) for line in journal.read_text().splitlines()]
    for line in lines:
        (line.get("tag") or {}).get("fields", {}).pop("GENREKIT_MODEL", None)
    journal.write_text("".join(json.dumps(line) + "\n" for line in lines))
    [refused] = undo_tags(results).files
    assert refused.status == "refused" and "GENREKIT_MODEL" in refused.reason
    assert genre_field(library / "bare.flac") == ["jazz"]


def _edited_journal(results, edit):
    journal = results.with_name(results.name + ".journal.jsonl")
    lines = [json.loads(line) for line in journal.read_text().splitlines()]
    edit(lines)
    journal.write_text("".join(json.dumps(line) + "\n" for line in lines))


def test_an_undo_from_a_journal_damaged_by_hand_changes_no_file_wrongly(tmp_path, library, caplog):
    """A review's hostile journals (2026-12-07): a list where a text goes, a NUL in a path or
    a damaged ID3 version was a TypeError, ValueError or AttributeError (a model that was no
    text, after the files were put back, so the undo was never recorded); a size of 50 MB
    padded a song to it; a
    conversion's stored tag, forged, was put into an MP3; a table's infinite size was an
    OverflowError; and a line copied twice was told as the owner's edit."""
    for name, song, edit in [
        ("format", library / "tagged.flac", lambda line: line["tag"].update(format=["Vorbis comment"])),
        ("model", library / "tagged.ogg", lambda line: line.update(model=5)),
        ("path", library / "tagged.opus", lambda line: line.update(path=line["path"] + "\x00x")),
        ("before", library / "tagged.m4a", lambda line: line["tag"].update(before=None)),
        ("id3_version", library / "tagged.wav", lambda line: line["tag"].update(id3_version="yes")),
    ]:
        results = tmp_path / f"{name}.csv"
        _journalled_write(results, song, "rock")
        _edited_journal(results, lambda lines: [edit(line) for line in lines])
        before = song.read_bytes()
        assert undo_tags(results).files == [], name  # every line kept aside as damaged: nothing to act on
        assert song.read_bytes() == before and genre_field(song) == ["rock"]
        assert results.with_name(results.name + ".journal.jsonl.damaged").exists()

    # the written line twice: one write, undone without a word about the owner
    results = tmp_path / "twice.csv"
    _journalled_write(results, library / "bare.ogg", "rock")
    _edited_journal(results, lambda lines: lines.append(dict(lines[-1])))
    [undone] = undo_tags(results).files
    assert undone.status == "restored" and undone.reason is None and genre_field(library / "bare.ogg") is None

    # a size before the write of 50 MB: the tags are put back, the song is not padded to it
    results = tmp_path / "size.csv"
    _journalled_write(results, library / "bare.opus", "rock")
    _edited_journal(results, lambda lines: [line["tag"]["before"].update(size=50_000_000) for line in lines])
    [undone] = undo_tags(results).files
    assert undone.status == "restored" and (library / "bare.opus").stat().st_size < 1_000_000
    assert "not padded back to the 50000000 bytes" in caplog.text

    # a version conversion's stored tag, replaced by another: refused, the MP3 left as it is
    from genrekit.predict import library as library_module

    mp3, results = library / "tagged-id3v24.mp3", tmp_path / "converted.csv"
    record = {"path": str(mp3), "key": "k", "size": mp3.stat().st_size, "mtime_ns": mp3.stat().st_mtime_ns,
              "model": "m", "genre": "rock", "confidence": 0.9, "probabilities": {"rock": 0.9, "jazz": 0.1},
              "error": None, "styles": None}
    with open(results.with_name(results.name + ".journal.jsonl"), "a", encoding="utf-8") as handle:
        library_module._set_tag(record, handle, library_module.TagOptions(existing="replace", id3v2_version=3),
                                lambda p: ("k2", os.stat(p).st_size, os.stat(p).st_mtime_ns))
        library_module.append_record(handle, record)
    forged = ID3()
    forged.add(TIT2(encoding=3, text=["INJECTED"]))
    block = tmp_path / "forged.id3"
    forged.save(block, v2_version=4)
    import base64

    _edited_journal(results, lambda lines: [line["tag"].update(id3_tag=base64.b64encode(block.read_bytes()).decode())
                                            for line in lines if line["tag"]["state"] == "writing"])
    before = mp3.read_bytes()
    [refused] = undo_tags(results).files
    assert refused.status == "refused" and "its stored ID3 tag holds TCON None" in refused.reason, refused
    assert mp3.read_bytes() == before

    # a results table whose row says an infinite size, while a file written is gone
    results = tmp_path / "tags.jsonl"
    _journalled_write(results, library / "bare.wav", "rock")
    _journalled_write(results, library / "bare.aiff", "rock")
    row = json.dumps({"path": "x", "key": "k", "size": 1, "mtime_ns": 1})
    results.write_text(row.replace("1,", "1e999,", 1) + "\n")
    (library / "bare.aiff").unlink()
    outcomes = {Path(f.path).name: f.status for f in undo_tags(results).files}
    assert outcomes == {"bare.wav": "restored", "bare.aiff": "refused"}


def test_a_resumed_write_takes_no_genre_from_a_journal_edited_by_hand(tmp_path, library, small_model):
    """A run without --write-tags, then one with it, writes what the first run found without
    predicting again: a journal line edited to a genre or style the model lacks, or to a
    probability that is none, is predicted again (2026-12-07: "Polka" was written into the song)."""
    from genrekit.predict.library import tag_library

    root = tmp_path / "two"
    root.mkdir()
    for name in ("bare.flac", "bare.ogg", "bare.wav"):
        shutil.copy(library / name, root / name)
    results = tmp_path / "tags.jsonl"
    tag_library(root, small_model, results, n_jobs=1, progress=False)
    edits = {"bare.flac": lambda line: line.update(probabilities={"Polka": 1.0}),
             "bare.ogg": lambda line: line.update(styles={"<b>evil</b>": 0.9}),
             "bare.wav": lambda line: line["probabilities"].update({k: float("nan") for k in line["probabilities"]})}
    _edited_journal(results, lambda lines: [edits[Path(line["path"]).name](line) for line in lines])
    summary = tag_library(root, small_model, results, n_jobs=1, progress=False, write_tags=True, styles=True)
    assert summary.n_done_before == 0 and summary.tag_actions == {"written": 3}
    for name in edits:
        assert genre_field(root / name)[0] in ("classical", "metal"), name
        assert not any("evil" in genre for genre in genre_field(root / name)), name


def _drop_written(lines: list[dict], names) -> None:
    """A journal as a run killed after each write of ``names`` and before its "written" line leaves it."""
    lost = [line for line in lines if (line.get("tag") or {}).get("state") == "written" and Path(line["path"]).name in names]
    assert len(lost) == len(names), lost
    lines[:] = [line for line in lines if not any(line is gone for gone in lost)]


def test_a_write_whose_journal_line_a_kill_lost_is_known_as_the_runs_own(tmp_path, library, small_model):
    """A run killed after a file's tag write but before its "written" line: the next run took
    the file for another one (its size and mtime changed), analysed it again and said its
    genre was "kept" as an earlier run's, and the undo could not put its size back (a FLAC came
    back 1,908 bytes larger; a review, 2026-12-07). The write is completed from the file,
    which holds its fields, and undone byte for byte."""
    from genrekit.predict.library import tag_library

    root = tmp_path / "three"
    root.mkdir()
    names = ("bare.flac", "tagged.flac", "bare.ogg")
    for name in names:
        shutil.copy(library / name, root / name)
    originals = {name: (root / name).read_bytes() for name in names}
    results = tmp_path / "tags.csv"
    first = tag_library(root, small_model, results, n_jobs=1, progress=False, write_tags=True, existing="replace")
    assert first.tag_actions == {"written": 3}
    lost = []
    _edited_journal(results, lambda lines: lost.append(lines.pop()) if lines[-1]["tag"]["state"] == "written" else None)
    assert lost and Path(lost[0]["path"]).name in names
    again = tag_library(root, small_model, results, n_jobs=1, progress=False, write_tags=True, existing="replace")
    assert again.n_done_before == 3 and again.tag_actions == {}, again
    rows = {Path(row["path"]).name: row for row in csv.DictReader(results.open(encoding="utf-8"))}
    assert {name: rows[name]["tag_action"] for name in names} == dict.fromkeys(names, "written")
    assert [f.status for f in undo_tags(results).files] == ["restored"] * 3
    assert {name: (root / name).read_bytes() for name in names} == originals

    # --hash: two copies of one song share a key; each write is completed, not the first alone
    copies = tmp_path / "copies"
    copies.mkdir()
    for name in ("a.flac", "b.flac"):
        shutil.copy(library / "bare.flac", copies / name)
    results = tmp_path / "copies.csv"
    tag_library(copies, small_model, results, n_jobs=1, progress=False, write_tags=True, use_hash=True)
    _edited_journal(results, lambda lines: _drop_written(lines, ("a.flac", "b.flac")))
    again = tag_library(copies, small_model, results, n_jobs=1, progress=False, write_tags=True, use_hash=True)
    rows = {Path(row["path"]).name: row["tag_action"] for row in csv.DictReader(results.open(encoding="utf-8"))}
    assert rows == {"a.flac": "written", "b.flac": "written"} and again.tag_actions == {}, (rows, again)

    # a version conversion (the undo puts the stored tag back whole) edited by another tagger
    # after the kill: not completed from the file as it is now, so the undo keeps the edit
    mp3, results = root / "converted.mp3", tmp_path / "converted.csv"
    shutil.copy(library / "tagged-id3v23.mp3", mp3)
    tag_library(root, small_model, results, n_jobs=1, progress=False, write_tags=True, existing="replace",
                id3v2_version=4)
    _edited_journal(results, lambda lines: _drop_written(lines, (mp3.name,)))
    edited = ID3(mp3)
    edited.add(TIT2(encoding=3, text=["Edited by another tagger"]))
    edited.save(mp3, v2_version=4)
    tag_library(root, small_model, results, n_jobs=1, progress=False, write_tags=True, existing="replace",
                id3v2_version=4)
    undo_tags(results)
    assert str(ID3(mp3)["TIT2"]) == "Edited by another tagger"


def test_an_undo_leaves_another_song_put_at_a_tagged_name_as_it_is(tmp_path, library, clip):
    """Two songs tagged alike by one run hold the same fields; one moved onto the other's name
    got that one's old genre, its own lost (a review, 2026-12-07). Its length says it is
    another song: refused by name, left byte for byte."""
    results, song, other = tmp_path / "tags.csv", library / "tagged.flac", library / "longer.flac"
    y, sr = sf.read(clip, dtype="float32")
    sf.write(other, y[: 12 * sr], sr)
    _journalled_write(results, song, "rock")
    _journalled_write(results, other, "rock")
    os.replace(other, song)
    before = song.read_bytes()
    undone = {Path(f.path).name: f for f in undo_tags(results).files}
    assert undone["tagged.flac"].status == "refused", undone
    assert "its audio is 12.0 s long, where the song genrekit tagged at this name was 5.0 s" in (
        undone["tagged.flac"].reason)
    assert "set its genre back by hand to My Genre" in undone["tagged.flac"].reason
    assert song.read_bytes() == before and undone["longer.flac"].status == "refused"  # missing


def test_a_link_and_the_song_it_leads_to_are_one_song_of_the_library(tmp_path, originals, small_model):
    """A library holding a song and a link to it tags the song once (a second write through the
    link found the file changed by the first, and failed the run); two links to a song outside
    are one song too; hard links stay two names (each refused for writing, as before)."""
    from genrekit.predict.library import library_files

    library, outside = tmp_path / "Music", tmp_path / "store"
    library.mkdir()
    outside.mkdir()
    shutil.copy(originals / "bare.flac", library / "a.flac")
    (library / "b.flac").symlink_to(library / "a.flac")
    shutil.copy(originals / "bare.ogg", outside / "c.ogg")
    (library / "c1.ogg").symlink_to(outside / "c.ogg")
    (library / "c2.ogg").symlink_to(outside / "c.ogg")
    shutil.copy(originals / "bare.opus", library / "d.opus")
    os.link(library / "d.opus", library / "e.opus")
    assert [p.name for p in library_files(library)] == ["a.flac", "c1.ogg", "d.opus", "e.opus"]
    out = tmp_path / "tags.csv"
    result = runner.invoke(app, ["tag", str(library), "--model", str(small_model), "--out", str(out), "--write-tags",
                                 "--jobs", "1"])
    assert result.exit_code == EXIT_PARTIAL, result.output  # the hard links alone fail it
    assert "changed since it was analysed" not in result.output
    assert genre_field(library / "a.flac") is not None and genre_field(outside / "c.ogg") is not None
    assert (library / "b.flac").is_symlink() and (library / "c1.ogg").is_symlink()
    assert result.output.count("other hard link") == 2


def test_an_undo_removes_the_copy_a_killed_write_left_beside_the_songs_it_puts_back(tmp_path, library):
    results = tmp_path / "tags.csv"
    _journalled_write(results, library / "tagged.flac", "rock")
    ended = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    left = library / f".genrekit-{tags_module._machine()}-{int(ended.stdout)}-abcd1234.tag"
    shutil.copy(library / "bare.flac", left)  # as a run killed between its copy and its rename leaves it
    assert [f.status for f in undo_tags(results).files] == ["restored"]
    assert not left.exists()


def test_kept_genres_an_earlier_run_wrote_say_so_and_how_to_tag_anew(tmp_path, library):
    song = library / "bare.flac"
    _journalled_write(tmp_path / "first.csv", song, "rock")
    change = plan_genre_tag(song, "jazz", existing="keep", provenance=tags_module.provenance("m2", 0.8))
    assert change.action == "kept" and "an earlier genrekit run wrote it (model m)" in change.note, change
    assert "tag --undo" in change.reason
    owners = plan_genre_tag(library / "tagged.flac", "jazz", existing="keep")
    assert owners.action == "kept" and owners.note is None and "--existing replace" in owners.reason


def test_an_undo_refusal_says_what_changed_the_file(tmp_path, library):
    """Only genrekit's own field was removed (another tagger): the genre is still genrekit's,
    but nothing proves it; a later run of another results table wrote over it: undo that first."""
    song = library / "bare.flac"
    _journalled_write(tmp_path / "first.csv", song, "rock")
    stripped = mutagen.File(song)
    del stripped["GENREKIT_MODEL"]
    stripped.save()
    [refused] = undo_tags(tmp_path / "first.csv").files
    assert refused.status == "refused" and "still what genrekit wrote" in refused.reason, refused
    assert "GENREKIT_MODEL" in refused.reason and "another tagger" in refused.reason

    song = library / "bare.ogg"
    _journalled_write(tmp_path / "a.csv", song, "rock")
    _journalled_write(tmp_path / "b.csv", song, "blues")
    [refused] = undo_tags(tmp_path / "a.csv").files
    assert refused.status == "refused" and "a later genrekit run wrote" in refused.reason, refused
    assert "undo that run's table first" in refused.reason
    assert [f.status for f in undo_tags(tmp_path / "b.csv").files] == ["restored"]
    assert [f.status for f in undo_tags(tmp_path / "a.csv").files] == ["restored"]
    assert genre_field(song) is None


def test_a_genre_thousands_of_characters_long_is_cut_where_a_line_shows_it(tmp_path, originals, small_model):
    song = tmp_path / "Music" / "long.flac"
    song.parent.mkdir()
    shutil.copy(originals / "tagged.flac", song)
    tagged = mutagen.File(song)
    tagged["genre"] = ["x" * 3000]
    tagged.save()
    result = tag(song.parent, small_model, tmp_path / "tags.csv")
    shown = "".join(result.output.split())  # however the console wrapped it
    assert "…(3000characters)kept(--existingkeep" in shown and "x" * 201 not in shown, result.output
    assert genre_field(song) == ["x" * 3000]  # kept whole, of course


def test_an_append_after_an_owners_blank_genre_is_undone(tmp_path, library):
    """append keeps the owner's values as they are, a blank one too; the undo's check that a
    journal line is genrekit's own write refused it ("edited by hand")."""
    song = library / "bare.flac"
    owned = mutagen.File(song)
    owned["genre"] = ["", "Rock"]
    owned.save()
    results = tmp_path / "tags.csv"
    _, change = _journalled_write(results, song, "jazz", existing="append")
    assert change.action == "written" and genre_field(song) == ["", "Rock", "jazz"], change
    assert [f.status for f in undo_tags(results).files] == ["restored"]
    assert genre_field(song) == ["", "Rock"]


def test_copies_of_one_song_keep_their_own_tag_outcome_in_the_table(tmp_path, originals, small_model):
    """With --hash, two byte-identical files share a key: the table gave both the outcome of
    the one tagged last (the writable copy's row said 'would fail' with the read-only copy's
    error), while the terminal told them apart (a library owner's review, 2026-12)."""
    root, _ = _small_library(tmp_path, originals, names=("tagged.flac",))
    shutil.copy(root / "tagged.flac", root / "copy.flac")
    os.chmod(root / "copy.flac", 0o444)
    out = tmp_path / "tags.jsonl"
    result = runner.invoke(app, ["tag", str(root), "--model", str(small_model), "--out", str(out), "--write-tags",
                                 "--existing", "replace", "--hash", "--dry-run", "--jobs", "1"])
    assert result.exit_code == EXIT_PARTIAL, result.output
    rows = genres_of(out)
    assert rows["tagged.flac"]["tag_action"] == "would write" and rows["tagged.flac"]["tag_error"] is None
    assert rows["copy.flac"]["tag_action"] == "would fail" and "copy.flac" in rows["copy.flac"]["tag_error"]
    assert rows["copy.flac"]["tag_new"] == rows["copy.flac"]["tag_old"]  # the field as the refused write leaves it
    assert rows["tagged.flac"]["tag_new"] != rows["tagged.flac"]["tag_old"]  # as the dry run's write would leave it
    assert rows["copy.flac"]["genre"] == rows["tagged.flac"]["genre"]  # one prediction for one content


@pytest.mark.parametrize("removed", ["a.flac", "b.flac"])
def test_a_copy_removed_after_a_write_is_no_move_of_the_one_that_stays(tmp_path, originals, small_model, removed):
    """With --hash, removing one of two identical files genrekit had written was reported as
    the other file moved from it, and the journal handed the removed file's write over to it
    (a library owner's review, 2026-12)."""
    root, before = _small_library(tmp_path, originals, names=("tagged.flac",))
    (root / "tagged.flac").rename(root / "a.flac")
    shutil.copy(root / "a.flac", root / "b.flac")
    out = tmp_path / "tags.jsonl"
    tag(root, small_model, out, "--existing", "replace", "--hash")
    (root / removed).unlink()
    stays = ({"a.flac", "b.flac"} - {removed}).pop()
    again = runner.invoke(app, ["tag", str(root), "--model", str(small_model), "--out", str(out), "--hash",
                                "--jobs", "1"])
    assert again.exit_code == EXIT_OK and "found moved" not in again.output, again.output
    assert set(genres_of(out)) == {stays} and genres_of(out)[stays]["tag_action"] == "written"
    undone = runner.invoke(app, ["tag", "--undo", str(out)])
    assert (genre_field(root / stays), all_tags(root / stays)) == before["tagged.flac"], undone.output


def test_an_id3_tag_of_thousands_of_frames_is_refused_before_mutagen_parses_it(tmp_path):
    """mutagen copies the rest of an ID3 tag once per frame: a 2 MB tag of 200,000 empty frames
    took 13 s to read, and genrekit reads a tag three times a file (a 16 MB one stalled `tag`
    for minutes; a security review, 2026-12). Its frames are counted, and their copying summed,
    as mutagen walks them, before it reads them: past 20,000 frames or 8 GB copied the tag is
    refused by name; one of a few frames reads as before."""
    import soundfile as sf

    from genrekit.audio.tags import MAX_ID3_COPY_BYTES

    def synchsafe(v):
        return bytes([(v >> 21) & 0x7F, (v >> 14) & 0x7F, (v >> 7) & 0x7F, v & 0x7F])

    sr = 22050
    sf.write(tmp_path / "base.mp3", (0.2 * np.sin(np.arange(3 * sr) / 5)).astype(np.float32), sr, format="MP3")
    audio_bytes = (tmp_path / "base.mp3").read_bytes()

    def mp3_with(n_empty: int, last: bytes = b""):
        body = b"TCON" + synchsafe(5) + b"\0\0" + b"\x03rock" + b"TIT2\0\0\0\0\0\0" * n_empty
        body += b"PRIV" + synchsafe(len(last)) + b"\0\0" + last if last else b""
        path = tmp_path / f"frames-{n_empty}-{len(last)}.mp3"
        path.write_bytes(b"ID3\x04\0\0" + synchsafe(len(body)) + body + audio_bytes)
        return path

    change = plan_genre_tag(mp3_with(200_000), ["jazz"], existing="replace")
    assert change.action == "failed" and f"would take copying more than {MAX_ID3_COPY_BYTES >> 20} MB to read" in change.error
    # fewer frames in front of 1 MB: each copies the megabyte again (15 GB)
    change = plan_genre_tag(mp3_with(15_000, b"x" * 2**20), ["jazz"], existing="replace")
    assert change.action == "failed" and f"would take copying more than {MAX_ID3_COPY_BYTES >> 20} MB to read" in change.error
    assert list(read_genre_field(mp3_with(30, b"x" * 2**20)).genres) == ["rock"]  # a cover behind some frames
    # counted by mutagen's own rules: a name starting with NUL does not end the tag for it (a code review)
    nul = tmp_path / "nul.mp3"
    body = b"\0AAA" + synchsafe(0) + b"\0\0" + b"TIT2\0\0\0\0\0\0" * 30_000
    nul.write_bytes(b"ID3\x04\0\0" + synchsafe(len(body)) + body + audio_bytes)
    assert "hold more than 20000 ID3 frames" in plan_genre_tag(nul, ["jazz"], existing="replace").error
    assert list(read_genre_field(mp3_with(3)).genres) == ["rock"]


def test_a_wav_or_flac_of_thousands_of_chunks_is_refused_before_mutagen_walks_them(tmp_path):
    """1.6 million empty chunks before a WAV's ID3 chunk took mutagen 46 s and 510 MB, a million
    empty FLAC metadata blocks 6.5 s (a security review, 2026-12): more than 4,096 are refused
    from their headers, by name; a file of a few reads as before."""
    import struct

    import soundfile as sf

    from genrekit.audio.tags import MAX_TAG_PARTS as MAX_TAG_CHUNKS

    sr = 8000
    wav = tmp_path / "chunks.wav"
    sf.write(wav, (0.1 * np.sin(np.arange(sr) / 3)).astype(np.float32), sr, subtype="PCM_16")
    data = wav.read_bytes() + b"junk\0\0\0\0" * (MAX_TAG_CHUNKS + 10)
    wav.write_bytes(data[:4] + struct.pack("<I", len(data) - 8) + data[8:])
    change = plan_genre_tag(wav, ["jazz"], existing="replace")
    assert change.action == "failed" and f"hold more than {MAX_TAG_CHUNKS} chunks" in change.error
    flac = tmp_path / "blocks.flac"
    sf.write(flac, (0.1 * np.sin(np.arange(sr) / 3)).astype(np.float32), sr)
    data = flac.read_bytes()
    streaminfo_end = 4 + 4 + 34
    first = bytes([data[4] & 0x7F]) + data[5:streaminfo_end]  # STREAMINFO, no longer the last block
    padding = bytes([1, 0, 0, 0]) * (MAX_TAG_CHUNKS + 10)  # empty PADDING blocks
    flac.write_bytes(data[:4] + first + padding + data[streaminfo_end:])
    change = plan_genre_tag(flac, ["jazz"], existing="replace")
    assert change.action == "failed" and f"hold more than {MAX_TAG_CHUNKS} metadata blocks" in change.error
    fine = tmp_path / "fine.flac"
    sf.write(fine, (0.1 * np.sin(np.arange(sr) / 3)).astype(np.float32), sr)
    assert write_genre_tag(fine, ["jazz"], existing="replace").action == "written"
    # a streamed WAV (sizes left unset) whose audio starts with silence: its zeros are no chunks (a
    # header walk of genrekit's own took them for 4,096 empty ones; mutagen stops at an invalid id)
    streamed = tmp_path / "streamed.wav"
    sf.write(streamed, np.concatenate([np.zeros(sr), 0.1 * np.sin(np.arange(sr) / 3)]).astype(np.float32), sr,
             subtype="PCM_16")
    data = bytearray(streamed.read_bytes())
    data[4:8] = b"\xff\xff\xff\xff"
    at = data.find(b"data")
    data[at + 4:at + 8] = b"\0\0\0\0"
    streamed.write_bytes(bytes(data))
    assert plan_genre_tag(streamed, ["jazz"], existing="replace").error is None


def test_replacing_an_mp3s_genre_says_that_its_id3v1_tag_keeps_the_owners(tmp_path):
    """An ID3v1-only MP3 given `--existing replace`: 'genre Jazz -> rock (set)' and no word that
    its ID3v1 tag, left byte for byte, still says Jazz to the players that read it (an APEv2
    tag or a WAV's RIFF INFO got that note) (a library owner's review, 2026-12)."""
    import soundfile as sf

    sr = 22050
    path = tmp_path / "old.mp3"
    sf.write(path, (0.2 * np.sin(np.arange(3 * sr) / 5)).astype(np.float32), sr, format="MP3")
    v1 = b"TAG" + b"Title".ljust(30, b"\0") + b"Artist".ljust(30, b"\0") + b"".ljust(30, b"\0") + b"1999" \
        + b"".ljust(30, b"\0") + bytes([8])  # 8: Jazz
    path.write_bytes(path.read_bytes() + v1)
    change = write_genre_tag(path, ["rock"], existing="replace")
    assert change.action == "written" and "its ID3v1 tag still says 'Jazz'" in change.note
    assert path.read_bytes().endswith(v1)  # left as it was
    assert "ID3v1" not in (write_genre_tag(path, ["jazz"], existing="replace").note or "")  # it says ours


def test_a_wav_whose_odd_chunk_lacks_its_pad_byte_is_left_as_it_is_and_says_why(tmp_path):
    """A WAV whose LIST/INFO chunk has an odd size and no pad byte (as some encoders write) could
    not be written: 'wrote TCON ... but read back None, None, ...; left as it is', with no word of
    what is wrong with the file or what to do (a library owner's review, 2026-12)."""
    import struct

    import soundfile as sf

    sr = 8000
    path = tmp_path / "odd.wav"
    sf.write(path, (0.1 * np.sin(np.arange(sr) / 3)).astype(np.float32), sr, subtype="PCM_16")
    info = b"INFO" + b"IGNR" + struct.pack("<I", 5) + b"Blues" + b"\0"  # IGNR padded inside
    odd = b"LIST" + struct.pack("<I", len(info) + 1) + info + b"X"  # an odd LIST, its pad byte missing
    data = path.read_bytes() + odd + b"junk" + struct.pack("<I", 4) + b"\0" * 4  # after the audio, a chunk more
    path.write_bytes(data[:4] + struct.pack("<I", len(data) - 8) + data[8:])
    before = path.read_bytes()
    change = write_genre_tag(path, ["rock"], existing="replace")
    assert change.action == "failed" and "'LIST' chunk at byte" in change.error
    assert "has an odd size (19) and no pad byte after it" in change.error and "re-save the file" in change.error
    assert path.read_bytes() == before


def test_a_wav_written_as_a_stream_is_refused_by_what_its_header_says(tmp_path):
    """A WAV whose sizes were never filled in (a recording written as a stream: 0xFFFFFFFF, or
    0x7FFFFFFF, or a data chunk of 0 bytes) is read and predicted, but its tag write failed with
    "'I' format requires 0 <= number <= 4294967295", or "read back None", and a dry run said
    it would be set (a review, 2026-12-07). Refused by what its header says, in the dry run too."""
    import struct

    import soundfile as sf

    from genrekit.audio.tags import dry_run_refusal

    sr = 8000
    base = tmp_path / "base.wav"
    sf.write(base, (0.1 * np.sin(np.arange(3 * sr) / 3)).astype(np.float32), sr, subtype="PCM_16")
    data = base.read_bytes()
    at = data.index(b"data")
    for name, whole, audio_size, said in (
            ("unset.wav", 0xFFFFFFFF, 0xFFFFFFFF, "its header gives the file 4294967303 bytes and it has 48044"),
            ("arecord.wav", 0x7FFFFFFF, 0x7FFFFFFF, "its header gives the file 2147483655 bytes"),
            ("no-data-size.wav", None, 0, "no chunk begins at byte 44, where the one before it ends"),
            ("no-size.wav", 0, None, "its header gives the file 8 bytes")):
        edited = bytearray(data)
        if whole is not None:
            edited[4:8] = struct.pack("<I", whole)
        if audio_size is not None:
            edited[at + 4:at + 8] = struct.pack("<I", audio_size)
        path = tmp_path / name
        path.write_bytes(bytes(edited))
        assert said in dry_run_refusal(path) and "written as a stream" in dry_run_refusal(path), name
        change = write_genre_tag(path, ["rock"], existing="replace")
        assert change.action == "failed" and said in change.error and "re-save the file" in change.error, name
        assert path.read_bytes() == bytes(edited), name
    assert dry_run_refusal(base) is None and write_genre_tag(base, ["rock"]).action == "written"
    # an odd last chunk without its pad byte (whether or not the header counts it): the write
    # failed with "read back None" while the dry run said it would be set
    sf.write(base, np.random.default_rng(0).uniform(-0.5, 0.5, 8001).astype(np.float32), sr, subtype="PCM_U8")
    data = base.read_bytes()
    at = data.index(b"data")
    cut = data[: at + 8 + struct.unpack("<I", data[at + 4:at + 8])[0]]
    for name, edited, said in (("unpadded.wav", cut[:4] + struct.pack("<I", len(cut) - 8) + cut[8:],
                                "its 'data' chunk at byte 36 has an odd size (8001) and no pad byte"),
                               ("pad-counted.wav", cut, "its header gives the file 8046 bytes and it has 8045")):
        path = tmp_path / name
        path.write_bytes(edited)
        assert said in dry_run_refusal(path), name
        assert write_genre_tag(path, ["rock"], existing="replace").action == "failed" and path.read_bytes() == edited
    rf64 = tmp_path / "big.wav"  # RF64: the dry run raised mutagen's InvalidChunk
    sf.write(rf64, np.zeros(800, np.float32) + 0.1, sr, format="RF64")
    assert "its tags cannot be read" in dry_run_refusal(rf64)


def test_undo_of_a_table_that_is_not_there_says_so(tmp_path):
    missing = runner.invoke(app, ["tag", "--undo", str(tmp_path / "nonexist.csv")])
    assert missing.exit_code != EXIT_OK and "found neither (no such file)" in " ".join(missing.output.split())
    (tmp_path / "table.csv").write_text("path\n")
    alone = runner.invoke(app, ["tag", "--undo", str(tmp_path / "table.csv")])
    assert alone.exit_code != EXIT_OK and "beside it; found no journal" in " ".join(alone.output.split())


def test_the_empty_padding_block_is_dropped_only_before_the_audio(tmp_path, clip):
    """An undo drops the empty PADDING block mutagen ends a FLAC's metadata with, where the FLAC
    had none: only when the first audio frame's sync follows it (mutagen writes a block over
    16 MiB with a short length, which a walk would misread as ending there: a security review,
    2026-12)."""
    from mutagen.flac import FLAC

    y, sr = sf.read(clip, dtype="float32", frames=2 * 22050)
    song = tmp_path / "song.flac"
    sf.write(song, y, sr)
    before = song.read_bytes()
    FLAC(song).save(padding=lambda info: 0)  # a zero-length PADDING block, the last one
    assert len(song.read_bytes()) == len(before) + 4
    tags_module._drop_empty_flac_padding(str(song), len(before))
    assert song.read_bytes() == before
    # a PADDING block not followed by an audio frame's sync: left as it is
    forged = tmp_path / "forged.flac"
    streaminfo = before[4:4 + 4 + 34]
    data = b"fLaC" + bytes([streaminfo[0] & 0x7F]) + streaminfo[1:] + b"\x81\x00\x00\x00" + b"\x00\x00junk" * 10
    forged.write_bytes(data)
    tags_module._drop_empty_flac_padding(str(forged), len(data) - 4)
    assert forged.read_bytes() == data


@pytest.mark.parametrize("edit", ["old is a text", "old holds a number", "a field genrekit never writes"])
def test_an_undo_refuses_a_journal_line_whose_values_genrekit_could_not_have_recorded(tmp_path, library, edit):
    """A hand-edited or damaged `old` ("abc" for ["abc"], [5, null]) or a field genrekit never
    writes reached mutagen: a ValueError or TypeError, or GENRE set to ['a', 'b', 'c'] until
    the read-back caught it. The line is refused by name, the file left byte for byte."""
    song, results = library / "tagged.flac", tmp_path / "tags.csv"
    _journalled_write(results, song, "rock")
    journal = results.with_name(results.name + ".journal.jsonl")
    records = [json.loads(line) for line in journal.read_text().splitlines()]
    written = next(r for r in records if (r.get("tag") or {}).get("state") == "written")
    fields = written["tag"]["fields"]
    genre = next(name for name in fields if name.casefold() == "genre")
    if edit == "old is a text":
        fields[genre]["old"] = "abc"
    elif edit == "old holds a number":
        fields[genre]["old"] = [5, None]
    else:
        fields["TITLE"] = {"old": ["Not mine"], "new": None}
    journal.write_text("".join(json.dumps(r) + "\n" for r in records))
    before = song.read_bytes()
    undone = undo_tags(results)
    [outcome] = undone.files
    assert outcome.status == "refused", outcome
    expected = "never writes" if edit == "a field genrekit never writes" else "edited by hand, or damaged"
    assert expected in outcome.reason and str(song) in outcome.reason, outcome.reason
    assert song.read_bytes() == before


def test_undo_of_a_folder_finds_the_table_tag_wrote_there(tmp_path, originals, small_model):
    """`tag --out DIR/` writes DIR/genrekit-tags.csv, but `tag --undo DIR/` looked for DIR's own
    journal and found none."""
    root, before = _small_library(tmp_path, originals, ("tagged.flac",))
    out = tmp_path / "results"
    written = runner.invoke(app, ["tag", str(root), "--model", str(small_model), "--out", f"{out}/", "--write-tags",
                                  "--existing", "replace", "--jobs", "1"])
    assert written.exit_code == EXIT_OK and (out / "genrekit-tags.csv").exists(), written.output
    assert genre_field(root / "tagged.flac") != before["tagged.flac"][0]
    undone = runner.invoke(app, ["tag", "--undo", str(out)])
    assert undone.exit_code == EXIT_OK, undone.output
    assert (genre_field(root / "tagged.flac"), all_tags(root / "tagged.flac")) == before["tagged.flac"]


def test_a_dry_run_names_the_writes_the_real_run_would_refuse(tmp_path, originals, small_model):
    """The preview asked only for links, the mode and hard links: it said "would write" and
    exited 0 for a tag the write refuses as one rewriting would garble, and for a song in a
    folder where the copy cannot be made (the write then failed with a PermissionError naming
    the hidden copy)."""
    root, _ = _small_library(tmp_path, originals, ("tagged.flac",))
    data = (root / "tagged.flac").read_bytes()
    assert data.count(b"A title") == 1
    (root / "tagged.flac").write_bytes(data.replace(b"A title", b"A titl\xe9"))  # Latin-1 in a UTF-8 comment
    shut = root / "shut"
    shut.mkdir()
    shutil.copy(originals / "bare.flac", shut / "bare.flac")
    args = ["tag", str(root), "--model", str(small_model), "--write-tags", "--jobs", "1", "--existing", "replace"]
    shut.chmod(0o555)
    immutable = os.access(shut, os.W_OK) and subprocess.run(["chattr", "+i", str(shut)], capture_output=True,
                                                              check=False).returncode == 0  # root writes in 555
    try:
        if os.access(shut, os.W_OK):
            pytest.skip("no folder this user cannot write into: mode 555 is no bar to root, and chattr +i failed")
        dry = runner.invoke(app, [*args, "--out", str(tmp_path / "dry.csv"), "--dry-run"])
        real = runner.invoke(app, [*args, "--out", str(tmp_path / "tags.csv")])
    finally:
        if immutable:
            subprocess.run(["chattr", "-i", str(shut)], check=True)
        shut.chmod(0o755)
    message = " ".join(dry.output.split())
    assert dry.exit_code == EXIT_ERROR and "2 would fail" in message, dry.output
    assert "would be lost or changed" in message and "its folder" in message and "cannot be written" in message
    real_message = " ".join(real.output.split())
    assert real.exit_code == dry.exit_code, real.output
    assert "its folder" in real_message and "PermissionError" not in real_message, real.output


def test_a_dry_run_predicts_the_owner_and_group_a_rewritten_copy_would_keep(tmp_path, originals, monkeypatch):
    """The preview asked only whether the user owned the song; the write also refuses a copy that
    would lose the song's group where the mode gives the group its own rights. Both now ask one
    function; here as a user (uid 4321) who is not root, and in group 4321 alone."""
    from genrekit.audio.tags import dry_run_refusal

    if os.getuid() != 0:
        pytest.skip("giving the song to other users and groups takes root")
    song = tmp_path / "bare.flac"
    shutil.copy(originals / "bare.flac", song)
    for name, value in {"getuid": 4321, "getgid": 4321, "getegid": 4321}.items():
        monkeypatch.setattr(os, name, lambda value=value: value)
    monkeypatch.setattr(os, "getgroups", lambda: [4321])
    os.chown(song, 0, 0)
    assert "owned by user 0, group 0; a rewritten copy would be owned by user 4321" in dry_run_refusal(song)
    os.chown(song, 4321, 0)
    song.chmod(0o640)  # the group may read, others may not: a copy in group 4321 would shut group 0 out
    assert "a rewritten copy would be owned by user 4321, group 4321; left as it is" in dry_run_refusal(song)
    song.chmod(0o644)  # the group has everyone's rights: its loss takes none
    assert dry_run_refusal(song) is None
    os.chown(song, 4321, 4321)
    song.chmod(0o640)
    assert dry_run_refusal(song) is None
