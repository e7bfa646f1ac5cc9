"""genrekit: music genre recognition, from a folder of songs to an evaluated model.

Stages, each a subpackage, imports flowing one way::

    audio -> features -> datasets -> models -> evaluate / predict -> cli
"""

from genrekit.errors import (
    AudioError,
    DatasetError,
    FeatureError,
    GenrekitError,
    ModelError,
    ParameterError,
)

__version__ = "0.1.0"

__all__ = [
    "AudioError",
    "DatasetError",
    "FeatureError",
    "GenrekitError",
    "ModelError",
    "ParameterError",
    "__version__",
]
