"""Hostile model files: each is refused with a ModelError naming the file, and none ever runs
its payload (each payload would write a marker file).

The corpus is built from genrekit's own default model by an attacker who rewrites the
checksums after editing, so only the allow-list, the caps and the schemas stand in the way.
"""

import hashlib
import io
import json
import pickle
import re
import socket
import struct
import subprocess
import sys
import zipfile
import zlib
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from typer.testing import CliRunner

from genrekit.cli.main import EXIT_ERROR, app
from genrekit.errors import GenrekitError, ModelError
from genrekit.models import load_model, read_manifest
from genrekit.models import default_model_path, load
from genrekit.untrusted import SKOPS_ALLOWED_TYPES, MAX_JSON_DEPTH

from conftest import damaged, invalid_deflate

DEFAULT_MODEL = default_model_path(onnx=False)


# --- skops nodes, as skops writes them -------------------------------------------------------
def json_node(value) -> dict:
    return {"__class__": "str", "__module__": "builtins", "__loader__": "JsonNode", "content": json.dumps(value),
            "is_json": True}


def tuple_node(*items) -> dict:
    return {"__class__": "tuple", "__module__": "builtins", "__loader__": "TupleNode", "content": list(items)}


def dict_node(content: dict) -> dict:
    key_types = {"__class__": "list", "__module__": "builtins", "__loader__": "ListNode",
                 "content": [{"__class__": "str", "__module__": "builtins", "__loader__": "TypeNode"} for _ in content]}
    return {"__class__": "dict", "__module__": "builtins", "__loader__": "DictNode", "content": content,
            "key_types": key_types}


def call_node(module: str, name: str, *args) -> dict:
    """``module.name(*args)`` at load time: skops' ConstructorFromReduceNode."""
    return {"__class__": name, "__module__": module, "__loader__": "ConstructorFromReduceNode",
            "content": tuple_node(*args)}


def function_node(module: str, name: str) -> dict:
    return {"__class__": name, "__module__": module, "__loader__": "FunctionNode"}


def python_writing(marker: Path) -> str:
    return f"open({str(marker)!r}, 'w').write('pwned')"


def payloads(marker: Path) -> dict[str, dict]:
    """Nodes that, once constructed, write ``marker`` (directly or by calling what they build)."""
    code = python_writing(marker)
    shell = f"touch {marker}"
    return {
        "exec": call_node("builtins", "exec", json_node(code)),
        "eval": call_node("builtins", "eval", json_node(code)),
        "__import__": call_node("builtins", "__import__", json_node("this")),
        "compile": call_node("builtins", "exec", call_node("builtins", "compile", json_node(code), json_node("x"),
                                                             json_node("exec"))),
        "getattr-chain": call_node("builtins", "getattr", call_node("builtins", "__import__", json_node("os")),
                                   json_node("system")),
        "os.system": call_node("os", "system", json_node(shell)),
        "posix.system": call_node("posix", "system", json_node(shell)),
        "subprocess": call_node("subprocess", "call", {
            "__class__": "list", "__module__": "builtins", "__loader__": "ListNode",
            "content": [json_node("touch"), json_node(str(marker))]}),
        "importlib": call_node("importlib", "import_module", json_node("antigravity")),
        "functools.partial": {
            "__class__": "partial", "__module__": "functools", "__loader__": "PartialNode",
            "content": {"func": function_node("os", "system"), "args": tuple_node(json_node(shell)),
                        "kwds": dict_node({}),
                        "namespace": json_node(None)}},
        "function-exec": function_node("builtins", "exec"),
        "operator.attrgetter": {"__class__": "attrgetter", "__module__": "operator", "__loader__": "OperatorFuncNode",
                                "attrs": tuple_node(json_node("system"))},
        "operator.methodcaller": {"__class__": "methodcaller", "__module__": "operator",
                                  "__loader__": "OperatorFuncNode", "attrs": tuple_node(json_node("system"),
                                                                                       json_node(shell))},
        "object-as-exec": {"__class__": "exec", "__module__": "builtins", "__loader__": "ObjectNode",
                           "content": json_node(code)},
        "type-os-system": {"__class__": "system", "__module__": "os", "__loader__": "TypeNode"},
        "allowed-name-wrong-loader": call_node("sklearn.pipeline", "Pipeline", json_node(code)),
    }


class Pickled:
    """Unpickling this writes the marker."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (exec, (python_writing(self.marker),))


# --- building the files ---------------------------------------------------------------------
def default_members() -> dict[str, bytes]:
    with zipfile.ZipFile(DEFAULT_MODEL) as archive:
        return {name: archive.read(name) for name in archive.namelist()}


def write_model(path: Path, members: dict[str, bytes], *, rehash: bool = True) -> Path:
    """A model file with ``members``; the manifest's checksums rewritten as an attacker would."""
    members = dict(members)
    if rehash:
        manifest = json.loads(members["genrekit.json"])
        manifest["payload"] = {name: hashlib.sha256(members[name]).hexdigest() for name in manifest["payload"]
                               if name in members}
        members["genrekit.json"] = json.dumps(manifest).encode()
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return path


def edit_skops(skops: bytes, edit) -> bytes:
    """``skops`` with its schema changed by ``edit(schema)``; ``edit`` may also return extra members."""
    with zipfile.ZipFile(io.BytesIO(skops)) as archive:
        members = {name: archive.read(name) for name in archive.namelist()}
    schema = json.loads(members["schema.json"])
    extra = edit(schema) or {}
    members["schema.json"] = json.dumps(schema).encode()
    members.update(extra)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def with_memory(node: dict):
    """Put ``node`` where the pipeline keeps its ``memory`` parameter (None in genuine files)."""
    def edit(schema):
        schema["content"]["content"]["memory"] = node
    return edit


def pickled_npy(marker: Path) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, np.array([Pickled(marker)], dtype=object), allow_pickle=True)
    return buffer.getvalue()


def generator_node(bit_generator: str = "PCG64", entropy: dict | None = None, pool_size: int = 4) -> dict:
    """A numpy Generator as skops writes one (scikit-learn's histogram boosting keeps one)."""
    seed = dict_node({"entropy": entropy or json_node(12345), "spawn_key": tuple_node(),
                      "pool_size": json_node(pool_size), "n_children_spawned": json_node(0)})
    return {"__class__": "Generator", "__module__": "numpy.random._generator", "__loader__": "RandomGeneratorNode",
            "content": {"bit_generator": dict_node({"bit_generator": json_node(bit_generator), "state": json_node(0)}),
                        "seed_seq": seed}}


def array_node(member: str) -> dict:
    return {"__class__": "ndarray", "__module__": "numpy", "__loader__": "NdArrayNode", "type": "numpy", "file": member}


def npy(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, array, allow_pickle=False)
    return buffer.getvalue()


def bit_generator_attack(schema):
    """A numpy Generator whose bit generator 'name' is a callable of numpy.random."""
    schema["content"]["content"]["memory"] = generator_node("seed")


def seed_pool_attack(schema):
    """A Generator whose seed sequence has a pool of a million words: numpy's SeedSequence costs
    the pool size squared, so loading it would take half an hour."""
    schema["content"]["content"]["memory"] = generator_node(pool_size=10**6)


def seed_entropy_attack(schema):
    """A Generator seeded with 1 MB of entropy (the caps allow 512 MB), which SeedSequence hashes
    word by word."""
    schema["content"]["content"]["memory"] = generator_node(entropy=array_node("entropy.npy"))
    return {"entropy.npy": npy(np.random.default_rng(0).integers(0, 2**63, size=2**17, dtype=np.uint64))}


def shared_array_attack(schema):
    """200 arrays naming one 1 MB member: skops reads the member once per node, 200 MB in all."""
    schema["content"]["content"]["memory"] = {"__class__": "list", "__module__": "builtins", "__loader__": "ListNode",
                                              "content": [dict(array_node("shared.npy"), __id__=i) for i in range(200)]}
    return {"shared.npy": npy(np.random.default_rng(0).normal(size=2**17))}


def missing_array_attack(schema):
    schema["content"]["content"]["memory"] = array_node("nowhere.npy")


def nested(depth: int) -> bytes:
    return ("[" * depth + "]" * depth).encode()


def hostile_corpus(folder: Path, marker: Path) -> dict[str, Path]:
    """Every hostile model file, by name."""
    folder.mkdir(parents=True, exist_ok=True)
    genuine = default_members()
    manifest = json.loads(genuine["genrekit.json"])
    files: dict[str, Path] = {}

    def model(name: str, members: dict[str, bytes], **kwargs) -> None:
        files[name] = write_model(folder / f"{name}.genrekit", members, **kwargs)

    for name, node in payloads(marker).items():
        model(f"skops-{name}", {**genuine, "pipeline.skops": edit_skops(genuine["pipeline.skops"], with_memory(node))})

    def pickled_array(schema):
        schema["content"]["content"]["memory"] = {"__class__": "ndarray", "__module__": "numpy",
                                                  "__loader__": "NdArrayNode", "type": "numpy", "file": "evil.npy"}
        return {"evil.npy": pickled_npy(marker)}

    model("skops-numpy-pickle", {**genuine, "pipeline.skops": edit_skops(genuine["pipeline.skops"], pickled_array)})
    for name, attack in {"bit-generator": bit_generator_attack, "seed-pool": seed_pool_attack,
                         "seed-entropy": seed_entropy_attack, "shared-array": shared_array_attack,
                         "missing-array": missing_array_attack}.items():
        model(f"skops-{name}", {**genuine, "pipeline.skops": edit_skops(genuine["pipeline.skops"], attack)})
    model("skops-deep-schema", {**genuine, "pipeline.skops": edit_skops(
        genuine["pipeline.skops"], lambda s: s["content"]["content"].__setitem__("memory", json.loads(nested(500))))})
    # skops builds a JSON node with json.loads whatever class it names: objects passed as one string
    model("skops-json-node-objects", {**genuine, "pipeline.skops": edit_skops(
        genuine["pipeline.skops"], with_memory({**json_node(""), "content": "[" + "{}," * 1000 + "{}]"}))})
    model("raw-pickle-payload", {**genuine, "pipeline.skops": pickle.dumps(Pickled(marker))})
    files["raw-pickle-file"] = folder / "raw-pickle-file.genrekit"
    files["raw-pickle-file"].write_bytes(pickle.dumps(Pickled(marker)))
    model("extra-member", {**genuine, "evil.pkl": pickle.dumps(Pickled(marker))})

    # Bombs and broken descriptions.
    model("manifest-bomb", {**genuine, "genrekit.json": b" " * (64 * 2**20) + genuine["genrekit.json"]}, rehash=False)
    model("manifest-deep", {**genuine, "genrekit.json": nested(200_000)}, rehash=False)
    model("manifest-list", {**genuine, "genrekit.json": b"[1, 2, 3]"}, rehash=False)
    for field, value in {"labels": 5, "labels-empty": [], "features": "musicnn-msd", "payload": ["pipeline.skops"],
                         "format_version": "1", "aggregation": "max", "sample-rate": "16000",
                         "level-text": "loud", "level-positive": 40.0, "level-bool": True}.items():
        broken = dict(manifest)
        if field == "labels-empty":
            broken["labels"] = value
        elif field == "sample-rate":
            broken["features"] = {**manifest["features"], "sample_rate": value}
        elif field.startswith("level-"):
            broken["features"] = {**manifest["features"], "level_dbfs": value}
        else:
            broken[field] = value
        model(f"manifest-{field}", {**genuine, "genrekit.json": json.dumps(broken).encode()}, rehash=False)
    # the owners' spellings a model trained on a library's tags keeps (training.labels_from_tags)
    for name, tags in {"spellings-not-object": "Hip Hop", "spellings-unknown-genre": {"spellings": {"polka": ["x"]}},
                       "spellings-not-strings": {"spellings": {"rock": [{"__reduce__": "os.system"}]}}}.items():
        broken = {**manifest, "training": {**manifest.get("training", {}), "labels_from_tags": tags}}
        model(f"manifest-{name}", {**genuine, "genrekit.json": json.dumps(broken).encode()}, rehash=False)
    for name, hashes in {"audio-hashes-not-list": "ab" * 32, "audio-hashes-not-strings": [5]}.items():
        broken = {**manifest, "training": {**manifest.get("training", {}), "audio_sha256": hashes}}
        model(f"manifest-{name}", {**genuine, "genrekit.json": json.dumps(broken).encode()}, rehash=False)
    inner_bomb = io.BytesIO()
    with zipfile.ZipFile(inner_bomb, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        with zipfile.ZipFile(io.BytesIO(genuine["pipeline.skops"])) as skops:
            for name in skops.namelist():
                archive.writestr(name, skops.read(name))
        archive.writestr("bomb.npy", b"\0" * (64 * 2**20))
    model("skops-zip-bomb", {**genuine, "pipeline.skops": inner_bomb.getvalue()})
    # a corrupt deflate stream: zlib.error escaped (found by fuzzing)
    files["corrupt-deflate"] = invalid_deflate(write_model(folder / "corrupt-deflate.genrekit", genuine),
                                               "pipeline.skops")

    # Networks: safetensors whose metadata lies.
    for name, config in {"net-config-list": [1, 2], "net-no-preset": {"format": "genrekit-network", "format_version": 1,
                                                                     "labels": ["a", "b"]},
                         "net-unknown-preset": {"format": "genrekit-network", "format_version": 1, "preset": "evil",
                                                "labels": ["a", "b"]},
                         "net-huge-frames": {"format": "genrekit-network", "format_version": 1, "preset": "edge-cnn",
                                             "labels": ["a", "b"], "n_frames": 10**9},
                         "net-audio-hashes-not-list": {"format": "genrekit-network", "format_version": 1,
                                                       "preset": "edge-cnn", "labels": ["a", "b"],
                                                       "training": {"audio_sha256": 5}},
                         "net-hashes-not-strings": {"format": "genrekit-network", "format_version": 1,
                                                    "preset": "edge-cnn", "labels": ["a", "b"],
                                                    "training": {"content_sha256": [["ab"]]}}}.items():
        files[name] = write_safetensors(folder / f"{name}.safetensors", {"genrekit": json.dumps(config)})
    files["net-deep-config"] = write_safetensors(folder / "net-deep-config.safetensors",
                                                 {"genrekit": nested(100_000).decode()})
    files["net-no-metadata"] = write_safetensors(folder / "net-no-metadata.safetensors", {"other": "x"})
    files["net-pickle"] = folder / "net-pickle.safetensors"
    files["net-pickle"].write_bytes(pickle.dumps(Pickled(marker)))
    files["onnx-pickle"] = folder / "onnx-pickle.onnx"
    files["onnx-pickle"].write_bytes(pickle.dumps(Pickled(marker)))
    return files


def write_safetensors(path: Path, metadata: dict[str, str]) -> Path:
    """A valid safetensors container (one tiny tensor) with the given metadata."""
    header = {"__metadata__": metadata, "w": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]}}
    text = json.dumps(header).encode()
    path.write_bytes(struct.pack("<Q", len(text)) + text + b"\0\0\0\0")
    return path


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    folder = tmp_path_factory.mktemp("hostile")
    marker = folder / "MARKER"
    return hostile_corpus(folder / "models", marker), marker


