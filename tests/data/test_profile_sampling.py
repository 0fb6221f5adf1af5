"""Profiles of large versions: exact where a stream allows it, sampled where a column must be
held whole, and memory that does not grow with the number of rows."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from corridor.data.sansio.profile import MIN_SAMPLE_ROWS, profile
from tests.peak_rss import REPO_ROOT


def _frame(rows: int) -> pl.DataFrame:
    rng = np.random.default_rng(0)
    return pl.DataFrame(
        {
            "id": np.arange(rows, dtype=np.int64),
            "x": rng.normal(size=rows),
            "c": rng.integers(0, 100, rows),
            "s": rng.choice(["red", "green", "blue"], rows, p=[0.5, 0.3, 0.2]),
        }
    ).with_columns(pl.when(pl.col("id") % 10 == 0).then(None).otherwise(pl.col("x")).alias("x"))


def test_a_small_frame_is_profiled_exactly_in_one_pass() -> None:
    found = profile(_frame(5_000))
    assert found.sampled_rows is None
    assert found.column("id").distinct == 5_000
    assert found.column("id").quantiles["0.5"] == 2499.5


def test_past_the_cell_budget_streaming_statistics_stay_exact_and_the_rest_is_sampled() -> None:
    rows = 200_000
    frame = _frame(rows)
    found = profile(frame.lazy(), sample_cells=4 * MIN_SAMPLE_ROWS)
    assert found.sampled_rows == pytest.approx(MIN_SAMPLE_ROWS, rel=0.1)
    ids, xs, colours = found.column("id"), found.column("x"), found.column("s")
    # Exact over every row.
    assert found.row_count == rows
    assert (ids.min, ids.max) == (0, rows - 1)
    assert xs.missing == rows // 10
    assert xs.mean == pytest.approx(frame["x"].mean())
    # Estimated: distinct counts (HyperLogLog over every row) and sample-based shape.
    assert ids.distinct == pytest.approx(rows, rel=0.05)
    assert ids.quantiles["0.5"] == pytest.approx(rows / 2, rel=0.02)
    assert xs.histogram is not None
    assert sum(xs.histogram.counts) == pytest.approx(rows - xs.missing, rel=0.01)
    # Top-value counts are scaled to the whole frame.
    counts = {t.value: t.count for t in colours.top_values}
    assert counts["red"] == pytest.approx(rows * 0.5, rel=0.05)
    assert counts["blue"] == pytest.approx(rows * 0.2, rel=0.05)


def _peak_mib(path: Path, sample_cells: int) -> dict[str, int]:
    done = subprocess.run(
        [sys.executable, "-m", "tests.data.profile_memory_probe", str(path), str(sample_cells)],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    result: dict[str, int] = json.loads(done.stdout)
    return result


@pytest.mark.slow
def test_profile_memory_does_not_grow_with_the_number_of_rows(tmp_path: Path) -> None:
    sample_cells = 300_000
    peaks = {}
    for rows in (2_000_000, 8_000_000):
        path = tmp_path / f"{rows}.parquet"
        _frame(rows).write_parquet(path)
        result = _peak_mib(path, sample_cells)
        assert result["rows"] == rows
        assert result["sampled_rows"] is not None
        peaks[rows] = result["peak_mib"]
        path.unlink()
    # Four times the rows (about 150 MiB more decoded data) and little more memory, with room for
    # noise (a coverage tracer in the probe adds some): holding the columns whole, as the
    # profile did before it sampled, grows by about 550 MiB here.
    assert peaks[8_000_000] - peaks[2_000_000] < 150, peaks
