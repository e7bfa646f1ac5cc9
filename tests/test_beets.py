"""The beets plugin (beetsplug/genrekit.py) driven through real beets: a temporary library with
its own BEETSDIR and config, files imported as they are (``beet import -A``, no autotagger, no
network), then ``beet genrekit`` with and without ``--pretend`` and ``--force``, and ``auto``;
and ``beet genrekit --train``, which learns the library's own genres from the items its owner
tagged, then fills in the rest."""

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import mutagen
import pytest
import soundfile as sf

pytest.importorskip("beets", reason="the beets plugin's tests need beets: pip install 'genrekit[beets]'")

from genrekit import audio  # noqa: E402

from conftest import DATA, missing, write_encoded  # noqa: E402

BEET = [sys.executable, "-c", "import sys; from beets.ui import main; sys.exit(main())"]


@pytest.fixture(scope="module")
def model():
    """genrekit's own model (its ONNX export where onnxruntime is installed: about a second a run)."""
    return "default"


@pytest.fixture
def music(tmp_path, gtzan_mini):
    """Three 5 s songs: two without a genre, one whose user tagged it 'My Genre'."""
    root = tmp_path / "incoming"
    root.mkdir()
    for name, genre in (("metal.flac", "metal"), ("classical.flac", "classical"), ("mine.flac", "metal")):
        y, sr = audio.load(next((gtzan_mini / genre).glob(f"{genre}.00000.*")), sr=None)
        sf.write(root / name, y[: 5 * sr], sr)
        song = mutagen.File(root / name)
        if song.tags is None:
            song.add_tags()
        song.tags["title"] = [name[:-5]]
        if name == "mine.flac":
            song.tags["genre"] = ["My Genre"]
        song.save()
    return root


def beets(tmp_path, model, *, auto=False, write=True, extra="", name=None):
    """A beets of its own: BEETSDIR, library and config under tmp_path; only the genrekit plugin
    (so no musicbrainz); files imported in place."""
    home = tmp_path / f"beets-{name or ('auto' if auto else 'cmd')}"
    home.mkdir()
    (home / "config.yaml").write_text(f"""
directory: {home / 'library'}
library: {home / 'library.db'}
plugins: [genrekit]
import:
    copy: no
    move: no
    write: {'yes' if write else 'no'}
    autotag: no
    quiet: yes
    resume: no
    incremental: no
genrekit:
    model: {model}
    auto: {'yes' if auto else 'no'}
{extra}""")
    env = {k: v for k, v in os.environ.items() if not k.startswith("BEETS")} | {
        "BEETSDIR": str(home), "HOME": str(home), "GENREKIT_CACHE": str(home / "features")}  # --train's cache

    def beet(*args, fails=False):
        """beet's output; with ``fails``, the finished process of a command that must fail."""
        result = subprocess.run([*BEET, *args], env=env, capture_output=True, text=True, timeout=300)
        if fails:
            assert result.returncode != 0, result.stdout + result.stderr
            return result
        assert result.returncode == 0, result.stdout + result.stderr
        return result.stdout + result.stderr

    beet.config = home / "config.yaml"  # what `beet config -p` prints (test_bad_config_is_named checks beets reads it)
    return beet


# what the tests read of each item; genrekit_undo (JSON, the one that may hold "|") last
FIELDS = ("title", "genres", "genre_source", "genrekit_model", "genrekit_confidence", "genrekit_undo")


class Listing(dict):
    """title -> (genres, genre source); ``rows``: title -> every field of FIELDS as beets shows it
    (an unset flexible attribute as its name, e.g. "$genrekit_model")."""

    rows: dict[str, dict[str, str]]


def listing(beet) -> Listing:
    """title -> (genres, genre source), as beets' database holds them; with every field of FIELDS
    in ``.rows``, read by the same ``beet ls``."""
    out = beet("ls", "-f", "|".join(f"${field}" for field in FIELDS))  # an unset flexible attribute shows as its name
    rows = [dict(zip(FIELDS, line.split("|", len(FIELDS) - 1)))
            for line in out.splitlines() if line.count("|") >= len(FIELDS) - 1]
    unset = lambda value, field: "" if value == f"${field}" else value  # noqa: E731
    result = Listing({row["title"]: (row["genres"], unset(row["genre_source"], "genre_source")) for row in rows})
    result.rows = {row["title"]: row for row in rows}
    return result


def file_genres(path: Path):
    return mutagen.File(path).tags.get("genre")


def test_beet_genrekit_sets_genres_pretend_changes_nothing_and_manual_genres_need_force(tmp_path, music, model):
    beet = beets(tmp_path, model)
    beet("import", "-A", str(music))
    assert listing(beet) == {"metal": ("", ""), "classical": ("", ""), "mine": ("My Genre", "")}
    files = {p.name: p.read_bytes() for p in music.iterdir()}

    out = beet("genrekit", "--pretend")
    assert listing(beet) == {"metal": ("", ""), "classical": ("", ""), "mine": ("My Genre", "")}
    assert {p.name: p.read_bytes() for p in music.iterdir()} == files
    assert "(pretend)" in out and "mine.flac: keeps its genres My Genre" in out

    beet("genrekit")
    genres = listing(beet)
    assert genres["metal"][1] == genres["classical"][1] == "genrekit"
    assert (genres["metal"][0], genres["classical"][0]) == ("metal", "classical")  # clear cases for the default
    assert genres["mine"] == ("My Genre", "")  # the user's genre survives without --force
    assert file_genres(music / "metal.flac") == [genres["metal"][0]]  # import.write: yes, so beets wrote it
    assert file_genres(music / "mine.flac") == ["My Genre"]
    confidence = float(genres.rows["metal"]["genrekit_confidence"])
    assert 0.5 <= confidence <= 1

    beet("genrekit", "-f", "title:mine")
    genres = listing(beet)
    assert genres["mine"] == ("metal", "genrekit")
    assert file_genres(music / "mine.flac") == [genres["mine"][0]]

    # count and styles from the config; beets' write setting off: the database changes, the files do not
    config = beet.config
    config.write_text(config.read_text().replace("write: yes", "write: no") + "    count: 2\n    min_confidence: 0\n")
    files = {p.name: p.read_bytes() for p in music.iterdir()}
    beet("genrekit")
    genres = listing(beet)
    for title in ("metal", "classical", "mine"):  # the top genre and the next one (no floor: min_confidence 0)
        assert len(genres[title][0].split("; ")) == 2 and genres[title][0].startswith(title.replace("mine", "metal"))
    assert {p.name: p.read_bytes() for p in music.iterdir()} == files
    config.write_text(config.read_text() + "    styles: yes\n")  # the model's styles as further genres
    beet("genrekit", "title:metal")
    assert len(listing(beet)["metal"][0].split("; ")) > 2


