"""Cross-validation's folds in worker processes log as this process does: a warning given once
per run (the tag prior's "no tag names reggae") is given once, through this process's
handlers, however many workers fit a fold, and not at all under ``genrekit -q``. Each worker
printed it again on stderr, unformatted, and ``-q`` did not reach the workers."""

import logging
import os
import subprocess
import sys
import textwrap

import numpy as np

from genrekit.datasets import FeatureTable
from genrekit.evaluate.crossval import cross_validate
from genrekit.features import FeatureSpec

WARNING = "reggae: no tag of the taggers names it"


def _table() -> FeatureTable:
    """Three genres of eight one-row tracks on the musicnn taggers' columns: reggae has no tag."""
    columns = list(FeatureSpec("musicnn").columns)
    rng = np.random.default_rng(0)
    y = np.repeat(np.arange(3), 8)
    tracks = np.array([f"t{i}" for i in range(len(y))])
    return FeatureTable(X=rng.uniform(0.0, 0.2, size=(len(y), len(columns))), y=y, tracks=tracks, groups=tracks,
                        labels=["jazz", "reggae", "rock"], columns=columns)


def test_a_workers_once_warning_reaches_this_process_loggers_once(caplog):
    import genrekit.models.tagprior as tagprior

    tagprior._WARNED.clear()  # given by an earlier test in this process, it would not be given again
    with caplog.at_level(logging.WARNING):
        cross_validate(_table(), "musicnn-prior", n_splits=4, n_jobs=2)
    given = [r for r in caplog.records if WARNING in r.getMessage()]
    assert len(given) == 1 and given[0].name == "genrekit.models.tagprior" and given[0].levelno == logging.WARNING
    caplog.clear()
    with caplog.at_level(logging.WARNING):  # given in this run already: the workers' copies are dropped
        cross_validate(_table(), "musicnn-prior", n_splits=4, n_jobs=2)
    assert WARNING not in caplog.text


SCRIPT = textwrap.dedent("""
    import sys

    import numpy as np

    from genrekit.cli.common import _setup_logging
    from genrekit.datasets import FeatureTable
    from genrekit.evaluate.crossval import cross_validate
    from genrekit.features import FeatureSpec

    if __name__ == "__main__":
        _setup_logging(False, quiet=sys.argv[1] == "quiet")  # as the CLI's callback does, -q or not
        columns = list(FeatureSpec("musicnn").columns)
        y = np.repeat(np.arange(3), 8)
        tracks = np.array([f"t{i}" for i in range(len(y))])
        X = np.random.default_rng(0).uniform(0.0, 0.2, size=(len(y), len(columns)))
        table = FeatureTable(X=X, y=y, tracks=tracks, groups=tracks, labels=["jazz", "reggae", "rock"],
                             columns=columns)
        cross_validate(table, "musicnn-prior", n_splits=4, n_jobs=2)
        print("done")
""")


def test_workers_warn_once_on_stderr_and_not_at_all_under_quiet(tmp_path):
    """The whole stderr of a run, the workers' own included (their forkserver is this run's):
    once in genrekit's format, and nothing with -q."""
    script = tmp_path / "cv.py"
    script.write_text(SCRIPT)
    env = {**os.environ, "COLUMNS": "400"}  # one line per log record
    for mode, expected in (("loud", 1), ("quiet", 0)):
        done = subprocess.run([sys.executable, str(script), mode], capture_output=True, text=True, timeout=300,
                              env=env, cwd=tmp_path)
        assert done.returncode == 0 and done.stdout.strip() == "done", done.stderr
        assert done.stderr.count(WARNING) == expected, (mode, done.stderr)
        if expected:  # through genrekit's handler (rich: its level column), not Python's last-resort one
            line = next(line for line in done.stderr.splitlines() if WARNING in line)
            assert "WARNING" in line, done.stderr
