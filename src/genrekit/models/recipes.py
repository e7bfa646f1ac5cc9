"""Model recipes by name: what ``genrekit train --model NAME`` and ``compare --models`` accept.

A recipe is either a classical model fitted on a feature table (:data:`genrekit.models.MODELS`)
or a network preset trained from audio (:data:`genrekit.models.nets.PRESETS`, with the
``deep`` extra). This module is where the two name lists meet, so the stages above ask it
rather than the lists.

A recipe also fits: :class:`TableRecipe` (a classical model on a feature table) and
:class:`NetworkRecipe` (a network preset from audio) share one small interface,
:class:`Recipe` (``fit`` on some tracks, ``chunk_proba`` of others), through which
cross-validation and training fit either kind without asking which it is. Neither
scikit-learn nor PyTorch is imported until a recipe fits.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from genrekit.errors import DatasetError, ParameterError

if TYPE_CHECKING:
    from genrekit.datasets import Dataset, FeatureTable
    from genrekit.models.nets.training import TrainConfig


def network_names() -> list[str]:
    """The network presets, or none when PyTorch (the ``deep`` extra) is not installed."""
    try:
        from genrekit.models.nets import PRESETS
    except ImportError:
        return []
    return list(PRESETS)


def recipe_names() -> list[str]:
    """Every model name ``train`` and ``compare`` accept: classical models, then networks."""
    from genrekit.models.classical import MODELS

    return [*MODELS, *network_names()]


def trains_from_audio(name: str) -> bool:
    """Whether recipe ``name`` is trained from audio (a network) rather than from a feature
    table. Raises ParameterError naming the known recipes for an unknown name."""
    from genrekit.models.classical import MODELS

    if name in MODELS:
        return False
    if name in network_names():
        return True
    raise ParameterError(f"model {name!r} is unknown; expected one of {', '.join(recipe_names())}"
                         + ("" if network_names() else " (network presets need genrekit[deep])"))


def make_recipe(name: str, *, table: FeatureTable | None = None, dataset: Dataset | None = None,
                search: bool = False, n_iter: int = 20, inner_splits: int = 3, seed: int = 0, epochs: int = 30,
                device: str = "cpu", progress: bool = False) -> Recipe:
    """The recipe of model ``name``, whichever kind it is: a classical model fitted on
    ``table``'s rows (``search``, ``n_iter``, ``inner_splits``), or a network preset trained
    from ``dataset``'s audio (``epochs``, ``device``).

    Raises
    ------
    ParameterError
        ``name`` is unknown.
    DatasetError
        Its kind's input is missing: a network needs a dataset, a classical model a table.
    """
    if trains_from_audio(name):
        if dataset is None:
            raise DatasetError(f"network {name!r} is trained from audio: give a dataset, not a feature table")
        from genrekit.models.nets.training import TrainConfig

        return NetworkRecipe(name, dataset, TrainConfig(preset=name, epochs=epochs, seed=seed, device=device),
                             progress=progress)
    if table is None:
        raise DatasetError(f"classical model {name!r} is fitted on features: give a feature table")
    return TableRecipe(name, table, search=search, n_iter=n_iter, inner_splits=inner_splits, seed=seed)


@dataclass
class Fitted:
    """A recipe fitted on some tracks.

    Attributes
    ----------
    model : object
        The fitted scikit-learn pipeline, or the trained network (``torch.nn.Module``).
    tracks : list[str]
        The track ids it was fitted on (training and validation tracks that could be read).
    failures : dict[str, str]
        Path -> reason, for tracks that could not be read.
    details : dict
        What the kind adds to a fold's record: ``best_params``; networks also ``epochs``,
        ``seconds_per_epoch``, ``n_train_chunks`` and ``history`` (one dict per epoch).
    """

    model: Any
    tracks: list[str]
    failures: dict[str, str] = field(default_factory=dict)
    details: dict = field(default_factory=dict)


@dataclass
class ChunkProba:
    """A fitted recipe's genre probabilities for every chunk of some tracks.

    Attributes
    ----------
    proba : np.ndarray [shape=(n_chunks, n_genres)]
    y : np.ndarray [shape=(n_chunks,)]
        The true genre's index, per chunk.
    tracks : np.ndarray [shape=(n_chunks,)]
        The track id of each chunk.
    failures : dict[str, str]
        Path -> reason, for tracks that could not be read.
    """

    proba: np.ndarray
    y: np.ndarray
    tracks: np.ndarray
    failures: dict[str, str] = field(default_factory=dict)


class Recipe(Protocol):
    """What cross-validation and training ask of a model kind: fit on tracks, score chunks.

    Attributes
    ----------
    name : the model's or preset's name
    labels : its genres
    aggregations : how its chunks make a track, the first giving the track scores (networks
        also report a majority vote of their short windows)
    folds_in_parallel : whether cross-validation may fit its folds in worker processes
        (networks train one fold after another: each already uses every core)
    summary : what a cross-validation summary says of its settings (networks: ``epochs``)
    """

    name: str
    labels: list[str]
    aggregations: tuple[str, ...]
    folds_in_parallel: bool
    summary: dict

    def fit(self, train_tracks: Sequence[str], val_tracks: Sequence[str] | None = None) -> Fitted:
        """Fit a fresh model on ``train_tracks``; ``val_tracks`` choose when to stop where the
        kind stops early (networks), else they are fitted on too."""
        ...

    def chunk_proba(self, model: Any, tracks: Sequence[str]) -> ChunkProba:
        """``model``'s (from :meth:`fit`) genre probabilities for every chunk of ``tracks``."""
        ...