def test_auto_sets_genres_on_import(tmp_path, music, model):
    beet = beets(tmp_path, model, auto=True)
    beet("import", "-A", str(music))
    genres = listing(beet)
    assert genres["metal"] == ("metal", "genrekit") and genres["classical"] == ("classical", "genrekit")
    assert genres["mine"] == ("My Genre", "")


def test_genrekit_provenance_goes_into_the_files_and_undo_puts_the_owners_genres_back(tmp_path, music, model):
    from genrekit.audio.tags import read_song_tags

    beet = beets(tmp_path, model)
    beet("import", "-A", str(music))
    before = {p.name: file_genres(p) for p in music.iterdir()}
    beet("genrekit")
    beet("genrekit", "-f", "title:mine")
    beet("genrekit", "-f", "title:mine")  # a second change keeps the owner's genre as the one to put back
    genres = listing(beet)
    assert genres["mine"] == ("metal", "genrekit")
    for name in ("metal.flac", "mine.flac"):  # beets wrote genrekit's provenance with the genres
        tags = mutagen.File(music / name).tags
        assert tags["genrekit_model"][0].startswith("default") and 0.5 <= float(tags["genrekit_confidence"][0]) <= 1
        assert tags["genrekit_version"] and tags["genrekit_date"], dict(tags)
        assert read_song_tags(music / name).by_genrekit  # so genrekit's own --labels-from-tags does not learn from it
    assert "My Genre" in genres.rows["mine"]["genrekit_undo"]

    # a fresh library importing those files knows their genres are genrekit's, not the owner's
    other = beets(tmp_path, model, name="other")
    other("import", "-A", str(music))
    assert other("ls", "-f", "$genrekit_model", "title:metal").strip().startswith("default")
    out = other("genrekit", "--pretend")
    assert "metal.flac: keeps its genres" not in out and "mine.flac: keeps its genres" not in out
    # ... unless the owner edited the genre since in a tagger that kept genrekit's fields
    import shutil

    edited = tmp_path / "edited"
    edited.mkdir()
    shutil.copy(music / "metal.flac", edited / "metal.flac")
    song = mutagen.File(edited / "metal.flac")
    assert song.tags["genrekit_genres"] == ["metal"]  # what beets' genrekit wrote
    song.tags["genre"] = ["Doom"]
    song.save()
    assert not read_song_tags(edited / "metal.flac").by_genrekit
    third = beets(tmp_path, model, name="third")
    third("import", "-A", str(edited))
    assert "metal.flac: keeps its genres" in third("genrekit", "--pretend")

    # the owner changed classical's genre since: undo leaves it and says so
    beet("modify", "-y", "title:classical", "genres=Baroque")
    files = {p.name: p.read_bytes() for p in music.iterdir()}
    out = beet("genrekit", "--undo", "--pretend")
    assert {p.name: p.read_bytes() for p in music.iterdir()} == files and listing(beet)["mine"][0] == "metal"
    assert "(pretend)" in out
    undone = beet("genrekit", "--undo", fails=True)  # as `genrekit tag --undo`, an item left is an error
    out = undone.stdout + undone.stderr
    assert "genrekit: 1 item(s) not undone" in out
    genres = listing(beet)
    assert genres["mine"] == ("My Genre", "") and genres["metal"] == ("", "")
    assert genres["classical"] == ("Baroque", "genrekit") and "classical.flac: not undone" in out
    assert file_genres(music / "mine.flac") == before["mine.flac"] == ["My Genre"]
    assert not file_genres(music / "metal.flac")
    for name in ("metal.flac", "mine.flac"):
        assert not [k for k in mutagen.File(music / name).tags.keys() if k.lower().startswith("genrekit")]
        assert not read_song_tags(music / name).by_genrekit
    assert (genres.rows["mine"]["genrekit_undo"], genres.rows["mine"]["genrekit_model"]) == (
        "$genrekit_undo", "$genrekit_model")  # both unset
    undone = beet("genrekit", "--undo", fails=True)  # nothing left to undo but the item changed since
    out = undone.stdout + undone.stderr
    assert "metal.flac" not in out and "mine.flac" not in out and "classical.flac: not undone" in out


def test_undo_keeps_what_the_owner_did_between_runs_and_the_provenance_genrekit_had_set_before(
        tmp_path, music, model):
    from genrekit.audio.tags import read_song_tags

    first = beets(tmp_path, model, name="first")
    first("import", "-A", str(music))
    first("genrekit")  # the files now carry genrekit's genres and provenance
    beet = beets(tmp_path, model, name="second")
    beet("import", "-A", str(music))
    model_before = beet("ls", "-f", "$genrekit_model", "title:metal").strip()
    assert model_before.startswith("default")
    beet("genrekit")  # genrekit's genres (from the file) replaced without --force
    beet("modify", "-y", "title:classical", "genres=Baroque")  # the owner's edit since
    out = beet("genrekit")
    assert "classical.flac: keeps its genres Baroque (set by its user, since genrekit set them" in out
    beet("genrekit", "-f", "title:classical")  # now replaced: the owner's Baroque is what undo puts back
    beet("modify", "-y", "title:mine", "genrekit_undo=oops")  # not genrekit's record: the owner's
    assert "mine.flac: keeps its genres" in beet("genrekit")
    undone = beet("genrekit", "--undo", fails=True)
    out = undone.stdout + undone.stderr
    assert "mine.flac: not undone" in out and "genrekit: 1 item(s) not undone" in out
    genres = listing(beet)
    assert genres["classical"] == ("Baroque", "")  # the owner's, no longer marked as genrekit's
    assert genres.rows["classical"]["genrekit_model"] == "$genrekit_model"  # unset
    assert file_genres(music / "classical.flac") == ["Baroque"] and not read_song_tags(music / "classical.flac").by_genrekit
    # metal had genrekit's genres and provenance before this library's change: both come back
    assert genres.rows["metal"]["genrekit_model"] == model_before
    assert read_song_tags(music / "metal.flac").by_genrekit


