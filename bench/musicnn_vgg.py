"""Do musicnn's other MSD-trained backbone (its VGG) see gtzan-mini's hard clips differently?

Exploratory evidence for issue 5's >= 0.92 target: the six clips that every head and
fine-tuning on MSD_musicnn gets wrong (bench/musicnn.py --errors). The musicnn wheel also
ships VGG-like networks trained on the same tags (MSD_vgg, MTT_vgg); genrekit does not port
them, so their features come from the original TensorFlow code, in a development
environment only (as tests/data/musicnn_reference.py):

    python3 -m venv /tmp/tfvenv && /tmp/tfvenv/bin/pip install tensorflow-cpu==2.21.0 tf_keras==2.21.0 librosa==0.11.0
    /tmp/tfvenv/bin/pip install --no-deps musicnn==0.1.0
    /tmp/tfvenv/bin/python bench/musicnn_vgg.py --extract    # writes bench/out/musicnn-vgg.npz
    python bench/musicnn_vgg.py                              # genrekit's venv: the heads, the table

Input as genrekit's musicnn features: 16 kHz, 96 mel bands, mel power in float32 (reflect
padding), log10(10000 x + 1), 3 s patches without overlap. Per patch: the VGG's last
pooling layer flattened (256 values) and its 50 tag probabilities; a track is the mean of
its patches. The head is genrekit's ``musicnn-head`` pipeline, fitted on each of
bench/deep.py's folds. Result: ``bench/results/musicnn/vgg.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data" / "gtzan-mini"
FEATURES = ROOT / "bench" / "out" / "musicnn-vgg.npz"
RESULT = ROOT / "bench" / "results" / "musicnn" / "vgg.json"
CACHE = ROOT / "bench" / "out" / "cache"  # bench/musicnn.py's feature cache
BACKBONES = ("MSD_vgg", "MTT_vgg")


def extract(data: Path) -> None:
    """Under TensorFlow with the musicnn wheel: each clip's per-patch features and tags."""
    os.environ["TF_USE_LEGACY_KERAS"] = "1"
    here = Path(__file__).resolve().parent
    sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != here]  # "musicnn" is the wheel, not bench/musicnn.py
    import librosa
    import musicnn
    import tensorflow as tf
    from musicnn import models

    tf.compat.v1.disable_eager_execution()
    clips = sorted(p for p in (data / "genres").glob("*/*") if p.suffix in (".au", ".wav"))
    features = {}
    for backbone in BACKBONES:
        tf.compat.v1.reset_default_graph()
        with tf.name_scope("model"):
            x = tf.compat.v1.placeholder(tf.float32, [None, 187, 96])
            is_training = tf.compat.v1.placeholder(tf.bool)
            logits, *_, pool5 = models.define_model(x, is_training, backbone, 50)
        session = tf.compat.v1.Session()
        tf.compat.v1.train.Saver().restore(session, os.path.dirname(musicnn.__file__) + "/" + backbone + "/")
        for clip in clips:
            audio, sr = librosa.load(clip, sr=16000)
            mel = librosa.feature.melspectrogram(y=audio, sr=sr, hop_length=256, n_fft=512, n_mels=96, pad_mode="reflect")
            rep = np.log10(10000 * mel.T.astype(np.float32) + 1)
            patches = np.stack([rep[i:i + 187] for i in range(0, rep.shape[0] - 187 + 1, 187)])
            tags, pooled = session.run([tf.sigmoid(logits), pool5], feed_dict={x: patches, is_training: False})
            features[f"{backbone}/{clip.stem}"] = np.concatenate([pooled.reshape(len(patches), -1), tags], axis=1)
        print(backbone, len(clips), "clips", flush=True)
    FEATURES.parent.mkdir(parents=True, exist_ok=True)
    np.savez(FEATURES, **features)


def score(data: Path) -> None:
    """The default model's head on each backbone's track means, alone and beside musicnn-msd."""
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from deep import SEED, dataset_and_folds

    from genrekit.datasets import build_feature_table
    from genrekit.features import FeatureCache, FeatureSpec
    from genrekit.models import make_model

    if not FEATURES.exists():
        sys.exit(f"{FEATURES} is missing: run this script with --extract under TensorFlow first (see its docstring)")
    stored = np.load(FEATURES)
    dataset, folds = dataset_and_folds(data)
    label = {t.track_id: t.label for t in dataset.tracks}
    table, _ = build_feature_table(dataset, FeatureSpec("musicnn-msd"), cache=FeatureCache(CACHE), progress=False)
    msd = dict(zip(table.tracks, table.X))
    vgg = {b: {t: stored[f"{b}/{t}"].mean(axis=0) for t in label} for b in BACKBONES}
    inputs = {"MSD_vgg": vgg["MSD_vgg"], "MTT_vgg": vgg["MTT_vgg"],
              "MSD_vgg + musicnn-msd": {t: np.r_[vgg["MSD_vgg"][t], msd[t]] for t in label}}
    rows = []
    for name, row in inputs.items():
        accuracy, wrong = [], []
        for train_ids, test_ids in folds:
            head = make_model("musicnn-head", seed=SEED).fit(np.stack([row[t] for t in train_ids]), [label[t] for t in train_ids])
            predicted = head.predict(np.stack([row[t] for t in test_ids]))
            accuracy.append(float(np.mean(predicted == [label[t] for t in test_ids])))
            wrong += [t for t, p in zip(test_ids, predicted) if p != label[t]]
        rows.append({"features": name, "dimensions": len(next(iter(row.values()))), "fold_accuracy": accuracy,
                     "wrong": sorted(wrong)})
    RESULT.write_text(json.dumps({"rows": rows, "tracks": len(label), "date": time.strftime("%Y-%m-%d")}, indent=1))


def table() -> str:
    record = json.loads(RESULT.read_text())
    lines = [f"musicnn-head on musicnn's VGG backbones ({record['tracks']} tracks, bench/deep.py's folds, {record['date']}):", "",
             "| features | dimensions | track acc (mean ± sd) | per fold | wrong |", "|---|---|---|---|---|"]
    for r in record["rows"]:
        accuracy = np.array(r["fold_accuracy"])
        lines.append(f"| {r['features']} | {r['dimensions']} | {accuracy.mean():.3f} ± {accuracy.std():.3f} | "
                     f"{' '.join(f'{a:.2f}' for a in accuracy)} | {', '.join(r['wrong'])} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--extract", action="store_true", help="compute the VGG features (needs TensorFlow and musicnn)")
    parser.add_argument("--data", type=Path, default=DATA)
    args = parser.parse_args()
    if not args.data.exists():
        sys.exit(f"gtzan-mini not found at {args.data} (expected ../shared/data beside the repository)")
    if args.extract:
        extract(args.data)
        return
    if not RESULT.exists():
        score(args.data)
    print(table())


if __name__ == "__main__":
    main()
