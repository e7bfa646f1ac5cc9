"""Read the tensors of a TensorFlow checkpoint (a V2 "tensor bundle") without TensorFlow.

musicnn ships its weights as TensorFlow 1 checkpoints: ``<prefix>.index``, a LevelDB-format
table from tensor name to a ``BundleEntryProto`` (dtype, shape, byte range), and
``<prefix>.data-00000-of-00001`` holding the raw little-endian bytes. Reading that takes a
few dozen lines; TensorFlow itself is a large install that no longer runs musicnn's code, so
conversion does not depend on it (the tests check this reader against TensorFlow's own
``NewCheckpointReader`` where TensorFlow is installed).
"""

from __future__ import annotations

import os
import struct
from pathlib import Path

import numpy as np

from genrekit.errors import ModelError
from genrekit.untrusted import read_varint

TABLE_MAGIC = 0xDB4775248B80FB57
# What a musicnn checkpoint can hold, with room to spare (each has 64 tensors, 3 x 64 with
# its optimizer's slots, names of about 40 bytes): a crafted index that restates each key
# (quadratic memory: 84 kB in a wheel took 2 GB) or names a block many times is refused.
MAX_ENTRIES = 4096
MAX_KEY_BYTES = 1024
MAX_TENSOR_ELEMENTS = 1 << 31
MAX_DIMENSIONS = 32

# tensorflow/core/framework/types.proto
DTYPES = {1: np.float32, 2: np.float64, 3: np.int32, 4: np.uint8, 5: np.int16, 6: np.int8, 9: np.int64,
          10: np.bool_, 17: np.uint16, 19: np.float16}


def _proto_fields(data: bytes):
    """(field number, wire type, value) of a protobuf message; nested messages as bytes."""
    position = 0
    while position < len(data):
        tag, position = read_varint(data, position)
        number, wire = tag >> 3, tag & 7
        if wire == 0:
            value, position = read_varint(data, position)
        elif wire == 1:
            value, position = data[position:position + 8], position + 8
        elif wire == 2:
            length, position = read_varint(data, position)
            value, position = data[position:position + length], position + length
        elif wire == 5:
            value, position = data[position:position + 4], position + 4
        else:
            raise ValueError(f"protobuf wire type {wire}")
        yield number, wire, value


def _block_entries(table: bytes, offset: int, size: int):
    """Key/value pairs of one table block (keys are prefix-compressed against the previous one)."""
    block = table[offset:offset + size]
    if table[offset + size] != 0:
        raise ValueError("compressed table blocks are not supported")
    n_restarts = struct.unpack_from("<I", block, len(block) - 4)[0]
    end = len(block) - 4 - 4 * n_restarts
    position, key = 0, b""
    while position < end:
        shared, position = read_varint(block, position)
        unshared, position = read_varint(block, position)
        length, position = read_varint(block, position)
        if shared > len(key) or shared + unshared > MAX_KEY_BYTES:
            raise ValueError(f"a key of {shared} + {unshared} bytes (the previous one has {len(key)}; "
                             f"at most {MAX_KEY_BYTES})")
        key = key[:shared] + block[position:position + unshared]
        position += unshared
        yield key, block[position:position + length]
        position += length


def _entry(value: bytes) -> tuple[np.dtype, tuple[int, ...], int, int, int]:
    """(dtype, shape, shard, offset, size) of a ``BundleEntryProto``; each field of the wire
    type its proto declares (a crafted one is a ValueError, not a TypeError further on)."""
    dtype, shape, shard, offset, size = None, [], 0, 0, 0

    def number_of(wire: int, field, what: str) -> int:
        if wire != 0:
            raise ValueError(f"the {what} is not a number")
        return field

    for number, wire, field in _proto_fields(value):
        if number == 1:
            dtype = number_of(wire, field, "dtype")
        elif number == 2:
            if wire != 2:
                raise ValueError("the shape is not a message")
            for dim_number, dim_wire, dim in _proto_fields(field):
                if dim_number == 2:
                    if dim_wire != 2:
                        raise ValueError("a dimension is not a message")
                    sizes = [number_of(w, v, "dimension size") for n, w, v in _proto_fields(dim) if n == 1]
                    shape.append(sizes[-1] if sizes else 0)
        elif number == 3:
            shard = number_of(wire, field, "shard")
        elif number == 4:
            offset = number_of(wire, field, "offset")
        elif number == 5:
            size = number_of(wire, field, "size")
        elif number == 7:
            raise ValueError("partitioned (sliced) tensors are not supported")
    if dtype not in DTYPES:
        raise ValueError(f"tensor dtype {dtype} is not supported")
    if len(shape) > MAX_DIMENSIONS:
        raise ValueError(f"a tensor of {len(shape)} dimensions (at most {MAX_DIMENSIONS})")
    elements = 1
    for dimension in shape:  # Python's integers: numpy's int64 product wraps around
        elements *= dimension
    if elements > MAX_TENSOR_ELEMENTS:
        raise ValueError(f"a tensor of shape {tuple(shape)}: more than {MAX_TENSOR_ELEMENTS} elements")
    return np.dtype(DTYPES[dtype]), tuple(shape), shard, offset, size


