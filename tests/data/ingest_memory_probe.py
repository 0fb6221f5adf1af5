"""Convert a large CSV in a process of its own; print what it made and its peak RSS as JSON.

    python -m tests.data.ingest_memory_probe corridor HOME CSV   # the in-process SDK, as the CLI
    python -m tests.data.ingest_memory_probe polars WORK CSV     # Polars alone, the peer

Run in a subprocess by ``test_memory.py`` and ``benchmarks/data/bench_ingest_memory.py``, so that
the peak is this conversion's alone. ``rss_before_mib`` is the process before the work starts
(interpreter and imports); ``seconds`` times the work alone.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

import polars as pl

from tests.peak_rss import peak_rss_kib


def rss_kib() -> int:
    """This process's resident set now (``VmRSS``), 0 where /proc is not there."""
    status = Path("/proc/self/status")
    if status.exists():
        for line in status.read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def by_corridor(home: Path, csv: Path) -> dict[str, Any]:
    from corridor.client.client import Client
    from corridor.client.data import DataClient
    from corridor.config import Settings
    from corridor.home import init_home

    settings = Settings(home=home)
    init_home(settings)
    with Client(settings=settings) as client:
        client.create_project("big")
        before = rss_kib()
        start = time.perf_counter()
        out = DataClient(client).ingest(csv, "big", project="big")
        seconds = time.perf_counter() - start
    peak_kib = peak_rss_kib()
    tmp = home / "tmp"
    return {
        "rows": out.version.row_count,
        "columns": [c.dtype for c in out.version.columns],
        "parquet_bytes": out.version.size_bytes,
        "seconds": seconds,
        "rss_before_mib": before / 1024,
        "peak_rss_mib": peak_kib / 1024,
        "temporaries_left": sorted(str(p) for p in tmp.rglob("*")) if tmp.exists() else [],
    }


def by_polars(work: Path, csv: Path) -> dict[str, Any]:
    out = work / "polars.parquet"
    before = rss_kib()
    start = time.perf_counter()
    pl.scan_csv(csv).sink_parquet(out)
    seconds = time.perf_counter() - start
    peak_kib = peak_rss_kib()
    rows = pl.scan_parquet(out).select(pl.len()).collect().item()
    size = out.stat().st_size
    out.unlink()
    return {
        "rows": rows,
        "parquet_bytes": size,
        "seconds": seconds,
        "rss_before_mib": before / 1024,
        "peak_rss_mib": peak_kib / 1024,
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("path", choices=["corridor", "polars"])
    parser.add_argument("where", type=Path, help="Corridor's home, or Polars' work folder")
    parser.add_argument("csv", type=Path)
    args = parser.parse_args()
    probe = by_corridor if args.path == "corridor" else by_polars
    print(json.dumps(probe(args.where, args.csv)))


if __name__ == "__main__":
    main()
