"""Parquet parts of a payload (``$pq``, ``$pqpolars``): tables written to be kept, and read as
hostile bytes.

Written with every setting that shapes the bytes pinned (zstd level 3, dictionaries, statistics,
row group and page sizes, format 2.6, the Arrow schema stored), so that the same table gives the
same bytes every time and in every process: a pipeline step's output digest feeds the cache keys
downstream. The file holds no timestamp; its ``created_by`` names the pyarrow version, so a new
pyarrow may change a digest, as it may change the environment part of a key anyway.

Read like the other parts: the footer is checked before anything is decompressed (a run of one
repeated value encodes to almost nothing, so a small part can declare a huge table), then the
table is validated in full; every failure is ``InvalidInput``.
"""

from __future__ import annotations

from typing import Final

from corridor.errors import InvalidInput

# A table of up to MIN_PARQUET_LIMIT is read whatever its compression; past that, it may be at
# most MAX_PARQUET_EXPANSION times its part's bytes, and never more than MAX_PARQUET_TABLE_BYTES.
MIN_PARQUET_LIMIT: Final = 1024 * 1024 * 1024
MAX_PARQUET_EXPANSION: Final = 1024
MAX_PARQUET_TABLE_BYTES: Final = 64 * 1024 * 1024 * 1024


def write(table: object, path: str) -> bytes:
    """The Parquet bytes of an Arrow table; InvalidInput naming ``path`` when it has none."""
    import pyarrow as pa  # type: ignore[import-untyped]
    import pyarrow.parquet as pq  # type: ignore[import-untyped]

    assert isinstance(table, pa.Table)
    sink = pa.BufferOutputStream()
    try:
        pq.write_table(
            table,
            sink,
            compression="zstd",
            compression_level=3,
            use_dictionary=True,
            write_statistics=True,
            row_group_size=1024 * 1024,
            data_page_size=1024 * 1024,
            version="2.6",
            store_schema=True,
        )
    except (pa.ArrowException, TypeError) as exc:
        raise InvalidInput(f"{path}: this table cannot be written as Parquet: {exc}") from exc
    return bytes(sink.getvalue().to_pybytes())


def read(part: memoryview) -> object:
    """The Arrow table in a Parquet part (the payload's reader turns other errors into
    InvalidInput)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    reader = pq.ParquetFile(pa.BufferReader(pa.py_buffer(part)))
    declared = _table_bytes(reader)
    limit = min(MAX_PARQUET_TABLE_BYTES, max(MIN_PARQUET_LIMIT, len(part) * MAX_PARQUET_EXPANSION))
    if declared > limit:
        raise InvalidInput(
            f"the payload's Parquet part declares a table of {declared} bytes, more than "
            f"{limit} for a part of {len(part)} bytes"
        )
    table = reader.read()
    table.validate(full=True)
    if table.num_rows != reader.metadata.num_rows:
        raise InvalidInput("the payload's Parquet part holds other rows than its footer says")
    return table


def read_polars(part: memoryview) -> object:
    """A Parquet part written from a polars frame, as a polars frame."""
    import polars as pl

    frame = pl.from_arrow(read(part))
    if not isinstance(frame, pl.DataFrame):
        raise InvalidInput("the payload's polars part is not a table")
    return frame


def _table_bytes(reader: object) -> int:
    """About how many bytes the table takes once read: a fixed-width column is its rows times
    its width whatever its encoding; other columns 8 bytes a row plus their pages' size."""
    import pyarrow as pa

    metadata = reader.metadata  # type: ignore[attr-defined]
    rows = max(0, int(metadata.num_rows))
    total = 0
    for field in reader.schema_arrow:  # type: ignore[attr-defined]
        primitive = pa.types.is_primitive(field.type)
        total += rows * max(1, field.type.bit_width // 8) if primitive else rows * 8
    for i in range(metadata.num_row_groups):
        total += max(0, int(metadata.row_group(i).total_byte_size))
    return total
