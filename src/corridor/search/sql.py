"""Filter comparisons as SQL, the same on both backends.

MLflow's LIKE is case-sensitive and reads a backslash literally; SQLite's LIKE ignores case and
PostgreSQL's reads a backslash as an escape, so each backend gets the pattern rewritten to match.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import ColumnElement, exists

from corridor.search.filters import Op


def like_as_glob(pattern: str) -> str:
    """A SQL LIKE pattern as a SQLite GLOB pattern (SQLite's LIKE ignores case; GLOB does not)."""
    out = []
    for char in pattern:
        out.append(
            {"%": "*", "_": "?", "*": "[*]", "?": "[?]", "[": "[[]"}.get(char, char),
        )
    return "".join(out)


def compare(column: Any, op: Op, value: Any, *, sqlite: bool) -> ColumnElement[bool]:
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
    if op in (Op.LIKE, Op.ILIKE) and sqlite:
        if op is Op.LIKE:
            return column.op("GLOB")(like_as_glob(value))  # type: ignore[no-any-return]
        return column.ilike(value)  # type: ignore[no-any-return]
    if op in (Op.LIKE, Op.ILIKE):
        # PostgreSQL reads '\' in a pattern as an escape; MLflow's patterns mean it literally.
        literal = value.replace("\\", "\\\\")
        return column.like(literal) if op is Op.LIKE else column.ilike(literal)  # type: ignore[no-any-return]
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
    sqlite: bool,
) -> ColumnElement[bool]:
    """SQL: the owner (``owned`` correlates a key/value table with it) has key ``name`` with a
    value that compares, or, for ``IS [NOT] NULL``, has no such key (has one)."""
    on_key = exists().where(owned, key_column == name)
    if op is Op.IS_NULL:
        return ~on_key
    if op is Op.IS_NOT_NULL:
        return on_key
    return on_key.where(compare(value_column, op, value, sqlite=sqlite))
