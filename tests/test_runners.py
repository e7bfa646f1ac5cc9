"""Runners: the same features and tags from a local Ray cluster (127.0.0.1, 2 CPUs) as from
the local runner (features: its process pool; tags: this process), and a Ray worker killed
mid-run costs no row and duplicates none."""

import json
import logging
import os
import signal
import threading
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

ray = pytest.importorskip("ray", reason="the Ray runner needs the 'ray' extra (pip install 'genrekit[ray]')")

from genrekit.features import FeatureSpec, extract_features  # noqa: E402
from genrekit.models import default_model_path  # noqa: E402
from genrekit.predict import tag_library  # noqa: E402
from genrekit.runners import LocalRunner, RayRunner, get_runner  # noqa: E402

from _crash_workers import _crashing_worker, _unloadable_worker  # noqa: E402  (a worker imports it: light)

GENRES = ("classical", "metal", "reggae")


@pytest.fixture(scope="module")
def cluster():
    with pytest.MonkeyPatch.context() as patch:  # RAY_AUTH_MODE as it was, after the module
        # a throwaway cluster on 127.0.0.1 only: no token (unless the environment asks for one)
        patch.setenv("RAY_AUTH_MODE", os.environ.get("RAY_AUTH_MODE", "disabled"))
        # A 2-CPU cluster; this runner's map uses one actor. The killed-worker test runs its own
        # runner, with an actor per CPU.
        stops = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
        handlers = {stop: signal.getsignal(stop) for stop in stops}
        runner = RayRunner(num_cpus=2, n_jobs=1)
        runner.connect()
        yield runner
        ray.shutdown()
        for stop, handler in handlers.items():  # ray.init's SIGTERM handler, left to the module after it
            signal.signal(stop, handler)


@pytest.fixture(scope="module")
def library(gtzan_mini, tmp_path_factory):
    """Three genres of gtzan-mini (24 files), symlinked so the originals stay untouched."""
    root = tmp_path_factory.mktemp("library")
    for genre in GENRES:
        (root / genre).mkdir()
        for path in sorted((gtzan_mini / genre).iterdir()):
            (root / genre / path.name).symlink_to(path)
    return root


@pytest.fixture(scope="module")
def model_file():
    """genrekit's default model in its ONNX form: nothing to train, and quick to run."""
    return default_model_path(onnx=True)


def test_get_runner_names_what_it_expects():
    from genrekit.errors import ParameterError

    assert isinstance(get_runner("local", n_jobs=2), LocalRunner)
    with pytest.raises(ParameterError, match="local, ray"):
        get_runner("spark")
    with pytest.raises(ParameterError, match="address"):
        get_runner("local", address="auto")
    # a pool the machine cannot hold is refused before any process starts (each worker holds a model)
    from genrekit.runners import MAX_JOBS_PER_CORE, default_jobs

    most = MAX_JOBS_PER_CORE * default_jobs()
    assert LocalRunner(most).n_jobs == most
    asked = rf"{most + 1} worker processes asked for \(n_jobs; --jobs on the command line\): at most {most} on this"
    with pytest.raises(ParameterError, match=asked):
        get_runner("local", n_jobs=most + 1)


def test_a_pool_the_machine_cannot_hold_is_refused_by_name(gtzan_mini, tmp_path):
    from typer.testing import CliRunner

    from genrekit.cli.main import app

    song = next(gtzan_mini.glob("*/*.wav"))
    result = CliRunner().invoke(app, ["predict", str(song), "--jobs", "100000"])
    said = " ".join(result.output.split())
    assert result.exit_code != 0 and "100000 worker processes asked for (n_jobs; --jobs on the command line): at most" in said, said
    # tag sizes its pool by what is left to do: one song passed -j 100000, a library was refused when listed
    # (2026-12-07); now before the listing, whatever its size
    result = CliRunner().invoke(app, ["tag", str(song.parent), "--jobs", "100000", "-o", str(tmp_path / "tags.csv")])
    said = " ".join(result.output.split())
    assert result.exit_code != 0 and "100000 worker processes asked for" in said, said


