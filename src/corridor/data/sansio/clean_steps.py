"""Translate each recipe step into lazy Polars operations (no data is read here).

Each step becomes a ``Stage``: the frame after the step, the rows it quarantined (coercion only),
and aggregate expressions that count what it changed, for dry runs.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

import polars as pl

from corridor.data.sansio import recipe as rc
from corridor.data.sansio.dtypes import dtype_name, parse_dtype
from corridor.data.sansio.expr import as_expression
from corridor.errors import InvalidInput

_TRUE = ("true", "t", "yes", "y", "1")
_FALSE = ("false", "f", "no", "n", "0")


@dataclass(frozen=True)
class Stage:
    """One compiled step: its output, its quarantined rows, and its change counters."""

    output: pl.LazyFrame
    quarantine: pl.LazyFrame | None = None
    probe: pl.LazyFrame | None = None  # the frame the counters below are evaluated on
    cells_changed: pl.Expr | None = None
    rows_quarantined: pl.Expr | None = None


def compile_step(
    index: int, step: rc.Step, lf: pl.LazyFrame, frames: Mapping[str, pl.LazyFrame]
) -> Stage:
    """The ``Stage`` for ``step`` applied to ``lf``; raises ``InvalidInput`` on a bad step."""
    schema = lf.collect_schema()
    for column in _columns_read(step):
        if column not in schema:
            raise InvalidInput(f"column {column!r} not found; the columns are: {', '.join(schema)}")
    if isinstance(step, rc.Coerce):
        return _coerce(index, step, lf, schema)
    if isinstance(step, rc.Impute | rc.NormaliseText | rc.Clip | rc.Winsorise):
        return _in_place(lf, _new_values(step, schema))
    if isinstance(step, rc.Derive):
        new = as_expression(step.expr, schema)
        if step.column in schema:
            return _in_place(lf, {step.column: new})
        return Stage(lf.with_columns(new.alias(step.column)), None, lf, new.is_not_null().sum())
    return Stage(_reshape(step, lf, schema, frames))


def _columns_read(step: rc.Step) -> list[str]:
    if isinstance(step, rc.Coerce):
        return [*step.columns, *step.formats]
    if isinstance(step, rc.Rename):
        return list(step.mapping)
    if isinstance(step, rc.Join):
        return step.on or step.left_on or []
    columns = getattr(step, "columns", None)
    return list(columns) if isinstance(columns, list) else []


def _in_place(lf: pl.LazyFrame, new: Mapping[str, pl.Expr]) -> Stage:
    output = lf.with_columns(e.alias(c) for c, e in new.items())
    before, after = lf.collect_schema(), output.collect_schema()
    changed = pl.sum_horizontal([_cells_changed(c, e, before, after) for c, e in new.items()])
    return Stage(output, None, lf, changed)


def _cells_changed(column: str, new: pl.Expr, before: pl.Schema, after: pl.Schema) -> pl.Expr:
    old = pl.col(column)
    if before[column] == after[column]:
        return old.ne_missing(new).sum()
    # Values of different types do not compare: every cell that is not null on both sides changed.
    return (old.is_not_null() | new.is_not_null()).sum()


def _new_values(step: rc.Step, schema: pl.Schema) -> dict[str, pl.Expr]:
    if isinstance(step, rc.NormaliseText):
        names = step.columns or [c for c, t in schema.items() if isinstance(t, pl.String)]
        return {c: _normalised(step, pl.col(c)) for c in names if _is_text(c, schema)}
    if isinstance(step, rc.Impute):
        return {c: _imputed(step, c, schema[c]) for c in step.columns}
    assert isinstance(step, rc.Clip | rc.Winsorise)
    out = {}
    for c in step.columns:
        dtype, col = schema[c], pl.col(c)
        # Polars panics on quantiles of dates, and numeric bounds mean nothing for them.
        if not dtype.is_numeric():
            raise InvalidInput(f"column {c!r} is {dtype_name(dtype)}; {step.kind} needs numbers")
        if isinstance(step, rc.Clip):
            out[c] = col.clip(step.lower, step.upper)
            continue
        low = col.quantile(step.lower_quantile, "linear")
        high = col.quantile(step.upper_quantile, "linear")
        if dtype.is_integer():
            low, high = low.round(0).cast(dtype), high.round(0).cast(dtype)
        out[c] = col.clip(low, high)
    return out


def _is_text(column: str, schema: pl.Schema) -> bool:
    if not isinstance(schema[column], pl.String):
        raise InvalidInput(f"column {column!r} is {dtype_name(schema[column])}, not text")
    return True


def _normalised(step: rc.NormaliseText, value: pl.Expr) -> pl.Expr:
    if step.unicode:
        value = value.str.normalize(step.unicode)
    if step.collapse_whitespace:
        value = value.str.replace_all(r"\s+", " ")
    if step.strip:
        value = value.str.strip_chars()
    if step.case == "lower":
        value = value.str.to_lowercase()
    elif step.case == "upper":
        value = value.str.to_uppercase()
    if step.empty_as_null:
        value = pl.when(value.str.len_bytes() > 0).then(value)
    return value


def _imputed(step: rc.Impute, column: str, dtype: pl.DataType) -> pl.Expr:
    col = pl.col(column)
    if step.strategy == "forward_fill":
        return col.fill_null(strategy="forward")
    if step.strategy == "backward_fill":
        return col.fill_null(strategy="backward")
    if step.strategy == "constant":
        try:
            value = pl.select(pl.lit(step.value).cast(dtype, strict=True)).item()
        except pl.exceptions.PolarsError:
            raise InvalidInput(
                f"value {step.value!r} does not fit column {column!r} ({dtype_name(dtype)})"
            ) from None
        return col.fill_null(pl.lit(value, dtype))
    if step.strategy == "mode":
        return col.fill_null(col.drop_nulls().mode().sort().first())
    if not dtype.is_numeric():
        raise InvalidInput(
            f"column {column!r} is {dtype_name(dtype)}; {step.strategy} needs numbers"
        )
    fill = col.mean() if step.strategy == "mean" else col.median()
    if dtype.is_integer():
        fill = fill.round(0)
    return col.fill_null(fill.cast(dtype))


def _coerce(index: int, step: rc.Coerce, lf: pl.LazyFrame, schema: pl.Schema) -> Stage:
    targets = {c: parse_dtype(t) for c, t in step.columns.items()}
    temp = {c: f"__coerced_{i}" for i, c in enumerate(targets)}
    flagged = lf.with_columns(
        _converted(pl.col(c), schema[c], t, step.formats.get(c)).alias(temp[c])
        for c, t in targets.items()
    )
    bad = {c: pl.col(c).is_not_null() & pl.col(temp[c]).is_null() for c in targets}
    any_bad = pl.any_horizontal(list(bad.values()))
    reasons = [
        pl.when(bad[c]).then(
            pl.concat_str(
                pl.lit(f"column {c!r}: value '"),
                pl.col(c).cast(pl.String),
                pl.lit(f"' is not a valid {dtype_name(t)}"),
            )
        )
        for c, t in targets.items()
    ]
    output = (
        flagged.filter(~any_bad)
        .with_columns(pl.col(temp[c]).alias(c) for c in targets)
        .drop(list(temp.values()))
    )
    quarantine = flagged.filter(any_bad).select(
        pl.lit(index, pl.UInt32).alias("_step"),
        pl.lit(step.name or step.kind).alias("_step_name"),
        pl.concat_str(reasons, separator="; ", ignore_nulls=True).alias("_reason"),
        pl.all().exclude(list(temp.values())),
    )
    converted = pl.sum_horizontal([(pl.col(c).is_not_null() & ~any_bad).sum() for c in targets])
    return Stage(output, quarantine, flagged, converted, any_bad.sum())


def _converted(
    value: pl.Expr, source: pl.DataType, target: pl.DataType, fmt: str | None
) -> pl.Expr:
    """``value`` as ``target``, null where it cannot be converted exactly."""
    if isinstance(source, pl.String):
        text = value.str.strip_chars()
        if isinstance(target, pl.Boolean):
            mapping = {**dict.fromkeys(_TRUE, True), **dict.fromkeys(_FALSE, False)}
            lowered = text.str.to_lowercase()
            return lowered.replace_strict(mapping, default=None, return_dtype=pl.Boolean)
        if isinstance(target, pl.Datetime):
            unit, zone = target.time_unit, target.time_zone
            return text.str.to_datetime(fmt, time_unit=unit, time_zone=zone, strict=False)
        if isinstance(target, pl.Date):
            return text.str.to_date(fmt, strict=False)
        if isinstance(target, pl.Time):
            return text.str.to_time(fmt, strict=False)
        return text.cast(target, strict=False)
    if fmt is not None:
        raise InvalidInput(f"a format applies only to text columns, not {dtype_name(source)}")
    if source.is_float() and target.is_integer():
        # A fractional part would be lost, so such values are quarantined rather than truncated.
        return pl.when(value == value.round(0)).then(value.cast(target, strict=False))
    return value.cast(target, strict=False)


def _reshape(
    step: rc.Step, lf: pl.LazyFrame, schema: pl.Schema, frames: Mapping[str, pl.LazyFrame]
) -> pl.LazyFrame:
    if isinstance(step, rc.Dedupe):
        return lf.unique(subset=step.columns, keep=step.keep, maintain_order=True)
    if isinstance(step, rc.DropMissing):
        columns = step.columns or list(schema)
        if step.how == "any":
            return lf.drop_nulls(subset=columns)
        return lf.filter(~pl.all_horizontal([pl.col(c).is_null() for c in columns]))
    if isinstance(step, rc.Rename):
        kept = set(schema) - set(step.mapping)
        clash = [n for n in step.mapping.values() if n in kept]
        if clash or len(set(step.mapping.values())) < len(step.mapping):
            raise InvalidInput(f"renaming would give two columns the name {(clash or ['?'])[0]!r}")
        return lf.rename(step.mapping)
    if isinstance(step, rc.Select):
        return lf.select(step.columns)
    if isinstance(step, rc.Drop):
        return lf.drop(step.columns)
    if isinstance(step, rc.Filter):
        condition = as_expression(step.expr, schema)
        kind = lf.select(condition).collect_schema().dtypes()[0]
        if kind != pl.Boolean:
            raise InvalidInput(f"the filter gives {dtype_name(kind)}, not a boolean")
        return lf.filter(condition)
    assert isinstance(step, rc.Join)
    return _join(step, lf, frames)


def _join(step: rc.Join, lf: pl.LazyFrame, frames: Mapping[str, pl.LazyFrame]) -> pl.LazyFrame:
    if step.frame not in frames:
        known = ", ".join(frames) or "(none given)"
        raise InvalidInput(f"frame {step.frame!r} was not given; the frames are: {known}")
    right = frames[step.frame]
    right_schema = right.collect_schema()
    for column in step.on or step.right_on or []:
        if column not in right_schema:
            raise InvalidInput(f"column {column!r} not found in frame {step.frame!r}")
    # Keep the left frame's row order: cleaned outputs are stored and hashed, so they must be
    # reproducible run to run.
    order: Literal["left", "left_right"] = "left_right" if step.how == "full" else "left"
    if step.on is not None:
        return lf.join(
            right, on=step.on, how=step.how, suffix=step.suffix, coalesce=True, maintain_order=order
        )
    return lf.join(
        right,
        left_on=step.left_on,
        right_on=step.right_on,
        how=step.how,
        suffix=step.suffix,
        coalesce=True,
        maintain_order=order,
    )
