"""Reading model files as hostile input: bounded archives, bounded JSON, checked schemas, and
an exact allow-list of the types a skops payload may construct.

A model file may come from anyone. Its checksums only tell corruption from a good file:
whoever edits a payload rewrites them. What stops a malicious author is here:

- every archive is checked before anything is inflated: member count, each member's and the
  total uncompressed size, its compression (stored or deflated only) and the compression ratio
  (zip bombs); then each member is inflated a chunk at a time, never past its declared size;
- every JSON document is bounded in size and nesting depth, and its fields are checked
  against a schema, so a bad file gives a :class:`ModelError` naming the file and the field;
- a skops payload may name only the fully qualified types in :data:`SKOPS_ALLOWED_TYPES`,
  each with the skops loader genrekit's own files use for it; the whole schema is walked
  before skops constructs anything, and skops' own audit runs on top of that.
"""

from __future__ import annotations

import copy
import io
import json
import math
import os
import re
import zipfile
from collections import Counter
from collections.abc import Iterable, Mapping

from genrekit._files import DAMAGED_FILE_ERRORS, INVISIBLE_MARKS
from genrekit.errors import ModelError

# Archive caps. skops stores an archive member per array, so a tree ensemble's member count
# grows with its classes: the `ensemble` recipe has ~14k on GTZAN's 10 genres, ~1,300 per genre
# more (300k: ~220 genres); 10_000 once refused a 10-genre ensemble.
MAX_MEMBERS = 300_000
# zipfile builds an object (~550 bytes) for every entry of the central directory before any
# count can be checked: 4M crafted 46-byte entries took 2.2 GB. Its size, read from the end
# record first, bounds that (skops' entries take ~100 bytes; a model file's few, under 1 kB each).
MAX_CENTRAL_DIRECTORY_BYTES = 32 * 2**20
CENTRAL_DIRECTORY_BYTES_PER_MEMBER = 1024
MAX_MEMBER_BYTES = 512 * 2**20
MAX_TOTAL_BYTES = 1024 * 2**20
MAX_RATIO = 200  # deflate reaches ~1000:1 only on degenerate data; real payloads stay below 20:1
# The compressions genrekit and skops write. bzip2 and lzma inflate a whole read at once, with
# no bound on what comes out, so a member of either is refused before it is opened.
ZIP_METHODS = frozenset({zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED})
_READ_CHUNK = 2**20  # what one read of a member may inflate
# JSON caps: a manifest lists two hashes of each training track (its file's and its decoded
# audio's, ~80 bytes each), so 32 MB holds 200k tracks (fma_large has 106,574).
MAX_JSON_BYTES = 32 * 2**20
MAX_JSON_DEPTH = 64
# What a JSON document may cost as Python objects, estimated from its text before parsing
# (_json_shape): its bytes alone are no bound, as 3 bytes of "{}," become a 72-byte dict, so
# 64 MB of them took 2.2 GB. genrekit's own documents cost 1.1-1.8x their bytes (skops schemas)
# and 3.6x (an XGBoost booster: small numbers), and are estimated at 2-7x.
MAX_JSON_MEMORY = 256 * 2**20
# skops' schema.json nests one level per estimator attribute; deep ensembles stay below 40. Its
# size grows with the trees (~20 kB of JSON each, arrays apart; scikit-learn 1.9): on fma518,
# gradient-boosting (200 trees a genre) writes 53 MiB on 10 genres and 84 MiB on 16, ~5.3 MiB a
# genre; the ensemble 49 and 63 MiB; random-forest 10 MiB. Not lowered: 256 MiB already refuses
# gradient boosting past ~48 genres.
MAX_SKOPS_SCHEMA_BYTES = 256 * 2**20
MAX_SKOPS_MEMORY = 640 * 2**20  # gradient boosting on 10 genres: 55 MB of schema, estimated at 114 MB
MAX_SKOPS_DEPTH = 200
# An XGBoost booster.json: ~0.5 MB a genre with genrekit's settings (5.3 MB on 10 genres,
# estimated at 36 MB as objects), up to ~4x that with a searched depth. Its text may take this
# much, plus this much a genre (at most MAX_MEMBER_BYTES), and its objects 8 times that.
BOOSTER_BYTES = 64 * 2**20
BOOSTER_BYTES_PER_GENRE = 2 * 2**20

# Every type a genrekit classical pipeline contains, with the skops loader that writes it:
# found by saving every model of ``genrekit.models.classical.MODELS`` (tests/test_hostile_models.py
# checks that list and this one agree). Exact names only: no prefixes, no functions, no
# ``builtins`` beyond the containers and str (skops stores every JSON value as a str node).
SKOPS_ALLOWED_TYPES: dict[str, frozenset[str]] = {
    "builtins.dict": frozenset({"DictNode"}),
    "builtins.list": frozenset({"ListNode"}),
    "builtins.tuple": frozenset({"TupleNode"}),
    "builtins.str": frozenset({"JsonNode", "TypeNode"}),
    "numpy.ndarray": frozenset({"NdArrayNode"}),
    "numpy.float64": frozenset({"NdArrayNode"}),
    "numpy.float32": frozenset({"NdArrayNode"}),
    "numpy.int64": frozenset({"NdArrayNode"}),
    "numpy.int32": frozenset({"NdArrayNode"}),
    "numpy.uint64": frozenset({"NdArrayNode"}),
    "numpy.bool": frozenset({"NdArrayNode"}),
    "numpy.str_": frozenset({"NdArrayNode"}),
    "numpy.random.mtrand.RandomState": frozenset({"RandomStateNode"}),
    "numpy.random._generator.Generator": frozenset({"RandomGeneratorNode"}),
    "sklearn.utils._bunch.Bunch": frozenset({"DictNode"}),
    "sklearn.pipeline.Pipeline": frozenset({"ObjectNode"}),
    "sklearn.preprocessing._data.StandardScaler": frozenset({"ObjectNode"}),
    "sklearn.preprocessing._data.PowerTransformer": frozenset({"ObjectNode"}),
    "sklearn.preprocessing._label.LabelBinarizer": frozenset({"ObjectNode"}),
    "sklearn.preprocessing._label.LabelEncoder": frozenset({"ObjectNode"}),
    "sklearn.linear_model._logistic.LogisticRegression": frozenset({"ObjectNode"}),
    "sklearn.svm._classes.LinearSVC": frozenset({"ObjectNode"}),
    "sklearn.svm._classes.SVC": frozenset({"ObjectNode"}),
    "sklearn.svm._classes.NuSVC": frozenset({"ObjectNode"}),
    "sklearn.neighbors._classification.KNeighborsClassifier": frozenset({"ObjectNode"}),
    "sklearn.neighbors._kd_tree.KDTree": frozenset({"ObjectNode"}),
    "sklearn.neighbors._ball_tree.BallTree": frozenset({"ObjectNode"}),
    "sklearn.metrics._dist_metrics.EuclideanDistance64": frozenset({"ObjectNode"}),
    "sklearn.tree._classes.DecisionTreeClassifier": frozenset({"ObjectNode"}),
    "sklearn.tree._classes.DecisionTreeRegressor": frozenset({"ObjectNode"}),
    "sklearn.tree._classes.ExtraTreeClassifier": frozenset({"ObjectNode"}),
    "sklearn.tree._tree.Tree": frozenset({"TreeNode"}),
    "sklearn.ensemble._forest.RandomForestClassifier": frozenset({"ObjectNode"}),
    "sklearn.ensemble._forest.ExtraTreesClassifier": frozenset({"ObjectNode"}),
    "sklearn.ensemble._gb.GradientBoostingClassifier": frozenset({"ObjectNode"}),
    "sklearn.ensemble._weight_boosting.AdaBoostClassifier": frozenset({"ObjectNode"}),
    "sklearn.ensemble._voting.VotingClassifier": frozenset({"ObjectNode"}),
    "sklearn.ensemble._hist_gradient_boosting.gradient_boosting.HistGradientBoostingClassifier": frozenset({"ObjectNode"}),
    "sklearn.ensemble._hist_gradient_boosting.binning._BinMapper": frozenset({"ObjectNode"}),
    "sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor": frozenset({"ObjectNode"}),
    "sklearn.neural_network._multilayer_perceptron.MLPClassifier": frozenset({"ObjectNode"}),
    "sklearn.neural_network._stochastic_optimizers.AdamOptimizer": frozenset({"ObjectNode"}),
    "sklearn.dummy.DummyClassifier": frozenset({"ObjectNode"}),
    "sklearn._loss.loss.HalfMultinomialLoss": frozenset({"ObjectNode"}),
    "sklearn._loss.link.MultinomialLogit": frozenset({"ObjectNode"}),
    "sklearn._loss.link.Interval": frozenset({"ObjectNode"}),
    "sklearn._loss._loss.CyHalfMultinomialLoss": frozenset({"LossNode"}),
    # two genres: gradient boosting (alone or in the ensemble) fits a binomial loss
    "sklearn._loss.loss.HalfBinomialLoss": frozenset({"ObjectNode"}),
    "sklearn._loss.link.LogitLink": frozenset({"ObjectNode"}),
    "sklearn._loss._loss.CyHalfBinomialLoss": frozenset({"LossNode"}),
    "genrekit.models.tagprior.TagPriorClassifier": frozenset({"ObjectNode"}),
    "genrekit.models.gaussianize.YeoJohnson": frozenset({"ObjectNode"}),
}
# skops loaders that only refer to other nodes (ids), never to a type of their own.
_REFERENCE_LOADERS = frozenset({"CachedNode"})


