"""End-to-end library tagging throughput: genrekit ``tag`` against a plain librosa +
scikit-learn loop, on 1 and 2 cores.

The library is gtzan-mini (80 real clips, 15-30 s, .au and .wav), tagged into a fresh
results file each time (nothing resumed). Models: the classical ensemble (``ensemble`` on
fma518) and the network presets ``edge-cnn`` (the fastest) and ``short-chunk-resnet``; network
weights do not change speed, so they are untrained here. The plain pipeline is what people
glue by hand: ``librosa.load`` + features + a scikit-learn logistic regression, one file
after another (and with joblib on 2 cores); the features are 20 MFCC means and standard
deviations, or the same 518 FMA statistics genrekit computes (bench/fma518_speed.py).
Results: ``bench/results/tag_throughput/library.json`` (every row's seconds, files per
second and audio seconds per second). About 3 minutes; ``--table`` prints
docs/benchmarks.md's table from the result file without measuring; ``--limit N`` tags the
first N clips only (a smoke test, into bench/out/smoke/):

    python bench/tag_throughput.py
    python bench/tag_throughput.py --table

``--write-tags`` measures instead what writing the tags costs (issue 18): the same library,
gtzan-mini's 80 clips converted to the formats genrekit tags (20 each of mp3 with ID3v2.4,
flac, ogg and wav), tagged by ``genrekit tag`` with genrekit's own model, each run on a
fresh copy of the library into a fresh results file: without ``--write-tags``, with
``--write-tags --existing replace --genres 2`` (predict and write), and the writes alone (the
with-tags run again on the first run's results, which only decides and writes the tags), on 1
and 2 cores, twice each, alternating; each row times the whole command (interpreter start,
imports and model load included) and checks that every file's tags were written:

    python bench/tag_throughput.py --write-tags

``--precision`` measures the default model's compute per second of audio (issue 20), for
the default as shipped (the light graph since 2026-12-02; before, the exact graph with the
front end's silent filters skipped), the default before the filters were skipped (the
file of commit 1b8d828, from git: every filter computed, the reference for agreement) and the
shipped file's int8 export (timbral filters quantized, calibrated on gtzan-dev's clips, never
on the clips measured). In one run, on gtzan-mini's 80 clips: CPU-seconds per 30 s of audio on
one core with the model loaded (start-up excluded) and for a whole ``genrekit tag --jobs 1``
run pinned to one core (start-up included), files per second on 1 and 2 cores, peak RSS, and
the floor (decoding, resampling and log-mel alone, no network). Agreement: the same top genre
as the reference on gtzan-mini and the 28 immich-memories-music tracks. Results:
``bench/results/tag_throughput/precision.json`` (the run of 2026-11-30, with the file of
cb25914 and every other patch, is ``precision-pooled-first.json``):

    python bench/tag_throughput.py --precision

``--patch-batch`` measures what batching patches across files would buy (issue 20): the
shipped default's ONNX file, one core and one thread, running the patches of 1, 2, 4 or 8
files' 30 s segments per onnxruntime run (32 gtzan-mini files), with each layout's
probabilities compared against one segment per run. Results:
``bench/results/tag_throughput/patch_batch.json``; with ``--table``, its table:

    python bench/tag_throughput.py --patch-batch

``--reach`` measures how many of the front end's filters can be constants before the default's
answers move (issue 20): the silent reach (SILENT_REACH) at 1e-4, 1e-3 (shipped) and 1e-2,
and the least varying filters cut by importance, against reach 1e-4. Results:
``bench/results/tag_throughput/reach.json``:

    python bench/tag_throughput.py --reach

``--profile`` shows where the shipped default's time goes (issue 20): onnxruntime's profiler
on one core and one thread over the 30 s segments of 16 gtzan-mini files; each operator's
share, and the front end's convolutions in multiply-adds per second. Results:
``bench/results/tag_throughput/profile.json``:

    python bench/tag_throughput.py --profile

``--taggers`` measures the musicnn feature set's two taggers (the features of every head
trained on them: ``genrekit train``'s default, beets' and the user's own genres) in PyTorch
and in onnxruntime (the shipped default's graph, its ``features`` output; beside it the exact
graph the default was before the light one, the light graph hearing one patch in three,
for timing, and PyTorch in bf16), one core and one thread, on the patches of gtzan-mini's clips: CPU-seconds per 30 s of audio (best of 3
passes), the log-mel patches alone, and the largest difference between the two. Results:
``bench/results/tag_throughput/taggers.json``; with ``--table``, its table:

    python bench/tag_throughput.py --taggers

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

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _results import cpu_model, header, library_of, read_result, result_path, shown_path, write_result  # noqa: E402

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


def genrekit_tag(model: Path, jobs: int, out: Path, library: Path = DATA) -> float:
    started = time.perf_counter()
    subprocess.run([sys.executable, "-m", "genrekit", "tag", str(library), "--model", str(model), "--out", str(out),
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


BEFORE = "1b8d828"  # the last commit whose default-model.onnx computed every front-end filter
EXACT = "77840c5"  # the last commit whose default-model.onnx was the exact graph (before the light one)
RESULTS = ROOT / "bench" / "results" / "tag_throughput"
OUT = ROOT / "bench" / "out" / "tag_throughput"
SONG_SECONDS, LIBRARY_SONGS = 240, 10_000


def stride_variants(strides: list[int]) -> dict[str, Path]:
    """The shipped (light) default with MTT_musicnn heard on one patch in S instead of its own
    stride: the same graph, its config's ``heard_stride`` changed (which patches are heard is
    an input of the graph). ``bench/out/tag_throughput/default-heard-1-in-S.onnx``."""
    import onnx

    from genrekit.export.onnx import _write_onnx
    from genrekit.models.interface import default_model_path, read_onnx_metadata

    shipped = default_model_path(onnx=True)
    config = read_onnx_metadata(shipped)
    if "heard_stride" not in config:
        sys.exit(f"{shipped}: not a light graph (no heard_stride); --strides needs the light default")
    variants = {}
    for stride in strides:
        out = OUT / f"default-heard-1-in-{stride}.onnx"
        text = f"MTT_musicnn on one patch in {stride} of each segment (the shipped graph, its stride changed)"
        metrics = {"evaluation": "not measured: bench/tag_throughput.py --strides, for timing and agreement"}
        _write_onnx(onnx.load(str(shipped)), {**config, "heard_stride": stride, "approximation": text,
                                              "metrics": metrics}, out)
        variants[f"light, MTT_musicnn on 1 patch in {stride}" if stride > 1 else "light graph, every patch heard"] = out
    return variants


def default_onnx_at(commit: str, out: Path) -> Path:
    """``default-model.onnx`` as commit ``commit`` shipped it, from git, at ``out`` (written once)."""
    if not out.exists():
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_bytes(subprocess.run(["git", "-C", str(ROOT), "show", f"{commit}:src/genrekit/data/default-model.onnx"],
                                       check=True, capture_output=True).stdout)
    return out


def default_variants() -> dict[str, Path]:
    """The default model's ONNX files to compare, made where missing."""
    from genrekit.export import export_onnx
    from genrekit.models.interface import default_model_path, read_onnx_metadata

    OUT.mkdir(parents=True, exist_ok=True)
    before = default_onnx_at(BEFORE, OUT / f"default-{BEFORE}.onnx")
    int8 = OUT / "default-int8.onnx"
    if not int8.exists() or int8.stat().st_mtime < default_model_path(onnx=True).stat().st_mtime:  # of the shipped file
        calibration = sorted((DATA.parent.parent / "gtzan-dev" / "genres").glob("*/*"))
        if not calibration:
            sys.exit("gtzan-dev not found beside gtzan-mini: the int8 export is calibrated on it")
        export_onnx("default", int8, int8=True, calibration=calibration)
    shipped = default_model_path(onnx=True)
    stride = read_onnx_metadata(shipped).get("heard_stride")
    return {f"fp32, every filter ({BEFORE}, the reference)": before,
            (f"light, MTT_musicnn on 1 patch in {stride} (as shipped)" if stride
             else "fp32, silent filters skipped (as shipped)"): shipped,
            "int8 timbral filters (genrekit export --int8)": int8}