def test_files_are_written_on_a_copy_after_the_undo_record_and_a_refused_write_keeps_it(tmp_path, music, model):
    """beets' own write changes a song in place after the file is written and before its
    database has the undo record. genrekit's command stores the record first, writes the
    file on a copy that replaces it (a new inode, no copy left), and where the file cannot be
    replaced (a hard link would keep the old tags) says so, and undo keeps its record until
    the file is put back (a file never written needs nothing put back)."""
    beet = beets(tmp_path, model)
    beet("import", "-A", str(music))
    song = music / "metal.flac"
    inode = song.stat().st_ino
    link = tmp_path / "elsewhere.flac"
    os.link(music / "classical.flac", link)
    result = beet("genrekit", fails=True)  # a file not written: the command says so, and fails
    out = result.stdout + result.stderr
    assert "1 failed" in out and result.stderr.strip().splitlines()[-1].endswith("classical.flac")
    assert song.stat().st_ino != inode and file_genres(song) == ["metal"]
    assert not [p.name for p in music.iterdir() if p.name.startswith(".")]
    assert "classical.flac: file not written" in out and "hard link" in out
    assert not file_genres(music / "classical.flac")  # the file as it was; the database has the change and its record
    genres = listing(beet)
    assert genres["classical"][1] == "genrekit" and genres.rows["classical"]["genrekit_undo"].startswith("{")
    before = (music / "classical.flac").read_bytes()
    beet("genrekit", "--undo", "title:classical")  # its file holds what it held before: nothing to write
    assert listing(beet)["classical"] == ("", "") and (music / "classical.flac").read_bytes() == before
    link.unlink()
    beet("genrekit", "title:classical")
    assert file_genres(music / "classical.flac") == ["classical"]
    os.link(music / "classical.flac", link)
    result = beet("genrekit", "--undo", fails=True)  # the file cannot be replaced: its record stays
    assert "classical.flac: file not written" in result.stderr and "hard link" in result.stderr
    assert listing(beet).rows["classical"]["genrekit_undo"].startswith("{") and not file_genres(song)
    assert file_genres(music / "classical.flac") == ["classical"]
    link.unlink()
    beet("genrekit", "--undo")
    assert listing(beet).rows["classical"]["genrekit_undo"] == "$genrekit_undo"
    assert (music / "classical.flac").read_bytes() == before


def test_bad_config_is_named(tmp_path, music, model):
    beet = beets(tmp_path, model)
    beet("import", "-A", str(music))
    config = Path(beet("config", "-p").strip())
    assert config == beet.config  # the path the other tests write to is the one beets reads
    good = config.read_text()
    for setting, named in (("count: 0", "genrekit.count"), ("jobs: yes", "genrekit.jobs"),
                           ("jobs: 100000", "genrekit.jobs: at most"),  # a pool the machine cannot hold, by its key
                           ("min_confidence: yes", "genrekit.min_confidence")):  # YAML's yes: a bool, no number
        config.write_text(good + f"    {setting}\n")
        result = subprocess.run([*BEET, "genrekit"], env=os.environ | {"BEETSDIR": str(config.parent)},
                                capture_output=True, text=True, timeout=300)
        found = setting.split(": ")[1].replace("yes", "True")
        assert result.returncode != 0 and named in result.stderr and f"found {found}" in result.stderr, result.stderr
        assert "Traceback" not in result.stderr, result.stderr  # one line, not a stack
    # auto as text: a traceback on every beet command, and no `beet genrekit` (a review, 2026-12-07)
    config.write_text(good.replace("    auto: no\n", '    auto: "yes"\n', 1))
    result = subprocess.run([*BEET, "genrekit", "--pretend"], env=os.environ | {"BEETSDIR": str(config.parent)},
                            capture_output=True, text=True, timeout=300)
    assert "Traceback" not in result.stderr and "the import stage is off" in result.stderr, result.stderr
    assert "unknown command" not in result.stderr, result.stderr


# The library for --train: real GTZAN clips cut to 10 s, as mp3/flac/ogg, 70% tagged by their
# owner with messy spellings, two deliberately swapped; artists in blocks of two adjacent ids.
DEV = DATA / "gtzan-dev" / "genres"
OWN_CLIPS = {"classical": (range(8), (10, 11)), "jazz": (range(8), (10,)), "rock": (range(8), (10,)),
             "metal": (range(8), ())}  # genre -> (gtzan-mini ids, gtzan-dev ids): 36 songs
OWN_SPELLINGS = {"classical": ("Classical", "classical music"), "jazz": ("Jazz", "jazz"),
                 "rock": ("Rock", "rock", "ROCK"), "metal": ("Metal", "heavy-metal")}
# The owner's taxonomy is capitalised: none of its names is one of GTZAN's (the default model's) ten
OWN_MAP = "from,to\nclassical music,Classical\nheavy-metal,Metal\nrock,Rock\njazz,Jazz\n"
OWN_SWAPPED = {("classical", 3): "Metal", ("metal", 3): "Classical"}
OWN_FORMATS = (("mp3", "MP3"), ("flac", "FLAC"), ("ogg", "OGG"))


