"""Training a network preset from audio: the loop on the train tracks, early-stopped on the
validation tracks, then its model file scored on the test tracks as ``evaluate`` scores it."""

from __future__ import annotations

import logging
import os
import tempfile
from collections import Counter
from dataclasses import asdict
from functools import partial
from pathlib import Path

import numpy as np

from genrekit.datasets import Dataset
from genrekit.errors import DatasetError, ParameterError, check_flags
from genrekit._files import write_json
from genrekit.evaluate import score_dataset
from genrekit.train.config import TrainConfig
from genrekit.train.recipes import NetworkRecipe
from genrekit.train.run import Trained, TrainResult, run_training

logger = logging.getLogger(__name__)

NETWORK_FILE = "model.safetensors"
#: The resolved training settings, in the run folder: ``genrekit train --config`` reads it back.
CONFIG_FILE = "config.json"


def train_network_model(
    dataset: Dataset | str | os.PathLike,
    *,
    preset: str = "short-chunk-resnet",
    split: str = "random",
    sizes: tuple[float, float, float] = (0.8, 0.1, 0.1),
    seed: int = 0,
    epochs: int = 30,
    batch_size: int | None = None,
    lr: float | None = None,
    optimizer: str | None = None,
    weight_decay: float = 1e-4,
    l1: float | None = None,
    l2: float | None = None,
    loss: str | None = None,
    label_smoothing: float | None = None,
    mixup: float | None = None,
    specaugment: bool | None = None,
    schedule: str | None = None,
    patience: int = 8,
    overlap: float = 0.5,
    device: str = "cpu",
    aggregation: str = "mean",
    time_stretch: float = 0.0,
    pitch_shift: float = 0.0,
    augment_copies: int = 1,
    balance: str = "tracks",
    resume: bool = False,
    progress: bool = True,
    out_dir: str | Path | None = None,
) -> TrainResult:
    """Train a network preset on log-mel chunks; early stopping on the validation tracks.

    The test tracks are scored as ``genrekit evaluate`` scores them (:func:`genrekit.evaluate.score_dataset`
    on the model file: the chunks of ``predict``, track probabilities by the model's
    ``aggregation``, ``mean`` or majority ``vote``), so the test accuracy printed by
    ``genrekit train`` is the one ``genrekit evaluate`` gives on the same tracks.
    ``time_stretch`` (max rate change) and ``pitch_shift`` (max semitones) add
    ``augment_copies`` altered copies of each training track. The run folder
    (:func:`write_run_folder`) gets ``model.safetensors``, ``history.csv|png``,
    ``checkpoint.safetensors`` (``resume`` continues from it) and the reports of
    :func:`train_model`.

    Parameters
    ----------
    dataset : Dataset or path
        Labelled tracks, or the path of a dataset (:func:`genrekit.datasets.load_dataset`).
    preset : str
        A network preset (see :data:`genrekit.models.nets.PRESETS`).
    split, sizes, seed
        As :func:`train_model`; ``seed`` also seeds the weights and every epoch.
    epochs, batch_size : int
        Most epochs (early stopping may end sooner); batch size (default: the preset's).
    lr, optimizer, weight_decay, l1, l2, loss, label_smoothing, mixup, specaugment, schedule, patience, overlap
        As :class:`~genrekit.train.config.TrainConfig`; None: the preset's published value.
    device : str
        ``cpu``, or ``cuda`` when present.
    aggregation : str
        The model's chunks to track: ``mean`` or ``vote``.
    time_stretch, pitch_shift : float
        Augmentation of the training tracks.
    augment_copies : int
        Altered copies per training track.
    balance : {'tracks', 'genres', 'none'}
        What counts equally in the loss: each track (whatever its number of windows), each genre
        and within it each track, or each window (:func:`genrekit.train.loop.example_weights`).
    resume : bool
        Continue from ``out_dir/checkpoint.safetensors``.
    progress : bool
        Show progress bars.
    out_dir : path, optional
        The run folder.

    Returns
    -------
    TrainResult
        ``model`` is the network (``torch.nn.Module``).

    Raises
    ------
    ParameterError
        An unknown ``preset``, a setting out of range or ``split="all"`` (a network needs
        validation tracks to stop), before any audio is read.
    DatasetError
        No training or no validation track can be read.
    """
    check_flags(resume=resume, progress=progress)  # resume="no" would resume
    if split == "all":
        raise ParameterError(f"split='all': model {preset!r} is a network, which needs validation tracks to stop "
                             "training; use split='random' (or a classical model, such as musicnn-prior)")
    config = TrainConfig(preset=preset, epochs=epochs, batch_size=batch_size, lr=lr, optimizer=optimizer,
                         weight_decay=weight_decay, l1=l1, l2=l2, loss=loss, label_smoothing=label_smoothing,
                         mixup=mixup, specaugment=specaugment, schedule=schedule, patience=patience, overlap=overlap,
                         time_stretch=time_stretch, pitch_shift=pitch_shift, augment_copies=augment_copies,
                         balance=balance, seed=seed, device=device)
    NetworkRecipe.check(preset, config)
    if l2 == 0 and weight_decay > 0:  # 0 is what run records keep for "unset", so weight_decay stays in force
        logger.warning("l2=0 (--l2 0) leaves weight_decay=%g in force; for no decay give weight_decay=0 "
                       "(--weight-decay 0) too", weight_decay)
    fit = partial(_fit_network, preset=preset, config=config, aggregation=aggregation, resume=resume,
                  progress=progress, out_dir=out_dir, split=split, sizes=sizes)
    return run_training(dataset, fit, name=preset, split=split, sizes=sizes, seed=seed, aggregation=aggregation,
                        out_dir=out_dir)


