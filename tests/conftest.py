"""Shared fixtures: the real clips in ../shared/data and bad inputs made from them."""

from __future__ import annotations

import contextlib
import os
import random
import shutil
import tempfile
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

# libgomp's waiting threads spin (OMP_WAIT_POLICY=active, its default). With more threads than
# free cores (2 cores here; a pool of 2 workers, or anyone else's job) each OpenMP region then
# waits out the spinning: scikit-learn's t-SNE of 80 rows took 31 s instead of 0.56 s (same 2
# threads, another job running). Passive waiting changes no result. Set here, before any test module imports scikit-learn or PyTorch (libgomp reads it
# once, when it is loaded); the commands the tests start inherit it. A value already set is kept.
os.environ.setdefault("OMP_WAIT_POLICY", "passive")
# rich fixes a console's width from COLUMNS when the console is made (genrekit.cli's, at import);
# pytest-xdist's workers run with COLUMNS=80. Without it the width follows each test's own env.
for _name in ("COLUMNS", "LINES"):
    os.environ.pop(_name, None)

REPO = Path(__file__).resolve().parents[1]
DATA = Path(os.environ.get("GENREKIT_TEST_DATA", REPO.parent / "shared" / "data"))
GTZAN_MINI = DATA / "gtzan-mini"
CORRUPTED = DATA / "bad" / "jazz.00054.wav"
FEATURE_TABLE = DATA / "gtzan-features" / "features_30_sec.csv"
FMA_GENRES = DATA / "fma" / "genres.csv"


ON_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


def missing(reason: str) -> None:
    """Skip a test whose data or tool is missing; on CI (``CI=true``, set by .ci/run) fail it
    instead: a green CI run that tested nothing is a failure."""
    if ON_CI:
        pytest.fail(f"{reason}; CI=true, so this fails instead of skipping")
    pytest.skip(reason)


def _require(path: Path) -> Path:
    if not path.exists():
        missing(f"real data not found at {path} (expected ../shared/data beside the repository)")
    return path


@pytest.fixture(scope="session")
def gtzan_mini() -> Path:
    return _require(GTZAN_MINI / "genres")


@pytest.fixture(scope="session")
def gtzan_dev() -> Path:
    """gtzan-dev's genre folders (40 more clips each of classical, jazz and rock)."""
    return _require(DATA / "gtzan-dev" / "genres")


@pytest.fixture(scope="session")
def corrupted_file() -> Path:
    return _require(CORRUPTED)


@pytest.fixture(scope="session")
def feature_table() -> Path:
    return _require(FEATURE_TABLE)


@pytest.fixture(scope="session")
def fma_genres() -> Path:
    return _require(FMA_GENRES)


@pytest.fixture(scope="session")
def clip(gtzan_mini) -> Path:
    """A real 30 s GTZAN clip."""
    return gtzan_mini / "jazz" / "jazz.00001.wav"


@pytest.fixture(scope="session")
def feature_cache(tmp_path_factory) -> Path:
    """One feature cache for the whole session, so each clip's features are computed once.
    Tests hand it over by name (``--cache``, ``FeatureCache(feature_cache)``); it is not put in
    ``$GENREKIT_CACHE``, which would make a command's default cache depend on test order.
    pytest-xdist's workers share it (the folder above each worker's own): entries are keyed by
    content and written atomically, so a module's features need not be computed again on the
    other worker."""
    base = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        base = base.parent
    folder = base / "shared-feature-cache"
    folder.mkdir(exist_ok=True)
    return folder


def pytest_addoption(parser):
    parser.addoption("--shuffle", type=int, default=None, metavar="SEED",
                     help="run the modules, and the tests within each module, in an order drawn from SEED "
                          "(shows that no test depends on another having run before it)")


def pytest_collection_modifyitems(config, items):
    seed = config.getoption("--shuffle")
    if seed is None:
        return
    # modules stay whole so that a module's fixtures are still built once per worker (--dist loadfile)
    by_module: dict[str, list] = {}
    for item in items:
        by_module.setdefault(item.nodeid.split("::")[0], []).append(item)
    rng = random.Random(seed)
    modules = list(by_module.values())
    rng.shuffle(modules)
    for module in modules:
        rng.shuffle(module)
    items[:] = [item for module in modules for item in module]