def read_archive(source: str | bytes | io.BytesIO, where: str, *, kind: str, required: str,
                 allowed: Iterable[str] | None = None) -> dict[str, bytes]:
    """Every member of a zip archive, after its declared sizes and compressions have been
    checked against the caps, each read in chunks that stop at its declared size (so the
    caps bound memory: :func:`read_member`). ``kind``: what the archive should be, for
    messages; ``required``: the member that makes it one; ``allowed``: the member names that
    may appear."""
    if isinstance(source, bytes):
        source = io.BytesIO(source)
    try:
        _check_central_directory(source, where, allowed=allowed)
        with zipfile.ZipFile(source) as archive:
            infos = archive.infolist()
            if required not in archive.namelist():
                raise ModelError(f"{where}: not {kind} ({required} missing)")
            check_archive(infos, where, allowed=allowed)
            _check_packed_bytes(infos, source, where)
            return {info.filename: read_member(archive, info, where) for info in infos}
    except zipfile.BadZipFile as exc:
        raise ModelError(f"{where}: not {kind} (not a zip archive: {exc})") from exc
    except DAMAGED_FILE_ERRORS as exc:
        raise ModelError(f"{where}: archive cannot be read ({type(exc).__name__}: {exc})") from exc


def _check_central_directory(source: str | io.BytesIO, where: str, *, allowed: Iterable[str] | None = None) -> None:
    """Refuse an archive whose end record declares more members, or a larger central directory,
    than the caps allow (``allowed``: one entry per allowed name), before zipfile reads its entries.
    An archive without an end record is left to zipfile, which refuses it."""
    limit = MAX_MEMBERS if allowed is None else len(set(allowed))
    most_bytes = min(MAX_CENTRAL_DIRECTORY_BYTES, limit * CENTRAL_DIRECTORY_BYTES_PER_MEMBER)
    end_record = getattr(zipfile, "_EndRecData", None)  # zipfile's own reader of the end record (zip64 too)
    if end_record is None:
        return
    if isinstance(source, io.BytesIO):
        record = end_record(source)
        source.seek(0)
    else:
        with open(source, "rb") as handle:
            record = end_record(handle)
    if not record:
        return
    members, size = record[zipfile._ECD_ENTRIES_TOTAL], record[zipfile._ECD_SIZE]
    if members > limit:
        raise ModelError(f"{where}: archive declares {members} members; at most {limit} are accepted")
    if size > most_bytes:
        raise ModelError(f"{where}: archive's member list takes {size} bytes; at most {most_bytes} are accepted "
                         f"for {limit} members")


def check_archive(infos: list[zipfile.ZipInfo], where: str, *, allowed: Iterable[str] | None = None) -> None:
    """Refuse an archive listing whose members break the caps, repeat, or are not ``allowed``."""
    if len(infos) > MAX_MEMBERS:
        raise ModelError(f"{where}: {len(infos)} archive members; at most {MAX_MEMBERS} are accepted")
    names = [info.filename for info in infos]
    if len(set(names)) != len(names):
        raise ModelError(f"{where}: archive lists a member name twice")
    if allowed is not None:
        allowed = set(allowed)
        foreign = sorted(set(names) - allowed)
        if foreign:
            raise ModelError(f"{where}: unexpected archive members {foreign}; expected only {sorted(allowed)}")
    total = 0
    for info in infos:
        if info.compress_type not in ZIP_METHODS:
            method = zipfile.compressor_names.get(info.compress_type, f"method {info.compress_type}")
            raise ModelError(f"{where}: member {info.filename} is compressed with {method}; only stored or deflated "
                             "members are accepted")
        if info.file_size > MAX_MEMBER_BYTES:
            raise ModelError(f"{where}: member {info.filename} unpacks to {info.file_size} bytes; "
                             f"at most {MAX_MEMBER_BYTES} are accepted")
        if info.file_size > MAX_RATIO * max(info.compress_size, 1) and info.file_size > 2**20:
            raise ModelError(f"{where}: member {info.filename} unpacks {info.file_size / max(info.compress_size, 1):.0f}"
                             f" times its packed size; at most {MAX_RATIO} is accepted (a zip bomb?)")
        total += info.file_size
    if total > MAX_TOTAL_BYTES:
        raise ModelError(f"{where}: archive unpacks to {total} bytes; at most {MAX_TOTAL_BYTES} are accepted")


def _check_packed_bytes(infos: list[zipfile.ZipInfo], source: str | io.BytesIO, where: str) -> None:
    """Refuse members whose packed bytes add up to more than the archive holds: members that
    share their bytes (one deflate stream listed 200 times), which each pass the ratio cap, made
    a 35 kB file unpack to 1 GB."""
    size = source.getbuffer().nbytes if isinstance(source, io.BytesIO) else os.path.getsize(source)
    packed = sum(info.compress_size for info in infos)
    if packed > size:
        raise ModelError(f"{where}: its members' packed sizes add up to {packed} bytes, more than the archive's "
                         f"{size}: members share their bytes (an archive made to unpack to more than it holds)")


def read_member(archive: zipfile.ZipFile, info: zipfile.ZipInfo, where: str) -> bytes:
    """A member :func:`check_archive` passed, inflated a chunk at a time. zipfile's own
    ``read`` inflates the whole stream before cutting it to the declared size, and cuts
    silently; here a stream that holds a byte more than its listing declares is refused as
    soon as that byte comes out, so no more than the declared size is ever held."""
    beyond = copy.copy(info)
    beyond.file_size = info.file_size + 1  # zipfile stops at the declared size: let one byte more show
    chunks, size = [], 0
    try:
        with archive.open(beyond) as stream:
            while chunk := stream.read(_READ_CHUNK):
                size += len(chunk)
                if size > info.file_size:
                    raise ModelError(f"{where}: member {info.filename} unpacks to more than the {info.file_size} "
                                     "bytes its listing declares (a zip bomb?)")
                chunks.append(chunk)
            if info.compress_type == zipfile.ZIP_DEFLATED and _packed_bytes_left(stream):
                # bytes after the deflate stream's end only pad the packed size, so the listing's
                # ratio looks harmless (100 kB unpacking to 240 MB read as 190:1); no zip writer leaves them
                raise ModelError(f"{where}: member {info.filename} holds bytes after the end of its compressed data "
                                 f"(its listing declares {info.compress_size} packed bytes; a padded zip bomb?)")
    except zipfile.BadZipFile as exc:  # a bad CRC: the archive is a zip, its member is damaged
        raise ModelError(f"{where}: archive cannot be read (member {info.filename}: {exc})") from exc
    if size != info.file_size:
        raise ModelError(f"{where}: member {info.filename} unpacks to {size} bytes, its listing declares "
                         f"{info.file_size}")
    return b"".join(chunks)


def _packed_bytes_left(stream) -> bool:
    """Whether a deflated member's stream, read to its end, left packed bytes unread or
    unused after the deflate stream's final block (zipfile stops at that block, silently).
    The attributes are zipfile's own (CPython 3.11-3.13); a hostile-file test fails if they go."""
    decompressor = stream._decompressor
    return bool(stream._compress_left > 0 or decompressor.unused_data or not decompressor.eof)


# A network file's safetensors header (its tensors' names, shapes and offsets, and genrekit's
# JSON config): a few kB for genrekit's presets; the safetensors library accepts 100 MB, and
# parses a header of 1.5 million empty tensors (85 MB) into 1.75 GB.
MAX_SAFETENSORS_HEADER_BYTES = 16 * 2**20


def check_safetensors_header(path: str | os.PathLike) -> None:
    """Refuse a safetensors file whose header is larger than
    :data:`MAX_SAFETENSORS_HEADER_BYTES`, from its first 8 bytes, before the safetensors
    library parses it."""
    with open(path, "rb") as handle:
        head = handle.read(8)
    if len(head) < 8:
        raise ModelError(f"{path}: not a genrekit network file ({len(head)} bytes, shorter than a safetensors header)")
    size = int.from_bytes(head, "little")
    if size > MAX_SAFETENSORS_HEADER_BYTES:
        raise ModelError(f"{path}: not a genrekit network file: its safetensors header declares {size} bytes; at most "
                         f"{MAX_SAFETENSORS_HEADER_BYTES} are accepted (genrekit's networks write a few kB)")


def parse_json(data: bytes | str, where: str, *, max_bytes: int = MAX_JSON_BYTES, max_depth: int = MAX_JSON_DEPTH,
               max_memory: int = MAX_JSON_MEMORY):
    """A JSON document bounded in size, nesting depth and the memory its objects would take
    (checked before parsing, so a 200,000-deep document is refused without recursing, and
    a small file of empty objects without building them)."""
    if len(data) > max_bytes:
        raise ModelError(f"{where}: {len(data)} bytes of JSON; at most {max_bytes} are accepted")
    try:
        text = data.decode("utf-8", errors="strict") if isinstance(data, bytes) else data
    except UnicodeDecodeError as exc:
        raise ModelError(f"{where}: not UTF-8 text ({exc})") from exc
    depth, memory = _json_shape(text)
    if depth > max_depth:
        raise ModelError(f"{where}: JSON nested {depth} levels deep; at most {max_depth} are accepted")
    if memory > max_memory:
        raise ModelError(f"{where}: {len(text)} bytes of JSON whose values would take about {memory // 2**20} MB "
                         f"as objects; at most {max_memory // 2**20} MB are accepted")
    try:
        return json.loads(text)
    except (ValueError, RecursionError) as exc:  # ValueError: JSONDecodeError, integers past Python's digit limit
        raise ModelError(f"{where}: not valid JSON ({exc})") from exc


# A JSON string: to its closing quote, or to the end of the text where it has none (a string
# left open holds every bracket after it)
# (possessive: the engine keeps no backtracking state per escape, ~160 bytes each otherwise)
_JSON_STRING = re.compile(r'"[^"\\]*(?:\\(?:.|\Z)[^"\\]*)*+(?:"|\Z)', re.DOTALL)
_NOT_STRUCTURE = re.compile(r"[^\[\]{},]+")
_WIDE_ESCAPE = re.compile(r"\\u(?!00)[0-9a-fA-F]{4}")  # a character past Latin-1, written as an escape
_DEPTH_BLOCK = 1 << 22


