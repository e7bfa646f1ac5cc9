"""Receiving an uploaded song: streamed straight into the service's private folder.

The body is parsed as it arrives (python-multipart's streaming parser, not Starlette's
form parser, which spools large parts to the system's temporary folder), so an upload is
never written anywhere else, never held whole in memory, and is refused as soon as it
passes the size limit. :func:`timed_body` reads it from the ASGI channel under a deadline
and a minimum rate, so a client that trickles its bytes is refused (408) instead of holding
a connection and a file open for as long as it likes.

File names are taken as the client's bytes: UTF-8 when they decode as UTF-8, else
ISO-8859-1 (what older clients send), or RFC 5987 ``filename*=UTF-8''...``. They are only
ever echoed (JSON), never used as a path: the saved file is named by a random UUID.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import mimetypes
import os
import re
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote_to_bytes

from python_multipart.multipart import MultipartParseError, MultipartParser, MultipartState, parse_options_header

from genrekit._files import INVISIBLE_MARKS
from genrekit.audio.io import is_audio_path
from genrekit.errors import GenrekitError

#: Content types accepted for the audio (a raw body's, or the form's ``file`` part's): audio/*,
#: video/* (MP4, WebM and Matroska files hold audio too) and the types browsers and HTTP
#: clients use when they do not know. A raw body with no Content-Type is taken as audio too.
ACCEPTED_TYPES = ("audio/*", "video/*", "application/octet-stream", "binary/octet-stream", "application/ogg")
ACCEPTED_TEXT = ", ".join(ACCEPTED_TYPES[:-1]) + f" or {ACCEPTED_TYPES[-1]}"
FORM_TYPE = "multipart/form-data"
URLENCODED = "application/x-www-form-urlencoded"  # what curl --data-binary sends unless told otherwise
FILE_FIELD = "file"
QUERY_PARAMETERS = ("skip", "min_confidence")  # /v1/predict's, which a form field must not seem to set
FORM_OVERHEAD = 64 * 1024  # bytes a form may add around the file: boundaries, headers, small fields
MAX_PART_HEADER = 8192  # bytes of one header line of a form part (a file name is in one)
MAX_PART_HEADERS = 8  # header lines of one form part (a browser sends two)
MAX_NAME_CHARACTERS = 255  # a longer name is cut (with an ellipsis) before it is echoed
# RFC 2046: 1-70 characters from this set, not ending in a space.
BOUNDARY = re.compile(rb"[0-9A-Za-z'()+_,\-./:=? ]{0,69}[0-9A-Za-z'()+_,\-./:=?]")
EXT_VALUE = re.compile(rb"(?i)(utf-8|iso-8859-1|latin-?1|us-ascii)'[^']*'(.*)")
CONTROL = re.compile("[\x00-\x1f\x7f-\x9f" + "".join(map(chr, sorted(INVISIBLE_MARKS))) + "]")


def describe_size(n_bytes: int, megabytes: float | None = None) -> str:
    """``'1 MB (1048576 bytes)'``: the limit as configured and exactly, in bytes."""
    megabytes = n_bytes / 2**20 if megabytes is None else megabytes
    return f"{megabytes:g} MB ({n_bytes} bytes)"


class UploadRejected(GenrekitError):
    """An upload the service refuses: ``status`` is the HTTP status to answer with."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status
        self.message = message


class ClientGone(GenrekitError):
    """The client closed the connection before its upload was complete."""


def decode_name(raw: bytes) -> str:
    """A file name as a client sent it: UTF-8 if the bytes are UTF-8, else ISO-8859-1 (each
    byte one character, so any byte string decodes)."""
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return raw.decode("latin-1")


def _ext_value(raw: bytes) -> str | None:
    """An RFC 5987 ``charset'lang'percent-encoded`` value, decoded; None if ``raw`` is not one."""
    match = EXT_VALUE.fullmatch(raw.strip())
    if not match:
        return None
    charset = match.group(1).decode("ascii").lower()
    encoded = unquote_to_bytes(match.group(2))
    return decode_name(encoded) if charset == "utf-8" else encoded.decode("latin-1")


def _parameters(raw: bytes) -> dict[bytes, bytes]:
    """The ``; key=value`` parameters of a header (Content-Disposition), on its raw bytes;
    quoted values unquoted (``\\"`` and ``\\\\`` unescaped)."""
    params: dict[bytes, bytes] = {}
    for match in re.finditer(rb';\s*([^\s=;]+)\s*=\s*("(?:[^"\\]|\\.)*"|[^;]*)', raw):
        key, value = match.group(1).lower(), match.group(2).strip()
        if value.startswith(b'"') and value.endswith(b'"') and len(value) >= 2:
            value = re.sub(rb"\\([\\\"])", rb"\1", value[1:-1])
        params.setdefault(key, value)
    return params


