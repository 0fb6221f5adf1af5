"""Function arguments and results as bytes that a server may hold and a worker may read safely.

A job's input and result cross machines and are stored as blobs, so they must never be pickles:
unpickling runs code chosen by whoever wrote the bytes. The payload is a small versioned envelope::

    b"\\x93CRDP" | version (1 byte) | header length (4 bytes, big-endian) | JSON header | parts

The header is ``{"value": TREE, "parts": [len, ...]}``: the value as JSON, in which the leaves JSON
cannot hold are one-key objects whose key starts with ``$`` (``{"$np": 0}`` is part 0, an ``.npy``
file; ``{"$t": [...]}`` a tuple; ``{"$f": "nan"}`` a float JSON has no literal for; a user's own
one-key dict with a ``$`` key is escaped as ``{"$d": {...}}``). The parts follow in order, each a
file in a format that cannot carry code: ``.npy`` written and read with ``allow_pickle=False``,
the Arrow IPC stream format or Parquet, safetensors, raw bytes.

Tables go as Arrow IPC by default (a job's arguments: fast to write and to map). ``encode(value,
tables="parquet")`` writes them as Parquet instead (``$pq``, ``$pqpolars`` for a polars frame),
for values that are kept: pipeline step outputs; the same table gives the same bytes and the
same digest every time (``parquet_parts``).
``convert`` lets a caller turn leaves the codec does not know into ones it does, in the same walk
(a pandas frame into an Arrow table), or refuse them with its own words.

Decoding treats the bytes as hostile: every length is checked against what is left, nesting is
bounded, unknown tags and malformed parts raise ``InvalidInput``, never another exception.
numpy, pyarrow, polars and torch are imported only when a value holds one of their leaves, so the
worker and the codec stay light for JSON-only jobs.
"""

from __future__ import annotations

import importlib
import io
import json
import math
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Final, Literal

from corridor.compute.sansio import parquet_parts
from corridor.errors import InvalidInput

if TYPE_CHECKING:
    import numpy as np

MAGIC: Final = b"\x93CRDP"
VERSION: Final = 1
_PREFIX_BYTES: Final = len(MAGIC) + 1 + 4
# Nesting of the value itself; deeper is a cycle or a mistake, and bounds the decoder's recursion.
MAX_DEPTH: Final = 100
# The JSON header holds the plain values; bulk numbers belong in arrays or tables (parts).
MAX_HEADER_BYTES: Final = 64 * 1024 * 1024
MAX_PARTS: Final = 1_000_000
MAX_INT_BITS: Final = 13_000
CONTENT_TYPE: Final = "application/vnd.corridor.payload"

_SAFE_KINDS = "send JSON values, Arrow tables, numpy arrays or tensors"

Tables = Literal["arrow", "parquet"]
Convert = Callable[[object, str], object]
"""``convert(value, path)``: an unknown leaf as one the codec knows, or InvalidInput."""


@dataclass(frozen=True, slots=True)
class _Options:
    tables: Tables = "arrow"
    convert: Convert | None = None


_DEFAULT_OPTIONS: Final = _Options()
_SPECIAL_FLOATS: Final = {"nan": math.nan, "inf": math.inf, "-inf": -math.inf}


@dataclass(frozen=True, slots=True)
class DatasetInput:
    """A dataset version a job reads, e.g. ``DatasetInput("sales@3")``; the worker resolves it."""

    ref: str

    def __post_init__(self) -> None:
        if not isinstance(self.ref, str) or not self.ref.strip():
            raise InvalidInput("a DatasetInput needs a dataset reference such as 'sales@3'")


@dataclass(frozen=True, slots=True)
class Call:
    """A function job's input: the positional and keyword arguments of one call."""

    args: tuple[object, ...]
    kwargs: dict[str, object]


@dataclass(frozen=True, slots=True)
class MapChunk:
    """A map job's input: the items of one chunk, each passed alone to the function.

    ``first_index`` is the position of ``items[0]`` in the whole map, so an error names the item.
    """

    items: list[object]
    first_index: int


@dataclass(frozen=True, slots=True)
class ItemError:
    """Why one item of a map chunk failed on the worker."""

    type: str
    message: str
    traceback: str


ItemOutcome = tuple[bool, object]
"""``(True, result)`` or ``(False, ItemError)`` for one item of a map chunk."""


# ---------------------------------------------------------------------------------------------
# encoding


