"""File-writing helpers shared by every stage."""

from __future__ import annotations

import contextlib
import errno
import json
import logging
import os
import re
import stat
import sys
import tempfile
import time
import tokenize
import warnings
import zipfile
import zlib
from collections.abc import Iterable, Iterator
from pathlib import Path

from genrekit.errors import ParameterError

logger = logging.getLogger(__name__)

#: What reading a damaged zip archive, .npz or .npy raises (found by fuzzing, tests/conftest.py
#: ``damaged``): a cut file (EOFError), a damaged zip directory (BadZipFile, ValueError), a
#: corrupt deflate stream (zlib.error, raised before zip's CRC check), an unknown compression
#: (NotImplementedError), an encrypted member (RuntimeError), a damaged .npy header
#: (ValueError, tokenize.TokenError), or the file system (OSError). Each reader names them as
#: its stage's error.
DAMAGED_FILE_ERRORS = (OSError, EOFError, ValueError, NotImplementedError, RuntimeError, zipfile.BadZipFile, zlib.error,
                       tokenize.TokenError)


_SPECIAL_FILES = ((stat.S_ISFIFO, "a pipe"), (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"),
                  (stat.S_ISSOCK, "a socket"))


def paths_given(paths, name: str = "paths"):
    """``paths`` where it is a collection or a stream of paths, checked as it is read; one path
    (a str would be read as its characters, each a file not found), a Dataset or anything else
    is a ParameterError naming ``name``."""
    if isinstance(paths, (str, bytes, os.PathLike)):
        raise ParameterError(f"{name}: expected a sequence of paths, found one path ({os.fsdecode(paths)!r}); "
                             "give a list of one")
    dataset = hasattr(paths, "tracks") and hasattr(paths, "source")  # iterable, but not over paths
    if hasattr(paths, "tracks") or not hasattr(paths, "__iter__"):  # a Dataset or a FeatureTable: not paths
        raise ParameterError(f"{name}: expected a sequence of paths, found {type(paths).__name__}"
                             + (" (its files: [track.path for track in dataset.tracks])" if dataset else ""))
    if isinstance(paths, (list, tuple)):  # all checked before any is read
        return [_path_item(item, name) for item in paths]
    return (_path_item(item, name) for item in paths)  # a stream: each as it comes


def path_given(path, name: str = "path", *, several: str = "") -> str:
    """``path`` as a str; anything but one path (a list of them, None) is a ParameterError naming
    ``name`` (and, for a list, ``several``: what takes several)."""
    if isinstance(path, (str, bytes, os.PathLike)):
        return _not_empty(os.fsdecode(path), name)
    if isinstance(path, (list, tuple)):
        raise ParameterError(f"{name}: expected one path, found a {type(path).__name__} of {len(path)}"
                             + (f" (several: {several})" if several else ""))
    raise ParameterError(f"{name}: expected one path, found {type(path).__name__} {path!r:.60}")


def _path_item(item, name: str):
    if isinstance(item, bytes):  # as os.listdir(b".") gives them
        return _not_empty(os.fsdecode(item), name)
    if not isinstance(item, (str, os.PathLike)):
        shown = " (its file: track.path)" if hasattr(item, "path") and hasattr(item, "label") else ""
        raise ParameterError(f"{name}: expected paths, found {type(item).__name__} {item!r:.60}{shown}")
    _not_empty(os.fspath(item), name)
    return item


def _not_empty(path: str, name: str) -> str:
    # Path("") is the working folder: an unset variable would read or write there
    if not path:
        raise ParameterError(f"{name}='': expected a path, found an empty string (Path('') is the working folder)")
    return path


def not_regular_file(mode: int) -> str | None:
    """What a file that is neither regular nor a folder is ("a pipe", "a socket"...), from its
    ``st_mode``; None for a regular file or a folder."""
    return next((kind for is_kind, kind in _SPECIAL_FILES if is_kind(mode)), None)


def not_a_file(mode: int) -> str | None:
    """What stands where a regular file was expected ("a folder", "a pipe"...), from its
    ``st_mode``; None for a regular file."""
    if stat.S_ISREG(mode):
        return None
    return "a folder" if stat.S_ISDIR(mode) else not_regular_file(mode) or "no regular file"


@contextlib.contextmanager
def exclusive_lock(lock: Path, busy: str, *, wait: float = 0.0,
                   error: type[Exception] = ParameterError) -> Iterator[None]:
    """Hold ``lock`` (created, with its folder) for the ``with`` block. Where another process
    holds it, wait up to ``wait`` seconds for it, then raise ``error(busy)``. The lock goes with
    its holder, however that ends (a killed run leaves none). A lock its last holder removed
    while this one waited on it is taken anew at its path. Windows has no flock, and some
    network file systems none that works: there nothing is guarded."""
    try:
        import fcntl
    except ImportError:
        yield
        return
    deadline, told = time.monotonic() + wait, False
    while True:
        lock.parent.mkdir(parents=True, exist_ok=True)
        handle = open(lock, "a")
        try:
            while True:
                try:
                    fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except OSError as exc:
                    if exc.errno not in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                        # a file system without locks (NFS mounted nolock): unguarded, as on Windows
                        logger.debug("%s: cannot be locked (%s); going on without the lock", lock, exc.strerror)
                        break
                    if time.monotonic() >= deadline:
                        raise error(busy) from exc
                    if not told:
                        logger.info("%s: held by another process; waiting up to %g s", lock, wait)
                        told = True
                    time.sleep(0.05)
            if not _is_file_at(handle, lock):  # removed (its folder too) by the run that held it
                continue
            yield
            return
        finally:
            handle.close()


def _is_file_at(handle, path: Path) -> bool:
    """Whether the open file ``handle`` is the file at ``path`` now (not one removed since)."""
    try:
        here = os.stat(path)
    except OSError:
        return False
    held = os.fstat(handle.fileno())
    return (here.st_dev, here.st_ino) == (held.st_dev, held.st_ino)


def lock_held(lock: Path) -> bool:
    """Whether a process holds ``lock`` (see :func:`exclusive_lock`) now; a lock file that is
    missing, or cannot be locked here (Windows, NFS without locks), is not held."""
    try:
        import fcntl
    except ImportError:
        return False
    try:
        handle = open(lock, "rb")  # never created: the lock of a run that is not there
    except OSError:
        return False
    with handle:
        try:  # shared: conflicts with the holder's exclusive lock, and on NFS needs no file opened for writing
            fcntl.flock(handle, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except OSError as exc:
            return exc.errno in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES)
        fcntl.flock(handle, fcntl.LOCK_UN)
    return False


@contextlib.contextmanager
def run_folder_lock(folder: str | os.PathLike, lock_name: str, busy: str,
                    others: dict[str, str] | None = None, scratch: tuple[str, ...] = (),
                    written: Iterable[str] = ()) -> Iterator[None]:
    """:func:`exclusive_lock` on ``folder / lock_name`` for a run writing there. A run that
    made the folder (its own ``mkdir``) and leaves nothing in it but its lock and its empty
    ``scratch`` files (a journal with no line) removes it, holding the lock until then: one that
    fails, or writes nothing. ``others``: the locks of other kinds of run (lock name -> the
    refusal when one holds it), looked at once this one is held: of two runs started together,
    one at least is refused, never both let through, and the refused one removes nothing. Once
    held, the temporary files a killed run left for the files ``written`` (names) are removed
    (:func:`remove_stale_temporaries`)."""
    folder = Path(folder)
    try:
        folder.parent.mkdir(parents=True, exist_ok=True)
        folder.mkdir()
        made = True
    except OSError:  # there already (or not to be made: exclusive_lock says why)
        made = False
    # a moment's wait: another kind of run looking at this lock (``others``) holds it that long
    with exclusive_lock(folder / lock_name, busy, wait=0.5 if others else 0.0):
        for other, refusal in (others or {}).items():
            if lock_held(folder / other):
                raise ParameterError(refusal)  # the folder is that run's now
        remove_stale_temporaries(folder, written)
        try:
            yield
        finally:
            if made:
                _remove_if_nothing_written(folder, lock_name, scratch)


# A temporary file untouched this long is a killed run's: no writer at work holds one an hour
# without writing to it.
STALE_TEMPORARY_SECONDS = 3600.0


def temporary_target(name: str) -> str | None:
    """The name of the file that ``name``, a temporary file :func:`atomic_path` makes, was
    written for; None where ``name`` is not such a temporary."""
    # atomic_path's names: ".<name>.<tempfile's 8 random characters>.tmp<the name's suffix>"
    found = re.fullmatch(r"\.(.+)\.[a-z0-9_]{8}\.tmp(\.[^.]*)?", name)
    return found[1] if found and Path(found[1]).suffix == (found[2] or "") else None


def remove_stale_temporaries(folder: str | os.PathLike, written: Iterable[str]) -> list[str]:
    """Remove from ``folder`` (not below it) the temporary files that :func:`atomic_path` made
    for the files ``written`` (names) and a killed run left, untouched for
    :data:`STALE_TEMPORARY_SECONDS`: a run's next run into the folder, holding its lock, tidies
    them. Returns the paths removed."""
    written = set(written)
    removed, now = [], time.time()
    with contextlib.suppress(OSError):
        for entry in os.scandir(folder) if written else ():
            if temporary_target(entry.name) in written:
                with contextlib.suppress(OSError):
                    status = entry.stat(follow_symlinks=False)
                    if stat.S_ISREG(status.st_mode) and now - status.st_mtime > STALE_TEMPORARY_SECONDS:
                        os.unlink(entry.path)
                        removed.append(entry.path)
    return removed


def refuse_foreign_results(folder: str | os.PathLike, replaced: Iterable[str], traces: Iterable[str],
                           what: str) -> None:
    """Raise ParameterError where ``folder`` holds files a run there would remove or write over
    (``replaced``, names) but none of the files every genrekit run of that kind leaves
    (``traces``: its lock, its run.json...): they are someone's own, named as results are
    (a folder of reports, a project's config.json), not an earlier run's. Asked before the run
    takes its lock there, which is a trace."""
    folder = Path(folder)
    if folder.exists() and not folder.is_dir():  # FileExistsError once the run made its folder
        raise ParameterError(f"{folder}: expected a folder for the results of {what}, found a file")
    if not folder.is_dir() or any((folder / name).exists() for name in traces):
        return
    found = [name for name in replaced if (folder / name).is_file()]
    if found:
        shown = ", ".join(found[:6]) + (f" and {len(found) - 6} more" if len(found) > 6 else "")
        raise ParameterError(f"{folder}: holds {shown}, which {what} would remove or write over, but no earlier "
                             "genrekit run's files (its run.json or lock): they are not its results; write to an "
                             "empty or new folder, or move them away")


def _remove_if_nothing_written(folder: Path, lock_name: str, scratch: tuple[str, ...]) -> None:
    """Remove ``folder`` where it holds only ``lock_name`` and empty ``scratch`` files; never
    fails (the run's own error, if any, is what is said)."""
    try:
        entries = {entry.name: entry for entry in folder.iterdir()}
        if lock_name not in entries or not set(entries) <= {lock_name, *scratch}:
            return
        if any(entry.is_symlink() or not entry.is_file() or entry.stat().st_size for entry in entries.values()):
            return
        for name in sorted(entries, key=lambda name: name == lock_name):  # the lock last
            entries[name].unlink()
        folder.rmdir()
    except OSError:
        pass


def publish_mode(path: str | os.PathLike) -> None:
    """Give a ``tempfile.mkstemp`` file (created 0600) the mode a plain ``open`` would:
    0666 less the umask, so results are readable like any other file the user writes."""
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(path, 0o666 & ~umask)


def fsync_path(path: str | os.PathLike, *, folder: bool = False) -> None:
    """Flush a file, or with ``folder`` a folder's entries (a rename in it), to disk. Where a
    folder cannot be opened or flushed (Windows), the rename is as durable as it gets."""
    try:
        if folder:
            descriptor = os.open(path, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
        else:
            try:  # Windows flushes only a handle opened for writing
                descriptor = os.open(path, os.O_RDWR)
            except PermissionError:  # a file without write permission: POSIX flushes it read-only too
                descriptor = os.open(path, os.O_RDONLY)
    except OSError:
        if folder:
            return
        raise
    try:
        os.fsync(descriptor)
    except OSError:
        if not folder:
            raise
    finally:
        os.close(descriptor)


#: What a spreadsheet takes a cell starting with for a formula (OWASP's CSV injection list)
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def utf8_shown(text: str) -> str:
    """Text from a file name that is not UTF-8 (kept by Python as surrogates) with its odd
    bytes written as ``\\xe9`` escapes: text that UTF-8 outputs (Parquet, JSON, a report) can hold."""
    try:
        return text.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
    except UnicodeEncodeError:  # a surrogate no file name gives
        return text.encode("utf-8", "backslashreplace").decode("utf-8")


# Invisible characters that break or reorder a line, or hide inside a word: line and paragraph
# separators, the marks that reorder text ("x\u202evaw.exe" shows as "xexe.wav"), zero-width
# space, word joiner and byte-order mark ("ro\u200bck" looks like "rock"). The joiners U+200C and
# U+200D are left: Persian and Indic text and emoji need them.
INVISIBLE_MARKS = frozenset({0x200B, 0x200E, 0x200F, 0x2028, 0x2029, *range(0x202A, 0x202F), 0x2060,
                             *range(0x2066, 0x206A), 0xFEFF})
# C0 and C1 control characters and DEL: in a file name or a tag, a newline would forge a line of
# a report and an escape sequence would command the terminal
_CONTROLS = ({c: f"\\x{c:02x}" for c in (*range(0x20), *range(0x7F, 0xA0))} | {0x0A: "\\n", 0x0D: "\\r", 0x09: "\\t"}
             | {c: f"\\u{c:04x}" for c in INVISIBLE_MARKS})


def line_shown(text: str) -> str:
    """:func:`utf8_shown` of ``text`` with its control characters written as escapes (``\\n``,
    ``\\x1b``): text from outside (a file name, a tag) as one line of a terminal's report."""
    return utf8_shown(text).translate(_CONTROLS)


def spreadsheet_cell(text: str | None) -> str | None:
    """A CSV cell of text from outside (a file name, a song's tag, an error naming a file) that
    a spreadsheet shows as text: one starting like a formula (``=HYPERLINK(...)``) gets a
    leading ``'``, which spreadsheets hide, and so does one that already starts with ``'``s
    before such a character, so that :func:`from_spreadsheet_cell` gives back any text as it was."""
    return "'" + text if isinstance(text, str) and text.lstrip("'").startswith(FORMULA_STARTS) else text


def from_spreadsheet_cell(text: str | None) -> str | None:
    """The text :func:`spreadsheet_cell` was given (anything but text, such as a missing value, as it is)."""
    return text[1:] if isinstance(text, str) and text.startswith("'") and text.lstrip("'").startswith(
        FORMULA_STARTS) else text


@contextlib.contextmanager
def long_csv_cells() -> Iterator[None]:
    """The csv module reading cells of any length, for the tables genrekit writes (a song's own
    genre tag of 200k characters is a cell): its default limit, 131072, is set back after."""
    import csv

    before = csv.field_size_limit(2**31 - 1)
    try:
        yield
    finally:
        csv.field_size_limit(before)


def spreadsheet_csv(frame, text_columns: tuple[str, ...] = ()) -> str:
    """``frame`` (a pandas DataFrame) as CSV text, its ``text_columns`` (those it has) and its
    column names as :func:`spreadsheet_cell` writes them: a report's track ids, paths and genre
    names come from the user's files."""
    escaped = frame.assign(**{c: frame[c].map(spreadsheet_cell) for c in text_columns if c in frame.columns})
    escaped.columns = [spreadsheet_cell(c) if isinstance(c, str) else c for c in escaped.columns]
    return escaped.to_csv(index=False)


#: Links followed in a row before a write is refused, as the kernel does (ELOOP after 40)
MAX_LINKS_FOLLOWED = 40


def followed_for_writing(path: Path) -> Path:
    """The file a write to ``path`` lands on: its last part followed through links one at a
    time (earlier parts are left to the kernel).

    A link in a sticky folder anyone may write to (``/tmp``) is followed only when it belongs
    to this user or to the folder's owner, as Linux's ``fs.protected_symlinks`` does for
    ``open``: this function resolves links itself, out of the kernel's sight, and another user
    could otherwise point ``--out /tmp/report.html`` at any file this user may write.
    """
    for _ in range(MAX_LINKS_FOLLOWED):
        try:
            link = os.lstat(path)
        except OSError:
            return path
        if not stat.S_ISLNK(link.st_mode):
            return path
        folder = os.stat(path.parent)
        shared = folder.st_mode & 0o1002 == 0o1002  # sticky and writable by others
        if shared and link.st_uid not in (os.geteuid(), folder.st_uid):
            raise ParameterError(
                f"{path}: is a link owned by another user (uid {link.st_uid}) in a folder anyone may write to; "
                f"expected a file or a link of your own there (it could point the write at any file of yours)")
        path = path.parent / os.readlink(path)
    raise ParameterError(f"{path}: more than {MAX_LINKS_FOLLOWED} links in a row; expected a file to write")


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike, *, durable: bool = False) -> Iterator[Path]:
    """A fresh temporary path beside ``path`` for the block to write; renamed onto ``path``
    when the block succeeds, so readers never see a partial file, and removed when it fails.

    The temporary name keeps ``path``'s suffix, for writers that choose a format by it.

    Parameters
    ----------
    path : path
        The file to write. Its folder is made when missing; a file already there is replaced
        only when the block succeeds. A link stays a link: the file it points to is written (see :func:`followed_for_writing`).
        A folder, a device (``/dev/null``), a FIFO or a socket is refused (a rename would
        replace it with a plain file).
    durable : bool
        Also flush the new file to disk before the rename, and the folder after it, so that a
        power cut leaves the old file or the new one, never an empty one (file systems without
        ext4's ``auto_da_alloc``). For files that hold the only copy of something: journals.

    Yields
    ------
    Path
        The temporary file, in ``path``'s folder: created empty, for the block to write. It is
        given the mode a plain ``open`` would give (0666 less the umask) before the rename.
    """
    path = followed_for_writing(Path(path))
    if path.exists() and not path.is_file():
        kind = "a folder" if path.is_dir() else "a device, pipe or socket, not a regular file"
        raise ParameterError(f"{path}: is {kind}; expected the name of a file to write")
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=f".tmp{path.suffix}")
    os.close(handle)
    try:
        yield Path(temporary)
        publish_mode(temporary)
        if durable:
            fsync_path(temporary)
        os.replace(temporary, path)
        if durable:
            fsync_path(path.parent, folder=True)
    finally:
        Path(temporary).unlink(missing_ok=True)


