"""genrekit: music genre recognition, from a folder of songs to an evaluated model.

Stages, each a subpackage, imports flowing one way (docs/architecture.md)::

    audio -> features -> datasets -> models -> train (fitting) -> predict -> evaluate
          -> train (runs) -> cli / server / export

Every stage above ``models`` takes a model through one door, :func:`genrekit.models.load`.
"""

from genrekit.errors import (
    AnalysisStopped,
    AudioError,
    DatasetError,
    FeatureError,
    GenrekitError,
    ModelError,
    ParameterError,
)

from genrekit._lazy import lazy_dir

__version__ = "0.1.0"

# The library API, importable from the top level: ``load`` opens any model (or "default");
# ``load_model`` reads a classical model file alone. Training any model by name is
# ``genrekit.train.train`` (``genrekit.train`` is the package), ``train_model`` the classical one. Resolved on first use (PEP 562), so
# ``import genrekit`` stays instant and loads no audio or ML library.
_API = {
    "load_audio": ("genrekit.audio", "load"),
    "load_dataset": ("genrekit.datasets", "load_dataset"),
    "check_dataset": ("genrekit.datasets", "check_dataset"),
    "FeatureSpec": ("genrekit.features", "FeatureSpec"),
    "extract_features": ("genrekit.features", "extract_features"),
    "load": ("genrekit.models", "load"),
    "train_model": ("genrekit.train", "train_model"),
    "load_model": ("genrekit.models", "load_model"),
    "save_model": ("genrekit.models", "save_model"),
    "evaluate_model": ("genrekit.evaluate", "evaluate_model"),
    "compare_models": ("genrekit.evaluate", "compare_models"),
    "cross_validate": ("genrekit.evaluate", "cross_validate"),
    "predict_file": ("genrekit.predict", "predict_file"),
    "predict_audio": ("genrekit.predict", "predict_audio"),
    "predict_files": ("genrekit.predict", "predict_files"),
    "tag_library": ("genrekit.predict", "tag_library"),
}


# The stages, importable as attributes (``genrekit.train.train`` after ``import genrekit``)
_STAGES = ("audio", "features", "datasets", "models", "train", "predict", "evaluate", "export", "server")


def __getattr__(name: str):
    import importlib

    if name in _API:
        module, attribute = _API[name]
        return getattr(importlib.import_module(module), attribute)
    if name in _STAGES:
        return importlib.import_module(f"genrekit.{name}")
    raise AttributeError(f"module 'genrekit' has no attribute {name!r}")


__dir__ = lazy_dir(globals(), {**_API, **dict.fromkeys(_STAGES)})  # the lazy names too: tab completion, help()


__all__ = [
    "AnalysisStopped",
    "AudioError",
    "DatasetError",
    "FeatureError",
    "GenrekitError",
    "ModelError",
    "ParameterError",
    "__version__",
    *_API,
]