@pytest.fixture(scope="module")
def song(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("song") / "song.wav"
    sf.write(path, 0.1 * np.sin(2 * np.pi * 440 * np.arange(16000 * 4) / 16000), 16000)
    return path


@pytest.mark.parametrize("onnx, n", [(False, 200), (True, 25)])
def test_damaged_model_files_are_refused_or_run_never_crash(tmp_path, onnx, n):
    """A damaged file (a bad download, a failing disk) either loads as a model whose
    probabilities are finite, or is refused with a ModelError naming it (at load, or at its
    first song where the load's few seconds did not show it): never another exception, never
    NaN for a genre. Fuzzing this found a corrupt deflate stream (zlib.error), ONNX metadata
    that is not UTF-8 (UnicodeDecodeError) escaping, and a flipped weight that passed the
    self-test and gave NaN on 30 s."""
    source = default_model_path(onnx=onnx)
    path = tmp_path / source.name
    outcomes = {"refused": 0, "ran": 0}
    for data in damaged(source.read_bytes(), n, seed=20261201):
        path.write_bytes(data)
        try:
            model = load(path)
        except ModelError as exc:
            assert str(path) in str(exc)
            outcomes["refused"] += 1
            continue
        chunks = np.random.default_rng(0).normal(scale=0.1, size=(1, int(model.sample_rate * model.chunk_seconds)))
        try:
            proba = model.predict_proba(chunks.astype(np.float32))
        except ModelError as exc:
            assert str(path) in str(exc)
            outcomes["refused"] += 1
            continue
        assert proba.shape == (1, len(model.labels)) and np.isfinite(proba).all()
        outcomes["ran"] += 1
    assert outcomes["refused"] > 0, outcomes  # the damage reached the checks
    if onnx:  # no checksum in an ONNX file: some damage loads and runs, and its answers were checked above
        assert outcomes["ran"] > 0, outcomes


def test_an_exported_file_whose_graph_gives_nan_is_refused_naming_it(tmp_path):
    """A NaN weight in an ONNX file's head (the file has no checksum) makes every probability
    NaN: refused with the file named, never NaN handed on for a genre."""
    import onnx
    from onnx import numpy_helper

    graph = onnx.load(str(default_model_path(onnx=True)))
    bias = next(t for t in graph.graph.initializer if t.name == "head.bias")
    values = numpy_helper.to_array(bias).copy()
    values[3] = np.nan
    bias.CopyFrom(numpy_helper.from_array(values, bias.name))
    evil = tmp_path / "evil.onnx"
    onnx.save(graph, str(evil))
    with pytest.raises(ModelError, match=r"evil\.onnx: the graph gave \d+ non-finite probabilities"):
        load(evil)


def test_genuine_default_model_still_loads():
    model = load_model(DEFAULT_MODEL)
    assert model.labels and model.name == "musicnn-prior"


def test_marker_payloads_work_when_unguarded(tmp_path):
    """The corpus is live ammunition: constructed without genrekit's checks, payloads run."""
    import skops.io as sio

    marker = tmp_path / "MARKER"
    data = edit_skops(default_members()["pipeline.skops"], with_memory(payloads(marker)["exec"]))
    sio.loads(data, trusted=sio.get_untrusted_types(data=data))
    assert marker.exists()


def test_every_hostile_file_is_refused_and_runs_nothing(corpus):
    files, marker = corpus
    assert len(files) >= 56
    for name, path in files.items():
        with pytest.raises(ModelError) as caught:
            load(path)
        message = str(caught.value)
        assert str(path) in message, (name, message)
        assert "Traceback" not in message
        assert not marker.exists(), f"{name} ran its payload"


def test_refusals_name_what_is_wrong(corpus):
    files, _ = corpus
    expected = {
        "skops-exec": "builtins.exec via ConstructorFromReduceNode",
        "skops-os.system": "os.system",
        "skops-functools.partial": "functools.partial",
        "skops-allowed-name-wrong-loader": "sklearn.pipeline.Pipeline via ConstructorFromReduceNode",
        "skops-bit-generator": "numpy.random.seed",
        "skops-seed-pool": "a random generator's seed pool size is '1000000', numpy's is 4",
        "skops-seed-entropy": "seed entropy is not a number of at most 1024 bytes",
        "skops-shared-array": "two arrays name the archive member 'shared.npy'",
        "skops-missing-array": "an array names the archive member 'nowhere.npy', which it does not hold",
        "skops-json-node-objects": "a JSON value holds '[{},{},{},{},{},{},{},{}",
        "manifest-bomb": "at most",
        "manifest-deep": f"at most {MAX_JSON_DEPTH}",
        "manifest-list": "expected a JSON object, found list",
        "manifest-labels": "field 'labels' must be list, found int 5",
        "manifest-sample-rate": "field 'sample_rate' must be int, found str",
        "manifest-level-text": "field 'level_dbfs' must be int or float, found str",
        "manifest-level-positive": "level_dbfs must be an RMS level from -60 to 0 dBFS, found 40.0",
        "manifest-level-bool": "field 'level_dbfs' must be",
        "manifest-spellings-not-object": "field 'labels_from_tags' must be dict, found str",
        "manifest-spellings-unknown-genre": "must map the model's genres to lists of strings, found 'polka'",
        "manifest-spellings-not-strings": "must map the model's genres to lists of strings, found 'rock'",
        "skops-zip-bomb": "zip bomb",
        "corrupt-deflate": "archive cannot be read (error: Error -3 while decompressing data",
        "extra-member": "unexpected archive members ['evil.pkl']",
        "net-config-list": "expected a JSON object, found list",
        "net-no-preset": "field 'preset' is missing",
        "net-huge-frames": "field 'n_frames' must be",
        "net-no-metadata": "no 'genrekit' entry",
        "net-audio-hashes-not-list": "field 'audio_sha256' must be list, found int 5",
        "net-hashes-not-strings": "field 'training.content_sha256' must list strings",
        "manifest-audio-hashes-not-list": "field 'audio_sha256' must be list, found str",
        "manifest-audio-hashes-not-strings": "field 'training.audio_sha256' must list strings",
    }
    for name, fragment in expected.items():
        with pytest.raises(ModelError, match=None) as caught:
            load(files[name])
        assert fragment in str(caught.value), (name, str(caught.value))


@pytest.mark.parametrize("label, why", [("   ", "no genre name"), ("rock\n", "control character"),
                                        ("ja\x00zz", "control character"), ("x" * 201, "201 characters long"),
                                        ("\ud800", "control character"),
                                        ("c\u202egpj", "invisible mark"), ("ro\u200bck", "invisible mark")],
                         ids=["blank", "newline", "nul", "long", "surrogate", "right-to-left-override", "zero-width"])
def test_genre_names_a_model_would_write_into_songs_are_checked_at_load_and_in_training(label, why):
    """A model's genres go into users' tags, tables and pages: a blank name (which stopped a
    whole tag run), control characters or a 10,000-character name are refused by name when
    a file is read, and a dataset with such a genre is refused before training."""
    from genrekit.datasets import Dataset, Track
    from genrekit.datasets.check import check_genres
    from genrekit.errors import DatasetError
    from genrekit.untrusted import require_labels

    with pytest.raises(ModelError, match=f"model.json: field 'labels': .*{why}"):
        require_labels({"labels": ["jazz", label]}, "model.json")
    tracks = [Track(track_id=f"t{i}", path=f"/music/{i}.wav", label=g) for i, g in enumerate(["jazz", label] * 2)]
    with pytest.raises(DatasetError, match=f"genre .*{why}"):
        check_genres(Dataset("mine", "/music", tracks))
    allowed = ["Drum & Bass", "Música popular", "K-Pop 🎤", "موسیقی\u200cسنتی"]  # a Persian name needs its joiner
    assert require_labels({"labels": allowed}, "ok") == allowed
    # nor genrekit's own answer for a song it cannot name: it would take the proportions' "unknown" share
    with pytest.raises(ModelError, match="model.json: field 'labels' holds 'unknown', genrekit's answer"):
        require_labels({"labels": ["jazz", "unknown"]}, "model.json")


def test_read_manifest_checks_the_schema(corpus):
    files, _ = corpus
    with pytest.raises(ModelError, match="field 'labels'"):
        read_manifest(files["manifest-labels"])


def test_the_allow_list_is_exactly_what_genrekit_writes():
    """Every model genrekit trains saves only allow-listed types with their loaders, and
    nothing in the allow-list is a prefix, a function or a builtin beyond containers."""
    import warnings

    from sklearn.pipeline import Pipeline

    from genrekit.models import MODELS, make_model
    from genrekit.models.artifact import skops_io

    sio = skops_io()

    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(60, 6)), np.repeat(np.arange(3), 20)
    seen: dict[str, set[str]] = {}
    small = {"random-forest": {"clf__n_estimators": 3}, "extra-trees": {"clf__n_estimators": 3},
             "gradient-boosting": {"clf__n_estimators": 3}, "adaboost": {"clf__n_estimators": 3},
             "xgboost": {"clf__n_estimators": 3},
             "ensemble": {"clf__extra_trees__n_estimators": 3, "clf__boosting__max_iter": 3,
                          "clf__mlp__max_iter": 20}}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for name in MODELS:
            pipeline = make_model(name, labels=["blues", "jazz", "reggae"], columns=[f"c{i}" for i in range(6)],
                                  **small.get(name, {})).fit(X, y)
            if name == "xgboost":
                pipeline = Pipeline(pipeline.steps[:-1])
            with zipfile.ZipFile(io.BytesIO(sio.dumps(pipeline))) as archive:
                stack = [json.loads(archive.read("schema.json"))]
            while stack:
                node = stack.pop()
                if isinstance(node, list):
                    stack.extend(node)
                elif isinstance(node, dict):
                    stack.extend(node.values())
                    if "__loader__" in node and node["__loader__"] != "CachedNode":
                        seen.setdefault(f"{node['__module__']}.{node['__class__']}", set()).add(node["__loader__"])
    for qualified, loaders in seen.items():
        assert loaders <= SKOPS_ALLOWED_TYPES.get(qualified, frozenset()), (qualified, loaders)
    builtins = {name for name in SKOPS_ALLOWED_TYPES if name.startswith("builtins.")}
    assert builtins == {"builtins.dict", "builtins.list", "builtins.tuple", "builtins.str"}
    assert all(not name.endswith(".") for name in SKOPS_ALLOWED_TYPES)
    loaders = set().union(*SKOPS_ALLOWED_TYPES.values())
    assert not loaders & {"FunctionNode", "PartialNode", "MethodNode", "OperatorFuncNode", "ConstructorFromReduceNode"}


def test_a_ten_genre_ensemble_passes_the_archive_caps(tmp_path):
    """The caps refuse bombs, not genrekit's own files: the ``ensemble`` recipe at its full size
    on ten genres (skops writes ~14k archive members, one per array) saves and loads back."""
    import warnings

    from genrekit.features import FeatureSpec
    from genrekit.models import GenreModel, make_model, save_model

    spec = FeatureSpec("gtzan57")
    labels = [f"genre{i}" for i in range(10)]
    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(40, len(spec.columns))), np.repeat(np.arange(10), 4)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the MLP does not converge on 40 random rows
        estimator = make_model("ensemble", labels=labels, columns=list(spec.columns)).fit(X, y)
    path = save_model(GenreModel("ensemble", labels, spec, estimator), tmp_path / "ensemble.genrekit")
    with zipfile.ZipFile(path) as outer, zipfile.ZipFile(io.BytesIO(outer.read("pipeline.skops"))) as inner:
        assert len(inner.infolist()) > 10_000  # what the old cap refused
    np.testing.assert_allclose(load_model(path).predict_proba(X), estimator.predict_proba(X), atol=1e-12)


@pytest.mark.parametrize("text, depth", [
    ("", 0), ("[]", 1), ('{"a": [[1], {"b": []}]}', 4), ('["[[[", "]"]', 1), ('["\\"[[", 1]', 1),
    ('["\\\\", [[]]]', 3), ('[1]]]][', 1), ('["open [[[[', 1), ('["ends in a backslash\\', 1),
    ('"a"[["b"[[', 4), ("[" * 5000 + "]" * 5000, 5000),
])
def test_json_depth_counts_brackets_outside_strings(text, depth):
    """The nesting bound is checked before parsing: brackets inside strings (escaped quotes and
    backslashes included, and in a string left open) do not count, closing ones past zero do not
    lift a later opening one."""
    from genrekit.untrusted import _json_shape

    assert _json_shape(text)[0] == depth


def test_json_whose_objects_would_cost_far_more_than_its_bytes_is_refused_before_parsing():
    """The byte caps let a small file take gigabytes: 3 bytes of "{}," parse into a 72-byte
    dict, so a 410 kB model file whose skops schema held 64 MB of them took 2.2 GB, and an
    XGBoost booster the same (a review, 2026-12-04). The objects' cost is estimated from the
    text first; numbers, strings and genrekit's own documents pass."""
    import time

    from genrekit.untrusted import MAX_JSON_MEMORY, parse_json

    started = time.perf_counter()
    with pytest.raises(ModelError, match=r"bomb.json: 12000004 bytes of JSON whose values would take about \d+ MB as "
                                         r"objects; at most 256 MB are accepted"):
        parse_json("[" + "{}," * 4_000_000 + "{}]", "bomb.json")
    assert time.perf_counter() - started < 10 and MAX_JSON_MEMORY == 256 * 2**20
    with pytest.raises(ModelError, match="would take about"):
        parse_json("[" + '"ab",' * 3_000_000 + "1]", "strings.json")  # 15 MB of short strings: ~330 MB
    numbers = parse_json(json.dumps(list(np.linspace(0, 1, 1_000_000))), "numbers.json")  # 20 MB of floats: passes
    assert len(numbers) == 1_000_000
    # one escape past Latin-1 makes Python store every character of its string in 4 bytes
    from genrekit.untrusted import _json_shape

    wide = '["' + "a" * 4_000_000 + '\\ud83d\\ude00"]'
    assert _json_shape(wide)[1] >= 4 * 4_000_000 > _json_shape(json.dumps(["a" * 4_000_000]))[1]


def test_a_huge_safetensors_header_is_refused_before_the_library_parses_it(tmp_path):
    """safetensors accepts a 100 MB header and parsed one of 1.5 million empty tensors (85 MB)
    into 1.75 GB (a review, 2026-12-04). The header's length is read from the first 8 bytes
    and refused past 16 MB; the file here holds 17 MB of such a header."""
    from genrekit.models import load

    entries = ",".join(f'"t{i}":{{"dtype":"F32","shape":[0],"data_offsets":[0,0]}}' for i in range(300_000))
    text = ("{" + entries + "}").encode()
    path = tmp_path / "wide.safetensors"
    path.write_bytes(struct.pack("<Q", len(text)) + text)
    assert len(text) > 16 * 2**20
    with pytest.raises(ModelError, match=rf"wide.safetensors: not a genrekit network file: its safetensors header "
                                         rf"declares {len(text)} bytes; at most "):
        load(path)
    (tmp_path / "short.safetensors").write_bytes(b"\x01")
    with pytest.raises(ModelError, match=r"short.safetensors: not a genrekit network file \(1 bytes, shorter than"):
        load(tmp_path / "short.safetensors")


