"""The training settings of a network: every TrainConfig field from the command line or a
``--config`` file (TOML or JSON), checked with errors that name the file and the key; the
recipes say which options they take; and the imports between models, train and evaluate
flow one way."""

import ast
import json
import os
from pathlib import Path

import pytest
from typer.testing import CliRunner

from genrekit.cli.main import app
from genrekit.errors import ModelError, ParameterError
from genrekit.train.config import SETTINGS, TrainConfig, read_config

SRC = Path(__file__).resolve().parents[1] / "src" / "genrekit"


def test_a_good_file_gives_its_settings(tmp_path):
    toml = tmp_path / "net.toml"
    toml.write_text('lr = 0.002\noptimizer = "sgd"\nspecaugment = false\nbatch_size = 8\nweight_decay = 0\n')
    assert read_config(toml) == {"lr": 0.002, "optimizer": "sgd", "specaugment": False, "batch_size": 8,
                                 "weight_decay": 0}
    resolved = json.dumps({**TrainConfig(preset="edge-cnn", epochs=3).__dict__, "lr": 0.01})
    (tmp_path / "config.json").write_text(resolved)  # a run folder's config.json reads back
    assert read_config(tmp_path / "config.json", preset="edge-cnn")["epochs"] == 3


def test_default_names_the_shipped_models_recipe_and_the_old_preset_name_reads(tmp_path):
    """'default' names the shipped model wherever a model is expected: to train and compare it is
    musicnn-prior, the default's recipe. The residual CNN preset it named until 2026-12-06 is
    short-chunk-resnet, and a run folder's config.json of that time still reads."""
    from genrekit.models import DEFAULT_MODEL, recipe_name, trains_from_audio
    from genrekit.train import train

    assert recipe_name("default") == DEFAULT_MODEL == "musicnn-prior" and recipe_name("edge-cnn") == "edge-cnn"
    assert trains_from_audio("default") is False
    with pytest.raises(ParameterError, match="epochs: only for networks, and model 'musicnn-prior' is not one"):
        train(tmp_path, model="default", epochs=5)  # read as musicnn-prior before any data is read
    import numpy as np
    import soundfile as sf

    for genre in ("jazz", "rock"):  # read before the options are checked
        (tmp_path / "data" / genre).mkdir(parents=True)
        sf.write(tmp_path / "data" / genre / "a.wav", np.zeros(22050, dtype=np.float32), 22050)
    refused = CliRunner().invoke(app, ["train", str(tmp_path / "data"), "--model", "default", "--epochs", "5",
                                       "--out", str(tmp_path / "run")])
    said = " ".join(refused.output.split())
    assert refused.exit_code == 2 and \
        "--epochs: only for networks, and --model default (musicnn-prior) is not one" in said
    assert "(the network named 'default' before 2026-12-06 is now 'short-chunk-resnet')" in said
    with pytest.raises(ModelError, match=r"network 'default' is unknown; .* is now 'short-chunk-resnet'\)"):
        TrainConfig(preset="default").resolved()
    old = tmp_path / "config.json"
    old.write_text(json.dumps({**TrainConfig(epochs=3).__dict__, "preset": "default"}))
    assert TrainConfig().preset == "short-chunk-resnet"
    assert read_config(old, preset="short-chunk-resnet")["epochs"] == 3


@pytest.mark.parametrize(("text", "message"), [
    ('learning_rate = 0.1', "unknown key 'learning_rate'; expected some of preset, epochs"),
    ('epochs = "ten"', "key 'epochs': expected an integer, found 'ten'"),
    ('epochs = 2.5', "key 'epochs': expected an integer, found 2.5"),
    ('specaugment = 1', "key 'specaugment': expected true or false, found 1"),
    ('lr = true', "key 'lr': expected a number, found True"),
    ('optimizer = "lion"', "optimizer='lion' must be sgd, adam, adamw or rmsprop"),
    ('overlap = 1.5', "overlap=1.5: expected a fraction in [0, 1)"),
    ('patience = 0', "patience=0: expected a whole number of epochs >= 1"),  # that setting alone, not all of them
    ('patience = 0\nmixup = -1', "mixup=-1: expected a finite number >= 0; patience=0: expected"),
    ('lr = 0', "lr=0: expected a finite number > 0"),  # never learns; the command line's --lr 0 is refused
    ('lr = inf', "lr=inf: expected a finite number > 0"),  # trained, then called its own model corrupt
    ('weight_decay = inf', "weight_decay=inf: expected a finite number >= 0"),
    ('preset = "cnn4"', "key 'preset': the file is for 'cnn4', and the model is 'edge-cnn'"),
    ('lr = ', "not valid TOML"),
    ("epochs = 1" + "0" * 5000, "not valid TOML"),  # more digits than Python converts: a ValueError escaped
])
def test_a_bad_file_is_refused_naming_it_and_the_key(tmp_path, text, message):
    path = tmp_path / "bad.toml"
    path.write_text(text)
    with pytest.raises(ParameterError) as caught:
        read_config(path, preset="edge-cnn")
    assert str(caught.value).startswith(f"{path}: ") and message in str(caught.value)
    if "=" in message and "must be" not in message:  # a value's own message: no other setting named
        assert "label_smoothing" not in str(caught.value)


