"""Filter comparisons as SQL, the same on every backend.

MLflow's LIKE is case-sensitive and reads a backslash literally; each backend's spelling of that
comes from its entry in `corridor.store.dialects`.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import ColumnElement, exists

from corridor.search.filters import Op
from corridor.store.dialects import Dialect


def compare(column: Any, op: Op, value: Any, *, dialect: Dialect) -> ColumnElement[bool]:
    """``column <op> value`` in SQL; LIKE is case-sensitive on both backends."""
    if op is Op.EQ:
        return column == value  # type: ignore[no-any-return]
    if op is Op.NE:
        return column != value  # type: ignore[no-any-return]
    if op is Op.LT:
        return column < value  # type: ignore[no-any-return]
    if op is Op.LE:
        return column <= value  # type: ignore[no-any-return]
    if op is Op.GT:
        return column > value  # type: ignore[no-any-return]
    if op is Op.GE:
        return column >= value  # type: ignore[no-any-return]
    if op is Op.LIKE:
        return dialect.like(column, value)
    if op is Op.ILIKE:
        return dialect.ilike(column, value)
    if op is Op.IN:
        return column.in_(value)  # type: ignore[no-any-return]
    if op is Op.NOT_IN:
        return column.not_in(value)  # type: ignore[no-any-return]
    raise ValueError(f"{op.value} compares no value; use keyed_condition")


def keyed_condition(
    owned: ColumnElement[bool],
    key_column: Any,
    value_column: Any,
    name: str,
    op: Op,
    value: Any,
    *,
    dialect: Dialect,
) -> ColumnElement[bool]:
    """SQL: the owner (``owned`` correlates a key/value table with it) has key ``name`` with a
    value that compares, or, for ``IS [NOT] NULL``, has no such key (has one)."""
    on_key = exists().where(owned, key_column == name)
    if op is Op.IS_NULL:
        return ~on_key
    if op is Op.IS_NOT_NULL:
        return on_key
    return on_key.where(compare(value_column, op, value, dialect=dialect))