# The guard: what every test, and the session as a whole, must leave as it found it.
WATCHED_ENV = ("GENREKIT_", "RAY_", "AWS_")  # environment variables, except the two that Ray sets in its own process:
RAY_OWN_ENV = ("RAY_CLIENT_MODE", "RAY_USAGE_STATS_ENABLED")  # on `import ray`, and when ray.init() starts a cluster
# What Python, pip, pytest and CI write in the checkout, and bench/results (a benchmark running
# beside the tests rewrites it); everything else in it is watched.
NOT_WATCHED = {".git", ".venv", ".venv-runtime", ".cache", ".pytest_cache", "__pycache__", "build", "dist",
               os.path.join("bench", "results")}
_REPORTED: set[str] = set()  # files a test was already blamed for


def _git_files(*options: str) -> set[str]:
    """``git ls-files OPTIONS`` in the checkout, as normalised relative paths (empty where it
    is not a git checkout: then everything is watched)."""
    import subprocess

    try:
        listed = subprocess.run(["git", "ls-files", *options], cwd=REPO, capture_output=True, text=True, timeout=60,
                                check=True).stdout
    except (OSError, subprocess.SubprocessError):
        return set()
    return {os.path.normpath(line) for line in listed.splitlines() if line}


# The git-ignored files and folders already in the checkout (a user's runs/, caches): theirs, not
# the tests'; one made during the session is watched.
IGNORED = _git_files("--others", "--ignored", "--exclude-standard", "--directory")
# The files git tracks: an edit of one during a run is a person's (or a tool's) work on the code,
# not a test's, so only new, deleted and untracked files are blamed.
TRACKED = _git_files()


def _checkout_files() -> dict[str, tuple[int, int]]:
    """Each file in the checkout but :data:`NOT_WATCHED` and :data:`IGNORED`, with its
    (modification time, size)."""
    files = {}
    for folder, dirs, names in os.walk(REPO):
        here = os.path.relpath(folder, REPO)
        dirs[:] = [d for d in dirs if d not in NOT_WATCHED and not d.endswith(".egg-info")
                   and os.path.normpath(os.path.join(here, d)) not in NOT_WATCHED | IGNORED]
        for name in names:
            relative = os.path.normpath(os.path.join(here, name))
            if relative in IGNORED:
                continue
            try:
                stat = os.stat(os.path.join(folder, name))
            except OSError:  # gone between the listing and the stat
                continue
            files[relative] = (stat.st_mtime_ns, stat.st_size)
    return files


def _state() -> tuple[dict[str, str], dict[str, tuple[int, int]]]:
    """The watched environment variables, and each watched file of the checkout with its
    (modification time, size)."""
    env = {key: value for key, value in os.environ.items() if key.startswith(WATCHED_ENV) and key not in RAY_OWN_ENV}
    return env, _checkout_files()


def _changes(before, *, who: str) -> list[str]:
    """What changed since ``before`` (a :func:`_state`), in words; the environment variables are put back."""
    (env, files), (env_now, files_now) = before, _state()
    problems = []
    changed = sorted(key for key in env.keys() | env_now.keys() if env.get(key) != env_now.get(key))
    if changed:
        problems.append(f"{who} left environment variables changed (set them with monkeypatch, or with "
                        "pytest.MonkeyPatch.context() in a module or session fixture): "
                        + "; ".join(f"{key}: {env.get(key)!r} -> {env_now.get(key)!r}" for key in changed))
    for key in changed:  # put back, so that later tests are neither affected nor blamed
        if key in env:
            os.environ[key] = env[key]
        else:
            del os.environ[key]
    written = sorted(name for name in files.keys() | files_now.keys()
                     if files.get(name) != files_now.get(name) and name not in _REPORTED
                     and not (name in TRACKED and name in files and name in files_now))
    folder = os.environ.get("GENREKIT_TEST_ARTIFACTS")
    if folder:  # the folder the keep_artifact fixture copies into is the user's choice
        kept = os.path.relpath(Path(folder).resolve(), REPO)
        written = [name for name in written if not (name + os.sep).startswith(kept + os.sep)]
    _REPORTED.update(written)
    if written:
        problems.append(f"{', '.join(written[:5])} written, changed or deleted in the repository during {who} (by it, or by another "
                        "process using this checkout): write under tmp_path; the keep_artifact fixture keeps copies "
                        "where $GENREKIT_TEST_ARTIFACTS names a folder")
    return problems


@pytest.fixture(scope="session", autouse=True)
def default_cache_trap(tmp_path_factory) -> Path:
    """For the session, ``$GENREKIT_CACHE`` (the feature cache of a command given neither
    ``--cache`` nor ``--no-cache``) is an empty temporary folder, so no test writes into the
    user's ~/.cache/genrekit, and each test must leave it empty (``leaves_no_trace``). At the
    end, the environment and the repository must be as they were (module and session
    fixtures included)."""
    before = _state()
    trap = tmp_path_factory.mktemp("default-cache-trap")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("GENREKIT_CACHE", str(trap))
        yield trap
    problems = _changes(before, who="the test session")
    assert not problems, "\n".join(problems)


