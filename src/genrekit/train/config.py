"""A network's training settings (:class:`TrainConfig`) and the ``--config`` file that gives them.

Nothing here imports PyTorch: a preset's own set-up (then genrekit's defaults) fills the gaps only in
:meth:`TrainConfig.resolved`, when a run starts.
"""

from __future__ import annotations

import json
import logging
import math
import re
import tomllib
from dataclasses import dataclass, fields, replace
from pathlib import Path

from genrekit._files import not_a_file
from genrekit.errors import ModelError, ParameterError

logger = logging.getLogger(__name__)

OPTIMIZERS = ("sgd", "adam", "adamw", "rmsprop")
DEVICES = ("cpu", "cuda", "mps")
LOSSES = ("ce", "bce")
SCHEDULES = ("cosine", "constant")
# What counts equally in a network's loss: each track, each genre (and within it each track), or each window.
BALANCES = ("tracks", "genres", "none")


@dataclass(frozen=True)
class TrainConfig:
    """Every knob of a network's training run; a preset's paper values fill what is not given (None).

    Attributes
    ----------
    preset : str
        The network preset (:data:`genrekit.models.nets.PRESETS`).
    epochs : int
        Most epochs (early stopping may end sooner).
    batch_size : int or None
        Examples per step.
    lr : float or None
        Peak learning rate.
    optimizer : {'sgd', 'adam', 'adamw', 'rmsprop'} or None
    weight_decay : float
        The optimizer's weight decay, where ``l2`` is 0 (not set by the user nor by the
        preset's paper: edge-cnn, cnn4-2x2 and musicnn-finetune set it). No decay at all:
        ``weight_decay=0`` and ``l2=0``.
    l1, l2 : float or None
        Penalties on the weights (``l2`` above 0 replaces ``weight_decay``; 0 leaves it in force).
    loss : {'ce', 'bce'} or None
        Softmax cross-entropy or per-genre sigmoid.
    label_smoothing, mixup : float or None
        Label smoothing; mixup's Beta(a, a) parameter (0: none).
    specaugment : bool or None
        One frequency and one time mask per example.
    schedule : {'cosine', 'constant'} or None
        The learning rate over the epochs.
    patience : int
        Epochs without a better validation track accuracy before stopping.
    overlap : float
        Overlap of the training windows, in [0, 1).
    time_stretch, pitch_shift : float
        Augmentation: most rate change, in [0, 1); most semitones, in [0, 12].
    augment_copies : int
        Altered copies per training track.
    balance : {'tracks', 'genres', 'none'}
        What counts equally in the loss: ``tracks`` (each track, whatever its length: full
        songs do not outweigh 30 s clips), ``genres`` (each genre, and within it each track: a
        genre of few tracks weighs what one of many does) or ``none`` (each window, as every
        run before 2026-12-07). bench/network_balance.py measured ``genres`` raising a small
        genre's recall at the others' cost (docs/benchmarks.md).
    seed : int
        Seeds the weights and every epoch.
    device : str
        ``cpu``, ``cuda`` or ``mps``.
    """

    preset: str = "short-chunk-resnet"
    epochs: int = 30
    batch_size: int | None = None
    lr: float | None = None
    optimizer: str | None = None
    weight_decay: float = 1e-4
    l1: float | None = None
    l2: float | None = None
    loss: str | None = None
    label_smoothing: float | None = None
    mixup: float | None = None
    specaugment: bool | None = None
    schedule: str | None = None
    patience: int = 8
    overlap: float = 0.5
    time_stretch: float = 0.0
    pitch_shift: float = 0.0
    augment_copies: int = 1
    balance: str = "tracks"
    seed: int = 0
    device: str = "cpu"

    def __post_init__(self) -> None:
        # a choice in any case is that choice, as on the command line (optimizer = "Adam" in a config file)
        for name in ("optimizer", "loss", "schedule", "balance", "device"):
            if isinstance(value := getattr(self, name), str):
                object.__setattr__(self, name, value.lower())

    def check(self) -> TrainConfig:
        """Refuse a setting out of range (ParameterError naming it); settings still None pass.

        Returns
        -------
        TrainConfig
            This config.
        """
        if self.optimizer is not None and self.optimizer not in OPTIMIZERS:
            raise ParameterError(f"optimizer={self.optimizer!r} must be sgd, adam, adamw or rmsprop")
        if self.loss is not None and self.loss not in LOSSES:
            raise ParameterError(f"loss={self.loss!r} must be 'ce' (softmax) or 'bce' (sigmoid)")
        if self.schedule is not None and self.schedule not in SCHEDULES:
            raise ParameterError(f"schedule={self.schedule!r} must be 'cosine' or 'constant'")
        if self.balance not in BALANCES:
            raise ParameterError(f"balance={self.balance!r} must be one of {', '.join(BALANCES)}")
        rules = [("epochs", self.epochs, self.epochs >= 1, "a whole number >= 1"),
                 ("batch_size", self.batch_size, self.batch_size is None or self.batch_size >= 2,
                  "a whole number >= 2 (batch normalisation needs two examples)"),
                 ("time_stretch", self.time_stretch, 0 <= self.time_stretch < 1, "a fraction in [0, 1)"),
                 ("pitch_shift", self.pitch_shift, 0 <= self.pitch_shift <= 12, "semitones in [0, 12]"),
                 ("augment_copies", self.augment_copies, self.augment_copies >= 1, "a whole number >= 1"),
                 # as the command line's --lr: an lr of 0 never learns, one of inf ended in a "corrupt" model
                 ("lr", self.lr, self.lr is None or (math.isfinite(self.lr) and self.lr > 0), "a finite number > 0"),
                 *((name, getattr(self, name), getattr(self, name) is None
                    or (math.isfinite(getattr(self, name)) and getattr(self, name) >= 0), "a finite number >= 0")
                   for name in ("weight_decay", "l1", "l2", "mixup")),
                 ("patience", self.patience, self.patience >= 1, "a whole number of epochs >= 1"),
                 ("overlap", self.overlap, 0 <= self.overlap < 1, "a fraction in [0, 1)"),
                 ("label_smoothing", self.label_smoothing, 0 <= (self.label_smoothing or 0) < 1, "a fraction in [0, 1)")]
        if self.device not in DEVICES and not re.fullmatch(r"cuda:\d+", str(self.device)):
            rules.append(("device", self.device, False, f"one of {', '.join(DEVICES)} (or cuda:N)"))
        bad = [f"{name}={value!r}: expected {expected}" for name, value, ok, expected in rules if not ok]
        if bad:
            raise ParameterError("; ".join(bad))
        return self

    def resolved(self) -> TrainConfig:
        """This config with the preset's own training set-up filling the gaps, then genrekit's
        defaults (Adam at 1e-3, batch 32, cross-entropy, a cosine schedule).

        Raises
        ------
        ModelError
            The preset is unknown.
        ParameterError
            A setting is out of range.
        """
        from genrekit.models.nets.presets import PRESETS

        from genrekit.models.catalogue import renamed_note

        if self.preset not in PRESETS:
            raise ModelError(f"network {self.preset!r} is unknown; expected one of {', '.join(PRESETS)}"
                             + renamed_note(self.preset))
        paper = PRESETS[self.preset].training
        defaults = {"batch_size": 32, "lr": 1e-3, "optimizer": "adam", "l1": 0.0, "l2": 0.0, "loss": "ce",
                    "label_smoothing": 0.0, "mixup": 0.0, "specaugment": False, "schedule": "cosine"}
        filled = {k: (getattr(self, k) if getattr(self, k) is not None else paper.get(k, defaults[k])) for k in defaults}
        return replace(self, **filled).check()


