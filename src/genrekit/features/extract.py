"""Feature extraction over many files: parallel over cores, cached, resumable, fault tolerant."""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

from genrekit import audio
from genrekit._files import paths_given
from genrekit.audio import remote
from genrekit.audio.chunking import SEGMENT_SECONDS, song_chunks
from genrekit.errors import AudioError, FeatureError, GenrekitError, ParameterError, check_flags
from genrekit.features.cache import FeatureCache
from genrekit.features.limits import MAX_FEATURE_VALUE
from genrekit.features.registry import FeatureSpec, as_feature_spec

logger = logging.getLogger(__name__)


@dataclass
class ExtractionResult:
    """Features of each input file, in input order; ``None`` where the file failed.

    Attributes
    ----------
    spec : FeatureSpec
        The feature set and its parameters.
    paths : list of str
        The input files (paths or URLs), in input order.
    features : list of (np.ndarray [shape=(n_rows, n_features)] or None)
        Per file: one row per ``spec.chunk_duration`` window when ``spec`` is chunked, else one
        per 30 s segment, cut as prediction cuts a song; None where the file failed.
    hashes : list of (str or None)
        Per file: the SHA-256 of its bytes (:func:`genrekit.audio.content_hash`), which keys
        the cache; None where the file failed.
    failures : dict[str, str]
        Path -> reason, for the files that failed.
    cache_hits : int
        Files whose features came from the cache instead of being computed.
    """

    spec: FeatureSpec
    paths: list[str]
    features: list[np.ndarray | None]
    hashes: list[str | None]
    failures: dict[str, str] = field(default_factory=dict)
    cache_hits: int = 0

    @property
    def ok(self) -> list[int]:
        """Indices of the files whose features were computed."""
        return [i for i, x in enumerate(self.features) if x is not None]


def extract_file(path: str, spec: FeatureSpec, content: str | None = None) -> tuple[np.ndarray, str]:
    """Features of one file (a path or a URL) and its content hash (computed when not given)."""
    array, content, _ = _extract(path, spec, content)
    return array, content


def _extract(path: str, spec: FeatureSpec, content: str | None) -> tuple[np.ndarray, str, bool | None]:
    """(features, content hash, whether it is an MP3 without a declared length) of a path or a
    URL; the last is None for a path, whose caller reads it itself where it keeps a cache."""
    if remote.is_url(path):  # one local copy, hashed and decoded; errors name the URL
        with remote.local_copy(path) as local:
            return (*_extract_local(local, spec, content, name=path), audio.mp3_length_undeclared(local))
    return (*_extract_local(path, spec, content, name=path), None)


def _extract_local(path: str, spec: FeatureSpec, content: str | None, *, name: str) -> tuple[np.ndarray, str]:
    """Features of a local file and its content hash: ``content`` (hashed by the caller before,
    perhaps long before) or hashed here, and checked again after decoding, so that features
    are never kept (cached) under the hash of other bytes than those decoded."""
    content = content or audio.content_hash(path)
    try:
        if spec.chunked:  # whole windows over the whole file (a file shorter than one: itself), each
            # computed as it is decoded, as the whole-clip sets below are
            array = np.concatenate(_chunk_rows(path, spec))
        else:  # one row per segment, cut as prediction cuts a song (a long intro and outro skipped), each
            # computed as it is decoded: memory holds one segment however long the file (an hour was 300 MB)
            # (a last piece from half a segment, as feature files cached before predict heard a song's end hold)
            segments = song_chunks(path, sr=spec.sample_rate, chunk_seconds=SEGMENT_SECONDS, pad=False,
                                   min_seconds=spec.min_duration, min_last=SEGMENT_SECONDS / 2)
            array = np.concatenate([spec.compute(np.asarray(segment), spec.sample_rate) for _, _, segment in segments])
    except AudioError as exc:
        if name == path:
            raise
        raise AudioError(name, exc.reason) from exc
    if not np.all(np.isfinite(array)):
        raise FeatureError(f"{name}: {spec.name} features contain NaN or infinity")
    if audio.content_hash(path) != content:  # replaced or rewritten during the run
        raise AudioError(name, "changed while its features were computed (its content is not what it was when the "
                               "run began): run again to compute them from the file as it is now")
    return array, content