def test_an_archive_over_the_member_cap_is_refused_before_it_is_read(tmp_path, monkeypatch):
    from genrekit import untrusted

    members = default_members()
    path = write_model(tmp_path / "many.genrekit", {**members, **{f"pad{i}": b"" for i in range(5)}}, rehash=False)
    with pytest.raises(ModelError, match=rf"many.genrekit: archive declares {len(members) + 5} members; at most "
                                         r"\d are accepted"):  # the names a model file may hold
        load_model(path)
    # a skops archive (any member names): the cap on members
    monkeypatch.setattr(untrusted, "MAX_MEMBERS", 5)
    packed = io.BytesIO()
    with zipfile.ZipFile(packed, "w") as archive:
        for name in ("schema.json", *(f"{i}.npy" for i in range(8))):
            archive.writestr(name, b"")
    with pytest.raises(ModelError, match=r"inner: archive declares 9 members; at most 5 are accepted"):
        untrusted.read_archive(packed.getvalue(), "inner", kind="a skops file", required="schema.json")


def _listing_bomb(path: Path, entries: int, declared: int) -> Path:
    """A zip whose central directory lists one member ``entries`` times under new names, its end
    record declaring ``declared`` members: zipfile parses every listed entry (by the directory's
    size, whatever the count says)."""
    data, name = b"{}", b"genrekit.json"
    crc = zlib.crc32(data)
    local = struct.pack("<4s5H3L2H", b"PK\x03\x04", 20, 0, 0, 0, 0, crc, len(data), len(data), len(name), 0)
    listing = b"".join(struct.pack("<4s6H3L5H2L", b"PK\x01\x02", 20, 20, 0, 0, 0, 0, crc, len(data), len(data),
                                   len(n), 0, 0, 0, 0, 0, 0) + n for n in [name, *(b"%x" % i for i in range(1, entries))])
    start = len(local) + len(name) + len(data)
    end = struct.pack("<4s4H2LH", b"PK\x05\x06", 0, 0, declared, declared, len(listing), start, 0)
    path.write_bytes(local + name + data + listing + end)
    return path


def test_a_long_member_list_is_refused_before_zipfile_reads_it(tmp_path, monkeypatch):
    """An audit (2026-12-06): zipfile builds an object for every entry of an archive's central
    directory before genrekit counted them, so a 207 MB file listing 4M members took 2.2 GB to
    be refused (and, within the cap, its refusal named each of 1M members). The end record's
    count and the directory's size (which bounds the entries zipfile parses, whatever the
    count says) are checked first."""
    def never(*args, **kwargs):
        raise AssertionError("zipfile read the member list")

    many = _listing_bomb(tmp_path / "many.genrekit", 5000, declared=5000)
    lying = _listing_bomb(tmp_path / "lying.genrekit", 5000, declared=1)
    monkeypatch.setattr(zipfile, "ZipFile", never)
    with pytest.raises(ModelError, match=r"many.genrekit: archive declares 5000 members; at most \d are accepted"):
        load_model(many)
    with pytest.raises(ModelError, match=r"lying.genrekit: archive's member list takes \d+ bytes; at most \d+ are "
                                         r"accepted for \d members"):
        load_model(lying)


runner = CliRunner()


def test_commands_refuse_every_hostile_file(corpus, song, tmp_path):
    """predict, evaluate and the service's app refuse each file with exit 1 and run nothing."""
    from genrekit.server import create_app

    files, marker = corpus
    dataset = tmp_path / "dataset"
    for genre in ("a", "b"):
        (dataset / genre).mkdir(parents=True)
        for i in range(2):
            (dataset / genre / f"{i}.wav").write_bytes(song.read_bytes())
    for name, path in files.items():
        predicted = runner.invoke(app, ["predict", "--model", str(path), str(song)])
        assert predicted.exit_code == EXIT_ERROR, (name, predicted.output)
        evaluated = runner.invoke(app, ["evaluate", str(path), str(dataset), "--out", str(tmp_path / name)])
        assert evaluated.exit_code == EXIT_ERROR, (name, evaluated.output)
        with pytest.raises(GenrekitError):
            create_app(path)
        assert not marker.exists(), f"{name} ran its payload"


@pytest.mark.parametrize("name", ["skops-exec", "skops-subprocess"])
def test_serve_refuses_at_start_up(corpus, name):
    """A real `genrekit serve` process exits 1 on a hostile file before listening."""
    files, marker = corpus
    with socket.socket() as probe:  # a free port; the server must never get as far as binding it
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    result = subprocess.run([sys.executable, "-m", "genrekit", "serve", str(files[name]), "--port", str(port)],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == EXIT_ERROR, result.stderr
    assert str(files[name]) in result.stderr
    assert not marker.exists()


def _tampered(tmp_path, name: str, tamper, **params) -> Path:
    """A model file of ``name`` on tiny data whose fitted arrays ``tamper`` edits in place."""
    from genrekit.features import FeatureSpec
    from genrekit.models import GenreModel, make_model, save_model

    spec = FeatureSpec("gtzan57")
    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(60, len(spec.columns))), np.repeat(np.arange(3), 20)
    pipeline = make_model(name, **params).fit(X, y)
    tamper(pipeline[-1])
    return save_model(GenreModel(name, ["a", "b", "c"], spec, pipeline), tmp_path / f"{name}.genrekit")


def _tree_child_past_the_end(classifier):
    tree = classifier.tree_
    state = tree.__getstate__()
    nodes = state["nodes"].copy()
    nodes["left_child"][0] = 10**6  # the root's left child far past the node array
    tree.__setstate__({**state, "nodes": nodes})


def _kd_index_past_the_end(classifier):
    state = list(classifier._tree.__getstate__())
    state[1] = state[1].copy()
    state[1][0] = 10**6
    classifier._tree.__setstate__(tuple(state))


def _kd_leaves_split(classifier):  # every leaf a split: its children 2i+1, 2i+2 lie past the nodes
    state = list(classifier._tree.__getstate__())
    state[2] = state[2].copy()
    state[2]["is_leaf"] = 0
    classifier._tree.__setstate__(tuple(state))


def _kd_bounds_of_three_features(classifier):
    state = list(classifier._tree.__getstate__())
    state[3] = np.ascontiguousarray(state[3][:, :, :3])
    classifier._tree.__setstate__(tuple(state))


def _knn_rows_narrower_than_the_features(classifier):  # brute force reads past each row
    classifier._fit_X = np.ascontiguousarray(classifier._fit_X[:, :3])


def _knn_labels_short(classifier):
    classifier._y = classifier._y[:10]


KD = {"clf__algorithm": "kd_tree"}


@pytest.mark.parametrize("name, tamper, params, why", [
    ("decision-tree", _tree_child_past_the_end, {}, "past"),
    ("knn", _kd_index_past_the_end, KD, "indexes past its data"),
    ("knn", _kd_leaves_split, KD, "children past its"),
    ("knn", _kd_bounds_of_three_features, KD, "node bounds have shape"),
    ("knn", _knn_rows_narrower_than_the_features, {"clf__algorithm": "brute"}, "training rows of shape"),
    ("knn", _knn_labels_short, {"clf__algorithm": "brute"}, "labels"),
], ids=["tree-child", "kd-index", "kd-leaves-split", "kd-bounds", "knn-narrow-rows", "knn-short-labels"])
def test_allowed_types_with_out_of_bounds_contents_are_refused(tmp_path, name, tamper, params, why):
    """Allow-listed types can still hold indices that compiled code follows without bounds
    checks; such files are refused before any prediction reads past an array. A k-d tree
    whose leaves claim to split crashed the process (a segfault) at its first prediction
    before 2026-12-02, as did brute-force neighbours with rows narrower than the features."""
    path = _tampered(tmp_path, name, tamper, **params)
    with pytest.raises(ModelError, match=f"crafted file.*{why}|{why}.*crafted file"):
        load_model(path)


def _edit_nodes(tree, edit) -> None:
    """A scikit-learn ``Tree`` with its node records changed by ``edit(nodes)``."""
    state = tree.__getstate__()
    nodes = state["nodes"].copy()
    edit(nodes)
    tree.__setstate__({**state, "nodes": nodes})


def _last_split(children) -> int:
    return int(np.flatnonzero(children != -1)[-1])


def _tree_split_looping_to_itself(classifier):
    def edit(nodes):
        node = _last_split(nodes["left_child"])
        nodes["left_child"][node] = nodes["right_child"][node] = node
    _edit_nodes(classifier.tree_, edit)


def _tree_split_looping_to_the_root(classifier):
    def edit(nodes):
        nodes["left_child"][_last_split(nodes["left_child"])] = 0
    _edit_nodes(classifier.tree_, edit)


def _stage_tree_child_past_the_end(classifier):
    _edit_nodes(classifier.estimators_[0, 0].tree_,
                lambda nodes: (nodes["left_child"].__setitem__(0, 10**7), nodes["right_child"].__setitem__(0, 10**7)))


def _stage_tree_looping_to_itself(classifier):
    _tree_split_looping_to_itself(classifier.estimators_[1, 2])


def _stage_wider_than_the_predictions(classifier):
    classifier.estimators_ = np.concatenate([classifier.estimators_, classifier.estimators_[:, :1]], axis=1)


def _stage_tree_without_its_tree(classifier):
    classifier.estimators_[1, 1].tree_ = None


def _boosted_predictor(classifier):
    return dict(classifier.named_estimators_)["boosting"]._predictors[0][0]


def _boosted_split_looping_to_itself(classifier):
    nodes = _boosted_predictor(classifier).nodes
    node = int(np.flatnonzero(nodes["is_leaf"] == 0)[-1])
    nodes["left"][node] = nodes["right"][node] = node


def _boosted_categorical_split(classifier):
    _boosted_predictor(classifier).nodes["is_categorical"][0] = 1


def _svc_counts(counts):
    def tamper(classifier):
        classifier._n_support = np.asarray(counts(int(classifier._n_support.sum())), dtype=classifier._n_support.dtype)
    return tamper


def _svc_attribute(name, value):
    return lambda classifier: setattr(classifier, name, value(getattr(classifier, name)))


def _svc_support_past_the_training_set(classifier):
    classifier.support_[0] = 10**6


STAGES = {"clf__n_estimators": 3}
ENSEMBLE = {"clf__extra_trees__n_estimators": 2, "clf__boosting__max_iter": 2, "clf__mlp__max_iter": 10}


@pytest.mark.parametrize("name, tamper, params, message", [
    # gradient boosting keeps its trees in an object array, which the walk skipped: a root child
    # of 10**7, or a tree_ of None, crashed the process at the first prediction (a segfault); a
    # stage one tree wider than the predictions writes past their array
    ("gradient-boosting", _stage_tree_child_past_the_end, STAGES, "decision tree points past its nodes"),
    ("gradient-boosting", _stage_tree_looping_to_itself, STAGES,
     "decision tree node points at a node that is not after it"),
    ("gradient-boosting", _stage_wider_than_the_predictions, STAGES,
     r"4 trees a stage for initial predictions of shape \(1, 3\)"),
    ("gradient-boosting", _stage_tree_without_its_tree, STAGES, "a gradient boosting tree holds None, not a fitted tree"),
    # a node whose child is itself, or an earlier node, made prediction loop for ever
    ("decision-tree", _tree_split_looping_to_itself, {}, "decision tree node points at a node that is not after it"),
    ("decision-tree", _tree_split_looping_to_the_root, {}, "decision tree node points at a node that is not after it"),
    ("ensemble", _boosted_split_looping_to_itself, ENSEMBLE, "boosted tree node points at a node that is not after it"),
    ("ensemble", _boosted_categorical_split, ENSEMBLE, "boosted tree has categorical splits"),
    # libsvm reads its arrays by the counts of others; scikit-learn checks only that the per-class
    # counts add up: 3,000 counts for 3 classes passed it and crashed libsvm (a segfault)
    ("svc-rbf", _svc_counts(lambda n: [n] + [0] * 2999), {}, r"_n_support has shape \(3000,\) .*; expected \(3,\)"),
    ("nu-svc", _svc_counts(lambda n: [n] + [0] * 2999), {}, r"_n_support has shape \(3000,\) .*; expected \(3,\)"),
    ("svc-rbf", _svc_counts(lambda n: [n + 5, -5, 0]), {}, r"_n_support holds -5, outside \[0, inf\)"),
    ("svc-rbf", _svc_counts(lambda n: [n, 1, 0]), {}, "counts .* support vectors .* and holds"),
    ("svc-rbf", _svc_support_past_the_training_set, {}, r"support_ holds 1000000, outside \[0, 60\)"),
    ("svc-rbf", _svc_attribute("_dual_coef_", lambda coef: coef[:, :-1].copy()), {}, "_dual_coef_ has shape"),
    ("svc-rbf", _svc_attribute("_intercept_", lambda intercept: intercept[:1].copy()), {}, "_intercept_ has shape"),
    ("svc-rbf", _svc_attribute("_probA", lambda prob: prob[:1].copy()), {}, "_probA and _probB have shapes"),
    ("svc-rbf", _svc_attribute("shape_fit_", lambda shape: (shape[0], 10**6)), {}, "was fitted on shape"),
    ("svc-rbf", _svc_attribute("_impl", lambda impl: "one_class"), {}, "of libsvm kind 'one_class'"),
])
def test_crafted_fitted_contents_are_refused_before_predicting(tmp_path, name, tamper, params, message):
    """Each of these files passed the former checks, and compiled code would follow its
    contents past an array or round a loop at prediction; each is now refused at load,
    naming the file and what is inconsistent."""
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the MLP does not converge in 10 iterations
        path = _tampered(tmp_path, name, tamper, **params)
    with pytest.raises(ModelError, match=message) as refused:
        load_model(path)
    assert str(refused.value).startswith(f"{path}: ")


