"""How each kind of model fits: the recipes that training and cross-validation run.

:class:`TableRecipe` (a classical model on a feature table) and :class:`NetworkRecipe` (a
network preset from audio) share one small interface, :class:`Recipe` (``fit`` on some
tracks, ``chunk_proba`` of others), through which cross-validation
(:func:`genrekit.evaluate.crossval.fold`) and :func:`genrekit.train.train` fit either kind
without asking which it is. A recipe also says which training options it takes and whether it
needs a feature table (:func:`recipe_type`, :func:`recipe_options`, :func:`table_for`), so no
caller asks what kind a name is. Neither scikit-learn nor PyTorch is imported until a recipe fits.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar, Protocol

import numpy as np

from genrekit.errors import DatasetError, OtherKindOption, ParameterError, check_flags, check_whole_number
from genrekit.models.catalogue import recipe_name
from genrekit.models.recipes import network_names, trains_from_audio
from genrekit.train.config import SETTINGS, TrainConfig

if TYPE_CHECKING:
    from genrekit.datasets import Dataset, FeatureTable
    from genrekit.features import FeatureCache, FeatureSpec


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
    kind : what a refusal of its options calls the kind (class attribute)
    needs_table : whether it is fitted on a feature table built ahead (class attribute)
    options : the training options only this kind takes, with the value meaning "not asked
        for" (class attribute; see :func:`recipe_options`)
    extraction_options : options it takes that other kinds drop without complaint (class attribute)
    name : the model's or preset's name
    labels : its genres
    aggregations : how its chunks make a track, the first giving the track scores (networks
        also report a majority vote of their short windows)
    folds_in_parallel : whether cross-validation may fit its folds in worker processes
        (networks train one fold after another: each already uses every core)
    summary : what a cross-validation summary says of its settings (networks: ``epochs``)
    setup : what a comparison's ``setup`` records of how this kind trains (networks: their
        epochs and settings; classical models: nothing beyond the search, recorded for all)
    reads : the input it computes from the audio itself, for titles (networks: ``log-mel``
        or ``spectrogram images``); None for a model fitted on the feature table
    """

    kind: ClassVar[str]
    needs_table: ClassVar[bool]
    options: ClassVar[Mapping[str, Any]]
    extraction_options: ClassVar[tuple[str, ...]]
    name: str
    labels: list[str]
    aggregations: tuple[str, ...]
    folds_in_parallel: bool
    summary: dict
    setup: dict
    reads: str | None

    def fit(self, train_tracks: Sequence[str], val_tracks: Sequence[str] | None = None) -> Fitted:
        """Fit a fresh model on ``train_tracks``; ``val_tracks`` choose when to stop where the
        kind stops early (networks), else they are fitted on too."""
        ...

    def chunk_proba(self, model: Any, tracks: Sequence[str]) -> ChunkProba:
        """``model``'s (from :meth:`fit`) genre probabilities for every chunk of ``tracks``."""
        ...