def test_features_on_ray_equal_the_local_ones(cluster, library):
    paths = sorted(str(p) for p in library.rglob("*") if p.is_file())[:4]
    spec = FeatureSpec("fma518")  # a third of gtzan57's time per clip; where it runs is the point
    local = extract_features(paths, spec, n_jobs=2, progress=False)
    on_ray = extract_features(paths, spec, runner=cluster, progress=False)
    assert not local.failures and not on_ray.failures
    assert on_ray.hashes == local.hashes
    for a, b in zip(local.features, on_ray.features, strict=True):
        assert a.dtype == b.dtype and np.array_equal(a, b)


def test_tags_on_ray_equal_the_local_ones(cluster, library, model_file, tmp_path):
    some = tmp_path / "library"  # clips 0-1 of each genre, nested as in the library: 6 files, not 24
    for path in sorted(library.glob("*/*.0000[01].*")):
        (some / path.parent.name).mkdir(parents=True, exist_ok=True)
        (some / path.parent.name / path.name).symlink_to(path.resolve())
    # In this process: a local pool would take seconds to start (each worker loads the model and librosa's kernels).
    local = tag_library(some, model_file, tmp_path / "local.csv", n_jobs=1, progress=False)
    on_ray = tag_library(some, model_file, tmp_path / "ray.csv", runner=cluster, progress=False)
    assert local.n_tagged == on_ray.n_tagged == 6
    here, there = pd.read_csv(tmp_path / "local.csv"), pd.read_csv(tmp_path / "ray.csv")
    # the same answers; a Ray worker's onnxruntime may round a style's last printed digit differently
    pd.testing.assert_frame_equal(here.drop(columns="styles"), there.drop(columns="styles"))
    for mine, theirs in zip(here["styles"].map(_styles), there["styles"].map(_styles)):
        assert list(mine) == list(theirs) and np.allclose(list(mine.values()), list(theirs.values()), atol=2e-6)


def _styles(text: str) -> dict[str, float]:
    """A results file's styles cell (``rock:0.675930;metal:0.316635``) as {style: probability}."""
    if pd.isna(text):  # no style present
        return {}
    return {name: float(value) for name, value in (item.rsplit(":", 1) for item in text.split(";"))}


def _ray_map_workers() -> list[int]:
    """PIDs of the runner's Ray actors (their process title names the actor's class)."""
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                title = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            except OSError:
                continue
            if "_RayWorker" in title:
                pids.append(int(entry.name))
    return pids


def test_a_killed_ray_worker_loses_no_row_and_duplicates_none(cluster, library, model_file, tmp_path):
    results = tmp_path / "tags.csv"
    journal = results.with_name(results.name + ".journal.jsonl")
    outcome = {}
    runner = RayRunner()  # an actor per CPU, one file at a time: the kill lands mid-run
    thread = threading.Thread(target=lambda: outcome.update(
        summary=tag_library(library, model_file, results, runner=runner, progress=False)))
    thread.start()
    deadline, killed = time.monotonic() + 300, None
    while time.monotonic() < deadline and killed is None:
        workers = _ray_map_workers()
        if workers and journal.exists() and len(journal.read_text().splitlines()) >= 2:
            killed = workers[0]
            os.kill(killed, signal.SIGKILL)
        time.sleep(0.05)
    thread.join(timeout=600)
    assert killed is not None, "no Ray worker was seen mid-run"
    assert "summary" in outcome, "the run did not finish after its worker was killed"
    assert outcome["summary"].n_tagged == 24 and outcome["summary"].n_failed == 0
    keys = [json.loads(line)["key"] for line in journal.read_text().splitlines()]
    assert len(keys) == len(set(keys)) == 24, "a file was recorded twice or not at all"
    table = pd.read_csv(results)
    assert sorted(table["path"]) == sorted(str(p) for p in library.rglob("*") if p.is_file())