@pytest.fixture
def own_library(tmp_path, gtzan_mini) -> dict:
    """The files (title -> path), the truth (title -> GTZAN genre), the titles tagged by their
    owner (title -> genre as tagged), untagged and swapped, and the genre map."""
    import numpy as np

    if not DEV.exists():
        missing(f"gtzan-dev not found at {DEV} (expected ../shared/data beside the repository)")
    root = tmp_path / "Music"
    rng = np.random.default_rng(3)
    files, truth, tagged, untagged, swapped = {}, {}, {}, [], []
    n = 0
    for genre, (mini_ids, dev_ids) in OWN_CLIPS.items():
        sources = [next((gtzan_mini / genre).glob(f"{genre}.{i:05d}.*")) for i in mini_ids]
        sources += [DEV / genre / f"{genre}.{i:05d}.flac" for i in dev_ids]
        untagged_at = set(rng.choice(len(sources), size=round(0.3 * len(sources)), replace=False))
        for position, source in enumerate(sources):
            number = int(source.name.split(".")[1])
            y, sr = audio.load(source, sr=None)
            suffix, fmt = OWN_FORMATS[n % 3]
            title = f"track {n:03d}"
            path = (root if n % 4 == 0 else root / f"Disc {n % 3}") / f"{title}.{suffix}"
            path.parent.mkdir(parents=True, exist_ok=True)
            sf.write(path, y[5 * sr:15 * sr], sr, format=fmt)  # 10 s from 5 s in
            song = mutagen.File(path, easy=True)
            if song.tags is None:
                song.add_tags()
            song["title"], song["artist"] = [title], [f"{genre} artist {number // 2}"]
            is_swapped = (genre, number) in OWN_SWAPPED
            if position in untagged_at and not is_swapped:
                untagged.append(title)
            else:
                tagged[title] = OWN_SWAPPED.get((genre, number)) or OWN_SPELLINGS[genre][n % len(OWN_SPELLINGS[genre])]
                song["genre"] = [tagged[title]]
                if is_swapped:
                    swapped.append(title)
            song.save()
            files[title], truth[title] = path, genre
            n += 1
    genre_map = tmp_path / "genre-map.csv"
    genre_map.write_text(OWN_MAP)
    return {"files": files, "truth": truth, "tagged": tagged, "untagged": untagged, "swapped": swapped,
            "map": genre_map}


def test_beet_genrekit_train_learns_the_library_genres_then_fills_in_the_rest(tmp_path, own_library):
    import time

    from genrekit.models.interface import model_id

    lib = own_library
    assert lib["map"].parent == tmp_path  # a relative map path is relative to beets' config file:
    beet = beets(tmp_path, "auto", extra="    map: ../genre-map.csv\n")
    beet("import", "-A", str(lib["files"]["track 000"].parent))
    before = listing(beet)
    assert {t for t, (genres, _) in before.items() if genres} == set(lib["tagged"])
    assert all(before[t] == (g, "") for t, g in lib["tagged"].items())  # beets read the owner's spellings

    started = time.perf_counter()
    out = beet("genrekit", "--train")
    trained_in = time.perf_counter() - started
    folder = beet.config.parent / "genrekit" / "model"
    assert (folder / "model.genrekit").is_file() and (folder / "disagreements.csv").is_file(), out
    assert not [p for p in folder.parent.iterdir() if p.name.startswith(".model-")]  # no staging left behind
    run = json.loads((folder / "run.json").read_text())
    labels = set(run["dataset"]["labels"])
    assert labels == {"Classical", "Jazz", "Rock", "Metal"}, labels  # the map's names, not GTZAN's
    cv = json.loads((folder / "cv.json").read_text())
    assert cv["n_tracks"] == len(lib["tagged"]) and "grouped by artist" in cv["protocol"]
    assert f"{cv['protocol']}: accuracy {cv['accuracy_mean']:.3f}" in out
    assert "what it learned, per genre" in out and f"{len(lib['untagged'])} without genres" in out
    disputed = {row["path"] for row in csv.DictReader(open(folder / "disagreements.csv"))}
    swapped = {str(lib["files"][t]) for t in lib["swapped"]}
    assert swapped <= disputed, (disputed, out)
    assert all(f"- {path}: tagged" in out for path in swapped), out  # the top ones are printed
    assert str(folder / "disagreements.csv") in out

    started = time.perf_counter()
    out = beet("genrekit")
    tagged_in = time.perf_counter() - started
    assert f"model: {folder / 'model.genrekit'}" in out, out
    after = listing(beet)
    for title, genre in lib["tagged"].items():  # the owner's genres (and their source) untouched, swapped included
        assert after[title] == (genre, ""), (title, after[title])
    filled = {title: after[title] for title in lib["untagged"]}
    assert all(source == "genrekit" for _, source in filled.values()), filled
    assert {genres for genres, _ in filled.values()} <= labels, filled  # the library's genres
    identity = model_id(folder)
    models = {row["genrekit_model"] for row in after.rows.values()  # beets' genre_source:genrekit query:
              if "genrekit" in row["genre_source"].casefold()}  # a case-insensitive substring match
    assert models == {identity}, models
    right = sum(genres.casefold() == lib["truth"][title] for title, (genres, _) in filled.items())
    accuracy = right / len(filled)
    print(f"beet genrekit --train on {len(lib['tagged'])} tagged items: CV {cv['accuracy_mean']:.3f} "
          f"({cv['protocol']}), {trained_in:.0f} s; then {right}/{len(filled)} untagged items given their genre "
          f"right ({accuracy:.2f}), {tagged_in:.0f} s")
    assert accuracy >= 0.7, accuracy  # four genres: chance is 0.25
    flac = next(t for t in lib["untagged"] if lib["files"][t].suffix == ".flac")
    assert file_genres(lib["files"][flac]) == [filled[flac][0]]  # import.write: yes, so beets wrote it

    # a failed training (every genre left out) keeps the model as it was, and leaves nothing behind
    config = beet.config
    config.write_text(config.read_text() + "    min_per_genre: 100\n")
    result = beet("genrekit", "--train", fails=True)
    assert "Traceback" not in result.stderr, result.stderr
    assert model_id(folder) == identity and not [p for p in folder.parent.iterdir() if p.name.startswith(".model-")]


