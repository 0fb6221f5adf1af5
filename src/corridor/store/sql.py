"""SQL every slice shares: inserts that skip or merge existing rows, and id lists in slices.

The backend differences (which INSERT construct takes ON CONFLICT) come from `dialects`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypeVar

from sqlalchemy import ColumnElement, CursorResult, Delete, Table, Update
from sqlalchemy.orm import Session
from sqlalchemy.sql.base import ReadOnlyColumnCollection
from sqlalchemy.sql.elements import KeyedColumnElement

from corridor.store.base import Base
from corridor.store.dialects import dialect_of

# SQLite caps the bound parameters of one statement; lists of ids are sent in slices of this.
IN_CHUNK = 500

T = TypeVar("T")
# Where rows go: a table, or a mapped class (its table).
Target = Table | type[Base]
# A row to insert: column name to value, as SQLAlchemy takes it.
Row = Mapping[str, object]
# The row that was to be inserted, in an ON CONFLICT clause (``excluded``). Its columns are of
# any type: SQLAlchemy types them so (``Any``).
Excluded = ReadOnlyColumnCollection[str, KeyedColumnElement[Any]]


def _table(target: Target) -> Table:
    if isinstance(target, Table):
        return target
    # Declarative typing says FromClause: a class mapped to a join or a select has no Table.
    table = target.__table__
    if not isinstance(table, Table):
        raise TypeError(f"{target.__name__} is not mapped to one table")
    return table


def insert_ignore(session: Session, target: Target, rows: Sequence[Row]) -> None:
    """Insert ``rows`` in one executemany; rows whose key exists already are skipped."""
    if rows:
        insert = dialect_of(session).insert(_table(target))
        session.execute(insert.on_conflict_do_nothing(), list(rows))


def upsert(
    session: Session,
    target: Target,
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
    stmt = dialect_of(session).insert(_table(target))
    stmt = stmt.on_conflict_do_update(
        index_elements=list(key),
        set_={c: stmt.excluded[c] for c in update},
        where=only_if(stmt.excluded) if only_if is not None else None,
    )
    session.execute(stmt, list(rows))


def changed_rows(session: Session, statement: Delete | Update) -> int:
    """Execute an UPDATE or DELETE and return how many rows it changed."""
    result = session.execute(statement)
    # `Session.execute` is typed as returning any Result; a DML statement's is a CursorResult.
    if not isinstance(result, CursorResult):
        raise TypeError(f"{type(result).__name__} counts no rows")
    return result.rowcount


def chunks(values: Sequence[T], size: int = IN_CHUNK) -> list[Sequence[T]]:
    """``values`` in slices of at most ``size``, for ``IN`` lists SQLite accepts."""
    return [values[i : i + size] for i in range(0, len(values), size)]
