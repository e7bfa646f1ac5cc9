"""Deep presets vs the best classical models on gtzan-mini: stratified 4-fold CV by track.

Every (preset, fold) trains in its own process, on every training track of the fold, for a
fixed number of epochs (the last weights are kept: no test track ever picks an epoch), and
writes one JSON under ``--out``; a rerun skips what is done, so an interrupted bench resumes.
The classical rows (fma518 features) are scored on exactly the same folds.

    python bench/deep.py                       # all presets, 4 folds, then the table
    python bench/deep.py --presets short-chunk-resnet cnn4 --epochs 20
    python bench/deep.py --table-only          # print the table of what is done
    python bench/deep.py --timing              # s/epoch: 2 epochs of each preset on fold 0, nothing else running

Reads ``../shared/data/gtzan-mini``; exits with a message when it is absent.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data" / "gtzan-mini"
OUT = ROOT / "bench" / "results" / "deep"
MODELS = ROOT / "bench" / "out" / "deep-models"  # each fold's trained network, for bench/edge.py
CLASSICAL = ("logreg", "extra-trees", "ensemble")
N_FOLDS, SEED = 4, 0


def peak_rss_mb() -> float:
    """This process's peak RSS. VmHWM, not getrusage's ru_maxrss: Linux carries the
    parent's peak across fork + exec into ru_maxrss."""
    status = Path("/proc/self/status").read_text()
    return int(next(line.split()[1] for line in status.splitlines() if line.startswith("VmHWM:"))) / 1024


def dataset_and_folds(data: Path):
    from genrekit.datasets import kfold_splits, load_gtzan

    dataset = load_gtzan(data)
    ids = np.array([t.track_id for t in dataset.tracks])
    labels = np.array([t.label for t in dataset.tracks])
    folds = kfold_splits(labels, np.asarray(dataset.groups), n_splits=N_FOLDS, seed=SEED)
    return dataset, [(ids[train].tolist(), ids[test].tolist()) for train, test in folds]


def run_fold(preset: str, fold: int, epochs: int | None, data: Path, out: Path, *, keep_model: bool = False) -> None:
    """Train one preset on one fold's training tracks and score its test tracks."""
    import torch

    from genrekit.evaluate import model_fold
    from genrekit.models.nets import PRESETS, count_parameters
    from genrekit.models.nets.artifact import save_network

    torch.set_num_threads(os.cpu_count() or 1)
    dataset, folds = dataset_and_folds(data)
    train_ids, test_ids = folds[fold]
    epochs = epochs or PRESETS[preset].training.get("epochs", 30)
    result, net = model_fold(preset, train_ids, test_ids, dataset=dataset, epochs=epochs, seed=SEED)
    if keep_model:  # a real fold, not a timing run: keep the network for bench/edge.py
        MODELS.mkdir(parents=True, exist_ok=True)
        model = save_network(MODELS / f"{preset}-fold{fold}.safetensors", net, preset=preset, labels=dataset.labels)
        size = model.stat().st_size
    else:
        with tempfile.TemporaryDirectory() as tmp:
            size = save_network(Path(tmp) / "model.safetensors", net, preset=preset, labels=dataset.labels).stat().st_size
    record = {
        "preset": preset, "fold": fold, "epochs": result["epochs"],
        "track_accuracy": result["accuracy"], "track_accuracy_vote": result["accuracy_vote"],
        "chunk_accuracy": result["chunk_accuracy"], "f1_macro": result["f1_macro"],
        "n_train_chunks": result["n_train_chunks"], "n_test_tracks": result["n_test_tracks"],
        "seconds_per_epoch": result["seconds_per_epoch"], "fit_seconds": result["fit_seconds"],
        "parameters": count_parameters(net), "model_bytes": size,
        "peak_rss_mb": peak_rss_mb(),
        "final_train_accuracy": result["history"][-1]["train_accuracy"], "failures": result["failures"],
        "threads": torch.get_num_threads(),
    }
    out.mkdir(parents=True, exist_ok=True)
    target = out / f"{preset}-fold{fold}.json"
    temporary = target.with_name(f".{target.name}.tmp")
    temporary.write_text(json.dumps(record, indent=1))
    os.replace(temporary, target)


def classical_rows(data: Path, out: Path) -> dict:
    from genrekit.datasets import build_feature_table
    from genrekit.evaluate import cross_validate
    from genrekit.features import FeatureCache, FeatureSpec

    path = out / "classical.json"
    if path.exists():
        return json.loads(path.read_text())
    dataset, folds = dataset_and_folds(data)
    table, _ = build_feature_table(dataset, FeatureSpec("fma518"), cache=FeatureCache(ROOT / "bench" / "out" / "cache"),
                                   progress=False)
    rows = {}
    for name in CLASSICAL:
        result = cross_validate(table, name, seed=SEED, track_folds=folds)
        rows[name] = {"fold_accuracy": [f["accuracy"] for f in result["folds"]], "fit_seconds": result["fit_seconds"]}
    out.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(rows, indent=1))
    return rows


