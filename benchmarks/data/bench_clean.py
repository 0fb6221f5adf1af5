"""A cleaning recipe over 10M rows against the same operations hand-written in Polars.

    .venv/bin/python benchmarks/data/bench_clean.py [--rows 10000000] [--repeat 3] [--quick]

The recipe: tidy a text column (strip, lower-case), convert a text column to float64 (rows that
do not convert are quarantined, not dropped silently), drop repeated ids, keep non-negative
amounts, derive a column. The hand-written version does the same in one lazy Polars query (it
drops unconvertible rows instead of quarantining them, which is less work). Both read the same
in-memory frame and collect the cleaned output on the same engine. Prints Markdown rows with
median seconds and the ratio recipe / hand-written.
"""

from __future__ import annotations

import argparse
import platform
import statistics
import time
from collections.abc import Callable

import numpy as np
import polars as pl

from corridor.data.sansio.clean import apply
from corridor.data.sansio.recipe import load_recipe

RECIPE = load_recipe(
    {
        "steps": [
            {
                "kind": "normalise_text",
                "columns": ["city"],
                "case": "lower",
                "collapse_whitespace": False,
                "unicode": None,
            },
            {"kind": "coerce", "columns": {"amount": "float64"}},
            {"kind": "dedupe", "columns": ["id"], "keep": "first"},
            {"kind": "filter", "expr": "amount >= 0"},
            {"kind": "derive", "column": "amount_eur", "expr": "amount * 0.92"},
        ]
    }
)


def make_frame(rows: int) -> pl.DataFrame:
    rng = np.random.default_rng(0)
    amounts = rng.normal(100, 60, rows).round(2).astype(str)
    amounts[rng.random(rows) < 0.001] = "n/a"
    return pl.DataFrame(
        {
            "id": rng.integers(0, int(rows * 0.95), rows),
            "city": rng.choice([" Paris", "OSLO ", "rome", " Lima "], rows),
            "amount": amounts,
        }
    )


def by_recipe(frame: pl.DataFrame) -> pl.DataFrame:
    return apply(RECIPE, frame).output.collect()


def by_hand(frame: pl.DataFrame) -> pl.DataFrame:
    amount = pl.col("amount").str.strip_chars().cast(pl.Float64, strict=False)
    return (
        frame.lazy()
        .with_columns(pl.col("city").str.strip_chars().str.to_lowercase())
        .filter(pl.col("amount").is_null() | amount.is_not_null())
        .with_columns(amount)
        .unique(subset=["id"], keep="first", maintain_order=True)
        .filter(pl.col("amount") >= 0)
        .with_columns((pl.col("amount") * 0.92).alias("amount_eur"))
        .collect()
    )


def median_s(fn: Callable[[], pl.DataFrame], repeat: int) -> tuple[float, pl.DataFrame]:
    times, out = [], pl.DataFrame()
    for _ in range(repeat):
        start = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times), out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=10_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help="1M rows")
    args = parser.parse_args()
    if args.quick:
        args.rows = 1_000_000
    frame = make_frame(args.rows)
    by_hand(frame.head(1000))  # warm up
    by_recipe(frame.head(1000))
    hand_s, hand = median_s(lambda: by_hand(frame), args.repeat)
    recipe_s, cleaned = median_s(lambda: by_recipe(frame), args.repeat)
    assert cleaned.equals(hand), "the recipe and the hand-written query must agree"
    print(
        f"<!-- {args.rows:,} rows in, {cleaned.height:,} out, median of {args.repeat}, "
        f"{platform.machine()}, Python {platform.python_version()} -->"
    )
    print("| implementation | seconds | ratio |")
    print("|---|---:|---:|")
    print(f"| hand-written Polars (lazy) | {hand_s:.3f} | 1.00 |")
    print(f"| Corridor recipe | {recipe_s:.3f} | {recipe_s / hand_s:.2f} |")


if __name__ == "__main__":
    main()
