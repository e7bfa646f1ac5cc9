"""The network training loop: seeded, resumable, early-stopped on validation tracks.

Each epoch reseeds from (seed, epoch), and the cosine learning rate is a function of the
epoch, so a run resumed from its checkpoint (:mod:`genrekit.train.checkpoint`) continues as
if it had never stopped. The examples come from :mod:`genrekit.train.network_data`; the
network (an ``nn.Module`` of :mod:`genrekit.models.nets`) never touches a file.
"""

from __future__ import annotations

import json
import logging
import math
import os
import time
from dataclasses import asdict, replace
from pathlib import Path

import numpy as np
import torch
from torch import nn

from genrekit.errors import ParameterError, check_flags
from genrekit.models.nets.inference import in_batches, predict_chunks
from genrekit.models.nets.presets import build_network
from genrekit.train.checkpoint import CHECKPOINT_FILE, load_checkpoint, read_checkpoint_state, save_checkpoint
from genrekit.train.config import TrainConfig
from genrekit.train.network_data import ChunkSet

logger = logging.getLogger(__name__)


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


def refuse_frozen_specaugment(preset: str, *, frozen: bool, specaugment: bool) -> None:
    """SpecAugment masks spectrograms: a network whose trained part reads the features of a
    frozen pretrained part has none to mask (ParameterError)."""
    if frozen and specaugment:
        raise ParameterError(f"specaugment masks spectrograms; {preset}'s trained part reads the features of its "
                             "frozen pretrained part")


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
    weight_decay = config.l2 or config.weight_decay  # l2 0 (unset, as run records keep it): weight_decay
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


def example_weights(y, tracks, balance: str) -> torch.Tensor:
    """Each training example's weight in the loss, 1 on average over the examples.

    ``genres``: each genre weighs the same in all, and within it each of its tracks, whatever
    its number of windows (a full song's many, a short clip's few); ``tracks``: each track
    weighs the same; ``none``: each window. A track is a (track, genre) pair, so a track
    trained as two genres (multi-label) counts once in each.

    Parameters
    ----------
    y : array-like [shape=(n,)]
        Each example's genre index.
    tracks : array-like [shape=(n,)]
        Each example's track id (its augmented copies share it).
    balance : {'genres', 'tracks', 'none'}

    Returns
    -------
    torch.Tensor [shape=(n,)]
    """
    y = np.asarray(y, dtype=np.int64)
    if balance == "none" or not len(y):
        return torch.ones(len(y))
    _, track_index = np.unique(np.asarray(tracks, dtype=str), return_inverse=True)
    names, track_of, windows = np.unique(track_index * (int(y.max()) + 1) + y, return_inverse=True,
                                         return_counts=True)
    weights = 1.0 / windows[track_of]  # each track's windows sum to 1
    if balance == "genres":
        genre_of_track = np.zeros(len(names), dtype=np.int64)
        genre_of_track[track_of] = y
        tracks_per_genre = np.bincount(genre_of_track)
        weights = weights / tracks_per_genre[y]  # each genre's tracks sum to 1
    return torch.tensor(weights * len(y) / weights.sum(), dtype=torch.float32)


