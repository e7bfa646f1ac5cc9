"""Tagging a music library: every audio file below a folder, in parallel, resumable.

Results go to a JSON-lines journal as each file finishes (one line per file, flushed and
fsynced), so a run killed at any moment loses at most the line being written; a re-run
skips every file already in the journal (same resolved path, size and modification time, or
same content with ``use_hash``) and the final table (CSV, JSON lines or Parquet) is rewritten
atomically from the journal, each row found by that key, so any spelling of the library's
path gives the same rows. Links are followed; dangling ones and loops get a row with the reason.
"""

from __future__ import annotations

import errno
import json
import logging
import os
import stat as stat_module
import time
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path, PurePosixPath

from genrekit._files import atomic_path
from genrekit.audio import content_hash, is_audio_path, remote
from genrekit.errors import GenrekitError, ParameterError
from genrekit.models.interface import model_file, model_id
from genrekit.predict.song import UNKNOWN, check_min_confidence, decide

logger = logging.getLogger(__name__)

TABLE_FORMATS = (".csv", ".jsonl", ".parquet")


@dataclass
class TagRecord:
    """One file of the library: its genres, or the error that stopped it."""

    path: str
    size: int
    mtime_ns: int
    key: str
    duration: float | None = None
    genre: str | None = None
    confidence: float | None = None
    probabilities: dict[str, float] = field(default_factory=dict)
    proportions: dict[str, float] = field(default_factory=dict)
    n_chunks: int = 0
    model: str = ""
    error: str | None = None
    tag_written: bool = False
    tag_error: str | None = None


@dataclass
class LibrarySummary:
    """What a :func:`tag_library` run did."""

    results: Path
    n_files: int
    n_done_before: int
    n_tagged: int
    n_failed: int
    genres: dict[str, int]
    failures: dict[str, str]
    seconds: float

    @property
    def partial(self) -> bool:
        return bool(self.failures)

    def frame(self):
        """The results table as a DataFrame, one row per file."""
        import pandas as pd

        if self.results.suffix == ".parquet":
            return pd.read_parquet(self.results)
        if self.results.suffix == ".jsonl":
            return pd.read_json(self.results, lines=True)
        return pd.read_csv(self.results)


def library_files(root: str | os.PathLike) -> list[Path] | list[str]:
    """Every audio file below ``root`` (any format the audio layer reads), hidden ones left
    out: paths, or URLs for a URL (``s3://bucket/music``, :mod:`genrekit.audio.remote`).
    Links are followed; broken ones are left out (:func:`tag_library` records them)."""
    return list(_listing(root)[0])


def _listing(root: str | os.PathLike) -> tuple[dict[Path, None] | dict[str, remote.RemoteFile], dict[Path, str]]:
    """:func:`library_files`, each with its size and mtime where the listing gave them (URLs);
    and the links that were not followed, each with the reason."""
    if remote.is_url(root):
        return {f.url: f for f in remote.list_files(root) if is_audio_path(f.url)
                and not any(part.startswith(".") for part in PurePosixPath(f.relative).parts)}, {}
    # Absolute and normalised, not resolved: "lib", "./lib/" and "/abs/lib" list the same paths,
    # and a library reached through a link keeps the paths its user knows it by.
    root = Path(os.path.abspath(root))
    if not root.is_dir():
        raise ParameterError(f"{root}: expected a music library folder, found {'a file' if root.exists() else 'nothing'}")
    files, skipped = [], {}
    _walk(root, {_identity(os.stat(root)): root}, files, skipped)
    return dict.fromkeys(sorted(files)), dict(sorted(skipped.items()))


def _identity(stat: os.stat_result) -> tuple[int, int]:
    return stat.st_dev, stat.st_ino


def _may_be_song(name: str) -> bool:
    """An audio file's name, or no extension (a folder's, most likely)."""
    return is_audio_path(name) or not PurePosixPath(name).suffix


