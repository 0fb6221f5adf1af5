"""Evaluate an expectation suite against a frame in one pass.

Every expectation becomes a few aggregate expressions (rows judged, rows failing, or a table
statistic); they are gathered into one ``select`` and collected once, on the streaming engine
by default. Foreign keys join the distinct referenced keys onto the frame inside that same
query. Only when something failed does a second, filtered query fetch a few failing rows per
expectation. Everything is checked against the frame's schema first, so a bad spec fails fast
with ``InvalidInput`` before any data is read.

Checks whose failures are costly to count (``unique``, ``in_set``) first run a cheap test in the
same pass (distinct keys against rows; distinct values against the set); only a check whose test
fails has its failing rows counted, in a second query.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any, Literal

import polars as pl

from corridor.data.sansio import expectations as ex
from corridor.data.sansio.dtypes import check_dtype_name, dtype_matches, dtype_name
from corridor.data.sansio.expr import as_expression, check_regex
from corridor.data.sansio.validation_report import ExpectationResult, ValidationReport, judge
from corridor.errors import InvalidInput

__all__ = ["ExpectationResult", "ValidationPlan", "ValidationReport", "plan", "validate"]

Engine = Literal["auto", "in-memory", "streaming"]
Frame = pl.LazyFrame | pl.DataFrame


@dataclass(frozen=True)
class _Check:
    index: int
    name: str
    spec: ex.Expectation
    fail: pl.Expr | None = None  # true where a judged row fails; None for table expectations
    judged: pl.Expr | None = None  # true where the row is judged; None: every row
    observed: pl.Expr | None = None  # an aggregate, for table expectations
    # An aggregate that is true when no judged row can fail, far cheaper than counting failures
    # (distinct keys vs rows for unique; distinct values vs the set for in_set). Failures are
    # counted, in a second query, only for checks whose quick test is false.
    quick: pl.Expr | None = None


@dataclass(frozen=True)
class _Join:
    keys: list[pl.Expr]
    right_keys: list[str]
    right: pl.LazyFrame  # distinct referenced keys plus a flag column


@dataclass
class ValidationPlan:
    """A compiled suite: the frame to scan and the one aggregate query over it."""

    frame: pl.LazyFrame
    schema: pl.Schema
    checks: list[_Check]
    joins: list[_Join] = field(default_factory=list)

    @property
    def query(self) -> pl.LazyFrame:
        aggs = [pl.len().alias("__rows")]
        for c in self.checks:
            if c.fail is not None:
                judged = pl.len() if c.judged is None else c.judged.sum()
                aggs.append(judged.alias(f"__judged{c.index}"))
                if c.quick is not None:
                    aggs.append(c.quick.alias(f"__quick{c.index}"))
                else:
                    aggs.append(c.fail.sum().alias(f"__fail{c.index}"))
            if c.observed is not None:
                aggs.append(c.observed.alias(f"__observed{c.index}"))
        return self.frame.select(aggs)


def plan(
    suite: ex.ExpectationSuite, data: Frame, frames: Mapping[str, Frame] | None = None
) -> ValidationPlan:
    """Compile ``suite`` against ``data``'s schema without reading any rows."""
    lf = data.lazy()
    schema = lf.collect_schema()
    others = {k: v.lazy() for k, v in (frames or {}).items()}
    joins: list[_Join] = []
    checks: list[_Check] = []
    for index, (name, spec) in enumerate(zip(_names(suite), suite.expectations, strict=True)):
        try:
            checks.append(_compile(index, name, spec, schema, others, joins))
        except InvalidInput as exc:
            raise InvalidInput(f"expectation {name!r} ({spec.kind}): {exc.message}") from None
    compiled = ValidationPlan(_joined(lf, joins), schema, checks, joins)
    _check_types(compiled, schema)
    return compiled


