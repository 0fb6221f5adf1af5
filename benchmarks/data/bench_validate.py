"""Validation of 5M rows x 4 checks: Corridor against pandera (pandas and polars backends) and
Great Expectations (pandas), on the same data, back to back.

    .venv/bin/python benchmarks/data/bench_validate.py [--rows N] [--repeat 5] [--quick]
        [--sorted-ids]

Checks: id not null, id unique, amount between 0 and 1000, city in a set of five. The data passes
every check, so no engine stops early. Ids are unique and shuffled (``--sorted-ids``: in order).
Each tool validates an in-memory frame of its own kind (Polars for Corridor and pandera-polars,
pandas for pandera-pandas and GE); building the frames is not timed. Prints Markdown rows:
median seconds and each peer's time over Corridor's. Peers are benchmark-only dependencies:
``pip install -e '.[bench]'``.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import time
import warnings
from collections.abc import Callable
from typing import Any

import numpy as np
import polars as pl

from corridor.data.sansio.expectations import load_suite
from corridor.data.sansio.validate import validate

CITIES = ["Paris", "Oslo", "Rome", "Lima", "Kyiv"]


def make_frame(rows: int, sorted_ids: bool = False) -> pl.DataFrame:
    rng = np.random.default_rng(0)
    ids = np.arange(rows) if sorted_ids else rng.permutation(rows)  # unique either way
    return pl.DataFrame(
        {
            "id": ids.astype(np.int64),
            "amount": rng.uniform(0, 1000, rows),
            "city": rng.choice(CITIES, rows),
        }
    )


SUITE = load_suite(
    {
        "expectations": [
            {"kind": "not_null", "column": "id"},
            {"kind": "unique", "column": "id"},
            {"kind": "between", "column": "amount", "min": 0, "max": 1000},
            {"kind": "in_set", "column": "city", "values": CITIES},
        ]
    }
)


def corridor(frame: pl.DataFrame) -> Callable[[], bool]:
    return lambda: validate(SUITE, frame).passed


def pandera_polars(frame: pl.DataFrame) -> Callable[[], bool]:
    import pandera.polars as pa

    schema = pa.DataFrameSchema(
        {
            "id": pa.Column(pl.Int64, nullable=False, unique=True),
            "amount": pa.Column(pl.Float64, pa.Check.in_range(0, 1000)),
            "city": pa.Column(pl.String, pa.Check.isin(CITIES)),
        }
    )

    def run() -> bool:
        schema.validate(frame, lazy=True)
        return True

    return run


def pandera_pandas(frame: Any) -> Callable[[], bool]:
    import pandera.pandas as pa

    schema = pa.DataFrameSchema(
        {
            "id": pa.Column("int64", nullable=False, unique=True),
            "amount": pa.Column("float64", pa.Check.in_range(0, 1000)),
            "city": pa.Column(str, pa.Check.isin(CITIES)),
        }
    )

    def run() -> bool:
        schema.validate(frame, lazy=True)
        return True

    return run


def great_expectations(frame: Any) -> Callable[[], bool]:
    import great_expectations as gx

    context = gx.get_context(mode="ephemeral")
    source = context.data_sources.add_pandas("bench")
    asset = source.add_dataframe_asset("frame")
    batch = asset.add_batch_definition_whole_dataframe("all").get_batch(
        batch_parameters={"dataframe": frame}
    )
    suite = gx.ExpectationSuite("bench")
    suite.add_expectation(gx.expectations.ExpectColumnValuesToNotBeNull(column="id"))
    suite.add_expectation(gx.expectations.ExpectColumnValuesToBeUnique(column="id"))
    suite.add_expectation(
        gx.expectations.ExpectColumnValuesToBeBetween(column="amount", min_value=0, max_value=1000)
    )
    suite.add_expectation(
        gx.expectations.ExpectColumnValuesToBeInSet(column="city", value_set=CITIES)
    )
    suite = context.suites.add(suite)
    return lambda: bool(batch.validate(suite).success)


def median_s(fn: Callable[[], bool], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        assert fn(), "the data should pass every check"
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=5_000_000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--quick", action="store_true", help="500k rows, 2 rounds")
    parser.add_argument("--sorted-ids", action="store_true", help="ids in order (default: not)")
    args = parser.parse_args()
    if args.quick:
        args.rows, args.repeat = 500_000, 2
    warnings.filterwarnings("ignore")
    os.environ.setdefault("TQDM_DISABLE", "1")  # GE's progress bars
    frame = make_frame(args.rows, args.sorted_ids)
    pdf = frame.to_pandas()
    runs = {
        "Corridor (Polars, one pass)": corridor(frame),
        "pandera (polars backend)": pandera_polars(frame),
        "pandera (pandas backend)": pandera_pandas(pdf),
        "Great Expectations (pandas)": great_expectations(pdf),
    }
    for fn in runs.values():
        fn()  # warm up: imports, caches, GE's context
    timed = {name: median_s(fn, args.repeat) for name, fn in runs.items()}
    ours = timed["Corridor (Polars, one pass)"]
    order = "ids in order" if args.sorted_ids else "ids shuffled"
    print(
        f"<!-- {args.rows:,} rows x 4 checks, {order}, median of {args.repeat}, "
        f"{platform.machine()}, Python {platform.python_version()} -->"
    )
    print("| tool | seconds | time / Corridor's |")
    print("|---|---:|---:|")
    for name, seconds in timed.items():
        print(f"| {name} | {seconds:.3f} | {seconds / ours:.1f}x |")
    fastest = min(s for n, s in timed.items() if not n.startswith("Corridor"))
    print(f"\nCorridor is {fastest / ours:.1f}x faster than the fastest peer.")


if __name__ == "__main__":
    main()
