"""Models: scikit-learn/XGBoost pipelines on feature tables, and the model file format."""

from genrekit.models.artifact import GenreModel, load_model, read_manifest, save_model
from genrekit.models.classical import DEFAULT_MODEL, MODELS, default_spec, make_model, make_search

__all__ = ["DEFAULT_MODEL", "MODELS", "GenreModel", "default_spec", "load_model", "make_model", "make_search",
           "read_manifest", "save_model"]