def check_search(search: bool, n_iter: int, inner_splits: int = 3) -> None:
    """Refuse a randomized search's settings scikit-learn would refuse inside the fit (after the
    features were extracted): ``n_iter`` candidates, at least 1, over ``inner_splits`` folds, at least 2."""
    check_flags(search=search)
    if not search:
        return
    check_whole_number("n_iter", n_iter, of="candidates to try (search=True)")
    check_whole_number("inner_splits", inner_splits, least=2, of="inner folds (search=True)")


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

    #: What a refusal of its options calls this kind.
    kind: ClassVar[str] = "classical models"
    #: It is fitted on the rows of a feature table, built ahead from the dataset's audio.
    needs_table: ClassVar[bool] = True
    #: The training options only this kind takes (:func:`genrekit.train.train`), with the value
    #: that means "not asked for": another kind refuses them when set to anything else.
    options: ClassVar[Mapping[str, Any]] = {"features": None, "chunk": None, "search": False, "n_iter": 20, "cv": True}
    #: Options it takes that other kinds drop without complaint (feature extraction, which they do not do ahead).
    extraction_options: ClassVar[tuple[str, ...]] = ("cache", "n_jobs")

    def __init__(self, name: str, table: FeatureTable, *, search: bool = False, n_iter: int = 20,
                 inner_splits: int = 3, seed: int = 0):
        from genrekit.models.classical import MODELS, lacks_features

        if name not in MODELS:
            raise ParameterError(f"model={name!r} is not a classical model; expected one of {', '.join(MODELS)}")
        made_for = lacks_features(name, table.columns)
        if made_for:
            raise ParameterError(f"model={name!r}: made for {made_for} features, whose columns the table lacks (on "
                                 f"these it would be a weaker model under {name}'s name)")
        check_search(search, n_iter, inner_splits)
        self.name, self.table, self.labels = name, table, list(table.labels)
        self.search, self.n_iter, self.inner_splits, self.seed = search, n_iter, inner_splits, seed
        self.aggregations, self.folds_in_parallel, self.summary = ("mean",), True, {"search": search}
        self.setup, self.reads = {}, None

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
        return ChunkProba(predict_proba(model, self.table.X[rows], len(self.labels)), self.table.y[rows],
                          self.table.tracks[rows])