def validate(
    suite: ex.ExpectationSuite,
    data: Frame,
    *,
    frames: Mapping[str, Frame] | None = None,
    now: dt.datetime | None = None,
    sample_rows: int = 5,
    engine: Engine | None = None,
) -> ValidationReport:
    """Validate ``data`` against ``suite``; ``frames`` holds frames that foreign keys name.

    ``now`` is required when the suite has a freshness expectation (this module reads no clock).
    The engine defaults to streaming for lazy frames (bounded memory over large scans) and to
    in-memory for data frames, which are in memory already.
    """
    if engine is None:
        engine = "in-memory" if isinstance(data, pl.DataFrame) else "streaming"
    compiled = plan(suite, data, frames)
    if now is None and any(c.spec.kind == "freshness" for c in compiled.checks):
        raise InvalidInput("the suite has a freshness expectation; pass `now`")
    row = compiled.query.collect(engine=engine).row(0, named=True)
    row = _count_failures(compiled, row, engine)
    results = [judge(c.spec, c.name, c.index, row, compiled.schema, now) for c in compiled.checks]
    failing = [c for c, r in zip(compiled.checks, results, strict=True) if r.failing]
    if failing and sample_rows > 0:
        samples = _samples(compiled, failing, sample_rows, engine)
        results = [r.model_copy(update={"samples": samples.get(r.name, [])}) for r in results]
    return ValidationReport(
        suite=suite.name,
        passed=all(r.passed for r in results),
        row_count=int(row["__rows"]),
        results=results,
    )


def _count_failures(
    compiled: ValidationPlan, row: dict[str, Any], engine: Engine
) -> dict[str, Any]:
    """Fill in the failure counts of checks that had a quick test: zero where it held, else
    counted by a second query over the checks that need it."""
    recount = []
    for c in compiled.checks:
        if c.quick is not None and c.fail is not None:
            if row.pop(f"__quick{c.index}"):
                row[f"__fail{c.index}"] = 0
            else:
                recount.append(c.fail.sum().alias(f"__fail{c.index}"))
    if recount:
        row.update(compiled.frame.select(recount).collect(engine=engine).row(0, named=True))
    return row


def _names(suite: ex.ExpectationSuite) -> list[str]:
    names: list[str] = []
    explicit = [e.name for e in suite.expectations if e.name]
    for spec in suite.expectations:
        if spec.name:
            if spec.name in names:
                raise InvalidInput(
                    f"two expectations are named {spec.name!r}; names must be unique"
                )
            names.append(spec.name)
            continue
        base, n = spec.default_name(), 1
        name = base
        while name in names or name in explicit:
            n += 1
            name = f"{base}#{n}"
        names.append(name)
    return names


def _need(schema: pl.Schema, column: str) -> pl.DataType:
    if column not in schema:
        raise InvalidInput(f"column {column!r} not found; the columns are: {', '.join(schema)}")
    return schema[column]


def _all_present(columns: list[str]) -> pl.Expr:
    return pl.all_horizontal([pl.col(c).is_not_null() for c in columns])


def _row(
    index: int, name: str, spec: ex.Expectation, ok: pl.Expr, judged: pl.Expr | None
) -> _Check:
    fail = ~ok if judged is None else judged & ~ok
    return _Check(index, name, spec, fail=fail.fill_null(False), judged=judged)


