"""librosa's numba kernels, compiled (or loaded from numba's cache) by one process at a time.

librosa compiles its numba gufuncs (zero crossings, pitch interpolation, local extrema,
peak picking, beat tracking) when the modules defining them are first imported, and caches them on disk.
Processes that compile them at the same moment can write cache files that do not match each
other; the next process that loads them crashes with a segmentation fault
(https://github.com/numba/numba/issues/10128). Extraction workers starting together on a
fresh install are that case, so genrekit imports those modules holding an exclusive lock on
one file in the temp folder: the first process compiles and writes the cache, the others
wait for it and then load it.
"""

from __future__ import annotations

import importlib
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

# librosa's modules that define gufuncs or ufuncs (tests/test_librosa_kernels.py checks the list is whole)
KERNEL_MODULES = ("librosa.util.utils", "librosa.core.audio", "librosa.core.pitch", "librosa.beat")
LOCK_NAME = "genrekit-librosa-numba.lock"

_loaded = False


def lock_path() -> Path:
    return Path(tempfile.gettempdir()) / LOCK_NAME


@contextmanager
def exclusive_lock(path: Path) -> Iterator[None]:
    """Hold an exclusive lock on ``path`` (created if missing) across processes: ``flock``
    on POSIX, ``msvcrt.locking`` on Windows; go on unlocked where neither can be had (no
    writable temp folder)."""
    try:
        import fcntl
    except ImportError:  # Windows
        with _windows_lock(path):
            yield
        return
    try:
        # Read-only: a lock file another user created is still usable.
        descriptor = os.open(path, os.O_RDONLY | os.O_CREAT, 0o666)
    except OSError:
        yield
        return
    try:
        fcntl.flock(descriptor, fcntl.LOCK_EX)
        yield
    finally:
        os.close(descriptor)  # releases the lock


@contextmanager
def _windows_lock(path: Path) -> Iterator[None]:
    import msvcrt

    try:
        descriptor = os.open(path, os.O_RDWR | os.O_CREAT, 0o666)
    except OSError:
        yield
        return
    try:
        while True:
            try:
                msvcrt.locking(descriptor, msvcrt.LK_LOCK, 1)  # retries for 10 s, then raises
                break
            except OSError:
                continue
        try:
            yield
        finally:
            os.lseek(descriptor, 0, os.SEEK_SET)
            msvcrt.locking(descriptor, msvcrt.LK_UNLCK, 1)
    finally:
        os.close(descriptor)


def load_librosa_kernels() -> None:
    """Import librosa's numba-compiled modules in this process, under the lock; once."""
    global _loaded
    if _loaded:
        return
    with exclusive_lock(lock_path()):
        for name in KERNEL_MODULES:
            importlib.import_module(name)
    _loaded = True


__all__ = ["KERNEL_MODULES", "exclusive_lock", "load_librosa_kernels", "lock_path"]
