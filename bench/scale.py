"""Local process pool against Ray on this machine: the overhead of running on Ray.

Both runners extract FMA's 518 features from every gtzan-mini clip (80 files, no cache)
and tag them with the default classical model, with 2 workers each; Ray runs a local
cluster on 127.0.0.1 with 2 CPUs, started beforehand (its start-up is reported apart:
on a real cluster it is paid once, not per run). The per-track costs measured here feed
the projection in docs/scale.md.

    python bench/scale.py

Target (issue 8): Ray's wall time at most 1.3x the local runner's. Needs ../shared/data
and the 'ray' extra.

Results: ``bench/results/scale.json`` (Ray's start-up, each runner's seconds and seconds
per track, the ratios, the MP3 core-seconds). About 2 minutes; run it on an otherwise idle
machine. ``--table`` prints docs/benchmarks.md's table from the result file without
measuring; ``--limit N`` runs the first N files only (a smoke test, into bench/out/smoke/).

    python bench/scale.py --table
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _results import add_result_options, header, library_of, printed_table, result_path, shown_path, write_result  # noqa: E402
from models import benchmark_models  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data" / "gtzan-mini" / "genres"


def markdown(record: dict) -> str:
    """docs/benchmarks.md's table and the MP3 figure under it."""
    data, rows = record["data"], {row["runner"]: row for row in record["rows"]}
    lines = [header(record), f"gtzan-mini: {data['files']} files, {data['audio_minutes']:.1f} min of audio; "
             f"{record['workers']} workers", f"Ray local cluster start: {record['ray_start_seconds']:.1f} s "
             "(not in the rows below)", "",
             "| runner | fma518 features | s per track | tag (ensemble) | s per track |", "|---|---|---|---|---|"]
    for row in record["rows"]:
        lines.append(f"| {row['runner']} | {row['features_seconds']:.1f} s | {row['features_s_per_track']:.3f} "
                     f"| {row['tag_seconds']:.1f} s | {row['tag_s_per_track']:.3f} |")
    lines.append(f"| ray / local | {rows['ray']['features_seconds'] / rows['local']['features_seconds']:.2f}x | "
                 f"| {rows['ray']['tag_seconds'] / rows['local']['tag_seconds']:.2f}x | |")
    lines.append(f"\nfma518 of a 30 s 44.1 kHz stereo MP3 (decoding and resampling included), one core: "
                 f"{record['mp3_core_seconds_per_clip']:.3f} core-seconds per clip")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--limit", type=int, help="the first files only (a smoke test; into bench/out/smoke/)")
    add_result_options(parser, "scale.json")
    args = parser.parse_args()
    out = args.out or result_path("scale.json", smoke=args.limit is not None)
    if printed_table(args, out, markdown):
        return
    if not DATA.is_dir():
        sys.exit(f"gtzan-mini not found at {DATA}: this benchmark needs ../shared/data (see its README)")
    os.environ.setdefault("RAY_AUTH_MODE", "disabled")
    from genrekit.features import FeatureSpec, extract_features
    from genrekit.predict import tag_library
    from genrekit.runners import LocalRunner, RayRunner

    paths = sorted(str(p) for p in DATA.rglob("*") if p.suffix in (".wav", ".au"))[:args.limit]
    audio_seconds = 0.0
    import soundfile as sf

    for path in paths:
        audio_seconds += sf.info(path).duration
    start = time.perf_counter()
    ray_runner = RayRunner(n_jobs=2, num_cpus=2)
    ray_runner.connect()
    ray_start = time.perf_counter() - start
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        library = library_of(paths, Path(tmp) / "library") if args.limit else DATA
        model = benchmark_models(DATA, Path(tmp))["ensemble"]
        for name, runner in (("local", LocalRunner(2, preload=["genrekit.features.extract"])), ("ray", ray_runner)):
            start = time.perf_counter()
            result = extract_features(paths, FeatureSpec("fma518"), runner=runner, progress=False)
            features = time.perf_counter() - start
            assert not result.failures, result.failures
            start = time.perf_counter()
            summary = tag_library(library, model, Path(tmp) / f"{name}.csv", runner=runner, progress=False)
            tagging = time.perf_counter() - start
            assert summary.n_tagged == len(paths)
            rows.append({"runner": name, "features_seconds": features, "features_s_per_track": features / len(paths),
                         "tag_seconds": tagging, "tag_s_per_track": tagging / len(paths)})
            print(f"{name}: features {features:.1f} s, tag {tagging:.1f} s", flush=True)
        # FMA's own files: 44.1 kHz stereo MP3. One core, 10 clips re-encoded so, 30 s each.
        import numpy as np
        import soxr

        from genrekit import audio

        mp3s = []
        for path in paths[::8][:10]:
            y, _ = audio.load(path, sr=22050)
            y = np.resize(y, 30 * 22050)  # exactly 30 s, as fma_large's clips
            stereo = soxr.resample(np.stack([y, y]).T, 22050, 44100)
            mp3s.append(Path(tmp) / f"{Path(path).stem}.mp3")
            sf.write(mp3s[-1], stereo, 44100, format="MP3")
        start = time.perf_counter()
        extract_features([str(m) for m in mp3s], FeatureSpec("fma518"), n_jobs=1, progress=False)
        mp3_core_seconds = (time.perf_counter() - start) / len(mp3s)
    local, ray = rows
    record = write_result(
        out, "local process pool against Ray (issue 8)",
        {"path": shown_path(DATA), "files": len(paths), "audio_minutes": audio_seconds / 60,
         "mp3_clips": [m.name for m in mp3s]},
        workers=2, ray_num_cpus=2, ray_start_seconds=ray_start, rows=rows,
        ray_over_local={"features": ray["features_seconds"] / local["features_seconds"],
                        "tag": ray["tag_seconds"] / local["tag_seconds"]},
        mp3_core_seconds_per_clip=mp3_core_seconds)
    print(markdown(record))


if __name__ == "__main__":
    main()
