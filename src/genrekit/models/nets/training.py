"""Training networks on log-mel chunks: seeded, resumable, early-stopped on validation tracks.
(The network file format, which serving reads, is :mod:`genrekit.models.nets.artifact`.)

Spectrograms are computed once per window by the network's own front end (so training
sees exactly what prediction will), then the body is trained on them. Each epoch reseeds
from (seed, epoch), and the cosine learning rate is a function of the epoch, so a run
resumed from its checkpoint continues as if it had never stopped.
"""

from __future__ import annotations

import json
import logging
import math
import os
import time
import zlib
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import load_file, save_file
from torch import nn

from genrekit._files import atomic_path
from genrekit import audio
from genrekit.errors import AudioError, ModelError, ParameterError
from genrekit.features.chunks import frame_windows
from genrekit.features.librosa_kernels import load_librosa_kernels
from genrekit.models.nets.inference import IMAGE_SECONDS, in_batches, image_examples, predict_chunks
from genrekit.models.nets.presets import PRESETS, build_network

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class TrainConfig:
    """Every knob of a training run; a preset's paper values fill what is not given."""

    preset: str = "default"
    epochs: int = 30
    batch_size: int | None = None
    lr: float | None = None
    optimizer: str | None = None
    weight_decay: float = 1e-4
    l1: float | None = None
    l2: float | None = None
    loss: str | None = None
    label_smoothing: float | None = None
    mixup: float | None = None
    specaugment: bool | None = None
    schedule: str | None = None
    patience: int = 8
    overlap: float = 0.5
    time_stretch: float = 0.0
    pitch_shift: float = 0.0
    augment_copies: int = 1
    seed: int = 0
    device: str = "cpu"

    def resolved(self) -> TrainConfig:
        """This config with the preset's published training set-up filling the gaps."""
        if self.preset not in PRESETS:
            raise ModelError(f"network {self.preset!r} is unknown; expected one of {', '.join(PRESETS)}")
        paper = PRESETS[self.preset].training
        defaults = {"batch_size": 32, "lr": 1e-3, "optimizer": "adam", "l1": 0.0, "l2": 0.0, "loss": "ce",
                    "label_smoothing": 0.0, "mixup": 0.0, "specaugment": False, "schedule": "cosine"}
        filled = {k: (getattr(self, k) if getattr(self, k) is not None else paper.get(k, defaults[k])) for k in defaults}
        config = replace(self, **filled)
        if config.optimizer not in ("sgd", "adam", "adamw", "rmsprop"):
            raise ParameterError(f"optimizer={config.optimizer!r} must be sgd, adam, adamw or rmsprop")
        if config.loss not in ("ce", "bce"):
            raise ParameterError(f"loss={config.loss!r} must be 'ce' (softmax) or 'bce' (sigmoid)")
        if config.epochs < 1 or config.batch_size < 1:
            raise ParameterError(f"epochs={config.epochs} and batch_size={config.batch_size} must be >= 1")
        if not 0 <= config.time_stretch < 1 or not 0 <= config.pitch_shift <= 12 or config.augment_copies < 1:
            raise ParameterError(
                f"time_stretch={config.time_stretch} must be in [0, 1), pitch_shift={config.pitch_shift} semitones "
                f"in [0, 12] and augment_copies={config.augment_copies} >= 1")
        return config


@dataclass
class ChunkSet:
    """Log-mel windows of many tracks: ``X`` (n, 1, n_mels, n_frames), ``y`` (n,), ``track`` (n,)."""

    X: torch.Tensor
    y: torch.Tensor
    track: np.ndarray
    padded_tracks: list[str] = field(default_factory=list)


