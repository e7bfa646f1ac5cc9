"""A file that cannot be decoded is on no side of train's split: splits.csv marks it
``failed``, and run.json's tracks per genre count only the tracks used. splits.csv listed it
as a training track, and run.json counted 7 jazz training tracks where 6 were fitted on."""

import json
from collections import Counter

import pandas as pd
from typer.testing import CliRunner

from genrekit.cli.common import EXIT_PARTIAL
from genrekit.cli.main import app
from genrekit.models import load_model


def test_files_that_fail_to_decode_are_marked_failed_and_not_counted(tmp_path, gtzan_mini, corrupted_file,
                                                                     feature_cache):
    """A manifest's own split (``--split dataset``) puts an undecodable file on each side."""
    rows = []
    for genre in ("blues", "jazz", "rock"):
        for clip, side in zip(sorted((gtzan_mini / genre).iterdir()), ("train", "train", "val", "test")):
            rows.append({"path": str(clip), "label": genre, "split": side, "track_id": clip.stem})
    bad = {"jazz": "train", "rock": "val", "blues": "test"}
    for k, (genre, side) in enumerate(bad.items()):
        path = tmp_path / f"{genre}-broken.wav"
        path.write_bytes(corrupted_file.read_bytes() + bytes([k]))  # three files, not copies of one
        rows.append({"path": str(path), "label": genre, "split": side, "track_id": path.stem})
    pd.DataFrame(rows).to_csv(tmp_path / "songs.csv", index=False)
    out = tmp_path / "run"
    result = CliRunner().invoke(app, ["train", str(tmp_path / "songs.csv"), "--model", "logreg", "--features",
                                      "gtzan57", "--split", "dataset", "--no-cv", "--jobs", "1", "--cache",
                                      str(feature_cache), "--out", str(out)])
    assert result.exit_code == EXIT_PARTIAL, result.output
    run = json.loads((out / "run.json").read_text())
    assert sorted(run["failures"]) == sorted(str(tmp_path / f"{genre}-broken.wav") for genre in bad)
    splits = pd.read_csv(out / "splits.csv", dtype=str)
    assert len(splits) == 15 and Counter(splits["split"]) == {"train": 6, "val": 3, "test": 3, "failed": 3}
    genre_of = {row["track_id"]: row["label"] for row in rows}
    side = dict(zip(splits["track_id"], splits["split"]))
    assert {t for t, s in side.items() if s == "failed"} == {f"{genre}-broken" for genre in bad}
    # run.json counts what splits.csv says was used, and that is what was fitted on and tested
    counts = run["split"]["tracks_per_genre"]
    assert counts == {part: {"blues": n, "jazz": n, "rock": n} for part, n in (("train", 2), ("val", 1), ("test", 1))}
    for part in ("train", "val", "test"):
        assert counts[part] == dict(Counter(genre_of[t] for t, s in side.items() if s == part)), part
    fitted = load_model(out / "model.genrekit").training["track_ids"]
    assert sorted(fitted) == sorted(t for t, s in side.items() if s in ("train", "val"))
    tested = pd.read_csv(out / "predictions.csv", dtype=str)["track_id"]
    assert sorted(tested) == sorted(t for t, s in side.items() if s == "test")