def encode(
    value: object,
    *,
    path: str = "value",
    tables: Tables = "arrow",
    convert: Convert | None = None,
) -> bytes:
    """The payload bytes of ``value``; InvalidInput names the path of a leaf it cannot send.

    ``tables="parquet"`` writes Arrow tables and polars frames as Parquet; ``convert`` is asked
    about each leaf the codec does not know, before it is refused.
    """
    if tables not in ("arrow", "parquet"):
        raise InvalidInput(f"tables must be 'arrow' or 'parquet', not {tables!r}")
    parts: list[bytes] = []
    options = _Options(tables, convert)
    tree = _encode(value, path, 0, parts, options)
    return _envelope(tree, parts)


def encode_call(args: Sequence[object], kwargs: Mapping[str, object]) -> bytes:
    """The input of a function job; errors name ``args[1]['model']`` or ``kwargs['x']``."""
    parts: list[bytes] = []
    tree = {
        "call": {
            "args": [_encode(a, f"args[{i}]", 1, parts) for i, a in enumerate(args)],
            "kwargs": {
                _key(k, "kwargs"): _encode(v, f"kwargs[{k!r}]", 1, parts) for k, v in kwargs.items()
            },
        }
    }
    return _envelope(tree, parts)


def encode_map_chunk(items: Sequence[object], first_index: int) -> bytes:
    """The input of one map job: ``items`` are ``items[first_index:...]`` of the whole map."""
    parts: list[bytes] = []
    encoded = [_encode(item, f"items[{first_index + i}]", 1, parts) for i, item in enumerate(items)]
    return _envelope({"map": {"items": encoded, "first_index": first_index}}, parts)


def encode_map_results(outcomes: Sequence[ItemOutcome], first_index: int = 0) -> bytes:
    """The result of one map job: per item, its value or its error.

    A result that cannot be sent becomes that item's error rather than failing the whole chunk.
    """
    parts: list[bytes] = []
    encoded: list[object] = []
    for i, (ok, value) in enumerate(outcomes):
        if ok:
            mark = len(parts)
            try:
                encoded.append(
                    {"ok": _encode(value, f"result of items[{first_index + i}]", 1, parts)}
                )
                continue
            except InvalidInput as exc:
                del parts[mark:]
                value = ItemError("InvalidInput", exc.message, "")
        if not isinstance(value, ItemError):
            raise InvalidInput("a failed map item's outcome must be an ItemError")
        encoded.append(
            {"error": {"type": value.type, "message": value.message, "traceback": value.traceback}}
        )
    return _envelope({"outcomes": encoded}, parts)


def _envelope(tree: object, parts: list[bytes]) -> bytes:
    header = json.dumps(
        {"value": tree, "parts": [len(p) for p in parts]}, allow_nan=False, separators=(",", ":")
    ).encode()
    if len(header) > MAX_HEADER_BYTES:
        raise InvalidInput(
            f"the plain values take {len(header)} bytes as JSON, more than {MAX_HEADER_BYTES}; "
            "send bulk numbers as numpy arrays or Arrow tables"
        )
    return b"".join([MAGIC, bytes([VERSION]), len(header).to_bytes(4, "big"), header, *parts])


def _key(key: object, path: str) -> str:
    if not isinstance(key, str):
        raise InvalidInput(
            f"{path}: dictionary keys must be strings; {key!r} is a {_type_name(key)}"
        )
    return key


def _encode(
    value: object,
    path: str,
    depth: int,
    parts: list[bytes],
    options: _Options = _DEFAULT_OPTIONS,
) -> object:
    if depth > MAX_DEPTH:
        raise InvalidInput(f"{path}: nested deeper than {MAX_DEPTH} levels (or refers to itself)")
    if value is None or isinstance(value, bool | str):
        return value
    if isinstance(value, int):
        # JSON readers refuse integers past 4300 digits (Python's own limit); stay well below.
        if value.bit_length() > MAX_INT_BITS:
            raise InvalidInput(
                f"{path}: an integer of {value.bit_length()} bits cannot be sent "
                f"(at most {MAX_INT_BITS}); send it as a string"
            )
        return int(value)
    if isinstance(value, float):
        if math.isfinite(value):
            return float(value)
        return {"$f": "nan" if math.isnan(value) else ("inf" if value > 0 else "-inf")}
    if isinstance(value, list | tuple):
        items = [_encode(v, f"{path}[{i}]", depth + 1, parts, options) for i, v in enumerate(value)]
        return {"$t": items} if isinstance(value, tuple) else items
    if isinstance(value, dict):
        out = {
            _key(k, path): _encode(v, f"{path}[{k!r}]", depth + 1, parts, options)
            for k, v in value.items()
        }
        if len(out) == 1 and next(iter(out)).startswith("$"):
            return {"$d": out}
        return out
    if isinstance(value, bytes | bytearray | memoryview):
        return _part("$b", bytes(value), parts)
    if isinstance(value, DatasetInput):
        return {"$ds": value.ref}
    leaf = _encode_library_leaf(value, path, depth, parts, options)
    if leaf is not None:
        return leaf
    if options.convert is not None:
        converted = options.convert(value, path)
        # Converted once: what convert returns must be a value the codec knows.
        return _encode(converted, path, depth, parts, replace(options, convert=None))
    name = _type_name(value)
    raise InvalidInput(f"{path}: a value of type {name} cannot be sent safely; {_SAFE_KINDS}")


