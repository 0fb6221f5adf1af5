"""Declarative cleaning recipes: an ordered list of steps, readable from YAML or JSON.

Example (YAML)::

    name: orders-clean
    steps:
      - {kind: normalise_text, columns: [email], case: lower}
      - {kind: coerce, columns: {amount: float64, ordered_at: datetime}}
      - {kind: dedupe, columns: [order_id], keep: last}
      - {kind: impute, columns: [amount], strategy: median}
      - {kind: winsorise, columns: [amount], lower_quantile: 0.01, upper_quantile: 0.99}
      - {kind: derive, column: amount_eur, expr: "amount * 0.92"}
      - {kind: join, frame: customers, on: [customer_id], how: left}
      - {kind: filter, expr: "amount >= 0"}

Coercion never drops a row silently: rows whose value cannot be converted go to the quarantine
frame with the reason.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from corridor.data.sansio.expectations import Bound, Scalar
from corridor.data.sansio.expr import PolarsExpr
from corridor.data.sansio.spec_text import load_spec


class StepBase(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str | None = Field(None, description="shown in reports; the kind when omitted")


class Dedupe(StepBase):
    """Drop repeated rows, judged on ``columns`` (all columns when omitted)."""

    kind: Literal["dedupe"] = "dedupe"
    columns: list[str] | None = None
    keep: Literal["first", "last"] = "first"


class DropMissing(StepBase):
    """Drop rows with a null in any (or all) of ``columns`` (all columns when omitted)."""

    kind: Literal["drop_missing"] = "drop_missing"
    columns: list[str] | None = None
    how: Literal["any", "all"] = "any"


class Impute(StepBase):
    """Fill nulls in ``columns``; the column keeps its type (integer means are rounded)."""

    kind: Literal["impute"] = "impute"
    columns: list[str] = Field(min_length=1)
    strategy: Literal["constant", "mean", "median", "mode", "forward_fill", "backward_fill"]
    value: Scalar | None = None

    @model_validator(mode="after")
    def _value_for_constant(self) -> Impute:
        if (self.strategy == "constant") != (self.value is not None):
            raise ValueError("give value exactly when strategy is constant")
        return self


class Coerce(StepBase):
    """Convert columns to types; rows with an unconvertible value go to quarantine."""

    kind: Literal["coerce"] = "coerce"
    columns: dict[str, str] = Field(min_length=1, description="column -> type name")
    formats: dict[str, str] = Field(
        default_factory=dict, description="column -> strftime format, for text to date/time"
    )


class NormaliseText(StepBase):
    """Tidy text columns (all text columns when ``columns`` is omitted)."""

    kind: Literal["normalise_text"] = "normalise_text"
    columns: list[str] | None = None
    strip: bool = True
    collapse_whitespace: bool = True
    unicode: Literal["NFC", "NFKC", "NFD", "NFKD"] | None = "NFC"
    case: Literal["lower", "upper"] | None = None
    empty_as_null: bool = False


class Clip(StepBase):
    """Limit values to ``lower``..``upper``."""

    kind: Literal["clip"] = "clip"
    columns: list[str] = Field(min_length=1)
    lower: Bound | None = None
    upper: Bound | None = None

    @model_validator(mode="after")
    def _bounds(self) -> Clip:
        if self.lower is None and self.upper is None:
            raise ValueError("give lower, upper or both")
        return self


class Winsorise(StepBase):
    """Clip each column to its own quantiles (computed over the whole frame)."""

    kind: Literal["winsorise"] = "winsorise"
    columns: list[str] = Field(min_length=1)
    lower_quantile: float = Field(0.01, ge=0.0, le=1.0)
    upper_quantile: float = Field(0.99, ge=0.0, le=1.0)

    @model_validator(mode="after")
    def _order(self) -> Winsorise:
        if self.lower_quantile > self.upper_quantile:
            raise ValueError("lower_quantile must not exceed upper_quantile")
        return self


class Rename(StepBase):
    kind: Literal["rename"] = "rename"
    mapping: dict[str, str] = Field(min_length=1, description="old name -> new name")


class Select(StepBase):
    """Keep only ``columns``, in that order."""

    kind: Literal["select"] = "select"
    columns: list[str] = Field(min_length=1)


class Drop(StepBase):
    kind: Literal["drop"] = "drop"
    columns: list[str] = Field(min_length=1)


class Filter(StepBase):
    """Keep rows where ``expr`` is true (a null result drops the row)."""

    kind: Literal["filter"] = "filter"
    expr: str | PolarsExpr


class Derive(StepBase):
    """Set ``column`` (new or existing) to ``expr``."""

    kind: Literal["derive"] = "derive"
    column: str
    expr: str | PolarsExpr


class Join(StepBase):
    """Join the frame named ``frame`` (from ``apply``'s ``frames``)."""

    kind: Literal["join"] = "join"
    frame: str
    on: list[str] | None = None
    left_on: list[str] | None = None
    right_on: list[str] | None = None
    how: Literal["inner", "left", "full", "semi", "anti"] = "inner"
    suffix: str = "_right"

    @model_validator(mode="before")
    @classmethod
    def _yaml_on(cls, data: Any) -> Any:
        # YAML 1.1 (PyYAML's safe_load) reads an unquoted `on:` key as the boolean true.
        if isinstance(data, Mapping) and True in data and "on" not in data:
            data = {("on" if k is True else k): v for k, v in data.items()}
        return data

    @model_validator(mode="after")
    def _keys(self) -> Join:
        paired = self.left_on is not None and self.right_on is not None
        if (self.on is None) == (not paired) or (self.on is not None and self.left_on):
            raise ValueError("give either on, or both left_on and right_on")
        if paired and len(self.left_on or []) != len(self.right_on or []):
            raise ValueError("left_on and right_on must have the same length")
        return self


Step = Annotated[
    Dedupe
    | DropMissing
    | Impute
    | Coerce
    | NormaliseText
    | Clip
    | Winsorise
    | Rename
    | Select
    | Drop
    | Filter
    | Derive
    | Join,
    Field(discriminator="kind"),
]


class Recipe(BaseModel):
    """An ordered list of cleaning steps."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str | None = None
    steps: list[Step] = Field(default_factory=list)


def load_recipe(source: str | Mapping[str, Any] | Sequence[Any]) -> Recipe:
    """Read a recipe from YAML or JSON text, a mapping, or a bare list of steps."""
    return load_spec(Recipe, source, "recipe")
