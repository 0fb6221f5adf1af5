"""CSV ingest memory: peak RSS as the input grows, Corridor against Polars alone.

    .venv/bin/python benchmarks/data/bench_ingest_memory.py [--sizes-gb 0.5 1 2 5] [--repeat 3]
        [--quick] [--dir DIR]

For each size, a CSV is generated (the memory test's generator, `tests/data/big_csv.py`) into a
temporary folder and deleted once measured. Each round, back to back, two child processes
convert it (`tests/data/ingest_memory_probe.py`): Polars alone, `scan_csv(...).sink_parquet(...)`,
and Corridor's in-process SDK, the path `corridor data ingest` takes without a server (sniffing,
conversion, the short-row check, hashing, encryption into the blob store, the version row), into
a fresh home. Each child reports its own peak RSS (``VmHWM``, the whole process, interpreter and
imports included) and the seconds of its work alone (for Corridor, the whole ingest call).
Prints Markdown rows: medians, MB/s of CSV, and the ratios Corridor / Polars. Bounded memory
means the peaks stay flat as the sizes grow.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import polars as pl

REPO_ROOT = Path(__file__).resolve().parents[2]
# The generator and the probe are shared with tests/data/test_memory.py.
sys.path.insert(0, str(REPO_ROOT))

from tests.data.big_csv import write_csv  # noqa: E402

Result = dict[str, Any]


def probe(path: str, where: Path, csv: Path) -> Result:
    """Run one conversion in a child process; return what it printed."""
    env = {**os.environ, "CORRIDOR_HOME": str(where)}
    done = subprocess.run(
        [sys.executable, "-m", "tests.data.ingest_memory_probe", path, str(where), str(csv)],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        check=False,
        env=env,
    )
    if done.returncode != 0:
        raise SystemExit(f"the {path} probe failed:\n{done.stderr}")
    result: Result = json.loads(done.stdout)
    return result


def measure(csv: Path, rows: int, work: Path, repeat: int) -> tuple[list[Result], list[Result]]:
    polars, corridor = [], []
    for round_no in range(repeat):
        scratch = work / f"polars-{round_no}"
        scratch.mkdir()
        polars.append(probe("polars", scratch, csv))
        shutil.rmtree(scratch)
        home = work / f"home-{round_no}"
        try:
            corridor.append(probe("corridor", home, csv))
        finally:
            shutil.rmtree(home, ignore_errors=True)
    for result in polars + corridor:
        if result["rows"] != rows:
            raise SystemExit(f"{result['rows']} rows converted, {rows} written")
    return polars, corridor


def median(results: list[Result], key: str) -> float:
    return statistics.median(float(r[key]) for r in results)


def peak_cell(results: list[Result]) -> str:
    """Median peak, and how far above the process's own start (interpreter, imports) it went."""
    peak = median(results, "peak_rss_mib")
    return f"{peak:.0f} (+{peak - median(results, 'rss_before_mib'):.0f})"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes-gb", type=float, nargs="+", default=[0.5, 1, 2, 5])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help="0.1 and 0.2 GB, one round")
    parser.add_argument("--dir", type=Path, default=None, help="where to write the CSVs")
    args = parser.parse_args()
    if args.quick:
        args.sizes_gb, args.repeat = [0.1, 0.2], 1
    print(
        f"<!-- median of {args.repeat}, {os.cpu_count()} cores, {platform.machine()}, "
        f"Python {platform.python_version()}, Polars {pl.__version__}; peak RSS in MiB "
        "(+ above the process's start) -->"
    )
    print(
        "| CSV GB | rows | Polars peak | Corridor peak | peak ratio | Polars MB/s "
        "| Corridor MB/s | time ratio |"
    )
    print("|---:|---:|---:|---:|---:|---:|---:|---:|")
    with tempfile.TemporaryDirectory(prefix="corridor-bench-", dir=args.dir) as scratch:
        work = Path(scratch)
        for size_gb in args.sizes_gb:
            csv = work / "orders.csv"
            try:
                rows = write_csv(csv, int(size_gb * 1e9))
                size_mb = csv.stat().st_size / 1e6
                polars, corridor = measure(csv, rows, work, args.repeat)
            finally:
                csv.unlink(missing_ok=True)
            peaks = median(corridor, "peak_rss_mib") / median(polars, "peak_rss_mib")
            p_s, c_s = median(polars, "seconds"), median(corridor, "seconds")
            print(
                f"| {size_mb / 1e3:.2f} | {rows:,} | {peak_cell(polars)} | {peak_cell(corridor)} "
                f"| {peaks:.2f} | {size_mb / p_s:.0f} | {size_mb / c_s:.0f} | {c_s / p_s:.2f} |",
                flush=True,
            )


if __name__ == "__main__":
    main()
