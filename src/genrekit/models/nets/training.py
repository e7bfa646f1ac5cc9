"""Moved: network training is :mod:`genrekit.train` (issue 19). This name stays for scripts that
still import it (``bench/musicnn.py``); it imports nothing from :mod:`genrekit.train` until a
name is asked for, so ``models`` never depends on ``train`` when it is imported."""

from genrekit._lazy import lazy_attributes


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


__getattr__ = lazy_attributes(__name__, _MOVED)
