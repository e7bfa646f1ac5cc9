"""Training: a dataset in, a held-out-evaluated model file and a run folder out.

The package holds every step of making a model, for every kind:

- :mod:`~genrekit.train.splits`: train, validation and test tracks (seeded, by track or artist);
- :mod:`~genrekit.train.recipes`: how each kind fits (:class:`TableRecipe`, :class:`NetworkRecipe`),
  which options it takes, and :func:`make_recipe`; cross-validation fits through them;
- :mod:`~genrekit.train.config`: a network's :class:`TrainConfig` and its ``--config`` file;
- :mod:`~genrekit.train.network_data`, :mod:`~genrekit.train.loop`,
  :mod:`~genrekit.train.checkpoint`, :mod:`~genrekit.train.plots`: a network's examples,
  the training loop, its checkpoints and its history plots;
- :mod:`~genrekit.train.classical`, :mod:`~genrekit.train.network`: each kind's fitting step
  of a run (:func:`train_model`, :func:`train_network_model`);
- :mod:`~genrekit.train.run`: the steps every kind shares and :func:`write_run_folder`, the
  one run-folder writer; :mod:`~genrekit.train.by_name`: :func:`train`, any recipe by name.

Names resolve on first use (PEP 562), so ``genrekit.evaluate`` can fit folds through
:mod:`genrekit.train.recipes` while :func:`train` scores through ``genrekit.evaluate``, and
importing the package loads neither scikit-learn nor PyTorch.
"""

from genrekit._lazy import lazy_attributes, lazy_dir


_API = {
    "train": "genrekit.train.by_name",
    "train_model": "genrekit.train.classical",
    "small_dataset_cv": "genrekit.train.classical",
    "SMALL_DATASET": "genrekit.train.classical",
    "MODEL_FILE": "genrekit.train.classical",
    "train_network_model": "genrekit.train.network",
    "NETWORK_FILE": "genrekit.train.network",
    "CONFIG_FILE": "genrekit.train.network",
    "TrainResult": "genrekit.train.run",
    "Trained": "genrekit.train.run",
    "SUMMARY_METRICS": "genrekit.train.run",
    "run_training": "genrekit.train.run",
    "training_record": "genrekit.train.run",
    "write_run_folder": "genrekit.train.run",
    "SPLITS": "genrekit.train.splits",
    "assign_splits": "genrekit.train.splits",
    "TrainConfig": "genrekit.train.config",
    "read_config": "genrekit.train.config",
    "Recipe": "genrekit.train.recipes",
    "TableRecipe": "genrekit.train.recipes",
    "NetworkRecipe": "genrekit.train.recipes",
    "Fitted": "genrekit.train.recipes",
    "ChunkProba": "genrekit.train.recipes",
    "make_recipe": "genrekit.train.recipes",
    "recipe_type": "genrekit.train.recipes",
    "recipe_options": "genrekit.train.recipes",
    "train_network": "genrekit.train.loop",
    "write_history": "genrekit.train.plots",
}


__getattr__ = lazy_attributes(__name__, _API)
__dir__ = lazy_dir(globals(), _API)


__all__ = list(_API)