def write_text_atomic(path: str | os.PathLike, text: str) -> Path:
    """Write ``text`` (UTF-8) to ``path`` through a temporary file renamed into place.

    Parameters
    ----------
    path : path
        The file to write (its folder is made when missing).
    text : str
        The whole content.

    Returns
    -------
    Path
        ``path``.
    """
    path = Path(path)
    with atomic_path(path) as temporary:
        temporary.write_text(text, encoding="utf-8")
    return path


def write_json(path: str | os.PathLike, data) -> Path:
    """``data`` as indented JSON at ``path``, atomically; numpy scalars and arrays as numbers
    and lists, anything else JSON lacks as its ``str``.

    Parameters
    ----------
    path : path
        The file to write (its folder is made when missing).
    data : object
        What to write: dicts, lists, strings, numbers, booleans and None as JSON has them; a
        float NaN or infinity (a metric with nothing to measure) as ``null``, since JSON has
        no such numbers and strict parsers (JavaScript's, jq) refuse Python's ``NaN``. Dict
        keys must be str, int, float, bool or None (``json.dumps`` raises TypeError for
        others, numpy integers included).

    Returns
    -------
    Path
        ``path``.
    """
    return write_text_atomic(path, json.dumps(_finite(data), indent=2, allow_nan=False, default=_plain) + "\n")


