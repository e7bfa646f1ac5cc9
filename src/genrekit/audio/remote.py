"""Audio in object stores and other filesystems named by URL (``s3://``, ``gs://``,
``hdfs://``, ``file://``), through pyarrow's filesystems.

A URL's options go in its query string, as pyarrow reads them, e.g.
``s3://bucket/music?region=eu-west-1`` or, for MinIO and other S3-compatible stores,
``s3://bucket/music?endpoint_override=127.0.0.1:9000&scheme=http``; credentials and
``AWS_ENDPOINT_URL`` come from the environment as for any AWS client. Decoders need a
seekable local file, so a remote file is copied to a private temporary file, which is
removed once the file is decoded (on POSIX systems as soon as the decoder holds it open).
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import PurePosixPath
from urllib.parse import urlsplit

from genrekit.errors import AudioError, ParameterError

COPY_BLOCK = 1 << 20


def is_url(path: str | os.PathLike) -> bool:
    """True for ``scheme://...`` (an object store or other filesystem), not for a local path."""
    return isinstance(path, str) and "://" in path and urlsplit(path).scheme.isidentifier()


# The URL options a file (a manifest) may give: none that sends requests, signed with the
# user's credentials, to another host or in clear text (endpoint_override, scheme, proxy_options).
FILE_URL_OPTIONS = frozenset({"region"})


# The filesystems a URL read from a file may name: those whose requests go to the store's own
# hosts. An abfs:// or hdfs:// URL names its host itself (abfs://account@HOST:PORT/...), and
# pyarrow sends it the user's Azure token or Kerberos ticket.
FILE_URL_SCHEMES = frozenset({"s3", "gs", "gcs", "file"})
#: The variable naming more schemes a user trusts in manifests (their own): ``hdfs`` or ``hdfs,abfs``.
TRUSTED_SCHEMES_VARIABLE = "GENREKIT_MANIFEST_SCHEMES"
#: The schemes genrekit opens with pyarrow's filesystems (``FileSystem.from_uri``; its ``local://`` is
#: ``file://``'s twin): no http, https or ftp.
PYARROW_SCHEMES = frozenset({"file", "s3", "gs", "gcs", "hdfs", "viewfs", "abfs", "abfss"})


def _listed(schemes) -> str:
    return ", ".join(f"{scheme}://" for scheme in sorted(schemes))


