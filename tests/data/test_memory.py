"""A large CSV ingests in bounded memory (measured in a child process, like the blob store's)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import polars as pl
import pytest

from tests.peak_rss import REPO_ROOT

TARGET_BYTES = 1_000_000_000
LIMIT_MIB = 700


def write_csv(path: Path, target_bytes: int) -> int:
    """A CSV of about ``target_bytes`` written in 1M-row chunks; return its row count."""
    chunk_rows = 1_000_000
    base = pl.DataFrame(
        {
            "id": pl.int_range(0, chunk_rows, eager=True),
            "amount": (pl.int_range(0, chunk_rows, eager=True) % 9973) / 7.0,
            "city": pl.Series(["Paris", "Oslo", "Rome", "Lima", "Kyiv"] * (chunk_rows // 5)),
            "note": pl.Series([f"order-{i % 100_003:06d}" for i in range(chunk_rows)]),
        }
    )
    rows = 0
    with path.open("wb") as f:
        base.write_csv(f)
        rows += chunk_rows
        while f.tell() < target_bytes:
            base.with_columns(pl.col("id") + rows).write_csv(f, include_header=False)
            rows += chunk_rows
    return rows


@pytest.mark.slow
def test_a_1gb_csv_ingests_in_bounded_memory(tmp_path: Path) -> None:
    csv = tmp_path / "big.csv"
    rows = write_csv(csv, TARGET_BYTES)
    assert csv.stat().st_size >= TARGET_BYTES
    home = tmp_path / "home"
    env = {**os.environ, "CORRIDOR_HOME": str(home)}
    try:
        done = subprocess.run(
            [sys.executable, "-m", "tests.data.ingest_memory_probe", str(home), str(csv)],
            cwd=REPO_ROOT,
            capture_output=True,
            text=True,
            timeout=900,
            check=False,
            env=env,
        )
    finally:
        csv.unlink()
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    shutil.rmtree(home / "blobs", ignore_errors=True)
    assert result["rows"] == rows
    assert result["columns"] == ["int64", "float64", "string", "string"]
    assert result["temporaries_left"] == []
    # Bounded: far below the 1 GB input (the engine streams; nothing holds the whole file).
    assert result["peak_rss_mib"] < LIMIT_MIB, result
