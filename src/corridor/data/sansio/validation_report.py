"""The results of validation, and how each expectation is judged from the aggregates."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

import polars as pl
from pydantic import BaseModel, Field

from corridor.data.sansio import expectations as ex
from corridor.data.sansio.dtypes import dtype_matches, dtype_name


class ExpectationResult(BaseModel):
    """The outcome of one expectation."""

    name: str
    kind: str
    columns: list[str]
    passed: bool
    evaluated: int | None = Field(None, description="rows judged (row expectations only)")
    failing: int | None = None
    failing_fraction: float | None = None
    mostly: float | None = None
    observed: str | int | float | None = Field(None, description="table statistic seen")
    message: str
    samples: list[dict[str, Any]] = Field(default_factory=list)


class ValidationReport(BaseModel):
    """The outcome of a suite: passed when every expectation passed."""

    suite: str | None
    passed: bool
    row_count: int
    results: list[ExpectationResult]

    @property
    def failures(self) -> list[ExpectationResult]:
        return [r for r in self.results if not r.passed]


def judge(
    spec: ex.Expectation,
    name: str,
    index: int,
    row: Mapping[str, Any],
    schema: pl.Schema,
    now: dt.datetime | None,
) -> ExpectationResult:
    """The result of expectation number ``index`` from the aggregate ``row`` of its query."""
    base: dict[str, Any] = {"name": name, "kind": spec.kind, "columns": spec.columns_used}
    if isinstance(spec, ex.RowExpectation):
        judged, failing = int(row[f"__judged{index}"]), int(row[f"__fail{index}"])
        fraction = failing / judged if judged else 0.0
        passed = judged - failing >= spec.mostly * judged - 1e-9
        allowed = f"at most {1 - spec.mostly:.2%} may" if spec.mostly < 1 else "none may"
        message = f"{failing} of {judged} judged rows ({fraction:.2%}) fail; {allowed}"
        return ExpectationResult(
            **base, passed=passed, evaluated=judged, failing=failing,
            failing_fraction=fraction, mostly=spec.mostly, message=message,
        )  # fmt: skip
    if isinstance(spec, ex.RowCount):
        rows = int(row["__rows"])
        passed = (spec.min is None or rows >= spec.min) and (spec.max is None or rows <= spec.max)
        low = spec.min if spec.min is not None else 0
        bounds = f"{low}..{spec.max if spec.max is not None else 'any'}"
        return ExpectationResult(
            **base, passed=passed, observed=rows, message=f"{rows} rows; expected {bounds}"
        )
    if isinstance(spec, ex.Freshness):
        return _freshness(spec, base, row[f"__observed{index}"], now)
    if isinstance(spec, ex.DtypeIs):
        return _judge_dtype(spec, base, schema)
    raise AssertionError(f"unjudged kind {spec.kind}")  # pragma: no cover


def _judge_dtype(spec: ex.DtypeIs, base: dict[str, Any], schema: pl.Schema) -> ExpectationResult:
    seen = dtype_name(schema[spec.column])
    passed = dtype_matches(schema[spec.column], spec.dtype)
    return ExpectationResult(
        **base, passed=passed, observed=seen, message=f"type is {seen}; expected {spec.dtype}"
    )


def _freshness(
    spec: ex.Freshness, base: dict[str, Any], latest: Any, now: dt.datetime | None
) -> ExpectationResult:
    assert now is not None
    if latest is None:
        return ExpectationResult(**base, passed=False, message="no timestamps to judge")
    if isinstance(latest, dt.datetime):
        if latest.tzinfo is None and now.tzinfo is not None:
            latest = latest.replace(tzinfo=dt.UTC)  # naive timestamps are taken as UTC
        elif latest.tzinfo is not None and now.tzinfo is None:
            now = now.replace(tzinfo=dt.UTC)
        passed = now - latest <= spec.max_age
    else:
        passed = latest >= (now - spec.max_age).date()
    message = f"newest is {latest.isoformat()}; must be within {spec.max_age} of {now.isoformat()}"
    return ExpectationResult(**base, passed=passed, observed=latest.isoformat(), message=message)
