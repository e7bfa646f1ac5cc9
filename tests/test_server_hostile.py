"""The genre service against hostile and careless clients (issue 16, service part).

Every test talks HTTP to a real service process on 127.0.0.1: `genrekit serve` where its
options suffice, else :func:`genrekit.server.serve` started by a small launcher script
(upload deadlines, and an analysis slowed down chunk by chunk so that worker and queue
places are held for a known time). Bodies are sent over raw sockets where the timing of
the bytes matters (chunked, slow and oversized uploads).
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import io
import json
import os
import re
import select
import shutil
import signal
import socket
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import quote

import numpy as np
import pytest
import soundfile as sf

httpx = pytest.importorskip("httpx", reason="the service tests need the test extra (pip install -e '.[test]')")
pytest.importorskip("fastapi", reason="the service needs the 'serve' extra")

from test_server import _clip, _free_port, _spawn, _start, _stop, _uploads_folder, model_file  # noqa: E402,F401
from conftest import headless_chromium, missing  # noqa: E402

SR = 22050
LAUNCHER = r'''
import dataclasses, json, os, signal, sys, time
from genrekit.predict import files

for stop in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):  # as a terminal starts it, whatever the runner ignores (nohup)
    signal.signal(stop, signal.SIG_DFL)
from genrekit.server import ServiceLimits, serve

model, port, limits = sys.argv[1], int(sys.argv[2]), json.loads(sys.argv[3])
delay, log = float(sys.argv[4]), sys.argv[5]
from genrekit.server import app
for name in ("HEADER_SECONDS", "MAX_CONNECTIONS", "SHUTDOWN_GRACE_SECONDS"):  # bounds that are no options
    setattr(app, name, limits.pop(name.lower(), getattr(app, name, None)))
real_chunks = files.song_chunks

def slow_chunks(path, **kwargs):
    """The real chunks, each one `delay` s late; whether the file still exists is logged at each."""
    for piece in real_chunks(path, **kwargs):
        with open(log, "a") as out:
            out.write(f"{os.path.exists(path)} {os.path.basename(path)}\n")
        time.sleep(delay)
        yield piece

files.song_chunks = slow_chunks
known = {field.name for field in dataclasses.fields(ServiceLimits)}  # an older service starts without the rest
serve(model, port=port, limits=ServiceLimits(**{k: v for k, v in limits.items() if k in known}), log_level="warning")
'''


def _noise_wav(path: Path, seconds: float, seed: int = 0) -> Path:
    """Band-limited noise with a few tones, 22050 Hz mono 16-bit: decodable, never silent."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * SR)) / SR
    y = 0.1 * rng.standard_normal(t.size) + sum(0.2 * np.sin(2 * np.pi * f * t) for f in (220, 330, 440))
    sf.write(path, (0.5 * y / np.max(np.abs(y))).astype(np.float32), SR, subtype="PCM_16")
    return path


@pytest.fixture(scope="module")
def short_wav(tmp_path_factory) -> Path:
    return _noise_wav(tmp_path_factory.mktemp("audio") / "short.wav", 4.0)


@pytest.fixture(scope="module")
def server(model_file, tmp_path_factory):
    """`genrekit serve` with a 1 MB upload limit, one worker and one queue place."""
    server = _start(model_file, tmp_path_factory.mktemp("hostile-tmp"), "--max-upload-mb", "1", "--workers", "1",
                    "--queue", "1")
    yield server
    _stop(server)


def _launch(model_file, temp: Path, limits: dict, delay: float = 0.0) -> dict:
    """:func:`genrekit.server.serve` in its own process with ``limits``, each chunk ``delay`` s slow."""
    port = _free_port()
    launcher = temp / "launcher.py"
    launcher.write_text(LAUNCHER)
    chunk_log = temp / "chunks.log"
    chunk_log.touch()
    server = _spawn([sys.executable, str(launcher), str(model_file), str(port), json.dumps(limits), str(delay),
                     str(chunk_log)], temp, port)
    return {**server, "chunks": chunk_log}


def _port(server: dict) -> int:
    return int(server["url"].rsplit(":", 1)[1])


def _raw(server: dict, head: bytes, pieces=(), pause: float = 0.0, timeout: float = 60.0) -> dict:
    """Send ``head`` then each piece ``pause`` s apart over a raw socket, stopping as soon as the
    server answers; returns the response's status, headers, body (JSON when it is) and time."""
    started = time.monotonic()
    with socket.create_connection(("127.0.0.1", _port(server)), timeout=timeout) as sock:
        sock.sendall(head)
        for piece in pieces:
            if select.select([sock], [], [], pause)[0]:
                break  # the server has answered (or closed)
            try:
                sock.sendall(piece)
            except OSError:
                break
        data = b""
        while b"\r\n\r\n" not in data or len(data) < _expected_length(data):
            try:
                chunk = sock.recv(65536)
            except (ConnectionResetError, TimeoutError):
                break
            if not chunk:
                break
            data += chunk
    elapsed = time.monotonic() - started
    head_bytes, _, body = data.partition(b"\r\n\r\n")
    lines = head_bytes.decode("latin-1").split("\r\n")
    assert lines[0].startswith("HTTP/1.1 "), f"no HTTP response: {data[:200]!r}"
    headers = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])}
    parsed = json.loads(body) if headers.get("content-type", "").startswith("application/json") else body
    return {"status": int(lines[0].split()[1]), "headers": headers, "body": parsed, "seconds": elapsed}


def _expected_length(data: bytes) -> int:
    head, _, _ = data.partition(b"\r\n\r\n")
    match = re.search(rb"(?i)\r\ncontent-length:\s*(\d+)", head)
    return len(head) + 4 + int(match.group(1)) if match else 1 << 62


def _chunked(pieces):
    for piece in filter(None, pieces):  # an empty chunk would end the body
        yield b"%x\r\n" % len(piece) + piece + b"\r\n"
    yield b"0\r\n\r\n"


BOUNDARY = "genrekit-hostile-boundary"


def _form(disposition_params: bytes, audio: bytes, boundary: str = BOUNDARY, part_type: bytes = b"audio/wav") -> bytes:
    return (f"--{boundary}\r\n".encode() + b'Content-Disposition: form-data; name="file"; ' + disposition_params
            + b"\r\nContent-Type: " + part_type + b"\r\n\r\n" + audio + f"\r\n--{boundary}--\r\n".encode())


def _post_form(server, body: bytes, boundary: str = BOUNDARY, **params):
    return httpx.post(f"{server['url']}/v1/predict", content=body, params=params, timeout=120,
                      headers={"Content-Type": f"multipart/form-data; boundary={boundary}"})


def _wait_until(condition, seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"waited {seconds} s for {what}")
        time.sleep(0.05)


# 413 -------------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["multipart", "raw"])
def test_a_chunked_upload_past_the_limit_gets_413_with_the_exact_limit(server, kind):
    """No Content-Length: the limit is enforced while the body streams in, and named exactly."""
    piece = bytes(range(256)) * 256  # 64 KiB
    if kind == "multipart":
        first = (f"--{BOUNDARY}\r\n".encode() + b'Content-Disposition: form-data; name="file"; filename="big.wav"'
                 b"\r\nContent-Type: audio/wav\r\n\r\n")
        content_type = f"multipart/form-data; boundary={BOUNDARY}"
    else:
        first, content_type = b"", "audio/wav"
    head = (f"POST /v1/predict HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: {content_type}\r\n"
            "Transfer-Encoding: chunked\r\n\r\n").encode()
    response = _raw(server, head, _chunked([first] + [piece] * 48), pause=0.01)  # 3 MB against 1 MB
    assert response["status"] == 413, response
    detail = response["body"]["detail"]
    assert "1 MB" in detail and "1048576 bytes" in detail and "1.1" not in detail, detail
    assert httpx.get(f"{server['url']}/healthz").status_code == 200
    _wait_until(lambda: not list(_uploads_folder(server).iterdir()), 5, "the refused upload to be removed")


def test_a_declared_length_past_the_limit_gets_413_at_once(server):
    response = httpx.post(f"{server['url']}/v1/predict", content=b"\0" * (3 * 2**20),
                          headers={"Content-Type": "audio/wav"}, timeout=30)
    assert response.status_code == 413
    assert "limit of 1 MB (1048576 bytes)" in response.json()["detail"]
    # the connection is closed with the answer: it stayed open, taking the body a client sends anyway
    head = (f"POST /v1/predict HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: audio/wav\r\n"
            f"Content-Length: {3 * 2**20}\r\n\r\n").encode()
    refused = _raw(server, head)
    assert refused["status"] == 413 and refused["headers"].get("connection") == "close", refused["headers"]


def test_a_small_file_of_hours_of_audio_is_refused_before_it_is_decoded(server):
    """90 kB of FLAC can hold an hour of audio (a constant compresses to nothing): past
    --max-minutes (60 by default) it is refused from its header, at once, instead of holding
    a worker until the timeout."""
    body = io.BytesIO()
    sf.write(body, np.full(61 * 60 * 8000, 0.25, dtype=np.float32), 8000, format="FLAC", subtype="PCM_16")
    assert len(body.getvalue()) < 2**20  # within the upload limit
    started = time.monotonic()
    response = httpx.post(f"{server['url']}/v1/predict", content=body.getvalue(),
                          headers={"Content-Type": "audio/flac"}, timeout=60)
    assert response.status_code == 422 and time.monotonic() - started < 10
    assert "too long: 61:00 min of audio, at most 60:00 min analysed here" in response.json()["detail"]


