"""The genre service: a FastAPI app over :func:`genrekit.predict.predict_file`.

``POST /v1/predict`` takes an audio upload and answers with the song's genres, genre
probabilities, proportions, timeline and styles; ``GET /v1/model`` describes the model;
``GET /healthz`` says the service is up and how busy it is; ``/`` is a web page to try it;
``/docs`` and ``/redoc`` the OpenAPI documentation (served from the package, no CDN).

The model is loaded once. An upload is first received in full, under a deadline and a
minimum rate (408 otherwise), without holding any analysis place; then it takes a place
among ``workers + queue`` (503 at once when none is free) and is analysed in a bounded pool
of worker threads, off the event loop. An analysis past the timeout, or whose client hung
up, is stopped between chunks (504), and its place is freed when its worker has really
stopped. The worker that reads an upload removes it when done with it; uploads are written
only to a private folder (mode 0700), removed when the service stops.

Every answer carries a Content-Security-Policy that allows nothing from elsewhere, and every
error is JSON: ``{"detail": "a sentence"}``.
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import difflib
import functools
import logging
import math
import numbers
import os
import re
import secrets
import shutil
import signal
import stat
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import asynccontextmanager
from dataclasses import asdict, dataclass
from importlib import resources
from pathlib import Path
from urllib.parse import urlsplit

from fastapi import FastAPI, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, RedirectResponse
from fastapi.staticfiles import StaticFiles
from starlette.datastructures import MutableHeaders
from starlette.exceptions import HTTPException as StarletteHTTPException

from genrekit import __version__
from genrekit._files import line_shown
from genrekit.audio.chunking import MIN_ANALYSED_SECONDS
from genrekit.errors import GenrekitError, ModelError, ParameterError
from genrekit.models.interface import load, model_id
from genrekit.predict import predict_file
from genrekit.predict.formats import prediction_record
from genrekit.predict.song import check_min_confidence
from genrekit.errors import AnalysisStopped
from genrekit.server.upload import (ACCEPTED_TYPES, FORM_OVERHEAD, QUERY_PARAMETERS, ClientGone, Upload,
                                    UploadRejected, describe_size, name_from_headers, receive_upload, timed_body)

logger = logging.getLogger(__name__)

STATIC = resources.files("genrekit.server") / "static"
DOCS_ASSETS = resources.files("fastapi_offline") / "static"  # Swagger UI and ReDoc, no CDN
# The two <style> elements redoc.standalone.js (fastapi-offline 1.7.7, pinned) inserts as it
# loads, before it knows the nonce: one empty, then perfect-scrollbar's rules.
REDOC_STYLE_HASHES = ("'sha256-47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=' "
                      "'sha256-QMIg+bpjm3JdElJ388KYke01izlUW0UoNOeKjpMxdgc='")
STOP_GRACE_SECONDS = 5.0  # how long a 504 waits for its stopped analysis's worker to let go

# Nothing is loaded from elsewhere; nothing inline runs; audio plays from a blob: URL of the
# picked file. The docs pages add a per-response nonce for ReDoc's generated styles.
CSP = {
    "default-src": "'self'", "connect-src": "'self'", "img-src": "'self' data:", "media-src": "'self' blob:",
    "font-src": "'self'", "style-src": "'self'", "script-src": "'self'", "worker-src": "'none'",
    "object-src": "'none'", "base-uri": "'none'", "frame-ancestors": "'none'", "form-action": "'self'",
}
SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff", "X-Frame-Options": "DENY", "Referrer-Policy": "no-referrer",
    "Cross-Origin-Opener-Policy": "same-origin", "Cross-Origin-Resource-Policy": "same-origin",
    "Permissions-Policy": "camera=(), microphone=(), geolocation=()",
}


def content_security_policy(**changes: str) -> str:
    return "; ".join(f"{name} {value}" for name, value in {**CSP, **changes}.items())


CONTENT_SECURITY_POLICY = content_security_policy()


def _is_number(value) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


@dataclass(frozen=True)
class ServiceLimits:
    """What one request may take: upload size, analysis time, and how many songs are analysed
    at once (``workers``) or wait for a worker (``queue``).

    Uploads: the whole body must arrive within ``upload_seconds``, and after
    ``upload_grace_seconds`` (at least 1 is used) at ``min_upload_rate`` bytes/s on average at
    least (0: no minimum), sending something at least every ``upload_grace_seconds`` (with a minimum),
    else 408; at most ``receiving`` uploads are received at once (503 beyond).
    ``timeout_seconds`` counts from when the upload has arrived: waiting for a worker, then
    the analysis. ``max_minutes``: an upload declaring more audio is refused (422) before it
    is decoded (a 50 MB file of low-bitrate audio can hold a day of it). ``skip`` and ``min_confidence`` are the defaults of the requests' parameters
    of those names (below ``min_confidence`` the genre is ``unknown``; None: always the top genre).
    """

    max_upload_mb: float = 50.0
    timeout_seconds: float = 120.0
    workers: int = 2
    queue: int = 32
    skip: float = 10.0
    upload_seconds: float = 300.0
    min_upload_rate: float = 10_000.0
    upload_grace_seconds: float = 10.0
    receiving: int = 64
    min_confidence: float | None = None
    max_minutes: float = 60.0

    def __post_init__(self) -> None:
        object.__setattr__(self, "min_confidence", check_min_confidence(self.min_confidence))  # numpy's: a float
        for name in ("max_upload_mb", "timeout_seconds", "upload_seconds", "max_minutes"):
            value = getattr(self, name)
            if not (_is_number(value) and math.isfinite(value) and value > 0):
                raise ParameterError(f"{name}={value!r}: expected a finite number > 0")
        for name in ("min_upload_rate", "upload_grace_seconds", "skip"):
            value = getattr(self, name)
            if not (_is_number(value) and math.isfinite(value) and value >= 0):
                raise ParameterError(f"{name}={value!r}: expected a finite number >= 0")
        for name, least in (("workers", 1), ("queue", 0), ("receiving", 1)):
            value = getattr(self, name)
            if not (isinstance(value, numbers.Integral) and not isinstance(value, bool) and value >= least):
                raise ParameterError(f"{name}={value!r}: expected a whole number >= {least}")

    @property
    def max_upload_bytes(self) -> int:
        return int(self.max_upload_mb * 2**20)

    @property
    def max_upload_text(self) -> str:
        return describe_size(self.max_upload_bytes, self.max_upload_mb)


def _error(status: int, message: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"detail": message}, status_code=status, headers=headers)


class SecurityHeaders:
    """ASGI middleware: the security headers on every response (a route's own CSP kept), and
    ``Cache-Control: no-store`` on JSON answers."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)

        async def send_with_headers(message):
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                headers.setdefault("Content-Security-Policy", CONTENT_SECURITY_POLICY)
                for name, value in SECURITY_HEADERS.items():
                    headers.setdefault(name, value)
                if headers.get("content-type", "").startswith("application/json"):
                    headers.setdefault("Cache-Control", "no-store")
            await send(message)

        await self.app(scope, receive, send_with_headers)


# The names a service listening on this machine's loopback only is asked by.
LOOPBACK_HOSTS = ("localhost", "127.0.0.1", "::1")


class KnownHosts:
    """ASGI middleware: requests whose Host header names none of ``hosts`` (ports aside) get a
    JSON 400. A service that listens on loopback only is reached by other names only through
    DNS rebinding: a page elsewhere whose name is made to resolve to 127.0.0.1 and that could
    then read the service's answers as its own."""

    def __init__(self, app, hosts: Sequence[str]):
        self.app, self.hosts = app, {_host_name(h) for h in hosts}  # ports aside, as the Host header is read

    async def __call__(self, scope, receive, send):
        if scope["type"] in ("http", "websocket"):  # a WebSocket route added later is guarded too
            given = dict(scope.get("headers") or []).get(b"host", b"").decode("latin-1").strip().lower()
            name = _host_name(given)
            if given and name not in self.hosts and scope["type"] == "websocket":
                return await send({"type": "websocket.close", "code": 1008})  # policy violation: refused
            if given and name not in self.hosts:
                listed = ", ".join(sorted(self.hosts))
                shown = name if re.fullmatch(r"[a-z0-9._-]+|[0-9a-f:.]+", name) else "NAME"  # not "[:" for "[::1"
                response = _error(400, f"Host {given!r}: this service answers to {listed} only (it listens on this "
                                       f"machine's loopback; start it with --allowed-host {shown}, or "
                                       "allowed_hosts= in Python, to be asked by that name, as a proxy may)")
                return await SecurityHeaders(response)(scope, receive, send)
        return await self.app(scope, receive, send)


def check_host_names(hosts, what: str = "allowed_hosts") -> None:
    """A ParameterError unless ``hosts`` is a list of names as a Host header gives them (no
    scheme, path, user or spaces): a str was read letter by letter, "http://example.com" as the
    host "http", and a number failed inside the middleware."""
    if isinstance(hosts, (str, bytes)) or not isinstance(hosts, (list, tuple, set, frozenset)):
        raise ParameterError(f"{what}={hosts!r:.60}: expected a list of host names, such as ['example.com']")
    bad = [name for name in hosts if not isinstance(name, str) or not name.strip()
           or any(c in name for c in "/ \t@*")]
    if bad:
        raise ParameterError(f"{what} {bad[0]!r:.60}: expected a host name or address, as a Host header gives it "
                             "(no scheme, path, spaces or wildcard)")


def _host_name(netloc: str) -> str:
    """The host of ``host[:port]`` (an IPv6 address unbracketed), lower case."""
    netloc = netloc.strip().lower()
    if netloc.startswith("[") and "]" in netloc:
        return netloc[1:netloc.index("]")]
    return netloc.rsplit(":", 1)[0] if netloc.count(":") == 1 else netloc


def _origin_host(origin: str) -> str:
    """The host an ``Origin`` header names; "" for one that is no URL (``http://[::1``), which
    no page of this service sends."""
    try:
        return _host_name(urlsplit(origin).netloc)
    except ValueError:
        return ""


class SameSiteWrites:
    """ASGI middleware: a request that changes or costs something (POST and the like) sent by a
    page of another site gets a JSON 403. A page elsewhere could otherwise make its visitors'
    browsers upload to a service on their machine, spending its workers, though it cannot read
    the answers. Browsers say where a request comes from: ``Sec-Fetch-Site`` (sent to HTTPS
    and loopback addresses), else ``Origin``, whose host must be one this service is reached
    by (its Host, an ``X-Forwarded-Host``, one of ``hosts``; ports aside, as a proxy may drop
    them). Tools such as curl send neither and are answered."""

    SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})

    def __init__(self, app, hosts: Sequence[str] = ()):
        self.app, self.hosts = app, {_host_name(h) for h in hosts}

    async def __call__(self, scope, receive, send):
        if scope["type"] == "http" and scope["method"] not in self.SAFE_METHODS:
            headers = dict(scope.get("headers") or [])
            site = headers.get(b"sec-fetch-site", b"").decode("latin-1").strip().lower()
            origin = headers.get(b"origin", b"").decode("latin-1").strip()
            own = self.hosts | {_host_name(headers.get(b"host", b"").decode("latin-1"))} | {
                _host_name(name) for name in headers.get(b"x-forwarded-host", b"").decode("latin-1").split(",")}
            refused = None
            if site in ("cross-site", "same-site"):
                refused = f"a request from another site (Sec-Fetch-Site: {site})"
            elif not site and origin and (_origin_host(origin) or "null") not in own - {""}:
                refused = f"a request from a page of another site ({origin})"
            if refused:
                response = _error(403, f"{refused}: this service takes uploads from its own page and from programs, "
                                       "not from pages elsewhere (behind a proxy that rewrites Host, start it with "
                                       "--allowed-host NAME for the name its page is reached by)")
                return await SecurityHeaders(response)(scope, receive, send)
        return await self.app(scope, receive, send)


