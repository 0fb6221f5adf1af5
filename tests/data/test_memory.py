"""A large CSV ingests in bounded memory (measured in a child process, like the blob store's)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.data.big_csv import DTYPES, write_csv
from tests.peak_rss import REPO_ROOT

TARGET_BYTES = 1_000_000_000
LIMIT_MIB = 700


@pytest.mark.slow
def test_a_1gb_csv_ingests_in_bounded_memory(tmp_path: Path) -> None:
    csv = tmp_path / "big.csv"
    rows = write_csv(csv, TARGET_BYTES)
    assert csv.stat().st_size >= TARGET_BYTES
    home = tmp_path / "home"
    env = {**os.environ, "CORRIDOR_HOME": str(home)}
    try:
        done = subprocess.run(
            [
                sys.executable,
                "-m",
                "tests.data.ingest_memory_probe",
                "corridor",
                str(home),
                str(csv),
            ],
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
    assert result["columns"] == DTYPES
    assert result["temporaries_left"] == []
    # Bounded: far below the 1 GB input (the engine streams; nothing holds the whole file).
    assert result["peak_rss_mib"] < LIMIT_MIB, result