def test_a_parameter_sent_as_a_form_field_is_refused_and_the_docs_can_send_a_file(server, short_wav):
    """min_confidence in the form was ignored (the answer as if none was asked); /docs offered
    no file to send, since the handler reads its body itself."""
    response = httpx.post(f"{server['url']}/v1/predict", data={"min_confidence": "0.99"},
                          files={"file": ("short.wav", short_wav.read_bytes(), "audio/wav")}, timeout=60)
    assert response.status_code == 422 and "query string" in response.json()["detail"], response.text
    body = httpx.get(f"{server['url']}/openapi.json", timeout=30).json()["paths"]["/v1/predict"]["post"]["requestBody"]
    assert body["content"]["multipart/form-data"]["schema"]["properties"]["file"]["format"] == "binary"


# 400 -------------------------------------------------------------------------------------


# what each malformed form's 400 says, in the client's terms (python-multipart's own words
# were "Expected boundary character 111, got 88 at index 4" and the like)
MALFORMED_SAID = {
    "other_boundary": "not delimited by the boundary its Content-Type declares, 'not-the-boundary-of-the-body'",
    "huge_part_header": "a part's header line is longer than 8192 bytes",
    "long_file_name": "a part's header line is longer than 8192 bytes",
    "bare_cr_in_name": "a part's header line does not end with CRLF",
    "many_headers": "a part has more than 8 header lines",
    "no_disposition": "a part has no Content-Disposition header",
}


@pytest.mark.parametrize("case", ["no_file_part", "other_boundary", "bad_boundary", "no_boundary", "empty_body",
                                  "garbage", "unterminated", "huge_part_header", "long_file_name", "bare_cr_in_name",
                                  "many_headers", "no_disposition"])
