"""fma518 extraction speed: genrekit (1 core, all cores, cache hits) against plain librosa.

Data: the 80 clips of ../shared/data/gtzan-mini (15-30 s each); times are reported per
30 s of audio. The plain implementation is what a notebook does: load
with librosa, compute each of FMA's eleven features from the waveform with its own
transform, summarise with the same seven statistics, one file after another.

    python bench/fma518_speed.py [--out bench/out/fma518_speed.json]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import librosa
import numpy as np
from scipy import stats
from threadpoolctl import threadpool_limits

from genrekit import audio
from genrekit.features import FeatureCache, FeatureSpec, extract_features

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _results import add_result_options, header, printed_table, result_path, shown_path, write_result  # noqa: E402

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "gtzan-mini" / "genres"


def plain_librosa_fma518(path: Path) -> np.ndarray:
    y, sr = librosa.load(path, sr=22050, mono=True)
    features = {
        "zcr": librosa.feature.zero_crossing_rate(y, frame_length=2048, hop_length=512),
        "chroma_cqt": librosa.feature.chroma_cqt(y=y, sr=sr, n_chroma=12, n_octaves=7),
        "chroma_cens": librosa.feature.chroma_cens(y=y, sr=sr, n_chroma=12, n_octaves=7),
        "tonnetz": librosa.feature.tonnetz(y=y, sr=sr),
        "chroma_stft": librosa.feature.chroma_stft(y=y, sr=sr, n_chroma=12),
        "rmse": librosa.feature.rms(y=y),
        "spectral_centroid": librosa.feature.spectral_centroid(y=y, sr=sr),
        "spectral_bandwidth": librosa.feature.spectral_bandwidth(y=y, sr=sr),
        "spectral_contrast": librosa.feature.spectral_contrast(y=y, sr=sr, n_bands=6),
        "spectral_rolloff": librosa.feature.spectral_rolloff(y=y, sr=sr),
        "mfcc": librosa.feature.mfcc(y=y, sr=sr, n_mfcc=20),
    }
    out = []
    for values in features.values():
        out += [values.mean(1), values.std(1), stats.skew(values, 1), stats.kurtosis(values, 1),
                np.median(values, 1), values.min(1), values.max(1)]
    return np.concatenate(out)


def timed(function):
    started = time.perf_counter()
    value = function()
    return time.perf_counter() - started, value


def markdown(record: dict) -> str:
    """docs/benchmarks.md's table and the cache-hit speed-ups under it."""
    data, cores = record["data"], record["cores"]
    lines = [header(record),
             f"fma518 on {data['clips']} clips ({data['audio_minutes']:.1f} min of audio), {cores} cores",
             "", "| run | total s | s per 30 s of audio | speed-up vs plain |", "|---|---|---|---|"]
    for row in record["rows"]:
        lines.append(f"| {row['run']} | {row['seconds']:.2f} | {row['seconds_per_30s']:.3f} | "
                     f"{row['speedup_vs_plain']:.{1 if row['speedup_vs_plain'] < 100 else 0}f}× |")
    lines.append(f"\ncache-hit speed-up over a cold run on {cores} cores: {record['cache_hit_speedup_vs_cold']:.0f}× "
                 f"(over genrekit on 1 core: {record['cache_hit_speedup_vs_one_core']:.0f}×)")
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=DATA)
    parser.add_argument("--limit", type=int, help="the first clips only (a smoke test; into bench/out/smoke/)")
    add_result_options(parser, "fma518_speed.json")
    args = parser.parse_args()
    out = args.out or result_path("fma518_speed.json", smoke=args.limit is not None)
    if printed_table(args, out, markdown):
        return 0
    if not args.data.exists():
        print(f"skipped: {args.data} not found (expected ../shared/data beside the repository)")
        return 0
    clips = sorted(p for p in args.data.glob("*/*") if audio.is_audio_path(p))[:args.limit]
    minutes = sum(audio.info(p).duration for p in clips) / 60
    spec = FeatureSpec("fma518")
    cores = len(os.sched_getaffinity(0))
    # Warm-up: numba compiles librosa's kernels on first use; not part of any timing.
    plain_librosa_fma518(clips[0])
    extract_features(clips[:1], spec, n_jobs=1, progress=False)

    with threadpool_limits(limits=1):  # "1 core": no BLAS threads on the second core
        plain_seconds, _ = timed(lambda: [plain_librosa_fma518(p) for p in clips])
        one_seconds, one = timed(lambda: extract_features(clips, spec, n_jobs=1, progress=False))
    assert not one.failures
    with tempfile.TemporaryDirectory() as folder:
        cache = FeatureCache(folder)
        all_seconds, cold = timed(lambda: extract_features(clips, spec, cache=cache, n_jobs=cores, progress=False))
        hit_seconds, warm = timed(lambda: extract_features(clips, spec, cache=cache, n_jobs=cores, progress=False))
    assert warm.cache_hits == len(clips) and all(np.array_equal(a, b) for a, b in zip(cold.features, warm.features))

    per_clip = lambda seconds: seconds / (minutes * 2)  # noqa: E731  (seconds per 30 s of audio)
    rows = [
        ("plain librosa, serial, 1 core", plain_seconds),
        ("genrekit, 1 core", one_seconds),
        (f"genrekit, {cores} cores (cache cold)", all_seconds),
        (f"genrekit, {cores} cores (cache hit)", hit_seconds),
    ]
    record = write_result(
        out, "fma518 extraction speed", {"path": shown_path(args.data), "clips": len(clips), "audio_minutes": minutes},
        cores=cores,
        rows=[{"run": name, "seconds": seconds, "seconds_per_30s": per_clip(seconds),
               "speedup_vs_plain": plain_seconds / seconds} for name, seconds in rows],
        cache_hit_speedup_vs_cold=all_seconds / hit_seconds, cache_hit_speedup_vs_one_core=one_seconds / hit_seconds)
    print(markdown(record))
    return 0


if __name__ == "__main__":
    sys.exit(main())