def _loss(config: TrainConfig, logits: torch.Tensor, target: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
    """``target`` is a (batch, n_classes) distribution (one-hot or smoothed);
    ``weights`` each example's (:func:`example_weights`: 1 on average over the training set,
    so that a batch of light examples moves the network less than one of heavy ones)."""
    if config.loss == "bce":
        per_example = nn.functional.binary_cross_entropy_with_logits(logits, target, reduction="none").mean(dim=1)
    else:
        per_example = -(target * torch.log_softmax(logits, dim=1)).sum(dim=1)
    return (weights * per_example).mean()


def track_accuracy(proba: np.ndarray, y: np.ndarray, tracks: np.ndarray, *, aggregation: str = "mean",
                   balanced: bool = False) -> float:
    """Accuracy per track, its chunks combined as the model will combine them (``mean`` of
    probabilities or majority ``vote``: :func:`genrekit.evaluate.metrics.aggregate_tracks`);
    ``balanced``: the mean over genres of the share of each genre's tracks that are right."""
    from genrekit.models.aggregation import aggregate_tracks

    tracks = np.asarray(tracks)
    track_proba, order = aggregate_tracks(proba, tracks, method=aggregation)
    _, first = np.unique(tracks, return_index=True)
    truth = dict(zip(tracks[first], np.asarray(y)[first]))
    genre = np.array([truth[track] for track in order])
    right = track_proba.argmax(axis=1) == genre
    if balanced:
        return float(np.mean([right[genre == g].mean() for g in np.unique(genre)]))
    return float(right.mean())


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
    labels: list[str] | None = None,
    aggregation: str = "mean",
) -> tuple[nn.Module, list[dict]]:
    """Train ``net``'s body on ``train``; keep the weights with the best validation track accuracy
    (balanced across genres where ``config.balance`` is ``genres``; of epochs as accurate, the
    lowest validation loss).

    Without ``val`` (cross-validation on every training track) all epochs run and the last
    weights are kept; the validation columns are NaN. A body with a frozen pretrained part
    (``frozen_features`` and ``head``) trains its head on the frozen part's outputs, computed once.

    Parameters
    ----------
    train : ChunkSet
        The training examples: ``X`` [shape=(n, 1, n_mels, n_frames)] (or images), ``y`` [shape=(n,)].
    val : ChunkSet or None
        The validation examples, which choose the epoch kept (early stopping, ``config.patience``).
    n_classes : int
    config : TrainConfig
        The run's settings (resolved here: the preset's values fill the gaps).
    net : torch.nn.Module, optional
        The network to train (default: a fresh one of ``config.preset``, seeded by ``config.seed``).
    out_dir : path, optional
        Where ``checkpoint.safetensors`` is written after every epoch
        (:mod:`genrekit.train.checkpoint`); ``resume`` continues from it.
    resume : bool
    stop_after : int, optional
        End this call after that many epochs (a time-boxed run, resumed later).
    progress : bool
        Show a progress bar.
    labels : list of str, optional
        The genres' names, in the order of ``y``: a checkpoint of other genres is not resumed.
    aggregation : str
        How a validation track's chunks are combined (``mean`` or ``vote``), as the trained
        model will combine them, so the epoch kept is the best for that.

    Returns
    -------
    net : torch.nn.Module
        The network, with the best weights loaded.
    history : list of dict
        One per epoch: ``epoch``, ``lr``, ``train_loss``, ``train_accuracy``,
        ``val_chunk_accuracy``, ``val_track_accuracy``, ``val_track_balanced_accuracy``,
        ``val_loss`` (the validation chunks' cross-entropy, each weighed as in training, which
        breaks ties in track accuracy), ``seconds``, ``train_seconds``, and ``kept``: true for
        the epoch whose weights the network holds. The epoch is chosen by the balanced track
        accuracy where ``config.balance`` is ``genres`` (each genre counts the same), else by
        the track accuracy.

    Raises
    ------
    ParameterError
        A setting out of range, ``aggregation`` unknown, or ``specaugment`` for a body that
        trains on frozen features.
    """
    from rich.progress import Progress

    from genrekit.models.aggregation import check_aggregation

    check_aggregation(aggregation)
    check_flags(resume=resume, progress=progress)
    config = config.resolved()
    # what it trains on (for the checkpoint: none without a folder, as in each CV fold), before a
    # frozen part's features (which another device computes otherwise)
    data, content = ((_data_fingerprint(train, n_classes), _content_fingerprint(train, labels)) if out_dir is not None
                     else (None, None))
    if net is None:
        torch.manual_seed(config.seed)  # the initial weights are part of what the seed fixes
        net = build_network(config.preset, n_classes)
    body = net.body if hasattr(net, "body") else net
    body.to(config.device)
    if hasattr(body, "frozen_features"):
        refuse_frozen_specaugment(config.preset, frozen=True, specaugment=bool(config.specaugment))
        train = frozen_features(body, train, progress=progress)
        val = None if val is None else frozen_features(body, val, progress=progress)
        body = body.head  # from here on, what trains
    optimizer = _optimizer(config, [p for p in body.parameters() if p.requires_grad])
    folder = Path(out_dir) if out_dir is not None else None
    history: list[dict] = []
    best = {k: v.detach().clone() for k, v in body.state_dict().items()}
    best_accuracy, best_loss, stale, start, best_epoch = -1.0, math.inf, 0, 0, None
    if resume and folder is not None and (folder / CHECKPOINT_FILE).exists():
        from safetensors import SafetensorError

        checkpoint = folder / CHECKPOINT_FILE
        # what a damaged file raises: safetensors' own error, JSON, missing keys, tensors that do not fit
        damaged = (SafetensorError, OSError, ValueError, KeyError, TypeError, RuntimeError)
        try:
            state = read_checkpoint_state(checkpoint)
            if not isinstance(state, dict):
                raise TypeError(f"its state is {type(state).__name__}, expected an object")
            _check_resumable(checkpoint, state, config, data, content)
            best, state = load_checkpoint(checkpoint, body, optimizer)
            _check_progress(state, best, body)
            history, best_accuracy, stale, start = (state["history"], state["best_accuracy"], state["stale"],
                                                    state["epoch"] + 1)
            best_loss = state.get("best_loss")  # checkpoints before 2026-12-04 keep none
            best_loss = math.inf if best_loss is None else float(best_loss)
            best_epoch = state.get("best_epoch")
            chosen_by = state.get("aggregation", "mean")  # checkpoints before 2026-12-04 chose by the mean
        except ParameterError:  # another run's checkpoint: _check_resumable says how
            raise
        except damaged as exc:
            raise ParameterError(f"{checkpoint}: cannot resume from it ({type(exc).__name__}: {exc}); delete it to "
                                 "train from the start") from exc
        logger.info("resuming at epoch %d", start)
        if chosen_by != aggregation and val is not None:
            logger.warning("%s: its epochs were scored with aggregation %r, this run scores with %r: the best epoch "
                           "so far stays as chosen until a later one scores higher", checkpoint, chosen_by,
                           aggregation)
        planned = (state.get("config") or {}).get("epochs")
        if planned not in (None, config.epochs):  # the cosine schedule is planned over the epochs
            logger.warning("%s: made for %s epochs, resumed for %d: the learning rate of the epochs left follows "
                           "the new plan (give --epochs %s to continue as planned)", checkpoint, planned,
                           config.epochs, planned)
    elif resume and folder is not None:  # a mistyped --out: say so, rather than quietly start over
        logger.warning("%s: no checkpoint to resume from; training starts at the first epoch", folder / CHECKPOINT_FILE)
    elif folder is not None and (folder / CHECKPOINT_FILE).exists():  # replaced at the first epoch: say so first
        logger.warning("%s: an earlier run's checkpoint is replaced by this run's; --resume (resume=True) would "
                       "have continued it", folder / CHECKPOINT_FILE)
    eye = torch.eye(n_classes)
    weights = example_weights(train.y, train.track, config.balance)
    val_weights = None if val is None else example_weights(val.y, val.track, config.balance).numpy()
    epoch_score = "val_track_balanced_accuracy" if config.balance == "genres" else "val_track_accuracy"
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
            losses, hits, seen = [], 0, 0
            for begin in range(0, len(order), config.batch_size):
                rows = order[begin : begin + config.batch_size]
                if len(rows) < 2:
                    continue  # batch norm needs two examples
                x = train.X[rows].to(config.device)
                target = eye[train.y[rows]] * (1 - config.label_smoothing) + config.label_smoothing / n_classes
                parts = [(1.0, target, weights[rows])]  # (share, targets, weights) of the loss
                if config.specaugment:
                    x = spec_augment(x, generator)
                if config.mixup > 0:
                    lam = float(np.random.default_rng(int(torch.randint(0, 2**31, (1,), generator=generator))).beta(config.mixup, config.mixup))
                    shuffle = torch.randperm(len(rows), generator=generator)
                    x = lam * x + (1 - lam) * x[shuffle]
                    # each example's loss on its own targets, by its own weight (the loss is linear in the
                    # targets: with equal weights, the loss of the mixed targets); mixed weights times mixed
                    # targets would give back part of what the weights take out
                    parts = [(lam, target, weights[rows]), (1 - lam, target[shuffle], weights[rows][shuffle])]
                logits = body(x)
                loss = sum(share * _loss(config, logits, part_target.to(config.device), part_weights.to(config.device))
                           for share, part_target, part_weights in parts)
                if config.l1:
                    loss = loss + config.l1 * sum(p.abs().sum() for p in body.parameters())
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
                losses.append(loss.item())
                hits += int((logits.argmax(1).cpu() == train.y[rows]).sum())
                seen += len(rows)
            train_seconds = time.perf_counter() - started
            record = {
                "epoch": epoch,
                "lr": learning_rate(config, epoch),
                "train_loss": float(np.mean(losses)) if losses else float("nan"),
                "train_accuracy": hits / seen if seen else float("nan"),  # of the rows trained on
                "val_chunk_accuracy": float("nan"),
                "val_track_accuracy": float("nan"),
                "val_track_balanced_accuracy": float("nan"),
                "val_loss": float("nan"),
                "seconds": train_seconds,
                "train_seconds": train_seconds,
            }
            if val is not None:
                proba = predict_chunks(body, val.X.to(config.device))
                val_y = val.y.numpy()
                record["val_chunk_accuracy"] = float((proba.argmax(1) == val_y).mean())
                record["val_track_accuracy"] = track_accuracy(proba, val_y, val.track, aggregation=aggregation)
                record["val_track_balanced_accuracy"] = track_accuracy(proba, val_y, val.track,
                                                                       aggregation=aggregation, balanced=True)
                nll = -np.log(np.clip(proba[np.arange(len(val_y)), val_y], 1e-12, 1))
                record["val_loss"] = float(np.mean(val_weights * nll))
                record["seconds"] = time.perf_counter() - started
            history.append(record)
            if val is None:
                best, best_epoch = {k: v.detach().clone() for k, v in body.state_dict().items()}, epoch
            elif (record[epoch_score], -record["val_loss"]) > (best_accuracy, -best_loss):
                # a tie in accuracy (a few validation tracks move it in coarse steps) goes to the lower loss
                if record[epoch_score] > best_accuracy:
                    stale = 0
                else:
                    stale += 1
                best_accuracy, best_loss, best_epoch = record[epoch_score], record["val_loss"], epoch
                best = {k: v.detach().clone() for k, v in body.state_dict().items()}
            else:
                stale += 1
            if folder is not None:
                folder.mkdir(parents=True, exist_ok=True)
                save_checkpoint(folder, body, optimizer, best, {"epoch": epoch, "history": history,
                                 "best_accuracy": best_accuracy,
                                 "best_loss": best_loss if math.isfinite(best_loss) else None, "stale": stale,
                                 "best_epoch": best_epoch, "aggregation": aggregation,
                                 "config": asdict(config),
                                 "data": data, "data_content": content})
            bar.advance(task)
    body.load_state_dict(best)
    for record in history:  # which epoch's weights the network holds (None: a checkpoint that did not say)
        record["kept"] = best_epoch is not None and record["epoch"] == best_epoch
    return net, history


