"""musicnn on gtzan-mini: do the ported networks tag genres, how fast, and how good a head on them is.

- ``--tags``: each clip's tag probabilities (mean over its 3 s patches) from both models;
  ROC-AUC of the tags that name a GTZAN genre, ranking that genre's clips against the rest
  (issue 5's faithfulness targets: >= 0.95 for MTT 'classical' and MSD metal, jazz, blues,
  Hip-Hop; >= 0.85 for MSD rock, country, pop).
- ``--timing`` (on a quiet machine): one core; a 30 s clip's decode + log-mel + network, per model.
- ``--heads``: genre heads on the frozen features (``musicnn-msd``, ``musicnn-mtt``), scored
  with stratified 4-fold CV by track on exactly bench/deep.py's folds; and the default
  model's head with its C chosen by randomized search inside each training fold (nested CV).
- ``--finetune`` (exploratory, toward issue 5's >= 0.92): MSD_musicnn's back end (pooling
  norm, 200-unit dense layer, its norm) with a new 10-genre output layer, trained on the
  pooled mid-end features of each fold's training patches (the frozen front and mid end
  run once per patch and are cached in bench/out), either the new layer alone or the dense
  layer too; patches 3 s apart, or 1 s apart for 3x the training patches; and the dense
  layer with the output rows of genres named like an MSD tag starting from that tag's
  weights (as the ``musicnn-finetune`` preset does). Track probabilities: mean over the
  test track's patches. Mean over 3 seeds.
- ``--finetune-midend`` (exploratory, same aim): one step deeper, the mid end's three
  convolutional layers trained too (learning rate 1e-4, the back end's 1e-3), on the cached
  front-end output of each fold's training patches; tag start as above; mean over 3 seeds.
- ``--poolings`` (exploratory, same aim): the head's pipeline on other summaries of a
  track's patches (mean and std, mean and max, the pooled mid-end added, MSD and MTT together).
- ``--augment`` (exploratory, same aim): the head trained on each training clip and 4
  time-stretched, pitch-shifted versions of it; tested on the clips as they are.
- ``--errors``: the test tracks that the head and the ``musicnn-finetune`` preset's fold
  networks (from ``python bench/deep.py --with-models --presets musicnn-finetune short-chunk-resnet``)
  get wrong, and what they and the deep ``short-chunk-resnet`` take the tracks both miss for.
- ``--ensembles``: every mean of two or three of the head, ``musicnn-finetune`` and the deep
  ``short-chunk-resnet`` (its fold networks from ``python bench/deep.py --with-models --presets short-chunk-resnet``).

Results go to ``bench/results/musicnn/*.json``; the tables are printed at the end.

    python bench/musicnn.py --tags --timing --heads
    python bench/musicnn.py             # the tables of what is done
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from deep import DATA, SEED, dataset_and_folds  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "bench" / "results" / "musicnn"
CACHE = ROOT / "bench" / "out" / "cache"
# (model, tag) -> the GTZAN genre it names, and the target ROC-AUC
TARGETS = {("MTT_musicnn", "classical"): ("classical", 0.95), ("MSD_musicnn", "metal"): ("metal", 0.95),
           ("MSD_musicnn", "jazz"): ("jazz", 0.95), ("MSD_musicnn", "blues"): ("blues", 0.95),
           ("MSD_musicnn", "Hip-Hop"): ("hiphop", 0.95), ("MSD_musicnn", "rock"): ("rock", 0.85),
           ("MSD_musicnn", "country"): ("country", 0.85), ("MSD_musicnn", "pop"): ("pop", 0.85),
           ("MTT_musicnn", "metal"): ("metal", None), ("MTT_musicnn", "rock"): ("rock", None),
           ("MTT_musicnn", "country"): ("country", None), ("MTT_musicnn", "pop"): ("pop", None),
           ("MSD_musicnn", "heavy metal"): ("metal", None), ("MSD_musicnn", "classic rock"): ("rock", None),
           ("MSD_musicnn", "soul"): ("reggae", None), ("MSD_musicnn", "funk"): ("disco", None)}
HEADS = ("logreg", "svc-rbf", "extra-trees")


def _write(name: str, record: dict) -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    temporary = OUT / f".{name}.tmp"
    temporary.write_text(json.dumps(record, indent=1))
    os.replace(temporary, OUT / name)


def run_tags(data: Path) -> None:
    from sklearn.metrics import roc_auc_score

    from genrekit import audio
    from genrekit.datasets import load_gtzan
    from genrekit.features.musicnn import TAGGERS, embed_patches, load_musicnn, log_mel_patches

    dataset = load_gtzan(data)
    genres = np.array([t.label for t in dataset.tracks])
    probabilities = {model: [] for model in TAGGERS}
    for track in dataset.tracks:
        y, sr = audio.load(track.path, sr=16000)
        patches = log_mel_patches(y, sr=sr)
        for model in TAGGERS:
            probabilities[model].append(embed_patches(patches, model)[1].mean(axis=0))
    rows = []
    for (model, tag), (genre, target) in TARGETS.items():
        tags = load_musicnn(model)[1]
        scores = np.array(probabilities[model])[:, tags.index(tag)]
        rows.append({"model": model, "tag": tag, "genre": genre, "target": target,
                     "roc_auc": float(roc_auc_score(genres == genre, scores))})
    _write("tags.json", {"date": time.strftime("%Y-%m-%d"), "tracks": len(genres), "rows": rows,
                         "machine": platform.processor() or platform.machine()})


def run_timing(data: Path) -> None:
    import torch

    from genrekit import audio
    from genrekit.datasets import load_gtzan
    from genrekit.features.musicnn import TAGGERS, embed_patches, log_mel_patches

    torch.set_num_threads(1)
    track = next(t for t in load_gtzan(data).tracks if audio.info(t.path).duration >= 29.9)
    record = {"clip": Path(track.path).name, "threads": 1, "date": time.strftime("%Y-%m-%d")}
    for model in TAGGERS:
        embed_patches(log_mel_patches(audio.load(track.path, sr=16000)[0]), model)  # load the weights, warm up
        times = []
        for _ in range(5):
            start = time.perf_counter()
            y, sr = audio.load(track.path, sr=16000)
            patches = log_mel_patches(y, sr=sr)
            embed_patches(patches, model)
            times.append(time.perf_counter() - start)
        record[model] = {"seconds_per_30s_clip": float(np.median(times)), "patches": len(patches)}
    _write("timing.json", record)


def run_heads(data: Path) -> None:
    from genrekit.datasets import build_feature_table
    from genrekit.evaluate import cross_validate
    from genrekit.features import FeatureCache, FeatureSpec

    dataset, folds = dataset_and_folds(data)
    for features in ("musicnn-msd", "musicnn-mtt"):
        table, _ = build_feature_table(dataset, FeatureSpec(features), cache=FeatureCache(CACHE), progress=True)
        for head in HEADS:
            name = f"{features}-{head}.json"
            if (OUT / name).exists():
                continue
            result = cross_validate(table, head, seed=SEED, track_folds=folds)
            _write(name, {"features": features, "head": head, "fold_accuracy": [f["accuracy"] for f in result["folds"]],
                          "fit_seconds": result["fit_seconds"], "date": time.strftime("%Y-%m-%d")})
        name = f"{features}-musicnn-head-search.json"
        if features == "musicnn-msd" and not (OUT / name).exists():
            # The default model's head with its regularisation C chosen inside each training fold.
            result = cross_validate(table, "musicnn-head", seed=SEED, track_folds=folds, search=True)
            _write(name, {"features": features, "head": "musicnn-head, C by nested search",
                          "fold_accuracy": [f["accuracy"] for f in result["folds"]],
                          "best_params": [f.get("best_params") for f in result["folds"]],
                          "fit_seconds": result["fit_seconds"], "date": time.strftime("%Y-%m-%d")})


def _per_track_cache(data: Path, name: str, patch_features) -> dict[str, np.ndarray]:
    """``bench/out/NAME``: for each gtzan-mini track, ``patch_features(y)`` of its 16 kHz signal
    (suffix -> array), stored under ``track_id + suffix``; computed once, then read back."""
    from genrekit import audio
    from genrekit.datasets import load_gtzan

    path = ROOT / "bench" / "out" / name
    if path.exists():
        return dict(np.load(path))
    features = {}
    for track in load_gtzan(data).tracks:
        y, _ = audio.load(track.path, sr=16000)
        features.update({track.track_id + suffix: value for suffix, value in patch_features(y).items()})
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez(path, **features)
    return features


def pooled_patches(data: Path) -> dict[str, np.ndarray]:
    """Per track and patch hop ("3s", "1s"): MSD_musicnn's pooled mid-end features (batch, 1506)."""
    import torch

    from genrekit.features.musicnn import PATCH_FRAMES, load_musicnn, log_mel_patches

    network, _ = load_musicnn("MSD_musicnn")

    def pooled(y: np.ndarray) -> dict[str, np.ndarray]:
        with torch.inference_mode():
            return {f"/{hop}": network.pooled(torch.from_numpy(log_mel_patches(y, sr=16000, hop_frames=frames))).numpy()
                    for hop, frames in (("3s", PATCH_FRAMES), ("1s", PATCH_FRAMES // 3))}

    return _per_track_cache(data, "musicnn-pooled.npz", pooled)


def _train_and_score(model, optimizer, X, y, test: list[tuple[np.ndarray, int]], *, epochs: int,
                     rng: np.random.Generator, train_mode) -> float:
    """Minibatches of 32, cross-entropy with label smoothing 0.1; then the share of test
    tracks (their patches' inputs, genre) whose mean patch probability is right."""
    import torch
    from torch import nn

    for _ in range(epochs):
        train_mode()
        order = rng.permutation(len(X))
        for start in range(0, len(X) - 1, 32):
            batch = order[start:start + 32]
            loss = nn.functional.cross_entropy(model(X[batch]), y[batch], label_smoothing=0.1)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
    model.eval()
    with torch.no_grad():
        right = [int(torch.softmax(model(torch.from_numpy(inputs)), 1).mean(0).argmax()) == genre for inputs, genre in test]
    return float(np.mean(right))


def run_finetune(data: Path, epochs: int = 30, seeds: tuple[int, ...] = (0, 1, 2)) -> None:
    import copy

    import torch
    from torch import nn

    from genrekit.features.musicnn import load_musicnn
    from genrekit.models.nets.presets import MusicnnFinetune

    dataset, folds = dataset_and_folds(data)
    genre = {t.track_id: dataset.labels.index(t.label) for t in dataset.tracks}
    pooled = pooled_patches(data)
    network, _ = load_musicnn("MSD_musicnn")

    def head(train_dense: bool, tag_start: bool) -> nn.Sequential:
        model = nn.Sequential(copy.deepcopy(network.pool_norm), nn.Dropout(0.5), copy.deepcopy(network.dense), nn.ReLU(),
                              copy.deepcopy(network.dense_norm), nn.Dropout(0.5), nn.Linear(200, len(dataset.labels)))
        for layer in (model[0], model[2], model[4]):
            layer.requires_grad_(train_dense)
        if tag_start:  # the musicnn-finetune preset's start: genres named like a tag begin from its weights
            preset = MusicnnFinetune(len(dataset.labels))
            preset.start_from_tags(dataset.labels)
            model[6].load_state_dict(preset.head.classifier.state_dict())
        return model

    def fold_accuracy(train_dense: bool, hop: str, seed: int, train_ids, test_ids, tag_start: bool = False) -> float:
        torch.manual_seed(seed)
        rng = np.random.default_rng(seed)
        X = torch.from_numpy(np.concatenate([pooled[f"{t}/{hop}"] for t in train_ids]))
        y = torch.tensor(np.concatenate([[genre[t]] * len(pooled[f"{t}/{hop}"]) for t in train_ids]))
        model = head(train_dense, tag_start)
        optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-3, weight_decay=1e-2)
        # train mode but the pretrained normalisation statistics kept
        train_mode = lambda: (model.train(), model[0].eval(), model[4].eval())  # noqa: E731
        return _train_and_score(model, optimizer, X, y, [(pooled[f"{t}/3s"], genre[t]) for t in test_ids],
                                epochs=epochs, rng=rng, train_mode=train_mode)

    variants = [(train_dense, hop, False) for train_dense in (False, True) for hop in ("3s", "1s")] + [(True, "3s", True)]
    for train_dense, hop, tag_start in variants:
        name = f"finetune-{'dense' if train_dense else 'output'}-{hop}{'-tags' if tag_start else ''}.json"
        if (OUT / name).exists():
            continue
        runs = [[fold_accuracy(train_dense, hop, seed, *fold, tag_start=tag_start) for fold in folds] for seed in seeds]
        trained = "dense + output layer" if train_dense else "output layer"
        _write(name, {"trained": trained + (", output rows of genres named like a tag start from it" if tag_start else ""),
                      "patch_hop": hop, "epochs": epochs, "seeds": list(seeds), "fold_accuracy_per_seed": runs,
                      "accuracy_mean": float(np.mean(runs)), "date": time.strftime("%Y-%m-%d")})


def frontend_patches(data: Path) -> dict[str, np.ndarray]:
    """Per track: MSD_musicnn's front-end output for its 3 s patches (patches, 561, 187),
    float16 to keep the cache near 200 MB."""
    import torch

    from genrekit.features.musicnn import load_musicnn, log_mel_patches
    from genrekit.features.musicnn.network import front_end

    network, _ = load_musicnn("MSD_musicnn")

    def front(y: np.ndarray) -> dict[str, np.ndarray]:
        with torch.inference_mode():
            return {"": front_end(network, torch.from_numpy(log_mel_patches(y, sr=16000))).numpy().astype(np.float16)}

    return _per_track_cache(data, "musicnn-frontend.npz", front)


def run_finetune_midend(data: Path, epochs: int = 30, seeds: tuple[int, ...] = (0, 1, 2)) -> None:
    """Exploratory, one step deeper than ``--finetune``: the mid end trained too (learning
    rate 1e-4 against the back end's 1e-3), on the cached front-end output of each fold's
    training patches (3 s apart); the batch norms keep their pretrained statistics."""
    import torch
    from torch import nn

    from genrekit.features.musicnn.network import mid_end_pooled
    from genrekit.models.nets.presets import MusicnnFinetune

    class MidAndBackEnd(nn.Module):
        """The preset's mid end (3 residual conv layers) and back end on the front end's output."""

        def __init__(self, preset: MusicnnFinetune):
            super().__init__()
            self.midend, self.midend_norms, self.back_end = preset.frozen.midend, preset.frozen.midend_norms, preset.head
            self.requires_grad_(True)

        def train(self, mode: bool = True):
            super().train(mode)
            self.midend_norms.eval()  # pretrained statistics kept, as for the back end's norms
            return self

        def forward(self, front: torch.Tensor) -> torch.Tensor:
            return self.back_end(mid_end_pooled(self, front))

    name = "finetune-midend-3s-tags.json"
    if (OUT / name).exists():
        return
    dataset, folds = dataset_and_folds(data)
    genre = {t.track_id: dataset.labels.index(t.label) for t in dataset.tracks}
    front = frontend_patches(data)

    def fold_accuracy(seed: int, train_ids, test_ids) -> float:
        torch.manual_seed(seed)
        rng = np.random.default_rng(seed)
        X = torch.from_numpy(np.concatenate([front[t] for t in train_ids]).astype(np.float32))
        y = torch.tensor(np.concatenate([[genre[t]] * len(front[t]) for t in train_ids]))
        preset = MusicnnFinetune(len(dataset.labels))
        preset.start_from_tags(dataset.labels)
        model = MidAndBackEnd(preset)
        optimizer = torch.optim.AdamW([{"params": model.midend.parameters(), "lr": 1e-4},
                                       {"params": model.back_end.parameters(), "lr": 1e-3}], weight_decay=1e-2)
        return _train_and_score(model, optimizer, X, y, [(front[t].astype(np.float32), genre[t]) for t in test_ids],
                                epochs=epochs, rng=rng, train_mode=model.train)

    runs = []
    for seed in seeds:
        runs.append([fold_accuracy(seed, *fold) for fold in folds])
        print(f"mid end, seed {seed}: {np.mean(runs[-1]):.4f}", flush=True)
    _write(name, {"trained": "mid end + dense + output layer, output rows of genres named like a tag start from it",
                  "patch_hop": "3s", "epochs": epochs, "seeds": list(seeds), "fold_accuracy_per_seed": runs,
                  "accuracy_mean": float(np.mean(runs)), "date": time.strftime("%Y-%m-%d")})


def run_poolings(data: Path) -> None:
    """The head's pipeline (musicnn-head: scaling, power transform, logistic regression) on
    other summaries of a track's patches than the mean of the embedding and tags: their
    mean and standard deviation, mean and max, and the pooled mid-end (the dense layer's
    input, 1506-d) added; MSD's and MTT's features together; and the mean over patches
    1 s apart (overlapping) instead of 3 s."""
    import torch

    from genrekit.datasets import build_feature_table
    from genrekit.features import FeatureCache, FeatureSpec
    from genrekit.features.musicnn import load_musicnn
    from genrekit.models import make_model

    name = "poolings.json"
    if (OUT / name).exists():
        return
    dataset, folds = dataset_and_folds(data)
    ids = [t.track_id for t in dataset.tracks]
    y = np.array([dataset.labels.index(t.label) for t in dataset.tracks])
    pooled, (network, _) = pooled_patches(data), load_musicnn("MSD_musicnn")
    embedding, tags = {}, {}
    with torch.no_grad():  # the back end on the cached pooled mid-end features: each patch's embedding and tags
        for t in ids:
            for hop in ("3s", "1s"):
                e, logits = network.back_end(torch.from_numpy(pooled[f"{t}/{hop}"]))
                embedding[t, hop], tags[t, hop] = e.numpy(), torch.sigmoid(logits).numpy()
    embedding_1s, tags_1s = {t: embedding[t, "1s"] for t in ids}, {t: tags[t, "1s"] for t in ids}
    embedding, tags = {t: embedding[t, "3s"] for t in ids}, {t: tags[t, "3s"] for t in ids}
    mtt, _ = build_feature_table(dataset, FeatureSpec("musicnn-mtt"), cache=FeatureCache(CACHE), progress=False)
    mtt_row = dict(zip(mtt.tracks, mtt.X))
    summaries = {
        "mean (musicnn-msd)": lambda t: np.r_[embedding[t].mean(0), tags[t].mean(0)],
        "mean + std": lambda t: np.r_[embedding[t].mean(0), tags[t].mean(0), embedding[t].std(0), tags[t].std(0)],
        "mean + max": lambda t: np.r_[embedding[t].mean(0), tags[t].mean(0), embedding[t].max(0), tags[t].max(0)],
        "mean + pooled mid-end mean": lambda t: np.r_[embedding[t].mean(0), tags[t].mean(0), pooled[f"{t}/3s"].mean(0)],
        "mean, MSD and MTT": lambda t: np.r_[embedding[t].mean(0), tags[t].mean(0), mtt_row[t]],
        "mean over patches every 1 s": lambda t: np.r_[embedding_1s[t].mean(0), tags_1s[t].mean(0)],
    }
    index = {t: i for i, t in enumerate(ids)}
    rows = []
    for summary, row in summaries.items():
        X = np.stack([row(t) for t in ids])
        accuracy = []
        for train_ids, test_ids in folds:
            train, test = [index[t] for t in train_ids], [index[t] for t in test_ids]
            model = make_model("musicnn-head", seed=SEED).fit(X[train], y[train])
            accuracy.append(float((model.predict(X[test]) == y[test]).mean()))
        rows.append({"summary": summary, "dimensions": X.shape[1], "fold_accuracy": accuracy})
    _write(name, {"rows": rows, "date": time.strftime("%Y-%m-%d")})


AUGMENT = {"time_stretch": 0.1, "pitch_shift": 2.0, "copies": 4, "seed": SEED}


def run_augment(data: Path) -> None:
    """The head trained on each training track's clip and ``copies`` augmented versions of it
    (time-stretched by up to 10%, pitch-shifted by up to 2 semitones: genrekit's network
    augmentation, :func:`augmented_waveforms`), each one row of musicnn-msd features; the
    test tracks as they are. The versions' features are cached in bench/out."""
    from genrekit import audio
    from genrekit.features.musicnn import pooled_features
    from genrekit.models import make_model
    from genrekit.train.network_data import augmented_waveforms

    name = "augment.json"
    if (OUT / name).exists():
        return
    dataset, folds = dataset_and_folds(data)
    path = ROOT / "bench" / "out" / "musicnn-augmented.npz"
    rows = dict(np.load(path)) if path.exists() else {}
    for track in dataset.tracks:
        if track.track_id in rows:
            continue
        y, sr = audio.load(track.path, sr=16000)
        versions = [y, *augmented_waveforms(y, sr, track.track_id, **AUGMENT)]
        rows[track.track_id] = np.stack([pooled_features(y=v, sr=sr) for v in versions])
        np.savez(path, **rows)  # kept as it goes: an interrupted run resumes
    label = {t.track_id: dataset.labels.index(t.label) for t in dataset.tracks}
    result = {}
    for used in ("clip only", "clip + augmented versions"):
        accuracy = []
        for train_ids, test_ids in folds:
            X = np.concatenate([rows[t] if used != "clip only" else rows[t][:1] for t in train_ids])
            y = np.concatenate([[label[t]] * (len(rows[t]) if used != "clip only" else 1) for t in train_ids])
            model = make_model("musicnn-head", seed=SEED).fit(X, y)
            predicted = model.predict(np.stack([rows[t][0] for t in test_ids]))
            accuracy.append(float(np.mean(predicted == [label[t] for t in test_ids])))
        result[used] = accuracy
    _write(name, {"augment": AUGMENT, "fold_accuracy": result, "date": time.strftime("%Y-%m-%d")})


def track_probabilities(data: Path, networks: tuple[str, ...]) -> tuple[dict, dict, list[str]]:
    """Each test track's genre probabilities from each model, fold by fold on bench/deep.py's
    folds: the head (``musicnn-head`` on musicnn-msd, fitted on the fold's training tracks)
    and the named presets' fold networks kept in bench/out by ``python bench/deep.py
    --with-models`` (mean over the track's 3 s windows). Returns (model -> track -> probabilities,
    track -> genre, genres in column order)."""
    import torch

    from genrekit.datasets import build_feature_table
    from genrekit.features import FeatureCache, FeatureSpec
    from genrekit.models import make_model
    from genrekit.models.nets.artifact import load_network
    from genrekit.models.nets.inference import predict_chunks
    from genrekit.train.network_data import split_chunks
    from deep import MODELS

    missing = [f"{MODELS}/{preset}-fold{fold}.safetensors" for preset in networks for fold in range(4)
               if not (MODELS / f"{preset}-fold{fold}.safetensors").exists()]
    if missing:
        sys.exit(f"needs {', '.join(missing)}: run python bench/deep.py --with-models --presets {' '.join(networks)} first")
    dataset, folds = dataset_and_folds(data)
    table, _ = build_feature_table(dataset, FeatureSpec("musicnn-msd"), cache=FeatureCache(CACHE), progress=False)
    row = dict(zip(table.tracks, table.X))
    label = {t.track_id: t.label for t in dataset.tracks}
    proba = {model: {} for model in ("musicnn-head", *networks)}
    for fold, (train_ids, test_ids) in enumerate(folds):
        head = make_model("musicnn-head", seed=SEED).fit(np.stack([row[t] for t in train_ids]), [label[t] for t in train_ids])
        genres = [str(g) for g in head.classes_]
        proba["musicnn-head"].update(zip(test_ids, head.predict_proba(np.stack([row[t] for t in test_ids]))))
        test = [t for t in dataset.tracks if t.track_id in set(test_ids)]
        for preset in networks:
            net, config = load_network(MODELS / f"{preset}-fold{fold}.safetensors")
            assert list(config["labels"]) == genres, f"{preset} fold {fold}: genres in another order"
            sets, _ = split_chunks(net, test, genres, {t.track_id: "test" for t in test}, n_frames=config["n_frames"])
            with torch.no_grad():
                chunk_proba = predict_chunks(net.body, sets["test"].X)
            proba[preset].update({t.track_id: chunk_proba[sets["test"].track == t.track_id].mean(axis=0) for t in test})
    return proba, label, genres


def _wrong(proba: dict, label: dict, genres: list[str]) -> list[str]:
    return sorted(t for t, p in proba.items() if genres[int(np.argmax(p))] != label[t])


def run_errors(data: Path) -> None:
    """Which test tracks the head and the ``musicnn-finetune`` fold networks get wrong, and
    what the head, the network and the deep ``short-chunk-resnet`` take the tracks both miss for."""
    name = "errors.json"
    if (OUT / name).exists():
        return
    proba, label, genres = track_probabilities(data, ("musicnn-finetune", "short-chunk-resnet"))
    wrong = {model: _wrong(proba[model], label, genres) for model in ("musicnn-head", "musicnn-finetune")}
    both = sorted(set(wrong["musicnn-head"]) & set(wrong["musicnn-finetune"]))
    taken_for = {t: {model: genres[int(np.argmax(p[t]))] for model, p in proba.items()} for t in both}
    _write(name, {"wrong": wrong, "wrong_in_both": both, "taken_for": taken_for, "tracks": len(label),
                  "date": time.strftime("%Y-%m-%d")})


def run_ensembles(data: Path) -> None:
    """Every mean of the probabilities of two or three of: the head, ``musicnn-finetune`` and
    the deep ``short-chunk-resnet`` (trained from scratch, so it errs on other clips). Every combination
    is reported, not the best alone: choosing one after seeing these folds would flatter it."""
    from itertools import combinations

    name = "ensembles.json"
    if (OUT / name).exists():
        return
    proba, label, genres = track_probabilities(data, ("musicnn-finetune", "short-chunk-resnet"))
    rows = []
    for size in (1, 2, 3):
        for models in combinations(proba, size):
            mean = {t: np.mean([proba[m][t] for m in models], axis=0) for t in label}
            wrong = _wrong(mean, label, genres)
            rows.append({"models": list(models), "correct": len(label) - len(wrong), "wrong": wrong})
    _write(name, {"rows": rows, "tracks": len(label), "date": time.strftime("%Y-%m-%d")})


def _accuracy_cells(fold_accuracy: list[float]) -> str:
    """"mean ± sd | per fold" table cells."""
    accuracy = np.array(fold_accuracy)
    return f"{accuracy.mean():.3f} ± {accuracy.std():.3f} | {' '.join(f'{a:.2f}' for a in accuracy)}"


def tables() -> str:
    lines = []
    tags = OUT / "tags.json"
    if tags.exists():
        record = json.loads(tags.read_text())
        lines += [f"Tags as genre detectors ({record['tracks']} tracks, {record['date']}):", "",
                  "| model | tag | GTZAN genre | ROC-AUC | target |", "|---|---|---|---|---|"]
        lines += [f"| {r['model']} | {r['tag']} | {r['genre']} | {r['roc_auc']:.3f} | "
                  f"{'≥ %.2f %s' % (r['target'], '✓' if r['roc_auc'] >= r['target'] else '✗') if r['target'] else '–'} |"
                  for r in record["rows"]]
        lines.append("")
    timing = OUT / "timing.json"
    if timing.exists():
        record = json.loads(timing.read_text())
        lines += [f"One core, {record['clip']} (30 s), decode + log-mel + network, median of 5 ({record['date']}):", "",
                  "| model | patches | seconds per 30 s clip |", "|---|---|---|"]
        lines += [f"| {m} | {record[m]['patches']} | {record[m]['seconds_per_30s_clip']:.2f} |"
                  for m in ("MSD_musicnn", "MTT_musicnn")]
        lines.append("")
    heads = sorted([*OUT.glob("musicnn-msd-*.json"), *OUT.glob("musicnn-mtt-*.json")])
    if heads:
        lines += ["Genre heads on frozen musicnn features, 4-fold CV by track on bench/deep.py's folds:", "",
                  "| features | head | track acc (mean ± sd) | per fold |", "|---|---|---|---|"]
        for path in heads:
            r = json.loads(path.read_text())
            lines.append(f"| {r['features']} | {r['head']} | {_accuracy_cells(r['fold_accuracy'])} |")
    poolings = OUT / "poolings.json"
    if poolings.exists():
        lines += ["", "The musicnn-head pipeline on other summaries of a track's patches (MSD_musicnn unless named):", "",
                  "| summary | dimensions | track acc (mean ± sd) | per fold |", "|---|---|---|---|"]
        for r in json.loads(poolings.read_text())["rows"]:
            lines.append(f"| {r['summary']} | {r['dimensions']} | {_accuracy_cells(r['fold_accuracy'])} |")
    augmented = OUT / "augment.json"
    if augmented.exists():
        record = json.loads(augmented.read_text())
        lines += ["", f"The musicnn-head trained with augmented versions of its training clips ({record['augment']}):", "",
                  "| training rows | track acc (mean ± sd) | per fold |", "|---|---|---|"]
        for used, accuracy in record["fold_accuracy"].items():
            lines.append(f"| {used} | {_accuracy_cells(accuracy)} |")
    finetuned = sorted(OUT.glob("finetune-*.json"))
    if finetuned:
        lines += ["", "MSD_musicnn's back end trained on each fold's patches (exploratory; mean over seeds):", "",
                  "| trained | training patches every | epochs | track acc, mean over seeds | per seed |", "|---|---|---|---|---|"]
        for path in finetuned:
            r = json.loads(path.read_text())
            lines.append(f"| {r['trained']} | {r['patch_hop']} | {r['epochs']} | {r['accuracy_mean']:.3f} "
                         f"| {' '.join(f'{np.mean(s):.3f}' for s in r['fold_accuracy_per_seed'])} |")
    errors = OUT / "errors.json"
    if errors.exists():
        record = json.loads(errors.read_text())
        lines += ["", f"Test tracks each model gets wrong ({record['tracks']} tracks, 4 folds):", "",
                  "| model | wrong | tracks |", "|---|---|---|"]
        lines += [f"| {model} | {len(ids)} | {', '.join(ids)} |" for model, ids in record["wrong"].items()]
        lines.append(f"| both | {len(record['wrong_in_both'])} | {', '.join(record['wrong_in_both'])} |")
        if "taken_for" in record:
            models = list(next(iter(record["taken_for"].values())))
            lines += ["", "What each model takes the tracks both musicnn models miss for:", "",
                      f"| track | {' | '.join(models)} |", "|---|" + "---|" * len(models)]
            lines += [f"| {t} | {' | '.join(taken[m] for m in models)} |" for t, taken in record["taken_for"].items()]
    ensembles = OUT / "ensembles.json"
    if ensembles.exists():
        record = json.loads(ensembles.read_text())
        lines += ["", f"Means of the models' track probabilities ({record['tracks']} tracks, 4 folds, {record['date']}):", "",
                  "| models averaged | track acc | correct | wrong |", "|---|---|---|---|"]
        lines += [f"| {' + '.join(r['models'])} | {r['correct'] / record['tracks']:.4f} | {r['correct']} | {', '.join(r['wrong'])} |"
                  for r in record["rows"]]
    return "\n".join(lines)


def main() -> None:
    steps = {"tags": run_tags, "timing": run_timing, "heads": run_heads, "finetune": run_finetune,
             "finetune-midend": run_finetune_midend,
             "poolings": run_poolings, "augment": run_augment, "errors": run_errors, "ensembles": run_ensembles}
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    for step in steps:
        parser.add_argument(f"--{step}", action="store_true")
    parser.add_argument("--data", type=Path, default=DATA)
    args = parser.parse_args()
    chosen = [run for step, run in steps.items() if getattr(args, step.replace("-", "_"))]
    if chosen and not args.data.exists():
        sys.exit(f"gtzan-mini not found at {args.data} (expected ../shared/data beside the repository)")
    for run in chosen:
        run(args.data)
    print(tables())


if __name__ == "__main__":
    main()