def _fit_network(dataset: Dataset, *, preset: str, config, aggregation: str, resume: bool, progress: bool,
                 out_dir: str | Path | None, split: str = "random", sizes=(0.8, 0.1, 0.1)) -> Trained:
    """A network's step of :func:`~genrekit.train.run.run_training`: training on the train
    tracks, early-stopped on the validation tracks, then its model file scored on the test
    tracks as ``evaluate`` scores it."""
    from genrekit.models.nets.artifact import save_network
    from genrekit.train.plots import write_history

    ids = {part: [t.track_id for t in dataset.tracks if t.split == part] for part in ("train", "val", "test")}
    if not ids["val"]:  # early stopping needs them: refused before any audio is decoded
        where = (dataset.source if dataset.source != dataset.root or Path(dataset.root).name == dataset.name
                 else f"{dataset.root} ({dataset.name})")  # a manifest's source names it
        if split == "random":
            per_genre = min(Counter(t.label for t in dataset.tracks).values())
            smallest = int(np.ceil((0.5 - 1e-9) / sizes[1])) if sizes[1] > 0 else None
            why = (f"its validation share is {sizes[1]:g}" if smallest is None else
                   f"a validation share of {sizes[1]:g} of a genre, rounded half up, is a track from {smallest} "
                   f"tracks up, and the smallest genre has {per_genre}")
            fix = "add tracks, give a larger validation share, or a split of your own (--split dataset)"
        else:
            why, fix = f"split={split!r} gives none", "mark some tracks 'val' in the dataset's split"
        raise DatasetError(f"{where}: the split holds no validation track, which a network needs to choose its epoch "
                           f"({why}); {fix}")
    recipe = NetworkRecipe(preset, dataset, config, progress=progress, out_dir=out_dir, resume=resume,
                           aggregation=aggregation)
    fitted = recipe.fit(ids["train"], ids["val"])
    net, history = fitted.model, fitted.details["history"]

    def save(path: Path, metrics: dict | None = None, training: dict | None = None) -> Path:
        return save_network(path, net, preset=preset, labels=recipe.labels, metrics=metrics, training=training,
                            aggregation=aggregation)

    resolved = asdict(config.resolved())

    def write_extras(folder: Path) -> None:
        write_history(history, folder)
        write_json(folder / CONFIG_FILE, resolved)

    failures, metrics, predictions = dict(fitted.failures), {}, None
    if ids["test"]:
        with tempfile.TemporaryDirectory(prefix="genrekit-train-") as folder:
            scored = score_dataset(save(Path(folder) / NETWORK_FILE), dataset.select(ids["test"]), include_train=True,
                                   aggregation=aggregation, n_jobs=1, progress=progress)
        metrics, predictions = scored.metrics, scored.predictions
        failures.update(scored.report["failures"])
    return Trained(
        model=net, tracks=fitted.tracks, metrics=metrics, predictions=predictions, failures=failures,
        file_name=NETWORK_FILE, save=save,
        training={"epochs_run": len(history), "config": resolved,
                  "kept_epoch": next((h["epoch"] for h in history if h.get("kept")), None)},
        run={"history": history}, write_extras=write_extras,
    )
