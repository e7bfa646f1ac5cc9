"""Build genrekit's default model and measure it: a musicnn-head on all of gtzan-mini.

1. Scores ``musicnn-head`` (logistic regression on the frozen ``musicnn-msd`` features:
   embedding and tag probabilities averaged over the clip's 3 s patches) with stratified
   4-fold CV by track on exactly bench/deep.py's folds: every track scored once, by a
   head that never saw it. (The same head on 3 s chunks, one row per patch, scored 0.8625
   on these folds: ``bench/results/musicnn/musicnn-head-chunk3.json``.)
2. Fits the same head on all 80 tracks and writes it to
   ``src/genrekit/data/default-model.genrekit``, the model ``genrekit predict`` uses when
   no ``--model`` is given; its metrics are the cross-validated ones of step 1.
3. Exports it with the network to ``src/genrekit/data/default-model.onnx`` (log-mel patches
   in, probabilities out), which ``predict`` uses where onnxruntime is installed: the same
   probabilities without PyTorch or scikit-learn.

Results: ``bench/results/musicnn/default-model.json``; docs/default-model.md is the model card.

    python bench/default_model.py
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from deep import DATA, SEED, dataset_and_folds  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
MODEL_FILE = ROOT / "src" / "genrekit" / "data" / "default-model.genrekit"
ONNX_FILE = MODEL_FILE.with_suffix(".onnx")
RESULT = ROOT / "bench" / "results" / "musicnn" / "default-model.json"
CACHE = ROOT / "bench" / "out" / "cache"
HEAD = "musicnn-head"


def main() -> None:
    from genrekit.datasets import build_feature_table
    from genrekit.evaluate import cross_validate
    from genrekit.evaluate.crossval import fit_estimator
    from genrekit.export import export_onnx
    from genrekit.features import FeatureCache
    from genrekit.models import GenreModel, default_spec, save_model

    if not DATA.exists():
        sys.exit(f"gtzan-mini not found at {DATA} (expected ../shared/data beside the repository)")
    dataset, folds = dataset_and_folds(DATA)
    spec = default_spec(HEAD)
    table, _ = build_feature_table(dataset, spec, cache=FeatureCache(CACHE), progress=True)
    if table.failures:
        sys.exit(f"failed tracks: {table.failures}")
    cv = cross_validate(table, HEAD, seed=SEED, track_folds=folds)
    fold_accuracy = [f["accuracy"] for f in cv["folds"]]
    started = time.time()
    estimator, _ = fit_estimator(HEAD, table.X, table.y, table.groups, search=False, n_iter=0, inner_splits=3, seed=SEED)
    tracks = list(dict.fromkeys(table.tracks))
    metrics = {"accuracy": round(float(np.mean(fold_accuracy)), 4), "accuracy_folds": fold_accuracy,
               "chunk_accuracy": round(float(cv["chunk_accuracy_mean"]), 4), "f1_macro": round(float(cv["f1_macro_mean"]), 4),
               "n": len(tracks), "evaluation": "stratified 4-fold CV by track on gtzan-mini (bench/default_model.py); "
                                                "the shipped head is then fitted on all tracks"}
    model = GenreModel(name=HEAD, labels=table.labels, spec=spec, estimator=estimator, metrics=metrics,
                       training={"dataset": dataset.name, "split": "all", "seed": SEED, "n_tracks": len(tracks),
                                 "track_ids": tracks, "content_sha256": sorted(table.hashes[t] for t in tracks)})
    save_model(model, MODEL_FILE)
    export_onnx(MODEL_FILE, ONNX_FILE)
    record = {"date": time.strftime("%Y-%m-%d"), "head": HEAD, "features": spec.to_dict(), "fold_accuracy": fold_accuracy,
              "accuracy_mean": metrics["accuracy"], "accuracy_std": float(np.std(fold_accuracy)),
              "chunk_accuracy_mean": metrics["chunk_accuracy"], "f1_macro_mean": metrics["f1_macro"],
              "fit_seconds_all_tracks": time.time() - started, "model_bytes": MODEL_FILE.stat().st_size,
              "onnx_bytes": ONNX_FILE.stat().st_size,
              "n_tracks": len(tracks), "n_rows": len(table.y)}
    RESULT.parent.mkdir(parents=True, exist_ok=True)
    temporary = RESULT.with_name(f".{RESULT.name}.tmp")
    temporary.write_text(json.dumps(record, indent=1))
    os.replace(temporary, RESULT)
    print(json.dumps(record, indent=1))


if __name__ == "__main__":
    main()