def _lying_member(path: Path, name: str, data: bytes, *, declared: int, crc: int) -> Path:
    """A model file whose member ``name`` holds ``data`` deflated while its listing declares
    ``declared`` bytes of CRC ``crc`` (local header and central directory alike)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("genrekit.json", default_members()["genrekit.json"])
        archive.writestr(name, data)
        offset = archive.getinfo(name).header_offset
    raw = bytearray(buffer.getvalue())
    struct.pack_into("<I", raw, offset + 14, crc)
    struct.pack_into("<I", raw, offset + 22, declared)
    at = raw.find(b"PK\x01\x02")
    while at != -1:
        length = struct.unpack_from("<H", raw, at + 28)[0]
        if raw[at + 46:at + 46 + length] == name.encode():
            struct.pack_into("<I", raw, at + 16, crc)
            struct.pack_into("<I", raw, at + 24, declared)
        at = raw.find(b"PK\x01\x02", at + 4)
    path.write_bytes(bytes(raw))
    return path


@pytest.mark.parametrize("crc, message", [
    ("declared", "member pipeline.skops unpacks to more than the 10 bytes its listing declares"),
    ("stream", r"archive cannot be read \(member pipeline.skops: Bad CRC-32"),
])
def test_a_member_inflating_past_its_declared_size_is_refused_within_a_chunk(tmp_path, crc, message):
    """zipfile's ``read`` inflates a whole member before cutting it to its declared size: a
    64 MiB stream declared as 10 bytes held ~140 MiB to refuse. Members are now inflated a
    chunk at a time and refused at the first byte past the declared size, whatever CRC the
    listing gives."""
    import tracemalloc
    import zlib

    data = bytes(64 * 2**20)
    path = _lying_member(tmp_path / "liar.genrekit", "pipeline.skops", data, declared=10,
                         crc=zlib.crc32(data[:11]) if crc == "declared" else zlib.crc32(data))
    del data
    tracemalloc.start()
    try:
        with pytest.raises(ModelError, match=message) as refused:
            load_model(path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert str(refused.value).startswith(f"{path}: ")
    assert peak < 8 * 2**20, f"{peak / 2**20:.0f} MiB held to refuse a 10-byte member"


def _members_sharing_their_bytes(n: int, kernel: bytes) -> bytes:
    """A zip of ``n`` members whose packed bytes overlap ("quoted overlap"): each member's
    deflate stream quotes the next member's local header in a stored block and runs on into it,
    so all end in one deflate stream of ``kernel``. Each passes the ratio cap alone."""
    packer = zlib.compressobj(9, zlib.DEFLATED, -15)
    kernel_packed = packer.compress(kernel) + packer.flush()
    names = [f"pad{i:03d}.npy".encode() for i in range(n)]
    headers, listed, plain = [b""] * n, [None] * n, b""  # plain: the headers after member i, unpacked
    for i in reversed(range(n)):
        crc = zlib.crc32(kernel, zlib.crc32(plain))
        packed = sum(5 + len(h) for h in headers[i + 1:]) + len(kernel_packed)
        listed[i] = (crc, packed, len(plain) + len(kernel))
        headers[i] = struct.pack("<4s5H3L2H", b"PK\x03\x04", 20, 0, 8, 0, 0, *listed[i], len(names[i]), 0) + names[i]
        plain = headers[i] + plain
    body, offsets = bytearray(), []
    for i in range(n):
        offsets.append(len(body))
        body += headers[i]
        if i + 1 < n:  # a stored, non-final deflate block holding the next header
            body += struct.pack("<BHH", 0, len(headers[i + 1]), len(headers[i + 1]) ^ 0xFFFF)
    body += kernel_packed
    directory = b"".join(struct.pack("<4s6H3L5H2L", b"PK\x01\x02", 20, 20, 0, 8, 0, 0, *listed[i], len(names[i]), 0,
                                     0, 0, 0, 0, offsets[i]) + names[i] for i in range(n))
    end = struct.pack("<4s4H2LH", b"PK\x05\x06", 0, 0, n, n, len(directory), len(body), 0)
    return bytes(body + directory + end)


def test_members_that_share_their_packed_bytes_are_refused_before_any_is_unpacked():
    """An audit (2026-12-06): 200 members sharing one deflate stream, each within the ratio cap,
    made a 35 kB model file unpack to 1 GB before it loaded. Their packed sizes add up to more
    than the archive holds: refused before a member is read."""
    from genrekit.untrusted import read_archive

    rng = np.random.default_rng(0)
    kernel = bytearray(2**20)
    kernel[::64] = rng.integers(0, 256, len(kernel[::64]), dtype=np.uint8).tobytes()  # a ratio under the cap
    evil = _members_sharing_their_bytes(40, bytes(kernel))
    with zipfile.ZipFile(io.BytesIO(evil)) as archive:  # zipfile (Python 3.11.7) unpacks every member
        assert len(archive.read("pad000.npy")) > 2**20 and len(evil) < 2**20
    with pytest.raises(ModelError, match=r"evil.skops: its members' packed sizes add up to \d+ bytes, more than "
                                         r"the archive's \d+: members share their bytes"):
        read_archive(evil, "evil.skops", kind="a skops file", required="pad000.npy")


def test_a_member_padded_after_its_deflate_stream_is_refused(tmp_path):
    """A packed size padded with zeros after the deflate stream's end keeps the listing's
    ratio under the cap while the member unpacks to 100 times more (a 100 kB model file held
    240 MB of schema); zipfile ignores the padding. No zip writer leaves it: refused."""
    import zlib

    data = b"{}" * 2**20
    packer = zlib.compressobj(9, zlib.DEFLATED, -15)
    packed = packer.compress(data) + packer.flush()
    padding = len(data) // 100  # ratio 100 < MAX_RATIO in the listing
    path = tmp_path / "padded.genrekit"
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_STORED) as archive:
        archive.writestr("genrekit.json", default_members()["genrekit.json"])
        archive.writestr("pipeline.skops", packed + bytes(padding))  # stored: the raw bytes as they are
    raw = bytearray(path.read_bytes())
    # relabel the stored member as deflated with the true unpacked size and CRC, local header and directory alike
    name = b"pipeline.skops"
    for signature, method_at, crc_at, size_at, length_at, name_at in ((b"PK\x03\x04", 8, 14, 22, 26, 30),
                                                                     (b"PK\x01\x02", 10, 16, 24, 28, 46)):
        at = raw.find(signature)
        while at != -1:
            length = struct.unpack_from("<H", raw, at + length_at)[0]
            if raw[at + name_at:at + name_at + length] == name:
                struct.pack_into("<H", raw, at + method_at, zipfile.ZIP_DEFLATED)
                struct.pack_into("<I", raw, at + crc_at, zlib.crc32(data))
                struct.pack_into("<I", raw, at + size_at, len(data))
            at = raw.find(signature, at + 4)
    path.write_bytes(bytes(raw))
    with zipfile.ZipFile(path) as archive:  # zipfile itself reads it without a complaint
        assert archive.read("pipeline.skops") == data
    with pytest.raises(ModelError, match="holds bytes after the end of its compressed data") as refused:
        load_model(path)
    assert str(refused.value).startswith(f"{path}: ")


@pytest.mark.parametrize("kind, inner, corrupt", [("bzip2", False, False), ("lzma", False, False),
                                                  ("lzma", False, True), ("lzma", True, False)])
def test_members_neither_stored_nor_deflated_are_refused_unopened(tmp_path, kind, inner, corrupt):
    """bzip2 and lzma inflate a read's whole input at once, with no bound on what comes out,
    and a corrupt lzma member escaped as _lzma.LZMAError; genrekit and skops write neither, so
    a member of either (in the model file or in its skops payload) is refused before it is opened."""
    members = default_members()
    method = {"bzip2": zipfile.ZIP_BZIP2, "lzma": zipfile.ZIP_LZMA}[kind]
    path = tmp_path / "packed.genrekit"
    where = re.escape(f"{path}:pipeline.skops" if inner else f"{path}")
    if inner:
        with zipfile.ZipFile(io.BytesIO(members["pipeline.skops"])) as skops:
            payload = {name: skops.read(name) for name in skops.namelist()}
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w", compression=method) as archive:
            for name, data in payload.items():
                archive.writestr(name, data)
        write_model(path, {**members, "pipeline.skops": buffer.getvalue()})
    else:
        with zipfile.ZipFile(path, "w", compression=method) as archive:
            for name, data in members.items():
                archive.writestr(name, data)
        if corrupt:
            invalid_deflate(path, "pipeline.skops")  # its packed bytes overwritten, whatever the method
    with pytest.raises(ModelError, match=rf"{where}: member \S+ is compressed with {kind}; only stored or deflated"):
        load_model(path)


@pytest.mark.parametrize("tamper, message", [
    ({"labels": 5}, "labels"),
    ({"input_name": ["patches"]}, "input_name"),
    ({"pooling_input": 5}, "pooling_input"),
    ({"pooling_input": "pooling", "features_output": None}, "features_output"),
    ({"features": {"sample_rate": 10**9, "min_duration": 3.0}}, "sample_rate"),
    ({"features": {"sample_rate": 16000, "min_duration": 3.0, "level_dbfs": "loud"}}, "level_dbfs"),
    ({"features": {"sample_rate": 16000, "min_duration": 3.0, "level_dbfs": -1e308}}, "level_dbfs"),
    ({"training": {"content_sha256": "ab"}}, "content_sha256"),
    ({"training": {"audio_sha256": [{"__reduce__": "os.system"}]}}, "training.audio_sha256"),
    # another pooling was reported, and the mean used (an audit, 2026-12-06)
    ({"aggregation": "max"}, "field 'aggregation' must be 'mean' or 'vote', found 'max'"),
    # a light graph's stride: the runtime builds a (patches / stride, patches) matrix from it
    ({"heard_stride": 0}, "heard_stride' must be a whole number 1-64"),
    ({"heard_stride": 10**9}, "heard_stride' must be a whole number 1-64"),
    ({"heard_stride": True}, "field 'heard_stride' must be int, found bool"),
    ({"heard_stride": "3"}, "heard_stride"),
    ({"heard_stride": None}, "heard_stride"),
    ({"heard_input": ["heard"]}, "heard_input"),
    ({"pooling_input": ""}, "'heard_input' needs 'pooling_input'"),
    ({"heard_input": ""}, "'heard_stride' without 'heard_input'"),
    # one graph input fed two arrays: whichever came last would stand for both
    ({"heard_input": "pooling"}, "fields 'pooling_input' and 'heard_input' name the same graph input 'pooling'"),
    ({"heard_input": "patches"}, "fields 'input_name' and 'heard_input' name the same graph input 'patches'"),
    ({"pooling_input": "patches"}, "fields 'input_name' and 'pooling_input' name the same graph input 'patches'"),
    # a later genrekit's file: its fields may mean what this one cannot know (a traceback hunt, 2026-12-07)
    ({"format_version": 99}, r"ONNX format 99 is newer than this genrekit reads \(1\); upgrade genrekit"),
    ({"format_version": 0}, "field 'format_version' must be 1 or more, found 0"),
    ({"format_version": "1"}, "format_version"),
    ({"format": "genrekit-model"}, "field 'format' must be 'genrekit-onnx', found 'genrekit-model'"),
])
def test_an_exported_files_genrekit_metadata_is_checked_field_by_field(tamper, message):
    """The config an ONNX file carries in its metadata is read like a manifest: each field's
    type and range, with the file and the field named (a tampered file must not crash later)."""
    from genrekit.models.interface import _checked_onnx_config, read_onnx_metadata

    config = {**read_onnx_metadata(default_model_path(onnx=True)), **tamper}
    with pytest.raises(GenrekitError, match=message) as refused:
        _checked_onnx_config(config, "evil.onnx: metadata 'genrekit'")
    assert "evil.onnx" in str(refused.value)


DROP = object()  # a tamper's value that removes the field


@pytest.mark.parametrize("tamper, message", [
    (lambda c: {"labels": c["labels"][:-1]}, "9 labels for a graph that gives 10 probabilities"),
    (lambda c: {"labels": [*c["labels"], "polka"]}, "11 labels for a graph that gives 10 probabilities"),
    (lambda c: {"output_name": "nope"}, "output_name 'nope' is not in the graph"),
    (lambda c: {"input_name": "x"}, "input_name 'x' is not in the graph"),
    (lambda c: {"heard_input": "x"}, "heard_input 'x' is not in the graph"),
    (lambda c: {"heard_input": ""}, "field 'heard_stride' without 'heard_input'"),
    (lambda c: {"heard_input": DROP, "heard_stride": DROP}, "the graph takes heard, which the metadata does not name"),
    (lambda c: {"heard_input": "patches"}, "fields 'input_name' and 'heard_input' name the same graph input"),
])
def test_an_exported_files_metadata_must_describe_its_graph(tmp_path, tamper, message):
    """Well-typed metadata that does not match the graph (a genre too few silently dropped a
    column; one too many crashed mid-song) is refused on load, naming the file."""
    import onnx

    from genrekit.models.interface import ONNX_METADATA_KEY, read_onnx_metadata

    source = default_model_path(onnx=True)
    config = read_onnx_metadata(source)
    graph = onnx.load(str(source))
    for entry in graph.metadata_props:
        if entry.key == ONNX_METADATA_KEY:
            entry.value = json.dumps({k: v for k, v in {**config, **tamper(config)}.items() if v is not DROP})
    evil = tmp_path / "evil.onnx"
    onnx.save(graph, str(evil))
    with pytest.raises(ModelError, match=f"evil.onnx: metadata 'genrekit': {message}"):
        load(evil)


def test_an_exported_file_whose_text_is_not_utf8_is_refused(tmp_path):
    """onnxruntime decodes a file's metadata as UTF-8 when asked for it: bytes that are not
    UTF-8 (a flipped bit, found by fuzzing) gave a UnicodeDecodeError, not a refusal."""
    import onnx

    graph = onnx.load(str(default_model_path(onnx=True)))
    graph.metadata_props.add(key="note", value="PLACEHOLDER")
    evil = tmp_path / "evil.onnx"
    evil.write_bytes(graph.SerializeToString().replace(b"PLACEHOLDER", b"\xc2A" + b"x" * 9))
    with pytest.raises(ModelError, match=r"evil\.onnx: text in the file is not UTF-8"):
        load(evil)


def _with_booster(path: Path, edit) -> Path:
    """The XGBoost model file ``path`` with its booster.json edited, checksums rewritten."""
    with zipfile.ZipFile(path) as archive:
        members = {name: archive.read(name) for name in archive.namelist()}
    booster = json.loads(members["booster.json"])
    edit(booster)
    members["booster.json"] = json.dumps(booster).encode()
    return write_model(path.with_name("evil.genrekit"), members)


def _first_tree(booster) -> dict:
    return booster["learner"]["gradient_booster"]["model"]["trees"][0]


@pytest.mark.parametrize("edit, message", [
    (lambda b: _first_tree(b)["left_children"].__setitem__(0, 10**6), "points at a node that is not after it"),
    (lambda b: _first_tree(b)["left_children"].__setitem__(0, 0), "points at a node that is not after it"),
    (lambda b: _first_tree(b)["split_indices"].__setitem__(0, 10**6), "splits on a feature it does not have"),
    (lambda b: _first_tree(b)["parents"].pop(), "parents has"),
    (lambda b: b["learner"]["learner_model_param"].__setitem__("num_feature", "100000"), "takes '100000' features"),
    (lambda b: b["learner"]["gradient_booster"].__setitem__("name", "dart"), "not gbtree"),
])
def test_a_tampered_xgboost_booster_is_refused_before_xgboost_reads_it(tmp_path, edit, message):
    """XGBoost follows a tree's child and feature indices without bounds checks: one such
    file crashed the process (a segfault, the service too) on its first prediction."""
    pytest.importorskip("xgboost")
    path = _tampered(tmp_path, "xgboost", lambda clf: None, clf__n_estimators=2)
    load_model(path)  # the file as written loads
    with pytest.raises(ModelError, match=message):
        load_model(_with_booster(path, edit))


def test_a_deeply_nested_booster_is_refused(tmp_path):
    pytest.importorskip("xgboost")
    path = _tampered(tmp_path, "xgboost", lambda clf: None, clf__n_estimators=2)
    with zipfile.ZipFile(path) as archive:
        members = {name: archive.read(name) for name in archive.namelist()}
    members["booster.json"] = nested(100_000)
    with pytest.raises(ModelError, match="nested"):
        load_model(write_model(tmp_path / "deep.genrekit", members))


def _boosted_split_past_the_features(classifier):
    predictor = dict(classifier.named_estimators_)["boosting"]._predictors[0][0]
    predictor.nodes["feature_idx"][predictor.nodes["is_leaf"] == 0] = 10**6


def _nan_weights(classifier):
    classifier.coef_[:] = np.nan


def test_a_boosted_tree_splitting_on_a_missing_feature_is_refused(tmp_path):
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        path = _tampered(tmp_path, "ensemble", _boosted_split_past_the_features, clf__extra_trees__n_estimators=2,
                         clf__boosting__max_iter=2, clf__mlp__max_iter=10)
    with pytest.raises(ModelError, match="boosted tree splits on a feature it does not have"):
        load_model(path)


def test_a_model_that_gives_no_probabilities_is_refused_at_load_not_blamed_on_songs(tmp_path):
    path = _tampered(tmp_path, "logreg", _nan_weights)
    with pytest.raises(ModelError, match="logreg.genrekit: the model gives .* for noise, not probabilities"):
        load(path)


@pytest.mark.parametrize("features, message", [
    ({"sample_rate": 10**30}, "sample_rate"),
    ({"chunk_duration": float("nan")}, "chunk_duration"),
    ({"chunk_duration": float("inf")}, "chunk_duration"),
    ({"chunk_duration": 3.0, "hop_duration": 1e-6}, "hop_duration"),
    ({"min_duration": float("nan")}, "min_duration"),
    ({"min_duration": -1.0}, "min_duration"),
    # each in range, together 600 s of noise at 192 kHz to load it: 13 GB (an audit, 2026-12-06)
    ({"sample_rate": 192_000, "min_duration": 600}, r"min_duration=600 at sample_rate=192000 is 115200000 samples"),
])
def test_a_model_files_feature_numbers_are_bounded(tmp_path, features, message):
    """A sample rate of 1e30 crashed the resampler (a segfault); NaN chunks failed every song."""
    with zipfile.ZipFile(DEFAULT_MODEL) as archive:
        members = {name: archive.read(name) for name in archive.namelist()}
    manifest = json.loads(members["genrekit.json"])
    manifest["features"] = {**manifest["features"], **features}
    members["genrekit.json"] = json.dumps(manifest).encode()
    evil = write_model(tmp_path / "evil.genrekit", members)
    with pytest.raises(ModelError, match=f"evil.genrekit.*{message}"):
        load_model(evil)


NETWORK_CONFIG = {"labels": ["a", "b"], "input_name": "waveform", "output_name": "probabilities", "preset": "cnn4",
                  "n_frames": 128, "frontend_in_graph": False,
                  "frontend": {"sample_rate": 22050, "n_fft": 2048, "hop_length": 512, "n_mels": 128, "fmin": 0.0,
                               "fmax": None, "top_db": 80.0}}


@pytest.mark.parametrize("tamper, message", [
    ({"preset": None}, "preset"),
    ({"kind": "evil"}, "kind"),
    ({"frontend": None}, "frontend"),
    ({"frontend": {**NETWORK_CONFIG["frontend"], "sample_rate": 0}}, "sample_rate"),
    ({"frontend": {**NETWORK_CONFIG["frontend"], "hop_length": 0}}, "hop_length"),
    ({"frontend": {**NETWORK_CONFIG["frontend"], "n_fft": 10**9}}, "n_fft"),
    ({"n_frames": 10**12}, "n_frames"),
    # each number in range, what they make together is not (an audit, 2026-12-06: 24 GiB for a 463-byte file)
    ({"n_frames": 100_000, "frontend": {**NETWORK_CONFIG["frontend"], "sample_rate": 192_000, "hop_length": 1152,
                                        "n_fft": 65_536, "n_mels": 2}},
     "windows of 100000 frames of 65536 samples are 6553600000 values, more than the 16777216"),
    ({"frontend": {**NETWORK_CONFIG["frontend"], "n_fft": 65_536, "n_mels": 1024}}, "1024 mel bands over 32769"),
    ({"input_kind": "image", "image_seconds": 1e9}, "image_seconds"),
    ({"input_kind": "video"}, "input_kind"),
])
def test_an_exported_networks_geometry_is_checked(tamper, message):
    """An exported network's front end sizes every buffer: a hop of 0 divided by zero, a
    billion-frame window allocated without bound; each is refused by name."""
    from genrekit.models.interface import _checked_onnx_config

    _checked_onnx_config(dict(NETWORK_CONFIG), "net.onnx")  # the untouched config passes
    config = {k: v for k, v in {**NETWORK_CONFIG, **tamper}.items() if v is not None}
    with pytest.raises(GenrekitError, match=message):
        _checked_onnx_config(config, "net.onnx")


def test_a_graph_whose_width_is_known_only_at_run_time_is_checked_at_run_time(tmp_path):
    """An output whose width onnxruntime cannot know before running (here: the number of mel
    bands, 128) gave genres without a column, or dropped columns, without a word. Now the file
    is refused when it first runs (at load)."""
    import onnx
    from onnx import TensorProto, helper

    from genrekit.models.interface import ONNX_METADATA_KEY

    nodes = [helper.make_node("ReduceMean", ["log_mel"], ["mean"], axes=[1, 3], keepdims=0),  # (batch, mels)
             helper.make_node("Softmax", ["mean"], ["probabilities"], axis=1)]
    graph = helper.make_graph(nodes, "evil", [helper.make_tensor_value_info("log_mel", TensorProto.FLOAT,
                                                                            ["batch", 1, "mels", "frames"])],
                              [helper.make_tensor_value_info("probabilities", TensorProto.FLOAT, ["batch", "mels"])])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    config = {**NETWORK_CONFIG, "input_name": "log_mel"}
    model.metadata_props.add(key=ONNX_METADATA_KEY, value=json.dumps(config))
    path = tmp_path / "wide.onnx"
    onnx.save(model, str(path))
    with pytest.raises(ModelError, match="wide.onnx: the graph gave probabilities of shape \\(1, 128\\) for 2 genres"):
        load(path)


def test_labels_are_capped():
    from genrekit.untrusted import require_labels

    with pytest.raises(ModelError, match="lists 100000 genres"):
        require_labels({"labels": [f"g{i}" for i in range(100_000)]}, "evil.genrekit")


@pytest.mark.parametrize("where", ["graph", "function"])
def test_an_onnx_loop_is_refused_before_onnxruntime_builds_it(tmp_path, where):
    """A Loop of 10**15 iterations loaded and then hung every prediction (and the service);
    genrekit's exports never loop, so a graph or local function that does is refused."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    from genrekit.models.interface import ONNX_METADATA_KEY

    body = helper.make_graph(
        [helper.make_node("Identity", ["c_in"], ["c_out"]), helper.make_node("Add", ["v_in", "v_in"], ["v_out"])], "body",
        [helper.make_tensor_value_info("i", TensorProto.INT64, []), helper.make_tensor_value_info("c_in", TensorProto.BOOL, []),
         helper.make_tensor_value_info("v_in", TensorProto.FLOAT, None)],
        [helper.make_tensor_value_info("c_out", TensorProto.BOOL, []),
         helper.make_tensor_value_info("v_out", TensorProto.FLOAT, None)])
    loop = helper.make_node("Loop", ["M", "cond", "mean"], ["looped"], body=body)
    functions = []
    if where == "function":  # the Loop hidden in a local function the graph calls
        functions = [helper.make_function("evil", "spin", ["M", "cond", "mean"], ["looped"], [loop],
                                          [helper.make_opsetid("", 18)])]
        loop = helper.make_node("spin", ["M", "cond", "mean"], ["looped"], domain="evil")
    nodes = [helper.make_node("ReduceMean", ["log_mel"], ["mean"], axes=[1, 3], keepdims=0), loop,
             helper.make_node("Softmax", ["looped"], ["probabilities"], axis=1)]
    constants = [numpy_helper.from_array(np.array(10**15, np.int64), "M"), numpy_helper.from_array(np.array(True), "cond")]
    graph = helper.make_graph(nodes, "evil", [helper.make_tensor_value_info("log_mel", TensorProto.FLOAT,
                                                                            ["batch", 1, 128, 128])],
                              [helper.make_tensor_value_info("probabilities", TensorProto.FLOAT, ["batch", 128])],
                              initializer=constants)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18), helper.make_opsetid("evil", 1)],
                              functions=functions)
    model.ir_version = 9
    model.metadata_props.add(key=ONNX_METADATA_KEY, value=json.dumps({**NETWORK_CONFIG, "input_name": "log_mel"}))
    path = tmp_path / "loop.onnx"
    onnx.save(model, str(path))
    with pytest.raises(ModelError, match="loop.onnx: the graph uses Loop"):
        load(path)


