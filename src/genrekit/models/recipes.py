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
        The names of :data:`genrekit.models.nets.PRESETS`, in its order; empty when
        :mod:`genrekit.models.nets` cannot be imported.
    """
    try:
        from genrekit.models.nets import PRESETS
    except ImportError:
        return []
    return list(PRESETS)


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
        A model of :func:`recipe_names`.

    Returns
    -------
    bool
        True for a network preset, False for a classical model.

    Raises
    ------
    ParameterError
        ``name`` is neither (the message says when network presets need ``genrekit[deep]``).
    """
    from genrekit.models.classical import MODELS

    if name in MODELS:
        return False
    if name in network_names():
        return True
    raise ParameterError(f"model {name!r} is unknown; expected one of {', '.join(recipe_names())}"
                         + ("" if network_names() else " (network presets need genrekit[deep])"))