def _chunk_rows(path: str, spec: FeatureSpec) -> list[np.ndarray]:
    """The rows of a chunked set, one window at a time: what :meth:`FeatureSpec.compute` gives
    the decoded file (whole windows only; a file shorter than one window is one row)."""
    size = int(round(spec.chunk_duration * spec.sample_rate))
    pieces = song_chunks(path, sr=spec.sample_rate, chunk_seconds=spec.chunk_duration, hop_seconds=spec.hop_duration,
                         skip=0.0, pad=False, min_seconds=spec.min_duration)
    rows, reached = [], 0.0
    for index, (_, end, piece) in enumerate(pieces):
        reached = end
        if index == 0 or len(piece) == size:  # a partial last window would bias the statistics
            rows.append(spec.compute(np.asarray(piece), spec.sample_rate))
    if reached < spec.min_duration:  # windows shorter than the minimum: the file itself may be too short
        duration = audio.info(path).duration  # the header's length, which the stream checked it holds
        if duration < spec.min_duration:
            raise AudioError(path, f"too short: {duration:.2f} s, at least {spec.min_duration:.2f} s required")
    return rows


def make_extractor(spec: dict):
    """A runner's worker (see :mod:`genrekit.runners`): ``[path, content hash]`` -> JSON result.

    The driver keeps the cache, so a worker only computes."""
    feature_spec = FeatureSpec.from_dict(spec)

    def extract(item: list) -> dict:
        path, content = item
        try:
            array, content, undeclared = _extract(path, feature_spec, content)
        except GenrekitError as exc:
            return {"error": str(exc)}
        except Exception as exc:  # a decoder or feature bug on one file must not end the batch
            logger.exception("unexpected failure on %s", path)
            return {"error": f"{path}: unexpected {type(exc).__name__}: {exc}"}
        return {"features": array.tolist(), "dtype": str(array.dtype), "content": content,
                "length_undeclared": undeclared}

    return extract


def _progress(enabled: bool) -> Progress:
    return Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TextColumn("ETA"),
        TimeRemainingColumn(),
        disable=not enabled,
    )


