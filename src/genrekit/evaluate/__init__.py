"""Evaluation: scores, chunk-to-track aggregation, cross-validation, comparison, reports."""

from genrekit.evaluate.crossval import (cross_validate, cross_validate_recipe, dataset_folds, fit_estimator, fold,
                                       model_fold, table_folds)
from genrekit.evaluate.metrics import (AGGREGATIONS, accuracy_interval, aggregate_tracks, classification_scores,
                                      evaluation_metrics, song_scores)
from genrekit.evaluate.run import (Evaluation, compare_models, evaluate_model, evaluate_songs, predict_dataset,
                                   predictions_frame, score_dataset, track_predictions)
from genrekit.evaluate.report import comparison_markdown, metrics_markdown, write_evaluation, write_json

__all__ = [
    "AGGREGATIONS",
    "accuracy_interval",
    "aggregate_tracks",
    "classification_scores",
    "compare_models",
    "comparison_markdown",
    "evaluate_model",
    "Evaluation",
    "cross_validate",
    "cross_validate_recipe",
    "dataset_folds",
    "evaluate_songs",
    "predict_dataset",
    "model_fold",
    "fold",
    "track_predictions",
    "evaluation_metrics",
    "fit_estimator",
    "metrics_markdown",
    "predictions_frame",
    "score_dataset",
    "song_scores",
    "table_folds",
    "write_evaluation",
    "write_json",
]