# CPython 3.11 (64-bit) object sizes, rounded up: a dict or list with its first slots, a str
# beside its characters, a number (a float, or an int past the cached ones) with its slot
_CONTAINER_BYTES, _STRING_BYTES, _ITEM_BYTES = 72, 57, 40


def _json_shape(text: str) -> tuple[int, int]:
    """The deepest bracket nesting of a JSON text (brackets inside strings ignored), and the
    bytes its parsed objects would take, over-estimated: each container, each string with
    its characters (4 bytes each where any character is past Latin-1, as a str then stores
    them), and each item between commas priced as a number. Regular expressions
    and numpy, not a loop over characters (a ten-genre ensemble's 51 MB skops schema: 1.0 s
    against 2.8 s)."""
    import numpy as np

    bare, n_strings = _JSON_STRING.subn("", text)
    structure = _NOT_STRUCTURE.sub("", bare).encode("ascii")
    steps = np.zeros(256, dtype=np.int8)
    steps[[ord("["), ord("{")]], steps[[ord("]"), ord("}")]] = 1, -1
    deepest = level = 0
    for start in range(0, len(structure), _DEPTH_BLOCK):  # in blocks: 8 bytes a bracket, not the whole text at once
        codes = np.frombuffer(structure, dtype=np.uint8, count=min(_DEPTH_BLOCK, len(structure) - start), offset=start)
        levels = np.cumsum(steps[codes], dtype=np.int64) + level
        deepest, level = max(deepest, int(levels.max())), int(levels[-1])
    containers, commas = structure.count(b"[") + structure.count(b"{"), structure.count(b",")
    # a str holds every character at its widest one's width: up to 4 bytes where any is past Latin-1
    width = 1 if text.isascii() and not _WIDE_ESCAPE.search(text) else 4
    memory = (_CONTAINER_BYTES * containers + _STRING_BYTES * n_strings + width * (len(text) - len(bare))
              + _ITEM_BYTES * (commas + 1))
    return deepest, memory


def require(mapping, key: str, kind, where: str, *, optional: bool = False):
    """``mapping[key]`` if it is of ``kind`` (a type or tuple of types), else a ModelError
    naming the field, what was expected and what was found. Booleans never pass as numbers."""
    if not isinstance(mapping, Mapping):
        raise ModelError(f"{where}: expected a JSON object, found {type(mapping).__name__}")
    if key not in mapping:
        if optional:
            return None
        raise ModelError(f"{where}: field {key!r} is missing")
    value = mapping[key]
    kinds = kind if isinstance(kind, tuple) else (kind,)
    if (isinstance(value, bool) and bool not in kinds) or not isinstance(value, kinds):
        expected = " or ".join(k.__name__ for k in kinds)
        raise ModelError(f"{where}: field {key!r} must be {expected}, found {type(value).__name__} {describe_value(value)}")
    return value


# Genres a model may have: FMA's whole taxonomy has 163, a library's own a few hundred at most.
MAX_LABELS = 2000


# A genre name's longest: genre tags are written into users' files from it
MAX_LABEL_LENGTH = 200


def label_problem(label) -> str | None:
    """Why ``label`` cannot be a genre name (one genrekit writes into songs' tags, tables and
    web pages), or None: a string with some text, at most :data:`MAX_LABEL_LENGTH`
    characters, and no control character (a newline, a tab, a NUL), lone surrogate or
    invisible mark that reorders or hides text (:data:`genrekit._files.INVISIBLE_MARKS`)."""
    if not isinstance(label, str) or not label.strip():
        return f"{describe_value(label)} is no genre name (expected some text)"
    return text_problem(label, max_length=MAX_LABEL_LENGTH)


def text_problem(text: str, *, max_length: int) -> str | None:
    """Why ``text`` from a file of someone else's (a genre, a track id, an artist) is not shown
    or written as it is: longer than ``max_length`` characters, or holding a control character,
    a lone surrogate or an invisible mark that reorders or hides text; None where it is fine."""
    import unicodedata

    if len(text) > max_length:
        return f"{text[:40]!r}... is {len(text)} characters long (at most {max_length})"
    bad = next((c for c in text if unicodedata.category(c) in ("Cc", "Cs") or ord(c) in INVISIBLE_MARKS), None)
    if bad is not None:
        kind = "invisible mark" if ord(bad) in INVISIBLE_MARKS else "control character"
        return f"{text[:60]!r} holds the {kind} {bad!r}"
    return None


def require_labels(mapping, where: str) -> list[str]:
    """The ``labels`` field: a non-empty list of at most :data:`MAX_LABELS` distinct genre
    names (:func:`label_problem`)."""
    labels = require(mapping, "labels", list, where)
    if not labels:
        raise ModelError(f"{where}: field 'labels' must be a non-empty list of genre names, found {describe_value(labels)}")
    problem = next((p for p in map(label_problem, labels[:MAX_LABELS + 1]) if p), None)
    if problem:
        raise ModelError(f"{where}: field 'labels': {problem}")
    if len(labels) > MAX_LABELS:
        raise ModelError(f"{where}: field 'labels' lists {len(labels)} genres; at most {MAX_LABELS} are accepted")
    if len(set(labels)) != len(labels):
        raise ModelError(f"{where}: field 'labels' repeats a genre: {describe_value(labels)}")
    if "unknown" in labels:  # the proportions' share of time not named, and the genre of a song not named
        raise ModelError(f"{where}: field 'labels' holds 'unknown', genrekit's answer for a song it cannot name (no "
                         "model genrekit trains has it: a dataset's 'unknown' tracks are left out)")
    return labels


def require_training_hashes(description: dict, where: str) -> None:
    """``training.content_sha256``, ``training.audio_sha256`` and ``training.opening_sha256``,
    where given: lists of strings (the training tracks' file, decoded-audio and opening hashes)."""
    for key in ("content_sha256", "audio_sha256", "opening_sha256"):
        hashes = require(description.get("training") or {}, key, list, f"{where}: training", optional=True)
        if hashes is not None and not all(isinstance(h, str) for h in hashes):
            raise ModelError(f"{where}: field 'training.{key}' must list strings, found {describe_value(hashes)}")


def training_hashes(description: dict) -> tuple[frozenset[str], frozenset[str], frozenset[str]]:
    """The training files' hashes, their decoded audio's and their openings'
    (:func:`require_training_hashes` checked them), empty where not recorded."""
    training = description.get("training") or {}
    return tuple(frozenset(training.get(key) or ()) for key in ("content_sha256", "audio_sha256", "opening_sha256"))


def training_track_ids(description: dict) -> tuple[str, ...]:
    """``training.track_ids``: the ids of the tracks trained on, as their dataset named them
    (strings only; empty where not recorded, or stripped from an export)."""
    ids = (description.get("training") or {}).get("track_ids")
    return tuple(i for i in ids if isinstance(i, str)) if isinstance(ids, list) else ()


def training_listed(description: dict) -> bool:
    """False where an export left out which tracks were trained on (``training.stripped``)."""
    return not (description.get("training") or {}).get("stripped")


def training_spellings(description: dict, where: str) -> dict[str, list[str]]:
    """``training.labels_from_tags.spellings``, where given (a model trained on a library's own
    tags): genre -> the owners' spellings of it, each genre one of ``labels``; else ``{}``."""
    tags = require(description.get("training") or {}, "labels_from_tags", dict, f"{where}: training", optional=True)
    if tags is None:
        return {}
    spellings = require(tags, "spellings", dict, f"{where}: training.labels_from_tags")
    labels = set(description.get("labels") or [])
    for genre, names in spellings.items():
        if genre not in labels or not isinstance(names, list) or not all(isinstance(n, str) for n in names):
            raise ModelError(f"{where}: field 'training.labels_from_tags.spellings' must map the model's genres to "
                             f"lists of strings, found {describe_value(genre)}: {describe_value(names)}")
    return {genre: list(names) for genre, names in spellings.items()}


def describe_value(value) -> str:
    """``repr(value)``, cut to 80 characters for an error message."""
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def check_skops_payload(data: bytes, where: str) -> list[str]:
    """Audit a skops payload before anything in it is constructed.

    Every node of its schema must name a type of :data:`SKOPS_ALLOWED_TYPES` with one of
    that type's loaders, and skops' own list of untrusted types must fall inside the
    allow-list too (it also sees names hidden in a node's content, such as a numpy bit
    generator's). Allowed types may still be given contents that cost far more to build
    than the file's size: an array member read once for every node that names it, a random
    generator's seed sequence with a pool of a million words. Those are refused too
    (:func:`_schema_problems`). Returns the types to hand to ``skops.io.loads(trusted=...)``.
    """
    members = read_archive(data, where, kind="a skops file", required="schema.json")
    schema = parse_json(members["schema.json"], f"{where}/schema.json", max_bytes=MAX_SKOPS_SCHEMA_BYTES,
                        max_depth=MAX_SKOPS_DEPTH, max_memory=MAX_SKOPS_MEMORY)
    refused, problems = _schema_problems(schema, members)
    if refused:
        raise ModelError(f"{where}: refuses to load {', '.join(sorted(refused))}: not among the types a genrekit model "
                         "contains (the file was not written by genrekit, or was tampered with)")
    if problems:
        raise ModelError(f"{where}: {problems[0]} (a corrupt or crafted file)")
    return sorted(SKOPS_ALLOWED_TYPES)


