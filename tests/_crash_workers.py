"""Workers for the runner tests, in a module of their own: a pool's worker process imports the
module its work comes from, and test_runners.py (Ray, pandas, genrekit's features) takes 1.6 s to import."""
import os
import signal
import time


def _crashing_worker(fatal: int):
    """A worker that dies (SIGKILL, as a decoder's segfault or the out-of-memory killer would end
    it) on item ``fatal`` and squares the others."""
    def work(item: int) -> int:
        if item == fatal:
            os.kill(os.getpid(), signal.SIGKILL)
        time.sleep(0.05)
        return item * item
    return work


def _unloadable_worker(path: str):
    """A worker whose model is missing (on a node that does not have it at that path)."""
    from genrekit.errors import ModelError

    raise ModelError(f"{path}: no such model file")
