"""Declarative expectations: what a dataset must satisfy, readable from YAML or JSON.

Row expectations (``not_null``, ``unique``, ``between``, ``in_set``, ``regex``, ``foreign_key``,
``custom``) count failing rows and pass when at least ``mostly`` of the rows they judge pass.
Nulls are judged only by ``not_null``; the others skip them (as SQL's CHECK does), and ``unique``
and ``foreign_key`` skip rows where any key column is null. Table expectations (``dtype``,
``row_count``, ``freshness``) pass or fail as a whole.

Example (YAML)::

    name: orders
    expectations:
      - {kind: not_null, column: id}
      - {kind: unique, columns: [customer_id, order_no]}
      - {kind: between, column: amount, min: 0, max: 10000, mostly: 0.99}
      - {kind: custom, name: shipped_after_order, expr: "shipped_at >= ordered_at"}
      - {kind: freshness, column: ordered_at, max_age: 24h}
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping, Sequence
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, model_validator

from corridor.data.sansio.expr import PolarsExpr
from corridor.data.sansio.spec_text import load_spec

_DURATION = re.compile(r"(?P<n>\d+(?:\.\d+)?)\s*(?P<unit>ms|s|m|h|d|w)")
_UNIT_S = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def _parse_duration(value: Any) -> Any:
    """Accept ``"90s"``, ``"15m"``, ``"24h"``, ``"7d"``, ``"2w"`` besides pydantic's forms."""
    if isinstance(value, str):
        match = _DURATION.fullmatch(value.strip())
        if match:
            return dt.timedelta(seconds=float(match["n"]) * _UNIT_S[match["unit"]])
    return value


def _parse_bound(value: Any) -> Any:
    """Read ISO dates and datetimes from text; numbers stay numbers."""
    if isinstance(value, str):
        try:
            text = value.strip()
            return (
                dt.date.fromisoformat(text) if len(text) == 10 else dt.datetime.fromisoformat(text)
            )
        except ValueError:
            raise ValueError(f"{value!r} is not a number, an ISO date or an ISO datetime") from None
    return value


def _columns_alias(data: Any) -> Any:
    if isinstance(data, Mapping) and "column" in data and "columns" not in data:
        data = {**data, "columns": [data["column"]]}
        del data["column"]
    if isinstance(data, Mapping) and isinstance(data.get("columns"), str):
        data = {**data, "columns": [data["columns"]]}
    return data


Bound = Annotated[int | float | dt.datetime | dt.date, BeforeValidator(_parse_bound)]
Scalar = str | int | float | bool
Duration = Annotated[dt.timedelta, BeforeValidator(_parse_duration)]


class ExpectationBase(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str | None = Field(None, description="unique within the suite; derived when omitted")
    description: str | None = None

    @property
    def columns_used(self) -> list[str]:
        """The columns of the validated frame this expectation reads."""
        if hasattr(self, "columns"):
            return list(self.columns)
        return [self.column] if hasattr(self, "column") else []

    def default_name(self) -> str:
        kind = str(getattr(self, "kind", "expectation"))
        return f"{kind}({','.join(self.columns_used)})"


class RowExpectation(ExpectationBase):
    """An expectation judged row by row, passing when at least ``mostly`` of the rows pass."""

    mostly: float = Field(1.0, ge=0.0, le=1.0, description="fraction of judged rows that must pass")


class NotNull(RowExpectation):
    """The column has no nulls (floating-point NaN counts as a value)."""

    kind: Literal["not_null"] = "not_null"
    column: str


class Unique(RowExpectation):
    """No two rows share a value (or, over several columns, a combination of values)."""

    kind: Literal["unique"] = "unique"
    columns: list[str] = Field(min_length=1)

    _alias = model_validator(mode="before")(_columns_alias)


class Between(RowExpectation):
    """Values lie within ``min``..``max`` (either may be omitted)."""

    kind: Literal["between"] = "between"
    column: str
    min: Bound | None = None
    max: Bound | None = None
    min_inclusive: bool = True
    max_inclusive: bool = True

    @model_validator(mode="after")
    def _bounds(self) -> Between:
        if self.min is None and self.max is None:
            raise ValueError("give min, max or both")
        return self


class InSet(RowExpectation):
    """Values are among ``values``."""

    kind: Literal["in_set"] = "in_set"
    column: str
    values: list[Scalar] = Field(min_length=1)


class Regex(RowExpectation):
    """Values contain a match of ``pattern`` (Rust regex syntax; anchor with ^ and $)."""

    kind: Literal["regex"] = "regex"
    column: str
    pattern: str


class DtypeIs(ExpectationBase):
    """The column has this type (``int64``...) or family (``integer``, ``numeric``...)."""

    kind: Literal["dtype"] = "dtype"
    column: str
    dtype: str


class RowCount(ExpectationBase):
    """The frame has between ``min`` and ``max`` rows."""

    kind: Literal["row_count"] = "row_count"
    min: int | None = Field(None, ge=0)
    max: int | None = Field(None, ge=0)


class Freshness(ExpectationBase):
    """The newest timestamp in ``column`` is no older than ``max_age`` before ``now``."""

    kind: Literal["freshness"] = "freshness"
    column: str
    max_age: Duration


class ForeignKey(RowExpectation):
    """Every key in ``columns`` appears in ``reference_columns`` of the frame ``reference``."""

    kind: Literal["foreign_key"] = "foreign_key"
    columns: list[str] = Field(min_length=1)
    reference: str = Field(description="name of the referenced frame in validate's frames")
    reference_columns: list[str] | None = None

    _alias = model_validator(mode="before")(_columns_alias)

    @model_validator(mode="after")
    def _same_width(self) -> ForeignKey:
        if self.reference_columns is not None and len(self.reference_columns) != len(self.columns):
            raise ValueError("reference_columns must name as many columns as columns")
        return self


class Custom(RowExpectation):
    """Rows satisfy a boolean expression (a safe-expression string, or a pl.Expr in Python)."""

    kind: Literal["custom"] = "custom"
    expr: str | PolarsExpr

    @property
    def columns_used(self) -> list[str]:
        return []

    def default_name(self) -> str:
        return f"custom({self.expr})" if isinstance(self.expr, str) else "custom"


Expectation = Annotated[
    NotNull
    | Unique
    | Between
    | InSet
    | Regex
    | DtypeIs
    | RowCount
    | Freshness
    | ForeignKey
    | Custom,
    Field(discriminator="kind"),
]


class ExpectationSuite(BaseModel):
    """A named list of expectations, validated together in one pass."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str | None = None
    expectations: list[Expectation] = Field(default_factory=list)


def load_suite(source: str | Mapping[str, Any] | Sequence[Any]) -> ExpectationSuite:
    """Read a suite from YAML or JSON text, a mapping, or a bare list of expectations."""
    return load_spec(ExpectationSuite, source, "expectation suite")
