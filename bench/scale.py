"""Local process pool against Ray on this machine: the overhead of running on Ray.

Both runners extract FMA's 518 features from every gtzan-mini clip (80 files, no cache)
and tag them with the default classical model, with 2 workers each; Ray runs a local
cluster on 127.0.0.1 with 2 CPUs, started beforehand (its start-up is reported apart:
on a real cluster it is paid once, not per run). The per-track costs measured here feed
the projection in docs/scale.md.

    python bench/scale.py

Target (issue 8): Ray's wall time at most 1.3x the local runner's. Needs ../shared/data
and the 'ray' extra.
"""

from __future__ import annotations

import os
import platform
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from models import benchmark_models  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data" / "gtzan-mini" / "genres"


def main() -> None:
    if not DATA.is_dir():
        sys.exit(f"gtzan-mini not found at {DATA}: this benchmark needs ../shared/data (see its README)")
    os.environ.setdefault("RAY_AUTH_MODE", "disabled")
    from genrekit.features import FeatureSpec, extract_features
    from genrekit.predict import tag_library
    from genrekit.runners import LocalRunner, RayRunner

    paths = sorted(str(p) for p in DATA.rglob("*") if p.suffix in (".wav", ".au"))
    audio_seconds = 0.0
    import soundfile as sf

    for path in paths:
        audio_seconds += sf.info(path).duration
    start = time.perf_counter()
    ray_runner = RayRunner(jobs=2, num_cpus=2)
    ray_runner.connect()
    ray_start = time.perf_counter() - start
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        model = benchmark_models(DATA, Path(tmp))["ensemble"]
        for name, runner in (("local", LocalRunner(2, preload=["genrekit.features.extract"])), ("ray", ray_runner)):
            start = time.perf_counter()
            result = extract_features(paths, FeatureSpec("fma518"), runner=runner, progress=False)
            features = time.perf_counter() - start
            assert not result.failures, result.failures
            start = time.perf_counter()
            summary = tag_library(DATA, model, Path(tmp) / f"{name}.csv", runner=runner, progress=False)
            tagging = time.perf_counter() - start
            assert summary.n_tagged == len(paths)
            rows.append((name, features, tagging))
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
    print(f"gtzan-mini: {len(paths)} files, {audio_seconds / 60:.1f} min of audio; 2 workers; "
          f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, {time.strftime('%Y-%m-%d')}")
    print(f"Ray local cluster start: {ray_start:.1f} s (not in the rows below)")
    print("| runner | fma518 features | s per track | tag (ensemble) | s per track |\n|---|---|---|---|---|")
    for name, features, tagging in rows:
        print(f"| {name} | {features:.1f} s | {features / len(paths):.3f} | {tagging:.1f} s | {tagging / len(paths):.3f} |")
    print(f"| ray / local | {ray[1] / local[1]:.2f}x | | {ray[2] / local[2]:.2f}x | |")
    print(f"fma518 of a 30 s 44.1 kHz stereo MP3 (decoding and resampling included), one core: "
          f"{mp3_core_seconds:.3f} core-seconds per clip")


if __name__ == "__main__":
    main()
