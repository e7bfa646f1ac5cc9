"""The command line's conventions (issue 21): -q, choices, jsonl, file lists, --model, the config
file, serve's --threads/--log-level, and a `models` that imports no model library.

Cheap: a tiny classical model on random gtzan57 rows and a few seconds of synthetic audio;
the service and the evaluation are replaced by recorders where only their arguments matter."""

from __future__ import annotations

import json
import logging
import os
import queue
import re
import stat
import subprocess
import sys
import threading
import warnings
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from rich.console import Console
from typer.testing import CliRunner

from genrekit.cli import common, modelling
from genrekit.cli.main import EXIT_ERROR, EXIT_OK, EXIT_PARTIAL, EXIT_USAGE, app
from genrekit.errors import GenrekitError

runner = CliRunner()
REPO = Path(__file__).resolve().parents[1]
WIDE = {"COLUMNS": "250"}  # usage errors and help unwrapped


def invoke(*args, **options):
    result = runner.invoke(app, [str(a) for a in args], **options)
    if result.exception and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result


def _flat(text: str) -> str:
    return " ".join(text.replace("│", " ").split())


@pytest.fixture(autouse=True)
def _no_settings(tmp_path, monkeypatch):
    """Each test in its own folder, with no config file, no GENREKIT_* setting and no real home."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    for name in ("GENREKIT_MODEL", "GENREKIT_MIN_CONFIDENCE", "GENREKIT_CACHE"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture(autouse=True)
def _warnings_as_they_were():
    """-q routes Python's warnings to logging (logging.captureWarnings); put them back."""
    yield
    logging.captureWarnings(False)


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory) -> Path:
    """A classical model on random gtzan57 rows: two 'genres', loaded and run in milliseconds."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import StandardScaler

    from genrekit.features import FeatureSpec
    from genrekit.models import GenreModel, save_model

    spec = FeatureSpec("gtzan57")
    X = np.random.default_rng(0).normal(size=(20, len(spec.columns)))
    estimator = Pipeline([("scale", StandardScaler()), ("clf", LogisticRegression())]).fit(X, ["hum", "noise"] * 10)
    model = GenreModel(name="tiny", labels=["hum", "noise"], spec=spec, estimator=estimator)
    return save_model(model, tmp_path_factory.mktemp("tiny") / "tiny.genrekit")


@pytest.fixture(scope="module")
def songs(tmp_path_factory) -> list[Path]:
    """Three 3 s 'songs': tones in noise, 22.05 kHz mono."""
    folder = tmp_path_factory.mktemp("songs")
    rng = np.random.default_rng(1)
    t = np.arange(3 * 22050) / 22050
    paths = []
    for i in range(3):
        y = 0.3 * np.sin(2 * np.pi * (220 + 110 * i) * t) + 0.05 * rng.normal(size=t.size)
        sf.write(folder / f"song{i}.wav", y.astype("float32"), 22050)
        paths.append(folder / f"song{i}.wav")
    return paths


class Recorder:
    """Stands in for a library function: records its arguments, returns ``value``."""

    def __init__(self, value=None):
        self.calls: list[tuple[tuple, dict]] = []
        self.value = value

    def __call__(self, *args, **kwargs):
        self.calls.append((args, kwargs))
        return self.value


@pytest.fixture
def served(monkeypatch) -> Recorder:
    """`genrekit serve` without a server: what it would serve, and how."""
    import genrekit.server

    class Serve(Recorder):
        def __call__(self, *args, **kwargs):
            if kwargs.get("on_loaded") is not None:  # the model loaded: the service announces itself
                kwargs["on_loaded"]()
            return super().__call__(*args, **kwargs)

    recorder = Serve()
    monkeypatch.setattr(genrekit.server, "serve", recorder)
    return recorder


def test_serve_announces_itself_only_once_its_model_has_loaded(tmp_path):
    """A model that cannot load ends `serve` with its error alone: no "genrekit service ... on
    http://..." line first, which read as if the service had started."""
    result = invoke("serve", tmp_path / "nosuch.genrekit")
    assert result.exit_code == 1 and "nosuch.genrekit: model file not found" in " ".join(result.output.split())
    assert "genrekit service for" not in result.output and "http://" not in result.output


# 1. -q/--quiet -------------------------------------------------------------------------------

def test_quiet_leaves_only_results_and_errors(served, monkeypatch):
    import genrekit.server

    monkeypatch.setattr(common, "err_console", Console(stderr=True, force_terminal=True, soft_wrap=True))
    loud = invoke("serve", "model.genrekit")
    assert loud.exit_code == EXIT_OK and "genrekit service for model.genrekit" in loud.output
    assert common._progress() and logging.getLogger().level == logging.WARNING  # a terminal: progress bars
    assert served.calls[-1][1]["log_level"] == "warning"

    quiet = invoke("-q", "serve", "model.genrekit")
    assert quiet.exit_code == EXIT_OK and quiet.output == ""  # the note is gone
    assert not common._progress() and logging.getLogger().level == logging.ERROR  # no bars, even on a terminal
    assert served.calls[-1][1]["log_level"] == "error"  # uvicorn's info and warnings too

    def warn(*args, **kwargs):
        warnings.warn("a library's warning", UserWarning, stacklevel=1)

    monkeypatch.setattr(genrekit.server, "serve", warn)
    for args, shown in ((["serve"], 1), (["-q", "serve"], 0)):  # not even Python's warnings with -q
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            result = invoke(*args, "model.genrekit")
        assert len(caught) == shown and "a library's warning" not in result.output

    both = invoke("-q", "-v", "models", env=WIDE)
    assert both.exit_code == EXIT_USAGE and "-q/--quiet" in both.output and "found both" in both.output


def test_quiet_keeps_the_results_and_the_failures(tiny_model, songs):
    result = invoke("--quiet", "predict", "--model", tiny_model, songs[0], "missing.wav", "--format", "json")
    assert result.exit_code == EXIT_PARTIAL
    lines = result.stdout.splitlines()
    assert json.loads(lines[0])["path"] == str(songs[0]) and json.loads(lines[1])["path"] == "missing.wav"
    assert "missing.wav: file not found" in result.output  # the error list stays


# 2. choices ----------------------------------------------------------------------------------

ENUMERATED = [
    (["predict", "song.wav"], "--format", "table, json, jsonl, csv or timeline"),
    (["predict", "song.wav"], "--runner", "local or ray"),
    (["tag", "library"], "--runner", "local or ray"),
    (["tag", "library"], "--existing", "keep, replace or append"),
    (["features", "data", "--out", "out"], "--runner", "local or ray"),
    (["features", "data", "--out", "out"], "--kind", "auto, gtzan, folder, manifest, fma, images or tags"),
    (["features", "data", "--out", "out"], "--features", "musicnn or logmel"),
    (["datasets", "check", "data"], "--kind", "auto, gtzan"),
    (["datasets", "check", "data"], "--multi-genre", "first or all"),
    (["train", "data", "--out", "out"], "--split", "random, dataset, gtzan-filtered or all"),
    (["train", "data", "--out", "out"], "--device", "cpu, cuda or mps"),
    (["train", "data", "--out", "out"], "--aggregation", "mean or vote"),
    (["train", "data", "--out", "out"], "--multi-genre", "first or all"),
    (["train", "data", "--out", "out"], "--features", "fma518, gtzan57, musicnn-msd, musicnn-mtt or musicnn"),
    (["train", "data", "--out", "out"], "--model", "logreg, linear-svc"),
    (["evaluate", "model.genrekit", "data", "--out", "out"], "--aggregation", "mean or vote"),
    (["evaluate", "model.genrekit", "data", "--out", "out"], "--kind", "tags"),
    (["compare", "--table", "t.csv", "--out", "out"], "--device", "cpu, cuda or mps"),
    (["compare", "--table", "t.csv", "--out", "out"], "--features", "fma518"),
    (["explore", "--table", "t.csv", "--out", "out"], "--model", "logreg"),
    (["export", "model.safetensors", "--out", "m.onnx"], "--format", "expected onnx"),
    (["export", "model.safetensors", "--out", "m.onnx"], "--frontend", "graph or numpy"),
    (["serve", "model.genrekit"], "--log-level", "critical, error, warning, info, debug or trace"),
]


@pytest.mark.parametrize("args, option, allowed", ENUMERATED, ids=lambda x: x if isinstance(x, str) else x[0])
def test_a_bad_choice_is_a_usage_error_naming_the_choices(tmp_path, args, option, allowed):
    result = invoke(*args, option, "bogus", env=WIDE)
    message = _flat(result.output)
    assert result.exit_code == EXIT_USAGE, result.output
    assert f"{option} 'bogus': expected" in message and allowed in message, message
    assert not list(tmp_path.iterdir())  # refused before any work


@pytest.mark.parametrize("options, expected", [
    (["--features", "logmel", "--chunk", "3"], "--chunk 3: --features logmel writes each track's whole spectrogram"),
    (["--features", "logmel", "--hop-length", "5000"],
     "--hop-length 5000 is longer than --n-fft 2048: the 2952 samples between windows would never be analysed"),
    (["--features", "logmel", "--n-fft", "100", "--hop-length", "50"],
     "--n-mels 128 with --n-fft 100: more mel bands than the 51 frequency bins"),
    (["--features", "gtzan57", "--n-mels", "64"], "--n-mels 64: these set log-mel spectrograms (--features logmel)"),
], ids=["chunk", "hop", "bins", "not-logmel"])
def test_log_mel_options_that_would_be_ignored_or_leave_audio_out_are_refused(tmp_path, options, expected):
    (tmp_path / "data").mkdir()
    result = invoke("features", tmp_path / "data", "--out", tmp_path / "out", *options, env=WIDE)
    assert result.exit_code == EXIT_USAGE and expected in _flat(result.output), result.output
    assert not (tmp_path / "out").exists()  # refused before any work


def test_a_choice_is_taken_in_any_case(tmp_path, clip):
    """`--format JSON` was refused ("expected table, json, ..."): any case of a choice is it."""
    result = invoke("predict", clip, "--format", "JSON", "--model", "default", env=WIDE)
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout.splitlines()[0])["path"] == str(clip)


def test_a_numeric_choice_is_refused_by_name():
    result = invoke("tag", "library", "--id3v2-version", "2", env=WIDE)
    assert result.exit_code == EXIT_USAGE and "--id3v2-version 2: expected 3 or 4" in _flat(result.output)


def _numeric_options(command=None, path=()) -> list[tuple[tuple[str, ...], str, str]]:
    """(command path, option, "int" or "float") of every numeric option of every command, hidden
    ones included: walked from the app, so that an option added later is checked too."""
    import typer

    command = command or typer.main.get_command(app)
    found = []
    for param in command.params:
        # typer's parameters keep their annotation; click's own have a ParamType ("integer", "float range")
        annotation = getattr(getattr(param, "type_descriptor", None), "annotation", None)
        name = annotation.__name__ if annotation in (int, float) else getattr(getattr(param, "type", None), "name", "")
        kind = "int" if name.startswith(("int", "integer")) else "float" if name.startswith("float") else None
        if kind and param.param_type_name == "option":
            found.append((path, param.opts[0], kind))
    for name, sub in sorted((getattr(command, "commands", None) or {}).items()):
        found += _numeric_options(sub, (*path, name))
    return found