def test_bad_train_config_is_named(tmp_path, model):
    beets(tmp_path, model, extra="    min_per_genre: 0\n")  # checked before anything is read: an empty library will do
    result = subprocess.run([*BEET, "genrekit", "--train"], env=os.environ | {"BEETSDIR": str(tmp_path / "beets-cmd")},
                            capture_output=True, text=True, timeout=300)
    assert result.returncode != 0, result.stderr
    assert result.stderr.strip().splitlines()[-1] == (
        "error: genrekit.min_per_genre: expected a whole number of items, at least 1; found 0"), result.stderr
    assert "Traceback" not in result.stderr, result.stderr  # one line, not a stack


@pytest.fixture
def plugin_library(tmp_path, music, monkeypatch):
    """genrekit's plugin and a beets library in this process (files imported as they are,
    import.write on): for what a subprocess cannot show, such as an interruption mid-run."""
    from beets import config
    from beets.library import Item, Library

    monkeypatch.setenv("BEETSDIR", str(tmp_path / "beetsdir"))
    monkeypatch.setenv("GENREKIT_CACHE", str(tmp_path / "features"))
    config.clear()
    config.read(user=False, defaults=True)
    config["import"]["write"] = True
    config["genrekit"]["model"] = "default"
    from beetsplug.genrekit import GenrekitPlugin

    library = Library(str(tmp_path / "library.db"))
    for path in sorted(music.iterdir()):
        library.add(Item.from_path(str(path)))
    yield GenrekitPlugin(), library
    config.clear()


def test_each_item_is_kept_as_its_genre_comes_and_a_second_run_predicts_only_what_is_new(plugin_library, monkeypatch):
    """20 000 items were predicted before the first was stored: an interruption lost them all, and
    every later run predicted (and rewrote) every item genrekit had set."""
    import genrekit.predict.files as files

    plugin, library = plugin_library
    real = files.iter_predictions
    predicted = []

    def interrupted_after_one(model, paths, **options):
        for outcome in real(model, paths, **options):
            predicted.append(outcome[0])
            yield outcome
            raise KeyboardInterrupt

    monkeypatch.setattr(files, "iter_predictions", interrupted_after_one)
    with pytest.raises(KeyboardInterrupt):
        plugin.tag_items(list(library.items()), write=True)
    first = Path(predicted[0]).name
    stored = {Path(item.filepath).name: list(item.genres) for item in library.items()}
    assert stored[first] == [first.split(".")[0]] and file_genres(Path(predicted[0])) == stored[first]
    assert sum(bool(genres) for genres in stored.values()) == 2  # that one, and the owner's "mine"

    def counted(model, paths, **options):
        predicted.extend(paths)
        return real(model, paths, **options)

    predicted.clear()
    monkeypatch.setattr(files, "iter_predictions", counted)
    outcome = plugin.tag_items(list(library.items()), write=True)
    assert [Path(p).name for p in predicted] == [name for name in ("classical.flac", "metal.flac") if name != first]
    assert outcome.counts["set before by this model"] == 1 and outcome.counts["kept (owner's)"] == 1

    predicted.clear()
    written = {path: path.stat().st_ino for path in Path(predicted_root(library)).iterdir()}
    outcome = plugin.tag_items(list(library.items()), write=True)
    assert not predicted and outcome.counts["set before by this model"] == 2 and not outcome.done
    assert {path: path.stat().st_ino for path in written} == written  # no file rewritten
    plugin.config["count"] = 2  # other settings: predicted again
    plugin.tag_items(list(library.items()), write=True)
    assert sorted(Path(p).name for p in predicted) == ["classical.flac", "metal.flac"]


def predicted_root(library) -> Path:
    return Path(next(iter(library.items())).filepath).parent


def test_the_import_stage_predicts_in_beets_process_whatever_jobs_says(plugin_library, monkeypatch):
    """With ``jobs: 2`` each import task started a pool whose workers loaded the model again."""
    import genrekit.predict.files as files

    plugin, library = plugin_library
    plugin.config["jobs"] = 2
    real, calls = files.iter_predictions, []

    def spy(model, paths, **options):
        calls.append((model, options["n_jobs"]))
        return real(model, paths, **options)

    monkeypatch.setattr(files, "iter_predictions", spy)

    class Task:  # what the import stage reads of beets' import task: an as-is task
        apply, choice_flag = False, None

        def __init__(self, items):
            self.items = items

        def imported_items(self):
            return self.items

    for item in library.items():
        plugin.imported(None, Task([item]))
    assert calls and all(jobs == 1 and not isinstance(model, (str, os.PathLike)) for model, jobs in calls), calls
    assert len({id(model) for model, _ in calls}) == 1  # one model, loaded once


def test_only_the_genre_fields_are_written_and_genres_changed_in_the_file_since_beets_read_it_are_left(tmp_path, music, model):
    """beets' own write put every field of its database into the file: a title the owner had
    fixed in another tagger since went back to beets' stale one, beyond undo's reach."""
    beet = beets(tmp_path, model)
    beet("import", "-A", str(music))
    beet("modify", "-y", "-W", "title:metal", "artist=stale in beets")  # the database only: the file keeps its own
    beet("genrekit", "title:metal")
    tags = mutagen.File(music / "metal.flac").tags
    assert tags["genre"] == ["metal"] and tags["genrekit_model"] and "artist" not in tags and tags["title"] == ["metal"]

    song = mutagen.File(music / "classical.flac")  # the owner's edit in another tagger, after beets read it
    song.tags["genre"] = ["Baroque"]
    song.save()
    before = (music / "classical.flac").read_bytes()
    out = beet("genrekit", "title:classical")
    assert "classical.flac: left as it is: its file's genres (Baroque) are not beets' (none)" in out, out
    assert "beet update" in out
    assert (music / "classical.flac").read_bytes() == before and listing(beet)["classical"] == ("", "")
    (beet.config.parent / "library").mkdir()  # beets' update asks where it is missing
    beet("update")
    assert "classical.flac: keeps its genres Baroque" in beet("genrekit", "title:classical")  # the owner's now