def _finite(value):
    """``value`` with every non-finite float (numpy's and those in arrays too) as None."""
    import math

    import numpy as np

    if isinstance(value, dict):
        return {key: _finite(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(item) for item in value]
    if isinstance(value, np.ndarray):
        return _finite(value.tolist())
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


# The PNGs genrekit writes say so (their "Software" text), so that a file of the same name
# that genrekit did not write (an album's cover art) is never replaced by a plot.
PNG_SOFTWARE = "genrekit"


def written_by_genrekit(path: str | os.PathLike) -> bool:
    """Whether ``path`` is a PNG that genrekit wrote (:func:`save_figure`)."""
    if not os.path.isfile(path):  # a FIFO there would block the read for ever
        return False
    try:
        from PIL import Image  # matplotlib's own dependency

        with Image.open(path) as image:
            return image.format == "PNG" and image.text.get("Software") == PNG_SOFTWARE
    except Exception:  # not there, not an image, damaged: not genrekit's
        return False


def save_figure(figure, path: str | os.PathLike, *, dpi: int = 100) -> Path:
    """Save a matplotlib ``figure`` as PNG at ``path``, atomically, and close it (also when
    saving fails, so a long run does not keep figures open). Its texts are drawn as written,
    never parsed as mathtext (names with ``$`` in them are names).

    Parameters
    ----------
    figure : matplotlib.figure.Figure
        The figure to save.
    path : path
        The PNG to write (its folder is made when missing).
    dpi : int
        Dots per inch.

    Returns
    -------
    Path
        ``path``.
    """
    from matplotlib.text import Text

    path = Path(path)
    try:
        # names are drawn as written: "$" (Ke$ha, a genre "$_$") is no mathtext, which misdrew or refused them
        for text in figure.findobj(Text):
            text.set_parse_math(False)
        with atomic_path(path) as temporary, warnings.catch_warnings():
            # a name in a script the font lacks (日本) is drawn as boxes: said once per glyph on stderr otherwise
            warnings.filterwarnings("ignore", message="Glyph .* missing from", category=UserWarning)
            figure.savefig(temporary, dpi=dpi, format="png", metadata={"Software": PNG_SOFTWARE})
    finally:
        if "matplotlib.pyplot" in sys.modules:  # a pyplot figure (a caller's own) is closed; genrekit's need not be
            sys.modules["matplotlib.pyplot"].close(figure)
    return path


def _plain(value):
    import numpy as np

    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    return str(value)