def _check_device(device: str) -> None:
    """Refuse a device this PyTorch cannot use (ParameterError naming it), before any audio is read."""
    import torch

    kind = device.split(":")[0]
    available = {"cpu": True, "cuda": torch.cuda.is_available(),
                 "mps": getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available()}
    if not available.get(kind, False):
        usable = ", ".join(name for name, ok in available.items() if ok)
        raise ParameterError(f"device={device!r}: not available in this PyTorch on this machine; expected one of "
                             f"{usable}")
    if kind == "cuda" and ":" in device and int(device.split(":")[1]) >= torch.cuda.device_count():
        raise ParameterError(f"device={device!r}: this machine has {torch.cuda.device_count()} CUDA device(s)")


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
        Where :func:`~genrekit.train.loop.train_network` writes its checkpoint
        after every epoch; ``resume`` continues from it.
    aggregation : str
        How validation tracks' chunks are combined to choose the epoch kept (``mean`` or
        ``vote``), as the trained model combines them.

    Raises
    ------
    ParameterError
        ``name`` is not a preset, or a setting of ``config`` is out of range.
    """

    kind: ClassVar[str] = "networks"
    #: Trained from the audio itself, through its own front end.
    needs_table: ClassVar[bool] = False
    #: Every :class:`TrainConfig` setting but ``preset`` (the model) and ``seed`` (every kind's), and ``resume``.
    options: ClassVar[Mapping[str, Any]] = {**{k: v for k, v in SETTINGS.items() if k not in ("preset", "seed")},
                                            "resume": False}
    extraction_options: ClassVar[tuple[str, ...]] = ()

    def __init__(self, name: str, dataset: Dataset, config: TrainConfig, *, progress: bool = False,
                 out_dir=None, resume: bool = False, aggregation: str = "mean"):
        self.check(name, config)
        self.name, self.dataset, self.labels, self.config = name, dataset, dataset.labels, config
        self.progress, self.out_dir, self.resume, self.aggregation = progress, out_dir, resume, aggregation
        self.aggregations, self.folds_in_parallel = ("mean", "vote"), False
        self.summary = {"search": False, "epochs": config.epochs}
        from genrekit.models.nets.presets import PRESETS

        self.reads = "spectrogram images" if PRESETS[name].input_kind == "image" else "log-mel"
        self.setup = {"network_epochs": config.epochs,
                      "network_settings": {k: v for k, v in asdict(config).items()
                                           if v is not None and k not in ("preset", "seed", "epochs")}}
        #: Every setting as training uses it, the preset's own filling what was not given (what a
        #: comparison's row records beside the settings given, which its resuming compares).
        self.resolved = {k: v for k, v in asdict(config.resolved()).items() if k not in ("preset", "seed")}

    @staticmethod
    def check(name: str, config: TrainConfig) -> None:
        """Refuse an unknown preset or a bad setting (ParameterError) before any audio is read."""
        if name not in network_names():
            raise ParameterError(f"network {name!r} is unknown; expected one of {', '.join(network_names())}")
        from genrekit.models.nets.presets import PRESETS

        resolved = config.resolved()
        _check_device(config.device)
        preset = PRESETS[name]
        if preset.input_kind == "image":  # its examples are the images as they are: nothing to augment or overlap
            ignored = [f"{key}={value!r}" for key, value, default in (
                ("time_stretch", config.time_stretch, 0.0), ("pitch_shift", config.pitch_shift, 0.0),
                ("augment_copies", config.augment_copies, 1), ("overlap", config.overlap, 0.5)) if value != default]
            if ignored:
                raise ParameterError(f"{', '.join(ignored)}: network {name!r} trains on spectrogram images as they "
                                     "are, which waveform augmentation and window overlap do not change")
        from genrekit.train.loop import refuse_frozen_specaugment

        refuse_frozen_specaugment(name, frozen=hasattr(preset.build, "frozen_features"),
                                  specaugment=bool(resolved.specaugment))

    def _examples(self, net, parts: dict[str, str]):
        from genrekit.train.network_data import network_chunks

        return network_chunks(net, self.name, self.dataset.tracks, self.labels, parts, config=self.config.resolved())

    def fit(self, train_tracks: Sequence[str], val_tracks: Sequence[str] | None = None) -> Fitted:
        """Train a fresh network (seeded by ``config.seed``); with ``val_tracks``, keep the epoch
        with the best validation track accuracy (early stopping), else the last epoch."""
        import torch

        from genrekit.models.nets import build_network
        from genrekit.train.loop import train_network

        parts = {**{t: "train" for t in train_tracks}, **{t: "val" for t in val_tracks or ()}}
        torch.manual_seed(self.config.seed)
        net = build_network(self.name, len(self.labels), labels=self.labels)
        sets, failures = self._examples(net, parts)
        wanted = ["train"] + (["val"] if val_tracks is not None else [])
        if any(part not in sets for part in wanted):
            needed = " and ".join({"train": "training", "val": "validation"}[part] for part in wanted)
            raise DatasetError(f"{self.dataset.source}: training needs {needed} tracks that can be read; "
                               f"got {sorted(sets) or 'none'}")
        net, history = train_network(sets["train"], sets.get("val"), len(self.labels), self.config, net=net,
                                     out_dir=self.out_dir, resume=self.resume, progress=self.progress,
                                     labels=list(self.labels), aggregation=self.aggregation)
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
            raise DatasetError(f"{self.dataset.source}: none of the {len(tracks)} track(s) to score could be read")
        test = sets["test"]
        body = model.body if hasattr(model, "body") else model
        proba = predict_chunks(body, test.X.to(self.config.device))
        return ChunkProba(proba, test.y.numpy(), test.track, failures)


RECIPE_TYPES: tuple[type[Recipe], ...] = (TableRecipe, NetworkRecipe)


def recipe_type(name: str) -> type[Recipe]:
    """The recipe class of model ``name``: what it needs and which options it takes, before
    any data is loaded.

    Parameters
    ----------
    name : str
        A model of :func:`genrekit.models.recipe_names`.

    Returns
    -------
    type
        :class:`TableRecipe` or :class:`NetworkRecipe`.

    Raises
    ------
    ParameterError
        ``name`` is unknown (the message lists the known ones).
    """
    return NetworkRecipe if trains_from_audio(name) else TableRecipe


def recipe_options(name: str, options: Mapping[str, Any]) -> dict[str, Any]:
    """``options`` less those model ``name``'s kind does not take, refusing any of them set.

    Parameters
    ----------
    name : str
        A model of :func:`genrekit.models.recipe_names`.
    options : mapping
        Training options (:func:`genrekit.train.train`'s keyword arguments).

    Returns
    -------
    dict
        The options the kind takes, and those every kind takes (``split``, ``seed``...).

    Raises
    ------
    ParameterError
        ``name`` is unknown.
    OtherKindOption
        An option only another kind takes is set to anything but its default: the message names
        it (``epochs: only for networks, and model 'logreg' is not one``), so a setting is never
        silently ignored.
    """
    own = recipe_type(name)
    others = [kind for kind in RECIPE_TYPES if kind is not own]
    for other in others:
        ignored = [option for option, default in other.options.items()
                   if option in options and options[option] != default]
        if ignored:
            raise OtherKindOption(tuple(ignored), other.kind, name)
    taken = {*own.options, *own.extraction_options}
    dropped = {option for other in others for option in (*other.options, *other.extraction_options)} - taken
    return {option: value for option, value in options.items() if option not in dropped}


def table_for(names: Sequence[str], dataset: Dataset, spec: FeatureSpec, *, cache: FeatureCache | None = None,
              n_jobs: int | None = None, progress: bool = False) -> FeatureTable | None:
    """The feature table that the classical models among ``names`` are fitted on, built from
    ``dataset``'s audio; None when none of them needs one (networks read the audio themselves).

    Parameters
    ----------
    names : sequence of str
        Models of :func:`genrekit.models.recipe_names`.
    dataset : Dataset
        The tracks to extract.
    spec : FeatureSpec
        The features and chunking.
    cache, n_jobs, progress
        As :func:`genrekit.datasets.build_feature_table`.

    Returns
    -------
    FeatureTable or None
        Tracks that could not be read are left out and listed in its ``failures``.

    Raises
    ------
    ParameterError
        A name is unknown.
    """
    if not any(recipe_type(name).needs_table for name in names):
        return None
    from genrekit.datasets import build_feature_table

    table, _ = build_feature_table(dataset, spec, cache=cache, n_jobs=n_jobs, progress=progress)
    return table


def make_recipe(name: str, *, table: FeatureTable | None = None, dataset: Dataset | None = None,
                search: bool = False, n_iter: int = 20, inner_splits: int = 3, seed: int = 0, epochs: int = 30,
                device: str = "cpu", settings: Mapping[str, Any] | None = None, progress: bool = False) -> Recipe:
    """The recipe of model ``name``, whichever kind it is.

    Parameters
    ----------
    name : str
        A model of :func:`genrekit.models.recipe_names`.
    table : FeatureTable, optional
        The rows a classical model is fitted on.
    dataset : Dataset, optional
        The tracks a network is trained from.
    search, n_iter, inner_splits
        A classical model's randomized search (see :func:`genrekit.models.classical.fit_estimator`).
    seed : int
        Seeds the model (and a network's every epoch).
    epochs, device
        A network's epochs and device.
    settings : mapping, optional
        A network's other :class:`TrainConfig` settings (they override ``epochs`` and ``device``).
    progress : bool
        Show a network's progress bars.

    Returns
    -------
    Recipe

    Raises
    ------
    ParameterError
        ``name`` is unknown, or a setting is out of range.
    DatasetError
        Its kind's input is missing: a network needs a dataset, a classical model a table.
    """
    name = recipe_name(name)
    if recipe_type(name) is NetworkRecipe:
        if dataset is None:
            raise DatasetError(f"network {name!r} is trained from audio: give a dataset, not a feature table")
        config = TrainConfig(**{"epochs": epochs, "device": device, **(settings or {}), "preset": name, "seed": seed})
        return NetworkRecipe(name, dataset, config, progress=progress)
    if table is None:
        raise DatasetError(f"classical model {name!r} is fitted on features: give a feature table")
    return TableRecipe(name, table, search=search, n_iter=n_iter, inner_splits=inner_splits, seed=seed)
