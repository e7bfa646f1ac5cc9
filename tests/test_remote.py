"""Audio in an object store: an S3 server on 127.0.0.1 (moto) holding real clips, read by
URL through pyarrow; `tag` and `predict` on it give what they give on the local files."""

import json
import os
import shutil
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from genrekit import audio
from genrekit.errors import AudioError, ParameterError

CLIPS = ("jazz/jazz.00001.wav", "jazz/jazz.00002.wav", "metal/metal.00000.au", "metal/metal.00001.wav")


@pytest.fixture(scope="module")
def s3(gtzan_mini, corrupted_file, tmp_path_factory):
    """``(library URL, local copy of the same library, environment for a subprocess)``."""
    pytest.importorskip("moto", reason="the S3 test server is moto (the test extra)")
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    env = {"AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test", "AWS_DEFAULT_REGION": "us-east-1",
           "AWS_ENDPOINT_URL": f"http://{host}:{port}"}
    patch = pytest.MonkeyPatch()  # a module fixture cannot take monkeypatch; undone in finally
    for key, value in env.items():
        patch.setenv(key, value)
    try:
        yield from _library(host, port, env, gtzan_mini, corrupted_file, tmp_path_factory)
    finally:
        server.stop()
        patch.undo()


def _library(host, port, env, gtzan_mini, corrupted_file, tmp_path_factory):
    from pyarrow import fs

    store = fs.S3FileSystem(endpoint_override=f"{host}:{port}", scheme="http", allow_bucket_creation=True,
                            access_key="test", secret_key="test", region="us-east-1")
    store.create_dir("music")
    local = tmp_path_factory.mktemp("library")
    files = {name: gtzan_mini / name for name in CLIPS} | {"jazz/broken.wav": corrupted_file,
                                                          ".hidden/jazz.00001.wav": gtzan_mini / CLIPS[0]}
    for name, source in files.items():
        (local / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(source, local / name)
        with store.open_output_stream(f"music/lib/{name}") as out:
            out.write(source.read_bytes())
    with store.open_output_stream("music/lib/notes.txt") as out:
        out.write(b"not audio")
    yield "s3://music/lib", local, {**os.environ, **env}


def test_audio_reads_urls_like_paths(s3, gtzan_mini):
    url, local, _ = s3
    y, sr = audio.load(f"{url}/{CLIPS[2]}")
    expected, _ = audio.load(gtzan_mini / CLIPS[2])
    assert sr == 22050 and np.array_equal(y, expected)
    assert audio.content_hash(f"{url}/{CLIPS[2]}") == audio.content_hash(gtzan_mini / CLIPS[2])
    assert audio.info(f"{url}/{CLIPS[0]}").frames == audio.info(gtzan_mini / CLIPS[0]).frames
    with pytest.raises(AudioError, match=r"^s3://music/lib/jazz/broken.wav: not audio or corrupt"):
        audio.load(f"{url}/jazz/broken.wav")
    with pytest.raises(AudioError, match=r"^s3://music/lib/jazz/missing.wav: file not found"):
        audio.load(f"{url}/jazz/missing.wav")


def test_tag_and_predict_a_library_in_an_object_store(s3, tmp_path):
    """`genrekit tag s3://...` in a fresh process: the same genres and probabilities as the
    same files tagged locally, the bad file reported, hidden and non-audio files left out,
    and a re-run does nothing again."""
    url, local, env = s3

    def tag(library, out):
        return subprocess.run([sys.executable, "-m", "genrekit", "tag", library, "--out", str(out), "--jobs", "2"],
                              capture_output=True, text=True, env=env)

    remote_run, local_run = tag(url, tmp_path / "remote.jsonl"), tag(str(local), tmp_path / "local.jsonl")
    assert remote_run.returncode == local_run.returncode == 3, remote_run.stderr  # 3: one file failed
    remote, here = ({r["path"]: r for r in map(json.loads, (tmp_path / name).read_text().splitlines())}
                    for name in ("remote.jsonl", "local.jsonl"))
    assert sorted(remote) == sorted(f"{url}/{name}" for name in (*CLIPS, "jazz/broken.wav"))
    assert "not audio or corrupt" in remote[f"{url}/jazz/broken.wav"]["error"]
    for name in CLIPS:
        ours, theirs = remote[f"{url}/{name}"], here[str(local / name)]
        assert ours["error"] is None and ours["genre"] == theirs["genre"] and len(ours["probabilities"]) == 10
        assert ours["probabilities"] == pytest.approx(theirs["probabilities"], abs=1e-6)
    again = tag(url, tmp_path / "remote.jsonl")
    assert "; 4 done by an earlier run, 1 now" in " ".join(again.stdout.split()), again.stdout  # the broken one again

    predicted = subprocess.run([sys.executable, "-m", "genrekit", "predict", "--format", "json", f"{url}/{CLIPS[0]}"],
                               capture_output=True, text=True, env=env)
    assert predicted.returncode == 0, predicted.stderr
    prediction = json.loads(next(line for line in predicted.stdout.splitlines() if line.startswith("{")))
    assert prediction["path"] == f"{url}/{CLIPS[0]}" and prediction["genre"] == remote[f"{url}/{CLIPS[0]}"]["genre"]
    # a folder's URL is its audio files, for predict as for tag (predict said "file not found")
    from genrekit.predict.files import songs_at

    jazz = [f"{url}/jazz/{name}" for name in ("broken.wav", "jazz.00001.wav", "jazz.00002.wav")]
    assert songs_at(f"{url}/jazz") == songs_at(f"{url}/jazz/") == jazz
    assert songs_at(f"{url}/{CLIPS[0]}") == [f"{url}/{CLIPS[0]}"]  # a song's URL, not asked to list
    assert songs_at(f"{url}/none") == [f"{url}/none"]  # nothing there: its failure says why


def test_features_of_a_manifest_of_urls(s3, tmp_path):
    """`genrekit features` on a manifest listing object-store URLs (in a fresh process): the same
    features as the local files; a missing object is reported by URL; a re-run takes every
    file from the cache. The local reference and the re-run run in this process, where the s3
    fixture has set the AWS_* variables."""
    from typer.testing import CliRunner

    from genrekit.cli.main import app

    url, local, env = s3
    for where, root in (("remote", url), ("local", str(local))):
        rows = [f"{root}/{name},{name.split('/')[0]}" for name in CLIPS] + [f"{root}/jazz/missing.wav,jazz"]
        (tmp_path / f"{where}.csv").write_text("path,label\n" + "\n".join(rows) + "\n")

    def arguments(where):  # fma518: a third of gtzan57's time per clip, and where the files come from is the point
        return ["features", str(tmp_path / f"{where}.csv"), "-f", "fma518", "-o", str(tmp_path / where),
                "--cache", str(tmp_path / f"cache-{where}"), "-j", "1"]

    def here(where):
        result = CliRunner().invoke(app, arguments(where))
        if result.exception and not isinstance(result.exception, SystemExit):
            raise result.exception
        return result

    remote_run = subprocess.run([sys.executable, "-m", "genrekit", *arguments("remote")], capture_output=True,
                                text=True, env=env)
    local_run = here("local")
    assert remote_run.returncode == local_run.exit_code == 3, remote_run.stderr  # 3: the missing file
    assert f"{url}/jazz/missing.wav: file not found" in " ".join((remote_run.stdout + remote_run.stderr).split())
    remote, local_table = (pd.read_csv(tmp_path / where / "features.csv", header=[0, 1, 2], index_col=0).iloc[:, :518]
                           for where in ("remote", "local"))
    assert remote.shape == (4, 518) and np.array_equal(remote.to_numpy(), local_table.to_numpy())
    again = here("remote")
    assert again.exit_code == 3 and "(4 from cache)" in " ".join(again.stdout.split()), again.output


def test_cached_extraction_reads_a_url_file_once(s3, gtzan_mini, tmp_path, monkeypatch):
    """With the cache on, the driver does not download a URL's file to hash it: the worker
    hashes its copy, and the cache remembers the hash of that version of the file, so a
    re-run is served from the cache without reading the file at all."""
    from genrekit.audio import remote
    from genrekit.features import FeatureCache, FeatureSpec, extract_features

    url, _, _ = s3
    urls, spec, cache = [f"{url}/{name}" for name in CLIPS[:2]], FeatureSpec("gtzan57"), FeatureCache(tmp_path)
    copies, local_copy = [], remote.local_copy
    monkeypatch.setattr(remote, "local_copy", lambda u: copies.append(u) or local_copy(u))
    monkeypatch.setattr(remote, "content_hash", lambda u: pytest.fail(f"{u} was read only to hash it"))
    first = extract_features(urls, spec, cache=cache, n_jobs=1, progress=False)
    assert copies == urls and not first.failures and first.cache_hits == 0
    assert first.hashes == [audio.content_hash(gtzan_mini / name) for name in CLIPS[:2]]
    again = extract_features(urls, spec, cache=cache, n_jobs=1, progress=False)
    assert copies == urls and again.cache_hits == 2 and again.hashes == first.hashes
    assert all(np.array_equal(a, b) for a, b in zip(first.features, again.features, strict=True))


def test_object_store_errors_name_the_url(s3, tmp_path):
    from genrekit.models import default_model_path
    from genrekit.predict.library import library_files, tag_library

    url, _, _ = s3
    with pytest.raises(ParameterError, match="--write-tags rewrites files in place"):
        tag_library(url, default_model_path(), tmp_path / "t.csv", write_tags=True, progress=False)
    with pytest.raises(ParameterError, match="^s3://music/nothing-here: expected a music library folder"):
        library_files("s3://music/nothing-here")
    with pytest.raises(ParameterError, match="genrekit reads no nosuchscheme:// URLs"):
        library_files("nosuchscheme://x/y")
    from genrekit.errors import AnalysisStopped
    from genrekit.predict import predict_file

    with pytest.raises(AnalysisStopped, match=rf"^{url}/{CLIPS[0]}: analysis stopped"):  # not the temporary copy's name
        predict_file(default_model_path(), f"{url}/{CLIPS[0]}", should_stop=lambda: True)


def test_an_http_url_is_named_and_a_copy_stopped_part_way_leaves_no_file(tmp_path, monkeypatch):
    """``predict http://...`` said "not a URL pyarrow can open (Unrecognized filesystem type)";
    Ctrl+C during a URL's copy left the partial copy in the temporary folder (1.5 GB of a large
    object; a review, 2026-12-07)."""
    import tempfile

    from genrekit.audio import remote

    for url in ("http://127.0.0.1:9/song.wav", "https://example.org/song.mp3"):
        with pytest.raises(ParameterError, match=r"genrekit reads no https?:// URLs: download the file"):
            remote.stat(url)
    (tmp_path / "song.wav").write_bytes(b"RIFF")
    assert remote.stat(f"FILE://{tmp_path}/song.wav").size == 4  # a scheme in capitals (pyarrow knows none)
    (tmp_path / "song.wav").unlink()

    class Stream:
        reads = 0

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            return False

        def read(self, size):
            Stream.reads += 1
            if Stream.reads > 2:
                raise KeyboardInterrupt
            return b"x" * 1024

    class Store:
        def open_input_stream(self, path):
            return Stream()

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    monkeypatch.setattr(remote, "_filesystem", lambda url: (Store(), "bucket/song.wav"))
    with pytest.raises(KeyboardInterrupt):
        with remote.local_copy("s3://bucket/song.wav"):
            pass
    assert Stream.reads == 3 and not list(tmp_path.iterdir())
    # a full disk under the copy is said to be the temporary folder's, not the URL's "cannot be read"
    import errno
    import os

    Stream.reads = 0

    def full(handle, mode):
        class Full:
            def __enter__(self):
                return self

            def __exit__(self, *exc):
                os.close(handle)
                return False

            def write(self, data):
                raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return Full()

    monkeypatch.setattr(remote.os, "fdopen", full)
    with pytest.raises(AudioError, match=rf"s3://bucket/song.wav: its local copy could not be written in "
                                         rf"{tmp_path} after 0 MB \(No space left on device\); set TMPDIR"):
        with remote.local_copy("s3://bucket/song.wav"):
            pass
    assert not list(tmp_path.iterdir())


def test_tag_an_object_store_on_ray(s3, tmp_path, monkeypatch):
    """`genrekit tag s3://... --runner ray`: a throwaway Ray cluster on 127.0.0.1 whose
    workers read the bucket; the same rows as the local process pool."""
    ray = pytest.importorskip("ray", reason="the Ray runner needs the 'ray' extra (pip install 'genrekit[ray]')")
    from typer.testing import CliRunner

    from genrekit.cli.main import EXIT_PARTIAL, app

    url, _, _ = s3
    monkeypatch.setenv("RAY_AUTH_MODE", os.environ.get("RAY_AUTH_MODE", "disabled"))  # restored after the test
    try:
        # --jobs 1: one actor takes the 5 files
        on_ray = CliRunner().invoke(app, ["tag", url, "--out", str(tmp_path / "ray.jsonl"), "--runner", "ray",
                                          "--jobs", "1"])
    finally:
        ray.shutdown()
    assert on_ray.exit_code == EXIT_PARTIAL, on_ray.output
    pooled = CliRunner().invoke(app, ["tag", url, "--out", str(tmp_path / "pool.jsonl"), "--jobs", "1"])
    assert pooled.exit_code == EXIT_PARTIAL, pooled.output
    rows = [{r["path"]: (r["genre"], r["error"] is None, r["probabilities"])
             for r in map(json.loads, (tmp_path / name).read_text().splitlines())} for name in ("ray.jsonl", "pool.jsonl")]
    assert len(rows[0]) == 5 and rows[0].keys() == rows[1].keys()
    for path, (genre, ok, probabilities) in rows[0].items():
        assert (genre, ok) == rows[1][path][:2] and probabilities == pytest.approx(rows[1][path][2], abs=1e-6)