# numpy's SeedSequence pool: 4 words whatever the seed (numpy.random.bit_generator.DEFAULT_POOL_SIZE);
# building one costs pool_size squared, so a file's own pool size could hang the load for hours
_SEED_POOL_SIZE = "4"
# A seed sequence's entropy and spawn key as scikit-learn leaves them: one 128-bit number at most
# (16 bytes; a .npy member adds a 128-byte header) and a spawn key a few levels deep
_MAX_ENTROPY_BYTES = 1024
_MAX_SPAWN_KEY = 32


def _schema_nodes(schema):
    """Every node (a JSON object with a ``__loader__``) of a skops schema, walked iteratively."""
    stack = [schema]
    while stack:
        node = stack.pop()
        if isinstance(node, list):
            stack.extend(node)
        elif isinstance(node, dict):
            stack.extend(node.values())
            if "__loader__" in node:
                yield node


def _schema_problems(schema, members: Mapping[str, bytes]) -> tuple[set[str], list[str]]:
    """The types (``module.name via Loader``) of a skops schema outside the allow-list, and
    what else in it cannot come from genrekit: an array member missing, or named by two
    nodes (skops reads a member once per node that names it, so a 1 MB member named by 200
    nodes would take 200 MB; one node written twice, with one ``__id__``, is read once), or
    a random generator's seed sequence unlike numpy's."""
    refused: set[str] = set()
    problems: list[str] = []
    files: dict[str, object] = {}
    for node in _schema_nodes(schema):
        loader = node["__loader__"]
        if not isinstance(loader, str):
            refused.add(f"a node whose loader is {describe_value(loader)}")
            continue
        if loader in _REFERENCE_LOADERS:
            continue
        module, name = node.get("__module__"), node.get("__class__")
        if not (isinstance(module, str) and isinstance(name, str)):
            refused.add(f"a malformed node ({describe_value({k: node.get(k) for k in ('__loader__', '__module__', '__class__')})})")
            continue
        qualified = f"{module}.{name}"
        if loader not in SKOPS_ALLOWED_TYPES.get(qualified, ()):
            refused.add(f"{qualified} via {loader}")
        elif loader == "NdArrayNode" and node.get("type") == "numpy":
            member, node_id = node.get("file"), node.get("__id__")
            if not isinstance(member, str) or member == "schema.json" or member not in members:
                problems.append(f"an array names the archive member {describe_value(member)}, which it does not hold")
            elif member in files and (files[member] != node_id or not isinstance(node_id, int) or not node_id):
                # one node written twice (one __id__) is built, and its member read, once
                problems.append(f"two arrays name the archive member {member!r}")
            elif (problem := _npy_problem(members[member])) is not None:
                problems.append(f"the array {member!r} {problem}")
            files.setdefault(member, node_id)
        elif loader == "RandomGeneratorNode":
            problems.extend(_seed_sequence_problems(node, members))
        elif loader == "JsonNode" and not _json_scalar(node.get("content")):
            # skops builds a JSON node with json.loads, whatever class it names: a list of
            # 80 million objects would pass as one string of the schema
            problems.append(f"a JSON value holds {describe_value(node.get('content'))}: expected the JSON of one "
                            "number, string, true, false or null")
    return refused, problems


def _npy_problem(data: bytes) -> str | None:
    """Why an array member's ``.npy`` header is not one of plain data its bytes can hold: no
    objects, items of at least a byte, and no more items than the bytes after the header
    (a dtype of zero bytes, ``V0``, let 128 bytes declare 10**12 items, which a model's code
    then walked until the memory ran out). Parsed by numpy's header reader, which evaluates
    no code; None where it is plain."""
    from numpy.lib import format as npy

    stream = io.BytesIO(data)
    try:
        version = npy.read_magic(stream)
        readers = {(1, 0): npy.read_array_header_1_0, (2, 0): npy.read_array_header_2_0}
        if version not in readers:
            return f"is a .npy file of version {version}; numpy writes plain arrays in 1.0 or 2.0"
        shape, _, dtype = readers[version](stream, max_header_size=10_000)
    except (ValueError, TypeError, SyntaxError) as exc:  # not a header numpy can read
        return f"has no readable .npy header ({exc})"
    if dtype.hasobject or dtype.itemsize == 0:
        return f"holds items of dtype {dtype}, not numbers or text"
    items = math.prod(shape)
    if items * dtype.itemsize > len(data) - stream.tell():
        return f"declares shape {shape} of {dtype}, more than its {len(data) - stream.tell()} bytes hold"
    return None


def _json_scalar(content) -> bool:
    """Whether a skops JSON node's content is the text of one scalar (not an array or object)."""
    return isinstance(content, str) and content.lstrip(" \t\r\n")[:1] not in ("[", "{")


def _seed_sequence_problems(node: dict, members: Mapping[str, bytes]) -> list[str]:
    """Why a numpy Generator node's seed sequence is not one numpy writes: skops calls
    ``SeedSequence(**fields)``, whose cost grows with the square of ``pool_size`` and with the
    length of ``entropy`` and ``spawn_key``."""
    content = node.get("content")
    seed = content.get("seed_seq") if isinstance(content, dict) else None
    fields = seed.get("content") if isinstance(seed, dict) and seed.get("__loader__") == "DictNode" else None
    expected = {"entropy", "spawn_key", "pool_size", "n_children_spawned"}
    if not isinstance(fields, dict) or set(fields) != expected:
        found = sorted(fields) if isinstance(fields, dict) else describe_value(seed)
        return [f"a random generator's seed sequence is {found}, expected the fields {sorted(expected)}"]
    pool = fields["pool_size"]
    if not (isinstance(pool, dict) and pool.get("__loader__") == "JsonNode" and pool.get("content") == _SEED_POOL_SIZE):
        found = pool.get("content") if isinstance(pool, dict) else pool
        return [f"a random generator's seed pool size is {describe_value(found)}, numpy's is {_SEED_POOL_SIZE}"]
    spawn_key = fields["spawn_key"]
    if not (isinstance(spawn_key, dict) and spawn_key.get("__loader__") == "TupleNode"
            and isinstance(spawn_key.get("content"), list) and len(spawn_key["content"]) <= _MAX_SPAWN_KEY):
        return [f"a random generator's spawn key is not a tuple of at most {_MAX_SPAWN_KEY} numbers"]
    entropy = fields["entropy"]
    loader = entropy.get("__loader__") if isinstance(entropy, dict) else None
    if loader == "NdArrayNode" and entropy.get("type") == "numpy":
        size = len(members.get(entropy.get("file"), b"")) if isinstance(entropy.get("file"), str) else None
    elif loader == "JsonNode" and isinstance(entropy.get("content"), str):
        size = len(entropy["content"])
    else:
        size = None
    if size is None or size > _MAX_ENTROPY_BYTES:
        return [f"a random generator's seed entropy is not a number of at most {_MAX_ENTROPY_BYTES} bytes"]
    return []


def check_fitted_arrays(estimator, n_features: int, n_classes: int, where: str) -> None:
    """Refuse a loaded pipeline whose arrays scikit-learn's compiled code would index out of
    bounds. The allow-list admits only genrekit's types, but a crafted file can give those
    types inconsistent contents: a tree whose child or feature indices point past its arrays
    or back to an earlier node (a loop), a k-d tree whose index array points past its data, a
    support vector classifier whose counts disagree with its vectors, a boosting ensemble with
    more trees a stage than its predictions have columns. Such a model would read or write
    memory it does not own, or never finish, at its first prediction; here it is refused with
    a ModelError instead. Every estimator is reached: through attributes, dicts, lists, tuples
    and object arrays (gradient boosting keeps its trees in one). Each one's thread count is
    set to None on the way (:func:`_check_state`)."""
    import numpy as np
    from sklearn.pipeline import Pipeline

    if not isinstance(estimator, Pipeline) or not estimator.steps:
        raise ModelError(f"{where}: expected a non-empty scikit-learn Pipeline")
    classes = getattr(estimator.steps[-1][1], "classes_", None)
    if classes is not None and (np.ndim(classes) != 1 or len(classes) != n_classes):
        raise ModelError(f"{where}: the classifier predicts {np.shape(classes)} classes, the description lists "
                         f"{n_classes} labels")
    first = estimator.steps[0][1]
    declared = getattr(first, "n_features_in_", n_features)
    if not isinstance(declared, (int, np.integer)) or declared != n_features:
        raise ModelError(f"{where}: the pipeline takes {describe_value(declared)} features, the feature set has "
                         f"{n_features}")
    seen: set[int] = set()
    stack = [estimator]
    while stack:
        item = stack.pop()
        if id(item) in seen or isinstance(item, (str, bytes, int, float, np.generic)) or item is None:
            continue
        if isinstance(item, np.ndarray):
            if item.dtype == object:  # numbers need no walk; estimators in an array do
                seen.add(id(item))
                stack.extend(item.flat)
            continue
        seen.add(id(item))
        # a type (skops builds builtins.str as a type for a dict's keys) held as a value could be
        # called by whatever reads it: set as __sklearn_is_fitted__, it made the checks below
        # take a k-nearest-neighbours model for unfitted, and its labels wrote past an array
        _refuse_if(isinstance(item, type), where, f"the model holds the type {describe_value(item)} as a value")
        if hasattr(item, "__dict__"):
            _check_state(item, where)
        name = _qualified(item)
        if name == "sklearn.tree._tree.Tree":
            _check_tree(item, n_features, where)
        elif name == "sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor":
            _check_predictor(item, n_features, where)
        elif name in ("sklearn.neighbors._kd_tree.KDTree", "sklearn.neighbors._ball_tree.BallTree"):
            _check_binary_tree(item, n_features, where)
        elif name == "sklearn.neighbors._classification.KNeighborsClassifier" and _fitted(item):
            _check_neighbors(item, n_features, n_classes, where)
        elif name in ("sklearn.svm._classes.SVC", "sklearn.svm._classes.NuSVC") and _fitted(item):
            _check_svc(item, where)
        elif name == "sklearn.ensemble._gb.GradientBoostingClassifier" and _fitted(item):
            _check_gradient_boosting(item, n_features, where)
        elif name == "genrekit.models.tagprior.TagPriorClassifier":
            _check_tag_prior(item, n_features, n_classes, where)
        elif name == "sklearn.dummy.DummyClassifier":
            _check_dummy(item, where)
        elif name == ("sklearn.ensemble._hist_gradient_boosting.gradient_boosting."
                      "HistGradientBoostingClassifier") and _fitted(item):
            _check_hist_boosting(item, n_classes, where)
        if isinstance(item, dict):
            stack.extend(item.values())
        elif isinstance(item, (list, tuple)):
            stack.extend(item)
        elif hasattr(item, "__dict__"):
            stack.extend(vars(item).values())


