"""Training any recipe by its name: :func:`train`, what ``genrekit train --model NAME`` runs."""

from __future__ import annotations

import os
from typing import Any

from genrekit.datasets import Dataset, as_dataset
from genrekit.models import DEFAULT_MODEL, default_spec
from genrekit.errors import OtherKindOption, ParameterError, check_options
from genrekit.models.catalogue import recipe_name, renamed_note
from genrekit.train.classical import train_model
from genrekit.train.network import train_network_model
from genrekit.train.recipes import NetworkRecipe, TableRecipe, recipe_options, recipe_type
from genrekit.train.run import TrainResult


def _train_classical(dataset: Dataset, model: str, options: dict[str, Any]) -> TrainResult:
    features, chunk = options.pop("features", None), options.pop("chunk", None)
    if "spec" not in options:
        options["spec"] = default_spec(model, chunk, features)
    return train_model(dataset, model=model, **options)


def _train_network(dataset: Dataset, model: str, options: dict[str, Any]) -> TrainResult:
    return train_network_model(dataset, preset=model, **options)


_TRAINERS = {TableRecipe: _train_classical, NetworkRecipe: _train_network}
# what each kind's trainer takes besides the dataset and the model: its keyword arguments
_TAKEN = {TableRecipe: ("train_model", train_model, {"features", "chunk"}),
          NetworkRecipe: ("train_network_model", train_network_model, set())}


def _check_known(model: str, options: dict[str, Any]) -> None:
    """A ParameterError for an option no trainer of ``model``'s kind takes (a misspelling:
    Python's TypeError named the function behind ``train``)."""
    name, trainer, extra = _TAKEN[recipe_type(model)]
    check_options(options, trainer, f"train for model {model!r} (genrekit.train.{name}'s)", taken_too=extra,
                  leaving_out=("dataset", "model", "preset"))


def train(dataset: Dataset | str | os.PathLike, *, model: str = DEFAULT_MODEL, **options: Any) -> TrainResult:
    """Train the recipe ``model``: a classical model on features or a network from audio.

    Parameters
    ----------
    dataset : Dataset or path
        Labelled tracks, or the path of a dataset (:func:`genrekit.datasets.load_dataset`).
    model : str
        A model of :func:`genrekit.models.recipe_names`, or ``default``: :data:`~genrekit.models.DEFAULT_MODEL`,
        the recipe of the shipped model.
    **options
        The keyword arguments of :func:`~genrekit.train.classical.train_model` (classical
        models also take ``features``, a feature set's name, default the model's own, and
        ``chunk``, seconds) or of :func:`~genrekit.train.network.train_network_model` (every
        :class:`~genrekit.train.config.TrainConfig` setting). An option only the other kind
        takes, set to anything but its default, is refused, so a setting is never silently
        ignored (:func:`~genrekit.train.recipes.recipe_options`). ``split`` left out (or None)
        is the kind's own: ``all`` for a classical model on a library's own genres (its files' tags: every
        file trains, scored by k-fold CV), else ``random``.

    Returns
    -------
    TrainResult

    Raises
    ------
    ParameterError
        ``model`` is unknown, an option of the other kind is set, or an option is no trainer's
        (the message names it).
    """
    asked, model = model, recipe_name(model)  # 'default': the shipped model's recipe
    split = options.pop("split", None)
    try:  # checked before any data is read
        options = recipe_options(model, options)
    except OtherKindOption as exc:  # a network's option given with 'default': the old preset meant?
        raise OtherKindOption(exc.options, exc.kind, exc.model, renamed_note(asked)) from None
    _check_known(model, {**options, "split": split})
    if split is None:  # the kind's own: a library's genres (tags) all train a classical model, scored by
        dataset = as_dataset(dataset)  # k-fold CV; a network needs validation tracks
        if dataset.taxonomy is not None and recipe_type(model) is TableRecipe:
            options["split"] = "all"
    else:
        options["split"] = split
    return _TRAINERS[recipe_type(model)](dataset, model, options)