def _part(tag: str, data: bytes, parts: list[bytes]) -> dict[str, int]:
    parts.append(data)
    return {tag: len(parts) - 1}


def _encode_library_leaf(
    value: object, path: str, depth: int, parts: list[bytes], options: _Options
) -> object | None:
    """numpy, Arrow, polars and torch leaves; a library not yet imported cannot own ``value``."""
    if "numpy" in sys.modules:
        import numpy as np

        if isinstance(value, np.ndarray):
            return _part("$np", _npy_bytes(value, path), parts)
        if isinstance(value, np.generic):
            if value.dtype.hasobject:
                raise InvalidInput(f"{path}: a numpy object scalar cannot be sent safely")
            return _encode(value.item(), path, depth, parts, options)
    if "pyarrow" in sys.modules:
        import pyarrow as pa  # type: ignore[import-untyped]

        if isinstance(value, pa.RecordBatch):
            value = pa.Table.from_batches([value])
        if isinstance(value, pa.Table):
            if options.tables == "parquet":
                return _part("$pq", parquet_parts.write(value, path), parts)
            return _part("$arrow", _arrow_bytes(value, path), parts)
    if "polars" in sys.modules:
        import polars as pl

        if isinstance(value, pl.DataFrame):
            try:
                table = value.to_arrow()
            except Exception as exc:
                raise InvalidInput(
                    f"{path}: this polars DataFrame has no Arrow form: {exc}"
                ) from exc
            if options.tables == "parquet":
                return _part("$pqpolars", parquet_parts.write(table, path), parts)
            return _part("$polars", _arrow_bytes(table, path), parts)
    torch = sys.modules.get("torch")
    if torch is not None and isinstance(value, torch.Tensor):
        return _part("$torch", _tensor_bytes(value, path), parts)
    return None


def _npy_bytes(array: np.ndarray, path: str) -> bytes:
    import numpy as np

    if array.dtype.hasobject:
        raise InvalidInput(
            f"{path}: a numpy array of Python objects cannot be sent safely; "
            "convert it to a numeric or string dtype"
        )
    buffer = io.BytesIO()
    np.save(buffer, array, allow_pickle=False)
    return buffer.getvalue()


def _arrow_bytes(table: object, path: str) -> bytes:
    import pyarrow as pa

    assert isinstance(table, pa.Table)
    sink = pa.BufferOutputStream()
    try:
        with pa.ipc.new_stream(sink, table.schema) as writer:
            writer.write_table(table)
    except (pa.ArrowException, TypeError) as exc:
        raise InvalidInput(f"{path}: this table cannot be written as Arrow IPC: {exc}") from exc
    return bytes(sink.getvalue().to_pybytes())


def _tensor_bytes(tensor: object, path: str) -> bytes:
    # Imported by name: torch and safetensors are optional, and typed only where installed.
    try:
        safetensors_torch = importlib.import_module("safetensors.torch")
    except ImportError as exc:
        raise InvalidInput(f"{path}: sending a torch tensor needs the safetensors package") from exc
    plain = tensor.detach().cpu().contiguous()  # type: ignore[attr-defined]
    data = safetensors_torch.save({"tensor": plain})
    return bytes(data)


def _type_name(value: object) -> str:
    cls = type(value)
    top = cls.__module__.split(".")[0]
    return cls.__qualname__ if top == "builtins" else f"{top}.{cls.__qualname__}"


# ---------------------------------------------------------------------------------------------
# decoding


def decode(data: bytes) -> object:
    """The value in ``data`` (bytes from ``encode``); InvalidInput for anything malformed."""
    tree, parts = _open(data)
    return _decode(tree, parts, 0)