NUMERIC_OPTIONS = _numeric_options()


def test_the_numeric_options_are_all_found():
    found = {(" ".join(path), option, kind) for path, option, kind in NUMERIC_OPTIONS}
    assert {("predict", "--top", "int"), ("predict", "--min-confidence", "float"), ("serve", "--workers", "int"),
            ("train", "--label-smoothing", "float"), ("tag", "--genres", "int"), ("tag", "--id3v2-version", "int"),
            ("datasets check", "--min-per-genre", "int")} <= found, found
    assert len(found) >= 60


@pytest.mark.parametrize("path, option, kind", NUMERIC_OPTIONS,
                         ids=lambda x: " ".join(x) if isinstance(x, tuple) else x)
def test_every_numeric_option_refuses_what_is_not_a_number_naming_it_and_the_value(tmp_path, path, option, kind):
    """A value that is not a number, a fraction for a whole number, NaN or infinity: a usage
    error of one line naming the option, the value as given and what was expected (typer's
    said "Input should be a valid integer", without the value; NaN passed its own check)."""
    bad = ["abc", "1.5"] if kind == "int" else ["abc", "nan", "-inf"]
    for value in bad:
        result = invoke(*path, option, value, env=WIDE)
        assert result.exit_code == EXIT_USAGE, (value, result.output)
        shown = repr(value) if value == "abc" else value
        lines = [line for line in result.output.splitlines() if f"{option} {shown}: expected " in line]
        assert lines, (value, result.output)  # all on one line
        expected = lines[0].split(": expected ", 1)[1]
        assert ("whole number" if kind == "int" and option != "--id3v2-version" else "number") in expected or \
            "3 or 4" in expected, lines[0]
        assert "Input should be" not in result.output
    assert not list(tmp_path.iterdir())  # refused before any work


@pytest.mark.parametrize("args, message", [
    (["predict", "song.wav", "--top", "abc"], "--top 'abc': expected a whole number >= 1"),
    (["predict", "song.wav", "--top", "1.5"], "--top 1.5: expected a whole number >= 1"),
    (["predict", "song.wav", "-j", "many"], "--jobs 'many': expected a whole number >= 0"),
    (["predict", "song.wav", "--min-confidence", "x"], "--min-confidence 'x': expected a number from 0 to 1"),
    (["predict", "song.wav", "--min-confidence", "nan"], "--min-confidence nan: expected a number from 0 to 1"),
    (["predict", "song.wav", "--segment", "ten"], "--segment 'ten': expected a finite number > 0"),
    (["predict", "song.wav", "--hop", "1e400"], "--hop 1e400: expected a finite number > 0"),
    (["predict", "song.wav", "--skip", ""], "--skip '': expected a finite number >= 0"),
    (["train", "data", "--label-smoothing", "inf"], "--label-smoothing inf: expected a number >= 0 and < 1"),
    (["serve", "model.genrekit", "--port", "http"], "--port 'http': expected a whole number from 1 to 65535"),
    (["explore", "--seed", "-1"], "--seed -1: expected a whole number from 0 to 4294967295"),
    (["tag", "library", "--genres", "two"], "--genres 'two': expected a whole number"),
    (["tag", "library", "--id3v2-version", "four"], "--id3v2-version 'four': expected 3 or 4"),
    (["predict", "song.wav", "--top", "1\x1b[2J\u202e"], "--top '1\\x1b[2J\\u202e': expected a whole number >= 1"),
    (["predict", "song.wav", "--top", "[red]3"], "--top '[red]3': expected a whole number >= 1"),
], ids=lambda x: " ".join(x[-2:]) if isinstance(x, list) else None)
def test_a_bad_number_says_the_option_what_was_expected_and_what_was_found(args, message):
    result = invoke(*args, env=WIDE)
    assert result.exit_code == EXIT_USAGE and message in result.output, result.output
    assert "\x1b" not in result.output and "\u202e" not in result.output  # shown escaped, never sent to the terminal


def test_numbers_given_reach_the_command_as_numbers(served):
    """The options read their own text now: what they pass on is still an int or a float."""
    result = invoke("serve", "--port", " 8001", "--timeout", "2.5", "--queue", "+4", "--min-confidence", "1e-1",
                    "--max-upload-mb", "1_000", env=WIDE)
    assert result.exit_code == EXIT_OK, result.output
    kwargs = served.calls[-1][1]
    assert kwargs["port"] == 8001 and type(kwargs["port"]) is int
    limits = kwargs["limits"]
    assert (limits.timeout_seconds, limits.queue, limits.min_confidence, limits.max_upload_mb) == (2.5, 4, 0.1, 1000)
    assert type(limits.timeout_seconds) is float and type(limits.queue) is int and type(limits.max_upload_mb) is float
    result = invoke("serve", env=WIDE)  # the defaults, untouched
    limits = served.calls[-1][1]["limits"]
    assert served.calls[-1][1]["port"] == 8000 and limits.workers == 2 and limits.max_upload_mb == 50.0


COMMANDS = [[], ["datasets"], ["datasets", "check"], ["features"], ["train"], ["evaluate"], ["compare"], ["predict"],
            ["tag"], ["explore"], ["report"], ["export"], ["serve"], ["models"], ["config"], ["pretrained"],
            ["pretrained", "list"], ["pretrained", "convert"]]


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: " ".join(c) or "genrekit")
def test_every_help_renders_with_its_choices(command):
    result = invoke(*command, "--help", env=WIDE)
    assert result.exit_code == EXIT_OK and "Usage:" in result.output, result.output
    # a few choices as the metavar; many named in the option's help (an 80-column help has no room for them there)
    shown = {"tag": "<keep|replace|append>", "train": "<cpu|cuda|mps>", "export": "<graph|numpy>",
             "predict": "table, json (one object per line, with the timeline and the styles, once all are done), "
                        "jsonl", "serve": "critical, error, warning, info, debug or trace",
             "features": "fma518, gtzan57, musicnn-msd, musicnn-mtt or musicnn (see `genrekit models`); or logmel"}
    if command and command[-1] in shown:
        assert shown[command[-1]] in _flat(result.output), result.output


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: " ".join(c) or "genrekit")
def test_usage_lines_name_their_arguments_in_capitals(command):
    """An argument without a metavar showed as its parameter's name, {dataset} or [run_dir],
    beside [MODEL] and [FILES]... in the same usage lines."""
    usage = next(line for line in invoke(*command, "--help", env=WIDE).output.splitlines() if "Usage:" in line)
    placeholders = re.findall(r"[{\[]([^\]}]+)[}\]]", usage)
    assert placeholders and all(name == name.upper() for name in placeholders), usage


def test_help_fits_80_columns_with_its_paragraphs_rewrapped():
    """At 80 columns no help line is longer, and a command's description is wrapped by the
    terminal, not by the source's line breaks (which left lines of two words)."""
    for command in COMMANDS:
        result = invoke(*command, "--help", env={"COLUMNS": "80"})
        assert result.exit_code == EXIT_OK and max(map(len, result.output.splitlines())) <= 80, (command, result.output)
    result = invoke("train", "--help", env={"COLUMNS": "80"})
    assert "each file's own genre tag is its label; by default every tagged file is trained on" in _flat(result.output)
    lines = [line.strip() for line in re.split("─ Arguments|\nArguments:", result.output)[0].splitlines()]
    ragged = [line for line, after in zip(lines, lines[1:]) if line and after and len(line) < 60]
    assert not ragged, lines  # a line cut short inside a paragraph


@pytest.mark.parametrize("command", [["tag"], ["train"], ["predict"], ["datasets", "check"]], ids=" ".join)
def test_help_at_80_columns_keeps_option_names_whole_and_room_for_their_help(command):
    """rich's four-column table cut option names ("--min-confidenc…") and left the help
    about 17 columns at 80; a narrow terminal gets click's plain layout, a wide one rich's."""
    narrow = invoke(*command, "--help", env={"COLUMNS": "80"}).output
    assert "…" not in narrow and "╭" not in narrow and "Options:" in narrow
    assert max(len(line) - len(line.lstrip()) for line in narrow.splitlines()) <= 40  # help from column 40 at most
    assert "╭" in invoke(*command, "--help", env={"COLUMNS": "120"}).output


def test_the_choices_are_the_librarys_own():
    import uvicorn.config

    from genrekit.audio.tags import EXISTING
    from genrekit.datasets import KINDS
    from genrekit.evaluate.metrics import AGGREGATIONS
    from genrekit.export.onnx import FRONTENDS
    from genrekit.features.registry import FEATURE_SETS, describe_feature_sets
    from genrekit.models import catalogue
    from genrekit.models.classical import DEFAULT_MODEL, MODELS
    from genrekit.predict.formats import FORMATS
    from genrekit.train import SPLITS
    from genrekit.train.config import LOSSES, OPTIMIZERS, SCHEDULES

    assert common.KINDS == KINDS and common.SPLITS == SPLITS and common.AGGREGATIONS == AGGREGATIONS
    assert common.PREDICT_FORMATS == FORMATS
    for option, choices in (("--optimizer", OPTIMIZERS), ("--loss", LOSSES), ("--schedule", SCHEDULES)):
        refused = invoke("train", "songs", option, "nope")  # the choices the command offers are the config's
        assert refused.exit_code == EXIT_USAGE and ", ".join(choices[:-1]) + " or " + choices[-1] in refused.output
    assert common.FRONTENDS == FRONTENDS and common.EXISTING == tuple(EXISTING) and common.FEATURE_SETS == FEATURE_SETS
    assert common.LOG_LEVELS == tuple(uvicorn.config.LOG_LEVELS)
    # the light catalogue `genrekit models` lists says what the definitions say
    assert catalogue.CLASSICAL == {name: definition.description for name, definition in MODELS.items()}
    assert catalogue.DEFAULT_MODEL == DEFAULT_MODEL and catalogue.FEATURE_SETS == describe_feature_sets()
    try:
        from genrekit.models.nets import PRESETS
    except ImportError:
        return
    assert catalogue.NETWORKS == {name: preset.description for name, preset in PRESETS.items()}
    assert list(catalogue.NETWORKS) == list(PRESETS)  # network_names() reads the catalogue, in this order


# 3. predict --format jsonl, 4. - and --files-from -------------------------------------------

def _reader(stream) -> queue.Queue:
    lines: queue.Queue = queue.Queue()

    def read():
        for line in iter(stream.readline, ""):
            lines.put(line)
        lines.put(None)

    threading.Thread(target=read, daemon=True).start()
    return lines