def _walk(folder: Path, ancestors: dict[tuple[int, int], Path], files: list[Path], skipped: dict[Path, str],
          visited: set[tuple[int, int]] | None = None) -> None:
    """Audio files below ``folder`` into ``files``; links followed, and the ones that cannot be
    (dangling, looping, leading back to a folder above) into ``skipped`` with the reason, where
    their name or their target's is an audio file's or a folder's: a broken ``cover.jpg`` is no song.
    A folder reached a second time (through another link) is not walked again."""
    visited = set() if visited is None else visited
    try:
        identity = _identity(folder.stat())
        entries = sorted(os.scandir(folder), key=lambda e: e.name)
    except OSError as exc:
        skipped[folder] = f"{folder}: folder cannot be read ({exc.strerror})"
        return
    if identity in visited:
        return
    visited.add(identity)
    for entry in entries:
        if entry.name.startswith("."):
            continue
        path = folder / entry.name
        try:
            if not entry.is_symlink():
                if entry.is_dir(follow_symlinks=False):
                    own = _identity(entry.stat(follow_symlinks=False))
                    _walk(path, ancestors | {own: path}, files, skipped, visited)
                elif entry.is_file(follow_symlinks=False) and is_audio_path(path):
                    files.append(path)
                continue
            target = os.readlink(path)
        except OSError as exc:  # changed or removed while the walk went past it
            skipped[path] = f"{path}: cannot be read ({exc.strerror})"
            continue
        try:
            stat = os.stat(path)
        except OSError as exc:
            if _may_be_song(entry.name) or _may_be_song(target):
                if exc.errno == errno.ELOOP:
                    skipped[path] = f"{path}: symbolic link loop (to {target}, which never reaches a file)"
                elif exc.errno in (errno.ENOENT, errno.ENOTDIR):
                    skipped[path] = f"{path}: dangling symbolic link to {target} (no such file or folder)"
                else:
                    skipped[path] = f"{path}: symbolic link to {target} cannot be followed ({exc.strerror})"
            continue
        if stat_module.S_ISDIR(stat.st_mode):
            if _identity(stat) in ancestors:
                skipped[path] = (f"{path}: symbolic link loop: leads back to {ancestors[_identity(stat)]}, "
                                 "a folder it is in")
            else:
                _walk(path, ancestors | {_identity(stat): path}, files, skipped, visited)
        elif stat_module.S_ISREG(stat.st_mode) and is_audio_path(path):
            files.append(path)


def _key(path: Path | str, use_hash: bool, model_id: str,
         listed: remote.RemoteFile | None = None) -> tuple[str, int, int]:
    """What identifies a finished file: the model, and the file's content or its path (URL), size and mtime
    (a URL's from its listing when given, not asked for again)."""
    if remote.is_url(path):
        stat = listed or remote.stat(path)
        file_key = f"sha256:{content_hash(path)}" if use_hash else f"{path}|{stat.size}|{stat.mtime_ns}"
        return f"{model_id}|{file_key}", stat.size, stat.mtime_ns
    stat = path.stat()
    file_key = f"sha256:{content_hash(path)}" if use_hash else f"{path.resolve()}|{stat.st_size}|{stat.st_mtime_ns}"
    return f"{model_id}|{file_key}", stat.st_size, stat.st_mtime_ns


def read_journal(path: str | os.PathLike) -> list[dict]:
    """The complete records of a journal; a torn last line (a killed run) is left out."""
    path = Path(path)
    if not path.exists():
        return []
    records = []
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            records.append(json.loads(line))
        except json.JSONDecodeError:
            logger.warning("%s: dropping an incomplete line left by an interrupted run", path)
    return records