def clean_name(name: str) -> str:
    """The name to echo: its last path component (``/``, or ``\\`` in a Windows path: absolute,
    UNC, or starting ``.\\`` or ``..\\``; a name merely holding ``\\`` is kept), control characters and invisible marks (a name shown reversed) as
    U+FFFD, at most :data:`MAX_NAME_CHARACTERS`."""
    name = name.rsplit("/", 1)[-1]
    if re.match(r"[A-Za-z]:\\|\\\\|\.{1,2}\\", name):
        name = name.rsplit("\\", 1)[-1]
    name = CONTROL.sub("\ufffd", name).strip()
    if len(name) > MAX_NAME_CHARACTERS:
        name = name[: MAX_NAME_CHARACTERS - 1] + "…"
    return "" if name in (".", "..") else name


def name_from_disposition(raw: bytes) -> str:
    """The file name of a Content-Disposition header's raw bytes: ``filename*`` (RFC 5987)
    before ``filename``; "" without one."""
    params = _parameters(raw)
    extended = _ext_value(params[b"filename*"]) if b"filename*" in params else None
    if extended is None and b"filename" in params:
        extended = _ext_value(params[b"filename"]) if params[b"filename"].count(b"'") >= 2 else None
        extended = decode_name(params[b"filename"]) if extended is None else extended
    return clean_name(extended or "")


def name_from_headers(headers: Iterable[tuple[bytes, bytes]]) -> str:
    """The name of a raw-body upload from the request's raw headers: ``Content-Disposition``'s
    ``filename*``/``filename``, else ``X-Filename`` (its bytes, or an RFC 5987 value)."""
    found = {name.lower(): value for name, value in headers}
    name = name_from_disposition(found[b"content-disposition"]) if b"content-disposition" in found else ""
    if not name and b"x-filename" in found:
        raw = found[b"x-filename"]
        extended = _ext_value(raw) if raw.count(b"'") >= 2 else None
        name = clean_name(decode_name(raw) if extended is None else extended)
    return name


async def timed_body(receive: Callable[[], Awaitable[dict]], *, deadline: float, min_rate: float = 0.0,
                     grace: float = 0.0, clock: Callable[[], float] = time.monotonic,
                     stopping: asyncio.Event | None = None) -> AsyncIterator[bytes]:
    """The request body from the ASGI ``receive`` channel, chunk by chunk, refused with 408
    when it has not all arrived ``deadline`` seconds after the start, or when after ``grace``
    seconds (at least 1) it arrives at fewer than ``min_rate`` bytes/s on average (0: no
    minimum), or, with a minimum, when nothing arrives for ``grace`` seconds (at least 1; a
    burst banks no stall: 3 MB sent at once then nothing held a receiving place for the whole
    deadline). A grace of 0 refused every upload before its first bytes could arrive.

    ``stopping``: set when the service stops, which refuses the rest with 503.
    Raises ClientGone when the client disconnects first.
    """
    started, received = clock(), 0
    last = started  # when the last bytes arrived
    grace = stall = max(grace, 1.0)  # the longest an upload with a minimum rate may send nothing
    stopped = asyncio.ensure_future(stopping.wait()) if stopping is not None else None
    arriving = None
    try:
        while True:
            limit_at = started + deadline
            if min_rate > 0:
                limit_at = min(limit_at, started + grace + received / min_rate, last + stall)
            arriving = asyncio.ensure_future(receive())
            await asyncio.wait({arriving, *filter(None, [stopped])}, timeout=max(limit_at - clock(), 0.0),
                               return_when=asyncio.FIRST_COMPLETED)
            if not arriving.done():
                arriving.cancel()
                if stopped is not None and stopped.done():
                    raise UploadRejected(503, f"the service is stopping ({received} bytes received); send the "
                                              "upload again shortly")
                _too_late(clock(), started, last, received, deadline=deadline, min_rate=min_rate, grace=grace,
                          stall=stall)
            message = arriving.result()
            if message["type"] == "http.disconnect":
                raise ClientGone()
            data = message.get("body", b"")
            received += len(data)
            if data:
                yield data
                last = clock()  # once the service has taken it in: its own time is no client's stall
            if not message.get("more_body", False):
                return
    finally:
        for waiting in (stopped, arriving):
            if waiting is not None:
                waiting.cancel()