def _compile(
    index: int,
    name: str,
    spec: ex.Expectation,
    schema: pl.Schema,
    frames: Mapping[str, pl.LazyFrame],
    joins: list[_Join],
) -> _Check:
    for column in spec.columns_used:
        _need(schema, column)
    if isinstance(spec, ex.NotNull):
        return _row(index, name, spec, pl.col(spec.column).is_not_null(), None)
    if isinstance(spec, ex.Unique):
        keys = pl.col(spec.columns[0]) if len(spec.columns) == 1 else pl.struct(spec.columns)
        present = _all_present(spec.columns)
        check = _row(index, name, spec, ~keys.is_duplicated(), present)
        # Counting rows in duplicate groups needs a mask of every row; comparing the number
        # of distinct keys with the number of rows tells whether there are any at all.
        quick = keys.filter(present).n_unique() == present.sum()
        dtype = schema[spec.columns[0]]
        # UInt64 keeps the hashing path: a difference of two values overflows near 2**64, and
        # comparing shifted neighbours instead sorts the column twice.
        if len(spec.columns) == 1 and (
            (dtype.is_integer() and dtype != pl.UInt64) or dtype.is_temporal()
        ):
            # One integer or time column: sorting beats hashing, and equal neighbours are dups.
            # Nulls sort last, and a null difference is ignored by any().
            ordered = pl.col(spec.columns[0]).to_physical().sort(nulls_last=True)
            quick = ~(ordered.diff() == 0).any()
        return replace(check, quick=quick)
    if isinstance(spec, ex.Between):
        value, ok = pl.col(spec.column), pl.lit(True)
        if spec.min is not None:
            ok = ok & (value >= spec.min if spec.min_inclusive else value > spec.min)
        if spec.max is not None:
            ok = ok & (value <= spec.max if spec.max_inclusive else value < spec.max)
        return _row(index, name, spec, ok, value.is_not_null())
    if isinstance(spec, ex.InSet):
        value, dtype = pl.col(spec.column), schema[spec.column]
        check = _row(index, name, spec, _in_set(value, dtype, spec.values), value.is_not_null())
        # Few distinct values is the common case: test those against the set, not every row.
        quick = _in_set(value.drop_nulls().unique(), dtype, spec.values).all()
        return replace(check, quick=quick)
    if isinstance(spec, ex.Regex):
        dtype = schema[spec.column]
        if not dtype_matches(dtype, "text"):
            raise InvalidInput(f"column {spec.column!r} is {dtype_name(dtype)}; regex needs text")
        value = pl.col(spec.column).cast(pl.String)
        return _row(
            index, name, spec, value.str.contains(check_regex(spec.pattern)), value.is_not_null()
        )
    if isinstance(spec, ex.Custom):
        test = as_expression(spec.expr, schema)
        try:
            gives = pl.LazyFrame(schema=schema).select(test).collect_schema().dtypes()[0]
        except pl.exceptions.PolarsError as exc:
            reason = str(exc).strip().splitlines()[0]
            raise InvalidInput(f"the expression does not fit the column types: {reason}") from None
        if gives != pl.Boolean:
            raise InvalidInput(f"the expression gives {dtype_name(gives)}, not a boolean")
        return _row(index, name, spec, test, test.is_not_null())
    if isinstance(spec, ex.ForeignKey):
        return _foreign_key(index, name, spec, schema, frames, joins)
    if isinstance(spec, ex.DtypeIs):
        check_dtype_name(spec.dtype)
        return _Check(index, name, spec)
    if isinstance(spec, ex.Freshness):
        dtype = schema[spec.column]
        if not isinstance(dtype, pl.Date | pl.Datetime):
            raise InvalidInput(
                f"column {spec.column!r} is {dtype_name(dtype)}; freshness needs a date or datetime"
            )
        return _Check(index, name, spec, observed=pl.col(spec.column).max())
    return _Check(index, name, spec)  # row_count reads only the row count


def _in_set(value: pl.Expr, dtype: pl.DataType, values: list[Any]) -> pl.Expr:
    numbers = all(isinstance(v, int | float) and not isinstance(v, bool) for v in values)
    if numbers and dtype.is_numeric():
        if dtype.is_float() or any(isinstance(v, float) for v in values):
            return value.cast(pl.Float64).is_in(pl.Series(values, dtype=pl.Float64).implode())
        return value.is_in(pl.Series(values, dtype=pl.Int64).implode())
    if isinstance(dtype, pl.Categorical | pl.Enum):
        value = value.cast(pl.String)
    return value.is_in(pl.Series(values, strict=False).implode())


