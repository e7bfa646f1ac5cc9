"""A training run's history as files: ``history.csv`` and ``history.png``. matplotlib is imported
only when a history is written."""

from __future__ import annotations

import os
from pathlib import Path

from genrekit._files import save_figure, write_text_atomic


def write_history(history: list[dict], out_dir: str | os.PathLike) -> None:
    """``history.csv`` and ``history.png`` (loss and accuracy per epoch).

    Parameters
    ----------
    history : list of dict
        One per epoch, as :func:`~genrekit.train.loop.train_network` gives it; the plot reads
        ``epoch``, ``train_loss``, ``val_loss`` (where recorded: the kept epoch is the best
        validation track accuracy, balanced or not as the run chose, ties broken by it),
        ``train_accuracy``, ``val_chunk_accuracy``, ``val_track_accuracy`` and
        ``val_track_balanced_accuracy`` (where recorded), and the CSV keeps every field.
    out_dir : path
        The folder (made when missing); files already there are replaced, atomically.
    """
    import pandas as pd
    from matplotlib.figure import Figure  # not pyplot: a notebook's backend and figures stay its own

    out = Path(out_dir)
    frame = pd.DataFrame(history)
    write_text_atomic(out / "history.csv", frame.to_csv(index=False))
    figure = Figure(figsize=(11, 4), layout="constrained")
    left, right = figure.subplots(1, 2)
    left.plot(frame["epoch"], frame["train_loss"], marker="o", label="train loss")
    if "val_loss" in frame and frame["val_loss"].notna().any():  # what breaks a tie of validation accuracy
        left.plot(frame["epoch"], frame["val_loss"], marker="o", label="val loss (chunks)")
    left.set(xlabel="epoch", ylabel="cross-entropy (weighed by --balance)", title="loss")
    for column in ("train_accuracy", "val_chunk_accuracy", "val_track_accuracy", "val_track_balanced_accuracy"):
        if column not in frame:  # histories before 2026-12-07 have no balanced accuracy
            continue
        right.plot(frame["epoch"], frame[column], marker="o", label=column.replace("_", " "))
    if "kept" in frame and frame["kept"].any():  # the epoch whose weights the model holds
        kept = int(frame.loc[frame["kept"].astype(bool), "epoch"].iloc[0])
        for axis in (left, right):
            axis.axvline(kept, color="grey", linestyle="--", label=f"kept (epoch {kept})")
    right.set(xlabel="epoch", ylabel="accuracy", ylim=(0, 1), title="accuracy")
    left.legend()
    right.legend()
    save_figure(figure, out / "history.png")