def _too_late(now: float, started: float, last: float, received: int, *, deadline: float, min_rate: float,
              grace: float, stall: float) -> None:
    """The 408 of an upload whose next bytes did not come in time (see :func:`timed_body`)."""
    if now - started >= deadline:
        raise UploadRejected(408, f"the upload did not arrive within the deadline of {deadline:g} s "
                                  f"({received} bytes received)")
    if now - last >= stall and now - started > grace:
        raise UploadRejected(408, f"the upload stalled: nothing arrived for {now - last:.1f} s "
                                  f"({received} bytes received)")
    raise UploadRejected(408, f"the upload is too slow: {received} bytes in {now - started:.1f} s, below the "
                              f"minimum of {min_rate:g} bytes/s")


@dataclass
class Upload:
    """An uploaded file saved in the private folder."""

    path: Path
    filename: str
    content_type: str
    size: int


def is_audio_type(content_type: str) -> bool:
    """Whether ``content_type`` is one of :data:`ACCEPTED_TYPES` (parameters aside), or none."""
    kind = content_type.split(";")[0].strip().lower()
    return kind == "" or any(kind.startswith(accepted[:-1]) if accepted.endswith("/*") else kind == accepted
                             for accepted in ACCEPTED_TYPES)


def _short(text: str, limit: int = 80) -> str:
    """A client's text (a form field's name) to quote in a message: at most ``limit`` characters."""
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _suffix(filename: str, content_type: str) -> str:
    """A safe file suffix the audio decoder can go by: the name's own when it is an audio
    format's, else one guessed from the content type, else none (the decoder sniffs)."""
    suffix = Path(filename).suffix.lower()
    if re.fullmatch(r"\.[a-z0-9]{1,5}", suffix) and is_audio_path(f"x{suffix}"):
        return suffix
    kind = content_type.split(";")[0].strip().lower()
    guessed = AUDIO_TYPE_SUFFIXES.get(kind) or mimetypes.guess_extension(kind) or ""
    return guessed if is_audio_path(f"x{guessed}") else ""


# Content types browsers and tools send that Python's mimetypes does not map (or maps to a
# suffix libsndfile cannot read: MediaRecorder's audio/webm, Apple's audio/x-m4a).
AUDIO_TYPE_SUFFIXES = {
    "audio/x-m4a": ".m4a", "audio/m4a": ".m4a", "audio/mp4": ".m4a", "audio/aac": ".aac", "audio/x-aac": ".aac",
    "audio/webm": ".webm", "video/webm": ".webm", "audio/x-flac": ".flac", "audio/flac": ".flac",
    "audio/wav": ".wav", "audio/x-wav": ".wav", "audio/wave": ".wav", "audio/vnd.wave": ".wav",
    "audio/mpeg": ".mp3", "audio/mp3": ".mp3", "audio/ogg": ".ogg", "audio/opus": ".opus",
    "audio/aiff": ".aiff", "audio/x-aiff": ".aiff",
}


def _check_type(filename: str, content_type: str, *, part: str | None = None) -> None:
    """415 unless ``content_type`` is an audio one: the raw body's, or (``part``) a form part's.
    The message lists the accepted types and says how to send the song with curl."""
    if is_audio_type(content_type):
        return
    kind = content_type.split(";")[0].strip().lower()
    if part is not None:
        raise UploadRejected(415, f"{filename or 'the upload'}: form part {part!r} has content type {content_type!r}, "
                                  f"which is not accepted: the audio's part must be {ACCEPTED_TEXT} (choose an audio "
                                  "file; with curl, give its type: -F 'file=@song.flac;type=audio/flac')")
    sent_by_curl = " (what curl --data-binary sends unless told otherwise)" if kind == URLENCODED else ""
    raise UploadRejected(415, f"{filename or 'the upload'}: content type {content_type!r}{sent_by_curl} is not "
                              f"accepted: the audio is taken as the raw body with Content-Type {ACCEPTED_TEXT} (or "
                              f"none), or as the part {FILE_FIELD!r} of a {FORM_TYPE} body; add the song's type, "
                              "-H 'Content-Type: audio/flac', or send it as a form: -F file=@song.flac")


