"""How large an input is once decoded, known before decoding it.

The ingest limit counts bytes received and bytes decompressed, but Parquet and Arrow IPC carry
their own compression: run-length and dictionary encoding, and zstd or lz4 pages and buffers.
A Parquet file of a few hundred kilobytes can hold sixty million rows, which every later step
(profile, validate, clean) would hold in memory. So the decoded size, estimated as rows times
row width (the in-memory width of each column's type), is checked against
``CORRIDOR_MAX_DECODED_BYTES``: from the Parquet footer and the IPC message headers before a
single value is decoded, and for every input (CSV and JSON lines too, whose rows are counted as
the streaming engine writes them) on the converted Parquet before anything is stored.

The IPC headers are read without pyarrow decoding the batches: each message's metadata is a
flatbuffer, and the one field needed (a record batch's row count) is read from it directly.
"""

from __future__ import annotations

import struct
from collections.abc import Mapping
from pathlib import Path

import polars as pl
from polars.datatypes import DataTypeClass

from corridor.errors import InvalidInput, PayloadTooLarge

PolarsDataType = pl.DataType | DataTypeClass

STRING_WIDTH = 16  # Polars holds each string or binary value as a 16-byte view, plus its bytes
_WIDTHS: dict[type[pl.DataType], int] = {
    pl.Boolean: 1,
    pl.Int8: 1,
    pl.UInt8: 1,
    pl.Int16: 2,
    pl.UInt16: 2,
    pl.Int32: 4,
    pl.UInt32: 4,
    pl.Float32: 4,
    pl.Date: 4,
    pl.Categorical: 4,
    pl.Enum: 4,
    pl.Int64: 8,
    pl.UInt64: 8,
    pl.Float64: 8,
    pl.Datetime: 8,
    pl.Duration: 8,
    pl.Time: 8,
    pl.Int128: 16,
    pl.Decimal: 16,
    pl.String: STRING_WIDTH,
    pl.Binary: STRING_WIDTH,
    pl.Null: 0,
}
OTHER_WIDTH = 8
"""Width counted for a type not in the table (an object pointer's)."""


def dtype_width(dtype: PolarsDataType) -> int:
    """Bytes one value of ``dtype`` takes in memory, at least (nested types: their parts)."""
    value: pl.DataType = dtype() if isinstance(dtype, DataTypeClass) else dtype
    if isinstance(value, pl.Struct):
        return sum((dtype_width(field.dtype) for field in value.fields), 0)
    if isinstance(value, pl.Array):
        return value.size * dtype_width(value.inner)
    if isinstance(value, pl.List):
        return 8 + dtype_width(value.inner)  # an offset, and (at least) one value per row
    return _WIDTHS.get(type(value), OTHER_WIDTH)


def row_width(schema: Mapping[str, pl.DataType]) -> int:
    return sum((dtype_width(dtype) for dtype in schema.values()), 0)


def check(
    name: str, rows: int, schema: Mapping[str, pl.DataType], limit: int, *, known: int = 0
) -> None:
    """Refuse (413) an input whose decoded size (the larger of rows times row width and
    ``known``) passes ``limit``."""
    size = max(rows * row_width(schema), known)
    if size > limit:
        raise PayloadTooLarge(
            f"{name} decodes to about {size} bytes ({rows} rows of {len(schema)} columns), more "
            f"than the decoded-size limit of {limit} bytes (CORRIDOR_MAX_DECODED_BYTES); "
            "split it, or raise the limit"
        )


def check_parquet(name: str, path: Path, limit: int) -> None:
    """Check a Parquet file's decoded size from its footer (row count, uncompressed sizes)."""
    import pyarrow.parquet as pq  # type: ignore[import-untyped]  # pyarrow ships no type hints

    metadata = pq.read_metadata(path)
    uncompressed = sum(
        metadata.row_group(i).total_byte_size for i in range(metadata.num_row_groups)
    )
    check(name, metadata.num_rows, pl.read_parquet_schema(path), limit, known=uncompressed)


def check_ipc(
    name: str, path: Path, schema: Mapping[str, pl.DataType], *, file: bool, limit: int
) -> None:
    """Check an Arrow IPC file or stream's decoded size from its message headers alone."""
    check(name, ipc_rows(path, file=file), schema, limit)


_RECORD_BATCH = 3  # MessageHeader.RecordBatch


def ipc_rows(path: Path, *, file: bool) -> int:
    """The rows of every record batch of an IPC file or stream, read from the headers only.

    A file's footer lists its batches, and Polars counts their rows from their headers; a
    stream is walked message by message, each batch's row count read from its header.
    """
    import pyarrow as pa

    if file:
        return int(pl.scan_ipc(path).select(pl.len()).collect().item())
    rows = 0
    with pa.OSFile(str(path), "rb") as source:
        for message in pa.ipc.MessageReader.open_stream(source):
            if message.type == "record batch":
                rows += _batch_length(message.metadata.to_pybytes())
    return rows


def _batch_length(buf: bytes) -> int:
    """``Message.header.length`` of a RecordBatch message's flatbuffer (Arrow's Message.fbs)."""
    try:
        message = _u32(buf, 0)
        header_type = _field(buf, message, 1)
        header = _field(buf, message, 2)
        if header_type is None or header is None or buf[header_type] != _RECORD_BATCH:
            raise InvalidInput("an Arrow IPC record batch message has no record batch header")
        batch = header + _u32(buf, header)
        length = _field(buf, batch, 0)
        rows = 0 if length is None else _read("<q", buf, length)
    except (struct.error, IndexError):
        raise InvalidInput("an Arrow IPC message header is corrupt") from None
    if rows < 0:
        raise InvalidInput("an Arrow IPC record batch has a negative row count")
    return rows


def _read(fmt: str, buf: bytes, at: int) -> int:
    if at < 0:  # unpack_from would count a negative offset from the end
        raise struct.error("offset out of range")
    return int(struct.unpack_from(fmt, buf, at)[0])


def _u32(buf: bytes, at: int) -> int:
    return _read("<I", buf, at)


def _field(buf: bytes, table: int, index: int) -> int | None:
    """Where field ``index`` of the flatbuffer table at ``table`` is, None if absent."""
    vtable = table - _read("<i", buf, table)
    vtable_size = _read("<H", buf, vtable)
    slot = 4 + 2 * index
    if slot + 2 > vtable_size:
        return None
    offset = _read("<H", buf, vtable + slot)
    return table + offset if offset else None
