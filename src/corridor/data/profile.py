"""Profile a frame: per-column statistics, histograms, top values and correlations.

Every statistic is an aggregate expression, and all of them go into one ``select``: the frame
is read once. The result is a pydantic model, so it can be stored with a dataset version and
compared later (see ``drift``).
"""

from __future__ import annotations

import datetime as dt
import decimal
import math
from itertools import combinations
from typing import Any, Literal

import polars as pl
from pydantic import BaseModel, Field

from corridor.data.dtypes import dtype_name
from corridor.errors import InvalidInput

Engine = Literal["auto", "in-memory", "streaming"]
Value = str | int | float | bool | None
ColumnKind = Literal["numeric", "temporal", "boolean", "text", "other"]
QUANTILES = (0.01, 0.05, 0.1, 0.2, 0.25, 0.3, 0.4, 0.5, 0.6, 0.7, 0.75, 0.8, 0.9, 0.95, 0.99)
"""Quantiles kept per numeric column; the deciles among them let ``drift`` work from profiles."""


class Histogram(BaseModel):
    """Equal-width bins: bin i holds values in (edges[i], edges[i+1]]; the first includes its
    lower edge."""

    edges: list[float]
    counts: list[int]


class TopValue(BaseModel):
    value: Value
    count: int


class ColumnProfile(BaseModel):
    """Statistics of one column; nulls and NaN are excluded from everything but ``missing``."""

    name: str
    dtype: str
    kind: ColumnKind
    count: int = Field(description="rows, nulls included")
    missing: int
    missing_fraction: float
    distinct: int = Field(description="distinct non-null values")
    min: Value = None
    max: Value = None
    mean: float | None = None
    std: float | None = Field(None, description="sample standard deviation (ddof=1)")
    quantiles: dict[str, float] = Field(default_factory=dict, description="'0.5' -> median")
    histogram: Histogram | None = None
    top_values: list[TopValue] = Field(default_factory=list)


class Profile(BaseModel):
    """A frame's profile: row count, one entry per column, Pearson correlations."""

    row_count: int
    columns: list[ColumnProfile]
    correlations: dict[str, dict[str, float | None]] = Field(default_factory=dict)

    def column(self, name: str) -> ColumnProfile:
        for column in self.columns:
            if column.name == name:
                return column
        raise InvalidInput(f"column {name!r} is not in the profile")


def column_kind(dtype: pl.DataType) -> ColumnKind:
    if isinstance(dtype, pl.Boolean):
        return "boolean"
    if dtype.is_numeric():
        return "numeric"
    if dtype.is_temporal():
        return "temporal"
    if isinstance(dtype, pl.String | pl.Categorical | pl.Enum):
        return "text"
    return "other"


def profile(
    data: pl.LazyFrame | pl.DataFrame,
    *,
    bins: int = 10,
    top: int = 10,
    max_correlated_columns: int = 50,
    engine: Engine = "streaming",
) -> Profile:
    """Profile ``data`` in one pass.

    Numeric columns get moments, ``QUANTILES`` (linear interpolation) and a ``bins``-bin
    histogram; all but floating-point columns get their ``top`` most frequent values;
    correlations cover the first ``max_correlated_columns`` numeric columns.
    """
    if bins < 1 or top < 0:
        raise InvalidInput("bins must be at least 1 and top at least 0")
    lf = data.lazy()
    schema = lf.collect_schema()
    lf = lf.select(nan_as_null(schema))
    aggs: list[pl.Expr] = [pl.len().alias("__rows")]
    for i, (name, dtype) in enumerate(schema.items()):
        aggs.extend(_column_aggs(f"c{i}", pl.col(name), dtype, bins, top))
    numeric = [n for n, t in schema.items() if column_kind(t) == "numeric"]
    pairs = list(combinations(numeric[:max_correlated_columns], 2))
    for j, (a, b) in enumerate(pairs):
        aggs.append(pl.corr(pl.col(a).cast(pl.Float64), pl.col(b).cast(pl.Float64)).alias(f"r{j}"))
    row = lf.select(aggs).collect(engine=engine).row(0, named=True)
    rows = int(row["__rows"])
    columns = [_column(f"c{i}", n, t, row, rows) for i, (n, t) in enumerate(schema.items())]
    correlations: dict[str, dict[str, float | None]] = {}
    for j, (a, b) in enumerate(pairs):
        r = _number(row[f"r{j}"])
        correlations.setdefault(a, {})[b] = r
        correlations.setdefault(b, {})[a] = r
    return Profile(row_count=rows, columns=columns, correlations=correlations)