def _check_state(item, where: str) -> None:
    """An object's own attributes as a file may set them: no name of Python's own protocol
    (``__sklearn_is_fitted__``, ``__class__``: state that shadows a method). A thread count
    (``n_jobs``) is the host's to choose, not the file's: it is set to None (one thread;
    genrekit runs files in parallel instead), as joblib makes that many threads up front at
    every prediction (a file's 3,000 made 3,000 a prediction), and a model saved with its
    own (-1, 4) still loads."""
    state = vars(item)
    shadowing = next((key for key in state if isinstance(key, str) and key.startswith("__") and key.endswith("__")),
                     None)
    _refuse_if(shadowing is not None, where, f"a {type(item).__name__} holds {shadowing!r} as state")
    if "n_jobs" in state:
        item.n_jobs = None


def _check_dummy(model, where: str) -> None:
    """A class prior, as gradient boosting starts from it (genrekit's only use of
    DummyClassifier): its counts sized arrays at prediction (``n_classes_`` 10**8 took 1.9 GB)."""
    import numpy as np

    classes, prior = getattr(model, "classes_", None), getattr(model, "class_prior_", None)
    n = getattr(model, "n_classes_", None)
    _refuse_if(getattr(model, "_strategy", None) != "prior" or getattr(model, "n_outputs_", None) != 1
               or not _is_int(n) or np.ndim(classes) != 1 or len(classes) != n or np.shape(prior) != (n,), where,
               f"a class prior of strategy {describe_value(getattr(model, '_strategy', None))} with "
               f"{describe_value(n)} classes, classes {np.shape(classes)} and prior {np.shape(prior)}; genrekit's "
               "is a 'prior' of one output, as many classes as its prior")


def _check_hist_boosting(model, n_classes: int, where: str) -> None:
    """Histogram gradient boosting sizes its predictions by ``n_trees_per_iteration_`` and
    adds tree ``k`` of each stage to column ``k``: both must agree with its classes."""
    import numpy as np

    trees = getattr(model, "n_trees_per_iteration_", None)
    k = len(np.atleast_1d(getattr(model, "classes_", ())))
    expected = 1 if k == 2 else k
    stages = getattr(model, "_predictors", None)
    _refuse_if(trees != expected or k > n_classes or not isinstance(stages, list)
               or any(not isinstance(stage, list) or len(stage) != expected for stage in stages)
               or np.shape(getattr(model, "_baseline_prediction", None)) != (1, expected), where,
               f"histogram gradient boosting has {describe_value(trees)} trees a stage for {k} classes")


def _refuse_if(condition: bool, where: str, what: str) -> None:
    if condition:
        raise ModelError(f"{where}: {what} (a corrupt or crafted file)")


def _qualified(item) -> str:
    return f"{type(item).__module__}.{type(item).__qualname__}"


def _fitted(estimator) -> bool:
    """Whether scikit-learn would predict with ``estimator``: an unfitted one (an ensemble's
    template, a parameter) refuses before any compiled code runs, so it needs no check."""
    from sklearn.exceptions import NotFittedError
    from sklearn.utils.validation import check_is_fitted

    try:
        check_is_fitted(estimator)
    except NotFittedError:
        return False
    return True


def _is_int(value) -> bool:
    import numpy as np

    return isinstance(value, (int, np.integer)) and not isinstance(value, bool)


def _check_tree(tree, n_features: int, where: str) -> None:
    import numpy as np

    n = tree.node_count
    # the node arrays are views of node_count rows over a buffer of capacity rows: check before reading them
    _refuse_if(n < 1 or n > tree.capacity, where, f"a decision tree counts {n} nodes and holds {tree.capacity}")
    left, right, feature = tree.children_left, tree.children_right, tree.feature
    _refuse_if(len(left) != n or len(right) != n or len(feature) != n or tree.value.shape[0] != n,
               where, f"a decision tree's arrays disagree with its {n} nodes")
    internal = left != -1
    _refuse_if(bool(np.any((right != -1) != internal)), where, "a decision tree node has one child")
    # scikit-learn adds a node's children after it (depth- and best-first builders alike), so a
    # child at or before its parent can only be a loop that prediction would never leave
    parents = np.flatnonzero(internal)
    for children in (left[internal], right[internal]):
        _refuse_if(bool(np.any(children >= n)), where, "a decision tree points past its nodes")
        _refuse_if(bool(np.any(children <= parents)), where, "a decision tree node points at a node that is not after "
                   "it (a loop)")
    _refuse_if(bool(np.any((feature[internal] < 0) | (feature[internal] >= min(tree.n_features, n_features)))), where,
               "a decision tree splits on a feature it does not have")


def _check_predictor(predictor, n_features: int, where: str) -> None:
    import numpy as np
    from sklearn.ensemble._hist_gradient_boosting.common import PREDICTOR_RECORD_DTYPE

    nodes = predictor.nodes
    if not isinstance(nodes, np.ndarray) or nodes.dtype != PREDICTOR_RECORD_DTYPE or nodes.ndim != 1 or len(nodes) < 1:
        _refuse_if(True, where, f"a boosted tree's nodes are {type(nodes).__name__} of shape {np.shape(nodes)}, not "
                   "scikit-learn's node records")
    internal = nodes["is_leaf"] == 0  # the compiled walk stops at any non-zero is_leaf
    n = len(nodes)
    # HistGradientBoosting numbers its nodes depth-first, children after their parent: a child
    # at or before its parent can only be a loop that prediction would never leave
    parents = np.flatnonzero(internal)
    for key in ("left", "right"):
        children = nodes[key][internal]
        _refuse_if(bool(np.any(children >= n)), where, "a boosted tree points past its nodes")
        _refuse_if(bool(np.any(children <= parents)), where, "a boosted tree node points at a node that is not after "
                   "it (a loop)")
    features = nodes["feature_idx"][internal]
    _refuse_if(bool(np.any((features < 0) | (features >= n_features))), where,
               "a boosted tree splits on a feature it does not have")
    # a categorical split reads the bin mapper's category sets by feature, unchecked; genrekit's
    # features are all numbers, so its models never make one
    _refuse_if(bool(np.any(nodes["is_categorical"][internal] != 0)), where,
               "a boosted tree has categorical splits, which genrekit's models never make")


def _check_svc(model, where: str) -> None:
    """The arrays libsvm reads by the counts of others (scikit-learn checks only that the
    per-class counts add up to the support vectors, so 3,000 counts for 3 classes passed)."""
    import numpy as np

    impl, sparse = getattr(model, "_impl", None), getattr(model, "_sparse", None)
    expected = {"SVC": "c_svc", "NuSVC": "nu_svc"}[type(model).__name__]
    _refuse_if(impl != expected or not isinstance(sparse, bool) or sparse, where,
               f"a {type(model).__name__} of libsvm kind {describe_value(impl)}, sparse {describe_value(sparse)}; "
               f"genrekit's are dense {expected}")
    classes = getattr(model, "classes_", None)
    _refuse_if(np.ndim(classes) != 1 or len(classes) < 2, where,
               f"a support vector classifier has classes {describe_value(classes)}")
    k = len(classes)
    pairs = k * (k - 1) // 2
    vectors, width = getattr(model, "support_vectors_", None), getattr(model, "n_features_in_", None)
    _refuse_if(np.ndim(vectors) != 2 or not _is_int(width) or np.shape(vectors)[1] != width, where,
               f"a support vector classifier's support vectors have shape {np.shape(vectors)} for "
               f"{describe_value(width)} features")
    n_vectors = np.shape(vectors)[0]

    def integers(name: str, shape: tuple, low: int, high: int | None) -> None:
        values = np.asarray(getattr(model, name, None))
        _refuse_if(values.shape != shape or values.dtype.kind not in "iu", where,
                   f"a support vector classifier's {name} has shape {values.shape} ({values.dtype}); expected {shape} "
                   "integers")
        outside = (values < low) | (values >= high) if high is not None else values < low
        if np.any(outside):
            _refuse_if(True, where, f"a support vector classifier's {name} holds {values[outside][0]}, outside "
                       f"[{low}, {high if high is not None else 'inf'})")

    integers("_n_support", (k,), 0, None)
    counts = np.asarray(model._n_support)
    _refuse_if(int(counts.sum()) != n_vectors, where, f"a support vector classifier counts {int(counts.sum())} "
               f"support vectors ({describe_value(counts.tolist())}) and holds {n_vectors}")
    fitted = getattr(model, "shape_fit_", None)
    _refuse_if(not isinstance(fitted, tuple) or len(fitted) != 2 or not all(_is_int(n) and n >= 0 for n in fitted)
               or fitted[1] != width, where,
               f"a support vector classifier was fitted on shape {describe_value(fitted)}, for {width} features")
    integers("support_", (n_vectors,), 0, fitted[0])
    for name, shape in (("_dual_coef_", (k - 1, n_vectors)), ("_intercept_", (pairs,))):
        found = np.shape(getattr(model, name, None))
        _refuse_if(found != shape, where, f"a support vector classifier's {name} has shape {found}; {k} classes and "
                   f"{n_vectors} support vectors need {shape}")
    probabilities = {np.shape(getattr(model, name, None)) for name in ("_probA", "_probB")}
    # probability=False leaves both empty; probability=True gives one per pair of classes
    _refuse_if(probabilities not in ({(0,)}, {(pairs,)}), where,
               f"a support vector classifier's _probA and _probB have shapes {sorted(probabilities)}; {k} classes need "
               f"({pairs},) or none")
    if hasattr(model, "class_weight_"):
        found = np.shape(model.class_weight_)
        _refuse_if(found != (k,), where, f"a support vector classifier's class_weight_ has shape {found} for {k} classes")