@pytest.fixture(autouse=True)
def leaves_no_trace(default_cache_trap):
    """Each test restores the environment variables it sets, writes nothing into the
    repository, and names the feature cache it uses (``--cache``, ``--no-cache`` or a
    ``FeatureCache``)."""
    before = _state()
    yield
    problems = _changes(before, who="this test")
    cached = sorted(str(p.relative_to(default_cache_trap)) for p in default_cache_trap.rglob("*") if p.is_file())
    if cached:
        problems.append(f"this test wrote {len(cached)} file(s) into the default feature cache, outside the tests "
                        f"the user's ~/.cache/genrekit (first: {cached[0]}): pass --cache or --no-cache")
    for entry in default_cache_trap.iterdir():  # emptied, so that later tests are not blamed
        if entry.is_dir():
            shutil.rmtree(entry)
        else:
            entry.unlink()
    assert not problems, "\n".join(problems)


@contextlib.contextmanager
def browser_temp_folder():
    """A temporary folder for Chromium's own temporary files (its profile, its singleton
    socket), removed afterwards: Chromium leaves them in /tmp when it is quit, 190 folders a day
    of test runs. Yields the environment to start Chromium (or chromedriver) with."""
    with tempfile.TemporaryDirectory(prefix="genrekit-test-chromium-", ignore_cleanup_errors=True) as folder:
        yield os.environ | {"TMPDIR": folder}


@contextlib.contextmanager
def headless_chromium(window: str = "1100,1300", console_log: bool = False):
    """A headless Chromium under selenium; skips where Debian's chromium and driver are missing."""
    browser, driver_path = shutil.which("chromium") or shutil.which("chromium-browser"), shutil.which("chromedriver")
    if not browser or not driver_path:
        missing("Debian's chromium and chromium-driver are not installed (apt-get install chromium "
                "chromium-driver; the README's test command does it where apt-get can run)")
    webdriver = pytest.importorskip("selenium.webdriver", reason="selenium is in the test extra")

    options = webdriver.ChromeOptions()
    options.binary_location = browser
    for flag in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", f"--window-size={window}"):
        options.add_argument(flag)
    if console_log:
        options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    with browser_temp_folder() as env:
        driver = webdriver.Chrome(options=options,
                                  service=webdriver.ChromeService(executable_path=driver_path, env=env))
        try:
            yield driver
        finally:
            driver.quit()


@pytest.fixture(scope="session")
def keep_artifact():
    """``keep(path)``: copy a file worth a look (a screenshot) into the folder that
    ``$GENREKIT_TEST_ARTIFACTS`` names, creating it; without that variable nothing is kept, and
    tests write only under their temporary folders."""
    folder = os.environ.get("GENREKIT_TEST_ARTIFACTS")

    def keep(path: Path) -> Path | None:
        if not folder:
            return None
        Path(folder).mkdir(parents=True, exist_ok=True)
        return Path(shutil.copy2(path, Path(folder) / Path(path).name))

    return keep