def decode_input(data: bytes) -> Call | MapChunk:
    """A function job's input: one call (``encode_call``) or one chunk (``encode_map_chunk``)."""
    tree, parts = _open(data)
    if isinstance(tree, dict) and set(tree) == {"call"} and isinstance(tree["call"], dict):
        call = tree["call"]
        args, kwargs = call.get("args"), call.get("kwargs")
        if set(call) == {"args", "kwargs"} and isinstance(args, list) and isinstance(kwargs, dict):
            return Call(
                tuple(_decode(a, parts, 1) for a in args),
                {k: _decode(v, parts, 1) for k, v in kwargs.items()},
            )
    if isinstance(tree, dict) and set(tree) == {"map"} and isinstance(tree["map"], dict):
        chunk = tree["map"]
        items, first = chunk.get("items"), chunk.get("first_index")
        if isinstance(items, list) and isinstance(first, int) and not isinstance(first, bool):
            return MapChunk([_decode(i, parts, 1) for i in items], first)
    raise InvalidInput("the payload is not a function job's input (a call or a map chunk)")


def decode_map_results(data: bytes) -> list[ItemOutcome]:
    """Per item of a map chunk, ``(True, value)`` or ``(False, ItemError)``."""
    tree, parts = _open(data)
    if not (
        isinstance(tree, dict) and set(tree) == {"outcomes"} and isinstance(tree["outcomes"], list)
    ):
        raise InvalidInput("the payload is not a map chunk's results")
    outcomes: list[ItemOutcome] = []
    for entry in tree["outcomes"]:
        if isinstance(entry, dict) and set(entry) == {"ok"}:
            outcomes.append((True, _decode(entry["ok"], parts, 1)))
            continue
        error = entry.get("error") if isinstance(entry, dict) and set(entry) == {"error"} else None
        if not isinstance(error, dict) or not all(
            isinstance(error.get(k), str) for k in ("type", "message", "traceback")
        ):
            raise InvalidInput("a map chunk's result holds a malformed item outcome")
        outcomes.append((False, ItemError(error["type"], error["message"], error["traceback"])))
    return outcomes


def _open(data: bytes) -> tuple[object, list[memoryview]]:
    """The header's value tree and the parts, with every length checked against the bytes."""
    if not isinstance(data, bytes | bytearray | memoryview):
        raise InvalidInput("a payload must be bytes")
    view = memoryview(data).cast("B")
    if len(view) < _PREFIX_BYTES or bytes(view[: len(MAGIC)]) != MAGIC:
        raise InvalidInput("these bytes are not a Corridor payload (bad magic or truncated)")
    version = view[len(MAGIC)]
    if version != VERSION:
        raise InvalidInput(
            f"payload version {version} is not readable here (this Corridor reads {VERSION})"
        )
    header_len = int.from_bytes(view[len(MAGIC) + 1 : _PREFIX_BYTES], "big")
    if header_len > MAX_HEADER_BYTES or _PREFIX_BYTES + header_len > len(view):
        raise InvalidInput(
            f"the payload's header claims {header_len} bytes, more than it holds or than "
            f"{MAX_HEADER_BYTES}"
        )
    try:
        header = json.loads(
            bytes(view[_PREFIX_BYTES : _PREFIX_BYTES + header_len]), parse_constant=_no_constant
        )
    except RecursionError as exc:
        raise InvalidInput("the payload's header is nested too deeply") from exc
    except (ValueError, UnicodeDecodeError) as exc:
        raise InvalidInput(f"the payload's header is not valid JSON: {exc}") from exc
    if not isinstance(header, dict) or set(header) != {"value", "parts"}:
        raise InvalidInput("the payload's header lacks its value and parts")
    lengths = header["parts"]
    if not isinstance(lengths, list) or len(lengths) > MAX_PARTS:
        raise InvalidInput("the payload's part table is malformed")
    parts: list[memoryview] = []
    offset = _PREFIX_BYTES + header_len
    for length in lengths:
        if not isinstance(length, int) or isinstance(length, bool) or length < 0:
            raise InvalidInput("the payload's part table holds a length that is not a count")
        if offset + length > len(view):
            raise InvalidInput("the payload is truncated: a part runs past its end")
        parts.append(view[offset : offset + length])
        offset += length
    if offset != len(view):
        raise InvalidInput(f"the payload has {len(view) - offset} bytes after its last part")
    return header["value"], parts


def _no_constant(name: str) -> object:
    raise ValueError(f"{name} is not allowed in a payload header")