def _one_op_onnx(path: Path, *node, domain_version: tuple[str, int] | None = None, initializer=(),
                 labels: int = 2) -> Path:
    """A network export whose probabilities pass through ``node`` (input ``mean``, output ``out``;
    several nodes in a chain)."""
    import onnx
    from onnx import TensorProto, helper

    from genrekit.models.interface import ONNX_METADATA_KEY

    nodes = [helper.make_node("ReduceMean", ["log_mel"], ["mean"], axes=[1, 3], keepdims=0), *node,
             helper.make_node("Softmax", ["out"], ["probabilities"], axis=1)]
    graph = helper.make_graph(nodes, "evil", [helper.make_tensor_value_info("log_mel", TensorProto.FLOAT,
                                                                            ["batch", 1, 128, 128])],
                              [helper.make_tensor_value_info("probabilities", TensorProto.FLOAT, ["batch", 128])],
                              initializer=list(initializer))
    opsets = [helper.make_opsetid("", 17)] + ([helper.make_opsetid(*domain_version)] if domain_version else [])
    model = helper.make_model(graph, opset_imports=opsets)
    model.ir_version = 8
    config = {**NETWORK_CONFIG, "input_name": "log_mel", "labels": [f"genre {i}" for i in range(labels)]}
    model.metadata_props.add(key=ONNX_METADATA_KEY, value=json.dumps(config))
    onnx.save(model, str(path))
    return path


@pytest.mark.parametrize("op", ["RandomNormalLike", "StringNormalizer", "ai.onnx.ml.LabelEncoder", "com.microsoft.Gelu",
                                "evil.Anything"])
def test_an_onnx_operator_outside_the_allow_list_is_refused_by_name(tmp_path, op):
    """Only the operators genrekit's exports use are loaded (ONNX_ALLOWED_OPS): a random, string
    or other-domain operator, even one onnxruntime would run, is refused before onnxruntime sees it."""
    from onnx import helper

    domain, _, name = op.rpartition(".")
    attributes = {"keys_strings": ["a"], "values_int64s": [1]} if name == "LabelEncoder" else {}
    node = helper.make_node(name, ["mean"], ["out"], domain=domain, **attributes)
    path = _one_op_onnx(tmp_path / "odd.onnx", node, domain_version=(domain, 1) if domain else None)
    with pytest.raises(ModelError, match=re.escape(f"odd.onnx: the graph uses {op}, which genrekit's exports never do")):
        load(path)


@pytest.mark.parametrize("where", ["scan body", "graphs attribute", "ai.onnx domain", "function attribute",
                                   "training graph"])
def test_a_refused_operator_is_found_wherever_the_file_hides_it(tmp_path, where):
    """Subgraphs (a Scan's body, an attribute's list of graphs), a local function's default
    attributes and training graphs are read too, and "ai.onnx" is the default domain."""
    import onnx
    from onnx import TensorProto, helper

    hidden = helper.make_node("RandomNormalLike", ["x"], ["y"])
    body = helper.make_graph([hidden], "hidden", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [128])],
                             [helper.make_tensor_value_info("y", TensorProto.FLOAT, [128])])
    op = "RandomNormalLike"
    if where == "scan body":
        node = helper.make_node("Scan", ["mean"], ["out"], body=body, num_scan_inputs=1)
    elif where == "graphs attribute":
        node = helper.make_node("Relu", ["mean"], ["out"])
        node.attribute.append(helper.make_attribute("hidden", [body]))
    elif where == "ai.onnx domain":
        node, op = helper.make_node("Loop", ["mean"], ["out"], domain="ai.onnx"), "Loop"
    else:
        node = helper.make_node("Relu", ["mean"], ["out"])
    path = _one_op_onnx(tmp_path / "hidden.onnx", node)
    model = onnx.load(str(path))
    if where == "function attribute":
        function = helper.make_function("lib", "f", ["a"], ["b"], [helper.make_node("Relu", ["a"], ["b"])],
                                        [helper.make_opsetid("", 17)])
        function.attribute_proto.append(helper.make_attribute("default", body))
        model.functions.append(function)
    elif where == "training graph":
        model.training_info.add().algorithm.CopyFrom(body)
    onnx.save(model, str(path))
    with pytest.raises(ModelError, match=f"hidden.onnx: the graph uses {op}, which genrekit's exports never do"):
        load(path)


def test_a_tensor_stored_outside_the_file_is_refused_before_onnxruntime_reads_it(tmp_path, monkeypatch):
    """ONNX external data names a file to read a tensor from. Handed the file's bytes,
    onnxruntime resolves a relative name against the working directory: it read this one
    (128 floats, beside the working directory's) until genrekit refused such tensors itself."""
    from onnx import TensorProto, helper

    monkeypatch.chdir(tmp_path)
    (tmp_path / "secret.bin").write_bytes(np.arange(128, dtype=np.float32).tobytes())
    weights = TensorProto(name="w", data_type=TensorProto.FLOAT, dims=[128], data_location=TensorProto.EXTERNAL)
    weights.external_data.add(key="location", value="secret.bin")
    path = _one_op_onnx(tmp_path / "outside.onnx", helper.make_node("Add", ["mean", "w"], ["out"]), initializer=[weights])
    with pytest.raises(ModelError, match=r"outside.onnx: 1 tensor\(s\) stored outside the file"):
        load(path)


