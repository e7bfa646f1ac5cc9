"""The network trainer on real clips: leak-free chunks, determinism, resume, model files."""

import json

import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="PyTorch is the 'deep' extra; install genrekit[deep]")

from genrekit.datasets import load_gtzan, train_val_test_split  # noqa: E402
from genrekit.errors import ModelError  # noqa: E402
from genrekit.models.nets import build_network  # noqa: E402
from genrekit.models.nets.artifact import load_network, save_network  # noqa: E402
from genrekit.models.nets.inference import predict_chunks  # noqa: E402
from genrekit.train.config import TrainConfig  # noqa: E402
from genrekit.train.loop import train_network  # noqa: E402
from genrekit.train.network_data import split_chunks  # noqa: E402
from genrekit.train.plots import write_history  # noqa: E402


GENRES = ("classical", "metal", "reggae")


@pytest.fixture(scope="module")
def chunks(gtzan_mini):
    dataset = load_gtzan(gtzan_mini)
    # Four clips per genre: two train, one validation, one test track each.
    dataset = dataset.select(t.track_id for t in dataset.tracks if t.label in GENRES and int(t.track_id[-5:]) < 4)
    parts = dict(zip((t.track_id for t in dataset.tracks),
                     train_val_test_split([t.label for t in dataset.tracks], dataset.groups, sizes=(0.5, 0.25, 0.25))))
    net = build_network("short-chunk-resnet", len(GENRES))
    sets, failures = split_chunks(net, dataset.tracks, list(GENRES), parts, n_frames=128)
    assert not failures
    return sets, parts


@pytest.fixture(scope="module")
def train_chunks(chunks):
    """``chunks`` with every third training window (still >= 2 batches of 16 an epoch; the
    validation and test sets whole): what every training run of this module learns from.
    Runs that resume one another must train on the same set, or the resume is refused as
    other training data."""
    import dataclasses

    sets, parts = chunks
    train = sets["train"]
    fewer = dataclasses.replace(train, X=train.X[::3], y=train.y[::3], track=train.track[::3])
    assert len(fewer.y) >= 16 + 2  # two batches of 16 an epoch (the loop skips a last batch of one)
    return {**sets, "train": fewer}, parts


def test_no_track_has_chunks_on_two_sides(chunks):
    sets, parts = chunks
    seen = {part: set(chunk_set.track) for part, chunk_set in sets.items()}
    assert not seen["train"] & seen["test"] and not seen["train"] & seen["val"] and not seen["val"] & seen["test"]
    for part, chunk_set in sets.items():
        assert all(parts[t] == part for t in chunk_set.track)
    assert sets["train"].X.shape[1:] == (1, 128, 128)
    # Training windows overlap by half; test windows do not: more training chunks per track.
    per_track = {p: len(s.track) / len(set(s.track)) for p, s in sets.items()}
    assert per_track["train"] > 1.5 * per_track["test"]


def _train(train_chunks, **kwargs):
    sets, _ = train_chunks
    config = TrainConfig(preset="short-chunk-resnet", epochs=2, batch_size=16, seed=7)
    return train_network(sets["train"], sets["val"], len(GENRES), config, progress=False, **kwargs)


@pytest.fixture(scope="module")
def trained(train_chunks):
    return _train(train_chunks)


def test_training_is_deterministic_and_resumable(train_chunks, trained, tmp_path, caplog):
    # One run of 2 epochs against one stopped after 1 and resumed: equal weights prove both
    # that training is deterministic and that a resume continues exactly.
    net_a, history_a = trained
    assert len(history_a) == 2 and {"train_loss", "val_track_accuracy", "lr", "seconds"} <= set(history_a[0])
    assert history_a[0]["lr"] > history_a[1]["lr"]  # cosine schedule
    # the epoch kept is said: the best validation track accuracy, of those as accurate the lowest loss
    best = max(history_a, key=lambda h: (h["val_track_accuracy"], -h["val_loss"]))
    assert [h["kept"] for h in history_a] == [h is best for h in history_a]

    _train(train_chunks, out_dir=tmp_path, stop_after=1)
    assert (tmp_path / "checkpoint.safetensors").exists()
    net_c, history_c = _train(train_chunks, out_dir=tmp_path, resume=True)
    assert [h["epoch"] for h in history_c] == [0, 1]
    for (name, a), c in zip(net_a.state_dict().items(), net_c.state_dict().values()):
        assert torch.equal(a, c), f"training is not deterministic or the resume differs at {name}"
    write_history(history_c, tmp_path)
    assert (tmp_path / "history.csv").read_text().startswith("epoch,lr,train_loss")
    assert (tmp_path / "history.png").stat().st_size > 0
    # a run without resume that would replace an earlier run's checkpoint says so first
    import logging

    caplog.set_level(logging.WARNING, logger="genrekit.train.loop")
    _train(train_chunks, out_dir=tmp_path, stop_after=1)
    assert "an earlier run's checkpoint is replaced by this run's; --resume" in caplog.text