class _Target:
    """The file being written, with its byte count checked against the limit."""

    def __init__(self, folder: Path, limit: int, limit_text: str):
        self.folder, self.limit, self.limit_text = folder, limit, limit_text
        self.name = ""  # the client's name for the file, when it gave one
        self.path: Path | None = None
        self.handle = None
        self.size = 0

    def open(self, suffix: str) -> None:
        self.path = self.folder / f"{uuid.uuid4().hex}{suffix}"
        with self._storage_errors():
            # O_EXCL: never follow or reuse a path that exists; 0o600: this user only.
            self.handle = os.fdopen(os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "wb")

    def write(self, data: bytes) -> None:
        self.size += len(data)
        if self.size > self.limit:
            raise UploadRejected(413, self.about(f"the upload is larger than the limit of {self.limit_text}"))
        with self._storage_errors():
            self.handle.write(data)

    def about(self, sentence: str) -> str:
        """``sentence`` (which says "the upload") prefixed with the file's name when it has one."""
        return f"{self.name}: {sentence}" if self.name else sentence

    def close(self) -> None:
        if self.handle is not None:
            handle, self.handle = self.handle, None
            with self._storage_errors():
                handle.close()  # flushes: a full disk may show only here

    def discard(self) -> None:
        """Remove the partial file, whatever closing it says (a full disk fails the flush too)."""
        try:
            self.close()
        except UploadRejected:
            pass
        finally:
            if self.path is not None:
                self.path.unlink(missing_ok=True)

    @contextlib.contextmanager
    def _storage_errors(self):
        """The service's own disk failing (full, over quota, gone) as an answer naming the cause:
        507 when it is out of space, else 503; never a 500 with the upload left behind."""
        try:
            yield
        except OSError as exc:
            full = exc.errno in (errno.ENOSPC, errno.EDQUOT)
            cause = "its disk is full" if full else f"its upload folder cannot be written ({exc.strerror or exc})"
            raise UploadRejected(507 if full else 503, self.about(f"the service cannot store the upload: {cause}; "
                                                                  "try again later")) from exc


async def receive_upload(content_type: str, body: AsyncIterator[bytes], folder: Path, *, limit: int,
                         filename: str = "", limit_text: str | None = None) -> Upload:
    """Save the request body's audio into ``folder``.

    ``content_type`` ``multipart/form-data``: the part named ``file`` (an HTML form's or
    ``curl -F file=@song.mp3``), the form's only part; one of :data:`ACCEPTED_TYPES` (or
    none): the body itself (``curl --data-binary -H 'Content-Type: audio/mpeg'``), named
    ``filename`` when the client says so.

    Raises
    ------
    UploadRejected
        413 past ``limit`` bytes (``limit_text`` says it, exactly), 415 for content that is
        not audio (the message lists the accepted types), 422 for an empty file or a form
        field other than ``file``, 400 for a malformed form (no boundary or a bad one, no
        ``file`` part, a file in another part, a second file, cut short); 507 when the
        service's disk is full, 503 when its folder cannot be written otherwise. Nothing is
        left in ``folder`` then.
    """
    kind, options = parse_options_header(content_type)
    kind = kind.decode("latin-1").lower()
    limit_text = limit_text or describe_size(limit)
    target = _Target(folder, limit, limit_text)
    try:
        if kind == FORM_TYPE:
            body = _bounded(body, limit + FORM_OVERHEAD, limit_text)
            upload = await _receive_multipart(options.get(b"boundary"), body, target)
        else:
            _check_type(filename, kind)
            target.name = filename
            target.open(_suffix(filename, kind))
            async for data in body:
                target.write(data)
            target.close()
            upload = Upload(target.path, filename or "upload", kind, target.size)
        if upload.size == 0:
            raise UploadRejected(422, target.about("the upload is empty (0 bytes)"))
        return upload
    except BaseException:
        target.discard()
        raise


async def _bounded(body: AsyncIterator[bytes], limit: int, limit_text: str) -> AsyncIterator[bytes]:
    """A form's body, refused past ``limit`` bytes in all (form fields other than the file too)."""
    received = 0
    async for data in body:
        received += len(data)
        if received > limit:
            raise UploadRejected(413, f"the form is larger than the limit of {limit_text} for the file plus "
                                      f"{FORM_OVERHEAD} bytes for the rest of the form")
        yield data


def _check_header(data: bytes) -> None:
    if len(data) > MAX_PART_HEADER:
        raise UploadRejected(400, f"malformed multipart/form-data body: a part's header line is longer than "
                                  f"{MAX_PART_HEADER} bytes")


# python-multipart's words (their start) -> what the client did wrong, in its terms
_PARSE_ERRORS = {
    "Expected boundary character": "its parts are not delimited by the boundary its Content-Type declares, {boundary}",
    "Did not find LF at end of boundary": "a boundary line does not end with CRLF",
    "Did not find LF character at end of header": "a part's header line does not end with CRLF (a bare CR inside "
                                                  "it, such as in a file name, ends it early)",
    "Did not find LF at end of headers": "a part's headers do not end with an empty CRLF line",
    "Maximum header count exceeded": f"a part has more than {MAX_PART_HEADERS} header lines",
    "Maximum header size exceeded": f"a part's header line is longer than {MAX_PART_HEADER} bytes",
}


