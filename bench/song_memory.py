"""Peak memory of whole-song prediction: a 2-hour file against a 30 s clip.

The 2-hour file is real GTZAN clips back to back (22.05 kHz mono, 16-bit). Each
prediction runs in a fresh process, whose peak RSS is read from VmHWM. Models: the
classical default (``ensemble`` on fma518, 30 s segments) trained here on gtzan-mini, and
``edge-cnn`` and ``default`` network files (weights do not change memory; untrained).

    python bench/song_memory.py

Target (issue 4): the 2-hour file peaks at <= 1.5x the 30 s clip. Needs ../shared/data.
"""

from __future__ import annotations

import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data" / "gtzan-mini" / "genres"

# Peak RSS from VmHWM: getrusage's ru_maxrss carries the parent's peak across fork + exec.
CODE = ("import re, sys, time; from genrekit.models import load; from genrekit.predict import predict_file; "
        "t = time.perf_counter(); p = predict_file(load(sys.argv[1]), sys.argv[2]); "
        "hwm = re.search(r'VmHWM:\\s+(\\d+)', open('/proc/self/status').read()).group(1); "
        "print(p.n_chunks, int(hwm) / 1024, time.perf_counter() - t)")


def measure(model: Path, song: Path) -> tuple[int, float, float]:
    out = subprocess.run([sys.executable, "-c", CODE, str(model), str(song)], capture_output=True, text=True, check=True)
    n, peak, seconds = out.stdout.split()
    return int(n), float(peak), float(seconds)


def main() -> None:
    import soundfile as sf

    from models import benchmark_models

    from genrekit import audio

    if not DATA.is_dir():
        sys.exit(f"gtzan-mini not found at {DATA}: this benchmark needs ../shared/data")
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        clips = [audio.load(next((DATA / g).glob(f"{g}.00000.*")), sr=22050)[0] for g in ("metal", "jazz", "pop")]
        long_path, short_path = tmp / "two_hours.wav", tmp / "clip.wav"
        with sf.SoundFile(long_path, "w", samplerate=22050, channels=1, subtype="PCM_16") as handle:
            written = 0
            while written < 2 * 3600 * 22050:
                for y in clips:
                    handle.write(y)
                    written += len(y)
        sf.write(short_path, clips[0], 22050)
        built = benchmark_models(DATA, tmp)
        models = {"ensemble (fma518, 30 s segments)": built["ensemble"], "edge-cnn (7.5 s windows)": built["edge-cnn"],
                  "default network (3 s windows)": built["default"]}
        print(f"whole-song prediction memory; {platform.machine()}, {os.cpu_count()} cores, {time.strftime('%Y-%m-%d')}")
        print("| model | 30 s clip: peak RSS (MB) | 2-hour file: peak RSS (MB) | ratio (target <= 1.5) | 2-hour file: chunks, seconds |")
        print("|---|---|---|---|---|")
        for name, model in models.items():
            _, short_peak, _ = measure(model, short_path)
            n, long_peak, seconds = measure(model, long_path)
            print(f"| {name} | {short_peak:.0f} | {long_peak:.0f} | {long_peak / short_peak:.2f} | {n}, {seconds:.0f} s |",
                  flush=True)


if __name__ == "__main__":
    main()
