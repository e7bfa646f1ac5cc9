"""Exported networks on the edge: file sizes, int8 against fp32, latency, runtime memory.

For every preset whose 4 fold networks ``bench/deep.py`` kept (``bench/out/deep-models``):

- **accuracy** (``--accuracy``): each fold's network is exported to ONNX fp32 and int8
  (int8 calibrated on that fold's *training* tracks), and all three — PyTorch, fp32, int8 —
  predict the fold's test tracks, so every gtzan-mini track is scored once, by networks
  that never saw it. Reported: track accuracy of each, and how often int8's top genre is
  fp32's.
- **latency** (``--latency``, on a quiet machine; fold 0's network, or an untrained one
  when bench/deep.py has not kept it: weights change neither size nor speed): one thread; the time of one network
  window (about 3 s of audio; 7.5 s for edge-cnn, 30 s for cnn5-img) and of a 30 s clip's
  windows (the first of fold 0's test tracks that decodes to >= 29.9 s, recorded as "clip"
  and "clip_seconds"), decoded audio in, probabilities out, for PyTorch and onnxruntime
  fp32/int8 with the front end in the graph or in numpy; file sizes; the peak RSS of a
  torch-free process predicting a clip with the int8 file.

``--presets musicnn-head``: the head on the pretrained musicnn (the default model's kind),
exported with the network (log-mel patches in; no front end choice). Accuracy: on each
fold, the head fitted on the training tracks (as bench/default_model.py fits it) predicts
the test tracks from its model file (PyTorch + scikit-learn), ONNX fp32 and int8
(calibrated on the training tracks). Latency: the shipped default model, int8 calibrated
on fold 0's training tracks; one 3 s patch through the graph, and the same 30 s clip end to
end (decoded audio in: log-mel patches, network, head).

Results go to ``bench/results/edge/*.json`` (a rerun skips what is done); the tables are
printed at the end. Targets (issue 6): int8 agrees with fp32 on >= 95% of tracks and loses
<= 2 points of accuracy; edge-cnn int8 <= 1 MB and <= 5 ms per window on one core.

    python bench/deep.py --with-models --presets edge-cnn   # the fold networks, if missing
    python bench/edge.py --accuracy --latency
    python bench/edge.py                                    # the table of what is done
"""

from __future__ import annotations

import os

for _name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):  # one core, before numpy loads
    os.environ[_name] = "1"

import argparse  # noqa: E402
import json  # noqa: E402
import platform  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from deep import DATA, MODELS, N_FOLDS, dataset_and_folds  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "bench" / "results" / "edge"
VARIANTS = ("fp32-graph", "fp32-numpy", "int8-numpy", "int8-graph")
MUSICNN_HEAD = "musicnn-head"

# Peak RSS (VmHWM) of predicting one clip with an ONNX file, the modules the runtime profile
# lacks unimportable (image networks render their images with librosa: only torch is blocked).
NOT_IN_RUNTIME = ("torch,safetensors,onnx,onnxscript,librosa,numba,scipy,sklearn,pandas,pyarrow,matplotlib,xgboost,"
                  "skops,av,mutagen,threadpoolctl,joblib")
RUNTIME_CODE = """
import re, sys
class Blocked:
    def find_spec(self, name, path=None, target=None):
        if name.split('.')[0] in sys.argv[3].split(','):
            raise ModuleNotFoundError('not in the runtime', name=name)
sys.meta_path.insert(0, Blocked())
from genrekit.models import load
from genrekit.predict import predict_file
p = predict_file(load(sys.argv[1]), sys.argv[2])
hwm = re.search(r'VmHWM:\\s+(\\d+)', open('/proc/self/status').read()).group(1)
print(p.genre, int(hwm) / 1024)
"""


