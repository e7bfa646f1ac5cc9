"""A training run's history as files: ``history.csv`` and ``history.png``. matplotlib is imported
only when a history is written."""

from __future__ import annotations

import os
from pathlib import Path


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