#: The settings of :class:`TrainConfig` with their defaults (a setting of ``None``: the preset's).
SETTINGS = {f.name: f.default for f in fields(TrainConfig)}
_TYPES = {f.name: f.type for f in fields(TrainConfig)}


def _expected(value, kind: str) -> str | None:
    """What ``value`` should have been for a setting typed ``kind`` (a TrainConfig annotation), or None when it fits."""
    optional = kind.endswith("| None")
    base = kind.removesuffix(" | None")
    if value is None:
        return None if optional else base
    fits = {"int": isinstance(value, int) and not isinstance(value, bool),
            "float": isinstance(value, int | float) and not isinstance(value, bool),
            "bool": isinstance(value, bool), "str": isinstance(value, str)}[base]
    return None if fits else {"int": "an integer", "float": "a number", "bool": "true or false",
                              "str": "a string"}[base]


def read_config(path: str | Path, *, preset: str | None = None) -> dict:
    """The training settings of a TOML (``.toml``) or JSON file: keys are :class:`TrainConfig`'s fields.

    A run folder's ``config.json`` (what :func:`genrekit.train.train` records) is such a file.

    Parameters
    ----------
    path : path
        The file.
    preset : str, optional
        The network being trained: a ``preset`` key, where the file has one, must name it.

    Returns
    -------
    dict
        Setting -> value, only those the file gives (``preset`` left out).

    Raises
    ------
    ParameterError
        The file cannot be read or parsed, holds something other than a table of settings, an
        unknown key, a value of the wrong type or out of range, or another preset. The message
        names the file and the key, with what was expected and what was found.
    """
    from genrekit.models.catalogue import renamed_note

    values = _config_values(path)
    if preset is not None and values.get("preset", preset) != preset:
        raise ParameterError(f"{path}: key 'preset': the file is for {values['preset']!r}, and the model is {preset!r}"
                             + renamed_note(preset))
    settings = {key: value for key, value in values.items() if key != "preset"}
    if "balance" not in values and set(SETTINGS) - {"balance", "preset"} <= set(values):
        # a run folder's config.json, every setting resolved, from before balance: not this run's default
        logger.warning("%s: a run's settings from before 2026-12-07, which weighed every window the same; this run "
                       "weighs each track the same whatever its length (balance 'tracks'): give --balance none (or set "
                       "balance to 'none' in the file) to repeat that run", path)
    try:
        TrainConfig(**settings).check()
    except ParameterError as exc:
        raise ParameterError(f"{path}: {exc}") from exc
    return settings


