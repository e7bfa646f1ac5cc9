"""Where batch work runs: a process pool on this machine, or a Ray cluster.

Both runners take a *worker factory* — a module-level function that builds the per-item
function once per worker (a model is loaded once, not once per file) — and the items, and
yield ``(index, result)`` as results arrive, in any order. Results are JSON-compatible
values; the caller records them (feature cache, tagging journal) as they come, so an
interrupted run resumes the same way whichever runner did the work, and the output does
not depend on the runner.

    runner = get_runner("ray", address="auto", n_jobs=8)
    for index, result in runner.map(make_worker, (model_path,), items): ...

The Ray runner starts one actor per CPU of the cluster (each builds the worker once) and
gives each one item at a time, read from the items as actors come free; results stream back
to this process. An item whose actor dies is run once more on a new actor, then recorded as
a crash, as the local runner does. It needs ``pip install 'genrekit[ray]'``.

The local runner's workers log at this process's levels (``-q``: errors only), and what they
log comes back with each item's result, to be handled by this process's loggers: its
handlers and format, and its filters (a warning given once per run is not given again by
each worker).
"""

from __future__ import annotations

import collections
import itertools
import json
import logging
import logging.handlers
import multiprocessing
import numbers
import os
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait

from genrekit._renamed import renamed_attribute, renamed_keywords
from genrekit.errors import GenrekitError, ParameterError

RUNNERS = ("local", "ray")
# Why an item whose worker process died is left out (the local runner's and Ray's words)
CRASH_REASON = ("its analysis ended the worker process abruptly (a crash in a decoder or library, or the system out "
                "of memory); left out")
WorkerFactory = Callable[..., Callable[[object], object]]


def default_jobs() -> int:
    return max(1, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1)


# Worker processes per core a local pool may start: each holds its own model and audio, so
# 10000 of them ran the machine out of memory where the cores alone bound the speed.
MAX_JOBS_PER_CORE = 4


# --- local: a process pool --------------------------------------------------------------

_WORKER = None
_START_ERROR: Exception | None = None  # why this worker process could not build its worker


_IN_WORKER = False


def in_worker() -> bool:
    """Whether this process is one of a runner's workers (which should compute on one thread)."""
    return _IN_WORKER


def _one_thread_per_worker() -> None:
    """n worker processes then use n cores, not n x n threads."""
    import sys

    global _IN_WORKER
    _IN_WORKER = True

    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # the runtime profile: onnxruntime is given threads=1 by the workers
        pass
    else:
        threadpool_limits(limits=1)
    if "torch" in sys.modules:
        sys.modules["torch"].set_num_threads(1)


def _exit_with(owner: int) -> None:
    """End this worker as soon as process ``owner`` (the pool's) is gone, even killed by SIGKILL.

    A parent-death signal (prctl) would not do: a forkserver worker's parent is the forkserver,
    which lives as long as any worker holds its pipe. With the workers gone, the forkserver and
    the resource tracker see their pipes close and exit too."""
    import select
    import threading

    def watch() -> None:
        try:
            handle = os.pidfd_open(owner)  # Linux >= 5.3: readable once the owner has exited
        except ProcessLookupError:
            os._exit(1)
        except (AttributeError, OSError):  # elsewhere: ask every half second
            if os.name == "nt":  # os.kill(pid, 0) would end the owner there; its pipes' closing ends the workers
                return
            while _exists(owner):
                time.sleep(0.5)
            os._exit(1)
        select.select([handle], [], [])
        os._exit(1)

    threading.Thread(target=watch, name="genrekit-owner-watchdog", daemon=True).start()