def _check_progress(state: dict, best: dict, body: nn.Module) -> None:
    """A checkpoint's progress of the types its epochs left (a TypeError, raised for the caller
    to name the file): a damaged one failed in the epoch loop, or after every epoch had run,
    and an epoch of -3 ran epoch 0 twice."""
    def whole(value, least: int) -> bool:
        return isinstance(value, int) and not isinstance(value, bool) and value >= least

    def number(value) -> bool:
        return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)

    history, epoch = state.get("history"), state.get("epoch")
    problems = [name for name, fine in (
        ("epoch", whole(epoch, 0)), ("stale", whole(state.get("stale"), 0)),
        ("history", isinstance(history, list) and whole(epoch, 0) and len(history) == epoch + 1
         and all(isinstance(r, dict) and whole(r.get("epoch"), 0) for r in history)),
        ("best_accuracy", number(state.get("best_accuracy"))),
        ("best_loss", state.get("best_loss") is None or number(state["best_loss"])),
        ("best_epoch", state.get("best_epoch") is None or whole(state["best_epoch"], 0)),
        ("best weights", set(best) == set(body.state_dict()))) if not fine]
    if problems:
        raise TypeError(f"its progress holds no {', no '.join(problems)} of the kind its epochs leave")


# Settings a resumed run may change: more epochs, another device.
_RESUMABLE_CHANGES = ("epochs", "device")