def _config_values(path: str | Path) -> dict:
    """A training config file's keys and values, each key known and of its type, ``preset``
    by its current name; a ParameterError naming the file and the key."""
    path = Path(path)
    if path.exists() and (found := not_a_file(path.stat().st_mode)):  # a FIFO would block the read for ever
        raise ParameterError(f"{path}: expected a training config file, found {found}")
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ParameterError(f"{path}: cannot read the training config: {exc}") from exc
    is_toml = path.suffix.lower() == ".toml"
    try:
        values = tomllib.loads(text) if is_toml else json.loads(text)
    except RecursionError as exc:  # json.loads recurses per bracket
        raise ParameterError(f"{path}: not valid JSON (nested too deeply for a table of training settings)") from exc
    except ValueError as exc:  # the parsers' errors, and a number of more digits than Python converts
        raise ParameterError(f"{path}: not valid {'TOML' if is_toml else 'JSON'} (a .toml file is read as TOML, any "
                             f"other as JSON): {exc}") from exc
    if not isinstance(values, dict):
        raise ParameterError(f"{path}: expected a table of training settings, found {type(values).__name__}")
    for key, value in values.items():
        if key not in SETTINGS:
            raise ParameterError(f"{path}: unknown key {key!r}; expected some of {', '.join(SETTINGS)}")
        expected = _expected(value, _TYPES[key])
        if expected is not None:
            raise ParameterError(f"{path}: key {key!r}: expected {expected}, found {value!r}")
    from genrekit.models.catalogue import current_preset

    if "preset" in values:  # a run folder's config.json written before a preset was renamed
        values["preset"] = current_preset(values["preset"])
    return values


def config_preset(path: str | Path) -> str | None:
    """The preset a training config file names (a run folder's ``config.json`` does), or None."""
    return _config_values(path).get("preset")