@pytest.mark.parametrize("where", ["initializer", "attribute"])
def test_sparse_tensors_are_refused_before_onnxruntime_expands_them(tmp_path, where):
    """onnxruntime makes each sparse tensor dense while it builds a session, before genrekit's
    metadata check, outside its memory arena and its run timer: a 214-byte file with four
    empty sparse initializers of 2**28 floats took 4.2 GB (a review, 2026-12-04). Here one
    of 2**30 floats, which would take 4 GiB: refused by name, from the file's bytes."""
    import subprocess
    import sys

    from onnx import TensorProto, helper

    empty = helper.make_sparse_tensor(helper.make_tensor("s", TensorProto.FLOAT, [0], []),
                                      helper.make_tensor("i", TensorProto.INT64, [0], []), [2 ** 30])
    if where == "initializer":
        path = _one_op_onnx(tmp_path / "sparse.onnx", helper.make_node("Identity", ["mean"], ["out"]))
        import onnx

        model = onnx.load(str(path))
        model.graph.sparse_initializer.append(empty)
        onnx.save(model, str(path))
    else:
        node = helper.make_node("Identity", ["mean"], ["out"])  # an allowed operator, an attribute of any name
        node.attribute.append(helper.make_attribute("value", empty))
        path = _one_op_onnx(tmp_path / "sparse.onnx", node)
    assert path.stat().st_size < 2000
    # the child's own peak (VmHWM: ru_maxrss would carry this test process's over the exec)
    script = ("import re, sys\n"
              "from genrekit.errors import ModelError\n"
              "from genrekit.models import load\n"
              "try:\n    load(sys.argv[1])\nexcept ModelError as exc:\n    print(exc)\n"
              "print(int(re.search(r'VmHWM:\\s+(\\d+)', open('/proc/self/status').read()).group(1)) // 1024)\n")
    result = subprocess.run([sys.executable, "-c", script, str(path)], capture_output=True, text=True, timeout=120)
    message, peak_mb = result.stdout.strip().rsplit("\n", 1)
    assert message.startswith(f"{path}: ") and "1 sparse tensor(s), which genrekit's exports never hold" in message, \
        result.stdout + result.stderr
    assert int(peak_mb) < 1000, peak_mb


@pytest.mark.parametrize("fixed", [{"patches": [4, 187, 96]}, {"pooling": [3, 4]}, {"heard": [2, 4]}],
                         ids=["patches", "pooling", "heard"])
def test_a_graph_whose_song_axes_are_fixed_is_refused_at_load(tmp_path, fixed):
    """An audit (2026-12-06): the default's ONNX file with its inputs fixed to what the load's
    self-test feeds (4 patches, 3 segments) loaded, then failed every real song with
    onnxruntime's InvalidArgument, naming the song. How many patches and segments a song gives
    is the song's: such a file is refused at load, naming the input."""
    import onnx

    model = onnx.load(str(default_model_path(onnx=True)))
    for graph_input in model.graph.input:
        for dim, size in zip(graph_input.type.tensor_type.shape.dim, fixed.get(graph_input.name, [])):
            dim.Clear()
            dim.dim_value = size
    onnx.save(model, str(tmp_path / "fixed.onnx"))
    [(name, shape)] = fixed.items()
    with pytest.raises(ModelError, match=rf"fixed.onnx: .*the graph input '{name}' has shape \[{shape[0]}, "):
        load(tmp_path / "fixed.onnx")


def test_a_graph_of_more_operators_than_any_export_is_refused_before_onnxruntime_builds_it(tmp_path):
    """An audit (2026-12-06): a 26 MB file of a million Relus took onnxruntime 188 s and 3.4 GB
    to build; 100k, 5 s and 0.4 GB. genrekit's exports hold a few hundred nodes: past
    MAX_ONNX_NODES the file is refused as its nodes are counted, from its bytes."""
    import time

    from onnx import helper

    from genrekit.untrusted import MAX_ONNX_NODES

    chain = [helper.make_node("Relu", ["mean" if i == 0 else f"r{i}"], [f"r{i + 1}"]) for i in range(MAX_ONNX_NODES)]
    path = _one_op_onnx(tmp_path / "many.onnx", *chain, helper.make_node("Identity", [f"r{MAX_ONNX_NODES}"], ["out"]))
    started = time.perf_counter()
    with pytest.raises(ModelError, match=rf"many.onnx: more than {MAX_ONNX_NODES} operators; genrekit's exports hold"):
        load(path)
    assert time.perf_counter() - started < 30  # refused before onnxruntime builds it (generous: a busy machine)
    fewer = _one_op_onnx(tmp_path / "fewer.onnx", *chain[:50], helper.make_node("Identity", ["r50"], ["out"]),
                         labels=128)
    assert len(load(fewer).labels) == 128


def test_an_onnx_graph_that_asks_for_more_memory_than_the_cap_gets_an_error(tmp_path):
    """Allowed operators can still ask for any amount of memory (ConstantOfShape to a shape in
    the file): onnxruntime's arena is capped (ONNX_ARENA_MAX_BYTES, 4 GiB), so the file is
    refused by name at load instead of taking the machine's memory. Here the cap is set to
    256 MB in a process of its own and the graph asks for 1.6 GB (with the cap at 8 GiB the
    same file loads, and the process peaks at 1.66 GB: checked by hand)."""
    from onnx import TensorProto, helper, numpy_helper

    shape = numpy_helper.from_array(np.array([20_000, 20_000], np.int64), "shape")
    nodes = [helper.make_node("ConstantOfShape", ["shape"], ["big"],
                              value=helper.make_tensor("one", TensorProto.FLOAT, [1], [1.0])),
             helper.make_node("ReduceSum", ["big"], ["total"], keepdims=0),
             helper.make_node("Add", ["mean", "total"], ["out"])]
    path = _one_op_onnx(tmp_path / "greedy.onnx", *nodes, initializer=[shape], labels=128)
    script = ("import sys\n"
              "import genrekit.models.interface as interface\n"
              "from genrekit.errors import ModelError\n"
              "interface.ONNX_ARENA_MAX_BYTES = 256 << 20\n"
              "try:\n"
              "    interface.load(sys.argv[1])\n"
              "except ModelError as exc:\n"
              "    print('refused:', exc, repr(exc.__cause__))\n")
    result = subprocess.run([sys.executable, "-c", script, str(path)], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    assert ("refused: " in result.stdout and "greedy.onnx: one onnxruntime run needed more than the 0.25 GiB that "
            "genrekit lets onnxruntime hold in a process" in result.stdout), result.stdout
    # the arena refused the request: the 1.6 GB were never allocated (the process's peak is no
    # measure of that: a cold numba cache compiles librosa's kernels during the load, ~800 MB)
    assert "smaller than requested bytes of 1600000000" in result.stdout, result.stdout


def test_an_export_genrekits_loader_would_refuse_is_not_written(tmp_path, monkeypatch):
    """A newer exporter may use an operator outside the allow-list: export refuses to write a
    file that load would refuse, instead of leaving one that fails later as "crafted"."""
    import warnings

    import genrekit.untrusted
    from genrekit.export import export_onnx
    from genrekit.features import FeatureSpec
    from genrekit.models import GenreModel, make_model, save_model

    spec = FeatureSpec("gtzan57")
    X, y = np.random.default_rng(0).normal(size=(30, len(spec.columns))), np.arange(30) % 3
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        path = save_model(GenreModel("logreg", ["a", "b", "c"], spec, make_model("logreg").fit(X, y)),
                          tmp_path / "logreg.genrekit")
    monkeypatch.setattr(genrekit.untrusted, "ONNX_ALLOWED_OPS", genrekit.untrusted.ONNX_ALLOWED_OPS
                        - {("ai.onnx.ml", "LinearClassifier")})
    with pytest.raises(ModelError, match=r"logreg.onnx: not written, since genrekit would refuse to load it: "
                                         r"the graph uses ai.onnx.ml.LinearClassifier"):
        export_onnx(path, tmp_path / "logreg.onnx")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["logreg.genrekit"]  # nothing left behind


def test_an_onnx_run_that_goes_on_and_on_is_stopped_and_the_file_refused(tmp_path, monkeypatch):
    """Scan is allowed (skl2onnx's k-NN uses it), and its iteration count can be the file's own:
    an input of 10**12 rows of no size takes no memory and about 13 days. Each onnxruntime run
    is stopped after ONNX_RUN_SECONDS (300 s; 1 s here), so the self-test refuses the file.
    (10**8 rows here, about 2 minutes: without the limit this test fails instead of hanging.)"""
    import time

    from onnx import TensorProto, helper, numpy_helper

    import genrekit.models.interface as interface

    body = helper.make_graph([helper.make_node("Identity", ["state"], ["state_out"])], "body",
                             [helper.make_tensor_value_info("state", TensorProto.FLOAT, ["batch", 128]),
                              helper.make_tensor_value_info("row", TensorProto.FLOAT, [0])],
                             [helper.make_tensor_value_info("state_out", TensorProto.FLOAT, ["batch", 128])])
    rows = numpy_helper.from_array(np.array([10**8, 0], np.int64), "rows")
    nodes = [helper.make_node("ConstantOfShape", ["rows"], ["nothing"]),
             helper.make_node("Scan", ["mean", "nothing"], ["out"], body=body, num_scan_inputs=1)]
    path = _one_op_onnx(tmp_path / "endless.onnx", *nodes, initializer=[rows], labels=128)
    monkeypatch.setattr(interface, "ONNX_RUN_SECONDS", 1.0)
    started = time.perf_counter()
    with pytest.raises(ModelError, match="endless.onnx: .*one onnxruntime run took over 1 s and was stopped"):
        load(path)
    assert time.perf_counter() - started < 60


def test_onnxruntime_session_options_in_the_metadata_are_refused(tmp_path):
    """Where ORT_LOAD_CONFIG_FROM_MODEL=1 is set, onnxruntime applies the session options of a
    file's 'ort_config' metadata (200 threads, a profile written to the working directory)."""
    import onnx
    from onnx import helper

    path = _one_op_onnx(tmp_path / "configured.onnx", helper.make_node("Relu", ["mean"], ["out"]))
    model = onnx.load(str(path))
    model.metadata_props.add(key="ort_config", value=json.dumps({"session_options": {"intra_op_num_threads": 200}}))
    onnx.save(model, str(path))
    with pytest.raises(ModelError, match=r"configured.onnx: onnxruntime session options in its metadata \('ort_config'\)"):
        load(path)


def test_a_metadata_key_given_twice_is_refused(tmp_path):
    """onnxruntime reads a repeated metadata key's last entry, the onnx package and Netron show
    the first: a second 'genrekit' entry with the labels reversed ran with other labels than the
    file showed (a review, 2026-12-06)."""
    import onnx
    from onnx import helper

    path = _one_op_onnx(tmp_path / "twice.onnx", helper.make_node("Relu", ["mean"], ["out"]), labels=128)
    assert load(path).labels[0] == "genre 0"  # well formed
    model = onnx.load(str(path))
    config = json.loads(next(p.value for p in model.metadata_props if p.key == "genrekit"))
    model.metadata_props.add(key="genrekit", value=json.dumps(config | {"labels": config["labels"][::-1]}))
    onnx.save(model, str(path))
    with pytest.raises(ModelError, match=r"twice.onnx: metadata entries given twice \('genrekit'\)"):
        load(path)


def test_megabytes_of_metadata_or_doc_string_are_refused_before_onnxruntime_holds_them(tmp_path):
    """A review (2026-12-07): 100 MB under another metadata key, or as the model's doc string,
    was accepted; onnxruntime keeps about three copies for as long as the model runs (400 MB
    took 2.2 GB)."""
    import onnx
    from onnx import helper

    path = _one_op_onnx(tmp_path / "wordy.onnx", helper.make_node("Relu", ["mean"], ["out"]))
    well_formed = onnx.load(str(path))
    for name, add in (("entry", lambda m: m.metadata_props.add(key="description", value="x" * 40 * 2**20)),
                      ("doc", lambda m: setattr(m, "doc_string", "x" * 40 * 2**20)),
                      ("graph doc", lambda m: setattr(m.graph, "doc_string", "x" * 40 * 2**20))):
        model = onnx.ModelProto()
        model.CopyFrom(well_formed)
        add(model)
        onnx.save(model, str(tmp_path / f"{name}.onnx"))
        with pytest.raises(ModelError, match=r"bytes of metadata, doc strings and names \(at most 34603008"):
            load(tmp_path / f"{name}.onnx")


@pytest.mark.parametrize("where", ["node doc", "node name", "node input", "attribute doc", "attribute name",
                                   "attribute string", "tensor name", "tensor doc", "graph name"])
def test_names_and_doc_strings_anywhere_count_with_the_metadata(where, monkeypatch):
    """The text cap counted the metadata and the model's and graph's doc strings only: a node's
    200 MB doc string loaded and peaked at 0.86 GB (a review, 2026-12-07). Names and doc strings
    of nodes, attributes and tensors count too (the cap patched to 1000 bytes here)."""
    from onnx import TensorProto, helper, numpy_helper

    from genrekit import untrusted

    monkeypatch.setattr(untrusted, "MAX_ONNX_TEXT_BYTES", 1000)
    nodes = [helper.make_node("ReduceMean", ["log_mel"], ["mean"], axes=[1, 3], keepdims=0),
             helper.make_node("MatMul", ["mean", "W"], ["logits"]),
             helper.make_node("Softmax", ["logits"], ["probabilities"], axis=1)]
    model = _log_mel_network(nodes, [numpy_helper.from_array(np.zeros((128, 2), np.float32), "W")])
    model.metadata_props.pop()  # genrekit's own entry, over 1000 bytes
    assert not untrusted.onnx_refusals(model.SerializeToString(), "fine.onnx")
    text, softmax, weights = "x" * 2000, model.graph.node[2], model.graph.initializer[0]
    if where == "node doc":
        softmax.doc_string = text
    elif where == "node name":
        softmax.name = text
    elif where == "node input":
        softmax.input.append(text)
    elif where.startswith("attribute"):
        attribute = helper.make_attribute(text if where == "attribute name" else "a", text.encode()
                                          if where == "attribute string" else 1)
        attribute.doc_string = text if where == "attribute doc" else ""
        softmax.attribute.append(attribute)
    elif where == "tensor name":
        weights.name = text
    elif where == "tensor doc":
        weights.doc_string = text
    else:
        model.graph.name = text
    said = untrusted.onnx_refusals(model.SerializeToString(), "wordy.onnx")
    assert any("bytes of metadata, doc strings and names (at most 1000" in r for r in said), said


def test_front_end_settings_a_file_sets_are_refused_as_the_files(tmp_path):
    """A setting of the file's own front end that genrekit refuses is the file's fault: it was
    a ParameterError without the file's name ("compression='evil': expected one of ...", or
    "sr=8000: musicnn's input is at 16000 Hz"), as if the caller had passed it."""
    import onnx
    from onnx import helper

    path = _one_op_onnx(tmp_path / "frontend.onnx", helper.make_node("Relu", ["mean"], ["out"]), labels=128)
    model = onnx.load(str(path))
    entry = next(p for p in model.metadata_props if p.key == "genrekit")
    config = json.loads(entry.value)
    entry.value = json.dumps(config | {"frontend": config["frontend"] | {"compression": "evil"}})
    onnx.save(model, str(path))
    with pytest.raises(ModelError, match=r"frontend.onnx: metadata 'genrekit': frontend: compression='evil'"):
        load(path)

    shipped = onnx.load(str(default_model_path(onnx=True)))
    entry = next(p for p in shipped.metadata_props if p.key == "genrekit")
    config = json.loads(entry.value)
    entry.value = json.dumps(config | {"features": config["features"] | {"sample_rate": 8000}})
    onnx.save(shipped, str(tmp_path / "slow.onnx"))
    with pytest.raises(ModelError, match=r"slow.onnx: the model's settings are refused: sr=8000"):
        load(tmp_path / "slow.onnx")


def test_an_onnx_graph_without_outputs_is_refused_by_name(tmp_path):
    """onnxruntime builds a graph with no output; genrekit refused it with a bare
    StopIteration before 2026-12-02 (which ends a generator that loads models silently)."""
    import onnx

    path = _one_op_onnx(tmp_path / "mute.onnx", onnx.helper.make_node("Relu", ["mean"], ["out"]))
    model = onnx.load(str(path))
    del model.graph.output[:]
    onnx.save(model, str(path))
    with pytest.raises(ModelError, match=r"mute.onnx: .*a graph with 1 input\(s\) and 0 output\(s\)"):
        load(path)


def test_an_onnx_file_over_the_size_cap_is_refused_unread(tmp_path):
    """An audit (2026-12-06): an .onnx file was read whole before any check, so a sparse 30 GB
    file took all the memory (a MemoryError traceback under a ulimit)."""
    from genrekit.untrusted import MAX_ONNX_BYTES

    path = tmp_path / "huge.onnx"
    with open(path, "wb") as handle:
        handle.truncate(MAX_ONNX_BYTES + 1)  # sparse: takes no disk
    with pytest.raises(ModelError, match=rf"huge.onnx: {MAX_ONNX_BYTES + 1} bytes; an ONNX model file genrekit "
                                         rf"loads takes at most {MAX_ONNX_BYTES}"):
        load(path)


def test_onnxruntimes_own_format_and_over_long_field_tags_are_refused(tmp_path):
    """Two ways to show onnxruntime another graph than the one genrekit checks: its own .ort
    format (read whenever bytes 4-8 say ORTM), and a field tag over 32 bits, which protobuf cuts
    to 32 (0x0A + 2**32 is field 1, a graph's node, to protobuf and field 2**29 + 1 to a reader
    that keeps every bit)."""
    import onnx
    import onnxruntime as ort
    from onnx import TensorProto, helper

    graph = helper.make_graph([], "g", [helper.make_tensor_value_info("X", TensorProto.FLOAT, [2])],
                              [helper.make_tensor_value_info("Y", TensorProto.FLOAT, [2])])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    with_node = onnx.ModelProto()
    with_node.CopyFrom(model)
    with_node.graph.node.append(helper.make_node("Abs", ["X"], ["Y"]))
    options = ort.SessionOptions()
    options.optimized_model_filepath = str(tmp_path / "ort-format.onnx")  # named as genrekit's exports are
    options.add_session_config_entry("session.save_model_format", "ORT")
    ort.InferenceSession(with_node.SerializeToString(), options, providers=["CPUExecutionProvider"])
    with pytest.raises(ModelError, match="ort-format.onnx: onnxruntime's own .ort format, not ONNX"):
        load(tmp_path / "ort-format.onnx")
    # a .genrekit model renamed .onnx: named as a zip (it was "a field tag of 2 bits"; a review, 2026-12-07)
    import shutil

    shutil.copy(DEFAULT_MODEL, tmp_path / "renamed.onnx")
    with pytest.raises(ModelError, match=r"renamed\.onnx: a zip archive, not ONNX \(a \.genrekit model file renamed"):
        load(tmp_path / "renamed.onnx")

    def varint(n: int) -> bytes:
        out = b""
        while n >= 0x80:
            out, n = out + bytes([n & 0x7F | 0x80]), n >> 7
        return out + bytes([n])

    node = helper.make_node("Abs", ["X"], ["Y"]).SerializeToString()
    hidden = bytes([0x8A, 0x80, 0x80, 0x80, 0x10]) + varint(len(node)) + node + model.graph.SerializeToString()
    model.ClearField("graph")
    path = tmp_path / "tag.onnx"
    path.write_bytes(model.SerializeToString() + b"\x3a" + varint(len(hidden)) + hidden)
    with pytest.raises(ModelError, match="tag.onnx: not an ONNX file genrekit can read \\(a field tag of 33 bits"):
        load(path)


@pytest.mark.parametrize("classes", [2, 3])
def test_every_classical_export_uses_only_allowed_onnx_operators(tmp_path, classes):
    """The allow-list is what genrekit's exports need: each classical model skl2onnx converts
    is exported and loads (networks: tests/test_network_export.py, the default and its int8
    and light forms: tests/test_musicnn.py, uniform k-NN: tests/test_interface.py)."""
    import warnings

    from genrekit.export import export_onnx
    from genrekit.features import FeatureSpec
    from genrekit.models import GenreModel, make_model, save_model
    from genrekit.models.catalogue import CLASSICAL
    from genrekit.untrusted import onnx_refusals

    # refused by export (no probabilities, other probabilities, no converter); the default: test_musicnn.py
    unconverted = {"linear-svc", "knn", "xgboost", "ensemble", "musicnn-prior"}
    spec = FeatureSpec("gtzan57")
    rng = np.random.default_rng(classes)
    X, y = rng.normal(size=(60, len(spec.columns))), np.arange(60) % classes
    labels = [f"genre {i}" for i in range(classes)]
    # a few trees: the operators a forest or a boosting exports to do not depend on how many
    few = {name: {"clf__n_estimators": 5} for name in ("random-forest", "extra-trees", "gradient-boosting", "adaboost")}
    for name in sorted(set(CLASSICAL) - unconverted):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            pipeline = make_model(name, **few.get(name, {})).fit(X, y)
        path = save_model(GenreModel(name, labels, spec, pipeline), tmp_path / f"{name}.genrekit")
        exported = export_onnx(path, tmp_path / f"{name}.onnx")
        assert onnx_refusals(exported.read_bytes(), str(exported)) == [], name
        assert np.allclose(load(exported)._proba(X[:5].astype(np.float32)), pipeline.predict_proba(X[:5]), atol=1e-4)


@pytest.mark.parametrize("input_name", ["features", "rows"])
def test_a_classical_export_naming_an_unknown_feature_set_is_refused_by_file(tmp_path, input_name):
    """The feature registry refused the name without saying which file asked for it (with an
    input of another name than ``features`` until 2026-12-02)."""
    import onnx
    from onnx import TensorProto, helper

    from genrekit.models.interface import ONNX_METADATA_KEY

    graph = helper.make_graph([helper.make_node("Softmax", [input_name], ["probabilities"], axis=1)], "evil",
                              [helper.make_tensor_value_info(input_name, TensorProto.FLOAT, ["batch", 2])],
                              [helper.make_tensor_value_info("probabilities", TensorProto.FLOAT, ["batch", 2])])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    config = {"kind": "classical", "labels": ["a", "b"], "input_name": input_name, "output_name": "probabilities",
              "features": {"name": "no-such-set", "sample_rate": 22050, "min_duration": 1.0}}
    model.metadata_props.add(key=ONNX_METADATA_KEY, value=json.dumps(config))
    path = tmp_path / "unknown.onnx"
    onnx.save(model, str(path))
    with pytest.raises(ModelError, match=r"unknown.onnx: metadata 'genrekit': its feature set cannot be used: "
                                         "feature set 'no-such-set' is unknown"):
        load(path)


@pytest.mark.parametrize("name", ["gradient-boosting", "ensemble"])
def test_two_genre_models_load_through_the_allow_list(tmp_path, name):
    """With two genres gradient boosting fits a binomial loss, whose types the allow-list
    once lacked: such a model was saved and then refused by its own loader."""
    import warnings

    from genrekit.features import FeatureSpec
    from genrekit.models import GenreModel, make_model, save_model

    spec = FeatureSpec("gtzan57")
    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(40, len(spec.columns))), np.repeat(np.arange(2), 20)
    # The ensemble small, as _tampered fits it: the allow-list concerns its types, not its size
    # (the full-size ensemble: test_a_ten_genre_ensemble_passes_the_archive_caps).
    small = {"ensemble": {"clf__extra_trees__n_estimators": 2, "clf__boosting__max_iter": 2, "clf__mlp__max_iter": 10}}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        pipeline = make_model(name, **small.get(name, {})).fit(X, y)
    path = save_model(GenreModel(name, ["a", "b"], spec, pipeline), tmp_path / f"{name}.genrekit")
    loaded = load_model(path)
    assert np.allclose(loaded.predict_proba(X), pipeline.predict_proba(X))