def url_refused_in_files(url: str) -> str | None:
    """Why ``url``, read from a file (a manifest), may not be opened: a filesystem that names
    its own host (unless ``$GENREKIT_MANIFEST_SCHEMES`` lists it), a user or port beside an S3
    or GCS bucket's name, or query options other than :data:`FILE_URL_OPTIONS` (the command
    line and the environment, ``AWS_ENDPOINT_URL``, may set them); None where it may."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    trusted = {s.strip().lower() for s in os.environ.get(TRUSTED_SCHEMES_VARIABLE, "").split(",") if s.strip()}
    if scheme not in PYARROW_SCHEMES:  # trusting it would not help: nothing here reads it
        return (f"genrekit reads no {scheme}:// URLs: download the file and list its path (a manifest may list "
                f"{_listed(FILE_URL_SCHEMES)} URLs, and {_listed(PYARROW_SCHEMES - FILE_URL_SCHEMES)} ones where "
                f"{TRUSTED_SCHEMES_VARIABLE} names the scheme)")
    if scheme not in FILE_URL_SCHEMES | trusted:
        return (f"an {scheme}:// URL names its own host, which would be sent your credentials; a manifest may list "
                f"only {_listed(FILE_URL_SCHEMES)} URLs unless "
                f"{TRUSTED_SCHEMES_VARIABLE} names the scheme ({TRUSTED_SCHEMES_VARIABLE}={scheme}, for manifests "
                "you trust)")
    if scheme in trusted:  # the user's own hosts
        return None
    if scheme != "file" and ("@" in parts.netloc or ":" in parts.netloc):
        return (f"{parts.netloc!r} is no bucket name (a user or port beside it would send requests elsewhere); "
                "expected scheme://bucket/path/song.mp3")
    refused = options_refused_in_files(url)
    if refused:
        return (f"URL option(s) {', '.join(refused)}: a manifest may not send requests elsewhere (set "
                f"AWS_ENDPOINT_URL, or give the URL on the command line); allowed: {', '.join(sorted(FILE_URL_OPTIONS))}")
    return None


def options_refused_in_files(url: str) -> list[str]:
    """The query options of ``url`` that a URL read from a file may not set (the command line
    and the environment, ``AWS_ENDPOINT_URL``, may), sorted."""
    from urllib.parse import parse_qsl

    return sorted({key for key, _ in parse_qsl(urlsplit(url).query, keep_blank_values=True)} - FILE_URL_OPTIONS)


@dataclass(frozen=True)
class RemoteFile:
    url: str
    size: int
    mtime_ns: int
    relative: str = ""  # from list_files: the path below the folder listed


def _filesystem(url: str):
    """(pyarrow filesystem, path within it) for ``url``."""
    try:
        from pyarrow import fs
    except ImportError as exc:
        raise ParameterError(f"{url}: reading URLs needs pyarrow: pip install 'genrekit[full]'") from exc
    scheme = urlsplit(url).scheme.lower()
    url = scheme + url[len(scheme):]  # S3://: pyarrow knows its schemes in lower case alone
    if scheme not in PYARROW_SCHEMES:  # http://: "Unrecognized filesystem type" said nothing of what to do
        raise ParameterError(f"{url}: genrekit reads no {scheme}:// URLs: download the file and give its path (it "
                             f"reads {_listed(PYARROW_SCHEMES)} URLs)")
    try:
        return fs.FileSystem.from_uri(url)
    except (ValueError, OSError) as exc:
        reason = (str(exc).strip().splitlines() or [type(exc).__name__])[0]  # hdfs: 15 kB of dlopen attempts
        raise ParameterError(f"{url}: not a URL pyarrow can open ({reason})") from exc


def stat(url: str) -> RemoteFile:
    """Size and modification time of the file at ``url``; AudioError when it is not a file."""
    from pyarrow import fs

    filesystem, path = _filesystem(url)
    try:
        info = filesystem.get_file_info(path)
    except OSError as exc:
        raise AudioError(url, f"cannot be read ({exc})") from exc
    if info.type == fs.FileType.NotFound:
        raise AudioError(url, "file not found")
    if info.type != fs.FileType.File:
        raise AudioError(url, "is a folder, expected an audio file")
    return RemoteFile(url, int(info.size or 0), int(info.mtime_ns or 0))


def list_files(url: str) -> list[RemoteFile]:
    """Every file below the folder (or prefix) ``url``, sorted by URL."""
    from pyarrow import fs

    filesystem, root = _filesystem(url)
    try:
        infos = filesystem.get_file_info(fs.FileSelector(root, recursive=True))
    except (FileNotFoundError, OSError) as exc:
        raise ParameterError(f"{url}: expected a music library folder, cannot list it ({exc})") from exc
    base, _, query = url.partition("?")  # each file's URL: the folder's, its path appended, the query kept
    files = []
    for info in infos:
        if info.type == fs.FileType.File:
            relative = str(PurePosixPath(info.path).relative_to(root.rstrip("/")))
            files.append(RemoteFile(f"{base.rstrip('/')}/{relative}{'?' + query if query else ''}",
                                    int(info.size or 0), int(info.mtime_ns or 0), relative))
    return sorted(files, key=lambda f: f.url)


class _CopyNotWritten(Exception):
    """A write of a URL's local copy failed (its cause: the OSError)."""


@contextmanager
def local_copy(url: str) -> Iterator[str]:
    """A private temporary copy of the file at ``url`` (its name keeps the file's ending),
    removed on leaving."""
    filesystem, path = _filesystem(url)
    handle, local = tempfile.mkstemp(prefix="genrekit-", suffix=PurePosixPath(path).suffix)
    written = 0
    try:
        with os.fdopen(handle, "wb") as out, filesystem.open_input_stream(path) as source:
            while block := source.read(COPY_BLOCK):
                try:
                    out.write(block)
                except OSError as exc:  # the temporary folder's disk, not the URL: said so (it read "cannot be read")
                    raise _CopyNotWritten(exc) from exc
                written += len(block)
    except BaseException as exc:  # Ctrl+C and a stop too: a stopped run left gigabytes of partial copy
        with contextlib.suppress(OSError):  # (never in place of what stopped it)
            os.unlink(local)
        if isinstance(exc, _CopyNotWritten):
            raise AudioError(url, f"its local copy could not be written in {os.path.dirname(local)} after "
                                  f"{written / 2**20:.0f} MB ({exc.__cause__.strerror or exc.__cause__}); set "
                                  "TMPDIR to a folder with room for the largest file") from exc.__cause__
        if isinstance(exc, FileNotFoundError):
            raise AudioError(url, "file not found") from exc
        if isinstance(exc, OSError):
            raise AudioError(url, f"cannot be read ({exc})") from exc
        raise
    try:
        yield local
    finally:
        try:
            os.unlink(local)
        except OSError:  # Windows will not remove a file a decoder holds open
            pass


def content_hash(url: str) -> str:
    """SHA-256 of the bytes of the file at ``url``, read as a stream."""
    filesystem, path = _filesystem(url)
    digest = hashlib.sha256()
    try:
        with filesystem.open_input_stream(path) as source:
            while block := source.read(COPY_BLOCK):
                digest.update(block)
    except FileNotFoundError as exc:
        raise AudioError(url, "file not found") from exc
    except OSError as exc:
        raise AudioError(url, f"cannot be read ({exc})") from exc
    return digest.hexdigest()


__all__ = ["RemoteFile", "content_hash", "is_url", "list_files", "local_copy", "stat"]