def test_undo_without_writing_leaves_an_item_whose_file_holds_genrekits_genres(tmp_path, music, model):
    """Undone in beets' database only, the record was gone while the file kept genrekit's genres
    and fields."""
    beet = beets(tmp_path, model)
    beet("import", "-A", str(music))
    beet("genrekit", "title:metal")
    result = beet("genrekit", "--undo", "-W", fails=True)
    assert "metal.flac: not undone: its file holds the genres genrekit wrote" in result.stderr and "-w" in result.stderr
    assert listing(beet)["metal"] == ("metal", "genrekit") and file_genres(music / "metal.flac") == ["metal"]
    beet("genrekit", "--undo", "-w")
    assert listing(beet)["metal"] == ("", "") and not file_genres(music / "metal.flac")


def test_auto_writes_the_files_of_an_as_is_import_once_beets_has_copied_them(tmp_path, music, model):
    """beets' importer writes the files of the albums it tags only: an as-is import's files had
    no genres while beets' database had them."""
    beet = beets(tmp_path, model, auto=True)
    beet.config.write_text(beet.config.read_text().replace("copy: no", "copy: yes"))
    originals = {p.name: p.read_bytes() for p in music.iterdir()}
    beet("import", "-A", str(music))
    assert {p.name: p.read_bytes() for p in music.iterdir()} == originals  # the owner's originals untouched
    copies = {mutagen.File(p).tags["title"][0]: p for p in (beet.config.parent / "library").rglob("*.flac")}
    assert sorted(copies) == ["classical", "metal", "mine"], copies
    genres = listing(beet)
    for title, path in copies.items():
        assert file_genres(path) == [genres[title][0]], (title, genres[title])
    assert file_genres(copies["metal"]) == ["metal"] and file_genres(copies["mine"]) == ["My Genre"]
    assert mutagen.File(copies["metal"]).tags["genrekit_model"]


def test_a_file_whose_write_failed_is_written_by_the_next_run_without_predicting_again(plugin_library, tmp_path,
                                                                                         monkeypatch):
    """Its item was recorded as set by this model with these settings, so every later run left
    it, file unwritten (the same after a run with -W)."""
    import genrekit.predict.files as files

    plugin, library = plugin_library
    song = next(Path(item.filepath) for item in library.items() if Path(item.filepath).name == "metal.flac")
    link = tmp_path / "elsewhere.flac"
    os.link(song, link)  # a hard link: the write is refused
    assert plugin.tag_items(list(library.items()), write=True).failed == [str(song)]
    assert not file_genres(song)
    link.unlink()
    predicted = []
    real = files.iter_predictions
    monkeypatch.setattr(files, "iter_predictions", lambda model, paths, **o: (predicted.extend(paths),
                                                                              real(model, paths, **o))[1])
    outcome = plugin.tag_items(list(library.items()), write=True)
    assert not predicted and outcome.counts["set before, now written to the file"] == 1 and not outcome.failed
    assert file_genres(song) == ["metal"] and mutagen.File(song).tags["genrekit_model"]


def metal_clip(gtzan_mini):
    """5 s of a GTZAN metal song [shape=(n,)] and its sample rate."""
    y, sr = audio.load(next((gtzan_mini / "metal").glob("metal.00000.*")), sr=None)
    return y[: 5 * sr], sr


def genres_of(beet, path: Path) -> str:
    """The item's genres as beets' database holds them ("; "-joined)."""
    return beet("ls", "-f", "$genres", f"path:{path}").strip()


def test_an_id3_tag_keeps_its_version_and_frames_and_undo_puts_the_mp3s_back_byte_for_byte(tmp_path, gtzan_mini,
                                                                                           model):
    """beets' MediaFile saved the whole tag in beets' ID3 version: an ID3v2.3 tag became v2.4, its
    TYER and TDAT merged into TDRC, and stayed so after the undo, which also left an empty ID3v2.4
    tag in an mp3 that had none."""
    from mutagen.id3 import ID3, TDAT, TIT2, TYER, ID3NoHeaderError

    songs = tmp_path / "songs"
    songs.mkdir()
    y, sr = metal_clip(gtzan_mini)
    for name in ("v23.mp3", "notag.mp3"):
        sf.write(songs / name, y, sr, format="MP3")
    tag = ID3()
    tag.add(TIT2(encoding=1, text=["v23"]))
    tag.add(TYER(encoding=0, text=["1999"]))
    tag.add(TDAT(encoding=0, text=["0312"]))
    tag.save(songs / "v23.mp3", v2_version=3)
    beet = beets(tmp_path, model)
    beet("import", "-A", str(songs))
    before = {p.name: p.read_bytes() for p in songs.iterdir()}

    beet("genrekit")
    v23 = ID3(songs / "v23.mp3", translate=False)
    assert v23.version[:2] == (2, 3) and "TDRC" not in v23, (v23.version, v23.keys())
    assert (v23["TYER"].text, v23["TDAT"].text, v23["TIT2"].text) == (["1999"], ["0312"], ["v23"])
    assert v23["TCON"].text == [genres_of(beet, songs / "v23.mp3")] and v23["TXXX:GENREKIT_MODEL"].text
    assert ID3(songs / "notag.mp3")["TCON"].text == [genres_of(beet, songs / "notag.mp3")]

    # two genres: one ID3v2.3 value joined by "; ", as genrekit tag writes them, which beets reads as two
    config = beet.config
    config.write_text(config.read_text() + "    count: 2\n    min_confidence: 0\n")
    beet("genrekit", f"path:{songs / 'v23.mp3'}")
    genres = genres_of(beet, songs / "v23.mp3")
    v23 = ID3(songs / "v23.mp3", translate=False)
    assert len(genres.split("; ")) == 2 and v23["TCON"].text == [genres] and v23.version[:2] == (2, 3)
    assert "1 set before by this model" in beet("genrekit", f"path:{songs / 'v23.mp3'}")  # the file holds them

    beet("genrekit", "--undo")
    assert {p.name: p.read_bytes() for p in songs.iterdir()} == before  # the v2.3 tag, and no tag, as they were
    with pytest.raises(ID3NoHeaderError):
        ID3(songs / "notag.mp3")
    assert genres_of(beet, songs / "v23.mp3") == genres_of(beet, songs / "notag.mp3") == ""


