"""End-to-end library tagging throughput: genrekit ``tag`` against a plain librosa +
scikit-learn loop, on 1 and 2 cores.

The library is gtzan-mini (80 real clips, 15-30 s, .au and .wav), tagged into a fresh
results file each time (nothing resumed). Models: the classical default (``ensemble`` on
fma518) and the network presets ``edge-cnn`` (the fastest) and ``default``; network
weights do not change speed, so they are untrained here. The plain pipeline is what people
glue by hand: ``librosa.load`` + features + a scikit-learn logistic regression, one file
after another (and with joblib on 2 cores); the features are 20 MFCC means and standard
deviations, or the same 518 FMA statistics genrekit computes (bench/fma518_speed.py).

    python bench/tag_throughput.py

``--write-tags`` measures instead what writing the tags costs (issue 18): the same library,
gtzan-mini's 80 clips converted to the formats genrekit tags (20 each of mp3 with ID3v2.4,
flac, ogg and wav), tagged by ``genrekit tag`` with genrekit's own model, each run on a
fresh copy of the library into a fresh results file: without ``--write-tags``, with
``--write-tags --existing replace --genres 2`` (predict and write), and the writes alone (the
with-tags run again on the first run's results, which only decides and writes the tags), on 1
and 2 cores, twice each, alternating; each row times the whole command (interpreter start,
imports and model load included) and checks that every file's tags were written:

    python bench/tag_throughput.py --write-tags

Needs ../shared/data. Run it on an otherwise idle machine.
"""

from __future__ import annotations

import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data" / "gtzan-mini" / "genres"


def plain_features(path: str):
    import librosa
    import numpy as np

    y, sr = librosa.load(path, sr=22050)
    mfcc = librosa.feature.mfcc(y=y, sr=sr, n_mfcc=20)
    return np.concatenate([mfcc.mean(axis=1), mfcc.std(axis=1)])


def plain_fma518(path: str):
    sys.path.insert(0, str(Path(__file__).parent))
    from fma518_speed import plain_librosa_fma518

    return plain_librosa_fma518(Path(path))


def plain_pipeline(paths: list[str], jobs: int, featurise=plain_features) -> float:
    """Seconds to load, featurise and classify every file (the classifier fitted beforehand)."""
    import numpy as np
    from joblib import Parallel, delayed
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    started = time.perf_counter()
    if jobs == 1:
        features = [featurise(p) for p in paths]
    else:
        features = Parallel(n_jobs=jobs)(delayed(featurise)(p) for p in paths)
    rng = np.random.default_rng(0)
    classifier = make_pipeline(StandardScaler(), LogisticRegression(max_iter=500))
    # Speed only: the weights do not matter, and fitting is not timed.
    fit_started = time.perf_counter()
    classifier.fit(rng.normal(size=(100, len(features[0]))), rng.integers(0, 10, 100))
    started += time.perf_counter() - fit_started
    classifier.predict_proba(np.stack(features))
    return time.perf_counter() - started


def genrekit_tag(model: Path, jobs: int, out: Path) -> float:
    started = time.perf_counter()
    subprocess.run([sys.executable, "-m", "genrekit", "tag", str(DATA), "--model", str(model), "--out", str(out),
                    "--jobs", str(jobs)], check=True, capture_output=True)
    return time.perf_counter() - started


def taggable_library(root: Path) -> Path:
    """gtzan-mini's clips as a library of the formats genrekit tags: mp3, flac, ogg, wav in turn."""
    import soundfile as sf

    from genrekit import audio

    formats = {".mp3": "MP3", ".flac": "FLAC", ".ogg": "OGG", ".wav": "WAV"}
    for number, path in enumerate(sorted(p for p in DATA.rglob("*.*") if p.suffix in (".au", ".wav"))):
        suffix = list(formats)[number % len(formats)]
        y, sr = audio.load(path, sr=None)
        target = root / path.parent.name / (path.stem + suffix)
        target.parent.mkdir(parents=True, exist_ok=True)
        sf.write(target, y, sr, format=formats[suffix])
    return root