def _decode(tree: object, parts: list[memoryview], depth: int) -> object:
    # Tags add one level per leaf, hence the margin over the encoder's limit.
    if depth > 2 * MAX_DEPTH + 2:
        raise InvalidInput("the payload's value is nested too deeply")
    if tree is None or isinstance(tree, bool | int | float | str):
        return tree
    if isinstance(tree, list):
        return [_decode(v, parts, depth + 1) for v in tree]
    if not isinstance(tree, dict):
        raise InvalidInput("the payload's value holds an unknown kind of JSON value")
    if len(tree) == 1:
        ((key, inner),) = tree.items()
        if key.startswith("$"):
            return _decode_tag(key, inner, parts, depth)
    return {k: _decode(v, parts, depth + 1) for k, v in tree.items()}


def _decode_tag(tag: str, inner: object, parts: list[memoryview], depth: int) -> object:
    if tag == "$t" and isinstance(inner, list):
        return tuple(_decode(v, parts, depth + 1) for v in inner)
    if tag == "$d" and isinstance(inner, dict):
        return {k: _decode(v, parts, depth + 1) for k, v in inner.items()}
    if tag == "$f" and isinstance(inner, str) and inner in _SPECIAL_FLOATS:
        return _SPECIAL_FLOATS[inner]
    if tag == "$ds" and isinstance(inner, str):
        return DatasetInput(inner)
    reader = _PART_READERS.get(tag)
    if reader is None:
        raise InvalidInput(f"the payload holds an unknown tag {tag[:40]!r}")
    if not isinstance(inner, int) or isinstance(inner, bool) or not 0 <= inner < len(parts):
        raise InvalidInput(f"the payload's {tag} leaf names a part it does not have")
    try:
        return reader(parts[inner])
    except InvalidInput:
        raise
    except (
        Exception
    ) as exc:  # the libraries raise many kinds on hostile bytes; all mean "malformed"
        kind = _PART_KINDS.get(tag, tag[1:])
        raise InvalidInput(f"the payload's {kind} part is malformed: {exc}") from exc


def _read_bytes(part: memoryview) -> object:
    return bytes(part)


def _read_npy(part: memoryview) -> object:
    import numpy as np

    # Check the header against the bytes first: np.load would allocate the array the header
    # claims before finding the data short.
    buffer = io.BytesIO(part)
    version = np.lib.format.read_magic(buffer)
    if version == (1, 0):
        shape, _, dtype = np.lib.format.read_array_header_1_0(buffer)
    elif version == (2, 0):
        shape, _, dtype = np.lib.format.read_array_header_2_0(buffer)
    else:
        raise InvalidInput(f"the payload's npy part has format version {version}, not 1.0 or 2.0")
    if dtype.hasobject:
        raise InvalidInput("the payload's npy part holds Python objects, which are never loaded")
    if math.prod(shape) * dtype.itemsize != len(part) - buffer.tell():
        raise InvalidInput("the payload's npy part holds fewer or more bytes than its header says")
    array = np.load(io.BytesIO(part), allow_pickle=False)
    if not isinstance(array, np.ndarray):
        raise InvalidInput("the payload's npy part is not one array")
    return array


def _read_arrow(part: memoryview) -> object:
    import pyarrow as pa

    with pa.ipc.open_stream(pa.py_buffer(part)) as reader:
        table = reader.read_all()
    # Full validation checks offsets and lengths against the buffers, so that reading the
    # table later cannot run past them.
    table.validate(full=True)
    return table


def _read_polars(part: memoryview) -> object:
    import polars as pl

    frame = pl.from_arrow(_read_arrow(part))
    if not isinstance(frame, pl.DataFrame):
        raise InvalidInput("the payload's polars part is not a table")
    return frame


def _read_tensor(part: memoryview) -> object:
    try:
        safetensors_torch = importlib.import_module("safetensors.torch")
    except ImportError as exc:
        raise InvalidInput(
            "the payload holds a torch tensor; reading it needs torch and safetensors installed"
        ) from exc
    tensors = safetensors_torch.load(bytes(part))
    if set(tensors) != {"tensor"}:
        raise InvalidInput("the payload's tensor part holds other than one tensor")
    return tensors["tensor"]


_PART_KINDS: Final = {
    "$np": "npy",
    "$torch": "safetensors",
    "$pq": "Parquet",
    "$pqpolars": "Parquet",
}
_PART_READERS: Final[dict[str, Callable[[memoryview], object]]] = {
    "$b": _read_bytes,
    "$np": _read_npy,
    "$arrow": _read_arrow,
    "$polars": _read_polars,
    "$pq": parquet_parts.read,
    "$pqpolars": parquet_parts.read_polars,
    "$torch": _read_tensor,
}
