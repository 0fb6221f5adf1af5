"""Profile a frame: per-column statistics, histograms, top values and correlations.

Every statistic is an aggregate expression, and all of them go into one ``select``: the frame
is read once. The result is a pydantic model, so it can be stored with a dataset version and
compared later (see ``drift``).

Memory stays bounded whatever the size of the frame. Counts, missing values, min, max, mean and
standard deviation are streaming reductions, exact over every row. Quantiles, histograms, top
values, distinct counts and correlations need whole columns (a sort, a hash table), so past
`SAMPLE_CELLS` cells they come from a sample (rows picked by a hash of their position, spread
over the whole frame), and the distinct count from a HyperLogLog estimate over every row; the
profile says so in ``sampled_rows``. Below that size everything is exact, in one pass.
"""

from __future__ import annotations

import datetime as dt
import decimal
import math
from itertools import combinations
from typing import Any, Literal

import polars as pl
from pydantic import BaseModel, Field

from corridor.data.sansio.dtypes import dtype_name
from corridor.errors import InvalidInput

Engine = Literal["auto", "in-memory", "streaming"]
Value = str | int | float | bool | None
ColumnKind = Literal["numeric", "temporal", "boolean", "text", "other"]
SAMPLE_CELLS = 20_000_000
"""Cells (rows times columns) a profile reads whole; past this, shape statistics are sampled."""
MIN_SAMPLE_ROWS = 10_000
SAMPLE_SEED = 20_261_207
_ROW, _SAMPLED = "__row", "__sampled"
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
    sampled_rows: int | None = Field(
        None,
        description="rows the quantiles, histograms, top values and correlations were "
        "computed from (a sample spread over every row; their counts are scaled to the whole "
        "frame and distinct counts are estimates); None: every row",
    )
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
    sample_cells: int = SAMPLE_CELLS,
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
    limit = max(MIN_SAMPLE_ROWS, sample_cells // max(1, len(schema)))
    rows = int(lf.select(pl.len()).collect(engine=engine).item())
    sampled = rows > limit
    numeric = [n for n, t in schema.items() if column_kind(t) == "numeric"]
    pairs = list(combinations(numeric[:max_correlated_columns], 2))
    exact: list[pl.Expr] = []
    shape: list[pl.Expr] = []
    for i, (name, dtype) in enumerate(schema.items()):
        exact.extend(_exact_aggs(f"c{i}", pl.col(name), dtype, estimate_distinct=sampled))
        shape.extend(_shape_aggs(f"c{i}", pl.col(name), dtype, bins, top))
    for j, (a, b) in enumerate(pairs):
        shape.append(pl.corr(pl.col(a).cast(pl.Float64), pl.col(b).cast(pl.Float64)).alias(f"r{j}"))
    sampled_rows = None
    if sampled:
        row = lf.select(exact).collect(engine=engine).row(0, named=True) if exact else {}
        # Rows are picked by a hash of their position, not every k-th: a systematic sample
        # aliases with data that repeats with the same period (sorted by a cyclic key).
        every = math.ceil(rows / limit)
        picked = pl.col(_ROW).hash(SAMPLE_SEED) % every == 0
        sample = lf.with_row_index(_ROW).filter(picked).drop(_ROW)
        row |= (
            sample.select(pl.len().alias(_SAMPLED), *shape)
            .collect(engine=engine)
            .row(0, named=True)
        )
        sampled_rows = int(row[_SAMPLED]) or None
    else:
        row = lf.select(exact + shape).collect(engine=engine).row(0, named=True) if schema else {}
    # Counts taken from the sample are scaled to the whole frame, so that they add up with
    # the exact row and missing counts (drift compares them as proportions of those).
    scale = rows / sampled_rows if sampled_rows else 1.0
    columns = [_column(f"c{i}", n, t, row, rows, scale) for i, (n, t) in enumerate(schema.items())]
    correlations: dict[str, dict[str, float | None]] = {}
    for j, (a, b) in enumerate(pairs):
        r = _number(row[f"r{j}"])
        correlations.setdefault(a, {})[b] = r
        correlations.setdefault(b, {})[a] = r
    return Profile(
        row_count=rows,
        sampled_rows=sampled_rows,
        columns=columns,
        correlations=correlations,
    )


def nan_as_null(schema: pl.Schema, names: list[str] | None = None) -> list[pl.Expr]:
    """Select ``names`` (default all) with NaN as null: a NaN sorts above every number and
    would otherwise shift quantiles and bins, and poison means."""
    return [
        pl.col(n).fill_nan(None) if schema[n].is_float() else pl.col(n)
        for n in (schema.names() if names is None else names)
    ]


def _exact_aggs(
    key: str, col: pl.Expr, dtype: pl.DataType, *, estimate_distinct: bool
) -> list[pl.Expr]:
    """Statistics over every row that streaming reduces in constant memory."""
    kind = column_kind(dtype)
    present = col.drop_nulls()
    distinct = present.approx_n_unique() if estimate_distinct else present.n_unique()
    aggs = [col.null_count().alias(f"{key}_missing"), distinct.alias(f"{key}_distinct")]
    if kind in ("numeric", "temporal"):
        aggs += [col.min().alias(f"{key}_min"), col.max().alias(f"{key}_max")]
    if kind == "numeric":
        value = col.cast(pl.Float64)
        aggs += [value.mean().alias(f"{key}_mean"), value.std().alias(f"{key}_std")]
    return aggs


def _shape_aggs(key: str, col: pl.Expr, dtype: pl.DataType, bins: int, top: int) -> list[pl.Expr]:
    """Statistics that need the whole column (a sort, a hash table of values)."""
    kind = column_kind(dtype)
    aggs = []
    if kind == "numeric":
        value = col.cast(pl.Float64)
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
    key: str, name: str, dtype: pl.DataType, row: dict[str, Any], rows: int, scale: float
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
        out.histogram = _histogram(row[f"{key}_hist"], scale) if rows > missing else None
    if f"{key}_top" in row:
        out.top_values = [
            TopValue(value=_value(v[name]), count=round(v["__count"] * scale))
            for v in row[f"{key}_top"]
        ]
    return out


def _histogram(bins: list[dict[str, Any]], scale: float) -> Histogram:
    ends = [float(b["breakpoint"]) for b in bins]
    width = ends[1] - ends[0] if len(ends) > 1 else 0.0
    return Histogram(
        edges=[ends[0] - width, *ends], counts=[round(b["count"] * scale) for b in bins]
    )


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
