"""SQL every slice shares: inserts that skip or merge existing rows, and id lists in slices.

The backend differences (which INSERT construct takes ON CONFLICT) come from `dialects`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypeVar

from sqlalchemy import ColumnElement, Table
from sqlalchemy.orm import Session
from sqlalchemy.sql.base import ReadOnlyColumnCollection
from sqlalchemy.sql.elements import KeyedColumnElement

from corridor.store.dialects import dialect_of

# SQLite caps the bound parameters of one statement; lists of ids are sent in slices of this.
IN_CHUNK = 500

T = TypeVar("T")
# A row to insert: column name to value, as SQLAlchemy takes it.
Row = Mapping[str, object]
# The row that was to be inserted, in an ON CONFLICT clause (``excluded``). Its columns are of
# any type: SQLAlchemy types them so (``Any``).
Excluded = ReadOnlyColumnCollection[str, KeyedColumnElement[Any]]


def insert_ignore(session: Session, table: Table, rows: Sequence[Row]) -> None:
    """Insert ``rows`` in one executemany; rows whose key exists already are skipped."""
    if rows:
        session.execute(dialect_of(session).insert(table).on_conflict_do_nothing(), list(rows))


def upsert(
    session: Session,
    table: Table,
    rows: Sequence[Row],
    *,
    key: Sequence[str],
    update: Sequence[str],
    only_if: Callable[[Excluded], ColumnElement[bool]] | None = None,
) -> None:
    """Insert ``rows``; where ``key`` exists, set the ``update`` columns (if ``only_if`` holds).

    ``only_if`` receives the statement's ``excluded`` (the row that was to be inserted).
    """
    if not rows:
        return
    stmt = dialect_of(session).insert(table)
    stmt = stmt.on_conflict_do_update(
        index_elements=list(key),
        set_={c: stmt.excluded[c] for c in update},
        where=only_if(stmt.excluded) if only_if is not None else None,
    )
    session.execute(stmt, list(rows))


def chunks(values: Sequence[T], size: int = IN_CHUNK) -> list[Sequence[T]]:
    """``values`` in slices of at most ``size``, for ``IN`` lists SQLite accepts."""
    return [values[i : i + size] for i in range(0, len(values), size)]