class HeadAsGet:
    """ASGI middleware: HEAD answered as GET without the body (HTTP asks it of every GET route;
    FastAPI's routes answer only the methods they name, so monitors' HEAD got 405)."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http" or scope["method"] != "HEAD":
            return await self.app(scope, receive, send)

        async def send_headers_only(message):
            if message["type"] == "http.response.body":
                if not message.get("more_body", False):
                    await send({"type": "http.response.body", "body": b"", "more_body": False})
                return
            await send(message)

        await self.app({**scope, "method": "GET"}, receive, send_headers_only)


class WholeFiles:
    """ASGI middleware: Range requests are answered with the whole file, as HTTP allows (the page
    and its files are small): Starlette answered a bad range in plain text, not in the JSON of
    every other error, and an unknown unit with 400 where HTTP says to ignore it."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)

        async def send_without_ranges(message):
            if message["type"] == "http.response.start":
                message = {**message, "headers": [(k, v) for k, v in message.get("headers") or []
                                                  if k.lower() != b"accept-ranges"]}
            await send(message)

        headers = [(k, v) for k, v in scope.get("headers") or [] if k.lower() not in (b"range", b"if-range")]
        await self.app({**scope, "headers": headers}, receive, send_without_ranges)


class _Places:
    """The ``workers + queue`` analysis places, and what holds them (for /healthz)."""

    def __init__(self, total: int):
        self.free = total
        self.receiving = 0
        self.running = 0
        self.lock = threading.Lock()  # ``running`` changes in worker threads
        self.stops: set[threading.Event] = set()


