"""The genre service through real HTTP: a running `genrekit serve` on 127.0.0.1, real clips."""

import concurrent.futures
import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

httpx = pytest.importorskip("httpx", reason="the service tests need the test extra (pip install -e '.[test]')")
pytest.importorskip("fastapi", reason="the service needs the 'serve' extra")

from genrekit.datasets import load_gtzan  # noqa: E402
from genrekit.features import FeatureCache, FeatureSpec  # noqa: E402
from genrekit.models import save_model  # noqa: E402
from genrekit.train import train_model  # noqa: E402
from nonmusic import write_signals  # noqa: E402
from conftest import missing  # noqa: E402

GENRES = ("classical", "metal", "reggae")


def _clip(gtzan_mini, genre: str, number: int) -> Path:
    return next((gtzan_mini / genre).glob(f"{genre}.{number:05d}.*"))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def model_file(gtzan_mini, feature_cache, tmp_path_factory):
    """Logistic regression on 3 s chunks of clips 2-7 of three genres; clips 0-1 are held out."""
    dataset = load_gtzan(gtzan_mini)
    dataset = dataset.select(t.track_id for t in dataset.tracks if t.label in GENRES and int(t.track_id[-5:]) >= 2)
    result = train_model(dataset, spec=FeatureSpec("fma518", chunk_duration=3.0), model="logreg",
                         cache=FeatureCache(feature_cache), progress=False, cv=False)  # CV: test_interface
    return save_model(result.model, tmp_path_factory.mktemp("model") / "model.genrekit")


def _start(model_file, temp: Path, *options: str) -> dict:
    port = _free_port()
    command = [str(Path(sys.executable).with_name("genrekit")), "serve", str(model_file), "--port", str(port), *options]
    return _spawn(command, temp, port)