def test_a_json_file_must_be_a_table(tmp_path):
    path = tmp_path / "list.json"
    path.write_text("[1, 2]")
    with pytest.raises(ParameterError, match=r"list.json: expected a table of training settings, found list"):
        read_config(path)
    path.write_text("{'lr': 1}")
    with pytest.raises(ParameterError, match=r"list.json: not valid JSON"):
        read_config(path)
    path.write_text("[" * 100_000)  # json.loads recursed past Python's stack: a RecursionError escaped
    with pytest.raises(ParameterError, match=r"list.json: not valid JSON \(nested too deeply"):
        read_config(path)
    path.write_text('{"epochs": 1' + "0" * 5000 + "}")
    with pytest.raises(ParameterError, match=r"list.json: not valid JSON .*digits"):
        read_config(path)
    os.mkfifo(tmp_path / "fifo.json")  # its read waited for a writer for ever
    with pytest.raises(ParameterError, match=r"fifo.json: expected a training config file, found a pipe"):
        read_config(tmp_path / "fifo.json")


def test_every_setting_is_an_option_of_train_and_compare():
    """Each TrainConfig field but ``preset`` (``--model``) is an option of ``train``; ``compare``
    takes them all but ``patience`` (its folds have no validation tracks)."""
    from typer.main import get_command

    command = get_command(app)
    for name, skipped in (("train", {"preset"}), ("compare", {"preset", "patience"})):
        options = {p.name for p in command.commands[name].params}
        assert set(SETTINGS) - skipped <= options, name
        assert "config" in options


def test_a_classical_model_refuses_network_settings_from_a_file(tmp_path, gtzan_mini):
    config = tmp_path / "net.json"
    config.write_text(json.dumps({"lr": 0.01}))
    result = CliRunner().invoke(app, ["train", str(gtzan_mini), "--model", "logreg", "--config", str(config),
                                      "--out", str(tmp_path / "run")])
    assert result.exit_code == 1 and "lr: only for networks, and model 'logreg' is not one" in result.output
    config.write_text(json.dumps({"lr": "fast"}))
    result = CliRunner().invoke(app, ["train", str(gtzan_mini), "--model", "logreg", "--config", str(config),
                                      "--out", str(tmp_path / "run")])
    assert result.exit_code == 1 and "net.json: key 'lr': expected a number, found 'fast'" in result.output
    assert not (tmp_path / "run").exists()


def test_a_runs_config_json_repeats_its_network_without_model(tmp_path, gtzan_mini, monkeypatch):
    """A run folder's config.json names its preset: --config alone repeats the run (the model was
    the default's, and the file refused as "for 'edge-cnn', and the model is 'musicnn-prior'")."""
    import genrekit.train as training

    trained = []
    monkeypatch.setattr(training, "train", lambda data, model, **options: trained.append((model, options))
                        or pytest.skip("stopped before training"))
    config = tmp_path / "config.json"
    config.write_text(json.dumps({"preset": "edge-cnn", "lr": 0.01}))
    for given, model in (([], "edge-cnn"), (["--model", "edge-cnn"], "edge-cnn")):
        try:
            CliRunner().invoke(app, ["train", str(gtzan_mini), *given, "--config", str(config),
                                     "--out", str(tmp_path / "run")], catch_exceptions=False)
        except pytest.skip.Exception:
            pass
        assert trained[-1][0] == model and trained[-1][1]["lr"] == 0.01
    result = CliRunner().invoke(app, ["train", str(gtzan_mini), "--model", "short-chunk-resnet", "--config",
                                      str(config), "--out", str(tmp_path / "run")])
    said = " ".join(result.output.split())  # a model named on the command line still decides
    assert result.exit_code == 1 and "the file is for 'edge-cnn', and the model is 'short-chunk-resnet'" in said, said
    assert len(trained) == 2