UPLOADS_PREFIX = "genrekit-uploads-"  # then the service's process id: "genrekit-uploads-<pid>-<random>"


def _remove_stale_upload_folders() -> None:
    """Remove the upload folders that services killed without a shutdown left (kill -9, a
    crash): this user's, in the temporary folder, named with the id of a process that has ended."""
    root = Path(tempfile.gettempdir())
    for folder in root.glob(f"{UPLOADS_PREFIX}*-*"):
        pid = folder.name[len(UPLOADS_PREFIX):].split("-", 1)[0]
        try:
            info = folder.lstat()
            if not pid.isdigit() or not stat.S_ISDIR(info.st_mode) or info.st_uid != os.getuid():
                continue
            os.kill(int(pid), 0)  # raises when no such process runs
        except ProcessLookupError:
            logger.info("removing %s, left by a service that has ended", folder)
            shutil.rmtree(folder, ignore_errors=True)
        except (OSError, OverflowError, ValueError):  # another user's process (EPERM), a vanished folder
            continue


def _validation_message(exc: RequestValidationError) -> str:
    parts = []
    for error in exc.errors():
        where = ".".join(str(p) for p in error.get("loc", ())[1:]) or "request"
        given = repr(error.get("input"))
        given = given if len(given) <= 80 else given[:80] + f"... ({len(given)} characters)"  # 30 kB echoed whole
        parts.append(f"{where}={given}: {error.get('msg', 'invalid')}")
    return "; ".join(parts) or "invalid request"


def _query_refusal(request: Request) -> str | None:
    """Why /v1/predict refuses the request's query string: a parameter it does not take (a
    misspelt ``min_confidence`` was ignored, the answer given as if none was asked) or one given
    twice; None when it is fine."""
    taken = ", ".join(QUERY_PARAMETERS[:-1]) + f" and {QUERY_PARAMETERS[-1]}"
    for name in request.query_params:
        if name not in QUERY_PARAMETERS:
            close = difflib.get_close_matches(name, QUERY_PARAMETERS, n=1)
            return (f"query parameter {name[:80]!r}: /v1/predict has no such parameter"
                    + (f" (did you mean {close[0]}?)" if close else "") + f"; its parameters are {taken}")
        if len(given := request.query_params.getlist(name)) > 1:
            return f"query parameter {name!r} is given {len(given)} times: give it once"
    return None


