"""The names of genrekit's models, networks and feature sets, without their libraries.

``genrekit models`` and the command line's choices read these tables, so that listing
names (or parsing ``--features``) imports neither scikit-learn, PyTorch nor librosa. The
definitions themselves stay where they are built (:data:`genrekit.models.classical.MODELS`,
:data:`genrekit.models.nets.PRESETS`, :func:`genrekit.features.describe_feature_sets`);
``tests/test_cli_conventions.py`` checks that these tables say the same.
"""

from __future__ import annotations

#: Classical model name -> one-line description (:data:`genrekit.models.classical.MODELS`).
CLASSICAL: dict[str, str] = {
    "logreg": "multinomial logistic regression",
    "linear-svc": "linear support vector classifier",
    "svc-rbf": "support vector classifier, RBF kernel",
    "nu-svc": "nu-support vector classifier, RBF kernel",
    "knn": "k nearest neighbours",
    "decision-tree": "decision tree",
    "random-forest": "random forest",
    "extra-trees": "extremely randomised trees",
    "gradient-boosting": "gradient boosting (scikit-learn)",
    "adaboost": "AdaBoost on depth-3 trees",
    "xgboost": "XGBoost gradient-boosted trees",
    "ensemble": "soft vote of RBF SVC, logistic regression, extra trees, gradient boosting and an MLP",
    "musicnn-head": "logistic regression on the pretrained musicnn's embedding and tags averaged over the clip "
                    "(musicnn-msd)",
    "musicnn-prior": "calibrated head on both pretrained musicnn taggers, times their zero-shot genre prior "
                     "(genrekit's default model; also named 'default')",
}

#: The model ``train`` uses when none is named: the recipe of the shipped default.
DEFAULT_MODEL = "musicnn-prior"

#: Network preset name -> one-line description (:data:`genrekit.models.nets.PRESETS`; needs PyTorch).
NETWORKS: dict[str, str] = {
    "edge-cnn": "3-layer CNN for phones, 7.5 s fragments",
    "cnn4": "4 conv layers 3x3, 128x128 to 2x2, 3 dense layers",
    "crnn1": "cnn4 without its last conv layer + GRU(256)",
    "crnn2": "4 conv layers on 256x256 + GRU(256)",
    "cnn5-img": "5 conv layers on 3x288x432 spectrogram images",
    "cnn4-2x2": "4 conv layers 2x2, strides 2,1,2,1, one dense layer",
    "short-chunk-resnet": "short-chunk residual CNN with SpecAugment, mixup, label smoothing, cosine LR",
    "musicnn-finetune": "pretrained musicnn (MSD), back end retrained, 3 s patches",
}

#: Network presets renamed, old name -> new, so that files saved under the old name load:
#: ``default`` named the short-chunk residual CNN until 2026-12-06, and ``default`` names the
#: shipped model everywhere else (and :data:`DEFAULT_MODEL` to ``train``).
RENAMED_NETWORKS: dict[str, str] = {"default": "short-chunk-resnet"}


def current_preset(name: str) -> str:
    """A network preset's name now: its new name where ``name`` is an old one
    (:data:`RENAMED_NETWORKS`), else ``name`` itself."""
    return RENAMED_NETWORKS.get(name, name)


def renamed_note(name: str) -> str:
    """`` (the network named ... is now ...)`` where ``name`` is a preset's old name, else empty:
    said where an old name is refused or read as something else."""
    if name not in RENAMED_NETWORKS:
        return ""
    return f" (the network named {name!r} before 2026-12-06 is now {RENAMED_NETWORKS[name]!r})"


def recipe_name(name: str) -> str:
    """The model ``train`` and ``compare`` fit for ``name``: ``default`` is :data:`DEFAULT_MODEL`,
    the recipe of the shipped model (which ``default`` names to ``predict``, ``evaluate``,
    ``export`` and ``serve``); any other name is itself. Anything but a str is a ParameterError
    (a list of names failed as "unhashable type: 'list'")."""
    if not isinstance(name, str):
        from genrekit.errors import ParameterError

        raise ParameterError(f"model={name!r:.60}: expected one model's name, found {type(name).__name__}")
    return DEFAULT_MODEL if name == "default" else name


#: Tabular feature set name -> one-line description (:func:`genrekit.features.describe_feature_sets`).
FEATURE_SETS: dict[str, str] = {
    "fma518": "FMA's 518 librosa statistics (Defferrard et al. 2017)",
    "gtzan57": "the 57 features of the published GTZAN table (Kaggle features_30_sec.csv)",
    "musicnn-msd": "pretrained musicnn (Million Song Dataset tags): 200-d embedding + 50 tag probabilities, "
                   "mean over 3 s patches",
    "musicnn-mtt": "pretrained musicnn (MagnaTagATune tags): 200-d embedding + 50 tag probabilities, "
                   "mean over 3 s patches",
    "musicnn": "both pretrained musicnn taggers (Million Song Dataset and MagnaTagATune): each one's 200-d "
               "embedding + 50 tag probabilities, mean over 3 s patches",
}

__all__ = ["CLASSICAL", "DEFAULT_MODEL", "FEATURE_SETS", "NETWORKS", "RENAMED_NETWORKS", "current_preset",
           "recipe_name", "renamed_note"]