def _check_gradient_boosting(model, n_features: int, where: str) -> None:
    """Gradient boosting's compiled prediction takes ``estimators_[i, k].tree_`` as a tree
    without a type check, and adds tree ``k`` of each stage to column ``k`` of the initial
    predictions without a bounds check."""
    import numpy as np

    estimators = getattr(model, "estimators_", None)
    if (not isinstance(estimators, np.ndarray) or estimators.dtype != object or estimators.ndim != 2
            or 0 in estimators.shape):
        _refuse_if(True, where, f"gradient boosting keeps its trees in a {type(estimators).__name__} of shape "
                   f"{np.shape(estimators)}, not a stages x classes array of objects")
    for tree in estimators.flat:  # messages built only on refusal: an estimator's repr is slow
        if _qualified(tree) != "sklearn.tree._classes.DecisionTreeRegressor":
            _refuse_if(True, where, f"gradient boosting holds a {_qualified(tree)} among its trees")
        if _qualified(getattr(tree, "tree_", None)) != "sklearn.tree._tree.Tree":
            _refuse_if(True, where, f"a gradient boosting tree holds {describe_value(getattr(tree, 'tree_', None))}, "
                       "not a fitted tree")
    # The initial predictions: "zero", or the class prior genrekit's models start from. Both are
    # computed in Python from arrays already loaded, so they are run here to learn their width.
    init = getattr(model, "init_", None)
    if isinstance(init, str) and init == "zero":
        _refuse_if(getattr(model, "n_trees_per_iteration_", None) != estimators.shape[1], where,
                   f"gradient boosting has {estimators.shape[1]} trees a stage and "
                   f"{describe_value(getattr(model, 'n_trees_per_iteration_', None))} outputs")
    elif _qualified(init) != "sklearn.dummy.DummyClassifier" or getattr(init, "_strategy", None) != "prior":
        _refuse_if(True, where, f"gradient boosting starts from {describe_value(init)}, not a class prior")
    columns = np.shape(model._raw_predict_init(np.zeros((1, n_features))))
    _refuse_if(columns != (1, estimators.shape[1]), where,
               f"gradient boosting has {estimators.shape[1]} trees a stage for initial predictions of shape {columns}")


def _check_binary_tree(tree, n_features: int, where: str) -> None:
    """A k-d or ball tree's arrays as its compiled queries read them without bounds checks:
    indices into its data, node ranges, each split node's children (2i+1 and 2i+2) among the
    nodes, and bounds of one row (ball) or two (k-d) per node and feature."""
    import numpy as np

    state = tree.__getstate__()
    data, indices, node_data, bounds = (np.asarray(state[i]) for i in range(4))
    _refuse_if(data.ndim != 2 or data.shape[1] != n_features, where,
               f"a k-d or ball tree holds data of shape {data.shape} for {n_features} features")
    n_samples = len(data)
    _refuse_if(len(indices) != n_samples or bool(np.any((indices < 0) | (indices >= n_samples))), where,
               "a k-d or ball tree indexes past its data")
    _refuse_if(node_data.ndim != 1 or not {"idx_start", "idx_end", "is_leaf"} <= set(node_data.dtype.names or ()),
               where, "a k-d or ball tree's nodes are not node records")
    n_nodes = len(node_data)
    starts, ends = node_data["idx_start"], node_data["idx_end"]
    _refuse_if(bool(np.any((starts < 0) | (ends > n_samples) | (starts > ends))), where,
               "a k-d or ball tree node spans past its data")
    splits = np.flatnonzero(node_data["is_leaf"] == 0)
    _refuse_if(bool(len(splits)) and int(splits.max()) * 2 + 2 >= n_nodes, where,
               f"a k-d or ball tree node has children past its {n_nodes} nodes")
    rows = 2 if _qualified(tree) == "sklearn.neighbors._kd_tree.KDTree" else 1
    _refuse_if(bounds.shape != (rows, n_nodes, n_features), where,
               f"a k-d or ball tree's node bounds have shape {bounds.shape}, expected {(rows, n_nodes, n_features)}")
    _refuse_if(state[6] != n_nodes, where, f"a k-d or ball tree counts {state[6]} nodes and holds {n_nodes}")
    weights = state[12]
    _refuse_if(weights is not None and np.shape(weights) != (n_samples,), where,
               "a k-d or ball tree's sample weights do not match its data")


def _check_neighbors(classifier, n_features: int, n_classes: int, where: str) -> None:
    """A k-nearest-neighbours classifier's training rows as its compiled distances read them:
    one row of ``n_features`` per label, and ``n_neighbors`` among them."""
    import numpy as np

    rows, labels = np.asarray(classifier._fit_X), np.asarray(classifier._y)
    _refuse_if(rows.ndim != 2 or rows.shape[1] != n_features, where,
               f"k-nearest neighbours holds training rows of shape {rows.shape} for {n_features} features")
    _refuse_if(classifier.n_samples_fit_ != len(rows) or labels.shape != (len(rows),), where,
               f"k-nearest neighbours counts {describe_value(classifier.n_samples_fit_)} training rows, holds "
               f"{len(rows)} and labels {labels.shape}")
    _refuse_if(not np.issubdtype(labels.dtype, np.integer) or bool(np.any((labels < 0) | (labels >= n_classes))),
               where, f"k-nearest neighbours has labels outside its {n_classes} classes")
    k = classifier.n_neighbors
    _refuse_if(not isinstance(k, (int, np.integer)) or not 1 <= k <= len(rows), where,
               f"k-nearest neighbours asks for {describe_value(k)} neighbours among {len(rows)} rows")
    tree = getattr(classifier, "_tree", None)
    _refuse_if(tree is not None and np.shape(tree.__getstate__()[0]) != rows.shape, where,
               "k-nearest neighbours' tree holds other rows than its training rows")


def _check_tag_prior(classifier, n_features: int, n_classes: int, where: str) -> None:
    import math

    mapping = getattr(classifier, "mapping_", None)
    _refuse_if(not isinstance(mapping, list) or len(mapping) != n_classes, where,
               "the prior's genre -> tag mapping does not list every genre")
    _refuse_if(any(not isinstance(columns, list) or not all(isinstance(c, int) and 0 <= c < n_features for c in columns)
                   for columns in mapping), where, "the prior reads a column the features do not have")
    temperature = getattr(classifier, "temperature_", None)
    _refuse_if(not isinstance(temperature, float) or not math.isfinite(temperature) or temperature <= 0, where,
               f"the temperature must be a positive number, found {describe_value(temperature)}")


def check_booster(data: bytes, n_features: int, n_classes: int, where: str) -> None:
    """Refuse an XGBoost ``booster.json`` that XGBoost's compiled code would follow out of
    bounds or into a loop: it is parsed with this module's caps first, then every tree's
    arrays must agree with its node count, every child must come after its parent (so no
    walk can cycle), every split must name one of the model's features, and the model must
    be the plain gradient-boosted trees genrekit writes (no categorical splits, no vector
    leaves) for ``n_classes`` genres."""
    allowed = min(BOOSTER_BYTES + BOOSTER_BYTES_PER_GENRE * n_classes, MAX_MEMBER_BYTES)
    booster = parse_json(data, where, max_bytes=allowed, max_memory=8 * allowed)
    learner = require(booster, "learner", dict, where)
    params = require(learner, "learner_model_param", dict, f"{where}: learner")
    gradient = require(learner, "gradient_booster", dict, f"{where}: learner")
    _refuse_if(gradient.get("name") != "gbtree", where, f"a booster of kind {describe_value(gradient.get('name'))}, "
               "not gbtree")
    model = require(gradient, "model", dict, f"{where}: gradient_booster")
    trees = require(model, "trees", list, f"{where}: model")
    tree_info = require(model, "tree_info", list, f"{where}: model")

    def number(mapping, key, context):  # XGBoost writes its parameters as strings
        value = mapping.get(key)
        try:
            return int(value)
        except (TypeError, ValueError):
            raise ModelError(f"{where}: {context} field {key!r} must be an integer, found {describe_value(value)}") from None

    _refuse_if(number(params, "num_feature", "learner_model_param") != n_features, where,
               f"the booster takes {describe_value(params.get('num_feature'))} features, the feature set has {n_features}")
    classes = number(params, "num_class", "learner_model_param")
    _refuse_if(classes != (n_classes if n_classes > 2 else 0) and classes != n_classes, where,
               f"the booster predicts {classes} classes, the description lists {n_classes} labels")
    _refuse_if(len(tree_info) != len(trees) or not all(isinstance(c, int) and not isinstance(c, bool)
                                                       and 0 <= c < max(classes, 1) for c in tree_info),
               where, "the booster's tree_info does not name a class for each tree")
    for index, tree in enumerate(trees):
        context = f"tree {index}"
        _refuse_if(not isinstance(tree, dict), where, f"{context} is not a JSON object")
        tree_param = require(tree, "tree_param", dict, f"{where}: {context}")
        n = number(tree_param, "num_nodes", f"{context} tree_param")
        _refuse_if(n < 1 or number(tree_param, "size_leaf_vector", f"{context} tree_param") > 1, where,
                   f"{context} has {n} nodes or vector leaves")
        _refuse_if(number(tree_param, "num_feature", f"{context} tree_param") != n_features, where,
                   f"{context} takes other features than the model")
        arrays = {}
        for key in ("left_children", "right_children", "parents", "split_indices", "split_conditions",
                    "default_left", "split_type", "base_weights"):
            values = require(tree, key, list, f"{where}: {context}")
            _refuse_if(len(values) != n, where, f"{context}'s {key} has {len(values)} entries for {n} nodes")
            arrays[key] = values
        _refuse_if(any(require(tree, key, list, f"{where}: {context}", optional=True) for key in
                       ("categories", "categories_nodes", "categories_segments", "categories_sizes")), where,
                   f"{context} has categorical splits, which genrekit's models never make")
        left, right, feature = arrays["left_children"], arrays["right_children"], arrays["split_indices"]
        for node in range(n):
            children = (left[node], right[node])
            if not all(isinstance(c, int) and not isinstance(c, bool) for c in (*children, feature[node])):
                raise ModelError(f"{where}: {context} node {node} has a child or feature that is not an integer "
                                 "(a corrupt or crafted file)")
            if children == (-1, -1):
                continue
            _refuse_if(not all(node < c < n for c in children), where,
                       f"{context} node {node} points at a node that is not after it")
            _refuse_if(not 0 <= feature[node] < n_features, where,
                       f"{context} node {node} splits on a feature it does not have")
            _refuse_if(arrays["split_type"][node] != 0, where, f"{context} node {node} is a categorical split")