def _parse_error_said(error: str, boundary: bytes) -> str:
    """What python-multipart's ``error`` means for the client (its own words where not known)."""
    said = next((said for start, said in _PARSE_ERRORS.items() if error.startswith(start)), None)
    if said is None:  # the parser's own words, as they are
        return f"{error} (as python-multipart, the form parser, words it)"
    return said.format(boundary=repr(boundary.decode("latin-1")))


async def _receive_multipart(boundary: bytes | None, body: AsyncIterator[bytes], target: _Target) -> Upload:
    if not boundary:
        raise UploadRejected(400, "malformed multipart/form-data: the Content-Type has no boundary")
    if not BOUNDARY.fullmatch(boundary):
        raise UploadRejected(400, f"malformed multipart/form-data: boundary {boundary[:80]!r} is not 1-70 "
                                  "characters of RFC 2046's set")
    state = {"headers": {}, "field": b"", "value": b"", "in_file": False, "found": None}

    def on_part_begin() -> None:
        state["headers"], state["in_file"] = {}, False

    def on_header_field(data: bytes, start: int, end: int) -> None:
        state["field"] += data[start:end]
        _check_header(state["field"])

    def on_header_value(data: bytes, start: int, end: int) -> None:
        state["value"] += data[start:end]
        _check_header(state["value"])

    def on_header_end() -> None:  # raw bytes: the file name's encoding is settled in name_from_disposition
        state["headers"][state["field"].decode("latin-1").lower()] = state["value"]
        state["field"], state["value"] = b"", b""

    def on_headers_finished() -> None:
        # Every part is the file or refused: a field or a second file ignored would leave the
        # client believing it was used (a parameter, a song).
        if "content-disposition" not in state["headers"]:
            raise UploadRejected(400, "malformed multipart/form-data body: a part has no Content-Disposition header "
                                      f"(expected 'form-data; name=\"{FILE_FIELD}\"; filename=...')")
        disposition = state["headers"]["content-disposition"]
        params = _parameters(disposition)
        part = _short(decode_name(params.get(b"name", b"")))
        holds_file = b"filename" in params or b"filename*" in params
        name = name_from_disposition(disposition)
        if part in QUERY_PARAMETERS:
            raise UploadRejected(422, f"form field {part!r}: the service's parameters go in the query string "
                                      f"(/v1/predict?{part}=...)")
        if state["found"] is not None and (holds_file or part == FILE_FIELD):
            raise UploadRejected(400, f"one file per request: form part {part!r} holds a second file"
                                      + (f" ({name})" if name else "") + f" after {state['found'][0]}; send one "
                                      "request per song")
        if part != FILE_FIELD and holds_file:
            raise UploadRejected(400, f"{name or 'the upload'}: form part {part!r} holds a file, but the audio goes "
                                      f"in the part named {FILE_FIELD!r} (-F file=@song.flac)")
        if part != FILE_FIELD:
            raise UploadRejected(422, f"form field {part!r}: the form takes one part, {FILE_FIELD!r} (the audio); "
                                      f"the service's parameters ({', '.join(QUERY_PARAMETERS)}) go in the query "
                                      "string")
        part_type = state["headers"].get("content-type", b"application/octet-stream").decode("latin-1")
        _check_type(name, part_type, part=part)
        target.name = name
        target.open(_suffix(name, part_type))
        state["in_file"], state["found"] = True, (name or "upload", part_type.split(";")[0].strip())

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
    }, max_header_count=MAX_PART_HEADERS, max_header_size=2 * MAX_PART_HEADER + 2)  # ours say so first, with the figure
    try:
        async for data in body:
            # off the event loop: python-multipart walks near-boundary bytes one by one in
            # Python, and a crafted body (a one-letter boundary's near-matches, repeated) took
            # 8-10 s of it for 50 MB, during which no other request was served
            await asyncio.to_thread(parser.write, data)
        parser.finalize()
    except MultipartParseError as exc:
        raise UploadRejected(400, f"malformed multipart/form-data body: {_parse_error_said(str(exc), boundary)}") from exc
    if parser.state != MultipartState.END:
        raise UploadRejected(400, "malformed multipart/form-data body: it ends before its closing boundary"
                                  + (" (the body is empty)" if parser.state == MultipartState.START else ""))
    if state["found"] is None:
        raise UploadRejected(400, f"the form has no {FILE_FIELD!r} part with the audio file (-F file=@song.flac)")
    target.close()
    filename, part_type = state["found"]
    return Upload(target.path, filename, part_type, target.size)
