"""Filter comparisons as SQL, the same on every backend.

MLflow's LIKE is case-sensitive and reads a backslash literally; each backend's spelling of that
comes from its entry in `corridor.store.dialects`.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import ColumnElement, exists
from sqlalchemy.sql.elements import SQLColumnExpression

from corridor.search.filters import NULL_OPS, Op, Value
from corridor.store.dialects import Dialect

# A column of any type: a filter compares strings, numbers and timestamps alike.
Column = SQLColumnExpression[Any]


def compare(column: Column, op: Op, value: Value, *, dialect: Dialect) -> ColumnElement[bool]:
    """``column <op> value`` in SQL; LIKE is case-sensitive on both backends."""
    if op is Op.EQ:
        return column == value
    if op is Op.NE:
        return column != value
    if op is Op.LT:
        return column < value
    if op is Op.LE:
        return column <= value
    if op is Op.GT:
        return column > value
    if op is Op.GE:
        return column >= value
    # The parser gives LIKE a string and IN a tuple; anything else is a caller's bug.
    if op in (Op.LIKE, Op.ILIKE) and isinstance(value, str):
        return dialect.like(column, value) if op is Op.LIKE else dialect.ilike(column, value)
    if op in (Op.IN, Op.NOT_IN) and isinstance(value, tuple):
        return column.in_(value) if op is Op.IN else column.not_in(value)
    if op not in NULL_OPS:
        raise ValueError(f"{op.value} cannot compare {value!r}")
    raise ValueError(f"{op.value} compares no value; use keyed_condition")


def keyed_condition(
    owned: ColumnElement[bool],
    key_column: Column,
    value_column: Column,
    name: str,
    op: Op,
    value: Value,
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