def _write(path: Path, record: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.tmp")
    temporary.write_text(json.dumps(record, indent=1))
    os.replace(temporary, path)


def _median_ms(call, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        call()
        times.append(time.perf_counter() - start)
    return 1000 * float(np.median(times))


def _export(model: Path, folder: Path, calibration: list) -> dict[str, Path]:
    from genrekit.export import export_onnx

    files = {}
    for variant in VARIANTS:
        precision, frontend = variant.split("-")
        files[variant] = export_onnx(model, folder / f"{variant}.onnx", frontend=frontend, int8=precision == "int8",
                                     calibration=calibration)
    return files


def _full_clip(by_id: dict, test_ids: list) -> tuple[str, float]:
    """The first test track that lasts a full 30 s, and its decoded duration: most of
    gtzan-mini's clips are 15-20 s prefixes, and a per-30 s figure needs 30 s of audio."""
    from genrekit import audio

    for track_id in test_ids:
        y, sr = audio.load(by_id[track_id].path, sr=None)
        if len(y) / sr >= 29.9:
            return by_id[track_id].path, len(y) / sr
    sys.exit("none of fold 0's test tracks lasts 30 s: the latency clip must")


def accuracy_fold(preset: str, fold: int, data: Path, models: Path) -> dict:
    """PyTorch, fp32 and int8 (numpy front end) on one fold's test tracks."""
    import torch

    from genrekit.export import export_onnx
    from genrekit.models import load
    from genrekit.predict import predict_file

    torch.set_num_threads(1)
    dataset, folds = dataset_and_folds(data)
    train_ids, test_ids = folds[fold]
    by_id = {t.track_id: t for t in dataset.tracks}
    model = models / f"{preset}-fold{fold}.safetensors"
    with tempfile.TemporaryDirectory() as tmp:
        fp32 = export_onnx(model, Path(tmp) / "fp32.onnx", frontend="numpy")
        int8 = export_onnx(model, Path(tmp) / "int8.onnx", frontend="numpy", int8=True,
                           calibration=[by_id[t].path for t in train_ids])
        predictors = {"torch": load(model), "fp32": load(fp32), "int8": load(int8)}
        genres = {name: [predict_file(p, by_id[t].path).genre for t in test_ids] for name, p in predictors.items()}
    truth = [by_id[t].label for t in test_ids]
    return {"preset": preset, "fold": fold, "tracks": test_ids, "truth": truth, "genres": genres}


def musicnn_head_fold(fold: int, data: Path) -> dict:
    """The musicnn head fitted on one fold's training tracks: its model file, ONNX fp32 and
    int8 (calibrated on the training tracks) on the fold's test tracks."""
    import torch

    from genrekit.datasets import build_feature_table
    from genrekit.evaluate.crossval import fit_estimator
    from genrekit.export import export_onnx
    from genrekit.features import FeatureCache
    from genrekit.models import GenreModel, default_spec, save_model
    from genrekit.models import load
    from genrekit.predict import predict_file

    torch.set_num_threads(1)
    dataset, folds = dataset_and_folds(data)
    train_ids, test_ids = folds[fold]
    by_id = {t.track_id: t for t in dataset.tracks}
    spec = default_spec(MUSICNN_HEAD)
    table, _ = build_feature_table(dataset, spec, cache=FeatureCache(ROOT / "bench" / "out" / "cache"), progress=False)
    rows = np.isin(table.tracks, train_ids)
    estimator, _ = fit_estimator(MUSICNN_HEAD, table.X[rows], table.y[rows], table.groups[rows], search=False, n_iter=0,
                                 inner_splits=3, seed=0)
    model = GenreModel(name=MUSICNN_HEAD, labels=table.labels, spec=spec, estimator=estimator,
                       training={"track_ids": list(train_ids)})
    with tempfile.TemporaryDirectory() as tmp:
        path = save_model(model, Path(tmp) / "head.genrekit")
        fp32 = export_onnx(path, Path(tmp) / "fp32.onnx")
        int8 = export_onnx(path, Path(tmp) / "int8.onnx", int8=True, calibration=[by_id[t].path for t in train_ids])
        predictors = {"torch": load(path), "fp32": load(fp32), "int8": load(int8)}
        genres = {name: [predict_file(p, by_id[t].path).genre for t in test_ids] for name, p in predictors.items()}
    truth = [by_id[t].label for t in test_ids]
    return {"preset": MUSICNN_HEAD, "fold": fold, "tracks": test_ids, "truth": truth, "genres": genres}


def musicnn_head_latency(data: Path, repeats: int) -> dict:
    """The shipped default model (model file, ONNX fp32, int8): sizes, one thread's time per
    3 s patch (the graph alone) and per 30 s clip end to end, runtime peak RSS."""
    import torch

    from genrekit.export import export_onnx
    from genrekit.features.musicnn import BOTH, FEATURE_SETS, TAGGERS, log_mel_patches, weights_path
    from genrekit.models import default_model_path, load
    from genrekit.predict import song_chunks

    torch.set_num_threads(1)
    dataset, folds = dataset_and_folds(data)
    train_ids, test_ids = folds[0]
    by_id = {t.track_id: t for t in dataset.tracks}
    (clip, clip_seconds), model_file = _full_clip(by_id, test_ids), default_model_path(onnx=False)
    spec = load(model_file).spec  # the taggers whose weights the model file needs beside it
    networks = TAGGERS if spec.name == BOTH else (FEATURE_SETS[spec.name],)
    with tempfile.TemporaryDirectory() as tmp:
        files = {"fp32": export_onnx(model_file, Path(tmp) / "fp32.onnx"),
                 "int8": export_onnx(model_file, Path(tmp) / "int8.onnx", int8=True,
                                     calibration=[by_id[t].path for t in train_ids])}
        record = {"preset": MUSICNN_HEAD, "clip": Path(clip).name, "clip_seconds": clip_seconds,
                  "weights": "the shipped default model",
                  "sizes": {"model file + musicnn weights": model_file.stat().st_size
                            + sum(Path(str(weights_path(network))).stat().st_size for network in networks),
                            **{name: path.stat().st_size for name, path in files.items()}},
                  "patch_ms": {}, "clip_ms": {}}
        predictors = {"torch": load(model_file), **{n: load(p, threads=1) for n, p in files.items()}}
        first = predictors["fp32"]
        chunk = next(np.array(c) for _, _, c in song_chunks(clip, sr=first.sample_rate, chunk_seconds=30.0, skip=0.0))
        patch = log_mel_patches(chunk, sr=first.sample_rate)[:1]
        for name, predictor in predictors.items():
            predictor.predict_proba([chunk])  # warm up
            record["clip_ms"][name] = _median_ms(lambda: predictor.predict_proba([chunk]), max(3, repeats // 5))
            if name != "torch":
                record["patch_ms"][name] = _median_ms(lambda: predictor._run(patch), repeats)
        run = subprocess.run([sys.executable, "-c", RUNTIME_CODE, str(files["int8"]), str(clip), NOT_IN_RUNTIME],
                             capture_output=True, text=True, check=True)
        record["runtime_peak_rss_mb"] = float(run.stdout.split()[-1])
    return record


def latency(preset: str, data: Path, models: Path, repeats: int) -> dict:
    """Single-thread time per window and per 30 s clip, file sizes and runtime peak RSS."""
    import torch

    from genrekit.models import load
    from genrekit.predict import song_chunks

    torch.set_num_threads(1)
    dataset, folds = dataset_and_folds(data)
    train_ids, test_ids = folds[0]
    by_id = {t.track_id: t for t in dataset.tracks}
    model = models / f"{preset}-fold0.safetensors"
    clip, clip_seconds = _full_clip(by_id, test_ids)
    with tempfile.TemporaryDirectory() as tmp:
        weights = "fold 0"
        if not model.exists():  # weights change neither size nor speed: an untrained network will do
            from genrekit.models.nets import build_network
            from genrekit.models.nets.artifact import save_network

            torch.manual_seed(0)
            weights, model = "untrained", save_network(Path(tmp) / "model.safetensors",
                                                       build_network(preset, len(dataset.labels)), preset=preset,
                                                       labels=dataset.labels)
        record = {"preset": preset, "clip": Path(clip).name, "clip_seconds": clip_seconds, "weights": weights,
                  "sizes": {"safetensors": model.stat().st_size}, "window_ms": {}, "clip_ms": {}}
        files = _export(model, Path(tmp), [by_id[t].path for t in train_ids[:20]])
        predictors = {"torch": load(model)}
        for variant, path in files.items():
            record["sizes"][variant] = path.stat().st_size
            predictors[variant] = load(path, threads=1)
        first = predictors["torch"]
        chunks = [np.array(c) for _, _, c in song_chunks(clip, sr=first.sample_rate, chunk_seconds=first.chunk_seconds,
                                                         skip=0.0, pad=True)]
        record["window_seconds"], record["windows_per_clip"] = first.chunk_seconds, len(chunks)
        for name, predictor in predictors.items():
            predictor.predict_proba(chunks[:1])  # warm up
            record["window_ms"][name] = _median_ms(lambda: predictor.predict_proba(chunks[:1]), repeats)
            # one window at a time, as a phone would stream them
            record["clip_ms"][name] = _median_ms(lambda: [predictor.predict_proba([chunk]) for chunk in chunks],
                                                 max(3, repeats // 10))
        record["network_ms"] = {}  # the graph alone, its input computed beforehand
        for name in ("fp32-numpy", "int8-numpy"):
            predictor = predictors[name]
            examples = predictor.examples(chunks[:1])
            record["network_ms"][name] = _median_ms(lambda: predictor._proba(examples), repeats)
        blocked = "torch" if predictors["torch"].takes_images else NOT_IN_RUNTIME
        run = subprocess.run([sys.executable, "-c", RUNTIME_CODE, str(files["int8-numpy"]), str(clip), blocked],
                             capture_output=True, text=True, check=True)
        record["runtime_peak_rss_mb"] = float(run.stdout.split()[-1])
    return record


def _accuracy_cells(out: Path, preset: str) -> list[str]:
    """Tracks, accuracy of torch / fp32 / int8 and int8's agreement with fp32 over the folds done."""
    folds = [json.loads(p.read_text()) for p in sorted(out.glob(f"{preset}-fold*.json"))]
    if not folds:
        return []
    truth = sum((f["truth"] for f in folds), [])
    genres = {k: sum((f["genres"][k] for f in folds), []) for k in ("torch", "fp32", "int8")}
    acc = {k: np.mean([g == t for g, t in zip(v, truth)]) for k, v in genres.items()}
    agree = np.mean([a == b for a, b in zip(genres["fp32"], genres["int8"])])
    return [f"{len(truth)} ({len(folds)} folds)", f"{acc['torch']:.3f} / {acc['fp32']:.3f} / {acc['int8']:.3f}",
            f"{agree:.1%}"]


def _table(out: Path, names: list[str], header: str, latency_cells) -> str:
    """A markdown table, a row per model with results: its accuracy cells, then
    ``latency_cells`` of its latency record ("–" where a part is not measured yet)."""
    lines, width = [header, "|---" * (header.count("|") - 1) + "|"], header.count("|") - 5
    for name in names:
        lat = out / f"{name}-latency.json"
        accuracy = _accuracy_cells(out, name)
        if accuracy or lat.exists():
            latency = latency_cells(json.loads(lat.read_text())) if lat.exists() else ["–"] * width
            lines.append("| " + " | ".join([name, *(accuracy or ["–"] * 3), *latency]) + " |")
    return "\n".join(lines) if len(lines) > 2 else ""


def _network_latency_cells(r: dict) -> list[str]:
    mb, w, c = {k: v / 1e6 for k, v in r["sizes"].items()}, r["window_ms"], r["clip_ms"]
    return [f"{mb['safetensors']:.2f} MB", f"{mb['fp32-graph']:.2f} / {mb['fp32-numpy']:.2f} MB",
            f"{mb['int8-numpy']:.2f} / {mb['int8-graph']:.2f} MB", f"{r['window_seconds']:.1f} s",
            " / ".join(f"{w[k]:.1f}" for k in ("torch", "fp32-graph", "fp32-numpy", "int8-numpy", "int8-graph")),
            " / ".join(f"{r['network_ms'][k]:.1f}" for k in ("fp32-numpy", "int8-numpy")),
            " / ".join(f"{c[k]:.0f}" for k in ("torch", "fp32-numpy", "int8-numpy")),
            f"{r['runtime_peak_rss_mb']:.0f} MB"]


def _musicnn_latency_cells(r: dict) -> list[str]:
    mb = {k: v / 1e6 for k, v in r["sizes"].items()}
    return [f"{mb['model file + musicnn weights']:.2f} MB", f"{mb['fp32']:.2f} MB", f"{mb['int8']:.2f} MB",
            f"{r['patch_ms']['fp32']:.1f} / {r['patch_ms']['int8']:.1f}",
            " / ".join(f"{r['clip_ms'][k]:.0f}" for k in ("torch", "fp32", "int8")),
            f"{r['runtime_peak_rss_mb']:.0f} MB"]


def table(out: Path, presets: list[str]) -> str:
    return _table(out, presets, "| preset | tracks | accuracy torch / fp32 / int8 | int8 = fp32 top genre | safetensors "
                  "| fp32 (graph / numpy) | int8 (numpy / graph) | window | ms per window: torch / fp32 graph / fp32 numpy "
                  "/ int8 numpy / int8 graph | network alone, ms: fp32 / int8 | ms per 30 s clip: torch / fp32 numpy "
                  "/ int8 numpy | runtime peak RSS |", _network_latency_cells)


def musicnn_table(out: Path) -> str:
    return _table(out, [MUSICNN_HEAD], "| model | tracks | accuracy model file / fp32 / int8 | int8 = fp32 top genre "
                  "| model file + musicnn weights | fp32 | int8 | ms per 3 s patch (graph): fp32 / int8 "
                  "| ms per 30 s clip: model file / fp32 / int8 | runtime peak RSS |", _musicnn_latency_cells)


def main() -> None:
    from genrekit.models.nets import PRESETS

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--presets", nargs="+", default=[*PRESETS, MUSICNN_HEAD])
    parser.add_argument("--accuracy", action="store_true", help="score fp32 and int8 on every fold's test tracks")
    parser.add_argument("--latency", action="store_true", help="time the files (run on a quiet machine)")
    parser.add_argument("--repeats", type=int, default=50)
    parser.add_argument("--data", type=Path, default=DATA)
    parser.add_argument("--models", type=Path, default=MODELS)
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args()
    if not args.data.is_dir():
        sys.exit(f"gtzan-mini not found at {args.data}: this benchmark needs ../shared/data (see its README)")
    for preset in args.presets:
        if preset == MUSICNN_HEAD:
            for fold in range(N_FOLDS) if args.accuracy else ():
                target = args.out / f"{preset}-fold{fold}.json"
                if not target.exists():
                    print(f"{time.strftime('%H:%M:%S')} {preset} fold {fold}: model file, fp32 and int8 ...", flush=True)
                    _write(target, musicnn_head_fold(fold, args.data))
            if args.latency and not (args.out / f"{preset}-latency.json").exists():
                print(f"{time.strftime('%H:%M:%S')} {preset}: latency ...", flush=True)
                _write(args.out / f"{preset}-latency.json", musicnn_head_latency(args.data, args.repeats))
            continue
        have = [f for f in range(N_FOLDS) if (args.models / f"{preset}-fold{f}.safetensors").exists()]
        if args.accuracy:
            for fold in have:
                target = args.out / f"{preset}-fold{fold}.json"
                if not target.exists():
                    print(f"{time.strftime('%H:%M:%S')} {preset} fold {fold}: fp32 and int8 ...", flush=True)
                    _write(target, accuracy_fold(preset, fold, args.data, args.models))
        if args.latency and not (args.out / f"{preset}-latency.json").exists():
            print(f"{time.strftime('%H:%M:%S')} {preset}: latency ...", flush=True)
            _write(args.out / f"{preset}-latency.json", latency(preset, args.data, args.models, args.repeats))
        if args.accuracy and not have:
            print(f"{preset}: no fold networks in {args.models} (python bench/deep.py --with-models --presets {preset})")
    print(f"gtzan-mini ({args.data}), {N_FOLDS}-fold CV by track (bench/deep.py's folds); one thread; "
          f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, {time.strftime('%Y-%m-%d')}")
    print(table(args.out, [p for p in args.presets if p != MUSICNN_HEAD]))
    if MUSICNN_HEAD in args.presets:
        print(musicnn_table(args.out))


if __name__ == "__main__":
    main()