def test_jsonl_prints_each_file_as_it_finishes_reading_paths_from_stdin(tiny_model, songs, tmp_path):
    """The second path is written to stdin only once the first file's line has come out: it
    could not come out before the last file was done."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("GENREKIT_")}
    process = subprocess.Popen([sys.executable, "-m", "genrekit", "predict", "--model", str(tiny_model), "--format",
                                "jsonl", "-"], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                               stderr=subprocess.DEVNULL, text=True, env=env, cwd=tmp_path)
    try:
        lines = _reader(process.stdout)
        process.stdin.write(f"{songs[0]}\n")
        process.stdin.flush()
        first = json.loads(lines.get(timeout=120))  # printed while predict still waits for more paths
        assert first["path"] == str(songs[0]) and first["genre"] in ("hum", "noise")
        process.stdin.write(f"{songs[1]}\nmissing.wav\n")
        process.stdin.close()
        rest = [json.loads(line) for line in iter(lambda: lines.get(timeout=120), None)]
        assert [r["path"] for r in rest] == [str(songs[1]), "missing.wav"] and "error" in rest[1]
        assert process.wait(timeout=60) == EXIT_PARTIAL
    finally:
        process.kill()
        process.wait()


def test_a_closed_stdout_and_a_full_disk_end_predict_in_words(tiny_model, songs, tmp_path):
    """With stdout closed (`>&-`) predict ended in an AttributeError traceback; a full disk under
    stdout promised a resume predict does not have. Each is one line now (a reader that leaves:
    test_predict_formats)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("GENREKIT_")}
    command = [sys.executable, "-m", "genrekit", "predict", "--model", str(tiny_model), "--format", "jsonl", "-q"]
    closed = subprocess.run([*command, str(songs[0])], preexec_fn=lambda: os.close(1), capture_output=False,
                            stderr=subprocess.PIPE, text=True, env=env, cwd=tmp_path, timeout=120)
    assert closed.returncode == EXIT_ERROR and "stdout is closed" in closed.stderr, closed.stderr
    assert "Traceback" not in closed.stderr
    if os.path.exists("/dev/full"):
        with open("/dev/full", "w") as full:
            nowhere = subprocess.run([*command, str(songs[0])], stdout=full, stderr=subprocess.PIPE, text=True,
                                     env=env, cwd=tmp_path, timeout=120)
        words = " ".join(nowhere.stderr.split())
        assert nowhere.returncode == EXIT_ERROR and "no space left on the disk" in words, nowhere.stderr
        assert "predict keeps nothing between runs" in words and "resume" not in words, words


def test_jsonl_lines_are_json_lines_and_json_is_unchanged(tiny_model, songs):
    args = ["predict", "--model", tiny_model, *songs, "missing.wav"]
    as_json = invoke(*args, "--format", "json")
    as_jsonl = invoke(*args, "--format", "jsonl")
    assert as_json.exit_code == as_jsonl.exit_code == EXIT_PARTIAL
    assert as_jsonl.stdout.splitlines() == as_json.stdout.splitlines()  # same lines, same order with --jobs 1
    assert [json.loads(line)["path"] for line in as_json.stdout.splitlines()] == [*map(str, songs), "missing.wav"]


def test_without_out_results_go_to_a_new_numbered_folder_under_runs(tiny_model, songs, tmp_path, monkeypatch):
    """``genrekit train DATASET`` (as the issue wrote it) stopped at "Missing option '--out'". Now
    train, evaluate, compare, features and explore write to ``runs/<command>-<dataset>``, a new
    ``-2``, ``-3``... where one exists (an earlier run is never written over), and say where;
    ``--resume``, which continues a run in its folder, still needs ``--out``."""
    import shutil

    data = tmp_path / "my songs"
    for genre in ("hum", "noise"):
        (data / genre).mkdir(parents=True)
        for song in songs:
            shutil.copy(song, data / genre / f"{genre}-{song.name}")
    first = invoke("evaluate", tiny_model, data, "--include-train", env=WIDE)
    second = invoke("evaluate", tiny_model, f"{data}/", "--include-train", env=WIDE)
    assert first.exit_code == second.exit_code == EXIT_OK, first.output + second.output
    assert "results -> runs/evaluate-my songs (--out DIR to choose the folder)" in _flat(first.stderr), first.stderr
    assert "results -> runs/evaluate-my songs-2 " in _flat(second.stderr), second.stderr
    for folder in ("evaluate-my songs", "evaluate-my songs-2"):
        assert (tmp_path / "runs" / folder / "metrics.json").is_file(), folder

    trained = invoke("train", data, "--model", "logreg", "--features", "gtzan57", "--no-cv", "--split", "all",
                     env=WIDE)
    assert trained.exit_code == EXIT_OK, trained.output
    assert (tmp_path / "runs" / "train-my songs" / "model.genrekit").is_file()
    assert "model -> runs/train-my songs/model.genrekit" in _flat(trained.stdout), trained.stdout
    resumed = invoke("train", data, "--model", "edge-cnn", "--resume", env=WIDE)
    assert resumed.exit_code == EXIT_USAGE and "--resume: continues the run whose folder --out names" in resumed.output
    # a command that fails after choosing its folder leaves none behind (no genre of the model's here)
    (tmp_path / "other" / "polka").mkdir(parents=True)
    shutil.copy(songs[0], tmp_path / "other" / "polka")
    failed = invoke("evaluate", tiny_model, tmp_path / "other", env=WIDE)
    assert failed.exit_code != EXIT_OK and "results -> runs/evaluate-other" in _flat(failed.stderr), failed.output
    assert sorted(p.name for p in (tmp_path / "runs").iterdir()) == ["evaluate-my songs", "evaluate-my songs-2",
                                                                   "train-my songs"]
    # from inside the dataset, runs/ would become a genre folder of it: refused
    monkeypatch.chdir(data)
    inside = invoke("evaluate", tiny_model, ".", env=WIDE)
    assert inside.exit_code == EXIT_USAGE and "would be inside the dataset" in _flat(inside.output), inside.output
    assert not (data / "runs").exists()
    # a runs that is a link to nothing (an unmounted disk) is refused by name, not a traceback
    monkeypatch.chdir(tmp_path / "other")
    Path("runs").symlink_to(tmp_path / "unmounted")
    broken = invoke("evaluate", tiny_model, data, "--include-train", env=WIDE)
    assert broken.exit_code == EXIT_USAGE, broken.output
    assert f"found runs is a link to {tmp_path / 'unmounted'}, which does not exist" in _flat(broken.output)
    # a stop says which folder to give --out to resume in (without it, a run writes to a new one)
    common._CHOSEN[:] = [Path("runs/evaluate-my songs-3")]
    assert "(with --out runs/evaluate-my songs-3: without --out it writes to a new folder)" in common._after_a_stop(
        "evaluate")
    common._CHOSEN.clear()


def test_a_folder_stands_for_the_audio_files_below_it(tiny_model, songs, tmp_path, monkeypatch):
    """``genrekit predict FOLDER`` was one failed row ("is a folder, expected an audio file"): it
    now predicts the audio files below the folder, as ``tag`` lists a library (sorted, nested
    folders too, hidden files and other files left out), each spelt from the folder as given;
    a file also given on its own, or through a second spelling of the folder, is analysed once;
    a folder with no audio file gets a row that says so, and the batch goes on."""
    import shutil

    library = tmp_path / "library"
    (library / "b" / "deeper").mkdir(parents=True)
    (library / ".hidden").mkdir()
    (library / "empty").mkdir()
    for song, where in zip(songs, ("b/deeper/one.wav", "a.wav", ".hidden/three.wav")):
        shutil.copy(song, library / where)
    shutil.copy(songs[1], library / "b" / ".dot.wav")
    (library / "cover.jpg").write_bytes(b"\xff\xd8")
    (library / "notes.txt").write_text("not a song")
    (library / "b" / "gone.wav").symlink_to(tmp_path / "nowhere.wav")  # what the walk cannot follow gets a row
    (tmp_path / "lone").mkdir()
    (tmp_path / "lone" / "gone.flac").symlink_to(tmp_path / "nowhere.flac")
    (library / "b" / "deeper" / "up").symlink_to("..")  # a link back up: walked once, no row (it was a KeyError)

    monkeypatch.chdir(tmp_path)
    result = invoke("predict", "--model", tiny_model, "library", "library/a.wav", "./library/", "library/empty", "lone",
                    "--format", "csv", env=WIDE)
    assert result.exit_code == EXIT_PARTIAL, result.output
    rows = [line.split(",")[0] for line in result.stdout.splitlines()[1:]]
    assert rows == ["library/a.wav", "library/b/deeper/one.wav", "library/b/gone.wav", "library/empty",
                    "lone/gone.flac"], rows
    said = _flat(result.stderr)
    assert "library/a.wav: given again" in said, said
    # a folder given again is one note, not one per file
    assert "./library/: 3 of its 3 files given already (first ./library/a.wav)" in said, said
    assert "library/empty: is a folder with no audio file below it (none whose name ends in .aac" in said, said
    assert f"library/b/gone.wav: dangling symbolic link to {tmp_path / 'nowhere.wav'}" in said, said
    assert f"lone/gone.flac: dangling symbolic link to {tmp_path / 'nowhere.flac'}" in said, said
    # a folder of many songs: the table comes at the end, and is lost to a Ctrl+C; said, with what keeps each
    from genrekit.cli import songs as songs_command

    monkeypatch.setattr(songs_command, "MANY_FILES", 3)
    many = _flat(invoke("predict", "--model", tiny_model, "library", "--format", "csv", env=WIDE).stderr)
    assert "note: 3 files: csv output comes once all are done, and predict keeps nothing between runs" in many, many
    streamed = _flat(invoke("predict", "--model", tiny_model, "library", "--format", "jsonl", env=WIDE).stderr)
    assert "output comes once all are done" not in streamed, streamed

    # the Python API does the same, and a folder that holds songs, given to the audio layer itself, says where to
    from genrekit.audio import load
    from genrekit.errors import AudioError
    from genrekit.predict import predict_files
    from genrekit.predict.files import iter_predictions

    predictions, failures = predict_files(tiny_model, ["library", "library/a.wav", "library/empty"], progress=False)
    assert [p.path for p in predictions] == ["library/a.wav", "library/b/deeper/one.wav"]
    assert list(failures) == ["library/b/gone.wav", "library/empty"], failures
    streamed = [path for path, _, _ in iter_predictions(tiny_model, ["library"])]
    assert streamed == ["library/a.wav", "library/b/deeper/one.wav", "library/b/gone.wav"], streamed
    with pytest.raises(AudioError, match=r"is a folder, expected an audio file \(`genrekit predict` and `genrekit "
                                         r"tag` take a folder for the audio files below it, as "
                                         r"genrekit.predict.predict_files does\)"):
        load(library)