def test_a_checkpoint_of_other_settings_or_data_is_not_resumed(train_chunks, tmp_path, caplog):
    """--resume continued a checkpoint whatever made it: another seed's or dataset's weights
    and validation history then passed for this run's."""
    import dataclasses

    from genrekit.errors import ParameterError

    sets, _ = train_chunks
    _train(train_chunks, out_dir=tmp_path, stop_after=1)
    other_seed = TrainConfig(preset="short-chunk-resnet", epochs=2, batch_size=16, seed=8)
    with pytest.raises(ParameterError, match=r"other settings \(seed: 7 -> 8\)"):
        train_network(sets["train"], sets["val"], len(GENRES), other_seed, out_dir=tmp_path, resume=True,
                      progress=False)
    train = sets["train"]
    fewer = dataclasses.replace(train, X=train.X[:-4], y=train.y[:-4], track=train.track[:-4])
    with pytest.raises(ParameterError, match="other training data"):
        _train(({"train": fewer, "val": sets["val"]}, None), out_dir=tmp_path, resume=True)
    # the same shape and labels, other clips (another dataset's tracks), or other genres' names: refused too
    other_clips = dataclasses.replace(train, X=train.X.flip(0), track=np.array([f"other-{t}" for t in train.track]))
    with pytest.raises(ParameterError, match="other training data"):
        _train(({"train": other_clips, "val": sets["val"]}, None), out_dir=tmp_path, resume=True)
    with pytest.raises(ParameterError, match="other training data"):
        _train(train_chunks, out_dir=tmp_path, resume=True, labels=["a", "b", "c", "d"][:len(GENRES)])
    checkpoint = tmp_path / "checkpoint.safetensors"
    intact = checkpoint.read_bytes()
    for damage in (intact[: len(intact) // 2], intact[:8] + b"X" + intact[9:]):  # cut short; header not JSON
        checkpoint.write_bytes(damage)
        with pytest.raises(ParameterError, match=r"checkpoint.safetensors: cannot resume from it .*delete it"):
            _train(train_chunks, out_dir=tmp_path, resume=True)
    # progress of the wrong kind, edited or damaged: it failed in the epoch loop, or after every
    # epoch had run (best weights missing), and an epoch of -3 ran epoch 0 twice (a review, 2026-12-07)
    from safetensors.torch import load_file, save_file

    from genrekit.train.checkpoint import read_checkpoint_state

    checkpoint.write_bytes(intact)
    tensors, state = load_file(str(checkpoint)), read_checkpoint_state(checkpoint)
    for change, named in ((("epoch", -3), "epoch"), (("epoch", 0.5), "epoch"), (("stale", "x"), "stale"),
                          (("history", {}), "history"), (("history", [1]), "history"),
                          (("best_accuracy", "x"), "best_accuracy"), (("best_epoch", -1), "best_epoch"),
                          (None, "best weights")):
        kept = tensors if change else {k: v for k, v in tensors.items() if not k.startswith("best.")}
        edited = dict(state, **dict([change] if change else []))
        save_file(kept, str(checkpoint), metadata={"state": json.dumps(edited)})
        with pytest.raises(ParameterError, match=f"cannot resume from it .*no {named}[ ,]"):
            _train(train_chunks, out_dir=tmp_path, resume=True)
    checkpoint.write_bytes(intact)
    more_epochs = TrainConfig(preset="short-chunk-resnet", epochs=3, batch_size=16, seed=7)  # a longer run resumes
    with caplog.at_level("WARNING", logger="genrekit.train.loop"):
        _, history = train_network(sets["train"], sets["val"], len(GENRES), more_epochs, out_dir=tmp_path, resume=True,
                                   stop_after=1, progress=False)
        assert [h["epoch"] for h in history] == [0, 1]
        assert "made for 2 epochs, resumed for 3: the learning rate of the epochs left follows the new plan" in caplog.text
        _train(train_chunks, out_dir=tmp_path / "mistyped", resume=True, stop_after=1)  # nothing to resume: said
        assert f"{tmp_path / 'mistyped' / 'checkpoint.safetensors'}: no checkpoint to resume from" in caplog.text


def test_network_settings_that_would_train_nothing_or_fail_late_are_refused_first(two_genres, caplog):
    """batch_size 1 skipped every batch (batch norm needs two) and saved an untrained network
    with exit 0; a device PyTorch cannot use failed with a traceback after every track was
    decoded; l2 0 left a weight decay of 1e-4 without a word."""
    import torch

    from genrekit.errors import ParameterError
    from genrekit.train.loop import _optimizer
    from genrekit.train.network import train_network_model

    with pytest.raises(ParameterError, match=r"batch_size=1: expected a whole number >= 2"):
        TrainConfig(batch_size=1).resolved()
    with pytest.raises(ParameterError, match=r"device='gpu': expected one of cpu, cuda, mps \(or cuda:N\)"):
        TrainConfig(device="gpu").resolved()
    # a choice in any case is that choice, as on the command line (a config file's optimizer = "Adam")
    folded = TrainConfig(optimizer="Adam", loss="CE", schedule="Cosine", device="CPU").resolved()
    assert (folded.optimizer, folded.loss, folded.schedule, folded.device) == ("adam", "ce", "cosine", "cpu")
    if not torch.cuda.is_available():
        with pytest.raises(ParameterError, match=r"device='cuda': not available in this PyTorch on this machine"):
            train_network_model(load_gtzan(two_genres), preset="cnn4", device="cuda", progress=False)
    from genrekit.datasets import Dataset, Track
    from genrekit.errors import DatasetError

    # 4 tracks a genre leave no validation track: said before a file is read (these do not exist)
    few = Dataset(name="few", root="/music", tracks=[Track(f"{g}{i}", f"/music/{g}/{i}.wav", g)
                                                      for g in ("jazz", "rock") for i in range(4)])
    with pytest.raises(DatasetError, match=r"/music \(few\): the split holds no validation track, which a network "
                                           r"needs .* is a track from 5 tracks up, and the smallest genre has 4\)"):
        train_network_model(few, preset="cnn4", progress=False)
    with pytest.raises(DatasetError, match=r"split='dataset' gives none\); mark some tracks 'val'"):
        train_network_model(few.with_splits({t.track_id: "train" for t in few.tracks}), preset="cnn4",
                            split="dataset", progress=False)
    with pytest.raises(ParameterError, match=r"specaugment masks spectrograms; musicnn-finetune's trained part"):
        train_network_model(few, preset="musicnn-finetune", specaugment=True, progress=False)  # before any file
    parameters = [torch.nn.Parameter(torch.zeros(1))]
    decay = {name: _optimizer(TrainConfig(**settings).resolved(), parameters).param_groups[0]["weight_decay"]
             for name, settings in {"l2 0": {"preset": "short-chunk-resnet", "l2": 0.0}, "paper's": {"preset": "cnn4-2x2"},
                                    "none set": {"preset": "cnn4"}, "l2 0 cnn4": {"preset": "cnn4", "l2": 0.0}}.items()}
    # l2 0 is how run records and checkpoints keep "unset": weight_decay stays in force, and a warning says so
    assert decay == {"l2 0": 1e-4, "paper's": 0.019, "none set": 1e-4, "l2 0 cnn4": 1e-4}
    assert _optimizer(TrainConfig(preset="cnn4", l2=0.0, weight_decay=0.0).resolved(),
                      parameters).param_groups[0]["weight_decay"] == 0.0
    with caplog.at_level("WARNING", logger="genrekit.train.network"), pytest.raises(DatasetError):
        train_network_model(few, preset="cnn4", l2=0.0, progress=False)
    assert "l2=0 (--l2 0) leaves weight_decay=0.0001 in force; for no decay give weight_decay=0" in caplog.text


def test_network_file_round_trip(chunks, trained, tmp_path):
    sets, _ = chunks
    net, _ = trained
    path = save_network(tmp_path / "net.safetensors", net, preset="short-chunk-resnet", labels=list(GENRES), metrics={"accuracy": 0.5})
    loaded, config = load_network(path)
    assert config["labels"] == list(GENRES) and config["frontend"]["n_mels"] == 128 and config["preset"] == "short-chunk-resnet"
    assert np.array_equal(predict_chunks(net.body, sets["test"].X), predict_chunks(loaded.body, sets["test"].X))
    waveform = torch.randn(2, 127 * 512) * 0.1
    net.eval()
    with torch.no_grad():
        assert torch.allclose(net(waveform), loaded(waveform))
    (tmp_path / "bad.safetensors").write_bytes(b"not a model")
    with pytest.raises(ModelError, match="not a genrekit network file"):
        load_network(tmp_path / "bad.safetensors")
    # a file saved while the preset was named 'default' loads under its new name
    import json

    from safetensors import safe_open
    from safetensors.torch import save_file

    from genrekit.models import load

    with safe_open(str(path), framework="pt") as handle:
        metadata, tensors = handle.metadata(), {key: handle.get_tensor(key) for key in handle.keys()}
    old = tmp_path / "old.safetensors"
    save_file(tensors, str(old), metadata={**metadata, "genrekit": json.dumps({**json.loads(metadata["genrekit"]),
                                                                                 "preset": "default"})})
    renamed, config = load_network(old)
    assert config["preset"] == "short-chunk-resnet" and load(old).name == "short-chunk-resnet"
    with torch.no_grad():
        assert torch.allclose(net(waveform), renamed(waveform))


@pytest.fixture(scope="module")
def two_genres(tmp_path_factory, gtzan_mini):
    """classical and metal, 8 real clips each (a split gives 6 train, 1 val, 1 test)."""
    import shutil

    root = tmp_path_factory.mktemp("clips") / "genres"
    for genre in ("classical", "metal"):
        (root / genre).mkdir(parents=True)
        for path in sorted((gtzan_mini / genre).iterdir()):
            shutil.copy(path, root / genre / path.name)
    return root


@pytest.fixture(scope="module")
def short_two_genres(tmp_path_factory, two_genres):
    """``two_genres``' 16 clips (same names, formats and samples) cut to their first 12 s: the
    longest window of a waveform preset (edge-cnn's 7.5 s) still gives two training windows
    at half overlap and two scored chunks per clip (a 4.5 s rest of at least half a chunk is kept)."""
    import soundfile as sf

    root = tmp_path_factory.mktemp("short-clips") / "genres"
    for path in sorted(two_genres.rglob("*.*")):
        info = sf.info(path)
        y, sr = sf.read(path, frames=12 * info.samplerate, dtype="int16")
        (root / path.parent.name).mkdir(parents=True, exist_ok=True)
        sf.write(root / path.parent.name / path.name, y, sr, format=info.format, subtype=info.subtype)
    return root


@pytest.mark.parametrize("preset", ["edge-cnn", "cnn4", "crnn1", "crnn2", "cnn5-img", "cnn4-2x2", "short-chunk-resnet",
                                    "musicnn-finetune"])
def test_every_preset_trains_from_the_cli(tmp_path_factory, request, preset):
    import json

    from typer.testing import CliRunner

    from genrekit.cli.main import EXIT_OK, app

    # An image network sees one image per 30 s clip: it trains on the whole clips; the
    # others on the same clips' first 12 s (see short_two_genres).
    root = request.getfixturevalue("two_genres" if preset == "cnn5-img" else "short_two_genres")
    out = tmp_path_factory.mktemp(preset)
    runner = CliRunner()
    result = runner.invoke(app, ["train", str(root), "--model", preset, "--epochs", "1", "--batch-size", "8",
                                 "--out", str(out)])
    assert result.exit_code == EXIT_OK, result.output
    for name in ("model.safetensors", "history.csv", "history.png", "metrics.json", "run.json"):
        assert (out / name).exists(), name
    metrics = json.loads((out / "metrics.json").read_text())
    # Test tracks are scored through predict's chunks, as `genrekit evaluate` scores them: an
    # image network sees one image per 30 s clip, so it has track metrics only.
    chunked = preset != "cnn5-img"
    assert metrics["n"] == 2 and ("chunk_accuracy" in metrics) == ("track_accuracy" in metrics) == chunked
    clip = root / "metal" / sorted(p.name for p in (root / "metal").iterdir())[0]
    predicted = runner.invoke(app, ["predict", "--model", str(out / "model.safetensors"), str(clip), "--format", "json"])
    assert predicted.exit_code == EXIT_OK, predicted.output
    line = json.loads(predicted.stdout.splitlines()[0])
    assert set(line["probabilities"]) == {"classical", "metal"} and line["n_chunks"] >= 1


def test_train_records_the_test_scores_that_evaluate_gives(tmp_path, short_two_genres):
    """A network's test metrics from `genrekit train` (printed, metrics.json, predictions.csv,
    the model file's) are those of `genrekit evaluate` on the same tracks: one path, predict's
    chunks, not the training windows."""
    import csv
    import json

    from typer.testing import CliRunner

    from genrekit.cli.main import EXIT_OK, app
    from genrekit.models import load

    runner = CliRunner()
    out = tmp_path / "train"
    trained = runner.invoke(app, ["train", str(short_two_genres), "--model", "edge-cnn", "--epochs", "1",
                                  "--batch-size", "8",
                                  "--out", str(out)])
    assert trained.exit_code == EXIT_OK, trained.output
    # Without --include-train, evaluate leaves out the 14 training and validation clips (by
    # content): what remains is the run's 2 test tracks.
    evaluated = runner.invoke(app, ["evaluate", str(out), str(short_two_genres), "--jobs", "1",
                                    "--out", str(tmp_path / "eval")])
    assert evaluated.exit_code == EXIT_OK, evaluated.output
    metrics = json.loads((tmp_path / "eval" / "metrics.json").read_text())
    assert len(json.loads((tmp_path / "eval" / "run.json").read_text())["excluded_training_tracks"]) == 14
    trained_metrics = json.loads((out / "metrics.json").read_text())
    assert trained_metrics.pop("protocol").startswith("random split by track")  # how train held them out
    # evaluate's caveat: GTZAN clips split by track sit next to clips trained on (train's protocol says how)
    assert metrics.pop("near_training_clips") == 2
    assert trained_metrics == metrics
    assert metrics["n"] == 2 and metrics["chunk_n"] > 2
    interval = "{:.2f}-{:.2f}".format(*metrics["accuracy_ci95"])
    assert (f"test tracks: 2, accuracy {metrics['accuracy']:.3f} (95% interval {interval}), macro F1 "
            f"{metrics['f1_macro']:.3f}, chunk accuracy {metrics['chunk_accuracy']:.3f}") in trained.output
    assert f"2 tracks: accuracy {metrics['accuracy']:.3f} (95% interval {interval})," in evaluated.output
    rows = [list(csv.reader((folder / "predictions.csv").open())) for folder in (out, tmp_path / "eval")]
    assert rows[0] == rows[1] and len(rows[0]) == 3
    test_ids = {r["track_id"] for r in csv.DictReader((out / "splits.csv").open()) if r["split"] == "test"}
    assert {row[0] for row in rows[0][1:]} == test_ids
    kept = load(out).metrics
    assert {k: kept[k] for k in ("accuracy", "chunk_accuracy", "f1_macro", "n")} == {
        k: metrics[k] for k in ("accuracy", "chunk_accuracy", "f1_macro", "n")}


def test_train_takes_a_config_file_and_records_the_resolved_settings(tmp_path, short_two_genres):
    """Settings come from ``--config`` (TOML), an option given on the command line wins, and the
    run folder's config.json (the resolved TrainConfig, also in run.json) reads back as a config."""
    import json

    from typer.testing import CliRunner

    from genrekit.cli.main import EXIT_OK, app
    from genrekit.train.config import read_config

    config = tmp_path / "edge.toml"
    config.write_text('epochs = 1\nbatch_size = 8\nlr = 0.002\noptimizer = "sgd"\npatience = 3\nmixup = 0.0\n')
    out = tmp_path / "run"
    result = CliRunner().invoke(app, ["train", str(short_two_genres), "--model", "edge-cnn", "--config", str(config),
                                      "--lr", "0.003", "--out", str(out)])
    assert result.exit_code == EXIT_OK, result.output
    recorded = json.loads((out / "config.json").read_text())
    assert {k: recorded[k] for k in ("epochs", "batch_size", "lr", "optimizer", "patience", "mixup", "preset")} == {
        "epochs": 1, "batch_size": 8, "lr": 0.003, "optimizer": "sgd", "patience": 3, "mixup": 0.0,
        "preset": "edge-cnn"}
    assert recorded["loss"] is not None and recorded["schedule"] is not None  # the preset's values, resolved
    assert json.loads((out / "run.json").read_text())["training"]["config"] == recorded
    assert read_config(out / "config.json", preset="edge-cnn")["lr"] == 0.003


def test_augmented_copies_are_seeded_and_stay_with_their_track(chunks, gtzan_mini):
    from genrekit import audio
    from genrekit.train.network_data import augmented_waveforms

    y, sr = audio.load(gtzan_mini / "classical" / "classical.00000.au", sr=22050)
    y = y[: 5 * sr]
    options = {"time_stretch": 0.2, "pitch_shift": 2.0, "copies": 2, "seed": 3}
    first = augmented_waveforms(y, sr, "classical.00000", **options)
    again = augmented_waveforms(y, sr, "classical.00000", **options)
    assert len(first) == 2 and all(np.array_equal(a, b) for a, b in zip(first, again))
    assert {len(v) for v in first} != {len(y)}  # stretched: the length changed
    assert not np.allclose(first[0][: len(y) // 2], first[1][: len(y) // 2])

    dataset = load_gtzan(gtzan_mini)
    dataset = dataset.select(t.track_id for t in dataset.tracks if t.label in GENRES and int(t.track_id[-5:]) < 2)
    parts = {t.track_id: "train" if t.track_id.endswith("0") else "test" for t in dataset.tracks}
    net = build_network("short-chunk-resnet", len(GENRES))
    plain, _ = split_chunks(net, dataset.tracks, list(GENRES), parts, n_frames=128)
    augmented, _ = split_chunks(net, dataset.tracks, list(GENRES), parts, n_frames=128,
                                augment={"time_stretch": 0.1, "pitch_shift": 1.0, "copies": 1, "seed": 0})
    assert len(augmented["train"].y) > 1.8 * len(plain["train"].y)  # the copy adds its windows to training
    assert set(augmented["train"].track) == set(plain["train"].track)  # under the same tracks
    assert torch.equal(augmented["test"].X, plain["test"].X)  # test audio is never altered


def test_validation_and_test_tracks_are_scored_on_what_predict_scores(gtzan_mini, tmp_path):
    """Early stopping and cross-validation score a track on the windows that ``predict`` cuts
    from the file (a last partial window kept): a track's mean window probabilities are the
    saved model's prediction for it."""
    from genrekit.predict import predict_file

    # metal.00002 is 16.96 s: five whole windows of 2.95 s, then 2.2 s that predict pads into a sixth.
    ids = {"metal.00002": "val", "classical.00000": "test"}
    dataset = load_gtzan(gtzan_mini).select(ids)
    net = build_network("short-chunk-resnet", len(GENRES), labels=list(GENRES))
    sets, failures = split_chunks(net, dataset.tracks, list(GENRES), ids, n_frames=128)
    assert not failures
    path = save_network(tmp_path / "net.safetensors", net, preset="short-chunk-resnet", labels=list(GENRES))
    for track in dataset.tracks:
        chunk_set = sets[ids[track.track_id]]
        rows = chunk_set.track == track.track_id
        proba = predict_chunks(net.body, chunk_set.X[torch.from_numpy(rows)])
        predicted = predict_file(path, track.path)
        assert len(proba) == predicted.n_chunks
        assert np.allclose(proba.mean(axis=0), [predicted.probabilities[g] for g in GENRES], atol=1e-4)
    assert (sets["val"].track == "metal.00002").sum() == 6


def test_windows_of_digital_silence_are_neither_trained_on_nor_scored(gtzan_mini, tmp_path):
    """The front end's dB against each window's own peak made a window of digital silence 0 dB
    in every bin, the loudest a window can look, and it was trained on with the track's genre;
    predict never analyses such a window, so validation now leaves it out too."""
    import dataclasses

    import soundfile as sf

    from genrekit import audio
    from genrekit.predict import predict_file

    track = load_gtzan(gtzan_mini).select(["metal.00002"]).tracks[0]
    y, sr = audio.load(track.path, sr=22050)
    gap = np.concatenate([y[: 6 * sr], np.zeros(6 * sr, dtype=y.dtype), y[6 * sr: 12 * sr]])  # 18 s, 6-12 s silent
    sf.write(tmp_path / "gap.wav", gap, sr)
    gapped = dataclasses.replace(track, path=str(tmp_path / "gap.wav"), track_id="gap")
    net = build_network("short-chunk-resnet", len(GENRES), labels=list(GENRES))
    sets, failures = split_chunks(net, [gapped], list(GENRES), {"gap": "train"}, n_frames=128, overlap=0.0)
    scored, _ = split_chunks(net, [gapped], list(GENRES), {"gap": "val"}, n_frames=128)
    assert not failures
    # six windows of 2.95 s: the one from 8.85 s to 11.8 s is silent throughout; the other five sound
    assert len(sets["train"].X) == 5 and len(scored["val"].X) == 5
    assert not (sets["train"].X == sets["train"].X.amax(dim=(1, 2, 3), keepdim=True)).flatten(1).all(dim=1).any()
    path = save_network(tmp_path / "net.safetensors", net, preset="short-chunk-resnet", labels=list(GENRES))
    assert predict_file(path, gapped.path).n_chunks == len(scored["val"].X)


def test_training_without_validation_keeps_the_last_epoch(train_chunks):
    sets, _ = train_chunks
    config = TrainConfig(preset="cnn4-2x2", epochs=2, batch_size=16, seed=1)
    _, history = train_network(sets["train"], None, len(GENRES), config, progress=False)
    assert len(history) == 2 and all(np.isnan(h["val_track_accuracy"]) for h in history)
    assert [h["kept"] for h in history] == [False, True]


def test_musicnn_finetune_trains_the_back_end_on_the_pretrained_features(gtzan_mini, tmp_path):
    """musicnn-finetune's front end and frozen part compute the pretrained musicnn's pooled
    features of musicnn's own input; training moves its back end only (no frozen weight, no
    batch-norm statistic), and a run resumed from its checkpoint ends where an uninterrupted
    one does."""
    import dataclasses

    import soundfile as sf

    from genrekit import audio
    from genrekit.errors import ParameterError
    from genrekit.features import musicnn

    torch.manual_seed(0)  # the new output layer's initial weights
    net = build_network("musicnn-finetune", len(GENRES), labels=GENRES).eval()
    y, _ = audio.load(next((gtzan_mini / "jazz").glob("jazz.00001.*")), sr=musicnn.SAMPLE_RATE)
    window = y[: (musicnn.PATCH_FRAMES - 1) * musicnn.HOP_LENGTH]
    pretrained, _ = musicnn.load_musicnn("MSD_musicnn")
    with torch.no_grad():
        ours = net.body.frozen_features(net.frontend(torch.from_numpy(window)[None]))
        reference = pretrained.pooled(torch.from_numpy(musicnn.log_mel_patches(window)))
    assert ours.shape == (1, 1506) and torch.allclose(ours, reference, atol=1e-3), (ours - reference).abs().max()
    # "metal" is one of MSD's tags: its genre starts from the tag's weights; the others do not.
    metal = pretrained.classifier.weight[musicnn.column_names("MSD_musicnn")[200:].index("msd.tag.metal")]
    assert torch.equal(net.body.head.classifier.weight[GENRES.index("metal")], metal)
    assert not torch.equal(net.body.head.classifier.weight[GENRES.index("classical")], metal)
    other = build_network("musicnn-finetune", 3).body
    assert other.start_from_tags(["hip hop", "Jazz", "waltz"]) == ["hip hop", "Jazz"]  # MSD: "Hip-Hop", "jazz"
    with pytest.raises(ModelError, match="2 labels for a network of 3 genres"):
        other.start_from_tags(["jazz", "pop"])

    dataset = load_gtzan(gtzan_mini)
    tracks = []
    for track in (t for t in dataset.tracks if t.label in GENRES and int(t.track_id[-5:]) < 3):
        path = tmp_path / f"{track.track_id}.wav"  # 9 s of each clip: the frozen part is the slow one
        sf.write(path, audio.load(track.path, sr=musicnn.SAMPLE_RATE, duration=9.0)[0], musicnn.SAMPLE_RATE)
        tracks.append(dataclasses.replace(track, path=str(path)))
    parts = {t.track_id: "val" if t.track_id.endswith("2") else "train" for t in tracks}
    sets, _ = split_chunks(net, tracks, list(GENRES), parts, n_frames=musicnn.PATCH_FRAMES)
    before = {k: v.clone() for k, v in net.state_dict().items()}
    config = TrainConfig(preset="musicnn-finetune", epochs=2, batch_size=8, seed=3)
    trained, history = train_network(sets["train"], sets["val"], len(GENRES), config, net=net, progress=False)
    after = trained.state_dict()
    moved = {k for k in before if not torch.equal(before[k], after[k])}
    assert {"body.head.dense.weight", "body.head.classifier.weight"} <= moved
    assert not {k for k in moved if k.startswith("body.frozen.") or "running_" in k}, moved

    def two_epochs(**kwargs):
        torch.manual_seed(0)
        fresh = build_network("musicnn-finetune", len(GENRES), labels=GENRES)
        return train_network(sets["train"], sets["val"], len(GENRES), config, net=fresh, progress=False, **kwargs)

    two_epochs(out_dir=tmp_path / "run", stop_after=1)
    resumed, resumed_history = two_epochs(out_dir=tmp_path / "run", resume=True)
    assert [h["train_loss"] for h in resumed_history] == [h["train_loss"] for h in history]
    assert all(torch.equal(v, resumed.state_dict()[k]) for k, v in after.items())
    with pytest.raises(ParameterError, match="specaugment"):
        train_network(sets["train"], None, len(GENRES), TrainConfig(preset="musicnn-finetune", specaugment=True),
                      net=build_network("musicnn-finetune", len(GENRES)), progress=False)


def test_network_evaluate_vote_and_compare_from_the_cli(tmp_path, short_two_genres):
    import json

    from typer.testing import CliRunner

    from genrekit.cli.main import EXIT_OK, app

    runner = CliRunner()
    out = tmp_path / "train"
    result = runner.invoke(app, ["train", str(short_two_genres), "--model", "edge-cnn", "--epochs", "2",
                                 "--aggregation", "vote",
                                 "--out", str(out)])
    assert result.exit_code == EXIT_OK, result.output
    model = out / "model.safetensors"
    assert load_network(model)[1]["aggregation"] == "vote"
    from genrekit.train.checkpoint import CHECKPOINT_FILE, read_checkpoint_state

    # its epoch was chosen by votes too, as the model file will score tracks
    assert read_checkpoint_state(out / CHECKPOINT_FILE)["aggregation"] == "vote"

    # The 14 training and validation clips are recognised by their content and left out.
    result = runner.invoke(app, ["evaluate", str(model), str(short_two_genres), "--jobs", "1",
                                 "--out", str(tmp_path / "eval")])
    assert result.exit_code == EXIT_OK, result.output
    report = json.loads((tmp_path / "eval" / "run.json").read_text())
    assert len(report["excluded_training_tracks"]) == 14 and report["aggregation"] == "vote"
    assert json.loads((tmp_path / "eval" / "metrics.json").read_text())["n"] == 2
    lines = (tmp_path / "eval" / "predictions.csv").read_text().splitlines()
    assert lines[0].startswith("track_id,path,true,predicted,confidence") and len(lines) == 3

    result = runner.invoke(app, ["evaluate", str(model), str(short_two_genres), "--include-train",
                                 "--aggregation", "mean",
                                 "--jobs", "1", "--out", str(tmp_path / "all")])
    assert result.exit_code == EXIT_OK, result.output
    assert json.loads((tmp_path / "all" / "metrics.json").read_text())["n"] == 16

    result = runner.invoke(app, ["compare", str(short_two_genres), "--models", "edge-cnn,logreg", "--folds", "2",
                                 "--epochs", "1", "--jobs", "1", "--out", str(tmp_path / "compare"),
                                 "--cache", str(tmp_path / "cache")])
    assert result.exit_code == EXIT_OK, result.output
    comparison = json.loads((tmp_path / "compare" / "comparison.json").read_text())
    rows, setup = comparison["models"], comparison["setup"]
    assert set(rows) == {"edge-cnn", "logreg"}
    # the network's recipe records how it trained: its epochs and resolved settings
    assert setup["network_epochs"] == 1 and setup["network_settings"]["device"] == "cpu"
    # and the settings its preset filled in (lr, optimizer, l2...), which the given ones lacked
    used = rows["edge-cnn"]["resolved_settings"]
    assert used["optimizer"] and used["lr"] > 0 and used["epochs"] == 1 and "resolved_settings" not in rows["logreg"]
    assert len(list((tmp_path / "cache").rglob("*.npy"))) == 16  # logreg's features, in the cache it was given
    for row in rows.values():
        assert len(row["fold_accuracy"]) == 2
    # Same folds for both kinds of model: the same test tracks in each fold.
    from genrekit.datasets import load_dataset
    from genrekit.evaluate import dataset_folds

    folds = dataset_folds(load_dataset(short_two_genres), n_splits=2, seed=0)
    tracks = load_dataset(short_two_genres).tracks
    assert sorted(t for _, test in folds for t in test) == sorted(t.track_id for t in tracks)


def test_image_network_trains_on_a_folder_of_pngs(tmp_path, two_genres):
    import json

    from PIL import Image
    from typer.testing import CliRunner

    from genrekit import audio
    from genrekit.cli.main import EXIT_OK, app
    from genrekit.features.images import spectrogram_image

    images = tmp_path / "images_original"
    for path in sorted(two_genres.rglob("*.*")):
        y, sr = audio.load(path, sr=22050)
        target = images / path.parent.name / f"{path.stem}.png"
        target.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(spectrogram_image(y, sr)).save(target)
    runner = CliRunner()
    result = runner.invoke(app, ["train", str(images), "--model", "cnn5-img", "--epochs", "2", "--out", str(tmp_path / "m")])
    assert result.exit_code == EXIT_OK, result.output
    config = load_network(tmp_path / "m" / "model.safetensors")[1]
    assert config["input_kind"] == "image" and config["labels"] == ["classical", "metal"]
    png = sorted((images / "metal").iterdir())[0]
    clip = sorted((two_genres / "metal").iterdir())[0]
    result = runner.invoke(app, ["predict", "--model", str(tmp_path / "m" / "model.safetensors"), str(png), str(clip),
                                 "--format", "json"])
    assert result.exit_code == EXIT_OK, result.output
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert [line["n_chunks"] for line in lines] == [1, 1]  # one image per 30 s clip
    # settings that cannot apply to images are refused, not recorded as if applied
    ignored = runner.invoke(app, ["train", str(images), "--model", "cnn5-img", "--time-stretch", "0.1",
                                  "--overlap", "0.9", "--out", str(tmp_path / "m2")])
    assert ignored.exit_code != EXIT_OK and not (tmp_path / "m2" / "model.safetensors").exists()
    assert ("time_stretch=0.1, overlap=0.9: network 'cnn5-img' trains on spectrogram images as they are"
            in " ".join(ignored.output.split()))
    numpy_frontend = runner.invoke(app, ["export", str(tmp_path / "m" / "model.safetensors"), "--frontend", "numpy",
                                         "--out", str(tmp_path / "m.onnx")])
    assert numpy_frontend.exit_code != EXIT_OK and not (tmp_path / "m.onnx").exists()
    assert "is an image network, whose graph takes spectrogram images" in " ".join(numpy_frontend.output.split())



def test_a_network_file_is_checked_against_its_preset_before_it_is_built(trained, tmp_path):
    """A file listing far more genres than its weights hold would make genrekit build a network
    of tens of GB before comparing; one with NaN weights would blame every song. Both are
    refused at load, naming the file."""
    import json

    from safetensors.torch import load_file, save_file

    net, _ = trained
    path = save_network(tmp_path / "net.safetensors", net, preset="short-chunk-resnet", labels=list(GENRES))
    tensors = load_file(str(path))
    with open(path, "rb") as handle:
        header = json.loads(handle.read(int.from_bytes(handle.read(8), "little")))
    config = json.loads(header["__metadata__"]["genrekit"])

    many = tmp_path / "many.safetensors"
    save_file(tensors, str(many), metadata={"genrekit": json.dumps({**config, "labels": [f"g{i}" for i in range(1500)]})})
    with pytest.raises(ModelError, match="many.safetensors: weights do not fit preset 'short-chunk-resnet' with 1500 genres"):
        load_network(many)
    nan = tmp_path / "nan.safetensors"
    name = next(k for k, v in tensors.items() if v.is_floating_point() and v.numel() > 1)
    save_file({**tensors, name: tensors[name].clone().fill_(float("nan"))}, str(nan),
              metadata=header["__metadata__"])
    with pytest.raises(ModelError, match=f"nan.safetensors: weights {name} hold NaN"):
        load_network(nan)


def test_compare_names_the_files_a_network_could_not_decode(tmp_path, short_two_genres, corrupted_file):
    """A network decodes its tracks in each fold: a file it cannot read is reported by name and
    the exit status says the comparison is partial (compare kept quiet about it before)."""
    import json
    import shutil

    from typer.testing import CliRunner

    from genrekit.cli.main import EXIT_PARTIAL, app

    runner = CliRunner()
    root = tmp_path / "genres"
    shutil.copytree(short_two_genres, root)
    shutil.copy(corrupted_file, root / "metal" / "metal.00099.wav")
    result = runner.invoke(app, ["compare", str(root), "--models", "edge-cnn", "--folds", "2", "--epochs", "1",
                                 "--jobs", "1", "--out", str(tmp_path / "compare")])
    assert result.exit_code == EXIT_PARTIAL, result.output
    assert "metal.00099.wav" in " ".join(result.output.split())
    rows = json.loads((tmp_path / "compare" / "comparison.json").read_text())["models"]
    assert list(rows["edge-cnn"]["failures"]) == [str(root / "metal" / "metal.00099.wav")]


def test_a_run_into_an_earlier_runs_folder_leaves_nothing_of_it_to_describe_the_new_model(tmp_path, short_two_genres):
    """A classical model trained where a network was: the network's model file, curves and
    settings go (they would describe this run's model in `report`), its checkpoint stays;
    the earlier run is named in a warning."""
    from typer.testing import CliRunner

    from genrekit.cli.main import EXIT_OK, app

    runner, out = CliRunner(), tmp_path / "run"
    network = runner.invoke(app, ["train", str(short_two_genres), "--model", "edge-cnn", "--epochs", "1",
                                  "--out", str(out), "--cache", str(tmp_path / "cache")])
    assert network.exit_code == EXIT_OK, network.output
    assert {"model.safetensors", "history.png", "config.json", "checkpoint.safetensors"} <= {p.name for p in out.iterdir()}
    classical = runner.invoke(app, ["train", str(short_two_genres), "--model", "logreg", "--features", "fma518",
                                    "--jobs", "1",
                                    "--no-cv", "--out", str(out), "--cache", str(tmp_path / "cache")])
    assert classical.exit_code == EXIT_OK, classical.output
    names = {p.name for p in out.iterdir()}
    assert "model.genrekit" in names and "run.json" in names and "checkpoint.safetensors" in names
    assert not names & {"model.safetensors", "history.png", "history.csv", "config.json"}, names
    assert "holds an earlier run, which this run replaces" in " ".join(classical.output.split())
    # an export of the earlier model beside it would be shipped as this one's: it is renamed, and said
    (out / "model.onnx").write_bytes(b"the earlier model's export")
    again = runner.invoke(app, ["train", str(short_two_genres), "--model", "logreg", "--features", "fma518",
                                "--jobs", "1",
                                "--no-cv", "--out", str(out), "--cache", str(tmp_path / "cache")])
    assert again.exit_code == EXIT_OK, again.output
    assert not (out / "model.onnx").exists() and (out / "earlier-model.onnx").read_bytes() == b"the earlier model's export"
    said = f"the ONNX export of the earlier model is now earlier-model.onnx; export this run's model with `genrekit " \
           f"export {out} --out {out}`"
    assert "".join(said.split()) in "".join(again.output.split())  # the log wraps long paths anywhere
    (out / "model.onnx").write_bytes(b"a second export")  # the first one kept is not overwritten
    assert runner.invoke(app, ["train", str(short_two_genres), "--model", "logreg", "--features", "fma518",
                               "--jobs", "1", "--no-cv",
                               "--out", str(out), "--cache", str(tmp_path / "cache")]).exit_code == EXIT_OK
    assert (out / "earlier-model.onnx").read_bytes() == b"the earlier model's export"
    assert (out / "earlier-model-2.onnx").read_bytes() == b"a second export"


def test_two_training_runs_into_one_folder_do_not_both_write_it(tmp_path, short_two_genres):
    """Both went ahead; the one that finished last replaced the other's model after it had said done."""
    import fcntl

    from typer.testing import CliRunner

    from genrekit.cli.main import app
    from genrekit.train.run import TRAIN_LOCK

    out = tmp_path / "run"
    out.mkdir()
    with open(out / TRAIN_LOCK, "a") as held:  # another run at work there
        fcntl.flock(held, fcntl.LOCK_EX)
        second = CliRunner().invoke(app, ["train", str(short_two_genres), "--model", "logreg", "--features", "gtzan57",
                                          "--no-cv", "--out", str(out), "--cache", str(tmp_path / "cache")])
    assert second.exit_code != 0
    assert f"{out}: another `genrekit train` is writing to this folder" in " ".join(second.output.split())
    assert sorted(p.name for p in out.iterdir()) == [TRAIN_LOCK]
    # a run refused once it holds the lock (here: no validation track for a network) leaves no folder behind
    few = tmp_path / "few"
    for genre in ("classical", "metal"):
        (few / genre).mkdir(parents=True)
        for clip in sorted((short_two_genres / genre).iterdir())[:4]:
            (few / genre / clip.name).symlink_to(clip)
    refused = CliRunner().invoke(app, ["train", str(few), "--model", "cnn4", "--out", str(tmp_path / "new")])
    assert refused.exit_code != 0 and "no validation track" in " ".join(refused.output.split())
    assert not (tmp_path / "new").exists()


def test_a_training_file_gone_after_fitting_costs_its_record_not_the_model(tmp_path, gtzan_mini):
    """The training record hashes each file after fitting (networks keep no hashes of their
    own): a file moved or deleted meanwhile is left out of the record, with a warning, instead
    of losing the model just trained to an AudioError."""
    import os
    import shutil

    from genrekit.datasets import load_gtzan
    from genrekit.train.run import Trained, training_record

    root = tmp_path / "genres"
    for genre in ("jazz", "rock"):
        (root / genre).mkdir(parents=True)
        for clip in sorted((gtzan_mini / genre).iterdir())[:2]:
            shutil.copy(clip, root / genre / clip.name)
    dataset = load_gtzan(root)
    trained = Trained(model=None, tracks=[t.track_id for t in dataset.tracks], metrics={}, predictions=None,
                      failures={}, file_name="model.safetensors", save=lambda *a: None)
    os.unlink(dataset.tracks[0].path)  # moved away while the network trained
    record = training_record(dataset, trained, split="all", seed=0)
    assert record["n_tracks"] == 4 and len(record["content_sha256"]) == len(record["audio_sha256"]) == 3


def test_a_searched_models_cv_searches_in_each_fold_too(gtzan_mini, feature_cache, monkeypatch):
    """``train --search``: the k-fold CV reported with the tuned model ran the same search
    inside each training fold. It scored the untuned configuration, reported beside a model
    with other hyperparameters."""
    from genrekit.datasets import load_gtzan
    from genrekit.features import FeatureCache, FeatureSpec
    from genrekit.train import classical, train_model

    asked = []
    real = classical.cross_validate
    monkeypatch.setattr(classical, "cross_validate", lambda *a, **k: asked.append(k) or real(*a, **k))
    dataset = load_gtzan(gtzan_mini)
    dataset = dataset.select(t.track_id for t in dataset.tracks if t.label in ("classical", "metal"))
    # fma518: a third of gtzan57's extraction time per clip, and cached by other modules' tests
    result = train_model(dataset, spec=FeatureSpec("fma518"), model="logreg", search=True, n_iter=2,
                         cache=FeatureCache(feature_cache), progress=False, split="all")
    # the CV, then again with blocks of adjacent GTZAN ids kept together: both search
    assert [(k["search"], k["n_iter"]) for k in asked] == [(True, 2), (True, 2)]
    for cv in (result.cv, result.cv["by_id_blocks"]):
        assert "2-candidate randomized search nested in each training fold" in cv["protocol"], cv["protocol"]


def test_a_genre_whose_every_training_file_fails_is_refused_not_kept_as_a_label(tmp_path, gtzan_mini, feature_cache,
                                                                                corrupted_file):
    """A genre of four damaged files became one of the model's genres, counted as trained,
    though the model could never name it. Training now stops and names the genre and why."""
    import shutil

    from genrekit.datasets import load_dataset
    from genrekit.errors import DatasetError
    from genrekit.features import FeatureCache, FeatureSpec
    from genrekit.train import train_model

    for genre in ("jazz", "rock"):
        (tmp_path / genre).mkdir()
        for clip in sorted((gtzan_mini / genre).iterdir())[:3]:
            shutil.copy(clip, tmp_path / genre / clip.name)
    (tmp_path / "broken").mkdir()
    for k in range(4):
        (tmp_path / "broken" / f"b{k}.wav").write_bytes(corrupted_file.read_bytes() + bytes([k]))  # distinct copies
    dataset = load_dataset(tmp_path, kind="folder")
    with pytest.raises(DatasetError, match=r"genre\(s\) broken have no training track that could be read "
                                           r"\(\d failed; first: .*b\d\.wav: "):
        train_model(dataset, spec=FeatureSpec("fma518"), model="logreg", cache=FeatureCache(feature_cache),
                    progress=False, split="all", cv=False)


def test_the_protocol_says_how_many_tracks_an_unreadable_file_left(tmp_path, gtzan_mini, feature_cache,
                                                                  corrupted_file):
    """The split is made before any file is read: its counts ("14/4/5 tracks") included files
    that then failed, where metrics.json's n was 4 (a review, 2026-12-06)."""
    import shutil

    from genrekit.datasets import load_dataset
    from genrekit.features import FeatureCache, FeatureSpec
    from genrekit.train import train_model

    for genre in ("jazz", "rock"):
        shutil.copytree(gtzan_mini / genre, tmp_path / genre)
    shutil.copy(corrupted_file, tmp_path / "jazz" / "broken.wav")
    result = train_model(load_dataset(tmp_path, kind="folder"), spec=FeatureSpec("fma518"), model="logreg",
                         cache=FeatureCache(feature_cache), progress=False, cv=False, seed=0)
    protocol = result.metrics["protocol"]
    planned = [int(n) for n in protocol.split("; ")[1].split(" tracks")[0].split("/")]
    assert sum(planned) == 17 and "; 1 unreadable, leaving " in protocol, protocol
    used = [int(n) for n in protocol.rsplit("leaving ", 1)[1].split("/")]
    assert sum(used) == 16 and sum(a - b for a, b in zip(planned, used)) == 1
    assert used[2] == result.metrics["n"]


def test_a_split_that_leaves_no_test_track_says_so(tmp_path, gtzan_mini, feature_cache, caplog):
    """4 tracks a genre: 10% rounds to no test track; only the CV scored, and nothing said why
    unless --no-cv (a review, 2026-12-06)."""
    import shutil

    from genrekit.datasets import load_dataset
    from genrekit.features import FeatureCache, FeatureSpec
    from genrekit.train import train_model

    for genre in ("jazz", "rock"):
        (tmp_path / genre).mkdir()
        for clip in sorted((gtzan_mini / genre).iterdir())[:4]:
            shutil.copy(clip, tmp_path / genre / clip.name)
    with caplog.at_level("WARNING"):
        result = train_model(load_dataset(tmp_path, kind="folder"), spec=FeatureSpec("fma518"), model="logreg",
                             cache=FeatureCache(feature_cache), progress=False, n_jobs=1)
    assert not result.metrics and result.cv
    assert "the split left no test track (8/0/0 tracks" in caplog.text and "cv.json" in caplog.text


def test_validation_tracks_are_scored_as_the_model_will_combine_their_chunks():
    from genrekit.train.loop import track_accuracy

    # one confident chunk for genre 0 against two mild ones for genre 1 (the truth)
    proba = np.array([[0.9, 0.1], [0.4, 0.6], [0.4, 0.6], [0.2, 0.8]])
    y, tracks = np.array([1, 1, 1, 1]), np.array(["a", "a", "a", "b"])
    assert track_accuracy(proba, y, tracks, aggregation="mean") == 0.5  # a's mean says genre 0
    assert track_accuracy(proba, y, tracks, aggregation="vote") == 1.0  # a's chunks vote 2 to 1 for genre 1


def test_an_unknown_aggregation_is_refused_before_training(train_chunks):
    from genrekit.errors import ParameterError

    sets, _ = train_chunks
    with pytest.raises(ParameterError, match="aggregation='median': expected 'mean' or 'vote'"):
        train_network(sets["train"], sets["val"], len(GENRES), TrainConfig(preset="short-chunk-resnet", epochs=1),
                      progress=False, aggregation="median")


def test_the_history_plot_shows_the_validation_loss_that_breaks_ties(tmp_path, monkeypatch):
    """The kept epoch is the best validation track accuracy, ties broken by validation loss;
    the plot showed the training loss alone, so it could not show why that epoch was kept."""
    from genrekit.train import plots

    shown = {}
    monkeypatch.setattr(plots, "save_figure", lambda figure, path: shown.setdefault("figure", figure))
    history = [{"epoch": e, "train_loss": 1.0 / (e + 1), "val_loss": 0.5 + 0.1 * abs(e - 1), "train_accuracy": 0.9,
                "val_chunk_accuracy": 0.8, "val_track_accuracy": 1.0, "kept": e == 1} for e in range(3)]
    write_history(history, tmp_path)
    loss_axis = shown["figure"].axes[0]
    assert {line.get_label() for line in loss_axis.get_lines()} >= {"train loss", "val loss (chunks)", "kept (epoch 1)"}


def test_example_weights_give_each_genre_then_each_track_an_equal_share():
    from genrekit.train.loop import example_weights

    # genre 0: track a (4 windows), b (2 windows, two of them an augmented copy's); genre 1: track c (1 window);
    # track d is trained as both genres (multi-label), 1 window each
    y = np.array([0, 0, 0, 0, 0, 0, 1, 0, 1])
    tracks = np.array(["a", "a", "a", "a", "b", "b", "c", "d", "d"])
    genres = example_weights(y, tracks, "genres").numpy()
    assert genres.mean() == pytest.approx(1.0)
    share = {g: genres[y == g].sum() for g in (0, 1)}
    assert share[0] == pytest.approx(share[1])  # 3 tracks of genre 0 weigh what 2 of genre 1 do
    per_track = {(t, g): genres[(tracks == t) & (y == g)].sum() for t, g in zip(tracks, y)}
    assert per_track["a", 0] == pytest.approx(per_track["b", 0]) == pytest.approx(per_track["d", 0])
    assert per_track["c", 1] == pytest.approx(per_track["d", 1]) == pytest.approx(1.5 * per_track["a", 0])
    tracks_only = example_weights(y, tracks, "tracks").numpy()
    assert len({round(tracks_only[(tracks == t) & (y == g)].sum(), 6) for t, g in zip(tracks, y)}) == 1
    assert tracks_only.mean() == pytest.approx(1.0)
    assert (example_weights(y, tracks, "none").numpy() == 1).all()


@pytest.mark.parametrize("balance, mixup, expected", [
    ("genres", 0.0, 0.5), ("genres", 1.0, 0.5), ("tracks", 0.0, 1 / 11), ("tracks", 1.0, 1 / 11), ("none", 0.0, 3 / 93),
])
def test_balance_sets_what_a_network_learns_where_the_audio_tells_genres_nothing(balance, mixup, expected):
    """On windows that say nothing of their genre, a network learns the genres' shares as the
    loss weighs them: 10 tracks of 9 windows against one of 3 are even under 'genres', with
    mixup too (mixed weights times mixed targets learned 0.34 there)."""
    from torch import nn

    from genrekit.train.network_data import ChunkSet

    class Prior(nn.Module):  # its input is silent: only the bias learns, the share of each genre
        def __init__(self):
            super().__init__()
            self.linear = nn.Linear(1, 2)

        def forward(self, x):
            return self.linear(x.mean(dim=(1, 2, 3))[:, None])

    y = np.array([0] * 90 + [1] * 3)
    tracks = np.array([f"rock.{i // 9}" for i in range(90)] + ["jazz.0"] * 3)
    train = ChunkSet(X=torch.zeros(len(y), 1, 2, 2), y=torch.tensor(y), track=tracks)
    config = TrainConfig(preset="short-chunk-resnet", epochs=150, batch_size=128, lr=0.1, optimizer="adam",
                         weight_decay=0.0, mixup=mixup, label_smoothing=0.0, specaugment=False, balance=balance)
    net, _ = train_network(train, None, 2, config, net=Prior(), progress=False)
    with torch.no_grad():
        learned = torch.softmax(net(torch.zeros(1, 1, 2, 2)), dim=1)[0, 1].item()
    assert learned == pytest.approx(expected, abs=0.02)


def test_balanced_track_accuracy_gives_each_genre_the_same_say():
    from genrekit.train.loop import track_accuracy

    # three rock tracks right (two chunks each), one jazz track wrong
    proba = np.array([[0.9, 0.1]] * 6 + [[0.8, 0.2], [0.6, 0.4]])
    y = np.array([0] * 6 + [1, 1])
    tracks = np.array(["r1", "r1", "r2", "r2", "r3", "r3", "j1", "j1"])
    assert track_accuracy(proba, y, tracks) == 0.75
    assert track_accuracy(proba, y, tracks, balanced=True) == 0.5


def test_balance_is_checked_and_a_checkpoint_from_before_it_resumes_as_none(tmp_path, caplog):
    from dataclasses import asdict

    from genrekit.errors import ParameterError
    from genrekit.train.loop import _check_resumable

    with pytest.raises(ParameterError, match="balance='genre'.*tracks, genres, none"):
        TrainConfig(balance="genre").check()
    assert TrainConfig(balance="Tracks").balance == "tracks"
    before = {k: v for k, v in asdict(TrainConfig(balance="none")).items() if k != "balance"}
    _check_resumable(tmp_path / "checkpoint.safetensors", {"config": before}, TrainConfig(balance="none"), "d")
    with pytest.raises(ParameterError, match="balance: 'none' -> 'tracks'.*give --balance none"):
        _check_resumable(tmp_path / "checkpoint.safetensors", {"config": before}, TrainConfig(), "d")
    # a run folder's config.json from before: read as given, with a warning that its run weighed windows alike
    from genrekit.train.config import read_config

    (tmp_path / "config.json").write_text(json.dumps({"preset": "short-chunk-resnet", **before}))
    with caplog.at_level("WARNING"):
        assert "balance" not in read_config(tmp_path / "config.json")
    assert "from before 2026-12-07, which weighed every window the same" in caplog.text
    caplog.clear()
    (tmp_path / "config.json").write_text(json.dumps({**before, "balance": "none"}))
    with caplog.at_level("WARNING"):
        assert read_config(tmp_path / "config.json")["balance"] == "none"
    assert "2026-12-07" not in caplog.text
