"""Build genrekit's default model: ``musicnn-prior`` on all of gtzan-mini and gtzan-dev.

The model (``genrekit.models.tagprior.TagPriorClassifier``): a class-balanced logistic
regression on both pretrained musicnn taggers' features (``musicnn``: MSD and MTT embedding
and tags, averaged over the clip's 3 s patches), times the taggers' zero-shot genre prior,
divided by a temperature fitted on out-of-fold predictions grouped by blocks of four
adjacent clip ids (GTZAN's stand-in for artists). Why this one, and what lost:
bench/trust.py and docs/default-model.md.

1. Fits it on the 200 clips (80 of gtzan-mini, 120 of gtzan-dev; classes weighted to
   balance 48 clips of classical, jazz and rock against 8 of the others) and writes
   ``src/genrekit/data/default-model.genrekit``. Its metrics are those of
   ``bench/results/trust/combined.json`` (grouped 4-fold CV on the same 200 clips).
2. Exports it with both networks to ``src/genrekit/data/default-model.onnx`` (log-mel
   patches in, probabilities out), which ``predict`` uses where onnxruntime is installed:
   the light export (``genrekit export --light``, issue 20: MTT_musicnn heard on one patch
   in three of each segment, its student between; every patch where genrekit needs the
   exact features, as ``train`` does). Its metrics are the light graph's own on the same folds
   (``bench/results/student/grouped_cv-stride3-shipped.json``).

Results: ``bench/results/musicnn/default-model.json``.

    python bench/trust.py --level -20 --combined   # the protocol's figures, at the model's level (first)
    python bench/default_model.py
    python bench/default_model.py --export-only   # step 2 alone, from the model file as it is
    python bench/default_model.py --record-openings   # the model file's clips' openings recorded, then step 2
"""

from __future__ import annotations

import json
import re
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from deep import DATA, SEED  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
MODEL_FILE = ROOT / "src" / "genrekit" / "data" / "default-model.genrekit"
ONNX_FILE = MODEL_FILE.with_suffix(".onnx")
RESULT = ROOT / "bench" / "results" / "musicnn" / "default-model.json"
CACHE = ROOT / "bench" / "out" / "cache"
HEAD = "musicnn-prior"
PROTOCOL = ROOT / "bench" / "results" / "trust" / "combined-rms-20.json"  # its features at LEVEL_DBFS
PROTOCOL_ROW = "musicnn-prior (the shipped estimator)"
UNCALIBRATED_ROW = "head, balanced x prior w=1"  # the same model without its temperature
# The light graph's figures on the same folds (python bench/student.py --grouped-cv --stride 3 --shipped)
LIGHT_PROTOCOL = ROOT / "bench" / "results" / "student" / "grouped_cv-stride3-shipped.json"


def combined_dataset():
    """gtzan-mini and gtzan-dev as one dataset; a clip's group is its block of four adjacent ids."""
    from dataclasses import replace

    from genrekit.datasets import Dataset, load_gtzan

    tracks = []
    for name in ("gtzan-mini", "gtzan-dev"):
        for track in load_gtzan(DATA.parent / name).tracks:
            number = int(track.track_id.rsplit(".", 1)[-1])
            tracks.append(replace(track, artist=f"block:{track.label}:{number // 4}"))
    return Dataset(name="gtzan-mini+gtzan-dev", root=str(DATA.parent), tracks=tracks)


def training_hashes(dataset, table, tracks: list[str]) -> dict[str, list[str]]:
    """The training files' content hashes, their decoded audio's and their first 10 s's, as
    ``genrekit train`` records them: ``evaluate`` and ``compare`` then leave out a training
    clip also when it comes re-encoded (the .au clips as .wav or .flac) or whole (gtzan-mini's
    15-20 s clips are the starts of GTZAN's 30 s ones)."""
    from genrekit.features import FeatureCache

    cache, path_of = FeatureCache(CACHE), {t.track_id: t.path for t in dataset.tracks}
    return {"content_sha256": sorted({table.hashes[t] for t in tracks}),
            "audio_sha256": sorted({cache.audio_hash(path_of[t], table.hashes[t]) for t in tracks}),
            **opening_hashes(dataset, tracks)}


