"""A generated CSV of any size, for the memory test and the ingest memory benchmark.

Four columns (int64, float64 and two text columns), written a million rows at a time, so that
making a 5 GB file costs no more memory than making a small one.
"""

from __future__ import annotations

from pathlib import Path

import polars as pl

CHUNK_ROWS = 1_000_000
DTYPES = ["int64", "float64", "string", "string"]  # as a version records them


def write_csv(path: Path, target_bytes: int) -> int:
    """Write a CSV of at least ``target_bytes`` (whole chunks) to ``path``; return its rows."""
    base = pl.DataFrame(
        {
            "id": pl.int_range(0, CHUNK_ROWS, eager=True),
            "amount": (pl.int_range(0, CHUNK_ROWS, eager=True) % 9973) / 7.0,
            "city": pl.Series(["Paris", "Oslo", "Rome", "Lima", "Kyiv"] * (CHUNK_ROWS // 5)),
            "note": pl.Series([f"order-{i % 100_003:06d}" for i in range(CHUNK_ROWS)]),
        }
    )
    rows = 0
    with path.open("wb") as f:
        base.write_csv(f)
        rows += CHUNK_ROWS
        while f.tell() < target_bytes:
            base.with_columns(pl.col("id") + rows).write_csv(f, include_header=False)
            rows += CHUNK_ROWS
    return rows