def test_the_cli_runs_on_ray(cluster, library, tmp_path):
    """`--runner ray` reaches the cluster (here the one this process already started)."""
    from typer.testing import CliRunner

    from genrekit.cli.main import EXIT_OK, EXIT_USAGE, app

    one_genre = tmp_path / "genres" / "metal"
    one_genre.mkdir(parents=True)
    for path in sorted((library / "metal").iterdir())[:3]:
        (one_genre / path.name).symlink_to(path)
    one_genre = one_genre.parent  # fma518: a third of gtzan57's work per clip; reaching the cluster is the point
    result = CliRunner().invoke(app, ["features", str(one_genre), "--features", "fma518", "--out", str(tmp_path / "out"),
                                      "--no-cache", "--runner", "ray", "--jobs", "1"])
    assert result.exit_code == EXIT_OK, result.output
    assert json.loads((tmp_path / "out" / "run.json").read_text())["n_tracks"] == 3
    result = CliRunner().invoke(app, ["features", str(one_genre), "--out", str(tmp_path / "x"), "--runner", "spark"])
    assert result.exit_code == EXIT_USAGE and "--runner 'spark': expected local or ray" in result.output


def test_a_worker_that_dies_on_one_item_costs_that_item_alone():
    """A process pool whose worker dies is broken for every item it held. With ``on_crash`` the
    pool is started again: the item that ends a worker a second time, run alone, gets the
    crash record, and every other item its result; without it, the error is raised."""
    from concurrent.futures.process import BrokenProcessPool

    items = list(range(12))
    results = dict(LocalRunner(2).map(_crashing_worker, (5,), items,
                                      on_crash=lambda item, reason: f"{item}: {reason}"))
    assert set(results) == set(items)
    assert results[5].startswith("5: its analysis ended the worker process abruptly")
    assert all(results[i] == i * i for i in items if i != 5)
    with pytest.raises(BrokenProcessPool):
        dict(LocalRunner(2).map(_crashing_worker, (5,), items))


def test_a_worker_that_dies_while_the_caller_is_busy_costs_that_item_alone():
    """The pool breaks while the caller is still handling a result (writing a journal, say):
    the next submission finds it broken, and that too costs the crashing item alone."""
    items = list(range(8))
    results = {}
    for index, result in LocalRunner(2).map(_crashing_worker, (3,), items,
                                            on_crash=lambda item, reason: f"{item}: crashed"):
        time.sleep(0.5)  # a slow consumer: the crash happens between its results
        results[index] = result
    assert set(results) == set(items) and results[3] == "3: crashed"
    assert all(results[i] == i * i for i in items if i != 3)


def test_a_ray_actor_that_dies_on_one_item_costs_that_item_alone(cluster):
    """Ray Data restarted a dead actor and retried its batch for ever: one file that crashes
    its worker made `tag --runner ray` run without end, and no row reached the journal. Now
    the item is run once more on a new actor, then recorded as a crash; without ``on_crash``
    the error is raised."""
    import sys

    from ray import cloudpickle
    from ray.exceptions import RayActorError

    cloudpickle.register_pickle_by_value(sys.modules[__name__])
    cloudpickle.register_pickle_by_value(sys.modules["_crash_workers"])  # the test's worker, sent to the actors as code
    items = list(range(12))
    started = time.monotonic()
    results = dict(RayRunner(n_jobs=2).map(_crashing_worker, (5,), items, on_crash=lambda item, reason: f"{item}: {reason}"))
    assert set(results) == set(items) and time.monotonic() - started < 120
    assert results[5].startswith("5: its analysis ended the worker process abruptly")
    assert all(results[i] == i * i for i in items if i != 5)
    with pytest.raises(RayActorError):
        dict(RayRunner(n_jobs=2).map(_crashing_worker, (5,), items))


def test_a_worker_that_cannot_start_ends_the_run_with_its_own_error_on_either_runner(cluster):
    """A model missing on the workers ended the run in a broken pool's traceback (local) or
    Ray's actor errors (169 lines): one error, naming the model, instead."""
    import sys

    from ray import cloudpickle

    from genrekit.errors import GenrekitError

    cloudpickle.register_pickle_by_value(sys.modules[__name__])
    cloudpickle.register_pickle_by_value(sys.modules["_crash_workers"])
    for runner in (LocalRunner(2), RayRunner(n_jobs=2)):
        with pytest.raises(GenrekitError, match=r"could not start: /models/x.onnx: no such model file$"):
            dict(runner.map(_unloadable_worker, ("/models/x.onnx",), range(6), on_crash=lambda item, reason: reason))


