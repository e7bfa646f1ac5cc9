"""The beets plugin (beetsplug/genrekit.py) driven through real beets: a temporary library with
its own BEETSDIR and config, files imported as they are (``beet import -A``, no autotagger, no
network), then ``beet genrekit`` with and without ``--pretend`` and ``--force``, and ``auto``."""

import os
import subprocess
import sys
from pathlib import Path

import mutagen
import pytest
import soundfile as sf

pytest.importorskip("beets", reason="the beets plugin's tests need beets: pip install 'genrekit[beets]'")

from genrekit import audio  # noqa: E402

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


def beets(tmp_path, model, *, auto=False, write=True):
    """A beets of its own: BEETSDIR, library and config under tmp_path; only the genrekit plugin
    (so no musicbrainz); files imported in place."""
    home = tmp_path / f"beets-{'auto' if auto else 'cmd'}"
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
""")
    env = {k: v for k, v in os.environ.items() if not k.startswith("BEETS")} | {"BEETSDIR": str(home),
                                                                                  "HOME": str(home)}

    def beet(*args):
        result = subprocess.run([*BEET, *args], env=env, capture_output=True, text=True, timeout=300)
        assert result.returncode == 0, result.stdout + result.stderr
        return result.stdout + result.stderr

    return beet


def listing(beet) -> dict[str, tuple[str, str]]:
    """title -> (genres, genre source), as beets' database holds them."""
    out = beet("ls", "-f", "$title|$genres|$genre_source")  # an unset flexible attribute shows as its name
    return {title: (genres, "" if source == "$genre_source" else source) for title, genres, source in
            (line.split("|") for line in out.splitlines() if line.count("|") == 2)}


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
    confidence = float(beet("ls", "-f", "$genrekit_confidence", "title:metal").strip())
    assert 0.5 <= confidence <= 1

    beet("genrekit", "-f", "title:mine")
    genres = listing(beet)
    assert genres["mine"] == ("metal", "genrekit")
    assert file_genres(music / "mine.flac") == [genres["mine"][0]]

    # count and styles from the config; beets' write setting off: the database changes, the files do not
    config = Path(beet("config", "-p").strip())
    config.write_text(config.read_text().replace("write: yes", "write: no") + "    count: 2\n")
    files = {p.name: p.read_bytes() for p in music.iterdir()}
    beet("genrekit")
    genres = listing(beet)
    for title in ("metal", "classical", "mine"):  # the top genre and the next one
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


def test_bad_config_is_named(tmp_path, music, model):
    beet = beets(tmp_path, model)
    beet("import", "-A", str(music))
    config = Path(beet("config", "-p").strip())
    config.write_text(config.read_text() + "    count: 0\n")
    result = subprocess.run([*BEET, "genrekit"], env=os.environ | {"BEETSDIR": str(config.parent)},
                            capture_output=True, text=True, timeout=300)
    assert result.returncode != 0 and "genrekit.count" in result.stderr and "found 0" in result.stderr
    assert "Traceback" not in result.stderr, result.stderr  # one line, not a stack
