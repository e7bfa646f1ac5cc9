"""Neural genre models (PyTorch, the ``deep`` extra): the log-mel front end and the presets."""

from genrekit.models.nets.frontend import FrontEndConfig, LogMelFrontEnd
from genrekit.models.nets.presets import PRESETS, GenreNet, Preset, build_network, count_parameters

__all__ = ["PRESETS", "FrontEndConfig", "GenreNet", "LogMelFrontEnd", "Preset", "build_network", "count_parameters"]