def augmented_waveforms(
    y: np.ndarray, sr: int, track_id: str, *, time_stretch: float, pitch_shift: float, copies: int, seed: int,
) -> list[np.ndarray]:
    """``copies`` versions of ``y``, each time-stretched by a rate drawn from
    ``[1 - time_stretch, 1 + time_stretch]`` and pitch-shifted by a number of semitones drawn
    from ``[-pitch_shift, pitch_shift]``; the draws depend only on (seed, track, copy)."""
    import librosa

    load_librosa_kernels()
    versions = []
    for copy_index in range(copies):
        rng = np.random.default_rng([seed, zlib.crc32(track_id.encode()), copy_index])
        rate, steps = rng.uniform(1 - time_stretch, 1 + time_stretch), rng.uniform(-pitch_shift, pitch_shift)
        version = librosa.effects.time_stretch(y, rate=rate) if time_stretch else y
        if pitch_shift:
            version = librosa.effects.pitch_shift(version, sr=sr, n_steps=steps)
        versions.append(version.astype(np.float32))
    return versions


def spectrogram_windows(
    net: nn.Module, paths: Sequence[str], labels: Sequence[int], track_ids: Sequence[str], *, n_frames: int,
    overlap: float, failures: dict[str, str], batch: int = 64, augment: dict | None = None,
) -> ChunkSet:
    """Windows of each file through ``net.frontend``; files that fail go to ``failures``.

    ``augment`` (keyword arguments of :func:`augmented_waveforms`) adds the windows of
    time-stretched and pitch-shifted copies of each file, under the same track.
    """
    config = net.frontend.config
    spectra, ys, tracks, padded = [], [], [], []
    for path, label, track_id in zip(paths, labels, track_ids):
        try:
            y, _ = audio.load(path, sr=config.sample_rate)
        except AudioError as exc:
            failures[path] = str(exc)
            continue
        versions = [y]
        if augment:
            versions += augmented_waveforms(y, config.sample_rate, track_id, **augment)
        for version in versions:
            windows, _, was_padded = frame_windows(version, n_frames=n_frames, hop_length=config.hop_length, overlap=overlap)
            if was_padded and version is y:
                padded.append(track_id)
            with torch.no_grad():
                for start in range(0, len(windows), batch):
                    spectra.append(net.frontend(torch.from_numpy(windows[start : start + batch])))
            ys += [label] * len(windows)
            tracks += [track_id] * len(windows)
    if padded:
        logger.warning("%d track(s) shorter than one window were zero-padded: %s", len(padded), ", ".join(padded[:5]))
    if not spectra:
        raise ModelError("no track could be decoded for training")
    return ChunkSet(torch.cat(spectra), torch.tensor(ys), np.asarray(tracks), padded)


def spec_augment(x: torch.Tensor, generator: torch.Generator, *, freq: int = 16, time_width: int = 24) -> torch.Tensor:
    """One frequency and one time mask per example, filled with the example's minimum (SpecAugment)."""
    x = x.clone()
    batch, _, n_mels, n_frames = x.shape
    floor = x.amin(dim=(1, 2, 3))
    for i in range(batch):
        f = int(torch.randint(0, freq + 1, (1,), generator=generator))
        f0 = int(torch.randint(0, max(1, n_mels - f), (1,), generator=generator))
        t = int(torch.randint(0, time_width + 1, (1,), generator=generator))
        t0 = int(torch.randint(0, max(1, n_frames - t), (1,), generator=generator))
        x[i, :, f0 : f0 + f, :] = floor[i]
        x[i, :, :, t0 : t0 + t] = floor[i]
    return x


def frozen_features(body: nn.Module, examples: ChunkSet, *, batch: int = 16, progress: bool = True) -> ChunkSet:
    """``examples`` through ``body.frozen_features`` (the pretrained part it does not train),
    once: what its head trains on."""
    from rich.progress import Progress

    body.eval()
    device = next(body.parameters()).device
    with Progress(disable=not progress) as bar:
        task = bar.add_task("pretrained features", total=len(examples.X))
        X = in_batches(lambda x: body.frozen_features(x.to(device)), examples.X, batch,
                        advance=lambda n: bar.advance(task, n))
    return replace(examples, X=X)


def _optimizer(config: TrainConfig, parameters) -> torch.optim.Optimizer:
    weight_decay = config.l2 or config.weight_decay
    if config.optimizer == "sgd":
        return torch.optim.SGD(parameters, lr=config.lr, momentum=0.9, weight_decay=weight_decay)
    if config.optimizer == "rmsprop":
        return torch.optim.RMSprop(parameters, lr=config.lr, weight_decay=weight_decay)
    if config.optimizer == "adamw":
        return torch.optim.AdamW(parameters, lr=config.lr, weight_decay=weight_decay)
    return torch.optim.Adam(parameters, lr=config.lr, weight_decay=weight_decay)