def test_paths_from_stdin_and_from_a_file(tiny_model, songs, tmp_path, monkeypatch):
    listing = tmp_path / "list.txt"
    listing.write_text(f"{songs[1]}\n\n{songs[2]}\n")  # a blank line is skipped
    result = invoke("predict", "--model", tiny_model, songs[0], "-", "--files-from", listing, "--format", "csv",
                    input=f"{songs[2]}\n")
    assert result.exit_code == EXIT_OK, result.output
    paths = [line.split(",")[0] for line in result.stdout.splitlines()[1:]]
    # FILES (- in place), then the list; songs[2], given on stdin and in the list, once
    assert paths == [str(songs[0]), str(songs[2]), str(songs[1])]
    # one file spelt two ways (relative with ./, absolute): analysed once, as first given
    monkeypatch.chdir(songs[0].parent)
    spelt = invoke("predict", "--model", tiny_model, f"./{songs[0].name}", songs[0], "--format", "csv", env=WIDE)
    assert [line.split(",")[0] for line in spelt.stdout.splitlines()[1:]] == [f"./{songs[0].name}"]
    # said, so a script joining its inputs to the rows by path knows why one has none
    assert f"note: {songs[0]}: given again (as ./{songs[0].name}); its genres are given once" in _flat(spelt.stderr)
    from_stdin = invoke("predict", "--model", tiny_model, "--files-from", "-", "--format", "json",
                        input=f"{songs[0]}\r\n")
    assert from_stdin.exit_code == EXIT_OK and json.loads(from_stdin.stdout)["path"] == str(songs[0])

    none = invoke("predict", "--model", tiny_model, env=WIDE)
    assert none.exit_code == EXIT_USAGE and "found none" in none.output
    missing = invoke("predict", "--model", tiny_model, "--files-from", tmp_path / "nowhere.txt", env=WIDE)
    assert missing.exit_code == EXIT_USAGE and "nowhere.txt" in missing.output

    # a list with a byte-order mark and a name that is not UTF-8 (a Latin-1 "é"): every file predicted
    import shutil

    latin = os.fsdecode(os.fsencode(str(tmp_path)) + b"/caf\xe9.wav")
    shutil.copy(songs[1], os.fsencode(latin))
    listing.write_bytes(b"\xef\xbb\xbf" + os.fsencode(str(songs[0])) + b"\n" + os.fsencode(latin) + b"\n")
    result = invoke("predict", "--model", tiny_model, "--files-from", listing, "--format", "json")
    assert result.exit_code == EXIT_OK, result.output
    assert [json.loads(line)["path"] for line in result.stdout.splitlines()] == [str(songs[0]), latin]
    piped = invoke("predict", "--model", tiny_model, "--files-from", "-", "--format", "json", input=listing.read_bytes())
    assert piped.exit_code == EXIT_OK, piped.output
    assert [json.loads(line)["path"] for line in piped.stdout.splitlines()] == [str(songs[0]), latin]


# 5. --model everywhere, 6. the config file ---------------------------------------------------

def test_model_positional_or_option_then_env_then_file_then_default(served, monkeypatch, tmp_path):
    def model_served(*args):
        result = invoke("serve", *args, env=WIDE)
        assert result.exit_code == EXIT_OK, result.output
        return served.calls[-1][0][0]

    assert model_served() == "default"
    (tmp_path / "genrekit.toml").write_text('model = "runs/a/model.genrekit"\n')
    stale = invoke("serve", env=WIDE)  # a setting naming a file that is gone: named with where it is set
    assert stale.exit_code == 1 and f"{tmp_path / 'runs/a/model.genrekit'}: model file not found; it is the model " \
        f"the config file {tmp_path / 'genrekit.toml'} names" in _flat(stale.output), stale.output
    (tmp_path / "runs/a").mkdir(parents=True)
    (tmp_path / "runs/a/model.genrekit").touch()
    assert model_served() == str(tmp_path / "runs/a/model.genrekit")  # relative to the file's folder
    (tmp_path / "genrekit.toml").write_text('model = "default-exact"\n')
    assert model_served() == "default-exact"  # genrekit's model file by name, not a path beside the config
    monkeypatch.setenv("GENREKIT_MODEL", "from-env.genrekit")
    stale = invoke("serve", env=WIDE)
    assert stale.exit_code == 1 and "from-env.genrekit: model file not found; it is the model $GENREKIT_MODEL " \
        "names" in _flat(stale.output), stale.output
    (tmp_path / "from-env.genrekit").touch()
    assert model_served() == "from-env.genrekit"
    assert model_served("--model", "option.genrekit") == "option.genrekit"
    assert model_served("positional.genrekit") == "positional.genrekit"
    both = invoke("serve", "a.genrekit", "--model", "b.genrekit", env=WIDE)
    assert both.exit_code == EXIT_USAGE and "found both" in both.output


def test_evaluate_and_export_take_model_too(monkeypatch, tmp_path):
    import genrekit.evaluate
    import genrekit.export

    from genrekit.errors import ModelError

    monkeypatch.setattr(modelling, "_load_dataset", lambda path, kind, **_: f"dataset {path}")
    evaluated = Recorder()

    def evaluate_model(model, data, **_):
        evaluated.calls.append((model, data))
        raise ModelError("recorded")

    monkeypatch.setattr(genrekit.evaluate, "evaluate_model", evaluate_model)
    for args, expected in ((["m.genrekit", "data"], ("m.genrekit", "dataset data")),
                           (["--model", "m.genrekit", "data"], ("m.genrekit", "dataset data")),
                           (["data"], ("default", "dataset data"))):
        result = invoke("evaluate", *args, "--out", "out")
        assert result.exit_code == 1 and evaluated.calls[-1] == expected, result.output
    both = invoke("evaluate", "a", "data", "--model", "b", "--out", "out", env=WIDE)
    assert both.exit_code == EXIT_USAGE and "found both" in both.output

    exported = []

    def export_onnx(model, out, **_):
        exported.append(model)
        raise ModelError("recorded")

    monkeypatch.setattr(genrekit.export, "export_onnx", export_onnx)
    assert invoke("export", "net.safetensors", "--out", "m.onnx").exit_code == 1
    assert invoke("export", "--model", "net2.safetensors", "--out", "m.onnx").exit_code == 1
    monkeypatch.setenv("GENREKIT_MODEL", "net3.safetensors")
    (tmp_path / "net3.safetensors").touch()
    assert invoke("export", "--out", "m.onnx").exit_code == 1
    assert exported == [Path("net.safetensors"), Path("net2.safetensors"), Path("net3.safetensors")]
    monkeypatch.delenv("GENREKIT_MODEL")
    none = invoke("export", "--out", "m.onnx", env=WIDE)  # no default model to export
    assert none.exit_code == EXIT_USAGE and "found none" in none.output


def test_predict_and_tag_read_the_model_from_the_environment(tiny_model, songs, monkeypatch, tmp_path):
    monkeypatch.setenv("GENREKIT_MODEL", str(tiny_model))
    result = invoke("predict", songs[0], "--format", "json")
    assert result.exit_code == EXIT_OK and json.loads(result.stdout)["model"] == "tiny"
    library = tmp_path / "library"
    library.mkdir()
    (library / "a.wav").write_bytes(songs[0].read_bytes())
    tagged = invoke("tag", library, "--out", tmp_path / "tags.jsonl", "--jobs", "1")
    assert tagged.exit_code == EXIT_OK, tagged.output
    assert json.loads((tmp_path / "tags.jsonl").read_text().splitlines()[0])["model"].startswith("tiny.genrekit@")


def test_options_win_over_variables_which_win_over_the_file(served, monkeypatch, tmp_path):
    xdg = tmp_path / "xdg" / "genrekit"
    xdg.mkdir(parents=True)
    import tomllib

    unset = invoke("config", env=WIDE).stdout  # no file, no variable: min_confidence is not set
    assert "# min_confidence = 0.5  # not set (default): always the top genre" in unset
    assert set(tomllib.loads(unset)) == {"model", "cache"}  # what it prints is a config file (TOML has no null)
    (xdg / "config.toml").write_text('min_confidence = 0.25\ncache = "features"\n')

    def confidence(*args):
        assert invoke("serve", *args, env=WIDE).exit_code == EXIT_OK
        return served.calls[-1][1]["limits"].min_confidence

    assert confidence() == 0.25  # the XDG file, there being no ./genrekit.toml
    shown = invoke("config", env=WIDE)
    assert shown.exit_code == EXIT_OK
    assert f"# config file: {xdg / 'config.toml'}" in shown.stdout
    assert f"min_confidence = 0.25  # {xdg / 'config.toml'}" in shown.stdout
    assert f'cache = "{xdg / "features"}"  # {xdg / "config.toml"}' in shown.stdout
    assert 'model = "default"  # default' in shown.stdout

    (tmp_path / "genrekit.toml").write_text("min_confidence = 0.5\n")  # ./genrekit.toml first; the XDG one unread
    assert confidence() == 0.5
    assert "cache = " in invoke("config").stdout and str(xdg) not in invoke("config").stdout
    monkeypatch.setenv("GENREKIT_MIN_CONFIDENCE", "0.75")
    assert confidence() == 0.75
    assert "min_confidence = 0.75  # $GENREKIT_MIN_CONFIDENCE" in invoke("config").stdout
    assert confidence("--min-confidence", "0.9") == 0.9


def test_config_prints_a_file_it_can_read_back_and_names_a_folder_in_a_files_place(monkeypatch, tmp_path):
    """A model path with a character past U+FFFF was printed as JSON's surrogate pair, which
    TOML refuses ("not a Unicode scalar value"); a genrekit.toml that is a folder was "not
    found"."""
    import tomllib

    monkeypatch.setenv("GENREKIT_MODEL", str(tmp_path / "🎵 song\x85.genrekit"))
    printed = invoke("config", env=WIDE).stdout
    assert tomllib.loads(printed)["model"] == str(tmp_path / "🎵 song\x85.genrekit"), printed
    assert "\\u0085" in printed  # a C1 control, escaped (JSON leaves it raw, for the terminal to act on)
    monkeypatch.delenv("GENREKIT_MODEL")
    (tmp_path / "genrekit.toml").mkdir()
    said = _flat(invoke("config", env=WIDE).stdout)
    assert f"{tmp_path / 'genrekit.toml'} is a folder, not a file" in said, said


def test_a_librarys_genre_names_in_the_taxonomy_notes_are_shown_escaped(capsys):
    """The genres left out (fewer files than --min-per-genre) went to the terminal raw: a bidi
    override in a tag reversed the line; the problem lines escape it."""
    from genrekit.datasets.tagged import TagTaxonomy

    taxonomy = TagTaxonomy()
    taxonomy.left_out = {"Pop\u202e": 1}
    taxonomy.near_duplicates = [("Hip\u202eHop", "hiphop")]
    common._print_taxonomy(taxonomy)
    shown = capsys.readouterr().out
    assert "\u202e" not in shown and "Pop\\u202e: 1 file(s)" in shown and "Hip\\u202eHop / hiphop" in shown, shown


def test_the_cache_setting_reaches_the_feature_cache(monkeypatch, tmp_path):
    (tmp_path / "genrekit.toml").write_text('cache = "my-cache"\n')
    assert common._cache(None, False).root == tmp_path / "my-cache"
    monkeypatch.setenv("GENREKIT_CACHE", str(tmp_path / "env-cache"))
    assert common._cache(None, False).root == tmp_path / "env-cache"
    assert common._cache(tmp_path / "option", False).root == tmp_path / "option"
    assert common._cache(None, True) is None
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv("GENREKIT_CACHE", "~/features")  # "~" is home in a variable too, as in the file
    assert common._cache(None, False).root == tmp_path / "home" / "features"
    (tmp_path / "genrekit.toml").write_bytes(b"\xef\xbb\xbf" + b'cache = "bom-cache"\n')  # a byte-order mark
    monkeypatch.delenv("GENREKIT_CACHE")
    assert common._cache(None, False).root == tmp_path / "bom-cache"


