"""CSV ingest throughput: `corridor data ingest` against Polars' `scan_csv(...).sink_parquet(...)`.

    .venv/bin/python benchmarks/data/bench_ingest.py [--size-mib 1024] [--repeat 3] [--quick]

Each round, back to back on the same generated CSV: Polars alone converts it to Parquet; then
Corridor ingests it through the in-process SDK (sniffing the dialect, the same conversion, the
checks that follow it, hashing, encrypting into the blob store and recording the version), into a
fresh home each round so that no content is found already stored. Prints Markdown rows: median
seconds, MB/s of CSV, and the ratio Corridor / Polars.
"""

from __future__ import annotations

import argparse
import platform
import shutil
import statistics
import tempfile
import time
from pathlib import Path

import polars as pl

from corridor.client.client import Client
from corridor.client.data import DataClient
from corridor.config import Settings
from corridor.home import init_home


def write_csv(path: Path, target_bytes: int) -> int:
    chunk_rows = 500_000
    i = pl.int_range(0, chunk_rows, eager=True)
    base = pl.DataFrame(
        {
            "id": i,
            "amount": (i % 9973) / 7.0,
            "qty": i % 50,
            "city": pl.Series(["Paris", "Oslo", "Rome", "Lima", "Kyiv"] * (chunk_rows // 5)),
            "note": pl.Series([f"order-{k % 100_003:06d}" for k in range(chunk_rows)]),
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


def polars_alone(csv: Path, work: Path) -> float:
    out = work / "polars.parquet"
    start = time.perf_counter()
    pl.scan_csv(csv).sink_parquet(out)
    elapsed = time.perf_counter() - start
    out.unlink()
    return elapsed


def corridor(csv: Path, work: Path, round_no: int) -> float:
    home = work / f"home-{round_no}"
    settings = Settings(home=home)
    init_home(settings)
    try:
        with Client(settings=settings) as client:
            client.create_project("bench")
            data = DataClient(client)
            start = time.perf_counter()
            data.ingest(csv, "orders", project="bench")
            return time.perf_counter() - start
    finally:
        shutil.rmtree(home, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--size-mib", type=int, default=1024)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help="256 MiB")
    parser.add_argument("--dir", type=Path, default=None, help="where to write the CSV")
    args = parser.parse_args()
    if args.quick:
        args.size_mib = 256
    with tempfile.TemporaryDirectory(prefix="corridor-bench-", dir=args.dir) as scratch:
        work = Path(scratch)
        csv = work / "orders.csv"
        rows = write_csv(csv, args.size_mib << 20)
        size_mb = csv.stat().st_size / 1e6
        polars_s, corridor_s = [], []
        for round_no in range(args.repeat):
            polars_s.append(polars_alone(csv, work))
            corridor_s.append(corridor(csv, work, round_no))
    p, c = statistics.median(polars_s), statistics.median(corridor_s)
    print(
        f"<!-- {size_mb:,.0f} MB CSV, {rows:,} rows, median of {args.repeat}, "
        f"{platform.machine()}, Python {platform.python_version()} -->"
    )
    print("| path | seconds | MB/s | ratio |")
    print("|---|---:|---:|---:|")
    print(f"| Polars `scan_csv(...).sink_parquet(...)` | {p:.2f} | {size_mb / p:.0f} | 1.00 |")
    print(f"| `corridor data ingest` (in-process) | {c:.2f} | {size_mb / c:.0f} | {c / p:.2f} |")


if __name__ == "__main__":
    main()
