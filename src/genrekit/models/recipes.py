"""Model recipes by name: what ``genrekit train --model NAME`` and ``compare --models`` accept.

A recipe is either a classical model fitted on a feature table (:data:`genrekit.models.MODELS`)
or a network preset trained from audio (:data:`genrekit.models.nets.PRESETS`, with the
``deep`` extra). This module is where the two name lists meet, so the stages above ask it
rather than the lists. The recipes themselves (how each kind fits, which training options it
takes) are :mod:`genrekit.train.recipes`.
"""

from __future__ import annotations

from genrekit.errors import ParameterError


def network_names() -> list[str]:
    """The network presets, or none when PyTorch (the ``deep`` extra) is not installed.

    Returns
    -------
    list of str
        The names of :data:`genrekit.models.nets.PRESETS`, in its order (from the light
        catalogue, so a name is checked without importing PyTorch); empty when PyTorch is not
        installed.
    """
    from importlib.util import find_spec

    from genrekit.models.catalogue import NETWORKS

    return list(NETWORKS) if find_spec("torch") is not None else []


def recipe_names() -> list[str]:
    """Every model name ``train`` and ``compare`` accept: classical models, then networks.

    Returns
    -------
    list of str
        The names of :data:`genrekit.models.MODELS`, then :func:`network_names`, each in its
        own order.
    """
    from genrekit.models.classical import MODELS

    return [*MODELS, *network_names()]


def trains_from_audio(name: str) -> bool:
    """Whether recipe ``name`` is trained from audio (a network) rather than from a feature
    table. Raises ParameterError naming the known recipes for an unknown name.

    Parameters
    ----------
    name : str
        A model of :func:`recipe_names`, or ``default`` (:func:`~genrekit.models.catalogue.recipe_name`).

    Returns
    -------
    bool
        True for a network preset, False for a classical model.

    Raises
    ------
    ParameterError
        ``name`` is neither (the message says when network presets need ``genrekit[deep]``).
    """
    from genrekit.models.catalogue import recipe_name
    from genrekit.models.classical import MODELS

    name = recipe_name(name)
    if name in MODELS:
        return False
    if name in network_names():
        return True
    raise ParameterError(f"model {name!r} is unknown; expected one of {', '.join(recipe_names())}"
                         + ("" if network_names() else " (network presets need genrekit[deep])"))