def write_tags_benchmark(repeats: int = 2) -> None:
    """Tagging throughput with --write-tags against without, on the same library: each run on
    a fresh copy into a fresh results file, the two kinds alternating, ``repeats`` times."""
    import re

    import soundfile as sf

    if not DATA.is_dir():
        sys.exit(f"gtzan-mini not found at {DATA}: this benchmark needs ../shared/data")
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        library = taggable_library(tmp / "library")
        paths = sorted(library.rglob("*.*"))
        audio_seconds = sum(sf.info(p).duration for p in paths)
        print(f"tagging {len(paths)} files ({', '.join(sorted({p.suffix for p in paths}))}), "
              f"{audio_seconds / 60:.1f} min of audio (gtzan-mini), genrekit's own model; "
              f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, {time.strftime('%Y-%m-%d')}")
        print("| run | cores | seconds | files/s | tags written |")
        print("|---|---|---|---|---|")
        runs = iter(range(10**6))

        def run(name: str, jobs: int, out: Path, copy: Path, *options: str) -> None:
            started = time.perf_counter()
            result = subprocess.run([sys.executable, "-m", "genrekit", "tag", str(copy), "--model", "default",
                                     "--out", str(out), "--jobs", str(jobs), *options],
                                    check=True, capture_output=True, text=True)
            seconds = time.perf_counter() - started
            written = re.search(r"(\d+) written", result.stdout)
            count = int(written.group(1)) if written else 0
            if options and count != len(paths):
                sys.exit(f"{name}: expected {len(paths)} tags written, found {count}:\n{result.stdout[-2000:]}")
            print(f"| {name} | {jobs} | {seconds:.1f} | {len(paths) / seconds:.2f} | {count} |", flush=True)

        write = ("--write-tags", "--existing", "replace", "--genres", "2")
        for jobs in (1, 2):
            for _ in range(repeats):
                number = next(runs)
                copy = tmp / f"copy-{number}"
                shutil.copytree(library, copy)
                run("predict, no tags written", jobs, tmp / f"plain-{number}.csv", copy)
                run("the writes alone (predictions from the run above)", jobs, tmp / f"plain-{number}.csv", copy,
                    *write)
                fresh = tmp / f"fresh-{number}"
                shutil.copytree(library, fresh)
                run("predict and --write-tags", jobs, tmp / f"tags-{number}.csv", fresh, *write)


def main() -> None:
    import soundfile as sf
    from models import benchmark_models

    if "--write-tags" in sys.argv[1:]:
        write_tags_benchmark()
        return

    if not DATA.is_dir():
        sys.exit(f"gtzan-mini not found at {DATA}: this benchmark needs ../shared/data")
    paths = sorted(str(p) for p in DATA.rglob("*.*"))
    audio_seconds = sum(sf.info(p).duration for p in paths)
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        built = benchmark_models(DATA, tmp)
        models = {"genrekit tag, ensemble on fma518 (the default)": built["ensemble"],
                  "genrekit tag, edge-cnn network": built["edge-cnn"],
                  "genrekit tag, default network": built["default"]}
        print(f"tagging {len(paths)} files, {audio_seconds / 60:.1f} min of audio (gtzan-mini); "
              f"{platform.machine()}, {os.cpu_count()} cores, {time.strftime('%Y-%m-%d')}")
        print("| pipeline | cores | seconds | files/s | audio s per s |")
        print("|---|---|---|---|---|")
        plain = {"plain librosa, 40 MFCC statistics + scikit-learn": plain_features,
                 "plain librosa, the 518 FMA statistics + scikit-learn": plain_fma518}
        for name, featurise in plain.items():
            for jobs in (1, 2):
                seconds = plain_pipeline(paths, jobs, featurise)
                print(f"| {name} | {jobs} | {seconds:.1f} | {len(paths) / seconds:.2f} | {audio_seconds / seconds:.0f} |",
                      flush=True)
        for name, model in models.items():
            for jobs in (1, 2):
                seconds = genrekit_tag(model, jobs, tmp / f"tags-{jobs}-{model.stem}.csv")
                print(f"| {name} | {jobs} | {seconds:.1f} | {len(paths) / seconds:.2f} | {audio_seconds / seconds:.0f} |",
                      flush=True)


if __name__ == "__main__":
    main()