def test_the_recipe_says_what_it_needs_and_takes():
    from genrekit.train.recipes import NetworkRecipe, TableRecipe, recipe_options, recipe_type

    assert recipe_type("logreg") is TableRecipe and TableRecipe.needs_table
    assert recipe_type("edge-cnn") is NetworkRecipe and not NetworkRecipe.needs_table
    assert set(SETTINGS) - {"preset", "seed"} <= set(NetworkRecipe.options)
    # the other kind's options at their defaults are dropped; extraction options quietly so
    assert recipe_options("edge-cnn", {"search": False, "cache": None, "n_jobs": 4, "lr": 0.1}) == {"lr": 0.1}
    assert recipe_options("logreg", {"lr": None, "patience": 8, "n_jobs": 4}) == {"n_jobs": 4}
    with pytest.raises(ParameterError, match="patience: only for networks"):
        recipe_options("logreg", {"patience": 3})
    with pytest.raises(ParameterError, match="model 'nope' is unknown"):
        recipe_type("nope")


def _imports(path: Path, *, top_level_only: bool) -> set[str]:
    tree = ast.parse(path.read_text())
    nodes = tree.body if top_level_only else list(ast.walk(tree))
    found = set()
    for node in nodes:
        if isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
    return found


# docs/architecture.md's floors, lowest first; train's fitting modules sit below predict, its
# run modules above evaluate. The ground floor (0) imports no stage.
FLOORS = {"errors": 0, "untrusted": 0, "_files": 0, "_lazy": 0, "_renamed": 0, "runners": 0, "data": 0, "audio": 1,
          "features": 2, "datasets": 3, "models": 4, "predict": 6, "evaluate": 7, "cli": 9, "server": 9, "export": 9,
          "__main__": 10}
TRAIN_FITTING = {"splits", "config", "recipes", "network_data", "loop", "checkpoint", "plots"}


def _floor(module: str) -> int | None:
    parts = module.split(".")
    if parts[0] != "genrekit" or len(parts) == 1:
        return None  # genrekit's own __init__ resolves its API lazily, by name
    if parts[1] == "train":
        return 5 if len(parts) == 2 or parts[2] in TRAIN_FITTING | {"__init__"} else 8
    return FLOORS[parts[1]]


def test_every_import_flows_up_the_floors():
    """Every module of every stage imports (at its top or inside a function) only its own
    floor and those below: audio -> features -> datasets -> models -> train (fitting) ->
    predict -> evaluate -> train (runs) -> cli / server / export, on a ground floor of
    errors, untrusted, _files, _lazy, _renamed and runners. A new stage must be given a floor here."""
    wrong = []
    for path in SRC.rglob("*.py"):
        module = ".".join(path.relative_to(SRC.parent).with_suffix("").parts).removesuffix(".__init__")
        here = _floor(module)
        for imported in _imports(path, top_level_only=False):
            there = _floor(imported)
            if here is not None and there is not None and there > here:
                wrong.append(f"{module} imports {imported}")
    assert not wrong, wrong


def test_imports_flow_one_way():
    """``models`` never imports ``train`` when imported; the fitting half of ``train`` (what
    cross-validation calls per fold) imports nothing above ``models``; nothing below ``train``
    and outside ``models`` asks a model's kind (``trains_from_audio``)."""
    for path in (SRC / "models").rglob("*.py"):
        assert not any(m.startswith("genrekit.train") for m in _imports(path, top_level_only=True)), path
    for name in ("splits", "config", "recipes", "network_data", "loop", "checkpoint", "plots"):
        above = {m for m in _imports(SRC / "train" / f"{name}.py", top_level_only=False)
                 if m.split(".")[:2] in (["genrekit", p] for p in ("evaluate", "predict", "cli", "server", "export"))}
        assert not above, (name, above)
    for path in SRC.rglob("*.py"):
        if path.parent.name not in ("models", "train") and "models" not in path.parts:
            assert "trains_from_audio" not in path.read_text(), path