def table(out: Path, presets: list[str]) -> str:
    from genrekit.models.nets import PRESETS

    lines = ["| model | track acc (mean ± sd over 4 folds) | per fold | track acc, vote | chunk acc | s/epoch (quiet) "
             "| epochs | parameters | size (MB) | peak RSS (MB) |", "|---|---|---|---|---|---|---|---|---|---|"]
    for preset in presets:
        runs = [json.loads(p.read_text()) for p in sorted(out.glob(f"{preset}-fold*.json"))]
        if not runs:
            continue
        track = np.array([r["track_accuracy"] for r in runs])
        timing = out / "timing" / f"{preset}-fold0.json"
        seconds = f'{json.loads(timing.read_text())["seconds_per_epoch"]:.1f}' if timing.exists() else "–"
        done = "" if len(runs) == N_FOLDS else f" ({len(runs)} of {N_FOLDS} folds)"
        lines.append(
            f"| {preset}{done} — {PRESETS[preset].description} | {track.mean():.4f} ± {track.std():.3f} "
            f"| {' '.join(f'{a:.2f}' for a in track)} | {np.mean([r['track_accuracy_vote'] for r in runs]):.3f} | {np.mean([r['chunk_accuracy'] for r in runs]):.3f} "
            f"| {seconds} | {runs[0]['epochs']} | {runs[0]['parameters']:,} "
            f"| {runs[0]['model_bytes'] / 1e6:.2f} | {max(r['peak_rss_mb'] for r in runs):.0f} |"
        )
    classical = out / "classical.json"
    if classical.exists():
        for name, row in json.loads(classical.read_text()).items():
            accuracy = np.array(row["fold_accuracy"])
            lines.append(f"| {name} (fma518 features, classical) | {accuracy.mean():.4f} ± {accuracy.std():.3f} "
                         f"| {' '.join(f'{a:.2f}' for a in accuracy)} | – | – | {row['fit_seconds']:.1f} s/fit | – | – | – | – |")
    return "\n".join(lines)


def main() -> None:
    from genrekit.models.nets import PRESETS

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--presets", nargs="+", default=list(PRESETS))
    parser.add_argument("--epochs", type=int, default=None, help="epochs per fold (default: the preset's)")
    parser.add_argument("--folds", type=int, nargs="+", default=list(range(N_FOLDS)))
    parser.add_argument("--data", type=Path, default=DATA)
    parser.add_argument("--out", type=Path, default=OUT)
    parser.add_argument("--table-only", action="store_true")
    parser.add_argument("--with-models", action="store_true",
                        help=f"also rerun folds whose network is not in {MODELS} (bench/edge.py needs them)")
    parser.add_argument("--timing", action="store_true", help="time 2 epochs of each preset on fold 0 (run on a quiet machine)")
    parser.add_argument("--worker", nargs=2, metavar=("PRESET", "FOLD"), help=argparse.SUPPRESS)
    parser.add_argument("--keep-model", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if not args.data.is_dir():
        sys.exit(f"gtzan-mini not found at {args.data}: this benchmark needs ../shared/data (see its README)")
    if args.worker:
        run_fold(args.worker[0], int(args.worker[1]), args.epochs, args.data, args.out, keep_model=args.keep_model)
        return
    if args.timing:
        for preset in args.presets:
            command = [sys.executable, __file__, "--worker", preset, "0", "--data", str(args.data),
                       "--out", str(args.out / "timing"), "--epochs", "2"]
            subprocess.run(command, check=True)
    elif not args.table_only:
        classical_rows(args.data, args.out)
        for preset in args.presets:
            for fold in args.folds:
                if (args.out / f"{preset}-fold{fold}.json").exists() and (
                        not args.with_models or (MODELS / f"{preset}-fold{fold}.safetensors").exists()):
                    continue
                print(f"{time.strftime('%H:%M:%S')} {preset} fold {fold} ...", flush=True)
                command = [sys.executable, __file__, "--worker", preset, str(fold), "--data", str(args.data),
                           "--out", str(args.out), "--keep-model"] + (["--epochs", str(args.epochs)] if args.epochs else [])
                subprocess.run(command, check=True)
    print(f"gtzan-mini ({args.data}), stratified {N_FOLDS}-fold CV by track, seed {SEED}; "
          f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, {time.strftime('%Y-%m-%d')}")
    print(table(args.out, args.presets))


if __name__ == "__main__":
    main()