def _exists(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # it exists, under another user
        pass
    return True


def _logging_state() -> dict:
    """This process's logging as its workers take it over: the levels set (the root logger's
    and each named one's), :func:`logging.disable`'s, and whether Python's warnings go to
    logging (``genrekit -q``: below its ERROR level, so not shown)."""
    levels = {name: logger.level for name, logger in list(logging.root.manager.loggerDict.items())
              if isinstance(logger, logging.Logger) and logger.level != logging.NOTSET}
    return {"root": logging.root.level, "levels": levels, "disable": logging.root.manager.disable,
            "capture_warnings": getattr(logging, "_warnings_showwarning", None) is not None}


class _HeldRecords(logging.handlers.QueueHandler):
    """A worker's log records, held until the result (or error) of the item it runs takes them
    to the pool's process (:func:`_replay`). The standard library's :meth:`prepare` makes each
    picklable (message, arguments and traceback merged into one text); extra fields other than
    plain values are left out."""

    def __init__(self):
        super().__init__(queue=None)  # held in a list, taken by the item's result
        self.records: list[dict] = []

    def enqueue(self, record: logging.LogRecord) -> None:
        self.records.append({k: v for k, v in record.__dict__.items() if v is None or isinstance(v, (str, int, float))})

    def take(self) -> list[dict]:
        records, self.records = self.records, []
        return records


_HELD: _HeldRecords | None = None


def _take_logging(state: dict) -> None:
    """Log in this worker at the levels of the pool's process (``state``, from
    :func:`_logging_state`), into :data:`_HELD` only. A forkserver or spawn worker had no
    handler, so Python's last-resort one printed its warnings on stderr, unformatted, once per
    worker and under ``-q``; a forked one would have had the pool process's own."""
    global _HELD
    root = logging.getLogger()
    for handler in list(root.handlers):
        root.removeHandler(handler)
    _HELD = _HeldRecords()
    root.addHandler(_HELD)
    root.setLevel(state["root"])
    for name, level in state["levels"].items():
        logging.getLogger(name).setLevel(level)
    logging.disable(state["disable"])
    logging.captureWarnings(state["capture_warnings"])


def _held() -> list[dict]:
    return _HELD.take() if _HELD is not None else []


def _replay(records: Iterable[dict]) -> None:
    """A worker's log records, handled by this process's loggers as if logged here: at their
    levels, through their filters and handlers."""
    for state in records:
        record = logging.makeLogRecord(state)
        logger = logging.getLogger(None if record.name == "root" else record.name)
        if logger.isEnabledFor(record.levelno):
            logger.handle(record)


def _with_records(call: Callable[[], object]) -> tuple[object, list[dict]]:
    """``call()``'s result and the records this worker logged since its last item (the first
    item: since it started); an error carries them instead, as ``genrekit_records``."""
    try:
        result = call()
    except BaseException as exc:
        try:
            exc.genrekit_records = _held()
        except AttributeError:  # an error without attributes of its own: its records are lost
            pass
        raise
    return result, _held()


def _outcome(future: Future) -> object:
    """A worker's result (from :func:`_with_records`), or its error, once the records it logged
    on the way are handled here."""
    try:
        result, records = future.result()
    except BaseException as exc:
        _replay(getattr(exc, "genrekit_records", ()))
        raise
    _replay(records)
    return result


def _init_local(factory: WorkerFactory, args: tuple, owner: int | None = None, logs: dict | None = None,
                started=None) -> None:
    global _WORKER, _START_ERROR, _IN_WORKER
    import signal

    if started is not None:  # through its start: a pool that breaks from now on did not break there
        started.value = 1
    # Ctrl+C reaches the whole process group: the parent decides (it stops the workers,
    # _stop_workers); a worker's own KeyboardInterrupt printed a traceback per worker
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    if logs is not None:
        _take_logging(logs)
    if owner is not None:
        _exit_with(owner)  # before the model loads: that takes seconds and hundreds of MB
    _IN_WORKER = True  # before the worker is built: sessions it makes (a model's self-test) take one thread
    try:
        _WORKER = factory(*args)
    except Exception as exc:  # raised for each item instead: the caller gets one line, not a broken pool
        _START_ERROR = _could_not_start(exc, "a worker process")
    _one_thread_per_worker()


def _could_not_start(exc: Exception, worker: str) -> GenrekitError:
    """Why ``worker`` could not be built (its model missing there), as one error for the caller."""
    named = str(exc) if isinstance(exc, GenrekitError) else f"{type(exc).__name__}: {exc}"
    return GenrekitError(f"{worker} could not start: {named}")


def _stop_workers(pool: ProcessPoolExecutor) -> None:
    """End a pool's worker processes now: its shutdown would wait for the items they hold (a
    second Ctrl+C during that wait hung the command for good). The pool then sees them gone,
    as after a worker's crash, and fails its futures as broken; none is cancelled or shut down
    here (either made Python 3.11's pool threads print a traceback as they failed the rest)."""
    for process in list((getattr(pool, "_processes", None) or {}).values()):  # CPython's; absent: the pool waits
        process.terminate()


def _run_local(item) -> tuple[object, list[dict]]:
    def run():
        if _START_ERROR is not None:
            raise _START_ERROR
        return _WORKER(item)
    return _with_records(run)


def _started() -> tuple[bool, list[dict]]:
    """True where the worker could be built; why it could not is raised."""
    def started() -> bool:
        if _START_ERROR is not None:
            raise _START_ERROR
        return True
    return _with_records(started)


def _never_started(method: str) -> GenrekitError:
    """Why a pool broke before any of its workers reached :func:`_init_local` (what ended them,
    where they said, is on stderr). Where the main module is a script with no ``if __name__ ==
    "__main__":`` guard, that is named: a ``forkserver`` or ``spawn`` worker imports the main
    script as it starts, so the script's work runs again in each worker, and fails there (the
    run folder is the first run's, or a worker may not start processes of its own)."""
    said = "the worker processes ended as they started, before any of them could run its work"
    script = _unguarded_main() if method != "fork" else None
    if script is None:
        return GenrekitError(f"{said} (any error they printed is above)")
    return GenrekitError(f"{said}: {script} has no `if __name__ == \"__main__\":` guard, so each worker process, "
                         f"which imports it as it starts ({method}), runs the script's work again; put that work "
                         "under the guard")


def _unguarded_main() -> str | None:
    """The main module's file where it is Python with no top-level ``if __name__ ==
    "__main__":``; None where it has one, or has no file this process can read and parse
    (``python -c``, an interactive session)."""
    import ast
    import sys

    path = getattr(sys.modules.get("__main__"), "__file__", None)
    if not path:
        return None
    try:
        with open(path, "rb") as file:
            tree = ast.parse(file.read())
    except (OSError, SyntaxError, ValueError):
        return None

    def is_guard(test: ast.expr) -> bool:
        if not (isinstance(test, ast.Compare) and len(test.ops) == 1 and isinstance(test.ops[0], ast.Eq)):
            return False
        sides = (test.left, test.comparators[0])
        return (any(isinstance(side, ast.Name) and side.id == "__name__" for side in sides)
                and any(isinstance(side, ast.Constant) and side.value == "__main__" for side in sides))

    return None if any(isinstance(node, ast.If) and is_guard(node.test) for node in tree.body) else str(path)


def start_method() -> str:
    """``forkserver`` where the platform has it (Linux, macOS: a clean, fast start), else
    ``spawn`` (Windows)."""
    return "forkserver" if "forkserver" in multiprocessing.get_all_start_methods() else "spawn"


def _raising(error: BaseException) -> Iterator:
    raise error
    yield  # a generator: it raises when it is read


class _Feed:
    """A stream of items read in a thread of its own, only as many as the caller has room
    for (:meth:`take`). A slow producer (paths piped in as they are found or downloaded) then
    holds back only the next submission, not the results of the songs already analysed.
    ``arrival`` is a future that completes when items (or the stream's end) are waiting, so
    it can be waited on with the pool's futures."""

    _END = object()

    def __init__(self, items: Iterator):
        self._items = items
        self._buffer: collections.deque = collections.deque()
        self._lock = threading.Condition()
        self._wanted = 0
        self._ended = self._closed = False
        self._error: BaseException | None = None
        self.arrival: Future = Future()
        threading.Thread(target=self._read, name="genrekit-feed", daemon=True).start()

    def _read(self) -> None:
        try:
            while True:
                with self._lock:
                    while self._wanted <= 0 and not self._closed:
                        self._lock.wait()
                    if self._closed:
                        return
                item = next(self._items, self._END)  # not under the lock: the producer may take its time
                if item is self._END:
                    return
                with self._lock:
                    self._wanted -= 1
                    self._buffer.append(item)
                    self._announce()
        except BaseException as exc:  # the producer's own error (a bad line of a path list) reaches the caller
            self._error = exc
        finally:
            with self._lock:
                self._ended = True
                self._announce()

    def _announce(self) -> None:
        if not self.arrival.done():
            self.arrival.set_result(None)

    def take(self, room: int) -> list:
        """Up to ``room`` items that are waiting, without waiting; the rest of the room is
        read for the next call. The producer's error is raised once the items before it are
        taken, and at every call after."""
        with self._lock:
            taken = [self._buffer.popleft() for _ in range(min(room, len(self._buffer)))]
            self._wanted = room - len(taken)
            self._lock.notify_all()
            if not self._buffer and not self._ended:
                self.arrival = Future()
            if not taken and not self._buffer and self._error is not None:
                raise self._error
            return taken

    def put_back(self, items: list) -> None:
        """Items taken but not run (their pool broke): they come first at the next take."""
        with self._lock:
            self._buffer.extendleft(reversed(items))
            if items:
                self._announce()

    @property
    def exhausted(self) -> bool:
        with self._lock:
            return self._ended and not self._buffer and self._error is None

    def close(self) -> None:
        """Stop reading (a reader waiting on the producer stops when the producer yields)."""
        with self._lock:
            self._closed = True
            self._lock.notify_all()


def jobs_wanted(n_jobs: int | None) -> int:
    """The workers ``n_jobs`` asks for, as every function that takes it reads it (None or <= 0:
    one per core); a ParameterError where it is no whole number. A runner of other machines
    (Ray) may have more than this one's cores: :func:`pool_size` bounds a local pool."""
    if n_jobs is not None and (isinstance(n_jobs, bool) or not isinstance(n_jobs, numbers.Integral)):
        raise ParameterError(f"n_jobs={n_jobs!r:.40}: expected a whole number of worker processes (or None: one "
                             "per core)")
    return default_jobs() if not n_jobs or n_jobs <= 0 else int(n_jobs)


def pool_size(n_jobs: int | None) -> int:
    """The worker processes of a local pool ``n_jobs`` asks for (:func:`jobs_wanted`);
    ParameterError above :data:`MAX_JOBS_PER_CORE` per core."""
    size, cores = jobs_wanted(n_jobs), default_jobs()
    if size > MAX_JOBS_PER_CORE * cores:
        raise ParameterError(f"{n_jobs} worker processes asked for (n_jobs; --jobs on the command line): at most "
                             f"{MAX_JOBS_PER_CORE * cores} on this machine ({MAX_JOBS_PER_CORE} for each of its "
                             f"{cores} cores): each holds its own model and audio, and more than the cores only "
                             "share them")
    return size


class LocalRunner:
    """A pool of ``n_jobs`` processes on this machine; ``n_jobs=1`` runs in this process.

    Parameters
    ----------
    n_jobs : worker processes (None or <= 0: one per core; at most :data:`MAX_JOBS_PER_CORE` per core)
    preload : modules the forkserver imports once for every worker
    method : the multiprocessing start method (default :func:`start_method`)
    """

    name = "local"
    jobs = renamed_attribute("jobs", "n_jobs")

    @renamed_keywords(jobs="n_jobs")
    def __init__(self, n_jobs: int | None = None, *, preload: Sequence[str] = (), method: str | None = None):
        self.n_jobs = pool_size(n_jobs)
        self.preload = list(preload)
        self.method = method or start_method()
        if self.method not in multiprocessing.get_all_start_methods():
            raise ParameterError(f"method={self.method!r}: this platform starts processes with "
                                 f"{', '.join(multiprocessing.get_all_start_methods())}")

    def map(self, factory: WorkerFactory, args: tuple, items: Iterable, *,
            on_crash: Callable[[object, str], object] | None = None) -> Iterator[tuple[int, object]]:
        """``(index, worker(item))`` for every item, as each finishes. ``items`` may be a stream
        (paths read from stdin): they are read as workers come free, two per worker ahead. A
        worker process that dies (a decoder's segfault, the out-of-memory killer) breaks the
        pool: with ``on_crash``, the items it may have held are run again one at a time, each
        in a pool of its own, the one that ends its worker again gets ``on_crash(item,
        reason)`` as its result, and the rest go on in a new pool; without it, the error is
        raised."""
        items, head = iter(items), []
        try:
            head.extend(itertools.islice(items, max(2, self.n_jobs)))  # fewer: that is all of them
        except Exception as exc:  # the producer's error (a bad line of a path list): after the items before it
            items = _raising(exc)
        if not head:  # nothing to do (a resumed run's): no worker to build, no model to load
            list(items)  # but a producer that failed at once still raises its error
            return
        if self.n_jobs == 1 or len(head) <= 1:
            worker = factory(*args)
            for index, item in enumerate(itertools.chain(head, items)):
                yield index, worker(item)
            return
        workers = min(self.n_jobs, len(head))
        feed = _Feed(enumerate(itertools.chain(head, items)))
        try:
            while True:
                suspects: list[tuple[int, object]] = []
                yield from self._pool(factory, args, feed, workers, suspects, on_crash)
                if not suspects:
                    return
                for index, item in suspects:  # alone, so a second crash names its item
                    yield index, next(iter(self._alone(factory, args, item, on_crash)))
        finally:
            feed.close()

    def _context(self):
        context = multiprocessing.get_context(self.method)
        if self.preload and self.method == "forkserver":
            context.set_forkserver_preload(self.preload)
        return context

    def _executor(self, factory, args, workers: int) -> tuple[ProcessPoolExecutor, object]:
        """A pool of ``workers`` processes, logging as this process does, and the flag the
        first of them to get through its start sets (see :func:`_never_started`)."""
        context = self._context()
        started = context.RawValue("b", 0)
        return ProcessPoolExecutor(max_workers=workers, mp_context=context, initializer=_init_local,
                                   initargs=(factory, args, os.getpid(), _logging_state(), started)), started

    def _pool(self, factory, args, feed: _Feed, workers: int, suspects: list, on_crash) -> Iterator[tuple[int, object]]:
        """Run ``feed``'s items in one pool until it is done or broken; a broken pool's
        unfinished items go to ``suspects`` (raised instead without ``on_crash``). A pool
        broken before any worker got through its start raises :func:`_never_started`'s error:
        each item run alone would meet it again."""
        from concurrent.futures.process import BrokenProcessPool

        executor, started = self._executor(factory, args, workers)
        with executor as pool:
            # At most 2 items per worker in flight: results come back as they finish, memory stays flat.
            pending: dict[Future, tuple[int, object]] = {}

            failed: list[BaseException] = []  # the producer's error: raised once the items before it are done

            def submit() -> None:
                if failed:
                    return
                try:
                    taken = feed.take(2 * workers - len(pending))
                except Exception as exc:
                    failed.append(exc)
                    return
                for n, (index, item) in enumerate(taken):
                    try:
                        pending[pool.submit(_run_local, item)] = index, item
                    except BrokenProcessPool as exc:  # a worker died while the caller handled a result
                        if not started.value:
                            raise _never_started(self.method) from exc
                        if on_crash is None:
                            raise
                        suspects.append((index, item))
                        feed.put_back(taken[n + 1:])
                        return

            try:
                submit()
                while (pending or not (feed.exhausted or failed)) and not suspects:
                    # the feed's arrival is waited on only while there is room for its items
                    waiting = set(pending) | ({feed.arrival} if len(pending) < 2 * workers else set())
                    done, _ = wait(waiting, return_when=FIRST_COMPLETED)
                    for future in done:
                        if future not in pending:
                            continue  # the feed's arrival
                        index, item = pending.pop(future)
                        try:
                            result = _outcome(future)
                        except BrokenProcessPool as exc:
                            if not started.value:
                                raise _never_started(self.method) from exc
                            if on_crash is None:
                                raise
                            suspects.append((index, item))
                            continue
                        yield index, result
                    if not suspects:
                        submit()
                if suspects:
                    suspects.extend(pending.values())  # lost with the pool, whichever held the crash
                    pending.clear()
                if failed and not suspects:  # with suspects, the next pool meets the error again
                    raise failed[0]
            except BaseException:  # Ctrl+C, or the caller stopped: the songs in analysis are not waited for
                _stop_workers(pool)
                raise

    def _alone(self, factory, args, item, on_crash) -> Iterator[object]:
        from concurrent.futures.process import BrokenProcessPool

        executor, started = self._executor(factory, args, 1)
        with executor as pool:
            try:  # a worker that cannot even start (its model) is not the item's fault
                _outcome(pool.submit(_started))
            except BrokenProcessPool as exc:
                if not started.value:
                    raise _never_started(self.method) from exc
                raise
            try:
                yield _outcome(pool.submit(_run_local, item))
            except KeyboardInterrupt:
                _stop_workers(pool)
                raise
            except BrokenProcessPool:
                yield on_crash(item, CRASH_REASON)


# --- Ray: actors on a cluster -------------------------------------------------------------

class _RayWorker:
    """One Ray actor: builds the worker once, then runs one JSON item at a time. A worker that
    cannot be built (the model missing on this node) is reported by :meth:`started`, as
    itself, rather than ending the actor."""

    def __init__(self, factory: WorkerFactory, args: tuple):
        global _IN_WORKER
        _IN_WORKER = True  # before the worker is built: sessions it makes (a model's self-test) take one thread
        try:
            self.worker, self.failure = factory(*args), None
        except Exception as exc:
            import socket

            self.worker, self.failure = None, (exc, socket.gethostname())
        _one_thread_per_worker()  # after the worker is built: the thread pools it loaded are limited

    def started(self):
        return self.failure

    def run(self, item: str) -> str:
        return json.dumps(self.worker(json.loads(item)))


class RayRunner:
    """Actors on the Ray cluster at ``address`` ("auto": the one this machine belongs to;
    ``ray://host:port``: a remote one, with ``pip install 'ray[client]'``; None: start a local
    one, for this run). ``n_jobs`` actors (default: the cluster's CPUs), each loading the worker
    once and taking one item at a time, read from ``items`` as actors come free."""

    name = "ray"
    jobs = renamed_attribute("jobs", "n_jobs")

    @renamed_keywords(jobs="n_jobs")
    def __init__(self, address: str | None = None, n_jobs: int | None = None, *, num_cpus: int | None = None):
        self.address, self.n_jobs, self.num_cpus = address, n_jobs, num_cpus

    def connect(self):
        import ray

        # Ray's own logging at this process's level or above it (WARNING by default; -q: ERROR):
        # its INFO lines and its C++ core's messages are not genrekit's output.
        level = max(logging.WARNING, logging.getLogger().getEffectiveLevel())
        for name in ("ray", "ray.data"):
            logging.getLogger(name).setLevel(level)
        if not ray.is_initialized():
            # Ray's C++ core keeps to its log files unless RAY_BACKEND_LOG_LEVEL is set, and setting
            # it prints a line of its own ("Set ray log level from environment variable"): left alone
            try:
                if self.address:
                    _check_reachable(self.address)
                    ray.init(address=self.address, include_dashboard=False, log_to_driver=False, logging_level=level)
                else:  # a cluster of this machine, advertised on 127.0.0.1 (docs/scale.md: what it listens on)
                    ray.init(num_cpus=self.num_cpus or default_jobs(), include_dashboard=False, log_to_driver=False,
                             _node_ip_address="127.0.0.1", logging_level=level)
            except (ConnectionError, ValueError, RuntimeError) as exc:  # no cluster there, no Ray Client
                raise ParameterError(_unreachable(self.address, exc)) from exc
            for name in ("ray", "ray.data"):  # ray.init configures its loggers again
                logging.getLogger(name).setLevel(level)
            _raylet_messages_to_log()
        return ray

    def map(self, factory: WorkerFactory, args: tuple, items: Iterable, *,
            on_crash: Callable[[object, str], object] | None = None) -> Iterator[tuple[int, object]]:
        """``(index, worker(item))`` for every item, as each finishes. ``items`` may be a stream:
        they are read in a thread of their own as actors come free, so a slow producer holds
        back no finished result, and actors are started (up to ``n_jobs``) only as items come. An
        item whose actor dies (a decoder's segfault, the out-of-memory killer, a node lost) is
        run once more on a new actor; ending that one too, it gets ``on_crash(item, reason)``
        as its result (without ``on_crash``, the error is raised). A worker that cannot be built
        raises its own error; the producer's error is raised once the items before it are done."""
        numbered = enumerate(items)
        first = list(itertools.islice(numbered, 1))
        if not first:  # no cluster started for nothing
            return
        ray = self.connect()
        from ray.exceptions import RayActorError

        n_jobs = self.n_jobs or max(1, int(ray.cluster_resources().get("CPU", 1)))
        actor_class = ray.remote(num_cpus=1, max_restarts=0, max_task_retries=0)(_RayWorker)
        queue = collections.deque((index, item, 0) for index, item in first)  # (index, item, crashes so far)
        feed = _Feed(numbered)
        starting: dict = {}  # a started() reference -> its actor
        running: dict = {}  # a run() reference -> (actor, index, item, crashes)
        idle: list = []
        actors: list = []
        failed: list[BaseException] = []
        ended = False  # every item has been read (or the producer failed)

        def start() -> None:
            actor = actor_class.remote(factory, args)
            actors.append(actor)
            starting[actor.started.remote()] = actor

        try:
            while True:
                room = 2 * n_jobs - len(running) - len(queue)  # read ahead: a free actor finds its next item waiting
                if not ended and room > 0:
                    try:
                        queue.extend((index, item, 0) for index, item in feed.take(room))
                    except Exception as exc:  # the producer's (a bad line of a path list)
                        failed.append(exc)
                        ended = True
                    ended = ended or feed.exhausted
                while idle and queue:
                    index, item, crashes = queue.popleft()
                    actor = idle.pop()
                    running[actor.run.remote(json.dumps(item))] = actor, index, item, crashes
                while len(starting) < len(queue) and len(actors) < n_jobs:
                    start()  # no more actors than items, and at most n_jobs
                if not running and not queue and ended:  # actors still waiting for a CPU are not waited for
                    if failed:
                        raise failed[0]
                    return
                waiting = [*running, *starting]
                if not waiting:  # nothing in flight or queued: wait for the producer
                    feed.arrival.result()
                    continue
                polling = not ended and not queue  # an actor may be free for items still to come: look every 0.2 s
                ready, _ = ray.wait(waiting, num_returns=1, timeout=0.2 if polling else None)
                if not ready:
                    continue
                (ready,) = ready
                if ready in starting:
                    actor = starting.pop(ready)
                    try:
                        failure = ray.get(ready)
                    except RayActorError as exc:  # died while it loaded (out of memory)
                        failure = (exc, "a worker node")
                    if failure is not None:  # the model missing on a node: one line, not a traceback
                        error, node = failure
                        raise _could_not_start(error, f"a Ray worker on {node}") from error
                    idle.append(actor)
                    continue
                actor, index, item, crashes = running.pop(ready)
                try:
                    result = json.loads(ray.get(ready))
                except RayActorError:
                    if on_crash is None:
                        raise
                    actors.remove(actor)  # dead; a new one starts for the items left
                    if crashes == 0:  # once more, on a new actor: the crash may have been another's doing
                        queue.appendleft((index, item, 1))
                        continue
                    result = on_crash(item, CRASH_REASON)
                else:
                    idle.append(actor)
                yield index, result
        finally:
            feed.close()
            for actor in actors:
                ray.kill(actor)


# Seconds to wait for a cluster's head to answer before Ray's own retries (20 of about 35 s each)
REACHABLE_SECONDS = 5.0


def _check_reachable(address: str) -> None:
    """A ConnectionError where ``address`` is ``HOST:PORT`` and nothing answers there: Ray tried
    for more than ten minutes, printing its C++ core's warnings, before it said so."""
    import socket

    host, _, port = address.rpartition(":")
    if "://" in address or not host or not port.isdigit():  # auto, ray://: Ray says why itself, at once
        return
    try:
        socket.create_connection((host.strip("[]"), int(port)), timeout=REACHABLE_SECONDS).close()
    except OSError as exc:
        raise ConnectionError(f"cannot reach it: {exc}; start the cluster's head there (ray start --head --port "
                              "PORT) or give its address") from exc


def _unreachable(address: str | None, exc: BaseException) -> str:
    """Why Ray could not be reached at ``address``, in a sentence that says what to do."""
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    if "ray[client]" in text or "Ray Client" in text:
        return f"--address {address}: a ray:// address needs Ray Client: pip install 'ray[client]'"
    if address == "auto":
        return (f"--address auto: no Ray cluster found on this machine ({text}); start one (ray start --head) "
                "or leave out --address for one of this run's own")
    return f"--address {address}: Ray could not connect ({text})" if address else f"Ray could not start: {text}"


def _raylet_messages_to_log() -> None:
    """Ray prints its raylet's errors (a worker died) on stdout, where genrekit's results go
    (``--format jsonl``): they go to the ``ray`` logger, on stderr at its level, instead."""
    try:
        from ray._private import worker as ray_worker
    except ImportError:  # another Ray layout: its messages stay where Ray prints them
        return
    printer = getattr(ray_worker, "print_to_stdstream", None)
    if printer is None or getattr(printer, "genrekit", False):
        return

    def to_log(data, ignore_prefix: bool):
        if data.get("pid") == "raylet" and not data.get("is_err"):
            for line in data.get("lines") or []:
                logging.getLogger("ray").warning("%s", line)
            return
        printer(data, ignore_prefix)

    to_log.genrekit = True
    ray_worker.print_to_stdstream = to_log


def runner_given(runner, n_jobs: int | None = None):
    """``runner`` as a runner: None (the caller's own local pool) and a runner as they are, a
    runner's name (``"local"``, ``"ray"``) as :func:`get_runner` makes it; anything else is a
    ParameterError (it failed as "'str' object has no attribute 'map'" once the work began)."""
    if runner is None or callable(getattr(runner, "map", None)):
        return runner
    if isinstance(runner, str):
        return get_runner(runner, n_jobs=n_jobs)
    raise ParameterError(f"runner={runner!r:.60}: expected a runner (genrekit.runners.get_runner), a runner's name "
                         f"({', '.join(RUNNERS)}), or None (a local pool of n_jobs)")


@renamed_keywords(jobs="n_jobs")
def get_runner(name: str = "local", *, n_jobs: int | None = None, address: str | None = None,
               preload: Sequence[str] = ()) -> LocalRunner | RayRunner:
    """The runner called ``name`` ("local" or "ray")."""
    if name == "local":
        if address:
            raise ParameterError(f"address={address!r} is for the ray runner, not the local one")
        return LocalRunner(n_jobs, preload=preload)
    if name == "ray":
        import ray  # noqa: F401  (without the extra, fail here rather than after the work before the first map)

        return RayRunner(address, n_jobs)
    raise ParameterError(f"runner={name!r}: expected one of {', '.join(RUNNERS)}")