def test_rays_own_messages_go_to_its_log_not_to_the_results_on_stdout(cluster, capsys, caplog):
    """Ray printed its raylet's errors ("a worker died") on stdout, into `--format jsonl`."""
    from ray._private import worker as ray_worker

    with caplog.at_level(logging.WARNING, logger="ray"):
        ray_worker.print_to_stdstream({"lines": ["A worker died or was killed"], "pid": "raylet", "is_err": False},
                                      ignore_prefix=False)
    assert capsys.readouterr().out == ""
    assert "A worker died or was killed" in caplog.text


def test_an_address_without_a_cluster_or_ray_client_is_refused_in_one_line(tmp_path, gtzan_mini):
    import subprocess
    import sys

    clip = next((gtzan_mini / "jazz").iterdir())
    result = subprocess.run([sys.executable, "-m", "genrekit", "predict", str(clip), "--runner", "ray", "--address",
                             "ray://127.0.0.1:1"], capture_output=True, text=True, timeout=300)
    assert result.returncode != 0 and "Traceback" not in result.stderr, result.stderr
    assert "ray://127.0.0.1:1: a ray:// address needs Ray Client: pip install 'ray[client]'" in result.stderr


def test_quiet_keeps_rays_own_logs_off_stderr(tmp_path, gtzan_mini):
    """`-q ... --runner ray` printed Ray's INFO and WARNING lines (its token, its Data plans,
    "progress bars disabled", a UserWarning) though -q promises results and errors only."""
    import subprocess
    import sys

    clips = sorted((gtzan_mini / "jazz").iterdir())[:2]
    result = subprocess.run([sys.executable, "-m", "genrekit", "-q", "predict", *map(str, clips), "--format", "csv",
                             "--runner", "ray", "--jobs", "2"], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert len(result.stdout.splitlines()) == 3  # the header and two rows
    assert result.stderr == "", result.stderr  # nor its C++ core's "[date I pid] logging.cc: Set ray log level"


def test_ray_streams_items_from_a_slow_producer_and_runs_those_before_its_error(cluster):
    """Items were read whole before anything ran, and the actors' finished results waited for
    the next item; a bad line among the first ones lost the items before it."""
    import sys

    from ray import cloudpickle

    cloudpickle.register_pickle_by_value(sys.modules[__name__])
    cloudpickle.register_pickle_by_value(sys.modules["_crash_workers"])

    def slow():
        for item in range(3):
            yield item
        time.sleep(6)  # the producer stalls: the results so far come meanwhile
        yield 3

    seen, started = [], time.monotonic()
    for index, result in RayRunner(n_jobs=2).map(_crashing_worker, (-1,), slow()):
        seen.append((index, result, time.monotonic() - started))
    assert sorted((i, r) for i, r, _ in seen) == [(0, 0), (1, 1), (2, 4), (3, 9)]
    early = [t for i, _, t in seen if i < 3]
    late = next(t for i, _, t in seen if i == 3)
    assert max(early) < late - 3, seen  # the first three arrived before the producer went on

    def broken():
        yield from range(2)
        raise ValueError("line 3: not a path")

    results = {}
    with pytest.raises(ValueError, match="line 3"):
        for index, result in RayRunner(n_jobs=4).map(_crashing_worker, (-1,), broken()):
            results[index] = result
    assert results == {0: 0, 1: 1}


def test_a_ray_address_where_nothing_answers_is_refused_at_once():
    """``--runner ray --address HOST:PORT`` with nothing listening ran for over ten minutes (Ray's
    20 retries of about 35 s each) printing its C++ warnings (a review, 2026-12-07); docs/scale.md
    says such an address is refused in one line."""
    import socket

    from genrekit import runners

    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    # asked before ray.init and its retries (this module's cluster may be Ray's already: connect would not ask)
    with pytest.raises(ConnectionError, match=r"^cannot reach it: .*start the cluster's head there") as refused:
        runners._check_reachable(f"127.0.0.1:{port}")
    assert runners._unreachable(f"127.0.0.1:{port}", refused.value).startswith(
        f"--address 127.0.0.1:{port}: Ray could not connect (cannot reach it: ")
    for address in ("auto", "ray://127.0.0.1:1", "local"):  # Ray says why itself, at once
        runners._check_reachable(address)