def _spawn(command: list[str], temp: Path, port: int) -> dict:
    """Start a service process (its temporary files in ``temp``) and wait until it answers on ``port``."""
    log = open(temp / "server.log", "w")  # a file, not a pipe nobody reads: the server never blocks on it
    process = subprocess.Popen(command, env={**os.environ, "TMPDIR": str(temp)}, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    while True:
        try:
            if httpx.get(f"{url}/healthz", timeout=2).status_code == 200:
                break
        except httpx.TransportError:
            pass
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            log.close()
            pytest.fail(f"the service did not start: {(temp / 'server.log').read_text()}")
        time.sleep(0.3)
    return {"url": url, "port": port, "temp": temp, "process": process, "log": log}


def _stop(server: dict) -> None:
    if server["process"].poll() is None:
        server["process"].send_signal(signal.SIGINT)
        server["process"].wait(timeout=30)
    server["log"].close()


@pytest.fixture(scope="module")
def server(model_file, tmp_path_factory):
    """`genrekit serve` in its own process, uploads limited to 2 MB; its temp folder is watched."""
    server = _start(model_file, tmp_path_factory.mktemp("server-tmp"), "--max-upload-mb", "2", "--workers", "2",
                    "--queue", "32")
    yield server
    _stop(server)


def _post(server, path: Path, content_type: str = "audio/wav", name: str | None = None):
    with open(path, "rb") as handle:
        return httpx.post(f"{server['url']}/v1/predict", files={"file": (name or path.name, handle, content_type)},
                          timeout=120)


def _uploads_folder(server) -> Path:
    folders = list(server["temp"].glob("genrekit-uploads-*"))
    assert len(folders) == 1, folders
    return folders[0]


def test_a_real_clip_gets_its_genre(server, gtzan_mini):
    clip = _clip(gtzan_mini, "metal", 0)
    response = _post(server, clip)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["genre"] == "metal"
    assert set(body["probabilities"]) == set(GENRES)
    assert sum(body["proportions"].values()) == pytest.approx(1.0)
    assert body["timeline"] and body["timeline"][0]["start"] >= 0
    assert body["path"] == clip.name and body["model_id"].startswith("model.genrekit@")
    described = httpx.get(f"{server['url']}/v1/model").json()
    assert body["model_id"] == described["id"]
    assert body["model"] == described["name"] == "logreg"  # the model's name, as the command line's JSON gives it
    health = httpx.get(f"{server['url']}/healthz").json()
    assert (health["model"], health["model_id"]) == (described["name"], described["id"])  # one meaning a key
    assert [t["genre"] for t in body["top"]][0] == "metal"
    assert "styles" in body and body["styles"] is None  # a model on fma518 features gives no styles


def test_model_health_and_docs(server):
    model = httpx.get(f"{server['url']}/v1/model").json()
    assert sorted(model["labels"]) == sorted(GENRES) and model["kind"] == "classical"
    assert model["limits"]["max_upload_mb"] == 2
    assert httpx.get(f"{server['url']}/healthz").json()["status"] == "ok"
    schema = httpx.get(f"{server['url']}/openapi.json").json()
    assert {"/v1/predict", "/v1/model", "/healthz"} <= set(schema["paths"])
    for page in ("/", "/docs"):  # nothing loaded from elsewhere: no CDN
        html = httpx.get(f"{server['url']}{page}").text
        assert "http://" not in html and "https://" not in html.replace("https://swagger.io", ""), page


@pytest.mark.parametrize("case", ["oversized", "empty", "corrupted", "text_as_mp3", "wrong_type", "no_file"])
def test_bad_uploads_get_the_right_4xx_and_the_server_keeps_serving(server, gtzan_mini, corrupted_file, tmp_path,
                                                                     case):
    if case == "oversized":  # 3 MB of real audio against the 2 MB limit
        y, sr = sf.read(_clip(gtzan_mini, "reggae", 0), dtype="float32")
        path = tmp_path / "long.wav"
        sf.write(path, np.tile(y, 3), sr)
        response, expected, words = _post(server, path), 413, "limit"
    elif case == "empty":
        path = tmp_path / "empty.wav"
        path.write_bytes(b"")
        response, expected, words = _post(server, path), 422, "empty"
    elif case == "corrupted":
        response, expected, words = _post(server, corrupted_file), 422, "jazz.00054.wav"
    elif case == "text_as_mp3":
        path = tmp_path / "notes.mp3"
        path.write_text("liner notes, not audio\n" * 50)
        response, expected, words = _post(server, path, "audio/mpeg"), 422, "notes.mp3"
    elif case == "wrong_type":
        response, expected, words = _post(server, _clip(gtzan_mini, "metal", 1), "text/plain"), 415, "audio"
    else:
        response = httpx.post(f"{server['url']}/v1/predict", data={"comment": "a form"},
                              files={"song": ("a.wav", b"RIFF", "audio/wav")}, timeout=30)
        expected, words = 400, "'file'"
    assert response.status_code == expected, response.text
    assert words in response.json()["detail"]
    assert _post(server, _clip(gtzan_mini, "classical", 1)).json()["genre"] == "classical"
    assert not list(_uploads_folder(server).iterdir()), "an upload was left behind"


def test_raw_body_upload(server, gtzan_mini):
    path = _clip(gtzan_mini, "reggae", 1)
    response = httpx.post(f"{server['url']}/v1/predict", content=path.read_bytes(),
                          headers={"Content-Type": "audio/wav", "X-Filename": path.name}, timeout=120)
    assert response.status_code == 200, response.text
    assert response.json()["path"] == path.name


def test_an_upload_named_by_its_content_type_alone_is_decoded_by_it(server, m4a_clip):
    """Apple's audio/x-m4a (and MediaRecorder's audio/webm) map to no suffix in Python's
    mimetypes, so a nameless m4a went to libsndfile: "Format not recognised"."""
    for content_type in ("audio/x-m4a", "audio/m4a"):
        response = httpx.post(f"{server['url']}/v1/predict", content=m4a_clip.read_bytes(),
                              headers={"Content-Type": content_type}, timeout=120)
        assert response.status_code == 200, (content_type, response.text)


def test_twenty_concurrent_uploads(server, gtzan_mini, tmp_path):
    clips = []  # the first 10 s of clips 0-1 of each genre: real audio, a third of the analysis of a whole clip
    for genre in GENRES:
        for number in (0, 1):
            y, sr = sf.read(_clip(gtzan_mini, genre, number), dtype="int16")
            clips.append(tmp_path / f"{genre}.{number:05d}.wav")
            sf.write(clips[-1], y[: 10 * sr], sr, subtype="PCM_16")
    with concurrent.futures.ThreadPoolExecutor(20) as pool:
        responses = list(pool.map(lambda i: _post(server, clips[i % len(clips)]), range(20)))
    assert [r.status_code for r in responses] == [200] * 20, [r.text for r in responses if r.status_code != 200]
    assert not list(_uploads_folder(server).iterdir())


@contextlib.contextmanager
def _chromium():
    """A headless Chromium under selenium; skips where Debian's chromium and driver are missing."""
    browser, driver_path = shutil.which("chromium") or shutil.which("chromium-browser"), shutil.which("chromedriver")
    if not browser or not driver_path:
        missing("Debian's chromium and chromium-driver are not installed (apt-get install chromium "
                    "chromium-driver; the README's test command does it where apt-get can run)")
    webdriver = pytest.importorskip("selenium.webdriver", reason="selenium is in the test extra")

    options = webdriver.ChromeOptions()
    options.binary_location = browser
    for flag in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1100,1300"):
        options.add_argument(flag)
    driver = webdriver.Chrome(options=options, service=webdriver.ChromeService(executable_path=driver_path))
    try:
        yield driver
    finally:
        driver.quit()


def _upload_on_the_page(driver, server, clip: Path) -> None:
    """Open the page, drop ``clip`` on it (through the file input) and wait for the result."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions
    from selenium.webdriver.support.ui import WebDriverWait

    driver.get(server["url"] + "/")
    WebDriverWait(driver, 30).until(expected_conditions.text_to_be_present_in_element((By.ID, "model"), "genres"))
    driver.find_element(By.ID, "file").send_keys(str(clip))
    WebDriverWait(driver, 120).until(expected_conditions.visibility_of_element_located((By.ID, "result")))


def _severe_console_errors(driver) -> list:
    return [e for e in driver.get_log("browser") if e["level"] == "SEVERE"] if hasattr(driver, "get_log") else []


def test_page_in_headless_chromium(server, gtzan_mini, tmp_path, keep_artifact):
    """The web page: upload a real clip, the genre chart appears; the screenshot is kept
    where $GENREKIT_TEST_ARTIFACTS says."""
    with _chromium() as driver:
        from selenium.webdriver.common.by import By

        _upload_on_the_page(driver, server, _clip(gtzan_mini, "metal", 0))
        bars = driver.find_elements(By.CSS_SELECTOR, "#top li")
        assert len(bars) == len(GENRES)
        assert driver.find_element(By.ID, "verdict").text.startswith("metal")
        assert driver.find_elements(By.CSS_SELECTOR, "#timeline button")
        width = driver.find_element(By.CSS_SELECTOR, "#top li .bar").size["width"]
        assert width > 0, "the top genre's bar was not drawn"
        # a model without styles: no style listed, and a short note saying why
        assert not driver.find_elements(By.CSS_SELECTOR, "#styles li")
        assert "genres only" in driver.find_element(By.ID, "styles-note").text
        errors = _severe_console_errors(driver)
        assert not errors, errors
        driver.save_screenshot(str(tmp_path / "service-page.png"))
        keep_artifact(tmp_path / "service-page.png")


def test_the_page_places_windows_at_their_time_and_leaves_silence_blank(server, gtzan_mini, tmp_path):
    """15 s of music, 20 s of digital silence, 15 s of music (10 s skipped at each end: 30 s
    analysed, 20 of them silent): the windows after the silence are drawn after a blank of
    its length (they were drawn straight after the first ones, so the axis lied), and the
    status counts windows, not 30 s chunks."""
    import soxr

    y, sr = sf.read(_clip(gtzan_mini, "metal", 0), dtype="float32")
    music = soxr.resample(y[:15 * sr], sr, 16000)  # under the fixture's 2 MB as 16-bit WAV
    song = tmp_path / "gap.wav"
    sf.write(song, np.concatenate([music, np.zeros(20 * 16000, np.float32), music]), 16000)
    with _chromium() as driver:
        from selenium.webdriver.common.by import By

        _upload_on_the_page(driver, server, song)
        line = driver.find_element(By.ID, "timeline")
        left, width = line.location["x"], line.size["width"]
        gaps = driver.find_elements(By.CSS_SELECTOR, "#timeline .gap")
        assert gaps and max(g.size["width"] for g in gaps) > 0.5 * width  # 20 s of the 30 s analysed
        buttons = driver.find_elements(By.CSS_SELECTOR, "#timeline button")
        starts = [float(b.get_attribute("title").split("–")[0].split(":")[0]) * 60
                  + float(b.get_attribute("title").split("–")[0].split(":")[1]) for b in buttons]
        # a window after the silence (35 s on) sits where its time is on the axis: past 5/6 of it
        after = [b for b, start in zip(buttons, starts) if start >= 35]
        assert after and all(b.location["x"] - left > 0.8 * width for b in after)
        status = driver.find_element(By.ID, "status").text
        assert f"{len(buttons)} windows with sound" in status, status


def test_the_default_models_styles_in_the_answer_and_on_the_page(gtzan_mini, tmp_path, keep_artifact):
    """`genrekit serve` (the default model): the JSON answer's styles, each at or above its
    threshold, most probable first; the page lists the same styles with their probabilities
    under the genre (headless Chromium, the strict CSP in force); the screenshot is kept.
    Then noise: "unknown", not music, in the answer and on the page."""
    from genrekit.models.styles import thresholds

    clip = _clip(gtzan_mini, "metal", 2)
    default = _start("default", tmp_path)
    try:
        response = _post(default, clip)
        assert response.status_code == 200, response.text
        styles = response.json()["styles"]
        assert styles and list(styles.values()) == sorted(styles.values(), reverse=True), styles
        assert all(p >= thresholds(-20.0)[s] - 1e-6 for s, p in styles.items()), styles
        with _chromium() as driver:
            from selenium.webdriver.common.by import By

            _upload_on_the_page(driver, default, clip)
            # the model's figure is the grouped-CV one, and the page says so
            metrics = httpx.get(f"{default['url']}/v1/model").json()["metrics"]
            described = driver.find_element(By.ID, "model").text
            assert f"balanced accuracy {100 * metrics['balanced_accuracy']:.1f}%" in described, described
            assert "grouped by blocks of adjacent clip ids" in described and "grouped" in metrics["evaluation"], described
            shown = [item.text.rsplit(" ", 1) for item in driver.find_elements(By.CSS_SELECTOR, "#styles li")]
            assert [name for name, _ in shown] == list(styles), shown
            for (name, percent), probability in zip(shown, styles.values()):  # "hard rock 46.9%"
                assert float(percent.rstrip("%")) == pytest.approx(100 * probability, abs=0.051), (name, percent)
            assert driver.find_element(By.ID, "styles").is_displayed()
            assert driver.find_element(By.ID, "styles-note").text == ""
            verdict, panel = driver.find_element(By.ID, "verdict"), driver.find_element(By.ID, "styles-panel")
            assert panel.location["y"] > verdict.location["y"]  # under the genre
            errors = _severe_console_errors(driver)  # a CSP violation would be one
            assert not errors, errors
            driver.save_screenshot(str(tmp_path / "service-page-styles.png"))
            keep_artifact(tmp_path / "service-page-styles.png")
            signals = write_signals(tmp_path / "nonmusic", "test")
            noise = next(path for path in signals if path.stem == "noise-pink")
            answer = _post(default, noise).json()
            assert answer["genre"] == "unknown" and answer["unknown_reason"] == "not music", answer
            assert answer["styles"] == {} and answer["music"] < 0.5
            _upload_on_the_page(driver, default, noise)
            assert "does not sound like music" in driver.find_element(By.ID, "verdict").text
    finally:
        _stop(default)


def test_stopping_the_server_removes_its_upload_folder(server):
    folder = _uploads_folder(server)
    _stop(server)
    assert not folder.exists()


def test_serve_on_a_port_in_use_says_so_before_announcing_itself(model_file):
    """The banner ("genrekit service ... on http://...") was printed before the port was
    bound, and the command then failed with uvicorn's own words."""
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = subprocess.run([str(Path(sys.executable).with_name("genrekit")), "serve", str(model_file),
                                 "--port", str(port)], capture_output=True, text=True, timeout=120)
    assert result.returncode == 1, result.stderr
    assert f"--port {port}: cannot listen on 127.0.0.1:{port}" in result.stderr and "choose another" in result.stderr
    assert "genrekit service" not in result.stdout + result.stderr


def test_ctrl_c_stops_the_service_with_status_0(model_file, tmp_path):
    """Ctrl+C is how a service is stopped: exit status 0 and no "interrupted" message (it
    exited 130 and told the user that running it again resumes)."""
    server = _start(model_file, tmp_path)
    server["process"].send_signal(signal.SIGINT)
    assert server["process"].wait(timeout=30) == 0
    server["log"].close()
    log = (tmp_path / "server.log").read_text()
    assert "interrupted" not in log and "Traceback" not in log, log
