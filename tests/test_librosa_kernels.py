"""librosa's numba kernels are compiled by one process at a time (numba/numba#10128)."""

import fcntl
import os
import re
import subprocess
import sys

import pytest

from genrekit.features import librosa_kernels

# numba's gufunc and ufunc decorators (librosa's own @vectorize wraps np.vectorize: not numba)
NUMBA_UFUNC = r"^@(numba\.)?guvectorize\(|^@numba\.vectorize\("
LOAD = "from genrekit.features.librosa_kernels import load_librosa_kernels; load_librosa_kernels()"
USE = """
import numpy as np, librosa
y = np.random.default_rng(0).standard_normal(22050).astype(np.float32)
librosa.zero_crossings(y)
librosa.estimate_tuning(y=y, sr=22050)
librosa.util.localmax(y)
librosa.util.peak_pick(y, pre_max=3, post_max=3, pre_avg=3, post_avg=5, delta=0.5, wait=10)
librosa.beat.beat_track(y=y, sr=22050)
print("kernels ran")
"""


def test_every_librosa_module_with_gufuncs_is_listed():
    import importlib.util
    from pathlib import Path

    package = Path(importlib.util.find_spec("librosa").origin).parent
    defining = {".".join(("librosa", *path.relative_to(package).with_suffix("").parts))
                for path in package.rglob("*.py") if re.search(NUMBA_UFUNC, path.read_text(), re.MULTILINE)}
    assert defining and defining == set(librosa_kernels.KERNEL_MODULES)


def test_kernel_modules_are_imported_holding_the_lock(monkeypatch, tmp_path):
    lock = tmp_path / "kernels.lock"
    held = []

    def import_module(name):
        with open(lock) as other:  # a second open file description: its lock attempt conflicts
            try:
                fcntl.flock(other, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                held.append(name)

    monkeypatch.setattr(librosa_kernels, "_loaded", False)
    monkeypatch.setattr(librosa_kernels, "lock_path", lambda: lock)
    monkeypatch.setattr(librosa_kernels.importlib, "import_module", import_module)
    librosa_kernels.load_librosa_kernels()
    assert held == list(librosa_kernels.KERNEL_MODULES)
    held.clear()
    librosa_kernels.load_librosa_kernels()  # once per process
    assert held == []


@pytest.mark.slow
def test_processes_starting_together_on_a_cold_cache_leave_a_loadable_one(tmp_path):
    """With the lock left out, this failed in each of 4 runs with 3 starters, and in each of 3 runs
    with 2 (each starter given its own TMPDIR, so its own lock: the process that then ran the kernels
    crashed on the cache, SIGSEGV). Two starters are the race; a third only adds a cache load to wait for."""
    env = {**os.environ, "NUMBA_CACHE_DIR": str(tmp_path / "numba-cache")}
    starters = [subprocess.Popen([sys.executable, "-c", LOAD], env=env, stderr=subprocess.PIPE, text=True)
                for _ in range(2)]
    for process in starters:
        _, stderr = process.communicate(timeout=300)
        assert process.returncode == 0, stderr
    assert any((tmp_path / "numba-cache").rglob("guf-*.nbc"))
    user = subprocess.run([sys.executable, "-c", USE], env=env, capture_output=True, text=True, timeout=300)
    assert user.returncode == 0 and "kernels ran" in user.stdout, (user.returncode, user.stderr[-2000:])
