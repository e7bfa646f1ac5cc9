"""The local runner's process pool without Ray: its workers' logging comes back to this
process, and a pool whose workers cannot even start says why, naming a script that has no
``if __name__ == "__main__":`` guard where that is the cause."""

import logging
import os
import subprocess
import sys
import textwrap

import pytest

from genrekit.runners import LocalRunner


def _logging_worker():
    """Logs at three levels, and an error with its traceback, for each item; returns it doubled."""
    log = logging.getLogger("genrekit.test_worker")
    log.info("built in process %d", os.getpid())

    def work(item: int) -> int:
        log.debug("item %d: detail", item)
        log.warning("item %d: a warning", item)
        try:
            raise ValueError(f"item {item}")
        except ValueError:
            log.exception("item %d: an error", item)
        return 2 * item
    return work


def test_workers_log_through_this_process_at_its_levels(caplog):
    items = list(range(6))
    with caplog.at_level(logging.WARNING):
        results = dict(LocalRunner(2).map(_logging_worker, (), items))
    assert results == {i: 2 * i for i in items}
    worker = [r for r in caplog.records if r.name == "genrekit.test_worker"]
    assert sorted(r.getMessage() for r in worker if r.levelno == logging.WARNING) == \
        sorted(f"item {i}: a warning" for i in items)
    errors = [r for r in worker if r.levelno == logging.ERROR]
    assert len(errors) == 6 and all("ValueError: item" in r.getMessage() for r in errors)
    assert not [r for r in worker if r.levelno < logging.WARNING] and {r.process for r in worker} != {os.getpid()}
    caplog.clear()
    with caplog.at_level(logging.ERROR):  # -q: the workers too log errors only
        dict(LocalRunner(2).map(_logging_worker, (), items))
    assert {r.levelno for r in caplog.records if r.name == "genrekit.test_worker"} == {logging.ERROR}


# A script that runs genrekit's process pool; GUARD puts its work under the __main__ guard or not.
SCRIPT = """
import operator
import sys

from genrekit.runners import LocalRunner

def run():
    on_crash = (lambda item, reason: reason) if sys.argv[1] == "on_crash" else None
    # the worker of each item: operator.itemgetter(0), built in each worker process
    print(sorted(dict(LocalRunner(2).map(operator.itemgetter, (0,), [(n,) for n in range(6)], on_crash=on_crash))
                 .values()))
"""


def _script(tmp_path, body: str, name: str = "script.py"):
    path = tmp_path / name
    path.write_text(textwrap.dedent(body))
    return path


def _run(path, *args) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(path), *args], capture_output=True, text=True, timeout=240,
                          cwd=path.parent)


def _error(done: subprocess.CompletedProcess) -> str:
    """The genrekit error a script ended with (the workers' own tracebacks, and multiprocessing's
    warnings as it cleans up, are on stderr too)."""
    assert done.returncode == 1, done.stderr[-3000:]
    ended = [line for line in done.stderr.splitlines() if line.startswith("genrekit.errors.GenrekitError: ")]
    assert len(ended) == 1, done.stderr[-3000:]
    return ended[0]


@pytest.mark.parametrize("crash", ["on_crash", "raise"])
def test_a_script_without_the_main_guard_is_named_when_the_pool_breaks_at_its_start(tmp_path, crash):
    """README's Python API example, saved as a script, died with BrokenProcessPool: each worker
    re-ran the script as it started (forkserver imports the main script) and failed there (in
    train, with "another `genrekit train` is writing to this folder"). The error now says so,
    whether the caller records crashes (feature extraction) or not (cross-validation)."""
    error = _error(_run(_script(tmp_path, SCRIPT + "\nrun()\n"), crash))
    assert error.startswith("genrekit.errors.GenrekitError: the worker processes ended as they started"), error
    assert f'{tmp_path / "script.py"} has no `if __name__ == "__main__":` guard' in error, error
    guarded = _run(_script(tmp_path, SCRIPT + '\nif __name__ == "__main__":\n    run()\n'), crash)
    assert guarded.returncode == 0 and guarded.stdout.strip() == "[0, 1, 2, 3, 4, 5]", guarded.stderr


def test_a_pool_broken_at_its_start_by_other_causes_does_not_blame_the_guard(tmp_path):
    """A guarded script whose worker factory only exists under its guard: the workers cannot
    unpickle it as they start. The pool broke before any worker started, but not for want of
    a guard: the error says only what is known."""
    body = """
        from genrekit.runners import LocalRunner

        if __name__ == "__main__":
            def factory():  # not in the module the workers import
                return abs
            print(dict(LocalRunner(2).map(factory, (), range(4))))
    """
    error = _error(_run(_script(tmp_path, body)))
    assert error.startswith("genrekit.errors.GenrekitError: the worker processes ended as they started"), error
    assert "guard" not in error


def test_a_pool_broken_after_its_start_still_raises_its_own_error():
    """A worker that dies on an item (after its start) is a crash, not a start-up failure."""
    from concurrent.futures.process import BrokenProcessPool

    with pytest.raises(BrokenProcessPool):
        dict(LocalRunner(2).map(_dying_worker, (), range(4)))


def _dying_worker():
    def work(item: int) -> int:
        os._exit(1)
    return work


def test_the_readme_example_as_a_script_without_the_guard_names_the_guard(tmp_path, gtzan_mini):
    """The case reported: training from a script with no guard. Its workers' own errors (the
    run folder is the first run's) are theirs; the run ends with genrekit's error naming the
    script and the guard, not a BrokenProcessPool."""
    root = tmp_path / "songs"
    for genre in ("jazz", "rock"):
        (root / genre).mkdir(parents=True)
        for clip in sorted((gtzan_mini / genre).iterdir())[:3]:
            (root / genre / clip.name).symlink_to(clip)
    script = _script(tmp_path, f"""
        from genrekit.datasets import load_dataset
        from genrekit.train import train

        dataset = load_dataset({str(root)!r})
        train(dataset, model="logreg", features="gtzan57", out_dir={str(tmp_path / "run")!r}, n_jobs=2,
              split="all", cv=False)
    """, name="api.py")
    error = _error(_run(script))
    assert error.startswith("genrekit.errors.GenrekitError: the worker processes ended as they started"), error
    assert f'{script} has no `if __name__ == "__main__":` guard' in error, error


def _reports_where_it_was_built():
    """A worker that says whether it was built as a runner's worker (a model's self-test, run
    as the worker is built, takes its onnxruntime threads from that)."""
    from genrekit.runners import in_worker

    built_in_worker = in_worker()
    return lambda item: [item, built_in_worker]


def test_a_worker_is_one_while_it_is_built_and_none_is_built_for_nothing():
    """A review (2026-12-06): the pool marked its processes as workers after building the
    worker, so the onnxruntime session a model's self-test made then took every core, in each
    of n workers; and a pool with no item (a resumed evaluation with all done) still built one
    in this process, loading the model for nothing."""
    results = dict(LocalRunner(2).map(_reports_where_it_was_built, (), [1, 2, 3]))
    assert results == {0: [1, True], 1: [2, True], 2: [3, True]}
    built = []
    assert list(LocalRunner(2).map(lambda: built.append(1) or (lambda item: item), (), [])) == [] and not built

    def failing_at_once():
        raise ValueError("line 1 of the path list is not a path")
        yield

    with pytest.raises(ValueError, match="line 1 of the path list"):  # not swallowed with the empty run
        list(LocalRunner(2).map(lambda: built.append(1) or (lambda item: item), (), failing_at_once()))
    assert not built