def create_app(model_path: str | os.PathLike, limits: ServiceLimits | None = None, *,
               allowed_hosts: Sequence[str] | None = LOOPBACK_HOSTS) -> FastAPI:
    """The service for any model (see :func:`genrekit.models.load`; ``"default"``: genrekit's own).
    ``allowed_hosts``: the names its requests' Host may give (:class:`KnownHosts`; default: the
    loopback names, against DNS rebinding); None: any (behind a proxy that checks the Host itself).
    :func:`serve` runs it with what uvicorn alone lacks: a deadline for a request's headers and a
    cap on open connections. Run by a server that skips the app's lifespan (mounted in another
    app, ``uvicorn --lifespan off``), it sets itself up at its first request and removes its
    upload folder at exit."""
    if limits is not None and not isinstance(limits, ServiceLimits):
        raise ParameterError(f"limits={limits!r:.60}: expected a ServiceLimits (or None: the defaults)")
    if allowed_hosts is not None:
        check_host_names(allowed_hosts)
        if not allowed_hosts:  # every request refused, localhost's too
            raise ParameterError("allowed_hosts=[]: no request would be answered; name some hosts, or give None to "
                                 "answer any (behind a proxy that checks the Host itself)")
    limits = limits or ServiceLimits()
    predictor = load(model_path)
    # a malformed form gets its 400; python-multipart would also log a warning per request, which any client could
    # repeat (a level the host application set is left as it is)
    if logging.getLogger("python_multipart").level == logging.NOTSET:
        logging.getLogger("python_multipart").setLevel(logging.ERROR)
    # the model's one manifest (genrekit.models.describe), less the hashes of its training files
    # and the server's path to it, with the service's own: the file's id and the limits
    manifest = {key: value for key, value in predictor.manifest().items() if key not in ("training", "source")}
    # "threads" as `serve --threads` names it; "workers", the library's name, kept for v1's clients
    description = {"name": predictor.name, "id": model_id(model_path), **manifest,
                   "limits": {**asdict(limits), "threads": limits.workers}}
    state: dict = {}

    def new_upload_folder() -> Path:
        return Path(tempfile.mkdtemp(prefix=f"{UPLOADS_PREFIX}{os.getpid()}-"))  # mode 0700

    def start() -> None:
        _remove_stale_upload_folders()
        state["folder"] = new_upload_folder()
        state["pool"] = ThreadPoolExecutor(max_workers=limits.workers, thread_name_prefix="genrekit-predict")
        state["places"] = _Places(limits.workers + limits.queue)
        state["loop"], state["stopping"] = asyncio.get_running_loop(), asyncio.Event()

    def started() -> dict:
        """The service's state, set up at the first request where no lifespan ran (a mounted app
        answered 500 to everything), its upload folder then removed at exit."""
        if "places" not in state:
            start()
            atexit.register(lambda: shutil.rmtree(state["folder"], ignore_errors=True))  # the folder of the day
            atexit.register(state["pool"].shutdown, wait=False, cancel_futures=True)
        elif state["loop"] is not asyncio.get_running_loop():  # a server (a test client) with a loop per request
            state["loop"], state["stopping"] = asyncio.get_running_loop(), asyncio.Event()
        return state

    def upload_folder() -> Path:
        """Where uploads are written: a new private folder where the service's was removed (a
        /tmp cleaner, after days idle), which refused every upload until a restart."""
        if not state["folder"].is_dir():
            state["folder"] = new_upload_folder()
            logger.warning("the upload folder was removed; uploads now go to %s", state["folder"])
        return state["folder"]

    @asynccontextmanager
    async def lifespan(_: FastAPI):
        start()
        try:
            yield
        finally:
            for stop in list(state["places"].stops):
                stop.set()
            stopping = asyncio.get_running_loop().run_in_executor(
                None, functools.partial(state["pool"].shutdown, wait=True, cancel_futures=True))
            try:  # the workers stop at their next chunk; a stuck one is not waited for long
                await asyncio.wait_for(stopping, timeout=STOP_GRACE_SECONDS)
            except asyncio.TimeoutError:
                logger.warning("an analysis did not stop within %g s of the shutdown", STOP_GRACE_SECONDS)
            shutil.rmtree(state["folder"], ignore_errors=True)

    def stop_requests() -> None:
        """Answer the requests in flight 503 now: uploads still arriving, and analyses, which
        stop at their next chunk (run in the event loop)."""
        state["stopping"].set()
        for stop in list(state["places"].stops):
            stop.set()

    def stopping_soon(seconds: float) -> None:
        """The service begins to stop (a signal, any thread): the requests in flight have
        ``seconds`` to finish, then get 503 in JSON, before uvicorn cancels what is left with a
        bare 500."""
        if (loop := state.get("loop")) is not None and not loop.is_closed():
            loop.call_soon_threadsafe(loop.call_later, seconds, stop_requests)

    # no redirect of /v1/predict/ to /v1/predict: Starlette's names this host's address, not a proxy's
    app = FastAPI(title="genrekit", version=__version__, lifespan=lifespan, docs_url=None, redoc_url=None,
                  description="Music genre recognition: upload a song, get its genres.", redirect_slashes=False)
    app.state.stopping_soon = stopping_soon
    app.add_middleware(SecurityHeaders)
    app.add_middleware(HeadAsGet)  # the routes and the headers see a GET
    app.add_middleware(WholeFiles)
    app.add_middleware(SameSiteWrites, hosts=list(allowed_hosts or ()))
    if allowed_hosts is not None:
        app.add_middleware(KnownHosts, hosts=list(allowed_hosts))  # outermost: nothing runs for another name

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        headers = getattr(exc, "headers", None)
        where = f"{request.method} {line_shown(request.url.path)[:200]}"
        if exc.status_code == 404 and exc.detail == "Not Found":  # Starlette's words: a sentence instead
            return _error(404, f"{where}: no such page here; the service answers GET / (its page), GET /v1/model, "
                               "POST /v1/predict, GET /healthz and GET /docs", headers)
        if exc.status_code == 405 and exc.detail == "Method Not Allowed":
            allowed = (headers or {}).get("Allow", "")
            if "GET" in allowed.split(", ") and "HEAD" not in allowed:  # HeadAsGet answers it
                allowed += ", HEAD"
                headers = {**headers, "Allow": allowed}
            return _error(405, f"{where}: not allowed here" + (f"; use {allowed}" if allowed else "")
                          + (" with the song as the file part of a form, or as the body" if
                             request.url.path.rstrip("/").endswith("/v1/predict") else ""), headers)
        return _error(exc.status_code, str(exc.detail), headers)

    @app.exception_handler(RequestValidationError)
    async def invalid_request(_: Request, exc: RequestValidationError) -> JSONResponse:
        return _error(422, _validation_message(exc))

    @app.exception_handler(Exception)
    async def internal_error(request: Request, exc: Exception) -> JSONResponse:
        # Starlette's outermost layer answers with this, past the middleware: the headers go here.
        logger.exception("%s %s failed", request.method, request.url.path)
        headers = {"Content-Security-Policy": CONTENT_SECURITY_POLICY, "Cache-Control": "no-store",
                   **SECURITY_HEADERS}
        return _error(500, f"internal error ({type(exc).__name__}); the service goes on", headers)

    @app.get("/healthz", summary="The service is up, its model loaded; how many uploads it is busy with")
    async def healthz() -> dict:
        places: _Places = started()["places"]
        with places.lock:
            running = places.running
        taken = limits.workers + limits.queue - places.free
        return {"status": "ok", "model": description["name"], "model_id": description["id"],  # as /v1/predict's
                "receiving": places.receiving, "analysing": running,
                "queued": max(taken - running, 0), "places_free": places.free}

    @app.get("/v1/model", summary="The model: its manifest (genres, metrics, version; not its training files) "
             "and the service's limits")
    async def model() -> dict:
        return description

    @app.post(
        "/v1/predict",
        summary="The genres of an uploaded song",
        description=("Send the audio as the `file` part of a multipart form (`curl -F file=@song.mp3`), the "
                     "form's only part (one song per request: a second file is refused, 400), or as the raw body "
                     f"with Content-Type {', '.join(ACCEPTED_TYPES)} or none (`curl --data-binary @song.mp3 -H "
                     "'Content-Type: audio/mpeg'`: without `-H`, curl sends application/x-www-form-urlencoded, "
                     "refused with 415; name it with `X-Filename` or `Content-Disposition`). Answers with the top "
                     "genre, mean probabilities, proportions (share of the analysed time; `unknown`: not music), "
                     "the timeline of windows or chunks and "
                     "`styles` (the taggers' own genre and style tags, some of them also genres, at or above "
                     "their thresholds -> probability, most "
                     "probable first; null for a model without styles). `skip` and `min_confidence` are the "
                     "query parameters; any other query parameter, and any form field but `file`, is refused "
                     "(422). Every error is JSON: `{\"detail\": \"...\"}`."),
        # the handler reads the body itself (streamed, with limits), so the schema is declared here
        openapi_extra={"requestBody": {"required": True, "content": {
            "multipart/form-data": {"schema": {"type": "object", "required": ["file"], "properties": {
                "file": {"type": "string", "format": "binary", "description": "the song"}}}},
            **{kind: {"schema": {"type": "string", "format": "binary"}} for kind in ACCEPTED_TYPES}}}},
        responses={400: {"description": "malformed form, a file in a part not named `file`, or more than one file"},
                   408: {"description": "upload too slow"}, 413: {"description": "upload too large"},
                   415: {"description": f"not audio: a content type other than {', '.join(ACCEPTED_TYPES)}"},
                   422: {"description": "empty or undecodable audio, or a bad or unknown parameter or form field"},
                   500: {"description": "the service's model or the analysis failed"},
                   503: {"description": "too busy"}, 504: {"description": "analysis took too long"}},
    )
    async def predict(
        request: Request,
        # the descriptions /docs shows (the values are checked below, in the service's words)
        skip: float | None = Query(None, description=(
            "Seconds of intro, and of outro, left out of a song long enough to keep three chunks and "
            f"{MIN_ANALYSED_SECONDS:g} s after them (a shorter song is analysed whole: see `start` and `end` in the "
            "answer); "
            f">= 0; default: the service's ({limits.skip:g})")),
        min_confidence: float | None = Query(None, description=(
            "Below this top probability the genre is `unknown` (the probabilities are still given); between 0 "
            "and 1; default: the service's --min-confidence" + (
                f" ({limits.min_confidence:g})" if limits.min_confidence is not None else " (none set: the top genre)"))),
    ) -> JSONResponse:
        unread = {"Connection": "close"}  # refused before the body is read: not taken in after the answer
        if refused := _query_refusal(request):
            return _error(422, refused, unread)
        if skip is not None and not (math.isfinite(skip) and skip >= 0):
            return _error(422, f"skip={skip}: expected a number of seconds >= 0", unread)
        if min_confidence is not None and not 0 <= min_confidence <= 1:  # NaN fails too
            return _error(422, f"min_confidence={min_confidence}: expected a probability between 0 and 1", unread)
        if started()["stopping"].is_set():
            return _stopping(unread=True)
        places: _Places = state["places"]
        encoding = request.headers.get("content-encoding", "").strip().lower()
        if encoding not in ("", "identity"):  # not undone here: the decoder would be handed gzip's bytes
            return _error(415, f"Content-Encoding {encoding!r} is not accepted: send the audio file itself (audio "
                               "formats are compressed already)", unread)
        content_type = request.headers.get("content-type", "")
        allowed = limits.max_upload_bytes + (FORM_OVERHEAD if content_type.lower().startswith("multipart/") else 0)
        declared = request.headers.get("content-length", "")
        # ASCII digits only ("²" is a digit to str.isdigit), and few enough for int() (a server in
        # front of this app may pass on what uvicorn's h11 refuses)
        digits = declared.lstrip("0") or "0"  # h11 takes leading zeros
        if declared.isascii() and declared.isdigit() and (len(digits) > 18 or int(digits) > allowed):
            shown = int(digits) if len(digits) <= 18 else f"a {len(digits)}-digit number of"
            return _error(413, f"upload of {shown} bytes is larger than the limit of {limits.max_upload_text}"
                          + (f" (plus {FORM_OVERHEAD} bytes for the form)" if allowed > limits.max_upload_bytes
                             else ""), unread)
        if places.free == 0:
            return _busy(unread=True)
        if places.receiving >= limits.receiving:
            return _error(503, f"the service is busy: it is receiving {places.receiving} uploads already, its "
                               "limit; try again shortly", {"Retry-After": "2", **unread})
        # Receive the whole upload first, holding no analysis place: a slow client costs a
        # connection and a partial file, bounded by the deadline, the rate and ``receiving``.
        places.receiving += 1
        try:
            body = timed_body(request.receive, deadline=limits.upload_seconds, min_rate=limits.min_upload_rate,
                              grace=limits.upload_grace_seconds, stopping=state["stopping"])
            upload = await receive_upload(content_type, body, upload_folder(), limit=limits.max_upload_bytes,
                                          filename=name_from_headers(request.scope["headers"]),
                                          limit_text=limits.max_upload_text)
        except UploadRejected as exc:
            return _error(exc.status, exc.message, {"Connection": "close", **({"Retry-After": "10"} if exc.status == 503
                                                                               else {})}
                          if exc.status in (408, 413, 503) else None)
        except ClientGone:
            return _error(400, "the client closed the connection before the upload was complete")
        finally:
            places.receiving -= 1
        if places.free == 0:
            upload.path.unlink(missing_ok=True)
            return _busy()
        return await _analyse(request, upload, limits.skip if skip is None else skip,
                              limits.min_confidence if min_confidence is None else min_confidence)

    def _stopping(name: str = "", unread: bool = False) -> JSONResponse:
        what = f"{name}: the service is stopping and did not analyse it" if name else "the service is stopping"
        return _error(503, f"{what}; try again shortly", {"Retry-After": "10", **({"Connection": "close"} if unread else {})})

    def _busy(unread: bool = False) -> JSONResponse:
        return _error(503, "the service is busy: every worker and queue place is taken; try again shortly",
                      {"Retry-After": "2", **({"Connection": "close"} if unread else {})})

    async def _analyse(request: Request, upload: Upload, skip: float, min_confidence: float | None) -> JSONResponse:
        """Analyse ``upload`` in a worker, which owns the file from here on and removes it."""
        started = time.perf_counter()
        places: _Places = state["places"]
        loop = asyncio.get_running_loop()
        stop = threading.Event()
        places.free -= 1
        places.stops.add(stop)

        began: list[float] = []  # when a worker took it

        def work():
            began.append(time.perf_counter())
            with places.lock:
                places.running += 1
            try:
                return predict_file(predictor, upload.path, skip=skip, should_stop=stop.is_set,
                                    min_confidence=min_confidence, max_seconds=limits.max_minutes * 60)
            finally:
                upload.path.unlink(missing_ok=True)
                with places.lock:
                    places.running -= 1

        def release(done: Future) -> None:  # any thread; the place is free once the worker has let go
            if done.cancelled():  # never started: the file is still ours
                upload.path.unlink(missing_ok=True)
            try:
                loop.call_soon_threadsafe(_release, stop)
            except RuntimeError:  # the loop is closed: the service has stopped
                pass

        def _release(event: threading.Event) -> None:
            places.free += 1
            places.stops.discard(event)

        future = state["pool"].submit(work)
        future.add_done_callback(release)
        waiting = asyncio.wrap_future(future)
        # a worker that ends after its 504 ends with AnalysisStopped: retrieved, not logged as never retrieved
        waiting.add_done_callback(lambda f: f.cancelled() or f.exception())
        watcher = asyncio.create_task(_stop_on_disconnect(request, stop, future))
        stopped = asyncio.ensure_future(state["stopping"].wait())
        try:
            done, _ = await asyncio.wait({waiting, stopped}, timeout=limits.timeout_seconds,
                                         return_when=asyncio.FIRST_COMPLETED)
            if stopped in done and waiting not in done:  # the service stops: this one is not waited for long
                stop.set()
                future.cancel()
                await asyncio.wait({waiting}, timeout=1.0)
                return _stopping(upload.filename)
            if not done:
                stop.set()
                never_started = future.cancel()  # still queued: no worker came free in time
                await asyncio.wait({waiting}, timeout=STOP_GRACE_SECONDS)
                if never_started:
                    return _error(504, f"{upload.filename}: waited {limits.timeout_seconds:g} s for a free worker "
                                       "and was not analysed; try again when the service is less busy")
                waited = (began[0] if began else time.perf_counter()) - started
                return _error(504, f"{upload.filename}: not done {limits.timeout_seconds:g} s after its upload "
                                   f"arrived ({waited:.1f} s waiting for a worker, then "
                                   f"{limits.timeout_seconds - waited:.1f} s analysing), and was stopped")
        finally:
            watcher.cancel()
            stopped.cancel()
            if waiting.done() and not waiting.cancelled():
                waiting.exception()  # retrieved: never "exception was never retrieved"
        if (waiting.cancelled() or isinstance(waiting.exception(), AnalysisStopped)) and state["stopping"].is_set():
            return _stopping(upload.filename)
        if waiting.cancelled() or isinstance(waiting.exception(), AnalysisStopped):
            return _error(400, f"{upload.filename}: the client closed the connection before the analysis was done")
        error = waiting.exception()
        if isinstance(error, GenrekitError):
            # The message names the private file, which the client knows by its own name, and
            # may name the model's file, whose place on the server is not the client's business.
            message = str(error).replace(str(upload.path), upload.filename)
            model_file = os.fspath(predictor.source or "")
            message = message.replace(model_file, description["id"]) if model_file else message
            if isinstance(error, ModelError):  # the service's model failed, not the client's request
                logger.error("the model failed on %s", upload.filename, exc_info=error)
                return _error(500, f"{message} (the service's model failed; the service goes on)")
            return _error(422, message)
        if error is not None:
            logger.error("analysing %s failed", upload.filename, exc_info=error)
            return _error(500, f"{upload.filename}: internal error ({type(error).__name__}) in the analysis; "
                               "the service goes on")
        # ``model`` as the command line's JSON gives it (the model's name); ``model_id`` its file's identity
        return JSONResponse(prediction_record(waiting.result(), path=upload.filename, model_id=description["id"],
                                              size_bytes=upload.size, seconds=round(time.perf_counter() - started, 3)))

    @app.get("/", include_in_schema=False)
    async def page() -> FileResponse:
        return FileResponse(STATIC / "index.html", media_type="text/html")

    @app.get("/static/index.html", include_in_schema=False)
    async def page_in_static() -> RedirectResponse:
        # its addresses are relative to the page's place, "/": here they missed (static/static/app.js)
        return RedirectResponse("../", status_code=308)

    # The docs pages' addresses are relative, as the page's are: they work behind a proxy that
    # serves the service under a sub-path, whether or not it says so in root_path.
    openapi = app.openapi_url.lstrip("/")

    @app.get("/docs", include_in_schema=False)
    async def swagger_ui() -> HTMLResponse:
        return HTMLResponse(DOCS_PAGE.format(title="genrekit API", openapi=openapi))

    @app.get("/redoc", include_in_schema=False)
    async def redoc() -> HTMLResponse:
        # ReDoc's styled-components write <style> elements: allowed by this response's nonce;
        # its search index runs in a worker made from a blob: URL (same origin, connect-src
        # still 'self'). Its "API docs by Redocly" logo from cdn.redoc.ly stays blocked (and hidden: redoc.css).
        nonce = secrets.token_urlsafe(18)
        policy = content_security_policy(**{"style-src": f"'self' 'nonce-{nonce}' {REDOC_STYLE_HASHES}",
                                            "worker-src": "blob:"})
        return HTMLResponse(REDOC_PAGE.format(title="genrekit API", openapi=openapi, nonce=nonce),
                            headers={"Content-Security-Policy": policy})

    app.mount("/static-offline-docs", StaticFiles(directory=str(DOCS_ASSETS)), name="static-offline-docs")
    app.mount("/static", StaticFiles(directory=str(STATIC)), name="static")
    return app


