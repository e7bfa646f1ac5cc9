"""The genre service: a FastAPI app over :func:`genrekit.predict.predict_file`.

``POST /v1/predict`` takes an audio upload and answers with the song's genres, genre
probabilities, proportions and timeline; ``GET /v1/model`` describes the model;
``GET /healthz`` says the service is up; ``/`` is a web page to try it; ``/docs`` the
OpenAPI documentation (served from the package, no CDN).

The model is loaded once. Songs are analysed in a bounded pool of worker threads, off the
event loop; requests beyond the pool and its queue get 503 at once instead of piling up.
Uploads are written only to a private folder (mode 0700) and removed after each request
and when the service stops.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from dataclasses import asdict, dataclass
from importlib import resources
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.responses import FileResponse, JSONResponse
from fastapi.staticfiles import StaticFiles
from fastapi_offline import FastAPIOffline

from genrekit import __version__
from genrekit.errors import GenrekitError, ParameterError
from genrekit.predict import load_predictor, predict_file
from genrekit.predict.library import model_id
from genrekit.server.upload import FORM_OVERHEAD, UploadRejected, receive_upload

STATIC = resources.files("genrekit.server") / "static"
# The page loads nothing from elsewhere; audio plays from a blob: URL of the picked file.
CONTENT_SECURITY_POLICY = ("default-src 'self'; media-src 'self' blob:; img-src 'self' data:; "
                           "style-src 'self'; script-src 'self'; object-src 'none'; base-uri 'none'")


@dataclass(frozen=True)
class ServiceLimits:
    """What one request may take: upload size, analysis time, and how many songs are analysed
    at once (``workers``) or wait for a worker (``queue``)."""

    max_upload_mb: float = 50.0
    timeout_seconds: float = 120.0
    workers: int = 2
    queue: int = 32
    skip: float = 10.0

    def __post_init__(self) -> None:
        for name in ("max_upload_mb", "timeout_seconds"):
            if not getattr(self, name) > 0:
                raise ParameterError(f"{name}={getattr(self, name)}: expected a number > 0")
        if self.workers < 1 or self.queue < 0:
            raise ParameterError(f"workers={self.workers}, queue={self.queue}: expected workers >= 1 and queue >= 0")

    @property
    def max_upload_bytes(self) -> int:
        return int(self.max_upload_mb * 2**20)


def _error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"detail": message}, status_code=status)


def create_app(model_path: str | os.PathLike, limits: ServiceLimits | None = None) -> FastAPI:
    """The service for the model file at ``model_path`` (classical, network or ONNX)."""
    limits = limits or ServiceLimits()
    predictor = load_predictor(model_path)
    description = {
        "name": predictor.name, "id": model_id(model_path), "kind": predictor.kind,
        "labels": list(predictor.labels), "metrics": predictor.metrics,
        "sample_rate": predictor.sample_rate, "chunk_seconds": predictor.chunk_seconds,
        "aggregation": predictor.aggregation, "genrekit_version": __version__,
        "limits": asdict(limits),
    }
    state: dict = {}

    @asynccontextmanager
    async def lifespan(_: FastAPI):
        state["folder"] = Path(tempfile.mkdtemp(prefix="genrekit-uploads-"))  # mode 0700
        state["pool"] = ThreadPoolExecutor(max_workers=limits.workers, thread_name_prefix="genrekit-predict")
        state["slots"] = asyncio.Semaphore(limits.workers + limits.queue)
        try:
            yield
        finally:
            state["pool"].shutdown(wait=False, cancel_futures=True)
            shutil.rmtree(state["folder"], ignore_errors=True)

    app = FastAPIOffline(title="genrekit", version=__version__, lifespan=lifespan,
                         description="Music genre recognition: upload a song, get its genres.")

    @app.middleware("http")
    async def security_headers(request: Request, call_next):
        response = await call_next(request)
        response.headers.setdefault("Content-Security-Policy", CONTENT_SECURITY_POLICY)
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        return response

    @app.get("/healthz", summary="The service is up and its model loaded")
    async def healthz() -> dict:
        return {"status": "ok", "model": description["id"]}

    @app.get("/v1/model", summary="The model: its genres, metrics, version and the service's limits")
    async def model() -> dict:
        return description

    @app.post(
        "/v1/predict",
        summary="The genres of an uploaded song",
        description=("Send the audio as the `file` part of a multipart form (`curl -F file=@song.mp3`) or as "
                     "the raw body with an audio content type (`curl --data-binary @song.mp3 -H 'Content-Type: "
                     "audio/mpeg'`). Answers with the top genre, mean probabilities, proportions (share of "
                     "chunks) and the timeline of chunks."),
        responses={413: {"description": "upload too large"}, 415: {"description": "not audio"},
                   422: {"description": "empty or undecodable audio"}, 503: {"description": "too busy"},
                   504: {"description": "analysis took too long"}},
    )
    async def predict(request: Request, skip: float | None = None) -> JSONResponse:
        declared = request.headers.get("content-length")
        if declared and declared.isdigit() and int(declared) > limits.max_upload_bytes + FORM_OVERHEAD:
            return _error(413, f"upload of {int(declared) / 2**20:.1f} MB is larger than the limit of "
                               f"{limits.max_upload_mb:.1f} MB")
        slots: asyncio.Semaphore = state["slots"]
        if slots.locked():
            return _error(503, "the service is busy: every worker and queue place is taken; try again shortly")
        async with slots:
            started = time.perf_counter()
            try:
                upload = await receive_upload(request.headers.get("content-type", ""), request.stream(),
                                              state["folder"], limit=limits.max_upload_bytes,
                                              filename=request.headers.get("x-filename", ""))
            except UploadRejected as exc:
                return _error(exc.status, exc.message)
            try:
                work = asyncio.get_running_loop().run_in_executor(
                    state["pool"], lambda: predict_file(predictor, upload.path,
                                                        skip=limits.skip if skip is None else skip))
                prediction = await asyncio.wait_for(work, timeout=limits.timeout_seconds)
            except asyncio.TimeoutError:
                return _error(504, f"{upload.filename}: analysis took longer than {limits.timeout_seconds:g} s")
            except GenrekitError as exc:
                # The message names the private file; the client knows its file by its own name.
                return _error(422, str(exc).replace(str(upload.path), upload.filename))
            finally:
                upload.path.unlink(missing_ok=True)
        result = prediction.to_dict()
        result.update(path=upload.filename, model=description["id"], size_bytes=upload.size,
                      seconds=round(time.perf_counter() - started, 3))
        return JSONResponse(result)

    @app.get("/", include_in_schema=False)
    async def page() -> FileResponse:
        return FileResponse(STATIC / "index.html", media_type="text/html")

    app.mount("/static", StaticFiles(directory=str(STATIC)), name="static")
    return app


def serve(model_path: str | os.PathLike, *, host: str = "127.0.0.1", port: int = 8000,
          limits: ServiceLimits | None = None, log_level: str = "info") -> None:
    """Run the service with uvicorn until interrupted."""
    import uvicorn

    uvicorn.run(create_app(model_path, limits), host=host, port=port, log_level=log_level)