class TableRecipe:
    """A classical model fitted on the rows of a feature table (see :func:`fit_estimator`).

    Parameters
    ----------
    name : str
        A model of :data:`genrekit.models.MODELS`.
    table : FeatureTable
        Every track's feature rows; tracks are picked from it by id.
    search, n_iter, inner_splits, seed
        As :func:`genrekit.models.classical.fit_estimator`.
    """

    def __init__(self, name: str, table: FeatureTable, *, search: bool = False, n_iter: int = 20,
                 inner_splits: int = 3, seed: int = 0):
        from genrekit.models.classical import MODELS

        if name not in MODELS:
            raise ParameterError(f"model={name!r} is not a classical model; expected one of {', '.join(MODELS)}")
        self.name, self.table, self.labels = name, table, list(table.labels)
        self.search, self.n_iter, self.inner_splits, self.seed = search, n_iter, inner_splits, seed
        self.aggregations, self.folds_in_parallel, self.summary = ("mean",), True, {"search": search}

    def fit(self, train_tracks: Sequence[str], val_tracks: Sequence[str] | None = None) -> Fitted:
        from genrekit.models.classical import fit_estimator

        tracks = [*train_tracks, *(val_tracks or ())]
        rows, table = self.table.rows_of(tracks), self.table
        estimator, best = fit_estimator(
            self.name, table.X[rows], table.y[rows], table.groups[rows], search=self.search, n_iter=self.n_iter,
            inner_splits=self.inner_splits, seed=self.seed, labels=table.labels, columns=table.columns,
        )
        return Fitted(estimator, list(map(str, tracks)), details={"best_params": best})

    def chunk_proba(self, model: Any, tracks: Sequence[str]) -> ChunkProba:
        from genrekit.models.classical import predict_proba

        rows = self.table.rows_of(tracks)
        return ChunkProba(predict_proba(model, self.table.X[rows]), self.table.y[rows], self.table.tracks[rows])


class NetworkRecipe:
    """A network preset trained from the audio of a dataset's tracks (log-mel windows, or
    spectrogram images for image presets).

    Parameters
    ----------
    name : str
        A preset of :data:`genrekit.models.nets.PRESETS`.
    dataset : Dataset
        The tracks to pick from by id (their paths and genres).
    config : TrainConfig
        The training run's settings (its ``preset`` is ``name``).
    progress : bool
        Show progress bars.
    out_dir : path, optional
        Where :func:`~genrekit.models.nets.training.train_network` writes its checkpoint
        after every epoch; ``resume`` continues from it.

    Raises
    ------
    ParameterError
        ``name`` is not a preset, or a setting of ``config`` is out of range.
    """

    def __init__(self, name: str, dataset: Dataset, config: TrainConfig, *, progress: bool = False,
                 out_dir=None, resume: bool = False):
        self.check(name, config)
        self.name, self.dataset, self.labels, self.config = name, dataset, dataset.labels, config
        self.progress, self.out_dir, self.resume = progress, out_dir, resume
        self.aggregations, self.folds_in_parallel = ("mean", "vote"), False
        self.summary = {"search": False, "epochs": config.epochs}

    @staticmethod
    def check(name: str, config: TrainConfig) -> None:
        """Refuse an unknown preset or a bad setting (ParameterError) before any audio is read."""
        if name not in network_names():
            raise ParameterError(f"network {name!r} is unknown; expected one of {', '.join(network_names())}")
        config.resolved()

    def _examples(self, net, parts: dict[str, str]):
        from genrekit.models.nets.training import network_chunks

        return network_chunks(net, self.name, self.dataset.tracks, self.labels, parts, config=self.config.resolved())

    def fit(self, train_tracks: Sequence[str], val_tracks: Sequence[str] | None = None) -> Fitted:
        """Train a fresh network (seeded by ``config.seed``); with ``val_tracks``, keep the epoch
        with the best validation track accuracy (early stopping), else the last epoch."""
        import torch

        from genrekit.models.nets import build_network
        from genrekit.models.nets.training import train_network

        parts = {**{t: "train" for t in train_tracks}, **{t: "val" for t in val_tracks or ()}}
        torch.manual_seed(self.config.seed)
        net = build_network(self.name, len(self.labels), labels=self.labels)
        sets, failures = self._examples(net, parts)
        wanted = ["train"] + (["val"] if val_tracks is not None else [])
        if any(part not in sets for part in wanted):
            needed = " and ".join({"train": "training", "val": "validation"}[part] for part in wanted)
            raise DatasetError(f"{self.dataset.root}: training needs {needed} tracks that can be read; "
                               f"got {sorted(sets) or 'none'}")
        net, history = train_network(sets["train"], sets.get("val"), len(self.labels), self.config, net=net,
                                     out_dir=self.out_dir, resume=self.resume, progress=self.progress)
        fitted = {t for part in wanted for t in sets[part].track}
        return Fitted(net, [t.track_id for t in self.dataset.tracks if t.track_id in fitted], failures, {
            "seconds_per_epoch": float(np.mean([h["train_seconds"] for h in history])) if history else float("nan"),
            "epochs": len(history),
            "n_train_chunks": len(sets["train"].y),
            "best_params": {},
            "history": history,
        })

    def chunk_proba(self, model: Any, tracks: Sequence[str]) -> ChunkProba:
        from genrekit.models.nets.inference import predict_chunks

        sets, failures = self._examples(model, {t: "test" for t in tracks})
        if "test" not in sets:
            raise DatasetError(f"{self.dataset.root}: none of the {len(tracks)} track(s) to score could be read")
        test = sets["test"]
        body = model.body if hasattr(model, "body") else model
        proba = predict_chunks(body, test.X.to(self.config.device))
        return ChunkProba(proba, test.y.numpy(), test.track, failures)