def write_wma(path: Path, y, sr: int) -> Path:
    """Encode ``y`` [shape=(n,)] as WMA (an ASF file): a format genrekit's tag writer does not
    know, written through beets' MediaFile."""
    return write_encoded(path, y[None, :], sr, "asf", "wmav2", bit_rate=64000)


def ilst_atoms(path: Path) -> list[tuple[bytes, bytes]]:
    """An m4a's metadata atoms as stored, (name, data), sorted."""
    from mutagen.mp4 import Atoms

    with open(path, "rb") as handle:
        ilst = Atoms(handle).path(b"moov", b"udta", b"meta", b"ilst")[-1]
        return sorted((atom.name, atom.read(handle)[1]) for atom in ilst.children)


def test_undo_puts_an_m4a_back_as_it_was_and_removes_the_fields_a_wma_lacked(tmp_path, gtzan_mini, model):
    """The undo wrote empty values: an m4a kept an empty ©gen atom. An m4a's numbered genre (a
    ``gnre`` atom, read as ``©gen``) comes back as that atom."""
    pytest.importorskip("av")
    from conftest import write_m4a

    songs = tmp_path / "songs"
    songs.mkdir()
    y, sr = metal_clip(gtzan_mini)
    for name in ("song.m4a", "itunes.m4a"):
        write_m4a(songs / name, y[None, :].astype("float32"), sr)
        song = mutagen.File(songs / name)
        song["\xa9nam"] = [name]
        song["\xa9gen"] = ["ab"]  # itunes.m4a: replaced by a gnre atom of the same size
        song.save()
    song = mutagen.File(songs / "song.m4a")
    del song["\xa9gen"]
    song.save()
    data = (songs / "itunes.m4a").read_bytes()
    text = b"\xa9gen\x00\x00\x00\x12data\x00\x00\x00\x01\x00\x00\x00\x00ab"
    assert data.count(text) == 1
    number = b"gnre\x00\x00\x00\x12data" + bytes(8) + (9).to_bytes(2, "big")  # iTunes' genre 9: Jazz
    (songs / "itunes.m4a").write_bytes(data.replace(text, number))
    write_wma(songs / "song.wma", y, sr)
    beet = beets(tmp_path, model)
    beet("import", "-A", str(songs))
    assert genres_of(beet, songs / "itunes.m4a") == "Jazz"  # beets reads the number (9) as its genre
    before = ((songs / "song.m4a").read_bytes(), ilst_atoms(songs / "itunes.m4a"))

    beet("genrekit", "-f")
    for name in ("song.m4a", "itunes.m4a"):
        tags = mutagen.File(songs / name).tags
        assert tags["\xa9gen"] == [genres_of(beet, songs / name)] and tags["----:org.genrekit:MODEL"], name
    assert b"gnre" not in (songs / "itunes.m4a").read_bytes()
    assert mutagen.File(songs / "song.wma").tags["WM/Genre"] == [genres_of(beet, songs / "song.wma")]

    beet("genrekit", "--undo")
    # byte for byte, and the gnre atom as it was (genrekit's own undo puts it back among the atoms, not in its place)
    assert ((songs / "song.m4a").read_bytes(), ilst_atoms(songs / "itunes.m4a")) == before
    assert "WM/Genre" not in mutagen.File(songs / "song.wma").tags
    assert genres_of(beet, songs / "song.m4a") == genres_of(beet, songs / "song.wma") == ""
    assert genres_of(beet, songs / "itunes.m4a") == "Jazz"


def test_an_undo_record_nested_too_deep_for_json_is_not_genrekits(plugin_library):
    """json.loads raises RecursionError, not ValueError, on '[' * 100000: setting and undoing
    genres stopped with it."""
    from beetsplug.genrekit import UNDO_FIELD

    plugin, library = plugin_library
    mine = next(item for item in library.items() if item.title == "mine")
    mine[UNDO_FIELD] = "[" * 100_000
    mine.store()
    assert plugin.tag_items([mine], write=True).counts["kept (owner's)"] == 1  # the owner's genre, not genrekit's
    outcome = plugin.undo_items([mine], write=True)
    assert outcome.counts[f"left (no genrekit record in {UNDO_FIELD})"] == 1 and not outcome.done
    assert file_genres(Path(mine.filepath)) == ["My Genre"] and list(mine.genres) == ["My Genre"]


def test_an_undo_record_without_the_files_fields_removes_genrekits_fields_from_the_file(plugin_library):
    """A record an older genrekit made does not hold the file's fields as they were: the file
    gets the genres and provenance put back in the item, and the fields the item lacks are
    removed, not left empty."""
    from beetsplug.genrekit import UNDO_FIELD

    plugin, library = plugin_library
    metal = next(item for item in library.items() if item.title == "metal")
    assert plugin.tag_items([metal], write=True).done
    record = json.loads(metal[UNDO_FIELD])
    assert record.pop("file") == {"fields": {"GENRE": None, **{f"GENREKIT_{name}": None for name in (
        "MODEL", "VERSION", "CONFIDENCE", "DATE", "GENRES")}}, "has_tags": True}
    metal[UNDO_FIELD] = json.dumps(record)
    metal.store()
    assert plugin.undo_items([metal], write=True).counts["put back"] == 1
    tags = mutagen.File(Path(metal.filepath)).tags
    assert not [key for key in tags.keys() if key.lower() == "genre" or key.lower().startswith("genrekit")], tags
    assert tags["title"] == ["metal"] and not list(metal.genres)