async def _stop_on_disconnect(request: Request, stop: threading.Event, future: Future) -> None:
    """Stop the analysis when its client hangs up (the body is read: the next ASGI message
    is the disconnect)."""
    while True:
        message = await request.receive()
        if message["type"] == "http.disconnect":
            stop.set()
            future.cancel()
            return


DOCS_PAGE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title}</title>
<link rel="icon" href="static/favicon.svg" type="image/svg+xml">
<link rel="stylesheet" href="static-offline-docs/swagger-ui.css">
</head>
<body>
<div id="swagger-ui" data-openapi-url="{openapi}"></div>
<script src="static-offline-docs/swagger-ui-bundle.js"></script>
<script src="static/swagger-init.js"></script>
</body>
</html>
"""

REDOC_PAGE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title} (ReDoc)</title>
<link rel="icon" href="static/favicon.svg" type="image/svg+xml">
<link rel="stylesheet" href="static/redoc.css">
</head>
<body>
<div id="redoc" data-openapi-url="{openapi}" data-style-nonce="{nonce}"></div>
<script src="static-offline-docs/redoc.standalone.js"></script>
<script src="static/redoc-init.js"></script>
</body>
</html>
"""


def serve(model_path: str | os.PathLike, *, host: str = "127.0.0.1", port: int = 8000,
          limits: ServiceLimits | None = None, log_level: str = "info",
          on_loaded: Callable[[], None] | None = None, allowed_hosts: Sequence[str] = ()) -> None:
    """Run the service with uvicorn until interrupted. ``on_loaded`` is called once the model
    has loaded and the address is bound, before the service answers (a model that cannot
    load, or an address in use, raises first).

    Listening on loopback only (the default, 127.0.0.1), it answers requests whose Host is a
    loopback name (:data:`LOOPBACK_HOSTS`), ``host`` or one of ``allowed_hosts`` (a proxy's
    name), against DNS rebinding; listening on other addresses, any Host, unless
    ``allowed_hosts`` names some.

    Raises
    ------
    ParameterError
        ``host``:``port`` cannot be listened on (in use, or not this machine's).
    """
    import uvicorn

    import ipaddress

    def is_loopback(address: str) -> bool:
        try:
            return ipaddress.ip_address(address.split("%")[0]).is_loopback  # fe80::1%eth0: a zone, not loopback
        except ValueError:
            return False

    sockets = _listening_sockets(host, port)
    loopback = all(is_loopback(listening.getsockname()[0]) for listening in sockets)
    names = [*LOOPBACK_HOSTS, host, *allowed_hosts] if loopback or allowed_hosts else None
    try:
        service = create_app(model_path, limits, allowed_hosts=names)
    except BaseException:
        for listening in sockets:
            listening.close()
        raise
    try:
        if on_loaded is not None:
            on_loaded()
        # ws="none": no route speaks WebSocket, so an upgrade is a plain request, answered in JSON
        _server_class()(uvicorn.Config(service, log_level=log_level, timeout_graceful_shutdown=SHUTDOWN_GRACE_SECONDS,
                                       http=_protocol_class(), ws="none")).run(sockets=sockets)
    except KeyboardInterrupt:  # uvicorn stops gracefully on Ctrl+C, then raises it again: stopping is the intent
        pass
    finally:
        for listening in sockets:
            listening.close()