# An ONNX file is read whole before it is parsed: protobuf caps a file at 2 GiB; genrekit's
# exports take 1-10 MB (a 10-genre tree ensemble's tens), so a larger one is refused unread.
MAX_ONNX_BYTES = 1024 * 2**20
# Nodes (operators) an ONNX file may hold, subgraphs and functions included: genrekit's exports
# hold 30-600 (a tree ensemble is one node); onnxruntime took 5 s and 0.4 GB to build 100k Relus
# and 188 s and 3.4 GB for a million, a 26 MB file.
MAX_ONNX_NODES = 10_000
# The largest kernel (its elements: kernel_shape's product) of a pooling or convolution operator.
# genrekit's exports' largest is 469 (musicnn's timbral filters); a 4096 x 4096 MaxPool in a 1.8 kB
# file would have run for 44 hours in one operator, past any stop.
MAX_ONNX_KERNEL = 4096
# The memory an ONNX file's small objects may take once protobuf and onnxruntime have parsed it,
# estimated from its bytes: each name, attribute, attribute string, tensor, value info or opset
# (ONNX_ENTRY_BYTES: an empty one takes 2 bytes of the file and ~75-170 of memory; 19 MB of empty
# attribute strings took 1.7 GB, of empty node inputs 0.9 GB), and each integer of a list (8
# bytes, from 1-2 in the file). genrekit's exports estimate at 0-15 MB (the default 7), its tree
# ensembles at 45 MB (random-forest) and 91 MB (extra-trees, a 26 MB file) trained on 400 rows,
# and more with more rows: the cap is onnxruntime's arena's (ONNX_ARENA_MAX_BYTES).
MAX_ONNX_OBJECT_BYTES = 4 * 2**30
ONNX_ENTRY_BYTES = 170
# The metadata (every entry), doc strings and names (of the model, its graphs, nodes, attributes
# and tensors) an ONNX file may hold: genrekit's ``genrekit`` entry (at most MAX_JSON_BYTES) and a
# little more. onnxruntime keeps about three copies of each for as long as its session lives: 400
# MB under another key took 2.2 GB, and a node's 200 MB doc string 0.86 GB.
MAX_ONNX_TEXT_BYTES = 32 * 2**20 + 2**20

# The ONNX operators genrekit's exports use (every network preset with either front end, int8
# included, every classical model skl2onnx converts, the default model and its int8 and light
# forms), as (domain, operator), the default domain written "". Anything else in a file is refused before
# onnxruntime builds it: Loop, whose iteration count the file chooses (a Loop of 10**15
# iterations hung the service), operators that read or write files or strings, random ones,
# and a local function's call. Scan stays (skl2onnx's k-NN graph uses it): its iteration count
# can be the file's own too (an input of 10**12 rows and no size), so every run is also stopped
# after genrekit.models.interface.ONNX_RUN_SECONDS. The tests export every kind and load it
# (test_hostile_models.py: classical models; test_network_export.py: each preset and front end,
# int8; test_musicnn.py: the default and its int8 and light forms).
ONNX_ALLOWED_OPS = frozenset({("", name) for name in (
    "Add", "ArgMax", "BatchNormalization", "Cast", "Clip", "Concat", "ConstantOfShape", "Conv",
    "DequantizeLinear", "Div", "Equal", "Erf", "Exp", "Expand", "Flatten", "GRU", "Gather", "Gemm", "GreaterOrEqual",
    "Identity", "Less", "Log", "LogSoftmax", "MatMul", "Max", "MaxPool", "Mul", "Neg", "Not", "Pad", "Pow",
    "QLinearConv", "QuantizeLinear", "ReduceMax", "ReduceMean", "ReduceSum", "ReduceSumSquare", "Relu",
    "Reshape", "STFT", "Scan", "Shape", "Sigmoid", "Slice", "Softmax", "Sqrt", "Squeeze", "Sub", "Sum", "Tanh",
    "TopK", "Transpose", "Unsqueeze", "Where")} | {("ai.onnx.ml", name) for name in (
        "ArrayFeatureExtractor", "Imputer", "LinearClassifier", "Normalizer", "SVMClassifier", "Scaler",
        "TreeEnsembleClassifier")})


