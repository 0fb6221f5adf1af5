"""Profile a Parquet file in a process of its own; print its peak RSS as JSON.

    python -m tests.data.profile_memory_probe PARQUET SAMPLE_CELLS

Run in a subprocess by ``test_profile_sampling.py``, so that the peak is this profile's alone.
"""

from __future__ import annotations

import json
import sys

import polars as pl

from corridor.data.sansio.profile import profile
from tests.peak_rss import peak_rss_kib


def main() -> None:
    found = profile(pl.scan_parquet(sys.argv[1]), sample_cells=int(sys.argv[2]))
    result = {"rows": found.row_count, "sampled_rows": found.sampled_rows}
    print(json.dumps({**result, "peak_mib": peak_rss_kib() // 1024}))


if __name__ == "__main__":
    main()