def _server_class():
    import uvicorn

    class Server(uvicorn.Server):
        """uvicorn's server, which also stops gracefully on SIGHUP (its terminal closed) as on
        SIGINT and SIGTERM, unless the process was started ignoring it (``nohup``)."""

        def handle_exit(self, sig, frame) -> None:
            super().handle_exit(sig, frame)
            stopping_soon = getattr(getattr(self.config.app, "state", None), "stopping_soon", None)
            if stopping_soon is not None:  # 503 in JSON before uvicorn's grace ends in a bare 500; now when forced
                stopping_soon(0.0 if self.force_exit else max(SHUTDOWN_GRACE_SECONDS - STOP_BEFORE_GRACE_ENDS, 0.0))

        async def shutdown(self, sockets=None) -> None:
            await super().shutdown(sockets)
            if not self.force_exit:
                return
            # A second Ctrl+C: uvicorn leaves the requests in flight, and the service's own clean-up,
            # to asyncio's final cancellation, which printed a traceback for each and left the
            # uploads behind. The requests were told to stop (503 in JSON): a moment to answer.
            if tasks := list(self.server_state.tasks):
                _, unanswered = await asyncio.wait(tasks, timeout=QUIT_SECONDS)
                for task in unanswered:
                    task.cancel()
            lifespan_ended = getattr(self.lifespan, "shutdown_event", None)
            if lifespan_ended is not None and not lifespan_ended.is_set():
                await self.lifespan.shutdown()

        @contextlib.contextmanager
        def capture_signals(self):
            hangup = getattr(signal, "SIGHUP", None)
            if (hangup is None or threading.current_thread() is not threading.main_thread()
                    or signal.getsignal(hangup) is signal.SIG_IGN):
                with super().capture_signals():
                    yield
                return
            previous = signal.signal(hangup, self.handle_exit)
            try:
                with super().capture_signals():
                    yield
            finally:
                signal.signal(hangup, previous)

    return Server