@pytest.mark.parametrize("text, expected", [
    ("min_confidence = 1.5\n", "min_confidence: expected a number from 0 to 1, found 1.5 (a number)"),
    ('min_confidence = "high"\n', "min_confidence: expected a number from 0 to 1, found 'high' (a string)"),
    ("min_confidence = true\n", "min_confidence: expected a number from 0 to 1, found True (a boolean)"),
    ("model = 3\n", "model: expected a model file, run folder, 'default' or 'default-exact' (a non-empty string), found 3 (an integer)"),
    ('cache = ""\n', "cache: expected a folder (a non-empty string), found '' (a string)"),
    ('modle = "x"\n', "modle: expected one of the keys model, min_confidence, cache, found 'modle'"),
    ("model = \n", "expected a TOML file, found a syntax error"),
    ('cache = "c\\u0000d"\n', "cache: expected a folder (a non-empty string), found 'c\\x00d' (a string)"),
    ("model = " + "[" * 100_000 + "]" * 100_000 + "\n", "expected a TOML file of settings, found values nested too deep"),
])
def test_a_bad_config_file_is_a_usage_error_naming_file_key_expected_and_found(served, tmp_path, text, expected):
    (tmp_path / "genrekit.toml").write_text(text)
    for args in (["config"], ["serve"]):
        result = invoke(*args, env=WIDE)
        assert result.exit_code == EXIT_USAGE, result.output
        assert f"{tmp_path / 'genrekit.toml'}: {expected}" in _flat(result.output), result.output
    assert not served.calls


def test_a_bad_variable_is_a_usage_error_naming_it(served, monkeypatch):
    monkeypatch.setenv("GENREKIT_MIN_CONFIDENCE", "most")
    result = invoke("serve", env=WIDE)
    assert result.exit_code == EXIT_USAGE and not served.calls
    assert "$GENREKIT_MIN_CONFIDENCE: min_confidence: expected a number from 0 to 1, found 'most'" in _flat(result.output)


# 7. serve --threads, --workers, --log-level --------------------------------------------------

def test_serve_threads_the_deprecated_workers_and_the_log_level(served):
    def run(*args):
        result = invoke("serve", *args, env=WIDE)
        return result, served.calls[-1][1] if served.calls else None

    result, call = run("--threads", "3", "--log-level", "debug")
    assert result.exit_code == EXIT_OK and call["limits"].workers == 3 and call["log_level"] == "debug"
    assert "deprecated" not in result.output
    result, call = run("--workers", "4")
    assert result.exit_code == EXIT_OK and call["limits"].workers == 4
    assert "--workers is deprecated: use --threads 4" in _flat(result.output)
    result, _ = run("--workers", "4", "--threads", "5")
    assert result.exit_code == EXIT_USAGE and "--workers 4 and --threads 5" in _flat(result.output)
    assert "--threads" in invoke("serve", "--help", env=WIDE).output
    assert "--workers" not in invoke("serve", "--help", env=WIDE).output  # hidden: the old name still works


# 8. genrekit models imports no model library ------------------------------------------------