def make_tagger(model_path: str, segment_seconds: float | None, skip: float):
    """A runner's worker (see :mod:`genrekit.runners`): the model loaded once; then a
    ``[path, key, size, mtime_ns, model id]`` item -> its :class:`TagRecord` as a dict."""
    from genrekit.predict.files import make_song_predictor

    predict = make_song_predictor(model_path, segment_seconds, skip, None)

    def tag(item: list) -> dict:
        path, key, size, mtime_ns, model = item
        record = TagRecord(path=path, size=size, mtime_ns=mtime_ns, key=key, model=model)
        outcome = predict(path)
        if "error" in outcome:
            record.error = outcome["error"]
        else:
            p = outcome["prediction"]
            record.duration, record.genre, record.confidence = p["duration"], p["genre"], p["confidence"]
            record.probabilities, record.proportions, record.n_chunks = p["probabilities"], p["proportions"], p["n_chunks"]
        return asdict(record)

    return tag


def _decide(record: dict, min_confidence: float | None) -> dict:
    """``record`` with its genre decided against ``min_confidence`` (from its probabilities)."""
    if record.get("error") is None and record.get("probabilities"):
        record["genre"] = decide(record["probabilities"], min_confidence)
    return record


def write_table(records: list[dict], path: str | os.PathLike) -> Path:
    """The library table, one row per file: CSV/Parquet with ``p_<genre>`` and
    ``share_<genre>`` columns, or JSON lines as recorded. Written atomically. CSV and
    JSON lines need the standard library only (the torch-free runtime); Parquet, pyarrow."""
    import csv

    path = Path(path)
    with atomic_path(path) as temporary:
        if path.suffix == ".jsonl":
            temporary.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
        else:
            labels = sorted({g for r in records for g in r["probabilities"]})
            rows = [{k: v for k, v in r.items() if k not in ("probabilities", "proportions")}
                    | {f"p_{g}": r["probabilities"].get(g) for g in labels}
                    | {f"share_{g}": r["proportions"].get(g) for g in labels} for r in records]
            if path.suffix == ".parquet":
                try:
                    import pyarrow as pa
                    import pyarrow.parquet as pq
                except ImportError as exc:
                    raise ParameterError(f"{path}: Parquet needs pyarrow (pip install pyarrow); "
                                         "or write .csv or .jsonl") from exc
                pq.write_table(pa.Table.from_pylist(rows), temporary)
            else:
                columns = list(dict.fromkeys(k for row in rows for k in row))
                with open(temporary, "w", newline="", encoding="utf-8") as handle:
                    writer = csv.DictWriter(handle, fieldnames=columns)
                    writer.writeheader()
                    writer.writerows(rows)
    return path