def opening_hashes(dataset, tracks: list[str]) -> dict[str, list[str]]:
    """``opening_sha256``: the hashes of the training clips' first 10 s of audio."""
    from genrekit.audio import opening_hash

    path_of = {t.track_id: t.path for t in dataset.tracks}
    return {"opening_sha256": sorted({h for t in tracks if (h := opening_hash(path_of[t])) is not None})}


def light_record() -> dict:
    """The light graph's grouped CV (LIGHT_PROTOCOL), if it measured the student and the stride
    genrekit ships; checked before anything is written, so that a run cannot replace the model
    file and then fail, or stamp another student's figures into the ONNX file."""
    from genrekit.features.musicnn import STUDENT, STUDENT_STRIDE

    if not LIGHT_PROTOCOL.exists():
        sys.exit(f"{LIGHT_PROTOCOL} is missing: run python bench/student.py --grouped-cv --stride "
                 f"{STUDENT_STRIDE} --shipped first")
    record = json.loads(LIGHT_PROTOCOL.read_text())
    data = record.get("data", {})
    if data.get("stride") != STUDENT_STRIDE or not str(data.get("student", "")).startswith(f"{STUDENT}.safetensors"):
        sys.exit(f"{LIGHT_PROTOCOL} measured student {data.get('student')!r} at stride {data.get('stride')}; "
                 f"genrekit ships {STUDENT}.safetensors at stride {STUDENT_STRIDE}")
    return record


def export_light() -> dict:
    """The model file as the light ONNX default, whose metrics are the light graph's own on
    the model file's folds (each fold's estimator fitted on the exact features, as the model
    file is, and fed the light graph's: ``grouped_head_on_teacher`` of LIGHT_PROTOCOL), not
    the model file's. Returns those metrics."""
    from genrekit.export import export_onnx
    from genrekit.export.onnx import _write_onnx
    from genrekit.models import load_model
    from genrekit.models.interface import read_onnx_metadata

    import onnx

    record = light_record()
    scores = record["rows"][0]["grouped_head_on_teacher"]
    export_onnx(MODEL_FILE, ONNX_FILE, light=True)
    config = read_onnx_metadata(ONNX_FILE)
    measured = load_model(MODEL_FILE).metrics  # the export's metrics say they are the exact features'; these are the graph's
    # the graph's metrics have no ece_without_temperature: its source row is not named either
    evaluation = re.sub(r"; ece_without_temperature: row '[^']*'", "", measured["evaluation"])
    metrics = {"accuracy": round(scores["accuracy"], 4), "balanced_accuracy": round(scores["balanced_accuracy"], 4),
               "recall": {k: round(v, 4) for k, v in scores["recall"].items()}, "ece": round(scores["ece"], 4),
               "n": measured["n"],
               "evaluation": f"{evaluation}; this light graph (MTT_musicnn on one patch in 3, "
                             "its student between): each fold's estimator fitted on the exact features, as the model "
                             f"file is, and fed the light graph's ({LIGHT_PROTOCOL.name}: {record['command']}, "
                             "row grouped_head_on_teacher)"}
    _write_onnx(onnx.load(str(ONNX_FILE)), {**config, "metrics": metrics}, ONNX_FILE)
    return metrics


