"""The timeline's music check: how often the shipped default calls a ~6 s window of music
"unknown" (not music), and how often it catches a window of speech, sound effects, noise or
tones.

Since 2026-12-06 each window of the timeline gets the music detector's verdict
(:mod:`genrekit.models.music`) on the window's own pooled features, at the detector's shipped
threshold (chosen on whole 30 s signals; nothing here is fitted or chosen). A window heard as
not music is ``unknown`` in the timeline and in the proportions, and a chunk heard as not
music does not count for the song's genre. The detector was trained on 30 s signals, so its
verdict on a 6 s window had to be measured before it was trusted.

Sets (whole files through ``genrekit.predict.predict_files`` with the defaults: 10 s of
intro and outro skipped where the song keeps 30 s, the light ONNX default):

- music the detector never trained on: immich-memories-music's 28 tracks (generated
  electronic and acoustic music; skipped where the package is absent), and, with
  ``--recorded``, Extreme Tux Racer's 10 pieces of game music and Asterisk's 5 pieces of
  music on hold (8 kHz), whole (bench/recorded.py fetches them);
- music the detector trained on (as whole clips, never as windows): the 200 GTZAN clips of
  gtzan-mini and gtzan-dev (optimistic: also the genre head's training clips);
- non-music: the generated ``test`` signals of tests/nonmusic.py (speech in several voices,
  noises, tones, beeps), and with ``--recorded`` the recorded ``test`` set (J. F. Kennedy,
  CMU ARCTIC, Asterisk's prompts in five languages; The Battle for Wesnoth's sounds).

Per set: files, windows, windows called unknown, files with any window unknown, files whose
proportions give time to ``unknown`` (windows the timeline leaves out, mostly silent, count
there too) and the largest such share, files whose song genre is unknown. About 4 minutes on 2 cores (8 with ``--recorded``, after its fetch).

    python bench/timeline_music.py --recorded
    python bench/timeline_music.py --table
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _results import add_result_options, header, printed_table, result_path, write_result  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data"
NAME = "timeline_music.json"
SR = 16000  # the recorded and generated signals' rate


def music_sets(recorded: bool) -> dict[str, list[Path]]:
    sets: dict[str, list[Path]] = {}
    try:
        import immich_memories_music

        sets["immich-memories-music (music, held out)"] = sorted(
            Path(immich_memories_music.tracks_dir()).glob("*/*.opus"))
    except ImportError:
        print("immich-memories-music is not installed: its set is skipped")
    if recorded:
        from recorded import fetch

        store = fetch()
        sets["Tux Racer game music, whole (music, held out)"] = sorted(
            (store / "extremetuxracer-data").rglob("music/*.ogg"))
        sets["music on hold, 8 kHz, whole (music, held out)"] = sorted(
            (store / "asterisk-moh-opsound-wav").rglob("*.wav"))
    gtzan = [p for split in ("gtzan-mini", "gtzan-dev") for p in sorted((DATA / split / "genres").glob("*/*.*"))]
    if gtzan:
        sets["GTZAN mini + dev (music the detector trained on)"] = gtzan
    else:
        print(f"{DATA}: no GTZAN clips: its set is skipped")
    return sets


def nonmusic_sets(folder: Path, recorded: bool) -> dict[str, list[Path]]:
    import soundfile as sf

    sys.path.insert(0, str(ROOT / "tests"))
    from nonmusic import write_signals

    sets = {"generated non-music, test set": write_signals(folder / "generated", "test")}
    if recorded:
        from recorded import signals

        written = []
        for name, y in signals("test").items():
            path = folder / "recorded" / (name.replace("/", "_").replace("#", "-") + ".wav")
            path.parent.mkdir(parents=True, exist_ok=True)
            sf.write(path, y, SR, subtype="PCM_16")
            written.append(path)
        sets["recorded speech and sound effects, test set"] = written
    return sets


def measure(model, name: str, paths: list[Path], music: bool) -> dict:
    from genrekit.predict import predict_files

    predictions, failures = predict_files(model, paths, progress=True)
    windows = [s for p in predictions for s in p.timeline]
    unknown = [s for s in windows if s.genre == "unknown"]
    row = {"set": name, "music": music, "files": len(paths), "failed": len(failures), "windows": len(windows),
           "windows_unknown": len(unknown),
           "files_with_unknown_window": sum(any(s.genre == "unknown" for s in p.timeline) for p in predictions),
           "files_unknown": sum(p.genre == "unknown" for p in predictions),
           # the proportions' unknown share counts windows the timeline leaves out (mostly silent) too
           "files_with_unknown_share": sum(p.proportions.get("unknown", 0) > 0 for p in predictions),
           "largest_unknown_share": max((p.proportions.get("unknown", 0) for p in predictions), default=None),
           "lowest_window_music": min((s.music for s in windows), default=None),
           "flagged": sorted({Path(p.path).name for p in predictions if any(s.genre == "unknown" for s in p.timeline)}
                             if music else set())}
    print(line(row))
    return row


def line(row: dict) -> str:
    caught = "flagged" if row["music"] else "caught"
    share = row["windows_unknown"] / row["windows"] if row["windows"] else float("nan")
    return (f"| {row['set']} | {row['files']} | {row['windows']} | {row['windows_unknown']} ({share:.1%}) {caught} | "
            f"{row['files_with_unknown_window']} | {row['files_with_unknown_share']} "
            f"({row['largest_unknown_share']:.0%}) | {row['files_unknown']} |")


def markdown(record: dict) -> str:
    lines = [header(record), "",
             "| set | files | windows | windows unknown | files with a window unknown | files with an unknown share "
             "(the largest) | files unknown as a whole |",
             "|---|---|---|---|---|---|---|", *(line(row) for row in record["rows"])]
    flagged = [f"- {row['set']}: {', '.join(row['flagged'])}" for row in record["rows"] if row["flagged"]]
    return "\n".join(lines + (["", "Music files with a window unknown:", *flagged] if flagged else []))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--recorded", action="store_true", help="add the recorded sets (bench/recorded.py fetches them)")
    add_result_options(parser, NAME)
    args = parser.parse_args()
    out = args.out or result_path(NAME)
    if printed_table(args, out, markdown):
        return
    from genrekit.models import load

    model = load("default")
    rows = []
    with tempfile.TemporaryDirectory() as scratch:
        for name, paths in music_sets(args.recorded).items():
            rows.append(measure(model, name, paths, music=True))
        for name, paths in nonmusic_sets(Path(scratch), args.recorded).items():
            rows.append(measure(model, name, paths, music=False))
    record = write_result(out, "timeline music check: windows of music called unknown, windows of non-music caught",
                          {"model": "default (light ONNX)", "threshold": "the detector's shipped one (p(music) < 0.2)"},
                          rows=rows)
    print(markdown(record))


if __name__ == "__main__":
    main()