# Seconds a stopping service gives the requests in flight to finish before it cancels them: an
# upload may otherwise hold it for up to its whole deadline (300 s by default).
SHUTDOWN_GRACE_SECONDS = 10.0
# Seconds before that grace ends when the requests still in flight are answered 503 (JSON),
# their analyses stopped: uvicorn's own cancellation answers a bare "Internal Server Error".
STOP_BEFORE_GRACE_ENDS = 3.0
# Seconds the requests in flight have to answer 503 when a second Ctrl+C stops the service at once.
QUIT_SECONDS = 2.0
# Seconds a connection has to send a request's line and headers (a client sends them at once):
# connections trickling a byte of header now and then would otherwise stay open for ever.
HEADER_SECONDS = 10.0
# Connections open at once; one more is answered 503 and closed, before the process runs out
# of file descriptors (1024 by default), which stops it accepting anyone.
MAX_CONNECTIONS = 256


def _raw_response(transport, status: int, reason: str, detail: str, retry_after: int | None = None) -> None:
    """An error answered in JSON straight on the socket, which is then closed: for a
    connection the application never sees (too many, or its headers too slow)."""
    body = JSONResponse({"detail": detail}).body  # the JSON every other error has
    headers = {"Content-Type": "application/json", "Content-Length": len(body), "Connection": "close",
               "Content-Security-Policy": CONTENT_SECURITY_POLICY, "Cache-Control": "no-store", **SECURITY_HEADERS}
    head = [f"HTTP/1.1 {status} {reason}", *(f"{name}: {value}" for name, value in headers.items())]
    if retry_after is not None:
        head.append(f"Retry-After: {retry_after}")
    if not transport.is_closing():
        transport.write("\r\n".join(head).encode("latin-1") + b"\r\n\r\n" + body)
        transport.close()


