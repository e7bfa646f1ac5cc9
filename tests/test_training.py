"""The network trainer on real clips: leak-free chunks, determinism, resume, model files."""

import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="PyTorch is the 'deep' extra; install genrekit[deep]")

from genrekit.datasets import load_gtzan, train_val_test_split  # noqa: E402
from genrekit.errors import ModelError  # noqa: E402
from genrekit.models.nets import build_network  # noqa: E402
from genrekit.models.nets.training import (  # noqa: E402
    TrainConfig,
    load_network,
    predict_chunks,
    save_network,
    split_chunks,
    train_network,
    write_history,
)

GENRES = ("classical", "metal", "reggae")


@pytest.fixture(scope="module")
def chunks(gtzan_mini):
    dataset = load_gtzan(gtzan_mini)
    # Four clips per genre: two train, one validation, one test track each.
    dataset = dataset.select(t.track_id for t in dataset.tracks if t.label in GENRES and int(t.track_id[-5:]) < 4)
    parts = dict(zip((t.track_id for t in dataset.tracks),
                     train_val_test_split([t.label for t in dataset.tracks], dataset.groups, sizes=(0.5, 0.25, 0.25))))
    net = build_network("default", len(GENRES))
    sets, failures = split_chunks(net, dataset.tracks, list(GENRES), parts, n_frames=128)
    assert not failures
    return sets, parts


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


def _train(chunks, **kwargs):
    sets, _ = chunks
    config = TrainConfig(preset="default", epochs=2, batch_size=16, seed=7)
    return train_network(sets["train"], sets["val"], len(GENRES), config, progress=False, **kwargs)


@pytest.fixture(scope="module")
def trained(chunks):
    return _train(chunks)


def test_training_is_deterministic_and_resumable(chunks, trained, tmp_path):
    net_a, history_a = trained
    net_b, _ = _train(chunks)
    for (name, a), b in zip(net_a.state_dict().items(), net_b.state_dict().values()):
        assert torch.equal(a, b), name
    assert len(history_a) == 2 and {"train_loss", "val_track_accuracy", "lr", "seconds"} <= set(history_a[0])
    assert history_a[0]["lr"] > history_a[1]["lr"]  # cosine schedule

    _train(chunks, out_dir=tmp_path, stop_after=1)
    assert (tmp_path / "checkpoint.safetensors").exists()
    net_c, history_c = _train(chunks, out_dir=tmp_path, resume=True)
    assert [h["epoch"] for h in history_c] == [0, 1]
    for (name, a), c in zip(net_a.state_dict().items(), net_c.state_dict().values()):
        assert torch.equal(a, c), f"resumed run differs from an uninterrupted one at {name}"
    write_history(history_c, tmp_path)
    assert (tmp_path / "history.csv").read_text().startswith("epoch,lr,train_loss")
    assert (tmp_path / "history.png").stat().st_size > 0


def test_network_file_round_trip(chunks, trained, tmp_path):
    sets, _ = chunks
    net, _ = trained
    path = save_network(tmp_path / "net.safetensors", net, preset="default", labels=list(GENRES), metrics={"accuracy": 0.5})
    loaded, config = load_network(path)
    assert config["labels"] == list(GENRES) and config["frontend"]["n_mels"] == 128 and config["preset"] == "default"
    assert np.array_equal(predict_chunks(net.body, sets["test"].X), predict_chunks(loaded.body, sets["test"].X))
    waveform = torch.randn(2, 127 * 512) * 0.1
    net.eval()
    with torch.no_grad():
        assert torch.allclose(net(waveform), loaded(waveform))
    (tmp_path / "bad.safetensors").write_bytes(b"not a model")
    with pytest.raises(ModelError, match="not a genrekit network file"):
        load_network(tmp_path / "bad.safetensors")


@pytest.mark.parametrize("preset", ["edge-cnn", "cnn4", "crnn1", "crnn2", "cnn4-2x2", "default"])
def test_every_waveform_preset_trains_from_the_cli(tmp_path_factory, gtzan_mini, preset):
    import json
    import shutil

    from typer.testing import CliRunner

    from genrekit.cli.main import EXIT_OK, app

    root = tmp_path_factory.mktemp("clips") / "genres"
    for genre in ("classical", "metal"):
        (root / genre).mkdir(parents=True)
        for path in sorted((gtzan_mini / genre).iterdir()):  # 8 clips: 6 train, 1 val, 1 test
            shutil.copy(path, root / genre / path.name)
    out = tmp_path_factory.mktemp(preset)
    runner = CliRunner()
    result = runner.invoke(app, ["train", str(root), "--model", preset, "--epochs", "1", "--batch-size", "8",
                                 "--out", str(out)])
    assert result.exit_code == EXIT_OK, result.output
    for name in ("model.safetensors", "history.csv", "history.png", "metrics.json", "run.json"):
        assert (out / name).exists(), name
    metrics = json.loads((out / "metrics.json").read_text())
    assert "chunk_accuracy" in metrics and "track_accuracy" in metrics
    clip = root / "metal" / sorted(p.name for p in (root / "metal").iterdir())[0]
    predicted = runner.invoke(app, ["predict", "--model", str(out / "model.safetensors"), str(clip), "--format", "json"])
    assert predicted.exit_code == EXIT_OK, predicted.output
    line = json.loads(predicted.stdout.splitlines()[0])
    assert set(line["probabilities"]) == {"classical", "metal"} and line["n_chunks"] >= 1