def test_an_onnx_file_cannot_make_onnxruntime_fold_gigabytes_while_it_loads(tmp_path):
    """A 260 kB file whose graph concatenates one initializer into a 64 MB constant and adds
    it to itself, node after node: onnxruntime folded those constant nodes while it built the
    session, before any of genrekit's checks and outside the arena cap and the run timer (3.4
    GB for 50 nodes). Constant folding is off: loading it stays small (here 20 nodes, which
    folded took 1.3 GB)."""
    import subprocess
    import sys

    import onnx
    from onnx import TensorProto, helper, numpy_helper

    from genrekit.models.interface import ONNX_METADATA_KEY

    block = numpy_helper.from_array(np.ones((16, 4000), np.float32), "B")
    zero = numpy_helper.from_array(np.array(0, np.float32), "zero")
    nodes = [helper.make_node("ReduceMean", ["log_mel"], ["mean"], axes=[1, 3], keepdims=0),
             helper.make_node("Concat", ["B"] * 250, ["A"], axis=0)]
    previous = "A"
    for i in range(20):
        nodes.append(helper.make_node("Add", [previous, "A"], [f"x{i}"]))
        previous = f"x{i}"
    nodes += [helper.make_node("ReduceSum", [previous], ["s"], keepdims=0), helper.make_node("Mul", ["s", "zero"], ["z"]),
              helper.make_node("Add", ["mean", "z"], ["out"]), helper.make_node("Softmax", ["out"], ["probabilities"], axis=1)]
    graph = helper.make_graph(nodes, "evil", [helper.make_tensor_value_info("log_mel", TensorProto.FLOAT, ["batch", 1, 128, 128])],
                              [helper.make_tensor_value_info("probabilities", TensorProto.FLOAT, ["batch", 128])],
                              initializer=[block, zero])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    config = {"preset": "edge-cnn", "input_name": "log_mel", "output_name": "probabilities",
              "labels": [f"g{i}" for i in range(128)], "frontend_in_graph": False, "n_frames": 128,
              "frontend": {"sample_rate": 22050, "hop_length": 512, "n_fft": 2048, "n_mels": 128}}
    model.metadata_props.add(key=ONNX_METADATA_KEY, value=json.dumps(config))
    path = tmp_path / "folding.onnx"
    onnx.save(model, str(path))
    assert path.stat().st_size < 300_000
    # the child's own peak (VmHWM: ru_maxrss would carry this large test process's over the exec)
    child = ("import sys\nfrom genrekit.errors import ModelError\nfrom genrekit.models.interface import open_onnx\n"
             "try:\n    open_onnx(sys.argv[1], 1)\nexcept ModelError:\n    pass\n"
             "print(next(line.split()[1] for line in open('/proc/self/status') if line.startswith('VmHWM')))")
    peak_kb = int(subprocess.run([sys.executable, "-c", child, str(path)], capture_output=True, text=True, check=True,
                                 timeout=300).stdout.split()[-1])
    assert peak_kb < 600_000, f"loading took {peak_kb / 1e6:.2f} GB"


def _shadowing_is_fitted(classifier):  # the checks took the model for unfitted; its labels then wrote past an array
    classifier.__sklearn_is_fitted__ = str
    classifier._y = np.full_like(classifier._y, 10**8)


def _holding_a_type(classifier):
    classifier.weights = str


def _tampered_after_fitting(tmp_path, name: str, tamper, **params) -> Path:
    """A model file of ``name`` whose classifier ``tamper`` edits once the model is made (a
    GenreModel refuses a pipeline it takes for unfitted)."""
    from genrekit.features import FeatureSpec
    from genrekit.models import GenreModel, make_model, save_model

    spec = FeatureSpec("gtzan57")
    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(60, len(spec.columns))), np.repeat(np.arange(3), 20)
    model = GenreModel(name, ["a", "b", "c"], spec, make_model(name, **params).fit(X, y))
    tamper(model.estimator[-1])
    return save_model(model, tmp_path / f"{name}.genrekit")


@pytest.mark.parametrize("tamper, message", [
    (_shadowing_is_fitted, "a KNeighborsClassifier holds '__sklearn_is_fitted__' as state"),
    (_holding_a_type, "the model holds the type .*str.* as a value"),
], ids=["shadowed-is-fitted", "a-type"])
def test_state_that_would_skip_the_checks_is_refused(tmp_path, tamper, message):
    """A security review (2026-12): ``__sklearn_is_fitted__`` set to ``str`` (a type skops builds
    for a dict's keys) made scikit-learn's fitted test, and so the bounds checks, pass over a
    k-nearest-neighbours model whose labels then wrote past an array (a segfault)."""
    path = _tampered_after_fitting(tmp_path, "knn", tamper, clf__algorithm="brute")
    with pytest.raises(ModelError, match=message) as refused:
        load_model(path)
    assert str(refused.value).startswith(f"{path}: ")


def test_a_files_thread_count_is_not_the_hosts(tmp_path):
    """``n_jobs`` 3,000 in a file made joblib start 3,000 threads at every prediction; a model
    saved with its own (-1) is not refused either: every thread count loads as None."""
    def threads(classifier):
        classifier.n_jobs = 3000

    path = _tampered_after_fitting(tmp_path, "knn", threads, clf__algorithm="kd_tree")
    assert load_model(path).estimator[-1].n_jobs is None
    (tmp_path / "forest").mkdir()
    forest = _tampered_after_fitting(tmp_path / "forest", "random-forest", lambda c: setattr(c, "n_jobs", -1),
                                     clf__n_estimators=3)
    assert load_model(forest).estimator[-1].n_jobs is None


def test_a_class_prior_sized_by_the_file_is_refused(tmp_path):
    """A security review (2026-12): the default's prior head replaced by a uniform class prior
    of 10**8 classes: its predictions allocated (rows, n_classes_) at the load's self-test
    (1.9 GB; 10**10 asked 74.5 GB)."""
    from sklearn.dummy import DummyClassifier

    from genrekit.models.artifact import skops_io

    estimator = load_model(DEFAULT_MODEL).estimator
    prior = estimator.steps[-1][1]
    head = DummyClassifier(strategy="uniform").fit(np.zeros((10, 1)), np.arange(10))
    head.n_classes_ = 10**8
    prior.head_ = head
    members = default_members()
    members["pipeline.skops"] = skops_io().dumps(estimator)
    path = write_model(tmp_path / "prior.genrekit", members)
    with pytest.raises(ModelError, match="a class prior of strategy 'uniform' with 100000000 classes"):
        load(path)