def onnx_refusals(data: bytes, where: str) -> list[str]:
    """Why genrekit will not hand an ONNX file to onnxruntime, each reason as a phrase; empty for
    every file genrekit exports.

    Read from the protobuf wire format itself (the torch-free runtime has no ``onnx``
    package), before onnxruntime builds anything:

    - onnxruntime's own ``.ort`` format (``ORTM`` at bytes 4-8), which onnxruntime would read
      instead of the protobuf this parser reads (the session is also told to read ONNX only);
    - operators outside :data:`ONNX_ALLOWED_OPS`, in the graph, its subgraphs, local functions
      (their nodes and their default attributes) and training graphs, each as
      ``domain.operator`` (the default domain's without one; ``ai.onnx`` is the default);
    - tensors stored outside the file (ONNX external data names a path, which onnxruntime
      would resolve against the working directory when given bytes);
    - sparse tensors (initializers and attributes): onnxruntime makes each a dense tensor
      while it builds the session, before any check and outside its memory arena, so a few
      hundred bytes asked for gigabytes;
    - session options in the metadata (``ort_config``), which onnxruntime applies where
      ``ORT_LOAD_CONFIG_FROM_MODEL=1`` is set (thread counts, a profile written to the
      working directory).
    - a metadata key given twice: onnxruntime reads the last entry, the ``onnx`` package and
      viewers such as Netron show the first, so a file could show one label order and run
      another;
    - metadata, doc strings and names past :data:`MAX_ONNX_TEXT_BYTES` in all (under any key,
      of any node, attribute or tensor).

    The memory its names, attributes, strings, messages and integer lists would take once
    parsed is estimated on the way, and a file past :data:`MAX_ONNX_OBJECT_BYTES` is refused
    as soon as it is (a ModelError).

    Raises
    ------
    ModelError
        The file is not protobuf this parser can read, or a field's tag is one that protobuf
        would read differently (over 32 bits, or field 0), or it holds more than
        :data:`MAX_ONNX_NODES` nodes (said as soon as they are counted).
    """
    if data[4:8] == b"ORTM":
        return ["onnxruntime's own .ort format, not ONNX"]
    if data[:4] == b"PK\x03\x04":  # read as protobuf, "a field tag of 2 bits" said nothing of what it is
        return ["a zip archive, not ONNX (a .genrekit model file renamed? load it by its own name)"]
    ops: set[tuple[str, str]] = set()
    external: set[int] = set()  # where each such tensor starts
    sparse: set[int] = set()
    strings: set[int] = set()
    kernels: list[int] = []  # kernel sizes past MAX_ONNX_KERNEL

    def fields(start: int, end: int):
        """(field number, wire type, value) for varints, (number, 2, (start, end)) for
        length-delimited fields; fixed-width fields are skipped."""
        at = start
        while at < end:
            key, at = read_varint(data, at)
            number, wire = key >> 3, key & 7
            if key >> 32 or number == 0:  # protobuf reads a tag as 32 bits: a longer one names another field there
                raise ValueError(f"a field tag of {key.bit_length()} bits, or field 0")
            if wire == 0:
                value, at = read_varint(data, at)
                yield number, 0, value
            elif wire in (1, 5):
                at += 8 if wire == 1 else 4
            elif wire == 2:
                length, at = read_varint(data, at)
                if at + length > end:
                    raise ValueError("a field runs past its message")
                yield number, 2, (at, at + length)
                at += length
            else:
                raise ValueError(f"wire type {wire}")
        if at != end:
            raise ValueError("a field runs past its message")

    def messages(start: int, end: int, numbers: tuple[int, ...]):
        for number, wire, value in fields(start, end):
            if wire == 2 and number in numbers:
                yield number, value

    text_bytes = 0  # metadata, doc strings and names

    entries = integers = characters = 0

    def entry(objects: int = 0, *, span: tuple[int, int] | None = None, ints: int = 0,
              packed: tuple[int, int] | None = None, chars: int = 0) -> None:
        """``objects`` more (see MAX_ONNX_OBJECT_BYTES), and for ``span``, a message not walked
        here (a value info, a type), the most objects its bytes could hold; ``ints`` integers
        more, and those of ``packed``, a packed list's span (one per byte under 0x80); ``chars``
        bytes of strings more (onnxruntime keeps about three copies)."""
        nonlocal entries, integers, characters
        entries += objects + (0 if span is None else 1 + (span[1] - span[0]) // 2)
        integers += ints + (0 if packed is None else
                            len(data[packed[0]:packed[1]].translate(None, _VARINT_CONTINUATIONS)))
        characters += chars
        estimate = entries * ONNX_ENTRY_BYTES + integers * 8 + characters * 3
        if estimate > MAX_ONNX_OBJECT_BYTES:
            raise ModelError(f"{where}: its names, attributes, tensors and integer lists would take over "
                             f"{MAX_ONNX_OBJECT_BYTES / 2**30:g} GB once parsed (at least {entries} objects of "
                             f"~{ONNX_ENTRY_BYTES} bytes and {integers} integers of 8, from a few bytes each in the "
                             "file); genrekit's exports take 0-100 MB")

    def graph(span, depth: int) -> None:
        nonlocal text_bytes
        if depth > 16:
            raise ValueError("subgraphs nested too deep")
        # GraphProto node, name, initializer, doc_string, input, output, value_info, quantization_annotation,
        # sparse_initializer, metadata_props
        for number, inner in messages(*span, (1, 2, 5, 10, 11, 12, 13, 14, 15, 16)):
            if number == 1:
                node(inner, depth)
            elif number == 5:
                entry(1)
                tensor(inner)
            elif number in (2, 10):  # name, doc_string
                text_bytes += inner[1] - inner[0]
            elif number == 15:
                sparse.add(inner[0])
            elif number in (11, 12, 13, 14, 16):  # input, output, value_info, quantization_annotation, metadata
                entry(span=inner)

    nodes = 0

    def node(span, depth: int) -> None:
        nonlocal nodes, text_bytes
        nodes += 1
        if nodes > MAX_ONNX_NODES:
            raise ModelError(f"{where}: more than {MAX_ONNX_NODES} operators; genrekit's exports hold a few hundred "
                             "(onnxruntime would take minutes and gigabytes to build such a graph)")
        op_type = domain = ""
        for number, wire, value in fields(*span):  # NodeProto op_type, domain, attribute
            if wire != 2:
                continue
            if number == 4:
                op_type = data[value[0]:value[1]].decode("utf-8", "replace")
            elif number == 7:
                domain = data[value[0]:value[1]].decode("utf-8", "replace")
            elif number == 5:
                entry(1)
                attribute(value, depth)
            elif number in (1, 2):  # input, output
                entry(1)
                text_bytes += value[1] - value[0]
            elif number in (3, 6, 8):  # name, doc_string, overload
                text_bytes += value[1] - value[0]
            elif number in (9, 10):  # metadata_props, device_configurations
                entry(span=value)
        ops.add(("" if domain == "ai.onnx" else domain, op_type))

    def attribute(span, depth: int) -> None:
        nonlocal text_bytes
        # ints decoded for a kernel_shape only (a kernel has a few), and counted, not kept: a file of
        # 1 GiB of them would have made a list of ~8 GB here, and a tree ensemble's millions were each decoded
        name, dims, n_loose, texts, texts_bytes, packed = b"", [], 0, 0, 0, []
        # AttributeProto name (1), ints (8, packed or not), strings (9), t, g, tensors, graphs,
        # sparse_tensor(s) (5, 6, 10, 11, 22, 23), tp, type_protos (14, 15)
        for number, wire, value in fields(*span):
            if number == 8 and wire == 0:
                n_loose += 1
                if n_loose <= 64:
                    dims.append(value)
            elif number == 1 and wire == 2:
                name = data[value[0]:value[1]]
                text_bytes += len(name)
            elif wire == 2 and number in (13, 21):  # doc_string, ref_attr_name
                text_bytes += value[1] - value[0]
            elif wire == 2 and number == 4:  # s: one string (a tree ensemble's strings are a list, below)
                entry(1)
                text_bytes += value[1] - value[0]
            elif number == 8 and wire == 2:
                entry(packed=value)
                packed.append(value)
            elif wire == 2 and number == 9:
                texts += 1
                texts_bytes += value[1] - value[0]
            elif wire == 2 and number in (5, 10):
                entry(1 if number == 10 else 0)  # a list's tensors: objects of their own
                tensor(value)
            elif wire == 2 and number in (6, 11):
                entry(1 if number == 11 else 0)
                graph(value, depth + 1)
            elif wire == 2 and number in (22, 23):
                sparse.add(value[0])
            elif wire == 2 and number in (14, 15):
                entry(span=value)
        entry(texts, ints=n_loose, chars=texts_bytes)
        if name == b"kernel_shape":
            product = math.prod(dims) if n_loose <= 64 else 2**64
            for start, end in packed:
                while start < end and product <= 2**64:
                    item, start = read_varint(data, start)
                    product *= item
            if product > MAX_ONNX_KERNEL:
                kernels.append(product)

    def tensor(span) -> None:
        nonlocal text_bytes
        for number, wire, value in fields(*span):  # TensorProto external_data (13), data_location (14)
            if number in (1, 5, 7, 11):  # dims, int32_data, int64_data, uint64_data: packed or not
                entry(packed=value) if wire == 2 else entry(ints=1)
            elif (number == 13 and wire == 2) or (number == 14 and wire == 0 and value != 0):
                external.add(span[0])
            elif wire == 2 and number in (8, 12):  # name, doc_string
                text_bytes += value[1] - value[0]
            elif number == 2 and wire == 0 and value == 8:  # data_type STRING: two bytes a value in the file,
                strings.add(span[0])  # ~60 in memory as protobuf and onnxruntime hold it (100 MB took 2.9 GB)

    metadata_keys: Counter = Counter()

    try:
        # doc, graph, opset_import, metadata, training, functions
        for number, span in messages(0, len(data), (6, 7, 8, 14, 20, 25)):
            if number == 8:
                entry(1)
            elif number == 6:
                text_bytes += span[1] - span[0]
            elif number == 7:
                graph(span, 0)
            elif number == 14:  # StringStringEntryProto: key (1); protobuf keeps a repeated field's last
                entry(1)
                keys = [data[a:b] for _, (a, b) in messages(*span, (1,))]
                metadata_keys[keys[-1] if keys else b""] += 1
                text_bytes += span[1] - span[0]
            elif number == 20:
                for _, inner in messages(*span, (1, 2)):  # TrainingInfoProto initialization, algorithm
                    graph(inner, 0)
            else:
                entry(1)
                # FunctionProto node, attribute_proto; input, output, attribute (names); value_info, metadata
                for kind, inner in messages(*span, (7, 11, 4, 5, 6, 12, 14)):
                    if kind == 7:
                        node(inner, 0)
                    elif kind == 11:
                        entry(1)
                        attribute(inner, 0)
                    else:
                        entry(span=inner) if kind in (12, 14) else entry(1)
    except (ValueError, IndexError) as exc:
        raise ModelError(f"{where}: not an ONNX file genrekit can read ({exc})") from exc
    refusals = []
    refused_ops = sorted(f"{domain}.{name}" if domain else name for domain, name in ops - ONNX_ALLOWED_OPS)
    if refused_ops:
        refusals.append(f"the graph uses {', '.join(refused_ops)}, which genrekit's exports never do")
    if external:
        refusals.append(f"{len(external)} tensor(s) stored outside the file (ONNX external data names a path)")
    if strings:
        refusals.append(f"{len(strings)} tensor(s) of strings, which genrekit's exports never hold")
    if kernels:
        refusals.append(f"a pooling or convolution kernel of {max(kernels)} elements, past the {MAX_ONNX_KERNEL} "
                        "genrekit allows (its exports' largest is 469); one such operator can run for hours, "
                        "and onnxruntime stops a run only between operators")
    if sparse:
        refusals.append(f"{len(sparse)} sparse tensor(s), which genrekit's exports never hold (onnxruntime "
                        "expands each to a dense tensor before any check)")
    if metadata_keys[b"ort_config"]:  # read where ORT_LOAD_CONFIG_FROM_MODEL=1: threads, profiling into the working directory
        refusals.append("onnxruntime session options in its metadata ('ort_config')")
    repeated = sorted(key.decode("utf-8", "replace") for key, n in metadata_keys.items() if n > 1)
    if repeated:  # one reader takes the first, onnxruntime the last: what a tool shows would not be what runs
        refusals.append(f"metadata entries given twice ({', '.join(map(repr, repeated))}), which genrekit's exports "
                        "never hold")
    if text_bytes > MAX_ONNX_TEXT_BYTES:
        refusals.append(f"{text_bytes} bytes of metadata, doc strings and names (at most {MAX_ONNX_TEXT_BYTES}; "
                        "onnxruntime keeps copies of them for as long as the model runs)")
    return refusals


# The bytes that continue a varint (the high bit set): what is left of a packed list without them
# is one byte per integer.
_VARINT_CONTINUATIONS = bytes(range(0x80, 0x100))


def read_varint(data: bytes, at: int) -> tuple[int, int]:
    """A protobuf varint at ``data[at:]``: ``(value, the position after it)``; at most 64 bits,
    so a run of continuation bytes in a hostile file ends in a ValueError, not a huge number."""
    value = shift = 0
    while True:
        byte = data[at]
        at += 1
        value |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return value, at
        shift += 7
        if shift > 63:
            raise ValueError("a varint over 64 bits")
