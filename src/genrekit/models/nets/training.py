"""Moved: network training is :mod:`genrekit.train` (issue 19). This name stays for scripts that
still import it (``bench/musicnn.py``); it imports nothing from :mod:`genrekit.train` until a
name is asked for, so ``models`` never depends on ``train`` when it is imported."""

_MOVED = {
    "TrainConfig": "genrekit.train.config",
    "ChunkSet": "genrekit.train.network_data",
    "augmented_waveforms": "genrekit.train.network_data",
    "spectrogram_windows": "genrekit.train.network_data",
    "split_chunks": "genrekit.train.network_data",
    "image_chunks": "genrekit.train.network_data",
    "network_chunks": "genrekit.train.network_data",
    "train_network": "genrekit.train.loop",
    "learning_rate": "genrekit.train.loop",
    "track_accuracy": "genrekit.train.loop",
    "write_history": "genrekit.train.plots",
    "predict_chunks": "genrekit.models.nets.inference",
}


def __getattr__(name: str):
    if name in _MOVED:
        import importlib

        return getattr(importlib.import_module(_MOVED[name]), name)
    raise AttributeError(f"module 'genrekit.models.nets.training' has no attribute {name!r}")