def main() -> None:
    from genrekit._files import write_json
    from genrekit.datasets import build_feature_table
    from genrekit.evaluate.crossval import fit_estimator
    from genrekit.features import FeatureCache
    from genrekit.models import GenreModel, default_spec, save_model

    light_record()  # before the model file is touched
    if "--record-openings" in sys.argv[1:]:  # the model file as it is, with its clips' openings, exported again
        from genrekit.models import load_model

        model = load_model(MODEL_FILE)
        model.training = {**model.training, **opening_hashes(combined_dataset(), model.training["track_ids"])}
        save_model(model, MODEL_FILE)
        sys.argv.append("--export-only")
    if "--export-only" in sys.argv[1:]:
        onnx_metrics = export_light()
        print(f"-> {ONNX_FILE} ({ONNX_FILE.stat().st_size} bytes)")
        if RESULT.exists():  # the record describes the shipped files: their sizes and the export's date follow
            record = {**json.loads(RESULT.read_text()), "model_bytes": MODEL_FILE.stat().st_size,
                      "onnx_bytes": ONNX_FILE.stat().st_size, "onnx_exported": time.strftime("%Y-%m-%d"),
                      "onnx_metrics": onnx_metrics}
            write_json(RESULT, record)
        return
    if not (DATA.parent / "gtzan-dev").exists():
        sys.exit(f"gtzan-mini and gtzan-dev not found in {DATA.parent} (../shared/data beside the repository)")
    protocol = json.loads(PROTOCOL.read_text())
    row = next(r for r in protocol["rows"] if r["candidate"] == PROTOCOL_ROW)
    dataset = combined_dataset()
    spec = default_spec(HEAD)
    table, _ = build_feature_table(dataset, spec, cache=FeatureCache(CACHE), progress=True)
    if table.failures:
        sys.exit(f"failed tracks: {table.failures}")
    started = time.time()
    estimator, _ = fit_estimator(HEAD, table.X, table.y, table.groups, search=False, n_iter=0, inner_splits=3,
                                 seed=SEED, labels=table.labels, columns=table.columns)
    tracks = list(dict.fromkeys(table.tracks))
    grouped = row["grouped"]
    uncalibrated = next(r for r in protocol["rows"] if r["candidate"] == UNCALIBRATED_ROW)["grouped"]
    metrics = {"accuracy": round(grouped["accuracy"], 4), "balanced_accuracy": round(grouped["balanced_accuracy"], 4),
               "recall": {k: round(v, 4) for k, v in grouped["recall"].items()},
               "ece": round(grouped["ece"], 4), "ece_without_temperature": round(uncalibrated["ece"], 4),
               "n": len(tracks),
               "evaluation": "grouped 4-fold CV on gtzan-mini + gtzan-dev, groups: blocks of 4 adjacent ids per genre "
                             "(StratifiedGroupKFold, seed 0); each fold's model fits its temperature inside its "
                             f"training part ({PROTOCOL.name}: bench/trust.py --combined --level {spec.level_dbfs:g}, every clip "
                             f"at {spec.level_dbfs:g} dBFS RMS as the model hears it; row {PROTOCOL_ROW!r}; "
                             "ece_without_temperature: "
                             f"row {UNCALIBRATED_ROW!r}); the shipped model is then fitted on all 200 clips"}
    model = GenreModel(name=HEAD, labels=table.labels, spec=spec, estimator=estimator, metrics=metrics,
                       training={"dataset": dataset.name, "split": "all", "seed": SEED, "n_tracks": len(tracks),
                                 "track_ids": tracks, **training_hashes(dataset, table, tracks),
                                 "groups": "blocks of four adjacent clip ids per genre"})
    save_model(model, MODEL_FILE)
    onnx_metrics = export_light()
    record = {"date": time.strftime("%Y-%m-%d"), "head": HEAD, "features": spec.to_dict(), "metrics": metrics,
              "onnx_metrics": onnx_metrics,
              "temperature": estimator[-1].temperature_, "fit_seconds_all_tracks": time.time() - started,
              "model_bytes": MODEL_FILE.stat().st_size, "onnx_bytes": ONNX_FILE.stat().st_size,
              "n_tracks": len(tracks), "n_rows": len(table.y)}
    write_json(RESULT, record)
    print(json.dumps(record, indent=1))


if __name__ == "__main__":
    main()
