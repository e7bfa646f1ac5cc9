"""Models: the one door to every model (:func:`load`, :class:`GenreClassifier`), the
scikit-learn/XGBoost pipelines on feature tables, and the model file format.

Names resolve on first use (PEP 562): ``from genrekit.models import load`` loads neither
scikit-learn nor PyTorch, which the ONNX runtime runs without.
"""

from genrekit._lazy import lazy_attributes, lazy_dir


_API = {
    "GenreClassifier": "genrekit.models.interface",
    "ChunkAnalysis": "genrekit.models.interface",
    "load": "genrekit.models.interface",
    "describe": "genrekit.models.interface",
    "exclude_training": "genrekit.models.interface",
    "seen_in_training": "genrekit.models.interface",
    "default_model_path": "genrekit.models.interface",
    "model_file": "genrekit.models.interface",
    "model_id": "genrekit.models.interface",
    "file_kind": "genrekit.models.interface",
    "DEFAULT": "genrekit.models.interface",
    "DEFAULT_EXACT": "genrekit.models.interface",
    "NAMED_MODELS": "genrekit.models.interface",
    "network_names": "genrekit.models.recipes",
    "recipe_names": "genrekit.models.recipes",
    "recipe_name": "genrekit.models.catalogue",
    "trains_from_audio": "genrekit.models.recipes",
    "GenreModel": "genrekit.models.artifact",
    "load_model": "genrekit.models.artifact",
    "read_manifest": "genrekit.models.artifact",
    "save_model": "genrekit.models.artifact",
    "DEFAULT_MODEL": "genrekit.models.catalogue",
    "MODELS": "genrekit.models.classical",
    "default_spec": "genrekit.models.classical",
    "features_made_for": "genrekit.models.classical",
    "make_model": "genrekit.models.classical",
    "make_search": "genrekit.models.classical",
}


__getattr__ = lazy_attributes(__name__, _API)
__dir__ = lazy_dir(globals(), _API)


__all__ = list(_API)
