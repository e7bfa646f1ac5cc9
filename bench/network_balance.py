"""A network trained on unbalanced genres: what counts the same in its loss. ``--balance
none`` (each window, every run before 2026-12-07), ``tracks`` (each track, whatever its
length) and ``genres`` (each genre, and within it each track). Scored on music the network
never heard.

Protocol: ``short-chunk-resnet`` on three genres of gtzan-mini, unbalanced as a library often
is: 7 clips of classical and of jazz, 2 of rock (ids 00000-00006 and 00000-00001); one clip
of each (id 00007) is the validation track that chooses the epoch. The test tracks are all 120
clips of gtzan-dev (40 each of classical, jazz and rock, mostly other artists). Each setting
trains with three seeds; the table gives each run and the means.

    python bench/network_balance.py              # 9 runs, ~20 min on 2 cores; resumes (runs done are kept)
    python bench/network_balance.py --epochs 2 --seeds 0 --out /tmp/smoke.json   # a smoke run
    python bench/network_balance.py --table      # the table of the result file

Reads ``../shared/data/gtzan-mini`` and ``gtzan-dev``; exits with a message when absent.
Result: ``bench/results/network_balance.json``.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _results import (add_result_options, header, printed_table, read_result, result_path, shown_path,  # noqa: E402
                      write_result)

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data"
GENRES = ["classical", "jazz", "rock"]
TRAIN_IDS = {"classical": range(7), "jazz": range(7), "rock": range(2)}
VAL_ID = 7
PRESET = "short-chunk-resnet"
NAME = "network_balance.json"
BALANCES = ("none", "tracks", "genres")


def datasets():
    from genrekit.datasets import load_gtzan

    for name in ("gtzan-mini", "gtzan-dev"):
        if not (DATA / name).is_dir():
            sys.exit(f"{DATA / name}: not found (this benchmark reads ../shared/data/{name})")
    mini, dev = load_gtzan(DATA / "gtzan-mini"), load_gtzan(DATA / "gtzan-dev")
    parts = {}
    for track in mini.tracks:
        if track.label in GENRES:
            number = int(track.track_id[-5:])
            if number in TRAIN_IDS[track.label]:
                parts[track.track_id] = "train"
            elif number == VAL_ID:
                parts[track.track_id] = "val"
    return mini, dev, parts


def run(balance: str, seed: int, epochs: int, sets, test) -> dict:
    from genrekit.models.nets import build_network
    from genrekit.models.nets.inference import predict_chunks
    from genrekit.models.aggregation import aggregate_tracks
    from genrekit.train.config import TrainConfig
    from genrekit.train.loop import train_network

    config = TrainConfig(preset=PRESET, epochs=epochs, seed=seed, balance=balance)
    started = time.perf_counter()
    net, history = train_network(sets["train"], sets["val"], len(GENRES), config, progress=False)
    seconds = time.perf_counter() - started
    body = net.body if hasattr(net, "body") else net
    proba = predict_chunks(body, test.X)
    track_proba, order = aggregate_tracks(proba, np.asarray(test.track), method="mean")
    truth = dict(zip(np.asarray(test.track), np.asarray(test.y)))
    genre = np.array([truth[t] for t in order])
    called = track_proba.argmax(axis=1)
    recall = {g: float(np.mean(called[genre == i] == i)) for i, g in enumerate(GENRES)}
    return {"balance": balance, "seed": seed, "accuracy": float(np.mean(called == genre)),
            "balanced_accuracy": float(np.mean(list(recall.values()))), "recall": recall,
            "called_rock": int(np.sum(called == GENRES.index("rock"))), "n_test": len(order),
            "kept_epoch": next((h["epoch"] for h in history if h.get("kept")), None),
            "train_seconds": round(seconds, 1)}


def markdown(record: dict) -> str:
    lines = [header(record), "",
             "| balance | seed | accuracy | balanced accuracy | recall classical / jazz / rock | called rock | "
             "kept epoch |", "|---|---|---|---|---|---|---|"]
    for row in sorted(record["runs"], key=lambda r: (r["seed"], BALANCES.index(r["balance"]))):
        recall = " / ".join(f"{row['recall'][g]:.3f}" for g in GENRES)
        lines.append(f"| {row['balance']} | {row['seed']} | {row['accuracy']:.3f} | {row['balanced_accuracy']:.3f} | "
                     f"{recall} | {row['called_rock']} of {row['n_test']} | {row['kept_epoch']} |")
    for balance in BALANCES:
        rows = [r for r in record["runs"] if r["balance"] == balance]
        if rows:
            recall = " / ".join(f"{np.mean([r['recall'][g] for r in rows]):.3f}" for g in GENRES)
            lines.append(f"| **{balance}, mean** | {len(rows)} seeds | {np.mean([r['accuracy'] for r in rows]):.3f} | "
                         f"{np.mean([r['balanced_accuracy'] for r in rows]):.3f} | {recall} | "
                         f"{np.mean([r['called_rock'] for r in rows]):.1f} | |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    add_result_options(parser, NAME)
    args = parser.parse_args()
    out = args.out or result_path(NAME)
    if printed_table(args, out, markdown):
        return
    from genrekit.models.nets import build_network
    from genrekit.models.nets.presets import PRESETS
    from genrekit.train.network_data import split_chunks

    mini, dev, parts = datasets()
    net = build_network(PRESET, len(GENRES))
    n_frames = PRESETS[PRESET].n_frames
    sets, failures = split_chunks(net, mini.tracks, GENRES, parts, n_frames=n_frames)
    dev_tracks = [t for t in dev.tracks if t.label in GENRES]
    test, test_failures = split_chunks(net, dev_tracks, GENRES, {t.track_id: "test" for t in dev_tracks},
                                       n_frames=n_frames)
    if failures or test_failures:
        sys.exit(f"unreadable clips: {sorted({**failures, **test_failures})}")
    data = {"train": {g: len([t for t, p in parts.items() if p == "train" and t.startswith(g)]) for g in GENRES},
            "val": {g: 1 for g in GENRES}, "test": shown_path(DATA / "gtzan-dev"), "preset": PRESET,
            "epochs": args.epochs}
    # an earlier run of the same protocol: its runs are kept, and those it lacks are added (resumable)
    runs = read_result(out)["runs"] if out.exists() and read_result(out)["data"] == data else []
    for seed in args.seeds:
        for balance in BALANCES:
            if any(r["balance"] == balance and r["seed"] == seed for r in runs):
                continue
            runs.append(run(balance, seed, args.epochs, sets, test["test"]))
            print(runs[-1], flush=True)
            write_result(out, "network_balance", data, runs=runs)
    print(markdown(read_result(out)))


if __name__ == "__main__":
    main()