def _foreign_key(
    index: int,
    name: str,
    spec: ex.ForeignKey,
    schema: pl.Schema,
    frames: Mapping[str, pl.LazyFrame],
    joins: list[_Join],
) -> _Check:
    if spec.reference not in frames:
        known = ", ".join(frames) or "(none given)"
        raise InvalidInput(f"frame {spec.reference!r} was not given; the frames are: {known}")
    reference = frames[spec.reference]
    ref_schema = reference.collect_schema()
    ref_columns = spec.reference_columns or spec.columns
    for column in ref_columns:
        if column not in ref_schema:
            raise InvalidInput(f"column {column!r} not found in frame {spec.reference!r}")
    keys = [f"__fk{index}_{i}" for i in range(len(spec.columns))]
    flag = f"__fk{index}"
    # Both sides meet at their common type: casting the reference to the key type would
    # truncate 1.7 to 1 and let it match.
    common = [
        _common_type(c, schema[c], r, ref_schema[r], spec.reference)
        for c, r in zip(spec.columns, ref_columns, strict=True)
    ]
    right = (
        reference.select(
            pl.col(r).cast(t).alias(k) for r, t, k in zip(ref_columns, common, keys, strict=True)
        )
        .unique()
        .with_columns(pl.lit(True).alias(flag))
    )
    left = [pl.col(c).cast(t) for c, t in zip(spec.columns, common, strict=True)]
    joins.append(_Join(left, keys, right))
    return _row(index, name, spec, pl.col(flag).is_not_null(), _all_present(spec.columns))


def _common_type(
    column: str, dtype: pl.DataType, ref_column: str, ref_dtype: pl.DataType, reference: str
) -> pl.DataType:
    if dtype == ref_dtype:
        return dtype
    empty = [pl.LazyFrame(schema={"k": dtype}), pl.LazyFrame(schema={"k": ref_dtype})]
    try:
        return pl.concat(empty, how="vertical_relaxed").collect_schema()["k"]
    except pl.exceptions.PolarsError:
        raise InvalidInput(
            f"column {column!r} is {dtype_name(dtype)} but {reference}.{ref_column} is "
            f"{dtype_name(ref_dtype)}; the keys cannot be compared"
        ) from None


def _joined(lf: pl.LazyFrame, joins: list[_Join]) -> pl.LazyFrame:
    for join in joins:
        lf = lf.join(join.right, left_on=join.keys, right_on=join.right_keys, how="left")
    return lf


def _check_types(compiled: ValidationPlan, schema: pl.Schema) -> None:
    """Run each expression on an empty frame of the same schema: type errors surface here."""
    empty_joins = [
        _Join(j.keys, j.right_keys, pl.LazyFrame(schema=j.right.collect_schema()))
        for j in compiled.joins
    ]
    empty = ValidationPlan(_joined(pl.LazyFrame(schema=schema), empty_joins), schema, [])
    for check in compiled.checks:
        empty.checks = [check]
        try:
            empty.query.collect()
        except pl.exceptions.PolarsError as exc:
            reason = str(exc).strip().splitlines()[0]
            columns = ", ".join(check.spec.columns_used)
            raise InvalidInput(
                f"expectation {check.name!r} ({check.spec.kind}) on column {columns}: "
                f"does not fit the column types: {reason}"
            ) from None


def _samples(
    compiled: ValidationPlan, failing: list[_Check], rows: int, engine: Engine
) -> dict[str, list[dict[str, Any]]]:
    parts = [
        compiled.frame.filter(c.fail)
        .head(rows)
        .select(*compiled.schema.names(), pl.lit(c.index, pl.UInt32).alias("__check"))
        for c in failing
        if c.fail is not None
    ]
    found = pl.concat(parts).collect(engine=engine)
    by_index = {c.index: c.name for c in failing}
    out: dict[str, list[dict[str, Any]]] = {}
    for record in found.to_dicts():
        out.setdefault(by_index[record.pop("__check")], []).append(record)
    return out