def _protocol_class():
    """uvicorn's HTTP/1.1 protocol (h11), bounded: a connection must send its request's
    headers within :data:`HEADER_SECONDS` of opening (or of starting another request on it),
    a body the service answered without reading may not trickle in for longer, and at most
    :data:`MAX_CONNECTIONS` are open at once. uvicorn has no header deadline, its
    ``limit_concurrency`` answers only once the headers are in, and the upload limits start
    then too."""
    import h11
    from uvicorn.protocols.http.h11_impl import H11Protocol

    class Protocol(H11Protocol):
        header_deadline = None

        def connection_made(self, transport) -> None:
            super().connection_made(transport)
            if len(self.connections) > MAX_CONNECTIONS:
                _raw_response(transport, 503, "Service Unavailable",
                              f"the service has {MAX_CONNECTIONS} connections open already; try again shortly",
                              retry_after=5)
                return
            self._await_headers()

        def _await_headers(self) -> None:
            if self.header_deadline is None:
                self.header_deadline = self.loop.call_later(HEADER_SECONDS, self._headers_too_slow)

        def _headers_in(self) -> None:
            if self.header_deadline is not None:
                self.header_deadline.cancel()
                self.header_deadline = None

        def data_received(self, data: bytes) -> None:
            if self._waiting():  # a request's line and headers are to come (uvicorn stops its keep-alive timer)
                self._await_headers()
            super().data_received(data)
            if self._waiting():  # still, or again: another request's, or the rest of a body answered unread
                self._await_headers()
            else:
                self._headers_in()

        def _waiting(self) -> bool:
            """Whether the connection waits for a request's line and headers, or for the rest of a
            body the service has answered without reading (a 403, a /healthz with a body)."""
            return self.conn.their_state is h11.IDLE or (
                self.conn.our_state is h11.DONE and self.conn.their_state is h11.SEND_BODY)

        def connection_lost(self, exc) -> None:
            self._headers_in()
            super().connection_lost(exc)

        def send_400_response(self, msg: str) -> None:
            # uvicorn's is plain text without the security headers; every error of the service is JSON.
            # It is called in uvicorn's `except h11.RemoteProtocolError`, whose words say what was wrong
            # ("conflicting Content-Length headers") where uvicorn's say only that something was
            self._headers_in()
            error = sys.exc_info()[1]
            detail = str(error) if isinstance(error, h11.RemoteProtocolError) and str(error) else msg.rstrip(".")
            _raw_response(self.transport, 400, "Bad Request", f"malformed HTTP request: {line_shown(detail)[:200]}")

        def _headers_too_slow(self) -> None:
            self.header_deadline = None
            if self.conn.their_state is h11.IDLE:  # still no whole request line and headers
                _raw_response(self.transport, 408, "Request Timeout",
                              f"the request's headers did not arrive within {HEADER_SECONDS:g} s")
            elif self._waiting() and not self.transport.is_closing():  # answered already: the rest is not read
                self.transport.close()

    return Protocol


def _listening_sockets(host: str, port: int) -> list:
    """A bound, listening socket for each address ``host`` resolves to (as uvicorn binds
    them: "" or a name may mean IPv4 and IPv6), so that an address in use is found before
    the service says it is up.

    Raises
    ------
    ParameterError
        Naming the option at fault: ``--host`` when it is not an address of this machine,
        ``--port`` when the port is taken.
    """
    import errno
    import socket

    try:
        addresses = socket.getaddrinfo(host or None, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror as exc:
        raise ParameterError(f"--host {host!r}: not an address this machine can listen on ({exc.strerror})") from exc
    sockets = []
    try:
        for family, kind, protocol, _, address in dict.fromkeys(addresses):
            listening = socket.socket(family, kind, protocol)
            sockets.append(listening)
            listening.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            if family == socket.AF_INET6:  # its own socket for IPv4, as asyncio binds them
                listening.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
            listening.bind(address)
            listening.listen(2048)
    except OSError as exc:
        for listening in sockets:
            listening.close()
        option = f"--port {port}" if exc.errno == errno.EADDRINUSE else f"--host {host!r}"
        raise ParameterError(f"{option}: cannot listen on {host}:{port} ({exc.strerror or exc}); "
                             + ("choose another port" if exc.errno == errno.EADDRINUSE else "give an address of this machine")
                             ) from exc
    return sockets