def _child(command: list[str], cores: set[int]) -> tuple[float, float, float]:
    """(wall seconds, CPU seconds, peak RSS in MB) of a command and the processes it waited for,
    run by GNU time on ``cores``: a child forked from this process would count this process's
    memory in its peak RSS until it execs."""
    time_command = shutil.which("time", path="/usr/bin:/bin")
    if time_command is None:
        sys.exit("GNU time (/usr/bin/time) is needed to measure a command's peak RSS: apt-get install time")
    with tempfile.NamedTemporaryFile("r", suffix=".txt") as report:
        started = time.perf_counter()
        result = subprocess.run([time_command, "-o", report.name, "-f", "%U %S %M", "taskset", "-c",
                                 ",".join(map(str, sorted(cores))), *command], capture_output=True, text=True)
        wall = time.perf_counter() - started
        if result.returncode != 0:
            sys.exit(f"{' '.join(command)} failed ({result.returncode}): {result.stderr[-2000:]}")
        user, system, peak_kb = report.read().split()[-3:]
    return wall, float(user) + float(system), int(peak_kb) / 1024


def precision_benchmark(limit: int | None = None, also: dict[str, Path] | None = None, out: Path | None = None,
                        baseline_file: dict[str, Path] | None = None, strides: list[int] | None = None) -> None:
    """``limit``: the first files of the library only, a smoke test of the script (no immich).
    ``also``: other default-model files ({name: path}), measured beside the shipped default
    alone (then the baseline of agreement) instead of the usual variants; the result goes to
    ``out``. ``baseline_file``: one file ({name: path}) measured first, the baseline of agreement
    instead of the shipped default. ``strides``: the shipped light graph also measured hearing
    one patch in each of these (:func:`stride_variants`)."""
    import numpy as np
    import soundfile as sf

    from genrekit._files import write_json
    from genrekit.audio.chunking import song_chunks
    from genrekit.features.musicnn import log_mel_patches
    from genrekit.models import load
    from genrekit.models.interface import default_model_path
    from genrekit.predict import predict_files

    if not DATA.is_dir():
        sys.exit(f"gtzan-mini not found at {DATA}: this benchmark needs ../shared/data")
    paths = sorted(str(p) for p in DATA.rglob("*.*") if p.suffix in (".au", ".wav"))[:limit]
    audio_seconds = sum(sf.info(p).duration for p in paths)
    per_30s = audio_seconds / 30
    library = DATA
    if limit:
        library = OUT / "smoke-library"
        shutil.rmtree(library, ignore_errors=True)
        library.mkdir(parents=True)
        for path in paths:
            shutil.copy(path, library)
    try:
        import immich_memories_music as immich

        unseen = [] if limit else sorted(str(p) for p in Path(immich.tracks_dir()).glob("*/*.opus"))
    except ImportError:
        unseen = []
    OUT.mkdir(parents=True, exist_ok=True)
    variants = default_variants() if not (also or baseline_file or strides) else {
        **(baseline_file or {}), "as shipped": default_model_path(onnx=True), **stride_variants(strides or []),
        **(also or {})}
    from threadpoolctl import threadpool_limits

    core = max(os.sched_getaffinity(0))
    os.sched_setaffinity(0, {core})  # the in-process figures: one core, one thread (as tag's workers)
    threadpool_limits(limits=1)
    reference = load("default", threads=1)
    started = time.process_time()
    for path in paths:  # the floor: what every variant does before its network
        for _, _, chunk in song_chunks(path, sr=reference.sample_rate, skip=0.0, chunk_seconds=reference.chunk_seconds,
                                       pad=False):
            log_mel_patches(np.asarray(chunk), sr=reference.sample_rate)
    floor = (time.process_time() - started) / per_30s
    rows, tops, styles = [], {}, {}
    for name, model_path in variants.items():
        model = load(model_path, threads=1)
        predict_files(model, paths[:1], progress=False)  # warm
        started = time.process_time()
        predictions, failures = predict_files(model, paths, progress=False)
        cpu = (time.process_time() - started) / per_30s
        more, more_failures = predict_files(model, unseen, progress=False) if unseen else ([], [])
        if failures or more_failures:
            sys.exit(f"{name}: {failures + more_failures}")
        tops[name] = {p.path: max(p.probabilities, key=p.probabilities.get) for p in [*predictions, *more]}
        proba = {p.path: p.probabilities for p in [*predictions, *more]}
        styles[name] = {p.path: set(p.styles or ()) for p in [*predictions, *more]}
        where = Path(model_path).resolve()
        row = {"model": name, "file": str(where.relative_to(ROOT) if where.is_relative_to(ROOT) else where),
               "size_mb": where.stat().st_size / 1e6,
               "cpu_s_per_30s_model_loaded": cpu, "cpu_s_per_30s_whole_run": None, "files_per_s_1_core": None,
               "files_per_s_2_cores": None, "peak_rss_mb_1_job": None,
               "library_hours_2_cores": cpu * SONG_SECONDS / 30 * LIBRARY_SONGS / 2 / 3600, "_proba": proba}
        with tempfile.TemporaryDirectory() as tmp:
            tag = [sys.executable, "-m", "genrekit", "tag", str(library), "--model", str(model_path), "--out"]
            wall_1, cpu_1, rss_1 = _child([*tag, f"{tmp}/one.csv", "--jobs", "1"], {core})
            # two workers: its wall time only (the pool's workers are not this command's children)
            wall_2 = _child([*tag, f"{tmp}/two.csv", "--jobs", "2"], set(range(os.cpu_count())))[0]
        row.update({"cpu_s_per_30s_whole_run": cpu_1 / per_30s, "files_per_s_1_core": len(paths) / wall_1,
                    "files_per_s_2_cores": len(paths) / wall_2, "peak_rss_mb_1_job": rss_1})
        rows.append(row)
    baseline = next(iter(variants))  # the variant the others must agree with
    for row in rows:
        same = [tops[row["model"]][p] == tops[baseline][p] for p in tops[baseline]]
        row["same_top_genre_gtzan_mini"] = f"{sum(same[:len(paths)])}/{len(paths)}"
        row["same_top_genre_immich"] = f"{sum(same[len(paths):])}/{len(unseen)}" if unseen else "not installed"
        row["same_styles"] = f"{sum(styles[row['model']][p] == styles[baseline][p] for p in tops[baseline])}/{len(same)}"
        baseline_proba = next(r for r in rows if r["model"] == baseline)["_proba"]
        row["max_probability_difference"] = max(abs(row["_proba"][p][g] - q) for p, probabilities in
                                                baseline_proba.items() for g, q in probabilities.items())
    for row in rows:
        del row["_proba"]
    result = {"benchmark": "default model's compute per 30 s of audio (issue 20)",
              "command": " ".join(["python bench/tag_throughput.py --precision",
                                   *(f"--reference '{name}={path}'" for name, path in (baseline_file or {}).items()),
                                   *([f"--strides {','.join(map(str, strides))}"] if strides else []),
                                   *(f"--also '{name}={path}'" for name, path in (also or {}).items()),
                                   *([f"--out {out}"] if out else [])]), "date": time.strftime("%Y-%m-%d"),
              "machine": f"{platform.machine()}, {os.cpu_count()} cores, {cpu_model()}",
              "library": f"gtzan-mini: {len(paths)} clips, {audio_seconds / 60:.1f} min",
              "agreement_sets": f"gtzan-mini ({len(paths)}) and immich-memories-music ({len(unseen)})",
              "floor_cpu_s_per_30s": floor,
              "projection": f"{LIBRARY_SONGS} songs of {SONG_SECONDS // 60} min on 2 cores, from the model-loaded figure",
              "rows": rows}
    write_json(OUT / "precision-smoke.json" if limit else out or RESULTS / "precision.json", result)
    print(f"{result['library']}; {result['machine']}; {result['date']}; floor (decode, resample, log-mel) "
          f"{floor:.3f} CPU-s per 30 s")
    print("| default model | CPU-s per 30 s, loaded | CPU-s per 30 s, whole run | files/s, 1 core | files/s, 2 cores "
          "| peak RSS (MB) | same top genre: gtzan-mini, immich | same styles | max prob. diff | 10,000 songs, 2 cores |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    def shown(value, digits: int) -> str:
        return "–" if value is None else f"{value:.{digits}f}"

    for row in rows:
        print(f"| {row['model']} | {row['cpu_s_per_30s_model_loaded']:.3f} | {shown(row['cpu_s_per_30s_whole_run'], 3)} "
              f"| {shown(row['files_per_s_1_core'], 2)} | {shown(row['files_per_s_2_cores'], 2)} "
              f"| {shown(row['peak_rss_mb_1_job'], 0)} "
              f"| {row['same_top_genre_gtzan_mini']}, {row['same_top_genre_immich']} | {row['same_styles']} "
              f"| {row['max_probability_difference']:.4f} | {row['library_hours_2_cores']:.1f} h |")


REACHES = (1e-4, 1e-3, 1e-2)  # SILENT_REACH before and after 2026-12-01, and ten times more
PRUNED_SHARES = (0.2, 0.25, 0.35, 0.5)


def _front_end_macs(network) -> int:
    """Multiply-adds per 3 s patch of ``network``'s front end as it computes it now."""
    return sum((block.conv.out_channels if block.live_filters is None else len(block.live_filters))
               * 187 * (96 - block.conv.kernel_size[1] + 1) * block.conv.kernel_size[0] * block.conv.kernel_size[1]
               for block in (*network.timbral, *network.temporal))


def _prune_quietest(network, share: float, patches, reach: float) -> None:
    """Make constants of the moving front-end filters (those past ``reach``) that vary least,
    until their multiply-adds add up to ``share`` of those computed at ``reach``: each filter's
    importance is the spread of its output on ``patches`` times the weights that read it (the
    mid end's first convolution, the dense layer on its pooled max and mean), and a pruned
    filter gives its mean output there. The blocks are then rounded up to whole multiples of
    filters again (skip_silent_filters), so the share achieved is measured after, not this."""
    import torch

    blocks = (*network.timbral, *network.temporal)
    network.skip_silent_filters(reach)
    budget = share * _front_end_macs(network)
    with torch.no_grad():
        x = network.input_norm(patches.unsqueeze(1))
        outputs = [block(x) for block in blocks]
        scale = network.pool_norm.weight / torch.sqrt(network.pool_norm.running_var + network.pool_norm.eps)
        dense, mid = network.dense.weight * scale[None], network.midend[0].weight
        candidates, offset = [], 0
        for index, (block, out) in enumerate(zip(blocks, outputs)):
            frames, bands = block.conv.kernel_size
            macs = 187 * (96 - bands + 1) * frames * bands
            moving = (block.reaches() > reach).nonzero().flatten().tolist()
            for f in moving:  # not the silent ones that only round a block up
                channel = offset + f
                use = mid[:, channel].norm() + dense[:, 2 * channel:2 * channel + 2].norm()
                candidates.append((float(out[:, f].std() * use), index, f, float(out[:, f].mean()), macs))
            offset += block.conv.out_channels
        cut = 0
        for _, index, f, mean, macs in sorted(candidates):
            if cut + macs > budget:
                break
            block, cut = blocks[index], cut + macs
            gain = block.norm.weight[f] / torch.sqrt(block.norm.running_var[f] + block.norm.eps)
            block.conv.weight[f].zero_()  # a constant: norm(relu(bias)) = its mean output
            block.conv.bias[f] = max(0.0, float(block.norm.running_mean[f] + (mean - block.norm.bias[f]) / gain))
    network.skip_silent_filters(reach)


def reach_benchmark() -> dict:
    """Issue 20: how many front-end filters can be constants before the default's answers
    move. The default model (its file, in PyTorch) on gtzan-mini and the immich tracks, its
    networks' filters made constants (a) where they move their output by at most ``reach``
    per unit of input (SILENT_REACH), or (b) by least variation on 30 gtzan-dev clips (never
    the clips compared), cutting a share of the computed multiply-adds; each against the
    default as shipped before (reach 1e-4): the same top genre, the largest probability
    difference, and the multiply-adds per patch."""
    import numpy as np
    import torch

    from genrekit.audio import normalise_level
    from genrekit.audio.chunking import song_chunks
    from genrekit.features.musicnn import load_musicnn, log_mel_patches
    from genrekit.models import load
    from genrekit.models.interface import default_model_path
    from genrekit.predict import predict_files

    if not DATA.is_dir():
        sys.exit(f"gtzan-mini not found at {DATA}: this benchmark needs ../shared/data")
    try:
        import immich_memories_music as immich

        unseen = sorted(str(p) for p in Path(immich.tracks_dir()).glob("*/*.opus"))
    except ImportError:  # gtzan-mini alone
        unseen = []
    mini = sorted(str(p) for p in DATA.rglob("*.*") if p.suffix in (".au", ".wav"))
    model = load(default_model_path(onnx=False))  # the model file: features from PyTorch, whose networks change here
    networks = {name: load_musicnn(name)[0] for name in ("MSD_musicnn", "MTT_musicnn")}
    weights = {name: {k: v.clone() for k, v in net.state_dict().items()} for name, net in networks.items()}
    dev = sorted((DATA.parent.parent / "gtzan-dev" / "genres").rglob("*.*"))[::4]
    patches = torch.from_numpy(np.concatenate([
        log_mel_patches(normalise_level(np.asarray(chunk), model.spec.level_dbfs), sr=16000) for path in dev
        for _, _, chunk in song_chunks(str(path), sr=16000, skip=0.0, chunk_seconds=30.0, pad=False)])).float()

    def answers():
        predictions, failures = predict_files(model, mini + unseen, progress=False)
        if failures:
            sys.exit(f"failed: {failures}")
        return [p.probabilities for p in predictions]

    def configure(reach: float, share: float = 0.0) -> dict:
        for name, net in networks.items():
            net.load_state_dict(weights[name])  # every filter computed again (the load hook)
            net.skip_silent_filters(reach)
            if share:
                _prune_quietest(net, share, patches, reach)
        return {name: _front_end_macs(net) for name, net in networks.items()}

    rows, reference, baseline = [], None, None
    settings = [(f"silent reach {r:g}", r, 0.0) for r in REACHES]
    settings += [(f"reach 1e-4, then the least varying filters cut for {share:.0%} fewer multiply-adds", 1e-4, share)
                 for share in PRUNED_SHARES]
    for name, reach, share in settings:
        macs = configure(reach, share)
        probabilities = answers()
        reference = reference or probabilities
        top = [max(p, key=p.get) for p in probabilities]
        top_reference = [max(p, key=p.get) for p in reference]
        same = [a == b for a, b in zip(top, top_reference)]
        baseline = baseline or sum(macs.values())
        rows.append({"setting": name, "reach": reach, "pruned_share": share,
                     "front_end_macs_per_patch": macs, "front_end_macs_total": sum(macs.values()),
                     "fewer_macs_than_reach_1e-4": 1 - sum(macs.values()) / baseline,
                     "same_top_genre_gtzan_mini": f"{sum(same[:len(mini)])}/{len(mini)}",
                     "same_top_genre_immich": f"{sum(same[len(mini):])}/{len(unseen)}",
                     "max_probability_difference": max(abs(p[g] - q[g]) for p, q in zip(probabilities, reference)
                                                       for g in p)})
        print(reach_markdown({"rows": rows[-1:]}, head=len(rows) == 1), flush=True)
    configure(REACHES[1])  # as shipped
    record = write_result(result_path("tag_throughput/reach.json"), "front-end filters as constants (issue 20)",
                          {"compared": f"gtzan-mini ({len(mini)}) and immich-memories-music ({len(unseen)})",
                           "importance_clips": f"every 4th gtzan-dev clip ({len(dev)})"}, rows=rows)
    return record


def reach_markdown(record: dict, head: bool = True) -> str:
    lines = ["| setting | front-end multiply-adds per patch (MSD + MTT) | fewer than reach 1e-4 "
             "| same top genre: gtzan-mini, immich | max prob. diff |", "|---|---|---|---|---|"] if head else []
    for row in record["rows"]:
        macs = row["front_end_macs_per_patch"]
        lines.append(f"| {row['setting']} | {macs['MSD_musicnn'] / 1e6:.0f} M + {macs['MTT_musicnn'] / 1e6:.0f} M "
                     f"| {row['fewer_macs_than_reach_1e-4']:.0%} "
                     f"| {row['same_top_genre_gtzan_mini']}, {row['same_top_genre_immich']} "
                     f"| {row['max_probability_difference']:.1e} |")
    return "\n".join(lines)


PROFILE_FILES = 16


def front_end_macs() -> dict[str, int]:
    """Multiply-adds per 3 s patch of each network's front-end convolutions as the shipped
    default computes them (silent filters skipped): filters x output positions x kernel."""
    from genrekit.features.musicnn import load_musicnn

    return {name: _front_end_macs(load_musicnn(name)[0]) for name in ("MSD_musicnn", "MTT_musicnn")}


def profile_benchmark(limit: int | None = None) -> dict:
    """Where the shipped default's time goes in onnxruntime: one core, one thread, the 30 s
    segments of the first PROFILE_FILES gtzan-mini files, onnxruntime's own profiler. Each
    operator type's share of the kernel time, the slowest nodes, and the front end's
    convolutions in multiply-adds per second (what one core can do in fp32 bounds it)."""
    import collections
    import json

    import numpy as np
    import onnxruntime as ort

    from genrekit.audio.chunking import song_chunks
    from genrekit.features.musicnn import log_mel_patches
    from genrekit.models.interface import default_model_path

    if not DATA.is_dir():
        sys.exit(f"gtzan-mini not found at {DATA}: this benchmark needs ../shared/data")
    os.sched_setaffinity(0, {max(os.sched_getaffinity(0))})
    paths = sorted(str(p) for p in DATA.rglob("*.*") if p.suffix in (".au", ".wav"))[:limit or PROFILE_FILES]
    segments = [log_mel_patches(np.asarray(chunk), sr=16000).astype(np.float32) for path in paths
                for _, _, chunk in song_chunks(path, sr=16000, skip=0.0, chunk_seconds=30.0, pad=False)]
    onnx_file = default_model_path(onnx=True)
    with tempfile.TemporaryDirectory() as tmp:
        options = ort.SessionOptions()
        options.intra_op_num_threads = 1
        session = ort.InferenceSession(str(onnx_file), options, providers=["CPUExecutionProvider"])
        run = lambda patches: session.run(None, {"patches": patches, "pooling": np.full((1, len(patches)), 1 / len(patches), np.float32)})  # noqa: E731
        run(segments[0])  # warm
        started = time.process_time()
        for patches in segments:
            run(patches)
        cpu = time.process_time() - started
        options.enable_profiling, options.profile_file_prefix = True, f"{tmp}/profile"
        session = ort.InferenceSession(str(onnx_file), options, providers=["CPUExecutionProvider"])
        run(segments[0])
        for patches in segments:
            run(patches)
        events = json.loads(Path(session.end_profiling()).read_text())
    by_op, by_node = collections.Counter(), collections.Counter()
    for event in events:
        if event.get("cat") == "Node" and event["name"].endswith("_kernel_time"):
            by_op[event["args"]["op_name"]] += event["dur"]
            by_node[event["name"].removesuffix("_kernel_time")] += event["dur"]
    kernel = sum(by_op.values())
    n_patches = sum(len(p) for p in segments) + len(segments[0])  # the warm run was profiled too
    macs = front_end_macs()
    front_seconds = sum(d for name, d in by_node.items() if name.startswith("conv2d")) / 1e6
    if not front_seconds:
        sys.exit(f"{onnx_file}: no node named conv2d*: the exporter names the front end's convolutions otherwise now")
    record = write_result(result_path("tag_throughput/profile.json", smoke=limit is not None),
                          "where the shipped default's time goes in onnxruntime (issue 20)",
                          {"files": f"the first {len(paths)} of {shown_path(DATA)}", "segments": len(segments),
                           "patches": n_patches - len(segments[0])},
                          model=str(onnx_file.relative_to(ROOT)), onnxruntime=ort.__version__,
                          cpu_s_per_30s=cpu / len(segments),
                          op_share={op: d / kernel for op, d in by_op.most_common()},
                          slowest_nodes={n: d / kernel for n, d in by_node.most_common(12)},
                          front_end_macs_per_patch=macs,
                          front_end_conv_share=front_seconds * 1e6 / kernel,
                          front_end_gmacs_per_s=sum(macs.values()) * n_patches / front_seconds / 1e9)
    print(profile_markdown(record))
    return record


def profile_markdown(record: dict) -> str:
    lines = [header(record), f"CPU-s per 30 s segment in onnxruntime: {record['cpu_s_per_30s']:.3f}; front-end "
             f"convolutions: {record['front_end_conv_share']:.0%} of the kernel time at "
             f"{record['front_end_gmacs_per_s']:.1f} G multiply-adds/s ("
             + ", ".join(f"{k} {v / 1e6:.0f} M" for k, v in record["front_end_macs_per_patch"].items())
             + " per patch)", "", "| operator | share of kernel time |", "|---|---|"]
    lines += [f"| {op} | {share:.1%} |" for op, share in record["op_share"].items() if share >= 0.005]
    return "\n".join(lines)


PATCH_BATCH_SEGMENTS = (1, 2, 4, 8)


def patch_batch_benchmark(limit: int | None = None, repeats: int = 3) -> dict:
    """Patches per onnxruntime run (issue 20: "batch patches across files in tag"). The shipped
    default's ONNX file on one core and one thread runs the patches of ``k`` 30 s segments of
    different files in one run (a block-diagonal pooling input keeps each segment's features
    apart) against one run per segment, as ``tag`` runs it. Each layout's CPU time is the best
    of ``repeats`` passes over the same patches; every layout's probabilities are compared
    with the one-segment runs."""
    import numpy as np
    from scipy.linalg import block_diag
    from threadpoolctl import threadpool_limits

    from genrekit.audio.chunking import song_chunks
    from genrekit.features.musicnn import log_mel_patches, pooling_matrix
    from genrekit.models import default_model_path, load

    if not DATA.is_dir():
        sys.exit(f"gtzan-mini not found at {DATA}: this benchmark needs ../shared/data")
    paths = sorted(str(p) for p in DATA.rglob("*.*") if p.suffix in (".au", ".wav"))[:limit or 32]
    os.sched_setaffinity(0, {max(os.sched_getaffinity(0))})
    threadpool_limits(limits=1)
    model = load(default_model_path(onnx=True), threads=1)
    segments = []
    for path in paths:  # each file's first whole 30 s segment (gtzan-mini's short clips give fewer patches)
        _, _, chunk = next(song_chunks(path, sr=model.sample_rate, chunk_seconds=model.chunk_seconds, skip=0.0,
                                       pad=False))
        segments.append(log_mel_patches(np.asarray(chunk), sr=model.sample_rate))
    n_patches = sum(len(s) for s in segments)
    model._run(segments[0], pooling_matrix(len(segments[0])))  # warm
    reference, rows = None, []
    for k in PATCH_BATCH_SEGMENTS:
        groups = [segments[i : i + k] for i in range(0, len(segments), k)]
        best, outputs = float("inf"), []
        for _ in range(repeats):
            started, outputs = time.process_time(), []
            for group in groups:
                pooling = block_diag(*(pooling_matrix(len(s)) for s in group)).astype(np.float32)
                proba, _ = model._run(np.concatenate(group), pooling)
                outputs.append(proba)
            best = min(best, time.process_time() - started)
        proba = np.concatenate(outputs)
        reference = proba if reference is None else reference
        rows.append({"segments_per_run": k, "patches_per_run": n_patches / len(groups),
                     "cpu_ms_per_patch": 1000 * best / n_patches,
                     "max_probability_difference": float(np.abs(proba - reference).max())})
    data = {"model": shown_path(default_model_path(onnx=True)), "files": len(paths), "patches": n_patches,
            "note": "each file's first 30 s segment (short clips: what they hold); one core, one thread; "
                    f"best of {repeats} passes"}
    return write_result(result_path("tag_throughput/patch_batch.json", smoke=bool(limit)),
                        "patches per onnxruntime run, shipped default model (issue 20)", data, rows=rows)


def patch_batch_markdown(record: dict) -> str:
    data = record["data"]
    lines = [header(record), f"{data['model']}: {data['files']} gtzan-mini files, {data['patches']} patches; "
             f"{data['note']}", "",
             "| 30 s segments per run | patches per run | CPU ms per patch | against one segment per run | "
             "max prob. diff |", "|---|---|---|---|---|"]
    first = record["rows"][0]["cpu_ms_per_patch"]
    for row in record["rows"]:
        lines.append(f"| {row['segments_per_run']} | {row['patches_per_run']:.1f} | {row['cpu_ms_per_patch']:.2f} | "
                     f"{row['cpu_ms_per_patch'] / first:.2f}x | {row['max_probability_difference']:.1e} |")
    return "\n".join(lines)


def taggers_benchmark(limit: int | None = None, repeats: int = 3) -> dict:
    """Both musicnn taggers' per-patch features in PyTorch and in onnxruntime (see the module)."""
    import numpy as np
    import torch
    from threadpoolctl import threadpool_limits

    from genrekit import audio
    from genrekit.features.musicnn import (TAGGERS, SAMPLE_RATE, load_musicnn, log_mel_patches, taggers_in_onnxruntime,
                                           taggers_in_pytorch)

    if not DATA.is_dir():
        sys.exit(f"gtzan-mini not found at {DATA}: this benchmark needs ../shared/data")
    paths = sorted(str(p) for p in DATA.rglob("*.*") if p.suffix in (".au", ".wav"))[:limit or 40]
    os.sched_setaffinity(0, {max(os.sched_getaffinity(0))})
    threadpool_limits(limits=1)
    torch.set_num_threads(1)
    # one thread for onnxruntime as in a tag worker: its default (one per physical core) spun
    # two threads on the one core, 0.201 against 0.131 CPU-s per 30 s (by hand, 2026-12-03)
    from genrekit import runners

    runners._one_thread_per_worker()
    signals = [audio.load(path, sr=SAMPLE_RATE)[0] for path in paths]
    audio_seconds = sum(len(y) for y in signals) / SAMPLE_RATE

    from genrekit.features.musicnn import hearing_matrix
    from genrekit.models.interface import default_model_path, open_onnx

    def graph(path, stride: int | None = None):
        """One graph's ``features`` output on one thread; ``stride``: a light graph's heard patches."""
        session, _ = open_onnx(path, 1)

        def features(patches):
            feeds = {"patches": patches, "pooling": np.eye(len(patches), dtype=np.float32)}
            if stride:
                feeds["heard"] = hearing_matrix(len(patches), stride)
            return session.run(["features"], feeds)[0]
        return features

    def bf16(patches):
        """Both taggers in PyTorch under bf16 autocast (oneDNN; AMX-BF16 where the CPU has it)."""
        rows = []
        with torch.inference_mode(), torch.autocast("cpu", dtype=torch.bfloat16):
            for model in TAGGERS:
                embedding, logits = load_musicnn(model)[0].embed(torch.from_numpy(np.ascontiguousarray(patches)))
                rows += [embedding.float().numpy(), torch.sigmoid(logits.float()).numpy()]
        return np.concatenate(rows, axis=1)

    exact = default_onnx_at(EXACT, OUT / f"default-exact-{EXACT}.onnx")
    ways = {"log-mel patches alone (the floor)": lambda patches: patches,
            "PyTorch, both taggers": taggers_in_pytorch, "onnxruntime, both taggers (shipped default's graph)": taggers_in_onnxruntime,
            f"onnxruntime, the exact graph ({EXACT}, the default before the light one)": graph(exact),
            "onnxruntime, the shipped light graph hearing 1 patch in 3 (timing only: not the exact features)":
                graph(default_model_path(onnx=True), 3),
            "PyTorch bf16 autocast (oneDNN), both taggers": bf16}
    for way in ways.values():  # warm: load the networks and sessions
        way(log_mel_patches(signals[0], sr=SAMPLE_RATE))
    rows, outputs = [], {}
    for name, way in ways.items():
        best = float("inf")
        for _ in range(repeats):
            started = time.process_time()
            outputs[name] = [way(log_mel_patches(y, sr=SAMPLE_RATE)) for y in signals]
            best = min(best, time.process_time() - started)
        rows.append({"way": name, "cpu_s_per_30s": 30 * best / audio_seconds})
        print(f"{name}: {rows[-1]['cpu_s_per_30s']:.3f} CPU-s per 30 s", flush=True)
    torch_rows, onnx_rows, exact_rows = (np.concatenate(outputs[name]) for name in list(ways)[1:4])
    tags = np.r_[200:250, 450:500]
    embeddings = np.setdiff1d(np.arange(torch_rows.shape[1]), tags)
    data = {"path": shown_path(DATA), "files": len(paths), "patches": len(torch_rows),
            "audio_minutes": audio_seconds / 60,
            "max_tag_difference": float(np.abs(onnx_rows[:, tags] - torch_rows[:, tags]).max()),
            "max_embedding_difference": float(np.abs(onnx_rows[:, embeddings] - torch_rows[:, embeddings]).max()),
            "max_difference_exact_graph": float(np.abs(exact_rows - onnx_rows).max()),
            "max_tag_difference_bf16": float(np.abs(np.concatenate(outputs[list(ways)[-1]])[:, tags]
                                                    - torch_rows[:, tags]).max()),
            "note": f"one core, one thread; best of {repeats} passes; decoding and resampling excluded"}
    return write_result(result_path("tag_throughput/taggers.json", smoke=bool(limit)),
                        "both musicnn taggers' features, PyTorch against onnxruntime", data, rows=rows)


def taggers_markdown(record: dict) -> str:
    data = record["data"]
    lines = [header(record), f"{data['files']} gtzan-mini files, {data['patches']} patches, "
             f"{data['audio_minutes']:.1f} min; {data['note']}. Largest difference, onnxruntime against PyTorch: "
             f"tags {data['max_tag_difference']:.1e}, embeddings {data['max_embedding_difference']:.1e}"
             + (f"; the shipped graph against the exact one: {data['max_difference_exact_graph']:.1e}"
                if "max_difference_exact_graph" in data else "")
             + (f"; bf16 tags against PyTorch's fp32: {data['max_tag_difference_bf16']:.3f}"
                if "max_tag_difference_bf16" in data else ""), "",
             "| computed | CPU-s per 30 s |", "|---|---|"]
    lines += [f"| {row['way']} | {row['cpu_s_per_30s']:.3f} |" for row in record["rows"]]
    return "\n".join(lines)


ENSEMBLE_ROW = "genrekit tag, classical ensemble on fma518"
# row labels of result files written before the label changed (the ensemble is no longer
# genrekit's default model: the shipped default is musicnn-prior)
RELABELLED = {"genrekit tag, ensemble on fma518 (the default)": ENSEMBLE_ROW}


def library_markdown(record: dict) -> str:
    """docs/benchmarks.md's library tagging table."""
    data = record["data"]
    lines = [header(record), f"tagging {data['files']} files, {data['audio_minutes']:.1f} min of audio (gtzan-mini)",
             "",
             "| pipeline | cores | seconds | files/s | audio s per s |", "|---|---|---|---|---|"]
    for row in record["rows"]:
        pipeline = RELABELLED.get(row["pipeline"], row["pipeline"])
        lines.append(f"| {pipeline} | {row['cores']} | {row['seconds']:.1f} | {row['files_per_s']:.2f} | "
                     f"{row['audio_s_per_s']:.0f} |")
    return "\n".join(lines)


def main() -> None:
    import argparse

    import soundfile as sf
    from models import benchmark_models

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--write-tags", action="store_true", help="what writing the tags costs (issue 18)")
    parser.add_argument("--precision", action="store_true", help="the default model's compute per 30 s (issue 20)")
    parser.add_argument("--patch-batch", action="store_true",
                        help="patches of several files in one onnxruntime run against one run per segment (issue 20)")
    parser.add_argument("--reach", action="store_true",
                        help="how many front-end filters can be constants before the answers move (issue 20)")
    parser.add_argument("--profile", action="store_true",
                        help="where the shipped default's time goes in onnxruntime (issue 20)")
    parser.add_argument("--taggers", action="store_true",
                        help="both musicnn taggers' features in PyTorch against onnxruntime")
    parser.add_argument("--also", action="append", default=[], metavar="NAME=PATH",
                        help="with --precision: measure this default-model file beside the shipped one instead of "
                             "the usual variants (repeatable; give --out)")
    parser.add_argument("--reference", metavar="NAME=PATH",
                        help="with --precision: a default-model file measured first, the baseline of agreement "
                             "(give --out)")
    parser.add_argument("--strides", help="with --precision: the shipped light graph also hearing MTT_musicnn on "
                        "one patch in each of these, e.g. 1,2,4 (give --out)")
    parser.add_argument("--limit", type=int, help="the first files of the library only (a smoke test)")
    parser.add_argument("--out", type=Path, help="the library table's result file "
                        "(default: bench/results/tag_throughput/library.json)")
    parser.add_argument("--table", action="store_true",
                        help="print the library table of the result file; measure nothing")
    args = parser.parse_args()
    if args.write_tags:
        write_tags_benchmark()
        return
    if args.precision:
        if any("=" not in item for item in [*args.also, *([args.reference] if args.reference else [])]):
            parser.error(f"--also {args.also}, --reference {args.reference}: expected NAME=PATH each")
        also = dict(item.split("=", 1) for item in args.also)
        reference = dict([args.reference.split("=", 1)]) if args.reference else {}
        try:
            strides = [int(s) for s in args.strides.split(",")] if args.strides else []
        except ValueError:
            parser.error(f"--strides {args.strides}: expected whole numbers separated by commas, e.g. 1,2,4")
        if any(not 1 <= s <= 64 for s in strides):
            parser.error(f"--strides {args.strides}: expected strides 1-64")
        if (also or reference or strides) and not args.out:
            parser.error("--also, --reference and --strides need --out: the usual variants' result (precision.json) "
                         "stays as it is")
        precision_benchmark(args.limit, {name: Path(path) for name, path in also.items()}, args.out,
                            {name: Path(path) for name, path in reference.items()}, strides)
        return
    if args.reach:
        if args.table:
            print(reach_markdown(read_result(args.out or result_path("tag_throughput/reach.json"))))
        else:
            reach_benchmark()
        return
    if args.profile:
        if args.table:
            print(profile_markdown(read_result(args.out or result_path("tag_throughput/profile.json"))))
        else:
            profile_benchmark(args.limit)
        return
    if args.taggers:
        if args.table:
            print(taggers_markdown(read_result(args.out or result_path("tag_throughput/taggers.json"))))
        else:
            print(taggers_markdown(taggers_benchmark(args.limit)))
        return
    if args.patch_batch:
        if args.table:
            print(patch_batch_markdown(read_result(args.out or result_path("tag_throughput/patch_batch.json"))))
        else:
            print(patch_batch_markdown(patch_batch_benchmark(args.limit)))
        return
    out = args.out or result_path("tag_throughput/library.json", smoke=args.limit is not None)
    if args.table:
        print(library_markdown(read_result(out)))
        return

    if not DATA.is_dir():
        sys.exit(f"gtzan-mini not found at {DATA}: this benchmark needs ../shared/data")
    paths = sorted(str(p) for p in DATA.rglob("*.*"))[:args.limit]
    audio_seconds = sum(sf.info(p).duration for p in paths)
    rows = []

    def timed(name: str, jobs: int, seconds: float) -> None:
        rows.append({"pipeline": name, "cores": jobs, "seconds": seconds, "files_per_s": len(paths) / seconds,
                     "audio_s_per_s": audio_seconds / seconds})
        print(f"{name}, {jobs} cores: {seconds:.1f} s", flush=True)

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        library = library_of(paths, tmp / "library") if args.limit else DATA
        built = benchmark_models(DATA, tmp)
        models = {ENSEMBLE_ROW: built["ensemble"],
                  "genrekit tag, edge-cnn network": built["edge-cnn"],
                  "genrekit tag, short-chunk-resnet network": built["short-chunk-resnet"]}
        print(f"tagging {len(paths)} files, {audio_seconds / 60:.1f} min of audio (gtzan-mini)")
        plain = {"plain librosa, 40 MFCC statistics + scikit-learn": plain_features,
                 "plain librosa, the 518 FMA statistics + scikit-learn": plain_fma518}
        for name, featurise in plain.items():
            for jobs in (1, 2):
                timed(name, jobs, plain_pipeline(paths, jobs, featurise))
        for name, model in models.items():
            for jobs in (1, 2):
                timed(name, jobs, genrekit_tag(model, jobs, tmp / f"tags-{jobs}-{model.stem}.csv", library))
    record = write_result(out, "end-to-end library tagging throughput (issue 4)",
                          {"path": shown_path(DATA), "files": len(paths),
                           "audio_minutes": audio_seconds / 60}, rows=rows)
    print(library_markdown(record))


if __name__ == "__main__":
    main()