def test_a_file_changed_while_it_is_analysed_and_records_of_the_wrong_kind_change_nothing(plugin_library,
                                                                                          monkeypatch):
    """A review (2026-12-07): another tagger's genre written while a song was analysed was
    written over, and lost (the check ran before every prediction); a record's genres "Rock"
    were put back as R; o; c; k, and its provenance an object failed in beets' database after
    the file was put back; a source_field of beets' own (year) could not be put back; an undo
    with -W while the file could not be read dropped the record its file's undo needs."""
    import genrekit.predict.files as files
    from beetsplug.genrekit import UNDO_FIELD
    from genrekit.errors import ParameterError

    plugin, library = plugin_library
    metal = next(item for item in library.items() if item.title == "metal")
    real = files.iter_predictions

    def retagged_meanwhile(model, paths, **options):
        for outcome in real(model, paths, **options):
            song = mutagen.File(outcome[0])
            song["genre"] = ["Owner Genre"]
            song.save()
            yield outcome

    monkeypatch.setattr(files, "iter_predictions", retagged_meanwhile)
    outcome = plugin.tag_items([metal], write=True)
    assert outcome.counts["left (changed while analysed)"] == 1 and not outcome.done
    assert file_genres(Path(metal.filepath)) == ["Owner Genre"] and UNDO_FIELD not in metal
    monkeypatch.setattr(files, "iter_predictions", real)

    classical = next(item for item in library.items() if item.title == "classical")
    assert plugin.tag_items([classical], write=True).done
    before = Path(classical.filepath).read_bytes()
    record = json.loads(classical[UNDO_FIELD])
    for damage in ({"genres": "Rock"}, {"provenance": {"genrekit_model": {"a": 1}}},
                   {"file": {**record["file"], "has_tags": "no"}}):
        classical[UNDO_FIELD] = json.dumps({**record, **damage})
        classical.store()
        undone = plugin.undo_items([classical], write=True)
        assert undone.counts[f"left (no genrekit record in {UNDO_FIELD})"] == 1, damage
        assert Path(classical.filepath).read_bytes() == before
    classical[UNDO_FIELD] = json.dumps(record)
    classical.store()

    plugin.config["source_field"] = "year"
    with pytest.raises(ParameterError, match="genrekit.source_field: expected a field of its own, such as "
                                             "genre_source; found 'year', one of beets'"):
        plugin.tag_items([classical], write=True)
    plugin.config["source_field"] = "genre_source"

    moved = Path(classical.filepath).with_suffix(".away")
    Path(classical.filepath).rename(moved)  # an unmounted drive
    assert plugin.undo_items([classical], write=False).failed and UNDO_FIELD in classical
    moved.rename(classical.filepath)
    assert plugin.undo_items([classical], write=True).counts["put back"] == 1


def test_a_genre_the_file_holds_where_beets_does_not_read_it_is_kept(plugin_library, tmp_path):
    """A WAV whose owner's genre is in its RIFF INFO (IGNR): beets reads no genre, and the
    plugin wrote one beside it without --force, where `genrekit tag` keeps it (a review,
    2026-12-07)."""
    import soundfile as sf
    from beets.library import Item

    plugin, library = plugin_library
    flac = next(item for item in library.items() if item.title == "metal")
    y, sr = sf.read(os.fsdecode(flac.path), dtype="float32")
    wav = tmp_path / "info.wav"
    with sf.SoundFile(wav, "w", sr, 1) as song:  # libsndfile writes it as RIFF LIST/INFO IGNR
        song.genre = "Owner Genre"
        song.write(y[: 4 * sr] if y.ndim == 1 else y[: 4 * sr, 0])
    item = Item.from_path(str(wav))
    library.add(item)
    before = wav.read_bytes()
    outcome = plugin.tag_items([item], write=True)
    assert outcome.counts["kept (owner's, in the file)"] == 1 and not outcome.done
    assert wav.read_bytes() == before
    assert plugin.tag_items([item], write=True, force=True).done  # asked to replace: it is


def test_names_and_genres_from_outside_are_one_line_of_the_log(tmp_path, music, model):
    """A file name or a genre holding a newline or an escape sequence forged lines of beet's
    output and commanded the terminal: beets passes paths as they are and keeps newlines in
    texts. The plugin writes them as escapes (a review, 2026-12-07)."""
    odd = music / "two\nlines\x1b[31m.flac"
    os.replace(music / "mine.flac", odd)
    song = mutagen.File(odd)
    song.tags["genre"] = ["My\nGenre\x1b[2J"]
    song.save()
    beet = beets(tmp_path, model)
    beet("import", "-A", str(music))
    out = beet("genrekit", "--pretend")
    assert "\x1b" not in out and "two\\nlines\\x1b[31m.flac: keeps its genres My\\nGenre\\x1b[2J" in out, out


def test_a_logged_repr_is_escaped_once():
    """``{!r}`` fields are escaped by repr: escaping their text first doubled each backslash
    ('a\\\\nb' for a name holding a newline; a review, 2026-12-07). Other fields are escaped."""
    from beetsplug.genrekit import _EscapingLog

    said = []

    class Recorder:
        def warning(self, msg, *args, **kwargs):
            kwargs.pop("stacklevel")
            said.append(msg.format(*args, **kwargs))

    log = _EscapingLog(Recorder())
    log.warning("{} then {!r} and {name!r} {other}", "a\nb", "c\nd", name="e\x1bf", other="g\nh")
    log.warning("{1!r} {0}", "a\nb", "c\nd")
    assert said == ["a\\nb then 'c\\nd' and 'e\\x1bf' g\\nh", "'c\\nd' a\\nb"], said
    assert _EscapingLog._as_repr("{0!r} {") == (set(), set())  # not a format string: every argument escaped