def read_checkpoint(prefix: str | os.PathLike, *, shown: str | None = None) -> dict[str, np.ndarray]:
    """Every tensor of the checkpoint at ``prefix`` (the path before ``.index``, or a folder
    holding one ``.index``, as musicnn's do: theirs is named just ``.index``) by name.

    Raises :class:`ModelError` naming the file (or ``shown``, where the checkpoint was
    unpacked from an archive the user knows) when it is missing or not a tensor bundle.
    """
    prefix = os.fspath(prefix)
    if shown is not None:
        try:
            return read_checkpoint(prefix)
        except ModelError as exc:
            raise ModelError(str(exc).replace(prefix, shown, 1)) from exc
    if os.path.isdir(prefix):
        indexes = sorted(name for name in os.listdir(prefix) if name.endswith(".index"))
        if len(indexes) != 1:
            raise ModelError(f"{prefix}: expected one checkpoint (.index file) in the folder, found {len(indexes)}")
        prefix = os.path.join(prefix, indexes[0][: -len(".index")])
    index_path = Path(prefix + ".index")
    try:
        table = index_path.read_bytes()
    except OSError as exc:
        raise ModelError(f"{index_path}: cannot read the checkpoint index: {exc.strerror or exc}") from exc
    try:
        if len(table) < 48 or struct.unpack_from("<Q", table, len(table) - 8)[0] != TABLE_MAGIC:
            raise ValueError("no table footer")
        footer = table[-48:]
        _, position = read_varint(footer, 0)  # the metaindex block: not needed
        _, position = read_varint(footer, position)
        index_offset, position = read_varint(footer, position)
        index_size, _ = read_varint(footer, position)
        entries, reached = {}, 0
        for _, handle in _block_entries(table, index_offset, index_size):
            offset, position = read_varint(handle, 0)
            size, _ = read_varint(handle, position)
            if offset < reached:  # a table's blocks follow one another: each is parsed once
                raise ValueError(f"the data block at {offset} is named twice or overlaps the one before it")
            reached = offset + size + 5  # the block, its compression byte and checksum
            for key, value in _block_entries(table, offset, size):
                if key:  # the empty key holds the bundle's header
                    if len(entries) >= MAX_ENTRIES:
                        raise ValueError(f"more than {MAX_ENTRIES} tensors")
                    entries[key.decode()] = _entry(value)
    except (ValueError, IndexError, struct.error, StopIteration, UnicodeDecodeError) as exc:
        raise ModelError(f"{index_path}: not a TensorFlow checkpoint index ({exc})") from exc
    shards: dict[int, bytes] = {}
    tensors = {}
    for name, (dtype, shape, shard, offset, size) in sorted(entries.items()):
        if shard not in shards:
            data_path = Path(f"{prefix}.data-{shard:05d}-of-{1 + max(e[2] for e in entries.values()):05d}")
            try:
                shards[shard] = data_path.read_bytes()
            except OSError as exc:
                raise ModelError(f"{data_path}: cannot read the checkpoint data: {exc.strerror or exc}") from exc
        elements = int(np.prod(shape, dtype=object)) if shape else 1  # bounded by _entry
        expected = elements * dtype.itemsize
        if size != expected or offset + size > len(shards[shard]):
            raise ModelError(f"{prefix}: tensor {name!r} of shape {shape} takes {size} bytes at {offset}; "
                             f"expected {expected} within the data file's {len(shards[shard])}")
        tensors[name] = np.frombuffer(shards[shard], dtype=dtype.newbyteorder("<"), count=elements,
                                      offset=offset).reshape(shape).copy()
    return tensors