def test_models_lists_names_without_importing_torch_sklearn_or_librosa():
    code = ("import sys\n"
            "from typer.testing import CliRunner\n"
            "from genrekit.cli.main import app\n"
            "result = CliRunner().invoke(app, ['models'])\n"
            "assert result.exit_code == 0, result.output\n"
            "print(result.output)\n"
            "print('IMPORTED', [m for m in ('torch', 'sklearn', 'librosa') if m in sys.modules])\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith("GENREKIT_")}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, env=env)
    assert done.returncode == 0, done.stderr
    assert "IMPORTED []" in done.stdout
    for kind, name in (("model", "logreg"), ("model", "musicnn-prior"), ("features", "fma518"), ("features", "musicnn")):
        assert re.search(rf"^{kind} +{name} ", done.stdout, re.MULTILINE), done.stdout


def test_an_unknown_model_name_is_refused_without_importing_torch():
    """A misspelt --model is named, with every model listed, in a moment: the list of networks
    comes from the light catalogue, not from PyTorch."""
    from genrekit.models.recipes import network_names

    code = ("import sys\n"
            "import numpy as np\n"
            "from genrekit.datasets import FeatureTable\n"
            "from genrekit.errors import ParameterError\n"
            "from genrekit.evaluate import cross_validate\n"
            "table = FeatureTable(X=np.ones((20, 2)), y=np.arange(20) % 2, tracks=np.arange(20).astype(str),\n"
            "                     groups=np.arange(20).astype(str), labels=['a', 'b'], columns=['x', 'y'])\n"
            "try:\n"
            "    cross_validate(table, 'crnn3')\n"
            "except ParameterError as exc:\n"
            "    print(exc)\n"
            "print('IMPORTED', 'torch' in sys.modules)\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "model 'crnn3' is unknown" in done.stdout and "IMPORTED False" in done.stdout
    assert ("crnn2" in done.stdout) == bool(network_names())  # networks listed where PyTorch is installed


def test_shell_completion_of_commands_and_options():
    """`genrekit --show-completion bash` prints the script; the script's protocol completes
    command names and options (click's, as `--install-completion` installs it)."""
    import shutil
    import subprocess

    genrekit = shutil.which("genrekit", path=str(Path(sys.executable).parent))
    assert genrekit, "the genrekit entry point is installed beside this Python"
    # typer detects the shell genrekit runs under (sh under `nohup sh -c`, where --show-completion
    # answers "Shell sh not supported"); its switch for tests makes the shell an argument instead
    script = subprocess.run([genrekit, "--show-completion", "bash"], capture_output=True, text=True, timeout=60,
                            env={**os.environ, "_TYPER_COMPLETE_TEST_DISABLE_SHELL_DETECTION": "1"})
    assert script.returncode == 0 and "_GENREKIT_COMPLETE=complete_bash" in script.stdout, script.stdout

    def complete(words: str) -> list[str]:
        env = {**os.environ, "COMP_WORDS": words, "COMP_CWORD": str(len(words.split()) - 1),
               "_GENREKIT_COMPLETE": "complete_bash"}
        return subprocess.run([genrekit], env=env, capture_output=True, text=True, timeout=60).stdout.split()

    assert complete("genrekit pre") == ["predict", "pretrained"]
    assert "--format" in complete("genrekit predict --for")


def test_outputs_that_cannot_be_written_and_empty_inputs_are_refused_before_any_work(tiny_model, songs, tmp_path,
                                                                                     monkeypatch):
    analysed = Recorder(([], {}))
    monkeypatch.setattr("genrekit.predict.predict_files", analysed)
    (tmp_path / "a-file").write_text("in the way")
    (tmp_path / "data" / "hum").mkdir(parents=True)
    (tmp_path / "data" / "hum" / "song0.wav").write_bytes(songs[0].read_bytes())
    for args, option in ((["predict", "--model", tiny_model, "--plot", tmp_path / "a-file", songs[0]], "--plot"),
                         (["evaluate", tiny_model, tmp_path / "data", "--out", tmp_path / "a-file" / "run"], "--out"),
                         (["predict", "--model", tiny_model, "--hop", "1e-9", songs[0]], "--hop"),
                         (["predict", "--model", tiny_model, "--files-from", tmp_path / "empty.txt"], "FILES")):
        (tmp_path / "empty.txt").write_text("")
        result = invoke(*args, env=WIDE)
        assert result.exit_code == EXIT_USAGE and option in result.stderr, (args, result.output)
    assert not analysed.calls


def test_a_plot_that_cannot_be_written_keeps_the_results(tiny_model, songs, tmp_path, monkeypatch):
    from genrekit.cli import songs as songs_module

    def refuse(prediction, path):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr("genrekit.predict.plot_prediction", refuse)
    result = invoke("predict", "--model", tiny_model, "--plot", tmp_path / "plots", "--format", "csv", *songs,
                    env=WIDE)
    assert result.exit_code == EXIT_PARTIAL, result.output
    assert result.stdout.count(".wav,hum,") + result.stdout.count(".wav,noise,") == 3
    assert "plot not written: Permission denied" in result.stderr
    long_name = "é" * 200  # cut at a character boundary, within the file system's 255 bytes
    cut = songs_module._plot_path(tmp_path, f"/music/{long_name}.flac", set()).name
    assert len(cut.encode()) < 200 and cut.strip("é") == ".png"
    assert songs_module._plot_path(tmp_path, "/x/\udce9t\udce9.wav", set()).name == "\udce9t\udce9.png"  # bytes kept


def test_a_file_given_twice_is_predicted_once(tiny_model, songs, tmp_path):
    listed = tmp_path / "list.txt"
    listed.write_text(f"{songs[0]}\n{songs[1]}\n")
    result = invoke("predict", "--model", tiny_model, "--format", "csv", "--files-from", listed, songs[0], songs[0],
                    env=WIDE)
    assert result.exit_code == EXIT_OK, result.output
    rows = result.stdout.splitlines()[1:]
    assert [row.split(",")[0] for row in rows] == [str(songs[0]), str(songs[1])]


def test_logmel_files_stay_inside_out_whatever_the_manifests_ids(songs, tmp_path):
    """A manifest's track ids may be absolute paths or climb with '..': the spectrograms are
    written under --out all the same, and a rerun with other settings is refused."""
    manifest = tmp_path / "songs.csv"
    manifest.write_text(f"path,label\n{songs[0]},hum\n{songs[1]},noise\n")
    result = invoke("features", manifest, "--features", "logmel", "--out", tmp_path / "out", env=WIDE)
    assert result.exit_code == EXIT_OK, result.output
    written = sorted((tmp_path / "out").rglob("*.npz"))
    assert len(written) == 2 and all((tmp_path / "out" / "logmel") in p.parents for p in written)
    assert not list(songs[0].parent.glob("*.npz"))  # nothing beside the songs
    result = invoke("features", manifest, "--features", "logmel", "--n-mels", "32", "--out", tmp_path / "out", env=WIDE)
    assert result.exit_code == EXIT_USAGE and "other settings" in result.stderr
    # ids that clash once cleaned ('x' and '../x') get a file each: the second was "resumed" from the first's
    clashing = tmp_path / "clashing.csv"
    clashing.write_text(f"path,label,track_id\n{songs[0]},hum,x\n{songs[1]},noise,../x\n")
    result = invoke("features", clashing, "--features", "logmel", "--out", tmp_path / "clash", env=WIDE)
    assert result.exit_code == EXIT_OK, result.output
    import hashlib

    second = f"x-{hashlib.sha256(b'../x').hexdigest()[:8]}.npz"
    assert sorted(p.name for p in (tmp_path / "clash" / "logmel").iterdir()) == sorted([second, "x.npz"])


def test_control_characters_in_names_and_tags_never_reach_the_terminal(capsys):
    from rich.table import Table

    from genrekit.cli.common import out_console

    out_console.print("tagged \x1b[2J\x1b[31mRock\x07\x9b; model says jazz\nnext\tline", markup=False)
    table = Table()
    table.add_column("file")
    table.add_row("song\x1b]0;title\x07.mp3")
    table.add_row(":warning: :cross_mark:.wav")  # rich's emoji codes: a name, shown as it is (it was "⚠ ❌.wav")
    out_console.print(table)
    out_console.print("lib/:x:.wav: cannot be read", markup=False)
    shown = capsys.readouterr().out
    assert not any(c in shown for c in "\x1b\x07\x9b")
    assert "tagged \\x1b[2J\\x1b[31mRock\\x07\\x9b; model says jazz\nnext" in shown and "song\\x1b]0;title" in shown
    assert ":warning: :cross_mark:.wav" in shown and "lib/:x:.wav" in shown and "\u26a0" not in shown


def test_log_messages_naming_songs_reach_the_terminal_escaped(capsys):
    import logging

    from genrekit.cli.common import _setup_logging

    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    _setup_logging(verbose=False)
    try:
        logging.getLogger("genrekit.test").warning("%s: cannot be read", "/music/evil\x1b[2Jname.mp3")
    finally:  # pytest's own capture handlers back
        for handler in root.handlers[:]:
            root.removeHandler(handler)
        for handler in handlers:
            root.addHandler(handler)
        root.setLevel(level)
    shown = capsys.readouterr().err
    assert "\x1b[2J" not in shown and "evil\\x1b[2Jname.mp3: cannot be read" in shown


# 9. outputs never replace what is not a file ---------------------------------------------

def test_an_output_named_by_a_link_writes_its_target_and_a_device_or_pipe_is_refused(tmp_path):
    """Every file genrekit writes goes through one atomic rename, which replaced whatever the
    name held: `report --out /dev/null` turned the machine's /dev/null into a plain file, and
    a link into a file of its own (its target never got the report). A link now keeps
    pointing at the file written; a device or FIFO is refused by name, left as it was."""
    from genrekit._files import write_json, write_text_atomic

    target = tmp_path / "elsewhere" / "report.html"
    target.parent.mkdir()
    (tmp_path / "link.html").symlink_to(target)
    write_text_atomic(tmp_path / "link.html", "<p>hello</p>")
    assert (tmp_path / "link.html").is_symlink() and target.read_text() == "<p>hello</p>"
    pipe = tmp_path / "pipe.json"
    os.mkfifo(pipe)
    with pytest.raises(GenrekitError, match=r"pipe.json: is a device, pipe or socket, not a regular file"):
        write_json(pipe, {"a": 1})
    assert stat.S_ISFIFO(os.stat(pipe).st_mode)
    with pytest.raises(GenrekitError, match=r"a folder"):
        write_json(tmp_path / "elsewhere", {"a": 1})


@pytest.mark.skipif(not hasattr(os, "lchown") or os.geteuid() != 0, reason="giving a link another owner needs root")
def test_another_users_link_in_a_shared_folder_is_not_followed_and_a_link_loop_ends(tmp_path):
    """Links were resolved with realpath, out of the kernel's sight: fs.protected_symlinks
    never saw them, so another user's link in /tmp could point `--out /tmp/report.html` at any
    file of the user's. Such a link is now refused, as the kernel refuses it to open(); a link
    of the folder's owner or of the user's own, a chain of links, and links in a private folder
    are followed as before."""
    from genrekit._files import MAX_LINKS_FOLLOWED, write_text_atomic

    shared = tmp_path / "tmp"
    shared.mkdir()
    shared.chmod(0o1777)
    precious = tmp_path / "precious.txt"
    precious.write_text("keep")
    planted = shared / "report.html"
    planted.symlink_to(precious)
    os.lchown(planted, 4321, 4321)
    with pytest.raises(GenrekitError, match=r"report.html: is a link owned by another user \(uid 4321\)"):
        write_text_atomic(planted, "<p>report</p>")
    assert precious.read_text() == "keep" and planted.is_symlink()
    # the same link in a folder that is not sticky, or not writable by others, is followed
    for mode in (0o777, 0o1755):
        shared.chmod(mode)
        write_text_atomic(planted, f"{mode:o}")
        assert precious.read_text() == f"{mode:o}" and planted.is_symlink()
    # own links in the shared folder, as a chain, reach the file
    shared.chmod(0o1777)
    hop = shared / "hop"
    hop.symlink_to(precious)
    (shared / "mine.html").symlink_to("hop")
    write_text_atomic(shared / "mine.html", "chained")
    assert precious.read_text() == "chained"
    loop = tmp_path / "loop"
    loop.symlink_to("loop")
    with pytest.raises(GenrekitError, match=rf"more than {MAX_LINKS_FOLLOWED} links in a row"):
        write_text_atomic(loop, "x")


def test_outputs_of_the_wrong_kind_are_refused_or_understood_before_any_work(tmp_path):
    """datasets check --out naming a file read the whole dataset, then ended in a
    FileExistsError; report and export --out naming a folder (every other command's --out is
    one) ended in IsADirectoryError: they now write report.html / model.onnx inside it; export
    --out m.txt wrote the model, then called it 'not a genrekit model file'."""
    (tmp_path / "afile").write_text("x")
    result = invoke("datasets", "check", "nowhere", "--out", tmp_path / "afile", env=WIDE)
    assert result.exit_code == EXIT_USAGE and "--out" in result.output and "afile" in result.output, result.output
    run = tmp_path / "run"
    run.mkdir()
    (run / "run.json").write_text(json.dumps({"command": "train", "model": "logreg"}))
    (tmp_path / "pages").mkdir()
    result = invoke("report", run, "--out", tmp_path / "pages")
    assert result.exit_code == EXIT_OK and (tmp_path / "pages" / "report.html").is_file(), result.output
    result = invoke("export", "--model", "model.genrekit", "--out", tmp_path / "m.txt", env=WIDE)
    assert result.exit_code == EXIT_USAGE and "--out" in result.output and "expected an .onnx file name" in result.output
    assert not (tmp_path / "m.txt").exists()


def test_evaluate_given_a_model_alone_says_the_dataset_is_missing(tmp_path):
    """`evaluate RUN_FOLDER` took the run folder for the dataset ('no audio files found in
    genre folders'): a model alone is named as such."""
    run = tmp_path / "run"
    run.mkdir()
    (run / "run.json").write_text("{}")
    for model in (run, "default", tmp_path / "m.genrekit"):
        result = invoke("evaluate", model, "--out", tmp_path / "out", env=WIDE)
        assert result.exit_code == EXIT_USAGE and "DATASET missing" in result.output, result.output


def test_a_cache_that_cannot_be_written_is_a_usage_error_not_a_warning_per_track(tmp_path, gtzan_mini, monkeypatch):
    (tmp_path / "afile").write_text("x")
    result = invoke("features", gtzan_mini.parent, "--features", "gtzan57", "--cache", tmp_path / "afile",
                    "--out", tmp_path / "out", env=WIDE)
    assert result.exit_code == EXIT_USAGE and "--cache" in result.output and "afile" in result.output, result.output
    assert not (tmp_path / "out").exists()  # refused before any extraction
    # named by where the folder came from: it named --cache for $GENREKIT_CACHE=/dev/null (2026-12-07)
    (tmp_path / "genrekit.toml").write_text('cache = "/dev/null"\n')
    for env, source in (({}, f"{tmp_path / 'genrekit.toml'}: cache /dev/null"),
                        ({"GENREKIT_CACHE": "/dev/null"}, "$GENREKIT_CACHE /dev/null")):
        with monkeypatch.context() as patched:
            patched.chdir(tmp_path)
            result = invoke("features", gtzan_mini.parent, "--features", "gtzan57", "--out", tmp_path / "out",
                            env={**WIDE, **env})
        assert result.exit_code == EXIT_USAGE, result.output
        assert source in " ".join(result.output.split()) and "neither a file nor a folder" in result.output, \
            result.output
        assert "--cache" not in result.output, result.output


def test_an_empty_path_is_refused_not_read_as_the_working_folder(tmp_path):
    """Path("") is ".": `genrekit tag "$LIBRARY"` with the variable unset tagged the songs in the
    working folder, `train --out ""` wrote its run there. Every argument, Path option and --model
    of every command refuses "" by name (2026-12-07)."""
    import typer.main

    from genrekit.cli.common import _takes_a_path

    def commands(command, words=()):
        for name, sub in (getattr(command, "commands", None) or {}).items():
            yield from commands(sub, (*words, name))
        if getattr(command, "commands", None) is None:
            yield words, command

    checked = []
    for words, command in commands(typer.main.get_command(app)):
        arguments = [param for param in command.params if not param.opts[0].startswith("-")]
        for param in command.params:
            if not _takes_a_path(param):
                continue
            before = ["x"] * arguments.index(param) if param in arguments else []
            given = [*before, ""] if param in arguments else [param.opts[0], ""]
            result = invoke(*words, *given, env=WIDE)
            shown = param.opts[0] if param.opts[0].startswith("-") else param.name.upper()
            assert result.exit_code == EXIT_USAGE, (words, param.name, result.output)
            assert f"{shown}: expected" in result.output and "found an empty string" in result.output, result.output
            checked.append(" ".join((*words, shown)))
    assert {"tag LIBRARY", "predict FILES", "train --out", "evaluate FIRST", "predict --model",
            "datasets check PATH"} <= set(checked), checked
    assert not list(tmp_path.iterdir())  # nothing written in the working folder


def test_a_list_of_paths_holding_a_nul_byte_is_a_usage_error_not_a_traceback(tmp_path, clip):
    """A binary file given to --files-from, or find -print0's output on stdin, ended in a
    50-line ValueError traceback ("embedded null byte")."""
    from typer.testing import CliRunner

    from genrekit.cli.main import app

    stdin = CliRunner().invoke(app, ["predict", "-", "--format", "jsonl"], input=f"{clip}\nbad\0name.wav\n")
    assert stdin.exit_code == 2 and "the list read from stdin: line 2 holds a NUL byte" in stdin.output, stdin.output
    assert stdin.output.count('{"path"') == 1, stdin.output  # the song before the bad line is answered
    listed = CliRunner().invoke(app, ["predict", "--files-from", str(clip)])
    assert listed.exit_code == 2 and f"--files-from {clip}: line 1 holds a NUL byte" in listed.output, listed.output
    assert "Traceback" not in stdin.output + listed.output
    # in a pool, the songs before the bad line are answered too
    three = "".join(f"{path}\n" for path in sorted(clip.parent.parent.glob("*/*.00002.*"))[:3])
    pooled = CliRunner().invoke(app, ["predict", "-", "--format", "jsonl", "--jobs", "2"],
                                input=f"{three}bad\0name.wav\n")
    assert pooled.exit_code == 2 and "line 4 holds a NUL byte" in pooled.output, pooled.output
    assert pooled.output.count('{"path"') == 3, pooled.output


def test_export_and_tag_refuse_an_out_whose_folder_cannot_be_made_before_any_work(tmp_path, gtzan_mini):
    """--out inside a file (the model file itself) ended export, after the default model was
    built, and tag in FileExistsError tracebacks."""
    from typer.testing import CliRunner

    from genrekit.cli.main import app

    blocker = tmp_path / "model.genrekit"
    blocker.write_bytes(b"a file, not a folder")
    for args in (["export", "default", "--out", str(blocker / "x.onnx")],
                 ["tag", str(gtzan_mini / "jazz"), "--out", str(blocker / "tags.csv")]):
        result = CliRunner().invoke(app, args)
        assert result.exit_code == 2, (args, result.output)
        assert f"--out {blocker}: expected a folder to write into" in " ".join(result.output.split()), result.output
        assert "Traceback" not in result.output
    if os.path.isdir("/proc"):  # a folder nothing can be written in said "found No such file or directory"
        result = CliRunner().invoke(app, ["export", "default", "--out", "/proc/x.onnx"])
        said = " ".join(result.output.split())
        assert result.exit_code == 2 and "nothing can be written in /proc (" in said, result.output


def test_plots_never_replace_a_png_genrekit_did_not_write(tmp_path, clip):
    """--plot . in an album folder replaced its song.png cover art with a plot. A name taken by
    a file genrekit did not write gets the next free one; an earlier run's plot is replaced."""
    import shutil

    from typer.testing import CliRunner

    from genrekit.cli.main import app

    song = tmp_path / "song.wav"
    shutil.copy(clip, song)
    (tmp_path / "song.png").write_bytes(b"\x89PNG the album's cover art")
    for _ in range(2):  # the second run replaces its own plot, not the art
        result = CliRunner().invoke(app, ["predict", str(song), "--plot", str(tmp_path)])
        assert result.exit_code == 0, result.output
        assert (tmp_path / "song.png").read_bytes() == b"\x89PNG the album's cover art"
        assert (tmp_path / "song-2.png").stat().st_size > 1000 and not (tmp_path / "song-3.png").exists()
    # a FIFO at the name: asked whether genrekit wrote it, the read waited for a writer for ever
    import threading

    from genrekit._files import written_by_genrekit

    os.mkfifo(tmp_path / "tune.png")
    asked = threading.Thread(target=written_by_genrekit, args=(tmp_path / "tune.png",), daemon=True)
    asked.start()
    asked.join(10)
    assert not asked.is_alive()
    shutil.copy(clip, tmp_path / "tune.wav")
    result = CliRunner().invoke(app, ["predict", str(tmp_path / "tune.wav"), "--plot", str(tmp_path)])
    assert result.exit_code == 0 and (tmp_path / "tune-2.png").is_file(), result.output


def test_a_segment_other_than_the_models_own_is_said(clip):
    """--segment 10 on the default (its head learned from, and was calibrated on, 30 s) gave
    other answers and confidence with nothing said."""
    from typer.testing import CliRunner

    from genrekit.cli.main import app

    other = CliRunner().invoke(app, ["predict", str(clip), "--segment", "10", "--format", "json"])
    assert other.exit_code == 0 and "--segment 10: musicnn-prior learned from 30 s chunks" in " ".join(other.stderr.split())
    own = CliRunner().invoke(app, ["predict", str(clip), "--segment", "30", "--format", "json"])
    assert own.exit_code == 0 and "--segment" not in own.stderr


def test_a_command_that_ends_while_stdin_is_still_open_exits_cleanly(tmp_path):
    """A pool reads the path list in a daemon thread. Blocked on sys.stdin's buffer when the
    command ended (a broken pipe, an error), it made Python's shutdown abort with "Fatal
    Python error: _enter_buffered_busy" (exit 134). The list is read from a duplicate of the
    descriptor, without a buffer."""
    import subprocess
    import sys

    script = tmp_path / "early_exit.py"
    script.write_text("import operator, sys\n"
                      "from genrekit.cli.common import _read_paths\n"
                      "from genrekit.runners import LocalRunner\n"
                      "if __name__ == '__main__':\n"
                      "    for n, _ in enumerate(LocalRunner(2).map(operator.itemgetter, (0,), _read_paths('-'))):\n"
                      "        if n == 2:\n"
                      "            sys.exit(0)\n")
    producer = subprocess.Popen(["sh", "-c", "printf 'a\\nb\\nc\\nd\\n'; sleep 3"], stdout=subprocess.PIPE)
    try:
        ended = subprocess.run([sys.executable, str(script)], stdin=producer.stdout, capture_output=True, text=True,
                               timeout=60)
    finally:
        producer.stdout.close()
        producer.wait()
    assert ended.returncode == 0 and "Fatal Python error" not in ended.stderr, ended.stderr[-2000:]


def test_allowed_host_reaches_the_service_and_a_url_is_refused(served):
    result = invoke("serve", "--allowed-host", "genre.example.org", "--allowed-host", "10.0.0.5", env=WIDE)
    assert result.exit_code == 0 and served.calls[-1][1]["allowed_hosts"] == ["genre.example.org", "10.0.0.5"]
    refused = invoke("serve", "--allowed-host", "https://genre.example.org/", env=WIDE)
    assert refused.exit_code == EXIT_USAGE and "--allowed-host 'https://genre.example.org/': expected a host name" \
        in _flat(refused.output), refused.output


def test_sigterm_and_sighup_stop_a_command_in_order_unless_the_process_ignores_them():
    """``nohup genrekit train ...`` must survive its terminal closing: a signal the process was
    started ignoring stays ignored; the others stop the command as Ctrl+C does."""
    import signal

    from genrekit.cli.common import _orderly_stop_on_termination, _Stopped

    before = signal.signal(signal.SIGHUP, signal.SIG_IGN)
    try:
        with _orderly_stop_on_termination():
            assert signal.getsignal(signal.SIGHUP) is signal.SIG_IGN
            with pytest.raises(_Stopped) as stopped:
                signal.raise_signal(signal.SIGTERM)
            assert stopped.value.signum == signal.SIGTERM and isinstance(stopped.value, KeyboardInterrupt)
        assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL  # put back
    finally:
        signal.signal(signal.SIGHUP, before)


_LONG_OPERATOR = """
import signal, sys
import numpy as np
import onnxruntime as ort
from onnx import TensorProto, helper, numpy_helper
from genrekit.cli import common

common.STOP_GRACE_SECONDS = 1.0
shape = numpy_helper.from_array(np.array([1, 1, 8192, 8192], np.int64), "shape")
nodes = [helper.make_node("ConstantOfShape", ["shape"], ["big"],
                          value=helper.make_tensor("v", TensorProto.FLOAT, [1], [1.0])),
         helper.make_node("MaxPool", ["big"], ["pooled"], kernel_shape=[64, 64], strides=[1, 1]),
         helper.make_node("ReduceSum", ["pooled", "x"], ["s"], keepdims=0)]
graph = helper.make_graph(nodes, "long", [helper.make_tensor_value_info("x", TensorProto.INT64, [1])],
                          [helper.make_tensor_value_info("s", TensorProto.FLOAT, None)], initializer=[shape])
model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
model.ir_version = 8
options = ort.SessionOptions()
options.intra_op_num_threads = 1
session = ort.InferenceSession(model.SerializeToString(), options, providers=["CPUExecutionProvider"],
                               disabled_optimizers=["ConstantFolding"])  # not while the session is built
with common._orderly_stop_on_termination(lambda: "nothing was kept"):
    print("running", flush=True)
    session.run(None, {"x": np.array([0], np.int64)})  # one MaxPool of minutes
print("finished")
"""


@pytest.mark.parametrize("signum", ["SIGTERM", "SIGINT"])
def test_a_stop_ends_the_command_even_inside_one_long_call_into_compiled_code(signum):
    """Python acts on a signal between its own instructions: inside one long onnxruntime
    operator (a crafted file's MaxPool of hours) SIGTERM and Ctrl+C did nothing until it ended
    (a review, 2026-12-07). A stop Python has not acted on STOP_GRACE_SECONDS later (1 s here)
    ends the process, saying why, with 128 + the signal's number."""
    import signal
    import subprocess
    import sys
    import time

    process = subprocess.Popen([sys.executable, "-c", _LONG_OPERATOR], stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True)
    try:
        assert process.stdout.readline() == "running\n"
        time.sleep(1.0)  # inside the operator, which takes minutes
        process.send_signal(getattr(signal, signum))
        out, err = process.communicate(timeout=60)
    finally:
        process.kill()
    name = "Ctrl+C" if signum == "SIGINT" else signum
    assert process.returncode == 128 + getattr(signal, signum), err
    assert f"interrupted ({name}): genrekit was 1 s inside one call into compiled code" in " ".join(err.split())
    assert "nothing was kept" in err and "finished" not in out


def test_the_stop_watchdog_waits_for_the_clean_up_and_ignores_a_forked_childs_signals():
    """Once Python has acted on a stop, its clean-up is not cut however long it takes; a forked
    child (a DataLoader's worker) that gets SIGTERM writes it to the parent's signal pipe too,
    which must not end the parent; nor may a signal whose handler is now another's (``serve``:
    uvicorn's, which stops the service gracefully in its own time), nor one another handler took
    that the watchdog read once genrekit's was back, after the command ended (a review, 2026-12-07)."""
    import subprocess
    import sys

    script = """
import os, signal, time
from genrekit.cli import common

common.STOP_GRACE_SECONDS = 0.5
with common._orderly_stop_on_termination():
    child = os.fork()
    if child == 0:
        os.kill(os.getpid(), signal.SIGTERM)  # the inherited handler: the child dies of it
        time.sleep(5)
        os._exit(0)
    assert os.waitpid(child, 0)[1] == signal.SIGTERM
    time.sleep(1.5)  # the parent's watchdog would have ended it by now
    print("parent lives", flush=True)
    ours = signal.signal(signal.SIGTERM, lambda signum, frame: None)  # a service's own, as uvicorn's
    os.kill(os.getpid(), signal.SIGTERM)
    time.sleep(1.5)  # its graceful stop is its own
    print("the service's stop", flush=True)
    signal.signal(signal.SIGTERM, ours)
    try:
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(5)
    except common._Stopped:
        time.sleep(1.5)  # a clean-up that takes longer than the grace
        print("cleaned up", flush=True)
with common._orderly_stop_on_termination():  # another command: a stop another handler took, read late
    ours = signal.signal(signal.SIGHUP, lambda signum, frame: None)
    signal.raise_signal(signal.SIGHUP)
    signal.signal(signal.SIGHUP, ours)
    time.sleep(0.2)  # the command ends inside the grace
time.sleep(1.5)  # the command is over: its watchdog with it
print("after the command", flush=True)
"""
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split("\n")[:4] == ["parent lives", "the service's stop", "cleaned up", "after the command"]


def test_serve_leaves_its_stops_to_the_service_without_the_watchdog(served, monkeypatch):
    """uvicorn swaps its own handlers in and out with genrekit's: a stop it took, read by the
    watchdog after genrekit's handler was back, would have ended a service stopping gracefully.
    `serve` runs without the watchdog's signal pipe; other commands run with it."""
    import signal

    from genrekit.cli import common

    def wakeup_fd() -> int:
        fd = signal.set_wakeup_fd(-1)
        signal.set_wakeup_fd(fd)
        return fd

    seen, serve = [], type(served).__call__

    def serve_seeing_the_wakeup_fd(*args, **kwargs):
        seen.append(wakeup_fd())
        return serve(*args, **kwargs)

    before = wakeup_fd()
    monkeypatch.setattr(type(served), "__call__", serve_seeing_the_wakeup_fd)
    assert invoke("serve", env=WIDE).exit_code == 0
    assert seen == [before]
    with common._orderly_stop_on_termination():
        assert wakeup_fd() not in (before, -1)  # elsewhere, the pipe is there
    assert wakeup_fd() == before


def test_compare_refuses_more_folds_than_any_genre_of_its_table_has_tracks(tmp_path):
    rows = ["filename,length,a,b,label"] + [f"{g}.{k:05d}.wav,661794,{k},{k * 2},{g}" for g in ("jazz", "rock")
                                            for k in range(3)]
    (tmp_path / "t.csv").write_text("\n".join(rows) + "\n")
    result = invoke("compare", "--table", tmp_path / "t.csv", "--models", "logreg", "--folds", "5", "--out",
                    tmp_path / "out", env=WIDE)
    assert result.exit_code == EXIT_USAGE, result.output
    assert "--folds 5: the largest genre of" in _flat(result.output) and "has 3 tracks; expected at most 3 folds" in \
        _flat(result.output)
    assert not (tmp_path / "out").exists()


def test_evaluate_on_genres_the_model_does_not_know_names_both_and_leaves_no_folder(tiny_model, songs, tmp_path):
    import shutil

    for genre, song in zip(("polka", "polka", "ska"), songs):
        (tmp_path / "data" / genre).mkdir(parents=True, exist_ok=True)
        shutil.copy(song, tmp_path / "data" / genre / song.name)
    result = invoke("evaluate", tiny_model, tmp_path / "data", "--kind", "folder", "--out", tmp_path / "out", env=WIDE)
    assert result.exit_code != 0
    assert "none of its genres (polka, ska) is known to the model (hum, noise)" in _flat(result.output), result.output
    assert not (tmp_path / "out").exists()  # the lock it took was all it made


def test_evaluate_says_why_macro_f1_is_far_under_accuracy(tiny_model, songs, tmp_path):
    """Genres the model named that no scored track holds count in scikit-learn's macro
    averages with F1 0: the summary line says so, as metrics.md does."""
    import shutil

    (tmp_path / "data" / "noise").mkdir(parents=True)
    for song in songs:
        shutil.copy(song, tmp_path / "data" / "noise" / song.name)
    result = invoke("evaluate", tiny_model, tmp_path / "data", "--kind", "folder", "--jobs", "1",
                    "--out", tmp_path / "out", env=WIDE)
    metrics = json.loads((tmp_path / "out" / "metrics.json").read_text())
    assert metrics["confusion_matrix"][1][0] > 0  # some 'noise' named 'hum', a genre no track holds
    assert "Macro averages (scikit-learn's) count the 1 genre(s) predicted but held by none of these tracks (hum)" \
        in _flat(result.output), result.output


def test_a_hop_longer_than_the_chunks_is_said_to_leave_gaps(tiny_model, songs):
    result = invoke("predict", "--model", tiny_model, "--hop", "45", songs[0], env=WIDE)
    assert result.exit_code == 0, result.output
    assert "--hop 45 is longer than tiny's 30 s chunks: 15 s after each chunk is not analysed" in _flat(result.output)
    assert "not analysed" not in _flat(invoke("predict", "--model", tiny_model, "--hop", "30", songs[0], env=WIDE).output)


def test_an_out_ending_in_a_slash_is_a_folder_made_for_the_report(tmp_path):
    """`report RUN --out pages/` wrote an HTML file named `pages`: pathlib drops the slash that
    said a folder was meant. It now makes the folder and writes report.html inside; without the
    slash the name is still the file's."""
    run = tmp_path / "run"
    run.mkdir()
    (run / "run.json").write_text(json.dumps({"command": "train", "model": "logreg"}))
    for given, written in (("pages/", "pages/report.html"), (f"deep{os.sep}er{os.sep}", "deep/er/report.html"),
                           ("page", "page")):
        result = invoke("report", run, "--out", given, env=WIDE)
        assert result.exit_code == EXIT_OK and (tmp_path / written).is_file(), (given, result.output)
        assert f"report -> {Path(written)}" in result.output
    (tmp_path / "afile").write_text("x")
    result = invoke("report", run, "--out", "afile/", env=WIDE)
    assert result.exit_code == EXIT_USAGE and "--out afile: expected a folder to write into" in result.output
    assert (tmp_path / "afile").read_text() == "x"


def test_export_into_an_out_ending_in_a_slash_makes_the_folder(tiny_model, tmp_path):
    """`export --out models/` was refused ('expected an .onnx file name, found no extension')
    unless the folder existed: it is now made, with model.onnx inside."""
    from genrekit.models import load

    result = invoke("export", tiny_model, "--out", "models/", env=WIDE)
    assert result.exit_code == EXIT_OK, result.output
    assert load(tmp_path / "models" / "model.onnx").labels == ["hum", "noise"]
    refused = invoke("export", tiny_model, "--out", "models2", env=WIDE)  # no slash: a file name, as before
    assert refused.exit_code == EXIT_USAGE and "expected an .onnx file name" in refused.output, refused.output
    assert not (tmp_path / "models2").exists()


def test_tag_into_an_out_ending_in_a_slash_writes_its_table_inside(tiny_model, songs, tmp_path):
    """`tag LIB --out tags/` was refused ('found no extension'): a folder (made if needed, or one
    that exists) takes the default table name, as report's and export's --out do."""
    result = invoke("tag", songs[0].parent, "--model", tiny_model, "--out", "tags/", "--jobs", "1", env=WIDE)
    assert result.exit_code == EXIT_OK, result.output
    table = tmp_path / "tags" / "genrekit-tags.csv"
    assert table.is_file() and len(table.read_text().splitlines()) == 1 + len(songs)
    again = invoke("tag", songs[0].parent, "--model", tiny_model, "--out", "tags", "--jobs", "1", env=WIDE)
    assert again.exit_code == EXIT_OK and f"{len(songs)} done by an earlier run" in _flat(again.output), again.output


def test_a_segment_shorter_than_the_model_can_describe_is_a_usage_error(songs):
    """`predict --segment 1` with the default model ended with exit 1 and the library's name
    for the parameter ('segment_seconds=1: ...'): it is a value out of range, exit 2 naming
    the option, before any work; in `tag` too."""
    for command in (["predict", songs[0]], ["tag", songs[0].parent, "--out", "t.csv"]):
        result = invoke(*command, "--segment", "1", env=WIDE)
        said = _flat(result.output)
        assert result.exit_code == EXIT_USAGE, result.output
        assert "--segment 1: musicnn-prior describes chunks of at least 3 s" in said and "segment_seconds" not in said


def test_config_warns_of_a_model_setting_that_names_no_model(tmp_path):
    """`model = "nonexist/x.genrekit"` in genrekit.toml was printed by `config` without a word,
    and refused first by predict. `config` still prints the file (exit 0: its output is TOML)
    and says on stderr that the model is not there; the default draws no warning."""
    assert "warning" not in invoke("config", env=WIDE).stderr
    (tmp_path / "genrekit.toml").write_text('model = "nonexist/x.genrekit"\n')
    shown = invoke("config", env=WIDE)
    assert shown.exit_code == EXIT_OK and f'model = "{tmp_path / "nonexist" / "x.genrekit"}"' in shown.stdout
    assert "warning: model: " in shown.stderr and "model file not found" in _flat(shown.stderr), shown.stderr


@pytest.mark.parametrize("args", [
    ("export", "default", "--out", "LONG.onnx"),
    ("export", "LONG.genrekit", "--out", "x.onnx"),
    ("predict", "--model", "LONG.onnx", "song.wav"),
    ("report", "here", "--out", "LONG.html"),
])
def test_a_name_too_long_for_the_file_system_is_said_not_a_traceback(tmp_path, args):
    """A path past the file system's 255-byte names raised OSError (ENAMETOOLONG) from
    Path.is_dir() with a traceback (a review, 2026-12-06)."""
    (tmp_path / "here").mkdir()
    args = [str(tmp_path / a.replace("LONG", "a" * 300)) if "LONG" in a or a == "here" else a for a in args]
    result = invoke(*args)
    assert result.exit_code in (1, EXIT_USAGE), result.output
    assert "Traceback" not in result.output and "aaaa" in result.output
    assert "too long" in result.output, result.output


def test_an_empty_output_name_is_a_usage_error_not_the_current_folder(tmp_path, monkeypatch):
    """`--out "$OUT"` with OUT unset wrote ./model.onnx (pathlib reads "" as ".")."""
    monkeypatch.chdir(tmp_path)
    result = invoke("export", "default", "--out", "")
    assert result.exit_code == EXIT_USAGE and "--out: expected a path, found an empty string" in _flat(result.output)
    assert not list(tmp_path.iterdir())


def test_an_interrupted_export_says_nothing_was_written_not_that_it_resumes(tmp_path, monkeypatch):
    import genrekit.export

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(genrekit.export, "export_onnx", interrupted)
    result = invoke("export", "default", "--out", tmp_path / "x.onnx")
    assert result.exit_code == 130, result.output
    said = _flat(result.output)
    assert "export writes its file whole or not at all: nothing was written" in said and "resumes" not in said


@pytest.mark.parametrize("value", ["0.1", "601"])
def test_a_chunk_outside_what_a_feature_set_takes_is_a_usage_error(value):
    """--chunk 0.1 was refused after the dataset was read, in the library's words
    ("chunk_duration=0.1 must be 0.5-600 seconds or None"), exit 1."""
    result = invoke("train", "no-such-dataset", "--chunk", value)
    assert result.exit_code == EXIT_USAGE and f"--chunk {value}: expected a number from 0.5 to 600" in _flat(result.output)


def test_the_apps_flags_are_taken_after_the_command_too():
    """`genrekit predict song.mp3 -q` was "No such option: -q" (a new user's review, 2026-12):
    the app's -q/-v after the command are moved before it; after `--` a name is a name."""
    from genrekit.cli.main import app_flags_first

    assert app_flags_first(["predict", "a.mp3", "-q", "--format", "json"]) == ["-q", "predict", "a.mp3", "--format",
                                                                              "json"]
    assert app_flags_first(["-v", "tag", "lib", "--verbose"]) == ["-v", "--verbose", "tag", "lib"]
    assert app_flags_first(["predict", "--", "-q"]) == ["predict", "--", "-q"]
    assert app_flags_first(["datasets", "check", "x"]) == ["datasets", "check", "x"]
    assert app_flags_first(["predict", "a", "--model", "-q"]) == ["predict", "a", "--model", "-q"]  # a value
    assert app_flags_first(["tag", "lib", "--write-tags", "-q"]) == ["-q", "tag", "lib", "--write-tags"]  # a switch
    done = subprocess.run([sys.executable, "-m", "genrekit", "config", "-q"], capture_output=True, text=True)
    assert done.returncode == 0 and "No such option" not in done.stderr, done.stderr


def test_log_lines_carry_an_unambiguous_date(capsys):
    """rich's default time, ``[12/07/26 21:31:05]``, reads as 12 July 2026 or 7 December 2026
    (a review, 2026-12-07): warnings carry ISO 8601 dates."""
    import logging
    import re

    from genrekit.cli.common import _setup_logging

    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    try:
        _setup_logging(verbose=False)
        logging.getLogger("genrekit.test").warning("a song was left out")
    finally:
        root.handlers[:], root.level = handlers, level
    said = capsys.readouterr().err
    assert re.search(r"\[\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\]", said) and "a song was left out" in said, said