def test_malformed_forms_get_400(server, short_wav, case):
    audio = short_wav.read_bytes()
    boundary, body = BOUNDARY, _form(b'filename="a.wav"', audio)
    if case == "no_file_part":
        body = (f"--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"song\"; filename=\"a.wav\"\r\n\r\n"
                ).encode() + audio + f"\r\n--{BOUNDARY}--\r\n".encode()
    elif case == "other_boundary":
        boundary = "not-the-boundary-of-the-body"
    elif case == "bad_boundary":
        boundary = "x" * 200
    elif case == "empty_body":
        body = b""
    elif case == "garbage":
        body = b"\x00\xff this is not a form at all \r\n\r\n--" * 10
    elif case == "unterminated":
        body = body[: len(body) // 2]
    elif case == "huge_part_header":  # within the form allowance, but one header line of 60 kB
        body = _form(b'filename="a.wav"; comment="' + b"x" * 60_000 + b'"', audio)
    elif case == "long_file_name":  # past genrekit's 8 KiB (python-multipart's own 4224 bytes said no figure)
        body = _form(b'filename="' + b"n" * 9000 + b'.wav"', audio)
    elif case == "bare_cr_in_name":
        body = _form(b'filename="a\rb.wav"', audio)
    elif case == "many_headers":
        body = body.replace(b"\r\nContent-Type: audio/wav", b"".join(b"\r\nX-%d: y" % i for i in range(9))
                            + b"\r\nContent-Type: audio/wav", 1)
    elif case == "no_disposition":
        body = f"--{BOUNDARY}\r\nContent-Type: audio/wav\r\n\r\n".encode() + audio + f"\r\n--{BOUNDARY}--\r\n".encode()
    headers = {"Content-Type": "multipart/form-data" if case == "no_boundary" else
               f"multipart/form-data; boundary={boundary}"}
    response = httpx.post(f"{server['url']}/v1/predict", content=body, headers=headers, timeout=60)
    assert response.status_code == 400, response.text
    assert response.headers["content-type"] == "application/json"
    assert isinstance(response.json()["detail"], str) and response.json()["detail"]
    assert MALFORMED_SAID.get(case, "") in response.json()["detail"], response.text
    _wait_until(lambda: not list(_uploads_folder(server).iterdir()), 5, "the refused upload to be removed")


# Headers and errors ------------------------------------------------------------------------


def _csp(value: str) -> dict[str, list[str]]:
    directives = {}
    for part in filter(None, (p.strip() for p in value.split(";"))):
        name, *sources = part.split()
        directives[name] = sources
    return directives


def test_security_headers_on_every_kind_of_response(server, short_wav):
    url = server["url"]
    responses = {
        "page": httpx.get(f"{url}/"), "health": httpx.get(f"{url}/healthz"), "model": httpx.get(f"{url}/v1/model"),
        "script": httpx.get(f"{url}/static/app.js"), "docs": httpx.get(f"{url}/docs"),
        "redoc": httpx.get(f"{url}/redoc"), "schema": httpx.get(f"{url}/openapi.json"),
        "missing": httpx.get(f"{url}/no/such/page"), "wrong_method": httpx.delete(f"{url}/v1/predict"),
        "refused": httpx.post(f"{url}/v1/predict", content=b"text", headers={"Content-Type": "text/plain"}),
        "predicted": httpx.post(f"{url}/v1/predict", files={"file": ("a.wav", short_wav.read_bytes(), "audio/wav")},
                                timeout=120),
    }
    assert responses["predicted"].status_code == 200, responses["predicted"].text
    for name, response in responses.items():
        headers = response.headers
        assert headers.get("x-content-type-options") == "nosniff", name
        assert headers.get("x-frame-options") == "DENY", name
        assert headers.get("referrer-policy") == "no-referrer", name
        assert headers.get("cross-origin-opener-policy") == "same-origin", name
        assert headers.get("cross-origin-resource-policy") == "same-origin", name
        csp = _csp(headers["content-security-policy"])
        assert csp["default-src"] == ["'self'"] and csp["object-src"] == ["'none'"], name
        assert csp["base-uri"] == ["'none'"] and csp["frame-ancestors"] == ["'none'"], name
        assert csp["form-action"] == ["'self'"] and csp["connect-src"] == ["'self'"], name
        for directive, sources in csp.items():
            for source in sources:  # nothing from elsewhere, nothing inline or evaluated
                assert re.fullmatch(r"'self'|'none'|blob:|data:|'nonce-[A-Za-z0-9_-]{16,}'|'sha256-[A-Za-z0-9+/]{43}='",
                                    source), (name, directive, source)
        if name not in ("page", "script", "docs", "redoc"):
            assert headers["content-type"] == "application/json", name
            assert headers.get("cache-control") == "no-store", name
    assert responses["predicted"].json()["genre"]
    # what uvicorn refuses before the service sees a request: plain text without these headers before
    # (h11's words say what was wrong: uvicorn's said "Invalid HTTP request received" of each)
    for head, words in ((b"GARBAGE\r\n\r\n", "malformed HTTP request: "),
                        (b"GET /healthz HTTP/1.1\r\n\r\n", "Missing mandatory Host: header"),
                        (b"POST /v1/predict HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: -5\r\n\r\n",
                         "bad Content-Length"),
                        (b"POST /v1/predict HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 10\r\n"
                         b"Content-Length: 20\r\n\r\n", "conflicting Content-Length headers")):
        answer = _raw(server, head, timeout=20)
        assert answer["status"] == 400 and answer["body"]["detail"].startswith("malformed HTTP request: "), head
        assert words in answer["body"]["detail"], answer["body"]
        assert answer["headers"]["x-content-type-options"] == "nosniff" and "content-security-policy" in answer["headers"]


def test_every_error_is_json_with_a_readable_detail(model_file, monkeypatch, short_wav):
    """An unexpected failure inside the service is a JSON 500 with the security headers, not
    Starlette's plain text; a bad query parameter a JSON 422 with a sentence, not a list."""
    from fastapi.testclient import TestClient

    from genrekit.server import app as service

    def broken(*args, **kwargs):
        raise RuntimeError("a bug in the analysis")

    monkeypatch.setattr(service, "predict_file", broken)
    with TestClient(service.create_app(model_file), raise_server_exceptions=False, base_url="http://localhost") as client:
        response = client.post("/v1/predict", files={"file": ("a.wav", short_wav.read_bytes(), "audio/wav")})
        assert response.status_code == 500
        assert response.headers["content-type"] == "application/json"
        assert "a.wav" in response.json()["detail"] and "internal error" in response.json()["detail"]
        assert response.headers["x-content-type-options"] == "nosniff"
        assert "frame-ancestors 'none'" in response.headers["content-security-policy"]
        for query in ("skip=ten", "skip=-1", "skip=nan"):
            response = client.post(f"/v1/predict?{query}", files={"file": ("a.wav", short_wav.read_bytes(),
                                                                           "audio/wav")})
            assert response.status_code == 422, query
            assert isinstance(response.json()["detail"], str) and "skip" in response.json()["detail"], query
        # a 30 kB value is not echoed whole (an audit, 2026-12-06): cut, with its length said
        response = client.post(f"/v1/predict?skip={'9' * 30_000}x", files={"file": ("a.wav", b"x", "audio/wav")})
        assert response.status_code == 422 and len(response.text) < 1000, len(response.text)
        assert "(30003 characters)" in response.json()["detail"], response.text


def test_a_model_error_in_the_analysis_names_the_model_by_its_id_not_its_place(model_file, monkeypatch, short_wav):
    """A ModelError while a model runs names its file; the answer gives the model's id
    (name and hash) instead of where the file sits on the server. The request was good and
    the service's model failed: a server error (500), not the client's (422)."""
    from fastapi.testclient import TestClient

    from genrekit.errors import ModelError
    from genrekit.server import app as service

    def failing(predictor, path, **kwargs):
        raise ModelError(f"{predictor.source}: onnxruntime failed on {path}")

    monkeypatch.setattr(service, "predict_file", failing)
    with TestClient(service.create_app(model_file), base_url="http://localhost") as client:
        response = client.post("/v1/predict", files={"file": ("a.wav", short_wav.read_bytes(), "audio/wav")})
        identity = client.get("/v1/model").json()["id"]
        assert client.get("/healthz").status_code == 200  # the service goes on
    assert response.status_code == 500
    detail = response.json()["detail"]
    assert detail.startswith(f"{identity}: onnxruntime failed on a.wav (") and str(model_file) not in detail
    assert "model failed" in detail


def test_a_model_file_whose_name_is_not_utf8_is_served(model_file, short_wav, tmp_path):
    """An audit (2026-12-06): every answer was a 500 (the model's id kept the name's undecodable
    bytes as surrogates, which JSON cannot encode); the bytes are now written as \\xff."""
    import shutil

    from fastapi.testclient import TestClient

    from genrekit.server import app as service

    odd = Path(os.fsdecode(os.path.join(os.fsencode(tmp_path), b"model-\xff\xfe.genrekit")))
    shutil.copy(model_file, odd)
    with TestClient(service.create_app(odd), base_url="http://localhost") as client:
        described, health = client.get("/v1/model"), client.get("/healthz")
        answered = client.post("/v1/predict", files={"file": ("a.wav", short_wav.read_bytes(), "audio/wav")})
    assert described.status_code == health.status_code == answered.status_code == 200, answered.text
    assert described.json()["id"].startswith("model-\\xff\\xfe.genrekit@")
    assert answered.json()["model_id"] == health.json()["model_id"] == described.json()["id"]


def test_wrong_methods_and_paths_get_sentences_and_the_docs_explain_the_parameters(model_file):
    """An audit (2026-12-06): GET /v1/predict answered {"detail": "Method Not Allowed"}, an
    unknown path "Not Found", /v1/predict/ a redirect naming this host's address (not a
    proxy's), and /docs gave skip and min_confidence no description, unit or default."""
    from fastapi.testclient import TestClient

    from genrekit.server import app as service

    with TestClient(service.create_app(model_file), base_url="http://localhost") as client:
        wrong = client.get("/v1/predict")
        assert wrong.status_code == 405 and wrong.json()["detail"] == (
            "GET /v1/predict: not allowed here; use POST with the song as the file part of a form, or as the body")
        refused = client.post("/healthz")
        assert refused.json()["detail"] == "POST /healthz: not allowed here; use GET, HEAD"
        assert refused.headers["allow"] == "GET, HEAD"  # HEAD is answered too (HeadAsGet)
        assert client.head("/healthz").status_code == 200
        missing = client.get("/nowhere%1b[31m")  # a path's escapes, decoded by the server, shown as escapes
        assert missing.status_code == 404 and missing.json()["detail"].startswith(
            "GET /nowhere\\x1b[31m: no such page here; the service answers GET / (its page), GET /v1/model, "
            "POST /v1/predict")
        slash = client.post("/v1/predict/", content=b"x", headers={"Content-Type": "audio/wav"},
                            follow_redirects=False)
        assert slash.status_code == 404 and "location" not in slash.headers
        parameters = {p["name"]: p for p in client.get("/openapi.json").json()["paths"]["/v1/predict"]["post"]
                      ["parameters"]}
    assert "default: the service's (10)" in parameters["skip"]["description"]
    assert "between 0 and 1" in parameters["min_confidence"]["description"]


# File names --------------------------------------------------------------------------------

NAMES = ["夜の音楽.wav", "🎸 riff ✨.wav", "intro – outro.wav", "café.wav", "Ελληνικά — 中文 😀.wav"]


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("encoding", ["utf-8", "rfc5987", "raw_body", "raw_body_rfc5987"])
def test_any_file_name_is_echoed_exactly(server, short_wav, name, encoding):
    audio = short_wav.read_bytes()
    if encoding == "utf-8":  # what browsers send: the name's UTF-8 bytes, quoted
        response = _post_form(server, _form(b'filename="' + name.encode() + b'"', audio))
    elif encoding == "rfc5987":
        response = _post_form(server, _form(b'filename="fallback.wav"; filename*=UTF-8\'\'' +
                                            quote(name).encode(), audio))
    elif encoding == "raw_body":
        response = httpx.post(f"{server['url']}/v1/predict", content=audio, timeout=120,
                              headers=[(b"Content-Type", b"audio/wav"), (b"X-Filename", name.encode())])
    else:
        response = httpx.post(f"{server['url']}/v1/predict", content=audio, timeout=120,
                              headers={"Content-Type": "audio/wav",
                                       "Content-Disposition": f"attachment; filename*=UTF-8''{quote(name)}"})
    assert response.status_code == 200, response.text
    assert response.json()["path"] == name


def test_a_latin1_file_name_is_echoed_exactly(server, short_wav):
    """Older clients send the name in ISO-8859-1: 'café' as b'caf\\xe9', not as invalid UTF-8 mojibake."""
    response = _post_form(server, _form('filename="café à la carte.wav"'.encode("latin-1"), short_wav.read_bytes()))
    assert response.status_code == 200, response.text
    assert response.json()["path"] == "café à la carte.wav"
    response = _post_form(server, _form(b"filename*=ISO-8859-1''caf%E9.wav", short_wav.read_bytes()))
    assert response.json()["path"] == "café.wav"
    response = httpx.post(f"{server['url']}/v1/predict", content=short_wav.read_bytes(), timeout=120,
                          headers=[(b"Content-Type", b"audio/wav"), (b"X-Filename", "façade.wav".encode("latin-1"))])
    assert response.json()["path"] == "façade.wav"


def test_a_file_name_with_a_path_or_control_characters_is_reduced_to_its_name(server, short_wav):
    for sent, echoed in [(b"../../etc/passwd.wav", "passwd.wav"), (b"C:\\\\Users\\\\me\\\\song.wav", "song.wav"),
                         (b"..\\\\..\\\\windows\\\\x.wav", "x.wav"),
                         (b"bad\x07name.wav", "bad\ufffdname.wav"),
                         ("x\u202evaw.exe".encode(), "x\ufffdvaw.exe")]:  # shown as "xexe.wav" if obeyed
        response = _post_form(server, _form(b'filename="' + sent + b'"', short_wav.read_bytes()))
        assert response.status_code == 200, response.text
        assert response.json()["path"] == echoed, sent
    # a 413 names the upload by its exact name too
    response = _post_form(server, _form('filename="大きい – file.wav"'.encode(), b"\0" * (2**20 + 10)))
    assert response.status_code == 413 and "大きい – file.wav" in response.json()["detail"], response.text


# Busy, slow and timed out ------------------------------------------------------------------


def test_503_when_every_worker_and_queue_place_is_taken(model_file, gtzan_mini, short_wav, tmp_path):
    """One worker and one queue place, each analysis 3 s (10 chunks, 0.3 s each): a third
    upload gets 503 at once, JSON; when they are done, uploads are served again."""
    server = _launch(model_file, tmp_path, {"workers": 1, "queue": 1, "timeout_seconds": 60}, delay=0.3)
    try:
        clip = _clip(gtzan_mini, "classical", 1).read_bytes()  # 30 s: ten 3 s chunks with skip=0
        with concurrent.futures.ThreadPoolExecutor(2) as pool:
            held = [pool.submit(httpx.post, f"{server['url']}/v1/predict?skip=0", timeout=60,
                                files={"file": (f"held{i}.wav", clip, "audio/wav")}) for i in range(2)]
            _wait_until(lambda: httpx.get(f"{server['url']}/healthz").json().get("queued") == 1, 10,
                        "one analysis running and one queued")
            started = time.monotonic()
            busy = httpx.post(f"{server['url']}/v1/predict", files={"file": ("a.wav", short_wav.read_bytes(),
                                                                            "audio/wav")}, timeout=60)
            assert busy.status_code == 503, busy.text
            assert time.monotonic() - started < 2, "the 503 was not immediate"
            assert "busy" in busy.json()["detail"] and busy.headers["retry-after"]
            assert [f.result().status_code for f in held] == [200, 200]
        again = httpx.post(f"{server['url']}/v1/predict", files={"file": ("a.wav", short_wav.read_bytes(),
                                                                         "audio/wav")}, timeout=60)
        assert again.status_code == 200, again.text
        assert not list(_uploads_folder(server).iterdir())
    finally:
        _stop(server)


def test_slow_uploads_get_408_and_hold_no_place_meanwhile(model_file, short_wav, tmp_path):
    """Two uploads at 10 bytes/s, one at 2 kB/s that never ends, and one sent in a burst
    then stalled, with one worker and one queue place: normal uploads are served all along;
    the slow ones get 408, by the minimum rate (after its grace period), by the deadline and
    by the stall (nothing for the grace period)."""
    limits = {"workers": 1, "queue": 1, "upload_seconds": 5, "min_upload_rate": 1000, "upload_grace_seconds": 2}
    server = _launch(model_file, tmp_path, limits)
    try:
        head = ("POST /v1/predict HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: audio/wav\r\n"
                "Content-Length: 1000000\r\n\r\n").encode()
        with concurrent.futures.ThreadPoolExecutor(4) as pool:
            trickles = [pool.submit(_raw, server, head, [b"R"] * 1000, 0.1) for _ in range(2)]
            steady = pool.submit(_raw, server, head, [b"S" * 200] * 1000, 0.1)
            # 100 s of the minimum rate sent at once, then nothing: a stall, not credit
            burst = pool.submit(_raw, server, head + b"B" * 100_000, [b"B"], 8.0)
            time.sleep(0.5)
            for _ in range(3):  # the slow uploads hold neither the worker nor the queue place
                response = httpx.post(f"{server['url']}/v1/predict", timeout=30,
                                      files={"file": ("a.wav", short_wav.read_bytes(), "audio/wav")})
                assert response.status_code == 200, response.text
            for trickle in trickles:
                result = trickle.result(timeout=30)
                assert result["status"] == 408, result
                assert "1000 bytes/s" in result["body"]["detail"]
                assert result["seconds"] < 4.5, result
            result = burst.result(timeout=30)
            assert result["status"] == 408 and "stalled: nothing arrived for 2" in result["body"]["detail"], result
            assert result["seconds"] < 4.5, result
            result = steady.result(timeout=30)
            assert result["status"] == 408, result
            assert "5 s" in result["body"]["detail"]
            assert 4.5 < result["seconds"] < 7.5, result
        _wait_until(lambda: not list(_uploads_folder(server).iterdir()), 5, "the slow uploads to be removed")
    finally:
        _stop(server)


def test_an_upload_grace_of_0_still_lets_an_upload_arrive():
    """--upload-grace-seconds 0 (which the options take) refused every real upload with 408
    before its first bytes could arrive: "0 bytes in 0.0 s, below the minimum". At least a
    second is given, as for a stall; a client sending nothing still gets its 408."""
    import asyncio

    from genrekit.server.upload import UploadRejected, timed_body

    async def arriving(pause: float, chunks: list[bytes]):
        queue = [{"type": "http.request", "body": chunk, "more_body": i < len(chunks) - 1}
                 for i, chunk in enumerate(chunks)]

        async def receive():
            await asyncio.sleep(pause)  # the network's time for each piece
            return queue.pop(0)

        return [data async for data in timed_body(receive, deadline=30, min_rate=10_000, grace=0)]

    assert asyncio.run(arriving(0.05, [b"a" * 5000, b"b" * 5000])) == [b"a" * 5000, b"b" * 5000]
    with pytest.raises(UploadRejected, match="stalled: nothing arrived for 1"):
        asyncio.run(arriving(5.0, [b"late"]))


def test_headers_sent_slowly_get_408_and_connections_beyond_the_cap_503(model_file, tmp_path):
    """Slowloris: a connection trickling its request line and headers a byte at a time gets
    408 at the header deadline (uvicorn waits for ever), and connections beyond the cap are
    answered 503 at once (uvicorn accepts until the process has no file descriptor left and
    then answers no one); once the idle ones are timed out, the service answers again."""
    server = _launch(model_file, tmp_path, {"header_seconds": 2.0, "max_connections": 20})
    try:
        trickle = _raw(server, b"G", [bytes([c]) for c in b"ET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n"], 0.4)
        assert trickle["status"] == 408 and "within 2 s" in trickle["body"]["detail"], trickle
        assert 1.5 < trickle["seconds"] < 4.0, trickle
        assert trickle["headers"]["content-security-policy"] and trickle["headers"]["cache-control"] == "no-store"
        # a body the service answered without reading, trickled a byte at a time, is not a way around it
        with socket.create_connection(("127.0.0.1", _port(server)), timeout=10) as sock:
            sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 100000\r\n\r\n")
            assert sock.recv(65536).startswith(b"HTTP/1.1 200")
            started, closed = time.monotonic(), False
            while time.monotonic() - started < 8 and not closed:
                try:
                    sock.sendall(b"x")
                    closed = bool(select.select([sock], [], [], 0.3)[0]) and not sock.recv(4096)
                except OSError:
                    closed = True
            assert closed and time.monotonic() - started < 4.0, "an unread body kept its connection open"
        idle = [socket.create_connection(("127.0.0.1", _port(server))) for _ in range(20)]
        try:
            refused = _raw(server, b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
            assert refused["status"] == 503 and refused["headers"]["retry-after"], refused
            assert "20 connections open already" in refused["body"]["detail"]
            time.sleep(2.5)  # the idle connections sent no request: the deadline closes them
            assert httpx.get(f"{server['url']}/healthz", timeout=10).status_code == 200
            assert all(sock.recv(4096).startswith(b"HTTP/1.1 408") for sock in idle)
        finally:
            for sock in idle:
                sock.close()
    finally:
        _stop(server)


def test_a_prediction_right_after_a_504_succeeds(model_file, short_wav, tmp_path):
    """A 60 s song analysed at 0.25 s a chunk against a 1.5 s timeout: 504, and the analysis
    really stops, so the next upload (one worker) is served at once; the timed-out upload
    stays on disk while the worker reads it and is removed after."""
    server = _launch(model_file, tmp_path, {"workers": 1, "queue": 1, "timeout_seconds": 1.5}, delay=0.25)
    try:
        warm = httpx.post(f"{server['url']}/v1/predict", timeout=60,  # the first analysis compiles the features
                          files={"file": ("warm.wav", short_wav.read_bytes(), "audio/wav")})
        assert warm.status_code in (200, 504), warm.text
        server["chunks"].write_text("")
        long_song = _noise_wav(tmp_path / "long.wav", 60.0, seed=1)
        response = httpx.post(f"{server['url']}/v1/predict?skip=0", timeout=60,
                              files={"file": ("long-song.wav", long_song.read_bytes(), "audio/wav")})
        assert response.status_code == 504, response.text
        assert "long-song.wav" in response.json()["detail"] and "1.5 s" in response.json()["detail"]
        started = time.monotonic()
        response = httpx.post(f"{server['url']}/v1/predict", timeout=60,
                              files={"file": ("short.wav", short_wav.read_bytes(), "audio/wav")})
        assert response.status_code == 200, response.text
        assert time.monotonic() - started < 1.5
        reads = server["chunks"].read_text().split("\n")
        long_reads = [line for line in reads if line and line.split()[1] != reads[-2].split()[1]]
        assert long_reads and all(line.startswith("True") for line in long_reads), reads
        assert len(long_reads) < 12, "the timed-out analysis went on"
        _wait_until(lambda: not list(_uploads_folder(server).iterdir()), 5, "the uploads to be removed")
    finally:
        _stop(server)


def test_a_real_analysis_past_the_timeout_is_stopped_and_the_next_song_served(model_file, short_wav, tmp_path):
    """Issue 16's case through `genrekit serve --timeout 2 --workers 1`, no test hooks: a
    10-minute song gets 504 and its analysis is stopped within a batch of chunks, so the
    short songs sent right after are analysed within the same 2 s timeout."""
    song = _noise_wav(tmp_path / "ten-minutes.wav", 600.0, seed=2)
    server = _start(model_file, tmp_path, "--timeout", "2", "--workers", "1", "--queue", "1", "--max-upload-mb", "30")
    try:
        # The first analysis compiles the feature kernels (seconds): it may time out, it warms up.
        httpx.post(f"{server['url']}/v1/predict", files={"file": ("warm.wav", short_wav.read_bytes(), "audio/wav")},
                   timeout=60)
        started = time.monotonic()
        response = httpx.post(f"{server['url']}/v1/predict", timeout=60,
                              files={"file": ("ten-minutes.wav", song.read_bytes(), "audio/wav")})
        assert response.status_code == 504, response.text
        assert "ten-minutes.wav" in response.json()["detail"], response.text  # naming the song and the limit
        assert "not done 2 s after its upload arrived" in response.json()["detail"], response.text
        assert time.monotonic() - started < 2 + 5 + 1  # the timeout, then at most the stop grace
        for _ in range(2):
            response = httpx.post(f"{server['url']}/v1/predict", timeout=60,
                                  files={"file": ("short.wav", short_wav.read_bytes(), "audio/wav")})
            assert response.status_code == 200, response.text
        health = httpx.get(f"{server['url']}/healthz")
        assert health.status_code == 200 and health.json()["analysing"] == 0
        assert not list(_uploads_folder(server).iterdir())
    finally:
        _stop(server)


def test_a_client_that_hangs_up_stops_its_analysis(model_file, gtzan_mini, short_wav, tmp_path):
    server = _launch(model_file, tmp_path, {"workers": 1, "queue": 0, "timeout_seconds": 60}, delay=0.3)
    try:
        clip = _clip(gtzan_mini, "classical", 1).read_bytes()
        with pytest.raises(httpx.TimeoutException):
            httpx.post(f"{server['url']}/v1/predict?skip=0", timeout=1.0,
                       files={"file": ("gone.wav", clip, "audio/wav")})
        _wait_until(lambda: httpx.get(f"{server['url']}/healthz").json().get("analysing") == 0, 3,
                    "the abandoned analysis to stop")
        response = httpx.post(f"{server['url']}/v1/predict", timeout=30,
                              files={"file": ("short.wav", short_wav.read_bytes(), "audio/wav")})
        assert response.status_code == 200, response.text
    finally:
        _stop(server)


# In the browser ----------------------------------------------------------------------------


def _chromium():
    return headless_chromium(window="1200,1400", console_log=True)


def _console_errors(driver) -> list:
    return [e for e in driver.get_log("browser") if e["level"] == "SEVERE" and "favicon" not in e["message"]]


def test_docs_and_redoc_render_in_chromium_under_the_csp(server):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    with _chromium() as driver:
        driver.get(server["url"] + "/docs")
        WebDriverWait(driver, 30).until(lambda d: d.find_elements(By.CSS_SELECTOR, ".opblock-summary-path"))
        paths = {e.text.replace("\u200b", "") for e in driver.find_elements(By.CSS_SELECTOR, ".opblock-summary-path")}
        assert {"/v1/predict", "/v1/model", "/healthz"} <= paths, paths
        driver.find_element(By.CSS_SELECTOR, ".opblock-post .opblock-summary").click()  # operations open
        WebDriverWait(driver, 10).until(lambda d: d.find_elements(By.CSS_SELECTOR, ".opblock-post .opblock-body"))
        assert "Content-Security-Policy" not in str(_console_errors(driver)), _console_errors(driver)
        assert not _console_errors(driver), _console_errors(driver)
        driver.save_screenshot(str(server["temp"] / "docs.png"))

        driver.get(server["url"] + "/redoc")
        WebDriverWait(driver, 30).until(lambda d: "/v1/predict" in d.find_element(By.TAG_NAME, "body").text)
        menu = driver.find_element(By.CSS_SELECTOR, ".menu-content")
        # styled-components' rules applied: the menu is a fixed-width side panel, not an unstyled list
        assert menu.value_of_css_property("display") == "flex" and 150 < menu.size["width"] < 400, menu.size
        assert driver.find_elements(By.CSS_SELECTOR, "h2") and "genrekit" in driver.title
        # The one complaint: ReDoc's logo from its CDN, which the CSP blocks (no request leaves).
        errors = _console_errors(driver)
        assert all("https://cdn.redoc.ly/" in e["message"] and "img-src" in e["message"] for e in errors), errors
        driver.save_screenshot(str(server["temp"] / "redoc.png"))


@contextlib.contextmanager
def _stripping_proxy(target: str):
    """A reverse proxy on 127.0.0.1 serving ``target`` under /genre/, stripping the prefix and
    saying nothing of it (no X-Forwarded-Prefix, the service has no --root-path)."""
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    class Strip(BaseHTTPRequestHandler):
        def forward(self):
            if not self.path.startswith("/genre/"):
                self.send_error(404)
                return
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            headers = {k: v for k, v in self.headers.items() if k.lower() not in ("host", "content-length")}
            answer = httpx.request(self.command, target + self.path[len("/genre"):], content=body, headers=headers,
                                   timeout=60)
            self.send_response(answer.status_code)
            for key, value in answer.headers.items():
                if key.lower() not in ("content-length", "content-encoding", "transfer-encoding", "connection"):
                    self.send_header(key, value)
            self.send_header("Content-Length", str(len(answer.content)))
            self.end_headers()
            self.wfile.write(answer.content)

        do_GET = do_POST = forward

        def log_message(self, *args):  # quiet
            pass

    proxy = ThreadingHTTPServer(("127.0.0.1", 0), Strip)
    thread = threading.Thread(target=proxy.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{proxy.server_address[1]}"
    finally:
        proxy.shutdown()
        proxy.server_close()


def test_try_it_out_works_behind_a_proxy_that_strips_a_sub_path(server):
    """Behind a proxy serving the service at /genre/ without saying so, the docs page loaded,
    but its "Try it out" asked the proxy's root (/v1/model), which answers 404 there."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    with _stripping_proxy(server["url"]) as proxy, _chromium() as driver:
        driver.get(proxy + "/genre/docs")
        WebDriverWait(driver, 30).until(lambda d: d.find_elements(By.CSS_SELECTOR, ".opblock-summary-path"))
        model = next(e for e in driver.find_elements(By.CSS_SELECTOR, ".opblock-get")
                     if e.find_element(By.CSS_SELECTOR, ".opblock-summary-path").text.replace("\u200b", "") == "/v1/model")
        model.find_element(By.CSS_SELECTOR, ".opblock-summary").click()
        WebDriverWait(driver, 10).until(lambda d: model.find_elements(By.CSS_SELECTOR, ".try-out__btn"))
        model.find_element(By.CSS_SELECTOR, ".try-out__btn").click()
        WebDriverWait(driver, 10).until(lambda d: model.find_elements(By.CSS_SELECTOR, ".execute"))
        model.find_element(By.CSS_SELECTOR, ".execute").click()
        WebDriverWait(driver, 30).until(lambda d: model.find_elements(By.CSS_SELECTOR, ".request-url"))
        asked = model.find_element(By.CSS_SELECTOR, ".request-url").text.split()[-1]  # under its "Request URL"
        status = model.find_element(By.CSS_SELECTOR, ".live-responses-table tbody .response-col_status").text.strip()
        assert asked == proxy + "/genre/v1/model" and status.startswith("200"), (asked, status)


def test_the_page_echoes_a_unicode_name_and_explains_a_non_json_error(server, short_wav, tmp_path):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions
    from selenium.webdriver.support.ui import WebDriverWait

    song = tmp_path / "夜の音楽 – café.wav"
    shutil.copy(short_wav, song)
    with _chromium() as driver:
        driver.get(server["url"] + "/")
        WebDriverWait(driver, 30).until(expected_conditions.text_to_be_present_in_element((By.ID, "model"), "genres"))
        driver.find_element(By.ID, "file").send_keys(str(song))
        WebDriverWait(driver, 60).until(expected_conditions.visibility_of_element_located((By.ID, "result")))
        assert driver.find_element(By.ID, "status").text.startswith("夜の音楽 – café.wav:")
        # A proxy in front of the service, or a crash, answers in plain text: the page says so.
        # (The page uploads with XMLHttpRequest, for its progress: the stand-in answers 502.)
        driver.execute_script("""window.XMLHttpRequest = class extends EventTarget {
            constructor() { super(); this.upload = new EventTarget(); this.status = 0; }
            open() {}
            abort() {}
            getResponseHeader(name) { return name.toLowerCase() === 'content-type' ? 'text/plain' : null; }
            send() {
              setTimeout(() => {
                this.upload.dispatchEvent(new ProgressEvent('load'));
                Object.assign(this, {status: 502, statusText: 'Bad Gateway', responseText: 'Internal Server Error'});
                this.dispatchEvent(new ProgressEvent('load'));
              }, 0);
            }
          };""")
        driver.find_element(By.ID, "file").send_keys(str(short_wav))
        WebDriverWait(driver, 30).until(expected_conditions.text_to_be_present_in_element((By.ID, "status"), "502"))
        status = driver.find_element(By.ID, "status").text
        assert "Internal Server Error" in status and "SyntaxError" not in status and "short.wav" in status, status
        assert not _console_errors(driver), _console_errors(driver)


def test_the_pages_cancel_stops_the_services_analysis_and_the_next_song_is_served(model_file, gtzan_mini, short_wav,
                                                                                 tmp_path):
    """The page's Cancel, pressed while a real (slowed) analysis runs, aborts the request: the
    service stops that analysis (its only worker is free again), and the next song picked on
    the page, the same one included, is analysed."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions
    from selenium.webdriver.support.ui import WebDriverWait

    server = _launch(model_file, tmp_path, {"workers": 1, "queue": 0, "timeout_seconds": 60}, delay=1.0)
    try:
        with _chromium() as driver:
            driver.get(server["url"] + "/")
            WebDriverWait(driver, 30).until(expected_conditions.text_to_be_present_in_element((By.ID, "model"),
                                                                                              "genres"))
            driver.find_element(By.ID, "file").send_keys(str(_clip(gtzan_mini, "classical", 1)))
            WebDriverWait(driver, 30).until(expected_conditions.text_to_be_present_in_element((By.ID, "status"),
                                                                                              "Analysing"))
            _wait_until(lambda: httpx.get(f"{server['url']}/healthz").json().get("analysing") == 1, 10,
                        "the analysis to start")
            driver.find_element(By.ID, "cancel").click()
            assert driver.find_element(By.ID, "status").text.startswith("Cancelled: classical.00001")
            _wait_until(lambda: httpx.get(f"{server['url']}/healthz").json().get("analysing") == 0, 5,
                        "the cancelled analysis to stop")
            for _ in range(2):  # short.wav, then the same file again
                driver.find_element(By.ID, "file").send_keys(str(short_wav))
                WebDriverWait(driver, 30).until(expected_conditions.text_to_be_present_in_element(
                    (By.ID, "status"), "short.wav: "))
                assert "with sound, analysed in" in driver.find_element(By.ID, "status").text
                assert driver.find_element(By.ID, "result").is_displayed()
                driver.execute_script("document.getElementById('status').textContent = '';")
            assert not _console_errors(driver), _console_errors(driver)
    finally:
        _stop(server)

def test_head_is_answered_wherever_get_is(server):
    """Monitors and link checkers ask HEAD: it was 405 on every route but /static."""
    url = server["url"]
    for path in ("/", "/healthz", "/v1/model", "/docs", "/redoc", "/static/app.js"):
        got, head = httpx.get(f"{url}{path}"), httpx.head(f"{url}{path}")
        assert head.status_code == got.status_code == 200, path
        assert head.content == b"" and head.headers["content-type"] == got.headers["content-type"], path
        assert head.headers["x-frame-options"] == "DENY", path
    assert httpx.head(f"{url}/v1/predict").status_code == 405


@pytest.mark.parametrize("limits", [{"max_upload_mb": float("inf")}, {"timeout_seconds": float("nan")},
                                    {"skip": -1.0}, {"skip": float("nan")}, {"workers": 2.5}, {"workers": True},
                                    {"queue": -1}, {"receiving": 0}, {"max_minutes": "60"}])
def test_service_limits_refuse_values_that_would_break_every_request(limits):
    """An infinite upload limit made every request a 500, a negative skip every request a 422
    blaming the client; the library now refuses them as the CLI does, naming the parameter."""
    from genrekit.errors import ParameterError
    from genrekit.server import ServiceLimits

    name = next(iter(limits))
    with pytest.raises(ParameterError, match=rf"^{name}="):
        ServiceLimits(**limits)


def test_the_page_works_under_a_proxys_sub_path(model_file):
    """Behind a proxy serving the service at /genre/, the page's and the docs pages' files,
    links and API calls are relative (they named /static/..., /v1/... and /openapi.json,
    which miss there)."""
    from fastapi.testclient import TestClient

    from genrekit.server import create_app

    with TestClient(create_app(model_file), base_url="http://localhost") as client:  # a proxy that strips /genre/ says nothing of it
        page, docs, redoc = (client.get(path).text for path in ("/", "/docs", "/redoc"))
        script = client.get("/static/app.js").text
    addresses = re.findall(r'(?:href|src|data-openapi-url)="([^"]+)"', page + docs + redoc) \
        + re.findall(r'(?:fetch\(|\.open\("POST", )"([^"]+)"', script)
    assert {"static/app.js", "static/style.css", "docs", "v1/model", "v1/predict", "openapi.json",
            "static-offline-docs/swagger-ui-bundle.js", "static/redoc-init.js"} <= set(addresses), addresses
    assert not [a for a in addresses if a.startswith("/")], addresses


def test_a_service_removes_the_uploads_that_a_killed_one_left(model_file, tmp_path, monkeypatch):
    """A service killed mid-upload (kill -9) leaves its upload folder; the next one to start
    removes folders named after processes that have ended, and no other."""
    import subprocess

    from fastapi.testclient import TestClient

    from genrekit.server import create_app

    ended = subprocess.Popen([sys.executable, "-c", "pass"])
    ended.wait()
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    stale = tmp_path / f"genrekit-uploads-{ended.pid}-abc123"
    stale.mkdir()
    (stale / "half.wav").write_bytes(b"RIFF" + bytes(900))
    alive = tmp_path / f"genrekit-uploads-{os.getpid()}-def456"  # a running service's (this process)
    alive.mkdir()
    others = [tmp_path / "genrekit-uploads-x1y2z3", tmp_path / f"genrekit-uploads-{ended.pid}"]  # old names, not ours
    for folder in others:
        folder.mkdir()
    with TestClient(create_app(model_file)):
        assert not stale.exists() and alive.exists() and all(f.exists() for f in others)
        assert len(list(tmp_path.glob(f"genrekit-uploads-{os.getpid()}-*"))) == 2  # its own, and the live one's


def test_a_multipart_body_is_parsed_off_the_event_loop(tmp_path, monkeypatch):
    """python-multipart walks bytes near a boundary one by one in Python: a crafted 50 MB body
    (a one-letter boundary's near-matches, repeated) held the event loop 8-10 s, and no other
    request was answered meanwhile. Each piece is now parsed in a worker thread."""
    import asyncio
    import threading

    from genrekit.server import upload

    threads = []
    real = upload.MultipartParser.write

    def write(self, data):
        threads.append(threading.current_thread())
        return real(self, data)

    monkeypatch.setattr(upload.MultipartParser, "write", write)
    head = b'--X\r\nContent-Disposition: form-data; name="file"; filename="a.wav"\r\nContent-Type: audio/wav\r\n\r\n'
    body = head + b"\r\n--X\x00" * 20_000 + b"\r\n--X--\r\n"

    async def pieces():
        for i in range(0, len(body), 16384):
            yield body[i:i + 16384]

    async def receive():
        loop_thread = threading.current_thread()
        received = await upload.receive_upload("multipart/form-data; boundary=X", pieces(), tmp_path,
                                               limit=2**20, limit_text="1 MB")
        return loop_thread, received

    loop_thread, received = asyncio.run(receive())
    assert received.size == 20_000 * 6 and received.filename == "a.wav"
    assert threads and loop_thread not in threads


def test_a_504_says_whether_the_song_was_analysed_or_never_reached_a_worker(model_file, gtzan_mini, tmp_path):
    """One worker, 1 s timeout, each chunk 3 s (the first song's worker lets go at its next
    chunk, 2 s after the second song's deadline): the first song's analysis is stopped; the
    second, queued behind it, never started, and its 504 said its analysis had taken too long."""
    server = _launch(model_file, tmp_path, {"workers": 1, "queue": 1, "timeout_seconds": 1.0}, delay=3.0)
    try:
        clip = _clip(gtzan_mini, "classical", 1).read_bytes()
        with concurrent.futures.ThreadPoolExecutor(2) as pool:
            first = pool.submit(httpx.post, f"{server['url']}/v1/predict?skip=0", timeout=60,
                                files={"file": ("first.wav", clip, "audio/wav")})
            _wait_until(lambda: httpx.get(f"{server['url']}/healthz").json().get("analysing") == 1, 10,
                        "the first song in analysis")
            second = pool.submit(httpx.post, f"{server['url']}/v1/predict?skip=0", timeout=60,
                                 files={"file": ("second.wav", clip, "audio/wav")})
            answers = first.result(), second.result()
        assert [a.status_code for a in answers] == [504, 504], [a.text for a in answers]
        assert re.fullmatch(r"first\.wav: not done 1 s after its upload arrived \(0\.[0-2] s waiting for a worker, "
                            r"then (0\.[89]|1\.0) s analysing\), and was stopped", answers[0].json()["detail"]), answers[0].text
        assert "waited 1 s for a free worker and was not analysed" in answers[1].json()["detail"]
    finally:
        _stop(server)


def test_a_service_on_loopback_answers_only_to_loopback_names_and_the_allowed_ones(model_file, tmp_path):
    """Listening on 127.0.0.1, the service answered any Host: a page elsewhere whose name is
    made to resolve to 127.0.0.1 (DNS rebinding) could read its answers as its own (a review,
    2026-12-04). Other names get a JSON 400 naming --allowed-host; a proxy's name is allowed by it."""
    server = _start(model_file, tmp_path, "--allowed-host", "genre.example.org")
    try:
        def ask(host: str) -> dict:
            return _raw(server, f"GET /v1/model HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n".encode())

        port = _port(server)
        for host in (f"127.0.0.1:{port}", f"localhost:{port}", f"[::1]:{port}", "genre.example.org",
                     f"GENRE.example.org:{port}"):
            assert ask(host)["status"] == 200, host
        refused = ask(f"rebound.attacker.example:{port}")
        assert refused["status"] == 400 and refused["headers"]["x-frame-options"] == "DENY"
        assert "Host 'rebound.attacker.example:" in refused["body"]["detail"]
        assert "--allowed-host rebound.attacker.example" in refused["body"]["detail"]
        odd = ask("[::1")  # no name to suggest (it suggested "--allowed-host [:")
        assert odd["status"] == 400 and "--allowed-host NAME" in odd["body"]["detail"], odd
    finally:
        _stop(server)


def test_a_full_disk_refuses_the_upload_with_507_and_leaves_no_partial_file(tmp_path, monkeypatch):
    """Closing the partial file raised ENOSPC again (its flush), so its removal was never
    reached: the leftovers kept the disk full and every later upload failed with a 500."""
    import asyncio
    import errno
    import io

    from genrekit.server import upload

    class FullDisk(io.BufferedWriter):
        def write(self, data):  # the first bytes fit in the buffer; the disk fills after them
            if self.tell() + len(data) > 4096:
                raise OSError(errno.ENOSPC, "No space left on device")
            return super().write(data)

        def close(self):
            if not self.closed:
                super().close()
                raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(upload.os, "fdopen", lambda fd, mode: FullDisk(io.FileIO(fd, "w")))
    audio = bytes(64 * 1024)

    async def pieces(data):
        for i in range(0, len(data), 1024):
            yield data[i:i + 1024]

    form = (b'--X\r\nContent-Disposition: form-data; name="file"; filename="a.wav"\r\nContent-Type: audio/wav\r\n\r\n'
            + audio + b"\r\n--X--\r\n")
    for content_type, body in (("multipart/form-data; boundary=X", form), ("audio/wav", audio)):
        with pytest.raises(upload.UploadRejected) as refused:
            asyncio.run(upload.receive_upload(content_type, pieces(body), tmp_path, limit=2**20, filename="a.wav"))
        assert refused.value.status == 507 and "disk is full" in refused.value.message, refused.value.message
        assert list(tmp_path.iterdir()) == [], content_type


@pytest.mark.parametrize("stops", [[signal.SIGINT], [signal.SIGTERM], [signal.SIGHUP], [signal.SIGINT, signal.SIGINT]],
                         ids=["INT", "TERM", "HUP", "INT-twice"])
def test_a_service_stops_within_its_grace_period_whatever_uploads_are_in_flight(model_file, tmp_path, stops):
    """A slow but steady upload held a stopping service until it finished (39 s in a review);
    SIGHUP (its terminal closed) stopped it without its clean-up. The upload still arriving
    and the analysis still running are answered 503 in JSON before the grace ends (uvicorn's
    own cancellation answered a bare "Internal Server Error"). A second Ctrl+C left them to
    asyncio's final cancellation: a traceback for each and one for the clean-up, a bare 500,
    the uploads left behind; it now answers them at once, without waiting for the grace."""
    from genrekit.server.app import SHUTDOWN_GRACE_SECONDS, STOP_BEFORE_GRACE_ENDS

    # TERM and a second Ctrl+C with the service's own 10 s grace; INT and HUP, the same steps in a 5 s one
    grace = STOP_BEFORE_GRACE_ENDS + 2.0 if stops in ([signal.SIGINT], [signal.SIGHUP]) else SHUTDOWN_GRACE_SECONDS
    # each chunk a second late: a 60 s song takes longer than the grace
    server = _launch(model_file, tmp_path, {"upload_seconds": 300, "min_upload_rate": 100,
                                            "shutdown_grace_seconds": grace}, delay=1.0)
    head = ("POST /v1/predict HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: audio/wav\r\n"
            "Content-Length: 1000000\r\n\r\n").encode()
    song = _noise_wav(tmp_path / "long.wav", 60.0, seed=2)
    try:
        with concurrent.futures.ThreadPoolExecutor(2) as pool:
            analysed = pool.submit(httpx.post, f"{server['url']}/v1/predict?skip=0", timeout=60,
                                   files={"file": ("long.wav", song.read_bytes(), "audio/wav")})
            _wait_until(lambda: server["chunks"].read_text(), 30, "the analysis to start")
            upload = pool.submit(_raw_until_closed, server, head, b"S" * 400, 0.2)
            _wait_until(lambda: len(list(_uploads_folder(server).iterdir())) == 2, 10, "the upload to start")
            started = time.monotonic()
            folder = _uploads_folder(server)
            for stop in stops:
                server["process"].send_signal(stop)
                time.sleep(0.3)  # the second after the first is handled: uvicorn's "force quit"
            # 0, or (serve() called bare, as here) the signal again once uvicorn has shut down
            assert server["process"].wait(timeout=grace + 20) in (0, -stops[0])
            waited = grace + 5 if len(stops) == 1 else grace  # twice: no grace
            assert time.monotonic() - started < waited
            assert not folder.exists(), "the service's clean-up did not run"
            answer = upload.result(timeout=30)
            assert answer.startswith(b"HTTP/1.1 503") and b'"the service is stopping' in answer, answer[:300]
            stopped = analysed.result(timeout=30)
            assert stopped.status_code == 503 and stopped.headers["retry-after"], stopped.text
            assert stopped.json()["detail"].startswith("long.wav: the service is stopping and did not analyse it")
    finally:
        _stop(server)
    log = (tmp_path / "server.log").read_text()
    assert "Traceback" not in log and "CancelledError" not in log, log


def _raw_until_closed(server: dict, head: bytes, piece: bytes, pause: float) -> bytes:
    """Send ``head``, then ``piece`` every ``pause`` s until the server answers or closes the
    connection; what it answered."""
    with socket.create_connection(("127.0.0.1", _port(server)), timeout=60) as sock:
        sock.sendall(head)
        for _ in range(3000):
            if select.select([sock], [], [], pause)[0]:
                break
            try:
                sock.sendall(piece)
            except OSError:
                break
        answer = b""
        with contextlib.suppress(OSError):
            while chunk := sock.recv(65536):
                answer += chunk
        return answer


def test_an_upload_sent_by_a_page_of_another_site_is_refused(server, short_wav):
    """A page elsewhere could make its visitors' browsers upload to a service on their machine
    (it could not read the answers, but it spent the workers). Programs, and the service's own
    page, are answered."""
    url = f"{server['url']}/v1/predict"
    own = server["url"].removeprefix("http://")

    def post(**headers):
        return httpx.post(url, headers=headers, timeout=60,
                          files={"file": ("a.wav", short_wav.read_bytes(), "audio/wav")})

    for headers in ({"Sec-Fetch-Site": "cross-site", "Origin": "https://evil.example"},
                    {"Sec-Fetch-Site": "same-site"}, {"Origin": "https://evil.example"}, {"Origin": "null"},
                    {"Origin": "http://[::1"}, {"Origin": "http://]x["}):  # no URL: urlsplit's ValueError was a 500
        refused = post(**headers)
        assert refused.status_code == 403, (headers, refused.text)
        assert "another site" in refused.json()["detail"] and "content-security-policy" in refused.headers
    proxied = post(Origin="http://music.lan")  # a proxy that rewrites Host, its own name not given to the service
    assert proxied.status_code == 403 and "--allowed-host" in proxied.json()["detail"]
    # plain HTTP to a proxy's name: browsers send no Sec-Fetch-Site there, only Origin, whose
    # port a proxy may drop from Host; two proxies list two names
    for headers in ({}, {"Sec-Fetch-Site": "same-origin", "Origin": f"http://{own}"}, {"Sec-Fetch-Site": "none"},
                    {"Origin": f"http://{own}"}, {"Origin": "https://public.example", "X-Forwarded-Host": "public.example"},
                    {"Origin": "http://public.example:8080", "X-Forwarded-Host": "edge.example, public.example"},
                    {"Origin": "http://localhost:1"}):
        answered = post(**headers)
        assert answered.status_code == 200, (headers, answered.text)
    assert httpx.get(f"{server['url']}/healthz", headers={"Sec-Fetch-Site": "cross-site"}).status_code == 200


# Requests the service would have taken otherwise than meant (a user review) ------------------


def test_an_unknown_or_repeated_query_parameter_is_refused_naming_the_ones_taken(server, short_wav):
    """?min_confidance=0.999 (misspelt) was ignored: a 200 with no threshold applied, as if
    none had been asked. Refused before the body is read, naming the parameters /v1/predict
    takes (as its OpenAPI schema lists them)."""
    url = f"{server['url']}/v1/predict"
    operation = httpx.get(f"{server['url']}/openapi.json", timeout=30).json()["paths"]["/v1/predict"]["post"]
    taken = sorted(p["name"] for p in operation["parameters"] if p["in"] == "query")
    assert taken == ["min_confidence", "skip"]

    def post(query: str):
        return httpx.post(f"{url}?{query}", timeout=60, files={"file": ("a.wav", short_wav.read_bytes(), "audio/wav")})

    refused = post("min_confidance=0.999")
    assert refused.status_code == 422 and refused.headers.get("connection") == "close", refused.text
    detail = refused.json()["detail"]
    assert detail.startswith("query parameter 'min_confidance': ") and "did you mean min_confidence?" in detail, detail
    assert all(name in detail for name in taken), detail
    for query, words in (("skip=0&verbose=1", "'verbose'"), ("file=a.wav", "'file'"), ("skip=1&skip=2", "2 times")):
        refused = post(query)
        assert refused.status_code == 422 and words in refused.json()["detail"], (query, refused.text)
    assert post("skip=0&min_confidence=0.5").status_code == 200
    assert not list(_uploads_folder(server).iterdir())


@pytest.mark.parametrize("case", ["two_files", "file_then_other_file", "file_in_another_part", "other_field"])
def test_a_form_is_refused_unless_the_audio_is_its_one_part(server, short_wav, case):
    """-F file=@a.wav -F file=@b.flac gave a.wav's answer, b.flac silently dropped; a form
    field other than `file` (a misspelt parameter) was ignored too."""
    audio = short_wav.read_bytes()
    first = ("file", ("a.wav", audio, "audio/wav"))
    parts, data, status, words = {
        "two_files": ([first, ("file", ("b.flac", audio, "audio/flac"))], None, 400,
                      ["one file per request: form part 'file' holds a second file (b.flac) after a.wav",
                       "send one request per song"]),
        "file_then_other_file": ([first, ("cover", ("c.jpg", b"\xff\xd8", "image/jpeg"))], None, 400,
                                 ["one file per request: form part 'cover'", "one request per song"]),
        "file_in_another_part": ([("song", ("a.wav", audio, "audio/wav"))], None, 400,
                                 ["a.wav: form part 'song' holds a file", "part named 'file' (-F file=@song.flac)"]),
        "other_field": ([first], {"min_confidance": "0.99"}, 422,
                        ["form field 'min_confidance'", "one part, 'file'", "skip, min_confidence", "query string"]),
    }[case]
    response = httpx.post(f"{server['url']}/v1/predict", files=parts, data=data, timeout=60)
    assert response.status_code == status, response.text
    assert all(word in response.json()["detail"] for word in words), response.json()["detail"]
    _wait_until(lambda: not list(_uploads_folder(server).iterdir()), 5, "the refused upload to be removed")


def test_a_raw_body_of_another_content_type_is_told_which_types_are_taken_and_how(server, short_wav, tmp_path):
    """curl --data-binary @song.flac sends application/x-www-form-urlencoded: the 415 said
    "expected an audio file (audio/*)", though octet-stream and video/* are taken too, and not
    how to send it. Every type the message names is taken (a raw body and a form part alike),
    and the OpenAPI schema lists the same."""
    import asyncio

    from genrekit.server import upload

    audio = short_wav.read_bytes()
    response = httpx.post(f"{server['url']}/v1/predict", content=audio, timeout=60,
                          headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert response.status_code == 415, response.text
    detail = response.json()["detail"]
    assert detail.startswith("the upload: content type 'application/x-www-form-urlencoded' (what curl "
                             "--data-binary sends unless told otherwise) is not accepted"), detail
    assert ("Content-Type audio/*, video/*, application/octet-stream, binary/octet-stream or application/ogg (or "
            "none), or as the part 'file' of a multipart/form-data body") in detail, detail
    assert "-H 'Content-Type: audio/flac'" in detail and "send it as a form: -F file=@song.flac" in detail, detail
    content = httpx.get(f"{server['url']}/openapi.json", timeout=30).json()["paths"]["/v1/predict"]["post"][
        "requestBody"]["content"]
    assert set(content) == {"multipart/form-data", *upload.ACCEPTED_TYPES}

    async def pieces(data):
        yield data

    def receive(content_type: str, body: bytes = audio, filename: str = ""):
        try:
            return asyncio.run(upload.receive_upload(content_type, pieces(body), tmp_path, limit=2**20,
                                                     filename=filename))
        except upload.UploadRejected as refused:
            return refused

    def form(part_type: str) -> tuple[str, bytes]:
        return "multipart/form-data; boundary=X", (
            b'--X\r\nContent-Disposition: form-data; name="file"; filename="a.wav"\r\nContent-Type: '
            + part_type.encode() + b"\r\n\r\n" + audio + b"\r\n--X--\r\n")

    for accepted in upload.ACCEPTED_TYPES:
        assert accepted in detail
        for kind in ((accepted.replace("*", "flac"), accepted.replace("*", "ogg")) if "*" in accepted else (accepted,)):
            for received in (receive(kind), receive(*form(kind))):
                assert isinstance(received, upload.Upload), (kind, received)
                received.path.unlink()
    assert isinstance(nameless := receive(""), upload.Upload)  # no Content-Type: taken as audio
    nameless.path.unlink()
    for refused_type in ("text/plain", "image/png", "application/json"):
        refused = receive(refused_type, filename="notes.txt")
        assert refused.status == 415 and refused.message.startswith(f"notes.txt: content type '{refused_type}' is "
                                                                     "not accepted: "), refused.message
        assert "(what curl" not in refused.message
        refused = receive(*form(refused_type))
        assert refused.status == 415 and (f"a.wav: form part 'file' has content type '{refused_type}', which is not "
                                          "accepted: the audio's part must be audio/*, video/*,") in refused.message
        assert "-F 'file=@song.flac;type=audio/flac'" in refused.message, refused.message
    assert list(tmp_path.iterdir()) == []


def test_an_unnamed_upload_is_named_once_in_a_refusal(server, tmp_path, monkeypatch):
    """An oversized chunked raw body got "the upload: the upload is larger than the limit of
    50 MB": the file's name, or the upload said once."""
    import asyncio
    import errno

    from genrekit.server import upload

    head = (b"POST /v1/predict HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: audio/wav\r\n"
            b"Transfer-Encoding: chunked\r\n\r\n")
    response = _raw(server, head, _chunked([bytes(64 * 1024)] * 24), pause=0.01)  # 1.5 MB against 1 MB
    assert response["status"] == 413, response
    assert response["body"]["detail"] == "the upload is larger than the limit of 1 MB (1048576 bytes)"

    async def pieces(data):
        yield data

    def refusal(content_type: str, body: bytes, filename: str = "") -> str:
        with pytest.raises(upload.UploadRejected) as refused:
            asyncio.run(upload.receive_upload(content_type, pieces(body), tmp_path, limit=1024, limit_text="1 kB",
                                              filename=filename))
        return refused.value.message

    def form(disposition: bytes, audio: bytes) -> bytes:
        return (b'--X\r\nContent-Disposition: form-data; name="file"' + disposition
                + b"\r\nContent-Type: audio/wav\r\n\r\n" + audio + b"\r\n--X--\r\n")

    big, multipart = bytes(4096), "multipart/form-data; boundary=X"
    assert refusal("audio/wav", big) == "the upload is larger than the limit of 1 kB"
    assert refusal("audio/wav", big, "big.wav") == "big.wav: the upload is larger than the limit of 1 kB"
    assert refusal(multipart, form(b"", big)) == "the upload is larger than the limit of 1 kB"
    named = refusal(multipart, form(b'; filename="big.wav"', big))
    assert named == "big.wav: the upload is larger than the limit of 1 kB"
    assert refusal("audio/wav", b"") == "the upload is empty (0 bytes)"
    assert refusal(multipart, form(b'; filename="a.wav"', b"")) == "a.wav: the upload is empty (0 bytes)"

    def full_disk(fd, mode):
        os.close(fd)
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(upload.os, "fdopen", full_disk)
    assert refusal("audio/wav", b"RIFF") == "the service cannot store the upload: its disk is full; try again later"
    assert list(tmp_path.iterdir()) == []


# The Python API's app ----------------------------------------------------------------------

def test_the_python_apps_defaults_are_the_services(model_file, short_wav, tmp_path, monkeypatch):
    """create_app is what the README's Python recipe runs: it answered any Host (DNS
    rebinding), answered 500 to everything where its lifespan did not run (mounted in another
    app), and refused every upload once a /tmp cleaner removed its upload folder; a gzip
    Content-Encoding was ignored, its bytes handed to the decoder."""
    from fastapi import FastAPI
    from fastapi.testclient import TestClient

    from genrekit.server import create_app

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    song = {"file": ("a.wav", short_wav.read_bytes(), "audio/wav")}
    app = create_app(model_file)
    with TestClient(app, base_url="http://evil.example") as client:
        refused = client.get("/v1/model")
        assert refused.status_code == 400 and "allowed_hosts= in Python" in refused.json()["detail"]
    with TestClient(create_app(model_file, allowed_hosts=None), base_url="http://evil.example") as client:
        assert client.get("/v1/model").status_code == 200  # None: any Host, behind a proxy that checks it
    # a name given with its port, as a proxy's Host holds it: ports aside, as the Host is read (an audit,
    # 2026-12-06: it never matched, and its refusal listed "proxy.example:8080" as allowed)
    proxied = create_app(model_file, allowed_hosts=["localhost", "proxy.example:8080", "[::1]"])
    for base in ("http://proxy.example:8080", "http://proxy.example", "http://[::1]:8765"):
        with TestClient(proxied, base_url=base) as client:
            assert client.get("/healthz").status_code == 200, base
    parent = FastAPI()
    parent.mount("/genre", create_app(model_file))  # Starlette runs no lifespan of a mounted app
    with TestClient(parent, base_url="http://localhost") as client:
        assert client.get("/genre/healthz").json()["status"] == "ok"
        assert client.post("/genre/v1/predict", files=song).status_code == 200
    loose = TestClient(create_app(model_file), base_url="http://localhost")  # no lifespan, a loop per request
    assert [loose.post("/v1/predict", files=song).status_code for _ in range(2)] == [200, 200]
    with TestClient(app, base_url="http://localhost") as client:
        for folder in tmp_path.glob(f"genrekit-uploads-{os.getpid()}-*"):
            shutil.rmtree(folder)  # as systemd-tmpfiles does to an idle service's
        answer = client.post("/v1/predict", files=song)
        assert answer.status_code == 200, answer.json()
        assert len(list(tmp_path.glob(f"genrekit-uploads-{os.getpid()}-*"))) == 1  # a new private folder
        gzipped = client.post("/v1/predict", content=short_wav.read_bytes(),
                              headers={"Content-Type": "audio/wav", "Content-Encoding": "gzip"})
        assert gzipped.status_code == 415 and "Content-Encoding 'gzip' is not accepted" in gzipped.json()["detail"]


def test_the_banner_gives_an_ipv6_address_as_a_url_does(monkeypatch, model_file):
    """`serve --host ::1` printed http://::1:8000/, which no browser opens."""
    from typer.testing import CliRunner

    from genrekit import server
    from genrekit.cli.main import app

    monkeypatch.setattr(server, "serve", lambda *args, on_loaded, **kwargs: on_loaded())
    result = CliRunner().invoke(app, ["serve", "--model", str(model_file), "--host", "::1", "--port", "8123"])
    assert "http://[::1]:8123/" in result.output, result.output


def test_a_content_length_int_refuses_and_a_websocket_to_another_host_are_refused_by_the_app(model_file):
    """A review (2026-12-07), for the app mounted behind a server that passes on what uvicorn's
    h11 refuses: ``Content-Length: ²`` (a digit to str.isdigit) and one of 5000 digits (past
    int()'s limit) were 500s; a WebSocket upgrade skipped the Host check."""
    import asyncio

    from genrekit.server import create_app

    app = create_app(model_file)

    async def call(scope_type: str, headers: list) -> list:
        scope = {"type": scope_type, "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST",
                 "scheme": "http" if scope_type == "http" else "ws", "path": "/v1/predict", "raw_path": b"/v1/predict",
                 "query_string": b"", "root_path": "", "headers": headers, "client": ("127.0.0.1", 1),
                 "server": ("127.0.0.1", 80)}
        messages, sent = [{"type": "http.request", "body": b"RIFF", "more_body": False}], []

        async def receive():
            return messages.pop(0) if messages else await asyncio.sleep(3600)

        async def send(message):
            sent.append(message)

        await asyncio.wait_for(app(scope, receive, send), 60)
        return sent

    for length, status in ((b"\xb2", 422), ("\u0663".encode(), 422), (b"9" * 5000, 413), (b"0" * 30 + b"4", 422)):
        sent = asyncio.run(call("http", [(b"host", b"localhost"), (b"content-type", b"audio/wav"),
                                         (b"content-length", length)]))
        assert sent[0]["status"] == status, (length[:10], sent)
        if status == 413:
            assert b"a 5000-digit number of bytes is larger than the limit" in sent[1]["body"]
    sent = asyncio.run(call("websocket", [(b"host", b"evil.example")]))
    assert sent == [{"type": "websocket.close", "code": 1008}]


def test_a_range_request_gets_the_whole_file_and_the_page_is_served_at_its_own_address(model_file):
    """Starlette answered ``Range: bytes=a-b`` with a plain-text 400 and ``items=0-1`` with 400
    where HTTP says to ignore it; ranges are now ignored (the page and its files are small)."""
    from fastapi.testclient import TestClient

    from genrekit.server import create_app

    with TestClient(create_app(model_file), base_url="http://localhost") as client:
        whole = client.get("/static/app.js")
        for path in ("/", "/static/app.js", "/static-offline-docs/swagger-ui.css"):
            for value in ("bytes=a-b", "items=0-1", "bytes=5-1", "bytes=999999999-", "bytes=0-9"):
                response = client.get(path, headers={"Range": value})
                assert response.status_code == 200, (path, value, response.status_code, response.text[:80])
                assert "accept-ranges" not in response.headers
        assert client.get("/static/app.js", headers={"Range": "bytes=0-9"}).content == whole.content
        # the page's copy among its files is sent to the page (its relative addresses missed there)
        moved = client.get("/static/index.html", follow_redirects=False)
        assert moved.status_code == 308 and moved.headers["location"] == "../"
        assert client.get("/static/index.html").text == client.get("/").text
