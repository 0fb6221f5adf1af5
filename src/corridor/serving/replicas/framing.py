"""The frames a worker process and its parent exchange over their socket. No pickle.

One frame::

    !IQ  header length (4 bytes), body length (8 bytes), big-endian
    header  JSON: {"op": ..., "id": n, "tensors": [[name, dtype, shape, nbytes], ...], ...}
    body    each tensor's bytes, in the header's order

A numeric tensor travels as its C-contiguous bytes with NumPy's dtype string (``<f4``), and is
read back with ``np.frombuffer`` (no parsing, one copy out of the socket). A ``BYTES`` tensor
(dtype ``bytes``: an object array of bytes or str) travels as each element, in C order, as a
4-byte little-endian length and its bytes; it comes back as an object array of ``bytes``. The
header names only dtypes of plain numbers (``b i u f c``), so nothing that decodes a frame can
be steered into building objects. Frames are read into a fresh ``bytearray``, so the arrays
decoded from them are writable and own no shared memory.

Ops: ``load`` (parent -> child, the package to serve), ``ready``/``error`` (its answer);
``infer`` -> ``result``/``error``; ``ping`` -> ``pong``; ``stop``.
"""

from __future__ import annotations

import json
import math
import struct
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from corridor.errors import InvalidInput
from corridor.serving.tensors import Batch

PREFIX = struct.Struct("!IQ")
MAX_HEADER_BYTES = 16 * 1024 * 1024
MAX_BODY_BYTES = 1 << 40
BYTES_DTYPE = "bytes"
_LENGTH = struct.Struct("<I")
_NUMERIC_KINDS = frozenset("biufc")

Header = dict[str, Any]

try:  # a few microseconds a frame instead of tens
    import orjson

    _dumps: Callable[[Any], bytes] = orjson.dumps
    _loads: Callable[[bytes | bytearray], Any] = orjson.loads
except ImportError:  # pragma: no cover - orjson is a dependency, but the format does not need it

    def _dumps(value: Any) -> bytes:
        return json.dumps(value, separators=(",", ":")).encode()

    _loads = json.loads

# NumPy dtypes by their string, checked once each: only plain numbers may be decoded.
_DTYPES: dict[str, np.dtype[Any]] = {}


class FrameError(InvalidInput):
    """A frame that does not follow the format (a bug or a corrupted stream)."""


def encode(header: Header, tensors: Mapping[str, np.ndarray[Any, Any]] | None = None) -> bytes:
    """One frame: ``header`` plus ``tensors`` (described in ``header["tensors"]``)."""
    parts: list[bytes | memoryview] = []
    specs: list[list[Any]] = []
    for name, array in (tensors or {}).items():
        if array.dtype.kind in "OSU":
            data = _encode_bytes(array)
            specs.append([name, BYTES_DTYPE, list(array.shape), len(data)])
            parts.append(data)
        else:
            contiguous = np.ascontiguousarray(array)
            specs.append([name, contiguous.dtype.str, list(contiguous.shape), contiguous.nbytes])
            parts.append(contiguous.reshape(-1).view(np.uint8).data)
    if tensors is not None:
        header = {**header, "tensors": specs}
    head = _dumps(header)
    body_length = sum(len(p) for p in parts)
    return b"".join([PREFIX.pack(len(head), body_length), head, *parts])


def lengths(prefix: bytes | bytearray) -> tuple[int, int]:
    """The header and body lengths a frame's prefix announces."""
    head, body = PREFIX.unpack(prefix)
    if head > MAX_HEADER_BYTES or body > MAX_BODY_BYTES:
        raise FrameError(f"a frame announces {head} header and {body} body bytes: too many")
    return int(head), int(body)


def parse_header(data: bytes | bytearray) -> Header:
    try:
        header = _loads(data)
    except ValueError as exc:
        raise FrameError(f"a frame's header is not JSON: {exc}") from None
    if not isinstance(header, dict):
        raise FrameError("a frame's header is not a JSON object")
    return header


def decode_tensors(header: Header, body: bytearray | memoryview) -> Batch:
    """The tensors ``header`` describes, read from ``body`` (arrays share its memory)."""
    out: Batch = {}
    view = memoryview(body)
    offset = 0
    for name, dtype_name, shape, nbytes in header.get("tensors") or ():
        dims = tuple(int(d) for d in shape)
        chunk = view[offset : offset + int(nbytes)]
        if len(chunk) != nbytes:
            raise FrameError(f"tensor {name!r} runs past the end of its frame")
        offset += int(nbytes)
        if dtype_name == BYTES_DTYPE:
            out[str(name)] = _decode_bytes(chunk, dims)
            continue
        dtype = _DTYPES.get(str(dtype_name)) or _numeric_dtype(name, dtype_name)
        count = math.prod(dims)
        if count * dtype.itemsize != nbytes:
            raise FrameError(f"tensor {name!r}: {nbytes} bytes do not make shape {list(dims)}")
        out[str(name)] = np.frombuffer(chunk, dtype=dtype, count=count).reshape(dims)
    return out


def _numeric_dtype(name: str, dtype_name: Any) -> np.dtype[Any]:
    try:
        dtype = np.dtype(str(dtype_name))
    except TypeError:
        dtype = np.dtype(np.object_)
    if dtype.kind not in _NUMERIC_KINDS or dtype.fields is not None:
        raise FrameError(f"tensor {name!r} has dtype {dtype_name!r}, not a plain number")
    if len(_DTYPES) < 64:
        _DTYPES[str(dtype_name)] = dtype
    return dtype


def _encode_bytes(array: np.ndarray[Any, Any]) -> bytes:
    parts: list[bytes] = []
    for item in array.reshape(-1):
        data = item.encode() if isinstance(item, str) else bytes(item)
        parts.append(_LENGTH.pack(len(data)))
        parts.append(data)
    return b"".join(parts)


def _decode_bytes(chunk: memoryview, dims: tuple[int, ...]) -> np.ndarray[Any, Any]:
    count = math.prod(dims)
    items: list[bytes] = []
    offset = 0
    for _ in range(count):
        if offset + 4 > len(chunk):
            raise FrameError("a BYTES tensor runs past the end of its frame")
        (length,) = _LENGTH.unpack_from(chunk, offset)
        offset += 4
        items.append(bytes(chunk[offset : offset + length]))
        offset += length
    if offset != len(chunk):
        raise FrameError("a BYTES tensor's lengths disagree with its size")
    array = np.empty(count, dtype=object)
    array[:] = items
    return array.reshape(dims)