def extract_features(
    paths: Sequence[str | os.PathLike],
    spec: FeatureSpec | str,
    *,
    cache: FeatureCache | str | os.PathLike | None = None,
    n_jobs: int | None = None,
    progress: bool = True,
    runner=None,
) -> ExtractionResult:
    """Extract ``spec`` features from every file, going on past files that fail.

    Finished files are written to ``cache`` as they complete, so an interrupted run
    loses at most the files in flight and the next run resumes.

    Parameters
    ----------
    paths : audio files
    spec : the feature set and its parameters, or a feature set's name (its defaults)
    cache : where finished features are kept: a FeatureCache, or its folder (None: no caching)
    n_jobs : worker processes (None: all cores; 1: in this process)
    progress : show a progress bar with ETA
    runner : where the work runs (:mod:`genrekit.runners`; default: a local process pool
        of ``n_jobs``); cache writes and results are the same whichever runs it

    Returns
    -------
    ExtractionResult with one ``np.ndarray [shape=(n_chunks, n_features)]`` per good file.
    """
    check_flags(progress=progress)
    from genrekit.runners import runner_given

    paths = [os.fspath(p) for p in paths_given(paths)]
    spec = as_feature_spec(spec)  # train(features="musicnn") takes the name too
    runner = runner_given(runner, n_jobs)
    if isinstance(cache, (str, os.PathLike)):  # a folder, as --cache names it
        cache = FeatureCache(cache)
    elif cache is not None and not isinstance(cache, FeatureCache):
        raise ParameterError(f"cache={cache!r:.60}: expected a FeatureCache, a folder for one, or None")
    result = ExtractionResult(spec, paths, [None] * len(paths), [None] * len(paths))

    def record(index: int, outcome) -> None:
        array, content, hit, error = outcome
        if error is not None:
            result.failures[paths[index]] = error
            logger.info("%s", error)
        else:
            result.features[index] = array
            result.hashes[index] = content
            result.cache_hits += int(hit)

    with _progress(progress) as bar:
        task = bar.add_task(f"{spec.name} features", total=len(paths))
        # Cache hits are served here, so a fully cached run starts no worker process.
        todo: list[tuple[int, str | None]] = []
        versions: dict[int, remote.RemoteFile] = {}  # files named by URL: hashed by the worker, on its copy
        revisions: dict[int, str] = {}  # local files: the decoder revision of their cache entries
        for index, path in enumerate(paths):
            content = None
            if cache is not None:
                try:
                    if remote.is_url(path):
                        versions[index] = remote.stat(path)
                        content, decoder = cache.content_of(versions[index]) or (None, "")
                    else:
                        content, decoder = audio.content_hash(path), audio.decoder_revision(path)
                        revisions[index] = decoder
                except GenrekitError as exc:
                    record(index, (None, None, False, str(exc)))
                    bar.advance(task)
                    continue
                cached = cache.get(spec, content, decoder) if content else None
                if cached is not None and not _usable(cached, spec, None if index in versions else path):
                    logger.warning("%s: its cache entry is not %s features (shape %s): recomputed", path, spec.name,
                                   cached.shape)
                    cached = None
                if cached is not None:
                    record(index, (cached, content, True, None))
                    bar.advance(task)
                    continue
            # a URL's remembered hash only finds its cache entry: its copy is hashed by the worker (a
            # remembered hash of other bytes failed the file as "changed" on every run)
            todo.append((index, None if index in versions else content))
        if runner is None:
            from genrekit.runners import LocalRunner

            # Workers fork from a server that has imported librosa once, instead of each importing it.
            runner = LocalRunner(n_jobs, preload=["genrekit.features.extract"])
        items = [[paths[index], content] for index, content in todo]
        crashed = lambda item, reason: {"error": f"{item[0]}: {reason}"}  # noqa: E731  (a worker died on it)
        for position, outcome in runner.map(make_extractor, (spec.to_dict(),), items, on_crash=crashed):
            index = todo[position][0]
            if "error" in outcome:
                record(index, (None, None, False, outcome["error"]))
            else:
                array = np.asarray(outcome["features"], dtype=outcome["dtype"])
                if cache is not None:  # kept as each file finishes: an interrupted run resumes from here
                    try:
                        cache.put(spec, outcome["content"], array, revisions[index] if index in revisions
                                  else audio.revision_of(outcome["length_undeclared"]))
                        if index in versions:
                            cache.remember(versions[index], outcome["content"], outcome["length_undeclared"])
                    # a full or read-only cache, or an entry's name taken (a folder): kept, not cached
                    except (OSError, GenrekitError) as exc:
                        logger.warning("%s: features not cached: %s", paths[index], exc)
                record(index, (array, outcome["content"], False, None))
            bar.advance(task)
    return result


def _usable(array: np.ndarray, spec, path: str | None = None) -> bool:
    """A cache entry (damaged, or written by other code) holds rows of ``spec``'s columns, real
    numbers, finite and of a feature's size (complex ones were written into features.csv, 1e300
    overflowed inside a fit), and, for the local file ``path``, no more rows than its length
    gives (5000 rows of one clip weighed it 5000 times)."""
    if not (array.ndim == 2 and array.shape[0] >= 1 and array.shape[1] == len(spec.columns)
            and np.issubdtype(array.dtype, np.floating) and bool(np.isfinite(array).all())
            and bool((np.abs(array) < MAX_FEATURE_VALUE).all())):
        return False
    if path is None:
        return True
    try:
        seconds = audio.info(path).duration
    except GenrekitError:  # the file's own failure is said when it is computed
        return False
    step = (spec.hop_duration or spec.chunk_duration) if spec.chunked else SEGMENT_SECONDS
    return array.shape[0] <= seconds / step + 2