def nan_as_null(schema: pl.Schema, names: list[str] | None = None) -> list[pl.Expr]:
    """Select ``names`` (default all) with NaN as null: a NaN sorts above every number and
    would otherwise shift quantiles and bins, and poison means."""
    return [
        pl.col(n).fill_nan(None) if schema[n].is_float() else pl.col(n)
        for n in (schema.names() if names is None else names)
    ]


def _column_aggs(key: str, col: pl.Expr, dtype: pl.DataType, bins: int, top: int) -> list[pl.Expr]:
    kind = column_kind(dtype)
    aggs = [
        col.null_count().alias(f"{key}_missing"),
        col.drop_nulls().n_unique().alias(f"{key}_distinct"),
    ]
    if kind in ("numeric", "temporal"):
        aggs += [col.min().alias(f"{key}_min"), col.max().alias(f"{key}_max")]
    if kind == "numeric":
        value = col.cast(pl.Float64)
        aggs += [value.mean().alias(f"{key}_mean"), value.std().alias(f"{key}_std")]
        aggs += [value.quantile(q, "linear").alias(f"{key}_q{q}") for q in QUANTILES]
        hist = value.hist(bin_count=bins, include_breakpoint=True)
        aggs.append(hist.implode().alias(f"{key}_hist"))
    if top and not dtype.is_float() and kind != "other":
        counts = col.drop_nulls().value_counts(name="__count").implode()
        # Sort inside list.eval so the sort keys come from the very list being sorted.
        item = pl.element()
        keys = [item.struct.field("__count"), item.struct.field(col.meta.output_name())]
        ranked = item.sort_by(keys, descending=[True, False]).head(top)
        aggs.append(counts.list.eval(ranked).alias(f"{key}_top"))
    return aggs


def _column(
    key: str, name: str, dtype: pl.DataType, row: dict[str, Any], rows: int
) -> ColumnProfile:
    kind = column_kind(dtype)
    missing = int(row[f"{key}_missing"])
    out = ColumnProfile(
        name=name,
        dtype=dtype_name(dtype),
        kind=kind,
        count=rows,
        missing=missing,
        missing_fraction=missing / rows if rows else 0.0,
        distinct=int(row[f"{key}_distinct"]),
    )
    if f"{key}_min" in row:
        out.min, out.max = _value(row[f"{key}_min"]), _value(row[f"{key}_max"])
    if kind == "numeric":
        out.mean, out.std = _number(row[f"{key}_mean"]), _number(row[f"{key}_std"])
        found = {str(q): _number(row[f"{key}_q{q}"]) for q in QUANTILES}
        out.quantiles = {q: v for q, v in found.items() if v is not None}
        out.histogram = _histogram(row[f"{key}_hist"]) if rows > missing else None
    if f"{key}_top" in row:
        out.top_values = [
            TopValue(value=_value(v[name]), count=v["__count"]) for v in row[f"{key}_top"]
        ]
    return out


def _histogram(bins: list[dict[str, Any]]) -> Histogram:
    ends = [float(b["breakpoint"]) for b in bins]
    width = ends[1] - ends[0] if len(ends) > 1 else 0.0
    return Histogram(edges=[ends[0] - width, *ends], counts=[int(b["count"]) for b in bins])


def _number(value: Any) -> float | None:
    if value is None:
        return None
    number = float(value)
    return None if math.isnan(number) or math.isinf(number) else number


def _value(value: Any) -> Value:
    """A JSON-friendly scalar: dates and times as ISO text, decimals as floats."""
    if isinstance(value, dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, dt.timedelta):
        return value.total_seconds()
    if isinstance(value, decimal.Decimal):
        return float(value)
    if isinstance(value, float):
        return _number(value)
    if isinstance(value, str | int | bool) or value is None:
        return value
    return str(value)