def learning_rate(config: TrainConfig, epoch: int) -> float:
    if config.schedule == "cosine":
        return config.lr * 0.5 * (1 + math.cos(math.pi * epoch / config.epochs))
    return config.lr


def _loss(config: TrainConfig, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """``target`` is a (batch, n_classes) distribution (one-hot, smoothed or mixed)."""
    if config.loss == "bce":
        return nn.functional.binary_cross_entropy_with_logits(logits, target)
    return -(target * torch.log_softmax(logits, dim=1)).sum(dim=1).mean()


def track_accuracy(proba: np.ndarray, y: np.ndarray, tracks: np.ndarray) -> float:
    """Accuracy of the mean chunk probability per track."""
    correct = []
    for track in np.unique(tracks):
        rows = tracks == track
        correct.append(proba[rows].mean(axis=0).argmax() == y[rows][0])
    return float(np.mean(correct))


def _save_checkpoint(folder: Path, body: nn.Module, optimizer: torch.optim.Optimizer, best: dict, state: dict) -> None:
    tensors = {f"model.{k}": v.detach().contiguous() for k, v in body.state_dict().items()}
    tensors.update({f"best.{k}": v.detach().contiguous() for k, v in best.items()})
    optimizer_state = optimizer.state_dict()
    for index, values in optimizer_state["state"].items():
        for name, value in values.items():
            tensors[f"optimizer.{index}.{name}"] = torch.as_tensor(value).contiguous()
    state = {**state, "param_groups": optimizer_state["param_groups"]}
    with atomic_path(folder / "checkpoint.safetensors") as temporary:
        save_file(tensors, str(temporary), metadata={"state": json.dumps(state)})


def _load_checkpoint(path: Path, body: nn.Module, optimizer: torch.optim.Optimizer) -> tuple[dict, dict]:
    from safetensors import safe_open

    with safe_open(str(path), framework="pt") as handle:
        state = json.loads(handle.metadata()["state"])
    tensors = load_file(str(path))
    body.load_state_dict({k[6:]: v for k, v in tensors.items() if k.startswith("model.")})
    best = {k[5:]: v for k, v in tensors.items() if k.startswith("best.")}
    per_param: dict[int, dict] = {}
    for key, value in tensors.items():
        if key.startswith("optimizer."):
            _, index, name = key.split(".", 2)
            per_param.setdefault(int(index), {})[name] = value
    optimizer.load_state_dict({"state": per_param, "param_groups": state.pop("param_groups")})
    return best, state


def train_network(
    train: ChunkSet,
    val: ChunkSet | None,
    n_classes: int,
    config: TrainConfig,
    *,
    net: nn.Module | None = None,
    out_dir: str | os.PathLike | None = None,
    resume: bool = False,
    stop_after: int | None = None,
    progress: bool = True,
) -> tuple[nn.Module, list[dict]]:
    """Train ``net``'s body on ``train``; keep the weights with the best validation track accuracy.

    Returns the network with the best weights loaded, and the history (one dict per epoch:
    ``epoch, lr, train_loss, train_accuracy, val_chunk_accuracy, val_track_accuracy, seconds``).
    Without ``val`` (cross-validation on every training track) all epochs run and the
    last weights are kept; the validation columns are NaN.
    With ``out_dir``, a checkpoint is written after every epoch and ``resume`` continues from it;
    ``stop_after`` ends this call after that many epochs (a time-boxed run, resumed later).
    A body with a frozen pretrained part (``frozen_features`` and ``head``) trains its head
    on the frozen part's outputs, computed once.
    """
    from rich.progress import Progress

    config = config.resolved()
    if net is None:
        torch.manual_seed(config.seed)  # the initial weights are part of what the seed fixes
        net = build_network(config.preset, n_classes)
    body = net.body if hasattr(net, "body") else net
    body.to(config.device)
    if hasattr(body, "frozen_features"):
        if config.specaugment:
            raise ParameterError(f"specaugment masks spectrograms; {config.preset}'s trained part reads the features "
                                 "of its frozen pretrained part")
        train = frozen_features(body, train, progress=progress)
        val = None if val is None else frozen_features(body, val, progress=progress)
        body = body.head  # from here on, what trains
    optimizer = _optimizer(config, [p for p in body.parameters() if p.requires_grad])
    folder = Path(out_dir) if out_dir is not None else None
    history: list[dict] = []
    best = {k: v.detach().clone() for k, v in body.state_dict().items()}
    best_accuracy, stale, start = -1.0, 0, 0
    if resume and folder is not None and (folder / "checkpoint.safetensors").exists():
        best, state = _load_checkpoint(folder / "checkpoint.safetensors", body, optimizer)
        history, best_accuracy, stale, start = state["history"], state["best_accuracy"], state["stale"], state["epoch"] + 1
        logger.info("resuming at epoch %d", start)
    eye = torch.eye(n_classes)
    with Progress(disable=not progress) as bar:
        task = bar.add_task(f"training {config.preset}", total=config.epochs, completed=start)
        for epoch in range(start, config.epochs):
            if stale >= config.patience or (stop_after is not None and epoch - start >= stop_after):
                break
            started = time.perf_counter()
            torch.manual_seed(config.seed * 10_000 + epoch)
            generator = torch.Generator().manual_seed(config.seed * 10_000 + epoch)
            for group in optimizer.param_groups:
                group["lr"] = learning_rate(config, epoch)
            body.train()
            order = torch.randperm(len(train.y), generator=generator)
            losses, hits = [], 0
            for begin in range(0, len(order), config.batch_size):
                rows = order[begin : begin + config.batch_size]
                if len(rows) < 2:
                    continue  # batch norm needs two examples
                x = train.X[rows].to(config.device)
                target = eye[train.y[rows]] * (1 - config.label_smoothing) + config.label_smoothing / n_classes
                if config.specaugment:
                    x = spec_augment(x, generator)
                if config.mixup > 0:
                    lam = float(np.random.default_rng(int(torch.randint(0, 2**31, (1,), generator=generator))).beta(config.mixup, config.mixup))
                    shuffle = torch.randperm(len(rows), generator=generator)
                    x = lam * x + (1 - lam) * x[shuffle]
                    target = lam * target + (1 - lam) * target[shuffle]
                logits = body(x)
                loss = _loss(config, logits, target.to(config.device))
                if config.l1:
                    loss = loss + config.l1 * sum(p.abs().sum() for p in body.parameters())
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
                losses.append(loss.item())
                hits += int((logits.argmax(1).cpu() == train.y[rows]).sum())
            train_seconds = time.perf_counter() - started
            record = {
                "epoch": epoch,
                "lr": learning_rate(config, epoch),
                "train_loss": float(np.mean(losses)) if losses else float("nan"),
                "train_accuracy": hits / len(train.y),
                "val_chunk_accuracy": float("nan"),
                "val_track_accuracy": float("nan"),
                "seconds": train_seconds,
                "train_seconds": train_seconds,
            }
            if val is not None:
                proba = predict_chunks(body, val.X.to(config.device))
                val_y = val.y.numpy()
                record["val_chunk_accuracy"] = float((proba.argmax(1) == val_y).mean())
                record["val_track_accuracy"] = track_accuracy(proba, val_y, val.track)
                record["seconds"] = time.perf_counter() - started
            history.append(record)
            if val is None:
                best = {k: v.detach().clone() for k, v in body.state_dict().items()}
            elif record["val_track_accuracy"] > best_accuracy:
                best_accuracy, stale = record["val_track_accuracy"], 0
                best = {k: v.detach().clone() for k, v in body.state_dict().items()}
            else:
                stale += 1
            if folder is not None:
                folder.mkdir(parents=True, exist_ok=True)
                _save_checkpoint(folder, body, optimizer, best, {"epoch": epoch, "history": history,
                                 "best_accuracy": best_accuracy, "stale": stale, "config": asdict(config)})
            bar.advance(task)
    body.load_state_dict(best)
    return net, history


def split_chunks(
    net: nn.Module,
    tracks: Sequence,
    labels: list[str],
    parts: dict[str, str],
    *,
    n_frames: int,
    overlap: float = 0.5,
    augment: dict | None = None,
) -> tuple[dict[str, ChunkSet], dict[str, str]]:
    """Windows of every track, grouped by the split part of their track.

    Tracks, not chunks, are split: every window of a track lands in its track's part.
    Training windows overlap by ``overlap`` (more, shifted examples) and get the
    waveform ``augment``ations; others do neither.
    """
    index = {label: i for i, label in enumerate(labels)}
    failures: dict[str, str] = {}
    sets = {}
    for part in ("train", "val", "test"):
        members = [t for t in tracks if parts.get(t.track_id) == part]
        if members:
            sets[part] = spectrogram_windows(
                net, [t.path for t in members], [index[t.label] for t in members], [t.track_id for t in members],
                n_frames=n_frames, overlap=overlap if part == "train" else 0.0, failures=failures,
                augment=augment if part == "train" else None,
            )
    return sets, failures


def image_chunks(
    tracks: Sequence, labels: list[str], parts: dict[str, str], *, seconds: float = IMAGE_SECONDS,
) -> tuple[dict[str, ChunkSet], dict[str, str]]:
    """Spectrogram images of every track, grouped by the split part of their track."""
    from genrekit.errors import FeatureError

    index = {label: i for i, label in enumerate(labels)}
    failures: dict[str, str] = {}
    sets = {}
    for part in ("train", "val", "test"):
        images, ys, ids, padded = [], [], [], []
        for track in (t for t in tracks if parts.get(t.track_id) == part):
            try:
                examples, was_padded = image_examples(track.path, seconds=seconds)
            except (AudioError, FeatureError) as exc:
                failures[track.path] = str(exc)
                continue
            images.append(torch.from_numpy(examples))
            ys += [index[track.label]] * len(examples)
            ids += [track.track_id] * len(examples)
            if was_padded:
                padded.append(track.track_id)
        if images:
            sets[part] = ChunkSet(torch.cat(images), torch.tensor(ys), np.asarray(ids), padded)
    return sets, failures


def network_chunks(
    net: nn.Module, preset: str, tracks: Sequence, labels: list[str], parts: dict[str, str], *, config: TrainConfig,
) -> tuple[dict[str, ChunkSet], dict[str, str]]:
    """The examples of every part for ``preset``: log-mel windows of ``n_frames`` frames,
    or spectrogram images for image presets."""
    if PRESETS[preset].input_kind == "image":
        return image_chunks(tracks, labels, parts)
    augment = None
    if config.time_stretch or config.pitch_shift:
        augment = {"time_stretch": config.time_stretch, "pitch_shift": config.pitch_shift,
                   "copies": config.augment_copies, "seed": config.seed}
    return split_chunks(net, tracks, labels, parts, n_frames=PRESETS[preset].n_frames, overlap=config.overlap,
                        augment=augment)


def write_history(history: list[dict], out_dir: str | os.PathLike) -> None:
    """``history.csv`` and ``history.png`` (loss and accuracy per epoch)."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt
    import pandas as pd

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    frame = pd.DataFrame(history)
    frame.to_csv(out / "history.csv", index=False)
    figure, (left, right) = plt.subplots(1, 2, figsize=(11, 4), constrained_layout=True)
    left.plot(frame["epoch"], frame["train_loss"], marker="o")
    left.set(xlabel="epoch", ylabel="training loss", title="loss")
    for column in ("train_accuracy", "val_chunk_accuracy", "val_track_accuracy"):
        right.plot(frame["epoch"], frame[column], marker="o", label=column.replace("_", " "))
    right.set(xlabel="epoch", ylabel="accuracy", ylim=(0, 1), title="accuracy")
    right.legend()
    figure.savefig(out / "history.png", dpi=100)
    plt.close(figure)
