"""Peak memory of whole-song prediction: a 1-hour and a 2-hour file against a 30 s clip.

The long files are real GTZAN clips back to back (22.05 kHz mono, 16-bit); the clip is
metal.00000.au (30 s). Each prediction runs in a fresh process, whose peak RSS is read
from VmHWM. Models: the classical default (``ensemble`` on fma518, 30 s segments) trained
here on gtzan-mini; the ``edge-cnn`` and ``default`` network presets (weights do not change
memory; untrained); and genrekit's shipped default model, as its model file and as its
ONNX export (``genrekit.models.default_model_path``).

Target (issue 20): the 1-hour file peaks at <= 1.25x the 30 s clip, for networks,
classical models and ONNX; the 2-hour file is measured against the same target.

Results: ``bench/results/song_memory.json`` (every peak RSS in MB, ratio, chunk count and
seconds). About 10-15 minutes (a 2-hour file takes 10-90 s with the presets, a few minutes
with the shipped default model); peak RSS does not need an idle machine, the seconds do.
``--table`` prints docs/benchmarks.md's table from the result file without measuring.
Needs ../shared/data.

    python bench/song_memory.py
    python bench/song_memory.py --table
    python bench/song_memory.py --lengths 60,120 --out /tmp/song_memory.json   # smoke: 1- and 2-minute files
    python bench/song_memory.py --only ONNX --lengths 90,300,900,3600 --out bench/results/song_memory-lengths-onnx.json
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _results import add_result_options, header, printed_table, result_path, shown_path, write_result  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data" / "gtzan-mini" / "genres"
TARGET = 1.25

# Peak RSS from VmHWM: getrusage's ru_maxrss carries the parent's peak across fork + exec.
CODE = ("import re, sys, time; from genrekit.models import load; from genrekit.predict import predict_file; "
        "t = time.perf_counter(); p = predict_file(load(sys.argv[1]), sys.argv[2]); "
        "hwm = re.search(r'VmHWM:\\s+(\\d+)', open('/proc/self/status').read()).group(1); "
        "print(p.n_chunks, int(hwm) / 1024, time.perf_counter() - t)")


def measure(model: Path, song: Path) -> tuple[int, float, float]:
    out = subprocess.run([sys.executable, "-c", CODE, str(model), str(song)], capture_output=True, text=True)
    if out.returncode != 0:
        sys.exit(f"{model} on {song.name} failed ({out.returncode}):\n{out.stderr[-2000:]}")
    n, peak, seconds = out.stdout.split()
    return int(n), float(peak), float(seconds)


def length_name(seconds: int) -> str:
    return f"{seconds // 3600}-hour file" if seconds % 3600 == 0 else f"{seconds / 60:g}-minute file"


def markdown(record: dict) -> str:
    """docs/benchmarks.md's table: per model, the clip's peak RSS, each long file's and its ratio."""
    lengths = record["lengths_seconds"]
    cells = ["model", "30 s clip: peak RSS (MB)"]
    for seconds in lengths:
        cells += [f"{length_name(seconds)}: peak RSS (MB)", f"ratio (target <= {record['target_ratio']})"]
    cells.append("chunks, seconds: " + " / ".join(length_name(s).removesuffix(" file") for s in lengths))
    lines = [header(record), "", "| " + " | ".join(cells) + " |", "|---" * len(cells) + "|"]
    for row in record["rows"]:
        long = [row["long"][str(s)] for s in lengths]
        lines.append("| " + " | ".join([row["model"], f"{row['clip_peak_rss_mb']:.0f}",
                                         *(f"{x['peak_rss_mb']:.0f} | {x['ratio']:.2f}" for x in long),
                                         " / ".join(f"{x['chunks']}, {x['seconds']:.0f} s" for x in long)]) + " |")
    return "\n".join(lines)


def write_song(path: Path, clips: list, seconds: int) -> Path:
    """``clips`` (22.05 kHz) back to back until ``seconds`` of audio are written."""
    import soundfile as sf

    with sf.SoundFile(path, "w", samplerate=22050, channels=1, subtype="PCM_16") as handle:
        written = 0
        while written < seconds * 22050:
            for y in clips:
                handle.write(y)
                written += len(y)
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--lengths", default="3600,7200",
                        help="the long files' lengths in seconds (default: 1 and 2 hours)")
    parser.add_argument("--only", help="only the models whose name contains this text (e.g. ONNX)")
    add_result_options(parser, "song_memory.json")
    args = parser.parse_args()
    out = args.out or result_path("song_memory.json")
    if printed_table(args, out, markdown):
        return
    import soundfile as sf
    from models import benchmark_models

    from genrekit import audio
    from genrekit.models import default_model_path

    if not DATA.is_dir():
        sys.exit(f"gtzan-mini not found at {DATA}: this benchmark needs ../shared/data")
    lengths = [int(s) for s in args.lengths.split(",")]
    sources = [next((DATA / g).glob(f"{g}.00000.*")) for g in ("metal", "jazz", "pop")]
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        clips = [audio.load(path, sr=22050)[0] for path in sources]
        short_path = tmp / "clip.wav"
        sf.write(short_path, clips[0], 22050)
        shipped = {"shipped default model, model file (musicnn + head)": default_model_path(onnx=False),
                   "shipped default model, ONNX": default_model_path(onnx=True)}
        built = {"ensemble (fma518, 30 s segments)": "ensemble", "edge-cnn (7.5 s windows)": "edge-cnn",
                 "short-chunk-resnet network (3 s windows)": "short-chunk-resnet"}
        chosen = [name for name in [*built, *shipped] if not args.only or args.only in name]
        if not chosen:
            sys.exit(f"--only {args.only!r}: no model's name contains it")
        trained = benchmark_models(DATA, tmp) if set(chosen) & set(built) else {}
        models = {name: shipped[name] if name in shipped else trained[built[name]] for name in chosen}
        short = {name: measure(model, short_path) for name, model in models.items()}
        rows = [{"model": name, "file": shown_path(model), "clip_peak_rss_mb": short[name][1],
                 "clip_chunks": short[name][0], "clip_seconds": short[name][2], "long": {}}
                for name, model in models.items()]
        for seconds in lengths:
            # one long file at a time: two hours of 16-bit audio is 318 MB on disk
            long_path = write_song(tmp / f"{seconds}s.wav", clips, seconds)
            for row, model in zip(rows, models.values()):
                n, peak, took = measure(model, long_path)
                row["long"][str(seconds)] = {"peak_rss_mb": peak, "ratio": peak / row["clip_peak_rss_mb"],
                                             "meets_target": peak / row["clip_peak_rss_mb"] <= TARGET,
                                             "chunks": n, "seconds": took}
                print(f"{row['model']}: {length_name(seconds)} {peak:.0f} MB, "
                      f"{peak / row['clip_peak_rss_mb']:.2f}x the clip", flush=True)
            long_path.unlink()
    record = write_result(
        out, "whole-song prediction peak RSS, long files against a 30 s clip (issue 20)",
        {"path": shown_path(DATA), "clip": f"{sources[0].name} ({len(clips[0]) / 22050:.1f} s)",
         "long_files": " + ".join(p.name for p in sources) + " back to back, 22.05 kHz mono 16-bit"},
        target_ratio=TARGET, lengths_seconds=lengths, rows=rows)
    print(markdown(record))


if __name__ == "__main__":
    main()