@pytest.fixture(scope="session")
def bad_files(tmp_path_factory, clip, corrupted_file) -> dict[str, Path]:
    """Each kind of bad input of the foundation issue, made from real material."""
    root = tmp_path_factory.mktemp("bad-inputs")
    y, sr = sf.read(clip, dtype="float32")
    files = {"corrupted": root / "jazz.00054.wav"}
    shutil.copy(corrupted_file, files["corrupted"])
    files["empty"] = root / "empty.wav"
    files["empty"].write_bytes(b"")
    files["text_mp3"] = root / "notes.mp3"
    files["text_mp3"].write_text("these are liner notes, not audio\n" * 20)
    full_mp3 = root / "full.mp3"
    sf.write(full_mp3, y, sr, format="MP3")
    files["truncated_mp3"] = root / "truncated.mp3"
    files["truncated_mp3"].write_bytes(full_mp3.read_bytes()[: full_mp3.stat().st_size // 3])
    full_mp3.unlink()
    files["silent"] = root / "silent.wav"
    sf.write(files["silent"], np.zeros(sr * 10, dtype=np.float32), sr)
    files["one_second"] = root / "one_second.wav"
    sf.write(files["one_second"], y[:sr], sr)
    # 6 channels at 96 kHz: valid audio that must be mixed down and resampled, not refused.
    import soxr

    hi = soxr.resample(y[: sr * 8], sr, 96000).astype(np.float32)
    gains = np.array([1.0, 0.8, 0.6, 0.4, 0.2, 0.0], dtype=np.float32)
    files["six_channel_96k"] = root / "surround.wav"
    sf.write(files["six_channel_96k"], hi[:, None] * gains[None, :], 96000, subtype="PCM_24")
    return files


def write_encoded(path: Path, y: np.ndarray, sr: int, container_format: str, codec: str,
                  bit_rate: int | None = None) -> Path:
    """Encode ``y`` [shape=(channels, n)] with PyAV's ``codec`` into a ``container_format`` file."""
    import av

    layout = "stereo" if y.shape[0] == 2 else "mono"
    with av.open(str(path), "w", format=container_format) as container:
        stream = container.add_stream(codec, rate=sr, layout=layout)
        if bit_rate is not None:
            stream.bit_rate = bit_rate
        for start in range(0, y.shape[1], 1024):
            frame = av.AudioFrame.from_ndarray(np.ascontiguousarray(y[:, start : start + 1024], dtype=np.float32),
                                               format="fltp", layout=layout)
            frame.sample_rate, frame.pts = sr, start
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)
    return path


def write_m4a(path: Path, y: np.ndarray, sr: int, container_format: str = "ipod") -> Path:
    """Encode ``y`` [shape=(channels, n)] as AAC in an MP4 (m4a) container with PyAV
    (``container_format="adts"``: a bare AAC stream, an .aac file)."""
    return write_encoded(path, y, sr, container_format, "aac")


@pytest.fixture(scope="session")
def m4a_clip(tmp_path_factory, clip) -> Path:
    """The real clip as stereo 44.1 kHz AAC in an m4a file (left: the clip, right: half of it)."""
    import soxr

    y, sr = sf.read(clip, dtype="float32")
    stereo = soxr.resample(np.stack([y, 0.5 * y]).T, sr, 44100).T.astype(np.float32)
    return write_m4a(tmp_path_factory.mktemp("m4a") / "song.m4a", stereo, 44100)


# What the torch-free runtime (pip install 'genrekit[runtime]') must do without.
NOT_IN_RUNTIME = ("torch", "safetensors", "onnx", "onnxscript", "librosa", "numba", "scipy", "sklearn", "pandas",
                  "pyarrow", "matplotlib", "xgboost", "skops", "av", "mutagen", "threadpoolctl", "joblib", "fastapi")
RUNTIME_CLI = """
import sys
class Blocker:
    def find_spec(self, name, path=None, target=None):
        if name.split('.')[0] in {blocked!r}:
            raise ModuleNotFoundError(f'{{name}} is not in the runtime profile', name=name)
sys.meta_path.insert(0, Blocker())
if __name__ == '__main__':
    from genrekit.cli.main import main
    sys.argv = ['genrekit'] + sys.argv[1:]
    main()
"""


@pytest.fixture(scope="session")
def not_in_runtime() -> tuple[str, ...]:
    return NOT_IN_RUNTIME


@pytest.fixture(scope="session")
def runtime_cli(tmp_path_factory) -> Path:
    """A script that runs genrekit's command line with every module outside the runtime
    profile unimportable (``python runtime_cli ARGS``)."""
    path = tmp_path_factory.mktemp("runtime") / "runtime_cli.py"
    path.write_text(RUNTIME_CLI.format(blocked=NOT_IN_RUNTIME))
    return path


def damaged(data: bytes, n: int, seed: int):
    """``n`` seeded copies of ``data`` with random damage: bytes overwritten, the file cut, a
    run zeroed, or a run repeated."""
    rng = random.Random(seed)
    for _ in range(n):
        copy = bytearray(data)
        kind, at = rng.choice(("flip", "cut", "zero", "repeat")), rng.randrange(len(copy))
        if kind == "flip":
            for _ in range(rng.randint(1, 8)):
                copy[rng.randrange(len(copy))] = rng.randrange(256)
        elif kind == "cut":
            del copy[at:]
        elif kind == "zero":
            copy[at:at + 64] = bytes(len(copy[at:at + 64]))
        else:
            copy[at:at] = copy[at:at + 100]
        yield bytes(copy)


def invalid_deflate(path: Path, member: str) -> Path:
    """``path``, a zip archive, with ``member``'s compressed bytes made an invalid deflate block
    (type 3): zlib fails before zipfile's CRC check can."""
    import struct
    import zipfile

    data = bytearray(path.read_bytes())
    with zipfile.ZipFile(path) as archive:
        info = archive.getinfo(member)
    name_length, extra_length = struct.unpack("<HH", data[info.header_offset + 26:info.header_offset + 30])
    start = info.header_offset + 30 + name_length + extra_length
    data[start:start + info.compress_size] = b"\xff" * info.compress_size
    path.write_bytes(bytes(data))
    return path


def peak_rss_mb(model: str, song: str, hop_seconds: float | None = None) -> float:
    """Peak RSS (MB) of a fresh process that predicts ``song`` with ``model`` (chunks
    ``hop_seconds`` apart when given)."""
    import subprocess
    import sys

    # VmHWM, not ru_maxrss: Linux carries the parent's peak RSS across fork + exec into ru_maxrss.
    code = ("import re, sys; from genrekit.models import load; from genrekit.predict import predict_file; "
            "hop = float(sys.argv[3]) if sys.argv[3] != 'None' else None; "
            "p = predict_file(load(sys.argv[1]), sys.argv[2], hop_seconds=hop); "
            "print(p.n_chunks, int(re.search(r'VmHWM:\\s+(\\d+)', open('/proc/self/status').read()).group(1)) / 1024)")
    result = subprocess.run([sys.executable, "-c", code, model, song, str(hop_seconds)], capture_output=True,
                            text=True, check=True)
    n_chunks, peak = result.stdout.split()
    assert int(n_chunks) > 0
    return float(peak)


@pytest.fixture(scope="module")
def songs_for_memory(gtzan_mini, tmp_path_factory):
    """A 30 s clip and half an hour of real clips back to back (22.05 kHz, 16-bit): long enough
    that a whole-file read (159 MB as float32) shows against any model's peak for the clip
    (185-380 MB), short enough for the suite; bench/song_memory.py measures 1- and 2-hour files."""
    from genrekit import audio

    root = tmp_path_factory.mktemp("memory")
    clips = [audio.load(next((gtzan_mini / g).glob(f"{g}.00000.*")), sr=22050)[0] for g in ("metal", "jazz", "pop")]
    with sf.SoundFile(root / "half_hour.wav", "w", samplerate=22050, channels=1, subtype="PCM_16") as handle:
        written = 0
        while written < 1800 * 22050:
            for y in clips:
                handle.write(y)
                written += len(y)
    sf.write(root / "clip.wav", clips[0], 22050)
    return root / "clip.wav", root / "half_hour.wav"


# --- processes: what a killed command leaves behind (Linux's /proc) -------------------------

def _process_table() -> dict[int, tuple[int, str, str]]:
    """pid -> (parent pid, state, start time) of every process, from /proc."""
    table = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except (OSError, IndexError):
                continue
            table[int(entry.name)] = (int(fields[1]), fields[0], fields[19])
    return table


def _descendants(pid: int) -> dict[int, tuple[int, str]]:
    """pid -> (depth below ``pid``, start time) of its live children, grandchildren, ..."""
    table, found, frontier = _process_table(), {}, {pid: 0}
    while frontier:
        frontier = {child: depth + 1 for child, (parent, state, _) in table.items()
                    for p, depth in frontier.items() if parent == p and state != "Z"}
        found |= {child: (depth, table[child][2]) for child, depth in frontier.items()}
    return found


def kill_when(process, ready, *, timeout: float = 120.0) -> dict[int, str]:
    """SIGKILL ``process`` once ``ready(descendants)`` holds (pid -> (depth, start time)), then
    give its descendants 5 s to end; returns those still running (pid -> command line), after
    killing them so no test leaves a process behind."""
    import signal
    import time

    tracked: dict[int, tuple[int, str]] = {}
    try:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and process.poll() is None:
            tracked |= _descendants(process.pid)
            if ready(_descendants(process.pid)):
                break
            time.sleep(0.05)
        assert process.poll() is None, "the command ended before it was seen at work"
        tracked |= _descendants(process.pid)
        process.kill()
        process.wait()
        deadline, left = time.monotonic() + 5, set()
        while time.monotonic() < deadline:
            table = _process_table()
            left = {pid for pid, (_, started) in tracked.items()
                    if pid in table and table[pid][2] == started and table[pid][1] != "Z"}
            if not left:
                break
            time.sleep(0.1)
        return {pid: Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ")[:120].decode(errors="replace")
                for pid in left if Path(f"/proc/{pid}/cmdline").exists()}
    finally:
        table = _process_table()
        for pid, (_, started) in tracked.items():
            if pid in table and table[pid][2] == started:
                os.kill(pid, signal.SIGKILL)
        if process.poll() is None:
            process.kill()
            process.wait()
