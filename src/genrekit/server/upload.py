"""Receiving an uploaded song: streamed straight into the service's private folder.

The body is parsed as it arrives (python-multipart's streaming parser, not Starlette's
form parser, which spools large parts to the system's temporary folder), so an upload is
never written anywhere else, never held whole in memory, and is refused as soon as it
passes the size limit.
"""

from __future__ import annotations

import mimetypes
import os
import re
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

from python_multipart.multipart import MultipartParseError, MultipartParser, parse_options_header

from genrekit.audio.io import is_audio_path

#: Content types accepted for the audio: audio/*, video/* (MP4, WebM and Matroska files hold
#: audio too) and the types browsers and HTTP clients use when they do not know.
GENERIC_TYPES = {"application/octet-stream", "binary/octet-stream", "application/ogg", ""}
FILE_FIELD = "file"
FORM_OVERHEAD = 64 * 1024  # bytes a form may add around the file: boundaries, headers, small fields


class UploadRejected(Exception):
    """An upload the service refuses: ``status`` is the HTTP status to answer with."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass
class Upload:
    """An uploaded file saved in the private folder."""

    path: Path
    filename: str
    content_type: str
    size: int


def is_audio_type(content_type: str) -> bool:
    kind = content_type.split(";")[0].strip().lower()
    return kind in GENERIC_TYPES or kind.startswith(("audio/", "video/"))


def _suffix(filename: str, content_type: str) -> str:
    """A safe file suffix the audio decoder can go by: the name's own when it is an audio
    format's, else one guessed from the content type, else none (the decoder sniffs)."""
    suffix = Path(filename).suffix.lower()
    if re.fullmatch(r"\.[a-z0-9]{1,5}", suffix) and is_audio_path(f"x{suffix}"):
        return suffix
    guessed = mimetypes.guess_extension(content_type.split(";")[0].strip().lower()) or ""
    return guessed if is_audio_path(f"x{guessed}") else ""


def _check_type(filename: str, content_type: str) -> None:
    if not is_audio_type(content_type):
        raise UploadRejected(415, f"{filename or 'the upload'}: expected an audio file (audio/*), "
                                  f"got content type {content_type!r}")


class _Target:
    """The file being written, with its byte count checked against the limit."""

    def __init__(self, folder: Path, limit: int):
        self.folder, self.limit = folder, limit
        self.path: Path | None = None
        self.handle = None
        self.size = 0

    def open(self, suffix: str) -> None:
        self.path = self.folder / f"{uuid.uuid4().hex}{suffix}"
        # O_EXCL: never follow or reuse a path that exists; 0o600: this user only.
        self.handle = os.fdopen(os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "wb")

    def write(self, data: bytes) -> None:
        self.size += len(data)
        if self.size > self.limit:
            raise UploadRejected(413, f"upload larger than the limit of {self.limit / 2**20:.1f} MB")
        self.handle.write(data)

    def close(self) -> None:
        if self.handle is not None:
            self.handle.close()
            self.handle = None

    def discard(self) -> None:
        self.close()
        if self.path is not None:
            self.path.unlink(missing_ok=True)


async def receive_upload(content_type: str, body: AsyncIterator[bytes], folder: Path, *, limit: int,
                         filename: str = "") -> Upload:
    """Save the request body's audio into ``folder``.

    ``content_type`` ``multipart/form-data``: the part named ``file`` (an HTML form's or
    ``curl -F file=@song.mp3``); an audio type: the body itself (``curl --data-binary``),
    named ``filename`` when the client says so.

    Raises
    ------
    UploadRejected
        413 past ``limit`` bytes, 415 for content that is not audio, 422 for an empty upload
        or a form without a ``file`` part, 400 for a malformed form. Nothing is left in
        ``folder`` then.
    """
    kind, options = parse_options_header(content_type)
    kind = kind.decode("latin-1").lower()
    target = _Target(folder, limit)
    body = _bounded(body, limit + FORM_OVERHEAD)
    try:
        if kind == "multipart/form-data":
            upload = await _receive_multipart(options.get(b"boundary"), body, target)
        else:
            _check_type(filename, kind)
            target.open(_suffix(filename, kind))
            async for data in body:
                target.write(data)
            target.close()
            upload = Upload(target.path, filename or "upload", kind, target.size)
        if upload.size == 0:
            raise UploadRejected(422, f"{upload.filename}: the uploaded file is empty (0 bytes)")
        return upload
    except BaseException:
        target.discard()
        raise


async def _bounded(body: AsyncIterator[bytes], limit: int) -> AsyncIterator[bytes]:
    """The body, refused past ``limit`` bytes in all (form fields other than the file too)."""
    received = 0
    async for data in body:
        received += len(data)
        if received > limit:
            raise UploadRejected(413, f"request body larger than the limit of {limit / 2**20:.1f} MB")
        yield data


async def _receive_multipart(boundary: bytes | None, body: AsyncIterator[bytes], target: _Target) -> Upload:
    if not boundary:
        raise UploadRejected(400, "multipart/form-data without a boundary")
    state = {"headers": {}, "field": b"", "value": b"", "in_file": False, "found": None}

    def on_part_begin() -> None:
        state["headers"], state["in_file"] = {}, False

    def on_header_field(data: bytes, start: int, end: int) -> None:
        state["field"] += data[start:end]

    def on_header_value(data: bytes, start: int, end: int) -> None:
        state["value"] += data[start:end]

    def on_header_end() -> None:
        state["headers"][state["field"].decode("latin-1").lower()] = state["value"].decode("utf-8", "replace")
        state["field"], state["value"] = b"", b""

    def on_headers_finished() -> None:
        _, disposition = parse_options_header(state["headers"].get("content-disposition", ""))
        if disposition.get(b"name", b"").decode() != FILE_FIELD or state["found"] is not None:
            return  # other form fields, or a second file: ignored
        filename = Path(disposition.get(b"filename", b"upload").decode("utf-8", "replace")).name
        part_type = state["headers"].get("content-type", "application/octet-stream")
        _check_type(filename, part_type)
        target.open(_suffix(filename, part_type))
        state["in_file"], state["found"] = True, (filename, part_type.split(";")[0].strip())

    def on_part_data(data: bytes, start: int, end: int) -> None:
        if state["in_file"]:
            target.write(data[start:end])

    def on_part_end() -> None:
        if state["in_file"]:
            target.close()
            state["in_file"] = False

    parser = MultipartParser(boundary, {
        "on_part_begin": on_part_begin, "on_header_field": on_header_field, "on_header_value": on_header_value,
        "on_header_end": on_header_end, "on_headers_finished": on_headers_finished, "on_part_data": on_part_data,
        "on_part_end": on_part_end,
    })
    try:
        async for data in body:
            parser.write(data)
        parser.finalize()
    except MultipartParseError as exc:
        raise UploadRejected(400, f"malformed multipart/form-data body: {exc}") from exc
    if state["found"] is None:
        raise UploadRejected(422, f"the form has no {FILE_FIELD!r} part with the audio file")
    target.close()
    filename, part_type = state["found"]
    return Upload(target.path, filename, part_type, target.size)