def tag_library(
    root: str | os.PathLike,
    model_path: str | os.PathLike,
    results: str | os.PathLike,
    *,
    jobs: int | None = None,
    use_hash: bool = False,
    skip: float = 10.0,
    segment_seconds: float | None = None,
    write_tags: bool = False,
    dry_run: bool = False,
    progress: bool = True,
    on_tag_change=None,
    runner=None,
    min_confidence: float | None = None,
) -> LibrarySummary:
    """Predict the genres of every audio file below ``root`` and record them in ``results``.

    Parameters
    ----------
    results : the table to write (``.csv``, ``.jsonl`` or ``.parquet``); its journal
        ``<results>.journal.jsonl`` beside it is what makes runs resumable
    jobs : worker processes (None: all cores)
    use_hash : recognise files already done by content (SHA-256) instead of path + size + mtime;
        either way, only results of the same model file count as done
    write_tags : write the top genre into each successfully predicted file's metadata (never
        ``unknown``: such a file's tags are left as they are)
    min_confidence : below this top probability a file's genre is ``unknown``; applied to
        every row of the table, those of earlier runs included
    dry_run : with ``write_tags``, report the changes (``on_tag_change``) without writing
    on_tag_change : called with :class:`genrekit.predict.tags.TagChange` for each file
    runner : where the files are predicted (:mod:`genrekit.runners`; default: a local
        process pool of ``jobs``); the journal and table are the same whichever runs it
    """
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    from genrekit.predict.tags import write_genre_tag

    check_min_confidence(min_confidence)

    started = time.perf_counter()
    results = Path(results)
    if results.suffix not in TABLE_FORMATS:
        raise ParameterError(f"results={results}: expected a {', '.join(TABLE_FORMATS)} file")
    model_path = os.fspath(model_file(model_path))
    if write_tags and remote.is_url(root):
        raise ParameterError(f"{root}: --write-tags rewrites files in place, which genrekit does on local files only")
    identity = model_id(model_path)
    listing, skipped = _listing(root)
    files = list(listing)
    journal = results.with_name(results.name + ".journal.jsonl")
    records = read_journal(journal)
    results.parent.mkdir(parents=True, exist_ok=True)
    # Rewrite the journal without a torn last line before appending to it.
    with atomic_path(journal) as temporary:
        temporary.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    done = {r["key"] for r in records}
    # Each file's row is found by its key, never by its path: the path changes with the
    # spelling of the library and with a move (--hash), the key does not.
    current: dict[str, tuple[str, int, int]] = {}
    todo, failures_before = [], 0
    for path in files:
        try:
            key, size, mtime_ns = _key(path, use_hash, identity, listing[path])
        except (OSError, GenrekitError) as exc:
            key, size, mtime_ns = f"unreadable:{path}", 0, 0
            records.append(asdict(TagRecord(path=str(path), size=size, mtime_ns=mtime_ns, key=key,
                                            error=f"{path}: cannot be read ({exc})")))
            failures_before += 1
        else:
            if key not in done:
                todo.append([str(path), key, size, mtime_ns, identity])
        current[str(path)] = key, size, mtime_ns
    n_before = len(files) - len(todo) - failures_before
    columns = (TextColumn("tagging"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn())
    if runner is None:
        from genrekit.runners import LocalRunner

        runner = LocalRunner(min(jobs or os.cpu_count() or 1, max(1, len(todo))))
    with open(journal, "a", encoding="utf-8") as handle, Progress(*columns, disable=not progress) as bar:
        task = bar.add_task("tagging", total=len(files), completed=n_before)
        for _, record in runner.map(make_tagger, (model_path, segment_seconds, skip), todo):
            _decide(record, min_confidence)
            if write_tags and record["error"] is None and record["genre"] == UNKNOWN:
                record["tag_error"] = (f"genre unknown (confidence {record['confidence']:.2f} < {min_confidence}): "
                                       "its tags are left as they are")
            elif write_tags and record["error"] is None:
                change = write_genre_tag(record["path"], record["genre"], dry_run=dry_run)
                record["tag_written"], record["tag_error"] = change.written, change.error
                if change.written:  # the file changed: key it as it is now, so a re-run skips it
                    record["key"], record["size"], record["mtime_ns"] = _key(Path(record["path"]), use_hash, identity)
                    current[record["path"]] = record["key"], record["size"], record["mtime_ns"]
                if on_tag_change is not None:
                    on_tag_change(change)
            handle.write(json.dumps(record) + "\n")
            handle.flush()
            os.fsync(handle.fileno())
            records.append(record)
            bar.advance(task)
    latest = {r["key"]: r for r in records}
    rows = {}
    for path, (key, size, mtime_ns) in current.items():
        if key in latest:  # under the path, size and mtime it has now
            rows[path] = latest[key] | {"path": path, "size": size, "mtime_ns": mtime_ns}
    for path, reason in skipped.items():  # listed again by each run, so never in the journal
        rows[str(path)] = asdict(TagRecord(path=str(path), size=0, mtime_ns=0, key=f"skipped:{path}", error=reason))
    table = [_decide(rows[path], min_confidence) for path in sorted(rows)]
    write_table(table, results)
    failures = {r["path"]: r["error"] for r in table if r["error"]}
    genres = Counter(r["genre"] for r in table if not r["error"])
    return LibrarySummary(results=results, n_files=len(table), n_done_before=n_before,
                          n_tagged=len(table) - len(failures), n_failed=len(failures), genres=dict(genres),
                          failures=failures, seconds=time.perf_counter() - started)
