"""The binary tensor data extension of the Open Inference Protocol: raw tensor bytes. No I/O.

A binary request is a JSON header (its length in the ``Inference-Header-Content-Length`` HTTP
header) followed by each binary input's bytes, in input order, with no padding. Numeric tensors
are little-endian, row-major; ``BOOL`` is one byte per element (0 or 1); ``BYTES`` elements are
each a 4-byte little-endian unsigned length followed by that many bytes.

Invariant: nothing here trusts a length it was sent. Every slice is checked against what is
actually left of the body before it is taken, so a hostile size yields `InvalidInput`, never a
short read, an over-read or an allocation sized by the client.

Cost: numeric tensors are views made with `np.frombuffer` (no per-element Python work). A view
of an immutable `bytes` body is read-only, and models (torch among them) want writable arrays,
so such a view is copied once (a memcpy); a `bytearray` body is used in place.
"""

from __future__ import annotations

import struct
from typing import Any

import numpy as np
import numpy.typing as npt

from corridor.errors import InvalidInput
from corridor.serving.tensors import DATATYPES

Buffer = bytes | bytearray | memoryview

# The wire's dtypes: little-endian whatever this machine's byte order is.
WIRE_DTYPES: dict[str, np.dtype[Any]] = {
    name: dtype.newbyteorder("<") for name, dtype in DATATYPES.items() if name != "BYTES"
}
_LENGTH = struct.Struct("<I")


def decode_tensor(
    body: Buffer, offset: int, size: int, *, name: str, datatype: str, count: int
) -> npt.NDArray[Any]:
    """The flat array of ``count`` elements held in ``body[offset:offset + size]``.

    The caller has checked that the slice lies inside ``body``; this checks that ``size`` is
    exactly what ``count`` elements of ``datatype`` take.
    """
    if datatype == "BYTES":
        return decode_bytes_elements(memoryview(body)[offset : offset + size], count, name=name)
    dtype = WIRE_DTYPES[datatype]
    expected = count * dtype.itemsize
    if size != expected:
        raise InvalidInput(
            f"input {name!r}: binary_data_size is {size} bytes but {count} {datatype} elements "
            f"take {expected} bytes; send binary_data_size = element count x {dtype.itemsize}"
        )
    array: npt.NDArray[Any] = np.frombuffer(body, dtype=dtype, count=count, offset=offset)
    if datatype == "BOOL" and count and int(array.view(np.uint8).max()) > 1:
        raise InvalidInput(f"input {name!r}: BOOL elements must be the bytes 0 or 1")
    if not array.flags.writeable:
        array = array.copy()
    return array


def decode_bytes_elements(data: memoryview, count: int, *, name: str) -> npt.NDArray[Any]:
    """``count`` length-prefixed elements filling ``data`` exactly, as an object array."""
    out: npt.NDArray[Any] = np.empty(count, dtype=object)
    end = len(data)
    pos = 0
    for i in range(count):
        if end - pos < 4:
            raise InvalidInput(
                f"input {name!r}: its binary data ends inside element {i} of {count} "
                "(each BYTES element is a 4-byte little-endian length, then the bytes)"
            )
        (length,) = _LENGTH.unpack_from(data, pos)
        pos += 4
        if length > end - pos:
            raise InvalidInput(
                f"input {name!r}: element {i} declares {length} bytes but only {end - pos} "
                "remain in its binary data"
            )
        out[i] = bytes(data[pos : pos + length])
        pos += length
    if pos != end:
        raise InvalidInput(
            f"input {name!r}: {end - pos} bytes are left over after its {count} BYTES "
            "elements; binary_data_size must cover exactly the elements of its shape"
        )
    return out


def encode_tensor(array: npt.NDArray[Any], datatype: str) -> bytes | memoryview:
    """The wire bytes of ``array`` (row-major; BYTES length-prefixed)."""
    if datatype == "BYTES":
        return encode_bytes_elements(array)
    if array.size == 0:
        return b""
    wire = np.ascontiguousarray(array, dtype=WIRE_DTYPES[datatype])
    return wire.data.cast("B")


def encode_bytes_elements(array: npt.NDArray[Any]) -> bytes:
    """Each element of ``array`` (bytes, or str as UTF-8) as a 4-byte length and its bytes."""
    parts: list[bytes] = []
    pack = _LENGTH.pack
    for item in array.ravel().tolist():
        raw = item if isinstance(item, bytes) else str(item).encode()
        parts.append(pack(len(raw)))
        parts.append(raw)
    return b"".join(parts)
