"""SQL both backends share: inserts that skip or merge existing rows, and comparisons."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from sqlalchemy import ColumnElement, Table, exists
from sqlalchemy.dialects import postgresql
from sqlalchemy.dialects import sqlite as sqlite_dialect
from sqlalchemy.orm import Session

from corridor.tracking.search_filter import Op

# SQLite caps the bound parameters of one statement; lists of ids are sent in slices of this.
IN_CHUNK = 500


def _insert(session: Session, table: Table) -> Any:
    if session.get_bind().dialect.name == "postgresql":
        return postgresql.insert(table)
    return sqlite_dialect.insert(table)


def insert_ignore(session: Session, table: Table, rows: Sequence[dict[str, Any]]) -> None:
    """Insert ``rows`` in one executemany; rows whose key exists already are skipped."""
    if rows:
        session.execute(_insert(session, table).on_conflict_do_nothing(), list(rows))


def upsert(
    session: Session,
    table: Table,
    rows: Sequence[dict[str, Any]],
    *,
    key: Sequence[str],
    update: Sequence[str],
    only_if: Callable[[Any], ColumnElement[bool]] | None = None,
) -> None:
    """Insert ``rows``; where ``key`` exists, set the ``update`` columns (if ``only_if`` holds).

    ``only_if`` receives the statement's ``excluded`` (the row that was to be inserted).
    """
    if not rows:
        return
    stmt = _insert(session, table)
    stmt = stmt.on_conflict_do_update(
        index_elements=list(key),
        set_={c: stmt.excluded[c] for c in update},
        where=only_if(stmt.excluded) if only_if is not None else None,
    )
    session.execute(stmt, list(rows))


def chunks(values: Sequence[Any], size: int = IN_CHUNK) -> list[Sequence[Any]]:
    return [values[i : i + size] for i in range(0, len(values), size)]


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