def _data_fingerprint(train, n_classes: int) -> str:
    """What the run trains on, in brief: the training examples' labels, their shape and the
    number of genres (a checkpoint of other data must not be resumed)."""
    import hashlib

    digest = hashlib.sha256(f"{tuple(train.X.shape)}:{n_classes}:".encode())
    digest.update(np.ascontiguousarray(np.asarray(train.y, dtype=np.int64)).tobytes())
    return digest.hexdigest()


def _content_fingerprint(train, labels: list[str] | None) -> str:
    """What the run trains on, whole: the genres' names, each example's track and label, and
    the examples themselves (a checkpoint of other clips of the same shape and genres counts
    as other data: its weights would be continued on songs they never saw)."""
    import hashlib

    digest = hashlib.sha256(json.dumps([list(labels or []), [str(t) for t in train.track]]).encode())
    digest.update(np.ascontiguousarray(np.asarray(train.y, dtype=np.int64)).tobytes())
    X = train.X.detach().cpu().contiguous()
    for begin in range(0, len(X), 1024):  # a block at a time: no copy of every example at once
        digest.update(X[begin:begin + 1024].numpy().tobytes())
    return digest.hexdigest()


def _check_resumable(path: Path, state: dict, config, data: str, content: str | None = None) -> None:
    """Refuse, by name, to resume a checkpoint made with other settings or other data: its
    weights and its validation history would describe another run."""
    from genrekit.models.catalogue import current_preset

    saved = json.loads(json.dumps(state.get("config") or {}))
    if "preset" in saved:  # a checkpoint made before its preset was renamed
        saved["preset"] = current_preset(saved["preset"])
    from_before_balance = bool(saved) and "balance" not in saved
    if from_before_balance:  # checkpoints before 2026-12-07 weighed every window the same
        saved["balance"] = "none"
    now = json.loads(json.dumps(asdict(config)))
    changed = sorted(k for k in set(saved) | set(now) if k not in _RESUMABLE_CHANGES and saved.get(k) != now.get(k))
    if changed:
        shown = ", ".join(f"{k}: {saved.get(k)!r} -> {now.get(k)!r}" for k in changed[:4])
        before = (" (checkpoints from before 2026-12-07 weighed every window the same: give --balance none "
                  "(balance='none') to continue one)" if from_before_balance and "balance" in changed else "")
        raise ParameterError(f"{path}: made with other settings ({shown}); expected the same settings to resume "
                             f"(or another --out for a new run){before}")
    # checkpoints since 2026-12-04 record the content; earlier ones the shape and labels only
    if state.get("data") not in (None, data) or state.get("data_content") not in (None, content):
        raise ParameterError(f"{path}: made from other training data (other tracks, genres or split); expected the "
                             "same data to resume (or another --out for a new run)")