@pytest.mark.parametrize("array, message", [
    ({"descr": "|V0", "shape": (10**12,)}, "holds items of dtype |V0, not numbers or text"),
    ({"descr": "<f8", "shape": (10**9,)}, r"declares shape \(1000000000,\) of float64, more than its 80 bytes hold"),
], ids=["void-items", "lying-shape"])
def test_an_array_member_declaring_more_items_than_its_bytes_is_refused_before_it_is_read(tmp_path, array, message):
    """A 128-byte member of 10**12 zero-byte items passed every cap; genrekit's model code then
    walked it until the memory ran out (a MemoryError traceback after 3 GB)."""
    # the .npy header alone: np.save of 10**12 zero-byte items writes these same 128 bytes, after 18 s
    # walking the items; the lying shape's header is followed by ten floats
    from numpy.lib import format as npy_format

    buffer = io.BytesIO()
    npy_format.write_array_header_1_0(buffer, {**array, "fortran_order": False})
    data = buffer.getvalue() + (np.zeros(10).tobytes() if array["descr"] == "<f8" else b"")

    def edit(schema):
        schema["content"]["content"]["memory"] = array_node("bomb.npy")
        return {"bomb.npy": data}

    members = default_members()
    members["pipeline.skops"] = edit_skops(members["pipeline.skops"], edit)
    path = write_model(tmp_path / "bomb.genrekit", members)
    with pytest.raises(ModelError, match=f"the array 'bomb.npy' {message}"):
        load(path)


def _log_mel_network(nodes: list, constants: list, width: int = 2):
    """An ONNX network over ``log_mel`` (batch, 1, 128, 128) whose ``nodes`` end in
    ``probabilities`` (batch, ``width``), with genrekit's network metadata."""
    from onnx import TensorProto, helper

    from genrekit.models.interface import ONNX_METADATA_KEY

    graph = helper.make_graph(nodes, "evil", [helper.make_tensor_value_info("log_mel", TensorProto.FLOAT,
                                                                            ["batch", 1, 128, 128])],
                              [helper.make_tensor_value_info("probabilities", TensorProto.FLOAT, ["batch", width])],
                              initializer=constants)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    config = {**NETWORK_CONFIG, "input_name": "log_mel"}
    if width != len(config["labels"]):
        config["labels"] = [f"g{i}" for i in range(width)]
    model.metadata_props.add(key=ONNX_METADATA_KEY, value=json.dumps(config))
    return model


@pytest.mark.parametrize("kind", ["node-inputs", "node-outputs", "attributes", "attribute-strings", "initializers",
                                  "value-infos", "opset-imports", "function-inputs", "attribute-long-string",
                                  "attribute-ints", "tensor-ints"])
def test_an_onnx_file_of_many_empty_names_or_messages_is_refused_from_its_bytes(kind, monkeypatch):
    """An empty string or message takes 2 bytes of the file and 75-170 of memory, in protobuf and
    again in onnxruntime: 19 MB of empty attribute strings took 1.7 GB before onnxruntime refused
    the graph, and the 1 GiB the size cap allows would have taken ~90 GB (a review, 2026-12-07);
    an integer takes 1-2 bytes and 8. The memory they would take is estimated from the file's
    bytes and capped (at 4 GiB, onnxruntime's arena's; here at 1000 objects' worth)."""
    from onnx import TensorProto, helper, numpy_helper

    from genrekit import untrusted

    monkeypatch.setattr(untrusted, "MAX_ONNX_OBJECT_BYTES", 1000 * untrusted.ONNX_ENTRY_BYTES)
    nodes = [helper.make_node("ReduceMean", ["log_mel"], ["mean"], axes=[1, 3], keepdims=0),
             helper.make_node("MatMul", ["mean", "W"], ["logits"]),
             helper.make_node("Softmax", ["logits"], ["probabilities"], axis=1)]
    model = _log_mel_network(nodes, [numpy_helper.from_array(np.zeros((128, 2), np.float32), "W")])
    assert not untrusted.onnx_refusals(model.SerializeToString(), "fine.onnx")
    many, softmax = 1001, model.graph.node[2]
    if kind == "node-inputs":
        softmax.input.extend([""] * many)
    elif kind == "node-outputs":
        softmax.output.extend([""] * many)
    elif kind == "attributes":
        softmax.attribute.extend([helper.make_attribute(f"a{i}", 1) for i in range(many)])
    elif kind == "attribute-strings":
        softmax.attribute.append(helper.make_attribute("junk", [b""] * many))
    elif kind == "initializers":
        model.graph.initializer.extend([TensorProto() for _ in range(many)])
    elif kind == "value-infos":
        model.graph.value_info.extend([helper.make_tensor_value_info("", TensorProto.FLOAT, None)] * many)
    elif kind == "opset-imports":
        model.opset_import.extend([helper.make_opsetid("", 17)] * many)
    elif kind == "function-inputs":
        opset = [helper.make_opsetid("", 17)]
        model.functions.append(helper.make_function("local", "f", [""] * many, ["y"], [], opset))
    elif kind == "attribute-long-string":  # a few copies of its bytes
        softmax.attribute.append(helper.make_attribute("junk", [b"x" * (many * untrusted.ONNX_ENTRY_BYTES // 3)]))
    elif kind == "attribute-ints":
        softmax.attribute.append(helper.make_attribute("junk", [0] * (many * untrusted.ONNX_ENTRY_BYTES // 8)))
    else:
        n = many * untrusted.ONNX_ENTRY_BYTES // 8
        model.graph.initializer.append(helper.make_tensor("n", TensorProto.INT64, [n], [0] * n))
    with pytest.raises(ModelError, match=r"evil\.onnx: its names, attributes, tensors and integer lists would take "
                                         r"over 0\.000158\d* GB once parsed"):
        untrusted.onnx_refusals(model.SerializeToString(), "evil.onnx")


def test_an_attributes_ints_are_read_without_keeping_them():
    """The kernel check kept every int of every attribute in a Python list: 1 GiB of packed ints
    (the size cap) would have made a list of about 8 GB before any refusal. Only their product
    is kept now."""
    import tracemalloc

    from onnx import helper, numpy_helper

    from genrekit.untrusted import onnx_refusals

    nodes = [helper.make_node("ReduceMean", ["log_mel"], ["mean"], axes=[1, 3], keepdims=0),
             helper.make_node("MatMul", ["mean", "W"], ["logits"]),
             helper.make_node("Softmax", ["logits"], ["probabilities"], axis=1)]
    model = _log_mel_network(nodes, [numpy_helper.from_array(np.zeros((128, 2), np.float32), "W")])
    model.graph.node[2].attribute.append(helper.make_attribute("junk", [1] * 2_000_000))  # 2 MB packed
    data = model.SerializeToString()
    tracemalloc.start()
    try:
        onnx_refusals(data, "ints.onnx")
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 2_000_000, peak  # a list of them alone took 16 MB


def test_a_graph_that_gives_probabilities_for_one_chunk_and_not_for_several_is_refused_naming_it(tmp_path):
    """The load's self-test runs one chunk; a graph scaling its softmax by (batch - 1) * k + 1
    passed it and then gave a song's windows -229% and -899671%, in predict, evaluate and the
    service (a review, 2026-12-07). Every run's output is checked as the self-test checks it."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    constants = [numpy_helper.from_array(np.random.default_rng(0).normal(size=(128, 2)).astype(np.float32), "W"),
                 numpy_helper.from_array(np.array([1.0], np.float32), "one"),
                 numpy_helper.from_array(np.array([-1000.0], np.float32), "k"),
                 numpy_helper.from_array(np.array(0, np.int64), "first")]
    nodes = [helper.make_node("ReduceMean", ["log_mel"], ["mean"], axes=[1, 3], keepdims=0),
             helper.make_node("MatMul", ["mean", "W"], ["logits"]),
             helper.make_node("Softmax", ["logits"], ["softmax"], axis=1),
             helper.make_node("Shape", ["log_mel"], ["shape"]),
             helper.make_node("Gather", ["shape", "first"], ["batch"], axis=0),
             helper.make_node("Cast", ["batch"], ["batch_float"], to=TensorProto.FLOAT),
             helper.make_node("Sub", ["batch_float", "one"], ["others"]),
             helper.make_node("Mul", ["others", "k"], ["scaled"]),
             helper.make_node("Add", ["scaled", "one"], ["factor"]),
             helper.make_node("Mul", ["softmax", "factor"], ["probabilities"])]
    path = tmp_path / "batchy.onnx"
    onnx.save(_log_mel_network(nodes, constants), str(path))
    classifier = load(path)  # one chunk: probabilities
    samples = int(round(classifier.chunk_seconds * classifier.sample_rate))
    song = np.random.default_rng(1).uniform(-0.3, 0.3, samples).astype(np.float32)
    with pytest.raises(ModelError, match=r"batchy\.onnx: the graph gave values that are not probabilities"):
        classifier.predict_proba([song, song])


def test_a_network_whose_weights_overflow_on_music_is_blamed_not_the_audio(tmp_path):
    """A .safetensors network whose weights are finite but overflow on louder input gave NaN on
    songs, which predict, evaluate and the service blamed on the audio ("samples far outside
    -1..1"; a review, 2026-12-07). The PyTorch path checks its output as an ONNX graph's is."""
    torch = pytest.importorskip("torch", reason="PyTorch is the 'deep' extra")
    from genrekit.models.nets import build_network
    from genrekit.models.nets.artifact import save_network

    net = build_network("edge-cnn", 2)
    path = save_network(tmp_path / "overflow.safetensors", net, preset="edge-cnn", labels=["jazz", "rock"])
    classifier = load(path)
    with torch.no_grad():  # as a crafted BatchNorm scale does on music the self-test's quiet noise does not reach
        next(m for m in classifier.net.modules() if isinstance(m, torch.nn.BatchNorm2d)).weight.fill_(float("inf"))
    samples = int(round(classifier.chunk_seconds * classifier.sample_rate))
    song = np.random.default_rng(1).uniform(-0.3, 0.3, samples).astype(np.float32)
    with pytest.raises(ModelError, match=r"overflow\.safetensors: the graph gave \d+ non-finite probabilities"):
        classifier.predict_proba([song])


def test_an_onnx_tensor_of_strings_is_refused_before_it_is_parsed(tmp_path):
    """Empty strings take two bytes each in the file and about 60 in memory once protobuf and
    onnxruntime hold them: a 100 MB file of them peaked at 2.9 GB before any check (a review,
    2026-12-07). genrekit's exports hold no string tensors: refused from the file's bytes."""
    import onnx
    from onnx import TensorProto, helper

    strings = TensorProto(name="s", data_type=TensorProto.STRING, dims=[1000])
    strings.string_data.extend([b""] * 1000)
    nodes = [helper.make_node("ReduceMean", ["log_mel"], ["mean"], axes=[1, 3], keepdims=0),
             helper.make_node("Softmax", ["mean"], ["probabilities"], axis=1)]
    path = tmp_path / "strings.onnx"
    onnx.save(_log_mel_network(nodes, [strings], width=128), str(path))
    with pytest.raises(ModelError, match=r"strings\.onnx: .*1 tensor\(s\) of strings, which genrekit's exports never"):
        load(path)
    # onnxruntime's own log stays off the terminal (kilobytes of coloured C++ log came before genrekit's message)
    from genrekit.models.interface import open_onnx

    session, _ = open_onnx(default_model_path(onnx=True), 1)
    assert session.get_session_options().log_severity_level == 4


def test_a_model_path_that_is_no_regular_file_is_named_for_what_it_is_and_never_opened(tmp_path):
    """A pipe, a device or a link loop where the model goes was "model file not found", though
    it is there (a review, 2026-12-07); it is still never opened (a pipe would block)."""
    import os

    os.mkfifo(tmp_path / "pipe.onnx")
    (tmp_path / "loop.onnx").symlink_to(tmp_path / "loop.onnx")
    (tmp_path / "gone.genrekit").symlink_to(tmp_path / "nothing.genrekit")
    for name, said in (("pipe.onnx", "not a regular file (a pipe or a device), never opened"),
                       ("loop.onnx", "a link that leads to no file"), ("gone.genrekit", "a link that leads to no file"),
                       ("absent.onnx", "model file not found")):
        with pytest.raises(ModelError, match=re.escape(f"{tmp_path / name}: {said}")):
            load(tmp_path / name)
    with pytest.raises(ModelError, match=re.escape("/dev/zero: not a regular file")):
        load("/dev/zero")


def test_a_pooling_kernel_past_the_cap_is_refused_before_onnxruntime_runs_it():
    """One MaxPool of a 4096 x 4096 kernel over a constant 8192 x 8192 tensor, in a 1.8 kB
    file of allowed operators: the load's self-test would run it for about 44 hours, past the run
    timer (onnxruntime stops a run between operators) and past SIGTERM (a review, 2026-12-07).
    Refused from the file's bytes; genrekit's own kernels are at most 469 elements."""
    from onnx import TensorProto, helper, numpy_helper

    from genrekit.untrusted import MAX_ONNX_KERNEL, onnx_refusals

    def file_with(kernel: list[int]) -> bytes:
        constants = [numpy_helper.from_array(np.array([1, 1, 8192, 8192], np.int64), "shape"),
                     numpy_helper.from_array(np.array([0.0], np.float32), "zero"),
                     numpy_helper.from_array(np.zeros((128, 2), np.float32), "W")]
        nodes = [helper.make_node("ReduceMean", ["log_mel"], ["mean"], axes=[1, 3], keepdims=0),
                 helper.make_node("ConstantOfShape", ["shape"], ["big"],
                                  value=helper.make_tensor("v", TensorProto.FLOAT, [1], [1.0])),
                 helper.make_node("MaxPool", ["big"], ["pooled"], kernel_shape=kernel, strides=[1, 1]),
                 helper.make_node("ReduceSum", ["pooled"], ["s"], keepdims=0),
                 helper.make_node("Mul", ["s", "zero"], ["z"]), helper.make_node("MatMul", ["mean", "W"], ["logits"]),
                 helper.make_node("Add", ["logits", "z"], ["summed"]),
                 helper.make_node("Softmax", ["summed"], ["probabilities"], axis=1)]
        return _log_mel_network(nodes, constants).SerializeToString()

    said = onnx_refusals(file_with([4096, 4096]), "pool.onnx")
    assert any(f"a pooling or convolution kernel of 16777216 elements, past the {MAX_ONNX_KERNEL}" in r for r in said)
    assert not any("kernel" in r for r in onnx_refusals(file_with([64, 64]), "pool.onnx"))  # at the cap: not this
    for path in (default_model_path(onnx=True),):  # genrekit's own kernels pass
        assert not any("kernel" in r for r in onnx_refusals(path.read_bytes(), str(path)))
